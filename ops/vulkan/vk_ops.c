/* vk_ops.c — Vulkan emitters of the elementwise, layout, pooling, normalisation, loss and
 * optimizer ops: which shaders each op dispatches, with which words and ranges. */
#include <math.h>
#include <string.h>

#include "op_attrs.h"
#include "vk_int.h"

/* ------------------------------------------------------------- helpers */

static uint64_t nel(const ntg__vk_opnd *o)
{
    return ntg__vk_numel(o);
}

/* Elements of o at the maximum batch (scratch sizes, SHADERS.md §2). */
static uint64_t nel_max(const ntg__vk_ctx *e, const ntg__vk_opnd *o)
{
    ntg_tdesc d = o->d;
    if (d.batched) d.dims[0] = e->max_batch;
    return (uint64_t)ntg__tdesc_numel(&d);
}

/* [outer, len, inner] around axis ax. */
static void around(const ntg_tdesc *d, int ax, int64_t *outer, int64_t *len, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < ax; i++) *outer *= d->dims[i];
    for (int i = ax + 1; i < d->rank; i++) *inner *= d->dims[i];
    *len = d->dims[ax];
}

/* Zeros into every wanted output (a backward whose output gradient is absent). */
static ntg_status zero_wanted(ntg__vk_ctx *e)
{
    for (int i = 0; i < e->n_out; i++)
        if (e->out[i].present && ntg__vk_fill(e, &e->out[i], 0.0f)) return e->status;
    return e->status;
}

static int any_wanted(const ntg__vk_ctx *e)
{
    for (int i = 0; i < e->n_out; i++)
        if (e->out[i].present) return 1;
    return 0;
}

/* The gradient of forward output j of a backward op (NULL when absent). */
static const ntg__vk_opnd *bwd_dy(const ntg__vk_ctx *e, int j)
{
    int nfi = e->n_out, nfo = (e->n_in - e->n_out) / 2;
    const ntg__vk_opnd *o = &e->in[nfi + nfo + j];
    return o->present ? o : NULL;
}

/* Contiguous strides of d. */
static void strides_of(const ntg_tdesc *d, int64_t *st)
{
    int64_t s = 1;
    for (int i = d->rank - 1; i >= 0; i--) {
        st[i] = s;
        s *= d->dims[i];
    }
}

/* ------------------------------------------------------------ unary ops */

static ntg_status unary_fwd(ntg__vk_ctx *e, uint32_t mode, float factor)
{
    return ntg__vk_unary(e, 0, mode, factor, &e->in[0], &e->out[0], NULL, NULL, nel(&e->out[0]));
}

/* in = [x, y, dy], out = [dx] */
static ntg_status unary_bwd(ntg__vk_ctx *e, uint32_t mode, float factor)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    return ntg__vk_unary(e, 1, mode, factor, &e->in[0], &e->in[1], dy, &e->out[0], nel(&e->in[0]));
}

static float scale_factor(const ntg__vk_ctx *e)
{
    /* torch rounds the Python scalar to float first (ops/ref/k_unary.c) */
    return (float)ntg__attr_f(e->attr, NTG_SCALE_FACTOR);
}

ntg_status ntg__vk_fwd_relu(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_RELU, 0);
}
ntg_status ntg__vk_bwd_relu(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_RELU, 0);
}
ntg_status ntg__vk_fwd_gelu(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_GELU, 0);
}
ntg_status ntg__vk_bwd_gelu(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_GELU, 0);
}
ntg_status ntg__vk_fwd_tanh(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_TANH, 0);
}
ntg_status ntg__vk_bwd_tanh(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_TANH, 0);
}
ntg_status ntg__vk_fwd_sigmoid(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_SIGMOID, 0);
}
ntg_status ntg__vk_bwd_sigmoid(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_SIGMOID, 0);
}
ntg_status ntg__vk_fwd_scale(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_SCALE, scale_factor(e));
}
ntg_status ntg__vk_bwd_scale(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_SCALE, scale_factor(e));
}
ntg_status ntg__vk_fwd_exp(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_EXP, 0);
}
ntg_status ntg__vk_bwd_exp(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_EXP, 0);
}
ntg_status ntg__vk_fwd_log(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_LOG, 0);
}
ntg_status ntg__vk_bwd_log(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_LOG, 0);
}
ntg_status ntg__vk_fwd_abs(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_ABS, 0);
}
ntg_status ntg__vk_bwd_abs(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_ABS, 0);
}
ntg_status ntg__vk_fwd_sqrt(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_SQRT, 0);
}
ntg_status ntg__vk_bwd_sqrt(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_SQRT, 0);
}
ntg_status ntg__vk_fwd_softplus(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_SOFTPLUS, 0);
}
ntg_status ntg__vk_bwd_softplus(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_SOFTPLUS, 0);
}
ntg_status ntg__vk_fwd_identity(ntg__vk_ctx *e)
{
    return unary_fwd(e, UN_IDENTITY, 0);
}
ntg_status ntg__vk_bwd_identity(ntg__vk_ctx *e)
{
    return unary_bwd(e, UN_IDENTITY, 0);
}

/* ------------------------------------------------------------ layout ops */

/* x -> y along [outer, len, inner] with the axis reversed. */
static ntg_status flip_copy(ntg__vk_ctx *e, const ntg__vk_opnd *src, const ntg__vk_opnd *dst)
{
    const ntg_tdesc *d = &e->in[0].d;
    int ax = ntg__axis(ntg__attr_i(e->attr, NTG_FLIP_AXIS), d->rank);
    int64_t outer, len, inner;
    around(d, ax, &outer, &len, &inner);
    int64_t dims[3] = {outer, len, inner};
    int64_t sst[3] = {len * inner, -inner, 1}, dstt[3] = {len * inner, inner, 1};
    return ntg__vk_copy(e, src, (len - 1) * inner, dst, 0, 3, dims, sst, dstt);
}

ntg_status ntg__vk_fwd_flip(ntg__vk_ctx *e)
{
    return flip_copy(e, &e->in[0], &e->out[0]);
}

ntg_status ntg__vk_bwd_flip(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    return flip_copy(e, dy, &e->out[0]);
}

