/* k_window.c — reference kernels of param (a learned tensor), avgpool1d and conv1d (torch's
 * AvgPool1d / Conv1d over the last axis, zero or replicate padding) and unfold (patches).
 *
 * Sums run in double and are rounded once.  The backward gathers: each input gradient element
 * sums, tap by tap, the windows that read it (ntg__win_taps), so every backend can follow the
 * same order without atomics. */
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/* x[p] of a row of len, p a position of the padded axis (zero or replicate padding). */
static inline double padded(const float *xr, int64_t len, int64_t p, int replicate)
{
    if (p < 0) return replicate ? (double)xr[0] : 0.0;
    if (p >= len) return replicate ? (double)xr[len - 1] : 0.0;
    return (double)xr[p];
}

/* -------------------------------------------------------------------- param */

void ntg__cpu_fwd_param(const ntg_kctx *c)
{
    memcpy(c->out[0].data, c->in[0].data, (size_t)ntg__tdesc_numel(&c->out[0].d) * sizeof(float));
}

/* in = [weight, y, dy], out = [dweight] */
void ntg__cpu_bwd_param(const ntg_kctx *c)
{
    float *dw = c->out[0].data;
    if (!dw) return;
    size_t n = (size_t)ntg__tdesc_numel(&c->in[0].d);
    if (c->in[2].data)
        memcpy(dw, c->in[2].data, n * sizeof(float));
    else
        memset(dw, 0, n * sizeof(float));
}

/* ---------------------------------------------------------------- avgpool1d */

typedef struct avg_geom {
    int64_t rows, len, nout, k, s, pad;
    int rep;
} avg_geom;

static void avg_geom_of(const ntg_kctx *c, const ntg_tdesc *x, const ntg_tdesc *y, avg_geom *g)
{
    g->len = x->dims[x->rank - 1];
    g->nout = y->dims[y->rank - 1];
    g->rows = g->len > 0 ? ntg__tdesc_numel(x) / g->len : 0;
    g->k = ntg__attr_i(c->attr, NTG_AVGPOOL_KERNEL);
    g->s = ntg__attr_i(c->attr, NTG_AVGPOOL_STRIDE);
    if (g->s == 0) g->s = g->k;
    g->pad = ntg__attr_i(c->attr, NTG_AVGPOOL_PAD);
    g->rep = ntg__attr_i(c->attr, NTG_AVGPOOL_MODE) == NTG_PAD_REPLICATE;
}

void ntg__cpu_fwd_avgpool1d(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    avg_geom g;
    avg_geom_of(c, &c->in[0].d, &c->out[0].d, &g);
    for (int64_t r = 0; r < g.rows; r++) {
        const float *xr = x + r * g.len;
        for (int64_t o = 0; o < g.nout; o++) {
            double acc = 0;
            for (int64_t t = 0; t < g.k; t++) acc += padded(xr, g.len, o * g.s + t - g.pad, g.rep);
            y[r * g.nout + o] = (float)(acc / (double)g.k);
        }
    }
}

/* in = [x, y, dy], out = [dx]: dx[i] = sum over taps t and the windows o whose tap t reads i
 * of dy[o] / kernel. */
void ntg__cpu_bwd_avgpool1d(const ntg_kctx *c)
{
    const float *dy = c->in[2].data;
    float *dx = c->out[0].data;
    if (!dx) return;
    avg_geom g;
    avg_geom_of(c, &c->in[0].d, &c->in[1].d, &g);
    if (!dy) {
        memset(dx, 0, (size_t)(g.rows * g.len) * sizeof *dx);
        return;
    }
    for (int64_t r = 0; r < g.rows; r++) {
        const float *dyr = dy + r * g.nout;
        for (int64_t i = 0; i < g.len; i++) {
            double acc = 0;
            for (int64_t t = 0; t < g.k; t++) {
                int64_t lo, hi;
                ntg__win_taps(i, g.len, t, g.s, g.pad, g.rep, g.nout, &lo, &hi);
                for (int64_t o = lo; o <= hi; o++) acc += (double)dyr[o];
            }
            dx[r * g.len + i] = (float)(acc / (double)g.k);
        }
    }
}

