/* cmd_run.c — `ntgraph run`: forecast with a plan, from tensors or from a series CSV. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "ntg_error.h"
#include "plan_int.h"
#include "plot.h"
#include "pool.h"
#include "safetensors.h"
#include "series.h"

static const cli_opt opts[] = {
    {"in", 0, "IN.safetensors", 0, "input tensors by name (the canonical models read `x`)"},
    {"out", 'o', "FILE", 0, "outputs: a .safetensors file with --in, a CSV file with --data"},
    {"data", 0, "SERIES.csv", 0, "forecast the next h values of each column of a CSV"},
    {"columns", 0, "C1,C2|all", 0, "with --data: the columns to forecast (default all)"},
    {"plot", 0, "F.svg", 0, "with --data: draw history, forecast and intervals as SVG"},
    {"plot-series", 0, "ID", 0,
     "with --plot: draw this series only (a ragged panel: one series, default the first)"},
    {"quantiles", 0, "Q1,Q2,..", 0,
     "with --data, a distribution head (loss normal, studentt): the levels to forecast "
     "(default: the plan's train.quantiles)"},
    {"fill", 0, "F", 0, "with --data: empty or bad cells: error, zero, ffill, interpolate"},
    {"dates", 0, "M", 0, "with --data: strict (default: valid, increasing dates) or loose"},
    {"id-col", 0, "NAME", 0, "long format: the series id column (default unique_id)"},
    {"date-col", 0, "NAME", 0, "long format: the date column (default ds)"},
    {"target", 0, "NAME", 0, "long format: the value column (default y)"},
    {"futr-data", 0, "FUTURE.csv", 0,
     "with --data: the future-known covariates' values for the h steps after the data "
     "(a plan trained with --futr-exog columns), in --data's layout (long: keyed by id and "
     "date)"},
    {"backend", 0, "B", 0, "backend: auto (default), {backends}"},
    {"threads", 0, "N", 0, "threads (default: the CPUs this process may use)"},
};

static ntg_status make_session(const cli_cmd *cmd, cli_args *a, const ntg_plan *plan,
                               ntg_session **s, ntg_error *err, int *usage)
{
    ntg_session_options so;
    ntg_session_options_init(&so);
    long threads = 0;
    *usage = 0;
    if (cli_int(cmd, a, "threads", 0, 1024, &threads) < 0) {
        *usage = 1;
        return NTG_ERR_INVALID_ARG;
    }
    so.threads = (int)threads;
    if (cli_get(a, "backend")) so.backend = cli_get(a, "backend");
    return ntg_session_create(plan, &so, s, err);
}

/* --in / --out: bind every input of `infer` from the file, write every output. */
static int run_tensors(const cli_cmd *cmd, cli_args *a, const ntg_plan *plan)
{
    const char *in_path = cli_get(a, "in"), *out_path = cli_get(a, "out");
    if (!out_path) return cli_usage_error(cmd, "--in needs --out OUT.safetensors");
    ntg_error err;
    ntg_st_file *in = NULL;
    ntg_session *s = NULL;
    int usage = 0, rc = CLI_OK;
    float **outs = NULL;
    ntg_status st = ntg__st_load(in_path, &in, &err);
    if (st) return cli_fail(cmd, st, &err);
    st = make_session(cmd, a, plan, &s, &err, &usage);
    if (usage) goto done_usage;
    if (st) goto fail;
    int batch = -1;
    size_t ni = ntg_plan_input_count(plan), no = ntg_plan_output_count(plan);
    for (size_t i = 0; i < ni; i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_input(plan, i, &ti, NULL);
        const ntg_st_tensor *t = ntg__st_find(in, ti.name);
        if (!t) {
            st = ntg__err(&err, NTG_ERR_NOT_FOUND, in_path, 0, 0,
                          "no tensor '%s' for the plan's input '%s'", ti.name, ti.name);
            goto fail;
        }
        int ok = strcmp(t->dtype, "F32") == 0 && t->rank == ti.rank;
        for (int d = ti.batched ? 1 : 0; ok && d < ti.rank; d++) ok = t->shape[d] == ti.shape[d];
        int b = ti.batched && t->rank > 0 ? (int)t->shape[0] : 1;
        if (!ok || (ti.batched && (b < 1 || b > ti.shape[0])) || (batch >= 0 && b != batch)) {
            char want[160];
            size_t wl = 0;
            for (int d = 0; d < ti.rank && wl < 120; d++)
                wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%s%lld", d ? ", " : "[",
                                       (d == 0 && ti.batched) ? "batch<=" : "",
                                       (long long)ti.shape[d]);
            snprintf(want + wl, sizeof want - wl, "]");
            st = ntg__err(&err, NTG_ERR_SHAPE, in_path, 0, 0,
                          "tensor '%s' (%s, rank %d) does not fit input %s of F32%s", t->name,
                          t->dtype, t->rank, want,
                          batch >= 0 && b != batch ? " (batch differs from other inputs)" : "");
            goto fail;
        }
        batch = b;
        float *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
        if (!buf) {
            st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
            goto fail;
        }
        memcpy(buf, t->data, (size_t)t->nbytes);
        st = ntg_session_set_input(s, ti.name, buf, (size_t)t->nbytes / sizeof(float), &err);
        free(buf);
        if (st) goto fail;
    }
    if (batch < 1) batch = 1;
    if ((st = ntg_session_run(s, batch, &err))) goto fail;
    ntg_st_out *so = calloc(no + 1, sizeof *so);
    int64_t(*shapes)[NTG_MAX_RANK] = calloc(no + 1, sizeof *shapes);
    outs = calloc(no + 1, sizeof *outs);
    if (!so || !shapes || !outs) {
        free(so);
        free(shapes);
        st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t o = 0; o < no; o++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_output(plan, o, &ti, NULL);
        size_t n = ti.nbytes / sizeof(float);
        if (ti.batched) n = n / (size_t)ti.shape[0] * (size_t)batch;
        outs[o] = malloc(n * sizeof(float) + 1);
        if (!outs[o]) {
            st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        if ((st = ntg_session_get_output(s, ti.name, outs[o], n, &err))) break;
        memcpy(shapes[o], ti.shape, sizeof shapes[o]);
        if (ti.batched) shapes[o][0] = batch;
        so[o].name = ti.name;
        so[o].dtype = "F32";
        so[o].rank = ti.rank;
        so[o].shape = shapes[o];
        so[o].data = outs[o];
    }
    if (!st) {
        const char *meta[] = {"producer", "ntgraph " NTG_VERSION_STRING};
        st = ntg__st_write(out_path, so, no, meta, 1, &err);
    }
    free(so);
    free(shapes);
    if (st) goto fail;
    goto done;
done_usage:
    rc = CLI_USAGE;
    goto done;
fail:
    rc = cli_fail(cmd, st, &err);
done:
    if (outs)
        for (size_t o = 0; o < ntg_plan_output_count(plan); o++) free(outs[o]);
    free(outs);
    ntg_session_destroy(s);
    ntg__st_free(in);
    return rc;
}

/* History (the last few horizons), forecast and the quantile bands of every column, or of the
 * one named `only` (a ragged panel: that one or the first, on its own dates). */
static ntg_status cli_plot_forecast(const char *path, const ntg_series *ser, const ntg_forecast *fc,
                                    const char *only, ntg_error *err)
{
    size_t nc = ntg_forecast_columns(fc), h = ntg_forecast_horizon(fc),
           nq = ntg_forecast_quantiles(fc), c0 = 0;
    if (only) {
        while (c0 < nc && strcmp(ntg_forecast_column_name(fc, c0), only) != 0) c0++;
        if (c0 == nc)
            return ntg__fail(err, NTG_ERR_NOT_FOUND,
                             "--plot-series '%.200s': no such series among the %zu forecast "
                             "(choose one of them, e.g. '%.200s')",
                             only, nc, ntg_forecast_column_name(fc, 0));
    }
    /* a ragged panel's series have their own dates: one series per plot */
    size_t c1 = only || ser->first ? c0 + 1 : nc;
    int col0 = ntg__series_find(ser, ntg_forecast_column_name(fc, c0));
    if (col0 < 0) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    size_t avail = ser->n_rows - ntg__series_first(ser, (size_t)col0);
    size_t nh = 3 * h < 96 ? 96 : 3 * h;
    if (nh > avail) nh = avail;
    const char *const *hsrc = ser->first ? ser->col_dates + (size_t)col0 * ser->n_rows : ser->dates;
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_plot_panel *panels = ntg__pool_array(pool, nc + 1, sizeof *panels);
    const char **hd = hsrc ? ntg__pool_array(pool, nh + 1, sizeof *hd) : NULL;
    const char **fd = hsrc ? ntg__pool_array(pool, h + 1, sizeof *fd) : NULL;
    ntg_status st =
        panels && (!hsrc || (hd && fd)) ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t t = 0; !st && hd && t < nh; t++) hd[t] = hsrc[ser->n_rows - nh + t];
    for (size_t t = 0; !st && fd && t < h; t++) fd[t] = ntg_forecast_column_date(fc, c0, t);
    for (size_t c = c0; !st && c < c1; c++) {
        ntg_plot_panel *p = &panels[c - c0];
        int col = ntg__series_find(ser, ntg_forecast_column_name(fc, c));
        double *fcv = ntg__pool_array(pool, h + 1, sizeof *fcv);
        ntg_plot_band *bands = ntg__pool_array(pool, nq + 1, sizeof *bands);
        if (col < 0 || !fcv || !bands) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        p->name = ntg_forecast_column_name(fc, c);
        p->hist = ser->values + (size_t)col * ser->n_rows + ser->n_rows - nh;
        for (size_t t = 0; t < h; t++) fcv[t] = ntg_forecast_value(fc, c, t, 0);
        p->fc = fcv;
        /* a band for each pair of quantiles q < 0.5 and 1 - q, widest first */
        for (size_t q = 0; q < nq; q++) {
            double lo = ntg_forecast_quantile_level(fc, q);
            if (!(lo < 0.5)) continue;
            for (size_t q2 = 0; q2 < nq; q2++) {
                double hi = ntg_forecast_quantile_level(fc, q2);
                if (hi < 1 - lo - 1e-9 || hi > 1 - lo + 1e-9) continue;
                double *l = ntg__pool_array(pool, h + 1, sizeof *l);
                double *u = ntg__pool_array(pool, h + 1, sizeof *u);
                if (!l || !u) break;
                for (size_t t = 0; t < h; t++) {
                    l[t] = ntg_forecast_value(fc, c, t, q);
                    u[t] = ntg_forecast_value(fc, c, t, q2);
                }
                ntg_plot_band *b = &bands[p->n_bands++];
                b->label = ntg__pool_fmt(pool, "%g%%", (1 - 2 * lo) * 100);
                b->lo = l;
                b->hi = u;
            }
        }
        /* widest first: sort by level descending (few bands) */
        for (size_t i = 1; i < p->n_bands; i++)
            for (size_t j = i;
                 j > 0 && strtod(bands[j - 1].label, NULL) < strtod(bands[j].label, NULL); j--) {
                ntg_plot_band tmp = bands[j];
                bands[j] = bands[j - 1];
                bands[j - 1] = tmp;
            }
        p->bands = bands;
    }
    if (!st) {
        ntg_plot plot = {"ntgraph forecast", nh, h, hd, fd, panels, c1 - c0, 0};
        st = ntg__plot_svg(path, &plot, err);
    }
    ntg__pool_destroy(pool);
    return st;
}

