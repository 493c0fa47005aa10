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

/* ------------------------------------------------- distribution losses (NLL) */

/*
 * loss_normal and loss_studentt: y is [outer, P, inner] (P = 2: loc, raw scale; P = 3: and raw
 * df), t and the mask [outer, inner].  sigma = softplus(raw scale), df = 2 + softplus(raw df) as
 * NeuralForecast's normal_scale_decouple / student_scale_decouple.  Per element the negative
 * log-density of t; the loss is its masked mean.  Everything in double.
 */
typedef struct dgeom {
    int np; /* 2: Normal, 3: Student-t */
    int64_t outer, inner;
} dgeom;

static dgeom dgeom_of(const ntg_kctx *c, int np)
{
    dgeom g;
    const ntg_tdesc *y = &c->in[0].d;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_DIST_AXIS), y->rank);
    g.np = np;
    g.outer = g.inner = 1;
    for (int d = 0; d < ax; d++) g.outer *= y->dims[d];
    for (int d = ax + 1; d < y->rank; d++) g.inner *= y->dims[d];
    return g;
}

static double softplus_d(double x)
{
    return x > 20.0 ? x : log1p(exp(x)); /* torch.nn.Softplus's threshold */
}

static double sigmoid_d(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* psi(x) for x > 0: recurrence up to 6, then the asymptotic series (error < 1e-12). */
static double digamma_d(double x)
{
    double r = 0.0;
    while (x < 6.0) {
        r -= 1.0 / x;
        x += 1.0;
    }
    double f = 1.0 / (x * x);
    return r + log(x) - 0.5 / x -
           f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

#define NTG_HALF_LOG_2PI 0.91893853320467274178
#define NTG_HALF_LOG_PI 0.57236494292470008707

/* Element (o, i): its NLL and, when g is not NULL, d NLL / d raw parameter k into g[k]. */
static double dist_elem(const dgeom *d, const float *y, double t, int64_t o, int64_t i, double *g)
{
    const float *p = y + o * d->np * d->inner + i;
    double mu = (double)p[0], rs = (double)p[d->inner], s = softplus_d(rs);
    double z = (t - mu) / s;
    if (d->np == 2) {
        if (g) {
            g[0] = -z / s;                            /* d/d mu */
            g[1] = (1.0 - z * z) / s * sigmoid_d(rs); /* d/d sigma * d sigma / d raw */
        }
        return log(s) + NTG_HALF_LOG_2PI + 0.5 * z * z;
    }
    double rn = (double)p[2 * d->inner], nu = 2.0 + softplus_d(rn);
    double a = 1.0 + z * z / nu, la = log1p(z * z / nu);
    if (g) {
        double k = (nu + 1.0) * z / (nu * a); /* d/dz of (nu + 1)/2 log a */
        g[0] = -k / s;
        g[1] = (1.0 - k * z) / s * sigmoid_d(rs);
        double dnu = -0.5 * digamma_d(0.5 * (nu + 1.0)) + 0.5 * digamma_d(0.5 * nu) + 0.5 / nu +
                     0.5 * la - 0.5 * (nu + 1.0) * z * z / (nu * nu * a);
        g[2] = dnu * sigmoid_d(rn);
    }
    return -lgamma(0.5 * (nu + 1.0)) + lgamma(0.5 * nu) + 0.5 * log(nu) + NTG_HALF_LOG_PI + log(s) +
           0.5 * (nu + 1.0) * la;
}

static double dist_mask_sum(const dgeom *d, const float *m)
{
    int64_t n = d->outer * d->inner;
    if (!m) return (double)n;
    double w = 0.0;
    for (int64_t i = 0; i < n; i++) w += (double)m[i];
    return w;
}

static double dist_value(const dgeom *d, const float *y, const float *t, const float *m)
{
    double w = dist_mask_sum(d, m), s = 0.0;
    if (w == 0.0) return 0.0;
    for (int64_t o = 0; o < d->outer; o++)
        for (int64_t i = 0; i < d->inner; i++) {
            int64_t it = o * d->inner + i;
            double l = dist_elem(d, y, (double)t[it], o, i, NULL);
            s += m ? (double)m[it] * l : l;
        }
    return s / w;
}

static void dist_fwd(const ntg_kctx *c, int np)
{
    dgeom d = dgeom_of(c, np);
    const float *m = c->n_in > 2 ? c->in[2].data : NULL;
    float *out = c->out[0].data;
    out[0] = (float)dist_value(&d, c->in[0].data, c->in[1].data, m);
}

/* in = [y, t, (mask), loss, dloss], out = [dy, dt, (dmask)], as loss_bwd. */
static void dist_bwd(const ntg_kctx *c, int np)
{
    int nfi = c->n_out;
    dgeom d = dgeom_of(c, np);
    const float *y = c->in[0].data, *t = c->in[1].data;
    const float *m = nfi > 2 ? c->in[2].data : NULL;
    const float *dl = c->in[nfi + 1].data;
    float *dy = c->out[0].data, *dt = c->out[1].data;
    const ntg_view *dmv = nfi > 2 ? &c->out[2] : NULL;
    float *dm = dmv ? dmv->data : NULL;
    double w = dist_mask_sum(&d, m);
    if (!dl || w == 0.0) {
        zero_view(&c->out[0]);
        zero_view(&c->out[1]);
        if (dmv) zero_view(dmv);
        return;
    }
    double scale = (double)dl[0] / w;
    double lval = dm ? dist_value(&d, y, t, m) : 0.0;
    for (int64_t o = 0; o < d.outer; o++)
        for (int64_t i = 0; i < d.inner; i++) {
            int64_t it = o * d.inner + i;
            double mi = m ? (double)m[it] : 1.0, g[3] = {0, 0, 0};
            double l = dist_elem(&d, y, (double)t[it], o, i, g);
            for (int k = 0; k < d.np; k++)
                if (dy) dy[(o * d.np + k) * d.inner + i] = (float)(scale * mi * g[k]);
            if (dt) dt[it] = (float)(-scale * mi * g[0]); /* NLL depends on t - loc */
            if (dm) dm[it] = (float)(scale * (l - lval));
        }
}

void ntg__cpu_fwd_loss_normal(const ntg_kctx *c)
{
    dist_fwd(c, 2);
}

void ntg__cpu_bwd_loss_normal(const ntg_kctx *c)
{
    dist_bwd(c, 2);
}

void ntg__cpu_fwd_loss_studentt(const ntg_kctx *c)
{
    dist_fwd(c, 3);
}

void ntg__cpu_bwd_loss_studentt(const ntg_kctx *c)
{
    dist_bwd(c, 3);
}

/* ------------------------------------------------- softmax cross-entropy */

/*
 * loss_xent: y is [outer, C, inner] of logits, t and the mask [outer, inner] of class indices.
 * Per element l = logsumexp_k y[o, k, i] - y[o, t, i] (max-shifted); the loss is their masked
 * mean.  d l / d y[o, k, i] = softmax_k - [k == t]; t has no gradient (dt = 0).  A t that is
 * not an integer in [0, C) makes l NaN.  Everything in double.
 */
typedef struct xgeom {
    int64_t outer, nc, inner;
} xgeom;

static xgeom xgeom_of(const ntg_kctx *c)
{
    xgeom g;
    const ntg_tdesc *y = &c->in[0].d;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_XENT_AXIS), y->rank);
    g.nc = y->dims[ax];
    g.outer = g.inner = 1;
    for (int d = 0; d < ax; d++) g.outer *= y->dims[d];
    for (int d = ax + 1; d < y->rank; d++) g.inner *= y->dims[d];
    return g;
}

