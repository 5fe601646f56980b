/*
 * iquants_avx512.c — AVX-512 (F/BW/VL + VNNI, which the AVX-512 dispatch level
 * requires) dot products and multi-column kernels of IQ4_NL and MXFP4 (× Q8_0)
 * and IQ4_XS (× Q8_K). The 16-value table is looked up with vpshufb as value
 * + 128, the unsigned operand of vpdpbusd, and the bias is taken back per block
 * from −128·Σy; block sums are exact integers and the double steps mirror
 * iquants.c, so the IQ4_NL/IQ4_XS kernels return the scalar kernels' bits.
 * MXFP4 sums its exact block products the IQ4_NL way (double, 8 lanes), not in
 * the float block order of legacy1.c's scalar kernel: equal within rounding.
 */
#include "iquants.h"
#include "grids.h"
#include "legacy1.h"
#include "simd_x86.h"

#include <immintrin.h>

static inline uint16_t ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* 32-bit partial sums (8 lanes) of Σ T[q]·y over one 32-weight block (|T| as the
 * unsigned operand, T's sign moved onto y). */
static inline __m256i nl_block_dot(const uint8_t *qs, const int8_t *q8, __m256i table) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m256i idx = _mm256_and_si256(
        _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1), _mm256_set1_epi8(0x0F));
    const __m256i v = _mm256_shuffle_epi8(table, idx);
    const __m256i y = _mm256_loadu_si256((const __m256i *)q8);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(v), _mm256_sign_epi8(y, v));
}

/* ---- multi-column kernels (the mul_mat contract of qtk.h) ------------------
 * The weight side of a block (table look-ups of the grid + 128, which makes it
 * the unsigned operand of vpdpbusd, and the sub-block scales) is unpacked once
 * per tile of up to 4 columns; the activation side (Q8_K/Q8_0 values permuted
 * into the order of the nibble registers, and the −128·Σy bias corrections
 * that start the vpdpbusd chains) is made once per call into a stack table
 * when the call has several rows. Integer sums per block are exact, and the
 * double-precision steps are those of the scalar kernels in their order, so
 * mul_mat, vec_dot and the scalar vec_dot give the same bits. */

static inline float fp16_f16c(const void *p) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(ld16(p))));
}

/* The 16 values + 128 of IQ4_NL (mx = 0) or MXFP4 (mx = 1) in every 128-bit lane. */
static inline __m512i nl_table(int mx) {
    const __m128i t = _mm_loadu_si128((const __m128i *)(const void *)(mx ? qtk_kvalues_mxfp4 : qtk_iq4nl_values));
    return _mm512_broadcast_i32x4(_mm_add_epi8(t, _mm_set1_epi8((char)0x80)));
}

/* ---- IQ4_XS ---- */

/* A super-block unpacked: t[q] (q = 0, 1: sub-blocks 4q..4q+3, one per 128-bit lane)
 * the grid + 128 of weights 0..15 (t[q]) and 16..31 (t[2 + q]), S[q] the scale
 * ls − 32 of each lane's sub-block. */
typedef struct xs_unpacked {
    __m512i t[4], S[2];
} xs_unpacked;

