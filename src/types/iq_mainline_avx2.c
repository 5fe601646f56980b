/*
 * iq_mainline_avx2.c — AVX2 dot products (× Q8_K) of IQ2_XXS, IQ2_XS, IQ2_S,
 * IQ3_XXS, IQ3_S, IQ1_S, IQ1_M. Each 32 weights: the grid entries (unsigned
 * magnitudes) loaded by index straight into one register, the signs put on y
 * (vpsignb), maddubs (|pair| ≤ 2·62·127, no saturation) and madd with the
 * two 16-group multipliers: the exact integer sum S of the scalar kernel,
 * scaled in double by the same expression (iqm_acc). These word kernels built
 * the signed octet words of iq_mainline.h in general registers before
 * (64-bit SWAR, then _mm256_set_epi64x, abs and sign): 1.3–4× slower on Zen 4.
 *
 * IQ1_S/IQ1_M's word kernels load qwords of the unsigned 8·(g + 1) (the offset from
 * the Q8_K bsums) with the rest of a super-block's work in vector registers: 1.7× (IQ1_S)
 * and 2.4× (IQ1_M) Zen 4's gathers.
 *
 * Every type also has a gather kernel: per 32 weights one vpgatherdq (or
 * vpgatherdd) of the grid entries, the indices' high bits by variable shifts;
 * the signs (ksigns masks by a second gather, or sign bits spread by a byte
 * shuffle) applied to y by vpsignb (IQ1: q = 8·g + δ formed in the register),
 * instead of four scalar words and their insertion into a register (~40
 * instructions). Same integer sums, same bits. Gathers are fast on
 * recent Intel cores (here 1.1 ns for 4 qwords from L1) and slow on others
 * (AMD Zen 4, session 16), so each type times both kernels at first use
 * (calibrate) and keeps the gathers only when they win by 5 % in 3 of 3
 * alternated trials.
 */
#include "iq_mainline.h"
#include "simd_x86.h"
#include "../core/threadpool.h"

#include <immintrin.h>

static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* acc + the 32 products q·y (q signed, |q| ≤ 62: maddubs pairs below 2^15) times the
 * multiplier(s) m (int16 lanes). */
static inline __m256i mul_add_signed(__m256i acc, __m256i q, const int8_t *q8, __m256i m) {
    const __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)q8);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(y, q)), m));
}

/* Σ over the 32 weights of q·y times the multiplier(s) m (int16 lanes), added to acc. */
static inline __m256i mul_add(__m256i acc, __m256i grid, __m256i ys, __m256i m) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(grid, ys), m));
}

/* y with the signs of the 32 weights applied: mask bytes 0xFF (negative) or 0x00. */
static inline __m256i signed_y(const int8_t *q8, __m256i mask) {
    return _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(const void *)q8),
                            _mm256_or_si256(mask, _mm256_set1_epi8(1)));
}

/* Mask bytes 0xFF / 0x00 of the 32 sign bits in the 4 bytes at p (bit j of byte k: weight 8k + j). */
static inline __m256i sign_bits32(const uint8_t *p) {
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                                            3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)iqm_u32(p)), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* The two 16-group multipliers of 32-group ib as int16 lanes (low / high 128 bits). */
#define MUL_PAIR(MUL16, b, ib) \
    _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)MUL16(b, 2 * (ib)))), \
                            _mm_set1_epi16((short)MUL16(b, 2 * (ib) + 1)), 1)

/* Qwords n0, n1 of table T, loaded into the vector register (no general-register detour). */
static inline __m128i qword_pair(const uint64_t *T, unsigned n0, unsigned n1) {
    return _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(_mm_loadl_epi64((const __m128i *)(const void *)(T + n0))),
                                         (const double *)(const void *)(T + n1)));
}
/* Qwords n0 .. n3 of T as one register. */
static inline __m256i qwords4(const uint64_t *T, unsigned n0, unsigned n1, unsigned n2, unsigned n3) {
    return _mm256_set_m128i(qword_pair(T, n2, n3), qword_pair(T, n0, n1));
}
/* Dwords n0 .. n3 of T, loaded into the vector register one by one. */
static inline __m128i dwords4(const uint32_t *T, unsigned n0, unsigned n1, unsigned n2, unsigned n3) {
    __m128i w = _mm_cvtsi32_si128((int)T[n0]);
    w = _mm_insert_epi32(w, (int)T[n1], 1);
    w = _mm_insert_epi32(w, (int)T[n2], 2);
    return _mm_insert_epi32(w, (int)T[n3], 3);
}

