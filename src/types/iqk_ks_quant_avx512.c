/*
 * iqk_ks_quant_avx512.c — AVX-512 forms of the KS family's search loops
 * (iqk_ks.c; issue #17): qtk_ks_trials rates 16 trial scales per vector and
 * qtk_ks_eval_lanes its up to 8 candidates in one. The scalar and AVX2 loops
 * count the nearest grid value as the first value plus the step of every
 * midpoint at or below v (ng − 1 compares and a chain of dependent adds); here
 * a branch-free binary search over per-lane table look-ups finds the same
 * value with log2(ng) of the same compares. Every lane computes the scalar
 * loop's floats: grid values are small integers (exact however summed),
 * products and sums are separate multiplies and adds in j order, no FMA. So
 * the bytes match the scalar build's (test_iqk_ks compares the kernels with
 * every ISA level, test_effort and test_types_only whole quantizations).
 */
#include "iqk_ks.h"
#include "search_avx512.h"

#include <math.h>

#if defined(__clang__) /* gcc in ISO C mode does not contract (-ffp-contract=off) */
#pragma STDC FP_CONTRACT OFF
#endif

/* Grids of 4, 8, 16 or 32 values: the midpoints are increasing, so "v >= mid[i]"
 * holds for i below some k and fails above it, and the scalar loop's value is
 * first + (base[k] − base[0]). A branch-free binary search finds k with log2(ng)
 * of the same compares, looking the midpoints up per lane in a table (vpermps /
 * vpermt2ps; the shifted grid's entries at + ng), and a last look-up gives the
 * value: no chain of ng − 1 dependent adds. NG is a constant in each copy. */
QTK_FORCE_INLINE void trials_search(const float *x, const float *w, int n, const int8_t *grid, const int NG, int nt,
                                    const float *id, const int *gsel, float *out) {
    enum { L = QTK_KS_LANES };
    __m512 M[4], V[4];
    qtk_grid_tables512(grid, NG, 2, M, V);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (int t0 = 0; t0 < nt; t0 += 16) {
        int offl[16];
        float idl[16];
        for (int k = 0; k < 16; k++) {
            const int t = t0 + k;
            offl[k] = t < nt ? NG * gsel[t] : 0;
            idl[k] = t < nt ? id[t] : 0.0f;
        }
        const __m512i off = _mm512_loadu_si512((const void *)offl);
        const __m512 idv = _mm512_loadu_ps(idl);
        __m512 a = _mm512_setzero_ps(), b = a, c = a, e = a;
        for (int j = 0; j < n; j++) {
            const __m512 xj = _mm512_set1_ps(x[j]), wj = _mm512_set1_ps(w[j]);
            const __m512 wx = _mm512_mul_ps(wj, xj);
            const __m512 v = _mm512_mul_ps(idv, xj), mv = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), sign));
            const __m512 qp = qtk_lut512(V, 2 * NG, qtk_nearest_pos512(M, 2 * NG, NG, v, off));
            const __m512 qm = qtk_lut512(V, 2 * NG, qtk_nearest_pos512(M, 2 * NG, NG, mv, off));
            a = _mm512_add_ps(a, _mm512_mul_ps(wx, qp));
            b = _mm512_add_ps(b, _mm512_mul_ps(_mm512_mul_ps(wj, qp), qp));
            c = _mm512_add_ps(c, _mm512_mul_ps(wx, qm));
            e = _mm512_add_ps(e, _mm512_mul_ps(_mm512_mul_ps(wj, qm), qm));
        }
        /* lanes up to 16·⌈nt/16⌉ <= L: the ones past nt rate scale 0 and are ignored */
        _mm512_storeu_ps(out + t0, a);
        _mm512_storeu_ps(out + L + t0, b);
        _mm512_storeu_ps(out + 2 * L + t0, c);
        _mm512_storeu_ps(out + 3 * L + t0, e);
    }
}

void qtk_ks_trials_avx512(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                          const int *gsel, float *out) {
    switch (ng) {
    case 4: trials_search(x, w, n, grid, 4, nt, id, gsel, out); break;
    case 8: trials_search(x, w, n, grid, 8, nt, id, gsel, out); break;
    case 16: trials_search(x, w, n, grid, 16, nt, id, gsel, out); break;
    case 32: trials_search(x, w, n, grid, 32, nt, id, gsel, out); break;
    default: qtk_ks_trials_avx2(x, w, n, grid, ng, nt, id, gsel, out); break; /* no such grid today */
    }
}

/* The candidates in the low 8 lanes of a 16-lane vector (the upper ones rate scale 0
 * and are dropped), with the binary search above for the nearest value. */
