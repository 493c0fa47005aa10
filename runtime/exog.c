/* exog.c — covariates: parsing their specs, calendar features, per-feature normalization,
 * windowing, future rows and their plan metadata (docs/data.md, "Covariates"). */
#include "exog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dates.h"
#include "model_io.h"
#include "ntg_error.h"
#include "ops.h"
#include "plan_int.h"
#include "session_int.h"

/* ------------------------------------------------------------------ calendar */

static const char *const cal_names[NTG_CAL_COUNT] = {
    "second_of_minute", "minute_of_hour", "hour_of_day",   "day_of_week",
    "day_of_month",     "day_of_year",    "month_of_year", "week_of_year"};

const char *ntg__calendar_name(ntg_calendar c)
{
    return (unsigned)c < NTG_CAL_COUNT ? cal_names[c] : "?";
}

int ntg__calendar_find(const char *name)
{
    for (int c = 0; c < NTG_CAL_COUNT; c++)
        if (strcmp(cal_names[c], name) == 0) return c;
    return -1;
}

/* Howard Hinnant's civil_from_days: days since 1970-01-01 to year, month (1-12), day. */
static void civil(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Day of the year, 1-based. */
static int day_of_year(int64_t y, int m, int d)
{
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    return before[m - 1] + d + (m > 2 && is_leap(y));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ISO 8601 weeks in year y: 53 when it starts on a Thursday, or a Wednesday in a leap
 * year. */
static int iso_weeks(int64_t y)
{
    int64_t p = (y + floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400)) % 7;
    int64_t q = ((y - 1) + floor_div(y - 1, 4) - floor_div(y - 1, 100) + floor_div(y - 1, 400)) % 7;
    if (p < 0) p += 7;
    if (q < 0) q += 7;
    return (p == 4 || q == 3) ? 53 : 52;
}

double ntg__calendar_value(ntg_calendar c, int64_t epoch)
{
    int64_t days = floor_div(epoch, 86400);
    int64_t sec = epoch - days * 86400;
    int64_t y;
    int m, d;
    civil(days, &y, &m, &d);
    int wd = (int)((days % 7 + 7 + 3) % 7); /* 1970-01-01 was a Thursday; Monday 0 */
    switch (c) {
    case NTG_CAL_SECOND_OF_MINUTE:
        return (double)(sec % 60) / 59.0 - 0.5;
    case NTG_CAL_MINUTE_OF_HOUR:
        return (double)(sec / 60 % 60) / 59.0 - 0.5;
    case NTG_CAL_HOUR_OF_DAY:
        return (double)(sec / 3600) / 23.0 - 0.5;
    case NTG_CAL_DAY_OF_WEEK:
        return (double)wd / 6.0 - 0.5;
    case NTG_CAL_DAY_OF_MONTH:
        return (double)(d - 1) / 30.0 - 0.5;
    case NTG_CAL_DAY_OF_YEAR:
        return (double)(day_of_year(y, m, d) - 1) / 365.0 - 0.5;
    case NTG_CAL_MONTH_OF_YEAR:
        return (double)(m - 1) / 11.0 - 0.5;
    case NTG_CAL_WEEK_OF_YEAR: {
        int week = (day_of_year(y, m, d) - (wd + 1) + 10) / 7;
        if (week < 1)
            week = iso_weeks(y - 1);
        else if (week > iso_weeks(y))
            week = 1;
        return (double)(week - 1) / 52.0 - 0.5;
    }
    default:
        return 0;
    }
}

/* ------------------------------------------------------------- normalization */

static const char *const norm_names[] = {"none", "zscore", "minmax", "robust", "log"};

const char *ntg__xnorm_name(ntg_xnorm n)
{
    return (unsigned)n < sizeof norm_names / sizeof norm_names[0] ? norm_names[n] : "?";
}

ntg_status ntg__xnorm_parse(const char *name, ntg_xnorm *out, ntg_error *err)
{
    for (size_t i = 0; i < sizeof norm_names / sizeof norm_names[0]; i++)
        if (strcmp(norm_names[i], name) == 0) {
            *out = (ntg_xnorm)i;
            return NTG_OK;
        }
    return ntg__fail(err, NTG_ERR_INVALID_ARG,
                     "unknown normalization '%s' (zscore, minmax, robust, log, none)", name);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile q of sorted v[0..n) by linear interpolation (numpy's default). */
static double quantile(const double *v, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return v[n - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

/* Fit f's loc and scale on v[0..n) (already logged for LOG); v is reordered. */
static void norm_fit(ntg_xfeat *f, double *v, size_t n)
{
    double loc = 0, scale = 1;
    if (f->norm == NTG_XNORM_ZSCORE || f->norm == NTG_XNORM_LOG) {
        double s = 0, ss = 0;
        for (size_t i = 0; i < n; i++) s += v[i];
        loc = s / (double)n;
        for (size_t i = 0; i < n; i++) ss += (v[i] - loc) * (v[i] - loc);
        scale = sqrt(ss / (double)n);
    } else if (f->norm == NTG_XNORM_MINMAX) {
        double lo = v[0], hi = v[0];
        for (size_t i = 1; i < n; i++) {
            if (v[i] < lo) lo = v[i];
            if (v[i] > hi) hi = v[i];
        }
        loc = lo;
        scale = hi - lo;
    } else if (f->norm == NTG_XNORM_ROBUST) {
        qsort(v, n, sizeof *v, cmp_double);
        /* the lower middle value, as the per-window robust scaler takes the median */
        loc = v[(n - 1) / 2];
        scale = quantile(v, n, 0.75) - quantile(v, n, 0.25);
    }
    if (!(scale > 0) || !isfinite(scale)) scale = 1;
    f->loc = loc;
    f->scale = scale;
}

/* Feature f at row r of series column c of s: a wide file's column is shared by every
 * series column; a long file's covariate column and a ragged panel's dates are per series. */
static double raw_value(const ntg_xfeat *f, const ntg_series *s, size_t c, size_t r)
{
    if (f->cal >= 0)
        return ntg__calendar_value((ntg_calendar)f->cal,
                                   s->first ? s->col_epoch[c * s->n_rows + r] : s->epoch[r]);
    if (s->is_long) return s->xvals[((size_t)f->col * s->n_cols + c) * s->n_rows + r];
    return s->values[(size_t)f->col * s->n_rows + r];
}

static double norm_apply(const ntg_xfeat *f, double v)
{
    if (f->norm == NTG_XNORM_LOG) v = log(v);
    return (v - f->loc) / f->scale;
}

double ntg__exog_norm(const ntg_xfeat *f, double raw)
{
    return norm_apply(f, raw);
}

double ntg__exog_value(const ntg_xfeat *f, const ntg_series *s, size_t r)
{
    return norm_apply(f, raw_value(f, s, 0, r));
}

double ntg__exog_value_at(const ntg_xfeat *f, const ntg_series *s, size_t c, size_t r)
{
    return norm_apply(f, raw_value(f, s, c, r));
}

/* -------------------------------------------------------------------- specs */

static ntg_status parse_items(ntg_pool *pool, const char *spec, int futr, ntg_xfeat **out,
                              size_t *n, ntg_error *err)
{
    const char *what = futr ? "future covariates" : "historic covariates";
    *out = NULL;
    *n = 0;
    if (!spec || !spec[0]) return NTG_OK;
    size_t cap = 1;
    for (const char *c = spec; *c; c++) cap += *c == ',';
    ntg_xfeat *f = ntg__pool_array(pool, cap, sizeof *f);
    if (!f) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    const char *p = spec;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *item = ntg__pool_strndup(pool, p, len);
        if (!item) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        if (!item[0])
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s '%.200s': an empty name", what, spec);
        ntg_xfeat *x = &f[*n];
        memset(x, 0, sizeof *x);
        x->cal = -1;
        x->col = -1;
        x->norm = NTG_XNORM_ZSCORE;
        x->scale = 1;
        char *colon = strrchr(item, ':');
        if (strncmp(item, "calendar:", 9) == 0) {
            if (!futr)
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "%s '%.200s': '%s' is known for the horizon too: give it as a "
                                 "future covariate (--futr-exog)",
                                 what, spec, item);
            x->cal = ntg__calendar_find(item + 9);
            if (x->cal < 0) {
                char list[256];
                size_t at = 0;
                for (int c = 0; c < NTG_CAL_COUNT; c++)
                    at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", c ? ", " : "",
                                           cal_names[c]);
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "%s '%.200s': unknown calendar feature '%s' (%s)", what, spec,
                                 item + 9, list);
            }
            x->name = cal_names[x->cal];
            x->norm = NTG_XNORM_NONE; /* already in [-0.5, 0.5], as NeuralForecast's */
        } else {
            if (colon) {
                *colon = '\0';
                ntg_status st = ntg__xnorm_parse(colon + 1, &x->norm, err);
                if (st) {
                    ntg__err_prefix(err, "%s '%.200s': column '%s': ", what, spec, item);
                    return st;
                }
            }
            if (!item[0])
                return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s '%.200s': an empty name", what,
                                 spec);
            x->name = item;
        }
        for (size_t k = 0; k < *n; k++)
            if (strcmp(f[k].name, x->name) == 0 && f[k].cal == x->cal)
                return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s '%.200s': '%s' is given twice", what,
                                 spec, x->name);
        (*n)++;
        if (!e) break;
        p = e + 1;
    }
    *out = f;
    return NTG_OK;
}

