/* iqk.h — kernels of IQ2_K, IQ3_K, IQ4_K, IQ5_K, IQ6_K (iqk.c + iqk_<isa>.c). */
#ifndef QTK_IQK_H
#define QTK_IQK_H

#include "types_internal.h"
#include "iquants.h"

/* Block sizes in bytes (FORMATS §3); every block starts with fp16 d, uint16 extra. */
#define QTK_IQ2_K_SIZE 76
#define QTK_IQ3_K_SIZE 110
#define QTK_IQ4_K_SIZE 144
#define QTK_IQ5_K_SIZE 176
#define QTK_IQ6_K_SIZE 212

/* Constant added by the shifted grid of each type (shifted = base + offset). */
#define QTK_IQ2_K_SHIFT 5
#define QTK_IQ3_K_SHIFT 4
#define QTK_IQ4_K_SHIFT 4
#define QTK_IQ5_K_SHIFT 2
#define QTK_IQ6_K_SHIFT 1

/* The quantizer's scale-search sums for 16 weights and n tries (iqk.c, search_nl):
 * try i = inverse scale id[i] on grid shift[i] (lut[2], T[2·nv] base then shifted);
 * sums[4i..4i+3] = Σw·q·x, Σw·q² for +id and for −id. The AVX2 twin returns the same
 * floats. pick: the one to use for a grid of nv values. */
typedef void (*qtk_iqk_scale_sums_fn)(const qtk_grid_lut lut[2], const float *T, int nv, const float *xb,
                                      const float *wb, int n, const float *id, const int *shift, float *sums);
void qtk_iqk_scale_sums_scalar(const qtk_grid_lut lut[2], const float *T, int nv, const float *xb, const float *wb,
                               int n, const float *id, const int *shift, float *sums);
void qtk_iqk_scale_sums_avx2(const qtk_grid_lut lut[2], const float *T, int nv, const float *xb, const float *wb,
                             int n, const float *id, const int *shift, float *sums);
void qtk_iqk_scale_sums_avx512(const qtk_grid_lut lut[2], const float *T, int nv, const float *xb, const float *wb,
                               int n, const float *id, const int *shift, float *sums);
void qtk_iqk_scale_sums_neon(const qtk_grid_lut lut[2], const float *T, int nv, const float *xb, const float *wb,
                             int n, const float *id, const int *shift, float *sums);
qtk_iqk_scale_sums_fn qtk_iqk_scale_sums_pick(int nv);
/* Whether the shifted grid's values and midpoints (T[nv..], lut[1]) are the base grid's
 * (T[0..], lut[0]) + one constant *c, so one table pair serves both grids with a per-lane
 * add (the SIMD scale sums of IQ6_K on AVX-512 and of every grid on NEON). */
int qtk_iqk_grid_shift(const qtk_grid_lut lut[2], const float *T, int nv, float *c);

/* Weighted error of 16 weights on a small grid (nv <= 8 values T, midpoints mid)
 * at scale dl, and their indices: the quantizer's window search (iqk.c). */
float qtk_iqk_sub_error_scalar(const float *mid, const float *T, int nv, const float *xb, const float *wb, float dl,
                               uint8_t *idx);
float qtk_iqk_sub_error_avx2(const float *mid, const float *T, int nv, const float *xb, const float *wb, float dl,
                             uint8_t *idx);
float qtk_iqk_sub_error_avx512(const float *mid, const float *T, int nv, const float *xb, const float *wb, float dl,
                               uint8_t *idx);
float qtk_iqk_sub_error_neon(const float *mid, const float *T, int nv, const float *xb, const float *wb, float dl,
                             uint8_t *idx);
typedef float (*qtk_iqk_sub_error_fn)(const float *mid, const float *T, int nv, const float *xb, const float *wb,
                                      float dl, uint8_t *idx);
/* The widest twin allowed (qtk_set_max_isa) and available. */
qtk_iqk_sub_error_fn qtk_iqk_sub_error_pick(void);

/* The large grids' window search (iqk.c, best_sub_window): the error Σ w·r² of 16 weights
 * at scale dl on a grid of nv values T (lut: its nearest-value table; the index is the
 * count of midpoints at or below x/dl, ties up), r = x − dl·T[index] in float and the
 * sum in double in weight order, and the indices. The twins (nv <= 32) return the same
 * double. */
typedef double (*qtk_iqk_window_error_fn)(const qtk_grid_lut *lut, const float *T, int nv, const float *xb,
                                          const float *wb, float dl, uint8_t *idx);
double qtk_iqk_window_error_scalar(const qtk_grid_lut *lut, const float *T, int nv, const float *xb, const float *wb,
                                   float dl, uint8_t *idx);
double qtk_iqk_window_error_avx2(const qtk_grid_lut *lut, const float *T, int nv, const float *xb, const float *wb,
                                 float dl, uint8_t *idx);
double qtk_iqk_window_error_avx512(const qtk_grid_lut *lut, const float *T, int nv, const float *xb, const float *wb,
                                   float dl, uint8_t *idx);
double qtk_iqk_window_error_neon(const qtk_grid_lut *lut, const float *T, int nv, const float *xb, const float *wb,
                                 float dl, uint8_t *idx);
/* The widest twin allowed and available for grids of nv values (the scalar beyond 32). */
qtk_iqk_window_error_fn qtk_iqk_window_error_pick(int nv);

void qtk_iq2_k_to_float(const void *row, float *dst, int64_t n);
size_t qtk_iq2_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq2_k_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort);
void qtk_iq2_k_from_float(const float *src, void *dst, int64_t n);
void qtk_iq2_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_k_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_k_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_iq3_k_to_float(const void *row, float *dst, int64_t n);
size_t qtk_iq3_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq3_k_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort);
void qtk_iq3_k_from_float(const float *src, void *dst, int64_t n);
void qtk_iq3_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq3_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq3_k_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq3_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq3_k_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_iq4_k_to_float(const void *row, float *dst, int64_t n);
size_t qtk_iq4_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq4_k_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort);
void qtk_iq4_k_from_float(const float *src, void *dst, int64_t n);
void qtk_iq4_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_k_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_k_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_iq5_k_to_float(const void *row, float *dst, int64_t n);
size_t qtk_iq5_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq5_k_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort);
void qtk_iq5_k_from_float(const float *src, void *dst, int64_t n);
void qtk_iq5_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq5_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq5_k_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq5_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq5_k_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

/* IQ6_K: to_float reproduces the reference's cubic-polynomial decoder bit for bit;
 * qtk_iq6_k_to_float_table decodes with the 64-entry integer grid that every dot
 * product (here and in the reference's kernels) uses. */
void qtk_iq6_k_to_float(const void *row, float *dst, int64_t n);
void qtk_iq6_k_to_float_table(const void *row, float *dst, int64_t n);
size_t qtk_iq6_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq6_k_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort);
void qtk_iq6_k_from_float(const float *src, void *dst, int64_t n);
void qtk_iq6_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq6_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq6_k_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq6_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq6_k_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

#endif
