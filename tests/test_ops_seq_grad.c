/* test_ops_seq_grad.c — finite-difference checks of the sequence ops' backward kernels. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "backend.h"
#include "ref/ref_kernels.h"
#include "ops_harness.h"
#include "testutil.h"

/*
 * As test_ops_grad.c: L = sum_j sum(w_j * y_j) over the outputs given a gradient, dL/dy_j = w_j
 * is fed to the backward kernel, and every wanted input gradient is compared with central
 * differences of L on the double reference (oh_ref_seq).  In double with eps = 1e-6 the
 * quotient is good to ~1e-9, so the 1e-4 bound measures the float32 kernel.
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

static uint64_t all_inputs(const oh_case *t)
{
    return (UINT64_C(1) << t->n_in) - 1;
}

/* sum_j sum(w_j y_j) over the outputs with a weight, on the double reference. */
typedef struct {
    float *const *w;
    double *y;
} grad_ctx;

static double loss(const oh_case *t, double *const *x, void *ctx)
{
    grad_ctx *c = ctx;
    ntg_tdesc d[OH_MAX_IN];
    double s = 0;
    for (int i = 0; i < t->n_in; i++) d[i] = t->in[i].d;
    for (int j = 0; j < t->n_out; j++) {
        if (!c->w[j]) continue;
        oh_ref_seq(t->code, t->attrs.slot, t->n_in, d, (const double *const *)x, j, &t->out[j].d,
                   c->y);
        for (size_t e = 0; e < t->out[j].n; e++) s += (double)c->w[j][e] * c->y[e];
    }
    return s;
}

/*
 * Forward, backward with dy_j = w_j for the outputs in `dys` (the others' gradients absent),
 * gradients of the inputs in `want` only, then central differences of every wanted input.
 * Returns the worst max-abs-relative error.
 */
