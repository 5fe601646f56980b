/*
 * iqk_ks_avx512.c — AVX-512 (BW/VL/VNNI) dot products of the KS types with
 * Q8_K activations: two sub-blocks per 512-bit register. Super-block sums
 * are exact integers accumulated in float in the scalar kernels' order.
 */
#include "iqk_ks.h"
#include "grids.h"

#include <immintrin.h>

/* Per-lane tables for a pair of sub-blocks: index = shift0 | shift1 << 1. */
static inline void make_tables(__m512i tab[4]) {
    const __m256i t0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values));
    const __m256i t1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qtk_iq4nl_values + 16)));
    tab[0] = _mm512_inserti64x4(_mm512_castsi256_si512(t0), t0, 1);
    tab[1] = _mm512_inserti64x4(_mm512_castsi256_si512(t1), t0, 1);
    tab[2] = _mm512_inserti64x4(_mm512_castsi256_si512(t0), t1, 1);
    tab[3] = _mm512_inserti64x4(_mm512_castsi256_si512(t1), t1, 1);
}

/* Two sub-blocks (32 bytes of IQ4_KS layout) · 64 activations, scaled per
 * half by the int16 lanes of sc (S0 ×16 | S1 ×16), as 16 int32 lanes. */
static inline __m512i pair_dot4(__m256i bytes, __m512i table, const int8_t *yq, __m512i sc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i lo = _mm256_and_si256(bytes, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4);
    __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); /* lo.0 lo.1 hi.0 hi.1 */
    idx = _mm512_shuffle_i64x2(idx, idx, _MM_SHUFFLE(3, 1, 2, 0));        /* lo.0 hi.0 lo.1 hi.1 */
    const __m512i v = _mm512_shuffle_epi8(table, idx);
    const __m512i yv = _mm512_loadu_si512((const void *)yq);
    const __mmask64 neg = _mm512_movepi8_mask(v);
    const __m512i ys = _mm512_mask_sub_epi8(yv, neg, _mm512_setzero_si512(), yv);
    /* maddubs pairs (<= 2·127·127) fit int16; madd then applies the scale
     * while widening to 32 bits — cheaper here than vpdpbusd + vpmulld. */
    return _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(v), ys), sc);
}

/* Word-index vectors broadcasting int16 scale k (lower half) and k+1 (upper). */
static inline __m512i scale_pair(__m512i s16, int k) {
    const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)k)),
                                           _mm256_set1_epi16((short)(k + 1)), 1);
    return _mm512_permutexvar_epi16(idx, s16);
}

void qtk_iq4_ks_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    __m512i tab[4];
    make_tables(tab);
    const __m128i mfe = _mm_set1_epi16(0xFE), c127 = _mm_set1_epi16(127);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 136) {
        __m512i acc = _mm512_setzero_si512();
        const __m128i s8 = _mm_sub_epi16(_mm_and_si128(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)p)), mfe), c127);
        const __m512i s16 = _mm512_castsi128_si512(s8);
        for (int ib = 0; ib < 8; ib += 2) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(p + 8 + 16 * ib));
            acc = _mm512_add_epi32(acc, pair_dot4(bytes, tab[(p[ib] & 1) | ((p[ib + 1] & 1) << 1)],
                                                  y[ibl].qs + 32 * ib, scale_pair(s16, ib)));
        }
        sumf += y[ibl].d * (float)_mm512_reduce_add_epi32(acc);
    }
    *s = d * sumf;
}

void qtk_iq4_kss_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    __m512i tab[4];
    make_tables(tab);
    const __m512i mfe = _mm512_set1_epi16((short)0xFFFE), one = _mm512_set1_epi16(1);
    const __m128i m8 = _mm_set1_epi16(0xFE), c127 = _mm_set1_epi16(127);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 128) {
        __m512i acc = _mm512_setzero_si512();
        for (int ib = 0; ib < 8; ib += 4) {
            /* 32 words of 4 sub-blocks: bit 0 of word k is bit k of the scale byte;
             * a ^ (a >> 1) of the rest gives IQ4_KS-layout bytes. */
            const __m512i u = _mm512_loadu_si512((const void *)(p + 16 * ib));
            const uint32_t m = (uint32_t)_mm512_test_epi16_mask(u, one); /* the 4 scale bytes */
            const __m128i s8 = _mm_sub_epi16(_mm_and_si128(_mm_cvtepu8_epi16(_mm_cvtsi32_si128((int)m)), m8), c127);
            const __m512i s16 = _mm512_castsi128_si512(s8);
            const __m512i a = _mm512_and_si512(u, mfe);
            const __m512i v = _mm512_xor_si512(a, _mm512_srli_epi16(a, 1));
            acc = _mm512_add_epi32(acc, pair_dot4(_mm512_castsi512_si256(v), tab[(m & 1) | ((m >> 7) & 2)],
                                                  y[ibl].qs + 32 * ib, scale_pair(s16, 0)));
            acc = _mm512_add_epi32(acc, pair_dot4(_mm512_extracti64x4_epi64(v, 1), tab[((m >> 16) & 1) | ((m >> 23) & 2)],
                                                  y[ibl].qs + 32 * ib + 64, scale_pair(s16, 2)));
        }
        sumf += y[ibl].d * (float)_mm512_reduce_add_epi32(acc);
    }
    *s = d * sumf;
}
