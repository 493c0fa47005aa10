/* test_compiler_graph.c — the front end: hparams, -D, templates, repeat, extends, train, errors. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ntg_error.h"
#include "graph.h"
#include "op_attrs.h"
#include "ops.h"
#include "pool.h"
#include "testutil.h"
#include "yaml_doc.h"

static ntg_pool *pool;
static ntg_rgraph *g;
static ntg_error err;

static void setup(void)
{
    pool = ntg__pool_create();
    g = NULL;
    memset(&err, 0, sizeof err);
}

static void teardown(void)
{
    ntg__pool_destroy(pool);
}

TestSuite(compiler, .init = setup, .fini = teardown);

static ntg_status rdd(const char *yaml, const ntg_define *defs, size_t n)
{
    memset(&err, 0, sizeof err);
    return ntg__graph_read_string(yaml, strlen(yaml), "t.yaml", defs, n, pool, &g, &err);
}

static ntg_status rd(const char *yaml)
{
    return rdd(yaml, NULL, 0);
}

static void ok(const char *yaml)
{
    ntg_status st = rd(yaml);
    cr_assert_eq(st, NTG_OK, "read failed: %s", err.message);
    cr_assert_not_null(g);
}

static void expect_err(const char *yaml, ntg_status want, const char *msg)
{
    ntg_status st = rd(yaml);
    cr_assert_eq(st, want, "status %d, want %d (%s)", (int)st, (int)want, err.message);
    cr_assert_null(g);
    cr_assert_str_eq(err.message, msg, "\n got  %s\n want %s", err.message, msg);
}

/* Like expect_err, for messages checked by a part of their text. */
static void expect_err_has(const char *yaml, ntg_status want, const char *part)
{
    ntg_status st = rd(yaml);
    cr_assert_eq(st, want, "status %d, want %d (%s)", (int)st, (int)want, err.message);
    cr_assert_null(g);
    cr_assert(strstr(err.message, part), "message '%s' lacks '%s'", err.message, part);
}

static const ntg_rkv *hp(const char *name)
{
    for (size_t i = 0; i < g->n_hparams; i++)
        if (strcmp(g->hparams[i].key, name) == 0) return &g->hparams[i];
    cr_assert_fail("no hparam %s", name);
    return NULL;
}

static int64_t hp_int(const char *name)
{
    const ntg_rkv *kv = hp(name);
    cr_assert_eq(kv->value.kind, NTG_V_INT, "%s is not an int", name);
    return kv->value.i;
}

static void check_node(size_t k, int code, const char *in0, const char *out0, const char *scope)
{
    cr_assert_lt(k, g->n_nodes);
    const ntg_rnode *n = &g->nodes[k];
    cr_assert_eq(n->code, code, "node %zu: op %d, want %d", k, n->code, code);
    if (in0) {
        cr_assert_geq(n->n_in, 1, "node %zu has no inputs", k);
        cr_assert_str_eq(n->in[0], in0, "node %zu input %s, want %s", k, n->in[0], in0);
    }
    cr_assert_geq(n->n_out, 1);
    cr_assert_str_eq(n->out[0], out0, "node %zu output %s, want %s", k, n->out[0], out0);
    cr_assert_str_eq(n->scope, scope, "node %zu scope %s, want %s", k, n->scope, scope);
}

static int64_t attr_i(size_t k, int slot)
{
    return ntg__attr_i(g->nodes[k].attr, slot);
}

/* ------------------------------------------------------------ N-HiTS-like */

static const char NHITS[] =
    "ntgraph: 1\n"                                                            /* 1 */
    "name: nhits\n"                                                           /* 2 */
    "hparams:\n"                                                              /* 3 */
    "  h: 96\n"                                                               /* 4 */
    "  input_size: 5 * h\n"                                                   /* 5 */
    "  pools: [2, 2, 1]\n"                                                    /* 6 */
    "  downsample: [4, 2, 1]\n"                                               /* 7 */
    "  hidden: 512\n"                                                         /* 8 */
    "inputs:\n"                                                               /* 9 */
    "  x: [batch, input_size]\n"                                              /* 10 */
    "outputs:\n"                                                              /* 11 */
    "  y: [batch, h]\n"                                                       /* 12 */
    "templates:\n"                                                            /* 13 */
    "  block:\n"                                                              /* 14 */
    "    args: [pool, ds]\n"                                                  /* 15 */
    "    inputs: [r, acc]\n"                                                  /* 16 */
    "    outputs: [r_next, acc_next]\n"                                       /* 17 */
    "    let:\n"                                                              /* 18 */
    "      knots: max(h // ds, 1)\n"                                          /* 19 */
    "    nodes:\n"                                                            /* 20 */
    "      - {op: maxpool1d, in: r, out: p, kernel: pool, ceil_mode: true}\n" /* 21 */
    "      - {op: dense, name: layers.0, in: p, out: a0, units: hidden}\n"    /* 22 */
    "      - {op: dense, name: layers.1, in: a0, out: a1, units: hidden, activation: relu}\n"
    "      - {op: dense, name: layers.7, in: a1, out: theta, units: input_size + knots}\n"
    "      - {op: slice, in: theta, out: backcast, axis: 1, start: 0, end: input_size}\n"
    "      - {op: slice, in: theta, out: kn, axis: 1, start: input_size}\n"    /* 26 */
    "      - {op: interp_linear, in: kn, out: f, size: h}\n"                   /* 27 */
    "      - {op: sub, in: [r, backcast], out: r_next}\n"                      /* 28 */
    "      - {op: add, in: [acc, f], out: acc_next}\n"                         /* 29 */
    "nodes:\n"                                                                 /* 30 */
    "  - {op: flip, in: x, out: r0, axis: 1}\n"                                /* 31 */
    "  - {op: slice, in: x, out: acc0, axis: 1, start: -1}\n"                  /* 32 */
    "  - repeat: len(pools)\n"                                                 /* 33 */
    "    nodes:\n"                                                             /* 34 */
    "      - use: block\n"                                                     /* 35 */
    "        name: \"blocks.{i}\"\n"                                           /* 36 */
    "        with: {pool: \"pools[i]\", ds: \"downsample[i]\"}\n"              /* 37 */
    "        in: {r: \"r{i}\", acc: \"acc{i}\"}\n"                             /* 38 */
    "        out: {r_next: \"r{i+1}\", acc_next: \"acc{i+1}\"}\n"              /* 39 */
    "  - {op: reshape, in: \"acc{len(pools)}\", out: y, shape: [batch, h]}\n"; /* 40 */

