/*
 * kquants_avx512.c — AVX-512 dot products, 64 weights per 512-bit register: Q2_K/Q3_K
 * with Q8_K activations, Q4_K/Q5_K with Q8_2, Q6_K with Q8_0.
 * Q2_K/Q3_K use VNNI (vpdpbusd) when the CPU has it, else AVX512BW maddubs + madd (pair
 * sums ≤ 63·127·2, never saturating); the int32 lane sums are multiplied by the sub-block
 * scales (vpmulld) and accumulated in 32 bits; level offsets and mins go through the Q8_K
 * bsums, so integer sums and the double-precision combination equal the scalar kernel's.
 * Q4_K/Q5_K/Q6_K need VNNI (the AVX-512 dispatch level requires it): vpdpbusd gives exact
 * int32 sums of 4 products per lane, which are scaled by the float d·sc·d_y of their
 * 16/32-value sub-block, combined in float per super-block and summed in double.
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
    const qtk_block_q2_K *x = (const qtk_block_q2_K *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
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
    const qtk_block_q3_K *x = (const qtk_block_q3_K *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
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

/* fp16 field of a (possibly unaligned) block as float, inline through F16C: a call to
 * qtk_fp16_to_fp32 inside these loops forces vzeroupper and spills of all vector registers. */
static inline float fp16_f16c(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* fp16 values in the low halves of the eight int32 lanes of v, as floats. */
static inline __m256 fp16_lo_to_ps(__m256i v) {
    return _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0xFFFF))));
}

/* Σ over the 8 float lanes of v, added to the double accumulator. */
static inline __m512d acc_pd(__m512d acc, __m256 v) { return _mm512_add_pd(acc, _mm512_cvtps_pd(v)); }

/* d·sc·isum − dmin·m·ysum with one rounding of the (often cancelling) difference: the
 * product b·ysum is split into its rounded value and exact error (FMA), a·isum is exact
 * inside the FMA. a = d·sc and b = dmin·m are exact floats (11 × 6 bits). */
static inline __m256 type1_combine(__m256 a, __m256 isum, __m256 b, __m256 ysum) {
    const __m256 p = _mm256_mul_ps(b, ysum);
    const __m256 e = _mm256_fmsub_ps(b, ysum, p);
    return _mm256_sub_ps(_mm256_fmsub_ps(a, isum, p), e);
}

/* Lane k of the Q4_K/Q5_K kernels' 8-lane vectors holds sub-block T1_ORD(k) = 0,1,4,5,2,3,6,7:
 * the order in which type1_mul's transpose-add leaves the sums of the register pairs below. */
#define T1_ORD(k) ((k) < 2 ? (k) : (k) < 4 ? (k) + 2 : (k) < 6 ? (k) - 2 : (k))

/* A Q4_K (qh == NULL) or Q5_K block unpacked for type1_mul: the 256 unsigned levels as four
 * registers, the low and high nibbles of two 64-byte loads (q[0] = sub-blocks 0 | 2, q[1] =
 * 1 | 3, q[2] = 4 | 6, q[3] = 5 | 7), and the float sub-block scales a = d·sc and mins
 * b = dmin·m in lane order T1_ORD. Split from the product so a multi-column kernel unpacks
 * once per block. */
typedef struct type1_unpacked {
    __m512i q[4];
    __m256 a, b;
} type1_unpacked;

