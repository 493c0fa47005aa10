/* ops_harness.h — runs one op kernel on guarded buffers, plus double-precision reference ops. */
#ifndef NTG_OPS_HARNESS_H
#define NTG_OPS_HARNESS_H

/*
 * Shared by the op tests of every backend.  A test fills an oh_case (op code, attribute slots,
 * input descriptions and data), then
 *   oh_forward(t, fwd_kernel, scratch_fn)   infers the outputs with the op class (as the
 *                                           compiler and the plan loader do), allocates them
 *                                           between sentinel guard zones, runs the kernel and
 *                                           checks the guards, the scratch guards and that no
 *                                           input was written;
 *   oh_backward(t, bwd_kernel, scratch_fn, dy, want)
 *                                           runs the backward kernel the way the executor
 *                                           will: forward values outside bwd_saves passed
 *                                           with data == NULL, absent output gradients and
 *                                           input gradients not in `want` as all-zero views
 *                                           (as NTG_NONE operands arrive), the same checks.
 * Outputs start filled with a NaN sentinel, so an element a kernel forgets to write (or
 * accumulates into without clearing) shows up as NaN in the comparison.
 *
 * The second half is a plain double-precision implementation of every op (oh_ref_forward),
 * written from the PyTorch definitions without sharing code with any kernel: the oracle's own
 * oracle, and the function finite differences are taken of.
 */

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_attrs.h"
#include "ops.h"

#define OH_MAX_SLOTS 128
#define OH_MAX_IN 64
#define OH_MAX_OUT 4
#define OH_GUARD 64             /* floats of sentinel on each side of every buffer */
#define OH_SENTINEL 0xffc0beefu /* a negative quiet NaN with a recognisable payload */

/* ------------------------------------------------------------- attributes */

typedef struct oh_attrs {
    ntg_attr slot[OH_MAX_SLOTS];
    uint32_t n;       /* slots in use, list items included */
    uint32_t n_fixed; /* the schema's slots */
} oh_attrs;

/* The op's schema defaults (lists empty). */
static inline void oh_attrs_init(oh_attrs *a, uint32_t code)
{
    const ntg_op_class *cls = ntg__op_info(code)->cls;
    memset(a, 0, sizeof *a);
    a->n_fixed = a->n = (uint32_t)cls->n_attrs;
    for (int k = 0; k < cls->n_attrs; k++) {
        const ntg_attr_spec *s = &cls->attrs[k];
        if (s->kind == NTG_AK_INTS || s->kind == NTG_AK_FLOATS)
            a->slot[k].i = (int64_t)((uint64_t)a->n_fixed << 32);
        else if (s->kind == NTG_AK_FLOAT)
            a->slot[k].f = s->def;
        else
            a->slot[k].i = (int64_t)s->def;
    }
}

static inline void oh_attrs_set_i(oh_attrs *a, int k, int64_t v)
{
    a->slot[k].i = v;
}

static inline void oh_attrs_set_f(oh_attrs *a, int k, double v)
{
    a->slot[k].f = v;
}

/* List attribute k: the items go after the slots in use; the slot holds offset << 32 | n. */
static inline int oh_attrs_set_ints(oh_attrs *a, int k, const int64_t *v, int n)
{
    if (n < 0 || a->n + (uint32_t)n > OH_MAX_SLOTS) return -1;
    a->slot[k].i = (int64_t)((uint64_t)a->n << 32 | (uint32_t)n);
    for (int i = 0; i < n; i++) a->slot[a->n + (uint32_t)i].i = v[i];
    a->n += (uint32_t)n;
    return 0;
}

static inline int oh_attrs_set_floats(oh_attrs *a, int k, const double *v, int n)
{
    if (n < 0 || a->n + (uint32_t)n > OH_MAX_SLOTS) return -1;
    a->slot[k].i = (int64_t)((uint64_t)a->n << 32 | (uint32_t)n);
    for (int i = 0; i < n; i++) a->slot[a->n + (uint32_t)i].f = v[i];
    a->n += (uint32_t)n;
    return 0;
}

/* ------------------------------------------------------------ descriptions */

/* oh_shape(batched, rank, d0, d1, ...) with int extents; a batched tensor's d0 is its batch. */
static inline ntg_tdesc oh_shape(int batched, int rank, ...)
{
    ntg_tdesc d;
    va_list ap;
    memset(&d, 0, sizeof d);
    d.dtype = NTG_DTYPE_F32;
    d.rank = (uint8_t)rank;
    d.batched = (uint8_t)(batched != 0);
    va_start(ap, rank);
    for (int i = 0; i < rank && i < NTG_MAX_RANK; i++) d.dims[i] = va_arg(ap, int);
    va_end(ap);
    return d;
}

static inline size_t oh_numel(const ntg_tdesc *d)
{
    return (size_t)ntg__tdesc_numel(d);
}

/* ---------------------------------------------------------- guarded buffers */

typedef struct oh_buf {
    float *data; /* numel floats between two guard zones; NULL when not allocated */
    float *base;
    size_t n;
    ntg_tdesc d;
} oh_buf;

static inline void oh_fill_sentinel(float *p, size_t n)
{
    uint32_t s = OH_SENTINEL;
    for (size_t i = 0; i < n; i++) memcpy(&p[i], &s, sizeof s);
}

static inline int oh_is_sentinel(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, &p[i], sizeof v);
        if (v != OH_SENTINEL) return 0;
    }
    return 1;
}

/* 64-byte aligned data (as arena offsets are), sentinel everywhere. */
static inline int oh_buf_alloc(oh_buf *b, const ntg_tdesc *d)
{
    size_t n = oh_numel(d), total = n + 2 * OH_GUARD;
    size_t bytes = (total * sizeof(float) + 63) / 64 * 64;
    b->d = *d;
    b->n = n;
    b->base = aligned_alloc(64, bytes);
    b->data = b->base ? b->base + OH_GUARD : NULL;
    if (b->base) oh_fill_sentinel(b->base, total);
    return b->base ? 0 : -1;
}

