/*
 * kquants.c — the k-quant family Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: decoding (FORMATS.md §2),
 * quantizers (METHODS.md §2: the reference's searches as candidates, plus a few
 * alternative weightings, each polished by a least-squares refit of the fp16 super-block
 * scales; the candidate with the lowest E = Σ w (x − y)² is kept) and the scalar dot
 * products (Q2_K/Q3_K × Q8_K, Q4_K/Q5_K × Q8_2, Q6_K × Q8_0). SIMD dot products:
 * kquants_avx2.c, kquants_avx512.c, kquants_neon.c — they compute the same 32-bit
 * integer sums per block and combine them with the scales as the scalar kernels do.
 */
#include "kquants.h"

#include <math.h>
#include <stdlib.h>

#if defined(__clang__)
/* Decoding must not fuse d·sc·q − m into an FMA: the reference rounds twice; nor may
 * the quantizers' searches, whose AVX2 copy (kquants_quant_avx2.c) must compute every
 * float as the baseline does. */
#pragma STDC FP_CONTRACT OFF
#endif

/* The quantizers run kquants_quant_avx2.c's copy of this file where AVX2 is there and
 * allowed (qtk_set_max_isa): same bytes, wider vectors. */
#if defined(QTK_HAVE_AVX2) && !defined(KQ_AVX2_COPY)
#define KQ_DISPATCH_AVX2(t, src, dst, nrows, n, imatrix, effort)                                      \
    do {                                                                                           \
        if (qtk_isa_pick((1u << QTK_ISA_SCALAR) | (1u << QTK_ISA_AVX2)) == QTK_ISA_AVX2)          \
            return qtk_##t##_quantize_effort_qavx2(src, dst, nrows, n, imatrix, effort);          \
    } while (0)
#else
#define KQ_DISPATCH_AVX2(t, src, dst, nrows, n, imatrix, effort) ((void)0)
#endif

/* Sub-block scales below this are treated as "all zero" (as the reference does). */
#define KQ_EPS 1e-15f

/* Stores a super-block scale as fp16. Rows beyond the fp16 range (|x| ≳ 1e6) or a
 * search that overflowed must still decode to finite values: NaN → 0, clamp to ±65504. */
static void put_fp16(uint16_t *dst, float v) {
    if (!(v == v)) v = 0.0f;
    v = v > 65504.0f ? 65504.0f : (v < -65504.0f ? -65504.0f : v);
    uint16_t h = qtk_fp32_to_fp16(v);
    memcpy(dst, &h, 2);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Nearest integer of a quotient that may be huge or non-finite (degenerate rows):
 * the magic-number rounding is only valid for |v| < 2^22, so clamp first. */
static int round_clamped(float v, int lo, int hi) {
    if (!(v > (float)lo - 1.0f)) return lo; /* also catches NaN */
    if (v > (float)hi + 1.0f) return hi;
    return clampi(qtk_nearest_int(v), lo, hi);
}

/* L[i] = off + round_clamped((x[i] + ml[j]) / dl[j], lo, hi) for the nsb sub-blocks of n
 * weights (j = i / n; ml == NULL: 0), and L = off for a sub-block whose dl[j] is 0 (a
 * zero scale decodes to 0 whatever the level). One vectorisable loop over the whole
 * super-block with the sub-block's ml, dl spread per weight (issue #17: one call per
 * sub-block was unrolled by the compiler into scalar code with branches, a third of a
 * Q3_K polish): v + 1.5·2^23 − 1.5·2^23 is round-to-nearest-even for |v| < 2^22 and
 * lands beyond the clamps for every larger |v| or ±inf, and NaN fails the first
 * comparison, so each level is round_clamped's. x + 0 only turns −0 into +0, which
 * rounds to the same level, so ml = 0 serves the symmetric types. */
static void round_levels(int nsb, int n, const float *x, const float *ml, const float *dl, int lo, int hi, int off,
                         uint8_t *L) {
    const float flo = (float)lo, fhi = (float)hi;
    float mv[QK_K], dv[QK_K], mj[16], dj[16]; /* nsb <= 16 */
    for (int j = 0; j < nsb; j++) {
        mj[j] = ml ? ml[j] : 0.0f;
        dj[j] = dl[j] != 0.0f ? dl[j] : 1.0f;
    }
    for (int j = 0; j < nsb; j++)
        for (int l = 0; l < n; l++) {
            mv[n * j + l] = mj[j];
            dv[n * j + l] = dj[j];
        }
    for (int i = 0; i < nsb * n; i++) {
        float v = (x[i] + mv[i]) / dv[i];
        v = (v + 12582912.0f) - 12582912.0f;
        v = v > flo ? v : flo;
        v = v < fhi ? v : fhi;
        L[i] = (uint8_t)((int)v + off);
    }
    for (int j = 0; j < nsb; j++)
        if (dl[j] == 0.0f) memset(L + n * j, off, (size_t)n);
}

/* ============================================================================
 * Decoding
 * ========================================================================== */

void qtk_q2_K_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q2_K *b = (const qtk_block_q2_K *)row;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = qtk_kq_fp16(&b[i].d), dmin = qtk_kq_fp16(&b[i].dmin);
        /* weight 128h + 32j + l: bits 2j of qs[32h + l], scale (128h + 32j + l)/16;
         * the 2-bit values of 32 weights go to a local array first (stores to
         * dst may alias the block's bytes, which kept gcc from vectorising),
         * then each 16-weight half is one scale and a straight float loop */
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++) {
                const uint8_t *qs = b[i].qs + 32 * h;
                uint8_t q[32];
                for (int l = 0; l < 32; l++) q[l] = (uint8_t)((qs[l] >> (2 * j)) & 3);
                for (int half = 0; half < 2; half++) {
                    const int s = 8 * h + 2 * j + half;
                    const float dl = d * (float)(b[i].scales[s] & 15);
                    const float ml = dmin * (float)(b[i].scales[s] >> 4);
                    float *y = dst + 128 * h + 32 * j + 16 * half;
                    for (int l = 0; l < 16; l++) {
                        const float t = dl * (float)q[16 * half + l];
                        y[l] = t - ml;
                    }
                }
            }
    }
}

/* The signed 3-bit levels (−4…3) of a Q3_K block in weight order: weight 128h + 32j + l
 * has bits 2j of qs[32h + l] and bit 4h + j of hmask[l] (0: level − 4). Shared by
 * to_float and the quantizer's polish (q3_K_parts); loops of 32 bytes that vectorise. */
static void q3_K_levels(const qtk_block_q3_K *b, int8_t *q) {
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) {
                const int q2 = (b->qs[32 * h + l] >> (2 * j)) & 3;
                const int hb = (b->hmask[l] >> (4 * h + j)) & 1;
                q[128 * h + 32 * j + l] = (int8_t)(q2 - 4 + 4 * hb);
            }
}

void qtk_q3_K_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q3_K *b = (const qtk_block_q3_K *)row;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = qtk_kq_fp16(&b[i].d);
        int8_t sc[16], q[QK_K];
        qtk_kq_unpack_q3_scales(b[i].scales, sc);
        q3_K_levels(&b[i], q);
        for (int s = 0; s < 16; s++) {
            const float dl = d * (float)sc[s];
            for (int l = 0; l < 16; l++) dst[16 * s + l] = dl * (float)q[16 * s + l];
        }
    }
}

/* Shared by Q4_K and Q5_K: w = d·sc·q − dmin·m per 32-weight sub-block. */
static void decode_type1(const uint8_t *scales, float d, float dmin, const uint8_t *qs, const uint8_t *qh,
                         float *dst) {
    uint8_t sc[8], m[8];
    qtk_kq_unpack_scales_min(scales, sc, m);
    for (int s = 0; s < 8; s++) {
        const float dl = d * (float)sc[s], ml = dmin * (float)m[s];
        const uint8_t *q = qs + 32 * (s / 2);
        const int shift = 4 * (s % 2);
        /* unpack to a local array first (no qh test or aliasing with dst in
         * the float loop, so both loops vectorise) */
        uint8_t v[32];
        for (int l = 0; l < 32; l++) v[l] = (uint8_t)((q[l] >> shift) & 15);
        if (qh)
            for (int l = 0; l < 32; l++) v[l] |= (uint8_t)(((qh[l] >> s) & 1) << 4);
        for (int l = 0; l < 32; l++) {
            const float t = dl * (float)v[l];
            dst[32 * s + l] = t - ml;
        }
    }
}

void qtk_q4_K_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q4_K *b = (const qtk_block_q4_K *)row;
    for (int64_t i = 0; i < n / QK_K; i++)
        decode_type1(b[i].scales, qtk_kq_fp16(&b[i].d), qtk_kq_fp16(&b[i].dmin), b[i].qs, NULL, dst + i * QK_K);
}

void qtk_q5_K_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q5_K *b = (const qtk_block_q5_K *)row;
    for (int64_t i = 0; i < n / QK_K; i++)
        decode_type1(b[i].scales, qtk_kq_fp16(&b[i].d), qtk_kq_fp16(&b[i].dmin), b[i].qs, b[i].qh,
                     dst + i * QK_K);
}

void qtk_q6_K_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q6_K *b = (const qtk_block_q6_K *)row;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = qtk_kq_fp16(&b[i].d);
        /* weight k = 128h + 32t + l: low 4 bits from ql (nibble t/2), high 2
         * bits from qh (pair t), scale k/16; loops in this order vectorise */
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 4; t++) {
                const uint8_t *ql = b[i].ql + 64 * h + 32 * (t % 2), *qh = b[i].qh + 32 * h;
                const int shift = t >= 2 ? 4 : 0;
                for (int half = 0; half < 2; half++) {
                    const int k0 = 128 * h + 32 * t + 16 * half;
                    const float dl = d * (float)b[i].scales[k0 / 16];
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        const int lo = (ql[l] >> shift) & 15, hi = (qh[l] >> (2 * t)) & 3;
                        dst[128 * h + 32 * t + l] = dl * (float)((lo | (hi << 4)) - 32);
                    }
                }
            }
    }
}

/* ============================================================================
 * Quantizer building blocks (METHODS.md §1, §2)
 * ========================================================================== */

/* Σw·x·l and Σw·l² of the 36 candidate inverse scales cis[] of fit_symmetric, the
 * candidates as the lanes of one vectorisable loop (issue #17): each candidate adds
 * the same terms in the same order as a one-candidate loop, and its level is rounded
 * with v + 1.5·2^23 − 1.5·2^23 (= qtk_nearest_int for |v| < 2^22; here |v| <= nmax + 1)
 * and clamped to [lo, hi] in float, so every float is the one the integer path gave. */
