/*
 * panel_conv_avx512.c — the per-row step of the batch panels' conversion
 * (panel.h) with AVX-512, for the types where the scalar step dominates
 * prompt processing: the table's to_int8_isa[QTK_ISA_AVX512] entries.
 *
 * Each routine writes exactly the scalar step's bytes and scales (checked by
 * tests/test_panel.c on random, quantizer and adversarial blocks):
 *  - Q4_K, Q5_K, Q6_K (no exact int8 form): the type's to_float values,
 *    computed with the same float operations in the same order (dl = d·sc,
 *    ml = dmin·m, fl(fl(dl·q) − ml); Q6_K fl(dl·(q − 32))), then the panel
 *    re-quantization of qtk_panel_quant_scalar (d = max|v|/127, 1/d, one
 *    multiply, round to nearest even, clamp to ±127);
 *  - IQ4_KSS: its to_int8 (qtk_iq4_kss_to_int8): grid bytes by table
 *    shuffles and d = row scale · ((sb & 0xFE) − 127).
 * The type's scalar routine stays the source of truth; these are its
 * vector forms, not new definitions.
 */
#include "panel.h"
#include "kquants.h"
#include "grids.h"

#include <immintrin.h>

/* Re-quantizes the 8 blocks of 32 values v[2s], v[2s+1] (s < 8) of one
 * super-block: the operations of qtk_panel_quant_scalar, the division and
 * reciprocal done 8 lanes at a time (IEEE, so the same floats). */
QTK_FORCE_INLINE void requant8(const __m512 *v, float *d, int8_t *q) {
    float amax[8];
    for (int s = 0; s < 8; s++)
        amax[s] = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v[2 * s]), _mm512_abs_ps(v[2 * s + 1])));
    const __m256 am = _mm256_loadu_ps(amax);
    const __m256 dd = _mm256_div_ps(am, _mm256_set1_ps(127.0f));
    const __m256 id = _mm256_maskz_div_ps(_mm256_cmp_ps_mask(dd, _mm256_setzero_ps(), _CMP_GT_OQ),
                                          _mm256_set1_ps(1.0f), dd);
    _mm256_storeu_ps(d, dd);
    float ids[8];
    _mm256_storeu_ps(ids, id);
    const __m512i lim = _mm512_set1_epi32(127), nlim = _mm512_set1_epi32(-127);
    for (int s = 0; s < 8; s++) {
        const __m512 vid = _mm512_set1_ps(ids[s]);
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * s], vid));
        __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * s + 1], vid));
        i0 = _mm512_max_epi32(_mm512_min_epi32(i0, lim), nlim);
        i1 = _mm512_max_epi32(_mm512_min_epi32(i1, lim), nlim);
        _mm_storeu_si128((__m128i *)(q + 32 * s), _mm512_cvtepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(q + 32 * s + 16), _mm512_cvtepi32_epi8(i1));
    }
}

/* fl(fl(dl·v) − ml) for 32 unsigned levels v (decode_type1 of kquants.c). */
QTK_FORCE_INLINE void type1_values(__m256i v8, float dl, float ml, __m512 *x) {
    const __m512 vdl = _mm512_set1_ps(dl), vml = _mm512_set1_ps(ml);
    const __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(v8)));
    const __m512 f1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(v8, 1)));
    const __m512 t0 = _mm512_mul_ps(vdl, f0);
    const __m512 t1 = _mm512_mul_ps(vdl, f1);
    x[0] = _mm512_sub_ps(t0, vml);
    x[1] = _mm512_sub_ps(t1, vml);
}

/* Q4_K (qh == NULL) and Q5_K super-blocks. */
QTK_FORCE_INLINE void type1_to_int8(const uint8_t *scales, float d, float dmin, const uint8_t *qs,
                                    const uint8_t *qh, float *dout, int8_t *q) {
    uint8_t sc[8], m[8];
    qtk_kq_unpack_scales_min(scales, sc, m);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i h = _mm256_setzero_si256();
    if (qh) h = _mm256_loadu_si256((const __m256i *)qh);
    __m512 v[16];
    for (int j = 0; j < 4; j++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
        __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
        if (qh) {
            const __m256i b16 = _mm256_set1_epi8(16);
            lo = _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(h, _mm256_set1_epi8((char)(1 << (2 * j)))), lo, b16);
            hi = _mm256_mask_add_epi8(hi, _mm256_test_epi8_mask(h, _mm256_set1_epi8((char)(1 << (2 * j + 1)))), hi,
                                      b16);
        }
        type1_values(lo, d * (float)sc[2 * j], dmin * (float)m[2 * j], v + 4 * j);
        type1_values(hi, d * (float)sc[2 * j + 1], dmin * (float)m[2 * j + 1], v + 4 * j + 2);
    }
    requant8(v, dout, q);
}

void qtk_q4_K_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    const qtk_block_q4_K *b = (const qtk_block_q4_K *)row;
    for (int64_t i = 0; i < n / QK_K; i++)
        type1_to_int8(b[i].scales, qtk_kq_fp16(&b[i].d), qtk_kq_fp16(&b[i].dmin), b[i].qs, NULL, d + 8 * i,
                      q + QK_K * i);
}

void qtk_q5_K_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    const qtk_block_q5_K *b = (const qtk_block_q5_K *)row;
    for (int64_t i = 0; i < n / QK_K; i++)
        type1_to_int8(b[i].scales, qtk_kq_fp16(&b[i].d), qtk_kq_fp16(&b[i].dmin), b[i].qs, b[i].qh, d + 8 * i,
                      q + QK_K * i);
}

