/* series.h — the series data pipeline: splits, windows, scalers, batches, metrics. */
#ifndef NTG_SERIES_H
#define NTG_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "csv.h"
#include "ntgraph.h"
#include "pool.h"

/*
 * Training, evaluation and forecasting all read a series (csv.h) the same way:
 *
 *   split by rows -> windows (column, start) -> global scaler -> per-window scaler
 *
 * and map model outputs back through the same two scalers.  The conventions are
 * those of the long-horizon benchmark literature (Informer, Autoformer, N-HiTS,
 * PatchTST: see data/README.md and docs/data.md) and of NeuralForecast's
 * TemporalNorm for the per-window scalers.  User-facing description: docs/data.md.
 */

/* "row R (DATE)" or "row R" for row r (0-based) of s: R is 1-based, counting the data
 * rows after the header, as errors about values name them. */
void ntg__series_row_str(const ntg_series *s, size_t r, char *buf, size_t cap);

/* ------------------------------------------------------------------ splits */

/* Rows of each split, in time order from row 0: train [0, train), val [train,
 * train + val), test [train + val, train + val + test).  Rows after the test
 * split are unused (ETTh1's protocol leaves its last 3020 rows out). */
typedef struct ntg_split {
    size_t train, val, test;
} ntg_split;

typedef enum ntg_split_part {
    NTG_SPLIT_TRAIN = 0,
    NTG_SPLIT_VAL = 1,
    NTG_SPLIT_TEST = 2
} ntg_split_part;

/* "train", "val", "test" ("?" for anything else). */
const char *ntg__split_name(ntg_split_part part);

/* Parse a split spec for a series of n_rows rows.  Three comma-separated parts,
 * spaces around them allowed:
 *   row counts  "8640,2880,2880"  (integers; sum <= n_rows)
 *   fractions   "0.7,0.1,0.2"     (every part written with a '.' or an exponent,
 *                                   each in [0, 1], sum <= 1)
 *   the rest    "rest,48,48"     (NeuralForecast's val_size and test_size: val and
 *                                   test are the last rows, train every row before; on a
 *                                   ragged panel (csv.h), the last rows of every series)
 * Fractions follow Autoformer's data loader: train = floor(n * f_train), test =
 * floor(n * f_test), and when the fractions sum to 1 (within 1e-9) val = n -
 * train - test, so no row is lost to rounding (n = 52696, "0.7,0.1,0.2" gives
 * 36887 / 5270 / 10539).  When they sum to less, val = floor(n * f_val) and the
 * rows after the test split are unused.
 * Errors: NTG_ERR_INVALID_ARG naming the spec and what is wrong. */
ntg_status ntg__split_parse(const char *spec, size_t n_rows, ntg_split *out, ntg_error *err);

/* Rows [*b0, *b1) of one part. */
void ntg__split_bounds(const ntg_split *sp, ntg_split_part part, size_t *b0, size_t *b1);

/* ----------------------------------------------------------------- windows */

/*
 * A window is (column, target start s): input rows [s - L, s), target rows
 * [s, s + h).  Windows are channel-independent (one column each) with stride 1.
 *
 *   train: inputs and targets inside the train rows: L <= s <= train - h.
 *   val, test: the target starts inside the split, [b0, b1 - h], and the input
 *     may look back into the earlier rows (the protocol: the first test
 *     window's input ends where the val split ends); s >= L still holds.
 *
 * Windows are numbered column-major: window k has column cols[k / n_starts] and
 * start first_start + k % n_starts, so all starts of the first column come
 * first.  `cols` is borrowed (it must outlive the ntg_windows).
 */
typedef struct ntg_windows {
    size_t first_start; /* target start of the first window of each column */
    size_t n_starts;    /* starts per column */
    size_t n_cols;
    size_t L, h;     /* input size, horizon */
    const int *cols; /* series column of each window column (borrowed) */
    /* A ragged panel (ntg__windows_panel): the first row of each series column
     * (borrowed from the series), else NULL.  Column j's windows then start at
     * max(first_start, first[cols[j]] + L), so no window reaches before its series;
     * a series with no such start has no window.  total: their count. */
    const size_t *first;
    uint64_t total;
} ntg_windows;

/* Windows of one part of a split.  Errors: NTG_ERR_INVALID_ARG (L or h 0, no
 * columns, a negative column), NTG_ERR_DATA when the part has no window,
 * naming the part and its sizes ("val split: no window fits: ..."). */
