/*
 * iquants.c — IQ4_NL (32-weight blocks) and IQ4_XS (256-weight super-blocks),
 * scalar reference: decoding, the quality quantizer (METHODS §2, ik's PR #295
 * search), and the dot products against Q8_0 / Q8_K activations.
 * SIMD dot products: iquants_avx2.c, iquants_avx512.c, iquants_neon.c.
 */
#include "iquants.h"
#include "grids.h"

#include <math.h>

#if defined(__clang__)
/* The searches' sums must be the plain multiplies and adds their SIMD twins compute
 * (no FMA contraction; gcc in ISO C mode does not contract): the bytes must not
 * depend on the ISA or the platform. */
#pragma STDC FP_CONTRACT OFF
#endif

#define IQ4_BLOCK 32
#define IQ4_NTRY 7
#define IQ4_MAX_GREEDY 64  /* cap on greedy index moves per block */
#define IQ4_EPS 1e-15f     /* blocks with max |x| below this are stored as zero */

static uint16_t rd16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void wr16(void *p, uint16_t v) { memcpy(p, &v, 2); }

/* ---- decoding --------------------------------------------------------------- */

/* w = d·table[code]; the table values (−127..113) are the int8 form. */
void qtk_iq4_nl_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *b = (const uint8_t *)row;
    for (int64_t i = 0; i < n / IQ4_BLOCK; i++, b += sizeof(qtk_block_iq4_nl), q += IQ4_BLOCK) {
        d[i] = qtk_fp16_to_fp32(rd16(b));
        const uint8_t *qs = b + 2;
        for (int j = 0; j < 16; j++) {
            q[j] = qtk_iq4nl_values[qs[j] & 0x0F];
            q[j + 16] = qtk_iq4nl_values[qs[j] >> 4];
        }
    }
}

void qtk_iq4_nl_to_float(const void *row, float *dst, int64_t n) {
    int8_t q[IQ4_BLOCK];
    float d;
    const uint8_t *b = (const uint8_t *)row;
    for (int64_t i = 0; i < n / IQ4_BLOCK; i++, b += sizeof(qtk_block_iq4_nl), dst += IQ4_BLOCK) {
        qtk_iq4_nl_to_int8(b, IQ4_BLOCK, &d, q);
        for (int j = 0; j < IQ4_BLOCK; j++) dst[j] = d * (float)q[j];
    }
}

void qtk_iq4_xs_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *b = (const uint8_t *)row;
    /* float copy of the grid ((float)v is exact) and the nibbles split into a
     * byte array first (vectorised): the lookup is then one float load and
     * multiply per weight */
    float gf[16];
    uint8_t l[32];
    for (int k = 0; k < 16; k++) gf[k] = (float)qtk_iq4nl_values[k];
    for (int64_t i = 0; i < n / QK_K; i++, b += sizeof(qtk_block_iq4_xs)) {
        const float d = qtk_fp16_to_fp32(rd16(b));
        const unsigned sh = rd16(b + 2);
        const uint8_t *sl = b + 4, *qs = b + 8;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, dst += 32) {
            const int ls = ((sl[ib / 2] >> 4 * (ib % 2)) & 0x0F) | (((sh >> 2 * ib) & 3) << 4);
            const float dl = d * (float)(ls - 32);
            for (int j = 0; j < 16; j++) l[j] = qs[j] & 0x0F;
            for (int j = 0; j < 16; j++) l[j + 16] = qs[j] >> 4;
            for (int j = 0; j < 32; j++) dst[j] = dl * gf[l[j]];
        }
    }
}

/* Exact int8 form: d[b] = d·(ls − 32) (exact in float: fp16 d, 6-bit ls),
 * q = grid value — the values qtk_iq4_xs_to_float computes. */
void qtk_iq4_xs_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *b = (const uint8_t *)row;
    for (int64_t i = 0; i < n / QK_K; i++, b += sizeof(qtk_block_iq4_xs)) {
        const float dd = qtk_fp16_to_fp32(rd16(b));
        const unsigned sh = rd16(b + 2);
        const uint8_t *sl = b + 4, *qs = b + 8;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 16) {
            const int ls = ((sl[ib / 2] >> 4 * (ib % 2)) & 0x0F) | (((sh >> 2 * ib) & 3) << 4);
            d[i * 8 + ib] = dd * (float)(ls - 32);
            int8_t *o = q + i * QK_K + 32 * ib;
            for (int j = 0; j < 16; j++) o[j] = qtk_iq4nl_values[qs[j] & 0x0F];
            for (int j = 0; j < 16; j++) o[j + 16] = qtk_iq4nl_values[qs[j] >> 4];
        }
    }
}

