/*
 * iq_mainline_avx2.c — AVX2 dot products (× Q8_K) of IQ2_XXS, IQ2_XS, IQ2_S,
 * IQ3_XXS, IQ3_S, IQ1_S, IQ1_M. Each 32 weights: the four octet words of
 * iq_mainline.h (grid lookup and signs, 64-bit SWAR) in one register, then
 * |q| × sign(q)·y through maddubs (|pair| ≤ 2·62·127, no saturation) and
 * madd with the two 16-group multipliers: the exact integer sum S of the
 * scalar kernel, scaled in double by the same expression (iqm_acc).
 *
 * IQ2_XXS, IQ2_XS and IQ3_XXS also have a gather kernel: per 32 weights one
 * vpgatherdq (or vpgatherdd) of the grid entries and one of the sign masks
 * (ksigns table, indices by a variable shift), the signs applied to y by
 * vpsignb, instead of four scalar words and their insertion into a register
 * (~40 instructions). Same integer sums, same bits. Gathers are fast on
 * recent Intel cores (here 1.1 ns for 4 qwords from L1) and slow on others
 * (AMD Zen 4, session 16), so each type times both kernels at first use
 * (calibrate) and keeps the gathers only when they win by 5 % in 3 of 3
 * alternated trials.
 */
#include "iq_mainline.h"
#include "simd_x86.h"
#include "../core/threadpool.h"

#include <immintrin.h>

static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

#define IQM_AVX2(t, BYTES, DBITS, WORD, MUL16, F)                                                         \
    static void t##_words_avx2(int64_t n, float *s, const void *vx, const void *vy) {                    \
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

/* ---- gather kernels ---- */

/* y with the signs of the 32 weights applied: mask bytes 0xFF (negative) or 0x00. */
static inline __m256i signed_y(const int8_t *q8, __m256i mask) {
    return _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(const void *)q8),
                            _mm256_or_si256(mask, _mm256_set1_epi8(1)));
}

/* The 4 ksigns masks of the 7-bit fields at bits 0, 7, 14, 21 of a. */
static inline __m256i ksigns4(uint32_t a) {
    const __m128i f = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)a), _mm_setr_epi32(0, 7, 14, 21)),
                                    _mm_set1_epi32(127));
    return _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq2_signs64, f, 8);
}

/* Σ over the 32 weights of q·y times the multiplier(s) m (int16 lanes), added to acc. */
static inline __m256i mul_add(__m256i acc, __m256i grid, __m256i ys, __m256i m) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(grid, ys), m));
}

static inline int iq2_xxs_sum_gather(const uint8_t *b, const int8_t *q8) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *r = b + 2 + 8 * ib;
        const uint32_t a = iqm_u32(r + 4);
        const __m128i idx = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)iqm_u32(r)));
        const __m256i g = _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq2xxs_grid, idx, 8);
        acc = mul_add(acc, g, signed_y(q8 + 32 * ib, ksigns4(a)), _mm256_set1_epi16((short)(2 * (a >> 28) + 1)));
    }
    return hsum_i32(acc);
}

static inline int iq3_xxs_sum_gather(const uint8_t *b, const int8_t *q8) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const uint32_t a = iqm_u32(b + 66 + 4 * ib);
        const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + 8 * ib)));
        const __m256i g = _mm256_i32gather_epi32((const int *)(const void *)qtk_iq3xxs_grid, idx, 4);
        acc = mul_add(acc, g, signed_y(q8 + 32 * ib, ksigns4(a)), _mm256_set1_epi16((short)(2 * (a >> 28) + 1)));
    }
    return hsum_i32(acc);
}

static inline int iq2_xs_sum_gather(const uint8_t *b, const int8_t *q8) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        /* 4 words: grid index (9 bits), sign field (7 bits) */
        const __m128i w = _mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + 8 * ib)));
        const __m256i g = _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq2xs_grid,
                                                 _mm_and_si128(w, _mm_set1_epi32(511)), 8);
        const __m256i sg = _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq2_signs64,
                                                  _mm_srli_epi32(w, 9), 8);
        const __m256i m = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)iq2xs_mul16(b, 2 * ib))),
                                                  _mm_set1_epi16((short)iq2xs_mul16(b, 2 * ib + 1)), 1);
        acc = mul_add(acc, g, signed_y(q8 + 32 * ib, sg), m);
    }
    return hsum_i32(acc);
}

