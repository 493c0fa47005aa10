/* forecast.c — embedding example: forecast one series held in memory, using only ntgraph.h.
 *
 *   cc forecast.c $(pkg-config --cflags --libs ntgraph) -o forecast
 *   ./forecast nhits.plan data/ETTh1.csv OT
 *
 * Stands for a program with a live feed: it reads column COLUMN of a simple CSV (a header
 * line, comma-separated fields, no quoted fields) into memory, with the first column as
 * time stamps when that column is not numeric, and asks the library for the next h values
 * in original units (the plan's fitted scaler applied both ways).  It prints them as
 * `ntgraph run PLAN --data DATA.csv --columns COLUMN` does: a header, then one line per
 * step (date or step number, the point forecast, then the other quantile levels of a
 * quantile model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ntgraph.h>

/* One column of a CSV file in memory: values, and the first column's cells when it is
 * not numeric (the dates). */
typedef struct column {
    double *values;
    char **dates; /* NULL when the first column is numeric */
    size_t n, cap;
    char date_name[64];
} column;

static void column_free(column *c)
{
    for (size_t i = 0; c->dates && i < c->n; i++) free(c->dates[i]);
    free(c->dates);
    free(c->values);
}

/* Field k of a comma-separated line, copied into buf; 0 when the line has no field k. */
static int field(const char *line, long k, char *buf, size_t cap)
{
    for (long i = 0; i < k; i++) {
        line = strchr(line, ',');
        if (!line) return 0;
        line++;
    }
    size_t n = strcspn(line, ",\r\n");
    if (n >= cap) n = cap - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
    return 1;
}

/* strdup is POSIX, not C11 */
static char *copy_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int read_column(const char *path, const char *name, column *c)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    static char line[65536];
    char cell[256];
    long col = -1;
    if (fgets(line, sizeof line, f)) {
        for (long k = 0; field(line, k, cell, sizeof cell); k++)
            if (strcmp(cell, name) == 0) col = k;
        field(line, 0, c->date_name, sizeof c->date_name);
    }
    int first = 1, rc = 0;
    while (col >= 0 && rc == 0 && fgets(line, sizeof line, f)) {
        char *end;
        if (!field(line, col, cell, sizeof cell)) continue;
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 1024;
            double *v = realloc(c->values, c->cap * sizeof *v);
            char **d = first || c->dates ? realloc(c->dates, c->cap * sizeof *d) : NULL;
            if (v) c->values = v;
            if (d) c->dates = d;
            if (!v || (!d && (first || c->dates))) {
                rc = -1;
                break;
            }
        }
        c->values[c->n] = strtod(cell, &end);
        if (end == cell) {
            fprintf(stderr, "%s: '%s' is not a number\n", path, cell);
            rc = -1;
            break;
        }
        field(line, 0, cell, sizeof cell);
        if (first) {
            strtod(cell, &end);
            if (*end == '\0' && end != cell) { /* a numeric first column: no dates */
                free(c->dates);
                c->dates = NULL;
            }
            first = 0;
        }
        if (c->dates && !(c->dates[c->n] = copy_str(cell))) rc = -1;
        c->n++;
    }
    fclose(f);
    if (col < 0) fprintf(stderr, "%s: no column '%s'\n", path, name);
    if (col < 0 || rc) {
        column_free(c);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PLAN DATA.csv COLUMN\n", argv[0]);
        return 2;
    }
    if (ntg_version_number() / 100 != NTG_VERSION_NUMBER / 100) {
        fprintf(stderr, "built against ntgraph %s, running with %s\n", NTG_VERSION_STRING,
                ntg_version_string());
        return 1;
    }
    ntg_error err;
    ntg_plan *plan = NULL;
    ntg_forecaster *fc = NULL;
    ntg_forecast *out = NULL;
    column c;
    if (read_column(argv[2], argv[3], &c) != 0) return 2;
    int rc = 2;

    ntg_session_options opts;
    ntg_session_options_init(&opts);
    opts.max_batch = 1; /* one window at a time: the smallest session */
    if (ntg_plan_load_file(argv[1], &plan, &err) != NTG_OK ||
        ntg_forecaster_create(plan, &opts, &fc, &err) != NTG_OK)
        goto fail;
    if (!ntg_forecaster_scaled(fc))
        fprintf(stderr,
                "warning: %s has no fitted scaler: the values reach the model as they "
                "are\n",
                argv[1]);

    /* the whole history may be passed: the model reads the last input_size values */
    ntg_window w;
    ntg_window_init(&w);
    w.column = argv[3];
    w.values = c.values;
    w.n_values = c.n;
    w.timestamps = (const char *const *)c.dates;
    if (ntg_forecaster_run(fc, &w, 1, &out, &err) != NTG_OK) goto fail;

    size_t h = ntg_forecast_horizon(out), nq = ntg_forecast_quantiles(out);
    printf("%s,%s", ntg_forecast_date(out, 0) ? c.date_name : "step", argv[3]);
    for (size_t q = 1; q < nq; q++) printf(",%s-q%g", argv[3], ntg_forecast_quantile_level(out, q));
    printf("\n");
    for (size_t t = 0; t < h; t++) {
        if (ntg_forecast_date(out, t))
            printf("%s", ntg_forecast_date(out, t));
        else
            printf("%zu", t + 1);
        for (size_t q = 0; q < (nq ? nq : 1); q++)
            printf(",%.9g", ntg_forecast_value(out, 0, t, q));
        printf("\n");
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "%s\n", err.message);
    rc = err.status == NTG_ERR_IO || err.status == NTG_ERR_NOMEM || err.status == NTG_ERR_BACKEND ||
                 err.status == NTG_ERR_INTERNAL
             ? 1
             : 2;
done:
    ntg_forecast_destroy(out);
    ntg_forecaster_destroy(fc);
    ntg_plan_destroy(plan);
    column_free(&c);
    return rc;
}
