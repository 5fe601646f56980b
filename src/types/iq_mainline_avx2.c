/*
 * iq_mainline_avx2.c — AVX2 dot products (× Q8_K) of IQ2_XXS, IQ2_XS, IQ2_S,
 * IQ3_XXS, IQ3_S, IQ1_S, IQ1_M. Each 32 weights: the four octet words of
 * iq_mainline.h (grid lookup and signs, 64-bit SWAR) in one register, then
 * |q| × sign(q)·y through maddubs (|pair| ≤ 2·62·127, no saturation) and
 * madd with the two 16-group multipliers: the exact integer sum S of the
 * scalar kernel, scaled in double by the same expression (iqm_acc).
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

#define IQM_AVX2(t, BYTES, DBITS, WORD, MUL16, F)                                                         \
    void qtk_##t##_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {                   \
        const uint8_t *b = (const uint8_t *)vx;                                                          \
        const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;                                                    \
        double sum = 0.0;                                                                                 \
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, b += (BYTES)) {                                     \
            const int8_t *q8 = y[ibl].qs;                                                                 \
            qtk_prefetch_ahead(b, (BYTES));                                                               \
            __m256i acc = _mm256_setzero_si256();                                                         \
            for (int ib = 0; ib < 8; ib++, q8 += 32) {                                                    \
                uint64_t w4[4];                                                                           \
                WORD##s4(b, ib, w4);                                                                      \
                const __m256i q = _mm256_set_epi64x((long long)w4[3], (long long)w4[2], (long long)w4[1], (long long)w4[0]); \
                const __m256i yv = _mm256_loadu_si256((const __m256i *)q8);                               \
                const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(yv, q));     \
                const __m256i m = _mm256_inserti128_si256(                                                \
                    _mm256_castsi128_si256(_mm_set1_epi16((short)MUL16(b, 2 * ib))),                       \
                    _mm_set1_epi16((short)MUL16(b, 2 * ib + 1)), 1);                                      \
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, m));                                     \
            }                                                                                             \
            float yd;                                                                                     \
            memcpy(&yd, &y[ibl].d, sizeof yd);                                                            \
            sum = iqm_acc_f(sum, hsum_i32(acc), qtk_f16c_to_f32(DBITS(b)), yd, (F));                                         \
        }                                                                                                 \
        *s = (float)sum;                                                                                  \
    }

IQM_AVX2(iq2_xxs, IQ2XXS_BYTES, iqm_d_fp16, iq2xxs_word, iq2xxs_mul16, 0.125f)
IQM_AVX2(iq2_xs, IQ2XS_BYTES, iqm_d_fp16, iq2xs_word, iq2xs_mul16, 0.125f)
IQM_AVX2(iq2_s, IQ2S_BYTES, iqm_d_fp16, iq2s_word, iq2s_mul16, 0.125f)
IQM_AVX2(iq3_xxs, IQ3XXS_BYTES, iqm_d_fp16, iq3xxs_word, iq3xxs_mul16, 0.25f)
IQM_AVX2(iq3_s, IQ3S_BYTES, iqm_d_fp16, iq3s_word, iq3s_mul16, 1.0f)
IQM_AVX2(iq1_s, IQ1S_BYTES, iqm_d_fp16, iq1s_word, iq1s_mul16, 0.125f)
IQM_AVX2(iq1_m, IQ1M_BYTES, iq1m_d_bits, iq1m_word, iq1m_mul16, 0.125f)
