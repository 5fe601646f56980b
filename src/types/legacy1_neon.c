/*
 * legacy1_neon.c — AArch64 NEON dot products of Q4_1/Q5_1 (with Q8_2) and
 * MXFP4 (with Q8_0). Each block's integer sum is exact (SDOT in the dot-product
 * build, neon_level.h; else 8×8→16-bit products pairwise-widened into 32 bits) and the
 * blocks are combined in the scalar kernels' order with the same float
 * operations, so results match legacy1.c bit for bit.
 */
#include "legacy1.h"

#include "simd_neon.h"

#include <arm_neon.h>

/* Exact Σ x·y over 32 signed bytes given as two 16-byte halves. */
static inline int32_t dot32(int8x16_t x0, int8x16_t x1, int8x16_t y0, int8x16_t y1) {
    return vaddvq_s32(qtk_neon_dot32(x0, y0, x1, y1));
}

/* The scalar kernel's block term: isum·(d_x·d_y) + sum_y·(m_x·d_y), in double. */
static inline double type1_term(int32_t isum, const void *dx, const void *mx, const qtk_block_q8_2 *y) {
    const float dy = qtk_neon_load_f16(&y->d);
    int16_t sy;
    memcpy(&sy, &y->sum, 2);
    return (double)isum * (double)(qtk_neon_load_f16(dx) * dy) + (double)sy * (double)(qtk_neon_load_f16(mx) * dy);
}

void NEON_FN(qtk_q4_1_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q4_1 *x = (const qtk_block_q4_1 *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / 32; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F)));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        const int32_t isum = dot32(lo, hi, vld1q_s8(y[i].qs), vld1q_s8(y[i].qs + 16));
        sum += type1_term(isum, &x[i].d, &x[i].m, &y[i]);
    }
    *s = (float)sum;
}

void NEON_FN(qtk_q5_1_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q5_1 *x = (const qtk_block_q5_1 *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bm = vld1q_u8(bits), b4 = vdupq_n_u8(0x10);
    double sum = 0.0;
    for (int64_t i = 0; i < n / 32; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        const uint8x16_t v0 = vcombine_u8(vdup_n_u8((uint8_t)qh), vdup_n_u8((uint8_t)(qh >> 8)));
        const uint8x16_t v1 = vcombine_u8(vdup_n_u8((uint8_t)(qh >> 16)), vdup_n_u8((uint8_t)(qh >> 24)));
        const uint8x16_t h0 = vandq_u8(vtstq_u8(v0, bm), b4), h1 = vandq_u8(vtstq_u8(v1, bm), b4);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), h0));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), h1));
        const int32_t isum = dot32(lo, hi, vld1q_s8(y[i].qs), vld1q_s8(y[i].qs + 16));
        sum += type1_term(isum, &x[i].d, &x[i].m, &y[i]);
    }
    *s = (float)sum;
}

void NEON_FN(qtk_mxfp4_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const int8x16_t tab = vld1q_s8(qtk_kvalues_mxfp4);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / 32; i++, x += sizeof(qtk_block_mxfp4)) {
        const uint8x16_t q = vld1q_u8(x + 1);
        const int8x16_t lo = vqtbl1q_s8(tab, vandq_u8(q, vdupq_n_u8(0x0F)));
        const int8x16_t hi = vqtbl1q_s8(tab, vshrq_n_u8(q, 4));
        const int32_t isum = dot32(lo, hi, vld1q_s8(y[i].qs), vld1q_s8(y[i].qs + 16));
        uint16_t h;
        memcpy(&h, &y[i].d, 2);
        sum += (float)isum * (qtk_mxfp4_scale(x[0]) * qtk_neon_f16_to_f32(h));
    }
    *s = sum;
}
