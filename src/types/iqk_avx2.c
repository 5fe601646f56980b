/*
 * iqk_avx2.c — AVX2 dot products of IQ2_K … IQ6_K with Q8_K activations.
 * Each super-block is unpacked into its 256 base-grid values (int8) with byte
 * shuffles; the shifted grid of a sub-block is its base grid plus a constant,
 * added back through the activations' 16-sums (bsums). Products are summed in
 * 32-bit lanes, so the integer result equals the scalar kernel's exactly.
 */
#include "iqk.h"
#include "grids.h"

#include <immintrin.h>

static uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* A 16-entry byte table broadcast to both 128-bit lanes (entries past n are 0). */
static __m256i table16(const int8_t *t, int n) {
    int8_t buf[16] = {0};
    for (int i = 0; i < n; i++) buf[i] = t[i];
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)buf));
}

/* ---- base-grid values of one super-block, per type ----------------------- */

void qtk_iq2_k_values_avx2(const uint8_t *b, int8_t *out) {
    const __m256i T = table16(qtk_iq2nl_values, 4), m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(b + 12 + 32 * h));
        for (int s = 0; s < 4; s++) {
            const __m256i idx = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3);
            _mm256_storeu_si256((__m256i *)(out + 128 * h + 32 * s), _mm256_shuffle_epi8(T, idx));
        }
    }
}

void qtk_iq3_k_values_avx2(const uint8_t *b, int8_t *out) {
    const __m256i T = table16(qtk_iq3nl_values, 8), m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 78));
    for (int h = 0; h < 2; h++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(b + 14 + 32 * h));
        for (int s = 0; s < 4; s++) {
            const int b32 = 4 * h + s;
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, b32), m1);
            const __m256i idx = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3),
                                                _mm256_slli_epi16(hi, 2));
            _mm256_storeu_si256((__m256i *)(out + 32 * b32), _mm256_shuffle_epi8(T, idx));
        }
    }
}

void qtk_iq4_k_values_avx2(const uint8_t *b, int8_t *out) {
    const __m256i T = table16(qtk_iq4nl_values, 16), m4 = _mm256_set1_epi8(0xF);
    for (int b32 = 0; b32 < 8; b32++) {
        const __m128i q = _mm_loadu_si128((const __m128i *)(b + 16 + 16 * b32));
        const __m256i qq = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
        const __m256i idx = _mm256_and_si256(qq, m4);
        _mm256_storeu_si256((__m256i *)(out + 32 * b32), _mm256_shuffle_epi8(T, idx));
    }
}

void qtk_iq5_k_values_avx2(const uint8_t *b, int8_t *out) {
    const __m256i T0 = table16(qtk_iq5nl_values, 16), T1 = table16(qtk_iq5nl_values + 16, 16);
    const __m256i m4 = _mm256_set1_epi8(0xF), m1 = _mm256_set1_epi8(1);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 144));
    for (int c = 0; c < 4; c++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * c));
        for (int half = 0; half < 2; half++) {
            const int b32 = 2 * c + half;
            const __m256i lo = _mm256_and_si256(half ? _mm256_srli_epi16(q, 4) : q, m4);
            const __m256i hi = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_srli_epi16(qh, b32), m1), m1);
            const __m256i v = _mm256_blendv_epi8(_mm256_shuffle_epi8(T0, lo), _mm256_shuffle_epi8(T1, lo), hi);
            _mm256_storeu_si256((__m256i *)(out + 32 * b32), v);
        }
    }
}