QTK_FORCE_INLINE void type1_unpack(const uint8_t *scales12, float d, float dmin, const uint8_t *qs, const uint8_t *qh,
                                   type1_unpacked *u) {
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int h = 0; h < 2; h++) {
        const __m512i qv = loadu512(qs + 64 * h);
        u->q[2 * h] = _mm512_and_si512(qv, m4);
        u->q[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(qv, 4), m4);
    }
    if (qh) {
        /* the 5th bit of sub-block s is bit s of qh[l]; register k holds sub-blocks s0 | s1 */
        const __m512i hv = _mm512_broadcast_i64x4(loadu256(qh)), h5 = _mm512_set1_epi8(0x10);
        for (int k = 0; k < 4; k++) {
            const int s0 = (k & 1) + 4 * (k >> 1), s1 = s0 + 2;
            const __m512i bit = join(_mm256_set1_epi8((char)(1 << s0)), _mm256_set1_epi8((char)(1 << s1)));
            u->q[k] = _mm512_or_si512(u->q[k], _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(hv, bit), h5));
        }
    }
    /* the 12 scale bytes as words: sc[0..7] to bytes 0..7, m[0..7] to bytes 8..15 (the same
     * bits as qtk_kq_unpack_scales_min, without a byte loop) */
    uint32_t sw[4];
    memcpy(sw, scales12, 12);
    const uint32_t k1 = 0x3f3f3f3fu, k2 = 0x0f0f0f0fu, k3 = 0x03030303u;
    sw[3] = ((sw[2] >> 4) & k2) | (((sw[1] >> 6) & k3) << 4);
    const uint32_t m_lo = sw[1] & k1;
    sw[1] = (sw[2] & k2) | (((sw[0] >> 6) & k3) << 4);
    sw[2] = m_lo;
    sw[0] &= k1;
    const __m128i order = _mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15);
    const __m128i sm = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)sw), order);
    const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(sm));
    const __m512 dd = _mm512_castsi512_ps(
        join(_mm256_castps_si256(_mm256_set1_ps(d)), _mm256_castps_si256(_mm256_set1_ps(dmin))));
    const __m512 ab = _mm512_mul_ps(f, dd);
    u->a = _mm512_castps512_ps256(ab);
    u->b = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(ab), 1));
}

/* The four activation registers of a super-block's 8 Q8_2 blocks, paired as the weight
 * registers: y0 | y2, y1 | y3, y4 | y6, y5 | y7. Loaded once per column, shared by rows. */
QTK_FORCE_INLINE void type1_act(const qtk_block_q8_2 *y, __m512i yq[4]) {
    for (int k = 0; k < 4; k++) {
        const int s0 = (k & 1) + 4 * (k >> 1);
        yq[k] = join(loadu256(y[s0].qs), loadu256(y[s0 + 2].qs));
    }
}

/* d (as float) and Σqs of the 8 Q8_2 blocks of a super-block in lane order T1_ORD
 * (scalar loads: vpgatherdd is slow on some CPUs, e.g. AMD Zen 4). */
QTK_FORCE_INLINE void type1_heads(const qtk_block_q8_2 *y, __m256 *dy, __m256 *ysum) {
    int32_t hw[8];
    for (int k = 0; k < 8; k++) memcpy(&hw[k], &y[T1_ORD(k)], 4);
    const __m256i head = _mm256_setr_epi32(hw[0], hw[1], hw[2], hw[3], hw[4], hw[5], hw[6], hw[7]);
    *dy = fp16_lo_to_ps(head);
    *ysum = _mm256_cvtepi32_ps(_mm256_srai_epi32(head, 16));
}

/* An unpacked block × one column's activation registers: lanes (order T1_ORD) hold
 * dy·(d·sc·Σq·qs − dmin·m·Σqs) with exact integer sums. */
QTK_FORCE_INLINE __m256 type1_mul(const type1_unpacked *u, const __m512i yq[4], __m256 dy, __m256 ysum) {
    __m512i z[4];
    for (int k = 0; k < 4; k++) z[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u->q[k], yq[k]);
    /* transpose-add: 128-bit chunk j of t = [Σ chunk j of z0, …, of z3] */
    const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[0], z[1]), _mm512_unpackhi_epi32(z[0], z[1]));
    const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[2], z[3]), _mm512_unpackhi_epi32(z[2], z[3]));
    const __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
    /* chunks 0+1 are the low halves of z0..z3 (sub-blocks 0,1,4,5), chunks 2+3 the high
     * halves (2,3,6,7) */
    const __m512i tp = _mm512_shuffle_i32x4(t, t, _MM_SHUFFLE(3, 1, 2, 0));
    const __m256i is = _mm256_add_epi32(_mm512_castsi512_si256(tp), _mm512_extracti64x4_epi64(tp, 1));
    return _mm256_mul_ps(dy, type1_combine(u->a, _mm256_cvtepi32_ps(is), u->b, ysum));
}

