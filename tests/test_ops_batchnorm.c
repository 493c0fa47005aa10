/* test_ops_batchnorm.c — batchnorm: the reference kernel against torch.nn.BatchNorm1d's
 * formulas written out here in double (training: batch mean and biased variance over (batch,
 * L), running statistics with momentum and the unbiased variance; eval: the running ones), the
 * backward against central differences, and the compiler and trainer: running statistics are
 * plan constants no optimizer touches, updated by training and saved in the trained plan,
 * used by forecasts and eval. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ref/ref_kernels.h"
#include "ntgraph.h"
#include "op_attrs.h"
#include "plan_int.h"
#include "testutil.h"

enum { B = 5, C = 3, L = 7 };
#define NX (B * C * L)

typedef struct bn_case {
    float x[NX], w[C], b[C], rm[C], rv[C], y[NX], saved[3 * C];
    ntg_attr attr[2];
} bn_case;

static void setup(bn_case *k, uint64_t seed)
{
    tu_rng r = {seed};
    for (int i = 0; i < NX; i++) k->x[i] = (float)tu_uniform(&r, -2, 3);
    for (int i = 0; i < C; i++) {
        k->w[i] = (float)tu_uniform(&r, 0.5, 1.5);
        k->b[i] = (float)tu_uniform(&r, -1, 1);
        k->rm[i] = (float)tu_uniform(&r, -0.5, 0.5);
        k->rv[i] = (float)tu_uniform(&r, 0.5, 2);
    }
    k->attr[NTG_BATCHNORM_EPS].f = 1e-5;
    k->attr[NTG_BATCHNORM_MOMENTUM].f = 0.1;
}

static void forward(bn_case *k, int train)
{
    ntg_view in[5], out[2];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    ntg_tdesc xd = {NTG_DTYPE_F32, 3, 1, 0, {B, C, L}}, cd = {NTG_DTYPE_F32, 1, 0, 0, {C}};
    ntg_tdesc sd = {NTG_DTYPE_F32, 2, 0, 0, {3, C}};
    float *p[5] = {k->x, k->w, k->b, k->rm, k->rv};
    for (int i = 0; i < 5; i++) {
        in[i].data = p[i];
        in[i].d = i ? cd : xd;
    }
    out[0].data = k->y;
    out[0].d = xd;
    out[1].data = k->saved;
    out[1].d = sd;
    ntg_kctx c = {k->attr, 2, 5, train ? 2 : 1, in, out, B, NULL, 0};
    ntg__cpu_fwd_batchnorm(&c);
}

/* dx, dw, db from dy, training form */
static void backward(bn_case *k, const float *dy, float *dx, float *dw, float *db)
{
    ntg_view in[9], out[5];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    ntg_tdesc xd = {NTG_DTYPE_F32, 3, 1, 0, {B, C, L}}, cd = {NTG_DTYPE_F32, 1, 0, 0, {C}};
    ntg_tdesc sd = {NTG_DTYPE_F32, 2, 0, 0, {3, C}};
    void *p[9] = {k->x, k->w, k->b, k->rm, k->rv, k->y, k->saved, (void *)dy, NULL};
    ntg_tdesc d[9] = {xd, cd, cd, cd, cd, xd, sd, xd, sd};
    for (int i = 0; i < 9; i++) {
        in[i].data = p[i];
        in[i].d = d[i];
    }
    float *o[5] = {dx, dw, db, NULL, NULL};
    ntg_tdesc od[5] = {xd, cd, cd, cd, cd};
    for (int i = 0; i < 5; i++) {
        out[i].data = o[i];
        out[i].d = od[i];
    }
    ntg_kctx c = {k->attr, 2, 9, 5, in, out, B, NULL, 0};
    ntg__cpu_bwd_batchnorm(&c);
}

#define AT(b, c, l) (((b)*C + (c)) * L + (l))

