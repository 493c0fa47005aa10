/* test_runtime_forecast.c — forecasting and evaluation from a series (runtime/forecast.c):
 * which output a quantile model's point forecast is, checked against the plan run by hand. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "plan_int.h"
#include "testutil.h"

#define L 96
#define H 24
#define ROWS 200

/* An hourly series of one column, a daily cycle and a trend. */
static ntg_series *series(void)
{
    size_t cap = 64 + ROWS * 48;
    char *text = malloc(cap);
    cr_assert(text);
    size_t len = (size_t)snprintf(text, cap, "date,v\n");
    for (int r = 0; r < ROWS; r++)
        len += (size_t)snprintf(text + len, cap - len, "2020-01-%02d %02d:00,%.17g\n", 1 + r / 24,
                                r % 24, 10 + 3 * sin(r * 2 * 3.14159265358979 / 24) + 0.02 * r);
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_parse(text, len, "t.csv", NULL, &s, &err), NTG_OK, "%s", err.message);
    free(text);
    return s;
}

/* graphs/nhits_mq.yaml at h 24, input 96, with -T overrides (no global or per-window
 * scaler: windows reach the model as raw values, so the test can feed it the same by
 * hand). */
static ntg_status compile_mq(const char *quantiles, const char *point, ntg_plan **plan,
                             ntg_error *err)
{
    ntg_define d[] = {
        {"h", "24"}, {"input_size", "96"}, {"hidden", "32"}, {"quantiles", quantiles}};
    ntg_define t[] = {{"scaler", "none"}, {"window_scaler", "identity"}, {"point_quantile", point}};
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.defines = d;
    o.n_defines = 4;
    o.train = t;
    o.n_train = point ? 3 : 2;
    o.max_batch = 32;
    o.seed = 7;
    return ntg_compile_file(tu_src("graphs/nhits_mq.yaml"), &o, plan, err);
}

