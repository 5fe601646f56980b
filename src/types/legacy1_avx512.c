/*
 * legacy1_avx512.c — AVX-512 dot products of Q4_1/Q5_1 (with Q8_2), two
 * 32-blocks per 512-bit register. VNNI (vpdpbusd) when the CPU has it, else
 * AVX512BW maddubs/madd; both give exact integer sums (levels unsigned ≤ 31).
 * The scale side is in double as in legacy1.c's scalar kernels, on 8 blocks' exact
 * integer totals at a time (t1_step8), so results equal them up to double rounding. MXFP4's kernels share IQ4_NL's (iquants_avx512.c).
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

/* ---- the 8-block step shared by vec_dot and the multi-column kernels ----
 *
 * Σ_j (d_x·q_j + m_x)·d_y·y_j = d_x·d_y·Σ q_j·y_j + m_x·d_y·Σ y_j per block. d_x·d_y and
 * m_x·d_y are exact in float (fp16 × fp16), and so are their products with the integer
 * sums in double. Eight blocks at a time: vpdpbusd per block pair, the 8 int32 lanes of
 * each block added up exactly (qtk_sums4x4_i32 and one more add: the block totals in t1
 * order 0, 2, 4, 6, 1, 3, 5, 7), then one 8-lane double FMA for the d terms and one for
 * the m terms. Double matters: m_x·Σy and d_x·Σq·y often nearly cancel (weights near zero
 * against an outlier activation), and float sums then lost up to 6e-5 of the result
 * (test_dot's spike activations). vec_dot and every tile of mul_mat run exactly these
 * operations in this order for each (row, column): bit-identical. (Until 2026-12-08 the
 * double side ran per block pair on the 16 lanes before adding them, ~10 double-precision
 * operations per pair: Q4_1/Q5_1 ran at 0.6 of Q4_0's speed per weight.) */
static const int t1_order[8] = {0, 2, 4, 6, 1, 3, 5, 7};

typedef struct t1_colgroup {
    __m512i yy[4]; /* quants of blocks 2j, 2j + 1 of the group */
    __m512 dy;     /* d_y of the blocks in t1 order, each twice (beside the d and m halves) */
    __m512d sy;    /* Σy of the blocks in t1 order */
} t1_colgroup;

typedef struct t1_acc {
    __m512d d, m; /* the integer-sum terms, the min terms (lanes: t1 order) */
} t1_acc;

static inline double sum_y(const qtk_block_q8_2 *y) {
    int16_t sy;
    memcpy(&sy, &y->sum, 2);
    return (double)sy;
}

/* The column side of blocks 0 … nv − 1 at y (nv ≤ 8; the missing ones zero). */
static inline void t1_colgroup_make(const qtk_block_q8_2 *y, int nv, t1_colgroup *c) {
    QTK_ALIGN(64) float dy[16];
    QTK_ALIGN(64) double sy[8];
    for (int k = 0; k < 8; k++) {
        const int blk = t1_order[k];
        dy[2 * k] = dy[2 * k + 1] = blk < nv ? fp16_load(&y[blk].d) : 0.0f;
        sy[k] = blk < nv ? sum_y(&y[blk]) : 0.0;
    }
    for (int j = 0; j < 4; j++)
        c->yy[j] = qtk_join256(2 * j < nv ? load32(y[2 * j].qs) : _mm256_setzero_si256(),
                               2 * j + 1 < nv ? load32(y[2 * j + 1].qs) : _mm256_setzero_si256());
    c->dy = _mm512_load_ps(dy);
    c->sy = _mm512_load_pd(sy);
}


/* The (d, m) halves of blocks 0 … nv − 1 at b (stride bs) as 8 words in t1 order. */
static inline __m256i t1_dm8(const uint8_t *b, size_t bs, int nv) {
    if (nv == 8) return _mm256_set_m128i(qtk_words4(b + bs, 2 * bs), qtk_words4(b, 2 * bs));
    QTK_ALIGN(32) uint32_t w[8];
    for (int k = 0; k < 8; k++) w[k] = t1_order[k] < nv ? qtk_rd32(b + (size_t)t1_order[k] * bs) : 0u;
    return _mm256_load_si256((const __m256i *)(const void *)w);
}

