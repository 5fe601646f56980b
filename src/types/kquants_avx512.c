/*
 * kquants_avx512.c — AVX-512 (F/BW/VL + VNNI, which the AVX-512 dispatch level requires)
 * dot products and multi-column kernels, 64 weights per 512-bit register: Q2_K/Q3_K with
 * Q8_K activations, Q4_K/Q5_K with Q8_2, Q6_K with Q8_0.
 * Q2_K/Q3_K: vpdpbusd of the unsigned levels (Q2_K: already times the sub-block scale,
 * Q3_K: + 4, then vpdpwssd by the signed scales) gives exact int32 super-block sums;
 * mins and level offsets go through the Q8_K bsums, and the double-precision
 * combination is the scalar kernel's, so results equal the scalar kernels' bits.
 * Q4_K/Q5_K/Q6_K: vpdpbusd gives exact int32 sums of 4 products per lane, which are
 * scaled by the float d·sc·d_y of their 16/32-value sub-block, combined in float per
 * super-block and summed in double.
 */
#include "kquants.h"
#include "simd_x86.h"

#include <immintrin.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

static inline __m256i loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m512i loadu512(const void *p) { return _mm512_loadu_si512(p); }

/* Per-byte logical right shift by a run-time count (caller masks the result). */
static inline __m256i srl8(__m256i v, int k) { return _mm256_srl_epi16(v, _mm_cvtsi32_si128(k)); }

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

/* The block's d and dmin (the first 4 bytes) and its 12 scale bytes, read as 16 bytes
 * (the 4 after them are weights: always inside the block). */
QTK_FORCE_INLINE void type1_unpack(const uint8_t *block, const uint8_t *qs, const uint8_t *qh, type1_unpacked *u) {
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
            const __m512i bit = qtk_join256(_mm256_set1_epi8((char)(1 << s0)), _mm256_set1_epi8((char)(1 << s1)));
            u->q[k] = _mm512_or_si512(u->q[k], _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(hv, bit), h5));
        }
    }
    /* sc[0..7] to bytes 0..7, m[0..7] to bytes 8..15, each in lane order T1_ORD */
    const __m128i sm = qtk_kq_scales_min_x86(_mm_loadu_si128((const __m128i *)(const void *)(block + 4)), 1);
    const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(sm));
    /* d in lanes 0..7, dmin in 8..15 (exact fp16 widening, as fp16_f16c) */
    uint32_t ddw;
    memcpy(&ddw, block, 4);
    const __m128 dd2 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)ddw));
    const __m512 dd = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                            _mm512_castps128_ps512(dd2));
    const __m512 ab = _mm512_mul_ps(f, dd);
    u->a = _mm512_castps512_ps256(ab);
    u->b = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(ab), 1));
}

/* The four activation registers of a super-block's 8 Q8_2 blocks, paired as the weight
 * registers: y0 | y2, y1 | y3, y4 | y6, y5 | y7. Loaded once per column, shared by rows. */
QTK_FORCE_INLINE void type1_act(const qtk_block_q8_2 *y, __m512i yq[4]) {
    for (int k = 0; k < 4; k++) {
        const int s0 = (k & 1) + 4 * (k >> 1);
        yq[k] = qtk_join256(loadu256(y[s0].qs), loadu256(y[s0 + 2].qs));
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
 * vpdpbusd, the transpose-add qtk_sums4x4_i32 gives the 16 exact sub-block sums in lane order
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
        u->q[2 * h] = qtk_join256(v[0], v[1]);
        u->q[2 * h + 1] = qtk_join256(v[2], v[3]);
    }
    const __m128i order = _mm_setr_epi8(Q6K_P_BYTES);
    u->scf = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)x->scales), order)));
    u->d = fp16_f16c(&x->d);
}

/* Lane 4j + k of the result = Σ of the 4 lanes of 128-bit chunk j of z[k]. */
/* The activation registers of a super-block (Q8_0 blocks 2k | 2k+1 in register k). */
QTK_FORCE_INLINE void q6k_act(const qtk_block_q8_0 *yb, __m512i yq[4]) {
    for (int k = 0; k < 4; k++) yq[k] = qtk_join256(loadu256(yb[2 * k].qs), loadu256(yb[2 * k + 1].qs));
}