static inline int oh_buf_guards_ok(const oh_buf *b)
{
    return !b->base ||
           (oh_is_sentinel(b->base, OH_GUARD) && oh_is_sentinel(b->data + b->n, OH_GUARD));
}

static inline void oh_buf_free(oh_buf *b)
{
    free(b->base);
    b->base = b->data = NULL;
}

static inline uint64_t oh_hash(const void *p, size_t bytes)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < bytes; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* ------------------------------------------------------------------- cases */

typedef size_t (*oh_scratch_fn)(uint32_t code, int dir, const ntg_kctx *c);

typedef struct oh_case {
    uint32_t code;
    oh_attrs attrs;
    int n_in;
    ntg_view in[OH_MAX_IN]; /* forward inputs, at the actual batch: the test owns the data */
    int max_batch;          /* batch the scratch is sized for (0: the actual batch) */
    int want_out;           /* outputs oh_forward creates (0: the op's minimum; split's pieces) */
    /* filled by oh_forward */
    int batch, n_out;
    oh_buf out[OH_MAX_OUT];
    /* filled by oh_backward */
    uint32_t saves;       /* the bwd_saves mask used */
    oh_buf dx[OH_MAX_IN]; /* gradients of the inputs (data NULL where not wanted) */
    char msg[512];        /* why oh_forward / oh_backward returned -1 */
} oh_case;

static inline void oh_case_init(oh_case *t, uint32_t code)
{
    memset(t, 0, sizeof *t);
    t->code = code;
    oh_attrs_init(&t->attrs, code);
}

static inline void oh_case_input(oh_case *t, ntg_tdesc d, float *data)
{
    if (t->n_in < OH_MAX_IN) {
        t->in[t->n_in].d = d;
        t->in[t->n_in].data = data;
        t->n_in++;
    }
}

static inline void oh_case_free(oh_case *t)
{
    for (int i = 0; i < OH_MAX_OUT; i++) oh_buf_free(&t->out[i]);
    for (int i = 0; i < OH_MAX_IN; i++) oh_buf_free(&t->dx[i]);
}

