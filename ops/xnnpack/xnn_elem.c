/* xnn_elem.c — elementwise ops: relu, gelu, tanh, sigmoid, scale, exp, log, abs, sqrt, softplus,
 * identity; add, sub, mul with broadcasting.
 */
#include <math.h>
#include <string.h>

#include "bcast.h"
#include "ntg_error.h"
#include "op_attrs.h"
#include "xnn_int.h"

/* Split [0, n) into `chunks` near-equal ranges; chunk i is [*e0, *e1), starts 16-aligned so
 * that neighbouring threads never share a cache line of the output. */
static void chunk_range(int64_t n, size_t chunks, size_t i, int64_t *e0, int64_t *e1)
{
    int64_t per = (n + (int64_t)chunks - 1) / (int64_t)chunks;
    per = (per + 15) & ~(int64_t)15;
    *e0 = per * (int64_t)i < n ? per * (int64_t)i : n;
    *e1 = *e0 + per < n ? *e0 + per : n;
}

/* ------------------------------------------------------------------- unary */

/* exp, log, abs, sqrt, softplus, identity: no vector kernels yet; the scalar loops below run
 * in the backend's threads and compute as the reference does (in double, rounded once), so
 * they match it bitwise, IEEE domain edges included. */
static int scalar_unary(uint32_t code)
{
    return code == NTG_OP_exp || code == NTG_OP_log || code == NTG_OP_abs || code == NTG_OP_sqrt ||
           code == NTG_OP_softplus || code == NTG_OP_identity;
}

static void scalar_fwd(uint32_t code, const float *x, float *o, size_t n)
{
    switch (code) {
    case NTG_OP_exp:
        for (size_t k = 0; k < n; k++) o[k] = (float)exp((double)x[k]);
        break;
    case NTG_OP_log:
        for (size_t k = 0; k < n; k++) o[k] = (float)log((double)x[k]);
        break;
    case NTG_OP_abs:
        for (size_t k = 0; k < n; k++) o[k] = fabsf(x[k]);
        break;
    case NTG_OP_sqrt:
        for (size_t k = 0; k < n; k++) o[k] = (float)sqrt((double)x[k]);
        break;
    case NTG_OP_softplus: /* torch's threshold 20 */
        for (size_t k = 0; k < n; k++) {
            double v = (double)x[k];
            o[k] = (float)(v > 20.0 ? v : log1p(exp(v)));
        }
        break;
    default:
        memcpy(o, x, n * sizeof *o);
        break;
    }
}

/* dx from the saved x or y (the classes' bwd_saves), as ops/ref/k_unary.c. */
static void scalar_bwd(uint32_t code, const float *x, const float *y, const float *dy, float *o,
                       size_t n)
{
    switch (code) {
    case NTG_OP_exp:
        for (size_t k = 0; k < n; k++) o[k] = (float)((double)dy[k] * (double)y[k]);
        break;
    case NTG_OP_log:
        for (size_t k = 0; k < n; k++) o[k] = (float)((double)dy[k] / (double)x[k]);
        break;
    case NTG_OP_abs:
        for (size_t k = 0; k < n; k++) o[k] = x[k] > 0.0f ? dy[k] : x[k] < 0.0f ? -dy[k] : 0.0f;
        break;
    case NTG_OP_sqrt:
        for (size_t k = 0; k < n; k++) o[k] = (float)((double)dy[k] / (2.0 * (double)y[k]));
        break;
    case NTG_OP_softplus:
        for (size_t k = 0; k < n; k++) {
            double v = (double)x[k];
            o[k] = v > 20.0 ? dy[k] : (float)((double)dy[k] / (1.0 + exp(-v)));
        }
        break;
    default:
        memcpy(o, dy, n * sizeof *o);
        break;
    }
}

typedef struct un_ctx {
    const ntg_simd_vk *vk;
    uint32_t code;
    int bwd;
    const float *x, *y, *dy;
    float *out;
    float f;
    int64_t n;
    size_t chunks;
} un_ctx;

