/* trellis.h — the trellis ("KT") types IQ1_KT, IQ2_KT, IQ3_KT, IQ4_KT
 * (FORMATS.md §5): decoders, dot products (trellis.c + trellis_<isa>.c) and
 * the quantizers' codebook search (METHODS.md §5). */
#ifndef QTK_TRELLIS_H
#define QTK_TRELLIS_H

#include "types_internal.h"

#include <math.h>

/* The generator (FORMATS §5.1): x = seed; x *= KT_MUL (mod 2^32); value =
 * sum of the low 6 bits of x's 4 bytes − 126. */
#define QTK_KT_MUL 0xCBAC1FEDu
#define QTK_KT_OFFSET 4096u

/* Inference scale factors of the reference's dot-product kernels (x86 CPU
 * path, FORMATS §5.6): the values vec_dot multiplies with are F·to_float. */
#define QTK_KT_F_IQ1 1.0f
#define QTK_KT_F_IQ2 1.05f
#define QTK_KT_F_IQ3 1.01f
#define QTK_KT_F_IQ4 1.0f

/* Factor the reference's IQ1_KT quantizer applies to the row scale it stores
 * (quantize_row_iq1_kt_impl: d_row = 1.07 × the least-squares scale; no
 * other KT type has one). Decoders and kernels read the stored scale as is. */
#define QTK_KT_STORE_IQ1 1.07f

/* Multipliers KT_MUL^k mod 2^32, k = 1..8: value k of a group seeded with s
 * comes from s·mul[k-1] (the SIMD kernels compute all of a group at once). */
extern const uint32_t qtk_kt_mul_pow[8];

static inline int qtk_kt_value(uint32_t x) {
    const uint32_t s = x & 0x3F3F3F3Fu;
    return (int)((s & 0xFF) + ((s >> 8) & 0xFF) + ((s >> 16) & 0xFF) + (s >> 24)) - 126;
}

/* ---- kernels --------------------------------------------------------------- */
#define QTK_KT_DECL(t)                                                                         \
    void qtk_##t##_to_float(const void *row, float *dst, int64_t n);                          \
    void qtk_##t##_to_float_dot(const void *row, float *dst, int64_t n);                      \
    void qtk_##t##_to_int8(const void *row, int64_t n, float *d, int8_t *q);                 \
    size_t qtk_##t##_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix); \
    size_t qtk_##t##_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix, \
                                     int effort);                                              \
    void qtk_##t##_from_float(const float *src, void *dst, int64_t n);                        \
    void qtk_##t##_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);         \
    void qtk_##t##_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);           \
    void qtk_##t##_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);         \
    void qtk_##t##_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q);            \
    void qtk_##t##_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);           \
    void qtk_##t##_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

/* Matrix × vector (trellis_avx2.c, trellis_avx512.c) */
void qtk_iq1_kt_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_iq2_kt_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_iq3_kt_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_iq4_kt_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_iq1_kt_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);
void qtk_iq2_kt_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);
void qtk_iq3_kt_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);
void qtk_iq4_kt_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);

QTK_KT_DECL(iq1_kt)
QTK_KT_DECL(iq2_kt)
QTK_KT_DECL(iq3_kt)
QTK_KT_DECL(iq4_kt)

/* ---- per-32-block unpacking shared by the scalar and SIMD kernels ----------- */

/* One 32-weight sub-block, decoded from the bits: the generator seeds of its
 * groups (8 groups of 4 for IQ4_KT, else 4 groups of 8), its integer scale,
 * and (IQ3_KT) the 32 sign bits (bit p = weight p negative). */
typedef struct {
    uint32_t seed[8];
    int scale;
    uint32_t signs;
} qtk_kt_sub;

/* Fills sub[0..7] for the super-block at `blk` of the given type id. */
void qtk_kt_unpack(int type, const uint8_t *blk, qtk_kt_sub *sub);

/* ---- quantizer codebook search --------------------------------------------- */

/* A codebook with its cell index (METHODS §5.2). Candidates of cell c are
 * positions cell_start[c] .. cell_start[c+1]-1 (a multiple of 16 apart);
 * their values are stored as int8 per 16 candidates dimension-major:
 * vals[(p/16)*16*ndim + k*16 + p%16] is coordinate k of candidate p, and
 * idx[p] its index in the codebook. (int8, not float: the scans stream
 * these lists — 2^16 codewords × 8 cells × 8 dims — and at 4 bytes a value
 * they did not fit the caches.) */
typedef struct {
    int ndim;          /* 8, or 4 (IQ4_KT) */
    int is_abs;        /* IQ3_KT: coordinates are |v| */
    int cell_mode;     /* 0: bit k = (t_k > mid_k); 1: 5 bins per coordinate (IQ4_KT) */
    float mid[8];
    int ncell;
    int vmax;          /* largest |coordinate| */
    int32_t *cell_start;
    int32_t *idx;
    int8_t *vals;
    int8_t *book;      /* all codewords, book[i*ndim + k] */
    int nbook;
} qtk_kt_book;

/* Cell of target t (ndim values). */
static inline int qtk_kt_cell(const qtk_kt_book *b, const float *t) {
    int u = 0;
    if (b->cell_mode == 0) {
        for (int k = 0; k < b->ndim; k++)
            if (t[k] > b->mid[k]) u |= 1 << k;
    } else {
        int s = 1;
        for (int k = 0; k < b->ndim; k++) {
            const float x = t[k];
            const int bin = x < -48.f ? 0 : x < -16.f ? 1 : x < 16.f ? 2 : x < 48.f ? 3 : 4;
            u += s * bin;
            s *= 5;
        }
    }
    return u;
}

