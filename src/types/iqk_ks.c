/*
 * iqk_ks.c — IQ4_KS, IQ5_KS, IQ3_KS (per-row scale, 32-weight sub-blocks,
 * FORMATS.md §4.2–4.4) scalar kernels, plus the quantizer machinery shared
 * with iqk_kss.c (IQ4_KSS) and iqk_kl.c (IQ2_KS, IQ2_KL).
 *
 * Quantizers follow METHODS.md §4: per sub-block IQ4_K-style scale search,
 * integer sub-block scales against one row scale, re-quantization and a
 * least-squares refit of the row scale. On top of that (an improvement over
 * the reference, never worse by construction) every sub-block re-picks its
 * integer scale among the neighbouring codes and its grid, given the refit
 * row scale, and the row scale is refit again until the error stops falling.
 */
#include "iqk_ks.h"
#include "grids.h"

#include <math.h>
#include <stdlib.h>

#if defined(__clang__)
/* The searches' sums must be the plain multiplies and adds their SIMD twins compute
 * (no FMA contraction; gcc in ISO C mode does not contract): the bytes must not
 * depend on the ISA or the platform. */
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- shared machinery ------------------------------------------------------ */

void qtk_ks_nearest_init(qtk_ks_nearest *t, const int8_t *grid, int n) {
    for (int i = 0; i < 256; i++) {
        const int v = i - 128;
        int lo = 0;
        for (int k = 0; k < n; k++)
            if (grid[k] <= v) lo = k;
        t->lo[i] = (uint8_t)lo;
    }
    for (int k = 0; k < 32; k++) t->mid[k] = INFINITY;
    for (int k = 0; k + 1 < n; k++) t->mid[k] = 0.5f * ((float)grid[k] + (float)grid[k + 1]);
}

/* Reference importance of the 32 weights at x[o..o+31] (imatrix sanitised). */
static void ks_block_weights(const float *x, const float *imatrix, int64_t o, double sigma2, qtk_ks_wkind kind,
                             double *wv) {
    double qwc = -1.0; /* < 0: use the imatrix entries as they are */
    if (imatrix) {
        double s_im2 = 0, s_x2 = 0, s_imx = 0;
        for (int j = 0; j < 32; j++) {
            s_im2 += (double)imatrix[o + j] * imatrix[o + j];
            s_x2 += (double)x[o + j] * x[o + j];
            s_imx += (double)imatrix[o + j] * fabs((double)x[o + j]);
        }
        if (s_im2 <= 32e-18 || s_x2 <= 32e-18 || s_imx <= 32e-18) qwc = 1e-9;
    }
    for (int j = 0; j < 32; j++) {
        const double xv = x[o + j];
        if (imatrix)
            wv[j] = (qwc >= 0 ? qwc : (double)imatrix[o + j]) * sqrt(sigma2 + xv * xv);
        else if (kind == QTK_KS_W_X2)
            wv[j] = xv * xv;
        else if (kind == QTK_KS_W_SIGMA_X2)
            wv[j] = 0.25 * sigma2 + xv * xv;
        else if (kind == QTK_KS_W_HSIGMA_X2)
            wv[j] = 0.5 * sigma2 + xv * xv;
        else
            wv[j] = fabs(xv);
    }
}

float qtk_ks_prepare_row(const float *x, const float *imatrix, int64_t n, float c, qtk_ks_wkind kind,
                         float *xn, float *w) {
    float amax = 0.0f;
    for (int64_t j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    if (!(amax > 0.0f)) {
        for (int64_t j = 0; j < n; j++) {
            xn[j] = 0.0f;
            w[j] = 1.0f;
        }
        return 0.0f;
    }
    /* Weights are formed in double so that neither 1e-20 nor 1e+30 rows
     * underflow or overflow, then rescaled to a maximum of 1 (two passes:
     * the maximum first, so no float copy of an unscaled weight is kept). */
    double wmax = 0.0, wv[32];
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++) {
            double sumx2 = 0.0;
            for (int j = 0; j < QK_K; j++) sumx2 += (double)x[ibl * QK_K + j] * x[ibl * QK_K + j];
            const double sigma2 = (double)c * sumx2 / QK_K;
            for (int ib = 0; ib < QK_K / 32; ib++) {
                const int64_t o = ibl * QK_K + ib * 32;
                ks_block_weights(x, imatrix, o, sigma2, kind, wv);
                for (int j = 0; j < 32; j++) {
                    if (pass == 0)
                        wmax = wv[j] > wmax ? wv[j] : wmax;
                    else
                        w[o + j] = (wmax > 0.0 && isfinite(wmax)) ? (float)(wv[j] / wmax) : 1.0f;
                }
            }
        }
    }
    for (int64_t j = 0; j < n; j++) xn[j] = x[j] / amax;
    return amax;
}

/* Accumulates sumqx/sumq2 of nearest indices of +t and of -t (t = id·x). */
void qtk_ks_trials_scalar(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                          const int *gsel, float *out) {
    enum { L = QTK_KS_LANES };
    const int nl = (nt + 7) & ~7; /* lanes past nt rate scale 0 on the base grid: ignored */
    float mid[31][L], g0[L], step[31], v[L], mv[L], qp[L], qm[L];
    for (int i = 0; i + 1 < ng; i++) step[i] = (float)(grid[i + 1] - grid[i]);
    for (int t = 0; t < nl; t++) {
        const int8_t *G = grid + (t < nt ? ng * gsel[t] : 0);
        g0[t] = (float)G[0];
        for (int i = 0; i + 1 < ng; i++) mid[i][t] = 0.5f * ((float)G[i] + (float)G[i + 1]);
    }
    float a[L], b[L], c[L], e[L];
    for (int t = 0; t < nl; t++) a[t] = b[t] = c[t] = e[t] = 0.0f;
    for (int j = 0; j < n; j++) {
        const float xj = x[j], wj = w[j], wx = wj * xj;
        for (int t = 0; t < nl; t++) {
            v[t] = (t < nt ? id[t] : 0.0f) * xj;
            mv[t] = -v[t];
            qp[t] = g0[t];
            qm[t] = g0[t];
        }
        for (int i = 0; i + 1 < ng; i++) /* loads, selects, stores: the form gcc vectorises */
            for (int t = 0; t < nl; t++) {
                const float m = mid[i][t], p0 = qp[t], m0 = qm[t];
                const float np = v[t] >= m ? p0 + step[i] : p0, nm = mv[t] >= m ? m0 + step[i] : m0;
                qp[t] = np;
                qm[t] = nm;
            }
        for (int t = 0; t < nl; t++) {
            a[t] += wx * qp[t];
            b[t] += wj * qp[t] * qp[t];
            c[t] += wx * qm[t];
            e[t] += wj * qm[t] * qm[t];
        }
    }
    for (int t = 0; t < nl; t++) {
        out[t] = a[t];
        out[L + t] = b[t];
        out[2 * L + t] = c[t];
        out[3 * L + t] = e[t];
    }
}

