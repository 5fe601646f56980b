/*
 * svg_plot.c — dependency-free SVG plot writer (svg_plot.h).
 */
#include "quantize/svg_plot.h"
#include "core/qtk_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- string builder ------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) QTK_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if (b->p && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t want = b->n + (size_t)k + 1, cap = b->cap ? b->cap : 4096;
        while (cap < want) cap *= 2;
        char *q = (char *)realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* Appends text XML-escaped. */
static void sb_text(sbuf *b, const char *s) {
    size_t need = qtk_svg_escape(s, NULL, 0);
    char small[256];
    char *t = need < sizeof small ? small : (char *)malloc(need + 1);
    if (!t) {
        b->oom = true;
        return;
    }
    qtk_svg_escape(s, t, need + 1);
    sb_printf(b, "%s", t);
    if (t != small) free(t);
}

size_t qtk_svg_escape(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    for (; s && *s; s++) {
        const char *rep = NULL;
        char one[2] = {*s, 0};
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default:
            /* control characters other than tab/newline are not allowed in XML 1.0 */
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n') one[0] = '?';
            rep = one;
        }
        for (const char *r = rep; *r; r++, n++)
            if (buf && n + 1 < cap) buf[n] = *r;
    }
    if (buf && cap) buf[n < cap ? n : cap - 1] = '\0';
    return n;
}

/* ---- axes ------------------------------------------------------------------ */

int qtk_svg_linear_ticks(double lo, double hi, int max_ticks, double *first, double *step) {
    *first = lo;
    *step = 1;
    if (!isfinite(lo) || !isfinite(hi) || hi < lo || max_ticks < 2) return 0;
    double span = hi - lo;
    if (span <= 0) span = fabs(lo) > 0 ? fabs(lo) : 1;
    double raw = span / (double)(max_ticks - 1);
    double mag = pow(10.0, floor(log10(raw)));
    static const double mult[] = {1, 2, 5, 10};
    double st = 10 * mag;
    for (int i = 0; i < 4; i++) {
        double s = mult[i] * mag;
        if (floor(hi / s + 1e-9) - ceil(lo / s - 1e-9) + 1 <= max_ticks) {
            st = s;
            break;
        }
    }
    double f = ceil(lo / st - 1e-9) * st;
    int n = (int)(floor(hi / st + 1e-9) - ceil(lo / st - 1e-9)) + 1;
    *first = f;
    *step = st;
    return n > 0 ? n : 0;
}

void qtk_svg_log_extent(double lo, double hi, double *axis_lo, double *axis_hi) {
    double dlo = floor(log10(lo) + 1e-9), dhi = ceil(log10(hi) - 1e-9);
    if (dhi <= dlo) dhi = dlo + 1;
    double alo = pow(10.0, dlo), ahi = pow(10.0, dhi);
    if (dhi - dlo <= 1) { /* less than a decade: tighten to 1-2-5 steps */
        static const double m[] = {1, 2, 5, 10};
        for (int i = 3; i >= 0; i--)
            if (m[i] * alo <= lo * (1 + 1e-9)) {
                alo = m[i] * pow(10.0, dlo);
                break;
            }
        for (int i = 0; i < 4; i++)
            if (m[i] * pow(10.0, dlo) >= hi * (1 - 1e-9)) {
                ahi = m[i] * pow(10.0, dlo);
                break;
            }
        if (ahi <= alo) ahi = alo * 2;
    }
    *axis_lo = alo;
    *axis_hi = ahi;
}

int qtk_svg_log_ticks(double lo, double hi, double *vals, bool *labelled, int max) {
    if (!(lo > 0) || !(hi >= lo) || !isfinite(hi)) return 0;
    int d0 = (int)floor(log10(lo) + 1e-9), d1 = (int)ceil(log10(hi) - 1e-9);
    bool fine = d1 - d0 <= 3;
    int n = 0;
    for (int d = d0; d <= d1; d++) {
        double p = pow(10.0, d);
        for (int m = 1; m <= 9; m++) {
            double v = m * p;
            if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
            bool lab = m == 1 || (fine && (m == 2 || m == 5));
            if (m != 1 && !fine) {
                /* more than 3 decades: minor ticks only at 2 and 5 */
                if (m != 2 && m != 5) continue;
            }
            if (n < max) {
                vals[n] = v;
                labelled[n] = lab;
            }
            n++;
        }
    }
    return n < max ? n : max;
}

double qtk_svg_map(double v, double lo, double hi, double px0, double px1, bool log) {
    double a = lo, b = hi, x = v;
    if (log) {
        a = log10(lo);
        b = log10(hi);
        x = log10(v);
    }
    if (b == a) return 0.5 * (px0 + px1);
    return px0 + (x - a) / (b - a) * (px1 - px0);
}

