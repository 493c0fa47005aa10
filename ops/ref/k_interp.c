/* k_interp.c — reference kernels of interp_linear (F.interpolate(mode='linear')), last axis. */
#include <math.h>
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/*
 * Source position of output t, computed the way ATen's CPU kernel does it (UpSample.h:
 * area_pixel_compute_scale, area_pixel_compute_source_index, guard_index_and_lambda) and in
 * float, as ATen's opmath for float is float: golden tests compare with PyTorch at 1e-5, and
 * a double-precision index would move the weights by an ulp of the scale.
 */
typedef struct interp_geom {
    int64_t rows, in, size;
    int align;
    float scale;
} interp_geom;

static void interp_geom_of(const ntg_kctx *c, const ntg_tdesc *x, const ntg_tdesc *y,
                           interp_geom *g)
{
    g->in = x->dims[x->rank - 1];
    g->size = y->dims[y->rank - 1];
    g->rows = g->in > 0 ? ntg__tdesc_numel(x) / g->in : 0;
    g->align = (int)ntg__attr_i(c->attr, NTG_INTERP_ALIGN);
    if (g->align)
        g->scale = g->size > 1 ? (float)(g->in - 1) / (float)(g->size - 1) : 0.0f;
    else
        g->scale = (float)g->in / (float)g->size;
}

static void interp_src(const interp_geom *g, int64_t t, int64_t *i0, int64_t *i1, float *w1)
{
    if (g->in == g->size) {
        /* ATen copies when the sizes agree */
        *i0 = *i1 = t;
        *w1 = 0.0f;
        return;
    }
    float src;
    if (g->align) {
        src = g->scale * (float)t;
    } else {
        src = g->scale * ((float)t + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
    }
    int64_t i = (int64_t)floorf(src);
    if (i > g->in - 1) i = g->in - 1;
    float w = src - (float)i;
    if (w < 0.0f) w = 0.0f;
    if (w > 1.0f) w = 1.0f;
    *i0 = i;
    *i1 = i < g->in - 1 ? i + 1 : i;
    *w1 = w;
}

void ntg__cpu_fwd_interp_linear(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    interp_geom g;
    interp_geom_of(c, &c->in[0].d, &c->out[0].d, &g);
    for (int64_t r = 0; r < g.rows; r++) {
        const float *xr = x + r * g.in;
        float *yr = y + r * g.size;
        for (int64_t t = 0; t < g.size; t++) {
            int64_t i0, i1;
            float w1;
            interp_src(&g, t, &i0, &i1, &w1);
            yr[t] = (1.0f - w1) * xr[i0] + w1 * xr[i1];
        }
    }
}

/* in = [x, y, dy], out = [dx]; nothing saved: the weights depend on the sizes only. */
void ntg__cpu_bwd_interp_linear(const ntg_kctx *c)
{
    const float *dy = c->in[2].data;
    float *dx = c->out[0].data;
    if (!dx) return;
    memset(dx, 0, (size_t)ntg__tdesc_numel(&c->in[0].d) * sizeof *dx);
    if (!dy) return;
    interp_geom g;
    interp_geom_of(c, &c->in[0].d, &c->in[1].d, &g);
    for (int64_t r = 0; r < g.rows; r++) {
        const float *dyr = dy + r * g.size;
        float *dxr = dx + r * g.in;
        for (int64_t t = 0; t < g.size; t++) {
            int64_t i0, i1;
            float w1;
            interp_src(&g, t, &i0, &i1, &w1);
            dxr[i0] += (1.0f - w1) * dyr[t];
            dxr[i1] += w1 * dyr[t];
        }
    }
}
