/*
 * iq_mainline_neon.c — AArch64 NEON dot products (× Q8_K) of the mainline
 * i-quants: per 16-group the two octet words of iq_mainline.h in one
 * register, sdot in the dot-product build (neon_level.h), else widening 8x8->16
 * multiplies (|p| ≤ 62·127) pairwise-added into 32 bits, then × the group
 * multiplier. Same exact integer sum S as the scalar kernel, same double
 * steps (iqm_acc).
 */
#include "iq_mainline.h"

#include "simd_neon.h"

#include <arm_neon.h>

#define IQM_NEON(t, BYTES, DBITS, WORD, MUL16, F)                                                         \
    void NEON_FN(qtk_##t##_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {                   \
        const uint8_t *b = (const uint8_t *)vx;                                                          \
        const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;                                                    \
        double sum = 0.0;                                                                                 \
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, b += (BYTES)) {                                     \
            const int8_t *q8 = y[ibl].qs;                                                                 \
            int32x4_t acc = vdupq_n_s32(0);                                                               \
            for (int ib = 0; ib < 8; ib++, q8 += 32) {                                                    \
                uint64_t w4[4];                                                                           \
                WORD##s4(b, ib, w4);                                                                      \
                const int8x16_t q0 = vcombine_s8(vcreate_s8(w4[0]), vcreate_s8(w4[1]));                   \
                const int8x16_t q1 = vcombine_s8(vcreate_s8(w4[2]), vcreate_s8(w4[3]));                   \
                acc = vmlaq_n_s32(acc, qtk_neon_dot16(q0, vld1q_s8(q8)), MUL16(b, 2 * ib));                       \
                acc = vmlaq_n_s32(acc, qtk_neon_dot16(q1, vld1q_s8(q8 + 16)), MUL16(b, 2 * ib + 1));              \
            }                                                                                             \
            float yd;                                                                                     \
            memcpy(&yd, &y[ibl].d, sizeof yd);                                                            \
            sum = iqm_acc_f(sum, vaddvq_s32(acc), qtk_neon_f16_to_f32(DBITS(b)), yd, (F));                \
        }                                                                                                 \
        *s = (float)sum;                                                                                  \
    }

IQM_TYPES(IQM_NEON)
