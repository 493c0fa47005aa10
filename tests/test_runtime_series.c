/* test_runtime_series.c — splits, windows, scalers, batches, sampling, metrics. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "series.h"
#include "testutil.h"

/* ------------------------------------------------------------------ helpers */

/* A wide series of n_rows rows and n_cols columns named c0, c1, ... whose values
 * are given column-major (NULL: value r + 100 c). */
static ntg_series *make_series(size_t n_rows, size_t n_cols, const double *vals)
{
    size_t cap = 64 + n_rows * (20 + n_cols * 32);
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t len = (size_t)snprintf(text, cap, "date");
    for (size_t c = 0; c < n_cols; c++) len += (size_t)snprintf(text + len, cap - len, ",c%zu", c);
    len += (size_t)snprintf(text + len, cap - len, "\n");
    for (size_t r = 0; r < n_rows; r++) {
        len +=
            (size_t)snprintf(text + len, cap - len, "2020-01-%02zu %02zu:00", 1 + r / 24, r % 24);
        for (size_t c = 0; c < n_cols; c++) {
            double v = vals ? vals[c * n_rows + r] : (double)r + 100.0 * (double)c;
            len += (size_t)snprintf(text + len, cap - len, ",%.17g", v);
        }
        len += (size_t)snprintf(text + len, cap - len, "\n");
    }
    ntg_series *s = NULL;
    ntg_error err;
    ntg_status st = ntg__csv_parse(text, len, "t.csv", NULL, &s, &err);
    free(text);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    cr_assert_eq(s->n_rows, n_rows);
    cr_assert_eq(s->n_cols, n_cols);
    return s;
}

static ntg_split split_ok(const char *spec, size_t n)
{
    ntg_split sp;
    ntg_error err;
    ntg_status st = ntg__split_parse(spec, n, &sp, &err);
    cr_assert_eq(st, NTG_OK, "%s: %s", spec, err.message);
    return sp;
}

static void split_refused(const char *spec, size_t n, const char *needle)
{
    ntg_split sp;
    ntg_error err;
    ntg_status st = ntg__split_parse(spec, n, &sp, &err);
    cr_assert_eq(st, NTG_ERR_INVALID_ARG, "'%s' accepted", spec);
    cr_assert(strstr(err.message, spec) != NULL, "message does not name the spec: %s", err.message);
    cr_assert(strstr(err.message, needle) != NULL, "'%s': wanted '%s' in: %s", spec, needle,
              err.message);
}

static void close_to(double got, double want, double tol, const char *what)
{
    cr_assert(fabs(got - want) <= tol * fmax(1.0, fabs(want)), "%s: %.17g, wanted %.17g", what, got,
              want);
}

/* ------------------------------------------------------------------- splits */

Test(runtime, series_split_row_counts)
{
    ntg_split sp = split_ok("8640,2880,2880", 17420);
    cr_assert_eq(sp.train, 8640);
    cr_assert_eq(sp.val, 2880);
    cr_assert_eq(sp.test, 2880);
    sp = split_ok(" 10 , 5,5 ", 20);
    cr_assert(sp.train == 10 && sp.val == 5 && sp.test == 5);
    sp = split_ok("20,0,0", 20);
    cr_assert(sp.train == 20 && sp.val == 0 && sp.test == 0);
    size_t b0, b1;
    sp = split_ok("8640,2880,2880", 17420);
    ntg__split_bounds(&sp, NTG_SPLIT_TEST, &b0, &b1);
    cr_assert(b0 == 11520 && b1 == 14400);
    ntg__split_bounds(&sp, NTG_SPLIT_VAL, &b0, &b1);
    cr_assert(b0 == 8640 && b1 == 11520);
}

Test(runtime, series_split_fractions_follow_autoformer)
{
    /* int(n * 0.7), int(n * 0.2), the rest to val (Autoformer's Dataset_Custom) */
    ntg_split sp = split_ok("0.7,0.1,0.2", 17420);
    cr_assert(sp.train == 12194 && sp.val == 1742 && sp.test == 3484, "%zu %zu %zu", sp.train,
              sp.val, sp.test);
    sp = split_ok("0.7,0.1,0.2", 52696); /* weather: data/README.md's 36887 / 5270 / 10539 */
    cr_assert(sp.train == 36887 && sp.val == 5270 && sp.test == 10539, "%zu %zu %zu", sp.train,
              sp.val, sp.test);
    sp = split_ok("0.7,0.1,0.2", 7588); /* exchange_rate */
    cr_assert(sp.train == 5311 && sp.val == 760 && sp.test == 1517);
    sp = split_ok("0.7,0.1,0.2", 966); /* national_illness */
    cr_assert(sp.train == 676 && sp.val == 97 && sp.test == 193);
    /* fractions that sum to less than 1 leave the last rows unused */
    sp = split_ok("0.6,0.2,0.1", 17420);
    cr_assert(sp.train == 10452 && sp.val == 3484 && sp.test == 1742, "%zu %zu %zu", sp.train,
              sp.val, sp.test);
    sp = split_ok("1.0,0.,0.0", 10);
    cr_assert(sp.train == 10 && sp.val == 0 && sp.test == 0);
    sp = split_ok("7e-1,.1,2E-1", 100);
    cr_assert(sp.train == 70 && sp.val == 10 && sp.test == 20);
}

