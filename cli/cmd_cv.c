/* cmd_cv.c — `ntgraph cv`: rolling-origin cross-validation (NeuralForecast's cross_validation):
 * n forecast windows ending at the last row, a step between their origins, the model trained
 * once before the first origin or again before each one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "model_io.h"
#include "ntg_error.h"

static const cli_opt cv_opts[] = {
    {"data", 0, "FILE.csv", 0, "the series (required)"},
    {"split", 0, "TRAIN,VAL", 0,
     "train and validation rows before the first cutoff, as rows or fractions (required)"},
    {"windows", 0, "N", 0, "forecast windows (required)"},
    {"step", 0, "S", 0, "rows between consecutive cutoffs (default: the horizon)"},
    {"refit", 0, NULL, 0, "train again before every window on all rows before its cutoff"},
    {"no-refit", 0, NULL, 0, "train once before the first cutoff and slide (the default)"},
    {"horizon", 0, "H", 0, "the forecast horizon: the graph's h hparam (default: the graph's)"},
    {"output", 'o', "OUT.csv", 0, "write the forecasts: unique_id,ds,cutoff,y,y_hat"},
    {"seed", 0, "S", 0, "seed of initialisation and window sampling (every refit uses it)"},
    CLI_TRAIN_SHARED_OPTS,
    CLI_EXOG_OPTS,
    {"threads", 0, "N", 0,
     "threads (default: the CPUs this process may use: affinity, cgroup quota)"},
};

/* The first `rows` rows of s as a series of its own: a window's training never sees a row at or
 * after its cutoff because the series it trains on has none. */
static ntg_status series_head(const ntg_series *s, size_t rows, ntg_series **out, ntg_error *err)
{
    /* long format: every series' rows before the cutoff (a ragged panel's on their own
     * dates), with its covariate columns */
    if (s->first || s->is_long) return ntg__series_panel_head(s, rows, out, err);
    const double **cols = calloc(s->n_cols, sizeof *cols);
    if (!cols) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t c = 0; c < s->n_cols; c++) cols[c] = s->values + c * s->n_rows;
    /* the dates were checked when the file was read */
    ntg_status st = ntg_series_create(rows, s->n_cols, s->names, cols, s->dates,
                                      NTG_SERIES_LOOSE_DATES, out, err);
    free((void *)cols);
    return st;
}

/* Wide data: rows [cut, cut + h) as a series of their own, the future file of a forecast
 * from the rows before cut (*out NULL for long data, whose future is keyed by date). */
static ntg_status series_future(const ntg_series *s, size_t cut, size_t h, ntg_series **out,
                                ntg_error *err)
{
    *out = NULL;
    if (s->is_long) return NTG_OK;
    const double **cols = calloc(s->n_cols + 1, sizeof *cols);
    if (!cols) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t c = 0; c < s->n_cols; c++) cols[c] = s->values + c * s->n_rows + cut;
    ntg_status st =
        ntg_series_create(h, s->n_cols, s->names, cols, s->dates ? s->dates + cut : NULL,
                          NTG_SERIES_LOOSE_DATES, out, err);
    free((void *)cols);
    return st;
}

/* "A,B" (rows or fractions of n rows) -> train and val rows; the spec of ntg_train's split with
 * an empty test part. */
static int parse_split2(const cli_cmd *cmd, const char *spec, size_t n, size_t *a, size_t *b)
{
    const char *comma = strchr(spec, ',');
    if (!comma || strchr(comma + 1, ','))
        return cli_usage_error(cmd,
                               "--split '%s': cv takes two parts, TRAIN,VAL (rows or fractions "
                               "of the rows before the first cutoff); the windows are the test",
                               spec);
    char buf[256];
    /* the test part written like the others: rows ("rest" too) or a fraction */
    int frac = strncmp(spec, "rest", 4) != 0 && strpbrk(spec, ".eE");
    snprintf(buf, sizeof buf, "%s,%s", spec, frac ? "0.0" : "0");
    ntg_split sp;
    ntg_error err;
    if (ntg__split_parse(buf, n, &sp, &err)) {
        fprintf(stderr,
                "ntgraph cv: error: --split '%s' of the %zu rows before the first "
                "cutoff: %s\n",
                spec, n, err.message);
        return CLI_USAGE;
    }
    *a = sp.train;
    *b = sp.val;
    return CLI_OK;
}

