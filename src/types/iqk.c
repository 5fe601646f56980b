/*
 * iqk.c — IQ2_K, IQ3_K, IQ4_K, IQ5_K, IQ6_K: 256-weight super-blocks with an fp16
 * scale, 16 sub-blocks of 16 weights with a small integer scale each, and a
 * non-linear value grid per sub-block (base or shifted, FORMATS §0.3/§3).
 * Scalar reference: decoding, the quantizers (METHODS §1, §3) and the dot
 * products against Q8_K activations. SIMD dots live in iqk_<isa>.c.
 */
#include "iqk.h"
#include "grids.h"
#include "iquants.h"

#include <math.h>
#include <stdlib.h>

#if defined(__clang__)
/* The window search's error (qtk_iqk_sub_error_scalar) must not fuse x − d·q into an
 * FMA: its AVX2 twin computes every float with separate roundings. */
#pragma STDC FP_CONTRACT OFF
#endif

#define NSUB 16 /* sub-blocks per super-block */

static uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ======================================================================== */
/* Unpacking: every type becomes (index per weight, integer scale per       */
/* sub-block, shift bits); decoding and the scalar dots share this.         */
/* ======================================================================== */

/* The unpackers below walk the bit planes in the order they are stored: an
 * outer loop over planes/shifts and a straight inner loop of 16 or 32 bytes
 * with one constant shift, so gcc vectorises them (a per-weight i/32, i%32
 * index computation does not vectorise and dominated decoding). */

/* 2-bit planes (IQ2_K, low bits of IQ3_K, high bits of IQ6_K): 32 bytes hold
 * four consecutive 32-weight sub-blocks at shifts 0, 2, 4, 6. Writes
 * idx[i] = bits << up for all 256 weights. */
static void planes2(const uint8_t *q, uint8_t *idx, int up) {
    for (int c = 0; c < 2; c++)
        for (int s = 0; s < 4; s++) {
            uint8_t *o = idx + 128 * c + 32 * s;
            for (int p = 0; p < 32; p++) o[p] = (uint8_t)(((q[32 * c + p] >> (2 * s)) & 3) << up);
        }
}

/* 4-bit planes of IQ5_K/IQ6_K: 32 bytes hold two consecutive 32-weight
 * sub-blocks (low nibbles, then high nibbles). */
static void nibbles_pair(const uint8_t *q, uint8_t *idx) {
    for (int c = 0; c < 4; c++) {
        uint8_t *o = idx + 64 * c;
        for (int p = 0; p < 32; p++) o[p] = q[32 * c + p] & 0xF;
        for (int p = 0; p < 32; p++) o[32 + p] = q[32 * c + p] >> 4;
    }
}

/* One high bit per weight: bit b of qh[p] belongs to weight 32·b + p; ORed in
 * at position `up`. */
static void or_high_bit(const uint8_t *qh, uint8_t *idx, int up) {
    for (int b = 0; b < 8; b++) {
        uint8_t *o = idx + 32 * b;
        for (int p = 0; p < 32; p++) o[p] |= (uint8_t)(((qh[p] >> b) & 1) << up);
    }
}

static void unpack_iq2_k(const uint8_t *b, uint8_t *idx, int *S) {
    const uint8_t *scales = b + 4, *qs = b + 12;
    for (int j = 0; j < NSUB; j++) S[j] = ((scales[j / 2] >> (4 * (j % 2))) & 0xF) - 8;
    planes2(qs, idx, 0);
}

static void unpack_iq3_k(const uint8_t *b, uint8_t *idx, int *S) {
    const uint16_t sh = rd16(b + 4);
    const uint8_t *sl = b + 6, *qs = b + 14, *qh = b + 78;
    for (int j = 0; j < NSUB; j++) {
        const int m = (sl[j / 2] >> (4 * (j % 2))) & 0xF;
        S[j] = (2 * m + 1) * (((sh >> j) & 1) ? -1 : 1);
    }
    planes2(qs, idx, 0);
    or_high_bit(qh, idx, 2);
}

static void unpack_iq4_k(const uint8_t *b, uint8_t *idx, int *S) {
    const uint8_t *sh = b + 4, *sl = b + 8, *qs = b + 16;
    for (int j = 0; j < NSUB; j++) {
        const int ls = ((sl[j / 2] >> (4 * (j % 2))) & 0xF) | (((sh[j / 4] >> (2 * (j % 4))) & 3) << 4);
        S[j] = ls - 32;
    }
    /* 16 bytes per 32-weight sub-block: low nibbles are weights 0..15, high 16..31 */
    for (int b32 = 0; b32 < 8; b32++) {
        uint8_t *o = idx + 32 * b32;
        const uint8_t *q = qs + 16 * b32;
        for (int p = 0; p < 16; p++) o[p] = q[p] & 0xF;
        for (int p = 0; p < 16; p++) o[16 + p] = q[p] >> 4;
    }
}

static void unpack_iq5_k(const uint8_t *b, uint8_t *idx, int *S) {
    const uint8_t *sh = b + 4, *sl = b + 8, *qs = b + 16, *qh = b + 144;
    for (int j = 0; j < NSUB; j++) {
        const int ls = ((sl[j / 2] >> (4 * (j % 2))) & 0xF) | (((sh[j / 4] >> (2 * (j % 4))) & 3) << 4);
        S[j] = ls - 32;
    }
    nibbles_pair(qs, idx);
    or_high_bit(qh, idx, 4);
}

static void unpack_iq6_k(const uint8_t *b, uint8_t *idx, int *S) {
    const uint8_t *qs = b + 20, *qh = b + 148;
    uint8_t hi[QK_K];
    for (int j = 0; j < NSUB; j++) S[j] = (int8_t)b[4 + j];
    nibbles_pair(qs, idx);
    planes2(qh, hi, 4);
    for (int i = 0; i < QK_K; i++) idx[i] |= hi[i];
}

typedef void (*unpack_fn)(const uint8_t *b, uint8_t *idx, int *S);

/* Everything that differs between the five types, for the shared code paths. */
typedef struct {
    size_t block_bytes;
    int nv;               /* grid size (base table; shifted table follows it) */
    const int8_t *grid;   /* 2·nv int8 values: base then shifted */
    unpack_fn unpack;
} iqk_desc;

static const iqk_desc desc_iq2_k = {QTK_IQ2_K_SIZE, 4, qtk_iq2nl_values, unpack_iq2_k};
static const iqk_desc desc_iq3_k = {QTK_IQ3_K_SIZE, 8, qtk_iq3nl_values, unpack_iq3_k};
static const iqk_desc desc_iq4_k = {QTK_IQ4_K_SIZE, 16, qtk_iq4nl_values, unpack_iq4_k};
static const iqk_desc desc_iq5_k = {QTK_IQ5_K_SIZE, 32, qtk_iq5nl_values, unpack_iq5_k};
static const iqk_desc desc_iq6_k = {QTK_IQ6_K_SIZE, 64, qtk_iq6nl_values, unpack_iq6_k};

/* ======================================================================== */
/* Decoding                                                                 */
/* ======================================================================== */

/* w = (d·S)·T[q], the sub-block float scale formed first as the reference does.
 * The grid is converted to float once per call ((float)T[q] is exact), so the
 * inner loop is a float table load and one multiply per weight. */
static void to_float_generic(const iqk_desc *t, const void *row, float *dst, int64_t n) {
    const uint8_t *b = (const uint8_t *)row;
    uint8_t idx[QK_K];
    int S[NSUB];
    float grid[128]; /* 2·nv ≤ 128 */
    for (int q = 0; q < 2 * t->nv; q++) grid[q] = (float)t->grid[q];
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += t->block_bytes, dst += QK_K) {
        const float d = qtk_fp16_to_fp32(rd16(b));
        const uint16_t extra = rd16(b + 2);
        t->unpack(b, idx, S);
        for (int j = 0; j < NSUB; j++) {
            const float dl = d * (float)S[j];
            const float *T = grid + (((extra >> j) & 1) ? t->nv : 0);
            const uint8_t *q = idx + 16 * j;
            float *o = dst + 16 * j;
            for (int k = 0; k < 16; k++) o[k] = dl * T[q[k]];
        }
    }
}

