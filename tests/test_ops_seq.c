/* test_ops_seq.c — the sequence ops' reference forward kernels against double-precision code. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "backend.h"
#include "ref/ref_kernels.h"
#include "ops_harness.h"
#include "testutil.h"

/* float32 kernels against a double reference: a few ulps of the largest output */
#define TOL 1e-5

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

/*
 * Forward on the CPU kernel vs. the double reference, every output (split's pieces); returns
 * the worst max-abs-relative error.  Output 0 also goes through oh_ref_forward, the entry the
 * other backends' tests use, so its wiring is checked too.
 */
static double check_forward(oh_case *t, const char *what)
{
    int rc = oh_forward(t, ntg__cpu_fwd[t->code], ntg__cpu_scratch_bytes);
    cr_assert_eq(rc, 0, "%s: %s", what, t->msg);
    ntg_tdesc d[OH_MAX_IN];
    double *x[OH_MAX_IN];
    for (int i = 0; i < t->n_in; i++) {
        size_t n = oh_numel(&t->in[i].d);
        d[i] = t->in[i].d;
        x[i] = malloc((n ? n : 1) * sizeof(double));
        cr_assert_not_null(x[i]);
        for (size_t e = 0; e < n; e++) x[i][e] = (double)((const float *)t->in[i].data)[e];
    }
    double worst = 0;
    for (int j = 0; j < t->n_out; j++) {
        size_t n = t->out[j].n;
        double *ref = malloc((n ? n : 1) * sizeof *ref);
        cr_assert_not_null(ref);
        cr_assert(oh_ref_seq(t->code, t->attrs.slot, t->n_in, d, (const double *const *)x, j,
                             &t->out[j].d, ref));
        double err = tu_max_abs_rel_d(t->out[j].data, ref, n);
        cr_assert(err <= TOL, "%s: output %d: max-abs-rel error %.3g > %.0e", what, j, err, TOL);
        if (j == 0) {
            oh_ref_case(t, ref);
            cr_assert(tu_max_abs_rel_d(t->out[0].data, ref, n) <= TOL,
                      "%s: oh_ref_forward disagrees", what);
        }
        worst = maxd(worst, err);
        free(ref);
    }
    for (int i = 0; i < t->n_in; i++) free(x[i]);
    return worst;
}

/* ------------------------------------------------------------------- matmul */

/*
 * A case in logical terms: a [lead_a..., m, k] @ b [lead_b..., k, n], each operand batched or
 * not (a batched operand's first lead extent is the batch).  The stored shapes swap the last
 * two axes of a transposed operand.
 */
