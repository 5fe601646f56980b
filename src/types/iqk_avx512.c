/*
 * iqk_avx512.c — AVX-512 (F/BW/VL/VNNI) dot products of IQ2_K … IQ6_K with
 * Q8_K activations.
 *
 * A 64-byte register holds four whole 16-weight sub-blocks, one per 128-bit
 * lane; the activations are loaded/permuted to match. Indices map to the base
 * grid biased by +128 (unsigned; masked pshufb for the 32/64-entry grids), and
 * vpdpbusd sums 4 u8×s8 products per int32 lane with no intermediate
 * saturation. Four such registers are transpose-added into the 16 sub-block
 * sums, multiplied by the scales once per block; the +128 bias and the shifted
 * grid (= base + offset) come back per sub-block through the Q8_K 16-sums:
 * Σ T_sh·y = Σ (T+128)·y + (offset·shift − 128)·Σy. Block sums are exact int32
 * lanes, scaled in float once per block; one horizontal sum per row.
 */
#include "iqk.h"
#include "grids.h"

#include <immintrin.h>

static uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* 16 grid values + 128 (entries past n are 128), broadcast to the four lanes. */
static __m512i table_u8(const int8_t *t, int n) {
    uint8_t buf[16];
    for (int i = 0; i < 16; i++) buf[i] = (uint8_t)((i < n ? t[i] : 0) + 128);
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)buf));
}

/* Two unaligned 32-byte pieces as the low and high halves of one register. */
static inline __m512i load2x256(const void *lo, const void *hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)lo)),
                              _mm256_loadu_si256((const __m256i *)hi), 1);
}

static inline __m512i dpb(__m512i u, __m512i y) { return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, y); }

/* Lane L, element k of the result = sum of the 4 int32 in lane L of p_k. */
static inline __m512i hsum4x4(__m512i p0, __m512i p1, __m512i p2, __m512i p3) {
    const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
    const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(p2, p3), _mm512_unpackhi_epi32(p2, p3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
}

/* 8 packed scale bytes -> the 16 nibbles in order (even sub-block = low nibble), as int16. */
static inline __m256i nibbles16(const uint8_t *p) {
    const __m128i v = _mm_loadl_epi64((const __m128i *)p), m4 = _mm_set1_epi8(0xF);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4)));
}

/* 6-bit scales of IQ4_K/IQ5_K (low nibbles at b+8, 2-bit high parts at b+4) minus 32. */
static inline __m256i scales_iq45(const uint8_t *b) {
    int32_t h;
    memcpy(&h, b + 4, 4);
    const __m128i hb = _mm_shuffle_epi8(_mm_cvtsi32_si128(h), _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
    const __m256i cnt = _mm256_setr_epi16(0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6);
    const __m256i hi = _mm256_and_si256(_mm256_srlv_epi16(_mm256_cvtepu8_epi16(hb), cnt), _mm256_set1_epi16(3));
    return _mm256_sub_epi16(_mm256_or_si256(nibbles16(b + 8), _mm256_slli_epi16(hi, 4)), _mm256_set1_epi16(32));
}

/* Adds block b's integer sum to accf, scaled by d·d_y. D holds the 16 sub-block
 * sums of biased values, put back in natural order by `perm` (perm[j] = position
 * of sub-block j in D); S16 the scales. Each int32
 * lane ends as S_j times the exact unbiased sum of sub-block j, so converting the
 * lanes separately loses nothing to cancellation between lanes. */
static inline __m512 finish(__m512 accf, __m512i D, __m512i perm, __m256i S16, int off, const uint8_t *b,
                            const qtk_block_q8_K *y) {
    /* |S·(off·shift − 128)| ≤ 128·128: fits int16 */
    const __m256i f = _mm256_sub_epi16(_mm256_maskz_mov_epi16((__mmask16)rd16(b + 2), _mm256_set1_epi16((short)off)),
                                       _mm256_set1_epi16(128));
    /* S_j·f_j·bsum_j per int32 lane: madd of (S·f, sign) word pairs with (bsum, 0) */
    const __m512i corr = _mm512_madd_epi16(_mm512_cvtepi16_epi32(_mm256_mullo_epi16(S16, f)),
                                           _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)y->bsums)));
    const __m512i Dn = _mm512_permutexvar_epi32(perm, D);
    const __m512i isum = _mm512_add_epi32(_mm512_mullo_epi32(Dn, _mm512_cvtepi16_epi32(S16)), corr);
    const float d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(rd16(b))));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * y->d), accf);
}

/* Position 4L+k of sub-block j when register k lane L holds sub-block 8(L/2) + 2k + L%2. */
static inline __m512i perm_iq23(void) {
    return _mm512_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
}

