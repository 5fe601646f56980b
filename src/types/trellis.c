/*
 * trellis.c — the trellis ("KT") types IQ1_KT, IQ2_KT, IQ3_KT, IQ4_KT
 * (FORMATS.md §5): decoders and the scalar dot products. The quantizers
 * are in trellis_quant.c, the SIMD kernels in trellis_<isa>.c.
 *
 * Every weight group (8 weights, 4 for IQ4_KT) is one generator index; its
 * values are small integers (|v| ≤ 126), so a 32-weight sub-block is exactly
 * d_row·S·v with int8 v: to_float evaluates (d_row·S)·v in float as the
 * reference's dequantizer does; to_float_dot and the dot products use
 * F·d_row in place of d_row (the reference's kernel factors, trellis.h).
 */
#include "trellis.h"
#include "grids.h"

#include <math.h>

const uint32_t qtk_kt_mul_pow[8] = {
    0xCBAC1FEDu, 0xCBAC1FEDu * 0xCBAC1FEDu, 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu,
    0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu,
    0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu,
    0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu,
    0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu,
    0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu * 0xCBAC1FEDu,
};

static float rd_f32(const void *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

static uint16_t rd_u16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static uint32_t rd_u32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd_u64(const void *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The 8 x 8 bit matrix x (bit j of byte i) transposed (to bit i of byte j) by three
 * delta swaps (Hacker's Delight, transpose8): IQ3_KT's sign bits, 8 values at a time
 * instead of one shift-and-mask per value and sub-block. */
static uint64_t bit_transpose8(uint64_t x) {
    uint64_t t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
    x = x ^ t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
    x = x ^ t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
    return x ^ t ^ (t << 28);
}

/* Block geometry per type: bytes per 256 weights, weights per group. */
static size_t kt_block_bytes(int type) {
    switch (type) {
    case QTK_TYPE_IQ1_KT: return 56;
    case QTK_TYPE_IQ2_KT: return 68;
    case QTK_TYPE_IQ3_KT: return 100;
    default: return 128;
    }
}

void qtk_kt_unpack(int type, const uint8_t *blk, qtk_kt_sub *sub) {
    switch (type) {
    case QTK_TYPE_IQ1_KT: {
        const uint8_t *sh = blk, *ql = blk + 8, *qh = blk + 40;
        for (int b = 0; b < 8; b++) {
            sub[b].scale = qtk_iq4nl_values[sh[b] & 0xF];
            sub[b].signs = 0;
            for (int t = 0; t < 4; t++) {
                const int g = 4 * b + t;
                const uint32_t nib = g < 16 ? (qh[g] & 0xF) : (qh[g - 16] >> 4);
                const uint32_t idx = ql[g] | (nib << 8) | ((uint32_t)((sh[b] >> (4 + t)) & 1) << 12);
                sub[b].seed[t] = idx + QTK_KT_OFFSET;
            }
        }
        break;
    }
    case QTK_TYPE_IQ2_KT:
    case QTK_TYPE_IQ3_KT: {
        const uint8_t *sc = blk, *ql = blk + 4, *qh = blk + 68;
        for (int b = 0; b < 8; b++) {
            const int nib = (sc[b % 4] >> (4 * (b / 4))) & 0xF;
            sub[b].scale = type == QTK_TYPE_IQ2_KT ? qtk_iq4nl_values[nib] : nib;
            for (int t = 0; t < 4; t++) sub[b].seed[t] = (uint32_t)rd_u16(ql + 2 * (4 * b + t)) + QTK_KT_OFFSET;
            sub[b].signs = 0;
        }
        if (type == QTK_TYPE_IQ3_KT) /* bit b of qh[p] is the sign of value p of sub-block b */
            for (int c = 0; c < 4; c++) {
                const uint64_t t = bit_transpose8(rd_u64(qh + 8 * c));
                for (int b = 0; b < 8; b++) sub[b].signs |= (uint32_t)((t >> (8 * b)) & 0xFF) << (8 * c);
            }
        break;
    }
    default: { /* IQ4_KT */
        const uint8_t *ql = blk + 32, *qh = blk + 96;
        for (int b = 0; b < 8; b++) {
            const uint32_t shb = rd_u32(blk + 4 * b);
            const uint32_t off = (shb & 1) ? QTK_KT_OFFSET + 32768u : QTK_KT_OFFSET;
            sub[b].scale = (int)((shb & 0xFF) >> 1) - 64;
            sub[b].signs = 0;
            for (int t = 0; t < 8; t++) {
                const int jj = 8 * b + t;
                const uint32_t nib = jj < 32 ? (qh[jj] & 0xF) : (qh[jj - 32] >> 4);
                const uint32_t idx = ql[jj] | (nib << 8) | (((shb >> (8 + 3 * t)) & 7) << 12);
                sub[b].seed[t] = idx + off;
            }
        }
        break;
    }
    }
}

/* The 32 integer values of one sub-block (signs applied). */
static void kt_sub_values(int type, const qtk_kt_sub *s, int *v) {
    const int gs = type == QTK_TYPE_IQ4_KT ? 4 : 8;
    for (int g = 0; g < 32 / gs; g++) {
        uint32_t x = s->seed[g];
        for (int k = 0; k < gs; k++) {
            x *= QTK_KT_MUL;
            v[g * gs + k] = qtk_kt_value(x);
        }
    }
    if (type == QTK_TYPE_IQ3_KT)
        for (int p = 0; p < 32; p++) {
            const int a = v[p] < 0 ? -v[p] : v[p];
            v[p] = ((s->signs >> p) & 1) ? -a : a;
        }
}

/* to_float with row scale d·factor: y = (d·S)·v per weight, evaluated as the
 * reference does (|v| scaled first, then negated, for IQ3_KT: the same value). */
static void kt_to_float(int type, const void *row, float *dst, int64_t n, float factor) {
    const uint8_t *p = (const uint8_t *)row;
    const float d = factor == 1.0f ? rd_f32(p) : rd_f32(p) * factor;
    p += 4;
    const size_t bb = kt_block_bytes(type);
    qtk_kt_sub sub[8];
    int v[32];
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        qtk_kt_unpack(type, p, sub);
        for (int b = 0; b < 8; b++) {
            const float dl = d * (float)sub[b].scale;
            kt_sub_values(type, &sub[b], v);
            float *y = dst + ibl * QK_K + 32 * b;
            for (int j = 0; j < 32; j++) y[j] = dl * (float)v[j];
            if (type == QTK_TYPE_IQ3_KT) /* |v| scaled, then negated: a zero keeps its sign bit (−0) */
                for (int j = 0; j < 32; j++)
                    if ((sub[b].signs >> j) & 1) y[j] = -(dl * (float)(-v[j]));
        }
    }
}

static void kt_to_int8(int type, const void *row, int64_t n, float *d, int8_t *q, float factor) {
    const uint8_t *p = (const uint8_t *)row;
    const float dr = rd_f32(p) * factor;
    p += 4;
    const size_t bb = kt_block_bytes(type);
    qtk_kt_sub sub[8];
    int v[32];
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        qtk_kt_unpack(type, p, sub);
        for (int b = 0; b < 8; b++) {
            d[ibl * 8 + b] = dr * (float)sub[b].scale;
            kt_sub_values(type, &sub[b], v);
            for (int j = 0; j < 32; j++) q[ibl * QK_K + 32 * b + j] = (int8_t)v[j];
        }
    }
}

/* Σ_b d_y[b]·(S_b·Σ v·y) over the row's 32-blocks (in qtk_kt_sum8's order), times F·d_row. */
static void kt_vec_dot(int type, float factor, int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *p = (const uint8_t *)vx;
    const qtk_block_q8_0 *y = (const qtk_block_q8_0 *)vy;
    const float d = rd_f32(p) * factor;
    p += 4;
    const size_t bb = kt_block_bytes(type);
    qtk_kt_sub sub[8];
    int v[32];
    float part[8] = {0};
    for (int64_t ibl = 0; ibl < n / QK_K; ibl++, p += bb) {
        qtk_kt_unpack(type, p, sub);
        for (int b = 0; b < 8; b++) {
            kt_sub_values(type, &sub[b], v);
            const qtk_block_q8_0 *yb = &y[ibl * 8 + b];
            int32_t isum = 0;
            for (int j = 0; j < 32; j++) isum += v[j] * yb->qs[j];
            part[b] += qtk_fp16_to_fp32(yb->d) * (float)(sub[b].scale * isum);
        }
    }
    *s = d * qtk_kt_sum8(part);
}

#define KT_SCALAR(t, ID, F)                                                                    \
    void qtk_##t##_to_float(const void *row, float *dst, int64_t n) { kt_to_float(ID, row, dst, n, 1.0f); } \
    void qtk_##t##_to_float_dot(const void *row, float *dst, int64_t n) { kt_to_float(ID, row, dst, n, F); } \
    void qtk_##t##_to_int8(const void *row, int64_t n, float *d, int8_t *q) { kt_to_int8(ID, row, n, d, q, F); } \
    void qtk_##t##_from_float(const float *src, void *dst, int64_t n) { qtk_##t##_quantize(src, dst, 1, n, NULL); } \
    void qtk_##t##_vec_dot_scalar(int64_t n, float *s, const void *x, const void *y) { kt_vec_dot(ID, F, n, s, x, y); }

KT_SCALAR(iq1_kt, QTK_TYPE_IQ1_KT, QTK_KT_F_IQ1)
KT_SCALAR(iq2_kt, QTK_TYPE_IQ2_KT, QTK_KT_F_IQ2)
KT_SCALAR(iq3_kt, QTK_TYPE_IQ3_KT, QTK_KT_F_IQ3)
KT_SCALAR(iq4_kt, QTK_TYPE_IQ4_KT, QTK_KT_F_IQ4)
