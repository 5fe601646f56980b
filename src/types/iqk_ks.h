/* iqk_ks.h — kernels of IQ2_KS, IQ3_KS, IQ4_KS, IQ5_KS, IQ4_KSS, IQ2_KL
 * (iqk_ks.c, iqk_kss.c, iqk_kl.c + iqk_ks_<isa>.c), and the quantizer
 * machinery those files share. */
#ifndef QTK_IQK_KS_H
#define QTK_IQK_KS_H

#include "types_internal.h"

/* ---- kernels ------------------------------------------------------------- */
void qtk_iq4_ks_to_float(const void *row, float *dst, int64_t n);
/* Exact int8 form (qtk_to_int8_fn): d[b] = row scale × sub-block scale (the
 * float to_float multiplies with), q = grid value. */
void qtk_iq4_ks_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_iq4_ks_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq4_ks_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                  int effort);
void qtk_iq4_ks_from_float(const float *src, void *dst, int64_t n);
void qtk_iq4_ks_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_ks_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_ks_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_ks_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_ks_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_iq4_kss_to_float(const void *row, float *dst, int64_t n);
void qtk_iq4_kss_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_iq4_kss_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq4_kss_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                   int effort);
void qtk_iq4_kss_from_float(const float *src, void *dst, int64_t n);
void qtk_iq4_kss_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_kss_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);

void qtk_iq4_kss_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_kss_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq4_kss_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_iq5_ks_to_float(const void *row, float *dst, int64_t n);
void qtk_iq5_ks_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_iq5_ks_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq5_ks_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                  int effort);
void qtk_iq5_ks_from_float(const float *src, void *dst, int64_t n);
void qtk_iq5_ks_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq5_ks_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq5_ks_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq5_ks_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq5_ks_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_iq3_ks_to_float(const void *row, float *dst, int64_t n);
void qtk_iq3_ks_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_iq3_ks_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq3_ks_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                  int effort);
void qtk_iq3_ks_from_float(const float *src, void *dst, int64_t n);
void qtk_iq3_ks_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq3_ks_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq3_ks_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq3_ks_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq3_ks_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_iq2_ks_to_float(const void *row, float *dst, int64_t n);
void qtk_iq2_ks_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_iq2_ks_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq2_ks_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                  int effort);
void qtk_iq2_ks_from_float(const float *src, void *dst, int64_t n);
void qtk_iq2_ks_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_ks_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_ks_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_ks_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_ks_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

void qtk_iq2_kl_to_float(const void *row, float *dst, int64_t n);
/* Exact int8 form (qtk_to_int8_fn): d[b] = row scale × (sub-block scale − 32), q = the pair grid's values. */
void qtk_iq2_kl_to_int8(const void *row, int64_t n, float *d, int8_t *q);
size_t qtk_iq2_kl_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix);
size_t qtk_iq2_kl_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix,
                                  int effort);
void qtk_iq2_kl_from_float(const float *src, void *dst, int64_t n);
void qtk_iq2_kl_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_kl_vec_dot_avx2(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_kl_vec_dot_avx512(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_kl_vec_dot_neon(int64_t n, float *s, const void *x, const void *y);
void qtk_iq2_kl_vec_dot_neondot(int64_t n, float *s, const void *x, const void *y);

/* Multi-column kernels (qtk_mul_mat_fn) of IQ2_KS, IQ3_KS, IQ2_KL, AVX-512 level:
 * bit-identical to the vec_dot of that level (iqk_ks_avx512.c). */
void qtk_iq2_ks_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);
void qtk_iq3_ks_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);
void qtk_iq2_kl_mul_mat_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                               int64_t nr, int64_t nc);

/* ---- shared quantizer machinery (iqk_ks.c) ------------------------------- */

/* Nearest-value lookup for a sorted int8 grid of at most 32 values:
 * lo[floor(t)+128] is the last grid index whose value is <= floor(t) (or 0),
 * and t >= mid[lo] means the upper neighbour is nearer (ties go up). */
typedef struct {
    uint8_t lo[256];
    float mid[32];
} qtk_ks_nearest;

/* Builds the lookup table of a sorted grid of n (<= 32) values. */
void qtk_ks_nearest_init(qtk_ks_nearest *t, const int8_t *grid, int n);

/* Index of the grid value nearest to v (out-of-range v clamps to the ends). */
static inline int qtk_ks_nearest_idx(const qtk_ks_nearest *t, float v) {
    v = v > -128.0f ? v : -128.0f; /* also maps NaN to the low end */
    v = v < 127.5f ? v : 127.5f;
    const int lo = t->lo[(int)(v + 128.0f)];
    return lo + (v >= t->mid[lo]);
}

/* Importance-weight fallback used when no imatrix is given. */
typedef enum {
    QTK_KS_W_X2,         /* x^2                */
    QTK_KS_W_SIGMA_X2,   /* 0.25·sigma^2 + x^2 */
    QTK_KS_W_HSIGMA_X2,  /* 0.5·sigma^2 + x^2  */
    QTK_KS_W_ABS         /* |x|                */
} qtk_ks_wkind;

/* Prepares one row for a KS quantizer: xn = x/amax and the reference's
 * per-weight importance (imatrix sanitising per 32 weights, sigma^2 = c·mean
 * x^2 of each 256-block) rescaled so its maximum is 1, which keeps every
 * later sum finite for rows of any magnitude. Returns amax (0: all-zero row). */
