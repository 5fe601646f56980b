/*
 * test_iqk.c — what the generic tests cannot see for the IQ2_K … IQ6_K family:
 *  - IQ6_K's dot products use the 64-entry integer grid (as the reference's
 *    kernels do) while its to_float follows the reference's cubic polynomial;
 *    so every IQ6_K dot path is checked against a double-precision dot of the
 *    table-decoded weights, and the two decoders are checked to stay within
 *    half a grid step of each other.
 *  - every type's dot paths agree with a double dot of its decoded weights
 *    when the activations contain large int8 values (where saturating 16-bit
 *    accumulation would go wrong).
 */
#include "testlib.h"
#include "types/iqk.h"
#include "types/grids.h"
#include "types/iquants.h"

#include <math.h>

#define NPR 1024 /* weights per row: 4 super-blocks */

/* |a − b| ≤ tol·max(|b|, Σ|w_i a_i|). */
static int close_rel(double a, double b, double absum, double tol) {
    const double scale = fmax(fabs(b), absum);
    return fabs(a - b) <= tol * scale;
}

static void fill_row(tl_rng *r, float *x, int kind) {
    for (int i = 0; i < NPR; i++) {
        float v = tl_rng_normal(r);
        if (kind == 1 && (i % 97) == 0) v *= 30.0f; /* outliers */
        if (kind == 2) v = (i % 2) ? 1.0f : -1.0f;  /* dense, large activations */
        x[i] = v;
    }
}

/* Checks every available dot path of `type` against a double dot with the
 * weights produced by `decode`. */
static void check_dots(int type, void (*decode)(const void *, float *, int64_t), const char *what) {
    const qtk_type_traits *tr = qtk_type_get(type);
    CHECK(tr && tr->vec_dot[QTK_ISA_SCALAR], "%s: no scalar dot", what);
    if (!tr || !tr->vec_dot[QTK_ISA_SCALAR]) return;
    const size_t rs = qtk_row_size(type, NPR);
    unsigned char *q = malloc(rs);
    qtk_block_q8_K *act = malloc(sizeof(qtk_block_q8_K) * (NPR / QK_K));
    float *x = malloc(sizeof(float) * NPR), *w = malloc(sizeof(float) * NPR), *a = malloc(sizeof(float) * NPR);
    tl_rng r;
    tl_rng_seed(&r, 1234u + (unsigned)type);
    for (int trial = 0; trial < 12; trial++) {
        fill_row(&r, x, trial % 2);
        CHECK(tr->quantize(x, q, 1, NPR, NULL) == rs, "%s: quantize size", what);
        fill_row(&r, x, trial % 3 == 2 ? 2 : trial % 2);
        qtk_q8_K_from_float(x, act, NPR);
        decode(q, w, NPR);
        qtk_q8_K_to_float(act, a, NPR);
        double ref = 0, absum = 0;
        for (int i = 0; i < NPR; i++) {
            ref += (double)w[i] * a[i];
            absum += fabs((double)w[i] * a[i]);
        }
        for (int isa = 0; isa < QTK_ISA_COUNT; isa++) {
            if (!tr->vec_dot[isa] || !qtk_isa_available((qtk_isa)isa)) continue;
            float got = 0;
            tr->vec_dot[isa](NPR, &got, q, act);
            CHECK(close_rel(got, ref, absum, 1e-5), "%s %s trial %d: dot %.9g vs table dot %.9g", what,
                  qtk_isa_name((qtk_isa)isa), trial, got, ref);
        }
    }
    free(q);
    free(act);
    free(x);
    free(w);
    free(a);
}

/* The polynomial decoder and the table decoder differ by < 0.5 grid units. */
static void check_iq6_decoders(void) {
    const size_t rs = qtk_row_size(QTK_TYPE_IQ6_K, NPR);
    unsigned char *q = malloc(rs);
    float *x = malloc(sizeof(float) * NPR), *yp = malloc(sizeof(float) * NPR), *yt = malloc(sizeof(float) * NPR);
    tl_rng r;
    tl_rng_seed(&r, 99);
    fill_row(&r, x, 1);
    qtk_iq6_k_quantize(x, q, 1, NPR, NULL);
    qtk_iq6_k_to_float(q, yp, NPR);
    qtk_iq6_k_to_float_table(q, yt, NPR);
    int differ = 0;
    for (int ib = 0; ib < NPR / QK_K; ib++) {
        const unsigned char *b = q + (size_t)ib * QTK_IQ6_K_SIZE;
        uint16_t dh;
        memcpy(&dh, b, 2);
        const float d = qtk_fp16_to_fp32(dh);
        for (int i = 0; i < QK_K; i++) {
            const float unit = fabsf(d * (float)(int8_t)b[4 + i / 16]);
            const int k = ib * QK_K + i;
            CHECK(fabsf(yp[k] - yt[k]) <= 0.49f * unit + 1e-30f, "iq6_k weight %d: poly %.9g table %.9g", k,
                  yp[k], yt[k]);
            differ += yp[k] != yt[k];
        }
    }
    CHECK(differ > 0, "iq6_k: the polynomial decoder should not equal the table decoder everywhere");
    free(q);
    free(x);
    free(yp);
    free(yt);
}

