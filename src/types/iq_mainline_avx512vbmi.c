/*
 * iq_mainline_avx512vbmi.c — dot products (× Q8_K) of the mainline lattice
 * i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) on CPUs
 * with AVX-512 VBMI (Ice Lake, Zen 4 and later), one super-block (256
 * weights) at a time in four 64-byte vectors.
 *
 * The octet-word kernel (iq_mainline_avx512.c) looks every grid entry up in
 * scalar code, one load, sign fix-up and insert per 8 weights: ~40
 * instructions per 32 weights, 0.07–0.18 of the read bandwidth in
 * generation. Here the grid becomes register permutes:
 *  - each grid entry is stored as a 16-bit code of its values' positions in
 *    the type's magnitude list (IQ2: 8 × 2 bits of {8, 25, 43}; IQ3: 4 × 3
 *    bits of the 8 magnitudes), split into a low-byte and a high-byte table;
 *  - all indices of the super-block are looked up at once with vpermi2b
 *    (128 table bytes per permute), the chunks picked by the index's bit 7
 *    and the extra high bits (k-masks); or, for the 512- and 1024-entry grids
 *    (IQ2_XS, IQ2_S) where that takes 4 or 8 permutes per byte table, by two
 *    vpgatherdd of dword codes, whichever a timing at first use finds faster
 *    on this CPU (calibrate_lookups: Zen 4's gathers are slow, an Intel core's
 *    permute of two tables takes 2 cycles on port 5); IQ1's 2048 entries are
 *    qwords of the values themselves, loaded one by one, or gathered codes;
 *  - the code words are spread to one per weight octet/quad (vpermt2w), cut
 *    into 2- or 3-bit fields (vpmultishiftqb) and mapped to magnitudes
 *    (vpermb);
 *  - the sign bits of 64 weights are one 64-bit k-mask (the stored sign bytes,
 *    or the ksigns table by vpermi2b for the 7-bit fields), applied to the
 *    activations with a masked subtract (wrapping at −128 as vpsignb does);
 *  - vpdpbusd takes |q| × sign·y, vpdpwssd the sub-block multipliers;
 *  - IQ1: q = 8g + δ with g ∈ {−1, 0, 1} and δ = ±1 per 32 (IQ1_S) or per 8
 *    (IQ1_M) weights; vpdpbusd takes the unsigned 8(g + 1) (+ δ + 1 for IQ1_M)
 *    and the Q8_K block's bsums (Σ y per 16) the offset's share.
 * The integer sum S per super-block is exact, so the result is the scalar
 * kernel's bit for bit (same iqm_acc double steps).
 */
#include "iq_mainline.h"
#include "simd_x86.h"
#include "../core/threadpool.h"

#include <immintrin.h>

/* ---- tables, built once from the grids ---- */

typedef struct {
    /* code bytes of every grid entry: lo = bits 0–7, hi = bits 8–15 */
    uint8_t iq2xxs_lo[256], iq2xxs_hi[256];
    uint8_t iq2xs_lo[512], iq2xs_hi[512];
    uint8_t iq2s_lo[1024], iq2s_hi[1024];
    uint8_t iq3xxs_lo[256], iq3xxs_hi[256];
    uint8_t iq3s_lo[512], iq3s_hi[512];
    /* the same codes as dwords, for vpgatherdd */
    uint32_t iq2xs_code[512], iq2s_code[1024], iq1s_code[2048];
    const uint64_t *iq1_x8; /* IQ1's grid as values 8·(g + 1) (qtk_iq1_values_x8) */
    /* magnitude of a field (vpermb: index bits 0–5, the field in the low bits) */
    uint8_t mag_iq2[64], mag_iq3xxs[64], mag_iq3s[64], mag_iq1[64];
    uint8_t mul_of_nibble[64]; /* 2·(k & 15) + 1 */
    uint8_t mul_of_octal[64];  /* 2·(k & 7) + 1 */
    /* vpermt2w selectors: code word of entry e into word 4e (IQ2 octets) or 2e (IQ3 quads) of vector t */
    uint16_t sel_iq2[4][32], sel_iq3[4][32];
    uint16_t sel_iq2_b[4][32]; /* … of entry 32 + e: the second super-block of a pair (lanes 2–3) */
    /* vpmultishiftqb controls */
    uint8_t cut_iq2[64];   /* 2-bit fields: bytes 0, 2, …, 14 of each qword */
    uint8_t cut_iq3[64];   /* 3-bit fields: bytes 0, 3, 6, 9, 32, 35, 38, 41 */
    uint8_t fields_xxs_hi[64]; /* 7-bit sign fields and scale of the dword in bits 32–63 (IQ2_XXS) */
    uint8_t fields_xxs_lo[64]; /* … of the dword in bits 0–31 (IQ3_XXS) */
    uint8_t nibbles[64];       /* byte j = nibble j of the qword */
    uint8_t pairs[64];         /* byte j = bits 2j, 2j+1 of the qword */
    uint8_t xxs_index[64];     /* IQ2_XXS: index byte 4g + l <- byte 8g + l (32 + …: of the second block) */
    /* multiplier bytes to dword lanes of vector t (vpermb with zero mask 0x1111…) */
    uint8_t mul16[4][64];      /* per-16 types: lane i <- multiplier 4t + i/4 (at byte 4t + i/4) */
    uint8_t mul32[4][64];      /* IQ3_S: lane i <- multiplier 2t + i/8 (at byte 2t + i/8) */
    uint8_t mul32_xxs[4][64];  /* XXS types: lane i <- multiplier of group 2t + i/8 (at byte 8g + 4) */
    /* IQ1_S: qh = 8 u16 (per 32-group g: 3 high index bits per octet, 3-bit scale, δ sign in bit 15)
     * as qwords 0, 0, 1, 1 */
    uint8_t iq1s_high[64];     /* byte G (octet) = bits 16·(G/4 % 4) + 3·(G % 4) of qword G/16 */
    uint16_t iq1s_lane_w[4][32]; /* word 2i (dword lane i) <- multiplier word of group 2t + i/8 */
    /* IQ1_M: qh = 16 bytes (a nibble per octet: 3 high index bits, δ sign) as qwords 0, 0, 1, 1 */
    uint8_t iq1m_high[64];     /* byte G = bits 4·(G % 16) … of qword G/16 */
    uint8_t iq1m_delta[64];    /* byte G = bits 4·(G % 16) + 2 … (the δ sign at bit 1) */
    uint8_t iq1m_scale[64];    /* byte B (16-group) = bits 16·(B/4) + 3·(B % 4) of the scale qword */
    uint8_t octet_of_byte[4][64]; /* byte k <- byte 8t + k/8 (its octet) */
} iqv_tables;

