/*
 * trellis_neon.c — AArch64 NEON dot products of the KT types with Q8_0
 * activations (4 generator lanes per register; byte sums by vdotq_u32 in the
 * dot-product build, pairwise adds otherwise: neon_level.h). Per 32-block
 * integer sums accumulated in float in the scalar kernel's order. The
 * quantizers' chunk scan is in trellis_quant_neon.c.
 */
#include "trellis.h"

#include "simd_neon.h"

#include <arm_neon.h>

static float rd_f32(const void *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

static inline int32x4_t kt_vals4(uint32x4_t x) {
    const uint8x16_t s = vreinterpretq_u8_u32(vandq_u32(x, vdupq_n_u32(0x3F3F3F3Fu)));
#if defined(__ARM_FEATURE_DOTPROD)
    const uint32x4_t sum = vdotq_u32(vdupq_n_u32(0), s, vdupq_n_u8(1));
#else
    const uint32x4_t sum = vpaddlq_u16(vpaddlq_u8(s));
#endif
    return vsubq_s32(vreinterpretq_s32_u32(sum), vdupq_n_s32(126));
}

static inline void kt_vec_dot_neon(int type, float factor, size_t bb, int64_t n, float *s, const void *vx,
                                   const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const float d = rd_f32(p) * factor;
    p += 4;
    const uint32x4_t pw_lo = vld1q_u32(qtk_kt_mul_pow), pw_hi = vld1q_u32(qtk_kt_mul_pow + 4);
    static const uint32_t bits_lo[4] = {1, 2, 4, 8}, bits_hi[4] = {16, 32, 64, 128};
    const uint32x4_t blo = vld1q_u32(bits_lo), bhi = vld1q_u32(bits_hi);
    qtk_kt_sub sub[8];
    float part[8] = {0};
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        qtk_kt_unpack(type, p, sub);
        for (int b = 0; b < 8; b++) {
            const qtk_block_q8_0 *yb = &y[ibl * 8 + b];
            int32x4_t acc = vdupq_n_s32(0);
            for (int q = 0; q < 4; q++) {
                /* 8 activation values, weights 8q .. 8q+7 */
                const int16x8_t a16 = vmovl_s8(vld1_s8(yb->qs + 8 * q));
                const int32x4_t a0 = vmovl_s16(vget_low_s16(a16)), a1 = vmovl_s16(vget_high_s16(a16));
                int32x4_t v0, v1;
                if (type == QTK_TYPE_IQ4_KT) {
                    v0 = kt_vals4(vmulq_u32(vdupq_n_u32(sub[b].seed[2 * q]), pw_lo));
                    v1 = kt_vals4(vmulq_u32(vdupq_n_u32(sub[b].seed[2 * q + 1]), pw_lo));
                } else {
                    const uint32x4_t sd = vdupq_n_u32(sub[b].seed[q]);
                    v0 = kt_vals4(vmulq_u32(sd, pw_lo));
                    v1 = kt_vals4(vmulq_u32(sd, pw_hi));
                    if (type == QTK_TYPE_IQ3_KT) {
                        const uint32x4_t sg = vdupq_n_u32(sub[b].signs >> (8 * q));
                        const int32x4_t m0 = vreinterpretq_s32_u32(vtstq_u32(sg, blo));
                        const int32x4_t m1 = vreinterpretq_s32_u32(vtstq_u32(sg, bhi));
                        v0 = vsubq_s32(veorq_s32(vabsq_s32(v0), m0), m0);
                        v1 = vsubq_s32(veorq_s32(vabsq_s32(v1), m1), m1);
                    }
                }
                acc = vmlaq_s32(acc, v0, a0);
                acc = vmlaq_s32(acc, v1, a1);
            }
            const int32_t isum = vaddvq_s32(acc);
            part[b] += qtk_neon_f16_to_f32(yb->d) * (float)(sub[b].scale * isum);
        }
    }
    *s = d * qtk_kt_sum8(part);
}

void NEON_FN(qtk_iq1_kt_vec_dot)(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_neon(QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1, 56, n, s, x, y);
}
void NEON_FN(qtk_iq2_kt_vec_dot)(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_neon(QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2, 68, n, s, x, y);
}
void NEON_FN(qtk_iq3_kt_vec_dot)(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_neon(QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3, 100, n, s, x, y);
}
void NEON_FN(qtk_iq4_kt_vec_dot)(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_neon(QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4, 128, n, s, x, y);
}
