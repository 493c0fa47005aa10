/* test_compiler_build.c — graph-level checks of the compiler: names, cycles, arity, shapes,
 * parameters, dead code, and the plan's metadata. */
#include <criterion/criterion.h>
#include <string.h>

#include "ntgraph.h"
#include "testutil.h"

#define HEAD                                                                                       \
    "ntgraph: 1\n"                                                                                 \
    "name: t\n"                                                                                    \
    "inputs:\n"                                                                                    \
    "  x: [batch, 8]\n"

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
    cr_assert_eq(st, want, "status %d (%s), want %d: %s", st, ntg_strerror(st), want, err.message);
    cr_assert_null(plan);
    cr_assert_eq(err.status, want);
    cr_assert_str_eq(err.file, "g.yaml");
    cr_assert_eq(err.line, line, "line %d, want %d: %s", err.line, line, err.message);
    cr_assert_eq(err.column, col, "column %d, want %d: %s", err.column, col, err.message);
    cr_assert(strstr(err.message, msg), "message '%s' lacks '%s'", err.message, msg);
}

Test(compiler, undefined_name_suggests)
{
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: relu, in: x, out: h1}\n"
                      "  - {op: relu, in: h2, out: y}\n",
                 NTG_ERR_GRAPH, 9, 20, "g.yaml:9:20: undefined name 'h2'; did you mean 'h1'?");
}

Test(compiler, duplicate_name)
{
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: relu, in: x, out: y}\n"
                      "  - {op: relu, in: x, out: y}\n",
                 NTG_ERR_GRAPH, 9, 28, "duplicate name 'y' (first defined at line 8)");
}

Test(compiler, output_name_reuses_input)
{
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: relu, in: x, out: x}\n",
                 NTG_ERR_GRAPH, 8, 28, "duplicate name 'x'");
}

Test(compiler, cycle_is_named)
{
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: add, in: [x, c], out: a}\n"
                      "  - {op: relu, in: a, out: b}\n"
                      "  - {op: relu, in: b, out: c}\n"
                      "  - {op: relu, in: c, out: y}\n",
                 NTG_ERR_GRAPH, 8, 10, "cycle: a -> b -> c -> a");
}

Test(compiler, wrong_number_of_inputs)
{
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: add, in: x, out: y}\n",
                 NTG_ERR_GRAPH, 8, 10, "op 'add' takes 2 inputs, got 1");
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: dense, in: [x, x], out: y, units: 3}\n",
                 NTG_ERR_GRAPH, 8, 10, "op 'dense' takes 1 input, got 2");
}

Test(compiler, shape_mismatch_names_both_shapes)
{
    expect_error(HEAD "  z: [batch, 5]\n"
                      "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: add, in: [x, z], out: y}\n",
                 NTG_ERR_SHAPE, 9, 10, "cannot broadcast [batch, 8] with [batch, 5]");
}

Test(compiler, declared_output_shape_checked)
{
    expect_error(HEAD "outputs:\n  y: [batch, 3]\n"
                      "nodes:\n"
                      "  - {op: dense, in: x, out: y, units: 4}\n",
                 NTG_ERR_SHAPE, 6, 3, "output 'y' is [batch, 4], declared [batch, 3]");
}

Test(compiler, output_must_be_computed)
{
    expect_error(HEAD "outputs:\n  yy: ~\n"
                      "nodes:\n"
                      "  - {op: relu, in: x, out: y}\n",
                 NTG_ERR_GRAPH, 6, 3, "output 'yy' is not computed by any node; did you mean 'y'?");
}

Test(compiler, duplicate_parameter_name)
{
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: dense, name: fc, in: x, out: a, units: 4}\n"
                      "  - {op: dense, name: fc, in: a, out: y, units: 4}\n",
                 NTG_ERR_GRAPH, 9, 10, "duplicate parameter name 'fc.weight'");
}