static void fit_symmetric_sums(int n, float lo, float hi, const float *x, const float *wv, const float *wxv,
                               const float *cis, float *restrict csx, float *restrict cs2) {
    float sx[36], s2[36];
    for (int c = 0; c < 36; c++) sx[c] = s2[c] = 0.0f;
    for (int i = 0; i < n; i++) {
        const float wi = wv[i], wx = wxv[i], xi = x[i];
        for (int c = 0; c < 36; c++) {
            float l = cis[c] * xi;
            l = (l + 12582912.0f) - 12582912.0f;
            l = l > lo ? l : lo;
            l = l < hi ? l : hi;
            sx[c] += wx * l;
            s2[c] += wi * (l * l);
        }
    }
    for (int c = 0; c < 36; c++) csx[c] = sx[c], cs2[c] = s2[c];
}

/* Symmetric scale search for levels −nmax…nmax−1 (stored as L + nmax): start from
 * the signed extreme mapped to −nmax, try the 36 inverse scales −(nmax + 0.1k)/max and
 * (nmax − 1 + 0.1k)/max, k = −9…9, k ≠ 0, keep the best F = (Σwxl)²/Σwl², then the
 * greedy refinement below. w == NULL → w = x².
 * Returns the least-squares scale of the winner. */
static float fit_symmetric(int n, int nmax, const float *x, const float *w, uint8_t *L) { /* n <= 32 */
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < KQ_EPS) {
        memset(L, nmax, (size_t)n);
        return 0.0f;
    }
    float iscale = -(float)nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = clampi(qtk_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (uint8_t)(l + nmax);
        const float wi = w ? w[i] : x[i] * x[i];
        sumlx += wi * x[i] * (float)l;
        suml2 += wi * (float)(l * l);
    }
    float scale = suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    /* The 36 candidates' sums do not depend on which candidate won before: computed
     * first, all at once (fit_symmetric_sums); the choice below is made in order. */
    float cis[36], csx[36], cs2[36];
    int nc = 0;
    for (int it = 0; it < 38; it++) {
        const int is = it % 19 - 9;
        if (is == 0) continue;
        cis[nc++] = it < 19 ? -((float)nmax + 0.1f * (float)is) / max : ((float)nmax - 1.0f + 0.1f * (float)is) / max;
    }
    float wv[32], wxv[32];
    for (int i = 0; i < n; i++) {
        wv[i] = w ? w[i] : x[i] * x[i];
        wxv[i] = wv[i] * x[i];
    }
    const float lo = -(float)nmax, hi = (float)nmax - 1.0f;
    fit_symmetric_sums(n, lo, hi, x, wv, wxv, cis, csx, cs2);
    for (int c = 0; c < nc; c++) {
        iscale = cis[c];
        sumlx = csx[c];
        suml2 = cs2[c];
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (uint8_t)(nmax + clampi(qtk_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    /* Greedy refinement: move the quant with the largest error gradient one level
     * towards its value while that raises F = sumlx²/suml2. The gradients of a step
     * are computed in one vectorisable pass (levels kept as floats), the move is the
     * first weight reaching their maximum: the one the serial `>` scan picked. */
    float lf[32];
    sumlx = suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = L[i] - nmax;
        lf[i] = (float)l;
        sumlx += wxv[i] * lf[i];
        suml2 += wv[i] * (float)(l * l);
    }
    for (int iter = 0; iter < 2 * n && suml2 > 0.0f; iter++) {
        const float d = sumlx / suml2;
        float ga[32], st[32];
        for (int i = 0; i < n; i++) {
            const float g = d * wv[i] * (x[i] - d * lf[i]);
            const float step = g > 0.0f ? 1.0f : -1.0f, nl = lf[i] + step;
            st[i] = step;
            ga[i] = nl >= lo && nl <= hi ? fabsf(g) : 0.0f; /* 0 never wins */
        }
        float gmax = 0.0f;
        for (int i = 0; i < n; i++) gmax = ga[i] > gmax ? ga[i] : gmax;
        if (!(gmax > 0.0f)) break;
        int best_i = 0;
        while (ga[best_i] != gmax) best_i++;
        const int l = L[best_i] - nmax, best_step = (int)st[best_i];
        const float nlx = sumlx + wxv[best_i] * (float)best_step;
        const float nl2 = suml2 + wv[best_i] * (float)(2 * l * best_step + 1);
        if (!(nl2 > 0.0f) || nlx * nlx * suml2 <= sumlx * sumlx * nl2) break;
        L[best_i] = (uint8_t)(L[best_i] + best_step);
        lf[best_i] += (float)best_step;
        sumlx = nlx;
        suml2 = nl2;
    }
    scale = suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    return scale;
}

/* Q3_K's unweighted-by-imatrix sub-block fit: RTN from the signed extreme, then up to
 * five passes moving each quant to its best level given all others (weights x²). */
static float fit_q3_rmse(int n, int nmax, const float *x, uint8_t *L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < KQ_EPS) {
        memset(L, nmax, (size_t)n);
        return 0.0f;
    }
    const float iscale = -(float)nmax / max;
    int l8[QK_K];
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = clampi(qtk_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        l8[i] = l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)(l * l);
    }
    /* Passes over the weights, each moved to its best level given all others. Speed
     * (issue #17): the sums change only when a move is accepted, so the proposals of
     * all remaining weights are computed in one vectorisable pass for the current sums
     * (the same float expressions the serial loop evaluates), the first real proposal
     * is tested serially, and after an accepted move the rest is proposed again. */
    float wv[32], wxv[32], lf[32], slxv[32], sl2v[32], nlv[32];
    for (int i = 0; i < n; i++) {
        wv[i] = x[i] * x[i];
        wxv[i] = wv[i] * x[i];
    }
    const float lo = -(float)nmax, hi = (float)nmax - 1.0f;
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i0 = 0; i0 < n;) {
            for (int i = i0; i < n; i++) {
                lf[i] = (float)l8[i];
                slxv[i] = sumlx - wxv[i] * lf[i];
                sl2v[i] = suml2 - wv[i] * (lf[i] * lf[i]);
                float v = x[i] * sl2v[i] / slxv[i]; /* used only where slx > 0 */
                v = (v + 12582912.0f) - 12582912.0f;
                v = v > lo ? v : lo;
                v = v < hi ? v : hi;
                nlv[i] = slxv[i] > 0.0f ? v : lf[i];
            }
            int i = i0;
            while (i < n && nlv[i] == lf[i]) i++;
            if (i == n) break;
            const int nl = (int)nlv[i];
            const float slx = slxv[i] + wxv[i] * (float)nl, sl2 = sl2v[i] + wv[i] * (float)(nl * nl);
            if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                l8[i] = nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
            i0 = i + 1;
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(l8[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Weighted least-squares (scale, min ≤ 0) for fixed levels L; returns the error. */
static float affine_lsq(int n, const float *x, const float *w, const uint8_t *L, float *scale, float *min) {
    float sum_w = 0.0f, sum_x = 0.0f, sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; i++) {
        sum_w += w[i];
        sum_x += w[i] * x[i];
        sum_l += w[i] * (float)L[i];
        sum_l2 += w[i] * (float)(L[i] * L[i]);
        sum_xl += w[i] * (float)L[i] * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    float a = 0.0f, b = 0.0f;
    if (D > 0.0f) {
        a = (sum_w * sum_xl - sum_x * sum_l) / D;
        b = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (b > 0.0f) {
            b = 0.0f;
            a = sum_xl / sum_l2;
        }
    } else if (sum_l2 > 0.0f) {
        a = sum_xl / sum_l2;
    }
    float err = 0.0f;
    for (int i = 0; i < n; i++) {
        const float diff = a * (float)L[i] + b - x[i];
        err += w[i] * diff * diff;
    }
    *scale = a;
    *min = b;
    return err;
}

/* Greedy type-1 refinement: move the quant with the largest weighted residual one level
 * towards its value, refit (scale, min), keep it while the weighted error drops. */
static void refine_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale, float *min) {
    float a, b;
    float err = affine_lsq(n, x, w, L, &a, &b);
    if (!(a > 0.0f)) return;
    const float fmax_l = (float)nmax;
    for (int iter = 0; iter < 2 * n; iter++) {
        /* the gradients in one vectorisable pass; the move is the first weight reaching
         * their maximum, the one a serial `>` scan picks */
        float ga[32], st[32], gmax = 0.0f;
        for (int i = 0; i < n; i++) {
            const float li = (float)L[i];
            const float g = w[i] * (x[i] - a * li - b);
            const float step = g > 0.0f ? 1.0f : -1.0f, nl = li + step;
            st[i] = step;
            ga[i] = nl >= 0.0f && nl <= fmax_l ? fabsf(g) : 0.0f; /* 0 never wins */
        }
        for (int i = 0; i < n; i++) gmax = ga[i] > gmax ? ga[i] : gmax;
        if (!(gmax > 0.0f)) break;
        int bi = 0;
        while (ga[bi] != gmax) bi++;
        const int bstep = (int)st[bi];
        L[bi] = (uint8_t)(L[bi] + bstep);
        float na, nb;
        const float nerr = affine_lsq(n, x, w, L, &na, &nb);
        if (!(nerr < err) || !(na > 0.0f)) {
            L[bi] = (uint8_t)(L[bi] - bstep);
            break;
        }
        err = nerr;
        a = na;
        b = nb;
    }
    *scale = a;
    *min = b;
}

/* Affine (scale, min ≤ 0) fits for levels 0…nmax of nsb sub-blocks of n ≤ 32 weights
 * (sub-block j at x + n·j, w + n·j, L + n·j; its scale in scales[j], −min in
 * neg_mins[j]). Per sub-block: start from the min/max map, then try inverse scales
 * (rmin + rdelta·k + nmax)/(max − min), k = 0…nstep, each with a closed-form weighted
 * least-squares (scale, min); keep the lowest weighted error (|diff| when use_mad, else
 * diff²); later steps map from the kept min (as the reference does).
 *
 * Speed (issue #17) without changing a result bit from the one-sub-block-at-a-time
 * search this replaced (same bytes, tested by test_effort's SHA-256s and the reference
 * vectors): the time of that search was its serial float sums, chains of dependent
 * additions. Here the sub-blocks are the lanes of the inner loops ([i][lane] arrays),
 * so each lane keeps the serial order of its sums while 8 sub-blocks advance together
 * and the element-wise work vectorises (IEEE element-wise operations are exact per
 * lane). Every step is evaluated in every lane: a step repeating the previous levels
 * gives the same error as before and loses `err < best`, so nothing is skipped that
 * could have won. Levels are rounded with v + 1.5·2^23 − 1.5·2^23, which for
 * |v| < 2^22 is round-to-nearest-even like qtk_nearest_int; larger |v|, ±inf and NaN
 * fall to 0 or nmax through the clamps, as round_clamped does. */
#define FA_LANES 8
static void fit_affine_batch(int nsb, int n, int nmax, const float *x, const float *w, uint8_t *L, float *scales,
                             float *neg_mins, float rmin, float rdelta, int nstep, int use_mad, int refine) {
    const float nmax_f = (float)nmax;
    for (int j0 = 0; j0 < nsb; j0 += FA_LANES) {
        const int nl = nsb - j0 < FA_LANES ? nsb - j0 : FA_LANES;
        float xs[32][FA_LANES], ws[32][FA_LANES], xm[32][FA_LANES], Lf[32][FA_LANES];
        float Lb[32][FA_LANES]; /* the kept levels (integers 0…nmax) */
        float mn[FA_LANES], mx[FA_LANES], sum_w[FA_LANES], sum_x[FA_LANES], best[FA_LANES], scale[FA_LANES];
        float isc[FA_LANES], sl[FA_LANES], sl2[FA_LANES], sxl[FA_LANES], ts[FA_LANES], tm[FA_LANES], err[FA_LANES];
        float take[FA_LANES];
        int live[FA_LANES], ok[FA_LANES];
        /* lanes past nl repeat the first sub-block of the group; their results are dropped */
        for (int j = 0; j < FA_LANES; j++) {
            const int jj = j0 + (j < nl ? j : 0);
            const float *xj = x + (size_t)n * (size_t)jj, *wj = w + (size_t)n * (size_t)jj;
            float min = xj[0], max = xj[0], sw = wj[0], sx = wj[0] * xj[0];
            for (int i = 1; i < n; i++) {
                if (xj[i] < min) min = xj[i];
                if (xj[i] > max) max = xj[i];
                sw += wj[i];
                sx += wj[i] * xj[i];
            }
            if (min > 0.0f) min = 0.0f;
            for (int i = 0; i < n; i++) xs[i][j] = xj[i], ws[i][j] = wj[i], xm[i][j] = xj[i] - min, Lb[i][j] = 0.0f;
            mn[j] = min, mx[j] = max, sum_w[j] = sw, sum_x[j] = sx;
            live[j] = max > min;
            scale[j] = 0.0f;
            best[j] = 0.0f;
            if (!live[j]) continue;
            const float iscale = nmax_f / (max - min);
            scale[j] = 1.0f / iscale;
            for (int i = 0; i < n; i++) {
                const int l = round_clamped(iscale * (xj[i] - min), 0, nmax);
                Lb[i][j] = (float)l;
                const float diff = scale[j] * (float)l + min - xj[i];
                best[j] += wj[i] * (use_mad ? fabsf(diff) : diff * diff);
            }
        }
        for (int i = n; i < 32; i++)
            for (int j = 0; j < FA_LANES; j++) xm[i][j] = 0.0f; /* never read; keeps the arrays defined */
        for (int is = 0; is <= nstep; is++) {
            for (int j = 0; j < FA_LANES; j++)
                isc[j] = (rmin + rdelta * (float)is + nmax_f) / (live[j] ? mx[j] - mn[j] : 1.0f);
            /* nearest level, lane-wise (the 1.5·2^23 rounding above) */
            for (int i = 0; i < n; i++)
                for (int j = 0; j < FA_LANES; j++) {
                    float v = isc[j] * xm[i][j];
                    v = (v + 12582912.0f) - 12582912.0f;
                    v = v > 0.0f ? v : 0.0f;
                    v = v < nmax_f ? v : nmax_f;
                    Lf[i][j] = v; /* an integer 0…nmax: the level, and its square, exact */
                }
            for (int j = 0; j < FA_LANES; j++) sl[j] = sl2[j] = sxl[j] = 0.0f;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < FA_LANES; j++) {
                    const float pl = ws[i][j] * Lf[i][j];
                    sl[j] += pl;
                    sl2[j] += ws[i][j] * (Lf[i][j] * Lf[i][j]);
                    sxl[j] += pl * xs[i][j];
                }
            /* branch-free so the divisions vectorise; a lane whose D ≤ 0 is not
             * evaluated (ok = 0), its divisor replaced by 1 only to stay finite */
            for (int j = 0; j < FA_LANES; j++) {
                const float D = sum_w[j] * sl2[j] - sl[j] * sl[j];
                const int pos = D > 0.0f;
                ok[j] = live[j] & pos;
                const float Ds = pos ? D : 1.0f, l2s = sl2[j] > 0.0f ? sl2[j] : 1.0f;
                const float a = (sum_w[j] * sxl[j] - sum_x[j] * sl[j]) / Ds;
                const float b = (sl2[j] * sum_x[j] - sl[j] * sxl[j]) / Ds;
                const float a0 = sxl[j] / l2s;
                const int clip = b > 0.0f;
                ts[j] = clip ? a0 : a;
                tm[j] = clip ? 0.0f : b;
            }
            for (int j = 0; j < FA_LANES; j++) err[j] = 0.0f;
            if (use_mad)
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < FA_LANES; j++) {
                        const float diff = ts[j] * Lf[i][j] + tm[j] - xs[i][j];
                        err[j] += ws[i][j] * fabsf(diff);
                    }
            else
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < FA_LANES; j++) {
                        const float diff = ts[j] * Lf[i][j] + tm[j] - xs[i][j];
                        err[j] += ws[i][j] * (diff * diff);
                    }
            /* lanes whose error dropped keep this step, branch-free (the lanes' outcomes
             * are unpredictable branches) */
            int any = 0;
            for (int j = 0; j < FA_LANES; j++) {
                const int tk = ok[j] & (err[j] < best[j]);
                any |= tk;
                take[j] = tk ? 1.0f : 0.0f;
                best[j] = tk ? err[j] : best[j];
                scale[j] = tk ? ts[j] : scale[j];
                mn[j] = tk ? tm[j] : mn[j]; /* later candidates map from the new min (as the reference) */
            }
            if (any) {
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < FA_LANES; j++) Lb[i][j] = take[j] != 0.0f ? Lf[i][j] : Lb[i][j];
                for (int i = 0; i < n; i++) /* lanes that kept their min get the same values */
                    for (int j = 0; j < FA_LANES; j++) xm[i][j] = xs[i][j] - mn[j];
            }
        }
        for (int j = 0; j < nl; j++) {
            uint8_t *Lj = L + (size_t)n * (size_t)(j0 + j);
            for (int i = 0; i < n; i++) Lj[i] = (uint8_t)(int)Lb[i][j];
            float sc = scale[j], min = mn[j];
            if (live[j] && refine)
                refine_affine(n, nmax, x + (size_t)n * (size_t)(j0 + j), w + (size_t)n * (size_t)(j0 + j), Lj, &sc, &min);
            scales[j0 + j] = sc;
            neg_mins[j0 + j] = -min;
        }
    }
}

