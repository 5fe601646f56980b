/*
 * test_arch_moe.c — the mixture-of-experts architectures, Mixtral (llama
 * with experts) and qwen3moe, against the reference (ik_llama.cpp; for
 * Mixtral its mistral3 path, see the README's warning) on
 * ../shared/fixtures/arch/ (README.md there says how the models were
 * derived from the trained tiny-llama and gives the reference figures).
 * Per model:
 *  1. The loader reads 4 experts, 2 used per token, width 768.
 *  2. PPL over the first 8 chunks of eval.txt with -c 256 equals the
 *     README's figure (issue #14's bar: 0.05 %; the check is tighter, see
 *     PPL_TOL).
 *  3. Mean KLD against the reference's llama.cpp-format base file (.kld)
 *     through qtk_perplexity's reader is below KLD_TOL (issue's bar 1e-5),
 *     and the top token agrees at every position.
 *  4. One batch of 48 tokens gives the logits of the same tokens decoded
 *     one at a time (the grouping by expert gathers and scatters the right
 *     rows; one-token steps run experts with a single row).
 *  5. The checks can fail: with the router negated (every token goes to its
 *     two worst experts; README: KLD ~0.0043) and with the gate matrices of
 *     experts 0 and 1 swapped, the KLD must exceed KLD_TOL by far.
 * Then a Q4_K_M copy of mixtral.gguf made by `qtk quantize` loads and gives
 * a PPL close to the F16 model's, and copies of mixtral.gguf with one
 * defect each (bad counts, gating, shared experts, a missing or misshapen
 * expert tensor) are refused with messages naming the key or tensor.
 * Skips without ../shared.
 */
#include "testlib.h"
#include "model/model_internal.h"

#include <math.h>

/* Achieved on x86-64 (F32 KV cache): mixtral 60.555758-60.555858 (README
 * 60.5571), qwen3moe 64.761804-64.762426 (64.7630) as the kernels changed
 * during the session: |diff| <= 1.4e-3, the same small offset
 * the KLD run shows (qtk's PPL(Q) - PPL(base) = -1.4e-3 +- 0.9e-3). Bound
 * 5e-3: the README's rounding (5e-5) and 3x margin for other kernels'
 * summation orders and an F16 KV cache; 8e-5 relative, 6x inside the
 * issue's 0.05 %. A routing bug moves the PPL by > 0.1 (case 5). */
#define PPL_TOL 5e-3
/* Achieved: mixtral 6.8e-8 to 7.9e-8, qwen3moe 7.2e-8 (near the floor of the base
 * file's 16-bit encoding of ln p); bound 5e-7 (6x margin, for other
 * kernels and an F16 KV cache), 20x inside the 1e-5. */
#define KLD_TOL 5e-7

typedef struct moe_case {
    const char *name;        /* fixtures/arch/<name>.gguf and .kld */
    const char *arch;
    double ppl8;             /* README: 8 chunks, -c 256 */
} moe_case;

/* Under sanitizers and emulators (QTK_TEST_QUICK=1, set by .ci/run) only
 * Mixtral runs, without the fault runs and the quantized copy. */
static bool quick_mode(void) { return tl_quick(); }

static double run_ppl(qtk_model *m, const qtk_vocab *v, const int32_t *tok, int64_t n, const char *what) {
    qtk_ppl_params p = {.n_ctx = 256, .n_batch = 256, .n_threads = 2, .n_chunks = 8};
    qtk_ppl_stats s;
    qtk_error err;
    const qtk_status st = qtk_perplexity(m, v, tok, n, &p, NULL, NULL, &s, &err);
    CHECK(st == QTK_OK, "%s: perplexity: %s", what, err.msg);
    if (st != QTK_OK) return NAN;
    CHECK(s.n_chunks == 8 && s.n_scored == 8 * 127, "%s: %lld chunks, %lld scored", what, (long long)s.n_chunks,
          (long long)s.n_scored);
    return s.ppl;
}

/* Mean KLD of m against the case's .kld file (tokens from the file); -1 on failure. */
static double run_kld(qtk_model *m, const qtk_vocab *v, const moe_case *mc, double *same_top) {
    char rel[96];
    snprintf(rel, sizeof rel, "fixtures/arch/%s.kld", mc->name);
    char *base = tl_shared_path(rel);
    CHECK(base != NULL, "%s: %s not found", mc->name, rel);
    if (!base) return -1;
    qtk_ppl_params p = {.n_ctx = 256, .n_batch = 256, .n_threads = 2, .n_chunks = -1, .kld_base = base, .kld = true};
    qtk_ppl_stats s;
    qtk_error err;
    const qtk_status st = qtk_perplexity(m, v, NULL, 0, &p, NULL, NULL, &s, &err);
    free(base);
    CHECK(st == QTK_OK, "%s: KLD run: %s", mc->name, err.msg);
    if (st != QTK_OK) return -1;
    CHECK(s.n_chunks == 8 && s.n_scored == 8 * 127, "%s: KLD over %lld chunks, %lld positions", mc->name,
          (long long)s.n_chunks, (long long)s.n_scored);
    *same_top = s.same_top;
    return s.kld;
}

