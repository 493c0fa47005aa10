/* xnn_elem.c — elementwise ops: relu, gelu, tanh, sigmoid, scale; add, sub, mul with broadcasting.
 */
#include <math.h>
#include <string.h>

#include "error.h"
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

typedef struct un_ctx {
    const xnn_vk *vk;
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
    return code == NTG_OP_gelu ? 40.0 : code == NTG_OP_tanh || code == NTG_OP_sigmoid ? 25.0 : 1.0;
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

/* XNNPACK's sigmoid over rows of the batch (channels = elements per row). */
static void run_sigmoid_xnn(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    int64_t n = ntg__xnn_numel(&o->in[0]);
    int64_t rows = o->in[0].d.batched ? o->in[0].d.dims[0] : 1;
    int nthr = ntg__xnn_threads_for(b, 25.0 * (double)n, 8.0 * (double)n);
    pthreadpool_t pool = ntg__xnn_pool(b, nthr);
    size_t key = (size_t)rows * 2 + (pool != NULL);
    if (key != o->xop_key) {
        xnn_setup_sigmoid_nc_f32(o->xop, (size_t)rows, o->in[0].data, o->out[0].data, pool);
        o->xop_key = key;
    }
    xnn_run_operator(o->xop, pool);
}

ntg_status ntg__xnn_prep_unary(ntg_backend *b, xnn_op *o, ntg_error *err)
{
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
    o->run = run_unary;
    o->impl = "own-simd";
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
    if (o->code == NTG_OP_gelu && !o->in[0].data) return NTG_OK;
    if ((o->code == NTG_OP_relu || o->code == NTG_OP_tanh || o->code == NTG_OP_sigmoid) &&
        !o->in[1].data)
        return NTG_OK;
    o->run = run_unary_bwd;
    o->impl = "own-simd";
    return NTG_OK;
}

/* ------------------------------------------------------------ broadcasting */

enum { BC_ADD, BC_SUB, BC_MUL };

/* The output's index space with each operand's strides; as ops/cpu/k_elementwise.c. */
typedef struct bcast {
    int rank;
    int64_t dims[NTG_MAX_RANK];
    int64_t st[2][NTG_MAX_RANK];
} bcast;

static void bcast_init(bcast *it, const ntg_tdesc *a, const ntg_tdesc *b, const ntg_tdesc *o)
{
    const ntg_tdesc *src[2] = {a, b};
    int64_t st[2][NTG_MAX_RANK];
    for (int k = 0; k < 2; k++) {
        int64_t s = 1;
        for (int i = o->rank - 1; i >= 0; i--) {
            int ik = i - (o->rank - src[k]->rank);
            int64_t d = ik >= 0 ? src[k]->dims[ik] : 1;
            st[k][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    int r = 0;
    for (int i = 0; i < o->rank; i++) {
        if (o->dims[i] == 1) continue;
        if (r > 0 && it->st[0][r - 1] == st[0][i] * o->dims[i] &&
            it->st[1][r - 1] == st[1][i] * o->dims[i]) {
            it->dims[r - 1] *= o->dims[i];
            it->st[0][r - 1] = st[0][i];
            it->st[1][r - 1] = st[1][i];
            continue;
        }
        it->dims[r] = o->dims[i];
        it->st[0][r] = st[0][i];
        it->st[1][r] = st[1][i];
        r++;
    }
    if (r == 0) {
        it->dims[0] = 1;
        it->st[0][0] = it->st[1][0] = 0;
        r = 1;
    }
    it->rank = r;
}

static int64_t bcast_runs(const bcast *it)
{
    int64_t n = 1;
    for (int i = 0; i < it->rank - 1; i++) n *= it->dims[i];
    return n;
}

/* Odometer position and operand offsets of run r. */
static void bcast_seek(const bcast *it, int64_t r, int64_t *idx, int64_t off[2])
{
    off[0] = off[1] = 0;
    for (int i = it->rank - 2; i >= 0; i--) {
        idx[i] = r % it->dims[i];
        r /= it->dims[i];
        off[0] += idx[i] * it->st[0][i];
        off[1] += idx[i] * it->st[1][i];
    }
}

static void bcast_next(const bcast *it, int64_t *idx, int64_t off[2])
{
    for (int i = it->rank - 2; i >= 0; i--) {
        off[0] += it->st[0][i];
        off[1] += it->st[1][i];
        if (++idx[i] < it->dims[i]) return;
        off[0] -= it->st[0][i] * it->dims[i];
        off[1] -= it->st[1][i] * it->dims[i];
        idx[i] = 0;
    }
}

/* y = a op b over runs [r0, r1), or over elements [e0, e1) of the single run. */
static void bcast_span(const bcast *it, int op, const float *a, const float *b, float *y,
                       int64_t r0, int64_t r1, int64_t e0, int64_t e1)
{
    int64_t n = it->dims[it->rank - 1];
    int64_t sa = it->st[0][it->rank - 1], sb = it->st[1][it->rank - 1];
    int64_t idx[NTG_MAX_RANK] = {0}, off[2];
    bcast_seek(it, r0, idx, off);
    for (int64_t r = r0; r < r1; r++, bcast_next(it, idx, off)) {
        const float *pa = a + off[0] + (sa ? e0 : 0), *pb = b + off[1] + (sb ? e0 : 0);
        float *py = y + r * n + e0;
        int64_t m = e1 - e0;
        if ((sa || n == 1) && (sb || n == 1)) {
            if (op == BC_ADD)
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] + pb[j];
            else if (op == BC_SUB)
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] - pb[j];
            else
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] * pb[j];
        } else if (!sa) {
            float va = pa[0];
            if (op == BC_ADD)
                for (int64_t j = 0; j < m; j++) py[j] = va + pb[j];
            else if (op == BC_SUB)
                for (int64_t j = 0; j < m; j++) py[j] = va - pb[j];
            else
                for (int64_t j = 0; j < m; j++) py[j] = va * pb[j];
        } else {
            float vb = pb[0];
            if (op == BC_ADD)
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] + vb;
            else if (op == BC_SUB)
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] - vb;
            else
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] * vb;
        }
    }
}

