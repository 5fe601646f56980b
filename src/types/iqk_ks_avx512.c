/*
 * iqk_ks_avx512.c — AVX-512 (BW/VL/VNNI) dot products and multi-column kernels
 * of the KS types with Q8_K activations. Indices map through the fixed grid
 * biased by +128 (so it is unsigned), vpdpbusd sums u8×s8 products straight
 * into 32-bit lanes, and the +128 bias (and, where the kernel looks up the base
 * grid only, the shifted grid's offset) is taken back per sub-block from the
 * Q8_K block sums: Σ T_sh·y = Σ (T+128)·y + (c·shift − 128)·Σy. Super-block sums
 * are exact integers (reduced in integers: their lanes carry the +128 bias, which
 * only cancels in the total), converted and multiplied by d_y as in the scalar
 * kernels, and added into 4 float lanes by super-block index mod 4, summed once per
 * row (ks_acc4 / ks_acc1 / ks_sum4). The scalar kernels add them one after the
 * other instead — a chain of dependent adds that cost 4-12 % of these kernels' time
 * on one Zen 4 thread in cache (IQ2_KS 16.7 → 17.6-18.7 GB/s, IQ4_KSS 24.3-25.7 →
 * 26.3-28.2) — so the results agree with them within float rounding (test_dot: 1e-6
 * of the row's Σ|w·y|), and vec_dot — the 1 × 1 tile of every type here (IQ4_KSS
 * too, since it shares IQ4_KS's kernel) — and mul_mat give the same bits. (Adding
 * each super-block's 8 integer lanes as floats, without the integer total, is
 * faster still but loses the bias's cancellation: 1.4e-6 of Σ|w·y| on spiky rows.)
 */
#include "iqk_ks.h"
#include "grids.h"
#include "simd_x86.h"

#include <immintrin.h>

/* IQ4NL base grid + 128. */
static inline __m512i iq4_table_u8(void) {
    const __m128i t = _mm_add_epi8(_mm_loadu_si128((const __m128i *)qtk_iq4nl_values), _mm_set1_epi8((char)0x80));
    return _mm512_broadcast_i32x4(t);
}

/* acc + the exact totals of 4 consecutive super-blocks (their 8-lane integer sums
 * r[0..3], reduced in integers) times their d_y, lane q for super-block q. */
QTK_FORCE_INLINE __m128 ks_acc4(__m128 acc, const __m256i r[4], const qtk_block_q8_K *y) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(r[0], r[1]), _mm256_hadd_epi32(r[2], r[3]));
    const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    const __m128 dy = _mm_setr_ps(y[0].d, y[1].d, y[2].d, y[3].d);
    return _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(s4), dy));
}

/* acc + the exact total of super-block i (8-lane integer sum r) times its d_y, in lane i % 4. */
QTK_FORCE_INLINE __m128 ks_acc1(__m128 acc, __m256i r, const qtk_block_q8_K *y, int64_t i) {
    const __m128 v = _mm_set1_ps((float)qtk_hsum_i32x8(r) * y->d);
    return _mm_mask_add_ps(acc, (__mmask8)(1u << (i & 3)), acc, v);
}

/* The 4 lanes of a row's accumulator summed in one fixed order. */
static inline float ks_sum4(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* ---- IQ2_KS, IQ3_KS, IQ2_KL: whole super-blocks, one or more columns ----------
 * The weight side decodes a super-block once into four 512-bit vectors of
 * unsigned values (grid value + bias B) in an order of its own, and the
 * activations are permuted to match (ks_act / kl_act; in mul_mat once per call
 * into a stack table shared by all rows). Per vector, maddubs gives int16 sums
 * of two products (at most 2·110·128, never saturating) and vpdpwssd adds them
 * times the int16 scale of their sub-block into 32-bit lanes (IQ2_KS, whose
 * values + B stay <= 48: vpdpbusd, packs of two dword vectors, vpdpwssd,
 * iq2ks_mul). Branch-free: the old kernels branched on the shift bit of every
 * sub-block (mispredicted on real data) and worked 64 weights at a time with
 * scalar scale extraction, 2.4-5.5 GB/s on one Zen 4 thread. The bias and the
 * shifted grid (IQ2_KS: base + 5, IQ3_KS: base + 4) come back per sub-block
 * from the Q8_K block sums: each accumulator starts at
 * Σ_j S_j·(c·shift_j − B)·Σy_j.
 * The super-block sums are exact integers (in 8 lanes), accumulated as the top of
 * the file says: vec_dot (the 1 × 1 tile) and mul_mat agree bit for bit. */
typedef struct ksx_unpacked {
    __m512i w[4];  /* grid values + B, in the order of the activation vectors */
    __m512i sw[4]; /* the sub-block scale of every int16 pair (IQ2_KS: sw[0..1]) */
    __m256i cw;    /* S_j·(c·shift_j − B) twice per sub-block, against bsums  */
} ksx_unpacked;

typedef struct ksx_consts {
    __m512i t[4];    /* look-up tables (per type) */
    __m512i sidx[4]; /* vpshufb controls of sw[k] */
    __m512i m4, m33, mcc, m04, patl, path;
    __m256i cidx;    /* word i <- word i/2 */
    __m128i klsh;    /* IQ2_KL: 0, 2, ..., 14 */
} ksx_consts;

static inline uint16_t ksx_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* vpshufb control bytes (2w, 2w+1) of int16 word w, as one int16 */
static inline short ksx_ctl(int w) { return (short)(0x0100 * (2 * w + 1) + 2 * w); }

/* vpshufb control picking int16 word a (words 0..15) and b (16..31) of every 128-bit lane */
static inline __m512i ksx_words(int a, int b) {
    return _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(ksx_ctl(a)), _mm512_set1_epi16(ksx_ctl(b)));
}

/* vpshufb control picking int16 word a, b, c, d in 128-bit lane 0, 1, 2, 3 */
static inline __m512i ksx_lanes(int a, int b, int c, int d) {
    const __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(ksx_ctl(a))), _mm_set1_epi16(ksx_ctl(b)), 1);
    const __m256i hi = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(ksx_ctl(c))), _mm_set1_epi16(ksx_ctl(d)), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* vpshufb control: words 0-3 / 4-7 of lanes 0, 1 = word a / b, of lanes 2, 3 = word c / d */
