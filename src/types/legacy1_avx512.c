/*
 * legacy1_avx512.c — AVX-512 dot products of Q4_1/Q5_1 (with Q8_2), two
 * 32-blocks per 512-bit register. VNNI (vpdpbusd) when the CPU has it, else
 * AVX512BW maddubs/madd; both give exact integer sums (levels unsigned ≤ 31).
 * The scale side is in double as in legacy1.c's scalar kernels (t1_step), so
 * results equal them up to double rounding. MXFP4's kernels share IQ4_NL's (iquants_avx512.c).
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

/* ---- the per-block-pair step shared by vec_dot and the multi-column kernels ----
 *
 * Σ_j (d_x·q_j + m_x)·d_y·y_j = d_x·d_y·Σ q_j·y_j + m_x·d_y·Σ y_j per block. d_x·d_y
 * and m_x·d_y are exact in float (fp16 × fp16), and so are their products with the
 * integer sums in double: the block pair's 16 int32 lanes (8 per block) times d_x·d_y
 * into two 8-lane double accumulators (one per block of the pair: independent FMA
 * chains), Σy·(m_x·d_y) into a 4-lane one. Double matters: m_x·Σy and d_x·Σq·y often
 * nearly cancel (weights near zero against an outlier activation), and float sums
 * then lost up to 6e-5 of the result (test_dot's spike activations). The result is
 * the lane sums of the three. vec_dot and every tile of mul_mat run exactly these
 * operations in this order for each (row, column): bit-identical. (Until 2026-12-05
 * the scale side came from a separate pass over 4 rows with one FMA chain: Q4_1
 * generation ran at 0.3-0.4 of the read bandwidth.) */
typedef struct t1_colpair {
    __m512i yy;  /* quants of blocks 2p, 2p + 1 */
    __m256d sy;  /* 0, Σy of block 2p, 0, Σy of block 2p + 1 */
    __m128 dy4;  /* d_y of block 2p twice, then of block 2p + 1 twice */
} t1_colpair;

typedef struct t1_acc {
    __m512d lo, hi;  /* the integer-sum terms of the first / second block of each pair */
    __m256d m;       /* the min terms */
} t1_acc;

static inline double sum_y(const qtk_block_q8_2 *y) {
    int16_t sy;
    memcpy(&sy, &y->sum, 2);
    return (double)sy;
}

static inline uint32_t rd32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The column side of blocks i, i + 1 (one = 1: block i only, the upper half zero). */
static inline void t1_colpair_make(const qtk_block_q8_2 *y, int one, t1_colpair *c) {
    const float dy0 = fp16_load(&y[0].d), dy1 = one ? 0.0f : fp16_load(&y[1].d);
    c->yy = qtk_join256(load32(y[0].qs), one ? _mm256_setzero_si256() : load32(y[1].qs));
    c->sy = _mm256_setr_pd(0.0, sum_y(&y[0]), 0.0, one ? 0.0 : sum_y(&y[1]));
    c->dy4 = _mm_setr_ps(dy0, dy0, dy1, dy1);
}

/* (d, m) of blocks i, i + 1 (the first 4 bytes of each) as 4 floats; one: block i only. */
static inline __m128 t1_dm(const uint8_t *b, size_t bs, int one) {
    const __m128i h = _mm_insert_epi32(_mm_cvtsi32_si128((int)rd32(b)), one ? 0 : (int)rd32(b + bs), 1);
    return _mm_cvtph_ps(h);
}

static inline void t1_zero(t1_acc *a) {
    a->lo = a->hi = _mm512_setzero_pd();
    a->m = _mm256_setzero_pd();
}

