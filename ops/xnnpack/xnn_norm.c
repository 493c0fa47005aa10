/* xnn_norm.c — softmax, log_softmax and layernorm, forward and backward, on any axis. */
#include <math.h>
#include <string.h>

#include "ntg_error.h"
#include "op_attrs.h"
#include "ref/ref_span.h"
#include "xnn_int.h"

/* ----------------------------------------------------------------- softmax */

typedef struct sm_ctx {
    const ntg_simd_vk *vk;
    ntg_axis_split l;
    int log_form, bwd;
    const float *x, *y, *dy;
    float *out;
    size_t chunks;
    float *slots; /* strided lines: 2 * inner floats per task */
} sm_ctx;

/* Lines along a strided axis: one [len, inner] block at a time, vectorised along inner. */
static void sm_block_fwd(const sm_ctx *c, int64_t o, float *m, float *s)
{
    int64_t len = c->l.len, inner = c->l.inner;
    const float *x = c->x + o * len * inner;
    float *y = c->out + o * len * inner;
    memcpy(m, x, (size_t)inner * sizeof *m);
    for (int64_t l = 1; l < len; l++)
        for (int64_t i = 0; i < inner; i++)
            if (x[l * inner + i] > m[i]) m[i] = x[l * inner + i];
    for (int64_t l = 0; l < len; l++)
        for (int64_t i = 0; i < inner; i++) y[l * inner + i] = x[l * inner + i] - m[i];
    c->vk->exp(y, y, (size_t)(len * inner));
    memset(s, 0, (size_t)inner * sizeof *s);
    for (int64_t l = 0; l < len; l++)
        for (int64_t i = 0; i < inner; i++) s[i] += y[l * inner + i];
    if (c->log_form) {
        for (int64_t i = 0; i < inner; i++) s[i] = m[i] + logf(s[i]);
        for (int64_t l = 0; l < len; l++)
            for (int64_t i = 0; i < inner; i++) y[l * inner + i] = x[l * inner + i] - s[i];
    } else {
        for (int64_t i = 0; i < inner; i++) s[i] = 1.0f / s[i];
        for (int64_t l = 0; l < len; l++)
            for (int64_t i = 0; i < inner; i++) y[l * inner + i] *= s[i];
    }
}

static void sm_block_bwd(const sm_ctx *c, int64_t o, float *s)
{
    int64_t len = c->l.len, inner = c->l.inner, base = o * len * inner;
    const float *y = c->y + base, *dy = c->dy + base;
    float *dx = c->out + base;
    memset(s, 0, (size_t)inner * sizeof *s);
    for (int64_t l = 0; l < len; l++)
        for (int64_t i = 0; i < inner; i++)
            s[i] += c->log_form ? dy[l * inner + i] : dy[l * inner + i] * y[l * inner + i];
    if (c->log_form) {
        c->vk->exp(y, dx, (size_t)(len * inner));
        for (int64_t l = 0; l < len; l++)
            for (int64_t i = 0; i < inner; i++)
                dx[l * inner + i] = dy[l * inner + i] - dx[l * inner + i] * s[i];
    } else {
        for (int64_t l = 0; l < len; l++)
            for (int64_t i = 0; i < inner; i++)
                dx[l * inner + i] = y[l * inner + i] * (dy[l * inner + i] - s[i]);
    }
}

static void sm_task(void *p, size_t t)
{
    const sm_ctx *c = p;
    int64_t o0 = c->l.outer * (int64_t)t / (int64_t)c->chunks;
    int64_t o1 = c->l.outer * (int64_t)(t + 1) / (int64_t)c->chunks;
    int64_t len = c->l.len;
    if (c->l.inner == 1) {
        for (int64_t o = o0; o < o1; o++) {
            if (c->bwd)
                c->vk->softmax_bwd_line(c->y + o * len, c->dy + o * len, c->out + o * len,
                                        (size_t)len, c->log_form);
            else
                c->vk->softmax_line(c->x + o * len, c->out + o * len, (size_t)len, c->log_form);
        }
        return;
    }
    float *m = c->slots + (int64_t)t * 2 * ((c->l.inner + 15) & ~(int64_t)15);
    float *s = m + ((c->l.inner + 15) & ~(int64_t)15);
    for (int64_t o = o0; o < o1; o++) {
        if (c->bwd)
            sm_block_bwd(c, o, s);
        else
            sm_block_fwd(c, o, m, s);
    }
}

