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

/* ---- multi-column kernels (the mul_mat contract of qtk.h) ------------------
 *
 * Per (row, column) exactly vec_dot's arithmetic above — same block pairs, same
 * exact integer sums, same float products d_x·d_y and m_x·d_y, the same double
 * FMAs into the 8-lane accumulator, the same serial double sum of the min
 * terms in block order, the same final reduction — so every output is
 * bit-identical to qtk_q4_1/q5_1_vec_dot_avx512 (test_dot checks it). Tiles of
 * up to 4 rows × 4 columns unpack a weight block pair once per tile. One column
 * (generation) with rows up to 16384 weights: the column's activation side
 * (block pairs as 512-bit registers, d_y, Σy as double) is made once per call
 * into a 34 KiB stack table, and rows go 4 at a time through _gemv4. 1 thread,
 * 4096 x 4096: dot1 Q4_1 7.1 -> 11.3 GB/s, Q5_1 7.7 -> 12.2 GB/s over vec_dot. */
#define T1_MAX_PAIRS 256
typedef struct t1_act {
    __m512i yy[T1_MAX_PAIRS];
    __m256d sy4[T1_MAX_PAIRS]; /* 1, Σy of block 2p, 1, Σy of block 2p + 1 */
    __m128 dy4[T1_MAX_PAIRS];  /* d_y of block 2p twice, then of block 2p + 1 twice */
    float dy[2 * T1_MAX_PAIRS];
    double sy[2 * T1_MAX_PAIRS];
} t1_act;

static inline double sum_y(const qtk_block_q8_2 *y) {
    int16_t sy;
    memcpy(&sy, &y->sum, 2);
    return (double)sy;
}

static void t1_act_make(int64_t nb, const uint8_t *a, t1_act *t) {
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)(const void *)a;
    for (int64_t i = 0; i < nb; i++) {
        t->dy[i] = fp16_load(&y[i].d);
        t->sy[i] = sum_y(&y[i]);
    }
    for (int64_t p = 0; p < nb / 2; p++) {
        t->yy[p] = qtk_join256(load32(y[2 * p].qs), load32(y[2 * p + 1].qs));
        t->sy4[p] = _mm256_setr_pd(1.0, t->sy[2 * p], 1.0, t->sy[2 * p + 1]);
        t->dy4[p] = _mm_setr_ps(t->dy[2 * p], t->dy[2 * p], t->dy[2 * p + 1], t->dy[2 * p + 1]);
    }
}

/* The levels of blocks i, i + 1 as vec_dot's join of the two (lanes: low nibbles of
 * block i, high nibbles, low of i + 1, high), from one broadcast per block. */
static inline __m512i pair_q4_1(const qtk_block_q4_1 *x) {
    const __m512i q = _mm512_mask_broadcast_i32x4(
        _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)x[0].qs)), (__mmask16)0xFF00,
        _mm_loadu_si128((const __m128i *)(const void *)x[1].qs));
    return _mm512_and_si512(_mm512_mask_srli_epi16(q, (__mmask32)0xFF00FF00u, q, 4), _mm512_set1_epi8(0x0F));
}

static inline __m512i pair_q5_1(const qtk_block_q5_1 *x) {
    const __m512i q = _mm512_mask_broadcast_i32x4(
        _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)x[0].qs)), (__mmask16)0xFF00,
        _mm_loadu_si128((const __m128i *)(const void *)x[1].qs));
    const __m512i lv = _mm512_and_si512(_mm512_mask_srli_epi16(q, (__mmask32)0xFF00FF00u, q, 4), _mm512_set1_epi8(0x0F));
    uint32_t h0, h1;
    memcpy(&h0, x[0].qh, 4);
    memcpy(&h1, x[1].qh, 4);
    return _mm512_or_si512(lv, _mm512_maskz_mov_epi8((__mmask64)h0 | ((__mmask64)h1 << 32), _mm512_set1_epi8(0x10)));
}

/* One column, 4 rows, the column's table, in chunks of T1_CHUNK block pairs. Pass 1:
 * the scale side of a block pair of the four rows in one step ((d, m) of the 8 blocks
 * converted together, times d_y, the min terms times Σy in double: exactly vec_dot's
 * products) into a stack buffer, and the min sums of the 4 rows in the lanes of one
 * register (each lane vec_dot's serial sum). Pass 2: the integer sums and vec_dot's
 * FMAs, the scales broadcast from the buffer (no shuffles; a single pass measured
 * ~25 % slower, shuffle-bound). */
