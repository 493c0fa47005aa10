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

/* --plot on a ragged panel draws one series on its own dates: the first forecast, or the one
 * --plot-series names; an unknown name is an error naming it. */
Test(cli_panel, plot_draws_one_series_on_its_own_dates)
{
    train();
    char *o;
    cr_assert_eq(sh(&o, "$NTG run '%s' --data " DATA " --plot '%s' --plot-series C >/dev/null",
                    tmp("p.plan"), tmp("c.svg")),
                 0, "%s", o);
    free(o);
    size_t n;
    char *svg = tu_read_file(tmp("c.svg"), &n);
    cr_assert(svg);
    cr_assert(strstr(svg, "font-weight=\"bold\">C</text>"), "the panel is not C's");
    cr_assert_null(strstr(svg, "font-weight=\"bold\">A</text>"), "one series per plot");
    cr_assert(strstr(svg, "<desc>1 series,"), "%.400s", svg);
    /* C's forecast starts at 2016-07-03 11:00:00 (A's at 12:00): the axis shows C's dates */
    cr_assert(strstr(svg, "class=\"forecast\""), "no forecast line");
    free(svg);
    cr_assert_eq(
        sh(&o, "$NTG run '%s' --data " DATA " --plot '%s' >/dev/null", tmp("p.plan"), tmp("a.svg")),
        0, "%s", o);
    free(o);
    svg = tu_read_file(tmp("a.svg"), &n);
    cr_assert(svg && strstr(svg, "font-weight=\"bold\">A</text>"), "the default is the first");
    free(svg);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data " DATA " --plot '%s' --plot-series Z >/dev/null",
                    tmp("p.plan"), tmp("z.svg")),
                 2, "%s", o);
    cr_assert(strstr(o, "--plot-series 'Z': no such series among the 4 forecast"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data " DATA " --plot-series A", tmp("p.plan")), 2, "%s",
                 o);
    cr_assert(strstr(o, "give --plot too"), "%s", o);
    free(o);
}

#define CV                                                                                         \
    "$NTG cv " GRAPH " --split rest,4 --windows 3 --steps 5 --batch 8 --val-every 0 --seed 2 "

/* cv on a ragged panel: each cutoff the same number of rows before every series' own end, each
 * series' own dates in -o, D (10 rows: fewer than 8 before the first cutoff, 12 rows before
 * its end) left out with a warning, and no row at or after a cutoff reaching its forecast. */
Test(cli_panel, cv_cuts_every_series_before_its_own_end)
{
    char *o;
    cr_assert_eq(sh(&o, CV "--data " DATA " -o '%s'", tmp("cv.csv")), 0, "%s", o);
    cr_assert(strstr(o, "1 series have fewer than input_size = 8 rows before the first cutoff "
                        "and are left out of every window (e.g. 'D')"),
              "%s", o);
    cr_assert(strstr(o, "end-12") && strstr(o, "end-8") && strstr(o, "end-4"), "%s", o);
    free(o);
    char *cv = tu_read_file(tmp("cv.csv"), NULL);
    cr_assert(cv);
    cr_assert(strncmp(cv, "unique_id,ds,cutoff,y,y_hat\n", 28) == 0, "%s", cv);
    /* A ends at 2016-07-03 11:00 (its forecast starts at 12:00), B at 01:00: the cutoffs of
     * the first window are 12 rows before each end */
    cr_assert(strstr(cv, "\nA,2016-07-03 00:00:00,2016-07-02 23:00:00,10,"), "%s", cv);
    cr_assert(strstr(cv, "\nB,2016-07-02 14:00:00,2016-07-02 13:00:00,"), "%s", cv);
    cr_assert_null(strstr(cv, "\nD,"), "%s", cv);
    int lines = 0;
    for (const char *p = cv; (p = strchr(p, '\n')); p++) lines++;
    cr_assert_eq(lines, 1 + 3 * 3 * 4, "%s", cv);
    /* A's last 4 values changed: the windows before them forecast the same */
    cr_assert_eq(sh(&o,
                    "awk -F, 'BEGIN{OFS=\",\"} $1==\"A\" && $2>=\"2016-07-03 08:00:00\" "
                    "{$3=999} {print}' " DATA " > '%s' && " CV "--data '%s' -o '%s' >/dev/null",
                    tmp("late.csv"), tmp("late.csv"), tmp("cv2.csv")),
                 0, "%s", o);
    free(o);
    char *cv2 = tu_read_file(tmp("cv2.csv"), NULL);
    cr_assert(cv2);
    /* every line but A's last window (cutoff 07:00, whose y is 999) is the same */
    char *a = cv, *b = cv2;
    int same = 0, differ = 0;
    for (;;) {
        char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        if (!ea || !eb) break;
        *ea = *eb = 0;
        if (strstr(a, "A,") == a && strstr(a, ":00:00,2016-07-03 07:00:00,")) {
            differ++;
            cr_assert(strstr(b, ",999,"), "%s", b);
        } else {
            cr_assert_str_eq(a, b);
            same++;
        }
        a = ea + 1;
        b = eb + 1;
    }
    cr_assert_eq(differ, 4);
    cr_assert_eq(same, 1 + 3 * 3 * 4 - 4);
    free(cv);
    free(cv2);
}

