/*
 * trellis_avx2.c — AVX2 kernels of the KT types: the dot product with Q8_0
 * activations (the generator runs 8 lanes at once: lane k of a group seeded
 * with s computes s·KT_MUL^(k+1), then the byte sum of x & 0x3F3F3F3F), the
 * matrix × vector form of IQ1_KT/IQ2_KT/IQ4_KT, and the quantizers' chunk
 * scan (8 candidates per register, trellis.h).
 * Per 32-block the integer sum is exact and is accumulated in float in the
 * scalar kernel's order, so results equal the scalar kernel's bit for bit.
 */
#include "trellis.h"
#include "grids.h"
#include "simd_x86.h"

#include <immintrin.h>
#include <math.h>

static inline int32_t hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* 8 generator values from 8 states x (int32 lanes). */
QTK_FORCE_INLINE __m256i kt_vals8(__m256i x) {
    const __m256i s = _mm256_and_si256(x, _mm256_set1_epi32(0x3F3F3F3F));
    const __m256i p = _mm256_maddubs_epi16(s, _mm256_set1_epi8(1));
    return _mm256_sub_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), _mm256_set1_epi32(126));
}

/* Σ v·a over 8 lanes, v, a in [-127, 127] as int32 (madd of the low halves). */
QTK_FORCE_INLINE __m256i kt_dot8(__m256i acc, __m256i v, const int8_t *a) {
    const __m256i a32 = _mm256_and_si256(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)a)),
                                         _mm256_set1_epi32(0xFFFF));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(v, a32));
}

static float rd_f32(const void *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* One super-block as qtk_kt_unpack's numbers: kt_seed(type, u, 4b + t) (IQ4_KT: 8b + t)
 * is the generator seed of group t of sub-block b, kt_scale(type, u, b) its scale,
 * signs[b] (IQ3_KT) bit p the sign of its value p. IQ1_KT's, IQ3_KT's and IQ4_KT's
 * seeds are decoded in vector lanes into seed[] (1.45×, 1.25× and 1.85× the scalar
 * unpack's GEMV speed); IQ2_KT keeps qtk_kt_unpack (sub[]), whose plain u16 seeds cost
 * little: every vector form of it measured 5–15 % slower (32-byte stores read back
 * 4 bytes at a time stall on store forwarding; vpermd broadcasts from registers compete
 * for the shuffle port). */
typedef struct {
    uint32_t seed[64];
    int32_t scale[8];
    uint32_t signs[8];
    qtk_kt_sub sub[8]; /* IQ2_KT */
} kt_super8;

QTK_FORCE_INLINE uint32_t kt_seed(int type, const kt_super8 *u, int g) {
    return type == QTK_TYPE_IQ2_KT ? u->sub[g / 4].seed[g % 4] : u->seed[g];
}
QTK_FORCE_INLINE int kt_scale(int type, const kt_super8 *u, int b) {
    return type == QTK_TYPE_IQ2_KT ? u->sub[b].scale : u->scale[b];
}
QTK_FORCE_INLINE __m256i kt_scales8(int type, const kt_super8 *u) {
    int32_t s[8];
    for (int b = 0; b < 8; b++) s[b] = kt_scale(type, u, b);
    return _mm256_loadu_si256((const __m256i *)(const void *)s);
}

QTK_FORCE_INLINE __m256i kt_u8x8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)); }

/* IQ4NL values of 8 nibbles: two 8-entry permutes, the upper one where the nibble is > 7. */
QTK_FORCE_INLINE __m256i kt_iq4nl8(__m256i nib) {
    const __m256i lo = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)qtk_iq4nl_values));
    const __m256i hi = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(qtk_iq4nl_values + 8)));
    return _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(lo, nib), _mm256_permutevar8x32_epi32(hi, nib),
                              _mm256_cmpgt_epi32(nib, _mm256_set1_epi32(7)));
}

/* IQ1_KT: sh[8] (low nibble the scale index, bits 4..7 bit 12 of the block's 4
 * seeds), ql[32], qh[16] nibbles. The seeds of groups 8k .. 8k + 7 (sub-blocks 2k, 2k + 1). */