void qtk_iq2_k_to_float(const void *row, float *dst, int64_t n) { to_float_generic(&desc_iq2_k, row, dst, n); }
void qtk_iq3_k_to_float(const void *row, float *dst, int64_t n) { to_float_generic(&desc_iq3_k, row, dst, n); }
void qtk_iq4_k_to_float(const void *row, float *dst, int64_t n) { to_float_generic(&desc_iq4_k, row, dst, n); }
void qtk_iq5_k_to_float(const void *row, float *dst, int64_t n) { to_float_generic(&desc_iq5_k, row, dst, n); }
void qtk_iq6_k_to_float_table(const void *row, float *dst, int64_t n) {
    to_float_generic(&desc_iq6_k, row, dst, n);
}

/* The reference's IQ6_K decoder evaluates the cubic behind the grid in float32
 * with fused multiply-adds (Horner order); fmaf() is correctly rounded by
 * definition, so this is bit-exact whether or not the target has FMA hardware. */
void qtk_iq6_k_to_float(const void *row, float *dst, int64_t n) {
    float poly[64], poly1[64];
    for (int q = 0; q < 64; q++) {
        const float fq = (float)q;
        float t = fmaf(fq, 0.0011972f, -0.11218f);
        t = fmaf(fq, t, 6.2568f);
        poly[q] = fmaf(fq, t, -127.0f);
        poly1[q] = poly[q] + 1.0f; /* the shifted grid: the same (poly + m) per weight, m = 1 */
    }
    const uint8_t *b = (const uint8_t *)row;
    uint8_t idx[QK_K];
    int S[NSUB];
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += QTK_IQ6_K_SIZE, dst += QK_K) {
        const float d = qtk_fp16_to_fp32(rd16(b));
        const uint16_t extra = rd16(b + 2);
        unpack_iq6_k(b, idx, S);
        for (int j = 0; j < NSUB; j++) {
            const float dl = d * (float)S[j];
            const float *T = ((extra >> j) & 1) ? poly1 : poly;
            const uint8_t *q = idx + 16 * j;
            float *o = dst + 16 * j;
            for (int k = 0; k < 16; k++) o[k] = dl * T[q[k]];
        }
    }
}

/* ======================================================================== */
/* Scalar dot products against Q8_K (integer sums per super-block, 32 bits)  */
/* ======================================================================== */

static void vec_dot_generic(const iqk_desc *t, int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *b = (const uint8_t *)vx;
    const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;
    uint8_t idx[QK_K];
    int S[NSUB];
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / QK_K; ib++, b += t->block_bytes) {
        const uint16_t extra = rd16(b + 2);
        t->unpack(b, idx, S);
        int32_t isum = 0;
        for (int j = 0; j < NSUB; j++) {
            const int8_t *T = t->grid + (((extra >> j) & 1) ? t->nv : 0);
            int32_t sub = 0;
            for (int k = 0; k < 16; k++) sub += T[idx[16 * j + k]] * y[ib].qs[16 * j + k];
            isum += S[j] * sub;
        }
        sum += (qtk_fp16_to_fp32(rd16(b)) * y[ib].d) * (float)isum;
    }
    *s = sum;
}

void qtk_iq2_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y) {
    vec_dot_generic(&desc_iq2_k, n, s, x, y);
}
void qtk_iq3_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y) {
    vec_dot_generic(&desc_iq3_k, n, s, x, y);
}
void qtk_iq4_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y) {
    vec_dot_generic(&desc_iq4_k, n, s, x, y);
}
void qtk_iq5_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y) {
    vec_dot_generic(&desc_iq5_k, n, s, x, y);
}
void qtk_iq6_k_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y) {
    vec_dot_generic(&desc_iq6_k, n, s, x, y);
}

/* ======================================================================== */
/* Quantization                                                             */
/* ======================================================================== */

/* Per-type quantizer parameters. */
typedef struct {
    const iqk_desc *desc;
    float sigma_c;         /* σ² = c·Σx²/256 */
    int quarter_sigma;     /* fallback weight 0.25σ² + x² (else x²) */
    int ntry;              /* scale search: k = −ntry..ntry */
    float step;            /* inverse-scale step */
    int refit;             /* one extra nearest/refit round per sub-block */
    float fudge;           /* final super-block scale factor */
    int smin, smax;        /* integer sub-block scale range */
    int odd_scales;        /* IQ3_K: only odd scales */
    const float *factors;  /* super-block scale candidates of the improvement pass, × the grid scale */
    int nfactors;          /* <= MAX_FACTORS; 0: no improvement pass (effort fast) */
    const float *dfactors; /* the candidates of effort default (docs/types.md "Effort levels") */
    int ndfactors;
    int flat_pass;         /* IQ2_K without imatrix: also try flatter weights (not at effort fast) */
    const float *wfactors; /* effort default on IQ3_K: the window search with these candidates */
    int nwfactors;
    int window;            /* set per call: the window search instead of choose_small */
} iqk_qparams;

/* Float copies of the grids ([0..nv) base, [nv..2nv) shifted), their
 * constant-time nearest-value tables (METHODS §1.3) and what the sweeps need. */
typedef struct {
    float v[128];
    qtk_grid_lut lut[2];
    int nv;
    int z[2];                     /* index of the value nearest 0 = number of midpoints <= 0 */
    double dT[2][64], dT2[2][64]; /* T[k+1] − T[k] and T[k+1]² − T[k]² */
    qtk_iqk_scale_sums_fn scale_sums;
    qtk_iqk_window_error_fn window_error;
} fgrid;

static void make_fgrid(const iqk_desc *t, fgrid *g) {
    g->nv = t->nv;
    g->scale_sums = qtk_iqk_scale_sums_pick(t->nv);
    g->window_error = qtk_iqk_window_error_pick(t->nv);
    for (int i = 0; i < 2 * t->nv; i++) g->v[i] = (float)t->grid[i];
    for (int sh = 0; sh < 2; sh++) {
        const float *T = g->v + sh * t->nv;
        qtk_grid_lut_init(&g->lut[sh], t->grid + sh * t->nv, t->nv);
        g->z[sh] = 0;
        for (int k = 0; k < t->nv - 1; k++) {
            if (g->lut[sh].mid[k] <= 0.0f) g->z[sh] = k + 1;
            g->dT[sh][k] = (double)T[k + 1] - T[k];
            g->dT2[sh][k] = (double)T[k + 1] * T[k + 1] - (double)T[k] * T[k];
        }
    }
}

/* Index of the value of grid `sh` nearest to v (ties up, clamped). */
static inline int nearest(const fgrid *g, int sh, float v) { return qtk_grid_lut_nearest(&g->lut[sh], v); }

/* Importance weights of one super-block (METHODS §1.2), including the
 * per-16 sanitising of imatrix entries that carry no information. */
static void make_weights(const iqk_qparams *p, const float *x, const float *qw, int flat, float *w) {
    float sumx2 = 0.0f;
    for (int j = 0; j < QK_K; j++) sumx2 += x[j] * x[j];
    /* `flat` raises the floor σ² sixteenfold: weights closer to uniform. */
    const float sigma2 = p->sigma_c * sumx2 / QK_K * (flat ? 16.0f : 1.0f);
    if (qw) {
        for (int ib = 0; ib < NSUB; ib++) {
            const float *xb = x + 16 * ib, *qb = qw + 16 * ib;
            float s_q2 = 0.0f, s_x2 = 0.0f, s_qx = 0.0f;
            for (int k = 0; k < 16; k++) {
                s_q2 += qb[k] * qb[k];
                s_x2 += xb[k] * xb[k];
                s_qx += qb[k] * fabsf(xb[k]);
            }
            const float thr = 16 * 1e-18f;
            const int bad = s_q2 <= thr || s_x2 <= thr || s_qx <= thr;
            for (int k = 0; k < 16; k++)
                w[16 * ib + k] = (bad ? 1e-9f : qb[k]) * sqrtf(sigma2 + xb[k] * xb[k]);
        }
    } else {
        for (int j = 0; j < QK_K; j++) w[j] = (p->quarter_sigma ? 0.25f * sigma2 : 0.0f) + x[j] * x[j];
    }
}

