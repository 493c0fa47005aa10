/* forecast.c — rolling-origin evaluation and forecasting from a series or from windows. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "exog.h"
#include "dist.h"
#include "metrics_cls.h"
#include "metrics_prob.h"
#include "model_io.h"
#include "ntg_error.h"
#include "session_int.h"

/* ----------------------------------------------------------------- running */

/* Run infer over windows idx of w in chunks; for each chunk call back with the outputs. */
typedef struct runner {
    const ntg_plan *plan;
    ntg_model_io io;
    ntg_session *s;
    size_t chunk;
    float *x, *loc, *scale, *y;
    size_t ny; /* floats of y per window */
    /* the plan's covariates (exog.h; NULL: none), bound to series `bound` */
    ntg_exog *exog;
    const ntg_series *bound;
    float *xbuf;
    /* forecaster windows with covariates: per window ntg__exog_per_window floats, already
     * normalized (hist, futr, stat); used instead of `exog` when set */
    const float *xwin;
    float *raw;     /* distribution heads and conformal plans: the plan's own output, decoded
                     * into y */
    double *widths; /* conformal plans: the half-widths (ntg__model_conformal_widths) */
    float *t;       /* when not NULL, runner_run fills the windows' targets here too */
} runner;

static ntg_status runner_open(runner *r, const ntg_plan *p, const ntg_session_options *opts,
                              ntg_error *err)
{
    memset(r, 0, sizeof *r);
    r->plan = p;
    ntg_status st = ntg__model_io(p, &r->io, err);
    if (st) return st;
    if ((st = ntg_session_create(p, opts, &r->s, err))) return st;
    /* windows go to the model in turns of the session's largest batch */
    r->chunk = (size_t)r->s->max_batch;
    r->ny = r->io.h * (r->io.classes ? (size_t)r->io.classes : r->io.nq ? r->io.nq : 1);
    r->x = malloc(r->chunk * r->io.L * sizeof(float));
    r->loc = malloc(r->chunk * sizeof(float));
    r->scale = malloc(r->chunk * sizeof(float));
    r->y = malloc(r->chunk * r->ny * sizeof(float));
    size_t per = r->io.dist ? (size_t)r->io.dist : 1; /* floats per step of the plan's output */
    if (r->io.dist || r->io.conformal) r->raw = malloc(r->chunk * r->io.h * per * sizeof(float));
    if (r->io.conformal && (st = ntg__model_conformal_widths(p, &r->io, &r->widths, err)))
        return st;
    if (!r->x || !r->loc || !r->scale || !r->y || ((r->io.dist || r->io.conformal) && !r->raw))
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    /* covariates the plan was trained with, normalized as in training */
    if ((st = ntg__exog_from_plan(p, &r->exog, err))) return st;
    if ((st = ntg__exog_check_io(r->exog, &r->io, err))) return st;
    r->xbuf = malloc((r->chunk * ntg__exog_per_window(&r->io) + 1) * sizeof(float));
    if (!r->xbuf) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return NTG_OK;
}

/* A session for the evaluation or forecast of a series: backend and threads as asked. */
static ntg_status runner_open_with(runner *r, const ntg_plan *p, const char *backend, int threads,
                                   ntg_error *err)
{
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = backend;
    so.threads = threads;
    return runner_open(r, p, &so, err);
}

static void runner_close(runner *r)
{
    ntg_session_destroy(r->s);
    free(r->x);
    free(r->loc);
    free(r->scale);
    free(r->y);
    free(r->xbuf);
    ntg__exog_free(r->exog);
    free(r->raw);
    free(r->widths);
}

/* The covariates of forecaster windows idx[0..n) from r->xwin (window j of column j) into
 * the session, in ntg__exog_feed's layout. */
static ntg_status feed_windows(runner *r, const ntg_windows *w, const uint64_t *idx, size_t n,
                               ntg_error *err)
{
    const ntg_model_io *io = &r->io;
    size_t nh = io->n_hist * io->L, nf = io->n_futr * (io->L + io->h), ns = io->n_stat;
    size_t per = nh + nf + ns;
    float *hist = r->xbuf, *futr = hist + n * nh, *stat = futr + n * nf;
    for (size_t i = 0; i < n; i++) {
        size_t j, start;
        ntg__windows_at(w, idx[i], &j, &start);
        const float *src = r->xwin + j * per;
        memcpy(hist + i * nh, src, nh * sizeof(float));
        memcpy(futr + i * nf, src + nh, nf * sizeof(float));
        memcpy(stat + i * ns, src + nh + nf, ns * sizeof(float));
    }
    ntg_status st = NTG_OK;
    if (io->hist != NTG_NONE) st = ntg__session_set_tensor(r->s, io->hist, hist, n * nh, err);
    if (!st && io->futr != NTG_NONE)
        st = ntg__session_set_tensor(r->s, io->futr, futr, n * nf, err);
    if (!st && io->stat != NTG_NONE)
        st = ntg__session_set_tensor(r->s, io->stat, stat, n * ns, err);
    return st;
}

/* Forecast windows idx[0..n) (n <= chunk): r->y gets the outputs, loc/scale the
 * per-window statistics. */
static ntg_status runner_run(runner *r, const ntg_series *s, const ntg_scaler *g,
                             ntg_window_scaler ws, const ntg_windows *w, const uint64_t *idx,
                             size_t n, ntg_error *err)
{
    ntg_status st = ntg__windows_fill(s, g, ws, w, idx, n, r->x, r->t, r->loc, r->scale, err);
    if (!st) st = ntg__session_set_tensor(r->s, r->io.x, r->x, n * r->io.L, err);
    if (!st && r->xwin) {
        st = feed_windows(r, w, idx, n, err);
    } else {
        if (!st && r->exog && r->bound != s) {
            st = ntg__exog_bind(r->exog, s, 0, 0, err);
            if (!st) r->bound = s;
        }
        if (!st) st = ntg__exog_feed(r->exog, &r->io, r->s, s, w, idx, n, r->xbuf, err);
    }
    if (!st) st = ntg__session_run_index(r->s, r->io.g_infer, (int)n, err);
    if (r->io.dist) {
        if (!st)
            st = ntg__session_get_tensor(r->s, r->io.y, r->raw, n * r->io.h * (size_t)r->io.dist,
                                         err);
        if (!st) ntg__model_decode(&r->io, r->raw, n, r->y);
        return st;
    }
    if (r->io.conformal) {
        if (!st) st = ntg__session_get_tensor(r->s, r->io.y, r->raw, n * r->io.h, err);
        if (!st) ntg__model_conformal(&r->io, r->widths, r->raw, n, r->y);
        return st;
    }
    if (!st) st = ntg__session_get_tensor(r->s, r->io.y, r->y, n * r->ny, err);
    if (!st && r->io.classes) ntg__model_softmax(&r->io, r->y, n); /* probabilities */
    return st;
}

/* --------------------------------------------------------------- evaluation */

void ntg_eval_options_init(ntg_eval_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

void ntg_scores_init(ntg_scores *s)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    s->size = sizeof *s;
}

