/*
 * legacy.c — the 32-weight block types Q4_0, Q5_0, Q6_0 and Q8_0 (scalar
 * reference kernels and the quantizers). Q8_0 doubles as the activation
 * format for every 32-block weight type.
 * SIMD dot products: legacy_avx2.c, legacy_avx512.c, legacy_neon.c.
 *
 * Q4_0/Q5_0/Q6_0 are the same scheme with 2·nmax levels (nmax = 8, 16, 32):
 * weight = d·(q − nmax), q ∈ [0, 2·nmax). They share one encoder here and
 * differ only in how q is packed into the block.
 */
#include "types_internal.h"

#include <math.h>

/* Largest finite fp16 value: scales beyond it are clamped so that decoding
 * huge-but-finite input never yields Inf (the reference would store Inf). */
#define FP16_MAX 65504.0f

static uint16_t rd16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* fp16 bits of a block scale, clamped into the finite fp16 range. */
static uint16_t scale_to_fp16(float d) {
    if (d > FP16_MAX) d = FP16_MAX;
    if (d < -FP16_MAX) d = -FP16_MAX;
    return qtk_fp32_to_fp16(d);
}

static void wr16(void *p, uint16_t v) { memcpy(p, &v, 2); }

/* ---- Q8_0 ------------------------------------------------------------------ */

/* Decodes a row through the type's int8 form: w = d·q, one block at a time
 * (the float product is the reference's (float)q·d, bit for bit). */
static void int8_to_float(qtk_to_int8_fn unpack, size_t block_bytes, const void *row, float *dst, int64_t n) {
    int8_t q[32];
    float d;
    for (int64_t i = 0; i < n / 32; i++) {
        unpack((const uint8_t *)row + (size_t)i * block_bytes, 32, &d, q);
        for (int j = 0; j < 32; j++) dst[i * 32 + j] = (float)q[j] * d;
    }
}

/* w = d·qs (FORMATS §2). */
void qtk_q8_0_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const qtk_block_q8_0 *b = (const qtk_block_q8_0 *)row;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        d[i] = qtk_fp16_to_fp32(rd16(&b[i].d));
        memcpy(q + i * QK8_0, b[i].qs, QK8_0);
    }
}

void qtk_q8_0_to_float(const void *row, float *dst, int64_t n) {
    int8_to_float(qtk_q8_0_to_int8, sizeof(qtk_block_q8_0), row, dst, n);
}

/* Round-to-nearest with d = amax/127, as the reference (the imatrix is ignored).
 * A denormal amax would make 1/d overflow, so such blocks become all-zero
 * (their fp16 scale is 0 anyway). */
/* roundf(v) (halves away from zero) for |v| < 2^23 without a libm call, so
 * the loop below vectorises (it converts every batch's activations of the
 * 32-block types): t = trunc(v), v - t is exact. NaN gives 0. */
static inline int8_t round_half_away_i8(float v) {
    v = v == v ? v : 0.0f;
    const int t = (int)v;
    const float f = v - (float)t;
    return (int8_t)(t + (f >= 0.5f) - (f <= -0.5f));
}

void qtk_q8_0_from_float(const float *src, void *dst, int64_t n) {
    qtk_block_q8_0 *b = (qtk_block_q8_0 *)dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *x = src + i * QK8_0;
        const float amax = qtk_amax8(x, QK8_0);
        const float d = amax / 127.0f;
        float id = d ? 1.0f / d : 0.0f;
        if (!isfinite(id)) id = 0.0f;
        wr16(&b[i].d, scale_to_fp16(d));
        int8_t q[QK8_0];
        for (int j = 0; j < QK8_0; j++) q[j] = round_half_away_i8(x[j] * id);
        memcpy(b[i].qs, q, QK8_0);
    }
}

/* RTN row by row; the imatrix cannot help an 8-bit grid and is ignored, as in the reference. */
size_t qtk_q8_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    (void)imatrix;
    qtk_q8_0_from_float(src, dst, nrows * n);
    return (size_t)(nrows * n / QK8_0) * sizeof(qtk_block_q8_0);
}