void qtk_iq6_k_values_avx2(const uint8_t *b, int8_t *out) {
    const __m256i T0 = table16(qtk_iq6nl_values, 16), T1 = table16(qtk_iq6nl_values + 16, 16);
    const __m256i T2 = table16(qtk_iq6nl_values + 32, 16), T3 = table16(qtk_iq6nl_values + 48, 16);
    const __m256i m4 = _mm256_set1_epi8(0xF), m1 = _mm256_set1_epi8(1), m2 = _mm256_set1_epi8(2);
    for (int c = 0; c < 4; c++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(b + 20 + 32 * c));
        for (int half = 0; half < 2; half++) {
            const int b32 = 2 * c + half;
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 148 + 32 * (b32 / 4)));
            const __m256i hi = _mm256_srli_epi16(qh, 2 * (b32 % 4));
            const __m256i lo = _mm256_and_si256(half ? _mm256_srli_epi16(q, 4) : q, m4);
            const __m256i s1 = _mm256_cmpeq_epi8(_mm256_and_si256(hi, m1), m1);
            const __m256i s2 = _mm256_cmpeq_epi8(_mm256_and_si256(hi, m2), m2);
            const __m256i v01 = _mm256_blendv_epi8(_mm256_shuffle_epi8(T0, lo), _mm256_shuffle_epi8(T1, lo), s1);
            const __m256i v23 = _mm256_blendv_epi8(_mm256_shuffle_epi8(T2, lo), _mm256_shuffle_epi8(T3, lo), s1);
            _mm256_storeu_si256((__m256i *)(out + 32 * b32), _mm256_blendv_epi8(v01, v23, s2));
        }
    }
}

/* ---- sub-block scales, per type (scalar: 16 small integers) ------------- */

void qtk_iqk_scales(int type, const uint8_t *b, int *S) {
    for (int j = 0; j < 16; j++) {
        switch (type) {
        case 2: S[j] = ((b[4 + j / 2] >> (4 * (j % 2))) & 0xF) - 8; break;
        case 3: {
            const int m = (b[6 + j / 2] >> (4 * (j % 2))) & 0xF;
            S[j] = (2 * m + 1) * (((rd16(b + 4) >> j) & 1) ? -1 : 1);
            break;
        }
        case 4:
        case 5: S[j] = (((b[8 + j / 2] >> (4 * (j % 2))) & 0xF) | (((b[4 + j / 4] >> (2 * (j % 4))) & 3) << 4)) - 32; break;
        default: S[j] = (int8_t)b[4 + j]; break;
        }
    }
}

/* Σ_j S_j·offset·shift_j·bsums_j: what the shifted grids add to the base-grid sum. */
int32_t qtk_iqk_shift_correction(uint16_t extra, const int *S, int offset, const int16_t *bsums) {
    int32_t c = 0;
    for (int j = 0; j < 16; j++)
        if ((extra >> j) & 1) c += S[j] * bsums[j];
    return c * offset;
}

typedef void (*values_fn)(const uint8_t *b, int8_t *out);

static void dot_avx2(int type, values_fn values, size_t bytes, int offset, int64_t n, float *s, const void *vx,
                     const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    int8_t vals[QK_K];
    int S[16];
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += bytes) {
        values(b, vals);
        qtk_iqk_scales(type, b, S);
        __m256i acc = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(vals + 32 * k));
            const __m256i q = _mm256_loadu_si256((const __m256i *)(y[ib].qs + 32 * k));
            const __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(q, v));
            const __m256i sc = _mm256_set_m128i(_mm_set1_epi16((short)S[2 * k + 1]), _mm_set1_epi16((short)S[2 * k]));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, sc));
        }
        __m128i a = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0x4E));
        a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0xB1));
        const int32_t isum = _mm_cvtsi128_si32(a) + qtk_iqk_shift_correction(rd16(b + 2), S, offset, y[ib].bsums);
        sum += (qtk_fp16_to_fp32(rd16(b)) * y[ib].d) * (float)isum;
    }
    *s = sum;
}

void qtk_iq2_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    dot_avx2(2, qtk_iq2_k_values_avx2, QTK_IQ2_K_SIZE, QTK_IQ2_K_SHIFT, n, s, x, y);
}
void qtk_iq3_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    dot_avx2(3, qtk_iq3_k_values_avx2, QTK_IQ3_K_SIZE, QTK_IQ3_K_SHIFT, n, s, x, y);
}
void qtk_iq4_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    dot_avx2(4, qtk_iq4_k_values_avx2, QTK_IQ4_K_SIZE, QTK_IQ4_K_SHIFT, n, s, x, y);
}
void qtk_iq5_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    dot_avx2(5, qtk_iq5_k_values_avx2, QTK_IQ5_K_SIZE, QTK_IQ5_K_SHIFT, n, s, x, y);
}
void qtk_iq6_k_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    dot_avx2(6, qtk_iq6_k_values_avx2, QTK_IQ6_K_SIZE, QTK_IQ6_K_SHIFT, n, s, x, y);
}
