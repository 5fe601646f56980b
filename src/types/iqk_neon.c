/*
 * iqk_neon.c — AArch64 NEON dot products of IQ2_K … IQ6_K with Q8_K activations.
 * Indices are unpacked 16 at a time and mapped to base-grid values with tbl
 * (1, 2 or 4 table registers); the shifted grids are the base grid plus a
 * constant, added back through the activations' 16-sums. int8×int8 products
 * are widened to 16 bits (|p| ≤ 127·128) and pairwise-accumulated in 32 bits,
 * so the integer result equals the scalar kernel's exactly.
 */
#include "iqk.h"
#include "grids.h"

#include <arm_neon.h>

static uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* 16 indices (< 64) of sub-block j of one block, per type. */
static uint8x16_t indices(int type, const uint8_t *b, int j) {
    const int b32 = j / 2, off = 16 * (j % 2); /* positions p = off .. off+15 of 32-sub-block b32 */
    const uint8x16_t m3 = vdupq_n_u8(3), m1 = vdupq_n_u8(1), m4 = vdupq_n_u8(0xF);
    switch (type) {
    case 2:
    case 3: {
        const uint8_t *qs = b + (type == 2 ? 12 : 14);
        uint8x16_t q = vld1q_u8(qs + 32 * (b32 / 4) + off);
        q = vandq_u8(vshlq_u8(q, vdupq_n_s8((int8_t)(-2 * (b32 % 4)))), m3);
        if (type == 3) {
            const uint8x16_t h = vandq_u8(vshlq_u8(vld1q_u8(b + 78 + off), vdupq_n_s8((int8_t)-b32)), m1);
            q = vorrq_u8(q, vshlq_n_u8(h, 2));
        }
        return q;
    }
    case 4: {
        const uint8x16_t q = vld1q_u8(b + 16 + 16 * b32);
        return off ? vshrq_n_u8(q, 4) : vandq_u8(q, m4);
    }
    case 5: {
        const uint8x16_t q = vld1q_u8(b + 16 + 32 * (b32 / 2) + off);
        const uint8x16_t lo = (b32 % 2) ? vshrq_n_u8(q, 4) : vandq_u8(q, m4);
        const uint8x16_t h = vandq_u8(vshlq_u8(vld1q_u8(b + 144 + off), vdupq_n_s8((int8_t)-b32)), m1);
        return vorrq_u8(lo, vshlq_n_u8(h, 4));
    }
    default: {
        const uint8x16_t q = vld1q_u8(b + 20 + 32 * (b32 / 2) + off);
        const uint8x16_t lo = (b32 % 2) ? vshrq_n_u8(q, 4) : vandq_u8(q, m4);
        const uint8x16_t h =
            vandq_u8(vshlq_u8(vld1q_u8(b + 148 + 32 * (b32 / 4) + off), vdupq_n_s8((int8_t)(-2 * (b32 % 4)))), m3);
        return vorrq_u8(lo, vshlq_n_u8(h, 4));
    }
    }
}

static void dot_neon(int type, const int8_t *grid, size_t bytes, int offset, int64_t n, float *s, const void *vx,
                     const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    int8_t tb[64] = {0};
    const int nv = type == 2 ? 4 : type == 3 ? 8 : type == 4 ? 16 : type == 5 ? 32 : 64;
    for (int i = 0; i < nv; i++) tb[i] = grid[i];
    int8x16x4_t T;
    T.val[0] = vld1q_s8(tb);
    T.val[1] = vld1q_s8(tb + 16);
    T.val[2] = vld1q_s8(tb + 32);
    T.val[3] = vld1q_s8(tb + 48);
    int S[16];
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += bytes) {
        qtk_iqk_scales_neon(type, b, S);
        int32x4_t acc = vdupq_n_s32(0);
        for (int j = 0; j < 16; j++) {
            const int8x16_t v = vqtbl4q_s8(T, indices(type, b, j));
            const int8x16_t q = vld1q_s8(y[ib].qs + 16 * j);
            int32x4_t p = vpaddlq_s16(vmull_s8(vget_low_s8(v), vget_low_s8(q)));
            p = vpadalq_s16(p, vmull_high_s8(v, q));
            acc = vmlaq_n_s32(acc, p, S[j]);
        }
        int32_t corr = 0;
        const uint16_t extra = rd16(b + 2);
        for (int j = 0; j < 16; j++)
            if ((extra >> j) & 1) corr += S[j] * y[ib].bsums[j];
        const int32_t isum = vaddvq_s32(acc) + offset * corr;
        sum += (qtk_fp16_to_fp32(rd16(b)) * y[ib].d) * (float)isum;
    }
    *s = sum;
}

/* The 16 integer sub-block scales of one block (type = 2..6). */
void qtk_iqk_scales_neon(int type, const uint8_t *b, int *S) {
    for (int j = 0; j < 16; j++) {
        switch (type) {
        case 2: S[j] = ((b[4 + j / 2] >> (4 * (j % 2))) & 0xF) - 8; break;
        case 3: {
            const int m = (b[6 + j / 2] >> (4 * (j % 2))) & 0xF;
            S[j] = (2 * m + 1) * (((rd16(b + 4) >> j) & 1) ? -1 : 1);
            break;
        }
        case 4:
        case 5: S[j] = (((b[8 + j / 2] >> (4 * (j % 2))) & 0xF) | (((b[4 + j / 4] >> (2 * (j % 4))) & 3) << 4)) - 32; break;
        default: S[j] = (int8_t)b[4 + j]; break;
        }
    }
}

void qtk_iq2_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y) {
    dot_neon(2, qtk_iq2nl_values, QTK_IQ2_K_SIZE, QTK_IQ2_K_SHIFT, n, s, x, y);
}
void qtk_iq3_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y) {
    dot_neon(3, qtk_iq3nl_values, QTK_IQ3_K_SIZE, QTK_IQ3_K_SHIFT, n, s, x, y);
}
void qtk_iq4_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y) {
    dot_neon(4, qtk_iq4nl_values, QTK_IQ4_K_SIZE, QTK_IQ4_K_SHIFT, n, s, x, y);
}
void qtk_iq5_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y) {
    dot_neon(5, qtk_iq5nl_values, QTK_IQ5_K_SIZE, QTK_IQ5_K_SHIFT, n, s, x, y);
}
void qtk_iq6_k_vec_dot_neon(int64_t n, float *s, const void *x, const void *y) {
    dot_neon(6, qtk_iq6nl_values, QTK_IQ6_K_SIZE, QTK_IQ6_K_SHIFT, n, s, x, y);
}