ntg_status ntg__windows_make(const ntg_split *sp, ntg_split_part part, size_t L, size_t h,
                             const int *cols, size_t n_cols, ntg_windows *out, ntg_error *err);

/* The one window per column that forecasts past the end of a series of n_rows
 * rows: input rows [n_rows - L, n_rows), start n_rows; its targets do not exist
 * (pass t = NULL to ntg__windows_fill).  NTG_ERR_DATA when n_rows < L. */
ntg_status ntg__windows_forecast(size_t n_rows, size_t L, size_t h, const int *cols, size_t n_cols,
                                 ntg_windows *out, ntg_error *err);

/* Restrict windows w to the rows each series of s holds (a no-op unless s is a ragged
 * panel).  *n_skipped (may be NULL) receives how many columns lost every window (a
 * series shorter than input_size + h in that part).  NTG_ERR_DATA when no window is
 * left, naming the part's rows and the longest series. */
ntg_status ntg__windows_panel(ntg_windows *w, const ntg_series *s, size_t *n_skipped,
                              ntg_error *err);

/* Window column j's first target start and its number of starts (0: none). */
void ntg__windows_col(const ntg_windows *w, size_t j, size_t *first, size_t *n);

/* n_starts * n_cols (ragged panels: the sum over the columns). */
uint64_t ntg__windows_count(const ntg_windows *w);

/* Window k (< count): its position j in w->cols, and its target start. */
void ntg__windows_at(const ntg_windows *w, uint64_t k, size_t *j, size_t *start);

/* Draw n window indices uniformly with replacement for training step `step`:
 * idx[i] = ntg__rng_below(seed ^ FNV-1a("ntg.windows_sample"), step, i, count).
 * Stateless: the indices depend only on (seed, step, i), so a run resumed from a
 * checkpoint at step k draws exactly what an uninterrupted run draws from step k
 * on, whatever the thread count.  The seed is salted so that window sampling and
 * other draws under the model seed (initialisation, dropout) stay independent. */
void ntg__windows_sample(const ntg_windows *w, uint64_t seed, uint64_t step, size_t n,
                         uint64_t *idx);

/* ----------------------------------------------------------------- scalers */

/* The global scaler, fitted on the train rows of each column. */
typedef enum ntg_scaler_kind {
    NTG_SCALER_NONE = 0,   /* mean 0, std 1 */
    NTG_SCALER_ZSCORE = 1, /* mean and population std of the train rows (the protocol) */
    NTG_SCALER_LOG = 2     /* z-score of ln(x) (x > 0); inverted by exp (exog.h's log) */
} ntg_scaler_kind;

/* The per-window scalers of NeuralForecast's TemporalNorm (scaler_type). */
typedef enum ntg_window_scaler {
    NTG_WSCALER_IDENTITY = 0, /* loc 0, scale 1 */
    NTG_WSCALER_STANDARD = 1, /* mean, population std + eps */
    NTG_WSCALER_ROBUST = 2,   /* (lower) median, MAD + eps */
    NTG_WSCALER_MINMAX = 3    /* min, (max - min) + eps */
} ntg_window_scaler;

/* NeuralForecast's TemporalNorm eps: added to every non-identity scale. */
#define NTG_WSCALER_EPS 1e-6

/* A fitted global scaler: column j is the series column named names[j]; the
 * scaled value of x is (x - mean[j]) / std[j]. */
typedef struct ntg_scaler {
    ntg_scaler_kind kind;
    size_t n_cols;
    const char **names;
    double *mean, *std; /* std > 0 and finite */
    ntg_pool *pool;     /* owns everything, the struct included */
} ntg_scaler;

/* "none", "zscore", "log" / "identity", "standard", "robust", "minmax" ("?" otherwise). */
const char *ntg__scaler_name(ntg_scaler_kind kind);
const char *ntg__window_scaler_name(ntg_window_scaler kind);
/* Parse those names.  NTG_ERR_INVALID_ARG naming the name and the choices. */
ntg_status ntg__scaler_parse(const char *name, ntg_scaler_kind *out, ntg_error *err);
ntg_status ntg__window_scaler_parse(const char *name, ntg_window_scaler *out, ntg_error *err);

