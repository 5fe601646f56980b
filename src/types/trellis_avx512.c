/*
 * trellis_avx512.c — AVX-512 (VNNI) kernels of the KT types: the dot
 * product with Q8_0 activations, 16 generator lanes at once (two groups of
 * 8, or four of 4; the byte sums by vpdpbusd), the matrix × vector form of
 * IQ1_KT/IQ2_KT/IQ4_KT, and the quantizers' chunk scan (16 candidates per
 * register, trellis.h). Per 32-block integer sums accumulated in float in the
 * scalar kernel's order: bit-identical results.
 */
#include "trellis.h"
#include "grids.h"
#include "simd_x86.h"

#include <immintrin.h>
#include <math.h>

static inline __m256i loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

static float rd_f32(const void *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* 16 generator values from 16 states. */
QTK_FORCE_INLINE __m512i kt_vals16(__m512i x) {
    const __m512i s = _mm512_and_si512(x, _mm512_set1_epi32(0x3F3F3F3F));
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), s, _mm512_set1_epi8(1)),
                            _mm512_set1_epi32(126));
}

QTK_FORCE_INLINE __m512i kt_dot16(__m512i acc, __m512i v, const int8_t *a) {
    const __m512i a32 = _mm512_and_si512(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)a)),
                                         _mm512_set1_epi32(0xFFFF));
    return _mm512_add_epi32(acc, _mm512_madd_epi16(v, a32));
}

/* Generator powers MUL^1.. per lane: 2 groups of 8 (IQ1/IQ2/IQ3_KT) or 4 groups of 4 (IQ4_KT). */
typedef struct {
    __m512i pw8, pw4;
} kt_powers;

static kt_powers kt_powers_init(void) {
    const uint32_t *P = qtk_kt_mul_pow;
    kt_powers k;
    k.pw8 = _mm512_setr_epi32((int)P[0], (int)P[1], (int)P[2], (int)P[3], (int)P[4], (int)P[5], (int)P[6], (int)P[7],
                              (int)P[0], (int)P[1], (int)P[2], (int)P[3], (int)P[4], (int)P[5], (int)P[6], (int)P[7]);
    k.pw4 = _mm512_setr_epi32((int)P[0], (int)P[1], (int)P[2], (int)P[3], (int)P[0], (int)P[1], (int)P[2], (int)P[3],
                              (int)P[0], (int)P[1], (int)P[2], (int)P[3], (int)P[0], (int)P[1], (int)P[2], (int)P[3]);
    return k;
}

/* Values 16h .. 16h + 15 of sub-block s (signs applied): what kt_sub_values
 * (trellis.c) computes, 16 lanes at once. */
QTK_FORCE_INLINE __m512i kt_half16(int type, const qtk_kt_sub *s, int h, const kt_powers *k) {
    const uint32_t *sd = s->seed;
    if (type == QTK_TYPE_IQ4_KT) {
        const int g = 4 * h;
        const __m512i seed = _mm512_setr_epi32((int)sd[g], (int)sd[g], (int)sd[g], (int)sd[g], (int)sd[g + 1],
                                               (int)sd[g + 1], (int)sd[g + 1], (int)sd[g + 1], (int)sd[g + 2],
                                               (int)sd[g + 2], (int)sd[g + 2], (int)sd[g + 2], (int)sd[g + 3],
                                               (int)sd[g + 3], (int)sd[g + 3], (int)sd[g + 3]);
        return kt_vals16(_mm512_mullo_epi32(seed, k->pw4));
    }
    const int g = 2 * h;
    const __m512i seed = _mm512_inserti64x4(_mm512_set1_epi32((int)sd[g]), _mm256_set1_epi32((int)sd[g + 1]), 1);
    __m512i v = kt_vals16(_mm512_mullo_epi32(seed, k->pw8));
    if (type == QTK_TYPE_IQ3_KT) {
        const __mmask16 neg = (__mmask16)(s->signs >> (16 * h));
        v = _mm512_abs_epi32(v);
        v = _mm512_mask_sub_epi32(v, neg, _mm512_setzero_si512(), v);
    }
    return v;
}

/* ---- dot product with Q8_0 activations ------------------------------------ */

/* One super-block's generator seeds as int32 vectors (seeds[k] = groups 16k ..
 * 16k + 15; 32 groups of 8 values, IQ4_KT 64 groups of 4), its 8 block scales,
 * and (IQ3_KT) the 8 blocks' 32-bit sign masks: qtk_kt_unpack's numbers,
 * decoded in vector lanes. */