static void un_task(void *p, size_t i)
{
    const un_ctx *c = p;
    int64_t e0, e1;
    chunk_range(c->n, c->chunks, i, &e0, &e1);
    size_t n = (size_t)(e1 - e0);
    const float *x = c->x ? c->x + e0 : NULL, *y = c->y ? c->y + e0 : NULL;
    const float *dy = c->dy ? c->dy + e0 : NULL;
    float *o = c->out + e0;
    if (scalar_unary(c->code)) {
        if (c->bwd)
            scalar_bwd(c->code, x, y, dy, o, n);
        else
            scalar_fwd(c->code, x, o, n);
        return;
    }
    if (!c->bwd) {
        switch (c->code) {
        case NTG_OP_relu:
            c->vk->relu(x, o, n);
            break;
        case NTG_OP_gelu:
            c->vk->gelu(x, o, n);
            break;
        case NTG_OP_tanh:
            c->vk->tanh(x, o, n);
            break;
        case NTG_OP_sigmoid:
            c->vk->sigmoid(x, o, n);
            break;
        default: /* scale: float product, as torch (and the reference) */
            for (size_t k = 0; k < n; k++) o[k] = x[k] * c->f;
            break;
        }
        return;
    }
    switch (c->code) {
    case NTG_OP_relu:
        c->vk->relu_bwd(y, dy, o, n);
        break;
    case NTG_OP_gelu:
        c->vk->gelu_bwd(x, dy, o, n);
        break;
    case NTG_OP_tanh:
        for (size_t k = 0; k < n; k++) o[k] = dy[k] * (1.0f - y[k] * y[k]);
        break;
    case NTG_OP_sigmoid:
        for (size_t k = 0; k < n; k++) o[k] = dy[k] * y[k] * (1.0f - y[k]);
        break;
    default:
        for (size_t k = 0; k < n; k++) o[k] = dy[k] * c->f;
        break;
    }
}

static double un_flops(uint32_t code)
{
    return code == NTG_OP_gelu                                               ? 40.0
           : code == NTG_OP_tanh || code == NTG_OP_sigmoid                   ? 25.0
           : code == NTG_OP_exp || code == NTG_OP_log || code == NTG_OP_sqrt ? 20.0
           : code == NTG_OP_softplus                                         ? 40.0
                                                                             : 1.0;
}

static void run_unary(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    int64_t n = ntg__xnn_numel(&o->in[0]);
    float f = o->code == NTG_OP_scale ? (float)ntg__attr_f(o->attr, NTG_SCALE_FACTOR) : 0.0f;
    int nthr = ntg__xnn_threads_for(b, un_flops(o->code) * (double)n, 8.0 * (double)n);
    un_ctx c = {b->vk, o->code, 0, o->in[0].data, NULL, NULL, o->out[0].data, f, n, (size_t)nthr};
    ntg__xnn_parallel(b, nthr, un_task, &c, (size_t)nthr);
}

#ifdef NTG_HAVE_XNNPACK
/* XNNPACK's sigmoid over rows of the batch (channels = elements per row). */
static void run_sigmoid_xnn(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    int64_t rows = o->in[0].d.batched ? o->in[0].d.dims[0] : 1;
    /* XNNPACK's own threading needs a pthreadpool, whose spinning workers stall on a busy
     * machine: these operators (a measurement policy, XNN_POL_XNN_ELEM) run on one thread */
    pthreadpool_t pool = NULL;
    (void)b;
    size_t key = (size_t)rows * 2 + (pool != NULL);
    if (key != o->xop_key) {
        xnn_setup_sigmoid_nc_f32(o->xop, (size_t)rows, o->in[0].data, o->out[0].data, pool);
        o->xop_key = key;
    }
    xnn_run_operator(o->xop, pool);
}
#endif

ntg_status ntg__xnn_prep_unary(ntg_backend *b, xnn_op *o, ntg_error *err)
{
#ifdef NTG_HAVE_XNNPACK
    if (o->code == NTG_OP_sigmoid && (b->policy & XNN_POL_XNN_ELEM) &&
        !(b->policy & XNN_POL_NO_XNNOPS)) {
        int64_t rows = o->in[0].d.batched ? o->in[0].d.dims[0] : 1;
        size_t ch = (size_t)(ntg__xnn_numel(&o->in[0]) / (rows > 0 ? rows : 1));
        if (xnn_create_sigmoid_nc_f32(ch, ch, ch, 0, &o->xop) != xnn_status_success)
            return ntg__fail(err, NTG_ERR_BACKEND, "xnnpack backend: cannot create a sigmoid");
        o->run = run_sigmoid_xnn;
        o->impl = "xnnpack-sigmoid";
        return NTG_OK;
    }
#else
    (void)b;
    (void)err;
#endif
    o->run = run_unary;
    o->impl = scalar_unary(o->code) ? "own-scalar" : "own-simd";
    return NTG_OK;
}