void qtk_ks_trials(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                   const int *gsel, float *out) {
    const int isa = qtk_isa_pick(QTK_SEARCH_LEVELS);
#if defined(QTK_HAVE_AVX512)
    if (isa == QTK_ISA_AVX512) {
        qtk_ks_trials_avx512(x, w, n, grid, ng, nt, id, gsel, out);
        return;
    }
#endif
#if defined(QTK_HAVE_AVX2)
    if (isa == QTK_ISA_AVX2) {
        qtk_ks_trials_avx2(x, w, n, grid, ng, nt, id, gsel, out);
        return;
    }
#endif
#if defined(QTK_HAVE_NEON)
    if (isa == QTK_ISA_NEON && qtk_ks_trials_neon(x, w, n, grid, ng, nt, id, gsel, out)) return;
#endif
    (void)isa;
    qtk_ks_trials_scalar(x, w, n, grid, ng, nt, id, gsel, out);
}

/* The best of rated trials (qtk_ks_trials' out) by sumqx²/sumq2, +id then −id per
 * trial in trial order, strict > (earlier wins ties): its signed scale; *is_shifted
 * = its grid. */
static float ks_pick(const float *out, int nt, const int *gsel, int *is_shifted) {
    float d = 0.0f, best = 0.0f;
    for (int t = 0; t < nt; t++) {
        const float sp = out[t], s2p = out[QTK_KS_LANES + t], sm = out[2 * QTK_KS_LANES + t],
                    s2m = out[3 * QTK_KS_LANES + t];
        if (s2p > 0 && sp * sp > best * s2p) {
            d = sp / s2p;
            best = d * sp;
            *is_shifted = gsel[t];
        }
        if (s2m > 0 && sm * sm > best * s2m) {
            d = sm / s2m;
            best = d * sm;
            *is_shifted = gsel[t];
        }
    }
    return d;
}

float qtk_ks_search_scale(const float *x, const float *w, int n, const int8_t *base, int ng, int ntry, float step,
                          int *is_shifted) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    *is_shifted = 0;
    if (amax < 1e-30f) return 0.0f;
    /* trial 0: the largest |x| at the base grid's low end; then k = −ntry … ntry on
     * each grid; rated at once, chosen in that order (strict >: earlier wins ties) */
    const int8_t *shifted = base + ng;
    float id[QTK_KS_LANES], out[4 * QTK_KS_LANES];
    int gsel[QTK_KS_LANES], nt = 0;
    id[nt] = (float)base[0] / -max;
    gsel[nt++] = 0;
    for (int k = -ntry; k <= ntry; k++)
        for (int g = 0; g < 2; g++) {
            id[nt] = ((float)k * step + (float)(g ? shifted : base)[0]) / max;
            gsel[nt++] = g;
        }
    qtk_ks_trials(x, w, n, base, ng, nt, id, gsel, out);
    return ks_pick(out, nt, gsel, is_shifted);
}

/* ---- generic per-row quantizer of IQ4_KS / IQ5_KS / IQ3_KS / IQ2_KS --------- */

enum { KS_ROW_ODD127, KS_ROW_SMAX16, KS_ROW_QX16 };

typedef struct {
    const int8_t *grid; /* base values; the shifted grid follows at grid + ng */
    int ng;
    int ntry;           /* IQ4_K-style search width; < 0: IQ2_KS candidate set */
    int row_mode;       /* KS_ROW_ODD127: S = 2l-127 odd in [-127,127], d = max|s|/127;
                         * KS_ROW_SMAX16: S in [-16,15], d = -s_max/16;
                         * KS_ROW_QX16:   S in [-16,15] by make_qx_quants over the row */
    int fp16_header;
    float c;            /* sigma^2 factor of the importance weights */
    qtk_ks_wkind wkind; /* fallback weights without an imatrix */
} ks_desc;

/* IQ2_KS sub-block search (METHODS §4.4, fast path): d = max/22 on the base
 * grid, max/(-31 + 0.5k) on the base and max/(-26 + 0.5k) on the shifted
 * grid for k = -13..13, each with both signs; best sumqx^2/sumq2 wins (the
 * shifted grid only when strictly better). */
static float iq2ks_search(const float *x, const float *w, int *is_shifted) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    *is_shifted = 0;
    if (amax < 1e-30f) return 0.0f;
    float id[QTK_KS_LANES], out[4 * QTK_KS_LANES];
    int gsel[QTK_KS_LANES];
    for (int c = -1; c < 54; c++) {
        const int g = c >= 27;
        id[c + 1] = c < 0 ? 22.0f / max : ((g ? -26.0f : -31.0f) + 0.5f * (float)(c % 27 - 13)) / max;
        gsel[c + 1] = g;
    }
    qtk_ks_trials(x, w, 32, qtk_iq2nl_values, 4, 55, id, gsel, out);
    return ks_pick(out, 55, gsel, is_shifted);
}

