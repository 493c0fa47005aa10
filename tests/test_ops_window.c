/* test_ops_window.c — param, avgpool1d and conv1d: the reference kernels against independent
 * double implementations (explicitly padded rows) and known values, their gradients by the
 * adjoint identity of linear maps, and the compiler's view of them (shapes, errors with
 * file:line:col, parameters and their initialisation). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref_kernels.h"
#include "ntgraph.h"
#include "op_attrs.h"
#include "ops_harness.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

static float *rnd(tu_rng *r, size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)tu_uniform(r, -2.0, 2.0);
    return p;
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* The padded row as an array of len + 2 pad elements (zeros or the edge values). */
static void pad_row(const float *x, int64_t len, int64_t pad, int rep, double *out)
{
    for (int64_t p = 0; p < len + 2 * pad; p++) {
        int64_t q = p - pad;
        if (q < 0)
            out[p] = rep ? x[0] : 0.0;
        else if (q >= len)
            out[p] = rep ? x[len - 1] : 0.0;
        else
            out[p] = x[q];
    }
}

/* ------------------------------------------------------------ avgpool1d */

typedef struct avg_cfg {
    int k, s, pad, rep;
} avg_cfg;

static void avg_setup(oh_case *t, const avg_cfg *c, ntg_tdesc d, float *x)
{
    oh_case_init(t, NTG_OP_avgpool1d);
    oh_attrs_set_i(&t->attrs, NTG_AVGPOOL_KERNEL, c->k);
    oh_attrs_set_i(&t->attrs, NTG_AVGPOOL_STRIDE, c->s);
    oh_attrs_set_i(&t->attrs, NTG_AVGPOOL_PAD, c->pad);
    oh_attrs_set_i(&t->attrs, NTG_AVGPOOL_MODE, c->rep);
    oh_case_input(t, d, x);
}

/* DLinear's moving average by hand: kernel 3, stride 1, the edges repeated once. */
Test(ops_window, avgpool_replicate_known_values)
{
    float x[5] = {1, 2, 3, 4, 5};
    oh_case t;
    avg_cfg c = {3, 1, 1, 1};
    avg_setup(&t, &c, oh_shape(1, 2, 1, 5), x);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_avgpool1d, NULL), 0, "%s", t.msg);
    const double want[5] = {4.0 / 3, 2, 3, 4, 14.0 / 3};
    cr_assert_eq(t.out[0].d.dims[1], 5);
    for (int i = 0; i < 5; i++)
        cr_assert_float_eq(t.out[0].data[i], want[i], 1e-6, "y[%d] = %g", i, t.out[0].data[i]);
    /* zeros padding counts the zeros (torch's count_include_pad) */
    oh_case_free(&t);
    c.rep = 0;
    avg_setup(&t, &c, oh_shape(1, 2, 1, 5), x);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_avgpool1d, NULL), 0, "%s", t.msg);
    cr_assert_float_eq(t.out[0].data[0], 1.0, 1e-6);
    cr_assert_float_eq(t.out[0].data[4], 3.0, 1e-6);
    oh_case_free(&t);
}