/* d_y of the 8 Q8_0 blocks and Σqs of each 16-value half, in lane order Q6K_P. */
QTK_FORCE_INLINE void q6k_heads(const qtk_block_q8_0 *yb, const __m512i yq[4], __m256 *dy, __m512i *ys) {
    __m512i z[4];
    for (int k = 0; k < 4; k++) z[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), yq[k]);
    *ys = qtk_sums4x4_i32(z);
    *dy = _mm256_cvtph_ps(q8_0_scales8(yb));
}

/* An unpacked block × one column's activation registers: the 8 partial sums vec_dot
 * accumulates in double. */
QTK_FORCE_INLINE __m256 q6k_mul(const q6k_unpacked *u, const __m512i yq[4], __m256 dy, __m512i ys) {
    /* lane L → Q8_0 block of sub-block Q6K_P(L) */
    const __m512i pair = _mm512_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6, 1, 3, 5, 7, 1, 3, 5, 7);
    __m512i z[4];
    for (int k = 0; k < 4; k++) z[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u->q[k], yq[k]);
    const __m512i is = _mm512_sub_epi32(qtk_sums4x4_i32(z), _mm512_slli_epi32(ys, 5));
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
 * Zen 4.) Every block loop prefetches the weights QTK_PREFETCH_AHEAD bytes on:
 * +35-60 % streaming a matrix on a Xeon, +15-25 % on Zen 4 at 4096 bytes (simd_x86.h).
 * The tables hold rows of up to 32768 weights (64 KiB of stack), as do the per-call
 * tables of the other 32-block and super-block kernels: rows past them convert their
 * activations per row, and at 16384 a 27-70B model's ffn_down rows (gemma3-27B 21504,
 * Llama-3-70B 28672) fell off. One Zen 4 thread, in cache, 28672-weight rows against
 * 16384: Q4_K 8-9.5 against 21-32 GB/s, Q5_K 9-11 against 23-30, IQ4_NL (table of
 * 24576) 13-19 against 25-37; all at the 16384 speed now. */
#define T1_MAX_SB (QTK_TABLE_ROW_WEIGHTS / 256)
#define TYPE1_MUL_MAT_AVX512(NAME, BLOCK, QH)                                                             \
    QTK_FORCE_INLINE void NAME##_tile(const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as,  \
                                      const float *heads, const __m512i *acts, float *out, size_t os) {    \
        const BLOCK *x = (const BLOCK *)(const void *)w;                                                 \
        __m512d acc[4];                                                                                  \
        for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_pd();                                        \
        for (int64_t i = 0; i < nb; i++) {                                                               \
            type1_unpacked u;                                                                            \
            qtk_prefetch_ahead(&x[i], (int)sizeof(BLOCK));                                               \
            type1_unpack((const uint8_t *)&x[i], x[i].qs, QH, &u);                                  \
            for (int c = 0; c < C; c++) {                                                                \
                const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)(const void *)(a + (size_t)c * as) + 8 * i; \
                __m512i yq[4];                                                                           \
                __m256 dy, ys;                                                                           \
                if (acts) {                                                                              \
                    for (int k = 0; k < 4; k++) yq[k] = acts[4 * i + k];                                 \
                } else {                                                                                 \
                    type1_act(y, yq);                                                                    \
                }                                                                                        \
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
        __m512i acts[4 * T1_MAX_SB]; /* one column's activation registers, made once per call */       \
        for (int64_t c = 0; c < nc;) {                                                                   \
            const int C = nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;                                         \
            const uint8_t *ac = ab + (size_t)c * as;                                                     \
            const float *hp = NULL;                                                                      \
            const __m512i *ap = NULL;                                                                    \
            if (C == 1 && nr > 1 && nb <= T1_MAX_SB) {                                                   \
                for (int64_t i = 0; i < nb; i++) type1_act((const qtk_block_q8_2 *)(const void *)ac + 8 * i, &acts[4 * i]); \
                ap = acts;                                                                               \
            }                                                                                            \
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
                if (C == 4) NAME##_tile(4, nb, wr, ac, as, hp, NULL, o, os);                             \
                else if (C == 2) NAME##_tile(2, nb, wr, ac, as, hp, NULL, o, os);                        \
                else NAME##_tile(1, nb, wr, ac, as, hp, ap, o, os);                                      \
            }                                                                                            \
            c += C;                                                                                      \
        }                                                                                                \
    }