/* SIMD levels to compare with the scalar loops: every one this CPU has (an AVX-512
 * machine checks its AVX2 twins too, under qtk_set_max_isa). */
static const qtk_isa g_levels[] = {QTK_ISA_AVX2, QTK_ISA_AVX512, QTK_ISA_NEON};
#define N_LEVELS (sizeof g_levels / sizeof g_levels[0])

/* The quantizer's window-search error (IQ2_K/IQ3_K effort default): each
 * SIMD twin returns the scalar function's float bit for bit and the same indices,
 * the indices are nearest()'s (ties up), the float is the weighted error. Ties are
 * made exact with a power-of-two scale: t = x / dl lands on the midpoint itself. */
static void check_window_error(void) {
    static const struct {
        const int8_t *grid;
        int nv;
    } grids[] = {{qtk_iq2nl_values, 4}, {qtk_iq3nl_values, 8}};
    qtk_iqk_sub_error_fn twins[N_LEVELS];
    int n_twins = 0;
    for (size_t li = 0; li < N_LEVELS; li++) {
        if (!qtk_isa_available(g_levels[li])) continue;
        qtk_set_max_isa(g_levels[li]);
        const qtk_iqk_sub_error_fn f = qtk_iqk_sub_error_pick();
        if (f != qtk_iqk_sub_error_scalar) twins[n_twins++] = f;
    }
    qtk_set_max_isa(QTK_ISA_COUNT);
    tl_rng r;
    tl_rng_seed(&r, 1205);
    int n_cases = 0, n_ties = 0;
    for (size_t gi = 0; gi < sizeof grids / sizeof grids[0]; gi++) {
        for (int sh = 0; sh < 2; sh++) {
            const int nv = grids[gi].nv;
            const int8_t *g = grids[gi].grid + sh * nv;
            qtk_grid_lut lut;
            qtk_grid_lut_init(&lut, g, nv);
            float T[8];
            for (int i = 0; i < nv; i++) T[i] = (float)g[i];
            for (int it = 0; it < 4000; it++) {
                float x[16], w[16];
                const int kind = it % 4;
                float dl = (kind == 3 ? 0.25f : 0.001f + 0.05f * tl_rng_uniform(&r)) * (it % 8 < 4 ? 1.0f : -1.0f);
                for (int k = 0; k < 16; k++) {
                    x[k] = 0.02f * tl_rng_normal(&r) * (kind == 1 && k == 5 ? 40.0f : 1.0f);
                    if (kind == 2 && k % 4 == 0) x[k] = 0.0f;
                    if (kind == 3) { /* every fourth weight exactly on a midpoint */
                        const int m = (int)(tl_rng_uniform(&r) * (float)(nv - 1)) % (nv - 1);
                        x[k] = k % 4 == 1 ? lut.mid[m] * dl : (float)g[k % nv] * dl * 0.9f;
                    }
                    w[k] = it % 5 == 0 ? 1.0f : 0.01f + tl_rng_uniform(&r) * tl_rng_uniform(&r) * 50.0f;
                }
                uint8_t i_s[16], i_b[16];
                const float e_s = qtk_iqk_sub_error_scalar(lut.mid, T, nv, x, w, dl, i_s);
                for (int tw = 0; tw < n_twins; tw++) {
                    const float e_b = twins[tw](lut.mid, T, nv, x, w, dl, i_b);
                    CHECK(memcmp(&e_s, &e_b, sizeof e_s) == 0 && memcmp(i_s, i_b, 16) == 0,
                          "window error: SIMD twin %d differs (nv %d, case %d): %.9g vs %.9g", tw, nv, it, e_s, e_b);
                }
                double ed = 0.0;
                const float idl = 1.0f / dl;
                for (int k = 0; k < 16; k++) {
                    const float t = idl * x[k];
                    const int l = qtk_grid_lut_nearest(&lut, t);
                    n_ties += t == lut.mid[l > 0 ? l - 1 : 0];
                    CHECK(i_s[k] == l, "window error: index %d of case %d is %d, nearest() says %d", k, it, i_s[k], l);
                    const double d = (double)x[k] - (double)dl * T[l];
                    ed += (double)w[k] * d * d;
                }
                CHECK(fabs(e_s - ed) <= 1e-5 * ed + 1e-30, "window error: %.9g, double sum %.9g", e_s, ed);
                n_cases++;
            }
        }
    }
    CHECK(n_ties > 1000, "window error: only %d exact midpoint ties exercised", n_ties);
    printf("window error: %d cases, %d ties on a midpoint, %d SIMD twins compared\n", n_cases, n_ties, n_twins);
}

