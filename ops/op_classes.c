/* op_classes.c — the op classes: attribute schemas, parameters, shape rules, backward saves and
 * flops of every op (the window ops of issue 16 at the end). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ntg_error.h"
#include "op_attrs.h"
#include "ops.h"

/* ------------------------------------------------------------------ helpers */

#define SHP(d) ntg__tdesc_str((d), sbuf[0], sizeof sbuf[0])
#define SHP2(d) ntg__tdesc_str((d), sbuf[1], sizeof sbuf[1])
#define SHP3(d) ntg__tdesc_str((d), sbuf[2], sizeof sbuf[2])
#define SHAPE_BUFS char sbuf[3][96]

static int fail(char *msg, size_t cap, const char *fmt, ...) NTG_PRINTF(3, 4);
static int fail(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static int need_f32(const ntg_opsig *s, const char *op, char *msg, size_t cap)
{
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i].dtype != NTG_DTYPE_F32) {
            ntg__strfmt(msg, cap, "%s: input %d must be float32", op, i);
            return -1;
        }
    return 0;
}

/* The batch axis must stay where it is: ops that work on an axis refuse it. */
static int not_batch_axis(const ntg_tdesc *x, int axis, const char *op, char *msg, size_t cap)
{
    if (x->batched && axis == 0) {
        ntg__strfmt(msg, cap, "%s: cannot work on axis 0, the batch axis", op);
        return -1;
    }
    return 0;
}

/* Attribute `slot` as an axis of x: normalised, in range, and not the batch axis.
 * Returns the axis, or -1 with a message. */
static int axis_of(const ntg_opsig *s, int slot, const ntg_tdesc *x, const char *op, char *msg,
                   size_t cap)
{
    int64_t raw = ntg__attr_i(s->attr, slot);
    int ax = ntg__axis(raw, x->rank);
    if (ax < 0) {
        ntg__strfmt(msg, cap, "%s: axis %lld is out of range for rank %d", op, (long long)raw,
                    x->rank);
        return -1;
    }
    return not_batch_axis(x, ax, op, msg, cap) ? -1 : ax;
}

static double numel_d(const ntg_tdesc *d)
{
    return (double)ntg__tdesc_numel(d);
}

static double flops_elementwise(const ntg_opsig *s, const ntg_tdesc *out)
{
    (void)s;
    return numel_d(out);
}

static int infer_same(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    if (need_f32(s, "elementwise op", msg, cap)) return -1;
    out[0] = s->in[0];
    return 0;
}

static uint32_t saves_nothing(const ntg_opsig *s)
{
    (void)s;
    return 0;
}

/* A layer's "weight" of rank `wrank` and, when `bias`, its "bias" over the weight's first
 * axis, both U(-bound, bound) (torch's default for Linear and Conv1d).  Returns their count. */
static int weight_and_bias(ntg_param_spec *out, const int64_t *wdims, int wrank, int64_t bias,
                           double bound)
{
    memset(out, 0, 2 * sizeof *out);
    out[0].leaf = "weight";
    out[0].desc.dtype = NTG_DTYPE_F32;
    out[0].desc.rank = (uint8_t)wrank;
    for (int i = 0; i < wrank; i++) out[0].desc.dims[i] = wdims[i];
    out[0].init = NTG_INIT_UNIFORM;
    out[0].init_arg = bound;
    if (!bias) return 1;
    out[1].leaf = "bias";
    out[1].desc.dtype = NTG_DTYPE_F32;
    out[1].desc.rank = 1;
    out[1].desc.dims[0] = wdims[0];
    out[1].init = NTG_INIT_UNIFORM;
    out[1].init_arg = bound;
    return 2;
}

static uint32_t saves_output0(const ntg_opsig *s)
{
    (void)s;
    return 1u << 16;
}

static uint32_t saves_input0(const ntg_opsig *s)
{
    (void)s;
    return 1u;
}

/* -------------------------------------------------------------------- dense */

static const ntg_attr_spec dense_attrs[] = {
    {"units", NTG_AK_INT, 1, 0, NULL, "output features (rows of the weight)"},
    {"activation", NTG_AK_ENUM, 0, NTG_ACT_NONE, NTG_ACT_ENUMS,
     "activation applied after the bias"},
    {"bias", NTG_AK_BOOL, 0, 1, NULL, "add a learned bias (torch.nn.Linear's default)"},
};

static int dense_params(const ntg_opsig *s, ntg_param_spec *out, int cap, char *msg, size_t mcap)
{
    const ntg_tdesc *x = &s->in[0];
    int64_t units = ntg__attr_i(s->attr, NTG_DENSE_UNITS);
    if (x->rank < 1 || (x->batched && x->rank < 2)) {
        ntg__strfmt(msg, mcap, "dense: input needs a feature axis");
        return -1;
    }
    if (units < 1) {
        ntg__strfmt(msg, mcap, "dense: units must be positive, not %lld", (long long)units);
        return -1;
    }
    if (cap < 2) return -1;
    int64_t fan_in = x->dims[x->rank - 1];
    /* torch.nn.Linear: kaiming_uniform(a=sqrt(5)) on the weight is U(+-1/sqrt(fan_in)); the
     * bias is U(+-1/sqrt(fan_in)) too. */
    double bound = 1.0 / sqrt((double)fan_in);
    const int64_t wdims[] = {units, fan_in};
    return weight_and_bias(out, wdims, 2, ntg__attr_i(s->attr, NTG_DENSE_BIAS), bound);
}

static int dense_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *x = &s->in[0], *w = &s->in[1];
    int64_t units = ntg__attr_i(s->attr, NTG_DENSE_UNITS);
    int has_bias = (int)ntg__attr_i(s->attr, NTG_DENSE_BIAS);
    if (need_f32(s, "dense", msg, cap)) return -1;
    if (s->n_in != 2 + has_bias)
        return fail(msg, cap, "dense: expected %s operands (x, weight%s)", has_bias ? "3" : "2",
                    has_bias ? ", bias" : "");
    if (x->rank < 1 || (x->batched && x->rank < 2))
        return fail(msg, cap, "dense: input %s has no feature axis", SHP(x));
    if (w->batched || w->rank != 2 || w->dims[0] != units || w->dims[1] != x->dims[x->rank - 1])
        return fail(msg, cap, "dense: weight %s does not fit input %s (weight is [units, in])",
                    SHP(w), SHP2(x));
    if (has_bias) {
        const ntg_tdesc *b = &s->in[2];
        if (b->batched || b->rank != 1 || b->dims[0] != units)
            return fail(msg, cap, "dense: bias %s does not fit weight %s", SHP(b), SHP2(w));
    }
    out[0] = *x;
    out[0].dims[x->rank - 1] = units;
    return 0;
}

static uint32_t dense_saves(const ntg_opsig *s)
{
    int64_t act = ntg__attr_i(s->attr, NTG_DENSE_ACT);
    if (act == NTG_ACT_NONE) return 0x3u; /* x and W */
    if (act == NTG_ACT_GELU)              /* x, W (and b): gelu' needs the pre-activation */
        return ntg__attr_i(s->attr, NTG_DENSE_BIAS) ? 0x7u : 0x3u;
    return 0x3u | (1u << 16); /* x, W and y (relu/tanh/sigmoid from y) */
}

static double dense_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    const ntg_tdesc *x = &s->in[0];
    double rows = numel_d(out) / (double)out->dims[out->rank - 1];
    double in = (double)x->dims[x->rank - 1], units = (double)out->dims[out->rank - 1];
    return rows * (2.0 * in * units + units);
}

const ntg_op_class ntg__opclass_dense = {
    "dense",
    NTG_OPF_PARAMS,
    dense_attrs,
    3,
    dense_params,
    dense_infer,
    dense_saves,
    dense_flops,
    "Fully connected layer over the last axis: y = act(x W^T + b), weight [units, in] as "
    "torch.nn.Linear. Owns parameters `weight` and `bias`.",
    0};

/* --------------------------------------------------------------------- relu */

const ntg_op_class ntg__opclass_relu = {"relu",
                                        0,
                                        NULL,
                                        0,
                                        NULL,
                                        infer_same,
                                        saves_output0,
                                        flops_elementwise,
                                        "y = max(x, 0), elementwise.",
                                        0};

/* ---------------------------------------------------------------- maxpool1d */

static const ntg_attr_spec pool_attrs[] = {
    {"kernel", NTG_AK_INT, 1, 0, NULL, "window length"},
    {"stride", NTG_AK_INT, 0, 0, NULL, "step between windows; 0 = kernel"},
    {"ceil_mode", NTG_AK_BOOL, 0, 0, NULL, "keep a last, partial window (torch ceil_mode)"},
    {"padding", NTG_AK_INT, 0, 0, NULL, "implicit -inf padding on both ends"},
};

int64_t ntg__pool_out_len(int64_t len, int64_t k, int64_t s, int64_t pad, int ceil_mode)
{
    int64_t span = len + 2 * pad - k;
    if (span < 0) return 0;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= len + pad) out--;
    return out;
}

static int pool_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *x = &s->in[0];
    int64_t k = ntg__attr_i(s->attr, NTG_POOL_KERNEL), st = ntg__attr_i(s->attr, NTG_POOL_STRIDE);
    int64_t pad = ntg__attr_i(s->attr, NTG_POOL_PAD);
    if (need_f32(s, "maxpool1d", msg, cap)) return -1;
    if (st == 0) st = k;
    if (k < 1 || st < 1 || pad < 0 || pad > k / 2) {
        ntg__strfmt(msg, cap,
                    "maxpool1d: kernel %lld, stride %lld, padding %lld: need kernel >= 1, "
                    "stride >= 1, 0 <= padding <= kernel/2",
                    (long long)k, (long long)st, (long long)pad);
        return -1;
    }
    if (x->rank < 1 || (x->batched && x->rank < 2))
        return fail(msg, cap, "maxpool1d: input %s has no time axis", SHP(x));
    int64_t len = x->dims[x->rank - 1];
    int64_t n = ntg__pool_out_len(len, k, st, pad, (int)ntg__attr_i(s->attr, NTG_POOL_CEIL));
    if (n < 1) {
        ntg__strfmt(msg, cap, "maxpool1d: kernel %lld is longer than the input (%lld)",
                    (long long)k, (long long)len);
        return -1;
    }
    out[0] = *x;
    out[0].dims[x->rank - 1] = n;
    return 0;
}

static double pool_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    return numel_d(out) * (double)ntg__attr_i(s->attr, NTG_POOL_KERNEL);
}

const ntg_op_class ntg__opclass_maxpool1d = {
    "maxpool1d",
    0,
    pool_attrs,
    4,
    NULL,
    pool_infer,
    saves_input0,
    pool_flops,
    "Max over windows of the last axis, as torch.nn.MaxPool1d (ceil_mode keeps a last, partial "
    "window). Backward routes each gradient to the first maximum of its window.",
    0};

/* --------------------------------------------------------------------- flip */