static inline int oh_fail(oh_case *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static inline ntg_opsig oh_sig(const oh_case *t, const ntg_tdesc *in, int n_out)
{
    ntg_opsig s;
    s.attr = t->attrs.slot;
    s.n_attr = t->attrs.n;
    s.n_in = t->n_in;
    s.in = in;
    s.n_out = n_out;
    return s;
}

/* The kernel context of views `in`/`out` with scratch sized by `sfn` for the operands at
 * max_batch (as sessions size it), guarded like the outputs; *scratch is its buffer. */
static inline int oh_call(oh_case *t, ntg_kernel_fn fn, oh_scratch_fn sfn, int dir, int n_in,
                          const ntg_view *in, int n_out, const ntg_view *out)
{
    ntg_kctx c;
    ntg_view big[2 * OH_MAX_IN + 2];
    oh_buf scratch;
    memset(&c, 0, sizeof c);
    memset(&scratch, 0, sizeof scratch);
    c.attr = t->attrs.slot;
    c.n_attr = t->attrs.n;
    c.n_in = n_in;
    c.n_out = n_out;
    c.out = out;
    c.batch = t->batch;
    if (sfn) {
        int mb = t->max_batch > t->batch ? t->max_batch : t->batch;
        for (int i = 0; i < n_in; i++) {
            big[i] = in[i];
            if (big[i].d.batched) big[i].d.dims[0] = mb;
        }
        c.in = big;
        size_t bytes = sfn(t->code, dir, &c);
        if (bytes) {
            ntg_tdesc sd = oh_shape(0, 1, (int)((bytes + sizeof(float) - 1) / sizeof(float)));
            if (oh_buf_alloc(&scratch, &sd)) return oh_fail(t, "out of memory");
            c.scratch = scratch.data;
            c.scratch_bytes = bytes;
        }
    }
    c.in = in;

    uint64_t h[2 * OH_MAX_IN + 2];
    for (int i = 0; i < n_in; i++)
        h[i] = in[i].data ? oh_hash(in[i].data, oh_numel(&in[i].d) * sizeof(float)) : 0;
    fn(&c);
    int ok = oh_buf_guards_ok(&scratch);
    oh_buf_free(&scratch);
    if (!ok) return oh_fail(t, "%s: the kernel wrote outside its scratch", dir ? "bwd" : "fwd");
    for (int i = 0; i < n_in; i++)
        if (in[i].data && h[i] != oh_hash(in[i].data, oh_numel(&in[i].d) * sizeof(float)))
            return oh_fail(t, "%s: the kernel wrote into input %d", dir ? "bwd" : "fwd", i);
    return 0;
}

/* Infer, allocate and run the forward kernel.  0, or -1 with t->msg. */
static inline int oh_forward(oh_case *t, ntg_kernel_fn fn, oh_scratch_fn sfn)
{
    const ntg_op_info *info = ntg__op_info(t->code);
    ntg_tdesc ind[OH_MAX_IN], outd[OH_MAX_OUT];
    char msg[256];
    if (!info) return oh_fail(t, "no op %u", t->code);
    if (t->n_in < info->n_in_min || t->n_in > info->n_in_max)
        return oh_fail(t, "%s takes %d..%d inputs, not %d", info->cls->name, info->n_in_min,
                       info->n_in_max, t->n_in);
    if (ntg__attr_check(info->cls, t->attrs.slot, t->attrs.n, msg, sizeof msg))
        return oh_fail(t, "attributes: %s", msg);
    t->batch = 1;
    for (int i = t->n_in - 1; i >= 0; i--) {
        ind[i] = t->in[i].d;
        if (ind[i].batched) t->batch = (int)ind[i].dims[0];
    }
    t->n_out = t->want_out > 0 ? t->want_out : info->n_out_min;
    if (t->n_out > OH_MAX_OUT || t->n_out < info->n_out_min || t->n_out > info->n_out_max)
        return oh_fail(t, "%s cannot have %d outputs here", info->cls->name, t->n_out);
    ntg_opsig sig = oh_sig(t, ind, t->n_out);
    memset(outd, 0, sizeof outd);
    if (info->cls->infer(&sig, outd, msg, sizeof msg)) return oh_fail(t, "infer: %s", msg);

    ntg_view ov[OH_MAX_OUT];
    for (int j = 0; j < t->n_out; j++) {
        oh_buf_free(&t->out[j]);
        if (oh_buf_alloc(&t->out[j], &outd[j])) return oh_fail(t, "out of memory");
        ov[j].d = outd[j];
        ov[j].data = t->out[j].data;
    }
    if (oh_call(t, fn, sfn, NTG_DIR_FWD, t->n_in, t->in, t->n_out, ov)) return -1;
    for (int j = 0; j < t->n_out; j++)
        if (!oh_buf_guards_ok(&t->out[j]))
            return oh_fail(t, "fwd: the kernel wrote outside output %d", j);
    return 0;
}

/*
 * Run the backward kernel after oh_forward: dy[j] is the gradient of output j (NULL: zero),
 * bit i of `want` asks for the gradient of input i.  Forward values outside the op's
 * bwd_saves mask are passed with data == NULL, as the executor does.
 */
static inline int oh_backward(oh_case *t, ntg_kernel_fn fn, oh_scratch_fn sfn, float *const *dy,
                              uint64_t want)
{
    const ntg_op_info *info = ntg__op_info(t->code);
    ntg_tdesc ind[OH_MAX_IN];
    ntg_view bin[OH_MAX_IN + 2 * OH_MAX_OUT], bout[OH_MAX_IN];
    for (int i = 0; i < t->n_in; i++) ind[i] = t->in[i].d;
    ntg_opsig sig = oh_sig(t, ind, t->n_out);
    t->saves = info->cls->bwd_saves ? info->cls->bwd_saves(&sig) : 0xffffffffu;

    int k = 0;
    for (int i = 0; i < t->n_in; i++, k++) {
        bin[k] = t->in[i];
        if (!(t->saves & (1u << i))) bin[k].data = NULL;
    }
    for (int j = 0; j < t->n_out; j++, k++) {
        bin[k].d = t->out[j].d;
        bin[k].data = (t->saves & (1u << (16 + j))) ? t->out[j].data : NULL;
    }
    /* An absent operand (NTG_NONE in a plan) reaches kernels as an all-zero view: no data,
     * rank 0; kernels must take shapes from the forward operands. */
    for (int j = 0; j < t->n_out; j++, k++) {
        memset(&bin[k], 0, sizeof bin[k]);
        if (dy && dy[j]) {
            bin[k].d = t->out[j].d;
            bin[k].data = dy[j];
        }
    }
    for (int i = 0; i < t->n_in; i++) {
        oh_buf_free(&t->dx[i]);
        t->dx[i].d = t->in[i].d;
        t->dx[i].n = oh_numel(&t->in[i].d);
        memset(&bout[i], 0, sizeof bout[i]);
        if ((want >> i) & 1u) {
            if (oh_buf_alloc(&t->dx[i], &t->in[i].d)) return oh_fail(t, "out of memory");
            bout[i].d = t->in[i].d;
            bout[i].data = t->dx[i].data;
        }
    }
    if (oh_call(t, fn, sfn, NTG_DIR_BWD, k, bin, t->n_in, bout)) return -1;
    for (int i = 0; i < t->n_in; i++)
        if (!oh_buf_guards_ok(&t->dx[i]))
            return oh_fail(t, "bwd: the kernel wrote outside the gradient of input %d", i);
    return 0;
}

/*
 * In-place ops (optimizers, clip_grad_norm): as oh_forward, but the inputs in `writes` (bit i)
 * may be updated.  They are copied between guard zones for the kernel (so a write past them
 * is caught), and copied back into the test's data afterwards; every other input must stay
 * untouched.
 */
static inline int oh_forward_inplace(oh_case *t, ntg_kernel_fn fn, oh_scratch_fn sfn,
                                     uint64_t writes)
{
    const ntg_op_info *info = ntg__op_info(t->code);
    ntg_tdesc ind[OH_MAX_IN], outd[OH_MAX_OUT];
    ntg_view iv[OH_MAX_IN], ov[OH_MAX_OUT];
    oh_buf io[OH_MAX_IN], scratch;
    uint64_t h[OH_MAX_IN];
    ntg_kctx c;
    char msg[256];
    int rc = 0;
    if (!info) return oh_fail(t, "no op %u", t->code);
    if (t->n_in < info->n_in_min || t->n_in > info->n_in_max)
        return oh_fail(t, "%s takes %d..%d inputs, not %d", info->cls->name, info->n_in_min,
                       info->n_in_max, t->n_in);
    if (ntg__attr_check(info->cls, t->attrs.slot, t->attrs.n, msg, sizeof msg))
        return oh_fail(t, "attributes: %s", msg);
    t->batch = 1;
    for (int i = t->n_in - 1; i >= 0; i--) {
        ind[i] = t->in[i].d;
        if (ind[i].batched) t->batch = (int)ind[i].dims[0];
    }
    t->n_out = info->n_out_min;
    ntg_opsig sig = oh_sig(t, ind, t->n_out);
    memset(outd, 0, sizeof outd);
    if (info->cls->infer(&sig, outd, msg, sizeof msg)) return oh_fail(t, "infer: %s", msg);
    for (int j = 0; j < t->n_out; j++) {
        oh_buf_free(&t->out[j]);
        if (oh_buf_alloc(&t->out[j], &outd[j])) return oh_fail(t, "out of memory");
        ov[j].d = outd[j];
        ov[j].data = t->out[j].data;
    }

    memset(io, 0, sizeof io);
    memset(&scratch, 0, sizeof scratch);
    for (int i = 0; i < t->n_in; i++) {
        size_t bytes = oh_numel(&t->in[i].d) * sizeof(float);
        iv[i] = t->in[i];
        h[i] = 0;
        if ((writes >> i) & 1u) {
            if (oh_buf_alloc(&io[i], &t->in[i].d)) rc = oh_fail(t, "out of memory");
            if (rc) break;
            if (bytes) memcpy(io[i].data, t->in[i].data, bytes);
            iv[i].data = io[i].data;
        } else if (iv[i].data) {
            h[i] = oh_hash(iv[i].data, bytes);
        }
    }
    memset(&c, 0, sizeof c);
    c.attr = t->attrs.slot;
    c.n_attr = t->attrs.n;
    c.n_in = t->n_in;
    c.n_out = t->n_out;
    c.in = iv;
    c.out = ov;
    c.batch = t->batch;
    if (!rc && sfn) {
        size_t bytes = sfn(t->code, NTG_DIR_FWD, &c);
        if (bytes) {
            ntg_tdesc sd = oh_shape(0, 1, (int)((bytes + sizeof(float) - 1) / sizeof(float)));
            if (oh_buf_alloc(&scratch, &sd)) rc = oh_fail(t, "out of memory");
            c.scratch = scratch.data;
            c.scratch_bytes = bytes;
        }
    }
    if (!rc) {
        fn(&c);
        if (!oh_buf_guards_ok(&scratch))
            rc = oh_fail(t, "fwd: the kernel wrote outside its scratch");
    }
    for (int i = 0; !rc && i < t->n_in; i++) {
        size_t bytes = oh_numel(&t->in[i].d) * sizeof(float);
        if ((writes >> i) & 1u) {
            if (!oh_buf_guards_ok(&io[i]))
                rc = oh_fail(t, "fwd: the kernel wrote outside in-place input %d", i);
            else if (bytes)
                memcpy(t->in[i].data, io[i].data, bytes);
        } else if (iv[i].data && h[i] != oh_hash(iv[i].data, bytes)) {
            rc = oh_fail(t, "fwd: the kernel wrote into input %d", i);
        }
    }
    for (int j = 0; !rc && j < t->n_out; j++)
        if (!oh_buf_guards_ok(&t->out[j]))
            rc = oh_fail(t, "fwd: the kernel wrote outside output %d", j);
    for (int i = 0; i < t->n_in; i++) oh_buf_free(&io[i]);
    oh_buf_free(&scratch);
    return rc;
}

/* ============================================== double-precision reference */

/* Flat index -> multi-index over dims (row-major). */
static inline void oh_unravel(size_t flat, int rank, const int64_t *dims, int64_t *idx)
{
    for (int i = rank - 1; i >= 0; i--) {
        idx[i] = (int64_t)(flat % (size_t)dims[i]);
        flat /= (size_t)dims[i];
    }
}

static inline size_t oh_ravel(int rank, const int64_t *dims, const int64_t *idx)
{
    size_t f = 0;
    for (int i = 0; i < rank; i++) f = f * (size_t)dims[i] + (size_t)idx[i];
    return f;
}

static inline int oh_norm_axis(int64_t axis, int rank)
{
    return (int)(axis < 0 ? axis + rank : axis);
}

static inline double oh_ref_act(int act, double z)
{
    switch (act) {
    case NTG_ACT_RELU:
        return z > 0 ? z : 0;
    case NTG_ACT_GELU:
        return 0.5 * z * (1.0 + erf(z / sqrt(2.0)));
    case NTG_ACT_TANH:
        return tanh(z);
    case NTG_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-z));
    default:
        return z;
    }
}

