/*
 * legacy1.c — Q4_1, Q5_1 and MXFP4 (legacy1.h): decoding and the scalar reference
 * dot products (FORMATS-MAINLINE-IQ §9–§10). Their quantizers: legacy1_quant.c.
 */
#include "legacy1.h"

#include <math.h>

const int8_t qtk_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

static uint16_t rd16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* ---- Q4_1 / Q5_1 decoding ------------------------------------------------------ */

/* Level q ∈ [0,32) of weight j of a Q5_1 block (qh bit j = fifth bit). */
static inline int q5_1_level(const qtk_block_q5_1 *b, uint32_t qh, int j) {
    const int lo = j < 16 ? (b->qs[j] & 0x0F) : (b->qs[j - 16] >> 4);
    return lo | (int)(((qh >> j) & 1u) << 4);
}

/* w = q·d + m: the product is exact, the addition rounds once (§0.1). */
void qtk_q4_1_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q4_1 *b = (const qtk_block_q4_1 *)row;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = qtk_fp16_to_fp32(rd16(&b[i].d)), m = qtk_fp16_to_fp32(rd16(&b[i].m));
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(b[i].qs[j] & 0x0F) * d + m;
            dst[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

void qtk_q5_1_to_float(const void *row, float *dst, int64_t n) {
    const qtk_block_q5_1 *b = (const qtk_block_q5_1 *)row;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = qtk_fp16_to_fp32(rd16(&b[i].d)), m = qtk_fp16_to_fp32(rd16(&b[i].m));
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 32; j++) dst[j] = (float)q5_1_level(&b[i], qh, j) * d + m;
    }
}

/* ---- Q4_1 / Q5_1 dot products against Q8_2 ---------------------------------------
 * Per block: the exact integer sum Σ q_x·q_y, then
 *   acc += isum·(d_x·d_y) + sum_y·(m_x·d_y)
 * with sum_y = Σ q_y stored exactly in the Q8_2 block: the result is
 * Σ (q·d + m)·(d_y·q_y). The two terms often nearly cancel (m ≈ −d·q̄), so
 * they are formed and summed in double: d_x·d_y and m_x·d_y are exact in float
 * (fp16 × fp16), their products with the integer sums exact in double, and
 * only the accumulation rounds (at 2^−53), once more at the end to float. */
void qtk_q4_1_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q4_1 *x = (const qtk_block_q4_1 *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / 32; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += (x[i].qs[j] & 0x0F) * y[i].qs[j];
            isum += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        const float dy = qtk_fp16_to_fp32(rd16(&y[i].d));
        int16_t sy;
        memcpy(&sy, &y[i].sum, 2);
        sum += (double)isum * (double)(qtk_fp16_to_fp32(rd16(&x[i].d)) * dy) +
               (double)sy * (double)(qtk_fp16_to_fp32(rd16(&x[i].m)) * dy);
    }
    *s = (float)sum;
}

void qtk_q5_1_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const qtk_block_q5_1 *x = (const qtk_block_q5_1 *)vx;
    const qtk_block_q8_2 *y = (const qtk_block_q8_2 *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n / 32; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += q5_1_level(&x[i], qh, j) * y[i].qs[j];
        const float dy = qtk_fp16_to_fp32(rd16(&y[i].d));
        int16_t sy;
        memcpy(&sy, &y[i].sum, 2);
        sum += (double)isum * (double)(qtk_fp16_to_fp32(rd16(&x[i].d)) * dy) +
               (double)sy * (double)(qtk_fp16_to_fp32(rd16(&x[i].m)) * dy);
    }
    *s = (float)sum;
}

/* ---- MXFP4 ------------------------------------------------------------------------ */

/* w = D(e)·KMX[code]: D(e) is a power of two and |KMX| ≤ 12, so this is the
 * exact int8 form (d = D(e), q = KMX[code]). */
void qtk_mxfp4_to_int8(const void *row, int64_t n, float *d, int8_t *q) {
    const uint8_t *b = (const uint8_t *)row;
    for (int64_t i = 0; i < n / 32; i++, b += sizeof(qtk_block_mxfp4), q += 32) {
        d[i] = qtk_mxfp4_scale(b[0]);
        for (int j = 0; j < 16; j++) {
            q[j] = qtk_kvalues_mxfp4[b[1 + j] & 0x0F];
            q[j + 16] = qtk_kvalues_mxfp4[b[1 + j] >> 4];
        }
    }
}

/* Exact products (±inf for e ≥ 253 and large codes, as the reference). */
void qtk_mxfp4_to_float(const void *row, float *dst, int64_t n) {
    const uint8_t *b = (const uint8_t *)row;
    for (int64_t i = 0; i < n / 32; i++, b += sizeof(qtk_block_mxfp4), dst += 32) {
        const float d = qtk_mxfp4_scale(b[0]);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)qtk_kvalues_mxfp4[b[1 + j] & 0x0F];
            dst[j + 16] = d * (float)qtk_kvalues_mxfp4[b[1 + j] >> 4];
        }
    }
}

/* Nearest code of v for scale d (scan upward, strict <: ties to the lower code, as the reference). */
void qtk_mxfp4_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / 32; i++, x += sizeof(qtk_block_mxfp4)) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += qtk_kvalues_mxfp4[x[1 + j] & 0x0F] * y[i].qs[j];
            isum += qtk_kvalues_mxfp4[x[1 + j] >> 4] * y[i].qs[j + 16];
        }
        sum += (float)isum * (qtk_mxfp4_scale(x[0]) * qtk_fp16_to_fp32(rd16(&y[i].d)));
    }
    *s = sum;
}