typedef struct {
    __m512i seeds[4];
    __m256i scale;
    uint32_t signs[8];
} kt_super;

QTK_FORCE_INLINE __m512i kt_u8x16(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)); }

/* `signs`: IQ3_KT's per-block sign masks too (vec_dot's form). */
QTK_FORCE_INLINE void kt_unpack_avx512(int type, const uint8_t *blk, kt_super *u, int signs) {
    const __m512i offset = _mm512_set1_epi32((int)QTK_KT_OFFSET);
    const __m512i iq4nl = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)qtk_iq4nl_values));
    if (type == QTK_TYPE_IQ2_KT || type == QTK_TYPE_IQ3_KT) {
        /* 4 scale bytes (nibble b = sub-block b, low nibbles first), 32 u16 seeds, IQ3: 32 sign bytes */
        for (int k = 0; k < 2; k++)
            u->seeds[k] = _mm512_add_epi32(
                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(blk + 4 + 32 * k))), offset);
        uint32_t sc;
        memcpy(&sc, blk, 4);
        const __m256i nib = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)sc), _mm256_setr_epi32(0, 8, 16, 24, 4, 12, 20, 28)),
                                             _mm256_set1_epi32(15));
        u->scale = type == QTK_TYPE_IQ2_KT ? _mm512_castsi512_si256(_mm512_permutexvar_epi32(_mm512_castsi256_si512(nib), iq4nl)) : nib;
        if (type == QTK_TYPE_IQ3_KT && signs) { /* bit b of qh[p] is the sign of value p of sub-block b */
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 68));
            for (int b = 0; b < 8; b++) u->signs[b] = (uint32_t)_mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << b)));
        }
    } else if (type == QTK_TYPE_IQ1_KT) {
        /* sh[8]: low nibble the scale index, bits 4..7 bit 12 of the block's 4 seeds; ql[32]; qh[16] nibbles */
        const __m512i sh = _mm512_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)blk));
        const __m512i qh = kt_u8x16(blk + 40);
        const __m512i g4 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        const __m512i bitpos = _mm512_setr_epi32(4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7);
        for (int k = 0; k < 2; k++) {
            const __m512i nib = k == 0 ? _mm512_and_si512(qh, _mm512_set1_epi32(15)) : _mm512_srli_epi32(qh, 4);
            const __m512i shg = _mm512_permutexvar_epi32(_mm512_add_epi32(g4, _mm512_set1_epi32(4 * k)), sh);
            const __m512i b12 = _mm512_and_si512(_mm512_srlv_epi32(shg, bitpos), _mm512_set1_epi32(1));
            const __m512i idx = _mm512_or_si512(_mm512_or_si512(kt_u8x16(blk + 8 + 16 * k), _mm512_slli_epi32(nib, 8)),
                                                _mm512_slli_epi32(b12, 12));
            u->seeds[k] = _mm512_add_epi32(idx, offset);
        }
        u->scale = _mm512_castsi512_si256(_mm512_permutexvar_epi32(_mm512_and_si512(sh, _mm512_set1_epi32(15)), iq4nl));
    } else { /* IQ4_KT: 8 u32 shb (bit 0 offset, bits 1..7 scale + 64, bits 8.. 3 bits per group), ql[64], qh[32] */
        const __m256i shb = _mm256_loadu_si256((const __m256i *)(const void *)blk);
        const __m512i shz = _mm512_castsi256_si512(shb);
        const __m512i pair = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        /* seed = ql | nibble << 8 | 3 bits << 12 | offset bit << 15, + 4096: the 3 bits of group
         * j (bits 8 + 3j of the block's word) rotated to bit 12, two bitwise selects and an
         * or-and (vpternlogd) */
        const __m512i rot = _mm512_setr_epi32(28, 31, 2, 5, 8, 11, 14, 17, 28, 31, 2, 5, 8, 11, 14, 17);
        const __m512i m_nib = _mm512_set1_epi32(0x0F00), m_off = _mm512_set1_epi32(0x8000), m_hi = _mm512_set1_epi32(0xFF00);
        for (int k = 0; k < 4; k++) {
            const __m512i q = kt_u8x16(blk + 96 + 16 * (k & 1));
            const __m512i n8 = k < 2 ? _mm512_slli_epi32(q, 8) : _mm512_slli_epi32(q, 4); /* nibble in bits 8-11 */
            const __m512i s = _mm512_permutexvar_epi32(_mm512_add_epi32(pair, _mm512_set1_epi32(2 * k)), shz);
            const __m512i nh = _mm512_ternarylogic_epi32(m_nib, n8, _mm512_rorv_epi32(s, rot), 0xCA);
            const __m512i z = _mm512_ternarylogic_epi32(m_off, _mm512_slli_epi32(s, 15), nh, 0xCA);
            u->seeds[k] = _mm512_add_epi32(_mm512_ternarylogic_epi32(kt_u8x16(blk + 32 + 16 * k), z, m_hi, 0xF8), offset);
        }
        u->scale = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_and_si256(shb, _mm256_set1_epi32(0xFF)), 1), _mm256_set1_epi32(64));
    }
}