QTK_FORCE_INLINE __m256i kt_iq1_seeds8(const uint8_t *blk, int k) {
    const __m256i q = kt_u8x8(blk + 40 + 8 * (k & 1));
    const __m256i nib = k < 2 ? _mm256_and_si256(q, _mm256_set1_epi32(15)) : _mm256_srli_epi32(q, 4);
    const __m256i shg = _mm256_permutevar8x32_epi32(kt_u8x8(blk), _mm256_setr_epi32(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1,
                                                                                    2 * k + 1, 2 * k + 1, 2 * k + 1));
    const __m256i b12 = _mm256_and_si256(_mm256_srlv_epi32(shg, _mm256_setr_epi32(4, 5, 6, 7, 4, 5, 6, 7)), _mm256_set1_epi32(1));
    const __m256i idx = _mm256_or_si256(_mm256_or_si256(kt_u8x8(blk + 8 + 8 * k), _mm256_slli_epi32(nib, 8)),
                                        _mm256_slli_epi32(b12, 12));
    return _mm256_add_epi32(idx, _mm256_set1_epi32((int)QTK_KT_OFFSET));
}
QTK_FORCE_INLINE __m256i kt_iq1_scales8(const uint8_t *blk) {
    return kt_iq4nl8(_mm256_and_si256(kt_u8x8(blk), _mm256_set1_epi32(15)));
}

/* IQ2_KT, IQ3_KT: 4 scale bytes (nibble b = sub-block b, low nibbles first), 32 u16 seeds.
 * The seeds of groups 8r .. 8r + 7. */
QTK_FORCE_INLINE __m256i kt_iq2_seeds8(const uint8_t *blk, int r) {
    return _mm256_add_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(blk + 4 + 16 * r))),
                            _mm256_set1_epi32((int)QTK_KT_OFFSET));
}
/* The block scales: IQ4NL values of the nibbles (IQ2_KT) or the nibbles (IQ3_KT). */
QTK_FORCE_INLINE __m256i kt_iq2_scales8(const uint8_t *blk, int iq4nl) {
    uint32_t sc;
    memcpy(&sc, blk, 4);
    const __m256i nib = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)sc), _mm256_setr_epi32(0, 8, 16, 24, 4, 12, 20, 28)),
                                         _mm256_set1_epi32(15));
    return iq4nl ? kt_iq4nl8(nib) : nib;
}

/* IQ4_KT: 8 u32 shb (bit 0 offset, bits 1..7 scale + 64, bits 8.. 3 bits per group),
 * ql[64], qh[32]. The seeds of groups 8b .. 8b + 7 (sub-block b). */
QTK_FORCE_INLINE __m256i kt_iq4_seeds8(const uint8_t *blk, int b) {
    const __m256i q = kt_u8x8(blk + 96 + 8 * (b & 3));
    const __m256i nib = b < 4 ? _mm256_and_si256(q, _mm256_set1_epi32(15)) : _mm256_srli_epi32(q, 4);
    const __m256i s = _mm256_set1_epi32((int)qtk_rd32(blk + 4 * b));
    const __m256i hi3 = _mm256_and_si256(_mm256_srlv_epi32(s, _mm256_setr_epi32(8, 11, 14, 17, 20, 23, 26, 29)), _mm256_set1_epi32(7));
    const __m256i off = _mm256_add_epi32(_mm256_set1_epi32((int)QTK_KT_OFFSET), _mm256_slli_epi32(_mm256_and_si256(s, _mm256_set1_epi32(1)), 15));
    return _mm256_add_epi32(_mm256_or_si256(_mm256_or_si256(kt_u8x8(blk + 32 + 8 * b), _mm256_slli_epi32(nib, 8)), _mm256_slli_epi32(hi3, 12)),
                            off);
}
QTK_FORCE_INLINE __m256i kt_iq4_scales8(const uint8_t *blk) {
    const __m256i shb = _mm256_loadu_si256((const __m256i *)(const void *)blk);
    return _mm256_sub_epi32(_mm256_srli_epi32(_mm256_and_si256(shb, _mm256_set1_epi32(0xFF)), 1), _mm256_set1_epi32(64));
}

