/*
 * iqk_ks_avx2.c — AVX2 dot products of the KS types with Q8_K activations.
 *
 * Layout trick: a 32-byte load of IQ4_KS-layout bytes covers two sub-blocks;
 * its low nibbles are weights 0..15 of both and its high nibbles weights
 * 16..31, so the activations are loaded to match (two 16-byte halves) instead
 * of permuting the indices. All sub-blocks use the base grid; the shifted
 * grid (= base + 4) is added back per sub-block as 4·S·Σy from the Q8_K block
 * sums. Super-block sums are exact 32-bit integers accumulated in float in
 * the scalar kernels' order, so results equal the scalar ones bit for bit.
 */
#include "iqk_ks.h"
#include "grids.h"
#include "simd_x86.h"

#include <immintrin.h>

/* The 8 scale words of a super-block arrive in order sb0..sb7 for IQ4_KS and
 * sb0 sb2 sb1 sb3 sb4 sb6 sb5 sb7 for IQ4_KSS (what packs+movemask yields);
 * the byte-shuffle controls below absorb that. For layout L and pair k:
 * pair_ctrl broadcasts the scale of sub-block 2k to the low and of 2k+1 to
 * the high 128 bits; corr_ctrl duplicates the 8 words into sub-block order
 * (low half: sub-blocks 0..3, high half: 4..7) to meet the bsums pairs. */
static const uint8_t pair_ctrl[2][4][32] = {
    {{0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
     {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
     {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
     {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15}},
    {{0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5},
     {2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
     {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13},
     {10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15}},
};
static const uint8_t corr_ctrl[2][32] = {
    {0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 15, 14, 15},
    {0, 1, 0, 1, 4, 5, 4, 5, 2, 3, 2, 3, 6, 7, 6, 7, 8, 9, 8, 9, 12, 13, 12, 13, 10, 11, 10, 11, 14, 15, 14, 15},
};

/* Super-block sum for 8 sub-blocks, still spread over 8 int32 lanes: bk =
 * IQ4_KS-layout bytes of sub-blocks 2k, 2k+1; sb = the 8 scale bytes as int16
 * in the given layout. |T|, |y| <= 127, so maddubs pairs (<= 32258) never
 * saturate. */
QTK_FORCE_INLINE __m256i block_acc4(__m256i b0, __m256i b1, __m256i b2, __m256i b3, __m128i sb, int layout,
                             const qtk_block_q8_K *yb, __m256i table) {
    const __m256i bytes[4] = {b0, b1, b2, b3};
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m128i S8 = _mm_sub_epi16(_mm_and_si128(sb, _mm_set1_epi16(0xFE)), _mm_set1_epi16(127));
    const __m128i Ssh = _mm_mullo_epi16(S8, _mm_and_si128(sb, _mm_set1_epi16(1))); /* S if shifted, else 0 */
    const __m256i Sb = _mm256_broadcastsi128_si256(S8);
    const __m256i shw = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(Ssh),
                                            _mm256_loadu_si256((const __m256i *)corr_ctrl[layout]));
    __m256i acc = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)yb->bsums), shw), 2);
    const int8_t *yq = yb->qs;
    for (int k = 0; k < 4; k++) {
        const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(bytes[k], m4));
        const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(bytes[k], 4), m4));
        const __m256i ylo = qtk_load2x128(yq + 64 * k, yq + 64 * k + 32);
        const __m256i yhi = qtk_load2x128(yq + 64 * k + 16, yq + 64 * k + 48);
        const __m256i sc = _mm256_shuffle_epi8(Sb, _mm256_loadu_si256((const __m256i *)pair_ctrl[layout][k]));
        const __m256i plo = _mm256_maddubs_epi16(_mm256_sign_epi8(lo, lo), _mm256_sign_epi8(ylo, lo));
        const __m256i phi = _mm256_maddubs_epi16(_mm256_sign_epi8(hi, hi), _mm256_sign_epi8(yhi, hi));
        acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(plo, sc), _mm256_madd_epi16(phi, sc)));
    }
    return acc;
}

/* The same, reduced to the super-block's integer sum. */
QTK_FORCE_INLINE int32_t block_sum4(__m256i b0, __m256i b1, __m256i b2, __m256i b3, __m128i sb, int layout,
                             const qtk_block_q8_K *yb, __m256i table) {
    return qtk_hsum_i32x8(block_acc4(b0, b1, b2, b3, sb, layout, yb, table));
}

