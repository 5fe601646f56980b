/*
 * iq_mainline_quant.c — quantizers of the mainline lattice i-quants
 * (FORMATS-MAINLINE-IQ §1, METHODS.md): per sub-block a sweep of trial
 * scales, each projecting the groups (octets / quads) of |x| onto the grid
 * through the grid-neighbour maps, the best weighted least-squares fit kept;
 * then the super-block scale and 4-bit sub-block codes.
 *
 * Beyond the reference: once the stored fp16 d is known, each sub-block code
 * is tried at ±1 and every group re-chosen among its grid point and the
 * neighbour list of its rounded point (IQ1: both δ signs too), in the
 * quantizer's own model — idealised values 2l+1 at the unfudged scale
 * d/fudge — so the reference's deliberate magnitude boost (warped grids,
 * fudge factors; better perplexity than least squares) is kept. Without an
 * imatrix this step measures plain squared error. (Re-choosing with the
 * decoder's true values at the stored scale lowers the weight error more but
 * raised the fixture's KLD above the reference's; see docs/types.md.)
 *
 * The maps (map[u] = grid index or −(offset of a neighbour list)−1) are
 * built on first use, once per grid, under qtk_call_once.
 */
#include "iq_mainline.h"
#include "../core/threadpool.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* Least-squares refits of the stored d after the reference's choice (0 = keep
 * the reference's d, fudge factor included: the fudged d measured better in
 * perplexity/KLD than the least-squares one, which minimises weight error). */
#ifndef IQM_REFIT_ITERS
#define IQM_REFIT_ITERS 0
#endif

/* ---- lattices and their neighbour maps ------------------------------------ */

typedef struct {
    int W;                 /* weights per group: 8 or 4 */
    int bits;              /* bits per level in a code: 2 or 3 */
    int ngrid;
    int nwant;
    int32_t *map;          /* [1 << (W·bits)] */
    uint16_t *nb;          /* neighbour lists [count, idx...] back to back */
    uint8_t *lev;          /* [ngrid][W] levels of each entry */
    float *val;            /* [ngrid][W] decoded magnitudes / type unit (IQ2, IQ3 grids) */
    int ok;
} iqm_lattice;

enum { LAT_IQ2XXS, LAT_IQ2XS, LAT_IQ2S, LAT_IQ3XXS, LAT_IQ3S, LAT_IQ1S, LAT_COUNT };
static iqm_lattice g_lat[LAT_COUNT];

/* Byte k of grid entry n as an unsigned level index. */
static int grid_level(int which, int n, int k) {
    switch (which) {
    case LAT_IQ2XXS: case LAT_IQ2XS: case LAT_IQ2S: {
        const uint64_t g = which == LAT_IQ2XXS ? qtk_iq2xxs_grid[n] : which == LAT_IQ2XS ? qtk_iq2xs_grid[n] : qtk_iq2s_grid[n];
        const int b = (int)((g >> 8 * k) & 0xFF);
        return b == 8 ? 0 : b == 25 ? 1 : 2;
    }
    case LAT_IQ3XXS: {
        const int b = (int)((qtk_iq3xxs_grid[n] >> 8 * k) & 0xFF);
        return b == 62 ? 7 : (b - 4) / 8;
    }
    case LAT_IQ3S: return (int)(((qtk_iq3s_grid[n] >> 8 * k) & 0xFF) - 1) / 2;
    default: return (int)(int8_t)((qtk_iq1s_grid[n] >> 8 * k) & 0xFF) + 1;
    }
}

typedef struct { int d2; } nb_cand;

/* full = 0: lists for the codes the quantizers can form (levels < L);
 * full = 1: for every code below ggml's kmap_size, exactly its layout (tests). */
static void lattice_build_into(int which, int full, iqm_lattice *lt, size_t *n_map, size_t *n_nb) {
    static const int ngrid[LAT_COUNT] = {256, 512, 1024, 256, 512, 2048};
    static const int nwant[LAT_COUNT] = {2, 2, 1, 2, 3, 3};
    lt->W = which == LAT_IQ3XXS || which == LAT_IQ3S ? 4 : 8;
    lt->bits = lt->W == 4 ? 3 : 2;
    lt->ngrid = ngrid[which];
    lt->nwant = nwant[which];
    const int L = lt->W == 4 ? 8 : 3, W = lt->W;
    const size_t ncode = full && W == 8 ? 43692 : (size_t)1 << (W * lt->bits);
    lt->map = (int32_t *)malloc(ncode * sizeof(int32_t));
    lt->lev = (uint8_t *)malloc((size_t)lt->ngrid * (size_t)W);
    lt->val = (float *)malloc((size_t)lt->ngrid * (size_t)W * sizeof(float));
    nb_cand *cand = (nb_cand *)malloc((size_t)lt->ngrid * sizeof(nb_cand));
    size_t cap = 1 << 16, used = 0;
    lt->nb = (uint16_t *)malloc(cap * sizeof(uint16_t));
    if (!lt->map || !lt->lev || !lt->val || !cand || !lt->nb) goto fail;
    for (size_t u = 0; u < ncode; u++) lt->map[u] = INT32_MIN;  /* codes with a level ≥ L: never used */
    for (int n = 0; n < lt->ngrid; n++) {
        int u = 0;
        for (int k = 0; k < W; k++) {
            lt->lev[n * W + k] = (uint8_t)grid_level(which, n, k);
            u |= lt->lev[n * W + k] << (lt->bits * k);
            const uint64_t g = which == LAT_IQ2XXS ? qtk_iq2xxs_grid[n] : which == LAT_IQ2XS ? qtk_iq2xs_grid[n]
                               : which == LAT_IQ2S ? qtk_iq2s_grid[n] : which == LAT_IQ3XXS ? qtk_iq3xxs_grid[n]
                               : which == LAT_IQ3S ? qtk_iq3s_grid[n] : 0;
            const float unit = W == 8 ? 8.0f : which == LAT_IQ3XXS ? 4.0f : 1.0f;
            /* the quantizer's idealised value 2l+1 (the decoder's bytes, /unit, are
             * slightly larger: 25/8, 43/8, 62/4; see refine()) */
            (void)g;
            (void)unit;
            lt->val[n * W + k] = (float)(2 * lt->lev[n * W + k] + 1);
        }
        lt->map[u] = n;
    }
    for (size_t u = 0; u < ncode; u++) {
        if (lt->map[u] != INT32_MIN) continue;
        int l[8], valid = 1;
        for (int k = 0; k < W; k++) {
            l[k] = (int)(u >> (lt->bits * k)) & ((1 << lt->bits) - 1);
            if (l[k] >= L && !full) valid = 0;
        }
        if (!valid) continue;
        /* distances are small integers: the nwant smallest distinct ones from a
         * histogram, then the entries at those distances in (distance, index) order */
        int hist[1024];
        memset(hist, 0, sizeof hist);
        for (int n = 0; n < lt->ngrid; n++) {
            int d2 = 0;
            for (int k = 0; k < W; k++) {
                const int e = 2 * (l[k] - lt->lev[n * W + k]);
                d2 += e * e;
            }
            cand[n].d2 = d2;
            hist[d2]++;
        }
        int dist[8], nd = 0, cnt = 0;
        for (int v = 0; v < 1024 && nd < lt->nwant; v++)
            if (hist[v]) dist[nd++] = v, cnt += hist[v];
        if (used + (size_t)cnt + 1 > cap) {
            while (used + (size_t)cnt + 1 > cap) cap *= 2;
            uint16_t *p = (uint16_t *)realloc(lt->nb, cap * sizeof(uint16_t));
            if (!p) goto fail;
            lt->nb = p;
        }
        lt->map[u] = -(int32_t)used - 1;
        lt->nb[used++] = (uint16_t)cnt;
        for (int j = 0; j < nd; j++)
            for (int n = 0; n < lt->ngrid; n++)
                if (cand[n].d2 == dist[j]) lt->nb[used++] = (uint16_t)n;
    }
    free(cand);
    lt->ok = 1;
    if (n_map) *n_map = ncode;
    if (n_nb) *n_nb = used;
    return;
fail:
    free(cand);
    lt->ok = 0;
}

