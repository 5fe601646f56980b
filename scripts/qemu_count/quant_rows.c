/*
 * quant_rows.c — quantizes ROWS × COLS fixed pseudo-random weights (a sum of four
 * uniforms, every 97th ×8; an optional imatrix) with one type, effort and ISA cap, and
 * prints an FNV-1a hash of the bytes: the fixed workload scripts/qemu_count/run.sh
 * counts instructions of, and a cross-ISA / cross-platform identity check.
 *
 *   quant_rows TYPE ISA ROWS COLS IMATRIX [EFFORT]
 *   ISA: 0 scalar, 1 avx2, 2 avx512, 3 neon, 4 neondot, 5 (QTK_ISA_COUNT) no cap; IMATRIX 0/1;
 *   EFFORT 0 default, 1 fast, 2 max
 */
#define QTK_EXPERIMENTAL_API
#include "qtk_types.h"

#include <stdio.h>
#include <stdlib.h>

#include "workload.h"

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: quant_rows TYPE ISA ROWS COLS IMATRIX [EFFORT]\n");
        return 2;
    }
    const int t = qtk_type_from_name(argv[1]), isa = atoi(argv[2]), im = atoi(argv[5]);
    const long rows = atol(argv[3]), cols = atol(argv[4]);
    const int effort = argc > 6 ? atoi(argv[6]) : 0;
    const size_t rs = qtk_row_size(t, cols);
    if (t < 0 || rows <= 0 || rs == 0) {
        fprintf(stderr, "quant_rows: bad type or shape\n");
        return 2;
    }
    float *x = malloc(sizeof(float) * (size_t)(rows * cols)), *imx = malloc(sizeof(float) * (size_t)cols);
    unsigned char *out = malloc(rs * (size_t)rows);
    if (!x || !imx || !out) return 1;
    workload_fill(x, rows * cols, imx, cols);
    if (isa < QTK_ISA_COUNT) qtk_set_max_isa((qtk_isa)isa);
    qtk_error err;
    if (qtk_quantize_rows_effort(t, x, out, rows, cols, im ? imx : NULL, effort, &err) != QTK_OK) {
        fprintf(stderr, "quant_rows: %s\n", err.msg);
        return 1;
    }
    unsigned long long h = 1469598103934665603ull;
    for (size_t i = 0; i < rs * (size_t)rows; i++) h = (h ^ out[i]) * 1099511628211ull;
    printf("%s isa=%d %016llx\n", argv[1], isa, h);
    free(x), free(imx), free(out);
    return 0;
}
