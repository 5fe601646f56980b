/*
 * iqk_avx2.c — AVX2 dot products of IQ2_K … IQ6_K with Q8_K activations.
 *
 * Every 32-byte register holds two whole 16-weight sub-blocks a (low lane)
 * and a+8 (high lane): the quant bytes are loaded lane by lane to make that
 * so, which lets one in-lane byte shuffle of the 16 scales (low lane S0..7,
 * high lane S8..15) give the scale vector of any register. Indices map to
 * base-grid values with pshufb (two/four tables blended for IQ5_K/IQ6_K);
 * products go through the sign trick (|v| × ±y, pair sums ≤ 2·127·127, no
 * int16 saturation) and madd with the scales straight into 32-bit lanes. The
 * shifted grid (= base + offset) is added back through the Q8_K 16-sums; each
 * block's exact int32 sum is scaled in float once, as in the scalar kernel.
 */
#include "iqk.h"
#include "grids.h"
#include "simd_x86.h"

#include <immintrin.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* qtk_iqk_sub_error_avx2 rounds as its scalar twin */
#endif

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

/* IQ2_K/IQ3_K: the values + bias B (unsigned, ≤ 110: maddubs pairs ≤ 2·110·128 never
 * saturate), so a chunk needs no abs/sign step; finish takes B·Σy back per sub-block. */
static __m256i table16_biased(const int8_t *t, int n, int bias) {
    int8_t buf[16] = {0};
    for (int i = 0; i < n; i++) buf[i] = (int8_t)(t[i] + bias);
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)buf));
}

/* Σ S·w·y over one register of unsigned (biased) values w, as 8 int32. */
static inline __m256i dot_chunk_u(__m256i w, __m256i y, __m256i sc) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, y), sc);
}

/* Sub-blocks a (low lane) and a+8 (high lane) of the activations. */
static inline __m256i load_y(const int8_t *yq, int a) { return qtk_load2x128(yq + 16 * a, yq + 16 * (a + 8)); }

/* Scale vector of the register holding sub-blocks a, a+8: S_a / S_{a+8} per lane. */
static inline __m256i scale_of(__m256i S16, int a) {
    return _mm256_shuffle_epi8(S16, _mm256_set1_epi16((short)(((2 * a + 1) << 8) | (2 * a))));
}

/* Σ S·v·y over one register of signed grid values v (|v| ≤ 127), as 8 int32. */
static inline __m256i dot_chunk(__m256i v, __m256i y, __m256i sc) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(y, v)), sc);
}

/* 8 packed scale bytes -> the 16 nibbles in order (even sub-block = low nibble), as int16. */
static inline __m256i nibbles16(const uint8_t *p) {
    const __m128i v = _mm_loadl_epi64((const __m128i *)p), m4 = _mm_set1_epi8(0xF);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4)));
}

/* All-ones in int16 lane j where bit j of w is set. */
static inline __m256i bits16(uint16_t w) {
    const __m256i bit = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
                                          (short)0x8000);
    return _mm256_cmpeq_epi16(_mm256_and_si256(_mm256_set1_epi16((short)w), bit), bit);
}

/* 6-bit scales of IQ4_K/IQ5_K (low nibbles at b+8, 2-bit high parts at b+4) minus 32. */
static inline __m256i scales_iq45(const uint8_t *b) {
    int32_t h;
    memcpy(&h, b + 4, 4);
    /* byte j/4 of H into word j, moved left so its bits 2(j%4)+{0,1} reach bits 6,7 */
    const __m128i hb = _mm_shuffle_epi8(_mm_cvtsi32_si128(h), _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
    const __m256i pw = _mm256_setr_epi16(64, 16, 4, 1, 64, 16, 4, 1, 64, 16, 4, 1, 64, 16, 4, 1);
    const __m256i hi = _mm256_srli_epi16(_mm256_and_si256(_mm256_mullo_epi16(_mm256_cvtepu8_epi16(hb), pw),
                                                          _mm256_set1_epi16(0xC0)), 2);
    return _mm256_sub_epi16(_mm256_or_si256(nibbles16(b + 8), hi), _mm256_set1_epi16(32));
}

/* Adds block b's exact integer sum (the int32 lanes plus the shifted-grid
 * correction Σ S·off·bsum over the sub-blocks flagged in `extra`, minus the table
 * bias's Σ S·B·bsum), times d·d_y,
 * to sum; reduced per block as the scalar kernel does, so no lane cancellation
 * reaches the float result. */
static inline float finish(float sum, __m256i acc, __m256i S16, int off, int bias, const uint8_t *b, const qtk_block_q8_K *y) {
    /* S·(off·shifted − B) per sub-block, |·| ≤ 31·63 */
    const __m256i shb = _mm256_sub_epi16(_mm256_and_si256(bits16(rd16(b + 2)), _mm256_set1_epi16((short)off)),
                                         _mm256_set1_epi16((short)bias));
    const __m256i c16 = _mm256_mullo_epi16(S16, shb);
    const __m256i v = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), c16));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    t = _mm_add_epi32(t, _mm_unpackhi_epi64(t, t));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 1));
    const float d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(rd16(b))));
    return sum + (d * y->d) * (float)_mm_cvtsi128_si32(t);
}