/* The 32-group multipliers 2·nibble + 1 of the 4 scale bytes at p (IQ3_S; group 2k: byte k's
 * low nibble) as int16 words 0-7 in both 128-bit lanes: one vpshufb (qtk_word_ctl) per 32 weights
 * then gives group ib's, +11 % over the scalar extraction. (The same for IQ2_XS/IQ2_S's 16
 * per-16 multipliers, from two broadcast halves, ran 7-10 % slower than their scalar pairs.) */
static inline __m256i mul32_words(const uint8_t *p) {
    const __m128i v = _mm_cvtsi32_si128((int)iqm_u32(p)), m4 = _mm_set1_epi8(15);
    const __m128i n = _mm_unpacklo_epi8(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    const __m128i w = _mm_add_epi16(_mm_slli_epi16(_mm_cvtepu8_epi16(n), 1), _mm_set1_epi16(1));
    return _mm256_broadcastsi128_si256(w);
}

/* ---- word kernels: the grid entries (unsigned magnitudes) and the sign masks loaded
 * straight into vector registers by index, the signs put on y (vpsignb), maddubs of the
 * magnitudes against it. The octet words of iq_mainline.h instead built each 8 weights'
 * signed bytes in a general register (4 operations for the signs) and moved them over
 * (_mm256_set_epi64x), then took abs and sign again: ~45 instructions per 32 weights. */

/* IQ2_XXS: per 32 weights 4 index bytes, then 4 × 7 sign-field bits and the multiplier. */
static inline int iq2_xxs_sum_words(const uint8_t *b, const qtk_block_q8_K *yb) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *r = b + 2 + 8 * ib;
        const uint32_t a = iqm_u32(r + 4);
        const __m256i g = qwords4(qtk_iq2xxs_grid, r[0], r[1], r[2], r[3]);
        const __m256i sg = qwords4(qtk_iq2_signs64, a & 127, (a >> 7) & 127, (a >> 14) & 127, (a >> 21) & 127);
        acc = mul_add(acc, g, signed_y(yb->qs + 32 * ib, sg), _mm256_set1_epi16((short)(2 * (a >> 28) + 1)));
    }
    return hsum_i32(acc);
}

/* IQ2_XS: 4 words of grid index (9 bits) and sign field (7 bits) per 32 weights. */
static inline int iq2_xs_sum_words(const uint8_t *b, const qtk_block_q8_K *yb) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *r = b + 2 + 8 * ib;
        const unsigned w0 = iqm_u16(r), w1 = iqm_u16(r + 2), w2 = iqm_u16(r + 4), w3 = iqm_u16(r + 6);
        const __m256i g = qwords4(qtk_iq2xs_grid, w0 & 511, w1 & 511, w2 & 511, w3 & 511);
        const __m256i sg = qwords4(qtk_iq2_signs64, w0 >> 9, w1 >> 9, w2 >> 9, w3 >> 9);
        acc = mul_add(acc, g, signed_y(yb->qs + 32 * ib, sg), MUL_PAIR(iq2xs_mul16, b, ib));
    }
    return hsum_i32(acc);
}

/* IQ2_S: low index bytes, 2 high bits each per qh byte, 32 sign bits per 32 weights. */
static inline int iq2_s_sum_words(const uint8_t *b, const qtk_block_q8_K *yb) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *q = b + 2 + 4 * ib;
        const unsigned qh = b[66 + ib];
        const __m256i g = qwords4(qtk_iq2s_grid, q[0] | ((qh << 8) & 0x300), q[1] | ((qh << 6) & 0x300),
                                  q[2] | ((qh << 4) & 0x300), q[3] | ((qh << 2) & 0x300));
        acc = mul_add(acc, g, signed_y(yb->qs + 32 * ib, sign_bits32(b + 34 + 4 * ib)), MUL_PAIR(iq2s_mul16, b, ib));
    }
    return hsum_i32(acc);
}