QTK_FORCE_INLINE void kt_unpack_avx2(int type, const uint8_t *blk, kt_super8 *u) {
    if (type == QTK_TYPE_IQ2_KT) {
        qtk_kt_unpack(type, blk, u->sub);
    } else if (type == QTK_TYPE_IQ3_KT) {
        /* 4 scale bytes (nibble b = sub-block b, low nibbles first), 32 u16 seeds, 32 sign bytes */
        for (int k = 0; k < 4; k++) _mm256_storeu_si256((__m256i *)(void *)(u->seed + 8 * k), kt_iq2_seeds8(blk, k));
        for (int b = 0; b < 8; b++) u->scale[b] = (blk[b % 4] >> (4 * (b / 4))) & 0xF;
        /* bit b of qh[p] is the sign of value p of sub-block b */
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 68));
        for (int b = 0; b < 8; b++) u->signs[b] = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(qh, 7 - b));
    } else if (type == QTK_TYPE_IQ1_KT) {
        for (int k = 0; k < 4; k++) _mm256_storeu_si256((__m256i *)(void *)(u->seed + 8 * k), kt_iq1_seeds8(blk, k));
        _mm256_storeu_si256((__m256i *)(void *)u->scale, kt_iq1_scales8(blk));
    } else {
        for (int b = 0; b < 8; b++) _mm256_storeu_si256((__m256i *)(void *)(u->seed + 8 * b), kt_iq4_seeds8(blk, b));
        _mm256_storeu_si256((__m256i *)(void *)u->scale, kt_iq4_scales8(blk));
    }
}

QTK_FORCE_INLINE void kt_vec_dot_avx2(int type, float factor, size_t bb, int64_t n, float *s, const void *vx,
                                      const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const float d = rd_f32(p) * factor;
    p += 4;
    const __m256i pw8 = _mm256_loadu_si256((const __m256i *)qtk_kt_mul_pow);
    const __m256i pw4 = _mm256_setr_epi32((int)qtk_kt_mul_pow[0], (int)qtk_kt_mul_pow[1], (int)qtk_kt_mul_pow[2],
                                          (int)qtk_kt_mul_pow[3], (int)qtk_kt_mul_pow[0], (int)qtk_kt_mul_pow[1],
                                          (int)qtk_kt_mul_pow[2], (int)qtk_kt_mul_pow[3]);
    const __m256i bitsel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    kt_super8 u;
    float part[8] = {0};
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        qtk_prefetch_ahead(p, (int)bb);
        kt_unpack_avx2(type, p, &u);
        for (int b = 0; b < 8; b++) {
            const qtk_block_q8_0 *yb = &y[ibl * 8 + b];
            __m256i acc = _mm256_setzero_si256();
            if (type == QTK_TYPE_IQ4_KT) {
                const uint32_t *sd = u.seed + 8 * b;
                for (int g = 0; g < 8; g += 2) {
                    const __m256i seed = _mm256_setr_epi32((int)sd[g], (int)sd[g], (int)sd[g], (int)sd[g], (int)sd[g + 1],
                                                           (int)sd[g + 1], (int)sd[g + 1], (int)sd[g + 1]);
                    acc = kt_dot8(acc, kt_vals8(_mm256_mullo_epi32(seed, pw4)), yb->qs + 4 * g);
                }
            } else {
                for (int g = 0; g < 4; g++) {
                    __m256i v = kt_vals8(_mm256_mullo_epi32(_mm256_set1_epi32((int)kt_seed(type, &u, 4 * b + g)), pw8));
                    if (type == QTK_TYPE_IQ3_KT) {
                        const __m256i m = _mm256_cmpeq_epi32(
                            _mm256_and_si256(_mm256_set1_epi32((int)(u.signs[b] >> (8 * g))), bitsel), bitsel);
                        v = _mm256_sub_epi32(_mm256_xor_si256(_mm256_abs_epi32(v), m), m);
                    }
                    acc = kt_dot8(acc, v, yb->qs + 8 * g);
                }
            }
            const int32_t isum = hsum_i32x8(acc);
            part[b] += qtk_f16c_to_f32(yb->d) * (float)(kt_scale(type, &u, b) * isum);
        }
    }
    *s = d * qtk_kt_sum8(part);
}

