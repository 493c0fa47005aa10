/* test_cli_weights.c — `weights export` and `compile --weights` carry what training made beyond
 * the parameters: conformal intervals (conformal.* metadata) and batchnorm's running
 * statistics. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cli_testutil.h"
#include "safetensors.h"

static void write_series(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "date,y\n");
    tu_rng r = {5};
    for (int t = 0; t < 2000; t++)
        fprintf(f, "%d,%.5f\n", t,
                20 + 5 * sin(6.283185307179586 * t / 24.0) + tu_uniform(&r, -1, 1));
    fclose(f);
}

#define DEFS "-D h=24 -D input_size=48 -D hidden=32"

Test(cli_weights, export_keeps_conformal_intervals, .init = make_tmp, .fini = rm_tmp)
{
    write_series(tmp("s.csv"));
    char *out, *a, *b;
    int rc = sh(&out,
                "$NTG train graphs/nhits.yaml --data %s " DEFS
                " --steps 20 --batch 16 --split 0.6,0.2,0.2 --conformal 0.8,0.95 -o %s",
                tmp("s.csv"), tmp("p.plan"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = sh(&out, "$NTG weights export %s -o %s", tmp("p.plan"), tmp("w.st"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = sh(&out, "$NTG compile graphs/nhits.yaml " DEFS " --infer-only --weights %s -o %s",
            tmp("w.st"), tmp("q.plan"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cr_assert_eq(sh(&a, "$NTG run %s --data %s", tmp("p.plan"), tmp("s.csv")), 0);
    cr_assert_eq(sh(&b, "$NTG run %s --data %s", tmp("q.plan"), tmp("s.csv")), 0, "%s", b);
    cr_assert(strncmp(b, "step,y,y-q0.025,y-q0.1,y-q0.9,y-q0.975\n", 39) == 0, "%s", b);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
}

static const char *bn_graph = "ntgraph: 1\n"
                              "name: bnf\n"
                              "inputs:\n"
                              "  x: [batch, 48]\n"
                              "outputs:\n"
                              "  y: [batch, 24]\n"
                              "nodes:\n"
                              "  - {op: dense, name: fc1, in: x, out: h, units: 16}\n"
                              "  - {op: batchnorm, name: bn, in: h, out: hn, momentum: 0.2}\n"
                              "  - {op: relu, in: hn, out: hr}\n"
                              "  - {op: dense, name: fc2, in: hr, out: y, units: 24}\n"
                              "train:\n"
                              "  loss: mse\n";

/* A trained batchnorm's running statistics leave with the weights and come back: the plan
 * recompiled from them forecasts what the trained one does. */
Test(cli_weights, export_keeps_batchnorm_statistics, .init = make_tmp, .fini = rm_tmp)
{
    write_series(tmp("s.csv"));
    FILE *g = fopen(tmp("bn.yaml"), "w");
    cr_assert(g);
    fputs(bn_graph, g);
    fclose(g);
    char *out, *a, *b;
    int rc = sh(&out, "$NTG train %s --data %s --steps 20 --batch 16 --split 0.6,0.2,0.2 -o %s",
                tmp("bn.yaml"), tmp("s.csv"), tmp("p.plan"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = sh(&out, "$NTG weights export %s -o %s", tmp("p.plan"), tmp("w.st"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = sh(&out, "$NTG compile %s --infer-only --weights %s -o %s", tmp("bn.yaml"), tmp("w.st"),
            tmp("q.plan"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cr_assert_eq(sh(&a, "$NTG run %s --data %s", tmp("p.plan"), tmp("s.csv")), 0);
    cr_assert_eq(sh(&b, "$NTG run %s --data %s", tmp("q.plan"), tmp("s.csv")), 0, "%s", b);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    /* statistics that are not finite are refused, named */
    ntg_st_file *w = NULL;
    ntg_error err;
    cr_assert_eq(ntg__st_load(tmp("w.st"), &w, &err), NTG_OK, "%s", err.message);
    size_t n = ntg__st_count(w);
    ntg_st_out *o = calloc(n, sizeof *o);
    void **bufs = calloc(n, sizeof *bufs);
    for (size_t i = 0; i < n; i++) {
        const ntg_st_tensor *t = ntg__st_get(w, i);
        bufs[i] = malloc((size_t)t->nbytes + 4);
        memcpy(bufs[i], t->data, (size_t)t->nbytes);
        if (strcmp(t->name, "bn.running_var") == 0) ((float *)bufs[i])[1] = NAN;
        o[i] = (ntg_st_out){t->name, t->dtype, t->rank, t->shape, bufs[i]};
    }
    cr_assert_eq(ntg__st_write(tmp("bad.st"), o, n, NULL, 0, &err), NTG_OK, "%s", err.message);
    for (size_t i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(o);
    ntg__st_free(w);
    rc = sh(&out, "$NTG compile %s --infer-only --weights %s -o %s", tmp("bn.yaml"), tmp("bad.st"),
            tmp("r.plan"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "bn.running_var") && strstr(out, "running statistics"), "%s", out);
    free(out);
}