typedef struct mm_case {
    int ba, ra; /* batched, number of lead axes */
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

/* The brief's shapes ([B, L, H] x [B, 1, H]^T; [B, 4, L, 16] x [B, 4, L, 16]^T; [B, L, K] x
 * [K, N]) and others: broadcast on either side, both unbatched, single rows (GEMM's dot
 * product path), extents past the GEMM's cache blocks. */
static const mm_case mm_cases[] = {
    {1, 1, {0}, 1, 1, {0}, 7, 5, 1},       {1, 2, {0, 4}, 1, 2, {0, 4}, 9, 16, 9},
    {1, 1, {0}, 0, 0, {0}, 7, 13, 6},      {1, 2, {0, 1}, 0, 1, {3}, 5, 4, 3},
    {0, 0, {0}, 1, 1, {0}, 3, 7, 5},       {0, 2, {2, 1}, 0, 1, {3}, 4, 3, 5},
    {1, 2, {0, 3}, 0, 2, {1, 3}, 3, 5, 6}, {1, 1, {0}, 1, 1, {0}, 1, 9, 11},
    {1, 1, {0}, 0, 0, {0}, 70, 130, 9},    {1, 1, {0}, 1, 1, {0}, 3, 20, 131},
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

Test(ops_seq, matmul_matches_reference_for_every_transpose_and_broadcast)
{
    tu_rng r = {301};
    double worst = 0;
    for (size_t i = 0; i < sizeof mm_cases / sizeof mm_cases[0]; i++)
        for (int b = 1; b <= 3; b += 2)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    oh_case t;
                    char what[96];
                    mm_setup(&t, &r, &mm_cases[i], ta, tb, b);
                    snprintf(what, sizeof what, "matmul case %zu batch %d ta %d tb %d", i, b, ta,
                             tb);
                    worst = maxd(worst, check_forward(&t, what));
                    free_case(&t);
                }
    cr_log_info("matmul: worst max-abs-rel %.2e", worst);
}

/* ---------------------------------------------------------------- transpose */

Test(ops_seq, transpose_matches_reference_for_rank_3_and_4_perms)
{
    static const int64_t p3[][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    static const int64_t p4[][4] = {{0, 1, 2, 3}, {0, 1, 3, 2}, {0, 2, 1, 3},
                                    {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 3, 2, 1}};
    tu_rng r = {302};
    double worst = 0;
    for (int b = 1; b <= 3; b += 2) {
        ntg_tdesc d4[] = {oh_shape(1, 4, b, 3, 5, 7), oh_shape(1, 4, b, 1, 5, 1),
                          oh_shape(1, 4, b, 4, 9, 16)};
        for (size_t s = 0; s < sizeof d4 / sizeof d4[0]; s++)
            for (size_t p = 0; p < 6; p++) {
                oh_case t;
                oh_case_init(&t, NTG_OP_transpose);
                oh_attrs_set_ints(&t.attrs, NTG_TRANSPOSE_PERM, p4[p], 4);
                add_input(&t, &r, d4[s], -1, 1);
                worst = maxd(worst, check_forward(&t, "transpose rank 4"));
                free_case(&t);
            }
        for (size_t p = 0; p < 2; p++) { /* batched: the batch stays first */
            oh_case t;
            oh_case_init(&t, NTG_OP_transpose);
            oh_attrs_set_ints(&t.attrs, NTG_TRANSPOSE_PERM, p3[p], 3);
            add_input(&t, &r, oh_shape(1, 3, b, 13, 6), -1, 1);
            worst = maxd(worst, check_forward(&t, "transpose rank 3 batched"));
            free_case(&t);
        }
    }
    for (size_t p = 0; p < 6; p++) {
        oh_case t;
        oh_case_init(&t, NTG_OP_transpose);
        oh_attrs_set_ints(&t.attrs, NTG_TRANSPOSE_PERM, p3[p], 3);
        add_input(&t, &r, oh_shape(0, 3, 2, 3, 5), -1, 1);
        worst = maxd(worst, check_forward(&t, "transpose rank 3"));
        free_case(&t);
    }
    cr_log_info("transpose: worst max-abs-rel %.2e", worst);
}

/* ------------------------------------------------------ softmax, log_softmax */

Test(ops_seq, softmax_and_log_softmax_match_reference_on_every_axis)
{
    static const uint32_t codes[] = {NTG_OP_softmax, NTG_OP_log_softmax};
    static const int axes[] = {1, 2, 3, -1, -2};
    tu_rng r = {303};
    double worst[2] = {0};
    for (int op = 0; op < 2; op++)
        for (int b = 1; b <= 3; b += 2)
            for (size_t a = 0; a < sizeof axes / sizeof axes[0]; a++) {
                ntg_tdesc ds[] = {oh_shape(1, 4, b, 5, 7, 3), oh_shape(1, 4, b, 1, 13, 2)};
                for (size_t s = 0; s < 2; s++) {
                    oh_case t;
                    char what[64];
                    oh_case_init(&t, codes[op]);
                    oh_attrs_set_i(&t.attrs, NTG_SOFTMAX_AXIS, axes[a]);
                    add_input(&t, &r, ds[s], -4, 4);
                    snprintf(what, sizeof what, "%s axis %d shape %zu batch %d",
                             op ? "log_softmax" : "softmax", axes[a], s, b);
                    worst[op] = maxd(worst[op], check_forward(&t, what));
                    free_case(&t);
                }
            }
    /* the common cases: the last axis of [B, L] and of attention scores [B, H, L, L] */
    for (int op = 0; op < 2; op++)
        for (int b = 1; b <= 3; b += 2) {
            ntg_tdesc ds[] = {oh_shape(1, 2, b, 97), oh_shape(1, 4, b, 4, 9, 9),
                              oh_shape(0, 2, 3, 1)};
            for (size_t s = 0; s < 3; s++) {
                oh_case t;
                oh_case_init(&t, codes[op]);
                add_input(&t, &r, ds[s], -8, 8);
                worst[op] = maxd(worst[op], check_forward(&t, "softmax last axis"));
                free_case(&t);
            }
        }
    cr_log_info("softmax: worst max-abs-rel %.2e", worst[0]);
    cr_log_info("log_softmax: worst max-abs-rel %.2e", worst[1]);
}

/* exp(1e3) is inf in float and double alike: only the max subtraction keeps these finite. */
Test(ops_seq, softmax_does_not_overflow_at_large_offsets)
{
    static const uint32_t codes[] = {NTG_OP_softmax, NTG_OP_log_softmax};
    static const double offsets[] = {1e3, -1e3, 3e4};
    tu_rng r = {304};
    for (int op = 0; op < 2; op++)
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++)
            for (int ax = 1; ax < 3; ax++) {
                oh_case t;
                char what[64];
                oh_case_init(&t, codes[op]);
                oh_attrs_set_i(&t.attrs, NTG_SOFTMAX_AXIS, ax);
                add_input(&t, &r, oh_shape(1, 3, 2, 6, 11), offsets[o] - 5, offsets[o] + 5);
                snprintf(what, sizeof what, "%s offset %g axis %d", op ? "log_softmax" : "softmax",
                         offsets[o], ax);
                check_forward(&t, what);
                for (size_t e = 0; e < t.out[0].n; e++)
                    cr_assert(isfinite(t.out[0].data[e]), "%s: y[%zu] = %g", what, e,
                              (double)t.out[0].data[e]);
                free_case(&t);
            }
    /* one huge element: the others underflow to exactly 0, it gets 1 */
    float x[4] = {0, 1000, 1, -1000};
    oh_case t;
    oh_case_init(&t, NTG_OP_softmax);
    oh_case_input(&t, oh_shape(1, 2, 1, 4), x);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_softmax, NULL), 0, "%s", t.msg);
    cr_assert(t.out[0].data[1] == 1.0f && t.out[0].data[0] == 0.0f && t.out[0].data[3] == 0.0f);
    oh_case_free(&t);
}