void qtk_iq4_ks_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values));
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 136) {
        qtk_prefetch_ahead(p, 136);
        const __m128i sb = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)p));
        sumf += y[ibl].d * (float)block_sum4(_mm256_loadu_si256((const __m256i *)(p + 8)),
                                             _mm256_loadu_si256((const __m256i *)(p + 40)),
                                             _mm256_loadu_si256((const __m256i *)(p + 72)),
                                             _mm256_loadu_si256((const __m256i *)(p + 104)), sb, 0, &y[ibl], table);
    }
    *s = d * sumf;
}

/* IQ4_KSS super-block sum, spread over 8 lanes: decode the words into
 * IQ4_KS-layout bytes in registers and run IQ4_KS's inner loop on them. */
QTK_FORCE_INLINE __m256i kss_block_acc(const uint8_t *p, const qtk_block_q8_K *yb, __m256i table) {
    const __m256i mfe = _mm256_set1_epi16((short)0xFFFE);
    const __m256i u0 = _mm256_loadu_si256((const __m256i *)p), u1 = _mm256_loadu_si256((const __m256i *)(p + 32));
    const __m256i u2 = _mm256_loadu_si256((const __m256i *)(p + 64)), u3 = _mm256_loadu_si256((const __m256i *)(p + 96));
    /* Scale bytes from bit 0 of each word: packs of (u << 15) gives per
     * 128-bit lane [sb(2i) | sb(2i+2)], so movemask yields sb0 sb2 sb1 sb3. */
    const uint32_t m0 = (uint32_t)_mm256_movemask_epi8(_mm256_packs_epi16(_mm256_slli_epi16(u0, 15), _mm256_slli_epi16(u1, 15)));
    const uint32_t m1 = (uint32_t)_mm256_movemask_epi8(_mm256_packs_epi16(_mm256_slli_epi16(u2, 15), _mm256_slli_epi16(u3, 15)));
    const __m128i sb = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)(m0 | ((uint64_t)m1 << 32))));
    /* the indices: v = a ^ (a >> 1), a = u with the scale bit cleared */
    const __m256i a0 = _mm256_and_si256(u0, mfe), a1 = _mm256_and_si256(u1, mfe);
    const __m256i a2 = _mm256_and_si256(u2, mfe), a3 = _mm256_and_si256(u3, mfe);
    return block_acc4(_mm256_xor_si256(a0, _mm256_srli_epi16(a0, 1)), _mm256_xor_si256(a1, _mm256_srli_epi16(a1, 1)),
                      _mm256_xor_si256(a2, _mm256_srli_epi16(a2, 1)), _mm256_xor_si256(a3, _mm256_srli_epi16(a3, 1)), sb, 1,
                      yb, table);
}

void qtk_iq4_kss_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values));
    const int64_t nb = n / QK_K;
    float sumf = 0.0f;
    int64_t ibl = 0;
    /* Four super-blocks at a time share one horizontal reduction (the
     * per-block one is what made the extra decoding work show); the float
     * products and sums stay in the scalar kernel's order. */
    for (; ibl + 3 < nb; ibl += 4, p += 512) {
        qtk_prefetch_ahead(p, 512);
        const __m256i h01 = _mm256_hadd_epi32(kss_block_acc(p, &y[ibl], table), kss_block_acc(p + 128, &y[ibl + 1], table));
        const __m256i h23 =
            _mm256_hadd_epi32(kss_block_acc(p + 256, &y[ibl + 2], table), kss_block_acc(p + 384, &y[ibl + 3], table));
        const __m256i h = _mm256_hadd_epi32(h01, h23); /* lane L: block 0..3 partial sums of that lane */
        const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        const __m128 pr = _mm_mul_ps(_mm_cvtepi32_ps(s4), _mm_setr_ps(y[ibl].d, y[ibl + 1].d, y[ibl + 2].d, y[ibl + 3].d));
        float f[4];
        _mm_storeu_ps(f, pr);
        sumf += f[0];
        sumf += f[1];
        sumf += f[2];
        sumf += f[3];
    }
    for (; ibl < nb; ibl++, p += 128) sumf += y[ibl].d * (float)qtk_hsum_i32x8(kss_block_acc(p, &y[ibl], table));
    *s = d * sumf;
}

