/*
 * iqk_avx512.c — AVX-512 (F/BW/VL/VNNI) dot products and multi-column kernels
 * (end of file: the work reordered, vec_dot's bits) of IQ2_K … IQ6_K with Q8_K
 * activations.
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
#include "simd_x86.h"

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

/* ---- multi-column kernels (the mul_mat contract of qtk.h) --------------------
 * The weight side of a super-block is unpacked once per tile of up to 4
 * columns: vec_dot's four registers of grid values + 128, their dwords
 * transposed in every 128-bit lane (IQ2_K unpacks them so directly) so that
 * dword 4L + k of each register holds 4 weights of the sub-block that lane L of
 * vec_dot's register k holds (D order, as vec_dot's transpose-add); the shifted
 * grid's offset added to the bytes of the shifted sub-blocks (one masked dword
 * add per register: no byte reaches 256, so no carry crosses a byte); the scales
 * in D order; d. The activation side (the Q8_K quants permuted the same way and
 * −128·Σy per sub-block in D order, which starts the vpdpbusd chain and takes
 * the +128 back) is made once per chunk of super-blocks into a stack table
 * shared by the rows of the call. Four chained vpdpbusd then leave each dword
 * with a whole sub-block's exact sum: no horizontal work per column. The float
 * accumulators stay in D order and are put in sub-block order once at the end.
 * Every lane's integer is vec_dot's (S_j · the exact sum of sub-block j),
 * converted and fused-multiply-added with the same d·d_y, and the final sum is
 * vec_dot's, so mul_mat and vec_dot give the same bits. */
typedef struct iqk_unpacked {
    __m512i v[4]; /* grid values + 128 (shifted where the sub-block is) */
    __m512i S;    /* sub-block scales in D order */
    float d;
} iqk_unpacked;

typedef struct iqk_consts {
    __m512i T[4];              /* base-grid tables (+128) */
    __m512i bits;              /* dword 4L + k: 1 << (sub-block of lane L of register k) */
    __m512i shv;               /* dword 4L + k: 2k (IQ2_K's index shifts) */
    __m512i jDh, jDs;          /* D position -> scale byte (sub-block / 2), nibble shift 4·(sub-block % 2) */
    __m512i jD, perm;          /* D position -> sub-block, sub-block -> D position */
    __m512i off;               /* the shifted grid's offset in every byte */
    __m512i m3, m4, m4b, ilo, ihi;
    __m512i h[4];              /* IQ5_K/IQ6_K qh bit tests */
} iqk_consts;

/* Register layouts: sub-block held by 128-bit lane L of register k. */
enum { IQK_L23, IQK_L4, IQK_L56 };
static int iqk_sub(int layout, int k, int L) {
    if (layout == IQK_L23) return 8 * (L / 2) + 2 * k + L % 2;
    if (layout == IQK_L4) return 8 * (k / 2) + 2 * L + k % 2;
    return 8 * (k / 2) + 4 * (L / 2) + 2 * (k % 2) + L % 2;
}

static void iqk_init(iqk_consts *c, int layout, int off) {
    memset(c, 0, sizeof *c);
    int32_t jd[16], pm[16], bt[16], sv[16], jh[16], js[16];
    for (int k = 0; k < 4; k++)
        for (int L = 0; L < 4; L++) {
            const int j = iqk_sub(layout, k, L);
            jd[4 * L + k] = j;
            pm[j] = 4 * L + k;
            bt[4 * L + k] = 1 << j;
            sv[4 * L + k] = 2 * k;
            jh[4 * L + k] = j / 2;
            js[4 * L + k] = 4 * (j % 2);
        }
    c->jD = _mm512_loadu_si512((const void *)jd);
    c->perm = _mm512_loadu_si512((const void *)pm);
    c->bits = _mm512_loadu_si512((const void *)bt);
    c->shv = _mm512_loadu_si512((const void *)sv);
    c->jDh = _mm512_loadu_si512((const void *)jh);
    c->jDs = _mm512_loadu_si512((const void *)js);
    c->off = _mm512_set1_epi8((char)off);
    c->m3 = _mm512_set1_epi8(3);
    c->m4 = _mm512_set1_epi8(0xF);
    c->m4b = _mm512_set1_epi8(4);
    c->ilo = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13);
    c->ihi = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
}