/* make_qx_quants (METHODS §2) over the sub-block scales s[0..n) with weights
 * sw: codes L in [-nmax, nmax-1] and the returned scale, from round-to-
 * nearest at -nmax/max and the 38 neighbouring inverse scales. */
static float ks_make_qx(int n, int nmax, const float *s, const float *sw, int *L) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(s[i]) > amax) {
            amax = fabsf(s[i]);
            max = s[i];
        }
    }
    if (!(amax > 0.0f)) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float scale = 0.0f, best = 0.0f;
    for (int c = -1; c < 38; c++) {
        const float k = 0.1f * (float)(c % 19 - 9);
        const float iscale = c < 0 ? -(float)nmax / max : c < 19 ? -((float)nmax + k) / max : ((float)nmax - 1 + k) / max;
        double sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = QTK_MAX(-nmax, QTK_MIN(nmax - 1, qtk_nearest_int(iscale * s[i])));
            sumlx += (double)sw[i] * s[i] * l;
            suml2 += (double)sw[i] * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > (double)best * suml2) {
            scale = (float)(sumlx / suml2);
            best = (float)(scale * sumlx);
            for (int i = 0; i < n; i++) L[i] = QTK_MAX(-nmax, QTK_MIN(nmax - 1, qtk_nearest_int(iscale * s[i])));
        }
    }
    return scale;
}

/* Errors of one sub-block at effective scale dl with nearest indices (stored
 * into q): *em gets the error under the metric weights mw. Returns the error
 * under the quantizer weights w. */
static float ks_eval(const float *x, const float *w, const float *mw, const int8_t *g, const qtk_ks_nearest *nt,
                     float dl, uint8_t *q, float *em) {
    const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
    float e = 0.0f, m = 0.0f;
    for (int j = 0; j < 32; j++) {
        const int l = qtk_ks_nearest_idx(nt, idl * x[j]);
        q[j] = (uint8_t)l;
        const float diff = x[j] - dl * (float)g[l];
        e += w[j] * diff * diff;
        m += mw[j] * diff * diff;
    }
    *em = m;
    return e;
}

void qtk_ks_eval_lanes_scalar(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                              const float *dl, const int *gsel, float *e, float *m) {
    float mid[31][8], g0[8], step[31], idl[8], dv[8], ea[8], ma[8], q[8];
    for (int i = 0; i + 1 < ng; i++) step[i] = (float)(grid[i + 1] - grid[i]);
    for (int t = 0; t < 8; t++) {
        const int8_t *G = grid + (t < nc ? ng * gsel[t] : 0);
        dv[t] = t < nc ? dl[t] : 0.0f;
        idl[t] = dv[t] != 0.0f ? 1.0f / dv[t] : 0.0f;
        g0[t] = (float)G[0];
        for (int i = 0; i + 1 < ng; i++) mid[i][t] = 0.5f * ((float)G[i] + (float)G[i + 1]);
        ea[t] = ma[t] = 0.0f;
    }
    for (int j = 0; j < 32; j++) {
        const float xj = x[j], wj = w[j], mj = mw[j];
        float v[8];
        for (int t = 0; t < 8; t++) {
            v[t] = idl[t] * xj;
            q[t] = g0[t];
        }
        for (int i = 0; i + 1 < ng; i++)
            for (int t = 0; t < 8; t++) {
                const float q0 = q[t], nq = v[t] >= mid[i][t] ? q0 + step[i] : q0;
                q[t] = nq;
            }
        for (int t = 0; t < 8; t++) {
            const float diff = xj - dv[t] * q[t];
            ea[t] += wj * diff * diff;
            ma[t] += mj * diff * diff;
        }
    }
    for (int t = 0; t < nc; t++) e[t] = ea[t], m[t] = ma[t];
}

void qtk_ks_eval_lanes(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                       const float *dl, const int *gsel, float *e, float *m) {
    const int isa = qtk_isa_pick(QTK_SEARCH_LEVELS);
#if defined(QTK_HAVE_AVX512)
    if (isa == QTK_ISA_AVX512) {
        qtk_ks_eval_lanes_avx512(x, w, mw, grid, ng, nc, dl, gsel, e, m);
        return;
    }
#endif
#if defined(QTK_HAVE_AVX2)
    if (isa == QTK_ISA_AVX2) {
        qtk_ks_eval_lanes_avx2(x, w, mw, grid, ng, nc, dl, gsel, e, m);
        return;
    }
#endif
#if defined(QTK_HAVE_NEON)
    if (isa == QTK_ISA_NEON && qtk_ks_eval_lanes_neon(x, w, mw, grid, ng, nc, dl, gsel, e, m)) return;
#endif
    (void)isa;
    qtk_ks_eval_lanes_scalar(x, w, mw, grid, ng, nc, dl, gsel, e, m);
}

/* Least-squares row scale (quantizer weights) for the chosen codes and
 * indices, accepted only if it does not raise the metric error either. */