QTK_FORCE_INLINE void xs_unpack(const uint8_t *x, __m512i table, xs_unpacked *u) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int q = 0; q < 2; q++) {
        const __m512i v = _mm512_loadu_si512((const void *)(x + 8 + 64 * q));
        u->t[q] = _mm512_shuffle_epi8(table, _mm512_and_si512(v, m4));
        u->t[2 + q] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
    }
    /* ls of sub-block ib = nibble ib of scales_l (dword at 4) | field ib of scales_h
     * (bits 16.. of the dword at 0) << 4, in the lanes of S[q] (sub-block 4q + L/4 in
     * lane L): two variable shifts of the broadcast dwords, a bit select, − 32. The
     * scalar bit spreading this replaced (a chain of ~25 dependent integer ops per
     * super-block) held the kernel at ~26 GB/s in cache, 1.5x below this. */
    const __m512i sl = _mm512_set1_epi32((int)qtk_rd32(x + 4)), sh = _mm512_set1_epi32((int)qtk_rd32(x));
    const __m512i ib0 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int q = 0; q < 2; q++) {
        const __m512i ib = _mm512_add_epi32(ib0, _mm512_set1_epi32(4 * q));
        const __m512i lo = _mm512_srlv_epi32(sl, _mm512_slli_epi32(ib, 2));
        const __m512i hi = _mm512_srlv_epi32(sh, _mm512_add_epi32(_mm512_add_epi32(ib, ib), _mm512_set1_epi32(12)));
        /* (lo & 0x0F) | (hi & ~0x0F), then the 6 bits */
        const __m512i ls = _mm512_and_si512(_mm512_ternarylogic_epi32(lo, hi, _mm512_set1_epi32(0x0F), 0xE4),
                                            _mm512_set1_epi32(0x3F));
        u->S[q] = _mm512_sub_epi32(ls, _mm512_set1_epi32(32));
    }
}

/* The activation side of a Q8_K block: ya[0..1] weights 0..15 of sub-blocks 4q..4q+3,
 * ya[2..3] weights 16..31, in xs_unpacked's order; ya[4] the bias corrections
 * −128·Σy of sub-block b (lane 4b) and 4 + b (lane 4b + 1). */
#define XS_ACT 5
QTK_FORCE_INLINE void xs_act(const qtk_block_q8_K *yb, __m512i ya[XS_ACT]) {
    for (int q = 0; q < 2; q++) {
        const __m512i y0 = _mm512_loadu_si512((const void *)(yb->qs + 128 * q));
        const __m512i y1 = _mm512_loadu_si512((const void *)(yb->qs + 128 * q + 64));
        ya[q] = _mm512_shuffle_i64x2(y0, y1, 0x88);
        ya[2 + q] = _mm512_shuffle_i64x2(y0, y1, 0xDD);
    }
    const __m256i s8 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums),
                                         _mm256_set1_epi16(-128));
    const __m512i idx = _mm512_setr_epi32(0, 4, 0, 0, 1, 5, 0, 0, 2, 6, 0, 0, 3, 7, 0, 0);
    ya[4] = _mm512_maskz_permutexvar_epi32(0x3333, idx, _mm512_castsi256_si512(s8));
}

/* 16 int32 lanes whose total is the exact Σ (ls − 32)·Σ T·y of the super-block. */
QTK_FORCE_INLINE __m512i xs_mul(const xs_unpacked *u, const __m512i ya[XS_ACT]) {
    __m512i d0 = _mm512_maskz_mov_epi32(0x1111, ya[4]), d1 = _mm512_maskz_mov_epi32(0x2222, ya[4]);
    d0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(d0, u->t[0], ya[0]), u->t[2], ya[2]);
    d1 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(d1, u->t[1], ya[1]), u->t[3], ya[3]);
    return _mm512_add_epi32(_mm512_mullo_epi32(d0, u->S[0]), _mm512_mullo_epi32(d1, u->S[1]));
}

/* A tile of one row × C columns, four super-blocks per horizontal reduction;
 * tab/tyd: the activation side per (column, super-block) when made once per
 * call (index c·nb + i), else NULL. */