#define IQM_GATHER_DOT(t, BYTES, F)                                                                       \
    static void t##_gather_avx2(int64_t n, float *s, const void *vx, const void *vy) {                   \
        const uint8_t *b = (const uint8_t *)vx;                                                          \
        const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;                                            \
        double sum = 0.0;                                                                                 \
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, b += (BYTES)) {                                     \
            float yd;                                                                                     \
            qtk_prefetch_ahead(b, (BYTES));                                                               \
            memcpy(&yd, &y[ibl].d, sizeof yd);                                                            \
            sum = iqm_acc_f(sum, t##_sum_gather(b, y[ibl].qs), qtk_f16c_to_f32(iqm_d_fp16(b)), yd, (F));  \
        }                                                                                                 \
        *s = (float)sum;                                                                                  \
    }

IQM_GATHER_DOT(iq2_xxs, IQ2XXS_BYTES, 0.125f)
IQM_GATHER_DOT(iq2_xs, IQ2XS_BYTES, 0.125f)
IQM_GATHER_DOT(iq3_xxs, IQ3XXS_BYTES, 0.25f)

/* ---- the choice per type, timed once ---- */

enum { GA_IQ2_XXS, GA_IQ2_XS, GA_IQ3_XXS, GA_COUNT };
static const struct {
    qtk_vec_dot_fn words, gather;
    size_t bytes;
} g_kernels[GA_COUNT] = {
    {iq2_xxs_words_avx2, iq2_xxs_gather_avx2, IQ2XXS_BYTES},
    {iq2_xs_words_avx2, iq2_xs_gather_avx2, IQ2XS_BYTES},
    {iq3_xxs_words_avx2, iq3_xxs_gather_avx2, IQ3XXS_BYTES},
};
static int g_calibrated[GA_COUNT], g_gather[GA_COUNT];
static qtk_once g_once = QTK_ONCE_INIT;

/* Best of 3 of 16 calls over 32 pseudo-random super-blocks (every byte pattern is a valid
 * block; the fp16 scales are made normal numbers). */
static double time_kernel(qtk_vec_dot_fn f, const uint8_t *w, const void *y) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        float s = 0.0f;
        const double t0 = qtk_time_now();
        for (int it = 0; it < 16; it++) f(32 * QK_K, &s, w, y);
        const double t = qtk_time_now() - t0;
        if (t < best && s == s) best = t;
    }
    return best;
}

static void calibrate(void) {
    static uint8_t w[32 * IQ3XXS_BYTES];
    static qtk_block_q8_K y[32];
    uint32_t x = 2024u;
    for (size_t i = 0; i < sizeof w; i++) w[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 24);
    for (int k = 0; k < 32; k++) {
        y[k].d = 0.01f;
        for (int i = 0; i < QK_K; i++) y[k].qs[i] = (int8_t)((int)((x = x * 1103515245u + 12345u) >> 24) % 255 - 127);
    }
    for (int c = 0; c < GA_COUNT; c++) {
        for (int k = 0; k < 32; k++) {
            const uint16_t d = 0x3C00; /* 1.0 */
            memcpy(w + (size_t)k * g_kernels[c].bytes, &d, 2);
        }
        int wins = 0;
        for (int trial = 0; trial < 3; trial++) {
            const double tw = time_kernel(g_kernels[c].words, w, y), tg = time_kernel(g_kernels[c].gather, w, y);
            wins += tg < 0.95 * tw;
        }
        g_calibrated[c] = g_gather[c] = wins == 3;
    }
}

int qtk_iqm_avx2_lookups(int mode) {
    qtk_call_once(&g_once, calibrate);
    if (mode != -2)
        for (int c = 0; c < GA_COUNT; c++) g_gather[c] = mode < 0 ? g_calibrated[c] : mode;
    return g_gather[GA_IQ2_XXS] | g_gather[GA_IQ2_XS] << 1 | g_gather[GA_IQ3_XXS] << 2;
}

#define IQM_AVX2_CHOICE(t, C)                                                                             \
    void qtk_##t##_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {                   \
        qtk_call_once(&g_once, calibrate);                                                                \
        (g_gather[C] ? g_kernels[C].gather : g_kernels[C].words)(n, s, vx, vy);                           \
    }
IQM_AVX2_CHOICE(iq2_xxs, GA_IQ2_XXS)
IQM_AVX2_CHOICE(iq2_xs, GA_IQ2_XS)
IQM_AVX2_CHOICE(iq3_xxs, GA_IQ3_XXS)

#define IQM_AVX2_WORDS(t)                                                                                 \
    void qtk_##t##_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) { t##_words_avx2(n, s, vx, vy); }
IQM_AVX2_WORDS(iq2_s)
IQM_AVX2_WORDS(iq3_s)
IQM_AVX2_WORDS(iq1_s)
IQM_AVX2_WORDS(iq1_m)
