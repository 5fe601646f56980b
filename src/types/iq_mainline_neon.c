/*
 * iq_mainline_neon.c — AArch64 NEON dot products (× Q8_K) of the mainline
 * i-quants. As the x86 word kernels (iq_mainline_avx2.c): the grid entries
 * (unsigned magnitudes) are loaded by index straight into vector lanes, the
 * signs become byte masks (the ksigns / sign-byte tables loaded the same way,
 * or the stored sign bits tested in the register) applied as (|g| ^ m) − m,
 * then sdot in the dot-product build (neon_level.h), else widening 8x8->16
 * multiplies pairwise-added into 32 bits, times the group multiplier. IQ1_S /
 * IQ1_M take the unsigned 8·(g + 1) (qtk_iq1_values_x8) and the offset of
 * q = 8g + δ from the Q8_K bsums. Same exact integer sum S as the scalar kernel,
 * same double steps (iqm_acc_f).
 * These kernels built each 8 weights' signed bytes in a general register before
 * (the octet words of iq_mainline.h: grid entry, sign mask, 64-bit xor/add) and
 * moved them over two at a time: guest instructions per weight under
 * qemu-aarch64 (BENCHMARKS.md, session 32) fell by 1.2–1.9×.
 */
#include "iq_mainline.h"

#include "simd_neon.h"

#include <arm_neon.h>

/* Qwords n0, n1 of T as one register. */
static inline uint8x16_t qw2(const uint64_t *T, unsigned n0, unsigned n1) {
    return vreinterpretq_u8_u64(vcombine_u64(vld1_u64(T + n0), vld1_u64(T + n1)));
}

/* Dwords n0 .. n3 of T as one register. */
static inline uint8x16_t dw4(const uint32_t *T, unsigned n0, unsigned n1, unsigned n2, unsigned n3) {
    uint32x4_t v = vld1q_dup_u32(T + n0);
    v = vld1q_lane_u32(T + n1, v, 1);
    v = vld1q_lane_u32(T + n2, v, 2);
    return vreinterpretq_u8_u32(vld1q_lane_u32(T + n3, v, 3));
}

/* Magnitudes with the signs of the mask bytes (0xFF negative, 0x00 positive). */
static inline int8x16_t signed_q(uint8x16_t mag, uint8x16_t mask) {
    return vreinterpretq_s8_u8(vsubq_u8(veorq_u8(mag, mask), mask));
}

/* Mask bytes of the 32 sign bits at p (bit j of byte k: weight 8k + j), weights 0..15 in
 * m[0], 16..31 in m[1]. */
static inline void sign_masks32(const uint8_t *p, uint8x16_t m[2]) {
    static const uint8_t spread[2][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                          {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3}};
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t v = vreinterpretq_u8_u32(vld1q_dup_u32((const uint32_t *)(const void *)p));
    const uint8x16_t bit = vld1q_u8(bits);
    m[0] = vtstq_u8(vqtbl1q_u8(v, vld1q_u8(spread[0])), bit);
    m[1] = vtstq_u8(vqtbl1q_u8(v, vld1q_u8(spread[1])), bit);
}

static inline int8x16_t ld16(const int8_t *p) { return vld1q_s8(p); }

/* 16 multipliers (≤ 31, as bytes) as int32 m[0..15]: a group's multiplier is then one
 * broadcast load (ld1r) instead of its scalar extraction and a dup. */
static inline void mul_store16(uint8x16_t mb, int32_t m[16]) {
    const uint16x8_t lo = vmovl_u8(vget_low_u8(mb)), hi = vmovl_high_u8(mb);
    vst1q_s32(m, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(lo))));
    vst1q_s32(m + 4, vreinterpretq_s32_u32(vmovl_high_u16(lo)));
    vst1q_s32(m + 8, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(hi))));
    vst1q_s32(m + 12, vreinterpretq_s32_u32(vmovl_high_u16(hi)));
}

/* The multipliers 2·nibble + 1 of the 8 bytes at p (multiplier 2k: byte k's low nibble). */
static inline void mul_nibbles16(const uint8_t *p, int32_t m[16]) {
    const uint8x8_t v = vld1_u8(p);
    const uint8x8x2_t z = vzip_u8(vand_u8(v, vdup_n_u8(15)), vshr_n_u8(v, 4));
    mul_store16(vorrq_u8(vshlq_n_u8(vcombine_u8(z.val[0], z.val[1]), 1), vdupq_n_u8(1)), m);
}