static float ks_refit(const ks_desc *D, const float *x, const float *w, const float *mw, int nsb, const int *S,
                      const uint8_t *sh, const uint8_t *q, float d) {
    double sqx = 0, sq2 = 0, mxx = 0, mqx = 0, mq2 = 0;
    for (int ib = 0; ib < nsb; ib++) {
        const int8_t *g = D->grid + (sh[ib] ? D->ng : 0);
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
    const double m_old = mxx - 2 * d * mqx + (double)d * d * mq2, m_new = mxx - 2 * dn * mqx + dn * dn * mq2;
    return m_new <= m_old ? (float)dn : d;
}

/* Re-picks, for row scale d, every sub-block's code among S-st..S+st and its
 * grid, with nearest indices; a candidate replaces the current choice only
 * when it lowers the quantizer error without raising the metric error, so
 * the result is never worse than the reference's choice on either measure.
 * Returns the row error under the quantizer weights; *changed (if given) says
 * whether any code, grid or index moved. */
static double ks_repick(const ks_desc *D, const qtk_ks_nearest nt[2], const float *x, const float *w,
                        const float *mw, int nsb, float d, int *S, uint8_t *sh, uint8_t *q, double *mtotal,
                        int *changed) {
    const int odd = D->row_mode == KS_ROW_ODD127;
    const int st = odd ? 2 : 1;
    const int smin = odd ? -127 : -16, smax = odd ? 127 : 15;
    double total = 0, mtot = 0;
    for (int ib = 0; ib < nsb; ib++) {
        const float *xb = x + 32 * ib, *wb = w + 32 * ib, *mb = mw + 32 * ib;
        /* the current choice (lane 0) and its neighbours, rated at once, chosen in
         * this order as one by one */
        float dl[8], ev[8], mv[8];
        int sv[8], gv[8], nc = 0;
        dl[nc] = d * (float)S[ib], sv[nc] = S[ib], gv[nc++] = sh[ib];
        for (int s = S[ib] - st; s <= S[ib] + st; s += st) {
            if (s < smin || s > smax) continue;
            for (int g = 0; g < 2; g++) {
                if (s == S[ib] && g == sh[ib]) continue;
                dl[nc] = d * (float)s, sv[nc] = s, gv[nc++] = g;
            }
        }
        qtk_ks_eval_lanes(xb, wb, mb, D->grid, D->ng, nc, dl, gv, ev, mv);
        const float m0 = mv[0];
        float beste = ev[0], bestm = m0;
        int best = 0;
        for (int c = 1; c < nc; c++)
            if (ev[c] < beste && mv[c] <= m0) {
                beste = ev[c];
                bestm = mv[c];
                best = c;
            }
        const int bestS = sv[best], bestsh = gv[best];
        float mq;
        uint8_t old[32];
        memcpy(old, q + 32 * ib, sizeof old);
        ks_eval(xb, wb, mb, D->grid + (bestsh ? D->ng : 0), &nt[bestsh], dl[best], q + 32 * ib, &mq);
        if (changed && (best != 0 || memcmp(old, q + 32 * ib, sizeof old) != 0)) *changed = 1;
        S[ib] = bestS;
        sh[ib] = (uint8_t)bestsh;
        total += beste;
        mtot += bestm;
    }
    if (mtotal) *mtotal = mtot;
    return total;
}

/* Scratch of one candidate row: codes, grids, indices. */
typedef struct {
    int *S;
    uint8_t *sh, *q;
} ks_cand;

/* Code nearest to t among the type's allowed sub-block scales. */
static int ks_code(const ks_desc *D, float t) {
    if (D->row_mode == KS_ROW_ODD127) {
        const int l = QTK_MAX(0, QTK_MIN(127, qtk_nearest_int(0.5f * (t + 127.0f))));
        return 2 * l - 127;
    }
    return QTK_MAX(-16, QTK_MIN(15, qtk_nearest_int(t)));
}

/* Alternates re-picking and refits from row scale d; returns the final scale,
 * *e / *m the quantizer / metric errors at it. */
static float ks_polish(const ks_desc *D, const qtk_ks_nearest nt[2], const float *x, const float *w, const float *mw,
                       int nsb, float d, int *S, uint8_t *sh, uint8_t *q, double *e, double *m) {
    double prev = INFINITY;
    for (int it = 0; it < 4; it++) {
        int changed = 0;
        const float d_in = d;
        const double ei = ks_repick(D, nt, x, w, mw, nsb, d, S, sh, q, NULL, &changed);
        d = ks_refit(D, x, w, mw, nsb, S, sh, q, d);
        if (!(ei < prev * (1.0 - 1e-6))) break;
        /* nothing moved: the next pass would repeat this one and stop (same bytes,
         * a quarter of the re-picks saved on the small model) */
        if (!changed && d == d_in) break;
        prev = ei;
    }
    /* errors at the final scale with the final indices */
    double et = 0, mt = 0;
    for (int ib = 0; ib < nsb; ib++) {
        const int8_t *g = D->grid + (sh[ib] ? D->ng : 0);
        const float dl = d * (float)S[ib];
        for (int j = 0; j < 32; j++) {
            const int k = 32 * ib + j;
            const float diff = x[k] - dl * (float)g[q[k]];
            et += (double)w[k] * diff * diff;
            mt += (double)mw[k] * diff * diff;
        }
    }
    *e = et;
    *m = mt;
    return d;
}

/* Quantizes one normalized row: fills S, sh, q; returns the normalized row scale.
 * fast: the reference's search alone; all_trials: max's other row scales (effort
 * levels, docs/types.md). */
static float ks_quantize_row(const ks_desc *D, const qtk_ks_nearest nt[2], const float *x, const float *w,
                             const float *mw, int n, float *sb, int *S, uint8_t *sh, uint8_t *q, ks_cand *cw,
                             int fast, int all_trials) {
    const int nsb = n / 32;
    const int odd = D->row_mode == KS_ROW_ODD127;
    float amax_s = 0.0f, smax = 0.0f;
    for (int ib = 0; ib < nsb; ib++) {
        int shf;
        if (D->ntry < 0)
            sb[ib] = iq2ks_search(x + 32 * ib, w + 32 * ib, &shf);
        else
            sb[ib] = qtk_ks_search_scale(x + 32 * ib, w + 32 * ib, 32, D->grid, D->ng, D->ntry, 1.0f, &shf);
        sh[ib] = (uint8_t)shf;
        if (fabsf(sb[ib]) > amax_s) {
            amax_s = fabsf(sb[ib]);
            smax = sb[ib];
        }
    }
    if (!(amax_s > 0.0f)) {
        for (int ib = 0; ib < nsb; ib++) S[ib] = odd ? 1 : 0;
        memset(q, 0, (size_t)n);
        return 0.0f;
    }
    float d;
    if (D->row_mode == KS_ROW_QX16) {
        /* one make_qx_quants over the whole row, weights = Σw per sub-block
         * (sb's tail holds the weight sums; the caller sized it 2·nsb) */
        float *sw = sb + nsb;
        for (int ib = 0; ib < nsb; ib++) {
            float t = 0.0f;
            for (int j = 0; j < 32; j++) t += w[32 * ib + j];
            sw[ib] = t;
        }
        d = ks_make_qx(nsb, 16, sb, sw, S);
        if (!(d != 0.0f)) {
            memset(q, 0, (size_t)n);
            return 0.0f;
        }
    } else {
        d = odd ? amax_s / 127.0f : -smax / 16.0f;
        const float id = 1.0f / d;
        for (int ib = 0; ib < nsb; ib++) {
            if (odd) {
                int l = qtk_nearest_int(0.5f * (id * sb[ib] + 127.0f));
                l = QTK_MAX(0, QTK_MIN(127, l));
                S[ib] = 2 * l - 127;
            } else {
                int l = qtk_nearest_int(id * sb[ib]);
                S[ib] = QTK_MAX(-16, QTK_MIN(15, l));
            }
        }
    }
    double sqx = 0, sq2 = 0;
    for (int ib = 0; ib < nsb; ib++) {
        const int8_t *g = D->grid + (sh[ib] ? D->ng : 0);
        float m;
        ks_eval(x + 32 * ib, w + 32 * ib, mw + 32 * ib, g, &nt[sh[ib]], d * (float)S[ib], q + 32 * ib, &m);
        for (int j = 0; j < 32; j++) {
            const double v = (double)S[ib] * g[q[32 * ib + j]];
            sqx += (double)w[32 * ib + j] * v * x[32 * ib + j];
            sq2 += (double)w[32 * ib + j] * v * v;
        }
    }
    if (sq2 > 0) d = (float)(sqx / sq2); /* the reference's final refit */
    if (fast) return d;
    /* Beyond the reference: alternate code/grid re-picking and refits ... */
    double ebest, mbest;
    d = ks_polish(D, nt, x, w, mw, nsb, d, S, sh, q, &ebest, &mbest);
    /* ... and (5-bit codes) other row scales: one outlier sub-block can
     * set a row scale that leaves every other sub-block a code of ±1 or ±2.
     * Each trial re-derives all codes from the sub-block scales; it is kept
     * only if it lowers the quantizer error without raising the metric one. */
    static const float fac[] = {0.3f, 0.45f, 0.6f, 0.75f, 0.9f, 1.15f};
    const float d0 = d;
    /* 7-bit codes: not worth the time; effort default skips them too: the vectors'
     * error stays max's to six digits, the fixture's RMSE rises 0.02–0.15 %, and they
     * cost 2/3 of the time (docs/types.md) */
    const size_t ntrial = odd || !all_trials ? 0 : sizeof fac / sizeof fac[0];
    for (size_t t = 0; t < ntrial; t++) {
        const float dc = d0 * fac[t];
        for (int ib = 0; ib < nsb; ib++) {
            cw->S[ib] = ks_code(D, sb[ib] / dc);
            cw->sh[ib] = sh[ib];
        }
        double e, m;
        const float dn = ks_polish(D, nt, x, w, mw, nsb, dc, cw->S, cw->sh, cw->q, &e, &m);
        if (e < ebest && m <= mbest) {
            ebest = e;
            mbest = m;
            d = dn;
            memcpy(S, cw->S, sizeof(int) * (size_t)nsb);
            memcpy(sh, cw->sh, (size_t)nsb);
            memcpy(q, cw->q, (size_t)n);
        }
    }
    return d;
}

static float rd_f32(const void *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

static uint16_t rd_u16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

void qtk_ks_metric_weights(const float *imatrix, int64_t n, float *mw) {
    float m = 0.0f;
    if (imatrix)
        for (int64_t j = 0; j < n; j++) m = fmaxf(m, imatrix[j]);
    for (int64_t j = 0; j < n; j++) mw[j] = (m > 0.0f && isfinite(m)) ? imatrix[j] / m : 1.0f;
}

typedef void (*ks_pack_fn)(uint8_t *blocks, int nsb, const int *S, const uint8_t *sh, const uint8_t *q);

/* Runs the generic quantizer over nrows rows and packs them. Returns bytes written (0: out of memory). */
static size_t ks_quantize(const ks_desc *D, ks_pack_fn pack, size_t type_size, const float *src, void *dst,
                          int64_t nrows, int64_t n, const float *imatrix, int effort) {
    const int fast = effort == QTK_EFFORT_FAST;
    const int nsb = (int)(n / 32);
    const size_t meta = D->fp16_header ? 2 : 4;
    const size_t row_size = meta + (size_t)(n / QK_K) * type_size;
    float *xn = (float *)malloc(sizeof(float) * ((size_t)n * 3 + 2 * (size_t)nsb));
    int *S = (int *)malloc(sizeof(int) * (size_t)nsb * 2);
    uint8_t *buf = (uint8_t *)malloc(((size_t)n + (size_t)nsb) * 2);
    if (!xn || !S || !buf) {
        free(xn);
        free(S);
        free(buf);
        return 0;
    }
    float *w = xn + n, *mw = w + n, *sb = mw + n;
    qtk_ks_metric_weights(imatrix, n, mw);
    uint8_t *q = buf, *sh = buf + n;
    ks_cand cw = {S + nsb, buf + n + nsb, buf + n + 2 * nsb};
    qtk_ks_nearest nt[2];
    qtk_ks_nearest_init(&nt[0], D->grid, D->ng);
    qtk_ks_nearest_init(&nt[1], D->grid + D->ng, D->ng);
    for (int64_t r = 0; r < nrows; r++) {
        uint8_t *row = (uint8_t *)dst + (size_t)r * row_size;
        const float amax = qtk_ks_prepare_row(src + r * n, imatrix, n, D->c, D->wkind, xn, w);
        float d = amax > 0 ? ks_quantize_row(D, nt, xn, w, mw, (int)n, sb, S, sh, q, &cw, fast,
                                                   effort == QTK_EFFORT_MAX) : 0.0f;
        if (D->fp16_header && d != 0.0f) {
            /* Store what fp16 can hold, then (beyond the reference, which keeps the
             * indices found with the float scale) re-pick indices for the stored scale. */
            float dr = d * amax;
            dr = fminf(fmaxf(dr, -65504.0f), 65504.0f);
            const float dn = qtk_fp16_to_fp32(qtk_fp32_to_fp16(dr)) / amax;
            if (!fast && dn != 0.0f && isfinite(dn)) ks_repick(D, nt, xn, w, mw, nsb, dn, S, sh, q, NULL, NULL);
            d = dn;
        }
        if (d == 0.0f || !isfinite(d)) {
            memset(row, 0, row_size);
            continue;
        }
        if (D->fp16_header) {
            const uint16_t h = qtk_fp32_to_fp16(d * amax);
            memcpy(row, &h, 2);
        } else {
            const float df = d * amax;
            memcpy(row, &df, 4);
        }
        memset(row + meta, 0, row_size - meta);
        pack(row + meta, nsb, S, sh, q);
    }
    free(xn);
    free(S);
    free(buf);
    return row_size * (size_t)nrows;
}

/* ---- decoding helpers ----------------------------------------------------------
 * Decoders unpack a sub-block's grid indices into a byte array first (a straight
 * loop of shifts and masks, vectorised), then look each index up in a float copy
 * of the grid ((float)g[q] is exact, so dl·gf[q] is the same product as
 * dl·(float)g[q]). Mixing the int8 table load and its conversion into the
 * unpacking loop kept gcc from vectorising any of it. */
static void ks_grid_float(const int8_t *grid, int n, float *gf) {
    for (int q = 0; q < n; q++) gf[q] = (float)grid[q];
}

static void ks_lookup32(float *y, float dl, const float *gf, const uint8_t *l) {
    for (int j = 0; j < 32; j++) y[j] = dl * gf[l[j]];
}

/* ---- IQ4_KS ---------------------------------------------------------------- */

static const ks_desc IQ4KS_DESC = {qtk_iq4nl_values, 16, 7, KS_ROW_ODD127, 0, 2.0f, QTK_KS_W_X2};

static void pack_iq4_ks(uint8_t *blocks, int nsb, const int *S, const uint8_t *sh, const uint8_t *q) {
    for (int ib = 0; ib < nsb; ib++) {
        uint8_t *b = blocks + (size_t)(ib / 8) * 136;
        const int i = ib % 8;
        b[i] = (uint8_t)((S[ib] + 127) | sh[ib]);
        for (int j = 0; j < 16; j++) b[8 + 16 * i + j] = (uint8_t)(q[32 * ib + j] | (q[32 * ib + j + 16] << 4));
    }
}

void qtk_iq4_ks_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    const float d = rd_f32(p);
    p += 4;
    float gf[32];
    uint8_t l[32];
    ks_grid_float(qtk_iq4nl_values, 32, gf);
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 136) {
        for (int ib = 0; ib < 8; ib++) {
            const float dl = d * (float)((p[ib] & 0xFE) - 127);
            const uint8_t *qs = p + 8 + 16 * ib;
            for (int j = 0; j < 16; j++) l[j] = qs[j] & 0xF;
            for (int j = 0; j < 16; j++) l[j + 16] = qs[j] >> 4;
            ks_lookup32(dst + ibl * QK_K + 32 * ib, dl, gf + (p[ib] & 1) * 16, l);
        }
    }
}