/* --data: forecast h steps past the end of each chosen column, in original units. */
static int run_series(const cli_cmd *cmd, cli_args *a, const ntg_plan *plan)
{
    ntg_error err;
    ntg_series *ser = NULL, *fut = NULL;
    ntg_forecast *fc = NULL;
    int rc = CLI_OK;
    FILE *f = NULL;
    const char *out_path = cli_get(a, "out");
    long threads = 0;
    if (cli_int(cmd, a, "threads", 0, 1024, &threads) < 0) return CLI_USAGE;
    ntg_series_options sopt;
    cli_series_options(a, &sopt);
    ntg_status st = ntg_series_load_csv(cli_get(a, "data"), &sopt, &ser, &err);
    if (st) return cli_fail(cmd, st, &err);
    /* once per run, not per column: the forecast is then in whatever units the model has */
    const char *gk = ntg_plan_meta(plan, "train.scaler");
    if (!ntg_plan_meta(plan, "scaler.kind") && !(gk && strcmp(gk, "none") == 0))
        fprintf(stderr,
                "ntgraph run: warning: %s has no fitted scaler: the values of %s reach the model "
                "unscaled and the forecast is in the model's units (plans that `ntgraph train` "
                "wrote carry one; `compile --weights` keeps it from a file that `ntgraph weights "
                "export` wrote)\n",
                a->pos[0], cli_get(a, "data"));
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.threads = (int)threads;
    if (cli_get(a, "backend")) so.backend = cli_get(a, "backend");
    /* the future file takes the data's layout: long (keyed by id and date, its target column
     * optional) for long data, wide (the h rows after the data's end) for wide data */
    if (cli_get(a, "futr-data")) {
        ntg_csv_options co;
        ntg__csv_options_init(&co);
        co.fill = sopt.fill;
        co.dates = sopt.dates;
        if (ser->is_long) {
            co.format = 2;
            co.id_col = sopt.id_col;
            co.date_col = sopt.date_col;
            co.target = sopt.target;
            co.target_optional = 1;
        }
        if ((st = ntg__csv_read(cli_get(a, "futr-data"), &co, &fut, &err))) goto fail;
    }
    if ((st = ntg_forecast_series_exog(plan, ser, fut, cli_get(a, "columns"), &so, &fc, &err)))
        goto fail;
    size_t nc = ntg_forecast_columns(fc), h = ntg_forecast_horizon(fc),
           nq = ntg_forecast_quantiles(fc);
    f = out_path ? fopen(out_path, "w") : stdout;
    if (!f) {
        st = ntg__err_os(&err, NTG_ERR_IO, errno, out_path, "cannot open for writing: %s",
                         strerror(errno));
        goto fail;
    }
    size_t ncls = ntg_forecast_classes(fc);
    if (ser->is_long && ncls) {
        st = ntg__fail(&err, NTG_ERR_INVALID_ARG,
                       "%s is a classifier: its class probabilities are written for wide "
                       "input only, not for a long-format panel",
                       a->pos[0]);
        goto fail;
    }
    if (ser->is_long) {
        /* long in, long out (NeuralForecast's predict): unique_id, ds and the model's point
         * forecast named after the model, then its other quantiles */
        const char *model = ntg_plan_meta(plan, "model.name");
        if (!model || !*model) model = "y_hat";
        cli_csv_field(f, cli_get(a, "id-col") ? cli_get(a, "id-col") : "unique_id");
        fputc(',', f);
        cli_csv_field(f, ser->date_name ? ser->date_name : "ds");
        fputc(',', f);
        cli_csv_field(f, model);
        for (size_t q = 1; q < nq; q++) {
            char name[600];
            snprintf(name, sizeof name, "%s-q%g", model, ntg_forecast_quantile_level(fc, q));
            fputc(',', f);
            cli_csv_field(f, name);
        }
        fputc('\n', f);
        for (size_t c = 0; c < nc; c++)
            for (size_t t = 0; t < h; t++) {
                cli_csv_field(f, ntg_forecast_column_name(fc, c));
                fputc(',', f);
                if (ntg_forecast_column_date(fc, c, t))
                    cli_csv_field(f, ntg_forecast_column_date(fc, c, t));
                else
                    fprintf(f, "%zu", t + 1);
                for (size_t q = 0; q < (nq ? nq : 1); q++)
                    fprintf(f, ",%.9g", ntg_forecast_value(fc, c, t, q));
                fputc('\n', f);
            }
        goto written;
    }
    /* header: the date (or step) column, then per column its point forecast (the median
     * for quantile models) and, for quantile models, one column per other quantile;
     * classifiers: per column the most probable class and each class's probability */
    cli_csv_field(f,
                  ntg_forecast_date(fc, 0) ? (ser->date_name ? ser->date_name : "date") : "step");
    static const char *const cls2[] = {"down", "up"}, *const cls3[] = {"down", "flat", "up"};
    const char *const *cname = ncls == 3 ? cls3 : cls2;
    for (size_t c = 0; ncls && c < nc; c++) {
        char name[600];
        snprintf(name, sizeof name, "%s-class", ntg_forecast_column_name(fc, c));
        fputc(',', f);
        cli_csv_field(f, name);
        for (size_t k = 0; k < ncls; k++) {
            snprintf(name, sizeof name, "%s-p_%s", ntg_forecast_column_name(fc, c), cname[k]);
            fputc(',', f);
            cli_csv_field(f, name);
        }
    }
    for (size_t c = 0; !ncls && c < nc; c++) {
        fputc(',', f);
        cli_csv_field(f, ntg_forecast_column_name(fc, c));
        for (size_t q = 1; q < nq; q++) {
            char name[600];
            snprintf(name, sizeof name, "%s-q%g", ntg_forecast_column_name(fc, c),
                     ntg_forecast_quantile_level(fc, q));
            fputc(',', f);
            cli_csv_field(f, name);
        }
    }
    fputc('\n', f);
    for (size_t t = 0; t < h; t++) {
        if (ntg_forecast_date(fc, t))
            cli_csv_field(f, ntg_forecast_date(fc, t));
        else
            fprintf(f, "%zu", t + 1);
        for (size_t c = 0; ncls && c < nc; c++) {
            size_t best = 0;
            for (size_t k = 1; k < ncls; k++)
                if (ntg_forecast_value(fc, c, t, k) > ntg_forecast_value(fc, c, t, best)) best = k;
            fprintf(f, ",%s", cname[best]);
            for (size_t k = 0; k < ncls; k++) fprintf(f, ",%.6f", ntg_forecast_value(fc, c, t, k));
        }
        for (size_t c = 0; !ncls && c < nc; c++)
            for (size_t q = 0; q < (nq ? nq : 1); q++)
                fprintf(f, ",%.9g", ntg_forecast_value(fc, c, t, q));
        fputc('\n', f);
    }
written:;
    /* an earlier buffered write may have failed already (ferror), or the last flush */
    int wbad = f != stdout && ferror(f), e = errno;
    if (f != stdout && (fclose(f) != 0 || wbad)) {
        /* a full disk is the machine's failure: keep errno so the exit status says so */
        if (!wbad) e = errno;
        f = NULL;
        st = ntg__err_os(&err, NTG_ERR_IO, e, out_path, "write failed: %s", strerror(e));
        goto fail;
    }
    f = NULL;
    if (cli_get(a, "plot") && ncls) {
        st = ntg__fail(&err, NTG_ERR_INVALID_ARG,
                       "--plot draws forecasts in the series' units; %s is a classifier (class "
                       "probabilities): leave --plot out",
                       a->pos[0]);
        goto fail;
    }
    if (cli_get(a, "plot") &&
        (st = cli_plot_forecast(cli_get(a, "plot"), ser, fc, cli_get(a, "plot-series"), &err)))
        goto fail;
    goto done;
fail:
    rc = cli_fail(cmd, st, &err);
done:
    if (f && f != stdout) fclose(f);
    ntg_forecast_destroy(fc);
    ntg_series_destroy(ser);
    ntg_series_destroy(fut);
    return rc;
}

