/* test_runtime_exog.c — covariates: calendar features, normalization, windowing (no leak of
 * historic covariates past the origin), static attributes, future rows, metadata, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dates.h"
#include "exog.h"
#include "model_io.h"
#include "ops.h"
#include "series.h"
#include "testutil.h"

static ntg_series *parse(const char *text)
{
    ntg_series *s = NULL;
    ntg_error err;
    ntg_status st = ntg__csv_parse(text, strlen(text), "t.csv", NULL, &s, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    return s;
}

/* Hourly rows from 2016-07-01 00:00: y = r, cov = 1000 + r, up = r + 1 (the target one
 * step ahead), pos = 1 + r (positive, for log). */
static ntg_series *hourly(size_t n)
{
    size_t cap = 64 + n * 96;
    char *t = malloc(cap);
    cr_assert_not_null(t);
    size_t len = (size_t)snprintf(t, cap, "date,y,cov,up,pos\n");
    for (size_t r = 0; r < n; r++)
        len += (size_t)snprintf(t + len, cap - len, "2016-07-%02zu %02zu:00:00,%zu,%zu,%zu,%zu\n",
                                1 + r / 24, r % 24, r, 1000 + r, r + 1, r + 1);
    ntg_series *s = parse(t);
    free(t);
    return s;
}

static int64_t ep(const char *d)
{
    int64_t e = ntg__date_epoch(d);
    cr_assert_neq(e, INT64_MIN, "%s", d);
    return e;
}

#define CAL(c, d) ntg__calendar_value((c), ep(d))

/* ------------------------------------------------------------------ calendar */

Test(exog_calendar, values_against_hand_computed_dates)
{
    /* 2016-07-01 was a Friday (weekday 4), day 183 of a leap year, ISO week 26 */
    const char *d = "2016-07-01 13:45:30";
    cr_assert_float_eq(CAL(NTG_CAL_HOUR_OF_DAY, d), 13.0 / 23.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_MINUTE_OF_HOUR, d), 45.0 / 59.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_SECOND_OF_MINUTE, d), 30.0 / 59.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_DAY_OF_WEEK, d), 4.0 / 6.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_DAY_OF_MONTH, d), -0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_DAY_OF_YEAR, d), 182.0 / 365.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_MONTH_OF_YEAR, d), 6.0 / 11.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_WEEK_OF_YEAR, d), 25.0 / 52.0 - 0.5, 1e-12);
    /* the ends of the ranges: Sunday 23:00 on Dec 31 of a common year, month 12 */
    d = "2017-12-31 23:00";
    cr_assert_float_eq(CAL(NTG_CAL_HOUR_OF_DAY, d), 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_DAY_OF_WEEK, d), 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_DAY_OF_MONTH, d), 30.0 / 30.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_DAY_OF_YEAR, d), 364.0 / 365.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_MONTH_OF_YEAR, d), 0.5, 1e-12);
    /* ISO weeks across years: 2021-01-01 (Friday) is week 53 of 2020, 2018-12-31 (Monday)
     * week 1 of 2019, 2015-12-31 (Thursday) week 53 */
    cr_assert_float_eq(CAL(NTG_CAL_WEEK_OF_YEAR, "2021-01-01"), 52.0 / 52.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_WEEK_OF_YEAR, "2018-12-31"), -0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_WEEK_OF_YEAR, "2015-12-31"), 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_WEEK_OF_YEAR, "2019-01-07"), 1.0 / 52.0 - 0.5, 1e-12);
    /* before 1970 (a negative epoch): 1969-12-31 was a Wednesday */
    cr_assert_float_eq(CAL(NTG_CAL_DAY_OF_WEEK, "1969-12-31 23:00"), 2.0 / 6.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_HOUR_OF_DAY, "1969-12-31 23:00"), 0.5, 1e-12);
    /* Feb 29 and Mar 1 of a leap year: days 60 and 61 */
    cr_assert_float_eq(CAL(NTG_CAL_DAY_OF_YEAR, "2020-03-01"), 60.0 / 365.0 - 0.5, 1e-12);
    cr_assert_float_eq(CAL(NTG_CAL_DAY_OF_YEAR, "2021-03-01"), 59.0 / 365.0 - 0.5, 1e-12);
    cr_assert_eq(ntg__calendar_find("hour_of_day"), NTG_CAL_HOUR_OF_DAY);
    cr_assert_eq(ntg__calendar_find("hour"), -1);
}

/* ------------------------------------------------------------- normalization */