Test(runtime, series_split_errors_name_the_spec)
{
    split_refused("8640,2880", 17420, "expected three");
    split_refused("1,2,3,4", 17420, "more than three");
    split_refused("a,b,c", 17420, "train part 'a' is not a row count");
    split_refused("10,,5", 17420, "val part is empty");
    split_refused("0.7,0.2,0.2", 17420, "sum to");
    split_refused("10000,5000,5000", 17420, "only 17420");
    split_refused("0.7,2880,0.2", 17420, "mixes row counts and fractions");
    split_refused("1.5,0.,0.", 17420, "not a fraction in [0, 1]");
    split_refused("-1,2,3", 17420, "not a row count");
    split_refused("0.7,0.1,nan", 17420, "test part 'nan'");
    split_refused("99999999999999999999999,1,1", 17420, "too large");
    ntg_split sp;
    cr_assert_eq(ntg__split_parse(NULL, 10, &sp, NULL), NTG_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------------ windows */

static ntg_windows windows_ok(const ntg_split *sp, ntg_split_part part, size_t L, size_t h,
                              const int *cols, size_t n_cols)
{
    ntg_windows w;
    ntg_error err;
    ntg_status st = ntg__windows_make(sp, part, L, h, cols, n_cols, &w, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    return w;
}

Test(runtime, series_windows_small_split)
{
    /* n = 20, L = 4, h = 2, split 10,5,5:
     *   train: s in [4, 8]   (inputs [0, 4) .. [4, 8), targets up to row 9)  5 starts
     *   val:   s in [10, 13] (first input [6, 10): looks back into train)    4 starts
     *   test:  s in [15, 18] (first input [11, 15) ends where val ends)     4 starts */
    ntg_split sp = split_ok("10,5,5", 20);
    int cols[2] = {0, 1};
    ntg_windows w = windows_ok(&sp, NTG_SPLIT_TRAIN, 4, 2, cols, 2);
    cr_assert_eq(w.first_start, 4);
    cr_assert_eq(w.n_starts, 5);
    cr_assert_eq(ntg__windows_count(&w), 10);
    size_t j, s;
    ntg__windows_at(&w, 4, &j, &s);
    cr_assert(j == 0 && s == 8);
    ntg__windows_at(&w, 5, &j, &s); /* column-major: the second column starts over */
    cr_assert(j == 1 && s == 4);
    ntg__windows_at(&w, 9, &j, &s);
    cr_assert(j == 1 && s == 8);

    w = windows_ok(&sp, NTG_SPLIT_VAL, 4, 2, cols, 2);
    cr_assert_eq(w.first_start, 10);
    cr_assert_eq(w.n_starts, 4);
    cr_assert_eq(ntg__windows_count(&w), 8);
    cr_assert_eq(w.first_start - w.L, 6, "the first val window looks back into train");

    w = windows_ok(&sp, NTG_SPLIT_TEST, 4, 2, cols, 1);
    cr_assert_eq(w.first_start, 15);
    cr_assert_eq(w.n_starts, 4);
    cr_assert_eq(w.first_start + w.n_starts - 1 + w.h, 20, "the last target is the last row");
    cr_assert_eq(w.first_start - w.L, 11);

    /* look-back never reaches before row 0: val starts at max(b0, L) */
    sp = split_ok("2,10,8", 20);
    w = windows_ok(&sp, NTG_SPLIT_VAL, 4, 2, cols, 1);
    cr_assert_eq(w.first_start, 4);
    cr_assert_eq(w.n_starts, 7); /* 4 .. 10 */
}

Test(runtime, series_windows_errors_name_the_split)
{
    ntg_split sp = split_ok("5,1,14", 20);
    int cols[1] = {0};
    ntg_windows w;
    ntg_error err;
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TRAIN, 4, 2, cols, 1, &w, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "train split: no window fits: 5 rows") != NULL, "%s",
              err.message);
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_VAL, 4, 2, cols, 1, &w, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "val split: no window fits: rows [5, 6) hold 1") != NULL, "%s",
              err.message);
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TEST, 4, 2, cols, 1, &w, &err), NTG_OK);
    sp = split_ok("10,10,0", 20);
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TEST, 4, 2, cols, 1, &w, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "test split") != NULL, "%s", err.message);
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TRAIN, 0, 2, cols, 1, &w, &err),
                 NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg__windows_make(&sp, NTG_SPLIT_TRAIN, 4, 2, cols, 0, &w, &err),
                 NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg__windows_forecast(3, 4, 2, cols, 1, &w, &err), NTG_ERR_DATA);
    cr_assert_eq(ntg__windows_forecast(20, 4, 2, cols, 1, &w, &err), NTG_OK);
    cr_assert(w.first_start == 20 && w.n_starts == 1);
}

/* ------------------------------------------------------------------ scalers */

Test(runtime, series_zscore_uses_train_rows_only)
{
    double vals[40];
    for (int r = 0; r < 20; r++) {
        vals[r] = (double)(r * r % 7);
        vals[20 + r] = 5.0; /* constant */
    }
    ntg_series *s = make_series(20, 2, vals);
    ntg_scaler *g = NULL;
    ntg_error err;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, NULL, 0, 10, &g, &err), NTG_OK, "%s",
                 err.message);
    /* rows 0..9 of column 0: 0 1 4 2 2 4 1 0 1 4: mean 1.9, population var 2.29 */
    close_to(g->mean[0], 1.9, 1e-15, "mean");
    close_to(g->std[0], sqrt(2.29), 1e-15, "std");
    cr_assert_eq(g->mean[1], 5.0);
    cr_assert_eq(g->std[1], 1.0, "a constant column scales by 1");
    cr_assert_str_eq(g->names[1], "c1");
    double m0 = g->mean[0], s0 = g->std[0];
    ntg__scaler_free(g);

    /* changing val and test rows changes nothing */
    s->values[15] = 1e6;
    s->values[10] = -3;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, NULL, 0, 10, &g, &err), NTG_OK);
    cr_assert_eq(g->mean[0], m0);
    cr_assert_eq(g->std[0], s0);
    close_to(ntg__scaler_invert(g, 0, ntg__scaler_apply(g, 0, 3.25)), 3.25, 1e-15, "round trip");
    ntg__scaler_free(g);

    /* a column subset, and NONE */
    int cols[1] = {1};
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_NONE, cols, 1, 10, &g, &err), NTG_OK);
    cr_assert(g->n_cols == 1 && g->mean[0] == 0.0 && g->std[0] == 1.0);
    cr_assert_str_eq(g->names[0], "c1");
    ntg__scaler_free(g);

    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, NULL, 0, 21, &g, &err), NTG_ERR_INVALID_ARG);
    cr_assert_null(g);
    cols[0] = 2;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, cols, 1, 10, &g, &err), NTG_ERR_INVALID_ARG);
    ntg__series_free(s);
}

