/*
 * test_robust.c — quantizers against the reference's algorithm on inputs the shared
 * vectors do not contain (issue #17: "make the searches robust, not tuned to those
 * files"). Q4_0, Q5_0 and Q6_0 run a weighted search (Q6_0 also without an imatrix,
 * with weights x²); the reference's search is re-implemented here from METHODS.md §2
 * (38 inverse scales around RTN, best F = (Σwxq)²/Σwq², then the largest-gradient
 * greedy step while F rises), independently of src/types/legacy.c. On outlier-heavy
 * and heavy-tailed blocks (sparse spikes of 8–60× the scale, Student-t-like tails,
 * a block scale spread over 4 decades) qtk's error E = Σ m (x − y)² (m = imatrix or 1,
 * y decoded from the stored fp16 scale) must not exceed the reference algorithm's,
 * summed per input kind (measured 0.967–0.998). Before the encoder judged its weighted
 * result against RTN by E (legacy.c pick_candidate), Q6_0 without an imatrix came out at
 * 1.0022 / 1.0026 of the reference algorithm's error on the two outlier kinds (the issue
 * saw 1.0115 on an input of its own).
 * For the types with effort levels (Q2_K…Q6_K, IQ2_K…IQ6_K), `fast` is the reference's
 * search: on the same kinds of input, default's and max's errors must not exceed it.
 */
#include "testlib.h"

#include <math.h>
#include <string.h>

#define NB 2048 /* blocks of 32 per input kind */
#define NL 1024 /* the same for the effort-level check */

/* The reference's weighted 32-block search (METHODS.md §2, make_qx_quants + greedy). */
static float ref_block(const float *x, const double *w, int nmax, int *q) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
    if (amax == 0.0f) {
        for (int j = 0; j < 32; j++) q[j] = 0;
        return 0.0f;
    }
    double bn = 0.0, bd = 0.0;
    int have = 0, qt[32];
    for (int k = -9; k <= 9; k++)
        for (int side = 0; side < 2; side++) {
            const float is = side == 0 ? -((float)nmax + 0.1f * (float)k) / max : ((float)nmax - 1.0f + 0.1f * (float)k) / max;
            double num = 0.0, den = 0.0;
            for (int j = 0; j < 32; j++) {
                long l = lrintf(is * x[j]);
                l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
                qt[j] = (int)l;
                num += w[j] * x[j] * (double)l;
                den += w[j] * (double)(l * l);
            }
            if (den > 0.0 && (!have || num * num * bd > bn * bn * den)) {
                bn = num, bd = den, have = 1;
                memcpy(q, qt, sizeof qt);
            }
        }
    if (!have) return 0.0f;
    for (int it = 0; it < 128; it++) {
        const double d = bn / bd;
        int bj = -1, bs = 0;
        double gm = 0.0;
        for (int j = 0; j < 32; j++) {
            const double g = d * w[j] * (x[j] - d * q[j]);
            const int s = g > 0.0 ? 1 : -1;
            if (q[j] + s < -nmax || q[j] + s > nmax - 1) continue;
            if (fabs(g) > gm) gm = fabs(g), bj = j, bs = s;
        }
        if (bj < 0) break;
        const double n2 = bn + w[bj] * x[bj] * bs, d2 = bd + w[bj] * (2.0 * q[bj] * bs + 1.0);
        if (!(d2 > 0.0) || !(n2 * n2 * bd > bn * bn * d2)) break;
        q[bj] += bs, bn = n2, bd = d2;
    }
    return (float)(bn / bd);
}

/* Block j of an input kind: 0 = sparse outliers, 1 = heavy tails, 2 = both with
 * block scales over 4 decades. */
static void make_block(tl_rng *r, int kind, float *x) {
    const float s = kind == 2 ? powf(10.0f, -2.0f + 4.0f * tl_rng_uniform(r)) : 0.01f;
    for (int j = 0; j < 32; j++) {
        float v = tl_rng_normal(r);
        if (kind >= 1) v /= sqrtf(0.05f + tl_rng_uniform(r)); /* heavy tail */
        x[j] = s * v;
    }
    if (kind != 1) {
        const int nout = 1 + (int)(tl_rng_uniform(r) * 3.0f);
        for (int k = 0; k < nout; k++) {
            const int j = (int)(tl_rng_uniform(r) * 32.0f) & 31;
            x[j] = s * (8.0f + 52.0f * tl_rng_uniform(r)) * (tl_rng_uniform(r) < 0.5f ? -1.0f : 1.0f);
        }
    }
}

static const char *kinds[3] = {"outliers", "heavy tails", "outliers+scales"};

/* nb blocks of one input kind and an importance value per weight (columns of a row). */
static void make_input(unsigned seed, int kind, int nb, float *x, float *im) {
    tl_rng r;
    tl_rng_seed(&r, seed);
    for (int b = 0; b < nb; b++) make_block(&r, kind, x + 32 * b);
    for (int j = 0; j < 32 * nb; j++) im[j] = 0.05f + 4.0f * tl_rng_uniform(&r) * tl_rng_uniform(&r);
}

