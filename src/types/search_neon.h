/*
 * search_neon.h — the nearest-value step shared by the NEON quantizer searches
 * (iqk_ks_quant_neon.c, iqk_quant_neon.c, iquants_quant_neon.c); the AArch64
 * form of search_avx512.h.
 *
 * The scalar searches find the grid value nearest v by counting the midpoints
 * at or below it ("v >= mid", ties up, NaN → the first value). The midpoints
 * increase, so a branch-free binary search finds the count with log2 of the
 * same compares, each probe's midpoint looked up per lane with TBL from a table
 * of up to 32 floats held in registers (128 bytes: two 4-register tables).
 *
 * Positions are kept in TBL's byte form: lane value 4·pos replicated in its
 * four bytes plus 0x03020100, so a look-up needs no index arithmetic and a step
 * of s positions is an add of s·0x04040404 (bytes stay below 128: no carries).
 *
 * The shifted grids of the KS and IQk types are their base grid plus a
 * constant c (an integer), so their midpoints are the base grid's plus c, which
 * is exact in float (half-integers well inside 2^24): a lane of the shifted grid
 * compares v with the base midpoint + c and reads base value + c. The callers
 * check that the grids they get are so and take the scalar loops otherwise.
 */
#ifndef QTK_SEARCH_NEON_H
#define QTK_SEARCH_NEON_H

#include "types_internal.h"

#include <arm_neon.h>
#include <math.h>

/* A table of up to 32 floats for per-lane look-ups. It stays in memory: TBL wants its
 * table in consecutive registers, which a 1-instruction LD1 {4 registers} gives at
 * every look-up, and the compiler hoists those loads where registers are free (held
 * in registers by value instead, the tables made gcc spill inside the loops). */
typedef struct {
    float v[32];
} qtk_lut_neon;

/* The table of vectors v[0..n/4) (n a multiple of 4, <= 32). */
QTK_FORCE_INLINE void qtk_lut_neon_set(qtk_lut_neon *T, const float32x4_t *v, int n) {
    for (int i = 0; i < n / 4; i++) vst1q_f32(T->v + 4 * i, v[i]);
}

/* The table of floats v[0..n) (n <= 32). */
QTK_FORCE_INLINE void qtk_lut_neon_init(qtk_lut_neon *T, const float *v, int n) {
    for (int i = 0; i < n; i++) T->v[i] = v[i];
}

/* The byte form of positions pos (see above). */
QTK_FORCE_INLINE uint32x4_t qtk_pos_neon(uint32x4_t pos) {
    return vmlaq_u32(vdupq_n_u32(0x03020100u), pos, vdupq_n_u32(0x04040404u));
}

/* Entry pos of a table of n <= 32 entries, pos in byte form; n a constant in each
 * inlined copy, so only the look-ups the table needs remain. */
QTK_FORCE_INLINE float32x4_t qtk_lut_neon_get(const qtk_lut_neon *T, int n, uint32x4_t pos) {
    const uint8x16_t b = vreinterpretq_u8_u32(pos);
    const uint8_t *t = (const uint8_t *)(const void *)T->v;
    uint8x16_t r;
    if (n <= 4) {
        r = vqtbl1q_u8(vld1q_u8(t), b);
    } else if (n <= 8) {
        r = vqtbl2q_u8(vld1q_u8_x2(t), b);
    } else {
        r = vqtbl4q_u8(vld1q_u8_x4(t), b);
        /* bytes 64..127 from the second half; below 64 the index wraps past 191: kept */
        if (n > 16) r = vqtbx4q_u8(r, vld1q_u8_x4(t + 64), vsubq_u8(b, vdupq_n_u8(64)));
    }
    return vreinterpretq_f32_u8(r);
}

/* pos + the count of midpoints <= v among the `span` (a power of two) entries of M
 * (n entries) from pos on, each midpoint + shift (per lane; add_shift 0: none).
 * Entries a grid never reaches must not be probed: the last of a grid of span
 * values never is. pos in byte form. */
QTK_FORCE_INLINE uint32x4_t qtk_nearest_pos_neon(const qtk_lut_neon *M, int n, int span, float32x4_t v,
                                                 int add_shift, float32x4_t shift, uint32x4_t pos) {
    for (int st = span / 2; st >= 1; st /= 2) {
        float32x4_t m = qtk_lut_neon_get(M, n, vaddq_u32(pos, vdupq_n_u32(0x04040404u * (uint32_t)(st - 1))));
        if (add_shift) m = vaddq_f32(m, shift);
        pos = vaddq_u32(pos, vandq_u32(vcgeq_f32(v, m), vdupq_n_u32(0x04040404u * (uint32_t)st)));
    }
    return pos;
}

/* The position in byte form back to an index 0..31 per lane. */
QTK_FORCE_INLINE uint32x4_t qtk_pos_index_neon(uint32x4_t pos) {
    return vshrq_n_u32(vandq_u32(pos, vdupq_n_u32(0xFFu)), 2);
}

/* The tables of a grid of ng = 8, 16 or 32 int8 values: V its values as floats, M its
 * midpoints 0.5·(g[i] + g[i+1]) (exact) with +inf last (never probed). Built in
 * registers: the searches build them once per call, which is once per sub-block. */
QTK_FORCE_INLINE void qtk_grid_tables_neon(const int8_t *grid, int ng, qtk_lut_neon *M, qtk_lut_neon *V) {
    float32x4_t v[8], m[8];
    for (int k = 0; k < ng / 8; k++) {
        const int16x8_t h = vmovl_s8(vld1_s8(grid + 8 * k));
        v[2 * k] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(h)));
        v[2 * k + 1] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(h)));
    }
    for (int k = 0; k < ng / 4; k++) {
        const float32x4_t next = vextq_f32(v[k], k + 1 < ng / 4 ? v[k + 1] : vdupq_n_f32(INFINITY), 1);
        m[k] = vmulq_f32(vdupq_n_f32(0.5f), vaddq_f32(v[k], next));
    }
    qtk_lut_neon_set(M, m, ng);
    qtk_lut_neon_set(V, v, ng);
}

/* The same for a grid of 4 values (no 8-byte load past its end). */
static inline void qtk_grid4_tables_neon(const int8_t *grid, qtk_lut_neon *M, qtk_lut_neon *V) {
    float mt[4], vt[4];
    for (int i = 0; i < 4; i++) {
        vt[i] = (float)grid[i];
        mt[i] = i < 3 ? 0.5f * ((float)grid[i] + (float)grid[i + 1]) : INFINITY;
    }
    qtk_lut_neon_init(M, mt, 4);
    qtk_lut_neon_init(V, vt, 4);
}

/* 1 when grid b (ng values) is grid a plus one constant, which *c receives. */
static inline int qtk_grid_shift_neon(const int8_t *a, const int8_t *b, int ng, float *c) {
    for (int i = 1; i < ng; i++)
        if (b[i] - a[i] != b[0] - a[0]) return 0;
    *c = (float)(b[0] - a[0]);
    return 1;
}

#endif
