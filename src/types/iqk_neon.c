/*
 * iqk_neon.c — AArch64 NEON dot products of IQ2_K … IQ6_K with Q8_K activations.
 *
 * One 16-byte register = one 16-weight sub-block: indices are unpacked with
 * per-byte shifts and mapped to base-grid values with tbl (1, 2 or 4 table
 * registers). Products go to 32 bits exactly (sdot in the dot-product
 * build, neon_level.h; else vmull_s8 with |p| ≤ 127·128 pairwise-added);
 * four sub-block sums are pairwise-reduced into one vector and multiplied by
 * their four scales at once. The shifted grid (= base + offset) is added back
 * through the Q8_K 16-sums with vector ops, and each block's exact int32 sum is
 * scaled in float once, as in the scalar kernel.
 */
#include "iqk.h"
#include "grids.h"

#include "simd_neon.h"

#include <arm_neon.h>

static uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Σ over 4 sub-blocks of S_j · Σ v·y, added to acc: v[0..3], y at yq (64 bytes). */
static inline int32x4_t quad(int32x4_t acc, const int8x16_t *v, const int8_t *yq, int32x4_t S4) {
    const int32x4_t p0 = qtk_neon_dot16(v[0], vld1q_s8(yq)), p1 = qtk_neon_dot16(v[1], vld1q_s8(yq + 16));
    const int32x4_t p2 = qtk_neon_dot16(v[2], vld1q_s8(yq + 32)), p3 = qtk_neon_dot16(v[3], vld1q_s8(yq + 48));
    return vmlaq_s32(acc, vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3)), S4);
}

/* 8 packed scale bytes -> the 16 nibbles in order (even sub-block = low nibble). */
static inline uint8x16_t nibbles16(const uint8_t *p) {
    const uint8x8_t v = vld1_u8(p);
    const uint8x8_t lo = vand_u8(v, vdup_n_u8(0xF)), hi = vshr_n_u8(v, 4);
    return vcombine_u8(vzip1_u8(lo, hi), vzip2_u8(lo, hi));
}

/* All-ones in byte j where bit j of w is set. */
static inline uint8x16_t bits8(uint16_t w) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t v = vcombine_u8(vdup_n_u8((uint8_t)(w & 0xFF)), vdup_n_u8((uint8_t)(w >> 8)));
    return vtstq_u8(v, vld1q_u8(bit));
}

/* 6-bit scales of IQ4_K/IQ5_K (2-bit high parts at b+4, low nibbles at b+8) minus 32. */
static inline int8x16_t scales_iq45(const uint8_t *b) {
    static const uint8_t sel[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
    static const int8_t sh[16] = {0, -2, -4, -6, 0, -2, -4, -6, 0, -2, -4, -6, 0, -2, -4, -6};
    const uint8x16_t h = vqtbl1q_u8(vcombine_u8(vld1_u8(b + 4), vdup_n_u8(0)), vld1q_u8(sel));
    const uint8x16_t hi = vshlq_n_u8(vandq_u8(vshlq_u8(h, vld1q_s8(sh)), vdupq_n_u8(3)), 4);
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(nibbles16(b + 8), hi)), vdupq_n_s8(32));
}

/* Block b's exact integer sum (acc + off·Σ S·bsum over the shifted sub-blocks) times d·d_y. */
static inline float finish(float sum, int32x4_t acc, int8x16_t S8, int off, const uint8_t *b, const qtk_block_q8_K *y) {
    const int8x16_t c = vandq_s8(S8, vreinterpretq_s8_u8(bits8(rd16(b + 2))));
    int32x4_t corr = vmull_s16(vget_low_s16(vmovl_s8(vget_low_s8(c))), vld1_s16(y->bsums));
    corr = vmlal_s16(corr, vget_high_s16(vmovl_s8(vget_low_s8(c))), vld1_s16(y->bsums + 4));
    corr = vmlal_s16(corr, vget_low_s16(vmovl_high_s8(c)), vld1_s16(y->bsums + 8));
    corr = vmlal_s16(corr, vget_high_s16(vmovl_high_s8(c)), vld1_s16(y->bsums + 12));
    const int32_t isum = vaddvq_s32(vmlaq_n_s32(acc, corr, off));
    return sum + (qtk_neon_f16_to_f32(rd16(b)) * y->d) * (float)isum;
}

