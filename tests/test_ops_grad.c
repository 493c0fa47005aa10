/* test_ops_grad.c — finite-difference checks of every reference backward kernel. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "backend.h"
#include "ref/ref_kernels.h"
#include "ops_harness.h"
#include "testutil.h"

/*
 * As ggml's test-backend-ops grad mode: L = sum(w * y) for random weights w, so dL/dy = w is
 * fed to the backward kernel as the output gradient, and every input gradient is compared
 * with central differences of L taken on the double-precision reference forward.  In double
 * with eps = 1e-6 the difference quotient is good to ~1e-9, so the 1e-4 bound measures the
 * float32 kernel.  Inputs keep clear of kinks (relu at 0, maxpool ties) by construction.
 */
#define TOL 1e-4
#define EPS 1e-6

static float *add_input(oh_case *t, tu_rng *r, ntg_tdesc d, double lo, double hi)
{
    size_t n = oh_numel(&d);
    float *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert_not_null(x);
    tu_fill(r, x, n, lo, hi);
    oh_case_input(t, d, x);
    return x;
}

static void free_case(oh_case *t)
{
    for (int i = 0; i < t->n_in; i++) free(t->in[i].data);
    oh_case_free(t);
}

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

/* sum(w * y) on the double reference; ctx is a grad_ctx. */
typedef struct {
    const float *w;
    double *y;
} grad_ctx;

static double loss(const oh_case *t, double *const *x, void *ctx)
{
    grad_ctx *c = ctx;
    ntg_tdesc d[OH_MAX_IN];
    for (int i = 0; i < t->n_in; i++) d[i] = t->in[i].d;
    oh_ref_forward(t->code, t->attrs.slot, t->n_in, d, (const double *const *)x, &t->out[0].d,
                   c->y);
    double s = 0;
    for (size_t i = 0; i < t->out[0].n; i++) s += (double)c->w[i] * c->y[i];
    return s;
}

/*
 * Forward, backward with dy = w (gradients of the inputs in `want` only; forward values
 * outside bwd_saves passed as NULL by the harness), then central differences of every wanted
 * input.  Returns the worst max-abs-relative error.
 */
static double check_grad(oh_case *t, tu_rng *r, uint64_t want, const char *what)
{
    uint32_t code = t->code;
    cr_assert_eq(oh_forward(t, ntg__cpu_fwd[code], ntg__cpu_scratch_bytes), 0, "%s: %s", what,
                 t->msg);
    size_t ny = t->out[0].n;
    float *w = malloc((ny ? ny : 1) * sizeof *w);
    double *y = malloc((ny ? ny : 1) * sizeof *y);
    cr_assert(w && y);
    tu_fill(r, w, ny, -1, 1);
    float *dy[1] = {w};
    cr_assert_eq(oh_backward(t, ntg__cpu_bwd[code], ntg__cpu_scratch_bytes, dy, want), 0, "%s: %s",
                 what, t->msg);

    double *x[OH_MAX_IN];
    cr_assert_eq(oh_inputs_as_double(t, x), 0);
    grad_ctx ctx = {w, y};
    double worst = 0;
    for (int i = 0; i < t->n_in; i++) {
        if (!((want >> i) & 1u)) {
            cr_assert_null(t->dx[i].data);
            continue;
        }
        size_t n = oh_numel(&t->in[i].d);
        double *g = malloc((n ? n : 1) * sizeof *g);
        cr_assert_not_null(g);
        oh_central_diff(t, x, i, EPS, 1.0, loss, &ctx, g);
        double err = tu_max_abs_rel_d(t->dx[i].data, g, n);
        cr_assert(err <= TOL, "%s: gradient of input %d: max-abs-rel error %.3g > %.0e", what, i,
                  err, TOL);
        worst = maxd(worst, err);
        free(g);
    }
    oh_free_doubles(x, t->n_in);
    free(w);
    free(y);
    return worst;
}

