/* k_split.c — reference kernels of split: consecutive pieces of one axis (torch.split). */
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/* The tensor as [outer, len, inner] around the split axis; a piece is [outer, size, inner]. */
static void around_axis(const ntg_tdesc *d, int ax, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < ax; i++) *outer *= d->dims[i];
    for (int i = ax + 1; i < d->rank; i++) *inner *= d->dims[i];
}

static size_t fbytes(int64_t n)
{
    return (size_t)n * sizeof(float);
}

void ntg__cpu_fwd_split(const ntg_kctx *c)
{
    const ntg_tdesc *xd = &c->in[0].d;
    const float *x = c->in[0].data;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_SPLIT_AXIS), xd->rank);
    int64_t outer, inner, len = xd->dims[ax], at = 0;
    around_axis(xd, ax, &outer, &inner);
    for (int j = 0; j < c->n_out; j++) {
        int64_t run = c->out[j].d.dims[ax] * inner;
        float *y = c->out[j].data;
        for (int64_t o = 0; o < outer; o++)
            memcpy(y + o * run, x + (o * len + at) * inner, fbytes(run));
        at += c->out[j].d.dims[ax];
    }
}

/* in = [x, y_0 .. y_{n-1}, dy_0 .. dy_{n-1}], out = [dx]: the output gradients joined along
 * the axis, zeros for a piece whose gradient is absent.  Piece extents come from the forward
 * outputs' shapes (an absent gradient's view has none). */
void ntg__cpu_bwd_split(const ntg_kctx *c)
{
    const ntg_tdesc *xd = &c->in[0].d;
    float *dx = c->out[0].data;
    int nfo = (c->n_in - 1) / 2;
    if (!dx) return;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_SPLIT_AXIS), xd->rank);
    int64_t outer, inner, len = xd->dims[ax], at = 0;
    around_axis(xd, ax, &outer, &inner);
    for (int j = 0; j < nfo; j++) {
        int64_t run = c->in[1 + j].d.dims[ax] * inner;
        const float *dy = c->in[1 + nfo + j].data;
        for (int64_t o = 0; o < outer; o++) {
            float *d = dx + (o * len + at) * inner;
            if (dy)
                memcpy(d, dy + o * run, fbytes(run));
            else
                memset(d, 0, fbytes(run));
        }
        at += c->in[1 + j].d.dims[ax];
    }
}
