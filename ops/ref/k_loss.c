/* k_loss.c — reference kernels of the masked losses: MSE, MAE, Huber and multi-quantile pinball. */
#include <math.h>
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

enum { L_MSE, L_MAE, L_HUBER, L_PINBALL };

/*
 * Every loss is seen as a pinball loss with one quantile: y is [outer, nq, inner], t and the
 * mask are [outer, inner], element (o, k, i) of y is compared with element (o, i) of t.  For
 * MSE, MAE and Huber outer = nq = 1 and inner is every element.  The loss is
 *     L = sum_i m_i l_i / (nq sum_i m_i),  l_i = sum_k rho_k(y_oki - t_oi),
 * which is (1/nq) sum_k of the masked mean of quantile k, as the op docs define it.
 */
typedef struct lgeom {
    int kind;
    int64_t outer, nq, inner;
    const ntg_attr *q; /* quantile levels (pinball) */
    double delta;      /* Huber */
} lgeom;

static lgeom geom_of(const ntg_kctx *c, int kind)
{
    lgeom g;
    const ntg_tdesc *y = &c->in[0].d;
    memset(&g, 0, sizeof g);
    g.kind = kind;
    g.outer = g.nq = 1;
    g.inner = ntg__tdesc_numel(&c->in[1].d);
    if (kind == L_HUBER) g.delta = ntg__attr_f(c->attr, NTG_HUBER_DELTA);
    if (kind == L_PINBALL) {
        int64_t nq;
        int ax = ntg__axis(ntg__attr_i(c->attr, NTG_PINBALL_AXIS), y->rank);
        g.q = ntg__attr_list(c->attr, NTG_PINBALL_QUANTILES, &nq);
        g.nq = y->dims[ax]; /* == nq: the shape rule checked it */
        g.outer = g.inner = 1;
        for (int d = 0; d < ax; d++) g.outer *= y->dims[d];
        for (int d = ax + 1; d < y->rank; d++) g.inner *= y->dims[d];
    }
    return g;
}

/* rho_k(e), e = y - t. */
static double elem_loss(const lgeom *g, int64_t k, double e)
{
    double a = fabs(e), q;
    switch (g->kind) {
    case L_MSE:
        return e * e;
    case L_MAE:
        return a;
    case L_HUBER:
        /* torch.nn.HuberLoss: quadratic strictly inside delta */
        return a < g->delta ? 0.5 * e * e : g->delta * (a - 0.5 * g->delta);
    default:
        q = g->q[k].f;
        return e < 0 ? -q * e : (1.0 - q) * e;
    }
}

/* d rho_k / dy at e = y - t, with torch's conventions at the kinks: sign(0) = 0 for MAE;
 * Huber's linear branch from |e| == delta on (the branches agree there); and for pinball
 * the tie rule of torch.maximum (the gradient split in halves), which NeuralForecast's
 * MQLoss differentiates, giving 0.5 - q at y == t. */
static double elem_grad(const lgeom *g, int64_t k, double e)
{
    double q;
    switch (g->kind) {
    case L_MSE:
        return 2.0 * e;
    case L_MAE:
        return e > 0 ? 1.0 : e < 0 ? -1.0 : 0.0;
    case L_HUBER:
        if (fabs(e) < g->delta) return e;
        return e > 0 ? g->delta : -g->delta;
    default:
        q = g->q[k].f;
        return e < 0 ? -q : e > 0 ? 1.0 - q : 0.5 - q;
    }
}

/* l_i of element (o, i): the sum over quantiles, in quantile order. */
static double elem_sum(const lgeom *g, const float *y, const float *t, int64_t o, int64_t i)
{
    double tv = (double)t[o * g->inner + i], s = 0.0;
    for (int64_t k = 0; k < g->nq; k++)
        s += elem_loss(g, k, (double)y[(o * g->nq + k) * g->inner + i] - tv);
    return s;
}

/* sum_i m_i: the element count without a mask. */
static double mask_sum(const lgeom *g, const float *m)
{
    int64_t n = g->outer * g->inner;
    if (!m) return (double)n;
    double w = 0.0;
    for (int64_t i = 0; i < n; i++) w += (double)m[i];
    return w;
}

