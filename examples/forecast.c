/* forecast.c — embedding example: load a plan and forecast one series using only ntgraph.h.
 *
 *   cc forecast.c $(pkg-config --cflags --libs ntgraph) -o forecast
 *   ./forecast nhits.plan data/ETTh1.csv OT
 *
 * Reads column COLUMN of a simple CSV (a header line, comma-separated numbers, no
 * quoted fields), takes its last input_size values and prints the next h values,
 * one per line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ntgraph.h>

/* Values of column `name` of a plain CSV file; returns the count, or -1. */
static long read_column(const char *path, const char *name, float **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[65536];
    long n = 0, cap = 0, col = -1;
    float *v = NULL;
    if (fgets(line, sizeof line, f)) {
        long k = 0;
        for (char *tok = strtok(line, ",\r\n"); tok; tok = strtok(NULL, ",\r\n"), k++)
            if (strcmp(tok, name) == 0) col = k;
    }
    if (col < 0) {
        fprintf(stderr, "%s: no column '%s'\n", path, name);
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        for (long k = 0; k < col && p; k++) {
            p = strchr(p, ',');
            if (p) p++;
        }
        if (!p) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            float *nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) {
                free(v);
                fclose(f);
                return -1;
            }
            v = nv;
        }
        v[n++] = strtof(p, NULL);
    }
    fclose(f);
    *out = v;
    return n;
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
    ntg_session *session = NULL;
    float *series = NULL, *forecast = NULL;
    int rc = 1;

    if (ntg_plan_load_file(argv[1], &plan, &err) != NTG_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 2;
    }
    ntg_tensor_info x, y;
    if (ntg_plan_input(plan, 0, &x) != NTG_OK || ntg_plan_output(plan, 0, &y) != NTG_OK ||
        x.rank != 2 || y.rank != 2) {
        fprintf(stderr, "%s: expected a plan from [batch, input_size] to [batch, h]\n", argv[1]);
        goto done;
    }
    long input_size = (long)x.shape[1], h = (long)y.shape[1];
    long n = read_column(argv[2], argv[3], &series);
    if (n < 0) goto done;
    if (n < input_size) {
        fprintf(stderr, "%s: %ld values, the plan needs %ld\n", argv[2], n, input_size);
        goto done;
    }

    ntg_session_options opts;
    ntg_session_options_init(&opts);
    opts.max_batch = 1;
    forecast = malloc((size_t)h * sizeof *forecast);
    if (!forecast || ntg_session_create(plan, &opts, &session, &err) != NTG_OK ||
        ntg_session_set_input(session, x.name, series + n - input_size, (size_t)input_size, &err) !=
            NTG_OK ||
        ntg_session_run(session, 1, &err) != NTG_OK ||
        ntg_session_get_output(session, y.name, forecast, (size_t)h, &err) != NTG_OK) {
        fprintf(stderr, "%s\n", forecast ? err.message : "out of memory");
        goto done;
    }
    for (long t = 0; t < h; t++) printf("%.9g\n", (double)forecast[t]);
    rc = 0;
done:
    ntg_session_destroy(session);
    ntg_plan_destroy(plan);
    free(series);
    free(forecast);
    return rc;
}