/* Max over positions of max |a - b| / max |b|, over n tokens. */
static double rel_diff(const float *a, const float *b, int64_t n, int64_t n_vocab) {
    double worst = 0.0;
    for (int64_t t = 0; t < n; t++) {
        double md = 0.0, mb = 0.0;
        for (int64_t i = 0; i < n_vocab; i++) {
            const double d = fabs((double)a[t * n_vocab + i] - b[t * n_vocab + i]);
            if (!(d <= md)) md = d;  /* NaN counts as a difference */
            if (fabs(b[t * n_vocab + i]) > mb) mb = fabs(b[t * n_vocab + i]);
        }
        if (!(md / mb <= worst)) worst = md / mb;
    }
    return worst;
}

/* Case 4: one batch of n tokens vs one token at a time. */
static void check_batch_split(const moe_case *mc, qtk_model *m, const int32_t *tok) {
    enum { N = 48 };
    const int64_t nv = qtk_model_get_info(m)->n_vocab;
    float *a = (float *)malloc((size_t)(N * nv) * sizeof(float));
    float *b = (float *)malloc((size_t)(N * nv) * sizeof(float));
    qtk_context *ctx = NULL;
    qtk_error err;
    int ok = a && b && qtk_context_create(m, N, 2, &ctx, &err) == QTK_OK;
    ok = ok && qtk_decode(ctx, tok, N, 0, a, &err) == QTK_OK;
    if (ok) qtk_context_reset(ctx);
    for (int64_t t = 0; ok && t < N; t++) ok = qtk_decode(ctx, tok + t, 1, 0, b + t * nv, &err) == QTK_OK;
    CHECK(ok, "%s: batch/token decode: %s", mc->name, err.msg);
    if (ok) {
        const double d = rel_diff(b, a, N, nv);
        /* achieved: 0 (bit-identical: the products of a row do not depend on the other
         * columns); margin 1e-6 relative for kernels that tile columns differently */
        printf("  %-8s %d tokens in one batch vs one at a time: max relative difference %.3g (limit 1e-6)\n",
               mc->name, N, d);
        CHECK(d <= 1e-6, "%s: batch vs token-by-token logits differ by %g", mc->name, d);
    }
    qtk_context_free(ctx);
    free(a);
    free(b);
}

/* Case 5: routing faults. Returns the KLD with the fault. */
static double kld_with_fault(qtk_model *m, const qtk_vocab *v, const moe_case *mc, int fault) {
    const qtk_model_info *in = qtk_model_get_info(m);
    const int64_t nr = in->n_embd * in->n_expert;
    float *neg = (float *)malloc((size_t)(in->n_layer * nr) * sizeof(float));
    const void **saved = (const void **)malloc((size_t)in->n_layer * sizeof(void *));
    if (!neg || !saved) {
        free(neg);
        free(saved);
        return -1;
    }
    for (int64_t l = 0; l < in->n_layer; l++) {
        qtk_layer *L = &m->layers[l];
        if (fault == 0) {  /* negated router (F32 in these files) */
            saved[l] = L->router.data;
            const float *r = (const float *)L->router.data;
            for (int64_t i = 0; i < nr; i++) neg[l * nr + i] = -r[i];
            L->router.data = neg + l * nr;
        } else {           /* gate matrices of experts 0 and 1 swapped */
            const qtk_weight w = L->gate_exps[0];
            L->gate_exps[0] = L->gate_exps[1];
            L->gate_exps[1] = w;
        }
    }
    double same = 0;
    const double k = run_kld(m, v, mc, &same);
    for (int64_t l = 0; l < in->n_layer; l++) {
        qtk_layer *L = &m->layers[l];
        if (fault == 0) {
            L->router.data = saved[l];
        } else {
            const qtk_weight w = L->gate_exps[0];
            L->gate_exps[0] = L->gate_exps[1];
            L->gate_exps[1] = w;
        }
    }
    free(neg);
    free(saved);
    printf("  %-8s with %s: KLD %.4g, same top %.2f %%\n", mc->name,
           fault == 0 ? "the router negated" : "experts 0/1 gate swapped", k, 100 * same);
    return k;
}