/* The reference search's sums for n inverse scales: for try i, sums[4i..4i+1] =
 * Σw·q·x, Σw·q² with q the value of grid shift[i] nearest id[i]·x, sums[4i+2..3]
 * the same for −id[i]·x, each accumulated in index order.
 * qtk_iqk_scale_sums_avx2 runs 8 tries side by side, one per lane, each lane
 * accumulating in that same order, and finds the nearest values as midpoint
 * counts: the same floats (test_iqk). */
void qtk_iqk_scale_sums_scalar(const qtk_grid_lut lut[2], const float *T, int nv, const float *xb, const float *wb,
                               int n, const float *id, const int *shift, float *sums) {
    for (int i = 0; i < n; i++) {
        const qtk_grid_lut *l = &lut[shift[i]];
        const float *Ts = T + shift[i] * nv;
        float sqx_p = 0, sq2_p = 0, sqx_m = 0, sq2_m = 0;
        for (int k = 0; k < 16; k++) {
            const float al = id[i] * xb[k];
            float q = Ts[qtk_grid_lut_nearest(l, al)];
            sqx_p += wb[k] * q * xb[k];
            sq2_p += wb[k] * q * q;
            q = Ts[qtk_grid_lut_nearest(l, -al)];
            sqx_m += wb[k] * q * xb[k];
            sq2_m += wb[k] * q * q;
        }
        sums[4 * i + 0] = sqx_p;
        sums[4 * i + 1] = sq2_p;
        sums[4 * i + 2] = sqx_m;
        sums[4 * i + 3] = sq2_m;
    }
}

int qtk_iqk_grid_shift(const qtk_grid_lut lut[2], const float *T, int nv, float *c) {
    *c = T[nv] - T[0];
    for (int m = 0; m < nv; m++) {
        if (T[nv + m] != T[m] + *c) return 0;
        if (m + 1 < nv && lut[1].mid[m] != lut[0].mid[m] + *c) return 0;
    }
    return 1;
}

qtk_iqk_scale_sums_fn qtk_iqk_scale_sums_pick(int nv) {
    const int isa = qtk_isa_pick(QTK_SEARCH_LEVELS);
    (void)isa;
#ifdef QTK_HAVE_AVX512
    /* a binary search over the midpoints: grids of 4..64 values */
    if (isa == QTK_ISA_AVX512 && nv <= 64) return qtk_iqk_scale_sums_avx512;
#endif
#ifdef QTK_HAVE_AVX2
    /* a midpoint count per value: worth it up to IQ4_K's 15 midpoints */
    if (nv <= 16 && isa == QTK_ISA_AVX2) return qtk_iqk_scale_sums_avx2;
#endif
#ifdef QTK_HAVE_NEON
    /* the binary search of search_neon.h: grids of 4..32 values. IQ6_K's 64 stay with
     * the scalar LUT: six probes of four TBLs each cost more guest instructions than
     * its look-up and one compare (1.5x more, BENCHMARKS session 24) */
    if (isa == QTK_ISA_NEON && nv <= 32) return qtk_iqk_scale_sums_neon;
#endif
    (void)nv;
    return qtk_iqk_scale_sums_scalar;
}

/* Keeps the best F = sumqx²/sumq2 of one try's two signs (sums from scale_sums):
 * *best, the scale *dbest and grid *sbest; bsign, if given, the best F and scale
 * of each sign of the scale ([0..1] for d > 0, [2..3] for d < 0). */
static void take_try(const float *sums, int shift, float *best, float *dbest, int *sbest, float *bsign) {
    const float sqx_p = sums[0], sq2_p = sums[1], sqx_m = sums[2], sq2_m = sums[3];
    if (sq2_p > 0 && sqx_p * sqx_p > *best * sq2_p) {
        *dbest = sqx_p / sq2_p;
        *best = *dbest * sqx_p;
        *sbest = shift;
    }
    if (sq2_m > 0 && sqx_m * sqx_m > *best * sq2_m) {
        *dbest = sqx_m / sq2_m;
        *best = *dbest * sqx_m;
        *sbest = shift;
    }
    if (bsign) {
        const float sqx[2] = {sqx_p, sqx_m}, sq2[2] = {sq2_p, sq2_m};
        for (int i = 0; i < 2; i++) {
            if (!(sq2[i] > 0) || sqx[i] == 0.0f) continue;
            float *b = bsign + (sqx[i] < 0.0f ? 2 : 0);
            if (sqx[i] * sqx[i] > b[0] * sq2[i]) {
                b[1] = sqx[i] / sq2[i];
                b[0] = b[1] * sqx[i];
            }
        }
    }
}

#define MAX_TRIES 48 /* 1 + 2·(2·ntry + 1) band tries (ntry <= 7) + 8 far ones */

/* Best float scale and grid of one 16-weight sub-block (METHODS §3.1/§3.2):
 * a band of inverse scales around the one mapping the largest value onto the
 * grid's end, both grids, both signs. */
static float search_nl(const iqk_qparams *p, const fgrid *g, const float *xb, const float *wb, int *shift,
                       float *alt, float *far) {
    const int nv = p->desc->nv;
    const float *T0 = g->v, *T1 = g->v + nv;
    float amax = 0.0f, max = 0.0f;
    for (int k = 0; k < 16; k++)
        if (fabsf(xb[k]) > amax) {
            amax = fabsf(xb[k]);
            max = xb[k];
        }
    *shift = 0;
    if (alt) *alt = 0.0f;
    if (far) far[0] = far[1] = 0.0f;
    if (amax < 1e-16f) return 0.0f;
    /* the reference's band: the scale mapping the largest weight onto the grid's
     * end, then ±ntry steps on both grids; with `far` also a few scales well
     * inside and outside it (the window search's extra centres) */
    static const float far_mul[] = {0.5f, 0.7f, 1.4f, 2.0f};
    float id[MAX_TRIES];
    int tsh[MAX_TRIES], n = 0;
    id[n] = -T0[0] / max;
    tsh[n++] = 0;
    for (int itry = -p->ntry; itry <= p->ntry; itry++) {
        id[n] = (p->step * (float)itry + T0[0]) / max;
        tsh[n++] = 0;
        id[n] = (p->step * (float)itry + T1[0]) / max;
        tsh[n++] = 1;
    }
    const int nband = n;
    for (int i = 0; far && i < (int)(sizeof far_mul / sizeof far_mul[0]); i++) {
        id[n] = far_mul[i] * T0[0] / max;
        tsh[n++] = 0;
        id[n] = far_mul[i] * T1[0] / max;
        tsh[n++] = 1;
    }
    float sums[4 * MAX_TRIES];
    g->scale_sums(g->lut, g->v, nv, xb, wb, n, id, tsh, sums);
    float best = 0.0f, d = 0.0f;
    int sh = 0;
    float bsign[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < nband; i++) take_try(sums + 4 * i, tsh[i], &best, &d, &sh, alt ? bsign : NULL);
    if (alt) *alt = d < 0.0f ? bsign[1] : bsign[3]; /* the best scale of the other sign */
    if (far) {
        float bfar[4] = {0.0f, 0.0f, 0.0f, 0.0f}, fb = 0.0f, fd = 0.0f;
        int fs = 0;
        for (int i = nband; i < n; i++) take_try(sums + 4 * i, tsh[i], &fb, &fd, &fs, bfar);
        far[0] = bfar[1];
        far[1] = bfar[3];
    }
    if (p->refit && d != 0.0f) {
        const float *T = sh ? T1 : T0;
        const float inv = 1.0f / d;
        float sqx = 0, sq2 = 0;
        for (int k = 0; k < 16; k++) {
            const float q = T[nearest(g, sh, inv * xb[k])];
            sqx += wb[k] * q * xb[k];
            sq2 += wb[k] * q * q;
        }
        if (sq2 > 0) d = sqx / sq2;
    }
    *shift = sh;
    return d;
}

/*
 * IQ2_K sub-block search (METHODS §3.3) finds the optimum over all monotone
 * assignments of the grid values to the sorted weights. That optimum is always
 * the nearest-value assignment of its own scale (else re-rounding would lower
 * the error), and as the inverse scale t grows from 0 those assignments change
 * one weight and one grid step at a time, when t·x crosses a midpoint. Walking
 * the crossings in order with running sums visits every candidate in
 * O(16·nv) instead of enumerating O(16³) splits.
 */
