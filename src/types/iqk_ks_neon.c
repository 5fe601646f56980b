/*
 * iqk_ks_neon.c — AArch64 NEON dot products of the KS types with Q8_K
 * activations (vdotq_s32 when the target has the dot-product extension,
 * widening multiplies otherwise). Super-block sums are exact 32-bit
 * integers, accumulated in float in the scalar kernels' order.
 */
#include "iqk_ks.h"
#include "grids.h"

#include <arm_neon.h>

/* Σ T[q]·y over one sub-block in IQ4_KS byte layout (16 bytes). */
static inline int32_t sub_dot4(uint8x16_t bytes, int8x16_t table, const int8_t *yq) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t v0 = vqtbl1q_s8(table, vandq_u8(bytes, m4));
    const int8x16_t v1 = vqtbl1q_s8(table, vshrq_n_u8(bytes, 4));
    const int8x16_t y0 = vld1q_s8(yq), y1 = vld1q_s8(yq + 16);
#if defined(__ARM_FEATURE_DOTPROD)
    const int32x4_t acc = vdotq_s32(vdotq_s32(vdupq_n_s32(0), v0, y0), v1, y1);
#else
    /* two products per int16 lane at most: <= 2·127·127, no overflow */
    int16x8_t p0 = vmull_s8(vget_low_s8(v0), vget_low_s8(y0));
    p0 = vmlal_s8(p0, vget_high_s8(v0), vget_high_s8(y0));
    int16x8_t p1 = vmull_s8(vget_low_s8(v1), vget_low_s8(y1));
    p1 = vmlal_s8(p1, vget_high_s8(v1), vget_high_s8(y1));
    const int32x4_t acc = vpadalq_s16(vpaddlq_s16(p0), p1);
#endif
    return vaddvq_s32(acc);
}

void qtk_iq4_ks_vec_dot_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    const int8x16_t tabs[2] = {vld1q_s8(qtk_iq4nl_values), vld1q_s8(qtk_iq4nl_values + 16)};
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 136) {
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++)
            isum += ((p[ib] & 0xFE) - 127) * sub_dot4(vld1q_u8(p + 8 + 16 * ib), tabs[p[ib] & 1], y[ibl].qs + 32 * ib);
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}

void qtk_iq4_kss_vec_dot_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    const int8x16_t tabs[2] = {vld1q_s8(qtk_iq4nl_values), vld1q_s8(qtk_iq4nl_values + 16)};
    static const uint16_t bitw[8] = {1, 2, 4, 8, 16, 32, 64, 128};
    const uint16x8_t bw = vld1q_u16(bitw), one = vdupq_n_u16(1), mfe = vdupq_n_u16(0xFFFE);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 128) {
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            /* byte loads: rows may be unaligned */
            const uint16x8_t u = vreinterpretq_u16_u8(vld1q_u8(p + 16 * ib));
            const int sb = (int)vaddvq_u16(vmulq_u16(vandq_u16(u, one), bw));
            const uint16x8_t a = vandq_u16(u, mfe);
            const uint8x16_t bytes = vreinterpretq_u8_u16(veorq_u16(a, vshrq_n_u16(a, 1)));
            isum += ((sb & 0xFE) - 127) * sub_dot4(bytes, tabs[sb & 1], y[ibl].qs + 32 * ib);
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}
