/* xnn_train.c — losses (MSE, MAE, Huber) and the optimizer steps (Adam/AdamW, SGD, clipping). */
#include <math.h>
#include <string.h>

#include "ntg_error.h"
#include "op_attrs.h"
#include "xnn_int.h"

/*
 * Losses reduce in double over fixed blocks of LOSS_BLOCK elements, the block sums added in
 * block order: the same result for every thread count.  The optimizers are elementwise over
 * millions of parameters and memory-bound: vectorised (Adam in double, one rounding per
 * stored value, as the reference) and split across threads for the large tensors.
 */

enum { LOSS_BLOCK = 4096 };

enum { L_MSE, L_MAE, L_HUBER };

static int loss_kind(uint32_t code)
{
    return code == NTG_OP_loss_mse ? L_MSE : code == NTG_OP_loss_mae ? L_MAE : L_HUBER;
}

typedef struct loss_ctx {
    int kind;
    double delta;
    const float *y, *t, *m;
    int64_t n, blocks;
    double *part; /* [blocks][2]: sum of m l, sum of m */
    /* backward */
    float *dy;
    double scale;
    size_t chunks;
} loss_ctx;

static double elem_loss(int kind, double delta, double e)
{
    double a = fabs(e);
    if (kind == L_MSE) return e * e;
    if (kind == L_MAE) return a;
    return a < delta ? 0.5 * e * e : delta * (a - 0.5 * delta);
}

static double elem_grad(int kind, double delta, double e)
{
    if (kind == L_MSE) return 2.0 * e;
    if (kind == L_MAE) return e > 0 ? 1.0 : e < 0 ? -1.0 : 0.0;
    if (fabs(e) < delta) return e;
    return e > 0 ? delta : -delta;
}

static void loss_fwd_task(void *p, size_t k)
{
    const loss_ctx *c = p;
    int64_t q0 = c->blocks * (int64_t)k / (int64_t)c->chunks;
    int64_t q1 = c->blocks * (int64_t)(k + 1) / (int64_t)c->chunks;
    for (int64_t q = q0; q < q1; q++) {
        int64_t e0 = q * LOSS_BLOCK, e1 = e0 + LOSS_BLOCK < c->n ? e0 + LOSS_BLOCK : c->n;
        double s = 0.0, w = 0.0;
        if (c->kind == L_MSE && !c->m) {
            for (int64_t i = e0; i < e1; i++) {
                double e = (double)c->y[i] - (double)c->t[i];
                s += e * e;
            }
        } else {
            for (int64_t i = e0; i < e1; i++) {
                double l = elem_loss(c->kind, c->delta, (double)c->y[i] - (double)c->t[i]);
                if (c->m) {
                    s += (double)c->m[i] * l;
                    w += (double)c->m[i];
                } else {
                    s += l;
                }
            }
        }
        c->part[2 * q] = s;
        c->part[2 * q + 1] = c->m ? w : (double)(e1 - e0);
    }
}

static void loss_bwd_task(void *p, size_t k)
{
    const loss_ctx *c = p;
    int64_t e0 = c->n * (int64_t)k / (int64_t)c->chunks;
    int64_t e1 = c->n * (int64_t)(k + 1) / (int64_t)c->chunks;
    for (int64_t i = e0; i < e1; i++) {
        double mi = c->m ? (double)c->m[i] : 1.0;
        c->dy[i] = (float)(c->scale * mi *
                           elem_grad(c->kind, c->delta, (double)c->y[i] - (double)c->t[i]));
    }
}

static void loss_init(const xnn_op *o, loss_ctx *c, const float *m)
{
    memset(c, 0, sizeof *c);
    c->kind = loss_kind(o->code);
    if (c->kind == L_HUBER) c->delta = ntg__attr_f(o->attr, NTG_HUBER_DELTA);
    c->y = o->in[0].data;
    c->t = o->in[1].data;
    c->m = m;
    c->n = ntg__xnn_numel(&o->in[1]);
    c->blocks = (c->n + LOSS_BLOCK - 1) / LOSS_BLOCK;
}