typedef struct {
    float xs[2][16];            /* [0]: x ascending; [1]: −x ascending (negative scales) */
    double W[2][17], WX[2][17]; /* prefix sums of w and w·xs in that order */
} sub_sorted;

static void sort_sub(const float *xb, const float *wb, sub_sorted *ss) {
    int ord[16];
    for (int k = 0; k < 16; k++) ord[k] = k;
    for (int a = 1; a < 16; a++) { /* insertion sort by x */
        const int v = ord[a];
        int b = a - 1;
        while (b >= 0 && xb[ord[b]] > xb[v]) {
            ord[b + 1] = ord[b];
            b--;
        }
        ord[b + 1] = v;
    }
    ss->W[0][0] = ss->WX[0][0] = ss->W[1][0] = ss->WX[1][0] = 0.0;
    for (int k = 0; k < 16; k++) {
        const int a = ord[k], b = ord[15 - k];
        ss->xs[0][k] = xb[a];
        ss->xs[1][k] = -xb[b];
        ss->W[0][k + 1] = ss->W[0][k] + wb[a];
        ss->WX[0][k + 1] = ss->WX[0][k] + (double)wb[a] * xb[a];
        ss->W[1][k + 1] = ss->W[1][k] + wb[b];
        ss->WX[1][k + 1] = ss->WX[1][k] - (double)wb[b] * xb[b];
    }
}

/* The walk for grid sh on side neg (t > 0 on xs[neg]): boundary k's crossings
 * come in sorted order (weights below a non-positive midpoint from the most
 * negative up, weights reaching a positive one from the largest down), so the
 * walk merges nv − 1 precomputed sorted lists. A better F updates *best,
 * *dbest (the scale, sign restored) and *sbest. Small grids only (nv <= 8). */
static void sweep_best_F(const fgrid *g, int sh, const sub_sorted *ss, int neg, double *best, double *dbest,
                         int *sbest) {
    const int nv = g->nv, z = g->z[sh];
    const float *mid = g->lut[sh].mid, *xs = ss->xs[neg];
    const double *W = ss->W[neg], *WX = ss->WX[neg];
    float thr[7][17]; /* t of each crossing, +inf after the last */
    double da[7][16], db[7][16];
    int nlo = 0, nhi = 0;
    while (nlo < 16 && xs[nlo] < 0.0f) nlo++;
    while (nhi < 16 && xs[15 - nhi] > 0.0f) nhi++;
    for (int k = 0; k < nv - 1; k++) {
        const int n = k < z ? nlo : nhi;
        const double sg = k < z ? -1.0 : 1.0;
        for (int j = 0; j < n; j++) {
            const int q = k < z ? j : 15 - j;
            thr[k][j] = mid[k] / xs[q];
            da[k][j] = sg * g->dT[sh][k] * (WX[q + 1] - WX[q]);
            db[k][j] = sg * g->dT2[sh][k] * (W[q + 1] - W[q]);
        }
        thr[k][n] = INFINITY;
    }
    const double Tz = g->v[sh * nv + z];
    double sqx = Tz * WX[16], sq2 = Tz * Tz * W[16]; /* t → 0+: every weight on the value nearest 0 */
    int pos[7] = {0, 0, 0, 0, 0, 0, 0};
    for (;;) {
        if (sq2 > 0 && sqx * sqx > *best * sq2) {
            const double d = sqx / sq2;
            *best = d * sqx;
            *dbest = neg ? -d : d;
            *sbest = sh;
        }
        int k = 0;
        float tk = thr[0][pos[0]];
        for (int i = 1; i < nv - 1; i++) {
            const float ti = thr[i][pos[i]];
            k = ti < tk ? i : k;
            tk = ti < tk ? ti : tk;
        }
        if (!(tk < INFINITY)) break;
        sqx += da[k][pos[k]];
        sq2 += db[k][pos[k]];
        pos[k]++;
    }
}

/* IQ2_K sub-block scale and grid: both grids, both signs of the scale. */
static float search_iq2(const fgrid *g, const float *xb, const float *wb, int *shift) {
    float amax = 0.0f;
    for (int k = 0; k < 16; k++) amax = fmaxf(amax, fabsf(xb[k]));
    *shift = 0;
    if (amax < 1e-16f) return 0.0f;
    sub_sorted ss;
    sort_sub(xb, wb, &ss);
    double best = 0.0, dbest = 0.0;
    int sbest = 0;
    for (int sh = 0; sh < 2; sh++)
        for (int neg = 0; neg < 2; neg++) sweep_best_F(g, sh, &ss, neg, &best, &dbest, &sbest);
    *shift = sbest;
    return (float)dbest;
}

/* Weighted RTN-plus-band quantization of the 16 sub-block scales to
 * [−nmax, nmax−1] (METHODS §3.3 / §2 Q4_0 without the greedy step). */
static float quantize_scales_band(const float *s, const float *sw, int nmax, int *L) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < NSUB; j++)
        if (fabsf(s[j]) > amax) {
            amax = fabsf(s[j]);
            max = s[j];
        }
    if (amax < 1e-15f) {
        for (int j = 0; j < NSUB; j++) L[j] = 0;
        return 0.0f;
    }
    float best = 0.0f, scale = 0.0f;
    for (int j = 0; j < NSUB; j++) L[j] = 0;
    for (int is = 0; is <= 18; is++) {
        const int k = is == 0 ? 0 : (is <= 9 ? is - 10 : is - 9); /* RTN first, then −9..−1, 1..9 */
        const float iscale = -((float)nmax + 0.1f * (float)k) / max;
        int Lt[NSUB];
        float sumlx = 0.0f, suml2 = 0.0f;
        for (int j = 0; j < NSUB; j++) {
            int l = qtk_nearest_int(iscale * s[j]);
            l = QTK_MAX(-nmax, QTK_MIN(nmax - 1, l));
            Lt[j] = l;
            sumlx += sw[j] * s[j] * (float)l;
            suml2 += sw[j] * (float)(l * l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            scale = sumlx / suml2;
            best = scale * sumlx;
            for (int j = 0; j < NSUB; j++) L[j] = Lt[j];
        }
    }
    return scale;
}

/* State of one super-block while it is being encoded. */
typedef struct {
    float x[QK_K], w[QK_K];
    float wp[QK_K];  /* plain weights: the imatrix entries, or 1 */
    float s[NSUB];   /* float sub-block scales from the search */
    /* window search's extra centres (0: none): the search's best scale of the other
     * sign, and the best of each sign among the far tries */
    float salt[NSUB], sfar[NSUB][2];
    int shift[NSUB]; /* grid choice per sub-block */
    int S[NSUB];     /* integer sub-block scales */
    uint8_t idx[QK_K];
    float d;         /* super-block scale (before fp16) */
} sb_state;

/* Nearest indices of sub-block j for effective scale dl; adds to Σwqx, Σwq². */
static void requant_sub(const iqk_qparams *p, const fgrid *g, sb_state *st, int j, int S, int shift,
                        float d, uint8_t *idx, double *sqx, double *sq2) {
    const int nv = p->desc->nv;
    const float *T = g->v + (shift ? nv : 0);
    const float dl = d * (float)S;
    const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
    const int zero = g->z[shift];
    for (int k = 0; k < 16; k++) {
        const int i = 16 * j + k;
        const int l = dl != 0.0f ? nearest(g, shift, idl * st->x[i]) : zero;
        idx[k] = (uint8_t)l;
        const double q = (double)T[l] * S;
        *sqx += st->w[i] * q * st->x[i];
        *sq2 += st->w[i] * q * q;
    }
}

/* Re-quantizes every weight with d·S and returns the least-squares d. */
static float requant_all(const iqk_qparams *p, const fgrid *g, sb_state *st, float d) {
    double sqx = 0, sq2 = 0;
    for (int j = 0; j < NSUB; j++) requant_sub(p, g, st, j, st->S[j], st->shift[j], d, st->idx + 16 * j, &sqx, &sq2);
    return sq2 > 0 ? (float)(sqx / sq2) : 0.0f;
}

/* Weighted errors of the current encoding with the stored (fp16) scale: under
 * the method's importance weights (returned) and the plain weights (*eplain). */
