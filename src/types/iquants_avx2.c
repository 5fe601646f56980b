/*
 * iquants_avx2.c — AVX2 dot products of IQ4_NL (× Q8_0) and IQ4_XS (× Q8_K), and
 * IQ4_XS's multi-column kernel (mul_mat).
 * The grid lookup is a byte shuffle; signed grid × signed activation uses the
 * sign trick (|T| × sign(T)·y) so maddubs never saturates (|pair| <= 32512),
 * then madd widens to 32 bits. Double steps mirror iquants.c exactly.
 */
#include "iquants.h"
#include "grids.h"

#include "simd_x86.h"
#include <immintrin.h>

/* 32-bit partial sums (8 lanes) of Σ T[q]·y over one 32-weight block. */
static inline __m256i nl_block_dot(const uint8_t *qs, const int8_t *q8, __m256i table) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m256i idx = _mm256_and_si256(
        _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1), m4);
    const __m256i v = _mm256_shuffle_epi8(table, idx);
    const __m256i y = _mm256_loadu_si256((const __m256i *)q8);
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(y, v));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

static inline uint16_t ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Horizontal sum of 8 int32 lanes. */
static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

void qtk_iq4_nl_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const int64_t nb = n / 32;
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values));
    __m256d acc_lo = _mm256_setzero_pd(), acc_hi = _mm256_setzero_pd();
    int64_t ib = 0;
    for (; ib + 8 <= nb; ib += 8) {
        const uint8_t *xb = x + ib * sizeof(qtk_block_iq4_nl);
        const qtk_block_q8_0 *yb = y + ib;
        qtk_prefetch_ahead(xb, 8 * (int)sizeof(qtk_block_iq4_nl));
        __m256i p[8];
        for (int k = 0; k < 8; k++) p[k] = nl_block_dot(xb + k * sizeof(qtk_block_iq4_nl) + 2, yb[k].qs, table);
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
            const int sumi = hsum_i32(nl_block_dot(xb + 2, y[k].qs, table));
            const double dd = (double)qtk_fp16_to_fp32(ld16(xb)) * (double)qtk_fp16_to_fp32(ld16(&y[k].d));
            tail[k - ib] = (double)sumi * dd;
        }
        acc_lo = _mm256_add_pd(acc_lo, _mm256_loadu_pd(tail));
        acc_hi = _mm256_add_pd(acc_hi, _mm256_loadu_pd(tail + 4));
    }
    double a[8];
    _mm256_storeu_pd(a, acc_lo);
    _mm256_storeu_pd(a + 4, acc_hi);
    *s = (float)qtk_iq4_nl_reduce8(a);
}

/* IQ4_XS × Q8_K, one row × C ≤ 4 columns: each weight chunk is unpacked once (grid
 * look-ups, their |v|, the scale words) for the C columns; every column's steps are
 * vec_dot's (the 1 × 1 tile) in its order, so mul_mat and vec_dot give the same bits. */
QTK_FORCE_INLINE void iq4_xs_tile_avx2(const int C, int64_t nb, const uint8_t *x, const uint8_t *a, size_t as,
                                       float *out, size_t os) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    /* vpshufb control: int16 word 2k of Sb in the low 128 bits, 2k + 1 in the high (k = 0
     * here; + 4k bytes for pair k) */
    const __m256i sel0 = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
                                          2, 3, 2, 3, 2, 3);
    double sum[4] = {0.0, 0.0, 0.0, 0.0};
    for (int64_t ibl = 0; ibl < nb; ibl++, x += sizeof(qtk_block_iq4_xs)) {
        qtk_prefetch_ahead(x, (int)sizeof(qtk_block_iq4_xs));
        /* the 8 sub-block scales as int16: (low/high nibble of sl | 2 bits of sh) − 32 */
        uint32_t slw;
        memcpy(&slw, x + 4, 4);
        const __m128i w8 = _mm_cvtepu8_epi16(_mm_cvtsi32_si128((int)slw));
        const __m128i lo4 = _mm_unpacklo_epi16(_mm_and_si128(w8, _mm_set1_epi16(0xF)), _mm_srli_epi16(w8, 4));
        const __m128i hb = qtk_bits2x8(ld16(x + 2));
        const __m256i Sb = _mm256_broadcastsi128_si256(
            _mm_sub_epi16(_mm_or_si128(lo4, _mm_slli_epi16(hb, 4)), _mm_set1_epi16(32)));
        const uint8_t *qs = x + 8;
        __m256i acc[4];
        for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_si256();
        /* a 32-byte load holds sub-blocks 2k (low 128 bits) and 2k + 1: its low nibbles
         * are their weights 0..15, its high nibbles 16..31; the activations are loaded
         * in the same arrangement (two 16-byte halves) instead of permuting the weights */
        for (int k = 0; k < 4; k++, qs += 32) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)qs);
            const __m256i v0 = _mm256_shuffle_epi8(table, _mm256_and_si256(q, m4));
            const __m256i v1 = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            const __m256i a0 = _mm256_sign_epi8(v0, v0), a1 = _mm256_sign_epi8(v1, v1);
            const __m256i sc = _mm256_shuffle_epi8(Sb, _mm256_add_epi8(sel0, _mm256_set1_epi8((char)(4 * k))));
            for (int c = 0; c < C; c++) {
                const int8_t *q8 = ((const qtk_block_q8_K *)(const void *)(a + (size_t)c * as))[ibl].qs + 64 * k;
                const __m256i y0 = qtk_load2x128(q8, q8 + 32), y1 = qtk_load2x128(q8 + 16, q8 + 48);
                const __m256i p0 = _mm256_maddubs_epi16(a0, _mm256_sign_epi8(y0, v0));
                const __m256i p1 = _mm256_maddubs_epi16(a1, _mm256_sign_epi8(y1, v1));
                /* |pair| <= 32512 and |ls| <= 32: madd with the scale stays exact in 32 bits */
                acc[c] = _mm256_add_epi32(acc[c], _mm256_add_epi32(_mm256_madd_epi16(p0, sc), _mm256_madd_epi16(p1, sc)));
            }
        }
        const double dx = (double)qtk_f16c_to_f32(ld16(x));
        for (int c = 0; c < C; c++) {
            float yd;
            memcpy(&yd, &((const qtk_block_q8_K *)(const void *)(a + (size_t)c * as))[ibl].d, sizeof yd);
            sum[c] += (double)hsum_i32(acc[c]) * (dx * (double)yd);
        }
    }
    for (int c = 0; c < C; c++) out[(size_t)c * os] = (float)sum[c];
}

