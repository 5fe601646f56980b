/*
 * attn_kernels_avx2.c — AVX2/FMA/F16C attention inner loops (see
 * attn_kernels.h). 8 lanes along the head dimension; F16 rows are widened
 * with vcvtph2ps (exact). q·k keeps one accumulator per (row, key) and
 * takes several keys at a time when there are few rows, p·V one per (row,
 * 8-lane chunk) and several chunks at a time when there are few rows, so
 * enough FMA chains are in flight either way. The order of operations of a
 * row never depends on how many rows or keys are taken together.
 */
#include "attn_kernels.h"

#include <immintrin.h>
#include <math.h>

QTK_FORCE_INLINE __m256 load8(const void *rows, const int f16, int64_t i) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)rows + i)));
    return _mm256_loadu_ps((const float *)rows + i);
}

QTK_FORCE_INLINE float elem(const void *rows, const int f16, int64_t i) {
    return f16 ? qtk_fp16_to_fp32(((const uint16_t *)rows)[i]) : ((const float *)rows)[i];
}

/* Sums of four accumulators, each as ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)). */
static inline __m128 hsum4x(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* Scores of NR rows against KU consecutive keys starting at key j. */
QTK_FORCE_INLINE void qk_tile(int64_t hd, const int NR, const int KU, const float *const *q, const void *k, const int f16,
                         int64_t j, float *s, int64_t ss) {
    __m256 acc[4][QTK_ATTN_MAX_ROWS];
    for (int u = 0; u < KU; u++)
        for (int r = 0; r < NR; r++) acc[u][r] = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 8 <= hd; d += 8) {
        __m256 kv[4];
        for (int u = 0; u < KU; u++) kv[u] = load8(k, f16, (j + u) * hd + d);
        for (int r = 0; r < NR; r++) {
            const __m256 qv = _mm256_loadu_ps(q[r] + d);
            for (int u = 0; u < KU; u++) acc[u][r] = _mm256_fmadd_ps(qv, kv[u], acc[u][r]);
        }
    }
    const __m256 z = _mm256_setzero_ps();
    for (int u = 0; u < KU; u++) {
        for (int r = 0; r < NR; r += 4) {
            float t[4];
            _mm_storeu_ps(t, hsum4x(acc[u][r], r + 1 < NR ? acc[u][r + 1] : z, r + 2 < NR ? acc[u][r + 2] : z,
                                   r + 3 < NR ? acc[u][r + 3] : z));
            for (int i = 0; i < 4 && r + i < NR; i++) s[(r + i) * ss + j + u] = t[i];
        }
        for (int r = 0; r < NR && d < hd; r++) {  /* head_dim not a multiple of 8 */
            float a = s[r * ss + j + u];
            for (int64_t e = d; e < hd; e++) a += q[r][e] * elem(k, f16, (j + u) * hd + e);
            s[r * ss + j + u] = a;
        }
    }
}

QTK_FORCE_INLINE void qk_rows(int64_t hd, const int NR, const float *const *q, int64_t nk, const void *k, const int f16,
                         float *s, int64_t ss) {
    const int KU = NR == 1 ? 4 : NR == 2 ? 4 : NR <= 4 ? 2 : 1;
    int64_t j = 0;
    for (; j + KU <= nk; j += KU) qk_tile(hd, NR, KU, q, k, f16, j, s, ss);
    for (; j < nk; j++) qk_tile(hd, NR, 1, q, k, f16, j, s, ss);
}