/* IQ3_XXS: 8 index bytes (4-weight entries) per 32 weights; sign fields and multiplier as IQ2_XXS. */
static inline int iq3_xxs_sum_words(const uint8_t *b, const qtk_block_q8_K *yb) {
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *q = b + 2 + 8 * ib;
        const uint32_t a = iqm_u32(b + 66 + 4 * ib);
        const uint32_t *T = qtk_iq3xxs_grid;
        const __m256i g = _mm256_set_m128i(dwords4(T, q[4], q[5], q[6], q[7]), dwords4(T, q[0], q[1], q[2], q[3]));
        const __m256i sg = qwords4(qtk_iq2_signs64, a & 127, (a >> 7) & 127, (a >> 14) & 127, (a >> 21) & 127);
        acc = mul_add(acc, g, signed_y(yb->qs + 32 * ib, sg), _mm256_set1_epi16((short)(2 * (a >> 28) + 1)));
    }
    return hsum_i32(acc);
}

/* IQ3_S: 8 low index bytes, their 9th bits in one qh byte, 32 sign bits per 32 weights. */
static inline int iq3_s_sum_words(const uint8_t *b, const qtk_block_q8_K *yb) {
    __m256i acc = _mm256_setzero_si256();
    const __m256i mul = mul32_words(b + 106);
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *q = b + 2 + 8 * ib;
        const unsigned qh = b[66 + ib];
        const uint32_t *T = qtk_iq3s_grid;
        const __m256i g = _mm256_set_m128i(
            dwords4(T, q[4] | ((qh << 4) & 256), q[5] | ((qh << 3) & 256), q[6] | ((qh << 2) & 256), q[7] | ((qh << 1) & 256)),
            dwords4(T, q[0] | ((qh << 8) & 256), q[1] | ((qh << 7) & 256), q[2] | ((qh << 6) & 256), q[3] | ((qh << 5) & 256)));
        acc = mul_add(acc, g, signed_y(yb->qs + 32 * ib, sign_bits32(b + 74 + 4 * ib)), _mm256_shuffle_epi8(mul, qtk_word_ctl(ib, ib)));
    }
    return hsum_i32(acc);
}

/* IQ1 without the octet words: the grid qwords of 8·(g + 1) (qtk_iq1_values_x8, set by
 * calibrate) loaded straight into the register, maddubs of these unsigned values (≤ 18:
 * no abs/sign step, pairs ≤ 2·18·128), the multipliers by madd, and the offset of
 * q = 8g + δ from the Q8_K bsums (Σ y per 16): per 32-group of IQ1_S Σ q·y = Σ u·y +
 * (δ − 8)·Σ y; IQ1_M (δ per octet) takes u' = u + δ + 1 = q + 9 and −9·Σ y.
 * Everything but the 32 grid loads is done for the whole super-block in vector registers:
 * the 11-bit indices (moved to general registers two at a time), the multipliers as
 * int16 words (one vpshufb per 32 weights picks a group's), IQ1_M's δ bytes, and the
 * offset as one vpmaddwd with the bsums. Per 32 weights these were ~20 scalar
 * operations (index bits, multipliers, offset) and two broadcasts from general
 * registers: IQ1_S 1.6 → 3.5 GB/s, IQ1_M 1.6 → 3.6 GB/s on one Zen 4 core (16 super-blocks
 * × 256 rows, in cache). */
static const uint64_t *g_iq1_x8;

/* The grid qwords of the 4 indices in v as one register (the indices taken out by two
 * 64-bit moves: stored to the stack and loaded back one by one, the loads wait for the
 * store, 15 % slower). */
static inline __m256i iq1_u4(__m128i v) {
    const uint64_t a = (uint64_t)_mm_cvtsi128_si64(v), b = (uint64_t)_mm_extract_epi64(v, 1);
    return _mm256_set_m128i(qword_pair(g_iq1_x8, (uint32_t)b, (uint32_t)(b >> 32)), qword_pair(g_iq1_x8, (uint32_t)a, (uint32_t)(a >> 32)));
}