/* ---- quantization ------------------------------------------------------------- */

/* Grid indices of x·id (nearest IQ4NL value) and their Σwxq, Σwq². */
static void iq4_round(const qtk_grid_lut *lut, const float *x, const float *w, float id, uint8_t *L,
                      float *sumqx, float *sumq2) {
    float sx = 0.0f, s2 = 0.0f;
    for (int j = 0; j < IQ4_BLOCK; j++) {
        const int l = qtk_grid_lut_nearest(lut, id * x[j]);
        const float q = (float)qtk_iq4nl_values[l];
        L[j] = (uint8_t)l;
        sx += w[j] * q * x[j];
        s2 += w[j] * q * q;
    }
    *sumqx = sx;
    *sumq2 = s2;
}

/*
 * Moves one index at a time to its grid neighbour, the one the error gradient
 * reaches first, while that raises F = Σwxq²/Σwq² (METHODS §2, PR #295).
 */
static void iq4_greedy(const float *x, const float *w, uint8_t *L, float *sumqx, float *sumq2) {
    const int8_t *T = qtk_iq4nl_values;
    float sx = *sumqx, s2 = *sumq2;
    for (int it = 0; it < IQ4_MAX_GREEDY; it++) {
        const float d = sx / s2;
        int best_j = -1;
        float best_t = 0.0f, best_step = 0.0f;
        for (int j = 0; j < IQ4_BLOCK; j++) {
            const float g = d * w[j] * (x[j] - d * (float)T[L[j]]);
            float step;
            if (g > 0.0f && L[j] < 15) step = (float)(T[L[j] + 1] - T[L[j]]);
            else if (g < 0.0f && L[j] > 0) step = (float)(T[L[j] - 1] - T[L[j]]);
            else continue;
            const float t = step / g;
            if (best_j < 0 || t < best_t) {
                best_j = j;
                best_t = t;
                best_step = step;
            }
        }
        if (best_j < 0) break;
        const float q = (float)T[L[best_j]];
        const float nsx = sx + w[best_j] * x[best_j] * best_step;
        const float ns2 = s2 + w[best_j] * ((q + best_step) * (q + best_step) - q * q);
        if (!(ns2 > 0.0f) || !(nsx * nsx * s2 > sx * sx * ns2)) break;
        L[best_j] = (uint8_t)(best_step > 0 ? L[best_j] + 1 : L[best_j] - 1);
        sx = nsx;
        s2 = ns2;
    }
    *sumqx = sx;
    *sumq2 = s2;
}

/*
 * Best float scale and indices L of one 32-weight block under weights w.
 * Returns 0 (indices of the zero grid value) for an all-(near-)zero block.
 */
/*
 * Σwxq and Σwq² of every trial inverse scale id[t] (t < IQ4_LANES) at once: the
 * trials are the lanes of the inner loop, each adding its products in j order
 * exactly as iq4_round does (same expressions, same order, so the same floats),
 * which the compiler vectorises. The grid value of v = id·x is T[0] plus the steps
 * of the midpoints at or below v: the LUT's nearest index with ties going up.
 */
/* IQ4_LANES (iquants.h) >= 1 + 2·(2·IQ4_NTRY + 1) trials, a multiple of 8 */
void qtk_iq4_round_lanes_scalar(const float *x, const float *w, const float *id, float *sumqx, float *sumq2) {
    const int8_t *T = qtk_iq4nl_values;
    float mid[15], step[15];
    for (int i = 0; i < 15; i++) {
        mid[i] = 0.5f * (float)(T[i] + T[i + 1]);
        step[i] = (float)(T[i + 1] - T[i]);
    }
    float sx[IQ4_LANES], s2[IQ4_LANES];
    for (int t = 0; t < IQ4_LANES; t++) sx[t] = s2[t] = 0.0f;
    for (int j = 0; j < IQ4_BLOCK; j++) {
        const float xj = x[j], wj = w[j];
        for (int t = 0; t < IQ4_LANES; t++) {
            const float v = id[t] * xj;
            float q = (float)T[0];
            for (int i = 0; i < 15; i++) q += v >= mid[i] ? step[i] : 0.0f;
            sx[t] += wj * q * xj;
            s2[t] += wj * q * q;
        }
    }
    memcpy(sumqx, sx, sizeof sx);
    memcpy(sumq2, s2, sizeof s2);
}

