/* float_dot_avx512.c — AVX-512 dot products and multi-column kernels of F16
 * and BF16 weight rows (F16 × F16 and BF16 × BF16 activations, as llama.cpp).
 *
 * Every (row, column) product is one chain of 16-lane FMAs over the row in
 * order (the last partial vector zero-filled by a masked load), then the same
 * fixed horizontal sum: vec_dot and mul_mat give bit-identical results, and a
 * tile of 4 rows × 4 columns keeps 16 independent chains in flight, so a
 * batch converts each weight vector once per 4 columns and each activation
 * vector once per 4 rows instead of once per product (pp of an F16 model was
 * one vec_dot per row and token before). One chain per product makes the
 * single-column vec_dot latency-bound (16 MACs per FMA latency), which still
 * streams F16 weights faster than one thread's share of memory bandwidth. */
#include "float_dot.h"

#include <immintrin.h>

/* The fixed reduction of one accumulator: 16 -> 8 -> 4 -> 2 -> 1 lanes. */
static float hsum16(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/* 16 values from element k of a row (2 bytes each); `mask` selects the valid ones. */
static __m256i load_16x16(const uint8_t *p, __mmask16 mask) {
    /* a plain load for whole vectors: the masked form is slower where the mask is all ones */
    return mask == (__mmask16)0xFFFF ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(mask, p);
}
static __m512 load_f16(const uint8_t *row, int64_t k, __mmask16 mask) {
    return _mm512_cvtph_ps(load_16x16(row + 2 * k, mask));
}
static __m512 load_bf16(const uint8_t *row, int64_t k, __mmask16 mask) {
    __m512i w = _mm512_cvtepu16_epi32(load_16x16(row + 2 * k, mask));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

/* An R x C tile (R = 1 or 4, C = 1..4): out[c * os + r] = row r . column c.
 * Named accumulators and compile-time R/C tests, not arrays and loops: at -O2
 * the compiler keeps them in registers only this way. */
#define FT_COL(LOAD, R, C, c, A0, A1, A2, A3)                                                                    \
    if (C > c) {                                                                                                 \
        const __m512 v = LOAD(a + (size_t)c * as, k, m);                                                          \
        A0 = _mm512_fmadd_ps(w0, v, A0);                                                                          \
        if (R > 1) {                                                                                             \
            A1 = _mm512_fmadd_ps(w1, v, A1);                                                                      \
            A2 = _mm512_fmadd_ps(w2, v, A2);                                                                      \
            A3 = _mm512_fmadd_ps(w3, v, A3);                                                                      \
        }                                                                                                        \
    }
#define FT_STEP(LOAD, R, C)                                                                                      \
    {                                                                                                            \
        const __m512 w0 = LOAD(w, k, m);                                                                          \
        const __m512 w1 = R > 1 ? LOAD(w + ws, k, m) : w0;                                                         \
        const __m512 w2 = R > 1 ? LOAD(w + 2 * ws, k, m) : w0;                                                     \
        const __m512 w3 = R > 1 ? LOAD(w + 3 * ws, k, m) : w0;                                                     \
        FT_COL(LOAD, R, C, 0, s00, s10, s20, s30)                                                                 \
        FT_COL(LOAD, R, C, 1, s01, s11, s21, s31)                                                                 \
        FT_COL(LOAD, R, C, 2, s02, s12, s22, s32)                                                                 \
        FT_COL(LOAD, R, C, 3, s03, s13, s23, s33)                                                                 \
    }
#define FT_OUT(R, C, c, A0, A1, A2, A3)                                                                          \
    if (C > c) {                                                                                                 \
        out[(size_t)c * os] = hsum16(A0);                                                                         \
        if (R > 1) {                                                                                             \
            out[(size_t)c * os + 1] = hsum16(A1);                                                                 \
            out[(size_t)c * os + 2] = hsum16(A2);                                                                 \
            out[(size_t)c * os + 3] = hsum16(A3);                                                                 \
        }                                                                                                        \
    }
#define FLOAT_TILE(name, LOAD, R, C)                                                                              \
    static void name(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *out, size_t os) { \
        const __m512 z = _mm512_setzero_ps();                                                                     \
        __m512 s00 = z, s01 = z, s02 = z, s03 = z, s10 = z, s11 = z, s12 = z, s13 = z;                            \
        __m512 s20 = z, s21 = z, s22 = z, s23 = z, s30 = z, s31 = z, s32 = z, s33 = z;                            \
        int64_t k = 0;                                                                                            \
        for (; k + 16 <= n; k += 16) {                                                                            \
            const __mmask16 m = (__mmask16)0xFFFF;                                                                \
            if (R > 1 && (k & 31) == 0) { /* the next 4-row tile, same offset: its rows are 4 new streams */      \
                _mm_prefetch((const char *)(w + 4 * ws + 2 * k), _MM_HINT_T0);                                     \
                _mm_prefetch((const char *)(w + 5 * ws + 2 * k), _MM_HINT_T0);                                     \
                _mm_prefetch((const char *)(w + 6 * ws + 2 * k), _MM_HINT_T0);                                     \
                _mm_prefetch((const char *)(w + 7 * ws + 2 * k), _MM_HINT_T0);                                     \
            }                                                                                                     \
            FT_STEP(LOAD, R, C)                                                                                   \
        }                                                                                                         \
        if (k < n) { /* the last partial vector, zero-filled */                                                   \
            const __mmask16 m = (__mmask16)((1u << (n - k)) - 1u);                                                \
            FT_STEP(LOAD, R, C)                                                                                   \
        }                                                                                                         \
        FT_OUT(R, C, 0, s00, s10, s20, s30)                                                                       \
        FT_OUT(R, C, 1, s01, s11, s21, s31)                                                                       \
        FT_OUT(R, C, 2, s02, s12, s22, s32)                                                                       \
        FT_OUT(R, C, 3, s03, s13, s23, s33)                                                                       \
    }

#define FLOAT_KERNELS(t, LOAD)                                                                                    \
    FLOAT_TILE(t##_tile_4x4, LOAD, 4, 4)                                                                          \
    FLOAT_TILE(t##_tile_4x3, LOAD, 4, 3)                                                                          \
    FLOAT_TILE(t##_tile_4x2, LOAD, 4, 2)                                                                          \
    FLOAT_TILE(t##_tile_4x1, LOAD, 4, 1)                                                                          \
    FLOAT_TILE(t##_tile_1x4, LOAD, 1, 4)                                                                          \
    FLOAT_TILE(t##_tile_1x3, LOAD, 1, 3)                                                                          \
    FLOAT_TILE(t##_tile_1x2, LOAD, 1, 2)                                                                          \
    FLOAT_TILE(t##_tile_1x1, LOAD, 1, 1)                                                                          \
    void qtk_##t##_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {                            \
        t##_tile_1x1(n, (const uint8_t *)x, 0, (const uint8_t *)y, 0, s, 1);                                      \
    }                                                                                                             \
    void qtk_##t##_mul_mat_avx512(int64_t n, const void *w, size_t w_stride, const void *a, size_t a_stride,       \
                                  float *out, size_t out_stride, int64_t n_rows, int64_t n_cols) {                \
        typedef void (*tile_fn)(int64_t, const uint8_t *, size_t, const uint8_t *, size_t, float *, size_t);     \
        static const tile_fn four[5] = {NULL, t##_tile_4x1, t##_tile_4x2, t##_tile_4x3, t##_tile_4x4};            \
        static const tile_fn one[5] = {NULL, t##_tile_1x1, t##_tile_1x2, t##_tile_1x3, t##_tile_1x4};             \
        const uint8_t *pw = (const uint8_t *)w, *pa = (const uint8_t *)a;                                         \
        for (int64_t c0 = 0; c0 < n_cols; c0 += 4) {                                                              \
            const int nc = n_cols - c0 < 4 ? (int)(n_cols - c0) : 4;                                              \
            const uint8_t *ac = pa + (size_t)c0 * a_stride;                                                       \
            float *oc = out + (size_t)c0 * out_stride;                                                            \
            int64_t r = 0;                                                                                        \
            for (; r + 4 <= n_rows; r += 4) four[nc](n, pw + (size_t)r * w_stride, w_stride, ac, a_stride, oc + r, out_stride); \
            for (; r < n_rows; r++) one[nc](n, pw + (size_t)r * w_stride, w_stride, ac, a_stride, oc + r, out_stride); \
        }                                                                                                         \
    }

FLOAT_KERNELS(f16, load_f16)
FLOAT_KERNELS(bf16, load_bf16)