static uint64_t all_inputs(const oh_case *t)
{
    return (UINT64_C(1) << t->n_in) - 1;
}

/* ------------------------------------------------------------------ dense */

/* Smallest |x W^T + b| of a dense case, to keep relu's kink out of reach of the differences. */
static double dense_min_abs_z(const oh_case *t, int units)
{
    size_t nx = oh_numel(&t->in[0].d), rows = nx / (size_t)t->in[0].d.dims[t->in[0].d.rank - 1];
    size_t in = nx / rows;
    const float *x = t->in[0].data, *w = t->in[1].data;
    const float *b = t->n_in > 2 ? t->in[2].data : NULL;
    double m = INFINITY;
    for (size_t row = 0; row < rows; row++)
        for (int u = 0; u < units; u++) {
            double z = b ? b[u] : 0;
            for (size_t i = 0; i < in; i++) z += (double)x[row * in + i] * w[(size_t)u * in + i];
            m = fabs(z) < m ? fabs(z) : m;
        }
    return m;
}

static void dense_case(oh_case *t, tu_rng *r, int act, int bias, int b, int in, int units, int mid)
{
    double bound = 1.0 / sqrt((double)in);
    for (;;) {
        oh_case_init(t, NTG_OP_dense);
        oh_attrs_set_i(&t->attrs, NTG_DENSE_UNITS, units);
        oh_attrs_set_i(&t->attrs, NTG_DENSE_ACT, act);
        oh_attrs_set_i(&t->attrs, NTG_DENSE_BIAS, bias);
        add_input(t, r, mid ? oh_shape(1, 3, b, mid, in) : oh_shape(1, 2, b, in), -2, 2);
        add_input(t, r, oh_shape(0, 2, units, in), -bound, bound);
        if (bias) add_input(t, r, oh_shape(0, 1, units), -0.5, 0.5);
        if (act != NTG_ACT_RELU || dense_min_abs_z(t, units) > 1e-3) return;
        free_case(t);
    }
}

Test(ops_grad, dense_every_activation)
{
    static const int shp[][4] = {{1, 1, 1, 0},  {1, 13, 7, 0}, {5, 17, 3, 0},
                                 {3, 7, 13, 4}, {2, 3, 1, 5},  {4, 97, 5, 0}};
    static const char *names[] = {"none", "relu", "gelu", "tanh", "sigmoid"};
    tu_rng r = {101};
    double worst[5] = {0};
    for (int act = 0; act < 5; act++)
        for (int bias = 0; bias < 2; bias++)
            for (size_t s = 0; s < sizeof shp / sizeof shp[0]; s++) {
                oh_case t;
                char what[96];
                dense_case(&t, &r, act, bias, shp[s][0], shp[s][1], shp[s][2], shp[s][3]);
                /* scratch sized for a larger maximum batch, as a session sizes it */
                t.max_batch = shp[s][0] + 3;
                snprintf(what, sizeof what, "dense %s bias %d shape %zu", names[act], bias, s);
                worst[act] = maxd(worst[act], check_grad(&t, &r, all_inputs(&t), what));
                free_case(&t);
            }
    for (int act = 0; act < 5; act++)
        cr_log_info("dense %s grad: worst max-abs-rel %.2e", names[act], worst[act]);
}

Test(ops_grad, dense_computes_only_the_wanted_gradients)
{
    tu_rng r = {102};
    for (int act = 0; act < 5; act++)
        for (uint64_t want = 1; want < 8; want++) {
            oh_case t;
            dense_case(&t, &r, act, 1, 3, 11, 6, 0);
            check_grad(&t, &r, want, "dense partial");
            free_case(&t);
        }
}

/* ------------------------------------------------------------------- relu */