static iqv_tables g_t;

/* Per grid class, 1 = gather the codes, 0 = vpermi2b lookups; the same codes either way.
 * g_ways.now is what the kernels read: the timed choice unless a test forces one. */
enum { LK_IQ2XS, LK_IQ2S, LK_IQ1, LK_COUNT };
static iqm_ways g_ways = {LK_COUNT, {0}, {0}};
static qtk_once g_t_once = QTK_ONCE_INIT;

/* Position of byte value v in the sorted list of g's values (n_mag of them). */
static int mag_pos(const uint8_t *mags, int n_mag, uint8_t v) {
    for (int i = 0; i < n_mag; i++)
        if (mags[i] == v) return i;
    return 0; /* not reached for the shipped grids (test_iq_mainline compares every entry) */
}

/* Distinct byte values of a grid (sorted), n_bytes per entry. */
static int collect_mags(const uint8_t *grid, int entries, int n_bytes, uint8_t *mags, int cap) {
    int n = 0;
    for (int e = 0; e < entries; e++)
        for (int j = 0; j < n_bytes; j++) {
            const uint8_t v = grid[e * n_bytes + j];
            int k = 0;
            while (k < n && mags[k] < v) k++;
            if (k < n && mags[k] == v) continue;
            if (n == cap) return n;
            memmove(mags + k + 1, mags + k, (size_t)(n - k));
            mags[k] = v;
            n++;
        }
    return n;
}

static void code_table(const void *grid, int entries, int n_bytes, int bits, uint8_t *lo, uint8_t *hi, uint8_t *mag64) {
    uint8_t bytes[1024 * 8], mags[8] = {0};
    /* the grids are little-endian words: byte j of entry e = bits 8j… of the word */
    for (int e = 0; e < entries; e++)
        for (int j = 0; j < n_bytes; j++) {
            const uint64_t w = n_bytes == 8 ? ((const uint64_t *)grid)[e] : ((const uint32_t *)grid)[e];
            bytes[e * n_bytes + j] = (uint8_t)(w >> 8 * j);
        }
    const int n_mag = collect_mags(bytes, entries, n_bytes, mags, 1 << bits);
    for (int e = 0; e < entries; e++) {
        unsigned code = 0;
        for (int j = 0; j < n_bytes; j++) code |= (unsigned)mag_pos(mags, n_mag, bytes[e * n_bytes + j]) << (bits * j);
        lo[e] = (uint8_t)code;
        hi[e] = (uint8_t)(code >> 8);
    }
    for (int k = 0; k < 64; k++) mag64[k] = mags[k & ((1 << bits) - 1)];
}

/* IQ1's grid as gather codes (g + 1, 2 bits per value). */
static void iq1_codes(uint32_t *code) {
    for (int e = 0; e < 2048; e++) {
        code[e] = 0;
        for (int j = 0; j < 8; j++) code[e] |= (uint32_t)((int8_t)(qtk_iq1s_grid[e] >> 8 * j) + 1) << 2 * j;
    }
}

/* Word of W0:W1 (unpacklo/hi of the lo and hi code bytes) holding entry n. */
static uint16_t word_of_entry(int n) {
    const int lane = n / 16, p = n % 16;
    return (uint16_t)(p < 8 ? 8 * lane + p : 32 + 8 * lane + (p - 8));
}

static void calibrate_lookups(void);

