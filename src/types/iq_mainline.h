/*
 * iq_mainline.h — the mainline lattice i-quants IQ2_XXS, IQ2_XS, IQ2_S,
 * IQ3_XXS, IQ3_S, IQ1_S, IQ1_M (FORMATS-MAINLINE-IQ.md §2–§8): decoding
 * and dot products in iq_mainline.c (+ _avx2/_avx512/_neon.c), quantizers in
 * iq_mainline_quant.c, tables in the generated iq_grids.c.
 *
 * Every weight of these types is an exact product
 *     w[i] = d · m[i/16] · q[i] · F
 * of the fp16 super-block scale d, an odd integer sub-block multiplier
 * m = 2·ls+1 (≤ 31, per 16 or per 32 weights), a signed int8 q and a
 * power-of-two type factor F (FORMATS-MAINLINE-IQ §0.1):
 *   IQ2_*   q = ±grid byte (8, 25, 43)          F = 1/8
 *   IQ3_XXS q = ±grid byte (4 … 62)             F = 1/4
 *   IQ3_S   q = ±grid byte (1 … 15)             F = 1
 *   IQ1_*   q = 8·grid ± 1 (grid −1, 0, +1)     F = 1/8   (the ±1 is δ = ±0.125)
 * The helpers below give the 8 values q of octet G (weights 8G … 8G+7) as
 * one little-endian 64-bit word (byte k = weight 8G+k) and the multipliers;
 * decoding and the scalar dot product use them, and the SIMD kernels read the
 * same grids and fields (loading the entries into vector lanes), so all form
 * the same exact integer sums (test_iq_mainline compares them bit for bit).
 */
#ifndef QTK_IQ_MAINLINE_H
#define QTK_IQ_MAINLINE_H

#include "types_internal.h"
#include "iq_grids.h"

#define IQ2XXS_BYTES 66
#define IQ2XS_BYTES 74
#define IQ2S_BYTES 82
#define IQ3XXS_BYTES 98
#define IQ3S_BYTES 110
#define IQ1S_BYTES 50
#define IQ1M_BYTES 56

static inline uint16_t iqm_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint32_t iqm_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Negates the bytes of g (all in 1..127) selected by mask bytes 0xFF; no
 * carries cross bytes since (g ^ 0xFF) + 1 ≤ 0xFF. */
static inline uint64_t iqm_apply_signs(uint64_t g, uint64_t mask) {
    return (g ^ mask) + (mask & 0x0101010101010101ull);
}

/* Bytewise a + b mod 256 without carries between bytes. */
static inline uint64_t iqm_add8(uint64_t a, uint64_t b) {
    const uint64_t L = 0x7F7F7F7F7F7F7F7Full, H = 0x8080808080808080ull;
    return ((a & L) + (b & L)) ^ ((a ^ b) & H);
}

/* IQ1: bytes 8·g ± 1 from grid bytes g ∈ {−1, 0, +1}. */
static inline uint64_t iqm_iq1_word(uint64_t g, int neg) {
    const uint64_t g8 = (g << 3) & 0xF8F8F8F8F8F8F8F8ull;  /* bits spilled from the byte below masked off */
    return iqm_add8(g8, neg ? 0xFFFFFFFFFFFFFFFFull : 0x0101010101010101ull);
}

/* ---- IQ2_XXS: 66 bytes, multiplier per 32 ---- */
static inline uint64_t iq2xxs_word(const uint8_t *b, int G) {
    const uint8_t *r = b + 2 + 8 * (G >> 2);
    const uint32_t a = iqm_u32(r + 4);
    return iqm_apply_signs(qtk_iq2xxs_grid[r[G & 3]], qtk_iq2_signs64[(a >> (7 * (G & 3))) & 127]);
}
static inline int iq2xxs_mul32(const uint8_t *b, int ib) { return 2 * (int)(iqm_u32(b + 2 + 8 * ib + 4) >> 28) + 1; }

