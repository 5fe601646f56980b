/*
 * panel_neon.c — the panel kernel on AArch64: in the dot-product build
 * (panel_neondot.c, neon_level.h), sdot by lane (vdotq_laneq_s32) multiplies 4 rows' 4 weights by
 * one 4-byte group of the activations; without it, vmull_s8 + pairwise
 * adds give the same integer sums. Signed operands, no offsets. Results
 * equal the scalar reference exactly. The re-quantization step of the
 * types without an exact int8 form (qtk_panel_quant_neon) is built once and
 * serves both levels.
 */
#include "panel.h"

#include "neon_level.h"

#include <arm_neon.h>

#define R 8  /* rows per panel */
#define BLOCK_BYTES qtk_panel_block_bytes(R)

/* Σ over 4 consecutive k of w (rows 4 at a time, 16 bytes) × y4 (4 bytes). */
static inline int32x4_t dot4(int32x4_t acc, int8x16_t w, const int8_t *y4) {
    int32_t v;
    memcpy(&v, y4, 4);
    const int8x16_t y = vreinterpretq_s8_s32(vdupq_n_s32(v));
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, w, y);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(y));
    const int16x8_t hi = vmull_s8(vget_high_s8(w), vget_high_s8(y));
    const int32x4_t pl = vpaddlq_s16(lo), ph = vpaddlq_s16(hi);
    return vaddq_s32(acc, vpaddq_s32(pl, ph));
#endif
}

void NEON_FN(qtk_panel_gemm)(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                         int nr) {
    const int64_t nb = n / QTK_PANEL_B;
    for (int c = 0; c < act->n_cols; c++) {
        float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk = panel + (size_t)b * BLOCK_BYTES;
            const int8_t *q = (const int8_t *)(blk + R * sizeof(float));
            const int8_t *y = act->qs[c] + (size_t)(b >> 3) * act->super_stride + (size_t)(b & 7) * act->block_stride;
            int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
            for (int g = 0; g < 8; g++) {
                s0 = dot4(s0, vld1q_s8(q + 32 * g), y + 4 * g);
                s1 = dot4(s1, vld1q_s8(q + 32 * g + 16), y + 4 * g);
            }
            const float32x4_t dy = vdupq_n_f32(act->d[(size_t)c * (size_t)nb + (size_t)b]);
            const float32x4_t dw0 = vmulq_f32(vld1q_f32((const float *)blk), dy);
            const float32x4_t dw1 = vmulq_f32(vld1q_f32((const float *)blk + 4), dy);
            acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(s0), dw0);
            acc1 = vfmaq_f32(acc1, vcvtq_f32_s32(s1), dw1);
        }
        float t[R];
        vst1q_f32(t, acc0);
        vst1q_f32(t + 4, acc1);
        for (int r = 0; r < nr; r++) out[(size_t)c * out_stride + (size_t)r] = t[r];
    }
}

/* 8 independent sdot chains (vmull-based without the dot-product extension). */
int64_t NEON_FN(qtk_panel_peak)(int64_t iters, int seed, int32_t *sink) {
    int32x4_t a[8];
    const int8x16_t w = vdupq_n_s8((int8_t)seed);
    int8_t y4[4] = {(int8_t)(seed + 1), (int8_t)(seed + 2), (int8_t)(seed + 3), (int8_t)(seed + 4)};
    for (int i = 0; i < 8; i++) a[i] = vdupq_n_s32(i);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) a[i] = dot4(a[i], w, y4);
    int32x4_t t = a[0];
    for (int i = 1; i < 8; i++) t = vaddq_s32(t, a[i]);
    *sink = vgetq_lane_s32(t, 0);
    return iters * 8 * 16;
}

#ifndef QTK_NEON_DOT_BUILD
/* qtk_panel_quant_scalar's bytes, 32 weights per step: the same amax, the same
 * scale and reciprocal (scalar float operations), and vcvtnq's round-to-nearest-
 * even equals qtk_nearest_int's for |x·id| <= 127 + rounding (finite inputs). */
void qtk_panel_quant_neon(const float *v, int64_t n, float *d, int8_t *q) {
    for (int64_t b = 0; b < n / QTK_PANEL_B; b++) {
        const float *x = v + b * QTK_PANEL_B;
        float32x4_t xv[8];
        for (int i = 0; i < 8; i++) xv[i] = vld1q_f32(x + 4 * i);
        float32x4_t m = vabsq_f32(xv[0]);
        for (int i = 1; i < 8; i++) m = vmaxq_f32(m, vabsq_f32(xv[i]));
        const float amax = vmaxvq_f32(m);
        const float dd = amax / 127.0f, id = dd > 0.0f ? 1.0f / dd : 0.0f;
        d[b] = dd;
        int16x8_t h[4];
        for (int i = 0; i < 4; i++) {
            const int32x4_t lo = vcvtnq_s32_f32(vmulq_n_f32(xv[2 * i], id));
            const int32x4_t hi = vcvtnq_s32_f32(vmulq_n_f32(xv[2 * i + 1], id));
            h[i] = vcombine_s16(vqmovn_s32(lo), vqmovn_s32(hi));
        }
        const int8x16_t lim = vdupq_n_s8(127), nlim = vdupq_n_s8(-127);
        const int8x16_t q0 = vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1]));
        const int8x16_t q1 = vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3]));
        vst1q_s8(q + b * QTK_PANEL_B, vmaxq_s8(vminq_s8(q0, lim), nlim));
        vst1q_s8(q + b * QTK_PANEL_B + 16, vmaxq_s8(vminq_s8(q1, lim), nlim));
    }
}
#endif