static double check_grad_dys(oh_case *t, tu_rng *r, uint64_t want, unsigned dys, const char *what)
{
    uint32_t code = t->code;
    cr_assert_eq(oh_forward(t, ntg__cpu_fwd[code], ntg__cpu_scratch_bytes), 0, "%s: %s", what,
                 t->msg);
    float *w[OH_MAX_OUT] = {NULL};
    size_t ny = 1;
    for (int j = 0; j < t->n_out; j++) {
        ny = t->out[j].n > ny ? t->out[j].n : ny;
        if (!((dys >> j) & 1u)) continue;
        w[j] = malloc((t->out[j].n ? t->out[j].n : 1) * sizeof(float));
        cr_assert_not_null(w[j]);
        tu_fill(r, w[j], t->out[j].n, -1, 1);
    }
    double *y = malloc(ny * sizeof *y);
    cr_assert_not_null(y);
    cr_assert_eq(oh_backward(t, ntg__cpu_bwd[code], ntg__cpu_scratch_bytes, w, want), 0, "%s: %s",
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
    for (int j = 0; j < OH_MAX_OUT; j++) free(w[j]);
    free(y);
    return worst;
}

static double check_grad(oh_case *t, tu_rng *r, uint64_t want, const char *what)
{
    return check_grad_dys(t, r, want, ~0u, what);
}

/* ------------------------------------------------------------------- matmul */

/* a [lead_a..., m, k] @ b [lead_b..., k, n] in logical terms (see test_ops_seq.c). */
typedef struct mm_case {
    int ba, ra;
    int la[3];
    int bb, rb;
    int lb[3];
    int m, k, n;
} mm_case;

static ntg_tdesc mm_shape(int batched, int nlead, const int *lead, int rows, int cols, int trans,
                          int batch)
{
    ntg_tdesc d;
    memset(&d, 0, sizeof d);
    d.dtype = NTG_DTYPE_F32;
    d.rank = (uint8_t)(nlead + 2);
    d.batched = (uint8_t)batched;
    for (int i = 0; i < nlead; i++) d.dims[i] = lead[i];
    if (batched) d.dims[0] = batch;
    d.dims[nlead] = trans ? cols : rows;
    d.dims[nlead + 1] = trans ? rows : cols;
    return d;
}

/* [B, L, H] x [B, 1, H]^T; [B, 4, L, 16] x [B, 4, L, 16]^T (smaller); [B, L, K] x [K, N];
 * broadcasts on either side and over the batch; both unbatched; single rows. */
static const mm_case mm_cases[] = {
    {1, 1, {0}, 1, 1, {0}, 7, 5, 1},       {1, 2, {0, 4}, 1, 2, {0, 4}, 5, 16, 5},
    {1, 1, {0}, 0, 0, {0}, 7, 13, 6},      {1, 2, {0, 1}, 0, 1, {3}, 5, 4, 3},
    {0, 0, {0}, 1, 1, {0}, 3, 7, 5},       {0, 2, {2, 1}, 0, 1, {3}, 4, 3, 5},
    {1, 2, {0, 3}, 0, 2, {1, 3}, 3, 5, 6}, {1, 1, {0}, 1, 1, {0}, 1, 9, 11},
    {1, 2, {0, 1}, 1, 2, {0, 2}, 1, 1, 1},
};

static void mm_setup(oh_case *t, tu_rng *r, const mm_case *mc, int ta, int tb, int batch)
{
    oh_case_init(t, NTG_OP_matmul);
    oh_attrs_set_i(&t->attrs, NTG_MATMUL_TRANS_A, ta);
    oh_attrs_set_i(&t->attrs, NTG_MATMUL_TRANS_B, tb);
    add_input(t, r, mm_shape(mc->ba, mc->ra, mc->la, mc->m, mc->k, ta, batch), -1, 1);
    add_input(t, r, mm_shape(mc->bb, mc->rb, mc->lb, mc->k, mc->n, tb, batch), -1, 1);
}

Test(ops_seq_grad, matmul_every_transpose_and_broadcast)
{
    tu_rng r = {401};
    double worst = 0;
    for (size_t i = 0; i < sizeof mm_cases / sizeof mm_cases[0]; i++)
        for (int b = 1; b <= 3; b += 2)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    for (uint64_t want = 0; want < 4; want++) {
                        oh_case t;
                        char what[96];
                        mm_setup(&t, &r, &mm_cases[i], ta, tb, b);
                        snprintf(what, sizeof what, "matmul case %zu batch %d ta %d tb %d want %u",
                                 i, b, ta, tb, (unsigned)want);
                        worst = maxd(worst, check_grad(&t, &r, want, what));
                        free_case(&t);
                    }
    cr_log_info("matmul grad: worst max-abs-rel %.2e", worst);
}

/* ---------------------------------------------------------------- transpose */

Test(ops_seq_grad, transpose_applies_the_inverse_permutation)
{
    static const int64_t p3[][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    static const int64_t p4[][4] = {{0, 1, 2, 3}, {0, 1, 3, 2}, {0, 2, 1, 3},
                                    {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 3, 2, 1}};
    tu_rng r = {402};
    double worst = 0;
    for (int b = 1; b <= 3; b += 2)
        for (size_t p = 0; p < 6; p++) {
            oh_case t;
            oh_case_init(&t, NTG_OP_transpose);
            oh_attrs_set_ints(&t.attrs, NTG_TRANSPOSE_PERM, p4[p], 4);
            add_input(&t, &r, oh_shape(1, 4, b, 3, 2, 5), -1, 1);
            worst = maxd(worst, check_grad(&t, &r, 1, "transpose rank 4"));
            free_case(&t);
        }
    for (size_t p = 0; p < 6; p++) {
        oh_case t;
        oh_case_init(&t, NTG_OP_transpose);
        oh_attrs_set_ints(&t.attrs, NTG_TRANSPOSE_PERM, p3[p], 3);
        add_input(&t, &r, oh_shape(0, 3, 2, 3, 5), -1, 1);
        worst = maxd(worst, check_grad(&t, &r, 1, "transpose rank 3"));
        free_case(&t);
    }
    cr_log_info("transpose grad: worst max-abs-rel %.2e", worst);
}

/* ------------------------------------------------------ softmax, log_softmax */

Test(ops_seq_grad, softmax_and_log_softmax_on_every_axis)
{
    static const uint32_t codes[] = {NTG_OP_softmax, NTG_OP_log_softmax};
    static const int axes[] = {1, 2, -1};
    static const double offsets[] = {0, 1e3};
    tu_rng r = {403};
    double worst[2] = {0};
    for (int op = 0; op < 2; op++)
        for (int b = 1; b <= 3; b += 2)
            for (size_t a = 0; a < sizeof axes / sizeof axes[0]; a++)
                for (size_t o = 0; o < 2; o++) {
                    ntg_tdesc ds[] = {oh_shape(1, 3, b, 5, 7), oh_shape(1, 4, b, 3, 1, 4)};
                    for (size_t s = 0; s < 2; s++) {
                        oh_case t;
                        char what[80];
                        oh_case_init(&t, codes[op]);
                        oh_attrs_set_i(&t.attrs, NTG_SOFTMAX_AXIS, axes[a]);
                        add_input(&t, &r, ds[s], offsets[o] - 3, offsets[o] + 3);
                        snprintf(what, sizeof what, "%s axis %d offset %g shape %zu batch %d",
                                 op ? "log_softmax" : "softmax", axes[a], offsets[o], s, b);
                        worst[op] = maxd(worst[op], check_grad(&t, &r, 1, what));
                        free_case(&t);
                    }
                }
    cr_log_info("softmax grad: worst max-abs-rel %.2e", worst[0]);
    cr_log_info("log_softmax grad: worst max-abs-rel %.2e", worst[1]);
}

/* ---------------------------------------------------------------- layernorm */

Test(ops_seq_grad, layernorm_with_and_without_affine)
{
    tu_rng r = {404};
    double worst[2] = {0};
    for (int affine = 0; affine < 2; affine++)
        for (int b = 1; b <= 3; b += 2) {
            ntg_tdesc ds[] = {oh_shape(1, 2, b, 7), oh_shape(1, 3, b, 3, 5), oh_shape(0, 2, 3, 8),
                              oh_shape(1, 2, b, 3), oh_shape(1, 2, b, 1)};
            /* not d = 2: there x's gradient is only eps's effect (x - mean is +-sqrt(var)),
             * too small for finite differences to resolve */
            for (size_t s = 0; s < sizeof ds / sizeof ds[0]; s++)
                for (uint64_t want = 1; want < (affine ? 8u : 2u); want++) {
                    oh_case t;
                    char what[80];
                    int dim = (int)ds[s].dims[ds[s].rank - 1];
                    oh_case_init(&t, NTG_OP_layernorm);
                    oh_attrs_set_i(&t.attrs, NTG_LAYERNORM_AFFINE, affine);
                    oh_attrs_set_f(&t.attrs, NTG_LAYERNORM_EPS, s == 2 ? 1e-3 : 1e-5);
                    add_input(&t, &r, ds[s], -2, 2);
                    if (affine) {
                        add_input(&t, &r, oh_shape(0, 1, dim), 0.5, 1.5);
                        add_input(&t, &r, oh_shape(0, 1, dim), -0.5, 0.5);
                    }
                    /* scratch for a larger maximum batch, as a session sizes it */
                    t.max_batch = b + 2;
                    snprintf(what, sizeof what, "layernorm affine %d shape %zu batch %d want %u",
                             affine, s, b, (unsigned)want);
                    worst[affine] = maxd(worst[affine], check_grad(&t, &r, want, what));
                    free_case(&t);
                }
        }
    cr_log_info("layernorm grad: worst max-abs-rel %.2e (plain), %.2e (affine)", worst[0],
                worst[1]);
}

/* ------------------------------------------------- gelu, tanh, sigmoid, scale */

Test(ops_seq_grad, elementwise_functions)
{
    static const uint32_t codes[] = {NTG_OP_gelu, NTG_OP_tanh, NTG_OP_sigmoid, NTG_OP_scale};
    static const char *names[] = {"gelu", "tanh", "sigmoid", "scale"};
    tu_rng r = {405};
    double worst[4] = {0};
    for (int op = 0; op < 4; op++)
        for (int b = 1; b <= 3; b += 2) {
            ntg_tdesc ds[] = {oh_shape(1, 2, b, 1), oh_shape(1, 3, b, 7, 13), oh_shape(0, 2, 5, 3)};
            for (size_t s = 0; s < 3; s++) {
                oh_case t;
                char what[64];
                oh_case_init(&t, codes[op]);
                if (codes[op] == NTG_OP_scale)
                    oh_attrs_set_f(&t.attrs, NTG_SCALE_FACTOR, s == 1 ? -0.375 : 0.125);
                add_input(&t, &r, ds[s], -4, 4);
                snprintf(what, sizeof what, "%s shape %zu batch %d", names[op], s, b);
                worst[op] = maxd(worst[op], check_grad(&t, &r, 1, what));
                free_case(&t);
            }
        }
    for (int op = 0; op < 4; op++)
        cr_log_info("%s grad: worst max-abs-rel %.2e", names[op], worst[op]);
}

/* --------------------------------------------------------------- reductions */

/* Distinct values at least 0.05 apart (a shuffled ramp): no tie within reach of the
 * differences for reduce_max. */
static void fill_distinct(tu_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(tu_next(r) % i);
        float tmp = x[i - 1];
        x[i - 1] = x[j];
        x[j] = tmp;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.1 * ((double)x[i] + tu_uniform(r, 0, 0.5)) - 0.05 * (double)n);
}

Test(ops_seq_grad, reductions_with_and_without_keepdims)
{
    static const uint32_t codes[] = {NTG_OP_reduce_sum, NTG_OP_reduce_mean, NTG_OP_reduce_max};
    static const char *names[] = {"reduce_sum", "reduce_mean", "reduce_max"};
    static const int axes[] = {1, 2, -1};
    tu_rng r = {406};
    double worst[3] = {0};
    for (int op = 0; op < 3; op++)
        for (int keep = 0; keep < 2; keep++)
            for (int b = 1; b <= 3; b += 2)
                for (size_t a = 0; a < sizeof axes / sizeof axes[0]; a++) {
                    ntg_tdesc ds[] = {oh_shape(1, 4, b, 3, 5, 2), oh_shape(1, 3, b, 7, 1),
                                      oh_shape(0, 3, 2, 3, 5)};
                    for (size_t s = 0; s < 3; s++) {
                        oh_case t;
                        char what[80];
                        oh_case_init(&t, codes[op]);
                        oh_attrs_set_i(&t.attrs, NTG_REDUCE_AXIS, axes[a]);
                        oh_attrs_set_i(&t.attrs, NTG_REDUCE_KEEPDIMS, keep);
                        float *x = add_input(&t, &r, ds[s], -1, 1);
                        fill_distinct(&r, x, oh_numel(&ds[s]));
                        snprintf(what, sizeof what, "%s axis %d keep %d shape %zu batch %d",
                                 names[op], axes[a], keep, s, b);
                        worst[op] = maxd(worst[op], check_grad(&t, &r, 1, what));
                        free_case(&t);
                    }
                }
    for (int op = 0; op < 3; op++)
        cr_log_info("%s grad: worst max-abs-rel %.2e", names[op], worst[op]);
}

Test(ops_seq_grad, reduce_max_sends_ties_to_the_first_maximum)
{
    /* [1, 4, 2] along axis 1: column 0 ties at rows 1 and 2, column 1 at rows 0 and 3 */
    float x[8] = {1, 5, 3, 2, 3, 4, 2, 5}, dy[2] = {10, 100};
    float *dys[1] = {dy};
    oh_case t;
    oh_case_init(&t, NTG_OP_reduce_max);
    oh_attrs_set_i(&t.attrs, NTG_REDUCE_AXIS, 1);
    oh_case_input(&t, oh_shape(1, 3, 1, 4, 2), x);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_reduce_max, NULL), 0, "%s", t.msg);
    cr_assert(t.out[0].data[0] == 3.0f && t.out[0].data[1] == 5.0f);
    cr_assert_eq(oh_backward(&t, ntg__cpu_bwd_reduce_max, NULL, dys, 1), 0, "%s", t.msg);
    const float want[8] = {0, 100, 10, 0, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(t.dx[0].data[i], want[i], "dx[%d] = %g, want %g", i, (double)t.dx[0].data[i],
                     (double)want[i]);
    oh_case_free(&t);
}