/* ---- IQ2_XS: 74 bytes, multiplier per 16 ---- */
static inline uint64_t iq2xs_word(const uint8_t *b, int G) {
    const unsigned q = iqm_u16(b + 2 + 2 * G);
    return iqm_apply_signs(qtk_iq2xs_grid[q & 511], qtk_iq2_signs64[q >> 9]);
}
static inline int iq2xs_mul16(const uint8_t *b, int B) { return 2 * ((b[66 + B / 2] >> 4 * (B & 1)) & 15) + 1; }

/* ---- IQ2_S: 82 bytes, multiplier per 16 ---- */
static inline uint64_t iq2s_word(const uint8_t *b, int G) {
    const unsigned n = b[2 + G] | (((unsigned)(b[66 + G / 4] >> 2 * (G & 3)) & 3) << 8);
    return iqm_apply_signs(qtk_iq2s_grid[n], qtk_sign_bytes64[b[34 + G]]);
}
static inline int iq2s_mul16(const uint8_t *b, int B) { return 2 * ((b[74 + B / 2] >> 4 * (B & 1)) & 15) + 1; }

/* ---- IQ3_XXS: 98 bytes, multiplier per 32 ---- */
static inline uint64_t iq3xxs_word(const uint8_t *b, int G) {
    const uint32_t a = iqm_u32(b + 66 + 4 * (G >> 2));
    const uint64_t g = qtk_iq3xxs_grid[b[2 + 2 * G]] | ((uint64_t)qtk_iq3xxs_grid[b[3 + 2 * G]] << 32);
    return iqm_apply_signs(g, qtk_iq2_signs64[(a >> (7 * (G & 3))) & 127]);
}
static inline int iq3xxs_mul32(const uint8_t *b, int ib) { return 2 * (int)(iqm_u32(b + 66 + 4 * ib) >> 28) + 1; }

/* ---- IQ3_S: 110 bytes, multiplier per 32 ---- */
static inline uint64_t iq3s_word(const uint8_t *b, int G) {
    const unsigned qh = b[66 + G / 4] >> 2 * (G & 3);
    const unsigned n0 = b[2 + 2 * G] | ((qh & 1) << 8), n1 = b[3 + 2 * G] | (((qh >> 1) & 1) << 8);
    const uint64_t g = qtk_iq3s_grid[n0] | ((uint64_t)qtk_iq3s_grid[n1] << 32);
    return iqm_apply_signs(g, qtk_sign_bytes64[b[74 + G]]);
}
static inline int iq3s_mul32(const uint8_t *b, int ib) { return 2 * ((b[106 + ib / 2] >> 4 * (ib & 1)) & 15) + 1; }

/* ---- IQ1_S: 50 bytes, multiplier per 32 ---- */
static inline uint64_t iq1s_word(const uint8_t *b, int G) {
    const unsigned h = iqm_u16(b + 34 + 2 * (G >> 2));
    const unsigned n = b[2 + G] | (((h >> 3 * (G & 3)) & 7) << 8);
    return iqm_iq1_word(qtk_iq1s_grid[n], (h & 0x8000) != 0);
}
static inline int iq1s_mul32(const uint8_t *b, int ib) { return 2 * ((iqm_u16(b + 34 + 2 * ib) >> 12) & 7) + 1; }

/* ---- IQ1_M: 56 bytes, multiplier per 16, d split over the scale words ---- */
static inline uint64_t iq1m_word(const uint8_t *b, int G) {
    const unsigned hb = b[32 + G / 2] >> 4 * (G & 1);
    const unsigned n = b[G] | ((hb & 7) << 8);
    return iqm_iq1_word(qtk_iq1s_grid[n], (hb & 8) != 0);
}
static inline int iq1m_mul16(const uint8_t *b, int B) { return 2 * ((iqm_u16(b + 48 + 2 * (B / 4)) >> 3 * (B & 3)) & 7) + 1; }
static inline uint16_t iq1m_d_bits(const uint8_t *b) {
    return (uint16_t)((iqm_u16(b + 48) >> 12) | ((iqm_u16(b + 50) >> 12) << 4) | ((iqm_u16(b + 52) >> 12) << 8) |
                      ((iqm_u16(b + 54) >> 12) << 12));
}

