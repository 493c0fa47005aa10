/* metrics.c — forecast accuracy: MSE/MAE on the z-scored scale, MAE/MAPE/sMAPE/MASE in units. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "series.h"

/* Sums per column, in double, in the order pairs arrive (deterministic). */
typedef struct col_acc {
    double se_z, ae_z; /* globally scaled */
    double se, ae;     /* original units */
    double ape;        /* percentage errors over the pairs MAPE counts */
    double sape;       /* symmetric percentage errors */
    uint64_t n, n_ape, n_skip;
} col_acc;

struct ntg_metrics {
    const ntg_series *s;
    size_t n_cols;
    int *cols;
    double *std;  /* the global scaler's std per column (1 without one) */
    int log;      /* the global scaler is 'log': scaled errors are (ln f - ln y) / std */
    double *mase; /* MASE denominators */
    col_acc *acc;
};

void ntg__metrics_free(ntg_metrics *m)
{
    if (!m) return;
    free(m->cols);
    free(m->std);
    free(m->mase);
    free(m->acc);
    free(m);
}

ntg_status ntg__metrics_create(const ntg_series *s, const int *cols, size_t n_cols,
                               const ntg_scaler *g, size_t train_rows, size_t m, ntg_metrics **out,
                               ntg_error *err)
{
    if (out) *out = NULL;
    if (!s || !cols || !out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "metrics: NULL argument");
    if (n_cols == 0) return ntg__fail(err, NTG_ERR_INVALID_ARG, "metrics: no columns");
    if (m == 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "metrics: the MASE seasonality must be >= 1");
    if (train_rows <= m || train_rows > s->n_rows)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "metrics: MASE needs more train rows (%zu) than its seasonality (%zu), "
                         "and no more than the series has (%zu)",
                         train_rows, m, s->n_rows);
    if (g && g->n_cols != n_cols)
        return ntg__fail(err, NTG_ERR_SHAPE, "metrics: the scaler has %zu columns, asked for %zu",
                         g->n_cols, n_cols);
    for (size_t j = 0; j < n_cols; j++)
        if (cols[j] < 0 || (size_t)cols[j] >= s->n_cols)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "metrics: column %d is not in the series (%zu columns)", cols[j],
                             s->n_cols);
    ntg_metrics *r = calloc(1, sizeof *r);
    if (r) {
        r->cols = malloc(n_cols * sizeof *r->cols);
        r->std = malloc(n_cols * sizeof *r->std);
        r->mase = malloc(n_cols * sizeof *r->mase);
        r->acc = calloc(n_cols, sizeof *r->acc);
    }
    if (!r || !r->cols || !r->std || !r->mase || !r->acc) {
        ntg__metrics_free(r);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    r->s = s;
    r->n_cols = n_cols;
    r->log = g && g->kind == NTG_SCALER_LOG;
    memcpy(r->cols, cols, n_cols * sizeof *cols);
    for (size_t j = 0; j < n_cols; j++) {
        r->std[j] = g ? g->std[j] : 1.0;
        /* M4's MASE (Hyndman & Koehler 2006, as in the M4 competition's R code):
         * the in-sample mean absolute seasonal difference
         * (1 / (T - m)) sum_{t=m}^{T-1} |y_t - y_{t-m}| over the T train rows. */
        /* A ragged panel's series starts at its first row: its T train rows are
         * [first, train_rows); with T <= m its scale is unknown (NaN: left out). */
        size_t f0 = ntg__series_first(s, (size_t)cols[j]);
        const double *v = s->values + (size_t)cols[j] * s->n_rows;
        double sum = 0.0;
        for (size_t t = f0 + m; t < train_rows; t++) sum += fabs(v[t] - v[t - m]);
        r->mase[j] = train_rows > f0 + m ? sum / (double)(train_rows - f0 - m) : NAN;
    }
    *out = r;
    return NTG_OK;
}

