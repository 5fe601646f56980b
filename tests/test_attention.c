/*
 * test_attention.c — attention (src/model/attention.c and the kernels of
 * src/types/attn_kernels*.c) against a double-precision reference on random
 * data, written here from the definition:
 *   out[t][h] = sum_s softmax_s(cap(scale * q[t][h] . k[s][g])) v[s][g],
 *   g = h / (n_head / n_head_kv), s over the positions the query may see.
 *
 * The reference reads the keys and values as the cache stores them (F16
 * rounded when the cache is F16), so what is measured is qtk's arithmetic:
 * tolerance max |out - ref| <= 2.5e-6 * max |v| (achieved, worst of all
 * cases and ISA levels on x86-64: 1.31e-6 F32 cache, 1.20e-6 F16 cache; NEON
 * under qemu: 1.34e-6 / 1.47e-6; the
 * largest errors come from the sharp-score variants, where F32 rounding of
 * scores of ~10 dominates). A second check against the unrounded values
 * bounds what F16 storage costs: <= 4e-3 * max |v| (achieved 1.71e-3).
 *
 * Covered: n_head/n_head_kv in {1,2,4,8,12,16}/{1,2} (GQA groups of 1..16,
 * groups above 8 split in chunks), head_dim 64, 128, 80, 36 and 18 (tails of
 * the 16-, 8- and 4-lane kernels), contexts 1, B-1, B, B+1, 3B+5, 16B+7 for the
 * block size B, sliding window off and on (smaller and larger than B),
 * softcap, both cache types, one token / a batch after n_past cached
 * positions / a whole prompt; every ISA level this CPU has. Positions no
 * query may see are filled with NaN: reading them would poison the output.
 * Plus: 1, 2 and 3 threads and one batch vs token by token give bit-identical
 * outputs; the kernels' rows do not depend on how many rows share a call;
 * scratch does not grow with the context; bad shapes are refused.
 */
#include "testlib.h"

#include "core/threadpool.h"
#include "model/attention.h"
#include "types/attn_kernels.h"

#include <math.h>

typedef struct acase {
    int64_t n_head, n_head_kv, head_dim;
    int64_t n_ctx;       /* positions n_past + n_tok                */
    int64_t n_tok;       /* queries (the last n_tok positions)       */
    int64_t window;
    float softcap, scale;
    qtk_type kvt;
} acase;

static tl_rng g_rng;

static float nanf_(void) { return (float)NAN; }

/* Stored value of x (what the cache keeps). */
static double stored(float x, qtk_type t) { return t == QTK_TYPE_F16 ? qtk_fp16_to_fp32(qtk_fp32_to_fp16(x)) : x; }

/* out: n_tok rows of n_head*hd doubles. rounded: use the stored values. */
static void reference(const acase *c, const float *q, const float *k, const float *v, int rounded, double *out) {
    const int64_t hd = c->head_dim, nkv = c->n_head_kv * hd, nq = c->n_head * hd, G = c->n_head / c->n_head_kv;
    const int64_t n_past = c->n_ctx - c->n_tok;
    double *w = (double *)malloc(sizeof(double) * (size_t)c->n_ctx);
    for (int64_t t = 0; t < c->n_tok; t++) {
        const int64_t pos = n_past + t, lo = c->window > 0 ? (pos - c->window + 1 > 0 ? pos - c->window + 1 : 0) : 0;
        for (int64_t h = 0; h < c->n_head; h++) {
            const int64_t g = h / G;
            double mx = -INFINITY;
            for (int64_t s = lo; s <= pos; s++) {
                double d = 0;
                for (int64_t i = 0; i < hd; i++) {
                    const float kk = k[s * nkv + g * hd + i];
                    d += (double)q[t * nq + h * hd + i] * (rounded ? stored(kk, c->kvt) : (double)kk);
                }
                d *= c->scale;
                if (c->softcap > 0) d = c->softcap * tanh(d / c->softcap);
                w[s] = d;
                if (d > mx) mx = d;
            }
            double sum = 0;
            for (int64_t s = lo; s <= pos; s++) {
                w[s] = exp(w[s] - mx);
                sum += w[s];
            }
            for (int64_t i = 0; i < hd; i++) {
                double o = 0;
                for (int64_t s = lo; s <= pos; s++) {
                    const float vv = v[s * nkv + g * hd + i];
                    o += w[s] * (rounded ? stored(vv, c->kvt) : (double)vv);
                }
                out[t * nq + h * hd + i] = o / sum;
            }
        }
    }
    free(w);
}