static inline __m512i ksx_quads(int a, int b, int c, int d) {
    const __m128i lo = _mm_unpacklo_epi64(_mm_set1_epi16(ksx_ctl(a)), _mm_set1_epi16(ksx_ctl(b)));
    const __m128i hi = _mm_unpacklo_epi64(_mm_set1_epi16(ksx_ctl(c)), _mm_set1_epi16(ksx_ctl(d)));
    return _mm512_inserti64x4(_mm512_broadcast_i32x4(lo), _mm256_broadcastsi128_si256(hi), 1);
}

/* 16 int8 values + bias, broadcast to the four 128-bit lanes. */
static inline __m512i ksx_table(const int8_t *v, int bias) {
    return _mm512_broadcast_i32x4(_mm_add_epi8(_mm_loadu_si128((const __m128i *)(const void *)v), _mm_set1_epi8((char)bias)));
}

static void ksx_init(ksx_consts *c) {
    memset(c, 0, sizeof *c);
    c->m4 = _mm512_set1_epi8(0x0F);
    c->m33 = _mm512_set1_epi8(0x33);
    c->mcc = _mm512_set1_epi8((char)0xCC);
    c->m04 = _mm512_set1_epi8(0x04);
    for (int k = 0; k < 4; k++) c->sidx[k] = ksx_words(k, k + 4);
    c->cidx = _mm256_setr_epi16(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    c->klsh = _mm_setr_epi16(0, 2, 4, 6, 8, 10, 12, 14);
    /* IQ2_KL: 5th index bit of lane m is bit 2m (low nibbles) / 2m+1 (high nibbles) of qh */
    c->patl = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_inserti128_si256(
                                     _mm256_castsi128_si256(_mm_set1_epi8(1)), _mm_set1_epi8(4), 1)),
                                 _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi8(16)),
                                                         _mm_set1_epi8(64), 1),
                                 1);
    c->path = _mm512_add_epi8(c->patl, c->patl);
}

static void iq2ks_init(ksx_consts *c) {
    ksx_init(c);
    /* iq2ks_mul: packs of the dword sums of w[0], w[1] (w[2], w[3]): words 0-3 of
     * 128-bit lane l from sub-block 0 (2) or 4 (6), words 4-7 from 1 (3) or 5 (7) */
    for (int k = 0; k < 2; k++) {
        const int a = 2 * k, b = 2 * k + 1;
        c->sidx[k] = ksx_quads(a, b, a + 4, b + 4);
    }
    int8_t t[2][16];
    for (int i = 0; i < 16; i++) t[0][i] = qtk_iq2nl_values[i & 3], t[1][i] = qtk_iq2nl_values[i >> 2];
    c->t[0] = ksx_table(t[0], 31);
    c->t[1] = ksx_table(t[1], 31);
}

static void iq3ks_init(ksx_consts *c) {
    ksx_init(c);
    int8_t t[16];
    for (int i = 0; i < 16; i++) t[i] = qtk_iq3nl_values[i & 7];
    c->t[0] = ksx_table(t, 63);
}

static void iq2kl_init(ksx_consts *c) {
    ksx_init(c);
    int8_t g[2][32];
    for (int k = 0; k < 32; k++) g[0][k] = qtk_iq2kl_grid[k][0], g[1][k] = qtk_iq2kl_grid[k][1];
    c->t[0] = ksx_table(g[0], 63);
    c->t[1] = ksx_table(g[0] + 16, 63);
    c->t[2] = ksx_table(g[1], 63);
    c->t[3] = ksx_table(g[1] + 16, 63);
    c->sidx[0] = c->sidx[1] = ksx_lanes(0, 2, 4, 6);
    c->sidx[2] = c->sidx[3] = ksx_lanes(1, 3, 5, 7);
}

/* sw[k] and cw from the 8 scales S (int16) and the bias words v (c·shift − B). */
QTK_FORCE_INLINE void ksx_scales(__m128i S, __m128i v, const ksx_consts *c, ksx_unpacked *u, int kl) {
    const __m512i Sz = _mm512_broadcast_i32x4(S);
    if (kl == 1) { /* sw[0] = sw[1], sw[2] = sw[3] */
        u->sw[0] = u->sw[1] = _mm512_shuffle_epi8(Sz, c->sidx[0]);
        u->sw[2] = u->sw[3] = _mm512_shuffle_epi8(Sz, c->sidx[2]);
    } else if (kl == 2) { /* sw[0], sw[1] only */
        u->sw[0] = _mm512_shuffle_epi8(Sz, c->sidx[0]);
        u->sw[1] = _mm512_shuffle_epi8(Sz, c->sidx[1]);
    } else {
        for (int k = 0; k < 4; k++) u->sw[k] = _mm512_shuffle_epi8(Sz, c->sidx[k]);
    }
    u->cw = _mm256_permutexvar_epi16(c->cidx, _mm256_castsi128_si256(_mm_mullo_epi16(S, v)));
}

/* 4-bit scale codes of 8 sub-blocks: nibble j%4 of bytes 2..5 (low, then high nibbles). */
static inline __m128i ksx_nibbles_lh(const uint8_t *b) {
    uint32_t sc;
    memcpy(&sc, b, 4);
    const __m128i w = _mm_cvtepu8_epi16(_mm_cvtsi32_si128((int)sc));
    return _mm_unpacklo_epi64(_mm_and_si128(w, _mm_set1_epi16(0xF)), _mm_srli_epi16(w, 4));
}

/* IQ2_KS super-block (70 bytes): extra bits 0-7 shifted grid, 8-15 scale bit 4;
 * scale nibbles j = byte j/2, nibble j%2; 2-bit indices of sub-block j at
 * bits 2(j%4) of bytes 32(j/4)... . w[k]: sub-block k (low 256 bits), k+4 (high);
 * the low nibble holds the indices of k = 0, 1, the high nibble of k = 2, 3, and
 * the tables t[0] / t[1] look up bits 0-1 / 2-3 of a nibble. */