Test(runtime, series_window_stats_follow_neuralforecast)
{
    const double eps = NTG_WSCALER_EPS;
    double work[8], loc, sc;
    const double a[4] = {1, 2, 3, 4};
    ntg__window_stats(NTG_WSCALER_STANDARD, a, 4, NULL, &loc, &sc);
    cr_assert_eq(loc, 2.5);
    close_to(sc, sqrt(1.25) + eps, 1e-15, "standard: population std + eps");
    ntg__window_stats(NTG_WSCALER_ROBUST, a, 4, work, &loc, &sc);
    cr_assert_eq(loc, 2.0, "robust: the lower median, as torch.nanmedian");
    cr_assert_eq(sc, 1.0 + eps, "MAD: lower median of 0 1 1 2");
    ntg__window_stats(NTG_WSCALER_MINMAX, (const double[]){2, -1, 5}, 3, NULL, &loc, &sc);
    cr_assert_eq(loc, -1.0);
    cr_assert_eq(sc, 6.0 + eps);
    ntg__window_stats(NTG_WSCALER_IDENTITY, a, 4, NULL, &loc, &sc);
    cr_assert(loc == 0.0 && sc == 1.0);
    /* a zero MAD falls back to 0.6744897501960817 * std */
    const double b[4] = {5, 5, 5, 9};
    ntg__window_stats(NTG_WSCALER_ROBUST, b, 4, work, &loc, &sc);
    cr_assert_eq(loc, 5.0);
    close_to(sc, sqrt(3.0) * 0.6744897501960817 + eps, 1e-15, "MAD fallback");
    /* constant windows: every scale is 1 + eps, loc the value */
    const double c[3] = {0.1, 0.1, 0.1};
    for (int k = NTG_WSCALER_STANDARD; k <= NTG_WSCALER_MINMAX; k++) {
        ntg__window_stats((ntg_window_scaler)k, c, 3, work, &loc, &sc);
        cr_assert_eq(loc, 0.1, "%s", ntg__window_scaler_name((ntg_window_scaler)k));
        cr_assert_eq(sc, 1.0 + eps, "%s", ntg__window_scaler_name((ntg_window_scaler)k));
    }
}

Test(runtime, series_window_scalers_round_trip)
{
    tu_rng rng = {42};
    double x[64], work[64];
    for (int trial = 0; trial < 4; trial++) {
        size_t n = trial == 0 ? 1 : (size_t)(7 + 19 * trial);
        for (size_t i = 0; i < n; i++)
            x[i] = trial == 3 ? -7.25 : tu_uniform(&rng, -50.0, 300.0); /* trial 3: constant */
        for (int k = NTG_WSCALER_IDENTITY; k <= NTG_WSCALER_MINMAX; k++) {
            double loc, sc;
            ntg__window_stats((ntg_window_scaler)k, x, n, work, &loc, &sc);
            cr_assert(isfinite(loc) && sc > 0.0);
            for (size_t i = 0; i < n; i++) {
                double z = (x[i] - loc) / sc, back = z * sc + loc;
                cr_assert(fabs(back - x[i]) <= 1e-12 * fmax(1.0, fabs(x[i])),
                          "%s n=%zu: %.17g -> %.17g", ntg__window_scaler_name((ntg_window_scaler)k),
                          n, x[i], back);
            }
        }
    }
}

Test(runtime, series_scaler_names_parse)
{
    ntg_window_scaler w;
    ntg_scaler_kind k;
    ntg_error err;
    const char *names[] = {"identity", "standard", "robust", "minmax"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ntg__window_scaler_parse(names[i], &w, &err), NTG_OK);
        cr_assert_eq((int)w, i);
        cr_assert_str_eq(ntg__window_scaler_name(w), names[i]);
    }
    cr_assert_eq(ntg__window_scaler_parse("revin", &w, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "'revin'") && strstr(err.message, "robust"), "%s", err.message);
    cr_assert_eq(ntg__scaler_parse("zscore", &k, &err), NTG_OK);
    cr_assert_eq(k, NTG_SCALER_ZSCORE);
    cr_assert_eq(ntg__scaler_parse("minmax", &k, &err), NTG_ERR_INVALID_ARG);
}

