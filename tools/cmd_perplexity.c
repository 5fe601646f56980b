/*
 * cmd_perplexity.c — `qtk perplexity`: llama-perplexity's options and
 * output (running "[i]ppl" values, "Final estimate: PPL = X +/- Y", and
 * the KL-divergence report with the same labels), thin over libqtk.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

void help_perplexity(FILE *out) {
    fprintf(out,
            "usage: qtk perplexity -m MODEL -f TEXT [-c 512] [-b N] [-t N] [--chunks N] [-ctk T] [-ctv T]\n"
            "                      [--kl-divergence-base FILE [--kl-divergence] [--kld-format llama|qtk]]\n\n"
            "Perplexity of MODEL on TEXT with llama-perplexity's method: the text is tokenized\n"
            "(BOS first), cut into chunks of -c tokens whose first token becomes BOS, and only\n"
            "the second half of each chunk is scored.\n\n"
            "options:\n"
            "  -m, --model FILE       GGUF model (architectures: see README.md)\n"
            "  -f, --file FILE        text to evaluate (not needed with --kl-divergence)\n"
            "  -c, --ctx-size N       tokens per chunk (default 512)\n"
            "  -b, --batch-size N     tokens per forward pass (default: the chunk size)\n"
            "  -t, --threads N        threads (default: all CPUs)\n"
            CLI_CACHE_TYPE_HELP
            CLI_MMAP_HELP
            "  --chunks N             evaluate at most N chunks (-1: all, the default)\n"
            "  --kl-divergence-base FILE\n"
            "                         without --kl-divergence: write the model's per-token\n"
            "                         log-probabilities to FILE (docs/kld-format.md)\n"
            "  --kld-format llama|qtk format of the base file written: llama (default) is\n"
            "                         llama-perplexity's, 16 bits per entry; qtk is qtk's own,\n"
            "                         24 bits per entry, exact nll. Reading detects the format\n"
            "  --kl-divergence        compare the model with the base FILE: PPL ratio, KLD\n"
            "                         statistics, token probability differences, same top token\n"
            "  -h, --help             show this help\n");
}

typedef struct ppl_cli {
    bool kld;
    int64_t n_ctx;
} ppl_cli;

static void progress(void *user, const qtk_ppl_stats *s) {
    const ppl_cli *c = (const ppl_cli *)user;
    if (s->chunk == 1) {
        double eta = s->seconds_first_chunk * (double)s->n_chunks;
        fprintf(stderr, "perplexity: %.2f seconds per pass - ETA %.2f minutes\n", s->seconds_first_chunk, eta / 60.0);
        if (c->kld)
            printf("\nchunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
                   "\xce\x94p RMS            Same top p\n");
    }
    if (!c->kld) {
        printf("[%lld]%.4f,", (long long)s->chunk, s->ppl);
    } else {
        printf("%4lld", (long long)s->chunk);
        printf("    %9.4f \xc2\xb1 %9.4f", s->ppl, s->ppl_unc);
        printf("    %10.5f \xc2\xb1 %10.5f", s->log_ppl_ratio, s->log_ppl_ratio_unc);
        printf("    %10.5f \xc2\xb1 %10.5f", s->kld, s->kld_unc);
        printf("    %6.3f \xc2\xb1 %6.3f %%", 100.0 * s->dp_rms, 100.0 * s->dp_rms_unc);
        printf("    %6.3f \xc2\xb1 %6.3f %%\n", 100.0 * s->same_top, 100.0 * s->same_top_unc);
    }
    fflush(stdout);
}

/* The final report of a --kl-divergence run, with llama-perplexity's labels. */
static void print_kld_report(const qtk_ppl_stats *s) {
    const char *pm = "\xc2\xb1", *dp = "\xce\x94p";
    printf("====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f %s %10.6f\n", s->ppl, pm, s->ppl_unc);
    printf("Mean PPL(base)                : %10.6f %s %10.6f\n", s->ppl_base, pm, s->ppl_base_unc);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s->log_ppl_cor);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f %s %10.6f\n", s->log_ppl_ratio, pm, s->log_ppl_ratio_unc);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f %s %10.6f\n", s->ppl_ratio, pm, s->ppl_ratio_unc);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f %s %10.6f\n", s->ppl_diff, pm, s->ppl_diff_unc);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f %s %10.6f\n", s->kld, pm, s->kld_unc);
    printf("Maximum KLD: %10.6f\n", s->kld_max);
    printf("99.9%%   KLD: %10.6f\n", s->kld_999);
    printf("99.0%%   KLD: %10.6f\n", s->kld_99);
    printf("95.0%%   KLD: %10.6f\n", s->kld_95);
    printf("90.0%%   KLD: %10.6f\n", s->kld_90);
    printf("Median  KLD: %10.6f\n", s->kld_median);
    printf("10.0%%   KLD: %10.6f\n", s->kld_10);
    printf(" 5.0%%   KLD: %10.6f\n", s->kld_05);
    printf(" 1.0%%   KLD: %10.6f\n", s->kld_01);
    printf(" 0.1%%   KLD: %10.6f\n", s->kld_001);
    printf("Minimum KLD: %10.6f\n", s->kld_min);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    %s: %6.3f %s %5.3f %%\n", dp, 100.0 * s->dp_mean, pm, 100.0 * s->dp_mean_unc);
    printf("Maximum %s: %6.3f%%\n", dp, 100.0 * s->dp_max);
    printf("99.9%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_999);
    printf("99.0%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_99);
    printf("95.0%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_95);
    printf("90.0%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_90);
    printf("75.0%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_75);
    printf("Median  %s: %6.3f%%\n", dp, 100.0 * s->dp_median);
    printf("25.0%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_25);
    printf("10.0%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_10);
    printf(" 5.0%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_05);
    printf(" 1.0%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_01);
    printf(" 0.1%%   %s: %6.3f%%\n", dp, 100.0 * s->dp_001);
    printf("Minimum %s: %6.3f%%\n", dp, 100.0 * s->dp_min);
    printf("RMS %s    : %6.3f %s %5.3f %%\n", dp, 100.0 * s->dp_rms, pm, 100.0 * s->dp_rms_unc);
    printf("Same top p: %6.3f %s %5.3f %%\n", 100.0 * s->same_top, pm, 100.0 * s->same_top_unc);
}

/* Offset of the first byte that is not part of well-formed UTF-8 (overlong
 * forms, surrogates and code points above U+10FFFF included) or is NUL, or
 * -1 when the whole text is valid: a binary file (a GGUF given as -f) would
 * otherwise be scored as if it were text. */
static long long first_invalid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c == 0) return (long long)i;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return (long long)i;
        }
        if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return (long long)i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return (long long)i;
        i += len;
    }
    return -1;
}

/* Parses a positive integer option value; -1 on error. */
static int64_t parse_count(const char *s) {
    char *e;
    long long v = strtoll(s, &e, 10);
    return (*s && !*e && v > 0) ? (int64_t)v : -1;
}

int cmd_perplexity(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL;
    qtk_ppl_params p = {.n_ctx = 512, .n_batch = 0, .n_threads = qtk_cpu_count(), .n_chunks = -1};
    qtk_type type_k = QTK_TYPE_F16, type_v = QTK_TYPE_F16;
    qtk_load_mode load_mode = QTK_LOAD_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help_perplexity(stdout);
            return 0;
        }
        bool has_val = i + 1 < argc;
        const int ct = cli_parse_cache_type("perplexity", help_perplexity, argc, argv, &i, &type_k, &type_v);
        if (ct < 0) return 2;
        if (ct > 0 || cli_parse_mmap(a, &load_mode)) continue;
        if (!strcmp(a, "--kl-divergence")) {
            p.kld = true;
        } else if (!strcmp(a, "--kld-format") && has_val) {
            const char *fv = argv[++i];
            if (!strcmp(fv, "llama")) p.kld_format = QTK_KLD_FORMAT_LLAMA;
            else if (!strcmp(fv, "qtk")) p.kld_format = QTK_KLD_FORMAT_QTK;
            else
                return cli_usage_error("perplexity", help_perplexity, "--kld-format must be llama or qtk (not '%s')",
                                       fv);
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            model_path = argv[++i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) {
            text_path = argv[++i];
        } else if (!strcmp(a, "--kl-divergence-base") && has_val) {
            p.kld_base = argv[++i];
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--ctx-size") || !strcmp(a, "-b") || !strcmp(a, "--batch-size") ||
                    !strcmp(a, "-t") || !strcmp(a, "--threads") || !strcmp(a, "--chunks")) &&
                   has_val) {
            if (!strcmp(a, "--chunks") && !strcmp(argv[i + 1], "-1")) { /* llama-perplexity: -1 = all */
                p.n_chunks = -1;
                i++;
                continue;
            }
            int64_t v = parse_count(argv[++i]);
            if (v < 0)
                return cli_usage_error("perplexity", help_perplexity, "%s needs a positive integer%s", a,
                                       strcmp(a, "--chunks") ? "" : " or -1 (all)");
            if (a[1] == 'c' || !strcmp(a, "--ctx-size")) p.n_ctx = v;
            else if (a[1] == 'b' || !strcmp(a, "--batch-size")) p.n_batch = v;
            else if (a[1] == 't' || !strcmp(a, "--threads")) p.n_threads = (int)QTK_MIN(v, 256);
            else p.n_chunks = v;
        } else {
            return cli_usage_error("perplexity", help_perplexity, "unknown or incomplete option '%s'", a);
        }
    }
    if (!model_path) return cli_usage_error("perplexity", help_perplexity, "-m MODEL is required");
    p.kv_f32_k = type_k == QTK_TYPE_F32;
    p.kv_f32_v = type_v == QTK_TYPE_F32;
    if (p.kld && !p.kld_base)
        return cli_usage_error("perplexity", help_perplexity, "--kl-divergence needs --kl-divergence-base FILE");
    if (!p.kld && !text_path) return cli_usage_error("perplexity", help_perplexity, "-f TEXT is required");
    if (p.n_ctx < 4) return cli_usage_error("perplexity", help_perplexity, "-c must be at least 4");
    if (!p.kld && (cli_refuse_same_file("perplexity", p.kld_base, model_path) ||
                   cli_refuse_same_file("perplexity", p.kld_base, text_path)))
        return 2; /* the base file is written: never over the model or the text */

    qtk_error err;
    qtk_model *m = NULL;
    qtk_vocab *v = NULL;
    int32_t *tokens = NULL;
    int64_t n_tokens = 0;
    int rc = 1;
    if (qtk_model_load_ex(model_path, load_mode, &m, &err) != QTK_OK) return cli_fail("perplexity", &err);
    const qtk_model_info *in = qtk_model_get_info(m);
    fprintf(stderr, "perplexity: model %s: %s, %lld layers, n_embd %lld, n_vocab %lld, %.2f M parameters\n",
            model_path, in->arch, (long long)in->n_layer, (long long)in->n_embd, (long long)in->n_vocab,
            (double)in->n_params / 1e6);
    if (!p.kld) {
        if (qtk_vocab_load(qtk_model_gguf(m), &v, &err) != QTK_OK) goto fail;
        size_t size = 0;
        char *text = cli_read_text_file(text_path, &size, &err);
        if (!text) goto fail;
        long long bad = first_invalid_utf8((const unsigned char *)text, size);
        if (bad >= 0)
            fprintf(stderr,
                    "perplexity: warning: %s is not valid UTF-8 text (byte 0x%02X at offset %lld): a binary "
                    "file? The perplexity of such input means little\n",
                    text_path, (unsigned)(unsigned char)text[bad], bad);
        fprintf(stderr, "perplexity: tokenizing the input ..\n");
        double t0 = qtk_time_now();
        qtk_status st = qtk_tokenize(v, text, size, true, &tokens, &n_tokens, &err);
        free(text);
        if (st != QTK_OK) goto fail;
        fprintf(stderr, "perplexity: tokenization took %g ms\n", 1e3 * (qtk_time_now() - t0));
        int64_t n_chunk = n_tokens / p.n_ctx;
        if (p.n_chunks > 0 && p.n_chunks < n_chunk) n_chunk = p.n_chunks;
        if (p.n_ctx > in->n_ctx_train)
            fprintf(stderr, "perplexity: warning: model was trained on only %lld context tokens (%lld specified)\n",
                    (long long)in->n_ctx_train, (long long)p.n_ctx);
        fprintf(stderr, "perplexity: calculating perplexity over %lld chunks, n_ctx=%lld, batch_size=%lld, n_seq=1\n",
                (long long)n_chunk, (long long)p.n_ctx, (long long)(p.n_batch > 0 ? QTK_MIN(p.n_batch, p.n_ctx) : p.n_ctx));
        if (p.kld_base)
            fprintf(stderr, "perplexity: saving all log-probabilities to %s (%s format)\n", p.kld_base,
                    p.kld_format == QTK_KLD_FORMAT_QTK ? "qtk" : "llama.cpp");
    } else {
        /* the tokens come from the base file; BOS handling from the model's metadata */
        if (text_path) fprintf(stderr, "perplexity: --kl-divergence evaluates the tokens stored in the base file; -f ignored\n");
        qtk_kld_base_info bi;
        if (qtk_kld_base_read_info(p.kld_base, false, &bi, &err) != QTK_OK) goto fail;
        fprintf(stderr, "perplexity: base file %s: %s format, %lld chunks of %lld tokens, n_vocab %lld\n", p.kld_base,
                bi.format == QTK_KLD_FORMAT_QTK ? "qtk" : "llama.cpp", (long long)bi.n_chunk, (long long)bi.n_ctx,
                (long long)bi.n_vocab);
        qtk_vocab_load(qtk_model_gguf(m), &v, &err);  /* optional: NULL falls back to metadata */
    }
    ppl_cli c = {.kld = p.kld, .n_ctx = p.n_ctx};
    qtk_ppl_stats s;
    double t0 = qtk_time_now();
    if (qtk_perplexity(m, v, tokens, n_tokens, &p, progress, &c, &s, &err) != QTK_OK) {
        printf("\n");
        goto fail;
    }
    printf("\n");
    if (!p.kld) {
        printf("Final estimate: PPL = %.4f +/- %.5f\n", s.ppl, s.ppl_unc);
    } else if (s.n_scored >= 100) {
        printf("\n");
        print_kld_report(&s);
    }
    printf("\nperplexity: prompt processing %.2f tokens/s (%lld chunks, %d threads, %.2f s total)\n",
           s.tokens_per_second, (long long)s.n_chunks, p.n_threads, qtk_time_now() - t0);
    rc = 0;
    goto done;
fail:
    rc = cli_fail("perplexity", &err);
done:
    free(tokens);
    qtk_vocab_free(v);
    qtk_model_free(m);
    return rc;
}