QTK_FORCE_INLINE void iq2ks_unpack(const uint8_t *b, const ksx_consts *c, ksx_unpacked *u) {
    const uint16_t extra = ksx_u16(b);
    const __m512i q = _mm512_loadu_si512((const void *)(b + 6));
    const __m512i lo = _mm512_and_si512(q, c->m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), c->m4);
    u->w[0] = _mm512_shuffle_epi8(c->t[0], lo);
    u->w[1] = _mm512_shuffle_epi8(c->t[1], lo);
    u->w[2] = _mm512_shuffle_epi8(c->t[0], hi);
    u->w[3] = _mm512_shuffle_epi8(c->t[1], hi);
    uint32_t sc;
    memcpy(&sc, b + 2, 4);
    const __m128i w = _mm_cvtepu8_epi16(_mm_cvtsi32_si128((int)sc));
    __m128i S = _mm_unpacklo_epi16(_mm_and_si128(w, _mm_set1_epi16(0xF)), _mm_srli_epi16(w, 4));
    S = _mm_mask_sub_epi16(S, (__mmask8)~(extra >> 8), S, _mm_set1_epi16(16));
    ksx_scales(S, _mm_mask_blend_epi16((__mmask8)extra, _mm_set1_epi16(-31), _mm_set1_epi16(5 - 31)), c, u, 2);
}

/* IQ3_KS super-block (102 bytes): extra bits 0-7 scale bit 4, 8-15 shifted grid;
 * 2-bit low indices as IQ2_KS, bit 2 of sub-block j in bit j of qh (bytes 70..101).
 * For w[k] both halves need bit k of hh = (qh | qh >> 4): the low bits are masked
 * so that a 16-bit shift leaves them alone in bits 0-1 (and 4-5, ignored by
 * vpshufb) with bit 7 clear, and the high bit is or-ed into bit 2. */
QTK_FORCE_INLINE void iq3ks_unpack(const uint8_t *b, const ksx_consts *c, ksx_unpacked *u) {
    const uint16_t extra = ksx_u16(b);
    const __m512i q = _mm512_loadu_si512((const void *)(b + 6));
    const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(b + 70));
    const __m512i hh = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 4), 1);
    const __m512i q33 = _mm512_and_si512(q, c->m33), qcc = _mm512_and_si512(q, c->mcc);
    u->w[0] = _mm512_shuffle_epi8(c->t[0], _mm512_ternarylogic_epi32(q33, _mm512_slli_epi16(hh, 2), c->m04, 0xF8));
    u->w[1] = _mm512_shuffle_epi8(c->t[0], _mm512_ternarylogic_epi32(_mm512_srli_epi16(qcc, 2), _mm512_slli_epi16(hh, 1),
                                                                     c->m04, 0xF8));
    u->w[2] = _mm512_shuffle_epi8(c->t[0], _mm512_ternarylogic_epi32(_mm512_srli_epi16(q33, 4), hh, c->m04, 0xF8));
    u->w[3] = _mm512_shuffle_epi8(c->t[0], _mm512_ternarylogic_epi32(_mm512_srli_epi16(qcc, 6), _mm512_srli_epi16(hh, 1),
                                                                     c->m04, 0xF8));
    __m128i S = ksx_nibbles_lh(b + 2);
    S = _mm_mask_sub_epi16(S, (__mmask8)~extra, S, _mm_set1_epi16(16));
    ksx_scales(S, _mm_mask_blend_epi16((__mmask8)(extra >> 8), _mm_set1_epi16(-63), _mm_set1_epi16(4 - 63)), c, u, 0);
}

/* IQ2_KL super-block (86 bytes): 2 high scale bits per sub-block in the first
 * 2 bytes, nibbles as IQ3_KS; the 5-bit pair indices of sub-blocks 2m / 2m+1 in
 * the low / high nibbles of bytes 6+16m.. (bit 4: bit 2m / 2m+1 of qh, bytes
 * 70..85). 128-bit lane m of w[0] / w[1] = the first / second coordinates of
 * the 16 pairs of sub-block 2m (its even / odd weights), of w[2] / w[3] the
 * same of sub-block 2m+1. */
QTK_FORCE_INLINE void iq2kl_unpack(const uint8_t *b, const ksx_consts *c, ksx_unpacked *u) {
    const __m512i q = _mm512_loadu_si512((const void *)(b + 6));
    const __m512i qh = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)(b + 70)));
    const __m512i lo = _mm512_and_si512(q, c->m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), c->m4);
    const __mmask64 ml = _mm512_test_epi8_mask(qh, c->patl), mh = _mm512_test_epi8_mask(qh, c->path);
    const __m512i g0l = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(c->t[0], lo), ml, c->t[1], lo);
    const __m512i g1l = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(c->t[2], lo), ml, c->t[3], lo);
    const __m512i g0h = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(c->t[0], hi), mh, c->t[1], hi);
    const __m512i g1h = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(c->t[2], hi), mh, c->t[3], hi);
    u->w[0] = g0l;
    u->w[1] = g1l;
    u->w[2] = g0h;
    u->w[3] = g1h;
    const __m128i hb = _mm_and_si128(_mm_srlv_epi16(_mm_set1_epi16((short)ksx_u16(b)), c->klsh), _mm_set1_epi16(3));
    const __m128i S = _mm_sub_epi16(_mm_or_si128(ksx_nibbles_lh(b + 2), _mm_slli_epi16(hb, 4)), _mm_set1_epi16(32));
    ksx_scales(S, _mm_set1_epi16(-63), c, u, 1);
}

/* Activations of IQ2_KS / IQ3_KS: y[k] = weights 32k..32k+31 | 128+32k..128+32k+31. */
QTK_FORCE_INLINE void ks_act(const qtk_block_q8_K *yb, __m512i y[4]) {
    for (int k = 0; k < 4; k++)
        y[k] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(yb->qs + 32 * k))),
                                  _mm256_loadu_si256((const __m256i *)(const void *)(yb->qs + 128 + 32 * k)), 1);
}

/* Activations of IQ2_KL: lane m of y[0] / y[1] = the even / odd weights of
 * 64m .. 64m+31, of y[2] / y[3] those of 64m+32 .. 64m+63 (bytes split in
 * each 128-bit lane, 64-bit halves regrouped, then a 4 × 4 transpose of the
 * 128-bit lanes). */
