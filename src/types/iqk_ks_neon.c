/*
 * iqk_ks_neon.c — AArch64 NEON dot products of the KS types with Q8_K
 * activations (vdotq_s32 in the dot-product build, neon_level.h;
 * widening multiplies otherwise). Super-block sums are exact 32-bit
 * integers, accumulated in float in the scalar kernels' order.
 */
#include "iqk_ks.h"
#include "grids.h"

#include "simd_neon.h"

#include <arm_neon.h>

/* Σ v·y over one sub-block: v0 = grid values of weights 0..15, v1 of 16..31. */
static inline int32_t dot_vals(int8x16_t v0, int8x16_t v1, const int8_t *yq) {
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

/* Σ T[q]·y over one sub-block in IQ4_KS byte layout (16 bytes). */
static inline int32_t sub_dot4(uint8x16_t bytes, int8x16_t table, const int8_t *yq) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    return dot_vals(vqtbl1q_s8(table, vandq_u8(bytes, m4)), vqtbl1q_s8(table, vshrq_n_u8(bytes, 4)), yq);
}

void NEON_FN(qtk_iq4_ks_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
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

/* Σ v·y over one sub-block as 4 int32 partial sums (no horizontal add). */
static inline int32x4_t kss_dot4(int8x16_t v0, int8x16_t v1, const int8_t *yq) {
    const int8x16_t y0 = vld1q_s8(yq), y1 = vld1q_s8(yq + 16);
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), v0, y0), v1, y1);
#else
    int16x8_t p0 = vmull_s8(vget_low_s8(v0), vget_low_s8(y0));
    p0 = vmlal_high_s8(p0, v0, y0);
    int16x8_t p1 = vmull_s8(vget_low_s8(v1), vget_low_s8(y1));
    p1 = vmlal_high_s8(p1, v1, y1);
    return vpadalq_s16(vpaddlq_s16(p0), p1);
#endif
}

/* Σ T[q]·y (base grid) of one IQ4_KSS sub-block from its raw words, as 4
 * partial sums: v = (u & ~1) ^ (u >> 1) are its IQ4_KS-layout bytes. */
static inline int32x4_t kss_sub(uint16x8_t u, const int8_t *yq, int8x16_t table) {
    const uint16x8_t a = vandq_u16(u, vdupq_n_u16(0xFFFE));
    const uint8x16_t v = vreinterpretq_u8_u16(veorq_u16(a, vshrq_n_u16(a, 1)));
    return kss_dot4(vqtbl1q_s8(table, vandq_u8(v, vdupq_n_u8(0x0F))), vqtbl1q_s8(table, vshrq_n_u8(v, 4)), yq);
}

/* IQ4_KSS: all 8 scale bytes of a super-block at once (bit 0 of the words'
 * low bytes, word k weighted 2^k, pairwise sums), one multiply-accumulate by
 * lane per sub-block and one horizontal add per super-block; the shifted
 * grid (= base + 4) is added back as 4·S·Σy from the Q8_K block sums. */
