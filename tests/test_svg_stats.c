/*
 * test_svg_stats.c — the pieces of `qtk sweep` that are pure functions
 * (issue #15): the paired per-chunk difference and its standard error,
 * Spearman's rank correlation (with ties) and the per-chunk mean recovered
 * from running means (sweep_stats.c), all against values computed by hand;
 * the SVG plot writer (svg_plot.c): a well-formed XML document (tags
 * balanced, text escaped), axes with labels and ticks, a log10 y axis
 * (equal decades get equal pixel distances), legend, point labels, points a
 * log axis cannot show left out, deterministic bytes, and the tick helpers.
 * No model, no files: runs in milliseconds.
 */
#include "testlib.h"
#include "quantize/svg_plot.h"
#include "quantize/sweep_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int close_to(double a, double b, double tol) { return fabs(a - b) <= tol; }

/* ---- sweep_stats ------------------------------------------------------------------ */

static void test_paired(void) {
    qtk_error err;
    double m, se;
    /* d = 0.5, 0.5, 2, -0.5: mean 0.625, sample variance 17/16, se = sqrt(17/16/4) = sqrt(17)/8 */
    const double a[4] = {1.0, 2.0, 4.0, 3.0}, b[4] = {0.5, 1.5, 2.0, 3.5};
    CHECK(qtk_paired_diff(a, b, 4, &m, &se, &err) == QTK_OK, "paired: %s", err.msg);
    CHECK(close_to(m, 0.625, 1e-15) && close_to(se, sqrt(17.0) / 8.0, 1e-15), "paired: mean %.17g se %.17g", m, se);
    /* the n-1 (sample) deviation, not n: with n the se would be sqrt(51/256)/2 ... = 0.4463 */
    CHECK(!close_to(se, sqrt(3.1875 / 4.0) / 2.0, 1e-3), "paired: sample (n-1) standard deviation");
    /* sign: a - b */
    CHECK(qtk_paired_diff(b, a, 4, &m, &se, &err) == QTK_OK && close_to(m, -0.625, 1e-15), "paired: b - a = %g", m);
    /* tiny differences of large values: d = 1e-7 * (1, 3); the inputs themselves carry a rounding
     * error of up to half an ulp of 1e3 (5.7e-14), so 2 ulps (2.3e-13) bound the result */
    const double big_a[2] = {1e3 + 1e-7, 1e3 + 3e-7}, big_b[2] = {1e3, 1e3};
    CHECK(qtk_paired_diff(big_a, big_b, 2, &m, &se, &err) == QTK_OK && close_to(m, 2e-7, 2.3e-13) &&
              close_to(se, 1e-7, 2.3e-13),
          "paired: large offset: mean %.17g se %.17g", m, se);
    /* identical inputs: 0 +- 0 */
    CHECK(qtk_paired_diff(a, a, 4, &m, &se, &err) == QTK_OK && m == 0 && se == 0, "paired: identical");
    /* refusals */
    CHECK(qtk_paired_diff(a, b, 1, &m, &se, &err) == QTK_ERR_INVALID_ARG && strstr(err.msg, "at least 2") && isnan(m),
          "paired: n = 1 refused: %s", err.msg);
    const double bad[4] = {1.0, NAN, 3.0, 4.0};
    CHECK(qtk_paired_diff(a, bad, 4, &m, &se, &err) == QTK_ERR_NUMERIC && strstr(err.msg, "chunk 2"),
          "paired: NaN refused naming chunk 2: %s", err.msg);
}