void qtk_iq2_k_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m256i T = table16_biased(qtk_iq2nl_values, 4, 31), m3 = _mm256_set1_epi8(3);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ2_K_SIZE) {
        qtk_prefetch_ahead(b, QTK_IQ2_K_SIZE);
        const __m256i S16 = _mm256_sub_epi16(nibbles16(b + 4), _mm256_set1_epi16(8));
        const int8_t *yq = y[ib].qs;
        /* half 0 of each 32-byte half -> sub-blocks 2s, 8+2s; half 1 -> 2s+1, 9+2s */
        const __m256i q0 = qtk_load2x128(b + 12, b + 44), q1 = qtk_load2x128(b + 28, b + 60);
        __m256i acc = _mm256_setzero_si256();
        for (int sh = 0; sh < 4; sh++) {
            const __m256i i0 = _mm256_and_si256(_mm256_srli_epi16(q0, 2 * sh), m3);
            const __m256i i1 = _mm256_and_si256(_mm256_srli_epi16(q1, 2 * sh), m3);
            acc = _mm256_add_epi32(acc, dot_chunk_u(_mm256_shuffle_epi8(T, i0), load_y(yq, 2 * sh), scale_of(S16, 2 * sh)));
            acc = _mm256_add_epi32(acc, dot_chunk_u(_mm256_shuffle_epi8(T, i1), load_y(yq, 2 * sh + 1),
                                                  scale_of(S16, 2 * sh + 1)));
        }
        sum = finish(sum, acc, S16, QTK_IQ2_K_SHIFT, 31, b, &y[ib]);
    }
    *s = sum;
}

void qtk_iq3_k_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m256i T = table16_biased(qtk_iq3nl_values, 8, 63), m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    const __m256i hshift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ3_K_SIZE) {
        qtk_prefetch_ahead(b, QTK_IQ3_K_SIZE);
        const __m256i m = nibbles16(b + 6), neg = bits16(rd16(b + 4));
        const __m256i odd = _mm256_add_epi16(_mm256_add_epi16(m, m), _mm256_set1_epi16(1));
        const __m256i S16 = _mm256_sub_epi16(_mm256_xor_si256(odd, neg), neg);
        const int8_t *yq = y[ib].qs;
        const __m256i q0 = qtk_load2x128(b + 14, b + 46), q1 = qtk_load2x128(b + 30, b + 62);
        /* high bits: low lane (sub-blocks < 8) uses bit b32 = s, high lane bit 4+s -> shift it down by 4 */
        const __m256i h0 = _mm256_srlv_epi32(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(b + 78))), hshift);
        const __m256i h1 = _mm256_srlv_epi32(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(b + 94))), hshift);
        __m256i acc = _mm256_setzero_si256();
        for (int sh = 0; sh < 4; sh++) {
            /* bit sh of each byte to bit 2 (shifts of <= 2 keep it inside its byte) */
            const __m256i g0 = sh < 2 ? _mm256_slli_epi16(h0, 2 - sh) : _mm256_srli_epi16(h0, sh - 2);
            const __m256i g1 = sh < 2 ? _mm256_slli_epi16(h1, 2 - sh) : _mm256_srli_epi16(h1, sh - 2);
            const __m256i i0 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q0, 2 * sh), m3), _mm256_and_si256(g0, m4));
            const __m256i i1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q1, 2 * sh), m3), _mm256_and_si256(g1, m4));
            acc = _mm256_add_epi32(acc, dot_chunk_u(_mm256_shuffle_epi8(T, i0), load_y(yq, 2 * sh), scale_of(S16, 2 * sh)));
            acc = _mm256_add_epi32(acc, dot_chunk_u(_mm256_shuffle_epi8(T, i1), load_y(yq, 2 * sh + 1),
                                                  scale_of(S16, 2 * sh + 1)));
        }
        sum = finish(sum, acc, S16, QTK_IQ3_K_SHIFT, 63, b, &y[ib]);
    }
    *s = sum;
}