/* The same values as qtk_iq4_ks_to_float: fl(dl · g) with dl its float. */
void qtk_iq4_ks_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *p = (const uint8_t *)row;
    const float dr = rd_f32(p);
    p += 4;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 136) {
        for (int ib = 0; ib < 8; ib++) {
            d[ibl * 8 + ib] = dr * (float)((p[ib] & 0xFE) - 127);
            const int8_t *g = qtk_iq4nl_values + (p[ib] & 1) * 16;
            const uint8_t *qs = p + 8 + 16 * ib;
            int8_t *o = q + ibl * QK_K + 32 * ib;
            for (int j = 0; j < 16; j++) o[j] = g[qs[j] & 0xF];
            for (int j = 0; j < 16; j++) o[j + 16] = g[qs[j] >> 4];
        }
    }
}

size_t qtk_iq4_ks_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    return ks_quantize(&IQ4KS_DESC, pack_iq4_ks, 136, src, dst, nrows, n, imatrix, effort);
}

size_t qtk_iq4_ks_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq4_ks_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

void qtk_iq4_ks_from_float(const float *src, void *dst, int64_t n) {
    qtk_iq4_ks_quantize(src, dst, 1, n, NULL);
}

void qtk_iq4_ks_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const float d = rd_f32(p);
    p += 4;
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 136) {
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const int8_t *g = qtk_iq4nl_values + (p[ib] & 1) * 16;
            const uint8_t *qs = p + 8 + 16 * ib;
            const int8_t *a = y[ibl].qs + 32 * ib;
            int32_t sub = 0;
            for (int j = 0; j < 16; j++) sub += g[qs[j] & 0xF] * a[j] + g[qs[j] >> 4] * a[j + 16];
            isum += ((p[ib] & 0xFE) - 127) * sub;
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}