/* ------------------------------------------------------------ covariates */

#define COV_GRAPH GRAPH " -D n_hist=1 -D n_futr=2 -D n_stat=1"
#define COV_FLAGS "--hist-exog temp --futr-exog promo,calendar:hour_of_day --static '%s'"

/* The panel with covariate columns: temp (historic), promo (future-known), note (text, never
 * used); `edit` is awk applied to each data row before (e.g. a changed value). */
static void cov_file(const char *path, const char *edit)
{
    char *o;
    cr_assert_eq(sh(&o,
                    "awk -F, 'BEGIN{OFS=\",\"} NR==1{print $0,\"temp\",\"promo\",\"note\"; next} "
                    "{split($2,a,\" \"); split(a[2],b,\":\"); $4=$3*0.5+1; $5=(b[1]%%5==0)?1:0; "
                    "$6=\"n\" NR; %s; print}' " DATA " > '%s'",
                    edit, path),
                 0, "%s", o);
    free(o);
}

/* The future file: the 4 hours after each series' end, keyed by id and date (`skip`: a series
 * left out, `shift`: hours A starts late). */
static void future_file(const char *path, char skip, int shift)
{
    static const struct {
        char id;
        int day, hour;
    } end[] = {{'A', 3, 12}, {'B', 3, 2}, {'C', 3, 11}, {'D', 3, 10}};
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("unique_id,ds,promo\n", f);
    for (int k = 0; k < 4; k++) {
        if (end[k].id == skip) continue;
        for (int t = 0; t < 4; t++) {
            int hh = end[k].hour + t + (end[k].id == 'A' ? shift : 0);
            fprintf(f, "%c,2016-07-%02d %02d:00:00,%d\n", end[k].id, end[k].day + hh / 24, hh % 24,
                    t % 2);
        }
    }
    fclose(f);
}

static void cov_train(void)
{
    FILE *f = fopen(tmp("stat.csv"), "w");
    cr_assert(f);
    fputs("unique_id,area\nA,1\nB,2\nC,3\nD,4\n", f);
    fclose(f);
    cov_file(tmp("cov.csv"), "");
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train " COV_GRAPH " " COV_FLAGS " --data '%s' --split rest,4,4 "
                    "--steps 5 --batch 8 --val-every 0 --seed 3 -o '%s'",
                    tmp("stat.csv"), tmp("cov.csv"), tmp("c.plan")),
                 0, "%s", o);
    free(o);
}

/* Historic, future-known (a column and a calendar feature) and static covariates on a ragged
 * panel: train, run with a long future file keyed by id and date, and its errors. */
