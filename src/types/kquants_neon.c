/*
 * kquants_neon.c — NEON (aarch64) dot products: Q2_K/Q3_K weights with Q8_K activations,
 * Q4_K/Q5_K with Q8_2, Q6_K with Q8_0. Int8 levels times int8 activations are widened
 * exactly (vmull_s8 → int16, pairwise-added into int32; or vdotq_s32 in the
 * dot-product build, neon_level.h), scaled per sub-block in 32-bit lanes.
 * Q2_K/Q3_K: offsets and mins go through the Q8_K bsums, so every block's integer sums
 * and the double-precision combination equal the scalar kernel's. Q4_K/Q5_K/Q6_K: the
 * int32 sums of each 32-value activation block equal the scalar kernel's; they are
 * scaled in float per block and summed in double.
 */
#include "kquants.h"

#include "simd_neon.h"

#include <arm_neon.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* int32 lanes of Σ u·y over 16 weights (u unsigned ≤ 63, so its int8 view is exact). */
static inline int32x4_t dot16(uint8x16_t u, int8x16_t y) { return qtk_neon_dot16(vreinterpretq_s8_u8(u), y); }

/* Per-byte logical right shift by a run-time count. */
static inline uint8x16_t shr(uint8x16_t v, int k) { return vshlq_u8(v, vdupq_n_s8((int8_t)-k)); }

