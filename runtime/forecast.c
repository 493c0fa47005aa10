/* forecast.c — the public series API, rolling-origin evaluation and forecasting from a series. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model_io.h"
#include "session_int.h"

/* ------------------------------------------------------------------- series */

void ntg_series_options_init(ntg_series_options *o)
{
    if (o) memset(o, 0, sizeof *o);
}

ntg_status ntg_series_load_csv(const char *path, const ntg_series_options *opts, ntg_series **out,
                               ntg_error *err)
{
    if (!path || !out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_series_load_csv: NULL");
    ntg_csv_options co;
    ntg__csv_options_init(&co);
    if (opts) {
        co.format = opts->format;
        co.fill = opts->fill;
        co.dates = opts->dates;
    }
    return ntg__csv_read(path, &co, out, err);
}

void ntg_series_destroy(ntg_series *s)
{
    ntg__series_free(s);
}

size_t ntg_series_rows(const ntg_series *s)
{
    return s ? s->n_rows : 0;
}

size_t ntg_series_columns(const ntg_series *s)
{
    return s ? s->n_cols : 0;
}

const char *ntg_series_column_name(const ntg_series *s, size_t i)
{
    return s && i < s->n_cols ? s->names[i] : NULL;
}

/* ----------------------------------------------------------------- running */

/* Run infer over windows idx of w in chunks; for each chunk call back with the outputs. */
typedef struct runner {
    const ntg_plan *plan;
    ntg_model_io io;
    ntg_session *s;
    size_t chunk;
    float *x, *loc, *scale, *y;
    size_t ny; /* floats of y per window */
} runner;

static ntg_status runner_open(runner *r, const ntg_plan *p, const char *backend, int threads,
                              ntg_error *err)
{
    memset(r, 0, sizeof *r);
    r->plan = p;
    ntg_status st = ntg__model_io(p, &r->io, err);
    if (st) return st;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = backend;
    so.threads = threads;
    if ((st = ntg_session_create(p, &so, &r->s, err))) return st;
    r->chunk = p->img.info.max_batch;
    r->ny = r->io.h * (r->io.nq ? r->io.nq : 1);
    r->x = malloc(r->chunk * r->io.L * sizeof(float));
    r->loc = malloc(r->chunk * sizeof(float));
    r->scale = malloc(r->chunk * sizeof(float));
    r->y = malloc(r->chunk * r->ny * sizeof(float));
    if (!r->x || !r->loc || !r->scale || !r->y)
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return NTG_OK;
}

static void runner_close(runner *r)
{
    ntg_session_destroy(r->s);
    free(r->x);
    free(r->loc);
    free(r->scale);
    free(r->y);
}

/* Forecast windows idx[0..n) (n <= chunk): r->y gets the outputs, loc/scale the
 * per-window statistics. */
static ntg_status runner_run(runner *r, const ntg_series *s, const ntg_scaler *g,
                             ntg_window_scaler ws, const ntg_windows *w, const uint64_t *idx,
                             size_t n, ntg_error *err)
{
    ntg_status st = ntg__windows_fill(s, g, ws, w, idx, n, r->x, NULL, r->loc, r->scale, err);
    if (!st) st = ntg__session_set_tensor(r->s, r->io.x, r->x, n * r->io.L, err);
    if (!st) st = ntg__session_run_index(r->s, r->io.g_infer, (int)n, err);
    if (!st) st = ntg__session_get_tensor(r->s, r->io.y, r->y, n * r->ny, err);
    return st;
}

/* --------------------------------------------------------------- evaluation */

void ntg_eval_options_init(ntg_eval_options *o)
{
    if (o) memset(o, 0, sizeof *o);
}

static void to_scores(const ntg_metric_values *v, ntg_scores *o)
{
    o->mse = v->mse;
    o->mae = v->mae;
    o->mse_orig = v->mse_orig;
    o->mae_orig = v->mae_orig;
    o->mape = v->mape;
    o->smape = v->smape;
    o->mase = v->mase;
    o->n = v->n;
}

/* The forecasts (original units, per values per window) of windows idx[0..n) must be
 * finite: a model that overflowed on its inputs would otherwise print inf or nan as a
 * result.  NTG_ERR_DATA naming the column and the window's input rows. */
static ntg_status check_forecasts(const ntg_series *s, const ntg_windows *w, const uint64_t *idx,
                                  size_t n, size_t per, const double *f, ntg_error *err)
{
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < per; r++) {
            if (isfinite(f[i * per + r])) continue;
            size_t j, start;
            ntg__windows_at(w, idx[i], &j, &start);
            char a[96], b[96];
            ntg__series_row_str(s, start - w->L, a, sizeof a);
            ntg__series_row_str(s, start - 1, b, sizeof b);
            double v = f[i * per + r];
            return ntg__fail(err, NTG_ERR_DATA,
                             "column '%.60s': the forecast from %s to %s is %s at step %zu: the "
                             "model overflowed on these values",
                             s->names[w->cols[j]], a, b,
                             isnan(v)  ? "nan"
                             : v > 0.0 ? "inf"
                                       : "-inf",
                             r % w->h + 1);
        }
    return NTG_OK;
}

