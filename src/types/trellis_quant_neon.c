/*
 * trellis_quant_neon.c — the KT quantizers' chunk scan on AArch64 (trellis.h):
 * 4 candidates per register, two fused multiply-adds per coordinate. Only the
 * base NEON level has it (the dot-product extension does not help a float
 * scan), so it lives apart from trellis_neon.c's dot kernels, which compile
 * twice (neon_level.h).
 */
#include "trellis.h"

#include <arm_neon.h>
#include <math.h>

/* A of 4 candidates per register (two fused multiply-adds per coordinate,
 * int8 values widened in the register) for one query, its shortlist by
 * compares; returns the shortlist's length. */
static int kt_chunk1_neon(const int8_t *v, int nd, int nblk, const float *w, const float *bk, double slack,
                          float *amin, float *a, int *sel) {
    float32x4_t wk[8], bv[8];
    for (int k = 0; k < nd; k++) {
        wk[k] = vdupq_n_f32(w[k]);
        bv[k] = vdupq_n_f32(bk[k]);
    }
    float32x4_t vmin = vdupq_n_f32(INFINITY);
    for (int i = 0; i < nblk; i++) {
        const int8_t *vb = v + (size_t)i * 16 * (size_t)nd;
        float32x4_t acc[4];
        for (int h = 0; h < 4; h++) acc[h] = vdupq_n_f32(0.0f);
        for (int k = 0; k < nd; k++) {
            const int8x16_t c8 = vld1q_s8(vb + 16 * k);
            const int16x8_t lo = vmovl_s8(vget_low_s8(c8)), hi = vmovl_s8(vget_high_s8(c8));
            const float32x4_t c[4] = {vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo))),
                                      vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi)))};
            for (int h = 0; h < 4; h++) acc[h] = vfmaq_f32(acc[h], vfmaq_f32(bv[k], wk[k], c[h]), c[h]);
        }
        for (int h = 0; h < 4; h++) {
            vst1q_f32(a + 16 * i + 4 * h, acc[h]);
            vmin = vminq_f32(vmin, acc[h]);
        }
    }
    const float m = vminvq_f32(vmin);
    if (m < *amin) *amin = m;
    const float thr = qtk_kt_threshold(*amin, slack);
    const float32x4_t tv = vdupq_n_f32(thr);
    int n = 0;
    for (int i = 0; i < 4 * nblk; i++) {
        if (vmaxvq_u32(vcleq_f32(vld1q_f32(a + 4 * i), tv)) == 0) continue;
        for (int j = 0; j < 4; j++)
            if (a[4 * i + j] <= thr) sel[n++] = 4 * i + j;
    }
    return n;
}

/* The chunk scan (trellis.h), one query after the other. */
void qtk_kt_chunk_neon(const int8_t *v, int nd, int nblk, int nq, const float *w, const float *bk, const double *slack,
                       float *amin, float *a, int *sel, int *nsel) {
    for (int q = 0; q < nq; q++)
        nsel[q] = kt_chunk1_neon(v, nd, nblk, w, bk + 8 * q, slack[q], amin + q, a + q * QTK_KT_CHUNK,
                                 sel + q * QTK_KT_CHUNK);
}

void qtk_kt_search_multi_neon(const qtk_kt_book *b, int nq, int ng, const float *t, const float *w, const int *cells,
                              int *out) {
    qtk_kt_shortlist_search(b, nq, ng, t, w, cells, out, qtk_kt_chunk_neon);
}