/* Quantizes n non-negative sub-block scales (or mins) to 0…nmax against one float:
 * RTN from the max, try 8 neighbouring inverse scales by weighted error, then up to
 * five passes of per-element best-level moves; returns Σwxl/Σwl² of the result. */
static float fit_positive(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float max = 0.0f;
    for (int i = 0; i < n; i++) max = QTK_MAX(max, x[i]);
    if (!(max > 0.0f)) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)nmax / max;
    float scale = 1.0f / iscale, best = 0.0f;
    for (int i = 0; i < n; i++) {
        const float diff = x[i] - scale * (float)clampi(qtk_nearest_int(iscale * x[i]), 0, nmax);
        best += w[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        const float iscale_is = (0.1f * (float)is + (float)nmax) / max;
        const float scale_is = 1.0f / iscale_is;
        float mse = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = clampi(qtk_nearest_int(iscale_is * x[i]), 0, nmax);
            const float diff = x[i] - scale_is * (float)l;
            mse += w[i] * diff * diff;
        }
        if (mse < best) {
            best = mse;
            iscale = iscale_is;
        }
    }
    int l8[32];
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = clampi(qtk_nearest_int(iscale * x[i]), 0, nmax);
        l8[i] = l;
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)(l * l);
    }
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float slx = sumlx - w[i] * x[i] * (float)l8[i];
            float sl2 = suml2 - w[i] * (float)(l8[i] * l8[i]);
            if (slx > 0.0f && sl2 > 0.0f) {
                const int nl = round_clamped(x[i] * sl2 / slx, 0, nmax);
                if (nl != l8[i]) {
                    slx += w[i] * x[i] * (float)nl;
                    sl2 += w[i] * (float)(nl * nl);
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        l8[i] = nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)l8[i];
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ============================================================================
 * Candidate selection and least-squares polish (shared by all five types)
 *
 * Each type encodes a super-block with a few candidate searches (always including the
 * reference's algorithm for the mode), polishes each by refitting the fp16 super-block
 * scales for the chosen integers and re-rounding, and keeps the candidate with the
 * smallest E = Σ w (x − y)² (w = imatrix, or 1 without one) of its decoded values.
 * ========================================================================== */

typedef struct {
    size_t size;                                             /* block bytes */
    void (*decode)(const void *blk, float *dst, int64_t n);  /* to_float of one block */
    void (*parts)(const void *blk, float *A, float *B);      /* y = d·A − dmin·B per weight */
    void (*set_scales)(void *blk, float d, float dmin);      /* store fp16 super-scales */
    void (*reround)(const float *x, void *blk);              /* nearest levels for the scales */
    int has_min;
} kq_ops;

/* E of a decoded block (w == NULL: unit weights). exact = 1: one serial double sum (max's
 * order, its recorded bytes); 0: default's, eight float partial sums the compiler
 * vectorises, added in double (as kq_polish_sums; only compared with each other). */
static double block_error(const float *x, const float *w, const float *y, int exact) {
    if (exact) {
        double e = 0.0;
        for (int i = 0; i < QK_K; i++) {
            const double d = (double)x[i] - (double)y[i];
            e += (w ? (double)w[i] : 1.0) * d * d;
        }
        return e;
    }
    float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (w)
        for (int i = 0; i < QK_K; i += 8)
            for (int l = 0; l < 8; l++) {
                const float d = x[i + l] - y[i + l];
                p[l] += w[i + l] * (d * d);
            }
    else
        for (int i = 0; i < QK_K; i += 8)
            for (int l = 0; l < 8; l++) {
                const float d = x[i + l] - y[i + l];
                p[l] += d * d;
            }
    double e = 0.0;
    for (int l = 0; l < 8; l++) e += (double)p[l];
    return e;
}

/* The five least-squares sums of kq_polish, s = {Σw·A², Σw·A·B, Σw·B², Σw·x·A, Σw·x·B}.
 * exact = 1: one serial double chain each, the order max's bytes were recorded with
 * (test_effort's SHA-256s). exact = 0 (default's polish, issue #17: the serial chains
 * were a quarter of a Q3_K polish): eight interleaved float partial sums per quantity,
 * added up in double at the end, vectorised by the compiler, and the B sums skipped
 * when the type has no mins (B = 0). Float is plenty here: the sums only propose
 * d and dmin, and the polish keeps a proposal only if the block's error drops. Both
 * are plain C in a fixed order, so neither depends on the ISA. */
#define KQ_SUM_LANES 8
static double kq_dot8(const float *a, const float *b) { /* Σ a·b over a super-block, 8 float partial sums */
    float p[KQ_SUM_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < QK_K; i += KQ_SUM_LANES)
        for (int l = 0; l < KQ_SUM_LANES; l++) p[l] += a[i + l] * b[i + l];
    double t = 0.0;
    for (int l = 0; l < KQ_SUM_LANES; l++) t += (double)p[l];
    return t;
}
static void kq_polish_sums(const float *x, const float *wm, const float *A, const float *B, int has_min, int exact,
                           double s[5]) {
    if (exact) {
        double saa = 0, sab = 0, sbb = 0, sxa = 0, sxb = 0;
        for (int i = 0; i < QK_K; i++) {
            const double w = wm ? (double)wm[i] : 1.0;
            saa += w * A[i] * A[i];
            sab += w * A[i] * B[i];
            sbb += w * B[i] * B[i];
            sxa += w * x[i] * A[i];
            sxb += w * x[i] * B[i];
        }
        s[0] = saa, s[1] = sab, s[2] = sbb, s[3] = sxa, s[4] = sxb;
        return;
    }
    float wa[QK_K], wb[QK_K];
    const float *pa = A, *pb = B;
    if (wm) {
        for (int i = 0; i < QK_K; i++) wa[i] = wm[i] * A[i];
        pa = wa;
    }
    s[0] = kq_dot8(pa, A);
    s[3] = kq_dot8(pa, x);
    s[1] = s[2] = s[4] = 0.0;
    if (has_min) {
        if (wm) {
            for (int i = 0; i < QK_K; i++) wb[i] = wm[i] * B[i];
            pb = wb;
        }
        s[1] = kq_dot8(pa, B);
        s[2] = kq_dot8(pb, B);
        s[4] = kq_dot8(pb, x);
    }
}

/* Refits d (and dmin) by weighted least squares for the block's integers, re-rounds,
 * and keeps the result while E decreases. Returns the block's final E. exact: how the
 * sums are taken (kq_polish_sums). */
static double kq_polish(const kq_ops *ops, const float *x, const float *wm, void *blk, double known_err, int exact) {
    float y[QK_K], A[QK_K], B[QK_K];
    uint8_t tmp[256];
    double best = known_err; /* E of blk when the caller computed it (kq_take), else < 0 */
    if (best < 0.0) {
        ops->decode(blk, y, QK_K);
        best = block_error(x, wm, y, exact);
    }
    for (int it = 0; it < 4 && best > 0.0; it++) {
        ops->parts(blk, A, B);
        double sums[5];
        kq_polish_sums(x, wm, A, B, ops->has_min, exact, sums);
        const double saa = sums[0], sab = sums[1], sbb = sums[2], sxa = sums[3], sxb = sums[4];
        if (!(saa > 0.0)) break;
        double d, dmin = 0.0;
        const double det = saa * sbb - sab * sab;
        if (ops->has_min && sbb > 0.0 && det > 1e-12 * saa * sbb) {
            /* y = d·A + c·B with c = −dmin */
            d = (sxa * sbb - sxb * sab) / det;
            dmin = -(saa * sxb - sab * sxa) / det;
        } else {
            d = sxa / saa;
        }
        if (!isfinite(d) || !isfinite(dmin) || fabs(d) > 65000.0 || fabs(dmin) > 65000.0) break;
        memcpy(tmp, blk, ops->size);
        ops->set_scales(tmp, (float)d, (float)dmin);
        ops->reround(x, tmp);
        ops->decode(tmp, y, QK_K);
        const double e = block_error(x, wm, y, exact);
        if (!(e < best)) break;
        best = e;
        memcpy(blk, tmp, ops->size);
    }
    return best;
}

/* Polishes candidate `cand` and copies it into `best` if its E is the lowest so far. */
static void kq_consider(const kq_ops *ops, const float *x, const float *wm, void *cand, void *best,
                        double *best_err) {
    const double e = kq_polish(ops, x, wm, cand, -1.0, 1);
    if (e < *best_err) {
        *best_err = e;
        memcpy(best, cand, ops->size);
    }
}

/* Effort levels (docs/types.md "Effort levels"): QTK_EFFORT_FAST encodes only the
 * reference's candidate (modes[0] below), unpolished; QTK_EFFORT_MAX tries every
 * candidate, each with the finest sub-block search and polished. QTK_EFFORT_DEFAULT
 * (Q3_K, Q4_K, Q5_K) takes fast's candidate without an imatrix; with one it tries the
 * first two candidates (Q4_K/Q5_K's with the reference's coarser scale steps) and keeps
 * the better one (the second wins often there: 0.96–0.99 instead of up to 1.003 of the
 * reference's error per distribution). Q2_K's default (q2_K_block) and Q6_K's
 * (q6_K_block) pick their own candidates. Default and max then scan the sub-block
 * codes (affine_refine_codes, sym_refine_codes) and polish: within 0.99 of the
 * reference's error summed over the shared vectors, at about the reference's speed
 * (docs/types.md, issue #17).
 * Candidates of a level are always tried in the same order, so its bytes do not depend
 * on the ISA or the thread count. */
static int kq_level(int effort) {
    return effort == QTK_EFFORT_FAST || effort == QTK_EFFORT_DEFAULT ? effort : QTK_EFFORT_MAX;
}
static int kq_candidates(int effort, int n_max, const float *imat) {
    return effort == QTK_EFFORT_MAX ? n_max : effort == QTK_EFFORT_DEFAULT && imat ? 2 : 1;
}

/* Keeps candidate `cand` as the result when it is the best so far: FAST takes it as
 * is, MAX polishes it first, DEFAULT compares it unpolished (the one kept is polished
 * after the code scan). */
static void kq_take(const kq_ops *ops, const float *x, const float *wm, int effort, void *cand, void *best,
                    double *best_err) {
    if (effort == QTK_EFFORT_FAST) {
        memcpy(best, cand, ops->size);
        *best_err = 0.0;
        return;
    }
    if (effort == QTK_EFFORT_DEFAULT) {
        float y[QK_K];
        ops->decode(cand, y, QK_K);
        const double e = block_error(x, wm, y, 0);
        if (e < *best_err) {
            *best_err = e;
            memcpy(best, cand, ops->size);
        }
        return;
    }
    kq_consider(ops, x, wm, cand, best, best_err);
}

/* Candidate weighting modes of the sub-block searches. */
enum { KQ_REF_PLAIN = 0, KQ_IMAT_SIGMA = 1, KQ_IMAT_DIRECT = 2, KQ_PLAIN_QP = 3 };

/* Per-weight search weights for the imatrix-style paths: qw·sqrt(σ² + x²) (reference)
 * or qw alone (the error metric itself). qw == NULL counts as unit importance. */
static void search_weights(const float *x, const float *qw, float c, int mode, float *w) {
    float sumx2 = 0.0f;
    for (int j = 0; j < QK_K; j++) sumx2 += x[j] * x[j];
    const float sigma2 = c * sumx2 / QK_K;
    for (int j = 0; j < QK_K; j++) {
        const float q = qw ? qw[j] : 1.0f;
        w[j] = mode == KQ_IMAT_DIRECT ? q : q * sqrtf(sigma2 + x[j] * x[j]);
    }
}

/* ============================================================================
 * Q2_K
 * ========================================================================== */

static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* 2-bit level of weight 16·s + l (s = sub-block in storage order). */
static int q2_level(const uint8_t *qs, int s, int l) {
    const int h = s / 8, j = (s % 8) / 2, l0 = 16 * (s % 2);
    return (qs[32 * h + l0 + l] >> (2 * j)) & 3;
}

/* Weighted error of an n-weight sub-block (n = 16 or 32) at dl, ml with nearest
 * levels 0…nmax (round_levels' rounding; a zero dl puts every weight on level 0),
 * the terms summed in a fixed order. */
static float affine_sub_error(const float *x, const float *w, float dl, float ml, int nmax, int n) {
    float e[32];
    const float fhi = (float)nmax, idl = dl != 0.0f ? 1.0f / dl : 0.0f;
    for (int l = 0; l < n; l++) {
        float v = (x[l] + ml) * idl;
        v = (v + 12582912.0f) - 12582912.0f;
        v = v > 0.0f ? v : 0.0f;
        v = v < fhi ? v : fhi;
        v = dl != 0.0f ? v : 0.0f;
        const float r = x[l] - (dl * v - ml);
        e[l] = w[l] * r * r;
    }
    if (n == 32)
        for (int l = 0; l < 16; l++) e[l] += e[l + 16];
    for (int l = 0; l < 8; l++) e[l] += e[l + 8];
    return ((e[0] + e[4]) + (e[1] + e[5])) + ((e[2] + e[6]) + (e[3] + e[7]));
}

/* The code scan of the K-quants with mins (Q2_K, Q4_K, Q5_K; issue #17): every
 * sub-block's scale and min codes (0…cmax) are re-chosen jointly for the block's d,
 * dmin among the codes within `win` of its own ((2·win + 1)² pairs), the levels
 * re-rounded at each, and the lowest weighted error kept. The reference rounds each
 * sub-block's float scale and min to a code on their own and re-rounds the levels
 * after; docs/types.md gives the gains. The levels here come from a multiply by
 * 1/dl where round_levels divides: the two can differ on an exact tie, which only
 * makes the estimate of one pair's error differ from the block's final rounding. */
static void affine_refine_codes(const float *x, const float *wm, float d, float dmin, int nmax, int nsb, int n,
                                int cmax, int win, uint8_t *sc, uint8_t *m) {
    static const float ones[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    for (int j = 0; j < nsb; j++) {
        const float *xj = x + n * j, *wj = wm ? wm + n * j : ones;
        int bs = sc[j], bm = m[j];
        float be = affine_sub_error(xj, wj, d * (float)sc[j], dmin * (float)m[j], nmax, n);
        for (int a = sc[j] - win; a <= sc[j] + win; a++) {
            if (a < 0 || a > cmax) continue;
            for (int b = m[j] - win; b <= m[j] + win; b++) {
                if (b < 0 || b > cmax || (a == sc[j] && b == m[j])) continue;
                const float e = affine_sub_error(xj, wj, d * (float)a, dmin * (float)b, nmax, n);
                if (e < be) {
                    be = e;
                    bs = a;
                    bm = b;
                }
            }
        }
        sc[j] = (uint8_t)bs;
        m[j] = (uint8_t)bm;
    }
}

/* The scan's window (codes either side) of the K-quants with mins, per effort. */
#define KQ_CODE_WINDOW(effort) ((effort) == QTK_EFFORT_MAX ? 4 : 2)

static void q2_K_decode_blk(const void *b, float *y, int64_t n) { qtk_q2_K_to_float(b, y, n); }

static void q2_K_parts(const void *vb, float *A, float *B) {
    const qtk_block_q2_K *b = (const qtk_block_q2_K *)vb;
    for (int s = 0; s < 16; s++)
        for (int l = 0; l < 16; l++) {
            A[16 * s + l] = (float)((b->scales[s] & 15) * q2_level(b->qs, s, l));
            B[16 * s + l] = (float)(b->scales[s] >> 4);
        }
}

static void q2_K_set_scales(void *vb, float d, float dmin) {
    qtk_block_q2_K *b = (qtk_block_q2_K *)vb;
    put_fp16(&b->d, d);
    put_fp16(&b->dmin, dmin);
}

/* Nearest 2-bit level of every weight for the block's quantized scales and mins. */
static void q2_K_reround(const float *x, void *vb) {
    qtk_block_q2_K *b = (qtk_block_q2_K *)vb;
    uint8_t L[QK_K];
    const float d = qtk_kq_fp16(&b->d), dmin = qtk_kq_fp16(&b->dmin);
    float dl[16], ml[16];
    for (int j = 0; j < 16; j++) {
        dl[j] = d * (float)(b->scales[j] & 15);
        ml[j] = dmin * (float)(b->scales[j] >> 4);
    }
    round_levels(16, 16, x, ml, dl, 0, 3, 0, L);
    pack_2bit(L, b->qs);
}

static const kq_ops q2_K_ops = {sizeof(qtk_block_q2_K), q2_K_decode_blk, q2_K_parts, q2_K_set_scales, q2_K_reround, 1};

/* One Q2_K candidate. KQ_REF_PLAIN: |x|-weighted MAD fit per 16, 4-bit scale/min codes
 * against their maxima; otherwise weighted LS fit + weighted 4-bit code search
 * (METHODS §2 "Q2_K and Q3_K"). */
static void q2_K_encode(const float *x, const float *qw, int mode, float shrink, int effort, qtk_block_q2_K *y) {
    uint8_t L[QK_K];
    float w[QK_K], scales[16], mins[16], sw[16];
    memset(y, 0, sizeof *y);
    if (mode == KQ_REF_PLAIN || mode == KQ_PLAIN_QP) {
        float max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < QK_K; j++) w[j] = fabsf(x[j]);
        fit_affine_batch(16, 16, 3, x, w, L, scales, mins, -0.5f, 0.1f, 15, 1, 0);
        for (int j = 0; j < 16; j++) {
            max_scale = QTK_MAX(max_scale, scales[j]);
            max_min = QTK_MAX(max_min, mins[j]);
        }
        if (mode == KQ_PLAIN_QP) {
            /* plain fits, but weighted code search (keeps small sub-blocks off code 0) */
            uint8_t Ls[16], Lm[16];
            for (int j = 0; j < 16; j++) {
                float s = 0.0f;
                for (int l = 0; l < 16; l++) s += qw ? qw[16 * j + l] : 1.0f;
                sw[j] = s;
            }
            put_fp16(&y->d, fit_positive(16, 15, scales, Ls, sw));
            put_fp16(&y->dmin, fit_positive(16, 15, mins, Lm, sw));
            for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
            q2_K_reround(x, y);
            return;
        }
        max_scale *= shrink; /* < 1: codes clamp at 15, re-rounding re-fits those sub-blocks */
        if (max_scale > 0.0f) {
            const float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)clampi(qtk_nearest_int(iscale * scales[j]), 0, 15);
            put_fp16(&y->d, max_scale / 15.0f);
        }
        if (max_min > 0.0f) {
            const float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; j++)
                y->scales[j] |= (uint8_t)(clampi(qtk_nearest_int(iscale * mins[j]), 0, 15) << 4);
            put_fp16(&y->dmin, max_min / 15.0f);
        }
    } else {
        uint8_t Ls[16], Lm[16];
        search_weights(x, qw, 0.75f, mode, w);
        for (int j = 0; j < 16; j++) {
            float s = 0.0f;
            for (int l = 0; l < 16; l++) s += w[16 * j + l];
            sw[j] = s;
        }
        if (effort == QTK_EFFORT_DEFAULT) /* the reference's plain 16 coarser steps, refinement kept */
            fit_affine_batch(16, 16, 3, x, w, L, scales, mins, -0.5f, 0.1f, 15, 0, 1);
        else
            fit_affine_batch(16, 16, 3, x, w, L, scales, mins, -0.9f, 0.05f, 36, 0, 1);
        const float dm = fit_positive(16, 15, scales, Ls, sw);
        const float mm = fit_positive(16, 15, mins, Lm, sw);
        for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        put_fp16(&y->d, dm);
        put_fp16(&y->dmin, mm);
    }
    q2_K_reround(x, y);
}