void NEON_FN(qtk_iq4_kss_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    const int8x16_t table = vld1q_s8(qtk_iq4nl_values);
    static const uint8_t bitw[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bw = vld1q_u8(bitw), one8 = vdupq_n_u8(1);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 128) {
        /* byte loads: rows may be unaligned */
        uint16x8_t u[8];
        for (int ib = 0; ib < 8; ib++) u[ib] = vreinterpretq_u16_u8(vld1q_u8(p + 16 * ib));
        /* bit 0 of word k of sub-block b is bit k of scale byte b */
        uint8x16_t m[4];
        for (int i = 0; i < 4; i++) {
            const uint8x16_t lo8 = vuzp1q_u8(vreinterpretq_u8_u16(u[2 * i]), vreinterpretq_u8_u16(u[2 * i + 1]));
            m[i] = vandq_u8(vtstq_u8(lo8, one8), bw);
        }
        const uint8x16_t q = vpaddq_u8(vpaddq_u8(m[0], m[1]), vpaddq_u8(m[2], m[3]));
        const uint8x8_t sb = vget_low_u8(vpaddq_u8(q, q)); /* disjoint bits: the sums are the bytes */
        const int16x8_t S16 = vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(vand_u8(sb, vdup_n_u8(0xFE)))), vdupq_n_s16(127));
        const int32x4_t S0 = vmovl_s16(vget_low_s16(S16)), S1 = vmovl_high_s16(S16);
        const int8_t *yq = y[ibl].qs;
        /* shifted grid: 4 · S_b·shift_b · Σy_b, Σy_b from adjacent bsums pairs */
        const int16x8_t Ssh = vmulq_s16(S16, vreinterpretq_s16_u16(vmovl_u8(vand_u8(sb, vdup_n_u8(1)))));
        const int16x8_t ys = vpaddq_s16(vld1q_s16(y[ibl].bsums), vld1q_s16(y[ibl].bsums + 8));
        int32x4_t corr = vmull_s16(vget_low_s16(Ssh), vget_low_s16(ys));
        corr = vmlal_high_s16(corr, Ssh, ys);
        int32x4_t acc = vshlq_n_s32(corr, 2);
        acc = vmlaq_laneq_s32(acc, kss_sub(u[0], yq, table), S0, 0);
        acc = vmlaq_laneq_s32(acc, kss_sub(u[1], yq + 32, table), S0, 1);
        acc = vmlaq_laneq_s32(acc, kss_sub(u[2], yq + 64, table), S0, 2);
        acc = vmlaq_laneq_s32(acc, kss_sub(u[3], yq + 96, table), S0, 3);
        acc = vmlaq_laneq_s32(acc, kss_sub(u[4], yq + 128, table), S1, 0);
        acc = vmlaq_laneq_s32(acc, kss_sub(u[5], yq + 160, table), S1, 1);
        acc = vmlaq_laneq_s32(acc, kss_sub(u[6], yq + 192, table), S1, 2);
        acc = vmlaq_laneq_s32(acc, kss_sub(u[7], yq + 224, table), S1, 3);
        sumf += y[ibl].d * (float)vaddvq_s32(acc);
    }
    *s = d * sumf;
}

/* ---- IQ5_KS, IQ3_KS, IQ2_KS, IQ2_KL --------------------------------------------- */

void NEON_FN(qtk_iq5_ks_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    int8x16x2_t tab[2];
    for (int g = 0; g < 2; g++) {
        tab[g].val[0] = vld1q_s8(qtk_iq5nl_values + 32 * g);
        tab[g].val[1] = vld1q_s8(qtk_iq5nl_values + 32 * g + 16);
    }
    const uint8x16_t m4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 168) {
        const uint8x16_t h0 = vld1q_u8(p + 136), h1 = vld1q_u8(p + 152);
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *qs = p + 8 + 32 * (ib / 2);
            const int8x16_t sh = vdupq_n_s8((int8_t)(-4 * (ib % 2))), hs = vdupq_n_s8((int8_t)-ib);
            /* index = nibble | (bit ib of qh) << 4 */
            const uint8x16_t i0 = vorrq_u8(vandq_u8(vshlq_u8(vld1q_u8(qs), sh), m4),
                                           vshlq_n_u8(vandq_u8(vshlq_u8(h0, hs), one), 4));
            const uint8x16_t i1 = vorrq_u8(vandq_u8(vshlq_u8(vld1q_u8(qs + 16), sh), m4),
                                           vshlq_n_u8(vandq_u8(vshlq_u8(h1, hs), one), 4));
            const int8x16x2_t t = tab[p[ib] & 1];
            isum += ((p[ib] & 0xFE) - 127) * dot_vals(vqtbl2q_s8(t, i0), vqtbl2q_s8(t, i1), y[ibl].qs + 32 * ib);
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}

