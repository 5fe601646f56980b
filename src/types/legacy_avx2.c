/*
 * legacy_avx2.c — AVX2 dot products of Q4_0/Q5_0/Q6_0/Q8_0 weights with Q8_0
 * activations. Integer sums are exact (no saturating 16-bit adds), so every
 * kernel equals legacy.c's scalar one up to float rounding of the per-block
 * scale products.
 *
 * Q4_0/Q5_0/Q6_0 keep their levels unsigned (q ∈ [0, 2·nmax)) and subtract
 * nmax·y afterwards: maddubs(q, y) pairs stay within ±2·63·128 < 2^15, which
 * also makes y = −128 safe (the sign trick would overflow there). Q8_0 takes
 * the sign trick only for activations without −128 (qtk_q8_0_vec_dot_avx2).
 */
#include "types_internal.h"
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

/* 16 packed bytes → 32 nibbles: low nibbles in lane 0 (weights 0..15), high in lane 1. */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(q, m), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m);
    return _mm256_set_m128i(hi, lo);
}

/* int32 lanes of Σ (xu − nmax)·y over one block; xu unsigned levels. */
static inline __m256i block_dot(__m256i xu, __m256i y, __m256i nmax8) {
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(xu, y), _mm256_maddubs_epi16(nmax8, y));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static inline __m256i load_y(const qtk_block_q8_0 *y) { return _mm256_loadu_si256((const __m256i *)(const void *)y->qs); }

/* ---- one kernel body for vec_dot and mul_mat ----------------------------------
 *
 * Per block: the weight levels (LEVELS), an exact int32 product with the
 * activation block (PAIR_DOT), one FMA with d_w·d_y; a horizontal sum at the
 * end. mul_mat (the multi-column contract of qtk.h) runs tiles of 4 weight
 * rows × 4 activation columns: each weight block is unpacked once per tile,
 * each activation block loaded once per tile, 16 independent accumulators.
 * Fewer than 4 columns run row by row (a 4 × 1 tile measured slower than
 * single rows for generation); one column over several rows through gemv1
 * (below), which repeats the 1 × 1 tile's operations per row. vec_dot is the
 * 1 × 1 tile, so the two are bit-identical by construction. */
static inline __m256i levels_q4_0(const qtk_block_q4_0 *b) { return unpack_nibbles(b->qs); }

static inline __m256i levels_q5_0(const qtk_block_q5_0 *b) {
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    h = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(unpack_nibbles(b->qs), h);
}

static inline __m256i levels_q6_0(const qtk_block_q6_0 *b) {
    long long qh;
    memcpy(&qh, b->qh, 8);
    const __m256i h = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(qh), _mm256_set_epi64x(6, 2, 4, 0)),
                                       _mm256_set1_epi8(3));
    return _mm256_or_si256(unpack_nibbles(b->qs), _mm256_slli_epi16(h, 4));
}

/* Q8_0 keeps its signed bytes (the products: pair_dot_sign / pair_dot_signed). */
static inline __m256i levels_q8_0(const qtk_block_q8_0 *b) { return _mm256_loadu_si256((const __m256i *)(const void *)b->qs); }

static inline __m256i pair_dot_unsigned(__m256i xu, __m256i y, __m256i nmax8) { return block_dot(xu, y, nmax8); }

/* Lane j = Σ of the products of bytes 4j..4j+3, exact for the full int8 range: both
 * sides sign-extended, the pair sums of each half added in pairs (hadd) and put back
 * in byte order (lanes 0,1,4,5 | 2,3,6,7 -> 0..7). */
static inline __m256i pair_dot_signed(__m256i xs, __m256i y, __m256i unused) {
    (void)unused;
    const __m256i x0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(xs)), x1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(xs, 1));
    const __m256i y0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(y)), y1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(y, 1));
    const __m256i h = _mm256_hadd_epi32(_mm256_madd_epi16(x0, y0), _mm256_madd_epi16(x1, y1));
    return _mm256_permute4x64_epi64(h, 0xD8);
}

/* The same lanes by the sign trick: maddubs(|x|, y·sign(x)). |x| <= 128 and, with no
 * y = −128, |y·sign(x)| <= 127, so a pair stays within 2·128·127 < 2^15. */
static inline __m256i pair_dot_sign(__m256i xs, __m256i y, __m256i unused) {
    (void)unused;
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(xs, xs), _mm256_sign_epi8(y, xs)),
                             _mm256_set1_epi16(1));
}