Test(runtime, series_scaler_meta_round_trip)
{
    double vals[60];
    tu_rng rng = {7};
    for (int i = 0; i < 60; i++) vals[i] = tu_uniform(&rng, -3.0, 1e4);
    ntg_series *s = make_series(20, 3, vals);
    ntg_scaler *g = NULL, *back = NULL;
    ntg_error err;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, NULL, 0, 12, &g, &err), NTG_OK);
    ntg_pool *pool = ntg__pool_create();
    const char *keys[NTG_SCALER_META_KEYS], *vals_m[NTG_SCALER_META_KEYS];
    cr_assert_eq(ntg__scaler_to_meta(g, NTG_WSCALER_ROBUST, pool, keys, vals_m, &err), NTG_OK);
    cr_assert_str_eq(keys[0], "scaler.kind");
    cr_assert_str_eq(vals_m[0], "zscore");
    cr_assert_str_eq(vals_m[1], "robust");
    cr_assert_str_eq(keys[2], "scaler.columns");
    cr_assert_str_eq(vals_m[2], "[\"c0\", \"c1\", \"c2\"]");
    cr_assert_str_eq(keys[3], "scaler.mean");
    cr_assert_str_eq(keys[4], "scaler.std");
    ntg_window_scaler w = NTG_WSCALER_IDENTITY;
    cr_assert_eq(ntg__scaler_from_meta(keys, vals_m, NTG_SCALER_META_KEYS, &back, &w, &err), NTG_OK,
                 "%s", err.message);
    cr_assert_eq(w, NTG_WSCALER_ROBUST);
    cr_assert_eq(back->kind, NTG_SCALER_ZSCORE);
    cr_assert_eq(back->n_cols, 3);
    for (size_t j = 0; j < 3; j++) {
        cr_assert_str_eq(back->names[j], g->names[j]);
        cr_assert_eq(back->mean[j], g->mean[j], "mean %zu not bit-exact", j);
        cr_assert_eq(back->std[j], g->std[j], "std %zu not bit-exact", j);
    }
    ntg__scaler_free(back);

    /* names that need escaping survive; unrelated keys are ignored */
    g->names[1] = "p (\"mbar\"), \\x";
    cr_assert_eq(ntg__scaler_to_meta(g, NTG_WSCALER_IDENTITY, pool, keys, vals_m, &err), NTG_OK);
    const char *k7[7] = {"model.name", keys[4], keys[3], keys[2], keys[1], keys[0], "hparam.h"};
    const char *v7[7] = {"nhits", vals_m[4], vals_m[3], vals_m[2], vals_m[1], vals_m[0], "96"};
    cr_assert_eq(ntg__scaler_from_meta(k7, v7, 7, &back, &w, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(back->names[1], "p (\"mbar\"), \\x");
    cr_assert_eq(w, NTG_WSCALER_IDENTITY);
    ntg__scaler_free(back);

    /* what is wrong is named */
    cr_assert_eq(ntg__scaler_from_meta(k7, v7, 6, &back, &w, &err), NTG_OK);
    ntg__scaler_free(back);
    cr_assert_eq(ntg__scaler_from_meta(k7 + 1, v7 + 1, 3, &back, &w, &err), NTG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "no 'scaler.kind'") != NULL, "%s", err.message);
    cr_assert_null(back);
    v7[1] = "[1, 0]";
    cr_assert_eq(ntg__scaler_from_meta(k7, v7, 7, &back, &w, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "3 scaler columns but 3 means and 2 stds") != NULL, "%s",
              err.message);
    v7[1] = "[1, 0, 2]";
    cr_assert_eq(ntg__scaler_from_meta(k7, v7, 7, &back, &w, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "std must be positive") != NULL, "%s", err.message);
    v7[1] = "[1, 2";
    cr_assert_eq(ntg__scaler_from_meta(k7, v7, 7, &back, &w, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "metadata 'scaler.std'") != NULL, "%s", err.message);
    v7[1] = vals_m[4];
    v7[5] = "minmax";
    cr_assert_eq(ntg__scaler_from_meta(k7, v7, 7, &back, &w, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "'scaler.kind'") != NULL, "%s", err.message);

    ntg__pool_destroy(pool);
    ntg__scaler_free(g);
    ntg__series_free(s);
}

Test(runtime, series_scaler_select_binds_columns_by_name)
{
    ntg_series *s = make_series(20, 3, NULL);
    ntg_scaler *g = NULL, *sel = NULL;
    ntg_error err;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, NULL, 0, 10, &g, &err), NTG_OK);
    const char *want[2] = {"c2", "c0"};
    int cols[3] = {-1, -1, -1};
    cr_assert_eq(ntg__scaler_select(g, s, want, 2, cols, &sel, &err), NTG_OK, "%s", err.message);
    cr_assert(cols[0] == 2 && cols[1] == 0);
    cr_assert_eq(sel->mean[0], g->mean[2]);
    cr_assert_eq(sel->std[1], g->std[0]);
    ntg__scaler_free(sel);
    cr_assert_eq(ntg__scaler_select(g, s, NULL, 0, cols, &sel, &err), NTG_OK);
    cr_assert(sel->n_cols == 3 && cols[2] == 2);
    ntg__scaler_free(sel);
    const char *bad[1] = {"OT"};
    cr_assert_eq(ntg__scaler_select(g, s, bad, 1, cols, &sel, &err), NTG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "'OT'") != NULL, "%s", err.message);
    cr_assert_null(sel);
    ntg__scaler_free(g);
    ntg__series_free(s);
}

/* ------------------------------------------------------------------ batches */