Test(compiler, nhits_like_graph_expands)
{
    ok(NHITS);
    cr_assert_str_eq(g->name, "nhits");
    cr_assert_str_eq(g->kind, "nhits");
    cr_assert_str_eq(g->file, "t.yaml");
    cr_assert_null(g->description);
    cr_assert_eq(g->format_version, 1);

    cr_assert_eq(g->n_hparams, 5);
    const char *order[] = {"h", "input_size", "pools", "downsample", "hidden"};
    for (size_t i = 0; i < 5; i++) cr_assert_str_eq(g->hparams[i].key, order[i]);
    cr_assert_eq(hp_int("input_size"), 480);
    cr_assert_str_eq(ntg__value_str(pool, &hp("pools")->value), "[2, 2, 1]");
    cr_assert_eq(g->hparams[1].loc.line, 5);
    cr_assert_eq(g->hparams[1].loc.col, 3);

    cr_assert_eq(g->n_inputs, 1);
    cr_assert_str_eq(g->inputs[0].name, "x");
    cr_assert_eq(g->inputs[0].has_shape, 1);
    cr_assert_eq(g->inputs[0].desc.rank, 2);
    cr_assert_eq(g->inputs[0].desc.batched, 1);
    cr_assert_eq(g->inputs[0].desc.dtype, NTG_DTYPE_F32);
    cr_assert_eq(g->inputs[0].desc.dims[0], 1);
    cr_assert_eq(g->inputs[0].desc.dims[1], 480);
    cr_assert_eq(g->inputs[0].loc.line, 10);
    cr_assert_eq(g->n_outputs, 1);
    cr_assert_eq(g->outputs[0].has_shape, 1);
    cr_assert_eq(g->outputs[0].desc.dims[1], 96);
    cr_assert_eq(g->n_train, 0);
    cr_assert_null(g->train);

    cr_assert_eq(g->n_nodes, 2 + 3 * 9 + 1);
    check_node(0, NTG_OP_flip, "x", "r0", "r0");
    cr_assert_eq(attr_i(0, NTG_FLIP_AXIS), 1);
    check_node(1, NTG_OP_slice, "x", "acc0", "acc0");
    cr_assert_eq(attr_i(1, NTG_SLICE_START), -1);
    cr_assert_eq(attr_i(1, NTG_SLICE_END), NTG_ATTR_INT_MAX);
    cr_assert_eq(attr_i(1, NTG_SLICE_STEP), 1);

    int64_t knots[3] = {24, 48, 96}, pools[3] = {2, 2, 1};
    for (int b = 0; b < 3; b++) {
        size_t k = 2 + 9 * (size_t)b;
        char r[32], rn[32], acc[32], accn[32], pre[32], sc[64], t[64];
        snprintf(r, sizeof r, "r%d", b);
        snprintf(rn, sizeof rn, "r%d", b + 1);
        snprintf(acc, sizeof acc, "acc%d", b);
        snprintf(accn, sizeof accn, "acc%d", b + 1);
        snprintf(pre, sizeof pre, "blocks.%d", b);
        snprintf(t, sizeof t, "%s/p", pre);
        snprintf(sc, sizeof sc, "%s.p", pre);
        check_node(k, NTG_OP_maxpool1d, r, t, sc);
        cr_assert_eq(attr_i(k, NTG_POOL_KERNEL), pools[b]);
        cr_assert_eq(attr_i(k, NTG_POOL_STRIDE), 0);
        cr_assert_eq(attr_i(k, NTG_POOL_CEIL), 1);
        cr_assert_eq(attr_i(k, NTG_POOL_PAD), 0);
        snprintf(sc, sizeof sc, "%s.layers.0", pre);
        snprintf(t, sizeof t, "%s/a0", pre);
        check_node(k + 1, NTG_OP_dense, NULL, t, sc);
        cr_assert_eq(attr_i(k + 1, NTG_DENSE_UNITS), 512);
        cr_assert_eq(attr_i(k + 1, NTG_DENSE_ACT), NTG_ACT_NONE);
        cr_assert_eq(attr_i(k + 1, NTG_DENSE_BIAS), 1);
        cr_assert_eq(attr_i(k + 2, NTG_DENSE_ACT), NTG_ACT_RELU);
        snprintf(sc, sizeof sc, "%s.layers.7", pre);
        snprintf(t, sizeof t, "%s/theta", pre);
        check_node(k + 3, NTG_OP_dense, NULL, t, sc);
        cr_assert_eq(attr_i(k + 3, NTG_DENSE_UNITS), 480 + knots[b]);
        cr_assert_eq(attr_i(k + 4, NTG_SLICE_END), 480);
        cr_assert_eq(attr_i(k + 5, NTG_SLICE_START), 480);
        cr_assert_eq(attr_i(k + 6, NTG_INTERP_SIZE), 96);
        cr_assert_eq(attr_i(k + 6, NTG_INTERP_ALIGN), 0);
        snprintf(sc, sizeof sc, "%s.r_next", pre);
        check_node(k + 7, NTG_OP_sub, r, rn, sc);
        snprintf(t, sizeof t, "%s/backcast", pre);
        cr_assert_str_eq(g->nodes[k + 7].in[1], t);
        snprintf(sc, sizeof sc, "%s.acc_next", pre);
        check_node(k + 8, NTG_OP_add, acc, accn, sc);
    }
    check_node(29, NTG_OP_reshape, "acc3", "y", "y");
    const ntg_rnode *rs = &g->nodes[29];
    cr_assert_eq(rs->n_attr, 3);
    int64_t cnt;
    const ntg_attr *shape = ntg__attr_list(rs->attr, NTG_RESHAPE_SHAPE, &cnt);
    cr_assert_eq(cnt, 2);
    cr_assert_eq(shape[0].i, 0);
    cr_assert_eq(shape[1].i, 96);
    char msg[128];
    cr_assert_eq(ntg__attr_check(ntg__op_info((uint32_t)rs->code)->cls, rs->attr, rs->n_attr, msg,
                                 sizeof msg),
                 0, "%s", msg);

    /* locations: the op value, names where written, bound names at the use */
    const ntg_rnode *mp = &g->nodes[2];
    cr_assert_str_eq(mp->loc.file, "t.yaml");
    cr_assert_eq(mp->loc.line, 21);
    cr_assert_eq(mp->loc.col, 14);
    cr_assert_eq(mp->in_loc[0].line, 38); /* "r{i}" in the use's `in` */
    cr_assert_eq(mp->in_loc[0].col, 17);
    cr_assert_eq(mp->out_loc[0].line, 21);
    cr_assert_eq(mp->out_loc[0].col, 37);
    cr_assert_eq(g->nodes[9].out_loc[0].line, 39);
    cr_assert_eq(g->nodes[0].in_loc[0].line, 31);
    cr_assert_eq(g->nodes[0].in_loc[0].col, 20);
}

Test(compiler, define_overrides_an_hparam_and_its_dependents)
{
    ntg_define d[] = {{"h", "24"}, {"pools", "[4, 4, 1]"}};
    cr_assert_eq(rdd(NHITS, d, 2), NTG_OK, "%s", err.message);
    cr_assert_eq(hp_int("h"), 24);
    cr_assert_eq(hp_int("input_size"), 120);
    cr_assert_str_eq(ntg__value_str(pool, &hp("pools")->value), "[4, 4, 1]");
    cr_assert_eq(attr_i(2, NTG_POOL_KERNEL), 4);
    cr_assert_eq(attr_i(5, NTG_DENSE_UNITS), 120 + 6);
    cr_assert_eq(g->inputs[0].desc.dims[1], 120);
    /* a -D may refer to other hparams; the last of two wins */
    ntg_define d2[] = {{"input_size", "3 * h"}, {"hidden", "7"}, {"hidden", "8"}};
    cr_assert_eq(rdd(NHITS, d2, 3), NTG_OK, "%s", err.message);
    cr_assert_eq(hp_int("input_size"), 288);
    cr_assert_eq(hp_int("hidden"), 8);
}

Test(compiler, define_errors)
{
    ntg_define d[] = {{"hh", "24"}};
    cr_assert_eq(rdd(NHITS, d, 1), NTG_ERR_GRAPH);
    cr_assert_str_eq(err.message,
                     "<command line>: unknown hparam 'hh' in -D hh=24; did you mean 'h'?");
    cr_assert_str_eq(err.file, "<command line>");
    cr_assert_eq(err.line, 0);
    cr_assert_eq(err.column, 0);
    ntg_define bad[] = {{"h", "2 *"}};
    cr_assert_eq(rdd(NHITS, bad, 1), NTG_ERR_PARSE);
    cr_assert_str_eq(err.message,
                     "<command line>: -D h=2 *: bad expression '2 *': expected a value");
    ntg_define undef[] = {{"h", "hx + 1"}};
    cr_assert_eq(rdd(NHITS, undef, 1), NTG_ERR_GRAPH);
    cr_assert_str_eq(err.message, "<command line>: -D h=hx + 1: undefined name 'hx' in "
                                  "expression; did you mean 'h'?");
    ntg_define cyc[] = {{"h", "input_size"}};
    cr_assert_eq(rdd(NHITS, cyc, 1), NTG_ERR_GRAPH);
    /* the cycle closes in the file, so that is where the message points */
    cr_assert_str_eq(err.message, "t.yaml:5:19: hparam cycle: h -> input_size -> h");
}

