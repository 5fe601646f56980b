/*
 * test_forward.c — the forward pass against an independent, obviously
 * correct double-precision implementation written here (it reads the F32
 * fixture's weights itself through the GGUF reader). Tolerance: for every
 * position, max_i |logit_qtk[i] - logit_ref[i]| / max_i |logit_ref[i]|
 * <= 4e-6 (achieved 3.8e-7). qtk runs the prompt in two batches so the KV cache across
 * batches is exercised, and once more in one batch (same logits). The
 * default F16 KV cache is checked too (<= 5e-4, achieved 1.6e-4: the F16
 * rounding of the cached keys and values); the 4e-6 figures are with F32.
 * Also: load errors name the unsupported architecture / missing tensor.
 */
#include "testlib.h"

#include <math.h>

#define T 14   /* prompt length */

static const qtk_gguf *G;

/* F32 tensor data (2-D: ne[1] rows of ne[0]) as doubles; NULL if absent. */
static double *tensor_d(const char *name, int64_t *ne0, int64_t *ne1) {
    int64_t i = qtk_gguf_find_tensor(G, name);
    if (i < 0) return NULL;
    const qtk_tensor_info *t = qtk_gguf_tensor(G, i);
    if (t->type != QTK_TYPE_F32) return NULL;
    int64_t n = qtk_tensor_nelements(t);
    double *d = (double *)malloc((size_t)n * sizeof(double));
    for (int64_t k = 0; k < n; k++) {
        float f;
        memcpy(&f, (const unsigned char *)t->data + 4 * k, 4);
        d[k] = f;
    }
    if (ne0) *ne0 = t->ne[0];
    if (ne1) *ne1 = t->ne[1];
    return d;
}

/* y[r] = sum_c W[r][c] x[c], W with `out` rows of `in`. */
static void matvec(double *y, const double *W, const double *x, int64_t in, int64_t out) {
    for (int64_t r = 0; r < out; r++) {
        double s = 0;
        for (int64_t c = 0; c < in; c++) s += W[r * in + c] * x[c];
        y[r] = s;
    }
}

static void rms(double *o, const double *x, const double *w, int64_t n, double eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / n + eps);
    for (int64_t i = 0; i < n; i++) o[i] = x[i] * s * w[i];
}

/* Adjacent-pair rotation by pos * base^(-2i/n_rot) (llama "normal" rope). */
static void rope_d(double *v, int64_t n_heads, int64_t hd, int64_t n_rot, int64_t pos, double base) {
    for (int64_t h = 0; h < n_heads; h++)
        for (int64_t i = 0; i < n_rot / 2; i++) {
            double th = pos * pow(base, -2.0 * i / n_rot);
            double a = v[h * hd + 2 * i], b = v[h * hd + 2 * i + 1];
            v[h * hd + 2 * i] = a * cos(th) - b * sin(th);
            v[h * hd + 2 * i + 1] = a * sin(th) + b * cos(th);
        }
}