/* Scores in range: the four means finite, the ratios finite or NaN (not computable). */
static int scores_finite(const ntg_metric_values *v)
{
    return isfinite(v->mse) && isfinite(v->mae) && isfinite(v->mse_orig) && isfinite(v->mae_orig) &&
           !isinf(v->mape) && !isinf(v->smape) && !isinf(v->mase);
}

ntg_status ntg_evaluate(const ntg_plan *plan, const ntg_series *data, const ntg_eval_options *opts,
                        ntg_scores *overall, ntg_scores *per_column, size_t n_per_column,
                        ntg_error *err)
{
    if (!plan || !data || !opts || !overall)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_evaluate: NULL argument");
    if (!opts->split) return ntg__fail(err, NTG_ERR_INVALID_ARG, "evaluation needs a split");
    ntg_split_part part = NTG_SPLIT_TEST;
    if (opts->part && strcmp(opts->part, "val") == 0)
        part = NTG_SPLIT_VAL;
    else if (opts->part && strcmp(opts->part, "test") != 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "part must be 'test' or 'val', not '%s'",
                         opts->part);
    runner r;
    int *cols = NULL;
    size_t nc = 0;
    ntg_split sp;
    ntg_scaler *g = NULL;
    ntg_window_scaler ws = NTG_WSCALER_IDENTITY;
    ntg_windows w;
    ntg_metrics *m = NULL;
    uint64_t *idx = NULL;
    float *pt = NULL;
    double *orig = NULL;
    ntg_status st = runner_open(&r, plan, opts->backend, opts->threads, err);
    if (!st) st = ntg__select_columns(data, opts->columns, &cols, &nc, err);
    if (!st) st = ntg__split_parse(opts->split, data->n_rows, &sp, err);
    if (!st) st = ntg__model_scaler(plan, data, cols, nc, sp.train, NULL, NULL, &g, &ws, err);
    if (!st) st = ntg__windows_make(&sp, part, r.io.L, r.io.h, cols, nc, &w, err);
    if (!st) st = ntg__windows_check(data, g, &w, 1, err);
    size_t m_season = opts->seasonality > 0 ? (size_t)opts->seasonality : 1;
    if (!st) st = ntg__metrics_create(data, cols, nc, g, sp.train, m_season, &m, err);
    if (!st) {
        idx = malloc(r.chunk * sizeof *idx);
        pt = malloc(r.chunk * r.io.h * sizeof *pt);
        orig = malloc(r.chunk * r.io.h * sizeof *orig);
        if (!idx || !pt || !orig) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    uint64_t count = st ? 0 : ntg__windows_count(&w);
    for (uint64_t k0 = 0; !st && k0 < count; k0 += r.chunk) {
        size_t b = (size_t)(count - k0 < r.chunk ? count - k0 : r.chunk);
        for (size_t i = 0; i < b; i++) idx[i] = k0 + i;
        if ((st = runner_run(&r, data, g, ws, &w, idx, b, err))) break;
        ntg__model_point(&r.io, r.y, b, pt);
        ntg__windows_invert(g, &w, idx, b, r.loc, r.scale, pt, r.io.h, NULL, orig);
        if ((st = check_forecasts(data, &w, idx, b, r.io.h, orig, err))) break;
        st = ntg__metrics_add_windows(m, &w, idx, b, orig, err);
    }
    /* finite forecasts of finite truths can still square past a double in original units */
    for (size_t j = 0; !st && j <= nc; j++) {
        ntg_metric_values v;
        if (j < nc)
            ntg__metrics_column(m, j, &v);
        else
            ntg__metrics_total(m, &v);
        if (!scores_finite(&v))
            st = ntg__fail(err, NTG_ERR_DATA,
                           "%s%.60s%s: the scores overflow a double (MSE %g, MAE %g in original "
                           "units): the values are too large to score",
                           j < nc ? "column '" : "", j < nc ? data->names[cols[j]] : "all columns",
                           j < nc ? "'" : "", v.mse_orig, v.mae_orig);
    }
    if (!st) {
        ntg_metric_values v;
        ntg__metrics_total(m, &v);
        to_scores(&v, overall);
        for (size_t j = 0; per_column && j < nc && j < n_per_column; j++) {
            ntg__metrics_column(m, j, &v);
            to_scores(&v, &per_column[j]);
        }
    }
    free(idx);
    free(pt);
    free(orig);
    ntg__metrics_free(m);
    ntg__scaler_free(g);
    free(cols);
    runner_close(&r);
    return st;
}

/* -------------------------------------------------------------- forecasting */

struct ntg_forecast {
    ntg_pool *pool;
    size_t n_cols, h, nq;
    double quantiles[64];
    const char **names;
    double *values; /* [col][step][max(nq, 1)] */
    const char **dates;
};

void ntg_forecast_destroy(ntg_forecast *f)
{
    if (f) ntg__pool_destroy(f->pool);
}

size_t ntg_forecast_columns(const ntg_forecast *f)
{
    return f ? f->n_cols : 0;
}

size_t ntg_forecast_horizon(const ntg_forecast *f)
{
    return f ? f->h : 0;
}

size_t ntg_forecast_quantiles(const ntg_forecast *f)
{
    return f ? f->nq : 0;
}

double ntg_forecast_quantile_level(const ntg_forecast *f, size_t q)
{
    return f && q < f->nq ? f->quantiles[q] : NAN;
}

const char *ntg_forecast_column_name(const ntg_forecast *f, size_t c)
{
    return f && c < f->n_cols ? f->names[c] : NULL;
}

double ntg_forecast_value(const ntg_forecast *f, size_t c, size_t step, size_t q)
{
    size_t nq = f && f->nq ? f->nq : 1;
    if (!f || c >= f->n_cols || step >= f->h || q >= nq) return NAN;
    return f->values[(c * f->h + step) * nq + q];
}

const char *ntg_forecast_date(const ntg_forecast *f, size_t step)
{
    return f && f->dates && step < f->h ? f->dates[step] : NULL;
}

ntg_status ntg_forecast_series(const ntg_plan *plan, const ntg_series *data, const char *columns,
                               const ntg_session_options *opts, ntg_forecast **out, ntg_error *err)
{
    if (!plan || !data || !out)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_forecast_series: NULL argument");
    *out = NULL;
    runner r;
    int *cols = NULL;
    size_t nc = 0;
    ntg_scaler *g = NULL;
    ntg_window_scaler ws = NTG_WSCALER_IDENTITY;
    ntg_windows w;
    uint64_t *idx = NULL;
    float *yq = NULL;
    double *orig = NULL;
    ntg_forecast *f = NULL;
    ntg_pool *pool = ntg__pool_create();
    ntg_status st = pool ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (!st) st = runner_open(&r, plan, opts ? opts->backend : NULL, opts ? opts->threads : 0, err);
    if (!st) st = ntg__select_columns(data, columns, &cols, &nc, err);
    /* a trained plan brings its scaler; an untrained one sees raw values */
    if (!st)
        st =
            ntg__model_scaler(plan, data, cols, nc, data->n_rows, "none", "identity", &g, &ws, err);
    if (!st) st = ntg__windows_forecast(data->n_rows, r.io.L, r.io.h, cols, nc, &w, err);
    if (!st) st = ntg__windows_check(data, g, &w, 0, err);
    size_t nq = st ? 1 : (r.io.nq ? r.io.nq : 1);
    if (!st) {
        f = ntg__pool_alloc(pool, sizeof *f);
        idx = malloc(r.chunk * sizeof *idx);
        yq = malloc(r.chunk * r.io.h * sizeof *yq);
        orig = malloc(r.chunk * r.io.h * sizeof *orig);
        if (!f || !idx || !yq || !orig) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    /* slot q of the forecast holds the plan's quantile order[q]: the point forecast first,
     * then the other levels ascending (a plan lists them ascending; older ones put the
     * median first) */
    size_t order[64] = {0};
    if (!st && r.io.nq) {
        size_t k = 0;
        order[k++] = r.io.point;
        for (size_t q = 0; q < r.io.nq; q++)
            if (q != r.io.point) order[k++] = q;
        for (size_t a = 2; a < k; a++)
            for (size_t b = a; b > 1 && r.io.quantiles[order[b - 1]] > r.io.quantiles[order[b]];
                 b--) {
                size_t t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
    }
    if (!st) {
        f->pool = pool;
        f->n_cols = nc;
        f->h = r.io.h;
        f->nq = r.io.nq;
        for (size_t q = 0; q < r.io.nq; q++) f->quantiles[q] = r.io.quantiles[order[q]];
        f->names = ntg__pool_array(pool, nc + 1, sizeof *f->names);
        f->values = ntg__pool_array(pool, nc * r.io.h * nq + 1, sizeof *f->values);
        if (!f->names || !f->values) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        for (size_t j = 0; !st && j < nc; j++)
            if (!(f->names[j] = ntg__pool_strdup(pool, data->names[cols[j]])))
                st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        if (!st && data->dates) f->dates = ntg__series_next_dates(data, 1, r.io.h, pool);
    }
    uint64_t count = st ? 0 : ntg__windows_count(&w);
    for (uint64_t k0 = 0; !st && k0 < count; k0 += r.chunk) {
        size_t b = (size_t)(count - k0 < r.chunk ? count - k0 : r.chunk);
        for (size_t i = 0; i < b; i++) idx[i] = k0 + i;
        if ((st = runner_run(&r, data, g, ws, &w, idx, b, err))) break;
        for (size_t q = 0; q < nq; q++) {
            for (size_t i = 0; i < b; i++)
                for (size_t t = 0; t < r.io.h; t++)
                    yq[i * r.io.h + t] = ntg__model_y(&r.io, r.y, i, t, order[q]);
            ntg__windows_invert(g, &w, idx, b, r.loc, r.scale, yq, r.io.h, NULL, orig);
            if ((st = check_forecasts(data, &w, idx, b, r.io.h, orig, err))) break;
            for (size_t i = 0; i < b; i++) {
                size_t j, start;
                ntg__windows_at(&w, idx[i], &j, &start);
                for (size_t t = 0; t < r.io.h; t++)
                    f->values[(j * r.io.h + t) * nq + q] = orig[i * r.io.h + t];
            }
        }
    }
    free(idx);
    free(yq);
    free(orig);
    ntg__scaler_free(g);
    free(cols);
    if (pool) runner_close(&r);
    if (st) {
        ntg__pool_destroy(pool);
        return st;
    }
    *out = f;
    return NTG_OK;
}
