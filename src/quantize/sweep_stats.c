/*
 * sweep_stats.c — paired differences and rank correlation (sweep_stats.h).
 */
#include "quantize/sweep_stats.h"
#include "core/qtk_internal.h"

#include <math.h>
#include <stdlib.h>

qtk_status qtk_paired_diff(const double *a, const double *b, int64_t n, double *mean, double *se, qtk_error *err) {
    *mean = NAN;
    *se = NAN;
    if (n < 2) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "paired difference: %lld chunks (at least 2 needed)", (long long)n);
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i]))
            return qtk_set_error(err, QTK_ERR_NUMERIC, "paired difference: chunk %lld is not finite (%g, %g)",
                                 (long long)i + 1, a[i], b[i]);
        s += a[i] - b[i];
    }
    const double m = s / (double)n;
    double ss = 0; /* two-pass: exact for tiny differences of large values */
    for (int64_t i = 0; i < n; i++) {
        double d = (a[i] - b[i]) - m;
        ss += d * d;
    }
    *mean = m;
    *se = sqrt(ss / (double)(n - 1) / (double)n);
    return QTK_OK;
}

typedef struct idx_val {
    double v;
    int64_t i;
} idx_val;

static int cmp_idx_val(const void *pa, const void *pb) {
    const idx_val *a = (const idx_val *)pa, *b = (const idx_val *)pb;
    if (a->v < b->v) return -1;
    if (a->v > b->v) return 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* Average ranks (1-based) of v into r. */
static bool ranks(const double *v, int64_t n, double *r) {
    idx_val *t = (idx_val *)malloc(sizeof(idx_val) * (size_t)n);
    if (!t) return false;
    for (int64_t i = 0; i < n; i++) t[i] = (idx_val){v[i], i};
    qsort(t, (size_t)n, sizeof *t, cmp_idx_val);
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && t[j + 1].v == t[i].v) j++;
        double avg = 0.5 * (double)(i + j) + 1.0;
        for (int64_t k = i; k <= j; k++) r[t[k].i] = avg;
        i = j + 1;
    }
    free(t);
    return true;
}

qtk_status qtk_spearman(const double *x, const double *y, int64_t n, double *rho, qtk_error *err) {
    *rho = NAN;
    if (n < 3) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "rank correlation: %lld pairs (at least 3 needed)", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || !isfinite(y[i]))
            return qtk_set_error(err, QTK_ERR_NUMERIC, "rank correlation: pair %lld is not finite (%g, %g)",
                                 (long long)i + 1, x[i], y[i]);
    double *rx = (double *)malloc(sizeof(double) * 2 * (size_t)n);
    if (!rx || !ranks(x, n, rx) || !ranks(y, n, rx + n)) {
        free(rx);
        return qtk_set_error(err, QTK_ERR_NOMEM, "rank correlation: out of memory");
    }
    const double *ry = rx + n, mr = 0.5 * (double)(n + 1);
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        sxy += (rx[i] - mr) * (ry[i] - mr);
        sxx += (rx[i] - mr) * (rx[i] - mr);
        syy += (ry[i] - mr) * (ry[i] - mr);
    }
    free(rx);
    if (sxx == 0 || syy == 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "rank correlation: %s is constant", sxx == 0 ? "x" : "y");
    *rho = sxy / sqrt(sxx * syy);
    return QTK_OK;
}

double qtk_chunk_mean_from_running(double prev_mean, int64_t prev_count, double mean, int64_t count) {
    if (count <= prev_count) return NAN;
    return (mean * (double)count - prev_mean * (double)prev_count) / (double)(count - prev_count);
}
