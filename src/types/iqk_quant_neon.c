/*
 * iqk_quant_neon.c — NEON forms of the IQ2_K…IQ5_K quantizer's search loops
 * (iqk.c; issue #17), the AArch64 twins of iqk_quant_avx512.c: the scale
 * search's sums for 8 tries per step (two vectors) and the window search's
 * error of 16 weights. The nearest grid value comes from the binary search of
 * search_neon.h instead of a look-up per weight and try; every other float is
 * the scalar loop's, in its order, without FMA, so the bytes do not depend on
 * the ISA (test_iqk compares the kernels at every SIMD level, under qemu here).
 */
#include "iqk.h"
#include "search_neon.h"

#if defined(__clang__) /* gcc in ISO C mode does not contract (-ffp-contract=off) */
#pragma STDC FP_CONTRACT OFF
#endif

/* The 16 grid indices of four vectors as bytes. */
QTK_FORCE_INLINE void store_idx16(uint8_t *idx, const uint32x4_t k[4]) {
    const uint16x8_t k01 = vcombine_u16(vmovn_u32(k[0]), vmovn_u32(k[1]));
    const uint16x8_t k23 = vcombine_u16(vmovn_u32(k[2]), vmovn_u32(k[3]));
    vst1q_u8(idx, vcombine_u8(vmovn_u16(k01), vmovn_u16(k23)));
}

QTK_FORCE_INLINE float32x4_t grid_value(const qtk_lut_neon *M, const qtk_lut_neon *V, const int NV, float32x4_t v,
                                        float32x4_t cs) {
    const uint32x4_t pos = qtk_nearest_pos_neon(M, NV, NV, v, 1, cs, qtk_pos_neon(vdupq_n_u32(0)));
    return vaddq_f32(qtk_lut_neon_get(V, NV, pos), cs);
}

/* Grids of NV = 4, 8, 16 or 32 values (a constant in each copy). */
QTK_FORCE_INLINE void scale_sums(const qtk_grid_lut lut[2], const float *T, const int NV, float c, const float *xb,
                                 const float *wb, int n, const float *id, const int *shift, float *sums) {
    float mt[32];
    for (int m = 0; m < NV; m++) mt[m] = m + 1 < NV ? lut[0].mid[m] : INFINITY; /* the last: never probed */
    qtk_lut_neon M, V;
    qtk_lut_neon_init(&M, mt, NV);
    qtk_lut_neon_init(&V, T, NV);
    for (int i0 = 0; i0 < n; i0 += 8) {
        const int cnt = n - i0 < 8 ? n - i0 : 8;
        float lid[8], lcs[8];
        for (int l = 0; l < 8; l++) {
            lid[l] = l < cnt ? id[i0 + l] : 0.0f;
            lcs[l] = l < cnt && shift[i0 + l] ? c : 0.0f;
        }
        const float32x4_t id0 = vld1q_f32(lid), id1 = vld1q_f32(lid + 4), cs0 = vld1q_f32(lcs), cs1 = vld1q_f32(lcs + 4);
        float32x4_t sxp0 = vdupq_n_f32(0.0f), s2p0 = sxp0, sxm0 = sxp0, s2m0 = sxp0;
        float32x4_t sxp1 = sxp0, s2p1 = sxp0, sxm1 = sxp0, s2m1 = sxp0;
        for (int k = 0; k < 16; k++) {
            const float32x4_t xk = vdupq_n_f32(xb[k]), wk = vdupq_n_f32(wb[k]);
            const float32x4_t t0 = vmulq_f32(id0, xk), t1 = vmulq_f32(id1, xk);
            const float32x4_t qp0 = grid_value(&M, &V, NV, t0, cs0), qm0 = grid_value(&M, &V, NV, vnegq_f32(t0), cs0);
            const float32x4_t qp1 = grid_value(&M, &V, NV, t1, cs1), qm1 = grid_value(&M, &V, NV, vnegq_f32(t1), cs1);
            const float32x4_t wp0 = vmulq_f32(wk, qp0), wm0 = vmulq_f32(wk, qm0);
            const float32x4_t wp1 = vmulq_f32(wk, qp1), wm1 = vmulq_f32(wk, qm1);
            sxp0 = vaddq_f32(sxp0, vmulq_f32(wp0, xk)), s2p0 = vaddq_f32(s2p0, vmulq_f32(wp0, qp0));
            sxm0 = vaddq_f32(sxm0, vmulq_f32(wm0, xk)), s2m0 = vaddq_f32(s2m0, vmulq_f32(wm0, qm0));
            sxp1 = vaddq_f32(sxp1, vmulq_f32(wp1, xk)), s2p1 = vaddq_f32(s2p1, vmulq_f32(wp1, qp1));
            sxm1 = vaddq_f32(sxm1, vmulq_f32(wm1, xk)), s2m1 = vaddq_f32(s2m1, vmulq_f32(wm1, qm1));
        }
        float o[4][8];
        vst1q_f32(o[0], sxp0), vst1q_f32(o[0] + 4, sxp1);
        vst1q_f32(o[1], s2p0), vst1q_f32(o[1] + 4, s2p1);
        vst1q_f32(o[2], sxm0), vst1q_f32(o[2] + 4, sxm1);
        vst1q_f32(o[3], s2m0), vst1q_f32(o[3] + 4, s2m1);
        for (int l = 0; l < cnt; l++)
            for (int q = 0; q < 4; q++) sums[4 * (i0 + l) + q] = o[q][l];
    }
}