typedef struct arun {
    qtk_kv_cache kv;
    float *q, *k, *v, *out;
} arun;

/* Random q/k/v for case c; the cache holds n_ctx + 3 positions, layer 1 of 2
 * is used, everything no query may see is NaN. */
static int setup(const acase *c, arun *r) {
    memset(r, 0, sizeof *r);
    const int64_t hd = c->head_dim, nkv = c->n_head_kv * hd, nq = c->n_head * hd, cap = c->n_ctx + 3;
    qtk_error err;
    if (qtk_kv_cache_init(&r->kv, 2, cap, c->n_head_kv, hd, c->kvt, c->kvt, &err) != QTK_OK) return 0;
    r->q = (float *)malloc(sizeof(float) * (size_t)(c->n_tok * nq));
    r->k = (float *)malloc(sizeof(float) * (size_t)(cap * nkv));
    r->v = (float *)malloc(sizeof(float) * (size_t)(cap * nkv));
    r->out = (float *)malloc(sizeof(float) * (size_t)(c->n_tok * nq));
    for (int64_t i = 0; i < c->n_tok * nq; i++) r->q[i] = tl_rng_normal(&g_rng);
    for (int64_t i = 0; i < cap * nkv; i++) {
        r->k[i] = tl_rng_normal(&g_rng);
        r->v[i] = 2.0f * tl_rng_uniform(&g_rng) - 1.0f;
    }
    const int64_t n_past = c->n_ctx - c->n_tok;
    const int64_t first_lo = c->window > 0 && n_past - c->window + 1 > 0 ? n_past - c->window + 1 : 0;
    for (int64_t s = 0; s < cap; s++)
        if (s >= c->n_ctx || s < first_lo)
            for (int64_t i = 0; i < nkv; i++) r->k[s * nkv + i] = r->v[s * nkv + i] = nanf_();
    qtk_kv_store(&r->kv, 1, 0, r->k, r->v, cap);
    /* layer 0 holds other (finite) data: a wrong layer offset shows */
    for (int64_t i = 0; i < cap * nkv; i++) r->k[i] = -r->k[i];
    qtk_kv_store(&r->kv, 0, 0, r->k, r->v, cap);
    for (int64_t i = 0; i < cap * nkv; i++) r->k[i] = -r->k[i];
    return 1;
}

static void teardown(arun *r) {
    qtk_kv_cache_free(&r->kv);
    free(r->q);
    free(r->k);
    free(r->v);
    free(r->out);
}

static qtk_status run_attn(qtk_pool *pool, int threads, const acase *c, arun *r, qtk_attn_ws *ws, int64_t t0,
                           int64_t nt, qtk_error *err) {
    qtk_exec e;
    memset(&e, 0, sizeof e);
    e.pool = pool;
    e.n_gen = e.n_batch = threads;
    const qtk_attn_params p = {.n_head = c->n_head, .n_head_kv = c->n_head_kv, .head_dim = c->head_dim,
                               .scale = c->scale, .window = c->window, .softcap = c->softcap};
    const int64_t nq = c->n_head * c->head_dim, n_past = c->n_ctx - c->n_tok;
    return qtk_attention(&e, ws, &r->kv, 1, &p, r->q + t0 * nq, nt, n_past + t0, r->out + t0 * nq, err);
}

static double worst_f32 = 0, worst_f16 = 0, worst_unrounded = 0;
static int n_cases = 0;