/* Into the caller's `out` (its size checked), as far as its size reaches. */
static void to_scores(const ntg_metric_values *v, const ntg_pmetric_values *pv, ntg_scores *out)
{
    ntg_scores full, *o = &full;
    ntg_scores_init(o);
    o->coverage = pv ? pv->coverage : NAN;
    o->coverage_nominal = pv ? pv->nominal : NAN;
    o->pinball = pv ? pv->pinball : NAN;
    o->crps = pv ? pv->crps : NAN;
    o->accuracy = o->log_loss = o->brier = NAN;
    o->base_accuracy = o->base_log_loss = o->base_brier = NAN;
    o->mse = v->mse;
    o->mae = v->mae;
    o->mse_orig = v->mse_orig;
    o->mae_orig = v->mae_orig;
    o->mape = v->mape;
    o->smape = v->smape;
    o->mase = v->mase;
    o->n = v->n;
    ntg__abi_out(out, o);
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

/* Buffers of the probabilistic scores of a quantile or distribution model's windows. */
typedef struct prob_bufs {
    ntg_pmetrics *pm;
    size_t order[64]; /* the plan's quantiles in ascending level */
    float *yq;        /* [chunk * h] one level, model scale */
    double *q;        /* [nq][chunk * h] original units */
    double *sig, *df; /* distribution heads: sigma and df in original units, [chunk * h] */
} prob_bufs;

static ntg_status prob_open(prob_bufs *p, const runner *r, const ntg_scaler *g, size_t nc,
                            ntg_error *err)
{
    memset(p, 0, sizeof *p);
    size_t nq = r->io.nq, n = r->chunk * r->io.h;
    if (nq == 0) return NTG_OK;
    double levels[64], *std = malloc((nc + 1) * sizeof *std);
    if (!std) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < nc; j++) std[j] = g ? g->std[j] : 1.0;
    for (size_t q = 0; q < nq; q++) p->order[q] = q;
    for (size_t a = 1; a < nq; a++) /* insertion sort by level */
        for (size_t b = a; b > 0 && r->io.quantiles[p->order[b - 1]] > r->io.quantiles[p->order[b]];
             b--) {
            size_t t = p->order[b];
            p->order[b] = p->order[b - 1];
            p->order[b - 1] = t;
        }
    for (size_t q = 0; q < nq; q++) levels[q] = r->io.quantiles[p->order[q]];
    ntg_status st = ntg__pmetrics_create(nc, std, nq, levels, &p->pm, err);
    free(std);
    if (st) return st;
    p->yq = malloc(n * sizeof *p->yq);
    p->q = malloc(nq * n * sizeof *p->q);
    p->sig = malloc(n * sizeof *p->sig);
    p->df = malloc(n * sizeof *p->df);
    if (!p->yq || !p->q || !p->sig || !p->df) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return NTG_OK;
}

static void prob_close(prob_bufs *p)
{
    ntg__pmetrics_free(p->pm);
    free(p->yq);
    free(p->q);
    free(p->sig);
    free(p->df);
}

/* Score the b windows the runner just ran: every level in original units (the scalers are
 * affine and increasing, so quantiles map to quantiles), and for distribution heads sigma as
 * the image of loc + sigma less that of loc; mu is the point forecast, `orig`. */
static void prob_add(prob_bufs *p, const runner *r, const ntg_series *data, const ntg_scaler *g,
                     const ntg_windows *w, const uint64_t *idx, size_t b, const double *orig)
{
    if (!p->pm) return;
    size_t h = r->io.h, n = b * h, nq = r->io.nq, stride = r->chunk * h;
    for (size_t l = 0; l < nq; l++) {
        for (size_t i = 0; i < b; i++)
            for (size_t t = 0; t < h; t++)
                p->yq[i * h + t] = ntg__model_y(&r->io, r->y, i, t, p->order[l]);
        ntg__windows_invert(g, w, idx, b, r->loc, r->scale, p->yq, h, NULL, p->q + l * stride);
    }
    if (r->io.dist) {
        size_t np = (size_t)r->io.dist;
        for (size_t i = 0; i < b; i++)
            for (size_t t = 0; t < h; t++) {
                const float *raw = r->raw + i * np * h + t;
                p->yq[i * h + t] = (float)((double)raw[0] + ntg__softplus((double)raw[h]));
                p->df[i * h + t] = np == 3 ? 2.0 + ntg__softplus((double)raw[2 * h]) : 0.0;
            }
        ntg__windows_invert(g, w, idx, b, r->loc, r->scale, p->yq, h, NULL, p->sig);
        for (size_t k = 0; k < n; k++) p->sig[k] -= orig[k];
    }
    for (size_t i = 0; i < b; i++) {
        size_t j, start;
        ntg__windows_at(w, idx[i], &j, &start);
        const double *truth = data->values + (size_t)w->cols[j] * data->n_rows + start;
        ntg__pmetrics_add(p->pm, j, truth, h, p->q + i * h, stride, r->io.dist, orig + i * h,
                          p->sig + i * h, p->df + i * h);
    }
}

/* A classification head's scores (ntg_scores' class fields) into `out`. */
static void class_scores(const ntg_cmetric_values *v, ntg_scores *out)
{
    ntg_scores full, *o = &full;
    ntg_scores_init(o);
    o->mse = o->mae = o->mse_orig = o->mae_orig = o->mape = o->smape = o->mase = NAN;
    o->coverage = o->coverage_nominal = o->pinball = o->crps = NAN;
    o->accuracy = v->accuracy;
    o->log_loss = v->log_loss;
    o->brier = v->brier;
    o->base_accuracy = v->base_accuracy;
    o->base_log_loss = v->base_log_loss;
    o->base_brier = v->base_brier;
    o->n = v->n;
    ntg__abi_out(out, o);
}

/* Evaluation of a classification head: the labels of every window of the train split (the
 * baseline's frequencies), then the model's probabilities against the labels of every window
 * of `part` (docs/training.md, "Classification heads"). */
static ntg_status evaluate_classes(runner *r, const ntg_series *data, const int *cols, size_t nc,
                                   const ntg_split *sp, ntg_split_part part, const ntg_scaler *g,
                                   ntg_window_scaler ws, ntg_scores *overall,
                                   ntg_scores *per_column, size_t n_per_column, size_t stride,
                                   ntg_error *err)
{
    ntg_cmetrics *cm = NULL;
    ntg_windows wt, w;
    size_t h = r->io.h, C = (size_t)r->io.classes;
    uint64_t *idx = malloc(r->chunk * sizeof *idx);
    r->t = malloc(r->chunk * h * sizeof *r->t);
    ntg_status st = idx && r->t ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (!st) st = ntg__cmetrics_create(nc, C, &cm, err);
    /* the train split's labels: no model run, only the windows */
    if (!st) st = ntg__windows_make(sp, NTG_SPLIT_TRAIN, r->io.L, h, cols, nc, &wt, err);
    uint64_t count = st ? 0 : ntg__windows_count(&wt);
    for (uint64_t k0 = 0; !st && k0 < count; k0 += r->chunk) {
        size_t b = (size_t)(count - k0 < r->chunk ? count - k0 : r->chunk);
        for (size_t i = 0; i < b; i++) idx[i] = k0 + i;
        st = ntg__windows_fill(data, g, ws, &wt, idx, b, r->x, r->t, r->loc, r->scale, err);
        if (!st) ntg__model_labels(&r->io, r->x, r->t, b);
        if (!st) ntg__cmetrics_add_prior(cm, r->t, b * h);
    }
    if (!st) st = ntg__windows_make(sp, part, r->io.L, h, cols, nc, &w, err);
    if (!st) st = ntg__windows_check(data, g, &w, 1, err);
    count = st ? 0 : ntg__windows_count(&w);
    for (uint64_t k0 = 0; !st && k0 < count; k0 += r->chunk) {
        size_t b = (size_t)(count - k0 < r->chunk ? count - k0 : r->chunk);
        for (size_t i = 0; i < b; i++) idx[i] = k0 + i;
        if ((st = runner_run(r, data, g, ws, &w, idx, b, err))) break;
        ntg__model_labels(&r->io, r->x, r->t, b);
        for (size_t i = 0; !st && i < b; i++) {
            size_t j, start;
            ntg__windows_at(&w, idx[i], &j, &start);
            for (size_t k = 0; k < h * C; k++)
                if (!isfinite(r->y[i * h * C + k]))
                    st = ntg__fail(err, NTG_ERR_DATA,
                                   "column '%.60s': window %llu's class probabilities are not "
                                   "finite: the model overflowed on these values",
                                   data->names[cols[j]], (unsigned long long)(k0 + i));
            if (!st) ntg__cmetrics_add(cm, j, r->y + i * h * C, r->t + i * h, h);
        }
    }
    if (!st) {
        ntg_cmetric_values v;
        ntg__cmetrics_values(cm, nc, &v);
        class_scores(&v, overall);
        for (size_t j = 0; per_column && j < nc && j < n_per_column; j++) {
            ntg__cmetrics_values(cm, j, &v);
            class_scores(&v, (ntg_scores *)(void *)((char *)per_column + j * stride));
        }
    }
    ntg__cmetrics_free(cm);
    free(idx);
    return st;
}

