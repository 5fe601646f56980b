/*
 * iqk_ks_avx512.c — AVX-512 (BW/VL/VNNI) dot products of the KS types with
 * Q8_K activations. Four sub-blocks per 512-bit load; indices map through
 * the fixed base grid biased by +128 (so it is unsigned), vpdpbusd sums
 * u8×s8 products straight into 32-bit lanes, and both the +128 bias and
 * the shifted grid (= base + 4) are taken back per sub-block from the Q8_K
 * block sums: Σ T_sh·y = Σ (T+128)·y + (4·shift − 128)·Σy. Super-block sums
 * are exact integers, accumulated in float in the scalar kernels' order.
 */
#include "iqk_ks.h"
#include "grids.h"

#include <immintrin.h>

/* IQ4NL base grid + 128. */
static inline __m512i iq4_table_u8(void) {
    const __m128i t = _mm_add_epi8(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values), _mm_set1_epi8((char)0x80));
    return _mm512_broadcast_i32x4(t);
}

/* Σ over 4 sub-blocks of S_b · Σ (T+128)[q]·y, for 64 bytes in IQ4_KS layout
 * (16 bytes per sub-block) and the matching 128 activations; s32 holds the
 * 8 scales of the super-block as int32, `first` the index of the first. */
static inline __m512i quad_dot(__m512i bytes, __m512i table, const int8_t *yq, __m512i s32, int first) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i lo = _mm512_and_si512(bytes, m4), hi = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), m4);
    const __m512i ia = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), ib = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    const __m512i l0 = _mm512_permutex2var_epi64(lo, ia, hi); /* sub-blocks first, first+1 in weight order */
    const __m512i l1 = _mm512_permutex2var_epi64(lo, ib, hi); /* first+2, first+3 */
    const __m512i d0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_shuffle_epi8(table, l0),
                                           _mm512_loadu_si512((const void *)yq));
    const __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_shuffle_epi8(table, l1),
                                           _mm512_loadu_si512((const void *)(yq + 64)));
    const __m512i i0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(first)), _mm256_set1_epi32(first + 1), 1);
    const __m512i i1 = _mm512_add_epi32(i0, _mm512_set1_epi32(2));
    return _mm512_add_epi32(_mm512_mullo_epi32(d0, _mm512_permutexvar_epi32(i0, s32)),
                            _mm512_mullo_epi32(d1, _mm512_permutexvar_epi32(i1, s32)));
}

/* Super-block integer sum: the two quad sums plus the bias/shift correction. */
static inline int32_t block_sum(__m512i acc, __m128i S8, __m128i sh8, const qtk_block_q8_K *yb) {
    const __m128i c8 = _mm_mullo_epi16(S8, _mm_sub_epi16(_mm_slli_epi16(sh8, 2), _mm_set1_epi16(128)));
    const __m256i cw = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(c8, c8)),
                                               _mm_unpackhi_epi16(c8, c8), 1);
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)yb->bsums), cw);
    return _mm512_reduce_add_epi32(_mm512_add_epi32(acc, _mm512_zextsi256_si512(corr)));
}

/* Scale bytes (bit 0 shift, bits 1-7 code) of 8 sub-blocks -> S (int16) and shift (int16). */
static inline void decode_scales(__m128i sb, __m128i *S8, __m128i *sh8) {
    *S8 = _mm_sub_epi16(_mm_and_si128(sb, _mm_set1_epi16(0xFE)), _mm_set1_epi16(127));
    *sh8 = _mm_and_si128(sb, _mm_set1_epi16(1));
}

void qtk_iq4_ks_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    const __m512i table = iq4_table_u8();
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 136) {
        __m128i S8, sh8;
        decode_scales(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)p)), &S8, &sh8);
        const __m512i s32 = _mm512_castsi256_si512(_mm256_cvtepi16_epi32(S8));
        __m512i acc = quad_dot(_mm512_loadu_si512((const void *)(p + 8)), table, y[ibl].qs, s32, 0);
        acc = _mm512_add_epi32(acc, quad_dot(_mm512_loadu_si512((const void *)(p + 72)), table, y[ibl].qs + 128, s32, 4));
        sumf += y[ibl].d * (float)block_sum(acc, S8, sh8, &y[ibl]);
    }
    *s = d * sumf;
}