/* ---------------------------------------------------------------- hparams */

Test(compiler, hparams_evaluate_in_dependency_order)
{
    ok("ntgraph: 1\n"
       "name: t\n"
       "hparams:\n"
       "  a: b + 1\n"
       "  b: c * 2\n"
       "  c: 3\n"
       "  d: [a, [b, c], 0.5]\n"
       "  e: d[1][0] + len(d)\n"
       "  f: \"'word'\"\n"
       "  g: true\n"
       "nodes:\n"
       "  - {op: relu, in: x, out: y}\n");
    cr_assert_eq(g->n_hparams, 7);
    cr_assert_str_eq(g->hparams[0].key, "a");
    cr_assert_eq(hp_int("a"), 7);
    cr_assert_eq(hp_int("b"), 6);
    cr_assert_str_eq(ntg__value_str(pool, &hp("d")->value), "[7, [6, 3], 0.5]");
    cr_assert_eq(hp_int("e"), 9);
    cr_assert_eq(hp("f")->value.kind, NTG_V_STR);
    cr_assert_str_eq(hp("f")->value.s, "word");
    cr_assert_eq(hp("g")->value.kind, NTG_V_BOOL);
    cr_assert_eq(g->n_inputs, 0);
    cr_assert_eq(g->n_outputs, 0);
}

Test(compiler, hparam_cycle_names_the_chain)
{
    expect_err("ntgraph: 1\n"
               "name: t\n"
               "hparams:\n"
               "  a: b + 1\n"
               "  b: 2 * c\n"
               "  c: a\n"
               "nodes: []\n",
               NTG_ERR_GRAPH, "t.yaml:6:6: hparam cycle: a -> b -> c -> a");
    expect_err("ntgraph: 1\nname: t\nhparams:\n  a: a + 1\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:6: hparam cycle: a -> a");
}

Test(compiler, hparam_name_errors)
{
    expect_err("ntgraph: 1\nname: t\nhparams:\n  batch: 4\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:3: hparam name 'batch' is reserved");
    expect_err("ntgraph: 1\nname: t\nhparams:\n  max: 4\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:3: hparam name 'max' is reserved");
    expect_err("ntgraph: 1\nname: t\nhparams:\n  a.b: 4\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:3: bad hparam name 'a.b': a name is a letter or '_' followed by "
               "letters, digits and '_'");
    expect_err("ntgraph: 1\nname: t\nhparams:\n  a:\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:5: hparam 'a' must be an expression or a list, not nothing");
    expect_err("ntgraph: 1\nname: t\nhparams:\n  a: {b: 1}\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:6: hparam 'a' must be an expression or a list, not a mapping");
}

/* -------------------------------------------------------------- templates */

static const char TEMPLATES[] =
    "ntgraph: 1\n"                      /* 1 */
    "name: t\n"                         /* 2 */
    "hparams:\n"                        /* 3 */
    "  w: 4\n"                          /* 4 */
    "inputs:\n"                         /* 5 */
    "  x: [batch, 8]\n"                 /* 6 */
    "templates:\n"                      /* 7 */
    "  mlp:\n"                          /* 8 */
    "    args: {units: 8, act: none}\n" /* 9 */
    "    inputs: [x]\n"                 /* 10 */
    "    outputs: [y]\n"                /* 11 */
    "    nodes:\n"                      /* 12 */
    "      - {op: dense, name: layers.0, in: x, out: h, units: units, activation: act}\n"
    "      - {op: dense, name: layers.1, in: h, out: y, units: units}\n" /* 14 */
    "  block:\n"                                                         /* 15 */
    "    args: [width]\n"                                                /* 16 */
    "    inputs: [inp]\n"                                                /* 17 */
    "    outputs: [out, extra]\n"                                        /* 18 */
    "    let:\n"                                                         /* 19 */
    "      double: 2 * width\n"                                          /* 20 */
    "      triple: double + width\n"                                     /* 21 */
    "    nodes:\n"                                                       /* 22 */
    "      - use: mlp\n"                                                 /* 23 */
    "        name: mlp\n"                                                /* 24 */
    "        with: {units: double, act: relu}\n"                         /* 25 */
    "        in: {x: inp}\n"                                             /* 26 */
    "        out: {y: mid}\n"                                            /* 27 */
    "      - {op: add, in: [mid, inp], out: out}\n"                      /* 28 */
    "      - {op: dense, in: mid, out: extra, units: triple}\n"          /* 29 */
    "nodes:\n"                                                           /* 30 */
    "  - use: block\n"                                                   /* 31 */
    "    name: b0\n"                                                     /* 32 */
    "    with: {width: w}\n"                                             /* 33 */
    "    in: {inp: x}\n"                                                 /* 34 */
    "    out: {out: y}\n"                                                /* 35 */
    "  - use: block\n"                                                   /* 36 */
    "    name: b1\n"                                                     /* 37 */
    "    with: {width: 1}\n"                                             /* 38 */
    "    in: [y]\n"                                                      /* 39 */
    "    out: [z]\n";                                                    /* 40 */

Test(compiler, templates_nest_with_args_defaults_and_let)
{
    ok(TEMPLATES);
    cr_assert_eq(g->n_nodes, 8);
    check_node(0, NTG_OP_dense, "x", "b0/mlp/h", "b0.mlp.layers.0");
    cr_assert_eq(attr_i(0, NTG_DENSE_UNITS), 8);
    cr_assert_eq(attr_i(0, NTG_DENSE_ACT), NTG_ACT_RELU);
    check_node(1, NTG_OP_dense, "b0/mlp/h", "b0/mid", "b0.mlp.layers.1");
    check_node(2, NTG_OP_add, "b0/mid", "y", "b0.out");
    cr_assert_str_eq(g->nodes[2].in[1], "x");
    check_node(3, NTG_OP_dense, "b0/mid", "b0/extra", "b0.extra");
    cr_assert_eq(attr_i(3, NTG_DENSE_UNITS), 12);
    check_node(4, NTG_OP_dense, "y", "b1/mlp/h", "b1.mlp.layers.0");
    cr_assert_eq(attr_i(4, NTG_DENSE_UNITS), 2);
    check_node(6, NTG_OP_add, "b1/mid", "z", "b1.out");
    cr_assert_str_eq(g->nodes[6].in[1], "y");
    cr_assert_eq(attr_i(7, NTG_DENSE_UNITS), 3);
    /* `x` inside mlp is bound at block's use (line 26), which maps `inp` to the top-level
     * `x` written at line 34: the location is where the final name was written */
    cr_assert_eq(g->nodes[0].in_loc[0].line, 34);
    cr_assert_eq(g->nodes[0].in_loc[0].col, 15);
    cr_assert_eq(g->nodes[0].out_loc[0].line, 13);
    cr_assert_eq(g->nodes[1].out_loc[0].line, 27);
    cr_assert_eq(g->nodes[0].loc.line, 13);
}

Test(compiler, template_defaults_see_earlier_args_and_hparams)
{
    ok("ntgraph: 1\n"
       "name: t\n"
       "hparams: {h: 10}\n"
       "templates:\n"
       "  t:\n"
       "    args: {a: ~, b: a + h, act: gelu}\n"
       "    inputs: [x]\n"
       "    nodes:\n"
       "      - {op: dense, in: x, out: y, units: b, activation: act}\n"
       "nodes:\n"
       "  - {use: t, name: u, with: {a: 5}, in: [x]}\n");
    cr_assert_eq(g->n_nodes, 1);
    check_node(0, NTG_OP_dense, "x", "u/y", "u.y");
    cr_assert_eq(attr_i(0, NTG_DENSE_UNITS), 15);
    cr_assert_eq(attr_i(0, NTG_DENSE_ACT), NTG_ACT_GELU);
}