static double sb_error2(const iqk_qparams *p, const fgrid *g, const sb_state *st, float dq, double *eplain) {
    const int nv = p->desc->nv;
    double e = 0, ep = 0;
    for (int j = 0; j < NSUB; j++) {
        const float *T = g->v + (st->shift[j] ? nv : 0);
        const float dl = dq * (float)st->S[j];
        for (int k = 0; k < 16; k++) {
            const int i = 16 * j + k;
            const double r = st->x[i] - dl * T[st->idx[i]];
            e += st->w[i] * r * r;
            ep += st->wp[i] * r * r;
        }
    }
    *eplain = ep;
    return e;
}

/* fp16 of the final scale, clamped so huge inputs never store Inf. */
static uint16_t store_scale(float d) {
    if (d > 65504.0f) d = 65504.0f;
    if (d < -65504.0f) d = -65504.0f;
    return qtk_fp32_to_fp16(d);
}

/* Integer sub-block scales from the float ones (METHODS §3: per type). */
static float quantize_subscales(const iqk_qparams *p, sb_state *st) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < NSUB; j++)
        if (fabsf(st->s[j]) > amax) {
            amax = fabsf(st->s[j]);
            max = st->s[j];
        }
    if (amax == 0.0f) return 0.0f;
    if (p->desc == &desc_iq2_k) {
        float sw[NSUB];
        for (int j = 0; j < NSUB; j++) {
            sw[j] = 0;
            for (int k = 0; k < 16; k++) sw[j] += st->w[16 * j + k];
        }
        return quantize_scales_band(st->s, sw, 8, st->S);
    }
    if (p->odd_scales) {
        const float d = amax / 31.0f, id = 1.0f / d;
        for (int j = 0; j < NSUB; j++) {
            int m = qtk_nearest_int(0.5f * (id * fabsf(st->s[j]) - 1.0f));
            m = QTK_MAX(0, QTK_MIN(15, m));
            st->S[j] = (2 * m + 1) * (st->s[j] < 0 ? -1 : 1);
        }
        return d;
    }
    const float d = -max / (float)(-p->smin), id = 1.0f / d;
    for (int j = 0; j < NSUB; j++) {
        const int ls = qtk_nearest_int(id * st->s[j]);
        st->S[j] = QTK_MAX(p->smin, QTK_MIN(p->smax, ls));
    }
    return d;
}

/* Best (scale, grid, indices) of sub-block j for a fixed super-block scale d:
 * integer scales S_j/d ± win, both grids (large grids); 0 when none applies. */
static int best_sub_window(const iqk_qparams *p, const fgrid *g, const sb_state *st, int j, float d, int win,
                           int *S_out, int *shift_out, uint8_t *idx_out) {
    const int nv = p->desc->nv;
    const int center = qtk_nearest_int(st->s[j] / d);
    const float *xb = st->x + 16 * j, *wb = st->w + 16 * j;
    double best = -1.0;
    for (int S = center - win; S <= center + win; S++) {
        if (S < p->smin || S > p->smax || S == 0) continue;
        const float dl = d * (float)S;
        for (int sh = 0; sh < 2; sh++) {
            uint8_t idx[16];
            const double e = g->window_error(&g->lut[sh], g->v + (sh ? nv : 0), nv, xb, wb, dl, idx);
            if (best < 0 || e < best) {
                best = e;
                *S_out = S;
                *shift_out = sh;
                memcpy(idx_out, idx, 16);
            }
        }
    }
    return best >= 0;
}

/*
 * Small grids (IQ2_K, IQ3_K) choose each sub-block's integer scale among ALL
 * codes, for every super-block candidate at once. For one side of the scale's
 * sign, every (candidate, code) pair is an inverse scale t = 1/|d·S|; sorted,
 * they form one query list per super-block. A weight x > 0 sits at or above a
 * positive midpoint m exactly for the queries with t·x ≥ m — a suffix of the
 * list, found by a binary search with the same float test as nearest() — and
 * below a negative midpoint likewise; so the change of Σw·x·T and Σw·T² at
 * that crossing is added to one bucket, and one prefix pass over the buckets
 * yields the error Σw(x − d·S·T)² of every query: O(16·nv·log Q + Q) per
 * sub-block, grid and side instead of 16 lookups per query.
 */
#define MAX_FACTORS 8
#define QPAD 256 /* > queries per side (at most MAX_FACTORS · 16 codes), a power of two */
#define QTAB 512 /* buckets of the rank guess: ~1 % of t each over the ~6 octaves a side spans */

typedef struct {
    int n, P;          /* queries; P = power of two > n */
    float t[QPAD];     /* ascending inverse scales, +inf beyond n */
    double dp[QPAD];   /* |d·S| */
    uint8_t c[QPAD];   /* candidate */
    int8_t S[QPAD];    /* signed integer scale */
    /* rank guesses: tab[k] = number of t whose float bits are below b0 + (k << shift) */
    uint32_t b0;
    int shift;
    uint8_t tab[QTAB];
} query_side;

/* The query lists of both sides for candidates d_grid·factors[c]. */
static void build_queries(const iqk_qparams *p, float d_grid, query_side *qs) {
    const int step = p->odd_scales ? 2 : 1;
    qs[0].n = qs[1].n = 0;
    for (int c = 0; c < p->nfactors; c++) {
        const float dc = d_grid * p->factors[c];
        for (int sgn = 1; sgn >= -1; sgn -= 2) {
            const int mmax = sgn > 0 ? p->smax : -p->smin;
            for (int m = (p->odd_scales && mmax % 2 == 0) ? mmax - 1 : mmax; m >= 1; m -= step) {
                const int S = sgn * m;
                const float dl = dc * (float)S, idl = 1.0f / dl;
                if (dl == 0.0f || !isfinite(idl)) continue;
                query_side *q = &qs[dl < 0.0f];
                int i = q->n++; /* insertion into the ascending list */
                const float t = dl < 0.0f ? -idl : idl;
                for (; i > 0 && q->t[i - 1] > t; i--) {
                    q->t[i] = q->t[i - 1];
                    q->dp[i] = q->dp[i - 1];
                    q->c[i] = q->c[i - 1];
                    q->S[i] = q->S[i - 1];
                }
                q->t[i] = t;
                q->dp[i] = dl < 0.0f ? -(double)dl : (double)dl;
                q->c[i] = (uint8_t)c;
                q->S[i] = (int8_t)S;
            }
        }
    }
    for (int side = 0; side < 2; side++) {
        query_side *q = &qs[side];
        q->P = 1;
        while (q->P <= q->n) q->P *= 2;
        for (int i = q->n; i < q->P; i++) q->t[i] = INFINITY;
        q->b0 = 0;
        q->shift = 31;
        memset(q->tab, 0, sizeof q->tab);
        if (q->n == 0) continue;
        const uint32_t b0 = f32_bits(q->t[0]), span = f32_bits(q->t[q->n - 1]) - b0;
        int shift = 0;
        while ((span >> shift) >= QTAB - 1) shift++;
        q->b0 = b0;
        q->shift = shift;
        for (int k = 0, i = 0; k < QTAB; k++) {
            const uint64_t lim = (uint64_t)b0 + ((uint64_t)k << shift);
            while (i < q->n && f32_bits(q->t[i]) < lim) i++;
            q->tab[k] = (uint8_t)i;
        }
    }
}

/* Number of leading queries with t·x < m (x > 0, m > 0), resp. t·x >= m (x < 0,
 * m < 0): both hold for the t below about m/x. The guess from the bucket of m/x
 * (its float bits; positive floats order as their bits) is moved by the exact
 * test, t·x < m — the same float product nearest() compares — until it is the
 * rank: the test is monotone in t, so the walk ends exactly there, and the
 * ~1 % buckets make it a step or none. */
static inline int rank_guess(const query_side *q, float m, float x) {
    const float r = m / x; /* > 0, may be +inf */
    const uint32_t b = f32_bits(r);
    if (b < q->b0) return 0;
    const uint32_t k = (b - q->b0) >> q->shift;
    return k < QTAB ? q->tab[k] : q->n;
}
static inline int rank_lt(const query_side *q, float x, float m) {
    int r = rank_guess(q, m, x);
    while (r < q->n && q->t[r] * x < m) r++;
    while (r > 0 && !(q->t[r - 1] * x < m)) r--;
    return r;
}
static inline int rank_ge(const query_side *q, float x, float m) {
    int r = rank_guess(q, m, x);
    while (r < q->n && q->t[r] * x >= m) r++;
    while (r > 0 && !(q->t[r - 1] * x >= m)) r--;
    return r;
}

