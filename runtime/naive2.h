/* naive2.h — the M4 competition's Naive2 benchmark and its OWA. */
#ifndef NTG_NAIVE2_H
#define NTG_NAIVE2_H

#include <stddef.h>

#include "ntgraph.h"
#include "series.h"

/*
 * Naive2 (Makridakis et al., M4 competition; the benchmark code of Mcompetitions/M4-methods):
 * when the in-sample y_0..y_{n-1} passes the 90% seasonality test at period m, divide it
 * by the classical multiplicative decomposition's seasonal indices, repeat the last
 * seasonally adjusted value h times and multiply the indices back; otherwise the naive
 * forecast (the last value).
 *
 *   test     n >= 3m and |r_m| > 1.645 sqrt((1 + 2 sum_{k=1}^{m-1} r_k^2) / n), r_k the
 *            autocorrelation sum_{t>=k} (y_t - mean)(y_{t-k} - mean) / sum_t (y_t - mean)^2
 *            (m = 1 is never seasonal)
 *   indices  the centred moving average of order m (2 x m for even m: half weights at both
 *            ends), the ratios y_t / ma_t averaged per position t mod m, scaled to mean 1
 *            (R's decompose(type = "multiplicative"))
 */

/* Naive2's h forecasts f[0..h) after the n values y (n >= 1).  Returns whether the series
 * was found seasonal.  `work` holds 2m doubles (NULL: always the naive forecast, which
 * needs none). */
int ntg__naive2(const double *y, size_t n, size_t m, size_t h, double *work, double *f);

/* Score Naive2 on the windows of one part of a split, as eval scores a model: for every
 * window of w (made and bound with ntg__windows_panel by the caller) Naive2 forecasts
 * from all of its series' rows before the window's start; the pairs go into a metrics
 * accumulator made with the same columns, train rows and seasonality (ntg__metrics_create),
 * so its sMAPE and MASE are the denominators of the OWA.  Errors: NTG_ERR_NOMEM and the
 * accumulator's. */
ntg_status ntg__naive2_score(const ntg_series *s, const ntg_windows *w, size_t m, ntg_metrics *acc,
                             ntg_error *err);

/* M4's overall weighted average: 0.5 (sMAPE / sMAPE_naive2 + MASE / MASE_naive2). */
double ntg__owa(double smape, double mase, double smape_naive2, double mase_naive2);

#endif /* NTG_NAIVE2_H */
