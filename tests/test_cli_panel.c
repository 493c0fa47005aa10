/* test_cli_panel.c — ragged long-format panels end to end: `train` across series of different
 * dates and lengths, `run` writing long-format forecasts that continue each series' own dates,
 * and `eval --owa` per series with the M4 Naive2 benchmark. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli_testutil.h"

TestSuite(cli_panel, .init = make_tmp, .fini = rm_tmp);

#define GRAPH "graphs/nhits.yaml -D h=4 -D input_size=8 -D hidden=16"
#define DATA "tests/data/panel_hourly.csv"

static void train(void)
{
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train " GRAPH " --data " DATA " --split rest,4,4 --steps 5 --batch 8 "
                    "--val-every 0 --seed 3 -o '%s'",
                    tmp("p.plan")),
                 0, "%s", o);
    cr_assert(strstr(o, "panel of 4 series, 10 to 60 rows"), "%s", o);
    /* D: 10 rows, 2 of them before the val and test rows: no window of 8 + 4 */
    cr_assert(strstr(o, "warning: 1 series have fewer train rows than input_size + h = 12 and "
                        "give no training window (e.g. 'D'); they are skipped"),
              "%s", o);
    free(o);
}

Test(cli_panel, run_writes_long_forecasts_after_each_series)
{
    train();
    char *o;
    cr_assert_eq(sh(&o, "$NTG run '%s' --data " DATA " 2>/dev/null", tmp("p.plan")), 0, "%s", o);
    char *line = strtok(o, "\n");
    cr_assert_str_eq(line, "unique_id,ds,nhits");
    /* series in first-seen order of the file (A, B, C, D as they first appear), each with
     * the 4 hours after its own last row */
    const char *want[][2] = {{"A", "2016-07-03 12:00:00"},
                             {"B", "2016-07-03 02:00:00"},
                             {"C", "2016-07-03 11:00:00"},
                             {"D", "2016-07-03 10:00:00"}};
    int seen[4] = {0, 0, 0, 0};
    size_t n = 0;
    while ((line = strtok(NULL, "\n"))) {
        char id[8], ds[32];
        double v;
        cr_assert_eq(sscanf(line, "%7[^,],%31[^,],%lf", id, ds, &v), 3, "%s", line);
        cr_assert(isfinite(v));
        int k = id[0] - 'A';
        cr_assert(k >= 0 && k < 4, "%s", line);
        if (seen[k] == 0) cr_assert_str_eq(ds, want[k][1], "%s", line);
        seen[k]++;
        n++;
    }
    cr_assert_eq(n, 16);
    for (int k = 0; k < 4; k++) cr_assert_eq(seen[k], 4);
    free(o);
}

Test(cli_panel, eval_scores_each_series_and_the_owa)
{
    train();
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG eval '%s' --data " DATA " --split rest,0,4 --seasonality 2 --owa --json",
                    tmp("p.plan")),
                 0, "%s", o);
    /* one window per series (the last 4 rows) but D's, whose 10 rows cannot hold 8 inputs
     * before its last 4: 3 series x 4 points */
    cr_assert(strstr(o, "\"n\":12}"), "%s", o);
    cr_assert(strstr(o, "\"D\":{"), "%s", o);
    const char *p = strstr(o, "\"owa\":");
    cr_assert(p, "%s", o);
    double owa = strtod(p + 6, NULL);
    cr_assert(isfinite(owa) && owa > 0, "%s", o);
    cr_assert(strstr(o, "\"naive2\":{\"smape\":"), "%s", o);
    free(o);
    /* the text table has a Naive2 row and the OWA */
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data " DATA " --split rest,0,4 --seasonality 2 --owa",
                    tmp("p.plan")),
                 0, "%s", o);
    cr_assert(strstr(o, "Naive2"), "%s", o);
    cr_assert(strstr(o, "OWA "), "%s", o);
    free(o);
}

Test(cli_panel, gaps_and_repeats_are_errors_naming_the_row)
{
    FILE *f = fopen(tmp("gap.csv"), "w");
    cr_assert(f);
    fputs("unique_id,ds,y\nA,2016-07-01 00:00:00,1\nA,2016-07-01 01:00:00,2\n"
          "A,2016-07-01 03:00:00,3\nA,2016-07-01 04:00:00,4\n",
          f);
    fclose(f);
    char *o;
    cr_assert_eq(sh(&o, "$NTG train " GRAPH " --data '%s' --split rest,0,1 -o '%s'", tmp("gap.csv"),
                    tmp("p.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "gap.csv:4:2: series 'A': ds '2016-07-01 03:00:00' follows "
                        "'2016-07-01 01:00:00' (line 3) by 7200 s, but the panel's step is "
                        "3600 s"),
              "%s", o);
    free(o);
}

/* --id-col, --date-col, --target: the same panel under other names, long output with them. */
Test(cli_panel, named_columns)
{
    train();
    char *o;
    cr_assert_eq(sh(&o,
                    "sed '1s/.*/store,day,sales/' " DATA " > '%s' && $NTG run '%s' --data '%s' "
                    "--id-col store --date-col day --target sales 2>/dev/null | head -n 1",
                    tmp("named.csv"), tmp("p.plan"), tmp("named.csv")),
                 0, "%s", o);
    cr_assert_str_eq(o, "store,day,nhits\n");
    free(o);
}