/* The large grids' window error (IQ4_K/IQ5_K improvement pass): each SIMD twin returns
 * the scalar function's double bit for bit and the same indices, for both grids of
 * 16 and 32 values, with t = x/dl exactly on midpoints (power-of-two scales), beyond
 * the grids' ends, t = ±inf and NaN (dl so small that 1/dl overflows), zero weights. */
static void check_window_error_large(void) {
    static const struct {
        const int8_t *grid;
        int nv;
    } grids[] = {{qtk_iq4nl_values, 16}, {qtk_iq5nl_values, 32}};
    tl_rng r;
    tl_rng_seed(&r, 1208);
    int n_cases = 0, n_ties = 0, n_twins = 0, n_special = 0;
    for (size_t gi = 0; gi < sizeof grids / sizeof grids[0]; gi++) {
        const int nv = grids[gi].nv;
        qtk_iqk_window_error_fn twins[N_LEVELS];
        int nt = 0;
        for (size_t li = 0; li < N_LEVELS; li++) {
            if (!qtk_isa_available(g_levels[li])) continue;
            qtk_set_max_isa(g_levels[li]);
            const qtk_iqk_window_error_fn f = qtk_iqk_window_error_pick(nv);
            if (f != qtk_iqk_window_error_scalar) twins[nt++] = f;
        }
        qtk_set_max_isa(QTK_ISA_COUNT);
        n_twins += nt;
        for (int sh = 0; sh < 2; sh++) {
            const int8_t *g = grids[gi].grid + sh * nv;
            qtk_grid_lut lut;
            qtk_grid_lut_init(&lut, g, nv);
            float T[32];
            for (int i = 0; i < nv; i++) T[i] = (float)g[i];
            for (int it = 0; it < 3000; it++) {
                const int kind = it % 5;
                float x[16], w[16];
                float dl = (kind == 3 ? 0.25f : 0.0005f + 0.02f * tl_rng_uniform(&r)) * (it % 10 < 5 ? 1.0f : -1.0f);
                if (kind == 4) dl = it % 2 ? 1e-45f : -1e-45f; /* 1/dl = ±inf: t = ±inf, 0·inf = NaN */
                for (int k = 0; k < 16; k++) {
                    x[k] = 0.02f * tl_rng_normal(&r) * (kind == 1 && k == 5 ? 40.0f : 1.0f);
                    if ((kind == 2 || kind == 4) && k % 4 == 0) x[k] = 0.0f;
                    if (kind == 3) { /* every third weight exactly on a midpoint, others past the ends */
                        const int m = (int)(tl_rng_uniform(&r) * (float)(nv - 1)) % (nv - 1);
                        x[k] = k % 3 == 1 ? lut.mid[m] * dl : (float)g[k % nv] * dl * (k % 3 ? 0.9f : 1.3f);
                        n_ties += k % 3 == 1;
                    }
                    w[k] = k % 7 == 3 ? 0.0f : 0.01f + tl_rng_uniform(&r) * tl_rng_uniform(&r) * 50.0f;
                }
                n_special += kind == 4;
                uint8_t i_s[16], i_b[16];
                const double e_s = qtk_iqk_window_error_scalar(&lut, T, nv, x, w, dl, i_s);
                for (int tw = 0; tw < nt; tw++) {
                    const double e_b = twins[tw](&lut, T, nv, x, w, dl, i_b);
                    CHECK(memcmp(&e_s, &e_b, sizeof e_s) == 0 && memcmp(i_s, i_b, 16) == 0,
                          "window error (large): SIMD twin %d differs (nv %d, grid %d, case %d): %.17g vs %.17g", tw,
                          nv, sh, it, e_s, e_b);
                }
                n_cases++;
            }
        }
    }
    CHECK(n_ties > 1000 && n_special > 1000, "window error (large): %d ties, %d inf/NaN cases", n_ties, n_special);
    printf("window error (large grids): %d cases, %d midpoint ties, %d inf/NaN cases, %d (grid, twin) pairs\n",
           n_cases, n_ties, n_special, n_twins);
}