Test(ops_grad, relu)
{
    tu_rng r = {103};
    double worst = 0;
    for (int b = 1; b <= 4; b += 3) {
        ntg_tdesc ds[] = {oh_shape(1, 2, b, 1), oh_shape(1, 2, b, 97), oh_shape(1, 3, b, 3, 13)};
        for (size_t s = 0; s < sizeof ds / sizeof ds[0]; s++) {
            oh_case t;
            oh_case_init(&t, NTG_OP_relu);
            float *x = add_input(&t, &r, ds[s], 0.05, 1);
            /* random signs, magnitudes >= 0.05: no element near the kink */
            for (size_t i = 0; i < oh_numel(&ds[s]); i++)
                if (tu_next(&r) & 1) x[i] = -x[i];
            worst = maxd(worst, check_grad(&t, &r, 1, "relu"));
            free_case(&t);
        }
    }
    cr_log_info("relu grad: worst max-abs-rel %.2e", worst);
}

/* --------------------------------------------------------------- maxpool1d */

/* Rows of distinct values at least 0.05 apart (a shuffled ramp), so no window has a tie
 * within reach of the differences. */
static void fill_distinct(tu_rng *r, float *x, size_t rows, size_t len)
{
    for (size_t row = 0; row < rows; row++) {
        float *xr = x + row * len;
        for (size_t i = 0; i < len; i++) xr[i] = (float)i;
        for (size_t i = len; i > 1; i--) {
            size_t j = (size_t)(tu_next(r) % i);
            float tmp = xr[i - 1];
            xr[i - 1] = xr[j];
            xr[j] = tmp;
        }
        for (size_t i = 0; i < len; i++)
            xr[i] = (float)(0.1 * (xr[i] + tu_uniform(r, 0, 0.5)) - 0.05 * (double)len);
    }
}

Test(ops_grad, maxpool1d)
{
    /* len, kernel, stride, padding, ceil_mode: overlapping, gapped, padded, partial windows */
    static const int cs[][5] = {{10, 3, 2, 0, 1}, {10, 3, 0, 0, 1}, {7, 2, 1, 1, 0},
                                {13, 4, 3, 2, 1}, {8, 3, 5, 1, 1},  {11, 4, 4, 0, 1},
                                {1, 1, 1, 0, 0},  {25, 5, 1, 2, 0}, {9, 3, 1, 0, 0}};
    tu_rng r = {104};
    double worst = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (int b = 1; b <= 3; b += 2) {
            oh_case t;
            char what[96];
            oh_case_init(&t, NTG_OP_maxpool1d);
            oh_attrs_set_i(&t.attrs, NTG_POOL_KERNEL, cs[i][1]);
            oh_attrs_set_i(&t.attrs, NTG_POOL_STRIDE, cs[i][2]);
            oh_attrs_set_i(&t.attrs, NTG_POOL_PAD, cs[i][3]);
            oh_attrs_set_i(&t.attrs, NTG_POOL_CEIL, cs[i][4]);
            float *x = add_input(&t, &r, oh_shape(1, 3, b, 2, cs[i][0]), 0, 1);
            fill_distinct(&r, x, (size_t)(b * 2), (size_t)cs[i][0]);
            snprintf(what, sizeof what, "maxpool case %zu batch %d", i, b);
            worst = maxd(worst, check_grad(&t, &r, 1, what));
            free_case(&t);
        }
    cr_log_info("maxpool1d grad: worst max-abs-rel %.2e", worst);
}

Test(ops_grad, maxpool1d_sends_ties_to_the_first_maximum)
{
    float x[4] = {1, 3, 3, 2}, dy[3] = {1, 10, 100};
    float *dys[1] = {dy};
    oh_case t;
    oh_case_init(&t, NTG_OP_maxpool1d);
    oh_attrs_set_i(&t.attrs, NTG_POOL_KERNEL, 2);
    oh_attrs_set_i(&t.attrs, NTG_POOL_STRIDE, 1);
    oh_case_input(&t, oh_shape(1, 2, 1, 4), x);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_maxpool1d, NULL), 0, "%s", t.msg);
    cr_assert_eq(oh_backward(&t, ntg__cpu_bwd_maxpool1d, NULL, dys, 1), 0, "%s", t.msg);
    /* windows [1 3] [3 3] [3 2]: the middle tie goes to index 1, where it meets the first */
    const float want[4] = {0, 11, 100, 0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(t.dx[0].data[i], want[i], "dx[%d] = %g, want %g", i, (double)t.dx[0].data[i],
                     (double)want[i]);
    oh_case_free(&t);
}

