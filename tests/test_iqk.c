/*
 * test_iqk.c — what the generic tests cannot see for the IQ2_K … IQ6_K family:
 *  - IQ6_K's dot products use the 64-entry integer grid (as the reference's
 *    kernels do) while its to_float follows the reference's cubic polynomial;
 *    so every IQ6_K dot path is checked against a double-precision dot of the
 *    table-decoded weights, and the two decoders are checked to stay within
 *    half a grid step of each other.
 *  - every type's dot paths agree with a double dot of its decoded weights
 *    when the activations contain large int8 values (where saturating 16-bit
 *    accumulation would go wrong).
 */
#include "testlib.h"
#include "types/iqk.h"

#include <math.h>

#define NPR 1024 /* weights per row: 4 super-blocks */

/* |a − b| ≤ tol·max(|b|, Σ|w_i a_i|). */
static int close_rel(double a, double b, double absum, double tol) {
    const double scale = fmax(fabs(b), absum);
    return fabs(a - b) <= tol * scale;
}

static void fill_row(tl_rng *r, float *x, int kind) {
    for (int i = 0; i < NPR; i++) {
        float v = tl_rng_normal(r);
        if (kind == 1 && (i % 97) == 0) v *= 30.0f; /* outliers */
        if (kind == 2) v = (i % 2) ? 1.0f : -1.0f;  /* dense, large activations */
        x[i] = v;
    }
}

/* Checks every available dot path of `type` against a double dot with the
 * weights produced by `decode`. */
static void check_dots(int type, void (*decode)(const void *, float *, int64_t), const char *what) {
    const qtk_type_traits *tr = qtk_type_get(type);
    CHECK(tr && tr->vec_dot[QTK_ISA_SCALAR], "%s: no scalar dot", what);
    if (!tr || !tr->vec_dot[QTK_ISA_SCALAR]) return;
    const size_t rs = qtk_row_size(type, NPR);
    unsigned char *q = malloc(rs);
    qtk_block_q8_K *act = malloc(sizeof(qtk_block_q8_K) * (NPR / QK_K));
    float *x = malloc(sizeof(float) * NPR), *w = malloc(sizeof(float) * NPR), *a = malloc(sizeof(float) * NPR);
    tl_rng r;
    tl_rng_seed(&r, 1234u + (unsigned)type);
    for (int trial = 0; trial < 12; trial++) {
        fill_row(&r, x, trial % 2);
        CHECK(tr->quantize(x, q, 1, NPR, NULL) == rs, "%s: quantize size", what);
        fill_row(&r, x, trial % 3 == 2 ? 2 : trial % 2);
        qtk_q8_K_from_float(x, act, NPR);
        decode(q, w, NPR);
        qtk_q8_K_to_float(act, a, NPR);
        double ref = 0, absum = 0;
        for (int i = 0; i < NPR; i++) {
            ref += (double)w[i] * a[i];
            absum += fabs((double)w[i] * a[i]);
        }
        for (int isa = 0; isa < QTK_ISA_COUNT; isa++) {
            if (!tr->vec_dot[isa] || !qtk_isa_available((qtk_isa)isa)) continue;
            float got = 0;
            tr->vec_dot[isa](NPR, &got, q, act);
            CHECK(close_rel(got, ref, absum, 1e-5), "%s %s trial %d: dot %.9g vs table dot %.9g", what,
                  qtk_isa_name((qtk_isa)isa), trial, got, ref);
        }
    }
    free(q);
    free(act);
    free(x);
    free(w);
    free(a);
}

/* The polynomial decoder and the table decoder differ by < 0.5 grid units. */
static void check_iq6_decoders(void) {
    const size_t rs = qtk_row_size(QTK_TYPE_IQ6_K, NPR);
    unsigned char *q = malloc(rs);
    float *x = malloc(sizeof(float) * NPR), *yp = malloc(sizeof(float) * NPR), *yt = malloc(sizeof(float) * NPR);
    tl_rng r;
    tl_rng_seed(&r, 99);
    fill_row(&r, x, 1);
    qtk_iq6_k_quantize(x, q, 1, NPR, NULL);
    qtk_iq6_k_to_float(q, yp, NPR);
    qtk_iq6_k_to_float_table(q, yt, NPR);
    int differ = 0;
    for (int ib = 0; ib < NPR / QK_K; ib++) {
        const unsigned char *b = q + (size_t)ib * QTK_IQ6_K_SIZE;
        uint16_t dh;
        memcpy(&dh, b, 2);
        const float d = qtk_fp16_to_fp32(dh);
        for (int i = 0; i < QK_K; i++) {
            const float unit = fabsf(d * (float)(int8_t)b[4 + i / 16]);
            const int k = ib * QK_K + i;
            CHECK(fabsf(yp[k] - yt[k]) <= 0.49f * unit + 1e-30f, "iq6_k weight %d: poly %.9g table %.9g", k,
                  yp[k], yt[k]);
            differ += yp[k] != yt[k];
        }
    }
    CHECK(differ > 0, "iq6_k: the polynomial decoder should not equal the table decoder everywhere");
    free(q);
    free(x);
    free(yp);
    free(yt);
}

int main(void) {
    check_iq6_decoders();
    check_dots(QTK_TYPE_IQ6_K, qtk_iq6_k_to_float_table, "iq6_k");
    check_dots(QTK_TYPE_IQ2_K, qtk_iq2_k_to_float, "iq2_k");
    check_dots(QTK_TYPE_IQ3_K, qtk_iq3_k_to_float, "iq3_k");
    check_dots(QTK_TYPE_IQ4_K, qtk_iq4_k_to_float, "iq4_k");
    check_dots(QTK_TYPE_IQ5_K, qtk_iq5_k_to_float, "iq5_k");
    return tl_finish("test_iqk");
}
