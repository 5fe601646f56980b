/*
 * legacy1.h — the 32-weight block types with a min or a shared exponent:
 * Q4_1 (id 3), Q5_1 (id 7) and MXFP4 (id 39) (FORMATS-MAINLINE-IQ §9–§10).
 * Scalar reference, quantizers: legacy1.c; dot products: legacy1_<isa>.c.
 *
 * Activations: Q4_1/Q5_1 multiply with Q8_2 (fp16 scale + exact int16 Σqs per
 * 32, q8_2.c), so the min term m·d_y·Σq_y is exact; mainline's Q8_1 stores
 * that sum as fp16(d·Σq) and rounds it. MXFP4 multiplies with Q8_0: its
 * values are exactly D(e)·KMX[code] with KMX ∈ [−12, 12] an int8 table.
 */
#ifndef QTK_LEGACY1_H
#define QTK_LEGACY1_H

#include "types_internal.h"

typedef struct { uint16_t d, m; uint8_t qs[16]; } qtk_block_q4_1;             /* 20 bytes */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } qtk_block_q5_1; /* 24 bytes */
typedef struct { uint8_t e; uint8_t qs[16]; } qtk_block_mxfp4;                /* 17 bytes */

/* kvalues_mxfp4 (grids/kvalues_mxfp4.txt): twice the E2M1 values. */
extern const int8_t qtk_kvalues_mxfp4[16];

/* D(e) = 2^(e − 128) as float, exact for every e (subnormal for e < 2). */
static inline float qtk_mxfp4_scale(uint8_t e) {
    const uint32_t bits = e < 2 ? (0x00200000u << e) : ((uint32_t)e - 1u) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void qtk_q4_1_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q4_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q4_1_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort);
void qtk_q4_1_from_float(const float *src, void *dst, int64_t n);
void qtk_q4_1_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_1_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_1_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_1_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_1_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_q5_1_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q5_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q5_1_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort);
void qtk_q5_1_from_float(const float *src, void *dst, int64_t n);
void qtk_q5_1_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_1_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_1_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_1_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_1_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);
/* Multi-column kernels (qtk_mul_mat_fn) of Q4_1/Q5_1, AVX-512 level (legacy1_avx512.c). */
void qtk_q4_1_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_q5_1_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);

void qtk_mxfp4_to_float(const void *row, float *dst, int64_t n);
void qtk_mxfp4_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_mxfp4_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_mxfp4_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort);
void qtk_mxfp4_from_float(const float *src, void *dst, int64_t n);
void qtk_mxfp4_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_mxfp4_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_mxfp4_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_mxfp4_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_mxfp4_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);
/* Multi-column kernel (qtk_mul_mat_fn), AVX-512 level (with IQ4_NL's, iquants_avx512.c). */
void qtk_mxfp4_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                              int64_t nr, int64_t nc);

/* The quantizers compiled for AVX2 (legacy1_quant_avx2.c; x86 builds only): the same
 * bytes as the entries above, which call them when AVX2 is allowed. */
size_t qtk_q4_1_quantize_effort_qavx2(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                      int effort);
size_t qtk_q5_1_quantize_effort_qavx2(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                      int effort);
size_t qtk_mxfp4_quantize_effort_qavx2(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                       int effort);

#endif