ntg_status ntg_evaluate(const ntg_plan *plan, const ntg_series *data, const ntg_eval_options *opts,
                        ntg_scores *overall, ntg_scores *per_column, size_t n_per_column,
                        ntg_error *err)
{
    if (!plan || !data || !opts || !overall)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_evaluate: NULL argument");
    ntg_eval_options o;
    ntg_eval_options_init(&o);
    ntg_status ast = NTG__ABI_IN(&o, opts, ntg_eval_options, threads, "ntg_evaluate", err);
    if (!ast) ast = NTG__ABI_CHECK(overall, ntg_scores, n, "ntg_evaluate", err);
    /* per_column is an array of ntg_scores, stepped through by the size of its first */
    size_t stride = per_column && n_per_column ? per_column->size : sizeof(ntg_scores);
    if (!ast && per_column && n_per_column)
        ast = NTG__ABI_CHECK(per_column, ntg_scores, n, "ntg_evaluate (per_column[0])", err);
    for (size_t j = 1; !ast && per_column && j < n_per_column; j++) {
        const ntg_scores *pj =
            (const ntg_scores *)(const void *)((const char *)per_column + j * stride);
        if (pj->size != stride)
            ast = ntg__fail(err, NTG_ERR_INVALID_ARG,
                            "ntg_evaluate: per_column[%zu].size is %zu, not per_column[0]'s %zu "
                            "(initialise each with ntg_scores_init)",
                            j, pj->size, stride);
    }
    if (ast) return ast;
    opts = &o;
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
    prob_bufs pb;
    memset(&pb, 0, sizeof pb);
    ntg_status st = runner_open_with(&r, plan, opts->backend, opts->threads, err);
    if (!st) st = ntg__select_columns(data, opts->columns, &cols, &nc, err);
    if (!st) st = ntg__split_parse(opts->split, data->n_rows, &sp, err);
    if (!st) st = ntg__model_scaler(plan, data, cols, nc, sp.train, NULL, NULL, &g, &ws, err);
    if (!st && r.io.classes) {
        st = evaluate_classes(&r, data, cols, nc, &sp, part, g, ws, overall, per_column,
                              n_per_column, stride, err);
        ntg__scaler_free(g);
        free(cols);
        free(r.t);
        runner_close(&r);
        return st;
    }
    if (!st) st = ntg__windows_make(&sp, part, r.io.L, r.io.h, cols, nc, &w, err);
    if (!st) st = ntg__windows_panel(&w, data, NULL, err);
    if (!st) st = ntg__windows_check(data, g, &w, 1, err);
    size_t m_season = opts->seasonality > 0 ? (size_t)opts->seasonality : 1;
    if (!st) st = ntg__metrics_create(data, cols, nc, g, sp.train, m_season, &m, err);
    if (!st) {
        idx = malloc(r.chunk * sizeof *idx);
        pt = malloc(r.chunk * r.io.h * sizeof *pt);
        orig = malloc(r.chunk * r.io.h * sizeof *orig);
        if (!idx || !pt || !orig) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if (!st) st = prob_open(&pb, &r, g, nc, err);
    uint64_t count = st ? 0 : ntg__windows_count(&w);
    for (uint64_t k0 = 0; !st && k0 < count; k0 += r.chunk) {
        size_t b = (size_t)(count - k0 < r.chunk ? count - k0 : r.chunk);
        for (size_t i = 0; i < b; i++) idx[i] = k0 + i;
        if ((st = runner_run(&r, data, g, ws, &w, idx, b, err))) break;
        ntg__model_point(&r.io, r.y, b, pt);
        ntg__windows_invert(g, &w, idx, b, r.loc, r.scale, pt, r.io.h, NULL, orig);
        if ((st = check_forecasts(data, &w, idx, b, r.io.h, orig, err))) break;
        st = ntg__metrics_add_windows(m, &w, idx, b, orig, err);
        if (!st) prob_add(&pb, &r, data, g, &w, idx, b, orig);
    }
    /* finite forecasts of finite truths can still square past a double in original units */
    for (size_t j = 0; !st && j <= nc; j++) {
        ntg_metric_values v;
        if (j < nc)
            ntg__metrics_column(m, j, &v);
        else
            ntg__metrics_total(m, &v);
        /* a ragged panel's series too short for a window has no scores (n 0, NaN) */
        if (v.n && !scores_finite(&v))
            st = ntg__fail(err, NTG_ERR_DATA,
                           "%s%.60s%s: the scores overflow a double (MSE %g, MAE %g in original "
                           "units): the values are too large to score",
                           j < nc ? "column '" : "", j < nc ? data->names[cols[j]] : "all columns",
                           j < nc ? "'" : "", v.mse_orig, v.mae_orig);
    }
    if (!st) {
        ntg_metric_values v;
        ntg_pmetric_values pv;
        if (pb.pm) ntg__pmetrics_values(pb.pm, nc, &pv);
        ntg__metrics_total(m, &v);
        to_scores(&v, pb.pm ? &pv : NULL, overall);
        for (size_t j = 0; per_column && j < nc && j < n_per_column; j++) {
            ntg__metrics_column(m, j, &v);
            if (pb.pm) ntg__pmetrics_values(pb.pm, j, &pv);
            to_scores(&v, pb.pm ? &pv : NULL,
                      (ntg_scores *)(void *)((char *)per_column + j * stride));
        }
    }
    prob_close(&pb);
    free(idx);
    free(pt);
    free(orig);
    ntg__metrics_free(m);
    ntg__scaler_free(g);
    free(cols);
    runner_close(&r);
    return st;
}

/* ------------------------------------------------------ conformal intervals */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Split conformal calibration (docs/training.md, "Conformal intervals"): the absolute residuals
 * |forecast - target| of every window of the calibration part, per horizon step, in the model's
 * output scale; the half-width of level a at step r is the ceil((n + 1) a)-th smallest of the n
 * residuals of step r. */
ntg_status ntg_conformal_calibrate(const ntg_plan *plan, const ntg_series *data,
                                   const ntg_eval_options *opts, const double *levels,
                                   size_t n_levels, ntg_plan **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!plan || !data || !opts || !levels || !out)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_conformal_calibrate: NULL argument");
    ntg_eval_options o;
    ntg_eval_options_init(&o);
    ntg_status st =
        NTG__ABI_IN(&o, opts, ntg_eval_options, threads, "ntg_conformal_calibrate", err);
    if (st) return st;
    if (!o.split) return ntg__fail(err, NTG_ERR_INVALID_ARG, "conformal calibration needs a split");
    if (n_levels < 1 || n_levels > 31)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "conformal: 1 to 31 levels, not %zu", n_levels);
    for (size_t l = 0; l < n_levels; l++)
        if (!(levels[l] > 0 && levels[l] < 1) || (l > 0 && !(levels[l] > levels[l - 1])))
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "conformal: levels must be in (0, 1) and ascending (level %g)",
                             levels[l]);
    ntg_split_part part = NTG_SPLIT_VAL;
    if (o.part && strcmp(o.part, "test") == 0)
        part = NTG_SPLIT_TEST;
    else if (o.part && strcmp(o.part, "val") != 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "part must be 'val' or 'test', not '%s'",
                         o.part);
    runner r;
    int *cols = NULL;
    size_t nc = 0;
    ntg_split sp;
    ntg_scaler *g = NULL;
    ntg_window_scaler ws = NTG_WSCALER_IDENTITY;
    ntg_windows w;
    uint64_t *idx = NULL;
    float *t = NULL;
    double *res = NULL, *wd = NULL;
    char **vals = NULL;
    const char **meta = NULL;
    st = runner_open_with(&r, plan, o.backend, o.threads, err);
    if (!st && r.io.conformal)
        st = ntg__fail(err, NTG_ERR_INVALID_ARG,
                       "conformal intervals are for point models; this plan has conformal "
                       "intervals already (calibrate the plan it was made from)");
    else if (!st && r.io.classes)
        st = ntg__fail(err, NTG_ERR_INVALID_ARG,
                       "conformal intervals are for point models; this plan is a classifier "
                       "(loss xent)");
    else if (!st && (r.io.nq || r.io.dist))
        st = ntg__fail(err, NTG_ERR_INVALID_ARG,
                       "conformal intervals are for point models; this plan already forecasts "
                       "quantiles (loss %s)",
                       ntg_plan_meta(plan, "train.loss") ? ntg_plan_meta(plan, "train.loss") : "?");
    if (!st) st = ntg__select_columns(data, o.columns, &cols, &nc, err);
    if (!st) st = ntg__split_parse(o.split, data->n_rows, &sp, err);
    if (!st) st = ntg__model_scaler(plan, data, cols, nc, sp.train, NULL, NULL, &g, &ws, err);
    if (!st) st = ntg__windows_make(&sp, part, r.io.L, r.io.h, cols, nc, &w, err);
    if (!st) st = ntg__windows_panel(&w, data, NULL, err);
    if (!st) st = ntg__windows_check(data, g, &w, 1, err);
    uint64_t count = st ? 0 : ntg__windows_count(&w);
    size_t h = r.io.h, n = (size_t)count;
    if (!st && n == 0)
        st = ntg__fail(err, NTG_ERR_DATA, "conformal: the %s split has no window to calibrate on",
                       part == NTG_SPLIT_VAL ? "val" : "test");
    /* level a needs k = ceil((n + 1) a) <= n residuals: n >= a / (1 - a) */
    for (size_t l = 0; !st && l < n_levels; l++)
        if ((size_t)ceil((double)(n + 1) * levels[l]) > n)
            st = ntg__fail(err, NTG_ERR_DATA,
                           "conformal: level %g needs at least %.0f calibration windows, the %s "
                           "split has %zu",
                           levels[l], ceil(levels[l] / (1 - levels[l])),
                           part == NTG_SPLIT_VAL ? "val" : "test", n);
    if (!st) {
        idx = malloc(r.chunk * sizeof *idx);
        t = malloc(r.chunk * h * sizeof *t);
        res = malloc(n * h * sizeof *res); /* [step][window] */
        wd = malloc(n_levels * h * sizeof *wd);
        if (!idx || !t || !res || !wd) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    for (uint64_t k0 = 0; !st && k0 < count; k0 += r.chunk) {
        size_t b = (size_t)(count - k0 < r.chunk ? count - k0 : r.chunk);
        for (size_t i = 0; i < b; i++) idx[i] = k0 + i;
        st = ntg__windows_fill(data, g, ws, &w, idx, b, r.x, t, r.loc, r.scale, err);
        if (!st) st = ntg__session_set_tensor(r.s, r.io.x, r.x, b * r.io.L, err);
        if (!st) st = ntg__session_run_index(r.s, r.io.g_infer, (int)b, err);
        if (!st) st = ntg__session_get_tensor(r.s, r.io.y, r.y, b * h, err);
        for (size_t i = 0; !st && i < b; i++)
            for (size_t s = 0; s < h; s++) {
                double e = fabs((double)r.y[i * h + s] - (double)t[i * h + s]);
                if (!isfinite(e)) {
                    st = ntg__fail(err, NTG_ERR_DATA,
                                   "conformal: window %llu's forecast is not finite at step %zu",
                                   (unsigned long long)(k0 + i), s + 1);
                    break;
                }
                res[s * n + (size_t)k0 + i] = e;
            }
    }
    for (size_t s = 0; !st && s < h; s++) {
        qsort(res + s * n, n, sizeof *res, cmp_double);
        for (size_t l = 0; l < n_levels; l++) {
            size_t k = (size_t)ceil((double)(n + 1) * levels[l]);
            wd[l * h + s] = res[s * n + k - 1];
        }
    }
    /* the metadata: levels, one half-width list per level, the calibration's size; and the
     * scaler the widths are relative to when the plan has none of its own (an untrained plan
     * would otherwise forecast on raw values) */
    size_t n_meta = n_levels + 3, n_sc = 0;
    ntg_pool *pool = NULL;
    const char *sk[NTG_SCALER_META_KEYS], *sv[NTG_SCALER_META_KEYS];
    if (!st) {
        pool = ntg__pool_create();
        if (!pool) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if (!st) st = ntg__scaler_to_meta(g, ws, pool, sk, sv, err);
    if (!st && !ntg_plan_meta(plan, sk[0])) n_sc = NTG_SCALER_META_KEYS;
    if (!st) {
        vals = calloc(n_meta, sizeof *vals);
        meta = calloc(2 * (n_meta + n_sc), sizeof *meta);
        if (!vals || !meta) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    char keys[31][32];
    for (size_t m = 0; !st && m < n_meta; m++) {
        size_t cap = m < n_levels ? h * 26 + 4 : 31 * 26 + 4, len = 0;
        char *v = vals[m] = malloc(cap);
        if (!v) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        if (m < n_levels) {
            ntg__strfmt(keys[m], sizeof keys[m], "conformal.width.%zu", m);
            meta[2 * m] = keys[m];
            v[len++] = '[';
            for (size_t s = 0; s < h; s++)
                len += (size_t)snprintf(v + len, cap - len, "%s%.9g", s ? ", " : "", wd[m * h + s]);
            snprintf(v + len, cap - len, "]");
        } else if (m == n_levels) {
            meta[2 * m] = "conformal.levels";
            v[len++] = '[';
            for (size_t l = 0; l < n_levels; l++)
                len += (size_t)snprintf(v + len, cap - len, "%s%.17g", l ? ", " : "", levels[l]);
            snprintf(v + len, cap - len, "]");
        } else if (m == n_levels + 1) {
            meta[2 * m] = "conformal.n";
            snprintf(v, cap, "%zu", n);
        } else {
            meta[2 * m] = "conformal.part";
            snprintf(v, cap, "%s", part == NTG_SPLIT_VAL ? "val" : "test");
        }
        meta[2 * m + 1] = v;
    }
    for (size_t i = 0; !st && i < n_sc; i++) {
        meta[2 * (n_meta + i)] = sk[i];
        meta[2 * (n_meta + i) + 1] = sv[i];
    }
    if (!st) st = ntg__plan_rewrite(plan, NULL, meta, n_meta + n_sc, out, err);
    ntg__pool_destroy(pool);
    for (size_t m = 0; vals && m < n_meta; m++) free(vals[m]);
    free(vals);
    free(meta);
    free(idx);
    free(t);
    free(res);
    free(wd);
    ntg__scaler_free(g);
    free(cols);
    runner_close(&r);
    return st;
}

/* -------------------------------------------------------------- forecasting */

struct ntg_forecast {
    ntg_pool *pool;
    size_t n_cols, h, nq;
    size_t classes; /* classification heads: values are class probabilities */
    double quantiles[64];
    const char **names;
    double *values;      /* [col][step][max(nq, 1)] */
    const char ***dates; /* per column: h dates, or NULL */
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

size_t ntg_forecast_classes(const ntg_forecast *f)
{
    return f ? f->classes : 0;
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
    size_t nq = f && f->classes ? f->classes : f && f->nq ? f->nq : 1;
    if (!f || c >= f->n_cols || step >= f->h || q >= nq) return NAN;
    return f->values[(c * f->h + step) * nq + q];
}

const char *ntg_forecast_column_date(const ntg_forecast *f, size_t c, size_t step)
{
    return f && c < f->n_cols && f->dates[c] && step < f->h ? f->dates[c][step] : NULL;
}

const char *ntg_forecast_date(const ntg_forecast *f, size_t step)
{
    return ntg_forecast_column_date(f, 0, step);
}

/* A forecast of nc columns of the runner's plan, in `pool` (which it then owns); names and
 * dates are the caller's to fill. */
static ntg_status forecast_new(ntg_pool *pool, const runner *r, size_t nc, ntg_forecast **out,
                               ntg_error *err)
{
    size_t nq = r->io.classes ? (size_t)r->io.classes : r->io.nq ? r->io.nq : 1;
    ntg_forecast *f = ntg__pool_alloc(pool, sizeof *f);
    if (!f) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    memset(f, 0, sizeof *f);
    f->pool = pool;
    f->n_cols = nc;
    f->h = r->io.h;
    f->nq = r->io.nq;
    f->classes = (size_t)r->io.classes;
    f->names = ntg__pool_array(pool, nc + 1, sizeof *f->names);
    f->dates = ntg__pool_array(pool, nc + 1, sizeof *f->dates);
    f->values = ntg__pool_array(pool, nc * r->io.h * nq + 1, sizeof *f->values);
    if (!f->names || !f->dates || !f->values) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j <= nc; j++) f->dates[j] = NULL;
    *out = f;
    return NTG_OK;
}

/* Run the forecast windows w of `data` (one per column, as ntg__windows_forecast makes
 * them; g bound to w's columns) and write column j's forecast, every quantile, to f. */
static ntg_status forecast_fill(runner *r, const ntg_series *data, const ntg_scaler *g,
                                ntg_window_scaler ws, const ntg_windows *w, ntg_forecast *f,
                                ntg_error *err)
{
    size_t nq = r->io.nq ? r->io.nq : 1;
    /* slot q of the forecast holds the plan's quantile order[q]: the point forecast first,
     * then the other levels ascending (a plan lists them ascending; older ones put the
     * median first) */
    size_t order[64] = {0};
    if (r->io.nq) {
        size_t k = 0;
        order[k++] = r->io.point;
        for (size_t q = 0; q < r->io.nq; q++)
            if (q != r->io.point) order[k++] = q;
        for (size_t a = 2; a < k; a++)
            for (size_t b = a; b > 1 && r->io.quantiles[order[b - 1]] > r->io.quantiles[order[b]];
                 b--) {
                size_t t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
    }
    for (size_t q = 0; q < r->io.nq; q++) f->quantiles[q] = r->io.quantiles[order[q]];
    uint64_t *idx = malloc(r->chunk * sizeof *idx);
    float *yq = malloc(r->chunk * r->io.h * sizeof *yq);
    double *orig = malloc(r->chunk * r->io.h * sizeof *orig);
    ntg_status st = idx && yq && orig ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    uint64_t count = st ? 0 : ntg__windows_count(w);
    for (uint64_t k0 = 0; !st && k0 < count; k0 += r->chunk) {
        size_t b = (size_t)(count - k0 < r->chunk ? count - k0 : r->chunk);
        for (size_t i = 0; i < b; i++) idx[i] = k0 + i;
        if ((st = runner_run(r, data, g, ws, w, idx, b, err))) break;
        if (r->io.classes) { /* probabilities [b, h, C]: no scale to undo */
            size_t C = (size_t)r->io.classes, per = r->io.h * C;
            for (size_t i = 0; !st && i < b; i++) {
                size_t j, start;
                ntg__windows_at(w, idx[i], &j, &start);
                for (size_t k = 0; k < per; k++) {
                    double v = (double)r->y[i * per + k];
                    if (!isfinite(v))
                        st = ntg__fail(err, NTG_ERR_DATA,
                                       "column '%.60s': the class probabilities are not finite: "
                                       "the model overflowed on these values",
                                       data->names[w->cols[j]]);
                    f->values[j * per + k] = v;
                }
            }
            continue;
        }
        for (size_t q = 0; q < nq; q++) {
            for (size_t i = 0; i < b; i++)
                for (size_t t = 0; t < r->io.h; t++)
                    yq[i * r->io.h + t] = ntg__model_y(&r->io, r->y, i, t, order[q]);
            ntg__windows_invert(g, w, idx, b, r->loc, r->scale, yq, r->io.h, NULL, orig);
            if ((st = check_forecasts(data, w, idx, b, r->io.h, orig, err))) break;
            for (size_t i = 0; i < b; i++) {
                size_t j, start;
                ntg__windows_at(w, idx[i], &j, &start);
                for (size_t t = 0; t < r->io.h; t++)
                    f->values[(j * r->io.h + t) * nq + q] = orig[i * r->io.h + t];
            }
        }
    }
    free(idx);
    free(yq);
    free(orig);
    return st;
}

ntg_status ntg_forecast_series(const ntg_plan *plan, const ntg_series *data, const char *columns,
                               const ntg_session_options *opts, ntg_forecast **out, ntg_error *err)
{
    return ntg_forecast_series_exog(plan, data, NULL, columns, opts, out, err);
}

ntg_status ntg_forecast_series_exog(const ntg_plan *plan, const ntg_series *data,
                                    const ntg_series *future, const char *columns,
                                    const ntg_session_options *opts, ntg_forecast **out,
                                    ntg_error *err)
{
    if (!plan || !data || !out)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_forecast_series: NULL argument");
    *out = NULL;
    ntg_session_options so;
    ntg_session_options_init(&so);
    ntg_status ost = NTG__ABI_IN(&so, opts, ntg_session_options, flags, "ntg_forecast_series", err);
    if (ost) return ost;
    runner r;
    int *cols = NULL;
    size_t nc = 0;
    ntg_scaler *g = NULL;
    ntg_window_scaler ws = NTG_WSCALER_IDENTITY;
    ntg_windows w;
    ntg_forecast *f = NULL;
    ntg_pool *pool = ntg__pool_create();
    ntg_status st = pool ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (!st) st = runner_open_with(&r, plan, so.backend, so.threads, err);
    if (!st) st = ntg__select_columns(data, columns, &cols, &nc, err);
    /* a trained plan brings its scaler; an untrained one sees raw values */
    if (!st)
        st =
            ntg__model_scaler(plan, data, cols, nc, data->n_rows, "none", "identity", &g, &ws, err);
    if (!st) st = ntg__windows_forecast(data->n_rows, r.io.L, r.io.h, cols, nc, &w, err);
    /* a ragged panel: every series forecasts past its own end (the last row), from its
     * own last input_size rows */
    for (size_t j = 0; !st && j < nc; j++)
        if (data->n_rows - ntg__series_first(data, (size_t)cols[j]) < r.io.L)
            st = ntg__fail(err, NTG_ERR_DATA,
                           "forecast: series '%.60s' has %zu rows, fewer than input_size = %zu "
                           "(choose the series to forecast with columns)",
                           data->names[cols[j]],
                           data->n_rows - ntg__series_first(data, (size_t)cols[j]), r.io.L);
    if (!st) st = ntg__windows_panel(&w, data, NULL, err);
    if (!st) st = ntg__windows_check(data, g, &w, 0, err);
    /* future-known covariates over the horizon: the future file's rows, calendar dates */
    if (!st && r.exog) st = ntg__exog_bind(r.exog, data, 0, 0, err);
    if (!st && r.exog) r.bound = data;
    if (!st && r.exog && r.exog->n_futr)
        st = ntg__exog_future(r.exog, data, future, cols, nc, r.io.h, err);
    if (!st) st = forecast_new(pool, &r, nc, &f, err);
    for (size_t j = 0; !st && j < nc; j++)
        if (!(f->names[j] = ntg__pool_strdup(pool, data->names[cols[j]])))
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (!st && data->dates) {
        const char **d = ntg__series_next_dates(data, 1, r.io.h, pool);
        for (size_t j = 0; j < nc; j++) f->dates[j] = d;
    }
    for (size_t j = 0; !st && data->first && j < nc; j++)
        f->dates[j] = ntg__panel_next_dates(data, (size_t)cols[j], r.io.h, pool);
    if (!st) st = forecast_fill(&r, data, g, ws, &w, f, err);
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

/* ---------------------------------------------------- forecasting from memory */

struct ntg_forecaster {
    runner r;
    ntg_scaler *scaler; /* the plan's fitted scaler; NULL: none, values go in as they are */
    ntg_window_scaler ws;
};

void ntg_window_init(ntg_window *w)
{
    if (!w) return;
    memset(w, 0, sizeof *w);
    w->size = sizeof *w;
}

void ntg_covariate_init(ntg_covariate *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->size = sizeof *c;
}

ntg_status ntg_forecaster_create(const ntg_plan *plan, const ntg_session_options *opts,
                                 ntg_forecaster **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!plan || !out)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_forecaster_create: NULL argument");
    if (opts) {
        ntg_status cst =
            NTG__ABI_CHECK(opts, ntg_session_options, flags, "ntg_forecaster_create", err);
        if (cst) return cst;
    }
    ntg_forecaster *f = calloc(1, sizeof *f);
    if (!f) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_status st = runner_open(&f->r, plan, opts, err);
    /* the plan's scaler, parsed once: as ntg__model_scaler reads it for a series */
    const char *keys[64], *vals[64];
    size_t n = 0;
    for (uint32_t m = 0; !st && m < plan->img.n_meta && n < 64; m++) {
        const char *k = ntg__plan_str(plan, plan->img.meta[m].key);
        if (strncmp(k, "scaler.", 7) == 0) {
            keys[n] = k;
            vals[n++] = ntg__plan_str(plan, plan->img.meta[m].value);
        }
    }
    f->ws = NTG_WSCALER_IDENTITY;
    if (!st && n > 0) {
        st = ntg__scaler_from_meta(keys, vals, n, &f->scaler, &f->ws, err);
        /* a key missing from the plan's scaler is a malformed plan, not a missing name */
        if (st == NTG_ERR_NOT_FOUND) st = NTG_ERR_DATA;
        if (st && err) err->status = st;
        if (st) ntg__err_prefix(err, "the plan's fitted scaler: ");
    }
    if (st) {
        ntg_forecaster_destroy(f);
        return st;
    }
    *out = f;
    return NTG_OK;
}

void ntg_forecaster_destroy(ntg_forecaster *f)
{
    if (!f) return;
    runner_close(&f->r);
    ntg__scaler_free(f->scaler);
    free(f);
}

size_t ntg_forecaster_input_size(const ntg_forecaster *f)
{
    return f ? f->r.io.L : 0;
}

size_t ntg_forecaster_horizon(const ntg_forecaster *f)
{
    return f ? f->r.io.h : 0;
}

int ntg_forecaster_scaled(const ntg_forecaster *f)
{
    return f && f->scaler ? 1 : 0;
}

/* "window 3 (column 'OT')" */
static const char *window_what(char *buf, size_t cap, size_t k, const char *name)
{
    return ntg__strfmt(buf, cap, "window %zu (column '%.60s')", k, name);
}

/* Window k's time stamps continued h steps, into pool; NULL when they cannot be. */
static ntg_status window_dates(const ntg_window *w, size_t k, const char *name, size_t h,
                               ntg_pool *pool, const char ***out, ntg_error *err)
{
    *out = NULL;
    char what[128];
    if (w->n_values > SIZE_MAX / sizeof(int64_t) - 1)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: %zu time stamps are too many",
                         window_what(what, sizeof what, k, name), w->n_values);
    int64_t *epoch = malloc(w->n_values * sizeof *epoch + 1);
    if (!epoch) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_status st = ntg__dates_check(w->timestamps, w->n_values, 0,
                                     window_what(what, sizeof what, k, name), epoch, err);
    if (!st) {
        /* a one-column series over the window, to continue its dates as a CSV's are */
        ntg_series v = {0};
        v.n_rows = w->n_values;
        v.n_cols = 1;
        v.names = &name;
        v.values = (double *)(uintptr_t)w->values;
        v.dates = (const char **)(uintptr_t)w->timestamps;
        v.epoch = epoch;
        *out = ntg__series_next_dates(&v, 1, h, pool);
    }
    free(epoch);
    return st;
}

static int takes_covariates(const ntg_model_io *io)
{
    return io->hist != NTG_NONE || io->futr != NTG_NONE || io->stat != NTG_NONE;
}

/* The covariate named `name` of window wk (stride: the caller's ntg_covariate size), or
 * NULL. */
static const ntg_covariate *cov_find(const ntg_window *wk, size_t stride, const char *name)
{
    for (size_t i = 0; i < wk->n_covariates; i++) {
        const ntg_covariate *c =
            (const ntg_covariate *)(const void *)((const char *)wk->covariates + i * stride);
        if (c->name && strcmp(c->name, name) == 0) return c;
    }
    return NULL;
}

/* The last `need` values of covariate `name` (role `role`) of window k, checked finite
 * (and > 0 for a log normalization), or NULL with the error set. */
static const double *cov_values(const ntg_window *wk, size_t stride, const char *what,
                                const char *role, const char *name, size_t need, const char *needs,
                                ntg_xnorm norm, ntg_error *err)
{
    const ntg_covariate *c = cov_find(wk, stride, name);
    if (!c) {
        ntg__fail(err, NTG_ERR_DATA, "%s: the plan's %s covariate '%.60s' is missing", what, role,
                  name);
        return NULL;
    }
    if (!c->values || c->n_values < need) {
        ntg__fail(err, NTG_ERR_DATA, "%s: %s covariate '%.60s' has %zu values, it needs %s (%zu)",
                  what, role, name, c->values ? c->n_values : 0, needs, need);
        return NULL;
    }
    const double *v = c->values + (c->n_values - need);
    for (size_t i = 0; i < need; i++) {
        if (!isfinite(v[i])) {
            ntg__fail(err, NTG_ERR_DATA, "%s: %s covariate '%.60s', value %zu of %zu is %s", what,
                      role, name, c->n_values - need + i + 1, c->n_values,
                      isnan(v[i]) ? "NaN" : "an infinity");
            return NULL;
        }
        if (norm == NTG_XNORM_LOG && !(v[i] > 0)) {
            ntg__fail(err, NTG_ERR_DATA,
                      "%s: %s covariate '%.60s', value %zu of %zu: %g has no logarithm "
                      "(normalization 'log' needs values > 0)",
                      what, role, name, c->n_values - need + i + 1, c->n_values, v[i]);
            return NULL;
        }
    }
    return v;
}

/* Window k's covariates, normalized as in training, into out (ntg__exog_per_window floats:
 * hist [n_hist][L], futr [n_futr][L + h], stat [n_stat]).  `dates`: the window's h
 * continued dates (NULL without time stamps). */
static ntg_status window_covariates(const runner *r, const ntg_window *wk, size_t k,
                                    const char *name, const char **dates, float *out,
                                    ntg_error *err)
{
    const ntg_exog *ex = r->exog;
    const size_t L = r->io.L, h = r->io.h;
    char what[128];
    window_what(what, sizeof what, k, name);
    size_t stride = 0;
    if (wk->n_covariates) {
        if (!wk->covariates)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: covariates is NULL", what);
        stride = wk->covariates->size;
        ntg_status cst = NTG__ABI_CHECK(wk->covariates, ntg_covariate, n_values,
                                        "ntg_forecaster_run (covariate 0)", err);
        if (cst) return cst;
    }
    /* every covariate given is one the plan takes, once, and not a calendar feature */
    for (size_t i = 0; i < wk->n_covariates; i++) {
        const ntg_covariate *c =
            (const ntg_covariate *)(const void *)((const char *)wk->covariates + i * stride);
        if (c->size != stride)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "%s: covariate %zu: size %zu differs from covariate 0's %zu (set it "
                             "with ntg_covariate_init)",
                             what, i, c->size, stride);
        if (!c->name)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: covariate %zu has no name", what, i);
        int known = 0, cal = 0;
        for (size_t f = 0; f < ex->n_hist; f++) known |= strcmp(ex->hist[f].name, c->name) == 0;
        for (size_t f = 0; f < ex->n_futr; f++)
            if (strcmp(ex->futr[f].name, c->name) == 0 ||
                (ex->futr[f].cal >= 0 && strncmp(c->name, "calendar:", 9) == 0 &&
                 strcmp(ex->futr[f].name, c->name + 9) == 0))
                known = 1, cal = ex->futr[f].cal >= 0;
        for (size_t f = 0; f < ex->n_stat; f++) known |= strcmp(ex->stat_names[f], c->name) == 0;
        if (!known || cal)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             cal ? "%s: covariate '%.60s' is a calendar feature, computed from "
                                   "the window's time stamps: do not give it"
                                 : "%s: covariate '%.60s' is not one the plan takes (see its "
                                   "exog.hist, exog.futr and exog.static_names)",
                             what, c->name);
        if (cov_find(wk, stride, c->name) != c)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: covariate '%.60s' is given twice", what,
                             c->name);
    }
    float *hist = out, *futr = hist + r->io.n_hist * L, *stat = futr + r->io.n_futr * (L + h);
    for (size_t f = 0; f < ex->n_hist; f++) {
        const ntg_xfeat *x = &ex->hist[f];
        const double *v = cov_values(wk, stride, what, "historic", x->name, L,
                                     "the window's last input_size", x->norm, err);
        if (!v) return err ? err->status : NTG_ERR_DATA;
        for (size_t t = 0; t < L; t++) hist[f * L + t] = (float)ntg__exog_norm(x, v[t]);
    }
    int64_t *epoch = NULL;
    ntg_status st = NTG_OK;
    for (size_t f = 0; !st && f < ex->n_futr; f++) {
        const ntg_xfeat *x = &ex->futr[f];
        float *o = futr + f * (L + h);
        if (x->cal < 0) {
            const double *v =
                cov_values(wk, stride, what, "future", x->name, L + h,
                           "the window's last input_size and the horizon's h", x->norm, err);
            if (!v) st = err ? err->status : NTG_ERR_DATA;
            for (size_t t = 0; !st && t < L + h; t++) o[t] = (float)ntg__exog_norm(x, v[t]);
            continue;
        }
        if (!wk->timestamps || !dates) {
            st = ntg__fail(err, NTG_ERR_DATA,
                           "%s: the calendar feature '%s' needs the window's time stamps%s", what,
                           x->name, wk->timestamps ? " at a regular step" : "");
            break;
        }
        if (!epoch) {
            epoch = malloc(wk->n_values * sizeof *epoch + 1);
            if (!epoch) {
                st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
                break;
            }
            if ((st = ntg__dates_check(wk->timestamps, wk->n_values, 0, what, epoch, err))) break;
        }
        for (size_t t = 0; t < L + h; t++) {
            int64_t e = t < L ? epoch[wk->n_values - L + t] : ntg__date_epoch(dates[t - L]);
            o[t] = (float)ntg__calendar_value((ntg_calendar)x->cal, e);
        }
    }
    free(epoch);
    if (st) return st;
    if (ex->n_stat) {
        int given = 0;
        for (size_t f = 0; f < ex->n_stat; f++)
            given |= cov_find(wk, stride, ex->stat_names[f]) != NULL;
        if (given) {
            for (size_t f = 0; f < ex->n_stat; f++) {
                const ntg_covariate *c = cov_find(wk, stride, ex->stat_names[f]);
                if (!c)
                    return ntg__fail(err, NTG_ERR_DATA,
                                     "%s: static attribute '%.60s' is missing (give all of the "
                                     "plan's static attributes, or none to use its table)",
                                     what, ex->stat_names[f]);
                if (!c->values || c->n_values != 1 || !isfinite(c->values[0]))
                    return ntg__fail(err, NTG_ERR_DATA,
                                     "%s: static attribute '%.60s' needs one finite value", what,
                                     ex->stat_names[f]);
                stat[f] = (float)c->values[0];
            }
        } else {
            const double *a = ntg__exog_static(ex, name, err);
            if (!a) {
                ntg__err_prefix(err, "%s: ", what);
                return NTG_ERR_NOT_FOUND;
            }
            for (size_t f = 0; f < ex->n_stat; f++) stat[f] = (float)a[f];
        }
    }
    return NTG_OK;
}