/* The multipliers 2·nibble + 1 of the 4 bytes at p (IQ3_S's 8 per-32 ones) as int32 m[0..7]. */
static inline void mul_nibbles8(const uint8_t *p, int32_t m[8]) {
    const uint8x8_t v = vreinterpret_u8_u32(vld1_dup_u32((const uint32_t *)(const void *)p));
    const uint8x8_t n = vzip_u8(vand_u8(v, vdup_n_u8(15)), vshr_n_u8(v, 4)).val[0];
    const uint16x8_t w = vmovl_u8(vorr_u8(vshl_n_u8(n, 1), vdup_n_u8(1)));
    vst1q_s32(m, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(w))));
    vst1q_s32(m + 4, vreinterpretq_s32_u32(vmovl_high_u16(w)));
}

/* acc + dot·m (m: a multiplier in memory). */
static inline int32x4_t mla_mem(int32x4_t acc, int32x4_t dot, const int32_t *m) { return vmlaq_s32(acc, dot, vld1q_dup_s32(m)); }

/* IQ2_XXS: per 32 weights 4 index bytes, then 4 × 7 sign-field bits and the multiplier. */
static inline int iq2_xxs_sum_neon(const uint8_t *b, const qtk_block_q8_K *yb, const uint64_t *T1) {
    (void)T1;
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *r = b + 2 + 8 * ib;
        const int8_t *q8 = yb->qs + 32 * ib;
        const uint32_t a = iqm_u32(r + 4);
        const int8x16_t q0 = signed_q(qw2(qtk_iq2xxs_grid, r[0], r[1]), qw2(qtk_iq2_signs64, a & 127, (a >> 7) & 127));
        const int8x16_t q1 = signed_q(qw2(qtk_iq2xxs_grid, r[2], r[3]), qw2(qtk_iq2_signs64, (a >> 14) & 127, (a >> 21) & 127));
        acc = vmlaq_n_s32(acc, qtk_neon_dot32(q0, ld16(q8), q1, ld16(q8 + 16)), (int)(2 * (a >> 28) + 1));
    }
    return vaddvq_s32(acc);
}

/* IQ2_XS: 4 words of grid index (9 bits) and sign field (7 bits) per 32 weights. */
static inline int iq2_xs_sum_neon(const uint8_t *b, const qtk_block_q8_K *yb, const uint64_t *T1) {
    (void)T1;
    int32_t m[16];
    mul_nibbles16(b + 66, m);
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *r = b + 2 + 8 * ib;
        const int8_t *q8 = yb->qs + 32 * ib;
        const unsigned w0 = iqm_u16(r), w1 = iqm_u16(r + 2), w2 = iqm_u16(r + 4), w3 = iqm_u16(r + 6);
        const int8x16_t q0 = signed_q(qw2(qtk_iq2xs_grid, w0 & 511, w1 & 511), qw2(qtk_iq2_signs64, w0 >> 9, w1 >> 9));
        const int8x16_t q1 = signed_q(qw2(qtk_iq2xs_grid, w2 & 511, w3 & 511), qw2(qtk_iq2_signs64, w2 >> 9, w3 >> 9));
        acc = mla_mem(acc, qtk_neon_dot16(q0, ld16(q8)), m + 2 * ib);
        acc = mla_mem(acc, qtk_neon_dot16(q1, ld16(q8 + 16)), m + 2 * ib + 1);
    }
    return vaddvq_s32(acc);
}

/* IQ2_S: low index bytes, 2 high bits each per qh byte, 32 sign bits per 32 weights. */
static inline int iq2_s_sum_neon(const uint8_t *b, const qtk_block_q8_K *yb, const uint64_t *T1) {
    (void)T1;
    int32_t m[16];
    mul_nibbles16(b + 74, m);
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *q = b + 2 + 4 * ib;
        const int8_t *q8 = yb->qs + 32 * ib;
        const unsigned qh = b[66 + ib];
        uint8x16_t sm[2];
        sign_masks32(b + 34 + 4 * ib, sm);
        const int8x16_t q0 = signed_q(qw2(qtk_iq2s_grid, q[0] | ((qh << 8) & 0x300), q[1] | ((qh << 6) & 0x300)), sm[0]);
        const int8x16_t q1 = signed_q(qw2(qtk_iq2s_grid, q[2] | ((qh << 4) & 0x300), q[3] | ((qh << 2) & 0x300)), sm[1]);
        acc = mla_mem(acc, qtk_neon_dot16(q0, ld16(q8)), m + 2 * ib);
        acc = mla_mem(acc, qtk_neon_dot16(q1, ld16(q8 + 16)), m + 2 * ib + 1);
    }
    return vaddvq_s32(acc);
}