TYPE1_MUL_MAT_AVX512(qtk_q4_K_mul_mat_avx512, qtk_block_q4_K, NULL)
TYPE1_MUL_MAT_AVX512(qtk_q5_K_mul_mat_avx512, qtk_block_q5_K, x[i].qh)

/* Q4_K (qh == NULL) and Q5_K block × its 8 Q8_2 blocks, accumulated in double. */
void qtk_q4_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    qtk_q4_K_mul_mat_avx512_tile(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, NULL, s, 0);
}

void qtk_q5_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    qtk_q5_K_mul_mat_avx512_tile(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, NULL, s, 0);
}

/* Q6_K: each weight block unpacked once (q6k_unpack) for up to 4 columns; with several
 * rows, each column's d_y and half-block sums (q6k_heads) come from a stack table made
 * once per call (Q6K_MAX_SB super-blocks at most), the same values vec_dot computes
 * inline, so results are bit-identical to vec_dot. */
#define Q6K_MAX_SB (QTK_TABLE_ROW_WEIGHTS / 256)
QTK_FORCE_INLINE void q6_K_tile(const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as,
                                const int32_t *heads, const __m512i *acts, float *out, size_t os) {
    const qtk_block_q6_K *x = (const qtk_block_q6_K *)(const void *)w;
    __m512d acc[4];
    for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_pd();
    for (int64_t i = 0; i < nb; i++) {
        q6k_unpacked u;
        qtk_prefetch_ahead(&x[i], (int)sizeof(x[i]));
        q6k_unpack(&x[i], &u);
        for (int c = 0; c < C; c++) {
            const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)(const void *)(a + (size_t)c * as) + 8 * i;
            __m512i yq[4], ys;
            __m256 dy;
            if (acts) {
                for (int k = 0; k < 4; k++) yq[k] = acts[4 * i + k];
            } else {
                q6k_act(y, yq);
            }
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
    __m512i acts[4 * Q6K_MAX_SB];       /* one column's activation registers (q6k_act), once per call */
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
                    if (C == 1)
                        for (int k = 0; k < 4; k++) acts[4 * i + k] = yq[k];
                }
            hp = heads;
        }
        for (int64_t r = 0; r < nr; r++) {
            const uint8_t *wr = wb + (size_t)r * ws;
            float *o = out + (size_t)c * os + (size_t)r;
            if (C == 4) q6_K_tile(4, nb, wr, ac, as, hp, NULL, o, os);
            else if (C == 2) q6_K_tile(2, nb, wr, ac, as, hp, NULL, o, os);
            else q6_K_tile(1, nb, wr, ac, as, hp, hp ? acts : NULL, o, os);
        }
        c += C;
    }
}

/* Q6_K × Q8_0 (the 1-column tile). */
void qtk_q6_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    q6_K_tile(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, NULL, s, 0);
}

/* ---- Q2_K / Q3_K multi-column kernels (the mul_mat contract of qtk.h) -------
 * The weight side of a super-block (2-bit levels, Q3_K's high bits, scales) is
 * unpacked once per tile of up to 4 columns; the activation side (the Q8_K
 * values paired as the level registers: register j = weights 32j..32j+31 |
 * 128+32j..128+32j+31, so 128-bit chunk b holds sub-block 2j + (b & 1) +
 * 8·(b >> 1)) comes from a stack table made once per call when the call has
 * several rows. Integer sums per super-block are exact and the double steps are
 * the scalar kernels' in their order, so mul_mat, vec_dot and the scalar
 * vec_dot give the same bits. */

/* Sub-block of 128-bit chunk b of level register j. */
#define KQ_SB(j, b) (2 * (j) + ((b) & 1) + 8 * ((b) >> 1))

/* vpshufb indices of the scale words. Q2_K, register j: word w of chunk b takes byte
 * KQ_SB(j, b) into its low byte (high byte zero). Q3_K, register pair j, j + 1: words
 * 0..3 of chunk b take byte KQ_SB(j, b), words 4..7 byte KQ_SB(j + 1, b), into their
 * high byte (low byte zero; an arithmetic shift then sign-extends). */