void qtk_iq1_kt_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx2(QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1, 56, n, s, x, y);
}
void qtk_iq2_kt_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx2(QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2, 68, n, s, x, y);
}
void qtk_iq3_kt_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx2(QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3, 100, n, s, x, y);
}
void qtk_iq4_kt_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y) {
    kt_vec_dot_avx2(QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4, 128, n, s, x, y);
}

/* ---- matrix × vector (mul_mat) of the KT types -------------------------------
 * As on AVX-512 (trellis_avx512.c): a value is Σ of its 4 masked state bytes − 126,
 * and a lane is a generator group: seed register r holds groups 8r .. 8r + 7, state
 * k of all 8 is seeds · MUL^(k+1) (no seed broadcast). Σ v·y is vpmaddubsw of the
 * masked states against the table's activations of value k of each group, repeated
 * in the 4 bytes of its lane (pairs ≤ 2·63·128: two such results still fit int16, so
 * two states share one vpaddw and one vpmaddwd), − 126·Σy; the table and 126·Σy are
 * made once per call and column. Per sub-block the integer total equals vec_dot's,
 * and the float steps are the scalar kernel's in its order: vec_dot's bits
 * (test_dot). IQ3_KT's values are |v| with signs (kt_iq3_totals_avx2). */
#define KT_CHUNK_SB 32 /* super-blocks per activation table (32 KiB of repeated quants) */
#define KT_ROWS 128   /* rows whose 8 sums stay on the stack while the chunks of a long row pass */

typedef struct {
    int8_t rep[KT_CHUNK_SB * 32 * 32]; /* [super-block][seed register r][power k][8 lanes × 4]
                                          (byte arrays: no 32-byte stack alignment needed, which
                                          mingw lacks) */
    int32_t s126[KT_CHUNK_SB * 8]; /* 126·Σy of each block */
    float yd[KT_CHUNK_SB * 8];     /* d_y of each block */
} kt_col_table;

/* The table of one column. Groups of 8 (IQ1_KT, IQ2_KT): register r's groups are
 * blocks 2r and 2r + 1 (a, b); a byte shuffle turns each 128-bit lane's two groups
 * into words (value k of both), a word unpack of a with b makes dword k of lane L
 * the bytes k of groups 2L, 2L + 1, 4 + 2L, 5 + 2L, a dword permute puts the 8 bytes
 * of value k in both lanes and a byte shuffle repeats group l's in lane l (IQ3_KT:
 * int16 words of values k, k + 1 as kt_iq3_totals_avx2 packs them). Groups of
 * 4 (IQ4_KT): register r is block r; a 4 × 4 transpose per lane, a dword permute and
 * the repeat shuffle. */
