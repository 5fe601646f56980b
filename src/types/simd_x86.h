/*
 * simd_x86.h — small integer reductions shared by the x86 kernel files
 * (*_avx2.c, *_avx512.c; included only by files compiled for those levels).
 * Integer adds are exact, so every order of these sums gives the same value.
 */
#ifndef QTK_SIMD_X86_H
#define QTK_SIMD_X86_H

#include "types_internal.h"

#include <immintrin.h>

/* fp16 bits h as float through F16C (every x86 kernel level has it): the same value as
 * qtk_fp16_to_fp32, but inline. A call inside a kernel loop forces vzeroupper and the
 * spill of every live vector register (all are caller-saved): the KT and mainline
 * i-quant GEMVs spent a quarter of their time around such calls. */
QTK_FORCE_INLINE float qtk_f16c_to_f32(uint16_t h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }

/* The 4 bytes at p (any alignment) as a little-endian word. */
QTK_FORCE_INLINE uint32_t qtk_rd32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The first 4 bytes of 4 blocks (at p, stride bs) as the 4 words of a vector, loaded into
 * the vector register one by one: a compiler's _mm256_setr_epi32 of 8 such words may go
 * through the stack, and the wide reload then waits for the narrow stores (Q4_1's AVX2
 * kernel ran 1.4x slower so). */
QTK_FORCE_INLINE __m128i qtk_words4(const void *p, size_t bs) {
    const uint8_t *b = (const uint8_t *)p;
    __m128i w = _mm_cvtsi32_si128((int)qtk_rd32(b));
    w = _mm_insert_epi32(w, (int)qtk_rd32(b + bs), 1);
    w = _mm_insert_epi32(w, (int)qtk_rd32(b + 2 * bs), 2);
    return _mm_insert_epi32(w, (int)qtk_rd32(b + 3 * bs), 3);
}

/* The 6-bit scales sc[0..7] (bytes 0..7) and mins m[0..7] (bytes 8..15) of a Q4_K/Q5_K
 * block, from sv = the 16 bytes at its 12 scale bytes (the last 4 unused), in sub-block
 * order, or, with t1_order, in the lane order 0,1,4,5,2,3,6,7 of the AVX-512 kernels'
 * transpose-add. The bits of qtk_kq_unpack_scales_min: sc[j] = s[j] & 63 and m[j] =
 * s[j + 4] & 63 for j < 4; for j >= 4 the low 4 bits come from s[j + 4] (sc: its low
 * nibble, m: its high nibble) and bits 4-5 from the top 2 bits of s[j - 4] (sc) or s[j]
 * (m). Two byte shuffles gather those bytes per output byte (-128: none), the masks keep
 * each one's bits; the 16-bit shifts' bits from the neighbour byte are masked off. In
 * vector registers: the scalar version's byte stores and reloads stalled the kernels. */
QTK_FORCE_INLINE __m128i qtk_kq_scales_min_x86(__m128i sv, const int t1_order) {
    const __m128i lo_src = t1_order ? _mm_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 8, 9, 6, 7, 10, 11)
                                    : _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11);
    const __m128i hi_src = t1_order ? _mm_setr_epi8(-128, -128, 0, 1, -128, -128, 2, 3, -128, -128, 4, 5, -128, -128, 6, 7)
                                    : _mm_setr_epi8(-128, -128, -128, -128, 0, 1, 2, 3, -128, -128, -128, -128, 4, 5, 6, 7);
    const __m128i keep_lo = t1_order ? _mm_setr_epi8(63, 63, 15, 15, 63, 63, 15, 15, 63, 63, 0, 0, 63, 63, 0, 0)
                                     : _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0);
    const __m128i keep_nib = t1_order ? _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 0, 0, 15, 15)
                                      : _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15);
    const __m128i keep_hi = t1_order ? _mm_setr_epi8(0, 0, 48, 48, 0, 0, 48, 48, 0, 0, 48, 48, 0, 0, 48, 48)
                                     : _mm_setr_epi8(0, 0, 0, 0, 48, 48, 48, 48, 0, 0, 0, 0, 48, 48, 48, 48);
    const __m128i a = _mm_shuffle_epi8(sv, lo_src), b = _mm_shuffle_epi8(sv, hi_src);
    return _mm_or_si128(_mm_or_si128(_mm_and_si128(a, keep_lo), _mm_and_si128(_mm_srli_epi16(a, 4), keep_nib)),
                        _mm_and_si128(_mm_srli_epi16(b, 2), keep_hi));
}