/* d bits of the per-type blocks (IQ1_M keeps it in four scale nibbles). */
static inline uint16_t iqm_d_fp16(const uint8_t *b) { return iqm_u16(b); }

/* Multiplier of 16-group B for the per-32 types. */
static inline int iq2xxs_mul16(const uint8_t *b, int B) { return iq2xxs_mul32(b, B >> 1); }
static inline int iq3xxs_mul16(const uint8_t *b, int B) { return iq3xxs_mul32(b, B >> 1); }
static inline int iq3s_mul16(const uint8_t *b, int B) { return iq3s_mul32(b, B >> 1); }
static inline int iq1s_mul16(const uint8_t *b, int B) { return iq1s_mul32(b, B >> 1); }

/* One super-block's term of the dot product, the same expression at every ISA level
 * (the SIMD kernels convert d inline, qtk_f16c_to_f32: the same float). */
static inline double iqm_acc_f(double sum, int S, float d, float yd, float F) {
    return sum + (double)S * ((double)d * (double)yd) * (double)F;
}
static inline double iqm_acc(double sum, int S, uint16_t dbits, float yd, float F) {
    return iqm_acc_f(sum, S, qtk_fp16_to_fp32(dbits), yd, F);
}

/* The seven types' facts, one row each: name, block bytes, the scale's bits, the octet
 * word and sub-block multiplier decoders, the factor F. Every kernel file instantiates its
 * macro over this list (IQM_TYPES(IQM_DEFINE) …) instead of writing the rows again. */
#define IQM_TYPES(X)                                                                    \
    X(iq2_xxs, IQ2XXS_BYTES, iqm_d_fp16, iq2xxs_word, iq2xxs_mul16, 0.125f)            \
    X(iq2_xs, IQ2XS_BYTES, iqm_d_fp16, iq2xs_word, iq2xs_mul16, 0.125f)                \
    X(iq2_s, IQ2S_BYTES, iqm_d_fp16, iq2s_word, iq2s_mul16, 0.125f)                    \
    X(iq3_xxs, IQ3XXS_BYTES, iqm_d_fp16, iq3xxs_word, iq3xxs_mul16, 0.25f)             \
    X(iq3_s, IQ3S_BYTES, iqm_d_fp16, iq3s_word, iq3s_mul16, 1.0f)                      \
    X(iq1_s, IQ1S_BYTES, iqm_d_fp16, iq1s_word, iq1s_mul16, 0.125f)                    \
    X(iq1_m, IQ1M_BYTES, iq1m_d_bits, iq1m_word, iq1m_mul16, 0.125f)

/* The body of an x86 SIMD vec_dot (n, s, vx, vy) over super-blocks of BYTES bytes:
 * SUM(b, y) the block's exact integer sum, DBITS(b) its fp16 d; the weights prefetched,
 * d converted inline (simd_x86.h). */
#define IQM_X86_DOT_BODY(SUM, BYTES, DBITS, F)                                                      \
    const uint8_t *b = (const uint8_t *)vx;                                                         \
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;                                           \
    double sum = 0.0;                                                                                \
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, b += (BYTES)) {                                    \
        float yd;                                                                                    \
        qtk_prefetch_ahead(b, (BYTES));                                                              \
        memcpy(&yd, &y[ibl].d, sizeof yd);                                                           \
        sum = iqm_acc_f(sum, SUM(b, &y[ibl]), qtk_f16c_to_f32(DBITS(b)), yd, (F));                 \
    }                                                                                                \
    *s = (float)sum;

/* … over pairs of super-blocks: SUM2(b, y, S) the two blocks' sums into S[0], S[1] (kernels
 * sharing work between them), SUM the last one of an odd count; the same terms in the same order. */
