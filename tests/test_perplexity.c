/*
 * test_perplexity.c — perplexity and KL-divergence on the tiny-llama fixture.
 *  1. Accuracy: F32 model, eval.txt, n_ctx 256, the first 160 chunks: PPL
 *     equals the reference figure of ../shared/fixtures/REFERENCE.md for
 *     the same 160 chunks (72.0903, llama-perplexity) within 1e-4 (the
 *     reference's rounding plus 5e-5; see the check for the figures). (The
 *     full 481-chunk run, 72.6696 in SOURCES.md, takes 3x longer; set
 *     QTK_TEST_FULL_PPL=1 to run it instead.)
 *  2. KLD self-test: a qtk-format base file from the F32 model (the llama.cpp
 *     format: test_kld_format.c); the F32 model against
 *     it gives KLD exactly 0 and 100 % same top token; the F16 model gives
 *     a tiny KLD and >= 99 % same top token.
 *  3. A Q8_0 copy of the F32 model (written here) against the F32 base:
 *     small but nonzero KLD, same top token 97-100 %.
 *  4. The CLI prints llama-perplexity's labels ("Final estimate: PPL = ",
 *     "Mean    KLD:", "Same top p:", ...).
 */
#include "testlib.h"
#include "core/qtk_internal.h"

#include <math.h>

static int32_t *g_tokens;
static int64_t g_n;

/* Under sanitizers and emulators (QTK_TEST_QUICK=1, set by .ci/run) the
 * 160-chunk accuracy run would take ~10 minutes; there it runs 8 chunks for
 * memory-safety coverage only, and the accuracy check stays with the native
 * stage. */
static bool quick_mode(void) { return tl_quick(); }

static void test_accuracy(qtk_model *f32, const qtk_vocab *v) {
    const char *full = getenv("QTK_TEST_FULL_PPL");
    const bool all = full && full[0] == '1';
    if (quick_mode() && !all) {
        qtk_ppl_params q = {.n_ctx = 256, .n_batch = 256, .n_threads = 2, .n_chunks = 8, .kv_f32_k = true,
                            .kv_f32_v = true};
        qtk_ppl_stats qs;
        qtk_error qerr;
        CHECK(qtk_perplexity(f32, v, g_tokens, g_n, &q, NULL, NULL, &qs, &qerr) == QTK_OK, "perplexity: %s",
              qerr.msg);
        /* qtk's own figures (not a reference), F32 KV cache: 60.466576 on x86-64 (60.488844
         * without BOS at the chunk starts); margin 2e-4 for other kernels' summation orders */
        CHECK(qs.n_chunks == 8 && fabs(qs.ppl - 60.466576) <= 2e-4, "quick mode: 8 chunks, PPL %.6f (expected 60.466576)",
              qs.ppl);
        /* the default F16 cache: 60.466914 (keys and values rounded to F16) */
        q.kv_f32_k = q.kv_f32_v = false;
        CHECK(qtk_perplexity(f32, v, g_tokens, g_n, &q, NULL, NULL, &qs, &qerr) == QTK_OK, "perplexity: %s",
              qerr.msg);
        CHECK(qs.n_chunks == 8 && fabs(qs.ppl - 60.466914) <= 2e-4,
              "quick mode, F16 cache: 8 chunks, PPL %.6f (expected 60.466914)", qs.ppl);
        printf("  quick mode (QTK_TEST_QUICK=1): 8 chunks, PPL = %.6f; the reference check runs natively\n",
               qs.ppl);
        return;
    }
    qtk_ppl_params p = {.n_ctx = 256, .n_batch = 256, .n_threads = 2, .n_chunks = all ? -1 : 160};
    qtk_ppl_stats s;
    qtk_error err;
    double t0 = qtk_time_now();
    qtk_status st = qtk_perplexity(f32, v, g_tokens, g_n, &p, NULL, NULL, &s, &err);
    CHECK(st == QTK_OK, "perplexity: %s", err.msg);
    if (st != QTK_OK) return;
    const double want = all ? 72.6696 : 72.0903;
    CHECK(s.n_chunks == (all ? 481 : 160) && s.n_scored == s.n_chunks * 127, "chunks %lld, scored %lld",
          (long long)s.n_chunks, (long long)s.n_scored);
    /* The reference is printed with 4 decimals (rounding: +-5e-5). Achieved (x86-64, 160
     * chunks): 72.090261, 3.9e-5 from it. Tolerance 1e-4 = the rounding plus 5e-5 for
     * summation-order differences between kernels (1.4e-6 relative; the 1e-3 relative
     * tolerance used before let a perplexity loop without BOS at the chunk starts pass). */
    CHECK(fabs(s.ppl - want) <= 1e-4, "PPL %.6f, reference %.4f (%.6f off, tolerance 0.0001)", s.ppl, want,
          fabs(s.ppl - want));
    /* achieved 1.297170 (160 chunks; llama-perplexity's formula); margin 1e-4 */
    if (!all) CHECK(fabs(s.ppl_unc - 1.29717) <= 1e-4, "uncertainty %.6f, expected 1.29717", s.ppl_unc);
    printf("  F32 fixture, %lld chunks of 256: PPL = %.6f +/- %.6f (reference %.4f), %.0f tokens/s, %.1f s\n",
           (long long)s.n_chunks, s.ppl, s.ppl_unc, want, s.tokens_per_second, qtk_time_now() - t0);
}