static void test_type(int t, int nmax, int x2_plain) {
    static float x[NB * 32], y[NB * 32], im[32 * NB];
    static uint8_t qb[NB * 64];
    qtk_error e;
    for (int use_im = 0; use_im < 2; use_im++) {
        if (!use_im && !x2_plain) continue; /* plain RTN there: the reference's own encoder */
        for (int kind = 0; kind < 3; kind++) {
            /* one row of NB blocks: the imatrix has one value per column */
            make_input(1000u + 10u * (unsigned)kind + (unsigned)use_im, kind, NB, x, im);
            const float *imat = use_im ? im : NULL;
            CHECK(qtk_quantize_rows(t, x, qb, 1, 32 * NB, imat, &e) == QTK_OK, "%s", e.msg);
            CHECK(qtk_dequantize_rows(t, qb, y, 1, 32 * NB, &e) == QTK_OK, "%s", e.msg);
            double sigma2 = 0.0;
            for (int j = 0; j < 32 * NB; j++) sigma2 += (double)x[j] * x[j];
            sigma2 /= 32.0 * NB;
            double eq = 0.0, er = 0.0;
            for (int b = 0; b < NB; b++) {
                const float *xb = x + 32 * b;
                double w[32];
                int q[32];
                for (int j = 0; j < 32; j++)
                    w[j] = use_im ? (double)im[32 * b + j] * sqrt(sigma2 + (double)xb[j] * xb[j]) : (double)xb[j] * xb[j];
                const float d = ref_block(xb, w, nmax, q);
                const double ds = (double)qtk_fp16_to_fp32(qtk_fp32_to_fp16(d));
                for (int j = 0; j < 32; j++) {
                    const double m = use_im ? (double)im[32 * b + j] : 1.0;
                    const double dq = (double)xb[j] - (double)y[32 * b + j], dr = (double)xb[j] - ds * q[j];
                    eq += m * dq * dq;
                    er += m * dr * dr;
                }
            }
            printf("  %-5s %-7s %-16s E_qtk/E_ref_algorithm %.4f\n", qtk_type_name(t), use_im ? "imatrix" : "none",
                   kinds[kind], eq / er);
            CHECK(eq <= er, "%s (%s, %s): error %.6g above the reference algorithm's %.6g (ratio %.5f)",
                  qtk_type_name(t), use_im ? "imatrix" : "none", kinds[kind], eq, er, eq / er);
        }
    }
}

/* Types with effort levels: `fast` is the reference's search, so default and max must not
 * come out above it on these inputs either (E summed per input kind). */
static void test_levels(int t) {
    static float x[NB * 32], y[NB * 32], im[NB * 32];
    static uint8_t qb[NB * 64];
    qtk_error e;
    for (int use_im = 0; use_im < 2; use_im++)
        for (int kind = 0; kind < 3; kind++) {
            make_input(2000u + 10u * (unsigned)kind + (unsigned)use_im, kind, NL, x, im);
            const float *imat = use_im ? im : NULL;
            double E[3];
            for (int ef = 0; ef < 3; ef++) {
                /* 8 rows of 4096 (the K-quants' 256-blocks; an imatrix per column) */
                CHECK(qtk_quantize_rows_effort(t, x, qb, 8, 32 * NL / 8, imat, ef, &e) == QTK_OK, "%s", e.msg);
                CHECK(qtk_dequantize_rows(t, qb, y, 8, 32 * NL / 8, &e) == QTK_OK, "%s", e.msg);
                double s2 = 0.0;
                for (int j = 0; j < 32 * NL; j++) {
                    const double d = (double)x[j] - (double)y[j];
                    s2 += (use_im ? (double)im[j % (32 * NL / 8)] : 1.0) * d * d;
                }
                E[ef] = s2;
            }
            printf("  %-5s %-7s %-16s E default/fast %.4f, max/fast %.4f\n", qtk_type_name(t), use_im ? "imatrix" : "none",
                   kinds[kind], E[QTK_EFFORT_DEFAULT] / E[QTK_EFFORT_FAST], E[QTK_EFFORT_MAX] / E[QTK_EFFORT_FAST]);
            /* measured: at most 0.9987 (Q6_K with an imatrix) */
            CHECK(E[QTK_EFFORT_DEFAULT] <= E[QTK_EFFORT_FAST] && E[QTK_EFFORT_MAX] <= E[QTK_EFFORT_FAST],
                  "%s (%s, %s): default %.6g or max %.6g above fast's error %.6g", qtk_type_name(t),
                  use_im ? "imatrix" : "none", kinds[kind], E[QTK_EFFORT_DEFAULT], E[QTK_EFFORT_MAX], E[QTK_EFFORT_FAST]);
        }
}

int main(void) {
    static const int level_types[] = {QTK_TYPE_Q2_K,  QTK_TYPE_Q3_K,  QTK_TYPE_Q4_K,  QTK_TYPE_Q5_K, QTK_TYPE_Q6_K,
                                      QTK_TYPE_IQ2_K, QTK_TYPE_IQ3_K, QTK_TYPE_IQ4_K, QTK_TYPE_IQ5_K, QTK_TYPE_IQ6_K};
    for (size_t k = 0; k < sizeof level_types / sizeof level_types[0]; k++) test_levels(level_types[k]);
    test_type(QTK_TYPE_Q4_0, 8, 0);
    test_type(QTK_TYPE_Q5_0, 16, 0);
    test_type(QTK_TYPE_Q6_0, 32, 1);
    return tl_finish("test_robust");
}
