/*
 * attn_kernels_avx512.c — AVX-512 attention inner loops (see attn_kernels.h
 * and attn_kernels_avx2.c for the structure): 16 lanes along the head
 * dimension, a head_dim that is not a multiple of 16 ends with one masked
 * load (masked lanes are zero, so they add nothing). 32 registers allow more
 * keys (q·k) or chunks (p·V) in flight than AVX2.
 */
#include "attn_kernels.h"

#include <immintrin.h>
#include <math.h>

QTK_FORCE_INLINE __m512 load16(const void *rows, const int f16, int64_t i) {
    if (f16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)((const uint16_t *)rows + i)));
    return _mm512_loadu_ps((const float *)rows + i);
}

QTK_FORCE_INLINE __m512 load16_mask(const void *rows, const int f16, int64_t i, __mmask16 m) {
    if (f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)rows + i));
    return _mm512_maskz_loadu_ps(m, (const float *)rows + i);
}

/* Sums of four accumulators, each as (lanes i + i+8) then the AVX2 tree. */
static inline __m128 hsum4x(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
#define HALF(a) _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)))
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(HALF(a0), HALF(a1)), _mm256_hadd_ps(HALF(a2), HALF(a3)));
#undef HALF
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

QTK_FORCE_INLINE void qk_tile(int64_t hd, const int NR, const int KU, const float *const *q, const void *k, const int f16,
                         int64_t j, float *s, int64_t ss) {
    __m512 acc[8][QTK_ATTN_MAX_ROWS];
    for (int u = 0; u < KU; u++)
        for (int r = 0; r < NR; r++) acc[u][r] = _mm512_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= hd; d += 16) {
        __m512 kv[8];
        for (int u = 0; u < KU; u++) kv[u] = load16(k, f16, (j + u) * hd + d);
        for (int r = 0; r < NR; r++) {
            const __m512 qv = _mm512_loadu_ps(q[r] + d);
            for (int u = 0; u < KU; u++) acc[u][r] = _mm512_fmadd_ps(qv, kv[u], acc[u][r]);
        }
    }
    if (d < hd) {
        const __mmask16 m = (__mmask16)((1u << (hd - d)) - 1);
        __m512 kv[8];
        for (int u = 0; u < KU; u++) kv[u] = load16_mask(k, f16, (j + u) * hd + d, m);
        for (int r = 0; r < NR; r++) {
            const __m512 qv = _mm512_maskz_loadu_ps(m, q[r] + d);
            for (int u = 0; u < KU; u++) acc[u][r] = _mm512_fmadd_ps(qv, kv[u], acc[u][r]);
        }
    }
    const __m512 z = _mm512_setzero_ps();
    for (int u = 0; u < KU; u++)
        for (int r = 0; r < NR; r += 4) {
            float t[4];
            _mm_storeu_ps(t, hsum4x(acc[u][r], r + 1 < NR ? acc[u][r + 1] : z, r + 2 < NR ? acc[u][r + 2] : z,
                                   r + 3 < NR ? acc[u][r + 3] : z));
            for (int i = 0; i < 4 && r + i < NR; i++) s[(r + i) * ss + j + u] = t[i];
        }
}

QTK_FORCE_INLINE void qk_rows(int64_t hd, const int NR, const float *const *q, int64_t nk, const void *k, const int f16,
                         float *s, int64_t ss) {
    const int KU = NR == 1 ? 8 : NR == 2 ? 4 : 2;
    int64_t j = 0;
    for (; j + KU <= nk; j += KU) qk_tile(hd, NR, KU, q, k, f16, j, s, ss);
    for (; j < nk; j++) qk_tile(hd, NR, 1, q, k, f16, j, s, ss);
}

/* o[r][d .. d+16*DU) += sum_j p[r][j] * v_j[d ..]; masked: only the first
 * hd-d lanes of a single chunk (DU == 1). */
