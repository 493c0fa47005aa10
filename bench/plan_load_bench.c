/* plan_load_bench.c — how long ntg_plan_load_file takes on a warm plan (page cache hot). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ntgraph.h"

/*
 * Usage: plan_load_bench PLAN [runs]   (default 200 runs after 5 warm-up loads)
 * Prints the best, median and p90 of ntg_plan_load_file (mmap, every section's CRC32C,
 * full validation); ntg_plan_destroy (munmap) is outside the timed region.
 */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: plan_load_bench PLAN [runs]\n");
        return 2;
    }
    int runs = argc == 3 ? atoi(argv[2]) : 200;
    if (runs < 1 || runs > 100000) {
        fprintf(stderr, "plan_load_bench: runs must be 1..100000\n");
        return 2;
    }
    double *t = malloc(sizeof *t * (size_t)runs);
    if (!t) return 1;
    ntg_error err;
    for (int i = -5; i < runs; i++) {
        ntg_plan *p = NULL;
        double t0 = now();
        if (ntg_plan_load_file(argv[1], &p, &err) != NTG_OK) {
            fprintf(stderr, "plan_load_bench: %s\n", err.message);
            free(t);
            return 1;
        }
        double dt = now() - t0;
        ntg_plan_destroy(p);
        if (i >= 0) t[i] = dt;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    printf("ntg_plan_load_file %s: best %.3f ms, median %.3f ms, p90 %.3f ms (%d runs)\n", argv[1],
           1e3 * t[0], 1e3 * t[runs / 2], 1e3 * t[(runs * 9) / 10], runs);
    free(t);
    return 0;
}