void qtk_iq4_round_lanes(const float *x, const float *w, const float *id, float *sumqx, float *sumq2) {
    const int isa = qtk_isa_pick(QTK_SEARCH_LEVELS);
#if defined(QTK_HAVE_AVX512)
    if (isa == QTK_ISA_AVX512) {
        qtk_iq4_round_lanes_avx512(x, w, id, sumqx, sumq2);
        return;
    }
#endif
#if defined(QTK_HAVE_AVX2)
    if (isa == QTK_ISA_AVX2) {
        qtk_iq4_round_lanes_avx2(x, w, id, sumqx, sumq2);
        return;
    }
#endif
#if defined(QTK_HAVE_NEON)
    if (isa == QTK_ISA_NEON) {
        qtk_iq4_round_lanes_neon(x, w, id, sumqx, sumq2);
        return;
    }
#endif
    (void)isa;
    qtk_iq4_round_lanes_scalar(x, w, id, sumqx, sumq2);
}

static float iq4_block_scale(const qtk_grid_lut *lut, const float *x, const float *w, uint8_t *L, float eps) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < IQ4_BLOCK; j++) {
        const float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax < eps) {
        for (int j = 0; j < IQ4_BLOCK; j++) L[j] = (uint8_t)qtk_grid_lut_nearest(lut, 0.0f);
        return 0.0f;
    }
    const int8_t *T = qtk_iq4nl_values;
    /* trial 0: the initial guess d = -max/T[0] (the largest |x| to the grid end);
     * then k = -IQ4_NTRY … IQ4_NTRY, each from both ends of the grid */
    float id[IQ4_LANES], sx[IQ4_LANES], s2[IQ4_LANES];
    int nt = 0;
    id[nt++] = 1.0f / (-max / (float)T[0]);
    for (int k = -IQ4_NTRY; k <= IQ4_NTRY; k++)
        for (int fam = 0; fam < 2; fam++) id[nt++] = ((float)k + (float)(fam ? T[15] : T[0])) / max;
    for (int t = nt; t < IQ4_LANES; t++) id[t] = 0.0f;
    qtk_iq4_round_lanes(x, w, id, sx, s2);
    int bt = 0;
    float best = s2[0] > 0.0f ? sx[0] / s2[0] * sx[0] : 0.0f;
    for (int t = 1; t < nt; t++)
        if (s2[t] > 0.0f && sx[t] * sx[t] > best * s2[t]) {
            best = sx[t] / s2[t] * sx[t];
            bt = t;
        }
    float bx, b2;
    iq4_round(lut, x, w, id[bt], L, &bx, &b2); /* the winner's indices (and the same sums) */
    if (!(b2 > 0.0f)) return 0.0f;
    iq4_greedy(x, w, L, &bx, &b2);
    return bx / b2;
}

/* 2^-e with amax = m·2^e, m in [0.5,1): scaling by it is exact and keeps sums
 * finite. Capped at 2^126 so subnormal inputs never get an infinite factor. */
static float iq4_norm(float amax) {
    int e;
    (void)frexpf(amax, &e);
    return ldexpf(1.0f, -QTK_MAX(e, -126));
}

/*
 * Importance of each weight of a 32-block (x already normalised, sigma2 of the
 * normalised values): imatrix·sqrt(σ²+x²), or x² without one. The imatrix is
 * rescaled by a power of two (the search is invariant to that); an all-zero
 * imatrix block falls back to sqrt(σ²+x²) instead of giving 0/0.
 */
static void iq4_weights(const float *x, const float *qw, float sigma2, float *w) {
    if (!qw) {
        for (int j = 0; j < IQ4_BLOCK; j++) w[j] = x[j] * x[j];
        return;
    }
    float wmax = 0.0f;
    for (int j = 0; j < IQ4_BLOCK; j++) wmax = qw[j] > wmax ? qw[j] : wmax;
    const float ws = wmax > 0.0f ? iq4_norm(wmax) : 0.0f;
    for (int j = 0; j < IQ4_BLOCK; j++)
        w[j] = (wmax > 0.0f ? qw[j] * ws : 1.0f) * sqrtf(sigma2 + x[j] * x[j]);
}