/* IQ4_KSS: its own layout of the work, cheaper than IQ4_KS's so that the
 * decoding is paid for. A quad is 64 bytes = 4 sub-blocks, 128-bit lane b =
 * sub-block b: the decoded low nibbles (weights 0..15) and high nibbles
 * (16..31) stay in their lanes and the activations are permuted to match
 * instead, so both dpbusd accumulate into one vector whose lane b needs the
 * one scale S_b (a lane broadcast, not a cross-lane permute per half). */
typedef struct {
    __m512i table, m4, mfe;
} kss_consts;

/* S_b · Σ (T[q]+128)·y for the 4 sub-blocks of u (raw words), spread over lane b. */
static inline __m512i kss_quad(__m512i u, const int8_t *yq, __m512i S, const kss_consts *c) {
    /* v = (u & ~1) ^ (u >> 1) in one ternary-logic op (imm 0x6C) */
    const __m512i v = _mm512_ternarylogic_epi32(u, _mm512_srli_epi16(u, 1), c->mfe, 0x6C);
    const __m512i lo = _mm512_and_si512(v, c->m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), c->m4);
    const __m512i y0 = _mm512_loadu_si512((const void *)yq), y1 = _mm512_loadu_si512((const void *)(yq + 64));
    /* lane b of ylo = weights 0..15 of sub-block b, of yhi = weights 16..31 */
    const __m512i ylo = _mm512_shuffle_i64x2(y0, y1, 0x88), yhi = _mm512_shuffle_i64x2(y0, y1, 0xDD);
    __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_shuffle_epi8(c->table, lo), ylo);
    d = _mm512_dpbusd_epi32(d, _mm512_shuffle_epi8(c->table, hi), yhi);
    return _mm512_mullo_epi32(d, S);
}

/* The super-block's integer sum, still spread over 8 lanes (all exact). */
static inline __m256i kss_block(const uint8_t *p, const qtk_block_q8_K *yb, const kss_consts *c) {
    const __m512i u0 = _mm512_loadu_si512((const void *)p), u1 = _mm512_loadu_si512((const void *)(p + 64));
    /* bit 0 of word k of a sub-block is bit k of its scale byte: a 16-bit
     * test-to-mask yields the 8 scale bytes in order */
    const __m512i one = _mm512_set1_epi16(1);
    const uint64_t m = (uint64_t)_mm512_test_epi16_mask(u0, one) | ((uint64_t)_mm512_test_epi16_mask(u1, one) << 32);
    const __m128i sb = _mm_cvtsi64_si128((long long)m);
    /* S = (sbyte & 0xFE) - 127 fits int8; replicate S_b over the 4 int32 of lane b */
    const __m128i S = _mm_sub_epi8(_mm_and_si128(sb, _mm_set1_epi8((char)0xFE)), _mm_set1_epi8(127));
    const __m128i rep = _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i S0 = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(S, rep));
    const __m512i S1 = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(S, _mm_add_epi8(rep, _mm_set1_epi8(4))));
    const __m512i acc = _mm512_add_epi32(kss_quad(u0, yb->qs, S0, c), kss_quad(u1, yb->qs + 128, S1, c));
    /* bias and shifted grid per sub-block: S·(4·shift - 128)·Σy, as int16 pairs against bsums */
    const __m128i sbw = _mm_cvtepu8_epi16(sb);
    const __m128i S16 = _mm_sub_epi16(_mm_and_si128(sbw, _mm_set1_epi16(0xFE)), _mm_set1_epi16(127));
    const __m128i c8 = _mm_mullo_epi16(S16, _mm_sub_epi16(_mm_slli_epi16(_mm_and_si128(sbw, _mm_set1_epi16(1)), 2),
                                                          _mm_set1_epi16(128)));
    const __m256i cw = _mm256_mullo_epi32(_mm256_cvtepu16_epi32(c8), _mm256_set1_epi32(0x10001));
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)yb->bsums), cw);
    return _mm256_add_epi32(_mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1)), corr);
}