/* Runs case c on pool (threads) and checks it against the reference. */
static void check_case(qtk_pool *pool, int threads, const acase *c, const char *isa) {
    arun r;
    if (!setup(c, &r)) {
        CHECK(0, "setup failed");
        return;
    }
    qtk_attn_ws ws = {0};
    qtk_error err;
    qtk_status st = run_attn(pool, threads, c, &r, &ws, 0, c->n_tok, &err);
    CHECK(st == QTK_OK, "attention: %s", err.msg);
    const int64_t hd = c->head_dim, nq = c->n_head * hd;
    double *ref = (double *)malloc(sizeof(double) * (size_t)(c->n_tok * nq));
    double *ref_u = (double *)malloc(sizeof(double) * (size_t)(c->n_tok * nq));
    reference(c, r.q, r.k, r.v, 1, ref);
    if (c->kvt == QTK_TYPE_F16) reference(c, r.q, r.k, r.v, 0, ref_u);
    /* |v| <= 1: errors are relative to max |v| (separate loops: aarch64 gcc 12 -O3
     * crashes vectorizing them as one) */
    double worst = 0, worst_u = 0;
    int finite = 1;
    for (int64_t i = 0; i < c->n_tok * nq; i++)
        if (!isfinite(r.out[i])) finite = 0;
    for (int64_t i = 0; i < c->n_tok * nq; i++) {
        const double d = fabs((double)r.out[i] - ref[i]);
        if (d > worst) worst = d;
    }
    if (c->kvt == QTK_TYPE_F16)
        for (int64_t i = 0; i < c->n_tok * nq; i++) {
            const double d = fabs((double)r.out[i] - ref_u[i]);
            if (d > worst_u) worst_u = d;
        }
    CHECK(finite, "[%s] %lld/%lld heads, hd %lld, ctx %lld, %lld queries, window %lld, softcap %g, %s: "
                  "non-finite output (a masked NaN position was read)",
          isa, (long long)c->n_head, (long long)c->n_head_kv, (long long)hd, (long long)c->n_ctx,
          (long long)c->n_tok, (long long)c->window, c->softcap, qtk_type_name(c->kvt));
    CHECK(worst <= 2.5e-6, "[%s] %lld/%lld heads, hd %lld, ctx %lld, %lld queries, window %lld, softcap %g, %s: "
                         "max error %.3g (tolerance 2.5e-6)",
          isa, (long long)c->n_head, (long long)c->n_head_kv, (long long)hd, (long long)c->n_ctx,
          (long long)c->n_tok, (long long)c->window, c->softcap, qtk_type_name(c->kvt), worst);
    if (c->kvt == QTK_TYPE_F16) {
        CHECK(worst_u <= 4e-3, "[%s] F16 cache vs unrounded values: %.3g (tolerance 4e-3)", isa, worst_u);
        worst_f16 = fmax(worst_f16, worst);
        worst_unrounded = fmax(worst_unrounded, worst_u);
    } else {
        worst_f32 = fmax(worst_f32, worst);
    }
    /* scratch is per thread and per block, whatever the context */
    CHECK(ws.cap == (size_t)qtk_pool_size(pool) * QTK_ATTN_MAX_ROWS * QTK_ATTN_BLOCK, "scratch of %zu floats",
          ws.cap);
    n_cases++;
    qtk_attn_ws_free(&ws);
    free(ref);
    free(ref_u);
    teardown(&r);
}

