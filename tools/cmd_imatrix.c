/*
 * cmd_imatrix.c — `qtk imatrix`: llama-imatrix's options and output (the
 * running "[i]ppl" values, "Final estimate: PPL = X +/- Y", periodic saves,
 * --in-file combination), thin over libqtk (qtk_imatrix_collect and the
 * accumulator's writers, which write atomically).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

void help_imatrix(FILE *out) {
    fprintf(out,
            "usage: qtk imatrix -m MODEL -f TEXT [-o imatrix.dat|imatrix.gguf] [-c 512] [--chunks N]\n"
            "                   [-t N] [-tb N] [--process-output] [--no-ppl] [--output-frequency N]\n"
            "                   [--save-frequency N] [--in-file F ...]\n"
            "       qtk imatrix --in-file F [--in-file F ...] [-o OUT]      (combine files only)\n\n"
            "Computes an importance matrix as llama-imatrix does: the text is tokenized (BOS\n"
            "first) and cut into chunks of -c tokens whose first token becomes BOS; for every\n"
            "matrix product with a weight named blk.* the sum of squared input activations per\n"
            "column and the number of tokens are collected (MoE expert tensors per expert).\n"
            "The output is written to a temp file and renamed when complete.\n\n"
            "options:\n"
            "  -m, --model FILE         GGUF model (architectures of qtk perplexity)\n"
            "  -f, --file FILE          calibration text\n"
            "  -o, --output FILE        output (default imatrix.dat); a name ending in .gguf is\n"
            "                           written in the GGUF imatrix format, any other in the\n"
            "                           legacy .dat format (docs/imatrix.md)\n"
            "  --output-format dat|gguf force the output format whatever the name\n"
            "  -c, --ctx-size N         tokens per chunk (default 512)\n"
            "  -b, --batch-size N       tokens per forward call (default min(512, -c))\n"
            "  --chunks N               process at most N chunks (-1: all, the default)\n"
            "  --chunk, --from-chunk N  skip the first N chunks of the text\n"
            "  -t, --threads N          threads (default: all CPUs)\n"
            "  -tb, --threads-batch N   threads for batches (default: -t)\n"
            "  --process-output         collect output.weight too (left out by default)\n"
            "  --mmap / --no-mmap       keep the weights in a mapping of the file / read them into\n"
            "                           memory (default: read on huge pages when they exist and the\n"
            "                           model fits in free memory; else mapped)\n"
            "  --no-ppl                 do not compute the running perplexity\n"
            "  --double-sums            accumulate in double instead of float as llama-imatrix does\n"
            "                           (more exact; the files then differ from llama-imatrix's by its\n"
            "                           float rounding, ~1e-4 relative over 35k tokens)\n"
            "  --output-frequency N     save the output every N chunks (default 10)\n"
            "  --save-frequency N       also save a copy OUT.at_K every N chunks (default 0: never)\n"
            "  --in-file FILE           add an existing imatrix (either format), weighted by its\n"
            "                           counts (repeatable); without -m/-f the files are only\n"
            "                           combined into the output. A legacy file counts ncall x -c\n"
            "                           tokens per entry\n"
            "  -h, --help               show this help\n");
}

#define MAX_IN_FILES 256

typedef struct imx_cli {
    const char *out;
    bool gguf;
    int64_t out_freq, save_freq;
    qtk_imatrix_acc *acc;
} imx_cli;

static qtk_status save(const imx_cli *c, const char *path, qtk_error *err) {
    return c->gguf ? qtk_imatrix_save_gguf(path, c->acc, err) : qtk_imatrix_save_dat(path, c->acc, err);
}

/* Parses a non-negative integer; -1 on error. */
static int64_t parse_nonneg(const char *s) {
    char *e;
    long long v = strtoll(s, &e, 10);
    return (*s && !*e && v >= 0) ? (int64_t)v : -1;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static qtk_status progress(void *user, const qtk_imatrix_progress *p, qtk_error *err) {
    const imx_cli *c = (const imx_cli *)user;
    if (p->chunk == 1) {
        fprintf(stderr, "imatrix: %.2f seconds per pass - ETA ", p->seconds_first_chunk);
        long long total = (long long)(p->seconds_first_chunk * (double)p->n_chunks);
        if (total >= 3600) {
            fprintf(stderr, "%lld hours ", total / 3600);
            total %= 3600;
        }
        fprintf(stderr, "%.2f minutes\n", (double)total / 60.0);
    }
    if (p->has_ppl) {
        printf("[%lld]%.4f,", (long long)p->chunk, p->ppl);
        fflush(stdout);
    }
    const int64_t done = qtk_imatrix_acc_chunks(c->acc);
    /* (after the last chunk the final save follows) */
    if (c->out_freq > 0 && p->chunk % c->out_freq == 0 && p->chunk < p->n_chunks) {
        qtk_status st = save(c, c->out, err);
        if (st != QTK_OK) return st;
        double left = p->seconds / (double)p->chunk * (double)(p->n_chunks - p->chunk);
        fprintf(stderr, "\nimatrix: stored collected data after %lld chunks in %s (%lld of %lld done, %.2f minutes left)\n",
                (long long)done, c->out, (long long)p->chunk, (long long)p->n_chunks, left / 60.0);
    }
    if (c->save_freq > 0 && p->chunk % c->save_freq == 0) {
        size_t n = strlen(c->out) + 32;
        char *name = (char *)malloc(n);
        if (!name) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        snprintf(name, n, "%s.at_%lld", c->out, (long long)done);
        qtk_status st = save(c, name, err);
        if (st == QTK_OK) fprintf(stderr, "\nimatrix: stored collected data after %lld chunks in %s\n", (long long)done, name);
        free(name);
        if (st != QTK_OK) return st;
    }
    return QTK_OK;
}

int cmd_imatrix(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL, *out = NULL, *format = NULL;
    const char *in_files[MAX_IN_FILES];
    int n_in = 0;
    bool ctx_given = false, double_sums = false;
    qtk_load_mode load_mode = QTK_LOAD_AUTO;
    qtk_imatrix_params p;
    qtk_imatrix_params_default(&p);
    p.n_threads = qtk_cpu_count();
    int64_t out_freq = 10, save_freq = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help_imatrix(stdout);
            return 0;
        }
        const bool has_val = i + 1 < argc;
        if (cli_parse_mmap(a, &load_mode)) continue;
        if (!strcmp(a, "--process-output")) {
            p.process_output = true;
        } else if (!strcmp(a, "--no-ppl")) {
            p.compute_ppl = false;
        } else if (!strcmp(a, "--double-sums")) {
            double_sums = true;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            model_path = argv[++i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) {
            text_path = argv[++i];
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--output-file")) && has_val) {
            out = argv[++i];
        } else if (!strcmp(a, "--output-format") && has_val) {
            format = argv[++i];
            if (strcmp(format, "dat") != 0 && strcmp(format, "gguf") != 0)
                return cli_usage_error("imatrix", help_imatrix, "--output-format must be dat or gguf, not '%s'", format);
        } else if (!strcmp(a, "--in-file") && has_val) {
            if (n_in == MAX_IN_FILES)
                return cli_usage_error("imatrix", help_imatrix, "at most %d --in-file options", MAX_IN_FILES);
            in_files[n_in++] = argv[++i];
        } else if (!strcmp(a, "--chunks") && has_val && !strcmp(argv[i + 1], "-1")) {
            p.n_chunks = -1; /* llama-imatrix: -1 = all */
            i++;
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--ctx-size") || !strcmp(a, "-b") || !strcmp(a, "--batch-size") ||
                    !strcmp(a, "-t") || !strcmp(a, "--threads") || !strcmp(a, "-tb") ||
                    !strcmp(a, "--threads-batch") || !strcmp(a, "--chunks") || !strcmp(a, "--chunk") ||
                    !strcmp(a, "--from-chunk") || !strcmp(a, "--output-frequency") ||
                    !strcmp(a, "--save-frequency")) &&
                   has_val) {
            const bool zero_ok = !strcmp(a, "--save-frequency") || !strcmp(a, "--chunk") || !strcmp(a, "--from-chunk");
            int64_t v = parse_nonneg(argv[++i]);
            if (v < 0 || (v == 0 && !zero_ok))
                return cli_usage_error("imatrix", help_imatrix, "%s needs a %s integer, not '%s'", a,
                                       zero_ok ? "non-negative" : "positive", argv[i]);
            if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
                p.n_ctx = v;
                ctx_given = true;
            } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
                p.n_batch = v;
            } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
                p.n_threads = (int)QTK_MIN(v, 256);
            } else if (!strcmp(a, "-tb") || !strcmp(a, "--threads-batch")) {
                p.n_threads_batch = (int)QTK_MIN(v, 256);
            } else if (!strcmp(a, "--chunks")) {
                p.n_chunks = v;
            } else if (!strcmp(a, "--chunk") || !strcmp(a, "--from-chunk")) {
                p.first_chunk = v;
            } else if (!strcmp(a, "--output-frequency")) {
                out_freq = v;
            } else {
                save_freq = v;
            }
        } else {
            return cli_usage_error("imatrix", help_imatrix, "unknown or incomplete option '%s'", a);
        }
    }
    const bool collect = model_path || text_path;
    if (!collect && n_in == 0)
        return cli_usage_error("imatrix", help_imatrix, "-m MODEL and -f TEXT are required (or --in-file FILE to combine)");
    if (collect && !model_path) return cli_usage_error("imatrix", help_imatrix, "-m MODEL is required with -f");
    if (collect && !text_path) return cli_usage_error("imatrix", help_imatrix, "-f TEXT is required with -m");
    if (p.n_ctx < 4) return cli_usage_error("imatrix", help_imatrix, "-c must be at least 4");
    if (!out) out = "imatrix.dat";
    const bool gguf = format ? !strcmp(format, "gguf") : ends_with(out, ".gguf");
    if (format && gguf != ends_with(out, ".gguf"))
        fprintf(stderr, "qtk imatrix: warning: writing the %s format to %s (name ends %s)\n", gguf ? "GGUF" : "legacy .dat",
                out, gguf ? "differently from .gguf" : "in .gguf");
    /* the output is written: never over the model, the text or an input imatrix */
    if (cli_refuse_same_file("imatrix", out, model_path) || cli_refuse_same_file("imatrix", out, text_path)) return 2;
    for (int k = 0; k < n_in; k++)
        if (cli_refuse_same_file("imatrix", out, in_files[k])) return 2;

    qtk_error err;
    qtk_model *m = NULL;
    qtk_vocab *v = NULL;
    int32_t *tokens = NULL;
    int64_t n_tokens = 0;
    qtk_imatrix_acc *acc = NULL;
    int rc = 1;
    const double t_start = qtk_time_now();
    if (qtk_imatrix_acc_create(&acc, &err) != QTK_OK) return cli_fail("imatrix", &err);
    qtk_imatrix_acc_set_f32_sums(acc, !double_sums);
    if (collect) {
        if (qtk_model_load_ex(model_path, load_mode, &m, &err) != QTK_OK) goto fail;
        const qtk_model_info *in = qtk_model_get_info(m);
        fprintf(stderr, "imatrix: model %s: %s, %lld layers, n_embd %lld, n_vocab %lld, %.2f M parameters\n",
                model_path, in->arch, (long long)in->n_layer, (long long)in->n_embd, (long long)in->n_vocab,
                (double)in->n_params / 1e6);
        if (p.n_ctx > in->n_ctx_train)
            fprintf(stderr, "imatrix: warning: model was trained on only %lld context tokens (%lld specified)\n",
                    (long long)in->n_ctx_train, (long long)p.n_ctx);
    }
    /* legacy inputs record calls, not tokens: weighted as ncall chunks of -c tokens (llama.cpp's guess) */
    for (int k = 0; k < n_in; k++) {
        qtk_imatrix *im = NULL;
        fprintf(stderr, "imatrix: loading imatrix from '%s'\n", in_files[k]);
        if (qtk_imatrix_load(in_files[k], &im, &err) != QTK_OK) goto fail;
        qtk_status st = qtk_imatrix_acc_merge(acc, im, p.n_ctx, m ? qtk_model_gguf(m) : NULL, &err);
        if (st != QTK_OK) {
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "%s", err.msg);
            qtk_set_error(&err, st, "%s: %s", in_files[k], msg);
        }
        fprintf(stderr, "imatrix: %lld entries, %lld chunks (%s format)\n", (long long)qtk_imatrix_count(im),
                (long long)qtk_imatrix_chunks(im), qtk_imatrix_get_format(im) == QTK_IMATRIX_GGUF ? "GGUF" : "legacy");
        qtk_imatrix_free(im);
        if (st != QTK_OK) goto fail;
    }
    if (!collect && ctx_given && qtk_imatrix_acc_set_chunks(acc, qtk_imatrix_acc_chunks(acc), p.n_ctx, &err) != QTK_OK)
        goto fail;
    qtk_imatrix_progress res;
    memset(&res, 0, sizeof res);
    if (collect) {
        if (qtk_vocab_load(qtk_model_gguf(m), &v, &err) != QTK_OK) goto fail;
        size_t size = 0;
        char *text = cli_read_text_file(text_path, &size, &err);
        if (!text) goto fail;
        fprintf(stderr, "imatrix: tokenizing the input ..\n");
        double t0 = qtk_time_now();
        qtk_status st = qtk_tokenize(v, text, size, true, &tokens, &n_tokens, &err);
        free(text);
        if (st != QTK_OK) goto fail;
        fprintf(stderr, "imatrix: tokenization took %g ms\n", 1e3 * (qtk_time_now() - t0));
        int64_t left = n_tokens - p.first_chunk * p.n_ctx, n_chunk = left > 0 ? left / p.n_ctx : 0;
        if (p.n_chunks >= 0 && p.n_chunks < n_chunk) n_chunk = p.n_chunks;
        if (p.first_chunk > 0 && left > 0)
            fprintf(stderr, "imatrix: removing initial %lld chunks (%lld tokens)\n", (long long)p.first_chunk,
                    (long long)(p.first_chunk * p.n_ctx));
        fprintf(stderr, "imatrix: computing over %lld chunks with batch_size %lld, %d threads\n", (long long)n_chunk,
                (long long)(p.n_batch > 0 ? QTK_MIN(p.n_batch, p.n_ctx) : QTK_MIN(p.n_ctx, 512)), p.n_threads);
        const int64_t batch = p.n_batch > 0 ? QTK_MIN(p.n_batch, p.n_ctx) : QTK_MIN(p.n_ctx, 512);
        if (batch < 16)
            fprintf(stderr, "imatrix: warning: forward calls of %lld tokens: products of fewer than 16 tokens are "
                    "ignored (as llama-imatrix does), so only MoE experts are collected\n", (long long)batch);
        if (qtk_imatrix_acc_add_dataset(acc, text_path, &err) != QTK_OK) goto fail;
        imx_cli c = {.out = out, .gguf = gguf, .out_freq = out_freq, .save_freq = save_freq, .acc = acc};
        st = qtk_imatrix_collect(m, v, tokens, n_tokens, &p, acc, progress, &c, &res, &err);
        printf("\n");
        if (st != QTK_OK) goto fail;
        if (p.compute_ppl) {
            /* llama-imatrix's final line */
            if (res.ppl_unc > 0) printf("Final estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_unc);
            else printf("Unexpected negative standard deviation of log(prob)\n");
        }
        fflush(stdout);
    }
    {
        imx_cli c = {.out = out, .gguf = gguf, .acc = acc};
        if (save(&c, out, &err) != QTK_OK) goto fail;
    }
    {
        int64_t entries = 0;
        qtk_imatrix *chk = NULL; /* count what was written: tensors that got data */
        if (qtk_imatrix_load(out, &chk, &err) == QTK_OK) entries = qtk_imatrix_count(chk);
        qtk_imatrix_free(chk);
        fprintf(stderr, "\nimatrix: stored %lld entries (%lld chunks of %lld tokens) in %s (%s format)\n",
                (long long)entries, (long long)qtk_imatrix_acc_chunks(acc), (long long)qtk_imatrix_acc_chunk_size(acc),
                out, gguf ? "GGUF" : "legacy .dat");
        if (collect)
            fprintf(stderr, "imatrix: %lld chunks, %lld tokens in %.2f s (%.2f tokens/s, %d threads); %.2f s in all\n",
                    (long long)res.chunk, (long long)res.n_tokens, res.seconds,
                    res.seconds > 0 ? (double)res.n_tokens / res.seconds : 0.0, p.n_threads, qtk_time_now() - t_start);
    }
    rc = 0;
    goto done;
fail:
    rc = cli_fail("imatrix", &err);
done:
    free(tokens);
    qtk_vocab_free(v);
    qtk_model_free(m);
    qtk_imatrix_acc_free(acc);
    return rc;
}