#define T1_CHUNK 32 /* block pairs per pass */
#define TYPE1_GEMV4(NAME, BLOCK, LEVELS, PAIR)                                                                      \
    static void NAME##_gemv4(int64_t nb, const uint8_t *w, size_t ws, const uint8_t *a, const t1_act *t,     \
                             float *out) {                                                                  \
        const int K = (int)(sizeof(BLOCK) / 4); /* dword of block 2p + 1's (d, m) */                        \
        const __m512i idm = _mm512_setr_epi32(0, K, 8, 8 + K, 16, 16 + K, 24, 24 + K, 0, 0, 0, 0, 0, 0, 0, 0);    \
        const __m512i im1 = _mm512_setr_epi64(1, 5, 9, 13, 3, 7, 11, 15);                                   \
        __m512d acc0 = _mm512_setzero_pd(), acc1 = acc0, acc2 = acc0, acc3 = acc0;                          \
        __m256d accm = _mm256_setzero_pd();                                                                 \
        const int64_t np = nb / 2;                                                                          \
        double sbuf[T1_CHUNK * 16];                                                                         \
        for (int64_t p0 = 0; p0 < np; p0 += T1_CHUNK) {                                                    \
            const int64_t p1 = np - p0 < T1_CHUNK ? np : p0 + T1_CHUNK;                                     \
            /* pass 1: (d, m) of blocks 2p, 2p + 1 of rows 0..3 (in the first 32 bytes of the pair) →      \
             * d·d_y, Σy·(m·d_y) (d·d_y · 1.0 is exact); the min sums, in block order per row */            \
            for (int64_t p = p0; p < p1; p++) {                                                             \
                const uint8_t *b = w + (size_t)(2 * p) * sizeof(BLOCK);                                     \
                const __m512i r01 = qtk_join256(_mm256_loadu_si256((const __m256i *)(const void *)b),       \
                                                _mm256_loadu_si256((const __m256i *)(const void *)(b + ws))); \
                const __m512i r23 =                                                                         \
                    qtk_join256(_mm256_loadu_si256((const __m256i *)(const void *)(b + 2 * ws)),            \
                                _mm256_loadu_si256((const __m256i *)(const void *)(b + 3 * ws)));           \
                const __m256i dm = _mm512_castsi512_si256(_mm512_permutex2var_epi32(r01, idm, r23));        \
                const __m512 f = _mm512_mul_ps(_mm512_cvtph_ps(dm), _mm512_broadcast_f32x4(t->dy4[p]));    \
                const __m512d sy = _mm512_broadcast_f64x4(t->sy4[p]);                                       \
                const __m512d lo = _mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(f)), sy);           \
                const __m512d hi = _mm512_mul_pd(                                                           \
                    _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))), sy); \
                _mm512_storeu_pd(sbuf + (p - p0) * 16, lo);                                                 \
                _mm512_storeu_pd(sbuf + (p - p0) * 16 + 8, hi);                                             \
                const __m512d mt = _mm512_permutex2var_pd(lo, im1, hi);                                     \
                accm = _mm256_add_pd(accm, _mm512_castpd512_pd256(mt));                                     \
                accm = _mm256_add_pd(accm, _mm512_extractf64x4_pd(mt, 1));                                  \
            }                                                                                               \
            /* pass 2: the integer sums, scaled by pass 1's d·d_y as vec_dot's fma_blocks */                \
            for (int64_t p = p0; p < p1; p++) {                                                             \
                const uint8_t *b = w + (size_t)(2 * p) * sizeof(BLOCK);                                     \
                const double *s = sbuf + (p - p0) * 16;                                                     \
                const __m512i yy = t->yy[p];                                                                \
                const BLOCK *x0 = (const BLOCK *)(const void *)b;                                           \
                acc0 = fma_blocks(_mm512_dpbusd_epi32(_mm512_setzero_si512(), PAIR(x0), yy), s[0], s[2], acc0); \
                const BLOCK *x1 = (const BLOCK *)(const void *)(b + ws);                                    \
                acc1 = fma_blocks(_mm512_dpbusd_epi32(_mm512_setzero_si512(), PAIR(x1), yy), s[4], s[6], acc1); \
                const BLOCK *x2 = (const BLOCK *)(const void *)(b + 2 * ws);                                \
                acc2 = fma_blocks(_mm512_dpbusd_epi32(_mm512_setzero_si512(), PAIR(x2), yy), s[8], s[10], acc2); \
                const BLOCK *x3 = (const BLOCK *)(const void *)(b + 3 * ws);                                \
                acc3 = fma_blocks(_mm512_dpbusd_epi32(_mm512_setzero_si512(), PAIR(x3), yy), s[12], s[14], acc3); \
            }                                                                                               \
        }                                                                                                   \
        double m[4];                                                                                        \
        _mm256_storeu_pd(m, accm);                                                                          \
        __m512d acc[4] = {acc0, acc1, acc2, acc3};                                                          \
        for (int r = 0; r < 4; r++) {                                                                       \
            if (nb & 1) { /* odd block count: upper half zero, as vec_dot */                                \
                const BLOCK *x = (const BLOCK *)(const void *)(w + (size_t)r * ws) + (nb - 1);              \
                const __m512i xu = _mm512_castsi256_si512(LEVELS(x));                                       \
                const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)(const void *)a + (nb - 1);             \
                const __m512i yy = qtk_join256(load32(y->qs), _mm256_setzero_si256());                     \
                const float dy0 = t->dy[nb - 1];                                                            \
                acc[r] = fma_blocks(udot(xu, yy, 1), (double)(fp16_load(&x->d) * dy0), 0.0, acc[r]);        \
                m[r] += t->sy[nb - 1] * (double)(fp16_load(&x->m) * dy0);                                   \
            }                                                                                               \
            out[r] = (float)(_mm512_reduce_add_pd(acc[r]) + m[r]);                                          \
        }                                                                                                   \
    }


