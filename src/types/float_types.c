/* float_types.c — F32, F16 and BF16 rows (conversions in core/fp16.c). */
#include "types_internal.h"

void qtk_f32_to_float(const void *row, float *dst, int64_t n) { memcpy(dst, row, (size_t)n * sizeof(float)); }

size_t qtk_f32_quantize(const float *src, void *dst, int64_t nrows, int64_t n, const float *imatrix) {
    (void)imatrix;
    memcpy(dst, src, (size_t)(nrows * n) * sizeof(float));
    return (size_t)(nrows * n) * sizeof(float);
}

/* Rows of F16/BF16 are converted with the bits alone, in loops the compiler
 * vectorises (the F16 input of qtk quantize went through a per-value call with
 * branches: 13 % of a Q3_K_M quantization). F16: the 15 magnitude bits moved to
 * float's place and the exponent rebiased; an all-ones exponent (Inf/NaN) gets
 * the rest of float's; a zero one (zero, subnormal) becomes 2^-14·(1 + m/1024),
 * from which subtracting 2^-14 leaves m·2^-24 exactly. Bit for bit
 * qtk_fp16_to_fp32 (test_types_table checks all 65536 values). */
void qtk_f16_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        const uint32_t mag = (uint32_t)(h & 0x7fff) << 13, exp = mag & 0x0f800000u;
        uint32_t o = mag + (112u << 23);
        o += (0u - (uint32_t)(exp == 0x0f800000u)) & (112u << 23);
        float fs;
        const uint32_t os = o + (1u << 23);
        memcpy(&fs, &os, 4);
        fs -= 6.103515625e-05f; /* 2^-14 */
        uint32_t sub;
        memcpy(&sub, &fs, 4);
        const uint32_t zero_exp = 0u - (uint32_t)(exp == 0); /* masks, not branches: the loop vectorises */
        o = (sub & zero_exp) | (o & ~zero_exp);
        o |= (uint32_t)(h & 0x8000) << 16;
        memcpy(dst + i, &o, 4);
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
        const uint32_t o = (uint32_t)h << 16; /* qtk_bf16_to_fp32 */
        memcpy(dst + i, &o, 4);
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
