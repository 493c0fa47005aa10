/* metrics_prob.c — interval coverage, pinball loss and CRPS of quantile, distribution and
 * conformal forecasts, per column and pooled, in double, in the order points arrive. */
#include "metrics_prob.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

typedef struct pacc {
    double pin, crps;
    uint64_t n, n_in, n_cov;
    double nominal;
} pacc;

struct ntg_pmetrics {
    size_t n_cols, nq;
    double *std;
    double levels[64];
    pacc *acc;
};

ntg_status ntg__pmetrics_create(size_t n_cols, const double *std, size_t nq, const double *levels,
                                ntg_pmetrics **out, ntg_error *err)
{
    *out = NULL;
    if (nq > 64) return ntg__fail(err, NTG_ERR_INVALID_ARG, "metrics: more than 64 quantiles");
    ntg_pmetrics *m = calloc(1, sizeof *m);
    if (m) {
        m->std = malloc((n_cols + 1) * sizeof *m->std);
        m->acc = calloc(n_cols + 1, sizeof *m->acc);
    }
    if (!m || !m->std || !m->acc) {
        ntg__pmetrics_free(m);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    m->n_cols = n_cols;
    m->nq = nq;
    for (size_t j = 0; j < n_cols; j++) m->std[j] = std ? std[j] : 1.0;
    for (size_t q = 0; q < nq; q++) m->levels[q] = levels[q];
    *out = m;
    return NTG_OK;
}

void ntg__pmetrics_free(ntg_pmetrics *m)
{
    if (!m) return;
    free(m->std);
    free(m->acc);
    free(m);
}

static double pinball(double q, double f, double y)
{
    double e = y - f;
    return e >= 0 ? q * e : (q - 1) * e;
}

double ntg__crps_studentt(double mu, double sigma, double df, double y)
{
    double z = (y - mu) / sigma, nu = df;
    double F = ntg__t_cdf(z, nu);
    double f = exp(lgamma(0.5 * (nu + 1)) - lgamma(0.5 * nu) -
                   0.5 * log(nu * 3.14159265358979323846) - 0.5 * (nu + 1) * log1p(z * z / nu));
    /* B(1/2, nu - 1/2) / B(1/2, nu/2)^2 via lgamma */
    double lb1 = lgamma(0.5) + lgamma(nu - 0.5) - lgamma(nu);
    double lb2 = lgamma(0.5) + lgamma(0.5 * nu) - lgamma(0.5 * nu + 0.5);
    double c = 2 * sqrt(nu) * exp(lb1 - 2 * lb2) / (nu - 1);
    return sigma * (z * (2 * F - 1) + 2 * f * (nu + z * z) / (nu - 1) - c);
}

void ntg__pmetrics_add(ntg_pmetrics *m, size_t j, const double *y, size_t n, const double *q,
                       size_t stride, int dist, const double *mu, const double *sigma,
                       const double *df)
{
    pacc *a = &m->acc[j];
    double sd = m->std[j];
    size_t nq = m->nq;
    if (nq == 0) return;
    a->nominal = m->levels[nq - 1] - m->levels[0];
    for (size_t k = 0; k < n; k++) {
        double pin = 0;
        for (size_t l = 0; l < nq; l++) pin += pinball(m->levels[l], q[l * stride + k], y[k]);
        pin /= (double)nq;
        double crps;
        if (dist == 2)
            crps = ntg__crps_normal(mu[k], sigma[k], y[k]);
        else if (dist == 3)
            crps = ntg__crps_studentt(mu[k], sigma[k], df[k], y[k]);
        else
            crps = 2 * pin;
        a->pin += pin / sd;
        a->crps += crps / sd;
        a->n++;
        if (nq >= 2) {
            a->n_cov++;
            a->n_in += y[k] >= q[k] && y[k] <= q[(nq - 1) * stride + k];
        }
    }
}

void ntg__pmetrics_add_interval(ntg_pmetrics *m, size_t j, const double *y, size_t n,
                                const double *lo, const double *hi, double level)
{
    pacc *a = &m->acc[j];
    a->nominal = level;
    for (size_t k = 0; k < n; k++) {
        a->n_cov++;
        a->n_in += y[k] >= lo[k] && y[k] <= hi[k];
    }
}

void ntg__pmetrics_values(const ntg_pmetrics *m, size_t j, ntg_pmetric_values *out)
{
    pacc t;
    memset(&t, 0, sizeof t);
    t.nominal = NAN;
    for (size_t c = 0; c < m->n_cols; c++) {
        if (j < m->n_cols && c != j) continue;
        const pacc *a = &m->acc[c];
        t.pin += a->pin;
        t.crps += a->crps;
        t.n += a->n;
        t.n_in += a->n_in;
        t.n_cov += a->n_cov;
        if (a->n_cov) t.nominal = a->nominal;
    }
    out->n = t.n;
    out->pinball = t.n ? t.pin / (double)t.n : NAN;
    out->crps = t.n ? t.crps / (double)t.n : NAN;
    out->coverage = t.n_cov ? (double)t.n_in / (double)t.n_cov : NAN;
    out->nominal = t.n_cov ? t.nominal : NAN;
}
