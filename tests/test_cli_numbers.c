/* test_cli_numbers.c — the ntgraph command refuses numbers that are garbage instead of
 * printing them as results: huge values, bad dates, non-finite weights, repeated columns,
 * quantile labels, settings that do nothing; and its help and info say what is true. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "backend.h"
#include "cli_testutil.h"
#include "safetensors.h"

TestSuite(cli, .init = make_tmp, .fini = rm_tmp);

#define TINY "-D h=24 -D input_size=96 -D hidden=32"
#define SPLIT "--split 1000,250,250"

/* The first 1500 rows of ETTh1 (hourly, 2016-07-01 00:00 to 2016-09-01 11:00). */
static const char *etth1_slice(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s", tmp("etth1_slice.csv"));
    char *o;
    cr_assert_eq(sh(&o, "head -n 1501 data/ETTh1.csv > '%s'", path), 0, "%s", o);
    free(o);
    return path;
}

/* A copy of the slice with field `field` of file line `line` replaced by `value`. */
static const char *edited_slice(const char *name, int line, int field, const char *value)
{
    static char path[4][600];
    static int k;
    char *p = path[k++ & 3];
    snprintf(p, 600, "%s", tmp(name));
    const char *src = etth1_slice();
    char *o;
    cr_assert_eq(
        sh(&o, "awk -F, -v OFS=, 'NR==%d{$%d=\"%s\"}1' '%s' > '%s'", line, field, value, src, p), 0,
        "%s", o);
    free(o);
    return p;
}

/* A tiny N-HiTS trained for a few steps on the slice. */
static const char *trained_plan(void)
{
    static char plan[600];
    snprintf(plan, sizeof plan, "%s", tmp("t.plan"));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --steps 5 --batch 16 --val-every 0 -o '%s'",
                    etth1_slice(), plan),
                 0, "%s", o);
    free(o);
    return plan;
}