static void kt_col_table_make(int type, const qtk_block_q8_0 *y, int64_t nsb, kt_col_table *t) {
    const __m256i tr8 = _mm256_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15, 0, 8, 1, 9, 2, 10, 3, 11, 4,
                                         12, 5, 13, 6, 14, 7, 15);
    const __m256i tr4 = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2,
                                         6, 10, 14, 3, 7, 11, 15);
    /* byte positions of groups 0..7 after the permute: 0, 1, 4, 5, 2, 3, 6, 7 (groups of 8);
     * in order (groups of 4) */
    const __m256i rep8 = _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 4, 4, 4, 4, 5, 5, 5, 5, 2, 2, 2, 2, 3, 3, 3, 3, 6, 6, 6,
                                          6, 7, 7, 7, 7);
    const __m256i rep4 = _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6,
                                          6, 7, 7, 7, 7);
    const __m256i pair = _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4);
    /* IQ3_KT, values k, k + 1 (bytes 0-7, 8-15 of each lane): groups 0-3 of both into the
     * low qword of lane 0, groups 4-7 into that of lane 1 */
    const __m256i pick3 = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 2, 3, 6, 7, 10, 11, 14,
                                           15, -1, -1, -1, -1, -1, -1, -1, -1);
    for (int64_t i = 0; i < nsb; i++) {
        const qtk_block_q8_0 *yb = y + 8 * i;
        int8_t *rep = t->rep + 1024 * i;
        if (type == QTK_TYPE_IQ4_KT) {
            for (int r = 0; r < 8; r++) {
                const __m256i z = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(const void *)yb[r].qs), tr4);
                for (int k = 0; k < 4; k++)
                    _mm256_storeu_si256((__m256i *)(void *)(rep + 32 * (4 * r + k)),
                                        _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(z, _mm256_add_epi32(pair, _mm256_set1_epi32(k))), rep4));
            }
        } else {
            for (int r = 0; r < 4; r++) {
                const __m256i a = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(const void *)yb[2 * r].qs), tr8);
                const __m256i b = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(const void *)yb[2 * r + 1].qs), tr8);
                for (int h = 0; h < 2; h++) {
                    const __m256i ab = h ? _mm256_unpackhi_epi16(a, b) : _mm256_unpacklo_epi16(a, b);
                    if (type == QTK_TYPE_IQ3_KT) {
                        for (int k = 0; k < 4; k += 2) {
                            const __m256i v2 = _mm256_permutevar8x32_epi32(ab, _mm256_setr_epi32(k, 4 + k, k + 1, 5 + k, k, 4 + k, k + 1, 5 + k));
                            const __m256i lo = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v2, pick3), 0x08);
                            _mm256_storeu_si256((__m256i *)(void *)(rep + 32 * (8 * r + 4 * h + k)), _mm256_cvtepi8_epi16(_mm256_castsi256_si128(lo)));
                        }
                        continue;
                    }
                    for (int k = 0; k < 4; k++)
                        _mm256_storeu_si256((__m256i *)(void *)(rep + 32 * (8 * r + 4 * h + k)),
                                            _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(ab, _mm256_add_epi32(pair, _mm256_set1_epi32(k))), rep8));
                }
            }
        }
        for (int b = 0; b < 8; b++) {
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) sum += yb[b].qs[j];
            t->s126[8 * i + b] = 126 * sum;
            t->yd[8 * i + b] = qtk_f16c_to_f32(yb[b].d);
        }
    }
}

/* One super-block's seed registers (register r: the seeds of groups 8r .. 8r + 7)
 * and block scales. */
QTK_FORCE_INLINE void kt_unpack_groups_avx2(int type, const uint8_t *blk, __m256i seeds[8], __m256i *scale) {
    if (type == QTK_TYPE_IQ2_KT || type == QTK_TYPE_IQ3_KT) {
        for (int r = 0; r < 4; r++) seeds[r] = kt_iq2_seeds8(blk, r);
        *scale = kt_iq2_scales8(blk, type == QTK_TYPE_IQ2_KT);
    } else if (type == QTK_TYPE_IQ1_KT) {
        for (int r = 0; r < 4; r++) seeds[r] = kt_iq1_seeds8(blk, r);
        *scale = kt_iq1_scales8(blk);
    } else {
        for (int r = 0; r < 8; r++) seeds[r] = kt_iq4_seeds8(blk, r);
        *scale = kt_iq4_scales8(blk);
    }
}

/* Σ of two states' vpmaddubsw (states k, k + 1 of `seeds`) against their table registers. */
QTK_FORCE_INLINE __m256i kt_pair16(__m256i seeds, const __m256i *pw, const int8_t *rep, int k) {
    const __m256i mask = _mm256_set1_epi32(0x3F3F3F3F);
    const __m256i s0 = _mm256_and_si256(_mm256_mullo_epi32(seeds, pw[k]), mask);
    const __m256i s1 = _mm256_and_si256(_mm256_mullo_epi32(seeds, pw[k + 1]), mask);
    return _mm256_add_epi16(_mm256_maddubs_epi16(s0, _mm256_loadu_si256((const __m256i *)(const void *)(rep + 32 * k))),
                            _mm256_maddubs_epi16(s1, _mm256_loadu_si256((const __m256i *)(const void *)(rep + 32 * (k + 1)))));
}