static void test_kld(qtk_model *f32, qtk_model *f16, const qtk_vocab *v) {
    char *base = tl_tmp_path("test_perplexity_base.kld");
    qtk_ppl_params p = {.n_ctx = 256, .n_batch = 128, .n_threads = 2, .n_chunks = 6, .kld_base = base,
                        .kld_format = QTK_KLD_FORMAT_QTK /* exact zero for itself: qtk format */};
    qtk_ppl_stats s0, s;
    qtk_error err;
    qtk_status st = qtk_perplexity(f32, v, g_tokens, g_n, &p, NULL, NULL, &s0, &err);
    CHECK(st == QTK_OK, "base run: %s", err.msg);
    if (st != QTK_OK) goto done;
    {
        /* -b 128 (two forward calls per chunk) gives the PPL of -b 256 */
        qtk_ppl_params pb = p;
        pb.n_batch = 256;
        pb.kld_base = NULL;
        qtk_ppl_stats sb;
        CHECK(qtk_perplexity(f32, v, g_tokens, g_n, &pb, NULL, NULL, &sb, &err) == QTK_OK, "b256: %s", err.msg);
        /* achieved: bit-identical (the logits of a position do not depend on the batch split);
         * margin 1e-9 relative for kernels that block rows differently */
        CHECK(fabs(sb.ppl - s0.ppl) <= 1e-9 * s0.ppl, "PPL with -b 128 %.9f vs -b 256 %.9f", s0.ppl, sb.ppl);
    }
    p.kld = true;
    /* identical model: exactly zero */
    st = qtk_perplexity(f32, v, NULL, 0, &p, NULL, NULL, &s, &err);
    CHECK(st == QTK_OK, "self compare: %s", err.msg);
    if (st == QTK_OK) {
        CHECK(s.n_scored == 6 * 127, "scored %lld", (long long)s.n_scored);
        CHECK(s.kld == 0.0 && s.kld_max == 0.0 && s.kld_min == 0.0, "self KLD mean %g max %g min %g", s.kld,
              s.kld_max, s.kld_min);
        CHECK(s.same_top == 1.0, "self same top %.6f", s.same_top);
        CHECK(s.log_ppl_ratio == 0.0 && s.dp_rms == 0.0, "self ln ratio %g, dp rms %g", s.log_ppl_ratio, s.dp_rms);
        CHECK(fabs(s.ppl - s0.ppl) <= 1e-9 * s0.ppl, "self PPL %.6f vs base run %.6f", s.ppl, s0.ppl);
    }
    /* F16 weights (and F16 activations) against the F32 base */
    st = qtk_perplexity(f16, v, NULL, 0, &p, NULL, NULL, &s, &err);
    CHECK(st == QTK_OK, "f16 compare: %s", err.msg);
    if (st == QTK_OK) {
        /* achieved (6 chunks, x86-64): mean KLD 1.08e-7, median 9.13e-8, max 5.66e-7, same top
         * 100 % (762 of 762), ln(PPL ratio) -1.1e-5; PPL(base) equals the base run's PPL
         * exactly. (Before both encoded distributions were renormalized, the fixed-point
         * rounding added ~2e-6 of noise per token: mean 7.80e-8, max 1.18e-5.) Margins: a
         * factor 3 on the KLD figures and the ratio (they are sums of rounding noise, which
         * other kernels change), one token on same top. */
        CHECK(s.kld > 3.6e-8 && s.kld < 3.3e-7, "F16 vs F32 mean KLD %.3g (achieved 1.08e-7)", s.kld);
        CHECK(s.kld_max > 1.9e-7 && s.kld_max < 1.7e-6 && s.kld_median > 3.0e-8 && s.kld_median < 2.8e-7,
              "F16 vs F32 KLD max %.3g (achieved 5.66e-7) median %.3g (9.13e-8)", s.kld_max, s.kld_median);
        CHECK(s.same_top >= 761.0 / 762.0, "F16 vs F32 same top %.4f (achieved 1.0)", s.same_top);
        /* the ratio is a sum of rounding noise whose size and sign depend on the libm
         * (Linux -1.0e-5, mingw -3.0e-6): only its magnitude is bounded */
        CHECK(fabs(s.log_ppl_ratio) < 3e-5, "F16 vs F32 ln(PPL ratio) %.3g (achieved -1.0e-5; mingw -3.0e-6)",
              s.log_ppl_ratio);
        CHECK(fabs(s.ppl_base - s0.ppl) <= 1e-12 * s0.ppl, "PPL(base) %.12f vs base run %.12f", s.ppl_base, s0.ppl);
        printf("  F16 vs F32 base, 6 chunks: KLD %.3g +/- %.3g, median %.3g, max %.3g, same top %.3f %%, "
               "ln(PPL ratio) %.6f\n",
               s.kld, s.kld_unc, s.kld_median, s.kld_max, 100 * s.same_top, s.log_ppl_ratio);
    }
    /* a file that is not a base file */
    p.kld_base = "/nonexistent/dir/base.kld";
    CHECK(qtk_perplexity(f32, v, NULL, 0, &p, NULL, NULL, &s, &err) == QTK_ERR_IO, "missing base file");
done:
    remove(base);
    free(base);
}