Test(ops_window, avgpool_matches_padded_mean_and_adjoint)
{
    static const avg_cfg cfgs[] = {{25, 1, 12, 1}, {3, 0, 1, 0}, {4, 2, 2, 0}, {5, 3, 4, 1},
                                   {1, 1, 0, 0},   {7, 2, 0, 1}, {6, 4, 9, 1}};
    tu_rng r = {77};
    const int B = 3, C = 2, L = 31;
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        const avg_cfg *c = &cfgs[ci];
        int s = c->s ? c->s : c->k;
        float *x = rnd(&r, (size_t)(B * C * L));
        oh_case t;
        avg_setup(&t, c, oh_shape(1, 3, B, C, L), x);
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_avgpool1d, NULL), 0, "%s", t.msg);
        int64_t nout = t.out[0].d.dims[2];
        cr_assert_eq(nout, (L + 2 * c->pad - c->k) / s + 1);
        double padded[64];
        for (int row = 0; row < B * C; row++) {
            pad_row(x + row * L, L, c->pad, c->rep, padded);
            for (int64_t o = 0; o < nout; o++) {
                double m = 0;
                for (int q = 0; q < c->k; q++) m += padded[o * s + q];
                m /= c->k;
                cr_assert(fabs(t.out[0].data[row * nout + o] - m) <= 1e-6 * (1 + fabs(m)),
                          "k%d s%d pad%d rep%d: y[%d,%lld] = %g, want %g", c->k, c->s, c->pad,
                          c->rep, row, (long long)o, t.out[0].data[row * nout + o], m);
            }
        }
        /* a linear map: <dy, A x> = <A^T dy, x> */
        float *dy = rnd(&r, (size_t)(B * C * nout));
        float *dyp[1] = {dy};
        cr_assert_eq(oh_backward(&t, ntg__cpu_bwd_avgpool1d, NULL, dyp, 1), 0, "%s", t.msg);
        double lhs = dot(dy, t.out[0].data, (size_t)(B * C * nout));
        double rhs = dot(t.dx[0].data, x, (size_t)(B * C * L));
        cr_assert(fabs(lhs - rhs) <= 1e-5 * (1 + fabs(lhs)), "k%d s%d pad%d rep%d: %g vs %g", c->k,
                  c->s, c->pad, c->rep, lhs, rhs);
        oh_case_free(&t);
        free(x);
        free(dy);
    }
}

/* ---------------------------------------------------------------- conv1d */

typedef struct conv_cfg {
    int cin, len, co, k, s, pad, dil, g, bias, rep;
} conv_cfg;

static void conv_setup(oh_case *t, const conv_cfg *c, int batch, float *x, float *w, float *b)
{
    oh_case_init(t, NTG_OP_conv1d);
    oh_attrs_set_i(&t->attrs, NTG_CONV_OUT, c->co);
    oh_attrs_set_i(&t->attrs, NTG_CONV_KERNEL, c->k);
    oh_attrs_set_i(&t->attrs, NTG_CONV_STRIDE, c->s);
    oh_attrs_set_i(&t->attrs, NTG_CONV_PAD, c->pad);
    oh_attrs_set_i(&t->attrs, NTG_CONV_DILATION, c->dil);
    oh_attrs_set_i(&t->attrs, NTG_CONV_GROUPS, c->g);
    oh_attrs_set_i(&t->attrs, NTG_CONV_BIAS, c->bias);
    oh_attrs_set_i(&t->attrs, NTG_CONV_MODE, c->rep);
    oh_case_input(t, oh_shape(1, 3, batch, c->cin, c->len), x);
    oh_case_input(t, oh_shape(0, 3, c->co, c->cin / c->g, c->k), w);
    if (c->bias) oh_case_input(t, oh_shape(0, 1, c->co), b);
}

Test(ops_window, conv1d_known_values)
{
    /* y[t] = x[t-1] - x[t+1] */
    float x[3] = {1, 2, 3}, w[3] = {1, 0, -1};
    conv_cfg c = {1, 3, 1, 3, 1, 1, 1, 1, 0, 0};
    oh_case t;
    conv_setup(&t, &c, 1, x, w, NULL);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_conv1d, NULL), 0, "%s", t.msg);
    cr_assert_float_eq(t.out[0].data[0], -2.0, 1e-6);
    cr_assert_float_eq(t.out[0].data[1], -2.0, 1e-6);
    cr_assert_float_eq(t.out[0].data[2], 2.0, 1e-6);
    oh_case_free(&t);
    c.rep = 1; /* the edges repeated: x padded to [1, 1, 2, 3, 3] */
    conv_setup(&t, &c, 1, x, w, NULL);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_conv1d, NULL), 0, "%s", t.msg);
    cr_assert_float_eq(t.out[0].data[0], -1.0, 1e-6);
    cr_assert_float_eq(t.out[0].data[1], -2.0, 1e-6);
    cr_assert_float_eq(t.out[0].data[2], -1.0, 1e-6);
    oh_case_free(&t);
}