Test(cli, a_column_chosen_twice_is_refused)
{
    const char *plan = trained_plan(), *csv = etth1_slice();
    char *o;
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' " SPLIT " --columns OT,HUFL,OT", plan, csv), 2,
                 "%s", o);
    cr_assert(strstr(o, "ntgraph eval: error: columns 'OT,HUFL,OT': 'OT' is chosen twice"), "%s",
              o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns OT,OT", plan, csv), 2, "%s", o);
    cr_assert(strstr(o, "'OT' is chosen twice"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --columns OT,OT --steps 2 -o '%s'",
                    csv, tmp("twice.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "'OT' is chosen twice"), "%s", o);
    free(o);
    cr_assert_neq(access(tmp("twice.plan"), F_OK), 0, "no plan written on error");
}

/* ±1e300 is a finite double, but no float32 model can take it: train, eval and run all
 * refuse it (exit 2), each naming the column, the row and its date, where eval and run
 * used to print inf/nan metrics and forecasts with exit 0. */
Test(cli, huge_values_are_refused_by_train_eval_and_run)
{
    const char *plan = trained_plan();
    /* file line 1400 is data row 1399 (test rows), line 1490 is in run's last 96 rows,
     * line 1100 in the validation rows */
    const char *test_row = edited_slice("huge_test.csv", 1400, 8, "1e300");
    const char *last_row = edited_slice("huge_last.csv", 1490, 8, "-1e300");
    const char *val_row = edited_slice("huge_val.csv", 1100, 8, "1e300");
    char *o;
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' " SPLIT, plan, test_row), 2, "%s", o);
    cr_assert(strstr(o, "ntgraph eval: error: column 'OT', row 1399 (2016-08-28 06:00:00): 1e+300 "
                        "is 1.9"),
              "%s", o);
    cr_assert(strstr(o, "beyond the float32 range a model computes in"), "%s", o);
    cr_assert_null(strstr(o, "nan"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' " SPLIT " --json", plan, test_row), 2, "%s", o);
    cr_assert_null(strstr(o, "\"mse\""), "no scores printed: %s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns OT", plan, last_row), 2, "%s", o);
    cr_assert(strstr(o, "ntgraph run: error: column 'OT', row 1489 (2016-09-01 00:00:00): -1e+300"),
              "%s", o);
    cr_assert_null(strstr(o, "inf\n"), "%s", o);
    free(o);
    /* train reads the train and validation rows: refused the same way, before any step */
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --steps 5 --batch 16 --val-every 5 -o '%s'",
                    val_row, tmp("v.plan")),
                 2, "%s", o);
    cr_assert(
        strstr(o, "ntgraph train: error: column 'OT', row 1099 (2016-08-15 18:00:00): 1e+300"),
        "%s", o);
    free(o);
    /* in the train rows the scaler's variance overflows first: the row is named too */
    const char *train_row = edited_slice("huge_train.csv", 10, 8, "1e300");
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --steps 5 --batch 16 -o '%s'",
                    train_row, tmp("v.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "column 'OT': the train values overflow a double when averaged: row 9 "
                        "(2016-07-01 08:00:00) holds 1e+300"),
              "%s", o);
    free(o);
    /* without a global scaler the raw value must fit a float itself */
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --scaler none --steps 5 --batch 16 -o '%s'",
                    val_row, tmp("v.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "row 1099 (2016-08-15 18:00:00): 1e+300 is beyond the float32 range"), "%s",
              o);
    free(o);
}

/* Values a float holds can still overflow a model: its forecast is refused, not printed. */
Test(cli, a_forecast_that_overflows_is_refused)
{
    char *o;
    char plan[600];
    snprintf(plan, sizeof plan, "%s", tmp("u.plan"));
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " TINY " -o '%s'", plan), 0, "%s", o);
    free(o);
    /* an untrained plan sees raw values: 3e38 fits a float, its products do not */
    char csv[600];
    snprintf(csv, sizeof csv, "%s", tmp("big.csv"));
    cr_assert_eq(sh(&o, "awk -F, -v OFS=, 'NR>1400{$8=\"3e38\"}1' '%s' > '%s'", etth1_slice(), csv),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns OT", plan, csv), 2, "%s", o);
    cr_assert(strstr(o, "ntgraph run: error: column 'OT': the forecast from row 1405 "
                        "(2016-08-28 12:00:00) to row 1500 (2016-09-01 11:00:00) is "),
              "%s", o);
    cr_assert(strstr(o, "the model overflowed on these values"), "%s", o);
    free(o);
}

/* Dates that go back, repeat or are not dates stop train, eval and run at the line (exit
 * 2) instead of dating forecasts from them; --dates loose reads the column as it is. */
Test(cli, bad_dates_are_refused_unless_loose)
{
    const char *plan = trained_plan();
    const char *back = edited_slice("back.csv", 50, 1, "2016-07-01 00:00:00");
    const char *invalid = edited_slice("invalid.csv", 700, 1, "2016-07-29 25:00:00");
    char *o;
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns OT", plan, back), 2, "%s", o);
    cr_assert(strstr(o, "ntgraph run: error: ") && strstr(o, "back.csv:50:1: date column 'date': "
                                                             "'2016-07-01 00:00:00' goes back in "
                                                             "time from '2016-07-02 23:00:00' on "
                                                             "line 49"),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' " SPLIT, plan, invalid), 2, "%s", o);
    cr_assert(strstr(o, "invalid.csv:700:1: date column 'date': '2016-07-29 25:00:00' is not a "
                        "valid time stamp like line 2's '2016-07-01 00:00:00'"),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --steps 2 --batch 16 -o '%s'",
                    back, tmp("b.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "back.csv:50:1:"), "%s", o);
    free(o);
    /* the explicit way through: the forecast still continues the last date */
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns OT --dates loose", plan, back), 0,
                 "%s", o);
    cr_assert(strncmp(o, "date,OT\n2016-09-01 12:00:00,", 28) == 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --dates sloppy", plan, back), 2, "%s", o);
    cr_assert(strstr(o, "unknown dates mode 'sloppy' (expected strict or loose)"), "%s", o);
    free(o);
}

/* Weights exported from a plan, with one value replaced. */
static void write_weights_with(const char *from, const char *to, const char *tensor, size_t at,
                               float value)
{
    ntg_st_file *f = NULL;
    ntg_error err;
    cr_assert_eq(ntg__st_load(from, &f, &err), NTG_OK, "%s", err.message);
    size_t n = ntg__st_count(f);
    ntg_st_out *t = calloc(n, sizeof *t);
    void **copies = calloc(n, sizeof *copies);
    cr_assert(t && copies);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const ntg_st_tensor *s = ntg__st_get(f, i);
        copies[i] = malloc((size_t)s->nbytes + 1);
        cr_assert(copies[i]);
        memcpy(copies[i], s->data, (size_t)s->nbytes);
        if (strcmp(s->name, tensor) == 0) {
            cr_assert_lt(at, (size_t)s->nbytes / 4);
            memcpy((char *)copies[i] + at * 4, &value, 4);
            found = 1;
        }
        t[i] = (ntg_st_out){s->name, s->dtype, s->rank, s->shape, copies[i]};
    }
    cr_assert(found, "no tensor %s", tensor);
    cr_assert_eq(ntg__st_write(to, t, n, NULL, 0, &err), NTG_OK, "%s", err.message);
    for (size_t i = 0; i < n; i++) free(copies[i]);
    free(copies);
    free(t);
    ntg__st_free(f);
}

/* A NaN or inf weight made every forecast NaN; compile --weights now refuses it by name. */
Test(cli, compile_refuses_weights_that_are_not_finite)
{
    char plan[600], w[600], bad[600];
    snprintf(plan, sizeof plan, "%s", tmp("w.plan"));
    snprintf(w, sizeof w, "%s", tmp("w.safetensors"));
    snprintf(bad, sizeof bad, "%s", tmp("bad.safetensors"));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG compile graphs/nhits.yaml " TINY " -o '%s' && $NTG weights export "
                    "'%s' -o '%s'",
                    plan, plan, w),
                 0, "%s", o);
    free(o);
    /* the exported weights go back in */
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " TINY " --weights '%s' -o '%s'", w, plan),
                 0, "%s", o);
    free(o);
    const float nan = NAN, inf = INFINITY;
    write_weights_with(w, bad, "blocks.1.layers.3.weight", 37, nan);
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " TINY " --weights '%s' -o '%s'", bad,
                    tmp("bad.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "ntgraph compile: error: ") &&
                  strstr(o, "bad.safetensors: tensor 'blocks.1.layers.3.weight' holds NaN at "
                            "element 37 of 1024: parameter values must be finite"),
              "%s", o);
    free(o);
    cr_assert_neq(access(tmp("bad.plan"), F_OK), 0, "no plan written");
    write_weights_with(w, bad, "blocks.0.layers.0.bias", 0, -inf);
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " TINY " --weights '%s' -o '%s'", bad,
                    tmp("bad.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "tensor 'blocks.0.layers.0.bias' holds -inf at element 0 of 32"), "%s", o);
    free(o);
}

/* Early stopping counts validations: --patience without any validation silently did
 * nothing; now it is refused before training (exit 2), whichever way validation is off. */
Test(cli, patience_without_validation_is_refused)
{
    const char *csv = etth1_slice();
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --steps 5 --batch 16 --val-every 0 --patience 3 -o '%s'",
                    csv, tmp("p.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "ntgraph train: error: patience 3 stops after validations without "
                        "improvement, but val_every is 0: nothing is ever validated"),
              "%s", o);
    cr_assert_null(strstr(o, "trained "), "%s", o);
    free(o);
    cr_assert_neq(access(tmp("p.plan"), F_OK), 0, "no plan written");
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' --split 1250,0,250"
                    " --steps 5 --batch 16 -T patience=2 -o '%s'",
                    csv, tmp("p.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "but the split has no validation rows"), "%s", o);
    free(o);
    /* with validation it is what it says */
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --steps 5 --batch 16 --val-every 1 --patience 3 -o '%s'",
                    csv, tmp("p.plan")),
                 0, "%s", o);
    free(o);
}

