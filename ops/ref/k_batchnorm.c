/* k_batchnorm.c — reference kernels of batchnorm (torch.nn.BatchNorm1d over axis 1 of
 * [batch, C] or [batch, C, L]) and of batchnorm_stats (the running statistics' update).
 *
 * The forward runs in two forms.  With its second output (the training programs) it
 * normalises by the batch's statistics over (batch, L), the biased variance as torch, and
 * writes them to `saved` = [mean; biased var; unbiased var] for the backward and for
 * batchnorm_stats.  Without it (forecasts and eval) it normalises by running_mean and
 * running_var.  Sums run in double, each result rounded once. */
#include <math.h>
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

typedef struct bn_g {
    int64_t b, c, l;
} bn_g;

static bn_g bn_geom(const ntg_tdesc *x)
{
    bn_g g = {x->dims[0], x->dims[1], x->rank == 3 ? x->dims[2] : 1};
    return g;
}

#define AT(g, bi, ci, li) (((bi) * (g).c + (ci)) * (g).l + (li))

void ntg__cpu_fwd_batchnorm(const ntg_kctx *c)
{
    const float *x = c->in[0].data, *w = c->in[1].data, *bias = c->in[2].data;
    const float *rm = c->in[3].data, *rv = c->in[4].data;
    float *y = c->out[0].data;
    float *saved = c->n_out > 1 ? c->out[1].data : NULL;
    double eps = ntg__attr_f(c->attr, NTG_BATCHNORM_EPS);
    bn_g g = bn_geom(&c->in[0].d);
    double n = (double)(g.b * g.l);
    for (int64_t ch = 0; ch < g.c; ch++) {
        double mean, var;
        if (saved) {
            double s = 0, s2 = 0;
            for (int64_t bi = 0; bi < g.b; bi++)
                for (int64_t li = 0; li < g.l; li++) s += (double)x[AT(g, bi, ch, li)];
            mean = n > 0 ? s / n : 0;
            for (int64_t bi = 0; bi < g.b; bi++)
                for (int64_t li = 0; li < g.l; li++) {
                    double d = (double)x[AT(g, bi, ch, li)] - mean;
                    s2 += d * d;
                }
            var = n > 0 ? s2 / n : 0;
            saved[ch] = (float)mean;
            saved[g.c + ch] = (float)var;
            saved[2 * g.c + ch] = (float)(n > 1 ? s2 / (n - 1) : var);
        } else {
            mean = (double)rm[ch];
            var = (double)rv[ch];
        }
        double inv = 1.0 / sqrt(var + eps), a = (double)w[ch] * inv, b0 = (double)bias[ch];
        for (int64_t bi = 0; bi < g.b; bi++)
            for (int64_t li = 0; li < g.l; li++) {
                int64_t q = AT(g, bi, ch, li);
                y[q] = (float)(((double)x[q] - mean) * a + b0);
            }
    }
}

/* in = [x, w, b, rm, rv, y, (saved), dy, (dsaved)], out = [dx, dw, db, drm, drv].
 * Training form: xh = (x - mean) inv, db = sum dy, dw = sum dy xh,
 * dx = w inv / n (n dy - db - xh dw).  Forecast form (statistics constant): dx = dy w inv. */
void ntg__cpu_bwd_batchnorm(const ntg_kctx *c)
{
    int nfo = (c->n_in - c->n_out) / 2;
    const float *x = c->in[0].data, *w = c->in[1].data, *rv = c->in[4].data;
    const float *saved = nfo > 1 ? c->in[6].data : NULL;
    const float *dy = c->in[5 + nfo].data;
    float *dx = c->out[0].data, *dw = c->out[1].data, *db = c->out[2].data;
    double eps = ntg__attr_f(c->attr, NTG_BATCHNORM_EPS);
    bn_g g = bn_geom(&c->in[0].d);
    double n = (double)(g.b * g.l);
    const float *rm_or_mean = saved ? saved : c->in[3].data;
    for (int64_t ch = 0; ch < g.c; ch++) {
        if (!dy) {
            if (dw) dw[ch] = 0;
            if (db) db[ch] = 0;
            if (dx)
                for (int64_t bi = 0; bi < g.b; bi++)
                    for (int64_t li = 0; li < g.l; li++) dx[AT(g, bi, ch, li)] = 0;
            continue;
        }
        double mean = saved ? (double)saved[ch] : (double)rm_or_mean[ch];
        double var = saved ? (double)saved[g.c + ch] : (double)rv[ch];
        double inv = 1.0 / sqrt(var + eps);
        double sdy = 0, sdyxh = 0;
        for (int64_t bi = 0; bi < g.b; bi++)
            for (int64_t li = 0; li < g.l; li++) {
                int64_t q = AT(g, bi, ch, li);
                sdy += (double)dy[q];
                sdyxh += (double)dy[q] * ((double)x[q] - mean) * inv;
            }
        if (dw) dw[ch] = (float)sdyxh;
        if (db) db[ch] = (float)sdy;
        if (!dx) continue;
        double a = (double)w[ch] * inv;
        for (int64_t bi = 0; bi < g.b; bi++)
            for (int64_t li = 0; li < g.l; li++) {
                int64_t q = AT(g, bi, ch, li);
                if (saved) {
                    double xh = ((double)x[q] - mean) * inv;
                    dx[q] = (float)(a / n * (n * (double)dy[q] - sdy - xh * sdyxh));
                } else {
                    dx[q] = (float)((double)dy[q] * a);
                }
            }
    }
    /* the running statistics are buffers: never wanted, zero if asked */
    for (int k = 3; k < 5; k++)
        if (c->out[k].data) memset(c->out[k].data, 0, (size_t)g.c * sizeof(float));
}

/* in place: running = (1 - m) running + m batch, the variance unbiased (torch) */
void ntg__cpu_fwd_batchnorm_stats(const ntg_kctx *c)
{
    float *rm = c->in[0].data, *rv = c->in[1].data;
    const float *saved = c->in[2].data;
    double m = ntg__attr_f(c->attr, NTG_BNSTATS_MOMENTUM);
    int64_t ch = c->in[0].d.dims[0];
    for (int64_t k = 0; k < ch; k++) {
        rm[k] = (float)((1 - m) * (double)rm[k] + m * (double)saved[k]);
        rv[k] = (float)((1 - m) * (double)rv[k] + m * (double)saved[2 * ch + k]);
    }
}