/* The slice's index space [outer, nout, inner] with x's strides (first, step). */
static void slice_geom(ntg__vk_ctx *e, int64_t *dims, int64_t *xst, int64_t *yst, int64_t *x0)
{
    const ntg_tdesc *x = &e->in[0].d, *y = &e->in[1].d;
    int ax = ntg__axis(ntg__attr_i(e->attr, NTG_SLICE_AXIS), x->rank);
    int64_t outer, len, inner, s0, n, nout = e->op->dir ? y->dims[ax] : e->out[0].d.dims[ax];
    around(x, ax, &outer, &len, &inner);
    ntg__slice_range(len, ntg__attr_i(e->attr, NTG_SLICE_START),
                     ntg__attr_i(e->attr, NTG_SLICE_END), &s0, &n);
    int64_t step = ntg__attr_i(e->attr, NTG_SLICE_STEP);
    dims[0] = outer;
    dims[1] = nout;
    dims[2] = inner;
    xst[0] = len * inner;
    xst[1] = step * inner;
    xst[2] = 1;
    yst[0] = nout * inner;
    yst[1] = inner;
    yst[2] = 1;
    *x0 = s0 * inner;
}

ntg_status ntg__vk_fwd_slice(ntg__vk_ctx *e)
{
    int64_t dims[3], xst[3], yst[3], x0;
    slice_geom(e, dims, xst, yst, &x0);
    return ntg__vk_copy(e, &e->in[0], x0, &e->out[0], 0, 3, dims, xst, yst);
}

/* dy lands on the sliced positions, zeros everywhere else. */
ntg_status ntg__vk_bwd_slice(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (ntg__vk_fill(e, &e->out[0], 0.0f) || !dy) return e->status;
    int64_t dims[3], xst[3], yst[3], x0;
    slice_geom(e, dims, xst, yst, &x0);
    return ntg__vk_copy(e, dy, 0, &e->out[0], x0, 3, dims, yst, xst);
}

static ntg_status flat_copy(ntg__vk_ctx *e, const ntg__vk_opnd *src, const ntg__vk_opnd *dst,
                            uint64_t n)
{
    int64_t dims[1] = {(int64_t)n}, st[1] = {1};
    return ntg__vk_copy(e, src, 0, dst, 0, 1, dims, st, st);
}

ntg_status ntg__vk_fwd_reshape(ntg__vk_ctx *e)
{
    return flat_copy(e, &e->in[0], &e->out[0], nel(&e->out[0]));
}

ntg_status ntg__vk_bwd_reshape(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    return flat_copy(e, dy, &e->out[0], nel(&e->in[0]));
}

/* One piece [outer, len_i, inner] of a joined tensor [outer, len, inner] at `at`: to_whole
 * copies piece -> whole, else whole -> piece. */
static ntg_status piece_copy(ntg__vk_ctx *e, const ntg__vk_opnd *piece, const ntg__vk_opnd *whole,
                             int ax, int64_t at, int to_whole)
{
    int64_t outer, len, inner, po, plen, pin;
    around(&whole->d, ax, &outer, &len, &inner);
    around(&piece->d, ax, &po, &plen, &pin);
    int64_t dims[2] = {outer, plen * inner};
    int64_t pst[2] = {plen * inner, 1}, wst[2] = {len * inner, 1};
    if (to_whole) return ntg__vk_copy(e, piece, 0, whole, at * inner, 2, dims, pst, wst);
    return ntg__vk_copy(e, whole, at * inner, piece, 0, 2, dims, wst, pst);
}

ntg_status ntg__vk_fwd_concat(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *y = &e->out[0];
    int ax = ntg__axis(ntg__attr_i(e->attr, NTG_CONCAT_AXIS), y->d.rank);
    int64_t at = 0;
    for (int i = 0; i < e->n_in; i++) {
        if (piece_copy(e, &e->in[i], y, ax, at, 1)) return e->status;
        at += e->in[i].d.dims[ax];
    }
    return NTG_OK;
}

/* in = [x_0 .. x_{n-1}, y, dy], out = [dx_0 .. dx_{n-1}]: each gradient is its slab of dy. */
ntg_status ntg__vk_bwd_concat(ntg__vk_ctx *e)
{
    int nfi = e->n_out;
    const ntg__vk_opnd *y = &e->in[nfi], *dy = bwd_dy(e, 0);
    int ax = ntg__axis(ntg__attr_i(e->attr, NTG_CONCAT_AXIS), y->d.rank);
    int64_t at = 0;
    for (int i = 0; i < nfi; i++) {
        const ntg__vk_opnd *dx = &e->out[i];
        if (dx->present) {
            ntg__vk_opnd piece = *dx;
            piece.d = e->in[i].d; /* the forward input's shape */
            if (dy ? piece_copy(e, &piece, dy, ax, at, 0) : ntg__vk_fill(e, dx, 0.0f))
                return e->status;
        }
        at += e->in[i].d.dims[ax];
    }
    return NTG_OK;
}

ntg_status ntg__vk_fwd_split(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *x = &e->in[0];
    int ax = ntg__axis(ntg__attr_i(e->attr, NTG_SPLIT_AXIS), x->d.rank);
    int64_t at = 0;
    for (int j = 0; j < e->n_out; j++) {
        if (piece_copy(e, &e->out[j], x, ax, at, 0)) return e->status;
        at += e->out[j].d.dims[ax];
    }
    return NTG_OK;
}

/* in = [x, y_0 .. y_{n-1}, dy_0 .. dy_{n-1}], out = [dx]: the pieces' gradients joined, zeros
 * where a piece's gradient is absent. */
ntg_status ntg__vk_bwd_split(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *dx = &e->out[0];
    int nfo = (e->n_in - 1) / 2, ax = ntg__axis(ntg__attr_i(e->attr, NTG_SPLIT_AXIS), dx->d.rank);
    if (!dx->present) return NTG_OK;
    ntg__vk_opnd whole = *dx;
    whole.d = e->in[0].d;
    int missing = 0;
    for (int j = 0; j < nfo; j++) missing |= !e->in[1 + nfo + j].present;
    if (missing && ntg__vk_fill(e, dx, 0.0f)) return e->status;
    int64_t at = 0;
    for (int j = 0; j < nfo; j++) {
        const ntg__vk_opnd *dy = &e->in[1 + nfo + j];
        if (dy->present) {
            ntg__vk_opnd piece = *dy;
            piece.d = e->in[1 + j].d;
            if (piece_copy(e, &piece, &whole, ax, at, 1)) return e->status;
        }
        at += e->in[1 + j].d.dims[ax];
    }
    return NTG_OK;
}

static void perm_of(const ntg__vk_ctx *e, int *perm)
{
    int64_t n;
    const ntg_attr *p = ntg__attr_list(e->attr, NTG_TRANSPOSE_PERM, &n);
    for (int64_t i = 0; i < n; i++) perm[i] = (int)p[i].i;
}