/* ---- IQ5_KS ---------------------------------------------------------------- */

static const ks_desc IQ5KS_DESC = {qtk_iq5nl_values, 32, 5, KS_ROW_ODD127, 0, 2.0f, QTK_KS_W_X2};

static void pack_iq5_ks(uint8_t *blocks, int nsb, const int *S, const uint8_t *sh, const uint8_t *q) {
    for (int ib = 0; ib < nsb; ib++) {
        uint8_t *b = blocks + (size_t)(ib / 8) * 168;
        const int i = ib % 8;
        b[i] = (uint8_t)((S[ib] + 127) | sh[ib]);
        for (int p = 0; p < 32; p++) {
            const uint8_t v = q[32 * ib + p];
            b[8 + 32 * (i / 2) + p] |= (uint8_t)((v & 0xF) << (4 * (i % 2)));
            b[136 + p] |= (uint8_t)((v >> 4) << i);
        }
    }
}

void qtk_iq5_ks_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    const float d = rd_f32(p);
    p += 4;
    float gf[64];
    uint8_t l[32];
    ks_grid_float(qtk_iq5nl_values, 64, gf);
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 168) {
        for (int ib = 0; ib < 8; ib++) {
            const float dl = d * (float)((p[ib] & 0xFE) - 127);
            const uint8_t *qs = p + 8 + 32 * (ib / 2), *qh = p + 136;
            const int s4 = 4 * (ib % 2);
            for (int j = 0; j < 32; j++) l[j] = (uint8_t)(((qs[j] >> s4) & 0xF) | (((qh[j] >> ib) & 1) << 4));
            ks_lookup32(dst + ibl * QK_K + 32 * ib, dl, gf + (p[ib] & 1) * 32, l);
        }
    }
}