/* Errors of every query of one side on grid sh for the sub-block (xb, wb);
 * keeps per candidate the smallest (bestE, bestS, bestsh). */
static void eval_side(const fgrid *g, int sh, const query_side *q, int side, const float *xb, const float *wb,
                      double wx2, double *bestE, int *bestS, int *bestsh) {
    const int nv = g->nv, z = g->z[sh];
    const float *mid = g->lut[sh].mid;
    double ba[QPAD + 1], bb[QPAD + 1];
    for (int i = 0; i <= q->n; i++) ba[i] = bb[i] = 0.0;
    double sw = 0.0, swx = 0.0;
    for (int i = 0; i < 16; i++) {
        const float x = side ? -xb[i] : xb[i];
        const double w = wb[i], wx = w * x;
        sw += w;
        swx += wx;
        if (x > 0.0f) {
            for (int k = z; k < nv - 1; k++) {
                const int r = rank_lt(q, x, mid[k]);
                ba[r] += g->dT[sh][k] * wx;
                bb[r] += g->dT2[sh][k] * w;
            }
        } else if (x < 0.0f) {
            for (int k = 0; k < z; k++) {
                const int r = rank_ge(q, x, mid[k]);
                ba[r] -= g->dT[sh][k] * wx;
                bb[r] -= g->dT2[sh][k] * w;
            }
        }
    }
    const double Tz = g->v[sh * nv + z];
    double a = Tz * swx, b = Tz * Tz * sw;
    for (int i = 0; i < q->n; i++) {
        a += ba[i];
        b += bb[i];
        const double dp = q->dp[i];
        const double e = wx2 - 2.0 * dp * a + dp * dp * b;
        const int c = q->c[i];
        if (e < bestE[c]) {
            bestE[c] = e;
            bestS[c] = q->S[i];
            bestsh[c] = sh;
        }
    }
}

/* Sub-block scales and grids of every candidate (small grids): selS[c][j], selsh[c][j]. */
static void choose_small(const iqk_qparams *p, const fgrid *g, const sb_state *st, float d_grid,
                         int selS[][NSUB], int selsh[][NSUB]) {
    query_side qs[2];
    build_queries(p, d_grid, qs);
    for (int j = 0; j < NSUB; j++) {
        double bestE[MAX_FACTORS];
        int bestS[MAX_FACTORS], bestsh[MAX_FACTORS];
        for (int c = 0; c < p->nfactors; c++) {
            bestE[c] = INFINITY;
            bestS[c] = bestsh[c] = 0;
        }
        if (st->s[j] != 0.0f) {
            const float *xb = st->x + 16 * j, *wb = st->w + 16 * j;
            double wx2 = 0.0;
            for (int k = 0; k < 16; k++) wx2 += (double)wb[k] * xb[k] * xb[k];
            for (int side = 0; side < 2; side++)
                for (int sh = 0; sh < 2; sh++) eval_side(g, sh, &qs[side], side, xb, wb, wx2, bestE, bestS, bestsh);
        }
        for (int c = 0; c < p->nfactors; c++) {
            selS[c][j] = bestS[c];
            selsh[c][j] = bestsh[c];
        }
    }
}

/*
 * IQ3_K's effort default (the window search): instead of every scale code
 * (choose_small, which costs twice the two-level search), per sub-block the code
 * nearest each of a few centre scales / d_c and one step either side, on both
 * grids (choose_window_small) — max's error within 0.4 % on the vectors at a
 * third of the time (docs/types.md). The centres besides the search's own scale
 * matter mostly with an imatrix, where a few heavy weights can put the best code
 * far from it or on the other sign.
 *
 * The error of one (scale, grid): the nearest grid value of t = x / (d·S) is the
 * number of midpoints at or below t (what nearest() returns: ties up, NaN → 0),
 * a few compares per weight instead of a table walk, and the sixteen error terms
 * are summed in a fixed order, so qtk_iqk_sub_error_avx2 (iqk_avx2.c) computes
 * the same float in the same operations and the bytes do not depend on the ISA.
 */
float qtk_iqk_sub_error_scalar(const float *mid, const float *T, int nv, const float *xb, const float *wb, float dl,
                               uint8_t *idx) {
    const float idl = 1.0f / dl;
    float t[16], q[16], e[16];
    int32_t c[16];
    for (int k = 0; k < 16; k++) {
        t[k] = idl * xb[k];
        q[k] = T[0];
        c[k] = 0;
    }
    for (int m = 0; m < nv - 1; m++) {
        const float mm = mid[m], dq = T[m + 1] - T[m]; /* small integers: q stays exact */
        for (int k = 0; k < 16; k++) {
            const int ge = t[k] >= mm;
            c[k] += ge;
            q[k] += ge ? dq : 0.0f;
        }
    }
    for (int k = 0; k < 16; k++) {
        const float r = xb[k] - dl * q[k];
        e[k] = wb[k] * r * r;
    }
    float s8[8];
    for (int k = 0; k < 8; k++) s8[k] = e[k] + e[k + 8];
    for (int k = 0; k < 16; k++) idx[k] = (uint8_t)c[k];
    return ((s8[0] + s8[4]) + (s8[1] + s8[5])) + ((s8[2] + s8[6]) + (s8[3] + s8[7]));
}

typedef qtk_iqk_sub_error_fn sub_error_fn;

/* The window search's error of one (scale, grid) candidate: the LUT nearest, r = x −
 * dl·T[l] as a float, Σ w·r·r in double in k order. */
double qtk_iqk_window_error_scalar(const qtk_grid_lut *lut, const float *T, int nv, const float *xb, const float *wb,
                                   float dl, uint8_t *idx) {
    (void)nv;
    const float idl = 1.0f / dl;
    double e = 0;
    for (int k = 0; k < 16; k++) {
        const int l = qtk_grid_lut_nearest(lut, idl * xb[k]);
        idx[k] = (uint8_t)l;
        const double r = xb[k] - dl * T[l];
        e += wb[k] * r * r;
    }
    return e;
}

qtk_iqk_window_error_fn qtk_iqk_window_error_pick(int nv) {
    const int isa = qtk_isa_pick(QTK_SEARCH_LEVELS);
    (void)isa;
#ifdef QTK_HAVE_AVX512
    if (isa == QTK_ISA_AVX512 && nv <= 32) return qtk_iqk_window_error_avx512;
#endif
#ifdef QTK_HAVE_AVX2
    if (isa == QTK_ISA_AVX2 && nv <= 32) return qtk_iqk_window_error_avx2;
#endif
#ifdef QTK_HAVE_NEON
    if (isa == QTK_ISA_NEON && nv <= 32) return qtk_iqk_window_error_neon;
#endif
    (void)nv;
    return qtk_iqk_window_error_scalar;
}

qtk_iqk_sub_error_fn qtk_iqk_sub_error_pick(void) {
    const int isa = qtk_isa_pick(QTK_SEARCH_LEVELS);
    (void)isa;
#ifdef QTK_HAVE_AVX512
    if (isa == QTK_ISA_AVX512) return qtk_iqk_sub_error_avx512;
#endif
#ifdef QTK_HAVE_AVX2
    if (isa == QTK_ISA_AVX2) return qtk_iqk_sub_error_avx2;
#endif
#ifdef QTK_HAVE_NEON
    if (isa == QTK_ISA_NEON) return qtk_iqk_sub_error_neon;
#endif
    return qtk_iqk_sub_error_scalar;
}

/* Scale code, grid and indices of sub-block j for super-block scale dc (window
 * search): the code nearest each centre's scale / dc and one step either side,
 * both grids; centres: the search's result, its best of the other sign and the
 * far tries' best of each sign (duplicates and absent ones skipped). */
