/*
 * iqk_avx512.c — AVX-512 dot products of IQ2_K … IQ6_K with Q8_K activations.
 * Values are unpacked as in iqk_avx2.c; with AVX-512 VNNI the products go
 * through vpdpbusd on 64 bytes at a time (grid values offset by +128 to make
 * them unsigned, the offset removed again through the 16-sums), exact in
 * 32 bits. CPUs with AVX-512 but no VNNI take the AVX2 kernel.
 */
#include "iqk.h"

#include <immintrin.h>

static uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

typedef void (*values_fn)(const uint8_t *b, int8_t *out);

static void dot_vnni(int type, values_fn values, size_t bytes, int offset, int64_t n, float *s, const void *vx,
                     const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    int8_t vals[QK_K];
    int S[16];
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += bytes) {
        values(b, vals);
        qtk_iqk_scales(type, b, S);
        __m512i acc = _mm512_setzero_si512();
        for (int k = 0; k < 4; k++) {
            /* bytes 64k..64k+63 = sub-blocks 4k..4k+3; lane l covers bytes 4l..4l+3 */
            const __m512i v = _mm512_xor_si512(_mm512_loadu_si512((const void *)(vals + 64 * k)), bias);
            const __m512i q = _mm512_loadu_si512((const void *)(y[ib].qs + 64 * k));
            const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v, q);
            const __m512i sc = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi32(S[4 * k + 1]), _mm_set1_epi32(S[4 * k]))),
                _mm256_set_m128i(_mm_set1_epi32(S[4 * k + 3]), _mm_set1_epi32(S[4 * k + 2])), 1);
            acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(p, sc));
        }
        int32_t corr = 0; /* remove the +128 bias: Σ S_j·128·bsum_j */
        for (int j = 0; j < 16; j++) corr += S[j] * y[ib].bsums[j];
        const int32_t isum = _mm512_reduce_add_epi32(acc) - 128 * corr +
                             qtk_iqk_shift_correction(rd16(b + 2), S, offset, y[ib].bsums);
        sum += (qtk_fp16_to_fp32(rd16(b)) * y[ib].d) * (float)isum;
    }
    *s = sum;
}

#define IQK_AVX512(t, T)                                                                         \
    void qtk_iq##t##_k_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {        \
        if (!qtk_cpu()->avx512vnni) {                                                              \
            qtk_iq##t##_k_vec_dot_avx2(n, s, x, y);                                                \
            return;                                                                                \
        }                                                                                          \
        dot_vnni(t, qtk_iq##t##_k_values_avx2, QTK_IQ##T##_K_SIZE, QTK_IQ##T##_K_SHIFT, n, s, x, y); \
    }

IQK_AVX512(2, 2)
IQK_AVX512(3, 3)
IQK_AVX512(4, 4)
IQK_AVX512(5, 5)
IQK_AVX512(6, 6)
