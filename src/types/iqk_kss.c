/*
 * iqk_kss.c — IQ4_KSS (FORMATS.md §4.5): IQ4_KS values and scales in exactly
 * 4.0 bpw. Every group of four 4-bit indices (weights 2k, 2k+16, 2k+1, 2k+17
 * of a sub-block) must have an even number of set bits, so it fits in 15
 * bits; the 16th bit of the 8 words of a sub-block holds its scale byte.
 *
 * Quantizer (METHODS.md §4.5): the parity constraint is enforced inside the
 * scale search, but cheaply: every trial scale is first rated without the
 * constraint (as IQ4_KS), and only the best few are re-rated with it. For a
 * fixed scale the constrained optimum is exact and cheap: take nearest
 * indices, and for an odd group flip the one index whose best
 * opposite-parity neighbour costs least (the error is unimodal along the
 * grid and 2m/2m+1 always differ in parity, so that neighbour is within ±2).
 *
 * Deliberate deviation: without an imatrix the reference weighs by x²; here
 * the weights are 0.25·σ² + x². Under x² the parity flips land on near-zero
 * weights at almost no cost, which costs plain squared error; with the
 * σ² floor the unweighted error ends up 7–24% below the reference's.
 */
#include "iqk_ks.h"
#include "grids.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#if defined(__clang__)
/* The searches' sums must be the plain multiplies and adds their SIMD twins compute
 * (no FMA contraction; gcc in ISO C mode does not contract): the bytes must not
 * depend on the ISA or the platform. */
#pragma STDC FP_CONTRACT OFF
#endif

#define KSS_TOPK 8 /* unconstrained-best trial scales re-rated with the constraint */
#define KSS_ITERS 1 /* rounds of code/grid re-picking after the reference's pass (more: <0.5% gain, +25% time) */

static const uint8_t par4[16] = {0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0};

static float rd_f32(const void *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* Nearest index below / above l whose popcount parity differs from l's (an
 * out-of-range neighbour is given an infinite cost in kss_move). */
const int8_t qtk_kss_opp_dn[16] = {0, 0, 0, 2, 3, 4, 4, 6, 6, 8, 8, 10, 11, 12, 12, 14};
const int8_t qtk_kss_opp_up[16] = {1, 3, 3, 4, 5, 7, 7, 9, 9, 11, 11, 12, 13, 15, 15, 15};

/* The cheapest move of a weight at t (grid units, nearest index l of grid values gf)
 * to an index of the other parity: *nl, its rise of (t − g)² *dx (the upper one when
 * strictly cheaper) and w·dx *dwx. The SIMD twins compute these floats. */
static inline void kss_move(float t, float w, const float *gf, int l, int *nl, float *dx, float *dwx) {
    const float e0 = (t - gf[l]) * (t - gf[l]);
    const int ld = qtk_kss_opp_dn[l], lu = qtk_kss_opp_up[l];
    const float dd = l == 0 ? INFINITY : (t - gf[ld]) * (t - gf[ld]) - e0;
    const float du = l == 15 ? INFINITY : (t - gf[lu]) * (t - gf[lu]) - e0;
    const int up = du < dd;
    *dx = up ? du : dd, *dwx = w * *dx, *nl = up ? lu : ld;
}

void qtk_kss_round_scalar(const float *t, const float *w, const int8_t *g, const qtk_ks_nearest *nt, uint8_t *q,
                          unsigned *par, uint8_t *alt, float *dx, float *dwx) {
    float gf[16];
    for (int i = 0; i < 16; i++) gf[i] = (float)g[i];
    unsigned bits = 0;
    for (int j = 0; j < 32; j++) {
        int nl;
        q[j] = (uint8_t)qtk_ks_nearest_idx(nt, t[j]);
        bits |= (unsigned)par4[q[j]] << j;
        kss_move(t[j], w[j], gf, q[j], &nl, &dx[j], &dwx[j]);
        alt[j] = (uint8_t)nl;
    }
    *par = bits;
}

