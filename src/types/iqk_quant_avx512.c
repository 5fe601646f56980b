/*
 * iqk_quant_avx512.c — AVX-512 forms of the IQ2_K…IQ6_K quantizer's search
 * loops (iqk.c; issue #17): the scale search's sums for 16 tries per vector (grids of
 * 4 to 64 values) and
 * the window search's error of 16 weights in one vector. The nearest grid value
 * comes from the binary search of search_avx512.h instead of a compare and add
 * per midpoint; every other float is the scalar loop's, in its order, without
 * FMA, so the bytes do not depend on the ISA (test_iqk compares the kernels at
 * every SIMD level, test_effort whole quantizations).
 */
#include "iqk.h"
#include "search_avx512.h"

#include <math.h>

#if defined(__clang__) /* gcc in ISO C mode does not contract (-ffp-contract=off) */
#pragma STDC FP_CONTRACT OFF
#endif

/* One weight k of 16 tries: acc += (w·q·x, w·q·q) for +id (qp) and −id (qm), the scalar
 * loop's products in its order. */
QTK_FORCE_INLINE void accum_sums(__m512 acc[4], __m512 wk, __m512 xk, __m512 qp, __m512 qm) {
    const __m512 wp = _mm512_mul_ps(wk, qp), wm = _mm512_mul_ps(wk, qm);
    acc[0] = _mm512_add_ps(acc[0], _mm512_mul_ps(wp, xk));
    acc[1] = _mm512_add_ps(acc[1], _mm512_mul_ps(wp, qp));
    acc[2] = _mm512_add_ps(acc[2], _mm512_mul_ps(wm, xk));
    acc[3] = _mm512_add_ps(acc[3], _mm512_mul_ps(wm, qm));
}

/* The cnt tries' four sums from lanes to sums[4i..4i+3], i = i0 + lane. */
QTK_FORCE_INLINE void scatter_sums(const __m512 acc[4], int cnt, int i0, float *sums) {
    float o[4][16];
    for (int q = 0; q < 4; q++) _mm512_storeu_ps(o[q], acc[q]);
    for (int l = 0; l < cnt; l++)
        for (int q = 0; q < 4; q++) sums[4 * (i0 + l) + q] = o[q][l];
}

/* Grids of NV = 4, 8, 16 or 32 values (a constant in each copy); the midpoints
 * are the LUT's (its last, +huge, is never probed). */
QTK_FORCE_INLINE void scale_sums(const qtk_grid_lut lut[2], const float *T, const int NV, const float *xb,
                                 const float *wb, int n, const float *id, const int *shift, float *sums) {
    float mt[64], vt[64];
    for (int g = 0; g < 2; g++)
        for (int m = 0; m < NV; m++) {
            mt[NV * g + m] = lut[g].mid[m];
            vt[NV * g + m] = T[NV * g + m];
        }
    __m512 M[4], V[4];
    for (int i = 0; i < 4; i++) {
        M[i] = 16 * i < 2 * NV ? _mm512_loadu_ps(mt + 16 * i) : _mm512_setzero_ps();
        V[i] = 16 * i < 2 * NV ? _mm512_loadu_ps(vt + 16 * i) : _mm512_setzero_ps();
    }
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (int i0 = 0; i0 < n; i0 += 16) {
        const int cnt = n - i0 < 16 ? n - i0 : 16;
        float lid[16];
        int off[16];
        for (int l = 0; l < 16; l++) {
            lid[l] = l < cnt ? id[i0 + l] : 0.0f;
            off[l] = l < cnt ? NV * shift[i0 + l] : 0;
        }
        const __m512 vid = _mm512_loadu_ps(lid);
        const __m512i vo = _mm512_loadu_si512((const void *)off);
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int k = 0; k < 16; k++) {
            const __m512 xk = _mm512_set1_ps(xb[k]), wk = _mm512_set1_ps(wb[k]);
            const __m512 tp = _mm512_mul_ps(vid, xk);
            const __m512 tm = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(tp), sign));
            const __m512 qp = qtk_lut512(V, 2 * NV, qtk_nearest_pos512(M, 2 * NV, NV, tp, vo));
            const __m512 qm = qtk_lut512(V, 2 * NV, qtk_nearest_pos512(M, 2 * NV, NV, tm, vo));
            accum_sums(acc, wk, xk, qp, qm);
        }
        scatter_sums(acc, cnt, i0, sums);
    }
}

