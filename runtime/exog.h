/* exog.h — covariates: historic, future-known (with calendar features) and static inputs. */
#ifndef NTG_EXOG_H
#define NTG_EXOG_H

#include <stddef.h>
#include <stdint.h>

#include "csv.h"
#include "ntgraph.h"
#include "pool.h"
#include "series.h"

/*
 * A forecasting plan may take, besides x [batch, L], the covariates NeuralForecast names
 * hist_exog_list, futr_exog_list and stat_exog_list (docs/data.md, "Covariates"):
 *
 *   hist_exog [batch, n_hist, L]      rows [s - L, s) of each historic covariate
 *   futr_exog [batch, n_futr, L + h]  rows [s - L, s + h) of each future-known covariate
 *   stat_exog [batch, n_stat]         the static attributes of the window's column
 *
 * for a window with target start s.  A historic covariate never shows a row at or after
 * the forecast origin s.  Each dynamic covariate is a CSV column, or a calendar feature
 * computed from the date column ("calendar:hour_of_day"), normalized per feature with
 * statistics of the train rows.
 */

/* Per-feature normalization: v' = (f(v) - loc) / scale, f = ln for LOG, else identity. */
typedef enum ntg_xnorm {
    NTG_XNORM_NONE = 0,   /* loc 0, scale 1 */
    NTG_XNORM_ZSCORE = 1, /* mean, population std (0 -> 1) */
    NTG_XNORM_MINMAX = 2, /* min, max - min (0 -> 1) */
    NTG_XNORM_ROBUST = 3, /* median (lower middle), interquartile range (0 -> 1) */
    NTG_XNORM_LOG = 4     /* ln(v) (v > 0), then the z-score of the logged values */
} ntg_xnorm;

/* Calendar features: NeuralForecast's time features (utils.py, from GluonTS), each in
 * [-0.5, 0.5]. */
typedef enum ntg_calendar {
    NTG_CAL_SECOND_OF_MINUTE = 0, /* second / 59 - 0.5 */
    NTG_CAL_MINUTE_OF_HOUR,       /* minute / 59 - 0.5 */
    NTG_CAL_HOUR_OF_DAY,          /* hour / 23 - 0.5 */
    NTG_CAL_DAY_OF_WEEK,          /* weekday (Monday 0) / 6 - 0.5 */
    NTG_CAL_DAY_OF_MONTH,         /* (day - 1) / 30 - 0.5 */
    NTG_CAL_DAY_OF_YEAR,          /* (day of year - 1) / 365 - 0.5 */
    NTG_CAL_MONTH_OF_YEAR,        /* (month - 1) / 11 - 0.5 */
    NTG_CAL_WEEK_OF_YEAR,         /* (ISO week - 1) / 52 - 0.5 */
    NTG_CAL_COUNT
} ntg_calendar;

const char *ntg__calendar_name(ntg_calendar c);
/* -1 when unknown. */
int ntg__calendar_find(const char *name);
/* Feature c of the time stamp `epoch` (seconds since 1970, as dates.h parses them). */
double ntg__calendar_value(ntg_calendar c, int64_t epoch);

const char *ntg__xnorm_name(ntg_xnorm n);
ntg_status ntg__xnorm_parse(const char *name, ntg_xnorm *out, ntg_error *err);

/* One dynamic covariate. */
typedef struct ntg_xfeat {
    const char *name; /* the column, or the calendar feature's name */
    int cal;          /* ntg_calendar, or -1 for a column */
    ntg_xnorm norm;
    double loc, scale; /* fitted (calendar: 0, 1) */
    int col;           /* the bound series column (-1: calendar or unbound) */
} ntg_xfeat;

typedef struct ntg_exog {
    size_t n_hist, n_futr, n_stat;
    ntg_xfeat *hist, *futr;
    const char **stat_names; /* n_stat */
    /* static values: n_stat_rows rows, each the attributes of series column stat_ids[i]
     * ("*": every column) */
    size_t n_stat_rows;
    const char **stat_ids;
    double *stat; /* [n_stat_rows][n_stat] */
    /* "columns:A,B": the table is still to be read from the data's long-format columns A, B
     * (constant within each series) when the covariates are bound to it */
    int stat_cols;
    /* rows after the series' end (forecasting): ext[k * n_ext + r] for futr feature k,
     * ext_epoch[r] their time stamps (INT64_MIN when unknown) */
    size_t n_ext;
    double *ext;
    int64_t *ext_epoch;
    /* long-format data: ext and ext_epoch per series column c, ext[(c * n_futr + k) * n_ext
     * + r] and ext_epoch[c * n_ext + r] */
    int ext_per_series;
    ntg_pool *pool; /* owns everything, the struct included */
} ntg_exog;

/*
 * Parse the specs (each NULL or "" for none):
 *   hist, futr  comma-separated items "COLUMN", "COLUMN:NORM" (NORM: zscore (default),
 *               minmax, robust, log, none) or, in futr only, "calendar:FEATURE"
 *   stat        "K=V,K=V" (the same attributes for every column), the path of a CSV file
 *               whose first column names the series column (unique_id) and whose other
 *               columns are the attributes, one row per series column, or "columns:A,B":
 *               columns of long-format data, constant within each series (read by
 *               ntg__exog_bind)
 * Errors: NTG_ERR_INVALID_ARG naming the item and what is wrong (an unknown calendar
 * feature or normalization, a name given twice, a calendar feature in hist), the CSV
 * reader's errors for a static file, NTG_ERR_NOMEM.  *out is NULL when all three are
 * empty. */
