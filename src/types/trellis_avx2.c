/*
 * trellis_avx2.c — AVX2 kernels of the KT types: the dot product with Q8_0
 * activations (the generator runs 8 lanes at once: lane k of a group seeded
 * with s computes s·KT_MUL^(k+1), then the byte sum of x & 0x3F3F3F3F), and
 * the quantizers' codebook scan (8 candidates per register, the scalar
 * scan's float operations in its order: identical indices).
 * Per 32-block the integer sum is exact and is accumulated in float in the
 * scalar kernel's order, so results equal the scalar kernel's bit for bit.
 */
#include "trellis.h"
#include "simd_x86.h"

#include <immintrin.h>
#include <math.h>

static inline int32_t hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* 8 generator values from 8 states x (int32 lanes). */
QTK_FORCE_INLINE __m256i kt_vals8(__m256i x) {
    const __m256i s = _mm256_and_si256(x, _mm256_set1_epi32(0x3F3F3F3F));
    const __m256i p = _mm256_maddubs_epi16(s, _mm256_set1_epi8(1));
    return _mm256_sub_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), _mm256_set1_epi32(126));
}

/* Σ v·a over 8 lanes, v, a in [-127, 127] as int32 (madd of the low halves). */
QTK_FORCE_INLINE __m256i kt_dot8(__m256i acc, __m256i v, const int8_t *a) {
    const __m256i a32 = _mm256_and_si256(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)a)),
                                         _mm256_set1_epi32(0xFFFF));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(v, a32));
}

static float rd_f32(const void *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

QTK_FORCE_INLINE void kt_vec_dot_avx2(int type, float factor, size_t bb, int64_t n, float *s, const void *vx,
                                      const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const float d = rd_f32(p) * factor;
    p += 4;
    const __m256i pw8 = _mm256_loadu_si256((const __m256i *)qtk_kt_mul_pow);
    const __m256i pw4 = _mm256_setr_epi32((int)qtk_kt_mul_pow[0], (int)qtk_kt_mul_pow[1], (int)qtk_kt_mul_pow[2],
                                          (int)qtk_kt_mul_pow[3], (int)qtk_kt_mul_pow[0], (int)qtk_kt_mul_pow[1],
                                          (int)qtk_kt_mul_pow[2], (int)qtk_kt_mul_pow[3]);
    const __m256i bitsel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    qtk_kt_sub sub[8];
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        qtk_prefetch_ahead(p, (int)bb);
        qtk_kt_unpack(type, p, sub);
        for (int b = 0; b < 8; b++) {
            const qtk_block_q8_0 *yb = &y[ibl * 8 + b];
            __m256i acc = _mm256_setzero_si256();
            if (type == QTK_TYPE_IQ4_KT) {
                for (int g = 0; g < 8; g += 2) {
                    const __m256i seed = _mm256_setr_epi32((int)sub[b].seed[g], (int)sub[b].seed[g], (int)sub[b].seed[g],
                                                           (int)sub[b].seed[g], (int)sub[b].seed[g + 1],
                                                           (int)sub[b].seed[g + 1], (int)sub[b].seed[g + 1],
                                                           (int)sub[b].seed[g + 1]);
                    acc = kt_dot8(acc, kt_vals8(_mm256_mullo_epi32(seed, pw4)), yb->qs + 4 * g);
                }
            } else {
                for (int g = 0; g < 4; g++) {
                    __m256i v = kt_vals8(_mm256_mullo_epi32(_mm256_set1_epi32((int)sub[b].seed[g]), pw8));
                    if (type == QTK_TYPE_IQ3_KT) {
                        const __m256i m = _mm256_cmpeq_epi32(
                            _mm256_and_si256(_mm256_set1_epi32((int)(sub[b].signs >> (8 * g))), bitsel), bitsel);
                        v = _mm256_sub_epi32(_mm256_xor_si256(_mm256_abs_epi32(v), m), m);
                    }
                    acc = kt_dot8(acc, v, yb->qs + 8 * g);
                }
            }
            const int32_t isum = hsum_i32x8(acc);
            sumf += qtk_f16c_to_f32(yb->d) * (float)(sub[b].scale * isum);
        }
    }
    *s = d * sumf;
}

void qtk_iq1_kt_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx2(QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1, 56, n, s, x, y);
}
void qtk_iq2_kt_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx2(QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2, 68, n, s, x, y);
}
void qtk_iq3_kt_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx2(QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3, 100, n, s, x, y);
}
void qtk_iq4_kt_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx2(QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4, 128, n, s, x, y);
}

/* ---- codebook scan -------------------------------------------------------- */

QTK_FORCE_INLINE void scan8(const float *v, int nd, const __m256 *tk, const __m256 *wk, __m256i pos, __m256 *best,
                            __m256i *bpos) {
    __m256 s = _mm256_setzero_ps();
    for (int k = 0; k < nd; k++) {
        const __m256 df = _mm256_sub_ps(_mm256_loadu_ps(v + k * 16), tk[k]);
        s = _mm256_add_ps(s, _mm256_mul_ps(wk[k], _mm256_mul_ps(df, df)));
    }
    const __m256 lt = _mm256_cmp_ps(s, *best, _CMP_LT_OQ);
    *best = _mm256_blendv_ps(*best, s, lt);
    *bpos = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(*bpos), _mm256_castsi256_ps(pos), lt));
}

void qtk_kt_search_avx2(const qtk_kt_book *b, int ng, const float *t, const float *w, const int *cells, int *out) {
    const int nd = b->ndim;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int g = 0; g < ng; g++) {
        __m256 tk[8], wk[8];
        for (int k = 0; k < nd; k++) {
            tk[k] = _mm256_set1_ps(t[g * nd + k]);
            wk[k] = _mm256_set1_ps(w[g * nd + k]);
        }
        const int p0 = b->cell_start[cells[g]], p1 = b->cell_start[cells[g] + 1];
        __m256 best0 = _mm256_set1_ps(INFINITY), best1 = best0;
        __m256i pos0 = _mm256_set1_epi32(p0), pos1 = pos0;
        for (int p = p0; p < p1; p += 16) {
            const float *v = b->vals + (size_t)(p / 16) * 16 * (size_t)nd;
            const __m256i pp = _mm256_add_epi32(_mm256_set1_epi32(p), lane);
            scan8(v, nd, tk, wk, pp, &best0, &pos0);
            scan8(v + 8, nd, tk, wk, _mm256_add_epi32(pp, _mm256_set1_epi32(8)), &best1, &pos1);
        }
        float bs[16];
        int32_t bp[16];
        _mm256_storeu_ps(bs, best0);
        _mm256_storeu_ps(bs + 8, best1);
        _mm256_storeu_si256((__m256i *)bp, pos0);
        _mm256_storeu_si256((__m256i *)(bp + 8), pos1);
        float m = bs[0];
        int mp = bp[0];
        for (int i = 1; i < 16; i++)
            if (bs[i] < m || (bs[i] == m && bp[i] < mp)) m = bs[i], mp = bp[i];
        out[g] = b->idx[mp];
    }
}