/* Python's slice(start, end, step).indices(len) for step > 0: first index and count. */
static inline void oh_py_slice(int64_t len, int64_t start, int64_t end, int64_t step,
                               int64_t *first, int64_t *count)
{
    if (start < 0) start = start + len < 0 ? 0 : start + len;
    if (start > len) start = len;
    if (end < 0) end = end + len < 0 ? 0 : end + len;
    if (end > len) end = len;
    *first = start;
    *count = end > start ? (end - start + step - 1) / step : 0;
}

/* ATen's linear resampling weights (UpSample.h), float arithmetic on purpose: PyTorch does
 * the index math in float for float tensors, and the weights it gets are the definition. */
static inline void oh_ref_interp_src(int64_t in, int64_t size, int align, int64_t t, int64_t *i0,
                                     int64_t *i1, double *w1)
{
    if (in == size) {
        *i0 = *i1 = t;
        *w1 = 0;
        return;
    }
    float scale, src;
    if (align) {
        scale = size > 1 ? (float)(in - 1) / (float)(size - 1) : 0.0f;
        src = scale * (float)t;
    } else {
        scale = (float)in / (float)size;
        src = scale * ((float)t + 0.5f) - 0.5f;
        src = src < 0.0f ? 0.0f : src;
    }
    int64_t f = (int64_t)floorf(src);
    *i0 = f < in - 1 ? f : in - 1;
    *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
    float lam = src - (float)*i0;
    lam = lam < 0.0f ? 0.0f : lam > 1.0f ? 1.0f : lam;
    *w1 = (double)lam;
}

/*
 * The losses, written from the op docs: (1/Q) sum_q [sum_i m_i l(y_iq, t_i) / sum_i m_i] with
 * m = 1 without a mask, 0 when sum m == 0; Q = 1 and y_i1 = y_i except for pinball, whose y has
 * the quantile axis inserted into t's shape.
 */
