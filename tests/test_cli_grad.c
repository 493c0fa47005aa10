/* test_cli_grad.c — `ntgraph grad` on plans with dropout (its masks drawn from --seed/--step
 * when the input file has no train.rng) and batchnorm (the batch's statistics, in a trainable
 * session), against values computed here. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cli_testutil.h"
#include "op_attrs.h"
#include "safetensors.h"

static void write_graph(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

/* x [b, n] (random) and t [b, m] (zeros), and train.rng when rng is not NULL. */
static void write_inputs(const char *path, int b, int n, int m, const float *rng, float *x)
{
    tu_rng r = {77};
    float *t = calloc((size_t)(b * m), sizeof *t);
    cr_assert(t);
    tu_fill(&r, x, (size_t)(b * n), -2, 2);
    int64_t xs[2] = {b, n}, ts[2] = {b, m}, rs[1] = {NTG_RNG_SIZE};
    ntg_st_out o[3] = {
        {"x", "F32", 2, xs, x}, {"t", "F32", 2, ts, t}, {"train.rng", "F32", 1, rs, rng}};
    ntg_error err;
    cr_assert_eq(ntg__st_write(path, o, rng ? 3 : 2, NULL, 0, &err), NTG_OK, "%s", err.message);
    free(t);
}

/* The value of tensor `name` of a safetensors file, element k. */
static double st_value(const char *path, const char *name, size_t k)
{
    ntg_st_file *f = NULL;
    ntg_error err;
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK, "%s", err.message);
    const ntg_st_tensor *t = ntg__st_find(f, name);
    cr_assert(t, "%s has no %s", path, name);
    float v;
    memcpy(&v, (const char *)t->data + 4 * k, 4);
    ntg__st_free(f);
    return (double)v;
}

static const char *dropout_graph = "ntgraph: 1\n"
                                   "name: d\n"
                                   "inputs:\n"
                                   "  x: [batch, 16]\n"
                                   "outputs:\n"
                                   "  y: [batch, 16]\n"
                                   "nodes:\n"
                                   "  - {op: dense, name: fc, in: x, out: h, units: 16}\n"
                                   "  - {op: dropout, in: h, out: y, p: 0.5}\n"
                                   "train:\n"
                                   "  loss: mse\n"
                                   "  seed: 5\n";

Test(cli_grad, dropout_masks_from_seed_and_step, .init = make_tmp, .fini = rm_tmp)
{
    write_graph(tmp("d.yaml"), dropout_graph);
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile %s -o %s", tmp("d.yaml"), tmp("d.plan")), 0, "%s", o);
    free(o);
    float x[8 * 16], w[NTG_RNG_SIZE];
    write_inputs(tmp("in.st"), 8, 16, 16, NULL, x);
    /* without train.rng: the plan's seed (5), step 1; then explicit seeds and steps */
    const char *runs[][2] = {{"", "g0.st"},
                             {"--seed 5 --step 1", "g1.st"},
                             {"--seed 6", "g2.st"},
                             {"--seed 5 --step 2", "g3.st"},
                             {"--seed 7 --step 3", "g4.st"}};
    for (int k = 0; k < 5; k++) {
        cr_assert_eq(sh(&o, "$NTG grad %s --in %s -o %s %s", tmp("d.plan"), tmp("in.st"),
                        tmp(runs[k][1]), runs[k][0]),
                     0, "%s", o);
        free(o);
    }
    double l0 = st_value(tmp("g0.st"), "loss", 0), l1 = st_value(tmp("g1.st"), "loss", 0);
    double l2 = st_value(tmp("g2.st"), "loss", 0), l3 = st_value(tmp("g3.st"), "loss", 0);
    cr_assert(l0 == l1, "default seed and step: %g vs %g", l0, l1);
    cr_assert(l0 != l2 && l0 != l3, "other masks, same loss: %g %g %g", l0, l2, l3);
    /* train.rng in the file wins, and is what --seed/--step draw */
    ntg__rng_fill(w, 7, 3, 0);
    write_inputs(tmp("in_rng.st"), 8, 16, 16, w, x);
    cr_assert_eq(sh(&o, "$NTG grad %s --in %s -o %s --seed 1", tmp("d.plan"), tmp("in_rng.st"),
                    tmp("g5.st")),
                 0, "%s", o);
    free(o);
    cr_assert(st_value(tmp("g5.st"), "loss", 0) == st_value(tmp("g4.st"), "loss", 0));
    cr_assert(st_value(tmp("g5.st"), "grad.fc.weight", 3) ==
              st_value(tmp("g4.st"), "grad.fc.weight", 3));
    cr_assert_eq(
        sh(&o, "$NTG grad %s --in %s -o %s --step 0", tmp("d.plan"), tmp("in.st"), tmp("g6.st")), 2,
        "%s", o);
    free(o);
}

static const char *bn_graph = "ntgraph: 1\n"
                              "name: b\n"
                              "inputs:\n"
                              "  x: [batch, 4]\n"
                              "outputs:\n"
                              "  y: [batch, 4]\n"
                              "nodes:\n"
                              "  - {op: batchnorm, name: bn, in: x, out: y}\n"
                              "train:\n"
                              "  loss: mse\n";

/* y = batchnorm(x) with weight 1, bias 0 and t = 0: in training form y_ij = (x_ij - m_j) /
 * sqrt(v_j + eps), so loss = mean_j v_j / (v_j + eps) and d loss / d weight_j =
 * 2 / (b * 4) sum_i y_ij^2 = (2 / 4) v_j / (v_j + eps). */
Test(cli_grad, batchnorm_uses_the_batch_statistics, .init = make_tmp, .fini = rm_tmp)
{
    write_graph(tmp("b.yaml"), bn_graph);
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile %s -o %s", tmp("b.yaml"), tmp("b.plan")), 0, "%s", o);
    free(o);
    float x[8 * 4];
    write_inputs(tmp("in.st"), 8, 4, 4, NULL, x);
    cr_assert_eq(sh(&o, "$NTG grad %s --in %s -o %s", tmp("b.plan"), tmp("in.st"), tmp("g.st")), 0,
                 "%s", o);
    free(o);
    double loss = 0, eps = 1e-5;
    for (int j = 0; j < 4; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < 8; i++) m += x[i * 4 + j] / 8.0;
        for (int i = 0; i < 8; i++) v += (x[i * 4 + j] - m) * (x[i * 4 + j] - m) / 8.0;
        loss += v / (v + eps) / 4;
        double gw = st_value(tmp("g.st"), "grad.bn.weight", (size_t)j);
        cr_assert(fabs(gw - 0.5 * v / (v + eps)) < 1e-5, "channel %d: %g vs %g", j, gw,
                  0.5 * v / (v + eps));
    }
    double got = st_value(tmp("g.st"), "loss", 0);
    cr_assert(fabs(got - loss) < 1e-5, "loss %g, the batch statistics give %g", got, loss);
    /* the plan is not changed: its running statistics stay the initial ones */
    cr_assert_eq(sh(&o, "$NTG grad %s --in %s -o %s", tmp("b.plan"), tmp("in.st"), tmp("g2.st")), 0,
                 "%s", o);
    free(o);
    cr_assert(st_value(tmp("g2.st"), "loss", 0) == got);
}
