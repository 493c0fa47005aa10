/* test_ops_attrs.c — op_attrs.h's slot numbers agree with the attribute schemas of op_classes.c.
 *
 * Kernels, the compiler and every backend read attributes by slot (NTG_DENSE_BIAS), the graph
 * reader fills them by schema order: an enum that drifts from its schema reads the wrong
 * attribute silently.  The table below names, for every slot of every op, the attribute it
 * must hold; the test fails when a slot names another attribute, when a slot is out of its
 * op's schema, or when an attribute of a schema has no slot here (a new op's attributes get
 * their rows here with their enum in op_attrs.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "op_attrs.h"
#include "ops.h"

typedef struct slot_row {
    const char *op;   /* the op (ops.def name) */
    int slot;         /* its op_attrs.h constant */
    const char *what; /* the constant's name, for messages */
    const char *attr; /* the schema attribute it must be */
} slot_row;

#define SLOT(op, k, attr)                                                                          \
    {                                                                                              \
#op, k, #k, attr                                                                           \
    }

static const slot_row rows[] = {
    SLOT(dense, NTG_DENSE_UNITS, "units"),
    SLOT(dense, NTG_DENSE_ACT, "activation"),
    SLOT(dense, NTG_DENSE_BIAS, "bias"),
    SLOT(maxpool1d, NTG_POOL_KERNEL, "kernel"),
    SLOT(maxpool1d, NTG_POOL_STRIDE, "stride"),
    SLOT(maxpool1d, NTG_POOL_CEIL, "ceil_mode"),
    SLOT(maxpool1d, NTG_POOL_PAD, "padding"),
    SLOT(flip, NTG_FLIP_AXIS, "axis"),
    SLOT(slice, NTG_SLICE_AXIS, "axis"),
    SLOT(slice, NTG_SLICE_START, "start"),
    SLOT(slice, NTG_SLICE_END, "end"),
    SLOT(slice, NTG_SLICE_STEP, "step"),
    SLOT(reshape, NTG_RESHAPE_SHAPE, "shape"),
    SLOT(interp_linear, NTG_INTERP_SIZE, "size"),
    SLOT(interp_linear, NTG_INTERP_ALIGN, "align_corners"),
    SLOT(concat, NTG_CONCAT_AXIS, "axis"),
    SLOT(loss_huber, NTG_HUBER_DELTA, "delta"),
    SLOT(loss_pinball, NTG_PINBALL_QUANTILES, "quantiles"),
    SLOT(loss_pinball, NTG_PINBALL_AXIS, "axis"),
    SLOT(loss_normal, NTG_DIST_AXIS, "axis"),
    SLOT(loss_studentt, NTG_DIST_AXIS, "axis"),
    SLOT(loss_xent, NTG_XENT_AXIS, "axis"),
    SLOT(sgd, NTG_SGD_MOMENTUM, "momentum"),
    SLOT(sgd, NTG_SGD_DAMPENING, "dampening"),
    SLOT(sgd, NTG_SGD_NESTEROV, "nesterov"),
    SLOT(sgd, NTG_SGD_WEIGHT_DECAY, "weight_decay"),
    SLOT(adam, NTG_ADAM_BETA1, "beta1"),
    SLOT(adam, NTG_ADAM_BETA2, "beta2"),
    SLOT(adam, NTG_ADAM_EPS, "eps"),
    SLOT(adam, NTG_ADAM_WEIGHT_DECAY, "weight_decay"),
    SLOT(adam, NTG_ADAM_DECOUPLED, "decoupled"),
    SLOT(clip_grad_norm, NTG_CLIP_MAX_NORM, "max_norm"),
    SLOT(matmul, NTG_MATMUL_TRANS_A, "trans_a"),
    SLOT(matmul, NTG_MATMUL_TRANS_B, "trans_b"),
    SLOT(transpose, NTG_TRANSPOSE_PERM, "perm"),
    SLOT(softmax, NTG_SOFTMAX_AXIS, "axis"),
    SLOT(log_softmax, NTG_SOFTMAX_AXIS, "axis"),
    SLOT(layernorm, NTG_LAYERNORM_EPS, "eps"),
    SLOT(layernorm, NTG_LAYERNORM_AFFINE, "affine"),
    SLOT(reduce_sum, NTG_REDUCE_AXIS, "axis"),
    SLOT(reduce_sum, NTG_REDUCE_KEEPDIMS, "keepdims"),
    SLOT(reduce_mean, NTG_REDUCE_AXIS, "axis"),
    SLOT(reduce_mean, NTG_REDUCE_KEEPDIMS, "keepdims"),
    SLOT(reduce_max, NTG_REDUCE_AXIS, "axis"),
    SLOT(reduce_max, NTG_REDUCE_KEEPDIMS, "keepdims"),
    SLOT(split, NTG_SPLIT_AXIS, "axis"),
    SLOT(split, NTG_SPLIT_SIZES, "sizes"),
    SLOT(scale, NTG_SCALE_FACTOR, "factor"),
    SLOT(posenc, NTG_POSENC_LENGTH, "length"),
    SLOT(posenc, NTG_POSENC_DIM, "d_model"),
    SLOT(lstm, NTG_LSTM_HIDDEN, "hidden"),
    SLOT(lstm, NTG_LSTM_LAYERS, "layers"),
    SLOT(param, NTG_PARAM_SHAPE, "shape"),
    SLOT(param, NTG_PARAM_INIT, "init"),
    SLOT(param, NTG_PARAM_BOUND, "bound"),
    SLOT(avgpool1d, NTG_AVGPOOL_KERNEL, "kernel"),
    SLOT(avgpool1d, NTG_AVGPOOL_STRIDE, "stride"),
    SLOT(avgpool1d, NTG_AVGPOOL_PAD, "padding"),
    SLOT(avgpool1d, NTG_AVGPOOL_MODE, "padding_mode"),
    SLOT(conv1d, NTG_CONV_OUT, "out_channels"),
    SLOT(conv1d, NTG_CONV_KERNEL, "kernel"),
    SLOT(conv1d, NTG_CONV_STRIDE, "stride"),
    SLOT(conv1d, NTG_CONV_PAD, "padding"),
    SLOT(conv1d, NTG_CONV_DILATION, "dilation"),
    SLOT(conv1d, NTG_CONV_GROUPS, "groups"),
    SLOT(conv1d, NTG_CONV_BIAS, "bias"),
    SLOT(conv1d, NTG_CONV_MODE, "padding_mode"),
    SLOT(unfold, NTG_UNFOLD_SIZE, "size"),
    SLOT(unfold, NTG_UNFOLD_STEP, "step"),
    SLOT(unfold, NTG_UNFOLD_PAD_END, "pad_end"),
    SLOT(dropout, NTG_DROPOUT_P, "p"),
    SLOT(dropout, NTG_DROPOUT_STREAM, "stream"),
    SLOT(basis, NTG_BASIS_KIND, "kind"),
    SLOT(basis, NTG_BASIS_LENGTH, "length"),
    SLOT(basis, NTG_BASIS_PERIOD, "period"),
    SLOT(basis, NTG_BASIS_DEGREE, "degree"),
    SLOT(basis, NTG_BASIS_HARMONICS, "harmonics"),
    SLOT(basis, NTG_BASIS_SIGN, "sign"),
    SLOT(batchnorm, NTG_BATCHNORM_EPS, "eps"),
    SLOT(batchnorm, NTG_BATCHNORM_MOMENTUM, "momentum"),
    SLOT(batchnorm_stats, NTG_BNSTATS_MOMENTUM, "momentum"),
};

