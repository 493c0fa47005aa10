/* plot.h — forecasts drawn as SVG for `ntgraph run --plot` (the CLI draws; the library does
 * not). */
#ifndef NTG_CLI_PLOT_H
#define NTG_CLI_PLOT_H

#include <stddef.h>

#include "ntgraph.h"

/* A prediction interval over the forecast steps (e.g. "80%": the 0.1 and 0.9
 * quantiles). */
typedef struct ntg_plot_band {
    const char *label;
    const double *lo, *hi; /* n_fc values each */
} ntg_plot_band;

/* One panel (small multiple) per column, all on the same time axis. */
typedef struct ntg_plot_panel {
    const char *name;           /* the column */
    const double *hist;         /* n_hist values */
    const double *fc;           /* n_fc forecast values, or NULL */
    const double *truth;        /* n_fc actual values over the forecast steps, or NULL */
    const ntg_plot_band *bands; /* n_bands intervals, widest first */
    size_t n_bands;
} ntg_plot_panel;

typedef struct ntg_plot {
    const char *title;             /* NULL: none */
    size_t n_hist, n_fc;           /* n_hist >= 1 */
    const char *const *hist_dates; /* n_hist dates, or NULL: steps -n_hist+1 .. 0 */
    const char *const *fc_dates;   /* n_fc dates, or NULL: steps 1 .. n_fc */
    const ntg_plot_panel *panels;
    size_t n_panels; /* >= 1 */
    int width;       /* pixels; 0: 960 */
} ntg_plot;

/* Write the plot as a standalone SVG file (UTF-8, XML-escaped text), atomically:
 * a temporary file next to `path` renamed over it, so readers see the old file
 * or the new one.  Each panel has its own value axis; the x axis is labelled
 * with the dates (or steps), a dashed line marks the forecast start, and a
 * legend names history, forecast, truth and the bands.  Errors:
 * NTG_ERR_INVALID_ARG (no panels, no history, a non-finite value: naming the
 * panel and the point), NTG_ERR_IO naming the path, NTG_ERR_NOMEM. */
ntg_status ntg__plot_svg(const char *path, const ntg_plot *p, ntg_error *err);

#endif /* NTG_CLI_PLOT_H */