/* ---- IQ5_KS: one sub-block (32 weights) per 256-bit vector ------------------ */

/* S · Σ v·y over 32 int8 grid values v (|v| <= 127) and activations y. */
static inline __m256i dot32(__m256i v, const int8_t *yq, int S) {
    const __m256i y = _mm256_loadu_si256((const __m256i *)yq);
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(y, v));
    return _mm256_madd_epi16(p, _mm256_set1_epi16((short)S));
}

/* 0xFF in the bytes of v that have bit b set. */
static inline __m256i bit_mask(__m256i v, int b) {
    const __m256i m = _mm256_set1_epi8((char)(1 << b));
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, m), m);
}

void qtk_iq5_ks_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    /* [shift][half]: values 0..15 and 16..31 of the base / shifted grid */
    __m256i tab[2][2];
    for (int g = 0; g < 2; g++)
        for (int h = 0; h < 2; h++)
            tab[g][h] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qtk_iq5nl_values + 32 * g + 16 * h)));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 168) {
        qtk_prefetch_ahead(p, 168);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 136));
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib += 2) {
            const __m256i chunk = _mm256_loadu_si256((const __m256i *)(p + 8 + 16 * ib));
            for (int k = 0; k < 2; k++) {
                const int sb = p[ib + k];
                const __m256i idx = _mm256_and_si256(k ? _mm256_srli_epi16(chunk, 4) : chunk, m4);
                const __m256i v = _mm256_blendv_epi8(_mm256_shuffle_epi8(tab[sb & 1][0], idx),
                                                     _mm256_shuffle_epi8(tab[sb & 1][1], idx), bit_mask(qh, ib + k));
                acc = _mm256_add_epi32(acc, dot32(v, y[ibl].qs + 32 * (ib + k), (sb & 0xFE) - 127));
            }
        }
        sumf += y[ibl].d * (float)qtk_hsum_i32x8(acc);
    }
    *s = d * sumf;
}

/* ---- IQ3_KS, IQ2_KS, IQ2_KL: branch-free whole super-blocks -----------------
 * Every sub-block's values come from one look-up of the base grid + bias B
 * (unsigned, so maddubs pairs stay below 2·110·128) whatever its shift bit;
 * madd with the sub-block scale widens to 32 bits, and the bias and the
 * shifted grid (IQ2_KS: base + 5, IQ3_KS: base + 4) come back from the Q8_K
 * block sums: the accumulator starts at Σ_j S_j·(c·shift_j − B)·Σy_j. No
 * branch depends on the data. The super-block sums are exact and the float
 * side is the scalar kernel's, so results equal the scalar ones bit for bit. */

/* 0xFFFF in word j where bit j of bits is set. */
static inline __m128i ks2_bits(unsigned bits) {
    const __m128i b = _mm_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm_cmpeq_epi16(_mm_and_si128(_mm_set1_epi16((short)bits), b), b);
}

/* 16 int8 values + bias in both 128-bit lanes. */
static inline __m256i ks2_table(const int8_t *v, int bias) {
    return _mm256_broadcastsi128_si256(
        _mm_add_epi8(_mm_loadu_si128((const __m128i *)(const void *)v), _mm_set1_epi8((char)bias)));
}

/* Σ_j S_j·(c·shift_j − B)·Σy_j over the 8 sub-blocks (v: c·shift − B per word). */
static inline __m256i ks2_corr(__m128i S, __m128i v, const qtk_block_q8_K *yb) {
    const __m128i c8 = _mm_mullo_epi16(S, v);
    const __m256i cw = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(c8, c8)),
                                               _mm_unpackhi_epi16(c8, c8), 1);
    return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums), cw);
}

/* S·Σ w·y per pair of int32 lanes (w unsigned, sv: the scale in every word). */
static inline __m256i ks2_dot(__m256i w, __m256i y, __m256i sv) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, y), sv);
}

static inline __m256i ks2_load(const int8_t *q) { return _mm256_loadu_si256((const __m256i *)(const void *)q); }