/* ---------------------------------------------------------------- layernorm */

static void layernorm_case(oh_case *t, tu_rng *r, ntg_tdesc d, int affine, double eps, double mu)
{
    int dim = (int)d.dims[d.rank - 1];
    oh_case_init(t, NTG_OP_layernorm);
    oh_attrs_set_i(&t->attrs, NTG_LAYERNORM_AFFINE, affine);
    oh_attrs_set_f(&t->attrs, NTG_LAYERNORM_EPS, eps);
    add_input(t, r, d, mu - 2, mu + 2);
    if (affine) {
        add_input(t, r, oh_shape(0, 1, dim), 0.5, 1.5);
        add_input(t, r, oh_shape(0, 1, dim), -0.5, 0.5);
    }
}

Test(ops_seq, layernorm_matches_reference_with_and_without_affine)
{
    static const double eps[] = {1e-5, 1e-3};
    tu_rng r = {305};
    double worst[2] = {0};
    for (int affine = 0; affine < 2; affine++)
        for (int b = 1; b <= 3; b += 2)
            for (size_t e = 0; e < 2; e++) {
                ntg_tdesc ds[] = {oh_shape(1, 2, b, 7), oh_shape(1, 3, b, 5, 13),
                                  oh_shape(1, 3, b, 2, 64), oh_shape(0, 2, 3, 8),
                                  oh_shape(1, 2, b, 1)};
                for (size_t s = 0; s < sizeof ds / sizeof ds[0]; s++) {
                    oh_case t;
                    char what[64];
                    /* a large mean checks the two-pass variance (no cancellation) */
                    layernorm_case(&t, &r, ds[s], affine, eps[e], s == 1 ? 1000 : 0);
                    t.max_batch = b + 2;
                    snprintf(what, sizeof what, "layernorm affine %d shape %zu batch %d", affine, s,
                             b);
                    worst[affine] = maxd(worst[affine], check_forward(&t, what));
                    free_case(&t);
                }
            }
    cr_log_info("layernorm: worst max-abs-rel %.2e (plain), %.2e (affine)", worst[0], worst[1]);
}

/* ------------------------------------------------- gelu, tanh, sigmoid, scale */