#define Q2W(sb) (0x8000800080008000ull | (0x0001000100010001ull * (uint64_t)(sb)))
#define Q2W_ROW(j) {Q2W(KQ_SB(j, 0)), Q2W(KQ_SB(j, 0)), Q2W(KQ_SB(j, 1)), Q2W(KQ_SB(j, 1)), \
                    Q2W(KQ_SB(j, 2)), Q2W(KQ_SB(j, 2)), Q2W(KQ_SB(j, 3)), Q2W(KQ_SB(j, 3))}
static const uint64_t q2k_word_idx[4][8] = {Q2W_ROW(0), Q2W_ROW(1), Q2W_ROW(2), Q2W_ROW(3)};
#define Q3W(sb) (0x0080008000800080ull | (0x0100010001000100ull * (uint64_t)(sb)))
#define Q3W_ROW(j) {Q3W(KQ_SB(j, 0)), Q3W(KQ_SB(j + 1, 0)), Q3W(KQ_SB(j, 1)), Q3W(KQ_SB(j + 1, 1)), \
                    Q3W(KQ_SB(j, 2)), Q3W(KQ_SB(j + 1, 2)), Q3W(KQ_SB(j, 3)), Q3W(KQ_SB(j + 1, 3))}
static const uint64_t q3k_word_idx[2][8] = {Q3W_ROW(0), Q3W_ROW(2)};

/* The activation registers of a Q8_K block in level-register order. */
#define KQ_ACT 4
QTK_FORCE_INLINE void kq_act(const qtk_block_q8_K *yb, __m512i ya[KQ_ACT]) {
    for (int j = 0; j < 4; j++) ya[j] = qtk_join256(loadu256(yb->qs + 32 * j), loadu256(yb->qs + 128 + 32 * j));
}

/* The fp16 at byte offset `off` of 4 consecutive blocks of `bs` bytes, as doubles. */
static inline __m256d kq_fp16x4(const uint8_t *x, size_t bs, size_t off) {
    uint16_t h[4];
    for (int k = 0; k < 4; k++) memcpy(&h[k], x + (size_t)k * bs + off, 2);
    return _mm256_cvtps_pd(_mm_cvtph_ps(_mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3], 0, 0, 0, 0)));
}

/* d_y of 4 consecutive Q8_K blocks as doubles (from the table when there is one). */
static inline __m256d kq_dy4(const qtk_block_q8_K *y, const double *tyd) {
    if (tyd) return _mm256_loadu_pd(tyd);
    return _mm256_setr_pd((double)y[0].d, (double)y[1].d, (double)y[2].d, (double)y[3].d);
}

/* ---- Q2_K: levels × scale (≤ 45) made on the weight side with one 16-bit multiply per
 * register (byte products never carry), so a column costs 4 chained vpdpbusd; the mins
 * term Σ m·bsums is a separate exact integer (it is scaled by dmin). */
typedef struct q2k_unpacked {
    __m512i u[4];  /* level·sc of register j */
    __m256i m16;   /* the 16 mins as int16   */
} q2k_unpacked;

QTK_FORCE_INLINE void q2k_unpack(const qtk_block_q2_K *x, q2k_unpacked *u) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m128i sraw = _mm_loadu_si128((const __m128i *)(const void *)x->scales);
    const __m512i sc = _mm512_broadcast_i32x4(_mm_and_si128(sraw, _mm_set1_epi8(15)));
    const __m512i qv = loadu512(x->qs);
    for (int j = 0; j < 4; j++) {
        /* word w of chunk b = sc[KQ_SB(j, b)] (high byte zero) */
        const __m512i idx = _mm512_loadu_si512((const void *)q2k_word_idx[j]);
        const __m512i lv = _mm512_and_si512(j ? _mm512_srli_epi16(qv, 2 * j) : qv, m3);
        u->u[j] = _mm512_mullo_epi16(lv, _mm512_shuffle_epi8(sc, idx));
    }
    u->m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sraw, 4), _mm_set1_epi8(15)));
}