Test(compiler, dead_nodes_removed_and_params_named)
{
    const char *g = HEAD "outputs:\n  y: ~\n"
                         "nodes:\n"
                         "  - {op: dense, name: unused, in: x, out: dead, units: 5}\n"
                         "  - {op: dense, name: fc, in: x, out: y, units: 3, activation: relu}\n";
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(compile(g, &plan, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_plan_param_count(plan), 2, "the unused dense's parameters are gone");
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    cr_assert_eq(ntg_plan_param(plan, 0, &ti, NULL), NTG_OK);
    cr_assert_str_eq(ti.name, "fc.weight");
    cr_assert_eq(ti.rank, 2);
    cr_assert_eq(ti.shape[0], 3);
    cr_assert_eq(ti.shape[1], 8);
    cr_assert_eq(ntg_plan_param(plan, 1, &ti, NULL), NTG_OK);
    cr_assert_str_eq(ti.name, "fc.bias");
    cr_assert_eq(ntg_plan_param_elements(plan), 27);
    /* PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias */
    const float *w = ntg_plan_param_data(plan, 0);
    double lo = 1, hi = -1;
    for (int i = 0; i < 24; i++) {
        lo = w[i] < lo ? w[i] : lo;
        hi = w[i] > hi ? w[i] : hi;
    }
    cr_assert(lo >= -0.35356 && hi <= 0.35356 && hi - lo > 0.3, "weights in U(+-1/sqrt 8)");
    cr_assert_str_eq(ntg_plan_meta(plan, "model.name"), "t");
    cr_assert_eq(ntg_plan_max_batch(plan), 4);
    cr_assert_eq(ntg_plan_input_count(plan), 1);
    cr_assert_eq(ntg_plan_output_count(plan), 1);
    ntg_plan_destroy(plan);
}

Test(compiler, initialisation_depends_on_seed_only)
{
    const char *g = HEAD "outputs:\n  y: ~\n"
                         "nodes:\n"
                         "  - {op: dense, name: fc, in: x, out: y, units: 3}\n";
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_plan *a = NULL, *b = NULL, *c = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(g, strlen(g), "g.yaml", &o, &a, &err), NTG_OK);
    cr_assert_eq(ntg_compile_string(g, strlen(g), "g.yaml", &o, &b, &err), NTG_OK);
    o.seed = 1;
    cr_assert_eq(ntg_compile_string(g, strlen(g), "g.yaml", &o, &c, &err), NTG_OK);
    cr_assert_eq(memcmp(ntg_plan_param_data(a, 0), ntg_plan_param_data(b, 0), 96), 0);
    cr_assert_neq(memcmp(ntg_plan_param_data(a, 0), ntg_plan_param_data(c, 0), 96), 0);
    ntg_plan_destroy(a);
    ntg_plan_destroy(b);
    ntg_plan_destroy(c);
}

Test(compiler, hparams_in_metadata)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}};
    o.defines = d;
    o.n_defines = 2;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &plan, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_str_eq(ntg_plan_meta(plan, "hparam.h"), "24");
    cr_assert_str_eq(ntg_plan_meta(plan, "hparam.pools"), "[2, 2, 1]");
    cr_assert_str_eq(ntg_plan_meta(plan, "model.kind"), "nhits");
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    cr_assert_eq(ntg_plan_input(plan, 0, &ti, NULL), NTG_OK);
    cr_assert_str_eq(ti.name, "x");
    cr_assert(ti.batched);
    cr_assert_eq(ti.shape[1], 96);
    cr_assert_eq(ntg_plan_output(plan, 0, &ti, NULL), NTG_OK);
    cr_assert_str_eq(ti.name, "y");
    cr_assert_eq(ti.shape[1], 24);
    /* NeuralForecast's layout: 3 blocks x 5 Linear layers, weight + bias each */
    cr_assert_eq(ntg_plan_param_count(plan), 30);
    cr_assert_eq(ntg_plan_param(plan, 2, &ti, NULL), NTG_OK);
    cr_assert_str_eq(ti.name, "blocks.0.layers.1.weight");
    ntg_plan_destroy(plan);
}

/* ------------------------------------------------- sizes past what a plan can hold */

/* An element count past 2^63 was a signed overflow in ntg__tdesc_numel (UBSan) and then
 * "internal error: the compiler wrote a plan it cannot load"; it is bad input, named. */
Test(compiler, element_count_overflow_names_the_tensor)
{
    expect_error("ntgraph: 1\nname: t\ninputs:\n  x: [batch, 1000000000, 1000000000, 1000]\n"
                 "outputs:\n  y: ~\nnodes:\n  - {op: dense, in: x, out: y, units: 4}\n",
                 NTG_ERR_RANGE, 4, 3,
                 "g.yaml:4:3: input 'x' [batch, 1000000000, 1000000000, 1000] has more elements "
                 "at batch 4 than 64-bit sizes can count");
}