/* The fp16 scales of 8 consecutive Q8_0 blocks. */
static inline __m128i q8_0_scales8(const qtk_block_q8_0 *y) {
    uint16_t h[8];
    for (int k = 0; k < 8; k++) memcpy(&h[k], &y[k].d, 2);
    return _mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3], (short)h[4], (short)h[5], (short)h[6],
                          (short)h[7]);
}

/* Q6_K × Q8_0: the 4 weight registers hold 64 weights each (4 sub-blocks of 16); after
 * vpdpbusd, the transpose-add q6k_sums gives the 16 exact sub-block sums in lane order
 * Q6K_P: lane L = sub-block 4·(L % 4) + L / 4. Per sub-block Σ(q − 32)·qs = Σq·qs − 32·Σqs
 * (exact int32), times the float d·sc·d_y of the sub-block. */
#define Q6K_P_BYTES 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15

/* A Q6_K block unpacked for q6k_mul: the 256 levels + 32 as four registers
 * (register k = Q8_0 blocks 2k, 2k+1), the 16 sub-block scales as floats in lane order
 * Q6K_P, d. */
typedef struct q6k_unpacked {
    __m512i q[4];
    __m512 scf;
    float d;
} q6k_unpacked;

QTK_FORCE_INLINE void q6k_unpack(const qtk_block_q6_K *x, q6k_unpacked *u) {
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = loadu256(x->ql + 64 * h), ql1 = loadu256(x->ql + 64 * h + 32);
        const __m256i qh = loadu256(x->qh + 32 * h);
        __m256i v[4];
        for (int t = 0; t < 4; t++) {
            const __m256i lsrc = (t % 2) ? ql1 : ql0;
            const __m256i lo = t >= 2 ? _mm256_and_si256(_mm256_srli_epi16(lsrc, 4), m4) : _mm256_and_si256(lsrc, m4);
            const __m256i hi = _mm256_and_si256(srl8(qh, 2 * t), m3);
            v[t] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); /* value + 32 */
        }
        u->q[2 * h] = join(v[0], v[1]);
        u->q[2 * h + 1] = join(v[2], v[3]);
    }
    const __m128i order = _mm_setr_epi8(Q6K_P_BYTES);
    u->scf = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)x->scales), order)));
    u->d = fp16_f16c(&x->d);
}

/* Lane 4j + k of the result = Σ of the 4 lanes of 128-bit chunk j of z[k]. */
QTK_FORCE_INLINE __m512i q6k_sums(const __m512i z[4]) {
    const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[0], z[1]), _mm512_unpackhi_epi32(z[0], z[1]));
    const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[2], z[3]), _mm512_unpackhi_epi32(z[2], z[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
}

/* The activation registers of a super-block (Q8_0 blocks 2k | 2k+1 in register k). */
QTK_FORCE_INLINE void q6k_act(const qtk_block_q8_0 *yb, __m512i yq[4]) {
    for (int k = 0; k < 4; k++) yq[k] = join(loadu256(yb[2 * k].qs), loadu256(yb[2 * k + 1].qs));
}

/* d_y of the 8 Q8_0 blocks and Σqs of each 16-value half, in lane order Q6K_P. */
QTK_FORCE_INLINE void q6k_heads(const qtk_block_q8_0 *yb, const __m512i yq[4], __m256 *dy, __m512i *ys) {
    __m512i z[4];
    for (int k = 0; k < 4; k++) z[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), yq[k]);
    *ys = q6k_sums(z);
    *dy = _mm256_cvtph_ps(q8_0_scales8(yb));
}

/* An unpacked block × one column's activation registers: the 8 partial sums vec_dot
 * accumulates in double. */
QTK_FORCE_INLINE __m256 q6k_mul(const q6k_unpacked *u, const __m512i yq[4], __m256 dy, __m512i ys) {
    /* lane L → Q8_0 block of sub-block Q6K_P(L) */
    const __m512i pair = _mm512_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6, 1, 3, 5, 7, 1, 3, 5, 7);
    __m512i z[4];
    for (int k = 0; k < 4; k++) z[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u->q[k], yq[k]);
    const __m512i is = _mm512_sub_epi32(q6k_sums(z), _mm512_slli_epi32(ys, 5));
    const __m256 ddy = _mm256_mul_ps(_mm256_set1_ps(u->d), dy);
    const __m512 sck = _mm512_mul_ps(_mm512_permutexvar_ps(pair, _mm512_castps256_ps512(ddy)), u->scf);
    const __m512 blk = _mm512_mul_ps(_mm512_cvtepi32_ps(is), sck);
    return _mm256_add_ps(_mm512_castps512_ps256(blk), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(blk), 1)));
}