int qtk_kss_round_simd(const float *t, const float *w, const int8_t *g, uint8_t *q, unsigned *par, uint8_t *alt,
                       float *dx, float *dwx) {
    const int isa = qtk_isa_pick(QTK_SEARCH_LEVELS);
    (void)isa;
#if defined(QTK_HAVE_AVX512)
    if (isa == QTK_ISA_AVX512) {
        qtk_kss_round_avx512(t, w, g, qtk_kss_opp_dn, qtk_kss_opp_up, q, par, alt, dx, dwx);
        return 1;
    }
#endif
#if defined(QTK_HAVE_AVX2)
    if (isa == QTK_ISA_AVX2) {
        qtk_kss_round_avx2(t, w, g, qtk_kss_opp_dn, qtk_kss_opp_up, q, par, alt, dx, dwx);
        return 1;
    }
#endif
#if defined(QTK_HAVE_NEON)
    if (isa == QTK_ISA_NEON) {
        qtk_kss_round_neon(t, w, g, qtk_kss_opp_dn, qtk_kss_opp_up, q, par, alt, dx, dwx);
        return 1;
    }
#endif
    (void)t, (void)w, (void)g, (void)q, (void)par, (void)alt, (void)dx, (void)dwx;
    return 0;
}

/* Nearest indices of t[0..31] (values in grid units) under the even-parity
 * constraint, minimising Σ w (t - g[q])²; ties between flips go to the
 * smaller unweighted increase (matters for zero-weight entries). */
static void kss_constrained(const float *t, const float *w, const int8_t *g, const qtk_ks_nearest *nt, uint8_t *q) {
    float gf[16];
    for (int i = 0; i < 16; i++) gf[i] = (float)g[i];
    unsigned par = 0;
    /* every weight's cheapest move to the other parity, precomputed by a SIMD twin
     * (the same floats: test_iqk_ks) or computed below for the weights of odd groups
     * only (the scalar path: half the work of qtk_kss_round_scalar) */
    float dxs[32], dws[32];
    uint8_t alt[32];
    const int pre = qtk_kss_round_simd(t, w, g, q, &par, alt, dxs, dws);
    if (!pre)
        for (int j = 0; j < 32; j++) {
            q[j] = (uint8_t)qtk_ks_nearest_idx(nt, t[j]);
            par |= (unsigned)par4[q[j]] << j;
        }
    /* group k = weights 2k, 2k+1, 2k+16, 2k+17: fold the parities */
    const unsigned odd = (par ^ (par >> 1) ^ (par >> 16) ^ (par >> 17)) & 0x5555u;
    for (int k = 0; k < 8; k++) {
        if (!((odd >> (2 * k)) & 1)) continue;
        float bestw = INFINITY, bestu = INFINITY;
        int bj = 2 * k, bl = q[2 * k] ^ 1;
        for (int i = 0; i < 4; i++) {
            const int j = 2 * k + (i & 1) + 16 * (i >> 1);
            float dx, dwx;
            int nl;
            if (pre)
                dx = dxs[j], dwx = dws[j], nl = alt[j];
            else
                kss_move(t[j], w[j], gf, q[j], &nl, &dx, &dwx);
            if (dwx < bestw || (dwx == bestw && dx < bestu)) {
                bestw = dwx;
                bestu = dx;
                bj = j;
                bl = nl;
            }
        }
        q[bj] = (uint8_t)bl;
    }
}

/* Unconstrained sums of nearest indices of +id·x and -id·x (as IQ4_KS). */
typedef struct {
    float f;  /* sumqx²/sumq2 */
    float id; /* signed inverse scale: indices are nearest(id·x) */
    int g;    /* grid 0 base, 1 shifted */
} kss_cand;

static void kss_keep(kss_cand *top, float sqx, float sq2, float id, int g) {
    if (!(sq2 > 0)) return;
    const float f = sqx * sqx / sq2;
    if (!(f > top[KSS_TOPK - 1].f)) return;
    int i = KSS_TOPK - 1;
    while (i > 0 && top[i - 1].f < f) {
        top[i] = top[i - 1];
        i--;
    }
    top[i].f = f;
    top[i].id = id;
    top[i].g = g;
}