static inline double oh_ref_loss(uint32_t code, const ntg_attr *a, int n_in, const ntg_tdesc *in_d,
                                 const double *const *in)
{
    const double *y = in[0], *t = in[1], *m = n_in > 2 ? in[2] : NULL;
    const ntg_tdesc *td = &in_d[1];
    size_t nt = oh_numel(td);
    int64_t nq = 1, ti[NTG_MAX_RANK], yi[NTG_MAX_RANK];
    const ntg_attr *q = NULL;
    int ax = 0;
    if (code == NTG_OP_loss_pinball) {
        q = ntg__attr_list(a, NTG_PINBALL_QUANTILES, &nq);
        ax = oh_norm_axis(a[NTG_PINBALL_AXIS].i, in_d[0].rank);
    }
    double wsum = 0;
    for (size_t i = 0; i < nt; i++) wsum += m ? m[i] : 1.0;
    if (wsum == 0) return 0;
    double total = 0;
    for (int64_t k = 0; k < nq; k++) {
        double s = 0;
        for (size_t i = 0; i < nt; i++) {
            size_t iy = i;
            if (q) {
                oh_unravel(i, td->rank, td->dims, ti);
                for (int d = 0, j = 0; d < in_d[0].rank; d++) yi[d] = d == ax ? k : ti[j++];
                iy = oh_ravel(in_d[0].rank, in_d[0].dims, yi);
            }
            double e = y[iy] - t[i], l, delta;
            switch (code) {
            case NTG_OP_loss_mse:
                l = e * e;
                break;
            case NTG_OP_loss_mae:
                l = fabs(e);
                break;
            case NTG_OP_loss_huber:
                delta = a[NTG_HUBER_DELTA].f;
                l = fabs(e) < delta ? 0.5 * e * e : delta * (fabs(e) - 0.5 * delta);
                break;
            default: /* q max(t - y, 0) + (1 - q) max(y - t, 0) */
                l = q[k].f * fmax(-e, 0.0) + (1.0 - q[k].f) * fmax(e, 0.0);
                break;
            }
            s += (m ? m[i] : 1.0) * l;
        }
        total += s / wsum;
    }
    return total / (double)nq;
}

/*
 * The sequence ops (matmul .. posenc), written from the op docs: every output element
 * straight from its definition, no shared loops with the kernels.  Split gives piece `piece`
 * (oh_ref_forward asks for piece 0).  Returns 0 for any other op.
 */