static void test_spearman(void) {
    qtk_error err;
    double rho;
    /* no ties: rank differences +-1 six times: 1 - 6*6/(6*35) = 0.828571... */
    const double x6[6] = {1, 2, 3, 4, 5, 6}, y6[6] = {2, 1, 4, 3, 6, 5};
    CHECK(qtk_spearman(x6, y6, 6, &rho, &err) == QTK_OK && close_to(rho, 1.0 - 36.0 / 210.0, 1e-14),
          "spearman no ties: %.17g", rho);
    /* ranks, not values: a monotone but non-linear map gives exactly 1 (Pearson would not) */
    const double y6e[6] = {1, 10, 100, 1e4, 1e6, 1e9};
    CHECK(qtk_spearman(x6, y6e, 6, &rho, &err) == QTK_OK && rho == 1.0, "spearman monotone: %.17g", rho);
    double y6r[6];
    for (int i = 0; i < 6; i++) y6r[i] = -y6e[i];
    CHECK(qtk_spearman(x6, y6r, 6, &rho, &err) == QTK_OK && rho == -1.0, "spearman reversed: %.17g", rho);
    /* ties get their average rank: y ranks 1, 2, 3.5, 5, 3.5 -> Pearson of ranks = 8/sqrt(10*9.5)
     * = 0.8207826816681233 (the no-tie formula 1 - 6 Σd²/(n(n²-1)) would give 0.825) */
    const double x5[5] = {1, 2, 3, 4, 5}, y5[5] = {5, 6, 7, 8, 7};
    CHECK(qtk_spearman(x5, y5, 5, &rho, &err) == QTK_OK && close_to(rho, 8.0 / sqrt(95.0), 1e-14),
          "spearman ties: %.17g (want %.17g)", rho, 8.0 / sqrt(95.0));
    /* order of the pairs does not matter */
    const double x5p[5] = {4, 1, 5, 3, 2}, y5p[5] = {8, 5, 7, 7, 6};
    double rho2;
    CHECK(qtk_spearman(x5p, y5p, 5, &rho2, &err) == QTK_OK && close_to(rho2, rho, 1e-15), "spearman permuted: %.17g", rho2);
    /* refusals */
    CHECK(qtk_spearman(x5, y5, 2, &rho, &err) == QTK_ERR_INVALID_ARG && isnan(rho), "spearman n = 2 refused");
    const double c5[5] = {3, 3, 3, 3, 3};
    CHECK(qtk_spearman(x5, c5, 5, &rho, &err) == QTK_ERR_INVALID_ARG && strstr(err.msg, "y is constant"),
          "spearman constant y refused: %s", err.msg);
    const double inf5[5] = {1, 2, INFINITY, 4, 5};
    CHECK(qtk_spearman(inf5, y5, 5, &rho, &err) == QTK_ERR_NUMERIC && strstr(err.msg, "pair 3"),
          "spearman inf refused naming pair 3: %s", err.msg);
}

static void test_chunk_mean(void) {
    /* 100 tokens at mean 2, then 100 more bring the running mean to 2.5: the new chunk's mean is 3 */
    CHECK(close_to(qtk_chunk_mean_from_running(2.0, 100, 2.5, 200), 3.0, 1e-15), "chunk mean");
    /* the first chunk: no previous */
    CHECK(close_to(qtk_chunk_mean_from_running(0.0, 0, 0.125, 255), 0.125, 1e-15), "first chunk mean");
    /* unequal chunk sizes: 3 tokens at 1, then 1 token at 5 -> running 2 over 4 */
    CHECK(close_to(qtk_chunk_mean_from_running(1.0, 3, 2.0, 4), 5.0, 1e-15), "unequal chunk");
    CHECK(isnan(qtk_chunk_mean_from_running(1.0, 3, 1.0, 3)), "no new tokens: NaN");
}

/* ---- svg --------------------------------------------------------------------------- */

/* A small XML well-formedness check: balanced start/end tags, attributes quoted,
 * '&' only in entities, no '<' or '>' in text. Returns NULL or the reason. */