static void sm_run(ntg_backend *b, xnn_op *o, int bwd)
{
    int log_form = o->code == NTG_OP_log_softmax;
    const ntg_view *shape = bwd ? &o->in[1] : &o->in[0];
    ntg_axis_split l = ntg__axis_split_attr(&shape->d, ntg__attr_i(o->attr, NTG_SOFTMAX_AXIS));
    double n = (double)(l.outer * l.len * l.inner);
    int nthr = ntg__xnn_threads_for(b, 25.0 * n, 12.0 * n);
    if (nthr > l.outer) nthr = (int)l.outer;
    sm_ctx c = {b->vk,
                l,
                log_form,
                bwd,
                bwd ? NULL : o->in[0].data,
                bwd ? o->in[1].data : NULL,
                bwd ? o->in[2].data : NULL,
                o->out[0].data,
                (size_t)nthr,
                b->scratch};
    ntg__xnn_parallel(b, nthr, sm_task, &c, (size_t)nthr);
}

static void run_softmax(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    sm_run(b, o, 0);
}

#ifdef NTG_HAVE_XNNPACK
/* XNNPACK's softmax over contiguous lines (the last axis, or any axis with nothing after). */
static void run_softmax_xnn(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    ntg_axis_split l = ntg__axis_split_attr(&o->in[0].d, ntg__attr_i(o->attr, NTG_SOFTMAX_AXIS));
    /* XNNPACK's own threading needs a pthreadpool, whose spinning workers stall on a busy
     * machine: these operators (a measurement policy, XNN_POL_XNN_ELEM) run on one thread */
    pthreadpool_t pool = NULL;
    (void)b;
    size_t key = (size_t)l.outer * 2 + (pool != NULL);
    if (key != o->xop_key) {
        xnn_setup_softmax_nc_f32(o->xop, (size_t)l.outer, o->in[0].data, o->out[0].data, pool);
        o->xop_key = key;
    }
    xnn_run_operator(o->xop, pool);
}
#endif

static size_t sm_scratch(const ntg_backend *b, const ntg_axis_split *l)
{
    if (l->inner == 1) return 0;
    return (size_t)(2 * ((l->inner + 15) & ~(int64_t)15)) * sizeof(float) * (size_t)b->threads;
}

ntg_status ntg__xnn_prep_softmax(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    ntg_axis_split l = ntg__axis_split_attr(&o->in[0].d, ntg__attr_i(o->attr, NTG_SOFTMAX_AXIS));
#ifdef NTG_HAVE_XNNPACK
    if (l.inner == 1 && o->code == NTG_OP_softmax && (b->policy & XNN_POL_XNN_ELEM) &&
        !(b->policy & XNN_POL_NO_XNNOPS)) {
        size_t ch = (size_t)l.len;
        if (xnn_create_softmax_nc_f32(ch, ch, ch, 0, &o->xop) != xnn_status_success)
            return ntg__fail(err, NTG_ERR_BACKEND, "xnnpack backend: cannot create a softmax");
        o->run = run_softmax_xnn;
        o->impl = "xnnpack-softmax";
        return NTG_OK;
    }
#else
    (void)err;
#endif
    o->scratch = sm_scratch(b, &l);
    o->run = run_softmax;
    o->impl = "own-simd";
    return NTG_OK;
}

/* in = [x, y, dy], out = [dx], from the saved y. */
static void run_softmax_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    if (!o->out[0].data) return;
    if (!o->in[2].data) {
        ntg__xnn_zero(&o->out[0]);
        return;
    }
    sm_run(b, o, 1);
}

ntg_status ntg__xnn_prep_softmax_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)err;
    if (!o->in[1].data) return NTG_OK;
    ntg_axis_split l = ntg__axis_split_attr(&o->in[1].d, ntg__attr_i(o->attr, NTG_SOFTMAX_AXIS));
    o->scratch = sm_scratch(b, &l);
    o->run = run_softmax_bwd;
    o->impl = "own-simd";
    return NTG_OK;
}

/* --------------------------------------------------------------- layernorm */

/* Rows per partial sum of the parameter gradients: a fixed size, so the summation order
 * (float within a chunk, double across chunks in order) does not depend on the threads. */
enum { LN_CHUNK = 64 };

typedef struct ln_ctx {
    const ntg_simd_vk *vk;
    const float *x, *w, *bias, *dy;
    float *y, *dx;
    float *part; /* [chunks][2][d] partial sums of dy xhat and dy, or NULL */
    int want_w, want_b;
    int64_t rows, d;
    float eps;
    size_t tasks;
    int64_t nchunks;
} ln_ctx;