/* Signed float scale of one sub-block, best by sumqx²/sumq2 with the parity constraint. */
static float kss_search(const float *x, const float *w, const qtk_ks_nearest nt[2]) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax < 1e-30f) return 0.0f;
    kss_cand top[KSS_TOPK];
    for (int i = 0; i < KSS_TOPK; i++) top[i].f = 0.0f, top[i].id = 0.0f, top[i].g = 0;
    /* trial 0: the largest |x| at the base grid's low end; then k = −7 … 7 on each grid */
    float id[QTK_KS_LANES], out[4 * QTK_KS_LANES];
    int gl[QTK_KS_LANES], nt_ = 0;
    id[nt_] = -(float)qtk_iq4nl_values[0] / max;
    gl[nt_++] = 0;
    for (int k = -7; k <= 7; k++)
        for (int g = 0; g < 2; g++) {
            id[nt_] = ((float)k + (float)qtk_iq4nl_values[16 * g]) / max;
            gl[nt_++] = g;
        }
    qtk_ks_trials(x, w, 32, qtk_iq4nl_values, 16, nt_, id, gl, out);
    for (int t = 0; t < nt_; t++) { /* in the order the trials were rated one by one */
        kss_keep(top, out[t], out[QTK_KS_LANES + t], id[t], gl[t]);
        kss_keep(top, out[2 * QTK_KS_LANES + t], out[3 * QTK_KS_LANES + t], -id[t], gl[t]);
    }
    float d = 0.0f, best = 0.0f, t[32];
    uint8_t q[32];
    for (int c = 0; c < KSS_TOPK; c++) {
        /* the constraint only lowers F (nearly always), so a candidate whose
         * unconstrained F is already below the best constrained one is done */
        if (!(top[c].f > 0) || top[c].f <= best) break;
        const int8_t *grid = qtk_iq4nl_values + 16 * top[c].g;
        for (int j = 0; j < 32; j++) t[j] = top[c].id * x[j];
        kss_constrained(t, w, grid, &nt[top[c].g], q);
        float sqx = 0, sq2 = 0;
        for (int j = 0; j < 32; j++) {
            const float v = (float)grid[q[j]];
            sqx += w[j] * v * x[j];
            sq2 += w[j] * v * v;
        }
        if (sq2 > 0 && sqx * sqx > best * sq2) {
            d = sqx / sq2;
            best = d * sqx;
        }
    }
    return d;
}

/* Constrained indices of one sub-block at effective scale dl; returns the
 * quantizer-weighted error, *em the metric-weighted one. */
static float kss_eval(const float *x, const float *w, const float *mw, int g, const qtk_ks_nearest nt[2], float dl,
                      uint8_t *q, float *em) {
    const int8_t *grid = qtk_iq4nl_values + 16 * g;
    const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
    float t[32];
    for (int j = 0; j < 32; j++) t[j] = idl * x[j];
    kss_constrained(t, w, grid, &nt[g], q);
    float e = 0.0f, m = 0.0f;
    for (int j = 0; j < 32; j++) {
        const float diff = x[j] - dl * (float)grid[q[j]];
        e += w[j] * diff * diff;
        m += mw[j] * diff * diff;
    }
    *em = m;
    return e;
}

/* Least-squares row scale, accepted only if the metric error does not rise. */
static float kss_refit(const float *x, const float *w, const float *mw, int nsb, const int *S, const uint8_t *sh,
                       const uint8_t *q, float d, int guard) {
    double sqx = 0, sq2 = 0, mxx = 0, mqx = 0, mq2 = 0;
    for (int ib = 0; ib < nsb; ib++) {
        const int8_t *g = qtk_iq4nl_values + 16 * sh[ib];
        for (int j = 0; j < 32; j++) {
            const int k = 32 * ib + j;
            const double v = (double)S[ib] * g[q[k]];
            sqx += (double)w[k] * v * x[k];
            sq2 += (double)w[k] * v * v;
            mxx += (double)mw[k] * x[k] * x[k];
            mqx += (double)mw[k] * v * x[k];
            mq2 += (double)mw[k] * v * v;
        }
    }
    if (!(sq2 > 0)) return d;
    const double dn = sqx / sq2;
    if (!guard) return (float)dn;
    const double m_old = mxx - 2 * d * mqx + (double)d * d * mq2, m_new = mxx - 2 * dn * mqx + dn * dn * mq2;
    return m_new <= m_old ? (float)dn : d;
}

