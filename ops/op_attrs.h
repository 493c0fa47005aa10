/* op_attrs.h — attribute slot numbers of every op (the order of its schema in op_classes.c). */
#ifndef NTG_OP_ATTRS_H
#define NTG_OP_ATTRS_H

#include <stdint.h>

enum { NTG_DENSE_UNITS, NTG_DENSE_ACT, NTG_DENSE_BIAS };
enum { NTG_POOL_KERNEL, NTG_POOL_STRIDE, NTG_POOL_CEIL, NTG_POOL_PAD };
enum { NTG_FLIP_AXIS };
enum { NTG_SLICE_AXIS, NTG_SLICE_START, NTG_SLICE_END, NTG_SLICE_STEP };
enum { NTG_RESHAPE_SHAPE };
enum { NTG_INTERP_SIZE, NTG_INTERP_ALIGN };
enum { NTG_CONCAT_AXIS };
enum { NTG_HUBER_DELTA };
enum { NTG_PINBALL_QUANTILES, NTG_PINBALL_AXIS };
enum { NTG_SGD_MOMENTUM, NTG_SGD_DAMPENING, NTG_SGD_NESTEROV, NTG_SGD_WEIGHT_DECAY };
enum { NTG_ADAM_BETA1, NTG_ADAM_BETA2, NTG_ADAM_EPS, NTG_ADAM_WEIGHT_DECAY, NTG_ADAM_DECOUPLED };
enum { NTG_CLIP_MAX_NORM };

enum { NTG_MATMUL_TRANS_A, NTG_MATMUL_TRANS_B };
enum { NTG_TRANSPOSE_PERM };
enum { NTG_SOFTMAX_AXIS };
enum { NTG_LAYERNORM_EPS, NTG_LAYERNORM_AFFINE };
enum { NTG_REDUCE_AXIS, NTG_REDUCE_KEEPDIMS };
enum { NTG_SPLIT_AXIS, NTG_SPLIT_SIZES };
enum { NTG_SCALE_FACTOR };
enum { NTG_POSENC_LENGTH, NTG_POSENC_DIM };
enum { NTG_LSTM_HIDDEN, NTG_LSTM_LAYERS };

/* The LSTM's saved state per layer and step: gates i, f, g, o (after their
 * activations), the cell c and the hidden h, each `hidden` wide. */
#define NTG_LSTM_WS_PER_STEP 6
/* at most 4: the backward reads every weight, and the saved-operand mask has 16 input bits */
#define NTG_LSTM_MAX_LAYERS 4

/* The optimizer control tensor, an input of train_step set before every step:
 * [learning rate, step number t (1 for the first step), 0, 0]. */
enum { NTG_CTL_LR, NTG_CTL_STEP, NTG_CTL_SIZE = 4 };

/* torch.nn.MaxPool1d output length (ceil_mode drops a last window that would start in
 * the right padding). */
int64_t ntg__pool_out_len(int64_t len, int64_t k, int64_t s, int64_t pad, int ceil_mode);
/* Python slice bounds for a positive step: first index and count before striding. */
void ntg__slice_range(int64_t len, int64_t start, int64_t end, int64_t *s0, int64_t *n);

#endif /* NTG_OP_ATTRS_H */