/* Reference dot: exact int32 sum per block, then Σ isum·(dx·dy) in float. */
void qtk_q8_0_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q8_0 *x = (const qtk_block_q8_0 *)vx, *y = (const qtk_block_q8_0 *)vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += x[i].qs[j] * y[i].qs[j];
        sum += (float)isum * (qtk_fp16_to_fp32(rd16(&x[i].d)) * qtk_fp16_to_fp32(rd16(&y[i].d)));
    }
    *s = sum;
}

/* ---- shared encoder of Q4_0 / Q5_0 / Q6_0 ----------------------------------- */

/* Reference RTN of one 32-block: d = max/−nmax with max the signed largest-
 * magnitude value, L = min(2·nmax−1, trunc(x/d + nmax + 0.5)). Returns d. */
static float rtn_block(const float *x, int nmax, uint8_t *L) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / (float)-nmax;
    float id = d ? 1.0f / d : 0.0f;
    if (!isfinite(id)) id = 0.0f; /* denormal d: fp16 stores 0 anyway */
    const float off = (float)nmax + 0.5f;
    for (int j = 0; j < 32; j++) {
        int q = (int)(x[j] * id + off);
        L[j] = (uint8_t)QTK_MAX(0, QTK_MIN(2 * nmax - 1, q));
    }
    return d;
}

/* Quantizes v*iscale to a level in [0, 2·nmax) (stored offset by nmax). */
static int level_of(float v, int nmax) {
    int l = qtk_nearest_int(v);
    l = QTK_MAX(-nmax, QTK_MIN(nmax - 1, l));
    return l + nmax;
}

/* Σw·x·q and Σw·q² of every candidate inverse scale at once (q = level − nmax of
 * is[c]·x): the candidates are the lanes of loops the compiler vectorises, each
 * adding in j order with the expressions of a one-by-one loop — the same doubles.
 * The level is level_of's: round half to even (the 1.5·2^23 trick, in float), clamp. */
#define QX_CANDS 38
#define QX_LANES 40
static void qx_candidate_sums(const float *x, const double *w, int nmax, const float *is, double *num, double *den) {
    const float lo = (float)-nmax, hi = (float)(nmax - 1);
    for (int c = 0; c < QX_LANES; c++) num[c] = den[c] = 0.0;
    for (int j = 0; j < 32; j++) {
        const float xj = x[j];
        const double wj = w[j], wx = wj * (double)xj;
        float qf[QX_LANES];
        for (int c = 0; c < QX_LANES; c++) {
            float v = is[c] * xj;
            v = (v + 12582912.0f) - 12582912.0f;
            v = v > lo ? v : lo;
            qf[c] = v < hi ? v : hi;
        }
        for (int c = 0; c < QX_LANES; c++) {
            const double q = (double)qf[c];
            num[c] += wx * q;
            den[c] += wj * q * q;
        }
    }
}

/* The reference's refinement (METHODS §2, effort fast): move the quant whose error
 * gradient d·w_j·(x_j − d·q_j) is largest in magnitude one step along it (among the moves
 * that stay in range), while F = num²/den rises; stop at the first move that does not
 * raise it. Returns d = num/den. */
static float ref_greedy(const float *x, const double *w, int nmax, uint8_t *L, double num, double den) {
    for (int iter = 0; iter < 4 * 32; iter++) {
        const double d = num / den;
        double bg = 0.0;
        int bj = -1, bstep = 0;
        for (int j = 0; j < 32; j++) {
            const int q = L[j] - nmax;
            const double g = d * w[j] * ((double)x[j] - d * q);
            const int step = g > 0.0 ? 1 : -1;
            if (q + step < -nmax || q + step > nmax - 1) continue;
            if (fabs(g) > bg) {
                bg = fabs(g);
                bj = j;
                bstep = step;
            }
        }
        if (bj < 0) break;
        const int q = L[bj] - nmax;
        const double n2 = num + w[bj] * (double)x[bj] * bstep, d2 = den + w[bj] * (double)(2 * q * bstep + 1);
        if (!(d2 > 0.0) || !(n2 * n2 * den > num * num * d2)) break;
        L[bj] = (uint8_t)(L[bj] + bstep);
        num = n2;
        den = d2;
    }
    return (float)(num / den);
}