static const ntg_attr_spec flip_attrs[] = {
    {"axis", NTG_AK_INT, 0, -1, NULL, "axis to reverse (negative counts from the end)"},
};

static int flip_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    const ntg_tdesc *x = &s->in[0];
    if (need_f32(s, "flip", msg, cap)) return -1;
    int ax = axis_of(s, NTG_FLIP_AXIS, x, "flip", msg, cap);
    if (ax < 0) return -1;
    out[0] = *x;
    return 0;
}

const ntg_op_class ntg__opclass_flip = {"flip",
                                        0,
                                        flip_attrs,
                                        1,
                                        NULL,
                                        flip_infer,
                                        saves_nothing,
                                        flops_elementwise,
                                        "Reverses the order along one axis.",
                                        0};

/* -------------------------------------------------------------------- slice */

static const ntg_attr_spec slice_attrs[] = {
    {"axis", NTG_AK_INT, 0, -1, NULL, "axis to slice"},
    {"start", NTG_AK_INT, 0, 0, NULL, "first index (negative counts from the end)"},
    {"end", NTG_AK_INT, 0, 1099511627776.0, NULL, "one past the last index (default: the end)"},
    {"step", NTG_AK_INT, 0, 1, NULL, "stride, >= 1"},
};

void ntg__slice_range(int64_t len, int64_t start, int64_t end, int64_t *s0, int64_t *n)
{
    if (start < 0) start += len;
    if (end < 0) end += len;
    if (start < 0) start = 0;
    if (start > len) start = len;
    if (end < 0) end = 0;
    if (end > len) end = len;
    *s0 = start;
    *n = end > start ? end - start : 0;
}

static int slice_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    const ntg_tdesc *x = &s->in[0];
    int64_t step = ntg__attr_i(s->attr, NTG_SLICE_STEP), s0, n;
    if (need_f32(s, "slice", msg, cap)) return -1;
    int ax = axis_of(s, NTG_SLICE_AXIS, x, "slice", msg, cap);
    if (ax < 0) return -1;
    if (step < 1) {
        ntg__strfmt(msg, cap, "slice: step must be >= 1, not %lld", (long long)step);
        return -1;
    }
    ntg__slice_range(x->dims[ax], ntg__attr_i(s->attr, NTG_SLICE_START),
                     ntg__attr_i(s->attr, NTG_SLICE_END), &s0, &n);
    n = (n + step - 1) / step;
    if (n < 1) {
        ntg__strfmt(msg, cap, "slice: [%lld:%lld] of an axis of length %lld is empty",
                    (long long)ntg__attr_i(s->attr, NTG_SLICE_START),
                    (long long)ntg__attr_i(s->attr, NTG_SLICE_END), (long long)x->dims[ax]);
        return -1;
    }
    out[0] = *x;
    out[0].dims[ax] = n;
    return 0;
}

const ntg_op_class ntg__opclass_slice = {
    "slice",
    0,
    slice_attrs,
    4,
    NULL,
    slice_infer,
    saves_nothing,
    flops_elementwise,
    "x[start:end:step] along one axis, with Python's rules for negative and out-of-range "
    "bounds. The result must not be empty.",
    0};

/* ------------------------------------------------------------------ reshape */

static const ntg_attr_spec reshape_attrs[] = {
    {"shape", NTG_AK_INTS, 1, 0, NULL,
     "new shape; `batch` (stored as 0) keeps the batch axis first, one -1 is inferred"},
};

static int reshape_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *x = &s->in[0];
    int64_t n;
    const ntg_attr *sh = ntg__attr_list(s->attr, NTG_RESHAPE_SHAPE, &n);
    if (need_f32(s, "reshape", msg, cap)) return -1;
    if (n < 1 || n > NTG_MAX_RANK) {
        ntg__strfmt(msg, cap, "reshape: shape must have 1 to %d entries", NTG_MAX_RANK);
        return -1;
    }
    ntg_tdesc o = *x;
    o.rank = (uint8_t)n;
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        int64_t d = sh[i].i;
        if (d == 0) {
            if (i != 0 || !x->batched) {
                ntg__strfmt(msg, cap,
                            "reshape: `batch` may only be the first entry of the shape "
                            "of a batched tensor");
                return -1;
            }
            o.dims[0] = x->dims[0];
        } else if (d == -1) {
            if (infer_at >= 0) {
                ntg__strfmt(msg, cap, "reshape: at most one -1 in the shape");
                return -1;
            }
            infer_at = i;
        } else if (d < 0) {
            ntg__strfmt(msg, cap, "reshape: bad extent %lld", (long long)d);
            return -1;
        } else {
            if (d > ((int64_t)1 << 31) || known > (((int64_t)1 << 62) / d)) {
                ntg__strfmt(msg, cap, "reshape: shape too large");
                return -1;
            }
            o.dims[i] = d;
            known *= d;
        }
    }
    if (x->batched && sh[0].i != 0) {
        ntg__strfmt(msg, cap, "reshape: a batched tensor's new shape must start with `batch`");
        return -1;
    }
    int64_t inner = ntg__tdesc_inner(x);
    if (infer_at >= 0) {
        if (known == 0 || inner % known != 0)
            return fail(msg, cap, "reshape: cannot reshape %s to the shape given", SHP(x));
        o.dims[infer_at] = inner / known;
        known = inner;
    }
    if (known != inner) {
        char want[96];
        return fail(msg, cap, "reshape: cannot reshape %s (%s elements per window) to %s", SHP(x),
                    ntg__strfmt(want, sizeof want, "%lld", (long long)inner), SHP2(&o));
    }
    out[0] = o;
    return 0;
}

const ntg_op_class ntg__opclass_reshape = {
    "reshape",
    0,
    reshape_attrs,
    1,
    NULL,
    reshape_infer,
    saves_nothing,
    NULL,
    "Same elements in row-major order, new shape. A batched tensor keeps its batch axis first.",
    0};

/* ------------------------------------------------------------ interp_linear */

static const ntg_attr_spec interp_attrs[] = {
    {"size", NTG_AK_INT, 1, 0, NULL, "output length of the last axis"},
    {"align_corners", NTG_AK_BOOL, 0, 0, NULL, "torch's align_corners (default false)"},
};

static int interp_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *x = &s->in[0];
    int64_t size = ntg__attr_i(s->attr, NTG_INTERP_SIZE);
    if (need_f32(s, "interp_linear", msg, cap)) return -1;
    if (x->rank < 1 || (x->batched && x->rank < 2))
        return fail(msg, cap, "interp_linear: input %s has no axis to resample", SHP(x));
    if (size < 1) {
        ntg__strfmt(msg, cap, "interp_linear: size must be positive, not %lld", (long long)size);
        return -1;
    }
    out[0] = *x;
    out[0].dims[x->rank - 1] = size;
    return 0;
}

static double interp_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    (void)s;
    return 4.0 * numel_d(out);
}

const ntg_op_class ntg__opclass_interp_linear = {
    "interp_linear",
    0,
    interp_attrs,
    2,
    NULL,
    interp_infer,
    saves_nothing,
    interp_flops,
    "Linear interpolation of the last axis to `size` points, as F.interpolate(mode='linear'): "
    "with align_corners false, src = max(0, (t + 0.5) * in/size - 0.5).",
    0};

/* --------------------------------------------------------- add / sub / mul */

/* numpy broadcasting, right-aligned; a batched operand must have the output's rank
 * (so the batch stays axis 0) and a non-batched one must be 1 on the batch axis. */
static int broadcast_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *a = &s->in[0], *b = &s->in[1];
    if (need_f32(s, "broadcast op", msg, cap)) return -1;
    ntg_tdesc o;
    memset(&o, 0, sizeof o);
    o.dtype = a->dtype;
    o.rank = a->rank > b->rank ? a->rank : b->rank;
    o.batched = a->batched || b->batched;
    for (int i = 0; i < o.rank; i++) {
        int ia = i - (o.rank - a->rank), ib = i - (o.rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return fail(msg, cap, "cannot broadcast %s with %s", SHP(a), SHP2(b));
        o.dims[i] = da > db ? da : db;
        if (da == 1 && db == 1) o.dims[i] = 1;
    }
    const ntg_tdesc *ops[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        const ntg_tdesc *t = ops[k];
        if (o.batched && t->batched && t->rank != o.rank)
            return fail(msg, cap, "cannot broadcast %s with %s: the batch axis must stay first",
                        SHP(a), SHP2(b));
        if (o.batched && !t->batched && t->rank == o.rank && t->dims[0] != 1)
            return fail(msg, cap,
                        "cannot broadcast %s with %s: a tensor without batch must have extent 1 "
                        "on the batch axis",
                        SHP(a), SHP2(b));
    }
    out[0] = o;
    return 0;
}

static uint32_t mul_saves(const ntg_opsig *s)
{
    (void)s;
    return 0x3u;
}

const ntg_op_class ntg__opclass_add = {"add",
                                       0,
                                       NULL,
                                       0,
                                       NULL,
                                       broadcast_infer,
                                       saves_nothing,
                                       flops_elementwise,
                                       "a + b with numpy broadcasting.",
                                       0};
const ntg_op_class ntg__opclass_sub = {"sub",
                                       0,
                                       NULL,
                                       0,
                                       NULL,
                                       broadcast_infer,
                                       saves_nothing,
                                       flops_elementwise,
                                       "a - b with numpy broadcasting.",
                                       0};
const ntg_op_class ntg__opclass_mul = {"mul",
                                       0,
                                       NULL,
                                       0,
                                       NULL,
                                       broadcast_infer,
                                       mul_saves,
                                       flops_elementwise,
                                       "a * b with numpy broadcasting.",
                                       0};

/* ------------------------------------------------------------------- concat */

static const ntg_attr_spec concat_attrs[] = {
    {"axis", NTG_AK_INT, 0, -1, NULL, "axis to join along"},
};

static int concat_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *x = &s->in[0];
    if (need_f32(s, "concat", msg, cap)) return -1;
    int ax = axis_of(s, NTG_CONCAT_AXIS, x, "concat", msg, cap);
    if (ax < 0) return -1;
    ntg_tdesc o = *x;
    for (int i = 1; i < s->n_in; i++) {
        const ntg_tdesc *y = &s->in[i];
        int ok = y->rank == x->rank && y->batched == x->batched;
        for (int d = 0; ok && d < x->rank; d++)
            if (d != ax && y->dims[d] != x->dims[d]) ok = 0;
        if (!ok)
            return fail(msg, cap, "concat: %s and %s differ off the joining axis", SHP(x), SHP2(y));
        o.dims[ax] += y->dims[ax];
    }
    out[0] = o;
    return 0;
}

const ntg_op_class ntg__opclass_concat = {
    "concat",
    0,
    concat_attrs,
    1,
    NULL,
    concat_infer,
    saves_nothing,
    NULL,
    "Joins its inputs along one axis; the other extents must agree.",
    0};

/* ------------------------------------------------------------------- losses */

/* y, t, [mask] of one shape -> a scalar [1]; the mean is over the elements the mask
 * keeps (every element without a mask), as NeuralForecast's masked losses. */