static void lattice_build(int which) { lattice_build_into(which, 0, &g_lat[which], NULL, NULL); }

int qtk_iqm_reference_tables(int grid, int32_t **map, size_t *n_map, uint16_t **nb, size_t *n_nb) {
    if (grid < 0 || grid >= LAT_COUNT) return -1;
    iqm_lattice lt;
    memset(&lt, 0, sizeof lt);
    lattice_build_into(grid, 1, &lt, n_map, n_nb);
    free(lt.lev);
    free(lt.val);
    if (!lt.ok) {
        free(lt.map);
        free(lt.nb);
        return -1;
    }
    *map = lt.map;
    *nb = lt.nb;
    return 0;
}

static void build_iq2xxs(void) { lattice_build(LAT_IQ2XXS); }
static void build_iq2xs(void) { lattice_build(LAT_IQ2XS); }
static void build_iq2s(void) { lattice_build(LAT_IQ2S); }
static void build_iq3xxs(void) { lattice_build(LAT_IQ3XXS); }
static void build_iq3s(void) { lattice_build(LAT_IQ3S); }
static void build_iq1s(void) { lattice_build(LAT_IQ1S); }
static qtk_once g_once[LAT_COUNT] = {QTK_ONCE_INIT, QTK_ONCE_INIT, QTK_ONCE_INIT,
                                     QTK_ONCE_INIT, QTK_ONCE_INIT, QTK_ONCE_INIT};
static void (*const g_build[LAT_COUNT])(void) = {build_iq2xxs, build_iq2xs, build_iq2s,
                                                 build_iq3xxs, build_iq3s, build_iq1s};

static const iqm_lattice *lattice_get(int which) {
    qtk_call_once(&g_once[which], g_build[which]);
    return g_lat[which].ok ? &g_lat[which] : NULL;
}

/* ---- projection of one group ------------------------------------------------ */

/*
 * Levels l = clamp(round(0.5(id·x − 1)), 0, L−1) of one group of W targets;
 * on the grid: that point; else the neighbour minimising Σ waux·(scale·(2l'+1) − x)².
 * Writes the levels to Lv, returns the grid index; *on tells which case.
 */
static int project(const iqm_lattice *lt, const float *xv, const float *waux, float id, float scale, int8_t *Lv,
                   int *on) {
    const int W = lt->W, L = W == 4 ? 8 : 3;
    int u = 0;
    for (int i = 0; i < W; i++) {
        int l = qtk_nearest_int(0.5f * (id * xv[i] - 1.0f));
        l = l < 0 ? 0 : l > L - 1 ? L - 1 : l;
        Lv[i] = (int8_t)l;
        u |= l << (lt->bits * i);
    }
    const int32_t gi = lt->map[u];
    if (gi >= 0) {
        *on = 1;
        return gi;
    }
    *on = 0;
    const uint16_t *nb = lt->nb + (-gi - 1);
    float best = FLT_MAX;
    int bi = nb[1];
    for (int j = 1; j <= nb[0]; j++) {
        const uint8_t *lv = lt->lev + (size_t)nb[j] * (size_t)W;
        float d2 = 0.0f;
        for (int i = 0; i < W; i++) {
            const float diff = scale * (float)(2 * lv[i] + 1) - xv[i];
            d2 += waux[i] * diff * diff;
        }
        if (d2 < best) {
            best = d2;
            bi = nb[j];
        }
    }
    const uint8_t *lv = lt->lev + (size_t)bi * (size_t)W;
    for (int i = 0; i < W; i++) Lv[i] = (int8_t)lv[i];
    return bi;
}

/*
 * The reference's sub-block search (§1.5): trial inverse scales
 * id = (2L−1 + k·step)/m, k = −nk…nk, projecting every group; the best
 * (Σwxq)²/Σwq² kept; then off-grid groups (all groups with reproj_all)
 * re-projected at the best scale and the scale refitted. Returns the scale,
 * levels in Lv[bs], grid indices in gi[bs/W].
 */
typedef struct {
    int bs, nk, reproj_all;
    float step;
} search_par;

static float sub_search(const iqm_lattice *lt, const search_par *sp, const float *xv, const float *w,
                        const float *waux, float m, float scale0, int8_t *Lv, int *gi) {
    const int W = lt->W, ng = sp->bs / W, L = W == 4 ? 8 : 3;
    int8_t La[32];
    int ga[8], on[8], ona[8];
    float best = 0.0f, scale = scale0;
    for (int k = 0; k < ng; k++) on[k] = 1, gi[k] = 0;
    memset(Lv, 0, (size_t)sp->bs);
    for (int is = -sp->nk; is <= sp->nk; is++) {
        const float id = ((float)(2 * L - 1) + (float)is * sp->step) / m;
        const float ts = 1.0f / id;
        for (int k = 0; k < ng; k++) ga[k] = project(lt, xv + W * k, waux + W * k, id, ts, La + W * k, &ona[k]);
        float sumqx = 0.0f, sumq2 = 0.0f;
        for (int i = 0; i < sp->bs; i++) {
            const float q = (float)(2 * La[i] + 1);
            sumqx += w[i] * xv[i] * q;
            sumq2 += w[i] * q * q;
        }
        if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            memcpy(Lv, La, (size_t)sp->bs);
            memcpy(gi, ga, sizeof(int) * (size_t)ng);
            memcpy(on, ona, sizeof(int) * (size_t)ng);
        }
    }
    if (sp->reproj_all == 2) {
        /* ik's IQ2_XS: up to 3 rounds re-projecting every group at the current scale,
         * kept while the score improves and some index changes */
        for (int round = 0; round < 3 && scale > 0.0f; round++) {
            const float id = 1.0f / scale;
            int changed = 0;
            for (int k = 0; k < ng; k++) {
                ga[k] = project(lt, xv + W * k, waux + W * k, id, scale, La + W * k, &ona[k]);
                changed += ga[k] != gi[k];
            }
            if (!changed) break;
            float sumqx = 0.0f, sumq2 = 0.0f;
            for (int i = 0; i < sp->bs; i++) {
                const float q = (float)(2 * La[i] + 1);
                sumqx += w[i] * xv[i] * q;
                sumq2 += w[i] * q * q;
            }
            if (!(sumq2 > 0.0f && sumqx * sumqx > best * sumq2)) break;
            scale = sumqx / sumq2;
            best = scale * sumqx;
            memcpy(Lv, La, (size_t)sp->bs);
            memcpy(gi, ga, sizeof(int) * (size_t)ng);
            memcpy(on, ona, sizeof(int) * (size_t)ng);
        }
        return scale;
    }
    int off = 0;
    for (int k = 0; k < ng; k++) off += !on[k];
    if (off && scale > 0.0f) {
        const float id = 1.0f / scale;
        for (int k = 0; k < ng; k++) {
            if (on[k] && !sp->reproj_all) continue;
            int o;
            gi[k] = project(lt, xv + W * k, waux + W * k, id, scale, Lv + W * k, &o);
        }
        float sumqx = 0.0f, sumq2 = 0.0f;
        for (int i = 0; i < sp->bs; i++) {
            const float q = (float)(2 * Lv[i] + 1);
            sumqx += w[i] * xv[i] * q;
            sumq2 += w[i] * q * q;
        }
        if (sumq2 > 0.0f) scale = sumqx / sumq2;
    }
    return scale;
}