static void q2_K_block(const float *x, const float *imat, int effort, qtk_block_q2_K *y) {
    qtk_block_q2_K cand;
    double best = INFINITY;
    static const int modes_plain[] = {KQ_REF_PLAIN, KQ_IMAT_SIGMA, KQ_IMAT_DIRECT, KQ_PLAIN_QP, KQ_REF_PLAIN,
                                      KQ_REF_PLAIN};
    static const int modes_imat[] = {KQ_IMAT_SIGMA, KQ_IMAT_DIRECT, KQ_REF_PLAIN, KQ_PLAIN_QP, KQ_REF_PLAIN,
                                     KQ_REF_PLAIN};
    static const float shrink[] = {1.0f, 1.0f, 1.0f, 1.0f, 0.75f, 2.0f / 3.0f};
    const int *modes = imat ? modes_imat : modes_plain;
    /* the candidates of a level (bit k = modes[k]): fast the reference's alone; default
     * the pair that won on the vectors (docs/types.md "Effort levels") */
    const int use = effort == QTK_EFFORT_MAX ? 63 : effort == QTK_EFFORT_FAST ? 1 : imat ? 3 : 5;
    for (int k = 0; k < 6; k++) {
        if (!(use >> k & 1)) continue;
        q2_K_encode(x, imat, modes[k], shrink[k], effort, &cand);
        kq_take(&q2_K_ops, x, imat, effort, &cand, y, &best);
    }
    if (!(best < INFINITY)) {
        q2_K_encode(x, imat, modes[0], 1.0f, effort, y);
        return;
    }
    if (effort == QTK_EFFORT_FAST) return;
    /* the code scan (4-bit scale and min codes: 5 × 5 pairs, max 9 × 9), then d, dmin
     * refitted: default polishes its kept candidate only here, after the scan */
    uint8_t sc[16], m[16];
    for (int j = 0; j < 16; j++) {
        sc[j] = y->scales[j] & 15;
        m[j] = y->scales[j] >> 4;
    }
    affine_refine_codes(x, imat, qtk_kq_fp16(&y->d), qtk_kq_fp16(&y->dmin), 3, 16, 16, 15, KQ_CODE_WINDOW(effort),
                        sc, m);
    for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(sc[j] | (m[j] << 4));
    q2_K_reround(x, y);
    kq_polish(&q2_K_ops, x, imat, y, -1.0, effort == QTK_EFFORT_MAX);
}