static void build_tables(void) {
    iqv_tables *t = &g_t;
    code_table(qtk_iq2xxs_grid, 256, 8, 2, t->iq2xxs_lo, t->iq2xxs_hi, t->mag_iq2);
    code_table(qtk_iq2xs_grid, 512, 8, 2, t->iq2xs_lo, t->iq2xs_hi, t->mag_iq2);
    code_table(qtk_iq2s_grid, 1024, 8, 2, t->iq2s_lo, t->iq2s_hi, t->mag_iq2);
    code_table(qtk_iq3xxs_grid, 256, 4, 3, t->iq3xxs_lo, t->iq3xxs_hi, t->mag_iq3xxs);
    code_table(qtk_iq3s_grid, 512, 4, 3, t->iq3s_lo, t->iq3s_hi, t->mag_iq3s);
    iq1_codes(t->iq1s_code);
    t->iq1_x8 = qtk_iq1_values_x8();
    for (int e = 0; e < 1024; e++) {
        if (e < 512) t->iq2xs_code[e] = t->iq2xs_lo[e] | (uint32_t)t->iq2xs_hi[e] << 8;
        t->iq2s_code[e] = t->iq2s_lo[e] | (uint32_t)t->iq2s_hi[e] << 8;
    }
    for (int k = 0; k < 64; k++) {
        const int j = k % 8; /* byte j of its qword */
        t->mul_of_nibble[k] = (uint8_t)(2 * (k & 15) + 1);
        t->mul_of_octal[k] = (uint8_t)(2 * (k & 7) + 1);
        t->mag_iq1[k] = (uint8_t)(8 * (k & 3));
        const int G = k & 31, B = k & 15;
        t->iq1s_high[k] = (uint8_t)(16 * ((G / 4) % 4) + 3 * (G % 4));
        t->iq1m_high[k] = (uint8_t)(4 * (k % 16));
        t->iq1m_delta[k] = (uint8_t)(4 * (k % 16) + 2);
        t->iq1m_scale[k] = (uint8_t)(16 * (B / 4) + 3 * (B % 4));
        t->cut_iq2[k] = (uint8_t)(2 * j);
        t->cut_iq3[k] = (uint8_t)((j < 4 ? 0 : 32) + 3 * (j & 3));
        t->fields_xxs_hi[k] = (uint8_t)(j < 5 ? 32 + 7 * j : 0); /* byte 4: bits 60–63 (+ wrapped bits 0–3) */
        t->fields_xxs_lo[k] = (uint8_t)(j < 5 ? 7 * j : 0);      /* byte 4: bits 28–35 (32–35 are zero) */
        t->nibbles[k] = (uint8_t)(4 * (k & 15));
        t->pairs[k] = (uint8_t)(2 * (k & 31));
        t->xxs_index[k] = (uint8_t)((k < 32 ? 0 : 64) + 8 * ((k % 32) / 4) + (k % 4));
    }
    for (int v = 0; v < 4; v++) {
        for (int w = 0; w < 32; w++) {
            t->sel_iq2[v][w] = word_of_entry(8 * v + w / 4);
            t->sel_iq2_b[v][w] = word_of_entry(32 + 8 * v + w / 4);
            t->sel_iq3[v][w] = word_of_entry(16 * v + w / 2);
            t->iq1s_lane_w[v][w] = (uint16_t)(2 * v + w / 16);
        }
        for (int k = 0; k < 64; k++) {
            const int i = k / 4; /* dword lane */
            t->mul16[v][k] = (uint8_t)(4 * v + i / 4);
            t->mul32[v][k] = (uint8_t)(2 * v + i / 8);
            t->mul32_xxs[v][k] = (uint8_t)(8 * (2 * v + i / 8) + 4);
            t->octet_of_byte[v][k] = (uint8_t)(8 * v + k / 8);
        }
    }
    calibrate_lookups();
}

/* ---- the pieces of one super-block ---- */

#define LD(p) _mm512_loadu_si512((const void *)(p))

static inline uint64_t u64_at(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Code bytes of the indices' low 7 bits in 128-entry chunk T. */
static inline __m512i lut128(const uint8_t *T, __m512i idx) { return _mm512_permutex2var_epi8(LD(T), idx, LD(T + 64)); }
/* … of 256 entries (chunk by the index byte's bit 7, k7), 512 (+ bit 8, k8), 1024 (+ bit 9, k9). */
static inline __m512i lut256(const uint8_t *T, __m512i idx, __mmask64 k7) {
    return _mm512_mask_blend_epi8(k7, lut128(T, idx), lut128(T + 128, idx));
}
static inline __m512i lut512(const uint8_t *T, __m512i idx, __mmask64 k7, __mmask64 k8) {
    return _mm512_mask_blend_epi8(k8, lut256(T, idx, k7), lut256(T + 256, idx, k7));
}

/* The code words W0:W1 (as unpacklo/hi of lut's lo and hi bytes) of the 32 entries whose
 * index bits 0–7 are bytes 0–31 of idx and bits 8–10 bytes 0–31 of h3, by two gathers of
 * dword codes: on Intel cores a 16-lane vpgatherdd costs ~6 cycles mostly on the load
 * ports, where the 1024- and 2048-entry byte lookups take 8 and 16 vpermi2b per table,
 * 2 cycles each on port 5. unpacklo/hi of (idx, h3) put the indices in W0's and W1's word
 * order already. */
static inline void gather_codes32(const uint32_t *tab, __m512i idx, __m512i h3, __m512i *W0, __m512i *W1) {
    const __m512i i0 = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(_mm512_unpacklo_epi8(idx, h3)));
    const __m512i i1 = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(_mm512_unpackhi_epi8(idx, h3)));
    *W0 = _mm512_castsi256_si512(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(i0, (const void *)tab, 4)));
    *W1 = _mm512_castsi256_si512(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(i1, (const void *)tab, 4)));
}

