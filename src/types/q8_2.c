/*
 * q8_2.c — Q8_2, qtk's per-32 activation format of Q4_K and Q5_K (id 99, the id
 * ik_llama.cpp gives its Q8_2 family; never stored in files). Block of 36 bytes:
 *   d    fp16 scale,
 *   sum  int16, exactly Σ qs over the block (|sum| ≤ 32·127), so the dmin·m term
 *        of a type-1 k-quant costs one integer product per 32 weights,
 *   qs   int8[32], value = d·qs.
 * Scale rule: d = fp16(amax/127) (clamped to the finite fp16 range, as Q8_0);
 * the quants are computed with that fp16-ROUNDED scale, qs = round(x/d) (ties to
 * even), so every decoded value is within d/2 of its input. Where fp16 rounding
 * made d so much smaller than amax/127 that amax/d would round past 127 (only
 * possible for a subnormal d, i.e. amax below ~1e-3), d is bumped to the next
 * fp16 value, so no quant is clipped. A block with d == 0 is all zero.
 */
#include "types_internal.h"

#include <math.h>

#define Q8_2_FP16_MAX 65504.0f

/* Quantizes n floats (n a multiple of 32) to Q8_2 blocks by the rule above; never fails. */
void qtk_q8_2_from_float(const float *src, void *dst, int64_t n) {
    qtk_block_q8_2 *y = (qtk_block_q8_2 *)dst;
    for (int64_t i = 0; i < n / QK8_2; i++) {
        const float *x = src + i * QK8_2;
        const float amax = qtk_amax8(x, QK8_2);
        float d = amax / 127.0f;
        if (d > Q8_2_FP16_MAX) d = Q8_2_FP16_MAX;
        uint16_t h = qtk_fp32_to_fp16(d);
        float df = qtk_fp16_to_fp32(h);
        if (df > 0.0f && df < Q8_2_FP16_MAX && amax / df >= 127.5f) df = qtk_fp16_to_fp32(++h);
        qtk_block_q8_2 b;
        memset(&b, 0, sizeof b);
        if (df > 0.0f) {
            const float id = 1.0f / df;
            int sum = 0;
            for (int j = 0; j < QK8_2; j++) {
                float v = x[j] * id;
                /* clamp before the magic-number rounding (only valid for |v| < 2^22);
                 * NaN input gives 0 */
                v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : (v == v ? v : 0.0f));
                const int q = qtk_nearest_int(v);
                b.qs[j] = (int8_t)q;
                sum += q;
            }
            b.d = h;
            b.sum = (int16_t)sum;
        }
        memcpy(&y[i], &b, sizeof b);
    }
}

/* Decodes value = d·qs (sum is redundant and ignored). */
void qtk_q8_2_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)row;
    for (int64_t i = 0; i < n / QK8_2; i++, p += sizeof(qtk_block_q8_2)) {
        uint16_t h;
        memcpy(&h, p, 2);
        const float d = qtk_fp16_to_fp32(h);
        const int8_t *qs = (const int8_t *)(p + 4);
        for (int j = 0; j < QK8_2; j++) dst[i * QK8_2 + j] = d * (float)qs[j];
    }
}