static ntg_status parse_number(const char *v, const char *what, double *out, ntg_error *err)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    while (*end == ' ') end++;
    if (errno || end == v || *end || !isfinite(x))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: '%s' is not a number", what, v);
    *out = x;
    return NTG_OK;
}

/* Long format: the covariate column `name` of s (-1: none). */
static int long_column(const ntg_series *s, const char *name)
{
    for (size_t x = 0; x < s->n_x; x++)
        if (strcmp(s->xnames[x], name) == 0) return (int)x;
    return -1;
}

/* "columns:A,B": attributes from long-format columns constant within each series, the
 * table filled when the covariates are bound to the training data (stat_cols). */
static ntg_status parse_static_cols(ntg_exog *ex, const char *spec, ntg_error *err)
{
    const char *list = spec + 8;
    size_t cap = 2;
    for (const char *c = list; *c; c++) cap += *c == ',';
    ex->stat_names = ntg__pool_array(ex->pool, cap, sizeof *ex->stat_names);
    if (!ex->stat_names) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *item = ntg__pool_strndup(ex->pool, p, len);
        if (!item) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        if (!*item)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "static attributes '%.200s': an empty column name", spec);
        for (size_t k = 0; k < ex->n_stat; k++)
            if (strcmp(ex->stat_names[k], item) == 0)
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "static attributes '%.200s': '%s' is given twice", spec, item);
        ex->stat_names[ex->n_stat++] = item;
        if (!e) break;
        p = e + 1;
    }
    ex->stat_cols = 1;
    return NTG_OK;
}

/* The static table of stat_cols from the long-format data s: per series, the value of each
 * attribute column, which must not change within the series. */