#define N_ROWS (sizeof rows / sizeof rows[0])

/* 0, or -1 with the disagreement in `why`. */
static int check_row(const slot_row *r, char *why, size_t cap)
{
    int code = ntg__op_lookup(r->op);
    if (code < 0) {
        snprintf(why, cap, "op '%s' (row for %s) is not in ops.def", r->op, r->what);
        return -1;
    }
    const ntg_op_class *cls = ntg__op_info((uint32_t)code)->cls;
    if (r->slot < 0 || r->slot >= cls->n_attrs) {
        snprintf(why, cap, "op '%s': %s is slot %d, past the schema's %d attribute%s", r->op,
                 r->what, r->slot, cls->n_attrs, cls->n_attrs == 1 ? "" : "s");
        return -1;
    }
    if (strcmp(cls->attrs[r->slot].name, r->attr) != 0) {
        snprintf(why, cap, "op '%s': %s is slot %d, which the schema calls '%s', not '%s'", r->op,
                 r->what, r->slot, cls->attrs[r->slot].name, r->attr);
        return -1;
    }
    /* the slot the graph reader fills from the attribute's name */
    int k = ntg__op_attr_index(cls, r->attr);
    if (k != r->slot) {
        snprintf(why, cap, "op '%s': attribute '%s' is read into slot %d, %s is %d", r->op, r->attr,
                 k, r->what, r->slot);
        return -1;
    }
    return 0;
}

Test(ops, attr_slots_name_their_schema_attributes)
{
    char why[200];
    for (size_t i = 0; i < N_ROWS; i++)
        cr_assert_eq(check_row(&rows[i], why, sizeof why), 0, "%s", why);
}

Test(ops, every_schema_attribute_has_a_slot)
{
    for (uint32_t c = 0; c < NTG_OP_COUNT; c++) {
        const ntg_op_class *cls = ntg__op_info(c)->cls;
        for (int k = 0; k < cls->n_attrs; k++) {
            int found = 0;
            for (size_t i = 0; i < N_ROWS; i++)
                found += strcmp(rows[i].op, cls->name) == 0 && rows[i].slot == k;
            cr_assert_eq(found, 1, "op '%s': attribute %d '%s' %s", cls->name, k,
                         cls->attrs[k].name,
                         found ? "has two rows in tests/test_ops_attrs.c"
                               : "has no slot row in tests/test_ops_attrs.c (add its op_attrs.h "
                                 "constant there)");
        }
    }
}

/* The check sees a drifted enum: slots swapped, or one past the schema's end. */
Test(ops, attr_slot_drift_is_caught)
{
    char why[200];
    const slot_row swapped = SLOT(dense, NTG_DENSE_BIAS, "units");
    cr_assert_eq(check_row(&swapped, why, sizeof why), -1);
    cr_assert_str_eq(why, "op 'dense': NTG_DENSE_BIAS is slot 2, which the schema calls 'bias', "
                          "not 'units'");
    const slot_row past = SLOT(flip, NTG_FLIP_AXIS + 1, "axis");
    cr_assert_eq(check_row(&past, why, sizeof why), -1);
    cr_assert_str_eq(why, "op 'flip': NTG_FLIP_AXIS + 1 is slot 1, past the schema's 1 attribute");
}