static int loss_infer_common(const ntg_opsig *s, const ntg_tdesc *want_t, ntg_tdesc *out,
                             const char *op, char *msg, size_t cap)
{
    SHAPE_BUFS;
    if (need_f32(s, op, msg, cap)) return -1;
    const ntg_tdesc *t = &s->in[1];
    if (!ntg__tdesc_equal(want_t, t))
        return fail(msg, cap, "%s: target %s does not match the prediction (%s expected)", op,
                    SHP(t), SHP2(want_t));
    if (s->n_in == 3 && !ntg__tdesc_equal(&s->in[2], t))
        return fail(msg, cap, "%s: mask %s does not match the target %s", op, SHP(&s->in[2]),
                    SHP2(t));
    memset(out, 0, sizeof *out);
    out->dtype = NTG_DTYPE_F32;
    out->rank = 1;
    out->dims[0] = 1;
    return 0;
}

static int loss_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    return loss_infer_common(s, &s->in[0], out, "loss", msg, cap);
}

static uint32_t loss_saves(const ntg_opsig *s)
{
    return s->n_in == 3 ? 0x7u : 0x3u; /* y, t (and mask) */
}

static double loss_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    (void)out;
    return 3.0 * numel_d(&s->in[0]);
}

const ntg_op_class ntg__opclass_loss_mse = {
    "loss_mse",
    NTG_OPF_LOSS,
    NULL,
    0,
    NULL,
    loss_infer,
    loss_saves,
    loss_flops,
    "Mean squared error: sum(mask * (y - t)^2) / sum(mask) (plain mean without a mask; 0 "
    "when the mask is all zero).",
    0};

const ntg_op_class ntg__opclass_loss_mae = {
    "loss_mae",
    NTG_OPF_LOSS,
    NULL,
    0,
    NULL,
    loss_infer,
    loss_saves,
    loss_flops,
    "Mean absolute error: sum(mask * |y - t|) / sum(mask). Its gradient at y == t is 0, as "
    "torch's sign().",
    0};

static const ntg_attr_spec huber_attrs[] = {
    {"delta", NTG_AK_FLOAT, 0, 1.0, NULL, "where the loss turns from quadratic to linear"},
};

static int huber_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    if (!(ntg__attr_f(s->attr, NTG_HUBER_DELTA) > 0)) {
        ntg__strfmt(msg, cap, "loss_huber: delta must be positive");
        return -1;
    }
    return loss_infer_common(s, &s->in[0], out, "loss_huber", msg, cap);
}

const ntg_op_class ntg__opclass_loss_huber = {
    "loss_huber",
    NTG_OPF_LOSS,
    huber_attrs,
    1,
    NULL,
    huber_infer,
    loss_saves,
    loss_flops,
    "torch.nn.HuberLoss: 0.5 e^2 where |e| < delta, else delta (|e| - 0.5 delta), e = y - t; "
    "masked mean.",
    0};

static const ntg_attr_spec pinball_attrs[] = {
    {"quantiles", NTG_AK_FLOATS, 1, 0, NULL,
     "quantile levels in (0, 1), in the order of y's quantile axis (median first, as "
     "NeuralForecast's MQLoss)"},
    {"axis", NTG_AK_INT, 0, -1, NULL, "the quantile axis of y"},
};

static int pinball_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *y = &s->in[0];
    int64_t nq;
    const ntg_attr *q = ntg__attr_list(s->attr, NTG_PINBALL_QUANTILES, &nq);
    if (nq < 1) {
        ntg__strfmt(msg, cap, "loss_pinball: needs at least one quantile");
        return -1;
    }
    for (int64_t i = 0; i < nq; i++)
        if (!(q[i].f > 0 && q[i].f < 1)) {
            ntg__strfmt(msg, cap, "loss_pinball: quantile %g is outside (0, 1)", q[i].f);
            return -1;
        }
    int ax = ntg__axis(ntg__attr_i(s->attr, NTG_PINBALL_AXIS), y->rank);
    if (ax < 0 || not_batch_axis(y, ax, "loss_pinball", msg, cap) || y->dims[ax] != nq)
        return fail(msg, cap,
                    "loss_pinball: prediction %s needs a quantile axis of extent %lld (axis "
                    "%lld)",
                    SHP(y), (long long)nq, (long long)ntg__attr_i(s->attr, NTG_PINBALL_AXIS));
    ntg_tdesc want = *y;
    for (int d = ax; d + 1 < y->rank; d++) want.dims[d] = y->dims[d + 1];
    want.rank = (uint8_t)(y->rank - 1);
    return loss_infer_common(s, &want, out, "loss_pinball", msg, cap);
}

const ntg_op_class ntg__opclass_loss_pinball = {
    "loss_pinball",
    NTG_OPF_LOSS,
    pinball_attrs,
    2,
    NULL,
    pinball_infer,
    loss_saves,
    loss_flops,
    "Multi-quantile pinball loss: y has one more axis than t holding one prediction per "
    "quantile q; loss = mean over q of the masked mean of q max(t - y_q, 0) + (1 - q) "
    "max(y_q - t, 0).",
    0};

/* Distribution losses (NeuralForecast's DistributionLoss): y holds the raw parameters on one
 * axis, t has y's shape without that axis. */
static const ntg_attr_spec dist_attrs[] = {
    {"axis", NTG_AK_INT, 0, 1, NULL, "the parameter axis of y"},
};

static int dist_infer_n(const ntg_opsig *s, ntg_tdesc *out, int64_t np, const char *op, char *msg,
                        size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *y = &s->in[0];
    int ax = ntg__axis(ntg__attr_i(s->attr, NTG_DIST_AXIS), y->rank);
    if (ax < 0 || not_batch_axis(y, ax, op, msg, cap) || y->dims[ax] != np)
        return fail(msg, cap, "%s: prediction %s needs a parameter axis of extent %lld (axis %lld)",
                    op, SHP(y), (long long)np, (long long)ntg__attr_i(s->attr, NTG_DIST_AXIS));
    ntg_tdesc want = *y;
    for (int d = ax; d + 1 < y->rank; d++) want.dims[d] = y->dims[d + 1];
    want.rank = (uint8_t)(y->rank - 1);
    return loss_infer_common(s, &want, out, op, msg, cap);
}

static int normal_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    return dist_infer_n(s, out, 2, "loss_normal", msg, cap);
}

static int studentt_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    return dist_infer_n(s, out, 3, "loss_studentt", msg, cap);
}

static double dist_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    (void)out;
    return 20.0 * numel_d(&s->in[0]);
}

const ntg_op_class ntg__opclass_loss_normal = {
    "loss_normal",
    NTG_OPF_LOSS,
    dist_attrs,
    1,
    NULL,
    normal_infer,
    loss_saves,
    dist_flops,
    "Normal negative log-likelihood (NeuralForecast's DistributionLoss('Normal')): y holds loc "
    "and a raw scale on `axis`; sigma = softplus(raw); loss = masked mean of log sigma + "
    "log(2 pi) / 2 + (t - loc)^2 / (2 sigma^2).",
    0};

const ntg_op_class ntg__opclass_loss_studentt = {
    "loss_studentt",
    NTG_OPF_LOSS,
    dist_attrs,
    1,
    NULL,
    studentt_infer,
    loss_saves,
    dist_flops,
    "Student-t negative log-likelihood (NeuralForecast's DistributionLoss('StudentT')): y holds "
    "loc, a raw scale and a raw df on `axis`; sigma = softplus(raw scale), df = 2 + "
    "softplus(raw df); loss = masked mean of -log p(t).",
    0};

/* Softmax cross-entropy: y holds logits with C >= 2 classes on one axis, t has y's shape without
 * that axis and holds class indices 0 .. C-1 (as floats). */
static const ntg_attr_spec xent_attrs[] = {
    {"axis", NTG_AK_INT, 0, -1, NULL, "the class axis of y (default the last)"},
};

static int xent_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *y = &s->in[0];
    int ax = ntg__axis(ntg__attr_i(s->attr, NTG_XENT_AXIS), y->rank);
    if (ax < 0 || not_batch_axis(y, ax, "loss_xent", msg, cap) || y->dims[ax] < 2 ||
        y->dims[ax] > NTG_XENT_MAX_CLASSES)
        return fail(msg, cap,
                    "loss_xent: logits %s need a class axis of extent 2 to %d (axis %lld)", SHP(y),
                    NTG_XENT_MAX_CLASSES, (long long)ntg__attr_i(s->attr, NTG_XENT_AXIS));
    ntg_tdesc want = *y;
    for (int d = ax; d + 1 < y->rank; d++) want.dims[d] = y->dims[d + 1];
    want.rank = (uint8_t)(y->rank - 1);
    return loss_infer_common(s, &want, out, "loss_xent", msg, cap);
}

static double xent_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    (void)out;
    return 4.0 * numel_d(&s->in[0]);
}

const ntg_op_class ntg__opclass_loss_xent = {
    "loss_xent",
    NTG_OPF_LOSS,
    xent_attrs,
    1,
    NULL,
    xent_infer,
    loss_saves,
    xent_flops,
    "Softmax cross-entropy (torch.nn.CrossEntropyLoss with class indices): y holds logits on "
    "`axis`, t the class index 0 .. C-1 of each element of y without that axis; loss = masked "
    "mean of logsumexp(y) - y[t]; at most 64 classes.  A t that is not a class index gives NaN.",
    0};

/* --------------------------------------------------------------- optimizers */

static int ctl_ok(const ntg_tdesc *c)
{
    return !c->batched && c->rank == 1 && c->dims[0] == NTG_CTL_SIZE;
}

static const ntg_attr_spec sgd_attrs[] = {
    {"momentum", NTG_AK_FLOAT, 0, 0.0, NULL, "momentum factor (torch.optim.SGD)"},
    {"dampening", NTG_AK_FLOAT, 0, 0.0, NULL, "dampening of the momentum"},
    {"nesterov", NTG_AK_BOOL, 0, 0, NULL, "Nesterov momentum"},
    {"weight_decay", NTG_AK_FLOAT, 0, 0.0, NULL, "L2 penalty added to the gradient"},
};

static int same_as_param(const ntg_opsig *s, int i, const char *op, const char *what, char *msg,
                         size_t cap)
{
    SHAPE_BUFS;
    if (!ntg__tdesc_equal(&s->in[0], &s->in[i]) || s->in[0].batched)
        return fail(msg, cap, "%s: %s %s does not match the parameter %s", op, what, SHP(&s->in[i]),
                    SHP2(&s->in[0]));
    return 0;
}