#define IQM_X86_DOT_BODY2(SUM2, SUM, BYTES, DBITS, F)                                                \
    const uint8_t *b = (const uint8_t *)vx;                                                         \
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;                                           \
    const int64_t nb = n / QK_K;                                                                     \
    double sum = 0.0;                                                                                \
    int64_t ibl = 0;                                                                                 \
    for (; ibl + 1 < nb; ibl += 2, b += 2 * (BYTES)) {                                               \
        float yd0, yd1;                                                                              \
        int S[2];                                                                                    \
        qtk_prefetch_ahead(b, 2 * (BYTES));                                                          \
        memcpy(&yd0, &y[ibl].d, sizeof yd0);                                                         \
        memcpy(&yd1, &y[ibl + 1].d, sizeof yd1);                                                     \
        SUM2(b, &y[ibl], S);                                                                         \
        sum = iqm_acc_f(sum, S[0], qtk_f16c_to_f32(DBITS(b)), yd0, (F));                             \
        sum = iqm_acc_f(sum, S[1], qtk_f16c_to_f32(DBITS(b + (BYTES))), yd1, (F));                   \
    }                                                                                                \
    if (ibl < nb) {                                                                                  \
        float yd;                                                                                    \
        memcpy(&yd, &y[ibl].d, sizeof yd);                                                           \
        sum = iqm_acc_f(sum, SUM(b, &y[ibl]), qtk_f16c_to_f32(DBITS(b)), yd, (F));                   \
    }                                                                                                \
    *s = (float)sum;

/* Kernels with two ways to the same codes (0: permutes or scalar words, 1: gathers), which
 * way is faster depending on the CPU (iq_mainline.c). Per kernel class: the way timed at
 * first use and the way in force (a test may force one). */
#define IQM_WAYS_MAX 8
typedef struct {
    int n, timed[IQM_WAYS_MAX], now[IQM_WAYS_MAX];
} iqm_ways;
/* 1 when way 1 beats way 0 by 5 % in each of 3 alternated trials, each the best of 3
 * calls of run(ctx, way) (about 1 ms per class for the mainline kernels). */
int qtk_iqm_gathers_win(void (*run)(void *ctx, int way), void *ctx);
/* mode 0/1 forces every class to that way, -1 restores the timed ways, -2 leaves them;
 * returns bit c set where class c gathers now. */
int qtk_iqm_ways_set(iqm_ways *w, int mode);
/* Pseudo-random timing inputs: nw weight bytes (any pattern is a valid block for the
 * sums) and nq activations in [−127, 127]; returns the generator state to go on with. */
uint32_t qtk_iqm_fill_random(uint32_t state, uint8_t *w, size_t nw, int8_t *q, size_t nq);

/* IQ1's grid (qtk_iq1s_grid) as the unsigned bytes 8·(g + 1) ∈ {0, 8, 16}, one qword per entry
 * (16 KB, built at the first call): the SIMD kernels multiply these by y and take the offset
 * back from the Q8_K bsums. */
const uint64_t *qtk_iq1_values_x8(void);

/*
 * Exact integer sum Σ_i m[i/16]·q[i]·y[i] of one super-block (256 weights)
 * against Q8_K quants: the same number at every ISA level. The type's result
 * is Σ_blocks (double)S · ((double)d · (double)d_y) · F, accumulated in
 * double in block order, rounded to float once at the end.
 */

void qtk_iq2_xxs_to_float(const void *row, float *dst, int64_t n);
void qtk_iq2_xs_to_float(const void *row, float *dst, int64_t n);
void qtk_iq2_s_to_float(const void *row, float *dst, int64_t n);
void qtk_iq3_xxs_to_float(const void *row, float *dst, int64_t n);
void qtk_iq3_s_to_float(const void *row, float *dst, int64_t n);
void qtk_iq1_s_to_float(const void *row, float *dst, int64_t n);
void qtk_iq1_m_to_float(const void *row, float *dst, int64_t n);

