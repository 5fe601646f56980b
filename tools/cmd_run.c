/*
 * cmd_run.c — `qtk run`: generate text with a model, llama-cli style. The
 * prompt is tokenized (BOS as the vocabulary says), decoded as one batch,
 * then tokens are sampled one at a time (greedy at --temp 0; otherwise
 * top-k, top-p, temperature and a draw from a seeded RNG, in llama.cpp's
 * sampler order) and streamed to stdout as they come. Timings go to stderr
 * at the end in llama-cli's format. Only the public API of libqtk is used.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void help_run(FILE *out) {
    fprintf(out,
            "usage: qtk run -m MODEL.gguf (-p PROMPT | -f FILE) [-n N] [--temp T] [--top-k K]\n"
            "               [--top-p P] [--seed S] [-t N] [-tb N] [-c CTX] [-ctk T] [-ctv T]\n"
            "               [--no-display-prompt]\n\n"
            "Generates text with MODEL (llama-cli style): the prompt is tokenized (BOS first\n"
            "when the vocabulary adds one; control tokens written in it are parsed), decoded\n"
            "as one batch, then tokens are sampled one at a time and printed as they come.\n"
            "Generation stops at the end-of-sequence token, after N tokens, or when the\n"
            "context is full. Prompt and generation speed are printed to stderr at the end.\n\n"
            "options:\n"
            "  -m, --model FILE        GGUF model with a tokenizer vocabulary\n"
            "  -p, --prompt TEXT       prompt text\n"
            "  -f, --file FILE         read the prompt from FILE\n"
            "  -n, --n-predict N       tokens to generate (default 128; -1 = until EOS or\n"
            "                          the context is full)\n"
            "  --temp T                temperature (default 0.8); 0 = greedy (argmax)\n"
            "  --top-k K               keep the K most likely tokens (default 40; 0 = all)\n"
            "  --top-p P               then keep the smallest set with probability >= P\n"
            "                          (default 0.95; 1.0 = off)\n"
            "  -s, --seed S            seed of the sampler's RNG (default: from the clock)\n"
            "  -t, --threads N         threads for generation (default: all CPUs)\n"
            "  -tb, --threads-batch N  threads for the prompt batch (default: same as -t)\n"
            CLI_CACHE_TYPE_HELP
            CLI_MMAP_HELP
            "  -c, --ctx-size N        context size in tokens (default: the model's training\n"
            "                          context, at most 4096)\n"
            "  --no-display-prompt     do not print the prompt before the generated text\n"
            "  -h, --help              show this help\n\n"
            "Sampling at temp > 0 follows llama.cpp's chain: top-k, top-p (softmax at\n"
            "temperature 1), temperature, then a draw from the softmax. The same seed, model\n"
            "and options give the same text.\n");
}

/* Strict integer parse of s into [lo, hi]. */
static bool parse_ll(const char *s, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Strict float parse of s into [lo, hi]. */
static bool parse_double(const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

/* ---- sampler --------------------------------------------------------------- */

typedef struct sampler {
    int64_t n_vocab;
    double temp, top_p;
    int top_k;
    uint64_t rng;
    int32_t *ids;   /* candidates (n_vocab) */
    double *p;      /* their probabilities  */
} sampler;

/* xorshift64* on a splitmix64-scrambled seed: uniform double in [0, 1). */
static double rng_uniform(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t rng_seed(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 0x2545F4914F6CDD1DULL;
}

/* a ranks before b: larger logit, then smaller id. */
static bool ranks_before(const float *logits, int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
}

static const float *g_sort_logits;
static int cmp_rank(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    if (ranks_before(g_sort_logits, a, b)) return -1;
    if (ranks_before(g_sort_logits, b, a)) return 1;
    return 0;
}

/* The next token from logits[0..n_vocab). */
static int32_t sample_token(sampler *s, const float *logits) {
    const int64_t nv = s->n_vocab;
    if (s->temp <= 0.0) {
        int32_t best = 0;
        for (int32_t i = 1; i < (int32_t)nv; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    /* top-k: the k best ids, sorted best first (k <= 0 or >= n_vocab: all) */
    int64_t n;
    if (s->top_k > 0 && s->top_k < nv) {
        n = 0;
        for (int32_t i = 0; i < (int32_t)nv; i++) {
            if (n == s->top_k && !ranks_before(logits, i, s->ids[n - 1])) continue;
            int64_t j = n < s->top_k ? n++ : n - 1;  /* drop the last when full */
            while (j > 0 && ranks_before(logits, i, s->ids[j - 1])) {
                s->ids[j] = s->ids[j - 1];
                j--;
            }
            s->ids[j] = i;
        }
    } else {
        n = nv;
        for (int32_t i = 0; i < (int32_t)nv; i++) s->ids[i] = i;
        g_sort_logits = logits;
        qsort(s->ids, (size_t)n, sizeof *s->ids, cmp_rank);
    }
    /* top-p on the softmax at temperature 1 (keep at least one) */
    if (s->top_p < 1.0) {
        const double mx = logits[s->ids[0]];
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += (s->p[i] = exp((double)logits[s->ids[i]] - mx));
        double cum = 0.0;
        int64_t keep = n;
        for (int64_t i = 0; i < n; i++) {
            cum += s->p[i] / sum;
            if (cum >= s->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    /* temperature, softmax, draw */
    const double mx = logits[s->ids[0]] / s->temp;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (s->p[i] = exp((double)logits[s->ids[i]] / s->temp - mx));
    double r = rng_uniform(&s->rng) * sum, acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        acc += s->p[i];
        if (r < acc) return s->ids[i];
    }
    return s->ids[n - 1];
}

/* ---- the command ------------------------------------------------------------- */

int cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL;
    long long n_predict = 128, top_k = 40, seed = -1, n_ctx = 0, n_threads = 0, n_threads_batch = 0;
    double temp = 0.8, top_p = 0.95;
    bool display_prompt = true;
    qtk_type type_k = QTK_TYPE_F16, type_v = QTK_TYPE_F16;
    qtk_load_mode load_mode = QTK_LOAD_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help_run(stdout);
            return 0;
        }
        const int ct = cli_parse_cache_type("run", help_run, argc, argv, &i, &type_k, &type_v);
        if (ct < 0) return 2;
        if (ct > 0 || cli_parse_mmap(a, &load_mode)) continue;
        const bool has_val = i + 1 < argc;
        const char *v = has_val ? argv[i + 1] : NULL;
        bool ok = true;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) model_path = v;
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_val) prompt = v;
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) prompt_file = v;
        else if ((!strcmp(a, "-n") || !strcmp(a, "--n-predict")) && has_val) ok = parse_ll(v, -1, 1LL << 40, &n_predict);
        else if (!strcmp(a, "--temp") && has_val) ok = parse_double(v, 0.0, 1e6, &temp);
        else if (!strcmp(a, "--top-k") && has_val) ok = parse_ll(v, 0, 1LL << 31, &top_k);
        else if (!strcmp(a, "--top-p") && has_val) ok = parse_double(v, 0.0, 1.0, &top_p);
        else if ((!strcmp(a, "-s") || !strcmp(a, "--seed")) && has_val) ok = parse_ll(v, -1, 0xFFFFFFFFLL, &seed);
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) ok = parse_ll(v, 1, 256, &n_threads);
        else if ((!strcmp(a, "-tb") || !strcmp(a, "--threads-batch")) && has_val) ok = parse_ll(v, 1, 256, &n_threads_batch);
        else if ((!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) && has_val) ok = parse_ll(v, 0, 1LL << 24, &n_ctx);
        else if (!strcmp(a, "--no-display-prompt")) {
            display_prompt = false;
            continue;
        } else
            return cli_usage_error("run", help_run, "unknown or incomplete option '%s'", a);
        if (!ok) return cli_usage_error("run", help_run, "bad value '%s' for %s", v, a);
        i++;
    }
    if (!model_path) return cli_usage_error("run", help_run, "missing -m MODEL.gguf");
    if (!prompt == !prompt_file) return cli_usage_error("run", help_run, "give exactly one of -p PROMPT and -f FILE");
    if (n_threads == 0) n_threads = qtk_cpu_count();
    if (n_threads_batch == 0) n_threads_batch = n_threads;
    if (seed < 0) seed = (long long)((uint64_t)time(NULL) & 0xFFFFFFFFu);

    qtk_error err;
    char *text = NULL;
    size_t text_len = 0;
    if (prompt_file) {
        text = cli_read_text_file(prompt_file, &text_len, &err);
        if (!text) return cli_fail("run", &err);
    } else {
        text_len = strlen(prompt);
    }
    const char *ptext = text ? text : prompt;

    int rc = 1;
    qtk_model *m = NULL;
    qtk_vocab *voc = NULL;
    qtk_context *ctx = NULL;
    int32_t *toks = NULL;
    float *logits = NULL;
    sampler smp = {0};
    const double t_start = qtk_time_now();
    if (qtk_model_load_ex(model_path, load_mode, &m, &err) != QTK_OK) {
        cli_fail("run", &err);
        goto done;
    }
    const qtk_model_info *in = qtk_model_get_info(m);
    if (qtk_vocab_load(qtk_model_gguf(m), &voc, &err) != QTK_OK) {
        fprintf(stderr, "qtk run: error: %s: cannot generate text without a tokenizer vocabulary: %s\n", model_path,
                err.msg);
        goto done;
    }
    if (qtk_vocab_n_tokens(voc) != in->n_vocab) {
        fprintf(stderr, "qtk run: error: %s: the vocabulary has %ld tokens but the model's output has %lld rows\n",
                model_path, (long)qtk_vocab_n_tokens(voc), (long long)in->n_vocab);
        goto done;
    }
    if (n_ctx == 0) n_ctx = in->n_ctx_train > 0 && in->n_ctx_train < 4096 ? in->n_ctx_train : 4096;
    const int n_ctx_threads = (int)(n_threads > n_threads_batch ? n_threads : n_threads_batch);
    if (qtk_context_create(m, n_ctx, n_ctx_threads, &ctx, &err) != QTK_OK ||
        qtk_context_set_threads(ctx, (int)n_threads, (int)n_threads_batch, &err) != QTK_OK ||
        qtk_context_set_kv_type(ctx, type_k, type_v, &err) != QTK_OK) {
        cli_fail("run", &err);
        goto done;
    }
    const double t_load = qtk_time_now() - t_start;

    int64_t n_prompt = 0;
    if (qtk_tokenize_ex(voc, ptext, text_len, true, true, &toks, &n_prompt, &err) != QTK_OK) {
        cli_fail("run", &err);
        goto done;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "qtk run: error: the prompt is empty (no tokens, and the vocabulary adds no BOS)\n");
        goto done;
    }
    if (n_prompt > n_ctx) {
        fprintf(stderr, "qtk run: error: the prompt has %lld tokens, more than the context (-c %lld)\n",
                (long long)n_prompt, n_ctx);
        goto done;
    }
    logits = (float *)malloc((size_t)in->n_vocab * sizeof(float));
    smp.ids = (int32_t *)malloc((size_t)in->n_vocab * sizeof(int32_t));
    smp.p = (double *)malloc((size_t)in->n_vocab * sizeof(double));
    if (!logits || !smp.ids || !smp.p) {
        fprintf(stderr, "qtk run: error: out of memory\n");
        goto done;
    }
    smp.n_vocab = in->n_vocab;
    smp.temp = temp;
    smp.top_k = (int)top_k;
    smp.top_p = top_p;
    smp.rng = rng_seed((uint64_t)seed);

    fprintf(stderr,
            "qtk run: %s (%s, %.2f M params), n_ctx = %lld, threads = %lld / %lld (batch), prompt = %lld tokens, "
            "sampling: temp = %.3f, top_k = %lld, top_p = %.3f, seed = %lld\n",
            model_path, in->arch, (double)in->n_params / 1e6, n_ctx, n_threads, n_threads_batch, (long long)n_prompt,
            temp, top_k, top_p, seed);
    if (display_prompt) {
        fwrite(ptext, 1, text_len, stdout);
        fflush(stdout);
    }

    /* the prompt as one batch, logits of its last token */
    double t0 = qtk_time_now();
    if (qtk_decode(ctx, toks, n_prompt, n_prompt - 1, logits, &err) != QTK_OK) {
        fputc('\n', stdout);
        fflush(stdout);
        cli_fail("run", &err);
        goto done;
    }
    const double t_prompt = qtk_time_now() - t0;

    const int32_t eos = qtk_vocab_eos(voc);
    double t_eval = 0.0, t_sample = 0.0;
    long long n_gen = 0, n_eval = 0;
    bool ctx_full = false;
    char piece[256];
    while (n_predict < 0 || n_gen < n_predict) {
        t0 = qtk_time_now();
        int32_t tok = sample_token(&smp, logits);
        t_sample += qtk_time_now() - t0;
        n_gen++;
        if (tok == eos) break;
        size_t len = qtk_token_to_piece(voc, tok, false, piece, sizeof piece);
        fwrite(piece, 1, len < sizeof piece ? len : sizeof piece, stdout);
        fflush(stdout);
        if (n_predict >= 0 && n_gen >= n_predict) break;
        if (qtk_context_n_past(ctx) >= n_ctx) {
            ctx_full = true;
            break;
        }
        t0 = qtk_time_now();
        if (qtk_decode(ctx, &tok, 1, 0, logits, &err) != QTK_OK) {
            fputc('\n', stdout);
            fflush(stdout);
            cli_fail("run", &err);
            goto done;
        }
        t_eval += qtk_time_now() - t0;
        n_eval++;
    }
    fputc('\n', stdout);
    fflush(stdout);

    const double t_total = qtk_time_now() - t_start;
    fprintf(stderr, "\n");
    if (ctx_full) fprintf(stderr, "qtk run: stopped: the context is full (%lld tokens)\n", n_ctx);
    fprintf(stderr, "qtk run:        load time = %10.2f ms\n", t_load * 1e3);
    fprintf(stderr, "qtk run:    sampling time = %10.2f ms / %5lld runs   (%8.2f ms per token, %8.2f tokens per second)\n",
            t_sample * 1e3, n_gen, n_gen ? t_sample * 1e3 / (double)n_gen : 0.0,
            t_sample > 0 ? (double)n_gen / t_sample : 0.0);
    fprintf(stderr, "qtk run: prompt eval time = %10.2f ms / %5lld tokens (%8.2f ms per token, %8.2f tokens per second)\n",
            t_prompt * 1e3, (long long)n_prompt, t_prompt * 1e3 / (double)n_prompt,
            t_prompt > 0 ? (double)n_prompt / t_prompt : 0.0);
    fprintf(stderr, "qtk run:        eval time = %10.2f ms / %5lld runs   (%8.2f ms per token, %8.2f tokens per second)\n",
            t_eval * 1e3, n_eval, n_eval ? t_eval * 1e3 / (double)n_eval : 0.0,
            t_eval > 0 ? (double)n_eval / t_eval : 0.0);
    fprintf(stderr, "qtk run:       total time = %10.2f ms / %5lld tokens\n", t_total * 1e3,
            (long long)n_prompt + n_eval);
    rc = 0;
done:
    free(smp.ids);
    free(smp.p);
    free(logits);
    free(toks);
    qtk_context_free(ctx);
    qtk_vocab_free(voc);
    qtk_model_free(m);
    free(text);
    return rc;
}
