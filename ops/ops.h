/* ops.h — the op table (codes, names, attributes, shape rules) and the records a backend runs. */
#ifndef NTG_OPS_H
#define NTG_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "ntgraph.h"

#define NTG_NONE UINT32_MAX /* "no tensor" in an operand list */

/* ------------------------------------------------------------- op codes */

typedef enum ntg_op_code {
#define NTG_OP(name, ni0, ni1, no0, no1) NTG_OP_##name,
#include "ops.def"
#undef NTG_OP
    NTG_OP_COUNT
} ntg_op_code;

typedef enum ntg_op_dir {
    NTG_DIR_FWD = 0, /* the op itself */
    NTG_DIR_BWD = 1  /* its backward: grads of the forward inputs from grads of its outputs */
} ntg_op_dir;

/* ------------------------------------------------------------ attributes */

/* One attribute slot.  Scalars take one slot; a list attribute's slot holds
 * (offset << 32 | count) where offset is counted from the op's first slot. */
typedef union ntg_attr {
    int64_t i;
    double f;
} ntg_attr;

typedef enum ntg_attr_kind {
    NTG_AK_INT = 0,
    NTG_AK_FLOAT = 1,
    NTG_AK_BOOL = 2,
    NTG_AK_ENUM = 3,  /* stored as the index into `enums` */
    NTG_AK_INTS = 4,  /* list of integers */
    NTG_AK_FLOATS = 5 /* list of floats */
} ntg_attr_kind;

typedef struct ntg_attr_spec {
    const char *name;
    ntg_attr_kind kind;
    int required;
    double def;        /* default of an optional scalar (INT/BOOL/ENUM cast from it) */
    const char *enums; /* ENUM: '|'-separated names, e.g. "none|relu|gelu|tanh|sigmoid" */
    const char *doc;
} ntg_attr_spec;

/* Activation functions fused into ops (the `activation` enum of dense). */
typedef enum ntg_act {
    NTG_ACT_NONE = 0,
    NTG_ACT_RELU = 1,
    NTG_ACT_GELU = 2,
    NTG_ACT_TANH = 3,
    NTG_ACT_SIGMOID = 4
} ntg_act;
#define NTG_ACT_ENUMS "none|relu|gelu|tanh|sigmoid"

/* ---------------------------------------------------------- tensor shapes */

#define NTG_TF_BATCHED 0x1u

/* Shape and dtype of one operand as the shape rules see it.  When `batched`,
 * dims[0] is the batch (the maximum at compile and load time, the actual batch
 * when a kernel runs). */
typedef struct ntg_tdesc {
    uint8_t dtype; /* ntg_dtype */
    uint8_t rank;  /* 0..NTG_MAX_RANK; rank 0 is a scalar (one element) */
    uint8_t batched;
    uint8_t pad_;
    int64_t dims[NTG_MAX_RANK];
} ntg_tdesc;

/* Number of elements (1 for rank 0).  A product past INT64_MAX gives INT64_MAX rather
 * than overflowing: shapes from files are checked with ntg__tdesc_bytes first. */
int64_t ntg__tdesc_numel(const ntg_tdesc *d);
/* Elements per batch row (numel / dims[0] when batched, numel otherwise); saturates
 * like ntg__tdesc_numel. */
int64_t ntg__tdesc_inner(const ntg_tdesc *d);
/* Bytes of the tensor (4 per element) into *bytes; -1 when a dimension is negative or
 * the element count or byte size does not fit in 63 bits. */
int ntg__tdesc_bytes(const ntg_tdesc *d, uint64_t *bytes);
/* "[4, 96]" (batched: "[batch=4, 96]") into buf; returns buf. */
const char *ntg__tdesc_str(const ntg_tdesc *d, char *buf, size_t cap);
int ntg__tdesc_equal(const ntg_tdesc *a, const ntg_tdesc *b);

/* --------------------------------------------------------------- op class */

/* Parameter initializers (PyTorch defaults). */
typedef enum ntg_init {
    NTG_INIT_NONE = 0,
    NTG_INIT_UNIFORM = 1, /* U(-bound, bound), bound = init_arg (1/sqrt(fan_in) for dense) */
    NTG_INIT_ZEROS = 2,
    NTG_INIT_ONES = 3
} ntg_init;

/* A parameter an op owns: the compiler creates it as `<scope>.<leaf>`. */
typedef struct ntg_param_spec {
    const char *leaf; /* "weight", "bias" */
    ntg_tdesc desc;
    ntg_init init;
    double init_arg;
    /* 1: a buffer, not a parameter (batchnorm's running statistics): a constant of the plan
     * that no gradient reaches and no optimizer updates, written by an in-place op */
    int buffer;
} ntg_param_spec;