/* Magnitudes of the 64 weights of vector v from the code words W0:W1. */
static inline __m512i expand(__m512i W0, __m512i W1, const uint16_t *sel, const uint8_t *cut, const uint8_t *mag) {
    const __m512i c = _mm512_permutex2var_epi16(W0, LD(sel), W1);
    return _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(LD(cut), c), LD(mag));
}

/* acc + p·m per int32 lane, for |p| < 2^15 and 0 ≤ m < 2^15: vpdpwssd of the low int16
 * halves (the high halves of m are 0), exactly vpmulld + vpaddd but one uop instead of three
 * on Intel cores. Every p below is a sum of 4 products |q|·y with |q| ≤ 62 and |y| ≤ 128. */
static inline __m512i mul_acc(__m512i acc, __m512i p, __m512i m) { return _mm512_dpwssd_epi32(acc, p, m); }

/* Σ over the 4 vectors of multiplier · (|q| · sign·y), as 16 int32 lanes. */
static inline __m512i products(__m512i W0, __m512i W1, const uint16_t (*sel)[32], const uint8_t *cut,
                               const uint8_t *mag, const uint64_t *signs, const int8_t *q8, __m512i M,
                               const uint8_t (*mul_sel)[64]) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i acc = zero;
    for (int v = 0; v < 4; v++) {
        const __m512i qu = expand(W0, W1, sel[v], cut, mag);
        const __m512i y = LD(q8 + 64 * v);
        const __m512i ys = _mm512_mask_sub_epi8(y, _cvtu64_mask64(signs[v]), zero, y);
        const __m512i p = _mm512_dpbusd_epi32(zero, qu, ys);
        const __m512i m = _mm512_maskz_permutexvar_epi8((__mmask64)0x1111111111111111ull, LD(mul_sel[v]), M);
        acc = mul_acc(acc, p, m);
    }
    return acc;
}