void qtk_iqk_scale_sums_neon(const qtk_grid_lut lut[2], const float *T, int nv, const float *xb, const float *wb,
                             int n, const float *id, const int *shift, float *sums) {
    float c;
    if (qtk_iqk_grid_shift(lut, T, nv, &c)) {
        switch (nv) {
        case 4: scale_sums(lut, T, 4, c, xb, wb, n, id, shift, sums); return;
        case 8: scale_sums(lut, T, 8, c, xb, wb, n, id, shift, sums); return;
        case 16: scale_sums(lut, T, 16, c, xb, wb, n, id, shift, sums); return;
        case 32: scale_sums(lut, T, 32, c, xb, wb, n, id, shift, sums); return;
        default: break;
        }
    }
    qtk_iqk_scale_sums_scalar(lut, T, nv, xb, wb, n, id, shift, sums); /* IQ6_K's 64 values */
}

/* nv <= 8 values: the midpoints in positions 0..nv-2 of an 8-entry span, NaN after
 * them (never >=), so the count is the scalar loop's for every nv. The terms are
 * summed as the scalar does: s8[k] = e[k] + e[k+8], then
 * ((s8[0]+s8[4]) + (s8[1]+s8[5])) + ((s8[2]+s8[6]) + (s8[3]+s8[7])). */
float qtk_iqk_sub_error_neon(const float *mid, const float *T, int nv, const float *xb, const float *wb, float dl,
                             uint8_t *idx) {
    float mt[8], vt[8];
    for (int m = 0; m < 8; m++) {
        mt[m] = m + 1 < nv ? mid[m] : NAN;
        vt[m] = m < nv ? T[m] : 0.0f;
    }
    qtk_lut_neon M, V;
    qtk_lut_neon_init(&M, mt, 8);
    qtk_lut_neon_init(&V, vt, 8);
    const float32x4_t idl = vdupq_n_f32(1.0f / dl), d = vdupq_n_f32(dl), zero = vdupq_n_f32(0.0f);
    float32x4_t e[4];
    uint32x4_t k[4];
    for (int h = 0; h < 4; h++) {
        const float32x4_t x = vld1q_f32(xb + 4 * h);
        const uint32x4_t pos = qtk_nearest_pos_neon(&M, 8, 8, vmulq_f32(idl, x), 0, zero, qtk_pos_neon(vdupq_n_u32(0)));
        const float32x4_t r = vsubq_f32(x, vmulq_f32(d, qtk_lut_neon_get(&V, 8, pos)));
        e[h] = vmulq_f32(vmulq_f32(vld1q_f32(wb + 4 * h), r), r);
        k[h] = qtk_pos_index_neon(pos);
    }
    store_idx16(idx, k);
    const float32x4_t u = vaddq_f32(vaddq_f32(e[0], e[2]), vaddq_f32(e[1], e[3])); /* s8[k] + s8[k+4] */
    const float32x4_t v = vpaddq_f32(u, u);                                        /* (u0+u1), (u2+u3) */
    return vgetq_lane_f32(v, 0) + vgetq_lane_f32(v, 1);
}

/* qtk_iqk_window_error_scalar for grids of NV = 16 or 32 values, 4 weights per vector:
 * the binary search (the last, +huge midpoint never probed: +inf → NV − 1, NaN → 0, the
 * LUT's answers), the value by look-up, r in float, each w·r·r in double, summed in k
 * order as the scalar does. */
QTK_FORCE_INLINE double window_error(const qtk_grid_lut *lut, const float *T, const int NV, const float *xb,
                                     const float *wb, float dl, uint8_t *idx) {
    qtk_lut_neon M, V;
    qtk_lut_neon_init(&M, lut->mid, NV);
    qtk_lut_neon_init(&V, T, NV);
    const float32x4_t idl = vdupq_n_f32(1.0f / dl), d = vdupq_n_f32(dl), zero = vdupq_n_f32(0.0f);
    double terms[16];
    uint32x4_t k[4];
    for (int h = 0; h < 4; h++) {
        const float32x4_t x = vld1q_f32(xb + 4 * h), w = vld1q_f32(wb + 4 * h);
        const uint32x4_t pos = qtk_nearest_pos_neon(&M, NV, NV, vmulq_f32(idl, x), 0, zero, qtk_pos_neon(vdupq_n_u32(0)));
        const float32x4_t r = vsubq_f32(x, vmulq_f32(d, qtk_lut_neon_get(&V, NV, pos)));
        const float64x2_t rlo = vcvt_f64_f32(vget_low_f32(r)), rhi = vcvt_high_f64_f32(r);
        const float64x2_t wlo = vcvt_f64_f32(vget_low_f32(w)), whi = vcvt_high_f64_f32(w);
        vst1q_f64(terms + 4 * h, vmulq_f64(vmulq_f64(wlo, rlo), rlo));
        vst1q_f64(terms + 4 * h + 2, vmulq_f64(vmulq_f64(whi, rhi), rhi));
        k[h] = qtk_pos_index_neon(pos);
    }
    store_idx16(idx, k);
    double e = 0;
    for (int j = 0; j < 16; j++) e += terms[j];
    return e;
}

double qtk_iqk_window_error_neon(const qtk_grid_lut *lut, const float *T, int nv, const float *xb, const float *wb,
                                 float dl, uint8_t *idx) {
    if (nv == 16) return window_error(lut, T, 16, xb, wb, dl, idx);
    if (nv == 32) return window_error(lut, T, 32, xb, wb, dl, idx);
    return qtk_iqk_window_error_scalar(lut, T, nv, xb, wb, dl, idx);
}