/* The same values as qtk_iq5_ks_to_float: fl(dl · g) with dl its float. */
void qtk_iq5_ks_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *p = (const uint8_t *)row;
    const float dr = rd_f32(p);
    p += 4;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 168) {
        for (int ib = 0; ib < 8; ib++) {
            d[ibl * 8 + ib] = dr * (float)((p[ib] & 0xFE) - 127);
            const int8_t *g = qtk_iq5nl_values + (p[ib] & 1) * 32;
            const uint8_t *qs = p + 8 + 32 * (ib / 2), *qh = p + 136;
            const int s4 = 4 * (ib % 2);
            int8_t *o = q + ibl * QK_K + 32 * ib;
            uint8_t l[32];  /* indices first (vectorises), then the look-ups */
            for (int j = 0; j < 32; j++) l[j] = (uint8_t)(((qs[j] >> s4) & 0xF) | (((qh[j] >> ib) & 1) << 4));
            for (int j = 0; j < 32; j++) o[j] = g[l[j]];
        }
    }
}

size_t qtk_iq5_ks_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    return ks_quantize(&IQ5KS_DESC, pack_iq5_ks, 168, src, dst, nrows, n, imatrix, effort);
}

size_t qtk_iq5_ks_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq5_ks_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

void qtk_iq5_ks_from_float(const float *src, void *dst, int64_t n) {
    qtk_iq5_ks_quantize(src, dst, 1, n, NULL);
}

void qtk_iq5_ks_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const float d = rd_f32(p);
    p += 4;
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 168) {
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const int8_t *g = qtk_iq5nl_values + (p[ib] & 1) * 32;
            const uint8_t *qs = p + 8 + 32 * (ib / 2), *qh = p + 136;
            const int8_t *a = y[ibl].qs + 32 * ib;
            int32_t sub = 0;
            for (int j = 0; j < 32; j++)
                sub += g[((qs[j] >> (4 * (ib % 2))) & 0xF) | (((qh[j] >> ib) & 1) << 4)] * a[j];
            isum += ((p[ib] & 0xFE) - 127) * sub;
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}

/* ---- IQ3_KS ---------------------------------------------------------------- */

static const ks_desc IQ3KS_DESC = {qtk_iq3nl_values, 8, 5, KS_ROW_SMAX16, 1, 2.0f, QTK_KS_W_X2};

static void pack_iq3_ks(uint8_t *blocks, int nsb, const int *S, const uint8_t *sh, const uint8_t *q) {
    for (int ib = 0; ib < nsb; ib++) {
        uint8_t *b = blocks + (size_t)(ib / 8) * 102;
        const int i = ib % 8;
        const int ls = S[ib] + 16;
        uint16_t extra = rd_u16(b);
        extra |= (uint16_t)((((ls >> 4) & 1) << i) | (sh[ib] << (8 + i)));
        memcpy(b, &extra, 2);
        b[2 + i % 4] |= (uint8_t)((ls & 0xF) << (4 * (i / 4)));
        for (int p = 0; p < 32; p++) {
            const uint8_t v = q[32 * ib + p];
            b[6 + 32 * (i / 4) + p] |= (uint8_t)((v & 3) << (2 * (i % 4)));
            b[70 + p] |= (uint8_t)((v >> 2) << i);
        }
    }
}

void qtk_iq3_ks_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    const float d = qtk_fp16_to_fp32(rd_u16(p));
    p += 2;
    float gf[16];
    uint8_t l[32];
    ks_grid_float(qtk_iq3nl_values, 16, gf);
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 102) {
        const uint16_t extra = rd_u16(p);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((p[2 + ib % 4] >> (4 * (ib / 4))) & 0xF) | (((extra >> ib) & 1) << 4);
            const float dl = d * (float)(ls - 16);
            const uint8_t *qs = p + 6 + 32 * (ib / 4), *qh = p + 70;
            const int s2 = 2 * (ib % 4);
            for (int j = 0; j < 32; j++) l[j] = (uint8_t)(((qs[j] >> s2) & 3) | (((qh[j] >> ib) & 1) << 2));
            ks_lookup32(dst + ibl * QK_K + 32 * ib, dl, gf + ((extra >> (8 + ib)) & 1) * 8, l);
        }
    }
}

/* The same values as qtk_iq3_ks_to_float: fl(dl · g) with dl its float. */
void qtk_iq3_ks_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *p = (const uint8_t *)row;
    const float dr = qtk_fp16_to_fp32(rd_u16(p));
    p += 2;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 102) {
        const uint16_t extra = rd_u16(p);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((p[2 + ib % 4] >> (4 * (ib / 4))) & 0xF) | (((extra >> ib) & 1) << 4);
            d[ibl * 8 + ib] = dr * (float)(ls - 16);
            const int8_t *g = qtk_iq3nl_values + ((extra >> (8 + ib)) & 1) * 8;
            const uint8_t *qs = p + 6 + 32 * (ib / 4), *qh = p + 70;
            const int s2 = 2 * (ib % 4);
            int8_t *o = q + ibl * QK_K + 32 * ib;
            uint8_t l[32];
            for (int j = 0; j < 32; j++) l[j] = (uint8_t)(((qs[j] >> s2) & 3) | (((qh[j] >> ib) & 1) << 2));
            for (int j = 0; j < 32; j++) o[j] = g[l[j]];
        }
    }
}

