/* k_norm.c — reference kernels of softmax, log_softmax and layernorm (torch semantics). */
#include <math.h>
#include <string.h>

#include "ref_kernels.h"
#include "ref_span.h"
#include "op_attrs.h"

/*
 * Numerics: exponentials, sums and the layernorm statistics are computed in double in a
 * fixed order (the line's order) and rounded once per stored value, so the oracle is as
 * close to the exact function as float storage allows and bitwise reproducible.  softmax
 * stores exp(x - max) as float before dividing by the double sum: two roundings, within
 * an ulp of the correctly rounded value.
 */

static void zero_view(const ntg_view *v)
{
    if (v->data) memset(v->data, 0, (size_t)ntg__tdesc_numel(&v->d) * sizeof(float));
}

/* ---------------------------------------------------------- softmax family */

/* The max keeps every exp(x - max) in (0, 1]: no overflow at any offset of x. */
static void softmax_line(const float *x, float *y, int64_t len, int64_t st, int log_form)
{
    float mx = x[0];
    for (int64_t l = 1; l < len; l++)
        if (x[l * st] > mx) mx = x[l * st];
    double m = (double)mx, sum = 0;
    if (log_form) {
        for (int64_t l = 0; l < len; l++) sum += exp((double)x[l * st] - m);
        double lse = m + log(sum);
        for (int64_t l = 0; l < len; l++) y[l * st] = (float)((double)x[l * st] - lse);
        return;
    }
    for (int64_t l = 0; l < len; l++) {
        double e = exp((double)x[l * st] - m);
        y[l * st] = (float)e;
        sum += e;
    }
    double inv = 1.0 / sum;
    for (int64_t l = 0; l < len; l++) y[l * st] = (float)((double)y[l * st] * inv);
}

static void softmax_fwd(const ntg_kctx *c, int log_form)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    ntg_axis_split l = ntg__axis_split_attr(&c->in[0].d, ntg__attr_i(c->attr, NTG_SOFTMAX_AXIS));
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t i = 0; i < l.inner; i++) {
            int64_t base = o * l.len * l.inner + i;
            softmax_line(x + base, y + base, l.len, l.inner, log_form);
        }
}

void ntg__cpu_fwd_softmax(const ntg_kctx *c)
{
    softmax_fwd(c, 0);
}

void ntg__cpu_fwd_log_softmax(const ntg_kctx *c)
{
    softmax_fwd(c, 1);
}

/* in = [x, y, dy], out = [dx], from the saved y only:
 * softmax dx = y (dy - sum(dy y)); log_softmax dx = dy - exp(y) sum(dy). */
static void softmax_bwd(const ntg_kctx *c, int log_form)
{
    const float *y = c->in[1].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    if (!dx) return;
    if (!dy) {
        zero_view(&c->out[0]);
        return;
    }
    ntg_axis_split l = ntg__axis_split_attr(&c->in[1].d, ntg__attr_i(c->attr, NTG_SOFTMAX_AXIS));
    int64_t st = l.inner;
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t i = 0; i < l.inner; i++) {
            int64_t base = o * l.len * l.inner + i;
            const float *yl = y + base, *gl = dy + base;
            float *dl = dx + base;
            double s = 0;
            if (log_form) {
                for (int64_t k = 0; k < l.len; k++) s += (double)gl[k * st];
                for (int64_t k = 0; k < l.len; k++)
                    dl[k * st] = (float)((double)gl[k * st] - exp((double)yl[k * st]) * s);
            } else {
                for (int64_t k = 0; k < l.len; k++) s += (double)gl[k * st] * (double)yl[k * st];
                for (int64_t k = 0; k < l.len; k++)
                    dl[k * st] = (float)((double)yl[k * st] * ((double)gl[k * st] - s));
            }
        }
}

void ntg__cpu_bwd_softmax(const ntg_kctx *c)
{
    softmax_bwd(c, 0);
}

void ntg__cpu_bwd_log_softmax(const ntg_kctx *c)
{
    softmax_bwd(c, 1);
}

/* ---------------------------------------------------------------- layernorm */