size_t qtk_q2_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    KQ_DISPATCH_AVX2(q2_K, src, dst, nrows, n, imatrix, effort);
    effort = kq_level(effort);
    qtk_block_q2_K *y = (qtk_block_q2_K *)dst;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t i = 0; i < n / QK_K; i++)
            q2_K_block(src + r * n + i * QK_K, imatrix ? imatrix + i * QK_K : NULL, effort, y++);
    return (size_t)(nrows * (n / QK_K)) * sizeof(qtk_block_q2_K);
}

size_t qtk_q2_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q2_K_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

void qtk_q2_K_from_float(const float *src, void *dst, int64_t n) { qtk_q2_K_quantize(src, dst, 1, n, NULL); }

/* ============================================================================
 * Q3_K
 * ========================================================================== */

/* Stores the 16 codes l ∈ [0,63] (= scale + 32) in Q3_K's 12-byte packing. */
static void pack_q3_scales(const int *l, uint8_t *b) {
    memset(b, 0, 12);
    for (int j = 0; j < 16; j++) {
        if (j < 8)
            b[j] = (uint8_t)(l[j] & 15);
        else
            b[j - 8] |= (uint8_t)((l[j] & 15) << 4);
        b[j % 4 + 8] |= (uint8_t)((l[j] >> 4) << (2 * (j / 4)));
    }
}

/* Weighted error of a 16-weight sub-block at effective scale dl with the nearest
 * levels lo…hi (round_levels' rounding), the 16 terms summed in a fixed order. */
static float sym_sub_error(const float *x, const float *w, float dl, float lo, float hi) {
    float e[16], s8[8];
    for (int l = 0; l < 16; l++) {
        float v = x[l] / dl;
        v = (v + 12582912.0f) - 12582912.0f;
        v = v > lo ? v : lo;
        v = v < hi ? v : hi;
        const float r = x[l] - dl * v;
        e[l] = w[l] * r * r;
    }
    for (int l = 0; l < 8; l++) s8[l] = e[l] + e[l + 8];
    return ((s8[0] + s8[4]) + (s8[1] + s8[5])) + ((s8[2] + s8[6]) + (s8[3] + s8[7]));
}

/* The code scan of the symmetric K-quants (Q3_K, Q6_K; issue #17): every
 * sub-block's signed scale code is re-chosen for the block's d among the codes
 * cmin…cmax within wfix + rel·|code| of its own (rel >= 1: all of them), the levels
 * lo…hi re-rounded at each, the lowest weighted error kept (wm NULL: unit weights).
 * The rounding error of 16 weights is far from smooth in the scale (local minima
 * about one level step apart in relative terms), which the per-sub-block fits only
 * sample and the reference's rounding of each float scale to a code ignores:
 * docs/types.md gives the gains. */
