/* k_layout.c — reference kernels of the data-movement ops: flip, slice, reshape, concat. */
#include <string.h>

#include "ref_kernels.h"
#include "ref_span.h"
#include "op_attrs.h"

static size_t fbytes(int64_t n)
{
    return (size_t)n * sizeof(float);
}

static void zero_view(const ntg_view *v)
{
    if (v->data) memset(v->data, 0, fbytes(ntg__tdesc_numel(&v->d)));
}

/* ------------------------------------------------------------------- flip */

void ntg__ref_flip_span(const float *src, float *dst, ntg_axis_split s, int64_t o0, int64_t o1)
{
    for (int64_t o = o0; o < o1; o++) {
        const float *so = src + o * s.len * s.inner;
        float *d = dst + o * s.len * s.inner;
        if (s.inner == 1)
            for (int64_t i = 0; i < s.len; i++) d[s.len - 1 - i] = so[i];
        else
            for (int64_t i = 0; i < s.len; i++)
                memcpy(d + (s.len - 1 - i) * s.inner, so + i * s.inner, fbytes(s.inner));
    }
}

void ntg__cpu_fwd_flip(const ntg_kctx *c)
{
    const ntg_tdesc *d = &c->in[0].d;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_FLIP_AXIS), d->rank);
    ntg_axis_split s = ntg__axis_split(d, ax);
    ntg__ref_flip_span(c->in[0].data, c->out[0].data, s, 0, s.outer);
}

/* in = [x, y, dy], out = [dx]: flip is its own adjoint. */
void ntg__cpu_bwd_flip(const ntg_kctx *c)
{
    const ntg_tdesc *d = &c->in[0].d;
    if (!c->out[0].data) return;
    if (!c->in[2].data) {
        zero_view(&c->out[0]);
        return;
    }
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_FLIP_AXIS), d->rank);
    ntg_axis_split s = ntg__axis_split(d, ax);
    ntg__ref_flip_span(c->in[2].data, c->out[0].data, s, 0, s.outer);
}

/* ------------------------------------------------------------------ slice */

ntg_slice_geom ntg__ref_slice_geom(const ntg_attr *attr, const ntg_tdesc *x, const ntg_tdesc *y)
{
    ntg_slice_geom g;
    int ax = ntg__axis(ntg__attr_i(attr, NTG_SLICE_AXIS), x->rank);
    int64_t n;
    ntg__slice_range(x->dims[ax], ntg__attr_i(attr, NTG_SLICE_START),
                     ntg__attr_i(attr, NTG_SLICE_END), &g.s0, &n);
    g.step = ntg__attr_i(attr, NTG_SLICE_STEP);
    g.nout = y->dims[ax];
    g.x = ntg__axis_split(x, ax);
    return g;
}

void ntg__ref_slice_span(const ntg_slice_geom *g, const float *x, float *y, int bwd,
                         const float *dy, float *dx, int64_t o0, int64_t o1)
{
    int64_t inner = g->x.inner;
    for (int64_t o = o0; o < o1; o++) {
        if (!bwd) {
            const float *xo = x + (o * g->x.len + g->s0) * inner;
            float *yo = y + o * g->nout * inner;
            if (inner == 1)
                for (int64_t j = 0; j < g->nout; j++) yo[j] = xo[j * g->step];
            else
                for (int64_t j = 0; j < g->nout; j++)
                    memcpy(yo + j * inner, xo + j * g->step * inner, fbytes(inner));
            continue;
        }
        memset(dx + o * g->x.len * inner, 0, fbytes(g->x.len * inner));
        if (!dy) continue;
        float *xo = dx + (o * g->x.len + g->s0) * inner;
        const float *yo = dy + o * g->nout * inner;
        if (inner == 1)
            for (int64_t j = 0; j < g->nout; j++) xo[j * g->step] = yo[j];
        else
            for (int64_t j = 0; j < g->nout; j++)
                memcpy(xo + j * g->step * inner, yo + j * inner, fbytes(inner));
    }
}

void ntg__cpu_fwd_slice(const ntg_kctx *c)
{
    ntg_slice_geom g = ntg__ref_slice_geom(c->attr, &c->in[0].d, &c->out[0].d);
    ntg__ref_slice_span(&g, c->in[0].data, c->out[0].data, 0, NULL, NULL, 0, g.x.outer);
}

/* in = [x, y, dy], out = [dx]: dy lands on the sliced positions, zeros everywhere else. */
void ntg__cpu_bwd_slice(const ntg_kctx *c)
{
    if (!c->out[0].data) return;
    ntg_slice_geom g = ntg__ref_slice_geom(c->attr, &c->in[0].d, &c->in[1].d);
    ntg__ref_slice_span(&g, NULL, NULL, 1, c->in[2].data, c->out[0].data, 0, g.x.outer);
}

/* ---------------------------------------------------------------- reshape */

void ntg__cpu_fwd_reshape(const ntg_kctx *c)
{
    memcpy(c->out[0].data, c->in[0].data, fbytes(ntg__tdesc_numel(&c->out[0].d)));
}

/* in = [x, y, dy], out = [dx]. */
void ntg__cpu_bwd_reshape(const ntg_kctx *c)
{
    if (!c->out[0].data) return;
    if (!c->in[2].data) {
        zero_view(&c->out[0]);
        return;
    }
    memcpy(c->out[0].data, c->in[2].data, fbytes(ntg__tdesc_numel(&c->in[0].d)));
}

/* ----------------------------------------------------------------- concat */

void ntg__cpu_fwd_concat(const ntg_kctx *c)
{
    const ntg_tdesc *yd = &c->out[0].d;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_CONCAT_AXIS), yd->rank);
    ntg_axis_split sy = ntg__axis_split(yd, ax);
    float *y = c->out[0].data;
    int64_t at = 0;
    for (int i = 0; i < c->n_in; i++) {
        ntg_axis_split si = ntg__axis_split(&c->in[i].d, ax);
        const float *x = c->in[i].data;
        int64_t run = si.len * si.inner;
        for (int64_t o = 0; o < sy.outer; o++)
            memcpy(y + (o * sy.len + at) * sy.inner, x + o * run, fbytes(run));
        at += si.len;
    }
}

/* in = [x_0 .. x_{n-1}, y, dy], out = [dx_0 .. dx_{n-1}]: each gradient is its slab of dy. */
void ntg__cpu_bwd_concat(const ntg_kctx *c)
{
    int nfi = c->n_out;
    const ntg_tdesc *yd = &c->in[nfi].d;
    const float *dy = c->in[nfi + 1].data;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_CONCAT_AXIS), yd->rank);
    ntg_axis_split sy = ntg__axis_split(yd, ax);
    int64_t at = 0;
    for (int i = 0; i < nfi; i++) {
        /* the forward input's shape: an unwanted gradient's view is all zeros */
        ntg_axis_split si = ntg__axis_split(&c->in[i].d, ax);
        float *dx = c->out[i].data;
        int64_t run = si.len * si.inner;
        if (dx && !dy) zero_view(&c->out[i]);
        if (dx && dy)
            for (int64_t o = 0; o < sy.outer; o++)
                memcpy(dx + o * run, dy + (o * sy.len + at) * sy.inner, fbytes(run));
        at += si.len;
    }
}