/* sum m l / sum m over the blocks, in block order. */
static double loss_reduce(ntg_backend *b, loss_ctx *c)
{
    int nthr = ntg__xnn_threads_for(b, 4.0 * (double)c->n, 12.0 * (double)c->n);
    if (nthr > c->blocks) nthr = (int)c->blocks;
    c->chunks = (size_t)(nthr < 1 ? 1 : nthr);
    c->part = b->scratch;
    ntg__xnn_parallel(b, nthr, loss_fwd_task, c, c->chunks);
    double s = 0.0, w = 0.0;
    for (int64_t q = 0; q < c->blocks; q++) {
        s += c->part[2 * q];
        w += c->part[2 * q + 1];
    }
    return w == 0.0 ? 0.0 : s / w;
}

static void run_loss(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    loss_ctx c;
    loss_init(o, &c, o->n_in > 2 ? o->in[2].data : NULL);
    float *out = o->out[0].data;
    out[0] = (float)loss_reduce(b, &c);
}

static size_t loss_scratch(const xnn_op *o)
{
    int64_t n = ntg__xnn_numel(&o->in[1]);
    return (size_t)(2 * ((n + LOSS_BLOCK - 1) / LOSS_BLOCK + 1)) * sizeof(double);
}

ntg_status ntg__xnn_prep_loss(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    if (o->code == NTG_OP_loss_pinball) return NTG_OK; /* the reference */
    o->scratch = loss_scratch(o);
    o->run = run_loss;
    o->impl = "own";
    return NTG_OK;
}

/* in = [y, t, (mask), loss, dloss], out = [dy, dt, (dmask)]; training asks for dy only, the
 * others (when asked) come from the reference. */
static void run_loss_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    int nfi = o->n_out;
    const float *m = nfi > 2 ? o->in[2].data : NULL;
    const float *dl = o->in[nfi + 1].data;
    loss_ctx c;
    loss_init(o, &c, m);
    double w = (double)c.n;
    if (m) {
        /* sum of the mask in the reference's order */
        w = 0.0;
        for (int64_t i = 0; i < c.n; i++) w += (double)m[i];
    }
    if (!dl || w == 0.0) {
        for (int i = 0; i < nfi; i++) ntg__xnn_zero(&o->out[i]);
        return;
    }
    (void)batch;
    c.dy = o->out[0].data;
    c.scale = (double)dl[0] / w;
    int nthr = ntg__xnn_threads_for(b, 4.0 * (double)c.n, 12.0 * (double)c.n);
    c.chunks = (size_t)nthr;
    ntg__xnn_parallel(b, nthr, loss_bwd_task, &c, c.chunks);
}

ntg_status ntg__xnn_prep_loss_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    int nfi = o->n_out;
    if (o->code == NTG_OP_loss_pinball) return NTG_OK;
    /* only dy wanted, and y, t (and the mask) present: otherwise the reference */
    if (!o->out[0].data || o->out[1].data || (nfi > 2 && o->out[2].data)) return NTG_OK;
    if (!o->in[0].data || !o->in[1].data || (nfi > 2 && !o->in[2].data)) return NTG_OK;
    o->run = run_loss_bwd;
    o->impl = "own";
    return NTG_OK;
}

/* ------------------------------------------------------------- optimizers */

/* Chunk boundaries of the optimizers: multiples of 64 elements (whole cache lines). */
static void opt_range(int64_t n, size_t chunks, size_t i, int64_t *e0, int64_t *e1)
{
    int64_t per = ((n + (int64_t)chunks - 1) / (int64_t)chunks + 63) & ~(int64_t)63;
    *e0 = per * (int64_t)i < n ? per * (int64_t)i : n;
    *e1 = *e0 + per < n ? *e0 + per : n;
}

typedef struct opt_ctx {
    const ntg_simd_vk *vk;
    float *p, *m, *v, *buf;
    const float *g;
    int64_t n;
    double k[7];
    int decoupled;
    /* sgd */
    double momentum, dampening, wd, lr;
    int nesterov, first;
    size_t chunks;
} opt_ctx;