/* One block pair of one (row, column): xu the pair's levels, dm its (d, m). */
QTK_FORCE_INLINE void t1_step(__m512i xu, __m128 dm, const t1_colpair *c, int vnni, t1_acc *a) {
    const __m256d f = _mm256_cvtps_pd(_mm_mul_ps(dm, c->dy4)); /* d0·dy0, m0·dy0, d1·dy1, m1·dy1 */
    const __m512i p = udot(xu, c->yy, vnni);
    const __m512d f8 = _mm512_castpd256_pd512(f);
    a->lo = _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(p)), _mm512_broadcastsd_pd(_mm256_castpd256_pd128(f)), a->lo);
    a->hi = _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(p, 1)),
                            _mm512_permutexvar_pd(_mm512_set1_epi64(2), f8), a->hi);
    a->m = _mm256_fmadd_pd(f, c->sy, a->m); /* the d lanes meet Σy's zeros */
}

static inline float t1_finish(const t1_acc *a) {
    const __m256d m2 = _mm256_add_pd(a->m, _mm256_permute2f128_pd(a->m, a->m, 1));
    return (float)(_mm512_reduce_add_pd(_mm512_add_pd(a->lo, a->hi)) + (_mm256_cvtsd_f64(m2) +
                                                                        _mm256_cvtsd_f64(_mm256_permute_pd(m2, 1))));
}

#define TYPE1_DOT_AVX512(NAME, BLOCK, LEVELS)                                                            \
    void NAME(int64_t n, float *s, const void *vx, const void *vy) {                                    \
        const BLOCK *x = (const BLOCK *)vx;                                                              \
        const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;                                            \
        const int vnni = qtk_cpu()->avx512vnni;                                                          \
        const int64_t nb = n / 32;                                                                       \
        t1_acc acc;                                                                                      \
        t1_zero(&acc);                                                                                   \
        for (int64_t i = 0; i < nb; i += 2) {                                                            \
            const int one = i + 1 >= nb;                                                                 \
            t1_colpair c;                                                                                \
            t1_colpair_make(&y[i], one, &c);                                                             \
            const __m512i xu = one ? _mm512_castsi256_si512(LEVELS(&x[i]))                               \
                                   : qtk_join256(LEVELS(&x[i]), LEVELS(&x[i + 1]));                      \
            t1_step(xu, t1_dm((const uint8_t *)&x[i], sizeof(BLOCK), one), &c, vnni, &acc);              \
        }                                                                                                \
        *s = t1_finish(&acc);                                                                    \
    }

TYPE1_DOT_AVX512(qtk_q4_1_vec_dot_avx512, qtk_block_q4_1, levels_q4_1)
TYPE1_DOT_AVX512(qtk_q5_1_vec_dot_avx512, qtk_block_q5_1, levels_q5_1)

/* MXFP4 (qtk_mxfp4_vec_dot_avx512, the multi-column kernel) shares IQ4_NL's kernels in
 * iquants_avx512.c. */

/* ---- multi-column kernels (the mul_mat contract of qtk.h) ------------------
 *
 * Per (row, column) exactly vec_dot's t1_step sequence, so every output is
 * bit-identical to qtk_q4_1/q5_1_vec_dot_avx512 (test_dot checks it). The column
 * side (t1_colpair) of a single column (generation) is made once per call for
 * rows up to 16384 weights (a stack table) and the rows go one after the other:
 * one weight stream from memory. (Four rows at a time, four streams, ran the 1B
 * model's generation at 0.6-0.7x the speed: Q4_1 1 thread 20-22 -> 30-31 t/s,
 * Q5_1 14-15 -> 24-25 in one A/B run.) Four columns take tiles of 4 rows x 4
 * columns: a weight block pair unpacked once per tile, used against every column. */
#define T1_MAX_PAIRS (QTK_TABLE_ROW_WEIGHTS / 64)

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

