/*
 * q8_k.c — Q8_K, the activation format of the k-quants and iqk types
 * (ik's 296-byte block: d, sum = d·Σqs, qs[256], bsums[16]). Never stored
 * in files.
 */
#include "types_internal.h"

#include <math.h>

/* Reference quantization: the signed largest-magnitude value maps to -127. */
void qtk_q8_K_from_float(const float *src, void *dst, int64_t n) {
    qtk_block_q8_K *y = (qtk_block_q8_K *)dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        /* the signed value of the first element of largest magnitude (the max
         * first, then its first occurrence: no serial chain) */
        const float amax = qtk_amax8(x, QK_K);
        float max = 0.0f;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        int total = 0;
        for (int j = 0; j < QK_K; j++) {
            int v = qtk_nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)QTK_MIN(127, v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int k = 0; k < 16; k++) s += y[i].qs[j * 16 + k];
            y[i].bsums[j] = (int16_t)s;
            total += s;
        }
        y[i].d = 1.0f / iscale;
        y[i].sum = y[i].d * (float)total;
    }
}

void qtk_q8_K_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q8_K *b = (const qtk_block_q8_K *)row;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++) dst[i * QK_K + j] = b[i].d * (float)b[i].qs[j];
}
