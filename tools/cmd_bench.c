/*
 * cmd_bench.c — speed benchmarks (programs, never tests):
 *  - `qtk bench -m MODEL ...`: llama-bench's interface and output — prompt
 *    processing (pp: p tokens decoded as one batch from an empty context) and
 *    token generation (tg: n single-token decodes from an empty context) in
 *    tokens/s, as a markdown table, JSON, JSONL or CSV; for tg also the weight
 *    bytes read per token, the effective GB/s and its ratio to the memory read
 *    bandwidth measured in the same run. Only the public API is used.
 *  - `qtk bench types`: per-type speed figures: quantize M weights/s with and
 *    without imatrix, dequantize GB/s, and matrix × vector dot-product GB/s of
 *    weight bytes on 1 and N threads, next to the measured read bandwidth.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void help_bench(FILE *out) {
    fprintf(out,
            "usage: qtk bench -m MODEL [-m MODEL ...] [-p N,...] [-n N,...] [-t N,...] [-r N] [-ctk T] [-ctv T]\n"
            "                 [-mmp 0|1] [-o md|json|jsonl|csv] [--progress] [--bw-size MIB] [--isa L]\n"
            "       qtk bench types [--type T ...] [-t N] [--rows R] [--cols C] [--reuse-rows K] [--seconds S]\n"
            "                       [--effort L]\n\n"
            "Model benchmark (llama-bench's options and output). For every model, thread\n"
            "count and test, after one warmup run, r timed runs:\n"
            "  ppP   P pseudo-random tokens (BOS first if the vocabulary adds one) decoded as\n"
            "        one batch from an empty context\n"
            "  tgN   N single-token decodes from an empty context\n"
            "t/s is the mean over the runs of tokens/second, \xc2\xb1 the sample standard deviation.\n"
            "For tg rows also: w/token = bytes of weights read per token (every 2-D weight\n"
            "but token_embd; the output head included, token_embd counted when it is the\n"
            "head; of expert tensors the n_expert_used experts a token uses), eff GB/s = w/token x t/s, read GB/s = memory read bandwidth at that\n"
            "thread count, probed before the first run and after each (each thread sums a\n"
            "contiguous slice of a buffer, best of 3 passes), the mean over the runs of the two\n"
            "probes beside each run; eff/read = the mean over the runs of each run's eff GB/s\n"
            "divided by the bandwidth beside it (a shared machine's load moves within minutes).\n\n"
            "options:\n"
            "  -m, --model FILE     model (repeatable; also a comma list)\n"
            "  -p, --n-prompt N     prompt tokens (comma list; 0 = no pp test; default 512)\n"
            "  -n, --n-gen N        generated tokens (comma list; 0 = no tg test; default 128)\n"
            "  -t, --threads N      threads (comma list; default: all CPUs)\n"
            "  -r, --repetitions N  timed runs per test (default 5)\n"
            "  -ctk, --cache-type-k T  type of the cached keys: f16 (default) or f32 (one value)\n"
            "  -ctv, --cache-type-v T  type of the cached values: f16 (default) or f32 (one value)\n"
            "  -mmp, --mmap 0|1     1 = weights in a mapping of the file, 0 = read into memory\n"
            "                       (default: read on huge pages when they exist and the model\n"
            "                       fits in free memory, else mapped; use_mmap in json/csv)\n"
            "  -o, --output FMT     md (default), json, jsonl or csv, to stdout\n"
            "  --progress           print progress to stderr\n"
            "  --bw-size MIB        read-bandwidth buffer in MiB (default 1024)\n"
            "  --isa L              cap the kernels at level L (scalar, avx2, avx512, neon, neondot): what a\n"
            "                       CPU without the higher levels would run\n"
            "  -h, --help           show this help\n\n"
            "qtk bench types:\n"
            "For every type with a quantizer (or the --type list), prints:\n"
            "  bpw          bits per weight of the blocks\n"
            "  q M/s        quantize throughput, million weights/s, 1 thread, no imatrix, at\n"
            "               the --effort level (as qtk quantize: default unless given)\n"
            "  qi M/s       the same with an importance matrix\n"
            "  deq GB/s     dequantize throughput, GB/s of quantized bytes, 1 thread\n"
            "  dot1 GB/s    R x C matrix times one vector, GB/s of weight bytes, 1 thread, through\n"
            "               the engine's kernel (mul_mat in 64-row calls when the type has one,\n"
            "               else vec_dot per row)\n"
            "  dotN GB/s    the same on N threads\n"
            "  /bw1 /bwN    dot throughput as a fraction of the measured memory read bandwidth\n"
            "  gemm Gop/s   R x C matrix times G columns (--gemm-cols, default 512) through the\n"
            "               engine's batch path on N threads, 10^9 int8 operations (2 per\n"
            "               multiply-add) per second, activation conversion included\n"
            "  /peak        gemm as a fraction of the int8 peak measured in the same run: a\n"
            "               register-resident loop of the multiply-add instruction the batch\n"
            "               kernel uses (vpdpbusd, maddubs, sdot) on N threads\n"
            "The read bandwidth is measured in the same run (sum over a 512 MiB buffer).\n\n"
            "options:\n"
            "  --type T      benchmark type T (repeatable; names as llama.cpp spells them)\n"
            "  -t, --threads N  threads for the N-thread figures (default: all CPUs)\n"
            "  --rows R      matrix rows (default 4096)\n"
            "  --cols C      matrix columns = row length (default 4096)\n"
            "  --reuse-rows K  quantize only K distinct rows and repeat them to fill the R\n"
            "                rows of the dot and gemm figures (0 = all distinct, the default):\n"
            "                a matrix far larger than the caches (R = 65536) is then quick to\n"
            "                build for the slow quantizers; the kernels read every byte anyway\n"
            "  --seconds S   minimum time per measurement (default 0.5)\n"
            "  --gemm-cols G activation columns of the gemm figure (default 512; 0 = skip)\n"
            "  --isa L       cap the kernels at level L: scalar, avx2, avx512, neon or neondot\n"
            "  --effort L    quantizer effort of the q/qi figures: fast, default or max\n"
            "  --crossover   instead of the table above: for batch widths 2..512 columns, the\n"
            "                speed of the int8 panel path over the type's own kernels (both on\n"
            "                N threads, best of 3 alternated runs each) and the width from which\n"
            "                the panels are faster at every measured width (the type table's\n"
            "                panel_min_cols for that ISA level)\n"
            "  -h, --help    show this help\n");
}

typedef struct bench_ctx {
    const qtk_type_traits *tr;
    qtk_vec_dot_fn dot;
    qtk_mul_mat_fn mul_mat; /* the type's multi-column kernel, or NULL */
    const uint8_t *w;
    const void *act;
    size_t row_size;
    int64_t cols;
    float *out;
    const uint64_t *mem;
    uint64_t *partial;
    int64_t mem_words;
    const float *src;
    const float *imatrix;
} bench_ctx;

static void quantize_range(void *p, int64_t begin, int64_t end, int ti) {
    bench_ctx *c = (bench_ctx *)p;
    (void)ti;
    /* these bytes only feed the dot/gemm timings: the cheapest search writes them */
    qtk_quantize_rows_effort((int)c->tr->id, c->src + begin * c->cols, (uint8_t *)c->w + (size_t)begin * c->row_size,
                             end - begin, c->cols, c->imatrix, QTK_EFFORT_FAST, NULL);
}

static void dot_range(void *p, int64_t begin, int64_t end, int ti) {
    bench_ctx *c = (bench_ctx *)p;
    (void)ti;
    if (c->mul_mat) {
        /* as the engine's matrix x vector (model/matmul.c): 64-row calls of mul_mat */
        for (int64_t r = begin; r < end; r += 64) {
            const int64_t nr = end - r < 64 ? end - r : 64;
            c->mul_mat(c->cols, c->w + (size_t)r * c->row_size, c->row_size, c->act, 0, &c->out[r], 0, nr, 1);
        }
        return;
    }
    for (int64_t r = begin; r < end; r++) c->dot(c->cols, &c->out[r], c->w + (size_t)r * c->row_size, c->act);
}