/* A quantized model through the Q8_0 activation path: close to F32, not equal. */
static void test_q8_0(qtk_model *f32, const qtk_vocab *v) {
    char *qpath = tl_tmp_path("test_perplexity_q8_0.gguf"), *base = tl_tmp_path("test_perplexity_q8base.kld");
    CHECK(tl_write_quantized_copy(qtk_model_gguf(f32), QTK_TYPE_Q8_0, 7, qpath), "could not write the Q8_0 model");
    qtk_model *q8 = NULL;
    qtk_error err;
    if (qtk_model_load(qpath, &q8, &err) != QTK_OK) {
        CHECK(0, "Q8_0 model: %s", err.msg);
        goto done;
    }
    qtk_ppl_params p = {.n_ctx = 256, .n_batch = 256, .n_threads = 2, .n_chunks = 12, .kld_base = base,
                        .kld_format = QTK_KLD_FORMAT_QTK};
    qtk_ppl_stats s;
    CHECK(qtk_perplexity(f32, v, g_tokens, g_n, &p, NULL, NULL, &s, &err) == QTK_OK, "base: %s", err.msg);
    p.kld = true;
    CHECK(qtk_perplexity(q8, v, NULL, 0, &p, NULL, NULL, &s, &err) == QTK_OK, "Q8_0 compare: %s", err.msg);
    /* REFERENCE.md, 160 chunks: Q8_0 mean KLD 0.000088, same top 99.099 %. Achieved here
     * (12 chunks, 1524 tokens): KLD 8.558e-5, same top 1514/1524 = 99.344 %. Margins:
     * 10 % on the KLD, 5 tokens on same top (Q8_0
     * activations round differently where kernels sum in another order). */
    CHECK(s.kld > 7.7e-5 && s.kld < 9.4e-5, "Q8_0 vs F32 mean KLD %.4g (achieved 8.558e-5)", s.kld);
    CHECK(s.same_top >= 1509.0 / 1524.0 && s.same_top <= 1519.0 / 1524.0, "Q8_0 vs F32 same top %.4f (achieved 0.99344)",
          s.same_top);
    /* ln(PPL ratio) is a difference of two noisy means: kernel summation order,
     * the KV cache type (F16 default since issue #12) and the batch path moved it
     * between 4.7e-4 and 7.7e-4 on these 1524 tokens while the KLD stayed put, so it
     * is checked against its own statistical uncertainty (llama-perplexity's
     * "ln(PPL(Q)/PPL(base))" +/-; 3.3e-4 here): within 3 of them of 6.0e-4, the middle
     * of the values seen. The reference's 160-chunk figure is 7.2e-5 (72.0955 / 72.0903). */
    CHECK(s.log_ppl_ratio_unc > 0 && fabs(s.log_ppl_ratio - 6.0e-4) < 3 * s.log_ppl_ratio_unc,
          "Q8_0 ln(PPL ratio) %.4g +/- %.2g (expected 6.0e-4 within 3 sigma)", s.log_ppl_ratio, s.log_ppl_ratio_unc);
    printf("  Q8_0 vs F32, 12 chunks: KLD %.6f +/- %.6f, same top %.3f %%, PPL %.4f vs %.4f, ln ratio %.3g +/- %.2g\n",
           s.kld, s.kld_unc, 100 * s.same_top, s.ppl, s.ppl_base, s.log_ppl_ratio, s.log_ppl_ratio_unc);
    qtk_model_free(q8);
done:
    remove(qpath);
    remove(base);
    free(qpath);
    free(base);
}

