/* xnn_layout.c — data movement (flip, slice, reshape, concat, split, transpose), maxpool1d, interp.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "op_attrs.h"
#include "ref/ref_span.h"
#include "xnn_int.h"

/*
 * Every op here moves whole runs with memcpy where the layout allows and splits its outer
 * index across threads when the tensor is large (they are memory-bound: one thread per
 * ~160 KB).  Results are bitwise the reference's: nothing is computed but the interpolation,
 * which uses the reference's weights and float expression.
 */

static size_t fbytes(int64_t n)
{
    return (size_t)n * sizeof(float);
}

/* Threads for moving `n` floats (read and written once). */
static int move_threads(const ntg_backend *b, int64_t n, int64_t outer)
{
    int t = ntg__xnn_threads_for(b, 0, 8.0 * (double)n);
    return t > outer ? (outer > 1 ? (int)outer : 1) : t;
}

typedef struct lay_ctx {
    const xnn_op *o;
    int bwd;
    int64_t outer;
    size_t chunks;
    const void *aux;
} lay_ctx;

/* ------------------------------------------------------------- per-op spans */

/* concat fwd (bwd == 0) and bwd, and split bwd (join) / fwd (cut) share this: pieces of one
 * axis of a whole tensor.  join: pieces -> whole; cut: whole -> pieces. */
static void pieces_span(const xnn_op *o, int join, int64_t o0, int64_t o1)
{
    int concat = o->code == NTG_OP_concat;
    /* the whole tensor and the pieces' views */
    const ntg_view *whole;
    const ntg_view *pieces;
    const ntg_view *shapes; /* the pieces' shapes (forward operands) */
    int np;
    if (concat && o->dir == NTG_DIR_FWD) {
        whole = &o->out[0], pieces = o->in, shapes = o->in, np = o->n_in;
    } else if (concat) {
        np = o->n_out;
        whole = &o->in[np + 1], pieces = o->out, shapes = o->in;
    } else if (o->dir == NTG_DIR_FWD) {
        whole = &o->in[0], pieces = o->out, shapes = o->out, np = o->n_out;
    } else {
        np = (o->n_in - 1) / 2;
        whole = &o->out[0], pieces = o->in + 1 + np, shapes = o->in + 1;
    }
    const ntg_tdesc *wd = concat && o->dir == NTG_DIR_BWD ? &o->in[np].d : &o->in[0].d;
    if (concat && o->dir == NTG_DIR_FWD) wd = &o->out[0].d;
    int ax = ntg__axis(ntg__attr_i(o->attr, concat ? NTG_CONCAT_AXIS : NTG_SPLIT_AXIS), wd->rank);
    ntg_axis_split sw = ntg__axis_split(wd, ax);
    float *w = whole->data;
    int64_t at = 0;
    for (int i = 0; i < np; i++) {
        int64_t len = shapes[i].d.dims[ax], run = len * sw.inner;
        float *pc = pieces[i].data;
        for (int64_t q = o0; q < o1; q++) {
            float *wp = w + (q * sw.len + at) * sw.inner;
            if (join) {
                if (pc)
                    memcpy(wp, pc + q * run, fbytes(run));
                else
                    memset(wp, 0, fbytes(run));
            } else if (pc) {
                if (w)
                    memcpy(pc + q * run, wp, fbytes(run));
                else
                    memset(pc + q * run, 0, fbytes(run));
            }
        }
        at += len;
    }
}

static void perm_of(const xnn_op *o, int *perm, int inverse)
{
    int64_t n;
    const ntg_attr *p = ntg__attr_list(o->attr, NTG_TRANSPOSE_PERM, &n);
    for (int64_t i = 0; i < n; i++) {
        if (inverse)
            perm[p[i].i] = (int)i;
        else
            perm[i] = (int)p[i].i;
    }
}

/* ------------------------------------------------------------- dispatch */