/* Mean and 1 / sqrt(biased variance + eps) of one row (two passes: no cancellation). */
static void row_stats(const float *x, int64_t d, double eps, double *mean, double *rstd)
{
    double s = 0, v = 0;
    for (int64_t j = 0; j < d; j++) s += (double)x[j];
    s /= (double)d;
    for (int64_t j = 0; j < d; j++) {
        double e = (double)x[j] - s;
        v += e * e;
    }
    *mean = s;
    *rstd = 1.0 / sqrt(v / (double)d + eps);
}

void ntg__cpu_fwd_layernorm(const ntg_kctx *c)
{
    const ntg_tdesc *xd = &c->in[0].d;
    const float *x = c->in[0].data;
    const float *w = c->n_in == 3 ? c->in[1].data : NULL, *b = c->n_in == 3 ? c->in[2].data : NULL;
    float *y = c->out[0].data;
    double eps = ntg__attr_f(c->attr, NTG_LAYERNORM_EPS);
    int64_t d = xd->dims[xd->rank - 1], rows = ntg__tdesc_numel(xd) / d;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        double mean, rstd;
        row_stats(xr, d, eps, &mean, &rstd);
        if (w)
            for (int64_t j = 0; j < d; j++)
                yr[j] = (float)(((double)xr[j] - mean) * rstd * (double)w[j] + (double)b[j]);
        else
            for (int64_t j = 0; j < d; j++) yr[j] = (float)(((double)xr[j] - mean) * rstd);
    }
}

/*
 * in = [x, (weight, bias), y, dy], out = [dx, (dweight, dbias)]; the statistics are
 * recomputed from the saved x (bias and y are not saved).  With xhat = (x - mean) rstd and
 * g = dy weight: dx = rstd (g - mean(g) - xhat mean(g xhat)), dweight = sum_rows dy xhat,
 * dbias = sum_rows dy, the column sums in double in the scratch (2 * d doubles, see
 * ntg__cpu_scratch_bytes) in row order.
 */
void ntg__cpu_bwd_layernorm(const ntg_kctx *c)
{
    int nfi = c->n_out;
    const ntg_tdesc *xd = &c->in[0].d;
    const float *x = c->in[0].data, *w = nfi == 3 ? c->in[1].data : NULL;
    const float *dy = c->in[nfi + 1].data;
    float *dx = c->out[0].data, *dw = nfi == 3 ? c->out[1].data : NULL;
    float *db = nfi == 3 ? c->out[2].data : NULL;
    if (!dy) {
        for (int i = 0; i < nfi; i++) zero_view(&c->out[i]);
        return;
    }
    double eps = ntg__attr_f(c->attr, NTG_LAYERNORM_EPS);
    int64_t d = xd->dims[xd->rank - 1], rows = ntg__tdesc_numel(xd) / d;
    double *aw = dw ? (double *)c->scratch : NULL, *ab = db ? (double *)c->scratch + d : NULL;
    if (aw) memset(aw, 0, (size_t)d * sizeof(double));
    if (ab) memset(ab, 0, (size_t)d * sizeof(double));
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d, *gr = dy + r * d;
        double mean, rstd;
        row_stats(xr, d, eps, &mean, &rstd);
        if (aw)
            for (int64_t j = 0; j < d; j++)
                aw[j] += (double)gr[j] * (((double)xr[j] - mean) * rstd);
        if (ab)
            for (int64_t j = 0; j < d; j++) ab[j] += (double)gr[j];
        if (!dx) continue;
        double sg = 0, sgx = 0;
        for (int64_t j = 0; j < d; j++) {
            double g = w ? (double)gr[j] * (double)w[j] : (double)gr[j];
            sg += g;
            sgx += g * (((double)xr[j] - mean) * rstd);
        }
        sg /= (double)d;
        sgx /= (double)d;
        float *dr = dx + r * d;
        for (int64_t j = 0; j < d; j++) {
            double g = w ? (double)gr[j] * (double)w[j] : (double)gr[j];
            dr[j] = (float)(rstd * (g - sg - ((double)xr[j] - mean) * rstd * sgx));
        }
    }
    for (int64_t j = 0; aw && j < d; j++) dw[j] = (float)aw[j];
    for (int64_t j = 0; ab && j < d; j++) db[j] = (float)ab[j];
}