static inline int iq1_s_sum_words(const uint8_t *b, const qtk_block_q8_K *yb) {
    __m256i iv[4];
    /* qh: per 32-group a u16 of 4 × 3 high index bits, the 3-bit scale, the δ sign (bit 15) */
    const __m256i hh = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(b + 34)));
    const __m256i h8 = _mm256_slli_epi32(hh, 8), hsh = _mm256_setr_epi32(0, 3, 6, 9, 0, 3, 6, 9);
    for (int g = 0; g < 4; g++) { /* octets 8g..8g+7 = groups 2g, 2g + 1 */
        const __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + 8 * g)));
        const __m256i hg = _mm256_permutevar8x32_epi32(h8, _mm256_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1,
                                                                             2 * g + 1, 2 * g + 1, 2 * g + 1));
        const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(hg, hsh), _mm256_set1_epi32(0x700));
        iv[g] = _mm256_or_si256(lo, hi);
    }
    /* multiplier m = 2·scale + 1 and offset coefficient −m·(7 + 2·[δ < 0]) per group */
    const __m256i m32 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(hh, 11), _mm256_set1_epi32(14)),
                                        _mm256_set1_epi32(1));
    const __m256i k32 = _mm256_add_epi32(_mm256_set1_epi32(7), _mm256_and_si256(_mm256_srli_epi32(hh, 14), _mm256_set1_epi32(2)));
    const __m256i gsum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums), _mm256_set1_epi16(1));
    __m256i acc = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_mullo_epi32(_mm256_mullo_epi32(m32, k32), gsum));
    /* the 8 multipliers as words 0..7 of both lanes */
    const __m128i m16 = _mm_packs_epi32(_mm256_castsi256_si128(m32), _mm256_extracti128_si256(m32, 1));
    const __m256i mw = _mm256_broadcastsi128_si256(m16);
    for (int ib = 0; ib < 8; ib++) {
        const __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)(yb->qs + 32 * ib));
        const __m128i i4 = (ib & 1) ? _mm256_extracti128_si256(iv[ib / 2], 1) : _mm256_castsi256_si128(iv[ib / 2]);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(iq1_u4(i4), y),
                                                      _mm256_shuffle_epi8(mw, qtk_word_ctl(ib, ib))));
    }
    return hsum_i32(acc);
}

static inline int iq1_m_sum_words(const uint8_t *b, const qtk_block_q8_K *yb) {
    __m256i iv[4];
    const __m256i nsh = _mm256_setr_epi32(8, 4, 0, 0, 8, 4, 0, 0); /* see below */
    for (int g = 0; g < 4; g++) { /* octets 8g..8g+7: nibbles of qh bytes 4g..4g+3 */
        const __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(b + 8 * g)));
        const __m256i q = _mm256_set1_epi32((int)iqm_u32(b + 32 + 4 * g));
        /* nibble k at bits 4k: its 3 index bits to bits 8..10 (left by 8 − 4k, or right by 4k − 8) */
        const __m256i l = _mm256_sllv_epi32(q, nsh);
        const __m256i r = _mm256_srlv_epi32(q, _mm256_setr_epi32(0, 0, 0, 4, 8, 12, 16, 20));
        const __m256i hi = _mm256_and_si256(_mm256_blend_epi32(r, l, 0x07), _mm256_set1_epi32(0x700));
        iv[g] = _mm256_or_si256(lo, hi);
    }
    /* δ: byte k of dl / dh = 2 where octet k (dh: 16 + k) has δ = +1 (nibble bit 3 clear), 0 else */
    const __m128i qh = _mm_loadu_si128((const __m128i *)(const void *)(b + 32));
    const __m128i eight = _mm_set1_epi8(8);
    const __m128i nl = _mm_unpacklo_epi8(qh, _mm_srli_epi16(qh, 4)), nh = _mm_unpackhi_epi8(qh, _mm_srli_epi16(qh, 4));
    const __m256i dl = _mm256_broadcastsi128_si256(_mm_srli_epi16(_mm_andnot_si128(nl, eight), 2));
    const __m256i dh = _mm256_broadcastsi128_si256(_mm_srli_epi16(_mm_andnot_si128(nh, eight), 2));
    /* the 16 multipliers 2·scale + 1: scale B = bits 3(B % 4) of u16 B / 4 at b + 48 */
    const __m256i sw = _mm256_cvtepu16_epi32(_mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(const void *)(b + 48)),
                                                              _mm_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3)));
    const __m256i sw2 = _mm256_cvtepu16_epi32(_mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(const void *)(b + 48)),
                                                               _mm_setr_epi8(4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7)));
    const __m256i ssh = _mm256_setr_epi32(0, 3, 6, 9, 0, 3, 6, 9), seven = _mm256_set1_epi32(7);
    const __m256i s0 = _mm256_and_si256(_mm256_srlv_epi32(sw, ssh), seven), s1 = _mm256_and_si256(_mm256_srlv_epi32(sw2, ssh), seven);
    /* packs per lane: [s0 0..3, s1 0..3 | s0 4..7, s1 4..7] → qword order 0, 2, 1, 3 */
    const __m256i sc = _mm256_permute4x64_epi64(_mm256_packs_epi32(s0, s1), 0xD8);
    const __m256i m16 = _mm256_or_si256(_mm256_slli_epi16(sc, 1), _mm256_set1_epi16(1));
    const __m256i ml = _mm256_permute2x128_si256(m16, m16, 0x00), mh = _mm256_permute2x128_si256(m16, m16, 0x11);
    /* −9·Σ m·Σy over the 16-groups */
    const __m256i o = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)(const void *)yb->bsums));
    __m256i acc = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_add_epi32(_mm256_slli_epi32(o, 3), o));
    /* octet j / 8 of the group (byte 4·(ib % 4) + j / 8 of dl or dh) to its 8 bytes j */
    const __m256i spread0 = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                                             3, 3, 3, 3, 3, 3);
    for (int half = 0; half < 2; half++) {
        const __m256i D = half ? dh : dl, M = half ? mh : ml;
        for (int j = 0; j < 4; j++) {
            const int ib = 4 * half + j;
            const __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)(yb->qs + 32 * ib));
            const __m256i spread = _mm256_add_epi8(spread0, _mm256_set1_epi8((char)(4 * j)));
            const __m128i i4 = (j & 1) ? _mm256_extracti128_si256(iv[ib / 2], 1) : _mm256_castsi256_si128(iv[ib / 2]);
            const __m256i up = _mm256_add_epi8(iq1_u4(i4), _mm256_shuffle_epi8(D, spread));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(up, y), _mm256_shuffle_epi8(M, qtk_word_ctl(2 * j, 2 * j + 1))));
        }
    }
    return hsum_i32(acc);
}