static void lay_task(void *p, size_t t)
{
    const lay_ctx *c = p;
    const xnn_op *o = c->o;
    int64_t o0 = c->outer * (int64_t)t / (int64_t)c->chunks;
    int64_t o1 = c->outer * (int64_t)(t + 1) / (int64_t)c->chunks;
    if (o1 <= o0) return;
    switch (o->code) {
    case NTG_OP_flip: {
        const ntg_tdesc *d = &o->in[0].d;
        int ax = ntg__axis(ntg__attr_i(o->attr, NTG_FLIP_AXIS), d->rank);
        ntg__ref_flip_span(c->bwd ? o->in[2].data : o->in[0].data, o->out[0].data,
                           ntg__axis_split(d, ax), o0, o1);
        break;
    }
    case NTG_OP_slice: {
        ntg_slice_geom g =
            ntg__ref_slice_geom(o->attr, &o->in[0].d, c->bwd ? &o->in[1].d : &o->out[0].d);
        ntg__ref_slice_span(&g, o->in[0].data, o->out[0].data, c->bwd,
                            c->bwd ? o->in[2].data : NULL, o->out[0].data, o0, o1);
        break;
    }
    case NTG_OP_reshape: {
        const float *src = c->bwd ? o->in[2].data : o->in[0].data;
        memcpy((float *)o->out[0].data + o0, src + o0, fbytes(o1 - o0));
        break;
    }
    case NTG_OP_concat:
    case NTG_OP_split:
        pieces_span(o, (o->code == NTG_OP_concat) != c->bwd, o0, o1);
        break;
    default: { /* transpose */
        const ntg_perm_geom *g = c->aux;
        ntg__ref_perm_span(g, c->bwd ? o->in[2].data : o->in[0].data, o->out[0].data, o0, o1);
        break;
    }
    }
}

/* The outer index each op splits across threads. */
static int64_t lay_outer(const xnn_op *o, int bwd, ntg_perm_geom *pg)
{
    switch (o->code) {
    case NTG_OP_flip: {
        const ntg_tdesc *d = &o->in[0].d;
        return ntg__axis_split(d, ntg__axis(ntg__attr_i(o->attr, NTG_FLIP_AXIS), d->rank)).outer;
    }
    case NTG_OP_slice: {
        const ntg_tdesc *d = &o->in[0].d;
        return ntg__axis_split(d, ntg__axis(ntg__attr_i(o->attr, NTG_SLICE_AXIS), d->rank)).outer;
    }
    case NTG_OP_reshape:
        return ntg__xnn_numel(&o->in[0]);
    case NTG_OP_concat: {
        const ntg_tdesc *d = &o->in[0].d;
        return ntg__axis_split(d, ntg__axis(ntg__attr_i(o->attr, NTG_CONCAT_AXIS), d->rank)).outer;
    }
    case NTG_OP_split: {
        const ntg_tdesc *d = &o->in[0].d;
        return ntg__axis_split(d, ntg__axis(ntg__attr_i(o->attr, NTG_SPLIT_AXIS), d->rank)).outer;
    }
    default: {
        int perm[NTG_MAX_RANK];
        perm_of(o, perm, bwd);
        ntg__ref_perm_geom(bwd ? &o->in[1].d : &o->in[0].d, perm, pg);
        return pg->runs;
    }
    }
}

static void run_layout(ntg_backend *b, xnn_op *o, int bwd)
{
    ntg_perm_geom pg;
    int64_t outer = lay_outer(o, bwd, &pg);
    int64_t n = ntg__xnn_numel(&o->in[0]);
    int nthr = move_threads(b, n, outer);
    if (o->code == NTG_OP_reshape) nthr = move_threads(b, n, n / 4096 + 1);
    lay_ctx c = {o, bwd, outer, (size_t)nthr, &pg};
    ntg__xnn_parallel(b, nthr, lay_task, &c, (size_t)nthr);
}

static void run_layout_fwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    run_layout(b, o, 0);
}

ntg_status ntg__xnn_prep_layout(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    o->run = run_layout_fwd;
    o->impl = "own-memcpy";
    return NTG_OK;
}

static void run_layout_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    if (o->code == NTG_OP_concat) {
        /* each wanted piece gets its slab of dy (zeros without dy) */
        run_layout(b, o, 1);
        return;
    }
    if (!o->out[0].data) return;
    /* split joins the pieces' gradients (zeros for absent ones) itself; the others need dy */
    if (o->code != NTG_OP_split && o->code != NTG_OP_slice && !o->in[2].data) {
        ntg__xnn_zero(&o->out[0]);
        return;
    }
    run_layout(b, o, 1);
}

ntg_status ntg__xnn_prep_layout_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    o->run = run_layout_bwd;
    o->impl = "own-memcpy";
    return NTG_OK;
}

/* ------------------------------------------------------- heads' layout moves */

/*
 * One pass between the projections' [B, T, C] layout and the attention heads' [B, H, T, Dh]
 * (xnn_fuse.c, ntg__xnn_prep_heads): the chains split -> reshape -> transpose (Q, K, V) and
 * transpose -> reshape (the output), forward and backward, each moved two or three times
 * before, now once.  Piece j is columns off[j] .. off[j] + H Dh of every row of the whole.
 */
typedef struct heads_move {
    int np, to_heads;
    int64_t t, h, dh, c;
    int64_t off[3];
    const ntg_view *whole;
    const ntg_view *piece[3];
} heads_move;