void qtk_iq4_k_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m256i T = table16(qtk_iq4nl_values, 16), m4 = _mm256_set1_epi8(0xF);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ4_K_SIZE) {
        qtk_prefetch_ahead(b, QTK_IQ4_K_SIZE);
        const __m256i S16 = scales_iq45(b);
        const int8_t *yq = y[ib].qs;
        __m256i acc = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            /* 32-weight groups j, j+4: low nibbles = sub-blocks 2j, 2j+8; high = 2j+1, 2j+9 */
            const __m256i q = qtk_load2x128(b + 16 + 16 * j, b + 80 + 16 * j);
            const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            acc = _mm256_add_epi32(acc, dot_chunk(_mm256_shuffle_epi8(T, lo), load_y(yq, 2 * j), scale_of(S16, 2 * j)));
            acc = _mm256_add_epi32(acc, dot_chunk(_mm256_shuffle_epi8(T, hi), load_y(yq, 2 * j + 1),
                                                  scale_of(S16, 2 * j + 1)));
        }
        sum = finish(sum, acc, S16, QTK_IQ4_K_SHIFT, 0, b, &y[ib]);
    }
    *s = sum;
}

void qtk_iq5_k_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m256i T0 = table16(qtk_iq5nl_values, 16), T1 = table16(qtk_iq5nl_values + 16, 16);
    const __m256i m4 = _mm256_set1_epi8(0xF), hshift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ5_K_SIZE) {
        qtk_prefetch_ahead(b, QTK_IQ5_K_SIZE);
        const __m256i S16 = scales_iq45(b);
        const int8_t *yq = y[ib].qs;
        __m256i acc = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            /* qh bytes of positions 16·half..+15; high lane (32-groups 4..7) shifted down by 4 */
            const __m256i h = _mm256_srlv_epi32(
                _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(b + 144 + 16 * half))), hshift);
            for (int c = 0; c < 2; c++) {
                /* chunks c, c+2: low nibbles = sub-blocks 4c+half, +8; high nibbles = 4c+2+half, +8 */
                const __m256i q = qtk_load2x128(b + 16 + 32 * c + 16 * half, b + 80 + 32 * c + 16 * half);
                const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                /* 5th bit of 32-group 2c (resp. 2c+1) moved to bit 7 for blendv */
                const __m256i slo = _mm256_slli_epi16(h, 7 - 2 * c), shi = _mm256_slli_epi16(h, 6 - 2 * c);
                const __m256i vlo = _mm256_blendv_epi8(_mm256_shuffle_epi8(T0, lo), _mm256_shuffle_epi8(T1, lo), slo);
                const __m256i vhi = _mm256_blendv_epi8(_mm256_shuffle_epi8(T0, hi), _mm256_shuffle_epi8(T1, hi), shi);
                const int a = 4 * c + half;
                acc = _mm256_add_epi32(acc, dot_chunk(vlo, load_y(yq, a), scale_of(S16, a)));
                acc = _mm256_add_epi32(acc, dot_chunk(vhi, load_y(yq, a + 2), scale_of(S16, a + 2)));
            }
        }
        sum = finish(sum, acc, S16, QTK_IQ5_K_SHIFT, 0, b, &y[ib]);
    }
    *s = sum;
}

/* 64-entry lookup: t0, t1 = bits 4, 5 of the index at bit 7 of each byte. */
static inline __m256i lookup64(const __m256i *T, __m256i idx, __m256i t0, __m256i t1) {
    const __m256i v01 = _mm256_blendv_epi8(_mm256_shuffle_epi8(T[0], idx), _mm256_shuffle_epi8(T[1], idx), t0);
    const __m256i v23 = _mm256_blendv_epi8(_mm256_shuffle_epi8(T[2], idx), _mm256_shuffle_epi8(T[3], idx), t0);
    return _mm256_blendv_epi8(v01, v23, t1);
}

