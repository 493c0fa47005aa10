/* metrics_prob.h — scores of probabilistic forecasts: interval coverage, pinball loss and CRPS
 * (docs/training.md, "Scoring quantiles and distributions"). */
#ifndef NTG_METRICS_PROB_H
#define NTG_METRICS_PROB_H

#include <stddef.h>
#include <stdint.h>

#include "ntg_error.h"

typedef struct ntg_pmetrics ntg_pmetrics;

/* An accumulator for n_cols columns, each with the global scaler's std[j] (the scores are
 * divided by it: on the z-scored axis, as eval's MSE and MAE), for forecasts at the nq
 * ascending levels (nq 0: intervals only, ntg__pmetrics_add_interval). */
ntg_status ntg__pmetrics_create(size_t n_cols, const double *std, size_t nq, const double *levels,
                                ntg_pmetrics **out, ntg_error *err);
void ntg__pmetrics_free(ntg_pmetrics *m);

/* n points of column j: truths y[k], quantiles q[l * stride + k] for level l (original
 * units).  The central interval [lowest level, highest level] counts for the coverage, the
 * pinball loss averages over the levels.  dist: 0 (the CRPS is 2 x the mean pinball loss,
 * the quantile approximation), 2 (Normal: closed form from mu[k], sigma[k]) or 3 (Student-t:
 * closed form with df[k] too). */
void ntg__pmetrics_add(ntg_pmetrics *m, size_t j, const double *y, size_t n, const double *q,
                       size_t stride, int dist, const double *mu, const double *sigma,
                       const double *df);

/* Coverage of intervals [lo[k], hi[k]] of nominal level `level` for truths y[k] (conformal
 * intervals: coverage only). */
void ntg__pmetrics_add_interval(ntg_pmetrics *m, size_t j, const double *y, size_t n,
                                const double *lo, const double *hi, double level);

typedef struct ntg_pmetric_values {
    double coverage; /* fraction of truths inside the interval, NaN when none was scored */
    double nominal;  /* the interval's nominal level (highest - lowest quantile level) */
    double pinball;  /* mean pinball loss over levels and points, z-scored axis; NaN: none */
    double crps;     /* mean CRPS, z-scored axis; NaN: none */
    uint64_t n;
} ntg_pmetric_values;

/* Column j (j == n_cols: all pooled). */
void ntg__pmetrics_values(const ntg_pmetrics *m, size_t j, ntg_pmetric_values *out);

/* CRPS of the Student-t (loc mu, scale sigma, df > 1) at y, closed form (Jordan, Krueger &
 * Lerch 2019, scoringRules' crps_t). */
double ntg__crps_studentt(double mu, double sigma, double df, double y);

#endif /* NTG_METRICS_PROB_H */
