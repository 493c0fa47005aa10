/* test_mesh_env.c — rank, world and rendezvous from launcher environments; Slurm hostlists. */
#include <criterion/criterion.h>
#include <string.h>

#include "mesh.h"

/* Resolve with a fixed environment (NULL-terminated list) and explicit values. */
static ntg_status resolve(const char *const *env, int rank, int world, const char *rdv,
                          ntg__mesh_launch *out, ntg_error *err)
{
    return ntg__mesh_launch_resolve(env, rank, world, rdv, out, err);
}

static void fails(const char *const *env, int rank, int world, const char *rdv, const char *want)
{
    ntg__mesh_launch l;
    ntg_error err;
    ntg_status st = resolve(env, rank, world, rdv, &l, &err);
    cr_assert_eq(st, NTG_ERR_INVALID_ARG, "accepted; expected an error with '%s'", want);
    cr_assert(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
}

Test(mesh, open_mpi_single_node_meets_on_loopback)
{
    const char *env[] = {"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=2",
                         "OMPI_COMM_WORLD_LOCAL_SIZE=2", NULL};
    ntg__mesh_launch l;
    ntg_error err;
    cr_assert_eq(resolve(env, -1, 0, NULL, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(l.rank, 1);
    cr_assert_eq(l.world, 2);
    cr_assert_str_eq(l.rendezvous, "tcp://127.0.0.1:29600");
    cr_assert(strstr(l.source, "Open MPI"), "%s", l.source);
    cr_assert(strstr(l.source, "OMPI_COMM_WORLD_RANK"), "%s", l.source);
}

Test(mesh, open_mpi_across_hosts_needs_a_rendezvous)
{
    const char *env[] = {"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=4",
                         "OMPI_COMM_WORLD_LOCAL_SIZE=2", NULL};
    fails(env, -1, 0, NULL, "no rendezvous for rank 1 of 4");
    const char *env2[] = {
        "OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_SIZE=2",
        "MASTER_ADDR=node07",     "MASTER_PORT=4000",       NULL};
    ntg__mesh_launch l;
    cr_assert_eq(resolve(env2, -1, 0, NULL, &l, NULL), NTG_OK);
    cr_assert_str_eq(l.rendezvous, "tcp://node07:4000");
}

Test(mesh, pmi_ranks_from_mpich)
{
    const char *env[] = {"PMI_RANK=2", "PMI_SIZE=3", "MPI_LOCALNRANKS=3", NULL};
    ntg__mesh_launch l;
    cr_assert_eq(resolve(env, -1, 0, NULL, &l, NULL), NTG_OK);
    cr_assert_eq(l.rank, 2);
    cr_assert_eq(l.world, 3);
    cr_assert(strstr(l.source, "PMI"), "%s", l.source);
    const char *half[] = {"PMI_RANK=2", NULL};
    fails(half, -1, 0, NULL, "PMI_RANK is set but PMI_SIZE is not");
}

Test(mesh, slurm_meets_on_the_first_host_of_the_node_list)
{
    const char *env[] = {"SLURM_PROCID=3", "SLURM_NTASKS=8",
                         "SLURM_JOB_NODELIST=node[07-10,12],gpu-a", "SLURM_JOB_ID=123456", NULL};
    ntg__mesh_launch l;
    ntg_error err;
    cr_assert_eq(resolve(env, -1, 0, NULL, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(l.rank, 3);
    cr_assert_eq(l.world, 8);
    /* jobs get ports of their own: 29600 + 123456 % 1000 */
    cr_assert_str_eq(l.rendezvous, "tcp://node07:30056");
    cr_assert(strstr(l.source, "SLURM_JOB_NODELIST"), "%s", l.source);
    /* MASTER_PORT wins over the job-derived port; SLURM_NPROCS stands in for SLURM_NTASKS */
    const char *env2[] = {"SLURM_PROCID=0", "SLURM_NPROCS=2", "SLURM_NODELIST=c1",
                          "MASTER_PORT=7000", NULL};
    cr_assert_eq(resolve(env2, -1, 0, NULL, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(l.world, 2);
    cr_assert_str_eq(l.rendezvous, "tcp://c1:7000");
    const char *bad[] = {"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_JOB_NODELIST=node[01-", NULL};
    fails(bad, -1, 0, NULL, "SLURM_JOB_NODELIST: hostlist 'node[01-'");
}

Test(mesh, torchrun_variables)
{
    const char *env[] = {"RANK=1", "WORLD_SIZE=2", "MASTER_ADDR=10.0.0.5", "MASTER_PORT=29500",
                         NULL};
    ntg__mesh_launch l;
    cr_assert_eq(resolve(env, -1, 0, NULL, &l, NULL), NTG_OK);
    cr_assert_eq(l.rank, 1);
    cr_assert_str_eq(l.rendezvous, "tcp://10.0.0.5:29500");
    const char *v6[] = {"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=fd00::1", NULL};
    cr_assert_eq(resolve(v6, -1, 0, NULL, &l, NULL), NTG_OK);
    cr_assert_str_eq(l.rendezvous, "tcp://[fd00::1]:29600");
}

Test(mesh, the_first_launcher_found_wins)
{
    /* mpirun inside a Slurm allocation: the batch step's SLURM_PROCID is 0 for everyone */
    const char *env[] = {
        "SLURM_PROCID=0",         "SLURM_NTASKS=4",         "SLURM_JOB_NODELIST=n[1-2]",
        "OMPI_COMM_WORLD_RANK=3", "OMPI_COMM_WORLD_SIZE=4", NULL};
    ntg__mesh_launch l;
    cr_assert_eq(resolve(env, -1, 0, NULL, &l, NULL), NTG_OK);
    cr_assert_eq(l.rank, 3);
    cr_assert_str_eq(l.rendezvous, "tcp://n1:29600");
}

Test(mesh, explicit_values_override_the_environment)
{
    const char *env[] = {"RANK=1", "WORLD_SIZE=2", "MASTER_ADDR=10.0.0.5", NULL};
    ntg__mesh_launch l;
    ntg_error err;
    cr_assert_eq(resolve(env, 3, 4, "tcp://head:1234", &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(l.rank, 3);
    cr_assert_eq(l.world, 4);
    cr_assert_str_eq(l.rendezvous, "tcp://head:1234");
    cr_assert(strstr(l.source, "--rank") && strstr(l.source, "--world") &&
                  strstr(l.source, "--rendezvous"),
              "%s", l.source);
    /* an explicit rank with the launcher's world */
    cr_assert_eq(resolve(env, 0, 0, NULL, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(l.rank, 0);
    cr_assert_eq(l.world, 2);
    /* flags alone; a world of one needs no rendezvous */
    const char *none[] = {NULL};
    cr_assert_eq(resolve(none, 0, 1, NULL, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(l.rendezvous, "tcp://127.0.0.1:29600");
}

Test(mesh, missing_contradictory_and_out_of_range_values_are_named)
{
    const char *none[] = {NULL};
    fails(none, -1, 0, NULL, "no rank: give --rank and --world");
    fails(none, 1, 0, NULL, "a rank (--rank) but no world size");
    fails(none, 1, 2, NULL, "no rendezvous for rank 1 of 2");
    fails(none, 1, 2, "http://x:1", "--rendezvous 'http://x:1' is not tcp://HOST:PORT");
    fails(none, 1, 2, "tcp://x:70000", "is not tcp://HOST:PORT");
    const char *env[] = {"RANK=4", "WORLD_SIZE=4", "MASTER_ADDR=h", NULL};
    fails(env, -1, 0, NULL, "rank 4 (RANK) is outside 0..3 (world 4, WORLD_SIZE)");
    fails(env, 5, 0, NULL, "rank 5 (--rank) is outside 0..3");
    const char *notnum[] = {"RANK=one", "WORLD_SIZE=4", NULL};
    fails(notnum, -1, 0, NULL, "RANK='one' is not a non-negative integer");
    const char *neg[] = {"RANK=-1", "WORLD_SIZE=4", NULL};
    fails(neg, -1, 0, NULL, "RANK='-1' is not a non-negative integer");
    const char *zero[] = {"RANK=0", "WORLD_SIZE=0", NULL};
    fails(zero, -1, 0, NULL, "WORLD_SIZE=0 is outside 1..4096");
    const char *huge[] = {"RANK=0", "WORLD_SIZE=100000", NULL};
    fails(huge, -1, 0, NULL, "WORLD_SIZE=100000 is outside 1..4096");
    const char *nor[] = {"WORLD_SIZE=4", NULL};
    fails(nor, -1, 0, NULL, "WORLD_SIZE is set but RANK is not");
    const char *badport[] = {"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=h", "MASTER_PORT=0", NULL};
    fails(badport, -1, 0, NULL, "MASTER_PORT=0 is outside 1..65535");
    const char *badaddr[] = {"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=a b", NULL};
    fails(badaddr, -1, 0, NULL, "MASTER_ADDR: 'a b' is not a host name");
}

/* Every host of a list, joined by spaces. */
static void expand(const char *list, char *out, size_t cap)
{
    size_t n;
    ntg_error err;
    cr_assert_eq(ntg__mesh_hostlist_count(list, &n, &err), NTG_OK, "%s: %s", list, err.message);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char host[64];
        cr_assert_eq(ntg__mesh_hostlist_nth(list, i, host, sizeof host, &err), NTG_OK, "%s",
                     err.message);
        if (i) strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, host, cap - strlen(out) - 1);
    }
}

Test(mesh, slurm_hostlists_expand_in_slurms_order)
{
    char got[1024];
    expand("node[01-04,07],gpu-a", got, sizeof got);
    cr_assert_str_eq(got, "node01 node02 node03 node04 node07 gpu-a");
    expand("n[8-11]", got, sizeof got);
    cr_assert_str_eq(got, "n8 n9 n10 n11");
    expand("r[1-2]n[01-02]", got, sizeof got);
    cr_assert_str_eq(got, "r1n01 r1n02 r2n01 r2n02");
    expand("a,b.c-d,x[5]", got, sizeof got);
    cr_assert_str_eq(got, "a b.c-d x5");
    expand("rack[009-011]-gpu", got, sizeof got);
    cr_assert_str_eq(got, "rack009-gpu rack010-gpu rack011-gpu");
    size_t n;
    cr_assert_eq(ntg__mesh_hostlist_count("c[1-1000],d[1-24]", &n, NULL), NTG_OK);
    cr_assert_eq(n, 1024);
    char host[64];
    cr_assert_eq(ntg__mesh_hostlist_nth("c[1-1000],d[1-24]", 1000, host, sizeof host, NULL),
                 NTG_OK);
    cr_assert_str_eq(host, "d1");
}

Test(mesh, malformed_hostlists_name_the_column)
{
    struct {
        const char *list, *why;
    } bad[] = {
        {"node[01-", "'[' at column 5 is not closed"},
        {"node[04-01]", "range 4-1 runs backwards"},
        {"node[a-b]", "a number of 1..9 digits expected at column 6"},
        {"node[1-2;3]", "',' or ']' expected at column 9"},
        {"a,,b", "empty host at column 3"},
        {"node]1", "unexpected ']' at column 5"},
        {"n[1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2][1-2]",
         "more than 16 bracket groups"},
        {"n[1-999999999]", "more than 10000000 hosts"},
        {"n[0000000001-2]", "a number of 1..9 digits"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n;
        ntg_error err;
        cr_assert_eq(ntg__mesh_hostlist_count(bad[i].list, &n, &err), NTG_ERR_INVALID_ARG,
                     "accepted '%s'", bad[i].list);
        cr_assert(strstr(err.message, bad[i].why), "'%s': %s", bad[i].list, err.message);
    }
    char host[4];
    ntg_error err;
    cr_assert_eq(ntg__mesh_hostlist_nth("node1", 0, host, sizeof host, &err), NTG_ERR_RANGE);
    cr_assert_eq(ntg__mesh_hostlist_nth("a,b", 2, host, sizeof host, &err), NTG_ERR_RANGE);
    cr_assert(strstr(err.message, "has 2 hosts; no host 2"), "%s", err.message);
}
