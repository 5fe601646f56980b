/* float_dot_neon.c — AArch64 NEON dot products of F32/F16/BF16 rows: four
 * independent 4-lane FMA accumulators hide the latency; F16 widened by fcvtl,
 * BF16 by a 16-bit left shift (both exact). Without them an F16 or BF16 model
 * ran the scalar reference on AArch64: a conversion call per value. Rows are
 * read bytewise: a row of a mapped file may sit at any address. */
#include "float_dot.h"
#include "simd_neon.h"

#include <arm_neon.h>

typedef float32x4_t (*load4_fn)(const uint8_t *p);
typedef float (*load1_fn)(const uint8_t *p);

/* Σ x·y over n elements of es bytes: vectors of 4, then the tail one by one. */
QTK_FORCE_INLINE float dot_rows(int64_t n, const uint8_t *px, const uint8_t *py, const int es, load4_fn load4,
                                load1_fn load1) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, load4(px + es * i), load4(py + es * i));
        a1 = vfmaq_f32(a1, load4(px + es * (i + 4)), load4(py + es * (i + 4)));
        a2 = vfmaq_f32(a2, load4(px + es * (i + 8)), load4(py + es * (i + 8)));
        a3 = vfmaq_f32(a3, load4(px + es * (i + 12)), load4(py + es * (i + 12)));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, load4(px + es * i), load4(py + es * i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) sum += load1(px + es * i) * load1(py + es * i);
    return sum;
}

static inline float32x4_t load_f32x4(const uint8_t *p) { return vreinterpretq_f32_u8(vld1q_u8(p)); }
static inline float load_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}
static inline float32x4_t load_f16x4(const uint8_t *p) { return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p))); }
static inline float load_f16(const uint8_t *p) { return qtk_neon_load_f16(p); }
static inline float32x4_t load_bf16x4(const uint8_t *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8(p)), 16));
}
static inline float load_bf16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return qtk_bf16_to_fp32(h);
}

void qtk_f32_vec_dot_neon(int64_t n, float *s, const void *x, const void *y) {
    *s = dot_rows(n, (const uint8_t *)x, (const uint8_t *)y, 4, load_f32x4, load_f32);
}

void qtk_f16_vec_dot_neon(int64_t n, float *s, const void *x, const void *y) {
    *s = dot_rows(n, (const uint8_t *)x, (const uint8_t *)y, 2, load_f16x4, load_f16);
}

void qtk_bf16_vec_dot_neon(int64_t n, float *s, const void *x, const void *y) {
    *s = dot_rows(n, (const uint8_t *)x, (const uint8_t *)y, 2, load_bf16x4, load_bf16);
}
