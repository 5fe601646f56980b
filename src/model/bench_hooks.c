/*
 * bench_hooks.c — the experimental engine hooks of `qtk bench types`
 * (qtk.h, QTK_EXPERIMENTAL_API): the batch product of the model engine on a
 * bare matrix, its ISA, and the int8 peak loop, so the CLI needs no internal
 * header.
 */
#include "../core/qtk_internal.h"
#include "../core/threadpool.h"
#include "../types/panel.h"
#include "model_internal.h"

#include <math.h>
#include <string.h>

double qtk_bench_gemm(int t, const void *w, int64_t rows, int64_t cols, int64_t n_cols, const float *x, float *y,
                      int nthreads, double min_seconds) {
    return qtk_bench_gemm_path(t, w, rows, cols, n_cols, x, y, nthreads, min_seconds, QTK_BENCH_PATH_ENGINE);
}

double qtk_bench_gemm_path(int t, const void *w, int64_t rows, int64_t cols, int64_t n_cols, const float *x, float *y,
                           int nthreads, double min_seconds, int path) {
    qtk_weight wt;
    memset(&wt, 0, sizeof wt);
    wt.name = "bench";
    wt.expert = -1;
    wt.data = w;
    wt.type = (qtk_type)t;
    wt.n_in = cols;
    wt.n_out = rows;
    wt.row_size = qtk_row_size(t, cols);
    qtk_error err;
    qtk_exec e;
    memset(&e, 0, sizeof e);
    if (wt.row_size == 0 || qtk_weight_bind(&wt, &err) != QTK_OK || qtk_pool_create(nthreads, &e.pool, &err) != QTK_OK)
        return 0;
    if (path == QTK_BENCH_PATH_PANEL && wt.panel_min_cols == 0) {
        qtk_pool_free(e.pool);
        return 0; /* no panel path for this type */
    }
    if (path != QTK_BENCH_PATH_ENGINE) wt.panel_min_cols = path == QTK_BENCH_PATH_PANEL ? 1 : 0;
    e.n_gen = e.n_batch = nthreads;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = qtk_time_now(), el = 0;
        int iters = 0;
        do {
            if (qtk_matmul(&e, &wt, x, n_cols, y, &err) != QTK_OK) break;
            iters++;
            el = qtk_time_now() - t0;
        } while (el < min_seconds / 3);
        if (iters == 0) break;
        best = fmax(best, 2.0 * (double)rows * (double)cols * (double)n_cols * iters / el);
    }
    qtk_free_aligned(e.act_buf);
    qtk_free_aligned(e.panel_buf);
    qtk_pool_free(e.pool);
    return best;
}

qtk_isa qtk_bench_gemm_isa(void) { return qtk_panel_best()->isa; }

int64_t qtk_bench_int8_peak_loop(int64_t iters, int seed, int32_t *sink) {
    return qtk_panel_peak_loop(iters, seed, sink);
}
