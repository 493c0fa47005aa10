/* test_compiler_optional.c — inputs with a 0 extent are not taken (docs/graph-format.md,
 * "Optional inputs"), and graphs/nhits.yaml with and without covariates against the graphs
 * it replaced (tests/data/nhits_v1.yaml, tests/data/nhits_exog_v1.yaml). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "ntgraph.h"
#include "safetensors.h"
#include "testutil.h"

static ntg_plan *compile(const char *path, const ntg_define *defs, size_t n)
{
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = defs;
    co.n_defines = n;
    co.max_batch = 4;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(path, &co, &p, &err), NTG_OK, "%s: %s", path, err.message);
    return p;
}

static ntg_status compile_str(const char *yaml, ntg_plan **p, ntg_error *err)
{
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.flags = NTG_COMPILE_INFER_ONLY;
    return ntg_compile_string(yaml, strlen(yaml), "t.yaml", &co, p, err);
}

/* Inputs, outputs, parameters (names, shapes, initial values) and the arena are the same. */
static void same_model(const ntg_plan *a, const ntg_plan *b)
{
    ntg_error err;
    cr_assert_eq(ntg_plan_input_count(a), ntg_plan_input_count(b));
    for (size_t i = 0; i < ntg_plan_input_count(a); i++) {
        ntg_tensor_info x, y;
        ntg_tensor_info_init(&x);
        ntg_tensor_info_init(&y);
        cr_assert_eq(ntg_plan_input(a, i, &x, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_plan_input(b, i, &y, &err), NTG_OK, "%s", err.message);
        cr_assert_str_eq(x.name, y.name);
        cr_assert_eq(x.nbytes, y.nbytes, "input %s", x.name);
    }
    cr_assert_eq(ntg_plan_param_count(a), ntg_plan_param_count(b));
    for (size_t i = 0; i < ntg_plan_param_count(a); i++) {
        ntg_tensor_info x, y;
        ntg_tensor_info_init(&x);
        ntg_tensor_info_init(&y);
        cr_assert_eq(ntg_plan_param(a, i, &x, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_plan_param(b, i, &y, &err), NTG_OK, "%s", err.message);
        cr_assert_str_eq(x.name, y.name);
        cr_assert_eq(x.rank, y.rank, "%s", x.name);
        for (int d = 0; d < x.rank; d++) cr_assert_eq(x.shape[d], y.shape[d], "%s", x.name);
        cr_assert_eq(x.nbytes, y.nbytes, "%s", x.name);
        cr_assert_eq(memcmp(ntg_plan_param_data(a, i), ntg_plan_param_data(b, i), x.nbytes), 0,
                     "initial values of %s differ", x.name);
    }
    cr_assert_eq(ntg_plan_arena_bytes(a), ntg_plan_arena_bytes(b));
}

/* Run infer on both plans with the same inputs (every input filled from one generator);
 * the outputs y are bit-identical. */
static void same_forecasts(const ntg_plan *a, const ntg_plan *b, int batch)
{
    ntg_error err;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_session *sa = NULL, *sb = NULL;
    cr_assert_eq(ntg_session_create(a, &so, &sa, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_create(b, &so, &sb, &err), NTG_OK, "%s", err.message);
    tu_rng rng = {42};
    for (size_t i = 0; i < ntg_plan_input_count(a); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_input(a, i, &ti, &err), NTG_OK, "%s", err.message);
        size_t n = ti.nbytes / 4 / (size_t)ti.shape[0] * (size_t)batch;
        float *v = malloc(n * sizeof *v);
        cr_assert_not_null(v);
        for (size_t k = 0; k < n; k++) v[k] = (float)tu_uniform(&rng, -1, 1);
        cr_assert_eq(ntg_session_set_input(sa, ti.name, v, n, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(sb, ti.name, v, n, &err), NTG_OK, "%s", err.message);
        free(v);
    }
    cr_assert_eq(ntg_session_run(sa, batch, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(sb, batch, &err), NTG_OK, "%s", err.message);
    ntg_tensor_info yo;
    ntg_tensor_info_init(&yo);
    cr_assert_eq(ntg_plan_output(a, 0, &yo, &err), NTG_OK, "%s", err.message);
    size_t n = yo.nbytes / 4 / (size_t)yo.shape[0] * (size_t)batch;
    float *ya = malloc(n * sizeof *ya), *yb = malloc(n * sizeof *yb);
    cr_assert(ya && yb);
    cr_assert_eq(ntg_session_get_output(sa, yo.name, ya, n, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(sb, yo.name, yb, n, &err), NTG_OK, "%s", err.message);
    for (size_t k = 0; k < n; k++) {
        cr_assert(isfinite(ya[k]));
        cr_assert_eq(memcmp(&ya[k], &yb[k], 4), 0, "y[%zu]: %.9g vs %.9g", k, (double)ya[k],
                     (double)yb[k]);
    }
    free(ya);
    free(yb);
    ntg_session_destroy(sa);
    ntg_session_destroy(sb);
}

static const ntg_define small[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "16"}};

/* With n_hist = n_futr = n_stat = 0 (the defaults) nhits.yaml is the graph it was before
 * it took covariates: same inputs, parameters, initial values, arena and forecasts; the
 * metadata differs only by the three new hparams. */
Test(nhits_cov, defaults_compile_to_the_covariate_free_plan)
{
    ntg_plan *old = compile(tu_src("tests/data/nhits_v1.yaml"), small, 3);
    ntg_plan *now = compile(tu_src("graphs/nhits.yaml"), small, 3);
    same_model(old, now);
    cr_assert_eq(ntg_plan_input_count(now), 1);
    ntg_error err;
    size_t extra = 0;
    for (size_t i = 0; i < ntg_plan_meta_count(now); i++) {
        const char *k, *v;
        cr_assert_eq(ntg_plan_meta_at(now, i, &k, &v, &err), NTG_OK, "%s", err.message);
        const char *was = ntg_plan_meta(old, k);
        if (!was) {
            cr_assert(strcmp(k, "hparam.n_hist") == 0 || strcmp(k, "hparam.n_futr") == 0 ||
                          strcmp(k, "hparam.n_stat") == 0,
                      "new metadata key %s", k);
            cr_assert_str_eq(v, "0");
            extra++;
        } else if (strcmp(k, "model.graph") != 0) {
            cr_assert_str_eq(v, was, "metadata %s", k);
        }
    }
    cr_assert_eq(extra, 3);
    cr_assert_eq(ntg_plan_meta_count(now), ntg_plan_meta_count(old) + 3);
    same_forecasts(old, now, 3);
    ntg_plan_destroy(old);
    ntg_plan_destroy(now);
}

/* nhits_exog.yaml (now nhits.yaml with n_futr: 1) is the futr-only graph it replaced. */
Test(nhits_cov, futr_only_equals_the_former_nhits_exog)
{
    ntg_plan *old = compile(tu_src("tests/data/nhits_exog_v1.yaml"), small, 3);
    ntg_plan *now = compile(tu_src("graphs/nhits_exog.yaml"), small, 3);
    same_model(old, now);
    same_forecasts(old, now, 4);
    ntg_plan_destroy(old);
    ntg_plan_destroy(now);
    /* and -D n_futr=2 on nhits.yaml is the old graph with two covariates */
    const ntg_define two[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "16"}, {"n_futr", "2"}};
    old = compile(tu_src("tests/data/nhits_exog_v1.yaml"), two, 4);
    now = compile(tu_src("graphs/nhits.yaml"), two, 4);
    same_model(old, now);
    same_forecasts(old, now, 2);
    ntg_plan_destroy(old);
    ntg_plan_destroy(now);
}

/* With every kind of covariate: NeuralForecast's MLP input [pooled y | hist | futr | stat],
 * so layers.0 of a block with pool k takes ceil(L/k) * (1 + n_hist) + ceil((L+h)/k) * n_futr
 * + n_stat features. */
Test(nhits_cov, layer0_takes_the_pooled_covariates)
{
    const ntg_define all[] = {{"h", "4"},      {"input_size", "12"}, {"hidden", "8"},
                              {"n_hist", "2"}, {"n_futr", "3"},      {"n_stat", "1"}};
    ntg_plan *p = compile(tu_src("graphs/nhits.yaml"), all, 6);
    ntg_error err;
    const char *want_in[] = {"x", "hist_exog", "futr_exog", "stat_exog"};
    cr_assert_eq(ntg_plan_input_count(p), 4);
    for (size_t i = 0; i < 4; i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_input(p, i, &ti, &err), NTG_OK, "%s", err.message);
        cr_assert_str_eq(ti.name, want_in[i]);
    }
    /* pools [2, 2, 1]: 6 * 3 + 8 * 3 + 1 = 43, and 12 * 3 + 16 * 3 + 1 = 85 */
    const int64_t want[] = {43, 43, 85};
    for (size_t b = 0; b < 3; b++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%zu.layers.0.weight", b);
        int found = 0;
        for (size_t i = 0; i < ntg_plan_param_count(p); i++) {
            ntg_tensor_info ti;
            ntg_tensor_info_init(&ti);
            cr_assert_eq(ntg_plan_param(p, i, &ti, &err), NTG_OK, "%s", err.message);
            if (strcmp(ti.name, name) != 0) continue;
            found = 1;
            cr_assert_eq(ti.rank, 2);
            cr_assert_eq(ti.shape[0], 8);
            cr_assert_eq(ti.shape[1], want[b], "%s: %lld inputs", name, (long long)ti.shape[1]);
        }
        cr_assert(found, "%s", name);
    }
    ntg_plan_destroy(p);
}

/* a graph whose input c is taken when n > 0 */
#define OPT_GRAPH                                                                                  \
    "ntgraph: 1\nname: t\nhparams: {n: %d}\n"                                                      \
    "inputs:\n  x: [batch, 4]\n  c: [batch, n, 4]\n"                                               \
    "outputs:\n  y: [batch, 4]\n"                                                                  \
    "nodes:\n"                                                                                     \
    "  - {op: relu, in: x, out: \"{'y' if n == 0 else 'r'}\"}\n"                                   \
    "  - repeat: \"1 if n > 0 else 0\"\n"                                                          \
    "    nodes:\n"                                                                                 \
    "      - {op: reshape, in: c, out: cf, shape: \"[batch, 4 * n]\"}\n"                           \
    "      - {op: concat, in: [r, cf], out: z, axis: 1}\n"                                         \
    "      - {op: dense, in: z, out: y, units: 4}\n"

/* The MLP input of block 0, probed feature by feature against a hand computation: with
 * weights that carry input feature k alone through layers.0..5 into the block's one
 * forecast knot (all else 0), y - x_last is feature k.  NeuralForecast's order:
 * [maxpool(flip(x)) | maxpool(hist_exog) time-major | maxpool(futr_exog) time-major |
 * stat_exog], with MaxPool1d(2, ceil_mode) over time. */
Test(nhits_cov, block_mlp_input_against_a_hand_computation)
{
    enum { L = 8, H = 4, NH = 2, NF = 1, NS = 2, HID = 4, NIN = 4 + 4 * NH + 6 * NF + NS };
    const ntg_define defs[] = {{"h", "4"},      {"input_size", "8"}, {"hidden", "4"},
                               {"n_hist", "2"}, {"n_futr", "1"},     {"n_stat", "2"}};
    float x[L], hist[NH * L], futr[NF * (L + H)], stat[NS];
    tu_rng rng = {7};
    for (int i = 0; i < L; i++) x[i] = (float)tu_uniform(&rng, 1, 2);
    for (int i = 0; i < NH * L; i++) hist[i] = (float)tu_uniform(&rng, 1, 2);
    for (int i = 0; i < NF * (L + H); i++) futr[i] = (float)tu_uniform(&rng, 1, 2);
    for (int i = 0; i < NS; i++) stat[i] = (float)tu_uniform(&rng, 1, 2);
    float want[NIN];
    for (int j = 0; j < 4; j++) /* the residual is x newest first */
        want[j] = fmaxf(x[L - 1 - 2 * j], x[L - 2 - 2 * j]);
    for (int t = 0; t < 4; t++)
        for (int c = 0; c < NH; c++)
            want[4 + t * NH + c] = fmaxf(hist[c * L + 2 * t], hist[c * L + 2 * t + 1]);
    for (int t = 0; t < 6; t++) want[4 + 4 * NH + t] = fmaxf(futr[2 * t], futr[2 * t + 1]);
    for (int c = 0; c < NS; c++) want[4 + 4 * NH + 6 * NF + c] = stat[c];

    ntg_plan *shape = compile(tu_src("graphs/nhits.yaml"), defs, 6);
    size_t np = ntg_plan_param_count(shape);
    ntg_st_out *t = calloc(np, sizeof *t);
    float **data = calloc(np, sizeof *data);
    int64_t(*shp)[NTG_MAX_RANK] = calloc(np, sizeof *shp);
    cr_assert(t && data && shp);
    ntg_error err;
    for (size_t i = 0; i < np; i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_param(shape, i, &ti, &err), NTG_OK, "%s", err.message);
        t[i].name = strdup(ti.name);
        t[i].dtype = "F32";
        t[i].rank = ti.rank;
        memcpy(shp[i], ti.shape, sizeof shp[i]);
        t[i].shape = shp[i];
        data[i] = calloc(ti.nbytes / 4 + 1, sizeof(float));
        t[i].data = data[i];
        if (strcmp(ti.name, "blocks.0.layers.0.weight") == 0)
            cr_assert(ti.shape[0] == HID && ti.shape[1] == NIN, "%lld x %lld",
                      (long long)ti.shape[0], (long long)ti.shape[1]);
    }
    char path[600];
    snprintf(path, sizeof path, "/tmp/ntg-nhits-probe-%d.safetensors", (int)getpid());
    for (int k = 0; k < NIN; k++) {
        for (size_t i = 0; i < np; i++) {
            int64_t n = 1;
            for (int d = 0; d < t[i].rank; d++) n *= shp[i][d];
            memset(data[i], 0, (size_t)n * sizeof(float));
            if (strcmp(t[i].name, "blocks.0.layers.0.weight") == 0) data[i][k] = 1;
            if (strcmp(t[i].name, "blocks.0.layers.1.weight") == 0 ||
                strcmp(t[i].name, "blocks.0.layers.3.weight") == 0 ||
                strcmp(t[i].name, "blocks.0.layers.5.weight") == 0)
                data[i][0] = 1;
            /* theta = [backcast (L) | 1 knot]: the knot's row is L */
            if (strcmp(t[i].name, "blocks.0.layers.7.weight") == 0) data[i][L * HID] = 1;
        }
        cr_assert_eq(ntg__st_write(path, t, np, NULL, 0, &err), NTG_OK, "%s", err.message);
        ntg_compile_options co;
        ntg_compile_options_init(&co);
        co.defines = defs;
        co.n_defines = 6;
        co.max_batch = 1;
        co.weights_path = path;
        ntg_plan *p = NULL;
        cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &co, &p, &err), NTG_OK, "%s",
                     err.message);
        ntg_session_options so;
        ntg_session_options_init(&so);
        so.backend = "cpu";
        ntg_session *ss = NULL;
        cr_assert_eq(ntg_session_create(p, &so, &ss, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(ss, "x", x, L, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(ss, "hist_exog", hist, NH * L, &err), NTG_OK, "%s",
                     err.message);
        cr_assert_eq(ntg_session_set_input(ss, "futr_exog", futr, NF * (L + H), &err), NTG_OK, "%s",
                     err.message);
        cr_assert_eq(ntg_session_set_input(ss, "stat_exog", stat, NS, &err), NTG_OK, "%s",
                     err.message);
        cr_assert_eq(ntg_session_run(ss, 1, &err), NTG_OK, "%s", err.message);
        float y[H];
        cr_assert_eq(ntg_session_get_output(ss, "y", y, H, &err), NTG_OK, "%s", err.message);
        for (int s2 = 0; s2 < H; s2++)
            cr_assert_float_eq(y[s2] - x[L - 1], want[k], 1e-5, "feature %d, step %d: %.7g vs %.7g",
                               k, s2, (double)(y[s2] - x[L - 1]), (double)want[k]);
        ntg_session_destroy(ss);
        ntg_plan_destroy(p);
    }
    unlink(path);
    for (size_t i = 0; i < np; i++) {
        free((void *)(uintptr_t)t[i].name);
        free(data[i]);
    }
    free(t);
    free(data);
    free(shp);
    ntg_plan_destroy(shape);
}

Test(optional_inputs, a_zero_extent_drops_the_input)
{
    ntg_plan *p = NULL;
    ntg_error err;
    char g[1024];
    snprintf(g, sizeof g, OPT_GRAPH, 0);
    cr_assert_eq(compile_str(g, &p, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_plan_input_count(p), 1);
    cr_assert_eq(ntg_plan_param_count(p), 0);
    ntg_plan_destroy(p);
    /* the same file with n: 2 takes c */
    snprintf(g, sizeof g, OPT_GRAPH, 2);
    cr_assert_eq(compile_str(g, &p, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_plan_input_count(p), 2);
    cr_assert_eq(ntg_plan_param_count(p), 2);
    ntg_plan_destroy(p);
}

Test(optional_inputs, errors)
{
    ntg_plan *p = NULL;
    ntg_error err;
    /* a node reading a dropped input is told why it is missing */
    cr_assert_eq(compile_str("ntgraph: 1\nname: t\ninputs:\n  x: [batch, 4]\n  c: [batch, 0]\n"
                             "outputs:\n  y: ~\nnodes:\n  - {op: add, in: [x, c], out: y}\n",
                             &p, &err),
                 NTG_ERR_GRAPH);
    cr_assert_str_eq(err.message,
                     "t.yaml:9:23: input 'c' is not taken: its shape (line 5) has a 0 extent; "
                     "put the nodes that read it under a repeat whose count is 0 then");
    /* negative extents, a 0 batch-free first extent and 0 in outputs stay errors */
    cr_assert_eq(
        compile_str("ntgraph: 1\nname: t\ninputs:\n  x: [batch, -1]\nnodes: []\n", &p, &err),
        NTG_ERR_GRAPH);
    cr_assert_str_eq(err.message,
                     "t.yaml:4:14: extent 1 of input 'x' must be a positive integer, got -1");
    cr_assert_eq(compile_str("ntgraph: 1\nname: t\ninputs:\n  x: [0, 4]\nnodes: []\n", &p, &err),
                 NTG_ERR_GRAPH);
    cr_assert_str_eq(err.message,
                     "t.yaml:4:7: extent 0 of input 'x' must be a positive integer, got 0");
    cr_assert_eq(compile_str("ntgraph: 1\nname: t\ninputs:\n  x: [batch, 4]\noutputs:\n"
                             "  y: [batch, 0]\nnodes:\n  - {op: relu, in: x, out: y}\n",
                             &p, &err),
                 NTG_ERR_GRAPH);
    cr_assert_str_eq(err.message,
                     "t.yaml:6:14: extent 1 of output 'y' must be a positive integer, got 0");
}
