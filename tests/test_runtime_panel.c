/* test_runtime_panel.c — ragged long-format panels: windows inside one series, per-series
 * splits, scalers and MASE scales, and the M4 Naive2 benchmark and OWA (runtime/naive2.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "naive2.h"
#include "series.h"
#include "testutil.h"

/* A: 10 values 1..10, B: 6 values 10, 20, ..., 60 (ds 5..10), C: 3 values (ds 8..10). */
static const char *panel_text = "unique_id,ds,y\n"
                                "C,8,7\nC,9,8\nC,10,9\n"
                                "B,10,60\nB,5,10\nB,6,20\nB,7,30\nB,8,40\nB,9,50\n"
                                "A,1,1\nA,2,2\nA,3,3\nA,4,4\nA,5,5\n"
                                "A,6,6\nA,7,7\nA,8,8\nA,9,9\nA,10,10\n";

static ntg_series *panel(void)
{
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_parse(panel_text, strlen(panel_text), "p.csv", NULL, &s, &err), NTG_OK,
                 "%s", err.message);
    cr_assert_eq(s->n_rows, 10);
    cr_assert_str_eq(s->names[0], "C");
    cr_assert_str_eq(s->names[2], "A");
    cr_assert_eq(s->first[0], 7);
    cr_assert_eq(s->first[1], 4);
    cr_assert_eq(s->first[2], 0);
    return s;
}

Test(runtime_panel, windows_stay_inside_one_series)
{
    ntg_series *s = panel();
    ntg_error err;
    ntg_split sp;
    /* NeuralForecast's test_size: the last 2 rows of every series */
    cr_assert_eq(ntg__split_parse("rest,0,2", s->n_rows, &sp, &err), NTG_OK, "%s", err.message);
    cr_assert(sp.train == 8 && sp.val == 0 && sp.test == 2);
    int cols[3] = {0, 1, 2};
    ntg_windows w;
    size_t skipped = 99;
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TRAIN, 2, 2, cols, 3, &w, &err), NTG_OK);
    cr_assert_eq(ntg__windows_panel(&w, s, &skipped, &err), NTG_OK, "%s", err.message);
    /* A: starts 2..6 (5), B: its rows 4..7 hold one window (start 6), C: none */
    cr_assert_eq(ntg__windows_count(&w), 6);
    cr_assert_eq(skipped, 1);
    size_t first, n;
    ntg__windows_col(&w, 0, &first, &n);
    cr_assert_eq(n, 0);
    ntg__windows_col(&w, 1, &first, &n);
    cr_assert(first == 6 && n == 1);
    for (uint64_t k = 0; k < ntg__windows_count(&w); k++) {
        size_t j, st;
        ntg__windows_at(&w, k, &j, &st);
        cr_assert_lt(j, 3);
        cr_assert_geq(st - 2, s->first[cols[j]], "window %llu reaches before its series",
                      (unsigned long long)k);
        cr_assert_leq(st + 2, sp.train);
    }
    /* the batches hold each series' own values */
    uint64_t idx[6] = {0, 1, 2, 3, 4, 5};
    float x[12], t[12], loc[6], scale[6];
    cr_assert_eq(
        ntg__windows_fill(s, NULL, NTG_WSCALER_IDENTITY, &w, idx, 6, x, t, loc, scale, &err),
        NTG_OK, "%s", err.message);
    cr_assert(x[0] == 10 && x[1] == 20 && t[0] == 30 && t[1] == 40, "B's window: %g %g %g %g",
              (double)x[0], (double)x[1], (double)t[0], (double)t[1]);
    cr_assert(x[2] == 1 && x[3] == 2 && t[2] == 3 && t[3] == 4);

    /* test: the last 2 rows of each series; C (3 rows) is too short for input_size 2 */
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TEST, 2, 2, cols, 3, &w, &err), NTG_OK);
    cr_assert_eq(ntg__windows_panel(&w, s, &skipped, &err), NTG_OK);
    cr_assert_eq(ntg__windows_count(&w), 2);
    cr_assert_eq(skipped, 1);
    size_t j, st;
    ntg__windows_at(&w, 0, &j, &st);
    cr_assert(j == 1 && st == 8);
    /* no series long enough at all: C and B with input_size 7 */
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TEST, 7, 2, cols, 2, &w, &err), NTG_OK);
    cr_assert_eq(ntg__windows_panel(&w, s, &skipped, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message,
                     "no series of the panel has a window: the longest has 6 rows; a window "
                     "needs input_size = 7 rows of its own series before its first target and "
                     "h = 2 targets inside the split's part");
    cr_assert_eq(skipped, 2);
    ntg__series_free(s);
}

