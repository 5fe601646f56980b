/* float_dot_avx2.c — AVX2/FMA/F16C dot products of F32/F16/BF16 rows:
 * four independent 8-lane accumulators hide the FMA latency. */
#include "float_dot.h"

#include <immintrin.h>

/* Horizontal sum of the four accumulators. */
static float hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 s = _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

void qtk_f32_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    const float *px = (const float *)x, *py = (const float *)y;  /* loadu: alignment not needed */
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(px + i), _mm256_loadu_ps(py + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(px + i + 8), _mm256_loadu_ps(py + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(px + i + 16), _mm256_loadu_ps(py + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(px + i + 24), _mm256_loadu_ps(py + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(px + i), _mm256_loadu_ps(py + i), a0);
    float sum = hsum4(a0, a1, a2, a3);
    for (; i < n; i++) {
        float a, b;
        memcpy(&a, px + i, 4);
        memcpy(&b, py + i, 4);
        sum += a * b;
    }
    *s = sum;
}

static __m256 load_f16x8(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

void qtk_f16_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    const uint8_t *px = (const uint8_t *)x, *py = (const uint8_t *)y;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_f16x8(px + 2 * i), load_f16x8(py + 2 * i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(px + 2 * i + 16), load_f16x8(py + 2 * i + 16), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(px + 2 * i + 32), load_f16x8(py + 2 * i + 32), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(px + 2 * i + 48), load_f16x8(py + 2 * i + 48), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_f16x8(px + 2 * i), load_f16x8(py + 2 * i), a0);
    float sum = hsum4(a0, a1, a2, a3);
    for (; i < n; i++) {
        uint16_t a, b;
        memcpy(&a, px + 2 * i, 2);
        memcpy(&b, py + 2 * i, 2);
        sum += qtk_fp16_to_fp32(a) * qtk_fp16_to_fp32(b);
    }
    *s = sum;
}

/* bf16 -> f32 is a 16-bit left shift of the widened value. */
static __m256 load_bf16x8(const uint8_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

void qtk_bf16_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    const uint8_t *px = (const uint8_t *)x, *py = (const uint8_t *)y;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_bf16x8(px + 2 * i), load_bf16x8(py + 2 * i), a0);
        a1 = _mm256_fmadd_ps(load_bf16x8(px + 2 * i + 16), load_bf16x8(py + 2 * i + 16), a1);
        a2 = _mm256_fmadd_ps(load_bf16x8(px + 2 * i + 32), load_bf16x8(py + 2 * i + 32), a2);
        a3 = _mm256_fmadd_ps(load_bf16x8(px + 2 * i + 48), load_bf16x8(py + 2 * i + 48), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_bf16x8(px + 2 * i), load_bf16x8(py + 2 * i), a0);
    float sum = hsum4(a0, a1, a2, a3);
    for (; i < n; i++) {
        uint16_t a, b;
        memcpy(&a, px + 2 * i, 2);
        memcpy(&b, py + 2 * i, 2);
        sum += qtk_bf16_to_fp32(a) * qtk_bf16_to_fp32(b);
    }
    *s = sum;
}
