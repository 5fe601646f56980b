/*
 * iquants_quant_neon.c — the IQ4_NL/IQ4_XS scale search's trial sums
 * (iquants.c, iq4_round_lanes; issue #17) with 8 trials per step (two
 * vectors), the AArch64 twin of iquants_quant_avx512.c: the grid value of
 * v = id·x from the binary search of search_neon.h instead of a compare and
 * add per midpoint, then sx += (w·q)·x and s2 += (w·q)·q as separate
 * multiplies and adds (no FMA) in j order — every lane's floats are the scalar
 * loop's (test_iqk_ks compares every SIMD level with it).
 */
#include "iquants.h"
#include "grids.h"
#include "search_neon.h"

#if defined(__clang__) /* gcc in ISO C mode does not contract (-ffp-contract=off) */
#pragma STDC FP_CONTRACT OFF
#endif

void qtk_iq4_round_lanes_neon(const float *x, const float *w, const float *id, float *sumqx, float *sumq2) {
    qtk_lut_neon M, V;
    qtk_grid_tables_neon(qtk_iq4nl_values, 16, &M, &V);
    const float32x4_t zero = vdupq_n_f32(0.0f);
    const uint32x4_t start = qtk_pos_neon(vdupq_n_u32(0));
    for (int g = 0; g < IQ4_LANES; g += 8) {
        const float32x4_t id0 = vld1q_f32(id + g), id1 = vld1q_f32(id + g + 4);
        float32x4_t sx0 = zero, s20 = zero, sx1 = zero, s21 = zero;
        for (int j = 0; j < 32; j++) { /* IQ4_BLOCK weights */
            const float32x4_t xj = vdupq_n_f32(x[j]), wj = vdupq_n_f32(w[j]);
            const float32x4_t q0 = qtk_lut_neon_get(&V, 16, qtk_nearest_pos_neon(&M, 16, 16, vmulq_f32(id0, xj), 0, zero, start));
            const float32x4_t q1 = qtk_lut_neon_get(&V, 16, qtk_nearest_pos_neon(&M, 16, 16, vmulq_f32(id1, xj), 0, zero, start));
            const float32x4_t wq0 = vmulq_f32(wj, q0), wq1 = vmulq_f32(wj, q1);
            sx0 = vaddq_f32(sx0, vmulq_f32(wq0, xj)), s20 = vaddq_f32(s20, vmulq_f32(wq0, q0));
            sx1 = vaddq_f32(sx1, vmulq_f32(wq1, xj)), s21 = vaddq_f32(s21, vmulq_f32(wq1, q1));
        }
        vst1q_f32(sumqx + g, sx0), vst1q_f32(sumqx + g + 4, sx1);
        vst1q_f32(sumq2 + g, s20), vst1q_f32(sumq2 + g + 4, s21);
    }
}