/* ---- rendering ------------------------------------------------------------- */

static const char *const palette[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#7f7f7f", "#8c564b"};

typedef struct box {
    double x0, y0, x1, y1;
} box;

static bool overlaps(box a, box b) { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1; }

static double overlap_area(box a, box b) {
    double w = QTK_MIN(a.x1, b.x1) - QTK_MAX(a.x0, b.x0), h = QTK_MIN(a.y1, b.y1) - QTK_MAX(a.y0, b.y0);
    return w > 0 && h > 0 ? w * h : 0;
}

#define FONT_PX 12.0
/* approximate advance of a character of the sans-serif font at FONT_PX */
static double text_width(const char *s, double font) { return (double)strlen(s) * font * 0.58; }

static void fmt_num(char *buf, size_t n, double v) {
    if (v != 0 && (fabs(v) < 1e-3 || fabs(v) >= 1e5)) snprintf(buf, n, "%g", v);
    else {
        snprintf(buf, n, "%.6f", v);
        /* drop trailing zeros: 0.000100 -> 0.0001, 2.500000 -> 2.5 */
        char *dot = strchr(buf, '.');
        if (dot) {
            char *e = buf + strlen(buf) - 1;
            while (e > dot && *e == '0') *e-- = '\0';
            if (e == dot) *e = '\0';
        }
    }
}

static bool point_ok(const qtk_svg_plot *p, double x, double y) {
    return isfinite(x) && isfinite(y) && (!p->log_y || y > 0);
}

qtk_status qtk_svg_render(const qtk_svg_plot *p, char **out, size_t *len, qtk_error *err) {
    *out = NULL;
    if (len) *len = 0;
    const double W = p->width > 0 ? p->width : 960, H = p->height > 0 ? p->height : 600;
    const double ml = 84, mr = 24, mt = p->subtitle ? 66 : 48, mb = 62;
    const double x0 = ml, x1 = W - mr, y0 = H - mb, y1 = mt; /* plot area: y0 bottom, y1 top */

    /* data range */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int64_t n_pts = 0;
    for (int s = 0; s < p->n_series; s++) {
        const qtk_svg_series *se = &p->series[s];
        for (int64_t i = 0; i < se->n; i++) {
            if (!point_ok(p, se->x[i], se->y[i])) continue;
            xmin = QTK_MIN(xmin, se->x[i]);
            xmax = QTK_MAX(xmax, se->x[i]);
            double lo = se->y[i], hi = se->y[i];
            if (se->y_err && isfinite(se->y_err[i])) {
                hi += se->y_err[i];
                if (!p->log_y || lo - se->y_err[i] > 0) lo -= se->y_err[i];
            }
            ymin = QTK_MIN(ymin, lo);
            ymax = QTK_MAX(ymax, hi);
            n_pts++;
        }
    }
    if (n_pts == 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "plot '%s': no point to plot%s", p->title ? p->title : "",
                             p->log_y ? " (a log axis needs values > 0)" : "");

    /* axes extents */
    double xpad = (xmax - xmin) * 0.06;
    if (xpad <= 0) xpad = 0.5;
    double xlo = xmin - xpad, xhi = xmax + xpad, xfirst, xstep;
    int nxt = qtk_svg_linear_ticks(xlo, xhi, 12, &xfirst, &xstep);
    double ylo, yhi;
    if (p->log_y) {
        qtk_svg_log_extent(ymin, ymax, &ylo, &yhi);
    } else {
        double pad = (ymax - ymin) * 0.06;
        if (pad <= 0) pad = fabs(ymax) > 0 ? fabs(ymax) * 0.1 : 1;
        ylo = ymin - pad;
        yhi = ymax + pad;
    }
#define PX(v) qtk_svg_map((v), xlo, xhi, x0, x1, false)
#define PY(v) qtk_svg_map((v), ylo, yhi, y0, y1, p->log_y)

    sbuf b = {0};
    char num[64];
    sb_printf(&b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
              "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"%.0f\">\n",
              W, H, W, H, FONT_PX);
    sb_printf(&b, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", W, H);
    if (p->title) {
        sb_printf(&b, "<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">",
                  0.5 * (x0 + x1));
        sb_text(&b, p->title);
        sb_printf(&b, "</text>\n");
    }
    if (p->subtitle) {
        sb_printf(&b, "<text x=\"%.1f\" y=\"44\" text-anchor=\"middle\" fill=\"#444444\">", 0.5 * (x0 + x1));
        sb_text(&b, p->subtitle);
        sb_printf(&b, "</text>\n");
    }

    /* grid and ticks */
    sb_printf(&b, "<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n");
    for (int i = 0; i < nxt; i++) {
        double v = xfirst + i * xstep, px = PX(v);
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px, y0, px, y1);
    }
    double yt[128];
    bool ylab[128];
    int nyt = 0;
    if (p->log_y) {
        nyt = qtk_svg_log_ticks(ylo, yhi, yt, ylab, 128);
    } else {
        double f, st;
        int k = qtk_svg_linear_ticks(ylo, yhi, 10, &f, &st);
        for (int i = 0; i < k && nyt < 128; i++, nyt++) {
            yt[nyt] = f + i * st;
            ylab[nyt] = true;
        }
    }
    for (int i = 0; i < nyt; i++) {
        double py = PY(yt[i]);
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"%s/>\n", x0, py, x1, py,
                  ylab[i] ? "" : " stroke=\"#f3f3f3\"");
    }
    sb_printf(&b, "</g>\n");
    sb_printf(&b, "<g class=\"axes\" stroke=\"#000000\" stroke-width=\"1\">\n");
    sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\"/>\n", x0, y1, x1 - x0,
              y0 - y1);
    for (int i = 0; i < nxt; i++) {
        double px = PX(xfirst + i * xstep);
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px, y0, px, y0 + 5);
    }
    for (int i = 0; i < nyt; i++) {
        double py = PY(yt[i]);
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0 - (ylab[i] ? 5 : 3), py, x0, py);
    }
    sb_printf(&b, "</g>\n<g class=\"tick-labels\" fill=\"#000000\">\n");
    for (int i = 0; i < nxt; i++) {
        double v = xfirst + i * xstep;
        fmt_num(num, sizeof num, fabs(v) < xstep * 1e-6 ? 0.0 : v);
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", PX(v), y0 + 19, num);
    }
    for (int i = 0; i < nyt; i++) {
        if (!ylab[i]) continue;
        fmt_num(num, sizeof num, yt[i]);
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", x0 - 8, PY(yt[i]) + 4, num);
    }
    sb_printf(&b, "</g>\n");
    if (p->x_label) {
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\">", 0.5 * (x0 + x1), H - 18);
        sb_text(&b, p->x_label);
        sb_printf(&b, "</text>\n");
    }
    if (p->y_label) {
        double cy = 0.5 * (y0 + y1);
        sb_printf(&b, "<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" transform=\"rotate(-90 20 %.1f)\">",
                  cy, cy);
        sb_text(&b, p->y_label);
        sb_printf(&b, "</text>\n");
    }

    /* marker boxes first, so labels avoid every marker */
    box *boxes = (box *)malloc(sizeof(box) * (size_t)(2 * n_pts + p->n_series + 4));
    int64_t nb = 0;
    if (!boxes) {
        free(b.p);
        return qtk_set_error(err, QTK_ERR_NOMEM, "plot: out of memory");
    }
    for (int s = 0; s < p->n_series; s++) {
        const qtk_svg_series *se = &p->series[s];
        for (int64_t i = 0; i < se->n; i++) {
            if (!point_ok(p, se->x[i], se->y[i])) continue;
            double px = PX(se->x[i]), py = PY(se->y[i]);
            boxes[nb++] = (box){px - 4, py - 4, px + 4, py + 4};
        }
    }
    /* legend box (top right, inside the plot area) is reserved too */
    double leg_w = 0;
    for (int s = 0; s < p->n_series; s++)
        leg_w = QTK_MAX(leg_w, text_width(p->series[s].name ? p->series[s].name : "", FONT_PX));
    leg_w += 44;
    double leg_h = 10 + 18.0 * p->n_series, lx = x1 - leg_w - 8, ly = y1 + 8;
    boxes[nb++] = (box){lx, ly, lx + leg_w, ly + leg_h};

    /* series */
    for (int s = 0; s < p->n_series; s++) {
        const qtk_svg_series *se = &p->series[s];
        const char *col = se->color ? se->color : palette[s % (int)(sizeof palette / sizeof palette[0])];
        sb_printf(&b, "<g class=\"series\" id=\"series-%d\">\n", s);
        if (se->name) {
            sb_printf(&b, "<title>");
            sb_text(&b, se->name);
            sb_printf(&b, "</title>\n");
        }
        /* order of x for lines (insertion sort: series are small) */
        int64_t *ord = (int64_t *)malloc(sizeof(int64_t) * (size_t)(se->n ? se->n : 1));
        if (!ord) {
            b.oom = true;
            break;
        }
        int64_t m = 0;
        for (int64_t i = 0; i < se->n; i++) {
            if (!point_ok(p, se->x[i], se->y[i])) continue;
            int64_t j = m++;
            while (j > 0 && se->x[ord[j - 1]] > se->x[i]) {
                ord[j] = ord[j - 1];
                j--;
            }
            ord[j] = i;
        }
        if (se->y_err) {
            for (int64_t k = 0; k < m; k++) {
                int64_t i = ord[k];
                double e = se->y_err[i];
                if (!isfinite(e) || e <= 0) continue;
                double lo = se->y[i] - e, hi = se->y[i] + e;
                if (p->log_y && lo <= 0) lo = ylo;
                double px = PX(se->x[i]);
                sb_printf(&b,
                          "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"%s\" "
                          "stroke-width=\"1\" fill=\"none\" opacity=\"0.7\"/>\n",
                          px, PY(lo), PY(hi), px - 3, PY(lo), px + 3, px - 3, PY(hi), px + 3, col);
            }
        }
        if (se->style == QTK_SVG_LINE && m > 1) {
            sb_printf(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
            for (int64_t k = 0; k < m; k++)
                sb_printf(&b, "%s%.1f,%.1f", k ? " " : "", PX(se->x[ord[k]]), PY(se->y[ord[k]]));
            sb_printf(&b, "\"/>\n");
        }
        for (int64_t k = 0; k < m; k++) {
            int64_t i = ord[k];
            if (se->style == QTK_SVG_LINE)
                sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(se->x[i]), PY(se->y[i]),
                          col);
            else
                sb_printf(&b,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"%s\" stroke=\"#000000\" "
                          "stroke-width=\"0.5\" transform=\"rotate(45 %.1f %.1f)\"/>\n",
                          PX(se->x[i]) - 4, PY(se->y[i]) - 4, col, PX(se->x[i]), PY(se->y[i]));
        }
        /* labels: the first free spot of 8 around the point, else the least covered */
        for (int64_t k = 0; se->labels && k < m; k++) {
            int64_t i = ord[k];
            const char *lab = se->labels[i];
            if (!lab || !*lab) continue;
            double px = PX(se->x[i]), py = PY(se->y[i]), w = text_width(lab, 11), h = 11;
            const double cand[8][2] = {{7, -3},          {7, 11},         {-7 - w, -3},     {-7 - w, 11},
                                       {-w / 2, -8},     {-w / 2, 17},    {7, -14},         {-7 - w, -14}};
            int best = 0;
            double best_cost = INFINITY;
            for (int c = 0; c < 8; c++) {
                box bx = {px + cand[c][0], py + cand[c][1] - h + 2, px + cand[c][0] + w, py + cand[c][1] + 2};
                double cost = 0;
                if (bx.x0 < x0 || bx.x1 > x1 || bx.y0 < y1 || bx.y1 > y0) cost += 1e6;
                for (int64_t q = 0; q < nb; q++)
                    if (overlaps(bx, boxes[q])) cost += 1 + overlap_area(bx, boxes[q]);
                if (cost < best_cost) {
                    best_cost = cost;
                    best = c;
                }
                if (cost == 0) break;
            }
            box bx = {px + cand[best][0], py + cand[best][1] - h + 2, px + cand[best][0] + w, py + cand[best][1] + 2};
            boxes[nb++] = bx;
            sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#222222\">", bx.x0, py + cand[best][1]);
            sb_text(&b, lab);
            sb_printf(&b, "</text>\n");
        }
        free(ord);
        sb_printf(&b, "</g>\n");
    }

    /* legend */
    sb_printf(&b, "<g class=\"legend\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" "
              "fill-opacity=\"0.9\" stroke=\"#999999\"/>\n", lx, ly, leg_w, leg_h);
    for (int s = 0; s < p->n_series; s++) {
        const qtk_svg_series *se = &p->series[s];
        const char *col = se->color ? se->color : palette[s % (int)(sizeof palette / sizeof palette[0])];
        double cy = ly + 14 + 18.0 * s, cx = lx + 18;
        if (se->style == QTK_SVG_LINE)
            sb_printf(&b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
                      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                      cx - 12, cy, cx + 12, cy, col, cx, cy, col);
        else
            sb_printf(&b,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"%s\" stroke=\"#000000\" "
                      "stroke-width=\"0.5\" transform=\"rotate(45 %.1f %.1f)\"/>\n",
                      cx - 4, cy - 4, col, cx, cy);
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">", cx + 20, cy + 4);
        sb_text(&b, se->name ? se->name : "");
        sb_printf(&b, "</text>\n");
    }
    sb_printf(&b, "</g>\n</svg>\n");
    free(boxes);
#undef PX
#undef PY
    if (b.oom) {
        free(b.p);
        return qtk_set_error(err, QTK_ERR_NOMEM, "plot: out of memory");
    }
    *out = b.p;
    if (len) *len = b.n;
    return QTK_OK;
}