static const char *xml_check(const char *s) {
    static char why[160];
    const char *stack[64];
    size_t stack_len[64];
    int depth = 0;
    if (strncmp(s, "<?xml ", 6) != 0) return "no XML declaration";
    s = strstr(s, "?>");
    if (!s) return "unterminated declaration";
    s += 2;
    int roots = 0;
    while (*s) {
        if (*s == '<') {
            bool end = s[1] == '/';
            const char *n = s + (end ? 2 : 1), *ne = n;
            while ((*ne >= 'a' && *ne <= 'z') || (*ne >= 'A' && *ne <= 'Z') || (*ne >= '0' && *ne <= '9') || *ne == '-')
                ne++;
            if (ne == n) return "empty tag name";
            const char *p = ne;
            bool self = false;
            for (;;) { /* attributes */
                while (*p == ' ' || *p == '\n') p++;
                if (*p == '>') break;
                if (p[0] == '/' && p[1] == '>') {
                    self = true;
                    p++;
                    break;
                }
                if (end) return "attribute in an end tag";
                const char *an = p;
                while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (p > an && *p >= '0' && *p <= '9') ||
                       *p == '-' || *p == ':')
                    p++;
                if (p == an || *p != '=' || p[1] != '"') {
                    snprintf(why, sizeof why, "bad attribute near '%.20s'", an);
                    return why;
                }
                p += 2;
                while (*p && *p != '"') {
                    if (*p == '<') return "'<' in an attribute value";
                    p++;
                }
                if (!*p) return "unterminated attribute";
                p++;
            }
            if (end) {
                if (depth == 0 || stack_len[depth - 1] != (size_t)(ne - n) || strncmp(stack[depth - 1], n, (size_t)(ne - n))) {
                    snprintf(why, sizeof why, "end tag </%.*s> does not match", (int)(ne - n), n);
                    return why;
                }
                depth--;
            } else if (!self) {
                if (depth == 0) roots++;
                if (depth == 64) return "too deep";
                stack[depth] = n;
                stack_len[depth++] = (size_t)(ne - n);
            } else if (depth == 0) {
                return "element outside the root";
            }
            s = p + 1;
        } else {
            if (*s == '>') return "'>' in text";
            if (*s == '&') { /* an entity: &name; or &#digits; */
                const char *e = s + 1;
                while ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') || *e == '#') e++;
                if (e == s + 1 || *e != ';') return "bare '&'";
            }
            if (depth == 0 && *s != '\n' && *s != ' ') return "text outside the root";
            s++;
        }
    }
    if (depth) return "unclosed element";
    if (roots != 1) return "not exactly one root element";
    return NULL;
}

/* the cy values of the <circle>s between from and the next "</g>" */
static int circles_cy(const char *from, double *cy, int max) {
    const char *end = strstr(from, "</g>");
    int n = 0;
    for (const char *p = from; (p = strstr(p, "<circle ")) != NULL && p < end && n < max; p++) {
        const char *c = strstr(p, "cy=\"");
        if (c) cy[n++] = strtod(c + 4, NULL);
    }
    return n;
}

