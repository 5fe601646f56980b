/*
 * legacy_avx512.c — AVX-512 dot products of Q4_0/Q5_0/Q6_0/Q8_0 weights with
 * Q8_0 activations, two 32-blocks per 512-bit register. Uses VNNI (vpdpbusd)
 * when the CPU has it, else AVX512BW maddubs/madd; both are exact integer
 * sums, so results equal the scalar kernels up to float rounding of the
 * per-block scale products.
 *
 * Levels stay unsigned (q ∈ [0, 2·nmax); Q8_0 weights are biased by +128) and
 * the bias·Σy term is subtracted, which is exact for the whole int8 range of y.
 */
#include "types_internal.h"
#include "simd_x86.h"

#include <immintrin.h>

static inline float fp16_load(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* 16 packed bytes → 32 nibbles: low nibbles first (weights 0..15), then high. */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

static inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __m256i load32(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

/* int32 lanes of Σ (xu − bias)·y; xu unsigned bytes, y signed, bias8 = bias in every byte. */
static inline __m512i dot_u8(__m512i xu, __m512i y, __m512i bias8, int vnni) {
    if (vnni) {
        const __m512i z = _mm512_setzero_si512();
        return _mm512_sub_epi32(_mm512_dpbusd_epi32(z, xu, y), _mm512_dpbusd_epi32(z, bias8, y));
    }
    /* maddubs pairs stay below 2^15 only for xu ≤ 127: true for Q4_0..Q6_0 */
    const __m512i p = _mm512_sub_epi16(_mm512_maddubs_epi16(xu, y), _mm512_maddubs_epi16(bias8, y));
    return _mm512_madd_epi16(p, _mm512_set1_epi16(1));
}

/* Scales of the two blocks: lanes 0..7 get a, lanes 8..15 get b. */
static inline __m512 scales2(float a, float b) {
    return _mm512_mask_mov_ps(_mm512_set1_ps(a), (__mmask16)0xFF00, _mm512_set1_ps(b));
}

/* Levels (unsigned, 32 bytes) of one block of each weight type. */
static inline __m256i levels_q4_0(const qtk_block_q4_0 *b) { return unpack_nibbles(b->qs); }

static inline __m256i levels_q5_0(const qtk_block_q5_0 *b) {
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    const __m256i h = _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(0x10));
    return _mm256_or_si256(unpack_nibbles(b->qs), h);
}

static inline __m256i levels_q6_0(const qtk_block_q6_0 *b) {
    /* weights 0-7, 8-15, 16-23, 24-31 take bits 0-1, 4-5, 2-3, 6-7 of qh[j%8] */
    long long qh;
    memcpy(&qh, b->qh, 8);
    const __m256i h = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(qh), _mm256_set_epi64x(6, 2, 4, 0)),
                                       _mm256_set1_epi8(3));
    return _mm256_or_si256(unpack_nibbles(b->qs), _mm256_slli_epi16(h, 4));
}

/* One kernel body per weight type; LEVELS(ptr) yields the block's unsigned levels. */
#define LEGACY_DOT_AVX512(NAME, BLOCK, LEVELS, BIAS)                                                   \
    void NAME(int64_t n, float *s, const void *vx, const void *vy) {                                \
        const BLOCK *x = (const BLOCK *)vx;                                                          \
        const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;                                                \
        const int vnni = qtk_cpu()->avx512vnni;                                                      \
        const __m512i bias8 = _mm512_set1_epi8(BIAS);                                                \
        const int64_t nb = n / 32;                                                                   \
        __m512 acc = _mm512_setzero_ps();                                                            \
        int64_t i = 0;                                                                               \
        for (; i + 1 < nb; i += 2) {                                                                 \
            const __m512i xu = join(LEVELS(&x[i]), LEVELS(&x[i + 1]));                               \
            const __m512i yy = join(load32(y[i].qs), load32(y[i + 1].qs));                           \
            const __m512 d = scales2(fp16_load(&x[i].d) * fp16_load(&y[i].d),                        \
                                     fp16_load(&x[i + 1].d) * fp16_load(&y[i + 1].d));               \
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_u8(xu, yy, bias8, vnni)), d, acc);          \
        }                                                                                            \
        if (i < nb) { /* odd block count: upper half zero */                                        \
            const __m512i xu = _mm512_castsi256_si512(LEVELS(&x[i]));                                \
            const __m512i yy = join(load32(y[i].qs), _mm256_setzero_si256());                        \
            const __m512 d = scales2(fp16_load(&x[i].d) * fp16_load(&y[i].d), 0.0f);                 \
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_u8(xu, yy, bias8, vnni)), d, acc);          \
        }                                                                                            \
        *s = _mm512_reduce_add_ps(acc);                                                              \
    }

