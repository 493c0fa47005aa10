/* test_cli_dist.c — the command line of probabilistic outputs: distribution heads trained with
 * --quantiles and run with other levels, conformal intervals from train --conformal, eval's
 * probabilistic scores, and the errors of misuse. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cli_testutil.h"

/* 2000 rows of a daily cycle plus noise (a fixed generator: no libc rand). */
static void write_series(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "date,y\n"); /* integer time stamps: a step column, not data */
    tu_rng r = {5};
    for (int t = 0; t < 2000; t++)
        fprintf(f, "%d,%.5f\n", t,
                20 + 5 * sin(6.283185307179586 * t / 24.0) + tu_uniform(&r, -1, 1));
    fclose(f);
}

#define SMALL "-D h=24 -D input_size=48 -D hidden=32 --steps 40 --batch 16 --split 0.6,0.2,0.2"

Test(cli_dist, distribution_head_trains_runs_and_scores, .init = make_tmp, .fini = rm_tmp)
{
    write_series(tmp("s.csv"));
    char *out;
    int rc = sh(&out,
                "$NTG train graphs/nhits_normal.yaml --data %s " SMALL
                " --quantiles 0.05,0.5,0.95 -o %s",
                tmp("s.csv"), tmp("n.plan"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = sh(&out, "$NTG run %s --data %s | head -1", tmp("n.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "step,y,y-q0.05,y-q0.95"), "%s", out);
    free(out);
    rc = sh(&out, "$NTG run %s --data %s --quantiles 0.1,0.9 | head -1", tmp("n.plan"),
            tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "step,y,y-q0.1,y-q0.9"), "%s", out);
    free(out);
    rc = sh(&out, "$NTG eval %s --data %s --split 0.6,0.2,0.2 --json", tmp("n.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(
        (strstr(out, "\"coverage_nominal\":0.9") || strstr(out, "\"coverage_nominal\":0.8999")) &&
            strstr(out, "\"crps\":") && strstr(out, "\"pinball\":") && strstr(out, "\"mae\":"),
        "%s", out);
    free(out);
    rc = sh(&out, "$NTG run %s --data %s --quantiles 0.9,0.1", tmp("n.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "ascending levels in (0, 1)"), "%s", out);
    free(out);
}

Test(cli_dist, conformal_intervals_from_train, .init = make_tmp, .fini = rm_tmp)
{
    write_series(tmp("s.csv"));
    char *out;
    int rc = sh(&out, "$NTG train graphs/nhits.yaml --data %s " SMALL " --conformal 0.8 -o %s",
                tmp("s.csv"), tmp("p.plan"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "conformal intervals at levels 0.8 from 377 val windows"), "%s", out);
    free(out);
    rc = sh(&out, "$NTG run %s --data %s | head -1", tmp("p.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "step,y,y-q0.1,y-q0.9"), "%s", out);
    free(out);
    rc = sh(&out, "$NTG eval %s --data %s --split 0.6,0.2,0.2", tmp("p.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "coverage") && strstr(out, "0.8000"), "%s", out);
    free(out);
    /* a point plan has no distribution to take other levels from */
    rc = sh(&out, "$NTG run %s --data %s --quantiles 0.1,0.9", tmp("p.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "--quantiles needs a distribution head"), "%s", out);
    free(out);
}

Test(cli_dist, misuse_is_named, .init = make_tmp, .fini = rm_tmp)
{
    write_series(tmp("s.csv"));
    char *out;
    int rc = sh(&out, "$NTG train graphs/nhits.yaml --data %s " SMALL " --loss normal -o %s",
                tmp("s.csv"), tmp("x.plan"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "loss normal needs output 'y' as [batch, 2, h]"), "%s", out);
    free(out);
    rc = sh(&out, "$NTG train graphs/nhits.yaml --data %s " SMALL " --conformal 0.95,0.8 -o %s",
            tmp("s.csv"), tmp("x.plan"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "--conformal '0.95,0.8'"), "%s", out);
    free(out);
    rc = sh(&out, "$NTG train graphs/nhits_mq.yaml --data %s " SMALL " --conformal 0.8 -o %s",
            tmp("s.csv"), tmp("x.plan"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "conformal intervals are for point models"), "%s", out);
    free(out);
}
