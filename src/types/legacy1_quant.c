/*
 * legacy1_quant.c — the quantizers of Q4_1, Q5_1 and MXFP4 (legacy1.h; decoding and
 * dot products in legacy1.c), FORMATS-MAINLINE-IQ §9–§10.
 *
 * Q4_1/Q5_1: w = q·d + m, q ∈ [0, 2^b). Effort max (t1_block) keeps, per block, the
 * candidate with the smallest weighted error E = Σ w (x − y)², y decoded
 * exactly as to_float does (fp16 d and m), among
 *   - the reference's own RTN encoding (min/max fit, codes from the float32
 *     scale; quantize_row_q4_1_ref), so E never exceeds the reference's
 *     without an imatrix;
 *   - 41 trial inverse scales (nmax − 1 + 0.05k)/(max − min) (a superset of
 *     make_qkx3_quants' 37, the reference's imatrix search) and nmax − 2
 *     coarse ones s/(max − min), s = 1 … nmax − 2 (a block with one outlier is
 *     best served by few levels: all others at one level), each followed by
 *     up to 4 rounds of: weighted least-squares fit of (d, m) to the codes
 *     (m free in sign: Q4_1/Q5_1 store it as signed fp16, unlike the k-quants'
 *     mins), rounding d to fp16, refitting m for that d, rounding m to fp16 and
 *     re-rounding every code to the nearest level for the stored (d, m).
 * w = 1 without an imatrix, imatrix_j·sqrt(σ² + x_j²) with one (σ² = Σx²/n over
 * the row, METHODS §1.2), as the reference's imatrix path.
 *
 * Effort fast and default: below (t1_ref_weighted, t1_block_default).
 *
 * MXFP4: w = D(e)·KMX[code]. The reference picks e from max|x| alone; the
 * codes are then the nearest table values (effort fast). qtk tries e − 1, e and e + 1
 * (never above 252, where the largest codes would decode to ±inf) and keeps
 * the exponent with the smallest E (w = imatrix_j, or 1), so E is never above
 * the reference's (which ignores the imatrix) on any block.
 */
#include "legacy1.h"

#include <math.h>

#if defined(__clang__)
/* The searches must compute every float as written (no FMA contraction): their
 * AVX2 copy (legacy1_quant_avx2.c) must give the baseline's bytes. */
#pragma STDC FP_CONTRACT OFF
#endif

#define FP16_MAX 65504.0f

/* The quantizers run legacy1_quant_avx2.c's copy of this file where AVX2 is there and
 * allowed (qtk_set_max_isa): same bytes, wider vectors. */
#if defined(QTK_HAVE_AVX2) && !defined(L1_AVX2_COPY)
#define L1_DISPATCH_AVX2(t, src, dst, nrows, n, imatrix, effort)                                      \
    do {                                                                                           \
        if (qtk_isa_pick((1u << QTK_ISA_SCALAR) | (1u << QTK_ISA_AVX2)) == QTK_ISA_AVX2)          \
            return qtk_##t##_quantize_effort_qavx2(src, dst, nrows, n, imatrix, effort);          \
    } while (0)
#else
#define L1_DISPATCH_AVX2(t, src, dst, nrows, n, imatrix, effort) ((void)0)
#endif

static void wr16(void *p, uint16_t v) { memcpy(p, &v, 2); }

/* fp16 bits of v clamped into the finite fp16 range. */
static uint16_t to_fp16(float v) {
    if (v > FP16_MAX) v = FP16_MAX;
    if (v < -FP16_MAX) v = -FP16_MAX;
    return qtk_fp32_to_fp16(v);
}

/* ---- Q4_1 / Q5_1 encoder -------------------------------------------------------- */

/* One block's encoding: fp16 bits of d and m, levels in [0, nmax]. */
typedef struct {
    uint16_t d, m;
    uint8_t L[32];
} t1_enc;

/* E = Σ w (x − y)² with y decoded as to_float does. */
static double t1_error(const float *x, const double *w, const t1_enc *c) {
    const float d = qtk_fp16_to_fp32(c->d), m = qtk_fp16_to_fp32(c->m);
    double e = 0.0;
    for (int j = 0; j < 32; j++) {
        const float y = (float)c->L[j] * d + m;
        const double r = (double)x[j] - (double)y;
        e += w[j] * r * r;
    }
    return e;
}