/* ----------------------------------------------------- flip, slice, reshape */

Test(ops_grad, flip)
{
    tu_rng r = {105};
    double worst = 0;
    for (int b = 1; b <= 3; b += 2)
        for (int ax = 1; ax < 3; ax++) {
            oh_case t;
            oh_case_init(&t, NTG_OP_flip);
            oh_attrs_set_i(&t.attrs, NTG_FLIP_AXIS, ax == 2 ? -1 : ax);
            add_input(&t, &r, oh_shape(1, 3, b, 3, 13), -1, 1);
            worst = maxd(worst, check_grad(&t, &r, 1, "flip"));
            free_case(&t);
        }
    cr_log_info("flip grad: worst max-abs-rel %.2e", worst);
}

Test(ops_grad, slice)
{
    static const int64_t cs[][4] = {{-1, 2, 11, 3}, {-1, -5, -1, 1}, {2, -100, 100, 2},
                                    {1, 1, 3, 1},   {2, 12, 13, 1},  {1, -3, 4, 2}};
    tu_rng r = {106};
    double worst = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (int b = 1; b <= 3; b += 2) {
            oh_case t;
            oh_case_init(&t, NTG_OP_slice);
            oh_attrs_set_i(&t.attrs, NTG_SLICE_AXIS, cs[i][0]);
            oh_attrs_set_i(&t.attrs, NTG_SLICE_START, cs[i][1]);
            oh_attrs_set_i(&t.attrs, NTG_SLICE_END, cs[i][2]);
            oh_attrs_set_i(&t.attrs, NTG_SLICE_STEP, cs[i][3]);
            add_input(&t, &r, oh_shape(1, 3, b, 4, 13), -1, 1);
            worst = maxd(worst, check_grad(&t, &r, 1, "slice"));
            free_case(&t);
        }
    cr_log_info("slice grad: worst max-abs-rel %.2e", worst);
}

Test(ops_grad, reshape)
{
    static const int64_t shape[] = {0, 6, -1};
    tu_rng r = {107};
    double worst = 0;
    for (int b = 1; b <= 3; b += 2) {
        oh_case t;
        oh_case_init(&t, NTG_OP_reshape);
        oh_attrs_set_ints(&t.attrs, NTG_RESHAPE_SHAPE, shape, 3);
        add_input(&t, &r, oh_shape(1, 4, b, 2, 3, 2), -1, 1);
        worst = maxd(worst, check_grad(&t, &r, 1, "reshape"));
        free_case(&t);
    }
    cr_log_info("reshape grad: worst max-abs-rel %.2e", worst);
}

/* ----------------------------------------------------------- interp_linear */

Test(ops_grad, interp_linear)
{
    static const int ins[] = {1, 3, 7, 13}, sizes[] = {1, 2, 5, 13, 24};
    tu_rng r = {108};
    double worst = 0;
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int align = 0; align < 2; align++)
                for (int b = 1; b <= 3; b += 2) {
                    oh_case t;
                    char what[64];
                    oh_case_init(&t, NTG_OP_interp_linear);
                    oh_attrs_set_i(&t.attrs, NTG_INTERP_SIZE, sizes[s]);
                    oh_attrs_set_i(&t.attrs, NTG_INTERP_ALIGN, align);
                    add_input(&t, &r, oh_shape(1, 2, b, ins[i]), -1, 1);
                    snprintf(what, sizeof what, "interp %d -> %d align %d", ins[i], sizes[s],
                             align);
                    worst = maxd(worst, check_grad(&t, &r, 1, what));
                    free_case(&t);
                }
    cr_log_info("interp_linear grad: worst max-abs-rel %.2e", worst);
}