/* Packs 32 indices: low nibble j, high nibble j+16. */
static void iq4_pack(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

/* fp16 of a scale, saturated to the largest finite half so huge rows stay finite. */
static uint16_t iq4_fp16_sat(float d) {
    if (d > 65504.0f) d = 65504.0f;
    if (d < -65504.0f) d = -65504.0f;
    return qtk_fp32_to_fp16(d);
}

static float iq4_amax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        const float ax = fabsf(x[j]);
        amax = ax > amax ? ax : amax;
    }
    return amax;
}

/* Σw(x − dl·T[q])² of one 32-block with the indices nearest to x/dl. */
static float iq4_sub_err(const qtk_grid_lut *lut, const float *x, const float *w, float dl) {
    const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
    float e = 0.0f;
    for (int j = 0; j < IQ4_BLOCK; j++) {
        const float r = x[j] - dl * (float)qtk_iq4nl_values[qtk_grid_lut_nearest(lut, idl * x[j])];
        e += w[j] * r * r;
    }
    return e;
}

/* fast (effort fast): without the refit (the reference's search and scale). */
static void iq4_nl_quantize_row(const qtk_grid_lut *lut, const float *x, uint8_t *dst, int64_t n,
                                const float *qw, int fast) {
    float w[IQ4_BLOCK], xs[IQ4_BLOCK];
    uint8_t L[IQ4_BLOCK];
    for (int64_t ib = 0; ib < n / IQ4_BLOCK; ib++, x += IQ4_BLOCK, dst += sizeof(qtk_block_iq4_nl)) {
        /* search on x scaled to max|x| in [0.5,1): same decisions, no overflow */
        const float amax = iq4_amax(x, IQ4_BLOCK);
        const float s = amax >= IQ4_EPS ? iq4_norm(amax) : 1.0f;
        float sigma2 = 0.0f;
        for (int j = 0; j < IQ4_BLOCK; j++) {
            xs[j] = x[j] * s;
            sigma2 += xs[j] * xs[j];
        }
        sigma2 *= 2.0f / IQ4_BLOCK;
        iq4_weights(xs, qw ? qw + ib * IQ4_BLOCK : NULL, sigma2, w);
        const float d = iq4_block_scale(lut, xs, w, L, IQ4_EPS * s) / s;
        /* Beyond the reference (which stores fp16(d) and re-rounds with the
         * float d): refit — indices for the decoded scale, least-squares
         * scale for those indices — while the weighted error drops; then
         * round the indices with the stored fp16 scale, which makes each of
         * them optimal for what is decoded, under any per-weight measure. */
        uint16_t dh = iq4_fp16_sat(d);
        float dn = qtk_fp16_to_fp32(dh) * s;
        if (!fast && dn != 0.0f) {
            float err = iq4_sub_err(lut, xs, w, dn);
            for (int it = 0; it < 2; it++) {
                const float idn = 1.0f / dn;
                float sumqx = 0.0f, sumq2 = 0.0f;
                for (int j = 0; j < IQ4_BLOCK; j++) {
                    const float q = (float)qtk_iq4nl_values[qtk_grid_lut_nearest(lut, idn * xs[j])];
                    sumqx += w[j] * xs[j] * q;
                    sumq2 += w[j] * q * q;
                }
                if (!(sumq2 > 0.0f)) break;
                const uint16_t dh2 = iq4_fp16_sat(sumqx / sumq2 / s);
                const float dn2 = qtk_fp16_to_fp32(dh2) * s;
                if (dh2 == dh || dn2 == 0.0f) break;
                const float err2 = iq4_sub_err(lut, xs, w, dn2);
                if (!(err2 < err)) break;
                err = err2;
                dh = dh2;
                dn = dn2;
            }
        }
        wr16(dst, dh);
        const float d16 = qtk_fp16_to_fp32(dh);
        const float id = d16 != 0.0f ? 1.0f / d16 : 0.0f;
        for (int j = 0; j < IQ4_BLOCK; j++) L[j] = (uint8_t)qtk_grid_lut_nearest(lut, id * x[j]);
        iq4_pack(L, dst + 2);
    }
}