/* Fit on rows [0, train_rows) of columns cols[0..n_cols) (cols NULL: every
 * column, n_cols ignored).  ZSCORE: per column the mean and the population std
 * (divisor n, as sklearn's StandardScaler that the protocol uses); a column
 * whose train values are all equal gets std 1.  Only the train rows are read.
 * Errors: NTG_ERR_INVALID_ARG (train_rows 0 or > n_rows, a bad column),
 * NTG_ERR_NOMEM. */
ntg_status ntg__scaler_fit(const ntg_series *s, ntg_scaler_kind kind, const int *cols,
                           size_t n_cols, size_t train_rows, ntg_scaler **out, ntg_error *err);
/* NULL is a no-op. */
void ntg__scaler_free(ntg_scaler *g);

/* Index of the column called `name`, or -1. */
int ntg__scaler_find(const ntg_scaler *g, const char *name);

/* Bind a fitted scaler to a series: for the names asked (names NULL: all the
 * scaler's columns, in its order) write the series column of each to cols[] and
 * return a scaler whose column j belongs to cols[j] — what ntg__windows_fill
 * expects.  Errors: NTG_ERR_NOT_FOUND naming a column missing from the scaler
 * or the series, NTG_ERR_NOMEM. */
ntg_status ntg__scaler_select(const ntg_scaler *g, const ntg_series *s, const char *const *names,
                              size_t n_names, int *cols, ntg_scaler **out, ntg_error *err);

/* Column j's scaled value of x, and back (g NULL: identity). */
double ntg__scaler_apply(const ntg_scaler *g, size_t j, double x);
double ntg__scaler_invert(const ntg_scaler *g, size_t j, double z);

/* Per-window statistics of the n input values x (NeuralForecast's
 * *_statistics in neuralforecast/common/_scalers.py, with eps = 1e-6 as
 * TemporalNorm's default); the window's values z = (v - loc) / scale, back
 * v = z * scale + loc.  ROBUST needs `work` (n doubles; may be NULL for the
 * other kinds).  n >= 1. */
void ntg__window_stats(ntg_window_scaler kind, const double *x, size_t n, double *work, double *loc,
                       double *scale);

/* The plan metadata that carries a fitted scaler and the per-window scaler
 * (docs/data.md lists the keys): n pairs keys[i] = vals[i], strings from
 * `pool`.  Numbers round-trip exactly (shortest of %.15g/%.16g/%.17g that
 * gives the same double back).  Errors: NTG_ERR_NOMEM. */
#define NTG_SCALER_META_KEYS 5
ntg_status ntg__scaler_to_meta(const ntg_scaler *g, ntg_window_scaler window, ntg_pool *pool,
                               const char *keys[NTG_SCALER_META_KEYS],
                               const char *vals[NTG_SCALER_META_KEYS], ntg_error *err);
/* Rebuild them from n metadata pairs (other keys are ignored).  Errors:
 * NTG_ERR_NOT_FOUND (a key is missing), NTG_ERR_DATA (a value that does not
 * parse or does not fit: naming the key), NTG_ERR_NOMEM. */
ntg_status ntg__scaler_from_meta(const char *const *keys, const char *const *vals, size_t n,
                                 ntg_scaler **out, ntg_window_scaler *window, ntg_error *err);

/* --------------------------------------------------------------- batches */

/* Whether the values windows of w read (inputs; targets too when with_targets) can
 * reach a model: every one, once the global scaler g has scaled it (g NULL: none),
 * finite and within float32's range (|z| <= FLT_MAX), since the models compute in
 * float32.  Train, eval and forecast check the rows they read before they run, so a huge
 * value (1e300) is refused by all three rather than turned into inf/nan results.
 * Errors: NTG_ERR_DATA naming the column, the row (and its date), the value and what the
 * scaler made of it; NTG_ERR_SHAPE (g's column count differs from w's). */
ntg_status ntg__windows_check(const ntg_series *s, const ntg_scaler *g, const ntg_windows *w,
                              int with_targets, ntg_error *err);

/* Assemble n windows idx[0..n) (each < count) for a model: for window i,
 * every value is first scaled by the global scaler g (column j of g belongs to
 * w->cols[j]; g NULL: none), then the per-window scaler's statistics are taken
 * from the L input values only and applied to input and target (as
 * NeuralForecast masks the horizon out of TemporalNorm's statistics):
 *   x[i*L + r] = (g(v[s - L + r]) - loc[i]) / scale[i]   r < L
 *   t[i*h + r] = (g(v[s + r])     - loc[i]) / scale[i]   r < h   (t may be NULL)
 * loc and scale (n each) are kept for ntg__windows_invert.  Arithmetic in
 * double, stored as float.  Errors: NTG_ERR_RANGE (an index >= count, rows
 * outside the series, targets asked for a forecast window), NTG_ERR_SHAPE (g's
 * column count differs from w's), NTG_ERR_DATA (a value the scalers take beyond
 * float32's range, naming the column and the window's rows), NTG_ERR_NOMEM. */