/* make_qp_quants: weighted fit of x ≥ 0 on integer levels 0…nmax (k-quants). */
static float make_qp(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float max = 0.0f;
    for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    if (!(max > 0.0f)) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)nmax / max;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)qtk_nearest_int(iscale * x[i]);
    float scale = 1.0f / iscale, best_mse = 0.0f;
    for (int i = 0; i < n; i++) {
        const float diff = x[i] - scale * (float)L[i];
        best_mse += w[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        const float iscale_is = (0.1f * (float)is + (float)nmax) / max, scale_is = 1.0f / iscale_is;
        float mse = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = qtk_nearest_int(iscale_is * x[i]);
            l = l > nmax ? nmax : l;
            const float diff = x[i] - scale_is * (float)l;
            mse += w[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = qtk_nearest_int(iscale * x[i]);
        l = l > nmax ? nmax : l;
        L[i] = (uint8_t)l;
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)(l * l);
    }
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float slx = sumlx - w[i] * x[i] * (float)L[i];
            float sl2 = suml2 - w[i] * (float)(L[i] * L[i]);
            if (slx > 0.0f && sl2 > 0.0f) {
                int nl = qtk_nearest_int(x[i] * sl2 / slx);
                nl = nl > nmax ? nmax : nl;
                if (nl != L[i]) {
                    slx += w[i] * x[i] * (float)nl;
                    sl2 += w[i] * (float)(nl * nl);
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ---- shared super-block machinery --------------------------------------------- */

/* Per type: how the stored bytes decode (true grid values) and the layout. */
typedef enum { T_IQ2XXS, T_IQ2XS, T_IQ2S, T_IQ3XXS, T_IQ3S } iqm_kind;

typedef struct {
    iqm_kind kind;
    int lat;            /* lattice id */
    int bs;             /* sub-block size */
    int parity;         /* parity-coded signs (7 bits per octet) */
    float eps;          /* sub-block treated as zero when max < eps (0: when max == 0) */
    float fudge;        /* stored d = fudge · max_scale/31 */
    float unit;         /* true value = table byte / unit (8, 4, 1) */
    int sigma_num;      /* σ² = sigma_num·Σx²/256 with imatrix */
    int noim_mode;      /* 0: x², 1: 0.25σ²+x² (σ² as with imatrix, from the same sum) */
    search_par sp;
    int qp_start;       /* IQ2_XXS: make_qp_quants start, m = 3·scale */
} iqm_spec;

/* True magnitude of weight i of group entry n of a type's table, in quantizer units. */
static inline float true_val(const iqm_spec *t, int n, int i) {
    const iqm_lattice *lt = &g_lat[t->lat];
    return lt->val[n * lt->W + i];
}

/* Σ w (x − s·v)² of one group for entry n. */
static float group_err(const iqm_spec *t, int W, int n, const float *xv, const float *w, float s) {
    float e = 0.0f;
    for (int i = 0; i < W; i++) {
        const float d = xv[i] - s * true_val(t, n, i);
        e += w[i] * d * d;
    }
    return e;
}

/* Re-chooses one group's grid point for the decoded scale s (see the file comment). */
static int regroup(const iqm_spec *t, const iqm_lattice *lt, const float *xv, const float *w, float s, int cur) {
    const int W = lt->W, L = W == 4 ? 8 : 3;
    if (!(s > 0.0f)) return cur;
    int best = cur;
    float be = group_err(t, W, cur, xv, w, s);
    const float id = 1.0f / s;
    int u = 0;
    for (int i = 0; i < W; i++) {
        int l = qtk_nearest_int(0.5f * (id * xv[i] - 1.0f));
        l = l < 0 ? 0 : l > L - 1 ? L - 1 : l;
        u |= l << (lt->bits * i);
    }
    const int32_t gi = lt->map[u];
    if (gi >= 0) {
        const float e = group_err(t, W, gi, xv, w, s);
        if (e < be) be = e, best = gi;
    } else {
        const uint16_t *nb = lt->nb + (-gi - 1);
        for (int j = 1; j <= nb[0]; j++) {
            const float e = group_err(t, W, nb[j], xv, w, s);
            if (e < be) be = e, best = nb[j];
        }
    }
    return best;
}

/* Writes one super-block of kind t from its grid indices, sign bytes and codes. */
static void pack_block(const iqm_spec *t, uint8_t *y, uint16_t dh, const int *gidx, const uint8_t *signs,
                       const int *codes) {
    switch (t->kind) {
    case T_IQ2XXS:
        memcpy(y, &dh, 2);
        for (int ib = 0; ib < 8; ib++) {
            uint8_t *r = y + 2 + 8 * ib;
            uint32_t a = 0;
            for (int k = 0; k < 4; k++) {
                r[k] = (uint8_t)gidx[4 * ib + k];
                a |= (uint32_t)(signs[4 * ib + k] & 127) << (7 * k);
            }
            a |= (uint32_t)codes[ib] << 28;
            memcpy(r + 4, &a, 4);
        }
        break;
    case T_IQ2XS:
        memcpy(y, &dh, 2);
        for (int G = 0; G < 32; G++) {
            const uint16_t q = (uint16_t)(gidx[G] | ((signs[G] & 127) << 9));
            memcpy(y + 2 + 2 * G, &q, 2);
        }
        for (int i = 0; i < 8; i++) y[66 + i] = (uint8_t)(codes[2 * i] | (codes[2 * i + 1] << 4));
        break;
    case T_IQ2S:
        memcpy(y, &dh, 2);
        memset(y + 66, 0, 8);
        for (int G = 0; G < 32; G++) {
            y[2 + G] = (uint8_t)(gidx[G] & 255);
            y[34 + G] = signs[G];
            y[66 + G / 4] |= (uint8_t)((gidx[G] >> 8) << 2 * (G % 4));
        }
        for (int i = 0; i < 8; i++) y[74 + i] = (uint8_t)(codes[2 * i] | (codes[2 * i + 1] << 4));
        break;
    case T_IQ3XXS:
        memcpy(y, &dh, 2);
        for (int Q = 0; Q < 64; Q++) y[2 + Q] = (uint8_t)gidx[Q];
        for (int ib = 0; ib < 8; ib++) {
            uint32_t a = 0;
            for (int k = 0; k < 4; k++) a |= (uint32_t)(signs[4 * ib + k] & 127) << (7 * k);
            a |= (uint32_t)codes[ib] << 28;
            memcpy(y + 66 + 4 * ib, &a, 4);
        }
        break;
    case T_IQ3S:
        memcpy(y, &dh, 2);
        memset(y + 66, 0, 8);
        for (int Q = 0; Q < 64; Q++) {
            y[2 + Q] = (uint8_t)(gidx[Q] & 255);
            y[66 + Q / 8] |= (uint8_t)((gidx[Q] >> 8) << (Q % 8));
        }
        for (int G = 0; G < 32; G++) y[74 + G] = signs[G];
        for (int i = 0; i < 4; i++) y[106 + i] = (uint8_t)(codes[2 * i] | (codes[2 * i + 1] << 4));
        break;
    }
}

static size_t block_bytes(const iqm_spec *t) {
    switch (t->kind) {
    case T_IQ2XXS: return IQ2XXS_BYTES;
    case T_IQ2XS: return IQ2XS_BYTES;
    case T_IQ2S: return IQ2S_BYTES;
    case T_IQ3XXS: return IQ3XXS_BYTES;
    default: return IQ3S_BYTES;
    }
}

/* fp16 of a scale, saturated to the largest finite half. */
static uint16_t fp16_sat(float d) {
    if (d > 65504.0f) d = 65504.0f;
    return qtk_fp32_to_fp16(d);
}

/*
 * For the decoded super-block scale d16: per sub-block, the code among
 * c−1, c, c+1 whose re-chosen groups give the least error (zero sub-blocks
 * keep theirs). Returns the super-block's total error; we = NULL: unweighted.
 */
static float refine(const iqm_spec *t, const iqm_lattice *lt, const float *xv, const float *we, const float *ones,
                    const float *scales, float d16, int *codes, int *gidx) {
    const int bs = t->bs, nsb = QK_K / bs, W = lt->W, ngs = bs / W;
    float total = 0.0f;
    for (int ib = 0; ib < nsb; ib++) {
        int bestc = codes[ib], bg[8];
        memcpy(bg, gidx + ngs * ib, sizeof(int) * (size_t)ngs);
        float be = FLT_MAX;
        const int c0 = codes[ib];
        const int span = 1;
        for (int c = c0 - span; c <= c0 + span; c++) {
            if (c < 0 || c > 15 || (scales[ib] == 0.0f && c != c0)) continue;
            const float sc = d16 * (float)(2 * c + 1);
            int g[8];
            float e = 0.0f;
            for (int k = 0; k < ngs; k++) {
                const int o = bs * ib + W * k;
                const float *w = we ? we + o : ones;
                g[k] = scales[ib] == 0.0f ? gidx[ngs * ib + k] : regroup(t, lt, xv + o, w, sc, gidx[ngs * ib + k]);
                e += group_err(t, W, g[k], xv + o, w, sc);
            }
            if (e < be) {
                be = e;
                bestc = c;
                memcpy(bg, g, sizeof(int) * (size_t)ngs);
            }
        }
        codes[ib] = bestc;
        memcpy(gidx + ngs * ib, bg, sizeof(int) * (size_t)ngs);
        total += be;
    }
    return total;
}

/* One super-block of 256 weights. */
/* fast (effort fast): the reference's choice alone, without the refinement below. */
static void quant_superblock_n(const iqm_spec *t, const iqm_lattice *lt, const float *x, const float *qw, uint8_t *y,
                               float sc, int fast) {
    const int bs = t->bs, nsb = QK_K / bs, W = lt->W, ngs = bs / W;
    float xv[QK_K], wt[QK_K], waux[QK_K], scales[16];
    int8_t Lv[32];
    int gidx[64], codes[16];
    uint8_t signs[32];
    float sumx2 = 0.0f;
    for (int i = 0; i < QK_K; i++) sumx2 += x[i] * x[i];
    const float sigma2 = (float)t->sigma_num * sumx2 / QK_K;
    float max_scale = 0.0f;
    for (int ib = 0; ib < nsb; ib++) {
        const float *xb = x + bs * ib;
        float *w = wt + bs * ib, *xvb = xv + bs * ib, *wa = waux + bs * ib;
        if (qw) {
            for (int i = 0; i < bs; i++) w[i] = qw[bs * ib + i] * sqrtf(sigma2 + xb[i] * xb[i]);
        } else if (t->noim_mode) {
            for (int i = 0; i < bs; i++) w[i] = 0.25f * sigma2 + xb[i] * xb[i];
        } else {
            for (int i = 0; i < bs; i++) w[i] = xb[i] * xb[i];
        }
        for (int i = 0; i < bs; i++) wa[i] = sqrtf(w[i]);
        for (int k = 0; k < bs / 8; k++) {
            uint8_t s = 0;
            int nflip = 0;
            for (int i = 0; i < 8; i++) {
                if (xb[8 * k + i] >= 0.0f) {
                    xvb[8 * k + i] = xb[8 * k + i];
                } else {
                    xvb[8 * k + i] = -xb[8 * k + i];
                    nflip++;
                    s |= (uint8_t)(1u << i);
                }
            }
            if (t->parity && (nflip & 1)) {
                int imin = 0;
                float mn = w[8 * k] * xb[8 * k] * xb[8 * k];
                for (int i = 1; i < 8; i++) {
                    const float ax = w[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                    if (ax < mn) mn = ax, imin = i;
                }
                xvb[8 * k + imin] = -xvb[8 * k + imin];
                s ^= (uint8_t)(1u << imin);
            }
            signs[bs / 8 * ib + k] = s;
        }
        float max = xvb[0];
        for (int i = 1; i < bs; i++) max = xvb[i] > max ? xvb[i] : max;
        int *g = gidx + ngs * ib;
        if (t->eps > 0.0f ? max < t->eps : !(max > 0.0f)) {
            scales[ib] = 0.0f;
            for (int k = 0; k < ngs; k++) g[k] = 0;
            for (int k = 0; k < bs / 8; k++) signs[bs / 8 * ib + k] = 0;
            continue;
        }
        float m = max, scale0 = max / (float)(W == 4 ? 15 : 5);
        if (t->qp_start == 2) {
            /* ik's IQ2_XS start: the best split of the sorted targets into levels 1, 3, 5 */
            int idx[16];
            float sv[16], X[17], Wp[17];
            for (int j = 0; j < bs; j++) idx[j] = j, sv[j] = xvb[j];
            for (int a = 1; a < bs; a++) {
                const float v = sv[a];
                const int iv = idx[a];
                int b = a - 1;
                while (b >= 0 && sv[b] > v) sv[b + 1] = sv[b], idx[b + 1] = idx[b], b--;
                sv[b + 1] = v, idx[b + 1] = iv;
            }
            X[0] = Wp[0] = 0.0f;
            for (int j = 0; j < bs; j++) X[j + 1] = X[j] + w[idx[j]] * xvb[idx[j]], Wp[j + 1] = Wp[j] + w[idx[j]];
            float bsc = 0.0f, s = 0.0f;
            for (int i1 = 0; i1 <= bs; i1++)
                for (int i2 = i1; i2 <= bs; i2++) {
                    const float sx = X[i1] + 3.0f * (X[i2] - X[i1]) + 5.0f * (X[bs] - X[i2]);
                    const float s2 = Wp[i1] + 9.0f * (Wp[i2] - Wp[i1]) + 25.0f * (Wp[bs] - Wp[i2]);
                    if (s2 > 0.0f && sx * sx > bsc * s2) bsc = sx * sx / s2, s = sx / s2;
                }
            if (s > 0.0f) m = 5.0f * s, scale0 = s;
        } else if (t->qp_start) {
            uint8_t Lq[32];
            const float s = make_qp(bs, 4, xvb, Lq, w);
            m = 3.0f * s;
            scale0 = s;
            if (!(m > 0.0f)) m = max;  /* guard (mainline treats it as zero; ik divides by 0) */
        }
        float scale = sub_search(lt, &t->sp, xvb, w, wa, m, scale0, Lv, g);
        if (scale < 0.0f) {
            scale = -scale;
            for (int k = 0; k < bs / 8; k++) signs[bs / 8 * ib + k] = (uint8_t)~signs[bs / 8 * ib + k];
        }
        scales[ib] = scale;
        max_scale = scale > max_scale ? scale : max_scale;
    }
    if (!(max_scale > 0.0f)) {
        memset(y, 0, block_bytes(t));
        return;
    }
    const float d = max_scale / 31.0f, id = 1.0f / d;
    const uint16_t dh = fp16_sat(d * t->fudge / sc);
    const float d16 = qtk_fp16_to_fp32(dh) * sc;
    for (int ib = 0; ib < nsb; ib++) {
        int l = qtk_nearest_int(0.5f * (id * scales[ib] - 1.0f));
        codes[ib] = l < 0 ? 0 : l > 15 ? 15 : l;
    }
    /* beyond the reference: groups re-chosen for the decoded sub-block scale, by
     * the weighted error with an imatrix, the plain squared error without one;
     * each code tried at ±1; then d refitted by least squares while the error
     * under the stored fp16 d drops */
    static const float ones[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const float *we = qw ? wt : NULL;
    uint16_t dbest = dh;
    float ebest = fast ? 0.0f : refine(t, lt, xv, we, ones, scales, d16 / t->fudge, codes, gidx);
    for (int it = 0; !fast && it < IQM_REFIT_ITERS; it++) {
        double sxq = 0.0, sqq = 0.0;
        for (int ib = 0; ib < nsb; ib++) {
            const float m = (float)(2 * codes[ib] + 1);
            for (int k = 0; k < ngs; k++)
                for (int i = 0; i < W; i++) {
                    const int o = bs * ib + W * k + i;
                    const float q = m * true_val(t, gidx[ngs * ib + k], i), ww = we ? we[o] : 1.0f;
                    sxq += (double)(ww * xv[o] * q);
                    sqq += (double)(ww * q * q);
                }
        }
        if (!(sqq > 0.0)) break;
        const uint16_t dh2 = fp16_sat((float)(sxq / sqq) / sc);
        if (dh2 == dbest) break;
        int codes2[16], gidx2[64];
        memcpy(codes2, codes, sizeof codes2);
        memcpy(gidx2, gidx, sizeof gidx2);
        const float e2 = refine(t, lt, xv, we, ones, scales, qtk_fp16_to_fp32(dh2) * sc, codes2, gidx2);
        if (!(e2 < ebest)) break;
        ebest = e2;
        dbest = dh2;
        memcpy(codes, codes2, sizeof codes2);
        memcpy(gidx, gidx2, sizeof gidx2);
    }
    if (t->kind == T_IQ2XS) {
        /* ik's IQ2_XS ending: d = 1.05 × the least-squares scale of the decoded values */
        double a = 0.0, b = 0.0;
        for (int G = 0; G < 32; G++) {
            const float m = (float)(2 * codes[G / 2] + 1);
            for (int i = 0; i < 8; i++) {
                const float q = m * (float)((qtk_iq2xs_grid[gidx[G]] >> 8 * i) & 0xFF) / 8.0f;
                a += (double)(wt[8 * G + i] * xv[8 * G + i] * q);
                b += (double)(wt[8 * G + i] * q * q);
            }
        }
        if (a > 0.0 && b > 0.0) dbest = fp16_sat(1.05f * (float)(a / b) / sc);
    }
    pack_block(t, y, dbest, gidx, signs, codes);
}

/*
 * The searches run on the super-block scaled by a power of two to max|x| in
 * [0.5, 1) and on the imatrix scaled likewise (both exact; the decisions do
 * not depend on either scale), so sums of squares stay finite for any finite
 * input; sc is that factor, undone where d is stored.
 */
static float pow2_norm(const float *v, int n) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++) amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
    if (!(amax > 0.0f)) return 1.0f;
    int e;
    (void)frexpf(amax, &e);
    return ldexpf(1.0f, -(e < -126 ? -126 : e > 126 ? 126 : e));
}

static void normalize_block(const float *x, const float *qw, float *xs, float *qs, float *sc) {
    *sc = pow2_norm(x, QK_K);
    for (int i = 0; i < QK_K; i++) xs[i] = x[i] * *sc;
    if (qw) {
        const float sq = pow2_norm(qw, QK_K);
        for (int i = 0; i < QK_K; i++) qs[i] = qw[i] * sq;
    }
}

static void quant_superblock(const iqm_spec *t, const iqm_lattice *lt, const float *x, const float *qw, uint8_t *y,
                             int fast) {
    float xs[QK_K], qs[QK_K], sc;
    normalize_block(x, qw, xs, qs, &sc);
    quant_superblock_n(t, lt, xs, qw ? qs : NULL, y, sc, fast);
}

static size_t quantize_rows(const iqm_spec *t, const float *src, void *dst, int64_t nrows, int64_t n,
                            const float *imatrix, int effort) {
    const iqm_lattice *lt = lattice_get(t->lat);
    if (!lt) return 0;
    const size_t bb = block_bytes(t);
    uint8_t *out = (uint8_t *)dst;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, out += bb)
            quant_superblock(t, lt, src + r * n + ibl * QK_K, imatrix ? imatrix + ibl * QK_K : NULL, out,
                             effort == QTK_EFFORT_FAST);
    return (size_t)nrows * (size_t)(n / QK_K) * bb;
}

static const iqm_spec spec_iq3_s = {T_IQ3S, LAT_IQ3S, 32, 0, 0.0f, 1.033f, 1.0f, 2, 0, {32, 9, 1, 0.2f}, 0};
static const iqm_spec spec_iq3_xxs = {T_IQ3XXS, LAT_IQ3XXS, 32, 1, 1e-8f, 1.0125f, 4.0f, 2, 0, {32, 15, 0, 0.2f}, 0};
static const iqm_spec spec_iq2_s = {T_IQ2S, LAT_IQ2S, 16, 0, 1e-8f, 0.9875f, 8.0f, 2, 1, {16, 9, 0, 0.1f}, 0};
static const iqm_spec spec_iq2_xs = {T_IQ2XS, LAT_IQ2XS, 16, 1, 1e-15f, 1.0f, 8.0f, 1, 1, {16, 7, 2, 0.1f}, 2};
static const iqm_spec spec_iq2_xxs = {T_IQ2XXS, LAT_IQ2XXS, 32, 1, 1e-15f, 1.0f, 8.0f, 1, 1, {32, 6, 0, 0.1f}, 1};

size_t qtk_iq3_s_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort) {
    return quantize_rows(&spec_iq3_s, src, dst, nrows, n, imatrix, effort);
}
size_t qtk_iq3_s_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq3_s_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}
size_t qtk_iq3_xxs_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort) {
    return quantize_rows(&spec_iq3_xxs, src, dst, nrows, n, imatrix, effort);
}
size_t qtk_iq3_xxs_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq3_xxs_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}
size_t qtk_iq2_s_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort) {
    return quantize_rows(&spec_iq2_s, src, dst, nrows, n, imatrix, effort);
}
size_t qtk_iq2_s_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq2_s_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}
size_t qtk_iq2_xxs_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort) {
    return quantize_rows(&spec_iq2_xxs, src, dst, nrows, n, imatrix, effort);
}
size_t qtk_iq2_xxs_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq2_xxs_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}
size_t qtk_iq2_xs_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                              int effort) {
    return quantize_rows(&spec_iq2_xs, src, dst, nrows, n, imatrix, effort);
}
size_t qtk_iq2_xs_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq2_xs_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}