/* The reference RTN (quantize_row_q4_1_ref / _q5_1_ref): d = (max − min)/nmax,
 * q = trunc((x − min)/d + 0.5) computed with the float32 d and min. */
static void t1_rtn(const float *x, int nmax, t1_enc *c) {
    /* min and max in 8 lanes (order-free: the input is finite), the serial loop
     * only when one is a zero, whose sign the reference's order decides */
    float lo[8], hi[8];
    for (int k = 0; k < 8; k++) lo[k] = hi[k] = x[k];
    for (int j = 8; j < 32; j += 8)
        for (int k = 0; k < 8; k++) {
            lo[k] = x[j + k] < lo[k] ? x[j + k] : lo[k];
            hi[k] = x[j + k] > hi[k] ? x[j + k] : hi[k];
        }
    float min = lo[0], max = hi[0];
    for (int k = 1; k < 8; k++) {
        min = lo[k] < min ? lo[k] : min;
        max = hi[k] > max ? hi[k] : max;
    }
    if (min == 0.0f || max == 0.0f) {
        min = max = x[0];
        for (int j = 1; j < 32; j++) {
            min = x[j] < min ? x[j] : min;
            max = x[j] > max ? x[j] : max;
        }
    }
    const float d = (max - min) / (float)nmax;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (!isfinite(id)) id = 0.0f; /* a subnormal d: fp16 stores 0 anyway */
    c->d = to_fp16(d);
    c->m = to_fp16(min);
    for (int j = 0; j < 32; j++) {
        int q = (int)((x[j] - min) * id + 0.5f);
        q = q > 0 ? q : 0;
        q = q < nmax ? q : nmax;
        c->L[j] = (uint8_t)q;
    }
}

/* Nearest levels for the stored (d, m). */
static void t1_reround(const float *x, int nmax, t1_enc *c) {
    const float d = qtk_fp16_to_fp32(c->d), m = qtk_fp16_to_fp32(c->m);
    if (!(d > 0.0f)) {
        memset(c->L, 0, 32);
        return;
    }
    const float id = 1.0f / d;
    for (int j = 0; j < 32; j++) {
        float v = (x[j] - m) * id;
        v = v < 0.0f ? 0.0f : v > (float)nmax ? (float)nmax : v;
        c->L[j] = (uint8_t)qtk_nearest_int(v);
    }
}

/* Weighted least-squares (d, m) for the levels in c, rounded to fp16 (m
 * refitted for the rounded d). Returns 0 when the fit is unusable. */
static int t1_fit(const float *x, const double *w, t1_enc *c) {
    double sw = 0, sl = 0, sll = 0, sx = 0, slx = 0;
    for (int j = 0; j < 32; j++) {
        const double l = c->L[j];
        sw += w[j];
        sl += w[j] * l;
        sll += w[j] * l * l;
        sx += w[j] * x[j];
        slx += w[j] * l * x[j];
    }
    if (!(sw > 0.0)) return 0;
    const double det = sw * sll - sl * sl;
    double d = det > 1e-12 * sw * sll ? (sw * slx - sl * sx) / det : 0.0;
    if (!(d >= 0.0) || !isfinite(d)) return 0;
    c->d = to_fp16((float)d);
    const double dq = qtk_fp16_to_fp32(c->d);
    c->m = to_fp16((float)((sx - dq * sl) / sw));
    return 1;
}

#define T1_NSTEP 40
#define T1_RMIN (-1.0f)
#define T1_RDELTA 0.05f
#define T1_ROUNDS 4