static void test_reference(qtk_pool *pool) {
    static const int64_t heads[][2] = {{1, 1}, {2, 1}, {2, 2}, {4, 1}, {4, 2}, {8, 1}, {8, 2}, {12, 1}, {16, 2}};
    static const int64_t dims[] = {64, 128, 80, 36, 18};
    const int64_t B = QTK_ATTN_BLOCK;
    const int64_t ctxs[] = {1, B - 1, B, B + 1, 3 * B + 5};
    static const qtk_isa isas[] = {QTK_ISA_SCALAR, QTK_ISA_AVX2, QTK_ISA_AVX512, QTK_ISA_NEON};
    /* QTK_TEST_QUICK=1 (sanitizers, qemu): only the widest level; the others run natively. */
    const int quick_mode = tl_quick();
    int k = 0;
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        if (!qtk_isa_available(isas[ii])) continue;
        qtk_set_max_isa(isas[ii]);
        const int full = isas[ii] == QTK_ISA_AVX512 || (isas[ii] == QTK_ISA_AVX2 && !qtk_isa_available(QTK_ISA_AVX512)) ||
                         isas[ii] == QTK_ISA_NEON;
        if (quick_mode && !full) continue;
        for (size_t hi = 0; hi < sizeof heads / sizeof heads[0]; hi++)
            for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
                /* the widest level sees every shape, the others a subset */
                if (!full && (hi % 2 == 1 || (dims[di] != 64 && dims[di] != 18 && dims[di] != 36))) continue;
                for (size_t ci = 0; ci < sizeof ctxs / sizeof ctxs[0]; ci++)
                    for (int kt = 0; kt < 2; kt++, k++) {
                        acase c = {.n_head = heads[hi][0], .n_head_kv = heads[hi][1], .head_dim = dims[di],
                                   .n_ctx = ctxs[ci], .kvt = kt ? QTK_TYPE_F16 : QTK_TYPE_F32};
                        c.scale = (float)(1.0 / sqrt((double)c.head_dim));
                        /* variants in turn: plain, window < B, softcap + sharper scores, window > B */
                        switch (k / 2 % 4) {  /* k / 2: both cache types see every variant */
                        case 1: c.window = 17; break;
                        case 2:
                            c.softcap = 3.0f;
                            c.scale *= 4.0f;
                            break;
                        case 3:
                            c.window = B + 6;
                            c.scale *= 3.0f;
                            break;
                        default: break;
                        }
                        /* one token, a batch after cached positions, or the whole prompt */
                        const int mode = k / 8 % 3;
                        c.n_tok = mode == 0 ? 1 : mode == 1 ? QTK_MIN(c.n_ctx, 7) : c.n_ctx;
                        check_case(pool, qtk_pool_size(pool), &c, qtk_isa_name(isas[ii]));
                    }
            }
    }
    qtk_set_max_isa(QTK_ISA_COUNT);
    /* a long context: 16 blocks + 7, the last 7 positions queried */
    for (int kt = 0; kt < 2; kt++)
        for (int sharp = 0; sharp < 2; sharp++) {
            acase c = {.n_head = 4, .n_head_kv = 2, .head_dim = 64, .n_ctx = 16 * B + 7, .n_tok = 7,
                       .scale = sharp ? 0.5f : 0.125f, .kvt = kt ? QTK_TYPE_F16 : QTK_TYPE_F32};
            check_case(pool, qtk_pool_size(pool), &c, "best");
        }
    printf("  %d cases vs double reference: worst error / max|v| %.3g (f32 cache), %.3g (f16 cache, stored values), "
           "%.3g (f16 cache vs unrounded)\n",
           n_cases, worst_f32, worst_f16, worst_unrounded);
}

/* 1, 2, 3 threads and token-by-token give bit-identical outputs. */
static void test_identity(void) {
    const int64_t B = QTK_ATTN_BLOCK;
    static const int64_t heads[][2] = {{8, 2}, {4, 1}, {12, 1}, {2, 2}};
    for (size_t hi = 0; hi < sizeof heads / sizeof heads[0]; hi++)
        for (int kt = 0; kt < 2; kt++) {
            acase c = {.n_head = heads[hi][0], .n_head_kv = heads[hi][1], .head_dim = 64, .n_ctx = 2 * B + 9,
                       .n_tok = 2 * B + 9, .window = hi == 1 ? B / 2 + 3 : 0, .softcap = hi == 2 ? 10.0f : 0.0f,
                       .kvt = kt ? QTK_TYPE_F16 : QTK_TYPE_F32};
            c.scale = 0.25f;
            arun r;
            if (!setup(&c, &r)) {
                CHECK(0, "setup");
                continue;
            }
            const size_t bytes = sizeof(float) * (size_t)(c.n_tok * c.n_head * c.head_dim);
            float *first = (float *)malloc(bytes);
            qtk_error err;
            for (int nt = 1; nt <= 3; nt++) {
                qtk_pool *pool = NULL;
                CHECK(qtk_pool_create(nt, &pool, &err) == QTK_OK, "pool: %s", err.msg);
                qtk_attn_ws ws = {0};
                memset(r.out, 0, bytes);
                CHECK(run_attn(pool, nt, &c, &r, &ws, 0, c.n_tok, &err) == QTK_OK, "attention: %s", err.msg);
                if (nt == 1) memcpy(first, r.out, bytes);
                else
                    CHECK(memcmp(first, r.out, bytes) == 0, "%lld/%lld heads, %s: %d threads differ from 1",
                          (long long)c.n_head, (long long)c.n_head_kv, qtk_type_name(c.kvt), nt);
                if (nt == 2) {  /* token by token, then in uneven batches: same bits as one batch */
                    memset(r.out, 0, bytes);
                    for (int64_t t = 0; t < c.n_tok; t++) run_attn(pool, nt, &c, &r, &ws, t, 1, &err);
                    CHECK(memcmp(first, r.out, bytes) == 0, "%lld/%lld heads, %s: token by token differs from a batch",
                          (long long)c.n_head, (long long)c.n_head_kv, qtk_type_name(c.kvt));
                    memset(r.out, 0, bytes);
                    for (int64_t t = 0; t < c.n_tok; t += 5)
                        run_attn(pool, nt, &c, &r, &ws, t, QTK_MIN(5, c.n_tok - t), &err);
                    CHECK(memcmp(first, r.out, bytes) == 0, "%lld/%lld heads, %s: batches of 5 differ from one batch",
                          (long long)c.n_head, (long long)c.n_head_kv, qtk_type_name(c.kvt));
                }
                qtk_attn_ws_free(&ws);
                qtk_pool_free(pool);
            }
            free(first);
            teardown(&r);
        }
}