static void read_range(void *p, int64_t begin, int64_t end, int ti) {
    bench_ctx *c = (bench_ctx *)p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int64_t i = begin * 64; i < end * 64 && i < c->mem_words; i += 4) {
        s0 += c->mem[i];
        s1 += c->mem[i + 1];
        s2 += c->mem[i + 2];
        s3 += c->mem[i + 3];
    }
    c->partial[ti] = s0 + s1 + s2 + s3;
}

/* Memory read bandwidth in GB/s with n threads (sum over a large buffer). */
static double read_bandwidth(int nthreads, double min_seconds) {
    const int64_t words = (int64_t)512 * 1024 * 1024 / 8;
    uint64_t *mem = (uint64_t *)qtk_malloc_aligned((size_t)words * 8);
    uint64_t partial[256];
    if (!mem) return 0.0;
    for (int64_t i = 0; i < words; i++) mem[i] = (uint64_t)i;
    bench_ctx c = {.mem = mem, .mem_words = words, .partial = partial};
    int iters = 0;
    double t0 = qtk_time_now(), t;
    do {
        qtk_parallel_for(nthreads, words / 64, read_range, &c);
        iters++;
        t = qtk_time_now() - t0;
    } while (t < min_seconds || iters < 2);
    volatile uint64_t sink = partial[0];
    (void)sink;
    qtk_free_aligned(mem);
    return (double)words * 8.0 * iters / t / 1e9;
}

/* Fills a matrix with LLM-like weights: per-row scales, heavy tails, outlier columns. */
static void fill_weights(float *x, int64_t rows, int64_t cols, float *imatrix) {
    uint64_t s = 0x1234567;
    for (int64_t j = 0; j < cols; j++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(s >> 11) / 9007199254740992.0;
        imatrix[j] = (float)exp(2.0 * (u - 0.5) * 3.0) * ((j % 97) == 0 ? 20.0f : 1.0f);
    }
    for (int64_t r = 0; r < rows; r++) {
        float rs = 0.01f * (1.0f + (float)(r % 7));
        for (int64_t j = 0; j < cols; j++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            double u1 = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            double u2 = (double)(s >> 11) / 9007199254740992.0;
            double g = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
            x[r * cols + j] = (float)(rs * g * ((j % 211) == 0 ? 8.0 : 1.0));
        }
    }
}

typedef struct peak_ctx {
    int64_t iters, macs[256];
    int32_t sink[256];
} peak_ctx;

static void peak_range(void *p, int64_t begin, int64_t end, int ti) {
    peak_ctx *c = (peak_ctx *)p;
    for (int64_t i = begin; i < end; i++) c->macs[i] = qtk_bench_int8_peak_loop(c->iters, (int)i + ti, &c->sink[i]);
}

/* int8 operations/s (2 per multiply-add) of the batch kernel's instruction on n threads. */
static double int8_peak(int nthreads, double min_seconds) {
    peak_ctx c;
    memset(&c, 0, sizeof c);
    c.iters = 1 << 16;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = qtk_time_now(), t;
        int64_t macs = 0;
        do {
            qtk_parallel_for(nthreads, nthreads, peak_range, &c);
            for (int i = 0; i < nthreads; i++) macs += c.macs[i];
            t = qtk_time_now() - t0;
        } while (t < min_seconds / 5);
        best = fmax(best, 2.0 * (double)macs / t);
    }
    return best;
}

/* int8 operations/s of rows x cols weights (type t, quantized in q) times
 * g columns through the engine's batch path on n threads; 0 if unsupported. */
static double gemm_ops(int t, const void *q, int64_t rows, int64_t cols, int64_t g, const float *x, float *y,
                       int nthreads, double min_seconds) {
    return qtk_bench_gemm(t, q, rows, cols, g, x, y, nthreads, min_seconds);
}

static double seconds_of_quantize(const qtk_type_traits *tr, const float *x, void *q, int64_t rows, int64_t cols,
                                  const float *imatrix, int effort, double min_seconds, int64_t *weights_done) {
    int iters = 0;
    double t0 = qtk_time_now(), t;
    do {
        qtk_quantize_rows_effort((int)tr->id, x, q, rows, cols, imatrix, effort, NULL);
        iters++;
        t = qtk_time_now() - t0;
    } while (t < min_seconds);
    *weights_done = (int64_t)iters * rows * cols;
    return t;
}

/* ======================================================================== */
/* qtk bench -m MODEL: llama-bench                                           */
/* ======================================================================== */

#ifdef QTK_HAVE_BUILD_INFO
#include "qtk_build_info.h" /* generated at every build: cmake/build_info.cmake */
#endif
#ifndef QTK_BUILD_COMMIT
#define QTK_BUILD_COMMIT "unknown"
#endif
#ifndef QTK_BUILD_NUMBER
#define QTK_BUILD_NUMBER 0
#endif

#define MB_MAX_LIST 64

typedef enum { OUT_MD, OUT_JSON, OUT_JSONL, OUT_CSV } mb_format;

/* A loaded model and what the tables say about it. */
typedef struct mb_model {
    const char *path;
    qtk_model *m;
    const qtk_model_info *in;
    char type_label[160];        /* "llama 1B Q4_K - Medium" */
    uint64_t weight_bytes_tok;   /* weights read per generated token */
    int32_t bos;                 /* -1: no BOS first */
} mb_model;

/* One finished test (a row of the table). */
typedef struct mb_result {
    const mb_model *model;
    int n_threads;
    qtk_type type_k, type_v;     /* KV cache */
    int64_t n_prompt, n_gen;
    int reps;
    double *samples_ns;          /* reps */
    double *samples_read_gbs;    /* tg only: reps, the bandwidth beside each run (else NULL) */
    double avg_ns, stddev_ns, avg_ts, stddev_ts;
    double read_gbs;             /* tg only: mean read bandwidth at n_threads beside the runs */
    double eff_read;             /* tg only: mean over the runs of eff GB/s / the bandwidth beside it */
    char test_time[32];
} mb_result;

/* Appends the comma-separated integers of s (each in [lo, hi]) to list. */
static bool mb_parse_list(const char *s, int64_t lo, int64_t hi, int64_t *list, int *n) {
    const char *p = s;
    for (;;) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || v < lo || v > hi || *n >= MB_MAX_LIST) return false;
        list[(*n)++] = v;
        if (*end == '\0') return true;
        if (*end != ',') return false;
        p = end + 1;
    }
}

/* llama.cpp's size class of a model (llm_load_hparams), "?B" when unknown. */
static const char *mb_size_class(const qtk_model_info *in) {
    if (!strcmp(in->arch, "qwen3")) {
        switch (in->n_layer) {
        case 28: return in->n_embd == 1024 ? "0.6B" : "1.7B";
        case 36: return in->n_embd == 2560 ? "4B" : "8B";
        case 40: return "14B";
        case 64: return "32B";
        default: return "?B";
        }
    }
    if (!strcmp(in->arch, "gemma3")) {
        switch (in->n_layer) {
        case 26: return "1B";
        case 34: return "4B";
        case 48: return "12B";
        case 62: return "27B";
        default: return "?B";
        }
    }
    const bool qwen = !strcmp(in->arch, "qwen2");
    switch (in->n_layer) {
    case 16: return qwen ? "?B" : "1B";
    case 22: return qwen ? "?B" : "1B";
    case 24: return qwen ? (in->n_embd == 1024 ? "0.5B" : "1B") : "?B";
    case 26: return qwen ? "?B" : "3B";
    case 28: return qwen ? (in->n_embd == 1536 ? "1.5B" : "7B") : "3B";
    case 32: return qwen ? "7B" : (in->n_vocab == 49152 ? "3B" : in->n_vocab < 40000 ? "7B" : "8B");
    case 36: return qwen ? "3B" : "8B";
    case 40: return qwen ? (in->n_head == 20 ? "4B" : "13B") : "13B";
    case 48: return qwen ? "14B" : "34B";
    case 60: return qwen ? "?B" : "30B";
    case 64: return qwen ? "32B" : "?B";
    case 80: return qwen ? "70B" : (in->n_head == in->n_head_kv ? "65B" : "70B");
    default: return "?B";
    }
}

