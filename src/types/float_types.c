/* float_types.c — F32, F16 and BF16 rows (conversions in core/fp16.c). */
#include "types_internal.h"

void qtk_f32_to_float(const void *row, float *dst, int64_t n) { memcpy(dst, row, (size_t)n * sizeof(float)); }

size_t qtk_f32_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    (void)imatrix;
    memcpy(dst, src, (size_t)(nrows * n) * sizeof(float));
    return (size_t)(nrows * n) * sizeof(float);
}

void qtk_f16_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = qtk_fp16_to_fp32(h);
    }
}

void qtk_f16_from_float(const float *src, void *dst, int64_t n) {
    uint8_t *p = (uint8_t *)dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = qtk_fp32_to_fp16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

size_t qtk_f16_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    (void)imatrix;
    qtk_f16_from_float(src, dst, nrows * n);
    return (size_t)(nrows * n) * 2;
}

void qtk_bf16_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = qtk_bf16_to_fp32(h);
    }
}

void qtk_bf16_from_float(const float *src, void *dst, int64_t n) {
    uint8_t *p = (uint8_t *)dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = qtk_fp32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

size_t qtk_bf16_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    (void)imatrix;
    qtk_bf16_from_float(src, dst, nrows * n);
    return (size_t)(nrows * n) * 2;
}