static ntg_status static_from_columns(ntg_exog *ex, const ntg_series *s, ntg_error *err)
{
    if (!s->is_long)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "static attributes 'columns:%s...': columns constant within a series "
                         "need long-format data (unique_id, ds, y); for wide data give K=V or a "
                         "file with a row per column",
                         ex->stat_names[0]);
    size_t ns = s->n_cols, T = s->n_rows;
    ex->n_stat_rows = ns;
    ex->stat_ids = ntg__pool_array(ex->pool, ns + 1, sizeof *ex->stat_ids);
    ex->stat = ntg__pool_array(ex->pool, ns * ex->n_stat + 1, sizeof *ex->stat);
    if (!ex->stat_ids || !ex->stat) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < ex->n_stat; k++) {
        int x = long_column(s, ex->stat_names[k]);
        if (x < 0)
            return ntg__fail(err, NTG_ERR_NOT_FOUND,
                             "static attributes: the long-format file has no column '%s'",
                             ex->stat_names[k]);
        if (s->xerr[x])
            return ntg__err(err, NTG_ERR_DATA, s->xfile, s->xline[x], s->xcol[x],
                            "static attributes: %s", s->xerr[x]);
        for (size_t c = 0; c < ns; c++) {
            size_t f0 = ntg__series_first(s, c);
            const double *v = s->xvals + ((size_t)x * ns + c) * T;
            ex->stat_ids[c] = s->names[c];
            ex->stat[c * ex->n_stat + k] = f0 < T ? v[f0] : 0;
            for (size_t r = f0 + 1; r < T; r++)
                if (v[r] != v[f0]) {
                    ntg_series view;
                    char a[200], b[200];
                    ntg__series_column_view(s, c, &view);
                    ntg__series_row_str(&view, 0, a, sizeof a);
                    ntg__series_row_str(&view, r - f0, b, sizeof b);
                    return ntg__fail(err, NTG_ERR_DATA,
                                     "static attributes: column '%s' changes within series '%s' "
                                     "(%.17g at its %s, %.17g at its %s): a static attribute "
                                     "has one value per series",
                                     ex->stat_names[k], s->names[c], v[f0], a, v[r], b);
                }
        }
    }
    ex->stat_cols = 0; /* a table now, kept in the plan */
    return NTG_OK;
}

/* "K=V,K=V": one row for every column ("*"). */
static ntg_status parse_static_kv(ntg_exog *ex, const char *spec, ntg_error *err)
{
    size_t cap = 1;
    for (const char *c = spec; *c; c++) cap += *c == ',';
    ex->stat_names = ntg__pool_array(ex->pool, cap, sizeof *ex->stat_names);
    ex->stat = ntg__pool_array(ex->pool, cap, sizeof *ex->stat);
    ex->stat_ids = ntg__pool_array(ex->pool, 1, sizeof *ex->stat_ids);
    if (!ex->stat_names || !ex->stat || !ex->stat_ids)
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ex->stat_ids[0] = "*";
    ex->n_stat_rows = 1;
    const char *p = spec;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *item = ntg__pool_strndup(ex->pool, p, len);
        if (!item) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        char *eq = strchr(item, '=');
        if (!eq || eq == item)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "static attributes '%.200s': '%s' is not NAME=VALUE", spec, item);
        *eq = '\0';
        for (size_t k = 0; k < ex->n_stat; k++)
            if (strcmp(ex->stat_names[k], item) == 0)
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "static attributes '%.200s': '%s' is given twice", spec, item);
        char what[300];
        ntg__strfmt(what, sizeof what, "static attribute '%s'", item);
        ntg_status st = parse_number(eq + 1, what, &ex->stat[ex->n_stat], err);
        if (st) return st;
        ex->stat_names[ex->n_stat++] = item;
        if (!e) break;
        p = e + 1;
    }
    return NTG_OK;
}

/* A CSV file: first column the series column's name, the others the attributes. */
static ntg_status parse_static_file(ntg_exog *ex, const char *path, ntg_error *err)
{
    ntg_csv_options o;
    ntg__csv_options_init(&o);
    o.format = 1;
    o.dates = "loose";
    ntg_series *t = NULL;
    ntg_status st = ntg__csv_read(path, &o, &t, err);
    if (st) return st;
    /* ids that read as numbers make the first column a value column: use it as the ids */
    size_t first = t->dates ? 0 : 1;
    if (t->n_cols < first + 1 || t->n_rows == 0) {
        ntg__series_free(t);
        return ntg__fail(err, NTG_ERR_DATA,
                         "%s: a static file needs a column naming the series and at least one "
                         "attribute column, and a row per series",
                         path);
    }
    ex->n_stat = t->n_cols - first;
    ex->n_stat_rows = t->n_rows;
    ex->stat_names = ntg__pool_array(ex->pool, ex->n_stat, sizeof *ex->stat_names);
    ex->stat_ids = ntg__pool_array(ex->pool, t->n_rows, sizeof *ex->stat_ids);
    ex->stat = ntg__pool_array(ex->pool, t->n_rows * ex->n_stat, sizeof *ex->stat);
    if (!ex->stat_names || !ex->stat_ids || !ex->stat) st = NTG_ERR_NOMEM;
    for (size_t k = 0; !st && k < ex->n_stat; k++)
        if (!(ex->stat_names[k] = ntg__pool_strdup(ex->pool, t->names[first + k])))
            st = NTG_ERR_NOMEM;
    for (size_t r = 0; !st && r < t->n_rows; r++) {
        const char *id = t->dates ? t->dates[r] : ntg__pool_fmt(ex->pool, "%.17g", t->values[r]);
        if (!id || !(ex->stat_ids[r] = ntg__pool_strdup(ex->pool, id))) {
            st = NTG_ERR_NOMEM;
            break;
        }
        for (size_t q = 0; q < r; q++)
            if (strcmp(ex->stat_ids[q], ex->stat_ids[r]) == 0) {
                st = ntg__fail(err, NTG_ERR_DATA,
                               "%s: series '%s' is listed twice (rows %zu "
                               "and %zu)",
                               path, ex->stat_ids[r], q + 1, r + 1);
                break;
            }
        for (size_t k = 0; !st && k < ex->n_stat; k++)
            ex->stat[r * ex->n_stat + k] = t->values[(first + k) * t->n_rows + r];
    }
    ntg__series_free(t);
    if (st == NTG_ERR_NOMEM) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return st;
}

