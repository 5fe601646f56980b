/*
 * search_avx512.h — the nearest-value step shared by the AVX-512 quantizer
 * searches (iqk_ks_quant_avx512.c, iqk_quant_avx512.c, iquants_quant_avx512.c).
 *
 * The scalar searches find the grid value nearest v by counting the midpoints
 * at or below it ("v >= mid", ties up, NaN → the first value) and reach it as
 * the first value plus the steps passed, which are small integers (exact). The
 * midpoints increase, so the compares hold below some k and fail above it: a
 * branch-free binary search finds k with log2 of the count of the same
 * compares, the midpoint of each probe looked up per lane in a table held in
 * registers (vpermps / vpermt2ps), and a last look-up in the table of values
 * gives the value — no chain of dependent adds, and the same float.
 */
#ifndef QTK_SEARCH_AVX512_H
#define QTK_SEARCH_AVX512_H

#include "types_internal.h"

#include <immintrin.h>
#include <math.h>

/* Entry idx[lane] of a table of n <= 64 floats held in T[0..⌈n/16⌉). */
QTK_FORCE_INLINE __m512 qtk_lut512(const __m512 *T, int n, __m512i idx) {
    if (n <= 16) return _mm512_permutexvar_ps(idx, T[0]);
    const __m512 lo = _mm512_permutex2var_ps(T[0], idx, T[1]);
    if (n <= 32) return lo;
    const __m512 hi = _mm512_permutex2var_ps(T[2], idx, T[3]);
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(idx, _mm512_set1_epi32(32)), lo, hi);
}

/* Look-up tables of ngrid grids of ng int8 values (grid g at grid + ng·g; ngrid·ng <= 64):
 * M the midpoints, the last of each grid +inf (never probed), and V the values the
 * scalar loops reach, the grid's first value + (grid[k] − grid[0]) — its own values
 * when the grids differ by a constant, as every shifted grid does. */
static inline void qtk_grid_tables512(const int8_t *grid, int ng, int ngrid, __m512 M[4], __m512 V[4]) {
    float mt[64], vt[64];
    for (int g = 0; g < ngrid; g++) {
        const int8_t *G = grid + ng * g;
        for (int i = 0; i < ng; i++) {
            mt[ng * g + i] = i + 1 < ng ? 0.5f * ((float)G[i] + (float)G[i + 1]) : INFINITY;
            vt[ng * g + i] = (float)G[0] + (float)(grid[i] - grid[0]);
        }
    }
    for (int i = 0; i < 4; i++) {
        M[i] = i * 16 < ngrid * ng ? _mm512_loadu_ps(mt + 16 * i) : _mm512_setzero_ps();
        V[i] = i * 16 < ngrid * ng ? _mm512_loadu_ps(vt + 16 * i) : _mm512_setzero_ps();
    }
}

/* pos + the count of midpoints <= v among the `span` (a power of two) entries of M
 * (a table of n entries) from pos on; entries past a grid's last midpoint must never
 * compare true (NaN pads, or positions never probed). */
QTK_FORCE_INLINE __m512i qtk_nearest_pos512(const __m512 *M, int n, int span, __m512 v, __m512i pos) {
    for (int st = span / 2; st >= 1; st /= 2) {
        const __m512 m = qtk_lut512(M, n, _mm512_add_epi32(pos, _mm512_set1_epi32(st - 1)));
        pos = _mm512_mask_add_epi32(pos, _mm512_cmp_ps_mask(v, m, _CMP_GE_OQ), pos, _mm512_set1_epi32(st));
    }
    return pos;
}

#endif
