/*
 * simd_neon.h — small helpers shared by the AArch64 kernel files (*_neon.c, and
 * through them *_neondot.c); the NEON twin of simd_x86.h.
 */
#ifndef QTK_SIMD_NEON_H
#define QTK_SIMD_NEON_H

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

#endif
