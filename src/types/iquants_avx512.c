/*
 * iquants_avx512.c — AVX-512 (F/BW/VL, VNNI when present) dot products of
 * IQ4_NL (× Q8_0) and IQ4_XS (× Q8_K). The signed grid is fed to the
 * unsigned×signed byte multipliers as |T| with T's sign moved onto the
 * activation; VNNI dpbusd adds into 32-bit lanes without saturation, the
 * maddubs fallback stays exact since |pair| <= 2·127·127. Double steps mirror
 * iquants.c.
 */
#include "iquants.h"
#include "grids.h"

#include <immintrin.h>

static inline uint16_t ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* 32-bit partial sums (8 lanes) of Σ T[q]·y over one 32-weight block; dpbusd
 * when the CPU has VNNI, else maddubs (|pair| <= 32512, exact) + madd. */
static inline __m256i nl_block_dot(const uint8_t *qs, const int8_t *q8, __m256i table, int vnni) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m256i idx = _mm256_and_si256(
        _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1), _mm256_set1_epi8(0x0F));
    const __m256i v = _mm256_shuffle_epi8(table, idx);
    const __m256i y = _mm256_loadu_si256((const __m256i *)q8);
    if (vnni) return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(v), _mm256_sign_epi8(y, v));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(y, v)),
                             _mm256_set1_epi16(1));
}

void qtk_iq4_nl_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const int64_t nb = n / 32;
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values));
    const int vnni = qtk_cpu()->avx512vnni; /* the AVX512 level does not imply VNNI */
    __m256d acc_lo = _mm256_setzero_pd(), acc_hi = _mm256_setzero_pd();
    int64_t ib = 0;
    for (; ib + 8 <= nb; ib += 8) {
        const uint8_t *xb = x + ib * sizeof(qtk_block_iq4_nl);
        const qtk_block_q8_0 *yb = y + ib;
        __m256i p[8];
        for (int k = 0; k < 8; k++)
            p[k] = nl_block_dot(xb + k * sizeof(qtk_block_iq4_nl) + 2, yb[k].qs, table, vnni);
        /* transpose-reduce: lane k of `sums` = total of block ib+k */
        const __m256i h0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
        const __m256i h4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
        const __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                                              _mm256_permute2x128_si256(h0123, h4567, 0x31));
        const __m128i hx = _mm_setr_epi16(
            (short)ld16(xb), (short)ld16(xb + 18), (short)ld16(xb + 36), (short)ld16(xb + 54),
            (short)ld16(xb + 72), (short)ld16(xb + 90), (short)ld16(xb + 108), (short)ld16(xb + 126));
        const __m128i hy = _mm_setr_epi16((short)ld16(&yb[0].d), (short)ld16(&yb[1].d), (short)ld16(&yb[2].d),
                                          (short)ld16(&yb[3].d), (short)ld16(&yb[4].d), (short)ld16(&yb[5].d),
                                          (short)ld16(&yb[6].d), (short)ld16(&yb[7].d));
        const __m256 fx = _mm256_cvtph_ps(hx), fy = _mm256_cvtph_ps(hy);
        /* block products are exact in double: int sum × fp16 × fp16 */
        const __m256d dd_lo = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(fx)),
                                            _mm256_cvtps_pd(_mm256_castps256_ps128(fy)));
        const __m256d dd_hi = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(fx, 1)),
                                            _mm256_cvtps_pd(_mm256_extractf128_ps(fy, 1)));
        const __m256d s_lo = _mm256_cvtepi32_pd(_mm256_castsi256_si128(sums));
        const __m256d s_hi = _mm256_cvtepi32_pd(_mm256_extracti128_si256(sums, 1));
        acc_lo = _mm256_add_pd(acc_lo, _mm256_mul_pd(s_lo, dd_lo));
        acc_hi = _mm256_add_pd(acc_hi, _mm256_mul_pd(s_hi, dd_hi));
    }
    if (ib < nb) {
        double tail[8] = {0};
        for (int64_t k = ib; k < nb; k++) {
            const uint8_t *xb = x + k * sizeof(qtk_block_iq4_nl);
            const __m256i p = nl_block_dot(xb + 2, y[k].qs, table, vnni);
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
            const double dd = (double)qtk_fp16_to_fp32(ld16(xb)) * (double)qtk_fp16_to_fp32(ld16(&y[k].d));
            tail[k - ib] = (double)_mm_cvtsi128_si32(t) * dd;
        }
        acc_lo = _mm256_add_pd(acc_lo, _mm256_loadu_pd(tail));
        acc_hi = _mm256_add_pd(acc_hi, _mm256_loadu_pd(tail + 4));
    }
    double a[8];
    _mm256_storeu_pd(a, acc_lo);
    _mm256_storeu_pd(a + 4, acc_hi);
    *s = (float)qtk_iq4_nl_reduce8(a);
}

void qtk_iq4_xs_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    double sum = 0.0;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += sizeof(qtk_block_iq4_xs)) {
        const unsigned sh = ld16(x + 2);
        const uint8_t *sl = x + 4, *qs = x + 8;
        const int8_t *q8 = y[ibl].qs;
        __m512i acc = _mm512_setzero_si512();
        for (int ib = 0; ib < 8; ib += 2, qs += 32, q8 += 64) {
            const int ls0 = ((sl[ib / 2] & 0x0F) | (((sh >> 2 * ib) & 3) << 4)) - 32;
            const int ls1 = ((sl[ib / 2] >> 4) | (((sh >> (2 * ib + 2)) & 3) << 4)) - 32;
            const __m256i q = _mm256_loadu_si256((const __m256i *)qs);
            const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            /* [lo b0 | lo b1 | hi b0 | hi b1] -> [lo b0 | hi b0 | lo b1 | hi b1] */
            const __m512i idx = _mm512_shuffle_i64x2(
                _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1),
                _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _MM_SHUFFLE(3, 1, 2, 0));
            const __m512i v = _mm512_shuffle_epi8(table, idx);
            const __m512i yv = _mm512_loadu_si512((const void *)q8);
            const __m512i ys = _mm512_mask_sub_epi8(yv, _mm512_movepi8_mask(v), _mm512_setzero_si512(), yv);
            /* maddubs: |pair| <= 2·127·127 (exact); madd by the sub-block scale (|ls| <= 32)
             * widens to 32 bits. Needs no VNNI and is as short as dpbusd + mullo. */
            const __m512i p16 = _mm512_maddubs_epi16(_mm512_abs_epi8(v), ys);
            const __m512i sc = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)ls0)),
                                                  _mm256_set1_epi16((short)ls1), 1);
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p16, sc));
        }
        float yd;
        memcpy(&yd, &y[ibl].d, sizeof yd);
        sum += (double)_mm512_reduce_add_epi32(acc) * ((double)qtk_fp16_to_fp32(ld16(x)) * (double)yd);
    }
    *s = (float)sum;
}