QTK_FORCE_INLINE void iq4_xs_tile(const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as,
                                  const __m512i *tab, const double *tyd, float *out, size_t os) {
    const __m512i table = nl_table(0);
    const size_t bs = sizeof(qtk_block_iq4_xs);
    double sum[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 3 < nb; i += 4) {
        __m512i r[4][4];
        qtk_prefetch_ahead(w + (size_t)i * bs, 4 * (int)bs);
        for (int j = 0; j < 4; j++) {
            xs_unpacked u;
            xs_unpack(w + (size_t)(i + j) * bs, table, &u);
            for (int c = 0; c < C; c++) {
                __m512i ya[XS_ACT];
                if (tab) {
                    for (int k = 0; k < XS_ACT; k++) ya[k] = tab[((size_t)c * (size_t)nb + (size_t)(i + j)) * XS_ACT + k];
                } else {
                    xs_act((const qtk_block_q8_K *)(const void *)(a + (size_t)c * as) + i + j, ya);
                }
                r[c][j] = xs_mul(&u, ya);
            }
        }
        const uint8_t *xb = w + (size_t)i * bs;
        const __m256d dw = _mm256_cvtps_pd(_mm_cvtph_ps(
            _mm_setr_epi16((short)ld16(xb), (short)ld16(xb + bs), (short)ld16(xb + 2 * bs), (short)ld16(xb + 3 * bs), 0, 0, 0, 0)));
        for (int c = 0; c < C; c++) {
            __m256d dy;
            if (tyd) {
                dy = _mm256_loadu_pd(tyd + (size_t)c * (size_t)nb + (size_t)i);
            } else {
                const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)c * as) + i;
                dy = _mm256_setr_pd((double)y[0].d, (double)y[1].d, (double)y[2].d, (double)y[3].d);
            }
            double t[4];
            _mm256_storeu_pd(t, _mm256_mul_pd(_mm256_cvtepi32_pd(qtk_hsum4x16_i32(r[c])), _mm256_mul_pd(dw, dy)));
            sum[c] += t[0];
            sum[c] += t[1];
            sum[c] += t[2];
            sum[c] += t[3];
        }
    }
    for (; i < nb; i++) {
        xs_unpacked u;
        xs_unpack(w + (size_t)i * bs, table, &u);
        const double dw = (double)fp16_f16c(w + (size_t)i * bs);
        for (int c = 0; c < C; c++) {
            const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)c * as) + i;
            __m512i ya[XS_ACT];
            if (tab) {
                for (int k = 0; k < XS_ACT; k++) ya[k] = tab[((size_t)c * (size_t)nb + (size_t)i) * XS_ACT + k];
            } else {
                xs_act(y, ya);
            }
            sum[c] += (double)_mm512_reduce_add_epi32(xs_mul(&u, ya)) * (dw * (double)y->d);
        }
    }
    for (int c = 0; c < C; c++) out[(size_t)c * os] = (float)sum[c];
}

/* (column, super-block) pairs the stack table of a call holds: 40 KiB. */
#define XS_TAB_SB (QTK_TABLE_ROW_WEIGHTS / 256)
void qtk_iq4_xs_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc) {
    const int64_t nb = n / QK_K;
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;
    __m512i tab[XS_TAB_SB * XS_ACT];
    double tyd[XS_TAB_SB];
    for (int64_t c = 0; c < nc;) {
        const int C = nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;
        const uint8_t *ac = ab + (size_t)c * as;
        const __m512i *tp = NULL;
        const double *tdp = NULL;
        if (nr > 1 && C * nb <= XS_TAB_SB) {
            for (int cc = 0; cc < C; cc++)
                for (int64_t i = 0; i < nb; i++) {
                    const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(ac + (size_t)cc * as) + i;
                    xs_act(y, &tab[((size_t)cc * (size_t)nb + (size_t)i) * XS_ACT]);
                    tyd[(size_t)cc * (size_t)nb + (size_t)i] = (double)y->d;
                }
            tp = tab;
            tdp = tyd;
        }
        for (int64_t r = 0; r < nr; r++) {
            const uint8_t *wr = wb + (size_t)r * ws;
            float *o = out + (size_t)c * os + (size_t)r;
            if (C == 4) iq4_xs_tile(4, nb, wr, ac, as, tp, tdp, o, os);
            else if (C == 2) iq4_xs_tile(2, nb, wr, ac, as, tp, tdp, o, os);
            else iq4_xs_tile(1, nb, wr, ac, as, tp, tdp, o, os);
        }
        c += C;
    }
}