/* With clipping on, train_step computes the global gradient norm: --log-csv writes it (a
 * grad_norm column, the norm before clipping); without clipping the log is as before. */
Test(cli, log_csv_has_grad_norm_when_clipping)
{
    const char *csv = etth1_slice();
    char log[600];
    snprintf(log, sizeof log, "%s", tmp("log.csv"));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --steps 6 --batch 16 --val-every 3 -T clip=0.05 --log-csv '%s' -o '%s'",
                    csv, log, tmp("c.plan")),
                 0, "%s", o);
    free(o);
    char *lg = tu_read_file(log, NULL);
    cr_assert(lg);
    const char *head = "step,train_loss,val_loss,lr,windows_per_s,elapsed_s,grad_norm\n";
    cr_assert(strncmp(lg, head, strlen(head)) == 0, "%.120s", lg);
    int rows = 0;
    for (char *line = strchr(lg, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        /* the 7th field: a positive norm, above the clip (these weights' gradients are) */
        char *f = line;
        for (int k = 0; k < 6; k++) f = strchr(f, ',') + 1;
        double gn = strtod(f, NULL);
        cr_assert(gn > 0.05 && isfinite(gn), "grad_norm %g in: %.100s", gn, line);
        rows++;
    }
    cr_assert_eq(rows, 6);
    free(lg);
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --steps 2 --batch 16 --val-every 0 --log-csv '%s' -o '%s'",
                    csv, log, tmp("c.plan")),
                 0, "%s", o);
    free(o);
    lg = tu_read_file(log, NULL);
    cr_assert(strncmp(lg, "step,train_loss,val_loss,lr,windows_per_s,elapsed_s\n1,", 54) == 0,
              "%.80s", lg);
    free(lg);
}