/* IQ6_K's 64 values: both grids do not fit the 64-entry tables, but its shifted grid
 * is the base grid + c (c = 1), so a lane of the shifted grid compares with the base
 * midpoint + c and reads the base value + c (exact: half-integers and integers far
 * inside 2^24). qtk_iqk_grid_shift checks the grids are so. */

static void scale_sums64(const qtk_grid_lut lut[2], const float *T, float c, const float *xb, const float *wb, int n,
                         const float *id, const int *shift, float *sums) {
    float mt[64];
    for (int m = 0; m < 64; m++) mt[m] = m < 63 ? lut[0].mid[m] : INFINITY; /* the last: never probed */
    __m512 M[4], V[4];
    for (int i = 0; i < 4; i++) {
        M[i] = _mm512_loadu_ps(mt + 16 * i);
        V[i] = _mm512_loadu_ps(T + 16 * i);
    }
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u), zero = _mm512_setzero_si512();
    for (int i0 = 0; i0 < n; i0 += 16) {
        const int cnt = n - i0 < 16 ? n - i0 : 16;
        float lid[16], lcs[16];
        for (int l = 0; l < 16; l++) {
            lid[l] = l < cnt ? id[i0 + l] : 0.0f;
            lcs[l] = l < cnt && shift[i0 + l] ? c : 0.0f;
        }
        const __m512 vid = _mm512_loadu_ps(lid), cs = _mm512_loadu_ps(lcs);
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int k = 0; k < 16; k++) {
            const __m512 xk = _mm512_set1_ps(xb[k]), wk = _mm512_set1_ps(wb[k]);
            const __m512 tp = _mm512_mul_ps(vid, xk);
            const __m512 tm = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(tp), sign));
            /* v >= mid + c: the search on v with every midpoint moved by the lane's c */
            __m512i kp = zero, km = zero;
            for (int st = 32; st >= 1; st /= 2) {
                const __m512i sv = _mm512_set1_epi32(st - 1), sa = _mm512_set1_epi32(st);
                const __m512 mp = _mm512_add_ps(qtk_lut512(M, 64, _mm512_add_epi32(kp, sv)), cs);
                const __m512 mm = _mm512_add_ps(qtk_lut512(M, 64, _mm512_add_epi32(km, sv)), cs);
                kp = _mm512_mask_add_epi32(kp, _mm512_cmp_ps_mask(tp, mp, _CMP_GE_OQ), kp, sa);
                km = _mm512_mask_add_epi32(km, _mm512_cmp_ps_mask(tm, mm, _CMP_GE_OQ), km, sa);
            }
            const __m512 qp = _mm512_add_ps(qtk_lut512(V, 64, kp), cs), qm = _mm512_add_ps(qtk_lut512(V, 64, km), cs);
            accum_sums(acc, wk, xk, qp, qm);
        }
        scatter_sums(acc, cnt, i0, sums);
    }
}

void qtk_iqk_scale_sums_avx512(const qtk_grid_lut lut[2], const float *T, int nv, const float *xb, const float *wb,
                               int n, const float *id, const int *shift, float *sums) {
    float c;
    switch (nv) {
    case 4: scale_sums(lut, T, 4, xb, wb, n, id, shift, sums); break;
    case 8: scale_sums(lut, T, 8, xb, wb, n, id, shift, sums); break;
    case 16: scale_sums(lut, T, 16, xb, wb, n, id, shift, sums); break;
    case 32: scale_sums(lut, T, 32, xb, wb, n, id, shift, sums); break;
    case 64: /* IQ6_K */
        if (qtk_iqk_grid_shift(lut, T, 64, &c)) {
            scale_sums64(lut, T, c, xb, wb, n, id, shift, sums);
            break;
        }
        /* fall through */
    default: qtk_iqk_scale_sums_scalar(lut, T, nv, xb, wb, n, id, shift, sums); break;
    }
}