Test(runtime, series_windows_fill_by_hand)
{
    /* column 0 holds r, column 1 holds r + 100 (rows 0..19) */
    ntg_series *s = make_series(20, 2, NULL);
    ntg_split sp = split_ok("10,5,5", 20);
    int cols[2] = {0, 1};
    ntg_windows w = windows_ok(&sp, NTG_SPLIT_TRAIN, 4, 2, cols, 2);
    ntg_error err;
    float x[2 * 4], t[2 * 2], loc[2], scale[2];

    /* window 2 = (column 0, start 6): inputs 2 3 4 5, targets 6 7; window 6 =
     * (column 1, start 5): inputs 101..104, targets 105 106.  No global scaler,
     * standard window scaler: mean 3.5 (102.5), std sqrt(1.25) + 1e-6. */
    uint64_t idx[2] = {2, 6};
    cr_assert_eq(
        ntg__windows_fill(s, NULL, NTG_WSCALER_STANDARD, &w, idx, 2, x, t, loc, scale, &err),
        NTG_OK, "%s", err.message);
    double sd = sqrt(1.25) + 1e-6;
    const double want_x[4] = {-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd};
    for (int r = 0; r < 4; r++) {
        cr_assert_eq(x[r], (float)want_x[r], "x[%d] = %.9g", r, (double)x[r]);
        cr_assert_eq(x[4 + r], (float)want_x[r], "x[4 + %d] = %.9g", r, (double)x[4 + r]);
    }
    cr_assert_eq(t[0], (float)(2.5 / sd));
    cr_assert_eq(t[1], (float)(3.5 / sd));
    cr_assert_eq(t[3], (float)(3.5 / sd));
    cr_assert(loc[0] == 3.5f && loc[1] == 102.5f);
    cr_assert(scale[0] == (float)sd && scale[1] == (float)sd);

    /* with the global z-score (train rows 0..9: mean 4.5, population std
     * sqrt(8.25); column 1: 104.5), identity window scaler */
    ntg_scaler *g = NULL;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, cols, 2, 10, &g, &err), NTG_OK);
    close_to(g->std[0], sqrt(8.25), 1e-15, "std");
    cr_assert_eq(ntg__windows_fill(s, g, NTG_WSCALER_IDENTITY, &w, idx, 2, x, t, loc, scale, &err),
                 NTG_OK);
    for (int r = 0; r < 4; r++)
        cr_assert_eq(x[r], (float)(((double)(2 + r) - 4.5) / sqrt(8.25)), "x[%d]", r);
    cr_assert_eq(t[2], (float)((105.0 - 104.5) / sqrt(8.25)));
    cr_assert(loc[0] == 0.0f && scale[0] == 1.0f);

    /* both: invert the targets back to the globally scaled and original values */
    cr_assert_eq(ntg__windows_fill(s, g, NTG_WSCALER_ROBUST, &w, idx, 2, x, t, loc, scale, &err),
                 NTG_OK);
    double z[4], o[4];
    ntg__windows_invert(g, &w, idx, 2, loc, scale, t, 2, z, o);
    close_to(o[0], 6.0, 1e-6, "orig 0");
    close_to(o[1], 7.0, 1e-6, "orig 1");
    close_to(o[2], 105.0, 1e-6, "orig 2");
    close_to(o[3], 106.0, 1e-6, "orig 3");
    close_to(z[0], (6.0 - 4.5) / sqrt(8.25), 1e-6, "z 0");

    /* targets may be left out; bad indices and forecasts with targets are refused */
    cr_assert_eq(ntg__windows_fill(s, g, NTG_WSCALER_ROBUST, &w, idx, 2, x, NULL, loc, scale, &err),
                 NTG_OK);
    uint64_t bad = 10;
    cr_assert_eq(ntg__windows_fill(s, g, NTG_WSCALER_ROBUST, &w, &bad, 1, x, t, loc, scale, &err),
                 NTG_ERR_RANGE);
    cr_assert(strstr(err.message, "window 10 of 10") != NULL, "%s", err.message);
    ntg_windows fw;
    cr_assert_eq(ntg__windows_forecast(20, 4, 2, cols, 2, &fw, &err), NTG_OK);
    uint64_t f1 = 1;
    cr_assert_eq(ntg__windows_fill(s, g, NTG_WSCALER_IDENTITY, &fw, &f1, 1, x, t, loc, scale, &err),
                 NTG_ERR_RANGE);
    cr_assert(strstr(err.message, "pass no targets") != NULL, "%s", err.message);
    cr_assert_eq(
        ntg__windows_fill(s, g, NTG_WSCALER_IDENTITY, &fw, &f1, 1, x, NULL, loc, scale, &err),
        NTG_OK);
    cr_assert_eq(x[3], (float)((119.0 - 104.5) / sqrt(8.25)), "the last row of column 1");
    ntg_scaler *g1 = NULL;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, cols, 1, 10, &g1, &err), NTG_OK);
    cr_assert_eq(ntg__windows_fill(s, g1, NTG_WSCALER_IDENTITY, &w, idx, 2, x, t, loc, scale, &err),
                 NTG_ERR_SHAPE);
    ntg__scaler_free(g1);
    ntg__scaler_free(g);
    ntg__series_free(s);
}

Test(runtime, series_sampling_is_stateless_and_in_range)
{
    ntg_split sp = split_ok("100,10,10", 120);
    int cols[3] = {0, 1, 2};
    ntg_windows w = windows_ok(&sp, NTG_SPLIT_TRAIN, 8, 4, cols, 3);
    uint64_t count = ntg__windows_count(&w);
    cr_assert_eq(count, 3 * 89);
    uint64_t a[64], b[64], c[64], d[64];
    ntg__windows_sample(&w, 1234, 17, 64, a);
    ntg__windows_sample(&w, 1234, 17, 64, b);
    ntg__windows_sample(&w, 1234, 18, 64, c);
    ntg__windows_sample(&w, 1235, 17, 64, d);
    cr_assert_arr_eq(a, b, sizeof a, "same (seed, step), same windows");
    int diff_step = 0, diff_seed = 0;
    for (int i = 0; i < 64; i++) {
        cr_assert_lt(a[i], count);
        cr_assert_lt(c[i], count);
        diff_step += a[i] != c[i];
        diff_seed += a[i] != d[i];
    }
    cr_assert_gt(diff_step, 50);
    cr_assert_gt(diff_seed, 50);
    /* a prefix of a larger batch is the smaller batch: the draw depends on (seed, step, i) */
    uint64_t e[8];
    ntg__windows_sample(&w, 1234, 17, 8, e);
    cr_assert_arr_eq(a, e, sizeof e);
    /* uniform: 267 windows, 267000 draws, each about 1000 times */
    static uint64_t many[267000];
    static unsigned hits[267];
    ntg__windows_sample(&w, 9, 0, 267000, many);
    for (size_t i = 0; i < 267000; i++) hits[many[i]]++;
    for (size_t k = 0; k < 267; k++)
        cr_assert(hits[k] > 850 && hits[k] < 1150, "window %zu drawn %u times", k, hits[k]);
}

