/*
 * test_panel.c — the int8 panel path of batched products (types/panel.h).
 *
 * For every type whose activation format can feed a panel:
 *  1. every compiled-in ISA level converts to the same values (its own
 *     panel height: 8 rows, 16 for AVX-512) and its kernel gives exactly
 *     the scalar kernel's floats (same integer sums, same float operations
 *     in the same order), for 1..8 columns and full and partial row groups,
 *     and writes nothing outside its tile;
 *  2. the panel product differs from the type's scalar vec_dot by no more
 *     than the rounding the conversion can add: per 32-block the weights
 *     move by at most d/2 = max|w|/254, so |panel - vec_dot| <=
 *     Σ_b max|w_b|/254 · Σ_k |y_bk| + float rounding (2^-20 · Σ|w||y|).
 *     Types with an exact int8 form (to_int8) must stay within the float
 *     term alone.
 * Weights include the extreme codes (rows of one repeated value, a single
 * outlier); activations at ±max (every value ±1000, so the int8 values are
 * ±127), which would saturate an int16 stage of the AVX2 kernel without
 * the sign trick.
 */
#include "testlib.h"
#include "types/panel.h"

#include <math.h>

#define N 512
#define ROWS 19  /* 8 + 8 + 3 rows, or 16 + 3 */
#define OS (ROWS + 2)
#define WANT_STRIDE (OS * COLS)
#define COLS 8

static int g_types, g_levels;

static void fill_row(tl_rng *rng, int kind, float *x) {
    for (int i = 0; i < N; i++)
        x[i] = kind == 0 ? tl_rng_normal(rng)
               : kind == 1 ? (i == 37 ? 40.0f : 0.01f * tl_rng_normal(rng))
               : kind == 2 ? -0.75f
               : kind == 3 ? (i % 2 ? 1.0f : -1.0f)
                           : 3.0f * tl_rng_normal(rng) * tl_rng_normal(rng);
}