static inline int hsum512(__m512i v) {
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* Sign bytes (ksigns of 7-bit fields in bytes 0–3 of each qword of f) as
 * four 64-bit masks. */
static inline void ksigns_masks(__m512i f, uint64_t *signs) {
    const __m512i s = _mm512_permutex2var_epi8(LD(qtk_ksigns_iq2xs), f, LD(qtk_ksigns_iq2xs + 64));
    _mm256_storeu_si256((__m256i *)(void *)signs, _mm512_cvtepi64_epi32(s));
}

/* ---- per type: S of one super-block ---- */

/* The IQ2 types' sums in two parts: the code words (W0:W1) of a super-block's 32 grid entries,
 * and the rest (signs, multipliers, products) given the entries' words (sel). A pair of
 * super-blocks shares one byte lookup over all 64 lanes (one super-block's 32 indices leave
 * half of every vpermi2b's lanes unused): the second one's entries come out in lanes 2–3
 * (sel_iq2_b). Zen 4 runs one 512-bit permute a cycle, and the 256- to 1024-entry lookups are
 * 4, 8 and 16 of them per super-block. */

static inline int iq2_xxs_rest(const uint8_t *b, const int8_t *q8, __m512i W0, __m512i W1, const uint16_t (*sel)[32]) {
    const iqv_tables *t = &g_t;
    const __m512i f = _mm512_multishift_epi64_epi8(LD(t->fields_xxs_hi), LD(b + 2)); /* qword g: sign fields, scale */
    uint64_t signs[4];
    ksigns_masks(f, signs);
    const __m512i M = _mm512_permutexvar_epi8(f, LD(t->mul_of_nibble));
    return hsum512(products(W0, W1, sel, t->cut_iq2, t->mag_iq2, signs, q8, M, t->mul32_xxs));
}

/* IQ2_XXS: qword g = 4 index bytes, then the sign fields and scale; the index bytes of b0
 * (and b1) to bytes 0–31 (32–63). */
static inline void iq2_xxs_codes(const uint8_t *b0, const uint8_t *b1, __m512i *W0, __m512i *W1) {
    const iqv_tables *t = &g_t;
    const __m512i idx = _mm512_permutex2var_epi8(LD(b0 + 2), LD(t->xxs_index), LD(b1 + 2));
    const __mmask64 k7 = _mm512_movepi8_mask(idx);
    const __m512i lo = lut256(t->iq2xxs_lo, idx, k7), hi = lut256(t->iq2xxs_hi, idx, k7);
    *W0 = _mm512_unpacklo_epi8(lo, hi);
    *W1 = _mm512_unpackhi_epi8(lo, hi);
}

/* IQ2_XS: 32 words of grid index (9 bits) and sign field (7 bits). */
static inline int iq2_xs_rest(const uint8_t *b, const int8_t *q8, __m512i W0, __m512i W1, const uint16_t (*sel)[32]) {
    const iqv_tables *t = &g_t;
    const __m512i s = _mm512_permutex2var_epi8(LD(qtk_ksigns_iq2xs), _mm512_srli_epi16(LD(b + 2), 9), LD(qtk_ksigns_iq2xs + 64));
    uint64_t signs[4];
    _mm256_storeu_si256((__m256i *)(void *)signs, _mm512_cvtepi16_epi8(s));
    const __m512i M = _mm512_permutexvar_epi8(
        _mm512_multishift_epi64_epi8(LD(t->nibbles), _mm512_set1_epi64((long long)u64_at(b + 66))), LD(t->mul_of_nibble));
    return hsum512(products(W0, W1, sel, t->cut_iq2, t->mag_iq2, signs, q8, M, t->mul16));
}

static inline void iq2_xs_codes(const uint8_t *b0, const uint8_t *b1, __m512i *W0, __m512i *W1) {
    const iqv_tables *t = &g_t;
    const __m512i w0 = LD(b0 + 2), w1 = LD(b1 + 2), bit8 = _mm512_set1_epi16(0x100);
    const __m256i i0 = _mm512_cvtepi16_epi8(w0);
    if (g_ways.now[LK_IQ2XS]) { /* one super-block (b0) */
        const __m512i h = _mm512_srli_epi16(_mm512_and_si512(w0, bit8), 8);
        gather_codes32(t->iq2xs_code, _mm512_castsi256_si512(i0), _mm512_castsi256_si512(_mm512_cvtepi16_epi8(h)), W0, W1);
        return;
    }
    const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(i0), _mm512_cvtepi16_epi8(w1), 1);
    const __mmask64 k7 = _mm512_movepi8_mask(idx);
    const __mmask64 k8 = (__mmask64)_mm512_test_epi16_mask(w0, bit8) | (__mmask64)_mm512_test_epi16_mask(w1, bit8) << 32;
    const __m512i lo = lut512(t->iq2xs_lo, idx, k7, k8), hi = lut512(t->iq2xs_hi, idx, k7, k8);
    *W0 = _mm512_unpacklo_epi8(lo, hi);
    *W1 = _mm512_unpackhi_epi8(lo, hi);
}

/* IQ2_S: 32 low index bytes, 32 sign bytes, then 2 high index bits per entry (qword at 66). */
static inline int iq2_s_rest(const uint8_t *b, const int8_t *q8, __m512i W0, __m512i W1, const uint16_t (*sel)[32]) {
    const iqv_tables *t = &g_t;
    const uint64_t signs[4] = {u64_at(b + 34), u64_at(b + 42), u64_at(b + 50), u64_at(b + 58)};
    const __m512i M = _mm512_permutexvar_epi8(
        _mm512_multishift_epi64_epi8(LD(t->nibbles), _mm512_set1_epi64((long long)u64_at(b + 74))), LD(t->mul_of_nibble));
    return hsum512(products(W0, W1, sel, t->cut_iq2, t->mag_iq2, signs, q8, M, t->mul16));
}

static inline void iq2_s_codes(const uint8_t *b0, const uint8_t *b1, __m512i *W0, __m512i *W1) {
    const iqv_tables *t = &g_t;
    /* bytes 0–31: b0's low index bytes, 32–63: b1's; hb byte k: bits 2k, 2k+1 of that block's qword */
    const __m512i idx = _mm512_inserti64x4(LD(b0 + 2), _mm256_loadu_si256((const __m256i *)(const void *)(b1 + 2)), 1);
    const __m512i hq = _mm512_inserti64x4(_mm512_set1_epi64((long long)u64_at(b0 + 66)), _mm256_set1_epi64x((long long)u64_at(b1 + 66)), 1);
    const __m512i hb = _mm512_multishift_epi64_epi8(LD(t->pairs), hq);
    if (g_ways.now[LK_IQ2S]) { /* one super-block (b0) */
        gather_codes32(t->iq2s_code, idx, _mm512_and_si512(hb, _mm512_set1_epi8(3)), W0, W1);
        return;
    }
    const __mmask64 k7 = _mm512_movepi8_mask(idx), k8 = _mm512_test_epi8_mask(hb, _mm512_set1_epi8(1)),
                    k9 = _mm512_test_epi8_mask(hb, _mm512_set1_epi8(2));
    const __m512i lo = _mm512_mask_blend_epi8(k9, lut512(t->iq2s_lo, idx, k7, k8), lut512(t->iq2s_lo + 512, idx, k7, k8));
    const __m512i hi = _mm512_mask_blend_epi8(k9, lut512(t->iq2s_hi, idx, k7, k8), lut512(t->iq2s_hi + 512, idx, k7, k8));
    *W0 = _mm512_unpacklo_epi8(lo, hi);
    *W1 = _mm512_unpackhi_epi8(lo, hi);
}

