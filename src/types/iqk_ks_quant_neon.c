/*
 * iqk_ks_quant_neon.c — NEON forms of the KS family's search loops (iqk_ks.c;
 * issue #17), the AArch64 twins of iqk_ks_quant_avx512.c: qtk_ks_trials rates 8
 * trial scales per step (two vectors) and qtk_ks_eval_lanes its up to 8
 * candidates. The nearest grid value comes from the binary search of
 * search_neon.h (log2(ng) compares instead of ng − 1 compares and a chain of
 * dependent adds). Every lane computes the scalar loop's floats: grid values
 * are small integers (exact however summed), products and sums are separate
 * multiplies and adds in j order, no FMA — so the bytes match the scalar
 * build's (test_iqk_ks compares the kernels at every ISA level under qemu).
 */
#include "iqk_ks.h"
#include "search_neon.h"

#if defined(__clang__) /* gcc in ISO C mode does not contract (-ffp-contract=off) */
#pragma STDC FP_CONTRACT OFF
#endif

/* The scalar loops' value of lane grid g (0 base, 1 shifted = base + c) is
 * g's first value + base[k] − base[0] = base[k] + c·g: V holds base[k]. */
QTK_FORCE_INLINE void ks_tables(const int8_t *grid, int ng, qtk_lut_neon *M, qtk_lut_neon *V) {
    if (ng == 4)
        qtk_grid4_tables_neon(grid, M, V);
    else
        qtk_grid_tables_neon(grid, ng, M, V);
}

QTK_FORCE_INLINE float32x4_t ks_value(const qtk_lut_neon *M, const qtk_lut_neon *V, const int NG, float32x4_t v,
                                      float32x4_t cs) {
    const uint32x4_t pos = qtk_nearest_pos_neon(M, NG, NG, v, 1, cs, qtk_pos_neon(vdupq_n_u32(0)));
    return vaddq_f32(qtk_lut_neon_get(V, NG, pos), cs);
}

QTK_FORCE_INLINE void trials_search(const float *x, const float *w, int n, const int8_t *grid, const int NG, float c,
                                    int nt, const float *id, const int *gsel, float *out) {
    enum { L = QTK_KS_LANES };
    qtk_lut_neon M, V;
    ks_tables(grid, NG, &M, &V);
    for (int t0 = 0; t0 < nt; t0 += 8) {
        float idl[8], csl[8];
        for (int k = 0; k < 8; k++) {
            const int t = t0 + k;
            idl[k] = t < nt ? id[t] : 0.0f;
            csl[k] = t < nt && gsel[t] ? c : 0.0f;
        }
        const float32x4_t id0 = vld1q_f32(idl), id1 = vld1q_f32(idl + 4);
        const float32x4_t cs0 = vld1q_f32(csl), cs1 = vld1q_f32(csl + 4);
        float32x4_t a0 = vdupq_n_f32(0.0f), b0 = a0, c0 = a0, e0 = a0, a1 = a0, b1 = a0, c1 = a0, e1 = a0;
        for (int j = 0; j < n; j++) {
            const float32x4_t xj = vdupq_n_f32(x[j]), wj = vdupq_n_f32(w[j]);
            const float32x4_t wx = vmulq_f32(wj, xj);
            const float32x4_t v0 = vmulq_f32(id0, xj), v1 = vmulq_f32(id1, xj);
            const float32x4_t qp0 = ks_value(&M, &V, NG, v0, cs0), qm0 = ks_value(&M, &V, NG, vnegq_f32(v0), cs0);
            const float32x4_t qp1 = ks_value(&M, &V, NG, v1, cs1), qm1 = ks_value(&M, &V, NG, vnegq_f32(v1), cs1);
            a0 = vaddq_f32(a0, vmulq_f32(wx, qp0));
            b0 = vaddq_f32(b0, vmulq_f32(vmulq_f32(wj, qp0), qp0));
            c0 = vaddq_f32(c0, vmulq_f32(wx, qm0));
            e0 = vaddq_f32(e0, vmulq_f32(vmulq_f32(wj, qm0), qm0));
            a1 = vaddq_f32(a1, vmulq_f32(wx, qp1));
            b1 = vaddq_f32(b1, vmulq_f32(vmulq_f32(wj, qp1), qp1));
            c1 = vaddq_f32(c1, vmulq_f32(wx, qm1));
            e1 = vaddq_f32(e1, vmulq_f32(vmulq_f32(wj, qm1), qm1));
        }
        /* lanes up to 8·⌈nt/8⌉ <= L: the ones past nt rate scale 0 and are ignored */
        vst1q_f32(out + t0, a0), vst1q_f32(out + t0 + 4, a1);
        vst1q_f32(out + L + t0, b0), vst1q_f32(out + L + t0 + 4, b1);
        vst1q_f32(out + 2 * L + t0, c0), vst1q_f32(out + 2 * L + t0 + 4, c1);
        vst1q_f32(out + 3 * L + t0, e0), vst1q_f32(out + 3 * L + t0 + 4, e1);
    }
}

