/*
 * legacy1.c — Q4_1, Q5_1 and MXFP4 (legacy1.h): decoding, the quantizers and
 * the scalar reference dot products (FORMATS-MAINLINE-IQ §9–§10).
 *
 * Q4_1/Q5_1: w = q·d + m, q ∈ [0, 2^b). The quantizer keeps, per block, the
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
 * MXFP4: w = D(e)·KMX[code]. The reference picks e from max|x| alone; the
 * codes are then the nearest table values. qtk tries e − 1, e and e + 1
 * (never above 252, where the largest codes would decode to ±inf) and keeps
 * the exponent with the smallest E (w = imatrix_j, or 1), so E is never above
 * the reference's (which ignores the imatrix) on any block.
 */
#include "legacy1.h"

#include <math.h>

#define FP16_MAX 65504.0f

const int8_t qtk_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

static uint16_t rd16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void wr16(void *p, uint16_t v) { memcpy(p, &v, 2); }

/* fp16 bits of v clamped into the finite fp16 range. */
static uint16_t to_fp16(float v) {
    if (v > FP16_MAX) v = FP16_MAX;
    if (v < -FP16_MAX) v = -FP16_MAX;
    return qtk_fp32_to_fp16(v);
}

/* ---- Q4_1 / Q5_1 decoding ------------------------------------------------------ */

/* Level q ∈ [0,32) of weight j of a Q5_1 block (qh bit j = fifth bit). */
static inline int q5_1_level(const qtk_block_q5_1 *b, uint32_t qh, int j) {
    const int lo = j < 16 ? (b->qs[j] & 0x0F) : (b->qs[j - 16] >> 4);
    return lo | (int)(((qh >> j) & 1u) << 4);
}

/* w = q·d + m: the product is exact, the addition rounds once (§0.1). */
void qtk_q4_1_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q4_1 *b = (const qtk_block_q4_1 *)row;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = qtk_fp16_to_fp32(rd16(&b[i].d)), m = qtk_fp16_to_fp32(rd16(&b[i].m));
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(b[i].qs[j] & 0x0F) * d + m;
            dst[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

void qtk_q5_1_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q5_1 *b = (const qtk_block_q5_1 *)row;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = qtk_fp16_to_fp32(rd16(&b[i].d)), m = qtk_fp16_to_fp32(rd16(&b[i].m));
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 32; j++) dst[j] = (float)q5_1_level(&b[i], qh, j) * d + m;
    }
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
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; j++) {
        min = x[j] < min ? x[j] : min;
        max = x[j] > max ? x[j] : max;
    }
    const float d = (max - min) / (float)nmax;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (!isfinite(id)) id = 0.0f; /* a subnormal d: fp16 stores 0 anyway */
    c->d = to_fp16(d);
    c->m = to_fp16(min);
    for (int j = 0; j < 32; j++) {
        const int q = (int)((x[j] - min) * id + 0.5f);
        c->L[j] = (uint8_t)(q < 0 ? 0 : q > nmax ? nmax : q);
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
                             size_t bsize, t1_pack_fn pack) {
    uint8_t *out = (uint8_t *)dst;
    double w[32];
    t1_enc c;
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * n;
        double sigma2 = 0.0;
        if (imatrix) {
            for (int64_t j = 0; j < n; j++) sigma2 += (double)x[j] * (double)x[j];
            sigma2 /= (double)n;
        }
        for (int64_t ib = 0; ib < n / 32; ib++, out += bsize) {
            const float *xb = x + ib * 32;
            double wmax = 0.0;
            for (int j = 0; j < 32; j++) {
                w[j] = imatrix ? (double)imatrix[ib * 32 + j] * sqrt(sigma2 + (double)xb[j] * (double)xb[j]) : 1.0;
                wmax = w[j] > wmax ? w[j] : wmax;
            }
            if (wmax > 0.0 && isfinite(wmax)) {
                for (int j = 0; j < 32; j++) w[j] /= wmax;
                t1_block(xb, w, nmax, &c);
            } else {
                t1_rtn(xb, nmax, &c); /* no usable weights: the reference RTN */
            }
            pack(out, &c);
        }
    }
}

size_t qtk_q4_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    t1_quantize_rows(src, dst, nrows, n, imatrix, 15, sizeof(qtk_block_q4_1), pack_q4_1);
    return (size_t)(nrows * n / 32) * sizeof(qtk_block_q4_1);
}

size_t qtk_q5_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    t1_quantize_rows(src, dst, nrows, n, imatrix, 31, sizeof(qtk_block_q5_1), pack_q5_1);
    return (size_t)(nrows * n / 32) * sizeof(qtk_block_q5_1);
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

/* ---- Q4_1 / Q5_1 dot products against Q8_2 ---------------------------------------
 * Per block: the exact integer sum Σ q_x·q_y, then
 *   acc += isum·(d_x·d_y) + sum_y·(m_x·d_y)
 * with sum_y = Σ q_y stored exactly in the Q8_2 block: the result is
 * Σ (q·d + m)·(d_y·q_y). The two terms often nearly cancel (m ≈ −d·q̄), so
 * they are formed and summed in double: d_x·d_y and m_x·d_y are exact in float
 * (fp16 × fp16), their products with the integer sums exact in double, and
 * only the accumulation rounds (at 2^−53), once more at the end to float. */