LEGACY_DOT_AVX512(qtk_q4_0_vec_dot_avx512, qtk_block_q4_0, levels_q4_0, 8)
LEGACY_DOT_AVX512(qtk_q5_0_vec_dot_avx512, qtk_block_q5_0, levels_q5_0, 16)
LEGACY_DOT_AVX512(qtk_q6_0_vec_dot_avx512, qtk_block_q6_0, levels_q6_0, 32)

/* Q8_0 weights are signed: with VNNI bias them by +128 (exact in dpbusd's
 * 32-bit sums); without it sign-extend to 16 bits, since maddubs of biased
 * bytes up to 255 could saturate. */
void qtk_q8_0_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q8_0 *x = (const qtk_block_q8_0 *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const int vnni = qtk_cpu()->avx512vnni;
    const __m512i b128 = _mm512_set1_epi8((char)0x80);
    const int64_t nb = n / 32;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        const int two = i + 1 < nb;
        const __m256i x1 = two ? load32(x[i + 1].qs) : _mm256_setzero_si256();
        const __m256i y1 = two ? load32(y[i + 1].qs) : _mm256_setzero_si256();
        const __m512i xx = join(load32(x[i].qs), x1), yy = join(load32(y[i].qs), y1);
        __m512i p;
        if (vnni) {
            const __m512i z = _mm512_setzero_si512();
            p = _mm512_sub_epi32(_mm512_dpbusd_epi32(z, _mm512_xor_si512(xx, b128), yy),
                                 _mm512_dpbusd_epi32(z, b128, yy));
        } else {
            const __m512i xl = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(xx));
            const __m512i xh = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(xx, 1));
            const __m512i yl = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(yy));
            const __m512i yh = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(yy, 1));
            /* madd of 16-bit pairs; lanes 0..7 of pl/ph come from block i, 8..15 from i+1 */
            const __m512i pl = _mm512_madd_epi16(xl, yl), ph = _mm512_madd_epi16(xh, yh);
            /* regroup so lanes 0..7 hold block i and 8..15 block i+1 */
            p = _mm512_add_epi32(_mm512_shuffle_i64x2(pl, ph, 0x44), _mm512_shuffle_i64x2(pl, ph, 0xEE));
        }
        const float d1 = two ? fp16_load(&x[i + 1].d) * fp16_load(&y[i + 1].d) : 0.0f;
        const __m512 d = scales2(fp16_load(&x[i].d) * fp16_load(&y[i].d), d1);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* ---- multi-column kernels (the mul_mat contract of qtk.h) ------------------
 *
 * Tiles of 4 weight rows × 4 activation columns: a weight block is unpacked
 * once per tile and used against every column, an activation block once and
 * used against every row, and 16 independent accumulators keep the FMA units
 * busy. Fewer than 4 columns run row by row: a 4-row × 1-column tile measured
 * slower than single rows for generation (Q8_0 1B model, 1 thread: 12 vs
 * 18 tokens/s). Per (row, column) the arithmetic is exactly vec_dot's above —
 * same block pairs, same integer sums, same scale products, same FMA order,
 * same final reduction — so every output is bit-identical to the vec_dot
 * kernel of this level (test_dot checks it), and a batch gives the numbers
 * token-by-token decoding gives. */
/* Q8_0 weights as unsigned levels: biased by +128 (used with VNNI only). */
static inline __m256i levels_q8_0(const qtk_block_q8_0 *b) {
    return _mm256_xor_si256(load32(b->qs), _mm256_set1_epi8((char)0x80));
}

/* Lanes 0..7 = float 2k, lanes 8..15 = float 2k + 1 (the scales of pair k). */
static inline __m512i pair_idx(int k) {
    return _mm512_mask_mov_epi32(_mm512_set1_epi32(2 * k), (__mmask16)0xFF00, _mm512_set1_epi32(2 * k + 1));
}