/* The scale search's sums (all IQk quantizers, IQ6_K's 64-value grids too): each
 * SIMD twin (8 or 16 tries per vector) returns the scalar loop's floats bit for
 * bit for every try count (remainder lanes), both grids of a type mixed, ties on
 * a midpoint, zero and outlier weights. */
static void check_scale_sums(void) {
    static const struct {
        const int8_t *grid;
        int nv;
    } grids[] = {{qtk_iq2nl_values, 4},
                 {qtk_iq3nl_values, 8},
                 {qtk_iq4nl_values, 16},
                 {qtk_iq5nl_values, 32},
                 {qtk_iq6nl_values, 64}};
    tl_rng r;
    tl_rng_seed(&r, 1206);
    int n_cases = 0, n_ties = 0, twin = 0;
    for (size_t gi = 0; gi < sizeof grids / sizeof grids[0]; gi++) {
        const int nv = grids[gi].nv;
        qtk_iqk_scale_sums_fn twins[N_LEVELS];
        int n_twins = 0;
        for (size_t li = 0; li < N_LEVELS; li++) {
            if (!qtk_isa_available(g_levels[li])) continue;
            qtk_set_max_isa(g_levels[li]);
            const qtk_iqk_scale_sums_fn f = qtk_iqk_scale_sums_pick(nv);
            if (f != qtk_iqk_scale_sums_scalar) twins[n_twins++] = f;
        }
        qtk_set_max_isa(QTK_ISA_COUNT);
        twin += n_twins;
        qtk_grid_lut lut[2];
        float T[128];
        for (int sh = 0; sh < 2; sh++) {
            qtk_grid_lut_init(&lut[sh], grids[gi].grid + sh * nv, nv);
            for (int i = 0; i < nv; i++) T[sh * nv + i] = (float)grids[gi].grid[sh * nv + i];
        }
        for (int it = 0; it < 600; it++) {
            float x[16], w[16], id[40], s_s[160], s_b[160];
            int shift[40];
            const int n = 1 + it % 40, kind = it % 3;
            for (int k = 0; k < 16; k++) {
                x[k] = 0.02f * tl_rng_normal(&r) * (kind == 1 && k == 3 ? 30.0f : 1.0f);
                if (kind == 2 && k % 5 == 0) x[k] = 0.0f;
                w[k] = 0.01f + 10.0f * tl_rng_uniform(&r) * tl_rng_uniform(&r);
            }
            for (int i = 0; i < n; i++) {
                shift[i] = (int)(tl_rng_uniform(&r) * 2.0f) & 1;
                id[i] = (tl_rng_uniform(&r) - 0.5f) * 4000.0f;
                if (kind == 2 && i % 2 == 0) { /* id·x exactly on a midpoint for x[1] */
                    x[1] = 0.015625f;
                    id[i] = lut[shift[i]].mid[i % (nv - 1)] * 64.0f;
                    n_ties++;
                }
            }
            qtk_iqk_scale_sums_scalar(lut, T, nv, x, w, n, id, shift, s_s);
            for (int tw = 0; tw < n_twins; tw++) {
                twins[tw](lut, T, nv, x, w, n, id, shift, s_b);
                CHECK(memcmp(s_s, s_b, (size_t)(4 * n) * sizeof(float)) == 0,
                      "scale sums: SIMD twin %d differs from the scalar loop (nv %d, %d tries, case %d)", tw, nv, n,
                      it);
            }
            n_cases++;
        }
    }
    CHECK(n_ties > 500, "scale sums: only %d midpoint ties", n_ties);
    printf("scale sums: %d cases, %d ties on a midpoint, %d (grid, SIMD twin) pairs compared\n", n_cases, n_ties, twin);
}

int main(void) {
    check_scale_sums();
    check_window_error();
    check_window_error_large();
    check_iq6_decoders();
    check_dots(QTK_TYPE_IQ6_K, qtk_iq6_k_to_float_table, "iq6_k");
    check_dots(QTK_TYPE_IQ2_K, qtk_iq2_k_to_float, "iq2_k");
    check_dots(QTK_TYPE_IQ3_K, qtk_iq3_k_to_float, "iq3_k");
    check_dots(QTK_TYPE_IQ4_K, qtk_iq4_k_to_float, "iq4_k");
    check_dots(QTK_TYPE_IQ5_K, qtk_iq5_k_to_float, "iq5_k");
    return tl_finish("test_iqk");
}
