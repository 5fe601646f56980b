/*
 * act_quant_avx2.c — the activation quantizers (from_float of Q8_0, Q8_2
 * and Q8_K, and F16's) on 8 float lanes: every batch converts its activations once
 * per input, and the scalar loops (one serial max chain, scalar rounding)
 * cost a tenth or more of a batch product. Same bytes as the scalar
 * versions (legacy.c, q8_2.c, q8_k.c; test_panel checks it): the same
 * float operations, rounding by cvtps (nearest even, as qtk_nearest_int)
 * or by trunc + a half test (away from zero, as roundf). A block holding a
 * NaN or an infinity (or, for Q8_K, so small a maximum that -127/max
 * overflows) goes through the scalar version.
 */
#include "types_internal.h"

#include <float.h>
#include <immintrin.h>

/* max |x| over nv vectors of 8; *finite = no NaN or infinity among them. */
static inline float amax_avx2(const float *x, int nv, bool *finite) {
    const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(FLT_MAX);
    __m256 m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int k = 0; k < nv; k++) {
        const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k));
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, big, _CMP_NLE_UQ));  /* > FLT_MAX or NaN */
        m = _mm256_max_ps(m, a);
    }
    *finite = _mm256_movemask_ps(bad) == 0;
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 32 int32 lanes (4 vectors, in order) to 32 int8 (values within ±127). */
static inline void store_i8x32(int8_t *q, const __m256i i32[4]) {
    const __m256i p16a = _mm256_packs_epi32(i32[0], i32[1]), p16b = _mm256_packs_epi32(i32[2], i32[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    _mm256_storeu_si256((__m256i *)q, _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

void qtk_q8_0_from_float_avx2(const float *src, void *dst, int64_t n) {
    qtk_block_q8_0 *b = (qtk_block_q8_0 *)dst;
    const __m256 half = _mm256_set1_ps(0.5f), mhalf = _mm256_set1_ps(-0.5f), one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *x = src + i * QK8_0;
        bool finite;
        const float amax = amax_avx2(x, 4, &finite);
        if (!finite) {
            qtk_q8_0_from_float(x, &b[i], QK8_0);
            continue;
        }
        float d = amax / 127.0f;
        float id = d ? 1.0f / d : 0.0f;
        if (!isfinite(id)) id = 0.0f;
        if (d > 65504.0f) d = 65504.0f;  /* the scalar version's fp16 clamp */
        const uint16_t h = qtk_fp32_to_fp16(d);
        memcpy(&b[i].d, &h, sizeof h);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i i32[4];
        for (int k = 0; k < 4; k++) {
            /* roundf: t = trunc(v), v - t exact, then ±1 where |v - t| ≥ 1/2 */
            const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid);
            __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 f = _mm256_sub_ps(v, t);
            t = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(f, half, _CMP_GE_OQ), one));
            t = _mm256_sub_ps(t, _mm256_and_ps(_mm256_cmp_ps(f, mhalf, _CMP_LE_OQ), one));
            i32[k] = _mm256_cvttps_epi32(t);
        }
        store_i8x32(b[i].qs, i32);
    }
}

void qtk_q8_2_from_float_avx2(const float *src, void *dst, int64_t n) {
    qtk_block_q8_2 *y = (qtk_block_q8_2 *)dst;
    const __m256 lim = _mm256_set1_ps(127.0f), nlim = _mm256_set1_ps(-127.0f);
    for (int64_t i = 0; i < n / QK8_2; i++) {
        const float *x = src + i * QK8_2;
        bool finite;
        const float amax = amax_avx2(x, 4, &finite);
        if (!finite) {
            qtk_q8_2_from_float(x, &y[i], QK8_2);
            continue;
        }
        float d = amax / 127.0f;
        if (d > 65504.0f) d = 65504.0f;
        uint16_t h = qtk_fp32_to_fp16(d);
        float df = qtk_fp16_to_fp32(h);
        if (df > 0.0f && df < 65504.0f && amax / df >= 127.5f) df = qtk_fp16_to_fp32(++h);
        qtk_block_q8_2 b;
        memset(&b, 0, sizeof b);
        if (df > 0.0f) {
            const __m256 vid = _mm256_set1_ps(1.0f / df);
            __m256i i32[4], s = _mm256_setzero_si256();
            for (int k = 0; k < 4; k++) {
                const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid);
                i32[k] = _mm256_cvtps_epi32(_mm256_max_ps(_mm256_min_ps(v, lim), nlim));
                s = _mm256_add_epi32(s, i32[k]);
            }
            store_i8x32(b.qs, i32);
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
            b.d = h;
            b.sum = (int16_t)_mm_cvtsi128_si32(t);
        }
        memcpy(&y[i], &b, sizeof b);
    }
}

void qtk_q8_K_from_float_avx2(const float *src, void *dst, int64_t n) {
    qtk_block_q8_K *y = (qtk_block_q8_K *)dst;
    const __m256 sign = _mm256_set1_ps(-0.0f), lim = _mm256_set1_ps(127.0f);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        bool finite;
        const float amax = amax_avx2(x, QK_K / 8, &finite);
        if (!finite) {
            qtk_q8_K_from_float(x, &y[i], QK_K);
            continue;
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* the signed value of the first element of largest magnitude */
        const __m256 va = _mm256_set1_ps(amax);
        float max = 0.0f;
        for (int k = 0; k < QK_K / 8; k++) {
            const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)), va,
                                                           _CMP_EQ_OQ));
            if (m) {
                int j = 0;
                while (!(m >> j & 1)) j++;
                max = x[8 * k + j];
                break;
            }
        }
        const float iscale = -127.0f / max;
        if (!isfinite(iscale)) {  /* max below ~1e-37: the scalar version's (degenerate) bytes */
            qtk_q8_K_from_float(x, &y[i], QK_K);
            continue;
        }
        const __m256 vs = _mm256_set1_ps(iscale);
        int total = 0;
        for (int g = 0; g < QK_K / 32; g++) {
            __m256i i32[4];
            for (int k = 0; k < 4; k++) {
                /* min(127, nearest): on floats first (exact: 127 is an integer) */
                const __m256 v = _mm256_mul_ps(vs, _mm256_loadu_ps(x + 32 * g + 8 * k));
                i32[k] = _mm256_cvtps_epi32(_mm256_min_ps(v, lim));
            }
            store_i8x32(y[i].qs + 32 * g, i32);
            /* bsums of the two 16-blocks: lanes of i32[0..1] and i32[2..3] */
            for (int h = 0; h < 2; h++) {
                const __m256i s8 = _mm256_add_epi32(i32[2 * h], i32[2 * h + 1]);
                __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
                const int s = _mm_cvtsi128_si32(t);
                y[i].bsums[2 * g + h] = (int16_t)s;
                total += s;
            }
        }
        y[i].d = 1.0f / iscale;
        y[i].sum = y[i].d * (float)total;
    }
}

/* F16 (the activations of F16 weights, the KV cache's rows): vcvtps2ph rounds to
 * nearest even and quiets a NaN keeping its top payload bits, overflow to
 * infinity, subnormal halves exact: qtk_fp32_to_fp16's bits (test_panel). It was
 * ~4 % of an F16 model's pp512 as one call per value. */
void qtk_f16_from_float_avx2(const float *src, void *dst, int64_t n) {
    uint8_t *p = (uint8_t *)dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(p + 2 * i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) {
        const uint16_t h = qtk_fp32_to_fp16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}
