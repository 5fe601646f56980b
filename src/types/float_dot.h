/*
 * float_dot.h — dot products of F32 / F16 / BF16 weight rows (the forward
 * pass multiplies unquantized matrices through the type table like any
 * other type). Activation formats, as llama.cpp: F32 × F32, F16 × F16,
 * BF16 × BF16; products are accumulated in F32 (SIMD) or double (scalar).
 */
#ifndef QTK_FLOAT_DOT_H
#define QTK_FLOAT_DOT_H

#include "types_internal.h"

void qtk_f32_from_float(const float *src, void *dst, int64_t n);

void qtk_f32_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_f32_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_f16_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_f16_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_bf16_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_bf16_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
/* NEON (float_dot_neon.c): the AVX2 kernels' structure with 4-lane vectors. */
void qtk_f32_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_f16_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_bf16_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
/* AVX-512: one FMA chain per product, so vec_dot and the 4 x 4-tiled mul_mat agree bit for bit. */
void qtk_f16_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_bf16_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_f16_mul_mat_avx512(int64_t n, const void *w, size_t w_stride, const void *a, size_t a_stride, float *out,
                            size_t out_stride, int64_t n_rows, int64_t n_cols);
void qtk_bf16_mul_mat_avx512(int64_t n, const void *w, size_t w_stride, const void *a, size_t a_stride, float *out,
                             size_t out_stride, int64_t n_rows, int64_t n_cols);

#endif