/* 4-bit scale codes, nibble j%4 of 4 bytes: low nibbles (sub-blocks 0-3) then high. */
static inline __m128i ks2_nibbles_lh(const uint8_t *b) {
    uint32_t sc;
    memcpy(&sc, b, 4);
    const __m128i w = _mm_cvtepu8_epi16(_mm_cvtsi32_si128((int)sc));
    return _mm_unpacklo_epi64(_mm_and_si128(w, _mm_set1_epi16(0xF)), _mm_srli_epi16(w, 4));
}

/* qh shifted so that bit j of every byte lands in bit 2 (16-bit shifts by at most 5
 * keep it inside its byte), masked to bit 2. */
static inline __m256i ks2_hbit(__m256i qh, int j) {
    const __m256i v = j < 2 ? _mm256_sll_epi16(qh, _mm_cvtsi32_si128(2 - j)) : _mm256_srl_epi16(qh, _mm_cvtsi32_si128(j - 2));
    return _mm256_and_si256(v, _mm256_set1_epi8(4));
}

void qtk_iq3_ks_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint16_t dh;
    memcpy(&dh, p, 2);
    const float d = qtk_fp16_to_fp32(dh);
    p += 2;
    int8_t t[16];
    for (int i = 0; i < 16; i++) t[i] = qtk_iq3nl_values[i & 7];
    const __m256i tab = ks2_table(t, 63), m33 = _mm256_set1_epi8(0x33), mcc = _mm256_set1_epi8((char)0xCC);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 102) {
        qtk_prefetch_ahead(p, 102);
        uint16_t extra;
        memcpy(&extra, p, 2);
        __m128i S = _mm_sub_epi16(ks2_nibbles_lh(p + 2), _mm_set1_epi16(16));
        S = _mm_add_epi16(S, _mm_and_si128(ks2_bits(extra & 0xFFu), _mm_set1_epi16(16)));
        const __m128i v = _mm_add_epi16(_mm_set1_epi16(-63), _mm_and_si128(ks2_bits(extra >> 8), _mm_set1_epi16(4)));
        __m256i acc = ks2_corr(S, v, &y[ibl]);
        const __m256i Sb = _mm256_broadcastsi128_si256(S);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(p + 70));
        for (int h = 0; h < 2; h++) {
            /* 2-bit indices of sub-blocks 4h..4h+3, masked so that a 16-bit shift
             * leaves each in bits 0-1 (and 4-5, ignored) with bit 7 clear */
            const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(p + 6 + 32 * h));
            const __m256i q33 = _mm256_and_si256(q, m33), qcc = _mm256_and_si256(q, mcc);
            const __m256i a[4] = {q33, _mm256_srli_epi16(qcc, 2), _mm256_srli_epi16(q33, 4), _mm256_srli_epi16(qcc, 6)};
            for (int k = 0; k < 4; k++) {
                const int j = 4 * h + k;
                const __m256i w = _mm256_shuffle_epi8(tab, _mm256_or_si256(a[k], ks2_hbit(qh, j)));
                acc = _mm256_add_epi32(acc, ks2_dot(w, ks2_load(y[ibl].qs + 32 * j), _mm256_shuffle_epi8(Sb, qtk_word_ctl(j, j))));
            }
        }
        sumf += y[ibl].d * (float)qtk_hsum_i32x8(acc);
    }
    *s = d * sumf;
}