static void test_type(const qtk_type_traits *tr) {
    const qtk_type_traits *vt = qtk_type_get((int)tr->vec_dot_type);
    /* rows 2-byte aligned but not 4 (model rows are whole blocks of even size at 32-aligned data) */
    const size_t rs = qtk_row_size((int)tr->id, N), ws = rs + 6;
    const size_t as = qtk_row_size((int)vt->id, N) + 4;
    unsigned char *w = (unsigned char *)calloc(ROWS, ws), *a = (unsigned char *)calloc(COLS, as);
    float *x = (float *)malloc(sizeof(float) * N), *im = (float *)malloc(sizeof(float) * N);
    float *wf = (float *)malloc(sizeof(float) * N * ROWS), *yf = (float *)malloc(sizeof(float) * N * COLS);
    const size_t pbytes = qtk_panel_bytes(N, QTK_PANEL_MAX_R);
    uint8_t *panel = (uint8_t *)malloc(pbytes), *panel2 = (uint8_t *)malloc(pbytes);
    float *tmp = (float *)malloc(qtk_panel_tmp_bytes(N));
    long conv_bad = 0;
    float td[COLS * (N / 32)];
    int32_t ts[COLS * (N / 32)];
    float ref[ROWS * COLS], bound[ROWS * COLS], got[OS * COLS];
    float *want = (float *)malloc(sizeof(float) * WANT_STRIDE * (COLS + 1));
    tl_rng rng;
    tl_rng_seed(&rng, 991 + (unsigned long long)tr->id);
    for (int i = 0; i < N; i++) im[i] = 0.5f + tl_rng_uniform(&rng);
    for (int r = 0; r < ROWS; r++) {
        fill_row(&rng, r % 5, x);
        qtk_error err;
        CHECK(qtk_quantize_rows((int)tr->id, x, w + (size_t)r * ws, 1, N, tr->requires_imatrix ? im : NULL, &err) == QTK_OK,
              "%s: quantize row %d: %s", tr->name, r, err.msg);
        (tr->to_float_dot ? tr->to_float_dot : tr->to_float)(w + (size_t)r * ws, wf + r * N, N);
    }
    for (int c = 0; c < COLS; c++) {
        for (int i = 0; i < N; i++) x[i] = c % 3 == 0 ? ((i + c) % 2 ? 1e3f : -1e3f) : tl_rng_normal(&rng);
        vt->from_float(x, a + (size_t)c * as, N);
        vt->to_float(a + (size_t)c * as, yf + c * N, N);
    }
    /* vec_dot reference and the conversion bound */
    for (int c = 0; c < COLS; c++)
        for (int r = 0; r < ROWS; r++) {
            tr->vec_dot[QTK_ISA_SCALAR](N, &ref[c * ROWS + r], w + (size_t)r * ws, a + (size_t)c * as);
            double b = 0, mag = 0;
            for (int k = 0; k < N; k += 32) {
                double amax = 0, ysum = 0;
                for (int i = k; i < k + 32; i++) {
                    amax = fmax(amax, fabs(wf[r * N + i]));
                    ysum += fabs(yf[c * N + i]);
                    mag += fabs(wf[r * N + i]) * fabs(yf[c * N + i]);
                }
                b += amax / 254.0 * ysum;
            }
            bound[c * ROWS + r] = (float)((tr->to_int8 ? 0.0 : b) + mag / (1 << 20));
        }
    /* The exact int8 form (to_int8) decodes to to_float_dot's values (a zero may differ in sign). */
    if (tr->to_int8) {
        int8_t *q8 = (int8_t *)malloc(N);
        float d8[N / 32];
        long bad8 = 0;
        for (int r = 0; r < ROWS; r++) {
            tr->to_int8(w + (size_t)r * ws, N, d8, q8);
            for (int i = 0; i < N; i++) bad8 += !((float)q8[i] * d8[i / 32] == wf[r * N + i]) || q8[i] == -128;
        }
        CHECK(bad8 == 0, "%s: %ld to_int8 values d*q differ from to_float_dot (or q = -128)", tr->name, bad8);
        free(q8);
    }
    long over = 0, bad_isa = 0, touched = 0;
    double worst = 0;
    /* The scalar level (8-row panels) against vec_dot, for every tile width. */
    const qtk_panel_kernels *ks = qtk_panel_level(QTK_ISA_SCALAR);
    for (int nc = 1; nc <= COLS; nc++) {
        qtk_panel_act act;
        qtk_panel_act_prepare(vt->id, a, as, nc, N, td, ts, &act);
        for (int g0 = 0; g0 < ROWS; g0 += ks->rows) {
            const int nr = ROWS - g0 < ks->rows ? ROWS - g0 : ks->rows;
            qtk_panel_convert(ks, tr, w + (size_t)g0 * ws, ws, nr, N, panel, tmp);
            qtk_panel_gemm_scalar(N, panel, &act, want + (size_t)nc * WANT_STRIDE + g0, OS, nr);
            for (int c = 0; c < nc; c++)
                for (int r = 0; r < nr; r++) {
                    const float d = fabsf(want[(size_t)nc * WANT_STRIDE + (size_t)c * OS + g0 + r] - ref[c * ROWS + g0 + r]);
                    const float bd = bound[c * ROWS + g0 + r];
                    if (d > bd) over++;
                    if (bd > 0 && d / bd > worst) worst = d / bd;
                }
        }
    }
    /* Every level, with its own panel height (8 or 16 rows), converts to the
     * same values and computes the same floats. */
    for (int isa = 0; isa < QTK_ISA_COUNT; isa++) {
        const qtk_panel_kernels *k = qtk_panel_level((qtk_isa)isa);
        if (!k || !qtk_isa_available((qtk_isa)isa)) continue;
        for (int g0 = 0; g0 < ROWS; g0 += k->rows) {
            const int nr = ROWS - g0 < k->rows ? ROWS - g0 : k->rows;
            qtk_panel_convert(k, tr, w + (size_t)g0 * ws, ws, nr, N, panel, tmp);
            /* every row of the level's panel (padding rows included) holds the scalar panel's values */
            const size_t bb = qtk_panel_block_bytes(k->rows), bb8 = qtk_panel_block_bytes(8);
            for (int r8 = 0; r8 < k->rows; r8 += 8) {
                const int nr8 = nr - r8 < 0 ? 0 : nr - r8 < 8 ? nr - r8 : 8;
                qtk_panel_convert(ks, tr, w + (size_t)(g0 + r8) * ws, ws, nr8, N, panel2, tmp);
                for (int blk = 0; blk < N / 32; blk++)
                    for (int r = 0; r < 8; r++) {
                        conv_bad += memcmp(panel + blk * bb + 4 * (r8 + r), panel2 + blk * bb8 + 4 * r, 4) != 0;
                        for (int kk = 0; kk < 32; kk++) {
                            const uint8_t v =
                                panel[blk * bb + 4 * k->rows + (kk / 4) * 4 * k->rows + 4 * (r8 + r) + kk % 4];
                            const uint8_t v8 = panel2[blk * bb8 + 32 + (kk / 4) * 32 + 4 * r + kk % 4];
                            conv_bad += (uint8_t)(v ^ (k->unsigned_w ? 0x80 : 0)) != v8;
                        }
                    }
            }
            for (int nc = 1; nc <= COLS; nc++) {
                qtk_panel_act act;
                qtk_panel_act_prepare(vt->id, a, as, nc, N, td, ts, &act);
                for (size_t i = 0; i < OS * COLS; i++) got[i] = -12345.0f;
                k->gemm(N, panel, &act, got, OS, nr);
                for (int c = 0; c < COLS; c++)
                    for (int r = 0; r < OS; r++) {
                        if (c < nc && r < nr)
                            bad_isa += memcmp(&got[c * OS + r], &want[(size_t)nc * WANT_STRIDE + (size_t)c * OS + g0 + r],
                                              sizeof(float)) != 0;
                        else
                            touched += got[c * OS + r] != -12345.0f;
                    }
            }
        }
        g_levels++;
    }
    CHECK(over == 0, "%s: %ld panel products exceed the conversion bound (worst %.3f of it)", tr->name, over, worst);
    CHECK(bad_isa == 0, "%s: %ld SIMD panel products differ from the scalar kernel", tr->name, bad_isa);
    CHECK(touched == 0, "%s: %ld cells outside the tile written", tr->name, touched);
    CHECK(conv_bad == 0, "%s: %ld panel bytes differ between the levels' conversions", tr->name, conv_bad);
    printf("  %-8s worst |panel - vec_dot| = %.3f of the bound\n", tr->name, worst);
    g_types++;
    free(w);
    free(a);
    free(x);
    free(im);
    free(wf);
    free(yf);
    free(panel);
    free(want);
    free(panel2);
    free(tmp);
}