/* The shortest of %.15g, %.16g, %.17g that reads back as x (the data's values exactly). */
static void put_exact(FILE *f, double x)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, f);
}

/* Row r's date of column c (or its 1-based number when the series has no dates). */
static void put_ds(FILE *f, const ntg_series *s, size_t c, size_t r)
{
    if (s->first && s->col_dates[c * s->n_rows + r])
        cli_csv_field(f, s->col_dates[c * s->n_rows + r]);
    else if (s->dates)
        cli_csv_field(f, s->dates[r]);
    else
        fprintf(f, "%zu", r + 1);
}

/* A ragged panel: the series (of --columns, or all) with at least L rows before the first
 * cutoff, as a --columns list in *out (caller frees); the others are left out of every window
 * and counted.  CLI_OK, or the exit status after a message. */
static int panel_columns(const cli_cmd *cmd, const ntg_series *s, const char *spec, size_t cut0,
                         size_t L, char **out)
{
    *out = NULL;
    int all = !spec || strcmp(spec, "all") == 0;
    char *buf = NULL, **parts = NULL;
    int np = 0;
    if (!all) {
        parts = calloc(s->n_cols + 1, sizeof *parts);
        if (!parts) return cli_usage_error(cmd, "out of memory");
        np = cli_split(spec, ',', &buf, parts, (int)s->n_cols + 1);
    }
    size_t cap = 1, kept = 0, left = 0;
    for (size_t c = 0; c < s->n_cols; c++) cap += strlen(s->names[c]) + 1;
    char *list = malloc(cap);
    const char *skipped = NULL;
    if (!list) {
        free(buf);
        free(parts);
        return cli_usage_error(cmd, "out of memory");
    }
    size_t len = 0;
    for (size_t c = 0; c < s->n_cols; c++) {
        int chosen = all;
        for (int i = 0; !chosen && i < np; i++) chosen = strcmp(parts[i], s->names[c]) == 0;
        if (!chosen) continue;
        if (s->first[c] + L > cut0) {
            if (!left++) skipped = s->names[c];
            continue;
        }
        len += (size_t)snprintf(list + len, cap - len, "%s%s", kept++ ? "," : "", s->names[c]);
    }
    free(buf);
    free(parts);
    if (!kept) {
        free(list);
        return cli_usage_error(cmd,
                               "no series has input_size = %zu rows before the first cutoff "
                               "(row %zu of the longest): fewer or shorter windows (--windows, "
                               "--step)",
                               L, cut0);
    }
    if (left)
        fprintf(stderr,
                "ntgraph cv: warning: %zu series have fewer than input_size = %zu rows before "
                "the first cutoff and are left out of every window (e.g. '%s')\n",
                left, L, skipped);
    *out = list;
    return CLI_OK;
}