Test(ops_seq, elementwise_functions_match_reference)
{
    static const uint32_t codes[] = {NTG_OP_gelu, NTG_OP_tanh, NTG_OP_sigmoid, NTG_OP_scale};
    static const char *names[] = {"gelu", "tanh", "sigmoid", "scale"};
    static const double factors[] = {0.125, -3.0, 1.0 / 3.0};
    tu_rng r = {306};
    double worst[4] = {0};
    for (int op = 0; op < 4; op++)
        for (int b = 1; b <= 3; b += 2) {
            ntg_tdesc ds[] = {oh_shape(1, 2, b, 1), oh_shape(1, 3, b, 7, 13), oh_shape(0, 2, 5, 3)};
            for (size_t s = 0; s < 3; s++)
                for (int range = 0; range < 2; range++) {
                    oh_case t;
                    char what[64];
                    oh_case_init(&t, codes[op]);
                    if (codes[op] == NTG_OP_scale)
                        oh_attrs_set_f(&t.attrs, NTG_SCALE_FACTOR, factors[s]);
                    /* the usual range, then the saturated tails (exp overflow for sigmoid) */
                    add_input(&t, &r, ds[s], range ? -120 : -6, range ? 120 : 6);
                    snprintf(what, sizeof what, "%s shape %zu batch %d range %d", names[op], s, b,
                             range);
                    worst[op] = maxd(worst[op], check_forward(&t, what));
                    free_case(&t);
                }
        }
    for (int op = 0; op < 4; op++) cr_log_info("%s: worst max-abs-rel %.2e", names[op], worst[op]);
}

Test(ops_seq, elementwise_functions_by_hand)
{
    float x[5] = {0, 1, -1, -800, 800};
    oh_case t;
    oh_case_init(&t, NTG_OP_gelu);
    oh_case_input(&t, oh_shape(1, 2, 1, 5), x);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_gelu, NULL), 0, "%s", t.msg);
    /* torch.nn.functional.gelu(torch.tensor([0., 1, -1])): 0, 0.8413447, -0.1586553 */
    cr_assert(t.out[0].data[0] == 0.0f && fabsf(t.out[0].data[1] - 0.8413447f) < 1e-7f &&
              fabsf(t.out[0].data[2] + 0.1586553f) < 1e-7f);
    cr_assert(t.out[0].data[3] == 0.0f && t.out[0].data[4] == 800.0f);
    oh_case_free(&t);
    oh_case_init(&t, NTG_OP_sigmoid);
    oh_case_input(&t, oh_shape(1, 2, 1, 5), x);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_sigmoid, NULL), 0, "%s", t.msg);
    cr_assert(t.out[0].data[0] == 0.5f && t.out[0].data[3] == 0.0f && t.out[0].data[4] == 1.0f);
    oh_case_free(&t);
}

/* --------------------------------------------------------------- reductions */

Test(ops_seq, reductions_match_reference_with_and_without_keepdims)
{
    static const uint32_t codes[] = {NTG_OP_reduce_sum, NTG_OP_reduce_mean, NTG_OP_reduce_max};
    static const char *names[] = {"reduce_sum", "reduce_mean", "reduce_max"};
    static const int axes[] = {1, 2, 3, -1};
    tu_rng r = {307};
    double worst[3] = {0};
    for (int op = 0; op < 3; op++)
        for (int keep = 0; keep < 2; keep++)
            for (int b = 1; b <= 3; b += 2) {
                for (size_t a = 0; a < sizeof axes / sizeof axes[0]; a++) {
                    ntg_tdesc ds[] = {oh_shape(1, 4, b, 5, 7, 3), oh_shape(1, 4, b, 1, 300, 2)};
                    for (size_t s = 0; s < 2; s++) {
                        oh_case t;
                        char what[64];
                        oh_case_init(&t, codes[op]);
                        oh_attrs_set_i(&t.attrs, NTG_REDUCE_AXIS, axes[a]);
                        oh_attrs_set_i(&t.attrs, NTG_REDUCE_KEEPDIMS, keep);
                        float *x = add_input(&t, &r, ds[s], -2, 2);
                        if (op == 2) /* few distinct values: ties for the max everywhere */
                            for (size_t e = 0; e < oh_numel(&ds[s]); e++)
                                x[e] = (float)(tu_next(&r) % 3);
                        snprintf(what, sizeof what, "%s axis %d keep %d shape %zu batch %d",
                                 names[op], axes[a], keep, s, b);
                        worst[op] = maxd(worst[op], check_forward(&t, what));
                        free_case(&t);
                    }
                }
                /* [b, n] along its one feature axis; an unbatched vector to one element */
                ntg_tdesc ds[] = {oh_shape(1, 2, b, 13), oh_shape(0, 1, 9)};
                for (size_t s = 0; s < 2; s++) {
                    oh_case t;
                    oh_case_init(&t, codes[op]);
                    oh_attrs_set_i(&t.attrs, NTG_REDUCE_AXIS, s ? 0 : -1);
                    oh_attrs_set_i(&t.attrs, NTG_REDUCE_KEEPDIMS, keep);
                    add_input(&t, &r, ds[s], -2, 2);
                    worst[op] = maxd(worst[op], check_forward(&t, names[op]));
                    cr_assert_eq(t.out[0].d.rank, s ? 1 : 2 - !keep);
                    free_case(&t);
                }
            }
    for (int op = 0; op < 3; op++) cr_log_info("%s: worst max-abs-rel %.2e", names[op], worst[op]);
}