/* llama.cpp's name of a file type (llama_model_ftype_name), by preset name. */
static const char *mb_ftype_label(const char *preset) {
    static const char *const names[][2] = {
        {"F32", "all F32"}, {"F16", "F16"}, {"BF16", "BF16"}, {"Q4_0", "Q4_0"}, {"Q4_1", "Q4_1"},
        {"Q5_0", "Q5_0"}, {"Q5_1", "Q5_1"}, {"Q6_0", "Q6_0"}, {"Q8_0", "Q8_0"}, {"Q2_K", "Q2_K - Medium"},
        {"Q2_K_S", "Q2_K - Small"}, {"Q3_K_S", "Q3_K - Small"}, {"Q3_K_M", "Q3_K - Medium"},
        {"Q3_K_L", "Q3_K - Large"}, {"Q4_K_S", "Q4_K - Small"}, {"Q4_K_M", "Q4_K - Medium"},
        {"Q5_K_S", "Q5_K - Small"}, {"Q5_K_M", "Q5_K - Medium"}, {"Q6_K", "Q6_K"},
        {"IQ2_XXS", "IQ2_XXS - 2.0625 bpw"}, {"IQ2_XS", "IQ2_XS - 2.3125 bpw"}, {"IQ2_S", "IQ2_S - 2.5 bpw"},
        {"IQ2_M", "IQ2_M - 2.7 bpw"}, {"IQ3_XS", "IQ3_XS - 3.3 bpw"}, {"IQ3_XXS", "IQ3_XXS - 3.0625 bpw"},
        {"IQ1_S", "IQ1_S - 1.5625 bpw"}, {"IQ1_M", "IQ1_M - 1.75 bpw"}, {"IQ4_NL", "IQ4_NL - 4.5 bpw"},
        {"IQ4_XS", "IQ4_XS - 4.25 bpw"}, {"IQ3_S", "IQ3_S - 3.4375 bpw"}, {"IQ3_M", "IQ3_S mix - 3.66 bpw"},
        {"IQ4_KS", "IQ4_KS - 4.25 bpw"}, {"IQ4_KSS", "IQ4_KSS - 4.0 bpw"}, {"IQ5_KS", "IQ5_KS - 5.25 bpw"},
        {"IQ2_K", "IQ2_K - 2.375 bpw"}, {"IQ2_KS", "IQ2_KS - 2.1875 bpw"}, {"IQ3_KS", "IQ3_KS - 3.1875 bpw"},
        {"IQ2_KL", "IQ2_KL - 2.6875 bpw"}, {"IQ3_K", "IQ3_K - 3.4325 bpw"}, {"IQ3_KL", "IQ3_KL - 4 bpw"},
        {"IQ4_K", "IQ4_K - 4.5 bpw"}, {"IQ5_K", "IQ5_K - 5.5 bpw"}, {"IQ6_K", "IQ6_K - 6.6 bpw"},
        {"IQ1_KT", "IQ1_KT - 1.75 bpw"}, {"IQ2_KT", "IQ2_KT - 2.125 bpw"}, {"IQ3_KT", "IQ3_KT - 3.125 bpw"},
        {"IQ4_KT", "IQ4_KT - 4.0 bpw"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i][0], preset)) return names[i][1];
    return preset;
}

/* The preset whose file type is ft (the first one, as the preset table orders them), or NULL. */
static const char *mb_preset_of_ftype(int64_t ft) {
    int n = 0;
    const char *const *names = qtk_preset_names(&n);
    for (int i = 0; i < n; i++) {
        qtk_recipe *r = NULL;
        qtk_error err;
        if (qtk_recipe_from_preset(names[i], NULL, &r, &err) != QTK_OK) continue;
        int f = qtk_recipe_file_type(r);
        qtk_recipe_free(r);
        if (f == ft) return names[i];
    }
    return NULL;
}

/* Loads a model and fills in its labels; on failure err names the file. */
static qtk_status mb_model_open(mb_model *mm, const char *path, qtk_load_mode mode, qtk_error *err) {
    memset(mm, 0, sizeof *mm);
    mm->path = path;
    mm->bos = -1;
    qtk_status st = qtk_model_load_ex(path, mode, &mm->m, err);
    if (st != QTK_OK) {
        if (!strstr(err->msg, path)) {
            char msg[2 * QTK_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%.500s: %s", path, err->msg);
            memcpy(err->msg, msg, sizeof err->msg - 1);
            err->msg[sizeof err->msg - 1] = '\0';
        }
        return st;
    }
    mm->in = qtk_model_get_info(mm->m);
    const qtk_gguf *g = qtk_model_gguf(mm->m);
    int64_t ft = -1;
    const char *ftname = "unknown";
    if (qtk_meta_get_int(qtk_gguf_meta(g), "general.file_type", &ft)) {
        const char *p = mb_preset_of_ftype(ft);
        ftname = p ? mb_ftype_label(p) : "unknown, may not work";
    }
    snprintf(mm->type_label, sizeof mm->type_label, "%s %s %s", mm->in->arch, mb_size_class(mm->in), ftname);
    /* weights read per token: every matrix but the token embedding (a row of
     * it is read per token), unless the output head is the embedding itself;
     * of an expert tensor (3-D, one slice per expert) only the slices of the
     * experts a token is routed to */
    bool has_output = qtk_gguf_find_tensor(g, "output.weight") >= 0;
    for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        if (t->n_dims < 2 || t->ne[1] < 2) continue;
        if (!strcmp(t->name, "token_embd.weight") && has_output) continue;
        if (t->n_dims >= 3 && mm->in->n_expert > 1 && t->ne[2] == mm->in->n_expert && mm->in->n_expert_used > 0)
            mm->weight_bytes_tok += t->nbytes / (uint64_t)t->ne[2] * (uint64_t)mm->in->n_expert_used;
        else
            mm->weight_bytes_tok += t->nbytes;
    }
    qtk_vocab *v = NULL;
    qtk_error verr;
    if (qtk_vocab_load(g, &v, &verr) == QTK_OK) {
        if (qtk_vocab_adds_bos(v)) mm->bos = qtk_vocab_bos(v);
        qtk_vocab_free(v);
    }
    return QTK_OK;
}

/* ---- memory read bandwidth ---------------------------------------------- */

#define MB_BW_BLOCK 512 /* uint64 words per work item (4 KiB) */
#define MB_BW_PASSES 3  /* read passes per probe; its best counts */

typedef struct mb_bw {
    const uint64_t *mem;
    int64_t words;
    uint64_t partial[256][8]; /* one cache line per thread */
} mb_bw;

/* Sums the work items [begin, end): a contiguous slice of the buffer. */
static void mb_bw_range(void *p, int64_t begin, int64_t end, int ti) {
    mb_bw *b = (mb_bw *)p;
    const uint64_t *x = b->mem + begin * MB_BW_BLOCK, *e = b->mem + end * MB_BW_BLOCK;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (; x < e; x += 8) {
        s0 += x[0];
        s1 += x[1];
        s2 += x[2];
        s3 += x[3];
        s4 += x[4];
        s5 += x[5];
        s6 += x[6];
        s7 += x[7];
    }
    b->partial[ti & 255][0] += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

/* Best of `passes` read passes over the buffer with n threads, in GB/s; 0 when
 * the sum comes out wrong (it is checked, so the reads cannot be optimized away). */
static double mb_read_bandwidth(mb_bw *b, int nthreads, int passes) {
    const uint64_t n = (uint64_t)b->words;
    /* sum of i * 2654435761 for i < n, mod 2^64 */
    const uint64_t expect = (n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2)) * 2654435761u;
    double best = 0.0;
    for (int run = 0; run < passes; run++) {
        memset(b->partial, 0, sizeof b->partial);
        double t0 = qtk_time_now();
        qtk_parallel_for(nthreads, b->words / MB_BW_BLOCK, mb_bw_range, b);
        double t = qtk_time_now() - t0;
        uint64_t sum = 0;
        for (int i = 0; i < 256; i++) sum += b->partial[i][0];
        if (sum != expect) return 0.0;
        double gbs = (double)b->words * 8.0 / t / 1e9;
        if (gbs > best) best = gbs;
    }
    return best;
}

