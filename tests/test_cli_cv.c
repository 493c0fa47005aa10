/* test_cli_cv.c — `ntgraph cv` (rolling-origin cross-validation: cutoffs, no leak, scores equal
 * to eval's) and `ntgraph train --init` (fine-tuning from a plan's weights and scaler). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cli_testutil.h"
#include "ntgraph.h"

TestSuite(cli_cv, .init = make_tmp, .fini = rm_tmp);

#define TINY "-D h=24 -D input_size=96 -D hidden=32"
#define FAST "--steps 5 --batch 16 --val-every 0 --seed 3"

/* Rows [first, first + n) of ETTh1 (0-based data rows; hourly from 2016-07-01 00:00) with the
 * header, into `name` in the test's folder. */
static const char *etth1_rows(const char *name, int first, int n)
{
    static char path[4][600];
    static int k;
    char *p = path[k++ & 3];
    snprintf(p, 600, "%s", tmp(name));
    char *o;
    cr_assert_eq(sh(&o,
                    "(head -n 1 data/ETTh1.csv; tail -n +%d data/ETTh1.csv | head -n %d) > '%s'",
                    first + 2, n, p),
                 0, "%s", o);
    free(o);
    return p;
}

/* A cv forecast file: rows of unique_id,ds,cutoff,y,y_hat. */
typedef struct cv_row {
    char id[32], ds[32], cutoff[32];
    double y, y_hat;
} cv_row;

static size_t read_cv(const char *path, cv_row *rows, size_t cap)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot read %s", path);
    char line[256];
    cr_assert(fgets(line, sizeof line, f));
    cr_assert_str_eq(line, "unique_id,ds,cutoff,y,y_hat\n");
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        cr_assert_lt(n, cap);
        cv_row *r = &rows[n++];
        cr_assert_eq(sscanf(line, "%31[^,],%31[^,],%31[^,],%lf,%lf", r->id, r->ds, r->cutoff, &r->y,
                            &r->y_hat),
                     5, "%s", line);
    }
    fclose(f);
    return n;
}

/* The value `key` of a one-line JSON object (a number). */
static double json_num(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    cr_assert(p, "no %s in %s", key, text);
    return strtod(p + strlen(pat), NULL);
}

/* Three windows of 24 hours, a day apart, over the first 1500 rows of ETTh1: the cutoffs are
 * the last rows before each window (NeuralForecast's), the last window ends at the last row,
 * and y is the data's value at ds. */
Test(cli_cv, cutoffs_and_windows_follow_the_data)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG cv graphs/nhits.yaml " TINY " --data '%s' --split 1000,300 --windows 3 "
                    "--step 24 --columns OT " FAST " -o '%s'",
                    csv, tmp("cv.csv")),
                 0, "%s", o);
    cr_assert(strstr(o, "3 windows of 24 steps, cutoffs 24 rows apart"), "%s", o);
    free(o);
    static cv_row rows[200];
    size_t n = read_cv(tmp("cv.csv"), rows, 200);
    cr_assert_eq(n, 72);
    static const char *const cut[3] = {"2016-08-29 11:00:00", "2016-08-30 11:00:00",
                                       "2016-08-31 11:00:00"};
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(rows[i].id, "OT");
        cr_assert_str_eq(rows[i].cutoff, cut[i / 24], "row %zu", i);
        cr_assert(isfinite(rows[i].y_hat));
    }
    cr_assert_str_eq(rows[0].ds, "2016-08-29 12:00:00");
    cr_assert_str_eq(rows[71].ds, "2016-09-01 11:00:00"); /* the last row of the data */
    /* y is the data's OT at ds: row 1499's (the file's last line) */
    cr_assert_eq(sh(&o, "tail -n 1 '%s' | cut -d, -f8", csv), 0);
    cr_assert_eq(rows[71].y, strtod(o, NULL), "%s", o);
    free(o);
}

/* Nothing at or after a cutoff reaches the model of that window: changing the targets of the
 * last window (rows 1476..1499) changes no forecast, with and without refitting, only y. */