/* Weighted least-squares encoder of one 32-block (METHODS §2, make_qx_quants
 * style): pick the inverse scale with the largest F = (Σwxq)²/Σwq² among the
 * 38 inverse scales around the RTN one on both signs, then polish with single-quant
 * moves, each time taking the move that raises F most (best improvement,
 * which never ends below the reference's largest-gradient greedy step), until
 * no move helps (fast: the reference's greedy instead, ref_greedy). Sums are in
 * double so huge x or weights cannot overflow.
 * Returns d = Σwxq/Σwq² (0 when the block or its weights vanish). */
static float wls_block(const float *x, const double *w, int nmax, uint8_t *L, int fast) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax < 1e-15f) {
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)nmax;
        return 0.0f;
    }
    /* candidate c: 0..18 → −(nmax + 0.1k)/max, 19..37 → (nmax − 1 + 0.1k)/max, k = c mod 19 − 9 */
    float is[QX_LANES];
    for (int c = 0; c < QX_LANES; c++) {
        const float k = 0.1f * (float)(c % 19 - 9);
        is[c] = c >= QX_CANDS ? 0.0f : c < 19 ? -((float)nmax + k) / max : ((float)(nmax - 1) + k) / max;
    }
    double cnum[QX_LANES], cden[QX_LANES];
    qx_candidate_sums(x, w, nmax, is, cnum, cden);
    double best_num = 0.0, best_den = 0.0; /* best F = num²/den */
    int have = 0, bc = 0;
    for (int c = 0; c < QX_CANDS; c++) {
        const double num = cnum[c], den = cden[c];
        if (den > 0.0 && (!have || num * num * best_den > best_num * best_num * den)) {
            best_num = num;
            best_den = den;
            bc = c;
            have = 1;
        }
    }
    for (int j = 0; have && j < 32; j++) L[j] = (uint8_t)level_of(is[bc] * x[j], nmax);
    if (!have) return 0.0f; /* all weights zero: caller falls back to RTN */

    double num = best_num, den = best_den;
    if (fast) return ref_greedy(x, w, nmax, L, num, den);
    for (int iter = 0; iter < 4 * 32; iter++) {
        double bf = num * num / den;
        int bj = -1, bstep = 0;
        double bnum = 0.0, bden = 0.0;
        for (int j = 0; j < 32; j++) {
            if (w[j] <= 0.0) continue;
            const int q = L[j] - nmax;
            for (int step = -1; step <= 1; step += 2) {
                if (q + step < -nmax || q + step > nmax - 1) continue;
                double n2 = num + w[j] * (double)x[j] * step;
                double d2 = den + w[j] * (double)(2 * q * step + 1);
                if (d2 <= 0.0) continue;
                double f = n2 * n2 / d2;
                if (f > bf) {
                    bf = f;
                    bj = j;
                    bstep = step;
                    bnum = n2;
                    bden = d2;
                }
            }
        }
        if (bj < 0 || bf <= num * num / den * (1.0 + 1e-12)) break;
        L[bj] = (uint8_t)(L[bj] + bstep);
        num = bnum;
        den = bden;
    }
    return (float)(num / den);
}

/* Error Σ m·(x − d·(L − nmax))² of a block with d as stored (fp16); m = NULL: 1. */
static double block_err(const float *x, const float *m, int nmax, float d, const uint8_t *L) {
    const double ds = (double)qtk_fp16_to_fp32(scale_to_fp16(d));
    double e = 0.0;
    for (int j = 0; j < 32; j++) {
        const double r = (double)x[j] - ds * (double)(L[j] - nmax);
        e += (m ? (double)m[j] : 1.0) * r * r;
    }
    return e;
}