/* ---- gather kernels ---- */


/* The 4 ksigns masks of the 7-bit fields at bits 0, 7, 14, 21 of a. */
static inline __m256i ksigns4(uint32_t a) {
    const __m128i f = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)a), _mm_setr_epi32(0, 7, 14, 21)),
                                    _mm_set1_epi32(127));
    return _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq2_signs64, f, 8);
}


static inline int iq2_xxs_sum_gather(const uint8_t *b, const qtk_block_q8_K *yb) {
    const int8_t *q8 = yb->qs;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const uint8_t *r = b + 2 + 8 * ib;
        const uint32_t a = iqm_u32(r + 4);
        const __m128i idx = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)iqm_u32(r)));
        const __m256i g = _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq2xxs_grid, idx, 8);
        acc = mul_add(acc, g, signed_y(q8 + 32 * ib, ksigns4(a)), _mm256_set1_epi16((short)(2 * (a >> 28) + 1)));
    }
    return hsum_i32(acc);
}

static inline int iq3_xxs_sum_gather(const uint8_t *b, const qtk_block_q8_K *yb) {
    const int8_t *q8 = yb->qs;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const uint32_t a = iqm_u32(b + 66 + 4 * ib);
        const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + 8 * ib)));
        const __m256i g = _mm256_i32gather_epi32((const int *)(const void *)qtk_iq3xxs_grid, idx, 4);
        acc = mul_add(acc, g, signed_y(q8 + 32 * ib, ksigns4(a)), _mm256_set1_epi16((short)(2 * (a >> 28) + 1)));
    }
    return hsum_i32(acc);
}

static inline int iq2_xs_sum_gather(const uint8_t *b, const qtk_block_q8_K *yb) {
    const int8_t *q8 = yb->qs;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        /* 4 words: grid index (9 bits), sign field (7 bits) */
        const __m128i w = _mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + 8 * ib)));
        const __m256i g = _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq2xs_grid,
                                                 _mm_and_si128(w, _mm_set1_epi32(511)), 8);
        const __m256i sg = _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq2_signs64,
                                                  _mm_srli_epi32(w, 9), 8);
        const __m256i m = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)iq2xs_mul16(b, 2 * ib))),
                                                  _mm_set1_epi16((short)iq2xs_mul16(b, 2 * ib + 1)), 1);
        acc = mul_add(acc, g, signed_y(q8 + 32 * ib, sg), m);
    }
    return hsum_i32(acc);
}