static ntg_exog *parsed(const char *hist, const char *futr, const char *stat)
{
    ntg_exog *ex = NULL;
    ntg_error err;
    ntg_status st = ntg__exog_parse(hist, futr, stat, &ex, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    cr_assert_not_null(ex);
    return ex;
}

Test(exog_norm, fitted_on_train_rows_and_round_trip_through_metadata)
{
    ntg_series *s = hourly(100);
    ntg_exog *ex = parsed("cov,up:minmax,pos:robust,y:log", NULL, NULL);
    cr_assert_eq(ex->n_hist, 4);
    ntg_error err;
    /* train rows 0..9: cov 1000..1009, up 1..10 */
    cr_assert_eq(ntg__exog_bind(ex, s, 1, 10, &err), NTG_ERR_DATA); /* y = 0 has no log */
    cr_assert(strstr(err.message, "column 'y', row 1 (2016-07-01 00:00:00): 0 has no logarithm"),
              "%s", err.message);
    ntg__exog_free(ex);
    ex = parsed("cov,up:minmax,pos:log,y:none", NULL, NULL);
    cr_assert_eq(ntg__exog_bind(ex, s, 1, 10, &err), NTG_OK, "%s", err.message);
    /* zscore: mean 1004.5, population std sqrt(8.25) */
    cr_assert_float_eq(ex->hist[0].loc, 1004.5, 1e-9);
    cr_assert_float_eq(ex->hist[0].scale, sqrt(8.25), 1e-12);
    cr_assert_float_eq(ntg__exog_value(&ex->hist[0], s, 50), (1050 - 1004.5) / sqrt(8.25), 1e-9);
    /* minmax: 1 .. 10 */
    cr_assert_float_eq(ex->hist[1].loc, 1, 0);
    cr_assert_float_eq(ex->hist[1].scale, 9, 0);
    cr_assert_float_eq(ntg__exog_value(&ex->hist[1], s, 9), 1, 1e-12);
    /* log: z-score of ln(1..10) */
    double m = 0, v = 0;
    for (int i = 1; i <= 10; i++) m += log(i) / 10;
    for (int i = 1; i <= 10; i++) v += (log(i) - m) * (log(i) - m) / 10;
    cr_assert_float_eq(ex->hist[2].loc, m, 1e-12);
    cr_assert_float_eq(ex->hist[2].scale, sqrt(v), 1e-12);
    cr_assert_float_eq(ntg__exog_value(&ex->hist[2], s, 19), (log(20) - m) / sqrt(v), 1e-12);
    /* inverse of log: exp(z * scale + loc) gives the value back */
    double z = ntg__exog_value(&ex->hist[2], s, 41);
    cr_assert_float_eq(exp(z * ex->hist[2].scale + ex->hist[2].loc), 42, 1e-9);
    cr_assert_float_eq(ex->hist[3].loc, 0, 0);
    cr_assert_float_eq(ex->hist[3].scale, 1, 0);
    /* robust: lower median 5, IQR of 1..10 = 7.75 - 3.25 = 4.5 (linear quantiles) */
    ntg_exog *rb = parsed("up:robust", NULL, NULL);
    cr_assert_eq(ntg__exog_bind(rb, s, 1, 10, &err), NTG_OK, "%s", err.message);
    cr_assert_float_eq(rb->hist[0].loc, 5, 0);
    cr_assert_float_eq(rb->hist[0].scale, 4.5, 1e-12);
    cr_assert_float_eq(ntg__exog_value(&rb->hist[0], s, 20), (21 - 5) / 4.5, 1e-12);
    ntg__exog_free(rb);

    /* metadata: every number comes back bit-exact */
    ntg_pool *pool = ntg__pool_create();
    const char *k[NTG_EXOG_META_KEYS], *val[NTG_EXOG_META_KEYS];
    cr_assert_eq(ntg__exog_to_meta(ex, pool, k, val, &err), NTG_OK);
    cr_assert_str_eq(k[0], "exog.hist");
    ntg_exog *back = NULL;
    cr_assert_eq(ntg__exog_from_meta(val, &back, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(back->n_hist, 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_str_eq(back->hist[i].name, ex->hist[i].name);
        cr_assert_eq(back->hist[i].norm, ex->hist[i].norm);
        cr_assert_eq(back->hist[i].loc, ex->hist[i].loc);
        cr_assert_eq(back->hist[i].scale, ex->hist[i].scale);
    }
    ntg__exog_free(back);
    ntg__pool_destroy(pool);
    ntg__exog_free(ex);
    ntg__series_free(s);
}

/* ------------------------------------------------------------------ windows */

Test(exog_windows, shapes_values_and_no_leak_past_the_origin)
{
    size_t n = 200, L = 12, h = 4;
    ntg_series *s = hourly(n);
    /* "up" is the target shifted one step: row r holds y[r + 1] */
    ntg_exog *ex = parsed("cov:none,up:none", "cov:none,calendar:hour_of_day", "a=1.5,b=-2");
    ntg_error err;
    cr_assert_eq(ntg__exog_bind(ex, s, 1, 100, &err), NTG_OK, "%s", err.message);
    ntg_split sp = {100, 50, 50};
    int cols[1] = {0};
    ntg_windows w;
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TRAIN, L, h, cols, 1, &w, &err), NTG_OK);
    uint64_t count = ntg__windows_count(&w);
    uint64_t *idx = malloc(count * sizeof *idx);
    for (uint64_t i = 0; i < count; i++) idx[i] = i;
    float *hist = malloc(count * 2 * L * sizeof(float));
    float *futr = malloc(count * 2 * (L + h) * sizeof(float));
    float *stat = malloc(count * 2 * sizeof(float));
    float *x = malloc(count * L * sizeof(float)), *t = malloc(count * h * sizeof(float));
    float *loc = malloc(count * sizeof(float)), *sc = malloc(count * sizeof(float));
    cr_assert_eq(ntg__exog_fill(ex, s, &w, idx, (size_t)count, hist, futr, stat, &err), NTG_OK,
                 "%s", err.message);
    cr_assert_eq(ntg__windows_fill(s, NULL, NTG_WSCALER_IDENTITY, &w, idx, (size_t)count, x, t, loc,
                                   sc, &err),
                 NTG_OK);
    for (uint64_t i = 0; i < count; i++) {
        size_t j, start;
        ntg__windows_at(&w, i, &j, &start);
        for (size_t r = 0; r < L; r++) {
            /* hist: rows [start - L, start) exactly: the last is the row before the origin */
            float c = hist[(i * 2 + 0) * L + r];
            cr_assert_eq(c, (float)(1000 + start - L + r));
            cr_assert_lt(c, (float)(1000 + start), "window %llu reads the origin",
                         (unsigned long long)i);
            /* the shifted target ends at y[start]: the first target, what the data gives at
             * row start - 1; nothing of rows >= start */
            cr_assert_eq(hist[(i * 2 + 1) * L + r], x[i * L + r] + 1.0f);
        }
        cr_assert_eq(hist[(i * 2 + 1) * L + L - 1], t[i * h + 0]);
        for (size_t r = 0; r < L + h; r++) {
            cr_assert_eq(futr[(i * 2 + 0) * (L + h) + r], (float)(1000 + start - L + r));
            double hod = (double)((start - L + r) % 24) / 23.0 - 0.5;
            cr_assert_float_eq(futr[(i * 2 + 1) * (L + h) + r], (float)hod, 1e-6);
        }
        cr_assert_eq(stat[i * 2 + 0], 1.5f);
        cr_assert_eq(stat[i * 2 + 1], -2.0f);
    }
    free(idx);
    free(hist);
    free(futr);
    free(stat);
    free(x);
    free(t);
    free(loc);
    free(sc);
    ntg__exog_free(ex);
    ntg__series_free(s);
}

Test(exog_windows, forecast_rows_come_from_the_future_file_and_the_dates)
{
    size_t n = 48, L = 8, h = 3;
    ntg_series *s = hourly(n);
    ntg_exog *ex = parsed(NULL, "cov:none,calendar:hour_of_day,calendar:day_of_week", NULL);
    ntg_error err;
    cr_assert_eq(ntg__exog_bind(ex, s, 1, 24, &err), NTG_OK, "%s", err.message);
    int cols[1] = {0};
    ntg_windows w;
    cr_assert_eq(ntg__windows_forecast(n, L, h, cols, 1, &w, &err), NTG_OK);
    uint64_t i0 = 0;
    float futr[3 * 11];
    /* without the future rows the horizon has no values: named */
    cr_assert_eq(ntg__exog_fill(ex, s, &w, &i0, 1, NULL, futr, NULL, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "'cov' has no value for row 49"), "%s", err.message);
    /* too short a future file: named with the row that is missing */
    ntg_series *f2 = parse("date,cov\n2016-07-03 00:00:00,7\n2016-07-03 01:00:00,8\n");
    cr_assert_eq(ntg__exog_future(ex, s, f2, NULL, 0, h, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message,
                     "future covariates: column 'cov' has 2 rows, the horizon needs 3 (row 3 is "
                     "missing)");
    ntg_series *f1 = parse("date,other\n2016-07-03 00:00:00,7\n");
    cr_assert_eq(ntg__exog_future(ex, s, f1, NULL, 0, h, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "column 'cov' has no values for the horizon"), "%s", err.message);
    ntg_series *f3 = parse("date,cov\n2016-07-03 00:00:00,7\n2016-07-03 01:00:00,8\n"
                           "2016-07-03 02:00:00,9\n2016-07-03 03:00:00,10\n");
    cr_assert_eq(ntg__exog_future(ex, s, f3, NULL, 0, h, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__exog_fill(ex, s, &w, &i0, 1, NULL, futr, NULL, &err), NTG_OK, "%s",
                 err.message);
    /* rows 40..47 from the data, 48..50 from the file; the horizon's dates continue the
     * hourly column: 2016-07-03 (a Sunday) 00:00, 01:00, 02:00 */
    for (size_t r = 0; r < L; r++) cr_assert_eq(futr[r], (float)(1000 + 40 + r));
    cr_assert_eq(futr[8], 7.0f);
    cr_assert_eq(futr[9], 8.0f);
    cr_assert_eq(futr[10], 9.0f);
    cr_assert_float_eq(futr[11 + 7], 0.5f, 1e-6); /* row 47: 23:00 */
    cr_assert_float_eq(futr[11 + 8], -0.5f, 1e-6);
    cr_assert_float_eq(futr[11 + 10], 2.0f / 23.0f - 0.5f, 1e-6);
    cr_assert_float_eq(futr[22 + 8], 0.5f, 1e-6);               /* Sunday */
    cr_assert_float_eq(futr[22 + 7], 5.0f / 6.0f - 0.5f, 1e-6); /* Saturday */
    ntg__series_free(f1);
    ntg__series_free(f2);
    ntg__series_free(f3);
    ntg__exog_free(ex);
    ntg__series_free(s);
}

Test(exog_static, from_a_file_one_row_per_column)
{
    char path[] = "/tmp/ntg_static_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *text = "unique_id,area,height\ny,2.5,10\ncov,3,-1\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ntg_exog *ex = parsed(NULL, NULL, path);
    unlink(path);
    cr_assert_eq(ex->n_stat, 2);
    cr_assert_str_eq(ex->stat_names[1], "height");
    ntg_error err;
    const double *a = ntg__exog_static(ex, "cov", &err);
    cr_assert_not_null(a);
    cr_assert_eq(a[0], 3);
    cr_assert_eq(a[1], -1);
    cr_assert_null(ntg__exog_static(ex, "up", &err));
    cr_assert_str_eq(err.message, "static attributes: no row for series column 'up'");
    /* round trip through the metadata */
    ntg_pool *pool = ntg__pool_create();
    const char *k[NTG_EXOG_META_KEYS], *v[NTG_EXOG_META_KEYS];
    cr_assert_eq(ntg__exog_to_meta(ex, pool, k, v, &err), NTG_OK);
    ntg_exog *back = NULL;
    cr_assert_eq(ntg__exog_from_meta(v, &back, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(back->n_stat, 2);
    a = ntg__exog_static(back, "y", &err);
    cr_assert_not_null(a);
    cr_assert_eq(a[0], 2.5);
    cr_assert_eq(a[1], 10);
    ntg__exog_free(back);
    ntg__pool_destroy(pool);
    ntg__exog_free(ex);
}

/* ------------------------------------------------------------------- errors */

static void parse_fails(const char *hist, const char *futr, const char *stat, const char *msg)
{
    ntg_exog *ex = NULL;
    ntg_error err;
    cr_assert_neq(ntg__exog_parse(hist, futr, stat, &ex, &err), NTG_OK);
    cr_assert_null(ex);
    cr_assert_str_eq(err.message, msg);
}

Test(exog_errors, specs_name_the_item_and_the_problem)
{
    parse_fails(NULL, "calendar:hour", NULL,
                "future covariates 'calendar:hour': unknown calendar feature 'hour' "
                "(second_of_minute, minute_of_hour, hour_of_day, day_of_week, day_of_month, "
                "day_of_year, month_of_year, week_of_year)");
    parse_fails("calendar:hour_of_day", NULL, NULL,
                "historic covariates 'calendar:hour_of_day': 'calendar:hour_of_day' is known "
                "for the horizon too: give it as a future covariate (--futr-exog)");
    parse_fails("a,b,a", NULL, NULL, "historic covariates 'a,b,a': 'a' is given twice");
    parse_fails("a:cube", NULL, NULL,
                "historic covariates 'a:cube': column 'a': unknown normalization 'cube' "
                "(zscore, minmax, robust, log, none)");
    parse_fails("a,,b", NULL, NULL, "historic covariates 'a,,b': an empty name");
    parse_fails(NULL, NULL, "a=1,b", "static attributes 'a=1,b': 'b' is not NAME=VALUE");
    parse_fails(NULL, NULL, "a=x", "static attribute 'a': 'x' is not a number");
    ntg_series *s = hourly(30);
    ntg_exog *ex = parsed("nope", NULL, NULL);
    ntg_error err;
    cr_assert_eq(ntg__exog_bind(ex, s, 1, 10, &err), NTG_ERR_NOT_FOUND);
    cr_assert_str_eq(err.message, "historic covariates: the series has no column 'nope'");
    ntg__exog_free(ex);
    ntg__series_free(s);
    /* a calendar feature needs dates */
    s = parse("a,b\n1,2\n3,4\n");
    ex = parsed(NULL, "calendar:day_of_week", NULL);
    cr_assert_eq(ntg__exog_bind(ex, s, 1, 2, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "future covariates: calendar feature 'day_of_week' needs a "
                                  "date column, and the data has none");
    ntg__exog_free(ex);
    ntg__series_free(s);
}

Test(exog_errors, the_plan_inputs_and_the_covariates_must_agree)
{
    ntg_model_io io;
    memset(&io, 0, sizeof io);
    io.x = 0;
    io.hist = 3;
    io.n_hist = 2;
    io.futr = NTG_NONE;
    io.stat = NTG_NONE;
    ntg_error err;
    cr_assert_eq(ntg__exog_check_io(NULL, &io, &err), NTG_ERR_INVALID_ARG);
    cr_assert_str_eq(err.message, "the graph's input 'hist_exog' takes 2 historic covariates, 0 "
                                  "given (--hist-exog / train key hist_exog)");
    ntg_exog *ex = parsed("a,b", "c", NULL);
    cr_assert_eq(ntg__exog_check_io(ex, &io, &err), NTG_ERR_INVALID_ARG);
    cr_assert_str_eq(err.message,
                     "1 future covariates given, but the graph has no 'futr_exog' input to take "
                     "them");
    io.futr = 4;
    io.n_futr = 1;
    cr_assert_eq(ntg__exog_check_io(ex, &io, &err), NTG_OK);
    ntg__exog_free(ex);
}

/* ------------------------------------------------------- train and forecast */

static const char *exog_graph =
    "ntgraph: 1\n"
    "name: exog_dense\n"
    "hparams: {h: 4, input_size: 12}\n"
    "inputs:\n"
    "  x: [batch, input_size]\n"
    "  hist_exog: [batch, 1, input_size]\n"
    "  futr_exog: [batch, 2, input_size + h]\n"
    "  stat_exog: [batch, 1]\n"
    "outputs:\n"
    "  y: [batch, h]\n"
    "nodes:\n"
    "  - {op: reshape, in: hist_exog, out: hf, shape: [batch, input_size]}\n"
    "  - {op: reshape, in: futr_exog, out: ff, shape: \"[batch, 2 * (input_size + h)]\"}\n"
    "  - {op: concat, in: [x, hf, ff, stat_exog], out: z, axis: 1}\n"
    "  - {op: dense, in: z, out: y, units: h}\n"
    "train:\n"
    "  hist_exog: [cov]\n"
    "  static: \"'area=2.5'\"\n"
    "  steps: 30\n"
    "  batch: 16\n"
    "  val_every: 10\n"
    "  lr: 0.01\n";

Test(exog_train, trains_evaluates_and_forecasts_with_covariates)
{
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.max_batch = 32;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(exog_graph, strlen(exog_graph), "exog.yaml", &co, &p, &err),
                 NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg_plan_meta(p, "train.hist_exog"), "cov");
    cr_assert_str_eq(ntg_plan_meta(p, "train.static"), "area=2.5");
    ntg_series *s = hourly(300);
    ntg_train_options o;
    ntg_train_options_init(&o);
    o.split = "200,50,50";
    o.columns = "y";
    o.backend = "cpu";
    /* without the future covariates the graph's futr_exog input has nothing to take */
    cr_assert_eq(ntg_train(p, s, &o, &(ntg_plan *){NULL}, NULL, &err), NTG_ERR_INVALID_ARG);
    cr_assert_str_eq(err.message, "the graph's input 'futr_exog' takes 2 future covariates, 0 "
                                  "given (--futr-exog / train key futr_exog)");
    ntg_define set[] = {{"futr_exog", "up:minmax,calendar:hour_of_day"}};
    o.settings = set;
    o.n_settings = 1;
    ntg_plan *trained = NULL;
    cr_assert_eq(ntg_train(p, s, &o, &trained, NULL, &err), NTG_OK, "%s", err.message);
    /* the fitted normalization is in the plan: up's train rows are 1 .. 200 */
    cr_assert_str_eq(ntg_plan_meta(trained, "exog.futr"),
                     "up|-|minmax|1|199;hour_of_day|calendar|none|0|1");
    cr_assert(strstr(ntg_plan_meta(trained, "exog.hist"), "cov|-|zscore|1099.5|"));
    cr_assert_str_eq(ntg_plan_meta(trained, "exog.static"), "*=2.5");

    ntg_eval_options eo;
    ntg_eval_options_init(&eo);
    eo.split = "200,50,50";
    eo.columns = "y";
    eo.backend = "cpu";
    ntg_scores all;
    ntg_scores_init(&all);
    cr_assert_eq(ntg_evaluate(trained, s, &eo, &all, NULL, 0, &err), NTG_OK, "%s", err.message);
    cr_assert(isfinite(all.mse));

    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_forecast *f = NULL;
    /* the horizon's 'up' values are needed: named */
    cr_assert_eq(ntg_forecast_series(trained, s, "y", &so, &f, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "future covariates: column 'up' has no values for the horizon"),
              "%s", err.message);
    ntg_series *fut = parse("date,up\n2016-07-13 12:00:00,301\n2016-07-13 13:00:00,302\n"
                            "2016-07-13 14:00:00,303\n2016-07-13 15:00:00,304\n");
    cr_assert_eq(ntg_forecast_series_exog(trained, s, fut, "y", &so, &f, &err), NTG_OK, "%s",
                 err.message);
    double a[4];
    for (size_t t = 0; t < 4; t++) a[t] = ntg_forecast_value(f, 0, t, 0);
    cr_assert(isfinite(a[0]) && isfinite(a[3]));
    ntg_forecast_destroy(f);
    /* other future values, another forecast: the covariates reach the model */
    ntg_series *fut2 = parse("date,up\n2016-07-13 12:00:00,1\n2016-07-13 13:00:00,1\n"
                             "2016-07-13 14:00:00,1\n2016-07-13 15:00:00,1\n");
    cr_assert_eq(ntg_forecast_series_exog(trained, s, fut2, "y", &so, &f, &err), NTG_OK, "%s",
                 err.message);
    int differ = 0;
    for (size_t t = 0; t < 4; t++) differ |= ntg_forecast_value(f, 0, t, 0) != a[t];
    cr_assert(differ);
    ntg_forecast_destroy(f);
    /* the forecaster of windows in memory: the same window with its covariates in original
     * units (cov historic, up over the window and the horizon, the hour from the time
     * stamps, the static attribute from the plan's table) gives the same numbers */
    size_t n = s->n_rows;
    int cy = ntg__series_find(s, "y"), cc = ntg__series_find(s, "cov"),
        cu = ntg__series_find(s, "up");
    double *up = malloc((n + 4) * sizeof *up);
    cr_assert_not_null(up);
    memcpy(up, s->values + (size_t)cu * n, n * sizeof *up);
    for (size_t t = 0; t < 4; t++) up[n + t] = 301.0 + (double)t;
    ntg_covariate cv[2];
    ntg_covariate_init(&cv[0]);
    ntg_covariate_init(&cv[1]);
    cv[0].name = "cov";
    cv[0].values = s->values + (size_t)cc * n;
    cv[0].n_values = n;
    cv[1].name = "up";
    cv[1].values = up;
    cv[1].n_values = n + 4;
    ntg_window w;
    ntg_window_init(&w);
    w.column = "y";
    w.values = s->values + (size_t)cy * n;
    w.n_values = n;
    w.timestamps = s->dates;
    w.covariates = cv;
    w.n_covariates = 2;
    ntg_forecaster *fc = NULL;
    cr_assert_eq(ntg_forecaster_create(trained, &so, &fc, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecaster_run(fc, &w, 1, &f, &err), NTG_OK, "%s", err.message);
    for (size_t t = 0; t < 4; t++)
        cr_assert_float_eq(ntg_forecast_value(f, 0, t, 0), a[t], 1e-9 * (1 + fabs(a[t])),
                           "step %zu: %.9g vs %.9g", t, ntg_forecast_value(f, 0, t, 0), a[t]);
    ntg_forecast_destroy(f);
    /* errors name the window and the covariate */
    cv[1].n_values = 12;
    cr_assert_eq(ntg_forecaster_run(fc, &w, 1, &f, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message,
                     "window 0 (column 'y'): future covariate 'up' has 12 values, it needs the "
                     "window's last input_size and the horizon's h (16)");
    cv[1].values = up;
    cv[1].n_values = n + 4;
    w.n_covariates = 1;
    cr_assert_eq(ntg_forecaster_run(fc, &w, 1, &f, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message,
                     "window 0 (column 'y'): the plan's future covariate 'up' is missing");
    w.n_covariates = 2;
    cv[0].name = "temp";
    cr_assert_eq(ntg_forecaster_run(fc, &w, 1, &f, &err), NTG_ERR_INVALID_ARG);
    cr_assert_str_eq(err.message,
                     "window 0 (column 'y'): covariate 'temp' is not one the plan takes (see its "
                     "exog.hist, exog.futr and exog.static_names)");
    cv[0].name = "calendar:hour_of_day";
    cr_assert_eq(ntg_forecaster_run(fc, &w, 1, &f, &err), NTG_ERR_INVALID_ARG);
    cr_assert_str_eq(err.message, "window 0 (column 'y'): covariate 'calendar:hour_of_day' is a "
                                  "calendar feature, computed from the window's time stamps: do "
                                  "not give it");
    cv[0].name = "cov";
    w.timestamps = NULL;
    cr_assert_eq(ntg_forecaster_run(fc, &w, 1, &f, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "window 0 (column 'y'): the calendar feature 'hour_of_day' "
                                  "needs the window's time stamps");
    w.timestamps = s->dates;
    up[n - 3] = NAN;
    cr_assert_eq(ntg_forecaster_run(fc, &w, 1, &f, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "window 0 (column 'y'): future covariate 'up', value 298 of 304 "
                                  "is NaN");
    /* a window from an older header (no covariate fields) has no covariates: named */
    up[n - 3] = 1.0;
    w.size = offsetof(ntg_window, timestamps) + sizeof w.timestamps;
    cr_assert_eq(ntg_forecaster_run(fc, &w, 1, &f, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message,
                     "window 0 (column 'y'): the plan's historic covariate 'cov' is missing");
    ntg_forecaster_destroy(fc);
    free(up);
    ntg__series_free(fut);
    ntg__series_free(fut2);
    ntg_plan_destroy(trained);
    ntg_plan_destroy(p);
    ntg__series_free(s);
}

/* graphs/nhits.yaml with every kind of covariate: a few train steps, then a forecast whose
 * numbers the future covariates change. */
Test(exog_train, nhits_yaml_trains_with_hist_futr_and_static_covariates)
{
    static const char g[] = "ntgraph: 1\n"
                            "extends: nhits.yaml\n"
                            "name: nhits_cov\n"
                            "hparams: {h: 4, input_size: 12, hidden: 8, n_hist: 1, n_futr: 2, "
                            "n_stat: 1}\n"
                            "train:\n"
                            "  hist_exog: [cov]\n"
                            "  futr_exog: [up, \"'calendar:hour_of_day'\"]\n"
                            "  static: \"'area=2.5'\"\n"
                            "  steps: 3\n"
                            "  batch: 8\n"
                            "  val_every: 3\n";
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.max_batch = 16;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(g, strlen(g), tu_src("graphs/nhits_cov.yaml"), &co, &p, &err),
                 NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_plan_input_count(p), 4);
    ntg_series *s = hourly(300);
    ntg_train_options o;
    ntg_train_options_init(&o);
    o.split = "200,50,50";
    o.columns = "y";
    o.backend = "cpu";
    ntg_plan *trained = NULL;
    ntg_train_report rep;
    ntg_train_report_init(&rep);
    cr_assert_eq(ntg_train(p, s, &o, &trained, &rep, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(rep.steps, 3);
    cr_assert(isfinite(rep.final_train_loss), "%g", rep.final_train_loss);
    /* the weights moved */
    int moved = 0;
    for (size_t i = 0; i < ntg_plan_param_count(p); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_param(p, i, &ti, &err), NTG_OK);
        moved |= memcmp(ntg_plan_param_data(p, i), ntg_plan_param_data(trained, i), ti.nbytes);
    }
    cr_assert(moved);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_series *fut = parse("date,up\n2016-07-13 12:00:00,301\n2016-07-13 13:00:00,302\n"
                            "2016-07-13 14:00:00,303\n2016-07-13 15:00:00,304\n");
    ntg_series *fut2 = parse("date,up\n2016-07-13 12:00:00,1\n2016-07-13 13:00:00,1\n"
                             "2016-07-13 14:00:00,1\n2016-07-13 15:00:00,1\n");
    ntg_forecast *f = NULL, *f2 = NULL;
    cr_assert_eq(ntg_forecast_series_exog(trained, s, fut, "y", &so, &f, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(ntg_forecast_series_exog(trained, s, fut2, "y", &so, &f2, &err), NTG_OK, "%s",
                 err.message);
    int differ = 0;
    for (size_t t = 0; t < 4; t++) {
        cr_assert(isfinite(ntg_forecast_value(f, 0, t, 0)));
        differ |= ntg_forecast_value(f, 0, t, 0) != ntg_forecast_value(f2, 0, t, 0);
    }
    cr_assert(differ);
    ntg_forecast_destroy(f);
    ntg_forecast_destroy(f2);
    ntg__series_free(fut);
    ntg__series_free(fut2);
    ntg_plan_destroy(trained);
    ntg_plan_destroy(p);
    ntg__series_free(s);
}

/* ------------------------------------------------------- the target's log */

Test(exog_norm, the_log_global_scaler_round_trips_and_refuses_non_positive_values)
{
    ntg_series *s = hourly(50);
    int cols[2] = {2, 0}; /* up = r + 1 > 0; y = r starts at 0 */
    ntg_scaler *g = NULL;
    ntg_error err;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_LOG, cols, 2, 10, &g, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "scaler 'log': column 'y', row 1 (2016-07-01 00:00:00): 0 has "
                                  "no logarithm (the log scaler needs values > 0)");
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_LOG, cols, 1, 10, &g, &err), NTG_OK, "%s",
                 err.message);
    double m = 0, v = 0;
    for (int i = 1; i <= 10; i++) m += log(i) / 10;
    for (int i = 1; i <= 10; i++) v += (log(i) - m) * (log(i) - m) / 10;
    cr_assert_float_eq(g->mean[0], m, 1e-12);
    cr_assert_float_eq(g->std[0], sqrt(v), 1e-12);
    for (double x = 0.5; x < 1e6; x *= 7.3) {
        double z = ntg__scaler_apply(g, 0, x);
        cr_assert_float_eq(z, (log(x) - m) / sqrt(v), 1e-12);
        cr_assert_float_eq(ntg__scaler_invert(g, 0, z), x, 1e-9 * x);
    }
    /* kept in the plan's metadata under its name */
    ntg_pool *pool = ntg__pool_create();
    const char *k[NTG_SCALER_META_KEYS], *val[NTG_SCALER_META_KEYS];
    cr_assert_eq(ntg__scaler_to_meta(g, NTG_WSCALER_IDENTITY, pool, k, val, &err), NTG_OK);
    cr_assert_str_eq(val[0], "log");
    ntg_scaler *back = NULL;
    ntg_window_scaler ws;
    cr_assert_eq(ntg__scaler_from_meta(k, val, NTG_SCALER_META_KEYS, &back, &ws, &err), NTG_OK,
                 "%s", err.message);
    cr_assert_eq(back->kind, NTG_SCALER_LOG);
    cr_assert_eq(ntg__scaler_invert(back, 0, 0.25), ntg__scaler_invert(g, 0, 0.25));
    ntg__scaler_free(back);
    ntg__pool_destroy(pool);
    ntg__scaler_free(g);
    ntg__series_free(s);
}

/* A distribution head takes covariates like a point head: ntg__model_io reads their feature
 * counts and the training inputs for it too (it used to return before both). */
Test(exog_errors, a_distribution_head_with_covariates_counts_them)
{
    ntg_define defs[] = {
        {"h", "8"}, {"input_size", "24"}, {"hidden", "16"}, {"n_futr", "2"}, {"n_stat", "3"}};
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.defines = defs;
    o.n_defines = 5;
    o.max_batch = 4;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits_normal.yaml"), &o, &p, &err), NTG_OK, "%s",
                 err.message);
    ntg_model_io io;
    cr_assert_eq(ntg__model_io(p, &io, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(io.dist, 2);
    cr_assert_eq(io.h, 8);
    cr_assert_eq(io.n_hist, 0);
    cr_assert_eq(io.n_futr, 2);
    cr_assert_eq(io.n_stat, 3);
    cr_assert_neq(io.futr, NTG_NONE);
    cr_assert_neq(io.t, NTG_NONE, "the train_step's target");
    cr_assert_neq(io.ctl, NTG_NONE);
    cr_assert_eq(ntg__exog_per_window(&io), 2 * (24 + 8) + 3);
    ntg_plan_destroy(p);
}