static void run_case(const moe_case *mc, const char *text, size_t size, double *ppl_out) {
    char rel[96];
    snprintf(rel, sizeof rel, "fixtures/arch/%s.gguf", mc->name);
    qtk_model *m = tl_load_model(rel);
    if (!m) return;
    const qtk_model_info *in = qtk_model_get_info(m);
    CHECK(strcmp(in->arch, mc->arch) == 0 && in->n_expert == 4 && in->n_expert_used == 2 && in->n_ff_exp == 768,
          "%s: arch %s, %lld experts, %lld used, width %lld", mc->name, in->arch, (long long)in->n_expert,
          (long long)in->n_expert_used, (long long)in->n_ff_exp);
    CHECK(m->layers[0].router.data && m->layers[0].gate_exps[3].expert == 3 &&
              m->layers[0].gate_exps[3].n_expert == 4 &&
              strcmp(m->layers[0].down_exps[2].name, "blk.0.ffn_down_exps.weight") == 0,
          "%s: expert views not set up", mc->name);
    qtk_vocab *v = NULL;
    qtk_error err;
    int32_t *tok = NULL;
    int64_t n = 0;
    CHECK(qtk_vocab_load(qtk_model_gguf(m), &v, &err) == QTK_OK, "%s: vocab: %s", mc->name, err.msg);
    if (v) CHECK(qtk_tokenize(v, text, size, true, &tok, &n, &err) == QTK_OK, "%s: tokenize: %s", mc->name, err.msg);
    if (v && tok) {
        const double ppl = run_ppl(m, v, tok, n, mc->name), d = fabs(ppl - mc->ppl8);
        *ppl_out = ppl;
        printf("  %-8s PPL (8 chunks) %.6f, reference %.4f: |diff| %.2g (%.2g %%; tolerance %.0e)\n", mc->name, ppl,
               mc->ppl8, d, 100 * d / mc->ppl8, PPL_TOL);
        CHECK(d <= PPL_TOL, "%s: PPL %.6f, reference %.4f (|diff| %.6f > %.0e)", mc->name, ppl, mc->ppl8, d, PPL_TOL);
        double same = 0;
        const double k = run_kld(m, v, mc, &same);
        printf("  %-8s KLD vs %s.kld (8 chunks): mean %.3g (tolerance %.0e), same top %.2f %%\n", mc->name, mc->name,
               k, KLD_TOL, 100 * same);
        CHECK(k >= 0 && k < KLD_TOL, "%s: mean KLD %g (tolerance %g)", mc->name, k, KLD_TOL);
        CHECK(same == 1.0, "%s: same top %.4f", mc->name, same);
        check_batch_split(mc, m, tok + 1000);
        /* README: negated router KLD 0.0043 (same top 94.6 %) */
        if (quick_mode()) goto done;
        const double kn = kld_with_fault(m, v, mc, 0), ks = kld_with_fault(m, v, mc, 1);
        CHECK(kn > 100 * KLD_TOL, "%s: the test cannot see a negated router (KLD %g)", mc->name, kn);
        CHECK(ks > 100 * KLD_TOL, "%s: the test cannot see swapped experts (KLD %g)", mc->name, ks);
    }
done:
    free(tok);
    qtk_vocab_free(v);
    qtk_model_free(m);
}