/* ---- one test -------------------------------------------------------------- */

/* A fixed pseudo-random token sequence (llama-bench draws random tokens). */
static void mb_tokens(int32_t *toks, int64_t n, int64_t n_vocab, int32_t bos) {
    uint64_t s = 0x853c49e6748fea9bULL;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        toks[i] = (int32_t)((s >> 33) % (uint64_t)n_vocab);
    }
    if (bos >= 0 && n > 0) toks[0] = bos;
}

/* pp: the tokens as one batch (logits of the last); tg: n single tokens. */
static qtk_status mb_run_once(qtk_context *c, const int32_t *toks, int64_t n_prompt, int64_t n_gen, float *logits,
                              double *seconds, qtk_error *err) {
    qtk_context_reset(c);
    double t0 = qtk_time_now();
    qtk_status st = QTK_OK;
    if (n_prompt > 0) st = qtk_decode(c, toks, n_prompt, n_prompt - 1, logits, err);
    for (int64_t i = 0; st == QTK_OK && i < n_gen; i++) st = qtk_decode(c, &toks[i], 1, 0, logits, err);
    *seconds = qtk_time_now() - t0;
    return st;
}

/* ---- output ---------------------------------------------------------------- */

static void mb_cpu_info(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *p = strchr(line, ':');
        if (!p) break;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        snprintf(buf, n, "%s", p);
        size_t k = strlen(buf);
        while (k > 0 && (buf[k - 1] == '\n' || buf[k - 1] == '\r' || buf[k - 1] == ' ')) buf[--k] = '\0';
        break;
    }
    fclose(f);
}

static const char *mb_fmt_size(uint64_t bytes, char *buf, size_t n) {
    if (bytes < 1024ull * 1024 * 1024)
        snprintf(buf, n, "%.2f MiB", (double)bytes / 1024.0 / 1024.0);
    else
        snprintf(buf, n, "%.2f GiB", (double)bytes / 1024.0 / 1024.0 / 1024.0);
    return buf;
}

static const char *mb_fmt_params(int64_t p, char *buf, size_t n) {
    if (p < 1000 * 1000 * 1000)
        snprintf(buf, n, "%.2f M", (double)p / 1e6);
    else
        snprintf(buf, n, "%.2f B", (double)p / 1e9);
    return buf;
}

/* kv: the type_k and type_v columns (as llama-bench, only when not f16). */
static void mb_md_header(FILE *out, bool kv) {
    fprintf(out, "| %-30s | %10s | %10s | %-10s | %7s | ", "model", "size", "params", "backend", "threads");
    if (kv) fprintf(out, "%6s | %6s | ", "type_k", "type_v");
    fprintf(out, "%13s | %16s | %10s | %10s | %10s | %10s |\n", "test", "t/s", "w/token", "eff GB/s", "read GB/s",
            "eff/read");
    fprintf(out, "| %s | %s | %s | %s | %s | ", "------------------------------", "---------:", "---------:",
            "----------", "------:");
    if (kv) fprintf(out, "%s | %s | ", "-----:", "-----:");
    fprintf(out, "%s | %s | %s | %s | %s | %s |\n", "------------:", "---------------:", "---------:", "---------:",
            "---------:", "---------:");
    fflush(out);
}

static void mb_md_row(FILE *out, const mb_result *r, bool kv) {
    char size[32], params[32], test[48], ts[64], wt[32] = "-", eff[32] = "-", rd[32] = "-", ratio[32] = "-";
    mb_fmt_size(qtk_model_get_info(r->model->m)->n_bytes, size, sizeof size);
    mb_fmt_params(r->model->in->n_params, params, sizeof params);
    if (r->n_gen == 0)
        snprintf(test, sizeof test, "pp%lld", (long long)r->n_prompt);
    else if (r->n_prompt == 0)
        snprintf(test, sizeof test, "tg%lld", (long long)r->n_gen);
    else
        snprintf(test, sizeof test, "pp%lld+tg%lld", (long long)r->n_prompt, (long long)r->n_gen);
    snprintf(ts, sizeof ts, "%.2f \xc2\xb1 %.2f", r->avg_ts, r->stddev_ts);
    if (r->n_prompt == 0 && r->n_gen > 0) {
        double gbs = (double)r->model->weight_bytes_tok * r->avg_ts / 1e9;
        mb_fmt_size(r->model->weight_bytes_tok, wt, sizeof wt);
        snprintf(eff, sizeof eff, "%.2f", gbs);
        if (r->read_gbs > 0) {
            snprintf(rd, sizeof rd, "%.2f", r->read_gbs);
            snprintf(ratio, sizeof ratio, "%.3f", r->eff_read);
        }
    }
    /* the "±" is 2 bytes for 1 column: one more byte of width */
    fprintf(out, "| %-30s | %10s | %10s | %-10s | %7d | ", r->model->type_label, size, params, "CPU", r->n_threads);
    if (kv) fprintf(out, "%6s | %6s | ", qtk_type_name((int)r->type_k), qtk_type_name((int)r->type_v));
    fprintf(out, "%13s | %17s | %10s | %10s | %10s | %10s |\n", test, ts, wt, eff, rd, ratio);
    fflush(out);
}

/* The fields of a result as (name, JSON value) pairs, in llama-bench's order
 * (its CPU-relevant fields) followed by qtk's own. Values are JSON literals. */
typedef struct mb_field {
    const char *name;
    char value[1024];
    bool is_string;
} mb_field;

static int mb_fields(const mb_result *r, const char *cpu_info, mb_field *f) {
    int n = 0;
#define MB_STR(nm, s)                                                   \
    do {                                                                \
        f[n].name = nm;                                                 \
        f[n].is_string = true;                                          \
        snprintf(f[n].value, sizeof f[n].value, "%s", s);               \
        n++;                                                            \
    } while (0)
#define MB_NUM(nm, fmt, v)                                              \
    do {                                                                \
        f[n].name = nm;                                                 \
        f[n].is_string = false;                                         \
        snprintf(f[n].value, sizeof f[n].value, fmt, v);                \
        n++;                                                            \
    } while (0)
    const qtk_model_info *in = r->model->in;
    const bool tg = r->n_prompt == 0 && r->n_gen > 0;
    const double gbs = (double)r->model->weight_bytes_tok * r->avg_ts / 1e9;
    MB_STR("build_commit", QTK_BUILD_COMMIT);
    MB_NUM("build_number", "%d", QTK_BUILD_NUMBER);
    MB_STR("cpu_info", cpu_info);
    MB_STR("gpu_info", "");
    MB_STR("backends", "CPU");
    MB_STR("model_filename", r->model->path);
    MB_STR("model_type", r->model->type_label);
    MB_NUM("model_size", "%llu", (unsigned long long)in->n_bytes);
    MB_NUM("model_n_params", "%lld", (long long)in->n_params);
    MB_NUM("n_batch", "%lld", (long long)(r->n_prompt > 0 ? r->n_prompt : 1));
    MB_NUM("n_ubatch", "%lld", (long long)(r->n_prompt > 0 ? r->n_prompt : 1));
    MB_NUM("n_threads", "%d", r->n_threads);
    MB_STR("type_k", qtk_type_name((int)r->type_k));
    MB_STR("type_v", qtk_type_name((int)r->type_v));
    MB_NUM("n_gpu_layers", "%d", 0);
    MB_NUM("use_mmap", "%s", in->mapped ? "true" : "false"); /* a JSON boolean */
    MB_NUM("n_prompt", "%lld", (long long)r->n_prompt);
    MB_NUM("n_gen", "%lld", (long long)r->n_gen);
    MB_NUM("n_depth", "%d", 0);
    MB_STR("test_time", r->test_time);
    MB_NUM("avg_ns", "%.0f", r->avg_ns);
    MB_NUM("stddev_ns", "%.0f", r->stddev_ns);
    MB_NUM("avg_ts", "%f", r->avg_ts);
    MB_NUM("stddev_ts", "%f", r->stddev_ts);
    MB_NUM("weight_bytes_per_token", "%llu", (unsigned long long)(tg ? r->model->weight_bytes_tok : 0));
    MB_NUM("eff_gbs", "%f", tg ? gbs : 0.0);
    MB_NUM("read_gbs", "%f", tg ? r->read_gbs : 0.0);
    MB_NUM("eff_read_ratio", "%f", tg ? r->eff_read : 0.0);
#undef MB_STR
#undef MB_NUM
    return n;
}