void qtk_iq4_kss_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    kss_consts c;
    c.table = iq4_table_u8();
    c.m4 = _mm512_set1_epi8(0x0F);
    c.mfe = _mm512_set1_epi16((short)0xFFFE);
    const int64_t nb = n / QK_K;
    float sumf = 0.0f;
    int64_t ibl = 0;
    /* four super-blocks at a time share one horizontal reduction; the float
     * products and sums stay in the scalar kernel's order */
    for (; ibl + 3 < nb; ibl += 4, p += 512) {
        const __m256i h01 = _mm256_hadd_epi32(kss_block(p, &y[ibl], &c), kss_block(p + 128, &y[ibl + 1], &c));
        const __m256i h23 = _mm256_hadd_epi32(kss_block(p + 256, &y[ibl + 2], &c), kss_block(p + 384, &y[ibl + 3], &c));
        const __m256i h = _mm256_hadd_epi32(h01, h23);
        const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        const __m128 pr = _mm_mul_ps(_mm_cvtepi32_ps(s4), _mm_setr_ps(y[ibl].d, y[ibl + 1].d, y[ibl + 2].d, y[ibl + 3].d));
        float f[4];
        _mm_storeu_ps(f, pr);
        sumf += f[0];
        sumf += f[1];
        sumf += f[2];
        sumf += f[3];
    }
    for (; ibl < nb; ibl++, p += 128) {
        const __m256i r = kss_block(p, &y[ibl], &c);
        __m128i r4 = _mm_add_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        r4 = _mm_add_epi32(r4, _mm_shuffle_epi32(r4, 0x4E));
        r4 = _mm_add_epi32(r4, _mm_shuffle_epi32(r4, 0xB1));
        sumf += y[ibl].d * (float)_mm_cvtsi128_si32(r4);
    }
    *s = d * sumf;
}

/* ---- IQ5_KS, IQ3_KS, IQ2_KS: two sub-blocks per 512-bit vector --------------- */

/* Sa·Σ va·y + Sb·Σ vb·y for two consecutive sub-blocks (64 activations). */
static inline __m512i dot64(__m256i va, __m256i vb, const int8_t *yq, int Sa, int Sb) {
    const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(va), vb, 1);
    const __m512i yv = _mm512_loadu_si512((const void *)yq);
    const __m512i ys = _mm512_mask_sub_epi8(yv, _mm512_movepi8_mask(v), _mm512_setzero_si512(), yv);
    const __m512i sc = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)Sa)),
                                          _mm256_set1_epi16((short)Sb), 1);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(v), ys), sc);
}

void qtk_iq5_ks_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    float d;
    memcpy(&d, p, 4);
    p += 4;
    __m256i tab[2][2];
    for (int g = 0; g < 2; g++)
        for (int h = 0; h < 2; h++)
            tab[g][h] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qtk_iq5nl_values + 32 * g + 16 * h)));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 168) {
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 136));
        __m512i acc = _mm512_setzero_si512();
        for (int ib = 0; ib < 8; ib += 2) {
            /* one 32-byte chunk: low nibbles = sub-block ib, high = ib+1; the 5th
             * bit selects the upper 16 grid values (mask from qh bit ib / ib+1) */
            const __m256i chunk = _mm256_loadu_si256((const __m256i *)(p + 8 + 16 * ib));
            const __m256i i0 = _mm256_and_si256(chunk, m4), i1 = _mm256_and_si256(_mm256_srli_epi16(chunk, 4), m4);
            const int s0 = p[ib], s1 = p[ib + 1];
            const __mmask32 h0 = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << ib)));
            const __mmask32 h1 = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (ib + 1))));
            const __m256i v0 = _mm256_mask_shuffle_epi8(_mm256_shuffle_epi8(tab[s0 & 1][0], i0), h0, tab[s0 & 1][1], i0);
            const __m256i v1 = _mm256_mask_shuffle_epi8(_mm256_shuffle_epi8(tab[s1 & 1][0], i1), h1, tab[s1 & 1][1], i1);
            acc = _mm512_add_epi32(acc, dot64(v0, v1, y[ibl].qs + 32 * ib, (s0 & 0xFE) - 127, (s1 & 0xFE) - 127));
        }
        sumf += y[ibl].d * (float)_mm512_reduce_add_epi32(acc);
    }
    *s = d * sumf;
}

