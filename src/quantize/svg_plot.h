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

#include "qtk.h"

typedef enum qtk_svg_style {
    QTK_SVG_POINTS = 0, /* markers, each with its label (if any)          */
    QTK_SVG_LINE = 1    /* markers joined in order of x, labels optional  */
} qtk_svg_style;

typedef struct qtk_svg_series {
    const char *name;            /* legend text                                   */
    qtk_svg_style style;
    const char *color;           /* e.g. "#1f77b4"; NULL: from a built-in palette  */
    int64_t n;
    const double *x, *y;         /* n values each; non-finite (or y <= 0 on a log
                                    axis) points are left out                      */
    const double *y_err;         /* NULL, or n half-widths drawn as error bars     */
    const char *const *labels;   /* NULL, or n labels (NULL entries: no label)     */
} qtk_svg_series;

typedef struct qtk_svg_plot {
    const char *title, *subtitle; /* either may be NULL                             */
    const char *x_label, *y_label;
    bool log_y;                  /* log10 y axis                                   */
    int width, height;           /* pixels; 0: 960 x 600                           */
    int n_series;
    const qtk_svg_series *series;
} qtk_svg_plot;

/* Renders the plot into a malloc'ed NUL-terminated string (*len without the
 * NUL). Fails with QTK_ERR_INVALID_ARG when there is no plottable point and
 * QTK_ERR_NOMEM on allocation failure. */
qtk_status qtk_svg_render(const qtk_svg_plot *p, char **out, size_t *len, qtk_error *err);

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
