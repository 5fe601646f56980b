/*
 * types_internal.h — kernels of every quant family, referenced by the one
 * type-traits table in type_table.c. Naming: qtk_<type>_<op>[_<isa>].
 *   to_float(row, dst, n)                 decode one row (header included)
 *   quantize(src, dst, nrows, n, imatrix) quality quantizer, rows back to back
 *   from_float(src, dst, n)               fast row quantizer (activations)
 *   vec_dot_<isa>(n, s, x, y)             weight row x · activation row y
 * SIMD kernels live beside their scalar reference in <family>_<isa>.c and
 * must agree with it (tests/test_dot.c).
 */
#ifndef QTK_TYPES_INTERNAL_H
#define QTK_TYPES_INTERNAL_H

#include "../core/qtk_internal.h"

#include <math.h>

/* Levels with hand-written quantizer-search twins, as a qtk_isa_pick mask: the pick
 * skips the levels this build lacks or the CPU cannot run, so no #ifdef is needed
 * around the mask (only around the calls). */
#define QTK_SEARCH_LEVELS ((1u << QTK_ISA_SCALAR) | (1u << QTK_ISA_AVX2) | (1u << QTK_ISA_AVX512) | (1u << QTK_ISA_NEON))

#define QK_K 256
#define QK4_0 32
#define QK8_0 32
#define QK5_0 32
#define QK6_0 32

/* ---- block layouts (little-endian, packed by construction) -------------- */

typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } qtk_block_q4_0;   /* 18 bytes */
typedef struct { uint16_t d; int8_t qs[QK8_0]; } qtk_block_q8_0;         /* 34 bytes */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } qtk_block_q5_0; /* 22 bytes */
typedef struct { uint16_t d; uint8_t qh[8]; uint8_t qs[QK6_0 / 2]; } qtk_block_q6_0; /* 26 bytes */
/* Activation format of the K and iqk types (ik's 296-byte layout). */
typedef struct { float d; float sum; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } qtk_block_q8_K;
/* Activation format of Q4_K/Q5_K (q8_2.c): fp16 scale, exact Σqs, 32 values. */
#define QK8_2 32
typedef struct { uint16_t d; int16_t sum; int8_t qs[QK8_2]; } qtk_block_q8_2;  /* 36 bytes */

/* ---- float types (float_types.c) --------------------------------------- */
void qtk_f32_to_float(const void *row, float *dst, int64_t n);
size_t qtk_f32_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
void qtk_f16_to_float(const void *row, float *dst, int64_t n);
size_t qtk_f16_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
void qtk_f16_from_float(const float *src, void *dst, int64_t n);
void qtk_bf16_to_float(const void *row, float *dst, int64_t n);
size_t qtk_bf16_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
void qtk_bf16_from_float(const float *src, void *dst, int64_t n);

/* ---- legacy 32-blocks (legacy.c + legacy_<isa>.c) --------------------- */
void qtk_q4_0_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q4_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q4_0_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                               int effort);
void qtk_q4_0_from_float(const float *src, void *dst, int64_t n);
void qtk_q4_0_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_0_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_0_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_0_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q4_0_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_q5_0_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q5_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q5_0_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                               int effort);
void qtk_q5_0_from_float(const float *src, void *dst, int64_t n);
void qtk_q5_0_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_0_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_0_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_0_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q5_0_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_q6_0_to_float(const void *row, float *dst, int64_t n);
size_t qtk_q6_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_q6_0_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                               int effort);
void qtk_q6_0_from_float(const float *src, void *dst, int64_t n);
void qtk_q6_0_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q6_0_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q6_0_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_q6_0_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q6_0_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_q8_0_to_float(const void *row, float *dst, int64_t n);
void qtk_q8_0_to_int8(const void *row, int64_t n, float *d, int8_t *q);
void qtk_q4_0_to_int8(const void *row, int64_t n, float *d, int8_t *q);
void qtk_q5_0_to_int8(const void *row, int64_t n, float *d, int8_t *q);
void qtk_q6_0_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_q8_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
void qtk_q8_0_from_float(const float *src, void *dst, int64_t n);
void qtk_q8_0_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_q8_0_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_q8_0_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
/* Multi-column kernels (qtk_mul_mat_fn) of Q4_K/Q5_K/Q6_K, AVX2 level (kquants_avx2.c). */
void qtk_q4_K_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                           int64_t nr, int64_t nc);
void qtk_q5_K_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                           int64_t nr, int64_t nc);
void qtk_q6_K_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                           int64_t nr, int64_t nc);
/* Multi-column kernels (qtk_mul_mat_fn) of Q4_K/Q5_K, AVX-512 level. */
void qtk_q4_K_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_q5_K_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_q6_K_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_iq4_kss_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                                int64_t nr, int64_t nc);
/* Multi-column kernels (qtk_mul_mat_fn) of IQ4_KS/IQ5_KS, AVX-512 level (iqk_ks_avx512.c). */
void qtk_iq4_ks_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);
void qtk_iq5_ks_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);
/* Multi-column kernels (qtk_mul_mat_fn) of the IQk types, AVX-512 level (iqk_avx512.c). */
void qtk_iq4_k_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                              int64_t nr, int64_t nc);
void qtk_iq5_k_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                              int64_t nr, int64_t nc);
void qtk_iq6_k_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                              int64_t nr, int64_t nc);
void qtk_iq3_k_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                              int64_t nr, int64_t nc);
void qtk_iq2_k_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                              int64_t nr, int64_t nc);
/* Multi-column kernels (qtk_mul_mat_fn) of the legacy 32-blocks, AVX2 level. */
void qtk_q4_0_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                           int64_t nr, int64_t nc);
void qtk_q5_0_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                           int64_t nr, int64_t nc);
void qtk_q6_0_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                           int64_t nr, int64_t nc);
void qtk_q8_0_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                           int64_t nr, int64_t nc);
/* Multi-column kernels (qtk_mul_mat_fn) of the legacy 32-blocks, AVX-512 level. */
void qtk_q4_0_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_q5_0_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_q6_0_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_q8_0_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc);
void qtk_q8_0_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_q8_0_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

