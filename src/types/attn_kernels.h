/*
 * attn_kernels.h — the two inner loops of attention (src/model/attention.c
 * drives them): a block of cached keys against up to QTK_ATTN_MAX_ROWS query
 * rows (q·k), and the probability-weighted sum of the block's values (p·V).
 * Keys and values are F16 or F32 rows of hd elements, back to back (one KV
 * head's positions); queries, scores and outputs are F32.
 *
 * Precision: F16 keys/values are widened to F32 exactly (vcvtph2ps / fcvtl)
 * and every product is accumulated in F32 with FMA; the query stays F32.
 * (llama.cpp rounds q, and the softmax weights, to F16 before its F16
 * products; we do not: it would save nothing here and adds error.)
 *
 * Also the FFN's SwiGLU gate, which shares the softmax's exp polynomial.
 *
 * Row independence: the value computed for one row depends only on that
 * row's inputs, never on nr, on the other rows or on which ISA row group it
 * falls in (each row has its own accumulators with a fixed order), so the
 * caller may tile rows any way without changing a bit of the result.
 */
#ifndef QTK_ATTN_KERNELS_H
#define QTK_ATTN_KERNELS_H

#include "types_internal.h"

#define QTK_ATTN_MAX_ROWS 8

/* s[r*s_stride + j] = q[r] · k_j for r < nr (<= QTK_ATTN_MAX_ROWS), j < nk;
 * k_j = the j-th row of hd elements at k. */
typedef void (*qtk_attn_qk_fn)(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s,
                               int64_t s_stride);
/* o[r][d] += sum over j < nk of p[r*p_stride + j] * v_j[d] (j in order). */
typedef void (*qtk_attn_pv_fn)(int64_t hd, int nr, const float *p, int64_t p_stride, int64_t nk, const void *v,
                               float *const *o);

/* Softmax helpers on one row's visible scores: scale_max multiplies the n
 * scores by scale and returns their maximum (exact on every level);
 * exp_sum replaces each s by exp(s - m) (m >= every s) and returns their
 * sum. The SIMD levels use a Cephes-style polynomial (max relative error
 * about 2 ulp; exp(x) = 0 below x = -87.3) instead of libm's expf. */
typedef float (*qtk_attn_scale_max_fn)(int64_t n, float *s, float scale);
typedef float (*qtk_attn_exp_sum_fn)(int64_t n, float *s, float m);

/* SwiGLU: gate[i] = silu(gate[i]) · up[i] = gate[i] / (1 + exp(−gate[i])) · up[i]
 * for i < n, in that order of operations. The scalar level calls libm's expf;
 * the SIMD levels use the polynomial above with its argument capped at 88
 * (2^127 stays a normal float) and give 0 for gate < −88 (where the product
 * is below 6e-37·|up|): within a few ulp of silu in double (test_attention). */
typedef void (*qtk_swiglu_fn)(int64_t n, float *gate, const float *up);

/* Kernels of one ISA level for keys of type kt and values of type vt
 * (QTK_TYPE_F16 or QTK_TYPE_F32); NULL when that level has none, or it is
 * not compiled in / not available on this CPU. */
qtk_attn_qk_fn qtk_attn_qk_get(int kt, int isa);
qtk_attn_pv_fn qtk_attn_pv_get(int vt, int isa);
qtk_attn_scale_max_fn qtk_attn_scale_max_get(int isa);
qtk_attn_exp_sum_fn qtk_attn_exp_sum_get(int isa);
qtk_swiglu_fn qtk_swiglu_get(int isa);
/* The widest available level (under the qtk_set_max_isa cap). */
qtk_attn_qk_fn qtk_attn_qk_best(int kt);
qtk_attn_pv_fn qtk_attn_pv_best(int vt);
qtk_attn_scale_max_fn qtk_attn_scale_max_best(void);
qtk_attn_exp_sum_fn qtk_attn_exp_sum_best(void);
qtk_swiglu_fn qtk_swiglu_best(void);

/* Per-ISA entry points (attn_kernels_<isa>.c). */
void qtk_attn_qk_f16_scalar(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s, int64_t ss);
void qtk_attn_qk_f32_scalar(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s, int64_t ss);
void qtk_attn_pv_f16_scalar(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v, float *const *o);
void qtk_attn_pv_f32_scalar(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v, float *const *o);
void qtk_attn_qk_f16_avx2(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s, int64_t ss);
void qtk_attn_qk_f32_avx2(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s, int64_t ss);
void qtk_attn_pv_f16_avx2(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v, float *const *o);
void qtk_attn_pv_f32_avx2(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v, float *const *o);
void qtk_attn_qk_f16_avx512(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s, int64_t ss);
void qtk_attn_qk_f32_avx512(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s, int64_t ss);
void qtk_attn_pv_f16_avx512(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v, float *const *o);
void qtk_attn_pv_f32_avx512(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v, float *const *o);
void qtk_attn_qk_f16_neon(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s, int64_t ss);
void qtk_attn_qk_f32_neon(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s, int64_t ss);
void qtk_attn_pv_f16_neon(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v, float *const *o);
void qtk_attn_pv_f32_neon(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v, float *const *o);
float qtk_attn_scale_max_scalar(int64_t n, float *s, float scale);
float qtk_attn_exp_sum_scalar(int64_t n, float *s, float m);
void qtk_swiglu_scalar(int64_t n, float *gate, const float *up);
float qtk_attn_scale_max_avx2(int64_t n, float *s, float scale);
float qtk_attn_exp_sum_avx2(int64_t n, float *s, float m);
void qtk_swiglu_avx2(int64_t n, float *gate, const float *up);
float qtk_attn_scale_max_avx512(int64_t n, float *s, float scale);
float qtk_attn_exp_sum_avx512(int64_t n, float *s, float m);
void qtk_swiglu_avx512(int64_t n, float *gate, const float *up);
float qtk_attn_scale_max_neon(int64_t n, float *s, float scale);
float qtk_attn_exp_sum_neon(int64_t n, float *s, float m);
void qtk_swiglu_neon(int64_t n, float *gate, const float *up);

/* Calls call(N) with the row count nr as a compile-time constant 1..8 (the
 * SIMD kernels keep per-row accumulators in registers). */
#define ATTN_BY_ROWS(call)                                                                                  \
    switch (nr) {                                                                                           \
    case 1: call(1); break;                                                                                 \
    case 2: call(2); break;                                                                                 \
    case 3: call(3); break;                                                                                 \
    case 4: call(4); break;                                                                                 \
    case 5: call(5); break;                                                                                 \
    case 6: call(6); break;                                                                                 \
    case 7: call(7); break;                                                                                 \
    default: call(8); break;                                                                                \
    }

#endif