/*
 * Best 6-bit code l in [-32,31] near l0 for one sub-block under the decoded
 * super-scale dn (±1 around the rounded ratio); *err gets its error.
 */
static int iq4_xs_pick_l(const qtk_grid_lut *lut, const float *x, const float *w, float dn, int l0,
                         float *err) {
    int best = l0;
    float be = iq4_sub_err(lut, x, w, dn * (float)l0);
    for (int l = l0 - 1; l <= l0 + 1; l += 2) {
        if (l < -32 || l > 31) continue;
        const float e = iq4_sub_err(lut, x, w, dn * (float)l);
        if (e < be) {
            be = e;
            best = l;
        }
    }
    *err = be;
    return best;
}

/* fast (effort fast): the reference's codes, without l±1 and the refit. */
static void iq4_xs_quantize_row(const qtk_grid_lut *lut, const float *x, uint8_t *dst, int64_t n,
                                const float *qw, int fast) {
    float W[QK_K], xs[QK_K], scales[QK_K / 32];
    uint8_t L[IQ4_BLOCK];
    int ls[QK_K / 32];
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, dst += sizeof(qtk_block_iq4_xs)) {
        const float *qwb = qw ? qw + ibl * QK_K : NULL;
        const float amax = iq4_amax(x, QK_K);
        const float s = amax >= IQ4_EPS ? iq4_norm(amax) : 1.0f;
        float sigma2 = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            xs[j] = x[j] * s;
            sigma2 += xs[j] * xs[j];
        }
        sigma2 *= 2.0f / QK_K;
        float max_scale = 0.0f, amax_scale = 0.0f;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            iq4_weights(xs + 32 * ib, qwb ? qwb + 32 * ib : NULL, sigma2, W + 32 * ib);
            scales[ib] = iq4_block_scale(lut, xs + 32 * ib, W + 32 * ib, L, IQ4_EPS * s);
            if (fabsf(scales[ib]) > amax_scale) {
                amax_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        /* The reference: d = -s_max/32, l = round(s_b/d), no refit. Beyond
         * it: try l±1 per sub-block and refit d (kept only while the weighted
         * error under the decoded fp16 scale drops). */
        const float d = -max_scale / 32.0f; /* in normalised units */
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t dh = iq4_fp16_sat(d / s);
        for (int ib = 0; ib < QK_K / 32; ib++)
            ls[ib] = QTK_MAX(-32, QTK_MIN(31, qtk_nearest_int(id * scales[ib])));
        if (!fast && d != 0.0f) {
            float dn = qtk_fp16_to_fp32(dh) * s, err = 0.0f, e;
            for (int ib = 0; ib < QK_K / 32; ib++) {
                ls[ib] = iq4_xs_pick_l(lut, xs + 32 * ib, W + 32 * ib, dn, ls[ib], &e);
                err += e;
            }
            for (int it = 0; it < 2; it++) {
                float sumqx = 0.0f, sumq2 = 0.0f;
                for (int ib = 0; ib < QK_K / 32; ib++) {
                    const float dl = dn * (float)ls[ib], idl = dl != 0.0f ? 1.0f / dl : 0.0f;
                    const float *xb = xs + 32 * ib, *wb = W + 32 * ib;
                    for (int j = 0; j < IQ4_BLOCK; j++) {
                        const int k = qtk_grid_lut_nearest(lut, idl * xb[j]);
                        const float q = (float)ls[ib] * (float)qtk_iq4nl_values[k];
                        sumqx += wb[j] * xb[j] * q;
                        sumq2 += wb[j] * q * q;
                    }
                }
                if (!(sumq2 > 0.0f)) break;
                const uint16_t dh2 = iq4_fp16_sat(sumqx / sumq2 / s);
                if (dh2 == dh) break;
                const float dn2 = qtk_fp16_to_fp32(dh2) * s;
                int ls2[QK_K / 32];
                float err2 = 0.0f;
                for (int ib = 0; ib < QK_K / 32; ib++) {
                    ls2[ib] = iq4_xs_pick_l(lut, xs + 32 * ib, W + 32 * ib, dn2, ls[ib], &e);
                    err2 += e;
                }
                if (!(err2 < err)) break;
                err = err2;
                dh = dh2;
                dn = dn2;
                memcpy(ls, ls2, sizeof ls);
            }
        }
        wr16(dst, dh);
        /* indices from the decoded d16·l, so each is optimal for the stored scales */
        const float d16 = qtk_fp16_to_fp32(dh);
        unsigned sh = 0;
        uint8_t *sl = dst + 4, *qs = dst + 8;
        memset(sl, 0, 4);
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const float dl = d16 * (float)ls[ib];
            const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
            for (int j = 0; j < IQ4_BLOCK; j++)
                L[j] = (uint8_t)qtk_grid_lut_nearest(lut, idl * x[32 * ib + j]);
            iq4_pack(L, qs + 16 * ib);
            const int l = ls[ib] + 32;
            sl[ib / 2] |= (uint8_t)((l & 0x0F) << 4 * (ib % 2));
            sh |= (unsigned)(l >> 4) << 2 * ib;
        }
        wr16(dst + 2, (uint16_t)sh);
    }
}