static inline int iq2_s_sum_gather(const uint8_t *b, const qtk_block_q8_K *yb) {
    const int8_t *q8 = yb->qs;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const __m128i lo = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)iqm_u32(b + 2 + 4 * ib)));
        const __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32(b[66 + ib]), _mm_setr_epi32(0, 2, 4, 6)),
                                         _mm_set1_epi32(3));
        const __m256i g = _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq2s_grid,
                                                 _mm_or_si128(lo, _mm_slli_epi32(hi, 8)), 8);
        acc = mul_add(acc, g, signed_y(q8 + 32 * ib, sign_bits32(b + 34 + 4 * ib)), MUL_PAIR(iq2s_mul16, b, ib));
    }
    return hsum_i32(acc);
}

static inline int iq3_s_sum_gather(const uint8_t *b, const qtk_block_q8_K *yb) {
    const int8_t *q8 = yb->qs;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + 8 * ib)));
        const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(b[66 + ib]),
                                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
                                            _mm256_set1_epi32(1));
        const __m256i g = _mm256_i32gather_epi32((const int *)(const void *)qtk_iq3s_grid,
                                                 _mm256_or_si256(lo, _mm256_slli_epi32(hi, 8)), 4);
        acc = mul_add(acc, g, signed_y(q8 + 32 * ib, sign_bits32(b + 74 + 4 * ib)),
                      _mm256_set1_epi16((short)iq3s_mul32(b, ib)));
    }
    return hsum_i32(acc);
}

/* IQ1: q = 8·g + δ from grid bytes g ∈ {−1, 0, 1} and δ = ±1 bytes, then |q| × sign(q)·y. */
static inline __m256i iq1_q(__m256i g, __m256i delta) {
    return _mm256_add_epi8(_mm256_and_si256(_mm256_slli_epi16(g, 3), _mm256_set1_epi8((char)0xF8)), delta);
}

static inline int iq1_s_sum_gather(const uint8_t *b, const qtk_block_q8_K *yb) {
    const int8_t *q8 = yb->qs;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        const unsigned h = iqm_u16(b + 34 + 2 * ib);
        const __m128i lo = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)iqm_u32(b + 2 + 4 * ib)));
        const __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)h), _mm_setr_epi32(0, 3, 6, 9)),
                                         _mm_set1_epi32(7));
        const __m256i g = _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq1s_grid,
                                                 _mm_or_si128(lo, _mm_slli_epi32(hi, 8)), 8);
        const __m256i q = iq1_q(g, _mm256_set1_epi8((h & 0x8000) ? -1 : 1));
        acc = mul_add_signed(acc, q, q8 + 32 * ib, _mm256_set1_epi16((short)iq1s_mul32(b, ib)));
    }
    return hsum_i32(acc);
}

static inline int iq1_m_sum_gather(const uint8_t *b, const qtk_block_q8_K *yb) {
    const int8_t *q8 = yb->qs;
    __m256i acc = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        /* octet k's nibble: 3 high index bits and the δ sign (bit 3) */
        const __m128i nib = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)iqm_u16(b + 32 + 2 * ib)),
                                                         _mm_setr_epi32(0, 4, 8, 12)),
                                          _mm_set1_epi32(15));
        const __m128i lo = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)iqm_u32(b + 4 * ib)));
        const __m256i g = _mm256_i32gather_epi64((const long long *)(const void *)qtk_iq1s_grid,
                                                 _mm_or_si128(lo, _mm_slli_epi32(_mm_and_si128(nib, _mm_set1_epi32(7)), 8)), 8);
        /* δ per octet: −1 where bit 3 is set, +1 elsewhere, spread to its 8 bytes */
        const __m256i neg = _mm256_cmpgt_epi64(_mm256_cvtepu32_epi64(_mm_and_si128(nib, _mm_set1_epi32(8))),
                                               _mm256_setzero_si256());
        const __m256i q = iq1_q(g, _mm256_or_si256(neg, _mm256_set1_epi8(1)));
        acc = mul_add_signed(acc, q, q8 + 32 * ib, MUL_PAIR(iq1m_mul16, b, ib));
    }
    return hsum_i32(acc);
}

/* Both kernels of a type: the same super-block loop around either sum. */
#define IQM_AVX2_DOTS(t, BYTES, DBITS, WORD, MUL16, F)                                                               \
    static void t##_words_avx2(int64_t n, float *s, const void *vx, const void *vy) {                    \
        IQM_X86_DOT_BODY(t##_sum_words, BYTES, DBITS, F)                                                 \
    }                                                                                                     \
    static void t##_gather_avx2(int64_t n, float *s, const void *vx, const void *vy) {                   \
        IQM_X86_DOT_BODY(t##_sum_gather, BYTES, DBITS, F)                                                \
    }