ntg_status ntg_forecaster_run(ntg_forecaster *fc, const ntg_window *windows, size_t n,
                              ntg_forecast **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!fc || !windows || !out)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_forecaster_run: NULL argument");
    if (n == 0) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_forecaster_run: no windows");
    /* the caller's struct size steps through the array: older programs pass smaller ones */
    size_t stride = windows->size;
    ntg_status cst =
        NTG__ABI_CHECK(windows, ntg_window, timestamps, "ntg_forecaster_run (window 0)", err);
    if (cst) return cst;
    runner *r = &fc->r;
    const size_t L = r->io.L, h = r->io.h;
    if (n > (SIZE_MAX / sizeof(double) - 1) / L)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_forecaster_run: %zu windows are too many",
                         n);
    ntg_pool *pool = ntg__pool_create();
    const char **names = calloc(n + 1, sizeof *names);
    int *cols = calloc(n + 1, sizeof *cols);
    double *values = malloc(n * L * sizeof *values + 1);
    ntg_scaler *g = NULL;
    ntg_forecast *f = NULL;
    ntg_windows w;
    char what[128];
    /* a plan with covariates: each window's, normalized, before any is run */
    size_t per = takes_covariates(&r->io) ? ntg__exog_per_window(&r->io) : 0;
    float *xall = per && n <= (SIZE_MAX / sizeof(float) - 1) / per
                      ? malloc(n * per * sizeof(float) + 1)
                      : NULL;
    ntg_status st = pool && names && cols && values && (!per || xall)
                        ? NTG_OK
                        : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (!st) st = forecast_new(pool, r, n, &f, err);
    for (size_t k = 0; !st && k < n; k++) {
        const ntg_window *wk =
            (const ntg_window *)(const void *)((const char *)windows + k * stride);
        if (wk->size != stride) {
            st = ntg__fail(err, NTG_ERR_INVALID_ARG,
                           "window %zu: size %zu differs from window 0's %zu (set it with "
                           "ntg_window_init)",
                           k, wk->size, stride);
            break;
        }
        const char *name = wk->column;
        if (!name && fc->scaler && fc->scaler->n_cols > 1) {
            st = ntg__fail(err, NTG_ERR_INVALID_ARG,
                           "window %zu has no column name, and the plan's scaler has %zu columns "
                           "(the first '%.60s'): name the series",
                           k, fc->scaler->n_cols, fc->scaler->names[0]);
            break;
        }
        if (!name) name = fc->scaler ? fc->scaler->names[0] : "";
        names[k] = f->names[k] = ntg__pool_strdup(pool, name);
        if (!names[k]) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        window_what(what, sizeof what, k, name);
        if (!wk->values && wk->n_values) {
            st = ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: values is NULL", what);
            break;
        }
        if (wk->n_values < L) {
            st = ntg__fail(err, NTG_ERR_DATA,
                           "%s: %zu values, but the model reads the last %zu (input_size)", what,
                           wk->n_values, L);
            break;
        }
        const double *last = wk->values + (wk->n_values - L);
        for (size_t i = 0; !st && i < L; i++)
            if (!isfinite(last[i]))
                st = ntg__fail(err, NTG_ERR_DATA, "%s: value %zu of %zu is %s", what,
                               wk->n_values - L + i + 1, wk->n_values,
                               isnan(last[i]) ? "NaN" : "an infinity");
        if (st) break;
        memcpy(values + k * L, last, L * sizeof *values);
        cols[k] = (int)k;
        if (wk->timestamps) st = window_dates(wk, k, name, h, pool, &f->dates[k], err);
        if (!st && xall) {
            /* fields an older caller's struct lacks are no covariates */
            ntg_window cw;
            ntg_window_init(&cw);
            memcpy(&cw, wk, stride < sizeof cw ? stride : sizeof cw);
            if (stride < NTG__SIZE_THROUGH(ntg_window, n_covariates)) {
                cw.covariates = NULL;
                cw.n_covariates = 0;
            }
            st = window_covariates(r, &cw, k, name, f->dates[k], xall + k * per, err);
        } else if (!st && wk->size >= NTG__SIZE_THROUGH(ntg_window, n_covariates) &&
                   wk->n_covariates) {
            st = ntg__fail(err, NTG_ERR_INVALID_ARG,
                           "%s: %zu covariates given, but the plan takes none", what,
                           wk->n_covariates);
        }
    }
    /* the windows as the columns of a series of input_size rows: then every step is the
     * one ntg_forecast_series takes, and the numbers are the same */
    ntg_series view = {0};
    view.n_rows = L;
    view.n_cols = n;
    view.names = names;
    view.values = values;
    int bound = 0;
    if (!st && fc->scaler) {
        int *unused = calloc(n + 1, sizeof *unused);
        if (!unused) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        /* bound by name: window k gets the mean and std of its column, repeated or not */
        for (size_t k = 0; !st && k < n; k++)
            if (ntg__scaler_find(fc->scaler, names[k]) < 0)
                st = ntg__fail(err, NTG_ERR_NOT_FOUND,
                               "%s: the plan's scaler was not fitted on this column (%zu "
                               "columns, the first '%.60s')",
                               window_what(what, sizeof what, k, names[k]), fc->scaler->n_cols,
                               fc->scaler->names[0]);
        if (!st) st = ntg__scaler_select(fc->scaler, &view, names, n, unused, &g, err);
        free(unused);
        bound = !st;
    }
    if (!st) st = ntg__windows_forecast(L, L, h, cols, n, &w, err);
    if (!st) {
        st = ntg__windows_check(&view, g, &w, 0, err);
        if (st) ntg__err_prefix(err, "windows (rows count the last %zu values of each): ", L);
    }
    r->xwin = xall;
    if (!st)
        st = forecast_fill(r, &view, bound ? g : NULL, fc->scaler ? fc->ws : NTG_WSCALER_IDENTITY,
                           &w, f, err);
    r->xwin = NULL;
    free(xall);
    ntg__scaler_free(g);
    free(names);
    free(cols);
    free(values);
    if (st) {
        ntg__pool_destroy(pool);
        return st;
    }
    *out = f;
    return NTG_OK;
}

ntg_status ntg_forecast_windows(const ntg_plan *plan, const ntg_window *windows, size_t n,
                                const ntg_session_options *opts, ntg_forecast **out, ntg_error *err)
{
    if (out) *out = NULL;
    ntg_forecaster *f = NULL;
    ntg_status st = ntg_forecaster_create(plan, opts, &f, err);
    if (!st) st = ntg_forecaster_run(f, windows, n, out, err);
    ntg_forecaster_destroy(f);
    return st;
}