/* IQ4_XS × Q8_K: the 1 × 1 tile. */
void qtk_iq4_xs_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    iq4_xs_tile(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, NULL, s, 0);
}

/* ---- IQ4_NL and MXFP4: groups of 8 blocks (one per double lane of the accumulator,
 * as IQ4_NL's scalar acc[ib % 8]); register A holds the 16 code bytes of blocks 0..3
 * of a group, one per 128-bit lane, B those of blocks 4..7. `mx` selects MXFP4
 * (17-byte blocks: E8M0 exponent, codes) over IQ4_NL (18 bytes: fp16 d, codes). */
typedef struct nl_unpacked {
    __m512i t[4]; /* value + 128: low nibbles (weights 0..15) of A, B; high nibbles of A, B */
    __m512d dx;   /* the 8 block scales */
} nl_unpacked;

/* IQ4_NL's 18-byte blocks through 4-block windows (qtk_window4_load): the codes of
 * block k (words 9k + 1 .. 9k + 8) into 128-bit lane k, the scales (words 9k) into
 * words 0..3 — 2 loads and 2 permutes per 4 blocks where 4 loads, 3 inserts and 4
 * scalar loads were (the same bytes). */
static const uint16_t nl_code_words[32] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12, 13, 14, 15, 16, 17,
                                           19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35};
static const uint16_t nl_scale_words[32] = {0, 9, 18, 27};

QTK_FORCE_INLINE void nl_unpack_iq4nl(const uint8_t *x, __m512i table, nl_unpacked *u) {
    const int bs = (int)sizeof(qtk_block_iq4_nl);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i cw = _mm512_loadu_si512((const void *)nl_code_words);
    const __m512i sw = _mm512_loadu_si512((const void *)nl_scale_words);
    __m128i d[2];
    for (int h = 0; h < 2; h++) {
        __m512i lo, hi;
        qtk_window4_load(x + 4 * h * bs, bs, &lo, &hi);
        const __m512i v = _mm512_permutex2var_epi16(lo, cw, hi);
        d[h] = _mm512_castsi512_si128(_mm512_permutex2var_epi16(lo, sw, hi));
        u->t[h] = _mm512_shuffle_epi8(table, _mm512_and_si512(v, m4));
        u->t[2 + h] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
    }
    u->dx = _mm512_cvtps_pd(_mm256_cvtph_ps(_mm_unpacklo_epi64(d[0], d[1])));
}

/* MXFP4's 17-byte blocks (E8M0 exponent, then the codes) put the fields at odd offsets: the
 * codes by one 16-byte load per block. */
QTK_FORCE_INLINE void nl_unpack_mxfp4(const uint8_t *x, __m512i table, nl_unpacked *u) {
    const size_t bs = sizeof(qtk_block_mxfp4);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int h = 0; h < 2; h++) {
        const uint8_t *xb = x + 4 * h * bs + 1;
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)xb));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(xb + bs)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(xb + 2 * bs)), 2);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(xb + 3 * bs)), 3);
        u->t[h] = _mm512_shuffle_epi8(table, _mm512_and_si512(v, m4));
        u->t[2 + h] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
    }
    /* D(e) = 2^(e − 128) (qtk_mxfp4_scale): exponent field e − 1, subnormal for e < 2 */
    const __m256i e = _mm256_setr_epi32(x[0], x[bs], x[2 * bs], x[3 * bs], x[4 * bs], x[5 * bs], x[6 * bs], x[7 * bs]);
    const __m256i norm = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i sub = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    const __m256i bits = _mm256_mask_blend_epi32(_mm256_cmplt_epu32_mask(e, _mm256_set1_epi32(2)), norm, sub);
    u->dx = _mm512_cvtps_pd(_mm256_castsi256_ps(bits));
}

QTK_FORCE_INLINE void nl_unpack(const int mx, const uint8_t *x, __m512i table, nl_unpacked *u) {
    if (mx) nl_unpack_mxfp4(x, table, u);
    else nl_unpack_iq4nl(x, table, u);
}

