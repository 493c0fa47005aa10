/* k_elementwise.c — reference kernels of relu and of add, sub, mul with numpy broadcasting. */
#include <string.h>

#include "bcast.h"
#include "ref_kernels.h"

static void zero_view(const ntg_view *v)
{
    if (v->data) memset(v->data, 0, (size_t)ntg__tdesc_numel(&v->d) * sizeof(float));
}

/* ------------------------------------------------------------------- relu */

void ntg__cpu_fwd_relu(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    int64_t n = ntg__tdesc_numel(&c->out[0].d);
    /* NaN passes through, as torch.relu */
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

/* in = [x, y, dy], out = [dx]; the mask comes from the saved y (x is not saved). */
void ntg__cpu_bwd_relu(const ntg_kctx *c)
{
    const float *y = c->in[1].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = ntg__tdesc_numel(&c->in[0].d);
    if (!dx) return;
    if (!dy) {
        zero_view(&c->out[0]);
        return;
    }
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ------------------------------------------------------------ broadcasting */

static void bcast_fwd(const ntg_kctx *c, int op)
{
    ntg_bcast it;
    ntg__bcast_init(&it, &c->in[0].d, &c->in[1].d, &c->out[0].d);
    ntg__bcast_span(&it, op, c->in[0].data, c->in[1].data, c->out[0].data, 0, ntg__bcast_runs(&it),
                    0, it.dims[it.rank - 1]);
}

/* Gradient of operand k (0 = a, 1 = b), summed over the axes it was broadcast along. */
static void bcast_grad(const ntg_kctx *c, int op, int k)
{
    const ntg_view *gv = &c->out[k];
    const float *dy = c->in[3].data;
    if (!gv->data) return;
    zero_view(gv);
    if (!dy) return;
    ntg_bcast it;
    ntg__bcast_init(&it, &c->in[0].d, &c->in[1].d, &c->in[3].d);
    ntg__bcast_grad(&it, op, k, dy, c->in[1 - k].data, gv->data);
}

void ntg__cpu_fwd_add(const ntg_kctx *c)
{
    bcast_fwd(c, NTG_BC_ADD);
}

void ntg__cpu_fwd_sub(const ntg_kctx *c)
{
    bcast_fwd(c, NTG_BC_SUB);
}

void ntg__cpu_fwd_mul(const ntg_kctx *c)
{
    bcast_fwd(c, NTG_BC_MUL);
}

/* in = [a, b, y, dy], out = [da, db]; mul reads the saved a and b. */
void ntg__cpu_bwd_add(const ntg_kctx *c)
{
    bcast_grad(c, NTG_BC_ADD, 0);
    bcast_grad(c, NTG_BC_ADD, 1);
}

void ntg__cpu_bwd_sub(const ntg_kctx *c)
{
    bcast_grad(c, NTG_BC_SUB, 0);
    bcast_grad(c, NTG_BC_SUB, 1);
}

void ntg__cpu_bwd_mul(const ntg_kctx *c)
{
    bcast_grad(c, NTG_BC_MUL, 0);
    bcast_grad(c, NTG_BC_MUL, 1);
}
