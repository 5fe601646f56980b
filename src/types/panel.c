/*
 * panel.c — conversion of weight rows to int8 panels, activation tiles,
 * the scalar reference kernel and the dispatch (see panel.h).
 */
#include "panel.h"
#include "../core/qtk_internal.h"

#include <math.h>
#include <stddef.h>

#define R 8  /* rows of the scalar (reference) panel */
#define BLOCK_BYTES qtk_panel_block_bytes(R)

void qtk_panel_quant_scalar(const float *v, int64_t n, float *d, int8_t *q) {
    for (int64_t b = 0; b < n / QTK_PANEL_B; b++) {
        const float *x = v + b * QTK_PANEL_B;
        float amax = 0.0f;
        for (int k = 0; k < QTK_PANEL_B; k++) {
            const float a = fabsf(x[k]);
            amax = a > amax ? a : amax;
        }
        const float dd = amax / 127.0f, id = dd > 0.0f ? 1.0f / dd : 0.0f;
        d[b] = dd;
        for (int k = 0; k < QTK_PANEL_B; k++) {
            int iq = qtk_nearest_int(x[k] * id);
            iq = iq > 127 ? 127 : iq;
            iq = iq < -127 ? -127 : iq;
            q[b * QTK_PANEL_B + k] = (int8_t)iq;
        }
    }
}

/* The per-row step: n weights of row src to per-32 scales d and int8 values q
 * (zeros for a padding row, src == NULL); tmp holds n floats. */
static void row_step(const qtk_panel_kernels *kern, const qtk_type_traits *tr, const uint8_t *src, int64_t n,
                     float *d, int8_t *q, float *tmp) {
    if (!src) {
        memset(d, 0, (size_t)(n / QTK_PANEL_B) * sizeof(float));
        memset(q, 0, (size_t)n);
    } else if (tr->to_int8_isa[kern->isa]) {
        tr->to_int8_isa[kern->isa](src, n, d, q);  /* the scalar step's bytes, SIMD */
    } else if (tr->to_int8) {
        tr->to_int8(src, n, d, q);  /* exact: no re-quantization */
    } else {
        (tr->to_float_dot ? tr->to_float_dot : tr->to_float)(src, tmp, n);
        kern->quant(tmp, n, d, q);
    }
}

void qtk_panel_convert(const qtk_panel_kernels *kern, const qtk_type_traits *tr, const uint8_t *w, size_t stride,
                       int nr, int64_t n, uint8_t *panel, float *tmp) {
    const int64_t nb = n / QTK_PANEL_B;
    const uint8_t off = kern->unsigned_w ? 0x80 : 0;
    const int rows = kern->rows;
    const size_t bb = qtk_panel_block_bytes(rows);
    float *d = tmp + n;
    if (kern->pack) {  /* every row first, then one interleaving pass */
        int8_t *q = (int8_t *)(d + (size_t)rows * (size_t)nb);
        for (int r = 0; r < rows; r++)
            row_step(kern, tr, r < nr ? w + (size_t)r * stride : NULL, n, d + (size_t)r * (size_t)nb,
                     q + (size_t)r * (size_t)n, tmp);
        kern->pack(n, d, q, panel);
        return;
    }
    int8_t *lin = (int8_t *)(d + nb);
    for (int r = 0; r < rows; r++) {
        row_step(kern, tr, r < nr ? w + (size_t)r * stride : NULL, n, d, lin, tmp);
        if (off)
            for (int64_t k = 0; k < n; k++) lin[k] = (int8_t)((uint8_t)lin[k] ^ off);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *blk = panel + (size_t)b * bb;
            memcpy(blk + (size_t)r * sizeof(float), &d[b], sizeof(float));
            uint8_t *qq = blk + (size_t)rows * sizeof(float) + 4 * r;
            const int8_t *l = lin + b * QTK_PANEL_B;
            for (int g = 0; g < QTK_PANEL_B / 4; g++) memcpy(qq + 4 * rows * g, l + 4 * g, 4);
        }
    }
}

bool qtk_panel_act_supported(qtk_type t) {
    return t == QTK_TYPE_Q8_0 || t == QTK_TYPE_Q8_2 || t == QTK_TYPE_Q8_K;
}

void qtk_panel_act_scan(qtk_type t, const uint8_t *a, size_t a_stride, int64_t n_cols, int64_t n, float *d,
                        int32_t *sum) {
    const int64_t nb = n / QTK_PANEL_B;
    for (int64_t c = 0; c < n_cols; c++) {
        const uint8_t *col = a + (size_t)c * a_stride;
        float *dc = d + (size_t)c * (size_t)nb;
        int32_t *sc = sum + (size_t)c * (size_t)nb;
        if (t == QTK_TYPE_Q8_K) {
            const qtk_block_q8_K *y = (const qtk_block_q8_K *)col;
            for (int64_t b = 0; b < nb; b++) {
                const qtk_block_q8_K *s = &y[b >> 3];
                dc[b] = s->d;
                sc[b] = (int32_t)s->bsums[2 * (b & 7)] + (int32_t)s->bsums[2 * (b & 7) + 1];
            }
        } else if (t == QTK_TYPE_Q8_2) {
            const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)col;
            for (int64_t b = 0; b < nb; b++) {
                dc[b] = qtk_fp16_to_fp32(y[b].d);
                sc[b] = y[b].sum;
            }
        } else {  /* Q8_0 */
            const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)col;
            for (int64_t b = 0; b < nb; b++) {
                int s = 0;
                for (int k = 0; k < QK8_0; k++) s += y[b].qs[k];
                dc[b] = qtk_fp16_to_fp32(y[b].d);
                sc[b] = s;
            }
        }
    }
}

