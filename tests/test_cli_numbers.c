/* test_cli_numbers.c — the ntgraph command refuses numbers that are garbage instead of
 * printing them as results: huge values, bad dates, non-finite weights, repeated columns,
 * quantile labels, settings that do nothing; and its help and info say what is true. */
#include <criterion/criterion.h>
#include <string.h>

#include "cli_testutil.h"

TestSuite(cli, .init = make_tmp, .fini = rm_tmp);

#define TINY "-D h=24 -D input_size=96 -D hidden=32"
#define SPLIT "--split 1000,250,250"

/* The first 1500 rows of ETTh1 (hourly, 2016-07-01 00:00 to 2016-09-01 11:00). */
static const char *etth1_slice(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s", tmp("etth1_slice.csv"));
    char *o;
    cr_assert_eq(sh(&o, "head -n 1501 data/ETTh1.csv > '%s'", path), 0, "%s", o);
    free(o);
    return path;
}

/* A tiny N-HiTS trained for a few steps on the slice. */
static const char *trained_plan(void)
{
    static char plan[600];
    snprintf(plan, sizeof plan, "%s", tmp("t.plan"));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --steps 5 --batch 16 --val-every 0 -o '%s'",
                    etth1_slice(), plan),
                 0, "%s", o);
    free(o);
    return plan;
}

Test(cli, a_column_chosen_twice_is_refused)
{
    const char *plan = trained_plan(), *csv = etth1_slice();
    char *o;
    cr_assert_eq(sh(&o, "$NTG eval '%s' --data '%s' " SPLIT " --columns OT,HUFL,OT", plan, csv), 2,
                 "%s", o);
    cr_assert(strstr(o, "ntgraph eval: error: columns 'OT,HUFL,OT': 'OT' is chosen twice"), "%s",
              o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run '%s' --data '%s' --columns OT,OT", plan, csv), 2, "%s", o);
    cr_assert(strstr(o, "'OT' is chosen twice"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train graphs/nhits.yaml " TINY " --data '%s' " SPLIT
                    " --columns OT,OT --steps 2 -o '%s'",
                    csv, tmp("twice.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "'OT' is chosen twice"), "%s", o);
    free(o);
    cr_assert_neq(access(tmp("twice.plan"), F_OK), 0, "no plan written on error");
}