void qtk_iq6_k_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    __m256i T[4];
    for (int t = 0; t < 4; t++) T[t] = table16(qtk_iq6nl_values + 16 * t, 16);
    const __m256i m4 = _mm256_set1_epi8(0xF);
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ6_K_SIZE) {
        qtk_prefetch_ahead(b, QTK_IQ6_K_SIZE);
        const __m256i S16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 4)));
        const int8_t *yq = y[ib].qs;
        __m256i acc = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            /* qh of positions 16·half..+15: groups 0..3 from the first 32 bytes, 4..7 from the
             * second, at the same bit pair 2·(b32 % 4) */
            const __m256i h = qtk_load2x128(b + 148 + 16 * half, b + 180 + 16 * half);
            for (int c = 0; c < 2; c++) {
                const __m256i q = qtk_load2x128(b + 20 + 32 * c + 16 * half, b + 84 + 32 * c + 16 * half);
                const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                const int k = 4 * c; /* bit pair of group 2c at bits k, k+1; of 2c+1 at k+2, k+3 */
                const __m256i vlo = lookup64(T, lo, _mm256_slli_epi16(h, 7 - k), _mm256_slli_epi16(h, 6 - k));
                const __m256i vhi = lookup64(T, hi, _mm256_slli_epi16(h, 5 - k), _mm256_slli_epi16(h, 4 - k));
                const int a = 4 * c + half;
                acc = _mm256_add_epi32(acc, dot_chunk(vlo, load_y(yq, a), scale_of(S16, a)));
                acc = _mm256_add_epi32(acc, dot_chunk(vhi, load_y(yq, a + 2), scale_of(S16, a + 2)));
            }
        }
        sum = finish(sum, acc, S16, QTK_IQ6_K_SHIFT, 0, b, &y[ib]);
    }
    *s = sum;
}

/* The quantizer's window-search error (iqk.c, qtk_iqk_sub_error_scalar) on 8
 * lanes: the same float operations in the same order (compare, add the grid step,
 * x − d·q, w·r·r, then (e_k + e_k+8) summed as ((0+4)+(1+5))+((2+6)+(3+7))), so
 * the result is bit-identical; test_effort compares the bytes with the scalar ISA. */
float qtk_iqk_sub_error_avx2(const float *mid, const float *T, int nv, const float *xb, const float *wb, float dl,
                             uint8_t *idx) {
    const __m256 vidl = _mm256_set1_ps(1.0f / dl), vdl = _mm256_set1_ps(dl);
    const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
    const __m256 t0 = _mm256_mul_ps(vidl, x0), t1 = _mm256_mul_ps(vidl, x1);
    __m256 q0 = _mm256_set1_ps(T[0]), q1 = q0;
    __m256i c0 = _mm256_setzero_si256(), c1 = c0;
    for (int m = 0; m < nv - 1; m++) {
        const __m256 mm = _mm256_set1_ps(mid[m]), dq = _mm256_set1_ps(T[m + 1] - T[m]);
        const __m256 ge0 = _mm256_cmp_ps(t0, mm, _CMP_GE_OQ), ge1 = _mm256_cmp_ps(t1, mm, _CMP_GE_OQ);
        c0 = _mm256_sub_epi32(c0, _mm256_castps_si256(ge0));
        c1 = _mm256_sub_epi32(c1, _mm256_castps_si256(ge1));
        q0 = _mm256_add_ps(q0, _mm256_and_ps(ge0, dq));
        q1 = _mm256_add_ps(q1, _mm256_and_ps(ge1, dq));
    }
    const __m256 r0 = _mm256_sub_ps(x0, _mm256_mul_ps(vdl, q0)), r1 = _mm256_sub_ps(x1, _mm256_mul_ps(vdl, q1));
    const __m256 e0 = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(wb), r0), r0);
    const __m256 e1 = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(wb + 8), r1), r1);
    const __m256 s8 = _mm256_add_ps(e0, e1);
    const __m128 u = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1)); /* s8[k] + s8[k+4] */
    const __m128 v = _mm_add_ps(u, _mm_shuffle_ps(u, u, 0xB1));                          /* (u0+u1), (u2+u3) */
    const __m128i c = _mm_packs_epi32(_mm256_castsi256_si128(c0), _mm256_extracti128_si256(c0, 1));
    const __m128i d = _mm_packs_epi32(_mm256_castsi256_si128(c1), _mm256_extracti128_si256(c1, 1));
    _mm_storeu_si128((__m128i *)idx, _mm_packus_epi16(c, d));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehl_ps(v, v)));
}

