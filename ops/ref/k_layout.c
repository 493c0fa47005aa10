/* k_layout.c — reference kernels of the data-movement ops: flip, slice, reshape, concat. */
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/* A tensor seen as [outer, len, inner] around one axis (row-major). */
typedef struct axis_split {
    int64_t outer, len, inner;
} axis_split;

static axis_split split_at(const ntg_tdesc *d, int ax)
{
    axis_split s = {1, d->dims[ax], 1};
    for (int i = 0; i < ax; i++) s.outer *= d->dims[i];
    for (int i = ax + 1; i < d->rank; i++) s.inner *= d->dims[i];
    return s;
}

static size_t fbytes(int64_t n)
{
    return (size_t)n * sizeof(float);
}

static void zero_view(const ntg_view *v)
{
    if (v->data) memset(v->data, 0, fbytes(ntg__tdesc_numel(&v->d)));
}

/* ------------------------------------------------------------------- flip */

static void flip_copy(const float *src, float *dst, axis_split s)
{
    for (int64_t o = 0; o < s.outer; o++) {
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
    flip_copy(c->in[0].data, c->out[0].data, split_at(d, ax));
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
    flip_copy(c->in[2].data, c->out[0].data, split_at(d, ax));
}

/* ------------------------------------------------------------------ slice */

/* The slice of x along its axis as [outer, nout, inner] taken from [outer, len, inner] at
 * s0, s0 + step, ...; nout is the shape rule's ceil(count / step), read from y. */
typedef struct slice_geom {
    axis_split x;
    int64_t s0, step, nout;
} slice_geom;

static slice_geom slice_geom_of(const ntg_kctx *c, const ntg_tdesc *x, const ntg_tdesc *y)
{
    slice_geom g;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_SLICE_AXIS), x->rank);
    int64_t n;
    ntg__slice_range(x->dims[ax], ntg__attr_i(c->attr, NTG_SLICE_START),
                     ntg__attr_i(c->attr, NTG_SLICE_END), &g.s0, &n);
    g.step = ntg__attr_i(c->attr, NTG_SLICE_STEP);
    g.nout = y->dims[ax];
    g.x = split_at(x, ax);
    return g;
}

/* dir 0 gathers x -> y, dir 1 scatters y -> x. */
static void slice_move(const slice_geom *g, float *x, float *y, int dir)
{
    int64_t inner = g->x.inner;
    for (int64_t o = 0; o < g->x.outer; o++) {
        float *xo = x + (o * g->x.len + g->s0) * inner, *yo = y + o * g->nout * inner;
        if (inner == 1 && dir == 0)
            for (int64_t j = 0; j < g->nout; j++) yo[j] = xo[j * g->step];
        else if (inner == 1)
            for (int64_t j = 0; j < g->nout; j++) xo[j * g->step] = yo[j];
        else if (dir == 0)
            for (int64_t j = 0; j < g->nout; j++)
                memcpy(yo + j * inner, xo + j * g->step * inner, fbytes(inner));
        else
            for (int64_t j = 0; j < g->nout; j++)
                memcpy(xo + j * g->step * inner, yo + j * inner, fbytes(inner));
    }
}

void ntg__cpu_fwd_slice(const ntg_kctx *c)
{
    slice_geom g = slice_geom_of(c, &c->in[0].d, &c->out[0].d);
    slice_move(&g, c->in[0].data, c->out[0].data, 0);
}

/* in = [x, y, dy], out = [dx]: dy lands on the sliced positions, zeros everywhere else. */
void ntg__cpu_bwd_slice(const ntg_kctx *c)
{
    if (!c->out[0].data) return;
    zero_view(&c->out[0]);
    if (!c->in[2].data) return;
    slice_geom g = slice_geom_of(c, &c->in[0].d, &c->in[1].d);
    slice_move(&g, c->out[0].data, c->in[2].data, 1);
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
    axis_split sy = split_at(yd, ax);
    float *y = c->out[0].data;
    int64_t at = 0;
    for (int i = 0; i < c->n_in; i++) {
        axis_split si = split_at(&c->in[i].d, ax);
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
    axis_split sy = split_at(yd, ax);
    int64_t at = 0;
    for (int i = 0; i < nfi; i++) {
        /* the forward input's shape: an unwanted gradient's view is all zeros */
        axis_split si = split_at(&c->in[i].d, ax);
        float *dx = c->out[i].data;
        int64_t run = si.len * si.inner;
        if (dx && !dy) zero_view(&c->out[i]);
        if (dx && dy)
            for (int64_t o = 0; o < sy.outer; o++)
                memcpy(dx + o * run, dy + (o * sy.len + at) * sy.inner, fbytes(run));
        at += si.len;
    }
}