/* `info --help` says it prints the metadata: the text shows the training settings, the
 * run's summary and the fitted scaler (they were only in --json). */
Test(cli, info_text_shows_scaler_and_training_summary)
{
    const char *csv = etth1_slice();
    char plan[600];
    snprintf(plan, sizeof plan, "%s", tmp("i.plan"));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --columns OT,HUFL --steps 6 --batch 16 --val-every 3 --seed 4 -o '%s'",
                    csv, plan),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG info --help"), 0);
    cr_assert(strstr(o, "the fitted scaler") && strstr(o, "the run's summary"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG info '%s'", plan), 0, "%s", o);
    cr_assert(strstr(o, "\ntrain:       loss=mae "), "%s", o);
    cr_assert(strstr(o, " batch=16") && strstr(o, " seed=4") &&
                  strstr(o, "split_rows=1000,250,250"),
              "%s", o);
    cr_assert(strstr(o, "\ntrained:     6 steps in "), "%s", o);
    cr_assert(strstr(o, ", best val loss ") && strstr(o, " at step "), "%s", o);
    cr_assert(strstr(o, "\nscaler:      zscore, fitted on the train rows of 2 columns; per-window "
                        "scaler standard\n"),
              "%s", o);
    /* OT's mean and std over the first 1000 rows, as `info --json` stores them */
    cr_assert(strstr(o, "\n             OT               mean 33.8"), "%s", o);
    cr_assert(strstr(o, "\n             HUFL             mean "), "%s", o);
    cr_assert(strstr(o, "\nmetadata:    compile.max_batch=256\n"), "%s", o);
    free(o);
}

/* --backend's help lists the backends this build has (the registry `ntgraph backends`
 * prints), not a fixed "auto, cpu"; bench --program names every program a plan can have. */
Test(cli, help_lists_the_backends_and_programs_there_are)
{
    size_t nb;
    const ntg_backend_class *const *all = ntg__backends(&nb);
    const char *const cmds[] = {"train", "eval", "run", "grad", "bench"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *o;
        cr_assert_eq(sh(&o, "$NTG %s --help | grep -e '--backend B'", cmds[i]), 0, "%s", o);
        cr_assert(strstr(o, "backend: auto (default), "), "%s: %s", cmds[i], o);
        for (size_t k = 0; k < nb; k++)
            cr_assert(strstr(o, all[k]->name), "%s --help does not list backend %s: %s", cmds[i],
                      all[k]->name, o);
        cr_assert_null(strstr(o, "{backends}"), "%s", o);
        free(o);
    }
    char *o;
    cr_assert_eq(sh(&o, "$NTG bench --help"), 0);
    cr_assert(strstr(o, "program to time: infer (default), eval, grad, train_step, apply"), "%s",
              o);
    free(o);
    char plan[600];
    snprintf(plan, sizeof plan, "%s", tmp("g.plan"));
    cr_assert_eq(sh(&o,
                    "$NTG compile graphs/nhits.yaml " TINY " --batch 8 -o '%s' && $NTG bench '%s' "
                    "--program grad --batch 4 --seconds 0.05 --backend cpu --json",
                    plan, plan),
                 0, "%s", o);
    cr_assert(strstr(o, "\"program\":\"grad\""), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG bench '%s' --program gradient --seconds 0.05", plan), 2, "%s", o);
    cr_assert(strstr(o, "the plan has no program 'gradient' (it has infer, eval, grad, train_step, "
                        "apply)"),
              "%s", o);
    free(o);
}

/* examples/forecast.c forecasts from memory through ntg_forecaster_run and prints what
 * `ntgraph run --data --columns C` prints, byte for byte, on a trained plan (the old
 * example printed the model's scaled space: 8.64 where run printed 9.36). */
Test(cli, the_embedding_example_prints_what_run_data_prints)
{
    const char *csv = etth1_slice();
    char plan[600], ex[600], *o;
    snprintf(plan, sizeof plan, "%s", tmp("brief.plan"));
    snprintf(ex, sizeof ex, "%s", tu_build("examples/forecast"));
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits_brief.yaml " TINY " --data '%s' " SPLIT
                    " --steps 5 --batch 16 --val-every 0 -o '%s'",
                    csv, plan),
                 0, "%s", o);
    free(o);
    const char *cols[] = {"OT", "HUFL"};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns %s > '%s'", plan, csv, cols[k],
                        tmp("run.csv")),
                     0, "%s", o);
        free(o);
        cr_assert_eq(sh(&o, "'%s' '%s' '%s' %s > '%s'", ex, plan, csv, cols[k], tmp("ex.csv")), 0,
                     "%s", o);
        free(o);
        cr_assert_eq(
            sh(&o, "cmp '%s' '%s' && wc -l < '%s'", tmp("run.csv"), tmp("ex.csv"), tmp("ex.csv")),
            0, "%s", o);
        cr_assert_eq(atoi(o), 25, "a header and 24 steps: %s", o);
        free(o);
    }
    cr_assert_eq(sh(&o, "head -2 '%s'", tmp("ex.csv")), 0);
    cr_assert(strstr(o, "date,HUFL\n2016-09-01 12:00:00,"), "%s", o);
    free(o);
    /* a window shorter than the model reads is named */
    cr_assert_eq(sh(&o, "head -n 51 data/ETTh1.csv > '%s' && '%s' '%s' '%s' OT", tmp("short.csv"),
                    ex, plan, tmp("short.csv")),
                 2, "%s", o);
    cr_assert(strstr(o, "window 0 (column 'OT'): 50 values, but the model reads the last 96"), "%s",
              o);
    free(o);
}