void qtk_iq2_ks_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint16_t dh;
    memcpy(&dh, p, 2);
    const float d = qtk_fp16_to_fp32(dh);
    p += 2;
    /* a nibble holds the indices of two sub-blocks: t0 looks up bits 0-1, t1 bits 2-3 */
    int8_t t[2][16];
    for (int i = 0; i < 16; i++) t[0][i] = qtk_iq2nl_values[i & 3], t[1][i] = qtk_iq2nl_values[i >> 2];
    const __m256i t0 = ks2_table(t[0], 31), t1 = ks2_table(t[1], 31), m4 = _mm256_set1_epi8(0x0F);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 70) {
        qtk_prefetch_ahead(p, 70);
        uint16_t extra;
        memcpy(&extra, p, 2);
        uint32_t sc;
        memcpy(&sc, p + 2, 4);
        const __m128i wb = _mm_cvtepu8_epi16(_mm_cvtsi32_si128((int)sc));
        __m128i S = _mm_unpacklo_epi16(_mm_and_si128(wb, _mm_set1_epi16(0xF)), _mm_srli_epi16(wb, 4));
        S = _mm_add_epi16(_mm_sub_epi16(S, _mm_set1_epi16(16)), _mm_and_si128(ks2_bits(extra >> 8), _mm_set1_epi16(16)));
        const __m128i v = _mm_add_epi16(_mm_set1_epi16(-31), _mm_and_si128(ks2_bits(extra & 0xFFu), _mm_set1_epi16(5)));
        __m256i acc = ks2_corr(S, v, &y[ibl]);
        const __m256i Sb = _mm256_broadcastsi128_si256(S);
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(p + 6 + 32 * h));
            const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i w[4] = {_mm256_shuffle_epi8(t0, lo), _mm256_shuffle_epi8(t1, lo), _mm256_shuffle_epi8(t0, hi),
                                  _mm256_shuffle_epi8(t1, hi)};
            for (int k = 0; k < 4; k++) {
                const int j = 4 * h + k;
                acc = _mm256_add_epi32(acc, ks2_dot(w[k], ks2_load(y[ibl].qs + 32 * j), _mm256_shuffle_epi8(Sb, qtk_word_ctl(j, j))));
            }
        }
        sumf += y[ibl].d * (float)qtk_hsum_i32x8(acc);
    }
    *s = d * sumf;
}

/* ---- IQ2_KL: 5-bit pair indices into the 32-point 2-D grid ------------------- */

void qtk_iq2_kl_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint16_t dh;
    memcpy(&dh, p, 2);
    const float d = qtk_fp16_to_fp32(dh);
    p += 2;
    /* first / second coordinates of grid points 0..15 and 16..31, + 63 */
    int8_t c[2][32];
    for (int k = 0; k < 32; k++) c[0][k] = qtk_iq2kl_grid[k][0], c[1][k] = qtk_iq2kl_grid[k][1];
    const __m256i t0l = ks2_table(c[0], 63), t0h = ks2_table(c[0] + 16, 63);
    const __m256i t1l = ks2_table(c[1], 63), t1h = ks2_table(c[1] + 16, 63);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 86) {
        qtk_prefetch_ahead(p, 86);
        uint16_t sh;
        memcpy(&sh, p, 2);
        const __m128i hb = qtk_bits2x8(sh);
        const __m128i S = _mm_sub_epi16(_mm_or_si128(ks2_nibbles_lh(p + 2), _mm_slli_epi16(hb, 4)), _mm_set1_epi16(32));
        __m256i acc = ks2_corr(S, _mm_set1_epi16(-63), &y[ibl]);
        const __m256i Sb = _mm256_broadcastsi128_si256(S);
        const __m256i qh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(p + 70)));
        for (int h = 0; h < 2; h++) {
            /* 128-bit lane l: pair indices of sub-blocks 2m (low nibbles) and 2m+1 (high),
             * m = 2h + l; their 5th bits are bits 2m and 2m+1 of qh */
            const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(p + 6 + 32 * h));
            const __m256i idx[2] = {_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4)};
            const int8_t *yq = y[ibl].qs + 128 * h;
            for (int o = 0; o < 2; o++) {
                const __m256i pat = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi8((char)(1 << (4 * h + o)))),
                                                            _mm_set1_epi8((char)(1 << (4 * h + 2 + o))), 1);
                const __m256i hi = _mm256_cmpeq_epi8(_mm256_and_si256(qh, pat), pat);
                const __m256i g0 = _mm256_blendv_epi8(_mm256_shuffle_epi8(t0l, idx[o]), _mm256_shuffle_epi8(t0h, idx[o]), hi);
                const __m256i g1 = _mm256_blendv_epi8(_mm256_shuffle_epi8(t1l, idx[o]), _mm256_shuffle_epi8(t1h, idx[o]), hi);
                /* lane l: weights 0-15 / 16-31 of sub-block 2m+o, activations to match */
                const __m256i sv = _mm256_shuffle_epi8(Sb, qtk_word_ctl(4 * h + o, 4 * h + 2 + o));
                const int8_t *ys = yq + 32 * o;
                const __m256i y0 = qtk_load2x128(ys, ys + 64);
                const __m256i y1 = qtk_load2x128(ys + 16, ys + 80);
                acc = _mm256_add_epi32(acc, ks2_dot(_mm256_unpacklo_epi8(g0, g1), y0, sv));
                acc = _mm256_add_epi32(acc, ks2_dot(_mm256_unpackhi_epi8(g0, g1), y1, sv));
            }
        }
        sumf += y[ibl].d * (float)qtk_hsum_i32x8(acc);
    }
    *s = d * sumf;
}