typedef struct bc_ctx {
    const bcast *it;
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
        if (e1 > e0) bcast_span(c->it, c->op, c->a, c->b, c->y, 0, 1, e0, e1);
        return;
    }
    int64_t r0 = c->runs * (int64_t)i / (int64_t)c->chunks;
    int64_t r1 = c->runs * (int64_t)(i + 1) / (int64_t)c->chunks;
    if (r1 > r0) bcast_span(c->it, c->op, c->a, c->b, c->y, r0, r1, 0, c->n);
}

/* y = a op b in the index space of `yd` with the operands described by ad, bd. */
static void bcast_apply(ntg_backend *b, int op, const float *a, const ntg_tdesc *ad,
                        const float *bv, const ntg_tdesc *bd, float *y, const ntg_tdesc *yd)
{
    bcast it;
    bcast_init(&it, ad, bd, yd);
    int64_t n = it.dims[it.rank - 1], runs = bcast_runs(&it), total = n * runs;
    int nthr = ntg__xnn_threads_for(b, (double)total, 12.0 * (double)total);
    if (runs > 1 && nthr > runs) nthr = (int)runs;
    bc_ctx c = {&it, op, a, bv, y, runs, n, (size_t)nthr};
    ntg__xnn_parallel(b, nthr, bc_task, &c, (size_t)nthr);
}

static int bc_op(uint32_t code)
{
    return code == NTG_OP_add ? BC_ADD : code == NTG_OP_sub ? BC_SUB : BC_MUL;
}

static void run_bcast(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    bcast_apply(b, bc_op(o->code), o->in[0].data, &o->in[0].d, o->in[1].data, &o->in[1].d,
                o->out[0].data, &o->out[0].d);
}

/* XNNPACK's add/subtract/multiply_nd, shapes set up again when the batch changes. */
static void run_bcast_xnn(ntg_backend *b, xnn_op *o, int batch)
{
    int64_t n = ntg__xnn_numel(&o->out[0]);
    int nthr = ntg__xnn_threads_for(b, (double)n, 12.0 * (double)n);
    pthreadpool_t pool = ntg__xnn_pool(b, nthr);
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

ntg_status ntg__xnn_prep_bcast(ntg_backend *b, xnn_op *o, ntg_error *err)
{
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
    o->run = run_bcast;
    o->impl = "own";
    return NTG_OK;
}

/* Gradient of operand k when it is broadcast along some axes: the reference's serial order
 * (runs in output order, sums over a broadcast run in double), so bitwise its result. */
static void bcast_grad_reduce(const xnn_op *o, int op, int k)
{
    const ntg_view *gv = &o->out[k];
    float *g = gv->data;
    const float *dy = o->in[3].data;
    const float *other = op == BC_MUL ? o->in[1 - k].data : NULL;
    float sign = op == BC_SUB && k == 1 ? -1.0f : 1.0f;
    ntg__xnn_zero(gv);
    bcast it;
    bcast_init(&it, &o->in[0].d, &o->in[1].d, &o->in[3].d);
    int64_t n = it.dims[it.rank - 1], runs = bcast_runs(&it);
    int64_t sg = it.st[k][it.rank - 1], so = it.st[1 - k][it.rank - 1];
    int64_t idx[NTG_MAX_RANK] = {0}, off[2] = {0, 0};
    for (int64_t r = 0; r < runs; r++, bcast_next(&it, idx, off)) {
        float *pg = g + off[k];
        const float *py = dy + r * n, *po = other ? other + off[1 - k] : NULL;
        if (sg || n == 1) {
            if (!po)
                for (int64_t j = 0; j < n; j++) pg[j] += sign * py[j];
            else if (so || n == 1)
                for (int64_t j = 0; j < n; j++) pg[j] += py[j] * po[j];
            else
                for (int64_t j = 0; j < n; j++) pg[j] += py[j] * po[0];
        } else {
            double s = 0.0;
            if (po)
                for (int64_t j = 0; j < n; j++) s += (double)py[j] * (double)po[j];
            else
                for (int64_t j = 0; j < n; j++) s += (double)py[j];
            pg[0] += sign * (float)s;
        }
    }
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
        if (op != BC_MUL) {
            int nthr = ntg__xnn_threads_for(b, 0, 8.0 * (double)ny);
            cp_ctx c = {dy, gv->data, op == BC_SUB && k == 1 ? -1.0f : 1.0f, ny, (size_t)nthr};
            ntg__xnn_parallel(b, nthr, cp_task, &c, (size_t)nthr);
        } else {
            bcast_apply(b, BC_MUL, dy, &o->in[2].d, o->in[1 - k].data, &o->in[1 - k].d, gv->data,
                        &o->in[2].d);
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
