/*
 * iqk_kl.c — IQ2_KL (FORMATS.md §4.6): fp16 row scale, 6-bit sub-block
 * scales, and one 5-bit index per *pair* of weights into a 32-point 2-D grid
 * whose coordinates are IQ3NL base values.
 *
 * Quantizer (METHODS.md §4.6): pairs snap to the grid by rounding each
 * coordinate to the nearest IQ3NL value (an 8×8 lattice) and, when that
 * lattice cell is not a grid point, taking the best of the 8 grid points
 * nearest to the cell under the pair's weights; per 32-weight sub-block an
 * IQ4_K-style scale search; row scale -s_max/32 with codes l-1, l, l+1 tried
 * per sub-block; final refit times 1.025. As for the other KS types, codes
 * are then re-picked and the row scale refit (and other row scales tried)
 * whenever that lowers the quantizer error without raising the metric one.
 */
#include "iqk_ks.h"
#include "grids.h"

#include <math.h>
#include <stdlib.h>

static uint16_t rd_u16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Pair snapping tables: for lattice cell (i0, i1) of IQ3NL base indices,
 * the grid point itself (exact >= 0) or its 8 nearest grid points. */
typedef struct {
    qtk_ks_nearest nt;  /* nearest IQ3NL base value */
    int8_t exact[64];
    uint8_t near8[64][8];
    float g0[32], g1[32];
} kl_tables;

static void kl_init(kl_tables *T) {
    qtk_ks_nearest_init(&T->nt, qtk_iq3nl_values, 8);
    for (int k = 0; k < 32; k++) {
        T->g0[k] = (float)qtk_iq2kl_grid[k][0];
        T->g1[k] = (float)qtk_iq2kl_grid[k][1];
    }
    for (int c = 0; c < 64; c++) {
        const int v0 = qtk_iq3nl_values[c / 8], v1 = qtk_iq3nl_values[c % 8];
        T->exact[c] = -1;
        int dist[32];
        for (int k = 0; k < 32; k++) {
            dist[k] = (qtk_iq2kl_grid[k][0] - v0) * (qtk_iq2kl_grid[k][0] - v0) +
                      (qtk_iq2kl_grid[k][1] - v1) * (qtk_iq2kl_grid[k][1] - v1);
            if (dist[k] == 0) T->exact[c] = (int8_t)k;
        }
        /* selection of the 8 smallest distances (ties: lower index) */
        uint32_t used = 0;
        for (int m = 0; m < 8; m++) {
            int best = -1;
            for (int k = 0; k < 32; k++)
                if (!(used >> k & 1) && (best < 0 || dist[k] < dist[best])) best = k;
            used |= 1u << best;
            T->near8[c][m] = (uint8_t)best;
        }
    }
}

/* Grid point for the pair (t0, t1) in grid units with weights (w0, w1). */
static inline int kl_snap(const kl_tables *T, float t0, float t1, float w0, float w1) {
    const int c = qtk_ks_nearest_idx(&T->nt, t0) * 8 + qtk_ks_nearest_idx(&T->nt, t1);
    if (T->exact[c] >= 0) return T->exact[c];
    int best = T->near8[c][0];
    float be = INFINITY;
    for (int m = 0; m < 8; m++) {
        const int k = T->near8[c][m];
        const float e = w0 * (t0 - T->g0[k]) * (t0 - T->g0[k]) + w1 * (t1 - T->g1[k]) * (t1 - T->g1[k]);
        if (e < be) {
            be = e;
            best = k;
        }
    }
    return best;
}

/* Sums of the snapped sub-block at inverse scale id (sign applied to x). */
static void kl_trial(const kl_tables *T, const float *x, const float *w, float id, float *sqx, float *sq2) {
    float a = 0, b = 0;
    for (int j = 0; j < 16; j++) {
        const float *xp = x + 2 * j, *wp = w + 2 * j;
        const int k = kl_snap(T, id * xp[0], id * xp[1], wp[0], wp[1]);
        a += wp[0] * xp[0] * T->g0[k] + wp[1] * xp[1] * T->g1[k];
        b += wp[0] * T->g0[k] * T->g0[k] + wp[1] * T->g1[k] * T->g1[k];
    }
    *sqx = a;
    *sq2 = b;
}