typedef struct heads_ctx {
    const heads_move *m;
    int64_t rows;
    size_t chunks;
} heads_ctx;

static void heads_task(void *p, size_t t)
{
    const heads_ctx *c = p;
    const heads_move *m = c->m;
    int64_t r0 = c->rows * (int64_t)t / (int64_t)c->chunks;
    int64_t r1 = c->rows * (int64_t)(t + 1) / (int64_t)c->chunks;
    float *w = m->whole->data;
    size_t run = fbytes(m->dh);
    for (int64_t r = r0; r < r1; r++) {
        int64_t bb = r / m->t, tt = r % m->t;
        float *wr = w + r * m->c;
        for (int j = 0; j < m->np; j++) {
            float *hp = (float *)m->piece[j]->data + (bb * m->h * m->t + tt) * m->dh;
            float *wp = wr + m->off[j];
            for (int64_t hh = 0; hh < m->h; hh++, hp += m->t * m->dh, wp += m->dh) {
                if (m->to_heads)
                    memcpy(hp, wp, run);
                else
                    memcpy(wp, hp, run);
            }
        }
    }
}

static void run_heads(ntg_backend *b, xnn_op *o, int batch)
{
    const heads_move *m = o->own;
    int64_t rows = (int64_t)batch * m->t;
    int64_t n = rows * m->np * m->h * m->dh;
    int nthr = move_threads(b, n, rows);
    heads_ctx c = {m, rows, (size_t)nthr};
    ntg__xnn_parallel(b, nthr, heads_task, &c, (size_t)nthr);
}

const ntg_view *ntg__xnn_heads_whole(const xnn_op *o, const void *piece, int64_t *ld, int64_t *off)
{
    if (o->run != run_heads) return NULL;
    const heads_move *m = o->own;
    *ld = m->c;
    *off = -1;
    for (int j = 0; j < m->np; j++)
        if (m->piece[j]->data == piece) *off = m->off[j];
    return m->whole;
}

int ntg__xnn_prep_heads(xnn_op *o, int to_heads, int np, int64_t t, int64_t h, int64_t dh,
                        int64_t c, const int64_t *off, const ntg_view *whole,
                        const ntg_view *const *piece)
{
    if (np < 1 || np > 3 || o->own || !whole->data) return -1;
    for (int j = 0; j < np; j++)
        if (!piece[j]->data || off[j] < 0 || off[j] + h * dh > c) return -1;
    heads_move *m = calloc(1, sizeof *m);
    if (!m) return -1;
    m->np = np;
    m->to_heads = to_heads;
    m->t = t;
    m->h = h;
    m->dh = dh;
    m->c = c;
    m->whole = whole;
    for (int j = 0; j < np; j++) m->off[j] = off[j], m->piece[j] = piece[j];
    o->own = m;
    o->run = run_heads;
    o->impl = to_heads ? "heads-split" : "heads-merge";
    return 0;
}

/* ---------------------------------------------------------------- maxpool1d */

/* The reference's geometry and loops (ops/ref/k_pool.c), the rows split across threads; the
 * forward adds a branch-free path for N-HiTS's pairs. */
typedef struct pool_ctx {
    ntg_pool_geom g;
    const float *x, *dy;
    float *y, *dx;
    int bwd;
    size_t chunks;
} pool_ctx;

static void pool_task(void *p, size_t t)
{
    const pool_ctx *c = p;
    const ntg_pool_geom *g = &c->g;
    int64_t r0 = g->rows * (int64_t)t / (int64_t)c->chunks;
    int64_t r1 = g->rows * (int64_t)(t + 1) / (int64_t)c->chunks;
    if (c->bwd) {
        ntg__ref_maxpool_bwd_rows(g, c->x, c->dy, c->dx, r0, r1);
        return;
    }
    if (!(g->pad == 0 && g->s == g->k && g->k == 2)) {
        ntg__ref_maxpool_rows(g, c->x, c->y, r0, r1);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = c->x + r * g->len;
        float *yr = c->y + r * g->nout;
        int64_t o = 0;
        /* N-HiTS's pools: pairs, branch-free so it vectorises (NaN handled below) */
        for (; o < g->nout && 2 * o + 1 < g->len; o++) {
            float a = xr[2 * o], bv = xr[2 * o + 1];
            yr[o] = bv > a ? bv : a;
        }
        for (int64_t q = 0; q < o; q++)
            if (xr[2 * q + 1] != xr[2 * q + 1]) yr[q] = xr[2 * q + 1];
        for (; o < g->nout; o++) yr[o] = xr[ntg__ref_pool_argmax(xr, g, o)];
    }
}