/* Quantizes one normalized row; returns the normalized row scale (fudge included). */
/* fast: the reference's passes alone (effort fast). */
static float kss_quantize_row(const qtk_ks_nearest nt[2], const float *x, const float *w, const float *mw, int n,
                              float *sb, int *S, uint8_t *sh, uint8_t *q, int fast) {
    const int nsb = n / 32;
    float amax_s = 0.0f;
    for (int ib = 0; ib < nsb; ib++) {
        sb[ib] = kss_search(x + 32 * ib, w + 32 * ib, nt);
        amax_s = fmaxf(amax_s, fabsf(sb[ib]));
    }
    if (!(amax_s > 0.0f)) return 0.0f;
    float d = amax_s / 127.0f;
    const float id = 1.0f / d;
    uint8_t qt[32];
    for (int ib = 0; ib < nsb; ib++) {
        int l = qtk_nearest_int(0.5f * (id * sb[ib] + 127.0f));
        l = QTK_MAX(0, QTK_MIN(127, l));
        S[ib] = 2 * l - 127;
        /* The reference's final pass: base vs shifted grid, both constrained. */
        float m;
        const float e0 = kss_eval(x + 32 * ib, w + 32 * ib, mw + 32 * ib, 0, nt, d * (float)S[ib], q + 32 * ib, &m);
        const float e1 = kss_eval(x + 32 * ib, w + 32 * ib, mw + 32 * ib, 1, nt, d * (float)S[ib], qt, &m);
        sh[ib] = e1 < e0;
        if (sh[ib]) memcpy(q + 32 * ib, qt, 32);
    }
    d = kss_refit(x, w, mw, nsb, S, sh, q, d, 0);
    if (fast) return 1.01f * d;
    /* Beyond the reference: re-pick codes (±1 step) and grids where that lowers
     * the quantizer error without raising the metric error, then refit. */
    double prev = INFINITY;
    for (int it = 0; it < KSS_ITERS; it++) {
        double total = 0;
        for (int ib = 0; ib < nsb; ib++) {
            const float *xb = x + 32 * ib, *wb = w + 32 * ib, *mb = mw + 32 * ib;
            float m0, m;
            float beste = kss_eval(xb, wb, mb, sh[ib], nt, d * (float)S[ib], q + 32 * ib, &m0);
            int bestS = S[ib], bestg = sh[ib];
            for (int s = S[ib] - 2; s <= S[ib] + 2; s += 2) {
                if (s < -127 || s > 127) continue;
                for (int g = 0; g < 2; g++) {
                    /* neighbouring codes on the current grid, the other grid at the current code */
                    if ((s == S[ib]) == (g == sh[ib])) continue;
                    const float e = kss_eval(xb, wb, mb, g, nt, d * (float)s, qt, &m);
                    if (e < beste && m <= m0) {
                        beste = e;
                        bestS = s;
                        bestg = g;
                        memcpy(q + 32 * ib, qt, 32);
                    }
                }
            }
            S[ib] = bestS;
            sh[ib] = (uint8_t)bestg;
            total += beste;
        }
        d = kss_refit(x, w, mw, nsb, S, sh, q, d, 1);
        if (!(total < prev * (1.0 - 1e-6))) break;
        prev = total;
    }
    return 1.01f * d;
}

/* 15-bit prefix XOR of an even-parity group v: the j with j ^ (j << 1) == v. */
static uint16_t kss_encode_group(uint16_t v) {
    uint32_t j = v;
    j ^= j << 1;
    j ^= j << 2;
    j ^= j << 4;
    j ^= j << 8;
    return (uint16_t)(j & 0x7FFF);
}