QTK_FORCE_INLINE void pv_tile(int64_t hd, const int NR, const int DU, const int masked, const float *p, int64_t ps,
                         int64_t nk, const void *v, const int f16, int64_t d, float *const *o) {
    const __mmask16 m = masked ? (__mmask16)((1u << (hd - d)) - 1) : (__mmask16)0xFFFF;
    __m512 acc[4][QTK_ATTN_MAX_ROWS];
    for (int r = 0; r < NR; r++)
        for (int u = 0; u < DU; u++)
            acc[u][r] = masked ? _mm512_maskz_loadu_ps(m, o[r] + d) : _mm512_loadu_ps(o[r] + d + 16 * u);
    for (int64_t j = 0; j < nk; j++) {
        __m512 vv[4];
        for (int u = 0; u < DU; u++)
            vv[u] = masked ? load16_mask(v, f16, j * hd + d, m) : load16(v, f16, j * hd + d + 16 * u);
        for (int r = 0; r < NR; r++) {
            const __m512 w = _mm512_set1_ps(p[r * ps + j]);
            for (int u = 0; u < DU; u++) acc[u][r] = _mm512_fmadd_ps(w, vv[u], acc[u][r]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int u = 0; u < DU; u++) {
            if (masked)
                _mm512_mask_storeu_ps(o[r] + d, m, acc[u][r]);
            else
                _mm512_storeu_ps(o[r] + d + 16 * u, acc[u][r]);
        }
}

QTK_FORCE_INLINE void pv_rows(int64_t hd, const int NR, const float *p, int64_t ps, int64_t nk, const void *v,
                         const int f16, float *const *o) {
    const int DU = NR <= 4 ? 4 : 2;
    int64_t d = 0;
    for (; d + 16 * DU <= hd; d += 16 * DU) pv_tile(hd, NR, DU, 0, p, ps, nk, v, f16, d, o);
    for (; d + 16 <= hd; d += 16) pv_tile(hd, NR, 1, 0, p, ps, nk, v, f16, d, o);
    if (d < hd) pv_tile(hd, NR, 1, 1, p, ps, nk, v, f16, d, o);
}

void qtk_attn_qk_f16_avx512(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s,
                            int64_t ss) {
#define QK(N) qk_rows(hd, N, q, nk, k, 1, s, ss)
    ATTN_BY_ROWS(QK)
#undef QK
}

void qtk_attn_qk_f32_avx512(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s,
                            int64_t ss) {
#define QK(N) qk_rows(hd, N, q, nk, k, 0, s, ss)
    ATTN_BY_ROWS(QK)
#undef QK
}

void qtk_attn_pv_f16_avx512(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v,
                            float *const *o) {
#define PV(N) pv_rows(hd, N, p, ps, nk, v, 1, o)
    ATTN_BY_ROWS(PV)
#undef PV
}

void qtk_attn_pv_f32_avx512(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v,
                            float *const *o) {
#define PV(N) pv_rows(hd, N, p, ps, nk, v, 0, o)
    ATTN_BY_ROWS(PV)
#undef PV
}

/* ---- softmax helpers (see attn_kernels_avx2.c) ------------------------------- */

float qtk_attn_scale_max_avx512(int64_t n, float *s, float scale) {
    const __m512 sc = _mm512_set1_ps(scale);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j < n; j += 16) {
        const __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), sc);
        _mm512_mask_storeu_ps(s + j, m, x);
        mx = _mm512_mask_max_ps(mx, m, mx, x);
    }
    return _mm512_reduce_max_ps(mx);
}

/* exp(x) for x <= 88, 0 below -87.3: the polynomial of attn_kernels_avx2.c's exp8. */
static inline __m512 exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f);
    const __mmask16 ok = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_max_ps(x, lo);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(ok, p, _mm512_castsi512_ps(e));
}

float qtk_attn_exp_sum_avx512(int64_t n, float *s, float m) {
    const __m512 mv = _mm512_set1_ps(m);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        const __m512 y = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), mv)));
        _mm512_mask_storeu_ps(s + j, k, y);
        acc = _mm512_add_ps(acc, y);
    }
    float t[4];
    const __m512 z = _mm512_setzero_ps();
    _mm_storeu_ps(t, hsum4x(acc, z, z, z));
    return t[0];
}

void qtk_swiglu_avx512(int64_t n, float *gate, const float *up) {
    const __m512 one = _mm512_set1_ps(1.0f), cap = _mm512_set1_ps(88.0f);
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(k, gate + j);
        const __m512 e = exp16(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), g), cap));
        const __m512 y = _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(k, up + j));
        const __mmask16 over = _mm512_cmp_ps_mask(g, _mm512_set1_ps(-88.0f), _CMP_LT_OQ); /* exp(-g) past the cap: 0 */
        _mm512_mask_storeu_ps(gate + j, k, _mm512_maskz_mov_ps((__mmask16)~over, y));
    }
}
