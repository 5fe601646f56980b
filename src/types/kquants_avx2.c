/*
 * kquants_avx2.c — AVX2 dot products of Q2_K/Q3_K weights with Q8_K activations,
 * Q4_K/Q5_K with Q8_2 and Q6_K with Q8_0 (per-32 activation scales).
 *
 * Weight levels stay unsigned (0…2^bits−1) so maddubs (u8 × s8, pair sums ≤ 63·127·2,
 * never saturating) followed by madd gives exact 32-bit sums. Q2_K/Q3_K: the level
 * offset and mins go through the Q8_K bsums and the scales are combined in double, so
 * results equal kquants.c exactly. Q4_K/Q5_K/Q6_K: the int32 sums of each 32-value
 * activation block equal the scalar kernel's; their products with the scales are formed
 * in float per block and summed in double (the scalar kernels use double throughout).
 */
#include "kquants.h"
#include "simd_x86.h"

#include <immintrin.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

static inline __m256i loadu(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Per-byte logical right shift by a run-time count (bits from the upper byte are masked off by the caller). */
static inline __m256i srl8(__m256i v, int k) { return _mm256_srl_epi16(v, _mm_cvtsi32_si128(k)); }

/* 16-bit scales: a for weights 0..15, b for weights 16..31 of a 32-byte run. */
static inline __m256i scales2(int a, int b) { return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a)); }

/* int32 lanes of Σ sc·u·y over 32 weights. */
static inline __m256i dot32(__m256i u, __m256i y, __m256i sc) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), sc); }

/* vpshufb control: int16 word w of 128-bit lane 0 = byte a of the source lane, of lane 1
 * byte b (high bytes zero). */
static inline __m256i word_pick(int a, int b) {
    return _mm256_set_m128i(_mm_set1_epi16((short)(0xFF00 | b)), _mm_set1_epi16((short)(0xFF00 | a)));
}

/* The scales and the mins' sum go through vector registers: per 32 weights one vpshufb
 * of the broadcast scale bytes gives the two 16-weight multipliers, and Σ m·bsums is one
 * vpmaddwd (the scalar byte loads and the 16-step loop of mins were half the work). */
void qtk_q2_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q2_K *x = (const qtk_block_q2_K *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        qtk_prefetch_ahead(&x[i], (int)sizeof(x[i]));
        const __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)x[i].scales);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_and_si128(raw, _mm_set1_epi8(15)));
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(15)));
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = loadu(x[i].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i u = _mm256_and_si256(srl8(qv, 2 * j), m3);
                const int sb = 8 * h + 2 * j;
                acc = _mm256_add_epi32(acc, dot32(u, loadu(y[i].qs + 128 * h + 32 * j), _mm256_shuffle_epi8(sc, word_pick(sb, sb + 1))));
            }
        }
        const int msum = hsum_i32(_mm256_madd_epi16(m16, loadu(y[i].bsums)));
        const int isum = hsum_i32(acc);
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

/* As Q2_K: the scales as int16 words picked per 32 weights by vpshufb from the half (sub-blocks
 * 0-7 or 8-15) broadcast to both lanes, the level offset −4·Σ sc·bsums by one vpmaddwd. */
void qtk_q3_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q3_K *x = (const qtk_block_q3_K *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        qtk_prefetch_ahead(&x[i], (int)sizeof(x[i]));
        const __m256i sc16 = _mm256_cvtepi8_epi16(qtk_q3k_scales_x86(x[i].scales));
        const __m256i half[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00), _mm256_permute2x128_si256(sc16, sc16, 0x11)};
        const __m256i hm = loadu(x[i].hmask);
        /* −4·Σ sc·bsums, in the accumulator's lanes */
        __m256i acc = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, loadu(y[i].bsums)), 2));
        for (int h = 0; h < 2; h++) {
            const __m256i qv = loadu(x[i].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i q2 = _mm256_and_si256(srl8(qv, 2 * j), m3);
                const __m256i hb = _mm256_and_si256(srl8(hm, 4 * h + j), m1);
                const __m256i u = _mm256_or_si256(q2, _mm256_slli_epi16(hb, 2)); /* value + 4 */
                const int sb = 8 * h + 2 * j;
                acc = _mm256_add_epi32(acc, dot32(u, loadu(y[i].qs + 128 * h + 32 * j), _mm256_shuffle_epi8(half[h], qtk_word_ctl(sb % 8, sb % 8 + 1))));
            }
        }
        sum += (double)y[i].d * (double)qtk_kq_fp16(&x[i].d) * hsum_i32(acc);
    }
    *s = (float)sum;
}