/* ---- IQ1_S / IQ1_M ------------------------------------------------------------- */

#define IQ1_DELTA 0.125f
static const float iq1_xp[3] = {-1.0f + IQ1_DELTA, IQ1_DELTA, 1.0f + IQ1_DELTA};
static const float iq1_xm[3] = {-1.0f - IQ1_DELTA, -IQ1_DELTA, 1.0f - IQ1_DELTA};

/* Σ w (x − s·xx[level])² of one octet for grid entry n. */
static float iq1_err(const iqm_lattice *lt, int n, const float *x, const float *w, float s, const float *xx) {
    const uint8_t *lv = lt->lev + (size_t)n * 8;
    float e = 0.0f;
    for (int i = 0; i < 8; i++) {
        const float d = x[i] - s * xx[lv[i]];
        e += w[i] * d * d;
    }
    return e;
}

/* Grid point of an octet with levels L (on the grid, or the best neighbour
 * at scale s with values xx); L updated to the chosen point's levels. */
static int iq1_project(const iqm_lattice *lt, const float *x, const float *w, float s, const float *xx, int8_t *L,
                       int *on) {
    int u = 0;
    for (int i = 0; i < 8; i++) u |= L[i] << (2 * i);
    const int32_t gi = lt->map[u];
    if (gi >= 0) {
        *on = 1;
        return gi;
    }
    *on = 0;
    const uint16_t *nb = lt->nb + (-gi - 1);
    float best = FLT_MAX;
    int bi = nb[1];
    for (int j = 1; j <= nb[0]; j++) {
        const float e = iq1_err(lt, nb[j], x, w, s, xx);
        if (e < best) best = e, bi = nb[j];
    }
    for (int i = 0; i < 8; i++) L[i] = (int8_t)lt->lev[(size_t)bi * 8 + i];
    return bi;
}