static int cv_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one graph file");
    const char *data = cli_get(a, "data"), *split = cli_get(a, "split"),
               *out = cli_get(a, "output");
    if (!data || !split || !cli_get(a, "windows"))
        return cli_usage_error(cmd, "needs --data, --split and --windows");
    if (cli_flag(a, "refit") && cli_flag(a, "no-refit"))
        return cli_usage_error(cmd, "--refit and --no-refit exclude each other");
    int refit = cli_flag(a, "refit");
    long n_win = 0, step = 0, horizon = 0, batch = 0, seed = -1, threads = 0, tmp;
    double dtmp;
    if (cli_int(cmd, a, "windows", 1, 1L << 20, &n_win) < 0 ||
        cli_int(cmd, a, "step", 1, 1L << 40, &step) < 0 ||
        cli_int(cmd, a, "horizon", 1, 1L << 30, &horizon) < 0 ||
        cli_int(cmd, a, "batch", 1, 1 << 20, &batch) < 0 ||
        cli_int(cmd, a, "seed", 0, 0x7fffffffL, &seed) < 0 ||
        cli_int(cmd, a, "threads", 0, 1024, &threads) < 0 ||
        cli_int(cmd, a, "steps", 1, 1L << 40, &tmp) < 0 ||
        cli_int(cmd, a, "val-every", 0, 1L << 40, &tmp) < 0 ||
        cli_double(cmd, a, "lr", 1e-12, 1e6, &dtmp) < 0)
        return CLI_USAGE;

    cli_defines dv, tv, settings, ctv;
    memset(&settings, 0, sizeof settings);
    memset(&ctv, 0, sizeof ctv);
    if (cli_collect_defines(cmd, a, "define", NULL, &dv)) return CLI_USAGE;
    if (cli_collect_defines(cmd, a, "train", NULL, &tv)) {
        cli_defines_free(&dv);
        return CLI_USAGE;
    }
    if (horizon) cli_defines_add(&dv, "h", cli_get(a, "horizon"));
    cli_split_train_keys(a, &tv, &settings, &ctv, 1);

    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = dv.v;
    co.n_defines = dv.n;
    co.train = ctv.v;
    co.n_train = ctv.n;
    co.max_batch = batch > 256 ? (int)batch : 256;
    co.seed = seed >= 0 ? (uint64_t)seed : 0;

    ntg_plan *plan = NULL, *trained = NULL;
    ntg_series *series = NULL, *head = NULL, *upto = NULL, *fut = NULL;
    ntg_forecast *fc = NULL;
    ntg_scores *wscores = NULL;
    FILE *f = NULL;
    char *panel_cols = NULL;
    ntg_error err;
    int rc = CLI_OK;
    ntg_status st = ntg_compile_file(a->pos[0], &co, &plan, &err);
    if (st) goto fail;
    ntg_model_io io;
    if ((st = ntg__model_io(plan, &io, &err))) goto fail;
    if (io.classes) {
        /* its per-window scores would be the regression ones, meaningless for class logits */
        st = ntg__fail(&err, NTG_ERR_INVALID_ARG,
                       "%s is a classification head (loss xent): cv scores point forecasts; "
                       "score a classifier with `ntgraph eval` (accuracy, log-loss, Brier)",
                       a->pos[0]);
        goto fail;
    }
    ntg_series_options so;
    cli_series_options(a, &so);
    if ((st = ntg_series_load_csv(data, &so, &series, &err))) goto fail;

    /* cutoffs as NeuralForecast places them: the last window ends at the last row, the others
     * `step` rows apart before it; window k forecasts rows [cut_k, cut_k + h) from the rows
     * before cut_k */
    size_t T = series->n_rows, h = io.h, L = io.L, n = (size_t)n_win;
    size_t S = step ? (size_t)step : h;
    if ((double)h + (double)(n - 1) * (double)S + (double)L >= (double)T) {
        rc = cli_usage_error(cmd,
                             "%zu windows of %zu steps, %zu rows apart, need more than %zu + %zu "
                             "+ (%zu - 1) x %zu rows (the model reads %zu rows before a "
                             "cutoff), but %s has %zu",
                             n, h, S, L, h, n, S, L, data, T);
        goto done;
    }
    size_t cut0 = T - h - (n - 1) * S, A = 0, B = 0;
    if ((rc = parse_split2(cmd, split, cut0, &A, &B)) != CLI_OK) goto done;
    /* a ragged panel: its series end together on the last row, so every cutoff is the same
     * number of rows before each series' own end (NeuralForecast's per-series windows) */
    const char *columns = cli_get(a, "columns");
    if (series->first) {
        if ((rc = panel_columns(cmd, series, columns, cut0, L, &panel_cols)) != CLI_OK) goto done;
        columns = panel_cols;
    }
    if (A == 0) {
        rc = cli_usage_error(cmd, "--split '%s' leaves no training rows before the first cutoff",
                             split);
        goto done;
    }
    if (out && !(f = fopen(out, "w"))) {
        fprintf(stderr, "ntgraph cv: error: cannot write %s\n", out);
        rc = CLI_USAGE;
        goto done;
    }
    if (f) fprintf(f, "unique_id,ds,cutoff,y,y_hat\n");
    wscores = calloc(n, sizeof *wscores);
    if (!wscores) {
        st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    printf("%-6s %-20s %10s %10s %10s %12s %12s\n", "window", "cutoff", "train rows", "MSE (z)",
           "MAE (z)", "MSE", "MAE");
    double sum_mse = 0, sum_mae = 0, sum_mse_o = 0, sum_mae_o = 0;
    for (size_t k = 0; k < n; k++) {
        size_t cut = cut0 + k * S, a_k = A + (refit ? cut - cut0 : 0);
        char spec[96];
        if (k == 0 || refit) { /* train on the rows before this cutoff only */
            ntg_plan_destroy(trained);
            trained = NULL;
            ntg_series_destroy(head);
            head = NULL;
            if ((st = series_head(series, cut, &head, &err))) goto fail;
            snprintf(spec, sizeof spec, "%zu,%zu,0", a_k, B);
            ntg_train_options to;
            ntg_train_options_init(&to);
            to.columns = columns;
            to.split = spec;
            to.settings = settings.v;
            to.n_settings = settings.n;
            to.backend = cli_get(a, "backend");
            to.threads = (int)threads;
            if ((st = ntg_train(plan, head, &to, &trained, NULL, &err))) goto fail;
        }
        /* the forecast from the rows before the cutoff */
        ntg_series_destroy(head);
        head = NULL;
        ntg_series_destroy(upto);
        upto = NULL;
        ntg_session_options sopt;
        ntg_session_options_init(&sopt);
        sopt.backend = cli_get(a, "backend");
        sopt.threads = (int)threads;
        /* future-known covariates over the window come from the data: the rows up to the
         * window's end (long data, keyed by id and date) or the window's rows (wide) */
        if ((st = series_head(series, cut, &head, &err)) ||
            (st = series_head(series, cut + h, &upto, &err)) ||
            (st = series_future(series, cut, h, &fut, &err)) ||
            (st = ntg_forecast_series_exog(trained, head, fut ? fut : upto, columns, &sopt, &fc,
                                           &err)))
            goto fail;
        ntg_series_destroy(fut);
        fut = NULL;
        /* its scores: eval of the same plan with this window as the test split */
        snprintf(spec, sizeof spec, "%zu,%zu,%zu", a_k, cut - a_k, h);
        ntg_eval_options eo;
        ntg_eval_options_init(&eo);
        eo.columns = columns;
        eo.split = spec;
        eo.backend = cli_get(a, "backend");
        eo.threads = (int)threads;
        ntg_scores_init(&wscores[k]);
        if ((st = ntg_evaluate(trained, upto, &eo, &wscores[k], NULL, 0, &err))) goto fail;
        const ntg_scores *sc = &wscores[k];
        char cutname[64];
        if (series->first) /* each series' own date: the rows before its end */
            snprintf(cutname, sizeof cutname, "end-%zu", T - cut);
        else if (series->dates)
            snprintf(cutname, sizeof cutname, "%s", series->dates[cut - 1]);
        else
            snprintf(cutname, sizeof cutname, "%zu", cut);
        printf("%-6zu %-20.20s %10zu %10.4f %10.4f %12.4f %12.4f\n", k + 1, cutname, a_k, sc->mse,
               sc->mae, sc->mse_orig, sc->mae_orig);
        sum_mse += sc->mse;
        sum_mae += sc->mae;
        sum_mse_o += sc->mse_orig;
        sum_mae_o += sc->mae_orig;
        for (size_t c = 0; f && c < ntg_forecast_columns(fc); c++) {
            const char *name = ntg_forecast_column_name(fc, c);
            int col = ntg__series_find(series, name);
            for (size_t r = 0; r < h; r++) {
                cli_csv_field(f, name);
                fputc(',', f);
                put_ds(f, series, (size_t)col, cut + r);
                fputc(',', f);
                put_ds(f, series, (size_t)col, cut - 1);
                fputc(',', f);
                put_exact(f, series->values[(size_t)col * T + cut + r]);
                fprintf(f, ",%.9g\n", ntg_forecast_value(fc, c, r, 0));
            }
        }
        ntg_forecast_destroy(fc);
        fc = NULL;
    }
    /* every window scores the same number of points: the mean of the windows is the pooled
     * value */
    printf("%-6s %-20s %10s %10.4f %10.4f %12.4f %12.4f\n", "all", "", "", sum_mse / (double)n,
           sum_mae / (double)n, sum_mse_o / (double)n, sum_mae_o / (double)n);
    printf("(%zu windows of %zu steps, cutoffs %zu rows apart, %s; MSE/MAE (z) on the scale "
           "of each window's fitted scaler, MSE/MAE in original units)\n",
           n, h, S, refit ? "refit before each window" : "trained once before the first cutoff");
    if (f) {
        int bad = ferror(f);
        bad |= fclose(f) != 0;
        f = NULL;
        if (bad) {
            fprintf(stderr, "ntgraph cv: error: writing %s failed\n", out);
            rc = CLI_FAIL;
            goto done;
        }
        printf("wrote %s\n", out);
    }
    goto done;
fail:
    rc = cli_fail(cmd, st, &err);
done:
    if (f) fclose(f);
    free(panel_cols);
    free(wscores);
    ntg_forecast_destroy(fc);
    ntg_series_destroy(head);
    ntg_series_destroy(upto);
    ntg_series_destroy(fut);
    ntg_series_destroy(series);
    ntg_plan_destroy(trained);
    ntg_plan_destroy(plan);
    cli_defines_free(&dv);
    cli_defines_free(&tv);
    cli_defines_free(&settings);
    cli_defines_free(&ctv);
    return rc;
}

