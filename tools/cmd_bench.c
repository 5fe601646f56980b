/*
 * cmd_bench.c — `qtk bench types`: per-type speed figures (a benchmark
 * program, never a test): quantize M weights/s with and without imatrix,
 * dequantize GB/s, and matrix × vector dot-product GB/s of weight bytes on
 * 1 and N threads, next to the machine's measured memory read bandwidth.
 */
#include "cli.h"
#include "core/qtk_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void help_bench(FILE *out) {
    fprintf(out,
            "usage: qtk bench types [--type T ...] [-t N] [--rows R] [--cols C] [--seconds S]\n\n"
            "For every type with a quantizer (or the --type list), prints:\n"
            "  bpw          bits per weight of the blocks\n"
            "  q M/s        quantize throughput, million weights/s, 1 thread, no imatrix\n"
            "  qi M/s       the same with an importance matrix\n"
            "  deq GB/s     dequantize throughput, GB/s of quantized bytes, 1 thread\n"
            "  dot1 GB/s    R x C matrix times one vector, GB/s of weight bytes, 1 thread\n"
            "  dotN GB/s    the same on N threads\n"
            "  /bw1 /bwN    dot throughput as a fraction of the measured memory read bandwidth\n"
            "The read bandwidth is measured in the same run (sum over a 512 MiB buffer).\n\n"
            "options:\n"
            "  --type T      benchmark type T (repeatable; names as llama.cpp spells them)\n"
            "  -t, --threads N  threads for the N-thread figures (default: all CPUs)\n"
            "  --rows R      matrix rows (default 4096)\n"
            "  --cols C      matrix columns = row length (default 4096)\n"
            "  --seconds S   minimum time per measurement (default 0.5)\n"
            "  -h, --help    show this help\n");
}

typedef struct bench_ctx {
    const qtk_type_traits *tr;
    qtk_vec_dot_fn dot;
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
    c->tr->quantize(c->src + begin * c->cols, (uint8_t *)c->w + (size_t)begin * c->row_size, end - begin, c->cols,
                    c->imatrix);
}

static void dot_range(void *p, int64_t begin, int64_t end, int ti) {
    bench_ctx *c = (bench_ctx *)p;
    (void)ti;
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

static double seconds_of_quantize(const qtk_type_traits *tr, const float *x, void *q, int64_t rows, int64_t cols,
                                  const float *imatrix, double min_seconds, int64_t *weights_done) {
    int iters = 0;
    double t0 = qtk_time_now(), t;
    do {
        tr->quantize(x, q, rows, cols, imatrix);
        iters++;
        t = qtk_time_now() - t0;
    } while (t < min_seconds);
    *weights_done = (int64_t)iters * rows * cols;
    return t;
}

int cmd_bench(int argc, char **argv) {
    int types[128], ntypes = 0, nthreads = qtk_cpu_count();
    int64_t rows = 4096, cols = 4096;
    double min_seconds = 0.5;
    if (argc < 2 || strcmp(argv[1], "types") != 0) {
        if (argc >= 2 && cli_is_help(argv[1])) {
            help_bench(stdout);
            return 0;
        }
        return cli_usage_error("bench", help_bench, "expected a benchmark name: types");
    }
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
        } else if (!strcmp(a, "--seconds") && i + 1 < argc) {
            min_seconds = atof(argv[++i]);
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

    const int64_t qrows = rows < 64 ? rows : 64; /* rows used for quantize timing */
    float *x = (float *)malloc((size_t)(rows * cols) * sizeof(float));
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
    fill_weights(x, rows, cols, imatrix);
    for (int64_t j = 0; j < cols; j++) act[j] = x[j] * 3.0f + 0.001f * (float)(j % 13);

    const qtk_cpu_features *f = qtk_cpu();
    fprintf(stdout, "qtk bench types: %lld x %lld matrix, %d threads, CPU:%s%s%s%s%s\n", (long long)rows,
            (long long)cols, nthreads, f->avx2 ? " avx2" : "", f->avx512f ? " avx512" : "",
            f->avx512vnni ? " vnni" : "", f->neon ? " neon" : "", f->neon_dotprod ? " dotprod" : "");
    fflush(stdout);
    double bw1 = read_bandwidth(1, min_seconds), bwn = read_bandwidth(nthreads, min_seconds);
    fprintf(stdout, "memory read bandwidth: %.2f GB/s (1 thread), %.2f GB/s (%d threads)\n\n", bw1, bwn, nthreads);
    fprintf(stdout, "%-9s %7s %8s %8s %9s %9s %9s %6s %6s  %s\n", "type", "bpw", "q M/s", "qi M/s", "deq GB/s",
            "dot1 GB/s", "dotN GB/s", "/bw1", "/bwN", "kernel");
    for (int k = 0; k < ntypes; k++) {
        const qtk_type_traits *tr = qtk_type_get(types[k]);
        size_t rs = qtk_row_size(types[k], cols);
        int64_t done = 0;
        double qs = 0, qis = 0;
        if (!tr->requires_imatrix) {
            double t = seconds_of_quantize(tr, x, qbuf, qrows, cols, NULL, min_seconds, &done);
            qs = (double)done / t / 1e6;
        }
        double t = seconds_of_quantize(tr, x, qbuf, qrows, cols, imatrix, min_seconds, &done);
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
        qtk_parallel_for(nthreads, rows, quantize_range, &qc);
        qtk_vec_dot_fn dot = qtk_vec_dot_best(types[k]);
        const qtk_type_traits *at = qtk_type_get(tr->vec_dot_type);
        double d1 = 0, dn = 0;
        const char *kernel = "-";
        if (dot && at && at->from_float) {
            at->from_float(act, abuf, cols);
            bench_ctx c = {.tr = tr, .dot = dot, .w = (const uint8_t *)qbuf, .act = abuf, .row_size = rs,
                           .cols = cols, .out = out};
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
                if (tr->vec_dot[isa] == dot) kernel = qtk_isa_name((qtk_isa)isa);
        }
        fprintf(stdout, "%-9s %7.4f %8.2f %8.2f %9.2f %9.2f %9.2f %6.2f %6.2f  %s\n", tr->name, qtk_type_bpw(types[k]),
                qs, qis, deq_gbs, d1, dn, bw1 > 0 ? d1 / bw1 : 0, bwn > 0 ? dn / bwn : 0, kernel);
        fflush(stdout);
    }
    free(x);
    free(imatrix);
    free(act);
    free(deq);
    free(out);
    qtk_free_aligned(qbuf);
    qtk_free_aligned(abuf);
    return 0;
}