/* Q6_K: weight 128h + 32t + l = dl · (q − 32), dl = d · scales[k/16]. */
void qtk_q6_K_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    const qtk_block_q6_K *b = (const qtk_block_q6_K *)row;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), o32 = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float dd = qtk_kq_fp16(&b[i].d);
        __m512 v[16];
        for (int h = 0; h < 2; h++) {
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
            for (int t = 0; t < 4; t++) {
                const __m256i ql = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h + 32 * (t % 2)));
                const __m256i lo = t >= 2 ? _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4) : _mm256_and_si256(ql, m4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * t), m2);
                const __m256i s8 = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), o32);
                const int k0 = 128 * h + 32 * t;
                const __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(s8)));
                const __m512 f1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(s8, 1)));
                v[2 * (4 * h + t)] = _mm512_mul_ps(_mm512_set1_ps(dd * (float)b[i].scales[k0 / 16]), f0);
                v[2 * (4 * h + t) + 1] = _mm512_mul_ps(_mm512_set1_ps(dd * (float)b[i].scales[k0 / 16 + 1]), f1);
            }
        }
        requant8(v, d + 8 * i, q + QK_K * i);
    }
}

/* IQ4_KSS (iqk_kss.c): per super-block 128 bytes of 16-bit words; bit 0 of
 * word 8·ib + j is bit j of sub-block ib's scale byte sb, and the 4-bit
 * codes are a ^ (a >> 1) of the word with bit 0 cleared. */
void qtk_iq4_kss_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *p = (const uint8_t *)row;
    float dr;
    memcpy(&dr, p, sizeof dr);
    p += 4;
    const __m128i g0 = _mm_loadu_si128((const __m128i *)qtk_iq4nl_values);
    const __m128i g1 = _mm_loadu_si128((const __m128i *)(qtk_iq4nl_values + 16));
    const __m512i t0 = _mm512_broadcast_i32x4(g0), t1 = _mm512_broadcast_i32x4(g1);
    const __m512i m4 = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi16(1), clr = _mm512_set1_epi16((short)0xFFFE);
    const __m512i idx0 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), idx1 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 128)
        for (int half = 0; half < 2; half++) {
            const __m512i x = _mm512_loadu_si512((const void *)(p + 64 * half));
            const uint32_t sbits = (uint32_t)_mm512_test_epi16_mask(x, one);
            const __m512i a = _mm512_and_si512(x, clr);
            const __m512i c = _mm512_xor_si512(a, _mm512_srli_epi16(a, 1));
            /* 128-bit lane ib: sub-block ib's table (bit 0 of its sb) */
            __mmask16 lanes = 0;
            float *dd = d + 8 * ibl + 4 * half;
            for (int ib = 0; ib < 4; ib++) {
                const unsigned sb = (sbits >> (8 * ib)) & 0xFF;
                dd[ib] = dr * (float)((int)(sb & 0xFE) - 127);
                if (sb & 1) lanes |= (__mmask16)(0xF << (4 * ib));
            }
            const __m512i tb = _mm512_mask_blend_epi32(lanes, t0, t1);
            const __m512i lo = _mm512_shuffle_epi8(tb, _mm512_and_si512(c, m4));
            const __m512i hi = _mm512_shuffle_epi8(tb, _mm512_and_si512(_mm512_srli_epi16(c, 4), m4));
            int8_t *o = q + QK_K * ibl + 128 * half;
            _mm512_storeu_si512((void *)o, _mm512_permutex2var_epi64(lo, idx0, hi));
            _mm512_storeu_si512((void *)(o + 64), _mm512_permutex2var_epi64(lo, idx1, hi));
        }
}

/* The panel layout of 16 rows (panel.h, panel_avx512.c): per 32-block the 16
 * row scales, then 8 groups of 64 bytes, group g = bytes 4g..4g+3 of rows
 * 0..15, each byte + 128. Per block an 8 x 8 transpose of 4-byte words in
 * both 256-bit halves at once (rows r and r + 8), then whole 64-byte stores
 * instead of 128 scattered 4-byte ones. */
void qtk_panel_pack_avx512(int64_t n, const float *d, const int8_t *q, uint8_t *panel) {
    enum { R = 16 };
    const int64_t nb = n / QTK_PANEL_B;
    const size_t bb = qtk_panel_block_bytes(R);
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    const __m512i lo128 = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi128 = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    const __m512i rowidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                              _mm512_set1_epi32((int)nb));
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = panel + (size_t)b * bb;
        _mm512_storeu_ps((float *)blk, _mm512_i32gather_ps(rowidx, d + b, 4));
        __m512i z[8];
        for (int i = 0; i < 8; i++) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)(q + (size_t)i * (size_t)n + 32 * b));
            const __m256i c = _mm256_loadu_si256((const __m256i *)(q + (size_t)(i + 8) * (size_t)n + 32 * b));
            z[i] = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(a), c, 1), x80);
        }
        __m512i t[8], u[8];
        for (int i = 0; i < 4; i++) {
            t[2 * i] = _mm512_unpacklo_epi32(z[2 * i], z[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(z[2 * i], z[2 * i + 1]);
        }
        for (int i = 0; i < 2; i++) {  /* rows 4i..4i+3: u[4i + j] holds words j and j + 4 */
            u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
            u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
            u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
            u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
        }
        uint8_t *o = blk + R * sizeof(float);
        for (int j = 0; j < 4; j++) {
            _mm512_storeu_si512((void *)(o + 64 * j), _mm512_permutex2var_epi64(u[j], lo128, u[4 + j]));
            _mm512_storeu_si512((void *)(o + 64 * (j + 4)), _mm512_permutex2var_epi64(u[j], hi128, u[4 + j]));
        }
    }
}