Test(cli_cv, no_test_row_leaks_into_training)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    char *o;
    cr_assert_eq(
        sh(&o, "awk -F, -v OFS=, 'NR>1477{$8=$8*3+7}1' '%s' > '%s'", csv, tmp("edited.csv")), 0);
    free(o);
    const char *const modes[2] = {"--no-refit", "--refit"};
    for (int m = 0; m < 2; m++) {
        cr_assert_eq(sh(&o,
                        "$NTG cv graphs/nhits.yaml " TINY " --data '%s' --split 1000,300 "
                        "--windows 3 --columns OT %s " FAST " -o '%s' && "
                        "$NTG cv graphs/nhits.yaml " TINY " --data '%s' --split 1000,300 "
                        "--windows 3 --columns OT %s " FAST " -o '%s'",
                        csv, modes[m], tmp("a.csv"), tmp("edited.csv"), modes[m], tmp("b.csv")),
                     0, "%s", o);
        free(o);
        static cv_row a[100], b[100];
        cr_assert_eq(read_cv(tmp("a.csv"), a, 100), 72);
        cr_assert_eq(read_cv(tmp("b.csv"), b, 100), 72);
        int y_changed = 0;
        for (int i = 0; i < 72; i++) {
            cr_assert_eq(a[i].y_hat, b[i].y_hat, "%s row %d: %.9g vs %.9g", modes[m], i, a[i].y_hat,
                         b[i].y_hat);
            y_changed += a[i].y != b[i].y;
        }
        cr_assert_eq(y_changed, 24, "%s", modes[m]);
    }
    /* refitting is not sliding: the later windows' models differ */
    cr_assert_eq(sh(&o,
                    "$NTG cv graphs/nhits.yaml " TINY " --data '%s' --split 1000,300 "
                    "--windows 3 --columns OT --no-refit " FAST " -o '%s'; cmp -s '%s' '%s' "
                    "|| echo differ",
                    csv, tmp("c.csv"), tmp("a.csv"), tmp("c.csv")),
                 0, "%s", o);
    cr_assert(strstr(o, "differ"), "refit and no-refit gave the same forecasts: %s", o);
    free(o);
}

/* A window's scores are eval's with that window as the test split of the same plan: the
 * no-refit model is `train` on the rows before the first cutoff with the same seed. */
Test(cli_cv, window_scores_equal_eval)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG cv graphs/nhits.yaml " TINY " --data '%s' --split 1000,300 --windows 2 "
                    "--step 48 " FAST " -o '%s'",
                    csv, tmp("cv.csv")),
                 0, "%s", o);
    char *table = o;
    /* cutoffs: 1500 - 24 - 48 = 1428 rows before the first, 1476 before the second */
    const char *head = etth1_rows("head.csv", 0, 1428);
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' --split 1000,300,0 " FAST
                    " -o '%s'",
                    head, tmp("p.plan")),
                 0, "%s", o);
    free(o);
    static cv_row rows[800];
    size_t n = read_cv(tmp("cv.csv"), rows, 800);
    cr_assert_eq(n, 2 * 7 * 24);
    const int cuts[2] = {1428, 1476};
    for (int k = 0; k < 2; k++) {
        const char *upto = etth1_rows("upto.csv", 0, cuts[k] + 24);
        cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' --split 1000,%d,24 --json", tmp("p.plan"),
                        upto, cuts[k] - 1000),
                     0, "%s", o);
        double mse = json_num(o, "mse"), mae = json_num(o, "mae");
        const char *ov = strstr(o, "\"overall\":");
        cr_assert(ov);
        double mae_orig = json_num(ov, "mae_orig");
        free(o);
        /* the printed line of window k+1: MSE (z), MAE (z) to four places */
        char want[64];
        snprintf(want, sizeof want, "\n%-6d ", k + 1);
        const char *line = strstr(table, want);
        cr_assert(line, "%s", table);
        char w[8], d1[16], d2[16];
        long rows_k;
        double cmse, cmae;
        cr_assert_eq(sscanf(line, "%7s %15s %15s %ld %lf %lf", w, d1, d2, &rows_k, &cmse, &cmae), 6,
                     "%s", line);
        cr_assert_eq(rows_k, 1000);
        cr_assert_float_eq(cmse, mse, 6e-5, "window %d: cv %g, eval %g", k + 1, cmse, mse);
        cr_assert_float_eq(cmae, mae, 6e-5, "window %d: cv %g, eval %g", k + 1, cmae, mae);
        /* and the written forecasts give eval's MAE in original units */
        double s = 0;
        for (size_t i = (size_t)k * 168; i < (size_t)(k + 1) * 168; i++)
            s += fabs(rows[i].y - rows[i].y_hat);
        cr_assert_float_eq(s / 168, mae_orig, 1e-6 * (1 + mae_orig), "window %d", k + 1);
    }
    free(table);
}