/* Grid values of sub-block ib of an IQ3_KS block (16-entry table: base | shifted). */
static inline __m256i iq3_vals(const uint8_t *b, __m256i qh, int ib, uint16_t extra, __m256i tab) {
    const __m256i chunk = _mm256_loadu_si256((const __m256i *)(b + 6 + 32 * (ib / 4)));
    __m256i idx = _mm256_and_si256(_mm256_srl_epi16(chunk, _mm_cvtsi32_si128(2 * (ib % 4))), _mm256_set1_epi8(3));
    idx = _mm256_mask_add_epi8(idx, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << ib))), idx,
                              _mm256_set1_epi8(4));
    if ((extra >> (8 + ib)) & 1) idx = _mm256_or_si256(idx, _mm256_set1_epi8(8));
    return _mm256_shuffle_epi8(tab, idx);
}

void qtk_iq3_ks_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint16_t dh;
    memcpy(&dh, p, 2);
    const float d = qtk_fp16_to_fp32(dh);
    p += 2;
    const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qtk_iq3nl_values));
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 102) {
        uint16_t extra;
        memcpy(&extra, p, 2);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 70));
        __m512i acc = _mm512_setzero_si512();
        for (int ib = 0; ib < 8; ib += 2) {
            const int l0 = ((p[2 + ib % 4] >> (4 * (ib / 4))) & 0xF) | (((extra >> ib) & 1) << 4);
            const int l1 = ((p[2 + (ib + 1) % 4] >> (4 * ((ib + 1) / 4))) & 0xF) | (((extra >> (ib + 1)) & 1) << 4);
            acc = _mm512_add_epi32(acc, dot64(iq3_vals(p, qh, ib, extra, tab), iq3_vals(p, qh, ib + 1, extra, tab),
                                              y[ibl].qs + 32 * ib, l0 - 16, l1 - 16));
        }
        sumf += y[ibl].d * (float)_mm512_reduce_add_epi32(acc);
    }
    *s = d * sumf;
}

/* Grid values of sub-block ib of an IQ2_KS block (table: base | shifted). */
static inline __m256i iq2_vals(const uint8_t *b, int ib, uint16_t extra, __m256i tab) {
    const __m256i chunk = _mm256_loadu_si256((const __m256i *)(b + 6 + 32 * (ib / 4)));
    __m256i idx = _mm256_and_si256(_mm256_srl_epi16(chunk, _mm_cvtsi32_si128(2 * (ib % 4))), _mm256_set1_epi8(3));
    if ((extra >> ib) & 1) idx = _mm256_or_si256(idx, _mm256_set1_epi8(4));
    return _mm256_shuffle_epi8(tab, idx);
}