void ntg__exog_free(ntg_exog *ex)
{
    if (ex) ntg__pool_destroy(ex->pool);
}

static ntg_exog *exog_new(void)
{
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return NULL;
    ntg_exog *ex = ntg__pool_alloc(pool, sizeof *ex);
    if (!ex) {
        ntg__pool_destroy(pool);
        return NULL;
    }
    memset(ex, 0, sizeof *ex);
    ex->pool = pool;
    return ex;
}

ntg_status ntg__exog_parse(const char *hist, const char *futr, const char *stat, ntg_exog **out,
                           ntg_error *err)
{
    *out = NULL;
    if ((!hist || !hist[0]) && (!futr || !futr[0]) && (!stat || !stat[0])) return NTG_OK;
    ntg_exog *ex = exog_new();
    if (!ex) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_status st = parse_items(ex->pool, hist, 0, &ex->hist, &ex->n_hist, err);
    if (!st) st = parse_items(ex->pool, futr, 1, &ex->futr, &ex->n_futr, err);
    if (!st && stat && stat[0])
        st = strncmp(stat, "columns:", 8) == 0 ? parse_static_cols(ex, stat, err)
             : strchr(stat, '=')               ? parse_static_kv(ex, stat, err)
                                               : parse_static_file(ex, stat, err);
    if (st) {
        ntg__exog_free(ex);
        return st;
    }
    *out = ex;
    return NTG_OK;
}

/* -------------------------------------------------------------------- binding */

static ntg_status bind_one(ntg_xfeat *f, const char *what, const ntg_series *s, int fit,
                           size_t train_rows, double *work, ntg_error *err)
{
    /* a ragged panel's series each have their own rows and dates */
    size_t ncs = s->is_long ? s->n_cols : 1;
    if (f->cal >= 0) {
        if (s->first && s->ds_int)
            return ntg__fail(err, NTG_ERR_DATA,
                             "%s: calendar feature '%s' needs time stamps, and the panel's ds "
                             "are integers",
                             what, f->name);
        if (!s->epoch && !s->first)
            return ntg__fail(err, NTG_ERR_DATA,
                             "%s: calendar feature '%s' needs a date column, and the data has "
                             "none",
                             what, f->name);
        for (size_t r = 0; !s->first && r < s->n_rows; r++)
            if (s->epoch[r] == INT64_MIN) {
                char row[200];
                ntg__series_row_str(s, r, row, sizeof row);
                return ntg__fail(err, NTG_ERR_DATA,
                                 "%s: calendar feature '%s': %s is not a time stamp", what, f->name,
                                 row);
            }
        f->col = -1;
        f->loc = 0;
        f->scale = 1;
        return NTG_OK;
    }
    int c;
    if (s->is_long) {
        c = long_column(s, f->name);
        if (c < 0)
            return ntg__fail(err, NTG_ERR_NOT_FOUND,
                             "%s: the long-format file has no column '%s' (a covariate is a "
                             "column beside the id, date and target columns, one value per "
                             "row)",
                             what, f->name);
        if (s->xerr[c])
            return ntg__err(err, NTG_ERR_DATA, s->xfile, s->xline[c], s->xcol[c], "%s: %s", what,
                            s->xerr[c]);
    } else if ((c = ntg__series_find(s, f->name)) < 0)
        return ntg__fail(err, NTG_ERR_NOT_FOUND, "%s: the series has no column '%s'", what,
                         f->name);
    f->col = c;
    size_t nw = 0;
    for (size_t j = 0; j < ncs; j++) {
        size_t f0 = s->is_long ? ntg__series_first(s, j) : 0;
        for (size_t r = f0; r < s->n_rows; r++) {
            double v = raw_value(f, s, j, r);
            if (f->norm == NTG_XNORM_LOG && !(v > 0)) {
                char row[200];
                ntg_series view;
                ntg__series_column_view(s, j, &view);
                ntg__series_row_str(&view, r - f0, row, sizeof row);
                return ntg__fail(err, NTG_ERR_DATA,
                                 "%s: column '%s'%s%s%s, %s: %g has no logarithm (normalization "
                                 "'log' needs values > 0)",
                                 what, f->name, s->is_long ? " (series '" : "",
                                 s->is_long ? s->names[j] : "", s->is_long ? "')" : "", row, v);
            }
            /* fitted on the train rows of every series (a long file's are pooled) */
            if (fit && r < train_rows) work[nw++] = f->norm == NTG_XNORM_LOG ? log(v) : v;
        }
    }
    if (!fit) return NTG_OK;
    if (!nw)
        return ntg__fail(err, NTG_ERR_DATA, "%s: column '%s' has no value in the train rows", what,
                         f->name);
    norm_fit(f, work, nw);
    return NTG_OK;
}

ntg_status ntg__exog_bind(ntg_exog *ex, const ntg_series *s, int fit, size_t train_rows,
                          ntg_error *err)
{
    if (fit && (train_rows == 0 || train_rows > s->n_rows))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "covariates: %zu train rows of %zu", train_rows,
                         s->n_rows);
    size_t ncs = s->is_long ? s->n_cols : 1;
    if (ex->stat_cols) {
        ntg_status sst = static_from_columns(ex, s, err);
        if (sst) return sst;
    }
    double *work = fit ? malloc((train_rows * ncs + 1) * sizeof *work) : NULL;
    if (fit && !work) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_status st = NTG_OK;
    for (size_t k = 0; !st && k < ex->n_hist; k++)
        st = bind_one(&ex->hist[k], "historic covariates", s, fit, train_rows, work, err);
    for (size_t k = 0; !st && k < ex->n_futr; k++)
        st = bind_one(&ex->futr[k], "future covariates", s, fit, train_rows, work, err);
    free(work);
    return st;
}