static void pool_run(ntg_backend *b, xnn_op *o, int bwd)
{
    pool_ctx c;
    memset(&c, 0, sizeof c);
    ntg__ref_pool_geom(o->attr, &o->in[0].d, bwd ? &o->in[1].d : &o->out[0].d, &c.g);
    c.x = o->in[0].data;
    c.bwd = bwd;
    if (bwd) {
        c.dy = o->in[2].data;
        c.dx = o->out[0].data;
    } else {
        c.y = o->out[0].data;
    }
    double n = (double)(c.g.rows * c.g.len);
    int nthr = ntg__xnn_threads_for(b, n, 8.0 * n);
    if (nthr > c.g.rows) nthr = c.g.rows > 1 ? (int)c.g.rows : 1;
    c.chunks = (size_t)nthr;
    ntg__xnn_parallel(b, nthr, pool_task, &c, (size_t)nthr);
}

static void run_pool(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    pool_run(b, o, 0);
}

#ifdef NTG_HAVE_XNNPACK
/* XNNPACK max pooling: rows as a batch of 1 x len images of one channel, pooling 1 x k;
 * extra right padding gives ceil_mode (XNNPACK clamps windows to the input, as torch). */
static void run_pool_xnn(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    ntg_pool_geom g;
    ntg__ref_pool_geom(o->attr, &o->in[0].d, &o->out[0].d, &g);
    /* XNNPACK's own threading needs a pthreadpool, whose spinning workers stall on a busy
     * machine: these operators (a measurement policy, XNN_POL_XNN_ELEM) run on one thread */
    pthreadpool_t pool = NULL;
    (void)b;
    size_t key = (size_t)g.rows * 2 + (pool != NULL);
    if (key != o->xop_key) {
        xnn_setup_max_pooling2d_nhwc_f32(o->xop, (size_t)g.rows, 1, (size_t)g.len, o->in[0].data,
                                         o->out[0].data, pool);
        o->xop_key = key;
    }
    xnn_run_operator(o->xop, pool);
}
#endif

ntg_status ntg__xnn_prep_maxpool(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    ntg_pool_geom g;
    ntg__ref_pool_geom(o->attr, &o->in[0].d, &o->out[0].d, &g);
    /* XNNPACK refuses a 1-element window (a copy) */
#ifdef NTG_HAVE_XNNPACK
    if ((b->policy & XNN_POL_XNN_ELEM) && !(b->policy & XNN_POL_NO_XNNOPS) && g.k > 1) {
        /* right padding so that floor((len + pads - k) / s) + 1 == nout */
        int64_t right = (g.nout - 1) * g.s + g.k - g.len - g.pad;
        if (right < 0) right = 0;
        enum xnn_status st = xnn_create_max_pooling2d_nhwc_f32(
            0, (uint32_t)right, 0, (uint32_t)g.pad, 1, (uint32_t)g.k, 1, (uint32_t)g.s, 1, 1, 1, 1,
            1, -INFINITY, INFINITY, 0, &o->xop);
        if (st != xnn_status_success)
            return ntg__fail(err, NTG_ERR_BACKEND, "xnnpack backend: max pooling: status %d",
                             (int)st);
        /* the indirection buffer is allocated by the first setup: here, not in a run */
        xnn_setup_max_pooling2d_nhwc_f32(o->xop, (size_t)g.rows, 1, (size_t)g.len, o->in[0].data,
                                         o->out[0].data, NULL);
        o->xop_key = (size_t)g.rows * 2;
        o->run = run_pool_xnn;
        o->impl = "xnnpack-maxpool";
        return NTG_OK;
    }
#else
    (void)b;
    (void)err;
#endif
    o->run = run_pool;
    o->impl = "own";
    return NTG_OK;
}

static void run_pool_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    if (!o->out[0].data) return;
    if (!o->in[2].data) {
        ntg__xnn_zero(&o->out[0]);
        return;
    }
    pool_run(b, o, 1);
}

ntg_status ntg__xnn_prep_maxpool_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    (void)err;
    if (!o->in[0].data) return NTG_OK;
    o->run = run_pool_bwd;
    o->impl = "own";
    return NTG_OK;
}

/* ------------------------------------------------------------ interp_linear */

/* Per output position: the two source indices and the weight of the second, computed once
 * at prepare exactly as the reference does (ATen's float arithmetic). */
typedef struct interp_tab {
    int64_t in, size;
    int32_t *i0, *i1;
    float *w1;
} interp_tab;