Test(ops_window, conv1d_matches_direct_sum_and_adjoint)
{
    static const conv_cfg cfgs[] = {
        {3, 20, 4, 3, 1, 1, 1, 1, 1, 0}, {3, 20, 4, 3, 1, 1, 1, 1, 1, 1},
        {4, 17, 6, 5, 2, 3, 2, 2, 1, 1}, {4, 17, 4, 3, 3, 0, 1, 4, 0, 0},
        {1, 31, 2, 4, 1, 2, 3, 1, 1, 0}, {6, 12, 3, 1, 1, 0, 1, 3, 1, 0},
        {2, 9, 2, 9, 1, 4, 1, 1, 0, 1},  {2, 5, 3, 2, 1, 7, 1, 1, 1, 1},
    };
    tu_rng r = {91};
    const int B = 3;
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        const conv_cfg *c = &cfgs[ci];
        int cg = c->cin / c->g, cog = c->co / c->g;
        size_t nx = (size_t)(B * c->cin * c->len), nw = (size_t)(c->co * cg * c->k);
        float *x = rnd(&r, nx), *w = rnd(&r, nw), *b = rnd(&r, (size_t)c->co);
        oh_case t;
        conv_setup(&t, c, B, x, w, b);
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_conv1d, NULL), 0, "%s", t.msg);
        int64_t lout = t.out[0].d.dims[3 - 1];
        cr_assert_eq(lout, (c->len + 2 * c->pad - c->dil * (c->k - 1) - 1) / c->s + 1);
        size_t ny = (size_t)(B * c->co * lout);
        double padded[64];
        for (int n = 0; n < B; n++)
            for (int o = 0; o < c->co; o++)
                for (int64_t q = 0; q < lout; q++) {
                    double acc = c->bias ? b[o] : 0.0;
                    for (int i = 0; i < cg; i++) {
                        int ch = o / cog * cg + i;
                        pad_row(x + (n * c->cin + ch) * c->len, c->len, c->pad, c->rep, padded);
                        for (int k = 0; k < c->k; k++)
                            acc += w[(o * cg + i) * c->k + k] * padded[q * c->s + k * c->dil];
                    }
                    float got = t.out[0].data[(n * c->co + o) * lout + q];
                    cr_assert(fabs(got - acc) <= 1e-5 * (1 + fabs(acc)),
                              "case %zu: y = %g, want %g", ci, got, acc);
                }
        /* y is linear in x (and in w): <dy, y - b> = <dx, x> = <dw, w>; db sums dy */
        float *dy = rnd(&r, ny);
        float *dyp[1] = {dy};
        cr_assert_eq(oh_backward(&t, ntg__cpu_bwd_conv1d, NULL, dyp, 7), 0, "%s", t.msg);
        double lhs = dot(dy, t.out[0].data, ny);
        for (int n = 0; n < B; n++)
            for (int o = 0; o < c->co && c->bias; o++)
                for (int64_t q = 0; q < lout; q++)
                    lhs -= (double)dy[(n * c->co + o) * lout + q] * b[o];
        double dxx = dot(t.dx[0].data, x, nx), dww = dot(t.dx[1].data, w, nw);
        cr_assert(fabs(lhs - dxx) <= 1e-5 * (1 + fabs(lhs)), "case %zu: <dy,y> %g, <dx,x> %g", ci,
                  lhs, dxx);
        cr_assert(fabs(lhs - dww) <= 1e-5 * (1 + fabs(lhs)), "case %zu: <dy,y> %g, <dw,w> %g", ci,
                  lhs, dww);
        for (int o = 0; o < c->co && c->bias; o++) {
            double s = 0;
            for (int n = 0; n < B; n++)
                for (int64_t q = 0; q < lout; q++) s += dy[(n * c->co + o) * lout + q];
            cr_assert(fabs(t.dx[2].data[o] - s) <= 1e-5 * (1 + fabs(s)));
        }
        oh_case_free(&t);
        free(x);
        free(w);
        free(b);
        free(dy);
    }
}

/* ----------------------------------------------------------------- param */

