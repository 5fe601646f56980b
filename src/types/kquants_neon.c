/*
 * kquants_neon.c — NEON (aarch64) dot products of Q2_K…Q6_K weights with Q8_K
 * activations. Unsigned levels (≤ 63) times int8 activations are widened exactly
 * (vmull_s8 → int16, pairwise-added into int32; or vdotq_s32 when the build targets
 * the dot-product extension), scaled per sub-block in 32-bit lanes. Offsets and mins
 * go through the Q8_K bsums, so every block's integer sums and the double-precision combination
 * equal the scalar kernel's.
 */
#include "kquants.h"

#include <arm_neon.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* int32 lanes of Σ u·y over 16 weights (u unsigned ≤ 63, so its int8 view is exact). */
static inline int32x4_t dot16(uint8x16_t u, int8x16_t y) {
    const int8x16_t s = vreinterpretq_s8_u8(u);
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdupq_n_s32(0), s, y);
#else
    const int16x8_t p0 = vmull_s8(vget_low_s8(s), vget_low_s8(y));
    const int16x8_t p1 = vmull_s8(vget_high_s8(s), vget_high_s8(y));
    return vpadalq_s16(vpaddlq_s16(p0), p1);
#endif
}

/* Per-byte logical right shift by a run-time count. */
static inline uint8x16_t shr(uint8x16_t v, int k) { return vshlq_u8(v, vdupq_n_s8((int8_t)-k)); }

void qtk_q2_K_vec_dot_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = (const block_q2_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
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
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q3_K_vec_dot_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = (const block_q3_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
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
        sum += (double)y[i].d * (double)qtk_kq_fp16(&x[i].d) * isum;
    }
    *s = (float)sum;
}

/* Q4_K (qh == NULL) and Q5_K: Σ sc·Σ q·y and Σ m·bsums of one block. */
static inline void type1_block_neon(const uint8_t *scales12, const uint8_t *qs, const uint8_t *qh,
                                    const block_q8_K *y, int *isum, int *msum) {
    uint8_t sc[8], m[8];
    qtk_kq_unpack_scales_min(scales12, sc, m);
    const uint8x16_t m4 = vdupq_n_u8(15), m1 = vdupq_n_u8(1);
    uint8x16_t hv[2] = {vdupq_n_u8(0), vdupq_n_u8(0)};
    if (qh) {
        hv[0] = vld1q_u8(qh);
        hv[1] = vld1q_u8(qh + 16);
    }
    int32x4_t acc = vdupq_n_s32(0);
    for (int c = 0; c < 4; c++) {
        for (int half = 0; half < 2; half++) {
            const uint8x16_t qv = vld1q_u8(qs + 32 * c + 16 * half);
            uint8x16_t lo = vandq_u8(qv, m4), hi = vshrq_n_u8(qv, 4);
            if (qh) {
                lo = vorrq_u8(lo, vshlq_n_u8(vandq_u8(shr(hv[half], 2 * c), m1), 4));
                hi = vorrq_u8(hi, vshlq_n_u8(vandq_u8(shr(hv[half], 2 * c + 1), m1), 4));
            }
            acc = vmlaq_n_s32(acc, dot16(lo, vld1q_s8(y->qs + 64 * c + 16 * half)), sc[2 * c]);
            acc = vmlaq_n_s32(acc, dot16(hi, vld1q_s8(y->qs + 64 * c + 32 + 16 * half)), sc[2 * c + 1]);
        }
    }
    int b = 0;
    for (int sb = 0; sb < 8; sb++) b += m[sb] * (y->bsums[2 * sb] + y->bsums[2 * sb + 1]);
    *isum = vaddvq_s32(acc);
    *msum = b;
}

void qtk_q4_K_vec_dot_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = (const block_q4_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum, msum;
        type1_block_neon(x[i].scales, x[i].qs, NULL, &y[i], &isum, &msum);
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q5_K_vec_dot_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = (const block_q5_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum, msum;
        type1_block_neon(x[i].scales, x[i].qs, x[i].qh, &y[i], &isum, &msum);
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q6_K_vec_dot_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = (const block_q6_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const int8_t *sc = x[i].scales;
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            for (int half = 0; half < 2; half++) {
                const uint8x16_t ql0 = vld1q_u8(x[i].ql + 64 * h + 16 * half);
                const uint8x16_t ql1 = vld1q_u8(x[i].ql + 64 * h + 32 + 16 * half);
                const uint8x16_t qh = vld1q_u8(x[i].qh + 32 * h + 16 * half);
                for (int t = 0; t < 4; t++) {
                    const uint8x16_t lsrc = (t % 2) ? ql1 : ql0;
                    const uint8x16_t lo = t >= 2 ? vshrq_n_u8(lsrc, 4) : vandq_u8(lsrc, m4);
                    const uint8x16_t hi = vandq_u8(shr(qh, 2 * t), m3);
                    const uint8x16_t u = vorrq_u8(lo, vshlq_n_u8(hi, 4)); /* value + 32 */
                    const int sb = 8 * h + 2 * t + half;
                    acc = vmlaq_n_s32(acc, dot16(u, vld1q_s8(y[i].qs + 128 * h + 32 * t + 16 * half)), sc[sb]);
                }
            }
        }
        int off = 0;
        for (int sb = 0; sb < 16; sb++) off += sc[sb] * y[i].bsums[sb];
        const int isum = vaddvq_s32(acc) - 32 * off;
        sum += (double)y[i].d * (double)qtk_kq_fp16(&x[i].d) * isum;
    }
    *s = (float)sum;
}