/* ------------------------------------------------------------------ metrics */

Test(runtime, series_metrics_by_hand)
{
    /* column 0: train rows 1 3 2 5 4 (mean 3, population std sqrt(2)); then 1 0 5.
     * column 1: constant train rows, so MASE is undefined there. */
    double vals[16] = {1, 3, 2, 5, 4, 1, 0, 5, 7, 7, 7, 7, 7, 7, 7, 7};
    ntg_series *s = make_series(8, 2, vals);
    int cols[2] = {0, 1};
    ntg_scaler *g = NULL;
    ntg_metrics *m = NULL;
    ntg_error err;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, cols, 2, 5, &g, &err), NTG_OK);
    cr_assert_eq(ntg__metrics_create(s, cols, 2, g, 5, 1, &m, &err), NTG_OK, "%s", err.message);
    /* m = 1: |3-1| |2-3| |5-2| |4-5| = 2 1 3 1: 7 / 4 */
    cr_assert_eq(ntg__metrics_mase_scale(m, 0), 1.75);
    cr_assert_eq(ntg__metrics_mase_scale(m, 1), 0.0);
    const double f[3] = {2, 0, 4}, y[3] = {1, 0, 5};
    ntg__metrics_add(m, 0, f, y, 3);
    ntg_metric_values v;
    ntg__metrics_column(m, 0, &v);
    cr_assert_eq(v.n, 3);
    close_to(v.mae_orig, 2.0 / 3.0, 1e-15, "mae");
    close_to(v.mse_orig, 2.0 / 3.0, 1e-15, "mse");
    close_to(v.mse, 1.0 / 3.0, 1e-15, "mse on the z-scored scale");
    close_to(v.mae, 2.0 / 3.0 / sqrt(2.0), 1e-15, "mae on the z-scored scale");
    /* MAPE skips the zero truth: (100 + 20) / 2 */
    close_to(v.mape, 60.0, 1e-15, "mape");
    cr_assert_eq(v.n_mape_skipped, 1);
    /* sMAPE: 200/3, 0 (0/0), 200/9 over 3 */
    close_to(v.smape, (200.0 / 3.0 + 200.0 / 9.0) / 3.0, 1e-15, "smape");
    close_to(v.mase, (2.0 / 3.0) / 1.75, 1e-15, "mase m=1");
    ntg__metrics_free(m);

    /* m = 2: |2-1| |5-3| |4-2| = 5 / 3 */
    cr_assert_eq(ntg__metrics_create(s, cols, 2, g, 5, 2, &m, &err), NTG_OK);
    close_to(ntg__metrics_mase_scale(m, 0), 5.0 / 3.0, 1e-15, "scale m=2");
    ntg__metrics_add(m, 0, f, y, 3);
    const double f1[2] = {8, 7}, y1[2] = {7, 7};
    ntg__metrics_add(m, 1, f1, y1, 2);
    ntg__metrics_column(m, 0, &v);
    close_to(v.mase, 0.4, 1e-15, "mase m=2");
    ntg__metrics_column(m, 1, &v);
    cr_assert(isnan(v.mase), "MASE of a constant train column is undefined");
    cr_assert_eq(v.n_mase_cols, 0);
    /* overall: every pair pooled; MASE the mean over columns that have one */
    ntg__metrics_total(m, &v);
    cr_assert_eq(v.n, 5);
    close_to(v.mae_orig, 3.0 / 5.0, 1e-15, "total mae");
    close_to(v.mse, (2.0 / 2.0 + 1.0 / 1.0) / 5.0, 1e-15, "total z mse (std 1 for column 1)");
    close_to(v.mape, (100.0 + 20.0 + 100.0 / 7.0) / 4.0, 1e-15, "total mape");
    cr_assert_eq(v.n_mape_skipped, 1);
    close_to(v.mase, 0.4, 1e-15, "total mase");
    cr_assert_eq(v.n_mase_cols, 1);
    ntg__metrics_free(m);

    cr_assert_eq(ntg__metrics_create(s, cols, 2, g, 5, 0, &m, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg__metrics_create(s, cols, 2, g, 5, 5, &m, &err), NTG_ERR_INVALID_ARG);
    cr_assert_null(m);
    ntg__scaler_free(g);
    ntg__series_free(s);
}