static void t1_block(const float *x, const double *w, int nmax, t1_enc *best) {
    t1_rtn(x, nmax, best);
    double best_e = t1_error(x, w, best);
    if (best_e == 0.0) return;
    t1_enc c = *best;
    t1_reround(x, nmax, &c);
    double e = t1_error(x, w, &c);
    if (e < best_e) {
        best_e = e;
        *best = c;
    }
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; j++) {
        min = x[j] < min ? x[j] : min;
        max = x[j] > max ? x[j] : max;
    }
    if (!(max > min)) return;
    /* the fine grid around nmax/(max − min), then coarse ones (1 … nmax − 2 levels
     * across the range): a block with one outlier is best served by few levels */
    for (int k = 0; k <= T1_NSTEP + nmax - 2; k++) {
        const float steps = k <= T1_NSTEP ? (float)nmax + T1_RMIN + T1_RDELTA * (float)k : (float)(k - T1_NSTEP);
        const float iscale = steps / (max - min);
        if (!isfinite(iscale)) continue;
        for (int j = 0; j < 32; j++) {
            float v = (x[j] - min) * iscale;
            v = v < 0.0f ? 0.0f : v > (float)nmax ? (float)nmax : v;
            c.L[j] = (uint8_t)qtk_nearest_int(v);
        }
        for (int round = 0; round < T1_ROUNDS; round++) {
            if (!t1_fit(x, w, &c)) break;
            uint8_t prev[32];
            memcpy(prev, c.L, 32);
            t1_reround(x, nmax, &c);
            e = t1_error(x, w, &c);
            if (e < best_e) {
                best_e = e;
                *best = c;
            }
            if (!memcmp(prev, c.L, 32)) break;
        }
    }
}

/* ---- Q4_1 / Q5_1 effort levels (docs/types.md "Effort levels") -------------------
 * max: t1_block above. fast: the reference's own search — RTN without an imatrix,
 * with one make_qkx3_quants' 37 trial scales, each with a weighted least-squares
 * (scale, offset ≤ 0) fit, the lowest error in float kept (t1_ref_weighted; the
 * reference's greedy ±1 refinement after it is not reproduced). default
 * (t1_block_default): Lloyd rounds — least-squares d and m for the codes, both
 * rounded to fp16, codes re-rounded for them — from the reference's RTN codes, and
 * with an imatrix also from a few trial scales, while the error goes down. All sums
 * are 8-lane float partial sums in loops the compiler vectorises (~0.3× RTN's speed
 * without an imatrix, ~100× max's). */
#define T1_DEFAULT_ROUNDS 2  /* Lloyd rounds from the best start */
#define T1_DEFAULT_TRIES 5   /* imatrix: fine trial scales (nmax − 0.9 + 0.4k)/(max − min) */
#define T1_DEFAULT_STEP 0.4f
#define T1_DEFAULT_COARSE 8  /* imatrix: coarse ones, nmax·k/9 levels across the range */
#define T1_TRY_ROUNDS 4      /* imatrix: Lloyd rounds per trial scale */

#define T1_L 8 /* partial-sum lanes: fixed, so the bytes do not depend on the ISA */

static const float t1_ones[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

static double t1_sum8(const float *acc) {
    return (double)(((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])));
}

/* Σ a·b over a block, 8 float partial sums added in a fixed tree. */
static inline double t1_dot8(const float *a, const float *b) {
    float acc[T1_L] = {0};
    for (int j = 0; j < 32; j += T1_L)
        for (int k = 0; k < T1_L; k++) acc[k] += a[j + k] * b[j + k];
    return t1_sum8(acc);
}

/* The sums of a block that do not depend on the levels: Σw, Σwx, Σwx². */
typedef struct {
    double sw, sx, sxx;
} t1_moments;

static void t1_moments8(const float *x, const float *w, t1_moments *k) {
    float wx[32];
    for (int j = 0; j < 32; j++) wx[j] = w[j] * x[j];
    k->sw = t1_dot8(w, t1_ones);
    k->sx = t1_dot8(wx, t1_ones);
    k->sxx = t1_dot8(wx, x);
}

/* Levels of every weight for the affine map l = (x − m)·is, rounded half to even
 * (the 1.5·2^23 trick) and clamped to [0, nmax], and their sums Σwl, Σwl², Σwlx
 * in the same pass (s[0..2]). */
static void t1_levels8(const float *x, const float *w, float m, float is, float nmax, float *l, double s[3]) {
    float wl[32];
    for (int j = 0; j < 32; j++) {
        float v = (x[j] - m) * is;
        v = (v + 12582912.0f) - 12582912.0f;
        v = v > 0.0f ? v : 0.0f;
        v = v < nmax ? v : nmax;
        l[j] = v;
        wl[j] = w[j] * v;
    }
    s[0] = t1_dot8(wl, t1_ones);
    s[1] = t1_dot8(wl, l);
    s[2] = t1_dot8(wl, x);
}