void NEON_FN(qtk_iq3_ks_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint16_t dh;
    memcpy(&dh, p, 2);
    const float d = qtk_neon_f16_to_f32(dh);
    p += 2;
    const int8x16_t tab = vld1q_s8(qtk_iq3nl_values); /* base 0..7, shifted 8..15 */
    const uint8x16_t m3 = vdupq_n_u8(3), one = vdupq_n_u8(1);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 102) {
        uint16_t extra;
        memcpy(&extra, p, 2);
        const uint8x16_t h0 = vld1q_u8(p + 70), h1 = vld1q_u8(p + 86);
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *qs = p + 6 + 32 * (ib / 4);
            const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * (ib % 4))), hs = vdupq_n_s8((int8_t)-ib);
            const uint8x16_t gsel = vdupq_n_u8((uint8_t)(((extra >> (8 + ib)) & 1) << 3));
            const uint8x16_t i0 = vorrq_u8(vorrq_u8(vandq_u8(vshlq_u8(vld1q_u8(qs), sh), m3),
                                                    vshlq_n_u8(vandq_u8(vshlq_u8(h0, hs), one), 2)), gsel);
            const uint8x16_t i1 = vorrq_u8(vorrq_u8(vandq_u8(vshlq_u8(vld1q_u8(qs + 16), sh), m3),
                                                    vshlq_n_u8(vandq_u8(vshlq_u8(h1, hs), one), 2)), gsel);
            const int ls = ((p[2 + ib % 4] >> (4 * (ib / 4))) & 0xF) | (((extra >> ib) & 1) << 4);
            isum += (ls - 16) * dot_vals(vqtbl1q_s8(tab, i0), vqtbl1q_s8(tab, i1), y[ibl].qs + 32 * ib);
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}

void NEON_FN(qtk_iq2_ks_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint16_t dh;
    memcpy(&dh, p, 2);
    const float d = qtk_neon_f16_to_f32(dh);
    p += 2;
    int8_t t16[16] = {0};
    memcpy(t16, qtk_iq2nl_values, 8);
    const int8x16_t tab = vld1q_s8(t16); /* base 0..3, shifted 4..7 */
    const uint8x16_t m3 = vdupq_n_u8(3);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 70) {
        uint16_t extra;
        memcpy(&extra, p, 2);
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *qs = p + 6 + 32 * (ib / 4);
            const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * (ib % 4)));
            const uint8x16_t gsel = vdupq_n_u8((uint8_t)(((extra >> ib) & 1) << 2));
            const uint8x16_t i0 = vorrq_u8(vandq_u8(vshlq_u8(vld1q_u8(qs), sh), m3), gsel);
            const uint8x16_t i1 = vorrq_u8(vandq_u8(vshlq_u8(vld1q_u8(qs + 16), sh), m3), gsel);
            const int ls = ((p[2 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((extra >> (8 + ib)) & 1) << 4);
            isum += (ls - 16) * dot_vals(vqtbl1q_s8(tab, i0), vqtbl1q_s8(tab, i1), y[ibl].qs + 32 * ib);
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}

void NEON_FN(qtk_iq2_kl_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint16_t dh;
    memcpy(&dh, p, 2);
    const float d = qtk_neon_f16_to_f32(dh);
    p += 2;
    int8_t c[2][32];
    for (int k = 0; k < 32; k++) c[0][k] = qtk_iq2kl_grid[k][0], c[1][k] = qtk_iq2kl_grid[k][1];
    int8x16x2_t t0, t1; /* first / second coordinates of the 32 grid points */
    t0.val[0] = vld1q_s8(c[0]);
    t0.val[1] = vld1q_s8(c[0] + 16);
    t1.val[0] = vld1q_s8(c[1]);
    t1.val[1] = vld1q_s8(c[1] + 16);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 86) {
        uint16_t shl;
        memcpy(&shl, p, 2);
        const uint8x16_t qh = vld1q_u8(p + 70);
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const int8x16_t sh = vdupq_n_s8((int8_t)(-4 * (ib % 2))), hs = vdupq_n_s8((int8_t)-ib);
            const uint8x16_t idx = vorrq_u8(vandq_u8(vshlq_u8(vld1q_u8(p + 6 + 16 * (ib / 2)), sh), m4),
                                            vshlq_n_u8(vandq_u8(vshlq_u8(qh, hs), one), 4));
            const int8x16_t g0 = vqtbl2q_s8(t0, idx), g1 = vqtbl2q_s8(t1, idx);
            const int ls = ((p[2 + ib % 4] >> (4 * (ib / 4))) & 0xF) | (((shl >> (2 * ib)) & 3) << 4);
            isum += (ls - 32) * dot_vals(vzip1q_s8(g0, g1), vzip2q_s8(g0, g1), y[ibl].qs + 32 * ib);
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}