static void iq2k_init(iqk_consts *c) {
    iqk_init(c, IQK_L23, QTK_IQ2_K_SHIFT);
    c->T[0] = table_u8(qtk_iq2nl_values, 4);
}
static void iq3k_init(iqk_consts *c) {
    iqk_init(c, IQK_L23, QTK_IQ3_K_SHIFT);
    c->T[0] = table_u8(qtk_iq3nl_values, 8);
}
static void iq4k_init(iqk_consts *c) {
    iqk_init(c, IQK_L4, QTK_IQ4_K_SHIFT);
    c->T[0] = table_u8(qtk_iq4nl_values, 16);
}
static void iq5k_init(iqk_consts *c) {
    iqk_init(c, IQK_L56, QTK_IQ5_K_SHIFT);
    c->T[0] = table_u8(qtk_iq5nl_values, 16);
    c->T[1] = table_u8(qtk_iq5nl_values + 16, 16);
    for (int cc = 0; cc < 2; cc++) {
        c->h[2 * cc] = halves8(1 << (4 * cc), 1 << (4 * cc + 2));
        c->h[2 * cc + 1] = halves8(1 << (4 * cc + 1), 1 << (4 * cc + 3));
    }
}
static void iq6k_init(iqk_consts *c) {
    iqk_init(c, IQK_L56, QTK_IQ6_K_SHIFT);
    for (int t = 0; t < 4; t++) c->T[t] = table_u8(qtk_iq6nl_values + 16 * t, 16);
    c->h[0] = halves8(0x01, 0x10);
    c->h[1] = halves8(0x02, 0x20);
    c->h[2] = halves8(0x04, 0x40);
    c->h[3] = halves8(0x08, 0x80);
}

/* 4 × 4 transpose of the dwords in every 128-bit lane: dword k of lane L of x[r]
 * becomes dword r of lane L of x[k]. */
QTK_FORCE_INLINE void iqk_transpose(__m512i x[4]) {
    const __m512i t0 = _mm512_unpacklo_epi32(x[0], x[1]), t1 = _mm512_unpackhi_epi32(x[0], x[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(x[2], x[3]), t3 = _mm512_unpackhi_epi32(x[2], x[3]);
    x[0] = _mm512_unpacklo_epi64(t0, t2);
    x[1] = _mm512_unpackhi_epi64(t0, t2);
    x[2] = _mm512_unpacklo_epi64(t1, t3);
    x[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* The parts every type shares: the registers transposed (unless the unpacking made
 * them so: `tr` = 0), after which dword 4L + k of every register holds 4 weights of
 * the sub-block of lane L of register k (D order), so that chained vpdpbusd sum
 * whole sub-blocks per dword; the shift offsets; the scales in D order; d. */
QTK_FORCE_INLINE void iqk_finish_unpack(const uint8_t *b, const iqk_consts *c, iqk_unpacked *u, int tr) {
    if (tr) iqk_transpose(u->v);
    const __mmask16 m = _mm512_test_epi32_mask(_mm512_set1_epi32(rd16(b + 2)), c->bits);
    for (int k = 0; k < 4; k++) u->v[k] = _mm512_mask_add_epi32(u->v[k], m, u->v[k], c->off);
    u->d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(rd16(b))));
}

/* Scales (int16, sub-block order) to D order. */
QTK_FORCE_INLINE __m512i iqk_scales_D(__m256i S16, const iqk_consts *c) {
    return _mm512_permutexvar_epi32(c->jD, _mm512_cvtepi16_epi32(S16));
}

/* The 16 scale nibbles of 8 bytes at p (even sub-block = low nibble) as int32, D order. */
QTK_FORCE_INLINE __m512i iqk_nibbles_D(const uint8_t *p, const iqk_consts *c) {
    const __m512i raw = _mm512_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
    return _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(c->jDh, raw), c->jDs), _mm512_set1_epi32(0xF));
}

QTK_FORCE_INLINE void iq2k_unpack(const uint8_t *b, const iqk_consts *c, iqk_unpacked *u) {
    /* transposed register r, dword 4L + k: bits 2k..2k+1 of the bytes of dword r of lane L */
    const __m512i q = _mm512_loadu_si512((const void *)(b + 12));
    const __m512i r[4] = {_mm512_shuffle_epi32(q, 0x00), _mm512_shuffle_epi32(q, 0x55), _mm512_shuffle_epi32(q, 0xAA),
                          _mm512_shuffle_epi32(q, 0xFF)};
    for (int k = 0; k < 4; k++)
        u->v[k] = _mm512_shuffle_epi8(c->T[0], _mm512_and_si512(_mm512_srlv_epi32(r[k], c->shv), c->m3));
    iqk_finish_unpack(b, c, u, 0);
    u->S = _mm512_sub_epi32(iqk_nibbles_D(b + 4, c), _mm512_set1_epi32(8));
}