/* The masked states (bytes 0x3F3F3F3F of x = seed · MUL^k) of values 16h .. 16h + 15 of sub-block b. */
QTK_FORCE_INLINE __m512i kt_half_states(int type, const kt_super *u, int b, int h, const kt_powers *k) {
    __m512i seed;
    if (type == QTK_TYPE_IQ4_KT) {
        const int g = (8 * b + 4 * h) % 16;
        const __m512i sel = _mm512_add_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), _mm512_set1_epi32(g));
        seed = _mm512_permutexvar_epi32(sel, u->seeds[b / 2]);
    } else {
        const int g = (4 * b + 2 * h) % 16;
        const __m512i sel = _mm512_add_epi32(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), _mm512_set1_epi32(g));
        seed = _mm512_permutexvar_epi32(sel, u->seeds[b / 4]);
    }
    const __m512i x = _mm512_mullo_epi32(seed, type == QTK_TYPE_IQ4_KT ? k->pw4 : k->pw8);
    return _mm512_and_si512(x, _mm512_set1_epi32(0x3F3F3F3F));
}

/* Values 16h .. 16h + 15 of sub-block b (signs applied), from the seed vectors:
 * kt_half16's numbers (vals = Σ bytes − 126 in one vpdpbusd from −126). */
QTK_FORCE_INLINE __m512i kt_half_values(int type, const kt_super *u, int b, int h, const kt_powers *k) {
    __m512i v = _mm512_dpbusd_epi32(_mm512_set1_epi32(-126), kt_half_states(type, u, b, h, k), _mm512_set1_epi8(1));
    if (type == QTK_TYPE_IQ3_KT) {
        const __mmask16 neg = (__mmask16)(u->signs[b] >> (16 * h));
        v = _mm512_abs_epi32(v);
        v = _mm512_mask_sub_epi32(v, neg, _mm512_setzero_si512(), v);
    }
    return v;
}

/* The 16-lane integer sums of 8 sub-blocks as one vector of their 8 totals (block
 * order): a transposed add tree, 24 operations instead of 8 horizontal sums. */
QTK_FORCE_INLINE __m256i kt_totals8(const __m512i a[8]) {
    __m512i s[4], t[2];
    for (int i = 0; i < 4; i++) /* 256-bit halves of a[2i] and a[2i+1]: 8 partials of each */
        s[i] = _mm512_add_epi32(_mm512_shuffle_i64x2(a[2 * i], a[2 * i + 1], 0x44),
                                _mm512_shuffle_i64x2(a[2 * i], a[2 * i + 1], 0xEE));
    for (int i = 0; i < 2; i++) /* 128-bit lane k = block 4i + k, 4 partials */
        t[i] = _mm512_add_epi32(_mm512_shuffle_i64x2(s[2 * i], s[2 * i + 1], 0x88),
                                _mm512_shuffle_i64x2(s[2 * i], s[2 * i + 1], 0xDD));
    __m512i v = _mm512_add_epi32(_mm512_unpacklo_epi32(t[0], t[1]), _mm512_unpackhi_epi32(t[0], t[1]));
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC)); /* lane k: [tot k, tot 4+k, …] */
    return _mm512_castsi512_si256(
        _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0), v));
}

/* The 8 lanes of a row's sum (lane b: the 32-blocks b of every super-block) added
 * in qtk_kt_sum8's order. */
static inline float kt_sum8(__m256 v) {
    float p[8];
    _mm256_storeu_ps(p, v);
    return qtk_kt_sum8(p);
}

/* Σ_b d_y[b]·(S_b·Σ v·y): the scalar kernel's products, 8 blocks at once, added
 * lane-wise as it adds them (qtk_kt_sum8, trellis.h): the scalar kernel's bits. */
