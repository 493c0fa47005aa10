/* forecast_bench.c — batch-1 forecast latency through ntg_forecaster_run, and the memory an
 * extra forecaster (a session plus buffers) costs (docs/benchmarks.md).
 *
 *   build/bench/forecast_bench PLAN [BACKEND [ITERS [SESSIONS]]]
 *
 * Latency: one window of input_size values (a sine with noise, in original units) forecast
 * ITERS times after 50 warm-up calls, one thread; the same with ntg_session_run on an
 * already scaled input, so the cost of the scaling, checks and the result object shows.
 * Memory: the resident set (/proc/self/statm) before and after the first forecaster is
 * created and has run once (it pays for what the plan's sessions share: packed weights),
 * then before and after SESSIONS more batch-1 forecasters are created and each has run
 * once (a run touches its arena), divided by SESSIONS.  Not a test: run it by hand on a
 * quiet machine and note `uptime`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ntgraph.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (!f) return NAN;
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
    fclose(f);
    return (double)res * 4096.0 / 1048576.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *us, int n)
{
    qsort(us, (size_t)n, sizeof *us, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += us[i];
    printf("%-34s mean %8.1f us  p50 %8.1f us  p99 %8.1f us  (%d calls)\n", what, sum / n,
           us[n / 2], us[(int)(0.99 * (n - 1))], n);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLAN [BACKEND [ITERS [SESSIONS]]]\n", argv[0]);
        return 2;
    }
    const char *backend = argc > 2 ? argv[2] : "auto";
    int iters = argc > 3 ? atoi(argv[3]) : 2000, extra = argc > 4 ? atoi(argv[4]) : 8;
    if (iters < 10 || extra < 1) {
        fprintf(stderr, "ITERS must be >= 10 and SESSIONS >= 1\n");
        return 2;
    }
    ntg_error err;
    ntg_plan *plan = NULL;
    if (ntg_plan_load_file(argv[1], &plan, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 2;
    }
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = backend;
    so.threads = 1;
    so.max_batch = 1;
    ntg_forecaster *fc = NULL;
    double first_before = rss_mib(), first_after = NAN;
    if (ntg_forecaster_create(plan, &so, &fc, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    size_t L = ntg_forecaster_input_size(fc), h = ntg_forecaster_horizon(fc);
    double *v = malloc(L * sizeof *v);
    float *x = malloc(L * sizeof *x), *y = malloc(64 * h * sizeof *y);
    double *us = malloc((size_t)iters * sizeof *us);
    if (!v || !x || !y || !us) return 1;
    for (size_t i = 0; i < L; i++) {
        v[i] = 20 + 5 * sin((double)i * 2 * 3.14159265358979 / 24) + 0.1 * (double)(i % 7);
        x[i] = (float)((v[i] - 20) / 5);
    }
    const char *col = ntg_plan_meta(plan, "scaler.columns");
    char name[128] = "";
    /* the first column the scaler was fitted on: ["HUFL", ...] */
    if (col && col[0] == '[' && col[1] == '"') {
        size_t n = strcspn(col + 2, "\"");
        if (n < sizeof name) {
            memcpy(name, col + 2, n);
            name[n] = '\0';
        }
    }
    ntg_window w;
    ntg_window_init(&w);
    w.column = name[0] ? name : NULL;
    w.values = v;
    w.n_values = L;
    ntg_forecast *out = NULL;
    for (int i = 0; i < 50 + iters; i++) {
        double t0 = now_us();
        if (ntg_forecaster_run(fc, &w, 1, &out, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        ntg_forecast_destroy(out);
        if (i >= 50) us[i - 50] = now_us() - t0;
        if (i == 0) first_after = rss_mib();
    }
    printf("plan %s: input_size %zu, h %zu, backend %s, 1 thread\n", argv[1], L, h, backend);
    report("ntg_forecaster_run (batch 1)", us, iters);
    ntg_session *s = NULL;
    if (ntg_session_create(plan, &so, &s, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    ntg_tensor_info xi, yi;
    ntg_tensor_info_init(&xi);
    ntg_tensor_info_init(&yi);
    ntg_plan_input(plan, 0, &xi, NULL);
    ntg_plan_output(plan, 0, &yi, NULL);
    size_t ny = yi.nbytes / sizeof(float) / (size_t)yi.shape[0];
    for (int i = 0; i < 50 + iters; i++) {
        double t0 = now_us();
        if (ntg_session_set_input(s, xi.name, x, L, &err) || ntg_session_run(s, 1, &err) ||
            ntg_session_get_output(s, yi.name, y, ny, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        if (i >= 50) us[i - 50] = now_us() - t0;
    }
    report("set_input + session_run + get_output", us, iters);
    ntg_session_destroy(s);

    /* memory of more forecasters of the same plan */
    ntg_forecaster **more = calloc((size_t)extra, sizeof *more);
    if (!more) return 1;
    double before = rss_mib();
    for (int k = 0; k < extra; k++) {
        if (ntg_forecaster_create(plan, &so, &more[k], &err) ||
            ntg_forecaster_run(more[k], &w, 1, &out, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        ntg_forecast_destroy(out);
    }
    double after = rss_mib();
    printf("first batch-1 forecaster: resident %.1f -> %.1f MiB, %.2f MiB (with what the "
           "plan's sessions share)\n",
           first_before, first_after, first_after - first_before);
    printf("%d more batch-1 forecasters: resident %.1f -> %.1f MiB, %.2f MiB each "
           "(arena at the plan's max batch %d: %.2f MiB)\n",
           extra, before, after, (after - before) / extra, ntg_plan_max_batch(plan),
           (double)ntg_plan_arena_bytes(plan) / 1048576.0);
    for (int k = 0; k < extra; k++) ntg_forecaster_destroy(more[k]);
    free(more);
    ntg_forecaster_destroy(fc);
    ntg_plan_destroy(plan);
    free(v);
    free(x);
    free(y);
    free(us);
    return 0;
}