static int sgd_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    (void)out;
    if (need_f32(s, "sgd", msg, cap) || same_as_param(s, 1, "sgd", "gradient", msg, cap)) return -1;
    if (!ctl_ok(&s->in[2])) {
        ntg__strfmt(msg, cap, "sgd: input 2 must be the control tensor [%d]", NTG_CTL_SIZE);
        return -1;
    }
    int has_buf = s->n_in == 4, needs_buf = ntg__attr_f(s->attr, NTG_SGD_MOMENTUM) != 0;
    if (has_buf != needs_buf) {
        ntg__strfmt(msg, cap, "sgd: a momentum buffer is needed exactly when momentum != 0");
        return -1;
    }
    if (has_buf && same_as_param(s, 3, "sgd", "momentum buffer", msg, cap)) return -1;
    if (ntg__attr_i(s->attr, NTG_SGD_NESTEROV) &&
        (!needs_buf || ntg__attr_f(s->attr, NTG_SGD_DAMPENING) != 0)) {
        ntg__strfmt(msg, cap, "sgd: Nesterov momentum needs momentum > 0 and no dampening");
        return -1;
    }
    return 0;
}

const ntg_op_class ntg__opclass_sgd = {
    "sgd",
    NTG_OPF_INPLACE,
    sgd_attrs,
    4,
    NULL,
    sgd_infer,
    NULL,
    NULL,
    "torch.optim.SGD step on one parameter, in place: g = grad + wd p; with momentum "
    "buf = g on the first step, else momentum buf + (1 - dampening) g, and g = buf (or "
    "g + momentum buf with Nesterov); p -= lr g. lr and the step come from the control "
    "tensor.",
    0};

static const ntg_attr_spec adam_attrs[] = {
    {"beta1", NTG_AK_FLOAT, 0, 0.9, NULL, "decay of the first moment"},
    {"beta2", NTG_AK_FLOAT, 0, 0.999, NULL, "decay of the second moment"},
    {"eps", NTG_AK_FLOAT, 0, 1e-8, NULL, "added to the denominator (outside the square root)"},
    {"weight_decay", NTG_AK_FLOAT, 0, 0.0, NULL, "L2 penalty (Adam) or decoupled decay (AdamW)"},
    {"decoupled", NTG_AK_BOOL, 0, 0, NULL, "AdamW: decay the weights, not the gradient"},
};

static int adam_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    (void)out;
    if (need_f32(s, "adam", msg, cap) || same_as_param(s, 1, "adam", "gradient", msg, cap) ||
        same_as_param(s, 2, "adam", "first moment", msg, cap) ||
        same_as_param(s, 3, "adam", "second moment", msg, cap))
        return -1;
    if (!ctl_ok(&s->in[4])) {
        ntg__strfmt(msg, cap, "adam: input 4 must be the control tensor [%d]", NTG_CTL_SIZE);
        return -1;
    }
    double b1 = ntg__attr_f(s->attr, NTG_ADAM_BETA1), b2 = ntg__attr_f(s->attr, NTG_ADAM_BETA2);
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1 && ntg__attr_f(s->attr, NTG_ADAM_EPS) >= 0)) {
        ntg__strfmt(msg, cap, "adam: betas must lie in [0, 1) and eps be >= 0");
        return -1;
    }
    return 0;
}

const ntg_op_class ntg__opclass_adam = {
    "adam",
    NTG_OPF_INPLACE,
    adam_attrs,
    5,
    NULL,
    adam_infer,
    NULL,
    NULL,
    "torch.optim.Adam / AdamW step on one parameter, in place, with bias correction: "
    "m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p -= lr / (1 - b1^t) m / "
    "(sqrt(v) / sqrt(1 - b2^t) + eps).",
    0};

static const ntg_attr_spec clip_attrs[] = {
    {"max_norm", NTG_AK_FLOAT, 1, 0, NULL, "largest global L2 norm of all gradients"},
};

static int clip_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    if (need_f32(s, "clip_grad_norm", msg, cap)) return -1;
    if (!(ntg__attr_f(s->attr, NTG_CLIP_MAX_NORM) > 0)) {
        ntg__strfmt(msg, cap, "clip_grad_norm: max_norm must be positive");
        return -1;
    }
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i].batched) {
            ntg__strfmt(msg, cap, "clip_grad_norm: input %d is batched; gradients are not", i);
            return -1;
        }
    memset(out, 0, sizeof *out);
    out->dtype = NTG_DTYPE_F32;
    out->rank = 1;
    out->dims[0] = 1;
    return 0;
}

const ntg_op_class ntg__opclass_clip_grad_norm = {
    "clip_grad_norm",
    NTG_OPF_INPLACE,
    clip_attrs,
    1,
    NULL,
    clip_infer,
    NULL,
    NULL,
    "torch.nn.utils.clip_grad_norm_: the L2 norm of all its inputs together; when above "
    "max_norm every input is scaled by max_norm / (norm + 1e-6). Outputs the norm before "
    "clipping.",
    0};

/* ------------------------------------------------------------------- matmul */

static const ntg_attr_spec matmul_attrs[] = {
    {"trans_a", NTG_AK_BOOL, 0, 0, NULL, "use a's last two axes transposed"},
    {"trans_b", NTG_AK_BOOL, 0, 0, NULL, "use b's last two axes transposed"},
};

/* a [..., m, k] @ b [..., k, n] -> [..., m, n]; the leading axes broadcast as in numpy
 * (torch.matmul), and a batched operand keeps the batch first. */
static int matmul_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *a = &s->in[0], *b = &s->in[1];
    if (need_f32(s, "matmul", msg, cap)) return -1;
    if (a->rank < 2 || b->rank < 2 || (a->batched && a->rank < 3) || (b->batched && b->rank < 3))
        return fail(msg, cap, "matmul: %s and %s need two matrix axes (after the batch)", SHP(a),
                    SHP2(b));
    int ta = (int)ntg__attr_i(s->attr, NTG_MATMUL_TRANS_A),
        tb = (int)ntg__attr_i(s->attr, NTG_MATMUL_TRANS_B);
    int64_t m = a->dims[a->rank - (ta ? 1 : 2)], ka = a->dims[a->rank - (ta ? 2 : 1)];
    int64_t kb = b->dims[b->rank - (tb ? 1 : 2)], n = b->dims[b->rank - (tb ? 2 : 1)];
    if (ka != kb)
        return fail(msg, cap, "matmul: inner extents differ: %s%s @ %s%s", SHP(a), ta ? "^T" : "",
                    SHP2(b), tb ? "^T" : "");
    ntg_tdesc o;
    memset(&o, 0, sizeof o);
    o.dtype = NTG_DTYPE_F32;
    o.rank = (uint8_t)(a->rank > b->rank ? a->rank : b->rank);
    o.batched = a->batched || b->batched;
    int lead = o.rank - 2;
    for (int i = 0; i < lead; i++) {
        int ia = i - (o.rank - a->rank), ib = i - (o.rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return fail(msg, cap, "matmul: cannot broadcast the leading axes of %s and %s", SHP(a),
                        SHP2(b));
        o.dims[i] = da > db ? da : db;
    }
    o.dims[lead] = m;
    o.dims[lead + 1] = n;
    const ntg_tdesc *ops[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        if (o.batched && ops[k]->batched && ops[k]->rank != o.rank)
            return fail(msg, cap, "matmul: %s and %s: the batch axis must stay first", SHP(a),
                        SHP2(b));
        if (o.batched && !ops[k]->batched && ops[k]->rank == o.rank && ops[k]->dims[0] != 1)
            return fail(msg, cap,
                        "matmul: %s and %s: a tensor without batch must have extent 1 on the "
                        "batch axis",
                        SHP(a), SHP2(b));
    }
    out[0] = o;
    return 0;
}

static uint32_t saves_inputs01(const ntg_opsig *s)
{
    (void)s;
    return 0x3u;
}

static double matmul_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    const ntg_tdesc *a = &s->in[0];
    int ta = (int)ntg__attr_i(s->attr, NTG_MATMUL_TRANS_A);
    double k = (double)a->dims[a->rank - (ta ? 2 : 1)];
    return 2.0 * k * numel_d(out);
}

const ntg_op_class ntg__opclass_matmul = {
    "matmul",
    0,
    matmul_attrs,
    2,
    NULL,
    matmul_infer,
    saves_inputs01,
    matmul_flops,
    "Batched matrix product as torch.matmul: a [..., m, k] @ b [..., k, n] (trans_a / trans_b "
    "read a's or b's last two axes swapped); leading axes broadcast.",
    0};

/* ---------------------------------------------------------------- transpose */

static const ntg_attr_spec transpose_attrs[] = {
    {"perm", NTG_AK_INTS, 1, 0, NULL, "output axis i is input axis perm[i]"},
};

static int transpose_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    const ntg_tdesc *x = &s->in[0];
    int64_t n;
    const ntg_attr *p = ntg__attr_list(s->attr, NTG_TRANSPOSE_PERM, &n);
    if (need_f32(s, "transpose", msg, cap)) return -1;
    if (n != x->rank) {
        ntg__strfmt(msg, cap, "transpose: perm has %lld entries for rank %d", (long long)n,
                    x->rank);
        return -1;
    }
    int seen = 0;
    ntg_tdesc o = *x;
    for (int i = 0; i < x->rank; i++) {
        int64_t ax = p[i].i;
        if (ax < 0 || ax >= x->rank || (seen & (1 << ax))) {
            ntg__strfmt(msg, cap, "transpose: perm is not a permutation of 0..%d", x->rank - 1);
            return -1;
        }
        seen |= 1 << ax;
        o.dims[i] = x->dims[ax];
    }
    if (x->batched && p[0].i != 0) {
        ntg__strfmt(msg, cap, "transpose: the batch axis must stay first (perm[0] = 0)");
        return -1;
    }
    out[0] = o;
    return 0;
}

const ntg_op_class ntg__opclass_transpose = {
    "transpose",
    0,
    transpose_attrs,
    1,
    NULL,
    transpose_infer,
    saves_nothing,
    NULL,
    "Permutes the axes: output axis i is input axis perm[i] (torch.permute).",
    0};

/* ------------------------------------------------------ softmax, log_softmax */

static const ntg_attr_spec softmax_attrs[] = {
    {"axis", NTG_AK_INT, 0, -1, NULL, "axis to normalise"},
};

static int softmax_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    const ntg_tdesc *x = &s->in[0];
    if (need_f32(s, "softmax", msg, cap)) return -1;
    int ax = axis_of(s, NTG_SOFTMAX_AXIS, x, "softmax", msg, cap);
    if (ax < 0) return -1;
    out[0] = *x;
    return 0;
}

static double softmax_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    (void)s;
    return 4.0 * numel_d(out);
}

const ntg_op_class ntg__opclass_softmax = {
    "softmax",
    0,
    softmax_attrs,
    1,
    NULL,
    softmax_infer,
    saves_output0,
    softmax_flops,
    "exp(x - max) / sum(exp(x - max)) along one axis (the max keeps exp finite).",
    0};

const ntg_op_class ntg__opclass_log_softmax = {"log_softmax",
                                               0,
                                               softmax_attrs,
                                               1,
                                               NULL,
                                               softmax_infer,
                                               saves_output0,
                                               softmax_flops,
                                               "x - max - log(sum(exp(x - max))) along one axis.",
                                               0};

