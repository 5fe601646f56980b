/*
 * kquants_avx512.c — AVX-512 dot products of Q2_K…Q6_K weights with Q8_K activations,
 * 64 weights per 512-bit register. Uses VNNI (vpdpbusd) when the CPU has it, else
 * AVX512BW maddubs + madd (pair sums ≤ 63·127·2, never saturating); the int32 lane
 * sums are then multiplied by the sub-block scales (vpmulld) and accumulated in 32 bits.
 * Level offsets and mins go through the Q8_K bsums, as in kquants_avx2.c, so every
 * block's integer sums and the double-precision scale combination equal the scalar kernel's.
 */
#include "kquants.h"

#include <immintrin.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

static inline __m256i loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m512i loadu512(const void *p) { return _mm512_loadu_si512(p); }

static inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

/* Per-byte logical right shift by a run-time count (caller masks the result). */
static inline __m256i srl8(__m256i v, int k) { return _mm256_srl_epi16(v, _mm_cvtsi32_si128(k)); }

/* int32 lanes (4 consecutive weights each) of Σ u·y; u unsigned ≤ 63, y signed. */
static inline __m512i dot_u8(__m512i u, __m512i y, int vnni) {
    if (vnni) return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, y);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, y), _mm512_set1_epi16(1));
}

/* Lane k of the result = scales[first + k / per] (per = 4: 16-weight sub-blocks, 8: 32-weight). */
static inline __m512i spread(__m512i sc32, int first, int per) {
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(first),
                                         per == 4 ? _mm512_srli_epi32(lane, 2) : _mm512_srli_epi32(lane, 3));
    return _mm512_permutexvar_epi32(idx, sc32);
}

void qtk_q2_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = (const block_q2_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int vnni = qtk_cpu()->avx512vnni;
    const __m256i m3 = _mm256_set1_epi8(3);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m128i sraw = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m512i sc32 = _mm512_cvtepu8_epi32(_mm_and_si128(sraw, _mm_set1_epi8(15)));
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = loadu256(x[i].qs + 32 * h);
            for (int j = 0; j < 4; j += 2) {
                const __m512i u = join(_mm256_and_si256(srl8(qv, 2 * j), m3), _mm256_and_si256(srl8(qv, 2 * j + 2), m3));
                const __m512i d = dot_u8(u, loadu512(y[i].qs + 128 * h + 32 * j), vnni);
                acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(d, spread(sc32, 8 * h + 2 * j, 4)));
            }
        }
        int msum = 0;
        for (int sb = 0; sb < 16; sb++) msum += (x[i].scales[sb] >> 4) * y[i].bsums[sb];
        const int isum = _mm512_reduce_add_epi32(acc);
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q3_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = (const block_q3_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int vnni = qtk_cpu()->avx512vnni;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        qtk_kq_unpack_q3_scales(x[i].scales, sc);
        const __m512i sc32 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)sc));
        const __m256i hm = loadu256(x[i].hmask);
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = loadu256(x[i].qs + 32 * h);
            __m256i u[4];
            for (int j = 0; j < 4; j++) {
                const __m256i q2 = _mm256_and_si256(srl8(qv, 2 * j), m3);
                const __m256i hb = _mm256_and_si256(srl8(hm, 4 * h + j), m1);
                u[j] = _mm256_or_si256(q2, _mm256_slli_epi16(hb, 2)); /* value + 4 */
            }
            for (int j = 0; j < 4; j += 2) {
                const __m512i d = dot_u8(join(u[j], u[j + 1]), loadu512(y[i].qs + 128 * h + 32 * j), vnni);
                acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(d, spread(sc32, 8 * h + 2 * j, 4)));
            }
        }
        int off = 0;
        for (int sb = 0; sb < 16; sb++) off += sc[sb] * y[i].bsums[sb];
        const int isum = _mm512_reduce_add_epi32(acc) - 4 * off;
        sum += (double)y[i].d * (double)qtk_kq_fp16(&x[i].d) * isum;
    }
    *s = (float)sum;
}

/* Q4_K (qh == NULL) and Q5_K: Σ sc·Σ q·y and Σ m·bsums of one block. */
static inline void type1_block_avx512(const uint8_t *scales12, const uint8_t *qs, const uint8_t *qh,
                                      const block_q8_K *y, int vnni, int *isum, int *msum) {
    uint8_t sc[16] = {0}, m[8];
    qtk_kq_unpack_scales_min(scales12, sc, m);
    const __m512i sc32 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)sc));
    const __m256i m4 = _mm256_set1_epi8(15), h5 = _mm256_set1_epi8(0x10);
    const __m256i hv = qh ? loadu256(qh) : _mm256_setzero_si256();
    __m512i acc = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++) {
        const __m256i qv = loadu256(qs + 32 * c);
        __m256i lo = _mm256_and_si256(qv, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(hv, _mm256_set1_epi8((char)(1 << (2 * c)))), h5));
            hi = _mm256_or_si256(hi, _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(hv, _mm256_set1_epi8((char)(1 << (2 * c + 1)))), h5));
        }
        const __m512i d = dot_u8(join(lo, hi), loadu512(y->qs + 64 * c), vnni);
        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(d, spread(sc32, 2 * c, 8)));
    }
    int b = 0;
    for (int sb = 0; sb < 8; sb++) b += m[sb] * (y->bsums[2 * sb] + y->bsums[2 * sb + 1]);
    *isum = _mm512_reduce_add_epi32(acc);
    *msum = b;
}

void qtk_q4_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = (const block_q4_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int vnni = qtk_cpu()->avx512vnni;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum, msum;
        type1_block_avx512(x[i].scales, x[i].qs, NULL, &y[i], vnni, &isum, &msum);
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q5_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = (const block_q5_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int vnni = qtk_cpu()->avx512vnni;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum, msum;
        type1_block_avx512(x[i].scales, x[i].qs, x[i].qh, &y[i], vnni, &isum, &msum);
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q6_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = (const block_q6_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int vnni = qtk_cpu()->avx512vnni;
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const int8_t *sc = x[i].scales;
        const __m512i sc32 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)sc));
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = loadu256(x[i].ql + 64 * h), ql1 = loadu256(x[i].ql + 64 * h + 32);
            const __m256i qh = loadu256(x[i].qh + 32 * h);
            __m256i u[4];
            for (int t = 0; t < 4; t++) {
                const __m256i lsrc = (t % 2) ? ql1 : ql0;
                const __m256i lo = t >= 2 ? _mm256_and_si256(_mm256_srli_epi16(lsrc, 4), m4) : _mm256_and_si256(lsrc, m4);
                const __m256i hi = _mm256_and_si256(srl8(qh, 2 * t), m3);
                u[t] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); /* value + 32 */
            }
            for (int t = 0; t < 4; t += 2) {
                const __m512i d = dot_u8(join(u[t], u[t + 1]), loadu512(y[i].qs + 128 * h + 32 * t), vnni);
                acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(d, spread(sc32, 8 * h + 2 * t, 4)));
            }
        }
        int off = 0;
        for (int sb = 0; sb < 16; sb++) off += sc[sb] * y[i].bsums[sb];
        const int isum = _mm512_reduce_add_epi32(acc) - 32 * off;
        sum += (double)y[i].d * (double)qtk_kq_fp16(&x[i].d) * isum;
    }
    *s = (float)sum;
}