/* A type's sum of one super-block and of a pair from its codes and rest; a pair shares the
 * lookup unless the type gathers its codes now (GATHERS), which take one super-block. */
#define IQV_IQ2_SUMS(t, BYTES, GATHERS)                                                                   \
    static inline int t##_sum(const uint8_t *b, const qtk_block_q8_K *yb) {                              \
        __m512i W0, W1;                                                                                   \
        t##_codes(b, b, &W0, &W1);                                                                        \
        return t##_rest(b, yb->qs, W0, W1, g_t.sel_iq2);                                                  \
    }                                                                                                     \
    static inline void t##_sum2(const uint8_t *b, const qtk_block_q8_K *yb, int *S) {                     \
        if (GATHERS) {                                                                                    \
            S[0] = t##_sum(b, yb);                                                                        \
            S[1] = t##_sum(b + (BYTES), yb + 1);                                                          \
            return;                                                                                       \
        }                                                                                                 \
        __m512i W0, W1;                                                                                   \
        t##_codes(b, b + (BYTES), &W0, &W1);                                                              \
        S[0] = t##_rest(b, yb[0].qs, W0, W1, g_t.sel_iq2);                                                \
        S[1] = t##_rest(b + (BYTES), yb[1].qs, W0, W1, g_t.sel_iq2_b);                                    \
    }
IQV_IQ2_SUMS(iq2_xxs, IQ2XXS_BYTES, 0)
IQV_IQ2_SUMS(iq2_xs, IQ2XS_BYTES, g_ways.now[LK_IQ2XS])
IQV_IQ2_SUMS(iq2_s, IQ2S_BYTES, g_ways.now[LK_IQ2S])

static inline int iq3_xxs_sum(const uint8_t *b, const qtk_block_q8_K *yb) {
    const iqv_tables *t = &g_t;
    const int8_t *q8 = yb->qs;
    const __m512i idx = LD(b + 2); /* 64 index bytes */
    const __mmask64 k7 = _mm512_movepi8_mask(idx);
    const __m512i lo = lut256(t->iq3xxs_lo, idx, k7), hi = lut256(t->iq3xxs_hi, idx, k7);
    const __m512i a = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(const void *)(b + 66)));
    const __m512i f = _mm512_multishift_epi64_epi8(LD(t->fields_xxs_lo), a);
    uint64_t signs[4];
    ksigns_masks(f, signs);
    const __m512i M = _mm512_permutexvar_epi8(f, LD(t->mul_of_nibble));
    return hsum512(products(_mm512_unpacklo_epi8(lo, hi), _mm512_unpackhi_epi8(lo, hi), t->sel_iq3, t->cut_iq3,
                            t->mag_iq3xxs, signs, q8, M, t->mul32_xxs));
}

static inline int iq3_s_sum(const uint8_t *b, const qtk_block_q8_K *yb) {
    const iqv_tables *t = &g_t;
    const int8_t *q8 = yb->qs;
    const __m512i idx = LD(b + 2); /* 64 low index bytes; bit 8 of index i = bit i of the qword at 66 */
    const __mmask64 k7 = _mm512_movepi8_mask(idx), k8 = _cvtu64_mask64(u64_at(b + 66));
    const __m512i lo = lut512(t->iq3s_lo, idx, k7, k8), hi = lut512(t->iq3s_hi, idx, k7, k8);
    const uint64_t signs[4] = {u64_at(b + 74), u64_at(b + 82), u64_at(b + 90), u64_at(b + 98)};
    uint32_t sc;
    memcpy(&sc, b + 106, 4);
    const __m512i M = _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(LD(t->nibbles), _mm512_set1_epi64((long long)sc)),
                                              LD(t->mul_of_nibble));
    return hsum512(products(_mm512_unpacklo_epi8(lo, hi), _mm512_unpackhi_epi8(lo, hi), t->sel_iq3, t->cut_iq3,
                            t->mag_iq3s, signs, q8, M, t->mul32));
}

/* The 16 qh bytes at p as qwords 0, 0, 1, 1 (a vpmultishiftqb output qword j reads qword j). */
static inline __m512i qh_pairs(const uint8_t *p) {
    const __m512i q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 1, 1, 0, 0, 1, 1), q);
}

/* The grid indices (11 bits) of 4 octets as the 4 words of a qword: their low bytes (4 bytes at
 * qs) and high bits (3 per octet of the 16 bits h, at the positions hmask picks). pdep is one
 * cycle on every CPU with AVX-512 VBMI (cpu.c requires BMI2 beside it). */
static inline uint64_t iq1_words(const uint8_t *qs, unsigned h, uint64_t hmask) {
    uint32_t q;
    memcpy(&q, qs, 4);
    return _pdep_u64(q, 0x00FF00FF00FF00FFull) | (_pdep_u64(h, hmask) & 0x0700070007000700ull);
}