/* The activation quantizers' rounding rules at exact ties (the panels' and
 * vec_dot's inputs; Q8_0 is also the Q8_0 weight quantizer): Q8_0 rounds
 * halves away from zero (the reference's roundf), Q8_2 to even (q8_2.c),
 * and Q8_K maps the FIRST element of largest magnitude to -127. A block
 * with max |x| = 127 has the scale 1, so x·(1/d) is exact and its halves
 * are true ties. */
static void test_act_rounding(void) {
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = (float)(i % 7) - 3.0f;
    static const float ties[8] = {127.0f, 0.5f, 1.5f, -0.5f, -2.5f, 2.5f, -1.5f, -127.0f};
    static const int8_t away[8] = {127, 1, 2, -1, -3, 3, -2, -127}, even[8] = {127, 0, 2, 0, -2, 2, -2, -127};
    memcpy(x, ties, sizeof ties);
    qtk_block_q8_0 b0;
    qtk_type_get(QTK_TYPE_Q8_0)->from_float(x, &b0, 32);
    CHECK(qtk_fp16_to_fp32(b0.d) == 1.0f && memcmp(b0.qs, away, 8) == 0,
          "Q8_0: ties not rounded away from zero (got %d %d %d %d %d %d)", b0.qs[1], b0.qs[2], b0.qs[3], b0.qs[4],
          b0.qs[5], b0.qs[6]);
    qtk_block_q8_2 b2;
    qtk_type_get(QTK_TYPE_Q8_2)->from_float(x, &b2, 32);
    CHECK(qtk_fp16_to_fp32(b2.d) == 1.0f && memcmp(b2.qs, even, 8) == 0,
          "Q8_2: ties not rounded to even (got %d %d %d %d %d %d)", b2.qs[1], b2.qs[2], b2.qs[3], b2.qs[4], b2.qs[5],
          b2.qs[6]);
    for (int i = 0; i < 256; i++) x[i] = 0.01f * (float)(i % 5);
    x[5] = 2.0f;
    x[9] = -2.0f;
    x[200] = -2.0f;
    qtk_block_q8_K bk;
    qtk_type_get(QTK_TYPE_Q8_K)->from_float(x, &bk, 256);
    CHECK(bk.qs[5] == -127 && bk.qs[9] == 127 && bk.qs[200] == 127 && bk.d < 0.0f,
          "Q8_K: the first largest magnitude is not the one mapped to -127 (%d %d %d)", bk.qs[5], bk.qs[9], bk.qs[200]);
}

