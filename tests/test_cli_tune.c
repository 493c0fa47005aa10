/* test_cli_tune.c — `ntgraph tune`: the search space's parser, the random and TPE samplers on
 * synthetic objectives (no training), and the command: determinism for a seed, parallel trials
 * equal to serial ones, failed trials, bad spaces, the best plan and the store. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cli_testutil.h"
#include "ntgraph.h"
#include "tune_space.h"

TestSuite(cli_tune, .init = make_tmp, .fini = rm_tmp);

/* ------------------------------------------------------------ the space */

static void space_of(tune_space *s, const char *const *lines, size_t n)
{
    memset(s, 0, sizeof *s);
    char msg[512];
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(tune_space_add(s, lines[i], msg, sizeof msg), 0, "%s: %s", lines[i], msg);
}

Test(cli_tune, space_parses_every_distribution)
{
    const char *lines[] = {"train.lr = loguniform(1e-4, 1e-2)",
                           "hparams.pools=choice([2,2,1], [1,1,1])", "train.steps=int(100,500)",
                           "hparams.dropout=uniform(0,0.5)"};
    tune_space s;
    space_of(&s, lines, 4);
    cr_assert_eq(s.n, 4);
    cr_assert_eq(s.p[0].kind, TUNE_LOGUNIFORM);
    cr_assert_eq(s.p[0].target, TUNE_TRAIN);
    cr_assert_str_eq(s.p[0].name, "lr");
    cr_assert_eq(s.p[1].kind, TUNE_CHOICE);
    cr_assert_eq(s.p[1].target, TUNE_HPARAM);
    cr_assert_eq(s.p[1].n_choices, 2);
    cr_assert_str_eq(s.p[1].choices[0], "[2,2,1]");
    cr_assert_str_eq(s.p[1].choices[1], "[1,1,1]");
    cr_assert_eq(s.p[2].kind, TUNE_INT);
    cr_assert_eq(s.p[2].lo, 100);
    cr_assert_eq(s.p[2].hi, 500);
    /* every draw inside its range, ints integral, choices indices */
    for (uint64_t t = 0; t < 200; t++) {
        double x[4];
        tune_sample_random(&s, 7, t, x);
        cr_assert(x[0] >= 1e-4 && x[0] <= 1e-2, "%g", x[0]);
        cr_assert(x[1] == 0 || x[1] == 1, "%g", x[1]);
        cr_assert(x[2] >= 100 && x[2] <= 500 && x[2] == floor(x[2]), "%g", x[2]);
        cr_assert(x[3] >= 0 && x[3] <= 0.5, "%g", x[3]);
    }
    char buf[64];
    tune_format(&s.p[1], 1, buf, sizeof buf);
    cr_assert_str_eq(buf, "[1,1,1]");
    tune_format(&s.p[2], 300, buf, sizeof buf);
    cr_assert_str_eq(buf, "300");
    tune_space_free(&s);
}

static void bad_space(const char *line, const char *expect)
{
    tune_space s;
    memset(&s, 0, sizeof s);
    char msg[512] = "";
    cr_assert_eq(tune_space_add(&s, line, msg, sizeof msg), -1, "'%s' was accepted", line);
    cr_assert(strstr(msg, expect), "'%s': got '%s', expected '%s'", line, msg, expect);
    tune_space_free(&s);
}

Test(cli_tune, bad_specs_name_the_parameter_and_the_problem)
{
    bad_space("lr=loguniform(1e-4,1e-2)", "parameter 'lr': the name must be hparams.NAME");
    bad_space("train.lr", "expected NAME=SPEC");
    bad_space("train.lr=loguniform(0,1)",
              "parameter 'train.lr': loguniform needs a low bound above 0");
    bad_space("train.lr=uniform(2,1)", "parameter 'train.lr': low 2 must be below high 1");
    bad_space("train.lr=normal(0,1)", "parameter 'train.lr': unknown distribution 'normal'");
    bad_space("train.lr=uniform(0,1,2)", "parameter 'train.lr': uniform takes two bounds");
    bad_space("train.lr=uniform(a,1)", "parameter 'train.lr': bounds 'a', '1' are not finite");
    bad_space("train.steps=int(1.5,9)", "parameter 'train.steps': int bounds must be integers");
    bad_space("hparams.pools=choice([2,2,1],[1,1)", "parameter 'hparams.pools': unbalanced '['");
    bad_space("train.loss=choice(mae,mae)",
              "parameter 'train.loss': choice value 'mae' given twice");
    bad_space("train.loss=choice(mae,)", "parameter 'train.loss': an empty argument");
    bad_space("train.loss=mae", "parameter 'train.loss': 'mae' is not a distribution");
}

