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
 * Q4_K/Q5_K/Q6_K also have multi-column kernels (mul_mat): a weight block unpacked once per
 * tile of columns, the columns' activation heads made once per call.
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

/* A Q4_K (qh == NULL) or Q5_K block unpacked for type1_mul_avx2: the 256 unsigned levels
 * as 8 registers (register k = sub-block k, the block of Q8_2 activation block k) and the
 * float sub-block scales a = d·sc and mins b = dmin·m (exact: 11 × 6 bits). Split from the
 * product so a multi-column tile unpacks once per block. */
typedef struct type1_avx2_unpacked {
    __m256i q[8];
    __m256 a, b;
} type1_avx2_unpacked;

QTK_FORCE_INLINE void type1_unpack_avx2(const uint8_t *scales12, float d, float dmin, const uint8_t *qs,
                                        const uint8_t *qh, type1_avx2_unpacked *u) {
    /* sc[0..7] in bytes 0..7, m[0..7] in 8..15 (the 16 bytes read are inside the block) */
    const __m128i sm = qtk_kq_scales_min_x86(_mm_loadu_si128((const __m128i *)(const void *)scales12), 0);
    const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1);
    const __m256i hv = qh ? loadu(qh) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const __m256i qv = loadu(qs + 32 * c);
        __m256i lo = _mm256_and_si256(qv, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(srl8(hv, 2 * c), m1), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(srl8(hv, 2 * c + 1), m1), 4));
        }
        u->q[2 * c] = lo;
        u->q[2 * c + 1] = hi;
    }
    const __m256 scf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm));
    const __m256 mf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(sm, sm)));
    u->a = _mm256_mul_ps(_mm256_set1_ps(d), scf);
    u->b = _mm256_mul_ps(_mm256_set1_ps(dmin), mf);
}

QTK_FORCE_INLINE void q4_K_unpack_avx2(const qtk_block_q4_K *x, type1_avx2_unpacked *u) {
    type1_unpack_avx2(x->scales, fp16_f16c(&x->d), fp16_f16c(&x->dmin), x->qs, NULL, u);
}
QTK_FORCE_INLINE void q5_K_unpack_avx2(const qtk_block_q5_K *x, type1_avx2_unpacked *u) {
    type1_unpack_avx2(x->scales, fp16_f16c(&x->d), fp16_f16c(&x->dmin), x->qs, x->qh, u);
}

/* The column side of a super-block (KQ_KERNELS_AVX2's heads, two registers): d (lanes
 * 0..7, float) and Σqs (as float) of its 8 Q8_2 activation blocks (scalar loads:
 * vpgatherdd is slow on some CPUs, e.g. AMD Zen). */
QTK_FORCE_INLINE void type1_heads_avx2(const qtk_block_q8_2 *y, __m256i h[2]) {
    const __m256i head = q8_2_heads8(y);
    h[0] = _mm256_castps_si256(fp16_lo_to_ps(head));
    h[1] = _mm256_castps_si256(_mm256_cvtepi32_ps(_mm256_srai_epi32(head, 16)));
}

/* An unpacked block × its 8 Q8_2 blocks: lane k = the float value of sub-block k,
 * dy·(d·sc·Σq·qs − dmin·m·Σqs) (each sum an exact int32, as the scalar kernel's). */
QTK_FORCE_INLINE __m256 type1_mul_avx2(const type1_avx2_unpacked *u, const qtk_block_q8_2 *y, const __m256i h[2]) {
    const __m256 dy = _mm256_castsi256_ps(h[0]), ysum = _mm256_castsi256_ps(h[1]);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p[8];
    for (int k = 0; k < 8; k++) p[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(u->q[k], loadu(y[k].qs)), ones);
    const __m256 isum = _mm256_cvtepi32_ps(hsum8x8(p));
    /* a·isum − b·ysum rounded once (they often nearly cancel): a·isum is exact inside the
     * FMA, b·ysum is split into its rounded value pm and exact error e */
    const __m256 pm = _mm256_mul_ps(u->b, ysum), e = _mm256_fmsub_ps(u->b, ysum, pm);
    return _mm256_mul_ps(dy, _mm256_sub_ps(_mm256_fmsub_ps(u->a, isum, pm), e));
}


/* ---- Q6_K × Q8_0 ----
 * Per Q8_0 block b (weights 32b…, sub-blocks 2b and 2b + 1 of 16): Σ sc·(u − 32)·qs as an
 * exact int32 with u = level + 32 ∈ [0, 63] (maddubs pairs ≤ 2·63·127 < 2^15), then
 * scaled by d·d_y in float. The −32 share is −32·Σ sc·(Σ of the sub-block's 16 qs): one
 * vpmaddwd of the 16 scales with the 16 sums, which depend on the column only — so
 * mul_mat keeps them (and d_y) in a per-call table, and vec_dot forms them per block. */