Test(runtime, series_metrics_seasonal_mase_and_windows)
{
    /* y_t = t % 24 + t / 2 over 72 rows: the 24-step difference is always 12;
     * the 1-step difference is 1.5, except 22.5 where the day wraps */
    double vals[72];
    for (int t = 0; t < 72; t++) vals[t] = (double)(t % 24) + 0.5 * t;
    ntg_series *s = make_series(72, 1, vals);
    int cols[1] = {0};
    ntg_metrics *m = NULL;
    ntg_error err;
    cr_assert_eq(ntg__metrics_create(s, cols, 1, NULL, 48, 24, &m, &err), NTG_OK);
    close_to(ntg__metrics_mase_scale(m, 0), 12.0, 1e-15, "m = 24");
    ntg__metrics_free(m);
    cr_assert_eq(ntg__metrics_create(s, cols, 1, NULL, 48, 1, &m, &err), NTG_OK);
    close_to(ntg__metrics_mase_scale(m, 0), (46 * 1.5 + 22.5) / 47.0, 1e-15, "m = 1");

    /* add_windows reads the truths from the series: a forecast of truth + 1 */
    ntg_split sp = split_ok("48,12,12", 72);
    ntg_windows w = windows_ok(&sp, NTG_SPLIT_TEST, 24, 6, cols, 1);
    cr_assert_eq(ntg__windows_count(&w), 7);
    uint64_t idx[7];
    double f[7 * 6];
    for (uint64_t k = 0; k < 7; k++) {
        idx[k] = k;
        for (size_t r = 0; r < 6; r++) f[k * 6 + r] = vals[60 + k + r] + 1.0;
    }
    cr_assert_eq(ntg__metrics_add_windows(m, &w, idx, 7, f, &err), NTG_OK, "%s", err.message);
    ntg_metric_values v;
    ntg__metrics_total(m, &v);
    cr_assert_eq(v.n, 42);
    close_to(v.mae_orig, 1.0, 1e-15, "mae");
    close_to(v.mse, 1.0, 1e-15, "mse without a scaler");
    close_to(v.mase, 47.0 / 91.5, 1e-15, "mase");
    int other[1] = {0};
    ntg_windows w2 = w;
    w2.cols = other;
    w2.n_cols = 1;
    cr_assert_eq(ntg__metrics_add_windows(m, &w2, idx, 1, f, &err), NTG_OK);
    ntg_windows fw;
    cr_assert_eq(ntg__windows_forecast(72, 24, 6, cols, 1, &fw, &err), NTG_OK);
    cr_assert_eq(ntg__metrics_add_windows(m, &fw, idx, 1, f, &err), NTG_ERR_RANGE);
    ntg__metrics_free(m);
    ntg__series_free(s);
}

/* ------------------------------------------------------------------- ETTh1 */

Test(runtime, series_etth1_protocol)
{
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_read(tu_src("data/ETTh1.csv"), NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(s->n_cols, 7);
    ntg_split sp = split_ok("8640,2880,2880", s->n_rows);
    int cols[7] = {0, 1, 2, 3, 4, 5, 6};
    /* L = h = 96: train starts 96 .. 8640 - 96 = 8544 (8449 per column); val
     * 8640 .. 11520 - 96 = 11424 and test 11520 .. 14400 - 96 = 14304 (2785 each,
     * Informer's len(data_test) for pred_len 96) */
    ntg_windows w = windows_ok(&sp, NTG_SPLIT_TRAIN, 96, 96, cols, 7);
    cr_assert(w.first_start == 96 && w.n_starts == 8449);
    cr_assert_eq(w.first_start + w.n_starts - 1, 8544);
    cr_assert_eq(ntg__windows_count(&w), 7 * 8449);
    w = windows_ok(&sp, NTG_SPLIT_VAL, 96, 96, cols, 7);
    cr_assert(w.first_start == 8640 && w.n_starts == 2785);
    w = windows_ok(&sp, NTG_SPLIT_TEST, 96, 96, cols, 7);
    cr_assert(w.first_start == 11520 && w.n_starts == 2785);
    cr_assert_eq(w.first_start + w.n_starts - 1, 14304);
    cr_assert_eq(w.first_start - w.L, 11424, "the first test input starts inside val");

    ntg_scaler *g = NULL;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, cols, 7, sp.train, &g, &err), NTG_OK);
    int ot = ntg__series_find(s, "OT");
    cr_assert_eq(ot, 6);
    cr_assert_str_eq(g->names[6], "OT");
    const double *v = s->values + (size_t)ot * s->n_rows;
    double sum = 0, ss = 0;
    for (size_t r = 0; r < 8640; r++) sum += v[r];
    double mean = sum / 8640;
    for (size_t r = 0; r < 8640; r++) ss += (v[r] - mean) * (v[r] - mean);
    close_to(g->mean[6], mean, 1e-14, "OT mean");
    close_to(g->std[6], sqrt(ss / 8640), 1e-14, "OT std");
    /* the same numbers from numpy: mean 17.1282616982271, std 9.176491024944383 */
    close_to(g->mean[6], 17.1282616982271, 1e-13, "OT mean (numpy)");
    close_to(g->std[6], 9.176491024944383, 1e-13, "OT std (numpy)");

    /* a whole test pass of the persistence forecast ("the last input value")
     * scores the same through the windows and by hand */
    ntg_metrics *m = NULL;
    cr_assert_eq(ntg__metrics_create(s, cols, 7, g, sp.train, 24, &m, &err), NTG_OK);
    size_t B = 256;
    uint64_t *idx = malloc(B * sizeof *idx);
    float *x = malloc(B * 96 * sizeof *x), *t = malloc(B * 96 * sizeof *t);
    float *loc = malloc(B * sizeof *loc), *scale = malloc(B * sizeof *scale);
    float *y = malloc(B * 96 * sizeof *y);
    double *fo = malloc(B * 96 * sizeof *fo);
    double se = 0;
    uint64_t count = ntg__windows_count(&w);
    for (uint64_t k0 = 0; k0 < count; k0 += B) {
        size_t n = (size_t)(count - k0 < B ? count - k0 : B);
        for (size_t i = 0; i < n; i++) idx[i] = k0 + i;
        cr_assert_eq(
            ntg__windows_fill(s, g, NTG_WSCALER_STANDARD, &w, idx, n, x, t, loc, scale, &err),
            NTG_OK, "%s", err.message);
        for (size_t i = 0; i < n; i++)
            for (size_t r = 0; r < 96; r++) y[i * 96 + r] = x[i * 96 + 95];
        ntg__windows_invert(g, &w, idx, n, loc, scale, y, 96, NULL, fo);
        cr_assert_eq(ntg__metrics_add_windows(m, &w, idx, n, fo, &err), NTG_OK);
        for (size_t i = 0; i < n; i++) {
            size_t j, st;
            ntg__windows_at(&w, idx[i], &j, &st);
            const double *col = s->values + j * s->n_rows;
            double last = (col[st - 1] - g->mean[j]) / g->std[j];
            for (size_t r = 0; r < 96; r++) {
                double d = last - (col[st + r] - g->mean[j]) / g->std[j];
                se += d * d;
            }
        }
    }
    ntg_metric_values tot;
    ntg__metrics_total(m, &tot);
    cr_assert_eq(tot.n, count * 96);
    close_to(tot.mse, se / (double)(count * 96), 1e-5, "persistence MSE");
    free(idx);
    free(x);
    free(t);
    free(loc);
    free(scale);
    free(y);
    free(fo);
    ntg__metrics_free(m);
    ntg__scaler_free(g);
    ntg__series_free(s);
}