static void test_svg(void) {
    qtk_error err;
    /* series 0: points with labels (one needs escaping) and error bars, one y = 0 that a log axis cannot show;
     * series 1: a line over three decades */
    const double px[4] = {2.5, 4.5, 6.5, 5.0}, py[4] = {0.05, 0.003, 0.0004, 0.0};
    const double pe[4] = {0.005, 0.0003, 0.00004, 0.0};
    const char *plab[4] = {"IQ2_K", "Q4_K_M", "Q6_K", "ZERO"};
    const double lx[3] = {3.0, 4.0, 5.0}, ly[3] = {0.1, 0.01, 0.001};
    qtk_svg_series se[2] = {
        {"presets <a & b>", QTK_SVG_POINTS, "#d62728", 4, px, py, pe, plab},
        {"qtk plan", QTK_SVG_LINE, NULL, 3, lx, ly, NULL, NULL},
    };
    qtk_svg_plot p = {"KLD vs bpw", "sub 'title'", "bits per weight", "mean KLD (log scale)", true, 0, 0, 2, se};
    char *svg = NULL, *svg2 = NULL;
    size_t len = 0, len2 = 0;
    CHECK(qtk_svg_render(&p, &svg, &len, &err) == QTK_OK && svg, "render: %s", err.msg);
    if (!svg) return;
    CHECK(len == strlen(svg), "length %zu vs %zu", len, strlen(svg));
    const char *why = xml_check(svg);
    CHECK(!why, "well-formed XML: %s", why ? why : "");
    CHECK(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"") && strstr(svg, "width=\"960\" height=\"600\""),
          "svg root with the default size");
    CHECK(len > 0 && !strcmp(svg + len - 7, "</svg>\n"), "ends with </svg>");
    /* titles and axis labels, escaped */
    CHECK(strstr(svg, ">KLD vs bpw</text>") && strstr(svg, ">sub &apos;title&apos;</text>"), "title and subtitle");
    CHECK(strstr(svg, ">bits per weight</text>") && strstr(svg, ">mean KLD (log scale)</text>"), "axis labels");
    /* x ticks: data 2.5..6.5 padded by 6 % -> nice step 0.5, labels 2.5 ... 6.5 */
    CHECK(strstr(svg, ">3</text>") && strstr(svg, ">4.5</text>") && strstr(svg, ">6</text>"), "x tick labels");
    /* log y axis: data 0.00036..0.1 (with the error bars) -> whole decades 1e-4..0.1, labelled 1, 2, 5 x 10^k */
    CHECK(strstr(svg, ">0.0001</text>") && strstr(svg, ">0.001</text>") && strstr(svg, ">0.01</text>") &&
              strstr(svg, ">0.1</text>") && !strstr(svg, ">0.2</text>"),
          "log y decade labels");
    CHECK(strstr(svg, ">0.002</text>") && strstr(svg, ">0.05</text>") && !strstr(svg, ">0.003</text>"),
          "log y: 2x and 5x labelled, 3x not");
    /* the line's points: equal ratios give equal pixel distances, larger values higher up */
    const char *s1 = strstr(svg, "id=\"series-1\"");
    double cy[8];
    int nc = s1 ? circles_cy(s1, cy, 8) : 0;
    CHECK(nc == 3, "line series: 3 markers, got %d", nc);
    if (nc == 3) {
        CHECK(cy[0] < cy[1] && cy[1] < cy[2], "larger KLD higher: %.1f %.1f %.1f", cy[0], cy[1], cy[2]);
        CHECK(close_to(cy[1] - cy[0], cy[2] - cy[1], 0.11) && cy[1] - cy[0] > 50,
              "log scale: one decade = %.1f px and %.1f px (printed to 0.1 px)", cy[1] - cy[0], cy[2] - cy[1]);
        /* plot area 66..538 px for 3 decades: 157.3 px per decade */
        CHECK(close_to(cy[1] - cy[0], (538.0 - 66.0) / 3.0, 0.11), "decade = 157.3 px: %.1f", cy[1] - cy[0]);
    }
    CHECK(strstr(svg, "<polyline") != NULL, "line drawn");
    /* points series: 3 diamonds (y = 0 left out on the log axis), each labelled, error bars as paths */
    const char *s0 = strstr(svg, "id=\"series-0\"");
    const char *s0e = s0 ? strstr(s0, "</g>") : NULL;
    int diamonds = 0, bars = 0;
    for (const char *q = s0; q && (q = strstr(q, "<rect ")) != NULL && q < s0e; q++) diamonds++;
    for (const char *q = s0; q && (q = strstr(q, "<path ")) != NULL && q < s0e; q++) bars++;
    CHECK(diamonds == 3 && bars == 3, "points: %d markers, %d error bars (want 3, 3)", diamonds, bars);
    CHECK(strstr(svg, ">IQ2_K</text>") && strstr(svg, ">Q4_K_M</text>") && strstr(svg, ">Q6_K</text>") &&
              !strstr(svg, ">ZERO</text>"),
          "point labels (not for the point left out)");
    /* legend: both series, escaped, after the data */
    const char *lg = strstr(svg, "<g class=\"legend\">");
    CHECK(lg && strstr(lg, ">presets &lt;a &amp; b&gt;</text>") && strstr(lg, ">qtk plan</text>"), "legend entries");
    CHECK(!strstr(svg, "<a & b>"), "no unescaped text");
    /* deterministic */
    CHECK(qtk_svg_render(&p, &svg2, &len2, &err) == QTK_OK && len2 == len && !memcmp(svg, svg2, len), "same bytes twice");
    free(svg2);
    svg2 = NULL;
    /* the same data on a linear axis: equal ratios are no longer equal distances */
    p.log_y = false;
    if (qtk_svg_render(&p, &svg2, &len2, &err) == QTK_OK) {
        CHECK(!xml_check(svg2), "linear: well-formed");
        const char *l1 = strstr(svg2, "id=\"series-1\"");
        double cl[8];
        int n = l1 ? circles_cy(l1, cl, 8) : 0;
        CHECK(n == 3 && !close_to(cl[1] - cl[0], cl[2] - cl[1], 5.0), "linear axis differs from log");
        /* the zero point is shown on a linear axis */
        CHECK(strstr(svg2, ">ZERO</text>") != NULL, "linear: y = 0 plotted");
    } else {
        CHECK(0, "linear render: %s", err.msg);
    }
    free(svg2);
    free(svg);
    /* nothing to plot */
    const double zy[1] = {0.0}, zx[1] = {1.0};
    qtk_svg_series z = {"z", QTK_SVG_POINTS, NULL, 1, zx, zy, NULL, NULL};
    qtk_svg_plot pz = {"t", NULL, "x", "y", true, 0, 0, 1, &z};
    svg = (char *)1;
    CHECK(qtk_svg_render(&pz, &svg, NULL, &err) == QTK_ERR_INVALID_ARG && svg == NULL && strstr(err.msg, "log axis"),
          "no plottable point refused: %s", err.msg);
}