/* What a shape rule sees: attributes and the operands' descriptions.  For a
 * forward op `in` holds every input (parameters included); for `params` it holds
 * only the data inputs (those written in the graph), n_in of them. */
typedef struct ntg_opsig {
    const ntg_attr *attr;
    uint32_t n_attr;
    int n_in;
    const ntg_tdesc *in;
    int n_out;
} ntg_opsig;

#define NTG_OPF_PARAMS 0x1u   /* owns parameters (the `params` hook declares them) */
#define NTG_OPF_INPLACE 0x2u  /* updates its inputs in place (optimizers) */
#define NTG_OPF_LOSS 0x4u     /* produces a scalar loss */
#define NTG_OPF_NO_INPUT 0x8u /* with NTG_OPF_PARAMS: takes no data input (param) */

typedef struct ntg_op_class {
    const char *name;
    unsigned flags;
    const ntg_attr_spec *attrs; /* schema; slot k holds attribute k */
    int n_attrs;
    /* Declare the parameters this op owns, appended after its data inputs (NULL: none).
     * Returns the count (<= cap) or -1 with a message in msg. */
    int (*params)(const ntg_opsig *s, ntg_param_spec *out, int cap, char *msg, size_t msgcap);
    /* Check the inputs and compute the outputs' descriptions.  Returns 0, or -1 with
     * a message (naming both shapes on a mismatch). */
    int (*infer)(const ntg_opsig *s, ntg_tdesc *out, char *msg, size_t msgcap);
    /* Bitmask over forward inputs (bit i) and outputs (bit 16 + j) whose *values* the
     * backward kernel reads; the others are passed for their shapes only (data NULL).
     * NULL: everything. */
    uint32_t (*bwd_saves)(const ntg_opsig *s);
    /* Floating-point operations of one forward run (multiply-add = 2), for benchmarks. */
    double (*flops)(const ntg_opsig *s, const ntg_tdesc *out);
    const char *doc;
    /* Trailing outputs that exist only in training programs (state the backward needs,
     * e.g. the LSTM's gates): graphs do not write them; the compiler adds them to the
     * forward node it uses for training, and `infer` runs the op without them. */
    int aux_outputs;
} ntg_op_class;

#define NTG_OP(name, ni0, ni1, no0, no1) extern const ntg_op_class ntg__opclass_##name;
#include "ops.def"
#undef NTG_OP

typedef struct ntg_op_info {
    const ntg_op_class *cls;
    int n_in_min, n_in_max, n_out_min, n_out_max;
    int differentiable;
} ntg_op_info;

/* Info for `code`, or NULL when code >= NTG_OP_COUNT. */
const ntg_op_info *ntg__op_info(uint32_t code);
/* Op code of `name`, or -1. */
int ntg__op_lookup(const char *name);
/* The known op name genuinely close to `name` (case, a few edits relative to the length, a
 * long prefix), or NULL. */
const char *ntg__op_nearest(const char *name);
/* What to append to "unknown op 'NAME'": "; did you mean 'X'?" (a near name, or X's name in
 * another framework, e.g. linear -> dense), or "" when nothing helps.  Returns buf. */
const char *ntg__op_hint(const char *name, char *buf, size_t cap);
/* Index of attribute `name` in the op's schema, or -1. */
int ntg__op_attr_index(const ntg_op_class *cls, const char *name);
/* Slot count the op's schema needs before list data. */

/* Scalars and lists of an op's attribute slots (valid ranges are checked by the
 * plan loader and the compiler, so kernels may trust them). */
static inline int64_t ntg__attr_i(const ntg_attr *a, int k)
{
    return a[k].i;
}
static inline double ntg__attr_f(const ntg_attr *a, int k)
{
    return a[k].f;
}
/* List attribute k: pointer to its first slot and its length. */
const ntg_attr *ntg__attr_list(const ntg_attr *a, int k, int64_t *count);
/* Integer attributes lie in [-NTG_ATTR_INT_MAX, NTG_ATTR_INT_MAX] (2^40; default "end"
 * bounds included), so shape arithmetic on them cannot overflow int64. */
#define NTG_ATTR_INT_MAX ((int64_t)1 << 40)
/* Validate the slot layout of an op's attributes: every list within n_attr, integers
 * within NTG_ATTR_INT_MAX. */
int ntg__attr_check(const ntg_op_class *cls, const ntg_attr *a, uint32_t n_attr, char *msg,
                    size_t msgcap);
/* Normalise a possibly negative axis against rank; -1 when out of range. */
int ntg__axis(int64_t axis, int rank);