QTK_FORCE_INLINE void kt_vec_dot_avx512(int type, float factor, size_t bb, int64_t n, float *s, const void *vx,
                                        const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const float d = rd_f32(p) * factor;
    p += 4;
    const kt_powers k = kt_powers_init();
    __m256 sumv = _mm256_setzero_ps();
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        kt_super u;
        qtk_prefetch_ahead(p, (int)bb);
        kt_unpack_avx512(type, p, &u, 1);
        __m512i acc[8];
        uint16_t ydh[8];
        for (int b = 0; b < 8; b++) {
            const qtk_block_q8_0 *yb = &y[ibl * 8 + b];
            acc[b] = _mm512_setzero_si512();
            for (int h = 0; h < 2; h++) acc[b] = kt_dot16(acc[b], kt_half_values(type, &u, b, h, &k), yb->qs + 16 * h);
            ydh[b] = yb->d;
        }
        const __m256i isum = kt_totals8(acc);
        const __m256 yd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)ydh));
        sumv = _mm256_add_ps(sumv, _mm256_mul_ps(yd, _mm256_cvtepi32_ps(_mm256_mullo_epi32(u.scale, isum))));
    }
    *s = d * kt_sum8(sumv);
}

void qtk_iq1_kt_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx512(QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1, 56, n, s, x, y);
}
void qtk_iq2_kt_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx512(QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2, 68, n, s, x, y);
}
void qtk_iq3_kt_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx512(QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3, 100, n, s, x, y);
}
void qtk_iq4_kt_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx512(QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4, 128, n, s, x, y);
}

/* ---- matrix × vector (mul_mat) of the KT types -------------------------------
 * A value is v = Σ of the 4 masked state bytes − 126, so Σ v·y over a sub-block is
 * Σ_lanes vpdpbusd(masked state, y repeated in the 4 bytes of its lane) − 126·Σy.
 * Here a lane is a generator group, not a value: seed register r of the unpack
 * holds groups 16r .. 16r + 15, and state k of all 16 groups is seeds · MUL^(k+1),
 * one multiply per 16 values with no seed broadcast (vec_dot's form needs a vpermd
 * per 16 values and a 24-operation add tree per super-block). The activation
 * table, made once per call and column, holds for (r, k) the activation of value
 * k of each of those 16 groups, repeated in the 4 bytes of its lane; lane l of
 * register r's sums is then group 16r + l's Σ, and the 8 block totals are sums of
 * adjacent lanes. The integer totals are vec_dot's, the float steps the same in
 * the same order, so the results are vec_dot's bits (test_dot compares every
 * column count). IQ3_KT's values are |v| with signs (kt_iq3_totals). */
#define KT_CHUNK_SB 32 /* super-blocks per activation table (32 KiB of repeated quants) */

typedef struct {
    __m512i rep[KT_CHUNK_SB * 16]; /* [super-block][seed register r][power k] */
    __m256i s126[KT_CHUNK_SB];     /* 126·Σy of the 8 blocks */
    __m256 yd[KT_CHUNK_SB];        /* d_y of the 8 blocks */
} kt_col_table;

/* The table of one column. Groups of 8 values (IQ1_KT, IQ2_KT, IQ3_KT): register r's
 * groups are the 128 activations of blocks 4r .. 4r + 3; a byte shuffle turns each
 * 128-bit lane's two groups into 8 words (value k of both), one word permute per k
 * gathers the 8 words of value k of all 16 groups into every 128-bit lane, and the
 * repeat shuffle spreads byte l over lane l's 4 bytes (IQ3_KT: sign-extends it to
 * lane l). Groups of 4 (IQ4_KT): the same with a 4 × 4 byte transpose per 128-bit
 * lane and a dword permute. */