/* in = [x, y, dy], out = [dx]. */
static void run_unary_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    if (!o->out[0].data) return;
    if (!o->in[2].data) {
        ntg__xnn_zero(&o->out[0]);
        return;
    }
    int64_t n = ntg__xnn_numel(&o->in[0]);
    float f = o->code == NTG_OP_scale ? (float)ntg__attr_f(o->attr, NTG_SCALE_FACTOR) : 0.0f;
    int nthr = ntg__xnn_threads_for(b, un_flops(o->code) * (double)n, 12.0 * (double)n);
    un_ctx c = {b->vk,          o->code, 1, o->in[0].data, o->in[1].data, o->in[2].data,
                o->out[0].data, f,       n, (size_t)nthr};
    ntg__xnn_parallel(b, nthr, un_task, &c, (size_t)nthr);
}

ntg_status ntg__xnn_prep_unary_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    /* the values each backward reads must be there (they are, with the classes' saves) */
    uint32_t k = o->code;
    if ((k == NTG_OP_gelu || k == NTG_OP_log || k == NTG_OP_abs || k == NTG_OP_softplus) &&
        !o->in[0].data)
        return NTG_OK;
    if ((k == NTG_OP_exp || k == NTG_OP_sqrt) && !o->in[1].data) return NTG_OK;
    if ((o->code == NTG_OP_relu || o->code == NTG_OP_tanh || o->code == NTG_OP_sigmoid) &&
        !o->in[1].data)
        return NTG_OK;
    o->run = run_unary_bwd;
    o->impl = scalar_unary(o->code) ? "own-scalar" : "own-simd";
    return NTG_OK;
}

/* ------------------------------------------------------------ broadcasting */

/* The iteration itself is ops/bcast.c, shared with the reference backend. */
typedef struct bc_ctx {
    const ntg_bcast *it;
    int op;
    const float *a, *b;
    float *y;
    int64_t runs, n;
    size_t chunks;
} bc_ctx;

static void bc_task(void *p, size_t i)
{
    const bc_ctx *c = p;
    if (c->runs == 1) {
        int64_t e0, e1;
        chunk_range(c->n, c->chunks, i, &e0, &e1);
        if (e1 > e0) ntg__bcast_span(c->it, c->op, c->a, c->b, c->y, 0, 1, e0, e1);
        return;
    }
    int64_t r0 = c->runs * (int64_t)i / (int64_t)c->chunks;
    int64_t r1 = c->runs * (int64_t)(i + 1) / (int64_t)c->chunks;
    if (r1 > r0) ntg__bcast_span(c->it, c->op, c->a, c->b, c->y, r0, r1, 0, c->n);
}

/* y = a op b in the index space of `yd` with the operands described by ad, bd. */
static void bcast_apply(ntg_backend *b, int op, const float *a, const ntg_tdesc *ad,
                        const float *bv, const ntg_tdesc *bd, float *y, const ntg_tdesc *yd)
{
    ntg_bcast it;
    ntg__bcast_init(&it, ad, bd, yd);
    int64_t n = it.dims[it.rank - 1], runs = ntg__bcast_runs(&it), total = n * runs;
    int nthr = ntg__xnn_threads_for(b, (double)total, 12.0 * (double)total);
    if (runs > 1 && nthr > runs) nthr = (int)runs;
    bc_ctx c = {&it, op, a, bv, y, runs, n, (size_t)nthr};
    ntg__xnn_parallel(b, nthr, bc_task, &c, (size_t)nthr);
}

static int bc_op(uint32_t code)
{
    return code == NTG_OP_add ? NTG_BC_ADD : code == NTG_OP_sub ? NTG_BC_SUB : NTG_BC_MUL;
}

static void run_bcast(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    bcast_apply(b, bc_op(o->code), o->in[0].data, &o->in[0].d, o->in[1].data, &o->in[1].d,
                o->out[0].data, &o->out[0].d);
}

#ifdef NTG_HAVE_XNNPACK
/* XNNPACK's add/subtract/multiply_nd, shapes set up again when the batch changes. */
static void run_bcast_xnn(ntg_backend *b, xnn_op *o, int batch)
{
    /* XNNPACK's own threading needs a pthreadpool, whose spinning workers stall on a busy
     * machine: these operators (a measurement policy, XNN_POL_XNN_ELEM) run on one thread */
    pthreadpool_t pool = NULL;
    (void)b;
    size_t key = (size_t)batch * 2 + (pool != NULL);
    if (key != o->xop_key) {
        size_t sa[NTG_MAX_RANK], sb[NTG_MAX_RANK];
        for (int i = 0; i < o->in[0].d.rank; i++) sa[i] = (size_t)o->in[0].d.dims[i];
        for (int i = 0; i < o->in[1].d.rank; i++) sb[i] = (size_t)o->in[1].d.dims[i];
        size_t ra = o->in[0].d.rank ? o->in[0].d.rank : 1,
               rb = o->in[1].d.rank ? o->in[1].d.rank : 1;
        if (!o->in[0].d.rank) sa[0] = 1;
        if (!o->in[1].d.rank) sb[0] = 1;
        const float *a = o->in[0].data, *bv = o->in[1].data;
        float *y = o->out[0].data;
        if (o->code == NTG_OP_add)
            xnn_setup_add_nd_f32(o->xop, ra, sa, rb, sb, a, bv, y, pool);
        else if (o->code == NTG_OP_sub)
            xnn_setup_subtract_nd_f32(o->xop, ra, sa, rb, sb, a, bv, y, pool);
        else
            xnn_setup_multiply_nd_f32(o->xop, ra, sa, rb, sb, a, bv, y, pool);
        o->xop_key = key;
    }
    xnn_run_operator(o->xop, pool);
}
#endif

