/*
 * test_arch_dense.c — the dense architectures qwen3 and gemma3 against the
 * reference (ik_llama.cpp) on ../shared/fixtures/arch/ (README.md there says
 * how each model was derived from the trained tiny-llama and gives the
 * reference figures). Per model:
 *  1. PPL over the first 8 chunks of eval.txt with -c 256 (qtk_perplexity,
 *     the model's own tokenizer; F16 and F32 KV cache) equals the README's
 *     figure. Issue #14's bar is 0.05 %; the check is much tighter (see
 *     PPL_TOL).
 *  2. Mean KLD against the reference's llama.cpp-format base file (.kld,
 *     decoded here from its definition in the README, independently of
 *     qtk's reader): the tokens come from the file, every chunk is decoded
 *     in one batch with BOS first, and per scored position
 *     KLD = sum_i p_ref(i) (ln p_ref(i) - ln p_qtk(i)). Issue #14's bar is
 *     1e-5; the check is tighter (see KLD_TOL). The top token must agree
 *     everywhere.
 *  3. The same through qtk's own reader: qtk_perplexity comparing with the
 *     .kld file (what `qtk perplexity --kl-divergence` prints).
 * Skips without ../shared. Under sanitizers and emulators (QTK_TEST_QUICK=1,
 * set by .ci/run) only step 3 runs (one pass per model instead of six).
 */
#include "testlib.h"

#include <math.h>

/* Achieved on x86-64 (AVX-512): with the default F16 KV cache (the
 * reference's own type) qwen3 64.724112 (README 64.7247), gemma3 76.506696
 * (76.5078); with an F32 cache 64.724778 and 76.506690: |diff| <= 1.1e-3
 * (1.5e-5 relative). The README prints 4 decimals (+-5e-5). 4e-3 (<= 6e-5
 * relative, 8x inside the 0.05 %) leaves ~3.5x for other kernels'
 * summation orders; a dropped q-norm moves the PPL by 0.7, the global rope
 * base on the sliding layers by 5, and a sliding-window slip in an
 * attention rewrite (seen while developing) by 0.007 with KLD 2.4e-5. */
#define PPL_TOL 4e-3
/* Achieved (F16 KV cache): here qwen3 6.9e-7, gemma3 4.4e-8; qtk's reader
 * 6.5e-8 and 7.0e-8 (it renormalizes the decoded base distribution, whose
 * sum is 1 only within ~4e-5 after the 16-bit encoding; this test does
 * not, hence its higher floor). Bound 3e-6: 4x the worst, 3x inside the
 * issue's 1e-5; a dropped q-norm gives 6e-3. */
#define KLD_TOL 3e-6

typedef struct arch_case {
    const char *name;        /* fixtures/arch/<name>.gguf and .kld */
    double ppl8;             /* README: 8 chunks, -c 256 */
} arch_case;