void qtk_iq2_k_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m512i T = table_u8(qtk_iq2nl_values, 4), m3 = _mm512_set1_epi8(3), perm = perm_iq23();
    __m512 accf = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ2_K_SIZE) {
        const __m256i S16 = _mm256_sub_epi16(nibbles16(b + 4), _mm256_set1_epi16(8));
        const int8_t *yq = y[ib].qs;
        /* lane L = bytes 16L..16L+15: half L/2, positions 16(L%2)..; shift 2k -> 32-group 4(L/2)+k */
        const __m512i q = _mm512_loadu_si512((const void *)(b + 12));
        __m512i p[4];
        for (int k = 0; k < 4; k++) {
            const __m512i idx = _mm512_and_si512(_mm512_srli_epi16(q, 2 * k), m3);
            p[k] = dpb(_mm512_shuffle_epi8(T, idx), load2x256(yq + 32 * k, yq + 128 + 32 * k));
        }
        accf = finish(accf, hsum4x4(p[0], p[1], p[2], p[3]), perm, S16, QTK_IQ2_K_SHIFT, b, &y[ib]);
    }
    *s = _mm512_reduce_add_ps(accf);
}

void qtk_iq3_k_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m512i T = table_u8(qtk_iq3nl_values, 8), m3 = _mm512_set1_epi8(3), m4 = _mm512_set1_epi8(4);
    const __m512i perm = perm_iq23();
    __m512 accf = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ3_K_SIZE) {
        const __m256i m = nibbles16(b + 6);
        const __m256i odd = _mm256_add_epi16(_mm256_add_epi16(m, m), _mm256_set1_epi16(1));
        const __m256i S16 = _mm256_mask_sub_epi16(odd, (__mmask16)rd16(b + 4), _mm256_setzero_si256(), odd);
        const int8_t *yq = y[ib].qs;
        const __m512i q = _mm512_loadu_si512((const void *)(b + 14));
        /* qh of positions 0..31 in both halves; the upper half (groups 4..7) shifted down by 4 */
        const __m512i h0 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b + 78)));
        const __m512i h = _mm512_mask_srli_epi16(h0, (__mmask32)0xFFFF0000u, h0, 4);
        __m512i p[4];
        for (int k = 0; k < 4; k++) {
            /* bit k of each byte to bit 2 (shifts of <= 2 keep it inside its byte) */
            const __m512i g = k < 2 ? _mm512_slli_epi16(h, 2 - k) : _mm512_srli_epi16(h, k - 2);
            const __m512i lo = _mm512_and_si512(_mm512_srli_epi16(q, 2 * k), m3);
            const __m512i idx = _mm512_ternarylogic_epi32(lo, g, m4, 0xF8); /* lo | (g & 4) */
            p[k] = dpb(_mm512_shuffle_epi8(T, idx), load2x256(yq + 32 * k, yq + 128 + 32 * k));
        }
        accf = finish(accf, hsum4x4(p[0], p[1], p[2], p[3]), perm, S16, QTK_IQ3_K_SHIFT, b, &y[ib]);
    }
    *s = _mm512_reduce_add_ps(accf);
}

void qtk_iq4_k_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m512i T = table_u8(qtk_iq4nl_values, 16), m4 = _mm512_set1_epi8(0xF);
    const __m512i ilo = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13), ihi = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
    /* register 2c+h, lane L = sub-block 8c + 2L + h -> position 4L + 2c + h */
    const __m512i perm = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    __m512 accf = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ4_K_SIZE) {
        const __m256i S16 = scales_iq45(b);
        const int8_t *yq = y[ib].qs;
        __m512i p[4];
        for (int c = 0; c < 2; c++) {
            /* lane L = 32-group 4c+L: low nibbles sub-block 8c+2L, high nibbles 8c+2L+1 */
            const __m512i q = _mm512_loadu_si512((const void *)(b + 16 + 64 * c));
            const __m512i ya = _mm512_loadu_si512((const void *)(yq + 128 * c));
            const __m512i yb = _mm512_loadu_si512((const void *)(yq + 128 * c + 64));
            const __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            p[2 * c] = dpb(_mm512_shuffle_epi8(T, lo), _mm512_permutex2var_epi64(ya, ilo, yb));
            p[2 * c + 1] = dpb(_mm512_shuffle_epi8(T, hi), _mm512_permutex2var_epi64(ya, ihi, yb));
        }
        accf = finish(accf, hsum4x4(p[0], p[1], p[2], p[3]), perm, S16, QTK_IQ4_K_SHIFT, b, &y[ib]);
    }
    *s = _mm512_reduce_add_ps(accf);
}