/* Best candidate (minimum of Σ_k w_k·(c_k − t_k)², evaluated in this order,
 * lowest position on ties) among the positions of a cell's list, for ng
 * groups: t and w hold ng·ndim values, cells[g] the cell of group g; the
 * codebook index of each winner goes to out[g]. The reference every ISA
 * level's scan (qtk_kt_search_multi_*, below) must equal. */
void qtk_kt_search_scalar(const qtk_kt_book *b, int ng, const float *t, const float *w, const int *cells, int *out);

/* The SIMD scans rank candidates by the expanded score
 *     A = Σ_k c_k·(w_k·c_k + b_k),  b_k = −2·w_k·t_k
 * (= the score minus Σ w_k·t_k², two FMAs per coordinate instead of four
 * operations), whose rounding differs from the scalar score's. Every
 * candidate within `slack` of the smallest A is then scored exactly as the
 * scalar scan does (qtk_kt_score), in position order: the scalar winner is
 * among them (qtk_kt_shortlist_search in trellis_quant.c bounds both
 * roundings), so the indices are the scalar scan's.
 *
 * An ISA level's chunk scan takes nblk·16 candidates at v (the vals of a
 * position that is a multiple of 16, nblk·16 ≤ QTK_KT_CHUNK) and nq ≤
 * QTK_KT_MQ queries of the same weights w in this cell (coefficients bk[8q+k]):
 * per query q it lowers amin[q] to the smallest A among them and writes to
 * sel + q·QTK_KT_CHUNK the offsets (ascending) of those with
 * A ≤ qtk_kt_threshold(amin[q], slack[q]), their count to nsel[q]. The
 * queries share the loads and widening of the candidates: a sub-block's
 * trial scales put its targets on one ray, and 2.7–3 of them fall in the
 * same cell on average. a holds nq·QTK_KT_CHUNK floats of scratch. */
#define QTK_KT_CHUNK 1024
#define QTK_KT_MQ 4
#define QTK_KT_MAXQ 16 /* queries per multi-search call */
typedef void (*qtk_kt_chunk_fn)(const int8_t *v, int nd, int nblk, int nq, const float *w, const float *bk,
                                const double *slack, float *amin, float *a, int *sel, int *nsel);
void qtk_kt_chunk_avx2(const int8_t *v, int nd, int nblk, int nq, const float *w, const float *bk, const double *slack,
                       float *amin, float *a, int *sel, int *nsel);
void qtk_kt_chunk_avx512(const int8_t *v, int nd, int nblk, int nq, const float *w, const float *bk,
                         const double *slack, float *amin, float *a, int *sel, int *nsel);
void qtk_kt_chunk_neon(const int8_t *v, int nd, int nblk, int nq, const float *w, const float *bk, const double *slack,
                       float *amin, float *a, int *sel, int *nsel);

/* nq queries of ng groups each against one book, the same weights w (ng·ndim) for
 * all: t holds nq·ng·ndim targets (query-major), cells nq·ng cells; out[q·ng + g]
 * gets what qtk_kt_search_scalar returns for query q's group g (nq ≤ QTK_KT_MAXQ). */
typedef void (*qtk_kt_search_multi_fn)(const qtk_kt_book *b, int nq, int ng, const float *t, const float *w,
                                       const int *cells, int *out);
void qtk_kt_search_multi_scalar(const qtk_kt_book *b, int nq, int ng, const float *t, const float *w, const int *cells,
                                int *out);
void qtk_kt_search_multi_avx2(const qtk_kt_book *b, int nq, int ng, const float *t, const float *w, const int *cells,
                              int *out);
void qtk_kt_search_multi_avx512(const qtk_kt_book *b, int nq, int ng, const float *t, const float *w,
                                const int *cells, int *out);
void qtk_kt_search_multi_neon(const qtk_kt_book *b, int nq, int ng, const float *t, const float *w, const int *cells,
                              int *out);
/* The scan of one ISA level, or NULL when it is not compiled in or the CPU lacks it. */
qtk_kt_search_multi_fn qtk_kt_search_multi_level(qtk_isa isa);
void qtk_kt_shortlist_search(const qtk_kt_book *b, int nq, int ng, const float *t, const float *w, const int *cells,
                             int *out, qtk_kt_chunk_fn chunk);

/* amin + slack rounded up to a float (every A at most that far above the
 * smallest passes). */
/* The dot products' row sum: the term of 32-block b of every super-block goes to
 * part[b] (added in super-block order), and the 8 parts are added in this one order
 * by every level (the SIMD kernels add 8 lanes where one chain of dependent adds held
 * them back: IQ2_KT +30 % on Zen 4 in cache), so every level gives the same bits. */
static inline float qtk_kt_sum8(const float part[8]) {
    return ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]));
}

static inline float qtk_kt_threshold(float amin, double slack) {
    const double t = (double)amin + slack;
    float f = (float)t;
    if ((double)f < t) f = nextafterf(f, INFINITY);
    return f;
}

/* The scalar scan's score of candidate p: its float operations in its order. */
static inline float qtk_kt_score(const qtk_kt_book *b, int p, const float *t, const float *w) {
    const int nd = b->ndim;
    const int8_t *v = b->vals + (size_t)(p / 16) * 16 * (size_t)nd + p % 16;
    float s = 0.0f;
    for (int k = 0; k < nd; k++) {
        const float df = (float)v[k * 16] - t[k];
        const float e = df * df;
        const float we = w[k] * e;
        s = s + we;
    }
    return s;
}

/* The quantizer's book of a KT type (IQ4_KT: second = 1 for offset 4096 +
 * 32768), built on first use; NULL when out of memory or not a KT type. */
const qtk_kt_book *qtk_kt_get_book(int type, int second);

#endif