/* -------------------------------------------------------------------- split */

Test(ops_seq_grad, split_joins_gradients_with_absent_ones_as_zeros)
{
    static const int64_t sizes[3] = {2, 1, 4};
    tu_rng r = {407};
    double worst = 0;
    for (int b = 1; b <= 3; b += 2)
        for (int ax = 1; ax < 3; ax++)
            for (unsigned dys = 0; dys < 8; dys++) {
                oh_case t;
                char what[64];
                oh_case_init(&t, NTG_OP_split);
                oh_attrs_set_i(&t.attrs, NTG_SPLIT_AXIS, ax == 2 ? -1 : 1);
                oh_attrs_set_ints(&t.attrs, NTG_SPLIT_SIZES, sizes, 3);
                t.want_out = 3;
                add_input(&t, &r, ax == 2 ? oh_shape(1, 3, b, 3, 7) : oh_shape(1, 3, b, 7, 3), -1,
                          1);
                snprintf(what, sizeof what, "split axis %d batch %d output grads %u", ax, b, dys);
                worst = maxd(worst, check_grad_dys(&t, &r, 1, dys, what));
                if (dys == 5) /* the middle piece's gradient is absent: zeros there */
                    for (int64_t o = 0; o < b * 3; o++) {
                        float v = ax == 2 ? t.dx[0].data[o * 7 + 2]
                                          : t.dx[0].data[(o / 3 * 7 + 2) * 3 + o % 3];
                        cr_assert(v == 0.0f, "%s: middle piece got %g", what, (double)v);
                    }
                free_case(&t);
            }
    cr_log_info("split grad: worst max-abs-rel %.2e", worst);
}