Test(cli_panel, covariates_train_and_run_with_a_long_future_file)
{
    cov_train();
    char *o;
    /* no future file: the future column has no values for the horizon */
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s'", tmp("c.plan"), tmp("cov.csv")), 2, "%s", o);
    cr_assert(strstr(o, "future covariates: column 'promo' has no values for the horizon (give "
                        "them in a future file, --futr-data, in the data's long format"),
              "%s", o);
    free(o);
    future_file(tmp("fut.csv"), 0, 0);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --futr-data '%s' 2>/dev/null", tmp("c.plan"),
                    tmp("cov.csv"), tmp("fut.csv")),
                 0, "%s", o);
    cr_assert(strncmp(o, "unique_id,ds,nhits\nA,2016-07-03 12:00:00,", 41) == 0, "%s", o);
    int lines = 0;
    for (const char *p = o; (p = strchr(p, '\n')); p++) lines++;
    cr_assert_eq(lines, 17, "%s", o);
    free(o);
    /* another promo over A's horizon: another forecast for A, the same for B */
    cr_assert_eq(sh(&o,
                    "cd '%s' && sed 's/^\\(A,.*\\),[01]$/\\1,5/' fut.csv > fut5.csv && "
                    "$NTG run c.plan --data cov.csv --futr-data fut5.csv 2>/dev/null > r5.csv && "
                    "$NTG run c.plan --data cov.csv --futr-data fut.csv 2>/dev/null > r0.csv && "
                    "grep ^B r0.csv > b0 && grep ^B r5.csv > b5 && grep ^A r0.csv > a0 && "
                    "grep ^A r5.csv > a5 && cmp b0 b5 && ! cmp -s a0 a5",
                    tmp("")),
                 0, "%s", o);
    free(o);
    /* a series missing, a horizon that starts late, a wide future file */
    future_file(tmp("noc.csv"), 'C', 0);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --futr-data '%s'", tmp("c.plan"), tmp("cov.csv"),
                    tmp("noc.csv")),
                 2, "%s", o);
    cr_assert(strstr(o, "the future file has no rows for series 'C' (it needs the 4 dates after "
                        "the series' end, from '2016-07-03 11:00:00')"),
              "%s", o);
    free(o);
    future_file(tmp("late.csv"), 0, 1);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --futr-data '%s'", tmp("c.plan"), tmp("cov.csv"),
                    tmp("late.csv")),
                 2, "%s", o);
    cr_assert(strstr(o, "series 'A' has no row for '2016-07-03 12:00:00' in the future file"), "%s",
              o);
    free(o);
    FILE *f = fopen(tmp("wide.csv"), "w");
    cr_assert(f);
    fputs("date,promo\n2016-07-03 12:00:00,1\n2016-07-03 13:00:00,0\n", f);
    fclose(f);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --futr-data '%s'", tmp("c.plan"), tmp("cov.csv"),
                    tmp("wide.csv")),
                 2, "%s", o);
    cr_assert(strstr(o, "wide.csv:1: a long-format file of future covariates needs columns "
                        "unique_id and ds (and the covariates); the header lacks 'unique_id'"),
              "%s", o);
    free(o);
}

/* A covariate column's bad cell is an error naming its place once a covariate uses it; a column
 * not used (note: text) is no error. */