void qtk_iq4_xs_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    iq4_xs_tile_avx2(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, s, 0);
}

void qtk_iq4_xs_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc) {
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;
    for (int64_t c = 0; c < nc;) {
        const int C = nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;
        for (int64_t r = 0; r < nr; r++) {
            const uint8_t *wr = wb + (size_t)r * ws, *ac = ab + (size_t)c * as;
            float *o = out + (size_t)c * os + (size_t)r;
            if (C == 4) iq4_xs_tile_avx2(4, n / QK_K, wr, ac, as, o, os);
            else if (C == 2) iq4_xs_tile_avx2(2, n / QK_K, wr, ac, as, o, os);
            else iq4_xs_tile_avx2(1, n / QK_K, wr, ac, as, o, os);
        }
        c += C;
    }
}

/* iquants.c's iq4_round_lanes_scalar, 8 trials per vector: v = id·x, the grid value
 * T[0] + the steps of the midpoints ≤ v (small integers: exact in any order), then
 * sx += (w·q)·x and s2 += (w·q)·q as separate multiplies and adds (no FMA), in j
 * order — every lane's floats are the scalar loop's (test_iq4_lanes in test_dot). */
void qtk_iq4_round_lanes_avx2(const float *x, const float *w, const float *id, float *sumqx, float *sumq2) {
    const int8_t *T = qtk_iq4nl_values;
    __m256 mid[15], step[15];
    for (int i = 0; i < 15; i++) {
        mid[i] = _mm256_set1_ps(0.5f * (float)(T[i] + T[i + 1]));
        step[i] = _mm256_set1_ps((float)(T[i + 1] - T[i]));
    }
    const __m256 t0 = _mm256_set1_ps((float)T[0]);
    for (int g = 0; g < IQ4_LANES; g += 8) {
        const __m256 idv = _mm256_loadu_ps(id + g);
        __m256 sx = _mm256_setzero_ps(), s2 = _mm256_setzero_ps();
        for (int j = 0; j < 32; j++) {
            const __m256 xj = _mm256_set1_ps(x[j]), wj = _mm256_set1_ps(w[j]);
            const __m256 v = _mm256_mul_ps(idv, xj);
            /* two chains of adds summed at the end: exact small integers in any order */
            __m256 q = t0, q1 = _mm256_setzero_ps();
            for (int i = 0; i < 14; i += 2) {
                q = _mm256_add_ps(q, _mm256_and_ps(_mm256_cmp_ps(v, mid[i], _CMP_GE_OQ), step[i]));
                q1 = _mm256_add_ps(q1, _mm256_and_ps(_mm256_cmp_ps(v, mid[i + 1], _CMP_GE_OQ), step[i + 1]));
            }
            q = _mm256_add_ps(_mm256_add_ps(q, _mm256_and_ps(_mm256_cmp_ps(v, mid[14], _CMP_GE_OQ), step[14])), q1);
            const __m256 wq = _mm256_mul_ps(wj, q);
            sx = _mm256_add_ps(sx, _mm256_mul_ps(wq, xj));
            s2 = _mm256_add_ps(s2, _mm256_mul_ps(wq, q));
        }
        _mm256_storeu_ps(sumqx + g, sx);
        _mm256_storeu_ps(sumq2 + g, s2);
    }
}