void qtk_iq2_ks_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint16_t dh;
    memcpy(&dh, p, 2);
    const float d = qtk_fp16_to_fp32(dh);
    p += 2;
    int8_t t16[16] = {0};
    memcpy(t16, qtk_iq2nl_values, 8);
    const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t16));
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 70) {
        uint16_t extra;
        memcpy(&extra, p, 2);
        __m512i acc = _mm512_setzero_si512();
        for (int ib = 0; ib < 8; ib += 2) {
            const int l0 = ((p[2 + ib / 2] >> 0) & 0xF) | (((extra >> (8 + ib)) & 1) << 4);
            const int l1 = ((p[2 + ib / 2] >> 4) & 0xF) | (((extra >> (9 + ib)) & 1) << 4);
            acc = _mm512_add_epi32(acc, dot64(iq2_vals(p, ib, extra, tab), iq2_vals(p, ib + 1, extra, tab),
                                              y[ibl].qs + 32 * ib, l0 - 16, l1 - 16));
        }
        sumf += y[ibl].d * (float)_mm512_reduce_add_epi32(acc);
    }
    *s = d * sumf;
}

/* ---- IQ2_KL: 5-bit pair indices into the 32-point 2-D grid ------------------- */

void qtk_iq2_kl_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint16_t dh;
    memcpy(&dh, p, 2);
    const float d = qtk_fp16_to_fp32(dh);
    p += 2;
    int8_t c[2][32];
    for (int k = 0; k < 32; k++) c[0][k] = qtk_iq2kl_grid[k][0], c[1][k] = qtk_iq2kl_grid[k][1];
    const __m256i t0l = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)c[0]));
    const __m256i t0h = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(c[0] + 16)));
    const __m256i t1l = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)c[1]));
    const __m256i t1h = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(c[1] + 16)));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 86) {
        uint16_t sh;
        memcpy(&sh, p, 2);
        const __m256i qh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p + 70)));
        __m512i acc = _mm512_setzero_si512();
        for (int ib = 0; ib < 8; ib += 2) {
            const __m128i q = _mm_loadu_si128((const __m128i *)(p + 6 + 8 * ib));
            const __m256i idx = _mm256_and_si256(
                _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1), m4);
            const __m256i hb = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi8((char)(1 << ib))),
                                                       _mm_set1_epi8((char)(2 << ib)), 1);
            const __mmask32 hi = _mm256_test_epi8_mask(qh, hb);
            const __m256i g0 = _mm256_mask_shuffle_epi8(_mm256_shuffle_epi8(t0l, idx), hi, t0h, idx);
            const __m256i g1 = _mm256_mask_shuffle_epi8(_mm256_shuffle_epi8(t1l, idx), hi, t1h, idx);
            const __m256i lo8 = _mm256_unpacklo_epi8(g0, g1), hi8 = _mm256_unpackhi_epi8(g0, g1);
            const int l0 = ((p[2 + ib % 4] >> (4 * (ib / 4))) & 0xF) | (((sh >> (2 * ib)) & 3) << 4);
            const int l1 = ((p[2 + (ib + 1) % 4] >> (4 * ((ib + 1) / 4))) & 0xF) | (((sh >> (2 * ib + 2)) & 3) << 4);
            acc = _mm512_add_epi32(acc, dot64(_mm256_permute2x128_si256(lo8, hi8, 0x20),
                                              _mm256_permute2x128_si256(lo8, hi8, 0x31), y[ibl].qs + 32 * ib,
                                              l0 - 32, l1 - 32));
        }
        sumf += y[ibl].d * (float)_mm512_reduce_add_epi32(acc);
    }
    *s = d * sumf;
}

/* ---- multi-column kernel of IQ4_KSS (the mul_mat contract of qtk.h) ----------
 * kss_block split in two: the weight side (decoding, table look-ups, scales,
 * the bias weights) once per super-block, the activation side per column.
 * The integer sum per super-block is exact either way, and the float side
 * repeats vec_dot's operations in its order (sumf += d_y·Σ per super-block,
 * then d·sumf), so outputs are bit-identical to vec_dot. */
typedef struct kss_unpacked {
    __m512i tlo[2], thi[2];   /* table values + 128 of weights 0..15 / 16..31, per quad */
    __m512i S[2];             /* sub-block scales replicated per lane */
    __m256i cw;               /* bias/shift weights against bsums     */
} kss_unpacked;