/* -------------------------------------------------------------------- split */

Test(ops_seq, split_matches_reference_with_unequal_pieces)
{
    tu_rng r = {308};
    double worst = 0;
    for (int b = 1; b <= 3; b += 2) {
        struct {
            int axis, n;
            int64_t sizes[4];
            ntg_tdesc x;
        } cs[] = {
            {-1, 3, {3, 1, 7}, oh_shape(1, 2, b, 11)},
            {1, 3, {2, 5, 1}, oh_shape(1, 3, b, 8, 3)},
            {2, 3, {1, 1, 2}, oh_shape(1, 4, b, 2, 4, 5)},
            {2, 4, {4, 3, 5, 1}, oh_shape(1, 3, b, 2, 13)},
            {0, 3, {1, 2, 3}, oh_shape(0, 2, 6, 5)},
            {1, 1, {9}, oh_shape(1, 2, b, 9)},
        };
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            oh_case t;
            char what[64];
            oh_case_init(&t, NTG_OP_split);
            oh_attrs_set_i(&t.attrs, NTG_SPLIT_AXIS, cs[i].axis);
            oh_attrs_set_ints(&t.attrs, NTG_SPLIT_SIZES, cs[i].sizes, cs[i].n);
            t.want_out = cs[i].n;
            add_input(&t, &r, cs[i].x, -1, 1);
            snprintf(what, sizeof what, "split case %zu batch %d", i, b);
            worst = maxd(worst, check_forward(&t, what));
            cr_assert_eq(t.n_out, cs[i].n);
            free_case(&t);
        }
    }
    cr_log_info("split: worst max-abs-rel %.2e", worst);
}

/* -------------------------------------------------------------------- basis */

static int basis_run(oh_case *t, int kind, int len, int period, int degree, int harmonics, int sign)
{
    oh_case_init(t, NTG_OP_basis);
    oh_attrs_set_i(&t->attrs, NTG_BASIS_KIND, kind);
    oh_attrs_set_i(&t->attrs, NTG_BASIS_LENGTH, len);
    oh_attrs_set_i(&t->attrs, NTG_BASIS_PERIOD, period);
    oh_attrs_set_i(&t->attrs, NTG_BASIS_DEGREE, degree);
    oh_attrs_set_i(&t->attrs, NTG_BASIS_HARMONICS, harmonics);
    oh_attrs_set_i(&t->attrs, NTG_BASIS_SIGN, sign);
    return oh_forward(t, ntg__cpu_fwd_basis, ntg__cpu_scratch_bytes);
}

/* Every element against the definition computed independently in double (ops_harness.h),
 * within one float rounding: the shapes are NeuralForecast's n_theta / 2 rows. */