/* The activation side of 8 Q8_0 blocks: ya[0..1] values 0..15 of blocks 0..3 | 4..7,
 * ya[2..3] values 16..31, ya[4] −128·Σy of block b (lane 4b) and 4 + b (lane 4b + 1),
 * ya[5] the 8 d_y as doubles. */
#define NL_ACT 6
QTK_FORCE_INLINE void nl_act(const qtk_block_q8_0 *y, __m512i ya[NL_ACT]) {
    for (int h = 0; h < 2; h++) {
        const qtk_block_q8_0 *yb = y + 4 * h;
        __m128i lo[4], hi[4];
        for (int k = 0; k < 4; k++) {
            lo[k] = _mm_loadu_si128((const __m128i *)(const void *)yb[k].qs);
            hi[k] = _mm_loadu_si128((const __m128i *)(const void *)(yb[k].qs + 16));
        }
        ya[h] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(lo[1], lo[0])), _mm256_set_m128i(lo[3], lo[2]), 1);
        ya[2 + h] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(hi[1], hi[0])), _mm256_set_m128i(hi[3], hi[2]), 1);
    }
    /* Σy per block: dpbusd(1, y) over both halves, then the 4 lanes of each chunk */
    const __m512i one = _mm512_set1_epi8(1);
    const __m512i sA = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), one, ya[0]), one, ya[2]);
    const __m512i sB = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), one, ya[1]), one, ya[3]);
    const __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi32(sA, sB), _mm512_unpackhi_epi32(sA, sB));
    const __m512i s = _mm512_add_epi32(t, _mm512_shuffle_epi32(t, (_MM_PERM_ENUM)0x4E)); /* chunk b: ΣA_b, ΣB_b, ... */
    ya[4] = _mm512_maskz_mov_epi32(0x3333, _mm512_mullo_epi32(s, _mm512_set1_epi32(-128)));
    uint16_t h[8];
    for (int k = 0; k < 8; k++) memcpy(&h[k], &y[k].d, 2);
    const __m128i hy = _mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3], (short)h[4], (short)h[5],
                                      (short)h[6], (short)h[7]);
    ya[5] = _mm512_castpd_si512(_mm512_cvtps_pd(_mm256_cvtph_ps(hy)));
}

/* One group × one column: the 8 exact block sums times d_x·d_y (exact in double) added
 * to lane k of acc. */
QTK_FORCE_INLINE __m512d nl_mul(const nl_unpacked *u, const __m512i ya[NL_ACT], __m512d acc) {
    __m512i dA = _mm512_maskz_mov_epi32(0x1111, ya[4]), dB = _mm512_maskz_mov_epi32(0x2222, ya[4]);
    dA = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(dA, u->t[0], ya[0]), u->t[2], ya[2]);
    dB = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(dB, u->t[1], ya[1]), u->t[3], ya[3]);
    const __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi32(dA, dB), _mm512_unpackhi_epi32(dA, dB));
    const __m512i s = _mm512_add_epi32(t, _mm512_shuffle_epi32(t, (_MM_PERM_ENUM)0x4E));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i sums = _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, s));
    const __m512d dd = _mm512_mul_pd(u->dx, _mm512_castsi512_pd(ya[5]));
    return _mm512_add_pd(acc, _mm512_mul_pd(_mm512_cvtepi32_pd(sums), dd));
}