size_t qtk_iq3_ks_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    return ks_quantize(&IQ3KS_DESC, pack_iq3_ks, 102, src, dst, nrows, n, imatrix, effort);
}

size_t qtk_iq3_ks_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq3_ks_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

void qtk_iq3_ks_from_float(const float *src, void *dst, int64_t n) {
    qtk_iq3_ks_quantize(src, dst, 1, n, NULL);
}

void qtk_iq3_ks_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const float d = qtk_fp16_to_fp32(rd_u16(p));
    p += 2;
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 102) {
        const uint16_t extra = rd_u16(p);
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((p[2 + ib % 4] >> (4 * (ib / 4))) & 0xF) | (((extra >> ib) & 1) << 4);
            const int8_t *g = qtk_iq3nl_values + ((extra >> (8 + ib)) & 1) * 8;
            const uint8_t *qs = p + 6 + 32 * (ib / 4), *qh = p + 70;
            const int8_t *a = y[ibl].qs + 32 * ib;
            int32_t sub = 0;
            for (int j = 0; j < 32; j++)
                sub += g[((qs[j] >> (2 * (ib % 4))) & 3) | (((qh[j] >> ib) & 1) << 2)] * a[j];
            isum += (ls - 16) * sub;
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}

/* ---- IQ2_KS ---------------------------------------------------------------- */

/* Deliberate deviation: without an imatrix the reference weighs by
 * 0.25·σ² + x²; here 0.5·σ² + x². The fast-path search optimises its weighted
 * objective better than the reference's slow path does, and under the
 * steeper weights that lets single heavy-tailed values pull whole rows off
 * in plain squared error (t3 inputs: +3.8% vs the reference); with the
 * flatter weights it is 10% below the reference instead. */
static const ks_desc IQ2KS_DESC = {qtk_iq2nl_values, 4, -1, KS_ROW_QX16, 1, 1.5f, QTK_KS_W_HSIGMA_X2};

static void pack_iq2_ks(uint8_t *blocks, int nsb, const int *S, const uint8_t *sh, const uint8_t *q) {
    for (int ib = 0; ib < nsb; ib++) {
        uint8_t *b = blocks + (size_t)(ib / 8) * 70;
        const int i = ib % 8;
        const int ls = S[ib] + 16;
        uint16_t extra = rd_u16(b);
        extra |= (uint16_t)((sh[ib] << i) | (((ls >> 4) & 1) << (8 + i)));
        memcpy(b, &extra, 2);
        b[2 + i / 2] |= (uint8_t)((ls & 0xF) << (4 * (i % 2)));
        for (int p = 0; p < 32; p++) b[6 + 32 * (i / 4) + p] |= (uint8_t)((q[32 * ib + p] & 3) << (2 * (i % 4)));
    }
}

size_t qtk_iq2_ks_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                int effort) {
    return ks_quantize(&IQ2KS_DESC, pack_iq2_ks, 70, src, dst, nrows, n, imatrix, effort);
}

size_t qtk_iq2_ks_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq2_ks_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

void qtk_iq2_ks_from_float(const float *src, void *dst, int64_t n) {
    qtk_iq2_ks_quantize(src, dst, 1, n, NULL);
}

void qtk_iq2_ks_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    const float d = qtk_fp16_to_fp32(rd_u16(p));
    p += 2;
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 70) {
        const uint16_t extra = rd_u16(p);
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((p[2 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((extra >> (8 + ib)) & 1) << 4);
            const int8_t *g = qtk_iq2nl_values + ((extra >> ib) & 1) * 4;
            const uint8_t *qs = p + 6 + 32 * (ib / 4);
            const int8_t *a = y[ibl].qs + 32 * ib;
            int32_t sub = 0;
            for (int j = 0; j < 32; j++) sub += g[(qs[j] >> (2 * (ib % 4))) & 3] * a[j];
            isum += (ls - 16) * sub;
        }
        sumf += y[ibl].d * (float)isum;
    }
    *s = d * sumf;
}

void qtk_iq2_ks_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    const float d = qtk_fp16_to_fp32(rd_u16(p));
    p += 2;
    float gf[8];
    uint8_t l[32];
    ks_grid_float(qtk_iq2nl_values, 8, gf);
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 70) {
        const uint16_t extra = rd_u16(p);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((p[2 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((extra >> (8 + ib)) & 1) << 4);
            const float dl = d * (float)(ls - 16);
            const uint8_t *qs = p + 6 + 32 * (ib / 4);
            const int s2 = 2 * (ib % 4);
            for (int j = 0; j < 32; j++) l[j] = (uint8_t)((qs[j] >> s2) & 3);
            ks_lookup32(dst + ibl * QK_K + 32 * ib, dl, gf + ((extra >> ib) & 1) * 4, l);
        }
    }
}

/* The same values as qtk_iq2_ks_to_float: fl(dl · g) with dl its float. */
void qtk_iq2_ks_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *p = (const uint8_t *)row;
    const float dr = qtk_fp16_to_fp32(rd_u16(p));
    p += 2;
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += 70) {
        const uint16_t extra = rd_u16(p);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((p[2 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((extra >> (8 + ib)) & 1) << 4);
            d[ibl * 8 + ib] = dr * (float)(ls - 16);
            const int8_t *g = qtk_iq2nl_values + ((extra >> ib) & 1) * 4;
            const uint8_t *qs = p + 6 + 32 * (ib / 4);
            const int s2 = 2 * (ib % 4);
            int8_t *o = q + ibl * QK_K + 32 * ib;
            uint8_t l[32];
            for (int j = 0; j < 32; j++) l[j] = (uint8_t)((qs[j] >> s2) & 3);
            for (int j = 0; j < 32; j++) o[j] = g[l[j]];
        }
    }
}
