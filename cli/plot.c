/* plot.c — history, forecast and prediction intervals as a standalone SVG file. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json.h"
#include "ntg_error.h"
#include "series.h"
#include "strbuf.h"

/* Layout in pixels: a header (title and legend), then one panel per column. */
#define MARGIN_L 78.0
#define MARGIN_R 28.0
#define HEADER_H 74.0
#define PANEL_TITLE_H 22.0
#define PLOT_H 180.0
#define AXIS_H 36.0
#define PANEL_H (PANEL_TITLE_H + PLOT_H + AXIS_H)

#define COLOR_HISTORY "#1f77b4"
#define COLOR_TRUTH "#555555"
#define COLOR_FORECAST "#d62728"

typedef ntg_strbuf out;

/* Text as XML character data or attribute value: the five special characters
 * escaped; control characters, which XML 1.0 forbids even as references,
 * become spaces; a string that is not valid UTF-8 has its non-ASCII bytes
 * replaced by U+FFFD, so the file always parses. */
static void put_text(out *o, const char *s)
{
    if (!s) return;
    int valid = ntg__utf8_valid(s, strlen(s));
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        switch (*q) {
        case '&':
            ntg__sb_puts(o, "&amp;");
            break;
        case '<':
            ntg__sb_puts(o, "&lt;");
            break;
        case '>':
            ntg__sb_puts(o, "&gt;");
            break;
        case '"':
            ntg__sb_puts(o, "&quot;");
            break;
        case '\'':
            ntg__sb_puts(o, "&apos;");
            break;
        default:
            if (*q < 0x20)
                ntg__sb_puts(o, " ");
            else if (*q >= 0x80 && !valid)
                ntg__sb_puts(o, "\xEF\xBF\xBD");
            else
                ntg__sb_put(o, (const char *)q, 1);
        }
    }
}

/* 1, 2 or 5 times a power of ten, at least x (x > 0): Heckbert's "nice numbers"
 * (Graphics Gems, 1990), so ticks fall on round values. */
static double nice_step(double x)
{
    double e = pow(10.0, floor(log10(x)));
    double f = x / e;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * e;
}

/* A value-axis label: as many decimals as the tick step needs. */
static void fmt_value(char *buf, size_t cap, double v, double step)
{
    if (fabs(v) < step * 1e-9) v = 0.0; /* no "-0" or 1e-17 at the zero tick */
    double mag = fmax(fabs(v), step);
    if (mag >= 1e7 || step < 1e-6) {
        snprintf(buf, cap, "%.4g", v);
        return;
    }
    int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 9) dec = 9;
    snprintf(buf, cap, "%.*f", dec, v);
}

static ntg_status check_values(const char *panel, const char *what, const double *v, size_t n,
                               ntg_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "plot: panel '%.60s': %s value %zu is %g",
                             panel, what, i, v[i]);
    return NTG_OK;
}

static ntg_status check_plot(const ntg_plot *p, ntg_error *err)
{
    if (!p->panels || p->n_panels == 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "plot: no panels to draw");
    if (p->n_hist == 0) return ntg__fail(err, NTG_ERR_INVALID_ARG, "plot: no history to draw");
    if (p->width != 0 && (p->width < 200 || p->width > 100000))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "plot: width %d is not in [200, 100000]",
                         p->width);
    for (size_t k = 0; k < p->n_panels; k++) {
        const ntg_plot_panel *q = &p->panels[k];
        const char *name = q->name ? q->name : "?";
        if (!q->hist)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "plot: panel '%.60s' has no history", name);
        if (q->n_bands && !q->bands)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "plot: panel '%.60s': bands are NULL", name);
        ntg_status st = check_values(name, "history", q->hist, p->n_hist, err);
        if (!st && q->fc) st = check_values(name, "forecast", q->fc, p->n_fc, err);
        if (!st && q->truth) st = check_values(name, "truth", q->truth, p->n_fc, err);
        for (size_t b = 0; !st && b < q->n_bands; b++) {
            if (!q->bands[b].lo || !q->bands[b].hi)
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "plot: panel '%.60s': band %zu has no bounds", name, b);
            st = check_values(name, "band low", q->bands[b].lo, p->n_fc, err);
            if (!st) st = check_values(name, "band high", q->bands[b].hi, p->n_fc, err);
        }
        if (st) return st;
    }
    return NTG_OK;
}