QTK_FORCE_INLINE void nl_tile(const int mx, const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as,
                              const __m512i *tab, float *out, size_t os) {
    const __m512i table = nl_table(mx);
    const size_t bs = mx ? sizeof(qtk_block_mxfp4) : sizeof(qtk_block_iq4_nl);
    const int64_t ng = nb / 8;
    __m512d acc[4];
    for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_pd();
    for (int64_t g = 0; g < ng; g++) {
        nl_unpacked u;
        qtk_prefetch_ahead(w + (size_t)g * 8 * bs, 8 * (int)bs);
        nl_unpack(mx, w + (size_t)g * 8 * bs, table, &u);
        for (int c = 0; c < C; c++) {
            __m512i ya[NL_ACT];
            if (tab) {
                for (int k = 0; k < NL_ACT; k++) ya[k] = tab[((size_t)c * (size_t)ng + (size_t)g) * NL_ACT + k];
            } else {
                nl_act((const qtk_block_q8_0 *)(const void *)(a + (size_t)c * as) + 8 * g, ya);
            }
            acc[c] = nl_mul(&u, ya, acc[c]);
        }
    }
    const __m256i tab16 = _mm256_broadcastsi128_si256(
        _mm_loadu_si128((const __m128i *)(const void *)(mx ? qtk_kvalues_mxfp4 : qtk_iq4nl_values)));
    for (int c = 0; c < C; c++) {
        double r[8];
        _mm512_storeu_pd(r, acc[c]);
        const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)(a + (size_t)c * as);
        for (int64_t k = 8 * ng; k < nb; k++) {
            const uint8_t *xb = w + (size_t)k * bs;
            const __m256i p = nl_block_dot(xb + (mx ? 1 : 2), y[k].qs, tab16);
            const double dx = mx ? (double)qtk_mxfp4_scale(xb[0]) : (double)fp16_f16c(xb);
            r[k % 8] += (double)qtk_hsum_i32x8(p) * (dx * (double)fp16_f16c(&y[k].d));
        }
        out[(size_t)c * os] = (float)qtk_iq4_nl_reduce8(r);
    }
}

/* (column, 8-block group) pairs the stack table of a call holds: 48 KiB, one column
 * of 32768 weights (see T1_MAX_SB in kquants_avx512.c for why that many). */
#define NL_TAB_G (QTK_TABLE_ROW_WEIGHTS / 256)
QTK_FORCE_INLINE void nl_mul_mat(const int mx, int64_t n, const void *w, size_t ws, const void *a, size_t as,
                                 float *out, size_t os, int64_t nr, int64_t nc) {
    const int64_t nb = n / 32, ng = nb / 8;
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;
    __m512i tab[NL_TAB_G * NL_ACT];
    for (int64_t c = 0; c < nc;) {
        const int C = nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;
        const uint8_t *ac = ab + (size_t)c * as;
        const __m512i *tp = NULL;
        if (nr > 1 && ng > 0 && C * ng <= NL_TAB_G) {
            for (int cc = 0; cc < C; cc++)
                for (int64_t g = 0; g < ng; g++)
                    nl_act((const qtk_block_q8_0 *)(const void *)(ac + (size_t)cc * as) + 8 * g,
                           &tab[((size_t)cc * (size_t)ng + (size_t)g) * NL_ACT]);
            tp = tab;
        }
        for (int64_t r = 0; r < nr; r++) {
            const uint8_t *wr = wb + (size_t)r * ws;
            float *o = out + (size_t)c * os + (size_t)r;
            if (C == 4) nl_tile(mx, 4, nb, wr, ac, as, tp, o, os);
            else if (C == 2) nl_tile(mx, 2, nb, wr, ac, as, tp, o, os);
            else nl_tile(mx, 1, nb, wr, ac, as, tp, o, os);
        }
        c += C;
    }
}

void qtk_iq4_nl_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc) {
    nl_mul_mat(0, n, w, ws, a, as, out, os, nr, nc);
}

void qtk_mxfp4_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                              int64_t nr, int64_t nc) {
    nl_mul_mat(1, n, w, ws, a, as, out, os, nr, nc);
}

/* MXFP4 × Q8_0: the 1 × 1 tile. Unlike the scalar kernel (float sums in block order)
 * the exact block products are summed in double, 8 lanes, within the test tolerance. */
void qtk_mxfp4_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    nl_tile(1, 1, n / 32, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, s, 0);
}

/* IQ4_NL × Q8_0: the 1 × 1 tile. */
void qtk_iq4_nl_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    nl_tile(0, 1, n / 32, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, s, 0);
}
