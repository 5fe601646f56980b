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

#endif