/* ---------------------------------------------------------------- layernorm */

static const ntg_attr_spec layernorm_attrs[] = {
    {"eps", NTG_AK_FLOAT, 0, 1e-5, NULL, "added to the variance"},
    {"affine", NTG_AK_BOOL, 0, 1, NULL, "learn a scale (weight) and shift (bias)"},
};

static int layernorm_params(const ntg_opsig *s, ntg_param_spec *out, int cap, char *msg,
                            size_t mcap)
{
    const ntg_tdesc *x = &s->in[0];
    if (x->rank < 1 || (x->batched && x->rank < 2)) {
        ntg__strfmt(msg, mcap, "layernorm: input needs a feature axis");
        return -1;
    }
    if (!ntg__attr_i(s->attr, NTG_LAYERNORM_AFFINE)) return 0;
    if (cap < 2) return -1;
    memset(out, 0, 2 * sizeof *out);
    const char *leaf[2] = {"weight", "bias"};
    for (int k = 0; k < 2; k++) {
        out[k].leaf = leaf[k];
        out[k].desc.dtype = NTG_DTYPE_F32;
        out[k].desc.rank = 1;
        out[k].desc.dims[0] = x->dims[x->rank - 1];
        out[k].init = k == 0 ? NTG_INIT_ONES : NTG_INIT_ZEROS; /* torch.nn.LayerNorm */
    }
    return 2;
}

static int layernorm_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *x = &s->in[0];
    int affine = (int)ntg__attr_i(s->attr, NTG_LAYERNORM_AFFINE);
    if (need_f32(s, "layernorm", msg, cap)) return -1;
    if (x->rank < 1 || (x->batched && x->rank < 2))
        return fail(msg, cap, "layernorm: input %s has no feature axis", SHP(x));
    if (s->n_in != (affine ? 3 : 1))
        return fail(msg, cap, "layernorm: expected %d operands", affine ? 3 : 1);
    if (!(ntg__attr_f(s->attr, NTG_LAYERNORM_EPS) > 0))
        return fail(msg, cap, "layernorm: eps must be positive");
    for (int k = 1; k < s->n_in; k++) {
        const ntg_tdesc *p = &s->in[k];
        if (p->batched || p->rank != 1 || p->dims[0] != x->dims[x->rank - 1])
            return fail(msg, cap, "layernorm: %s %s does not fit input %s",
                        k == 1 ? "weight" : "bias", SHP(p), SHP2(x));
    }
    out[0] = *x;
    return 0;
}

static uint32_t layernorm_saves(const ntg_opsig *s)
{
    return s->n_in == 3 ? 0x3u : 0x1u; /* x (statistics are recomputed) and the weight */
}

static double layernorm_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    (void)s;
    return 8.0 * numel_d(out);
}

const ntg_op_class ntg__opclass_layernorm = {
    "layernorm",
    NTG_OPF_PARAMS,
    layernorm_attrs,
    2,
    layernorm_params,
    layernorm_infer,
    layernorm_saves,
    layernorm_flops,
    "torch.nn.LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias "
    "(biased variance). Owns `weight` (ones) and `bias` (zeros) when affine.",
    0};

/* ------------------------------------------------------ gelu, tanh, sigmoid */

static uint32_t saves_input0_only(const ntg_opsig *s)
{
    (void)s;
    return 0x1u;
}

const ntg_op_class ntg__opclass_gelu = {
    "gelu",
    0,
    NULL,
    0,
    NULL,
    infer_same,
    saves_input0_only,
    flops_elementwise,
    "x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), the exact form (torch's default).",
    0};
const ntg_op_class ntg__opclass_tanh = {"tanh",
                                        0,
                                        NULL,
                                        0,
                                        NULL,
                                        infer_same,
                                        saves_output0,
                                        flops_elementwise,
                                        "Hyperbolic tangent, elementwise.",
                                        0};
const ntg_op_class ntg__opclass_sigmoid = {"sigmoid",
                                           0,
                                           NULL,
                                           0,
                                           NULL,
                                           infer_same,
                                           saves_output0,
                                           flops_elementwise,
                                           "1 / (1 + exp(-x)), elementwise.",
                                           0};

/* --------------------------------------------------------------- reductions */

static const ntg_attr_spec reduce_attrs[] = {
    {"axis", NTG_AK_INT, 0, -1, NULL, "axis to reduce"},
    {"keepdims", NTG_AK_BOOL, 0, 0, NULL, "keep the reduced axis with extent 1"},
};

static int reduce_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    const ntg_tdesc *x = &s->in[0];
    if (need_f32(s, "reduce", msg, cap)) return -1;
    int ax = axis_of(s, NTG_REDUCE_AXIS, x, "reduce", msg, cap);
    if (ax < 0) return -1;
    ntg_tdesc o = *x;
    if (ntg__attr_i(s->attr, NTG_REDUCE_KEEPDIMS)) {
        o.dims[ax] = 1;
    } else {
        for (int d = ax; d + 1 < x->rank; d++) o.dims[d] = x->dims[d + 1];
        o.rank--;
        if (o.rank == 0) { /* a scalar keeps one element */
            o.rank = 1;
            o.dims[0] = 1;
        }
    }
    out[0] = o;
    return 0;
}

static uint32_t saves_in_out(const ntg_opsig *s)
{
    (void)s;
    return 0x1u | (1u << 16);
}

static double reduce_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    (void)out;
    return numel_d(&s->in[0]);
}

const ntg_op_class ntg__opclass_reduce_sum = {
    "reduce_sum",          0, reduce_attrs, 2, NULL, reduce_infer, saves_nothing, reduce_flops,
    "Sum along one axis.", 0};
const ntg_op_class ntg__opclass_reduce_mean = {
    "reduce_mean",          0, reduce_attrs, 2, NULL, reduce_infer, saves_nothing, reduce_flops,
    "Mean along one axis.", 0};
const ntg_op_class ntg__opclass_reduce_max = {
    "reduce_max",
    0,
    reduce_attrs,
    2,
    NULL,
    reduce_infer,
    saves_in_out,
    reduce_flops,
    "Maximum along one axis; backward sends the gradient to the first maximum.",
    0};

/* -------------------------------------------------------------------- split */

static const ntg_attr_spec split_attrs[] = {
    {"axis", NTG_AK_INT, 0, -1, NULL, "axis to cut"},
    {"sizes", NTG_AK_INTS, 1, 0, NULL, "extent of each piece; they sum to the axis"},
};

static int split_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    const ntg_tdesc *x = &s->in[0];
    int64_t n;
    const ntg_attr *sz = ntg__attr_list(s->attr, NTG_SPLIT_SIZES, &n);
    if (need_f32(s, "split", msg, cap)) return -1;
    int ax = axis_of(s, NTG_SPLIT_AXIS, x, "split", msg, cap);
    if (ax < 0) return -1;
    if (n != s->n_out)
        return fail(msg, cap, "split: %lld sizes for %d outputs", (long long)n, s->n_out);
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (sz[i].i < 1) return fail(msg, cap, "split: sizes must be positive");
        sum += sz[i].i;
        out[i] = *x;
        out[i].dims[ax] = sz[i].i;
    }
    if (sum != x->dims[ax])
        return fail(msg, cap, "split: sizes sum to %lld, axis %d of %s has %lld", (long long)sum,
                    ax, SHP(x), (long long)x->dims[ax]);
    return 0;
}

const ntg_op_class ntg__opclass_split = {
    "split",
    0,
    split_attrs,
    2,
    NULL,
    split_infer,
    saves_nothing,
    NULL,
    "Cuts one axis into consecutive pieces of the given sizes, one output each.",
    0};

/* -------------------------------------------------------------------- scale */

static const ntg_attr_spec scale_attrs[] = {
    {"factor", NTG_AK_FLOAT, 1, 0, NULL, "the multiplier"},
};

const ntg_op_class ntg__opclass_scale = {"scale",
                                         0,
                                         scale_attrs,
                                         1,
                                         NULL,
                                         infer_same,
                                         saves_nothing,
                                         flops_elementwise,
                                         "y = factor * x, elementwise.",
                                         0};

/* ------------------------------------------------------------------- posenc */

static const ntg_attr_spec posenc_attrs[] = {
    {"length", NTG_AK_INT, 1, 0, NULL, "positions"},
    {"d_model", NTG_AK_INT, 1, 0, NULL, "features (even)"},
};

static int posenc_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    int64_t len = ntg__attr_i(s->attr, NTG_POSENC_LENGTH), d = ntg__attr_i(s->attr, NTG_POSENC_DIM);
    if (len < 1 || d < 2 || d % 2 || len > (1 << 24) || d > (1 << 16)) {
        ntg__strfmt(msg, cap, "posenc: length %lld and d_model %lld must be positive, d_model even",
                    (long long)len, (long long)d);
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->dtype = NTG_DTYPE_F32;
    out->rank = 2;
    out->dims[0] = len;
    out->dims[1] = d;
    return 0;
}

const ntg_op_class ntg__opclass_posenc = {
    "posenc",
    0,
    posenc_attrs,
    2,
    NULL,
    posenc_infer,
    NULL,
    NULL,
    "The sinusoidal positional encoding of 'Attention is all you need': pe[t, 2i] = "
    "sin(t / 10000^(2i/d)), pe[t, 2i+1] = cos(same), computed in double, rounded to float. "
    "The compiler folds it into a constant.",
    0};

/* -------------------------------------------------------------------- basis */

static const ntg_attr_spec basis_attrs[] = {
    {"kind", NTG_AK_ENUM, 1, 0, "poly|fourier",
     "poly: rows (t / period)^p, p = 0..degree (TrendBasis); fourier: cos rows then sin rows of "
     "sign 2 pi (t / period) f (SeasonalityBasis)"},
    {"length", NTG_AK_INT, 1, 0, NULL, "grid points t = 0 .. length - 1 (the columns)"},
    {"period", NTG_AK_INT, 0, 0, NULL, "the divisor of t; 0 = length"},
    {"degree", NTG_AK_INT, 0, 0, NULL, "poly: the highest power (degree + 1 rows)"},
    {"harmonics", NTG_AK_INT, 0, 0, NULL, "fourier: frequencies step by 1 / harmonics"},
    {"sign", NTG_AK_INT, 0, 1, NULL, "fourier: 1, or -1 for a backcast grid (sin rows negated)"},
};