/* The activation column of a one-column product, converted once per call: block pairs as
 * in the tile, the negated Σ bias·y of each pair (dpbusd then starts from it: the same
 * int32 as dot_u8's difference) and the block scales as floats. Rows up to 32768 weights
 * (68 KiB of table, as the KS types' stack tables; longer rows take the tiles). Q4_0/
 * Q5_0/Q6_0 1B models, generation: +10-40 % tokens/s over the 1 × 1 tile. While the
 * table stopped at 4096 weights the 1B's ffn_down rows (5632) and an 8B's (14336) took
 * the tiles: one Zen 4 thread in cache, 14336-weight rows, Q4_0 17 -> 31 GB/s, Q6_0
 * 18 -> 37, Q8_0 38 -> 54.
 * The weight scales of 8 blocks are converted and multiplied at once, then spread per
 * pair by one permute: the same products in the same order as two scalar conversions
 * per pair, which had held Q4_0 at ~18 GB/s in cache. */
#define GEMV1_MAX_PAIRS (QTK_TABLE_ROW_WEIGHTS / 64)
typedef struct gemv1_act {
    __m512i yy[GEMV1_MAX_PAIRS];
    __m512i nbias[GEMV1_MAX_PAIRS];
    float dy[2 * GEMV1_MAX_PAIRS];
} gemv1_act;

/* ---- one column, 8 blocks per step (gemv1's main loop) ------------------------
 * Q4_0/Q5_0/Q6_0 blocks are 18, 22 and 26 bytes: their fields sit at even offsets,
 * and 4 blocks span at most 104 bytes. A group of 4 blocks is read as a window of
 * two registers (qtk_window4_load); one vpermt2w per block pair puts [qs a, qs a,
 * qs b, qs b] in a register, a word shift by 0 / 4 per 128-bit lane and a mask turn
 * that into the nibbles in the order LEVELS gives ([weights 0..31 of a, of b]), and
 * one more vpermt2w takes the group's 4 scales. Per pair that is 3 operations where
 * two 16-byte loads, their nibble splits and three inserts took 11, and the scales
 * take 2 permutes instead of 8 scalar loads. One Zen 4 thread, rows of 2048, in
 * cache: Q4_0 +30 %, Q5_0 +20 %, Q6_0 +50 %. The bytes, integer sums and float steps
 * are those of LEVELS and qtk_fp16x8_load: the same bits. Q8_0 (34-byte blocks)
 * keeps its plain loads. */
typedef struct group_ctl {
    __m512i qs[2];  /* vpermt2w controls of the pairs' qs: [a, a, b, b] */
    __m512i qh[2];  /* Q6_0: the 8 qh bytes of a in qwords 0-3, of b in 4-7 */
    __m512i d;      /* the 4 scales in words 0..3 */
    __m512i sh4;    /* word shifts: 0 in 128-bit lanes 0, 2; 4 in lanes 1, 3 */
    __m512i sh6;    /* Q6_0 qword shifts: the high bits of weights 0-7, 8-15, 16-23, 24-31 */
    __m512i m4, m30;
    int bs;
} group_ctl;

static void group_ctl_init(int bs, int qh_off, int qs_off, group_ctl *g) {
    memset(g, 0, sizeof *g);
    g->bs = bs;
    if (4 * bs > 128) return; /* Q8_0: not read through groups */
    uint16_t idx[32];
    for (int k = 0; k < 2; k++) {
        for (int w = 0; w < 32; w++) idx[w] = (uint16_t)(((2 * k + w / 16) * bs + qs_off) / 2 + w % 8);
        g->qs[k] = _mm512_loadu_si512((const void *)idx);
        for (int w = 0; w < 32; w++) idx[w] = (uint16_t)(((2 * k + w / 16) * bs + qh_off) / 2 + w % 4);
        g->qh[k] = _mm512_loadu_si512((const void *)idx);
    }
    for (int w = 0; w < 32; w++) idx[w] = (uint16_t)(w < 4 ? w * bs / 2 : 0);
    g->d = _mm512_loadu_si512((const void *)idx);
    for (int w = 0; w < 32; w++) idx[w] = (uint16_t)((w / 8) % 2 ? 4 : 0);
    g->sh4 = _mm512_loadu_si512((const void *)idx);
    g->sh6 = _mm512_setr_epi64(0, 4, 2, 6, 0, 4, 2, 6);
    g->m4 = _mm512_set1_epi8(0x0F);
    g->m30 = _mm512_set1_epi8(0x30);
}