/* Each kernel row equals the same row computed alone (any nr), per ISA. */
static void test_kernel_rows(void) {
    static const qtk_isa isas[] = {QTK_ISA_SCALAR, QTK_ISA_AVX2, QTK_ISA_AVX512, QTK_ISA_NEON};
    enum { HD = 76, NK = 13 };  /* 76: tails of the 16-, 8- and 4-lane loops */
    const int64_t hd = HD, nk = NK;
    float q[QTK_ATTN_MAX_ROWS][HD], o[QTK_ATTN_MAX_ROWS][HD], o1[HD], s[QTK_ATTN_MAX_ROWS * 16], s1[16],
        p[QTK_ATTN_MAX_ROWS * 16];
    float kf[NK * HD];
    uint16_t kh[NK * HD];
    for (int i = 0; i < QTK_ATTN_MAX_ROWS * HD; i++) q[i / HD][i % HD] = tl_rng_normal(&g_rng);
    for (int i = 0; i < NK * HD; i++) {
        kf[i] = tl_rng_normal(&g_rng);
        kh[i] = qtk_fp32_to_fp16(kf[i]);
    }
    for (int i = 0; i < QTK_ATTN_MAX_ROWS * 16; i++) p[i] = tl_rng_uniform(&g_rng);
    int checked = 0;
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++)
        for (int f16 = 0; f16 < 2; f16++) {
            const int t = f16 ? QTK_TYPE_F16 : QTK_TYPE_F32;
            qtk_attn_qk_fn qk = qtk_attn_qk_get(t, isas[ii]);
            qtk_attn_pv_fn pv = qtk_attn_pv_get(t, isas[ii]);
            if (!qtk_isa_available(isas[ii])) {
                CHECK(!qk && !pv, "%s: kernels returned for an unavailable level", qtk_isa_name(isas[ii]));
                continue;
            }
            CHECK(qk && pv, "%s: no kernel", qtk_isa_name(isas[ii]));
            if (!qk || !pv) continue;
            const void *kv = f16 ? (const void *)kh : (const void *)kf;
            for (int nr = 1; nr <= QTK_ATTN_MAX_ROWS; nr++) {
                const float *qr[QTK_ATTN_MAX_ROWS];
                float *orow[QTK_ATTN_MAX_ROWS];
                for (int r = 0; r < nr; r++) {
                    qr[r] = q[r];
                    orow[r] = o[r];
                    for (int i = 0; i < HD; i++) o[r][i] = 0.5f;
                }
                qk(hd, nr, qr, nk, kv, s, 16);
                pv(hd, nr, p, 16, nk, kv, orow);
                for (int r = 0; r < nr; r++) {
                    const float *q1[1] = {q[r]};
                    float *op[1] = {o1};
                    for (int i = 0; i < HD; i++) o1[i] = 0.5f;
                    qk(hd, 1, q1, nk, kv, s1, 16);
                    pv(hd, 1, p + r * 16, 16, nk, kv, op);
                    CHECK(memcmp(s1, s + r * 16, sizeof(float) * (size_t)nk) == 0 && memcmp(o1, o[r], sizeof o1) == 0,
                          "%s %s: row %d of %d differs from the row alone", qtk_isa_name(isas[ii]),
                          qtk_type_name(t), r, nr);
                    checked++;
                }
            }
        }
    CHECK(checked >= 2 * 36, "rows checked: %d", checked);
}