QTK_FORCE_INLINE void kl_act(const qtk_block_q8_K *yb, __m512i y[4]) {
    const __m512i eo = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
    const __m512i qp = _mm512_setr_epi64(0, 2, 1, 3, 4, 6, 5, 7);
    __m512i z[4];
    for (int m = 0; m < 4; m++)
        z[m] = _mm512_permutexvar_epi64(qp, _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(yb->qs + 64 * m)), eo));
    const __m512i t0 = _mm512_shuffle_i64x2(z[0], z[1], 0x44), t1 = _mm512_shuffle_i64x2(z[2], z[3], 0x44);
    const __m512i t2 = _mm512_shuffle_i64x2(z[0], z[1], 0xEE), t3 = _mm512_shuffle_i64x2(z[2], z[3], 0xEE);
    y[0] = _mm512_shuffle_i64x2(t0, t1, 0x88);
    y[1] = _mm512_shuffle_i64x2(t0, t1, 0xDD);
    y[2] = _mm512_shuffle_i64x2(t2, t3, 0x88);
    y[3] = _mm512_shuffle_i64x2(t2, t3, 0xDD);
}

/* The exact integer Σ of one super-block against one Q8_K block, spread over 8 lanes. */
QTK_FORCE_INLINE __m256i ksx_mul(const ksx_unpacked *u, const __m512i y[4], const qtk_block_q8_K *yb) {
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums), u->cw);
    __m512i a = _mm512_zextsi256_si512(corr);
    for (int k = 0; k < 4; k++) a = _mm512_dpwssd_epi32(a, _mm512_maddubs_epi16(u->w[k], y[k]), u->sw[k]);
    return _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
}

/* IQ2_KS: values + B at most 48, so a dword of vpdpbusd (4 products, |Σ| <= 24576)
 * fits int16: two packs and two vpdpwssd instead of four maddubs + vpdpwssd. */
QTK_FORCE_INLINE __m256i iq2ks_mul(const ksx_unpacked *u, const __m512i y[4], const qtk_block_q8_K *yb) {
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums), u->cw);
    const __m512i z = _mm512_setzero_si512();
    const __m512i p01 = _mm512_packs_epi32(_mm512_dpbusd_epi32(z, u->w[0], y[0]), _mm512_dpbusd_epi32(z, u->w[1], y[1]));
    const __m512i p23 = _mm512_packs_epi32(_mm512_dpbusd_epi32(z, u->w[2], y[2]), _mm512_dpbusd_epi32(z, u->w[3], y[3]));
    __m512i a = _mm512_dpwssd_epi32(_mm512_zextsi256_si512(corr), p01, u->sw[0]);
    a = _mm512_dpwssd_epi32(a, p23, u->sw[1]);
    return _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
}

/* A tile of one row × C columns over super-blocks i0 <= i < i1, adding d_y·Σ to
 * acc[k] in the scalar kernel's order; tab: the permuted activations of the C
 * columns for super-blocks i0.. (KSX_MAX_SB per column), or NULL (made here). */
#define KSX_MAX_SB 64
#define KSX_ROWS 64
#define KSX_KERNELS(T, BS, UNPACK, ACT, MUL, INIT)                                                           \
    QTK_FORCE_INLINE void qtk_##T##_tile(const int C, int64_t i0, int64_t i1, const uint8_t *w, const uint8_t *a, \
                                         size_t as, __m128 *acc, const ksx_consts *c, const __m512i *tab) {  \
        const uint8_t *p = w + 2 + (size_t)i0 * (BS);                                                        \
        __m128 sumv[4];                                                                                      \
        for (int k = 0; k < C; k++) sumv[k] = acc[k];                                                        \
        int64_t i = i0;                                                                                      \
        for (; i + 3 < i1; i += 4, p += 4 * (BS)) {                                                          \
            __m256i r[4][4];                                                                                 \
            qtk_prefetch_ahead(p, 4 * (BS));                                                                 \
            for (int j = 0; j < 4; j++) {                                                                    \
                ksx_unpacked u;                                                                              \
                UNPACK(p + j * (BS), c, &u);                                                                 \
                for (int k = 0; k < C; k++) {                                                                \
                    const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + i + j; \
                    __m512i ya[4];                                                                           \
                    if (tab) {                                                                               \
                        for (int q = 0; q < 4; q++)                                                          \
                            ya[q] = tab[((size_t)k * KSX_MAX_SB + (size_t)(i + j - i0)) * 4 + q];            \
                    } else {                                                                                 \
                        ACT(y, ya);                                                                          \
                    }                                                                                        \
                    r[k][j] = MUL(&u, ya, y);                                                                \
                }                                                                                            \
            }                                                                                                \
            for (int k = 0; k < C; k++)                                                                      \
                sumv[k] = ks_acc4(sumv[k], r[k], (const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + i); \
        }                                                                                                    \
        for (; i < i1; i++, p += (BS)) {                                                                     \
            ksx_unpacked u;                                                                                  \
            UNPACK(p, c, &u);                                                                                \
            for (int k = 0; k < C; k++) {                                                                    \
                const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + i;     \
                __m512i ya[4];                                                                               \
                if (tab) {                                                                                   \
                    for (int q = 0; q < 4; q++) ya[q] = tab[((size_t)k * KSX_MAX_SB + (size_t)(i - i0)) * 4 + q]; \
                } else {                                                                                     \
                    ACT(y, ya);                                                                              \
                }                                                                                            \
                sumv[k] = ks_acc1(sumv[k], MUL(&u, ya, y), y, i);                                            \
            }                                                                                                \
        }                                                                                                    \
        for (int k = 0; k < C; k++) acc[k] = sumv[k];                                                        \
    }                                                                                                        \
    void qtk_##T##_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {                     \
        ksx_consts c;                                                                                        \
        INIT(&c);                                                                                            \
        __m128 acc = _mm_setzero_ps();                                                                       \
        qtk_##T##_tile(1, 0, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, &acc, &c, NULL);         \
        *s = qtk_fp16_to_fp32(ksx_u16((const uint8_t *)vx)) * ks_sum4(acc);                                  \
    }                                                                                                        \
    /* Rows in groups of KSX_ROWS; per group the super-blocks in chunks of KSX_MAX_SB whose   \
     * activation table is made once per chunk (one chunk if the row is short enough). */    \
    void qtk_##T##_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out,  \
                                  size_t os, int64_t nr, int64_t nc) {                                       \
        ksx_consts c;                                                                                        \
        INIT(&c);                                                                                            \
        const int64_t nb = n / QK_K;                                                                         \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                    \
        __m512i tab[4 * KSX_MAX_SB * 4];                                                                     \
        __m128 sumf[KSX_ROWS][4];                                                                            \
        for (int64_t k = 0; k < nc;) {                                                                       \
            const int C = nc - k >= 4 ? 4 : nc - k >= 2 ? 2 : 1;                                             \
            const uint8_t *ak = ab + (size_t)k * as;                                                         \
            for (int64_t r0 = 0; r0 < nr; r0 += KSX_ROWS) {                                                  \
                const int64_t R = nr - r0 < KSX_ROWS ? nr - r0 : KSX_ROWS;                                   \
                for (int64_t r = 0; r < R; r++)                                                              \
                    for (int kk = 0; kk < 4; kk++) sumf[r][kk] = _mm_setzero_ps();                           \
                for (int64_t i0 = 0; i0 < nb; i0 += KSX_MAX_SB) {                                            \
                    const int64_t i1 = nb - i0 < KSX_MAX_SB ? nb : i0 + KSX_MAX_SB;                          \
                    const __m512i *tp = NULL;                                                                \
                    if (R > 1) {                                                                             \
                        for (int kk = 0; kk < C; kk++)                                                       \
                            for (int64_t i = i0; i < i1; i++)                                                \
                                ACT((const qtk_block_q8_K *)(const void *)(ak + (size_t)kk * as) + i,        \
                                    &tab[((size_t)kk * KSX_MAX_SB + (size_t)(i - i0)) * 4]);                 \
                        tp = tab;                                                                            \
                    }                                                                                        \
                    for (int64_t r = 0; r < R; r++) {                                                        \
                        const uint8_t *wr = wb + (size_t)(r0 + r) * ws;                                      \
                        if (C == 4) qtk_##T##_tile(4, i0, i1, wr, ak, as, sumf[r], &c, tp);                  \
                        else if (C == 2) qtk_##T##_tile(2, i0, i1, wr, ak, as, sumf[r], &c, tp);             \
                        else qtk_##T##_tile(1, i0, i1, wr, ak, as, sumf[r], &c, tp);                         \
                    }                                                                                        \
                }                                                                                            \
                for (int64_t r = 0; r < R; r++) {                                                            \
                    const float d = qtk_fp16_to_fp32(ksx_u16(wb + (size_t)(r0 + r) * ws));                   \
                    for (int kk = 0; kk < C; kk++)                                                           \
                        out[(size_t)(k + kk) * os + (size_t)(r0 + r)] = d * ks_sum4(sumf[r][kk]);            \
                }                                                                                            \
            }                                                                                                \
            k += C;                                                                                          \
        }                                                                                                    \
    }