/* Re-chosen grid point of an octet for decoded scale s and values xx (current one kept unless beaten). */
static int iq1_regroup(const iqm_lattice *lt, const float *x, const float *w, float s, const float *xx, int cur,
                       float *err) {
    float be = iq1_err(lt, cur, x, w, s, xx);
    int best = cur;
    if (s > 0.0f) {
        int8_t L[8];
        for (int i = 0; i < 8; i++) {
            /* nearest of the three values s·xx[l] */
            const float t = x[i] / s;
            int l = t < 0.5f * (xx[0] + xx[1]) ? 0 : t < 0.5f * (xx[1] + xx[2]) ? 1 : 2;
            L[i] = (int8_t)l;
        }
        int on;
        const int g = iq1_project(lt, x, w, s, xx, L, &on);
        const float e = iq1_err(lt, g, x, w, s, xx);
        if (e < be) be = e, best = g;
    }
    *err = be;
    return best;
}

/*
 * Exhaustive split of one sub-block (§7.1/§8.1): sorted x, every pair of
 * split points (levels 0,1,2 = −1,0,+1), every shift choice (per sub-block
 * for IQ1_S: nsh = 1; per octet for IQ1_M: nsh = 2), best (Σwxq)²/Σwq².
 * Then the octets go to the grid and, if one was off it, the scale and the
 * shifts are refitted. Returns the scale (≥ 0), grid indices, shift bits
 * (bit k set = octet k uses x_m).
 */