/* The softmax helpers of every level: scale_max exact, exp_sum within
 * 3e-7 relative of exp() in double (achieved 1.1e-7 over all levels; libm
 * expf on the scalar level), 0 for -inf. */
static void test_softmax_helpers(void) {
    static const qtk_isa isas[] = {QTK_ISA_SCALAR, QTK_ISA_AVX2, QTK_ISA_AVX512, QTK_ISA_NEON};
    enum { N = 203 };
    float x[N], s[N], want_s[N];
    double worst = 0;
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        qtk_attn_scale_max_fn sm = qtk_attn_scale_max_get(isas[ii]);
        qtk_attn_exp_sum_fn es = qtk_attn_exp_sum_get(isas[ii]);
        if (!qtk_isa_available(isas[ii])) continue;
        CHECK(sm && es, "%s: no softmax helpers", qtk_isa_name(isas[ii]));
        if (!sm || !es) continue;
        for (int n = 1; n <= N; n += (n < 40 ? 1 : 27)) {
            float mx = -INFINITY;
            for (int j = 0; j < n; j++) {
                x[j] = 30.0f * tl_rng_normal(&g_rng);
                want_s[j] = x[j] * 0.37f;
                mx = want_s[j] > mx ? want_s[j] : mx;
                s[j] = x[j];
            }
            const float got = sm(n, s, 0.37f);
            CHECK(got == mx && memcmp(s, want_s, sizeof(float) * (size_t)n) == 0, "%s scale_max n=%d: %g vs %g",
                  qtk_isa_name(isas[ii]), n, got, mx);
            /* exp of s - max over [-inf, 0]: one -inf, the rest spread down to about -250 */
            if (n > 3) s[n / 2] = -INFINITY;
            double sum = 0;
            for (int j = 0; j < n; j++) {
                x[j] = s[j];
                sum += exp((double)(s[j] - mx));  /* the float difference is the kernels' argument */
            }
            const float gsum = es(n, s, mx);
            int ok = 1;
            for (int j = 0; j < n; j++) {
                const double e = exp((double)(x[j] - mx));
                if (e < 1e-37) {
                    ok &= s[j] >= 0.0f && s[j] < 1e-37f;
                    continue;
                }
                const double rel = fabs((double)s[j] - e) / e;
                worst = fmax(worst, rel);
                ok &= rel <= 3e-7;
            }
            CHECK(ok, "%s exp_sum n=%d: element error above 3e-7 relative", qtk_isa_name(isas[ii]), n);
            CHECK(fabs((double)gsum - sum) <= 1e-6 * sum, "%s exp_sum n=%d: sum %.9g vs %.9g",
                  qtk_isa_name(isas[ii]), n, gsum, sum);
        }
    }
    printf("  softmax helpers: worst exp relative error %.3g\n", worst);
}

/* SwiGLU of every level against silu(g)·u in double: relative error within
 * 3e-7 (achieved 1.44e-7 over all levels: the exp polynomial's error, the
 * division's and the product's rounding), or 1e-35·|u| absolute where the
 * value is that small; lengths
 * 1..40 and 203 (every SIMD tail), gates across exp's range and past both ends
 * (±87.3, ±88, ±100, ±1e30), NaN kept. */