static void kt_col_table_make(int type, const qtk_block_q8_0 *y, int64_t nsb, kt_col_table *t) {
    int8_t rep_idx[64], tr8[64], tr4[64];
    int16_t w8[32];
    int32_t d4[16];
    for (int j = 0; j < 64; j++) {
        rep_idx[j] = (int8_t)(4 * (j / 16) + (j % 16) / 4); /* lane L byte j: source byte 4L + j/4 */
        tr8[j] = (int8_t)(8 * (j % 2) + (j % 16) / 2);      /* byte 2k + i: group i's value k */
        tr4[j] = (int8_t)(4 * (j % 4) + (j % 16) / 4);      /* byte 4k + i: group i's value k */
    }
    for (int m = 0; m < 32; m++) w8[m] = (int16_t)((m % 8 < 4 ? 0 : 32) + 8 * (m % 4)); /* word k of lane m%8 */
    for (int m = 0; m < 16; m++) d4[m] = 4 * (m % 4);                                     /* dword k of lane m%4 */
    const __m512i ri = _mm512_loadu_si512((const void *)rep_idx);
    const __m512i t8 = _mm512_loadu_si512((const void *)tr8), t4 = _mm512_loadu_si512((const void *)tr4);
    const __m512i iw = _mm512_loadu_si512((const void *)w8), id = _mm512_loadu_si512((const void *)d4);
    for (int64_t i = 0; i < nsb; i++) {
        const qtk_block_q8_0 *yb = y + 8 * i;
        __m512i *rep = &t->rep[16 * i];
        if (type == QTK_TYPE_IQ4_KT) {
            for (int r = 0; r < 4; r++) {
                const __m512i z = _mm512_shuffle_epi8(qtk_join256(loadu256(yb[2 * r].qs), loadu256(yb[2 * r + 1].qs)), t4);
                for (int k = 0; k < 4; k++)
                    rep[4 * r + k] = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(_mm512_add_epi32(id, _mm512_set1_epi32(k)), z), ri);
            }
        } else {
            for (int r = 0; r < 2; r++) {
                const __m512i z0 = _mm512_shuffle_epi8(qtk_join256(loadu256(yb[4 * r].qs), loadu256(yb[4 * r + 1].qs)), t8);
                const __m512i z1 = _mm512_shuffle_epi8(qtk_join256(loadu256(yb[4 * r + 2].qs), loadu256(yb[4 * r + 3].qs)), t8);
                for (int k = 0; k < 8; k++) {
                    const __m512i g = _mm512_permutex2var_epi16(z0, _mm512_add_epi16(iw, _mm512_set1_epi16((short)k)), z1);
                    rep[8 * r + k] = type == QTK_TYPE_IQ3_KT ? _mm512_cvtepi8_epi32(_mm512_castsi512_si128(g)) : _mm512_shuffle_epi8(g, ri);
                }
            }
        }
        uint16_t ydh[8];
        int32_t sy[8];
        for (int b = 0; b < 8; b++) {
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) sum += yb[b].qs[j];
            sy[b] = 126 * sum;
            ydh[b] = yb[b].d;
        }
        t->s126[i] = _mm256_loadu_si256((const __m256i *)(const void *)sy);
        t->yd[i] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)ydh));
    }
}

/* Σ over states k0, k0 + 2, … < np of seed register `seeds` against table registers rep[k]. */
QTK_FORCE_INLINE __m512i kt_group_sums(__m512i acc, __m512i seeds, const __m512i *pw, const __m512i *rep, int k0, int np) {
    const __m512i mask = _mm512_set1_epi32(0x3F3F3F3F);
    for (int k = k0; k < np; k += 2)
        acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_mullo_epi32(seeds, pw[k]), mask), rep[k]);
    return acc;
}

/* The 8 block totals (block order) of two registers whose 128-bit lane L holds the
 * 4 partials of blocks `lo` + L (a) and `hi` + L (b): 0..3 and 4..7. */
QTK_FORCE_INLINE __m256i kt_lane_totals(__m512i a, __m512i b, __m512i order) {
    const __m512i va = _mm512_add_epi32(a, _mm512_shuffle_epi32(a, _MM_PERM_BADC));
    const __m512i vb = _mm512_add_epi32(b, _mm512_shuffle_epi32(b, _MM_PERM_BADC));
    const __m512i w = _mm512_mask_blend_epi32(0xCCCC, va, vb); /* lane L: a's two pair sums, b's */
    const __m512i z = _mm512_add_epi32(w, _mm512_shuffle_epi32(w, _MM_PERM_CDAB));
    return _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, z));
}

/* One IQ3_KT super-block's 8 block totals of Σ v·y: |v| by vpdpbusd from −126 and
 * vpabsd, the sign put on the activation (masked negate), the product by vpdpwssd
 * (|v| ≤ 126 and the activation in the low halves; the high half of |v| is 0). The
 * sign of value k of group 16r + l (sub-block b = 4r + l/4, value 8·(l%4) + k) is bit
 * b of qh[8·(l%4) + k]: with dword k of q = qh[k], qh[8 + k], qh[16 + k], qh[24 + k],
 * lane l of a test of q_k against bit 8·(l%4) + 4r + l/4. */
