/*
 * simd_neon.h — small helpers shared by the AArch64 kernel files (*_neon.c, and
 * through them *_neondot.c); the NEON twin of simd_x86.h.
 */
#ifndef QTK_SIMD_NEON_H
#define QTK_SIMD_NEON_H

#include "neon_level.h"
#include "types_internal.h"

#include <arm_neon.h>
#include <string.h>

/* fp16 bits h as float by the FP unit's conversion (fcvtl, Armv8.0: exact for every
 * finite half, subnormals included): qtk_fp16_to_fp32's value, inline. A call inside a
 * kernel loop costs its ~15 instructions of bit handling and the spill of every live
 * caller-saved vector register; the legacy NEON dot products made two per 32 weights,
 * about half of their instructions (BENCHMARKS.md, session 27). */
QTK_FORCE_INLINE float qtk_neon_f16_to_f32(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* The little-endian fp16 field at p (any alignment) as float. */
QTK_FORCE_INLINE float qtk_neon_load_f16(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return qtk_neon_f16_to_f32(h);
}

/* int32 lanes of Σ a·b over 16 signed bytes: sdot in the dot-product build
 * (neon_level.h), else 8x8->16-bit products pairwise-widened into 32 bits (exact
 * for every pair of int8, -128 included). The two builds group the bytes into
 * lanes differently (sdot: 4 adjacent bytes per lane), so a caller may rely only
 * on the lanes' sum or scale all four lanes alike. */
QTK_FORCE_INLINE int32x4_t qtk_neon_dot16(int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdupq_n_s32(0), a, b);
#else
    return vpadalq_s16(vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b))), vmull_high_s8(a, b));
#endif
}

/* int32 lanes of a0·b0 + a1·b1 over 32 byte pairs (the same lane caveat). */
QTK_FORCE_INLINE int32x4_t qtk_neon_dot32(int8x16_t a0, int8x16_t b0, int8x16_t a1, int8x16_t b1) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, b0), a1, b1);
#else
    const int32x4_t s = vpadalq_s16(vpaddlq_s16(vmull_s8(vget_low_s8(a0), vget_low_s8(b0))), vmull_high_s8(a0, b0));
    return vpadalq_s16(vpadalq_s16(s, vmull_s8(vget_low_s8(a1), vget_low_s8(b1))), vmull_high_s8(a1, b1));
#endif
}

#endif