Test(compiler, unnamed_use_keeps_the_callers_parameter_scope)
{
    ok("ntgraph: 1\n"
       "name: t\n"
       "templates:\n"
       "  mlp:\n"
       "    inputs: [p]\n"
       "    outputs: [q]\n"
       "    nodes:\n"
       "      - {op: dense, name: layers.0, in: p, out: a, units: 2}\n"
       "      - {op: relu, in: a, out: q}\n"
       "  block:\n"
       "    inputs: [r]\n"
       "    nodes:\n"
       "      - {use: mlp, in: {p: r}, out: {q: s}}\n"
       "      - {use: mlp, in: [s]}\n"
       "nodes:\n"
       "  - {use: block, name: blocks.0, in: [x]}\n"
       "  - {use: mlp, in: [x], out: [top]}\n");
    cr_assert_eq(g->n_nodes, 6);
    check_node(0, NTG_OP_dense, "x", "blocks.0/mlp/a", "blocks.0.layers.0");
    check_node(1, NTG_OP_relu, "blocks.0/mlp/a", "blocks.0/s", "blocks.0.q");
    check_node(2, NTG_OP_dense, "blocks.0/s", "blocks.0/mlp#2/a", "blocks.0.layers.0");
    check_node(3, NTG_OP_relu, "blocks.0/mlp#2/a", "blocks.0/mlp#2/q", "blocks.0.q");
    check_node(4, NTG_OP_dense, "x", "mlp/a", "layers.0");
    check_node(5, NTG_OP_relu, "mlp/a", "top", "q");
}

Test(compiler, op_node_name_params_and_lists)
{
    ok("ntgraph: 1\n"
       "name: t\n"
       "nodes:\n"
       "  - op: dense\n"
       "    name: enc.in_proj\n"
       "    in: x\n"
       "    out: [y]\n"
       "    units: 3\n"
       "    bias: false\n"
       "    params: {weight: in_proj_weight, bias: in_proj_bias}\n"
       "  - {op: concat, in: [y, x, y], out: c, axis: -1}\n"
       "  - {op: reshape, in: c, out: r, shape: \"[batch, 2 * 3, -1]\"}\n");
    cr_assert_eq(g->n_nodes, 3);
    const ntg_rnode *n = &g->nodes[0];
    cr_assert_str_eq(n->scope, "enc.in_proj");
    cr_assert_eq(attr_i(0, NTG_DENSE_BIAS), 0);
    cr_assert_eq(n->n_param_names, 2);
    cr_assert_str_eq(n->param_leaf[0], "weight");
    cr_assert_str_eq(n->param_name[0], "in_proj_weight");
    cr_assert_str_eq(n->param_name[1], "in_proj_bias");
    cr_assert_eq(g->nodes[1].n_in, 3);
    cr_assert_eq(g->nodes[1].param_leaf, NULL);
    cr_assert_eq(attr_i(1, NTG_CONCAT_AXIS), -1);
    int64_t cnt;
    const ntg_attr *s = ntg__attr_list(g->nodes[2].attr, NTG_RESHAPE_SHAPE, &cnt);
    cr_assert_eq(cnt, 3);
    cr_assert_eq(s[0].i, 0);
    cr_assert_eq(s[1].i, 6);
    cr_assert_eq(s[2].i, -1);
}

/* ----------------------------------------------------------------- repeat */

Test(compiler, repeat_with_interpolated_names)
{
    ok("ntgraph: 1\n"
       "name: t\n"
       "hparams: {n: 3}\n"
       "nodes:\n"
       "  - {op: relu, in: x, out: r0}\n"
       "  - repeat: n\n"
       "    nodes:\n"
       "      - {op: relu, in: \"r{i}\", out: \"r{i+1}\"}\n"
       "  - repeat: 2\n"
       "    as: k\n"
       "    nodes:\n"
       "      - repeat: k + 1\n"
       "        as: j\n"
       "        nodes:\n"
       "          - {op: relu, in: \"r{n}\", out: \"c{k}_{j}\", name: \"cell.{k}.{j * 10}\"}\n"
       "  - repeat: 0\n"
       "    nodes:\n"
       "      - {op: relu, in: x, out: never}\n");
    cr_assert_eq(g->n_nodes, 1 + 3 + 3);
    check_node(0, NTG_OP_relu, "x", "r0", "r0");
    check_node(1, NTG_OP_relu, "r0", "r1", "r1");
    check_node(3, NTG_OP_relu, "r2", "r3", "r3");
    check_node(4, NTG_OP_relu, "r3", "c0_0", "cell.0.0");
    check_node(5, NTG_OP_relu, "r3", "c1_0", "cell.1.0");
    check_node(6, NTG_OP_relu, "r3", "c1_1", "cell.1.10");
}

Test(compiler, repeat_errors)
{
    expect_err("ntgraph: 1\nname: t\nnodes:\n  - repeat: -1\n    nodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:13: 'repeat' must be a count (an integer >= 0), got -1");
    expect_err("ntgraph: 1\nname: t\nnodes:\n  - repeat: 2.5\n", NTG_ERR_GRAPH,
               "t.yaml:4:13: 'repeat' must be a count (an integer >= 0), got 2.5");
    expect_err("ntgraph: 1\nname: t\nnodes:\n  - {repeat: 2, as: max, nodes: []}\n", NTG_ERR_GRAPH,
               "t.yaml:4:21: loop variable name 'max' is reserved");
    expect_err("ntgraph: 1\nname: t\nnodes:\n  - {repeat: 2, node: []}\n", NTG_ERR_GRAPH,
               "t.yaml:4:17: unknown key 'node' in a repeat; did you mean 'nodes'?");
    expect_err("ntgraph: 1\nname: t\nnodes:\n  - {repeat: 2000000, nodes: []}\n", NTG_ERR_GRAPH,
               "t.yaml:4:14: the graph expands to more than 1000000 ops, template uses and "
               "repeat iterations");
}

/* A template that uses itself twice per level doubles its work each level: it is refused
 * once the expansion count passes the limit, naming the template and the use that began
 * it, instead of expanding 2^30 instances. */
Test(compiler, template_fan_out_is_refused_naming_the_template)
{
    expect_err_has("ntgraph: 1\nname: t\ninputs: {x: [batch, 4]}\noutputs: {y: ~}\n"
                   "templates:\n"
                   "  t:\n"
                   "    args: [d]\n"
                   "    inputs: [a]\n"
                   "    outputs: [b]\n"
                   "    nodes:\n"
                   "      - repeat: min(d, 1)\n"
                   "        nodes:\n"
                   "          - {use: t, name: l, with: {d: d - 1}, in: {a: a}, out: {b: l1}}\n"
                   "          - {use: t, name: r, with: {d: d - 1}, in: {a: l1}, out: {b: r1}}\n"
                   "          - {op: add, in: [l1, r1], out: b}\n"
                   "      - repeat: 1 - min(d, 1)\n"
                   "        nodes:\n"
                   "          - {op: relu, in: a, out: b}\n"
                   "nodes:\n"
                   "  - {use: t, name: root, with: {d: 30}, in: {a: x}, out: {b: y}}\n",
                   NTG_ERR_GRAPH, "stopped in template 't' (");
    cr_assert(strstr(err.message, "inside the use of template 't' at line 20, column 6"), "%s",
              err.message);
}

/* Uses alone count: 2^31 uses of templates with no ops and no repeats used to run on
 * without ever reaching the limit. */
Test(compiler, template_uses_count_against_the_limit)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "ntgraph: 1\nname: t\ntemplates:\n");
    for (int k = 0; k < 31; k++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "  t%d:\n    nodes:\n      - {use: t%d, name: a}\n"
                              "      - {use: t%d, name: b}\n",
                              k, k + 1, k + 1);
    n += (size_t)snprintf(text + n, sizeof text - n,
                          "  t31:\n    nodes: []\nnodes:\n  - {use: t0, name: root}\n");
    cr_assert_lt(n, sizeof text);
    expect_err_has(text, NTG_ERR_GRAPH,
                   "the graph expands to more than 1000000 ops, template uses");
}