static int basis_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    int fourier = ntg__attr_i(s->attr, NTG_BASIS_KIND) == NTG_BASIS_FOURIER;
    int64_t len = ntg__attr_i(s->attr, NTG_BASIS_LENGTH);
    int64_t per = ntg__attr_i(s->attr, NTG_BASIS_PERIOD);
    int64_t deg = ntg__attr_i(s->attr, NTG_BASIS_DEGREE);
    int64_t harm = ntg__attr_i(s->attr, NTG_BASIS_HARMONICS);
    int64_t sign = ntg__attr_i(s->attr, NTG_BASIS_SIGN);
    const int64_t cap_n = (int64_t)1 << 24;
    if (len < 1 || len > cap_n || per < 0 || per > cap_n)
        return fail(msg, cap,
                    "basis: length %lld and period %lld: need 1 <= length <= 2^24, "
                    "0 <= period <= 2^24",
                    (long long)len, (long long)per);
    int64_t rows;
    if (fourier) {
        if (harm < 1 || harm > 1024 || deg != 0 || (sign != 1 && sign != -1))
            return fail(msg, cap,
                        "basis: kind fourier takes harmonics in 1..1024 and sign 1 or -1, "
                        "not degree (harmonics %lld, sign %lld, degree %lld)",
                        (long long)harm, (long long)sign, (long long)deg);
        rows = 2 * ntg__basis_n_freq(harm, per ? per : len);
    } else {
        if (deg < 0 || deg > 64 || harm != 0 || sign != 1)
            return fail(msg, cap,
                        "basis: kind poly takes degree in 0..64, not harmonics or sign "
                        "(degree %lld, harmonics %lld, sign %lld)",
                        (long long)deg, (long long)harm, (long long)sign);
        rows = deg + 1;
    }
    if (rows * len > ((int64_t)1 << 28))
        return fail(msg, cap, "basis: %lld x %lld is too large", (long long)rows, (long long)len);
    memset(out, 0, sizeof *out);
    out->dtype = NTG_DTYPE_F32;
    out->rank = 2;
    out->dims[0] = rows;
    out->dims[1] = len;
    return 0;
}

const ntg_op_class ntg__opclass_basis = {
    "basis",
    0,
    basis_attrs,
    6,
    NULL,
    basis_infer,
    NULL,
    NULL,
    "N-BEATS' fixed bases as NeuralForecast builds them, a [rows, length] constant: poly "
    "(TrendBasis) row p = (t / period)^p; fourier (SeasonalityBasis) the cos rows then the sin "
    "rows of sign 2 pi (t / period) f for f = 0, 1, 1 + 1/harmonics, ... "
    "(1 + ceil(harmonics period / 2 - harmonics) frequencies). Computed in double, rounded to "
    "float. The compiler folds it into a constant; theta @ basis (matmul) is the expansion.",
    0};

/* --------------------------------------------------------------------- lstm */

static const ntg_attr_spec lstm_attrs[] = {
    {"hidden", NTG_AK_INT, 1, 0, NULL, "hidden size H"},
    {"layers", NTG_AK_INT, 0, 1, NULL, "stacked layers (the next takes the previous's h)"},
};

static const char *const lstm_leaf[NTG_LSTM_MAX_LAYERS][4] = {
#define L(k)                                                                                       \
    {                                                                                              \
        "weight_ih_l" #k, "weight_hh_l" #k, "bias_ih_l" #k, "bias_hh_l" #k                         \
    }
    L(0), L(1), L(2), L(3)
#undef L
};

static int lstm_check_attrs(const ntg_opsig *s, int64_t *h, int64_t *layers, char *msg, size_t cap)
{
    *h = ntg__attr_i(s->attr, NTG_LSTM_HIDDEN);
    *layers = ntg__attr_i(s->attr, NTG_LSTM_LAYERS);
    if (*h < 1 || *h > (1 << 16) || *layers < 1 || *layers > NTG_LSTM_MAX_LAYERS) {
        ntg__strfmt(msg, cap, "lstm: hidden %lld must be positive and layers %lld in 1..%d",
                    (long long)*h, (long long)*layers, NTG_LSTM_MAX_LAYERS);
        return -1;
    }
    const ntg_tdesc *x = &s->in[0];
    if (!x->batched || x->rank != 3) {
        char b[96];
        ntg__strfmt(msg, cap, "lstm: input %s must be [batch, time, features]",
                    ntg__tdesc_str(x, b, sizeof b));
        return -1;
    }
    return 0;
}

static int lstm_params(const ntg_opsig *s, ntg_param_spec *out, int cap, char *msg, size_t mcap)
{
    int64_t h, layers;
    if (lstm_check_attrs(s, &h, &layers, msg, mcap)) return -1;
    if (cap < 4 * layers) return -1;
    /* torch.nn.LSTM: every weight and bias U(-1/sqrt(H), 1/sqrt(H)), gates i, f, g, o */
    double bound = 1.0 / sqrt((double)h);
    for (int64_t k = 0; k < layers; k++) {
        int64_t in = k == 0 ? s->in[0].dims[2] : h;
        for (int j = 0; j < 4; j++) {
            ntg_param_spec *p = &out[4 * k + j];
            memset(p, 0, sizeof *p);
            p->leaf = lstm_leaf[k][j];
            p->desc.dtype = NTG_DTYPE_F32;
            p->desc.rank = j < 2 ? 2 : 1;
            p->desc.dims[0] = 4 * h;
            if (j < 2) p->desc.dims[1] = j == 0 ? in : h;
            p->init = NTG_INIT_UNIFORM;
            p->init_arg = bound;
        }
    }
    return (int)(4 * layers);
}

static int lstm_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    int64_t h, layers;
    if (need_f32(s, "lstm", msg, cap) || lstm_check_attrs(s, &h, &layers, msg, cap)) return -1;
    if (s->n_in != 1 + 4 * layers)
        return fail(msg, cap, "lstm: %lld layers need %lld operands, got %d", (long long)layers,
                    (long long)(1 + 4 * layers), s->n_in);
    const ntg_tdesc *x = &s->in[0];
    for (int64_t k = 0; k < layers; k++) {
        int64_t in = k == 0 ? x->dims[2] : h;
        for (int j = 0; j < 4; j++) {
            const ntg_tdesc *p = &s->in[1 + 4 * k + j];
            int ok = !p->batched && p->rank == (j < 2 ? 2 : 1) && p->dims[0] == 4 * h;
            if (ok && j < 2) ok = p->dims[1] == (j == 0 ? in : h);
            if (!ok)
                return fail(msg, cap, "lstm: %s is %s, expected [%lld%s]", lstm_leaf[k][j], SHP(p),
                            (long long)(4 * h),
                            j == 0   ? (in == h ? ", H" : ", input")
                            : j == 1 ? ", H"
                                     : "");
        }
    }
    out[0] = *x;
    out[0].dims[2] = h;
    if (s->n_out == 2) { /* the state backward-through-time reads */
        memset(&out[1], 0, sizeof out[1]);
        out[1].dtype = NTG_DTYPE_F32;
        out[1].batched = 1;
        out[1].rank = 4;
        out[1].dims[0] = x->dims[0];
        out[1].dims[1] = layers;
        out[1].dims[2] = x->dims[1];
        out[1].dims[3] = NTG_LSTM_WS_PER_STEP * h;
    }
    return 0;
}

static uint32_t lstm_saves(const ntg_opsig *s)
{
    /* x and every weight (not the biases: the gates are saved) and the state output */
    uint32_t m = 0x1u;
    for (int i = 1; i < s->n_in && i < 16; i++)
        if ((i - 1) % 4 < 2) m |= 1u << i;
    return m | (1u << 17);
}

static double lstm_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    const ntg_tdesc *x = &s->in[0];
    double h = (double)out->dims[2], steps = (double)x->dims[0] * (double)x->dims[1];
    double layers = (double)ntg__attr_i(s->attr, NTG_LSTM_LAYERS), f = 0;
    for (int k = 0; k < (int)layers; k++) {
        double in = k == 0 ? (double)x->dims[2] : h;
        f += steps * (2 * in * 4 * h + 2 * h * 4 * h + 2 * 4 * h);
    }
    return f;
}

const ntg_op_class ntg__opclass_lstm = {
    "lstm",
    NTG_OPF_PARAMS,
    lstm_attrs,
    2,
    lstm_params,
    lstm_infer,
    lstm_saves,
    lstm_flops,
    "torch.nn.LSTM(batch_first=True), zero initial state, gates i, f, g, o: x [batch, time, "
    "in] -> the top layer's h [batch, time, H]. Owns weight_ih_l<k> [4H, in], weight_hh_l<k> "
    "[4H, H], bias_ih_l<k>, bias_hh_l<k> [4H] per layer. Training keeps each step's gates, "
    "cell and hidden state (an extra output) for backward-through-time.",
    1};

/* ----------------------------------- exp, log, abs, sqrt, softplus, identity */

const ntg_op_class ntg__opclass_exp = {"exp",
                                       0,
                                       NULL,
                                       0,
                                       NULL,
                                       infer_same,
                                       saves_output0,
                                       flops_elementwise,
                                       "e^x, elementwise (inf above about 88.7 in float32).",
                                       0};
const ntg_op_class ntg__opclass_log = {
    "log",
    0,
    NULL,
    0,
    NULL,
    infer_same,
    saves_input0_only,
    flops_elementwise,
    "Natural logarithm, elementwise; IEEE as torch.log: log(0) = -inf, log(x < 0) = NaN.",
    0};
const ntg_op_class ntg__opclass_abs = {"abs",
                                       0,
                                       NULL,
                                       0,
                                       NULL,
                                       infer_same,
                                       saves_input0_only,
                                       flops_elementwise,
                                       "|x|, elementwise; the gradient is sign(x), 0 at x = 0.",
                                       0};
const ntg_op_class ntg__opclass_sqrt = {
    "sqrt",
    0,
    NULL,
    0,
    NULL,
    infer_same,
    saves_output0,
    flops_elementwise,
    "Square root, elementwise; IEEE as torch.sqrt: NaN below 0, gradient inf at 0.",
    0};
const ntg_op_class ntg__opclass_softplus = {
    "softplus",
    0,
    NULL,
    0,
    NULL,
    infer_same,
    saves_input0_only,
    flops_elementwise,
    "log(1 + e^x), elementwise, as torch.nn.Softplus() (beta 1): x itself where x > 20.",
    0};
const ntg_op_class ntg__opclass_identity = {"identity",
                                            0,
                                            NULL,
                                            0,
                                            NULL,
                                            infer_same,
                                            saves_nothing,
                                            flops_elementwise,
                                            "y = x: a copy under a new name.",
                                            0};

/* ------------------------------------------------- param and the window ops (issue 16) */

int64_t ntg__win_out_len(int64_t len, int64_t k, int64_t stride, int64_t pad, int64_t dil)
{
    int64_t span = len + 2 * pad - dil * (k - 1) - 1;
    return span < 0 ? 0 : span / stride + 1;
}

#define PAD_ENUMS "zeros|replicate"

/* -------------------------------------------------------------------- param */

static const ntg_attr_spec param_attrs[] = {
    {"shape", NTG_AK_INTS, 1, 0, NULL, "the tensor's shape (no batch axis)"},
    {"init", NTG_AK_ENUM, 0, 0, "zeros|ones|uniform", "initial values"},
    {"bound", NTG_AK_FLOAT, 0, 0.02, NULL, "init uniform: U(-bound, bound)"},
};