/* The 8 lanes of 8 sub-block accumulators as one vector of their 8 totals (block order). */
QTK_FORCE_INLINE __m256i kt_totals8_avx2(const __m256i a[8]) {
    const __m256i h01 = _mm256_hadd_epi32(a[0], a[1]), h23 = _mm256_hadd_epi32(a[2], a[3]);
    const __m256i h45 = _mm256_hadd_epi32(a[4], a[5]), h67 = _mm256_hadd_epi32(a[6], a[7]);
    const __m256i q0 = _mm256_hadd_epi32(h01, h23), q1 = _mm256_hadd_epi32(h45, h67);
    /* q0: [b0 b1 b2 b3 | b0 b1 b2 b3] halves of each, q1 the same for b4..b7 */
    return _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20), _mm256_permute2x128_si256(q0, q1, 0x31));
}

/* The 8 block totals (block order) of 4 registers whose low 128-bit lane holds partials
 * of block 2r and the high lane of block 2r + 1: the hadds leave [b0 b2 b4 b6 | b1 b3 b5 b7]. */
QTK_FORCE_INLINE __m256i kt_pair_totals_avx2(const __m256i acc[4]) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[0], acc[1]), _mm256_hadd_epi32(acc[2], acc[3]));
    return _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One IQ3_KT super-block's 8 block totals. Values k, k + 1 of register r's 8 groups
 * as 16 int16 words P = Σ bytes − 126 ([k: lanes 0-3, k + 1: lanes 0-3 | the same for
 * lanes 4-7], a vphaddw of the two vpmaddubsw); the weight is |P|·s, so P times
 * y·sign(P)·s is the product: vpsignw of y by P ^ 0x7FFF ^ W, where W is 0 or −1 by s
 * (the qh bit moved to bit 31, spread by an arithmetic shift, packed): the sign of
 * the xor is sign(P)·s, and it is never 0 for P in [−126, 126] (a plain P ^ W would be
 * 0 at P = −1, W = −1). */
QTK_FORCE_INLINE __m256i kt_iq3_totals_avx2(const __m256i seeds[4], const uint8_t *qh, const __m256i *pw, const int8_t *rep) {
    const __m256i mask = _mm256_set1_epi32(0x3F3F3F3F), ones8 = _mm256_set1_epi8(1), m7fff = _mm256_set1_epi16(0x7FFF);
    const __m256i q = qtk_bytes_4x8_transpose(qh); /* dword k: qh[k], qh[8 + k], qh[16 + k], qh[24 + k] */
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int k = 0; k < 8; k += 2) {
        const __m256i q0 = _mm256_permutevar8x32_epi32(q, _mm256_set1_epi32(k));
        const __m256i q1 = _mm256_permutevar8x32_epi32(q, _mm256_set1_epi32(k + 1));
        for (int r = 0; r < 4; r++) {
            /* lane l: block 2r + l/4, position l%4: bit 8·(l%4) + 2r + l/4 to bit 31 */
            const __m256i sh = _mm256_setr_epi32(31 - 2 * r, 23 - 2 * r, 15 - 2 * r, 7 - 2 * r, 30 - 2 * r, 22 - 2 * r, 14 - 2 * r, 6 - 2 * r);
            const __m256i s0 = _mm256_and_si256(_mm256_mullo_epi32(seeds[r], pw[k]), mask);
            const __m256i s1 = _mm256_and_si256(_mm256_mullo_epi32(seeds[r], pw[k + 1]), mask);
            const __m256i p = _mm256_sub_epi16(_mm256_hadd_epi16(_mm256_maddubs_epi16(s0, ones8), _mm256_maddubs_epi16(s1, ones8)),
                                               _mm256_set1_epi16(126));
            const __m256i w = _mm256_packs_epi32(_mm256_srai_epi32(_mm256_sllv_epi32(q0, sh), 31), _mm256_srai_epi32(_mm256_sllv_epi32(q1, sh), 31));
            const __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)(rep + 32 * (8 * r + k)));
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(p, _mm256_sign_epi16(y, _mm256_xor_si256(_mm256_xor_si256(p, m7fff), w))));
        }
    }
    return kt_pair_totals_avx2(acc); /* acc[r]: block 2r in lane 0, 2r + 1 in lane 1 */
}