static inline int oh_ref_seq(uint32_t code, const ntg_attr *a, int n_in, const ntg_tdesc *in_d,
                             const double *const *in, int piece, const ntg_tdesc *out_d,
                             double *out)
{
    size_t ny = oh_numel(out_d);
    int64_t idx[NTG_MAX_RANK], j[NTG_MAX_RANK];
    int r = out_d->rank;
    const ntg_tdesc *xd = &in_d[0];
    const double *x = n_in > 0 ? in[0] : NULL;

    switch (code) {
    case NTG_OP_matmul: {
        int ta = (int)a[NTG_MATMUL_TRANS_A].i, tb = (int)a[NTG_MATMUL_TRANS_B].i;
        const ntg_tdesc *ad = &in_d[0], *bd = &in_d[1];
        int64_t k = ad->dims[ad->rank - (ta ? 2 : 1)];
        for (size_t e = 0; e < ny; e++) {
            int64_t ia[NTG_MAX_RANK], ib[NTG_MAX_RANK];
            oh_unravel(e, r, out_d->dims, idx);
            /* leading axes broadcast from the right; extent 1 repeats */
            for (int q = 0; q < ad->rank - 2; q++)
                ia[q] = ad->dims[q] == 1 ? 0 : idx[r - ad->rank + q];
            for (int q = 0; q < bd->rank - 2; q++)
                ib[q] = bd->dims[q] == 1 ? 0 : idx[r - bd->rank + q];
            double s = 0;
            for (int64_t p = 0; p < k; p++) {
                ia[ad->rank - 2] = ta ? p : idx[r - 2];
                ia[ad->rank - 1] = ta ? idx[r - 2] : p;
                ib[bd->rank - 2] = tb ? idx[r - 1] : p;
                ib[bd->rank - 1] = tb ? p : idx[r - 1];
                s += in[0][oh_ravel(ad->rank, ad->dims, ia)] *
                     in[1][oh_ravel(bd->rank, bd->dims, ib)];
            }
            out[e] = s;
        }
        return 1;
    }
    case NTG_OP_transpose: {
        int64_t n;
        const ntg_attr *perm = ntg__attr_list(a, NTG_TRANSPOSE_PERM, &n);
        for (size_t e = 0; e < ny; e++) {
            oh_unravel(e, r, out_d->dims, idx);
            for (int i = 0; i < r; i++) j[perm[i].i] = idx[i];
            out[e] = x[oh_ravel(r, xd->dims, j)];
        }
        return 1;
    }
    case NTG_OP_softmax:
    case NTG_OP_log_softmax: {
        int ax = oh_norm_axis(a[NTG_SOFTMAX_AXIS].i, r);
        for (size_t e = 0; e < ny; e++) {
            oh_unravel(e, r, out_d->dims, idx);
            memcpy(j, idx, sizeof j);
            double m = -INFINITY, s = 0;
            for (j[ax] = 0; j[ax] < xd->dims[ax]; j[ax]++) m = fmax(m, x[oh_ravel(r, xd->dims, j)]);
            for (j[ax] = 0; j[ax] < xd->dims[ax]; j[ax]++)
                s += exp(x[oh_ravel(r, xd->dims, j)] - m);
            out[e] = code == NTG_OP_softmax ? exp(x[e] - m) / s : x[e] - m - log(s);
        }
        return 1;
    }
    case NTG_OP_layernorm: {
        size_t d = (size_t)xd->dims[xd->rank - 1];
        double eps = a[NTG_LAYERNORM_EPS].f;
        for (size_t e = 0; e < ny; e++) {
            const double *row = x + e / d * d;
            double mean = 0, var = 0;
            for (size_t q = 0; q < d; q++) mean += row[q] / (double)d;
            for (size_t q = 0; q < d; q++) var += (row[q] - mean) * (row[q] - mean) / (double)d;
            double v = (x[e] - mean) / sqrt(var + eps);
            out[e] = n_in == 3 ? v * in[1][e % d] + in[2][e % d] : v;
        }
        return 1;
    }
    case NTG_OP_gelu:
    case NTG_OP_tanh:
    case NTG_OP_sigmoid: {
        int act = code == NTG_OP_gelu   ? NTG_ACT_GELU
                  : code == NTG_OP_tanh ? NTG_ACT_TANH
                                        : NTG_ACT_SIGMOID;
        for (size_t e = 0; e < ny; e++) out[e] = oh_ref_act(act, x[e]);
        return 1;
    }
    case NTG_OP_scale:
        for (size_t e = 0; e < ny; e++) out[e] = a[NTG_SCALE_FACTOR].f * x[e];
        return 1;
    case NTG_OP_exp:
    case NTG_OP_log:
    case NTG_OP_abs:
    case NTG_OP_sqrt:
    case NTG_OP_softplus:
    case NTG_OP_identity:
        for (size_t e = 0; e < ny; e++) {
            double v = x[e];
            out[e] = code == NTG_OP_exp    ? exp(v)
                     : code == NTG_OP_log  ? log(v)
                     : code == NTG_OP_abs  ? fabs(v)
                     : code == NTG_OP_sqrt ? sqrt(v)
                     : code == NTG_OP_softplus
                         ? (v > 20.0 ? v : log(1.0 + exp(v))) /* torch's threshold */
                         : v;
        }
        return 1;
    case NTG_OP_reduce_sum:
    case NTG_OP_reduce_mean:
    case NTG_OP_reduce_max: {
        int ax = oh_norm_axis(a[NTG_REDUCE_AXIS].i, xd->rank), keep = (int)a[NTG_REDUCE_KEEPDIMS].i;
        for (size_t e = 0; e < ny; e++) {
            /* the output index with the reduced axis put back (a kept axis is at 0) */
            if (keep) {
                oh_unravel(e, r, out_d->dims, j);
            } else {
                int64_t o[NTG_MAX_RANK] = {0};
                oh_unravel(e, xd->rank - 1, out_d->dims, o);
                for (int q = 0, p = 0; q < xd->rank; q++) j[q] = q == ax ? 0 : o[p++];
            }
            double s = 0, m = -INFINITY;
            for (j[ax] = 0; j[ax] < xd->dims[ax]; j[ax]++) {
                double v = x[oh_ravel(xd->rank, xd->dims, j)];
                s += v;
                m = v > m ? v : m;
            }
            out[e] = code == NTG_OP_reduce_sum    ? s
                     : code == NTG_OP_reduce_mean ? s / (double)xd->dims[ax]
                                                  : m;
        }
        return 1;
    }
    case NTG_OP_split: {
        int ax = oh_norm_axis(a[NTG_SPLIT_AXIS].i, r);
        int64_t n, at = 0;
        const ntg_attr *sizes = ntg__attr_list(a, NTG_SPLIT_SIZES, &n);
        for (int p = 0; p < piece; p++) at += sizes[p].i;
        for (size_t e = 0; e < ny; e++) {
            oh_unravel(e, r, out_d->dims, idx);
            idx[ax] += at;
            out[e] = x[oh_ravel(r, xd->dims, idx)];
        }
        return 1;
    }
    case NTG_OP_posenc: {
        int64_t len = out_d->dims[0], d = out_d->dims[1];
        for (int64_t t = 0; t < len; t++)
            for (int64_t i = 0; i < d; i++) {
                double angle = (double)t / pow(10000.0, (double)(i - i % 2) / (double)d);
                out[t * d + i] = i % 2 ? cos(angle) : sin(angle);
            }
        return 1;
    }
    case NTG_OP_basis: {
        /* from the op's docs, arranged differently from the kernel: x^p as a product, the
         * angle as one quotient */
        int64_t rows = out_d->dims[0], len = out_d->dims[1];
        int64_t per = a[NTG_BASIS_PERIOD].i ? a[NTG_BASIS_PERIOD].i : len;
        if (a[NTG_BASIS_KIND].i != NTG_BASIS_FOURIER) {
            for (int64_t t = 0; t < len; t++) {
                double xp = 1;
                for (int64_t q = 0; q < rows; q++, xp *= (double)t / (double)per)
                    out[q * len + t] = xp;
            }
            return 1;
        }
        int64_t h = a[NTG_BASIS_HARMONICS].i, nf = rows / 2;
        for (int64_t k = 0; k < nf; k++)
            for (int64_t t = 0; t < len; t++) {
                double f = k ? 1.0 + (double)(k - 1) / (double)h : 0.0;
                double g = (double)a[NTG_BASIS_SIGN].i * 2 * 3.14159265358979323846 * (double)t *
                           f / (double)per;
                out[k * len + t] = cos(g);
                out[(nf + k) * len + t] = sin(g);
            }
        return 1;
    }
    default:
        return 0;
    }
}

/*
 * The distribution losses from their docs: masked mean over t of -log p(t) with p the Normal
 * (loc, softplus(raw scale)) or the Student-t (loc, softplus(raw scale), 2 + softplus(raw
 * df)); y has the parameter axis inserted into t's shape.
 */
