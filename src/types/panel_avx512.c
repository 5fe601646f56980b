/*
 * panel_avx512.c — the panel kernel with AVX-512 VNNI on 512-bit registers:
 * panels of 16 rows, the panel holds q + 128 (unsigned), one vpdpbusd adds
 * 4 products into each of the 16 row lanes, and 128 · Σy (the block sums
 * of the activation tile) is subtracted once per block. No int16
 * stage, so no saturation. Results equal the scalar reference exactly.
 */
#include "panel.h"

#include <immintrin.h>

#define R 16  /* rows per panel: one 512-bit register of int32 lanes */
#define BLOCK_BYTES qtk_panel_block_bytes(R)

static inline __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* NC columns (a compile-time constant after inlining, so acc[] lives in registers). */
QTK_FORCE_INLINE void gemm_nc(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                              int nr, const int NC) {
    const int64_t nb = n / QTK_PANEL_B;
    __m512 acc[QTK_PANEL_MAX_COLS];
    const int8_t *yq[QTK_PANEL_MAX_COLS];
    const float *yd[QTK_PANEL_MAX_COLS];
    const int32_t *ys[QTK_PANEL_MAX_COLS];
    QTK_UNROLL
    for (int c = 0; c < NC; c++) {
        acc[c] = _mm512_setzero_ps();
        yq[c] = act->qs[c];
        yd[c] = act->d + (size_t)c * (size_t)nb;
        ys[c] = act->sum + (size_t)c * (size_t)nb;
    }
    const size_t bs = act->block_stride, ss = act->super_stride;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = panel + (size_t)b * BLOCK_BYTES;
        const __m512 dw = _mm512_loadu_ps((const float *)blk);
        const uint8_t *q = blk + R * sizeof(float);
        __m512i w[8];
        QTK_UNROLL
        for (int g = 0; g < 8; g++) w[g] = _mm512_loadu_si512((const void *)(q + 64 * g));
        const size_t yoff = (size_t)(b >> 3) * ss + (size_t)(b & 7) * bs;
        QTK_UNROLL
        for (int c = 0; c < NC; c++) {
            const int8_t *y = yq[c] + yoff;
            __m512i s = _mm512_set1_epi32(-128 * ys[c][b]);
            QTK_UNROLL
            for (int g = 0; g < 8; g++) s = _mm512_dpbusd_epi32(s, w[g], bcast4(y + 4 * g));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(yd[c][b])), acc[c]);
        }
    }
    QTK_UNROLL
    for (int c = 0; c < NC; c++) {
        float t[R];
        _mm512_storeu_ps(t, acc[c]);
        for (int r = 0; r < nr; r++) out[(size_t)c * out_stride + (size_t)r] = t[r];
    }
}

void qtk_panel_gemm_avx512(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                           int nr) {
    switch (act->n_cols) {
    case 1: gemm_nc(n, panel, act, out, out_stride, nr, 1); break;
    case 2: gemm_nc(n, panel, act, out, out_stride, nr, 2); break;
    case 3: gemm_nc(n, panel, act, out, out_stride, nr, 3); break;
    case 4: gemm_nc(n, panel, act, out, out_stride, nr, 4); break;
    case 5: gemm_nc(n, panel, act, out, out_stride, nr, 5); break;
    case 6: gemm_nc(n, panel, act, out, out_stride, nr, 6); break;
    case 7: gemm_nc(n, panel, act, out, out_stride, nr, 7); break;
    case 8: gemm_nc(n, panel, act, out, out_stride, nr, 8); break;
    default: break;
    }
}

/* 12 independent vpdpbusd chains (latency × throughput on current cores). */
int64_t qtk_panel_peak_avx512(int64_t iters, int seed, int32_t *sink) {
    __m256i a[12];
    const __m256i u = _mm256_set1_epi8((char)(seed | 1)), s = _mm256_set1_epi8((char)(seed + 3));
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_epi32(i);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_dpbusd_epi32(a[i], u, s);
    __m256i t = a[0];
    for (int i = 1; i < 12; i++) t = _mm256_add_epi32(t, a[i]);
    *sink = _mm256_extract_epi32(t, 0);
    return iters * 12 * 32;
}

/* The conversion's re-quantization (panel.h), 32 values per step; the
 * same operations as the scalar version (division for d and 1/d, one
 * multiply, round to nearest even), so the same bytes. */
void qtk_panel_quant_avx512(const float *v, int64_t n, float *d, int8_t *q) {
    for (int64_t b = 0; b < n / QTK_PANEL_B; b++) {
        const __m512 x0 = _mm512_loadu_ps(v + b * QTK_PANEL_B), x1 = _mm512_loadu_ps(v + b * QTK_PANEL_B + 16);
        const __m512 m = _mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1));
        const float amax = _mm512_reduce_max_ps(m);
        const float dd = amax / 127.0f, id = dd > 0.0f ? 1.0f / dd : 0.0f;
        d[b] = dd;
        const __m512 vid = _mm512_set1_ps(id);
        const __m512i lim = _mm512_set1_epi32(127), nlim = _mm512_set1_epi32(-127);
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, vid)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, vid));
        i0 = _mm512_max_epi32(_mm512_min_epi32(i0, lim), nlim);
        i1 = _mm512_max_epi32(_mm512_min_epi32(i1, lim), nlim);
        _mm_storeu_si128((__m128i *)(q + b * QTK_PANEL_B), _mm512_cvtepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(q + b * QTK_PANEL_B + 16), _mm512_cvtepi32_epi8(i1));
    }
}
