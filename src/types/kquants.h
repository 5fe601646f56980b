/* kquants.h — kernels of Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (kquants.c + kquants_<isa>.c). */
#ifndef QTK_KQUANTS_H
#define QTK_KQUANTS_H

#include "types_internal.h"

/* Block layouts of FORMATS.md §2 (every multi-byte field sits at an even offset, so these
 * structs have no padding; fp16 fields are still read with memcpy, rows may be unaligned). */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } qtk_block_q2_K;      /* 84 */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } qtk_block_q3_K; /* 110 */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } qtk_block_q4_K;     /* 144 */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } qtk_block_q5_K; /* 176 */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } qtk_block_q6_K; /* 210 */

/* Reads a little-endian fp16 field of a possibly unaligned block as float. */
static inline float qtk_kq_fp16(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return qtk_fp16_to_fp32(h);
}

/* Unpacks the eight 6-bit scales and mins of a Q4_K/Q5_K block (FORMATS §2 Q4_K). */
static inline void qtk_kq_unpack_scales_min(const uint8_t *s12, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s12[j] & 63;
        m[j] = s12[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s12[j + 8] & 0x0F) | ((s12[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((s12[j + 8] >> 4) | ((s12[j + 4] >> 6) << 4));
    }
}

/* Unpacks the sixteen signed 6-bit scales of a Q3_K block (FORMATS §2 Q3_K). */
static inline void qtk_kq_unpack_q3_scales(const uint8_t *b, int8_t sc[16]) {
    for (int s = 0; s < 16; s++) {
        int lo = s < 8 ? (b[s] & 15) : (b[s - 8] >> 4);
        int hi = (b[8 + (s % 4)] >> (2 * (s / 4))) & 3;
        sc[s] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

void qtk_q2_K_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q2_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q2_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort);
void qtk_q2_K_from_float(const float *src, void *dst, int64_t n);
void qtk_q2_K_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q2_K_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q2_K_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q2_K_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q2_K_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_q3_K_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q3_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q3_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort);
void qtk_q3_K_from_float(const float *src, void *dst, int64_t n);
void qtk_q3_K_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q3_K_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q3_K_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q3_K_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q3_K_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);
/* Multi-column kernels (qtk_mul_mat_fn) of Q2_K/Q3_K, AVX-512 level (kquants_avx512.c). */
void qtk_q2_K_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_q3_K_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);

void qtk_q4_K_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q4_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q4_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort);
void qtk_q4_K_from_float(const float *src, void *dst, int64_t n);
void qtk_q4_K_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_K_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_K_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_K_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_K_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_q5_K_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q5_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q5_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort);
void qtk_q5_K_from_float(const float *src, void *dst, int64_t n);
void qtk_q5_K_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_K_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_K_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_K_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_K_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_q6_K_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q6_K_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q6_K_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort);
void qtk_q6_K_from_float(const float *src, void *dst, int64_t n);
void qtk_q6_K_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q6_K_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q6_K_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q6_K_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q6_K_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

/* The quantizers compiled for AVX2 (kquants_quant_avx2.c; x86 builds only): what
 * qtk_qN_K_quantize_effort calls when AVX2 is available and allowed. */
size_t qtk_q2_K_quantize_effort_qavx2(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                      int effort);
size_t qtk_q3_K_quantize_effort_qavx2(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                      int effort);
size_t qtk_q4_K_quantize_effort_qavx2(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                      int effort);
size_t qtk_q5_K_quantize_effort_qavx2(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                      int effort);
size_t qtk_q6_K_quantize_effort_qavx2(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                      int effort);

#endif
