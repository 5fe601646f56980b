/*
 * legacy_neon.c — AArch64 NEON dot products of Q4_0/Q5_0/Q6_0/Q8_0 weights
 * with Q8_0 activations. Each block's integer sum is exact (8×8→16-bit
 * products, pairwise-widened into 32 bits; or SDOT in the dot-product build,
 * neon_level.h) and blocks are combined in the scalar kernels'
 * order, so results match legacy.c bit for bit.
 */
#include "types_internal.h"

#include "simd_neon.h"

#include <arm_neon.h>

/* Exact Σ x·y over 32 signed bytes given as two 16-byte halves. */
static inline int32_t dot32(int8x16_t x0, int8x16_t x1, int8x16_t y0, int8x16_t y1) {
    return vaddvq_s32(qtk_neon_dot32(x0, y0, x1, y1));
}

static inline float block_scale(const void *dx, const void *dy) {
    return qtk_neon_load_f16(dx) * qtk_neon_load_f16(dy);
}

/* Levels minus nmax as signed bytes: weights 0..15 in *lo, 16..31 in *hi. */
static inline void signed_levels(const uint8_t *qs, uint8x16_t h0, uint8x16_t h1, int nmax, int8x16_t *lo,
                                 int8x16_t *hi) {
    const uint8x16_t q = vld1q_u8(qs);
    const uint8x16_t l = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), h0);
    const uint8x16_t u = vorrq_u8(vshrq_n_u8(q, 4), h1);
    *lo = vsubq_s8(vreinterpretq_s8_u8(l), vdupq_n_s8((int8_t)nmax));
    *hi = vsubq_s8(vreinterpretq_s8_u8(u), vdupq_n_s8((int8_t)nmax));
}

/* Levels minus 8 as signed bytes, exact block sum, scalar-order accumulation. */
void NEON_FN(qtk_q4_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q4_0 *x = (const qtk_block_q4_0 *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const uint8x16_t z = vdupq_n_u8(0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int8x16_t lo, hi;
        signed_levels(x[i].qs, z, z, 8, &lo, &hi);
        const int32_t isum = dot32(lo, hi, vld1q_s8(y[i].qs), vld1q_s8(y[i].qs + 16));
        sum += (float)isum * block_scale(&x[i].d, &y[i].d);
    }
    *s = sum;
}

/* As Q4_0, fifth bits from qh by per-byte bit tests. */
void NEON_FN(qtk_q5_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q5_0 *x = (const qtk_block_q5_0 *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bm = vld1q_u8(bits), b4 = vdupq_n_u8(0x10);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        /* byte j of h0 tests bit j of qh, byte j of h1 bit j+16 */
        const uint8x16_t v0 = vcombine_u8(vdup_n_u8((uint8_t)qh), vdup_n_u8((uint8_t)(qh >> 8)));
        const uint8x16_t v1 = vcombine_u8(vdup_n_u8((uint8_t)(qh >> 16)), vdup_n_u8((uint8_t)(qh >> 24)));
        const uint8x16_t h0 = vandq_u8(vtstq_u8(v0, bm), b4), h1 = vandq_u8(vtstq_u8(v1, bm), b4);
        int8x16_t lo, hi;
        signed_levels(x[i].qs, h0, h1, 16, &lo, &hi);
        const int32_t isum = dot32(lo, hi, vld1q_s8(y[i].qs), vld1q_s8(y[i].qs + 16));
        sum += (float)isum * block_scale(&x[i].d, &y[i].d);
    }
    *s = sum;
}

/* As Q4_0, high bit pairs from qh by shifts of its 8 bytes. */
void NEON_FN(qtk_q6_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q6_0 *x = (const qtk_block_q6_0 *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const uint8x8_t m3 = vdup_n_u8(3);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK6_0; i++) {
        /* weights 0-7, 8-15, 16-23, 24-31 take bits 0-1, 4-5, 2-3, 6-7 of qh[j%8] */
        const uint8x8_t h = vld1_u8(x[i].qh);
        const uint8x16_t h0 = vshlq_n_u8(vcombine_u8(vand_u8(h, m3), vand_u8(vshr_n_u8(h, 4), m3)), 4);
        const uint8x16_t h1 = vshlq_n_u8(vcombine_u8(vand_u8(vshr_n_u8(h, 2), m3), vshr_n_u8(h, 6)), 4);
        int8x16_t lo, hi;
        signed_levels(x[i].qs, h0, h1, 32, &lo, &hi);
        const int32_t isum = dot32(lo, hi, vld1q_s8(y[i].qs), vld1q_s8(y[i].qs + 16));
        sum += (float)isum * block_scale(&x[i].d, &y[i].d);
    }
    *s = sum;
}

/* Exact block sums of int8 products, scalar-order accumulation. */
void NEON_FN(qtk_q8_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q8_0 *x = (const qtk_block_q8_0 *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const int32_t isum = dot32(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs),
                                   vld1q_s8(y[i].qs + 16));
        sum += (float)isum * block_scale(&x[i].d, &y[i].d);
    }
    *s = sum;
}