/* Nibbles of pair k of the group (A, B): [lo a, hi a, lo b, hi b]. */
QTK_FORCE_INLINE __m512i group_nibbles(__m512i A, __m512i B, int k, const group_ctl *g) {
    return _mm512_and_si512(_mm512_srlv_epi16(_mm512_permutex2var_epi16(A, g->qs[k], B), g->sh4), g->m4);
}

QTK_FORCE_INLINE __m512i gpair_q4_0(__m512i A, __m512i B, int k, const uint8_t *pa, const group_ctl *g) {
    (void)pa;
    return group_nibbles(A, B, k, g);
}

/* qh bit j of a block is bit 4 of its weight j: byte j of a's half, 32 + j of b's. */
QTK_FORCE_INLINE __m512i gpair_q5_0(__m512i A, __m512i B, int k, const uint8_t *pa, const group_ctl *g) {
    const __m512i n = group_nibbles(A, B, k, g);
    const uint64_t m = qtk_rd32(pa + 2) | (uint64_t)qtk_rd32(pa + g->bs + 2) << 32;
    return _mm512_mask_add_epi8(n, (__mmask64)m, n, _mm512_set1_epi8(0x10));
}

/* levels_q6_0's bit pairs, qword q of each block shifted by sh6[q]. */
QTK_FORCE_INLINE __m512i gpair_q6_0(__m512i A, __m512i B, int k, const uint8_t *pa, const group_ctl *g) {
    (void)pa;
    const __m512i h = _mm512_srlv_epi64(_mm512_permutex2var_epi16(A, g->qh[k], B), g->sh6);
    return _mm512_ternarylogic_epi32(group_nibbles(A, B, k, g), _mm512_slli_epi64(h, 4), g->m30, 0xF8);
}

/* Blocks 0..7 from x: the levels of the 4 pairs and the 8 weight scales. */
#define GROUP_QUAD(T)                                                                                      \
    QTK_FORCE_INLINE __m256 quad_##T(const uint8_t *x, const group_ctl *g, __m512i xu[4]) {                \
        __m128i d[2];                                                                                      \
        for (int h = 0; h < 2; h++) {                                                                      \
            const uint8_t *gb = x + (size_t)(4 * h) * (size_t)g->bs;                                       \
            __m512i A, B;                                                                                  \
            qtk_window4_load(gb, g->bs, &A, &B);                                                           \
            d[h] = _mm512_castsi512_si128(_mm512_permutex2var_epi16(A, g->d, B));                          \
            for (int k = 0; k < 2; k++) xu[2 * h + k] = gpair_##T(A, B, k, gb + (size_t)(2 * k) * (size_t)g->bs, g); \
        }                                                                                                  \
        return _mm256_cvtph_ps(_mm_unpacklo_epi64(d[0], d[1]));                                            \
    }
GROUP_QUAD(q4_0)
GROUP_QUAD(q5_0)
GROUP_QUAD(q6_0)

/* Q8_0: plain loads (LEVELS) and qtk_fp16x8_load. */
QTK_FORCE_INLINE __m256 quad_q8_0(const uint8_t *x, const group_ctl *g, __m512i xu[4]) {
    (void)g;
    const qtk_block_q8_0 *b = (const qtk_block_q8_0 *)(const void *)x;
    for (int k = 0; k < 4; k++) xu[k] = join(levels_q8_0(&b[2 * k]), levels_q8_0(&b[2 * k + 1]));
    return qtk_fp16x8_load(&b[0].d, sizeof *b);
}

