/*
 * iquants_quant_avx512.c — the IQ4_NL/IQ4_XS scale search's trial sums
 * (iquants.c, iq4_round_lanes; issue #17) with 16 trials per vector: the grid
 * value of v = id·x from the binary search of search_avx512.h instead of a
 * compare and add per midpoint, then sx += (w·q)·x and s2 += (w·q)·q as separate
 * multiplies and adds (no FMA) in j order — every lane's floats are the scalar
 * loop's (test_iqk_ks compares every SIMD level with it).
 */
#include "iquants.h"
#include "grids.h"
#include "search_avx512.h"

#include <math.h>

#if defined(__clang__) /* gcc in ISO C mode does not contract (-ffp-contract=off) */
#pragma STDC FP_CONTRACT OFF
#endif

void qtk_iq4_round_lanes_avx512(const float *x, const float *w, const float *id, float *sumqx, float *sumq2) {
    __m512 Mt[4], Vt[4];
    qtk_grid_tables512(qtk_iq4nl_values, 16, 1, Mt, Vt);
    const __m512 M = Mt[0], V = Vt[0];
    for (int g = 0; g < IQ4_LANES; g += 16) {
        const __m512 idv = _mm512_loadu_ps(id + g);
        __m512 sx = _mm512_setzero_ps(), s2 = _mm512_setzero_ps();
        for (int j = 0; j < 32; j++) {
            const __m512 xj = _mm512_set1_ps(x[j]), wj = _mm512_set1_ps(w[j]);
            const __m512i k = qtk_nearest_pos512(&M, 16, 16, _mm512_mul_ps(idv, xj), _mm512_setzero_si512());
            const __m512 q = _mm512_permutexvar_ps(k, V);
            const __m512 wq = _mm512_mul_ps(wj, q);
            sx = _mm512_add_ps(sx, _mm512_mul_ps(wq, xj));
            s2 = _mm512_add_ps(s2, _mm512_mul_ps(wq, q));
        }
        _mm512_storeu_ps(sumqx + g, sx);
        _mm512_storeu_ps(sumq2 + g, s2);
    }
}