static void sym_refine_codes(const float *x, const float *wm, float d, int lo, int hi, int cmin, int cmax, float rel,
                             int wfix, int *codes) {
    static const float ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    if (!(d != 0.0f)) return;
    const float flo = (float)lo, fhi = (float)hi;
    for (int j = 0; j < 16; j++) {
        const int S0 = codes[j];
        if (S0 == 0) continue;
        const float *xj = x + 16 * j, *wj = wm ? wm + 16 * j : ones;
        const int win = rel >= 1.0f ? cmax - cmin : wfix + (int)(rel * (float)abs(S0));
        const int a = S0 - win < cmin ? cmin : S0 - win, b = S0 + win > cmax ? cmax : S0 + win;
        int bS = S0;
        float be = sym_sub_error(xj, wj, d * (float)S0, flo, fhi);
        for (int S = a; S <= b; S++) {
            if (S == S0 || S == 0) continue;
            const float e = sym_sub_error(xj, wj, d * (float)S, flo, fhi);
            if (e < be) {
                be = e;
                bS = S;
            }
        }
        codes[j] = bS;
    }
}

static void q3_K_decode_blk(const void *b, float *y, int64_t n) { qtk_q3_K_to_float(b, y, n); }

static void q3_K_parts(const void *vb, float *A, float *B) {
    const qtk_block_q3_K *b = (const qtk_block_q3_K *)vb;
    int8_t sc[16], q[QK_K];
    qtk_kq_unpack_q3_scales(b->scales, sc);
    q3_K_levels(b, q);
    for (int s = 0; s < 16; s++)
        for (int l = 0; l < 16; l++) {
            A[16 * s + l] = (float)(sc[s] * q[16 * s + l]);
            B[16 * s + l] = 0.0f;
        }
}

static void q3_K_set_scales(void *vb, float d, float dmin) {
    (void)dmin;
    put_fp16(&((qtk_block_q3_K *)vb)->d, d);
}

/* Nearest 3-bit level of every weight for the block's quantized scales. */
static void q3_K_reround(const float *x, void *vb) {
    qtk_block_q3_K *b = (qtk_block_q3_K *)vb;
    uint8_t L[QK_K];
    int8_t sc[16];
    qtk_kq_unpack_q3_scales(b->scales, sc);
    const float d = qtk_kq_fp16(&b->d);
    float dl[16];
    for (int j = 0; j < 16; j++) dl[j] = d * (float)sc[j];
    round_levels(16, 16, x, NULL, dl, -4, 3, 4, L);
    memset(b->hmask, 0, sizeof b->hmask);
    for (int g = 0; g < QK_K / 32; g++) /* branch-free: L ∈ 0…7, bit 2 goes to hmask */
        for (int l = 0; l < 32; l++) {
            b->hmask[l] |= (uint8_t)((L[32 * g + l] >> 2) << g);
            L[32 * g + l] &= 3;
        }
    pack_2bit(L, b->qs);
}

static const kq_ops q3_K_ops = {sizeof(qtk_block_q3_K), q3_K_decode_blk, q3_K_parts, q3_K_set_scales, q3_K_reround, 0};

/* One Q3_K candidate. KQ_REF_PLAIN: x²-weighted refinement per 16 and scale codes
 * against the largest; otherwise weighted symmetric search and weighted 6-bit code
 * search (METHODS §2 "Q2_K and Q3_K"). */
static void q3_K_encode(const float *x, const float *qw, int mode, qtk_block_q3_K *y) {
    uint8_t L[QK_K];
    float scales[16];
    int ls[16];
    memset(y, 0, sizeof *y);
    if (mode == KQ_REF_PLAIN) {
        float max_scale = 0.0f, amax = 0.0f;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_q3_rmse(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) ls[j] = clampi(qtk_nearest_int(iscale * scales[j]), -32, 31) + 32;
            pack_q3_scales(ls, y->scales);
            put_fp16(&y->d, 1.0f / iscale);
        }
    } else {
        float w[QK_K], sw[16];
        uint8_t Ls[16];
        search_weights(x, qw, 2.0f, mode, w);
        for (int j = 0; j < 16; j++) {
            float s = 0.0f;
            for (int l = 0; l < 16; l++) s += w[16 * j + l];
            sw[j] = s;
            scales[j] = fit_symmetric(16, 4, x + 16 * j, w + 16 * j, L + 16 * j);
        }
        const float d = fit_symmetric(16, 32, scales, sw, Ls);
        for (int j = 0; j < 16; j++) ls[j] = Ls[j];
        pack_q3_scales(ls, y->scales);
        put_fp16(&y->d, d);
    }
    q3_K_reround(x, y);
}

static void q3_K_block(const float *x, const float *imat, int effort, qtk_block_q3_K *y) {
    qtk_block_q3_K cand;
    double best = INFINITY;
    static const int modes_plain[] = {KQ_REF_PLAIN, KQ_IMAT_SIGMA, KQ_IMAT_DIRECT};
    static const int modes_imat[] = {KQ_IMAT_SIGMA, KQ_IMAT_DIRECT, KQ_REF_PLAIN};
    const int *modes = imat ? modes_imat : modes_plain;
    for (int k = 0; k < kq_candidates(effort, 3, imat); k++) {
        q3_K_encode(x, imat, modes[k], &cand);
        kq_take(&q3_K_ops, x, imat, effort, &cand, y, &best);
    }
    if (!(best < INFINITY)) {
        q3_K_encode(x, imat, modes[0], y);
        return;
    }
    if (effort == QTK_EFFORT_FAST) return;
    /* the code scan (default: two codes either side; max: all), then d refitted: the
     * polish of default's kept candidate comes after the scan */
    int8_t sc[16];
    int codes[16];
    qtk_kq_unpack_q3_scales(y->scales, sc);
    for (int j = 0; j < 16; j++) codes[j] = sc[j];
    sym_refine_codes(x, imat, qtk_kq_fp16(&y->d), -4, 3, -32, 31, effort == QTK_EFFORT_MAX ? 1.0f : 0.0f, 2, codes);
    for (int j = 0; j < 16; j++) codes[j] += 32;
    pack_q3_scales(codes, y->scales);
    q3_K_reround(x, y);
    kq_polish(&q3_K_ops, x, imat, y, -1.0, effort == QTK_EFFORT_MAX);
}

size_t qtk_q3_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    KQ_DISPATCH_AVX2(q3_K, src, dst, nrows, n, imatrix, effort);
    effort = kq_level(effort);
    qtk_block_q3_K *y = (qtk_block_q3_K *)dst;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t i = 0; i < n / QK_K; i++)
            q3_K_block(src + r * n + i * QK_K, imatrix ? imatrix + i * QK_K : NULL, effort, y++);
    return (size_t)(nrows * (n / QK_K)) * sizeof(qtk_block_q3_K);
}

size_t qtk_q3_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q3_K_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

void qtk_q3_K_from_float(const float *src, void *dst, int64_t n) { qtk_q3_K_quantize(src, dst, 1, n, NULL); }

/* ============================================================================
 * Q4_K and Q5_K
 * ========================================================================== */

/* Stores 6-bit scale codes ls[8] and min codes lm[8] in the 12-byte packing. */
static void pack_scales_min(const uint8_t *ls, const uint8_t *lm, uint8_t *b) {
    for (int j = 0; j < 4; j++) {
        b[j] = (uint8_t)((ls[j] & 63) | ((ls[j + 4] >> 4) << 6));
        b[j + 4] = (uint8_t)((lm[j] & 63) | ((lm[j + 4] >> 4) << 6));
        b[j + 8] = (uint8_t)((ls[j + 4] & 15) | ((lm[j + 4] & 15) << 4));
    }
}

/* Type-1 codes for one super-block (Q4_K: nmax 15, Q5_K: nmax 31): per-32 affine fit,
 * 6-bit codes of scales and mins, fp16 d/dmin. KQ_REF_PLAIN is the reference's
 * no-imatrix algorithm (weights rms + |x|, codes against the maxima). */
static void type1_codes(const float *x, const float *qw, int mode, int nmax, int effort, uint8_t *scales12,
                        uint16_t *dh, uint16_t *dmh) {
    uint8_t L[QK_K];
    float w[QK_K], scales[8], mins[8], sw[8];
    uint8_t ls[8], lm[8];
    if (mode == KQ_REF_PLAIN) {
        float max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < 8; j++) {
            float s2 = 0.0f;
            for (int l = 0; l < 32; l++) s2 += x[32 * j + l] * x[32 * j + l];
            const float av_x = sqrtf(s2 / 32);
            for (int l = 0; l < 32; l++) w[32 * j + l] = av_x + fabsf(x[32 * j + l]);
        }
        /* default: the reference's range in 11 steps instead of 21 / 16 — the code scan
         * that follows (type1_refine_codes) more than makes up for them */
        const int coarse = effort == QTK_EFFORT_DEFAULT;
        if (nmax == 15) fit_affine_batch(8, 32, 15, x, w, L, scales, mins, -1.0f, coarse ? 0.2f : 0.1f, coarse ? 10 : 20, 0, 0);
        else fit_affine_batch(8, 32, 31, x, w, L, scales, mins, -0.5f, coarse ? 0.15f : 0.1f, coarse ? 10 : 15, 0, 0);
        for (int j = 0; j < 8; j++) {
            max_scale = QTK_MAX(max_scale, scales[j]);
            max_min = QTK_MAX(max_min, mins[j]);
        }
        const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
        const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
        for (int j = 0; j < 8; j++) {
            ls[j] = (uint8_t)clampi(qtk_nearest_int(inv_scale * scales[j]), 0, 63);
            lm[j] = (uint8_t)clampi(qtk_nearest_int(inv_min * mins[j]), 0, 63);
        }
        put_fp16(dh, max_scale / 63.0f);
        put_fp16(dmh, max_min / 63.0f);
    } else {
        search_weights(x, qw, 2.0f, mode, w);
        for (int j = 0; j < 8; j++) {
            float s = 0.0f;
            for (int l = 0; l < 32; l++) s += w[32 * j + l];
            sw[j] = s;
        }
        if (effort == QTK_EFFORT_DEFAULT) /* the reference's 21 coarser steps (docs/types.md) */
            fit_affine_batch(8, 32, nmax, x, w, L, scales, mins, -1.0f, 0.1f, 20, 0, 1);
        else
            fit_affine_batch(8, 32, nmax, x, w, L, scales, mins, -0.9f, 0.05f, 36, 0, 1);
        put_fp16(dh, fit_positive(8, 63, scales, ls, sw));
        put_fp16(dmh, fit_positive(8, 63, mins, lm, sw));
    }
    pack_scales_min(ls, lm, scales12);
}