static void ln_fwd_task(void *p, size_t t)
{
    const ln_ctx *c = p;
    int64_t r0 = c->rows * (int64_t)t / (int64_t)c->tasks;
    int64_t r1 = c->rows * (int64_t)(t + 1) / (int64_t)c->tasks;
    if (r1 > r0)
        c->vk->layernorm(c->x + r0 * c->d, c->y + r0 * c->d, c->w, c->bias, (size_t)(r1 - r0),
                         (size_t)c->d, c->eps);
}

static void ln_bwd_task(void *p, size_t t)
{
    const ln_ctx *c = p;
    int64_t q0 = c->nchunks * (int64_t)t / (int64_t)c->tasks;
    int64_t q1 = c->nchunks * (int64_t)(t + 1) / (int64_t)c->tasks;
    for (int64_t q = q0; q < q1; q++) {
        int64_t r0 = q * LN_CHUNK, r1 = r0 + LN_CHUNK < c->rows ? r0 + LN_CHUNK : c->rows;
        float *aw = NULL, *ab = NULL;
        if (c->part) {
            aw = c->part + q * 2 * c->d;
            ab = aw + c->d;
            memset(aw, 0, 2 * (size_t)c->d * sizeof *aw);
        }
        c->vk->layernorm_bwd(c->x + r0 * c->d, c->dy + r0 * c->d, c->w,
                             c->dx ? c->dx + r0 * c->d : NULL, c->want_w ? aw : NULL,
                             c->want_b ? ab : NULL, (size_t)(r1 - r0), (size_t)c->d, c->eps);
    }
}

static void run_layernorm(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    const ntg_tdesc *xd = &o->in[0].d;
    int64_t d = xd->dims[xd->rank - 1], rows = ntg__xnn_numel(&o->in[0]) / d;
    double n = (double)(rows * d);
    int nthr = ntg__xnn_threads_for(b, 8.0 * n, 8.0 * n);
    if (nthr > rows) nthr = (int)rows;
    ln_ctx c;
    memset(&c, 0, sizeof c);
    c.vk = b->vk;
    c.x = o->in[0].data;
    c.w = o->n_in == 3 ? o->in[1].data : NULL;
    c.bias = o->n_in == 3 ? o->in[2].data : NULL;
    c.y = o->out[0].data;
    c.rows = rows;
    c.d = d;
    c.eps = (float)ntg__attr_f(o->attr, NTG_LAYERNORM_EPS);
    c.tasks = (size_t)nthr;
    ntg__xnn_parallel(b, nthr, ln_fwd_task, &c, (size_t)nthr);
}

/*
 * A residual add followed by a layer norm of its sum (z1 = z + f; n = layernorm(z1)), fused by
 * xnn_fuse.c: each task adds a block of rows, stores z1 (the sum has other readers) and
 * normalises the block while it is in L1, so z1 is not read back from memory.  The same float
 * sums and the same layernorm kernel: bitwise the unfused result.
 */
enum { ADD_LN_ROWS = 32 };

typedef struct add_ln_ctx {
    ln_ctx ln;
    const float *a, *b;
    float *z;
} add_ln_ctx;

static void add_ln_task(void *p, size_t t)
{
    const add_ln_ctx *c = p;
    const ln_ctx *l = &c->ln;
    int64_t r0 = l->rows * (int64_t)t / (int64_t)l->tasks;
    int64_t r1 = l->rows * (int64_t)(t + 1) / (int64_t)l->tasks;
    for (int64_t i0 = r0; i0 < r1; i0 += ADD_LN_ROWS) {
        int64_t n = (r1 - i0 < ADD_LN_ROWS ? r1 - i0 : ADD_LN_ROWS) * l->d, o = i0 * l->d;
        const float *a = c->a + o, *b = c->b + o;
        float *z = c->z + o;
        for (int64_t i = 0; i < n; i++) z[i] = a[i] + b[i];
        l->vk->layernorm(z, l->y + o, l->w, l->bias, (size_t)(n / l->d), (size_t)l->d, l->eps);
    }
}

