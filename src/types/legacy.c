/*
 * legacy.c — the 32-weight block types Q4_0 and Q8_0 (scalar reference).
 * Q8_0 doubles as the activation format for every 32-block weight type.
 * SIMD dot products: legacy_avx2.c, legacy_avx512.c, legacy_neon.c.
 */
#include "types_internal.h"

#include <math.h>

static uint16_t rd16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* ---- Q8_0 ------------------------------------------------------------------ */

void qtk_q8_0_to_float(const void *row, float *dst, int64_t n) {
    const block_q8_0 *b = (const block_q8_0 *)row;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = qtk_fp16_to_fp32(rd16(&b[i].d));
        for (int j = 0; j < QK8_0; j++) dst[i * QK8_0 + j] = (float)b[i].qs[j] * d;
    }
}

/* Round-to-nearest with d = amax/127, as the reference (the imatrix is ignored). */
void qtk_q8_0_from_float(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = (block_q8_0 *)dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *x = src + i * QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = d ? 1.0f / d : 0.0f;
        uint16_t dh = qtk_fp32_to_fp16(d);
        memcpy(&b[i].d, &dh, 2);
        for (int j = 0; j < QK8_0; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

size_t qtk_q8_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    (void)imatrix;
    qtk_q8_0_from_float(src, dst, nrows * n);
    return (size_t)(nrows * n / QK8_0) * sizeof(block_q8_0);
}

void qtk_q8_0_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = (const block_q8_0 *)vx, *y = (const block_q8_0 *)vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += x[i].qs[j] * y[i].qs[j];
        sum += (float)isum * (qtk_fp16_to_fp32(rd16(&x[i].d)) * qtk_fp16_to_fp32(rd16(&y[i].d)));
    }
    *s = sum;
}

/* ---- Q4_0 ------------------------------------------------------------------ */

void qtk_q4_0_to_float(const void *row, float *dst, int64_t n) {
    const block_q4_0 *b = (const block_q4_0 *)row;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float d = qtk_fp16_to_fp32(rd16(&b[i].d));
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[i * QK4_0 + j] = (float)((b[i].qs[j] & 0x0F) - 8) * d;
            dst[i * QK4_0 + j + QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* Reference RTN: d = max/-8 with max the signed largest-magnitude value. */
void qtk_q4_0_from_float(const float *src, void *dst, int64_t n) {
    block_q4_0 *b = (block_q4_0 *)dst;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float *x = src + i * QK4_0;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d ? 1.0f / d : 0.0f;
        uint16_t dh = qtk_fp32_to_fp16(d);
        memcpy(&b[i].d, &dh, 2);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const int q0 = (int)(x[j] * id + 8.5f), q1 = (int)(x[j + QK4_0 / 2] * id + 8.5f);
            b[i].qs[j] = (uint8_t)(QTK_MIN(15, q0) | (QTK_MIN(15, q1) << 4));
        }
    }
}

size_t qtk_q4_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    (void)imatrix;
    qtk_q4_0_from_float(src, dst, nrows * n);
    return (size_t)(nrows * n / QK4_0) * sizeof(block_q4_0);
}

void qtk_q4_0_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = (const block_q4_0 *)vx;
    const block_q8_0 *y = (const block_q8_0 *)vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            isum += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK4_0 / 2];
        }
        sum += (float)isum * (qtk_fp16_to_fp32(rd16(&x[i].d)) * qtk_fp16_to_fp32(rd16(&y[i].d)));
    }
    *s = sum;
}
