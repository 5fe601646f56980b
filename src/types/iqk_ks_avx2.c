/*
 * iqk_ks_avx2.c — AVX2 dot products of the KS types with Q8_K activations.
 * Each super-block's integer sum is formed exactly in 32-bit lanes and then
 * accumulated in float in the same order as the scalar kernels, so results
 * are bit-identical to them.
 */
#include "iqk_ks.h"
#include "grids.h"

#include <immintrin.h>

static inline int32_t hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* Two consecutive sub-blocks (32 bytes of IQ4_KS layout: low nibbles =
 * weights 0..15, high = 16..31 of each) · 64 activations, sub-block k scaled
 * by Sk, as 8 int32 lanes. |T|, |y| <= 127, so maddubs pairs (<= 32258)
 * never saturate. */
static inline __m256i pair_dot4(__m256i bytes, __m256i tab0, __m256i tab1, const int8_t *yq, int S0, int S1) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i lo = _mm256_and_si256(bytes, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4);
    const __m256i v0 = _mm256_shuffle_epi8(tab0, _mm256_permute2x128_si256(lo, hi, 0x20));
    const __m256i v1 = _mm256_shuffle_epi8(tab1, _mm256_permute2x128_si256(lo, hi, 0x31));
    const __m256i y0 = _mm256_loadu_si256((const __m256i *)yq), y1 = _mm256_loadu_si256((const __m256i *)(yq + 32));
    const __m256i p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(v0, v0), _mm256_sign_epi8(y0, v0));
    const __m256i p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(v1, v1), _mm256_sign_epi8(y1, v1));
    return _mm256_add_epi32(_mm256_madd_epi16(p0, _mm256_set1_epi16((short)S0)),
                            _mm256_madd_epi16(p1, _mm256_set1_epi16((short)S1)));
}

void qtk_iq4_ks_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    const __m256i tabs[2] = {_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values)),
                             _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qtk_iq4nl_values + 16)))};
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 136) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib += 2) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(p + 8 + 16 * ib));
            acc = _mm256_add_epi32(acc, pair_dot4(bytes, tabs[p[ib] & 1], tabs[p[ib + 1] & 1], y[ibl].qs + 32 * ib,
                                                  (p[ib] & 0xFE) - 127, (p[ib + 1] & 0xFE) - 127));
        }
        sumf += y[ibl].d * (float)hsum_i32x8(acc);
    }
    *s = d * sumf;
}

void qtk_iq4_kss_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    const __m256i tabs[2] = {_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values)),
                             _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qtk_iq4nl_values + 16)))};
    const __m256i mfe = _mm256_set1_epi16((short)0xFFFE);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 128) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib += 4) {
            /* 4 sub-blocks = 32 words: the low bits form the scale bytes, the rest
             * turns into IQ4_KS bytes via v = a ^ (a >> 1) on 16-bit lanes. */
            const __m256i u0 = _mm256_loadu_si256((const __m256i *)(p + 16 * ib));
            const __m256i u1 = _mm256_loadu_si256((const __m256i *)(p + 16 * ib + 32));
            const __m256i pk = _mm256_packs_epi16(_mm256_slli_epi16(u0, 15), _mm256_slli_epi16(u1, 15));
            const uint32_t m = (uint32_t)_mm256_movemask_epi8(pk); /* bytes: sb0, sb2, sb1, sb3 */
            const int sb0 = (int)(m & 0xFF), sb2 = (int)((m >> 8) & 0xFF);
            const int sb1 = (int)((m >> 16) & 0xFF), sb3 = (int)(m >> 24);
            const __m256i a0 = _mm256_and_si256(u0, mfe), a1 = _mm256_and_si256(u1, mfe);
            const __m256i v0 = _mm256_xor_si256(a0, _mm256_srli_epi16(a0, 1));
            const __m256i v1 = _mm256_xor_si256(a1, _mm256_srli_epi16(a1, 1));
            acc = _mm256_add_epi32(acc, pair_dot4(v0, tabs[sb0 & 1], tabs[sb1 & 1], y[ibl].qs + 32 * ib,
                                                  (sb0 & 0xFE) - 127, (sb1 & 0xFE) - 127));
            acc = _mm256_add_epi32(acc, pair_dot4(v1, tabs[sb2 & 1], tabs[sb3 & 1], y[ibl].qs + 32 * ib + 64,
                                                  (sb2 & 0xFE) - 127, (sb3 & 0xFE) - 127));
        }
        sumf += y[ibl].d * (float)hsum_i32x8(acc);
    }
    *s = d * sumf;
}
