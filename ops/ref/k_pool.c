/* k_pool.c — reference kernels of maxpool1d (torch.nn.MaxPool1d over the last axis). */
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

typedef struct pool_geom {
    int64_t rows, len, nout, k, s, pad;
} pool_geom;

static void pool_geom_of(const ntg_kctx *c, const ntg_tdesc *x, const ntg_tdesc *y, pool_geom *g)
{
    g->len = x->dims[x->rank - 1];
    g->nout = y->dims[y->rank - 1];
    g->rows = g->len > 0 ? ntg__tdesc_numel(x) / g->len : 0;
    g->k = ntg__attr_i(c->attr, NTG_POOL_KERNEL);
    g->s = ntg__attr_i(c->attr, NTG_POOL_STRIDE);
    if (g->s == 0) g->s = g->k;
    g->pad = ntg__attr_i(c->attr, NTG_POOL_PAD);
}

/*
 * Index of the first maximum of window o of row xr.  The -inf padding never wins, so the
 * window is clipped to the input; ntg__pool_out_len and padding <= kernel/2 guarantee that
 * every window keeps at least one element.  NaN wins, as in torch (val > max || isnan(val)).
 */
static int64_t window_argmax(const float *xr, const pool_geom *g, int64_t o)
{
    int64_t lo = o * g->s - g->pad, hi = lo + g->k;
    if (lo < 0) lo = 0;
    if (hi > g->len) hi = g->len;
    int64_t best = lo;
    float m = xr[lo];
    for (int64_t i = lo + 1; i < hi; i++)
        if (xr[i] > m || xr[i] != xr[i]) {
            m = xr[i];
            best = i;
        }
    return best;
}

void ntg__cpu_fwd_maxpool1d(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    pool_geom g;
    pool_geom_of(c, &c->in[0].d, &c->out[0].d, &g);
    for (int64_t r = 0; r < g.rows; r++) {
        const float *xr = x + r * g.len;
        float *yr = y + r * g.nout;
        for (int64_t o = 0; o < g.nout; o++) yr[o] = xr[window_argmax(xr, &g, o)];
    }
}

/* in = [x, y, dy], out = [dx]; the argmax is recomputed from the saved x (y is not saved).
 * Overlapping windows (stride < kernel) add up at a shared maximum. */
void ntg__cpu_bwd_maxpool1d(const ntg_kctx *c)
{
    const float *x = c->in[0].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    if (!dx) return;
    memset(dx, 0, (size_t)ntg__tdesc_numel(&c->in[0].d) * sizeof *dx);
    if (!dy) return;
    pool_geom g;
    pool_geom_of(c, &c->in[0].d, &c->in[1].d, &g);
    for (int64_t r = 0; r < g.rows; r++) {
        const float *xr = x + r * g.len, *dyr = dy + r * g.nout;
        float *dxr = dx + r * g.len;
        for (int64_t o = 0; o < g.nout; o++) dxr[window_argmax(xr, &g, o)] += dyr[o];
    }
}
