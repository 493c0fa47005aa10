/* test_runtime_windows.c — forecasting from memory (ntg_series_create, ntg_forecaster_*,
 * ntg_forecast_windows): the numbers of ntg_forecast_series and of the scaler done by hand
 * on a trained plan, quantiles, dates, and every error named. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "ntgraph.h"
#include "plan_int.h"
#include "testutil.h"

#define L 96
#define H 24

/* The first 1500 rows of ETTh1 (7 columns, hourly from 2016-07-01 00:00). */
static ntg_series *etth1(void)
{
    size_t n = 0;
    char *text = tu_read_file(tu_src("data/ETTh1.csv"), &n);
    cr_assert(text);
    size_t len = 0;
    for (int lines = 0; len < n && lines < 1501; len++)
        if (text[len] == '\n') lines++;
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_parse(text, len, "ETTh1.csv", NULL, &s, &err), NTG_OK, "%s", err.message);
    free(text);
    cr_assert_eq(s->n_rows, 1500);
    return s;
}

/* A tiny N-HiTS (graphs/nhits_brief.yaml) trained for a few steps on the slice: it carries
 * a fitted z-score scaler and the per-window `standard` scaler. */
static ntg_plan *trained(const ntg_series *s)
{
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "32"}};
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = d;
    co.n_defines = 3;
    co.max_batch = 16;
    ntg_plan *g = NULL, *t = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits_brief.yaml"), &co, &g, &err), NTG_OK, "%s",
                 err.message);
    ntg_define set[] = {{"steps", "5"}, {"batch", "16"}, {"val_every", "0"}};
    ntg_train_options to;
    ntg_train_options_init(&to);
    to.split = "1000,250,250";
    to.settings = set;
    to.n_settings = 3;
    to.backend = "cpu";
    to.threads = 1;
    ntg_train_report rep;
    ntg_train_report_init(&rep);
    cr_assert_eq(ntg_train(g, s, &to, &t, &rep, &err), NTG_OK, "%s", err.message);
    ntg_plan_destroy(g);
    return t;
}

static ntg_session_options cpu(int max_batch)
{
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    so.threads = 1;
    so.max_batch = max_batch;
    return so;
}

/* Window of column c of s: its rows [end - n, end), with dates. */
static ntg_window window_of(const ntg_series *s, size_t c, size_t end, size_t n)
{
    ntg_window w;
    ntg_window_init(&w);
    w.column = s->names[c];
    w.values = s->values + c * s->n_rows + end - n;
    w.n_values = n;
    w.timestamps = s->dates + end - n;
    return w;
}

/* The plan's scaler entry `key` ("scaler.mean") for column c, parsed from its JSON array. */
static double meta_num(const ntg_plan *p, const char *key, size_t c)
{
    const char *v = ntg_plan_meta(p, key);
    cr_assert(v, "%s", key);
    const char *q = v + 1;
    for (size_t i = 0; i < c; i++) q = strchr(q, ',') + 1;
    return strtod(q, NULL);
}