Test(ops_window, param_copies_value_and_gradient)
{
    static const int64_t shape[] = {3, 4};
    float w[12], dy[12];
    for (int i = 0; i < 12; i++) {
        w[i] = (float)i - 5.5f;
        dy[i] = 0.25f * (float)i;
    }
    oh_case t;
    oh_case_init(&t, NTG_OP_param);
    oh_attrs_set_ints(&t.attrs, NTG_PARAM_SHAPE, shape, 2);
    oh_case_input(&t, oh_shape(0, 2, 3, 4), w);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_param, NULL), 0, "%s", t.msg);
    cr_assert_eq(memcmp(t.out[0].data, w, sizeof w), 0);
    float *dyp[1] = {dy};
    cr_assert_eq(oh_backward(&t, ntg__cpu_bwd_param, NULL, dyp, 1), 0, "%s", t.msg);
    cr_assert_eq(memcmp(t.dx[0].data, dy, sizeof dy), 0);
    oh_case_free(&t);
}

/* ---------------------------------------------------------------- unfold */

static void unfold_setup(oh_case *t, int size, int step, int pad, ntg_tdesc d, float *x)
{
    oh_case_init(t, NTG_OP_unfold);
    oh_attrs_set_i(&t->attrs, NTG_UNFOLD_SIZE, size);
    oh_attrs_set_i(&t->attrs, NTG_UNFOLD_STEP, step);
    oh_attrs_set_i(&t->attrs, NTG_UNFOLD_PAD_END, pad);
    oh_case_input(t, d, x);
}

/* PatchTST's patching by hand: ReplicationPad1d((0, 2)) then unfold(-1, 4, 2) on 7 values. */
Test(ops_window, unfold_known_values)
{
    float x[7] = {0, 1, 2, 3, 4, 5, 6};
    oh_case t;
    unfold_setup(&t, 4, 2, 2, oh_shape(1, 2, 1, 7), x);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_unfold, NULL), 0, "%s", t.msg);
    cr_assert_eq(t.out[0].d.rank, 3);
    cr_assert_eq(t.out[0].d.dims[1], 3);
    cr_assert_eq(t.out[0].d.dims[2], 4);
    const float want[12] = {0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 6};
    for (int i = 0; i < 12; i++)
        cr_assert_eq(t.out[0].data[i], want[i], "y[%d] = %g", i, t.out[0].data[i]);
    /* each patch element's gradient lands where it was read: 6 once itself, once as padding */
    float dy[12];
    for (int i = 0; i < 12; i++) dy[i] = 1;
    float *dyp[1] = {dy};
    cr_assert_eq(oh_backward(&t, ntg__cpu_bwd_unfold, NULL, dyp, 1), 0, "%s", t.msg);
    const float dwant[7] = {1, 1, 2, 2, 2, 2, 2};
    for (int i = 0; i < 7; i++)
        cr_assert_eq(t.dx[0].data[i], dwant[i], "dx[%d] = %g", i, t.dx[0].data[i]);
    oh_case_free(&t);
}

Test(ops_window, unfold_adjoint)
{
    static const int cfg[][4] = {{336, 16, 8, 8}, {31, 12, 5, 5}, {31, 5, 3, 0}, {1, 3, 1, 2}};
    tu_rng r = {3};
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        int len = cfg[k][0];
        float *x = rnd(&r, (size_t)(4 * len));
        oh_case t;
        unfold_setup(&t, cfg[k][1], cfg[k][2], cfg[k][3], oh_shape(1, 3, 2, 2, len), x);
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_unfold, NULL), 0, "%s", t.msg);
        size_t ny = oh_numel(&t.out[0].d);
        float *dy = rnd(&r, ny);
        float *dyp[1] = {dy};
        cr_assert_eq(oh_backward(&t, ntg__cpu_bwd_unfold, NULL, dyp, 1), 0, "%s", t.msg);
        double lhs = dot(dy, t.out[0].data, ny), rhs = dot(t.dx[0].data, x, (size_t)(4 * len));
        cr_assert(fabs(lhs - rhs) <= 1e-5 * (1 + fabs(lhs)), "case %zu: %g vs %g", k, lhs, rhs);
        oh_case_free(&t);
        free(x);
        free(dy);
    }
}

/* ------------------------------------------------------------ the compiler */

#define HEAD                                                                                       \
    "ntgraph: 1\n"                                                                                 \
    "name: t\n"                                                                                    \
    "inputs:\n"                                                                                    \
    "  x: [batch, 2, 16]\n"                                                                        \
    "outputs:\n"                                                                                   \
    "  y: ~\n"                                                                                     \
    "nodes:\n"