/* IQ4_K-style search (IQ3NL, ntry = 5, step 1, both signs) for one sub-block. */
static float kl_search(const kl_tables *T, const float *x, const float *w) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax < 1e-30f) return 0.0f;
    const float t0 = (float)qtk_iq3nl_values[0];
    float d = 0.0f, best = 0.0f;
    for (int c = -1; c <= 10; c++) {
        const float id = c < 0 ? -t0 / max : ((float)(c - 5) + t0) / max;
        for (int sgn = 0; sgn < 2; sgn++) {
            float sqx, sq2;
            kl_trial(T, x, w, sgn ? -id : id, &sqx, &sq2);
            if (sq2 > 0 && sqx * sqx > best * sq2) {
                d = sqx / sq2;
                best = d * sqx;
            }
        }
    }
    return d;
}

/* Errors of one sub-block at effective scale dl (pairs snapped, indices to q). */
static float kl_eval(const kl_tables *T, const float *x, const float *w, const float *mw, float dl, uint8_t *q,
                     float *em) {
    const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
    float e = 0.0f, m = 0.0f;
    for (int j = 0; j < 16; j++) {
        const int k = kl_snap(T, idl * x[2 * j], idl * x[2 * j + 1], w[2 * j], w[2 * j + 1]);
        q[j] = (uint8_t)k;
        const float d0 = x[2 * j] - dl * T->g0[k], d1 = x[2 * j + 1] - dl * T->g1[k];
        e += w[2 * j] * d0 * d0 + w[2 * j + 1] * d1 * d1;
        m += mw[2 * j] * d0 * d0 + mw[2 * j + 1] * d1 * d1;
    }
    *em = m;
    return e;
}

