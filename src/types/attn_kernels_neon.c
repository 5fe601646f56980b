/*
 * attn_kernels_neon.c — AArch64 NEON attention inner loops (see
 * attn_kernels.h and attn_kernels_avx2.c for the structure): 4 lanes along
 * the head dimension, F16 rows widened with fcvtl (exact), FMA in F32,
 * a scalar tail when head_dim is not a multiple of 4.
 */
#include "attn_kernels.h"

#include <arm_neon.h>
#include <math.h>

QTK_FORCE_INLINE float32x4_t load4(const void *rows, const int f16, int64_t i) {
    if (f16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)rows + i)));
    return vld1q_f32((const float *)rows + i);
}

QTK_FORCE_INLINE float elem(const void *rows, const int f16, int64_t i) {
    return f16 ? qtk_fp16_to_fp32(((const uint16_t *)rows)[i]) : ((const float *)rows)[i];
}

QTK_FORCE_INLINE void qk_tile(int64_t hd, const int NR, const int KU, const float *const *q, const void *k, const int f16,
                         int64_t j, float *s, int64_t ss) {
    float32x4_t acc[8][QTK_ATTN_MAX_ROWS];
    for (int u = 0; u < KU; u++)
        for (int r = 0; r < NR; r++) acc[u][r] = vdupq_n_f32(0.0f);
    int64_t d = 0;
    for (; d + 4 <= hd; d += 4) {
        float32x4_t kv[8];
        for (int u = 0; u < KU; u++) kv[u] = load4(k, f16, (j + u) * hd + d);
        for (int r = 0; r < NR; r++) {
            const float32x4_t qv = vld1q_f32(q[r] + d);
            for (int u = 0; u < KU; u++) acc[u][r] = vfmaq_f32(acc[u][r], qv, kv[u]);
        }
    }
    for (int u = 0; u < KU; u++)
        for (int r = 0; r < NR; r++) {
            float a = vaddvq_f32(acc[u][r]);
            for (int64_t e = d; e < hd; e++) a += q[r][e] * elem(k, f16, (j + u) * hd + e);
            s[r * ss + j + u] = a;
        }
}

QTK_FORCE_INLINE void qk_rows(int64_t hd, const int NR, const float *const *q, int64_t nk, const void *k, const int f16,
                         float *s, int64_t ss) {
    const int KU = NR == 1 ? 8 : NR == 2 ? 4 : 2;
    int64_t j = 0;
    for (; j + KU <= nk; j += KU) qk_tile(hd, NR, KU, q, k, f16, j, s, ss);
    for (; j < nk; j++) qk_tile(hd, NR, 1, q, k, f16, j, s, ss);
}