static ntg_status compile(const char *text, ntg_plan **plan, ntg_error *err)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 4;
    return ntg_compile_string(text, strlen(text), "g.yaml", &o, plan, err);
}

static void expect_error(const char *text, ntg_status want, int line, int col, const char *msg)
{
    ntg_plan *plan = NULL;
    ntg_error err;
    memset(&err, 0, sizeof err);
    ntg_status st = compile(text, &plan, &err);
    cr_assert_eq(st, want, "status %d, want %d: %s", st, want, err.message);
    cr_assert_null(plan);
    cr_assert_eq(err.line, line, "line %d, want %d: %s", err.line, line, err.message);
    cr_assert_eq(err.column, col, "column %d, want %d: %s", err.column, col, err.message);
    cr_assert(strstr(err.message, msg), "message '%s' lacks '%s'", err.message, msg);
}

Test(ops_window, graph_with_param_conv_and_pool_compiles)
{
    const char *g =
        HEAD "  - {op: conv1d, name: conv, in: x, out: c, out_channels: 4, kernel: 3, padding: 1,\n"
             "     padding_mode: replicate, groups: 2}\n"
             "  - {op: avgpool1d, in: c, out: p, kernel: 5, stride: 1, padding: 2, "
             "padding_mode: replicate}\n"
             "  - {op: param, name: pos, out: pe, shape: [4, 16], init: uniform, bound: 0.5}\n"
             "  - {op: param, name: gain, out: gn, shape: [1], init: ones, params: {weight: w}}\n"
             "  - {op: add, in: [p, pe], out: q}\n"
             "  - {op: mul, in: [q, gn], out: y}\n";
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(compile(g, &plan, &err), NTG_OK, "%s", err.message);
    const char *names[] = {"conv.weight", "conv.bias", "pos.weight", "gain.w"};
    const int64_t shapes[][3] = {{4, 1, 3}, {4}, {4, 16}, {1}};
    const int ranks[] = {3, 1, 2, 1};
    cr_assert_eq(ntg_plan_param_count(plan), 4);
    for (int i = 0; i < 4; i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_param(plan, (size_t)i, &ti, NULL), NTG_OK);
        cr_assert_str_eq(ti.name, names[i]);
        cr_assert_eq(ti.rank, ranks[i]);
        for (int k = 0; k < ranks[i]; k++) cr_assert_eq(ti.shape[k], shapes[i][k]);
    }
    /* torch's init: conv U(+-1/sqrt(fan_in)), fan_in = 2/2 * 3; param as asked */
    const float *w = ntg_plan_param_data(plan, 0), *pe = ntg_plan_param_data(plan, 2);
    for (int i = 0; i < 12; i++) cr_assert(fabsf(w[i]) <= 0.57736f);
    double lo = 1, hi = -1;
    for (int i = 0; i < 64; i++) {
        lo = pe[i] < lo ? pe[i] : lo;
        hi = pe[i] > hi ? pe[i] : hi;
    }
    cr_assert(lo >= -0.5 && hi <= 0.5 && hi - lo > 0.5, "U(+-0.5): [%g, %g]", lo, hi);
    cr_assert_eq(((const float *)ntg_plan_param_data(plan, 3))[0], 1.0f);
    ntg_tensor_info yi;
    ntg_tensor_info_init(&yi);
    cr_assert_eq(ntg_plan_output(plan, 0, &yi, NULL), NTG_OK);
    cr_assert_eq(yi.rank, 3);
    cr_assert_eq(yi.shape[1], 4);
    cr_assert_eq(yi.shape[2], 16);
    ntg_plan_destroy(plan);
}