void qtk_panel_act_describe(qtk_type t, const uint8_t *a, size_t a_stride, int n_cols, const float *d,
                            const int32_t *sum, qtk_panel_act *act) {
    memset(act, 0, sizeof *act);
    act->n_cols = n_cols;
    act->d = d;
    act->sum = sum;
    if (t == QTK_TYPE_Q8_K) {
        act->block_stride = QTK_PANEL_B;
        act->super_stride = sizeof(qtk_block_q8_K);
    } else {
        act->block_stride = t == QTK_TYPE_Q8_2 ? sizeof(qtk_block_q8_2) : sizeof(qtk_block_q8_0);
        act->super_stride = 8 * act->block_stride;
    }
    const size_t qs_off = t == QTK_TYPE_Q8_K ? offsetof(qtk_block_q8_K, qs)
                          : t == QTK_TYPE_Q8_2 ? offsetof(qtk_block_q8_2, qs) : offsetof(qtk_block_q8_0, qs);
    for (int c = 0; c < n_cols; c++) act->qs[c] = (const int8_t *)(a + (size_t)c * a_stride + qs_off);
}

void qtk_panel_act_prepare(qtk_type t, const uint8_t *a, size_t a_stride, int n_cols, int64_t n, float *d,
                           int32_t *sum, qtk_panel_act *act) {
    qtk_panel_act_scan(t, a, a_stride, n_cols, n, d, sum);
    qtk_panel_act_describe(t, a, a_stride, n_cols, d, sum, act);
}

/* The reference: integer sums per block, then acc = fma(sum, d_w·d_y, acc)
 * in float, the same operations in the same order as every SIMD kernel, so
 * all levels give identical results. */
void qtk_panel_gemm_scalar(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                           int nr) {
    const int64_t nb = n / QTK_PANEL_B;
    for (int c = 0; c < act->n_cols; c++) {
        float acc[R] = {0};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk = panel + (size_t)b * BLOCK_BYTES;
            float dw[R];
            memcpy(dw, blk, sizeof dw);
            const int8_t *q = (const int8_t *)(blk + R * sizeof(float));
            const int8_t *y = act->qs[c] + (size_t)(b >> 3) * act->super_stride + (size_t)(b & 7) * act->block_stride;
            const float dy = act->d[(size_t)c * (size_t)nb + (size_t)b];
            for (int r = 0; r < R; r++) {
                int32_t s = 0;
                for (int k = 0; k < QTK_PANEL_B; k++) s += (int32_t)q[(k >> 2) * 32 + r * 4 + (k & 3)] * y[k];
                /* a fused multiply-add, as the SIMD kernels do: the product of two floats is
                 * exact in double, so only the sum rounds (once to double, then to float;
                 * the libm fmaf of some platforms, e.g. mingw's, is not fused) */
                acc[r] = (float)((double)(float)s * (double)(dw[r] * dy) + (double)acc[r]);
            }
        }
        for (int r = 0; r < nr; r++) out[(size_t)c * out_stride + (size_t)r] = acc[r];
    }
}

static int64_t peak_scalar(int64_t iters, int seed, int32_t *sink) {
    int32_t a[8] = {0};
    int8_t w[8], y[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (int8_t)(seed + i);
        y[i] = (int8_t)(seed - i);
    }
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) a[i] += w[i] * y[(i + it) & 7];
    *sink = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    return iters * 8;
}

static const qtk_panel_kernels levels[QTK_ISA_COUNT] = {
    [QTK_ISA_SCALAR] = {qtk_panel_gemm_scalar, qtk_panel_quant_scalar, false, 8, peak_scalar, QTK_ISA_SCALAR, NULL},
#ifdef QTK_HAVE_AVX2
    [QTK_ISA_AVX2] = {qtk_panel_gemm_avx2, qtk_panel_quant_avx2, false, 8, qtk_panel_peak_avx2, QTK_ISA_AVX2, NULL},
#endif
#ifdef QTK_HAVE_AVX512
    [QTK_ISA_AVX512] = {qtk_panel_gemm_avx512, qtk_panel_quant_avx512, true, 16, qtk_panel_peak_avx512,
                        QTK_ISA_AVX512, qtk_panel_pack_avx512},
#endif
#ifdef QTK_HAVE_NEON
    [QTK_ISA_NEON] = {qtk_panel_gemm_neon, qtk_panel_quant_neon, false, 8, qtk_panel_peak_neon, QTK_ISA_NEON, NULL},
#endif
#ifdef QTK_HAVE_NEON_DOT
    [QTK_ISA_NEON_DOT] = {qtk_panel_gemm_neondot, qtk_panel_quant_neon, false, 8, qtk_panel_peak_neondot,
                          QTK_ISA_NEON_DOT, NULL},
#endif
};

int64_t qtk_panel_peak_loop(int64_t iters, int seed, int32_t *sink) {
    return qtk_panel_best()->peak(iters, seed, sink);
}

const qtk_panel_kernels *qtk_panel_level(qtk_isa isa) {
    if ((int)isa < 0 || isa >= QTK_ISA_COUNT || !levels[isa].gemm) return NULL;
    return &levels[isa];
}

const qtk_panel_kernels *qtk_panel_best(void) {
    unsigned mask = 0;
    for (int i = 0; i < QTK_ISA_COUNT; i++)
        if (levels[i].gemm) mask |= 1u << i;
    const int isa = qtk_isa_pick(mask);
    return &levels[isa >= 0 ? isa : QTK_ISA_SCALAR];
}