const cli_cmd cli_cmd_cv = {
    "cv",
    "Cross-validate a graph over rolling forecast origins",
    "ntgraph cv GRAPH.yaml --data FILE.csv --split TRAIN,VAL --windows N [--step S] "
    "[--refit|--no-refit] [--horizon H] [-o OUT.csv] [--columns all|C1,C2] [-D NAME=VALUE]... "
    "[-T KEY=VALUE]... [--steps N] [--batch B] [--lr X] [--val-every N] [--seed S]",
    "Rolling-origin cross-validation, as NeuralForecast's cross_validation: N forecast\n"
    "windows of h rows, the last ending at the last row of the data and each cutoff S rows\n"
    "(default h) after the one before. The model trains on the rows before the first\n"
    "cutoff (--split TRAIN,VAL of them, rows or fractions) and forecasts every window\n"
    "from the rows before its cutoff; with --refit it trains again before every window on\n"
    "all rows before that cutoff (the train part grows, the validation part keeps its\n"
    "size and ends at the cutoff). A training never sees a row at or after its cutoff.\n"
    "Prints each window's MSE and MAE on the z-scored scale and in original units (the\n"
    "numbers `ntgraph eval` gives with that window as the test split) and their mean.\n"
    "-o writes the forecasts in long format: unique_id,ds,cutoff,y,y_hat (ds and cutoff\n"
    "are dates, or 1-based row numbers without a date column). The same --seed gives the\n"
    "same numbers; every refit uses it. A ragged long-format panel (--id-col, --date-col,\n"
    "--target) is cut per series: each cutoff lies the same number of rows before every\n"
    "series' own end (printed as end-N), -o writes each series' own dates, and a series\n"
    "with fewer than input_size rows before the first cutoff is left out of every window\n"
    "(a warning counts them); --split rest,VAL gives every series VAL validation rows.",
    cv_opts,
    (int)(sizeof cv_opts / sizeof cv_opts[0]),
    cv_run,
};
