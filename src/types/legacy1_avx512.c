/*
 * legacy1_avx512.c — AVX-512 dot products of Q4_1/Q5_1 (with Q8_2), two
 * 32-blocks per 512-bit register. VNNI (vpdpbusd) when the CPU has it, else
 * AVX512BW maddubs/madd; both give exact integer sums (levels unsigned ≤ 31),
 * so results equal legacy1.c's scalar kernels up to float rounding of the
 * per-block terms. MXFP4's kernels share IQ4_NL's (iquants_avx512.c).
 */
#include "legacy1.h"
#include "simd_x86.h"

#include <immintrin.h>

static inline float fp16_load(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

static inline __m256i load32(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

/* int32 lanes of Σ xu·y (xu unsigned ≤ 127, so maddubs cannot saturate). */
static inline __m512i udot(__m512i xu, __m512i y, int vnni) {
    if (vnni) return _mm512_dpbusd_epi32(_mm512_setzero_si512(), xu, y);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(xu, y), _mm512_set1_epi16(1));
}

static inline __m256i levels_q4_1(const qtk_block_q4_1 *b) { return unpack_nibbles(b->qs); }

static inline __m256i levels_q5_1(const qtk_block_q5_1 *b) {
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    return _mm256_or_si256(unpack_nibbles(b->qs), _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(0x10)));
}

static inline double sum_term(const qtk_block_q8_2 *y, float m, float dy) {
    int16_t sy;
    memcpy(&sy, &y->sum, 2);
    return (double)sy * (double)(m * dy);
}

/* As legacy1.c, in double: the int32 lanes of two blocks' exact sums times their
 * d_x·d_y (exact products in double), sum_y·(m_x·d_y) into a scalar double. */
static inline __m512d fma_blocks(__m512i p, double d0, double d1, __m512d acc) {
    acc = _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(p)), _mm512_set1_pd(d0), acc);
    return _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(p, 1)), _mm512_set1_pd(d1), acc);
}

#define TYPE1_DOT_AVX512(NAME, BLOCK, LEVELS)                                                            \
    void NAME(int64_t n, float *s, const void *vx, const void *vy) {                                    \
        const BLOCK *x = (const BLOCK *)vx;                                                              \
        const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;                                                    \
        const int vnni = qtk_cpu()->avx512vnni;                                                          \
        const int64_t nb = n / 32;                                                                       \
        __m512d acc = _mm512_setzero_pd();                                                               \
        double accm = 0.0;                                                                               \
        int64_t i = 0;                                                                                   \
        for (; i + 1 < nb; i += 2) {                                                                     \
            const __m512i xu = qtk_join256(LEVELS(&x[i]), LEVELS(&x[i + 1]));                                   \
            const __m512i yy = qtk_join256(load32(y[i].qs), load32(y[i + 1].qs));                               \
            const float dy0 = fp16_load(&y[i].d), dy1 = fp16_load(&y[i + 1].d);                          \
            acc = fma_blocks(udot(xu, yy, vnni), (double)(fp16_load(&x[i].d) * dy0),                     \
                             (double)(fp16_load(&x[i + 1].d) * dy1), acc);                               \
            accm += sum_term(&y[i], fp16_load(&x[i].m), dy0);                                            \
            accm += sum_term(&y[i + 1], fp16_load(&x[i + 1].m), dy1);                                    \
        }                                                                                                \
        if (i < nb) { /* odd block count: upper half zero */                                            \
            const __m512i xu = _mm512_castsi256_si512(LEVELS(&x[i]));                                    \
            const __m512i yy = qtk_join256(load32(y[i].qs), _mm256_setzero_si256());                            \
            const float dy0 = fp16_load(&y[i].d);                                                        \
            acc = fma_blocks(udot(xu, yy, vnni), (double)(fp16_load(&x[i].d) * dy0), 0.0, acc);          \
            accm += sum_term(&y[i], fp16_load(&x[i].m), dy0);                                            \
        }                                                                                                \
        *s = (float)(_mm512_reduce_add_pd(acc) + accm);                                                  \
    }

TYPE1_DOT_AVX512(qtk_q4_1_vec_dot_avx512, qtk_block_q4_1, levels_q4_1)
TYPE1_DOT_AVX512(qtk_q5_1_vec_dot_avx512, qtk_block_q5_1, levels_q5_1)

/* MXFP4 (qtk_mxfp4_vec_dot_avx512, the multi-column kernel) shares IQ4_NL's kernels in
 * iquants_avx512.c. */