/* E = Σ w (x − l·d − m)² from the sums (no pass over the weights). The float sums
 * carry ~1e-7 of Σwx² in rounding, far below the errors being compared. */
static double t1_err_sums(const t1_moments *k, const double s[3], double d, double m) {
    return k->sxx - 2.0 * d * s[2] - 2.0 * m * k->sx + d * d * s[1] + 2.0 * d * m * s[0] + m * m * k->sw;
}

/* Weighted least-squares (d, m) for levels with sums s, as fp16 bits (m refitted
 * for the rounded d). Returns 0 when the fit is unusable. */
static int t1_fit_sums(const t1_moments *k, const double s[3], uint16_t *d16, uint16_t *m16) {
    const double det = k->sw * s[1] - s[0] * s[0];
    if (!(k->sw > 0.0) || !(det > 1e-12 * k->sw * s[1])) return 0;
    const double dfit = (k->sw * s[2] - s[0] * k->sx) / det;
    if (!(dfit > 0.0) || !isfinite(dfit)) return 0;
    *d16 = to_fp16((float)dfit);
    const float d = qtk_fp16_to_fp32(*d16);
    if (!(d > 0.0f)) return 0;
    *m16 = to_fp16((float)((k->sx - (double)d * s[0]) / k->sw));
    return 1;
}

/* One Lloyd round: fit (d, m) to the levels (sums s), re-round l for the stored
 * values (s updated). Returns E, or −1 when the fit is unusable (l, s unchanged). */
static double t1_lloyd8(const float *x, const float *w, const t1_moments *k, int nmax, float *l, double s[3],
                        uint16_t *d16, uint16_t *m16) {
    if (!t1_fit_sums(k, s, d16, m16)) return -1.0;
    const float d = qtk_fp16_to_fp32(*d16), m = qtk_fp16_to_fp32(*m16);
    t1_levels8(x, w, m, 1.0f / d, (float)nmax, l, s);
    return t1_err_sums(k, s, d, m);
}

/* w: the weights (all 1 without an imatrix: exact, and a loop without a branch to
 * vectorise); weighted: an imatrix is in w. */
static void t1_block_default(const float *x, const float *w, int weighted, int nmax, t1_enc *best) {
    t1_rtn(x, nmax, best);
    t1_moments k;
    t1_moments8(x, w, &k);
    float l[32], lb[32];
    double s[3], sb[3];
    for (int j = 0; j < 32; j++) lb[j] = (float)best->L[j];
    {
        float wl[32];
        for (int j = 0; j < 32; j++) wl[j] = w[j] * lb[j];
        sb[0] = t1_dot8(wl, t1_ones);
        sb[1] = t1_dot8(wl, lb);
        sb[2] = t1_dot8(wl, x);
    }
    double be = t1_err_sums(&k, sb, qtk_fp16_to_fp32(best->d), qtk_fp16_to_fp32(best->m));
    uint16_t d16, m16;
    int moved = 0;
    if (weighted) {
        /* with an imatrix the RTN codes are a poor start (1.22 of the reference's
         * error after the rounds): fine and coarse trial scales, each run through
         * Lloyd rounds while its error goes down */
        float mn = x[0], mx = x[0];
        for (int j = 1; j < 32; j++) {
            mn = x[j] < mn ? x[j] : mn;
            mx = x[j] > mx ? x[j] : mx;
        }
        const int ncoarse = T1_DEFAULT_COARSE;
        for (int t = 0; t < T1_DEFAULT_TRIES + ncoarse && mx > mn; t++) {
            const float steps = t < T1_DEFAULT_TRIES ? (float)nmax - 0.9f + T1_DEFAULT_STEP * (float)t
                                                     : (float)nmax * (float)(t - T1_DEFAULT_TRIES + 1) / (float)(ncoarse + 1);
            const float is = steps / (mx - mn);
            if (!isfinite(is)) break;
            t1_levels8(x, w, mn, is, (float)nmax, l, s);
            double prev = -1.0;
            for (int round = 0; round < T1_TRY_ROUNDS; round++) {
                const double e = t1_lloyd8(x, w, &k, nmax, l, s, &d16, &m16);
                if (e < 0.0 || (prev >= 0.0 && !(e < prev))) break;
                prev = e;
                if (e < be) {
                    be = e;
                    best->d = d16;
                    best->m = m16;
                    memcpy(lb, l, sizeof l);
                    memcpy(sb, s, sizeof s);
                    moved = 1;
                }
            }
        }
    }
    memcpy(l, lb, sizeof l);
    memcpy(s, sb, sizeof s);
    for (int round = 0; round < T1_DEFAULT_ROUNDS; round++) {
        const double e = t1_lloyd8(x, w, &k, nmax, l, s, &d16, &m16);
        if (!(e >= 0.0 && e < be)) break;
        be = e;
        best->d = d16;
        best->m = m16;
        memcpy(lb, l, sizeof l);
        moved = 1;
    }
    if (moved)
        for (int j = 0; j < 32; j++) best->L[j] = (uint8_t)lb[j];
}