QTK_FORCE_INLINE __m256i kt_iq3_totals(const kt_super *u, const uint8_t *qh, const __m512i *pw, const __m512i *rep,
                                       __m512i order) {
    const __m512i mask = _mm512_set1_epi32(0x3F3F3F3F), ones = _mm512_set1_epi8(1), m126 = _mm512_set1_epi32(-126);
    const __m512i q = _mm512_castsi256_si512(qtk_bytes_4x8_transpose(qh));
    __m512i bits[2], acc[2][2];
    for (int r = 0; r < 2; r++) {
        int32_t b[16];
        for (int l = 0; l < 16; l++) b[l] = (int32_t)(1u << (8 * (l % 4) + 4 * r + l / 4));
        bits[r] = _mm512_loadu_si512((const void *)b);
        acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    }
    for (int k = 0; k < 8; k++) {
        const __m512i qk = _mm512_permutexvar_epi32(_mm512_set1_epi32(k), q);
        for (int r = 0; r < 2; r++) {
            const __m512i y = rep[8 * r + k];
            const __m512i v = _mm512_abs_epi32(_mm512_dpbusd_epi32(m126, _mm512_and_si512(_mm512_mullo_epi32(u->seeds[r], pw[k]), mask), ones));
            acc[r][k & 1] = _mm512_dpwssd_epi32(acc[r][k & 1], v, _mm512_mask_sub_epi32(y, _mm512_test_epi32_mask(qk, bits[r]), _mm512_setzero_si512(), y));
        }
    }
    return kt_lane_totals(_mm512_add_epi32(acc[0][0], acc[0][1]), _mm512_add_epi32(acc[1][0], acc[1][1]), order);
}

/* One row over super-blocks i0 <= i < i1 of the table's chunk, into its 8 lanes. */
QTK_FORCE_INLINE __m256 kt_row_chunk(int type, size_t bb, const uint8_t *p, int64_t i0, int64_t i1,
                                     const kt_col_table *t, const __m512i *pw, __m256 sumv) {
    const int np = type == QTK_TYPE_IQ4_KT ? 4 : 8, nreg = 16 / np;
    for (int64_t i = i0; i < i1; i++, p += bb) {
        kt_super u;
        qtk_prefetch_ahead(p, (int)bb);
        kt_unpack_avx512(type, p, &u, 0);
        const __m512i *rep = &t->rep[16 * (i - i0)];
        __m512i acc[4];
        if (type != QTK_TYPE_IQ3_KT)
            for (int r = 0; r < nreg; r++) /* two chains per register */
                acc[r] = _mm512_add_epi32(kt_group_sums(_mm512_setzero_si512(), u.seeds[r], pw, rep + np * r, 0, np),
                                          kt_group_sums(_mm512_setzero_si512(), u.seeds[r], pw, rep + np * r, 1, np));
        const __m512i order8 = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
        __m256i tot;
        if (type == QTK_TYPE_IQ3_KT) {
            tot = kt_iq3_totals(&u, p + 68, pw, rep, order8);
        } else if (type == QTK_TYPE_IQ4_KT) {
            /* register r: block 2r in 128-bit lanes 0-1, 2r + 1 in 2-3; after the pair
             * swap-add, q[r] holds each twice, and a qword blend takes lanes [2r, 2r+2, 2r+1, 2r+3]
             * of registers r, r + 1 */
            __m512i q[4];
            for (int r = 0; r < 4; r++) q[r] = _mm512_add_epi32(acc[r], _mm512_shuffle_i64x2(acc[r], acc[r], _MM_SHUFFLE(2, 3, 0, 1)));
            const __m512i s01 = _mm512_mask_blend_epi64(0xCC, q[0], q[1]); /* blocks 0, 2, 1, 3 */
            const __m512i s23 = _mm512_mask_blend_epi64(0xCC, q[2], q[3]); /* blocks 4, 6, 5, 7 */
            tot = kt_lane_totals(s01, s23, _mm512_setr_epi32(0, 8, 4, 12, 2, 10, 6, 14, 0, 0, 0, 0, 0, 0, 0, 0));
        } else {
            tot = kt_lane_totals(acc[0], acc[1], order8);
        }
        const __m256i isum = type == QTK_TYPE_IQ3_KT ? tot : _mm256_sub_epi32(tot, t->s126[i - i0]);
        sumv = _mm256_add_ps(sumv, _mm256_mul_ps(t->yd[i - i0], _mm256_cvtepi32_ps(_mm256_mullo_epi32(u.scale, isum))));
    }
    return sumv;
}