/* Nearest level 0…nmax of every weight for quantized scales/mins (type-1 blocks). */
static void type1_levels(const float *x, const uint8_t *scales12, float d, float dmin, int nmax, uint8_t *L) {
    uint8_t sc[8], m[8];
    qtk_kq_unpack_scales_min(scales12, sc, m);
    float dl[8], ml[8];
    for (int j = 0; j < 8; j++) {
        dl[j] = d * (float)sc[j];
        ml[j] = dmin * (float)m[j];
    }
    round_levels(8, 32, x, ml, dl, 0, nmax, 0, L);
}

/* A = sc·q, B = m per weight for a type-1 block whose levels are given. */
static void type1_parts(const uint8_t *scales12, const uint8_t *L, float *A, float *B) {
    uint8_t sc[8], m[8];
    qtk_kq_unpack_scales_min(scales12, sc, m);
    for (int j = 0; j < 8; j++) {
        const int s = sc[j];
        const float mj = (float)m[j];
        for (int l = 0; l < 32; l++) {
            A[32 * j + l] = (float)(s * L[32 * j + l]);
            B[32 * j + l] = mj;
        }
    }
}

static void q4_K_decode_blk(const void *b, float *y, int64_t n) { qtk_q4_K_to_float(b, y, n); }

static void q4_K_levels_of(const qtk_block_q4_K *b, uint8_t *L) {
    for (int h = 0; h < 4; h++) /* 64 weights per 32 bytes: low nibbles then high nibbles */
        for (int l = 0; l < 32; l++) {
            L[64 * h + l] = b->qs[32 * h + l] & 15;
            L[64 * h + 32 + l] = b->qs[32 * h + l] >> 4;
        }
}

static void q4_K_parts(const void *vb, float *A, float *B) {
    const qtk_block_q4_K *b = (const qtk_block_q4_K *)vb;
    uint8_t L[QK_K];
    q4_K_levels_of(b, L);
    type1_parts(b->scales, L, A, B);
}

static void q4_K_set_scales(void *vb, float d, float dmin) {
    qtk_block_q4_K *b = (qtk_block_q4_K *)vb;
    put_fp16(&b->d, d);
    put_fp16(&b->dmin, dmin);
}

static void q4_K_reround(const float *x, void *vb) {
    qtk_block_q4_K *b = (qtk_block_q4_K *)vb;
    uint8_t L[QK_K];
    type1_levels(x, b->scales, qtk_kq_fp16(&b->d), qtk_kq_fp16(&b->dmin), 15, L);
    for (int j = 0; j < QK_K; j += 64)
        for (int l = 0; l < 32; l++) b->qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

/* Q4_K/Q5_K: the scan on their packed 6-bit codes (8 sub-blocks of 32). */
static void type1_refine_codes(const float *x, const float *wm, float d, float dmin, int nmax, int win,
                               uint8_t *scales12) {
    uint8_t sc[8], m[8];
    qtk_kq_unpack_scales_min(scales12, sc, m);
    affine_refine_codes(x, wm, d, dmin, nmax, 8, 32, 63, win, sc, m);
    pack_scales_min(sc, m, scales12);
}

static const kq_ops q4_K_ops = {sizeof(qtk_block_q4_K), q4_K_decode_blk, q4_K_parts, q4_K_set_scales, q4_K_reround, 1};

static void q5_K_decode_blk(const void *b, float *y, int64_t n) { qtk_q5_K_to_float(b, y, n); }

static void q5_K_parts(const void *vb, float *A, float *B) {
    const qtk_block_q5_K *b = (const qtk_block_q5_K *)vb;
    uint8_t L[QK_K];
    for (int i = 0; i < QK_K; i++) {
        const int s = i / 32, l = i % 32;
        L[i] = (uint8_t)(((b->qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 15) | (((b->qh[l] >> s) & 1) << 4));
    }
    type1_parts(b->scales, L, A, B);
}

static void q5_K_set_scales(void *vb, float d, float dmin) {
    qtk_block_q5_K *b = (qtk_block_q5_K *)vb;
    put_fp16(&b->d, d);
    put_fp16(&b->dmin, dmin);
}

static void q5_K_reround(const float *x, void *vb) {
    qtk_block_q5_K *b = (qtk_block_q5_K *)vb;
    uint8_t L[QK_K];
    type1_levels(x, b->scales, qtk_kq_fp16(&b->d), qtk_kq_fp16(&b->dmin), 31, L);
    memset(b->qh, 0, sizeof b->qh);
    for (int j = 0; j < QK_K; j += 64) {
        const int s = j / 32;
        for (int l = 0; l < 32; l++) {
            const int l1 = L[j + l], l2 = L[j + l + 32];
            b->qh[l] |= (uint8_t)(((l1 >> 4) << s) | ((l2 >> 4) << (s + 1)));
            b->qs[j / 2 + l] = (uint8_t)((l1 & 15) | ((l2 & 15) << 4));
        }
    }
}

static const kq_ops q5_K_ops = {sizeof(qtk_block_q5_K), q5_K_decode_blk, q5_K_parts, q5_K_set_scales, q5_K_reround, 1};

size_t qtk_q4_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q4_K_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

size_t qtk_q4_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    KQ_DISPATCH_AVX2(q4_K, src, dst, nrows, n, imatrix, effort);
    effort = kq_level(effort);
    qtk_block_q4_K *y = (qtk_block_q4_K *)dst;
    for (int64_t r = 0; r < nrows; r++) {
        for (int64_t i = 0; i < n / QK_K; i++, y++) {
            const float *x = src + r * n + i * QK_K, *imat = imatrix ? imatrix + i * QK_K : NULL;
            static const int modes_plain[] = {KQ_REF_PLAIN, KQ_IMAT_SIGMA, KQ_IMAT_DIRECT};
            static const int modes_imat[] = {KQ_IMAT_SIGMA, KQ_IMAT_DIRECT, KQ_REF_PLAIN};
            const int *modes = imat ? modes_imat : modes_plain;
            qtk_block_q4_K cand;
            double best = INFINITY;
            for (int k = 0; k < kq_candidates(effort, 3, imat); k++) {
                memset(&cand, 0, sizeof cand);
                type1_codes(x, imat, modes[k], 15, effort, cand.scales, &cand.d, &cand.dmin);
                q4_K_reround(x, &cand);
                kq_take(&q4_K_ops, x, imat, effort, &cand, y, &best);
            }
            if (!(best < INFINITY)) *y = cand;
            /* the code scan, then d, dmin refitted: default polishes its kept candidate
             * only here, after the scan */
            if (effort != QTK_EFFORT_FAST && best < INFINITY) {
                type1_refine_codes(x, imat, qtk_kq_fp16(&y->d), qtk_kq_fp16(&y->dmin), 15, KQ_CODE_WINDOW(effort),
                                   y->scales);
                q4_K_reround(x, y);
                kq_polish(&q4_K_ops, x, imat, y, -1.0, effort == QTK_EFFORT_MAX);
            }
        }
    }
    return (size_t)(nrows * (n / QK_K)) * sizeof(qtk_block_q4_K);
}

void qtk_q4_K_from_float(const float *src, void *dst, int64_t n) { qtk_q4_K_quantize(src, dst, 1, n, NULL); }

size_t qtk_q5_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q5_K_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

size_t qtk_q5_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    KQ_DISPATCH_AVX2(q5_K, src, dst, nrows, n, imatrix, effort);
    effort = kq_level(effort);
    qtk_block_q5_K *y = (qtk_block_q5_K *)dst;
    for (int64_t r = 0; r < nrows; r++) {
        for (int64_t i = 0; i < n / QK_K; i++, y++) {
            const float *x = src + r * n + i * QK_K, *imat = imatrix ? imatrix + i * QK_K : NULL;
            static const int modes_plain[] = {KQ_REF_PLAIN, KQ_IMAT_SIGMA, KQ_IMAT_DIRECT};
            static const int modes_imat[] = {KQ_IMAT_SIGMA, KQ_IMAT_DIRECT, KQ_REF_PLAIN};
            const int *modes = imat ? modes_imat : modes_plain;
            qtk_block_q5_K cand;
            double best = INFINITY;
            for (int k = 0; k < kq_candidates(effort, 3, imat); k++) {
                memset(&cand, 0, sizeof cand);
                type1_codes(x, imat, modes[k], 31, effort, cand.scales, &cand.d, &cand.dmin);
                q5_K_reround(x, &cand);
                kq_take(&q5_K_ops, x, imat, effort, &cand, y, &best);
            }
            if (!(best < INFINITY)) *y = cand;
            /* the code scan, then d, dmin refitted: default polishes its kept candidate
             * only here, after the scan */
            if (effort != QTK_EFFORT_FAST && best < INFINITY) {
                type1_refine_codes(x, imat, qtk_kq_fp16(&y->d), qtk_kq_fp16(&y->dmin), 31, KQ_CODE_WINDOW(effort),
                                   y->scales);
                q5_K_reround(x, y);
                kq_polish(&q5_K_ops, x, imat, y, -1.0, effort == QTK_EFFORT_MAX);
            }
        }
    }
    return (size_t)(nrows * (n / QK_K)) * sizeof(qtk_block_q5_K);
}

void qtk_q5_K_from_float(const float *src, void *dst, int64_t n) { qtk_q5_K_quantize(src, dst, 1, n, NULL); }

/* ============================================================================
 * Q6_K
 * ========================================================================== */

static void q6_K_decode_blk(const void *b, float *y, int64_t n) { qtk_q6_K_to_float(b, y, n); }

/* Signed 6-bit value (−32…31) of weight k. */
static int q6_value(const qtk_block_q6_K *b, int k) {
    const int h = k / 128, r = k % 128, t = r / 32, l = r % 32;
    int lo = b->ql[64 * h + 32 * (t % 2) + l];
    lo = t >= 2 ? lo >> 4 : lo & 15;
    const int hi = (b->qh[32 * h + l] >> (2 * t)) & 3;
    return (lo | (hi << 4)) - 32;
}

static void q6_K_parts(const void *vb, float *A, float *B) {
    const qtk_block_q6_K *b = (const qtk_block_q6_K *)vb;
    for (int k = 0; k < QK_K; k++) {
        A[k] = (float)(b->scales[k / 16] * q6_value(b, k));
        B[k] = 0.0f;
    }
}