/* ---------------------------------------------------------- add, sub, mul */

Test(ops_grad, broadcast_ops_reduce_over_broadcast_axes)
{
    static const uint32_t codes[] = {NTG_OP_add, NTG_OP_sub, NTG_OP_mul};
    static const char *names[] = {"add", "sub", "mul"};
    tu_rng r = {109};
    double worst[3] = {0};
    for (int b = 1; b <= 4; b += 3) {
        const int h = 7, k = 5;
        ntg_tdesc cs[][2] = {
            {oh_shape(1, 2, b, 1), oh_shape(1, 2, b, h)},
            {oh_shape(0, 1, h), oh_shape(1, 2, b, h)},
            {oh_shape(1, 2, b, h), oh_shape(0, 1, h)},
            {oh_shape(1, 3, b, 1, h), oh_shape(0, 3, 1, k, 1)},
            {oh_shape(1, 2, b, 13), oh_shape(1, 2, b, 13)},
            {oh_shape(0, 0), oh_shape(1, 2, b, h)},
            {oh_shape(1, 4, b, 3, 1, 5), oh_shape(0, 2, 4, 1)},
            {oh_shape(0, 2, 3, 1), oh_shape(0, 2, 1, 4)},
            {oh_shape(1, 3, b, k, 1), oh_shape(1, 3, b, 1, 9)},
        };
        for (int op = 0; op < 3; op++)
            for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
                for (uint64_t want = 1; want < 4; want++) {
                    oh_case t;
                    char what[64];
                    oh_case_init(&t, codes[op]);
                    add_input(&t, &r, cs[i][0], -2, 2);
                    add_input(&t, &r, cs[i][1], -2, 2);
                    snprintf(what, sizeof what, "%s case %zu batch %d want %u", names[op], i, b,
                             (unsigned)want);
                    worst[op] = maxd(worst[op], check_grad(&t, &r, want, what));
                    free_case(&t);
                }
    }
    for (int op = 0; op < 3; op++)
        cr_log_info("%s grad: worst max-abs-rel %.2e", names[op], worst[op]);
}

/* ----------------------------------------------------------------- concat */

Test(ops_grad, concat_with_some_gradients_unwanted)
{
    tu_rng r = {110};
    double worst = 0;
    for (int b = 1; b <= 3; b += 2)
        for (uint64_t want = 1; want < 8; want++) {
            oh_case t;
            oh_case_init(&t, NTG_OP_concat);
            oh_attrs_set_i(&t.attrs, NTG_CONCAT_AXIS, want & 1 ? -1 : 1);
            if (want & 1) {
                add_input(&t, &r, oh_shape(1, 3, b, 2, 3), -1, 1);
                add_input(&t, &r, oh_shape(1, 3, b, 2, 1), -1, 1);
                add_input(&t, &r, oh_shape(1, 3, b, 2, 7), -1, 1);
            } else {
                add_input(&t, &r, oh_shape(1, 3, b, 2, 5), -1, 1);
                add_input(&t, &r, oh_shape(1, 3, b, 1, 5), -1, 1);
                add_input(&t, &r, oh_shape(1, 3, b, 4, 5), -1, 1);
            }
            worst = maxd(worst, check_grad(&t, &r, want, "concat"));
            free_case(&t);
        }
    cr_log_info("concat grad: worst max-abs-rel %.2e", worst);
}

/* ------------------------------------------------------- zero output grad */

/* A NULL output gradient is zero: every wanted input gradient must come back all zeros
 * (over the harness's NaN sentinel, so an unwritten element fails too). */