Test(ops_window, shape_errors_name_the_node)
{
    expect_error(HEAD "  - {op: conv1d, in: x, out: y, out_channels: 3, kernel: 3, groups: 2}\n",
                 NTG_ERR_SHAPE, 8, 10,
                 "conv1d: groups 2 must divide the input channels (2) and out_channels (3)");
    expect_error(HEAD "  - {op: conv1d, in: x, out: y, out_channels: 2, kernel: 9, dilation: 2}\n",
                 NTG_ERR_SHAPE, 8, 10,
                 "conv1d: kernel 9 at dilation 2 spans 17, longer than the padded input (16)");
    expect_error(HEAD "  - {op: avgpool1d, in: x, out: y, kernel: 3, padding: 2}\n", NTG_ERR_SHAPE,
                 8, 10, "padding >= 0 (and <= kernel/2 with zeros padding)");
    expect_error(HEAD "  - {op: avgpool1d, in: x, out: y, kernel: 20}\n", NTG_ERR_SHAPE, 8, 10,
                 "avgpool1d: kernel 20 is longer than the padded input (16)");
    expect_error(HEAD "  - {op: unfold, in: x, out: y, size: 20, step: 4, pad_end: 3}\n",
                 NTG_ERR_SHAPE, 8, 10,
                 "unfold: size 20 is longer than the input (16) and its pad_end (3)");
    expect_error(HEAD "  - {op: param, out: y, shape: [3, 0]}\n", NTG_ERR_SHAPE, 8, 10,
                 "param: extent 1 of shape is 0; every extent must be >= 1");
    expect_error(HEAD "  - {op: param, in: x, out: y, shape: [3]}\n", NTG_ERR_GRAPH, 8, 10,
                 "op 'param' takes 0 inputs, got 1");
    expect_error(HEAD "  - {op: param, out: y, shape: [3], init: uniform, bound: 0}\n",
                 NTG_ERR_SHAPE, 8, 10, "param: bound 0 must be positive and finite");
}

/* ------------------------------------------------------------- dlinear */

/* graphs/dlinear.yaml computes LTSF-Linear's DLinear: trend = the replicate-padded moving
 * average, seasonal = x - trend, y = Linear_Seasonal(seasonal) + Linear_Trend(trend). */
Test(ops_window, dlinear_graph_is_the_reference_model)
{
    enum { L = 30, H = 4, K = 5, BATCH = 2 };
    const ntg_define defs[] = {{"input_size", "30"}, {"h", "4"}, {"moving_avg", "5"}};
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = BATCH;
    o.defines = defs;
    o.n_defines = 3;
    o.flags |= NTG_COMPILE_INFER_ONLY;
    ntg_plan *plan = NULL;
    ntg_error err;
    char path[4096];
    snprintf(path, sizeof path, "%s/dlinear.yaml", tu_src("graphs"));
    cr_assert_eq(ntg_compile_file(path, &o, &plan, &err), NTG_OK, "%s", err.message);
    const char *names[] = {"Linear_Seasonal.weight", "Linear_Seasonal.bias", "Linear_Trend.weight",
                           "Linear_Trend.bias"};
    const float *p[4];
    cr_assert_eq(ntg_plan_param_count(plan), 4);
    for (int i = 0; i < 4; i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_param(plan, (size_t)i, &ti, NULL), NTG_OK);
        cr_assert_str_eq(ti.name, names[i]);
        p[i] = ntg_plan_param_data(plan, (size_t)i);
    }
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_session *s = NULL;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    tu_rng r = {5};
    float x[BATCH * L], y[BATCH * H];
    tu_fill(&r, x, BATCH * L, -1, 1);
    cr_assert_eq(ntg_session_set_input(s, "x", x, BATCH * L, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, BATCH, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, BATCH * H, &err), NTG_OK, "%s", err.message);
    for (int b = 0; b < BATCH; b++) {
        double padded[L + K], trend[L], seas[L];
        pad_row(x + b * L, L, (K - 1) / 2, 1, padded);
        for (int t = 0; t < L; t++) {
            double m = 0;
            for (int k = 0; k < K; k++) m += padded[t + k];
            trend[t] = m / K;
            seas[t] = x[b * L + t] - trend[t];
        }
        for (int j = 0; j < H; j++) {
            double want = (double)p[1][j] + (double)p[3][j];
            for (int t = 0; t < L; t++)
                want += (double)p[0][j * L + t] * seas[t] + (double)p[2][j * L + t] * trend[t];
            cr_assert(fabs(y[b * H + j] - want) <= 1e-5 * (1 + fabs(want)),
                      "y[%d,%d] = %g, want %g", b, j, (double)y[b * H + j], want);
        }
    }
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
}
