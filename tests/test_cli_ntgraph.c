/* test_cli_ntgraph.c — the ntgraph command end to end: the built binary, its files, exit codes. */
#include <criterion/criterion.h>
#include <string.h>

#include "cli_testutil.h"
#include "json.h"
#include "pool.h"
#include "safetensors.h"

TestSuite(cli, .init = make_tmp, .fini = rm_tmp);

#define SMALL "-D h=24 -D input_size=96 -D hidden=64"

Test(cli, help_and_unknown_command)
{
    char *o;
    cr_assert_eq(sh(&o, "$NTG --help"), 0);
    cr_assert(strstr(o, "usage: ntgraph [--version] [--help] <command> [<args>]"), "%s", o);
    cr_assert(strstr(o, "   compile "), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG compile --help"), 0);
    cr_assert(strstr(o, "usage: ntgraph compile GRAPH.yaml -o PLAN"), "%s", o);
    cr_assert(strstr(o, "--weights W.safetensors"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG help run"), 0);
    cr_assert(strstr(o, "usage: ntgraph run PLAN"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG frobnicate"), 2);
    cr_assert(strstr(o, "ntgraph: 'frobnicate' is not an ntgraph command"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml --bogus"), 2);
    cr_assert(strstr(o, "ntgraph compile: unknown option '--bogus'"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml"), 2);
    cr_assert(strstr(o, "missing -o PLAN"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG --version"), 0);
    cr_assert(strstr(o, "ntgraph 0."), "%s", o);
    free(o);
}

Test(cli, graph_error_exit_2_with_location)
{
    FILE *f = fopen(tmp("bad.yaml"), "w");
    fputs("ntgraph: 1\nname: bad\ninputs:\n  x: [batch, 4]\noutputs:\n  y: ~\nnodes:\n"
          "  - {op: maxpool, in: x, out: y, kernel: 2}\n",
          f);
    fclose(f);
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile %s -o %s", tmp("bad.yaml"), tmp("bad.plan")), 2);
    cr_assert(strstr(o, "bad.yaml:8:10: unknown op 'maxpool'; did you mean 'maxpool1d'?"), "%s", o);
    free(o);
    cr_assert_neq(access(tmp("bad.plan"), F_OK), 0, "no plan written on error");
    cr_assert_eq(sh(&o, "$NTG info %s", tmp("nonexistent.plan")), 2);
    free(o);
}

Test(cli, compile_info_json_and_text)
{
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " SMALL " --batch 32 -o %s", tmp("n.plan")),
                 0, "%s", o);
    cr_assert(strstr(o, "parameters"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG info %s", tmp("n.plan")), 0);
    cr_assert(strstr(o, "model:       nhits (kind nhits)"), "%s", o);
    cr_assert(strstr(o, "naive sum without reuse"), "%s", o);
    cr_assert(strstr(o, "crc32c"), "%s", o);
    cr_assert(strstr(o, "blocks.2.layers.7.weight"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG info --json %s", tmp("n.plan")), 0);
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *j = NULL;
    char msg[256];
    size_t off = 0;
    cr_assert_eq(ntg__json_parse(o, strlen(o), pool, &j, msg, sizeof msg, &off), NTG_OK,
                 "%s at %zu", msg, off);
    const ntg_json *mb = ntg__json_get(j, "max_batch");
    cr_assert(mb && (mb)->i64 == 32);
    cr_assert(ntg__json_get(j, "arena_bytes") && ntg__json_get(j, "naive_arena_bytes"));
    cr_assert(ntg__json_get(j, "arena_bytes")->i64 < ntg__json_get(j, "naive_arena_bytes")->i64);
    cr_assert(ntg__json_get(j, "sections") && ntg__json_get(j, "tensors"));
    ntg__pool_destroy(pool);
    free(o);
}

Test(cli, golden_run_weights_roundtrip)
{
    char *o;
    const char *golden = "tests/data/nhits_h24_small.safetensors";
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " SMALL " --weights %s -o %s", golden,
                    tmp("g.plan")),
                 0, "%s", o);
    cr_assert(strstr(o, "warning:") && strstr(o, "ignored") && strstr(o, "x, t, y, loss"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " SMALL " --weights %s --strict -o %s",
                    golden, tmp("s.plan")),
                 2);
    cr_assert(strstr(o, "match no parameter (--strict)"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run %s --in %s --out %s --backend cpu", tmp("g.plan"), golden,
                    tmp("y.safetensors")),
                 0, "%s", o);
    free(o);
    ntg_st_file *g = NULL, *y = NULL;
    ntg_error err;
    char gpath[2048];
    snprintf(gpath, sizeof gpath, "%s", tu_src(golden));
    cr_assert_eq(ntg__st_load(gpath, &g, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__st_load(tmp("y.safetensors"), &y, &err), NTG_OK, "%s", err.message);
    const ntg_st_tensor *want = ntg__st_find(g, "y"), *got = ntg__st_find(y, "y");
    cr_assert(want && got);
    cr_assert_eq(got->rank, 2);
    cr_assert_eq(got->shape[0], 4);
    cr_assert_eq(got->shape[1], 24);
    float a[96], b[96];
    memcpy(a, got->data, sizeof a);
    memcpy(b, want->data, sizeof b);
    cr_assert_leq(tu_max_abs_rel(a, b, 96), 1e-5);

    /* weights export gives back exactly the golden parameters */
    cr_assert_eq(sh(&o, "$NTG weights export %s -o %s", tmp("g.plan"), tmp("w.safetensors")), 0,
                 "%s", o);
    free(o);
    ntg_st_file *w = NULL;
    cr_assert_eq(ntg__st_load(tmp("w.safetensors"), &w, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__st_count(w), 30);
    for (size_t i = 0; i < ntg__st_count(w); i++) {
        const ntg_st_tensor *t = ntg__st_get(w, i), *r = ntg__st_find(g, t->name);
        cr_assert(r, "%s not in the golden file", t->name);
        cr_assert_eq(t->nbytes, r->nbytes);
        cr_assert_eq(memcmp(t->data, r->data, (size_t)t->nbytes), 0, "%s differs", t->name);
    }
    ntg__st_free(w);
    ntg__st_free(g);
    ntg__st_free(y);
}

Test(cli, run_data_csv_and_example_agree)
{
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " SMALL " -o %s", tmp("d.plan")), 0, "%s",
                 o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run %s --data data/ETTh1.csv --columns OT,HUFL --out %s",
                    tmp("d.plan"), tmp("f.csv")),
                 0, "%s", o);
    free(o);
    char *csv = tu_read_file(tmp("f.csv"), NULL);
    cr_assert(csv);
    cr_assert(strncmp(csv, "date,OT,HUFL\n2018-06-26 20:00:00,", 33) == 0, "%.80s", csv);
    int lines = 0;
    for (char *p = csv; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 25, "header + 24 forecast rows");
    free(csv);
    /* the embedding example, through ntgraph.h only, forecasts OT the same, and prints it
     * as run does; both warn that this compiled, untrained plan has no fitted scaler */
    char ex[2048];
    snprintf(ex, sizeof ex, "%s", tu_build("examples/forecast"));
    cr_assert_eq(sh(&o, "'%s' %s data/ETTh1.csv OT > %s", ex, tmp("d.plan"), tmp("ex.csv")), 0,
                 "%s", o);
    cr_assert(strstr(o, "has no fitted scaler"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run %s --data data/ETTh1.csv --columns OT > %s", tmp("d.plan"),
                    tmp("run.csv")),
                 0, "%s", o);
    cr_assert(strstr(o, "has no fitted scaler"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "cmp %s %s", tmp("ex.csv"), tmp("run.csv")), 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run %s --data data/ETTh1.csv --columns NOPE", tmp("d.plan")), 2);
    cr_assert(strstr(o, "has no column 'NOPE'"), "%s", o);
    free(o);
}

Test(cli, bench_json_keys)
{
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " SMALL " --batch 8 -o %s", tmp("b.plan")),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG bench %s --batch 8 --threads 1 --backend cpu --seconds 0.05 --json",
                    tmp("b.plan")),
                 0, "%s", o);
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *j = NULL;
    char msg[256];
    size_t off;
    cr_assert_eq(ntg__json_parse(o, strlen(o), pool, &j, msg, sizeof msg, &off), NTG_OK, "%s", o);
    const char *keys[] = {"program",   "backend", "batch",        "threads",
                          "median_us", "p90_us",  "windows_per_s"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        cr_assert(ntg__json_get(j, keys[k]), "no key %s in %s", keys[k], o);
    cr_assert_eq(ntg__json_get(j, "batch")->i64, 8);
    cr_assert_gt(ntg__json_get(j, "windows_per_s")->num, 0);
    cr_assert_leq(ntg__json_get(j, "median_us")->num, ntg__json_get(j, "p90_us")->num);
    ntg__pool_destroy(pool);
    free(o);
    cr_assert_eq(sh(&o, "$NTG bench %s --batch 9", tmp("b.plan")), 2);
    cr_assert(strstr(o, "above the plan's maximum batch 8"), "%s", o);
    free(o);
}

Test(cli, example_builds_against_installed_library)
{
    char *o;
    char build[2048], inst[600], exe[600];
    snprintf(build, sizeof build, "%s", tu_build(""));
    snprintf(inst, sizeof inst, "%s", tmp("inst"));
    snprintf(exe, sizeof exe, "%s", tmp("forecast"));
    char san[128] = "";
    if (getenv("NTG_SANITIZE")) snprintf(san, sizeof san, "-fsanitize=%s", getenv("NTG_SANITIZE"));
    int rc =
        sh(&o,
           "meson install -C '%s' --no-rebuild --quiet --destdir '%s' >/dev/null && "
           "pc=$(dirname $(find '%s' -name ntgraph.pc | head -1)) && "
           "flags=$(PKG_CONFIG_SYSROOT_DIR='%s' PKG_CONFIG_PATH=$pc pkg-config --cflags --libs "
           "ntgraph) && "
           "cc -std=c11 -Wall -Werror %s examples/forecast.c $flags -o '%s' && "
           "LD_LIBRARY_PATH=$(dirname $pc) '%s' 2>&1 | grep -q usage",
           build, inst, inst, inst, san, exe, exe);
    cr_assert_eq(rc, 0, "%s", o);
    free(o);
}

/* The first 1500 rows of ETTh1, for training runs that take seconds. */
static const char *etth1_slice(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s", tmp("etth1_slice.csv"));
    char *o;
    cr_assert_eq(sh(&o, "head -n 1501 data/ETTh1.csv > '%s'", path), 0, "%s", o);
    free(o);
    return path;
}

#define TINY "-D h=24 -D input_size=96 -D hidden=32"

Test(cli, train_eval_run_plot)
{
    const char *csv = etth1_slice();
    char plan[600], log[600], svg[600], fc[600];
    snprintf(plan, sizeof plan, "%s", tmp("t.plan"));
    snprintf(log, sizeof log, "%s", tmp("log.csv"));
    snprintf(svg, sizeof svg, "%s", tmp("f.svg"));
    snprintf(fc, sizeof fc, "%s", tmp("f.csv"));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' --columns all "
                    "--split 1000,250,250 --steps 30 --batch 32 --val-every 10 --seed 3 "
                    "--log-csv '%s' -o '%s'",
                    csv, log, plan),
                 0, "%s", o);
    /* in a pipe: only the summary */
    cr_assert(strncmp(o, "trained graphs/nhits.yaml: 30 steps", 35) == 0, "%s", o);
    cr_assert(strstr(o, "best val loss"), "%s", o);
    free(o);
    char *lg = tu_read_file(log, NULL);
    cr_assert(lg);
    cr_assert(strncmp(lg, "step,train_loss,val_loss,lr,windows_per_s,elapsed_s\n1,", 54) == 0,
              "%.80s", lg);
    int lines = 0;
    for (char *p = lg; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 31);
    free(lg);

    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' --split 1000,250,250 --json", plan, csv), 0,
                 "%s", o);
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *j = NULL;
    char msg[256];
    size_t off;
    cr_assert_eq(ntg__json_parse(o, strlen(o), pool, &j, msg, sizeof msg, &off), NTG_OK, "%s", o);
    cr_assert(ntg__json_is(ntg__json_get(j, "mse"), NTG_JSON_NUMBER), "%s", o);
    cr_assert(ntg__json_is(ntg__json_get(j, "mae"), NTG_JSON_NUMBER), "%s", o);
    double mse = ntg__json_get(j, "mse")->num;
    cr_assert(mse > 0 && mse < 5, "z-scored test MSE %g", mse);
    cr_assert(ntg__json_get(ntg__json_get(j, "columns"), "OT"), "%s", o);
    ntg__pool_destroy(pool);
    free(o);
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' --split 1000,250,250", plan, csv), 0);
    cr_assert(strstr(o, "MSE (z)") && strstr(o, "overall") && strstr(o, "MASE"), "%s", o);
    free(o);

    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns OT,HUFL --out '%s' --plot '%s'", plan,
                    csv, fc, svg),
                 0, "%s", o);
    free(o);
    char *f = tu_read_file(fc, NULL);
    cr_assert(f);
    /* the slice ends at 2016-09-01 11:00; the forecast continues hourly */
    cr_assert(strncmp(f, "date,OT,HUFL\n2016-09-01 12:00:00,", 33) == 0, "%.60s", f);
    /* original units: OT (oil temperature, degrees) is far from its z-score near 0 */
    double v = strtod(strchr(strchr(f, '\n') + 1, ',') + 1, NULL);
    cr_assert(v > 5 && v < 60, "first forecast %g is not in degrees", v);
    free(f);
    char *s = tu_read_file(svg, NULL);
    cr_assert(s, "no SVG written");
    cr_assert(strstr(s, "<svg") && strstr(s, "</svg>"), "not an SVG document");
    cr_assert(strstr(s, ">OT<") && strstr(s, ">HUFL<"), "the panels are not labelled");
    /* one history and one forecast line per column */
    int hist = 0, fcl = 0;
    for (const char *p = s; (p = strstr(p, "<polyline class=\"")); p++) {
        hist += strncmp(p + 17, "history\"", 8) == 0;
        fcl += strncmp(p + 17, "forecast\"", 9) == 0;
    }
    cr_assert_eq(hist, 2);
    cr_assert_eq(fcl, 2);
    free(s);
    /* well-formed XML (xmllint comes with scripts/setup) */
    cr_assert_eq(sh(&o, "xmllint --noout '%s'", svg), 0, "%s", o);
    free(o);
}

/* --stop-at stops as a preemption would: a checkpoint of that step, no model in the store,
 * and --resume ends bitwise where the uninterrupted run ends (same steps, same LR schedule) */
Test(cli, stop_at_then_resume_is_the_uninterrupted_run)
{
    const char *csv = etth1_slice();
    char ck[600], u[600], r[600], fu[600], fr[600];
    snprintf(ck, sizeof ck, "%s", tmp("stop_ck"));
    snprintf(u, sizeof u, "%s", tmp("whole.plan"));
    snprintf(r, sizeof r, "%s", tmp("resumed.plan"));
    snprintf(fu, sizeof fu, "%s", tmp("whole.csv"));
    snprintf(fr, sizeof fr, "%s", tmp("resumed.csv"));
#define STOPARGS                                                                                   \
    "graphs/nhits_brief.yaml " TINY " --data '%s' --split 1000,250,250 --steps 30 --batch 16 "     \
    "--lr-decays 2 --val-every 0 --seed 7 --backend cpu --threads 1"
    char *o;
    cr_assert_eq(sh(&o, "$NTG train " STOPARGS " -o '%s'", csv, u), 0, "%s", o);
    free(o);
    cr_assert_eq(
        sh(&o, "$NTG train " STOPARGS " --checkpoint-dir '%s' --stop-at 12 -o '%s'", csv, ck, r), 0,
        "%s", o);
    cr_assert(strstr(o, ": 12 steps in") && strstr(o, "stopped after step 12 as --stop-at asked "
                                                      "(--resume continues)"),
              "%s", o);
    free(o);
    cr_assert_eq(
        sh(&o, "$NTG train " STOPARGS " --checkpoint-dir '%s' --resume -o '%s'", csv, ck, r), 0,
        "%s", o);
    cr_assert(strstr(o, ": 30 steps in") && strstr(o, "resumed from step 12"), "%s", o);
    free(o);
    /* the same forecasts to the last digit printed (%.9g: every float bit) */
    cr_assert_eq(sh(&o,
                    "$NTG run '%s' --data '%s' --out '%s' && $NTG run '%s' --data '%s' --out "
                    "'%s' && cmp '%s' '%s'",
                    u, csv, fu, r, csv, fr, fu, fr),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG train " STOPARGS " --stop-at 0 -o '%s'", csv, r), 2, "%s", o);
    cr_assert(strstr(o, "--stop-at"), "%s", o);
    free(o);
#undef STOPARGS
}

Test(cli, quantile_model_writes_quantile_columns)
{
    const char *csv = etth1_slice();
    char plan[600];
    snprintf(plan, sizeof plan, "%s", tmp("mq.plan"));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits_mq.yaml " TINY " --data '%s' --columns OT "
                    "--split 1000,250,250 --steps 10 --batch 16 --val-every 0 -o '%s'",
                    csv, plan),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns OT", plan, csv), 0, "%s", o);
    cr_assert(strncmp(o, "date,OT,OT-q0.1,OT-q0.9\n", 24) == 0, "%.60s", o);
    free(o);
}

Test(cli, grad_matches_golden)
{
    const char *golden = "tests/data/nhits_h24_small.safetensors";
    char plan[600], out[600];
    snprintf(plan, sizeof plan, "%s", tmp("gr.plan"));
    snprintf(out, sizeof out, "%s", tmp("grads.safetensors"));
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " SMALL " --loss mse --weights %s -o '%s'",
                    golden, plan),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG grad '%s' --in %s --out '%s'", plan, golden, out), 0, "%s", o);
    free(o);
    ntg_st_file *g = NULL, *r = NULL;
    ntg_error err;
    char gpath[2048];
    snprintf(gpath, sizeof gpath, "%s", tu_src(golden));
    cr_assert_eq(ntg__st_load(gpath, &g, &err), NTG_OK);
    cr_assert_eq(ntg__st_load(out, &r, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__st_count(r), 31, "loss + 30 gradients");
    for (size_t i = 0; i < ntg__st_count(r); i++) {
        const ntg_st_tensor *t = ntg__st_get(r, i), *w = ntg__st_find(g, t->name);
        cr_assert(w, "%s not in the golden file", t->name);
        size_t n = (size_t)t->nbytes / 4;
        float *a = malloc(n * 4), *b = malloc(n * 4);
        memcpy(a, t->data, n * 4);
        memcpy(b, w->data, n * 4);
        cr_assert_leq(tu_max_abs_rel(a, b, n), 1e-4, "%s", t->name);
        free(a);
        free(b);
    }
    ntg__st_free(g);
    ntg__st_free(r);
    cr_assert_eq(sh(&o, "$NTG grad '%s' --in %s", plan, golden), 2);
    cr_assert(strstr(o, "needs --in and --out"), "%s", o);
    free(o);
}
