/* cmd_run.c — `ntgraph run`: forecast with a plan, from tensors or from a series CSV. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "error.h"
#include "plan_int.h"
#include "pool.h"
#include "safetensors.h"

static const cli_opt opts[] = {
    {"in", 0, "IN.safetensors", 0, "input tensors by name (the canonical models read `x`)"},
    {"out", 'o', "FILE", 0, "outputs: a .safetensors file with --in, a CSV file with --data"},
    {"data", 0, "SERIES.csv", 0, "forecast the next h values of each column of a CSV"},
    {"columns", 0, "C1,C2|all", 0, "with --data: the columns to forecast (default all)"},
    {"backend", 0, "B", 0, "backend: auto (default), cpu"},
    {"threads", 0, "N", 0, "worker threads (default: one per core)"},
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
        ntg_plan_input(plan, i, &ti);
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
        ntg_plan_output(plan, o, &ti);
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

/* --data: the last input_size rows of each chosen column, forecast h steps ahead. */
static int run_series(const cli_cmd *cmd, cli_args *a, const ntg_plan *plan)
{
    ntg_error err;
    ntg_series *ser = NULL;
    ntg_session *s = NULL;
    int usage = 0, rc = CLI_OK;
    char *colbuf = NULL;
    int *cols = NULL;
    float *x = NULL, *y = NULL;
    FILE *f = NULL;
    const char *out_path = cli_get(a, "out");
    ntg_tensor_info xi, yi;
    if (ntg_plan_input_count(plan) != 1 || ntg_plan_output_count(plan) < 1)
        return cli_usage_error(cmd, "--data needs a plan with one input (got %zu)",
                               ntg_plan_input_count(plan));
    ntg_plan_input(plan, 0, &xi);
    ntg_plan_output(plan, 0, &yi);
    if (!xi.batched || xi.rank != 2 || !yi.batched || yi.rank != 2)
        return cli_usage_error(cmd, "--data needs a plan mapping x [batch, input_size] to "
                                    "y [batch, h]");
    size_t L = (size_t)xi.shape[1], H = (size_t)yi.shape[1];
    ntg_csv_options co;
    ntg__csv_options_init(&co);
    ntg_status st = ntg__csv_read(cli_get(a, "data"), &co, &ser, &err);
    if (st) return cli_fail(cmd, st, &err);

    const char *spec = cli_get(a, "columns");
    size_t nc = 0;
    cols = calloc(ser->n_cols + 1, sizeof *cols);
    if (!cols) goto nomem;
    if (!spec || strcmp(spec, "all") == 0) {
        for (size_t c = 0; c < ser->n_cols; c++) cols[nc++] = (int)c;
    } else {
        char *parts[256];
        int np = cli_split(spec, ',', &colbuf, parts, 256);
        if (np < 0) goto nomem;
        for (int i = 0; i < np; i++) {
            int c = ntg__series_find(ser, parts[i]);
            if (c < 0) {
                rc = cli_usage_error(cmd, "--columns: %s has no column '%s'", cli_get(a, "data"),
                                     parts[i]);
                goto done;
            }
            if ((size_t)i >= ser->n_cols) {
                rc = cli_usage_error(cmd, "--columns: too many columns");
                goto done;
            }
            cols[nc++] = c;
        }
    }
    if (ser->n_rows < L) {
        st = ntg__err(&err, NTG_ERR_DATA, cli_get(a, "data"), 0, 0,
                      "%zu rows, but the plan reads windows of input_size %zu", ser->n_rows, L);
        goto fail;
    }
    st = make_session(cmd, a, plan, &s, &err, &usage);
    if (usage) {
        rc = CLI_USAGE;
        goto done;
    }
    if (st) goto fail;
    size_t maxb = (size_t)ntg_plan_max_batch(plan);
    x = malloc(maxb * L * sizeof *x);
    y = malloc(nc * H * sizeof *y + 1);
    if (!x || !y) goto nomem;
    for (size_t c0 = 0; c0 < nc; c0 += maxb) {
        size_t b = nc - c0 < maxb ? nc - c0 : maxb;
        for (size_t k = 0; k < b; k++) {
            const double *col = ser->values + (size_t)cols[c0 + k] * ser->n_rows;
            for (size_t t = 0; t < L; t++) x[k * L + t] = (float)col[ser->n_rows - L + t];
        }
        if ((st = ntg_session_set_input(s, xi.name, x, b * L, &err))) goto fail;
        if ((st = ntg_session_run(s, (int)b, &err))) goto fail;
        if ((st = ntg_session_get_output(s, yi.name, y + c0 * H, b * H, &err))) goto fail;
    }
    f = out_path ? fopen(out_path, "w") : stdout;
    if (!f) {
        st = ntg__err(&err, NTG_ERR_IO, out_path, 0, 0, "cannot open for writing");
        goto fail;
    }
    ntg_pool *pool = ntg__pool_create();
    if (!pool) goto nomem;
    cli_csv_field(f, ser->dates ? (ser->date_name ? ser->date_name : "date") : "step");
    for (size_t k = 0; k < nc; k++) {
        fputc(',', f);
        cli_csv_field(f, ser->names[cols[k]]);
    }
    fputc('\n', f);
    const char **dates = ser->dates ? ntg__series_next_dates(ser, 1, H, pool) : NULL;
    for (size_t t = 0; t < H; t++) {
        const char *date = dates ? dates[t] : NULL;
        if (date)
            fprintf(f, "%s", date);
        else
            fprintf(f, "%zu", t + 1);
        for (size_t k = 0; k < nc; k++) fprintf(f, ",%.9g", (double)y[k * H + t]);
        fputc('\n', f);
    }
    ntg__pool_destroy(pool);
    if (f != stdout && fclose(f) != 0) {
        f = NULL;
        st = ntg__err(&err, NTG_ERR_IO, out_path, 0, 0, "write failed");
        goto fail;
    }
    f = NULL;
    goto done;
nomem:
    st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
fail:
    rc = cli_fail(cmd, st, &err);
done:
    if (f && f != stdout) fclose(f);
    free(x);
    free(y);
    free(cols);
    free(colbuf);
    ntg_session_destroy(s);
    ntg__series_free(ser);
    return rc;
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one plan file");
    int has_in = cli_get(a, "in") != NULL, has_data = cli_get(a, "data") != NULL;
    if (has_in == has_data) return cli_usage_error(cmd, "give either --in or --data");
    if (has_in && cli_get(a, "columns")) return cli_usage_error(cmd, "--columns needs --data");
    ntg_plan *plan = NULL;
    ntg_error err;
    ntg_status st = cli_load_plan(a->pos[0], &plan, &err);
    if (st) return cli_fail(cmd, st, &err);
    int rc = has_in ? run_tensors(cmd, a, plan) : run_series(cmd, a, plan);
    ntg_plan_destroy(plan);
    return rc;
}

const cli_cmd cli_cmd_run = {
    "run",
    "Forecast with a plan",
    "ntgraph run PLAN (--in IN.safetensors --out OUT.safetensors | --data SERIES.csv "
    "[--columns C1,C2|all] [--out FORECAST.csv]) [--backend B] [--threads N]",
    "With --in, binds every input of the plan's `infer` program by name from a\n"
    "safetensors file (the leading axis is the batch), runs it and writes every output.\n"
    "With --data, forecasts the next h values of each chosen column from its last\n"
    "input_size rows and writes a CSV (to stdout without --out) whose first column\n"
    "continues the series' dates.",
    opts,
    (int)(sizeof opts / sizeof opts[0]),
    run,
};