/* qtk quantize of mixtral.gguf to Q4_K_M, then its PPL. */
static void check_quantized(const char *text, size_t size, double ppl_f16) {
    char *in = tl_shared_path("fixtures/arch/mixtral.gguf");
    char *out = tl_tmp_path("test_arch_moe_q4_k_m.gguf"), *log = tl_tmp_path("test_arch_moe_quantize.log");
    char args[2048];
    snprintf(args, sizeof args, "quantize %s %s Q4_K_M 2", in, out);
    const int rc = tl_run_qtk(args, log);
    CHECK(rc == 0, "qtk %s: exit %d", args, rc);
    qtk_model *m = NULL;
    qtk_vocab *v = NULL;
    qtk_error err;
    int32_t *tok = NULL;
    int64_t n = 0;
    if (rc == 0) CHECK(qtk_model_load(out, &m, &err) == QTK_OK, "Q4_K_M mixtral: %s", err.msg);
    if (m) {
        const qtk_model_info *inf = qtk_model_get_info(m);
        CHECK(inf->n_expert == 4 && m->layers[0].gate_exps[0].type != QTK_TYPE_F16, "Q4_K_M: experts %lld, type %s",
              (long long)inf->n_expert, qtk_type_name((int)m->layers[0].gate_exps[0].type));
        CHECK(qtk_vocab_load(qtk_model_gguf(m), &v, &err) == QTK_OK, "Q4_K_M vocab: %s", err.msg);
    }
    if (v && qtk_tokenize(v, text, size, true, &tok, &n, &err) == QTK_OK) {
        const double ppl = run_ppl(m, v, tok, n, "Q4_K_M mixtral");
        /* achieved 60.6159-60.6310 vs F16 60.5558 (+0.1 %); bound 2 % (a quantized
         * expert read at a wrong offset gives garbage, far beyond it) */
        printf("  mixtral  Q4_K_M (qtk quantize): PPL %.4f vs F16 %.4f (%+.2f %%, limit 2 %%)\n", ppl, ppl_f16,
               100 * (ppl / ppl_f16 - 1));
        CHECK(fabs(ppl / ppl_f16 - 1) < 0.02, "Q4_K_M mixtral PPL %.4f vs F16 %.4f", ppl, ppl_f16);
    }
    free(tok);
    qtk_vocab_free(v);
    qtk_model_free(m);
    remove(out);
    remove(log);
    free(in);
    free(out);
    free(log);
}

/* A copy of mixtral.gguf with one defect; returns 0 on success. */
enum { BAD_USED, BAD_NO_COUNT, BAD_GATING, BAD_SHARED, BAD_MISSING_DOWN, BAD_SHAPE, GOOD_WIDE_FF };

static int write_bad(const qtk_gguf *g, const char *path, int bad) {
    qtk_gguf_writer *w = NULL;
    qtk_error err;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) return -1;
    qtk_meta *meta = qtk_gguf_writer_meta(w);
    qtk_status st = qtk_meta_copy(meta, qtk_gguf_meta(g), &err);
    if (st == QTK_OK && bad == BAD_USED) st = qtk_meta_set_u32(meta, "llama.expert_used_count", 5, &err);
    if (st == QTK_OK && bad == BAD_NO_COUNT) qtk_meta_remove(meta, "llama.expert_count");
    if (st == QTK_OK && bad == BAD_GATING) st = qtk_meta_set_u32(meta, "llama.expert_gating_func", 2, &err);
    if (st == QTK_OK && bad == BAD_SHARED) st = qtk_meta_set_u32(meta, "llama.expert_shared_count", 1, &err);
    if (st == QTK_OK && bad == GOOD_WIDE_FF) /* not a defect: a dense width beside the expert width */
        st = qtk_meta_set_u32(meta, "llama.feed_forward_length", 4096, &err);
    if (st == QTK_OK && bad == GOOD_WIDE_FF)
        st = qtk_meta_set_u32(meta, "llama.expert_feed_forward_length", 768, &err);
    for (int pass = 0; pass < 2 && st == QTK_OK; pass++) {
        for (int64_t i = 0; i < qtk_gguf_n_tensors(g) && st == QTK_OK; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            if (bad == BAD_MISSING_DOWN && strcmp(t->name, "blk.3.ffn_down_exps.weight") == 0) continue;
            int64_t ne[QTK_MAX_DIMS];
            memcpy(ne, t->ne, sizeof ne);
            size_t nbytes = (size_t)t->nbytes;
            if (bad == BAD_SHAPE && strcmp(t->name, "blk.2.ffn_up_exps.weight") == 0) {
                ne[2] = 3;  /* 3 of the 4 experts */
                nbytes = nbytes / 4 * 3;
            }
            st = pass == 0 ? qtk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, ne, &err)
                           : qtk_gguf_writer_write(w, t->data, nbytes, &err);
        }
    }
    if (st == QTK_OK) return qtk_gguf_writer_finish(w, &err) == QTK_OK ? 0 : -1;
    qtk_gguf_writer_abort(w);
    return -1;
}

/* Defective MoE files fail to load with a message naming the file, the key
 * or tensor and the reason. */