/* The reference's imatrix search (make_qkx3_quants with rmin −0.9, rdelta 0.05, 36
 * steps; METHODS / FORMATS-MAINLINE-IQ §9.2): start from the min/max RTN (min
 * clamped ≤ 0), then per trial inverse scale the rounded codes' weighted
 * least-squares (scale, offset), the offset clamped ≤ 0; the lowest float error
 * wins and is stored without re-rounding. */
static void t1_ref_weighted(const float *x, const float *w, int nmax, t1_enc *c) {
    float mn = x[0], mx = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int j = 1; j < 32; j++) {
        mn = x[j] < mn ? x[j] : mn;
        mx = x[j] > mx ? x[j] : mx;
        sum_w += w[j];
        sum_x += w[j] * x[j];
    }
    if (mn > 0.0f) mn = 0.0f;
    if (!(mx > mn)) {
        c->d = 0;
        c->m = to_fp16(mn);
        memset(c->L, 0, 32);
        return;
    }
    uint8_t La[32];
    float iscale = (float)nmax / (mx - mn), scale = 1.0f / iscale, best = 0.0f;
    for (int j = 0; j < 32; j++) {
        const int l = qtk_nearest_int(iscale * (x[j] - mn));
        c->L[j] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        const float diff = scale * (float)c->L[j] + mn - x[j];
        best += w[j] * diff * diff;
    }
    for (int is = 0; is <= 36; is++) {
        iscale = (-0.9f + 0.05f * (float)is + (float)nmax) / (mx - mn);
        float sl = 0.0f, sl2 = 0.0f, sxl = 0.0f;
        for (int j = 0; j < 32; j++) {
            const int l = qtk_nearest_int(iscale * (x[j] - mn));
            La[j] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
            sl += w[j] * (float)La[j];
            sl2 += w[j] * (float)La[j] * (float)La[j];
            sxl += w[j] * (float)La[j] * x[j];
        }
        const float D = sum_w * sl2 - sl * sl;
        if (!(D > 0.0f)) continue;
        float this_scale = (sum_w * sxl - sum_x * sl) / D, this_min = (sl2 * sum_x - sl * sxl) / D;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sxl / sl2;
        }
        float e = 0.0f;
        for (int j = 0; j < 32; j++) {
            const float diff = this_scale * (float)La[j] + this_min - x[j];
            e += w[j] * diff * diff;
        }
        if (e < best) {
            memcpy(c->L, La, 32);
            best = e;
            scale = this_scale;
            mn = this_min;
        }
    }
    c->d = to_fp16(scale);
    c->m = to_fp16(mn);
}

typedef void (*t1_pack_fn)(void *blk, const t1_enc *c);

static void pack_q4_1(void *blk, const t1_enc *c) {
    qtk_block_q4_1 *b = (qtk_block_q4_1 *)blk;
    wr16(&b->d, c->d);
    wr16(&b->m, c->m);
    for (int j = 0; j < 16; j++) b->qs[j] = (uint8_t)(c->L[j] | (c->L[j + 16] << 4));
}

static void pack_q5_1(void *blk, const t1_enc *c) {
    qtk_block_q5_1 *b = (qtk_block_q5_1 *)blk;
    wr16(&b->d, c->d);
    wr16(&b->m, c->m);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        b->qs[j] = (uint8_t)((c->L[j] & 0x0F) | ((c->L[j + 16] & 0x0F) << 4));
        qh |= (uint32_t)(c->L[j] >> 4) << j;
        qh |= (uint32_t)(c->L[j + 16] >> 4) << (j + 16);
    }
    memcpy(b->qh, &qh, 4);
}

