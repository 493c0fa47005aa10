/* k_dropout.c — reference kernels of dropout (torch.nn.Dropout, inverted: kept elements scaled
 * by 1/(1-p)).
 *
 * Without its second operand (forecast and eval programs) dropout is the identity.  With it
 * (grad and train_step), the operand is the trainer's train.rng tensor and element e of
 * window b keeps when ntg__dropout_keep(key, (row0 + b) * inner + e, thr), key a pure function
 * of (seed, step, stream): the same seed gives the same masks bitwise, and a mesh worker whose
 * shard starts at global window row0 draws what one process draws for those windows.  The
 * backward draws the same mask again rather than storing it (docs/internals.md, "Dropout"). */
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

typedef struct drop_g {
    uint64_t key, thr, row0;
    int64_t rows, inner;
    double scale;
} drop_g;

static drop_g drop_geom(const ntg_kctx *c, const ntg_view *x, const ntg_view *rng)
{
    drop_g g;
    uint64_t seed, step;
    double p = ntg__attr_f(c->attr, NTG_DROPOUT_P);
    ntg__rng_words(rng->data, &seed, &step, &g.row0);
    g.key = ntg__dropout_key(seed, step, (uint64_t)ntg__attr_i(c->attr, NTG_DROPOUT_STREAM));
    g.thr = ntg__dropout_thr(p);
    g.scale = p < 1 ? 1.0 / (1.0 - p) : 0.0;
    int64_t n = ntg__tdesc_numel(&x->d);
    g.rows = x->d.batched ? x->d.dims[0] : 1;
    g.inner = g.rows > 0 ? n / g.rows : 0;
    if (!x->d.batched) g.row0 = 0; /* one tensor for the whole batch: the same on every worker */
    return g;
}

/* out = f(in) * mask / (1 - p) over x's elements */
static void apply_mask(const drop_g *g, const float *in, float *out)
{
    for (int64_t b = 0; b < g->rows; b++) {
        uint64_t base = (g->row0 + (uint64_t)b) * (uint64_t)g->inner;
        for (int64_t e = 0; e < g->inner; e++) {
            int64_t q = b * g->inner + e;
            out[q] = ntg__dropout_keep(g->key, base + (uint64_t)e, g->thr)
                         ? (float)((double)in[q] * g->scale)
                         : 0.0f;
        }
    }
}

void ntg__cpu_fwd_dropout(const ntg_kctx *c)
{
    const ntg_view *x = &c->in[0];
    size_t n = (size_t)ntg__tdesc_numel(&x->d);
    if (c->n_in < 2 || !c->in[1].data) {
        if (c->out[0].data != x->data) memcpy(c->out[0].data, x->data, n * sizeof(float));
        return;
    }
    drop_g g = drop_geom(c, x, &c->in[1]);
    apply_mask(&g, x->data, c->out[0].data);
}

/* in = [x, (rng), y, dy], out = [dx, (drng)]: dx = dy * mask / (1 - p), the same mask. */
void ntg__cpu_bwd_dropout(const ntg_kctx *c)
{
    int nfi = c->n_out;
    float *dx = c->out[0].data;
    const float *dy = c->in[nfi + 1].data;
    if (!dx) return;
    size_t n = (size_t)ntg__tdesc_numel(&c->in[0].d);
    if (!dy) {
        memset(dx, 0, n * sizeof *dx);
        return;
    }
    if (nfi < 2 || !c->in[1].data) {
        memcpy(dx, dy, n * sizeof *dx);
        return;
    }
    drop_g g = drop_geom(c, &c->in[0], &c->in[1]);
    apply_mask(&g, dy, dx);
}