static void check_ppl(const arch_case *ac, qtk_model *m, const qtk_vocab *v, const char *text, size_t size) {
    int32_t *tok = NULL;
    int64_t n = 0;
    qtk_error err;
    CHECK(qtk_tokenize(v, text, size, true, &tok, &n, &err) == QTK_OK, "%s: tokenize: %s", ac->name, err.msg);
    for (int f32 = 0; f32 < 2; f32++) {
        qtk_ppl_params p = {.n_ctx = 256, .n_batch = 256, .n_threads = 2, .n_chunks = 8,
                            .kv_f32_k = f32 != 0, .kv_f32_v = f32 != 0};
        qtk_ppl_stats s;
        const qtk_status st = qtk_perplexity(m, v, tok, n, &p, NULL, NULL, &s, &err);
        CHECK(st == QTK_OK, "%s: perplexity: %s", ac->name, err.msg);
        if (st != QTK_OK) continue;
        const double d = fabs(s.ppl - ac->ppl8);
        printf("  %-7s PPL (8 chunks, %s KV) %.6f, reference %.4f: |diff| %.2g (%.2g %%; tolerance %.0e)\n",
               ac->name, f32 ? "F32" : "F16", s.ppl, ac->ppl8, d, 100 * d / ac->ppl8, PPL_TOL);
        CHECK(s.n_chunks == 8 && s.n_scored == 8 * 127, "%s: %lld chunks, %lld scored", ac->name,
              (long long)s.n_chunks, (long long)s.n_scored);
        CHECK(d <= PPL_TOL, "%s: PPL %.6f (%s KV), reference %.4f (|diff| %.6f > %.0e)", ac->name, s.ppl,
              f32 ? "F32" : "F16", ac->ppl8, d, PPL_TOL);
    }
    free(tok);
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float rdf32(const unsigned char *p) {
    const uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void check_kld(const arch_case *ac, qtk_model *m, const qtk_vocab *v) {
    char rel[96];
    snprintf(rel, sizeof rel, "fixtures/arch/%s.kld", ac->name);
    char *path = tl_shared_path(rel);
    size_t size = 0;
    unsigned char *f = path ? tl_read_file(path, &size) : NULL;
    free(path);
    CHECK(f && size >= 20 && memcmp(f, "_logits_", 8) == 0, "%s: cannot read %s", ac->name, rel);
    if (!f || size < 20 || memcmp(f, "_logits_", 8) != 0) {
        free(f);
        return;
    }
    const int64_t n_ctx = rd32(f + 8), n_vocab = rd32(f + 12), n_chunk = rd32(f + 16);
    const int64_t first = n_ctx / 2, n_scored = n_ctx - 1 - first, nv = 2 * ((n_vocab + 1) / 2) + 4;
    const qtk_model_info *in = qtk_model_get_info(m);
    CHECK(n_ctx == 256 && n_chunk == 8 && n_vocab == in->n_vocab &&
              size == (size_t)(20 + 4 * n_chunk * n_ctx + 2 * n_chunk * n_scored * nv),
          "%s: %s header (n_ctx %lld, n_vocab %lld, n_chunk %lld, %zu bytes)", ac->name, rel, (long long)n_ctx,
          (long long)n_vocab, (long long)n_chunk, size);
    if (n_ctx != 256 || n_chunk != 8 || n_vocab != in->n_vocab ||
        size != (size_t)(20 + 4 * n_chunk * n_ctx + 2 * n_chunk * n_scored * nv)) {
        free(f);
        return;
    }
    qtk_context *ctx = NULL;
    qtk_error err;
    int32_t *tok = (int32_t *)malloc((size_t)n_ctx * sizeof(int32_t));
    float *logits = (float *)malloc((size_t)(n_ctx - first) * (size_t)n_vocab * sizeof(float));
    double *lp = (double *)malloc((size_t)n_vocab * sizeof(double));
    CHECK(qtk_context_create(m, n_ctx, 2, &ctx, &err) == QTK_OK, "%s: context: %s", ac->name, err.msg);
    double sum = 0.0, worst = 0.0;
    int64_t n_rec = 0, same_top = 0;
    const unsigned char *rec = f + 20 + 4 * n_chunk * n_ctx;
    for (int64_t c = 0; ctx && tok && logits && lp && c < n_chunk; c++) {
        for (int64_t j = 0; j < n_ctx; j++) tok[j] = (int32_t)rd32(f + 20 + 4 * (c * n_ctx + j));
        tok[0] = qtk_vocab_bos(v);
        qtk_context_reset(ctx);
        if (qtk_decode(ctx, tok, n_ctx, first, logits, &err) != QTK_OK) {
            CHECK(0, "%s: decode chunk %lld: %s", ac->name, (long long)c, err.msg);
            break;
        }
        for (int64_t r = 0; r < n_scored; r++, rec += 2 * nv) {
            /* qtk: ln p = logit - max - ln sum exp(logit - max), in double */
            const float *lg = logits + r * n_vocab;
            double mx = -INFINITY, se = 0.0;
            int64_t top_q = 0, top_r = 0;
            for (int64_t i = 0; i < n_vocab; i++)
                if (lg[i] > mx) mx = lg[i], top_q = i;
            for (int64_t i = 0; i < n_vocab; i++) se += exp((double)lg[i] - mx);
            for (int64_t i = 0; i < n_vocab; i++) lp[i] = (double)lg[i] - mx - log(se);
            /* reference: ln p(i) = min_log_prob + scale * q[i] */
            const double scale = rdf32(rec), min_lp = rdf32(rec + 4);
            double k = 0.0;
            unsigned qmax = 0;
            for (int64_t i = 0; i < n_vocab; i++) {
                const unsigned q = (unsigned)rec[8 + 2 * i] | (unsigned)rec[9 + 2 * i] << 8;
                const double lr = min_lp + scale * q;
                k += exp(lr) * (lr - lp[i]);
                if (q > qmax) qmax = q, top_r = i;
            }
            sum += k;
            if (k > worst) worst = k;
            same_top += top_q == top_r;
            n_rec++;
        }
    }
    if (n_rec == n_chunk * n_scored) {
        const double mean = sum / (double)n_rec;
        printf("  %-7s KLD vs %s.kld over %lld positions: mean %.3g (tolerance %.0e), max %.3g, same top %.2f %%\n",
               ac->name, ac->name, (long long)n_rec, mean, KLD_TOL, worst, 100.0 * (double)same_top / (double)n_rec);
        CHECK(mean < KLD_TOL, "%s: mean KLD %g >= %g", ac->name, mean, KLD_TOL);
        CHECK(same_top == n_rec, "%s: top token differs at %lld of %lld positions", ac->name,
              (long long)(n_rec - same_top), (long long)n_rec);
    } else {
        CHECK(0, "%s: %lld of %lld positions evaluated", ac->name, (long long)n_rec, (long long)(n_chunk * n_scored));
    }
    qtk_context_free(ctx);
    free(tok);
    free(logits);
    free(lp);
    free(f);
}

/* qtk's reader of the llama.cpp base file: the statistics qtk perplexity
 * --kl-divergence prints. */
static void check_kld_reader(const arch_case *ac, qtk_model *m, const qtk_vocab *v) {
    char rel[96];
    snprintf(rel, sizeof rel, "fixtures/arch/%s.kld", ac->name);
    char *path = tl_shared_path(rel);
    if (!path) return;
    qtk_ppl_params p = {.n_ctx = 256, .n_batch = 256, .n_threads = 2, .n_chunks = -1, .kld_base = path, .kld = true};
    qtk_ppl_stats s;
    qtk_error err;
    const qtk_status st = qtk_perplexity(m, v, NULL, 0, &p, NULL, NULL, &s, &err);
    CHECK(st == QTK_OK, "%s: perplexity --kl-divergence: %s", ac->name, err.msg);
    if (st == QTK_OK) {
        printf("  %-7s qtk's reader: %lld chunks, PPL(base) %.6f, KLD %.3g, same top %.2f %%\n", ac->name,
               (long long)s.n_chunks, s.ppl_base, s.kld, 100 * s.same_top);
        CHECK(s.n_chunks == 8 && fabs(s.ppl - ac->ppl8) <= PPL_TOL, "%s: %lld chunks, PPL %.6f", ac->name,
              (long long)s.n_chunks, s.ppl);
        CHECK(s.kld < KLD_TOL && s.same_top == 1.0, "%s: KLD %g, same top %g", ac->name, s.kld, s.same_top);
    }
    free(path);
}

int main(void) {
    static const arch_case cases[] = {{"qwen3", 64.7247}, {"gemma3", 76.5078}};
    char *ev = tl_shared_path("fixtures/eval.txt");
    size_t size = 0;
    char *text = ev ? (char *)tl_read_file(ev, &size) : NULL;
    free(ev);
    if (!text) return tl_skip("test_arch_dense", "../shared/fixtures/eval.txt not found");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const arch_case *ac = &cases[i];
        char rel[96];
        snprintf(rel, sizeof rel, "fixtures/arch/%s.gguf", ac->name);
        qtk_model *m = tl_load_model(rel);
        if (!m) {
            printf("  %s: %s not found, skipped\n", ac->name, rel);
            continue;
        }
        const qtk_model_info *in = qtk_model_get_info(m);
        CHECK(strcmp(in->arch, ac->name) == 0 && in->rope_neox, "%s: arch %s, rope_neox %d", ac->name, in->arch,
              (int)in->rope_neox);
        qtk_vocab *v = NULL;
        qtk_error err;
        CHECK(qtk_vocab_load(qtk_model_gguf(m), &v, &err) == QTK_OK, "%s: vocab: %s", ac->name, err.msg);
        if (v) {
            if (!tl_quick()) {
                check_ppl(ac, m, v, text, size);
                check_kld(ac, m, v);
            }
            check_kld_reader(ac, m, v);
        }
        qtk_vocab_free(v);
        qtk_model_free(m);
    }
    free(text);
    return tl_finish("test_arch_dense");
}