/* ---------------------------------------------------------------- extends */

typedef struct tmpdir {
    char path[256];
} tmpdir;

static void write_file(const tmpdir *d, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", d->path, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
}

static void make_tmpdir(tmpdir *d)
{
    snprintf(d->path, sizeof d->path, "/tmp/ntg_graph_XXXXXX");
    cr_assert_not_null(mkdtemp(d->path));
}

static void remove_tmpdir(const tmpdir *d)
{
    DIR *dir = opendir(d->path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.') continue;
            char p[600];
            snprintf(p, sizeof p, "%s/%s", d->path, e->d_name);
            unlink(p);
        }
        closedir(dir);
    }
    rmdir(d->path);
}

static const char BASE[] = "ntgraph: 1\n"
                           "name: base\n"
                           "kind: fam\n"
                           "description: the base\n"
                           "hparams:\n"
                           "  h: 8\n"
                           "  hidden: 16\n"
                           "inputs:\n"
                           "  x: [batch, h]\n"
                           "outputs:\n"
                           "  y: [batch, hidden]\n"
                           "templates:\n"
                           "  lin:\n"
                           "    args: [n]\n"
                           "    inputs: [a]\n"
                           "    outputs: [b]\n"
                           "    nodes:\n"
                           "      - {op: dense, in: a, out: b, units: n}\n"
                           "nodes:\n"
                           "  - {use: lin, name: l0, with: {n: hidden}, in: [x], out: [y]}\n"
                           "train:\n"
                           "  loss: mae\n"
                           "  steps: 100\n";

static const char CHILD[] = "ntgraph: 1\n"
                            "extends: base.yaml\n"
                            "name: child\n"
                            "hparams:\n"
                            "  hidden: 32\n"
                            "  extra: h * 2\n"
                            "templates:\n"
                            "  lin:\n"
                            "    args: [n]\n"
                            "    inputs: [a]\n"
                            "    outputs: [b]\n"
                            "    nodes:\n"
                            "      - {op: dense, in: a, out: b, units: n, activation: tanh}\n"
                            "train:\n"
                            "  steps: 200\n"
                            "  lr: 0.01\n";

static void check_child(void)
{
    cr_assert_str_eq(g->name, "child");
    cr_assert_str_eq(g->kind, "fam");
    cr_assert_str_eq(g->description, "the base");
    cr_assert_eq(g->n_hparams, 3);
    cr_assert_str_eq(g->hparams[0].key, "h");
    cr_assert_str_eq(g->hparams[1].key, "hidden");
    cr_assert_str_eq(g->hparams[2].key, "extra");
    cr_assert_eq(hp_int("hidden"), 32);
    cr_assert_eq(hp_int("extra"), 16);
    cr_assert_eq(g->n_nodes, 1);
    check_node(0, NTG_OP_dense, "x", "y", "l0.b");
    cr_assert_eq(attr_i(0, NTG_DENSE_UNITS), 32);
    cr_assert_eq(attr_i(0, NTG_DENSE_ACT), NTG_ACT_TANH);
    cr_assert_eq(g->outputs[0].desc.dims[1], 32);
    cr_assert_eq(g->n_train, 3);
    cr_assert_str_eq(g->train[0].key, "loss");
    cr_assert_str_eq(g->train[0].value.s, "mae");
    cr_assert_str_eq(g->train[1].key, "steps");
    cr_assert_eq(g->train[1].value.i, 200);
    cr_assert_str_eq(g->train[2].key, "lr");
    cr_assert_float_eq(g->train[2].value.f, 0.01, 1e-15);
}