static inline double oh_ref_dist_loss(uint32_t code, const ntg_attr *a, int n_in,
                                      const ntg_tdesc *in_d, const double *const *in)
{
    const double *y = in[0], *t = in[1], *m = n_in > 2 ? in[2] : NULL;
    const ntg_tdesc *td = &in_d[1];
    size_t nt = oh_numel(td);
    int64_t ti[NTG_MAX_RANK], yi[NTG_MAX_RANK];
    int ax = oh_norm_axis(a[0].i, in_d[0].rank);
    double wsum = 0, s = 0;
    for (size_t i = 0; i < nt; i++) wsum += m ? m[i] : 1.0;
    if (wsum == 0) return 0;
    for (size_t i = 0; i < nt; i++) {
        double par[3];
        oh_unravel(i, td->rank, td->dims, ti);
        for (int k = 0; k < (code == NTG_OP_loss_normal ? 2 : 3); k++) {
            for (int d = 0, j = 0; d < in_d[0].rank; d++) yi[d] = d == ax ? k : ti[j++];
            par[k] = y[oh_ravel(in_d[0].rank, in_d[0].dims, yi)];
        }
        double sigma = par[1] > 20 ? par[1] : log(1 + exp(par[1]));
        double z = (t[i] - par[0]) / sigma, l;
        if (code == NTG_OP_loss_normal) {
            l = -log(exp(-0.5 * z * z) / (sigma * sqrt(2 * 3.14159265358979323846)));
        } else {
            double nu = 2 + (par[2] > 20 ? par[2] : log(1 + exp(par[2])));
            double logpdf = lgamma((nu + 1) / 2) - lgamma(nu / 2) -
                            0.5 * log(nu * 3.14159265358979323846) - log(sigma) -
                            (nu + 1) / 2 * log(1 + z * z / nu);
            l = -logpdf;
        }
        s += (m ? m[i] : 1.0) * l;
    }
    return s / wsum;
}

/*
 * loss_xent from its docs: masked mean over t of logsumexp_k y[.., k, ..] - y[.., t, ..], the
 * class axis inserted into t's shape; NaN for a t that is no class index.
 */
static inline double oh_ref_xent(const ntg_attr *a, int n_in, const ntg_tdesc *in_d,
                                 const double *const *in)
{
    const double *y = in[0], *t = in[1], *m = n_in > 2 ? in[2] : NULL;
    const ntg_tdesc *td = &in_d[1];
    size_t nt = oh_numel(td);
    int64_t ti[NTG_MAX_RANK], yi[NTG_MAX_RANK];
    int ax = oh_norm_axis(a[0].i, in_d[0].rank);
    int64_t nc = in_d[0].dims[ax];
    double wsum = 0, s = 0;
    for (size_t i = 0; i < nt; i++) wsum += m ? m[i] : 1.0;
    if (wsum == 0) return 0;
    for (size_t i = 0; i < nt; i++) {
        oh_unravel(i, td->rank, td->dims, ti);
        double se = 0, yt = NAN;
        for (int64_t k = 0; k < nc; k++) {
            for (int d = 0, j = 0; d < in_d[0].rank; d++) yi[d] = d == ax ? k : ti[j++];
            double v = y[oh_ravel(in_d[0].rank, in_d[0].dims, yi)];
            se += exp(v);
            if ((double)k == t[i]) yt = v;
        }
        s += (m ? m[i] : 1.0) * (log(se) - yt);
    }
    return s / wsum;
}

/*
 * y = op(inputs) in double.  in_d/out_d describe the operands at the actual batch (out_d as
 * the op class inferred it); a is the attribute slots.
 */