static int param_shape(const ntg_attr *a, ntg_tdesc *d, char *msg, size_t cap)
{
    int64_t n;
    const ntg_attr *sh = ntg__attr_list(a, NTG_PARAM_SHAPE, &n);
    if (n < 1 || n > NTG_MAX_RANK)
        return fail(msg, cap, "param: shape needs 1 to %d extents, not %lld", NTG_MAX_RANK,
                    (long long)n);
    memset(d, 0, sizeof *d);
    d->dtype = NTG_DTYPE_F32;
    d->rank = (uint8_t)n;
    for (int64_t k = 0; k < n; k++) {
        if (sh[k].i < 1)
            return fail(msg, cap, "param: extent %lld of shape is %lld; every extent must be >= 1",
                        (long long)k, (long long)sh[k].i);
        d->dims[k] = sh[k].i;
    }
    return 0;
}

static int param_params(const ntg_opsig *s, ntg_param_spec *out, int cap, char *msg, size_t mcap)
{
    if (cap < 1) return -1;
    memset(out, 0, sizeof *out);
    if (param_shape(s->attr, &out->desc, msg, mcap)) return -1;
    double bound = ntg__attr_f(s->attr, NTG_PARAM_BOUND);
    int64_t init = ntg__attr_i(s->attr, NTG_PARAM_INIT);
    if (init == 2 && !(bound > 0 && isfinite(bound)))
        return fail(msg, mcap, "param: bound %g must be positive and finite", bound);
    out->leaf = "weight";
    out->init = init == 1 ? NTG_INIT_ONES : init == 2 ? NTG_INIT_UNIFORM : NTG_INIT_ZEROS;
    out->init_arg = bound;
    return 1;
}

static int param_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    char b1[96], b2[96];
    ntg_tdesc want;
    if (need_f32(s, "param", msg, cap)) return -1;
    if (s->n_in != 1) return fail(msg, cap, "param: expected 1 operand (its parameter)");
    if (param_shape(s->attr, &want, msg, cap)) return -1;
    if (!ntg__tdesc_equal(&s->in[0], &want))
        return fail(msg, cap, "param: parameter %s is not the declared shape %s",
                    ntg__tdesc_str(&s->in[0], b1, sizeof b1), ntg__tdesc_str(&want, b2, sizeof b2));
    out[0] = want;
    return 0;
}

const ntg_op_class ntg__opclass_param = {
    "param",
    NTG_OPF_PARAMS | NTG_OPF_NO_INPUT,
    param_attrs,
    3,
    param_params,
    param_infer,
    saves_nothing,
    NULL,
    "A free learned tensor (torch.nn.Parameter): no input, one output, the parameter `weight` "
    "of the given shape, initialised to zeros, ones or U(-bound, bound).",
    0};

/* ---------------------------------------------------------------- avgpool1d */

static const ntg_attr_spec avgpool_attrs[] = {
    {"kernel", NTG_AK_INT, 1, 0, NULL, "window length"},
    {"stride", NTG_AK_INT, 0, 0, NULL, "step between windows; 0 = kernel"},
    {"padding", NTG_AK_INT, 0, 0, NULL, "elements added on both ends"},
    {"padding_mode", NTG_AK_ENUM, 0, NTG_PAD_ZEROS, PAD_ENUMS,
     "zeros (counted in the mean, torch's count_include_pad) or replicate (the edge values)"},
};

static int avgpool_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    char b1[96];
    const ntg_tdesc *x = &s->in[0];
    int64_t k = ntg__attr_i(s->attr, NTG_AVGPOOL_KERNEL);
    int64_t st = ntg__attr_i(s->attr, NTG_AVGPOOL_STRIDE);
    int64_t pad = ntg__attr_i(s->attr, NTG_AVGPOOL_PAD);
    int rep = ntg__attr_i(s->attr, NTG_AVGPOOL_MODE) == NTG_PAD_REPLICATE;
    if (need_f32(s, "avgpool1d", msg, cap)) return -1;
    if (st == 0) st = k;
    if (k < 1 || st < 1 || pad < 0 || (!rep && pad > k / 2))
        return fail(msg, cap,
                    "avgpool1d: kernel %lld, stride %lld, padding %lld: need kernel >= 1, "
                    "stride >= 1, padding >= 0 (and <= kernel/2 with zeros padding)",
                    (long long)k, (long long)st, (long long)pad);
    if (x->rank < 1 || (x->batched && x->rank < 2))
        return fail(msg, cap, "avgpool1d: input %s has no time axis",
                    ntg__tdesc_str(x, b1, sizeof b1));
    int64_t len = x->dims[x->rank - 1];
    int64_t n = ntg__win_out_len(len, k, st, pad, 1);
    if (n < 1)
        return fail(msg, cap, "avgpool1d: kernel %lld is longer than the padded input (%lld)",
                    (long long)k, (long long)(len + 2 * pad));
    out[0] = *x;
    out[0].dims[x->rank - 1] = n;
    return 0;
}

static double avgpool_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    return (double)ntg__tdesc_numel(out) * (double)ntg__attr_i(s->attr, NTG_AVGPOOL_KERNEL);
}

const ntg_op_class ntg__opclass_avgpool1d = {
    "avgpool1d",
    0,
    avgpool_attrs,
    4,
    NULL,
    avgpool_infer,
    saves_nothing,
    avgpool_flops,
    "Mean over windows of the last axis, as torch.nn.AvgPool1d (count_include_pad); with "
    "padding_mode replicate the ends repeat the edge values (DLinear's moving average).",
    0};

/* ------------------------------------------------------------------- conv1d */

static const ntg_attr_spec conv_attrs[] = {
    {"out_channels", NTG_AK_INT, 1, 0, NULL, "output channels (rows of the weight)"},
    {"kernel", NTG_AK_INT, 1, 0, NULL, "kernel length"},
    {"stride", NTG_AK_INT, 0, 1, NULL, "step between windows"},
    {"padding", NTG_AK_INT, 0, 0, NULL, "elements added on both ends of the length axis"},
    {"dilation", NTG_AK_INT, 0, 1, NULL, "spacing between kernel taps"},
    {"groups", NTG_AK_INT, 0, 1, NULL, "channel groups (in and out channels divisible by it)"},
    {"bias", NTG_AK_BOOL, 0, 1, NULL, "add a learned bias (torch's default)"},
    {"padding_mode", NTG_AK_ENUM, 0, NTG_PAD_ZEROS, PAD_ENUMS,
     "zeros or replicate (the edge values), as torch.nn.Conv1d"},
};

/* The geometry checks params and infer share; -1 with a message. */
static int conv_check(const ntg_opsig *s, const ntg_tdesc *x, int64_t *cin, int64_t *lout,
                      char *msg, size_t cap)
{
    char b1[96];
    const ntg_attr *a = s->attr;
    int64_t co = ntg__attr_i(a, NTG_CONV_OUT), k = ntg__attr_i(a, NTG_CONV_KERNEL);
    int64_t st = ntg__attr_i(a, NTG_CONV_STRIDE), pad = ntg__attr_i(a, NTG_CONV_PAD);
    int64_t dil = ntg__attr_i(a, NTG_CONV_DILATION), g = ntg__attr_i(a, NTG_CONV_GROUPS);
    if (co < 1 || k < 1 || st < 1 || pad < 0 || dil < 1 || g < 1)
        return fail(msg, cap,
                    "conv1d: out_channels %lld, kernel %lld, stride %lld, padding %lld, "
                    "dilation %lld, groups %lld: need padding >= 0 and the others >= 1",
                    (long long)co, (long long)k, (long long)st, (long long)pad, (long long)dil,
                    (long long)g);
    if (x->rank < 2 || (x->batched && x->rank < 3))
        return fail(msg, cap, "conv1d: input %s needs channel and length axes ([.., C, L])",
                    ntg__tdesc_str(x, b1, sizeof b1));
    *cin = x->dims[x->rank - 2];
    if (*cin % g || co % g)
        return fail(msg, cap,
                    "conv1d: groups %lld must divide the input channels (%lld) and out_channels "
                    "(%lld)",
                    (long long)g, (long long)*cin, (long long)co);
    int64_t len = x->dims[x->rank - 1];
    *lout = ntg__win_out_len(len, k, st, pad, dil);
    if (*lout < 1)
        return fail(msg, cap,
                    "conv1d: kernel %lld at dilation %lld spans %lld, longer than the padded "
                    "input (%lld)",
                    (long long)k, (long long)dil, (long long)(dil * (k - 1) + 1),
                    (long long)(len + 2 * pad));
    return 0;
}

static int conv_params(const ntg_opsig *s, ntg_param_spec *out, int cap, char *msg, size_t mcap)
{
    int64_t cin, lout;
    if (cap < 2) return -1;
    if (conv_check(s, &s->in[0], &cin, &lout, msg, mcap)) return -1;
    int64_t co = ntg__attr_i(s->attr, NTG_CONV_OUT), k = ntg__attr_i(s->attr, NTG_CONV_KERNEL);
    int64_t g = ntg__attr_i(s->attr, NTG_CONV_GROUPS);
    /* torch.nn.Conv1d: kaiming_uniform(a=sqrt(5)) is U(+-1/sqrt(fan_in)), fan_in =
     * in_channels/groups * kernel; the bias the same bound */
    double bound = 1.0 / sqrt((double)(cin / g * k));
    const int64_t wdims[] = {co, cin / g, k};
    return weight_and_bias(out, wdims, 3, ntg__attr_i(s->attr, NTG_CONV_BIAS), bound);
}

static int conv_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    char b1[96], b2[96];
    const ntg_tdesc *x = &s->in[0], *w = &s->in[1];
    int has_bias = (int)ntg__attr_i(s->attr, NTG_CONV_BIAS);
    int64_t cin, lout;
    if (need_f32(s, "conv1d", msg, cap)) return -1;
    if (s->n_in != 2 + has_bias)
        return fail(msg, cap, "conv1d: expected %s operands (x, weight%s)", has_bias ? "3" : "2",
                    has_bias ? ", bias" : "");
    if (conv_check(s, x, &cin, &lout, msg, cap)) return -1;
    int64_t co = ntg__attr_i(s->attr, NTG_CONV_OUT), k = ntg__attr_i(s->attr, NTG_CONV_KERNEL);
    int64_t g = ntg__attr_i(s->attr, NTG_CONV_GROUPS);
    if (w->batched || w->rank != 3 || w->dims[0] != co || w->dims[1] != cin / g || w->dims[2] != k)
        return fail(msg, cap,
                    "conv1d: weight %s does not fit input %s (weight is [out_channels, "
                    "in_channels/groups, kernel])",
                    ntg__tdesc_str(w, b1, sizeof b1), ntg__tdesc_str(x, b2, sizeof b2));
    if (has_bias) {
        const ntg_tdesc *b = &s->in[2];
        if (b->batched || b->rank != 1 || b->dims[0] != co)
            return fail(msg, cap, "conv1d: bias %s does not fit out_channels %lld",
                        ntg__tdesc_str(b, b1, sizeof b1), (long long)co);
    }
    out[0] = *x;
    out[0].dims[x->rank - 2] = co;
    out[0].dims[x->rank - 1] = lout;
    return 0;
}