/* Output axis i is input axis perm[i]: walk y's index space with x's strides. */
ntg_status ntg__vk_fwd_transpose(ntg__vk_ctx *e)
{
    const ntg_tdesc *x = &e->in[0].d, *y = &e->out[0].d;
    int perm[NTG_MAX_RANK];
    int64_t xst[NTG_MAX_RANK], yst[NTG_MAX_RANK], sst[NTG_MAX_RANK];
    perm_of(e, perm);
    strides_of(x, xst);
    strides_of(y, yst);
    for (int i = 0; i < y->rank; i++) sst[i] = xst[perm[i]];
    return ntg__vk_copy(e, &e->in[0], 0, &e->out[0], 0, y->rank, y->dims, sst, yst);
}

/* dx = dy permuted back: walk y's index space, scattering into x's layout. */
ntg_status ntg__vk_bwd_transpose(ntg__vk_ctx *e)
{
    const ntg_tdesc *x = &e->in[0].d, *y = &e->in[1].d;
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    int perm[NTG_MAX_RANK];
    int64_t xst[NTG_MAX_RANK], yst[NTG_MAX_RANK], dst[NTG_MAX_RANK];
    perm_of(e, perm);
    strides_of(x, xst);
    strides_of(y, yst);
    for (int i = 0; i < y->rank; i++) dst[i] = xst[perm[i]];
    return ntg__vk_copy(e, dy, 0, &e->out[0], 0, y->rank, y->dims, yst, dst);
}

/* ------------------------------------------------------- broadcasting ops */

/* Strides of operand t over o's axes (right-aligned; 0 where t has extent 1 or lacks it). */
static void bstrides(const ntg_tdesc *t, const ntg_tdesc *o, int64_t *st)
{
    int64_t s = 1;
    for (int i = o->rank - 1; i >= 0; i--) {
        int it = i - (o->rank - t->rank);
        int64_t d = it >= 0 ? t->dims[it] : 1;
        st[i] = d == 1 ? 0 : s;
        s *= d;
    }
}