static float iq1_sub(const iqm_lattice *lt, int bs, int per_octet, const float *xb, const float *w, int *gidx,
                     int *shift_bits) {
    int idx[32];
    float sv[32];
    for (int j = 0; j < bs; j++) idx[j] = j, sv[j] = xb[j];
    for (int a = 1; a < bs; a++) { /* insertion sort, stable */
        const float v = sv[a];
        const int iv = idx[a];
        int b = a - 1;
        while (b >= 0 && sv[b] > v) sv[b + 1] = sv[b], idx[b + 1] = idx[b], b--;
        sv[b + 1] = v, idx[b + 1] = iv;
    }
    const int noct = bs / 8, ncomb = per_octet ? 1 << noct : 2;
    /* prefix sums over the sorted order, per octet: sx[k][j] = Σ_{sorted pos < j, in octet k} w·x */
    float sx[4][33], sw[4][33];
    for (int k = 0; k < noct; k++) sx[k][0] = sw[k][0] = 0.0f;
    for (int j = 0; j < bs; j++) {
        const int i = idx[j];
        for (int k = 0; k < noct; k++) {
            const int in = i / 8 == k;
            sx[k][j + 1] = sx[k][j] + (in ? w[i] * xb[i] : 0.0f);
            sw[k][j + 1] = sw[k][j] + (in ? w[i] : 0.0f);
        }
    }
    int8_t Lb[32];
    float best = -FLT_MAX, scale = 0.0f;
    int bcomb = 0, b1 = 0, b2 = 0;
    for (int i1 = 0; i1 <= bs; i1++)
        for (int i2 = i1; i2 <= bs; i2++) {
            float sq[4][2], s2[4][2];
            for (int k = 0; k < noct; k++) {
                const float x0 = sx[k][i1], x1 = sx[k][i2] - sx[k][i1], x2 = sx[k][bs] - sx[k][i2];
                const float w0 = sw[k][i1], w1 = sw[k][i2] - sw[k][i1], w2 = sw[k][bs] - sw[k][i2];
                for (int h = 0; h < 2; h++) {
                    const float *xx = h ? iq1_xm : iq1_xp;
                    sq[k][h] = x0 * xx[0] + x1 * xx[1] + x2 * xx[2];
                    s2[k][h] = w0 * xx[0] * xx[0] + w1 * xx[1] * xx[1] + w2 * xx[2] * xx[2];
                }
            }
            for (int c = 0; c < ncomb; c++) {
                float a = 0.0f, b = 0.0f;
                for (int k = 0; k < noct; k++) {
                    const int h = per_octet ? (c >> k) & 1 : c;
                    a += sq[k][h], b += s2[k][h];
                }
                if (b > 0.0f && a * a > best * b) {
                    scale = a / b;
                    best = scale * a;
                    bcomb = c, b1 = i1, b2 = i2;
                }
            }
        }
    for (int j = 0; j < bs; j++) Lb[idx[j]] = (int8_t)(j < b1 ? 0 : j < b2 ? 1 : 2);
    int comb = bcomb;
    if (scale < 0.0f) { /* mirror levels and shifts */
        for (int j = 0; j < bs; j++) Lb[j] = (int8_t)(2 - Lb[j]);
        scale = -scale;
        comb = per_octet ? (~comb) & (ncomb - 1) : 1 - comb;
    }
    int all_on = 1;
    for (int k = 0; k < noct; k++) {
        const int h = per_octet ? (comb >> k) & 1 : comb;
        int on;
        gidx[k] = iq1_project(lt, xb + 8 * k, w + 8 * k, scale, h ? iq1_xm : iq1_xp, Lb + 8 * k, &on);
        all_on &= on;
    }
    if (!all_on) { /* refit scale and shifts for the grid points */
        float bb = -FLT_MAX, bs_ = scale;
        int bc = comb;
        for (int c = 0; c < ncomb; c++) {
            float a = 0.0f, b = 0.0f;
            for (int k = 0; k < noct; k++) {
                const float *xx = (per_octet ? (c >> k) & 1 : c) ? iq1_xm : iq1_xp;
                for (int i = 0; i < 8; i++) {
                    const float q = xx[lt->lev[(size_t)gidx[k] * 8 + i]];
                    a += w[8 * k + i] * q * xb[8 * k + i];
                    b += w[8 * k + i] * q * q;
                }
            }
            if (a > 0.0f && b > 0.0f && a * a > bb * b) bb = a * a / b, bs_ = a / b, bc = c;
        }
        scale = bs_, comb = bc;
    }
    *shift_bits = per_octet ? comb : (comb ? (1 << noct) - 1 : 0);
    return scale;
}