/* The scale search's sums (iqk.c, qtk_iqk_scale_sums_scalar) for 8 tries at a
 * time, one per lane: each lane accumulates its four sums over the 16 weights in
 * index order, as the scalar loop does, with the same products ((w·q)·x, (w·q)·q);
 * the nearest grid value of ±id·x is the count of midpoints at or below it (ties
 * up, NaN → the first value, as qtk_grid_lut_nearest), built up as T[0] plus the
 * grid steps passed, which are small integers (exact). Grids of <= 16 values. */
void qtk_iqk_scale_sums_avx2(const qtk_grid_lut lut[2], const float *T, int nv, const float *xb, const float *wb,
                             int n, const float *id, const int *shift, float *sums) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int i0 = 0; i0 < n; i0 += 8) {
        const int cnt = n - i0 < 8 ? n - i0 : 8;
        float lid[8] = {0}, lmid[15][8], ldq[15][8], lt0[8];
        for (int l = 0; l < 8; l++) {
            const int sh = l < cnt ? shift[i0 + l] : 0;
            const float *Ts = T + sh * nv;
            lid[l] = l < cnt ? id[i0 + l] : 0.0f;
            lt0[l] = Ts[0];
            for (int m = 0; m < nv - 1; m++) {
                lmid[m][l] = lut[sh].mid[m];
                ldq[m][l] = Ts[m + 1] - Ts[m];
            }
        }
        const __m256 vid = _mm256_loadu_ps(lid), t0 = _mm256_loadu_ps(lt0);
        __m256 sx_p = _mm256_setzero_ps(), s2_p = sx_p, sx_m = sx_p, s2_m = sx_p;
        for (int k = 0; k < 16; k++) {
            const __m256 xk = _mm256_set1_ps(xb[k]), wk = _mm256_set1_ps(wb[k]);
            const __m256 tp = _mm256_mul_ps(vid, xk), tm = _mm256_xor_ps(tp, sign);
            /* two chains per sign, summed at the end: exact small integers in any order */
            __m256 qp = t0, qm = t0, qp1 = _mm256_setzero_ps(), qm1 = qp1;
            int m = 0;
            for (; m + 2 < nv; m += 2) {
                const __m256 mm = _mm256_loadu_ps(lmid[m]), dq = _mm256_loadu_ps(ldq[m]);
                const __m256 mm1 = _mm256_loadu_ps(lmid[m + 1]), dq1 = _mm256_loadu_ps(ldq[m + 1]);
                qp = _mm256_add_ps(qp, _mm256_and_ps(_mm256_cmp_ps(tp, mm, _CMP_GE_OQ), dq));
                qm = _mm256_add_ps(qm, _mm256_and_ps(_mm256_cmp_ps(tm, mm, _CMP_GE_OQ), dq));
                qp1 = _mm256_add_ps(qp1, _mm256_and_ps(_mm256_cmp_ps(tp, mm1, _CMP_GE_OQ), dq1));
                qm1 = _mm256_add_ps(qm1, _mm256_and_ps(_mm256_cmp_ps(tm, mm1, _CMP_GE_OQ), dq1));
            }
            if (m + 1 < nv) {
                const __m256 mm = _mm256_loadu_ps(lmid[m]), dq = _mm256_loadu_ps(ldq[m]);
                qp = _mm256_add_ps(qp, _mm256_and_ps(_mm256_cmp_ps(tp, mm, _CMP_GE_OQ), dq));
                qm = _mm256_add_ps(qm, _mm256_and_ps(_mm256_cmp_ps(tm, mm, _CMP_GE_OQ), dq));
            }
            qp = _mm256_add_ps(qp, qp1);
            qm = _mm256_add_ps(qm, qm1);
            const __m256 wp = _mm256_mul_ps(wk, qp), wm = _mm256_mul_ps(wk, qm);
            sx_p = _mm256_add_ps(sx_p, _mm256_mul_ps(wp, xk));
            s2_p = _mm256_add_ps(s2_p, _mm256_mul_ps(wp, qp));
            sx_m = _mm256_add_ps(sx_m, _mm256_mul_ps(wm, xk));
            s2_m = _mm256_add_ps(s2_m, _mm256_mul_ps(wm, qm));
        }
        float o[4][8];
        _mm256_storeu_ps(o[0], sx_p);
        _mm256_storeu_ps(o[1], s2_p);
        _mm256_storeu_ps(o[2], sx_m);
        _mm256_storeu_ps(o[3], s2_m);
        for (int l = 0; l < cnt; l++)
            for (int c = 0; c < 4; c++) sums[4 * (i0 + l) + c] = o[c][l];
    }
}