/* ------------------------------------------------------------ the samplers */

/* Best loss after n trials of sampler `tpe` (0: random) on a one-parameter objective. */
static double best_after(const tune_space *s, double (*f)(double), int tpe, uint64_t seed, size_t n,
                         size_t startup)
{
    double X[64], Y[64], best = INFINITY;
    tune_tpe_options o = {0.25, 24};
    for (size_t t = 0; t < n; t++) {
        if (tpe && t >= startup)
            tune_sample_tpe(s, X, Y, t, &o, seed, t, &X[t]);
        else
            tune_sample_random(s, seed, t, &X[t]);
        Y[t] = f(X[t]);
        if (Y[t] < best) best = Y[t];
    }
    return best;
}

static double quad(double x)
{
    return (x - 0.713) * (x - 0.713);
}

static double loglr(double lr)
{
    double d = log10(lr) + 3.3;
    return d * d;
}

Test(cli_tune, tpe_beats_random_on_one_dimensional_objectives)
{
    struct {
        const char *line;
        double (*f)(double);
    } cases[] = {{"hparams.x=uniform(0,1)", quad}, {"train.lr=loguniform(1e-6,1)", loglr}};
    for (size_t c = 0; c < 2; c++) {
        tune_space s;
        space_of(&s, &cases[c].line, 1);
        double sum_r = 0, sum_t = 0;
        int wins = 0;
        const int seeds = 60;
        for (int k = 0; k < seeds; k++) {
            double r = best_after(&s, cases[c].f, 0, (uint64_t)k + 1, 20, 5);
            double t = best_after(&s, cases[c].f, 1, (uint64_t)k + 1, 20, 5);
            sum_r += r;
            sum_t += t;
            wins += t < r;
        }
        cr_log_info("%s: mean best after 20 trials: random %.3g, tpe %.3g (tpe better on %d of %d)",
                    cases[c].line, sum_r / seeds, sum_t / seeds, wins, seeds);
        cr_assert_lt(sum_t, 0.7 * sum_r, "%s: tpe %g, random %g", cases[c].line, sum_t / seeds,
                     sum_r / seeds);
        tune_space_free(&s);
    }
}

/* Categorical: after trials where choice c scored best, TPE proposes c far more often than the
 * uniform 1 in 4 (it exploits; random search explores, so no "beats random" claim here). */
Test(cli_tune, tpe_favours_the_choice_that_scored_best)
{
    const char *line = "hparams.k=choice(a,b,c,d)";
    tune_space s;
    space_of(&s, &line, 1);
    double X[12], Y[12];
    for (size_t t = 0; t < 12; t++) {
        X[t] = (double)(t % 4);
        Y[t] = t % 4 == 2 ? 0.1 + 0.01 * (double)t : 1.0 + 0.01 * (double)t;
    }
    tune_tpe_options o = {0.25, 24};
    int hits = 0;
    for (uint64_t trial = 12; trial < 112; trial++) {
        double x;
        tune_sample_tpe(&s, X, Y, 12, &o, 9, trial, &x);
        hits += x == 2;
    }
    cr_assert_gt(hits, 80, "c proposed %d times of 100", hits);
    tune_space_free(&s);
}

Test(cli_tune, samplers_are_functions_of_seed_trial_and_history)
{
    const char *lines[] = {"train.lr=loguniform(1e-4,1e-2)", "hparams.k=choice(a,b,c)",
                           "train.steps=int(1,100)"};
    tune_space s;
    space_of(&s, lines, 3);
    double a[3], b[3], X[30], Y[10];
    tune_sample_random(&s, 5, 3, a);
    tune_sample_random(&s, 5, 3, b);
    cr_assert(memcmp(a, b, sizeof a) == 0);
    tune_sample_random(&s, 6, 3, b);
    cr_assert(memcmp(a, b, sizeof a) != 0, "another seed, the same point");
    for (uint64_t t = 0; t < 10; t++) {
        tune_sample_random(&s, 5, t, &X[3 * t]);
        Y[t] = t == 4 ? NAN : (double)((t * 7) % 10); /* one failed trial */
    }
    tune_tpe_options o = {0.25, 24};
    tune_sample_tpe(&s, X, Y, 10, &o, 5, 10, a);
    tune_sample_tpe(&s, X, Y, 10, &o, 5, 10, b);
    cr_assert(memcmp(a, b, sizeof a) == 0);
    cr_assert(a[0] >= 1e-4 && a[0] <= 1e-2 && a[2] >= 1 && a[2] <= 100 && a[2] == floor(a[2]));
    tune_space_free(&s);
}