static void range_of(const double *v, size_t n, double *lo, double *hi)
{
    for (size_t i = 0; v && i < n; i++) {
        if (v[i] < *lo) *lo = v[i];
        if (v[i] > *hi) *hi = v[i];
    }
}

typedef struct frame {
    double x0, plot_w; /* plot area left and width */
    double y0;         /* plot area top */
    double vlo, vhi;   /* value axis */
    size_t n_pts;      /* history + forecast */
} frame;

static double fx(const frame *f, double t)
{
    return f->x0 + (f->n_pts > 1 ? t / (double)(f->n_pts - 1) : 0.5) * f->plot_w;
}

static double fy(const frame *f, double v)
{
    return f->y0 + PLOT_H * (f->vhi - v) / (f->vhi - f->vlo);
}

/* Points t0, t0 + 1, ... of v as "x,y x,y ...". */
static void put_points(out *o, const frame *f, const double *v, size_t n, size_t t0)
{
    for (size_t i = 0; i < n; i++)
        ntg__sb_putf(o, "%s%.2f,%.2f", i ? " " : "", fx(f, (double)(t0 + i)), fy(f, v[i]));
}

static void put_polyline(out *o, const frame *f, const char *cls, const char *style,
                         const double *v, size_t n, size_t t0)
{
    ntg__sb_putf(o, "<polyline class=\"%s\" %s points=\"", cls, style);
    put_points(o, f, v, n, t0);
    ntg__sb_puts(o, "\"/>\n");
}

/* The label of time index t: its date, or its step (history ends at 0). */
static const char *time_label(const ntg_plot *p, size_t t, char *buf, size_t cap)
{
    if (t < p->n_hist && p->hist_dates && p->hist_dates[t]) return p->hist_dates[t];
    if (t >= p->n_hist && p->fc_dates && p->fc_dates[t - p->n_hist])
        return p->fc_dates[t - p->n_hist];
    if (t >= p->n_hist)
        snprintf(buf, cap, "+%zu", t - p->n_hist + 1);
    else
        snprintf(buf, cap, "%lld", (long long)t - (long long)p->n_hist + 1);
    return buf;
}

/* Narrower bands (later in the list) darker, so nested intervals read as layers. */
static double band_opacity(size_t b)
{
    double op = 0.14 + 0.14 * (double)b;
    return op > 0.6 ? 0.6 : op;
}

