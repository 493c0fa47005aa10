/* naive2.c — the M4 competition's Naive2 benchmark and its OWA (naive2.h). */
#include "naive2.h"

#include <math.h>
#include <stdlib.h>

#include "ntg_error.h"

/* The autocorrelation at lag k of y (mean mu, sum of squared deviations ss). */
static double acf(const double *y, size_t n, double mu, double ss, size_t k)
{
    double s = 0.0;
    for (size_t t = k; t < n; t++) s += (y[t] - mu) * (y[t - k] - mu);
    return s / ss;
}

static int seasonal(const double *y, size_t n, size_t m)
{
    if (m <= 1 || n < 3 * m) return 0;
    double mu = 0.0, ss = 0.0;
    for (size_t t = 0; t < n; t++) mu += y[t];
    mu /= (double)n;
    for (size_t t = 0; t < n; t++) ss += (y[t] - mu) * (y[t] - mu);
    if (!(ss > 0.0)) return 0;
    double sum = 0.0;
    for (size_t k = 1; k < m; k++) {
        double r = acf(y, n, mu, ss, k);
        sum += r * r;
    }
    double limit = 1.645 * sqrt((1.0 + 2.0 * sum) / (double)n);
    return fabs(acf(y, n, mu, ss, m)) > limit;
}

int ntg__naive2(const double *y, size_t n, size_t m, size_t h, double *work, double *f)
{
    double last = y[n - 1];
    if (!work || !seasonal(y, n, m)) {
        for (size_t t = 0; t < h; t++) f[t] = last;
        return 0;
    }
    /* centred moving average of order m (2 x m when m is even) */
    double *ratio_sum = work, *cnt = work + m;
    for (size_t p = 0; p < m; p++) ratio_sum[p] = cnt[p] = 0.0;
    size_t half = m / 2;
    for (size_t t = half; t + half < n; t++) {
        double ma = 0.0;
        if (m % 2 == 0) {
            ma = 0.5 * (y[t - half] + y[t + half]);
            for (size_t k = t - half + 1; k < t + half; k++) ma += y[k];
        } else {
            for (size_t k = t - half; k <= t + half; k++) ma += y[k];
        }
        ma /= (double)m;
        ratio_sum[t % m] += y[t] / ma;
        cnt[t % m] += 1.0;
    }
    double mean = 0.0;
    for (size_t p = 0; p < m; p++) {
        ratio_sum[p] = cnt[p] > 0.0 ? ratio_sum[p] / cnt[p] : 1.0;
        mean += ratio_sum[p];
    }
    mean /= (double)m;
    double *si = ratio_sum;
    for (size_t p = 0; p < m; p++) si[p] /= mean;
    double adj = last / si[(n - 1) % m];
    for (size_t t = 0; t < h; t++) f[t] = adj * si[(n + t) % m];
    return 1;
}

ntg_status ntg__naive2_score(const ntg_series *s, const ntg_windows *w, size_t m, ntg_metrics *acc,
                             ntg_error *err)
{
    if (!s || !w || !acc) return ntg__fail(err, NTG_ERR_INVALID_ARG, "naive2: NULL argument");
    double *work = malloc((2 * (m ? m : 1) + 1) * sizeof *work);
    double *f = malloc((w->h + 1) * sizeof *f);
    if (!work || !f) {
        free(work);
        free(f);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    ntg_status st = NTG_OK;
    uint64_t count = ntg__windows_count(w);
    for (uint64_t k = 0; !st && k < count; k++) {
        size_t j, start;
        ntg__windows_at(w, k, &j, &start);
        size_t c = (size_t)w->cols[j], f0 = ntg__series_first(s, c);
        const double *v = s->values + c * s->n_rows;
        ntg__naive2(v + f0, start - f0, m, w->h, work, f);
        st = ntg__metrics_add_windows(acc, w, &k, 1, f, err);
    }
    free(work);
    free(f);
    return st;
}

double ntg__owa(double smape, double mase, double smape_naive2, double mase_naive2)
{
    return 0.5 * (smape / smape_naive2 + mase / mase_naive2);
}