static void run_add_layernorm(ntg_backend *b, xnn_op *o, int batch)
{
    xnn_op *ln = o->fuse_next;
    ntg__xnn_patch_batch(ln, batch); /* it runs after this op: its views are not patched yet */
    const ntg_tdesc *xd = &ln->in[0].d;
    int64_t d = xd->dims[xd->rank - 1], rows = ntg__xnn_numel(&ln->in[0]) / d;
    double n = (double)(rows * d);
    int nthr = ntg__xnn_threads_for(b, 9.0 * n, 16.0 * n);
    if (nthr > rows) nthr = (int)rows;
    add_ln_ctx c;
    memset(&c, 0, sizeof c);
    c.ln.vk = b->vk;
    c.ln.w = ln->n_in == 3 ? ln->in[1].data : NULL;
    c.ln.bias = ln->n_in == 3 ? ln->in[2].data : NULL;
    c.ln.y = ln->out[0].data;
    c.ln.rows = rows;
    c.ln.d = d;
    c.ln.eps = (float)ntg__attr_f(ln->attr, NTG_LAYERNORM_EPS);
    c.ln.tasks = (size_t)nthr;
    c.a = o->in[0].data;
    c.b = o->in[1].data;
    c.z = o->out[0].data;
    ntg__xnn_parallel(b, nthr, add_ln_task, &c, (size_t)nthr);
}

static int same_dims(const ntg_tdesc *x, const ntg_tdesc *y)
{
    if (x->rank != y->rank) return 0;
    for (int i = 0; i < x->rank; i++)
        if (x->dims[i] != y->dims[i] || x->batched != y->batched) return 0;
    return 1;
}

int ntg__xnn_prep_add_layernorm(ntg_backend *b, xnn_op *add, xnn_op *ln)
{
    (void)b;
    const ntg_tdesc *y = &add->out[0].d;
    if (!add->impl || strcmp(add->impl, "own") || ln->run != run_layernorm || y->rank < 1 ||
        !same_dims(&add->in[0].d, y) || !same_dims(&add->in[1].d, y) || !same_dims(&ln->in[0].d, y))
        return -1;
    add->fuse_next = ln;
    add->run = run_add_layernorm;
    add->impl = "add+layernorm";
    return 0;
}

ntg_status ntg__xnn_prep_layernorm(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    o->run = run_layernorm;
    o->impl = "own-simd";
    return NTG_OK;
}

/* in = [x, (weight, bias), y, dy], out = [dx, (dweight, dbias)]. */
static void run_layernorm_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    int nfi = o->n_out;
    const ntg_tdesc *xd = &o->in[0].d;
    const float *dy = o->in[nfi + 1].data;
    float *dx = o->out[0].data, *dw = nfi == 3 ? o->out[1].data : NULL;
    float *db = nfi == 3 ? o->out[2].data : NULL;
    if (!dy) {
        for (int i = 0; i < nfi; i++) ntg__xnn_zero(&o->out[i]);
        return;
    }
    int64_t d = xd->dims[xd->rank - 1], rows = ntg__xnn_numel(&o->in[0]) / d;
    int64_t nchunks = (rows + LN_CHUNK - 1) / LN_CHUNK;
    double n = (double)(rows * d);
    int nthr = ntg__xnn_threads_for(b, 12.0 * n, 12.0 * n);
    if (nthr > nchunks) nthr = (int)nchunks;
    ln_ctx c;
    memset(&c, 0, sizeof c);
    c.vk = b->vk;
    c.x = o->in[0].data;
    c.w = nfi == 3 ? o->in[1].data : NULL;
    c.dy = dy;
    c.dx = dx;
    c.part = dw || db ? b->scratch : NULL;
    c.want_w = dw != NULL;
    c.want_b = db != NULL;
    c.rows = rows;
    c.d = d;
    c.eps = (float)ntg__attr_f(o->attr, NTG_LAYERNORM_EPS);
    c.tasks = (size_t)nthr;
    c.nchunks = nchunks;
    ntg__xnn_parallel(b, nthr, ln_bwd_task, &c, (size_t)nthr);
    for (int64_t j = 0; c.part && j < d; j++) {
        double sw = 0, sb = 0;
        for (int64_t q = 0; q < nchunks; q++) {
            sw += (double)c.part[q * 2 * d + j];
            sb += (double)c.part[q * 2 * d + d + j];
        }
        if (dw) dw[j] = (float)sw;
        if (db) db[j] = (float)sb;
    }
}

ntg_status ntg__xnn_prep_layernorm_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    int nfi = o->n_out;
    if (!o->in[0].data || (nfi == 3 && !o->in[1].data)) return NTG_OK;
    const ntg_tdesc *xd = &o->in[0].d;
    int64_t d = xd->dims[xd->rank - 1], rows = ntg__xnn_numel(&o->in[0]) / d;
    int64_t nchunks = (rows + LN_CHUNK - 1) / LN_CHUNK;
    o->scratch = nfi == 3 ? (size_t)(nchunks * 2 * d) * sizeof(float) : 0;
    o->run = run_layernorm_bwd;
    o->impl = "own-simd";
    return NTG_OK;
}