Test(compiler, parameter_past_the_plan_limit_names_shape_and_bytes)
{
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: dense, in: x, out: y, units: 200000000000}\n",
                 NTG_ERR_RANGE, 8, 10,
                 "g.yaml:8:10: parameter 'y.weight' [200000000000, 8] needs 6400000000000 bytes "
                 "(5.8 TiB), more than the 1 TiB a plan can hold");
}

Test(compiler, arena_past_the_plan_limit_names_the_largest_tensor)
{
    /* each tensor fits (960 GB at batch 4), three live at once do not */
    const char *text = "ntgraph: 1\nname: t\ninputs:\n  x: [batch, 60000000000]\n"
                       "outputs:\n  y: ~\nnodes:\n"
                       "  - {op: relu, in: x, out: a}\n  - {op: relu, in: a, out: y}\n";
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 4;
    o.flags |= NTG_COMPILE_INFER_ONLY;
    ntg_plan *plan = NULL;
    ntg_error err;
    ntg_status st = ntg_compile_string(text, strlen(text), "g.yaml", &o, &plan, &err);
    cr_assert_eq(st, NTG_ERR_RANGE, "status %d: %s", st, err.message);
    cr_assert_null(plan);
    cr_assert(strstr(err.message, "the plan's arena needs 2880000000000 bytes (2.6 TiB) at "
                                  "batch 4, more than the 1 TiB a plan can hold; its largest "
                                  "tensor is "),
              "%s", err.message);
}

/* A graph without parameters compiles for inference; compiled for training, the error says
 * how to get the inference plan (issue 16). */
Test(compiler, no_parameters_says_infer_only)
{
    static const char g[] = HEAD "outputs:\n  y: ~\n"
                                 "nodes:\n"
                                 "  - {op: softplus, in: x, out: h}\n"
                                 "  - {op: log, in: h, out: y}\n";
    ntg_plan *plan = NULL;
    ntg_error err;
    memset(&err, 0, sizeof err);
    cr_assert_eq(compile(g, &plan, &err), NTG_ERR_GRAPH);
    cr_assert_null(plan);
    cr_assert_str_eq(err.message,
                     "nothing to train: no parameter reaches 'y'; to compile the graph for "
                     "inference only, pass --infer-only (NTG_COMPILE_INFER_ONLY)");
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 4;
    o.flags |= NTG_COMPILE_INFER_ONLY;
    cr_assert_eq(ntg_compile_string(g, sizeof g - 1, "g.yaml", &o, &plan, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_not_null(plan);
    ntg_plan_destroy(plan);
}

/* basis: an attribute of the other kind is refused where the op is written, naming both;
 * theta @ basis compiles, with training, when the rows match theta (fourier, harmonics 1 at period
 * 8: the frequencies 0, 1, 2, 3, so 8 rows). */
Test(compiler, basis_attributes_are_checked_where_written)
{
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: basis, out: b, kind: poly, length: 8, harmonics: 2}\n"
                      "  - {op: reshape, in: x, out: x3, shape: [batch, 1, 8]}\n"
                      "  - {op: matmul, in: [x3, b], out: y}\n",
                 NTG_ERR_SHAPE, 8, 10,
                 "basis: kind poly takes degree in 0..64, not harmonics or sign (degree 0, "
                 "harmonics 2, sign 1)");
    expect_error(HEAD "outputs:\n  y: ~\n"
                      "nodes:\n"
                      "  - {op: basis, out: b, kind: fourier, length: 8, degree: 2}\n",
                 NTG_ERR_SHAPE, 8, 10, "basis: kind fourier takes harmonics in 1..1024");
    const char *ok = HEAD "outputs:\n  y: ~\n"
                          "nodes:\n"
                          "  - {op: basis, out: b, kind: fourier, length: 5, period: 8, "
                          "harmonics: 1}\n"
                          "  - {op: dense, in: x, out: theta, units: 8}\n"
                          "  - {op: reshape, in: theta, out: t3, shape: [batch, 1, 8]}\n"
                          "  - {op: matmul, in: [t3, b], out: y}\n";
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(compile(ok, &plan, &err), NTG_OK, "%s", err.message);
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    cr_assert_eq(ntg_plan_output(plan, 0, &ti, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ti.rank, 3);
    cr_assert_eq(ti.shape[2], 5);
    ntg_plan_destroy(plan);
}