KSX_KERNELS(iq2_ks, 70, iq2ks_unpack, ks_act, iq2ks_mul, iq2ks_init)
KSX_KERNELS(iq3_ks, 102, iq3ks_unpack, ks_act, ksx_mul, iq3ks_init)
KSX_KERNELS(iq2_kl, 86, iq2kl_unpack, kl_act, ksx_mul, iq2kl_init)

/* ---- IQ4_KS, IQ5_KS: whole super-blocks, one or more columns ------------------
 * The weight side decodes a super-block once into four 512-bit registers of
 * grid values + 128 (the unsigned operand of vpdpbusd), each 128-bit lane 16
 * weights of one sub-block; the activation side (in mul_mat once per chunk into
 * a stack table shared by all rows) is the Q8_K quants permuted to match plus
 * −128·Σy per sub-block or half, which starts the vpdpbusd chains and takes the
 * +128 back.
 * IQ4_KS (IQ4_XS's order): lane b of t[q] holds weights 0..15 of sub-block
 * 4q + b, of t[2 + q] weights 16..31, so the two vpdpbusd of a quad accumulate
 * into one register whose lane b needs the one scale of sub-block 4q + b (S[q]);
 * the base or the shifted table is picked per lane (a dword blend by the shift
 * bits) before the look-ups.
 * IQ5_KS: the low / high nibbles of chunks 2q, 2q + 1 give registers 2q / 2q + 1,
 * lane L = weights 16(L%2).. of sub-block 4q + 2(L/2) (+ 1), looked up in the 32
 * values of the base grid (masked vpshufb by the 5th bit). Their dwords are then
 * transposed in every 128-bit lane (D order: dword 4L + k of each register holds
 * 4 weights of lane L of register k), so that four chained vpdpbusd leave the
 * exact sum of one 16-weight half per dword, multiplied by its scale (S[0], D
 * order) at once. Its shifted grid is the base + 2: the offset is added to the
 * bytes of the shifted sub-blocks, one masked dword add per register (no byte
 * reaches 256, so no carry crosses a byte). (IQ4_KS the same way costs ~5 %
 * more with one column on Zen 4 — the transposes load the shuffle ports — and
 * gains ~5 % with four.)
 * Super-block sums are exact integers (in 8 lanes), accumulated as the top of the
 * file says: vec_dot (the 1 × 1 tile) and mul_mat agree bit for bit. */
#define K45_ACT 5 /* activation registers per (column, super-block) */
typedef struct k45_unpacked {
    __m512i t[4]; /* grid values + 128 (IQ5_KS: D order) */
    __m512i S[2]; /* IQ4_KS: scale of lane b's sub-block per dword of t[q], t[2 + q]; IQ5_KS: S[0], D order */
} k45_unpacked;

typedef struct k45_consts {
    __m512i t0, t1;       /* IQ4_KS: base / shifted table; IQ5_KS: values 0..15 / 16..31 of the base grid (+128) */
    __m512i m4, one, c128, sh, sidx[2];
    __m512i one16, mfe;   /* IQ4_KSS: word bit 0 (scale bits), the mask of the 15-bit index part */
    __m512i kss_sidx;     /* IQ4_KSS: byte b of the dword into the 4 dwords of lane b (upper bytes 0) */
    __m512i hl[2], hh[2]; /* IQ5_KS: qh bit of the low / high nibbles of chunk pair q */
    __m512i jS, jB;       /* IQ5_KS: D position -> sub-block, -> 16-weight half (bsums index) */
} k45_consts;

static inline __m512i k45_table(const int8_t *v) {
    const __m128i t = _mm_loadu_si128((const __m128i *)(const void *)v);
    return _mm512_broadcast_i32x4(_mm_add_epi8(t, _mm_set1_epi8((char)0x80)));
}