void qtk_q4_1_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q4_1 *x = (const qtk_block_q4_1 *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / 32; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += (x[i].qs[j] & 0x0F) * y[i].qs[j];
            isum += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        const float dy = qtk_fp16_to_fp32(rd16(&y[i].d));
        int16_t sy;
        memcpy(&sy, &y[i].sum, 2);
        sum += (double)isum * (double)(qtk_fp16_to_fp32(rd16(&x[i].d)) * dy) +
               (double)sy * (double)(qtk_fp16_to_fp32(rd16(&x[i].m)) * dy);
    }
    *s = (float)sum;
}

void qtk_q5_1_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q5_1 *x = (const qtk_block_q5_1 *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / 32; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += q5_1_level(&x[i], qh, j) * y[i].qs[j];
        const float dy = qtk_fp16_to_fp32(rd16(&y[i].d));
        int16_t sy;
        memcpy(&sy, &y[i].sum, 2);
        sum += (double)isum * (double)(qtk_fp16_to_fp32(rd16(&x[i].d)) * dy) +
               (double)sy * (double)(qtk_fp16_to_fp32(rd16(&x[i].m)) * dy);
    }
    *s = (float)sum;
}

/* ---- MXFP4 ------------------------------------------------------------------------ */

/* w = D(e)·KMX[code]: D(e) is a power of two and |KMX| ≤ 12, so this is the
 * exact int8 form (d = D(e), q = KMX[code]). */
void qtk_mxfp4_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *b = (const uint8_t *)row;
    for (int64_t i = 0; i < n / 32; i++, b += sizeof(qtk_block_mxfp4), q += 32) {
        d[i] = qtk_mxfp4_scale(b[0]);
        for (int j = 0; j < 16; j++) {
            q[j] = qtk_kvalues_mxfp4[b[1 + j] & 0x0F];
            q[j + 16] = qtk_kvalues_mxfp4[b[1 + j] >> 4];
        }
    }
}

/* Exact products (±inf for e ≥ 253 and large codes, as the reference). */
void qtk_mxfp4_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *b = (const uint8_t *)row;
    for (int64_t i = 0; i < n / 32; i++, b += sizeof(qtk_block_mxfp4), dst += 32) {
        const float d = qtk_mxfp4_scale(b[0]);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)qtk_kvalues_mxfp4[b[1 + j] & 0x0F];
            dst[j + 16] = d * (float)qtk_kvalues_mxfp4[b[1 + j] >> 4];
        }
    }
}

/* Nearest code of v for scale d (scan upward, strict <: ties to the lower code, as the reference). */
static int mx_code(float v, float d) {
    int best = 0;
    float be = fabsf(v);
    for (int c = 1; c < 16; c++) {
        const float e = fabsf(v - d * (float)qtk_kvalues_mxfp4[c]);
        if (e < be) {
            be = e;
            best = c;
        }
    }
    return best;
}

/* Codes of one block for exponent e into L; returns E = Σ w (x − y)². */
static double mx_encode(const float *x, const float *w, int e, uint8_t *L) {
    const float d = qtk_mxfp4_scale((uint8_t)e);
    double err = 0.0;
    for (int j = 0; j < 32; j++) {
        L[j] = (uint8_t)mx_code(x[j], d);
        const double r = (double)x[j] - (double)(d * (float)qtk_kvalues_mxfp4[L[j]]);
        err += (w ? (double)w[j] : 1.0) * r * r;
    }
    return err;
}

/* The reference's exponent: floor(log2(max|x|)) − 2 + 127, in float; clamped
 * to [0, 252] (below 2^−125 the reference's expression is undefined). */
static int mx_ref_exponent(float amax) {
    if (amax < 0x1p-125f) return 0;
    const int e = (int)(floorf(log2f(amax)) - 2.0f + 127.0f);
    return e < 0 ? 0 : e > 252 ? 252 : e;
}

static void mx_block(const float *x, const float *w, int try_neighbours, qtk_block_mxfp4 *b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    uint8_t L[32], best_L[32];
    int best_e = 0;
    if (amax == 0.0f) {
        memset(best_L, 0, 32);
    } else {
        const int e0 = mx_ref_exponent(amax);
        double best = mx_encode(x, w, e0, best_L);
        best_e = e0;
        for (int k = -1; try_neighbours && k <= 1 && best > 0.0; k += 2) {
            const int e = e0 + k;
            if (e < 0 || e > 252) continue;
            const double err = mx_encode(x, w, e, L);
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

size_t qtk_mxfp4_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    qtk_block_mxfp4 *b = (qtk_block_mxfp4 *)dst;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t ib = 0; ib < n / 32; ib++, b++)
            mx_block(src + r * n + ib * 32, imatrix ? imatrix + ib * 32 : NULL, 1, b);
    return (size_t)(nrows * n / 32) * sizeof(qtk_block_mxfp4);
}

/* The reference quantizer (quantize_row_mxfp4_ref), fast path. */
void qtk_mxfp4_from_float(const float *src, void *dst, int64_t n) {
    qtk_block_mxfp4 *b = (qtk_block_mxfp4 *)dst;
    for (int64_t i = 0; i < n / 32; i++) mx_block(src + i * 32, NULL, 0, &b[i]);
}

/* Reference dot against Q8_0: exact Σ KMX·q_y per block, then isum·(D(e)·d_y). */
void qtk_mxfp4_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / 32; i++, x += sizeof(qtk_block_mxfp4)) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += qtk_kvalues_mxfp4[x[1 + j] & 0x0F] * y[i].qs[j];
            isum += qtk_kvalues_mxfp4[x[1 + j] >> 4] * y[i].qs[j + 16];
        }
        sum += (float)isum * (qtk_mxfp4_scale(x[0]) * qtk_fp16_to_fp32(rd16(&y[i].d)));
    }
    *s = sum;
}