/* One column: chunks 0..1 hold Σ sc·q·y in 8 lanes, chunks 2..3 Σ m·bsums. */
QTK_FORCE_INLINE __m512i q2k_mul(const q2k_unpacked *u, const __m512i ya[KQ_ACT], const qtk_block_q8_K *y) {
    __m512i acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u->u[0], ya[0]);
    for (int j = 1; j < 4; j++) acc = _mm512_dpbusd_epi32(acc, u->u[j], ya[j]);
    const __m256i is = _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
    const __m256i ms = _mm256_madd_epi16(u->m16, _mm256_loadu_si256((const __m256i *)(const void *)y->bsums));
    return qtk_join256(is, ms);
}

QTK_FORCE_INLINE void q2_K_tile(const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as,
                                const __m512i *tab, const double *tyd, float *out, size_t os) {
    const qtk_block_q2_K *x = (const qtk_block_q2_K *)(const void *)w;
    double sum[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 3 < nb; i += 4) {
        __m512i r[4][4];
        for (int j = 0; j < 4; j++) {
            q2k_unpacked u;
            qtk_prefetch_ahead(&x[i + j], (int)sizeof(x[i + j]));
            q2k_unpack(&x[i + j], &u);
            for (int c = 0; c < C; c++) {
                const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)c * as) + i + j;
                __m512i ya[KQ_ACT];
                if (tab) {
                    for (int k = 0; k < KQ_ACT; k++) ya[k] = tab[((size_t)c * (size_t)nb + (size_t)(i + j)) * KQ_ACT + k];
                } else {
                    kq_act(y, ya);
                }
                r[c][j] = q2k_mul(&u, ya, y);
            }
        }
        const __m256d d4 = kq_fp16x4(w + (size_t)i * sizeof(qtk_block_q2_K), sizeof(qtk_block_q2_K), 80);
        const __m256d m4 = kq_fp16x4(w + (size_t)i * sizeof(qtk_block_q2_K), sizeof(qtk_block_q2_K), 82);
        for (int c = 0; c < C; c++) {
            const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)c * as) + i;
            /* [isum 0..3 | msum 0..3] */
            const __m512i t = qtk_sums4x4_i32(r[c]);
            const __m512i tp = _mm512_shuffle_i32x4(t, t, _MM_SHUFFLE(3, 1, 2, 0));
            const __m256i s = _mm256_add_epi32(_mm512_castsi512_si256(tp), _mm512_extracti64x4_epi64(tp, 1));
            const __m256d is = _mm256_cvtepi32_pd(_mm256_castsi256_si128(s));
            const __m256d ms = _mm256_cvtepi32_pd(_mm256_extracti128_si256(s, 1));
            const __m256d dy = kq_dy4(y, tyd ? tyd + (size_t)c * (size_t)nb + (size_t)i : NULL);
            double v[4];
            _mm256_storeu_pd(v, _mm256_mul_pd(dy, _mm256_sub_pd(_mm256_mul_pd(d4, is), _mm256_mul_pd(m4, ms))));
            sum[c] += v[0];
            sum[c] += v[1];
            sum[c] += v[2];
            sum[c] += v[3];
        }
    }
    for (; i < nb; i++) {
        q2k_unpacked u;
        q2k_unpack(&x[i], &u);
        const double d = (double)fp16_f16c(&x[i].d), dmin = (double)fp16_f16c(&x[i].dmin);
        for (int c = 0; c < C; c++) {
            const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)c * as) + i;
            __m512i ya[KQ_ACT];
            if (tab) {
                for (int k = 0; k < KQ_ACT; k++) ya[k] = tab[((size_t)c * (size_t)nb + (size_t)i) * KQ_ACT + k];
            } else {
                kq_act(y, ya);
            }
            const __m512i z = q2k_mul(&u, ya, y);
            const int isum = qtk_hsum_i32x8(_mm512_castsi512_si256(z));
            const int msum = qtk_hsum_i32x8(_mm512_extracti64x4_epi64(z, 1));
            sum[c] += (double)y->d * (d * isum - dmin * msum);
        }
    }
    for (int c = 0; c < C; c++) out[(size_t)c * os] = (float)sum[c];
}