/* Per-half byte constant: lower 32 bytes lo, upper 32 bytes hi. */
static inline __m512i k45_halves8(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)lo)), _mm256_set1_epi8((char)hi), 1);
}

static void k45_init(k45_consts *c, int iq5) {
    memset(c, 0, sizeof *c);
    c->m4 = _mm512_set1_epi8(0x0F);
    c->one = _mm512_set1_epi32(1);
    c->c128 = _mm512_set1_epi32(128);
    c->one16 = _mm512_set1_epi16(1);
    c->mfe = _mm512_set1_epi16((short)0xFFFE);
    {
        int8_t ix[64];
        for (int i = 0; i < 64; i++) ix[i] = (int8_t)(i % 4 == 0 ? i / 16 : -128);
        c->kss_sidx = _mm512_loadu_si512((const void *)ix);
    }
    const int8_t *g = iq5 ? qtk_iq5nl_values : qtk_iq4nl_values;
    c->t0 = k45_table(g);
    c->t1 = k45_table(g + 16);
    if (iq5) c->sh = _mm512_set1_epi8((char)(g[32] - g[0])); /* the shifted grid's offset */
    c->sidx[0] = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    c->sidx[1] = _mm512_add_epi32(c->sidx[0], _mm512_set1_epi32(4));
    for (int q = 0; q < 2; q++) {
        c->hl[q] = k45_halves8(1 << (4 * q), 1 << (4 * q + 2));
        c->hh[q] = k45_halves8(1 << (4 * q + 1), 1 << (4 * q + 3));
    }
    int32_t js[16], jb[16];
    for (int k = 0; k < 4; k++)
        for (int L = 0; L < 4; L++) {
            js[4 * L + k] = 4 * (k / 2) + 2 * (L / 2) + k % 2;
            jb[4 * L + k] = 2 * js[4 * L + k] + L % 2;
        }
    c->jS = _mm512_loadu_si512((const void *)js);
    c->jB = _mm512_loadu_si512((const void *)jb);
}

static void iq4ks_init(k45_consts *c) { k45_init(c, 0); }
static void iq5ks_init(k45_consts *c) { k45_init(c, 1); }

/* 4 × 4 transpose of the dwords in every 128-bit lane: dword k of lane L of x[r]
 * becomes dword r of lane L of x[k]. */
QTK_FORCE_INLINE void k45_transpose(__m512i x[4]) {
    const __m512i t0 = _mm512_unpacklo_epi32(x[0], x[1]), t1 = _mm512_unpackhi_epi32(x[0], x[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(x[2], x[3]), t3 = _mm512_unpackhi_epi32(x[2], x[3]);
    x[0] = _mm512_unpacklo_epi64(t0, t2);
    x[1] = _mm512_unpackhi_epi64(t0, t2);
    x[2] = _mm512_unpacklo_epi64(t1, t3);
    x[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* Scale bytes (bit 0 shift, bits 1-7 code) as int32: S = (byte | 1) − 128 = (byte & 0xFE) − 127. */
QTK_FORCE_INLINE __m512i k45_S(__m512i raw, const k45_consts *c) {
    return _mm512_sub_epi32(_mm512_or_si512(raw, c->one), c->c128);
}

/* IQ4_KS super-block (136 bytes): 8 scale bytes, then 16 bytes per sub-block (low
 * nibbles weights 0..15, high nibbles 16..31), IQ4_XS's layout. */
QTK_FORCE_INLINE void iq4ks_unpack(const uint8_t *b, const k45_consts *c, k45_unpacked *u) {
    const __m512i raw = _mm512_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)b));
    for (int q = 0; q < 2; q++) {
        const __m512i r = _mm512_permutexvar_epi32(c->sidx[q], raw);
        const __m512i t = _mm512_mask_blend_epi32(_mm512_test_epi32_mask(r, c->one), c->t0, c->t1);
        const __m512i v = _mm512_loadu_si512((const void *)(b + 8 + 64 * q));
        u->t[q] = _mm512_shuffle_epi8(t, _mm512_and_si512(v, c->m4));
        u->t[2 + q] = _mm512_shuffle_epi8(t, _mm512_and_si512(_mm512_srli_epi16(v, 4), c->m4));
        u->S[q] = k45_S(r, c);
    }
}

/* IQ4_KSS super-block (128 bytes = 64 little-endian words, 8 per sub-block): bit 0 of
 * word k of a sub-block is bit k of its IQ4_KS scale byte, and v = (w & ~1) ^ (w >> 1)
 * of every word gives back the two bytes IQ4_KS would store there. So after the
 * decoding this is iq4ks_unpack (same registers, same activation side): a 16-bit
 * test-to-mask collects the 8 scale bytes in order, one ternary-logic op per vector
 * decodes the indices (imm 0x6C: (A & C) ^ B). Sharing IQ4_KS's work layout (the
 * bias in the activations, the shifted grid picked per lane) replaced a kernel of its
 * own that took them back per column from the block sums: 0.69 of IQ4_KS's speed. */
QTK_FORCE_INLINE void iq4kss_unpack(const uint8_t *b, const k45_consts *c, k45_unpacked *u) {
    for (int q = 0; q < 2; q++) {
        const __m512i w = _mm512_loadu_si512((const void *)(b + 64 * q));
        /* the 4 scale bytes of the quad in every dword, then byte b of lane b in its 4 dwords */
        const __m512i m = _mm512_set1_epi32((int)_mm512_test_epi16_mask(w, c->one16));
        const __m512i r = _mm512_shuffle_epi8(m, c->kss_sidx);
        const __m512i t = _mm512_mask_blend_epi32(_mm512_test_epi32_mask(r, c->one), c->t0, c->t1);
        const __m512i v = _mm512_ternarylogic_epi32(w, _mm512_srli_epi16(w, 1), c->mfe, 0x6C);
        u->t[q] = _mm512_shuffle_epi8(t, _mm512_and_si512(v, c->m4));
        u->t[2 + q] = _mm512_shuffle_epi8(t, _mm512_and_si512(_mm512_srli_epi16(v, 4), c->m4));
        u->S[q] = k45_S(r, c);
    }
}

/* IQ5_KS super-block (168 bytes): 8 scale bytes; 32-byte chunk k at 8 + 32k holds
 * sub-block 2k (low nibbles) and 2k + 1 (high), position j = weight j; bit i of qh
 * byte j (136 + j) is bit 4 of weight j of sub-block i. Chunks 2q, 2q + 1 as one
 * vector: lane L of the low nibbles = weights 16(L%2).. of sub-block 4q + 2(L/2),
 * of the high nibbles the next sub-block. */
QTK_FORCE_INLINE void iq5ks_unpack(const uint8_t *b, const k45_consts *c, k45_unpacked *u) {
    const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(b + 136)));
    for (int q = 0; q < 2; q++) {
        const __m512i v = _mm512_loadu_si512((const void *)(b + 8 + 64 * q));
        const __m512i lo = _mm512_and_si512(v, c->m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), c->m4);
        const __mmask64 kl = _mm512_test_epi8_mask(h, c->hl[q]), kh = _mm512_test_epi8_mask(h, c->hh[q]);
        u->t[2 * q] = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(c->t0, lo), kl, c->t1, lo);
        u->t[2 * q + 1] = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(c->t0, hi), kh, c->t1, hi);
    }
    k45_transpose(u->t);
    const __m128i sb = _mm_loadl_epi64((const __m128i *)(const void *)b);
    const __m512i raw = _mm512_permutexvar_epi32(c->jS, _mm512_cvtepu8_epi32(sb));
    const __mmask16 m = _mm512_test_epi32_mask(raw, c->one);
    for (int k = 0; k < 4; k++) u->t[k] = _mm512_mask_add_epi32(u->t[k], m, u->t[k], c->sh);
    u->S[0] = k45_S(raw, c);
}

