/*
 * iquants_neon.c — AArch64 NEON dot products of IQ4_NL (× Q8_0) and IQ4_XS
 * (× Q8_K). The grid lookup is vqtbl1q; products go through sdot in the
 * dot-product build (neon_level.h), else widening 8x8->16 multiplies (exact, |p| <=
 * 16129) pairwise-added into 32 bits. Double steps mirror iquants.c.
 */
#include "iquants.h"
#include "grids.h"

#include "simd_neon.h"

#include <arm_neon.h>

static inline uint16_t ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Σ T[q]·y over one 32-weight block stored as 16 nibble-pair bytes. */
static inline int32x4_t block_dot(const uint8_t *qs, const int8_t *q8, int8x16_t table) {
    const uint8x16_t q = vld1q_u8(qs);
    const int8x16_t v0 = vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F)));
    const int8x16_t v1 = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
    return qtk_neon_dot32(v0, vld1q_s8(q8), v1, vld1q_s8(q8 + 16));
}

void NEON_FN(qtk_iq4_nl_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const int8x16_t table = vld1q_s8(qtk_iq4nl_values);
    double acc[8] = {0};
    for (int64_t ib = 0; ib < n / 32; ib++, x += sizeof(qtk_block_iq4_nl)) {
        const int sumi = vaddvq_s32(block_dot(x + 2, y[ib].qs, table));
        const double dd = (double)qtk_neon_load_f16(x) * (double)qtk_neon_load_f16(&y[ib].d);
        acc[ib % 8] += (double)sumi * dd;
    }
    *s = (float)qtk_iq4_nl_reduce8(acc);
}

void NEON_FN(qtk_iq4_xs_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const int8x16_t table = vld1q_s8(qtk_iq4nl_values);
    double sum = 0.0;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += sizeof(qtk_block_iq4_xs)) {
        const unsigned sh = ld16(x + 2);
        const uint8_t *sl = x + 4, *qs = x + 8;
        const int8_t *q8 = y[ibl].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int ib = 0; ib < 8; ib++, qs += 16, q8 += 32) {
            const int ls = ((sl[ib / 2] >> 4 * (ib % 2)) & 0x0F) | (((sh >> 2 * ib) & 3) << 4);
            acc = vmlaq_n_s32(acc, block_dot(qs, q8, table), ls - 32);
        }
        float yd;
        memcpy(&yd, &y[ibl].d, sizeof yd);
        sum += (double)vaddvq_s32(acc) * ((double)qtk_neon_load_f16(x) * (double)yd);
    }
    *s = (float)sum;
}