/* nv <= 8 values: the midpoints in positions 0..nv-2 of an 8-entry span, NaN after
 * them (never >=), so the count is the scalar loop's for every nv. The terms are
 * summed as the scalar does: s8[k] = e[k] + e[k+8], then
 * ((s8[0]+s8[4]) + (s8[1]+s8[5])) + ((s8[2]+s8[6]) + (s8[3]+s8[7])). */
float qtk_iqk_sub_error_avx512(const float *mid, const float *T, int nv, const float *xb, const float *wb, float dl,
                               uint8_t *idx) {
    const __m512 nan = _mm512_set1_ps(NAN);
    const __m512 M = _mm512_mask_loadu_ps(nan, (__mmask16)((1u << (nv - 1)) - 1u), mid);
    const __m512 V = _mm512_maskz_loadu_ps((__mmask16)((1u << nv) - 1u), T);
    const __m512 x = _mm512_loadu_ps(xb);
    const __m512 t = _mm512_mul_ps(_mm512_set1_ps(1.0f / dl), x);
    const __m512i k = qtk_nearest_pos512(&M, 16, 8, t, _mm512_setzero_si512());
    const __m512 q = _mm512_permutexvar_ps(k, V);
    const __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(_mm512_set1_ps(dl), q));
    const __m512 e = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(wb), r), r);
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(e), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
    const __m128 u = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1)); /* s8[k] + s8[k+4] */
    const __m128 v = _mm_add_ps(u, _mm_shuffle_ps(u, u, 0xB1));                          /* (u0+u1), (u2+u3) */
    _mm_storeu_si128((__m128i *)(void *)idx, _mm512_cvtepi32_epi8(k));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehl_ps(v, v)));
}

/* qtk_iqk_window_error_scalar for grids of 4..32 values, the 16 weights in one vector:
 * the binary search (the last, +huge midpoint never probed: +inf → nv − 1, NaN → 0, the
 * LUT's answers), the value by look-up, r in float, each w·r·r in double, summed in k
 * order as the scalar does. */
double qtk_iqk_window_error_avx512(const qtk_grid_lut *lut, const float *T, int nv, const float *xb, const float *wb,
                                   float dl, uint8_t *idx) {
    if (nv < 4 || nv > 32 || (nv & (nv - 1))) return qtk_iqk_window_error_scalar(lut, T, nv, xb, wb, dl, idx);
    __m512 M[2], V[2];
    for (int i = 0; i < 2; i++) {
        const __mmask16 live = 16 * i < nv ? (__mmask16)(nv - 16 * i >= 16 ? 0xFFFFu : (1u << (nv - 16 * i)) - 1u) : 0;
        M[i] = _mm512_maskz_loadu_ps(live, lut->mid + 16 * i);
        V[i] = _mm512_maskz_loadu_ps(live, T + 16 * i);
    }
    const __m512 x = _mm512_loadu_ps(xb);
    const __m512 t = _mm512_mul_ps(_mm512_set1_ps(1.0f / dl), x);
    const __m512i l = qtk_nearest_pos512(M, nv, nv, t, _mm512_setzero_si512());
    const __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(_mm512_set1_ps(dl), qtk_lut512(V, nv, l)));
    const __m512 w = _mm512_loadu_ps(wb);
    double terms[16];
    const __m512d r0 = _mm512_cvtps_pd(_mm512_castps512_ps256(r)), w0 = _mm512_cvtps_pd(_mm512_castps512_ps256(w));
    const __m512d r1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r), 1)));
    const __m512d w1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1)));
    _mm512_storeu_pd(terms, _mm512_mul_pd(_mm512_mul_pd(w0, r0), r0));
    _mm512_storeu_pd(terms + 8, _mm512_mul_pd(_mm512_mul_pd(w1, r1), r1));
    _mm_storeu_si128((__m128i *)(void *)idx, _mm512_cvtepi32_epi8(l));
    double e = 0;
    for (int k = 0; k < 16; k++) e += terms[k];
    return e;
}