/* Exact int8 forms (one scale per 32 weights) of the per-32 types. */
void qtk_iq2_xxs_to_int8(const void *row, int64_t n, float *d, int8_t *q);
void qtk_iq3_xxs_to_int8(const void *row, int64_t n, float *d, int8_t *q);
void qtk_iq3_s_to_int8(const void *row, int64_t n, float *d, int8_t *q);
void qtk_iq1_s_to_int8(const void *row, int64_t n, float *d, int8_t *q);

/* _avx512 dispatches to _avx512vbmi (CPUs with VBMI) or to _avx2; the tests call
 * both directly. */
#define IQM_DECLARE_DOTS(t)                                                        \
    void qtk_##t##_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y); \
    void qtk_##t##_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);   \
    void qtk_##t##_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y); \
    void qtk_##t##_vec_dot_avx512vbmi(int64_t n, float *s, const void *x, const void *y); \
    void qtk_##t##_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);   \
    void qtk_##t##_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);
IQM_DECLARE_DOTS(iq2_xxs)
IQM_DECLARE_DOTS(iq2_xs)
IQM_DECLARE_DOTS(iq2_s)
IQM_DECLARE_DOTS(iq3_xxs)
IQM_DECLARE_DOTS(iq3_s)
IQM_DECLARE_DOTS(iq1_s)
IQM_DECLARE_DOTS(iq1_m)

/* For tests: the two kernels behind type's AVX-512 level (AVX2's, VBMI's)
 * (IQ2_XXS … IQ1_M); -1 and NULLs for other types or builds without AVX-512.
 * Run them only when qtk_isa_available(QTK_ISA_AVX512) (+ qtk_cpu()->avx512vbmi). */
int qtk_iqm_avx512_kernels(int type, qtk_vec_dot_fn *words, qtk_vec_dot_fn *vbmi);

/* For tests, on CPUs with VBMI only: the VBMI kernels' code lookups of IQ2_XS, IQ2_S and
 * IQ1_S/IQ1_M forced to vpermi2b (mode 0) or gathers (1), back to the choice timed at first use
 * (-1), or left as they are (-2). Returns bits 0/1/2 set where IQ2_XS/IQ2_S/IQ1 gather now;
 * qtk_iqm_vbmi_lookups returns -1 in builds without the AVX-512 kernels. */
int qtk_iqm_vbmi_lookups(int mode);
/* The same for the AVX2 kernels, bit t of the result for IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
 * IQ1_S, IQ1_M (t = 0..6): 0 = grid entries loaded one by one ("words"), 1 = gathers; on CPUs with AVX2 only (-1 in
 * builds without them). */
int qtk_iqm_avx2_gathers(int mode);
/* behind the two above, in the kernel files */
int qtk_iqm_avx2_lookups(int mode);
int qtk_iqv_lookups(int mode);

/*
 * For tests: the grid-neighbour map (i32, *n_map codes) and lists (u16,
 * *n_nb entries) of grid 0..5 = iq2xxs, iq2xs, iq2s, iq3xxs, iq3s, iq1s in
 * ggml's own layout (FORMATS-MAINLINE-IQ §1.1: every code below kmap_size,
 * lists as [count, idx...] in code order). The quantizers build the same
 * lists for the codes they can form only. Caller frees both; 0 on success.
 */
int qtk_iqm_reference_tables(int grid, int32_t **map, size_t *n_map, uint16_t **nb, size_t *n_nb);

/* Quantizers (iq_mainline_quant.c). */
size_t qtk_iq2_xxs_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq2_xxs_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                   int effort);
size_t qtk_iq2_xs_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq2_xs_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                  int effort);
size_t qtk_iq2_s_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq2_s_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort);
size_t qtk_iq3_xxs_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq3_xxs_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                   int effort);
size_t qtk_iq3_s_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq3_s_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort);
size_t qtk_iq1_s_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq1_s_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort);
size_t qtk_iq1_m_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq1_m_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort);

#endif