/* ------------------------------------------------------------------- conv1d */

typedef struct conv_geom {
    int64_t n, cin, len, co, lout, k, s, pad, dil, cg, cog;
    int rep;
} conv_geom;

static void conv_geom_of(const ntg_kctx *c, const ntg_tdesc *x, const ntg_tdesc *y, conv_geom *g)
{
    g->cin = x->dims[x->rank - 2];
    g->len = x->dims[x->rank - 1];
    g->co = y->dims[y->rank - 2];
    g->lout = y->dims[y->rank - 1];
    g->n = g->cin * g->len > 0 ? ntg__tdesc_numel(x) / (g->cin * g->len) : 0;
    g->k = ntg__attr_i(c->attr, NTG_CONV_KERNEL);
    g->s = ntg__attr_i(c->attr, NTG_CONV_STRIDE);
    g->pad = ntg__attr_i(c->attr, NTG_CONV_PAD);
    g->dil = ntg__attr_i(c->attr, NTG_CONV_DILATION);
    int64_t groups = ntg__attr_i(c->attr, NTG_CONV_GROUPS);
    g->cg = g->cin / groups;
    g->cog = g->co / groups;
    g->rep = ntg__attr_i(c->attr, NTG_CONV_MODE) == NTG_PAD_REPLICATE;
}

/* in = [x, weight, (bias)], out = [y] */
void ntg__cpu_fwd_conv1d(const ntg_kctx *c)
{
    const float *x = c->in[0].data, *w = c->in[1].data;
    const float *b = c->n_in > 2 ? c->in[2].data : NULL;
    float *y = c->out[0].data;
    conv_geom g;
    conv_geom_of(c, &c->in[0].d, &c->out[0].d, &g);
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t co = 0; co < g.co; co++) {
            int64_t c0 = co / g.cog * g.cg;
            const float *wr = w + co * g.cg * g.k;
            float *yr = y + (n * g.co + co) * g.lout;
            for (int64_t o = 0; o < g.lout; o++) {
                double acc = b ? (double)b[co] : 0.0;
                for (int64_t ci = 0; ci < g.cg; ci++) {
                    const float *xr = x + (n * g.cin + c0 + ci) * g.len;
                    for (int64_t t = 0; t < g.k; t++)
                        acc += (double)wr[ci * g.k + t] *
                               padded(xr, g.len, o * g.s + t * g.dil - g.pad, g.rep);
                }
                yr[o] = (float)acc;
            }
        }
}