/* ---- Q8_K activation format (q8_k.c) ----------------------------------- */
void qtk_q8_K_from_float(const float *src, void *dst, int64_t n);
void qtk_q8_K_to_float(const void *row, float *dst, int64_t n);

/* ---- Q8_2 activation format (q8_2.c) ----------------------------------- */
void qtk_q8_2_from_float(const float *src, void *dst, int64_t n);
/* The activation quantizers on AVX2 (act_quant_avx2.c): the same bytes. */
void qtk_q8_0_from_float_avx2(const float *src, void *dst, int64_t n);
void qtk_q8_2_from_float_avx2(const float *src, void *dst, int64_t n);
void qtk_q8_K_from_float_avx2(const float *src, void *dst, int64_t n);
void qtk_f16_from_float_avx2(const float *src, void *dst, int64_t n);
void qtk_q8_2_to_float(const void *row, float *dst, int64_t n);

/* Round-half-to-even of a float, as the reference encoders' magic-number trick. */
/* Inlined whatever the compiler's heuristics say: kernels instantiated per
 * column count rely on it to keep their accumulators in registers. */
#if defined(__GNUC__) || defined(__clang__)
#define QTK_FORCE_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define QTK_FORCE_INLINE static __forceinline
#else
#define QTK_FORCE_INLINE static inline
#endif

/* Fully unrolls the next loop (constant trip count ≤ 16) so arrays indexed
 * by its variable become registers. */
#if defined(__clang__)
#define QTK_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define QTK_UNROLL _Pragma("GCC unroll 16")
#else
#define QTK_UNROLL
#endif

static inline int qtk_nearest_int(float fval) {
    float val = fval + 12582912.0f;
    int i;
    memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

/* Σx²/n over a row in double, in index order: σ² of the imatrix weights
 * imatrix_j·sqrt(σ² + x_j²) (METHODS §1.2) of the 32-block types. */
static inline double qtk_row_mean_sq(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) s += (double)x[j] * (double)x[j];
    return s / (double)n;
}

/* max |x[i]| over n values (n a multiple of 8), as a serial fmaxf(amax,
 * fabsf(x)) loop gives it (a NaN never wins; max is order-free otherwise),
 * but in 8 independent chains: the activation quantizers (Q8_0, Q8_2, Q8_K
 * from_float) run on every batch, and one serial max chain was their
 * bottleneck. */
static inline float qtk_amax8(const float *x, int64_t n) {
    float m[8] = {0};
    for (int64_t i = 0; i < n; i += 8)
        for (int k = 0; k < 8; k++) {
            const float a = fabsf(x[i + k]);
            m[k] = a > m[k] ? a : m[k];
        }
    float r = m[0];
    for (int k = 1; k < 8; k++) r = m[k] > r ? m[k] : r;
    return r;
}

#endif /* QTK_TYPES_INTERNAL_H */