/* ---- multi-column kernels (the mul_mat contract of qtk.h) ------------------
 * Q4_K/Q5_K: a tile of one row × C ≤ 4 columns unpacks each weight block once
 * (type1_unpack). When a call has several rows and a row has at most T1_MAX_SB
 * super-blocks, the d and Σqs of the activation blocks (type1_heads) are
 * converted once per call into a stack table instead of once per row. Every
 * (row, column) pair runs the same arithmetic in the same order whatever the
 * tile, so vec_dot (the 1 × 1 tile) and mul_mat are bit-identical by
 * construction. (Tiles of 2 rows sharing the activation loads were tried:
 * as fast with the matrix in cache, half as fast streaming it from memory on
 * Zen 4, and software prefetch made no measurable difference.) */
#define T1_MAX_SB 64
#define TYPE1_MUL_MAT_AVX512(NAME, BLOCK, QH)                                                             \
    QTK_FORCE_INLINE void NAME##_tile(const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as,  \
                                      const float *heads, float *out, size_t os) {                         \
        const BLOCK *x = (const BLOCK *)(const void *)w;                                                 \
        __m512d acc[4];                                                                                  \
        for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_pd();                                        \
        for (int64_t i = 0; i < nb; i++) {                                                               \
            type1_unpacked u;                                                                            \
            type1_unpack(x[i].scales, fp16_f16c(&x[i].d), fp16_f16c(&x[i].dmin), x[i].qs, QH, &u);        \
            for (int c = 0; c < C; c++) {                                                                \
                const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)(const void *)(a + (size_t)c * as) + 8 * i; \
                __m512i yq[4];                                                                           \
                __m256 dy, ys;                                                                           \
                type1_act(y, yq);                                                                        \
                if (heads) {                                                                             \
                    dy = _mm256_loadu_ps(heads + ((size_t)c * T1_MAX_SB + (size_t)i) * 16);              \
                    ys = _mm256_loadu_ps(heads + ((size_t)c * T1_MAX_SB + (size_t)i) * 16 + 8);          \
                } else {                                                                                 \
                    type1_heads(y, &dy, &ys);                                                            \
                }                                                                                        \
                acc[c] = acc_pd(acc[c], type1_mul(&u, yq, dy, ys));                                      \
            }                                                                                            \
        }                                                                                                \
        for (int c = 0; c < C; c++) out[(size_t)c * os] = (float)_mm512_reduce_add_pd(acc[c]);           \
    }                                                                                                    \
    void NAME(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,        \
              int64_t nr, int64_t nc) {                                                                  \
        const int64_t nb = n / QK_K;                                                                     \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                \
        float heads[4 * T1_MAX_SB * 16];                                                                 \
        for (int64_t c = 0; c < nc;) {                                                                   \
            const int C = nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;                                         \
            const uint8_t *ac = ab + (size_t)c * as;                                                     \
            const float *hp = NULL;                                                                      \
            if (nr > 1 && nb <= T1_MAX_SB) {                                                             \
                for (int cc = 0; cc < C; cc++)                                                           \
                    for (int64_t i = 0; i < nb; i++) {                                                   \
                        __m256 dy, ys;                                                                   \
                        type1_heads((const qtk_block_q8_2 *)(const void *)(ac + (size_t)cc * as) + 8 * i, &dy, &ys); \
                        _mm256_storeu_ps(heads + ((size_t)cc * T1_MAX_SB + (size_t)i) * 16, dy);         \
                        _mm256_storeu_ps(heads + ((size_t)cc * T1_MAX_SB + (size_t)i) * 16 + 8, ys);     \
                    }                                                                                    \
                hp = heads;                                                                              \
            }                                                                                            \
            for (int64_t r = 0; r < nr; r++) {                                                           \
                const uint8_t *wr = wb + (size_t)r * ws;                                                 \
                float *o = out + (size_t)c * os + (size_t)r;                                             \
                if (C == 4) NAME##_tile(4, nb, wr, ac, as, hp, o, os);                                   \
                else if (C == 2) NAME##_tile(2, nb, wr, ac, as, hp, o, os);                              \
                else NAME##_tile(1, nb, wr, ac, as, hp, o, os);                                          \
            }                                                                                            \
            c += C;                                                                                      \
        }                                                                                                \
    }