#define TYPE1_MUL_MAT_AVX512(NAME, BLOCK, LEVELS, PAIR)                                                         \
    /* R rows × C columns over all block pairs; tab: the C columns' sides, np pairs each (or NULL). */      \
    QTK_FORCE_INLINE void NAME##_tile(const int R, const int C, int64_t nb, const uint8_t *w, size_t ws,   \
                                      const uint8_t *a, size_t as, const t1_colpair *tab, float *out,       \
                                      size_t os, int vnni) {                                                \
        t1_acc acc[4][4];                                                                                   \
        for (int r = 0; r < R; r++)                                                                         \
            for (int c = 0; c < C; c++) t1_zero(&acc[r][c]);                                                \
        const int64_t np = (nb + 1) / 2;                                                                    \
        for (int64_t p = 0; p < np; p++) {                                                                  \
            const int64_t i = 2 * p;                                                                        \
            const int one = i + 1 >= nb;                                                                    \
            __m512i xu[4];                                                                                  \
            __m128 dm[4];                                                                                   \
            for (int r = 0; r < R; r++) {                                                                   \
                const uint8_t *b = w + (size_t)r * ws + (size_t)i * sizeof(BLOCK);                          \
                qtk_prefetch_ahead(b, 2 * (int)sizeof(BLOCK));                                              \
                const BLOCK *x = (const BLOCK *)(const void *)b;                                            \
                xu[r] = one ? _mm512_castsi256_si512(LEVELS(x)) : PAIR(x);                                  \
                dm[r] = t1_dm(b, sizeof(BLOCK), one);                                                       \
            }                                                                                               \
            for (int c = 0; c < C; c++) {                                                                   \
                t1_colpair cp;                                                                              \
                const t1_colpair *cc = &cp;                                                                 \
                if (tab) cc = &tab[(size_t)c * T1_MAX_PAIRS + (size_t)p];                                   \
                else t1_colpair_make((const qtk_block_q8_2 *)(const void *)(a + (size_t)c * as) + i, one, &cp); \
                for (int r = 0; r < R; r++) t1_step(xu[r], dm[r], cc, vnni, &acc[r][c]);                    \
            }                                                                                               \
        }                                                                                                   \
        for (int r = 0; r < R; r++)                                                                         \
            for (int c = 0; c < C; c++) out[(size_t)c * os + (size_t)r] = t1_finish(&acc[r][c]);          \
    }                                                                                                       \
    void NAME(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,          \
              int64_t nr, int64_t nc) {                                                                     \
        const int64_t nb = n / 32, np = (nb + 1) / 2;                                                       \
        const int vnni = qtk_cpu()->avx512vnni;                                                             \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                   \
        t1_colpair tab[T1_MAX_PAIRS]; /* 64 KiB: one column's sides (4 columns make theirs per tile) */  \
        for (int64_t c = 0; c < nc;) {                                                                      \
            const int C = nc - c >= 4 ? 4 : 1;                                                              \
            const uint8_t *ac = ab + (size_t)c * as;                                                        \
            const t1_colpair *tp = NULL;                                                                    \
            if (C == 1 && nr > 1 && np <= T1_MAX_PAIRS) {                                                   \
                for (int64_t p = 0; p < np; p++)                                                            \
                    t1_colpair_make((const qtk_block_q8_2 *)(const void *)ac + 2 * p, 2 * p + 1 >= nb, &tab[p]); \
                tp = tab;                                                                                   \
            }                                                                                               \
            for (int64_t r = 0; r < nr;) {                                                                  \
                const int R = (C == 4 && nr - r >= 4) ? 4 : 1;                                            \
                const uint8_t *wr = wb + (size_t)r * ws;                                                    \
                float *o = out + (size_t)c * os + (size_t)r;                                                \
                if (R == 4) NAME##_tile(4, 4, nb, wr, ws, ac, as, tp, o, os, vnni);                         \
                else if (C == 4) NAME##_tile(1, 4, nb, wr, ws, ac, as, tp, o, os, vnni);                    \
                else NAME##_tile(1, 1, nb, wr, ws, ac, as, tp, o, os, vnni);                                \
                r += R;                                                                                     \
            }                                                                                               \
            c += C;                                                                                         \
        }                                                                                                   \
    }

TYPE1_MUL_MAT_AVX512(qtk_q4_1_mul_mat_avx512, qtk_block_q4_1, levels_q4_1, pair_q4_1)
TYPE1_MUL_MAT_AVX512(qtk_q5_1_mul_mat_avx512, qtk_block_q5_1, levels_q5_1, pair_q5_1)