/* Least-squares row scale; guarded: kept only if the metric error does not rise. */
static float kl_refit(const kl_tables *T, const float *x, const float *w, const float *mw, int nsb, const int *S,
                      const uint8_t *q, float d, int guard) {
    double sqx = 0, sq2 = 0, mxx = 0, mqx = 0, mq2 = 0;
    for (int ib = 0; ib < nsb; ib++) {
        for (int j = 0; j < 32; j++) {
            const int k = 32 * ib + j, gi = q[16 * ib + j / 2];
            const double v = (double)S[ib] * (j & 1 ? T->g1[gi] : T->g0[gi]);
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

/* Per sub-block, codes S-1..S+1 at row scale d; with pareto set, a candidate
 * must also not raise the metric error. Returns the quantizer error. */
static double kl_repick(const kl_tables *T, const float *x, const float *w, const float *mw, int nsb, float d,
                        int *S, uint8_t *q, int pareto, double *mtotal) {
    double total = 0, mt = 0;
    uint8_t qt[16];
    for (int ib = 0; ib < nsb; ib++) {
        const float *xb = x + 32 * ib, *wb = w + 32 * ib, *mb = mw + 32 * ib;
        float m0, m;
        float beste = kl_eval(T, xb, wb, mb, d * (float)S[ib], q + 16 * ib, &m0);
        float bestm = m0;
        int bestS = S[ib];
        for (int s = S[ib] - 1; s <= S[ib] + 1; s += 2) {
            if (s < -32 || s > 31) continue;
            const float e = kl_eval(T, xb, wb, mb, d * (float)s, qt, &m);
            if (e < beste && (!pareto || m <= m0)) {
                beste = e;
                bestm = m;
                bestS = s;
                memcpy(q + 16 * ib, qt, 16);
            }
        }
        S[ib] = bestS;
        total += beste;
        mt += bestm;
    }
    if (mtotal) *mtotal = mt;
    return total;
}

/* Repick/refit rounds from row scale d; returns the scale, *e and *m the errors. */
static float kl_polish(const kl_tables *T, const float *x, const float *w, const float *mw, int nsb, float d, int *S,
                       uint8_t *q, double *e, double *m) {
    double prev = INFINITY;
    for (int it = 0; it < 3; it++) {
        const double ei = kl_repick(T, x, w, mw, nsb, d, S, q, 1, NULL);
        d = kl_refit(T, x, w, mw, nsb, S, q, d, 1);
        if (!(ei < prev * (1.0 - 1e-6))) break;
        prev = ei;
    }
    double et = 0, mt = 0;
    for (int ib = 0; ib < nsb; ib++) {
        const float dl = d * (float)S[ib];
        for (int j = 0; j < 32; j++) {
            const int k = 32 * ib + j, gi = q[16 * ib + j / 2];
            const float diff = x[k] - dl * (j & 1 ? T->g1[gi] : T->g0[gi]);
            et += (double)w[k] * diff * diff;
            mt += (double)mw[k] * diff * diff;
        }
    }
    *e = et;
    *m = mt;
    return d;
}

/* Quantizes one normalized row: S (codes -32..31), q (16 pair indices per
 * sub-block); returns the normalized row scale including the 1.025 factor.
 * fast: the reference's passes alone; all_trials: max's other row scales. */
static float kl_quantize_row(const kl_tables *T, const float *x, const float *w, const float *mw, int n, float *sb,
                             int *S, uint8_t *q, int *Sc, uint8_t *qc, int fast, int all_trials) {
    const int nsb = n / 32;
    float amax_s = 0.0f, smax = 0.0f;
    for (int ib = 0; ib < nsb; ib++) {
        sb[ib] = kl_search(T, x + 32 * ib, w + 32 * ib);
        if (fabsf(sb[ib]) > amax_s) {
            amax_s = fabsf(sb[ib]);
            smax = sb[ib];
        }
    }
    if (!(amax_s > 0.0f)) return 0.0f;
    float d = -smax / 32.0f;
    const float id = 1.0f / d;
    for (int ib = 0; ib < nsb; ib++) S[ib] = QTK_MAX(-32, QTK_MIN(31, qtk_nearest_int(id * sb[ib])));
    /* the reference: best of l-1, l, l+1 per sub-block (plain), then refit */
    kl_repick(T, x, w, mw, nsb, d, S, q, 0, NULL);
    d = kl_refit(T, x, w, mw, nsb, S, q, d, 0);
    if (fast) return 1.025f * d;
    /* beyond the reference: polish, and other row scales */
    double ebest, mbest;
    d = kl_polish(T, x, w, mw, nsb, d, S, q, &ebest, &mbest);
    static const float fac[] = {0.3f, 0.45f, 0.6f, 0.75f, 0.9f, 1.15f};
    const float d0 = d;
    /* effort default: without them (< 0.01 % of the vectors' error, 2/3 of the time) */
    for (size_t t = 0; all_trials && t < sizeof fac / sizeof fac[0]; t++) {
        const float dc = d0 * fac[t];
        for (int ib = 0; ib < nsb; ib++) Sc[ib] = QTK_MAX(-32, QTK_MIN(31, qtk_nearest_int(sb[ib] / dc)));
        double e, m;
        const float dn = kl_polish(T, x, w, mw, nsb, dc, Sc, qc, &e, &m);
        if (e < ebest && m <= mbest) {
            ebest = e;
            mbest = m;
            d = dn;
            memcpy(S, Sc, sizeof(int) * (size_t)nsb);
            memcpy(q, qc, (size_t)n / 2);
        }
    }
    return 1.025f * d;
}

static void kl_pack(uint8_t *blocks, int nsb, const int *S, const uint8_t *q) {
    for (int ib = 0; ib < nsb; ib++) {
        uint8_t *b = blocks + (size_t)(ib / 8) * 86;
        const int i = ib % 8, code = S[ib] + 32;
        uint16_t sh = rd_u16(b);
        sh |= (uint16_t)(((code >> 4) & 3) << (2 * i));
        memcpy(b, &sh, 2);
        b[2 + i % 4] |= (uint8_t)((code & 0xF) << (4 * (i / 4)));
        for (int j = 0; j < 16; j++) {
            const int k = q[16 * ib + j];
            b[6 + 16 * (i / 2) + j] |= (uint8_t)((k & 0xF) << (4 * (i % 2)));
            b[70 + j] |= (uint8_t)(((k >> 4) & 1) << i);
        }
    }
}

size_t qtk_iq2_kl_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                  int effort) {
    const int nsb = (int)(n / 32);
    const size_t row_size = 2 + (size_t)(n / QK_K) * 86;
    float *xn = (float *)malloc(sizeof(float) * ((size_t)n * 3 + (size_t)nsb));
    int *S = (int *)malloc(sizeof(int) * (size_t)nsb * 2);
    uint8_t *q = (uint8_t *)malloc((size_t)n);
    kl_tables *T = (kl_tables *)malloc(sizeof(kl_tables));
    if (!xn || !S || !q || !T) {
        free(xn);
        free(S);
        free(q);
        free(T);
        return 0;
    }
    float *w = xn + n, *mw = w + n, *sb = mw + n;
    qtk_ks_metric_weights(imatrix, n, mw);
    kl_init(T);
    for (int64_t r = 0; r < nrows; r++) {
        uint8_t *row = (uint8_t *)dst + (size_t)r * row_size;
        memset(row, 0, row_size);
        const float amax = qtk_ks_prepare_row(src + r * n, imatrix, n, 2.25f, QTK_KS_W_ABS, xn, w);
        const float d = amax > 0 ? kl_quantize_row(T, xn, w, mw, (int)n, sb, S, q, S + nsb, q + n / 2,
                                                     effort == QTK_EFFORT_FAST, effort == QTK_EFFORT_MAX) : 0.0f;
        float dr = d * amax;
        if (!(dr != 0.0f) || !isfinite(dr)) continue;
        dr = fminf(fmaxf(dr, -65504.0f), 65504.0f);
        const uint16_t h = qtk_fp32_to_fp16(dr);
        memcpy(row, &h, 2);
        kl_pack(row + 2, nsb, S, q);
    }
    free(xn);
    free(S);
    free(q);
    free(T);
    return row_size * (size_t)nrows;
}

size_t qtk_iq2_kl_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq2_kl_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

void qtk_iq2_kl_from_float(const float *src, void *dst, int64_t n) {
    qtk_iq2_kl_quantize(src, dst, 1, n, NULL);
}

/* Sub-block ib of the 86-byte super-block p (after the row scale): its 16 five-bit pair
 * indices into k and its signed scale (ls − 32) as the result. The one decoder of the
 * format's bits that to_float, to_int8 and the scalar vec_dot share. */
static inline int kl_sub_block(const uint8_t *p, int ib, uint8_t k[16]) {
    const uint16_t sh = rd_u16(p);
    const int ls = ((p[2 + ib % 4] >> (4 * (ib / 4))) & 0xF) | (((sh >> (2 * ib)) & 3) << 4);
    const uint8_t *ql = p + 6 + 16 * (ib / 2), *qh = p + 70;
    const int s4 = 4 * (ib % 2);
    for (int j = 0; j < 16; j++) k[j] = (uint8_t)(((ql[j] >> s4) & 0xF) | (((qh[j] >> ib) & 1) << 4));
    return ls - 32;
}

void qtk_iq2_kl_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    const float d = qtk_fp16_to_fp32(rd_u16(p));
    p += 2;
    /* float copy of the pair grid ((float)v is exact) and the 5-bit pair indices of a
     * sub-block unpacked first in a straight loop (vectorised): the lookup loop is then
     * two float loads and multiplies per pair */
    float gf[32][2];
    uint8_t k[16];
    for (int i = 0; i < 32; i++) {
        gf[i][0] = (float)qtk_iq2kl_grid[i][0];
        gf[i][1] = (float)qtk_iq2kl_grid[i][1];
    }
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 86) {
        for (int ib = 0; ib < 8; ib++) {
            const float dl = d * (float)kl_sub_block(p, ib, k);
            float *y = dst + ibl * QK_K + 32 * ib;
            for (int j = 0; j < 16; j++) {
                y[2 * j] = dl * gf[k[j]][0];
                y[2 * j + 1] = dl * gf[k[j]][1];
            }
        }
    }
}