static inline void kss_unpack(const uint8_t *p, const kss_consts *c, kss_unpacked *u) {
    const __m512i u0 = _mm512_loadu_si512((const void *)p), u1 = _mm512_loadu_si512((const void *)(p + 64));
    const __m512i one = _mm512_set1_epi16(1);
    const uint64_t m = (uint64_t)_mm512_test_epi16_mask(u0, one) | ((uint64_t)_mm512_test_epi16_mask(u1, one) << 32);
    const __m128i sb = _mm_cvtsi64_si128((long long)m);
    const __m128i S = _mm_sub_epi8(_mm_and_si128(sb, _mm_set1_epi8((char)0xFE)), _mm_set1_epi8(127));
    const __m128i rep = _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    u->S[0] = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(S, rep));
    u->S[1] = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(S, _mm_add_epi8(rep, _mm_set1_epi8(4))));
    const __m512i uu[2] = {u0, u1};
    for (int q = 0; q < 2; q++) {
        const __m512i v = _mm512_ternarylogic_epi32(uu[q], _mm512_srli_epi16(uu[q], 1), c->mfe, 0x6C);
        u->tlo[q] = _mm512_shuffle_epi8(c->table, _mm512_and_si512(v, c->m4));
        u->thi[q] = _mm512_shuffle_epi8(c->table, _mm512_and_si512(_mm512_srli_epi16(v, 4), c->m4));
    }
    const __m128i sbw = _mm_cvtepu8_epi16(sb);
    const __m128i S16 = _mm_sub_epi16(_mm_and_si128(sbw, _mm_set1_epi16(0xFE)), _mm_set1_epi16(127));
    const __m128i c8 = _mm_mullo_epi16(S16, _mm_sub_epi16(_mm_slli_epi16(_mm_and_si128(sbw, _mm_set1_epi16(1)), 2),
                                                          _mm_set1_epi16(128)));
    u->cw = _mm256_mullo_epi32(_mm256_cvtepu16_epi32(c8), _mm256_set1_epi32(0x10001));
}

/* The activation registers of one Q8_K block in kss_quad's order: lane b of ya[2q] =
 * weights 0..15 of sub-block b of quad q, of ya[2q + 1] = weights 16..31. */
QTK_FORCE_INLINE void kss_act(const qtk_block_q8_K *yb, __m512i ya[4]) {
    for (int q = 0; q < 2; q++) {
        const int8_t *yq = yb->qs + 128 * q;
        const __m512i y0 = _mm512_loadu_si512((const void *)yq), y1 = _mm512_loadu_si512((const void *)(yq + 64));
        ya[2 * q] = _mm512_shuffle_i64x2(y0, y1, 0x88);
        ya[2 * q + 1] = _mm512_shuffle_i64x2(y0, y1, 0xDD);
    }
}

/* The exact integer Σ of one super-block against one Q8_K block, spread over 8 lanes
 * (as kss_block). */
QTK_FORCE_INLINE __m256i kss_mul(const kss_unpacked *u, const __m512i ya[4], const qtk_block_q8_K *yb) {
    __m512i acc = _mm512_setzero_si512();
    for (int q = 0; q < 2; q++) {
        __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u->tlo[q], ya[2 * q]);
        d = _mm512_dpbusd_epi32(d, u->thi[q], ya[2 * q + 1]);
        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(d, u->S[q]));
    }
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)yb->bsums), u->cw);
    return _mm256_add_epi32(_mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1)), corr);
}

/* Σ of the 8 lanes of r. */
static inline int32_t kss_hsum(__m256i r) {
    __m128i r4 = _mm_add_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    r4 = _mm_add_epi32(r4, _mm_shuffle_epi32(r4, 0x4E));
    r4 = _mm_add_epi32(r4, _mm_shuffle_epi32(r4, 0xB1));
    return _mm_cvtsi128_si32(r4);
}