size_t qtk_iq4_nl_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort) {
    uint8_t *out = (uint8_t *)dst;
    const size_t row_bytes = (size_t)(n / IQ4_BLOCK) * sizeof(qtk_block_iq4_nl);
    qtk_grid_lut lut;
    qtk_grid_lut_init(&lut, qtk_iq4nl_values, 16);
    for (int64_t r = 0; r < nrows; r++)
        iq4_nl_quantize_row(&lut, src + r * n, out + (size_t)r * row_bytes, n, imatrix, effort == QTK_EFFORT_FAST);
    return row_bytes * (size_t)nrows;
}

size_t qtk_iq4_nl_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq4_nl_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

size_t qtk_iq4_xs_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort) {
    uint8_t *out = (uint8_t *)dst;
    const size_t row_bytes = (size_t)(n / QK_K) * sizeof(qtk_block_iq4_xs);
    qtk_grid_lut lut;
    qtk_grid_lut_init(&lut, qtk_iq4nl_values, 16);
    for (int64_t r = 0; r < nrows; r++)
        iq4_xs_quantize_row(&lut, src + r * n, out + (size_t)r * row_bytes, n, imatrix, effort == QTK_EFFORT_FAST);
    return row_bytes * (size_t)nrows;
}

size_t qtk_iq4_xs_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq4_xs_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

/* Weight types are never activations; from_float is the quantizer without imatrix. */
void qtk_iq4_nl_from_float(const float *src, void *dst, int64_t n) {
    qtk_iq4_nl_quantize(src, dst, 1, n, NULL);
}

void qtk_iq4_xs_from_float(const float *src, void *dst, int64_t n) {
    qtk_iq4_xs_quantize(src, dst, 1, n, NULL);
}

/* ---- dot products --------------------------------------------------------------- */

void qtk_iq4_nl_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    double acc[8] = {0};
    for (int64_t ib = 0; ib < n / IQ4_BLOCK; ib++, x += sizeof(qtk_block_iq4_nl)) {
        const uint8_t *qs = x + 2;
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += qtk_iq4nl_values[qs[j] & 0x0F] * y[ib].qs[j];
            sumi += qtk_iq4nl_values[qs[j] >> 4] * y[ib].qs[j + 16];
        }
        const double dd = (double)qtk_fp16_to_fp32(rd16(x)) * (double)qtk_fp16_to_fp32(rd16(&y[ib].d));
        acc[ib % 8] += (double)sumi * dd;
    }
    *s = (float)qtk_iq4_nl_reduce8(acc);
}

void qtk_iq4_xs_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    double sum = 0.0;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += sizeof(qtk_block_iq4_xs)) {
        const unsigned sh = rd16(x + 2);
        const uint8_t *sl = x + 4, *qs = x + 8;
        const int8_t *q8 = y[ibl].qs;
        int sumi = 0;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, q8 += 32) {
            const int ls = ((sl[ib / 2] >> 4 * (ib % 2)) & 0x0F) | (((sh >> 2 * ib) & 3) << 4);
            int sb = 0;
            for (int j = 0; j < 16; j++) {
                sb += qtk_iq4nl_values[qs[j] & 0x0F] * q8[j];
                sb += qtk_iq4nl_values[qs[j] >> 4] * q8[j + 16];
            }
            sumi += (ls - 32) * sb;
        }
        float yd;
        memcpy(&yd, &y[ibl].d, sizeof yd);
        sum += (double)sumi * ((double)qtk_fp16_to_fp32(rd16(x)) * (double)yd);
    }
    *s = (float)sum;
}