QTK_FORCE_INLINE void kt_mul_mat_avx2(int type, float factor, size_t bb, int64_t n, const void *w, size_t ws,
                                      const void *a, size_t as, float *out, size_t os, int64_t nr, int64_t nc) {
    const int64_t nsb = n / QK_K;
    const int np = type == QTK_TYPE_IQ4_KT ? 4 : 8, nreg = 32 / np;
    __m256i pw[8]; /* MUL^(k+1) in every lane */
    for (int k = 0; k < 8; k++) pw[k] = _mm256_set1_epi32((int)qtk_kt_mul_pow[k]);
    const __m256i ones = _mm256_set1_epi16(1);
    kt_col_table tab, *t = &tab;
    float part[KT_ROWS][8]; /* the rows' 8 sums while the chunks of a long row pass */
    for (int64_t c = 0; c < nc; c++) {
        const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)((const uint8_t *)a + (size_t)c * as);
        float *o = out + (size_t)c * os;
        const int one_chunk = nsb <= KT_CHUNK_SB;
        if (one_chunk) kt_col_table_make(type, y, nsb, t);
        for (int64_t r0 = 0; r0 < nr; r0 += KT_ROWS) {
            const int64_t R = nr - r0 < KT_ROWS ? nr - r0 : KT_ROWS;
            memset(part, 0, sizeof part);
            for (int64_t i0 = 0; i0 < nsb; i0 += KT_CHUNK_SB) {
                const int64_t i1 = nsb - i0 < KT_CHUNK_SB ? nsb : i0 + KT_CHUNK_SB;
                if (!one_chunk) kt_col_table_make(type, y + 8 * i0, i1 - i0, t);
                for (int64_t r = 0; r < R; r++) {
                    const uint8_t *p = (const uint8_t *)w + (size_t)(r0 + r) * ws + 4 + (size_t)i0 * bb;
                    __m256 sumv = _mm256_loadu_ps(part[r]);
                    for (int64_t i = i0; i < i1; i++, p += bb) {
                        __m256i seeds[8], scale, acc[8];
                        qtk_prefetch_ahead(p, (int)bb);
                        kt_unpack_groups_avx2(type, p, seeds, &scale);
                        const int8_t *rep = t->rep + 1024 * (i - i0);
                        __m256i tot;
                        if (type == QTK_TYPE_IQ3_KT) {
                            tot = kt_iq3_totals_avx2(seeds, p + 68, pw, rep);
                        } else {
                            for (int g = 0; g < nreg; g++) { /* lane l: group 8g + l's Σ */
                                const int8_t *rg = rep + 32 * np * g;
                                acc[g] = _mm256_madd_epi16(kt_pair16(seeds[g], pw, rg, 0), ones);
                                for (int k = 2; k < np; k += 2)
                                    acc[g] = _mm256_add_epi32(acc[g], _mm256_madd_epi16(kt_pair16(seeds[g], pw, rg, k), ones));
                            }
                            if (type == QTK_TYPE_IQ4_KT) {
                                tot = kt_totals8_avx2(acc); /* register g is block g */
                            } else {
                                tot = kt_pair_totals_avx2(acc); /* register g: blocks 2g, 2g + 1 */
                            }
                            tot = _mm256_sub_epi32(tot, _mm256_loadu_si256((const __m256i *)(const void *)(t->s126 + 8 * (i - i0))));
                        }
                        sumv = _mm256_add_ps(sumv, _mm256_mul_ps(_mm256_loadu_ps(t->yd + 8 * (i - i0)),
                                                                 _mm256_cvtepi32_ps(_mm256_mullo_epi32(scale, tot))));
                    }
                    _mm256_storeu_ps(part[r], sumv);
                }
            }
            for (int64_t r = 0; r < R; r++)
                o[r0 + r] = rd_f32((const uint8_t *)w + (size_t)(r0 + r) * ws) * factor * qtk_kt_sum8(part[r]);
        }
    }
}

void qtk_iq1_kt_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc) {
    kt_mul_mat_avx2(QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1, 56, n, w, ws, a, as, out, os, nr, nc);
}
void qtk_iq2_kt_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc) {
    kt_mul_mat_avx2(QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2, 68, n, w, ws, a, as, out, os, nr, nc);
}
void qtk_iq3_kt_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc) {
    kt_mul_mat_avx2(QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3, 100, n, w, ws, a, as, out, os, nr, nc);
}
void qtk_iq4_kt_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc) {
    kt_mul_mat_avx2(QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4, 128, n, w, ws, a, as, out, os, nr, nc);
}