/* `weights export` then `compile --weights` keeps what training fitted: the scaler travels
 * in the file's __metadata__, so the recompiled (batch 1, infer-only) plan forecasts the
 * same original units; before, it silently lost the scaler and printed other numbers. */
Test(cli, the_scaler_survives_weights_export_and_compile_weights)
{
    const char *plan = trained_plan(), *csv = etth1_slice();
    char w[600], w2[600], re[600], *o;
    snprintf(w, sizeof w, "%s", tmp("w.safetensors"));
    snprintf(w2, sizeof w2, "%s", tmp("w2.safetensors"));
    snprintf(re, sizeof re, "%s", tmp("re.plan"));
    cr_assert_eq(sh(&o,
                    "$NTG weights export '%s' -o '%s' && $NTG compile graphs/nhits.yaml " TINY
                    " --weights '%s' --batch 1 --infer-only -o '%s'",
                    plan, w, w, re),
                 0, "%s", o);
    free(o);
    ntg_st_file *f = NULL;
    ntg_error err;
    cr_assert_eq(ntg__st_load(w, &f, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg__st_meta(f, "scaler.kind"), "zscore");
    cr_assert_str_eq(ntg__st_meta(f, "scaler.window"), "standard");
    cr_assert_str_eq(ntg__st_meta(f, "trained.steps"), "5");
    cr_assert_null(ntg__st_meta(f, "train.lr"), "only what training fitted travels");
    cr_assert_eq(sh(&o, "$NTG info '%s'", re), 0, "%s", o);
    cr_assert(strstr(o, "scaler:      zscore, fitted on the train rows of 7 columns"), "%s", o);
    free(o);
    cr_assert_eq(
        sh(&o, "$NTG run '%s' --data '%s' --columns OT,HUFL > '%s'", plan, csv, tmp("a.csv")), 0,
        "%s", o);
    cr_assert(!strstr(o, "warning"), "a trained plan has its scaler: %s", o);
    free(o);
    cr_assert_eq(
        sh(&o, "$NTG run '%s' --data '%s' --columns OT,HUFL > '%s'", re, csv, tmp("b.csv")), 0,
        "%s", o);
    cr_assert(!strstr(o, "warning"), "the recompiled plan kept it: %s", o);
    free(o);
    cr_assert_eq(sh(&o, "cmp '%s' '%s'", tmp("a.csv"), tmp("b.csv")), 0, "%s", o);
    free(o);

    /* a scaler in the metadata that does not hold together is refused, naming the file */
    size_t n = ntg__st_count(f), nm = ntg__st_meta_count(f);
    ntg_st_out *t = calloc(n, sizeof *t);
    const char **meta = calloc(2 * nm, sizeof *meta);
    cr_assert(t && meta);
    for (size_t i = 0; i < n; i++) {
        const ntg_st_tensor *s = ntg__st_get(f, i);
        t[i] = (ntg_st_out){s->name, s->dtype, s->rank, s->shape, s->data};
    }
    for (size_t i = 0; i < nm; i++) {
        ntg__st_meta_at(f, i, &meta[2 * i], &meta[2 * i + 1]);
        if (strcmp(meta[2 * i], "scaler.std") == 0) meta[2 * i + 1] = "[1, 2]";
    }
    cr_assert_eq(ntg__st_write(w2, t, n, meta, nm, &err), NTG_OK, "%s", err.message);
    free(t);
    free(meta);
    ntg__st_free(f);
    cr_assert_eq(sh(&o,
                    "$NTG compile graphs/nhits.yaml " TINY " --weights '%s' --infer-only -o '%s'",
                    w2, tmp("bad.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "w2.safetensors: the fitted scaler in the metadata: metadata: 7 scaler "
                        "columns but 7 means and 2 stds"),
              "%s", o);
    free(o);
}

/* A plan without a fitted scaler on raw data says so, once per run (not per column). */
Test(cli, run_data_without_a_scaler_warns_once)
{
    const char *csv = etth1_slice();
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile graphs/nhits.yaml " TINY " -o '%s'", tmp("u.plan")), 0, "%s",
                 o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns OT,HUFL,HULL > '%s'", tmp("u.plan"),
                    csv, tmp("f.csv")),
                 0, "%s", o);
    const char *want = "ntgraph run: warning: ";
    const char *first = strstr(o, want);
    cr_assert(first, "%s", o);
    cr_assert_null(strstr(first + 1, want), "once: %s", o);
    cr_assert(strstr(o, "u.plan has no fitted scaler: the values of"), "%s", o);
    free(o);
}