Test(ops_grad, null_output_gradient_gives_zero_input_gradients)
{
    static const int64_t shape[] = {0, -1};
    tu_rng r = {111};
    for (uint32_t code = 0; code < NTG_OP_COUNT; code++) {
        if (!ntg__op_info(code)->differentiable) continue;
        oh_case t;
        oh_case_init(&t, code);
        ntg_tdesc d = oh_shape(1, 2, 3, 8);
        int n_in = 1;
        switch (code) {
        case NTG_OP_dense:
            oh_attrs_set_i(&t.attrs, NTG_DENSE_UNITS, 4);
            oh_attrs_set_i(&t.attrs, NTG_DENSE_ACT, NTG_ACT_GELU);
            add_input(&t, &r, d, -1, 1);
            add_input(&t, &r, oh_shape(0, 2, 4, 8), -1, 1);
            add_input(&t, &r, oh_shape(0, 1, 4), -1, 1);
            n_in = 0;
            break;
        case NTG_OP_maxpool1d:
            oh_attrs_set_i(&t.attrs, NTG_POOL_KERNEL, 3);
            break;
        case NTG_OP_interp_linear:
            oh_attrs_set_i(&t.attrs, NTG_INTERP_SIZE, 5);
            break;
        case NTG_OP_reshape:
            oh_attrs_set_ints(&t.attrs, NTG_RESHAPE_SHAPE, shape, 2);
            break;
        case NTG_OP_add:
        case NTG_OP_sub:
        case NTG_OP_mul:
        case NTG_OP_concat:
            n_in = 2;
            break;
        case NTG_OP_matmul: /* [3, 2, 8] @ [3, 5, 8]^T */
            oh_attrs_set_i(&t.attrs, NTG_MATMUL_TRANS_B, 1);
            add_input(&t, &r, oh_shape(1, 3, 3, 2, 8), -1, 1);
            add_input(&t, &r, oh_shape(1, 3, 3, 5, 8), -1, 1);
            n_in = 0;
            break;
        case NTG_OP_transpose: {
            static const int64_t perm[] = {0, 1};
            oh_attrs_set_ints(&t.attrs, NTG_TRANSPOSE_PERM, perm, 2);
            break;
        }
        case NTG_OP_layernorm: /* x, weight, bias */
            add_input(&t, &r, d, -1, 1);
            add_input(&t, &r, oh_shape(0, 1, 8), -1, 1);
            add_input(&t, &r, oh_shape(0, 1, 8), -1, 1);
            n_in = 0;
            break;
        case NTG_OP_split: {
            static const int64_t sizes[] = {8};
            oh_attrs_set_ints(&t.attrs, NTG_SPLIT_SIZES, sizes, 1);
            break;
        }
        case NTG_OP_scale:
            oh_attrs_set_f(&t.attrs, NTG_SCALE_FACTOR, 0.5);
            break;
        case NTG_OP_lstm: /* x [2, 4, 1], one layer of hidden 3, with its saved state */
            oh_attrs_set_i(&t.attrs, NTG_LSTM_HIDDEN, 3);
            oh_attrs_set_i(&t.attrs, NTG_LSTM_LAYERS, 1);
            add_input(&t, &r, oh_shape(1, 3, 2, 4, 1), -1, 1);
            add_input(&t, &r, oh_shape(0, 2, 12, 1), -1, 1);
            add_input(&t, &r, oh_shape(0, 2, 12, 3), -1, 1);
            add_input(&t, &r, oh_shape(0, 1, 12), -1, 1);
            add_input(&t, &r, oh_shape(0, 1, 12), -1, 1);
            t.want_out = 2;
            n_in = 0;
            break;
        case NTG_OP_loss_mse:
        case NTG_OP_loss_mae:
        case NTG_OP_loss_huber:
            n_in = 3; /* y, t, mask */
            break;
        case NTG_OP_param: {
            static const int64_t psh[] = {2, 3, 8};
            oh_attrs_set_ints(&t.attrs, NTG_PARAM_SHAPE, psh, 3);
            add_input(&t, &r, oh_shape(0, 3, 2, 3, 8), -1, 1);
            n_in = 0;
            break;
        }
        case NTG_OP_avgpool1d:
            oh_attrs_set_i(&t.attrs, NTG_AVGPOOL_KERNEL, 3);
            oh_attrs_set_i(&t.attrs, NTG_AVGPOOL_STRIDE, 1);
            oh_attrs_set_i(&t.attrs, NTG_AVGPOOL_PAD, 1);
            oh_attrs_set_i(&t.attrs, NTG_AVGPOOL_MODE, NTG_PAD_REPLICATE);
            break;
        case NTG_OP_batchnorm: /* x [batch 3, 8], weight, bias, running mean and var */
            add_input(&t, &r, d, -1, 1);
            for (int k = 0; k < 4; k++) add_input(&t, &r, oh_shape(0, 1, 8), -1, 1);
            t.want_out = 2;
            n_in = 0;
            break;
        case NTG_OP_unfold:
            oh_attrs_set_i(&t.attrs, NTG_UNFOLD_SIZE, 3);
            oh_attrs_set_i(&t.attrs, NTG_UNFOLD_STEP, 2);
            oh_attrs_set_i(&t.attrs, NTG_UNFOLD_PAD_END, 2);
            break;
        case NTG_OP_conv1d: /* [batch 2, 3, 8] -> 4 channels, with bias */
            oh_attrs_set_i(&t.attrs, NTG_CONV_OUT, 4);
            oh_attrs_set_i(&t.attrs, NTG_CONV_KERNEL, 3);
            oh_attrs_set_i(&t.attrs, NTG_CONV_PAD, 1);
            add_input(&t, &r, oh_shape(1, 3, 2, 3, 8), -1, 1);
            add_input(&t, &r, oh_shape(0, 3, 4, 3, 3), -1, 1);
            add_input(&t, &r, oh_shape(0, 1, 4), -1, 1);
            n_in = 0;
            break;
        case NTG_OP_loss_normal:
        case NTG_OP_loss_studentt: /* y [3, P, 8]: the parameter axis */
            oh_attrs_set_i(&t.attrs, NTG_DIST_AXIS, 1);
            add_input(&t, &r, oh_shape(1, 3, 3, code == NTG_OP_loss_normal ? 2 : 3, 8), -1, 1);
            n_in = 2; /* t, mask */
            break;
        case NTG_OP_loss_xent: /* y [3, 8, 3]: the class axis last */
            add_input(&t, &r, oh_shape(1, 3, 3, 8, 3), -1, 1);
            n_in = 2; /* t, mask */
            break;
        case NTG_OP_loss_pinball: {
            static const double q[] = {0.1, 0.5, 0.9};
            oh_attrs_set_floats(&t.attrs, NTG_PINBALL_QUANTILES, q, 3);
            add_input(&t, &r, oh_shape(1, 3, 3, 8, 3), -1, 1); /* y: a quantile axis */
            n_in = 2;                                          /* t, mask */
            break;
        }
        default:
            break;
        }
        for (int i = 0; i < n_in; i++) add_input(&t, &r, d, -1, 1);
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[code], ntg__cpu_scratch_bytes), 0, "%s: %s",
                     ntg__op_info(code)->cls->name, t.msg);
        cr_assert_eq(
            oh_backward(&t, ntg__cpu_bwd[code], ntg__cpu_scratch_bytes, NULL, all_inputs(&t)), 0,
            "%s: %s", ntg__op_info(code)->cls->name, t.msg);
        for (int i = 0; i < t.n_in; i++)
            for (size_t e = 0; e < t.dx[i].n; e++)
                cr_assert(t.dx[i].data[e] == 0.0f, "%s: d input %d [%zu] = %g",
                          ntg__op_info(code)->cls->name, i, e, (double)t.dx[i].data[e]);
        free_case(&t);
    }
}