/* Reference logits [T][n_vocab] for the prompt. */
static double *reference(const qtk_model_info *in, const int32_t *toks) {
    const int64_t E = in->n_embd, H = in->n_head, HK = in->n_head_kv, hd = in->head_dim, F = in->n_ff;
    const int64_t V = in->n_vocab, nq = H * hd, nkv = HK * hd;
    double *emb = tensor_d("token_embd.weight", NULL, NULL);
    double *x = (double *)calloc((size_t)(T * E), sizeof(double));
    for (int t = 0; t < T; t++) memcpy(x + t * E, emb + (int64_t)toks[t] * E, (size_t)E * sizeof(double));
    double *xn = (double *)malloc(sizeof(double) * (size_t)E), *q = (double *)malloc(sizeof(double) * (size_t)(T * nq));
    double *k = (double *)malloc(sizeof(double) * (size_t)(T * nkv)), *v = (double *)malloc(sizeof(double) * (size_t)(T * nkv));
    double *att = (double *)malloc(sizeof(double) * (size_t)nq), *tmp = (double *)malloc(sizeof(double) * (size_t)F);
    double *g = (double *)malloc(sizeof(double) * (size_t)F), *u = (double *)malloc(sizeof(double) * (size_t)F);
    double sc[T];
    char name[64];
    for (int64_t l = 0; l < in->n_layer; l++) {
#define W(s) (snprintf(name, sizeof name, "blk.%d." s, (int)l), tensor_d(name, NULL, NULL))
        double *an = W("attn_norm.weight"), *fn = W("ffn_norm.weight"), *wq = W("attn_q.weight");
        double *wk = W("attn_k.weight"), *wv = W("attn_v.weight"), *wo = W("attn_output.weight");
        double *wg = W("ffn_gate.weight"), *wu = W("ffn_up.weight"), *wd = W("ffn_down.weight");
#undef W
        for (int t = 0; t < T; t++) {
            rms(xn, x + t * E, an, E, in->norm_eps);
            matvec(q + t * nq, wq, xn, E, nq);
            matvec(k + t * nkv, wk, xn, E, nkv);
            matvec(v + t * nkv, wv, xn, E, nkv);
            rope_d(q + t * nq, H, hd, in->n_rot, t, in->rope_freq_base);
            rope_d(k + t * nkv, HK, hd, in->n_rot, t, in->rope_freq_base);
        }
        for (int t = 0; t < T; t++) {
            for (int64_t h = 0; h < H; h++) {
                int64_t kv = h / (H / HK);
                double mx = -1e300, sum = 0;
                for (int s = 0; s <= t; s++) {
                    double d = 0;
                    for (int64_t i = 0; i < hd; i++) d += q[t * nq + h * hd + i] * k[s * nkv + kv * hd + i];
                    sc[s] = d / sqrt((double)hd);
                    if (sc[s] > mx) mx = sc[s];
                }
                for (int s = 0; s <= t; s++) sum += (sc[s] = exp(sc[s] - mx));
                for (int64_t i = 0; i < hd; i++) {
                    double o = 0;
                    for (int s = 0; s <= t; s++) o += sc[s] / sum * v[s * nkv + kv * hd + i];
                    att[h * hd + i] = o;
                }
            }
            matvec(tmp, wo, att, nq, E);
            for (int64_t i = 0; i < E; i++) x[t * E + i] += tmp[i];
        }
        for (int t = 0; t < T; t++) {
            rms(xn, x + t * E, fn, E, in->norm_eps);
            matvec(g, wg, xn, E, F);
            matvec(u, wu, xn, E, F);
            for (int64_t i = 0; i < F; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            matvec(tmp, wd, g, F, E);
            for (int64_t i = 0; i < E; i++) x[t * E + i] += tmp[i];
        }
        free(an); free(fn); free(wq); free(wk); free(wv); free(wo); free(wg); free(wu); free(wd);
    }
    double *on = tensor_d("output_norm.weight", NULL, NULL), *wout = tensor_d("output.weight", NULL, NULL);
    double *logits = (double *)malloc(sizeof(double) * (size_t)(T * V));
    for (int t = 0; t < T; t++) {
        rms(xn, x + t * E, on, E, in->norm_eps);
        matvec(logits + t * V, wout, xn, E, V);
    }
    free(on); free(wout); free(emb); free(x); free(xn); free(q); free(k); free(v); free(att); free(tmp);
    free(g); free(u);
    return logits;
}

static void test_load_errors(void) {
    char *phi = tl_shared_path("vocab/ggml-vocab-phi-3.gguf");
    char *spm = tl_shared_path("vocab/ggml-vocab-llama-spm.gguf");
    qtk_model *m = NULL;
    qtk_error err;
    if (phi) {
        qtk_status st = qtk_model_load(phi, &m, &err);
        CHECK(st == QTK_ERR_UNSUPPORTED && strstr(err.msg, "phi3"), "phi3 arch: status %d, '%s'", (int)st, err.msg);
        CHECK(strstr(err.msg, "(supported: llama, qwen2, qwen3") && strstr(err.msg, "gemma3"),
              "the message lists the supported architectures: '%s'", err.msg);
        CHECK(m == NULL, "no model on failure");
    }
    if (spm) {
        qtk_status st = qtk_model_load(spm, &m, &err);
        CHECK(st == QTK_ERR_NOT_FOUND && strstr(err.msg, "token_embd.weight"), "missing tensor: status %d, '%s'",
              (int)st, err.msg);
    }
    free(phi);
    free(spm);
}

int main(void) {
    test_load_errors();
    char *path = tl_shared_path("fixtures/tiny-llama-f32.gguf");
    if (!path) return tl_skip("test_forward", "fixtures/tiny-llama-f32.gguf not found");
    qtk_model *m = NULL;
    qtk_error err;
    qtk_status st = qtk_model_load(path, &m, &err);
    CHECK(st == QTK_OK, "load: %s", err.msg);
    if (st != QTK_OK) return tl_finish("test_forward");
    G = qtk_model_gguf(m);
    const qtk_model_info *in = qtk_model_get_info(m);
    CHECK(in->n_vocab == 4096 && in->n_embd == 256 && in->n_layer == 6 && in->n_head == 4 && in->n_head_kv == 2 &&
              in->head_dim == 64 && in->n_ff == 768 && !in->rope_neox,
          "hyper-parameters");
    /* "<s> And God said unto Moses," style ids spread over the vocabulary */
    const int32_t toks[T] = {1, 400, 2031, 1234, 29, 3999, 7, 13, 256, 1024, 77, 4095, 600, 3};
    double *ref = reference(in, toks);
    const int64_t V = in->n_vocab;
    float *lg = (float *)malloc(sizeof(float) * (size_t)(T * V));
    float *lg1 = (float *)malloc(sizeof(float) * (size_t)(T * V));
    qtk_context *c = NULL;
    st = qtk_context_create(m, 64, 2, &c, &err);
    CHECK(st == QTK_OK, "context: %s", err.msg);
    /* the F16 cache (default) first: F16 rounding of the cached keys and values;
     * achieved worst relative error 1.6e-4, tolerance 5e-4 (a factor 3) */
    double worst16 = 0;
    st = qtk_decode(c, toks, 5, 0, lg, &err);
    CHECK(st == QTK_OK, "decode 1 (f16): %s", err.msg);
    st = qtk_decode(c, toks + 5, T - 5, 0, lg + 5 * V, &err);
    CHECK(st == QTK_OK, "decode 2 (f16): %s", err.msg);
    for (int t = 0; t < T; t++) {
        double mx = 0, md = 0;
        for (int64_t i = 0; i < V; i++) {
            mx = fmax(mx, fabs(ref[t * V + i]));
            md = fmax(md, fabs((double)lg[t * V + i] - ref[t * V + i]));
        }
        worst16 = fmax(worst16, md / mx);
    }
    printf("  F32 fixture, F16 KV cache vs double reference: worst relative error %.3g\n", worst16);
    CHECK(worst16 <= 5e-4, "F16 KV cache: worst relative error %.3g (achieved 1.6e-4)", worst16);
    /* the cache type can change only while nothing is cached */
    CHECK(qtk_context_set_kv_type(c, QTK_TYPE_F32, QTK_TYPE_F32, &err) == QTK_ERR_INVALID_ARG,
          "set_kv_type with cached positions must fail");
    qtk_context_reset(c);
    CHECK(qtk_context_set_kv_type(c, QTK_TYPE_Q8_0, QTK_TYPE_F16, &err) == QTK_ERR_INVALID_ARG &&
              strstr(err.msg, "q8_0") != NULL,
          "a q8_0 cache must be refused naming the type: %s", err.msg);
    st = qtk_context_set_kv_type(c, QTK_TYPE_F32, QTK_TYPE_F32, &err);
    CHECK(st == QTK_OK, "set_kv_type f32: %s", err.msg);
    /* F32 cache: two batches, 5 tokens, then 9 attending to the cached 5 */
    st = qtk_decode(c, toks, 5, 0, lg, &err);
    CHECK(st == QTK_OK, "decode 1: %s", err.msg);
    st = qtk_decode(c, toks + 5, T - 5, 0, lg + 5 * V, &err);
    CHECK(st == QTK_OK, "decode 2: %s", err.msg);
    CHECK(qtk_context_n_past(c) == T, "n_past %lld", (long long)qtk_context_n_past(c));
    double worst = 0;
    for (int t = 0; t < T; t++) {
        double mx = 0, md = 0;
        for (int64_t i = 0; i < V; i++) {
            if (fabs(ref[t * V + i]) > mx) mx = fabs(ref[t * V + i]);
            double d = fabs((double)lg[t * V + i] - ref[t * V + i]);
            if (d > md) md = d;
        }
        double rel = md / mx;
        if (rel > worst) worst = rel;
        /* achieved (x86-64, AVX2/AVX-512 kernels): worst 3.8e-7 over the 14 positions; tolerance
         * 4e-6 = a factor 10 for other kernels' summation orders (it was 1e-4, 265x the error) */
        CHECK(rel <= 4e-6, "position %d: max |diff| %.3g, max |logit| %.3g, relative %.3g", t, md, mx, rel);
    }
    printf("  F32 fixture vs double reference, %d positions: worst relative error %.3g\n", T, worst);
    /* one batch, logits only for the last 4 tokens: same values */
    qtk_context_reset(c);
    st = qtk_decode(c, toks, T, T - 4, lg1, &err);
    CHECK(st == QTK_OK, "decode single batch: %s", err.msg);
    double md = 0;
    for (int64_t i = 0; i < 4 * V; i++) {
        double d = fabs((double)lg1[i] - (double)lg[(T - 4) * V + i]);
        if (d > md) md = d;
    }
    printf("  one batch vs two batches: max logit difference %.3g\n", md);
    /* achieved: 0 (bit-identical); 1e-5 (logits are ~10) leaves room for batch-size dependent blocking */
    CHECK(md <= 1e-5, "single batch vs two batches: max diff %.3g", md);
    /* Thread counts change only which thread computes a row, never how: 1, 2
     * and 3 threads (and separate generation / batch counts) give bit-identical
     * logits, for a batch and for token-by-token decoding, with either cache type. */
    for (int kvt = 0; kvt < 2; kvt++) {
        float *lt = (float *)malloc(sizeof(float) * (size_t)(T * V));
        float *lb = (float *)malloc(sizeof(float) * (size_t)(T * V));
        const int counts[][2] = {{1, 1}, {2, 2}, {3, 3}, {1, 3}, {3, 1}};
        const qtk_type kt = kvt ? QTK_TYPE_F16 : QTK_TYPE_F32;
        qtk_context_reset(c);
        st = qtk_context_set_kv_type(c, kt, kt, &err);
        CHECK(st == QTK_OK, "set_kv_type %s: %s", qtk_type_name(kt), err.msg);
        for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
            st = qtk_context_set_threads(c, counts[k][0], counts[k][1], &err);
            CHECK(st == QTK_OK, "set_threads: %s", err.msg);
            qtk_context_reset(c);
            st = qtk_decode(c, toks, T, 0, lb, &err);
            CHECK(st == QTK_OK, "batch decode: %s", err.msg);
            qtk_context_reset(c);
            for (int t = 0; t < T && st == QTK_OK; t++) st = qtk_decode(c, toks + t, 1, 0, lt + t * V, &err);
            CHECK(st == QTK_OK, "token decode: %s", err.msg);
            if (k == 0) {
                memcpy(lg1, lb, sizeof(float) * (size_t)(T * V));
                memcpy(lg, lt, sizeof(float) * (size_t)(T * V));
                continue;
            }
            CHECK(memcmp(lb, lg1, sizeof(float) * (size_t)(T * V)) == 0,
                  "%s cache: batch logits with %d/%d threads differ from 1 thread", qtk_type_name(kt), counts[k][0],
                  counts[k][1]);
            CHECK(memcmp(lt, lg, sizeof(float) * (size_t)(T * V)) == 0,
                  "%s cache: token logits with %d/%d threads differ from 1 thread", qtk_type_name(kt), counts[k][0],
                  counts[k][1]);
        }
        free(lt);
        free(lb);
    }
    /* errors */
    st = qtk_decode(c, toks, 60, 0, NULL, &err);
    CHECK(st == QTK_ERR_INVALID_ARG, "context overflow must fail");
    qtk_context_reset(c);
    int32_t bad = 4096;
    st = qtk_decode(c, &bad, 1, 0, NULL, &err);
    CHECK(st == QTK_ERR_INVALID_ARG, "token outside the vocabulary must fail");
    qtk_context_free(c);
    qtk_model_free(m);
    free(ref);
    free(lg);
    free(lg1);
    free(path);
    return tl_finish("test_forward");
}