/* Lane k of the result = Σ of the 8 int32 lanes of p[k] (k = 0…7). */
static inline __m256i hsum8x8(const __m256i p[8]) {
    const __m256i a = _mm256_hadd_epi32(p[0], p[1]), b = _mm256_hadd_epi32(p[2], p[3]);
    const __m256i c = _mm256_hadd_epi32(p[4], p[5]), d = _mm256_hadd_epi32(p[6], p[7]);
    const __m256i ab = _mm256_hadd_epi32(a, b), cd = _mm256_hadd_epi32(c, d);
    return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
}

/* fp16 field of a (possibly unaligned) block as float, inline through F16C: a call to
 * qtk_fp16_to_fp32 inside these loops forces vzeroupper and spills of all vector registers. */
static inline float fp16_f16c(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* fp16 values in the low halves of the eight int32 lanes of v, as floats. */
static inline __m256 fp16_lo_to_ps(__m256i v) {
    const __m256i lo = _mm256_packus_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0xFFFF)), _mm256_setzero_si256());
    return _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(lo, 0x08)));
}

/* Σ over the 8 float lanes of v, added to the double accumulator. */
static inline __m256d acc_pd(__m256d acc, __m256 v) {
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* The first dword (d, Σqs) of 8 consecutive Q8_2 blocks as lanes 0..7, inserted
 * straight from memory (built from scalars, the compiler assembled the vector through
 * stack stores and a 32-byte reload that waits for them). */
static inline __m256i q8_2_heads8(const qtk_block_q8_2 *y) {
    __m128i h[2];
    for (int g = 0; g < 2; g++) {
        int32_t w[4];
        for (int k = 0; k < 4; k++) memcpy(&w[k], &y[4 * g + k], 4);
        __m128i v = _mm_cvtsi32_si128(w[0]);
        v = _mm_insert_epi32(v, w[1], 1);
        v = _mm_insert_epi32(v, w[2], 2);
        h[g] = _mm_insert_epi32(v, w[3], 3);
    }
    return _mm256_inserti128_si256(_mm256_castsi128_si256(h[0]), h[1], 1);
}

/* Q4_K (qh == NULL) and Q5_K block × its 8 Q8_2 blocks: lane k = the float value of
 * sub-block k, dy·(d·sc·Σq·qs − dmin·m·Σqs) (each sum an exact int32, as the scalar kernel's). */
QTK_FORCE_INLINE __m256 type1_block_avx2(const uint8_t *scales12, float d, float dmin, const uint8_t *qs,
                                      const uint8_t *qh, const qtk_block_q8_2 *y) {
    /* sc[0..7] in bytes 0..7, m[0..7] in 8..15 (the 16 bytes read are inside the block) */
    const __m128i sm = qtk_kq_scales_min_x86(_mm_loadu_si128((const __m128i *)(const void *)scales12), 0);
    const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1), ones = _mm256_set1_epi16(1);
    const __m256i hv = qh ? loadu(qh) : _mm256_setzero_si256();
    __m256i p[8];
    for (int c = 0; c < 4; c++) {
        const __m256i qv = loadu(qs + 32 * c);
        __m256i lo = _mm256_and_si256(qv, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(srl8(hv, 2 * c), m1), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(srl8(hv, 2 * c + 1), m1), 4));
        }
        p[2 * c] = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, loadu(y[2 * c].qs)), ones);
        p[2 * c + 1] = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, loadu(y[2 * c + 1].qs)), ones);
    }
    const __m256 isum = _mm256_cvtepi32_ps(hsum8x8(p));
    /* d (low half) and Σqs (high half) of the 8 activation blocks (scalar loads:
     * vpgatherdd is slow on some CPUs, e.g. AMD Zen) */
    const __m256i head = q8_2_heads8(y);
    const __m256 dy = fp16_lo_to_ps(head), ysum = _mm256_cvtepi32_ps(_mm256_srai_epi32(head, 16));
    const __m256 scf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm));
    const __m256 mf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(sm, sm)));
    const __m256 a = _mm256_mul_ps(_mm256_set1_ps(d), scf), b = _mm256_mul_ps(_mm256_set1_ps(dmin), mf); /* exact */
    /* a·isum − b·ysum rounded once (they often nearly cancel): a·isum is exact inside the
     * FMA, b·ysum is split into its rounded value p and exact error e */
    const __m256 pm = _mm256_mul_ps(b, ysum), e = _mm256_fmsub_ps(b, ysum, pm);
    return _mm256_mul_ps(dy, _mm256_sub_ps(_mm256_fmsub_ps(a, isum, pm), e));
}