/* ---- Q3_K: levels + 4 (0..7) against the activations, the −4·Σy offset taken back
 * per sub-block from the Q8_K bsums; the 4-product int32 lanes (|·| ≤ 4·7·128) pack
 * to int16 without saturating, and vpdpwssd multiplies them by the signed scales. */
typedef struct q3k_unpacked {
    __m512i u[4];   /* levels + 4 of register j                        */
    __m512i sw[2];  /* scale words of the register pairs 0, 1 and 2, 3 */
    __m256i sc16;   /* the 16 scales as int16                          */
} q3k_unpacked;

QTK_FORCE_INLINE void q3k_unpack(const qtk_block_q3_K *x, q3k_unpacked *u) {
    const __m512i m3 = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4);
    const __m512i qv = loadu512(x->qs);
    const __m512i hm = _mm512_broadcast_i64x4(loadu256(x->hmask));
    for (int j = 0; j < 4; j++) {
        const __m512i lv = _mm512_and_si512(j ? _mm512_srli_epi16(qv, 2 * j) : qv, m3);
        /* the high bit of weight 32j + l is bit j of hmask[l], of 128 + 32j + l bit 4 + j */
        const __m512i bit = qtk_join256(_mm256_set1_epi8((char)(1 << j)), _mm256_set1_epi8((char)(1 << (4 + j))));
        u->u[j] = _mm512_mask_add_epi8(lv, _mm512_test_epi8_mask(hm, bit), lv, four);
    }
    const __m128i sc = qtk_q3k_scales_x86(x->scales); /* the 16 six-bit scales − 32 */
    const __m512i scb = _mm512_broadcast_i32x4(sc);
    for (int p = 0; p < 2; p++)
        u->sw[p] = _mm512_srai_epi16(_mm512_shuffle_epi8(scb, _mm512_loadu_si512((const void *)q3k_word_idx[p])), 8);
    u->sc16 = _mm256_cvtepi8_epi16(sc);
}

/* Activation side of Q3_K: kq_act's registers + −4·bsums (int16, in the low half). */
#define Q3K_ACT 5
QTK_FORCE_INLINE void q3k_act(const qtk_block_q8_K *yb, __m512i ya[Q3K_ACT]) {
    kq_act(yb, ya);
    const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)yb->bsums);
    ya[4] = _mm512_zextsi256_si512(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(bs, 2)));
}

/* 16 int32 lanes whose total is the exact Σ sc·Σ (level − 4)·y of the super-block. */
QTK_FORCE_INLINE __m512i q3k_mul(const q3k_unpacked *u, const __m512i ya[Q3K_ACT]) {
    __m512i d[4];
    for (int j = 0; j < 4; j++) d[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u->u[j], ya[j]);
    const __m256i corr = _mm256_madd_epi16(u->sc16, _mm512_castsi512_si256(ya[4]));
    const __m512i acc = _mm512_dpwssd_epi32(_mm512_zextsi256_si512(corr), _mm512_packs_epi32(d[0], d[1]), u->sw[0]);
    return _mm512_dpwssd_epi32(acc, _mm512_packs_epi32(d[2], d[3]), u->sw[1]);
}

