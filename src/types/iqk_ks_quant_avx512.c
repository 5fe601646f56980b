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

/* Tables of one grid pair for the look-ups: the midpoints (the shifted grid's at
 * + ng; the last of each never probed) and the values the scalar loop reaches,
 * first + (base[k] − base[0]), every sum an exact small integer. */
static void ks_tables(const int8_t *grid, int ng, __m512 M[4], __m512 V[4]) {
    float mt[64], vt[64];
    for (int g = 0; g < 2; g++) {
        const int8_t *G = grid + ng * g;
        for (int i = 0; i < ng; i++) {
            mt[ng * g + i] = i + 1 < ng ? 0.5f * ((float)G[i] + (float)G[i + 1]) : INFINITY;
            vt[ng * g + i] = (float)G[0] + (float)(grid[i] - grid[0]);
        }
    }
    for (int i = 0; i < 4; i++) {
        M[i] = i * 16 < 2 * ng ? _mm512_loadu_ps(mt + 16 * i) : _mm512_setzero_ps();
        V[i] = i * 16 < 2 * ng ? _mm512_loadu_ps(vt + 16 * i) : _mm512_setzero_ps();
    }
}

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
    ks_tables(grid, NG, M, V);
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
    ks_tables(grid, NG, M, V);
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