static inline void oh_ref_forward(uint32_t code, const ntg_attr *a, int n_in, const ntg_tdesc *in_d,
                                  const double *const *in, const ntg_tdesc *out_d, double *out)
{
    size_t ny = oh_numel(out_d);
    int64_t idx[NTG_MAX_RANK], j[NTG_MAX_RANK];
    int r = out_d->rank;

    switch (code) {
    case NTG_OP_dense: {
        int act = (int)a[NTG_DENSE_ACT].i;
        int64_t units = in_d[1].dims[0], nin = in_d[1].dims[1];
        size_t rows = ny / (size_t)units;
        for (size_t row = 0; row < rows; row++)
            for (int64_t u = 0; u < units; u++) {
                double z = n_in > 2 ? in[2][u] : 0.0;
                for (int64_t i = 0; i < nin; i++)
                    z += in[0][row * (size_t)nin + (size_t)i] * in[1][u * nin + i];
                out[row * (size_t)units + (size_t)u] = oh_ref_act(act, z);
            }
        break;
    }
    case NTG_OP_relu:
        for (size_t i = 0; i < ny; i++) out[i] = in[0][i] > 0 ? in[0][i] : 0;
        break;
    case NTG_OP_maxpool1d: {
        int64_t k = a[NTG_POOL_KERNEL].i, s = a[NTG_POOL_STRIDE].i, pad = a[NTG_POOL_PAD].i;
        int64_t len = in_d[0].dims[in_d[0].rank - 1], nout = out_d->dims[r - 1];
        if (s == 0) s = k;
        for (size_t i = 0; i < ny; i++) {
            size_t row = i / (size_t)nout;
            int64_t o = (int64_t)(i % (size_t)nout);
            double m = -INFINITY;
            /* the window in padded coordinates; padding is -inf */
            for (int64_t p = o * s; p < o * s + k; p++) {
                int64_t q = p - pad;
                if (q >= 0 && q < len && in[0][row * (size_t)len + (size_t)q] > m)
                    m = in[0][row * (size_t)len + (size_t)q];
            }
            out[i] = m;
        }
        break;
    }
    case NTG_OP_flip: {
        int ax = oh_norm_axis(a[NTG_FLIP_AXIS].i, r);
        for (size_t i = 0; i < ny; i++) {
            oh_unravel(i, r, out_d->dims, idx);
            idx[ax] = out_d->dims[ax] - 1 - idx[ax];
            out[i] = in[0][oh_ravel(r, in_d[0].dims, idx)];
        }
        break;
    }
    case NTG_OP_slice: {
        int ax = oh_norm_axis(a[NTG_SLICE_AXIS].i, r);
        int64_t first, count, step = a[NTG_SLICE_STEP].i;
        oh_py_slice(in_d[0].dims[ax], a[NTG_SLICE_START].i, a[NTG_SLICE_END].i, step, &first,
                    &count);
        for (size_t i = 0; i < ny; i++) {
            oh_unravel(i, r, out_d->dims, idx);
            idx[ax] = first + idx[ax] * step;
            out[i] = in[0][oh_ravel(r, in_d[0].dims, idx)];
        }
        break;
    }
    case NTG_OP_reshape:
        for (size_t i = 0; i < ny; i++) out[i] = in[0][i];
        break;
    case NTG_OP_interp_linear: {
        int64_t len = in_d[0].dims[in_d[0].rank - 1], size = out_d->dims[r - 1];
        int align = (int)a[NTG_INTERP_ALIGN].i;
        for (size_t i = 0; i < ny; i++) {
            size_t row = i / (size_t)size;
            int64_t t = (int64_t)(i % (size_t)size), i0, i1;
            double w1;
            oh_ref_interp_src(len, size, align, t, &i0, &i1, &w1);
            const double *x = in[0] + row * (size_t)len;
            out[i] = (1.0 - w1) * x[i0] + w1 * x[i1];
        }
        break;
    }
    case NTG_OP_add:
    case NTG_OP_sub:
    case NTG_OP_mul:
        for (size_t i = 0; i < ny; i++) {
            double v[2];
            oh_unravel(i, r, out_d->dims, idx);
            for (int k = 0; k < 2; k++) {
                const ntg_tdesc *d = &in_d[k];
                int lead = r - d->rank;
                for (int q = 0; q < d->rank; q++) j[q] = d->dims[q] == 1 ? 0 : idx[lead + q];
                v[k] = in[k][oh_ravel(d->rank, d->dims, j)];
            }
            out[i] = code == NTG_OP_add   ? v[0] + v[1]
                     : code == NTG_OP_sub ? v[0] - v[1]
                                          : v[0] * v[1];
        }
        break;
    case NTG_OP_concat: {
        int ax = oh_norm_axis(a[NTG_CONCAT_AXIS].i, r);
        for (size_t i = 0; i < ny; i++) {
            oh_unravel(i, r, out_d->dims, idx);
            int k = 0;
            while (idx[ax] >= in_d[k].dims[ax]) idx[ax] -= in_d[k++].dims[ax];
            out[i] = in[k][oh_ravel(r, in_d[k].dims, idx)];
        }
        break;
    }
    case NTG_OP_loss_mse:
    case NTG_OP_loss_mae:
    case NTG_OP_loss_huber:
    case NTG_OP_loss_pinball:
        out[0] = oh_ref_loss(code, a, n_in, in_d, in);
        break;
    case NTG_OP_loss_normal:
    case NTG_OP_loss_studentt:
        out[0] = oh_ref_dist_loss(code, a, n_in, in_d, in);
        break;
    case NTG_OP_loss_xent:
        out[0] = oh_ref_xent(a, n_in, in_d, in);
        break;
    default:
        if (oh_ref_seq(code, a, n_in, in_d, in, 0, out_d, out)) break;
        for (size_t i = 0; i < ny; i++) out[i] = NAN;
        break;
    }
}

/*
 * A case's float inputs widened to double: x[i] is a new array of numel(input i) elements (at
 * least one) for every input.  Returns 0, or -1 with nothing allocated when memory runs out.
 */
static inline int oh_inputs_as_double(const oh_case *t, double **x)
{
    for (int i = 0; i < t->n_in; i++) {
        size_t n = oh_numel(&t->in[i].d);
        const float *src = t->in[i].data;
        x[i] = malloc((n ? n : 1) * sizeof(double));
        if (!x[i]) {
            while (i-- > 0) free(x[i]);
            return -1;
        }
        for (size_t e = 0; e < n; e++) x[i][e] = (double)src[e];
    }
    return 0;
}

static inline void oh_free_doubles(double **x, int n)
{
    for (int i = 0; i < n; i++) free(x[i]);
}

/* A scalar function of a case's inputs (in double), for finite differences. */
typedef double (*oh_objective)(const oh_case *t, double *const *x, void *ctx);

/*
 * Central differences of f with respect to every element of input i:
 * g[e] = scale * (f(.., x_i[e] + eps, ..) - f(.., x_i[e] - eps, ..)) / (2 eps).
 * x is as it was on return.
 */
static inline void oh_central_diff(const oh_case *t, double **x, int i, double eps, double scale,
                                   oh_objective f, void *ctx, double *g)
{
    size_t n = oh_numel(&t->in[i].d);
    for (size_t e = 0; e < n; e++) {
        double v = x[i][e];
        x[i][e] = v + eps;
        double lp = f(t, x, ctx);
        x[i][e] = v - eps;
        double lm = f(t, x, ctx);
        x[i][e] = v;
        g[e] = scale * (lp - lm) / (2 * eps);
    }
}

/* The reference on a case's float inputs (widened to double); out has numel(t->out[0].d). */
static inline void oh_ref_case(const oh_case *t, double *out)
{
    ntg_tdesc d[OH_MAX_IN];
    double *x[OH_MAX_IN] = {NULL}; /* posenc has no inputs */
    for (int i = 0; i < t->n_in; i++) d[i] = t->in[i].d;
    if (oh_inputs_as_double(t, x) != 0) return;
    oh_ref_forward(t->code, t->attrs.slot, t->n_in, d, (const double *const *)x, &t->out[0].d, out);
    oh_free_doubles(x, t->n_in);
}

#endif /* NTG_OPS_HARNESS_H */
