/*
 * attn_kernels.c — scalar reference of the attention inner loops and the
 * per-ISA dispatch (see attn_kernels.h). The scalar code keeps the same
 * per-row structure as the SIMD kernels (one F32 accumulator per row and
 * key, products in element order), only without lanes.
 */
#include "attn_kernels.h"

#include <math.h>

#define ATTN_CHUNK 64

/* Widens elements [d0, d0+n) of row j (hd elements) of an F16 or F32 block. */
static void widen(const void *rows, int f16, int64_t j, int64_t hd, int64_t d0, int64_t n, float *dst) {
    if (f16) {
        const uint16_t *h = (const uint16_t *)rows + j * hd + d0;
        for (int64_t i = 0; i < n; i++) dst[i] = qtk_fp16_to_fp32(h[i]);
    } else {
        memcpy(dst, (const float *)rows + j * hd + d0, (size_t)n * sizeof(float));
    }
}

static void qk_scalar(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, int f16, float *s,
                      int64_t ss) {
    float buf[ATTN_CHUNK], acc[QTK_ATTN_MAX_ROWS];
    for (int64_t j = 0; j < nk; j++) {
        for (int r = 0; r < nr; r++) acc[r] = 0.0f;
        for (int64_t d0 = 0; d0 < hd; d0 += ATTN_CHUNK) {
            const int64_t n = QTK_MIN(ATTN_CHUNK, hd - d0);
            widen(k, f16, j, hd, d0, n, buf);
            for (int r = 0; r < nr; r++) {
                const float *qr = q[r] + d0;
                float a = acc[r];
                for (int64_t i = 0; i < n; i++) a += qr[i] * buf[i];
                acc[r] = a;
            }
        }
        for (int r = 0; r < nr; r++) s[r * ss + j] = acc[r];
    }
}

static void pv_scalar(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v, int f16,
                      float *const *o) {
    float buf[ATTN_CHUNK];
    for (int64_t d0 = 0; d0 < hd; d0 += ATTN_CHUNK) {
        const int64_t n = QTK_MIN(ATTN_CHUNK, hd - d0);
        for (int64_t j = 0; j < nk; j++) {
            widen(v, f16, j, hd, d0, n, buf);
            for (int r = 0; r < nr; r++) {
                const float w = p[r * ps + j];
                float *orow = o[r] + d0;
                for (int64_t i = 0; i < n; i++) orow[i] += w * buf[i];
            }
        }
    }
}

void qtk_attn_qk_f16_scalar(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s,
                            int64_t ss) {
    qk_scalar(hd, nr, q, nk, k, 1, s, ss);
}
void qtk_attn_qk_f32_scalar(int64_t hd, int nr, const float *const *q, int64_t nk, const void *k, float *s,
                            int64_t ss) {
    qk_scalar(hd, nr, q, nk, k, 0, s, ss);
}
void qtk_attn_pv_f16_scalar(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v,
                            float *const *o) {
    pv_scalar(hd, nr, p, ps, nk, v, 1, o);
}
void qtk_attn_pv_f32_scalar(int64_t hd, int nr, const float *p, int64_t ps, int64_t nk, const void *v,
                            float *const *o) {
    pv_scalar(hd, nr, p, ps, nk, v, 0, o);
}

float qtk_attn_scale_max_scalar(int64_t n, float *s, float scale) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        s[j] *= scale;
        mx = s[j] > mx ? s[j] : mx;
    }
    return mx;
}

float qtk_attn_exp_sum_scalar(int64_t n, float *s, float m) {
    float sum = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        s[j] = expf(s[j] - m);
        sum += s[j];
    }
    return sum;
}

void qtk_swiglu_scalar(int64_t n, float *gate, const float *up) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* ---- dispatch ------------------------------------------------------------ */

typedef struct attn_level {
    qtk_attn_qk_fn qk_f16, qk_f32;
    qtk_attn_pv_fn pv_f16, pv_f32;
    qtk_attn_scale_max_fn scale_max;
    qtk_attn_exp_sum_fn exp_sum;
    qtk_swiglu_fn swiglu;
} attn_level;