Test(batchnorm, training_and_eval_forward_follow_torch)
{
    bn_case k;
    setup(&k, 1);
    forward(&k, 1);
    for (int ch = 0; ch < C; ch++) {
        /* torch: mean and biased var over (N, L) normalise; the running var takes the
         * unbiased one */
        double s = 0, s2 = 0, n = B * L;
        for (int b = 0; b < B; b++)
            for (int l = 0; l < L; l++) s += k.x[AT(b, ch, l)];
        double mean = s / n;
        for (int b = 0; b < B; b++)
            for (int l = 0; l < L; l++) s2 += pow(k.x[AT(b, ch, l)] - mean, 2);
        double var = s2 / n, uvar = s2 / (n - 1);
        cr_assert(fabs(k.saved[ch] - mean) <= 1e-6 * (1 + fabs(mean)));
        cr_assert(fabs(k.saved[C + ch] - var) <= 1e-6 * var);
        cr_assert(fabs(k.saved[2 * C + ch] - uvar) <= 1e-6 * uvar);
        for (int b = 0; b < B; b++)
            for (int l = 0; l < L; l++) {
                double want = (k.x[AT(b, ch, l)] - mean) / sqrt(var + 1e-5) * k.w[ch] + k.b[ch];
                double got = k.y[AT(b, ch, l)];
                cr_assert(fabs(got - want) <= 1e-5 * (1 + fabs(want)), "y %g, want %g", got, want);
            }
    }
    /* the running statistics' update: momentum 0.1, as torch */
    float rm0[C], rv0[C];
    memcpy(rm0, k.rm, sizeof rm0);
    memcpy(rv0, k.rv, sizeof rv0);
    ntg_attr sa[1] = {{.f = 0.1}};
    ntg_view in[3];
    ntg_tdesc cd = {NTG_DTYPE_F32, 1, 0, 0, {C}}, sd = {NTG_DTYPE_F32, 2, 0, 0, {3, C}};
    in[0] = (ntg_view){k.rm, cd};
    in[1] = (ntg_view){k.rv, cd};
    in[2] = (ntg_view){k.saved, sd};
    ntg_kctx c = {sa, 1, 3, 0, in, NULL, B, NULL, 0};
    ntg__cpu_fwd_batchnorm_stats(&c);
    for (int ch = 0; ch < C; ch++) {
        cr_assert(fabs(k.rm[ch] - (0.9 * rm0[ch] + 0.1 * k.saved[ch])) <= 1e-6);
        cr_assert(fabs(k.rv[ch] - (0.9 * rv0[ch] + 0.1 * k.saved[2 * C + ch])) <= 1e-6);
    }
    /* eval: the running statistics */
    forward(&k, 0);
    for (int ch = 0; ch < C; ch++)
        for (int i = 0; i < B * L; i++) {
            int q = AT(i / L, ch, i % L);
            double want = (k.x[q] - k.rm[ch]) / sqrt(k.rv[ch] + 1e-5) * k.w[ch] + k.b[ch];
            cr_assert(fabs(k.y[q] - want) <= 1e-5 * (1 + fabs(want)));
        }
}

/* A vector from PyTorch (1.13, Debian's python3-torch): torch.nn.BatchNorm1d(2) in train()
 * with its default eps and momentum, weight [1.5, -0.5], bias [0.25, 1], on
 * x = torch.arange(12.).reshape(2, 2, 3) / 4 - 1: its y and running statistics after the step. */
Test(batchnorm, a_torch_vector)
{
    float x[12], w[2] = {1.5f, -0.5f}, b[2] = {0.25f, 1.0f}, rm[2] = {0, 0}, rv[2] = {1, 1};
    float y[12], saved[6];
    for (int i = 0; i < 12; i++) x[i] = (float)i / 4 - 1;
    ntg_attr at[2] = {{.f = 1e-5}, {.f = 0.1}};
    ntg_tdesc xd = {NTG_DTYPE_F32, 3, 1, 0, {2, 2, 3}}, cd = {NTG_DTYPE_F32, 1, 0, 0, {2}};
    ntg_tdesc sd = {NTG_DTYPE_F32, 2, 0, 0, {3, 2}};
    ntg_view in[5] = {{x, xd}, {w, cd}, {b, cd}, {rm, cd}, {rv, cd}};
    ntg_view out[2] = {{y, xd}, {saved, sd}};
    ntg_kctx c = {at, 2, 5, 2, in, out, 2, NULL, 0};
    ntg__cpu_fwd_batchnorm(&c);
    static const float want_y[12] = {-1.679787f, -1.197340f, -0.714893f, 1.643262f,
                                     1.482447f,  1.321631f,  1.214893f,  1.697340f,
                                     2.179787f,  0.678369f,  0.517553f,  0.356738f};
    for (int i = 0; i < 12; i++)
        cr_assert(fabsf(y[i] - want_y[i]) <= 2e-6f, "y[%d] = %.6f, torch %.6f", i, (double)y[i],
                  (double)want_y[i]);
    static const float want_rm[2] = {0.0f, 0.075f}, want_rv[2] = {0.9725f, 0.9725f};
    ntg_attr sa[1] = {{.f = 0.1}};
    ntg_view sin[3] = {{rm, cd}, {rv, cd}, {saved, sd}};
    ntg_kctx sc = {sa, 1, 3, 0, sin, NULL, 2, NULL, 0};
    ntg__cpu_fwd_batchnorm_stats(&sc);
    for (int i = 0; i < 2; i++) {
        cr_assert(fabsf(rm[i] - want_rm[i]) <= 1e-6f, "running_mean %g", (double)rm[i]);
        cr_assert(fabsf(rv[i] - want_rv[i]) <= 1e-6f, "running_var %g", (double)rv[i]);
    }
}