/* The weighted search optimises F under its search weights w, but what is judged is
 * the error under the metric weights m (the imatrix, or 1): on outlier-heavy blocks
 * the best-F encoding is not always the best one there (issue #17: Q6_0 without an
 * imatrix, w = x², came out above the reference's error; tests/test_robust.c). So it
 * competes with the reference's RTN, each judged by its error with the stored scale;
 * RTN must be strictly better to win. (The reference's own largest-gradient greedy as
 * a third candidate changed no error by more than 0.03 % there and was dropped.)
 * Returns the chosen d (L updated). */
static float pick_candidate(const float *x, const float *m, int nmax, float d, uint8_t *L) {
    uint8_t Lt[32];
    const float dt = rtn_block(x, nmax, Lt);
    if (block_err(x, m, nmax, dt, Lt) < block_err(x, m, nmax, d, L)) {
        memcpy(L, Lt, 32);
        return dt;
    }
    return d;
}

/* Row encoder shared by Q4_0/Q5_0/Q6_0. With an imatrix: the weighted
 * encoder with w_j = imatrix_j·sqrt(σ² + x_j²), σ² = Σx²/n over the row
 * (METHODS §1.2). Without: the reference RTN, except where
 * `x2_without_imatrix` is set (Q6_0): the reference vectors show ik's Q6_0
 * runs the weighted search with w = x² there, and plain RTN would lose up to
 * 20 % in error against it. `pack` writes one block from (d, L). */
typedef void (*pack_fn)(void *blk, float d, const uint8_t *L);

static void quantize_qx_rows(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                             int nmax, size_t bsize, pack_fn pack, int x2_without_imatrix, int effort) {
    const int fast = effort == QTK_EFFORT_FAST;
    uint8_t L[32];
    double w[32];
    uint8_t *out = (uint8_t *)dst;
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * n;
        const double sigma2 = imatrix ? qtk_row_mean_sq(x, n) : 0.0;
        for (int64_t ib = 0; ib < n / 32; ib++) {
            const float *xb = x + ib * 32;
            float d;
            int done = 0;
            if (imatrix || x2_without_imatrix) {
                double wmax = 0.0;
                for (int j = 0; j < 32; j++) {
                    const double x2 = (double)xb[j] * (double)xb[j];
                    w[j] = imatrix ? (double)imatrix[ib * 32 + j] * sqrt(sigma2 + x2) : x2;
                    if (w[j] > wmax) wmax = w[j];
                }
                if (wmax > 0.0 && isfinite(wmax)) {
                    for (int j = 0; j < 32; j++) w[j] /= wmax;
                    d = wls_block(xb, w, nmax, L, fast);
                    done = d != 0.0f;
                    if (done && !fast) d = pick_candidate(xb, imatrix ? imatrix + ib * 32 : NULL, nmax, d, L);
                    if (!done) {
                        /* a vanishing block is exact with d = 0 */
                        float amax = 0.0f;
                        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
                        done = amax < 1e-15f;
                    }
                }
            }
            if (!done) d = rtn_block(xb, nmax, L);
            pack(out, d, L);
            out += bsize;
        }
    }
}

/* ---- Q4_0 ------------------------------------------------------------------ */

/* w = d·(q − 8); weight j is the low nibble of qs[j], j+16 the high one. */
void qtk_q4_0_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const qtk_block_q4_0 *b = (const qtk_block_q4_0 *)row;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        d[i] = qtk_fp16_to_fp32(rd16(&b[i].d));
        for (int j = 0; j < QK4_0 / 2; j++) {
            q[i * QK4_0 + j] = (int8_t)((b[i].qs[j] & 0x0F) - 8);
            q[i * QK4_0 + j + QK4_0 / 2] = (int8_t)((b[i].qs[j] >> 4) - 8);
        }
    }
}