/* A graph's default value, as the plan's metadata writes it, as a point of the space. */
Test(cli_tune, a_default_value_is_found_in_the_space_or_refused)
{
    const char *lines[] = {"hparams.pools=choice([2,2,1], [1,1,1])",
                           "train.lr=loguniform(1e-4,1e-2)", "train.steps=int(100,500)",
                           "train.lr_decays=choice(1e-3, 3)",
                           "train.window_scaler=choice(identity,standard)"};
    tune_space s;
    space_of(&s, lines, 5);
    double x = -1;
    cr_assert_eq(tune_value_of(&s.p[0], "[1, 1, 1]", &x), 0); /* spaces do not count */
    cr_assert_eq(x, 1);
    cr_assert_eq(tune_value_of(&s.p[0], "[2,2,2]", &x), -1);
    cr_assert_eq(tune_value_of(&s.p[1], "0.0005", &x), 0);
    cr_assert_float_eq(x, 5e-4, 1e-15);
    cr_assert_eq(tune_value_of(&s.p[1], "0.05", &x), -1, "above the range");
    cr_assert_eq(tune_value_of(&s.p[1], "fast", &x), -1);
    cr_assert_eq(tune_value_of(&s.p[2], "300", &x), 0);
    cr_assert_eq(x, 300);
    cr_assert_eq(tune_value_of(&s.p[2], "300.5", &x), -1, "an int is integral");
    cr_assert_eq(tune_value_of(&s.p[2], "50", &x), -1);
    cr_assert_eq(tune_value_of(&s.p[3], "0.001", &x), 0); /* numbers compare as numbers */
    cr_assert_eq(x, 0);
    cr_assert_eq(tune_value_of(&s.p[3], "3.0", &x), 0);
    cr_assert_eq(x, 1);
    cr_assert_eq(tune_value_of(&s.p[4], "standard", &x), 0);
    cr_assert_eq(x, 1);
    cr_assert_eq(tune_value_of(&s.p[4], "robust", &x), -1);
    cr_assert_eq(tune_value_of(&s.p[4], NULL, &x), -1);
    tune_space_free(&s);
}

/* ------------------------------------------------------------ the command */

#define TINY "-D h=24 -D input_size=96 -D hidden=32"
#define FAST "--steps 4 --batch 16 --val-every 0 --threads 1 --columns OT"
#define SPACE                                                                                      \
    "-p 'train.lr=loguniform(1e-4,1e-2)' -p 'hparams.pools=choice([2,2,1],[1,1,1])' "              \
    "-p 'train.seed=int(1,20)'"

static const char *etth1_head(void)
{
    const char *p = tmp("s.csv");
    char *o;
    cr_assert_eq(
        sh(&o, "(head -n 1 data/ETTh1.csv; tail -n +2 data/ETTh1.csv | head -n 1300) > '%s'", p), 0,
        "%s", o);
    free(o);
    return tmp("s.csv");
}

/* The --json output with every "seconds" value removed (the only part that may differ). */
static char *trials_json(const char *args)
{
    char *o;
    int rc = sh(&o,
                "$NTG tune graphs/nhits.yaml " TINY " " FAST " --data '%s' --split 900,200,200 "
                "%s --json 2>/dev/null | sed 's/\"seconds\":[^,}]*//g'",
                tmp("s.csv"), args);
    cr_assert_eq(rc, 0, "%s", o);
    cr_assert(strstr(o, "\"trials\":["), "%s", o);
    return o;
}

Test(cli_tune, the_same_seed_gives_the_same_trials)
{
    etth1_head();
    char *a = trials_json("--trials 6 --startup 3 --seed 4 " SPACE);
    char *b = trials_json("--trials 6 --startup 3 --seed 4 " SPACE);
    cr_assert_str_eq(a, b);
    char *c = trials_json("--trials 6 --startup 3 --seed 5 " SPACE);
    cr_assert_str_neq(a, c, "another seed proposed the same trials");
    free(a);
    free(b);
    free(c);
}

