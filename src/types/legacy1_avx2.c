/*
 * legacy1_avx2.c — AVX2 dot products of Q4_1/Q5_1 (with Q8_2 activations) and
 * MXFP4 (with Q8_0). Integer sums are exact: Q4_1/Q5_1 levels are unsigned
 * (≤ 31), so maddubs pairs stay below 2·31·127 < 2^15; MXFP4 uses the table
 * offset by +12 (0…24, as ik's AVX2 kernel) and subtracts 12·Σy. Q4_1/Q5_1
 * accumulate in double as the scalar kernels; results equal legacy1.c's up to
 * the accumulation order.
 */
#include "legacy1.h"
#include "simd_x86.h"

#include <immintrin.h>

static inline float fp16_load(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* 16 packed bytes → 32 nibbles: low nibbles in lane 0 (weights 0..15), high in lane 1. */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

/* int32 lanes of Σ xu·y (xu unsigned ≤ 127). */
static inline __m256i udot(__m256i xu, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(xu, y), _mm256_set1_epi16(1));
}

static inline __m256i levels_q4_1(const qtk_block_q4_1 *b) { return unpack_nibbles(b->qs); }

static inline __m256i levels_q5_1(const qtk_block_q5_1 *b) {
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    h = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(unpack_nibbles(b->qs), h);
}

/* The exact totals of 8 blocks' int32 lanes, in block order. */
static inline __m256i sums8(const __m256i p[8]) {
    const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

/* The first 4 bytes of 8 blocks (stride bs) as 8 words. */
static inline __m256i words8(const uint8_t *p, size_t bs) { return _mm256_set_m128i(qtk_words4(p + 4 * bs, bs), qtk_words4(p, bs)); }

/* As legacy1.c, in double: Σ_j (d_x·q_j + m_x)·d_y·y_j = d_x·d_y·Σ q·y + m_x·d_y·Σy per block,
 * the products exact. Eight blocks at a time: their exact integer totals (sums8), d_x·d_y and
 * m_x·d_y of all 8 from two fp16 conversions, then 4-lane double FMAs. (One block at a time,
 * the double side took ~12 operations per block: 0.6 of Q4_0's speed per weight.) The last
 * nb % 8 blocks go one by one. */
#define TYPE1_DOT_AVX2(NAME, BLOCK, LEVELS)                                                              \
    void NAME(int64_t n, float *s, const void *vx, const void *vy) {                                    \
        const BLOCK *x = (const BLOCK *)vx;                                                              \
        const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;                                            \
        const int64_t nb = n / 32;                                                                       \
        __m256d accd0 = _mm256_setzero_pd(), accd1 = _mm256_setzero_pd();                                \
        __m256d accm0 = _mm256_setzero_pd(), accm1 = _mm256_setzero_pd();                                \
        const __m256i even_odd = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);                              \
        int64_t i = 0;                                                                                   \
        for (; i + 8 <= nb; i += 8) {                                                                    \
            qtk_prefetch_ahead(&x[i], 8 * (int)sizeof(BLOCK));                                           \
            __m256i p[8];                                                                                \
            for (int k = 0; k < 8; k++)                                                                  \
                p[k] = udot(LEVELS(&x[i + k]), _mm256_loadu_si256((const __m256i *)(const void *)y[i + k].qs)); \
            const __m256i S = sums8(p);                                                                  \
            const __m256i dm = words8((const uint8_t *)&x[i], sizeof(BLOCK)); /* d | m << 16 */         \
            const __m256i yw = words8((const uint8_t *)&y[i], sizeof(qtk_block_q8_2)); /* d | Σy << 16 */ \
            const __m256i dd = _mm256_and_si256(yw, _mm256_set1_epi32(0xFFFF));                         \
            const __m256i dy2 = _mm256_or_si256(dd, _mm256_slli_epi32(dd, 16)); /* d_y in both halves */ \
            const __m256 f0 = _mm256_permutevar8x32_ps(                                                  \
                _mm256_mul_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(dm)), _mm256_cvtph_ps(_mm256_castsi256_si128(dy2))), even_odd); \
            const __m256 f1 = _mm256_permutevar8x32_ps(                                                  \
                _mm256_mul_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(dm, 1)), _mm256_cvtph_ps(_mm256_extracti128_si256(dy2, 1))), \
                even_odd); /* d_x·d_y of 4 blocks, then m_x·d_y */                                      \
            const __m256i sy = _mm256_srai_epi32(yw, 16);                                                \
            accd0 = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(S)), _mm256_cvtps_pd(_mm256_castps256_ps128(f0)), accd0); \
            accd1 = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(S, 1)), _mm256_cvtps_pd(_mm256_castps256_ps128(f1)), accd1); \
            accm0 = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(sy)), _mm256_cvtps_pd(_mm256_extractf128_ps(f0, 1)), accm0); \
            accm1 = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(sy, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(f1, 1)), accm1); \
        }                                                                                                \
        double accm = 0.0;                                                                               \
        for (; i < nb; i++) {                                                                            \
            const __m256i yy = _mm256_loadu_si256((const __m256i *)(const void *)y[i].qs);              \
            const float dy = fp16_load(&y[i].d);                                                         \
            int16_t sy;                                                                                  \
            memcpy(&sy, &y[i].sum, 2);                                                                   \
            const __m256d d = _mm256_set1_pd((double)(fp16_load(&x[i].d) * dy));                        \
            const __m256i p = udot(LEVELS(&x[i]), yy);                                                   \
            accd0 = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(p)), d, accd0);            \
            accd1 = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(p, 1)), d, accd1);       \
            accm += (double)sy * (double)(fp16_load(&x[i].m) * dy);                                      \
        }                                                                                                \
        *s = (float)(hsum_pd(_mm256_add_pd(_mm256_add_pd(accd0, accd1), _mm256_add_pd(accm0, accm1))) + accm); \
    }

TYPE1_DOT_AVX2(qtk_q4_1_vec_dot_avx2, qtk_block_q4_1, levels_q4_1)
TYPE1_DOT_AVX2(qtk_q5_1_vec_dot_avx2, qtk_block_q5_1, levels_q5_1)

/* MXFP4: codes → KMX + 12 by one byte shuffle, Σ (KMX + 12)·y − 12·Σy. */
void qtk_mxfp4_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const __m256i tab = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0, 12, 13, 14, 15,
                                         16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
    const __m256i k12 = _mm256_set1_epi8(12);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, x += sizeof(qtk_block_mxfp4)) {
        qtk_prefetch_ahead(x, (int)sizeof(qtk_block_mxfp4));
        const __m256i xu = _mm256_shuffle_epi8(tab, unpack_nibbles(x + 1));
        const __m256i yy = _mm256_loadu_si256((const __m256i *)(const void *)y[i].qs);
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(xu, yy), _mm256_maddubs_epi16(k12, yy));
        const __m256i isum = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
        const __m256 d = _mm256_set1_ps(qtk_mxfp4_scale(x[0]) * fp16_load(&y[i].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
    }
    *s = hsum_ps(acc);
}