int qtk_ks_trials_neon(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                       const int *gsel, float *out) {
    float c;
    if (!qtk_grid_shift_neon(grid, grid + ng, ng, &c)) return 0;
    switch (ng) {
    case 4: trials_search(x, w, n, grid, 4, c, nt, id, gsel, out); return 1;
    case 8: trials_search(x, w, n, grid, 8, c, nt, id, gsel, out); return 1;
    case 16: trials_search(x, w, n, grid, 16, c, nt, id, gsel, out); return 1;
    case 32: trials_search(x, w, n, grid, 32, c, nt, id, gsel, out); return 1;
    default: return 0;
    }
}

QTK_FORCE_INLINE void eval_search(const float *x, const float *w, const float *mw, const int8_t *grid, const int NG,
                                  float c, int nc, const float *dl, const int *gsel, float *e, float *m) {
    qtk_lut_neon M, V;
    ks_tables(grid, NG, &M, &V);
    float dv[8], idl[8], csl[8];
    for (int t = 0; t < 8; t++) {
        dv[t] = t < nc ? dl[t] : 0.0f;
        idl[t] = dv[t] != 0.0f ? 1.0f / dv[t] : 0.0f;
        csl[t] = t < nc && gsel[t] ? c : 0.0f;
    }
    const float32x4_t id0 = vld1q_f32(idl), id1 = vld1q_f32(idl + 4), d0 = vld1q_f32(dv), d1 = vld1q_f32(dv + 4);
    const float32x4_t cs0 = vld1q_f32(csl), cs1 = vld1q_f32(csl + 4);
    float32x4_t ea0 = vdupq_n_f32(0.0f), ma0 = ea0, ea1 = ea0, ma1 = ea0;
    for (int j = 0; j < 32; j++) {
        const float32x4_t xj = vdupq_n_f32(x[j]), wj = vdupq_n_f32(w[j]), mj = vdupq_n_f32(mw[j]);
        const float32x4_t q0 = ks_value(&M, &V, NG, vmulq_f32(id0, xj), cs0);
        const float32x4_t q1 = ks_value(&M, &V, NG, vmulq_f32(id1, xj), cs1);
        const float32x4_t r0 = vsubq_f32(xj, vmulq_f32(d0, q0)), r1 = vsubq_f32(xj, vmulq_f32(d1, q1));
        ea0 = vaddq_f32(ea0, vmulq_f32(vmulq_f32(wj, r0), r0));
        ma0 = vaddq_f32(ma0, vmulq_f32(vmulq_f32(mj, r0), r0));
        ea1 = vaddq_f32(ea1, vmulq_f32(vmulq_f32(wj, r1), r1));
        ma1 = vaddq_f32(ma1, vmulq_f32(vmulq_f32(mj, r1), r1));
    }
    float eo[8], mo[8];
    vst1q_f32(eo, ea0), vst1q_f32(eo + 4, ea1);
    vst1q_f32(mo, ma0), vst1q_f32(mo + 4, ma1);
    for (int t = 0; t < nc; t++) e[t] = eo[t], m[t] = mo[t];
}

int qtk_ks_eval_lanes_neon(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                           const float *dl, const int *gsel, float *e, float *m) {
    float c;
    if (!qtk_grid_shift_neon(grid, grid + ng, ng, &c)) return 0;
    switch (ng) {
    case 4: eval_search(x, w, mw, grid, 4, c, nc, dl, gsel, e, m); return 1;
    case 8: eval_search(x, w, mw, grid, 8, c, nc, dl, gsel, e, m); return 1;
    case 16: eval_search(x, w, mw, grid, 16, c, nc, dl, gsel, e, m); return 1;
    case 32: eval_search(x, w, mw, grid, 32, c, nc, dl, gsel, e, m); return 1;
    default: return 0;
    }
}