/* ---- codebook scan -------------------------------------------------------- */

/* A of 8 candidates per register for nq queries (two FMAs per coordinate and
 * query; the int8 values widened once for all) into a + q·QTK_KT_CHUNK, each
 * query's minimum into mins[q]. */
QTK_FORCE_INLINE void kt_approx8(const int8_t *v, const int nd, const int nq, int nblk, const float *w, const float *bk,
                                 float *a, float *mins) {
    __m256 wk[8], vmin[QTK_KT_MQ];
    for (int k = 0; k < nd; k++) wk[k] = _mm256_set1_ps(w[k]);
    for (int q = 0; q < nq; q++) vmin[q] = _mm256_set1_ps(INFINITY);
    for (int i = 0; i < 2 * nblk; i++) {
        const int8_t *vb = v + (size_t)(i / 2) * 16 * (size_t)nd + 8 * (i % 2);
        __m256 acc[QTK_KT_MQ];
        for (int q = 0; q < nq; q++) acc[q] = _mm256_setzero_ps();
        for (int k = 0; k < nd; k++) {
            const __m256 c = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(vb + 16 * k))));
            for (int q = 0; q < nq; q++)
                acc[q] = _mm256_fmadd_ps(_mm256_fmadd_ps(wk[k], c, _mm256_set1_ps(bk[8 * q + k])), c, acc[q]);
        }
        for (int q = 0; q < nq; q++) {
            _mm256_storeu_ps(a + q * QTK_KT_CHUNK + 8 * i, acc[q]);
            vmin[q] = _mm256_min_ps(vmin[q], acc[q]);
        }
    }
    for (int q = 0; q < nq; q++) {
        __m128 m4 = _mm_min_ps(_mm256_castps256_ps128(vmin[q]), _mm256_extractf128_ps(vmin[q], 1));
        m4 = _mm_min_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_min_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        mins[q] = _mm_cvtss_f32(m4);
    }
}

#define KT_APPROX8_CASE(ND, NQ)                                                                   \
    case 10 * (ND) + (NQ): kt_approx8(v, ND, NQ, nblk, w, bk, a, mins); break;

/* The chunk scan (trellis.h): A for every candidate and query, then each
 * query's shortlist by a compare mask. */
void qtk_kt_chunk_avx2(const int8_t *v, int nd, int nblk, int nq, const float *w, const float *bk, const double *slack,
                       float *amin, float *a, int *sel, int *nsel) {
    float mins[QTK_KT_MQ];
    switch (10 * nd + nq) {
        KT_APPROX8_CASE(8, 1) KT_APPROX8_CASE(8, 2) KT_APPROX8_CASE(8, 3) KT_APPROX8_CASE(8, 4)
        KT_APPROX8_CASE(4, 1) KT_APPROX8_CASE(4, 2) KT_APPROX8_CASE(4, 3) KT_APPROX8_CASE(4, 4)
    default: return; /* not reached: nd is 4 or 8, nq 1..QTK_KT_MQ */
    }
    for (int q = 0; q < nq; q++) {
        if (mins[q] < amin[q]) amin[q] = mins[q];
        const __m256 thr = _mm256_set1_ps(qtk_kt_threshold(amin[q], slack[q]));
        const float *aq = a + q * QTK_KT_CHUNK;
        int *sq = sel + q * QTK_KT_CHUNK;
        int n = 0;
        for (int i = 0; i < 2 * nblk; i++) {
            int le = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(aq + 8 * i), thr, _CMP_LE_OQ));
            for (int j = 0; le; j++, le >>= 1)
                if (le & 1) sq[n++] = 8 * i + j;
        }
        nsel[q] = n;
    }
}

void qtk_kt_search_multi_avx2(const qtk_kt_book *b, int nq, int ng, const float *t, const float *w, const int *cells,
                              int *out) {
    qtk_kt_shortlist_search(b, nq, ng, t, w, cells, out, qtk_kt_chunk_avx2);
}