QTK_FORCE_INLINE void iq3k_unpack(const uint8_t *b, const iqk_consts *c, iqk_unpacked *u) {
    const __m256i m = nibbles16(b + 6);
    const __m256i odd = _mm256_add_epi16(_mm256_add_epi16(m, m), _mm256_set1_epi16(1));
    const __m256i S16 = _mm256_mask_sub_epi16(odd, (__mmask16)rd16(b + 4), _mm256_setzero_si256(), odd);
    const __m512i q = _mm512_loadu_si512((const void *)(b + 14));
    const __m512i h0 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(b + 78)));
    const __m512i h = _mm512_mask_srli_epi16(h0, (__mmask32)0xFFFF0000u, h0, 4);
    for (int k = 0; k < 4; k++) {
        const __m512i g = k < 2 ? _mm512_slli_epi16(h, 2 - k) : _mm512_srli_epi16(h, k - 2);
        const __m512i lo = _mm512_and_si512(_mm512_srli_epi16(q, 2 * k), c->m3);
        u->v[k] = _mm512_shuffle_epi8(c->T[0], _mm512_ternarylogic_epi32(lo, g, c->m4b, 0xF8));
    }
    iqk_finish_unpack(b, c, u, 1);
    u->S = iqk_scales_D(S16, c);
}

QTK_FORCE_INLINE void iq4k_unpack(const uint8_t *b, const iqk_consts *c, iqk_unpacked *u) {
    for (int cc = 0; cc < 2; cc++) {
        const __m512i q = _mm512_loadu_si512((const void *)(b + 16 + 64 * cc));
        u->v[2 * cc] = _mm512_shuffle_epi8(c->T[0], _mm512_and_si512(q, c->m4));
        u->v[2 * cc + 1] = _mm512_shuffle_epi8(c->T[0], _mm512_and_si512(_mm512_srli_epi16(q, 4), c->m4));
    }
    iqk_finish_unpack(b, c, u, 1);
    u->S = iqk_scales_D(scales_iq45(b), c);
}

QTK_FORCE_INLINE void iq5k_unpack(const uint8_t *b, const iqk_consts *c, iqk_unpacked *u) {
    const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(b + 144)));
    for (int cc = 0; cc < 2; cc++) {
        const __m512i q = _mm512_loadu_si512((const void *)(b + 16 + 64 * cc));
        const __m512i lo = _mm512_and_si512(q, c->m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), c->m4);
        const __mmask64 klo = _mm512_test_epi8_mask(h, c->h[2 * cc]), khi = _mm512_test_epi8_mask(h, c->h[2 * cc + 1]);
        u->v[2 * cc] = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(c->T[0], lo), klo, c->T[1], lo);
        u->v[2 * cc + 1] = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(c->T[0], hi), khi, c->T[1], hi);
    }
    iqk_finish_unpack(b, c, u, 1);
    u->S = iqk_scales_D(scales_iq45(b), c);
}

QTK_FORCE_INLINE void iq6k_unpack(const uint8_t *b, const iqk_consts *c, iqk_unpacked *u) {
    for (int cc = 0; cc < 2; cc++) {
        const __m256i h8 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 148 + 32 * cc));
        const __m512i h = _mm512_broadcast_i64x4(h8);
        const __m512i q = _mm512_loadu_si512((const void *)(b + 20 + 64 * cc));
        const __m512i lo = _mm512_and_si512(q, c->m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), c->m4);
        u->v[2 * cc] = lookup64(c->T, lo, _mm512_test_epi8_mask(h, c->h[0]), _mm512_test_epi8_mask(h, c->h[1]));
        u->v[2 * cc + 1] = lookup64(c->T, hi, _mm512_test_epi8_mask(h, c->h[2]), _mm512_test_epi8_mask(h, c->h[3]));
    }
    iqk_finish_unpack(b, c, u, 1);
    const __m128i S8 = _mm_loadu_si128((const __m128i *)(const void *)(b + 4));
    u->S = _mm512_permutexvar_epi32(c->jD, _mm512_cvtepi8_epi32(S8));
}

