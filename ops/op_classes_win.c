/* op_classes_win.c — attribute schemas, parameters and shape rules of param, avgpool1d and
 * conv1d (issue 16's learned tensor and window ops). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ntg_error.h"
#include "op_attrs.h"
#include "ops.h"

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
        if (s->in[i].dtype != NTG_DTYPE_F32)
            return fail(msg, cap, "%s: input %d must be float32", op, i);
    return 0;
}

static uint32_t saves_nothing(const ntg_opsig *s)
{
    (void)s;
    return 0;
}

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
    memset(out, 0, 2 * sizeof *out);
    out[0].leaf = "weight";
    out[0].desc.dtype = NTG_DTYPE_F32;
    out[0].desc.rank = 3;
    out[0].desc.dims[0] = co;
    out[0].desc.dims[1] = cin / g;
    out[0].desc.dims[2] = k;
    out[0].init = NTG_INIT_UNIFORM;
    out[0].init_arg = bound;
    if (!ntg__attr_i(s->attr, NTG_CONV_BIAS)) return 1;
    out[1].leaf = "bias";
    out[1].desc.dtype = NTG_DTYPE_F32;
    out[1].desc.rank = 1;
    out[1].desc.dims[0] = co;
    out[1].init = NTG_INIT_UNIFORM;
    out[1].init_arg = bound;
    return 2;
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
