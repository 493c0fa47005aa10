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
enum { NTG_DIST_AXIS }; /* loss_normal, loss_studentt */
enum { NTG_XENT_AXIS }; /* loss_xent: the class axis of the logits */
#define NTG_XENT_MAX_CLASSES 64
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
enum { NTG_PARAM_SHAPE, NTG_PARAM_INIT, NTG_PARAM_BOUND };
enum { NTG_AVGPOOL_KERNEL, NTG_AVGPOOL_STRIDE, NTG_AVGPOOL_PAD, NTG_AVGPOOL_MODE };
enum {
    NTG_CONV_OUT,
    NTG_CONV_KERNEL,
    NTG_CONV_STRIDE,
    NTG_CONV_PAD,
    NTG_CONV_DILATION,
    NTG_CONV_GROUPS,
    NTG_CONV_BIAS,
    NTG_CONV_MODE
};
enum { NTG_UNFOLD_SIZE, NTG_UNFOLD_STEP, NTG_UNFOLD_PAD_END };
enum { NTG_DROPOUT_P, NTG_DROPOUT_STREAM };
enum { NTG_BATCHNORM_EPS, NTG_BATCHNORM_MOMENTUM };
enum { NTG_BNSTATS_MOMENTUM };
enum {
    NTG_BASIS_KIND,
    NTG_BASIS_LENGTH,
    NTG_BASIS_PERIOD,
    NTG_BASIS_DEGREE,
    NTG_BASIS_HARMONICS,
    NTG_BASIS_SIGN
};
/* kind of basis */
enum { NTG_BASIS_POLY = 0, NTG_BASIS_FOURIER = 1 };
/* padding_mode of avgpool1d and conv1d */
enum { NTG_PAD_ZEROS = 0, NTG_PAD_REPLICATE = 1 };

/* The LSTM's saved state per layer and step: gates i, f, g, o (after their
 * activations), the cell c and the hidden h, each `hidden` wide. */
#define NTG_LSTM_WS_PER_STEP 6
/* at most 4: the backward reads every weight, and the saved-operand mask has 16 input bits */
#define NTG_LSTM_MAX_LAYERS 4

/* The optimizer control tensor, an input of train_step set before every step:
 * [learning rate, step number t (1 for the first step), 0, 0]. */
enum { NTG_CTL_LR, NTG_CTL_STEP, NTG_CTL_SIZE = 4 };

/* The random-stream tensor `train.rng`, an input of the grad and train_step programs of a plan
 * with dropout, written by the trainer before every step (docs/internals.md, "Dropout"): the
 * seed in three 22-bit parts, the step, and the global index of the batch's first window (a
 * mesh worker's shard starts there).  Every word is an integer below 2^24, exact in a float. */
enum { NTG_RNG_SEED0, NTG_RNG_SEED1, NTG_RNG_SEED2, NTG_RNG_STEP, NTG_RNG_ROW0, NTG_RNG_SIZE = 8 };

/* torch.nn.MaxPool1d output length (ceil_mode drops a last window that would start in
 * the right padding). */
int64_t ntg__pool_out_len(int64_t len, int64_t k, int64_t s, int64_t pad, int ceil_mode);
/* Output length of a 1-d window op (conv1d, avgpool1d): floor((len + 2 pad - dil (k - 1) - 1)
 * / stride) + 1, or 0 when no window fits. */
int64_t ntg__win_out_len(int64_t len, int64_t k, int64_t stride, int64_t pad, int64_t dil);

/* The frequencies of a fourier basis (NeuralForecast's SeasonalityBasis): 0, then
 * arange(harmonics, harmonics / 2 * period) / harmonics, i.e. 1, 1 + 1/harmonics, ...: their
 * count is 1 + max(0, ceil(harmonics * period / 2 - harmonics)).  The basis has twice as many
 * rows (cos rows, then sin rows). */
static inline int64_t ntg__basis_n_freq(int64_t harmonics, int64_t period)
{
    int64_t twice = harmonics * period - 2 * harmonics; /* 2 (stop - start) */
    return 1 + (twice > 0 ? (twice + 1) / 2 : 0);
}

#ifdef __CUDACC__
#define NTG_HOST_DEVICE __host__ __device__
#else
#define NTG_HOST_DEVICE
#endif