static void interp_src(int64_t in, int64_t size, int align, float scale, int64_t t, int32_t *i0,
                       int32_t *i1, float *w1)
{
    if (in == size) {
        *i0 = *i1 = (int32_t)t;
        *w1 = 0.0f;
        return;
    }
    float src;
    if (align) {
        src = scale * (float)t;
    } else {
        src = scale * ((float)t + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
    }
    int64_t i = (int64_t)floorf(src);
    if (i > in - 1) i = in - 1;
    float w = src - (float)i;
    if (w < 0.0f) w = 0.0f;
    if (w > 1.0f) w = 1.0f;
    *i0 = (int32_t)i;
    *i1 = (int32_t)(i < in - 1 ? i + 1 : i);
    *w1 = w;
}

static ntg_status interp_table(xnn_op *o, const ntg_tdesc *x, const ntg_tdesc *y, ntg_error *err)
{
    int64_t in = x->dims[x->rank - 1], size = y->dims[y->rank - 1];
    int align = (int)ntg__attr_i(o->attr, NTG_INTERP_ALIGN);
    float scale =
        align ? (size > 1 ? (float)(in - 1) / (float)(size - 1) : 0.0f) : (float)in / (float)size;
    if (in > INT32_MAX) return NTG_OK; /* the reference handles any length */
    size_t bytes = sizeof(interp_tab) + (size_t)size * (2 * sizeof(int32_t) + sizeof(float));
    interp_tab *t = malloc(bytes);
    if (!t) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    t->in = in;
    t->size = size;
    t->i0 = (int32_t *)(t + 1);
    t->i1 = t->i0 + size;
    t->w1 = (float *)(t->i1 + size);
    for (int64_t k = 0; k < size; k++)
        interp_src(in, size, align, scale, k, &t->i0[k], &t->i1[k], &t->w1[k]);
    o->own = t;
    return NTG_OK;
}

typedef struct interp_ctx {
    const interp_tab *t;
    const float *src;
    float *dst;
    int64_t rows;
    int bwd;
    size_t chunks;
} interp_ctx;

static void interp_task(void *p, size_t k)
{
    const interp_ctx *c = p;
    const interp_tab *t = c->t;
    int64_t r0 = c->rows * (int64_t)k / (int64_t)c->chunks;
    int64_t r1 = c->rows * (int64_t)(k + 1) / (int64_t)c->chunks;
    for (int64_t r = r0; r < r1; r++) {
        if (!c->bwd) {
            const float *xr = c->src + r * t->in;
            float *yr = c->dst + r * t->size;
            for (int64_t q = 0; q < t->size; q++)
                yr[q] = (1.0f - t->w1[q]) * xr[t->i0[q]] + t->w1[q] * xr[t->i1[q]];
            continue;
        }
        const float *dyr = c->src + r * t->size;
        float *dxr = c->dst + r * t->in;
        memset(dxr, 0, fbytes(t->in));
        for (int64_t q = 0; q < t->size; q++) {
            dxr[t->i0[q]] += (1.0f - t->w1[q]) * dyr[q];
            dxr[t->i1[q]] += t->w1[q] * dyr[q];
        }
    }
}

static void interp_run(ntg_backend *b, xnn_op *o, int bwd, const float *src, float *dst)
{
    const interp_tab *t = o->own;
    int64_t rows = ntg__xnn_numel(&o->in[0]) / t->in;
    double n = (double)(rows * (t->in + t->size));
    int nthr = ntg__xnn_threads_for(b, 2.0 * n, 4.0 * n);
    if (nthr > rows) nthr = rows > 1 ? (int)rows : 1;
    interp_ctx c = {t, src, dst, rows, bwd, (size_t)nthr};
    ntg__xnn_parallel(b, nthr, interp_task, &c, (size_t)nthr);
}

static void run_interp(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    interp_run(b, o, 0, o->in[0].data, o->out[0].data);
}

ntg_status ntg__xnn_prep_interp(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    ntg_status st = interp_table(o, &o->in[0].d, &o->out[0].d, err);
    if (st || !o->own) return st;
    o->run = run_interp;
    o->impl = "own";
    return NTG_OK;
}

static void run_interp_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    if (!o->out[0].data) return;
    if (!o->in[2].data) {
        ntg__xnn_zero(&o->out[0]);
        return;
    }
    interp_run(b, o, 1, o->in[2].data, o->out[0].data);
}

ntg_status ntg__xnn_prep_interp_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)b;
    ntg_status st = interp_table(o, &o->in[0].d, &o->in[1].d, err);
    if (st || !o->own) return st;
    o->run = run_interp_bwd;
    o->impl = "own";
    return NTG_OK;
}