Test(cli_cv, the_same_seed_gives_the_same_numbers)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    char *o;
    cr_assert_eq(sh(&o,
                    "for i in 1 2; do $NTG cv graphs/nhits.yaml " TINY " --data '%s' --split "
                    "0.7,0.3 --windows 2 --refit --columns OT " FAST " -o '%s'$i.csv; done && "
                    "cmp '%s'1.csv '%s'2.csv",
                    csv, tmp("r"), tmp("r"), tmp("r")),
                 0, "%s", o);
    free(o);
}

Test(cli_cv, bad_flags_exit_2_with_a_message)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    static const struct {
        const char *flags, *message;
    } cases[] = {
        {"--split 1000,300", "needs --data, --split and --windows"},
        {"--split 1000,300 --windows 0", "--windows"},
        {"--split 1000,300,200 --windows 2", "cv takes two parts, TRAIN,VAL"},
        {"--split 1000,300 --windows 2 --refit --no-refit", "exclude each other"},
        {"--split 1000,300 --windows 60 --step 24",
         "60 windows of 24 steps, 24 rows apart, need more than"},
        {"--split 1400,300 --windows 2", "--split '1400,300' of the 1452 rows before the first "
                                         "cutoff"},
        {"--split 1000,300 --windows 2 --step 0", "--step"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *o;
        cr_assert_eq(
            sh(&o, "$NTG cv graphs/nhits.yaml " TINY " --data '%s' %s", csv, cases[i].flags), 2,
            "%s: %s", cases[i].flags, o);
        cr_assert(strstr(o, cases[i].message), "%s: %s", cases[i].flags, o);
        free(o);
    }
}

/* ----------------------------------------------------------------- fine-tuning */

static const char *trained(const char *name, const char *csv, const char *extra)
{
    static char plan[4][600];
    static int k;
    char *p = plan[k++ & 3];
    snprintf(p, 600, "%s", tmp(name));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' --split 1000,250,250 " FAST
                    " %s -o '%s'",
                    csv, extra, p),
                 0, "%s", o);
    free(o);
    return p;
}

/* Zero steps from a plan give that plan back: the same forecasts, bit for bit, and its
 * scaler. */
Test(cli_cv, zero_steps_of_fine_tuning_reproduce_the_source)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    const char *p = trained("p.plan", csv, "");
    const char *other = etth1_rows("later.csv", 3000, 1500); /* other rows: scaler kept anyway */
    char *o, q[600], ta[600], tb[600];
    snprintf(q, sizeof q, "%s", tmp("q.plan"));
    snprintf(ta, sizeof ta, "%s", tmp("a.txt"));
    snprintf(tb, sizeof tb, "%s", tmp("b.txt"));
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --init '%s' --steps 0 --data '%s' "
                    "--split 1000,250,250 -o '%s' && $NTG run '%s' --data '%s' > '%s' && "
                    "$NTG run '%s' --data '%s' > '%s' && cmp '%s' '%s'",
                    p, other, q, p, csv, ta, q, csv, tb, ta, tb),
                 0, "%s", o);
    free(o);
    ntg_plan *a = NULL, *b = NULL;
    ntg_error err;
    cr_assert_eq(ntg_plan_load_file(p, &a, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_plan_load_file(q, &b, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg_plan_meta(a, "scaler.mean"), ntg_plan_meta(b, "scaler.mean"));
    cr_assert_str_eq(ntg_plan_meta(a, "scaler.std"), ntg_plan_meta(b, "scaler.std"));
    ntg_plan_destroy(a);
    ntg_plan_destroy(b);
    /* --refit-scaler fits the other rows' scaler instead */
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --init '%s' --refit-scaler --steps 0 "
                    "--data '%s' --split 1000,250,250 -o '%s'",
                    p, other, tmp("r.plan")),
                 0, "%s", o);
    free(o);
    cr_assert_eq(ntg_plan_load_file(tmp("r.plan"), &b, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_plan_load_file(p, &a, &err), NTG_OK, "%s", err.message);
    cr_assert_str_neq(ntg_plan_meta(a, "scaler.mean"), ntg_plan_meta(b, "scaler.mean"));
    ntg_plan_destroy(a);
    ntg_plan_destroy(b);
}