const double *ntg__exog_static(const ntg_exog *ex, const char *name, ntg_error *err)
{
    for (size_t r = 0; r < ex->n_stat_rows; r++)
        if (strcmp(ex->stat_ids[r], "*") == 0 || strcmp(ex->stat_ids[r], name) == 0)
            return ex->stat + r * ex->n_stat;
    ntg__fail(err, NTG_ERR_NOT_FOUND, "static attributes: no row for series column '%s'", name);
    return NULL;
}

/* ---------------------------------------------------------------- future rows */

/* Row r's date of series column c (NULL: none). */
static const char *date_of(const ntg_series *s, size_t c, size_t r)
{
    if (s->first) return s->col_dates[c * s->n_rows + r];
    return s->dates ? s->dates[r] : NULL;
}

/* Whether two ds cells are the same date (time stamps by their instant, integers by value). */
static int same_date(const char *a, const char *b, int ds_int)
{
    if (!a || !b) return 0;
    if (ds_int) return strtoll(a, NULL, 10) == strtoll(b, NULL, 10);
    int64_t x = ntg__date_epoch(a);
    return x != INT64_MIN && x == ntg__date_epoch(b);
}

/* Long format: the future rows of every series column cols[j] from the long future file
 * `fut`, keyed by id and date: series c's rows from the first date after its end. */
static ntg_status future_long(ntg_exog *ex, const ntg_series *s, const ntg_series *fut,
                              const int *cols, size_t nc, size_t n, ntg_error *err)
{
    size_t ns = s->n_cols;
    ex->ext_per_series = 1;
    ex->ext = ntg__pool_array(ex->pool, ns * ex->n_futr * n + 1, sizeof *ex->ext);
    ex->ext_epoch = ntg__pool_array(ex->pool, ns * n + 1, sizeof *ex->ext_epoch);
    if (!ex->ext || !ex->ext_epoch) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ns * n; i++) ex->ext_epoch[i] = INT64_MIN;
    int any_col = 0;
    for (size_t k = 0; k < ex->n_futr; k++) any_col |= ex->futr[k].cal < 0;
    for (size_t k = 0; !fut && k < ex->n_futr; k++)
        if (ex->futr[k].cal < 0)
            return ntg__fail(err, NTG_ERR_DATA,
                             "future covariates: column '%s' has no values for the horizon (give "
                             "them in a future file, --futr-data, in the data's long format: a "
                             "row per series and each of the %zu dates after its end)",
                             ex->futr[k].name, n);
    if (any_col && fut && !fut->is_long)
        return ntg__fail(err, NTG_ERR_DATA,
                         "future covariates: the data is in long format, so the future file must "
                         "be too: the id and date columns and the future covariates, one row per "
                         "series and date after the series' end");
    for (size_t j = 0; j < nc; j++) {
        size_t c = (size_t)cols[j];
        const char **d = s->first ? ntg__panel_next_dates(s, c, n, ex->pool)
                                  : ntg__series_next_dates(s, 1, n, ex->pool);
        if (!d)
            return ntg__fail(err, NTG_ERR_DATA,
                             "future covariates: series '%s': its dates do not continue (time "
                             "stamps or integer ds with a regular step are needed)",
                             s->names[c]);
        for (size_t r = 0; r < n && !s->ds_int; r++)
            ex->ext_epoch[c * n + r] = ntg__date_epoch(d[r]);
        int fc = fut && any_col ? ntg__series_find(fut, s->names[c]) : -1;
        size_t p0 = 0;
        if (any_col) {
            if (fc < 0)
                return ntg__fail(err, NTG_ERR_DATA,
                                 "future covariates: the future file has no rows for series '%s' "
                                 "(it needs the %zu dates after the series' end, from '%s')",
                                 s->names[c], n, d[0]);
            size_t f0 = ntg__series_first(fut, (size_t)fc);
            for (p0 = f0; p0 < fut->n_rows; p0++)
                if (same_date(date_of(fut, (size_t)fc, p0), d[0], s->ds_int)) break;
            if (p0 == fut->n_rows)
                return ntg__fail(err, NTG_ERR_DATA,
                                 "future covariates: series '%s' has no row for '%s' in the "
                                 "future file, the first date after the series' end (its rows "
                                 "there run from '%s' to '%s')",
                                 s->names[c], d[0], date_of(fut, (size_t)fc, f0),
                                 date_of(fut, (size_t)fc, fut->n_rows - 1));
            for (size_t r = 0; r < n; r++)
                if (p0 + r >= fut->n_rows ||
                    !same_date(date_of(fut, (size_t)fc, p0 + r), d[r], s->ds_int))
                    return ntg__fail(err, NTG_ERR_DATA,
                                     "future covariates: series '%s' has %zu rows from '%s' in the "
                                     "future file, the horizon needs %zu (no row for '%s')",
                                     s->names[c], r, d[0], n, d[r]);
        }
        for (size_t k = 0; k < ex->n_futr; k++) {
            const ntg_xfeat *f = &ex->futr[k];
            double *o = ex->ext + (c * ex->n_futr + k) * n;
            if (f->cal >= 0) {
                for (size_t r = 0; r < n; r++)
                    o[r] = ntg__calendar_value((ntg_calendar)f->cal, ex->ext_epoch[c * n + r]);
                continue;
            }
            int x = long_column(fut, f->name);
            if (x < 0)
                return ntg__fail(err, NTG_ERR_DATA,
                                 "future covariates: the future file has no column '%s' (give "
                                 "its values for the horizon of every series)",
                                 f->name);
            if (fut->xerr[x])
                return ntg__err(err, NTG_ERR_DATA, fut->xfile, fut->xline[x], fut->xcol[x],
                                "future covariates: %s", fut->xerr[x]);
            for (size_t r = 0; r < n; r++) {
                double v =
                    fut->xvals[((size_t)x * fut->n_cols + (size_t)fc) * fut->n_rows + p0 + r];
                if (f->norm == NTG_XNORM_LOG && !(v > 0))
                    return ntg__fail(err, NTG_ERR_DATA,
                                     "future covariates: column '%s' (series '%s'), '%s': %g has "
                                     "no logarithm (normalization 'log' needs values > 0)",
                                     f->name, s->names[c], d[r], v);
                o[r] = v;
            }
        }
    }
    return NTG_OK;
}

