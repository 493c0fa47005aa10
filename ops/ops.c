/* ops.c — the op table built from ops.def, name lookup, attribute slots and shape helpers. */
#include "ops.h"

#include <stdio.h>
#include <string.h>

#include "nearest.h"
#include "ntg_error.h"

static const ntg_op_info op_table[NTG_OP_COUNT] = {
#define NTG_OP(name, ni0, ni1, no0, no1)                                                           \
    [NTG_OP_##name] = {&ntg__opclass_##name, ni0, ni1, no0, no1, 1},
#define NTG_OP_NODIFF(name, ni0, ni1, no0, no1)                                                    \
    [NTG_OP_##name] = {&ntg__opclass_##name, ni0, ni1, no0, no1, 0},
#include "ops.def"
#undef NTG_OP
#undef NTG_OP_NODIFF
};

/* Keeps the X-macro expansions above and the enum in step. */
#define NTG_OP(name, ni0, ni1, no0, no1) +1
_Static_assert(0
#include "ops.def"
                   == NTG_OP_COUNT,
               "op table and ops.def disagree");
#undef NTG_OP

const ntg_op_info *ntg__op_info(uint32_t code)
{
    return code < NTG_OP_COUNT ? &op_table[code] : NULL;
}

int ntg__op_lookup(const char *name)
{
    for (int i = 0; i < NTG_OP_COUNT; i++)
        if (strcmp(op_table[i].cls->name, name) == 0) return i;
    return -1;
}

static int same_ignoring_case(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y) return 0;
    }
    return *a == *b;
}

const char *ntg__op_nearest(const char *name)
{
    const char *best = NULL;
    int best_d = 1000;
    size_t ln = strlen(name);
    for (int i = 0; i < NTG_OP_COUNT; i++) {
        const char *cand = op_table[i].cls->name;
        size_t lc = strlen(cand);
        if (same_ignoring_case(name, cand)) return cand; /* "ReLU", "LSTM" */
        int d = ntg__edit_distance(name, cand);
        /* a long enough prefix ("maxpool" for "maxpool1d") is as good as one edit */
        if (ln >= 3 && 2 * ln >= lc && strncmp(cand, name, ln) == 0) d = 1;
        /* genuinely close: at most a third of the longer name changed ("exp" is not "relu") */
        size_t longer = ln > lc ? ln : lc;
        int allowed = (int)(longer / 3) > 1 ? (int)(longer / 3) : 1;
        if (d <= allowed && d < best_d) {
            best_d = d;
            best = cand;
        }
    }
    return best;
}

/* Other frameworks' names of ops ntgraph has under another name (PyTorch's modules and
 * functions, Keras', NeuralForecast's), matched exactly. */
static const struct {
    const char *alias, *op;
} op_aliases[] = {
    {"linear", "dense"},
    {"Linear", "dense"},
    {"fc", "dense"},
    {"Dense", "dense"},
    {"fully_connected", "dense"},
    {"LayerNorm", "layernorm"},
    {"layer_norm", "layernorm"},
    {"ln", "layernorm"},
    {"cat", "concat"},
    {"concatenate", "concat"},
    {"permute", "transpose"},
    {"view", "reshape"},
    {"bmm", "matmul"},
    {"MaxPool1d", "maxpool1d"},
    {"max_pool1d", "maxpool1d"},
    {"LogSoftmax", "log_softmax"},
    {"logsoftmax", "log_softmax"},
    {"sum", "reduce_sum"},
    {"mean", "reduce_mean"},
    {"max", "reduce_max"},
    {"multiply", "mul"},
    {"subtract", "sub"},
    {"interpolate", "interp_linear"},
    {"Identity", "identity"},
    {"chunk", "split"},
    {"flatten", "reshape"},
    {"Conv1d", "conv1d"},
    {"conv", "conv1d"},
    {"AvgPool1d", "avgpool1d"},
    {"avg_pool1d", "avgpool1d"},
    {"Parameter", "param"},
    {"parameter", "param"},
    {"Dropout", "dropout"},
    {"TrendBasis", "basis"},
    {"SeasonalityBasis", "basis"},
    {"BatchNorm1d", "batchnorm"},
    {"batch_norm", "batchnorm"},
};

const char *ntg__op_hint(const char *name, char *buf, size_t cap)
{
    if (!cap) return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof op_aliases / sizeof op_aliases[0]; i++)
        if (strcmp(name, op_aliases[i].alias) == 0) {
            ntg__strfmt(buf, cap, "; did you mean '%s'? (ntgraph's name for %s)", op_aliases[i].op,
                        name);
            return buf;
        }
    const char *near = ntg__op_nearest(name);
    if (near) ntg__strfmt(buf, cap, "; did you mean '%s'?", near);
    return buf;
}

int ntg__op_attr_index(const ntg_op_class *cls, const char *name)
{
    for (int k = 0; k < cls->n_attrs; k++)
        if (strcmp(cls->attrs[k].name, name) == 0) return k;
    return -1;
}