static void adam_task(void *p, size_t i)
{
    const opt_ctx *c = p;
    int64_t e0, e1;
    opt_range(c->n, c->chunks, i, &e0, &e1);
    if (e1 > e0)
        c->vk->adam(c->p + e0, c->g + e0, c->m + e0, c->v + e0, (size_t)(e1 - e0), c->k,
                    c->decoupled);
}

/* The step number of the control tensor (0 read as the first step, as the reference). */
static double ctl_step(const float *ctl)
{
    double t = (double)ctl[NTG_CTL_STEP];
    return t >= 1.0 ? t : 1.0;
}

/* in = [param, grad, m, v, ctl]. */
static void run_adam(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    const float *ctl = o->in[4].data;
    opt_ctx c;
    memset(&c, 0, sizeof c);
    c.vk = b->vk;
    c.p = o->in[0].data;
    c.g = o->in[1].data;
    c.m = o->in[2].data;
    c.v = o->in[3].data;
    c.n = ntg__xnn_numel(&o->in[0]);
    double beta1 = ntg__attr_f(o->attr, NTG_ADAM_BETA1);
    double beta2 = ntg__attr_f(o->attr, NTG_ADAM_BETA2);
    double lr = (double)ctl[NTG_CTL_LR], t = ctl_step(ctl);
    double wd = ntg__attr_f(o->attr, NTG_ADAM_WEIGHT_DECAY);
    c.k[0] = beta1;
    c.k[1] = beta2;
    c.k[2] = ntg__attr_f(o->attr, NTG_ADAM_EPS);
    c.k[3] = wd;
    c.k[4] = lr / (1.0 - pow(beta1, t));
    c.k[5] = 1.0 / sqrt(1.0 - pow(beta2, t));
    c.k[6] = 1.0 - lr * wd;
    c.decoupled = ntg__attr_i(o->attr, NTG_ADAM_DECOUPLED) != 0;
    int nthr = ntg__xnn_threads_for(b, 10.0 * (double)c.n, 28.0 * (double)c.n);
    /* chunk boundaries are multiples of 64 (opt_range) whatever their number, so the same
     * elements take the kernel's scalar tail: the bits do not depend on the split */
    c.chunks = ntg__xnn_chunks(nthr, c.n, 16384);
    ntg__xnn_parallel(b, nthr, adam_task, &c, c.chunks);
}

static void sgd_task(void *p, size_t i)
{
    const opt_ctx *c = p;
    int64_t e0, e1;
    opt_range(c->n, c->chunks, i, &e0, &e1);
    float *pp = c->p, *buf = c->buf;
    const float *g = c->g;
    for (int64_t k = e0; k < e1; k++) {
        double pi = (double)pp[k], d = (double)g[k];
        if (c->wd != 0.0) d += c->wd * pi;
        if (c->momentum != 0.0 && buf) {
            double bb = c->first ? d : c->momentum * (double)buf[k] + (1.0 - c->dampening) * d;
            buf[k] = (float)bb;
            d = c->nesterov ? d + c->momentum * bb : bb;
        }
        pp[k] = (float)(pi - c->lr * d);
    }
}

/* in = [param, grad, ctl, (momentum buffer)]: the reference's per-element formula. */
static void run_sgd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    const float *ctl = o->in[2].data;
    opt_ctx c;
    memset(&c, 0, sizeof c);
    c.p = o->in[0].data;
    c.g = o->in[1].data;
    c.buf = o->n_in > 3 ? o->in[3].data : NULL;
    c.n = ntg__xnn_numel(&o->in[0]);
    c.momentum = ntg__attr_f(o->attr, NTG_SGD_MOMENTUM);
    c.dampening = ntg__attr_f(o->attr, NTG_SGD_DAMPENING);
    c.wd = ntg__attr_f(o->attr, NTG_SGD_WEIGHT_DECAY);
    c.nesterov = ntg__attr_i(o->attr, NTG_SGD_NESTEROV) != 0;
    c.lr = (double)ctl[NTG_CTL_LR];
    c.first = ctl_step(ctl) == 1.0;
    int nthr = ntg__xnn_threads_for(b, 4.0 * (double)c.n, 16.0 * (double)c.n);
    c.chunks = (size_t)nthr;
    ntg__xnn_parallel(b, nthr, sgd_task, &c, c.chunks);
}