/* Entry idx (0..15 per lane) of a 16-entry table lo (0..7), hi (8..15). */
static inline __m256 win_lut16(__m256 lo, __m256 hi, __m256i idx) {
    const __m256 pick_hi = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)); /* bit 3 → sign */
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx), pick_hi);
}

/* qtk_iqk_window_error_scalar for grids of NV = 16 or 32 values, the 16 weights as two
 * vectors: the index as the count of midpoints at or below t (the LUT's answer, also for
 * NaN → 0 and +inf → NV − 1: only the NV − 1 real midpoints are compared), the value by
 * look-up, r in float, then each w·r·r in double, summed in k order as the scalar does. */
static inline double window_error_avx2(const qtk_grid_lut *lut, const float *T, const int NV, const float *xb,
                                       const float *wb, float dl, uint8_t *idx) {
    const __m256 idl = _mm256_set1_ps(1.0f / dl), d = _mm256_set1_ps(dl);
    double terms[16];
    int32_t li[16];
    for (int h = 0; h < 2; h++) {
        const __m256 x = _mm256_loadu_ps(xb + 8 * h);
        const __m256 t = _mm256_mul_ps(idl, x);
        __m256i c0 = _mm256_setzero_si256(), c1 = c0; /* masks are −1: subtracting counts */
        int m = 0;
        for (; m + 2 < NV; m += 2) {
            c0 = _mm256_sub_epi32(c0, _mm256_castps_si256(_mm256_cmp_ps(t, _mm256_set1_ps(lut->mid[m]), _CMP_GE_OQ)));
            c1 = _mm256_sub_epi32(c1, _mm256_castps_si256(_mm256_cmp_ps(t, _mm256_set1_ps(lut->mid[m + 1]), _CMP_GE_OQ)));
        }
        c0 = _mm256_sub_epi32(c0, _mm256_castps_si256(_mm256_cmp_ps(t, _mm256_set1_ps(lut->mid[m]), _CMP_GE_OQ)));
        const __m256i l = _mm256_add_epi32(c0, c1);
        __m256 q;
        if (NV == 16) {
            q = win_lut16(_mm256_loadu_ps(T), _mm256_loadu_ps(T + 8), l);
        } else { /* 32: bit 4 picks the upper 16 */
            const __m256 lo = win_lut16(_mm256_loadu_ps(T), _mm256_loadu_ps(T + 8), l);
            const __m256 hi = win_lut16(_mm256_loadu_ps(T + 16), _mm256_loadu_ps(T + 24), l);
            q = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(l, 27)));
        }
        const __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(d, q));
        const __m256 w = _mm256_loadu_ps(wb + 8 * h);
        for (int half = 0; half < 2; half++) {
            const __m256d rd = _mm256_cvtps_pd(half ? _mm256_extractf128_ps(r, 1) : _mm256_castps256_ps128(r));
            const __m256d wd = _mm256_cvtps_pd(half ? _mm256_extractf128_ps(w, 1) : _mm256_castps256_ps128(w));
            _mm256_storeu_pd(terms + 8 * h + 4 * half, _mm256_mul_pd(_mm256_mul_pd(wd, rd), rd));
        }
        _mm256_storeu_si256((__m256i *)(void *)(li + 8 * h), l);
    }
    double e = 0;
    for (int k = 0; k < 16; k++) {
        e += terms[k];
        idx[k] = (uint8_t)li[k];
    }
    return e;
}

double qtk_iqk_window_error_avx2(const qtk_grid_lut *lut, const float *T, int nv, const float *xb, const float *wb,
                                 float dl, uint8_t *idx) {
    if (nv == 16) return window_error_avx2(lut, T, 16, xb, wb, dl, idx);
    if (nv == 32) return window_error_avx2(lut, T, 32, xb, wb, dl, idx);
    return qtk_iqk_window_error_scalar(lut, T, nv, xb, wb, dl, idx);
}