/* qtk_ks_trials_scalar (iqk_ks.c), 8 trials per vector: every lane's floats as the
 * scalar loop computes them — the grid values are small integers (exact in any
 * order), the products and sums separate multiplies and adds (no FMA) in j order.
 * test_types_only compares the bytes of every type with the scalar build's. */
void qtk_ks_trials_avx2(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                        const int *gsel, float *out) {
    enum { L = QTK_KS_LANES };
    __m256 step[31];
    for (int i = 0; i + 1 < ng; i++) step[i] = _mm256_set1_ps((float)(grid[i + 1] - grid[i]));
    const __m256 neg = _mm256_set1_ps(-0.0f);
    for (int t0 = 0; t0 < nt; t0 += 8) {
        float m[31][8], base[8], idl[8];
        for (int k = 0; k < 8; k++) {
            const int t = t0 + k;
            const int8_t *G = grid + (t < nt ? ng * gsel[t] : 0);
            base[k] = (float)G[0];
            idl[k] = t < nt ? id[t] : 0.0f;
            for (int i = 0; i + 1 < ng; i++) m[i][k] = 0.5f * ((float)G[i] + (float)G[i + 1]);
        }
        __m256 mid[31];
        for (int i = 0; i + 1 < ng; i++) mid[i] = _mm256_loadu_ps(m[i]);
        const __m256 g0 = _mm256_loadu_ps(base), idv = _mm256_loadu_ps(idl);
        __m256 a = _mm256_setzero_ps(), b = a, c = a, e = a;
        for (int j = 0; j < n; j++) {
            const __m256 xj = _mm256_set1_ps(x[j]), wj = _mm256_set1_ps(w[j]);
            const __m256 wx = _mm256_mul_ps(wj, xj);
            const __m256 v = _mm256_mul_ps(idv, xj), mv = _mm256_xor_ps(v, neg);
            /* two chains of adds per sign, summed at the end: every partial sum is an
             * exact small integer, so the order does not change the value */
            __m256 qp = g0, qm = g0, qp1 = _mm256_setzero_ps(), qm1 = qp1;
            int i = 0;
            for (; i + 2 < ng; i += 2) {
                qp = _mm256_add_ps(qp, _mm256_and_ps(_mm256_cmp_ps(v, mid[i], _CMP_GE_OQ), step[i]));
                qm = _mm256_add_ps(qm, _mm256_and_ps(_mm256_cmp_ps(mv, mid[i], _CMP_GE_OQ), step[i]));
                qp1 = _mm256_add_ps(qp1, _mm256_and_ps(_mm256_cmp_ps(v, mid[i + 1], _CMP_GE_OQ), step[i + 1]));
                qm1 = _mm256_add_ps(qm1, _mm256_and_ps(_mm256_cmp_ps(mv, mid[i + 1], _CMP_GE_OQ), step[i + 1]));
            }
            if (i + 1 < ng) {
                qp = _mm256_add_ps(qp, _mm256_and_ps(_mm256_cmp_ps(v, mid[i], _CMP_GE_OQ), step[i]));
                qm = _mm256_add_ps(qm, _mm256_and_ps(_mm256_cmp_ps(mv, mid[i], _CMP_GE_OQ), step[i]));
            }
            qp = _mm256_add_ps(qp, qp1);
            qm = _mm256_add_ps(qm, qm1);
            a = _mm256_add_ps(a, _mm256_mul_ps(wx, qp));
            b = _mm256_add_ps(b, _mm256_mul_ps(_mm256_mul_ps(wj, qp), qp));
            c = _mm256_add_ps(c, _mm256_mul_ps(wx, qm));
            e = _mm256_add_ps(e, _mm256_mul_ps(_mm256_mul_ps(wj, qm), qm));
        }
        _mm256_storeu_ps(out + t0, a);
        _mm256_storeu_ps(out + L + t0, b);
        _mm256_storeu_ps(out + 2 * L + t0, c);
        _mm256_storeu_ps(out + 3 * L + t0, e);
    }
}