Test(runtime_panel, scalers_and_mase_per_series)
{
    ntg_series *s = panel();
    ntg_error err;
    ntg_scaler *g = NULL;
    /* train rows [0, 8): B's are 10, 20, 30, 40 (its rows 4..7), C's 7 (row 7) */
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, NULL, 0, 8, &g, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_float_eq(g->mean[1], 25.0, 1e-12);
    cr_assert_float_eq(g->std[1], sqrt(125.0), 1e-12);
    cr_assert_float_eq(g->mean[0], 7.0, 1e-12);
    cr_assert_float_eq(g->std[0], 1.0, 1e-12, "a single value: std 1");
    cr_assert_float_eq(g->mean[2], 4.5, 1e-12);
    ntg__scaler_free(g);
    /* the MASE scale of B: |20-10|, |30-20|, |40-30| over its 4 train rows */
    int cols[3] = {0, 1, 2};
    ntg_metrics *m = NULL;
    cr_assert_eq(ntg__metrics_create(s, cols, 3, NULL, 8, 1, &m, &err), NTG_OK, "%s", err.message);
    cr_assert_float_eq(ntg__metrics_mase_scale(m, 1), 10.0, 1e-12);
    cr_assert_float_eq(ntg__metrics_mase_scale(m, 2), 1.0, 1e-12);
    cr_assert(isnan(ntg__metrics_mase_scale(m, 0)), "C has one train row: no scale");
    ntg__metrics_free(m);
    ntg__series_free(s);
}

/* Naive2 by hand: y alternates 1, 3 (period 2, 16 values): r_1 = -15/16, r_2 = 14/16 >
 * 1.645 sqrt((1 + 2 (15/16)^2) / 16) = 0.683, so seasonal; the 2x2 moving average is 2
 * everywhere, the indices 0.5 and 1.5, the adjusted last value 3 / 1.5 = 2, and the
 * forecast 1, 3, 1, 3. */
Test(runtime_panel, naive2_by_hand)
{
    double y[16], f[4], work[8];
    for (int t = 0; t < 16; t++) y[t] = t % 2 ? 3 : 1;
    cr_assert_eq(ntg__naive2(y, 16, 2, 4, work, f), 1);
    cr_assert_float_eq(f[0], 1.0, 1e-12);
    cr_assert_float_eq(f[1], 3.0, 1e-12);
    cr_assert_float_eq(f[2], 1.0, 1e-12);
    cr_assert_float_eq(f[3], 3.0, 1e-12);
    /* 8 values: r_2 = 6/8 = 0.75 < 1.645 sqrt((1 + 2 (7/8)^2) / 8) = 0.925: not seasonal,
     * so the naive forecast (the last value) */
    cr_assert_eq(ntg__naive2(y, 8, 2, 2, work, f), 0);
    cr_assert(f[0] == 3 && f[1] == 3);
    /* fewer than 3m values are never seasonal (the M4 code) */
    cr_assert_eq(ntg__naive2(y, 5, 2, 1, work, f), 0);
    cr_assert(f[0] == 1);
    /* the same shape at a level of 4: 2, 6, 2, 6, ... */
    double z[24];
    for (int t = 0; t < 24; t++) z[t] = (t % 2 ? 1.5 : 0.5) * 4.0;
    cr_assert_eq(ntg__naive2(z, 24, 2, 2, work, f), 1);
    cr_assert_float_eq(f[0], 2.0, 1e-12);
    cr_assert_float_eq(f[1], 6.0, 1e-12);
}