/* The activation side of a Q8_K block: y[k] the quants of register k's sub-blocks,
 * transposed as the weights, y[4] −128·Σy of every sub-block in D order. */
#define IQK_ACT 5
QTK_FORCE_INLINE void iqk_act(const int layout, const qtk_block_q8_K *yb, const iqk_consts *c, __m512i y[IQK_ACT]) {
    const int8_t *yq = yb->qs;
    if (layout == IQK_L23) {
        for (int k = 0; k < 4; k++) y[k] = load2x256(yq + 32 * k, yq + 128 + 32 * k);
    } else {
        for (int cc = 0; cc < 2; cc++) {
            const __m512i ya = _mm512_loadu_si512((const void *)(yq + 128 * cc));
            const __m512i yb2 = _mm512_loadu_si512((const void *)(yq + 128 * cc + 64));
            if (layout == IQK_L4) {
                y[2 * cc] = _mm512_permutex2var_epi64(ya, c->ilo, yb2);
                y[2 * cc + 1] = _mm512_permutex2var_epi64(ya, c->ihi, yb2);
            } else {
                y[2 * cc] = _mm512_shuffle_i64x2(ya, yb2, 0x44);
                y[2 * cc + 1] = _mm512_shuffle_i64x2(ya, yb2, 0xEE);
            }
        }
    }
    iqk_transpose(y);
    const __m512i bs = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums));
    y[4] = _mm512_permutexvar_epi32(c->jD, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(bs, 7)));
}

/* acc + (S_j · Σ_j) · (d·d_y) per lane, in D order. */
QTK_FORCE_INLINE __m512 iqk_mul(const iqk_unpacked *u, const __m512i y[IQK_ACT], float dy, __m512 acc) {
    __m512i D = y[4];
    for (int k = 0; k < 4; k++) D = _mm512_dpbusd_epi32(D, u->v[k], y[k]);
    const __m512i isum = _mm512_mullo_epi32(D, u->S);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(u->d * dy), acc);
}

/* A tile of one row × C columns over super-blocks i0 <= i < i1 (accumulators acc[k],
 * D order); tab: the activations of the C columns for super-blocks i0.. (IQK_MAX_SB
 * per column), or NULL (made here). */