/* One column (generation) of the unsigned-level types: the column's nmax·y pair sums
 * (maddubs(nmax, y), the int16 block_dot subtracts) and block scales converted once per
 * call for all rows (rows up to GEMV1_MAX_BLOCKS blocks); per row the weight scales of
 * 8 blocks are converted and multiplied at once and spread by one permute. Per block
 * the same integer and float operations in the same order as tile(1, 1): bit-identical
 * to vec_dot. Zen 4, --isa avx2, in cache: Q4_0 ~11 -> ~16 GB/s. Rows up to 32768
 * weights (36 KiB of table): at 4096 the ffn_down rows of a 1B (5632) and an 8B (14336)
 * took the 1 × 1 tile, Q4_0 11 -> 14-15 GB/s and Q6_0 13 -> 16-18 in cache. */
#define GEMV1_MAX_BLOCKS (QTK_TABLE_ROW_WEIGHTS / 32)
typedef struct gemv1_act {
    __m256i nb16[GEMV1_MAX_BLOCKS];
    float dy[GEMV1_MAX_BLOCKS];
} gemv1_act;

#define LEGACY_KERNELS_AVX2(LINK, DOT, NAME, BLOCK, LEVELS, PAIR_DOT, NMAX, GEMV1)                                     \
    QTK_FORCE_INLINE void NAME##_tile(const int R, const int C, int64_t nb, const uint8_t *w, size_t ws,       \
                                 const uint8_t *a, size_t as, float *out, size_t os) {                    \
        const __m256i nmax8 = _mm256_set1_epi8(NMAX);                                                    \
        __m256 acc[4][4];                                                                                \
        for (int r = 0; r < R; r++)                                                                      \
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();                                 \
        for (int64_t i = 0; i < nb; i++) {                                                               \
            __m256i xu[4];                                                                               \
            float dx[4];                                                                                 \
            for (int r = 0; r < R; r++) {                                                                \
                const BLOCK *x = (const BLOCK *)(const void *)(w + (size_t)r * ws);                      \
                qtk_prefetch_ahead(&x[i], (int)sizeof(BLOCK));                                          \
                xu[r] = LEVELS(&x[i]);                                                                   \
                dx[r] = fp16_load(&x[i].d);                                                              \
            }                                                                                            \
            for (int c = 0; c < C; c++) {                                                                \
                const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)(a + (size_t)c * as);            \
                const __m256i yy = load_y(&y[i]);                                                        \
                const float dy = fp16_load(&y[i].d);                                                     \
                for (int r = 0; r < R; r++) {                                                            \
                    const __m256 d = _mm256_set1_ps(dx[r] * dy);                                         \
                    acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(PAIR_DOT(xu[r], yy, nmax8)), d, acc[r][c]); \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        for (int r = 0; r < R; r++)                                                                      \
            for (int c = 0; c < C; c++) out[(size_t)c * os + (size_t)r] = hsum_ps(acc[r][c]);            \
    }                                                                                                    \
    static void NAME##_gemv1(int64_t nb, const uint8_t *w, size_t ws, int64_t nr, const uint8_t *a,       \
                             gemv1_act *t, float *out) {                                                 \
        const __m256i nmax8 = _mm256_set1_epi8(NMAX), ones = _mm256_set1_epi16(1);                       \
        const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)a;                               \
        for (int64_t i = 0; i < nb; i++) {                                                               \
            t->nb16[i] = _mm256_maddubs_epi16(nmax8, load_y(&y[i]));                                     \
            t->dy[i] = fp16_load(&y[i].d);                                                               \
        }                                                                                                \
        for (int64_t r = 0; r < nr; r++) {                                                               \
            const BLOCK *x = (const BLOCK *)(const void *)(w + (size_t)r * ws);                          \
            __m256 acc = _mm256_setzero_ps();                                                            \
            int64_t i = 0;                                                                               \
            for (; i + 7 < nb; i += 8) {                                                                 \
                const __m256 dd = _mm256_mul_ps(qtk_fp16x8_load(&x[i].d, sizeof(BLOCK)), _mm256_loadu_ps(&t->dy[i])); \
                for (int k = 0; k < 8; k++) {                                                            \
                    qtk_prefetch_ahead(&x[i + k], (int)sizeof(BLOCK));                                   \
                    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(LEVELS(&x[i + k]), load_y(&y[i + k])), \
                                                       t->nb16[i + k]);                                  \
                    const __m256 d = _mm256_permutevar8x32_ps(dd, _mm256_set1_epi32(k));                 \
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), d, acc);       \
                }                                                                                        \
            }                                                                                            \
            for (; i < nb; i++) {                                                                        \
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(LEVELS(&x[i]), load_y(&y[i])), t->nb16[i]); \
                const __m256 d = _mm256_set1_ps(fp16_load(&x[i].d) * t->dy[i]);                          \
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), d, acc);           \
            }                                                                                            \
            out[r] = hsum_ps(acc);                                                                       \
        }                                                                                                \
    }                                                                                                    \
    LINK void NAME(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,   \
                   int64_t nr, int64_t nc) {                                                             \
        const int64_t nb = n / 32;                                                                       \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                \
        if (GEMV1 && nc == 1 && nr > 1 && nb <= GEMV1_MAX_BLOCKS) {                                      \
            gemv1_act t;                                                                                 \
            NAME##_gemv1(nb, wb, ws, nr, ab, &t, out);                                                   \
            return;                                                                                      \
        }                                                                                                \
        for (int64_t c = 0; c < nc;) {                                                                   \
            const int C = nc - c >= 4 ? 4 : 1;                                                           \
            for (int64_t r = 0; r < nr;) {                                                               \
                const int R = (C == 4 && nr - r >= 4) ? 4 : 1;                                          \
                const uint8_t *wr = wb + (size_t)r * ws, *ac = ab + (size_t)c * as;                      \
                float *o = out + (size_t)c * os + (size_t)r;                                             \
                if (R == 4 && C == 4) NAME##_tile(4, 4, nb, wr, ws, ac, as, o, os);                      \
                else if (R == 4) NAME##_tile(4, 1, nb, wr, ws, ac, as, o, os);                           \
                else if (C == 4) NAME##_tile(1, 4, nb, wr, ws, ac, as, o, os);                           \
                else NAME##_tile(1, 1, nb, wr, ws, ac, as, o, os);                                       \
                r += R;                                                                                  \
            }                                                                                            \
            c += C;                                                                                      \
        }                                                                                                \
    }                                                                                                    \
    LINK void DOT(int64_t n, float *s, const void *vx, const void *vy) {                                 \
        NAME##_tile(1, 1, n / 32, (const uint8_t *)vx, 0, (const uint8_t *)vy, 0, s, 0);                 \
    }