/* ------------------------------------------------------- zero output grads */

/* One small case of each op here, every input gradient wanted. */
static void seq_case(oh_case *t, tu_rng *r, uint32_t code)
{
    static const int64_t perm[] = {0, 2, 1}, sizes[] = {3, 5};
    oh_case_init(t, code);
    ntg_tdesc d = oh_shape(1, 3, 3, 4, 8);
    switch (code) {
    case NTG_OP_matmul:
        oh_attrs_set_i(&t->attrs, NTG_MATMUL_TRANS_B, 1);
        add_input(t, r, d, -1, 1);
        add_input(t, r, oh_shape(1, 3, 3, 5, 8), -1, 1);
        return;
    case NTG_OP_transpose:
        oh_attrs_set_ints(&t->attrs, NTG_TRANSPOSE_PERM, perm, 3);
        break;
    case NTG_OP_layernorm:
        add_input(t, r, d, -1, 1);
        add_input(t, r, oh_shape(0, 1, 8), -1, 1);
        add_input(t, r, oh_shape(0, 1, 8), -1, 1);
        return;
    case NTG_OP_split:
        oh_attrs_set_ints(&t->attrs, NTG_SPLIT_SIZES, sizes, 2);
        t->want_out = 2;
        break;
    case NTG_OP_scale:
        oh_attrs_set_f(&t->attrs, NTG_SCALE_FACTOR, 2.5);
        break;
    default:
        break;
    }
    add_input(t, r, d, -1, 1);
}