/* Rows in groups of KT_ROWS whose 8-lane sums stay on the stack while the chunks of
 * a long row pass (the table is then made once per chunk and group; a row of one
 * chunk, every row of a model up to 8192 weights, has its table made once per call). */
#define KT_ROWS 128
QTK_FORCE_INLINE void kt_mul_mat_avx512(int type, float factor, size_t bb, int64_t n, const void *w, size_t ws,
                                        const void *a, size_t as, float *out, size_t os, int64_t nr, int64_t nc) {
    const int64_t nsb = n / QK_K;
    __m512i pw[8]; /* MUL^(k+1) in every lane */
    for (int k = 0; k < 8; k++) pw[k] = _mm512_set1_epi32((int)qtk_kt_mul_pow[k]);
    kt_col_table t;
    __m256 part[KT_ROWS];
    for (int64_t c = 0; c < nc; c++) {
        const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)((const uint8_t *)a + (size_t)c * as);
        float *o = out + (size_t)c * os;
        const int one_chunk = nsb <= KT_CHUNK_SB;
        if (one_chunk) kt_col_table_make(type, y, nsb, &t);
        for (int64_t r0 = 0; r0 < nr; r0 += KT_ROWS) {
            const int64_t R = nr - r0 < KT_ROWS ? nr - r0 : KT_ROWS;
            for (int64_t r = 0; r < R; r++) part[r] = _mm256_setzero_ps();
            for (int64_t i0 = 0; i0 < nsb; i0 += KT_CHUNK_SB) {
                const int64_t i1 = nsb - i0 < KT_CHUNK_SB ? nsb : i0 + KT_CHUNK_SB;
                if (!one_chunk) kt_col_table_make(type, y + 8 * i0, i1 - i0, &t);
                for (int64_t r = 0; r < R; r++)
                    part[r] = kt_row_chunk(type, bb, (const uint8_t *)w + (size_t)(r0 + r) * ws + 4 + (size_t)i0 * bb,
                                           i0, i1, &t, pw, part[r]);
            }
            for (int64_t r = 0; r < R; r++)
                o[r0 + r] = rd_f32((const uint8_t *)w + (size_t)(r0 + r) * ws) * factor * kt_sum8(part[r]);
        }
    }
}

void qtk_iq1_kt_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc) {
    kt_mul_mat_avx512(QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1, 56, n, w, ws, a, as, out, os, nr, nc);
}
void qtk_iq2_kt_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc) {
    kt_mul_mat_avx512(QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2, 68, n, w, ws, a, as, out, os, nr, nc);
}
void qtk_iq3_kt_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc) {
    kt_mul_mat_avx512(QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3, 100, n, w, ws, a, as, out, os, nr, nc);
}
void qtk_iq4_kt_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc) {
    kt_mul_mat_avx512(QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4, 128, n, w, ws, a, as, out, os, nr, nc);
}

/* ---- batch panels: the exact int8 values --------------------------------- */

/* to_int8 of the KT types (the batch panels' per-row step): the values of
 * kt_to_int8 (trellis.c) by kt_half16, narrowed to bytes; the same bytes and scales. */
QTK_FORCE_INLINE void kt_to_int8_avx512(int type, float factor, size_t bb, const void *row, int64_t n, float *d,
                                        int8_t *q) {
    const uint8_t *p = (const uint8_t *)row;
    const float dr = rd_f32(p) * factor;
    p += 4;
    const kt_powers k = kt_powers_init();
    qtk_kt_sub sub[8];
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        qtk_kt_unpack(type, p, sub);
        for (int b = 0; b < 8; b++) {
            d[ibl * 8 + b] = dr * (float)sub[b].scale;
            int8_t *qb = q + ibl * QK_K + 32 * b;
            for (int h = 0; h < 2; h++) /* |v| <= 126 */
                _mm_storeu_si128((__m128i *)(qb + 16 * h), _mm512_cvtepi32_epi8(kt_half16(type, &sub[b], h, &k)));
        }
    }
}