static void kss_pack(uint8_t *blocks, int nsb, const int *S, const uint8_t *sh, const uint8_t *q) {
    for (int ib = 0; ib < nsb; ib++) {
        uint8_t *b = blocks + (size_t)(ib / 8) * 128 + 16 * (ib % 8);
        const uint8_t *qb = q + 32 * ib;
        const int sbyte = (S[ib] + 127) | sh[ib];
        for (int k = 0; k < 8; k++) {
            const uint16_t v = (uint16_t)(qb[2 * k] | (qb[2 * k + 16] << 4) | (qb[2 * k + 1] << 8) | (qb[2 * k + 17] << 12));
            const uint16_t word = (uint16_t)((kss_encode_group(v) << 1) | ((sbyte >> k) & 1));
            b[2 * k] = (uint8_t)(word & 0xFF);
            b[2 * k + 1] = (uint8_t)(word >> 8);
        }
    }
}

size_t qtk_iq4_kss_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                   int effort) {
    const int fast = effort == QTK_EFFORT_FAST;
    const int nsb = (int)(n / 32);
    const size_t row_size = 4 + (size_t)(n / QK_K) * 128;
    float *xn = (float *)malloc(sizeof(float) * ((size_t)n * 3 + (size_t)nsb));
    int *S = (int *)malloc(sizeof(int) * (size_t)nsb);
    uint8_t *buf = (uint8_t *)malloc((size_t)n + (size_t)nsb);
    if (!xn || !S || !buf) {
        free(xn);
        free(S);
        free(buf);
        return 0;
    }
    float *w = xn + n, *mw = w + n, *sb = mw + n;
    uint8_t *q = buf, *sh = buf + n;
    qtk_ks_metric_weights(imatrix, n, mw);
    qtk_ks_nearest nt[2];
    qtk_ks_nearest_init(&nt[0], qtk_iq4nl_values, 16);
    qtk_ks_nearest_init(&nt[1], qtk_iq4nl_values + 16, 16);
    for (int64_t r = 0; r < nrows; r++) {
        uint8_t *row = (uint8_t *)dst + (size_t)r * row_size;
        /* every level, effort fast too: the σ² floor (see the top of the file; x² gave
         * fast 1.099 of the reference's vectors error, the floor 0.824) */
        const float amax = qtk_ks_prepare_row(src + r * n, imatrix, n, 2.0f, QTK_KS_W_SIGMA_X2, xn, w);
        float d = amax > 0 ? kss_quantize_row(nt, xn, w, mw, (int)n, sb, S, sh, q, fast) * amax : 0.0f;
        /* Rows near FLT_MAX: the 1.01 factor of the reference can push d * scale * code past
         * FLT_MAX, so cap d where the largest decoded magnitude would overflow (never for
         * ordinary rows: the bytes of those are unchanged). */
        if (d != 0.0f && isfinite(d)) {
            double m = 0;
            for (int ib = 0; ib < nsb; ib++) {
                const double sc = fabs((double)((((S[ib] + 127) | sh[ib]) & 0xFE) - 127)) * 127.0;
                if (sc > m) m = sc;
            }
            if (m > 0 && fabs((double)d) * m > 0.999 * FLT_MAX) d = (float)copysign(0.999 * FLT_MAX / m, (double)d);
        }
        memset(row, 0, row_size);
        if (d == 0.0f || !isfinite(d)) continue; /* all-zero words are legal and decode to 0 with d = 0 */
        memcpy(row, &d, 4);
        kss_pack(row + 4, nsb, S, sh, q);
    }
    free(xn);
    free(S);
    free(buf);
    return row_size * (size_t)nrows;
}

size_t qtk_iq4_kss_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq4_kss_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

void qtk_iq4_kss_from_float(const float *src, void *dst, int64_t n) {
    qtk_iq4_kss_quantize(src, dst, 1, n, NULL);
}

/* 64-bit load/store of possibly unaligned bytes (little-endian host, as the
 * block layouts and rd_f32 already assume). */