/* d/dx, d/dw, d/db of L = <dy, y(x, w, b)> in training form by central differences */
Test(batchnorm, backward_matches_finite_differences)
{
    bn_case k;
    setup(&k, 2);
    tu_rng r = {3};
    float dy[NX], dx[NX], dw[C], db[C];
    for (int i = 0; i < NX; i++) dy[i] = (float)tu_uniform(&r, -1, 1);
    forward(&k, 1);
    backward(&k, dy, dx, dw, db);
    float *vars[3] = {k.x, k.w, k.b}, *grads[3] = {dx, dw, db};
    int counts[3] = {NX, C, C};
    for (int v = 0; v < 3; v++)
        for (int i = 0; i < counts[v]; i++) {
            float keep = vars[v][i];
            double h = 1e-2, lp = 0, lm = 0;
            vars[v][i] = (float)(keep + h);
            forward(&k, 1);
            for (int q = 0; q < NX; q++) lp += (double)dy[q] * k.y[q];
            vars[v][i] = (float)(keep - h);
            forward(&k, 1);
            for (int q = 0; q < NX; q++) lm += (double)dy[q] * k.y[q];
            vars[v][i] = keep;
            double fd = (lp - lm) / (2 * h);
            cr_assert(fabs(fd - grads[v][i]) <= 2e-3 * (1 + fabs(fd)), "var %d [%d]: fd %g, %g", v,
                      i, fd, (double)grads[v][i]);
        }
}

/* ------------------------------------------------------------ compiler and trainer */

static const char *graph = "ntgraph: 1\n"
                           "name: t\n"
                           "inputs:\n"
                           "  x: [batch, 24]\n"
                           "outputs:\n"
                           "  y: [batch, 8]\n"
                           "nodes:\n"
                           "  - {op: dense, name: fc1, in: x, out: h, units: 16}\n"
                           "  - {op: batchnorm, name: bn, in: h, out: hn, momentum: 0.2}\n"
                           "  - {op: relu, in: hn, out: hr}\n"
                           "  - {op: dense, name: fc2, in: hr, out: y, units: 8}\n"
                           "train:\n"
                           "  loss: mse\n"
                           "  optimizer: adam\n"
                           "  scaler: zscore\n"
                           "  window_scaler: identity\n";

static ntg_plan *compile(const char *text)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 16;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(text, strlen(text), "g.yaml", &o, &plan, &err), NTG_OK, "%s",
                 err.message);
    return plan;
}

/* a tensor the plan stores (the running statistics: constants, not parameters), by name */
static const float *stored(const ntg_plan *p, const char *name)
{
    for (uint32_t t = 0; t < p->img.n_tensors; t++) {
        const ntg_tensor_rec *r = &p->img.tensors[t];
        if (strcmp(ntg__plan_str(p, r->name), name) != 0) continue;
        cr_assert_eq(r->storage, NTG_STORE_WEIGHTS, "%s is stored in the plan", name);
        cr_assert_eq(r->role, NTG_ROLE_CONST, "%s is a constant, not a parameter", name);
        return (const float *)(p->img.weights + r->offset);
    }
    cr_assert_fail("no tensor %s", name);
    return NULL;
}

