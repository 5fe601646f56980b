/*
 * iq_mainline.c — decoding, exact int8 forms and the scalar reference dot
 * products (× Q8_K) of IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M
 * (see iq_mainline.h for the common form w = d·m·q·F).
 * SIMD dot products: iq_mainline_avx2.c, _avx512.c, _neon.c.
 */
#include "iq_mainline.h"
#include "../core/threadpool.h"

/*
 * to_float: w = (d·m)·q·F, every step exact (FORMATS-MAINLINE-IQ §0.1), so
 * this is the reference's value bit for bit, signed zeros included.
 * vec_dot_scalar: S = Σ_B m_B · Σ q·y exactly in int (|S| < 2^27), then
 * Σ_blocks (double)S · (d·d_y) · F in double.
 */
#define IQM_DEFINE(t, BYTES, DBITS, WORD, MUL16, F)                                         \
    void qtk_##t##_to_float(const void *row, float *dst, int64_t n) {                       \
        const uint8_t *b = (const uint8_t *)row;                                            \
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, b += (BYTES)) {                        \
            const float d = qtk_fp16_to_fp32(DBITS(b));                                     \
            for (int B = 0; B < 16; B++, dst += 16) {                                        \
                const float dl = d * (float)MUL16(b, B);                                    \
                int8_t q[16];                                                                \
                const uint64_t w0 = WORD(b, 2 * B), w1 = WORD(b, 2 * B + 1);                \
                memcpy(q, &w0, 8);                                                           \
                memcpy(q + 8, &w1, 8);                                                       \
                for (int j = 0; j < 16; j++) dst[j] = dl * (float)q[j] * (F);               \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    void qtk_##t##_vec_dot_scalar(int64_t n, float *s, const void *vx, const void *vy) {    \
        const uint8_t *b = (const uint8_t *)vx;                                             \
        const qtk_block_q8_K *y = (const qtk_block_q8_K *)vy;                                       \
        double sum = 0.0;                                                                    \
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, b += (BYTES)) {                        \
            const int8_t *q8 = y[ibl].qs;                                                    \
            int S = 0;                                                                       \
            for (int B = 0; B < 16; B++, q8 += 16) {                                         \
                int8_t q[16];                                                                \
                const uint64_t w0 = WORD(b, 2 * B), w1 = WORD(b, 2 * B + 1);                \
                memcpy(q, &w0, 8);                                                           \
                memcpy(q + 8, &w1, 8);                                                       \
                int sb = 0;                                                                  \
                for (int j = 0; j < 16; j++) sb += q[j] * q8[j];                             \
                S += MUL16(b, B) * sb;                                                       \
            }                                                                                \
            float yd;                                                                        \
            memcpy(&yd, &y[ibl].d, sizeof yd);                                               \
            sum = iqm_acc(sum, S, DBITS(b), yd, (F));                                        \
        }                                                                                    \
        *s = (float)sum;                                                                     \
    }

IQM_TYPES(IQM_DEFINE)

/* The per-32 types: d_b = d·m_b·F (exact), q as decoded; d_b·q is to_float's value. */
#define IQM_TO_INT8(t, BYTES, WORD, MUL32, F)                                             \
    void qtk_##t##_to_int8(const void *row, int64_t n, float *d, int8_t *q) {              \
        const uint8_t *b = (const uint8_t *)row;                                           \
        for (int64_t ibl = 0; ibl < n / QK_K; ibl++, b += (BYTES)) {                       \
            const float ds = qtk_fp16_to_fp32(iqm_u16(b));                                 \
            for (int ib = 0; ib < 8; ib++) *d++ = ds * (float)MUL32(b, ib) * (F);          \
            for (int G = 0; G < 32; G++, q += 8) {                                          \
                const uint64_t w = WORD(b, G);                                              \
                memcpy(q, &w, 8);                                                           \
            }                                                                               \
        }                                                                                   \
    }

IQM_TO_INT8(iq2_xxs, IQ2XXS_BYTES, iq2xxs_word, iq2xxs_mul32, 0.125f)
IQM_TO_INT8(iq3_xxs, IQ3XXS_BYTES, iq3xxs_word, iq3xxs_mul32, 0.25f)
IQM_TO_INT8(iq3_s, IQ3S_BYTES, iq3s_word, iq3s_mul32, 1.0f)
IQM_TO_INT8(iq1_s, IQ1S_BYTES, iq1s_word, iq1s_mul32, 0.125f)

