/* test_cli_compile.c — `ntgraph compile`/`train` on hostile or mistaken input: which exit
 * status (2 bad input, 1 the machine) and which message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_testutil.h"

TestSuite(cli_compile, .init = make_tmp, .fini = rm_tmp);

static const char SMALL[] = "ntgraph: 1\nname: small\nhparams:\n  h: 8\ninputs:\n  x: [batch, 8]\n"
                            "outputs:\n  y: ~\nnodes:\n"
                            "  - {op: dense, in: x, out: a, units: h}\n"
                            "  - {op: relu, in: a, out: y}\n";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

Test(cli_compile, directory_as_graph_says_so)
{
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile %s -o %s", tmpdir, tmp("x.plan")), 2, "%s", o);
    cr_assert(strstr(o, "cannot read graph file: is a directory"), "%s", o);
    free(o);
}

Test(cli_compile, graph_over_64_mib_says_so)
{
    /* sparse: the size is what counts, not the bytes written */
    int fd = creat(tmp("big.yaml"), 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, ((off_t)64 << 20) + 1), 0);
    close(fd);
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile %s -o %s", tmp("big.yaml"), tmp("x.plan")), 2, "%s", o);
    cr_assert(strstr(o, "the file is larger than 64 MiB, the limit for a graph"), "%s", o);
    free(o);
}

Test(cli_compile, plan_where_a_graph_belongs_says_so)
{
    write_text(tmp("g.yaml"), SMALL);
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile %s -o %s", tmp("g.yaml"), tmp("g.plan")), 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "$NTG train %s --data tests/data/series_small.csv --split 0.7,0.15,0.15 "
                    "-o %s",
                    tmp("g.plan"), tmp("t.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "this is a compiled plan file, not a YAML graph"), "%s", o);
    cr_assert_null(strstr(o, "control characters"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG compile %s -o %s", tmp("g.plan"), tmp("t.plan")), 2, "%s", o);
    cr_assert(strstr(o, "this is a compiled plan file, not a YAML graph"), "%s", o);
    free(o);
}

/* A full disk while writing the plan is the machine's failure (exit 1); a bad output
 * path stays the user's (exit 2). */
Test(cli_compile, disk_full_exits_1_bad_path_exits_2)
{
    char mnt[600];
    snprintf(mnt, sizeof mnt, "%s", tmp("small-fs"));
    cr_assert_eq(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0)
        cr_skip_test("cannot mount a small tmpfs here (needs root): %s", strerror(errno));
    write_text(tmp("g.yaml"), SMALL);
    char *o;
    /* h=20000: a 640 KB weight, ten times the file system */
    int rc = sh(&o, "$NTG compile %s -D h=20000 -o %s/g.plan", tmp("g.yaml"), mnt);
    umount(mnt);
    cr_assert_eq(rc, 1, "%s", o);
    cr_assert(strstr(o, "No space left on device"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG compile %s -o %s/no/such/dir/g.plan", tmp("g.yaml"), tmpdir), 2, "%s",
                 o);
    cr_assert(strstr(o, "No such file or directory"), "%s", o);
    free(o);
}

/* -D hidden=2000000000: a 64 GB weight. It used to print only "out of memory", exit 1. */
Test(cli_compile, impossible_hparam_names_tensor_shape_and_bytes)
{
    if (getenv("NTG_SANITIZE"))
        cr_skip_test("an address-space limit and ASan's shadow memory do not mix");
    write_text(tmp("g.yaml"), SMALL);
    char *o;
    /* the limit makes the allocation fail on any machine, however much memory it has */
    cr_assert_eq(sh(&o, "ulimit -v 4000000; $NTG compile %s -D h=2000000000 -o %s", tmp("g.yaml"),
                    tmp("g.plan")),
                 2, "%s", o);
    cr_assert(strstr(o, "g.yaml:10:10: parameter 'a.weight' [2000000000, 8] needs 64000000000 "
                        "bytes (59.6 GiB) for its values, more than this machine can allocate"),
              "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG compile %s -D h=200000000000 -o %s", tmp("g.yaml"), tmp("g.plan")), 2,
                 "%s", o);
    cr_assert(strstr(o, "needs 6400000000000 bytes (5.8 TiB), more than the 1 TiB a plan can "
                        "hold"),
              "%s", o);
    free(o);
}

Test(cli_compile, element_count_overflow_exits_2)
{
    write_text(tmp("o.yaml"),
               "ntgraph: 1\nname: o\ninputs:\n"
               "  x: [batch, 1000000000, 1000000000, 1000]\n"
               "outputs:\n  y: ~\nnodes:\n  - {op: dense, in: x, out: y, units: 4}\n");
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile %s -o %s", tmp("o.yaml"), tmp("o.plan")), 2, "%s", o);
    cr_assert(strstr(o, "o.yaml:4:3: input 'x' [batch, 1000000000, 1000000000, 1000] has more "
                        "elements at batch 256 than 64-bit sizes can count"),
              "%s", o);
    cr_assert_null(strstr(o, "internal error"), "%s", o);
    free(o);
}

Test(cli_compile, flat_sum_of_300_terms_in_a_define)
{
    write_text(tmp("g.yaml"), SMALL);
    char def[1400];
    size_t n = 0;
    for (int i = 0; i < 300; i++) n += (size_t)snprintf(def + n, sizeof def - n, i ? "+1" : "1");
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile %s -D 'h=%s' -o %s && $NTG info %s", tmp("g.yaml"), def,
                    tmp("g.plan"), tmp("g.plan")),
                 0, "%s", o);
    cr_assert(strstr(o, "hparams:     h=300"), "%s", o);
    free(o);
}