/* The fp16 scales of 8 blocks `stride` bytes apart, from the first at p, as floats:
 * four 16-bit loads per 64-bit word on the integer side, one conversion (per-block
 * scalar conversions held the one-column legacy kernels 20-40 % below this). */
QTK_FORCE_INLINE __m256 qtk_fp16x8_load(const void *p, size_t stride) {
    const uint8_t *b = (const uint8_t *)p;
    uint64_t w[2];
    for (int h = 0; h < 2; h++) {
        uint64_t v = 0;
        for (int k = 0; k < 4; k++) {
            uint16_t d;
            memcpy(&d, b + (size_t)(4 * h + k) * stride, 2);
            v |= (uint64_t)d << (16 * k);
        }
        w[h] = v;
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)w[1], (long long)w[0]));
}

/* 16 unaligned bytes at lo into the low 128 bits, 16 at hi into the high ones: the
 * activations arranged to match a weight load whose lanes hold two sub-blocks. */
QTK_FORCE_INLINE __m256i qtk_load2x128(const void *lo, const void *hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

/* vpshufb control: every int16 word of the low 128-bit lane = word a of that lane, of the
 * high lane word b (a per-16-weights multiplier spread over its weights). */
QTK_FORCE_INLINE __m256i qtk_word_ctl(int a, int b) {
    if (a == b) return _mm256_set1_epi16((short)(0x0100 * (2 * a + 1) + 2 * a)); /* one broadcast where a is not a constant */
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)(0x0100 * (2 * a + 1) + 2 * a))),
                                   _mm_set1_epi16((short)(0x0100 * (2 * b + 1) + 2 * b)), 1);
}

/* The 32 bytes at p transposed as 4 × 8: dword k (k = 0..7) = bytes p[k], p[8 + k],
 * p[16 + k], p[24 + k] (IQ3_KT's sign bytes, value k of every position). */
QTK_FORCE_INLINE __m256i qtk_bytes_4x8_transpose(const void *p) {
    const __m256i tr = _mm256_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12,
                                        5, 13, 6, 14, 7, 15);
    const __m256i x = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)p), tr); /* lane L word k: p[16L + k], p[16L + 8 + k] */
    const __m256i y = _mm256_permute2x128_si256(x, x, 0x01);
    return _mm256_permute2x128_si256(_mm256_unpacklo_epi16(x, y), _mm256_unpackhi_epi16(x, y), 0x20);
}

/* The 16 six-bit scales of a Q3_K block (its 12 scale bytes) − 32 as int8, in sub-block
 * order: qtk_kq_unpack_q3_scales in vector registers. */
QTK_FORCE_INLINE __m128i qtk_q3k_scales_x86(const uint8_t *scales) {
    uint64_t lo8;
    uint32_t hi4;
    memcpy(&lo8, scales, 8);
    memcpy(&hi4, scales + 8, 4);
    const __m128i b = _mm_cvtsi64_si128((long long)lo8);
    const __m128i lo = _mm_and_si128(_mm_unpacklo_epi64(b, _mm_srli_epi16(b, 4)), _mm_set1_epi8(15));
    const __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)hi4), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
    return _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
}

/* Word j = bits 2j, 2j + 1 of v (j = 0..7): (v << (14 − 2j)) >> 14 in 16 bits, one
 * multiply instead of eight shifts (the 2-bit high parts of IQ4_XS / IQ2_KL scales). */
QTK_FORCE_INLINE __m128i qtk_bits2x8(uint16_t v) {
    const __m128i m = _mm_setr_epi16(1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 6, 1 << 4, 1 << 2, 1);
    return _mm_srli_epi16(_mm_mullo_epi16(_mm_set1_epi16((short)v), m), 14);
}

/* Σ of the 8 int32 lanes of v. */
QTK_FORCE_INLINE int32_t qtk_hsum_i32x8(__m256i v) {
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0x4E));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xB1));
    return _mm_cvtsi128_si32(r);
}