/*
 * IQ1 super-block refinement for the stored d16: per sub-block the code among
 * c−1…c+1, the shift(s) and the octets' grid points (current point or the
 * rounded point / its neighbours) with the least error. Returns the total.
 */
static float iq1_refine(const iqm_lattice *lt, int bs, int per_octet, const float *x, const float *w,
                        const float *scales, float d16, int *codes, int *gidx, int *shifts) {
    const int nsb = QK_K / bs, noct = bs / 8;
    float total = 0.0f;
    for (int ib = 0; ib < nsb; ib++) {
        if (scales[ib] == 0.0f) {
            for (int k = 0; k < noct; k++) {
                const int G = noct * ib + k;
                float e;
                (void)iq1_regroup(lt, x + 8 * G, w + 8 * G, 0.0f, (shifts[ib] >> k) & 1 ? iq1_xm : iq1_xp, gidx[G], &e);
                total += e;
            }
            continue;
        }
        float be = FLT_MAX;
        int bc = codes[ib], bsh = shifts[ib], bg[4];
        memcpy(bg, gidx + noct * ib, sizeof(int) * (size_t)noct);
        const int c0 = codes[ib];
        const int span = 1;
        for (int c = c0 - span; c <= c0 + span; c++) {
            if (c < 0 || c > 7) continue;
            const float s = d16 * (float)(2 * c + 1);
            float e_sub[2] = {0.0f, 0.0f};
            int g_sub[2][4];
            float e_oct[2][4];
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < noct; k++) {
                    const int G = noct * ib + k;
                    g_sub[h][k] = iq1_regroup(lt, x + 8 * G, w + 8 * G, s, h ? iq1_xm : iq1_xp, gidx[G], &e_oct[h][k]);
                    e_sub[h] += e_oct[h][k];
                }
            if (per_octet) {
                float e = 0.0f;
                int sh = 0, g[4];
                for (int k = 0; k < noct; k++) {
                    const int h = e_oct[1][k] < e_oct[0][k];
                    e += e_oct[h][k];
                    g[k] = g_sub[h][k];
                    sh |= h << k;
                }
                if (e < be) be = e, bc = c, bsh = sh, memcpy(bg, g, sizeof bg);
            } else {
                for (int h = 0; h < 2; h++)
                    if (e_sub[h] < be) be = e_sub[h], bc = c, bsh = h ? (1 << noct) - 1 : 0, memcpy(bg, g_sub[h], sizeof bg);
            }
        }
        codes[ib] = bc;
        shifts[ib] = bsh;
        memcpy(gidx + noct * ib, bg, sizeof(int) * (size_t)noct);
        total += be;
    }
    return total;
}

/* Σ w (x − d·(2c+1)·(g+δ))² of a super-block: the error of what is decoded. */
static float iq1_true_err(const iqm_lattice *lt, int bs, const float *x, const float *w, float d, const int *codes,
                          const int *gidx, const int *shifts) {
    const int noct = bs / 8;
    float e = 0.0f;
    for (int G = 0; G < 32; G++) {
        const int ib = G / noct, k = G % noct;
        const float *xx = (shifts[ib] >> k) & 1 ? iq1_xm : iq1_xp;
        e += iq1_err(lt, gidx[G], x + 8 * G, w + 8 * G, d * (float)(2 * codes[ib] + 1), xx);
    }
    return e;
}

/* LS scale d for fixed codes, shifts and grid points: Σ w x q / Σ w q² with q = (2c+1)(g+δ). */
static float iq1_fit_d(const iqm_lattice *lt, int bs, const float *x, const float *w, const int *codes,
                       const int *gidx, const int *shifts) {
    const int noct = bs / 8;
    double a = 0.0, b = 0.0;
    for (int G = 0; G < 32; G++) {
        const int ib = G / noct, k = G % noct;
        const float *xx = (shifts[ib] >> k) & 1 ? iq1_xm : iq1_xp;
        const float m = (float)(2 * codes[ib] + 1);
        for (int i = 0; i < 8; i++) {
            const float q = m * xx[lt->lev[(size_t)gidx[G] * 8 + i]];
            a += (double)(w[8 * G + i] * x[8 * G + i] * q);
            b += (double)(w[8 * G + i] * q * q);
        }
    }
    return b > 0.0 ? (float)(a / b) : 0.0f;
}

