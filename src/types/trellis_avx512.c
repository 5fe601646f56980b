/*
 * trellis_avx512.c — AVX-512 (VNNI) kernels of the KT types: the dot
 * product with Q8_0 activations, 16 generator lanes at once (two groups of
 * 8, or four of 4; the byte sums by vpdpbusd), and the codebook scan
 * (16 candidates per register, the scalar scan's float operations in its
 * order). Per 32-block integer sums accumulated in float in the scalar
 * kernel's order: bit-identical results.
 */
#include "trellis.h"
#include "simd_x86.h"

#include <immintrin.h>
#include <math.h>

static float rd_f32(const void *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* 16 generator values from 16 states. */
QTK_FORCE_INLINE __m512i kt_vals16(__m512i x) {
    const __m512i s = _mm512_and_si512(x, _mm512_set1_epi32(0x3F3F3F3F));
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), s, _mm512_set1_epi8(1)),
                            _mm512_set1_epi32(126));
}

QTK_FORCE_INLINE __m512i kt_dot16(__m512i acc, __m512i v, const int8_t *a) {
    const __m512i a32 = _mm512_and_si512(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)a)),
                                         _mm512_set1_epi32(0xFFFF));
    return _mm512_add_epi32(acc, _mm512_madd_epi16(v, a32));
}

/* Generator powers MUL^1.. per lane: 2 groups of 8 (IQ1/IQ2/IQ3_KT) or 4 groups of 4 (IQ4_KT). */
typedef struct {
    __m512i pw8, pw4;
} kt_powers;

static kt_powers kt_powers_init(void) {
    const uint32_t *P = qtk_kt_mul_pow;
    kt_powers k;
    k.pw8 = _mm512_setr_epi32((int)P[0], (int)P[1], (int)P[2], (int)P[3], (int)P[4], (int)P[5], (int)P[6], (int)P[7],
                              (int)P[0], (int)P[1], (int)P[2], (int)P[3], (int)P[4], (int)P[5], (int)P[6], (int)P[7]);
    k.pw4 = _mm512_setr_epi32((int)P[0], (int)P[1], (int)P[2], (int)P[3], (int)P[0], (int)P[1], (int)P[2], (int)P[3],
                              (int)P[0], (int)P[1], (int)P[2], (int)P[3], (int)P[0], (int)P[1], (int)P[2], (int)P[3]);
    return k;
}

/* Values 16h .. 16h + 15 of sub-block s (signs applied): what kt_sub_values
 * (trellis.c) computes, 16 lanes at once. */
QTK_FORCE_INLINE __m512i kt_half16(int type, const qtk_kt_sub *s, int h, const kt_powers *k) {
    const uint32_t *sd = s->seed;
    if (type == QTK_TYPE_IQ4_KT) {
        const int g = 4 * h;
        const __m512i seed = _mm512_setr_epi32((int)sd[g], (int)sd[g], (int)sd[g], (int)sd[g], (int)sd[g + 1],
                                               (int)sd[g + 1], (int)sd[g + 1], (int)sd[g + 1], (int)sd[g + 2],
                                               (int)sd[g + 2], (int)sd[g + 2], (int)sd[g + 2], (int)sd[g + 3],
                                               (int)sd[g + 3], (int)sd[g + 3], (int)sd[g + 3]);
        return kt_vals16(_mm512_mullo_epi32(seed, k->pw4));
    }
    const int g = 2 * h;
    const __m512i seed = _mm512_inserti64x4(_mm512_set1_epi32((int)sd[g]), _mm256_set1_epi32((int)sd[g + 1]), 1);
    __m512i v = kt_vals16(_mm512_mullo_epi32(seed, k->pw8));
    if (type == QTK_TYPE_IQ3_KT) {
        const __mmask16 neg = (__mmask16)(s->signs >> (16 * h));
        v = _mm512_abs_epi32(v);
        v = _mm512_mask_sub_epi32(v, neg, _mm512_setzero_si512(), v);
    }
    return v;
}