/* The grid qwords of the 4 octets whose indices are the words of w0, then those of w1. */
static inline __m128i octet_pair(const uint64_t *T, uint64_t w) {
    return _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(_mm_loadl_epi64((const __m128i *)(const void *)(T + (w & 0xFFFF)))),
                                         (const double *)(const void *)(T + ((w >> 16) & 0xFFFF))));
}
static inline __m512i octets8(const uint64_t *T, uint64_t w0, uint64_t w1) {
    const __m256i a = _mm256_inserti128_si256(_mm256_castsi128_si256(octet_pair(T, w0)), octet_pair(T, w0 >> 32), 1);
    const __m256i c = _mm256_inserti128_si256(_mm256_castsi128_si256(octet_pair(T, w1)), octet_pair(T, w1 >> 32), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), c, 1);
}

/* The values 8·(g + 1) ∈ {0, 8, 16} of IQ1_S/IQ1_M's 32 octets as four vectors of 64 weights:
 * index bytes at qs, high bits in the 16 bytes at qh (per 4 octets 16 bits, the index bits where
 * hmask / vpmultishiftqb control high_ctl picks them), one of two ways:
 *  0: indices in general registers (iq1_words), the octets' grid qwords loaded one by one
 *     (iq1_x8, 16 KB) and paired into vectors: 32 loads and 28 xmm/ymm inserts. The 2048-entry
 *     code lookup by vpermi2b took 32 of them (two cycles each on Zen 4), the expansion 12 more
 *     permutes, and a vector-to-register index extraction 2 uops per index; 1.25× faster on Zen 4.
 *  1: two vpgatherdd of the code words, expanded (Intel cores gather 16 lanes in ~6 cycles). */
static inline void iq1_values(const uint8_t *qs, const uint8_t *qh, const uint8_t *high_ctl, uint64_t hmask, __m512i u[4]) {
    const iqv_tables *t = &g_t;
    if (g_ways.now[LK_IQ1]) {
        const __m512i idx = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)qs));
        const __m512i h3 = _mm512_and_si512(_mm512_multishift_epi64_epi8(LD(high_ctl), qh_pairs(qh)), _mm512_set1_epi8(7));
        __m512i W0, W1;
        gather_codes32(t->iq1s_code, idx, h3, &W0, &W1);
        for (int v = 0; v < 4; v++) u[v] = expand(W0, W1, t->sel_iq2[v], t->cut_iq2, t->mag_iq1);
        return;
    }
    for (int v = 0; v < 4; v++)
        u[v] = octets8(t->iq1_x8, iq1_words(qs + 8 * v, iqm_u16(qh + 4 * v), hmask),
                       iq1_words(qs + 8 * v + 4, iqm_u16(qh + 4 * v + 2), hmask));
}

/* Σ over the 4 vectors of m · Σ u·y per dword lane (mul_sel: the lanes' multipliers from the
 * words (w16) or bytes of M); |Σ u·y| ≤ 4·18·128 < 2^15 as mul_acc needs. */
static inline __m512i products_u(const __m512i u[4], const int8_t *q8, __m512i M, const void *mul_sel, int w16) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i acc = zero;
    for (int v = 0; v < 4; v++) {
        const __m512i p = _mm512_dpbusd_epi32(zero, u[v], LD(q8 + 64 * v));
        const __m512i sel = LD((const uint8_t *)mul_sel + 64 * v);
        const __m512i m = w16 ? _mm512_maskz_permutexvar_epi16((__mmask32)0x55555555u, sel, M)
                              : _mm512_maskz_permutexvar_epi8((__mmask64)0x1111111111111111ull, sel, M);
        acc = mul_acc(acc, p, m);
    }
    return acc;
}


/* IQ1_S: q = 8g + δ_g (δ = ±1 per 32-group g), so with u = 8(g + 1) and Y_g = Σ_g y (the Q8_K
 * block's bsums) S = Σ_g m_g·(Σ u·y + (δ_g − 8)·Y_g): the vectors take the first term, one
 * 8-lane madd of the bsums the second. */
static inline int iq1_s_sum(const uint8_t *b, const qtk_block_q8_K *yb) {
    const iqv_tables *t = &g_t;
    const __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(b + 34)); /* per group: 3 × 3 index bits, scale, δ sign */
    __m512i u[4];
    iq1_values(b + 2, b + 34, t->iq1s_high, 0x0700070007000700ull, u);
    const __m128i m = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(h, 11), _mm_set1_epi16(14)), _mm_set1_epi16(1));
    const __m128i md = _mm_sub_epi16(_mm_sign_epi16(m, _mm_or_si128(h, _mm_set1_epi16(1))), _mm_slli_epi16(m, 3));
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums),
                                           _mm256_set_m128i(_mm_unpackhi_epi16(md, md), _mm_unpacklo_epi16(md, md)));
    const __m512i acc = products_u(u, yb->qs, _mm512_castsi128_si512(m), t->iq1s_lane_w, 1);
    return hsum512(_mm512_add_epi32(acc, _mm512_zextsi256_si512(corr)));
}