static inline NTG_HOST_DEVICE int64_t ntg__floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The windows o in [0, nout) whose tap at offset `tap` (position o*stride + tap - pad of the
 * input) reads input element i, as [*lo, *hi] (empty when *lo > *hi).  With replicate padding
 * element 0 is also what every position left of the axis reads, and element len-1 what every
 * position right of it reads; with zero padding only position i reads i.  The backward of
 * conv1d and avgpool1d gathers over these ranges (no scatter: the same order everywhere). */
static inline NTG_HOST_DEVICE void ntg__win_taps(int64_t i, int64_t len, int64_t tap,
                                                 int64_t stride, int64_t pad, int replicate,
                                                 int64_t nout, int64_t *lo, int64_t *hi)
{
    /* positions p with clamp(p) == i: [plo, phi] (a wide bound stands for infinity) */
    int64_t far = nout * stride + tap + pad + len + 1;
    int64_t plo = replicate && i == 0 ? -far : i;
    int64_t phi = replicate && i == len - 1 ? far : i;
    /* o * stride + tap - pad in [plo, phi] */
    int64_t a = plo + pad - tap, b = phi + pad - tap;
    int64_t l = -ntg__floordiv(-a, stride), h = ntg__floordiv(b, stride);
    *lo = l < 0 ? 0 : l;
    *hi = h > nout - 1 ? nout - 1 : h;
}

/* SplitMix64's finaliser: a bijection of 64-bit words that mixes every bit. */
static inline NTG_HOST_DEVICE uint64_t ntg__mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The key of one dropout's mask at one step: a pure function of (seed, step, stream). */
static inline NTG_HOST_DEVICE uint64_t ntg__dropout_key(uint64_t seed, uint64_t step,
                                                        uint64_t stream)
{
    uint64_t k = ntg__mix64(seed + 0x9e3779b97f4a7c15ull);
    k = ntg__mix64(k ^ (step + 0x632be59bd9b4e019ull));
    return ntg__mix64(k ^ (stream + 0x85157af5ull));
}

/* Whether element i (global: window index times the elements per window, plus the offset in
 * the window) is kept: a counter-based draw, u = the high 32 bits of mix64(key + i golden),
 * kept when u >= thr (thr = round(p 2^32), ntg__dropout_thr). */
static inline NTG_HOST_DEVICE int ntg__dropout_keep(uint64_t key, uint64_t i, uint64_t thr)
{
    return (ntg__mix64(key + (i + 1) * 0x9e3779b97f4a7c15ull) >> 32) >= thr;
}
static inline NTG_HOST_DEVICE uint64_t ntg__dropout_thr(double p)
{
    if (!(p > 0)) return 0;
    if (p >= 1) return (uint64_t)1 << 32;
    return (uint64_t)(p * 4294967296.0 + 0.5);
}
/* The seed, step and first window from a train.rng tensor's words. */
static inline NTG_HOST_DEVICE uint64_t ntg__rng_word(float v)
{
    /* anything else a caller wrote (negative, NaN, past 2^24) reads as 0, never a bad cast */
    return v >= 0.0f && v < 16777216.0f ? (uint64_t)v : 0;
}
static inline NTG_HOST_DEVICE void ntg__rng_words(const float *w, uint64_t *seed, uint64_t *step,
                                                  uint64_t *row0)
{
    *seed = ntg__rng_word(w[NTG_RNG_SEED0]) | ntg__rng_word(w[NTG_RNG_SEED1]) << 22 |
            ntg__rng_word(w[NTG_RNG_SEED2]) << 44;
    *step = ntg__rng_word(w[NTG_RNG_STEP]);
    *row0 = ntg__rng_word(w[NTG_RNG_ROW0]);
}
/* And back: seed, step and first window into the words (step and row0 below 2^24). */
static inline void ntg__rng_fill(float *w, uint64_t seed, uint64_t step, uint64_t row0)
{
    for (int k = 0; k < NTG_RNG_SIZE; k++) w[k] = 0;
    w[NTG_RNG_SEED0] = (float)(seed & 0x3fffff);
    w[NTG_RNG_SEED1] = (float)((seed >> 22) & 0x3fffff);
    w[NTG_RNG_SEED2] = (float)(seed >> 44);
    w[NTG_RNG_STEP] = (float)step;
    w[NTG_RNG_ROW0] = (float)row0;
}

/* Python slice bounds for a positive step: first index and count before striding. */
void ntg__slice_range(int64_t len, int64_t start, int64_t end, int64_t *s0, int64_t *n);

#endif /* NTG_OP_ATTRS_H */