#define LEGACY_MUL_MAT_AVX512(NAME, BLOCK, LEVELS, BIAS, GEMV1, QUAD, QH_OFF, QS_OFF)                                                  \
    QTK_FORCE_INLINE void NAME##_tile(const int R, const int C, int64_t nb, const uint8_t *w, size_t ws,       \
                                 const uint8_t *a, size_t as, float *out, size_t os, int vnni) {          \
        const __m512i bias8 = _mm512_set1_epi8((char)(BIAS));                                            \
        __m512 acc[4][4];                                                                                \
        for (int r = 0; r < R; r++)                                                                      \
            for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();                                 \
        int64_t i = 0;                                                                                   \
        for (; i + 1 < nb; i += 2) {                                                                     \
            __m512i xu[4];                                                                               \
            float dx0[4], dx1[4];                                                                        \
            for (int r = 0; r < R; r++) {                                                                \
                const BLOCK *x = (const BLOCK *)(const void *)(w + (size_t)r * ws);                      \
                qtk_prefetch_ahead(&x[i], 2 * (int)sizeof(BLOCK));                                       \
                xu[r] = join(LEVELS(&x[i]), LEVELS(&x[i + 1]));                                          \
                dx0[r] = fp16_load(&x[i].d);                                                             \
                dx1[r] = fp16_load(&x[i + 1].d);                                                         \
            }                                                                                            \
            for (int c = 0; c < C; c++) {                                                                \
                const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)(a + (size_t)c * as);            \
                const __m512i yy = join(load32(y[i].qs), load32(y[i + 1].qs));                           \
                const float dy0 = fp16_load(&y[i].d), dy1 = fp16_load(&y[i + 1].d);                      \
                for (int r = 0; r < R; r++) {                                                            \
                    const __m512 d = scales2(dx0[r] * dy0, dx1[r] * dy1);                                \
                    acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_u8(xu[r], yy, bias8, vnni)), d,   \
                                                acc[r][c]);                                              \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        if (i < nb) { /* odd block count: upper half zero, as vec_dot */                                 \
            for (int r = 0; r < R; r++) {                                                                \
                const BLOCK *x = (const BLOCK *)(const void *)(w + (size_t)r * ws);                      \
                const __m512i xu = _mm512_castsi256_si512(LEVELS(&x[i]));                                \
                const float dx = fp16_load(&x[i].d);                                                     \
                for (int c = 0; c < C; c++) {                                                            \
                    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)(a + (size_t)c * as);        \
                    const __m512i yy = join(load32(y[i].qs), _mm256_setzero_si256());                    \
                    const __m512 d = scales2(dx * fp16_load(&y[i].d), 0.0f);                             \
                    acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_u8(xu, yy, bias8, vnni)), d,      \
                                                acc[r][c]);                                              \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        for (int r = 0; r < R; r++)                                                                      \
            for (int c = 0; c < C; c++) out[(size_t)c * os + (size_t)r] = _mm512_reduce_add_ps(acc[r][c]); \
    }                                                                                                    \
    /* One column (generation) with VNNI: the column's block pairs, scales and bias sums   \
     * converted once into gemv1_act for all rows; per row the arithmetic is tile(1, 1)'s.  */ \
    static void NAME##_gemv1(int64_t nb, const uint8_t *w, size_t ws, int64_t nr, const uint8_t *a,       \
                             float *out, gemv1_act *t) {                                                 \
        const __m512i bias8 = _mm512_set1_epi8((char)(BIAS));                                            \
        const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)a;                               \
        const int64_t np = nb / 2;                                                                       \
        group_ctl g;                                                                                     \
        group_ctl_init((int)sizeof(BLOCK), QH_OFF, QS_OFF, &g);                                          \
        for (int64_t p = 0; p < np; p++) {                                                               \
            const __m512i yy = join(load32(y[2 * p].qs), load32(y[2 * p + 1].qs));                       \
            t->yy[p] = yy;                                                                               \
            t->nbias[p] = _mm512_sub_epi32(_mm512_setzero_si512(),                                       \
                                           _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias8, yy));      \
            t->dy[2 * p] = fp16_load(&y[2 * p].d);                                                       \
            t->dy[2 * p + 1] = fp16_load(&y[2 * p + 1].d);                                               \
        }                                                                                                \
        for (int64_t r = 0; r < nr; r++) {                                                               \
            const BLOCK *x = (const BLOCK *)(const void *)(w + (size_t)r * ws);                          \
            __m512 acc = _mm512_setzero_ps();                                                            \
            int64_t p = 0;                                                                               \
            for (; p + 3 < np; p += 4) { /* 8 blocks: their scales in one register */                    \
                qtk_prefetch_ahead(&x[2 * p], 8 * (int)sizeof(BLOCK));                                   \
                __m512i xu[4];                                                                           \
                const __m512 dd = _mm512_castps256_ps512(                                                \
                    _mm256_mul_ps(QUAD((const uint8_t *)&x[2 * p], &g, xu), _mm256_loadu_ps(&t->dy[2 * p]))); \
                for (int k = 0; k < 4; k++) {                                                            \
                    const __m512 d = _mm512_permutexvar_ps(pair_idx(k), dd);                             \
                    acc = _mm512_fmadd_ps(                                                               \
                        _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(t->nbias[p + k], xu[k], t->yy[p + k])), d, acc); \
                }                                                                                        \
            }                                                                                            \
            for (; p < np; p++) {                                                                        \
                qtk_prefetch_ahead(&x[2 * p], 2 * (int)sizeof(BLOCK));                                   \
                const __m512i xu = join(LEVELS(&x[2 * p]), LEVELS(&x[2 * p + 1]));                       \
                const __m512 d = scales2(fp16_load(&x[2 * p].d) * t->dy[2 * p],                          \
                                         fp16_load(&x[2 * p + 1].d) * t->dy[2 * p + 1]);                 \
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(t->nbias[p], xu, t->yy[p])), d, \
                                      acc);                                                              \
            }                                                                                            \
            if (nb & 1) { /* odd block count: upper half zero, as vec_dot */                             \
                const int64_t i = nb - 1;                                                                \
                const __m512i xu = _mm512_castsi256_si512(LEVELS(&x[i]));                                \
                const __m512i yy = join(load32(y[i].qs), _mm256_setzero_si256());                        \
                const __m512 d = scales2(fp16_load(&x[i].d) * fp16_load(&y[i].d), 0.0f);                 \
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_u8(xu, yy, bias8, 1)), d, acc);             \
            }                                                                                            \
            out[r] = _mm512_reduce_add_ps(acc);                                                          \
        }                                                                                                \
    }                                                                                                    \
    void NAME(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,        \
              int64_t nr, int64_t nc) {                                                                  \
        const int64_t nb = n / 32;                                                                       \
        const int vnni = qtk_cpu()->avx512vnni;                                                          \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                \
        if (GEMV1 && nc == 1 && nr > 1 && vnni && nb <= 2 * GEMV1_MAX_PAIRS) {                                    \
            gemv1_act t;                                                                                 \
            NAME##_gemv1(nb, wb, ws, nr, ab, out, &t);                                                   \
            return;                                                                                      \
        }                                                                                                \
        for (int64_t c = 0; c < nc;) {                                                                   \
            const int C = nc - c >= 4 ? 4 : 1;                                                           \
            for (int64_t r = 0; r < nr;) {                                                               \
                const int R = (C == 4 && nr - r >= 4) ? 4 : 1;                                          \
                const uint8_t *wr = wb + (size_t)r * ws, *ac = ab + (size_t)c * as;                      \
                float *o = out + (size_t)c * os + (size_t)r;                                             \
                if (R == 4 && C == 4) NAME##_tile(4, 4, nb, wr, ws, ac, as, o, os, vnni);                \
                else if (R == 4) NAME##_tile(4, 1, nb, wr, ws, ac, as, o, os, vnni);                     \
                else if (C == 4) NAME##_tile(1, 4, nb, wr, ws, ac, as, o, os, vnni);                     \
                else NAME##_tile(1, 1, nb, wr, ws, ac, as, o, os, vnni);                                 \
                r += R;                                                                                  \
            }                                                                                            \
            c += C;                                                                                      \
        }                                                                                                \
    }