ntg_status ntg__exog_parse(const char *hist, const char *futr, const char *stat, ntg_exog **out,
                           ntg_error *err);
void ntg__exog_free(ntg_exog *ex);

/* Bind the covariate columns to series s (NTG_ERR_NOT_FOUND naming a missing column;
 * NTG_ERR_DATA when a calendar feature needs dates s does not have) and, when fit,
 * fit each feature's normalization on rows [0, train_rows).  A LOG feature with a
 * value <= 0 in the rows [0, rows_used) is NTG_ERR_DATA naming the column and row. */
ntg_status ntg__exog_bind(ntg_exog *ex, const ntg_series *s, int fit, size_t train_rows,
                          ntg_error *err);

/* The raw value v of feature f once normalized (a calendar value is returned as it is). */
double ntg__exog_norm(const ntg_xfeat *f, double raw);

/* The value feature f takes at row r of s once normalized (a wide file's, or series column
 * 0's). */
double ntg__exog_value(const ntg_xfeat *f, const ntg_series *s, size_t r);
/* The same for series column c: a long-format file's covariate columns and a ragged panel's
 * dates are per series (csv.h). */
double ntg__exog_value_at(const ntg_xfeat *f, const ntg_series *s, size_t c, size_t r);

/* Static attributes of the window column named `name`: a pointer to n_stat values, or
 * NULL (NTG_ERR_NOT_FOUND in err naming the column) when the static table has none. */
const double *ntg__exog_static(const ntg_exog *ex, const char *name, ntg_error *err);

/* Future rows for forecasting past the end of s: n rows of the futr columns from `fut` and
 * the calendar features from the dates that continue s's dates by its step.  The future
 * file takes the data's layout: wide data, a wide `fut` whose first n rows continue s (its
 * columns found by name, its dates not read); long data (s->is_long), a long `fut` keyed by
 * id and date: for each series column cols[j], the rows of the same id from the first date
 * after that series' end (each series' own end on a ragged panel).  fut may be NULL when
 * every future feature is a calendar one.  Errors: NTG_ERR_DATA naming a futr column `fut`
 * lacks, a layout that differs from the data's, a series or date missing from it, or a row
 * count below n ("future covariates: column 'X' has 3 rows, the horizon needs 24"). */
ntg_status ntg__exog_future(ntg_exog *ex, const ntg_series *s, const ntg_series *fut,
                            const int *cols, size_t nc, size_t n, ntg_error *err);

/* Fill n windows idx[0..n) of w (w->cols index s's columns): hist [n][n_hist][L],
 * futr [n][n_futr][L + h], stat [n][n_stat] (each may be NULL when its count is 0).
 * Rows at or after s->n_rows come from the future rows (ntg__exog_future); a row beyond
 * them is NTG_ERR_DATA naming the feature and the row. */
ntg_status ntg__exog_fill(const ntg_exog *ex, const ntg_series *s, const ntg_windows *w,
                          const uint64_t *idx, size_t n, float *hist, float *futr, float *stat,
                          ntg_error *err);

/* Plan metadata: "exog.hist", "exog.futr" (items "NAME|CAL|NORM|LOC|SCALE" joined by ';',
 * CAL the calendar feature or '-'), "exog.static" ("ID=v1 v2 ...;..." with the attribute
 * names in "exog.static_names", comma-separated).  Numbers round-trip exactly. */
#define NTG_EXOG_META_KEYS 4
ntg_status ntg__exog_to_meta(const ntg_exog *ex, ntg_pool *pool,
                             const char *keys[NTG_EXOG_META_KEYS],
                             const char *vals[NTG_EXOG_META_KEYS], ntg_error *err);
/* Rebuild from a plan's metadata; *out NULL when the plan has no covariates.
 * NTG_ERR_DATA naming a key whose value does not parse. */
ntg_status ntg__exog_from_plan(const struct ntg_plan *p, ntg_exog **out, ntg_error *err);
/* The same from the values of the NTG_EXOG_META_KEYS keys, in ntg__exog_to_meta's order
 * (each may be NULL). */
ntg_status ntg__exog_from_meta(const char *const vals[NTG_EXOG_META_KEYS], ntg_exog **out,
                               ntg_error *err);

/* ------------------------------------------------ feeding a plan (model_io.h) */

struct ntg_model_io;
struct ntg_session;

/* Whether the covariates ex (NULL: none) match the plan's covariate inputs: each input the
 * plan declares needs as many features, and each kind of covariate given needs its input.
 * NTG_ERR_INVALID_ARG naming the input, its feature count and the option that gives them. */
ntg_status ntg__exog_check_io(const ntg_exog *ex, const struct ntg_model_io *io, ntg_error *err);

/* Floats of one window's covariates (hist, futr and stat together). */
size_t ntg__exog_per_window(const struct ntg_model_io *io);

/* Fill n windows' covariates (ntg__exog_fill) into buf (n * ntg__exog_per_window floats)
 * and set the plan's covariate inputs of session s.  A no-op when the plan takes none. */
ntg_status ntg__exog_feed(const ntg_exog *ex, const struct ntg_model_io *io, struct ntg_session *s,
                          const ntg_series *d, const ntg_windows *w, const uint64_t *idx, size_t n,
                          float *buf, ntg_error *err);

#endif /* NTG_EXOG_H */
