/* test_runtime_conformal.c — probabilistic outputs end to end: split-conformal intervals of a
 * point model (coverage on a series with known noise), the quantiles and scores of a
 * distribution head, and the closed-form CRPS against numerical integration. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <string.h>

#include "dist.h"
#include "metrics_prob.h"
#include "ntgraph.h"
#include "testutil.h"

/* A seasonal naive forecaster: the last 24 of 48 inputs repeat (the period of the series). */
static const char *const snaive = "ntgraph: 1\n"
                                  "name: snaive\n"
                                  "inputs:\n"
                                  "  x: [batch, 48]\n"
                                  "outputs:\n"
                                  "  y: [batch, 24]\n"
                                  "nodes:\n"
                                  "  - {op: slice, in: x, out: y, axis: 1, start: 24, end: 48}\n";

/* The same forecast as loc of a Normal head whose raw scale is a (random) dense of x. */
static const char *const normal_head =
    "ntgraph: 1\n"
    "name: nhead\n"
    "inputs:\n"
    "  x: [batch, 48]\n"
    "outputs:\n"
    "  y: [batch, 2, 24]\n"
    "nodes:\n"
    "  - {op: slice, in: x, out: l, axis: 1, start: 24, end: 48}\n"
    "  - {op: reshape, in: l, out: loc, shape: [batch, 1, 24]}\n"
    "  - {op: dense, in: x, out: s, units: 24}\n"
    "  - {op: scale, in: s, out: s0, factor: 0}\n"
    "  - {op: reshape, in: s0, out: rs, shape: [batch, 1, 24]}\n"
    "  - {op: concat, in: [loc, rs], out: y, axis: 1}\n"
    "train:\n"
    "  loss: normal\n"
    "  quantiles: [0.05, 0.5, 0.95]\n";

static ntg_plan *compile(const char *yaml, unsigned flags)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 64;
    o.flags = flags;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(yaml, strlen(yaml), "test", &o, &p, &err), NTG_OK, "%s",
                 err.message);
    return p;
}

/* Standard normal draws (Box-Muller on the test's generator). */
static double gauss(tu_rng *r)
{
    double u = tu_uniform(r, 1e-12, 1), v = tu_uniform(r, 0, 1);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* 6000 rows: a daily cycle (period 24) of amplitude 5 around 20 plus N(0, sigma^2) noise. */
static ntg_series *noisy_series(double sigma, uint64_t seed)
{
    enum { N = 6000 };
    static double v[N];
    tu_rng r = {seed};
    for (int t = 0; t < N; t++)
        v[t] = 20 + 5 * sin(6.283185307179586 * t / 24.0) + sigma * gauss(&r);
    const char *names[] = {"y"};
    const double *cols[] = {v};
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_create(N, 1, names, cols, NULL, 0, &s, &err), NTG_OK, "%s",
                 err.message);
    return s;
}

static ntg_scores evaluate(const ntg_plan *p, const ntg_series *s, const char *part)
{
    ntg_eval_options eo;
    ntg_eval_options_init(&eo);
    eo.split = "0.4,0.3,0.3";
    eo.part = part;
    eo.backend = "cpu";
    ntg_scores sc;
    ntg_scores_init(&sc);
    ntg_error err;
    cr_assert_eq(ntg_evaluate(p, s, &eo, &sc, NULL, 0, &err), NTG_OK, "%s", err.message);
    return sc;
}

static ntg_plan *calibrate(const ntg_plan *p, const ntg_series *s, const double *lv, size_t n)
{
    ntg_eval_options eo;
    ntg_eval_options_init(&eo);
    eo.split = "0.4,0.3,0.3";
    eo.backend = "cpu";
    ntg_plan *out = NULL;
    ntg_error err;
    cr_assert_eq(ntg_conformal_calibrate(p, s, &eo, lv, n, &out, &err), NTG_OK, "%s", err.message);
    return out;
}

/* Split conformal on the val split: the test split's coverage is the nominal level to within
 * what 1800 (strongly overlapping) windows can tell, for each level alone; over three
 * independent series the mean coverage is closer still. */