static void test_svg_helpers(void) {
    double f, st, v[64];
    bool lab[64];
    CHECK(qtk_svg_linear_ticks(0, 10, 6, &f, &st) == 6 && f == 0 && st == 2, "linear ticks 0..10: %g %g", f, st);
    CHECK(qtk_svg_linear_ticks(2.1, 6.3, 12, &f, &st) == 8 && close_to(f, 2.5, 1e-12) && st == 0.5,
          "linear ticks 2.1..6.3: first %g step %g", f, st);
    CHECK(qtk_svg_linear_ticks(1, NAN, 6, &f, &st) == 0, "linear ticks: NaN");
    int n = qtk_svg_log_ticks(0.001, 1, v, lab, 64);
    int nl = 0;
    for (int i = 0; i < n; i++) nl += lab[i];
    CHECK(n == 28 && nl == 10 && close_to(v[0], 0.001, 1e-18) && v[n - 1] == 1.0, "log ticks 3 decades: %d ticks, %d labelled", n, nl);
    n = qtk_svg_log_ticks(1e-6, 1, v, lab, 64);
    nl = 0;
    for (int i = 0; i < n; i++) nl += lab[i];
    CHECK(n == 19 && nl == 7, "log ticks 6 decades: 1, 2, 5 per decade, powers labelled: %d, %d", n, nl);
    CHECK(qtk_svg_log_ticks(0, 1, v, lab, 64) == 0, "log ticks: lo = 0 refused");
    double lo, hi;
    qtk_svg_log_extent(0.0017, 0.0042, &lo, &hi);
    CHECK(close_to(lo, 0.001, 1e-15) && close_to(hi, 0.005, 1e-15), "log extent within a decade: %g..%g", lo, hi);
    qtk_svg_log_extent(0.0004, 0.3, &lo, &hi);
    CHECK(close_to(lo, 1e-4, 1e-18) && close_to(hi, 1.0, 1e-15), "log extent: whole decades %g..%g", lo, hi);
    CHECK(close_to(qtk_svg_map(0.01, 0.001, 0.1, 500, 100, true), 300, 1e-9), "map log midpoint");
    CHECK(close_to(qtk_svg_map(5, 0, 10, 0, 200, false), 100, 1e-12), "map linear midpoint");
    char buf[64];
    CHECK(qtk_svg_escape("a<b>&\"'", buf, sizeof buf) == 27 && !strcmp(buf, "a&lt;b&gt;&amp;&quot;&apos;"),
          "escape: %s", buf);
    CHECK(qtk_svg_escape("x&y", buf, 4) == 7 && !strcmp(buf, "x&a"), "escape truncated like snprintf: %s", buf);
    CHECK(qtk_svg_escape("a\x01z", buf, sizeof buf) == 3 && !strcmp(buf, "a?z"), "control character replaced");
}

int main(void) {
    test_paired();
    test_spearman();
    test_chunk_mean();
    test_svg();
    test_svg_helpers();
    return tl_finish("test_svg_stats");
}