/* L in double, summed in memory order of t (fixed, so the result is reproducible). */
static double loss_value(const lgeom *g, const float *y, const float *t, const float *m)
{
    double w = mask_sum(g, m), s = 0.0;
    if (w == 0.0) return 0.0;
    for (int64_t o = 0; o < g->outer; o++)
        for (int64_t i = 0; i < g->inner; i++) {
            double l = elem_sum(g, y, t, o, i);
            s += m ? (double)m[o * g->inner + i] * l : l;
        }
    return s / ((double)g->nq * w);
}

/* in = [y, t, (mask)], out = [loss [1]]. */
static void loss_fwd(const ntg_kctx *c, int kind)
{
    lgeom g = geom_of(c, kind);
    const float *m = c->n_in > 2 ? c->in[2].data : NULL;
    float *out = c->out[0].data;
    out[0] = (float)loss_value(&g, c->in[0].data, c->in[1].data, m);
}

static void zero_view(const ntg_view *v)
{
    if (v->data) memset(v->data, 0, (size_t)ntg__tdesc_numel(&v->d) * sizeof(float));
}

/*
 * in = [y, t, (mask), loss, dloss], out = [dy, dt, (dmask)].  The compiler only asks for dy;
 * dt and dmask are the true gradients all the same (dt = -sum_k dy_k, dmask_i =
 * dloss (l_i / nq - L) / sum m), so a caller that wants them gets numbers, not zeros.
 * Each element is computed in double and rounded once.
 */
static void loss_bwd(const ntg_kctx *c, int kind)
{
    int nfi = c->n_out;
    lgeom g = geom_of(c, kind);
    const float *y = c->in[0].data, *t = c->in[1].data;
    const float *m = nfi > 2 ? c->in[2].data : NULL;
    const float *dl = c->in[nfi + 1].data;
    float *dy = c->out[0].data, *dt = c->out[1].data;
    const ntg_view *dmv = nfi > 2 ? &c->out[2] : NULL;
    float *dm = dmv ? dmv->data : NULL;
    double w = mask_sum(&g, m);

    if (!dl || w == 0.0) {
        /* zero output gradient, or the all-masked loss: a constant 0 */
        zero_view(&c->out[0]);
        zero_view(&c->out[1]);
        if (dmv) zero_view(dmv);
        return;
    }
    double scale = (double)dl[0] / w, per_q = scale / (double)g.nq;
    double lval = dm ? loss_value(&g, y, t, m) : 0.0;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++) {
            int64_t it = o * g.inner + i;
            double tv = (double)t[it], mi = m ? (double)m[it] : 1.0, sdt = 0.0;
            for (int64_t k = 0; k < g.nq; k++) {
                int64_t iy = (o * g.nq + k) * g.inner + i;
                double d = per_q * mi * elem_grad(&g, k, (double)y[iy] - tv);
                if (dy) dy[iy] = (float)d;
                sdt -= d;
            }
            if (dt) dt[it] = (float)sdt;
            if (dm) dm[it] = (float)(scale * (elem_sum(&g, y, t, o, i) / (double)g.nq - lval));
        }
}

void ntg__cpu_fwd_loss_mse(const ntg_kctx *c)
{
    loss_fwd(c, L_MSE);
}

void ntg__cpu_bwd_loss_mse(const ntg_kctx *c)
{
    loss_bwd(c, L_MSE);
}

void ntg__cpu_fwd_loss_mae(const ntg_kctx *c)
{
    loss_fwd(c, L_MAE);
}

void ntg__cpu_bwd_loss_mae(const ntg_kctx *c)
{
    loss_bwd(c, L_MAE);
}

void ntg__cpu_fwd_loss_huber(const ntg_kctx *c)
{
    loss_fwd(c, L_HUBER);
}

void ntg__cpu_bwd_loss_huber(const ntg_kctx *c)
{
    loss_bwd(c, L_HUBER);
}

void ntg__cpu_fwd_loss_pinball(const ntg_kctx *c)
{
    loss_fwd(c, L_PINBALL);
}

void ntg__cpu_bwd_loss_pinball(const ntg_kctx *c)
{
    loss_bwd(c, L_PINBALL);
}