static void test_swiglu(void) {
    static const qtk_isa isas[] = {QTK_ISA_SCALAR, QTK_ISA_AVX2, QTK_ISA_AVX512, QTK_ISA_NEON};
    static const float edge[] = {0.0f,   -0.0f,  1e-30f, -1e-30f, 1.0f,  -1.0f,  20.0f,  -20.0f,  87.0f, -87.0f, 87.3f,
                                 -87.3f, 87.5f,  -87.5f, 88.0f,   -88.0f, 88.5f, -88.5f, 100.0f, -100.0f, 1e30f, -1e30f};
    enum { N = 203 };
    float g[N], u[N], y[N];
    double worst = 0;
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        if (!qtk_isa_available(isas[ii])) continue;
        qtk_swiglu_fn f = qtk_swiglu_get(isas[ii]);
        CHECK(f != NULL, "%s: no swiglu", qtk_isa_name(isas[ii]));
        if (!f) continue;
        for (int n = 1; n <= N; n += (n < 40 ? 1 : 163)) {
            for (int j = 0; j < n; j++) {
                g[j] = j % 3 == 0 ? edge[(j / 3 + n) % (sizeof edge / sizeof edge[0])] : 6.0f * tl_rng_normal(&g_rng);
                u[j] = j % 7 == 3 ? 1e3f : tl_rng_normal(&g_rng);
                y[j] = g[j];
            }
            f(n, y, u);
            int ok = 1;
            for (int j = 0; j < n; j++) {
                const double want = (double)g[j] / (1.0 + exp(-(double)g[j])) * (double)u[j];
                const double err = fabs((double)y[j] - want);
                if (fabs(want) >= 1e-30) worst = fmax(worst, err / fabs(want));
                ok &= err <= 3e-7 * fabs(want) + 1e-35 * fabs((double)u[j]);
            }
            CHECK(ok, "%s swiglu n=%d: an element off silu(g)*u by more than 3e-7 relative", qtk_isa_name(isas[ii]), n);
        }
        y[0] = NAN;
        u[0] = 1.0f;
        f(1, y, u);
        CHECK(isnan(y[0]), "%s swiglu: NaN gate gave %g", qtk_isa_name(isas[ii]), y[0]);
    }
    printf("  swiglu: worst relative error %.3g\n", worst);
}

static void test_errors(qtk_pool *pool) {
    acase c = {.n_head = 4, .n_head_kv = 2, .head_dim = 64, .n_ctx = 8, .n_tok = 8, .scale = 0.125f,
               .kvt = QTK_TYPE_F16};
    arun r;
    if (!setup(&c, &r)) return;
    qtk_attn_ws ws = {0};
    qtk_error err;
    qtk_exec e;
    memset(&e, 0, sizeof e);
    e.pool = pool;
    e.n_gen = e.n_batch = 1;
    qtk_attn_params p = {.n_head = 4, .n_head_kv = 2, .head_dim = 64, .scale = 0.125f};
    CHECK(qtk_attention(&e, &ws, &r.kv, 1, &p, r.q, 8, 4, r.out, &err) == QTK_ERR_INVALID_ARG,
          "positions beyond the cache must be refused");
    CHECK(qtk_attention(&e, &ws, &r.kv, 2, &p, r.q, 1, 0, r.out, &err) == QTK_ERR_INVALID_ARG,
          "a layer beyond the cache must be refused");
    p.head_dim = 32;
    CHECK(qtk_attention(&e, &ws, &r.kv, 1, &p, r.q, 1, 0, r.out, &err) == QTK_ERR_INVALID_ARG,
          "a head size other than the cache's must be refused");
    p.head_dim = 64;
    p.n_head = 3;
    CHECK(qtk_attention(&e, &ws, &r.kv, 1, &p, r.q, 1, 0, r.out, &err) == QTK_ERR_INVALID_ARG &&
              strstr(err.msg, "3/2 heads") != NULL,
          "3 query heads on 2 KV heads must be refused: %s", err.msg);
    qtk_kv_cache bad;
    CHECK(qtk_kv_cache_init(&bad, 1, 4, 1, 64, QTK_TYPE_Q8_0, QTK_TYPE_F16, &err) == QTK_ERR_INVALID_ARG &&
              strstr(err.msg, "q8_0") != NULL,
          "a q8_0 cache must be refused naming the type: %s", err.msg);
    qtk_attn_ws_free(&ws);
    teardown(&r);
}

int main(void) {
    tl_rng_seed(&g_rng, 20261202);
    qtk_pool *pool = NULL;
    qtk_error err;
    if (qtk_pool_create(2, &pool, &err) != QTK_OK) {
        CHECK(0, "pool: %s", err.msg);
        return tl_finish("test_attention");
    }
    test_kernel_rows();
    test_softmax_helpers();
    test_swiglu();
    test_reference(pool);
    test_identity();
    test_errors(pool);
    qtk_pool_free(pool);
    return tl_finish("test_attention");
}