/* sMAPE, MASE and OWA of a two-step forecast, by hand. */
Test(runtime_panel, m4_metrics_by_hand)
{
    const char *text = "unique_id,ds,y\nS,1,1\nS,2,2\nS,3,4\nS,4,1\nS,5,3\n";
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_parse(text, strlen(text), "m.csv", NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    int col = 0;
    ntg_metrics *m = NULL;
    /* in-sample 1, 2, 4: the naive scale (|2-1| + |4-2|) / 2 = 1.5 */
    cr_assert_eq(ntg__metrics_create(s, &col, 1, NULL, 3, 1, &m, &err), NTG_OK, "%s", err.message);
    double f[2] = {2, 2}, y[2] = {1, 3};
    ntg__metrics_add(m, 0, f, y, 2);
    ntg_metric_values v;
    ntg__metrics_total(m, &v);
    /* sMAPE: (200 * 1 / 3 + 200 * 1 / 5) / 2; MASE: MAE 1 / 1.5 */
    cr_assert_float_eq(v.smape, (200.0 / 3 + 40.0) / 2, 1e-9);
    cr_assert_float_eq(v.mase, 1.0 / 1.5, 1e-12);
    cr_assert_float_eq(ntg__owa(v.smape, v.mase, 80.0, 4.0 / 3), 0.5 * (2.0 / 3 + 0.5), 1e-12);
    ntg__metrics_free(m);

    /* Naive2 scored on the test split (the last 2 rows): 1, 2, 4 is too short to be
     * seasonal at m = 1, so it forecasts 4, 4: sMAPE (200 * 3 / 5 + 200 * 1 / 7) / 2 */
    ntg_split sp;
    cr_assert_eq(ntg__split_parse("rest,0,2", s->n_rows, &sp, &err), NTG_OK);
    ntg_windows w;
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TEST, 3, 2, &col, 1, &w, &err), NTG_OK);
    cr_assert_eq(ntg__windows_panel(&w, s, NULL, &err), NTG_OK);
    cr_assert_eq(ntg__metrics_create(s, &col, 1, NULL, 3, 1, &m, &err), NTG_OK);
    cr_assert_eq(ntg__naive2_score(s, &w, 1, m, &err), NTG_OK, "%s", err.message);
    ntg__metrics_total(m, &v);
    cr_assert_float_eq(v.smape, (120.0 + 200.0 / 7) / 2, 1e-9);
    cr_assert_float_eq(v.mase, 2.0 / 1.5, 1e-12);
    ntg__metrics_free(m);
    ntg__series_free(s);
}

/* Naive2 on all of M4 Hourly (data/m4-hourly.csv.gz: 414 series, the last 48 values of each
 * the test) scores the competition's official Naive2 numbers, sMAPE 18.383 and MASE 2.395
 * (m = 24). */
Test(runtime_panel, naive2_reproduces_the_official_m4_hourly_scores)
{
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_read(tu_src("data/m4-hourly.csv.gz"), NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(s->n_cols, 414);
    cr_assert_eq(s->n_rows, 1008);
    int *cols = malloc(414 * sizeof *cols);
    for (int c = 0; c < 414; c++) cols[c] = c;
    ntg_split sp;
    cr_assert_eq(ntg__split_parse("rest,0,48", s->n_rows, &sp, &err), NTG_OK);
    ntg_windows w;
    /* input_size 1: every series has one test window, Naive2 sees its whole train part */
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TEST, 1, 48, cols, 414, &w, &err), NTG_OK);
    cr_assert_eq(ntg__windows_panel(&w, s, NULL, &err), NTG_OK);
    cr_assert_eq(ntg__windows_count(&w), 414);
    ntg_metrics *m = NULL;
    cr_assert_eq(ntg__metrics_create(s, cols, 414, NULL, sp.train, 24, &m, &err), NTG_OK);
    cr_assert_eq(ntg__naive2_score(s, &w, 24, m, &err), NTG_OK, "%s", err.message);
    ntg_metric_values v;
    ntg__metrics_total(m, &v);
    cr_assert_float_eq(v.smape, 18.383, 5e-4, "sMAPE %.6f", v.smape);
    cr_assert_float_eq(v.mase, 2.395, 5e-4, "MASE %.6f", v.mase);
    cr_assert_eq(v.n_mase_cols, 414);
    ntg__metrics_free(m);
    free(cols);
    ntg__series_free(s);
}

Test(runtime_panel, split_rest_counts_from_the_end)
{
    ntg_split sp;
    ntg_error err;
    cr_assert_eq(ntg__split_parse(" rest , 3 , 2 ", 10, &sp, &err), NTG_OK, "%s", err.message);
    cr_assert(sp.train == 5 && sp.val == 3 && sp.test == 2);
    cr_assert_eq(ntg__split_parse("rest,5,5", 10, &sp, &err), NTG_ERR_INVALID_ARG);
    cr_assert_str_eq(err.message,
                     "split 'rest,5,5': 5 + 5 val and test rows leave no train row of the 10");
    cr_assert_eq(ntg__split_parse("rest,0.1,0.2", 10, &sp, &err), NTG_ERR_INVALID_ARG);
    cr_assert_str_eq(err.message,
                     "split 'rest,0.1,0.2': 'rest' takes row counts for val and test (e.g. "
                     "'rest,48,48')");
    cr_assert_eq(ntg__split_parse("rest,2", 10, &sp, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "2 parts, expected three"), "%s", err.message);
}