/* ---- two ways to the same codes, timed once (iq_mainline.h) ---- */

static double best_of_3(void (*run)(void *ctx, int way), void *ctx, int way) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = qtk_time_now();
        run(ctx, way);
        const double t = qtk_time_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

int qtk_iqm_gathers_win(void (*run)(void *ctx, int way), void *ctx) {
    int wins = 0;
    for (int trial = 0; trial < 3; trial++) {
        const double t0 = best_of_3(run, ctx, 0), t1 = best_of_3(run, ctx, 1);
        wins += t1 < 0.95 * t0;
    }
    return wins == 3;
}

int qtk_iqm_ways_set(iqm_ways *w, int mode) {
    int bits = 0;
    for (int c = 0; c < w->n; c++) {
        if (mode != -2) w->now[c] = mode < 0 ? w->timed[c] : mode;
        bits |= w->now[c] << c;
    }
    return bits;
}

static uint64_t g_iq1_x8[2048];
static qtk_once g_iq1_x8_once = QTK_ONCE_INIT;

static void iq1_x8_build(void) {
    for (int e = 0; e < 2048; e++) {
        uint64_t v = 0;
        for (int j = 0; j < 8; j++) v |= (uint64_t)(8 * ((int8_t)(qtk_iq1s_grid[e] >> 8 * j) + 1)) << 8 * j;
        g_iq1_x8[e] = v;
    }
}

const uint64_t *qtk_iq1_values_x8(void) {
    qtk_call_once(&g_iq1_x8_once, iq1_x8_build);
    return g_iq1_x8;
}

uint32_t qtk_iqm_fill_random(uint32_t state, uint8_t *w, size_t nw, int8_t *q, size_t nq) {
    for (size_t i = 0; i < nw; i++) w[i] = (uint8_t)((state = state * 1103515245u + 12345u) >> 24);
    for (size_t i = 0; i < nq; i++) q[i] = (int8_t)((int)((state = state * 1103515245u + 12345u) >> 24) % 255 - 127);
    return state;
}

/* For tests (iq_mainline.h): the VBMI kernels' lookup choice. */
int qtk_iqm_vbmi_lookups(int mode) {
#ifdef QTK_HAVE_AVX512
    return qtk_iqv_lookups(mode);
#else
    (void)mode;
    return -1;
#endif
}

int qtk_iqm_avx2_gathers(int mode) {
#ifdef QTK_HAVE_AVX2
    return qtk_iqm_avx2_lookups(mode);
#else
    (void)mode;
    return -1;
#endif
}

/* For tests (iq_mainline.h): the two kernels behind the AVX-512 level. */
int qtk_iqm_avx512_kernels(int type, qtk_vec_dot_fn *words, qtk_vec_dot_fn *vbmi) {
    *words = *vbmi = NULL;
#ifdef QTK_HAVE_AVX512
    static const struct {
        int type;
        qtk_vec_dot_fn words, vbmi;
    } k[] = {
        {QTK_TYPE_IQ2_XXS, qtk_iq2_xxs_vec_dot_avx2, qtk_iq2_xxs_vec_dot_avx512vbmi},
        {QTK_TYPE_IQ2_XS, qtk_iq2_xs_vec_dot_avx2, qtk_iq2_xs_vec_dot_avx512vbmi},
        {QTK_TYPE_IQ2_S, qtk_iq2_s_vec_dot_avx2, qtk_iq2_s_vec_dot_avx512vbmi},
        {QTK_TYPE_IQ3_XXS, qtk_iq3_xxs_vec_dot_avx2, qtk_iq3_xxs_vec_dot_avx512vbmi},
        {QTK_TYPE_IQ3_S, qtk_iq3_s_vec_dot_avx2, qtk_iq3_s_vec_dot_avx512vbmi},
        {QTK_TYPE_IQ1_S, qtk_iq1_s_vec_dot_avx2, qtk_iq1_s_vec_dot_avx512vbmi},
        {QTK_TYPE_IQ1_M, qtk_iq1_m_vec_dot_avx2, qtk_iq1_m_vec_dot_avx512vbmi},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (k[i].type == type) {
            *words = k[i].words, *vbmi = k[i].vbmi;
            return 0;
        }
#else
    (void)type;
#endif
    return -1;
}