/* Scales of sub-blocks 4g..4g+3 as int32. */
static inline int32x4_t scale4(int8x16_t S8, int g) {
    const int16x8_t s = g < 2 ? vmovl_s8(vget_low_s8(S8)) : vmovl_high_s8(S8);
    return (g % 2) ? vmovl_high_s16(s) : vmovl_s16(vget_low_s16(s));
}

/* The per-type kernels: 16 index registers idx[j] (sub-block j) from the block,
 * then the common lookup/dot loop. */
#define IQK_NEON_LOOP(LOOKUP)                                                                \
    int32x4_t acc = vdupq_n_s32(0);                                                           \
    for (int g = 0; g < 4; g++) {                                                             \
        int8x16_t v[4];                                                                       \
        for (int t = 0; t < 4; t++) v[t] = LOOKUP(idx[4 * g + t]);                            \
        acc = quad(acc, v, y[ib].qs + 64 * g, scale4(S8, g));                                 \
    }

void NEON_FN(qtk_iq2_k_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    int8_t tb[16] = {0};
    memcpy(tb, qtk_iq2nl_values, 4);
    const int8x16_t T = vld1q_s8(tb);
    const uint8x16_t m3 = vdupq_n_u8(3);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ2_K_SIZE) {
        const int8x16_t S8 = vsubq_s8(vreinterpretq_s8_u8(nibbles16(b + 4)), vdupq_n_s8(8));
        uint8x16_t idx[16];
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                const uint8x16_t q = vld1q_u8(b + 12 + 32 * h + 16 * half);
                for (int k = 0; k < 4; k++) /* sub-block 2·(4h+k) + half */
                    idx[8 * h + 2 * k + half] = vandq_u8(vshlq_u8(q, vdupq_n_s8((int8_t)(-2 * k))), m3);
            }
#define LOOKUP2(i) vqtbl1q_s8(T, i)
        IQK_NEON_LOOP(LOOKUP2)
#undef LOOKUP2
        sum = finish(sum, acc, S8, QTK_IQ2_K_SHIFT, b, &y[ib]);
    }
    *s = sum;
}

void NEON_FN(qtk_iq3_k_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    int8_t tb[16] = {0};
    memcpy(tb, qtk_iq3nl_values, 8);
    const int8x16_t T = vld1q_s8(tb);
    const uint8x16_t m3 = vdupq_n_u8(3), m4 = vdupq_n_u8(4);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ3_K_SIZE) {
        const uint8x16_t m = nibbles16(b + 6), neg = bits8(rd16(b + 4));
        const uint8x16_t odd = vaddq_u8(vaddq_u8(m, m), vdupq_n_u8(1));
        const int8x16_t S8 = vreinterpretq_s8_u8(vsubq_u8(veorq_u8(odd, neg), neg));
        uint8x16_t idx[16];
        for (int half = 0; half < 2; half++) {
            const uint8x16_t qh = vld1q_u8(b + 78 + 16 * half);
            for (int h = 0; h < 2; h++) {
                const uint8x16_t q = vld1q_u8(b + 14 + 32 * h + 16 * half);
                for (int k = 0; k < 4; k++) { /* 32-group 4h+k: high bit = bit 4h+k of qh -> bit 2 */
                    const uint8x16_t lo = vandq_u8(vshlq_u8(q, vdupq_n_s8((int8_t)(-2 * k))), m3);
                    const uint8x16_t hb = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(2 - 4 * h - k))), m4);
                    idx[8 * h + 2 * k + half] = vorrq_u8(lo, hb);
                }
            }
        }
#define LOOKUP3(i) vqtbl1q_s8(T, i)
        IQK_NEON_LOOP(LOOKUP3)
#undef LOOKUP3
        sum = finish(sum, acc, S8, QTK_IQ3_K_SHIFT, b, &y[ib]);
    }
    *s = sum;
}