const ntg_attr *ntg__attr_list(const ntg_attr *a, int k, int64_t *count)
{
    uint64_t v = (uint64_t)a[k].i;
    *count = (int64_t)(v & 0xffffffffu);
    return a + (v >> 32);
}

int ntg__attr_check(const ntg_op_class *cls, const ntg_attr *a, uint32_t n_attr, char *msg,
                    size_t msgcap)
{
    if (n_attr < (uint32_t)cls->n_attrs) {
        ntg__strfmt(msg, msgcap, "op '%s' has %u attribute slots, needs %d", cls->name, n_attr,
                    cls->n_attrs);
        return -1;
    }
    for (int k = 0; k < cls->n_attrs; k++) {
        ntg_attr_kind kind = cls->attrs[k].kind;
        if (kind == NTG_AK_INTS || kind == NTG_AK_FLOATS) {
            uint64_t v = (uint64_t)a[k].i, off = v >> 32, cnt = v & 0xffffffffu;
            if (off < (uint64_t)cls->n_attrs || off > n_attr || cnt > n_attr - off) {
                ntg__strfmt(msg, msgcap, "attribute '%s' of op '%s' lies outside its slots",
                            cls->attrs[k].name, cls->name);
                return -1;
            }
            for (uint64_t j = 0; kind == NTG_AK_INTS && j < cnt; j++) {
                int64_t iv = a[off + j].i;
                if (iv > NTG_ATTR_INT_MAX || iv < -NTG_ATTR_INT_MAX) {
                    ntg__strfmt(msg, msgcap, "attribute '%s' of op '%s' is out of range (%lld)",
                                cls->attrs[k].name, cls->name, (long long)iv);
                    return -1;
                }
            }
        } else if (kind == NTG_AK_ENUM) {
            int n = 1;
            for (const char *p = cls->attrs[k].enums; *p; p++) n += *p == '|';
            if (a[k].i < 0 || a[k].i >= n) {
                ntg__strfmt(msg, msgcap, "attribute '%s' of op '%s' has no value %lld",
                            cls->attrs[k].name, cls->name, (long long)a[k].i);
                return -1;
            }
        } else if (kind == NTG_AK_INT &&
                   (a[k].i > NTG_ATTR_INT_MAX || a[k].i < -NTG_ATTR_INT_MAX)) {
            ntg__strfmt(msg, msgcap, "attribute '%s' of op '%s' is out of range (%lld)",
                        cls->attrs[k].name, cls->name, (long long)a[k].i);
            return -1;
        } else if (kind == NTG_AK_BOOL && a[k].i != 0 && a[k].i != 1) {
            ntg__strfmt(msg, msgcap, "attribute '%s' of op '%s' is not a boolean",
                        cls->attrs[k].name, cls->name);
            return -1;
        }
    }
    return 0;
}

int ntg__axis(int64_t axis, int rank)
{
    if (axis < 0) axis += rank;
    return axis >= 0 && axis < rank ? (int)axis : -1;
}

/* Product of dims[from..rank), saturating at INT64_MAX (checked, never signed overflow). */
static int64_t dims_product(const ntg_tdesc *d, int from)
{
    int64_t n = 1;
    for (int i = from; i < d->rank; i++)
        if (__builtin_mul_overflow(n, d->dims[i], &n)) return INT64_MAX;
    return n;
}

int64_t ntg__tdesc_numel(const ntg_tdesc *d)
{
    return dims_product(d, 0);
}

int64_t ntg__tdesc_inner(const ntg_tdesc *d)
{
    return dims_product(d, d->batched ? 1 : 0);
}

int ntg__tdesc_bytes(const ntg_tdesc *d, uint64_t *bytes)
{
    int64_t n = 1;
    for (int i = 0; i < d->rank; i++)
        if (d->dims[i] < 0 || __builtin_mul_overflow(n, d->dims[i], &n)) return -1;
    if (__builtin_mul_overflow(n, (int64_t)4, &n)) return -1;
    *bytes = (uint64_t)n;
    return 0;
}

const char *ntg__tdesc_str(const ntg_tdesc *d, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (n < cap) {                                                                             \
            int w_ = snprintf(buf + n, cap - n, __VA_ARGS__);                                      \
            if (w_ > 0) n += (size_t)w_;                                                           \
        }                                                                                          \
    } while (0)
    PUT("[");
    for (int i = 0; i < d->rank; i++) {
        if (i == 0 && d->batched)
            PUT("batch");
        else
            PUT("%s%lld", i ? ", " : "", (long long)d->dims[i]);
    }
    PUT("]");
#undef PUT
    return buf;
}

int ntg__tdesc_equal(const ntg_tdesc *a, const ntg_tdesc *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank || a->batched != b->batched) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

void ntg__tdesc_from_rec(const ntg_tensor_rec *t, ntg_tdesc *d)
{
    memset(d, 0, sizeof *d);
    d->dtype = t->dtype;
    d->rank = t->rank <= NTG_MAX_RANK ? t->rank : NTG_MAX_RANK;
    d->batched = (t->flags & NTG_TF_BATCHED) ? 1 : 0;
    for (int i = 0; i < d->rank; i++) d->dims[i] = t->dims[i];
}