Test(windows, equal_forecast_series_and_the_scaler_by_hand)
{
    ntg_series *s = etth1();
    ntg_plan *p = trained(s);
    cr_assert_str_eq(ntg_plan_meta(p, "scaler.window"), "standard");
    ntg_session_options so = cpu(0);
    ntg_forecast *ref = NULL, *got = NULL;
    ntg_error err;
    cr_assert_eq(ntg_forecast_series(p, s, "all", &so, &ref, &err), NTG_OK, "%s", err.message);

    /* every column, more history than the model reads, with time stamps */
    ntg_window w[7];
    for (size_t c = 0; c < 7; c++) w[c] = window_of(s, c, s->n_rows, 200);
    ntg_forecaster *fc = NULL;
    cr_assert_eq(ntg_forecaster_create(p, &so, &fc, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecaster_input_size(fc), L);
    cr_assert_eq(ntg_forecaster_horizon(fc), H);
    cr_assert_eq(ntg_forecaster_scaled(fc), 1);
    cr_assert_eq(ntg_forecaster_run(fc, w, 7, &got, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecast_columns(got), 7);
    cr_assert_eq(ntg_forecast_horizon(got), H);
    cr_assert_eq(ntg_forecast_quantiles(got), 0);
    for (size_t c = 0; c < 7; c++) {
        cr_assert_str_eq(ntg_forecast_column_name(got, c), s->names[c]);
        for (size_t t = 0; t < H; t++) {
            cr_assert_eq(ntg_forecast_value(got, c, t, 0), ntg_forecast_value(ref, c, t, 0),
                         "column %zu step %zu: %.17g vs %.17g", c, t,
                         ntg_forecast_value(got, c, t, 0), ntg_forecast_value(ref, c, t, 0));
            cr_assert_str_eq(ntg_forecast_column_date(got, c, t), ntg_forecast_date(ref, t));
        }
    }
    cr_assert_str_eq(ntg_forecast_date(got, 0), "2016-09-01 12:00:00");
    cr_assert_str_eq(ntg_forecast_date(got, H - 1), "2016-09-02 11:00:00");
    ntg_forecast_destroy(got);
    ntg_forecaster_destroy(fc);

    /* OT by hand: z-score with the plan's mean and std, the window's standard scaler, the
     * model in the scaled space, and back */
    size_t ot = 6;
    double mean = meta_num(p, "scaler.mean", ot), sd = meta_num(p, "scaler.std", ot);
    const double *v = s->values + ot * s->n_rows + s->n_rows - L;
    double z[L], loc = 0, var = 0;
    for (int i = 0; i < L; i++) loc += (z[i] = (v[i] - mean) / sd);
    loc /= L;
    for (int i = 0; i < L; i++) var += (z[i] - loc) * (z[i] - loc);
    double scale = sqrt(var / L) + 1e-6;
    float x[L], y[H];
    for (int i = 0; i < L; i++) x[i] = (float)((z[i] - loc) / scale);
    ntg_session *ss = NULL;
    cr_assert_eq(ntg_session_create(p, &so, &ss, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(ss, "x", x, L, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(ss, 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(ss, "y", y, H, &err), NTG_OK, "%s", err.message);
    ntg_session_destroy(ss);
    ntg_window one = window_of(s, ot, s->n_rows, L);
    one.timestamps = NULL;
    so = cpu(1);
    cr_assert_eq(ntg_forecast_windows(p, &one, 1, &so, &got, &err), NTG_OK, "%s", err.message);
    cr_assert_null(ntg_forecast_date(got, 0), "no time stamps, no dates");
    for (int t = 0; t < H; t++) {
        double want = ((double)y[t] * scale + loc) * sd + mean;
        double g = ntg_forecast_value(got, 0, (size_t)t, 0);
        cr_assert_leq(fabs(g - want), 1e-5 * (1 + fabs(want)), "step %d: %.9g vs %.9g", t, g, want);
        /* original units, not the model's scaled space (what the old README snippet printed) */
        cr_assert_gt(fabs(g - (double)y[t]), 1.0, "step %d", t);
    }
    ntg_forecast_destroy(got);
    ntg_forecast_destroy(ref);
    ntg_plan_destroy(p);
    ntg_series_destroy(s);
}

Test(windows, repeated_columns_batches_and_windows_that_end_earlier)
{
    ntg_series *s = etth1();
    ntg_plan *p = trained(s);
    ntg_session_options so = cpu(2); /* five windows go to the model in three turns */
    ntg_forecaster *fc = NULL;
    ntg_forecast *a = NULL, *b = NULL;
    ntg_error err;
    cr_assert_eq(ntg_forecaster_create(p, &so, &fc, &err), NTG_OK, "%s", err.message);
    size_t ends[5] = {1500, 1400, 1500, 1300, 1450}, cols[5] = {6, 6, 0, 6, 3};
    ntg_window w[5];
    for (int k = 0; k < 5; k++) w[k] = window_of(s, cols[k], ends[k], L + (size_t)k);
    cr_assert_eq(ntg_forecaster_run(fc, w, 5, &a, &err), NTG_OK, "%s", err.message);
    /* each window alone gives the same numbers, and each is the series cut at its end */
    for (int k = 0; k < 5; k++) {
        cr_assert_eq(ntg_forecaster_run(fc, &w[k], 1, &b, &err), NTG_OK, "%s", err.message);
        const double *col = s->values + cols[k] * s->n_rows;
        const char *names[1] = {s->names[cols[k]]};
        const double *vals[1] = {col};
        ntg_series *cut = NULL;
        cr_assert_eq(ntg_series_create(ends[k], 1, names, vals, (const char *const *)s->dates, 0,
                                       &cut, &err),
                     NTG_OK, "%s", err.message);
        ntg_forecast *ref = NULL;
        ntg_session_options one = cpu(0);
        cr_assert_eq(ntg_forecast_series(p, cut, NULL, &one, &ref, &err), NTG_OK, "%s",
                     err.message);
        for (size_t t = 0; t < H; t++) {
            double va = ntg_forecast_value(a, (size_t)k, t, 0);
            cr_assert_eq(va, ntg_forecast_value(b, 0, t, 0), "window %d step %zu", k, t);
            cr_assert_leq(fabs(va - ntg_forecast_value(ref, 0, t, 0)), 1e-9 * (1 + fabs(va)),
                          "window %d step %zu", k, t);
            cr_assert_str_eq(ntg_forecast_column_date(a, (size_t)k, t), ntg_forecast_date(ref, t));
        }
        ntg_forecast_destroy(ref);
        ntg_series_destroy(cut);
        ntg_forecast_destroy(b);
    }
    ntg_forecast_destroy(a);
    ntg_forecaster_destroy(fc);
    ntg_plan_destroy(p);
    ntg_series_destroy(s);
}

Test(windows, errors_name_the_window_and_the_problem)
{
    ntg_series *s = etth1();
    ntg_plan *p = trained(s);
    ntg_session_options so = cpu(1);
    ntg_forecaster *fc = NULL;
    ntg_forecast *out = (ntg_forecast *)(uintptr_t)1;
    ntg_error err;
    cr_assert_eq(ntg_forecaster_create(p, &so, &fc, &err), NTG_OK, "%s", err.message);
    ntg_window w[2] = {window_of(s, 6, 1500, 150), window_of(s, 0, 1500, 150)};

    w[1].n_values = 50;
    w[1].values = s->values + 1450;
    w[1].timestamps = NULL;
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &out, &err), NTG_ERR_DATA);
    cr_assert_null(out);
    cr_assert_str_eq(err.message,
                     "window 1 (column 'HUFL'): 50 values, but the model reads the last 96 "
                     "(input_size)");
    w[1] = window_of(s, 0, 1500, 150);

    double bad[150];
    memcpy(bad, w[0].values, sizeof bad);
    bad[120] = NAN;
    w[0].values = bad;
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &out, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "window 0 (column 'OT'): value 121 of 150 is NaN");
    bad[120] = 1e300; /* finite, but past float32 once scaled */
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &out, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "column 'OT'") && strstr(err.message, "1e+300"), "%s",
              err.message);
    w[0] = window_of(s, 6, 1500, 150);

    w[1].column = "nope";
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &out, &err), NTG_ERR_NOT_FOUND);
    cr_assert_str_eq(err.message, "window 1 (column 'nope'): the plan's scaler was not fitted on "
                                  "this column (7 columns, the first 'HUFL')");
    w[1].column = NULL;
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &out, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "window 1 has no column name, and the plan's scaler has 7 "
                                  "columns"),
              "%s", err.message);
    w[1] = window_of(s, 0, 1500, 150);

    const char *dates[150];
    memcpy(dates, w[0].timestamps, sizeof dates);
    dates[100] = dates[98];
    w[0].timestamps = dates;
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &out, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "window 0 (column 'OT'): time stamp 101 '2016-08-30 08:00:00' "
                                  "goes back in time from '2016-08-30 09:00:00' before it"),
              "%s", err.message);
    w[0] = window_of(s, 6, 1500, 150);

    w[1].size = 8;
    cr_assert_eq(ntg_forecaster_run(fc, w, 1, &out, &err), NTG_OK, "%s", err.message);
    ntg_forecast_destroy(out);
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &out, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "window 1: size 8 differs from window 0's"), "%s", err.message);
    w[0].size = 8;
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &out, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "ntg_window_init"), "%s", err.message);
    cr_assert_eq(ntg_forecaster_run(fc, w, 0, &out, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_forecaster_run(NULL, w, 1, &out, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_forecaster_run(fc, NULL, 1, &out, &err), NTG_ERR_INVALID_ARG);
    so.max_batch = 17;
    ntg_forecaster *f2 = (ntg_forecaster *)(uintptr_t)1;
    cr_assert_eq(ntg_forecaster_create(p, &so, &f2, &err), NTG_ERR_INVALID_ARG);
    cr_assert_null(f2);
    /* a plan whose scaler metadata does not hold together, or lacks a key */
    so.max_batch = 1;
    const char *std1[] = {"scaler.std", "[1]"}, *nocols[] = {"scaler.columns", "[]"};
    ntg_plan *badp = NULL;
    cr_assert_eq(ntg__plan_rewrite(p, NULL, std1, 1, &badp, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecaster_create(badp, &so, &f2, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "the plan's fitted scaler: metadata: 7 scaler columns but 7 "
                                  "means and 1 stds");
    ntg_plan_destroy(badp);
    cr_assert_eq(ntg__plan_rewrite(p, NULL, nocols, 1, &badp, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecaster_create(badp, &so, &f2, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "the plan's fitted scaler: metadata 'scaler.columns'"), "%s",
              err.message);
    ntg_plan_destroy(badp);
    ntg_forecaster_destroy(NULL);
    ntg_forecaster_destroy(fc);
    ntg_plan_destroy(p);
    ntg_series_destroy(s);
}

/* A quantile model: every level, the point forecast first, the same as from a series. */
Test(windows, quantiles_and_plans_without_a_scaler)
{
    ntg_define d[] = {
        {"h", "24"}, {"input_size", "96"}, {"hidden", "32"}, {"quantiles", "[0.1, 0.5, 0.9]"}};
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = d;
    co.n_defines = 4;
    co.max_batch = 8;
    co.seed = 7;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits_mq.yaml"), &co, &p, &err), NTG_OK, "%s",
                 err.message);
    ntg_series *s = etth1();
    ntg_session_options so = cpu(0);
    ntg_forecast *ref = NULL, *got = NULL;
    cr_assert_eq(ntg_forecast_series(p, s, "OT,HULL", &so, &ref, &err), NTG_OK, "%s", err.message);
    ntg_window w[2] = {window_of(s, 6, 1500, L), window_of(s, 1, 1500, L)};
    ntg_forecaster *fc = NULL;
    cr_assert_eq(ntg_forecaster_create(p, &so, &fc, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecaster_scaled(fc), 0, "compiled, not trained: no fitted scaler");
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &got, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecast_quantiles(got), 3);
    cr_assert_eq(ntg_forecast_quantile_level(got, 0), 0.5);
    cr_assert_eq(ntg_forecast_quantile_level(got, 1), 0.1);
    cr_assert_eq(ntg_forecast_quantile_level(got, 2), 0.9);
    for (size_t c = 0; c < 2; c++)
        for (size_t t = 0; t < H; t++)
            for (size_t q = 0; q < 3; q++)
                cr_assert_eq(ntg_forecast_value(got, c, t, q), ntg_forecast_value(ref, c, t, q),
                             "column %zu step %zu level %zu", c, t, q);
    cr_assert(isnan(ntg_forecast_value(got, 2, 0, 0)));
    cr_assert(isnan(ntg_forecast_value(got, 0, H, 0)));
    cr_assert(isnan(ntg_forecast_value(got, 0, 0, 3)));
    cr_assert_null(ntg_forecast_column_date(got, 2, 0));
    /* without a scaler any name will do, and none is "" */
    ntg_forecast_destroy(got);
    w[0].column = "anything";
    w[1].column = NULL;
    cr_assert_eq(ntg_forecaster_run(fc, w, 2, &got, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg_forecast_column_name(got, 0), "anything");
    cr_assert_str_eq(ntg_forecast_column_name(got, 1), "");
    cr_assert_eq(ntg_forecast_value(got, 1, 3, 2), ntg_forecast_value(ref, 1, 3, 2));
    ntg_forecast_destroy(got);
    /* half a scaler (a key missing) is a malformed plan: NTG_ERR_DATA, as the header says */
    const char *half[] = {"scaler.kind", "zscore"};
    ntg_plan *bad = NULL;
    ntg_forecaster *f2 = NULL;
    cr_assert_eq(ntg__plan_rewrite(p, NULL, half, 1, &bad, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecaster_create(bad, &so, &f2, &err), NTG_ERR_DATA);
    cr_assert_eq(err.status, NTG_ERR_DATA);
    cr_assert_str_eq(err.message,
                     "the plan's fitted scaler: metadata: no 'scaler.window' (no fitted scaler)");
    cr_assert_null(f2);
    ntg_plan_destroy(bad);
    ntg_forecast_destroy(ref);
    ntg_forecaster_destroy(fc);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

Test(windows, series_from_memory_equals_the_csv)
{
    ntg_series *csv = etth1();
    const char *names[7];
    const double *cols[7];
    for (size_t c = 0; c < 7; c++) {
        names[c] = csv->names[c];
        cols[c] = csv->values + c * csv->n_rows;
    }
    ntg_series *mem = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_create(csv->n_rows, 7, names, cols, (const char *const *)csv->dates, 0,
                                   &mem, &err),
                 NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_series_rows(mem), 1500);
    cr_assert_eq(ntg_series_columns(mem), 7);
    cr_assert_str_eq(ntg_series_column_name(mem, 6), "OT");
    cr_assert_eq(memcmp(mem->values, csv->values, 7 * 1500 * sizeof(double)), 0);
    for (size_t r = 0; r < 1500; r++) cr_assert_eq(mem->epoch[r], csv->epoch[r], "row %zu", r);
    ntg_plan *p = trained(csv);
    ntg_forecast *a = NULL, *b = NULL;
    cr_assert_eq(ntg_forecast_series(p, csv, NULL, NULL, &a, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecast_series(p, mem, NULL, NULL, &b, &err), NTG_OK, "%s", err.message);
    for (size_t c = 0; c < 7; c++)
        for (size_t t = 0; t < H; t++) {
            cr_assert_eq(ntg_forecast_value(a, c, t, 0), ntg_forecast_value(b, c, t, 0));
            cr_assert_str_eq(ntg_forecast_date(a, t), ntg_forecast_date(b, t));
        }
    ntg_forecast_destroy(a);
    ntg_forecast_destroy(b);
    ntg_plan_destroy(p);
    ntg_series_destroy(mem);
    ntg_series_destroy(csv);
}

Test(windows, series_create_errors)
{
    double a[3] = {1, 2, 3}, b[3] = {4, NAN, 6};
    const double *cols[2] = {a, b};
    const char *names[2] = {"a", "b"};
    const char *dates[3] = {"2020-01-01 00:00", "2020-01-01 02:00", "2020-01-01 01:00"};
    ntg_series *s = (ntg_series *)(uintptr_t)1;
    ntg_error err;
    cr_assert_eq(ntg_series_create(3, 2, names, cols, NULL, 0, &s, &err), NTG_ERR_DATA);
    cr_assert_null(s);
    cr_assert_str_eq(err.message, "column 'b': row 2 holds NaN");
    b[1] = 5;
    cr_assert_eq(ntg_series_create(3, 2, names, cols, dates, 0, &s, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "dates: time stamp 3 '2020-01-01 01:00' goes back in time from "
                                  "'2020-01-01 02:00' before it (dates must increase; loose "
                                  "dates take them as they are)");
    cr_assert_eq(ntg_series_create(3, 2, names, cols, dates, NTG_SERIES_LOOSE_DATES, &s, &err),
                 NTG_OK, "%s", err.message);
    cr_assert_str_eq(s->dates[2], "2020-01-01 01:00");
    ntg_series_destroy(s);
    dates[2] = "2020-02-30 00:00";
    cr_assert_eq(ntg_series_create(3, 2, names, cols, dates, 0, &s, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "time stamp 3 '2020-02-30 00:00' is not a valid time stamp"),
              "%s", err.message);
    names[1] = "a";
    cr_assert_eq(ntg_series_create(3, 2, names, cols, NULL, 0, &s, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "column 2: the name 'a' is column 1's too");
    names[1] = "";
    cr_assert_eq(ntg_series_create(3, 2, names, cols, NULL, 0, &s, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "column 2: the name is empty");
    names[1] = "b";
    cr_assert_eq(ntg_series_create(0, 2, names, cols, NULL, 0, &s, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_series_create(3, 2, NULL, cols, NULL, 0, &s, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_series_create(3, 2, names, cols, NULL, 0x10, &s, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_series_create((size_t)1 << 62, 2, names, cols, NULL, 0, &s, &err),
                 NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "do not fit in memory"), "%s", err.message);
    /* the caller's arrays are copied */
    cr_assert_eq(ntg_series_create(3, 2, names, cols, NULL, 0, &s, &err), NTG_OK, "%s",
                 err.message);
    a[0] = 100;
    cr_assert_eq(s->values[0], 1.0);
    cr_assert_null(s->dates);
    ntg_series_destroy(s);
}