ntg_status ntg__exog_future(ntg_exog *ex, const ntg_series *s, const ntg_series *fut,
                            const int *cols, size_t nc, size_t n, ntg_error *err)
{
    ex->n_ext = n;
    if (s->is_long) return future_long(ex, s, fut, cols, nc, n, err);
    ex->ext_per_series = 0;
    int any_col = 0;
    for (size_t k = 0; k < ex->n_futr; k++) any_col |= ex->futr[k].cal < 0;
    if (any_col && fut && fut->is_long)
        return ntg__fail(err, NTG_ERR_DATA,
                         "future covariates: the data is wide (a column per series), so the "
                         "future file must be too: its first %zu rows are the %zu steps after "
                         "the data's last row, its columns named as the covariates",
                         n, n);
    ex->ext = ntg__pool_array(ex->pool, ex->n_futr * n + 1, sizeof *ex->ext);
    ex->ext_epoch = ntg__pool_array(ex->pool, n + 1, sizeof *ex->ext_epoch);
    if (!ex->ext || !ex->ext_epoch) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    int any_cal = 0;
    for (size_t k = 0; k < ex->n_futr; k++) any_cal |= ex->futr[k].cal >= 0;
    for (size_t r = 0; r < n; r++) ex->ext_epoch[r] = INT64_MIN;
    if (any_cal) {
        const char **d = ntg__series_next_dates(s, 1, n, ex->pool);
        if (!d)
            return ntg__fail(err, NTG_ERR_DATA,
                             "future covariates: the calendar features need the horizon's "
                             "dates, and the data's date column gives none (no dates, or no "
                             "regular step)");
        for (size_t r = 0; r < n; r++) ex->ext_epoch[r] = ntg__date_epoch(d[r]);
    }
    for (size_t k = 0; k < ex->n_futr; k++) {
        const ntg_xfeat *f = &ex->futr[k];
        for (size_t r = 0; r < n; r++)
            if (f->cal >= 0)
                ex->ext[k * n + r] = ntg__calendar_value((ntg_calendar)f->cal, ex->ext_epoch[r]);
        if (f->cal >= 0) continue;
        int c = fut ? ntg__series_find(fut, f->name) : -1;
        if (c < 0)
            return ntg__fail(err, NTG_ERR_DATA,
                             "future covariates: column '%s' has no values for the horizon "
                             "(give them as the next %zu rows in a future file: --futr-data)",
                             f->name, n);
        if (fut->n_rows < n)
            return ntg__fail(err, NTG_ERR_DATA,
                             "future covariates: column '%s' has %zu rows, the horizon needs "
                             "%zu (row %zu is missing)",
                             f->name, fut->n_rows, n, fut->n_rows + 1);
        for (size_t r = 0; r < n; r++) {
            double v = fut->values[(size_t)c * fut->n_rows + r];
            if (f->norm == NTG_XNORM_LOG && !(v > 0))
                return ntg__fail(err, NTG_ERR_DATA,
                                 "future covariates: column '%s', row %zu: %g has no logarithm "
                                 "(normalization 'log' needs values > 0)",
                                 f->name, r + 1, v);
            ex->ext[k * n + r] = v;
        }
    }
    return NTG_OK;
}

/* ------------------------------------------------------------------- windows */

static ntg_status too_far(const ntg_xfeat *f, const ntg_series *s, size_t r, ntg_error *err)
{
    return ntg__fail(err, NTG_ERR_DATA,
                     "future covariates: '%s' has no value for row %zu (%zu rows past the "
                     "data's %zu; give the horizon's values: --futr-data)",
                     f->name, r + 1, r + 1 - s->n_rows, s->n_rows);
}

ntg_status ntg__exog_fill(const ntg_exog *ex, const ntg_series *s, const ntg_windows *w,
                          const uint64_t *idx, size_t n, float *hist, float *futr, float *stat,
                          ntg_error *err)
{
    size_t L = w->L, h = w->h, F = L + h;
    uint64_t count = ntg__windows_count(w);
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= count)
            return ntg__fail(err, NTG_ERR_RANGE, "window %llu of %llu", (unsigned long long)idx[i],
                             (unsigned long long)count);
        size_t j, start;
        ntg__windows_at(w, idx[i], &j, &start);
        if (start < L)
            return ntg__fail(err, NTG_ERR_RANGE, "window start %zu before input size %zu", start,
                             L);
        size_t r0 = start - L, c = (size_t)w->cols[j];
        /* historic: the input rows only, never the origin or after */
        for (size_t k = 0; k < ex->n_hist; k++) {
            const ntg_xfeat *f = &ex->hist[k];
            float *o = hist + (i * ex->n_hist + k) * L;
            for (size_t r = 0; r < L; r++) o[r] = (float)ntg__exog_value_at(f, s, c, r0 + r);
        }
        for (size_t k = 0; k < ex->n_futr; k++) {
            const ntg_xfeat *f = &ex->futr[k];
            float *o = futr + (i * ex->n_futr + k) * F;
            for (size_t r = 0; r < F; r++) {
                size_t row = r0 + r;
                double v;
                if (row < s->n_rows) {
                    v = ntg__exog_value_at(f, s, c, row);
                } else if (row - s->n_rows < ex->n_ext) {
                    /* a long file's future rows are per series */
                    size_t k1 = ex->ext_per_series ? c * ex->n_futr + k : k;
                    double raw = ex->ext[k1 * ex->n_ext + (row - s->n_rows)];
                    v = f->cal >= 0 ? raw : norm_apply(f, raw);
                } else {
                    return too_far(f, s, row, err);
                }
                o[r] = (float)v;
            }
        }
        if (ex->n_stat) {
            const double *a = ntg__exog_static(ex, s->names[w->cols[j]], err);
            if (!a) return NTG_ERR_NOT_FOUND;
            for (size_t k = 0; k < ex->n_stat; k++) stat[i * ex->n_stat + k] = (float)a[k];
        }
    }
    return NTG_OK;
}