static void choose_window_small(const iqk_qparams *p, const fgrid *g, sub_error_fn err, const sb_state *st, int j,
                                float dc, int *S_out, int *sh_out, uint8_t *idx_out) {
    const int step = p->odd_scales ? 2 : 1;
    const float cs[4] = {st->s[j], st->salt[j], st->sfar[j][0], st->sfar[j][1]};
    int center[4], nc = 0;
    for (int a = 0; a < 4; a++) {
        if (cs[a] == 0.0f) continue;
        float r = cs[a] / dc;
        r = r >= (float)p->smin ? (r <= (float)p->smax ? r : (float)p->smax) : (float)p->smin; /* NaN → smin */
        const int c = p->odd_scales ? 2 * qtk_nearest_int(0.5f * (r - 1.0f)) + 1 : qtk_nearest_int(r);
        int dup = 0;
        for (int b = 0; b < nc; b++) dup |= center[b] == c;
        if (!dup) center[nc++] = c;
    }
    float best = INFINITY;
    *S_out = 0;
    for (int i = 0; i < 3 * nc; i++) {
        const int S = center[i / 3] + step * (i % 3 - 1);
        if (S < p->smin || S > p->smax || S == 0) continue;
        for (int sh = 0; sh < 2; sh++) {
            uint8_t idx[16];
            const float e = err(g->lut[sh].mid, g->v + sh * g->nv, g->nv, st->x + 16 * j, st->w + 16 * j,
                                dc * (float)S, idx);
            if (e < best) {
                best = e;
                *S_out = S;
                *sh_out = sh;
                memcpy(idx_out, idx, 16);
            }
        }
    }
}

/* Joint improvement over the reference's two-level scheme: for a few
 * super-block scales (both signs) re-choose every sub-block's integer scale and
 * grid, refit, and keep the encoding with the lowest weighted error of the
 * stored (fudged, fp16) scale. A candidate is taken only when it is no worse
 * under the plain weights (imatrix or 1) either, and the reference's result is
 * the starting point, so neither error ever gets worse. */
static void refine_superblock(const iqk_qparams *p, const fgrid *g, sub_error_fn err, sb_state *st, float d_grid) {
    if (d_grid == 0.0f || st->d == 0.0f || p->nfactors == 0) return;
    double best_p;
    double best_e = sb_error2(p, g, st, qtk_fp16_to_fp32(store_scale(p->fudge * st->d)), &best_p);
    int bS[NSUB], bsh[NSUB];
    uint8_t bidx[QK_K];
    float bd = st->d;
    memcpy(bS, st->S, sizeof bS);
    memcpy(bsh, st->shift, sizeof bsh);
    memcpy(bidx, st->idx, sizeof bidx);
    const int small = g->nv <= 8;
    int selS[MAX_FACTORS][NSUB], selsh[MAX_FACTORS][NSUB];
    if (small && !p->window) choose_small(p, g, st, d_grid, selS, selsh);
    for (int c = 0; c < p->nfactors; c++) {
        const float dc = d_grid * p->factors[c];
        for (int j = 0; j < NSUB; j++) {
            if (st->s[j] == 0.0f) {
                st->S[j] = 0;
                continue;
            }
            if (!small) {
                if (!best_sub_window(p, g, st, j, dc, 1, &st->S[j], &st->shift[j], st->idx + 16 * j)) st->S[j] = 0;
                continue;
            }
            if (p->window) {
                choose_window_small(p, g, err, st, j, dc, &st->S[j], &st->shift[j], st->idx + 16 * j);
                continue;
            }
            st->S[j] = selS[c][j];
            st->shift[j] = selsh[c][j];
            if (st->S[j] == 0) continue;
            const float idl = 1.0f / (dc * (float)st->S[j]);
            for (int k = 0; k < 16; k++)
                st->idx[16 * j + k] = (uint8_t)nearest(g, st->shift[j], idl * st->x[16 * j + k]);
        }
        double sqx = 0, sq2 = 0;
        const int nv = p->desc->nv;
        for (int i = 0; i < QK_K; i++) {
            const int j = i / 16;
            const double q = (double)g->v[(st->shift[j] ? nv : 0) + st->idx[i]] * st->S[j];
            sqx += st->w[i] * q * st->x[i];
            sq2 += st->w[i] * q * q;
        }
        if (!(sq2 > 0)) continue;
        float d = (float)(sqx / sq2);
        for (int it = 0; it < 2; it++) {
            double ep;
            const double e = sb_error2(p, g, st, qtk_fp16_to_fp32(store_scale(p->fudge * d)), &ep);
            if (e < best_e && ep <= best_p) {
                best_e = e;
                best_p = ep;
                bd = d;
                memcpy(bS, st->S, sizeof bS);
                memcpy(bsh, st->shift, sizeof bsh);
                memcpy(bidx, st->idx, sizeof bidx);
            }
            if (it == 0) {
                const float dn = requant_all(p, g, st, d);
                if (dn == 0.0f) break;
                d = dn;
            }
        }
    }
    st->d = bd;
    memcpy(st->S, bS, sizeof bS);
    memcpy(st->shift, bsh, sizeof bsh);
    memcpy(st->idx, bidx, sizeof bidx);
}

/* One complete encoding of st->x with the importance weights st->w. */
static void encode_pass(const iqk_qparams *p, const fgrid *g, sub_error_fn err, sb_state *st) {
    for (int j = 0; j < NSUB; j++) {
        st->salt[j] = 0.0f; /* search_iq2 has none */
        st->sfar[j][0] = st->sfar[j][1] = 0.0f;
        st->s[j] = p->desc == &desc_iq2_k ? search_iq2(g, st->x + 16 * j, st->w + 16 * j, &st->shift[j])
                                          : search_nl(p, g, st->x + 16 * j, st->w + 16 * j, &st->shift[j],
                                                      p->window ? &st->salt[j] : NULL, p->window ? st->sfar[j] : NULL);
    }
    const float d = quantize_subscales(p, st);
    if (d == 0.0f) {
        for (int j = 0; j < NSUB; j++) st->S[j] = 0;
        st->d = 0.0f;
        requant_all(p, g, st, 0.0f);
        return;
    }
    st->d = requant_all(p, g, st, d);
    refine_superblock(p, g, err, st, d);
}

/* Encodes one super-block into st (indices, scales, shifts, d). IQ2_K's coarse
 * 4-bit scales make the result sensitive to how strongly the x²-type weights
 * favour the largest values; without an imatrix it also tries flatter weights
 * and keeps whichever encoding has the smaller product of method-weighted and
 * plain error. Not with an imatrix: there the second pass lowered the weight
 * error but raised the model's KL-divergence (tiny-llama IQ2_K, 40 chunks:
 * 0.0307 with it, 0.0301 without). */
static void encode_superblock(const iqk_qparams *p, const fgrid *g, sub_error_fn err, sb_state *st,
                              const float *qw) {
    for (int i = 0; i < QK_K; i++) st->wp[i] = qw ? qw[i] : 1.0f;
    make_weights(p, st->x, qw, 0, st->w);
    encode_pass(p, g, err, st);
    if (!p->flat_pass || st->d == 0.0f || qw) return;
    double ep_a, ep_b;
    const double e_a = sb_error2(p, g, st, qtk_fp16_to_fp32(store_scale(p->fudge * st->d)), &ep_a);
    sb_state alt;
    memcpy(alt.x, st->x, sizeof alt.x);
    memcpy(alt.wp, st->wp, sizeof alt.wp);
    make_weights(p, alt.x, qw, 1, alt.w);
    encode_pass(p, g, err, &alt);
    memcpy(alt.w, st->w, sizeof alt.w); /* judge both with the method's weights */
    const double e_b = sb_error2(p, g, &alt, qtk_fp16_to_fp32(store_scale(p->fudge * alt.d)), &ep_b);
    if (alt.d != 0.0f && e_b * ep_b < e_a * ep_a) *st = alt;
}