/* A few steps on other data lower the loss on that data, starting from where the source
 * plan was (not from a fresh initialisation). */
Test(cli_cv, fine_tuning_on_other_data_lowers_its_loss)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    const char *p = trained("p.plan", csv, "--columns OT");
    const char *other = etth1_rows("later.csv", 6000, 1500);
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --init '%s' --data '%s' --columns OT "
                    "--split 1000,250,250 --steps 20 --batch 16 --val-every 0 --seed 3 -o '%s'",
                    p, other, tmp("q.plan")),
                 0, "%s", o);
    free(o);
    double before, after;
    cr_assert_eq(
        sh(&o, "$NTG eval '%s' --data '%s' --split 1000,250,250 --columns OT --json", p, other), 0,
        "%s", o);
    before = json_num(o, "mae");
    free(o);
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' --split 1000,250,250 --columns OT --json",
                    tmp("q.plan"), other),
                 0, "%s", o);
    after = json_num(o, "mae");
    free(o);
    cr_assert_lt(after, before, "fine-tuned MAE %g, source %g", after, before);
}

/* A graph whose parameters differ from the source's is refused, naming the first parameter
 * that differs and both shapes (exit 2); so are columns the kept scaler has never seen. */
Test(cli_cv, a_mismatched_graph_is_refused_naming_the_parameter)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    const char *p = trained("p.plan", csv, "--columns OT");
    /* the first parameter whose shape differs between hidden 32 and hidden 16 */
    ntg_plan *src = NULL, *g = NULL;
    ntg_error err;
    cr_assert_eq(ntg_plan_load_file(p, &src, &err), NTG_OK, "%s", err.message);
    ntg_define d[3] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "16"}};
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = d;
    co.n_defines = 3;
    char path[600];
    snprintf(path, sizeof path, "%s", tu_src("graphs/nhits.yaml"));
    cr_assert_eq(ntg_compile_file(path, &co, &g, &err), NTG_OK, "%s", err.message);
    char name[128] = "";
    for (size_t i = 0; i < ntg_plan_param_count(g) && !name[0]; i++) {
        ntg_tensor_info a, b;
        ntg_tensor_info_init(&a);
        ntg_tensor_info_init(&b);
        cr_assert_eq(ntg_plan_param(g, i, &a, &err), NTG_OK);
        cr_assert_eq(ntg_plan_param(src, i, &b, &err), NTG_OK);
        cr_assert_str_eq(a.name, b.name);
        if (a.nbytes != b.nbytes) snprintf(name, sizeof name, "'%s' is [", a.name);
    }
    cr_assert(name[0]);
    ntg_plan_destroy(g);
    ntg_plan_destroy(src);
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml -D h=24 -D input_size=96 -D hidden=16 --init "
                    "'%s' --data '%s' --split 1000,250,250 " FAST " -o '%s'",
                    p, csv, tmp("q.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "ntgraph train: error: warm start: parameter "), "%s", o);
    cr_assert(strstr(o, name), "want %s in: %s", name, o);
    cr_assert(strstr(o, "in the graph but ["), "%s", o);
    free(o);
    /* another model altogether */
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/dlinear.yaml -D h=24 -D input_size=96 --init '%s' --data "
                    "'%s' --split 1000,250,250 " FAST " -o '%s'",
                    p, csv, tmp("q.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "warm start: the graph's parameter '"), "%s", o);
    free(o);
    /* columns outside the kept scaler */
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --init '%s' --data '%s' --columns HUFL "
                    "--split 1000,250,250 " FAST " -o '%s'",
                    p, csv, tmp("q.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "fine-tuning keeps the source plan's scaler"), "%s", o);
    free(o);
    /* flags that need --init */
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' --split 1000,250,250 "
                    "--steps 0 -o '%s'",
                    csv, tmp("q.plan")),
                 2, "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' --split 1000,250,250 "
                    "--refit-scaler -o '%s'",
                    csv, tmp("q.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "--refit-scaler goes with --init"), "%s", o);
    free(o);
}

/* A store version is a source too (store:PATH:NAME@REF, as `run` names one). */
Test(cli_cv, fine_tuning_starts_from_a_store_version)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    const char *p = trained("p.plan", csv, "--columns OT");
    char *o, db[600], q[600];
    snprintf(db, sizeof db, "%s", tmp("models.db"));
    snprintf(q, sizeof q, "%s", tmp("q.plan"));
    int rc = sh(&o, "$NTG store import --db '%s' --name src '%s'", db, p);
    if (rc != 0 && strstr(o, "not supported")) {
        free(o);
        cr_skip_test("this build has no model store (RocksDB)");
    }
    cr_assert_eq(rc, 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --init 'store:%s:src@1' --steps 0 "
                    "--data '%s' --columns OT --split 1000,250,250 -o '%s' && "
                    "$NTG run '%s' --data '%s' --columns OT > '%s'.a && "
                    "$NTG run '%s' --data '%s' --columns OT > '%s'.b && cmp '%s'.a '%s'.b",
                    db, csv, q, p, csv, q, q, csv, q, q, q),
                 0, "%s", o);
    cr_assert(strstr(o, "0 steps: the weights of store:"), "%s", o);
    free(o);
}