static inline void t1_zero(t1_acc *a) { a->d = a->m = _mm512_setzero_pd(); }

/* One group of 8 blocks of one (row, column): xu the 4 pairs' levels, dm their (d, m). */
QTK_FORCE_INLINE void t1_step8(const __m512i xu[4], __m256i dm, const t1_colgroup *c, int vnni, t1_acc *a) {
    __m512i p[4];
    for (int j = 0; j < 4; j++) p[j] = udot(xu[j], c->yy[j], vnni);
    const __m512i q = qtk_sums4x4_i32(p);     /* lane 4h + j: Σ of the lanes of 128-bit chunk h of p[j] */
    const __m512i t = _mm512_add_epi32(q, _mm512_shuffle_i64x2(q, q, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m256i S = _mm512_castsi512_si256(_mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(2, 0, 2, 0))); /* t1 order */
    const __m512 f = _mm512_mul_ps(_mm512_cvtph_ps(dm), c->dy); /* d·dy, m·dy of each block */
    const __m512d f0 = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
    const __m512d f1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)));
    const __m512d fd = _mm512_permutex2var_pd(f0, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), f1);
    const __m512d fm = _mm512_permutex2var_pd(f0, _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), f1);
    a->d = _mm512_fmadd_pd(_mm512_cvtepi32_pd(S), fd, a->d);
    a->m = _mm512_fmadd_pd(c->sy, fm, a->m);
}

static inline float t1_finish(const t1_acc *a) { return (float)_mm512_reduce_add_pd(_mm512_add_pd(a->d, a->m)); }

/* The levels of blocks i, i + 1 (lanes: low nibbles of block i, high nibbles, low of i + 1,
 * high), from one broadcast per block. */
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

/* The row side of the group of nv ≤ 8 blocks at x: the 4 pairs' levels (missing blocks zero). */
#define T1_LEVELS8(LEVELS, PAIR, x, nv, xu)                                                     \
    do {                                                                                               \
        if ((nv) == 8) {                                                                               \
            for (int j_ = 0; j_ < 4; j_++) (xu)[j_] = PAIR((x) + 2 * j_);                              \
        } else {                                                                                       \
            for (int j_ = 0; j_ < 4; j_++)                                                             \
                (xu)[j_] = 2 * j_ + 1 < (nv) ? PAIR((x) + 2 * j_)                                      \
                         : 2 * j_ < (nv)     ? _mm512_castsi256_si512(LEVELS((x) + 2 * j_))             \
                                             : _mm512_setzero_si512();                                 \
        }                                                                                              \
    } while (0)

#define TYPE1_DOT_AVX512(NAME, BLOCK, LEVELS, PAIR)                                                      \
    void NAME(int64_t n, float *s, const void *vx, const void *vy) {                                    \
        const BLOCK *x = (const BLOCK *)vx;                                                              \
        const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;                                            \
        const int vnni = qtk_cpu()->avx512vnni;                                                          \
        const int64_t nb = n / 32;                                                                       \
        t1_acc acc;                                                                                      \
        t1_zero(&acc);                                                                                   \
        for (int64_t i = 0; i < nb; i += 8) {                                                            \
            const int nv = nb - i >= 8 ? 8 : (int)(nb - i);                                              \
            t1_colgroup c;                                                                               \
            t1_colgroup_make(&y[i], nv, &c);                                                             \
            __m512i xu[4];                                                                               \
            T1_LEVELS8(LEVELS, PAIR, &x[i], nv, xu);                                              \
            t1_step8(xu, t1_dm8((const uint8_t *)&x[i], sizeof(BLOCK), nv), &c, vnni, &acc);             \
        }                                                                                                \
        *s = t1_finish(&acc);                                                                            \
    }

TYPE1_DOT_AVX512(qtk_q4_1_vec_dot_avx512, qtk_block_q4_1, levels_q4_1, pair_q4_1)
TYPE1_DOT_AVX512(qtk_q5_1_vec_dot_avx512, qtk_block_q5_1, levels_q5_1, pair_q5_1)

/* MXFP4 (qtk_mxfp4_vec_dot_avx512, the multi-column kernel) shares IQ4_NL's kernels in
 * iquants_avx512.c. */