static void put_panel(out *o, const ntg_plot *p, size_t k, double width, double top)
{
    const ntg_plot_panel *q = &p->panels[k];
    frame f;
    f.x0 = MARGIN_L;
    f.plot_w = width - MARGIN_L - MARGIN_R;
    f.y0 = top + PANEL_TITLE_H;
    f.n_pts = p->n_hist + p->n_fc;

    double lo = INFINITY, hi = -INFINITY;
    range_of(q->hist, p->n_hist, &lo, &hi);
    range_of(q->fc, p->n_fc, &lo, &hi);
    range_of(q->truth, p->n_fc, &lo, &hi);
    for (size_t b = 0; b < q->n_bands; b++) {
        range_of(q->bands[b].lo, p->n_fc, &lo, &hi);
        range_of(q->bands[b].hi, p->n_fc, &lo, &hi);
    }
    if (hi - lo <= fmax(fabs(lo), fabs(hi)) * 1e-12) {
        double pad = lo != 0.0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    double step = nice_step((hi - lo) / 5.0);
    f.vlo = floor(lo / step) * step;
    f.vhi = ceil(hi / step) * step;
    if (f.vhi <= f.vlo) f.vhi = f.vlo + step;

    ntg__sb_putf(o, "<g class=\"panel\" id=\"panel-%zu\">\n", k);
    ntg__sb_puts(o, "<text class=\"panel-title\" x=\"");
    ntg__sb_putf(o, "%.2f\" y=\"%.2f\" font-size=\"13\" font-weight=\"bold\">", f.x0, top + 15.0);
    put_text(o, q->name ? q->name : "");
    ntg__sb_puts(o, "</text>\n");
    ntg__sb_putf(o,
                 "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#fafafa\" "
                 "stroke=\"#bbbbbb\"/>\n",
                 f.x0, f.y0, f.plot_w, PLOT_H);

    /* value axis: grid lines and labels */
    ntg__sb_puts(o, "<g class=\"y-axis\" font-size=\"10\" text-anchor=\"end\" fill=\"#333333\">\n");
    for (int i = 0;; i++) {
        double v = f.vlo + step * i;
        if (v > f.vhi + step * 1e-9) break;
        char lab[64];
        fmt_value(lab, sizeof lab, v, step);
        double y = fy(&f, v);
        ntg__sb_putf(o,
                     "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e0e0e0\"/>"
                     "<text x=\"%.2f\" y=\"%.2f\">%s</text>\n",
                     f.x0, y, f.x0 + f.plot_w, y, f.x0 - 6.0, y + 3.5, lab);
    }
    ntg__sb_puts(o, "</g>\n");

    /* time axis: ticks on round steps, labelled with dates or step numbers */
    int dated = p->hist_dates != NULL;
    double max_ticks = floor(f.plot_w / (dated ? 130.0 : 60.0));
    if (max_ticks < 2.0) max_ticks = 2.0;
    size_t span = f.n_pts > 1 ? f.n_pts - 1 : 1;
    size_t tstep = (size_t)nice_step(fmax((double)span / max_ticks, 1.0));
    if (tstep == 0) tstep = 1;
    double ybase = f.y0 + PLOT_H;
    ntg__sb_puts(o, "<g class=\"x-axis\" font-size=\"10\" fill=\"#333333\">\n");
    for (size_t t = 0; t < f.n_pts; t += tstep) {
        double x = fx(&f, (double)t);
        char buf[32];
        const char *label = time_label(p, t, buf, sizeof buf);
        /* about 6 px a character at 10 px: keep labels at the edges inside the image */
        double half = 3.0 * (double)strlen(label);
        const char *anchor = x + half > width - 2.0 ? "end" : x - half < 2.0 ? "start" : "middle";
        ntg__sb_putf(o,
                     "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#888888\"/>"
                     "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\">",
                     x, ybase, x, ybase + 5.0, x, ybase + 17.0, anchor);
        put_text(o, label);
        ntg__sb_puts(o, "</text>\n");
    }
    ntg__sb_puts(o, "</g>\n");

    /* bands under the lines, widest first so the narrower ones show on top */
    for (size_t b = 0; b < q->n_bands && p->n_fc; b++) {
        ntg__sb_puts(o, "<polygon class=\"band\" fill=\"" COLOR_FORECAST "\" ");
        ntg__sb_putf(o, "fill-opacity=\"%.2f\" stroke=\"none\" points=\"", band_opacity(b));
        put_points(o, &f, q->bands[b].lo, p->n_fc, p->n_hist);
        for (size_t i = p->n_fc; i-- > 0;)
            ntg__sb_putf(o, " %.2f,%.2f", fx(&f, (double)(p->n_hist + i)),
                         fy(&f, q->bands[b].hi[i]));
        ntg__sb_puts(o, "\"><title>");
        put_text(o, q->bands[b].label ? q->bands[b].label : "interval");
        ntg__sb_puts(o, "</title></polygon>\n");
    }
    put_polyline(o, &f, "history",
                 "fill=\"none\" stroke=\"" COLOR_HISTORY "\" stroke-width=\"1.4\"", q->hist,
                 p->n_hist, 0);
    if (q->truth && p->n_fc)
        put_polyline(o, &f, "truth",
                     "fill=\"none\" stroke=\"" COLOR_TRUTH "\" stroke-width=\"1.2\" "
                     "stroke-dasharray=\"4 3\"",
                     q->truth, p->n_fc, p->n_hist);
    if (q->fc && p->n_fc)
        put_polyline(o, &f, "forecast",
                     "fill=\"none\" stroke=\"" COLOR_FORECAST "\" stroke-width=\"1.8\"", q->fc,
                     p->n_fc, p->n_hist);
    if (p->n_fc) {
        /* between the last observed step and the first forecast step */
        double x = fx(&f, (double)p->n_hist - 0.5);
        ntg__sb_putf(
            o,
            "<line class=\"forecast-start\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
            "stroke=\"#333333\" stroke-dasharray=\"5 4\"/>"
            "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\" fill=\"#333333\">forecast</text>\n",
            x, f.y0, x, ybase, x + 4.0, f.y0 + 12.0);
    }
    ntg__sb_puts(o, "</g>\n");
}

static void legend_label(out *o, double *x, double y, const char *label)
{
    ntg__sb_putf(o, "<text x=\"%.2f\" y=\"%.2f\">", *x + 28.0, y);
    put_text(o, label);
    ntg__sb_puts(o, "</text></g>\n");
    *x += 28.0 + 7.0 * (double)strlen(label) + 22.0;
}

/* A legend entry drawn as a short line with the stroke attributes given. */
static void legend_line(out *o, double *x, double y, const char *stroke, const char *label)
{
    ntg__sb_putf(o,
                 "<g class=\"legend-item\"><line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                 "%s/>",
                 *x, y - 4.0, *x + 22.0, y - 4.0, stroke);
    legend_label(o, x, y, label);
}

static void put_legend(out *o, const ntg_plot *p, double y)
{
    int any_fc = 0, any_truth = 0;
    const ntg_plot_panel *banded = NULL;
    for (size_t k = 0; k < p->n_panels; k++) {
        any_fc |= p->panels[k].fc != NULL;
        any_truth |= p->panels[k].truth != NULL;
        if (!banded && p->panels[k].n_bands) banded = &p->panels[k];
    }
    if (!p->n_fc) {
        any_fc = any_truth = 0;
        banded = NULL;
    }
    double x = MARGIN_L;
    ntg__sb_puts(o, "<g class=\"legend\" font-size=\"12\" fill=\"#333333\">\n");
    legend_line(o, &x, y, "stroke=\"" COLOR_HISTORY "\" stroke-width=\"2\"", "history");
    if (any_truth)
        legend_line(o, &x, y,
                    "stroke=\"" COLOR_TRUTH "\" stroke-width=\"2\" stroke-dasharray=\"4 3\"",
                    "actual");
    if (any_fc)
        legend_line(o, &x, y, "stroke=\"" COLOR_FORECAST "\" stroke-width=\"2\"", "forecast");
    for (size_t b = 0; banded && b < banded->n_bands; b++) {
        ntg__sb_putf(o,
                     "<g class=\"legend-item\"><rect x=\"%.2f\" y=\"%.2f\" width=\"22\" "
                     "height=\"10\" fill=\"" COLOR_FORECAST "\" fill-opacity=\"%.2f\"/>",
                     x, y - 9.0, band_opacity(b));
        legend_label(o, &x, y, banded->bands[b].label ? banded->bands[b].label : "interval");
    }
    ntg__sb_puts(o, "</g>\n");
}

ntg_status ntg__plot_svg(const char *path, const ntg_plot *p, ntg_error *err)
{
    if (!path || !p) return ntg__fail(err, NTG_ERR_INVALID_ARG, "plot: NULL argument");
    ntg_status st = check_plot(p, err);
    if (st) return st;
    double width = p->width ? (double)p->width : 960.0;
    double height = HEADER_H + PANEL_H * (double)p->n_panels + 8.0;
    out o = {0};
    ntg__sb_puts(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    ntg__sb_putf(&o,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                 "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\">\n",
                 width, height, width, height);
    ntg__sb_puts(&o, "<title>");
    put_text(&o, p->title ? p->title : "ntgraph forecast");
    ntg__sb_puts(&o, "</title>\n");
    ntg__sb_putf(&o, "<desc>%zu series, %zu history steps, %zu forecast steps</desc>\n",
                 p->n_panels, p->n_hist, p->n_fc);
    ntg__sb_putf(&o, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", width, height);
    if (p->title) {
        ntg__sb_putf(&o,
                     "<text class=\"title\" x=\"%.2f\" y=\"26\" font-size=\"18\" fill=\"#111111\">",
                     MARGIN_L);
        put_text(&o, p->title);
        ntg__sb_puts(&o, "</text>\n");
    }
    put_legend(&o, p, 54.0);
    for (size_t k = 0; k < p->n_panels; k++)
        put_panel(&o, p, k, width, HEADER_H + PANEL_H * (double)k);
    ntg__sb_puts(&o, "</svg>\n");
    if (o.oom) {
        free(o.p);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    ntg_span whole = {o.p, o.len};
    st = ntg__file_replace(path, &whole, 1, err);
    free(o.p);
    return st;
}