/* y [1, Q, H] of the plan for the window whose input ends before row `end`. */
static void run_window(const ntg_plan *p, const ntg_series *s, size_t end, float *y, size_t nq)
{
    float x[L];
    for (size_t r = 0; r < L; r++) x[r] = (float)s->values[end - L + r];
    ntg_session *ss = NULL;
    ntg_error err;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    cr_assert_eq(ntg_session_create(p, &so, &ss, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(ss, "x", x, L, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(ss, 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(ss, "y", y, nq * H, &err), NTG_OK, "%s", err.message);
    ntg_session_destroy(ss);
}

/* The forecast's level 0 is the point forecast: the model's output at the level
 * train.point_quantile names (the median by default), the other levels ascending. */
static void check_forecast(const ntg_plan *p, const ntg_series *s, const double *want_levels,
                           const size_t *plan_index)
{
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_forecast *f = NULL;
    ntg_error err;
    cr_assert_eq(ntg_forecast_series(p, s, "v", &so, &f, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecast_quantiles(f), 3);
    float y[3 * H];
    run_window(p, s, ROWS, y, 3);
    for (size_t q = 0; q < 3; q++) {
        cr_assert_eq(ntg_forecast_quantile_level(f, q), want_levels[q], "level %zu is %g", q,
                     ntg_forecast_quantile_level(f, q));
        for (size_t t = 0; t < H; t++)
            cr_assert_eq(ntg_forecast_value(f, 0, t, q), (double)y[plan_index[q] * H + t],
                         "slot %zu step %zu: %g, the model's level %g gives %g", q, t,
                         ntg_forecast_value(f, 0, t, q), want_levels[q],
                         (double)y[plan_index[q] * H + t]);
    }
    ntg_forecast_destroy(f);
}

Test(runtime, forecast_of_a_quantile_model_is_its_median)
{
    ntg_series *s = series();
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(compile_mq("[0.1, 0.5, 0.9]", NULL, &p, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg_plan_meta(p, "train.point_quantile"), "0.5");
    /* the output's quantile axis holds 0.1, 0.5, 0.9: the median is output 1 */
    const double levels[3] = {0.5, 0.1, 0.9};
    const size_t index[3] = {1, 0, 2};
    check_forecast(p, s, levels, index);
    ntg_plan_destroy(p);

    /* a graph may name another level as its point forecast */
    cr_assert_eq(compile_mq("[0.1, 0.5, 0.9]", "0.9", &p, &err), NTG_OK, "%s", err.message);
    const double levels9[3] = {0.9, 0.1, 0.5};
    const size_t index9[3] = {2, 0, 1};
    check_forecast(p, s, levels9, index9);
    ntg_plan_destroy(p);
    ntg__series_free(s);
}

/* eval scores the point forecast: its MAE is the median output's, window by window. */
Test(runtime, evaluate_scores_the_median_of_a_quantile_model)
{
    ntg_series *s = series();
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(compile_mq("[0.1, 0.5, 0.9]", NULL, &p, &err), NTG_OK, "%s", err.message);
    ntg_eval_options eo;
    ntg_eval_options_init(&eo);
    eo.split = "100,50,50";
    eo.backend = "cpu";
    ntg_scores sc;
    ntg_scores_init(&sc);
    cr_assert_eq(ntg_evaluate(p, s, &eo, &sc, NULL, 0, &err), NTG_OK, "%s", err.message);
    /* test targets start at rows 150 .. 176 (ROWS - H) */
    double sum = 0, sum_lo = 0, sum_hi = 0;
    size_t n = 0;
    for (size_t start = 150; start + H <= ROWS; start++) {
        float y[3 * H];
        run_window(p, s, start, y, 3);
        for (size_t t = 0; t < H; t++) {
            sum += fabs((double)y[1 * H + t] - s->values[start + t]);
            sum_lo += fabs((double)y[0 * H + t] - s->values[start + t]);
            sum_hi += fabs((double)y[2 * H + t] - s->values[start + t]);
            n++;
        }
    }
    cr_assert_eq(sc.n, n);
    double want = sum / (double)n;
    /* the same arithmetic up to float rounding (batch 27 against 1); q0.1's is 2% off */
    cr_assert(fabs(sc.mae_orig - want) <= 1e-6 * want,
              "eval MAE %.12g, the median's %.12g (q0.1's "
              "%.12g) %.12g",
              sc.mae_orig, want, sum_lo / (double)n, sum_hi / (double)n);
    ntg_plan_destroy(p);
    ntg__series_free(s);
}

/* Levels out of order, repeated, or without the point forecast's level are refused when
 * the graph compiles, at the train section. */
Test(runtime, quantile_levels_are_checked_at_compile_time)
{
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(compile_mq("[0.5, 0.1, 0.9]", NULL, &p, &err), NTG_ERR_GRAPH);
    cr_assert(strstr(err.message, "nhits_mq.yaml:") &&
                  strstr(err.message, "quantiles must be ascending and unique: 0.1 comes after "
                                      "0.5"),
              "%s", err.message);
    cr_assert_eq(compile_mq("[0.1, 0.5, 0.5, 0.9]", NULL, &p, &err), NTG_ERR_GRAPH);
    cr_assert(strstr(err.message, "0.5 comes after 0.5"), "%s", err.message);
    cr_assert_eq(compile_mq("[0.1, 0.9]", NULL, &p, &err), NTG_ERR_GRAPH);
    cr_assert(
        strstr(err.message,
               "nhits_mq.yaml:58:3: quantiles [0.1, 0.9] have no median (0.5), the default point "
               "forecast: add 0.5 or set point_quantile to one of them"),
        "%s", err.message);
    cr_assert_eq(compile_mq("[0.1, 0.9]", "0.8", &p, &err), NTG_ERR_GRAPH);
    cr_assert(strstr(err.message, "<command line>: point_quantile 0.8 is not one of the quantiles "
                                  "[0.1, 0.9]"),
              "%s", err.message);
    cr_assert_eq(compile_mq("[0.1, 1.0]", "0.1", &p, &err), NTG_ERR_GRAPH);
    cr_assert(strstr(err.message, "quantile 1 is outside (0, 1)"), "%s", err.message);
    cr_assert_null(p);
}

/* Plans compiled before the check listed the median first ([0.5, 0.1, 0.9]) and had no
 * point_quantile: their point forecast is still the median. */
Test(runtime, plans_with_the_median_first_still_forecast_the_median)
{
    ntg_series *s = series();
    ntg_plan *p = NULL, *old = NULL;
    ntg_error err;
    cr_assert_eq(compile_mq("[0.1, 0.5, 0.9]", NULL, &p, &err), NTG_OK, "%s", err.message);
    /* relabel the output axis as [0.5, 0.1, 0.9]: output 0 is now "the median" */
    const char *meta[] = {"train.quantiles", "[0.5, 0.1, 0.9]", "train.point_quantile", "0.5"};
    cr_assert_eq(ntg__plan_rewrite(p, NULL, meta, 2, &old, &err), NTG_OK, "%s", err.message);
    const double levels[3] = {0.5, 0.1, 0.9};
    const size_t index[3] = {0, 1, 2};
    check_forecast(old, s, levels, index);
    ntg_plan_destroy(old);
    /* a level the plan does not hold is refused, not guessed */
    const char *meta2[] = {"train.point_quantile", "0.7"};
    cr_assert_eq(ntg__plan_rewrite(p, NULL, meta2, 1, &old, &err), NTG_OK, "%s", err.message);
    ntg_forecast *f = NULL;
    cr_assert_eq(ntg_forecast_series(old, s, NULL, NULL, &f, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "do not hold its point forecast's level 0.7"), "%s", err.message);
    ntg_plan_destroy(old);
    ntg_plan_destroy(p);
    ntg__series_free(s);
}
