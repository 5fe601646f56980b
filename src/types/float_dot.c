/* float_dot.c — scalar reference dot products of F32/F16/BF16 rows. */
#include "float_dot.h"

void qtk_f32_from_float(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

/* Rows may be unaligned (mmap'd files), hence memcpy per element; the sum
 * is kept in double so SIMD kernels can be checked against it. */
void qtk_f32_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y) {
    const uint8_t *px = (const uint8_t *)x, *py = (const uint8_t *)y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float a, b;
        memcpy(&a, px + 4 * i, 4);
        memcpy(&b, py + 4 * i, 4);
        sum += (double)a * (double)b;
    }
    *s = (float)sum;
}

void qtk_f16_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y) {
    const uint8_t *px = (const uint8_t *)x, *py = (const uint8_t *)y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t a, b;
        memcpy(&a, px + 2 * i, 2);
        memcpy(&b, py + 2 * i, 2);
        sum += (double)qtk_fp16_to_fp32(a) * (double)qtk_fp16_to_fp32(b);
    }
    *s = (float)sum;
}

void qtk_bf16_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y) {
    const uint8_t *px = (const uint8_t *)x, *py = (const uint8_t *)y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t a, b;
        memcpy(&a, px + 2 * i, 2);
        memcpy(&b, py + 2 * i, 2);
        sum += (double)qtk_bf16_to_fp32(a) * (double)qtk_bf16_to_fp32(b);
    }
    *s = (float)sum;
}