Test(cli_panel, a_bad_covariate_cell_names_file_line_and_column)
{
    cov_train(); /* note is text throughout: no error */
    cov_file(tmp("bad.csv"), "if (NR==5) $4=\"abc\"");
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train " COV_GRAPH " " COV_FLAGS " --data '%s' --split rest,4,4 "
                    "--steps 2 --batch 8 -o '%s'",
                    tmp("stat.csv"), tmp("bad.csv"), tmp("x.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "bad.csv:5:4: historic covariates: column 'temp' (series 'A'): 'abc' is "
                        "not a number"),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train " GRAPH " -D n_hist=1 --hist-exog note --data '%s' "
                    "--split rest,4,4 --steps 2 --batch 8 -o '%s'",
                    tmp("cov.csv"), tmp("x.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "cov.csv:2:6: historic covariates: column 'note' (series 'A'): 'n2' is "
                        "not a number"),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train " GRAPH " -D n_hist=1 --hist-exog nope --data '%s' "
                    "--split rest,4,4 --steps 2 --batch 8 -o '%s'",
                    tmp("cov.csv"), tmp("x.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "historic covariates: the long-format file has no column 'nope'"), "%s", o);
    free(o);
}

/* "A":{...} of eval --json's columns. */
static char *series_scores(const char *json, const char *id)
{
    char key[16];
    snprintf(key, sizeof key, "\"%s\":{", id);
    const char *p = strstr(json, key);
    cr_assert(p, "%s", json);
    const char *e = strchr(p, '}');
    cr_assert(e);
    char *r = malloc((size_t)(e - p) + 2);
    memcpy(r, p, (size_t)(e - p) + 1);
    r[e - p + 1] = 0;
    return r;
}

static char *eval_cov(const char *edit)
{
    cov_file(tmp("e.csv"), edit);
    char *o;
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' --split rest,0,4 --json 2>/dev/null",
                    tmp("c.plan"), tmp("e.csv")),
                 0, "%s", o);
    return o;
}

/* No future leak, windows that never cross series: the one test window of each series (its
 * last 4 rows) does not see the historic covariate at or after its origin nor another series'
 * covariates, but does see its input rows and the future-known covariate over the horizon. */
Test(cli_panel, covariates_do_not_leak_or_cross_series)
{
    cov_train();
    char *base = eval_cov(""), *a0 = series_scores(base, "A");
    /* temp of A's target rows (08:00 to 11:00 on 07-03) */
    char *late = eval_cov("if ($1==\"A\" && $2>=\"2016-07-03 08:00:00\") $4=1000");
    char *a1 = series_scores(late, "A");
    cr_assert_str_eq(a0, a1, "a historic covariate after the origin changed the forecast");
    /* B's covariates, all of them */
    char *other = eval_cov("if ($1==\"B\") {$4=-50; $5=1}");
    char *a2 = series_scores(other, "A");
    cr_assert_str_eq(a0, a2, "another series' covariates changed A's forecast");
    /* A's input rows and its horizon's future-known values do count */
    char *input = eval_cov("if ($1==\"A\" && $2==\"2016-07-03 07:00:00\") $4=1000");
    char *a3 = series_scores(input, "A");
    cr_assert_str_neq(a0, a3, "the historic covariate of an input row is not used");
    char *futr = eval_cov("if ($1==\"A\" && $2>=\"2016-07-03 08:00:00\") $5=7");
    char *a4 = series_scores(futr, "A");
    cr_assert_str_neq(a0, a4, "the future-known covariate over the horizon is not used");
    free(base);
    free(late);
    free(other);
    free(input);
    free(futr);
    free(a0);
    free(a1);
    free(a2);
    free(a3);
    free(a4);
}

/* --static columns:C: a long file's column constant within each series is its static
 * attribute (the plan keeps the table); a column that changes within a series is refused. */
Test(cli_panel, static_attributes_from_columns_constant_within_a_series)
{
    char *o;
    cr_assert_eq(sh(&o,
                    "awk -F, 'BEGIN{OFS=\",\"} NR==1{print $0,\"area\",\"temp\"; next} "
                    "{print $0, ($1==\"A\")?1:($1==\"B\")?2:3, $3*2}' " DATA " > '%s'",
                    tmp("s.csv")),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train " GRAPH " -D n_stat=1 --static columns:area --data '%s' "
                    "--split rest,4,4 --steps 3 --batch 8 --val-every 0 -o '%s' && "
                    "$NTG info '%s' | grep -c 'A=1;B=2;D=3;C=3'",
                    tmp("s.csv"), tmp("s.plan"), tmp("s.plan")),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train " GRAPH " -D n_stat=1 --static columns:temp --data '%s' "
                    "--split rest,4,4 --steps 3 --batch 8 --val-every 0 -o '%s'",
                    tmp("s.csv"), tmp("x.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "static attributes: column 'temp' changes within series 'A'"), "%s", o);
    free(o);
}