/* Every from_float_isa entry writes from_float's bytes: random rows, a wide
 * exponent range, exact ties (max |x| = 127, halves), zeros and denormals,
 * equal magnitudes of both signs, NaN/Inf blocks (the scalar fallback), and
 * values halfway between two F16 values in every binade (F16's rounding). */
static void test_act_levels(void) {
    enum { NV = 256 * 24 };
    float *x = (float *)malloc(sizeof(float) * NV);
    uint8_t *a = (uint8_t *)malloc(400 * (NV / 32)), *b = (uint8_t *)malloc(400 * (NV / 32));
    tl_rng rng;
    tl_rng_seed(&rng, 777);
    int tested = 0;
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        for (int isa = 0; isa < QTK_ISA_COUNT; isa++) {
            if (!tr->from_float_isa[isa] || !qtk_isa_available((qtk_isa)isa)) continue;
            long bad = 0;
            for (int kind = 0; kind < 7; kind++) {
                for (int k = 0; k < NV; k++) {
                    const float g = tl_rng_normal(&rng);
                    x[k] = kind == 0 ? g
                           : kind == 1 ? ldexpf(g, (int)(tl_rng_uniform(&rng) * 80) - 40)
                           : kind == 2 ? (k % 32 == 3 ? 127.0f : (float)((int)(g * 40)) + 0.5f)
                           : kind == 3 ? (k % 3 ? 0.0f : 1e-41f * g)
                           : kind == 4 ? (k % 5 == 0 ? 2.0f : k % 5 == 1 ? -2.0f : 0.5f * g)
                           : kind == 5 ? (k % 97 == 5 ? (k % 2 ? NAN : -INFINITY) : g)
                                       /* halfway between two halves (12 significant bits, odd), at every
                                        * binade from subnormal halves to overflow */
                                       : ldexpf((float)(2049 + 2 * (k % 1024)) * (k % 2 ? 1.0f : -1.0f),
                                                -11 + (k % 41) - 24);
                }
                const size_t bytes = qtk_row_size((int)tr->id, NV);
                memset(a, 0x5A, bytes);
                memset(b, 0x5A, bytes);
                tr->from_float(x, a, NV);
                tr->from_float_isa[isa](x, b, NV);
                bad += memcmp(a, b, bytes) != 0;
            }
            CHECK(bad == 0, "%s: from_float at %s differs from the scalar bytes in %ld of 7 row kinds", tr->name,
                  qtk_isa_name((qtk_isa)isa), bad);
            tested++;
        }
    }
    CHECK(tested >= 3 || !qtk_isa_available(QTK_ISA_AVX2), "only %d (activation format, level) quantizers tested",
          tested);
    printf("%d (activation format, ISA) quantizers equal the scalar bytes\n", tested);
    free(x);
    free(a);
    free(b);
}

/* Every to_int8_isa entry (the panel conversion's per-row step on a wider
 * level) writes the scalar step's scales and bytes: to_int8 where the type
 * has one, else to_float(_dot) then qtk_panel_quant_scalar. Rows are raw
 * bytes, not quantizer output: uniform random, and blocks made mostly of
 * 0x00 / 0xFF / 0x80 / 0x7F bytes (zero and all-ones scales and codes,
 * maximal levels, sign bits), so every code and scale combination occurs;
 * rows whose scalar values are not all finite (a random NaN/Inf header)
 * are drawn again. Two row lengths (one and three super-blocks). */