Test(compiler, extends_merges_the_base)
{
    tmpdir d;
    make_tmpdir(&d);
    write_file(&d, "base.yaml", BASE);
    write_file(&d, "child.yaml", CHILD);
    char path[512];
    snprintf(path, sizeof path, "%s/child.yaml", d.path);
    ntg_status st = ntg__graph_read_file(path, NULL, 0, pool, &g, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    check_child();
    cr_assert_str_eq(g->file, path);
    /* the node's location is in the base file */
    cr_assert_not_null(strstr(g->nodes[0].in_loc[0].file, "base.yaml"));
    cr_assert_not_null(strstr(g->nodes[0].loc.file, "child.yaml"));
    /* from memory, `name` anchors extends */
    g = NULL;
    st = ntg__graph_read_string(CHILD, strlen(CHILD), path, NULL, 0, pool, &g, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    check_child();
    /* -D sees the merged hparams */
    ntg_define def = {"h", "3"};
    st = ntg__graph_read_file(path, &def, 1, pool, &g, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    cr_assert_eq(hp_int("extra"), 6);
    remove_tmpdir(&d);
}

Test(compiler, extends_errors)
{
    tmpdir d;
    make_tmpdir(&d);
    write_file(&d, "a.yaml", "ntgraph: 1\nextends: b.yaml\nname: a\nnodes: []\n");
    write_file(&d, "b.yaml", "ntgraph: 1\nextends: a.yaml\nname: b\n");
    write_file(&d, "c.yaml", "ntgraph: 1\nextends: nope.yaml\nname: c\n");
    write_file(&d, "v.yaml", "ntgraph: 1\nextends: w.yaml\nname: v\n");
    write_file(&d, "w.yaml", "ntgraph: 2\nname: w\n");
    char path[512], want[1024];
    snprintf(path, sizeof path, "%s/a.yaml", d.path);
    cr_assert_eq(ntg__graph_read_file(path, NULL, 0, pool, &g, &err), NTG_ERR_GRAPH);
    snprintf(want, sizeof want,
             "%.200s/b.yaml:2:10: extends cycle: %.200s/a.yaml -> %.200s/b.yaml -> "
             "%.200s/a.yaml",
             d.path, d.path, d.path, d.path);
    cr_assert_str_eq(err.message, want);
    snprintf(path, sizeof path, "%s/c.yaml", d.path);
    cr_assert_eq(ntg__graph_read_file(path, NULL, 0, pool, &g, &err), NTG_ERR_IO);
    snprintf(want, sizeof want,
             "%s/c.yaml:2:10: cannot read '%s/nope.yaml' (extends): No such file or directory",
             d.path, d.path);
    cr_assert_str_eq(err.message, want);
    snprintf(path, sizeof path, "%s/v.yaml", d.path);
    cr_assert_eq(ntg__graph_read_file(path, NULL, 0, pool, &g, &err), NTG_ERR_GRAPH);
    snprintf(want, sizeof want,
             "%s/w.yaml:1:10: unsupported graph format version 2 (this ntgraph reads 1)", d.path);
    cr_assert_str_eq(err.message, want);
    remove_tmpdir(&d);
}

Test(compiler, missing_file_is_an_io_error)
{
    cr_assert_eq(ntg__graph_read_file("/nonexistent/g.yaml", NULL, 0, pool, &g, &err), NTG_ERR_IO);
    cr_assert_str_eq(err.message,
                     "/nonexistent/g.yaml: cannot read graph file: No such file or directory");
    cr_assert_null(g);
}

/* ------------------------------------------------------------------ train */

Test(compiler, train_section_and_graph_eval)
{
    ok("ntgraph: 1\n"
       "name: t\n"
       "hparams: {h: 12}\n"
       "nodes: [{op: relu, in: x, out: y}]\n"
       "train:\n"
       "  loss: mae\n"
       "  lr: 1e-3\n"
       "  steps: 10 * h\n"
       "  quantiles: [0.1, 0.5, 0.9]\n"
       "  metrics: [mae, mse]\n"
       "  schedule: \"'step decay'\"\n"
       "  early_stop: true\n");
    cr_assert_eq(g->n_train, 7);
    cr_assert_eq(g->train_loc.line, 5);
    cr_assert_eq(g->train_loc.col, 1);
    cr_assert_str_eq(g->train[0].key, "loss");
    cr_assert_eq(g->train[0].value.kind, NTG_V_STR);
    cr_assert_str_eq(g->train[0].value.s, "mae");
    cr_assert_eq(g->train[0].loc.line, 6);
    cr_assert_eq(g->train[1].value.kind, NTG_V_FLOAT);
    cr_assert_eq(g->train[2].value.i, 120);
    cr_assert_str_eq(ntg__value_str(pool, &g->train[3].value), "[0.1, 0.5, 0.9]");
    cr_assert_str_eq(ntg__value_str(pool, &g->train[4].value), "['mae', 'mse']");
    cr_assert_str_eq(ntg__value_str(pool, &g->train[5].value), "step decay");
    cr_assert_eq(g->train[6].value.kind, NTG_V_BOOL);

    ntg_loc loc = {"<command line>", 0, 0};
    ntg_value v;
    cr_assert_eq(ntg__graph_eval(g, "2 * h", loc, &v, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(v.i, 24);
    cr_assert_eq(ntg__graph_eval(g, "adamw", loc, &v, &err), NTG_OK);
    cr_assert_str_eq(v.s, "adamw");
    cr_assert_eq(ntg__graph_eval(g, "hh * 2", loc, &v, &err), NTG_ERR_GRAPH);
    cr_assert_str_eq(err.message,
                     "<command line>: undefined name 'hh' in expression; did you mean 'h'?");
}

Test(compiler, outputs_without_shape)
{
    ok("ntgraph: 1\nname: t\nkind: k\ndescription: d\noutputs:\n  y: ~\n  z: [3]\n"
       "nodes: [{op: relu, in: x, out: y}]\n");
    cr_assert_str_eq(g->kind, "k");
    cr_assert_str_eq(g->description, "d");
    cr_assert_eq(g->n_outputs, 2);
    cr_assert_eq(g->outputs[0].has_shape, 0);
    cr_assert_eq(g->outputs[0].desc.rank, 0);
    cr_assert_eq(g->outputs[1].has_shape, 1);
    cr_assert_eq(g->outputs[1].desc.batched, 0);
    cr_assert_eq(g->outputs[1].desc.dims[0], 3);
}

/* ----------------------------------------------------------------- errors */

#define HDR "ntgraph: 1\nname: t\nhparams:\n  h: 4\ninputs:\n  x: [batch, h]\nnodes:\n"

Test(compiler, error_unknown_op)
{
    expect_err(HDR "  - {op: maxpool, in: x, out: y, kernel: 2}\n", NTG_ERR_GRAPH,
               "t.yaml:8:10: unknown op 'maxpool'; did you mean 'maxpool1d'?");
    expect_err(HDR "  - {op: zzzzzzzz, in: x, out: y}\n", NTG_ERR_GRAPH,
               "t.yaml:8:10: unknown op 'zzzzzzzz'");
    cr_assert_eq(err.line, 8);
    cr_assert_eq(err.column, 10);
    cr_assert_str_eq(err.file, "t.yaml");
}

/* `in:` as one expression giving a list of tensor names (a quoted scalar starting with '['
 * or '('). */
Test(compiler, input_list_from_an_expression)
{
    cr_assert_eq(rd("ntgraph: 1\nname: t\nhparams:\n  h: 4\n  extra: \"['x', 'y']\"\n"
                    "  deep: true\ninputs:\n  x: [batch, h]\nnodes:\n"
                    "  - {op: relu, in: x, out: y}\n"
                    "  - {op: concat, in: \"['x'] + extra\", out: c, axis: -1}\n"
                    "  - {op: add, in: \"['x', 'y'] if deep else ['x', 'x']\", out: s}\n"
                    "  - {op: add, in: \"(extra)\", out: t}\n"),
                 NTG_OK, "%s", err.message);
    cr_assert_eq(g->nodes[1].n_in, 3);
    cr_assert_str_eq(g->nodes[1].in[0], "x");
    cr_assert_str_eq(g->nodes[1].in[1], "x");
    cr_assert_str_eq(g->nodes[1].in[2], "y");
    cr_assert_eq(g->nodes[2].n_in, 2);
    cr_assert_str_eq(g->nodes[2].in[1], "y");
    cr_assert_eq(g->nodes[3].n_in, 2);
    cr_assert_str_eq(g->nodes[3].in[0], "x");
    expect_err(HDR "  - {op: relu, in: \"[1]\", out: y}\n", NTG_ERR_GRAPH,
               "t.yaml:8:20: 'in' item 0 must be a tensor name (a string such as 'x'), got 1");
    expect_err(HDR "  - {op: relu, in: \"(h)\", out: y}\n", NTG_ERR_GRAPH,
               "t.yaml:8:20: 'in' as an expression must give a list of 1 to 4096 tensor names, "
               "got 4");
    expect_err(HDR "  - {op: relu, in: \"['x-1']\", out: y}\n", NTG_ERR_GRAPH,
               "t.yaml:8:20: 'in' item 0 must be a tensor name (a string such as 'x'), got "
               "'x-1'");
}

/* "Did you mean" only when the name is close; other frameworks' names are named; planned ops
 * say so instead of a wrong suggestion. */
Test(compiler, error_unknown_op_hints)
{
    static const struct {
        const char *op, *msg;
    } cases[] = {
        /* were: conv1d -> concat, exp -> relu (now an op), linear/dropout/batchnorm: nothing */
        {"Conv1d", "unknown op 'Conv1d'; did you mean 'conv1d'? (ntgraph's name for Conv1d)"},
        {"AvgPool1d",
         "unknown op 'AvgPool1d'; did you mean 'avgpool1d'? (ntgraph's name for AvgPool1d)"},
        {"Parameter", "unknown op 'Parameter'; did you mean 'param'? (ntgraph's name for "
                      "Parameter)"},
        {"BatchNorm1d",
         "unknown op 'BatchNorm1d'; did you mean 'batchnorm'? (ntgraph's name for BatchNorm1d)"},
        {"Dropout", "unknown op 'Dropout'; did you mean 'dropout'? (ntgraph's name for Dropout)"},
        {"TrendBasis",
         "unknown op 'TrendBasis'; did you mean 'basis'? (ntgraph's name for TrendBasis)"},
        {"linear", "unknown op 'linear'; did you mean 'dense'? (ntgraph's name for linear)"},
        {"Linear", "unknown op 'Linear'; did you mean 'dense'? (ntgraph's name for Linear)"},
        {"fc", "unknown op 'fc'; did you mean 'dense'? (ntgraph's name for fc)"},
        {"LayerNorm",
         "unknown op 'LayerNorm'; did you mean 'layernorm'? (ntgraph's name for LayerNorm)"},
        {"layer_norm",
         "unknown op 'layer_norm'; did you mean 'layernorm'? (ntgraph's name for layer_norm)"},
        /* case only, one edit, a transposition, a long prefix */
        {"ReLU", "unknown op 'ReLU'; did you mean 'relu'?"},
        {"sofmax", "unknown op 'sofmax'; did you mean 'softmax'?"},
        {"gleu", "unknown op 'gleu'; did you mean 'gelu'?"},
        {"maxpool", "unknown op 'maxpool'; did you mean 'maxpool1d'?"},
        /* too far for a hint: three edits in a six-letter name, or nothing in common */
        {"expo2x", "unknown op 'expo2x'"},
        {"sin", "unknown op 'sin'"},
        {"attention", "unknown op 'attention'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[512], want[512];
        snprintf(yaml, sizeof yaml, HDR "  - {op: %s, in: x, out: y}\n", cases[i].op);
        snprintf(want, sizeof want, "t.yaml:8:10: %s", cases[i].msg);
        expect_err(yaml, NTG_ERR_GRAPH, want);
    }
}

Test(compiler, error_unknown_attribute)
{
    expect_err(HDR "  - {op: dense, in: x, out: y, unit: 4}\n", NTG_ERR_GRAPH,
               "t.yaml:8:32: unknown attribute 'unit' of op 'dense'; did you mean 'units'?");
    expect_err(HDR "  - {op: relu, in: x, out: y, outs: 4}\n", NTG_ERR_GRAPH,
               "t.yaml:8:31: unknown attribute 'outs' of op 'relu'; did you mean 'out'?");
}

Test(compiler, error_missing_attribute_in_out)
{
    expect_err(HDR "  - {op: dense, in: x, out: y}\n", NTG_ERR_GRAPH,
               "t.yaml:8:6: op 'dense' needs attribute 'units'");
    expect_err(HDR "  - {op: relu, out: y}\n", NTG_ERR_GRAPH,
               "t.yaml:8:6: op 'relu' needs 'in' (its input tensors)");
    expect_err(HDR "  - {op: relu, in: x}\n", NTG_ERR_GRAPH,
               "t.yaml:8:6: op 'relu' needs 'out' (its output tensors)");
    expect_err(HDR "  - {op: relu, in: x, out: []}\n", NTG_ERR_GRAPH,
               "t.yaml:8:28: op 'relu' needs at least one output in 'out'");
    expect_err(HDR "  - {op: relu, in: {a: x}, out: y}\n", NTG_ERR_GRAPH,
               "t.yaml:8:20: 'in' must be a tensor name or a list of tensor names, not a "
               "mapping");
}

Test(compiler, error_attribute_values)
{
    expect_err(HDR "  - {op: dense, in: x, out: y, units: 2 * (h}\n", NTG_ERR_PARSE,
               "t.yaml:8:45: bad expression '2 * (h': expected ')'");
    expect_err(HDR "  - {op: dense, in: x, out: y, units: h / 2 + 1.5}\n", NTG_ERR_GRAPH,
               "t.yaml:8:39: attribute 'units' of op 'dense' must be an integer, got 3.5");
    expect_err(HDR "  - {op: dense, in: x, out: y, units: batch}\n", NTG_ERR_GRAPH,
               "t.yaml:8:39: attribute 'units' of op 'dense' must be an integer, got batch");
    expect_err(HDR "  - {op: dense, in: x, out: y, units: 4, activation: relux}\n", NTG_ERR_GRAPH,
               "t.yaml:8:54: op 'dense': activation must be one of none, relu, gelu, tanh, "
               "sigmoid; got 'relux'");
    expect_err(HDR "  - {op: maxpool1d, in: x, out: y, kernel: 2, ceil_mode: 2}\n", NTG_ERR_GRAPH,
               "t.yaml:8:58: attribute 'ceil_mode' of op 'maxpool1d' must be true or false, "
               "got 2");
    expect_err(HDR "  - {op: reshape, in: x, out: y, shape: [batch, 1.5]}\n", NTG_ERR_GRAPH,
               "t.yaml:8:49: item 1 of attribute 'shape' of op 'reshape' must be an integer, "
               "got 1.5");
    expect_err(HDR "  - {op: reshape, in: x, out: y, shape: 4}\n", NTG_ERR_GRAPH,
               "t.yaml:8:41: attribute 'shape' of op 'reshape' must be a list of integers, got "
               "4");
    expect_err(HDR "  - {op: dense, in: x, out: y, units: hiden}\n", NTG_ERR_GRAPH,
               "t.yaml:8:39: undefined name 'hiden' in expression");
}

Test(compiler, error_yaml_syntax)
{
    expect_err("ntgraph: 1\nname: t\nhparams:\n  h: [1, 2\nnodes: []\n", NTG_ERR_PARSE,
               "t.yaml:5:6: YAML syntax error: did not find expected ',' or ']' while parsing a "
               "flow sequence");
    expect_err("ntgraph: 1\nname: t\n  bad: indent\n", NTG_ERR_PARSE,
               "t.yaml:3:6: YAML syntax error: mapping values are not allowed in this context");
    expect_err("ntgraph: 1\nname: &a t\nkind: *a\n", NTG_ERR_GRAPH,
               "t.yaml:3:7: YAML aliases (*name) are not supported; write the value out");
    expect_err("ntgraph: 1\nname: t\n---\nntgraph: 1\n", NTG_ERR_GRAPH,
               "t.yaml:3:1: a graph file holds one YAML document; found a second one");
}

Test(compiler, error_duplicate_key)
{
    expect_err("ntgraph: 1\nname: t\nhparams:\n  h: 4\n  h: 5\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:5:3: duplicate key 'h'");
    expect_err(HDR "  - {op: relu, in: x, out: y, in: z}\n", NTG_ERR_GRAPH,
               "t.yaml:8:31: duplicate key 'in'");
}

Test(compiler, error_undefined_hparam)
{
    expect_err("ntgraph: 1\nname: t\nhparams:\n  h: 4\n  input_size: 5 * hh\nnodes: []\n",
               NTG_ERR_GRAPH, "t.yaml:5:19: undefined name 'hh' in expression; did you mean 'h'?");
}

#define TPL                                                                                        \
    "ntgraph: 1\nname: t\ntemplates:\n  block:\n    args: [pool, ds]\n    inputs: [r]\n"           \
    "    nodes: [{op: relu, in: r, out: q}]\nnodes:\n"

Test(compiler, error_templates)
{
    expect_err(TPL "  - {use: blok, in: [x]}\n", NTG_ERR_GRAPH,
               "t.yaml:9:11: unknown template 'blok'; did you mean 'block'?");
    expect_err(TPL "  - {use: block, in: [x], with: {pool: 2}}\n", NTG_ERR_GRAPH,
               "t.yaml:9:6: template 'block' needs argument 'ds'");
    expect_err(TPL "  - {use: block, in: [x], with: {pool: 2, ds: 1, pol: 3}}\n", NTG_ERR_GRAPH,
               "t.yaml:9:50: template 'block' has no argument 'pol'; did you mean 'pool'?");
    expect_err(TPL "  - {use: block, with: {pool: 2, ds: 1}}\n", NTG_ERR_GRAPH,
               "t.yaml:9:6: input 'r' of template 'block' is not bound; add it to 'in'");
    expect_err(TPL "  - {use: block, with: {pool: 2, ds: 1}, in: {rr: x}}\n", NTG_ERR_GRAPH,
               "t.yaml:9:47: template 'block' has no input 'rr'; did you mean 'r'?");
    expect_err(TPL "  - {use: block, with: {pool: 2, ds: 1}, in: [x, y]}\n", NTG_ERR_GRAPH,
               "t.yaml:9:46: template 'block' has 1 inputs, 2 given");
    expect_err(TPL "  - {use: block, with: {pool: 2, ds: 1}, in: [x], wiht: 1}\n", NTG_ERR_GRAPH,
               "t.yaml:9:51: unknown key 'wiht' in a template use; did you mean 'with'?");
    expect_err(TPL "  - {use: block, name: b, with: {pool: 2, ds: 1}, in: [x]}\n"
                   "  - {use: block, name: b, with: {pool: 2, ds: 1}, in: [x]}\n",
               NTG_ERR_GRAPH,
               "t.yaml:10:24: instance name 'b' is used twice; give each use its own 'name'");
    expect_err("ntgraph: 1\nname: t\ntemplates:\n  t:\n    nodes: [{use: t}]\nnodes: [{use: t}]\n",
               NTG_ERR_GRAPH,
               "t.yaml:5:14: template 't' instantiates itself (templates nest at most 32 deep)");
    expect_err("ntgraph: 1\nname: t\ntemplates:\n  t:\n    arg: [a]\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:5:5: unknown key 'arg' in template 't'; did you mean 'args'?");
}

Test(compiler, error_bad_names)
{
    expect_err(HDR "  - {op: relu, in: x, out: \"r-{h}\"}\n", NTG_ERR_GRAPH,
               "t.yaml:8:28: bad tensor name 'r-4': a name is a letter or '_' followed by "
               "letters, digits, '_' and '.'");
    expect_err(HDR "  - {op: relu, in: x, out: \"r{h\"}\n", NTG_ERR_PARSE,
               "t.yaml:8:28: unclosed '{' in name 'r{h'");
    expect_err(HDR "  - {op: relu, in: x, out: \"r{hh}\"}\n", NTG_ERR_GRAPH,
               "t.yaml:8:31: undefined name 'hh' in expression; did you mean 'h'?");
    expect_err(HDR "  - {op: relu, in: x, out: y, name: \"a b\"}\n", NTG_ERR_GRAPH,
               "t.yaml:8:37: bad node name 'a b': a name is a letter or '_' followed by "
               "letters, digits, '_' and '.'");
}

Test(compiler, error_document_structure)
{
    expect_err("ntgraph: 2\nname: t\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:1:10: unsupported graph format version 2 (this ntgraph reads 1)");
    expect_err("name: t\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:1:1: missing 'ntgraph: 1' (the graph format version) at the top level");
    expect_err("ntgraph: 1\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:1:1: missing 'name:' (the model's name)");
    expect_err("ntgraph: 1\nname: t\n", NTG_ERR_GRAPH,
               "t.yaml:1:1: missing 'nodes:' (the ops of the graph)");
    expect_err("ntgraph: 1\nname: t\nhparam: {}\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:3:1: unknown key 'hparam' at the top level; did you mean 'hparams'?");
    expect_err("", NTG_ERR_GRAPH,
               "t.yaml: empty graph file (expected a mapping that starts with 'ntgraph: 1')");
    expect_err("- 1\n", NTG_ERR_GRAPH,
               "t.yaml:1:1: a graph file must be a mapping, not a sequence");
    expect_err("ntgraph: 1\nname: [a]\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:2:7: 'name' must be a string, not a sequence");
    expect_err("ntgraph: 1\nname: t\nnodes: {a: 1}\n", NTG_ERR_GRAPH,
               "t.yaml:3:8: 'nodes' must be a sequence, not a mapping");
    expect_err("ntgraph: 1\nname: t\nnodes: [3]\n", NTG_ERR_GRAPH,
               "t.yaml:3:9: a node must be a mapping with 'op', 'use' or 'repeat', not a scalar");
    expect_err("ntgraph: 1\nname: t\nnodes: [{op: relu, use: t}]\n", NTG_ERR_GRAPH,
               "t.yaml:3:9: a node needs exactly one of 'op', 'use' and 'repeat'");
}

Test(compiler, error_shapes)
{
    expect_err("ntgraph: 1\nname: t\ninputs:\n  x: 5\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:6: input 'x' needs a shape: a list such as [batch, 96], got 5");
    expect_err("ntgraph: 1\nname: t\ninputs:\n  x: [4, batch]\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:10: 'batch' is only valid as the first entry of input 'x''s shape");
    expect_err("ntgraph: 1\nname: t\ninputs:\n  x: [batch, -2]\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:14: extent 1 of input 'x' must be a positive integer, got -2");
    expect_err("ntgraph: 1\nname: t\ninputs:\n  x: [1, 1, 1, 1, 1, 1, 1]\nnodes: []\n",
               NTG_ERR_GRAPH, "t.yaml:4:6: input 'x' has 7 dimensions; at most 6");
    expect_err("ntgraph: 1\nname: t\noutputs:\n  y: {a: 1}\nnodes: []\n", NTG_ERR_GRAPH,
               "t.yaml:4:6: the shape of output 'y' must be an expression or a list, not a "
               "mapping");
}

/* Every graph shipped in graphs/ reads (the compile tests check what they compute). */
Test(compiler, shipped_graphs_read)
{
    DIR *dir = opendir(tu_src("graphs"));
    if (!dir) cr_skip_test("no graphs/ folder");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) continue;
        char rel[300];
        snprintf(rel, sizeof rel, "graphs/%s", e->d_name);
        ntg_status st = ntg__graph_read_file(tu_src(rel), NULL, 0, pool, &g, &err);
        cr_assert_eq(st, NTG_OK, "%s: %s", rel, err.message);
        cr_assert_gt(g->n_nodes, 0);
        n++;
    }
    closedir(dir);
    cr_assert_gt(n, 0);
}

Test(compiler, shipped_nhits_has_neuralforecast_parameter_scopes)
{
    const char *path = tu_src("graphs/nhits.yaml");
    FILE *f = fopen(path, "rb");
    if (!f) cr_skip_test("no graphs/nhits.yaml");
    fclose(f);
    cr_assert_eq(ntg__graph_read_file(path, NULL, 0, pool, &g, &err), NTG_OK, "%s", err.message);
    int found = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].scope, "blocks.2.layers.7") == 0) found = 1;
    cr_assert(found, "no node with scope blocks.2.layers.7");
}

/* ------------------------------------------------ big graphs: the YAML tree */

/* issue 11 §3: a 1.2M-op YAML over the limit was read whole into a tree (1.07 GB) before the
 * reader counted its ops.  The parser counts the op nodes of the top-level `nodes:` as it
 * goes and refuses the first one past the limit, at that op, before it reads any further: a
 * syntax error later in the file is never reached.  Op nodes in templates and repeat bodies
 * are not counted there (they may never be expanded). */
Test(compiler, op_nodes_past_the_limit_are_refused_while_the_yaml_is_read)
{
    char text[8192];
    size_t n =
        (size_t)snprintf(text, sizeof text, "ntgraph: 1\nname: t\ntemplates:\n  t:\n    nodes:\n");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "      - {op: relu, in: a, out: b}\n");
    n += (size_t)snprintf(text + n, sizeof text - n, "nodes:\n  - repeat: 0\n    nodes:\n");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "      - {op: relu, in: a, out: b}\n");
    size_t ok_len = n; /* 40 op nodes so far, none at the top level */
    int first_line = 1;
    for (size_t i = 0; i < ok_len; i++) first_line += text[i] == '\n';
    for (int i = 0; i < 12; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "  - {op: tanh, in: a%d, out: a%d}\n", i,
                              i + 1);
    n += (size_t)snprintf(text + n, sizeof text - n, "train: [unclosed\n");
    cr_assert_lt(n, sizeof text);
    ntg_ynode *root = NULL;
    /* no limit: the whole file is read, and its syntax error found */
    ntg_status st = ntg__ydoc_parse(text, n, "t.yaml", pool, &root, &err);
    cr_assert_eq(st, NTG_ERR_PARSE, "%d: %s", st, err.message);
    /* a limit of 10: the 11th top-level op node is refused where its op is written */
    memset(&err, 0, sizeof err);
    st = ntg__ydoc_parse_limited(text, n, "t.yaml", pool, 10, &root, &err);
    cr_assert_eq(st, NTG_ERR_GRAPH, "%d: %s", st, err.message);
    char want[160];
    snprintf(want, sizeof want,
             "t.yaml:%d:10: the graph expands to more than 10 ops, template uses and repeat "
             "iterations",
             first_line + 10);
    cr_assert_str_eq(err.message, want);
    cr_assert_null(root);
    /* the templates' and the repeat's 40 op nodes do not count: within a limit of 12 the
     * file reads up to its syntax error */
    memset(&err, 0, sizeof err);
    st = ntg__ydoc_parse_limited(text, n, "t.yaml", pool, 12, &root, &err);
    cr_assert_eq(st, NTG_ERR_PARSE, "%d: %s", st, err.message);
    /* a node of the tree is 48 bytes before its text (it was 72 and a pointer) */
    cr_assert_leq(sizeof(ntg_ynode), 48);
}