QTK_FORCE_INLINE void q3_K_tile(const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as,
                                const __m512i *tab, const double *tyd, float *out, size_t os) {
    const qtk_block_q3_K *x = (const qtk_block_q3_K *)(const void *)w;
    double sum[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 3 < nb; i += 4) {
        __m512i r[4][4];
        for (int j = 0; j < 4; j++) {
            q3k_unpacked u;
            qtk_prefetch_ahead(&x[i + j], (int)sizeof(x[i + j]));
            q3k_unpack(&x[i + j], &u);
            for (int c = 0; c < C; c++) {
                __m512i ya[Q3K_ACT];
                if (tab) {
                    for (int k = 0; k < Q3K_ACT; k++) ya[k] = tab[((size_t)c * (size_t)nb + (size_t)(i + j)) * Q3K_ACT + k];
                } else {
                    q3k_act((const qtk_block_q8_K *)(const void *)(a + (size_t)c * as) + i + j, ya);
                }
                r[c][j] = q3k_mul(&u, ya);
            }
        }
        const __m256d d4 = kq_fp16x4(w + (size_t)i * sizeof(qtk_block_q3_K), sizeof(qtk_block_q3_K), 108);
        for (int c = 0; c < C; c++) {
            const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)c * as) + i;
            const __m256d dy = kq_dy4(y, tyd ? tyd + (size_t)c * (size_t)nb + (size_t)i : NULL);
            double v[4];
            _mm256_storeu_pd(v, _mm256_mul_pd(_mm256_mul_pd(dy, d4), _mm256_cvtepi32_pd(qtk_hsum4x16_i32(r[c]))));
            sum[c] += v[0];
            sum[c] += v[1];
            sum[c] += v[2];
            sum[c] += v[3];
        }
    }
    for (; i < nb; i++) {
        q3k_unpacked u;
        q3k_unpack(&x[i], &u);
        const double d = (double)fp16_f16c(&x[i].d);
        for (int c = 0; c < C; c++) {
            const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)c * as) + i;
            __m512i ya[Q3K_ACT];
            if (tab) {
                for (int k = 0; k < Q3K_ACT; k++) ya[k] = tab[((size_t)c * (size_t)nb + (size_t)i) * Q3K_ACT + k];
            } else {
                q3k_act(y, ya);
            }
            sum[c] += (double)y->d * d * _mm512_reduce_add_epi32(q3k_mul(&u, ya));
        }
    }
    for (int c = 0; c < C; c++) out[(size_t)c * os] = (float)sum[c];
}

/* (column, super-block) pairs the stack table of a call holds (32-40 KiB): one
 * column of 32768 weights (T1_MAX_SB). */
#define KQ_TAB_SB (QTK_TABLE_ROW_WEIGHTS / 256)
#define KQ_MUL_MAT_AVX512(NAME, TILE, ACT, NACT)                                                                  \
    void NAME(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int64_t nr,    \
              int64_t nc) {                                                                                       \
        const int64_t nb = n / QK_K;                                                                              \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                         \
        __m512i tab[KQ_TAB_SB * NACT];                                                                            \
        double tyd[KQ_TAB_SB];                                                                                    \
        for (int64_t c = 0; c < nc;) {                                                                            \
            const int C = nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;                                                  \
            const uint8_t *ac = ab + (size_t)c * as;                                                              \
            const __m512i *tp = NULL;                                                                             \
            const double *tdp = NULL;                                                                             \
            if (nr > 1 && C * nb <= KQ_TAB_SB) {                                                                  \
                for (int cc = 0; cc < C; cc++)                                                                    \
                    for (int64_t i = 0; i < nb; i++) {                                                            \
                        const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(ac + (size_t)cc * as) + i; \
                        ACT(y, &tab[((size_t)cc * (size_t)nb + (size_t)i) * NACT]);                               \
                        tyd[(size_t)cc * (size_t)nb + (size_t)i] = (double)y->d;                                  \
                    }                                                                                             \
                tp = tab;                                                                                         \
                tdp = tyd;                                                                                        \
            }                                                                                                     \
            for (int64_t r = 0; r < nr; r++) {                                                                    \
                const uint8_t *wr = wb + (size_t)r * ws;                                                          \
                float *o = out + (size_t)c * os + (size_t)r;                                                      \
                if (C == 4) TILE(4, nb, wr, ac, as, tp, tdp, o, os);                                              \
                else if (C == 2) TILE(2, nb, wr, ac, as, tp, tdp, o, os);                                         \
                else TILE(1, nb, wr, ac, as, tp, tdp, o, os);                                                     \
            }                                                                                                     \
            c += C;                                                                                               \
        }                                                                                                         \
    }

KQ_MUL_MAT_AVX512(qtk_q2_K_mul_mat_avx512, q2_K_tile, kq_act, KQ_ACT)
KQ_MUL_MAT_AVX512(qtk_q3_K_mul_mat_avx512, q3_K_tile, q3k_act, Q3K_ACT)

/* Q2_K / Q3_K × Q8_K: the 1 × 1 tiles. */
void qtk_q2_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    q2_K_tile(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, NULL, s, 0);
}

void qtk_q3_K_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    q3_K_tile(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, NULL, s, 0);
}