static void mb_json_row(FILE *out, const mb_result *r, const char *cpu_info, bool lines, bool first) {
    static mb_field f[32];
    int n = mb_fields(r, cpu_info, f);
    const char *ind = lines ? "" : "    ", *sep = lines ? ", " : ",\n";
    if (!lines) fprintf(out, "%s  {\n", first ? "" : ",\n");
    else fputc('{', out);
    for (int i = 0; i < n; i++) {
        fprintf(out, "%s\"%s\": ", ind, f[i].name);
        if (f[i].is_string)
            cli_json_string(out, f[i].value, strlen(f[i].value));
        else
            fputs(f[i].value, out);
        fputs(sep, out);
    }
    fprintf(out, "%s\"samples_ns\": [", ind);
    for (int i = 0; i < r->reps; i++) fprintf(out, "%s%.0f", i ? ", " : " ", r->samples_ns[i]);
    fprintf(out, " ]%s%s\"samples_ts\": [", sep, ind);
    const int64_t ntok = r->n_prompt + r->n_gen;
    for (int i = 0; i < r->reps; i++) fprintf(out, "%s%g", i ? ", " : " ", 1e9 * (double)ntok / r->samples_ns[i]);
    if (r->samples_read_gbs) {
        fprintf(out, " ]%s%s\"samples_read_gbs\": [", sep, ind);
        for (int i = 0; i < r->reps; i++) fprintf(out, "%s%g", i ? ", " : " ", r->samples_read_gbs[i]);
    }
    fprintf(out, " ]%s", lines ? "}\n" : "\n  }");
    fflush(out);
}

static void mb_csv_row(FILE *out, const mb_result *r, const char *cpu_info, bool header) {
    static mb_field f[32];
    int n = mb_fields(r, cpu_info, f);
    if (header) {
        for (int i = 0; i < n; i++) fprintf(out, "%s%s", i ? "," : "", f[i].name);
        fputc('\n', out);
    }
    for (int i = 0; i < n; i++) {
        fputs(i ? ",\"" : "\"", out);
        for (const char *p = f[i].value; *p; p++) {
            if (*p == '"') fputc('"', out);
            fputc(*p, out);
        }
        fputc('"', out);
    }
    fputc('\n', out);
    fflush(out);
}

/* ---- the command --------------------------------------------------------------- */

/* --isa NAME of both benchmarks: caps the kernels at that level; 0, or the usage error. */
static int cap_isa(const char *name) {
    for (int l = 0; l < QTK_ISA_COUNT; l++) {
        if (strcmp(name, qtk_isa_name((qtk_isa)l)) != 0) continue;
        if (!qtk_isa_available((qtk_isa)l))
            return cli_usage_error("bench", help_bench, "--isa %s: not available on this CPU or build", name);
        qtk_set_max_isa((qtk_isa)l);
        return 0;
    }
    return cli_usage_error("bench", help_bench, "--isa %s: not one of scalar, avx2, avx512, neon, neondot", name);
}

static int bench_models(int argc, char **argv) {
    const char *models[MB_MAX_LIST];
    int n_models = 0, n_p = 0, n_n = 0, n_t = 0;
    int64_t plist[MB_MAX_LIST], nlist[MB_MAX_LIST], tlist[MB_MAX_LIST];
    int64_t reps = 5, bw_mib = 1024;
    qtk_load_mode load_mode = QTK_LOAD_AUTO;
    bool progress = false, p_given = false, n_given = false;
    mb_format fmt = OUT_MD;
    qtk_type type_k = QTK_TYPE_F16, type_v = QTK_TYPE_F16;
    char *model_args = NULL; /* copies of comma lists (split in place) */
    size_t model_args_len = 0;
    for (int i = 1; i < argc; i++) model_args_len += strlen(argv[i]) + 1;
    model_args = (char *)malloc(model_args_len + 1);
    char *ma = model_args;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help_bench(stdout);
            rc = 0;
            goto done_args;
        }
        const int ct = cli_parse_cache_type("bench", help_bench, argc, argv, &i, &type_k, &type_v);
        if (ct != 0) {
            if (ct > 0) continue;
            rc = 2;
            goto done_args;
        }
        const bool has_val = i + 1 < argc;
        const char *v = has_val ? argv[i + 1] : NULL;
        bool ok = true;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            if (!ma) {
                fprintf(stderr, "qtk bench: out of memory\n");
                rc = 1;
                goto done_args;
            }
            strcpy(ma, v);
            for (char *s = ma;;) {
                char *c = strchr(s, ',');
                if (c) *c = '\0';
                if (!*s || n_models >= MB_MAX_LIST) {
                    ok = false;
                    break;
                }
                models[n_models++] = s;
                if (!c) break;
                s = c + 1;
            }
            ma += strlen(v) + 1;
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) && has_val) {
            if (!p_given) n_p = 0;
            p_given = true;
            ok = mb_parse_list(v, 0, 1 << 20, plist, &n_p);
        } else if ((!strcmp(a, "-n") || !strcmp(a, "--n-gen")) && has_val) {
            if (!n_given) n_n = 0;
            n_given = true;
            ok = mb_parse_list(v, 0, 1 << 20, nlist, &n_n);
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) {
            ok = mb_parse_list(v, 1, 256, tlist, &n_t);
        } else if ((!strcmp(a, "-r") || !strcmp(a, "--repetitions")) && has_val) {
            int k = 0;
            int64_t one[1];
            ok = mb_parse_list(v, 1, 100000, one, &k) && k == 1;
            if (ok) reps = one[0];
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has_val) {
            if (!strcmp(v, "md")) fmt = OUT_MD;
            else if (!strcmp(v, "json")) fmt = OUT_JSON;
            else if (!strcmp(v, "jsonl")) fmt = OUT_JSONL;
            else if (!strcmp(v, "csv")) fmt = OUT_CSV;
            else ok = false;
        } else if ((!strcmp(a, "-mmp") || !strcmp(a, "--mmap")) && has_val) {
            if (!strcmp(v, "0")) load_mode = QTK_LOAD_READ;
            else if (!strcmp(v, "1")) load_mode = QTK_LOAD_MMAP;
            else ok = false;
        } else if (!strcmp(a, "--bw-size") && has_val) {
            int k = 0;
            int64_t one[1];
            ok = mb_parse_list(v, 1, 1 << 20, one, &k) && k == 1;
            if (ok) bw_mib = one[0];
        } else if (!strcmp(a, "--isa") && has_val) {
            if ((rc = cap_isa(v)) != 0) goto done_args;
        } else if (!strcmp(a, "--progress")) {
            progress = true;
            continue;
        } else {
            rc = cli_usage_error("bench", help_bench, "unknown or incomplete option '%s'", a);
            goto done_args;
        }
        if (!ok) {
            rc = cli_usage_error("bench", help_bench, "bad value '%s' for %s", v, a);
            goto done_args;
        }
        i++;
    }
    if (n_models == 0) {
        rc = cli_usage_error("bench", help_bench, "missing -m MODEL (or the benchmark name: types)");
        goto done_args;
    }
    if (!p_given) plist[n_p++] = 512;
    if (!n_given) nlist[n_n++] = 128;
    if (n_t == 0) tlist[n_t++] = qtk_cpu_count();
    rc = -1;
