/*
 * iq_mainline_avx512.c — AVX-512 level dot products (× Q8_K) of the mainline
 * i-quants. As the AVX2 kernels (octet words of iq_mainline.h, |q| ×
 * sign(q)·y), but with VNNI the products go through vpdpbusd into 32-bit
 * lanes of 4 weights (lanes 0–3 = the first 16-group), scaled by the group
 * multipliers with one 32-bit multiply; without VNNI maddubs + madd. Same
 * exact integer sum S as the scalar kernel, same double steps (iqm_acc).
 *
 * On CPUs with VBMI every type goes to iq_mainline_avx512vbmi.c (grid lookups
 * as register permutes, 2.5-5x faster); this file's octet-word kernel
 * (_words) serves the AVX-512 CPUs without it (Skylake-X, Cascade Lake).
 */
#include "iq_mainline.h"
#include "simd_x86.h"

#include <immintrin.h>

static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

#define IQM_AVX512(t, BYTES, DBITS, WORD, MUL16, F)                                                       \
    void qtk_##t##_vec_dot_avx512_words(int64_t n, float *s, const void *vx, const void *vy) {           \
        const uint8_t *b = (const uint8_t *)vx;                                                          \
        const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;                                                    \
        const int vnni = qtk_cpu()->avx512vnni;                                                          \
        double sum = 0.0;                                                                                 \
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, b += (BYTES)) {                                     \
            const int8_t *q8 = y[ibl].qs;                                                                 \
            qtk_prefetch_ahead(b, (BYTES));                                                               \
            __m256i acc = _mm256_setzero_si256();                                                         \
            for (int ib = 0; ib < 8; ib++, q8 += 32) {                                                    \
                uint64_t w4[4];                                                                           \
                WORD##s4(b, ib, w4);                                                                      \
                const __m256i q = _mm256_set_epi64x((long long)w4[3], (long long)w4[2], (long long)w4[1], (long long)w4[0]); \
                const __m256i yv = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), q);          \
                const int m0 = MUL16(b, 2 * ib), m1 = MUL16(b, 2 * ib + 1);                                \
                if (vnni) {                                                                               \
                    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(q), yv); \
                    const __m256i m = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi32(m0)), \
                                                              _mm_set1_epi32(m1), 1);                    \
                    acc = _mm256_dpwssd_epi32(acc, p, m); /* = acc + p·m: |p| ≤ 4·62·128, m ≤ 31 */  \
                } else {                                                                                  \
                    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(q), yv);                       \
                    const __m256i m = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)m0)), \
                                                              _mm_set1_epi16((short)m1), 1);             \
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, m));                                 \
                }                                                                                         \
            }                                                                                             \
            float yd;                                                                                     \
            memcpy(&yd, &y[ibl].d, sizeof yd);                                                            \
            sum = iqm_acc_f(sum, hsum_i32(acc), qtk_f16c_to_f32(DBITS(b)), yd, (F));                                         \
        }                                                                                                 \
        *s = (float)sum;                                                                                  \
    }

#define IQM_VBMI_DISPATCH(t, BYTES, DBITS, WORD, MUL16, F)                                                                      \
    void qtk_##t##_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {           \
        if (qtk_cpu()->avx512vbmi)                                                                 \
            qtk_##t##_vec_dot_avx512vbmi(n, s, vx, vy);                                            \
        else                                                                                       \
            qtk_##t##_vec_dot_avx512_words(n, s, vx, vy);                                          \
    }

IQM_TYPES(IQM_AVX512)

IQM_TYPES(IQM_VBMI_DISPATCH)