QTK_FORCE_INLINE void pv_tile(int64_t hd, const int NR, const int DU, const float *p, int64_t ps, int64_t nk,
                         const void *v, const int f16, int64_t d, float *const *o) {
    float32x4_t acc[4][QTK_ATTN_MAX_ROWS];
    for (int r = 0; r < NR; r++)
        for (int u = 0; u < DU; u++) acc[u][r] = vld1q_f32(o[r] + d + 4 * u);
    for (int64_t j = 0; j < nk; j++) {
        float32x4_t vv[4];
        for (int u = 0; u < DU; u++) vv[u] = load4(v, f16, j * hd + d + 4 * u);
        for (int r = 0; r < NR; r++) {
            const float32x4_t w = vdupq_n_f32(p[r * ps + j]);
            for (int u = 0; u < DU; u++) acc[u][r] = vfmaq_f32(acc[u][r], w, vv[u]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int u = 0; u < DU; u++) vst1q_f32(o[r] + d + 4 * u, acc[u][r]);
}

QTK_FORCE_INLINE void pv_rows(int64_t hd, const int NR, const float *p, int64_t ps, int64_t nk, const void *v,
                         const int f16, float *const *o) {
    const int DU = NR <= 4 ? 4 : 2;
    int64_t d = 0;
    for (; d + 4 * DU <= hd; d += 4 * DU) pv_tile(hd, NR, DU, p, ps, nk, v, f16, d, o);
    for (; d + 4 <= hd; d += 4) pv_tile(hd, NR, 1, p, ps, nk, v, f16, d, o);
    for (; d < hd; d++)
        for (int r = 0; r < NR; r++) {
            float a = o[r][d];
            for (int64_t j = 0; j < nk; j++) a += p[r * ps + j] * elem(v, f16, j * hd + d);
            o[r][d] = a;
        }
}

void qtk_attn_qk_f16_neon(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s,
                          int64_t ss) {
#define QK(N) qk_rows(hd, N, q, nk, k, 1, s, ss)
    ATTN_BY_ROWS(QK)
#undef QK
}

void qtk_attn_qk_f32_neon(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s,
                          int64_t ss) {
#define QK(N) qk_rows(hd, N, q, nk, k, 0, s, ss)
    ATTN_BY_ROWS(QK)
#undef QK
}

void qtk_attn_pv_f16_neon(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v,
                          float *const *o) {
#define PV(N) pv_rows(hd, N, p, ps, nk, v, 1, o)
    ATTN_BY_ROWS(PV)
#undef PV
}

void qtk_attn_pv_f32_neon(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v,
                          float *const *o) {
#define PV(N) pv_rows(hd, N, p, ps, nk, v, 0, o)
    ATTN_BY_ROWS(PV)
#undef PV
}

/* ---- softmax helpers (see attn_kernels_avx2.c) ------------------------------- */

float qtk_attn_scale_max_neon(int64_t n, float *s, float scale) {
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float32x4_t x = vmulq_n_f32(vld1q_f32(s + j), scale);
        vst1q_f32(s + j, x);
        mx = vmaxq_f32(mx, x);
    }
    float m = vmaxvq_f32(mx);
    for (; j < n; j++) {
        s[j] *= scale;
        m = s[j] > m ? s[j] : m;
    }
    return m;
}

/* exp(x) for x <= 88, 0 below -87.3: the polynomial of attn_kernels_avx2.c's exp8. */
static inline float32x4_t exp4(float32x4_t x) {
    const float32x4_t lo = vdupq_n_f32(-87.3f);
    const uint32x4_t ok = vcgeq_f32(x, lo);
    x = vmaxq_f32(x, lo);
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127)), 23);
    const float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(y), ok));
}

float qtk_attn_exp_sum_neon(int64_t n, float *s, float m) {
    const float32x4_t mv = vdupq_n_f32(m);
    float32x4_t acc = vdupq_n_f32(0.0f);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float32x4_t y = exp4(vsubq_f32(vld1q_f32(s + j), mv));
        vst1q_f32(s + j, y);
        acc = vaddq_f32(acc, y);
    }
    if (j < n) {
        float t[4];
        for (int i = 0; i < 4; i++) t[i] = j + i < n ? s[j + i] - m : -INFINITY;
        const float32x4_t y = exp4(vld1q_f32(t));
        vst1q_f32(t, y);
        for (int i = 0; j + i < n; i++) s[j + i] = t[i];
        acc = vaddq_f32(acc, y);
    }
    return vaddvq_f32(acc);
}

static inline float32x4_t swiglu4(float32x4_t g, float32x4_t u) {
    const float32x4_t e = exp4(vminq_f32(vnegq_f32(g), vdupq_n_f32(88.0f)));
    const float32x4_t y = vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
    const uint32x4_t over = vcltq_f32(g, vdupq_n_f32(-88.0f)); /* exp(-g) past the cap: 0 */
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), over));
}

void qtk_swiglu_neon(int64_t n, float *gate, const float *up) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) vst1q_f32(gate + j, swiglu4(vld1q_f32(gate + j), vld1q_f32(up + j)));
    if (j < n) {  /* the tail through the same operations, padded with zeros */
        float g[4] = {0}, u[4] = {0};
        for (int i = 0; j + i < n; i++) g[i] = gate[j + i], u[i] = up[j + i];
        vst1q_f32(g, swiglu4(vld1q_f32(g), vld1q_f32(u)));
        for (int i = 0; j + i < n; i++) gate[j + i] = g[i];
    }
}
