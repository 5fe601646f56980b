/*
 * sweep_stats.h — statistics of the validation sweep (`qtk sweep`,
 * docs/planner.md "Sweep and validation"): paired per-chunk differences of
 * two quantizations evaluated on the same chunks, and Spearman's rank
 * correlation for the proxy check (PLANNER.md §4.5).
 */
#ifndef QTK_SWEEP_STATS_H
#define QTK_SWEEP_STATS_H

#include "qtk.h"

/* Paired difference d_i = a_i - b_i over n >= 2 chunks: *mean = mean(d),
 * *se = sd(d) / sqrt(n) with the n-1 (sample) standard deviation. Fails
 * (QTK_ERR_INVALID_ARG) for n < 2 and (QTK_ERR_NUMERIC) for a non-finite
 * value, naming the chunk. */
qtk_status qtk_paired_diff(const double *a, const double *b, int64_t n, double *mean, double *se, qtk_error *err);

/* Spearman's rank correlation of x and y (n >= 3): the Pearson correlation
 * of their ranks, ties given their average rank. Fails for n < 3, for
 * non-finite values and when either variable is constant (ρ undefined). */
qtk_status qtk_spearman(const double *x, const double *y, int64_t n, double *rho, qtk_error *err);

/* Per-chunk means from running means: the progress of a perplexity run
 * reports after chunk k the mean over all tokens so far (mean_k over
 * count_k tokens); chunk k's own mean is (mean_k·count_k −
 * mean_{k−1}·count_{k−1}) / (count_k − count_{k−1}). Returns that. */
double qtk_chunk_mean_from_running(double prev_mean, int64_t prev_count, double mean, int64_t count);

#endif