Test(cli_tune, parallel_trials_equal_serial_ones)
{
    etth1_head();
    /* random search: the same trials whatever the number of jobs */
    char *a = trials_json("--trials 5 --search random --jobs 1 " SPACE);
    char *b = trials_json("--trials 5 --search random --jobs 3 " SPACE);
    cr_assert_str_eq(a, b);
    /* tpe with two jobs: groups of two proposals, the same on every run */
    char *c = trials_json("--trials 6 --startup 2 --jobs 2 " SPACE);
    char *d = trials_json("--trials 6 --startup 2 --jobs 2 " SPACE);
    cr_assert_str_eq(c, d);
    free(a);
    free(b);
    free(c);
    free(d);
}

/* No space given: N-HiTS's default space, less what the command line fixes (input_size by -D,
 * steps and batch by flags). */
Test(cli_tune, nhits_gets_the_default_space_less_what_is_fixed)
{
    etth1_head();
    char *o = trials_json("--trials 2 --search random");
    cr_assert(strstr(o, "\"hparams.pools\":"), "%s", o);
    cr_assert(strstr(o, "\"hparams.downsample\":"), "%s", o);
    cr_assert(strstr(o, "\"train.lr\":"), "%s", o);
    cr_assert(strstr(o, "\"train.window_scaler\":"), "%s", o);
    cr_assert(!strstr(o, "hparams.input_size"), "%s", o);
    cr_assert(!strstr(o, "train.steps"), "%s", o);
    cr_assert(!strstr(o, "train.batch"), "%s", o);
    cr_assert(strstr(o, "\"best\":{"), "%s", o);
    free(o);
}

Test(cli_tune, a_failed_trial_is_reported_and_the_best_plan_written)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s", etth1_head());
    char *o;
    cr_assert_eq(
        sh(&o,
           "$NTG tune graphs/nhits.yaml " TINY " " FAST " --data '%s' --split 900,200,200 "
           "--trials 4 --search random --seed 2 -p 'train.window_scaler=choice(standard,bogus)' "
           "-p 'train.lr=loguniform(1e-3,1e-2)' -o '%s'",
           csv, tmp("best.plan")),
        0, "%s", o);
    cr_assert(strstr(o, "failed: unknown window scaler 'bogus'"), "%s", o);
    cr_assert(strstr(o, "wrote "), "%s", o);
    /* the best line's score is the written plan's val MSE */
    const char *b = strstr(o, "val mse ");
    cr_assert(b, "%s", o);
    double best = strtod(b + 8, NULL);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG eval '%s' --data '%s' --split 900,200,200 --part val --columns OT --json",
                    tmp("best.plan"), csv),
                 0, "%s", o);
    const char *m = strstr(o, "\"mse\":");
    cr_assert(m, "%s", o);
    cr_assert_float_eq(strtod(m + 6, NULL), best, 1e-4, "%s", o);
    free(o);
}

Test(cli_tune, all_trials_failing_is_an_error)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s", etth1_head());
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG tune graphs/nhits.yaml " TINY " " FAST " --data '%s' --split 900,200,200 "
                    "--trials 2 -p 'train.window_scaler=choice(bogus)'",
                    csv),
                 2, "%s", o);
    cr_assert(strstr(o, "all 2 trials failed; the first: unknown window scaler 'bogus'"), "%s", o);
    free(o);
}