/* Weight bytes a GEMV kernel asks the cache for ahead of the block it is on.
 * Streaming a matrix from memory (one thread, 32768 x 4096, Zen 4), the hardware
 * prefetcher alone leaves the decode-heavy kernels waiting: IQ4_KSS 16 -> 20.5 GB/s,
 * Q4_0 15-17 -> 17.5 with 1024 bytes ahead (4096 ahead helped less). On a Xeon
 * (2 cores of a VM, AVX-512 + AMX) it is the difference between ~0.55 and ~0.8 of
 * the read bandwidth for nearly every kernel, AVX2 ones included (Q8_0 AVX-512
 * 0.45 -> 0.95-1.0, Q4_K 0.6 -> 0.8, IQ4_XS AVX2 0.35 -> 0.63; 4096 ahead measured
 * the same as 1024): so every GEMV and vec_dot block loop of the x86 levels calls it,
 * where on Zen 4 the compute-bound K-quant and IQk kernels had not needed it.
 * 4096 rather than 1024 (session 25, Zen 4 again, 1024 / 4096 / 8192 alternated):
 * one thread streaming 32768 x 4096 rows, Q8_0 21-25 -> 26-33 GB/s, Q4_K 18-26 ->
 * 24-29, Q5_K/Q6_K/IQ4_XS likewise +15-25 %; 1B tg with 2 threads Q4_K_M +11 %,
 * IQ4_KSS +8 % (means of 8 runs); 8192 no better than 4096. A plain read loop gains
 * nothing from any prefetch: the kernels that compute between their loads do. */
#ifndef QTK_PREFETCH_AHEAD
#define QTK_PREFETCH_AHEAD 4096
#endif

/* The weights per row that the one-column kernels' per-call activation tables hold
 * (64-80 KiB of stack): the ffn_down rows of 1B-70B models (5632 ... 28672) stay on
 * the table paths; longer rows convert their activations per row. Every such table
 * is sized from this (test_dot runs a row just past it). */
#define QTK_TABLE_ROW_WEIGHTS 32768

/* Prefetches the cache lines of [p + QTK_PREFETCH_AHEAD, + bytes): called once per
 * block of `bytes` weight bytes (a constant, so the loop unrolls). */
QTK_FORCE_INLINE void qtk_prefetch_ahead(const void *p, int bytes) {
    for (int l = 0; l < bytes; l += 64) _mm_prefetch((const char *)p + QTK_PREFETCH_AHEAD + l, _MM_HINT_T0);
}

#ifdef __AVX512F__
/* lo in the low 256 bits, hi in the high ones. */
QTK_FORCE_INLINE __m512i qtk_join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Lane 4j + k of the result = Σ of the 4 lanes of 128-bit chunk j of z[k]. */
QTK_FORCE_INLINE __m512i qtk_sums4x4_i32(const __m512i z[4]) {
    const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[0], z[1]), _mm512_unpackhi_epi32(z[0], z[1]));
    const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[2], z[3]), _mm512_unpackhi_epi32(z[2], z[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
}

/* Four consecutive blocks of bs = 18, 22 or 26 bytes (Q4_0 and IQ4_NL, Q5_0, Q6_0)
 * as a window of two registers for vpermt2w: word w (bytes 2w, 2w + 1) of the blocks
 * at index w, bytes 64 .. 4·bs − 1 in hi by one 8-, 24- or 40-byte load (nothing
 * past the fourth block is read). These blocks keep every field at an even offset,
 * so one word permute of the window picks any 32 of its words: fields of several
 * blocks gathered in one operation. Loads that overlap lo (hi from byte 4·bs − 64)
 * or are masked (from byte 64) ran twice and 1.1 times as slow on a matrix streamed
 * from memory (Zen 4, Q4_0), although as fast in cache. */
QTK_FORCE_INLINE void qtk_window4_load(const uint8_t *p, int bs, __m512i *lo, __m512i *hi) {
    *lo = _mm512_loadu_si512((const void *)p);
    const __m128i last8 = _mm_loadl_epi64((const __m128i *)(const void *)(p + 4 * bs - 8));
    if (bs == 18) {
        *hi = _mm512_castsi128_si512(last8);
    } else if (bs == 22) {
        const __m128i b16 = _mm_loadu_si128((const __m128i *)(const void *)(p + 64));
        *hi = _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(b16), last8, 1));
    } else {
        const __m256i b32 = _mm256_loadu_si256((const __m256i *)(const void *)(p + 64));
        *hi = _mm512_inserti32x4(_mm512_castsi256_si512(b32), last8, 2);
    }
}

/* Lane k of the result = Σ of the 16 lanes of z[k]. */
QTK_FORCE_INLINE __m128i qtk_hsum4x16_i32(const __m512i z[4]) {
    const __m512i t = qtk_sums4x4_i32(z);
    const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}
#endif

#endif
