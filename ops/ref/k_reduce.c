/* k_reduce.c — reference kernels of reduce_sum, reduce_mean and reduce_max along one axis. */
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/* Output columns summed per pass, in double, on the stack. */
enum { CHUNK = 256 };

/* x as [outer, len, inner] around the reduced axis; y (keepdims or not) is [outer, inner]. */
typedef struct red_geom {
    int64_t outer, len, inner;
} red_geom;

static red_geom red_geom_of(const ntg_kctx *c)
{
    const ntg_tdesc *d = &c->in[0].d;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_REDUCE_AXIS), d->rank);
    red_geom g = {1, d->dims[ax], 1};
    for (int i = 0; i < ax; i++) g.outer *= d->dims[i];
    for (int i = ax + 1; i < d->rank; i++) g.inner *= d->dims[i];
    return g;
}

/* Sums in double in the axis's order (deterministic), reading x contiguously; mean divides
 * the double sum and rounds once. */
static void sum_fwd(const ntg_kctx *c, int mean)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    red_geom g = red_geom_of(c);
    double acc[CHUNK];
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i0 = 0; i0 < g.inner; i0 += CHUNK) {
            int64_t ni = g.inner - i0 < CHUNK ? g.inner - i0 : CHUNK;
            const float *xo = x + o * g.len * g.inner + i0;
            for (int64_t i = 0; i < ni; i++) acc[i] = 0.0;
            for (int64_t l = 0; l < g.len; l++)
                for (int64_t i = 0; i < ni; i++) acc[i] += (double)xo[l * g.inner + i];
            float *yo = y + o * g.inner + i0;
            for (int64_t i = 0; i < ni; i++)
                yo[i] = (float)(mean ? acc[i] / (double)g.len : acc[i]);
        }
}

void ntg__cpu_fwd_reduce_sum(const ntg_kctx *c)
{
    sum_fwd(c, 0);
}

void ntg__cpu_fwd_reduce_mean(const ntg_kctx *c)
{
    sum_fwd(c, 1);
}

/* in = [x, y, dy], out = [dx] (neither x nor y saved): dy broadcast along the axis, divided
 * by its length for the mean (in float, as torch's mean backward). */
static void sum_bwd(const ntg_kctx *c, int mean)
{
    const float *dy = c->in[2].data;
    float *dx = c->out[0].data;
    if (!dx) return;
    red_geom g = red_geom_of(c);
    if (!dy) {
        memset(dx, 0, (size_t)(g.outer * g.len * g.inner) * sizeof(float));
        return;
    }
    float len = (float)g.len;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t l = 0; l < g.len; l++) {
            const float *go = dy + o * g.inner;
            float *d = dx + (o * g.len + l) * g.inner;
            if (mean)
                for (int64_t i = 0; i < g.inner; i++) d[i] = go[i] / len;
            else
                memcpy(d, go, (size_t)g.inner * sizeof(float));
        }
}

void ntg__cpu_bwd_reduce_sum(const ntg_kctx *c)
{
    sum_bwd(c, 0);
}

void ntg__cpu_bwd_reduce_mean(const ntg_kctx *c)
{
    sum_bwd(c, 1);
}

/* A NaN wins (torch.max propagates it); otherwise the first of equal maxima stays. */
static int beats(float v, float m)
{
    return v > m || (v != v && m == m);
}

void ntg__cpu_fwd_reduce_max(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    red_geom g = red_geom_of(c);
    for (int64_t o = 0; o < g.outer; o++) {
        const float *xo = x + o * g.len * g.inner;
        float *yo = y + o * g.inner;
        memcpy(yo, xo, (size_t)g.inner * sizeof(float));
        for (int64_t l = 1; l < g.len; l++)
            for (int64_t i = 0; i < g.inner; i++)
                if (beats(xo[l * g.inner + i], yo[i])) yo[i] = xo[l * g.inner + i];
    }
}

/* in = [x, y, dy], out = [dx]: each dy goes to the first position along the axis that holds
 * the maximum (the first NaN where y is NaN), as torch's max(dim) indices; zeros elsewhere. */
void ntg__cpu_bwd_reduce_max(const ntg_kctx *c)
{
    const float *x = c->in[0].data, *y = c->in[1].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    if (!dx) return;
    red_geom g = red_geom_of(c);
    memset(dx, 0, (size_t)(g.outer * g.len * g.inner) * sizeof(float));
    if (!dy) return;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++) {
            int64_t at = o * g.len * g.inner + i;
            float m = y[o * g.inner + i];
            for (int64_t l = 0; l < g.len; l++) {
                float v = x[at + l * g.inner];
                if (v == m || (v != v && m != m)) {
                    dx[at + l * g.inner] = dy[o * g.inner + i];
                    break;
                }
            }
        }
}