Test(cli_tune, bad_spaces_exit_2_naming_the_parameter)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s", etth1_head());
    struct {
        const char *args, *expect;
    } cases[] = {
        {"-p 'train.lr=loguniform(0,1)'",
         "--param: parameter 'train.lr': loguniform needs a low bound"},
        {"-p 'lr=uniform(0,1)'", "--param: parameter 'lr': the name must be hparams.NAME"},
        {"-p 'train.lr=uniform(0,1)' --lr 0.1", "parameter 'train.lr' is searched and also fixed"},
        {"--space /nonexistent.space", "--space: cannot read the space file /nonexistent.space"},
        {"--search grid", "--search 'grid': random or tpe"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *o;
        int rc = sh(&o,
                    "$NTG tune graphs/nhits.yaml " TINY " " FAST " --data '%s' --split 900,200,200 "
                    "--trials 2 %s",
                    csv, cases[i].args);
        cr_assert_eq(rc, 2, "%s: %s", cases[i].args, o);
        cr_assert(strstr(o, cases[i].expect), "%s: %s", cases[i].args, o);
        free(o);
    }
    /* a space file: its line is named */
    FILE *f = fopen(tmp("s.space"), "w");
    cr_assert(f);
    fprintf(f,
            "# the space\ntrain.lr = loguniform(1e-4, 1e-2)\n\nhparams.pools = choice([2,2,1]\n");
    fclose(f);
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG tune graphs/nhits.yaml " TINY " " FAST " --data '%s' --split 900,200,200 "
                    "--trials 2 --space '%s'",
                    csv, tmp("s.space")),
                 2, "%s", o);
    cr_assert(strstr(o, "s.space:4: parameter 'hparams.pools'"), "%s", o);
    free(o);
}

Test(cli_tune, every_trial_is_a_store_version_and_the_best_gets_the_alias)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s", etth1_head());
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG tune graphs/nhits.yaml " TINY " " FAST " --data '%s' --split 900,200,200 "
                    "--trials 3 --search random --seed 3 -p 'train.lr=loguniform(1e-3,1e-2)' "
                    "--store '%s' --name m --study s1 --json 2>/dev/null",
                    csv, tmp("db")),
                 0, "%s", o);
    /* the best trial's version, from the JSON */
    const char *b = strstr(o, "\"best\":");
    cr_assert(b, "%s", o);
    const char *v = strstr(b, "\"version\":");
    cr_assert(v, "%s", o);
    long best_version = strtol(v + 10, NULL, 10);
    const char *tr = strstr(b, "\"trial\":");
    long best_trial = strtol(tr + 8, NULL, 10);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store versions m --db '%s'", tmp("db")), 0, "%s", o);
    cr_assert(strstr(o, "  3  "), "three versions: %s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store show m@best --db '%s'", tmp("db")), 0, "%s", o);
    char want[64];
    snprintf(want, sizeof want, "version:     %ld of 3", best_version);
    cr_assert(strstr(o, want), "%s", o);
    snprintf(want, sizeof want, "tune.trial=%ld", best_trial);
    cr_assert(strstr(o, want), "%s", o);
    cr_assert(strstr(o, "tune.study=s1"), "%s", o);
    cr_assert(strstr(o, "tune.train.lr="), "%s", o);
    cr_assert(strstr(o, "val_mse="), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store list --tag tune.study=s1 --all --db '%s'", tmp("db")), 0, "%s",
                 o);
    free(o);
}

/* A long-format panel (series of different lengths and dates) tunes as train reads it: the
 * column names by --id-col/--date-col/--target, the split by the last rows of every series. */
Test(cli_tune, a_long_format_panel_with_named_columns)
{
    char *o;
    cr_assert_eq(sh(&o, "(echo series,time,value; tail -n +2 tests/data/panel_hourly.csv) > '%s'",
                    tmp("panel.csv")),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG tune graphs/nhits.yaml -D h=4 -D input_size=8 -D hidden=16 --data '%s' "
                    "--id-col series --date-col time --target value --split rest,4,4 --trials 3 "
                    "--steps 5 --batch 8 --threads 1 --seed 1 -p 'train.lr=loguniform(1e-4,1e-2)' "
                    "-o '%s'",
                    tmp("panel.csv"), tmp("best.plan")),
                 0, "%s", o);
    cr_assert(strstr(o, "(3 of 3 trials finished"), "%s", o);
    free(o);
    /* without the names the file is not a panel of unique_id, ds, y */
    cr_assert_eq(sh(&o,
                    "$NTG tune graphs/nhits.yaml -D h=4 -D input_size=8 -D hidden=16 --data '%s' "
                    "--split rest,4,4 --trials 2 --steps 5 --batch 8 --threads 1 "
                    "-p 'train.lr=loguniform(1e-4,1e-2)' 2>&1",
                    tmp("panel.csv")),
                 2, "%s", o);
    free(o);
}

/* SIGTERM (or ^C) in the middle of a trial: the trials end, the study's folder in $TMPDIR is
 * removed and tune dies of the signal. */