/* qtk_ks_eval_lanes_scalar (iqk_ks.c), the 8 candidates in one vector: the same floats
 * per lane (grid values exact, separate multiplies and adds, j order). */
void qtk_ks_eval_lanes_avx2(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                            const float *dl, const int *gsel, float *e, float *m) {
    float mt[31][8], base[8], dv[8], idl[8];
    for (int t = 0; t < 8; t++) {
        const int8_t *G = grid + (t < nc ? ng * gsel[t] : 0);
        dv[t] = t < nc ? dl[t] : 0.0f;
        idl[t] = dv[t] != 0.0f ? 1.0f / dv[t] : 0.0f;
        base[t] = (float)G[0];
        for (int i = 0; i + 1 < ng; i++) mt[i][t] = 0.5f * ((float)G[i] + (float)G[i + 1]);
    }
    __m256 mid[31], step[31];
    for (int i = 0; i + 1 < ng; i++) {
        mid[i] = _mm256_loadu_ps(mt[i]);
        step[i] = _mm256_set1_ps((float)(grid[i + 1] - grid[i]));
    }
    const __m256 g0 = _mm256_loadu_ps(base), idv = _mm256_loadu_ps(idl), dvv = _mm256_loadu_ps(dv);
    __m256 ea = _mm256_setzero_ps(), ma = ea;
    for (int j = 0; j < 32; j++) {
        const __m256 xj = _mm256_set1_ps(x[j]), wj = _mm256_set1_ps(w[j]), mj = _mm256_set1_ps(mw[j]);
        const __m256 v = _mm256_mul_ps(idv, xj);
        __m256 q = g0, q1 = _mm256_setzero_ps(); /* two chains, exact integers as above */
        int i = 0;
        for (; i + 2 < ng; i += 2) {
            q = _mm256_add_ps(q, _mm256_and_ps(_mm256_cmp_ps(v, mid[i], _CMP_GE_OQ), step[i]));
            q1 = _mm256_add_ps(q1, _mm256_and_ps(_mm256_cmp_ps(v, mid[i + 1], _CMP_GE_OQ), step[i + 1]));
        }
        if (i + 1 < ng) q = _mm256_add_ps(q, _mm256_and_ps(_mm256_cmp_ps(v, mid[i], _CMP_GE_OQ), step[i]));
        q = _mm256_add_ps(q, q1);
        const __m256 diff = _mm256_sub_ps(xj, _mm256_mul_ps(dvv, q));
        ea = _mm256_add_ps(ea, _mm256_mul_ps(_mm256_mul_ps(wj, diff), diff));
        ma = _mm256_add_ps(ma, _mm256_mul_ps(_mm256_mul_ps(mj, diff), diff));
    }
    float eo[8], mo[8];
    _mm256_storeu_ps(eo, ea);
    _mm256_storeu_ps(mo, ma);
    for (int t = 0; t < nc; t++) e[t] = eo[t], m[t] = mo[t];
}

/* Entry idx (0..15 per lane) of a 16-entry table held as lo (0..7) and hi (8..15). */
static inline __m256 lut16_ps(__m256 lo, __m256 hi, __m256i idx) {
    const __m256 pick_hi = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)); /* bit 3 → sign */
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx), pick_hi);
}

static inline __m256i lut16_epi32(__m256i lo, __m256i hi, __m256i idx) {
    return _mm256_castps_si256(lut16_ps(_mm256_castsi256_ps(lo), _mm256_castsi256_ps(hi), idx));
}

