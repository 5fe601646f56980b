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
    const int8_t *T = qtk_iq4nl_values;
    float mt[16], vt[16];
    for (int i = 0; i < 16; i++) {
        mt[i] = i < 15 ? 0.5f * (float)(T[i] + T[i + 1]) : INFINITY; /* the last: never probed */
        vt[i] = (float)T[i];
    }
    const __m512 M = _mm512_loadu_ps(mt), V = _mm512_loadu_ps(vt);
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