static void check_load_errors(void) {
    static const struct {
        int bad;
        qtk_status st;
        const char *msg;
    } cases[] = {
        {BAD_USED, QTK_ERR_FORMAT, "expert_count 4, expert_used_count 5"},
        {BAD_NO_COUNT, QTK_ERR_FORMAT,
         "blk.0.ffn_gate_inp.weight is a mixture-of-experts router, but llama.expert_count is missing"},
        {BAD_GATING, QTK_ERR_UNSUPPORTED, "llama.expert_gating_func 2 is not supported"},
        {BAD_SHARED, QTK_ERR_UNSUPPORTED, "shared experts (llama.expert_shared_count 1)"},
        {BAD_MISSING_DOWN, QTK_ERR_NOT_FOUND, "tensor blk.3.ffn_down_exps.weight is missing"},
        {BAD_SHAPE, QTK_ERR_FORMAT, "blk.2.ffn_up_exps.weight has shape [256, 768, 3, 1], expected [256, 768, 4]"},
    };
    char *src = tl_shared_path("fixtures/arch/mixtral.gguf");
    char *path = tl_tmp_path("test_arch_moe_bad.gguf");
    qtk_gguf *g = NULL;
    qtk_error err;
    if (!src || qtk_gguf_open(src, &g, &err) != QTK_OK) {
        CHECK(0, "cannot open mixtral.gguf");
        free(src);
        free(path);
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(write_bad(g, path, cases[i].bad) == 0, "case %zu: could not write the file", i);
        qtk_model *m = NULL;
        memset(&err, 0, sizeof err);
        const qtk_status st = qtk_model_load(path, &m, &err);
        CHECK(st == cases[i].st && m == NULL, "case %zu: status %d (expected %d)", i, (int)st, (int)cases[i].st);
        CHECK(strstr(err.msg, cases[i].msg) && strstr(err.msg, "test_arch_moe_bad.gguf"),
              "case %zu: message '%s' lacks '%s' or the file name", i, err.msg, cases[i].msg);
        qtk_model_free(m);
    }
    printf("  %zu defective MoE files refused with their reasons\n", sizeof cases / sizeof cases[0]);
    /* feed_forward_length 4096 beside expert_feed_forward_length 768 (as Qwen3-30B-A3B has
     * 6144 and 768): the experts are 768 wide and the logits those of the original */
    qtk_model *m = NULL, *m0 = NULL;
    char *tok_src = tl_shared_path("fixtures/arch/mixtral.gguf");
    CHECK(write_bad(g, path, GOOD_WIDE_FF) == 0, "wide ff: could not write the file");
    if (qtk_model_load(path, &m, &err) == QTK_OK && qtk_model_load(tok_src, &m0, &err) == QTK_OK) {
        const qtk_model_info *in = qtk_model_get_info(m);
        CHECK(in->n_ff == 4096 && in->n_ff_exp == 768, "wide ff: n_ff %lld, n_ff_exp %lld", (long long)in->n_ff,
              (long long)in->n_ff_exp);
        enum { N = 16 };
        int32_t tok[N];
        for (int i = 0; i < N; i++) tok[i] = (int32_t)(1 + 97 * i);
        const int64_t nv = in->n_vocab;
        float *a = (float *)malloc((size_t)(N * nv) * sizeof(float));
        float *b = (float *)malloc((size_t)(N * nv) * sizeof(float));
        qtk_context *c = NULL, *c0 = NULL;
        const int ok = a && b && qtk_context_create(m, N, 2, &c, &err) == QTK_OK &&
                       qtk_context_create(m0, N, 2, &c0, &err) == QTK_OK &&
                       qtk_decode(c, tok, N, 0, a, &err) == QTK_OK && qtk_decode(c0, tok, N, 0, b, &err) == QTK_OK;
        CHECK(ok, "wide ff: decode: %s", err.msg);
        if (ok) CHECK(memcmp(a, b, (size_t)(N * nv) * sizeof(float)) == 0, "wide ff: logits differ from the original");
        qtk_context_free(c);
        qtk_context_free(c0);
        free(a);
        free(b);
    } else {
        CHECK(0, "wide ff: load: %s", err.msg);
    }
    qtk_model_free(m);
    qtk_model_free(m0);
    free(tok_src);
    qtk_gguf_close(g);
    remove(path);
    free(src);
    free(path);
}

int main(void) {
    static const moe_case cases[] = {{"mixtral", "llama", 60.5571}, {"qwen3moe", "qwen3moe", 64.7630}};
    char *ev = tl_shared_path("fixtures/eval.txt");
    size_t size = 0;
    char *text = ev ? (char *)tl_read_file(ev, &size) : NULL;
    free(ev);
    if (!text) return tl_skip("test_arch_moe", "../shared/fixtures/eval.txt not found");
    double ppl[2] = {NAN, NAN};
    const size_t n_cases = quick_mode() ? 1 : sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n_cases; i++) run_case(&cases[i], text, size, &ppl[i]);
    if (!quick_mode() && tl_qtk_available() && isfinite(ppl[0])) check_quantized(text, size, ppl[0]);
    check_load_errors();
    free(text);
    return tl_finish("test_arch_moe");
}
