/*
 * test_types_only.c — the types module on its own: includes only qtk_types.h
 * (no qtk.h, no internal header, no testlib) and links in the QTK_TYPES_ONLY
 * build (src/types + src/core alone) as in the full one. For every type the
 * table can quantize and decode: quantize rows of Gaussian-like weights (with an
 * importance matrix, and without where the type allows), decode them, and
 * check the relative RMSE against a bound from the type's bits per weight, and
 * that the scalar code (qtk_set_max_isa) writes the same bytes as the best ISA.
 */
#ifndef QTK_EXPERIMENTAL_API
#define QTK_EXPERIMENTAL_API /* the traits table (qtk_type_count / qtk_type_at) */
#endif
#include "qtk_types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_checks, n_failed;
#define CHECK(c, ...)                                                   \
    do {                                                                \
        n_checks++;                                                     \
        if (!(c)) {                                                     \
            n_failed++;                                                 \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #c); \
            fprintf(stderr, __VA_ARGS__);                               \
            fputc('\n', stderr);                                        \
        }                                                               \
    } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

/* Relative RMSE of type t on nrows x n weights x, NAN on a failure (reported). */
static double rel_rmse(const qtk_type_traits *tr, const float *x, int64_t nrows, int64_t n, const float *imatrix) {
    size_t rs = qtk_row_size((int)tr->id, n);
    void *q = malloc(rs * (size_t)nrows);
    float *y = (float *)malloc(sizeof(float) * (size_t)(nrows * n));
    qtk_error err;
    double e2 = 0, x2 = 0;
    CHECK(rs > 0 && q && y, "%s: row size %zu", tr->name, rs);
    if (!q || !y || rs == 0) goto fail;
    memset(&err, 0, sizeof err);
    if (qtk_quantize_rows((int)tr->id, x, q, nrows, n, imatrix, &err) != QTK_OK) {
        CHECK(0, "%s: quantize (%s imatrix): %s", tr->name, imatrix ? "with" : "without", err.msg);
        goto fail;
    }
    {
        /* the bytes must not depend on the ISA: the quantizers' SIMD searches
         * (AVX2 copies, lane-batched trials) compute the scalar code's floats */
        void *qs = malloc(rs * (size_t)nrows);
        CHECK(qs != NULL, "out of memory");
        if (qs) {
            qtk_set_max_isa(QTK_ISA_SCALAR);
            const qtk_status st = qtk_quantize_rows((int)tr->id, x, qs, nrows, n, imatrix, &err);
            qtk_set_max_isa(QTK_ISA_COUNT);
            CHECK(st == QTK_OK && memcmp(q, qs, rs * (size_t)nrows) == 0,
                  "%s (%s imatrix): the scalar build of the quantizer writes other bytes", tr->name,
                  imatrix ? "with" : "without");
            free(qs);
        }
    }
    if (qtk_dequantize_rows((int)tr->id, q, y, nrows, n, &err) != QTK_OK) {
        CHECK(0, "%s: dequantize: %s", tr->name, err.msg);
        goto fail;
    }
    int64_t bad = -1;
    for (int64_t i = 0; i < nrows * n; i++) {
        if (!isfinite(y[i]) && bad < 0) bad = i;
        e2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        x2 += (double)x[i] * x[i];
    }
    CHECK(bad < 0, "%s: decoded value %lld is not finite", tr->name, (long long)bad);
    if (bad >= 0) goto fail;
    free(q), free(y);
    return sqrt(e2 / x2);
fail:
    free(q), free(y);
    return NAN;
}

int main(void) {
    enum { N = 1024 };
    /* 4 rows (2 with QTK_TEST_QUICK=1, under sanitizers and qemu) of 1024 weights. */
    const int64_t NROWS = getenv("QTK_TEST_QUICK") && atoi(getenv("QTK_TEST_QUICK")) ? 2 : 4;
    float *x = (float *)malloc(sizeof(float) * (size_t)(NROWS * N)), imatrix[N];
    if (!x) return 1;
    for (int64_t i = 0; i < NROWS * N; i++) /* Gaussian, a few heavy outliers */
        x[i] = (float)(sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform()) * (i % 97 == 0 ? 4.0 : 1.0));
    for (int j = 0; j < N; j++) imatrix[j] = (float)(0.5 + 2.0 * uniform());
    int n_types = 0;
    double worst = 0;
    const char *worst_name = "";
    for (int k = 0; k < qtk_type_count(); k++) {
        const qtk_type_traits *tr = qtk_type_at(k);
        if (!tr->quantize || !tr->to_float || !tr->file_type || tr->interleaved || N % tr->block_size) continue;
        n_types++;
        double bpw = qtk_type_bpw((int)tr->id);
        for (int with_im = tr->requires_imatrix ? 1 : 0; with_im <= 1; with_im++) {
            double r = rel_rmse(tr, x, NROWS, N, with_im ? imatrix : NULL);
            if (isnan(r)) continue;
            /* Floats: exact (F32) or the rounding of the mantissa (measured F16 2.03e-4,
             * BF16 1.66e-3: bounds 1.2x above). Quantized types: r * 2^bpw measured 1.41
             * (iq1_kt) .. 2.54 (q8_0 on 2 rows; the worst is printed at the end): bound 3.0 (1.18x). */
            double bound = tr->id == QTK_TYPE_F32 ? 0.0
                           : tr->id == QTK_TYPE_F16 ? 2.5e-4
                           : tr->id == QTK_TYPE_BF16 ? 2e-3
                                                     : 3.0 * pow(2.0, -bpw);
            CHECK(r <= bound, "%s (%s imatrix): relative RMSE %.5f > bound %.5f (%.4f bpw)", tr->name,
                  with_im ? "with" : "without", r, bound, bpw);
            if (tr->is_quantized && r * pow(2.0, bpw) > worst) worst = r * pow(2.0, bpw), worst_name = tr->name;
            printf("%-9s %7.4f bpw  %s imatrix  rel. RMSE %.6f  (x 2^bpw = %.3f)\n", tr->name, bpw,
                   with_im ? "with   " : "without", r, r * pow(2.0, bpw));
        }
    }
    /* Every family of the module is there (the table is not empty or cut short). */
    CHECK(n_types >= 20, "only %d types quantize and decode", n_types);
    CHECK(qtk_type_from_name("Q4_K") == QTK_TYPE_Q4_K && qtk_fp16_to_fp32(qtk_fp32_to_fp16(0.5f)) == 0.5f,
          "lookups and half floats");
    printf("%d types; worst relative RMSE x 2^bpw: %.3f (%s)\n", n_types, worst, worst_name);
    printf("test_types_only: %d checks, %d failed\n", n_checks, n_failed);
    free(x);
    return n_failed ? 1 : 0;
}