/* IQ3_XXS: 8 index bytes (4-weight entries) per 32 weights; sign fields and multiplier as IQ2_XXS. */
static inline int iq3_xxs_sum_neon(const uint8_t *b, const qtk_block_q8_K *yb, const uint64_t *T1) {
    (void)T1;
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *q = b + 2 + 8 * ib;
        const int8_t *q8 = yb->qs + 32 * ib;
        const uint32_t a = iqm_u32(b + 66 + 4 * ib);
        const uint32_t *T = qtk_iq3xxs_grid;
        const int8x16_t q0 = signed_q(dw4(T, q[0], q[1], q[2], q[3]), qw2(qtk_iq2_signs64, a & 127, (a >> 7) & 127));
        const int8x16_t q1 = signed_q(dw4(T, q[4], q[5], q[6], q[7]), qw2(qtk_iq2_signs64, (a >> 14) & 127, (a >> 21) & 127));
        acc = vmlaq_n_s32(acc, qtk_neon_dot32(q0, ld16(q8), q1, ld16(q8 + 16)), (int)(2 * (a >> 28) + 1));
    }
    return vaddvq_s32(acc);
}

/* IQ3_S: 8 low index bytes, their 9th bits in one qh byte, 32 sign bits per 32 weights. */
static inline int iq3_s_sum_neon(const uint8_t *b, const qtk_block_q8_K *yb, const uint64_t *T1) {
    (void)T1;
    int32_t m[8];
    mul_nibbles8(b + 106, m);
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *q = b + 2 + 8 * ib;
        const int8_t *q8 = yb->qs + 32 * ib;
        const unsigned qh = b[66 + ib];
        const uint32_t *T = qtk_iq3s_grid;
        uint8x16_t sm[2];
        sign_masks32(b + 74 + 4 * ib, sm);
        const int8x16_t q0 = signed_q(dw4(T, q[0] | ((qh << 8) & 256), q[1] | ((qh << 7) & 256), q[2] | ((qh << 6) & 256),
                                          q[3] | ((qh << 5) & 256)), sm[0]);
        const int8x16_t q1 = signed_q(dw4(T, q[4] | ((qh << 4) & 256), q[5] | ((qh << 3) & 256), q[6] | ((qh << 2) & 256),
                                          q[7] | ((qh << 1) & 256)), sm[1]);
        acc = mla_mem(acc, qtk_neon_dot32(q0, ld16(q8), q1, ld16(q8 + 16)), m + ib);
    }
    return vaddvq_s32(acc);
}

/* IQ1_S: the unsigned u = 8·(g + 1) ≤ 16 (signed bytes as sdot needs); per 32-group
 * Σ q·y = Σ u·y + (δ − 8)·Σ y, the last from the bsums, for all 8 groups at once. */
static inline int iq1_s_sum_neon(const uint8_t *b, const qtk_block_q8_K *yb, const uint64_t *T) {
    /* per group a u16: 4 × 3 high index bits, the 3-bit scale, the δ sign (bit 15) */
    const uint16x8_t hv = vld1q_u16((const uint16_t *)(const void *)(b + 34));
    const uint16x8_t m16 = vorrq_u16(vandq_u16(vshrq_n_u16(hv, 11), vdupq_n_u16(14)), vdupq_n_u16(1));
    const int16x8_t c = vreinterpretq_s16_u16(vmulq_u16(m16, vaddq_u16(vdupq_n_u16(7), vandq_u16(vshrq_n_u16(hv, 14), vdupq_n_u16(2)))));
    const int16x8_t gs = vpaddq_s16(vld1q_s16(yb->bsums), vld1q_s16(yb->bsums + 8)); /* Σ y per group */
    int32_t m[8];
    vst1q_s32(m, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(m16))));
    vst1q_s32(m + 4, vreinterpretq_s32_u32(vmovl_high_u16(m16)));
    /* −Σ m·(7 + 2·[δ < 0])·Σy */
    int32x4_t acc = vnegq_s32(vmlal_high_s16(vmull_s16(vget_low_s16(c), vget_low_s16(gs)), c, gs));
    for (int ib = 0; ib < 8; ib++) {
        const unsigned h = iqm_u16(b + 34 + 2 * ib);
        const uint8_t *q = b + 2 + 4 * ib;
        const int8_t *q8 = yb->qs + 32 * ib;
        const int8x16_t u0 = vreinterpretq_s8_u8(qw2(T, q[0] | ((h << 8) & 0x700), q[1] | ((h << 5) & 0x700)));
        const int8x16_t u1 = vreinterpretq_s8_u8(qw2(T, q[2] | ((h << 2) & 0x700), q[3] | ((h >> 1) & 0x700)));
        acc = mla_mem(acc, qtk_neon_dot32(u0, ld16(q8), u1, ld16(q8 + 16)), m + ib);
    }
    return vaddvq_s32(acc);
}