done_args:
    if (rc >= 0) {
        free(model_args);
        return rc;
    }

    /* every model is loaded first, so a bad file fails before any output */
    rc = 1;
    qtk_error err;
    mb_model *mm = (mb_model *)calloc((size_t)n_models, sizeof *mm);
    mb_bw bw = {0};
    uint64_t *bw_mem = NULL;
    int32_t *toks = NULL;
    float *logits = NULL;
    double *samples = (double *)malloc((size_t)reps * sizeof(double));
    double *samples_bw = (double *)malloc((size_t)reps * sizeof(double));
    char cpu_info[256];
    mb_cpu_info(cpu_info, sizeof cpu_info);
    if (!mm || !samples || !samples_bw) {
        fprintf(stderr, "qtk bench: out of memory\n");
        goto done;
    }
    int64_t max_tok = 1, max_vocab = 1;
    bool any_tg = false;
    for (int i = 0; i < n_p; i++) max_tok = plist[i] > max_tok ? plist[i] : max_tok;
    for (int i = 0; i < n_n; i++) {
        max_tok = nlist[i] > max_tok ? nlist[i] : max_tok;
        any_tg = any_tg || nlist[i] > 0;
    }
    for (int i = 0; i < n_models; i++) {
        if (mb_model_open(&mm[i], models[i], load_mode, &err) != QTK_OK) {
            cli_fail("bench", &err);
            goto done;
        }
        if (mm[i].in->n_vocab > max_vocab) max_vocab = mm[i].in->n_vocab;
    }
    toks = (int32_t *)malloc((size_t)max_tok * sizeof(int32_t));
    logits = (float *)malloc((size_t)max_vocab * sizeof(float));
    if (any_tg) {
        bw.words = bw_mib * 1024 * 1024 / 8 / MB_BW_BLOCK * MB_BW_BLOCK;
        bw_mem = (uint64_t *)malloc((size_t)bw.words * 8);
        if (bw_mem)
            for (int64_t i = 0; i < bw.words; i++) bw_mem[i] = (uint64_t)i * 2654435761u;
        bw.mem = bw_mem;
    }
    if (!toks || !logits || (any_tg && !bw_mem)) {
        fprintf(stderr, "qtk bench: out of memory\n");
        goto done;
    }

    const int n_tests_per = n_p + n_n;
    const int total = n_models * n_t * n_tests_per;
    int done_tests = 0, printed = 0;
    const bool kv_cols = type_k != QTK_TYPE_F16 || type_v != QTK_TYPE_F16;
    if (fmt == OUT_MD) mb_md_header(stdout, kv_cols);
    if (fmt == OUT_JSON) fputs("[\n", stdout);
    for (int mi = 0; mi < n_models; mi++) {
        for (int ti = 0; ti < n_t; ti++) {
            const int nt = (int)tlist[ti];
            for (int k = 0; k < n_tests_per; k++) {
                const int64_t np = k < n_p ? plist[k] : 0, ng = k < n_p ? 0 : nlist[k - n_p];
                done_tests++;
                if (np == 0 && ng == 0) continue;
                mb_result r = {0};
                r.model = &mm[mi];
                r.n_threads = nt;
                r.type_k = type_k;
                r.type_v = type_v;
                r.n_prompt = np;
                r.n_gen = ng;
                r.reps = (int)reps;
                r.samples_ns = samples;
                time_t now = time(NULL);
                struct tm *tmv = gmtime(&now);
                if (tmv) strftime(r.test_time, sizeof r.test_time, "%Y-%m-%dT%H:%M:%SZ", tmv);
                if (progress)
                    fprintf(stderr, "qtk bench: benchmark %d/%d: starting\n", done_tests, total);
                qtk_context *c = NULL;
                if (qtk_context_create(mm[mi].m, np + ng, nt, &c, &err) != QTK_OK ||
                    qtk_context_set_threads(c, nt, nt, &err) != QTK_OK ||
                    qtk_context_set_kv_type(c, type_k, type_v, &err) != QTK_OK) {
                    qtk_context_free(c);
                    cli_fail("bench", &err);
                    goto done_out;
                }
                /* llama-bench starts both tests with BOS when the vocabulary adds one */
                mb_tokens(toks, np > ng ? np : ng, mm[mi].in->n_vocab, mm[mi].bos);
                double sec = 0;
                qtk_status st;
                /* warmup as llama-bench: the prompt batch, or one generated token */
                if (progress)
                    fprintf(stderr, "qtk bench: benchmark %d/%d: warmup %s run\n", done_tests, total,
                            np > 0 ? "prompt" : "generation");
                st = mb_run_once(c, toks, np, np > 0 ? 0 : 1, logits, &sec, &err);
                /* tg: the read bandwidth is probed before the first run and after each, and
                 * each run is compared with the mean of the two probes beside it. The other
                 * tenants of a shared machine move the bandwidth within minutes; a probe
                 * taken once per thread count compared runs with another moment's load. */
                const bool tg_only = np == 0 && ng > 0;
                double bw_before = 0.0, bw_sum = 0.0, ratio_sum = 0.0;
                if (tg_only && st == QTK_OK) {
                    if (progress)
                        fprintf(stderr, "qtk bench: benchmark %d/%d: read bandwidth, %d threads\n", done_tests,
                                total, nt);
                    bw_before = mb_read_bandwidth(&bw, nt, MB_BW_PASSES);
                }
                for (int rep = 0; st == QTK_OK && rep < r.reps; rep++) {
                    if (progress)
                        fprintf(stderr, "qtk bench: benchmark %d/%d: %s run %d/%d\n", done_tests, total,
                                np > 0 ? "prompt" : "generation", rep + 1, r.reps);
                    st = mb_run_once(c, toks, np, ng, logits, &sec, &err);
                    samples[rep] = sec * 1e9;
                    if (tg_only && st == QTK_OK) {
                        const double bw_after = mb_read_bandwidth(&bw, nt, MB_BW_PASSES);
                        const double bw_run = 0.5 * (bw_before + bw_after);
                        const double eff = (double)mm[mi].weight_bytes_tok * (double)ng / sec / 1e9;
                        samples_bw[rep] = bw_run;
                        bw_sum += bw_run;
                        ratio_sum += bw_run > 0 ? eff / bw_run : 0.0;
                        bw_before = bw_after;
                    }
                }
                if (tg_only && st == QTK_OK && bw_sum > 0) {
                    r.read_gbs = bw_sum / r.reps;
                    r.eff_read = ratio_sum / r.reps;
                    r.samples_read_gbs = samples_bw;
                }
                qtk_context_free(c);
                if (st != QTK_OK) {
                    cli_fail("bench", &err);
                    goto done_out;
                }
                /* llama-bench: mean and sample stddev of the ns and of the t/s of each run */
                double sn = 0, sn2 = 0, st_ = 0, st2 = 0;
                for (int rep = 0; rep < r.reps; rep++) {
                    double ts = 1e9 * (double)(np + ng) / samples[rep];
                    sn += samples[rep];
                    st_ += ts;
                }
                r.avg_ns = sn / r.reps;
                r.avg_ts = st_ / r.reps;
                for (int rep = 0; rep < r.reps; rep++) {
                    double ts = 1e9 * (double)(np + ng) / samples[rep];
                    sn2 += (samples[rep] - r.avg_ns) * (samples[rep] - r.avg_ns);
                    st2 += (ts - r.avg_ts) * (ts - r.avg_ts);
                }
                r.stddev_ns = r.reps > 1 ? sqrt(sn2 / (r.reps - 1)) : 0.0;
                r.stddev_ts = r.reps > 1 ? sqrt(st2 / (r.reps - 1)) : 0.0;
                switch (fmt) {
                case OUT_MD: mb_md_row(stdout, &r, kv_cols); break;
                case OUT_JSON: mb_json_row(stdout, &r, cpu_info, false, printed == 0); break;
                case OUT_JSONL: mb_json_row(stdout, &r, cpu_info, true, printed == 0); break;
                case OUT_CSV: mb_csv_row(stdout, &r, cpu_info, printed == 0); break;
                }
                printed++;
            }
        }
    }
    rc = 0;