/* ------------------------------------------------------------------ metadata */

/* The shortest of %.15g, %.16g, %.17g that reads back as x. */
static void fmt_exact(char *buf, size_t cap, double x)
{
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, x);
        if (strtod(buf, NULL) == x) return;
    }
}

static char *feats_meta(ntg_pool *pool, const ntg_xfeat *f, size_t n)
{
    size_t cap = 1;
    for (size_t k = 0; k < n; k++) cap += strlen(f[k].name) + 96;
    char *out = ntg__pool_alloc(pool, cap);
    if (!out) return NULL;
    size_t at = 0;
    out[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        char a[40], b[40];
        fmt_exact(a, sizeof a, f[k].loc);
        fmt_exact(b, sizeof b, f[k].scale);
        at += (size_t)snprintf(out + at, cap - at, "%s%s|%s|%s|%s|%s", k ? ";" : "", f[k].name,
                               f[k].cal >= 0 ? "calendar" : "-", ntg__xnorm_name(f[k].norm), a, b);
    }
    return out;
}

ntg_status ntg__exog_to_meta(const ntg_exog *ex, ntg_pool *pool,
                             const char *keys[NTG_EXOG_META_KEYS],
                             const char *vals[NTG_EXOG_META_KEYS], ntg_error *err)
{
    keys[0] = "exog.hist";
    keys[1] = "exog.futr";
    keys[2] = "exog.static_names";
    keys[3] = "exog.static";
    vals[0] = feats_meta(pool, ex->hist, ex->n_hist);
    vals[1] = feats_meta(pool, ex->futr, ex->n_futr);
    size_t cap = 1;
    for (size_t k = 0; k < ex->n_stat; k++) cap += strlen(ex->stat_names[k]) + 1;
    char *names = ntg__pool_alloc(pool, cap);
    if (names) {
        size_t at = 0;
        names[0] = '\0';
        for (size_t k = 0; k < ex->n_stat; k++)
            at += (size_t)snprintf(names + at, cap - at, "%s%s", k ? "," : "", ex->stat_names[k]);
    }
    vals[2] = names;
    cap = 1;
    for (size_t r = 0; r < ex->n_stat_rows; r++)
        cap += strlen(ex->stat_ids[r]) + 2 + 26 * ex->n_stat;
    char *rows = ntg__pool_alloc(pool, cap);
    if (rows) {
        size_t at = 0;
        rows[0] = '\0';
        for (size_t r = 0; r < ex->n_stat_rows; r++) {
            at += (size_t)snprintf(rows + at, cap - at, "%s%s=", r ? ";" : "", ex->stat_ids[r]);
            for (size_t k = 0; k < ex->n_stat; k++) {
                char a[40];
                fmt_exact(a, sizeof a, ex->stat[r * ex->n_stat + k]);
                at += (size_t)snprintf(rows + at, cap - at, "%s%s", k ? " " : "", a);
            }
        }
    }
    vals[3] = rows;
    for (int i = 0; i < NTG_EXOG_META_KEYS; i++)
        if (!vals[i]) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return NTG_OK;
}

static ntg_status feats_from_meta(ntg_pool *pool, const char *key, const char *v, ntg_xfeat **out,
                                  size_t *n, ntg_error *err)
{
    *out = NULL;
    *n = 0;
    if (!v || !v[0]) return NTG_OK;
    size_t cap = 1;
    for (const char *c = v; *c; c++) cap += *c == ';';
    ntg_xfeat *f = ntg__pool_array(pool, cap, sizeof *f);
    char *copy = ntg__pool_strdup(pool, v);
    if (!f || !copy) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    char *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *part[5];
        char *s2 = NULL;
        int np = 0;
        for (char *t = strtok_r(item, "|", &s2); t && np < 5; t = strtok_r(NULL, "|", &s2))
            part[np++] = t;
        ntg_xfeat *x = &f[*n];
        memset(x, 0, sizeof *x);
        x->col = -1;
        x->cal = -1;
        char *e1 = NULL, *e2 = NULL;
        if (np == 5) {
            x->name = part[0];
            x->loc = strtod(part[3], &e1);
            x->scale = strtod(part[4], &e2);
        }
        if (np != 5 || *e1 || *e2 || !(x->scale > 0) || ntg__xnorm_parse(part[2], &x->norm, NULL) ||
            (strcmp(part[1], "calendar") == 0 && (x->cal = ntg__calendar_find(part[0])) < 0))
            return ntg__fail(err, NTG_ERR_DATA, "metadata '%s': item %zu does not parse", key,
                             *n + 1);
        (*n)++;
    }
    *out = f;
    return NTG_OK;
}