ntg_status ntg__xnn_prep_bcast(ntg_backend *b, xnn_op *o, ntg_error *err)
{
#ifdef NTG_HAVE_XNNPACK
    if ((b->policy & XNN_POL_XNN_ELEM) && !(b->policy & XNN_POL_NO_XNNOPS)) {
        enum xnn_status st;
        if (o->code == NTG_OP_add)
            st = xnn_create_add_nd_f32(-INFINITY, INFINITY, 0, &o->xop);
        else if (o->code == NTG_OP_sub)
            st = xnn_create_subtract_nd_f32(-INFINITY, INFINITY, 0, &o->xop);
        else
            st = xnn_create_multiply_nd_f32(-INFINITY, INFINITY, 0, &o->xop);
        if (st != xnn_status_success)
            return ntg__fail(err, NTG_ERR_BACKEND, "xnnpack backend: cannot create a binary op");
        o->run = run_bcast_xnn;
        o->impl = "xnnpack-nd";
        return NTG_OK;
    }
#else
    (void)b;
    (void)err;
#endif
    o->run = run_bcast;
    o->impl = "own";
    return NTG_OK;
}

/* Gradient of operand k when it is broadcast along some axes: the reference's serial order
 * (runs in output order, sums over a broadcast run in double), so bitwise its result. */
static void bcast_grad_reduce(const xnn_op *o, int op, int k)
{
    ntg__xnn_zero(&o->out[k]);
    if (!o->out[k].data || !o->in[3].data) return;
    ntg_bcast it;
    ntg__bcast_init(&it, &o->in[0].d, &o->in[1].d, &o->in[3].d);
    ntg__bcast_grad(&it, op, k, o->in[3].data, o->in[1 - k].data, o->out[k].data);
}

typedef struct cp_ctx {
    const float *src;
    float *dst;
    float sign;
    int64_t n;
    size_t chunks;
} cp_ctx;

static void cp_task(void *p, size_t i)
{
    const cp_ctx *c = p;
    int64_t e0, e1;
    chunk_range(c->n, c->chunks, i, &e0, &e1);
    if (c->sign > 0.0f)
        memcpy(c->dst + e0, c->src + e0, (size_t)(e1 - e0) * sizeof(float));
    else
        for (int64_t j = e0; j < e1; j++) c->dst[j] = -c->src[j];
}

/* in = [a, b, y, dy], out = [da, db]. */
static void run_bcast_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    int op = bc_op(o->code);
    const float *dy = o->in[3].data;
    int64_t ny = ntg__xnn_numel(&o->in[2]);
    for (int k = 0; k < 2; k++) {
        const ntg_view *gv = &o->out[k];
        if (!gv->data) continue;
        if (!dy) {
            ntg__xnn_zero(gv);
            continue;
        }
        if (ntg__xnn_numel(&o->in[k]) != ny) {
            bcast_grad_reduce(o, op, k);
            continue;
        }
        /* not broadcast: the gradient has the output's layout */
        if (op != NTG_BC_MUL) {
            int nthr = ntg__xnn_threads_for(b, 0, 8.0 * (double)ny);
            cp_ctx c = {dy, gv->data, op == NTG_BC_SUB && k == 1 ? -1.0f : 1.0f, ny, (size_t)nthr};
            ntg__xnn_parallel(b, nthr, cp_task, &c, (size_t)nthr);
        } else {
            bcast_apply(b, NTG_BC_MUL, dy, &o->in[2].d, o->in[1 - k].data, &o->in[1 - k].d,
                        gv->data, &o->in[2].d);
        }
    }
}

ntg_status ntg__xnn_prep_bcast_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    if (o->code == NTG_OP_mul &&
        ((o->out[0].data && !o->in[1].data) || (o->out[1].data && !o->in[0].data)))
        return NTG_OK;
    o->run = run_bcast_bwd;
    o->impl = "own";
    return NTG_OK;
}