static const attn_level *level(int isa) {
    static const attn_level scalar = {qtk_attn_qk_f16_scalar, qtk_attn_qk_f32_scalar, qtk_attn_pv_f16_scalar,
                                      qtk_attn_pv_f32_scalar, qtk_attn_scale_max_scalar, qtk_attn_exp_sum_scalar,
                                      qtk_swiglu_scalar};
#ifdef QTK_HAVE_AVX2
    static const attn_level avx2 = {qtk_attn_qk_f16_avx2, qtk_attn_qk_f32_avx2, qtk_attn_pv_f16_avx2,
                                    qtk_attn_pv_f32_avx2, qtk_attn_scale_max_avx2, qtk_attn_exp_sum_avx2,
                                      qtk_swiglu_avx2};
#endif
#ifdef QTK_HAVE_AVX512
    static const attn_level avx512 = {qtk_attn_qk_f16_avx512, qtk_attn_qk_f32_avx512, qtk_attn_pv_f16_avx512,
                                      qtk_attn_pv_f32_avx512, qtk_attn_scale_max_avx512, qtk_attn_exp_sum_avx512,
                                      qtk_swiglu_avx512};
#endif
#ifdef QTK_HAVE_NEON
    static const attn_level neon = {qtk_attn_qk_f16_neon, qtk_attn_qk_f32_neon, qtk_attn_pv_f16_neon,
                                    qtk_attn_pv_f32_neon, qtk_attn_scale_max_neon, qtk_attn_exp_sum_neon,
                                      qtk_swiglu_neon};
#endif
    if (!qtk_isa_available((qtk_isa)isa)) return NULL;
    switch (isa) {
    case QTK_ISA_SCALAR: return &scalar;
#ifdef QTK_HAVE_AVX2
    case QTK_ISA_AVX2: return &avx2;
#endif
#ifdef QTK_HAVE_AVX512
    case QTK_ISA_AVX512: return &avx512;
#endif
#ifdef QTK_HAVE_NEON
    case QTK_ISA_NEON: return &neon;
#endif
    default: return NULL;
    }
}

qtk_attn_qk_fn qtk_attn_qk_get(int kt, int isa) {
    const attn_level *lv = level(isa);
    if (!lv) return NULL;
    return kt == QTK_TYPE_F16 ? lv->qk_f16 : kt == QTK_TYPE_F32 ? lv->qk_f32 : NULL;
}

qtk_attn_pv_fn qtk_attn_pv_get(int vt, int isa) {
    const attn_level *lv = level(isa);
    if (!lv) return NULL;
    return vt == QTK_TYPE_F16 ? lv->pv_f16 : vt == QTK_TYPE_F32 ? lv->pv_f32 : NULL;
}

/* Levels with attention kernels, as a qtk_isa_pick mask. */
static unsigned levels_mask(void) {
    unsigned m = 1u << QTK_ISA_SCALAR;
#ifdef QTK_HAVE_AVX2
    m |= 1u << QTK_ISA_AVX2;
#endif
#ifdef QTK_HAVE_AVX512
    m |= 1u << QTK_ISA_AVX512;
#endif
#ifdef QTK_HAVE_NEON
    m |= 1u << QTK_ISA_NEON;
#endif
    return m;
}

qtk_attn_qk_fn qtk_attn_qk_best(int kt) {
    const int isa = qtk_isa_pick(levels_mask());
    return qtk_attn_qk_get(kt, isa < 0 ? QTK_ISA_SCALAR : isa);
}

qtk_attn_pv_fn qtk_attn_pv_best(int vt) {
    const int isa = qtk_isa_pick(levels_mask());
    return qtk_attn_pv_get(vt, isa < 0 ? QTK_ISA_SCALAR : isa);
}

qtk_attn_scale_max_fn qtk_attn_scale_max_get(int isa) {
    const attn_level *lv = level(isa);
    return lv ? lv->scale_max : NULL;
}

qtk_attn_exp_sum_fn qtk_attn_exp_sum_get(int isa) {
    const attn_level *lv = level(isa);
    return lv ? lv->exp_sum : NULL;
}

qtk_swiglu_fn qtk_swiglu_get(int isa) {
    const attn_level *lv = level(isa);
    return lv ? lv->swiglu : NULL;
}

qtk_attn_scale_max_fn qtk_attn_scale_max_best(void) {
    const int isa = qtk_isa_pick(levels_mask());
    return qtk_attn_scale_max_get(isa < 0 ? QTK_ISA_SCALAR : isa);
}

qtk_attn_exp_sum_fn qtk_attn_exp_sum_best(void) {
    const int isa = qtk_isa_pick(levels_mask());
    return qtk_attn_exp_sum_get(isa < 0 ? QTK_ISA_SCALAR : isa);
}

qtk_swiglu_fn qtk_swiglu_best(void) {
    const int isa = qtk_isa_pick(levels_mask());
    return qtk_swiglu_get(isa < 0 ? QTK_ISA_SCALAR : isa);
}