void qtk_q4_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q4_K *x = (const qtk_block_q4_K *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    __m256d acc = _mm256_setzero_pd();
    for (int64_t i = 0; i < n / QK_K; i++) {
        qtk_prefetch_ahead(&x[i], (int)sizeof(x[i]));
        acc = acc_pd(acc, type1_block_avx2(x[i].scales, fp16_f16c(&x[i].d), fp16_f16c(&x[i].dmin), x[i].qs,
                                           NULL, y + 8 * i));
    }
    *s = (float)hsum_pd(acc);
}

void qtk_q5_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q5_K *x = (const qtk_block_q5_K *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    __m256d acc = _mm256_setzero_pd();
    for (int64_t i = 0; i < n / QK_K; i++) {
        qtk_prefetch_ahead(&x[i], (int)sizeof(x[i]));
        acc = acc_pd(acc, type1_block_avx2(x[i].scales, fp16_f16c(&x[i].d), fp16_f16c(&x[i].dmin), x[i].qs,
                                           x[i].qh, y + 8 * i));
    }
    *s = (float)hsum_pd(acc);
}

/* Q6_K × Q8_0: for each of the 8 Q8_0 blocks of a super-block, Σ sc·Σ(q − 32)·qs over its two
 * 16-weight sub-blocks as an exact int32 (the −32 through maddubs(32, qs): int16 pair sums stay
 * within ±(63 + 32)·127·2), then scaled by d·d_y in float. */
void qtk_q6_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q6_K *x = (const qtk_block_q6_K *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    /* 16 int8 scales → even ones in bytes 0…7, odd ones in 8…15 */
    const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m256d acc = _mm256_setzero_pd();
    for (int64_t i = 0; i < n / QK_K; i++) {
        qtk_prefetch_ahead(&x[i], (int)sizeof(x[i]));
        const qtk_block_q8_0 *yb = y + 8 * i;
        /* int16 scales: lane 0 = sc[0,2,…,14], lane 1 = sc[1,3,…,15], so Q8_0 block b takes
         * element b of each lane (its first and second 16 weights) */
        const __m128i sc8 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)x[i].scales), even_odd);
        const __m256i scl = _mm256_cvtepi8_epi16(sc8);
        __m256i p[8];
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = loadu(x[i].ql + 64 * h), ql1 = loadu(x[i].ql + 64 * h + 32);
            const __m256i qh = loadu(x[i].qh + 32 * h);
            for (int t = 0; t < 4; t++) {
                const __m256i lsrc = (t % 2) ? ql1 : ql0;
                const __m256i lo = t >= 2 ? _mm256_and_si256(_mm256_srli_epi16(lsrc, 4), m4) : _mm256_and_si256(lsrc, m4);
                const __m256i hi = _mm256_and_si256(srl8(qh, 2 * t), m3);
                const __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); /* value + 32 */
                const int b = 4 * h + t;
                const __m256i q8 = loadu(yb[b].qs);
                const __m256i d16 = _mm256_sub_epi16(_mm256_maddubs_epi16(u, q8), _mm256_maddubs_epi16(m32, q8));
                const __m256i scb = _mm256_shuffle_epi8(scl, _mm256_set1_epi16((short)(0x0100 + 0x0202 * b)));
                p[b] = _mm256_madd_epi16(d16, scb);
            }
        }
        const __m256 isum = _mm256_cvtepi32_ps(hsum8x8(p));
        uint16_t h[8];
        for (int k = 0; k < 8; k++) memcpy(&h[k], &yb[k].d, 2);
        const __m256 dy = _mm256_cvtph_ps(_mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3],
                                                         (short)h[4], (short)h[5], (short)h[6], (short)h[7]));
        acc = acc_pd(acc, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(fp16_f16c(&x[i].d)), dy), isum));
    }
    *s = (float)hsum_pd(acc);
}