/* Element (o, i): its loss and, when p is not NULL, the softmax into p[0 .. C-1]. */
static double xent_elem(const xgeom *g, const float *y, double t, int64_t o, int64_t i, double *p)
{
    const float *q = y + o * g->nc * g->inner + i;
    double mx = -INFINITY;
    for (int64_t k = 0; k < g->nc; k++)
        if ((double)q[k * g->inner] > mx) mx = (double)q[k * g->inner];
    double s = 0.0;
    for (int64_t k = 0; k < g->nc; k++) {
        double e = exp((double)q[k * g->inner] - mx);
        if (p) p[k] = e;
        s += e;
    }
    if (p)
        for (int64_t k = 0; k < g->nc; k++) p[k] /= s;
    if (!(t >= 0 && t < (double)g->nc) || t != floor(t)) return NAN;
    return mx + log(s) - (double)q[(int64_t)t * g->inner];
}

static double xent_value(const xgeom *g, const float *y, const float *t, const float *m)
{
    int64_t n = g->outer * g->inner;
    double w = 0.0, s = 0.0;
    for (int64_t i = 0; i < n; i++) w += m ? (double)m[i] : 1.0;
    if (w == 0.0) return 0.0;
    for (int64_t o = 0; o < g->outer; o++)
        for (int64_t i = 0; i < g->inner; i++) {
            int64_t it = o * g->inner + i;
            double l = xent_elem(g, y, (double)t[it], o, i, NULL);
            s += m ? (double)m[it] * l : l;
        }
    return s / w;
}

void ntg__cpu_fwd_loss_xent(const ntg_kctx *c)
{
    xgeom g = xgeom_of(c);
    const float *m = c->n_in > 2 ? c->in[2].data : NULL;
    float *out = c->out[0].data;
    out[0] = (float)xent_value(&g, c->in[0].data, c->in[1].data, m);
}

/* in = [y, t, (mask), loss, dloss], out = [dy, dt, (dmask)], as loss_bwd. */
void ntg__cpu_bwd_loss_xent(const ntg_kctx *c)
{
    int nfi = c->n_out;
    xgeom g = xgeom_of(c);
    const float *y = c->in[0].data, *t = c->in[1].data;
    const float *m = nfi > 2 ? c->in[2].data : NULL;
    const float *dl = c->in[nfi + 1].data;
    float *dy = c->out[0].data, *dt = c->out[1].data;
    const ntg_view *dmv = nfi > 2 ? &c->out[2] : NULL;
    float *dm = dmv ? dmv->data : NULL;
    double w = 0.0;
    for (int64_t i = 0; i < g.outer * g.inner; i++) w += m ? (double)m[i] : 1.0;
    if (!dl || w == 0.0) {
        zero_view(&c->out[0]);
        zero_view(&c->out[1]);
        if (dmv) zero_view(dmv);
        return;
    }
    double scale = (double)dl[0] / w;
    double lval = dm ? xent_value(&g, y, t, m) : 0.0;
    double p[NTG_XENT_MAX_CLASSES]; /* the shape rule caps C */
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++) {
            int64_t it = o * g.inner + i;
            double mi = m ? (double)m[it] : 1.0, tv = (double)t[it];
            double l = xent_elem(&g, y, tv, o, i, p);
            for (int64_t k = 0; dy && k < g.nc; k++) {
                double gk = p[k] - ((double)k == tv ? 1.0 : 0.0);
                dy[(o * g.nc + k) * g.inner + i] = (float)(isnan(l) ? NAN : scale * mi * gk);
            }
            if (dt) dt[it] = 0.0f; /* class indices are not differentiable */
            if (dm) dm[it] = (float)(scale * (l - lval));
        }
}