/* --quantiles for a distribution head: the plan with its train.quantiles replaced (*out NULL
 * without the option).  CLI_OK, or the exit status after a message. */
static int with_quantiles(const cli_cmd *cmd, cli_args *a, const ntg_plan *plan, ntg_plan **out)
{
    *out = NULL;
    const char *spec = cli_get(a, "quantiles");
    if (!spec) return CLI_OK;
    const char *loss = ntg_plan_meta(plan, "train.loss");
    if (!loss || (strcmp(loss, "normal") != 0 && strcmp(loss, "studentt") != 0))
        return cli_usage_error(cmd,
                               "--quantiles needs a distribution head (loss normal or studentt); "
                               "this plan's loss is %s",
                               loss ? loss : "not recorded");
    char *buf, *parts[64], list[64 * 26 + 4];
    int np = cli_split(spec, ',', &buf, parts, 64);
    int bad = np < 1 || np > 63;
    size_t len = 0;
    double prev = 0;
    list[len++] = '[';
    for (int i = 0; !bad && i < np; i++) {
        char *end;
        double q = strtod(parts[i], &end);
        bad = end == parts[i] || *end || !(q > 0 && q < 1) || (i > 0 && !(q > prev));
        prev = q;
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%.17g", i ? ", " : "", q);
    }
    free(buf);
    if (bad)
        return cli_usage_error(cmd, "--quantiles '%s': 1 to 63 ascending levels in (0, 1)", spec);
    snprintf(list + len, sizeof list - len, "]");
    const char *meta[2] = {"train.quantiles", list};
    ntg_error err;
    ntg_status st = ntg__plan_rewrite(plan, NULL, meta, 1, out, &err);
    return st ? cli_fail(cmd, st, &err) : CLI_OK;
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one plan file");
    int has_in = cli_get(a, "in") != NULL, has_data = cli_get(a, "data") != NULL;
    if (has_in == has_data) return cli_usage_error(cmd, "give either --in or --data");
    if (has_in && (cli_get(a, "columns") || cli_get(a, "plot") || cli_get(a, "fill") ||
                   cli_get(a, "dates") || cli_get(a, "futr-data") || cli_get(a, "quantiles")))
        return cli_usage_error(
            cmd, "--columns, --plot, --fill, --dates, --futr-data and --quantiles need --data");
    if (cli_get(a, "plot-series") && !cli_get(a, "plot"))
        return cli_usage_error(cmd, "--plot-series chooses the series of --plot: give --plot too");
    ntg_plan *plan = NULL, *relevel = NULL;
    ntg_error err;
    ntg_status st = cli_load_plan(a->pos[0], &plan, &err);
    if (st) return cli_fail(cmd, st, &err);
    int rc = with_quantiles(cmd, a, plan, &relevel);
    if (rc == CLI_OK)
        rc = has_in ? run_tensors(cmd, a, plan) : run_series(cmd, a, relevel ? relevel : plan);
    ntg_plan_destroy(relevel);
    ntg_plan_destroy(plan);
    return rc;
}