/* o[r][d .. d+8*DU) += sum_j p[r][j] * v_j[d ..]. */
QTK_FORCE_INLINE void pv_tile(int64_t hd, const int NR, const int DU, const float *p, int64_t ps, int64_t nk,
                         const void *v, const int f16, int64_t d, float *const *o) {
    __m256 acc[4][QTK_ATTN_MAX_ROWS];
    for (int r = 0; r < NR; r++)
        for (int u = 0; u < DU; u++) acc[u][r] = _mm256_loadu_ps(o[r] + d + 8 * u);
    for (int64_t j = 0; j < nk; j++) {
        __m256 vv[4];
        for (int u = 0; u < DU; u++) vv[u] = load8(v, f16, j * hd + d + 8 * u);
        for (int r = 0; r < NR; r++) {
            const __m256 w = _mm256_broadcast_ss(p + r * ps + j);
            for (int u = 0; u < DU; u++) acc[u][r] = _mm256_fmadd_ps(w, vv[u], acc[u][r]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int u = 0; u < DU; u++) _mm256_storeu_ps(o[r] + d + 8 * u, acc[u][r]);
}

QTK_FORCE_INLINE void pv_rows(int64_t hd, const int NR, const float *p, int64_t ps, int64_t nk, const void *v,
                         const int f16, float *const *o) {
    const int DU = NR <= 2 ? 4 : NR <= 4 ? 2 : 1;
    int64_t d = 0;
    for (; d + 8 * DU <= hd; d += 8 * DU) pv_tile(hd, NR, DU, p, ps, nk, v, f16, d, o);
    for (; d + 8 <= hd; d += 8) pv_tile(hd, NR, 1, p, ps, nk, v, f16, d, o);
    for (; d < hd; d++)  /* head_dim not a multiple of 8 */
        for (int r = 0; r < NR; r++) {
            float a = o[r][d];
            for (int64_t j = 0; j < nk; j++) a += p[r * ps + j] * elem(v, f16, j * hd + d);
            o[r][d] = a;
        }
}

void qtk_attn_qk_f16_avx2(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s,
                          int64_t ss) {
#define QK(N) qk_rows(hd, N, q, nk, k, 1, s, ss)
    ATTN_BY_ROWS(QK)
#undef QK
}

void qtk_attn_qk_f32_avx2(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s,
                          int64_t ss) {
#define QK(N) qk_rows(hd, N, q, nk, k, 0, s, ss)
    ATTN_BY_ROWS(QK)
#undef QK
}

void qtk_attn_pv_f16_avx2(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v,
                          float *const *o) {
#define PV(N) pv_rows(hd, N, p, ps, nk, v, 1, o)
    ATTN_BY_ROWS(PV)
#undef PV
}

void qtk_attn_pv_f32_avx2(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v,
                          float *const *o) {
#define PV(N) pv_rows(hd, N, p, ps, nk, v, 0, o)
    ATTN_BY_ROWS(PV)
#undef PV
}

/* ---- softmax helpers --------------------------------------------------------- */

float qtk_attn_scale_max_avx2(int64_t n, float *s, float scale) {
    const __m256 sc = _mm256_set1_ps(scale);
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(s + j), sc);
        _mm256_storeu_ps(s + j, x);
        mx = _mm256_max_ps(mx, x);
    }
    float t[8], m = -INFINITY;
    _mm256_storeu_ps(t, mx);
    for (int i = 0; i < 8; i++) m = t[i] > m ? t[i] : m;
    for (; j < n; j++) {
        s[j] *= scale;
        m = s[j] > m ? s[j] : m;
    }
    return m;
}

/* exp(x) for x <= 88 (Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-6
 * polynomial, 2^n into the exponent, n <= 127); 0 below -87.3 (2^n would not be
 * normal). The softmax passes x <= 0, the SwiGLU caps its argument at 88. */
static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lo);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

float qtk_attn_exp_sum_avx2(int64_t n, float *s, float m) {
    const __m256 mv = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 y = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
        _mm256_storeu_ps(s + j, y);
        acc = _mm256_add_ps(acc, y);
    }
    if (j < n) {  /* the tail through the same polynomial, padded with -inf (exp = 0) */
        float t[8];
        for (int i = 0; i < 8; i++) t[i] = j + i < n ? s[j + i] - m : -INFINITY;
        const __m256 y = exp8(_mm256_loadu_ps(t));
        _mm256_storeu_ps(t, y);
        for (int i = 0; j + i < n; i++) s[j + i] = t[i];
        acc = _mm256_add_ps(acc, y);
    }
    float t[4];
    _mm_storeu_ps(t, hsum4x(acc, _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()));
    return t[0];
}

static inline __m256 swiglu8(__m256 g, __m256 u) {
    const __m256 e = exp8(_mm256_min_ps(_mm256_sub_ps(_mm256_setzero_ps(), g), _mm256_set1_ps(88.0f)));
    const __m256 y = _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
    return _mm256_andnot_ps(_mm256_cmp_ps(g, _mm256_set1_ps(-88.0f), _CMP_LT_OQ), y); /* exp(-g) past the cap: 0 */
}

void qtk_swiglu_avx2(int64_t n, float *gate, const float *up) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(gate + j, swiglu8(_mm256_loadu_ps(gate + j), _mm256_loadu_ps(up + j)));
    if (j < n) {  /* the tail through the same operations, padded with zeros */
        float g[8] = {0}, u[8] = {0};
        for (int i = 0; j + i < n; i++) g[i] = gate[j + i], u[i] = up[j + i];
        _mm256_storeu_ps(g, swiglu8(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
        for (int i = 0; j + i < n; i++) gate[j + i] = g[i];
    }
}