Test(ops_seq, basis_matches_its_definition)
{
    static const struct {
        int kind, len, period, degree, harmonics, sign;
        int64_t rows;
    } cs[] = {
        {NTG_BASIS_POLY, 480, 0, 2, 0, 1, 3},        /* trend, backcast of h 96 */
        {NTG_BASIS_POLY, 96, 0, 3, 0, 1, 4},         /* trend, forecast, n_polynomials 3 */
        {NTG_BASIS_POLY, 7, 5, 3, 0, 1, 4},          /* past the period: values above 1 */
        {NTG_BASIS_POLY, 1, 0, 0, 0, 1, 1},          /* 0^0 = 1 */
        {NTG_BASIS_FOURIER, 96, 0, 0, 2, 1, 190},    /* n_theta 380 at h 96, n_harmonics 2 */
        {NTG_BASIS_FOURIER, 480, 96, 0, 2, -1, 190}, /* its backcast grid */
        {NTG_BASIS_FOURIER, 24, 0, 0, 1, 1, 24},     /* n_harmonics 1: ceil(12) - 0 = 12 */
        {NTG_BASIS_FOURIER, 11, 5, 0, 3, 1, 12},     /* ceil(7.5) - 2 = 6 frequencies */
        {NTG_BASIS_FOURIER, 4, 4, 0, 1, -1, 4},      /* ceil(2) - 0 = 2 */
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        oh_case t;
        cr_assert_eq(basis_run(&t, cs[i].kind, cs[i].len, cs[i].period, cs[i].degree,
                               cs[i].harmonics, cs[i].sign),
                     0, "case %zu: %s", i, t.msg);
        cr_assert_eq(t.out[0].d.dims[0], cs[i].rows, "case %zu: %lld rows, want %lld", i,
                     (long long)t.out[0].d.dims[0], (long long)cs[i].rows);
        cr_assert_eq(t.out[0].d.dims[1], cs[i].len);
        size_t n = t.out[0].n;
        double *ref = malloc(n * sizeof *ref);
        cr_assert_not_null(ref);
        oh_ref_case(&t, ref);
        for (size_t e = 0; e < n; e++) {
            double d = fabs((double)t.out[0].data[e] - ref[e]);
            cr_assert(d <= 1.2e-7 * fmax(1.0, fabs(ref[e])), "case %zu [%zu]: %.9g, want %.9g", i,
                      e, (double)t.out[0].data[e], ref[e]);
        }
        free(ref);
        oh_case_free(&t);
    }
}

Test(ops_seq, basis_spot_values)
{
    oh_case f, b, p;
    cr_assert_eq(basis_run(&f, NTG_BASIS_FOURIER, 8, 8, 0, 2, 1), 0, "%s", f.msg);
    cr_assert_eq(basis_run(&b, NTG_BASIS_FOURIER, 8, 8, 0, 2, -1), 0, "%s", b.msg);
    /* frequencies 0, 1, 1.5, 2, 2.5, 3, 3.5: cos rows 0..6, sin rows 7..13 */
    cr_assert_eq(f.out[0].d.dims[0], 14);
    for (int t = 0; t < 8; t++) {
        cr_assert_eq(f.out[0].data[t], 1.0f, "cos(0 t)");
        cr_assert_eq(f.out[0].data[7 * 8 + t], 0.0f, "sin(0 t)");
        /* row 1, f = 1: cos(2 pi t / 8); row 3, f = 2: sin(2 pi 2 t / 8) */
        cr_assert(fabs((double)f.out[0].data[8 + t] - cos(2 * 3.141592653589793 * t / 8)) < 1e-7);
        cr_assert(fabs((double)f.out[0].data[10 * 8 + t] - sin(4 * 3.141592653589793 * t / 8)) <
                  1e-7);
    }
    /* the backcast grid (sign -1): cos rows equal, sin rows negated, bit for bit */
    for (size_t e = 0; e < f.out[0].n; e++) {
        float want = e < 7 * 8 ? f.out[0].data[e] : -f.out[0].data[e];
        cr_assert_eq(b.out[0].data[e], want, "[%zu]", e);
    }
    cr_assert_eq(basis_run(&p, NTG_BASIS_POLY, 5, 0, 2, 0, 1), 0, "%s", p.msg);
    for (int t = 0; t < 5; t++) {
        cr_assert_eq(p.out[0].data[t], 1.0f);
        cr_assert_eq(p.out[0].data[5 + t], (float)(t / 5.0));
        cr_assert_eq(p.out[0].data[10 + t], (float)((t / 5.0) * (t / 5.0)));
    }
    cr_assert_eq(ntg__cpu_bwd[NTG_OP_basis], NULL, "basis has no gradient");
    oh_case_free(&f);
    oh_case_free(&b);
    oh_case_free(&p);
}