done_out:
    if (fmt == OUT_JSON) fputs(printed ? "\n]\n" : "]\n", stdout);
    if (fmt == OUT_MD && rc == 0) printf("\nbuild: %s (%d)\n", QTK_BUILD_COMMIT, QTK_BUILD_NUMBER);
    fflush(stdout);
done:
    if (mm)
        for (int i = 0; i < n_models; i++) qtk_model_free(mm[i].m);
    free(mm);
    free(bw_mem);
    free(toks);
    free(logits);
    free(samples);
    free(samples_bw);
    free(model_args);
    return rc;
}

/* qtk bench types --crossover: for each type, the panel path's speed over the
 * type's own kernels at batch widths 2..512, and the width from which the
 * panels win at every larger measured width ("never" when they do not win at
 * 512, where the conversion is already spread over many columns). */
static int bench_crossover(const int *types, int ntypes, int64_t rows, int64_t cols, int nthreads, double min_seconds) {
    static const int64_t widths[] = {2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 512};
    enum { NW = (int)(sizeof widths / sizeof widths[0]) };
    const int64_t max_w = widths[NW - 1];
    float *x = (float *)malloc((size_t)(rows * cols) * sizeof(float));
    float *imatrix = (float *)malloc((size_t)cols * sizeof(float));
    float *gx = (float *)malloc((size_t)(max_w * cols) * sizeof(float));
    float *gy = (float *)malloc((size_t)(max_w * rows) * sizeof(float));
    void *qbuf = qtk_malloc_aligned(qtk_row_size(QTK_TYPE_F32, cols) * (size_t)rows);
    if (!x || !imatrix || !gx || !gy || !qbuf) {
        fprintf(stderr, "qtk bench: out of memory\n");
        free(x), free(imatrix), free(gx), free(gy), qtk_free_aligned(qbuf);
        return 1;
    }
    fill_weights(x, rows, cols, imatrix);
    for (int64_t i = 0; i < max_w * cols; i++) gx[i] = x[i % (rows * cols)] * 2.0f;
    fprintf(stdout, "qtk bench types --crossover: %lld x %lld matrix, %d threads, panel GEMM %s\n", (long long)rows,
            (long long)cols, nthreads, qtk_isa_name(qtk_bench_gemm_isa()));
    fprintf(stdout, "panel speed / own-kernel speed at each batch width (columns):\n\n%-9s %-7s", "type", "kernel");
    for (int i = 0; i < NW; i++) fprintf(stdout, " %5lld", (long long)widths[i]);
    fprintf(stdout, "  %10s %8s\n", "panel from", "table");
    for (int k = 0; k < ntypes; k++) {
        const qtk_type_traits *tr = qtk_type_get(types[k]);
        const size_t rs = qtk_row_size(types[k], cols);
        const int isa = qtk_kernel_isa(types[k]);
        if (isa < 0) continue;
        bench_ctx qc = {.tr = tr, .w = (const uint8_t *)qbuf, .row_size = rs, .cols = cols, .src = x,
                        .imatrix = tr->requires_imatrix ? imatrix : NULL};
        qtk_parallel_for(nthreads, rows, quantize_range, &qc);
        fprintf(stdout, "%-9s %-7s", tr->name, qtk_isa_name((qtk_isa)isa));
        fflush(stdout);
        if (qtk_bench_gemm_path(types[k], qbuf, rows < 16 ? rows : 16, cols, 2, gx, gy, 1, 0, QTK_BENCH_PATH_PANEL) == 0) {
            fprintf(stdout, "  no int8 panels for this type (F16/BF16/F32 stay in float)\n");
            continue;
        }
        double ratio[NW];
        for (int i = 0; i < NW; i++) {
            double own = 0, pan = 0;
            for (int rep = 0; rep < 3; rep++) { /* alternated, so a noisy moment hits both */
                own = fmax(own, qtk_bench_gemm_path(types[k], qbuf, rows, cols, widths[i], gx, gy, nthreads,
                                                    min_seconds / 3, QTK_BENCH_PATH_OWN));
                pan = fmax(pan, qtk_bench_gemm_path(types[k], qbuf, rows, cols, widths[i], gx, gy, nthreads,
                                                    min_seconds / 3, QTK_BENCH_PATH_PANEL));
            }
            ratio[i] = own > 0 ? pan / own : 0;
            fprintf(stdout, " %5.2f", ratio[i]);
            fflush(stdout);
        }
        int from = NW;
        while (from > 0 && ratio[from - 1] >= 1.0) from--;
        char buf[32];
        if (from < NW) snprintf(buf, sizeof buf, "%lld", (long long)widths[from]);
        else snprintf(buf, sizeof buf, "never"); /* table: QTK_PANEL_NEVER */
        fprintf(stdout, "  %10s %8d\n", buf, (int)tr->panel_min_cols[isa]);
        fflush(stdout);
    }
    free(x), free(imatrix), free(gx), free(gy);
    qtk_free_aligned(qbuf);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    int types[128], ntypes = 0, nthreads = qtk_cpu_count();
    int64_t rows = 4096, cols = 4096, reuse_rows = 0;
    double min_seconds = 0.5;
    int64_t gemm_cols = 512;
    bool crossover = false;
    int effort = QTK_EFFORT_DEFAULT;
    if (argc < 2 || strcmp(argv[1], "types") != 0) return bench_models(argc, argv);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help_bench(stdout);
            return 0;
        } else if (!strcmp(a, "--type") && i + 1 < argc) {
            int t = qtk_type_from_name(argv[++i]);
            const qtk_type_traits *tr = qtk_type_get(t);
            if (!tr || !tr->quantize || !tr->file_type)
                return cli_usage_error("bench", help_bench, "type '%s' is unknown or has no quantizer", argv[i]);
            if (ntypes < 128) types[ntypes++] = t;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && i + 1 < argc) {
            nthreads = atoi(argv[++i]);
            if (nthreads < 1 || nthreads > 256) return cli_usage_error("bench", help_bench, "bad thread count");
        } else if (!strcmp(a, "--rows") && i + 1 < argc) {
            rows = atoll(argv[++i]);
        } else if (!strcmp(a, "--cols") && i + 1 < argc) {
            cols = atoll(argv[++i]);
        } else if (!strcmp(a, "--reuse-rows") && i + 1 < argc) {
            reuse_rows = atoll(argv[++i]);
            if (reuse_rows < 0) return cli_usage_error("bench", help_bench, "--reuse-rows: 0 or a positive count");
        } else if (!strcmp(a, "--seconds") && i + 1 < argc) {
            min_seconds = atof(argv[++i]);
        } else if (!strcmp(a, "--gemm-cols") && i + 1 < argc) {
            gemm_cols = atoll(argv[++i]);
            if (gemm_cols < 0 || gemm_cols > 4096) return cli_usage_error("bench", help_bench, "--gemm-cols: 0..4096");
        } else if (!strcmp(a, "--crossover")) {
            crossover = true;
        } else if (!strcmp(a, "--effort") && i + 1 < argc) {
            effort = qtk_effort_from_name(argv[++i]);
            if (effort < 0)
                return cli_usage_error("bench", help_bench, "--effort: fast, default or max, not '%s'", argv[i]);
        } else if (!strcmp(a, "--isa") && i + 1 < argc) {
            const int rc = cap_isa(argv[++i]);
            if (rc != 0) return rc;
        } else {
            return cli_usage_error("bench", help_bench, "unknown or incomplete option '%s'", a);
        }
    }
    if (rows < 1 || cols < 256 || cols % 256 != 0)
        return cli_usage_error("bench", help_bench, "--cols must be a positive multiple of 256, --rows positive");
    if (ntypes == 0)
        for (int i = 0; i < qtk_type_count(); i++) {
            const qtk_type_traits *tr = qtk_type_at(i);
            if (tr->quantize && tr->is_quantized && tr->file_type && !tr->interleaved) types[ntypes++] = (int)tr->id;
        }

    if (crossover) return bench_crossover(types, ntypes, rows, cols, nthreads, min_seconds);

    /* distinct rows: the source matrix and what is quantized; the rest repeats them */
    const int64_t src_rows = reuse_rows > 0 && reuse_rows < rows ? reuse_rows : rows;
    const int64_t qrows = src_rows < 64 ? src_rows : 64; /* rows used for quantize timing */
    float *x = (float *)malloc((size_t)(src_rows * cols) * sizeof(float));
    float *imatrix = (float *)malloc((size_t)cols * sizeof(float));
    float *act = (float *)malloc((size_t)cols * sizeof(float));
    float *deq = (float *)malloc((size_t)(qrows * cols) * sizeof(float));
    float *out = (float *)malloc((size_t)rows * sizeof(float));
    void *qbuf = qtk_malloc_aligned(qtk_row_size(QTK_TYPE_F32, cols) * (size_t)rows);
    void *abuf = qtk_malloc_aligned((size_t)cols * 8 + 4096);
    if (!x || !imatrix || !act || !deq || !out || !qbuf || !abuf) {
        fprintf(stderr, "qtk bench: out of memory\n");
        return 1;
    }
    fill_weights(x, src_rows, cols, imatrix);
    for (int64_t j = 0; j < cols; j++) act[j] = x[j] * 3.0f + 0.001f * (float)(j % 13);

    const qtk_cpu_features *f = qtk_cpu();
    char reuse_note[64] = "";
    if (src_rows < rows) snprintf(reuse_note, sizeof reuse_note, " (%lld distinct rows)", (long long)src_rows);
    fprintf(stdout, "qtk bench types: %lld x %lld matrix%s, %d threads, CPU:%s%s%s%s%s%s\n", (long long)rows,
            (long long)cols, reuse_note, nthreads, f->avx2 ? " avx2" : "", f->avx512f ? " avx512" : "",
            f->avx512vnni ? " vnni" : "", f->avx512vbmi ? " vbmi" : "", f->neon ? " neon" : "", f->neon_dotprod ? " dotprod" : "");
    fflush(stdout);
    double bw1 = read_bandwidth(1, min_seconds), bwn = read_bandwidth(nthreads, min_seconds);
    fprintf(stdout, "memory read bandwidth: %.2f GB/s (1 thread), %.2f GB/s (%d threads)\n", bw1, bwn, nthreads);
    const double peak = gemm_cols > 0 ? int8_peak(nthreads, min_seconds) : 0;
    float *gx = NULL, *gy = NULL;
    if (gemm_cols > 0) {
        fprintf(stdout, "int8 peak (%s, %d threads): %.1f Gop/s; gemm: %lld columns\n",
                qtk_isa_name(qtk_bench_gemm_isa()), nthreads, peak / 1e9, (long long)gemm_cols);
        gx = (float *)malloc((size_t)(gemm_cols * cols) * sizeof(float));
        gy = (float *)malloc((size_t)(gemm_cols * rows) * sizeof(float));
        if (!gx || !gy) {
            fprintf(stderr, "qtk bench: out of memory\n");
            return 1;
        }
        for (int64_t i = 0; i < gemm_cols * cols; i++) gx[i] = x[i % (src_rows * cols)] * 2.0f;
    }
    fprintf(stdout, "\n%-9s %7s %8s %8s %9s %9s %9s %6s %6s %10s %6s  %s\n", "type", "bpw", "q M/s", "qi M/s",
            "deq GB/s", "dot1 GB/s", "dotN GB/s", "/bw1", "/bwN", "gemm Gop/s", "/peak", "kernel");
    for (int k = 0; k < ntypes; k++) {
        const qtk_type_traits *tr = qtk_type_get(types[k]);
        size_t rs = qtk_row_size(types[k], cols);
        int64_t done = 0;
        double qs = 0, qis = 0;
        if (!tr->requires_imatrix) {
            double t = seconds_of_quantize(tr, x, qbuf, qrows, cols, NULL, effort, min_seconds, &done);
            qs = (double)done / t / 1e6;
        }
        double t = seconds_of_quantize(tr, x, qbuf, qrows, cols, imatrix, effort, min_seconds, &done);
        qis = (double)done / t / 1e6;
        /* dequantize timing on the quantized rows */
        double deq_gbs = 0;
        if (tr->to_float) {
            int iters = 0;
            double t0 = qtk_time_now();
            do {
                for (int64_t r = 0; r < qrows; r++) tr->to_float((uint8_t *)qbuf + (size_t)r * rs, deq + r * cols, cols);
                iters++;
                t = qtk_time_now() - t0;
            } while (t < min_seconds);
            deq_gbs = (double)rs * (double)qrows * iters / t / 1e9;
        }
        /* full matrix for the dot product (quantized on all threads) */
        bench_ctx qc = {.tr = tr, .w = (const uint8_t *)qbuf, .row_size = rs, .cols = cols, .src = x,
                        .imatrix = tr->requires_imatrix ? imatrix : NULL};
        qtk_parallel_for(nthreads, src_rows, quantize_range, &qc);
        for (int64_t r = src_rows; r < rows; r += src_rows)
            memcpy((uint8_t *)qbuf + (size_t)r * rs, qbuf, (size_t)(rows - r < src_rows ? rows - r : src_rows) * rs);
        qtk_vec_dot_fn dot = qtk_vec_dot_best(types[k]);
        const qtk_type_traits *at = qtk_type_get(tr->vec_dot_type);
        double d1 = 0, dn = 0;
        const char *kernel = "-";
        if (dot && at && at->from_float) {
            at->from_float(act, abuf, cols);
            bench_ctx c = {.tr = tr, .dot = dot, .mul_mat = qtk_mul_mat_best(types[k]), .w = (const uint8_t *)qbuf,
                           .act = abuf, .row_size = rs, .cols = cols, .out = out};
            for (int pass = 0; pass < 2; pass++) {
                int nt = pass == 0 ? 1 : nthreads, iters = 0;
                double t0 = qtk_time_now();
                do {
                    qtk_parallel_for(nt, rows, dot_range, &c);
                    iters++;
                    t = qtk_time_now() - t0;
                } while (t < min_seconds);
                double gbs = (double)rs * (double)rows * iters / t / 1e9;
                if (pass == 0) d1 = gbs; else dn = gbs;
            }
            for (int isa = QTK_ISA_COUNT - 1; isa >= 0; isa--)
                if (c.mul_mat ? tr->mul_mat[isa] == c.mul_mat : tr->vec_dot[isa] == dot)
                    kernel = qtk_isa_name((qtk_isa)isa);
        }
        const double gops = gemm_cols > 0 && dot ? gemm_ops(types[k], qbuf, rows, cols, gemm_cols, gx, gy, nthreads,
                                                           min_seconds)
                                                 : 0;
        fprintf(stdout, "%-9s %7.4f %8.2f %8.2f %9.2f %9.2f %9.2f %6.2f %6.2f %10.1f %6.3f  %s\n", tr->name,
                qtk_type_bpw(types[k]), qs, qis, deq_gbs, d1, dn, bw1 > 0 ? d1 / bw1 : 0, bwn > 0 ? dn / bwn : 0,
                gops / 1e9, peak > 0 ? gops / peak : 0, kernel);
        fflush(stdout);
    }
    free(x);
    free(imatrix);
    free(act);
    free(deq);
    free(out);
    qtk_free_aligned(qbuf);
    qtk_free_aligned(abuf);
    free(gx);
    free(gy);
    return 0;
}