float qtk_ks_prepare_row(const float *x, const float *imatrix, int64_t n, float c, qtk_ks_wkind kind,
                         float *xn, float *w);

/*
 * Rates nt <= QTK_KS_LANES trial scales of one sub-block at once, the trials being
 * the lanes of vector loops: lane t has inverse scale id[t] on the grid
 * grid + ng·gsel[t] (gsel 0: the base grid, 1: the shifted one that follows it) and
 * adds in j order, as a trial-by-trial loop would (the same floats), Σwxq and Σwq²
 * of the nearest grid values of +id·x (out[0·L + t], out[1·L + t]) and of −id·x
 * (out[2·L + t], out[3·L + t]), L = QTK_KS_LANES. The nearest value of v is the
 * grid's first value plus the steps of the midpoints at or below v:
 * qtk_ks_nearest_idx's answer. ng <= 32.
 */
#define QTK_KS_LANES 64
void qtk_ks_trials(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                   const int *gsel, float *out);
void qtk_ks_trials_scalar(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                          const int *gsel, float *out);
void qtk_ks_trials_avx2(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                        const int *gsel, float *out);
void qtk_ks_trials_avx512(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                          const int *gsel, float *out);
/* NEON twin (iqk_ks_quant_neon.c): 0 when it cannot take the grids (a shifted grid that
 * is not the base one plus a constant, or ng not 4/8/16/32) — the caller runs the
 * scalar loops then. */
int qtk_ks_trials_neon(const float *x, const float *w, int n, const int8_t *grid, int ng, int nt, const float *id,
                       const int *gsel, float *out);

/*
 * Errors of up to 8 candidate (scale, grid) choices of one 32-weight sub-block:
 * lane t rounds x/dl[t] to the nearest value of grid + ng·gsel[t] (as
 * qtk_ks_nearest_idx, ties up) and adds, in j order, e[t] += w·diff² and
 * m[t] += mw·diff² with diff = x − dl·value — the floats of a one-by-one loop.
 */
void qtk_ks_eval_lanes(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                       const float *dl, const int *gsel, float *e, float *m);
void qtk_ks_eval_lanes_scalar(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                              const float *dl, const int *gsel, float *e, float *m);
void qtk_ks_eval_lanes_avx2(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                            const float *dl, const int *gsel, float *e, float *m);
/* IQ4_KSS (iqk_kss.c): the constrained rounding's per-weight work for 32 weights t
 * (grid units) on the 16-value grid g (nt: its nearest-index table): q[j] the nearest
 * index (ties up, NaN → 0), *par bit j its popcount parity, and the cheapest move to
 * an index of the other parity — alt[j] the index (opp_dn/opp_up: the nearest ones
 * below/above), dx[j] the rise of (t − g)² (+inf past the grid's ends; the upper one
 * when strictly cheaper), dwx[j] = w·dx[j]. The SIMD twins compute the same floats. */
extern const int8_t qtk_kss_opp_dn[16], qtk_kss_opp_up[16];
void qtk_kss_round_scalar(const float *t, const float *w, const int8_t *g, const qtk_ks_nearest *nt, uint8_t *q,
                          unsigned *par, uint8_t *alt, float *dx, float *dwx);
/* The twin of the widest level allowed and available; 0 when there is none (the
 * scalar quantizer then computes the moves of odd groups only). */
int qtk_kss_round_simd(const float *t, const float *w, const int8_t *g, uint8_t *q, unsigned *par, uint8_t *alt,
                       float *dx, float *dwx);
void qtk_kss_round_avx2(const float *t, const float *w, const int8_t *g, const int8_t *opp_dn, const int8_t *opp_up,
                        uint8_t *q, unsigned *par, uint8_t *alt, float *dx, float *dwx); /* iqk_ks_avx2.c */
void qtk_kss_round_avx512(const float *t, const float *w, const int8_t *g, const int8_t *opp_dn, const int8_t *opp_up,
                          uint8_t *q, unsigned *par, uint8_t *alt, float *dx, float *dwx);
void qtk_kss_round_neon(const float *t, const float *w, const int8_t *g, const int8_t *opp_dn, const int8_t *opp_up,
                        uint8_t *q, unsigned *par, uint8_t *alt, float *dx, float *dwx); /* iqk_ks_quant_neon.c */
void qtk_ks_eval_lanes_avx512(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                              const float *dl, const int *gsel, float *e, float *m);
int qtk_ks_eval_lanes_neon(const float *x, const float *w, const float *mw, const int8_t *grid, int ng, int nc,
                           const float *dl, const int *gsel, float *e, float *m); /* 0: not taken, as above */

/* Signed float scale of one sub-block of n weights by the IQ4_K-style search:
 * start at -max/T[0] (both signs), then inverse scales (step·k + T[0])/max for
 * k = -ntry..ntry on the base grid (ng values) and the shifted one that follows
 * it, both signs; keep the best sumqx^2/sumq2. *is_shifted tells which grid won.
 * Returns 0 for an all-zero (or zero-weight) sub-block. 1 + 2·(2·ntry + 1) <= QTK_KS_LANES. */
float qtk_ks_search_scale(const float *x, const float *w, int n, const int8_t *base, int ng, int ntry, float step,
                          int *is_shifted);

/* Weights of the error measure the quantizers must not worsen: imatrix/max
 * (or 1 without an imatrix). */
void qtk_ks_metric_weights(const float *imatrix, int64_t n, float *mw);

#endif