Test(ops_seq, basis_refuses_attributes_of_the_other_kind)
{
    static const struct {
        int kind, len, period, degree, harmonics, sign;
        const char *want;
    } cs[] = {
        {NTG_BASIS_POLY, 8, 0, 2, 2, 1, "kind poly takes degree in 0..64, not harmonics"},
        {NTG_BASIS_POLY, 8, 0, 2, 0, -1, "kind poly takes degree in 0..64, not harmonics or sign"},
        {NTG_BASIS_FOURIER, 8, 0, 2, 2, 1, "kind fourier takes harmonics in 1..1024"},
        {NTG_BASIS_FOURIER, 8, 0, 0, 0, 1, "kind fourier takes harmonics in 1..1024"},
        {NTG_BASIS_FOURIER, 8, 0, 0, 2, 2, "sign 1 or -1"},
        {NTG_BASIS_POLY, 0, 0, 2, 0, 1, "need 1 <= length"},
        {NTG_BASIS_POLY, 8, -1, 2, 0, 1, "0 <= period"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        oh_case t;
        cr_assert_eq(basis_run(&t, cs[i].kind, cs[i].len, cs[i].period, cs[i].degree,
                               cs[i].harmonics, cs[i].sign),
                     -1, "case %zu accepted", i);
        cr_assert(strstr(t.msg, cs[i].want), "case %zu: %s", i, t.msg);
        oh_case_free(&t);
    }
}

/* ------------------------------------------------------------------- posenc */

static void posenc_run(oh_case *t, int len, int d)
{
    oh_case_init(t, NTG_OP_posenc);
    oh_attrs_set_i(&t->attrs, NTG_POSENC_LENGTH, len);
    oh_attrs_set_i(&t->attrs, NTG_POSENC_DIM, d);
    cr_assert_eq(oh_forward(t, ntg__cpu_fwd_posenc, ntg__cpu_scratch_bytes), 0, "%s", t->msg);
}

/* The closed form in double rounded to float, bit for bit: the kernel evaluates the same
 * float64 expression as the PyTorch model (sinusoidal_positions), so the table must not
 * differ from it anywhere, not merely within a tolerance. */
Test(ops_seq, posenc_equals_the_closed_form_rounded_once)
{
    static const int cs[][2] = {{1, 2}, {7, 6}, {96, 16}, {50, 64}, {1000, 512}, {3, 130}};
    double worst = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        oh_case t;
        posenc_run(&t, cs[i][0], cs[i][1]);
        size_t n = t.out[0].n;
        double *ref = malloc(n * sizeof *ref);
        cr_assert_not_null(ref);
        oh_ref_case(&t, ref);
        for (size_t e = 0; e < n; e++)
            cr_assert(t.out[0].data[e] == (float)ref[e], "posenc %dx%d [%zu]: %.9g, want %.9g",
                      cs[i][0], cs[i][1], e, (double)t.out[0].data[e], (double)(float)ref[e]);
        worst = maxd(worst, tu_max_abs_rel_d(t.out[0].data, ref, n));
        free(ref);
        oh_case_free(&t);
    }
    cr_assert(worst <= TOL);
    cr_log_info("posenc: worst max-abs-rel %.2e", worst);
}

Test(ops_seq, posenc_spot_values)
{
    oh_case t;
    posenc_run(&t, 5, 8);
    const float *pe = t.out[0].data;
    for (int i = 0; i < 8; i += 2) {
        cr_assert_eq(pe[i], 0.0f, "pe[0, %d] = %g", i, (double)pe[i]);
        cr_assert_eq(pe[i + 1], 1.0f, "pe[0, %d] = %g", i + 1, (double)pe[i + 1]);
    }
    cr_assert_eq(pe[8], (float)sin(1.0));
    cr_assert_eq(pe[9], (float)cos(1.0));
    /* pe[t, 2] = sin(t / 10000^(2/8)) = sin(t / 10) */
    cr_assert(fabs((double)pe[3 * 8 + 2] - sin(0.3)) < 1e-7);
    cr_assert_eq(ntg__cpu_bwd[NTG_OP_posenc], NULL, "posenc has no gradient");
    oh_case_free(&t);
}