void qtk_q4_0_to_float(const void *row, float *dst, int64_t n) {
    int8_to_float(qtk_q4_0_to_int8, sizeof(qtk_block_q4_0), row, dst, n);
}

/* Writes a Q4_0 block from scale d and levels L ∈ [0,16). */
static void pack_q4_0(void *blk, float d, const uint8_t *L) {
    qtk_block_q4_0 *b = (qtk_block_q4_0 *)blk;
    wr16(&b->d, scale_to_fp16(d));
    for (int j = 0; j < 16; j++) b->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

/* Reference RTN: d = max/-8 with max the signed largest-magnitude value. */
void qtk_q4_0_from_float(const float *src, void *dst, int64_t n) {
    uint8_t L[32];
    qtk_block_q4_0 *b = (qtk_block_q4_0 *)dst;
    for (int64_t i = 0; i < n / QK4_0; i++) pack_q4_0(&b[i], rtn_block(src + i * QK4_0, 8, L), L);
}

/* RTN without imatrix, the weighted search with one (quantize_qx_rows). */
size_t qtk_q4_0_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                               int effort) {
    quantize_qx_rows(src, dst, nrows, n, imatrix, 8, sizeof(qtk_block_q4_0), pack_q4_0, 0, effort);
    return (size_t)(nrows * n / QK4_0) * sizeof(qtk_block_q4_0);
}

size_t qtk_q4_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q4_0_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

/* Reference dot against Q8_0 activations (same accumulation as Q8_0). */
void qtk_q4_0_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q4_0 *x = (const qtk_block_q4_0 *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            isum += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK4_0 / 2];
        }
        sum += (float)isum * (qtk_fp16_to_fp32(rd16(&x[i].d)) * qtk_fp16_to_fp32(rd16(&y[i].d)));
    }
    *s = sum;
}

/* ---- Q5_0 ------------------------------------------------------------------ */

/* Level q ∈ [0,32) of weight j of a Q5_0 block. */
static inline int q5_0_level(const qtk_block_q5_0 *b, uint32_t qh, int j) {
    const int lo = j < 16 ? (b->qs[j] & 0x0F) : (b->qs[j - 16] >> 4);
    return lo | (int)(((qh >> j) & 1u) << 4);
}

/* w = d·(q − 16) with the fifth bit of weight j in bit j of qh (FORMATS §2). */
void qtk_q5_0_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const qtk_block_q5_0 *b = (const qtk_block_q5_0 *)row;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        d[i] = qtk_fp16_to_fp32(rd16(&b[i].d));
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < QK5_0; j++) q[i * QK5_0 + j] = (int8_t)(q5_0_level(&b[i], qh, j) - 16);
    }
}

void qtk_q5_0_to_float(const void *row, float *dst, int64_t n) {
    int8_to_float(qtk_q5_0_to_int8, sizeof(qtk_block_q5_0), row, dst, n);
}

/* Writes a Q5_0 block from scale d and levels L ∈ [0,32). */
static void pack_q5_0(void *blk, float d, const uint8_t *L) {
    qtk_block_q5_0 *b = (qtk_block_q5_0 *)blk;
    wr16(&b->d, scale_to_fp16(d));
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        b->qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        qh |= (uint32_t)(L[j] >> 4) << j;
        qh |= (uint32_t)(L[j + 16] >> 4) << (j + 16);
    }
    memcpy(b->qh, &qh, 4);
}

/* Reference RTN: d = max/−16, q = min(31, trunc(x/d + 16.5)). */
void qtk_q5_0_from_float(const float *src, void *dst, int64_t n) {
    uint8_t L[32];
    qtk_block_q5_0 *b = (qtk_block_q5_0 *)dst;
    for (int64_t i = 0; i < n / QK5_0; i++) pack_q5_0(&b[i], rtn_block(src + i * QK5_0, 16, L), L);
}