/* IQ4_KS's activation side: y[q] weights 0..15 of sub-blocks 4q..4q+3 (one per
 * 128-bit lane), y[2 + q] weights 16..31; y[4] −128·Σy of sub-block b in lane 4b,
 * of sub-block 4 + b in lane 4b + 1. */
QTK_FORCE_INLINE void iq4ks_act(const qtk_block_q8_K *yb, const k45_consts *c, __m512i y[K45_ACT]) {
    (void)c;
    for (int q = 0; q < 2; q++) {
        const __m512i y0 = _mm512_loadu_si512((const void *)(yb->qs + 128 * q));
        const __m512i y1 = _mm512_loadu_si512((const void *)(yb->qs + 128 * q + 64));
        y[q] = _mm512_shuffle_i64x2(y0, y1, 0x88);
        y[2 + q] = _mm512_shuffle_i64x2(y0, y1, 0xDD);
    }
    const __m256i s8 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums),
                                         _mm256_set1_epi16(-128));
    const __m512i idx = _mm512_setr_epi32(0, 4, 0, 0, 1, 5, 0, 0, 2, 6, 0, 0, 3, 7, 0, 0);
    y[4] = _mm512_maskz_permutexvar_epi32(0x3333, idx, _mm512_castsi256_si512(s8));
}

/* The exact integer Σ of one IQ4_KS super-block against one Q8_K block, over 8 lanes. */
QTK_FORCE_INLINE __m256i iq4ks_mul(const k45_unpacked *u, const __m512i y[K45_ACT]) {
    __m512i d0 = _mm512_maskz_mov_epi32(0x1111, y[4]), d1 = _mm512_maskz_mov_epi32(0x2222, y[4]);
    d0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(d0, u->t[0], y[0]), u->t[2], y[2]);
    d1 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(d1, u->t[1], y[1]), u->t[3], y[3]);
    const __m512i a = _mm512_add_epi32(_mm512_mullo_epi32(d0, u->S[0]), _mm512_mullo_epi32(d1, u->S[1]));
    return _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
}

/* IQ5_KS's activation side: the quants of the registers (lanes 0, 1 / 2, 3 of each
 * 64-byte piece), transposed as the weights; y[4] −128·Σy of every 16-weight half
 * in D order. */
QTK_FORCE_INLINE void iq5ks_act(const qtk_block_q8_K *yb, const k45_consts *c, __m512i y[K45_ACT]) {
    for (int q = 0; q < 2; q++) {
        const __m512i y0 = _mm512_loadu_si512((const void *)(yb->qs + 128 * q));
        const __m512i y1 = _mm512_loadu_si512((const void *)(yb->qs + 128 * q + 64));
        y[2 * q] = _mm512_shuffle_i64x2(y0, y1, 0x44);
        y[2 * q + 1] = _mm512_shuffle_i64x2(y0, y1, 0xEE);
    }
    k45_transpose(y);
    const __m512i bs = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums));
    y[4] = _mm512_permutexvar_epi32(c->jB, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(bs, 7)));
}

/* The exact integer Σ of one IQ5_KS super-block against one Q8_K block, over 8 lanes. */
QTK_FORCE_INLINE __m256i iq5ks_mul(const k45_unpacked *u, const __m512i y[K45_ACT]) {
    __m512i d = y[4];
    for (int k = 0; k < 4; k++) d = _mm512_dpbusd_epi32(d, u->t[k], y[k]);
    const __m512i a = _mm512_mullo_epi32(d, u->S[0]);
    return _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
}

static inline float k45_rowd(const uint8_t *w) {
    float d;
    memcpy(&d, w, 4);
    return d;
}

/* A tile of one row × C columns over super-blocks i0 <= i < i1, adding d_y·Σ to
 * acc[k] in the scalar kernel's order; tab: the activations of the C columns for
 * super-blocks i0.. (K45_MAX_SB per column), or NULL (made here). */