#define IQK_MAX_SB 32
#define IQK_ROWS 64
#define IQK_KERNELS(T, BS, UNPACK, LAYOUT, INIT)                                                                 \
    QTK_FORCE_INLINE __m512 qtk_##T##_col(int k, int64_t i, int64_t i0, const iqk_unpacked *u, const uint8_t *a, \
                                          size_t as, const iqk_consts *c, const __m512i *tab, __m512 s) {    \
        const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + i;             \
        __m512i ya[IQK_ACT];                                                                                 \
        if (tab) {                                                                                           \
            const __m512i *t = tab + ((size_t)k * IQK_MAX_SB + (size_t)(i - i0)) * IQK_ACT;                  \
            for (int q = 0; q < IQK_ACT; q++) ya[q] = t[q];                                                  \
        } else {                                                                                             \
            iqk_act(LAYOUT, y, c, ya);                                                                       \
        }                                                                                                    \
        return iqk_mul(u, ya, y->d, s);                                                                      \
    }                                                                                                        \
    QTK_FORCE_INLINE void qtk_##T##_run(const int C, int64_t i0, int64_t i1, const uint8_t *w, const uint8_t *a, \
                                        size_t as, __m512 *acc, const iqk_consts *c, const __m512i *tab) {   \
        const uint8_t *b = w + (size_t)i0 * (BS);                                                            \
        /* named accumulators: an array indexed in a loop would be kept in memory */                         \
        __m512 s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];                                           \
        for (int64_t i = i0; i < i1; i++, b += (BS)) {                                                       \
            iqk_unpacked u;                                                                                  \
            qtk_prefetch_ahead(b, (BS));                                                                     \
            UNPACK(b, c, &u);                                                                                \
            s0 = qtk_##T##_col(0, i, i0, &u, a, as, c, tab, s0);                                             \
            if (C > 1) s1 = qtk_##T##_col(1, i, i0, &u, a, as, c, tab, s1);                                  \
            if (C > 2) {                                                                                     \
                s2 = qtk_##T##_col(2, i, i0, &u, a, as, c, tab, s2);                                         \
                s3 = qtk_##T##_col(3, i, i0, &u, a, as, c, tab, s3);                                         \
            }                                                                                                \
        }                                                                                                    \
        acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;                                                  \
    }                                                                                                        \
    /* One row × C columns over super-blocks i0 <= i < i1 (one loop with the table, one without). */        \
    QTK_FORCE_INLINE void qtk_##T##_tile(const int C, int64_t i0, int64_t i1, const uint8_t *w, const uint8_t *a, \
                                         size_t as, __m512 *acc, const iqk_consts *c, const __m512i *tab) {  \
        if (tab) qtk_##T##_run(C, i0, i1, w, a, as, acc, c, tab);                                            \
        else qtk_##T##_run(C, i0, i1, w, a, as, acc, c, NULL);                                               \
    }                                                                                                        \
    /* Rows in groups of IQK_ROWS; per group the super-blocks in chunks of IQK_MAX_SB whose   \
     * activation table is made once per chunk (one chunk if the row is short enough). */    \
    void qtk_##T##_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out,  \
                                  size_t os, int64_t nr, int64_t nc) {                                       \
        iqk_consts c;                                                                                        \
        INIT(&c);                                                                                            \
        const int64_t nb = n / QK_K;                                                                         \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                    \
        __m512i tab[4 * IQK_MAX_SB * IQK_ACT];                                                               \
        __m512 acc[IQK_ROWS][4];                                                                             \
        for (int64_t k = 0; k < nc;) {                                                                       \
            const int C = nc - k >= 4 ? 4 : nc - k >= 2 ? 2 : 1;                                             \
            const uint8_t *ak = ab + (size_t)k * as;                                                         \
            for (int64_t r0 = 0; r0 < nr; r0 += IQK_ROWS) {                                                  \
                const int64_t R = nr - r0 < IQK_ROWS ? nr - r0 : IQK_ROWS;                                   \
                for (int64_t r = 0; r < R; r++)                                                              \
                    for (int kk = 0; kk < 4; kk++) acc[r][kk] = _mm512_setzero_ps();                         \
                for (int64_t i0 = 0; i0 < nb; i0 += IQK_MAX_SB) {                                            \
                    const int64_t i1 = nb - i0 < IQK_MAX_SB ? nb : i0 + IQK_MAX_SB;                          \
                    const __m512i *tp = NULL;                                                                \
                    if (R > 1) {                                                                             \
                        for (int kk = 0; kk < C; kk++)                                                       \
                            for (int64_t i = i0; i < i1; i++)                                                \
                                iqk_act(LAYOUT, (const qtk_block_q8_K *)(const void *)(ak + (size_t)kk * as) + i, \
                                        &c, &tab[((size_t)kk * IQK_MAX_SB + (size_t)(i - i0)) * IQK_ACT]);   \
                        tp = tab;                                                                            \
                    }                                                                                        \
                    for (int64_t r = 0; r < R; r++) {                                                        \
                        const uint8_t *wr = wb + (size_t)(r0 + r) * ws;                                      \
                        if (C == 4) qtk_##T##_tile(4, i0, i1, wr, ak, as, acc[r], &c, tp);                   \
                        else if (C == 2) qtk_##T##_tile(2, i0, i1, wr, ak, as, acc[r], &c, tp);              \
                        else qtk_##T##_tile(1, i0, i1, wr, ak, as, acc[r], &c, tp);                          \
                    }                                                                                        \
                }                                                                                            \
                for (int64_t r = 0; r < R; r++)                                                              \
                    for (int kk = 0; kk < C; kk++)                                                           \
                        out[(size_t)(k + kk) * os + (size_t)(r0 + r)] =                                      \
                            _mm512_reduce_add_ps(_mm512_permutexvar_ps(c.perm, acc[r][kk]));                 \
            }                                                                                                \
            k += C;                                                                                          \
        }                                                                                                    \
    }

IQK_KERNELS(iq4_k, QTK_IQ4_K_SIZE, iq4k_unpack, IQK_L4, iq4k_init)
IQK_KERNELS(iq5_k, QTK_IQ5_K_SIZE, iq5k_unpack, IQK_L56, iq5k_init)
IQK_KERNELS(iq6_k, QTK_IQ6_K_SIZE, iq6k_unpack, IQK_L56, iq6k_init)
IQK_KERNELS(iq3_k, QTK_IQ3_K_SIZE, iq3k_unpack, IQK_L23, iq3k_init)
IQK_KERNELS(iq2_k, QTK_IQ2_K_SIZE, iq2k_unpack, IQK_L23, iq2k_init)