static ntg_status bcast_fwd(ntg__vk_ctx *e, uint32_t mode)
{
    const ntg_tdesc *o = &e->out[0].d;
    int64_t sa[NTG_MAX_RANK], sb[NTG_MAX_RANK];
    bstrides(&e->in[0].d, o, sa);
    bstrides(&e->in[1].d, o, sb);
    uint64_t n = nel(&e->out[0]);
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_bcast_fwd, BC_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return e->status;
    ntg__vk_ref(e, p + BC_A, &e->in[0], 0);
    ntg__vk_ref(e, p + BC_B, &e->in[1], 0);
    ntg__vk_ref(e, p + BC_Y, &e->out[0], 0);
    p[BC_N] = (uint32_t)n;
    p[BC_MODE] = mode;
    p[BC_RANK] = o->rank;
    for (int i = 0; i < o->rank; i++) {
        p[BC_DIMS + i] = (uint32_t)o->dims[i];
        p[BC_SA + i] = (uint32_t)sa[i];
        p[BC_SB + i] = (uint32_t)sb[i];
    }
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_read(e, &e->in[1]);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* Elements operand k's gradient sums per element: the product of the output extents along
 * which it is broadcast, at the output dims od. */
static uint64_t reduced_count(const ntg_tdesc *t, const ntg_tdesc *od)
{
    uint64_t n = 1;
    for (int i = 0; i < od->rank; i++) {
        int it = i - (od->rank - t->rank);
        int64_t d = it >= 0 ? t->dims[it] : 1;
        if (d == 1 && od->dims[i] > 1) n *= (uint64_t)od->dims[i];
    }
    return n;
}

/* The gradient of operand k of a, op, b: in = [a, b, y, dy], out = [da, db]. */
static ntg_status bcast_grad(ntg__vk_ctx *e, uint32_t mode, int k)
{
    const ntg__vk_opnd *g = &e->out[k], *dy = bwd_dy(e, 0), *other = &e->in[1 - k];
    if (!g->present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, g, 0.0f);
    const ntg_tdesc *t = &e->in[k].d, *od = &e->in[2].d;
    float sign = mode == BC_SUB && k == 1 ? -1.0f : 1.0f;
    ntg_tdesc omax = *od, tmax = *t;
    if (omax.batched) omax.dims[0] = e->max_batch;
    if (tmax.batched) tmax.dims[0] = e->max_batch;
    int64_t dyst[NTG_MAX_RANK], ost[NTG_MAX_RANK];
    strides_of(od, dyst);
    bstrides(&other->d, od, ost);
    if (reduced_count(&tmax, &omax) == 1) {
        /* never broadcast: the gradient has dy's layout */
        if (mode != BC_MUL) return ntg__vk_unary(e, 1, UN_SCALE, sign, NULL, NULL, dy, g, nel(g));
        uint64_t n = nel(g);
        uint32_t *p =
            ntg__vk_dispatch(e, NTG_VK_PIPE_bcast_fwd, BC_WORDS, ntg__vk_groups1d(n), 1, 1);
        if (!p) return e->status;
        ntg__vk_ref(e, p + BC_A, dy, 0);
        ntg__vk_ref(e, p + BC_B, other, 0);
        ntg__vk_ref(e, p + BC_Y, g, 0);
        p[BC_N] = (uint32_t)n;
        p[BC_MODE] = BC_MUL;
        p[BC_RANK] = od->rank;
        for (int i = 0; i < od->rank; i++) {
            p[BC_DIMS + i] = (uint32_t)od->dims[i];
            p[BC_SA + i] = (uint32_t)dyst[i];
            p[BC_SB + i] = (uint32_t)ost[i];
        }
        ntg__vk_read(e, dy);
        ntg__vk_read(e, other);
        ntg__vk_write(e, g);
        return e->status;
    }
    uint64_t ng = nel(g);
    uint32_t *p =
        ntg__vk_dispatch(e, NTG_VK_PIPE_bcast_bwd, BB_WORDS, ntg__vk_line_groups(e, ng), 1, 1);
    if (!p) return e->status;
    ntg__vk_ref(e, p + BB_G, g, 0);
    ntg__vk_ref(e, p + BB_DY, dy, 0);
    if (mode == BC_MUL) {
        ntg__vk_ref(e, p + BB_O, other, 0);
        p[BB_HAS_O] = 1;
    }
    p[BB_SIGN] = ntg__vk_fbits(sign);
    p[BB_NG] = (uint32_t)ng;
    uint32_t kr = 0, rr = 0;
    uint64_t rn = 1;
    for (int i = 0; i < od->rank; i++) {
        int it = i - (od->rank - t->rank);
        int64_t d = it >= 0 ? t->dims[it] : 1;
        if (od->dims[i] == 1) continue;
        if (d == od->dims[i]) {
            p[BB_KDIMS + kr] = (uint32_t)d;
            p[BB_KDY + kr] = (uint32_t)dyst[i];
            p[BB_KO + kr] = (uint32_t)ost[i];
            kr++;
        } else {
            p[BB_RDIMS + rr] = (uint32_t)od->dims[i];
            p[BB_RDY + rr] = (uint32_t)dyst[i];
            p[BB_RO + rr] = (uint32_t)ost[i];
            rn *= (uint64_t)od->dims[i];
            rr++;
        }
    }
    p[BB_KRANK] = kr;
    p[BB_RRANK] = rr;
    p[BB_RN] = (uint32_t)rn;
    ntg__vk_read(e, dy);
    if (mode == BC_MUL) ntg__vk_read(e, other);
    ntg__vk_write(e, g);
    return e->status;
}

static ntg_status bcast_bwd(ntg__vk_ctx *e, uint32_t mode)
{
    if (bcast_grad(e, mode, 0)) return e->status;
    return bcast_grad(e, mode, 1);
}

ntg_status ntg__vk_fwd_add(ntg__vk_ctx *e)
{
    return bcast_fwd(e, BC_ADD);
}
ntg_status ntg__vk_bwd_add(ntg__vk_ctx *e)
{
    return bcast_bwd(e, BC_ADD);
}
ntg_status ntg__vk_fwd_sub(ntg__vk_ctx *e)
{
    return bcast_fwd(e, BC_SUB);
}
ntg_status ntg__vk_bwd_sub(ntg__vk_ctx *e)
{
    return bcast_bwd(e, BC_SUB);
}
ntg_status ntg__vk_fwd_mul(ntg__vk_ctx *e)
{
    return bcast_fwd(e, BC_MUL);
}
ntg_status ntg__vk_bwd_mul(ntg__vk_ctx *e)
{
    return bcast_bwd(e, BC_MUL);
}

/* -------------------------------------------------------- pool and interp */

static uint32_t *pool_words(ntg__vk_ctx *e, int pipe, const ntg_tdesc *x, const ntg_tdesc *y,
                            uint64_t n)
{
    uint32_t *p = ntg__vk_dispatch(e, pipe, MP_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return NULL;
    int64_t len = x->dims[x->rank - 1], k = ntg__attr_i(e->attr, NTG_POOL_KERNEL);
    int64_t s = ntg__attr_i(e->attr, NTG_POOL_STRIDE);
    p[MP_ROWS] = (uint32_t)(len > 0 ? ntg__tdesc_numel(x) / len : 0);
    p[MP_LEN] = (uint32_t)len;
    p[MP_NOUT] = (uint32_t)y->dims[y->rank - 1];
    p[MP_K] = (uint32_t)k;
    p[MP_S] = (uint32_t)(s == 0 ? k : s);
    p[MP_PAD] = (uint32_t)ntg__attr_i(e->attr, NTG_POOL_PAD);
    return p;
}

ntg_status ntg__vk_fwd_maxpool1d(ntg__vk_ctx *e)
{
    uint32_t *p =
        pool_words(e, NTG_VK_PIPE_maxpool1d_fwd, &e->in[0].d, &e->out[0].d, nel(&e->out[0]));
    if (!p) return e->status;
    ntg__vk_ref(e, p + MP_X, &e->in[0], 0);
    ntg__vk_ref(e, p + MP_Y, &e->out[0], 0);
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* in = [x, y, dy], out = [dx]; the argmax is recomputed from the saved x. */
ntg_status ntg__vk_bwd_maxpool1d(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    uint32_t *p =
        pool_words(e, NTG_VK_PIPE_maxpool1d_bwd, &e->in[0].d, &e->in[1].d, nel(&e->in[0]));
    if (!p) return e->status;
    ntg__vk_ref(e, p + MP_X, &e->in[0], 0);
    ntg__vk_ref(e, p + MP_DY, dy, 0);
    ntg__vk_ref(e, p + MP_DX, &e->out[0], 0);
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_read(e, dy);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

static uint32_t *interp_words(ntg__vk_ctx *e, int pipe, const ntg_tdesc *x, const ntg_tdesc *y,
                              uint64_t n)
{
    uint32_t *p = ntg__vk_dispatch(e, pipe, IP_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return NULL;
    int64_t in = x->dims[x->rank - 1], size = y->dims[y->rank - 1];
    int align = (int)ntg__attr_i(e->attr, NTG_INTERP_ALIGN);
    /* in float, as ATen and the reference compute it */
    float scale;
    if (align)
        scale = size > 1 ? (float)(in - 1) / (float)(size - 1) : 0.0f;
    else
        scale = (float)in / (float)size;
    p[IP_ROWS] = (uint32_t)(in > 0 ? ntg__tdesc_numel(x) / in : 0);
    p[IP_IN] = (uint32_t)in;
    p[IP_SIZE] = (uint32_t)size;
    p[IP_ALIGN] = (uint32_t)align;
    p[IP_SCALE] = ntg__vk_fbits(scale);
    return p;
}

ntg_status ntg__vk_fwd_interp_linear(ntg__vk_ctx *e)
{
    uint32_t *p =
        interp_words(e, NTG_VK_PIPE_interp_linear_fwd, &e->in[0].d, &e->out[0].d, nel(&e->out[0]));
    if (!p) return e->status;
    ntg__vk_ref(e, p + IP_X, &e->in[0], 0);
    ntg__vk_ref(e, p + IP_Y, &e->out[0], 0);
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

ntg_status ntg__vk_bwd_interp_linear(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    uint32_t *p =
        interp_words(e, NTG_VK_PIPE_interp_linear_bwd, &e->in[0].d, &e->in[1].d, nel(&e->in[0]));
    if (!p) return e->status;
    ntg__vk_ref(e, p + IP_DY, dy, 0);
    ntg__vk_ref(e, p + IP_DX, &e->out[0], 0);
    ntg__vk_read(e, dy);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* ------------------------------------------------------------- reductions */

static ntg_status reduce_fwd(ntg__vk_ctx *e, uint32_t mode)
{
    const ntg_tdesc *x = &e->in[0].d;
    int ax = ntg__axis(ntg__attr_i(e->attr, NTG_REDUCE_AXIS), x->rank);
    int64_t outer, len, inner;
    around(x, ax, &outer, &len, &inner);
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_reduce_fwd, RD_WORDS,
                                   ntg__vk_line_groups(e, (uint64_t)(outer * inner)), 1, 1);
    if (!p) return e->status;
    ntg__vk_ref(e, p + RD_X, &e->in[0], 0);
    ntg__vk_ref(e, p + RD_Y, &e->out[0], 0);
    p[RD_OUTER] = (uint32_t)outer;
    p[RD_LEN] = (uint32_t)len;
    p[RD_INNER] = (uint32_t)inner;
    p[RD_MODE] = mode;
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* in = [x, y, dy], out = [dx] */
static ntg_status reduce_bwd(ntg__vk_ctx *e, uint32_t mode)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    const ntg_tdesc *x = &e->in[0].d;
    int ax = ntg__axis(ntg__attr_i(e->attr, NTG_REDUCE_AXIS), x->rank);
    int64_t outer, len, inner;
    around(x, ax, &outer, &len, &inner);
    uint64_t n = mode == RD_MAX ? (uint64_t)(outer * inner) : (uint64_t)(outer * len * inner);
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_reduce_bwd, RD_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return e->status;
    if (mode == RD_MAX) {
        ntg__vk_ref(e, p + RD_X, &e->in[0], 0);
        ntg__vk_ref(e, p + RD_Y, &e->in[1], 0);
        ntg__vk_read(e, &e->in[0]);
        ntg__vk_read(e, &e->in[1]);
    }
    ntg__vk_ref(e, p + RD_DY, dy, 0);
    ntg__vk_ref(e, p + RD_DX, &e->out[0], 0);
    p[RD_OUTER] = (uint32_t)outer;
    p[RD_LEN] = (uint32_t)len;
    p[RD_INNER] = (uint32_t)inner;
    p[RD_MODE] = mode;
    ntg__vk_read(e, dy);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

ntg_status ntg__vk_fwd_reduce_sum(ntg__vk_ctx *e)
{
    return reduce_fwd(e, RD_SUM);
}
ntg_status ntg__vk_bwd_reduce_sum(ntg__vk_ctx *e)
{
    return reduce_bwd(e, RD_SUM);
}
ntg_status ntg__vk_fwd_reduce_mean(ntg__vk_ctx *e)
{
    return reduce_fwd(e, RD_MEAN);
}
ntg_status ntg__vk_bwd_reduce_mean(ntg__vk_ctx *e)
{
    return reduce_bwd(e, RD_MEAN);
}
ntg_status ntg__vk_fwd_reduce_max(ntg__vk_ctx *e)
{
    return reduce_fwd(e, RD_MAX);
}
ntg_status ntg__vk_bwd_reduce_max(ntg__vk_ctx *e)
{
    return reduce_bwd(e, RD_MAX);
}

static uint32_t *softmax_words(ntg__vk_ctx *e, int pipe, const ntg_tdesc *x, int log_form)
{
    int ax = ntg__axis(ntg__attr_i(e->attr, NTG_SOFTMAX_AXIS), x->rank);
    int64_t outer, len, inner;
    around(x, ax, &outer, &len, &inner);
    uint32_t *p = ntg__vk_dispatch(e, pipe, SM_WORDS,
                                   ntg__vk_line_groups(e, (uint64_t)(outer * inner)), 1, 1);
    if (!p) return NULL;
    p[SM_OUTER] = (uint32_t)outer;
    p[SM_LEN] = (uint32_t)len;
    p[SM_INNER] = (uint32_t)inner;
    p[SM_LOG] = (uint32_t)log_form;
    return p;
}

static ntg_status softmax_fwd(ntg__vk_ctx *e, int log_form)
{
    uint32_t *p = softmax_words(e, NTG_VK_PIPE_softmax_fwd, &e->in[0].d, log_form);
    if (!p) return e->status;
    ntg__vk_ref(e, p + SM_X, &e->in[0], 0);
    ntg__vk_ref(e, p + SM_Y, &e->out[0], 0);
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* in = [x, y, dy], out = [dx], from the saved y */
static ntg_status softmax_bwd(ntg__vk_ctx *e, int log_form)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    uint32_t *p = softmax_words(e, NTG_VK_PIPE_softmax_bwd, &e->in[1].d, log_form);
    if (!p) return e->status;
    ntg__vk_ref(e, p + SM_Y, &e->in[1], 0);
    ntg__vk_ref(e, p + SM_DY, dy, 0);
    ntg__vk_ref(e, p + SM_DX, &e->out[0], 0);
    ntg__vk_read(e, &e->in[1]);
    ntg__vk_read(e, dy);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

ntg_status ntg__vk_fwd_softmax(ntg__vk_ctx *e)
{
    return softmax_fwd(e, 0);
}
ntg_status ntg__vk_bwd_softmax(ntg__vk_ctx *e)
{
    return softmax_bwd(e, 0);
}
ntg_status ntg__vk_fwd_log_softmax(ntg__vk_ctx *e)
{
    return softmax_fwd(e, 1);
}
ntg_status ntg__vk_bwd_log_softmax(ntg__vk_ctx *e)
{
    return softmax_bwd(e, 1);
}

/* ---------------------------------------------------------------- layernorm */

static uint32_t *ln_words(ntg__vk_ctx *e, int pipe, const ntg_tdesc *x, int affine)
{
    int64_t d = x->dims[x->rank - 1], rows = ntg__tdesc_numel(x) / d;
    uint32_t *p = ntg__vk_dispatch(e, pipe, LN_WORDS, ntg__vk_line_groups(e, (uint64_t)rows), 1, 1);
    if (!p) return NULL;
    p[LN_ROWS] = (uint32_t)rows;
    p[LN_D] = (uint32_t)d;
    p[LN_AFFINE] = (uint32_t)affine;
    p[LN_EPS] = ntg__vk_fbits(ntg__attr_f(e->attr, NTG_LAYERNORM_EPS));
    return p;
}

ntg_status ntg__vk_fwd_layernorm(ntg__vk_ctx *e)
{
    int affine = e->n_in == 3;
    uint32_t *p = ln_words(e, NTG_VK_PIPE_layernorm_fwd, &e->in[0].d, affine);
    if (!p) return e->status;
    ntg__vk_ref(e, p + LN_X, &e->in[0], 0);
    ntg__vk_ref(e, p + LN_Y, &e->out[0], 0);
    ntg__vk_read(e, &e->in[0]);
    if (affine) {
        ntg__vk_ref(e, p + LN_W, &e->in[1], 0);
        ntg__vk_ref(e, p + LN_B, &e->in[2], 0);
        ntg__vk_read(e, &e->in[1]);
        ntg__vk_read(e, &e->in[2]);
    }
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* in = [x, (weight, bias), y, dy], out = [dx, (dweight, dbias)] */
ntg_status ntg__vk_bwd_layernorm(ntg__vk_ctx *e)
{
    int nfi = e->n_out, affine = nfi == 3;
    const ntg__vk_opnd *dy = bwd_dy(e, 0), *dx = &e->out[0];
    const ntg__vk_opnd *dw = affine ? &e->out[1] : NULL, *db = affine ? &e->out[2] : NULL;
    if (!any_wanted(e)) return NTG_OK;
    if (!dy) return zero_wanted(e);
    const ntg_tdesc *x = &e->in[0].d;
    int64_t d = x->dims[x->rank - 1], rows = ntg__tdesc_numel(x) / d;
    ntg__vk_opnd xh;
    int want_w = dw && dw->present;
    if (want_w) xh = ntg__vk_scratch(e, nel_max(e, &e->in[0]));
    if (dx->present || want_w) {
        uint32_t *p = ln_words(e, NTG_VK_PIPE_layernorm_bwd, x, affine);
        if (!p) return e->status;
        ntg__vk_ref(e, p + LN_X, &e->in[0], 0);
        ntg__vk_ref(e, p + LN_DY, dy, 0);
        ntg__vk_read(e, &e->in[0]);
        ntg__vk_read(e, dy);
        if (affine) {
            ntg__vk_ref(e, p + LN_W, &e->in[1], 0);
            ntg__vk_read(e, &e->in[1]);
        }
        if (dx->present) {
            ntg__vk_ref(e, p + LN_DX, dx, 0);
            p[LN_HAS_DX] = 1;
            ntg__vk_write(e, dx);
        }
        if (want_w) {
            ntg__vk_ref(e, p + LN_XH, &xh, 0);
            p[LN_HAS_XH] = 1;
            ntg__vk_write(e, &xh);
        }
    }
    if (want_w && ntg__vk_colsum(e, &xh, (uint64_t)rows, (uint64_t)d, (uint64_t)d, dw, NULL))
        return e->status;
    if (db && db->present &&
        ntg__vk_colsum(e, dy, (uint64_t)rows, (uint64_t)d, (uint64_t)d, db, NULL))
        return e->status;
    return e->status;
}

/* ------------------------------------------------------------------- losses */

typedef struct loss_geom {
    uint32_t kind, outer, nq, inner;
} loss_geom;

static loss_geom loss_geom_of(const ntg__vk_ctx *e, uint32_t kind)
{
    loss_geom g = {kind, 1, 1, (uint32_t)nel(&e->in[1])};
    if (kind == LS_PINBALL) {
        const ntg_tdesc *y = &e->in[0].d;
        int ax = ntg__axis(ntg__attr_i(e->attr, NTG_PINBALL_AXIS), y->rank);
        int64_t outer, len, inner;
        around(y, ax, &outer, &len, &inner);
        g.outer = (uint32_t)outer;
        g.nq = (uint32_t)len;
        g.inner = (uint32_t)inner;
    }
    return g;
}

/* The words every loss shader shares: operands y, t, mask, the geometry and quantiles. */
static void loss_common(ntg__vk_ctx *e, uint32_t *p, const loss_geom *g, const ntg__vk_opnd *m)
{
    ntg__vk_ref(e, p + LS_Y, &e->in[0], 0);
    ntg__vk_ref(e, p + LS_T, &e->in[1], 0);
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_read(e, &e->in[1]);
    if (m) {
        ntg__vk_ref(e, p + LS_M, m, 0);
        p[LS_HAS_M] = 1;
        ntg__vk_read(e, m);
    }
    p[LS_KIND] = g->kind;
    p[LS_OUTER] = g->outer;
    p[LS_NQ] = g->nq;
    p[LS_INNER] = g->inner;
    if (g->kind == LS_HUBER) {
        double delta = ntg__attr_f(e->attr, NTG_HUBER_DELTA);
        p[LS_DELTA] = ntg__vk_fbits(delta);
        ntg__vk_dbits(p + LS_DELTA_D, delta);
    }
    if (g->kind == LS_PINBALL) {
        int64_t nq;
        const ntg_attr *q = ntg__attr_list(e->attr, NTG_PINBALL_QUANTILES, &nq);
        for (int64_t k = 0; k < nq; k++) {
            p[LS_Q + k] = ntg__vk_fbits(q[k].f);
            ntg__vk_dbits(p + LS_Q + nq + 2 * k, q[k].f);
        }
    }
}

static uint32_t loss_words(const loss_geom *g)
{
    return LS_WORDS + (g->kind == LS_PINBALL ? 3 * g->nq : 0);
}

/* loss_partial then loss_final: the loss into out (when given) and [L, sum m] into stats. */
static ntg_status loss_value(ntg__vk_ctx *e, const loss_geom *g, const ntg__vk_opnd *m,
                             const ntg__vk_opnd *out, ntg__vk_opnd *stats)
{
    uint64_t n = (uint64_t)g->outer * g->inner;
    uint64_t parts = (n + LS_CHUNK - 1) / LS_CHUNK;
    ntg__vk_opnd tmax = e->in[1];
    uint64_t pmax = (nel_max(e, &tmax) + LS_CHUNK - 1) / LS_CHUNK;
    ntg__vk_opnd part = ntg__vk_scratch(e, 2 * (pmax ? pmax : 1));
    *stats = ntg__vk_scratch(e, 2);
    uint32_t *p =
        ntg__vk_dispatch(e, NTG_VK_PIPE_loss_partial, loss_words(g), (uint32_t)parts, 1, 1);
    if (!p) return e->status;
    loss_common(e, p, g, m);
    ntg__vk_ref(e, p + LS_PART, &part, 0);
    ntg__vk_write(e, &part);
    p = ntg__vk_dispatch(e, NTG_VK_PIPE_loss_final, loss_words(g), 1, 1, 1);
    if (!p) return e->status;
    p[LS_NQ] = g->nq;
    ntg__vk_ref(e, p + LS_PART, &part, 0);
    p[LS_NPART] = (uint32_t)parts;
    ntg__vk_read(e, &part);
    if (out) {
        ntg__vk_ref(e, p + LS_OUT, out, 0);
        p[LS_HAS_OUT] = 1;
        ntg__vk_write(e, out);
    }
    ntg__vk_ref(e, p + LS_STATS, stats, 0);
    ntg__vk_write(e, stats);
    return e->status;
}

static ntg_status loss_fwd(ntg__vk_ctx *e, uint32_t kind)
{
    loss_geom g = loss_geom_of(e, kind);
    ntg__vk_opnd stats;
    return loss_value(e, &g, e->n_in > 2 ? &e->in[2] : NULL, &e->out[0], &stats);
}

/* in = [y, t, (mask), loss, dloss], out = [dy, dt, (dmask)] */
static ntg_status loss_bwd(ntg__vk_ctx *e, uint32_t kind)
{
    int nfi = e->n_out;
    const ntg__vk_opnd *m = nfi > 2 ? &e->in[2] : NULL, *dl = bwd_dy(e, 0);
    if (!any_wanted(e)) return NTG_OK;
    if (!dl) return zero_wanted(e);
    loss_geom g = loss_geom_of(e, kind);
    ntg__vk_opnd stats;
    if (loss_value(e, &g, m, NULL, &stats)) return e->status;
    uint64_t n = (uint64_t)g.outer * g.inner;
    uint32_t *p =
        ntg__vk_dispatch(e, NTG_VK_PIPE_loss_bwd, loss_words(&g), ntg__vk_groups1d(n), 1, 1);
    if (!p) return e->status;
    loss_common(e, p, &g, m);
    ntg__vk_ref(e, p + LS_STATS, &stats, 0);
    ntg__vk_read(e, &stats);
    ntg__vk_ref(e, p + LS_DL, dl, 0);
    ntg__vk_read(e, dl);
    static const int slot[3] = {LS_DY, LS_DT, LS_DM};
    for (int i = 0; i < nfi && i < 3; i++)
        if (e->out[i].present) {
            ntg__vk_ref(e, p + slot[i], &e->out[i], 0);
            p[slot[i] + 2] = 1;
            ntg__vk_write(e, &e->out[i]);
        }
    return e->status;
}

ntg_status ntg__vk_fwd_loss_mse(ntg__vk_ctx *e)
{
    return loss_fwd(e, LS_MSE);
}
ntg_status ntg__vk_bwd_loss_mse(ntg__vk_ctx *e)
{
    return loss_bwd(e, LS_MSE);
}
ntg_status ntg__vk_fwd_loss_mae(ntg__vk_ctx *e)
{
    return loss_fwd(e, LS_MAE);
}
ntg_status ntg__vk_bwd_loss_mae(ntg__vk_ctx *e)
{
    return loss_bwd(e, LS_MAE);
}
ntg_status ntg__vk_fwd_loss_huber(ntg__vk_ctx *e)
{
    return loss_fwd(e, LS_HUBER);
}
ntg_status ntg__vk_bwd_loss_huber(ntg__vk_ctx *e)
{
    return loss_bwd(e, LS_HUBER);
}
ntg_status ntg__vk_fwd_loss_pinball(ntg__vk_ctx *e)
{
    return loss_fwd(e, LS_PINBALL);
}
ntg_status ntg__vk_bwd_loss_pinball(ntg__vk_ctx *e)
{
    return loss_bwd(e, LS_PINBALL);
}

/* --------------------------------------------------------------- optimizers */

/* in = [param, grad, ctl, (momentum buffer)], updated in place */
ntg_status ntg__vk_fwd_sgd(ntg__vk_ctx *e)
{
    uint64_t n = nel(&e->in[0]);
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_sgd_fwd, SG_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return e->status;
    ntg__vk_ref(e, p + SG_P, &e->in[0], 0);
    ntg__vk_ref(e, p + SG_G, &e->in[1], 0);
    ntg__vk_ref(e, p + SG_CTL, &e->in[2], 0);
    for (int i = 0; i < 3; i++) ntg__vk_read(e, &e->in[i]);
    ntg__vk_write(e, &e->in[0]);
    if (e->n_in > 3) {
        ntg__vk_ref(e, p + SG_BUF, &e->in[3], 0);
        p[SG_HAS_BUF] = 1;
        ntg__vk_read(e, &e->in[3]);
        ntg__vk_write(e, &e->in[3]);
    }
    p[SG_N] = (uint32_t)n;
    p[SG_MOMENTUM] = ntg__vk_fbits(ntg__attr_f(e->attr, NTG_SGD_MOMENTUM));
    p[SG_DAMPENING] = ntg__vk_fbits(ntg__attr_f(e->attr, NTG_SGD_DAMPENING));
    p[SG_NESTEROV] = (uint32_t)(ntg__attr_i(e->attr, NTG_SGD_NESTEROV) != 0);
    p[SG_WD] = ntg__vk_fbits(ntg__attr_f(e->attr, NTG_SGD_WEIGHT_DECAY));
    ntg__vk_dbits(p + SG_MOMENTUM_D, ntg__attr_f(e->attr, NTG_SGD_MOMENTUM));
    ntg__vk_dbits(p + SG_DAMPENING_D, ntg__attr_f(e->attr, NTG_SGD_DAMPENING));
    ntg__vk_dbits(p + SG_WD_D, ntg__attr_f(e->attr, NTG_SGD_WEIGHT_DECAY));
    return e->status;
}

/* The step's factors of an Adam op from its control tensor [lr, t, ...], computed as the
 * reference does (ops/ref/k_optim.c: double, libm pow), as floats and doubles. */
void ntg__vk_adam_words(const ntg_attr *attr, const float *ctl, uint32_t *p)
{
    double beta1 = ntg__attr_f(attr, NTG_ADAM_BETA1), beta2 = ntg__attr_f(attr, NTG_ADAM_BETA2);
    double wd = ntg__attr_f(attr, NTG_ADAM_WEIGHT_DECAY);
    double lr = (double)ctl[NTG_CTL_LR], t = (double)ctl[NTG_CTL_STEP];
    if (!(t >= 1.0)) t = 1.0;
    double step_size = lr / (1.0 - pow(beta1, t));
    double bc2_sqrt = sqrt(1.0 - pow(beta2, t));
    double decay = 1.0 - lr * wd;
    p[AD_STEP_SIZE] = ntg__vk_fbits(step_size);
    p[AD_BC2_SQRT] = ntg__vk_fbits(bc2_sqrt);
    p[AD_DECAY] = ntg__vk_fbits(decay);
    ntg__vk_dbits(p + AD_STEP_SIZE_D, step_size);
    ntg__vk_dbits(p + AD_BC2_SQRT_D, bc2_sqrt);
    ntg__vk_dbits(p + AD_DECAY_D, decay);
}

/* in = [param, grad, m, v, ctl]: the shader never reads ctl; the backend writes the step's
 * factors from its last upload before every run (ntg__vk_ctl_shadow). */
ntg_status ntg__vk_fwd_adam(ntg__vk_ctx *e)
{
    uint64_t n = nel(&e->in[0]);
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_adam_fwd, AD_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return e->status;
    static const int slot[4] = {AD_P, AD_G, AD_M, AD_V};
    for (int i = 0; i < 4; i++) {
        ntg__vk_ref(e, p + slot[i], &e->in[i], 0);
        ntg__vk_read(e, &e->in[i]);
    }
    ntg__vk_write(e, &e->in[0]);
    ntg__vk_write(e, &e->in[2]);
    ntg__vk_write(e, &e->in[3]);
    double b1 = ntg__attr_f(e->attr, NTG_ADAM_BETA1), b2 = ntg__attr_f(e->attr, NTG_ADAM_BETA2);
    p[AD_N] = (uint32_t)n;
    p[AD_BETA1] = ntg__vk_fbits(b1);
    p[AD_BETA2] = ntg__vk_fbits(b2);
    p[AD_EPS] = ntg__vk_fbits(ntg__attr_f(e->attr, NTG_ADAM_EPS));
    p[AD_WD] = ntg__vk_fbits(ntg__attr_f(e->attr, NTG_ADAM_WEIGHT_DECAY));
    p[AD_DECOUPLED] = (uint32_t)(ntg__attr_i(e->attr, NTG_ADAM_DECOUPLED) != 0);
    p[AD_OMB1] = ntg__vk_fbits(1.0 - b1);
    p[AD_OMB2] = ntg__vk_fbits(1.0 - b2);
    ntg__vk_dbits(p + AD_BETA1_D, b1);
    ntg__vk_dbits(p + AD_BETA2_D, b2);
    ntg__vk_dbits(p + AD_EPS_D, ntg__attr_f(e->attr, NTG_ADAM_EPS));
    ntg__vk_dbits(p + AD_WD_D, ntg__attr_f(e->attr, NTG_ADAM_WEIGHT_DECAY));
    if (e->in[4].present)
        ntg__vk_adam_words(e->attr, ntg__vk_ctl_shadow(e->b, e->in[4].sto, e->in[4].off), p);
    return e->status;
}

/* in = [grads...], out = [total norm]: partial sums of squares per chunk, the norm, the
 * scaling; the inputs' table is in both the first and the last dispatch's words. */
ntg_status ntg__vk_fwd_clip_grad_norm(ntg__vk_ctx *e)
{
    uint64_t chunks = 0;
    for (int i = 0; i < e->n_in; i++) chunks += (nel(&e->in[i]) + CL_CHUNK - 1) / CL_CHUNK;
    uint32_t words = CL_WORDS + (uint32_t)e->n_in * CL_TAB_WORDS;
    ntg__vk_opnd part = ntg__vk_scratch(e, chunks ? chunks : 1), stats = ntg__vk_scratch(e, 1);
    for (int pass = 0; pass < 3; pass++) {
        int pipe = pass == 0   ? NTG_VK_PIPE_clip_grad_norm_partial
                   : pass == 1 ? NTG_VK_PIPE_clip_grad_norm_final
                               : NTG_VK_PIPE_clip_grad_norm_scale;
        uint32_t groups = pass == 1 ? 1 : (uint32_t)chunks;
        uint32_t *p = ntg__vk_dispatch(e, pipe, words, groups, 1, 1);
        if (!p) return e->status;
        ntg__vk_ref(e, p + CL_PART, &part, 0);
        p[CL_NPART] = (uint32_t)chunks;
        ntg__vk_ref(e, p + CL_STATS, &stats, 0);
        ntg__vk_ref(e, p + CL_OUT, &e->out[0], 0);
        p[CL_MAXNORM] = ntg__vk_fbits(ntg__attr_f(e->attr, NTG_CLIP_MAX_NORM));
        p[CL_NIN] = (uint32_t)e->n_in;
        uint64_t first = 0;
        for (int i = 0; i < e->n_in; i++) {
            uint32_t *t = p + CL_TAB + (uint32_t)i * CL_TAB_WORDS;
            uint64_t n = nel(&e->in[i]);
            ntg__vk_ref(e, t + CL_TAB_STO, &e->in[i], 0);
            t[CL_TAB_N] = (uint32_t)n;
            t[CL_TAB_FIRST] = (uint32_t)first;
            first += (n + CL_CHUNK - 1) / CL_CHUNK;
            if (pass != 1) ntg__vk_read(e, &e->in[i]);
            if (pass == 2) ntg__vk_write(e, &e->in[i]);
        }
        if (pass == 0) ntg__vk_write(e, &part);
        if (pass == 1) {
            ntg__vk_read(e, &part);
            ntg__vk_write(e, &e->out[0]);
            ntg__vk_write(e, &stats);
        }
        if (pass == 2) ntg__vk_read(e, &stats);
    }
    return e->status;
}

/* ------------------------------------------------------------------- posenc */

/* The compiler folds posenc into a constant, so plans never run it; it runs here all the
 * same, in float (within 1e-5 of the reference's double table for the lengths models use). */
ntg_status ntg__vk_fwd_posenc(ntg__vk_ctx *e)
{
    const ntg_tdesc *y = &e->out[0].d;
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_posenc_fwd, PE_WORDS,
                                   ntg__vk_groups1d(nel(&e->out[0])), 1, 1);
    if (!p) return e->status;
    ntg__vk_ref(e, p + PE_Y, &e->out[0], 0);
    p[PE_LEN] = (uint32_t)y->dims[0];
    p[PE_D] = (uint32_t)y->dims[1];
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* -------------------------------------------------------------------- basis */

/* The compiler folds basis into a constant, so plans never run it.  A float shader would not
 * equal the double table (cos of angles up to ~300 rad), so it is refused, naming the op
 * (docs/vulkan.md), rather than run approximately. */
ntg_status ntg__vk_fwd_basis(ntg__vk_ctx *e)
{
    return e->status = ntg__fail(e->err, NTG_ERR_UNSUPPORTED,
                                 "basis: no Vulkan kernel (the compiler folds basis into a "
                                 "constant); run the op on the cpu or xnnpack backend");
}