/* ---------------------------------------------- records a backend executes */

typedef enum ntg_storage {
    NTG_STORE_NONE = 0,    /* no memory (rank-0 placeholder) */
    NTG_STORE_ARENA = 1,   /* activations, inputs, outputs, gradients: per session */
    NTG_STORE_WEIGHTS = 2, /* parameters and constants: stored in the plan */
    NTG_STORE_STATE = 3    /* optimizer state: per session, zero at start, in checkpoints */
} ntg_storage;
#define NTG_STORE_COUNT 4

/* One tensor of a plan, exactly as stored in plan.bin's TENSORS section (64 bytes). */
typedef struct ntg_tensor_rec {
    uint32_t name; /* offset into STRINGS */
    uint8_t dtype; /* ntg_dtype */
    uint8_t rank;
    uint8_t role;                /* ntg_role */
    uint8_t flags;               /* NTG_TF_* */
    uint32_t dims[NTG_MAX_RANK]; /* dims[0] is the maximum batch when batched */
    uint8_t storage;             /* ntg_storage */
    uint8_t pad_[3];
    uint32_t link;   /* GRAD / STATE: the parameter it belongs to; else NTG_NONE */
    uint64_t offset; /* byte offset in its storage, 64-byte aligned */
    uint64_t nbytes; /* bytes at the maximum batch */
    uint64_t reserved;
} ntg_tensor_rec;

/* One op of a plan, exactly as stored in the OPS section (32 bytes). */
typedef struct ntg_op_rec {
    uint16_t code; /* ntg_op_code */
    uint8_t dir;   /* ntg_op_dir */
    uint8_t flags;
    uint32_t loc;      /* STRINGS offset of "file:line:col" of the graph node, for messages */
    uint32_t operands; /* index into OPERANDS of input 0; outputs follow the inputs */
    uint16_t n_in;
    uint16_t n_out;
    uint32_t attrs; /* index into ATTRS of slot 0 */
    uint32_t n_attr;
    uint32_t saved; /* BWD: the forward operands whose values are kept (see bwd_saves) */
    uint32_t reserved;
} ntg_op_rec;

_Static_assert(sizeof(ntg_tensor_rec) == 64, "tensor record is 64 bytes in plan.bin");
_Static_assert(sizeof(ntg_op_rec) == 32, "op record is 32 bytes in plan.bin");

/* Fill a tdesc from a tensor record (dims at the maximum batch). */
void ntg__tdesc_from_rec(const ntg_tensor_rec *t, ntg_tdesc *d);

/* For a backward op: the forward op's operand counts.  BWD operands are
 * in = [fwd inputs (nfi), fwd outputs (nfo), grads of fwd outputs (nfo)],
 * out = [grads of fwd inputs (nfi)], any of them NTG_NONE except the fwd ones. */
static inline int ntg__bwd_nfi(const ntg_op_rec *op)
{
    return op->n_out;
}
static inline int ntg__bwd_nfo(const ntg_op_rec *op)
{
    return (op->n_in - op->n_out) / 2;
}
/* Whether operand i of op carries its value: always for a forward op; for a backward op,
 * the forward operands in its bwd_saves mask (16 bits for inputs, 16 for outputs: an op with
 * more, concat, saves nothing beyond them) and every gradient operand.  Every backend binds
 * operands by this rule. */
static inline int ntg__bwd_has_value(const ntg_op_rec *op, int i)
{
    if (op->dir != NTG_DIR_BWD) return 1;
    int nfi = ntg__bwd_nfi(op), nfo = ntg__bwd_nfo(op);
    if (i >= op->n_in || i >= nfi + nfo) return 1;
    if ((i < nfi && i >= 16) || (i >= nfi && i - nfi >= 16)) return 0;
    int bit = i < nfi ? i : 16 + (i - nfi);
    return (op->saved >> bit) & 1u;
}

/* --------------------------------------------------------- kernel calls */

/* One operand as a kernel sees it: data (NULL when absent or not saved) and its
 * description at the actual batch. */
typedef struct ntg_view {
    void *data;
    ntg_tdesc d;
} ntg_view;

typedef struct ntg_kctx {
    const ntg_attr *attr;
    uint32_t n_attr;
    int n_in, n_out;
    const ntg_view *in;
    const ntg_view *out;
    int batch;     /* actual batch of this run */
    void *scratch; /* backend scratch space, scratch_bytes long */
    size_t scratch_bytes;
} ntg_kctx;

typedef void (*ntg_kernel_fn)(const ntg_kctx *c);

#endif /* NTG_OPS_H */