void NEON_FN(qtk_q2_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q2_K *x = (const qtk_block_q2_K *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const uint8x16_t m3 = vdupq_n_u8(3);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            for (int j = 0; j < 4; j++) {
                const int sb = 8 * h + 2 * j;
                const int8_t *q8 = y[i].qs + 128 * h + 32 * j;
                acc = vmlaq_n_s32(acc, dot16(vandq_u8(shr(q0, 2 * j), m3), vld1q_s8(q8)), x[i].scales[sb] & 15);
                acc = vmlaq_n_s32(acc, dot16(vandq_u8(shr(q1, 2 * j), m3), vld1q_s8(q8 + 16)), x[i].scales[sb + 1] & 15);
            }
        }
        int msum = 0;
        for (int sb = 0; sb < 16; sb++) msum += (x[i].scales[sb] >> 4) * y[i].bsums[sb];
        const int isum = vaddvq_s32(acc);
        sum += (double)y[i].d * ((double)qtk_neon_load_f16(&x[i].d) * isum - (double)qtk_neon_load_f16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void NEON_FN(qtk_q3_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q3_K *x = (const qtk_block_q3_K *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const uint8x16_t m3 = vdupq_n_u8(3), m1 = vdupq_n_u8(1);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        qtk_kq_unpack_q3_scales(x[i].scales, sc);
        const uint8x16_t hm[2] = {vld1q_u8(x[i].hmask), vld1q_u8(x[i].hmask + 16)};
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q[2] = {vld1q_u8(x[i].qs + 32 * h), vld1q_u8(x[i].qs + 32 * h + 16)};
            for (int j = 0; j < 4; j++) {
                for (int half = 0; half < 2; half++) {
                    const uint8x16_t q2 = vandq_u8(shr(q[half], 2 * j), m3);
                    const uint8x16_t hb = vandq_u8(shr(hm[half], 4 * h + j), m1);
                    const uint8x16_t u = vorrq_u8(q2, vshlq_n_u8(hb, 2)); /* value + 4 */
                    const int8_t *q8 = y[i].qs + 128 * h + 32 * j + 16 * half;
                    acc = vmlaq_n_s32(acc, dot16(u, vld1q_s8(q8)), sc[8 * h + 2 * j + half]);
                }
            }
        }
        int off = 0;
        for (int sb = 0; sb < 16; sb++) off += sc[sb] * y[i].bsums[sb];
        const int isum = vaddvq_s32(acc) - 4 * off;
        sum += (double)y[i].d * (double)qtk_neon_load_f16(&x[i].d) * isum;
    }
    *s = (float)sum;
}

/* Lane k of the result = Σ of the 4 lanes of r[k] (k = 0…3). */
static inline int32x4_t hsum4x4(const int32x4_t *r) {
    return vpaddq_s32(vpaddq_s32(r[0], r[1]), vpaddq_s32(r[2], r[3]));
}

/* Adds the 4 float lanes of v to the double accumulator. */
static inline float64x2_t acc_f64(float64x2_t acc, float32x4_t v) {
    return vaddq_f64(vaddq_f64(acc, vcvt_f64_f32(vget_low_f32(v))), vcvt_high_f64_f32(v));
}

/* a·isum − b·ysum rounded once (the two often nearly cancel): a·isum is exact inside the
 * FMA, b·ysum is split into its rounded value and exact error. */
static inline float32x4_t type1_combine(float32x4_t a, float32x4_t isum, float32x4_t b, float32x4_t ysum) {
    const float32x4_t p = vmulq_f32(b, ysum);
    const float32x4_t e = vfmaq_f32(vnegq_f32(p), b, ysum);
    return vsubq_f32(vfmaq_f32(vnegq_f32(p), a, isum), e);
}

/* Q4_K (qh == NULL) and Q5_K block × its 8 Q8_2 blocks, Σ_sub dy·(d·sc·Σq·qs − dmin·m·Σqs)
 * (integer sums exact, as the scalar kernel's) added to acc. */
static inline float64x2_t type1_block_neon(float64x2_t acc, const uint8_t *scales12, float d, float dmin,
                                           const uint8_t *qs, const uint8_t *qh, const qtk_block_q8_2 *y) {
    uint8_t sc[8], m[8];
    qtk_kq_unpack_scales_min(scales12, sc, m);
    const uint8x16_t m4 = vdupq_n_u8(15), m1 = vdupq_n_u8(1);
    uint8x16_t hv[2] = {vdupq_n_u8(0), vdupq_n_u8(0)};
    if (qh) {
        hv[0] = vld1q_u8(qh);
        hv[1] = vld1q_u8(qh + 16);
    }
    int32x4_t r[8];
    for (int c = 0; c < 4; c++) {
        int32x4_t rl = vdupq_n_s32(0), rh = vdupq_n_s32(0);
        for (int half = 0; half < 2; half++) {
            const uint8x16_t qv = vld1q_u8(qs + 32 * c + 16 * half);
            uint8x16_t lo = vandq_u8(qv, m4), hi = vshrq_n_u8(qv, 4);
            if (qh) {
                lo = vorrq_u8(lo, vshlq_n_u8(vandq_u8(shr(hv[half], 2 * c), m1), 4));
                hi = vorrq_u8(hi, vshlq_n_u8(vandq_u8(shr(hv[half], 2 * c + 1), m1), 4));
            }
            rl = vaddq_s32(rl, dot16(lo, vld1q_s8(y[2 * c].qs + 16 * half)));
            rh = vaddq_s32(rh, dot16(hi, vld1q_s8(y[2 * c + 1].qs + 16 * half)));
        }
        r[2 * c] = rl;
        r[2 * c + 1] = rh;
    }
    float a[8], b[8], dy[8], ys[8];
    for (int k = 0; k < 8; k++) {
        int16_t sum;
        memcpy(&sum, &y[k].sum, 2);
        dy[k] = qtk_neon_load_f16(&y[k].d);
        ys[k] = (float)sum;
        a[k] = d * (float)sc[k]; /* exact: 11 × 6 bits */
        b[k] = dmin * (float)m[k];
    }
    for (int g = 0; g < 2; g++) {
        const float32x4_t isum = vcvtq_f32_s32(hsum4x4(r + 4 * g));
        const float32x4_t inner = type1_combine(vld1q_f32(a + 4 * g), isum, vld1q_f32(b + 4 * g), vld1q_f32(ys + 4 * g));
        acc = acc_f64(acc, vmulq_f32(vld1q_f32(dy + 4 * g), inner));
    }
    return acc;
}

void NEON_FN(qtk_q4_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q4_K *x = (const qtk_block_q4_K *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    float64x2_t acc = vdupq_n_f64(0.0);
    for (int64_t i = 0; i < n / QK_K; i++)
        acc = type1_block_neon(acc, x[i].scales, qtk_neon_load_f16(&x[i].d), qtk_neon_load_f16(&x[i].dmin), x[i].qs, NULL,
                               y + 8 * i);
    *s = (float)vaddvq_f64(acc);
}

void NEON_FN(qtk_q5_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q5_K *x = (const qtk_block_q5_K *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    float64x2_t acc = vdupq_n_f64(0.0);
    for (int64_t i = 0; i < n / QK_K; i++)
        acc = type1_block_neon(acc, x[i].scales, qtk_neon_load_f16(&x[i].d), qtk_neon_load_f16(&x[i].dmin), x[i].qs, x[i].qh,
                               y + 8 * i);
    *s = (float)vaddvq_f64(acc);
}

/* Q6_K × Q8_0: signed levels q − 32 (int8) times the activations, exact int32 per Q8_0
 * block (Σ over its two 16-weight sub-blocks of sc·Σ), scaled by d·d_y in float. */
void NEON_FN(qtk_q6_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q6_K *x = (const qtk_block_q6_K *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    float64x2_t acc = vdupq_n_f64(0.0);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const qtk_block_q8_0 *yb = y + 8 * i;
        const int8_t *sc = x[i].scales;
        int32x4_t r[8];
        for (int h = 0; h < 2; h++) {
            const uint8x16_t ql[4] = {vld1q_u8(x[i].ql + 64 * h), vld1q_u8(x[i].ql + 64 * h + 16),
                                      vld1q_u8(x[i].ql + 64 * h + 32), vld1q_u8(x[i].ql + 64 * h + 48)};
            const uint8x16_t qh[2] = {vld1q_u8(x[i].qh + 32 * h), vld1q_u8(x[i].qh + 32 * h + 16)};
            for (int t = 0; t < 4; t++) {
                const int b = 4 * h + t;
                int32x4_t rb = vdupq_n_s32(0);
                for (int half = 0; half < 2; half++) {
                    const uint8x16_t lsrc = ql[2 * (t % 2) + half];
                    const uint8x16_t lo = t >= 2 ? vshrq_n_u8(lsrc, 4) : vandq_u8(lsrc, m4);
                    const uint8x16_t hi = vandq_u8(shr(qh[half], 2 * t), m3);
                    const int8x16_t v = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hi, 4))), m32);
                    rb = vmlaq_n_s32(rb, qtk_neon_dot16(v, vld1q_s8(yb[b].qs + 16 * half)), sc[2 * b + half]);
                }
                r[b] = rb;
            }
        }
        const float dx = qtk_neon_load_f16(&x[i].d);
        float dd[8];
        for (int b = 0; b < 8; b++) dd[b] = dx * qtk_neon_load_f16(&yb[b].d);
        for (int g = 0; g < 2; g++)
            acc = acc_f64(acc, vmulq_f32(vld1q_f32(dd + 4 * g), vcvtq_f32_s32(hsum4x4(r + 4 * g))));
    }
    *s = (float)vaddvq_f64(acc);
}