void NEON_FN(qtk_iq4_k_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const int8x16_t T = vld1q_s8(qtk_iq4nl_values);
    const uint8x16_t m4 = vdupq_n_u8(0xF);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ4_K_SIZE) {
        const int8x16_t S8 = scales_iq45(b);
        uint8x16_t idx[16];
        for (int b32 = 0; b32 < 8; b32++) {
            const uint8x16_t q = vld1q_u8(b + 16 + 16 * b32);
            idx[2 * b32] = vandq_u8(q, m4);
            idx[2 * b32 + 1] = vshrq_n_u8(q, 4);
        }
#define LOOKUP4(i) vqtbl1q_s8(T, i)
        IQK_NEON_LOOP(LOOKUP4)
#undef LOOKUP4
        sum = finish(sum, acc, S8, QTK_IQ4_K_SHIFT, b, &y[ib]);
    }
    *s = sum;
}

void NEON_FN(qtk_iq5_k_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    int8x16x2_t T;
    T.val[0] = vld1q_s8(qtk_iq5nl_values);
    T.val[1] = vld1q_s8(qtk_iq5nl_values + 16);
    const uint8x16_t m4 = vdupq_n_u8(0xF), m16 = vdupq_n_u8(0x10);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ5_K_SIZE) {
        const int8x16_t S8 = scales_iq45(b);
        uint8x16_t idx[16];
        for (int half = 0; half < 2; half++) {
            const uint8x16_t qh = vld1q_u8(b + 144 + 16 * half);
            for (int c = 0; c < 4; c++) { /* chunk c: 32-groups 2c (low nibbles), 2c+1 (high) */
                const uint8x16_t q = vld1q_u8(b + 16 + 32 * c + 16 * half);
                const uint8x16_t h0 = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(4 - 2 * c))), m16);
                const uint8x16_t h1 = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(3 - 2 * c))), m16);
                idx[4 * c + half] = vorrq_u8(vandq_u8(q, m4), h0);
                idx[4 * c + 2 + half] = vorrq_u8(vshrq_n_u8(q, 4), h1);
            }
        }
#define LOOKUP5(i) vqtbl2q_s8(T, i)
        IQK_NEON_LOOP(LOOKUP5)
#undef LOOKUP5
        sum = finish(sum, acc, S8, QTK_IQ5_K_SHIFT, b, &y[ib]);
    }
    *s = sum;
}

void NEON_FN(qtk_iq6_k_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    int8x16x4_t T;
    for (int t = 0; t < 4; t++) T.val[t] = vld1q_s8(qtk_iq6nl_values + 16 * t);
    const uint8x16_t m4 = vdupq_n_u8(0xF), m48 = vdupq_n_u8(0x30);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ6_K_SIZE) {
        const int8x16_t S8 = vld1q_s8((const int8_t *)(b + 4));
        uint8x16_t idx[16];
        for (int half = 0; half < 2; half++)
            for (int c = 0; c < 4; c++) { /* chunk c: 32-groups 2c, 2c+1; their qh bit pairs 2·(b32 % 4) */
                const uint8x16_t q = vld1q_u8(b + 20 + 32 * c + 16 * half);
                const uint8x16_t qh = vld1q_u8(b + 148 + 32 * (c / 2) + 16 * half);
                const int r = 2 * (c % 2); /* (2c) % 4 */
                const uint8x16_t h0 = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(4 - 2 * r))), m48);
                const uint8x16_t h1 = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(2 - 2 * r))), m48);
                idx[4 * c + half] = vorrq_u8(vandq_u8(q, m4), h0);
                idx[4 * c + 2 + half] = vorrq_u8(vshrq_n_u8(q, 4), h1);
            }
#define LOOKUP6(i) vqtbl4q_s8(T, i)
        IQK_NEON_LOOP(LOOKUP6)
#undef LOOKUP6
        sum = finish(sum, acc, S8, QTK_IQ6_K_SHIFT, b, &y[ib]);
    }
    *s = sum;
}