/* A NULL output gradient is zero: every wanted input gradient must come back all zeros (over
 * the harness's NaN sentinel, so an unwritten element fails too). */
Test(ops_seq_grad, null_output_gradients_give_zero_input_gradients)
{
    static const uint32_t codes[] = {
        NTG_OP_matmul,     NTG_OP_transpose, NTG_OP_softmax, NTG_OP_log_softmax, NTG_OP_layernorm,
        NTG_OP_gelu,       NTG_OP_tanh,      NTG_OP_sigmoid, NTG_OP_reduce_sum,  NTG_OP_reduce_mean,
        NTG_OP_reduce_max, NTG_OP_split,     NTG_OP_scale};
    tu_rng r = {408};
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
        oh_case t;
        uint32_t code = codes[k];
        const char *name = ntg__op_info(code)->cls->name;
        seq_case(&t, &r, code);
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[code], ntg__cpu_scratch_bytes), 0, "%s: %s", name,
                     t.msg);
        cr_assert_eq(
            oh_backward(&t, ntg__cpu_bwd[code], ntg__cpu_scratch_bytes, NULL, all_inputs(&t)), 0,
            "%s: %s", name, t.msg);
        for (int i = 0; i < t.n_in; i++)
            for (size_t e = 0; e < t.dx[i].n; e++)
                cr_assert(t.dx[i].data[e] == 0.0f, "%s: d input %d [%zu] = %g", name, i, e,
                          (double)t.dx[i].data[e]);
        free_case(&t);
    }
}
