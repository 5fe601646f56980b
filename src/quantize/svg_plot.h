/*
 * svg_plot.h — a small, dependency-free SVG scatter/line plot writer (used
 * by `qtk sweep` for the KLD-vs-bpw plot; docs/planner.md). The output is a
 * self-contained SVG 1.1 document: axes, ticks, grid, axis labels, title,
 * legend, labelled points (labels placed so they do not overlap each other
 * or the markers where possible), lines, optional error bars; a linear x
 * axis and a linear or log10 y axis. Text is XML-escaped. Deterministic:
 * the same input gives the same bytes.
 */
#ifndef QTK_SVG_PLOT_H
#define QTK_SVG_PLOT_H

#include "core/qtk_internal.h" /* qtk.h with its experimental part */

/* qtk_svg_style, qtk_svg_series, qtk_svg_plot and qtk_svg_render are in qtk.h's
 * experimental part (qtk sweep uses them); the helpers below are internal. */

/* Linear axis: a "nice" step (1, 2 or 5 × 10^k) giving at most max_ticks
 * ticks over [lo, hi]; *first = the smallest multiple of the step >= lo.
 * Returns the number of ticks (0 when the range is empty or not finite). */
int qtk_svg_linear_ticks(double lo, double hi, int max_ticks, double *first, double *step);

/* Log axis over [lo, hi] (0 < lo <= hi): writes the tick values in
 * increasing order into vals (at most max) with labelled[i] telling whether
 * tick i gets a text label: every power of ten is a tick and labelled; with
 * at most 3 decades 2× and 5× are labelled ticks too, and the other integer
 * multiples (3, 4, 6..9) unlabelled minor ticks. Only ticks within
 * [lo, hi] (relative tolerance 1e-9). Returns the count. */
int qtk_svg_log_ticks(double lo, double hi, double *vals, bool *labelled, int max);

/* Axis extent for log data in [lo, hi]: expanded to whole decades, or to
 * 1-2-5 steps when the data spans less than one decade. */
void qtk_svg_log_extent(double lo, double hi, double *axis_lo, double *axis_hi);

/* Pixel coordinate of v on an axis mapping [lo, hi] to [px0, px1]
 * (linear, or in log10 when log is true). */
double qtk_svg_map(double v, double lo, double hi, double px0, double px1, bool log);

/* Appends s XML-escaped (& < > " ') into buf of size cap; returns the length
 * the escaped text needs (as snprintf: truncated output is NUL-terminated). */
size_t qtk_svg_escape(const char *s, char *buf, size_t cap);

#endif