/* cv takes the covariate flags of train: --futr-exog is the run setting futr_exog (the same
 * forecasts as -T futr_exog=...), and the calendar covariate changes them. */
Test(cli_cv, covariate_flags_reach_each_training)
{
    const char *csv = etth1_rows("s.csv", 0, 1500);
    char out[3][600];
    snprintf(out[0], sizeof out[0], "%s", tmp("flag.csv"));
    snprintf(out[1], sizeof out[1], "%s", tmp("key.csv"));
    snprintf(out[2], sizeof out[2], "%s", tmp("none.csv"));
    const char *extra[3] = {"-D n_futr=1 --futr-exog calendar:hour_of_day",
                            "-D n_futr=1 -T futr_exog=calendar:hour_of_day", ""};
    char *o;
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(sh(&o,
                        "$NTG cv graphs/nhits.yaml " TINY " --data '%s' --split 1000,300 "
                        "--windows 2 --step 24 --columns OT " FAST " %s -o '%s'",
                        csv, extra[k], out[k]),
                     0, "%s", o);
        free(o);
    }
    cv_row a[64], b[64], c[64];
    size_t na = read_cv(out[0], a, 64), nb = read_cv(out[1], b, 64), nc = read_cv(out[2], c, 64);
    cr_assert_eq(na, 48);
    cr_assert_eq(nb, na);
    cr_assert_eq(nc, na);
    int differ = 0;
    for (size_t i = 0; i < na; i++) {
        cr_assert_str_eq(a[i].ds, b[i].ds);
        cr_assert_eq(a[i].y_hat, b[i].y_hat, "row %zu: %.9g vs %.9g", i, a[i].y_hat, b[i].y_hat);
        differ += a[i].y_hat != c[i].y_hat;
    }
    cr_assert_gt(differ, 0, "the calendar covariate changed no forecast");
    /* a covariate column the data lacks is named */
    cr_assert_eq(sh(&o,
                    "$NTG cv graphs/nhits.yaml " TINY " --data '%s' --split 1000,300 --windows 2 "
                    "--columns OT " FAST " -D n_hist=1 --hist-exog NOPE",
                    csv),
                 2, "%s", o);
    cr_assert(strstr(o, "NOPE"), "%s", o);
    free(o);
}
