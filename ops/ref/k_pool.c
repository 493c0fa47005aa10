/* k_pool.c — reference kernels of maxpool1d (torch.nn.MaxPool1d over the last axis). */
#include <string.h>

#include "ref_kernels.h"
#include "ref_span.h"
#include "op_attrs.h"

void ntg__ref_pool_geom(const ntg_attr *attr, const ntg_tdesc *x, const ntg_tdesc *y,
                        ntg_pool_geom *g)
{
    g->len = x->dims[x->rank - 1];
    g->nout = y->dims[y->rank - 1];
    g->rows = g->len > 0 ? ntg__tdesc_numel(x) / g->len : 0;
    g->k = ntg__attr_i(attr, NTG_POOL_KERNEL);
    g->s = ntg__attr_i(attr, NTG_POOL_STRIDE);
    if (g->s == 0) g->s = g->k;
    g->pad = ntg__attr_i(attr, NTG_POOL_PAD);
}

void ntg__ref_maxpool_rows(const ntg_pool_geom *g, const float *x, float *y, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * g->len;
        float *yr = y + r * g->nout;
        for (int64_t o = 0; o < g->nout; o++) yr[o] = xr[ntg__ref_pool_argmax(xr, g, o)];
    }
}

/* The argmax is recomputed from the saved x.  Overlapping windows (stride < kernel) add up
 * at a shared maximum. */
void ntg__ref_maxpool_bwd_rows(const ntg_pool_geom *g, const float *x, const float *dy, float *dx,
                               int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * g->len, *dyr = dy + r * g->nout;
        float *dxr = dx + r * g->len;
        memset(dxr, 0, (size_t)g->len * sizeof *dxr);
        for (int64_t o = 0; o < g->nout; o++) dxr[ntg__ref_pool_argmax(xr, g, o)] += dyr[o];
    }
}

void ntg__cpu_fwd_maxpool1d(const ntg_kctx *c)
{
    ntg_pool_geom g;
    ntg__ref_pool_geom(c->attr, &c->in[0].d, &c->out[0].d, &g);
    ntg__ref_maxpool_rows(&g, c->in[0].data, c->out[0].data, 0, g.rows);
}

/* in = [x, y, dy], out = [dx] (y is not saved). */
void ntg__cpu_bwd_maxpool1d(const ntg_kctx *c)
{
    const float *dy = c->in[2].data;
    float *dx = c->out[0].data;
    if (!dx) return;
    if (!dy) {
        memset(dx, 0, (size_t)ntg__tdesc_numel(&c->in[0].d) * sizeof *dx);
        return;
    }
    ntg_pool_geom g;
    ntg__ref_pool_geom(c->attr, &c->in[0].d, &c->in[1].d, &g);
    ntg__ref_maxpool_bwd_rows(&g, c->in[0].data, dy, dx, 0, g.rows);
}