static void t1_quantize_rows(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix, int nmax,
                             size_t bsize, t1_pack_fn pack, int effort) {
    uint8_t *out = (uint8_t *)dst;
    double w[32];
    float wf[32];
    t1_enc c;
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * n;
        const double sigma2 = imatrix ? qtk_row_mean_sq(x, n) : 0.0;
        for (int64_t ib = 0; ib < n / 32; ib++, out += bsize) {
            const float *xb = x + ib * 32;
            if (effort != QTK_EFFORT_MAX && !imatrix) {
                if (effort == QTK_EFFORT_FAST)
                    t1_rtn(xb, nmax, &c);
                else
                    t1_block_default(xb, t1_ones, 0, nmax, &c);
                pack(out, &c);
                continue;
            }
            double wmax = 0.0;
            for (int j = 0; j < 32; j++) {
                w[j] = imatrix ? (double)imatrix[ib * 32 + j] * sqrt(sigma2 + (double)xb[j] * (double)xb[j]) : 1.0;
                wmax = w[j] > wmax ? w[j] : wmax;
            }
            if (wmax > 0.0 && isfinite(wmax)) {
                for (int j = 0; j < 32; j++) w[j] /= wmax;
                if (effort == QTK_EFFORT_MAX) {
                    t1_block(xb, w, nmax, &c);
                } else {
                    for (int j = 0; j < 32; j++) wf[j] = (float)w[j];
                    if (effort == QTK_EFFORT_FAST)
                        t1_ref_weighted(xb, wf, nmax, &c);
                    else
                        t1_block_default(xb, wf, 1, nmax, &c);
                }
            } else {
                t1_rtn(xb, nmax, &c); /* no usable weights: the reference RTN */
            }
            pack(out, &c);
        }
    }
}

size_t qtk_q4_1_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    L1_DISPATCH_AVX2(q4_1, src, dst, nrows, n, imatrix, effort);
    t1_quantize_rows(src, dst, nrows, n, imatrix, 15, sizeof(qtk_block_q4_1), pack_q4_1, effort);
    return (size_t)(nrows * n / 32) * sizeof(qtk_block_q4_1);
}

size_t qtk_q5_1_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    L1_DISPATCH_AVX2(q5_1, src, dst, nrows, n, imatrix, effort);
    t1_quantize_rows(src, dst, nrows, n, imatrix, 31, sizeof(qtk_block_q5_1), pack_q5_1, effort);
    return (size_t)(nrows * n / 32) * sizeof(qtk_block_q5_1);
}

/* Without an effort level: max (the bytes qtk wrote before levels existed). */
size_t qtk_q4_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q4_1_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

size_t qtk_q5_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q5_1_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

/* The reference RTN, row by row (fast path). */
void qtk_q4_1_from_float(const float *src, void *dst, int64_t n) {
    t1_enc c;
    for (int64_t i = 0; i < n / 32; i++) {
        t1_rtn(src + i * 32, 15, &c);
        pack_q4_1((qtk_block_q4_1 *)dst + i, &c);
    }
}

void qtk_q5_1_from_float(const float *src, void *dst, int64_t n) {
    t1_enc c;
    for (int64_t i = 0; i < n / 32; i++) {
        t1_rtn(src + i * 32, 31, &c);
        pack_q5_1((qtk_block_q5_1 *)dst + i, &c);
    }
}

/* ---- MXFP4 ------------------------------------------------------------------------ */

/* Codes of one block for exponent e into L; returns E = Σ w (x − y)². The reference
 * scans the 16 codes upward with a strict < (ties to the lower code). The same
 * choice from the 8 magnitudes of |x|: a negative code never beats code 0 for x ≥ 0
 * (|x + v| ≥ |x|, and −0 loses the tie to 0), a positive one never beats code 0 for
 * x < 0, and |x + v| = ||x| − v| exactly (rounding is symmetric); lower magnitudes
 * come first either way. The weights are the lanes of loops the compiler vectorises. */