#define K45_MAX_SB 64
#define K45_ROWS 64
#define K45_KERNELS(T, BS, UNPACK, ACT, MUL, INIT)                                                               \
    QTK_FORCE_INLINE void qtk_##T##_run(const int C, int64_t i0, int64_t i1, const uint8_t *w, const uint8_t *a, \
                                         size_t as, __m128 *acc, const k45_consts *c, const __m512i *tab) {  \
        const uint8_t *p = w + 4 + (size_t)i0 * (BS);                                                        \
        __m128 sumv[4];                                                                                      \
        for (int k = 0; k < C; k++) sumv[k] = acc[k];                                                        \
        int64_t i = i0;                                                                                      \
        for (; i + 3 < i1; i += 4, p += 4 * (BS)) {                                                          \
            __m256i r[4][4];                                                                                 \
            qtk_prefetch_ahead(p, 4 * (BS));                                                                 \
            for (int j = 0; j < 4; j++) {                                                                    \
                k45_unpacked u;                                                                              \
                UNPACK(p + j * (BS), c, &u);                                                                 \
                for (int k = 0; k < C; k++) {                                                                \
                    __m512i ya[K45_ACT];                                                                     \
                    if (tab) {                                                                               \
                        for (int q = 0; q < K45_ACT; q++)                                                    \
                            ya[q] = tab[((size_t)k * K45_MAX_SB + (size_t)(i + j - i0)) * K45_ACT + q];      \
                    } else {                                                                                 \
                        ACT((const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + i + j, c, ya);      \
                    }                                                                                        \
                    r[k][j] = MUL(&u, ya);                                                                   \
                }                                                                                            \
            }                                                                                                \
            for (int k = 0; k < C; k++)                                                                      \
                sumv[k] = ks_acc4(sumv[k], r[k], (const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + i); \
        }                                                                                                    \
        for (; i < i1; i++, p += (BS)) {                                                                     \
            k45_unpacked u;                                                                                  \
            UNPACK(p, c, &u);                                                                                \
            for (int k = 0; k < C; k++) {                                                                    \
                const qtk_block_q8_K *y = (const qtk_block_q8_K *)(const void *)(a + (size_t)k * as) + i;     \
                __m512i ya[K45_ACT];                                                                         \
                if (tab) {                                                                                   \
                    for (int q = 0; q < K45_ACT; q++)                                                        \
                        ya[q] = tab[((size_t)k * K45_MAX_SB + (size_t)(i - i0)) * K45_ACT + q];              \
                } else {                                                                                     \
                    ACT(y, c, ya);                                                                           \
                }                                                                                            \
                sumv[k] = ks_acc1(sumv[k], MUL(&u, ya), y, i);                                               \
            }                                                                                                \
        }                                                                                                    \
        for (int k = 0; k < C; k++) acc[k] = sumv[k];                                                        \
    }                                                                                                        \
    /* One row × C columns (one loop with the table, one without). */                                       \
    QTK_FORCE_INLINE void qtk_##T##_tile(const int C, int64_t i0, int64_t i1, const uint8_t *w, const uint8_t *a, \
                                         size_t as, __m128 *acc, const k45_consts *c, const __m512i *tab) {  \
        if (tab) qtk_##T##_run(C, i0, i1, w, a, as, acc, c, tab);                                            \
        else qtk_##T##_run(C, i0, i1, w, a, as, acc, c, NULL);                                               \
    }                                                                                                        \
    void qtk_##T##_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {                     \
        k45_consts c;                                                                                        \
        INIT(&c);                                                                                            \
        __m128 acc = _mm_setzero_ps();                                                                       \
        qtk_##T##_tile(1, 0, n / QK_K, (const uint8_t *)vx, (const uint8_t *)vy, 0, &acc, &c, NULL);         \
        *s = k45_rowd((const uint8_t *)vx) * ks_sum4(acc);                                                   \
    }                                                                                                        \
    /* Rows in groups of K45_ROWS; per group the super-blocks in chunks of K45_MAX_SB whose   \
     * activation table is made once per chunk (one chunk if the row is short enough). */    \
    void qtk_##T##_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out,  \
                                  size_t os, int64_t nr, int64_t nc) {                                       \
        k45_consts c;                                                                                        \
        INIT(&c);                                                                                            \
        const int64_t nb = n / QK_K;                                                                         \
        const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;                                    \
        __m512i tab[4 * K45_MAX_SB * K45_ACT];                                                               \
        __m128 sumf[K45_ROWS][4];                                                                            \
        for (int64_t k = 0; k < nc;) {                                                                       \
            const int C = nc - k >= 4 ? 4 : nc - k >= 2 ? 2 : 1;                                             \
            const uint8_t *ak = ab + (size_t)k * as;                                                         \
            for (int64_t r0 = 0; r0 < nr; r0 += K45_ROWS) {                                                  \
                const int64_t R = nr - r0 < K45_ROWS ? nr - r0 : K45_ROWS;                                   \
                for (int64_t r = 0; r < R; r++)                                                              \
                    for (int kk = 0; kk < 4; kk++) sumf[r][kk] = _mm_setzero_ps();                           \
                for (int64_t i0 = 0; i0 < nb; i0 += K45_MAX_SB) {                                            \
                    const int64_t i1 = nb - i0 < K45_MAX_SB ? nb : i0 + K45_MAX_SB;                          \
                    const __m512i *tp = NULL;                                                                \
                    if (R > 1) {                                                                             \
                        for (int kk = 0; kk < C; kk++)                                                       \
                            for (int64_t i = i0; i < i1; i++)                                                \
                                ACT((const qtk_block_q8_K *)(const void *)(ak + (size_t)kk * as) + i, &c,    \
                                    &tab[((size_t)kk * K45_MAX_SB + (size_t)(i - i0)) * K45_ACT]);           \
                        tp = tab;                                                                            \
                    }                                                                                        \
                    for (int64_t r = 0; r < R; r++) {                                                        \
                        const uint8_t *wr = wb + (size_t)(r0 + r) * ws;                                      \
                        if (C == 4) qtk_##T##_tile(4, i0, i1, wr, ak, as, sumf[r], &c, tp);                  \
                        else if (C == 2) qtk_##T##_tile(2, i0, i1, wr, ak, as, sumf[r], &c, tp);             \
                        else qtk_##T##_tile(1, i0, i1, wr, ak, as, sumf[r], &c, tp);                         \
                    }                                                                                        \
                }                                                                                            \
                for (int64_t r = 0; r < R; r++) {                                                            \
                    const float d = k45_rowd(wb + (size_t)(r0 + r) * ws);                                    \
                    for (int kk = 0; kk < C; kk++)                                                           \
                        out[(size_t)(k + kk) * os + (size_t)(r0 + r)] = d * ks_sum4(sumf[r][kk]);            \
                }                                                                                            \
            }                                                                                                \
            k += C;                                                                                          \
        }                                                                                                    \
    }

K45_KERNELS(iq4_ks, 136, iq4ks_unpack, iq4ks_act, iq4ks_mul, iq4ks_init)
K45_KERNELS(iq4_kss, 128, iq4kss_unpack, iq4ks_act, iq4ks_mul, iq4ks_init)
K45_KERNELS(iq5_ks, 168, iq5ks_unpack, iq5ks_act, iq5ks_mul, iq5ks_init)