TYPE1_MUL_MAT_AVX512(qtk_q4_K_mul_mat_avx512, qtk_block_q4_K, NULL)
TYPE1_MUL_MAT_AVX512(qtk_q5_K_mul_mat_avx512, qtk_block_q5_K, x[i].qh)

/* Q4_K (qh == NULL) and Q5_K block × its 8 Q8_2 blocks, accumulated in double. */
void qtk_q4_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    qtk_q4_K_mul_mat_avx512_tile(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, s, 0);
}

void qtk_q5_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    qtk_q5_K_mul_mat_avx512_tile(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, s, 0);
}

/* Q6_K: each weight block unpacked once (q6k_unpack) for up to 4 columns; with several
 * rows, each column's d_y and half-block sums (q6k_heads) come from a stack table made
 * once per call (Q6K_MAX_SB super-blocks at most), the same values vec_dot computes
 * inline, so results are bit-identical to vec_dot. */
#define Q6K_MAX_SB 64
QTK_FORCE_INLINE void q6_K_tile(const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as,
                                const int32_t *heads, float *out, size_t os) {
    const qtk_block_q6_K *x = (const qtk_block_q6_K *)(const void *)w;
    __m512d acc[4];
    for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_pd();
    for (int64_t i = 0; i < nb; i++) {
        q6k_unpacked u;
        q6k_unpack(&x[i], &u);
        for (int c = 0; c < C; c++) {
            const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)(a + (size_t)c * as) + 8 * i;
            __m512i yq[4], ys;
            __m256 dy;
            q6k_act(y, yq);
            if (heads) {
                const int32_t *h = heads + ((size_t)c * Q6K_MAX_SB + (size_t)i) * 24;
                dy = _mm256_loadu_ps((const float *)(const void *)h);
                ys = _mm512_loadu_si512(h + 8);
            } else {
                q6k_heads(y, yq, &dy, &ys);
            }
            acc[c] = acc_pd(acc[c], q6k_mul(&u, yq, dy, ys));
        }
    }
    for (int c = 0; c < C; c++) out[(size_t)c * os] = (float)_mm512_reduce_add_pd(acc[c]);
}

void qtk_q6_K_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                             int64_t nr, int64_t nc) {
    const int64_t nb = n / QK_K;
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;
    int32_t heads[4 * Q6K_MAX_SB * 24]; /* per column and super-block: 8 float d_y, 16 int32 sums */
    for (int64_t c = 0; c < nc;) {
        const int C = nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;
        const uint8_t *ac = ab + (size_t)c * as;
        const int32_t *hp = NULL;
        if (nr > 1 && nb <= Q6K_MAX_SB) {
            for (int cc = 0; cc < C; cc++)
                for (int64_t i = 0; i < nb; i++) {
                    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)(ac + (size_t)cc * as) + 8 * i;
                    __m512i yq[4], ys;
                    __m256 dy;
                    q6k_act(y, yq);
                    q6k_heads(y, yq, &dy, &ys);
                    int32_t *h = heads + ((size_t)cc * Q6K_MAX_SB + (size_t)i) * 24;
                    _mm256_storeu_ps((float *)(void *)h, dy);
                    _mm512_storeu_si512(h + 8, ys);
                }
            hp = heads;
        }
        for (int64_t r = 0; r < nr; r++) {
            const uint8_t *wr = wb + (size_t)r * ws;
            float *o = out + (size_t)c * os + (size_t)r;
            if (C == 4) q6_K_tile(4, nb, wr, ac, as, hp, o, os);
            else if (C == 2) q6_K_tile(2, nb, wr, ac, as, hp, o, os);
            else q6_K_tile(1, nb, wr, ac, as, hp, o, os);
        }
        c += C;
    }
}

/* Q6_K × Q8_0 (the 1-column tile). */
void qtk_q6_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    q6_K_tile(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, s, 0);
}