void ntg__metrics_add(ntg_metrics *m, size_t j, const double *f, const double *y, size_t n)
{
    col_acc *a = &m->acc[j];
    double sd = m->std[j];
    for (size_t i = 0; i < n; i++) {
        double d = f[i] - y[i], ad = fabs(d), dz = d / sd;
        if (m->log) dz = (log(f[i]) - log(y[i])) / sd;
        a->se_z += dz * dz;
        a->ae_z += fabs(dz);
        a->se += d * d;
        a->ae += ad;
        /* MAPE is undefined at a zero truth: skip near-zero truths and say how
         * many (rather than let one point dominate or become infinite). */
        if (fabs(y[i]) < 1e-8) {
            a->n_skip++;
        } else {
            a->ape += 100.0 * ad / fabs(y[i]);
            a->n_ape++;
        }
        /* M4 sMAPE: 200 |y - f| / (|y| + |f|); a zero forecast of a zero truth is
         * a perfect forecast, 0. */
        double den = fabs(y[i]) + fabs(f[i]);
        a->sape += den > 0.0 ? 200.0 * ad / den : 0.0;
        a->n++;
    }
}

ntg_status ntg__metrics_add_windows(ntg_metrics *m, const ntg_windows *w, const uint64_t *idx,
                                    size_t n, const double *f, ntg_error *err)
{
    if (!m || !w || (n && (!idx || !f)))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "metrics: NULL argument");
    if (w->n_cols != m->n_cols || memcmp(w->cols, m->cols, m->n_cols * sizeof *m->cols) != 0)
        return ntg__fail(err, NTG_ERR_SHAPE,
                         "metrics: the windows' columns are not the accumulator's");
    uint64_t count = ntg__windows_count(w);
    const ntg_series *s = m->s;
    for (size_t i = 0; i < n; i++) {
        size_t j, st;
        if (idx[i] >= count)
            return ntg__fail(err, NTG_ERR_RANGE, "metrics: window %llu of %llu",
                             (unsigned long long)idx[i], (unsigned long long)count);
        ntg__windows_at(w, idx[i], &j, &st);
        if (st + w->h > s->n_rows)
            return ntg__fail(err, NTG_ERR_RANGE,
                             "metrics: window %llu's targets, rows [%zu, %zu), are past the end "
                             "of the series (%zu rows)",
                             (unsigned long long)idx[i], st, st + w->h, s->n_rows);
        ntg__metrics_add(m, j, f + i * w->h, s->values + (size_t)m->cols[j] * s->n_rows + st, w->h);
    }
    return NTG_OK;
}

static void finish(const col_acc *a, double mase_scale, ntg_metric_values *out)
{
    double n = (double)a->n;
    memset(out, 0, sizeof *out);
    out->n = a->n;
    out->n_mape_skipped = a->n_skip;
    out->mse = a->n ? a->se_z / n : NAN;
    out->mae = a->n ? a->ae_z / n : NAN;
    out->mse_orig = a->n ? a->se / n : NAN;
    out->mae_orig = a->n ? a->ae / n : NAN;
    out->smape = a->n ? a->sape / n : NAN;
    out->mape = a->n_ape ? a->ape / (double)a->n_ape : NAN;
    out->mase = a->n && mase_scale > 0.0 ? out->mae_orig / mase_scale : NAN;
}

void ntg__metrics_column(const ntg_metrics *m, size_t j, ntg_metric_values *out)
{
    finish(&m->acc[j], m->mase[j], out);
    out->n_mase_cols = isnan(out->mase) ? 0 : 1;
}

void ntg__metrics_total(const ntg_metrics *m, ntg_metric_values *out)
{
    col_acc t = {0};
    double mase_sum = 0.0;
    size_t mase_n = 0;
    for (size_t j = 0; j < m->n_cols; j++) {
        const col_acc *a = &m->acc[j];
        t.se_z += a->se_z;
        t.ae_z += a->ae_z;
        t.se += a->se;
        t.ae += a->ae;
        t.ape += a->ape;
        t.sape += a->sape;
        t.n += a->n;
        t.n_ape += a->n_ape;
        t.n_skip += a->n_skip;
        ntg_metric_values c;
        finish(a, m->mase[j], &c);
        /* M4 averages MASE over series: a mean of the columns' values. */
        if (!isnan(c.mase)) {
            mase_sum += c.mase;
            mase_n++;
        }
    }
    finish(&t, 1.0, out);
    out->mase = mase_n ? mase_sum / (double)mase_n : NAN;
    out->n_mase_cols = mase_n;
}

double ntg__metrics_mase_scale(const ntg_metrics *m, size_t j)
{
    return m->mase[j];
}
