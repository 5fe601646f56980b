/*
 * crossover.c — the fixed workload of scripts/qemu_count/crossover.sh: ROWS × COLS
 * weights of TYPE (16 rows really quantized, then repeated: the kernels' work does not
 * depend on the values) times W activation columns, for each batch width W of
 * `qtk bench types --crossover`, once through the type's own kernels and once through
 * the int8 panels (qtk_bench_gemm_path with min_seconds 0: 3 products each, 1 thread).
 * Before and after each product it tags the point with a getppid system call, which
 * insn_plugin.c prints with the guest instructions executed so far — so under qemu the
 * instructions of every product are known exactly. There is no AArch64 hardware here;
 * this gives the NEON crossovers as instruction counts (not time).
 *
 *   crossover TYPE [ROWS] [COLS] [ISA]
 * ISA caps the kernels' level (0 scalar, 1 avx2, 2 avx512, 3 neon, 4 neondot; default none): under
 * qemu-x86_64 with ISA 1 it gives the same counts for AVX2, whose crossovers are also
 * timed on the project's machine — a check of how well counts predict time.
 */
#define _GNU_SOURCE
#define QTK_EXPERIMENTAL_API
#include "qtk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "workload.h"

static void mark(long tag) { syscall(SYS_getppid, tag); }

int main(int argc, char **argv) {
    static const long widths[] = {2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 512};
    enum { NW = (int)(sizeof widths / sizeof widths[0]), QROWS = 16 };
    if (argc < 2) {
        fprintf(stderr, "usage: crossover TYPE [ROWS] [COLS] [ISA]\n");
        return 2;
    }
    const int t = qtk_type_from_name(argv[1]);
    const long rows = argc > 2 ? atol(argv[2]) : 256, cols = argc > 3 ? atol(argv[3]) : 4096;
    const size_t rs = t >= 0 ? qtk_row_size(t, cols) : 0;
    if (argc > 4) qtk_set_max_isa((qtk_isa)atoi(argv[4]));
    if (rs == 0 || rows < QROWS || rows % QROWS) {
        fprintf(stderr, "crossover: bad type or shape (ROWS a multiple of %d)\n", QROWS);
        return 2;
    }
    const long maxw = widths[NW - 1];
    float *x = malloc(sizeof(float) * (size_t)(QROWS * cols)), *imx = malloc(sizeof(float) * (size_t)cols);
    float *act = malloc(sizeof(float) * (size_t)(maxw * cols)), *y = malloc(sizeof(float) * (size_t)(maxw * rows));
    unsigned char *w = malloc(rs * (size_t)rows);
    if (!x || !imx || !act || !y || !w) return 1;
    workload_fill(x, QROWS * cols, imx, cols);
    for (long i = 0; i < maxw * cols; i++) act[i] = 2.0f * x[i % (QROWS * cols)];
    qtk_error err;
    if (qtk_quantize_rows_effort(t, x, w, QROWS, cols, imx, 0, &err) != QTK_OK) {
        fprintf(stderr, "crossover: %s\n", err.msg);
        return 1;
    }
    for (long r = QROWS; r < rows; r++) memcpy(w + rs * (size_t)r, w + rs * (size_t)(r % QROWS), rs);
    if (qtk_bench_gemm_path(t, w, QROWS, cols, 2, act, y, 1, 0, QTK_BENCH_PATH_PANEL) == 0) {
        /* no panel path (F32/F16/BF16): the own kernels at the narrowest width only */
        mark(1000);
        qtk_bench_gemm_path(t, w, rows, cols, widths[0], act, y, 1, 0, QTK_BENCH_PATH_OWN);
        mark(2000);
        printf("%s no-panels %ld\n", argv[1], widths[0]);
        return 0;
    }
    for (int i = 0; i < NW; i++) {
        mark(1000 + i);
        qtk_bench_gemm_path(t, w, rows, cols, widths[i], act, y, 1, 0, QTK_BENCH_PATH_OWN);
        mark(2000 + i);
        qtk_bench_gemm_path(t, w, rows, cols, widths[i], act, y, 1, 0, QTK_BENCH_PATH_PANEL);
        mark(3000 + i);
    }
    printf("%s widths", argv[1]);
    for (int i = 0; i < NW; i++) printf(" %ld", widths[i]);
    printf("\n");
    free(x), free(imx), free(act), free(y), free(w);
    return 0;
}