/* ---- multi-column kernels (the mul_mat contract of qtk.h) ------------------
 *
 * Per (row, column) exactly vec_dot's t1_step8 sequence, so every output is
 * bit-identical to qtk_q4_1/q5_1_vec_dot_avx512 (test_dot checks it). The column
 * side (t1_colgroup) of a single column (generation) is made once per call for
 * rows up to QTK_TABLE_ROW_WEIGHTS weights (a stack table) and the rows go one after
 * the other: one weight stream from memory. (Four rows at a time, four streams, ran the
 * 1B model's generation at 0.6-0.7x the speed.) Four columns take tiles of 4 rows x 4
 * columns: a weight group unpacked once per tile, used against every column. */
#define T1_MAX_GROUPS (QTK_TABLE_ROW_WEIGHTS / 256)

#define TYPE1_MUL_MAT_AVX512(NAME, BLOCK, LEVELS, PAIR)                                                         \
    /* R rows × C columns over all groups; tab: the C columns' sides, ng groups each (or NULL). */          \
    QTK_FORCE_INLINE void NAME##_tile(const int R, const int C, int64_t nb, const uint8_t *w, size_t ws,   \
                                      const uint8_t *a, size_t as, const t1_colgroup *tab, float *out,      \
                                      size_t os, int vnni) {                                                \
        t1_acc acc[4][4];                                                                                   \
        for (int r = 0; r < R; r++)                                                                         \
            for (int c = 0; c < C; c++) t1_zero(&acc[r][c]);                                                \
        const int64_t ng = (nb + 7) / 8;                                                                    \
        for (int64_t g = 0; g < ng; g++) {                                                                  \
            const int64_t i = 8 * g;                                                                        \
            const int nv = nb - i >= 8 ? 8 : (int)(nb - i);                                                 \
            __m512i xu[4][4];                                                                               \
            __m256i dm[4];                                                                                  \
            for (int r = 0; r < R; r++) {                                                                   \
                const uint8_t *b = w + (size_t)r * ws + (size_t)i * sizeof(BLOCK);                          \
                qtk_prefetch_ahead(b, 8 * (int)sizeof(BLOCK));                                              \
                T1_LEVELS8(LEVELS, PAIR, (const BLOCK *)(const void *)b, nv, xu[r]);                 \
                dm[r] = t1_dm8(b, sizeof(BLOCK), nv);                                                       \
            }                                                                                               \
            for (int c = 0; c < C; c++) {                                                                   \
                t1_colgroup cg;                                                                             \
                const t1_colgroup *cc = &cg;                                                                \
                if (tab) cc = &tab[g];                                                                      \
                else t1_colgroup_make((const qtk_block_q8_2 *)(const void *)(a + (size_t)c * as) + i, nv, &cg); \
                for (int r = 0; r < R; r++) t1_step8(xu[r], dm[r], cc, vnni, &acc[r][c]);                   \
            }                                                                                               \
        }                                                                                                   \
        for (int r = 0; r < R; r++)                                                                         \
            for (int c = 0; c < C; c++) out[(size_t)c * os + (size_t)r] = t1_finish(&acc[r][c]);          \
    }                                                                                                       \
    void NAME(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,          \
              int64_t nr, int64_t nc) {                                                                     \
        const int64_t nb = n / 32, ng = (nb + 7) / 8;                                                       \
        const int vnni = qtk_cpu()->avx512vnni;                                                             \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                   \
        t1_colgroup tab[T1_MAX_GROUPS]; /* 48 KiB: one column's sides (4 columns make theirs per tile) */ \
        for (int64_t c = 0; c < nc;) {                                                                      \
            const int C = nc - c >= 4 ? 4 : 1;                                                              \
            const uint8_t *ac = ab + (size_t)c * as;                                                        \
            const t1_colgroup *tp = NULL;                                                                   \
            if (C == 1 && nr > 1 && ng <= T1_MAX_GROUPS) {                                                  \
                for (int64_t g = 0; g < ng; g++)                                                            \
                    t1_colgroup_make((const qtk_block_q8_2 *)(const void *)ac + 8 * g,                     \
                                     nb - 8 * g >= 8 ? 8 : (int)(nb - 8 * g), &tab[g]);                     \
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