/* 32 indices 0..15 in four vectors of 8 int32 → 32 bytes in order. */
static inline void store_idx32(uint8_t *dst, const __m256i v[4]) {
    /* per 128-bit half: packs gives v0[0..3] v1[0..3] / v0[4..7] v1[4..7] (16-bit), packus
     * then four 4-byte groups per half; the permute puts the groups back in order */
    const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    _mm256_storeu_si256((__m256i *)(void *)dst, _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

/* IQ4_KSS's constrained rounding (iqk_kss.c, qtk_kss_round_scalar), 8 weights per
 * vector: the nearest index as the count of midpoints at or below t (two chains of
 * integer adds), then the same floats as the scalar function — e0 = (t − g[l])², each
 * opposite-parity neighbour's (t − g)² − e0 (+inf past the grid's ends), the upper one
 * when strictly cheaper, w·dx. */
void qtk_kss_round_avx2(const float *t, const float *w, const int8_t *g, const int8_t *opp_dn, const int8_t *opp_up,
                        uint8_t *q, unsigned *par, uint8_t *alt, float *dx, float *dwx) {
    float gf[16];
    int32_t dn[16], up[16];
    __m256 mid[15];
    for (int i = 0; i < 16; i++) {
        gf[i] = (float)g[i];
        dn[i] = opp_dn[i];
        up[i] = opp_up[i];
    }
    for (int i = 0; i < 15; i++) mid[i] = _mm256_set1_ps(0.5f * ((float)g[i] + (float)g[i + 1]));
    const __m256 Glo = _mm256_loadu_ps(gf), Ghi = _mm256_loadu_ps(gf + 8), inf = _mm256_set1_ps(INFINITY);
    const __m256i DNlo = _mm256_loadu_si256((const __m256i *)(const void *)dn);
    const __m256i DNhi = _mm256_loadu_si256((const __m256i *)(const void *)(dn + 8));
    const __m256i UPlo = _mm256_loadu_si256((const __m256i *)(const void *)up);
    const __m256i UPhi = _mm256_loadu_si256((const __m256i *)(const void *)(up + 8));
    const __m256i zero = _mm256_setzero_si256(), fifteen = _mm256_set1_epi32(15);
    unsigned bits = 0;
    __m256i lv[4], av[4];
    for (int h = 0; h < 4; h++) {
        const __m256 tv = _mm256_loadu_ps(t + 8 * h);
        __m256i c0 = zero, c1 = zero; /* compare masks are −1: subtracting counts */
        for (int i = 0; i + 1 < 15; i += 2) {
            c0 = _mm256_sub_epi32(c0, _mm256_castps_si256(_mm256_cmp_ps(tv, mid[i], _CMP_GE_OQ)));
            c1 = _mm256_sub_epi32(c1, _mm256_castps_si256(_mm256_cmp_ps(tv, mid[i + 1], _CMP_GE_OQ)));
        }
        c0 = _mm256_sub_epi32(c0, _mm256_castps_si256(_mm256_cmp_ps(tv, mid[14], _CMP_GE_OQ)));
        const __m256i l = _mm256_add_epi32(c0, c1);
        __m256i p = _mm256_xor_si256(l, _mm256_srli_epi32(l, 1));
        p = _mm256_xor_si256(p, _mm256_srli_epi32(p, 2));
        bits |= (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_slli_epi32(p, 31))) << (8 * h);
        const __m256 e = _mm256_sub_ps(tv, lut16_ps(Glo, Ghi, l));
        const __m256 e0 = _mm256_mul_ps(e, e);
        const __m256i ld = lut16_epi32(DNlo, DNhi, l), lu = lut16_epi32(UPlo, UPhi, l);
        const __m256 edn = _mm256_sub_ps(tv, lut16_ps(Glo, Ghi, ld));
        const __m256 eup = _mm256_sub_ps(tv, lut16_ps(Glo, Ghi, lu));
        const __m256 dd = _mm256_blendv_ps(_mm256_sub_ps(_mm256_mul_ps(edn, edn), e0), inf,
                                           _mm256_castsi256_ps(_mm256_cmpeq_epi32(l, zero)));
        const __m256 du = _mm256_blendv_ps(_mm256_sub_ps(_mm256_mul_ps(eup, eup), e0), inf,
                                           _mm256_castsi256_ps(_mm256_cmpeq_epi32(l, fifteen)));
        const __m256 u = _mm256_cmp_ps(du, dd, _CMP_LT_OQ);
        const __m256 d = _mm256_blendv_ps(dd, du, u);
        lv[h] = l;
        av[h] = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(ld), _mm256_castsi256_ps(lu), u));
        _mm256_storeu_ps(dx + 8 * h, d);
        _mm256_storeu_ps(dwx + 8 * h, _mm256_mul_ps(_mm256_loadu_ps(w + 8 * h), d));
    }
    store_idx32(q, lv);
    store_idx32(alt, av);
    *par = bits;
}