/* IQ1_M: δ per octet, so the vectors take u' = 8(g + 1) + (δ + 1) = q + 9 (bit 1 set where
 * δ = +1) and the bsums the −9·Σ m·y per 16-group. */
static inline int iq1_m_sum(const uint8_t *b, const qtk_block_q8_K *yb) {
    const iqv_tables *t = &g_t;
    __m512i u[4];
    iq1_values(b, b + 32, t->iq1m_high, 0x0F000F000F000F00ull, u);
    const __m512i neg = _mm512_multishift_epi64_epi8(LD(t->iq1m_delta), qh_pairs(b + 32)); /* byte G: bit 1 = δ < 0 */
    for (int v = 0; v < 4; v++) /* u | (~δ-bit & 2) */
        u[v] = _mm512_ternarylogic_epi32(u[v], _mm512_permutexvar_epi8(LD(t->octet_of_byte[v]), neg), _mm512_set1_epi8(2), 0xF2);
    const __m512i M = _mm512_permutexvar_epi8(
        _mm512_multishift_epi64_epi8(LD(t->iq1m_scale), _mm512_set1_epi64((long long)u64_at(b + 48))), LD(t->mul_of_octal));
    const __m256i m9 = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm512_castsi512_si128(M)), _mm256_set1_epi16(-9));
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)yb->bsums), m9);
    const __m512i acc = products_u(u, yb->qs, M, t->mul16, 0);
    return hsum512(_mm512_add_epi32(acc, _mm512_zextsi256_si512(corr)));
}

/* The types without a shared lookup: a pair is two sums. */
#define IQV_TWO_SUMS(t, BYTES)                                                                            \
    static inline void t##_sum2(const uint8_t *b, const qtk_block_q8_K *yb, int *S) {                     \
        S[0] = t##_sum(b, yb);                                                                            \
        S[1] = t##_sum(b + (BYTES), yb + 1);                                                              \
    }
IQV_TWO_SUMS(iq3_xxs, IQ3XXS_BYTES)
IQV_TWO_SUMS(iq3_s, IQ3S_BYTES)
IQV_TWO_SUMS(iq1_s, IQ1S_BYTES)
IQV_TWO_SUMS(iq1_m, IQ1M_BYTES)

/* ---- lookup calibration ---- */

typedef struct {
    void (*sum2)(const uint8_t *, const qtk_block_q8_K *, int *);
    size_t bytes;
    int cls;
    const uint8_t *w;
    const qtk_block_q8_K *y;
} lookup_timing;

static volatile int g_sink;

/* 512 super-block sums (as the kernels take them: in pairs) over 32 pseudo-random blocks (the
 * fp16 scales are not read) the given way. */
static void run_sums(void *ctx, int way) {
    const lookup_timing *t = (const lookup_timing *)ctx;
    int acc = 0, S[2];
    g_ways.now[t->cls] = way;
    for (int it = 0; it < 16; it++)
        for (int k = 0; k < 32; k += 2) {
            t->sum2(t->w + (size_t)k * t->bytes, t->y, S);
            acc += S[0] + S[1];
        }
    g_sink = acc;
}

/* Runs once, after the tables: which way each class of lookups takes on this CPU. */
static void calibrate_lookups(void) {
    static void (*const sums[LK_COUNT])(const uint8_t *, const qtk_block_q8_K *, int *) = {iq2_xs_sum2, iq2_s_sum2, iq1_s_sum2};
    static const size_t sizes[LK_COUNT] = {IQ2XS_BYTES, IQ2S_BYTES, IQ1S_BYTES};
    uint8_t w[32 * IQ2S_BYTES];
    qtk_block_q8_K y[2]; /* the bsums are timing input like the rest: not the qs' sums */
    memset(y, 0, sizeof y);
    uint32_t x = qtk_iqm_fill_random(12345u, w, sizeof w, y[0].qs, QK_K);
    qtk_iqm_fill_random(x, NULL, 0, y[1].qs, QK_K);
    for (int c = 0; c < LK_COUNT; c++) {
        lookup_timing t = {sums[c], sizes[c], c, w, y};
        g_ways.timed[c] = qtk_iqm_gathers_win(run_sums, &t);
    }
    qtk_iqm_ways_set(&g_ways, -1);
}

int qtk_iqv_lookups(int mode) {
    qtk_call_once(&g_t_once, build_tables);
    return qtk_iqm_ways_set(&g_ways, mode);
}

#define IQV_DOT(t, BYTES, DBITS, WORD, MUL16, F)                                                          \
    void qtk_##t##_vec_dot_avx512vbmi(int64_t n, float *s, const void *vx, const void *vy) {              \
        qtk_call_once(&g_t_once, build_tables);                                                           \
        IQM_X86_DOT_BODY2(t##_sum2, t##_sum, BYTES, DBITS, F)                                             \
    }

IQM_TYPES(IQV_DOT)