const cli_cmd cli_cmd_run = {
    "run",
    "Forecast with a plan",
    "ntgraph run PLAN (--in IN.safetensors --out OUT.safetensors | --data SERIES.csv "
    "[--columns C1,C2|all] [--futr-data FUTURE.csv] [--out FORECAST.csv] [--plot F.svg "
    "[--plot-series ID]] "
    "[--quantiles Q1,Q2,..]) "
    "[--backend B] [--threads N]",
    "With --in, binds every input of the plan's `infer` program by name from a\n"
    "safetensors file (the leading axis is the batch), runs it and writes every output.\n"
    "With --data, forecasts the next h values of each chosen column from its last\n"
    "input_size rows, in original units (a trained plan carries its scaler), and writes\n"
    "a CSV (to stdout without --out) whose first column continues the series' dates;\n"
    "quantile models add a column per quantile (OT-q0.1, ...), as do distribution\n"
    "heads (their train.quantiles or --quantiles, from the predicted distribution) and\n"
    "plans with\n"
    "conformal intervals (the bounds (1 -+ level) / 2). A classification head (loss\n"
    "xent) writes per column its most probable class (OT-class: down/up, or\n"
    "down/flat/up) and each class's probability (OT-p_down, OT-p_up, ...) per step.\n"
    "With --in the outputs are the\n"
    "plan's own (a distribution head's raw parameters, a classifier's logits). --plot\n"
    "draws the\n"
    "history, forecast and intervals as SVG: every column of a wide file, or the one\n"
    "--plot-series names; a ragged panel's series have their own dates, so it draws one\n"
    "(--plot-series ID, default the first forecast). A plan without a fitted scaler (not made\n"
    "by `ntgraph train`, nor recompiled from weights it exported) is warned about once.\n"
    "A plan trained with covariates takes them from --data (historic, static from the\n"
    "plan) and, for future-known columns, from --futr-data in --data's layout: wide\n"
    "data, a wide file whose first h rows are the h steps after --data's last row; long\n"
    "data (unique_id, ds, y or --id-col...), a long file keyed by id and date (its target\n"
    "column optional) with each series' h dates after that series' end. Calendar\n"
    "features need no file.",
    opts,
    (int)(sizeof opts / sizeof opts[0]),
    run,
};