QTK_FORCE_INLINE void kt_vec_dot_avx512(int type, float factor, size_t bb, int64_t n, float *s, const void *vx,
                                        const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const float d = rd_f32(p) * factor;
    p += 4;
    const kt_powers k = kt_powers_init();
    qtk_kt_sub sub[8];
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        qtk_kt_unpack(type, p, sub);
        for (int b = 0; b < 8; b++) {
            const qtk_block_q8_0 *yb = &y[ibl * 8 + b];
            __m512i acc = _mm512_setzero_si512();
            for (int h = 0; h < 2; h++) acc = kt_dot16(acc, kt_half16(type, &sub[b], h, &k), yb->qs + 16 * h);
            const int32_t isum = _mm512_reduce_add_epi32(acc);
            sumf += qtk_f16c_to_f32(yb->d) * (float)(sub[b].scale * isum);
        }
    }
    *s = d * sumf;
}

void qtk_iq1_kt_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx512(QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1, 56, n, s, x, y);
}
void qtk_iq2_kt_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx512(QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2, 68, n, s, x, y);
}
void qtk_iq3_kt_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx512(QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3, 100, n, s, x, y);
}
void qtk_iq4_kt_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx512(QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4, 128, n, s, x, y);
}

/* ---- batch panels: the exact int8 values --------------------------------- */

/* to_int8 of the KT types (the batch panels' per-row step): the values of
 * kt_to_int8 (trellis.c) by kt_half16, narrowed to bytes; the same bytes and scales. */
QTK_FORCE_INLINE void kt_to_int8_avx512(int type, float factor, size_t bb, const void *row, int64_t n, float *d,
                                        int8_t *q) {
    const uint8_t *p = (const uint8_t *)row;
    const float dr = rd_f32(p) * factor;
    p += 4;
    const kt_powers k = kt_powers_init();
    qtk_kt_sub sub[8];
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        qtk_kt_unpack(type, p, sub);
        for (int b = 0; b < 8; b++) {
            d[ibl * 8 + b] = dr * (float)sub[b].scale;
            int8_t *qb = q + ibl * QK_K + 32 * b;
            for (int h = 0; h < 2; h++) /* |v| <= 126 */
                _mm_storeu_si128((__m128i *)(qb + 16 * h), _mm512_cvtepi32_epi8(kt_half16(type, &sub[b], h, &k)));
        }
    }
}

void qtk_iq1_kt_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    kt_to_int8_avx512(QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1, 56, row, n, d, q);
}
void qtk_iq2_kt_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    kt_to_int8_avx512(QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2, 68, row, n, d, q);
}
void qtk_iq3_kt_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    kt_to_int8_avx512(QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3, 100, row, n, d, q);
}
void qtk_iq4_kt_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    kt_to_int8_avx512(QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4, 128, row, n, d, q);
}

/* ---- codebook scan -------------------------------------------------------- */

void qtk_kt_search_avx512(const qtk_kt_book *b, int ng, const float *t, const float *w, const int *cells, int *out) {
    const int nd = b->ndim;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int g = 0; g < ng; g++) {
        __m512 tk[8], wk[8];
        for (int k = 0; k < nd; k++) {
            tk[k] = _mm512_set1_ps(t[g * nd + k]);
            wk[k] = _mm512_set1_ps(w[g * nd + k]);
        }
        const int p0 = b->cell_start[cells[g]], p1 = b->cell_start[cells[g] + 1];
        __m512 best = _mm512_set1_ps(INFINITY);
        __m512i bpos = _mm512_set1_epi32(p0);
        for (int p = p0; p < p1; p += 16) {
            const float *v = b->vals + (size_t)(p / 16) * 16 * (size_t)nd;
            __m512 s = _mm512_setzero_ps();
            for (int k = 0; k < nd; k++) {
                const __m512 df = _mm512_sub_ps(_mm512_loadu_ps(v + k * 16), tk[k]);
                s = _mm512_add_ps(s, _mm512_mul_ps(wk[k], _mm512_mul_ps(df, df)));
            }
            const __mmask16 lt = _mm512_cmp_ps_mask(s, best, _CMP_LT_OQ);
            best = _mm512_mask_mov_ps(best, lt, s);
            bpos = _mm512_mask_mov_epi32(bpos, lt, _mm512_add_epi32(_mm512_set1_epi32(p), lane));
        }
        float bs[16];
        int32_t bp[16];
        _mm512_storeu_ps(bs, best);
        _mm512_storeu_si512((void *)bp, bpos);
        float m = bs[0];
        int mp = bp[0];
        for (int i = 1; i < 16; i++)
            if (bs[i] < m || (bs[i] == m && bp[i] < mp)) m = bs[i], mp = bp[i];
        out[g] = b->idx[mp];
    }
}