/* Packs the encoding of one super-block into its block bytes. */
static void pack_block(const iqk_qparams *p, const sb_state *st, float d, uint8_t *b) {
    const size_t sz = p->desc->block_bytes;
    memset(b, 0, sz);
    wr16(b, store_scale(d));
    uint16_t extra = 0;
    for (int j = 0; j < NSUB; j++) extra |= (uint16_t)(st->shift[j] << j);
    wr16(b + 2, extra);
    const uint8_t *idx = st->idx;
    if (p->desc == &desc_iq2_k || p->desc == &desc_iq3_k) {
        const int is3 = p->desc == &desc_iq3_k;
        uint8_t *scales = b + (is3 ? 6 : 4), *qs = b + (is3 ? 14 : 12);
        uint16_t sh = 0;
        for (int j = 0; j < NSUB; j++) {
            int code;
            if (is3) {
                code = (abs(st->S[j]) - 1) / 2;
                if (st->S[j] < 0) sh |= (uint16_t)(1u << j);
            } else {
                code = st->S[j] + 8;
            }
            scales[j / 2] |= (uint8_t)(code << (4 * (j % 2)));
        }
        for (int i = 0; i < QK_K; i++) {
            const int b32 = i / 32, pp = i % 32;
            qs[32 * (b32 / 4) + pp] |= (uint8_t)((idx[i] & 3) << (2 * (b32 % 4)));
            if (is3) b[78 + pp] |= (uint8_t)(((idx[i] >> 2) & 1) << b32);
        }
        if (is3) wr16(b + 4, sh);
        return;
    }
    if (p->desc == &desc_iq6_k) {
        for (int j = 0; j < NSUB; j++) b[4 + j] = (uint8_t)(int8_t)st->S[j];
        for (int i = 0; i < QK_K; i++) {
            const int b32 = i / 32, pp = i % 32;
            b[20 + 32 * (b32 / 2) + pp] |= (uint8_t)((idx[i] & 0xF) << (4 * (b32 % 2)));
            b[148 + 32 * (b32 / 4) + pp] |= (uint8_t)((idx[i] >> 4) << (2 * (b32 % 4)));
        }
        return;
    }
    /* IQ4_K and IQ5_K share the 6-bit scale layout. */
    for (int j = 0; j < NSUB; j++) {
        const int ls = st->S[j] + 32;
        b[8 + j / 2] |= (uint8_t)((ls & 0xF) << (4 * (j % 2)));
        b[4 + j / 4] |= (uint8_t)((ls >> 4) << (2 * (j % 4)));
    }
    for (int i = 0; i < QK_K; i++) {
        const int b32 = i / 32, pp = i % 32;
        if (p->desc == &desc_iq4_k) {
            b[16 + 16 * b32 + pp % 16] |= (uint8_t)(idx[i] << (pp < 16 ? 0 : 4));
        } else {
            b[16 + 32 * (b32 / 2) + pp] |= (uint8_t)((idx[i] & 0xF) << (4 * (b32 % 2)));
            b[144 + pp] |= (uint8_t)((idx[i] >> 4) << b32);
        }
    }
}

static size_t quantize_generic(const iqk_qparams *pmax, const float *src, void *dst, int64_t nrows, int64_t n,
                               const float *imatrix, int effort) {
    /* Effort levels (docs/types.md): max = every improvement candidate (the bytes
     * before levels existed), default = the few that win almost always, fast =
     * none (the reference's two-level search alone). */
    iqk_qparams q = *pmax;
    const iqk_qparams *p = &q;
    if (effort == QTK_EFFORT_DEFAULT) {
        q.factors = pmax->dfactors;
        q.nfactors = pmax->ndfactors;
        if (pmax->nwfactors) { /* IQ3_K: the window search */
            q.window = 1;
            q.factors = pmax->wfactors;
            q.nfactors = pmax->nwfactors;
        }
        /* IQ2_K without an imatrix: the flatter-weights pass brings nearly all of
         * max's gain (small model: total relative RMSE 0.2968 vs 0.2956 at 0.3x
         * the time; fast 0.3229), so default skips the improvement pass there */
        if (!imatrix && pmax->flat_pass) q.nfactors = 0;
    } else if (effort == QTK_EFFORT_FAST) {
        q.nfactors = 0;
        q.flat_pass = 0;
    }
    fgrid g;
    make_fgrid(p->desc, &g);
    const sub_error_fn err = qtk_iqk_sub_error_pick();
    sb_state state, *st = &state;
    uint8_t *out = (uint8_t *)dst;
    const int64_t nb = n / QK_K;
    for (int64_t r = 0; r < nrows; r++) {
        for (int64_t ib = 0; ib < nb; ib++, out += p->desc->block_bytes) {
            memcpy(st->x, src + r * n + ib * QK_K, sizeof st->x);
            encode_superblock(p, &g, err, st, imatrix ? imatrix + ib * QK_K : NULL);
            pack_block(p, st, p->fudge * st->d, out);
        }
    }
    return (size_t)(nrows * nb) * p->desc->block_bytes;
}

/* Improvement-pass candidates: the small grids search every scale code, so
 * fewer super-block scales suffice; on the large grids only these ever won on
 * Gaussian, heavy-tailed, outlier and real-weight data. */
static const float factors_small[] = {1.0f, 0.8f, 0.6f, 0.45f, -1.0f, -0.75f, -0.5f};
static const float factors_large[] = {1.0f, 1.1f, -1.0f};
/* Effort default: the candidates that win almost always (small model IQ3_K: the
 * other four change the total relative RMSE by 0.02 %, docs/types.md). */
static const float dfactors_small[] = {1.0f, 0.8f, -1.0f};
/* IQ3_K's window search: its scale codes are symmetric (±1…±31), so a candidate −f
 * chooses the mirror image of candidate f (S → −S, d → −d: the same error) and
 * −1.0 is dropped; on the vectors these two reach max's error in every
 * distribution within 0.4 % (docs/types.md). */
static const float wfactors_iq3[] = {1.0f, 0.8f};
static const float dfactors_large[] = {1.0f, 1.1f};
#define NF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const iqk_qparams qp_iq2_k = {&desc_iq2_k, 1.5f, 1, 0, 1.0f, 0, 1.03f, -8, 7, 0,
                                     factors_small, NF(factors_small), dfactors_small, NF(dfactors_small), 1, NULL, 0, 0};
static const iqk_qparams qp_iq3_k = {&desc_iq3_k, 1.5f,          1,
                                     3,           2.0f,          0,
                                     1.01f,       -31,           31,
                                     1,           factors_small, NF(factors_small),
                                     dfactors_small, NF(dfactors_small), 0,
                                     wfactors_iq3, NF(wfactors_iq3), 0};
static const iqk_qparams qp_iq4_k = {&desc_iq4_k, 2.0f, 0, 7, 1.0f, 0, 1.0f, -32, 31, 0,
                                     factors_large, NF(factors_large), dfactors_large, NF(dfactors_large), 0, NULL, 0, 0};
static const iqk_qparams qp_iq5_k = {&desc_iq5_k, 2.0f, 1, 5, 1.0f, 1, 1.0f, -32, 31, 0,
                                     factors_large, NF(factors_large), dfactors_large, NF(dfactors_large), 0, NULL, 0, 0};
static const iqk_qparams qp_iq6_k = {&desc_iq6_k, 2.0f, 1, 5, 1.0f, 1, 1.0f, -127, 127, 0,
                                     factors_large, NF(factors_large), dfactors_large, NF(dfactors_large), 0, NULL, 0, 0};

/* Without an effort level: max (the bytes qtk wrote before levels existed). */
#define IQK_QUANTIZE(t)                                                                                          \
    size_t qtk_##t##_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {      \
        return quantize_generic(&qp_##t, src, dst, nrows, n, imatrix, QTK_EFFORT_MAX);                            \
    }                                                                                                             \
    size_t qtk_##t##_quantize_effort(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix, \
                                     int effort) {                                                                \
        return quantize_generic(&qp_##t, src, dst, nrows, n, imatrix, effort);                                    \
    }
IQK_QUANTIZE(iq2_k)
IQK_QUANTIZE(iq3_k)
IQK_QUANTIZE(iq4_k)
IQK_QUANTIZE(iq5_k)
IQK_QUANTIZE(iq6_k)

void qtk_iq2_k_from_float(const float *src, void *dst, int64_t n) { qtk_iq2_k_quantize(src, dst, 1, n, NULL); }
void qtk_iq3_k_from_float(const float *src, void *dst, int64_t n) { qtk_iq3_k_quantize(src, dst, 1, n, NULL); }
void qtk_iq4_k_from_float(const float *src, void *dst, int64_t n) { qtk_iq4_k_quantize(src, dst, 1, n, NULL); }
void qtk_iq5_k_from_float(const float *src, void *dst, int64_t n) { qtk_iq5_k_quantize(src, dst, 1, n, NULL); }
void qtk_iq6_k_from_float(const float *src, void *dst, int64_t n) { qtk_iq6_k_quantize(src, dst, 1, n, NULL); }