static double mx_encode(const float *x, const float *w, int e, int want_err, uint8_t *L) {
    const float d = qtk_mxfp4_scale((uint8_t)e);
    float ax[32], be[32], bm[32], bv[32];
    for (int j = 0; j < 32; j++) {
        ax[j] = fabsf(x[j]);
        be[j] = ax[j];
        bm[j] = 0.0f;
        bv[j] = 0.0f;
    }
    for (int c = 1; c < 8; c++) {
        const float v = d * (float)qtk_kvalues_mxfp4[c], cf = (float)c;
        for (int j = 0; j < 32; j++) {
            /* loads, selects, then stores: the form gcc if-converts into vector blends */
            const float ej = fabsf(ax[j] - v), bj = be[j], mj = bm[j], vj = bv[j];
            const float nm = ej < bj ? cf : mj, nb = ej < bj ? ej : bj, nv = ej < bj ? v : vj;
            bm[j] = nm;
            be[j] = nb;
            bv[j] = nv;
        }
    }
    float code[32];
    for (int j = 0; j < 32; j++) {
        const float neg = x[j] < 0.0f && bm[j] > 0.0f ? 8.0f : 0.0f; /* codes 9…15: −1…−12 */
        code[j] = bm[j] + neg;
    }
    for (int j = 0; j < 32; j++) L[j] = (uint8_t)(int)code[j];
    if (!want_err) return 0.0;
    /* E in double, 4 partial sums (fixed order: the same on every ISA); the decoded
     * value d·KMX[code] is ±v, exactly */
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    for (int j = 0; j < 32; j += 4)
        for (int k = 0; k < 4; k++) {
            const float y = x[j + k] < 0.0f ? -bv[j + k] : bv[j + k];
            const double r = (double)x[j + k] - (double)y;
            acc[k] += (double)w[j + k] * r * r;
        }
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}

/* The reference's exponent: floor(log2(max|x|)) − 2 + 127, in float; clamped
 * to [0, 252] (below 2^−125 the reference's expression is undefined). */
static int mx_ref_exponent(float amax) {
    if (amax < 0x1p-125f) return 0;
    const int e = (int)(floorf(log2f(amax)) - 2.0f + 127.0f);
    return e < 0 ? 0 : e > 252 ? 252 : e;
}

static void mx_block(const float *x, const float *w, int try_neighbours, qtk_block_mxfp4 *b) {
    const float amax = qtk_amax8(x, 32); /* the input is finite: the order does not matter */
    uint8_t L[32], best_L[32];
    if (!w) w = t1_ones;
    int best_e = 0;
    if (amax == 0.0f) {
        memset(best_L, 0, 32);
    } else {
        const int e0 = mx_ref_exponent(amax);
        double best = mx_encode(x, w, e0, try_neighbours, best_L);
        best_e = e0;
        for (int k = -1; try_neighbours && k <= 1 && best > 0.0; k += 2) { /* fast: no E needed */
            const int e = e0 + k;
            if (e < 0 || e > 252) continue;
            const double err = mx_encode(x, w, e, 1, L);
            if (err < best) {
                best = err;
                best_e = e;
                memcpy(best_L, L, 32);
            }
        }
    }
    b->e = (uint8_t)best_e;
    for (int j = 0; j < 16; j++) b->qs[j] = (uint8_t)(best_L[j] | (best_L[j + 16] << 4));
}

/* fast: the reference's exponent alone; default and max: the best of e − 1, e, e + 1. */
size_t qtk_mxfp4_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort) {
    L1_DISPATCH_AVX2(mxfp4, src, dst, nrows, n, imatrix, effort);
    qtk_block_mxfp4 *b = (qtk_block_mxfp4 *)dst;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t ib = 0; ib < n / 32; ib++, b++)
            mx_block(src + r * n + ib * 32, imatrix ? imatrix + ib * 32 : NULL, effort != QTK_EFFORT_FAST, b);
    return (size_t)(nrows * n / 32) * sizeof(qtk_block_mxfp4);
}

size_t qtk_mxfp4_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_mxfp4_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

/* The reference quantizer (quantize_row_mxfp4_ref), fast path. */
void qtk_mxfp4_from_float(const float *src, void *dst, int64_t n) {
    qtk_block_mxfp4 *b = (qtk_block_mxfp4 *)dst;
    for (int64_t i = 0; i < n / 32; i++) mx_block(src + i * 32, NULL, 0, &b[i]);
}

/* Reference dot against Q8_0: exact Σ KMX·q_y per block, then isum·(D(e)·d_y). */