IQM_TYPES(IQM_AVX2_DOTS)

/* ---- the choice per type, timed once ---- */

enum { GA_IQ2_XXS, GA_IQ2_XS, GA_IQ2_S, GA_IQ3_XXS, GA_IQ3_S, GA_IQ1_S, GA_IQ1_M, GA_COUNT };
static const struct {
    qtk_vec_dot_fn words, gather;
    size_t bytes;
} g_kernels[GA_COUNT] = {
    {iq2_xxs_words_avx2, iq2_xxs_gather_avx2, IQ2XXS_BYTES}, {iq2_xs_words_avx2, iq2_xs_gather_avx2, IQ2XS_BYTES},
    {iq2_s_words_avx2, iq2_s_gather_avx2, IQ2S_BYTES},       {iq3_xxs_words_avx2, iq3_xxs_gather_avx2, IQ3XXS_BYTES},
    {iq3_s_words_avx2, iq3_s_gather_avx2, IQ3S_BYTES},       {iq1_s_words_avx2, iq1_s_gather_avx2, IQ1S_BYTES},
    {iq1_m_words_avx2, iq1_m_gather_avx2, IQ1M_BYTES},
};
static iqm_ways g_ways = {GA_COUNT, {0}, {0}};
static qtk_once g_once = QTK_ONCE_INIT;
static volatile float g_sink;

typedef struct {
    int cls;
    const uint8_t *w;
    const qtk_block_q8_K *y;
} kernel_timing;

/* 16 calls over 32 pseudo-random super-blocks, the given way. */
static void run_kernel(void *ctx, int way) {
    const kernel_timing *t = (const kernel_timing *)ctx;
    const qtk_vec_dot_fn f = way ? g_kernels[t->cls].gather : g_kernels[t->cls].words;
    float s = 0.0f;
    for (int it = 0; it < 16; it++) f(32 * QK_K, &s, t->w, t->y);
    g_sink = s;
}

static void calibrate(void) {
    g_iq1_x8 = qtk_iq1_values_x8();
    static uint8_t w[32 * IQ3S_BYTES];
    static qtk_block_q8_K y[32];
    uint32_t x = qtk_iqm_fill_random(2024u, w, sizeof w, NULL, 0);
    for (int k = 0; k < 32; k++) {
        y[k].d = 0.01f;
        x = qtk_iqm_fill_random(x, NULL, 0, y[k].qs, QK_K);
    }
    for (int c = 0; c < GA_COUNT; c++) {
        const uint16_t one = 0x3C00; /* d = 1.0, a normal number in every block */
        for (int k = 0; k < 32; k++) {
            uint8_t *blk = w + (size_t)k * g_kernels[c].bytes;
            if (c == GA_IQ1_M) /* IQ1_M keeps d in the top nibbles of its scale words */
                for (int j = 0; j < 4; j++)
                    blk[49 + 2 * j] = (uint8_t)((blk[49 + 2 * j] & 0x0F) | (((one >> 4 * j) & 15) << 4));
            else
                memcpy(blk, &one, 2);
        }
        kernel_timing t = {c, w, y};
        g_ways.timed[c] = qtk_iqm_gathers_win(run_kernel, &t);
    }
    qtk_iqm_ways_set(&g_ways, -1);
}

int qtk_iqm_avx2_lookups(int mode) {
    qtk_call_once(&g_once, calibrate);
    return qtk_iqm_ways_set(&g_ways, mode);
}

#define IQM_AVX2_CHOICE(t, C)                                                                             \
    void qtk_##t##_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {                   \
        qtk_call_once(&g_once, calibrate);                                                                \
        (g_ways.now[C] ? g_kernels[C].gather : g_kernels[C].words)(n, s, vx, vy);                         \
    }
IQM_AVX2_CHOICE(iq2_xxs, GA_IQ2_XXS)
IQM_AVX2_CHOICE(iq2_xs, GA_IQ2_XS)
IQM_AVX2_CHOICE(iq2_s, GA_IQ2_S)
IQM_AVX2_CHOICE(iq3_xxs, GA_IQ3_XXS)
IQM_AVX2_CHOICE(iq3_s, GA_IQ3_S)
IQM_AVX2_CHOICE(iq1_s, GA_IQ1_S)
IQM_AVX2_CHOICE(iq1_m, GA_IQ1_M)