/* Entry l (0..15, one per 32-bit lane) of a 16-byte table, zero-extended. */
QTK_FORCE_INLINE uint32x4_t byte_entry(uint8x16_t table, uint32x4_t l) {
    return vreinterpretq_u32_u8(vqtbl1q_u8(table, vreinterpretq_u8_u32(vorrq_u32(l, vdupq_n_u32(0xFFFFFF00u)))));
}

/* IQ4_KSS's constrained rounding (iqk_kss.c, kss_constrained) for 32 weights on the
 * 16-value grid g, the NEON twin of qtk_kss_round_avx512 (same outputs, same floats):
 * nearest indices, their parities, every weight's cheapest move to the other parity. */
void qtk_kss_round_neon(const float *t, const float *w, const int8_t *g, const int8_t *opp_dn, const int8_t *opp_up,
                        uint8_t *q, unsigned *par, uint8_t *alt, float *dx, float *dwx) {
    qtk_lut_neon M, G;
    qtk_grid_tables_neon(g, 16, &M, &G);
    const uint8x16_t DN = vreinterpretq_u8_s8(vld1q_s8(opp_dn)), UP = vreinterpretq_u8_s8(vld1q_s8(opp_up));
    const float32x4_t inf = vdupq_n_f32(INFINITY), zero = vdupq_n_f32(0.0f);
    const uint32x4_t start = qtk_pos_neon(vdupq_n_u32(0)), lane_bit = {1u, 2u, 4u, 8u};
    unsigned bits = 0;
    uint32x4_t lv[8], av[8];
    for (int h = 0; h < 8; h++) {
        const float32x4_t tv = vld1q_f32(t + 4 * h);
        const uint32x4_t pos = qtk_nearest_pos_neon(&M, 16, 16, tv, 0, zero, start);
        const uint32x4_t l = qtk_pos_index_neon(pos);
        uint32x4_t p = veorq_u32(l, vshrq_n_u32(l, 1));
        p = veorq_u32(p, vshrq_n_u32(p, 2));
        bits |= vaddvq_u32(vandq_u32(vtstq_u32(p, vdupq_n_u32(1)), lane_bit)) << (4 * h);
        const float32x4_t e = vsubq_f32(tv, qtk_lut_neon_get(&G, 16, pos));
        const float32x4_t e0 = vmulq_f32(e, e);
        const uint32x4_t ld = byte_entry(DN, l), lu = byte_entry(UP, l);
        const float32x4_t edn = vsubq_f32(tv, qtk_lut_neon_get(&G, 16, qtk_pos_neon(ld)));
        const float32x4_t eup = vsubq_f32(tv, qtk_lut_neon_get(&G, 16, qtk_pos_neon(lu)));
        const float32x4_t dd = vbslq_f32(vceqq_u32(l, vdupq_n_u32(0)), inf, vsubq_f32(vmulq_f32(edn, edn), e0));
        const float32x4_t du = vbslq_f32(vceqq_u32(l, vdupq_n_u32(15)), inf, vsubq_f32(vmulq_f32(eup, eup), e0));
        const uint32x4_t u = vcltq_f32(du, dd);
        const float32x4_t d = vbslq_f32(u, du, dd);
        lv[h] = l;
        av[h] = vbslq_u32(u, lu, ld);
        vst1q_f32(dx + 4 * h, d);
        vst1q_f32(dwx + 4 * h, vmulq_f32(vld1q_f32(w + 4 * h), d));
    }
    for (int h = 0; h < 8; h += 4) { /* 16 indices per store: narrow 32 → 16 → 8 bits */
        const uint16x8_t l01 = vcombine_u16(vmovn_u32(lv[h]), vmovn_u32(lv[h + 1]));
        const uint16x8_t l23 = vcombine_u16(vmovn_u32(lv[h + 2]), vmovn_u32(lv[h + 3]));
        const uint16x8_t a01 = vcombine_u16(vmovn_u32(av[h]), vmovn_u32(av[h + 1]));
        const uint16x8_t a23 = vcombine_u16(vmovn_u32(av[h + 2]), vmovn_u32(av[h + 3]));
        vst1q_u8(q + 4 * h, vcombine_u8(vmovn_u16(l01), vmovn_u16(l23)));
        vst1q_u8(alt + 4 * h, vcombine_u8(vmovn_u16(a01), vmovn_u16(a23)));
    }
    *par = bits;
}
