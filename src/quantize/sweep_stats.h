/*
 * sweep_stats.h — statistics of the validation sweep (`qtk sweep`,
 * docs/planner.md "Sweep and validation"): paired per-chunk differences of
 * two quantizations evaluated on the same chunks, and Spearman's rank
 * correlation for the proxy check (PLANNER.md §4.5).
 */
#ifndef QTK_SWEEP_STATS_H
#define QTK_SWEEP_STATS_H

#include "core/qtk_internal.h" /* qtk.h with its experimental part */

/* qtk_paired_diff, qtk_spearman and qtk_chunk_mean_from_running are in qtk.h's
 * experimental part (qtk sweep uses them). */

#endif