/* A tile of one row × C columns. Four super-blocks at a time share one horizontal
 * reduction per column, as in vec_dot; the float side repeats vec_dot's operations in
 * its order. With several rows per call, the permuted activation registers of
 * each column (kss_act) come from a stack table made once per call (KSS_MAX_SB
 * super-blocks at most) instead of once per row. */
#define KSS_MAX_SB 32
QTK_FORCE_INLINE void iq4_kss_tile(const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as, float *out,
                                   size_t os, const kss_consts *c, const __m512i *tab) {
    float d;
    memcpy(&d, w, 4);
    const uint8_t *p = w + 4;
    float sumf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int64_t ibl = 0;
    for (; ibl + 3 < nb; ibl += 4, p += 512) {
        __m256i r[4][4];
        for (int j = 0; j < 4; j++) {
            kss_unpacked u;
            kss_unpack(p + 128 * j, c, &u);
            for (int k = 0; k < C; k++) {
                const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + ibl + j;
                __m512i ya[4];
                if (tab) {
                    for (int q = 0; q < 4; q++) ya[q] = tab[((size_t)k * KSS_MAX_SB + (size_t)(ibl + j)) * 4 + q];
                } else {
                    kss_act(y, ya);
                }
                r[k][j] = kss_mul(&u, ya, y);
            }
        }
        for (int k = 0; k < C; k++) {
            const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + ibl;
            const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(r[k][0], r[k][1]), _mm256_hadd_epi32(r[k][2], r[k][3]));
            const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            const __m128 pr = _mm_mul_ps(_mm_cvtepi32_ps(s4), _mm_setr_ps(y[0].d, y[1].d, y[2].d, y[3].d));
            float f[4];
            _mm_storeu_ps(f, pr);
            sumf[k] += f[0];
            sumf[k] += f[1];
            sumf[k] += f[2];
            sumf[k] += f[3];
        }
    }
    for (; ibl < nb; ibl++, p += 128) {
        kss_unpacked u;
        kss_unpack(p, c, &u);
        for (int k = 0; k < C; k++) {
            const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + ibl;
            __m512i ya[4];
            if (tab) {
                for (int q = 0; q < 4; q++) ya[q] = tab[((size_t)k * KSS_MAX_SB + (size_t)ibl) * 4 + q];
            } else {
                kss_act(y, ya);
            }
            sumf[k] += y->d * (float)kss_hsum(kss_mul(&u, ya, y));
        }
    }
    for (int k = 0; k < C; k++) out[(size_t)k * os] = d * sumf[k];
}

void qtk_iq4_kss_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                                int64_t nr, int64_t nc) {
    kss_consts c;
    c.table = iq4_table_u8();
    c.m4 = _mm512_set1_epi8(0x0F);
    c.mfe = _mm512_set1_epi16((short)0xFFFE);
    const int64_t nb = n / QK_K;
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;
    __m512i tab[4 * KSS_MAX_SB * 4];
    for (int64_t k = 0; k < nc;) {
        const int C = nc - k >= 4 ? 4 : nc - k >= 2 ? 2 : 1;
        const uint8_t *ak = ab + (size_t)k * as;
        const __m512i *tp = NULL;
        if (nr > 1 && nb <= KSS_MAX_SB) {
            for (int kk = 0; kk < C; kk++)
                for (int64_t i = 0; i < nb; i++)
                    kss_act((const qtk_block_q8_K *)(const void *)(ak + (size_t)kk * as) + i,
                            &tab[((size_t)kk * KSS_MAX_SB + (size_t)i) * 4]);
            tp = tab;
        }
        for (int64_t r = 0; r < nr; r++) {
            const uint8_t *wr = wb + (size_t)r * ws;
            float *o = out + (size_t)k * os + (size_t)r;
            if (C == 4) iq4_kss_tile(4, nb, wr, ak, as, o, os, &c, tp);
            else if (C == 2) iq4_kss_tile(2, nb, wr, ak, as, o, os, &c, tp);
            else iq4_kss_tile(1, nb, wr, ak, as, o, os, &c, tp);
        }
        k += C;
    }
}
