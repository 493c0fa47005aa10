/* test_cli_exog.c — `ntgraph train --hist-exog/--futr-exog/--static` and `run --futr-data`:
 * a model with covariates end to end, and the errors (exit status 2) naming what is wrong. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cli_testutil.h"

TestSuite(cli_exog, .init = make_tmp, .fini = rm_tmp);

static const char *graph =
    "ntgraph: 1\n"
    "name: exog_dense\n"
    "hparams: {h: 3, input_size: 8}\n"
    "inputs:\n"
    "  x: [batch, input_size]\n"
    "  hist_exog: [batch, 1, input_size]\n"
    "  futr_exog: [batch, 2, input_size + h]\n"
    "  stat_exog: [batch, 2]\n"
    "outputs:\n"
    "  y: [batch, h]\n"
    "nodes:\n"
    "  - {op: reshape, in: hist_exog, out: hf, shape: [batch, input_size]}\n"
    "  - {op: reshape, in: futr_exog, out: ff, shape: \"[batch, 2 * (input_size + h)]\"}\n"
    "  - {op: concat, in: [x, hf, ff, stat_exog], out: z, axis: 1}\n"
    "  - {op: dense, in: z, out: y, units: h}\n";

/* graph.yaml, data.csv (240 hourly rows: y, load, temp), future.csv (3 rows of temp),
 * short.csv (2 rows) and static.csv (rows for y and load) */
static void files(void)
{
    FILE *f = fopen(tmp("graph.yaml"), "w");
    cr_assert(f);
    fputs(graph, f);
    fclose(f);
    f = fopen(tmp("data.csv"), "w");
    cr_assert(f);
    fprintf(f, "date,y,load,temp\n");
    for (int r = 0; r < 240; r++)
        fprintf(f, "2016-07-%02d %02d:00:00,%d,%d,%d\n", 1 + r / 24, r % 24, r % 24, r % 7,
                10 + r % 5);
    fclose(f);
    f = fopen(tmp("future.csv"), "w");
    cr_assert(f);
    fprintf(f, "date,temp\n2016-07-11 00:00:00,11\n2016-07-11 01:00:00,12\n"
               "2016-07-11 02:00:00,13\n");
    fclose(f);
    f = fopen(tmp("short.csv"), "w");
    cr_assert(f);
    fprintf(f, "date,temp\n2016-07-11 00:00:00,11\n2016-07-11 01:00:00,12\n");
    fclose(f);
    f = fopen(tmp("static.csv"), "w");
    cr_assert(f);
    fprintf(f, "unique_id,area,height\ny,2.5,1\nload,3,2\n");
    fclose(f);
}

#define TRAIN "$NTG train '%s' --data '%s' --split 160,40,40 --steps 10 --batch 8 "

Test(cli_exog, train_and_run_with_covariates)
{
    files();
    char *o;
    cr_assert_eq(sh(&o,
                    TRAIN
                    "--columns y --hist-exog load:robust --futr-exog temp,calendar:hour_of_day "
                    "--static '%s' -o '%s'",
                    tmp("graph.yaml"), tmp("data.csv"), tmp("static.csv"), tmp("p.plan")),
                 0, "%s", o);
    free(o);
    /* the future values are needed for the horizon */
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns y", tmp("p.plan"), tmp("data.csv")),
                 2);
    cr_assert(strstr(o, "future covariates: column 'temp' has no values for the horizon (give "
                        "them as the next 3 rows in a future file: --futr-data)"),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns y --futr-data '%s'", tmp("p.plan"),
                    tmp("data.csv"), tmp("short.csv")),
                 2);
    cr_assert(strstr(o, "future covariates: column 'temp' has 2 rows, the horizon needs 3 (row 3 "
                        "is missing)"),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns y --futr-data '%s'", tmp("p.plan"),
                    tmp("data.csv"), tmp("future.csv")),
                 0, "%s", o);
    cr_assert(strncmp(o, "date,y\n2016-07-11 00:00:00,", 27) == 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' --split 160,40,40 --columns y", tmp("p.plan"),
                    tmp("data.csv")),
                 0, "%s", o);
    free(o);
}

Test(cli_exog, errors_name_the_covariate)
{
    files();
    char *o;
    cr_assert_eq(sh(&o,
                    TRAIN
                    "--columns y --hist-exog load --futr-exog temp,calendar:hour --static a=1,b=2 "
                    "-o '%s'",
                    tmp("graph.yaml"), tmp("data.csv"), tmp("p.plan")),
                 2);
    cr_assert(strstr(o, "future covariates 'temp,calendar:hour': unknown calendar feature 'hour' "
                        "(second_of_minute, minute_of_hour, hour_of_day, day_of_week, "),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    TRAIN "--columns y --hist-exog lode --futr-exog temp,calendar:hour_of_day "
                          "--static a=1,b=2 -o '%s'",
                    tmp("graph.yaml"), tmp("data.csv"), tmp("p.plan")),
                 2);
    cr_assert(strstr(o, "historic covariates: the series has no column 'lode'"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    TRAIN "--columns y --hist-exog load --futr-exog temp --static a=1,b=2 -o '%s'",
                    tmp("graph.yaml"), tmp("data.csv"), tmp("p.plan")),
                 2);
    cr_assert(strstr(o, "the graph's input 'futr_exog' takes 2 future covariates, 1 given "
                        "(--futr-exog / train key futr_exog)"),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    TRAIN "--hist-exog load --futr-exog temp,calendar:hour_of_day "
                          "--static '%s' --columns y,temp -o '%s'",
                    tmp("graph.yaml"), tmp("data.csv"), tmp("static.csv"), tmp("p.plan")),
                 2);
    cr_assert(strstr(o, "static attributes: no row for series column 'temp'"), "%s", o);
    free(o);
}

/* A resume checks the covariates too: another normalization (or column, or values) than the
 * checkpoint's run had is refused by name, the same ones pass that check. */
#define EXOG                                                                                       \
    "--columns y --futr-exog temp,calendar:hour_of_day --static '%s' --checkpoint-dir '%s' "
#define RESUME "$NTG train '%s' --data '%s' --split 160,40,40 --steps 10 --batch 8 --resume "

Test(cli_exog, resume_refuses_other_covariates)
{
    files();
    char g[512], d[512], st[512], ck[512], out[512];
    snprintf(g, sizeof g, "%s", tmp("graph.yaml"));
    snprintf(d, sizeof d, "%s", tmp("data.csv"));
    snprintf(st, sizeof st, "%s", tmp("static.csv"));
    snprintf(ck, sizeof ck, "%s", tmp("ck"));
    snprintf(out, sizeof out, "%s", tmp("p.plan"));
    char *o;
    cr_assert_eq(sh(&o, TRAIN EXOG "--hist-exog load -o '%s'", g, d, st, ck, out), 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, RESUME EXOG "--hist-exog load:minmax -o '%s'", g, d, st, ck, out), 2, "%s",
                 o);
    cr_assert(strstr(o, "cannot resume: the checkpoint's run has covariates (counts "
                        "hist/futr/static and fingerprint) 1/2/2 "),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o, RESUME EXOG "--hist-exog load -o '%s'", g, d, st, ck, out), 2, "%s", o);
    cr_assert(strstr(o, "that run is finished"), "the covariates matched: %s", o);
    free(o);
}