/* IQ1_M: δ per octet (nibble bit 3 of its qh nibble), so the register takes u' = u + δ + 1
 * (+ 2 where δ = +1) = q + 9, and the bsums the −9·Σ m·y per 16-group. */
static inline int iq1_m_sum_neon(const uint8_t *b, const qtk_block_q8_K *yb, const uint64_t *T) {
    static const uint8_t dbit[16] = {8, 8, 8, 8, 8, 8, 8, 8, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
    /* the 16 3-bit scales: scale B at bits 3·(B % 4) of u16 B / 4 at b + 48 */
    static const uint8_t pick[2][16] = {{0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3},
                                        {4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7}};
    static const int16_t shr[8] = {0, -3, -6, -9, 0, -3, -6, -9};
    const uint8x16_t sw = vcombine_u8(vld1_u8(b + 48), vld1_u8(b + 48));
    const int16x8_t sh = vld1q_s16(shr);
    uint16x8_t mh[2];
    for (int k = 0; k < 2; k++) {
        const uint16x8_t w = vreinterpretq_u16_u8(vqtbl1q_u8(sw, vld1q_u8(pick[k])));
        mh[k] = vorrq_u16(vshlq_n_u16(vandq_u16(vshlq_u16(w, sh), vdupq_n_u16(7)), 1), vdupq_n_u16(1));
    }
    int32_t m[16];
    mul_store16(vcombine_u8(vmovn_u16(mh[0]), vmovn_u16(mh[1])), m);
    /* −9·Σ m·Σy over the 16-groups */
    const int16x8_t m0 = vreinterpretq_s16_u16(mh[0]), m1 = vreinterpretq_s16_u16(mh[1]);
    const int16x8_t bs0 = vld1q_s16(yb->bsums), bs1 = vld1q_s16(yb->bsums + 8);
    int32x4_t o = vmlal_high_s16(vmull_s16(vget_low_s16(m0), vget_low_s16(bs0)), m0, bs0);
    o = vmlal_high_s16(vmlal_s16(o, vget_low_s16(m1), vget_low_s16(bs1)), m1, bs1);
    int32x4_t acc = vmulq_n_s32(o, -9);
    const uint8x16_t db = vld1q_u8(dbit), two = vdupq_n_u8(2);
    for (int ib = 0; ib < 8; ib++) {
        const unsigned h = iqm_u16(b + 32 + 2 * ib); /* octet k: nibble k (3 high index bits, δ < 0 at bit 3) */
        const uint8_t *q = b + 4 * ib;
        const int8_t *q8 = yb->qs + 32 * ib;
        const uint8x16_t u0 = qw2(T, q[0] | ((h << 8) & 0x700), q[1] | ((h << 4) & 0x700));
        const uint8x16_t u1 = qw2(T, q[2] | (h & 0x700), q[3] | ((h >> 4) & 0x700));
        /* octets 0, 1 read qh byte 2ib (bits 3, 7), octets 2, 3 byte 2ib + 1 */
        const uint8x16_t n0 = vtstq_u8(vld1q_dup_u8(b + 32 + 2 * ib), db), n1 = vtstq_u8(vld1q_dup_u8(b + 33 + 2 * ib), db);
        const int8x16_t v0 = vreinterpretq_s8_u8(vaddq_u8(u0, vbicq_u8(two, n0)));
        const int8x16_t v1 = vreinterpretq_s8_u8(vaddq_u8(u1, vbicq_u8(two, n1)));
        acc = mla_mem(acc, qtk_neon_dot16(v0, ld16(q8)), m + 2 * ib);
        acc = mla_mem(acc, qtk_neon_dot16(v1, ld16(q8 + 16)), m + 2 * ib + 1);
    }
    return vaddvq_s32(acc);
}

#define IQM_NEON(t, BYTES, DBITS, WORD, MUL16, F)                                                         \
    void NEON_FN(qtk_##t##_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {                   \
        const uint8_t *b = (const uint8_t *)vx;                                                          \
        const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;                                            \
        const uint64_t *iq1 = qtk_iq1_values_x8(); /* IQ1's grid (the other types ignore it) */         \
        double sum = 0.0;                                                                                 \
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, b += (BYTES)) {                                     \
            float yd;                                                                                     \
            memcpy(&yd, &y[ibl].d, sizeof yd);                                                            \
            sum = iqm_acc_f(sum, t##_sum_neon(b, &y[ibl], iq1), qtk_neon_f16_to_f32(DBITS(b)), yd, (F));       \
        }                                                                                                 \
        *s = (float)sum;                                                                                  \
    }

IQM_TYPES(IQM_NEON)