/* Values no float32 model can take are refused by name (column, row, date) before a
 * run, not turned into inf inputs; the check reads exactly the rows the windows read. */
Test(runtime, series_windows_check_refuses_values_beyond_float)
{
    double vals[40];
    for (int r = 0; r < 20; r++) {
        vals[r] = r;
        vals[20 + r] = 100 + r;
    }
    vals[20 + 13] = -1e300; /* column 1, row 13 (1-based row 14): in the val rows */
    vals[20 + 19] = 1e39;   /* column 1, the last row: only a test target */
    ntg_series *s = make_series(20, 2, vals);
    ntg_split sp = split_ok("10,5,5", 20);
    int cols[2] = {0, 1};
    ntg_error err;
    ntg_scaler *g = NULL;
    cr_assert_eq(ntg__scaler_fit(s, NTG_SCALER_ZSCORE, cols, 2, 10, &g, &err), NTG_OK, "%s",
                 err.message);
    ntg_windows w = windows_ok(&sp, NTG_SPLIT_TRAIN, 4, 2, cols, 2);
    cr_assert_eq(ntg__windows_check(s, g, &w, 1, &err), NTG_OK, "%s", err.message);
    w = windows_ok(&sp, NTG_SPLIT_VAL, 4, 2, cols, 2);
    cr_assert_eq(ntg__windows_check(s, g, &w, 1, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "column 'c1', row 14 (") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "-1e+300 is -3.4") != NULL, "scaled by std sqrt(8.25): %s",
              err.message);
    /* the test windows' inputs reach back over row 14; their targets reach row 20 */
    w = windows_ok(&sp, NTG_SPLIT_TEST, 4, 2, cols, 2);
    cr_assert_eq(ntg__windows_check(s, g, &w, 1, &err), NTG_ERR_DATA);
    vals[20 + 13] = 113;
    ntg__series_free(s);
    s = make_series(20, 2, vals);
    cr_assert_eq(ntg__windows_check(s, g, &w, 0, &err), NTG_OK, "inputs only: %s", err.message);
    cr_assert_eq(ntg__windows_check(s, g, &w, 1, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "column 'c1', row 20 (") != NULL, "%s", err.message);
    /* without a global scaler 1e39 itself is beyond a float */
    cr_assert_eq(ntg__windows_check(s, NULL, &w, 1, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "1e+39 is beyond the float32 range") != NULL, "%s", err.message);
    /* a forecast reads the last L rows and no target */
    ntg_windows fw;
    cr_assert_eq(ntg__windows_forecast(20, 4, 2, cols, 2, &fw, &err), NTG_OK);
    cr_assert_eq(ntg__windows_check(s, NULL, &fw, 0, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "row 20") != NULL, "%s", err.message);
    ntg__scaler_free(g);
    ntg__series_free(s);
}

/* A per-window scaler can still take a value out of float's range (a target far outside
 * its window's min..max): windows_fill refuses that window instead of writing inf. */
Test(runtime, series_windows_fill_refuses_what_the_window_scaler_overflows)
{
    double vals[20];
    for (int r = 0; r < 20; r++) vals[r] = r;
    /* the window with start 6: inputs rows 2..5 span 1e-7, so minmax scales by 1.1e-6 and
     * its target 1e36 (a float) becomes 9e41 (not one) */
    vals[2] = vals[3] = vals[4] = 2;
    vals[5] = 2.0000001;
    vals[7] = 1e36;
    ntg_series *s = make_series(20, 1, vals);
    ntg_split sp = split_ok("10,5,5", 20);
    int cols[1] = {0};
    ntg_windows w = windows_ok(&sp, NTG_SPLIT_TRAIN, 4, 2, cols, 1);
    ntg_error err;
    float x[4], t[2], loc[1], scale[1];
    uint64_t idx[1] = {2};
    cr_assert_eq(ntg__windows_check(s, NULL, &w, 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(
        ntg__windows_fill(s, NULL, NTG_WSCALER_IDENTITY, &w, idx, 1, x, t, loc, scale, &err),
        NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__windows_fill(s, NULL, NTG_WSCALER_MINMAX, &w, idx, 1, x, t, loc, scale, &err),
                 NTG_ERR_DATA);
    cr_assert(strstr(err.message, "column 'c0', row 3 (") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "the minmax window scaler takes the values beyond the float32") !=
                  NULL,
              "%s", err.message);
    ntg__series_free(s);
}