/* RTN without imatrix, the weighted search with one (quantize_qx_rows). */
size_t qtk_q5_0_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                               int effort) {
    quantize_qx_rows(src, dst, nrows, n, imatrix, 16, sizeof(qtk_block_q5_0), pack_q5_0, 0, effort);
    return (size_t)(nrows * n / QK5_0) * sizeof(qtk_block_q5_0);
}

size_t qtk_q5_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q5_0_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

/* Reference dot against Q8_0 activations (same accumulation as Q8_0). */
void qtk_q5_0_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q5_0 *x = (const qtk_block_q5_0 *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int isum = 0;
        for (int j = 0; j < QK5_0; j++) isum += (q5_0_level(&x[i], qh, j) - 16) * y[i].qs[j];
        sum += (float)isum * (qtk_fp16_to_fp32(rd16(&x[i].d)) * qtk_fp16_to_fp32(rd16(&y[i].d)));
    }
    *s = sum;
}

/* ---- Q6_0 ------------------------------------------------------------------ */

/* Level q ∈ [0,64) of weight j of a Q6_0 block (FORMATS §2). */
static inline int q6_0_level(const qtk_block_q6_0 *b, int j) {
    const int k = j & 15;
    const int h = b->qh[k & 7] >> (4 * (k >> 3));
    return j < 16 ? ((b->qs[k] & 0x0F) | ((h & 3) << 4)) : ((b->qs[k] >> 4) | (((h >> 2) & 3) << 4));
}

/* w = d·(q − 32) (FORMATS §2). */
void qtk_q6_0_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const qtk_block_q6_0 *b = (const qtk_block_q6_0 *)row;
    for (int64_t i = 0; i < n / QK6_0; i++) {
        d[i] = qtk_fp16_to_fp32(rd16(&b[i].d));
        for (int j = 0; j < QK6_0; j++) q[i * QK6_0 + j] = (int8_t)(q6_0_level(&b[i], j) - 32);
    }
}

void qtk_q6_0_to_float(const void *row, float *dst, int64_t n) {
    int8_to_float(qtk_q6_0_to_int8, sizeof(qtk_block_q6_0), row, dst, n);
}

/* Writes a Q6_0 block from scale d and levels L ∈ [0,64). */
static void pack_q6_0(void *blk, float d, const uint8_t *L) {
    qtk_block_q6_0 *b = (qtk_block_q6_0 *)blk;
    wr16(&b->d, scale_to_fp16(d));
    memset(b->qh, 0, sizeof b->qh);
    for (int j = 0; j < 16; j++) {
        b->qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        const int h = (L[j] >> 4) | ((L[j + 16] >> 4) << 2);
        b->qh[j & 7] |= (uint8_t)(h << (4 * (j >> 3)));
    }
}

/* Fast RTN (activations / from_float): d = max/−32, q = min(63, trunc(x/d + 32.5)). */
void qtk_q6_0_from_float(const float *src, void *dst, int64_t n) {
    uint8_t L[32];
    qtk_block_q6_0 *b = (qtk_block_q6_0 *)dst;
    for (int64_t i = 0; i < n / QK6_0; i++) pack_q6_0(&b[i], rtn_block(src + i * QK6_0, 32, L), L);
}

/* x²-weighted search without imatrix, imatrix-weighted with one (quantize_qx_rows). */
size_t qtk_q6_0_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                               int effort) {
    quantize_qx_rows(src, dst, nrows, n, imatrix, 32, sizeof(qtk_block_q6_0), pack_q6_0, 1, effort);
    return (size_t)(nrows * n / QK6_0) * sizeof(qtk_block_q6_0);
}

size_t qtk_q6_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_q6_0_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

/* Reference dot against Q8_0 activations (same accumulation as Q8_0). */
void qtk_q6_0_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q6_0 *x = (const qtk_block_q6_0 *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK6_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK6_0; j++) isum += (q6_0_level(&x[i], j) - 32) * y[i].qs[j];
        sum += (float)isum * (qtk_fp16_to_fp32(rd16(&x[i].d)) * qtk_fp16_to_fp32(rd16(&y[i].d)));
    }
    *s = sum;
}
