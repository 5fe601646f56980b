/*
 * panel_avx2.c — the panel kernel with AVX2: maddubs with the sign trick
 * (|w| as the unsigned operand, y with w's sign), so a pair sum is at most
 * 2·127·127 = 32 258 and never saturates int16 (SPEED.md §3.2; the panel
 * never holds −128); madd by 1 widens to int32. Up to 4 columns per pass to
 * stay within 16 registers. Results equal the scalar reference exactly.
 */
#include "panel.h"

#include <immintrin.h>

#define R 8  /* rows per panel */
#define BLOCK_BYTES qtk_panel_block_bytes(R)

static inline __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

QTK_FORCE_INLINE void gemm_nc(int64_t n, const uint8_t *panel, const qtk_panel_act *act, int c0, float *out,
                           size_t out_stride, int nr, const int NC) {
    const int64_t nb = n / QTK_PANEL_B;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = panel + (size_t)b * BLOCK_BYTES;
        const uint8_t *q = blk + R * sizeof(float);
        const size_t yoff = (size_t)(b >> 3) * act->super_stride + (size_t)(b & 7) * act->block_stride;
        __m256i s[4];
        for (int c = 0; c < NC; c++) s[c] = _mm256_setzero_si256();
        for (int g = 0; g < 8; g++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(q + 32 * g));
            const __m256i aw = _mm256_abs_epi8(w);
            for (int c = 0; c < NC; c++) {
                const __m256i y = _mm256_sign_epi8(bcast4(act->qs[c0 + c] + yoff + 4 * g), w);
                s[c] = _mm256_add_epi32(s[c], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, y), ones));
            }
        }
        const __m256 dw = _mm256_loadu_ps((const float *)blk);
        for (int c = 0; c < NC; c++) {
            const float dy = act->d[(size_t)(c0 + c) * (size_t)nb + (size_t)b];
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[c]), _mm256_mul_ps(dw, _mm256_set1_ps(dy)), acc[c]);
        }
    }
    for (int c = 0; c < NC; c++) {
        float t[R];
        _mm256_storeu_ps(t, acc[c]);
        for (int r = 0; r < nr; r++) out[(size_t)(c0 + c) * out_stride + (size_t)r] = t[r];
    }
}

void qtk_panel_gemm_avx2(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                         int nr) {
    for (int c0 = 0; c0 < act->n_cols; c0 += 4) {
        switch (act->n_cols - c0 >= 4 ? 4 : act->n_cols - c0) {
        case 1: gemm_nc(n, panel, act, c0, out, out_stride, nr, 1); break;
        case 2: gemm_nc(n, panel, act, c0, out, out_stride, nr, 2); break;
        case 3: gemm_nc(n, panel, act, c0, out, out_stride, nr, 3); break;
        default: gemm_nc(n, panel, act, c0, out, out_stride, nr, 4); break;
        }
    }
}

/* maddubs + madd + add per 32 int8 products, as the kernel above does them,
 * on 8 independent chains. */
int64_t qtk_panel_peak_avx2(int64_t iters, int seed, int32_t *sink) {
    __m256i a[8];
    const __m256i u = _mm256_set1_epi8((char)(seed & 0x3f)), s = _mm256_set1_epi8((char)(seed + 3));
    const __m256i ones = _mm256_set1_epi16(1);
    for (int i = 0; i < 8; i++) a[i] = _mm256_set1_epi32(i);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) a[i] = _mm256_add_epi32(a[i], _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones));
    __m256i t = a[0];
    for (int i = 1; i < 8; i++) t = _mm256_add_epi32(t, a[i]);
    *sink = _mm256_extract_epi32(t, 0);
    return iters * 8 * 32;
}

/* The conversion's re-quantization (panel.h), the same operations as the
 * scalar version, so the same bytes. */
void qtk_panel_quant_avx2(const float *v, int64_t n, float *d, int8_t *q) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / QTK_PANEL_B; b++) {
        __m256 x[4];
        for (int i = 0; i < 4; i++) x[i] = _mm256_loadu_ps(v + b * QTK_PANEL_B + 8 * i);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, x[0]), _mm256_andnot_ps(sign, x[1])),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, x[2]), _mm256_andnot_ps(sign, x[3])));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        const float dd = amax / 127.0f, id = dd > 0.0f ? 1.0f / dd : 0.0f;
        d[b] = dd;
        const __m256 vid = _mm256_set1_ps(id);
        const __m256i lim = _mm256_set1_epi32(127), nlim = _mm256_set1_epi32(-127);
        __m256i i32[4];
        for (int i = 0; i < 4; i++)
            i32[i] = _mm256_max_epi32(_mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(x[i], vid)), lim), nlim);
        /* packs interleave the 128-bit lanes; the permute restores the order */
        const __m256i p16a = _mm256_packs_epi32(i32[0], i32[1]), p16b = _mm256_packs_epi32(i32[2], i32[3]);
        const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        _mm256_storeu_si256((__m256i *)(q + b * QTK_PANEL_B),
                            _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
}
