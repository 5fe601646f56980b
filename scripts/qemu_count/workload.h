/*
 * workload.h — the fixed pseudo-random weights and imatrix of the qemu_count programs
 * (quant_rows.c, crossover.c): a sum of four uniforms per weight, every 97th ×8 (a few
 * outliers, as real weights have), and importances in [0.1, 1.1). The same numbers on
 * every platform, so counts and hashes compare across runs and ISAs.
 */
#ifndef QTK_QEMU_COUNT_WORKLOAD_H
#define QTK_QEMU_COUNT_WORKLOAD_H

static void workload_fill(float *x, long n, float *imx, long cols) {
    unsigned s = 12345;
    for (long i = 0; i < n; i++) {
        float u = 0.0f;
        for (int k = 0; k < 4; k++) {
            s = s * 1664525u + 1013904223u;
            u += (float)(s >> 8) / 16777216.0f - 0.5f;
        }
        x[i] = u * (i % 97 == 0 ? 8.0f : 1.0f);
    }
    for (long j = 0; j < cols; j++) {
        s = s * 1664525u + 1013904223u;
        imx[j] = 0.1f + (float)(s >> 8) / 16777216.0f;
    }
}

#endif