typedef struct q6k_avx2_unpacked {
    __m256i q[8]; /* u of Q8_0 block b */
    __m256i scl;  /* int16 scales: lane 0 = sc[0,2,…,14], lane 1 = sc[1,3,…,15] */
    __m256i sc16; /* int16 scales sc[0…15] in order */
    float d;
} q6k_avx2_unpacked;

QTK_FORCE_INLINE void q6_K_unpack_avx2(const qtk_block_q6_K *x, q6k_avx2_unpacked *u) {
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    /* 16 int8 scales → even ones in bytes 0…7, odd ones in 8…15 */
    const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)(const void *)x->scales);
    u->scl = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, even_odd));
    u->sc16 = _mm256_cvtepi8_epi16(sc8);
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = loadu(x->ql + 64 * h), ql1 = loadu(x->ql + 64 * h + 32);
        const __m256i qh = loadu(x->qh + 32 * h);
        for (int t = 0; t < 4; t++) {
            const __m256i lsrc = (t % 2) ? ql1 : ql0;
            const __m256i lo = t >= 2 ? _mm256_and_si256(_mm256_srli_epi16(lsrc, 4), m4) : _mm256_and_si256(lsrc, m4);
            const __m256i hi = _mm256_and_si256(srl8(qh, 2 * t), m3);
            u->q[4 * h + t] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); /* value + 32 */
        }
    }
    u->d = fp16_f16c(&x->d);
}

/* The column side of a super-block: d_y of its 8 Q8_0 blocks (h[0], float) and the 16
 * sums of 16 qs (h[1], int16: |Σ| ≤ 16·128). */
QTK_FORCE_INLINE void q6k_heads_avx2(const qtk_block_q8_0 *yb, __m256i h[2]) {
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256i s[4];
    for (int k = 0; k < 4; k++) {
        /* blocks 2k, 2k+1: lanes 0…3 / 4…7 = 4-sums of the first / second 16 of each */
        const __m256i a = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, loadu(yb[2 * k].qs)), ones16);
        const __m256i b = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, loadu(yb[2 * k + 1].qs)), ones16);
        s[k] = _mm256_hadd_epi32(a, b); /* a01 a23 b01 b23 | a45 a67 b45 b67 (8-sums) */
    }
    /* 16-sums: sub-block 2b (first 16 of block b) and 2b + 1 */
    const __m256i t01 = _mm256_hadd_epi32(s[0], s[1]), t23 = _mm256_hadd_epi32(s[2], s[3]);
    /* t01 = [y0a y1a y2a y3a | y0b y1b y2b y3b] with yNa = first 16 of block N, b = second */
    const __m256i lo = _mm256_permute2x128_si256(t01, t23, 0x20), hi = _mm256_permute2x128_si256(t01, t23, 0x31);
    /* lo = first 16s of blocks 0…7, hi = second 16s: interleaved, the pack leaves sub-blocks
     * 0…7 in the low lane (blocks 0…3) and 8…15 in the high one */
    h[1] = _mm256_packs_epi32(_mm256_unpacklo_epi32(lo, hi), _mm256_unpackhi_epi32(lo, hi));
    uint16_t hd[8];
    for (int k = 0; k < 8; k++) memcpy(&hd[k], &yb[k].d, 2);
    h[0] = _mm256_castps_si256(_mm256_cvtph_ps(_mm_setr_epi16((short)hd[0], (short)hd[1], (short)hd[2], (short)hd[3],
                                                              (short)hd[4], (short)hd[5], (short)hd[6], (short)hd[7])));
}

/* An unpacked block × its 8 Q8_0 blocks: the 8 block values d·d_y·Σ sc·(u − 32)·qs. */
QTK_FORCE_INLINE __m256 q6k_mul_avx2(const q6k_avx2_unpacked *u, const qtk_block_q8_0 *yb, const __m256i h[2]) {
    const __m256 dy = _mm256_castsi256_ps(h[0]);
    const __m256i ys16 = h[1];
    __m256i p[8];
    for (int b = 0; b < 8; b++) {
        const __m256i scb = _mm256_shuffle_epi8(u->scl, _mm256_set1_epi16((short)(0x0100 + 0x0202 * b)));
        p[b] = _mm256_madd_epi16(_mm256_maddubs_epi16(u->q[b], loadu(yb[b].qs)), scb);
    }
    const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(u->sc16, ys16), 5); /* lane b: 32·Σ sc·Σqs */
    const __m256 isum = _mm256_cvtepi32_ps(_mm256_sub_epi32(hsum8x8(p), off));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(u->d), dy), isum);
}