void qtk_iq1_kt_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    kt_to_int8_avx512(QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1, 56, row, n, d, q);
}
void qtk_iq2_kt_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    kt_to_int8_avx512(QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2, 68, row, n, d, q);
}
void qtk_iq3_kt_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    kt_to_int8_avx512(QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3, 100, row, n, d, q);
}
void qtk_iq4_kt_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    kt_to_int8_avx512(QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4, 128, row, n, d, q);
}

/* ---- codebook scan -------------------------------------------------------- */

/* A of 16 candidates per register for nq queries (two FMAs per coordinate and
 * query; the int8 values widened once for all) into a + q·QTK_KT_CHUNK, each
 * query's minimum into mins[q]. */
QTK_FORCE_INLINE void kt_approx16(const int8_t *v, const int nd, const int nq, int nblk, const float *w,
                                  const float *bk, float *a, float *mins) {
    __m512 wk[8], vmin[QTK_KT_MQ];
    for (int k = 0; k < nd; k++) wk[k] = _mm512_set1_ps(w[k]);
    for (int q = 0; q < nq; q++) vmin[q] = _mm512_set1_ps(INFINITY);
    for (int i = 0; i < nblk; i++) {
        const int8_t *vb = v + (size_t)i * 16 * (size_t)nd;
        __m512 acc[QTK_KT_MQ];
        for (int q = 0; q < nq; q++) acc[q] = _mm512_setzero_ps();
        for (int k = 0; k < nd; k++) {
            const __m512 c = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(vb + 16 * k))));
            for (int q = 0; q < nq; q++)
                acc[q] = _mm512_fmadd_ps(_mm512_fmadd_ps(wk[k], c, _mm512_set1_ps(bk[8 * q + k])), c, acc[q]);
        }
        for (int q = 0; q < nq; q++) {
            _mm512_storeu_ps(a + q * QTK_KT_CHUNK + 16 * i, acc[q]);
            vmin[q] = _mm512_min_ps(vmin[q], acc[q]);
        }
    }
    for (int q = 0; q < nq; q++) mins[q] = _mm512_reduce_min_ps(vmin[q]);
}

#define KT_APPROX16_CASE(ND, NQ)                                                                  \
    case 10 * (ND) + (NQ): kt_approx16(v, ND, NQ, nblk, w, bk, a, mins); break;

/* The chunk scan (trellis.h): A for every candidate and query, then each
 * query's shortlist by a compare mask. */
void qtk_kt_chunk_avx512(const int8_t *v, int nd, int nblk, int nq, const float *w, const float *bk,
                         const double *slack, float *amin, float *a, int *sel, int *nsel) {
    float mins[QTK_KT_MQ];
    switch (10 * nd + nq) {
        KT_APPROX16_CASE(8, 1) KT_APPROX16_CASE(8, 2) KT_APPROX16_CASE(8, 3) KT_APPROX16_CASE(8, 4)
        KT_APPROX16_CASE(4, 1) KT_APPROX16_CASE(4, 2) KT_APPROX16_CASE(4, 3) KT_APPROX16_CASE(4, 4)
    default: return; /* not reached: nd is 4 or 8, nq 1..QTK_KT_MQ */
    }
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int q = 0; q < nq; q++) {
        if (mins[q] < amin[q]) amin[q] = mins[q];
        const __m512 thr = _mm512_set1_ps(qtk_kt_threshold(amin[q], slack[q]));
        const float *aq = a + q * QTK_KT_CHUNK;
        int *sq = sel + q * QTK_KT_CHUNK;
        int n = 0;
        for (int i = 0; i < nblk; i++) {
            const __mmask16 le = _mm512_cmp_ps_mask(_mm512_loadu_ps(aq + 16 * i), thr, _CMP_LE_OQ);
            if (!le) continue;
            _mm512_mask_compressstoreu_epi32(sq + n, le, _mm512_add_epi32(_mm512_set1_epi32(16 * i), lane));
            unsigned c = (unsigned)le - (((unsigned)le >> 1) & 0x5555u); /* popcount of 16 bits */
            c = (c & 0x3333u) + ((c >> 2) & 0x3333u);
            c = (c + (c >> 4)) & 0x0F0Fu;
            n += (int)((c + (c >> 8)) & 0x1Fu);
        }
        nsel[q] = n;
    }
}

void qtk_kt_search_multi_avx512(const qtk_kt_book *b, int nq, int ng, const float *t, const float *w,
                                const int *cells, int *out) {
    qtk_kt_shortlist_search(b, nq, ng, t, w, cells, out, qtk_kt_chunk_avx512);
}