static void test_to_int8_levels(void) {
    enum { NMAX = 768, TRIES = 400 };
    tl_rng rng;
    tl_rng_seed(&rng, 4242);
    uint8_t *row = (uint8_t *)malloc(4096);
    float *v = (float *)malloc(sizeof(float) * NMAX), *d0 = (float *)malloc(sizeof(float) * NMAX / 32),
          *d1 = (float *)malloc(sizeof(float) * NMAX / 32);
    int8_t *q0 = (int8_t *)malloc(NMAX), *q1 = (int8_t *)malloc(NMAX);
    int tested = 0;
    static const uint8_t special[4] = {0x00, 0xFF, 0x80, 0x7F};
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        if (!tr->to_float) continue;
        const qtk_to_float_fn dec = tr->to_float_dot ? tr->to_float_dot : tr->to_float;
        for (int isa = 0; isa < QTK_ISA_COUNT; isa++) {
            if (!tr->to_int8_isa[isa] || !qtk_isa_available((qtk_isa)isa)) continue;
            long bad = 0, rows = 0, drawn = 0;
            for (int kind = 0; kind < 6; kind++)
                for (int rep = 0; rep < 40; rep++) {
                    const int64_t n = rep % 2 ? NMAX : tr->block_size;
                    const size_t bytes = qtk_row_size((int)tr->id, n);
                    CHECK(bytes <= 4096 && n % tr->block_size == 0, "%s: test row too long", tr->name);
                    bool ok = false;
                    for (int t = 0; t < TRIES && !ok; t++) {
                        drawn++;
                        for (size_t k = 0; k < bytes; k++) {
                            const unsigned long long u = tl_rng_u64(&rng);
                            /* kind 0: uniform; 1..4: mostly one special byte; 5: any special byte */
                            row[k] = kind == 0 || (u >> 40) % 4 == 0 ? (uint8_t)u
                                     : kind == 5 ? special[(u >> 8) % 4] : special[kind - 1];
                        }
                        dec(row, v, n);
                        ok = true;
                        for (int64_t k = 0; k < n; k++) ok = ok && isfinite(v[k]);
                    }
                    if (!ok) continue;
                    rows++;
                    memset(q0, 0x55, NMAX);
                    memset(q1, 0x55, NMAX);
                    if (tr->to_int8) {
                        tr->to_int8(row, n, d0, q0);
                    } else {
                        qtk_panel_quant_scalar(v, n, d0, q0);
                    }
                    tr->to_int8_isa[isa](row, n, d1, q1);
                    bad += memcmp(d0, d1, sizeof(float) * (size_t)(n / 32)) != 0 || memcmp(q0, q1, NMAX) != 0;
                }
            CHECK(rows >= 120, "%s: only %ld of 240 test rows had finite values", tr->name, rows);
            CHECK(bad == 0, "%s: to_int8_isa at %s differs from the scalar step in %ld of %ld rows", tr->name,
                  qtk_isa_name((qtk_isa)isa), bad, rows);
            tested++;
        }
    }
    CHECK(tested >= 4 || !qtk_isa_available(QTK_ISA_AVX512), "only %d (type, level) conversion steps tested", tested);
    printf("%d (type, ISA) panel conversion steps equal the scalar bytes\n", tested);
    free(row);
    free(v);
    free(d0);
    free(d1);
    free(q0);
    free(q1);
}

int main(void) {
    test_act_rounding();
    test_act_levels();
    test_to_int8_levels();
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        if (!tr->is_quantized || !tr->file_type || !tr->quantize || !tr->to_float || !tr->vec_dot[QTK_ISA_SCALAR])
            continue;
        if (!qtk_panel_act_supported(tr->vec_dot_type) || N % tr->block_size) continue;
        test_type(tr);
    }
    CHECK(g_types >= 20, "only %d types went through the panel path", g_types);
    printf("%d types, %d (type, ISA) kernel checks\n", g_types, g_levels);
    return tl_finish("test_panel");
}