/* ---- Q4_K / Q5_K / Q6_K: vec_dot and the multi-column kernels (mul_mat of qtk.h) ----
 * A tile of one row × C ≤ 4 columns unpacks each weight block once (T##_unpack_avx2);
 * with several rows, each column's activation heads (HEADS: two registers per
 * super-block) come from a stack table made once per call, the values HEADS computes
 * inline, so every tile and vec_dot (the 1 × 1 tile) give the same bits. */
#define KQ_MAX_SB (QTK_TABLE_ROW_WEIGHTS / 256)
#define KQ_KERNELS_AVX2(T, BLOCK, ACT, UNPACKED, HEADS, MUL)                                              \
    QTK_FORCE_INLINE void T##_tile_avx2(const int C, int64_t nb, const uint8_t *w, const uint8_t *a, size_t as, \
                                        const __m256i *heads, float *out, size_t os) {                     \
        const BLOCK *x = (const BLOCK *)(const void *)w;                                                 \
        __m256d acc[4];                                                                                  \
        for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_pd();                                        \
        for (int64_t i = 0; i < nb; i++) {                                                               \
            UNPACKED u;                                                                                  \
            qtk_prefetch_ahead(&x[i], (int)sizeof(BLOCK));                                               \
            T##_unpack_avx2(&x[i], &u);                                                                  \
            for (int c = 0; c < C; c++) {                                                                \
                const ACT *y = (const ACT *)(const void *)(a + (size_t)c * as) + 8 * i;                   \
                __m256i h[2];                                                                            \
                if (heads) {                                                                             \
                    h[0] = heads[2 * ((size_t)c * KQ_MAX_SB + (size_t)i)];                               \
                    h[1] = heads[2 * ((size_t)c * KQ_MAX_SB + (size_t)i) + 1];                           \
                } else {                                                                                 \
                    HEADS(y, h);                                                                         \
                }                                                                                        \
                acc[c] = acc_pd(acc[c], MUL(&u, y, h));                                                  \
            }                                                                                            \
        }                                                                                                \
        for (int c = 0; c < C; c++) out[(size_t)c * os] = (float)hsum_pd(acc[c]);                        \
    }                                                                                                    \
    void qtk_##T##_mul_mat_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, \
                                size_t os, int64_t nr, int64_t nc) {                                     \
        const int64_t nb = n / QK_K;                                                                     \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                \
        __m256i heads[4 * KQ_MAX_SB * 2];                                                                \
        for (int64_t c = 0; c < nc;) {                                                                   \
            const int C = nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;                                         \
            const uint8_t *ac = ab + (size_t)c * as;                                                     \
            const __m256i *hp = NULL;                                                                    \
            if (nr > 1 && nb <= KQ_MAX_SB) {                                                             \
                for (int cc = 0; cc < C; cc++)                                                           \
                    for (int64_t i = 0; i < nb; i++)                                                     \
                        HEADS((const ACT *)(const void *)(ac + (size_t)cc * as) + 8 * i,                 \
                              heads + 2 * ((size_t)cc * KQ_MAX_SB + (size_t)i));                         \
                hp = heads;                                                                              \
            }                                                                                            \
            for (int64_t r = 0; r < nr; r++) {                                                           \
                const uint8_t *wr = wb + (size_t)r * ws;                                                 \
                float *o = out + (size_t)c * os + (size_t)r;                                             \
                if (C == 4) T##_tile_avx2(4, nb, wr, ac, as, hp, o, os);                                 \
                else if (C == 2) T##_tile_avx2(2, nb, wr, ac, as, hp, o, os);                            \
                else T##_tile_avx2(1, nb, wr, ac, as, hp, o, os);                                        \
            }                                                                                            \
            c += C;                                                                                      \
        }                                                                                                \
    }                                                                                                    \
    void qtk_##T##_vec_dot_avx2(int64_t n, float *s, const void *vx, const void *vy) {                   \
        T##_tile_avx2(1, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, NULL, s, 0);             \
    }

KQ_KERNELS_AVX2(q4_K, qtk_block_q4_K, qtk_block_q8_2, type1_avx2_unpacked, type1_heads_avx2, type1_mul_avx2)
KQ_KERNELS_AVX2(q5_K, qtk_block_q5_K, qtk_block_q8_2, type1_avx2_unpacked, type1_heads_avx2, type1_mul_avx2)
KQ_KERNELS_AVX2(q6_K, qtk_block_q6_K, qtk_block_q8_0, q6k_avx2_unpacked, q6k_heads_avx2, q6k_mul_avx2)