ntg_status ntg__windows_fill(const ntg_series *s, const ntg_scaler *g,
                             ntg_window_scaler window_scaler, const ntg_windows *w,
                             const uint64_t *idx, size_t n, float *x, float *t, float *loc,
                             float *scale, ntg_error *err);

/* Map model outputs back: for window i, each of its `per` values y[i*per + r]
 * (a horizon, or horizon x quantiles: all in the window's scale) becomes
 *   z = y * scale[i] + loc[i]         the globally scaled value (out_z)
 *   o = g^-1(z) for column idx[i]     original units (out_orig)
 * Either output may be NULL. */
void ntg__windows_invert(const ntg_scaler *g, const ntg_windows *w, const uint64_t *idx, size_t n,
                         const float *loc, const float *scale, const float *y, size_t per,
                         double *out_z, double *out_orig);

/* ----------------------------------------------------------------- metrics */

/* Forecast accuracy over any number of (forecast, truth) pairs per column.
 * On the globally scaled axis (the protocol's numbers): mse, mae.  In original
 * units: mse_orig, mae_orig, mape (%, skipping |truth| < 1e-8, counted in
 * n_mape_skipped), smape (M4: 200 |y - f| / (|y| + |f|), 0/0 counts as 0),
 * mase (M4: MAE over the in-sample mean absolute seasonal difference
 * (1/(T-m)) sum_{t=m}^{T-1} |y_t - y_{t-m}| of the T train rows).
 * The overall values pool every pair of every column (the protocol: every
 * window, horizon step and column) except mase, which is the mean of the
 * columns' MASE as the M4 competition averages over series; a column whose
 * seasonal difference is 0 has mase NaN and is left out of that mean
 * (n_mase_cols says how many took part). */
typedef struct ntg_metric_values {
    double mse, mae;           /* globally scaled */
    double mse_orig, mae_orig; /* original units */
    double mape, smape, mase;  /* NaN when nothing was counted */
    uint64_t n;                /* pairs */
    uint64_t n_mape_skipped;   /* pairs left out of mape */
    size_t n_mase_cols;        /* overall: columns in the mase mean */
} ntg_metric_values;

typedef struct ntg_metrics ntg_metrics;

/* An accumulator for columns cols[0..n_cols) of s, scored with the global
 * scaler g (NULL: none; else g's column j belongs to cols[j]), MASE scale from
 * rows [0, train_rows) with seasonality m (>= 1; 1 is the naive forecast, 24
 * for hourly data with a daily cycle).  Errors: NTG_ERR_INVALID_ARG (m 0,
 * train_rows <= m or > n_rows, a bad column), NTG_ERR_SHAPE, NTG_ERR_NOMEM. */
ntg_status ntg__metrics_create(const ntg_series *s, const int *cols, size_t n_cols,
                               const ntg_scaler *g, size_t train_rows, size_t m, ntg_metrics **out,
                               ntg_error *err);
void ntg__metrics_free(ntg_metrics *m);

/* Add n pairs (forecast f[i], truth y[i], original units) to column j. */
void ntg__metrics_add(ntg_metrics *m, size_t j, const double *f, const double *y, size_t n);
/* Add the forecasts of n windows (f: n * w->h values in original units, as
 * ntg__windows_invert writes them), their truths read from the series.
 * w must use the accumulator's columns.  NTG_ERR_RANGE for a window whose
 * targets are outside the series. */
ntg_status ntg__metrics_add_windows(ntg_metrics *m, const ntg_windows *w, const uint64_t *idx,
                                    size_t n, const double *f, ntg_error *err);

/* Column j's values, and the overall ones. */
void ntg__metrics_column(const ntg_metrics *m, size_t j, ntg_metric_values *out);
void ntg__metrics_total(const ntg_metrics *m, ntg_metric_values *out);
/* The MASE denominator of column j. */
double ntg__metrics_mase_scale(const ntg_metrics *m, size_t j);

#endif /* NTG_SERIES_H */