ntg_status ntg__exog_from_plan(const ntg_plan *p, ntg_exog **out, ntg_error *err)
{
    const char *v[NTG_EXOG_META_KEYS] = {
        ntg_plan_meta(p, "exog.hist"), ntg_plan_meta(p, "exog.futr"),
        ntg_plan_meta(p, "exog.static_names"), ntg_plan_meta(p, "exog.static")};
    return ntg__exog_from_meta(v, out, err);
}

ntg_status ntg__exog_from_meta(const char *const vals[NTG_EXOG_META_KEYS], ntg_exog **out,
                               ntg_error *err)
{
    *out = NULL;
    const char *hv = vals[0], *fv = vals[1], *sn = vals[2], *sv = vals[3];
    if ((!hv || !hv[0]) && (!fv || !fv[0]) && (!sn || !sn[0])) return NTG_OK;
    ntg_exog *ex = exog_new();
    if (!ex) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_status st = feats_from_meta(ex->pool, "exog.hist", hv, &ex->hist, &ex->n_hist, err);
    if (!st) st = feats_from_meta(ex->pool, "exog.futr", fv, &ex->futr, &ex->n_futr, err);
    if (!st && sn && sn[0]) {
        /* names: as the K=V parser would, then the rows */
        size_t cap = 1, rcap = 1;
        for (const char *c = sn; *c; c++) cap += *c == ',';
        for (const char *c = sv ? sv : ""; *c; c++) rcap += *c == ';';
        ex->stat_names = ntg__pool_array(ex->pool, cap, sizeof *ex->stat_names);
        ex->stat_ids = ntg__pool_array(ex->pool, rcap, sizeof *ex->stat_ids);
        ex->stat = ntg__pool_array(ex->pool, rcap * cap, sizeof *ex->stat);
        char *names = ntg__pool_strdup(ex->pool, sn);
        char *rows = ntg__pool_strdup(ex->pool, sv ? sv : "");
        if (!ex->stat_names || !ex->stat_ids || !ex->stat || !names || !rows) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        } else {
            char *save = NULL;
            for (char *t = strtok_r(names, ",", &save); t; t = strtok_r(NULL, ",", &save))
                ex->stat_names[ex->n_stat++] = t;
            for (char *r = strtok_r(rows, ";", &save); !st && r; r = strtok_r(NULL, ";", &save)) {
                char *eq = strrchr(r, '=');
                if (!eq) {
                    st = ntg__fail(err, NTG_ERR_DATA, "metadata 'exog.static' does not parse");
                    break;
                }
                *eq = '\0';
                ex->stat_ids[ex->n_stat_rows] = r;
                char *c = eq + 1;
                for (size_t k = 0; k < ex->n_stat; k++) {
                    char *end;
                    double x = strtod(c, &end);
                    if (end == c) {
                        st = ntg__fail(err, NTG_ERR_DATA,
                                       "metadata 'exog.static': row '%s' has too few values", r);
                        break;
                    }
                    ex->stat[ex->n_stat_rows * ex->n_stat + k] = x;
                    c = end;
                }
                ex->n_stat_rows++;
            }
        }
    }
    if (st) {
        ntg__exog_free(ex);
        return st;
    }
    *out = ex;
    return NTG_OK;
}

/* ------------------------------------------------------------ feeding a plan */

ntg_status ntg__exog_check_io(const ntg_exog *ex, const ntg_model_io *io, ntg_error *err)
{
    struct {
        uint32_t id;
        size_t need, have;
        const char *input, *what, *opt;
    } k[3] = {
        {io->hist, io->n_hist, ex ? ex->n_hist : 0, "hist_exog", "historic covariates",
         "--hist-exog / train key hist_exog"},
        {io->futr, io->n_futr, ex ? ex->n_futr : 0, "futr_exog", "future covariates",
         "--futr-exog / train key futr_exog"},
        {io->stat, io->n_stat, ex ? ex->n_stat : 0, "stat_exog", "static attributes",
         "--static / train key static"},
    };
    for (int i = 0; i < 3; i++) {
        if (k[i].id == NTG_NONE && k[i].have > 0)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "%zu %s given, but the graph has no '%s' input to take them",
                             k[i].have, k[i].what, k[i].input);
        if (k[i].id != NTG_NONE && k[i].have != k[i].need)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "the graph's input '%s' takes %zu %s, %zu given (%s)", k[i].input,
                             k[i].need, k[i].what, k[i].have, k[i].opt);
    }
    return NTG_OK;
}

size_t ntg__exog_per_window(const ntg_model_io *io)
{
    return io->n_hist * io->L + io->n_futr * (io->L + io->h) + io->n_stat;
}

ntg_status ntg__exog_feed(const ntg_exog *ex, const ntg_model_io *io, ntg_session *s,
                          const ntg_series *d, const ntg_windows *w, const uint64_t *idx, size_t n,
                          float *buf, ntg_error *err)
{
    if (!ex || (io->hist == NTG_NONE && io->futr == NTG_NONE && io->stat == NTG_NONE))
        return NTG_OK;
    float *hist = buf, *futr = hist + n * io->n_hist * io->L;
    float *stat = futr + n * io->n_futr * (io->L + io->h);
    ntg_status st = ntg__exog_fill(ex, d, w, idx, n, hist, futr, stat, err);
    if (!st && io->hist != NTG_NONE)
        st = ntg__session_set_tensor(s, io->hist, hist, n * io->n_hist * io->L, err);
    if (!st && io->futr != NTG_NONE)
        st = ntg__session_set_tensor(s, io->futr, futr, n * io->n_futr * (io->L + io->h), err);
    if (!st && io->stat != NTG_NONE)
        st = ntg__session_set_tensor(s, io->stat, stat, n * io->n_stat, err);
    return st;
}