Test(conformal, test_coverage_is_near_the_nominal_level)
{
    static const double levels[] = {0.5, 0.8, 0.95};
    static const uint64_t seeds[] = {1234, 99, 7};
    double mean[3] = {0, 0, 0};
    for (size_t k = 0; k < 3; k++) {
        ntg_series *s = noisy_series(0.7, seeds[k]);
        ntg_plan *p = compile(snaive, NTG_COMPILE_INFER_ONLY);
        ntg_scores plain = evaluate(p, s, "test");
        cr_assert(isnan(plain.coverage) && isnan(plain.pinball), "a point model has no interval");
        for (size_t l = 0; l < 3; l++) {
            ntg_plan *c = calibrate(p, s, &levels[l], 1);
            ntg_scores sc = evaluate(c, s, "test");
            cr_log_info("seed %llu, conformal %.2f: test coverage %.4f (pinball %.4f)",
                        (unsigned long long)seeds[k], levels[l], sc.coverage, sc.pinball);
            cr_assert_float_eq(sc.coverage_nominal, levels[l], 1e-12);
            cr_assert(fabs(sc.coverage - levels[l]) < 0.04, "level %g: test coverage %.4f",
                      levels[l], sc.coverage);
            mean[l] += sc.coverage / 3;
            /* the point forecast is the model's: its scores do not move */
            cr_assert_float_eq(sc.mae, plain.mae, 1e-12);
            cr_assert(ntg_plan_meta(c, "conformal.width.0"));
            ntg_plan_destroy(c);
        }
        ntg_plan_destroy(p);
        ntg_series_destroy(s);
    }
    for (size_t l = 0; l < 3; l++)
        cr_assert(fabs(mean[l] - levels[l]) < 0.025, "level %g: mean test coverage %.4f", levels[l],
                  mean[l]);
}