QTK_FORCE_INLINE void eval_search(const float *x, const float *w, const float *mw, const int8_t *grid, const int NG,
                                  int nc, const float *dl, const int *gsel, float *e, float *m) {
    __m512 M[4], V[4];
    qtk_grid_tables512(grid, NG, 2, M, V);
    float dv[16], idl[16];
    int offl[16];
    for (int t = 0; t < 16; t++) {
        dv[t] = t < nc ? dl[t] : 0.0f;
        idl[t] = dv[t] != 0.0f ? 1.0f / dv[t] : 0.0f;
        offl[t] = t < nc ? NG * gsel[t] : 0;
    }
    const __m512i off = _mm512_loadu_si512((const void *)offl);
    const __m512 idv = _mm512_loadu_ps(idl), dvv = _mm512_loadu_ps(dv);
    __m512 ea = _mm512_setzero_ps(), ma = ea;
    for (int j = 0; j < 32; j++) {
        const __m512 xj = _mm512_set1_ps(x[j]), wj = _mm512_set1_ps(w[j]), mj = _mm512_set1_ps(mw[j]);
        const __m512 q = qtk_lut512(V, 2 * NG, qtk_nearest_pos512(M, 2 * NG, NG, _mm512_mul_ps(idv, xj), off));
        const __m512 diff = _mm512_sub_ps(xj, _mm512_mul_ps(dvv, q));
        ea = _mm512_add_ps(ea, _mm512_mul_ps(_mm512_mul_ps(wj, diff), diff));
        ma = _mm512_add_ps(ma, _mm512_mul_ps(_mm512_mul_ps(mj, diff), diff));
    }
    float eo[16], mo[16];
    _mm512_storeu_ps(eo, ea);
    _mm512_storeu_ps(mo, ma);
    for (int t = 0; t < nc; t++) e[t] = eo[t], m[t] = mo[t];
}

void qtk_ks_eval_lanes_avx512(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                              const float *dl, const int *gsel, float *e, float *m) {
    switch (ng) {
    case 4: eval_search(x, w, mw, grid, 4, nc, dl, gsel, e, m); break;
    case 8: eval_search(x, w, mw, grid, 8, nc, dl, gsel, e, m); break;
    case 16: eval_search(x, w, mw, grid, 16, nc, dl, gsel, e, m); break;
    case 32: eval_search(x, w, mw, grid, 32, nc, dl, gsel, e, m); break;
    default: qtk_ks_eval_lanes_avx2(x, w, mw, grid, ng, nc, dl, gsel, e, m); break; /* no such grid today */
    }
}

/* IQ4_KSS's constrained rounding (iqk_kss.c, kss_constrained) for the 32 weights of a
 * sub-block on the 16-value grid g: q[j] the nearest index (ties up, NaN → 0, as
 * qtk_ks_nearest_idx), *par the mask of the indices' popcount parities, and per
 * weight the cheapest move to an index of the other parity — alt[j] the index, dx[j]
 * the rise of (t − g)², dwx[j] = w·dx[j] — with kss_constrained's floats: e0 = (t −
 * g[l])², each neighbour's (t − g[l'])² − e0 (+inf past the grid's ends), the upper
 * one when strictly cheaper. opp_dn / opp_up: kss_constrained's neighbour tables. */
void qtk_kss_round_avx512(const float *t, const float *w, const int8_t *g, const int8_t *opp_dn, const int8_t *opp_up,
                          uint8_t *q, unsigned *par, uint8_t *alt, float *dx, float *dwx) {
    __m512 Mt[4], Gt[4];
    qtk_grid_tables512(g, 16, 1, Mt, Gt);
    int32_t dn[16], up[16];
    for (int i = 0; i < 16; i++) {
        dn[i] = opp_dn[i];
        up[i] = opp_up[i];
    }
    const __m512 M = Mt[0], G = Gt[0], inf = _mm512_set1_ps(INFINITY);
    const __m512i DN = _mm512_loadu_si512((const void *)dn), UP = _mm512_loadu_si512((const void *)up);
    const __m512i one = _mm512_set1_epi32(1), zero = _mm512_setzero_si512(), fifteen = _mm512_set1_epi32(15);
    unsigned bits = 0;
    for (int h = 0; h < 2; h++) {
        const __m512 tv = _mm512_loadu_ps(t + 16 * h);
        const __m512i l = qtk_nearest_pos512(&M, 16, 16, tv, zero);
        __m512i p = _mm512_xor_si512(l, _mm512_srli_epi32(l, 1));
        p = _mm512_xor_si512(p, _mm512_srli_epi32(p, 2));
        bits |= (unsigned)_mm512_test_epi32_mask(p, one) << (16 * h);
        const __m512 e = _mm512_sub_ps(tv, _mm512_permutexvar_ps(l, G));
        const __m512 e0 = _mm512_mul_ps(e, e);
        const __m512i ld = _mm512_permutexvar_epi32(l, DN), lu = _mm512_permutexvar_epi32(l, UP);
        const __m512 edn = _mm512_sub_ps(tv, _mm512_permutexvar_ps(ld, G));
        const __m512 eup = _mm512_sub_ps(tv, _mm512_permutexvar_ps(lu, G));
        const __m512 dd = _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(l, zero), _mm512_sub_ps(_mm512_mul_ps(edn, edn), e0), inf);
        const __m512 du = _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(l, fifteen), _mm512_sub_ps(_mm512_mul_ps(eup, eup), e0), inf);
        const __mmask16 u = _mm512_cmp_ps_mask(du, dd, _CMP_LT_OQ);
        const __m512 d = _mm512_mask_blend_ps(u, dd, du);
        _mm_storeu_si128((__m128i *)(void *)(q + 16 * h), _mm512_cvtepi32_epi8(l));
        _mm_storeu_si128((__m128i *)(void *)(alt + 16 * h), _mm512_cvtepi32_epi8(_mm512_mask_blend_epi32(u, ld, lu)));
        _mm512_storeu_ps(dx + 16 * h, d);
        _mm512_storeu_ps(dwx + 16 * h, _mm512_mul_ps(_mm512_loadu_ps(w + 16 * h), d));
    }
    *par = bits;
}