/* One IQ1_S (m = 0) or IQ1_M (m = 1) super-block. */
/* fast (effort fast): the reference's choice alone, without the refinement below. */
static void iq1_superblock_n(const iqm_lattice *lt, int m, const float *x, const float *qw, uint8_t *y, float sc,
                             int fast) {
    const int bs = m ? 16 : 32, nsb = QK_K / bs, noct = bs / 8;
    float w[QK_K], scales[16];
    int gidx[32], codes[16], shifts[16];
    if (!m) {
        float sumx2 = 0.0f;
        for (int i = 0; i < QK_K; i++) sumx2 += x[i] * x[i];
        const float sigma2 = 2.0f * sumx2 / QK_K;
        for (int i = 0; i < QK_K; i++) w[i] = (qw ? qw[i] : 1.0f) * sqrtf(sigma2 + x[i] * x[i]);
    } else {
        for (int b32 = 0; b32 < 8; b32++) {
            float s2 = 0.0f;
            for (int i = 32 * b32; i < 32 * b32 + 32; i++) s2 += x[i] * x[i];
            const float sigma2 = 1.5f * s2 / 32.0f;
            for (int i = 32 * b32; i < 32 * b32 + 32; i++)
                w[i] = qw ? qw[i] * sqrtf(sigma2 + x[i] * x[i]) : x[i] * x[i];
        }
        if (qw)
            for (int ib = 0; ib < nsb; ib++) {
                float sw = 0.0f;
                for (int i = 1; i < 16; i++) sw += w[16 * ib + i] * fabsf(x[16 * ib + i]);
                if (!(sw > 0.0f))
                    for (int i = 0; i < 16; i++) w[16 * ib + i] = x[16 * ib + i] * x[16 * ib + i];
            }
    }
    float max_scale = 0.0f;
    const float eps = m ? 1e-7f : 1e-12f;
    for (int ib = 0; ib < nsb; ib++) {
        const float *xb = x + bs * ib;
        float mx = 0.0f;
        for (int i = 0; i < bs; i++) mx = fabsf(xb[i]) > mx ? fabsf(xb[i]) : mx;
        if (mx < eps) {
            /* the reference writes index 0 (all −1: −0.875·d); the all-zero
             * grid point 1029 decodes to ±0.125·d instead */
            scales[ib] = 0.0f;
            shifts[ib] = 0;
            for (int k = 0; k < noct; k++) gidx[noct * ib + k] = 1029;
            continue;
        }
        scales[ib] = iq1_sub(lt, bs, m, xb, w + bs * ib, gidx + noct * ib, &shifts[ib]);
        max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
    }
    memset(y, 0, m ? IQ1M_BYTES : IQ1S_BYTES);
    if (!(max_scale > 0.0f)) return;
    const float d0 = max_scale / 15.0f, id = 1.0f / d0;
    for (int ib = 0; ib < nsb; ib++) {
        const int l = qtk_nearest_int(0.5f * (id * scales[ib] - 1.0f));
        codes[ib] = l < 0 ? 0 : l > 7 ? 7 : l;
    }
    /* the reference's stored d: 1.125·d0 (IQ1_S), 1.085·refit (IQ1_M) */
    uint16_t dh = fp16_sat((m ? 1.085f * iq1_fit_d(lt, bs, x, w, codes, gidx, shifts) : 1.125f * d0) / sc);
    if (!(qtk_fp16_to_fp32(dh) > 0.0f)) dh = fp16_sat(d0 / sc);
    /* beyond the reference: codes, shifts and grid points for the decoded d,
     * then d refitted while the (imatrix-weighted, else plain) error drops */
    float wu[QK_K];
    const float *we = w;
    if (!qw) {
        for (int i = 0; i < QK_K; i++) wu[i] = 1.0f;
        we = wu;
    }
    /* kept only where it does not raise the error under the stored d (the
     * refinement works in the unfudged model, see refine()) */
    int c0[16], g0[32], s0[16];
    memcpy(c0, codes, sizeof c0);
    memcpy(g0, gidx, sizeof g0);
    memcpy(s0, shifts, sizeof s0);
    const float dst = qtk_fp16_to_fp32(dh) * sc;
    const float e_ref = fast ? 0.0f : iq1_true_err(lt, bs, x, we, dst, codes, gidx, shifts);
    float ebest = fast ? 0.0f : iq1_refine(lt, bs, m, x, we, scales, dst / (m ? 1.085f : 1.125f), codes, gidx, shifts);
    if (!fast && iq1_true_err(lt, bs, x, we, dst, codes, gidx, shifts) > e_ref) {
        memcpy(codes, c0, sizeof c0);
        memcpy(gidx, g0, sizeof g0);
        memcpy(shifts, s0, sizeof s0);
    }
    for (int it = 0; !fast && it < IQM_REFIT_ITERS; it++) {
        const uint16_t dh2 = fp16_sat(iq1_fit_d(lt, bs, x, we, codes, gidx, shifts) / sc);
        if (dh2 == dh || !(qtk_fp16_to_fp32(dh2) > 0.0f)) break;
        int c2[16], g2[32], s2[16];
        memcpy(c2, codes, sizeof c2);
        memcpy(g2, gidx, sizeof g2);
        memcpy(s2, shifts, sizeof s2);
        const float e2 = iq1_refine(lt, bs, m, x, we, scales, qtk_fp16_to_fp32(dh2) * sc, c2, g2, s2);
        if (!(e2 < ebest)) break;
        ebest = e2;
        dh = dh2;
        memcpy(codes, c2, sizeof c2);
        memcpy(gidx, g2, sizeof g2);
        memcpy(shifts, s2, sizeof s2);
    }
    if (!m) {
        memcpy(y, &dh, 2);
        for (int ib = 0; ib < 8; ib++) {
            uint16_t h = (uint16_t)(codes[ib] << 12);
            if (shifts[ib]) h |= 0x8000;
            for (int k = 0; k < 4; k++) {
                y[2 + 4 * ib + k] = (uint8_t)(gidx[4 * ib + k] & 255);
                h |= (uint16_t)((gidx[4 * ib + k] >> 8) << 3 * k);
            }
            memcpy(y + 34 + 2 * ib, &h, 2);
        }
    } else {
        for (int G = 0; G < 32; G++) {
            const int ib = G / 2;
            y[G] = (uint8_t)(gidx[G] & 255);
            const unsigned hb = (unsigned)(gidx[G] >> 8) | (((shifts[ib] >> (G & 1)) & 1) << 3);
            y[32 + G / 2] |= (uint8_t)(hb << 4 * (G & 1));
        }
        for (int k = 0; k < 4; k++) {
            uint16_t word = (uint16_t)(((dh >> 4 * k) & 15) << 12);
            for (int j = 0; j < 4; j++) word |= (uint16_t)(codes[4 * k + j] << 3 * j);
            memcpy(y + 48 + 2 * k, &word, 2);
        }
    }
}

static void iq1_superblock(const iqm_lattice *lt, int m, const float *x, const float *qw, uint8_t *y, int fast) {
    float xs[QK_K], qs[QK_K], sc;
    normalize_block(x, qw, xs, qs, &sc);
    iq1_superblock_n(lt, m, xs, qw ? qs : NULL, y, sc, fast);
}

static size_t iq1_rows(int m, const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                       int effort) {
    const iqm_lattice *lt = lattice_get(LAT_IQ1S);
    if (!lt) return 0;
    const size_t bb = m ? IQ1M_BYTES : IQ1S_BYTES;
    uint8_t *out = (uint8_t *)dst;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, out += bb)
            iq1_superblock(lt, m, src + r * n + ibl * QK_K, imatrix ? imatrix + ibl * QK_K : NULL, out,
                           effort == QTK_EFFORT_FAST);
    return (size_t)nrows * (size_t)(n / QK_K) * bb;
}

size_t qtk_iq1_s_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort) {
    return iq1_rows(0, src, dst, nrows, n, imatrix, effort);
}
size_t qtk_iq1_m_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                 int effort) {
    return iq1_rows(1, src, dst, nrows, n, imatrix, effort);
}
size_t qtk_iq1_s_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq1_s_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}
size_t qtk_iq1_m_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    return qtk_iq1_m_quantize_effort(src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);
}
