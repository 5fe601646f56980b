/* iquants.h — kernels of IQ4_NL, IQ4_XS (iquants.c + iquants_<isa>.c). */
#ifndef QTK_IQUANTS_H
#define QTK_IQUANTS_H

#include "types_internal.h"

/* IQ4_NL: fp16 scale + 32 4-bit grid indices (FORMATS §2). */
typedef struct { uint16_t d; uint8_t qs[16]; } qtk_block_iq4_nl;                       /* 18 bytes */
/* IQ4_XS: fp16 super-scale, 8 six-bit sub-block scales, 256 4-bit indices. */
typedef struct {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[4];
    uint8_t qs[128];
} qtk_block_iq4_xs; /* 136 bytes */

/*
 * Index of the entry of the ascending grid g[0..n) nearest to x; a tie goes
 * to the upper entry and x outside the grid clamps to the ends (NaN -> 0).
 * Reusable by every non-linear (iqk) grid; n >= 2.
 */
static inline int qtk_grid_nearest(const int8_t *g, int n, float x) {
    if (!(x > (float)g[0])) return 0;
    if (x >= (float)g[n - 1]) return n - 1;
    int lo = 0, hi = n - 1;  /* invariant: g[lo] <= x < g[hi] */
    while (hi - lo > 1) {
        const int mid = (lo + hi) >> 1;
        if (x < (float)g[mid]) hi = mid;
        else lo = mid;
    }
    return x >= 0.5f * (float)(g[lo] + g[hi]) ? hi : lo;  /* exact midpoint, no rounding */
}

/*
 * Constant-time form of qtk_grid_nearest for hot loops (same answers):
 * tab[b] counts the midpoints below the integer g[0] + b, and one comparison
 * with the next midpoint settles the rest (integer grids have at most one
 * midpoint per unit interval). For ascending grids of n <= 64 distinct int8
 * values; init once, e.g. per call.
 */
typedef struct {
    float lo, hi;
    int n;
    float mid[64];     /* mid[i] = (g[i] + g[i+1]) / 2; mid[n-1] = +huge */
    uint8_t tab[256];
} qtk_grid_lut;

static inline void qtk_grid_lut_init(qtk_grid_lut *t, const int8_t *g, int n) {
    t->lo = (float)g[0];
    t->hi = (float)g[n - 1];
    t->n = n;
    for (int i = 0; i < n - 1; i++) t->mid[i] = 0.5f * (float)(g[i] + g[i + 1]);
    t->mid[n - 1] = 3.0e38f;
    int b = 0; /* tab[b] = i while mid[i-1] < g[0] + b <= mid[i] */
    for (int i = 0; i < n - 1; i++)
        for (; b < 256 && (float)(g[0] + b) <= t->mid[i]; b++) t->tab[b] = (uint8_t)i;
    for (; b < 256; b++) t->tab[b] = (uint8_t)(n - 1);
}

static inline int qtk_grid_lut_nearest(const qtk_grid_lut *t, float x) {
    if (!(x > t->lo)) return 0;
    if (x >= t->hi) return t->n - 1;
    const int i = t->tab[(int)(x - t->lo)];
    return i + (x >= t->mid[i]);
}

void qtk_iq4_nl_to_float(const void *row, float *dst, int64_t n);
void qtk_iq4_nl_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_iq4_nl_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq4_nl_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort);
void qtk_iq4_nl_from_float(const float *src, void *dst, int64_t n);
void qtk_iq4_nl_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_nl_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_nl_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_nl_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_nl_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

/* The IQ4_NL/IQ4_XS scale search's trial sums, IQ4_LANES trials at once (iquants.c
 * iq4_round_lanes): the AVX2 twin computes every lane's floats as the scalar loop does. */
#define IQ4_LANES 32
void qtk_iq4_round_lanes(const float *x, const float *w, const float *id, float *sumqx, float *sumq2);
void qtk_iq4_round_lanes_scalar(const float *x, const float *w, const float *id, float *sumqx, float *sumq2);
void qtk_iq4_round_lanes_avx2(const float *x, const float *w, const float *id, float *sumqx, float *sumq2);
void qtk_iq4_round_lanes_avx512(const float *x, const float *w, const float *id, float *sumqx, float *sumq2);
void qtk_iq4_round_lanes_neon(const float *x, const float *w, const float *id, float *sumqx, float *sumq2);

void qtk_iq4_xs_to_float(const void *row, float *dst, int64_t n);
void qtk_iq4_xs_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_iq4_xs_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq4_xs_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort);
void qtk_iq4_xs_from_float(const float *src, void *dst, int64_t n);
void qtk_iq4_xs_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_xs_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_xs_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_xs_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_xs_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

/* Multi-column kernel (qtk_mul_mat_fn) of IQ4_XS, AVX2 level (iquants_avx2.c). */
void qtk_iq4_xs_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
/* Multi-column kernels (qtk_mul_mat_fn), AVX-512 level (iquants_avx512.c). */
void qtk_iq4_xs_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);
void qtk_iq4_nl_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);

/*
 * The dot products form each block's product exactly in double (int sum ×
 * fp16 × fp16, or × the f32 Q8_K scale) and add in double, so the result is
 * the exact dot of the decoded rows up to the final rounding to float. IQ4_NL
 * adds block i into lane i % 8 and reduces the 8 lanes in this fixed order,
 * so every ISA path returns the bit-identical result of the scalar kernel.
 */
static inline double qtk_iq4_nl_reduce8(const double a[8]) {
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

#endif
