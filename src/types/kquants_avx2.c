/*
 * kquants_avx2.c — AVX2 dot products of Q2_K…Q6_K weights with Q8_K activations.
 *
 * Weight levels stay unsigned (0…2^bits−1) so maddubs (u8 × s8, pair sums ≤ 63·127·2,
 * never saturating) followed by madd with the 16-bit sub-block scales gives exact
 * 32-bit sums; the level offsets (−4 for Q3_K, −32 for Q6_K) and the mins are applied
 * through the Q8_K bsums. Each block's integer sums equal the scalar kernel's, and the
 * scales are combined in double as there, so results match kquants.c exactly.
 */
#include "kquants.h"

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

void qtk_q2_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = (const block_q2_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = loadu(x[i].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i u = _mm256_and_si256(srl8(qv, 2 * j), m3);
                const int sb = 8 * h + 2 * j;
                acc = _mm256_add_epi32(acc, dot32(u, loadu(y[i].qs + 128 * h + 32 * j),
                                                  scales2(x[i].scales[sb] & 15, x[i].scales[sb + 1] & 15)));
            }
        }
        int msum = 0;
        for (int sb = 0; sb < 16; sb++) msum += (x[i].scales[sb] >> 4) * y[i].bsums[sb];
        const int isum = hsum_i32(acc);
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q3_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = (const block_q3_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        qtk_kq_unpack_q3_scales(x[i].scales, sc);
        const __m256i hm = loadu(x[i].hmask);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = loadu(x[i].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i q2 = _mm256_and_si256(srl8(qv, 2 * j), m3);
                const __m256i hb = _mm256_and_si256(srl8(hm, 4 * h + j), m1);
                const __m256i u = _mm256_or_si256(q2, _mm256_slli_epi16(hb, 2)); /* value + 4 */
                const int sb = 8 * h + 2 * j;
                acc = _mm256_add_epi32(acc, dot32(u, loadu(y[i].qs + 128 * h + 32 * j), scales2(sc[sb], sc[sb + 1])));
            }
        }
        int off = 0;
        for (int sb = 0; sb < 16; sb++) off += sc[sb] * y[i].bsums[sb];
        const int isum = hsum_i32(acc) - 4 * off;
        sum += (double)y[i].d * (double)qtk_kq_fp16(&x[i].d) * isum;
    }
    *s = (float)sum;
}

/* Q4_K (qh == NULL) and Q5_K: Σ sc·Σ q·y and Σ m·bsums of one block. */
static inline void type1_block_avx2(const uint8_t *scales12, const uint8_t *qs, const uint8_t *qh,
                                    const block_q8_K *y, int *isum, int *msum) {
    uint8_t sc[8], m[8];
    qtk_kq_unpack_scales_min(scales12, sc, m);
    const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1);
    const __m256i hv = qh ? loadu(qh) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const __m256i qv = loadu(qs + 32 * c);
        __m256i lo = _mm256_and_si256(qv, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(srl8(hv, 2 * c), m1), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(srl8(hv, 2 * c + 1), m1), 4));
        }
        acc = _mm256_add_epi32(acc, dot32(lo, loadu(y->qs + 64 * c), _mm256_set1_epi16(sc[2 * c])));
        acc = _mm256_add_epi32(acc, dot32(hi, loadu(y->qs + 64 * c + 32), _mm256_set1_epi16(sc[2 * c + 1])));
    }
    int b = 0;
    for (int sb = 0; sb < 8; sb++) b += m[sb] * (y->bsums[2 * sb] + y->bsums[2 * sb + 1]);
    *isum = hsum_i32(acc);
    *msum = b;
}

void qtk_q4_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = (const block_q4_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum, msum;
        type1_block_avx2(x[i].scales, x[i].qs, NULL, &y[i], &isum, &msum);
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q5_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = (const block_q5_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum, msum;
        type1_block_avx2(x[i].scales, x[i].qs, x[i].qh, &y[i], &isum, &msum);
        sum += (double)y[i].d * ((double)qtk_kq_fp16(&x[i].d) * isum - (double)qtk_kq_fp16(&x[i].dmin) * msum);
    }
    *s = (float)sum;
}

void qtk_q6_K_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = (const block_q6_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const int8_t *sc = x[i].scales;
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = loadu(x[i].ql + 64 * h), ql1 = loadu(x[i].ql + 64 * h + 32);
            const __m256i qh = loadu(x[i].qh + 32 * h);
            for (int t = 0; t < 4; t++) {
                const __m256i lsrc = (t % 2) ? ql1 : ql0;
                const __m256i lo = t >= 2 ? _mm256_and_si256(_mm256_srli_epi16(lsrc, 4), m4) : _mm256_and_si256(lsrc, m4);
                const __m256i hi = _mm256_and_si256(srl8(qh, 2 * t), m3);
                const __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); /* value + 32 */
                const int sb = 8 * h + 2 * t;
                acc = _mm256_add_epi32(acc, dot32(u, loadu(y[i].qs + 128 * h + 32 * t), scales2(sc[sb], sc[sb + 1])));
            }
        }
        int off = 0;
        for (int sb = 0; sb < 16; sb++) off += sc[sb] * y[i].bsums[sb];
        const int isum = hsum_i32(acc) - 32 * off;
        sum += (double)y[i].d * (double)qtk_kq_fp16(&x[i].d) * isum;
    }
    *s = (float)sum;
}