/* clip_grad_norm: sums of squares over fixed blocks (double), block order; then scaling. */
enum { CLIP_BLOCK = 16384 };

typedef struct clip_ctx {
    const xnn_op *o;
    int64_t *first; /* first block of each input */
    int64_t blocks;
    double *part, coef;
    int scale;
    size_t chunks;
} clip_ctx;

static void clip_task(void *p, size_t i)
{
    const clip_ctx *c = p;
    int64_t q0 = c->blocks * (int64_t)i / (int64_t)c->chunks;
    int64_t q1 = c->blocks * (int64_t)(i + 1) / (int64_t)c->chunks;
    int in = 0;
    for (int64_t q = q0; q < q1; q++) {
        while (in + 1 < c->o->n_in && c->first[in + 1] <= q) in++;
        float *g = c->o->in[in].data;
        int64_t n = ntg__xnn_numel(&c->o->in[in]);
        int64_t e0 = (q - c->first[in]) * CLIP_BLOCK,
                e1 = e0 + CLIP_BLOCK < n ? e0 + CLIP_BLOCK : n;
        if (c->scale) {
            for (int64_t k = e0; k < e1; k++) g[k] = (float)((double)g[k] * c->coef);
            continue;
        }
        double s = 0.0;
        for (int64_t k = e0; k < e1; k++) s += (double)g[k] * (double)g[k];
        c->part[q] = s;
    }
}

static void run_clip(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    clip_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.first = b->scratch;
    int64_t total = 0;
    for (int k = 0; k < o->n_in; k++) {
        c.first[k] = c.blocks;
        int64_t n = ntg__xnn_numel(&o->in[k]);
        c.blocks += (n + CLIP_BLOCK - 1) / CLIP_BLOCK;
        total += n;
    }
    c.first[o->n_in] = c.blocks;
    c.part = (double *)(c.first + o->n_in + 1);
    int nthr = ntg__xnn_threads_for(b, 2.0 * (double)total, 4.0 * (double)total);
    if (nthr > c.blocks) nthr = c.blocks > 1 ? (int)c.blocks : 1;
    c.chunks = (size_t)nthr;
    ntg__xnn_parallel(b, nthr, clip_task, &c, c.chunks);
    double ss = 0.0;
    for (int64_t q = 0; q < c.blocks; q++) ss += c.part[q];
    double norm = sqrt(ss), max_norm = ntg__attr_f(o->attr, NTG_CLIP_MAX_NORM);
    c.coef = max_norm / (norm + 1e-6);
    if (!(c.coef >= 1.0)) {
        c.scale = 1;
        ntg__xnn_parallel(b, nthr, clip_task, &c, c.chunks);
    }
    float *out = o->out[0].data;
    out[0] = (float)norm;
}

ntg_status ntg__xnn_prep_optim(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    if (o->code == NTG_OP_adam) {
        o->run = run_adam;
        o->impl = "own-simd";
    } else if (o->code == NTG_OP_sgd) {
        o->run = run_sgd;
        o->impl = "own";
    } else {
        int64_t blocks = 0;
        for (int k = 0; k < o->n_in; k++)
            blocks += (ntg__xnn_numel(&o->in[k]) + CLIP_BLOCK - 1) / CLIP_BLOCK;
        o->scratch =
            (size_t)(o->n_in + 1) * sizeof(int64_t) + (size_t)(blocks + 1) * sizeof(double);
        o->run = run_clip;
        o->impl = "own";
    }
    return NTG_OK;
}