/* in = [x, weight, (bias), y, dy], out = [dx, dweight, (dbias)] */
void ntg__cpu_bwd_conv1d(const ntg_kctx *c)
{
    int nfi = c->n_out;
    const float *x = c->in[0].data, *w = c->in[1].data, *dy = c->in[nfi + 1].data;
    float *dx = c->out[0].data, *dw = c->out[1].data, *db = nfi > 2 ? c->out[2].data : NULL;
    conv_geom g;
    conv_geom_of(c, &c->in[0].d, &c->in[nfi].d, &g);
    if (!dy) {
        if (dx) memset(dx, 0, (size_t)(g.n * g.cin * g.len) * sizeof *dx);
        if (dw) memset(dw, 0, (size_t)(g.co * g.cg * g.k) * sizeof *dw);
        if (db) memset(db, 0, (size_t)g.co * sizeof *db);
        return;
    }
    if (dx)
        for (int64_t n = 0; n < g.n; n++)
            for (int64_t ci = 0; ci < g.cin; ci++) {
                int64_t grp = ci / g.cg, cl = ci - grp * g.cg;
                for (int64_t i = 0; i < g.len; i++) {
                    double acc = 0;
                    for (int64_t co = grp * g.cog; co < (grp + 1) * g.cog; co++) {
                        const float *dyr = dy + (n * g.co + co) * g.lout;
                        for (int64_t t = 0; t < g.k; t++) {
                            int64_t lo, hi;
                            ntg__win_taps(i, g.len, t * g.dil, g.s, g.pad, g.rep, g.lout, &lo, &hi);
                            double wv = (double)w[(co * g.cg + cl) * g.k + t];
                            for (int64_t o = lo; o <= hi; o++) acc += wv * (double)dyr[o];
                        }
                    }
                    dx[(n * g.cin + ci) * g.len + i] = (float)acc;
                }
            }
    if (dw)
        for (int64_t co = 0; co < g.co; co++) {
            int64_t c0 = co / g.cog * g.cg;
            for (int64_t ci = 0; ci < g.cg; ci++)
                for (int64_t t = 0; t < g.k; t++) {
                    double acc = 0;
                    for (int64_t n = 0; n < g.n; n++) {
                        const float *xr = x + (n * g.cin + c0 + ci) * g.len;
                        const float *dyr = dy + (n * g.co + co) * g.lout;
                        for (int64_t o = 0; o < g.lout; o++)
                            acc += (double)dyr[o] *
                                   padded(xr, g.len, o * g.s + t * g.dil - g.pad, g.rep);
                    }
                    dw[(co * g.cg + ci) * g.k + t] = (float)acc;
                }
        }
    if (db)
        for (int64_t co = 0; co < g.co; co++) {
            double acc = 0;
            for (int64_t n = 0; n < g.n; n++)
                for (int64_t o = 0; o < g.lout; o++)
                    acc += (double)dy[(n * g.co + co) * g.lout + o];
            db[co] = (float)acc;
        }
}

/* ------------------------------------------------------------------- unfold */

/* y[r, p, j] = x[r, min(p step + j, len - 1)] */
void ntg__cpu_fwd_unfold(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    const ntg_tdesc *xd = &c->in[0].d, *yd = &c->out[0].d;
    int64_t len = xd->dims[xd->rank - 1], np = yd->dims[yd->rank - 2],
            size = yd->dims[yd->rank - 1];
    int64_t step = ntg__attr_i(c->attr, NTG_UNFOLD_STEP);
    int64_t rows = len > 0 ? ntg__tdesc_numel(xd) / len : 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t p = 0; p < np; p++)
            for (int64_t j = 0; j < size; j++) {
                int64_t i = p * step + j;
                y[(r * np + p) * size + j] = x[r * len + (i < len ? i : len - 1)];
            }
}

/* in = [x, y, dy], out = [dx]: dx[i] sums, tap by tap, the patch elements that read i */
void ntg__cpu_bwd_unfold(const ntg_kctx *c)
{
    const float *dy = c->in[2].data;
    float *dx = c->out[0].data;
    if (!dx) return;
    const ntg_tdesc *xd = &c->in[0].d, *yd = &c->in[1].d;
    int64_t len = xd->dims[xd->rank - 1], np = yd->dims[yd->rank - 2],
            size = yd->dims[yd->rank - 1];
    int64_t step = ntg__attr_i(c->attr, NTG_UNFOLD_STEP);
    int64_t rows = len > 0 ? ntg__tdesc_numel(xd) / len : 0;
    if (!dy) {
        memset(dx, 0, (size_t)(rows * len) * sizeof *dx);
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < len; i++) {
            double acc = 0;
            for (int64_t j = 0; j < size; j++) {
                int64_t lo, hi;
                ntg__win_taps(i, len, j, step, 0, 1, np, &lo, &hi);
                for (int64_t p = lo; p <= hi; p++) acc += (double)dy[(r * np + p) * size + j];
            }
            dx[r * len + i] = (float)acc;
        }
}