Test(conformal, forecasts_carry_the_intervals_as_quantiles)
{
    ntg_series *s = noisy_series(0.7, 99);
    ntg_plan *p = compile(snaive, NTG_COMPILE_INFER_ONLY);
    static const double levels[] = {0.8, 0.95};
    ntg_plan *c = calibrate(p, s, levels, 2);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_forecast *fp = NULL, *fc = NULL;
    ntg_error err;
    cr_assert_eq(ntg_forecast_series(p, s, NULL, &so, &fp, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecast_series(c, s, NULL, &so, &fc, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecast_quantiles(fp), 0);
    cr_assert_eq(ntg_forecast_quantiles(fc), 5);
    /* slot 0 is the point forecast, then the levels ascending */
    static const double want[] = {0.5, 0.025, 0.1, 0.9, 0.975};
    for (size_t q = 0; q < 5; q++)
        cr_assert_float_eq(ntg_forecast_quantile_level(fc, q), want[q], 1e-12, "slot %zu", q);
    for (size_t t = 0; t < 24; t++) {
        double pt = ntg_forecast_value(fp, 0, t, 0);
        /* the same forecast, through the z-scaler the calibration stored (float rounding) */
        cr_assert_float_eq(ntg_forecast_value(fc, 0, t, 0), pt, 1e-4);
        double lo95 = ntg_forecast_value(fc, 0, t, 1), lo80 = ntg_forecast_value(fc, 0, t, 2);
        double hi80 = ntg_forecast_value(fc, 0, t, 3), hi95 = ntg_forecast_value(fc, 0, t, 4);
        cr_assert(lo95 <= lo80 && lo80 < pt && pt < hi80 && hi80 <= hi95, "step %zu", t);
        /* symmetric, and near sqrt(2) 0.7 z_0.9 = 1.27 wide on each side (a generous band) */
        cr_assert_float_eq(hi80 - pt, pt - lo80, 1e-4);
        cr_assert(hi80 - pt > 0.9 && hi80 - pt < 1.6, "step %zu: 80%% half-width %g", t, hi80 - pt);
    }
    /* a quantile plan cannot be calibrated again */
    ntg_eval_options eo;
    ntg_eval_options_init(&eo);
    eo.split = "0.4,0.3,0.3";
    ntg_plan *again = NULL;
    cr_assert_eq(ntg_conformal_calibrate(c, s, &eo, levels, 2, &again, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "point models"), "%s", err.message);
    /* a level the calibration split is too small for */
    eo.split = "5900,50,50";
    double high = 0.99;
    cr_assert_eq(ntg_conformal_calibrate(p, s, &eo, &high, 1, &again, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "calibration windows"), "%s", err.message);
    ntg_forecast_destroy(fp);
    ntg_forecast_destroy(fc);
    ntg_plan_destroy(c);
    ntg_plan_destroy(p);
    ntg_series_destroy(s);
}

Test(conformal, distribution_head_gives_quantiles_and_scores)
{
    ntg_series *s = noisy_series(0.7, 7);
    ntg_plan *p = compile(normal_head, 0);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_forecast *f = NULL;
    ntg_error err;
    cr_assert_eq(ntg_forecast_series(p, s, NULL, &so, &f, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecast_quantiles(f), 3);
    cr_assert_float_eq(ntg_forecast_quantile_level(f, 0), 0.5, 1e-12);
    for (size_t t = 0; t < 24; t++) {
        double m = ntg_forecast_value(f, 0, t, 0), lo = ntg_forecast_value(f, 0, t, 1),
               hi = ntg_forecast_value(f, 0, t, 2);
        cr_assert(lo < m && m < hi, "step %zu: %g %g %g", t, lo, m, hi);
        cr_assert_float_eq(hi - m, m - lo, 1e-3 * (hi - lo), "a Normal is symmetric");
    }
    ntg_scores sc = evaluate(p, s, "test");
    cr_assert(isfinite(sc.coverage) && isfinite(sc.pinball) && isfinite(sc.crps));
    cr_assert_float_eq(sc.coverage_nominal, 0.9, 1e-12);
    cr_assert(sc.crps > 0 && sc.pinball > 0);
    ntg_forecast_destroy(f);
    ntg_plan_destroy(p);
    ntg_series_destroy(s);
}

/* Simpson's rule of (F(x) - step)^2 over [a, b], n (even) intervals. */
static double simpson(double mu, double sigma, double df, double step, double a, double b)
{
    const int n = 200000;
    double dx = (b - a) / n, s = 0;
    for (int i = 0; i <= n; i++) {
        double x = a + i * dx;
        double F = df > 0 ? ntg__t_cdf((x - mu) / sigma, df) : ntg__norm_cdf((x - mu) / sigma);
        double d = (F - step) * (F - step);
        s += (i == 0 || i == n ? 1.0 : i % 2 ? 4.0 : 2.0) * d;
    }
    return s * dx / 3;
}

/* CRPS = integral of (F(x) - 1{x >= y})^2 dx, split at y where the step jumps. */
static double crps_numeric(double mu, double sigma, double df, double y)
{
    double w = (df > 0 ? 2000 : 40) * sigma;
    return simpson(mu, sigma, df, 0, mu - w, y) + simpson(mu, sigma, df, 1, y, mu + w);
}

Test(conformal, crps_closed_forms_match_integration)
{
    cr_assert_float_eq(ntg__crps_normal(0, 1, 0), 0.23369497725510913, 1e-14);
    static const double c[][4] = {{0, 1, 0, 0.3}, {2, 0.5, 0, 1.1},   {-1, 3, 0, 4},
                                  {0, 1, 3, 0.3}, {2, 0.5, 2.5, 1.1}, {-1, 3, 10, 4}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        double want = crps_numeric(c[i][0], c[i][1], c[i][2], c[i][3]);
        double got = c[i][2] > 0 ? ntg__crps_studentt(c[i][0], c[i][1], c[i][2], c[i][3])
                                 : ntg__crps_normal(c[i][0], c[i][1], c[i][3]);
        cr_assert(fabs(got - want) < 2e-4 * c[i][1], "case %zu: %.9g vs %.9g", i, got, want);
    }
    /* Student-t tends to the Normal */
    cr_assert(fabs(ntg__crps_studentt(0, 1, 1e6, 0.7) - ntg__crps_normal(0, 1, 0.7)) < 1e-5);
}