/* Runs the CLI and checks the labels scripts parse. */
static void test_cli(void) {
    const char *bin = getenv("QTK_BIN");
    char *f32 = tl_shared_path("fixtures/tiny-llama-f32.gguf"), *f16 = tl_shared_path("fixtures/tiny-llama-f16.gguf");
    char *ev = tl_shared_path("fixtures/eval.txt");
    char *base = tl_tmp_path("test_perplexity_cli.kld"), *out1 = tl_tmp_path("test_perplexity_cli1.txt");
    char *out2 = tl_tmp_path("test_perplexity_cli2.txt");
    if (!bin || !f32 || !f16 || !ev || !tl_qtk_available()) {
        printf("  CLI not tested (QTK_BIN unset or not runnable here)\n");
        goto done;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c 256 --chunks 2 -t 2 --kl-divergence-base \"%s\"", f32,
             ev, base);
    CHECK(tl_run_qtk(cmd, out1) == 0, "CLI base run failed: %s", cmd);
    snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" --kl-divergence-base \"%s\" --kl-divergence -t 2", f16, base);
    CHECK(tl_run_qtk(cmd, out2) == 0, "CLI compare run failed: %s", cmd);
    size_t n1 = 0, n2 = 0;
    char *o1 = (char *)tl_read_file(out1, &n1), *o2 = (char *)tl_read_file(out2, &n2);
    if (o1 && o2) {
        o1 = (char *)realloc(o1, n1 + 1);
        o1[n1] = 0;
        o2 = (char *)realloc(o2, n2 + 1);
        o2[n2] = 0;
        CHECK(strstr(o1, "[1]") && strstr(o1, ",[2]") && strstr(o1, "Final estimate: PPL = "), "base output:\n%s", o1);
        CHECK(strstr(o1, "tokens/s") != NULL, "no prompt-processing speed printed");
        static const char *labels[] = {"Mean PPL(Q)                   : ", "Mean PPL(base)                : ",
                                       "Mean ln(PPL(Q)/PPL(base))     : ", "Mean    KLD: ", "Maximum KLD: ",
                                       "99.9%   KLD: ", "99.0%   KLD: ", "Median  KLD: ", "Same top p: ",
                                       "RMS \xce\x94p    : ", "====== KL divergence statistics ======"};
        for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
            CHECK(strstr(o2, labels[i]) != NULL, "compare output lacks '%s'", labels[i]);
        double kld = -1;
        const char *k = strstr(o2, "Mean    KLD: ");
        if (k) kld = atof(k + 13);
        /* F16 vs F32 over 2 chunks: ~1e-7, printed with 6 decimals as 0.000000 */
        CHECK(kld >= 0 && kld <= 1e-6, "parsed Mean KLD %g (achieved 0.000000)", kld);
    } else {
        CHECK(0, "CLI output files missing");
    }
    free(o1);
    free(o2);
done:
    if (base) remove(base);
    if (out1) remove(out1);
    if (out2) remove(out2);
    free(f32);
    free(f16);
    free(ev);
    free(base);
    free(out1);
    free(out2);
}

int main(void) {
    char *ev = tl_shared_path("fixtures/eval.txt");
    qtk_model *f32 = tl_load_model("fixtures/tiny-llama-f32.gguf"), *f16 = tl_load_model("fixtures/tiny-llama-f16.gguf");
    if (!ev || !f32 || !f16) {
        qtk_model_free(f32);
        qtk_model_free(f16);
        free(ev);
        return tl_skip("test_perplexity", "fixtures not found");
    }
    qtk_vocab *v = NULL;
    qtk_error err;
    CHECK(qtk_vocab_load(qtk_model_gguf(f32), &v, &err) == QTK_OK, "vocab: %s", err.msg);
    size_t size = 0;
    unsigned char *text = tl_read_file(ev, &size);
    CHECK(text && qtk_tokenize(v, (const char *)text, size, true, &g_tokens, &g_n, &err) == QTK_OK, "tokenize");
    CHECK(g_n == 123177, "eval.txt: %lld tokens with BOS (SOURCES.md: 123177)", (long long)g_n);
    /* too short a text is refused */
    qtk_ppl_params p = {.n_ctx = 256, .n_threads = 1, .n_chunks = -1};
    qtk_ppl_stats s;
    CHECK(qtk_perplexity(f32, v, g_tokens, 300, &p, NULL, NULL, &s, &err) == QTK_ERR_INVALID_ARG, "short text");
    if (g_n > 0) {
        test_accuracy(f32, v);
        test_kld(f32, f16, v);
        test_q8_0(f32, v);
        test_cli();
    }
    free(g_tokens);
    free(text);
    free(ev);
    qtk_vocab_free(v);
    qtk_model_free(f32);
    qtk_model_free(f16);
    return tl_finish("test_perplexity");
}