static uint32_t conv_saves(const ntg_opsig *s)
{
    (void)s;
    return 0x3u; /* x and weight */
}

static double conv_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    double per = 2.0 * (double)s->in[1].dims[1] * (double)s->in[1].dims[2];
    return (double)ntg__tdesc_numel(out) * per;
}

const ntg_op_class ntg__opclass_conv1d = {
    "conv1d",
    NTG_OPF_PARAMS,
    conv_attrs,
    8,
    conv_params,
    conv_infer,
    conv_saves,
    conv_flops,
    "1-d convolution over [.., in_channels, length] as torch.nn.Conv1d (stride, padding with "
    "zeros or replicate, dilation, groups). Owns parameters `weight` [out_channels, "
    "in_channels/groups, kernel] and `bias`.",
    0};

/* ------------------------------------------------------------------- unfold */

static const ntg_attr_spec unfold_attrs[] = {
    {"size", NTG_AK_INT, 1, 0, NULL, "patch length"},
    {"step", NTG_AK_INT, 1, 0, NULL, "stride between patch starts"},
    {"pad_end", NTG_AK_INT, 0, 0, NULL, "copies of the last value appended first"},
};

static int unfold_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    char b1[96];
    const ntg_tdesc *x = &s->in[0];
    int64_t size = ntg__attr_i(s->attr, NTG_UNFOLD_SIZE);
    int64_t step = ntg__attr_i(s->attr, NTG_UNFOLD_STEP);
    int64_t pad = ntg__attr_i(s->attr, NTG_UNFOLD_PAD_END);
    if (need_f32(s, "unfold", msg, cap)) return -1;
    if (size < 1 || step < 1 || pad < 0)
        return fail(msg, cap,
                    "unfold: size %lld, step %lld, pad_end %lld: need size >= 1, step >= 1, "
                    "pad_end >= 0",
                    (long long)size, (long long)step, (long long)pad);
    if (x->rank < 1 || (x->batched && x->rank < 2))
        return fail(msg, cap, "unfold: input %s has no axis to cut",
                    ntg__tdesc_str(x, b1, sizeof b1));
    if (x->rank >= NTG_MAX_RANK)
        return fail(msg, cap, "unfold: input %s already has %d axes, the most a tensor has",
                    ntg__tdesc_str(x, b1, sizeof b1), NTG_MAX_RANK);
    int64_t len = x->dims[x->rank - 1];
    if (len + pad < size)
        return fail(msg, cap,
                    "unfold: size %lld is longer than the input (%lld) and its pad_end (%lld)",
                    (long long)size, (long long)len, (long long)pad);
    out[0] = *x;
    out[0].rank = (uint8_t)(x->rank + 1);
    out[0].dims[x->rank - 1] = (len + pad - size) / step + 1;
    out[0].dims[x->rank] = size;
    return 0;
}

const ntg_op_class ntg__opclass_unfold = {
    "unfold",
    0,
    unfold_attrs,
    3,
    NULL,
    unfold_infer,
    saves_nothing,
    NULL,
    "Patches of the last axis, as Tensor.unfold(-1, size, step) after appending pad_end copies "
    "of the last value (PatchTST's ReplicationPad1d((0, stride)) and patching): [.., L] -> "
    "[.., n, size].",
    0};

/* ------------------------------------------------------------------ dropout */

static const ntg_attr_spec dropout_attrs[] = {
    {"p", NTG_AK_FLOAT, 0, 0.5, NULL, "probability of zeroing an element in training"},
    {"stream", NTG_AK_INT, 0, -1, NULL,
     "the mask's random stream (-1: numbered by the compiler, the graph's n-th dropout)"},
};

static int dropout_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    char b1[96];
    double p = ntg__attr_f(s->attr, NTG_DROPOUT_P);
    int64_t stream = ntg__attr_i(s->attr, NTG_DROPOUT_STREAM);
    if (need_f32(s, "dropout", msg, cap)) return -1;
    if (!(p >= 0 && p <= 1)) return fail(msg, cap, "dropout: p %g must lie in [0, 1]", p);
    if (stream < -1)
        return fail(msg, cap, "dropout: stream %lld must be >= 0 (or -1: numbered by the compiler)",
                    (long long)stream);
    if (s->n_in == 2) {
        const ntg_tdesc *r = &s->in[1];
        if (r->batched || r->rank != 1 || r->dims[0] != NTG_RNG_SIZE)
            return fail(msg, cap, "dropout: the random-stream input %s must be [%d]",
                        ntg__tdesc_str(r, b1, sizeof b1), NTG_RNG_SIZE);
    }
    out[0] = s->in[0];
    return 0;
}

/* the backward redraws the mask from train.rng; x and y are not read */
static uint32_t dropout_saves(const ntg_opsig *s)
{
    return s->n_in == 2 ? 2u : 0u;
}

const ntg_op_class ntg__opclass_dropout = {
    "dropout",
    0,
    dropout_attrs,
    2,
    NULL,
    dropout_infer,
    dropout_saves,
    flops_elementwise,
    "torch.nn.Dropout(p): in the training programs (grad, train_step) each element is zeroed "
    "with probability p and the rest scaled by 1/(1-p), the mask a pure function of (seed, "
    "step, stream, global element index); the identity in forecasts and validation.",
    0};

/* ---------------------------------------------------------------- batchnorm */

static const ntg_attr_spec batchnorm_attrs[] = {
    {"eps", NTG_AK_FLOAT, 0, 1e-5, NULL, "added to the variance"},
    {"momentum", NTG_AK_FLOAT, 0, 0.1, NULL,
     "weight of the batch statistics in the running ones (torch's momentum)"},
};

/* x [batch, C] or [batch, C, L]: C, or -1 with a message */
static int64_t bn_channels(const ntg_tdesc *x, char *msg, size_t cap)
{
    char b1[96];
    if (!x->batched || x->rank < 2 || x->rank > 3) {
        fail(msg, cap, "batchnorm: input %s must be [batch, C] or [batch, C, L]",
             ntg__tdesc_str(x, b1, sizeof b1));
        return -1;
    }
    return x->dims[1];
}

static int batchnorm_params(const ntg_opsig *s, ntg_param_spec *out, int cap, char *msg,
                            size_t mcap)
{
    static const char *const leaf[4] = {"weight", "bias", "running_mean", "running_var"};
    static const ntg_init init[4] = {NTG_INIT_ONES, NTG_INIT_ZEROS, NTG_INIT_ZEROS, NTG_INIT_ONES};
    if (s->n_in < 1) return fail(msg, mcap, "batchnorm: needs an input");
    int64_t c = bn_channels(&s->in[0], msg, mcap);
    if (c < 0) return -1;
    if (cap < 4) return fail(msg, mcap, "batchnorm: too many parameters");
    memset(out, 0, 4 * sizeof *out);
    for (int k = 0; k < 4; k++) {
        out[k].leaf = leaf[k];
        out[k].desc.dtype = NTG_DTYPE_F32;
        out[k].desc.rank = 1;
        out[k].desc.dims[0] = c;
        out[k].init = init[k];
        out[k].buffer = k >= 2;
    }
    return 4;
}

static int batchnorm_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    double eps = ntg__attr_f(s->attr, NTG_BATCHNORM_EPS);
    double mom = ntg__attr_f(s->attr, NTG_BATCHNORM_MOMENTUM);
    if (need_f32(s, "batchnorm", msg, cap)) return -1;
    if (s->n_in != 5)
        return fail(msg, cap,
                    "batchnorm: expected 5 operands (x, weight, bias, running_mean, "
                    "running_var), got %d",
                    s->n_in);
    int64_t c = bn_channels(&s->in[0], msg, cap);
    if (c < 0) return -1;
    if (!(eps > 0) || !isfinite(eps))
        return fail(msg, cap, "batchnorm: eps %g must be positive and finite", eps);
    if (!(mom >= 0 && mom <= 1))
        return fail(msg, cap, "batchnorm: momentum %g must lie in [0, 1]", mom);
    static const char *const what[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 1; k < 5; k++) {
        const ntg_tdesc *p = &s->in[k];
        if (p->batched || p->rank != 1 || p->dims[0] != c)
            return fail(msg, cap, "batchnorm: %s %s does not fit input %s (channels on axis 1)",
                        what[k - 1], SHP(p), SHP2(&s->in[0]));
    }
    out[0] = s->in[0];
    if (s->n_out > 1) { /* training: the batch's mean, biased and unbiased variance */
        memset(&out[1], 0, sizeof out[1]);
        out[1].dtype = NTG_DTYPE_F32;
        out[1].rank = 2;
        out[1].dims[0] = 3;
        out[1].dims[1] = c;
    }
    return 0;
}

/* x, weight, the running statistics (the forecast form's backward) and the saved batch ones */
static uint32_t batchnorm_saves(const ntg_opsig *s)
{
    (void)s;
    return 1u | 2u | 8u | 16u | (1u << 17);
}

static double batchnorm_flops(const ntg_opsig *s, const ntg_tdesc *out)
{
    (void)s;
    return 6 * numel_d(&out[0]);
}

const ntg_op_class ntg__opclass_batchnorm = {
    "batchnorm",
    NTG_OPF_PARAMS,
    batchnorm_attrs,
    2,
    batchnorm_params,
    batchnorm_infer,
    batchnorm_saves,
    batchnorm_flops,
    "torch.nn.BatchNorm1d over the channel axis of [batch, C] or [batch, C, L]: in training "
    "the batch's statistics (and the running ones updated), in forecasts and validation the "
    "running ones. Owns parameters `weight` and `bias` and the buffers `running_mean` and "
    "`running_var`.",
    1};

static const ntg_attr_spec bnstats_attrs[] = {
    {"momentum", NTG_AK_FLOAT, 0, 0.1, NULL, "weight of the batch statistics"},
};

static int bnstats_infer(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t cap)
{
    SHAPE_BUFS;
    (void)out;
    if (need_f32(s, "batchnorm_stats", msg, cap)) return -1;
    const ntg_tdesc *m = &s->in[0], *v = &s->in[1], *st = &s->in[2];
    if (m->batched || m->rank != 1 || !ntg__tdesc_equal(m, v) || st->batched || st->rank != 2 ||
        st->dims[0] != 3 || st->dims[1] != m->dims[0])
        return fail(msg, cap,
                    "batchnorm_stats: running mean %s, running var %s and saved statistics %s "
                    "do not fit",
                    SHP(m), SHP2(v), SHP3(st));
    return 0;
}

const ntg_op_class ntg__opclass_batchnorm_stats = {
    "batchnorm_stats",
    NTG_OPF_INPLACE,
    bnstats_attrs,
    1,
    NULL,
    bnstats_infer,
    NULL,
    NULL,
    "In place, after a training forward of batchnorm: running = (1 - momentum) running + "
    "momentum batch (the unbiased variance), as torch. The compiler adds it; graphs do not "
    "write it.",
    0};