/* Exact int8 form: d[b] = row scale × (ls − 32), the same float product to_float
 * multiplies by, and q = the pair grid's values (|q| ≤ 63), so d[b]·q is to_float's
 * value exactly and the batch panels copy the weights without re-quantizing them. */
void qtk_iq2_kl_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *p = (const uint8_t *)row;
    const float dr = qtk_fp16_to_fp32(rd_u16(p));
    p += 2;
    uint8_t k[16];
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 86) {
        for (int ib = 0; ib < 8; ib++) {
            d[ibl * 8 + ib] = dr * (float)kl_sub_block(p, ib, k);
            int8_t *o = q + ibl * QK_K + 32 * ib;
            for (int j = 0; j < 16; j++) {
                o[2 * j] = qtk_iq2kl_grid[k[j]][0];
                o[2 * j + 1] = qtk_iq2kl_grid[k[j]][1];
            }
        }
    }
}

void qtk_iq2_kl_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const float d = qtk_fp16_to_fp32(rd_u16(p));
    p += 2;
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 86) {
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            uint8_t k[16];
            const int sc = kl_sub_block(p, ib, k);
            const int8_t *a = y[ibl].qs + 32 * ib;
            int32_t sub = 0;
            for (int j = 0; j < 16; j++)
                sub += qtk_iq2kl_grid[k[j]][0] * a[2 * j] + qtk_iq2kl_grid[k[j]][1] * a[2 * j + 1];
            isum += sc * sub;
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}