Test(batchnorm, running_statistics_are_buffers_trained_and_saved)
{
    ntg_plan *p = compile(graph);
    /* parameters: fc1, bn.weight, bn.bias, fc2: the buffers are not among them */
    cr_assert_eq(ntg_plan_param_count(p), 6);
    for (size_t i = 0; i < ntg_plan_param_count(p); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_param(p, i, &ti, NULL), NTG_OK);
        cr_assert(!strstr(ti.name, "running"), "%s is a parameter", ti.name);
    }
    const float *rm0 = stored(p, "bn.running_mean"), *rv0 = stored(p, "bn.running_var");
    for (int i = 0; i < 16; i++) cr_assert(rm0[i] == 0.0f && rv0[i] == 1.0f, "torch's init");
    char path[256];
    snprintf(path, sizeof path, "/tmp/ntg-bn-%d.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "date,a\n");
    tu_rng r = {5};
    for (int i = 0; i < 400; i++)
        fprintf(f, "2020-01-%02d %02d:00:00,%.6f\n", 1 + i / 24, i % 24,
                10 + 3 * sin(i * 2 * 3.14159265358979 / 24) + tu_uniform(&r, -0.3, 0.3));
    fclose(f);
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_load_csv(path, NULL, &s, &err), NTG_OK, "%s", err.message);
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_define set[] = {{"steps", "30"},     {"batch", "8"},     {"lr", "0.003"},
                        {"val_every", "10"}, {"patience", "-1"}, {"seed", "4"}};
    o.split = "300,50,50";
    o.settings = set;
    o.n_settings = 6;
    o.backend = "cpu";
    ntg_plan *a = NULL, *b = NULL;
    cr_assert_eq(ntg_train(p, s, &o, &a, NULL, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_train(p, s, &o, &b, NULL, &err), NTG_OK, "%s", err.message);
    /* forecasts of the trained plan and its eval agree (both use the running statistics); two
     * runs with one seed are bitwise the same */
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    float x[4 * 24], ya[4 * 8], yb[4 * 8], ye[4 * 8];
    for (int i = 0; i < 4 * 24; i++) x[i] = (float)tu_uniform(&r, -1, 1);
    ntg_plan *plans[2] = {a, b};
    float *outs[2] = {ya, yb};
    for (int k = 0; k < 2; k++) {
        ntg_session *ss = NULL;
        cr_assert_eq(ntg_session_create(plans[k], &so, &ss, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(ss, "x", x, 4 * 24, &err), NTG_OK);
        cr_assert_eq(ntg_session_run(ss, 4, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_get_output(ss, "y", outs[k], 4 * 8, &err), NTG_OK);
        if (k == 0) {
            float t[4 * 8] = {0};
            cr_assert_eq(ntg_session_set_input(ss, "t", t, 4 * 8, &err), NTG_OK);
            cr_assert_eq(ntg_session_run_program(ss, "eval", 4, &err), NTG_OK, "%s", err.message);
            cr_assert_eq(ntg_session_get_output(ss, "y", ye, 4 * 8, &err), NTG_OK);
        }
        ntg_session_destroy(ss);
    }
    cr_assert(memcmp(ya, yb, sizeof ya) == 0, "same seed: the same trained plan");
    cr_assert(memcmp(ya, ye, sizeof ya) == 0, "eval forecasts with the running statistics");
    /* training updated the running statistics and saved them in the trained plan */
    const float *rm = stored(a, "bn.running_mean"), *rv = stored(a, "bn.running_var");
    int moved = 0;
    for (int i = 0; i < 16; i++) {
        cr_assert(isfinite(rm[i]) && rv[i] > 0, "channel %d: %g %g", i, (double)rm[i],
                  (double)rv[i]);
        moved += rm[i] != 0.0f && rv[i] != 1.0f;
    }
    cr_assert_eq(moved, 16, "every channel's statistics moved");
    ntg_plan_destroy(a);
    ntg_plan_destroy(b);
    ntg_plan_destroy(p);
    ntg_series_destroy(s);
    unlink(path);
}

Test(batchnorm, shape_errors_name_the_node)
{
    static const char *bad = "ntgraph: 1\n"
                             "name: t\n"
                             "inputs:\n"
                             "  x: [batch, 2, 3, 4]\n"
                             "outputs:\n"
                             "  y: ~\n"
                             "nodes:\n"
                             "  - {op: batchnorm, in: x, out: y}\n";
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.flags |= NTG_COMPILE_INFER_ONLY;
    ntg_plan *plan = NULL;
    ntg_error err;
    memset(&err, 0, sizeof err);
    cr_assert_eq(ntg_compile_string(bad, strlen(bad), "g.yaml", &o, &plan, &err), NTG_ERR_SHAPE,
                 "%s", err.message);
    cr_assert_eq(err.line, 8);
    cr_assert_eq(err.column, 10);
    cr_assert(strstr(err.message, "batchnorm: input [batch, 2, 3, 4] must be [batch, C] or "
                                  "[batch, C, L]"),
              "%s", err.message);
}