/* Q4_0/Q5_0/Q6_0 keep their levels unsigned and subtract nmax·y (see the top). */
LEGACY_KERNELS_AVX2(, qtk_q4_0_vec_dot_avx2, qtk_q4_0_mul_mat_avx2, qtk_block_q4_0, levels_q4_0, pair_dot_unsigned, 8, 1)
LEGACY_KERNELS_AVX2(, qtk_q5_0_vec_dot_avx2, qtk_q5_0_mul_mat_avx2, qtk_block_q5_0, levels_q5_0, pair_dot_unsigned, 16, 1)
LEGACY_KERNELS_AVX2(, qtk_q6_0_vec_dot_avx2, qtk_q6_0_mul_mat_avx2, qtk_block_q6_0, levels_q6_0, pair_dot_unsigned, 32, 1)

/* Q8_0 × Q8_0 twice: with the sign trick (maddubs(|x|, ±y): four operations per block
 * instead of seven, ~1.5x in cache) when no activation byte is −128 — the only value
 * that breaks it (−(−128) wraps), and one the activation quantizers never write — and
 * sign-extended otherwise. Both leave the same int32 lanes (4 consecutive products
 * each), so which one ran is invisible in the result: each call (vec_dot: its column;
 * mul_mat: all its columns) scans the activations once and picks. */
LEGACY_KERNELS_AVX2(static, q8_0_sign_vec_dot, q8_0_sign_mul_mat, qtk_block_q8_0, levels_q8_0, pair_dot_sign, 0, 0)
LEGACY_KERNELS_AVX2(static, q8_0_wide_vec_dot, q8_0_wide_mul_mat, qtk_block_q8_0, levels_q8_0, pair_dot_signed, 0, 0)

/* Whether any of the n-weight activation rows a, a + as, … (nc of them) holds −128. */
static int q8_0_has_min(const uint8_t *a, size_t as, int64_t n, int64_t nc) {
    const __m256i m = _mm256_set1_epi8((char)-128);
    __m256i any = _mm256_setzero_si256();
    for (int64_t c = 0; c < nc; c++) {
        const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)(a + (size_t)c * as);
        for (int64_t i = 0; i < n / 32; i++) any = _mm256_or_si256(any, _mm256_cmpeq_epi8(load_y(&y[i]), m));
    }
    return !_mm256_testz_si256(any, any);
}

void qtk_q8_0_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    if (q8_0_has_min((const uint8_t *)vy, 0, n, 1)) q8_0_wide_vec_dot(n, s, vx, vy);
    else q8_0_sign_vec_dot(n, s, vx, vy);
}

void qtk_q8_0_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                           int64_t nr, int64_t nc) {
    if (q8_0_has_min((const uint8_t *)a, as, n, nc)) q8_0_wide_mul_mat(n, w, ws, a, as, out, os, nr, nc);
    else q8_0_sign_mul_mat(n, w, ws, a, as, out, os, nr, nc);
}