static uint64_t rd_u64(const uint8_t *b) {
    uint64_t v;
    memcpy(&v, b, 8);
    return v;
}

static void wr_u64(uint8_t *b, uint64_t v) {
    memcpy(b, &v, 8);
}

/* Decodes one super-block (64 words) into IQ4_KS-layout bytes qs[128] and
 * its 8 scale bytes, four words per 64-bit step: with bit 0 of every word
 * cleared, a ^ (a >> 1) cannot leak across word boundaries. */
static void kss_unpack_block(const uint8_t *b, uint8_t *qs, uint8_t *sb) {
    for (int ib = 0; ib < 8; ib++) {
        unsigned sbyte = 0;
        for (int h = 0; h < 2; h++) {
            const uint64_t x = rd_u64(b + 16 * ib + 8 * h);
            const uint64_t a = x & 0xFFFEFFFEFFFEFFFEull;
            wr_u64(qs + 16 * ib + 8 * h, a ^ (a >> 1));
            /* the multiply moves bits 0, 16, 32, 48 to 48..51; every other
             * partial product lands below 48 or above 63, all distinct */
            const uint64_t bits = ((x & 0x0001000100010001ull) * 0x0001000200040008ull) >> 48;
            sbyte |= (unsigned)(bits & 0xF) << (4 * h);
        }
        sb[ib] = (uint8_t)sbyte;
    }
}

void qtk_iq4_kss_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    const float d = rd_f32(p);
    p += 4;
    uint8_t qs[128], sb[8], l[32];
    /* float copy of the grid ((float)g[q] is exact): the lookup loop below is
     * then a byte index load, a float load and a multiply per weight, and the
     * nibble split before it vectorises */
    float gf[32];
    for (int q = 0; q < 32; q++) gf[q] = (float)qtk_iq4nl_values[q];
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 128) {
        kss_unpack_block(p, qs, sb);
        for (int ib = 0; ib < 8; ib++) {
            const float dl = d * (float)((sb[ib] & 0xFE) - 127);
            const float *g = gf + (sb[ib] & 1) * 16;
            const uint8_t *q = qs + 16 * ib;
            float *y = dst + ibl * QK_K + 32 * ib;
            for (int j = 0; j < 16; j++) l[j] = q[j] & 0xF;
            for (int j = 0; j < 16; j++) l[j + 16] = q[j] >> 4;
            for (int j = 0; j < 32; j++) y[j] = dl * g[l[j]];
        }
    }
}

/* The same values as qtk_iq4_kss_to_float: fl(dl · g) with dl its float. */
void qtk_iq4_kss_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *p = (const uint8_t *)row;
    const float dr = rd_f32(p);
    p += 4;
    uint8_t qs[128], sb[8];
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 128) {
        kss_unpack_block(p, qs, sb);
        for (int ib = 0; ib < 8; ib++) {
            d[ibl * 8 + ib] = dr * (float)((sb[ib] & 0xFE) - 127);
            const int8_t *g = qtk_iq4nl_values + (sb[ib] & 1) * 16;
            const uint8_t *qq = qs + 16 * ib;
            int8_t *o = q + ibl * QK_K + 32 * ib;
            for (int j = 0; j < 16; j++) o[j] = g[qq[j] & 0xF];
            for (int j = 0; j < 16; j++) o[j + 16] = g[qq[j] >> 4];
        }
    }
}

void qtk_iq4_kss_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const float d = rd_f32(p);
    p += 4;
    float sumf = 0.0f;
    uint8_t qs[128], sb[8];
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 128) {
        kss_unpack_block(p, qs, sb);
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const int8_t *g = qtk_iq4nl_values + (sb[ib] & 1) * 16;
            const uint8_t *q = qs + 16 * ib;
            const int8_t *a = y[ibl].qs + 32 * ib;
            int32_t sub = 0;
            for (int j = 0; j < 16; j++) sub += g[q[j] & 0xF] * a[j] + g[q[j] >> 4] * a[j + 16];
            isum += ((sb[ib] & 0xFE) - 127) * sub;
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}