static void q6_K_set_scales(void *vb, float d, float dmin) {
    (void)dmin;
    put_fp16(&((qtk_block_q6_K *)vb)->d, d);
}

/* Nearest 6-bit level of every weight for the block's quantized scales. */
static void q6_K_reround(const float *x, void *vb) {
    qtk_block_q6_K *y = (qtk_block_q6_K *)vb;
    uint8_t L[QK_K];
    const float d = qtk_kq_fp16(&y->d);
    float dl[16];
    for (int j = 0; j < 16; j++) dl[j] = d * (float)y->scales[j];
    round_levels(16, 16, x, NULL, dl, -32, 31, 32, L);
    for (int h = 0; h < 2; h++) {
        const uint8_t *Lh = L + 128 * h;
        for (int l = 0; l < 32; l++) {
            y->ql[64 * h + l] = (uint8_t)((Lh[l] & 15) | ((Lh[l + 64] & 15) << 4));
            y->ql[64 * h + l + 32] = (uint8_t)((Lh[l + 32] & 15) | ((Lh[l + 96] & 15) << 4));
            y->qh[32 * h + l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                          ((Lh[l + 96] >> 4) << 6));
        }
    }
}

static const kq_ops q6_K_ops = {sizeof(qtk_block_q6_K), q6_K_decode_blk, q6_K_parts, q6_K_set_scales, q6_K_reround, 0};

/* One Q6_K candidate: symmetric 6-bit fit per 16 with weights w (NULL → x², the
 * reference without imatrix), int8 scales against d = s_max/−128, re-rounding. */
static void q6_K_encode(const float *x, const float *w, qtk_block_q6_K *y) {
    uint8_t L[QK_K];
    float scales[16];
    float max_scale = 0.0f, amax = 0.0f;
    memset(y, 0, sizeof *y);
    for (int j = 0; j < 16; j++) {
        scales[j] = fit_symmetric(16, 32, x + 16 * j, w ? w + 16 * j : NULL, L + 16 * j);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    if (amax < KQ_EPS) return; /* all-zero block: d = 0 decodes to zeros */
    const float iscale = -128.0f / max_scale;
    put_fp16(&y->d, 1.0f / iscale);
    for (int j = 0; j < 16; j++) y->scales[j] = (int8_t)clampi(qtk_nearest_int(iscale * scales[j]), -128, 127);
    q6_K_reround(x, y);
}

/* Q6_K's code scan (sym_refine_codes, shared with Q3_K). */
static void q6_K_refine_scales(const float *x, const float *wm, float rel, qtk_block_q6_K *y) {
    int codes[16];
    for (int j = 0; j < 16; j++) codes[j] = y->scales[j];
    sym_refine_codes(x, wm, qtk_kq_fp16(&y->d), -32, 31, -128, 127, rel, 1, codes);
    for (int j = 0; j < 16; j++) y->scales[j] = (int8_t)codes[j];
    q6_K_reround(x, y);
}

static void q6_K_block(const float *x, const float *imat, int effort, qtk_block_q6_K *y) {
    qtk_block_q6_K cand;
    float w[QK_K];
    double best = INFINITY;
    /* default: one candidate, polished — without an imatrix the σ-weighted one (it
     * gives nearly all of max's gain there), with one the reference's (the other
     * never won on the vectors) */
    if (effort != QTK_EFFORT_DEFAULT || imat) {
        q6_K_encode(x, imat, &cand); /* the reference: imatrix as weights, or x² */
        kq_take(&q6_K_ops, x, imat, effort, &cand, y, &best);
    }
    if (effort == QTK_EFFORT_MAX || (effort == QTK_EFFORT_DEFAULT && !imat)) {
        search_weights(x, imat, 2.0f, imat ? KQ_IMAT_DIRECT : KQ_IMAT_SIGMA, w);
        q6_K_encode(x, w, &cand);
        if (effort == QTK_EFFORT_MAX) kq_consider(&q6_K_ops, x, imat, &cand, y, &best);
        else kq_take(&q6_K_ops, x, imat, effort, &cand, y, &best);
    }
    if (!(best < INFINITY)) {
        q6_K_encode(x, imat, y);
        return;
    }
    if (effort == QTK_EFFORT_FAST) return;
    /* the scale scan (default: codes within 20 % of each; max: all of them), then d
     * refitted: default polishes its kept candidate only here, after the scan */
    q6_K_refine_scales(x, imat, effort == QTK_EFFORT_MAX ? 1.0f : 0.2f, y);
    kq_polish(&q6_K_ops, x, imat, y, -1.0, effort == QTK_EFFORT_MAX);
}

size_t qtk_q6_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    KQ_DISPATCH_AVX2(q6_K, src, dst, nrows, n, imatrix, effort);
    effort = kq_level(effort);
    qtk_block_q6_K *y = (qtk_block_q6_K *)dst;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t i = 0; i < n / QK_K; i++)
            q6_K_block(src + r * n + i * QK_K, imatrix ? imatrix + i * QK_K : NULL, effort, y++);
    return (size_t)(nrows * (n / QK_K)) * sizeof(qtk_block_q6_K);
}

size_t qtk_q6_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q6_K_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

void qtk_q6_K_from_float(const float *src, void *dst, int64_t n) { qtk_q6_K_quantize(src, dst, 1, n, NULL); }

/* ============================================================================
 * Scalar dot products. Q2_K/Q3_K take Q8_K activations (one scale per 256 values);
 * Q4_K/Q5_K take Q8_2 and Q6_K takes Q8_0 (one scale per 32 values, as the reference's
 * CPU kernels: less activation rounding error). Each 32-value block yields 32-bit integer
 * sums that the SIMD kernels reproduce exactly; the scalar kernels combine them with the
 * scales in double, which keeps the cancelling min terms of Q2_K/Q4_K/Q5_K accurate.
 * ========================================================================== */

void qtk_q2_K_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q2_K *x = (const qtk_block_q2_K *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 16; sb++) {
            const int h = sb / 8, j = (sb % 8) / 2, l0 = 16 * (sb % 2);
            const int8_t *q8 = y[i].qs + 128 * h + 32 * j + l0;
            int t = 0;
            for (int l = 0; l < 16; l++) t += ((x[i].qs[32 * h + l0 + l] >> (2 * j)) & 3) * q8[l];
            isum += (x[i].scales[sb] & 15) * t;
            msum += (x[i].scales[sb] >> 4) * y[i].bsums[sb];
        }
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q3_K_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q3_K *x = (const qtk_block_q3_K *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        qtk_kq_unpack_q3_scales(x[i].scales, sc);
        int isum = 0;
        for (int sb = 0; sb < 16; sb++) {
            const int h = sb / 8, j = (sb % 8) / 2, l0 = 16 * (sb % 2);
            const int8_t *q8 = y[i].qs + 128 * h + 32 * j + l0;
            int t = 0;
            for (int l = 0; l < 16; l++) {
                const int q2 = (x[i].qs[32 * h + l0 + l] >> (2 * j)) & 3;
                const int hb = (x[i].hmask[l0 + l] >> (4 * h + j)) & 1;
                t += (q2 - (hb ? 0 : 4)) * q8[l];
            }
            isum += sc[sb] * t;
        }
        sum += (double)y[i].d * (double)qtk_kq_fp16(&x[i].d) * isum;
    }
    *s = (float)sum;
}

/* Reads the fp16 scale and the exact Σqs of a Q8_2 block. */
static inline void q8_2_head(const qtk_block_q8_2 *b, float *d, int *sum) {
    int16_t s;
    *d = qtk_kq_fp16(&b->d);
    memcpy(&s, &b->sum, 2);
    *sum = s;
}

/* Q4_K/Q5_K block × its 8 Q8_2 blocks: Σ_sub dy·(d·sc·Σq·qs − dmin·m·Σqs), in double. */
static double type1_dot_block(const uint8_t *scales12, double d, double dmin, const uint8_t *qs, const uint8_t *qh,
                              const qtk_block_q8_2 *y) {
    uint8_t sc[8], m[8];
    qtk_kq_unpack_scales_min(scales12, sc, m);
    double acc = 0.0;
    for (int sb = 0; sb < 8; sb++) {
        const uint8_t *q = qs + 32 * (sb / 2);
        const int shift = 4 * (sb % 2);
        int t = 0;
        for (int l = 0; l < 32; l++) {
            int v = (q[l] >> shift) & 15;
            if (qh) v |= ((qh[l] >> sb) & 1) << 4;
            t += v * y[sb].qs[l];
        }
        float dy;
        int ysum;
        q8_2_head(&y[sb], &dy, &ysum);
        acc += (double)dy * (d * sc[sb] * t - dmin * m[sb] * ysum);
    }
    return acc;
}

void qtk_q4_K_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q4_K *x = (const qtk_block_q4_K *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++)
        sum += type1_dot_block(x[i].scales, qtk_kq_fp16(&x[i].d), qtk_kq_fp16(&x[i].dmin), x[i].qs, NULL, y + 8 * i);
    *s = (float)sum;
}

void qtk_q5_K_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q5_K *x = (const qtk_block_q5_K *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++)
        sum += type1_dot_block(x[i].scales, qtk_kq_fp16(&x[i].d), qtk_kq_fp16(&x[i].dmin), x[i].qs, x[i].qh,
                               y + 8 * i);
    *s = (float)sum;
}

/* Q6_K × Q8_0: per 32-block Σ_{two 16-sub-blocks} sc·Σ(q − 32)·qs, scaled by the Q8_0 d. */
void qtk_q6_K_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q6_K *x = (const qtk_block_q6_K *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        double acc = 0.0;
        for (int b = 0; b < 8; b++) {
            const qtk_block_q8_0 *yb = &y[8 * i + b];
            int isum = 0;
            for (int half = 0; half < 2; half++) {
                const int sb = 2 * b + half;
                int t = 0;
                for (int l = 0; l < 16; l++) {
                    const int k = 16 * sb + l, h = k / 128, r = k % 128, tq = r / 32, ll = r % 32;
                    int lo = x[i].ql[64 * h + 32 * (tq % 2) + ll];
                    lo = tq >= 2 ? lo >> 4 : lo & 15;
                    const int hi = (x[i].qh[32 * h + ll] >> (2 * tq)) & 3;
                    t += ((lo | (hi << 4)) - 32) * yb->qs[16 * half + l];
                }
                isum += x[i].scales[sb] * t;
            }
            acc += (double)qtk_kq_fp16(&yb->d) * isum;
        }
        sum += (double)qtk_kq_fp16(&x[i].d) * acc;
    }
    *s = (float)sum;
}