Test(cli_tune, a_stopped_tune_removes_its_folder)
{
    etth1_head();
    char *o;
    cr_assert_eq(sh(&o, "mkdir -p '%s'", tmp("td")), 0, "%s", o);
    free(o);
    int rc = sh(&o,
                "TMPDIR='%s'; export TMPDIR; "
                "$NTG tune graphs/nhits.yaml " TINY " --steps 100000 --batch 16 --val-every 0 "
                "--threads 1 --columns OT --data '%s' --split 900,200,200 --trials 4 --jobs 2 "
                "-p 'train.lr=loguniform(1e-4,1e-2)' & p=$!; "
                "i=0; while [ $i -lt 300 ] && ! ls -d \"$TMPDIR\"/ntg-tune-* >/dev/null 2>&1; do "
                "sleep 0.1; i=$((i+1)); done; sleep 1; kill -TERM $p; wait $p; echo \"rc=$?\"; "
                "echo \"left=$(ls \"$TMPDIR\" | grep -c ntg-tune)\"",
                tmp("td"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", o);
    cr_assert(strstr(o, "rc=143"), "tune did not die of SIGTERM: %s", o);
    cr_assert(strstr(o, "stopped by signal 15"), "%s", o);
    cr_assert(strstr(o, "left=0"), "the folder is left behind: %s", o);
    free(o);
}

/* Trial 1 is the graph's own values (lr 5e-4, pools [2,2,1], seed 1 are in SPACE): the same
 * model `ntgraph train` makes without tuning, so the best is never worse on val. */
Test(cli_tune, the_first_trial_is_the_graphs_defaults)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s", etth1_head());
    char *o = trials_json("--trials 3 --search random --seed 6 " SPACE);
    const char *t1 = strstr(o, "{\"trial\":1,");
    cr_assert(t1, "%s", o);
    cr_assert(strstr(t1, "{\"trial\":1,\"params\":{\"train.lr\":\"0.0005\",\"hparams.pools\":"
                         "\"[2,2,1]\",\"train.seed\":\"1\"},\"defaults\":true,"),
              "%s", o);
    const char *t2 = strstr(o, "{\"trial\":2,"), *d2 = t2 ? strstr(t2, "\"defaults\"") : NULL;
    cr_assert(t2 && (!d2 || d2 > strstr(t2, "\"best\":")), "only trial 1 is the defaults: %s", o);
    const char *m = strstr(t1, "\"val_mse\":");
    cr_assert(m, "%s", o);
    double tuned = strtod(m + 10, NULL);
    free(o);
    /* the plain train + eval of the graph gives the same val MSE */
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " " FAST
                    " --data '%s' --split 900,200,200 -o '%s' >/dev/null 2>&1 && "
                    "$NTG eval '%s' --data '%s' --split 900,200,200 --part val --columns OT --json",
                    csv, tmp("plain.plan"), tmp("plain.plan"), csv),
                 0, "%s", o);
    m = strstr(o, "\"mse\":");
    cr_assert(m, "%s", o);
    cr_assert_float_eq(strtod(m + 6, NULL), tuned, 1e-6, "%s", o);
    free(o);
    /* --no-default-trial draws it */
    o = trials_json("--trials 2 --search random --seed 6 --no-default-trial " SPACE);
    cr_assert(!strstr(o, "\"defaults\""), "%s", o);
    cr_assert(
        !strstr(o, "\"train.lr\":\"0.0005\",\"hparams.pools\":\"[2,2,1]\",\"train.seed\":\"1\""),
        "%s", o);
    free(o);
}

/* A default outside the space (lr 5e-4 below 1e-3): trial 1 is drawn, and the table says why. */
Test(cli_tune, a_default_outside_the_space_is_not_a_trial)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s", etth1_head());
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG tune graphs/nhits.yaml " TINY " " FAST " --data '%s' --split 900,200,200 "
                    "--trials 2 --search random -p 'train.lr=loguniform(1e-3,1e-2)' "
                    "-p 'hparams.pools=choice([2,2,1],[1,1,1])'",
                    csv),
                 0, "%s", o);
    cr_assert(strstr(o, "note: the graph's train.lr = 0.0005 is not in the space: trial 1 is drawn "
                        "like the others"),
              "%s", o);
    cr_assert(!strstr(o, "(the graph's defaults)"), "%s", o);
    free(o);
}