#define TYPE1_MUL_MAT_AVX512(NAME, BLOCK, LEVELS, PAIR)                                                         \
    /* R rows × C columns; tab: C activation tables (one per column) or NULL. */                           \
    QTK_FORCE_INLINE void NAME##_tile(const int R, const int C, int64_t nb, const uint8_t *w, size_t ws,   \
                                      const uint8_t *a, size_t as, const t1_act *tab, float *out, size_t os, \
                                      int vnni) {                                                          \
        __m512d acc[4][4];                                                                                 \
        double accm[4][4];                                                                                 \
        for (int r = 0; r < R; r++)                                                                        \
            for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_pd(), accm[r][c] = 0.0;                 \
        int64_t i = 0;                                                                                     \
        for (; i + 1 < nb; i += 2) {                                                                       \
            __m512i xu[4];                                                                                 \
            float dx0[4], dx1[4], mx0[4], mx1[4];                                                          \
            for (int r = 0; r < R; r++) {                                                                  \
                const BLOCK *x = (const BLOCK *)(const void *)(w + (size_t)r * ws);                        \
                xu[r] = PAIR(&x[i]);                                                                         \
                dx0[r] = fp16_load(&x[i].d), dx1[r] = fp16_load(&x[i + 1].d);                              \
                mx0[r] = fp16_load(&x[i].m), mx1[r] = fp16_load(&x[i + 1].m);                              \
            }                                                                                              \
            for (int c = 0; c < C; c++) {                                                                  \
                __m512i yy;                                                                                \
                float dy0, dy1;                                                                            \
                double sy0, sy1;                                                                           \
                if (tab) {                                                                                 \
                    const t1_act *t = tab + c;                                                             \
                    yy = t->yy[i / 2], dy0 = t->dy[i], dy1 = t->dy[i + 1], sy0 = t->sy[i], sy1 = t->sy[i + 1]; \
                } else {                                                                                   \
                    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)(const void *)(a + (size_t)c * as);  \
                    yy = qtk_join256(load32(y[i].qs), load32(y[i + 1].qs));                                \
                    dy0 = fp16_load(&y[i].d), dy1 = fp16_load(&y[i + 1].d);                                \
                    sy0 = sum_y(&y[i]), sy1 = sum_y(&y[i + 1]);                                            \
                }                                                                                          \
                for (int r = 0; r < R; r++) {                                                              \
                    acc[r][c] = fma_blocks(udot(xu[r], yy, vnni), (double)(dx0[r] * dy0), (double)(dx1[r] * dy1), acc[r][c]);     \
                    accm[r][c] += sy0 * (double)(mx0[r] * dy0);                                            \
                    accm[r][c] += sy1 * (double)(mx1[r] * dy1);                                            \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
        if (i < nb) { /* odd block count: upper half zero, as vec_dot */                                   \
            for (int r = 0; r < R; r++) {                                                                  \
                const BLOCK *x = (const BLOCK *)(const void *)(w + (size_t)r * ws);                        \
                const __m512i xu = _mm512_castsi256_si512(LEVELS(&x[i]));                                  \
                const float dx = fp16_load(&x[i].d), mx = fp16_load(&x[i].m);                              \
                for (int c = 0; c < C; c++) {                                                              \
                    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)(const void *)(a + (size_t)c * as);  \
                    const __m512i yy = qtk_join256(load32(y[i].qs), _mm256_setzero_si256());               \
                    const float dy0 = fp16_load(&y[i].d);                                                  \
                    acc[r][c] = fma_blocks(udot(xu, yy, vnni), (double)(dx * dy0), 0.0, acc[r][c]);        \
                    accm[r][c] += sum_term(&y[i], mx, dy0);                                                \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
        for (int r = 0; r < R; r++)                                                                        \
            for (int c = 0; c < C; c++)                                                                    \
                out[(size_t)c * os + (size_t)r] = (float)(_mm512_reduce_add_pd(acc[r][c]) + accm[r][c]);   \
    }                                                                                                      \
    void NAME(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,          \
              int64_t nr, int64_t nc) {                                                                    \
        const int64_t nb = n / 32;                                                                         \
        const int vnni = qtk_cpu()->avx512vnni;                                                            \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                  \
        t1_act tab[1];                                                                                     \
        for (int64_t c = 0; c < nc;) {                                                                     \
            const int C = nc - c >= 4 ? 4 : 1;                                                             \
            const uint8_t *ac = ab + (size_t)c * as;                                                       \
            const t1_act *tp = NULL;                                                                       \
            if (C == 1 && nr > 1 && vnni && nb <= 2 * T1_MAX_PAIRS) {                                         \
                t1_act_make(nb, ac, tab);                                                                  \
                tp = tab;                                                                                  \
            }                                                                                              \
            for (int64_t r = 0; r < nr;) {                                                                 \
                const int R = nr - r >= 4 ? 4 : 1;                                                         \
                const uint8_t *wr = wb + (size_t)r * ws;                                                   \
                float *o = out + (size_t)c * os + (size_t)r;                                               \
                if (R == 4 && tp) NAME##_gemv4(nb, wr, ws, ac, tp, o);                                     \
                else if (R == 4 && C == 4) NAME##_tile(4, 4, nb, wr, ws, ac, as, NULL, o, os, vnni);            \
                else if (R == 4) NAME##_tile(4, 1, nb, wr, ws, ac, as, tp, o, os, vnni);                   \
                else if (C == 4) NAME##_tile(1, 4, nb, wr, ws, ac, as, NULL, o, os, vnni);                 \
                else NAME##_tile(1, 1, nb, wr, ws, ac, as, tp, o, os, vnni);                               \
                r += R;                                                                                    \
            }                                                                                              \
            c += C;                                                                                        \
        }                                                                                                  \
    }

TYPE1_GEMV4(qtk_q4_1_mul_mat_avx512, qtk_block_q4_1, levels_q4_1, pair_q4_1)
TYPE1_GEMV4(qtk_q5_1_mul_mat_avx512, qtk_block_q5_1, levels_q5_1, pair_q5_1)
TYPE1_MUL_MAT_AVX512(qtk_q4_1_mul_mat_avx512, qtk_block_q4_1, levels_q4_1, pair_q4_1)
TYPE1_MUL_MAT_AVX512(qtk_q5_1_mul_mat_avx512, qtk_block_q5_1, levels_q5_1, pair_q5_1)