LEGACY_MUL_MAT_AVX512(qtk_q4_0_mul_mat_avx512, qtk_block_q4_0, levels_q4_0, 8, 1, quad_q4_0, 0, 2)
LEGACY_MUL_MAT_AVX512(qtk_q5_0_mul_mat_avx512, qtk_block_q5_0, levels_q5_0, 16, 1, quad_q5_0, 2, 6)
LEGACY_MUL_MAT_AVX512(qtk_q6_0_mul_mat_avx512, qtk_block_q6_0, levels_q6_0, 32, 1, quad_q6_0, 2, 10)
/* The AVX-512 level requires VNNI (qtk_isa_available), the path vec_dot takes
 * for Q8_0 there; the +128 bias is exact in vpdpbusd's 32-bit sums. */
/* Q8_0 takes the column table for one column too: on Zen 4 it measured no faster
 * than the 1 x 1 tiles (1B model), on a Xeon its prefetching doubled the speed of
 * a matrix streamed from memory (6.2 -> 13-14 GB/s, 1 thread; simd_x86.h). The tiles
 * prefetch as well: rows longer than the table take them (the 1B's ffn_down rows,
 * 5632 weights, did while the table ended at 4096), and without it 1B Q8_0 generation
 * stayed at 0.7 of the read bandwidth on that Xeon (0.88-0.91 with it). */
LEGACY_MUL_MAT_AVX512(qtk_q8_0_mul_mat_avx512, qtk_block_q8_0, levels_q8_0, 0x80, 1, quad_q8_0, 0, 2)