/* IQ5_K/IQ6_K quant layout: register c (64 bytes = 32-byte chunks 2c, 2c+1),
 * lane L = chunk 2c + L/2, positions 16(L%2)..; low nibbles are 32-group
 * 4c + 2(L/2), high nibbles the next group. Register 2c+h, lane L thus holds
 * sub-block 8c + 4(L/2) + 2h + L%2, at position 4L + 2c + h of the sums. */
static inline __m512i perm_iq56(void) {
    return _mm512_setr_epi32(0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15);
}

/* Per-half byte constant: lower 32 bytes lo, upper 32 bytes hi. */
static inline __m512i halves8(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)lo)), _mm256_set1_epi8((char)hi), 1);
}

void qtk_iq5_k_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m512i T0 = table_u8(qtk_iq5nl_values, 16), T1 = table_u8(qtk_iq5nl_values + 16, 16);
    const __m512i m4 = _mm512_set1_epi8(0xF), perm = perm_iq56();
    __m512 accf = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ5_K_SIZE) {
        const __m256i S16 = scales_iq45(b);
        const int8_t *yq = y[ib].qs;
        const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b + 144)));
        __m512i p[4];
        for (int c = 0; c < 2; c++) {
            const __m512i q = _mm512_loadu_si512((const void *)(b + 16 + 64 * c));
            const __m512i ya = _mm512_loadu_si512((const void *)(yq + 128 * c));
            const __m512i yb = _mm512_loadu_si512((const void *)(yq + 128 * c + 64));
            const __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            /* 5th bit = bit (32-group) of qh: groups 4c (lower half) / 4c+2 (upper), +1 for hi */
            const __mmask64 klo = _mm512_test_epi8_mask(h, halves8(1 << (4 * c), 1 << (4 * c + 2)));
            const __mmask64 khi = _mm512_test_epi8_mask(h, halves8(1 << (4 * c + 1), 1 << (4 * c + 3)));
            const __m512i vlo = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(T0, lo), klo, T1, lo);
            const __m512i vhi = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(T0, hi), khi, T1, hi);
            p[2 * c] = dpb(vlo, _mm512_shuffle_i64x2(ya, yb, 0x44));
            p[2 * c + 1] = dpb(vhi, _mm512_shuffle_i64x2(ya, yb, 0xEE));
        }
        accf = finish(accf, hsum4x4(p[0], p[1], p[2], p[3]), perm, S16, QTK_IQ5_K_SHIFT, b, &y[ib]);
    }
    *s = _mm512_reduce_add_ps(accf);
}

/* 64-entry lookup of biased values: k0, k1 = index bits 4, 5. */
static inline __m512i lookup64(const __m512i *T, __m512i idx, __mmask64 k0, __mmask64 k1) {
    const __m512i v01 = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(T[0], idx), k0, T[1], idx);
    const __m512i v23 = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(T[2], idx), k0, T[3], idx);
    return _mm512_mask_blend_epi8(k1, v01, v23);
}

void qtk_iq6_k_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    __m512i T[4];
    for (int t = 0; t < 4; t++) T[t] = table_u8(qtk_iq6nl_values + 16 * t, 16);
    const __m512i m4 = _mm512_set1_epi8(0xF), perm = perm_iq56();
    __m512 accf = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ6_K_SIZE) {
        const __m256i S16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 4)));
        const int8_t *yq = y[ib].qs;
        __m512i p[4];
        for (int c = 0; c < 2; c++) {
            /* qh of groups 4c..4c+3 (32 bytes), bit pair 2·(group % 4): lower half pair
             * 0 (lo) / 1 (hi), upper half pair 2 / 3 */
            const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b + 148 + 32 * c)));
            const __m512i q = _mm512_loadu_si512((const void *)(b + 20 + 64 * c));
            const __m512i ya = _mm512_loadu_si512((const void *)(yq + 128 * c));
            const __m512i yb = _mm512_loadu_si512((const void *)(yq + 128 * c + 64));
            const __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            const __m512i vlo = lookup64(T, lo, _mm512_test_epi8_mask(h, halves8(0x01, 0x10)),
                                         _mm512_test_epi8_mask(h, halves8(0x02, 0x20)));
            const __m512i vhi = lookup64(T, hi, _mm512_test_epi8_mask(h, halves8(0x04, 0x40)),
                                         _mm512_test_epi8_mask(h, halves8(0x08, 0x80)));
            p[2 * c] = dpb(vlo, _mm512_shuffle_i64x2(ya, yb, 0x44));
            p[2 * c + 1] = dpb(vhi, _mm512_shuffle_i64x2(ya, yb, 0xEE));
        }
        accf = finish(accf, hsum4x4(p[0], p[1], p[2], p[3]), perm, S16, QTK_IQ6_K_SHIFT, b, &y[ib]);
    }
    *s = _mm512_reduce_add_ps(accf);
}
