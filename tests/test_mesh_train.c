/* test_mesh_train.c — `ntgraph train --mesh`: N worker processes on loopback train the
 * one-process model (within 1e-5, bitwise repeatable per N); rank 0 alone writes; the flags'
 * errors. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli_testutil.h"
#include "ntgraph.h"

/* Workers on a loaded 2-core host can be descheduled for seconds: the suite gives the mesh a
 * 15 s timeout (NTG_MESH_TIMEOUT_MS, inherited by every worker, also through mpirun and srun);
 * the fault tests shorten it to what they test. */
static void init(void)
{
    make_tmp();
    setenv("NTG_MESH_TIMEOUT_MS", "15000", 1);
}

/* A fault test: a lost worker must be noticed in about `ms`. */
static void fault_timeout(const char *ms)
{
    setenv("NTG_MESH_TIMEOUT_MS", ms, 1);
}

TestSuite(mesh_train, .init = init, .fini = rm_tmp, .timeout = 280);

/* A small N-HiTS (the paper's brief MLP) on the first 1500 rows of ETTh1, one thread. */
#define GRAPH "graphs/nhits_brief.yaml -D h=24 -D input_size=96 -D hidden=32"
#define RUN "--split 1000,250,250 --steps 12 --seed 7 --val-every 4 --threads 1 --backend cpu"
/* a global batch that 3 workers split unevenly (11, 11, 10) */
#define BATCH " --batch 32"

static const char *slice(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s", tmp("etth1_slice.csv"));
    char *o;
    cr_assert_eq(sh(&o, "head -n 1501 data/ETTh1.csv > '%s'", path), 0, "%s", o);
    free(o);
    return path;
}

/* A TCP port free on loopback now (the kernel's pick; closed again for ntgraph to bind). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Every parameter of a plan, concatenated (caller frees). */
static float *weights(const char *plan_path, size_t *n)
{
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_plan_load_file(plan_path, &p, &err), NTG_OK, "%s: %s", plan_path, err.message);
    size_t total = (size_t)ntg_plan_param_elements(p), k = 0;
    float *w = malloc(total * sizeof *w + 4);
    cr_assert(w);
    for (size_t i = 0; i < ntg_plan_param_count(p); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_param(p, i, &ti, NULL), NTG_OK);
        size_t e = ti.nbytes / sizeof(float);
        memcpy(w + k, ntg_plan_param_data(p, i), e * sizeof *w);
        k += e;
    }
    cr_assert_eq(k, total);
    ntg_plan_destroy(p);
    *n = total;
    return w;
}

typedef struct diff {
    double rel_l2;  /* ||a - b|| / ||b|| */
    double rel_max; /* max |a - b| / max |b| */
    int bitwise;
} diff;

static diff compare(const char *a_path, const char *b_path)
{
    size_t na, nb;
    float *a = weights(a_path, &na), *b = weights(b_path, &nb);
    cr_assert_eq(na, nb);
    double num = 0, den = 0, dmax = 0, bmax = 0;
    for (size_t i = 0; i < na; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
        dmax = fmax(dmax, fabs(d));
        bmax = fmax(bmax, fabs((double)b[i]));
    }
    diff r = {sqrt(num / den), dmax / bmax, memcmp(a, b, na * sizeof *a) == 0};
    free(a);
    free(b);
    return r;
}

/* N workers on loopback, each `ntgraph train GRAPH --data CSV RUN EXTRA --mesh --rank r`
 * writing OUT.r.plan and its log to OUT.r.log; returns 0 when every worker exited 0. */
static int mesh_train(int n, const char *csv, const char *out, const char *extra_flags)
{
    char extra[1600];
    snprintf(extra, sizeof extra, "%s %s", strstr(extra_flags, "--batch") ? "" : BATCH,
             extra_flags);
    int port = free_port();
    char *o;
    int rc = sh(&o,
                "pids=''; for r in $(seq 0 %d); do "
                "timeout 200 $NTG train " GRAPH " --data '%s' " RUN " %s --mesh --world %d "
                "--rank $r --rendezvous tcp://127.0.0.1:%d -o '%s.'$r'.plan' "
                ">'%s.'$r'.log' 2>&1 & pids=\"$pids $!\"; done; "
                "rc=0; for p in $pids; do wait $p || rc=1; done; "
                "if [ $rc != 0 ]; then cat '%s.'*.log; fi; exit $rc",
                n - 1, csv, extra, n, port, out, out, out);
    if (rc) cr_log_error("mesh_train N=%d failed:\n%s", n, o);
    free(o);
    return rc;
}

Test(mesh_train, equals_one_process_for_n_1_to_4)
{
    const char *csv = slice();
    char ref[600], *o;
    snprintf(ref, sizeof ref, "%s", tmp("ref.plan"));
    cr_assert_eq(sh(&o, "$NTG train " GRAPH " --data '%s' " RUN BATCH " -o '%s'", csv, ref), 0,
                 "%s", o);
    free(o);
    for (int n = 1; n <= 4; n++) {
        char a[600], b[600], pa[600], pb[600];
        snprintf(a, sizeof a, "%s", tmp(n == 1 ? "n1a" : n == 2 ? "n2a" : n == 3 ? "n3a" : "n4a"));
        snprintf(b, sizeof b, "%s", tmp(n == 1 ? "n1b" : n == 2 ? "n2b" : n == 3 ? "n3b" : "n4b"));
        cr_assert_eq(mesh_train(n, csv, a, ""), 0, "N=%d", n);
        cr_assert_eq(mesh_train(n, csv, b, ""), 0, "N=%d (second run)", n);
        snprintf(pa, sizeof pa, "%s.0.plan", a);
        snprintf(pb, sizeof pb, "%s.0.plan", b);
        /* rank 0 alone writes the plan */
        for (int r = 1; r < n; r++) {
            char other[640];
            snprintf(other, sizeof other, "%s.%d.plan", a, r);
            cr_assert_neq(access(other, F_OK), 0, "worker %d of %d wrote %s", r, n, other);
        }
        diff d = compare(pa, ref), again = compare(pb, pa);
        cr_log_info("mesh train N=%d vs one process: relative L2 %.3e, max |diff| / max |w| "
                    "%.3e, bitwise %d; repeated run bitwise %d",
                    n, d.rel_l2, d.rel_max, d.bitwise, again.bitwise);
        fprintf(stderr,
                "mesh train N=%d vs one process: relative L2 %.3e, max |diff| / max |w| %.3e, "
                "bitwise %d; repeated run bitwise %d\n",
                n, d.rel_l2, d.rel_max, d.bitwise, again.bitwise);
        cr_expect(d.rel_l2 <= 1e-5, "N=%d: relative L2 error %g", n, d.rel_l2);
        cr_expect(d.rel_max <= 1e-5, "N=%d: max error / max weight %g", n, d.rel_max);
        cr_expect(again.bitwise, "N=%d: two runs differ", n);
        /* one worker is the one-process trainer, split into grad + all-reduce + apply */
        if (n == 1) cr_expect(d.bitwise, "N=1 is not bitwise the one-process model");
    }
}

Test(mesh_train, only_rank_0_writes_checkpoints_and_log)
{
    const char *csv = slice();
    char out[600], extra[1400];
    snprintf(out, sizeof out, "%s", tmp("w"));
    /* the same flags on every worker, as a launcher gives them */
    snprintf(extra, sizeof extra, "--checkpoint-dir '%s' --log-csv '%s'", tmp("ck"),
             tmp("log.csv"));
    cr_assert_eq(mesh_train(2, csv, out, extra), 0);
    char *lg = tu_read_file(tmp("log.csv"), NULL);
    cr_assert(lg);
    int lines = 0;
    for (char *p = lg; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 13, "header + 12 steps, written once:\n%s", lg);
    free(lg);
    char *o;
    /* checkpoints at the validations (steps 4, 8, 12: the newest two kept) */
    cr_assert_eq(sh(&o, "ls '%s'", tmp("ck")), 0, "%s", o);
    cr_expect_str_eq(o, "ckpt-000000008.safetensors\nckpt-000000012.safetensors\n");
    free(o);
    cr_assert_eq(sh(&o, "cat '%s'", tmp("w.1.log")), 0);
    cr_expect(strstr(o, "mesh worker 1 of 2: 12 steps done; rank 0 writes the plan"), "%s", o);
    free(o);
}

Test(mesh_train, resume_continues_from_rank_0s_checkpoint)
{
    const char *csv = slice();
    char ref[600], out[600], extra[1400], *o;
    snprintf(ref, sizeof ref, "%s", tmp("ref.plan"));
    snprintf(out, sizeof out, "%s", tmp("r"));
    cr_assert_eq(sh(&o, "$NTG train " GRAPH " --data '%s' " RUN BATCH " -o '%s'", csv, ref), 0,
                 "%s", o);
    free(o);
    /* a one-process run stopped at step 8 leaves its checkpoint; two workers resume it */
    cr_assert_eq(sh(&o,
                    "$NTG train " GRAPH " --data '%s' " RUN BATCH " -o '%s' --checkpoint-dir '%s' "
                    "--checkpoint-every 4 >/dev/null && "
                    "rm -f '%s/ckpt-000000012.safetensors'",
                    csv, tmp("partial.plan"), tmp("ck"), tmp("ck")),
                 0, "%s", o);
    free(o);
    snprintf(extra, sizeof extra, "--checkpoint-dir '%s' --resume", tmp("ck"));
    cr_assert_eq(mesh_train(3, csv, out, extra), 0);
    cr_assert_eq(sh(&o, "cat '%s'", tmp("r.0.log")), 0);
    cr_expect(strstr(o, "resumed from step 8"), "%s", o);
    free(o);
    char p0[640];
    snprintf(p0, sizeof p0, "%s.0.plan", out);
    diff d = compare(p0, ref);
    cr_expect(d.rel_l2 <= 1e-5 && d.rel_max <= 1e-5, "resumed: relative L2 %g, max %g", d.rel_l2,
              d.rel_max);
}

Test(mesh_train, errors)
{
    const char *csv = slice();
    char *o;
    /* mesh flags without --mesh */
    cr_expect_eq(
        sh(&o, "$NTG train " GRAPH " --data '%s' " RUN " -o '%s' --rank 1", csv, tmp("x.plan")), 2,
        "%s", o);
    cr_expect(strstr(o, "--rank belongs to data-parallel training: add --mesh"), "%s", o);
    free(o);
    cr_expect_eq(sh(&o,
                    "NTG_MESH_TRANSPORT=udp $NTG train " GRAPH " --data '%s' " RUN
                    " -o '%s' --mesh --world 1 --rank 0",
                    slice(), tmp("x.plan")),
                 2, "%s", o);
    cr_expect(strstr(o, "NTG_MESH_TRANSPORT='udp' is neither 'tcp' nor 'auto'"), "%s", o);
    free(o);
    /* a heartbeat timeout out of range, from the flag or the environment */
    cr_expect_eq(sh(&o,
                    "$NTG train " GRAPH " --data '%s' " RUN " -o '%s' --mesh --world 1 --rank 0 "
                    "--mesh-timeout 5",
                    csv, tmp("x.plan")),
                 2, "%s", o);
    cr_expect(strstr(o, "mesh-timeout"), "%s", o);
    free(o);
    cr_expect_eq(sh(&o,
                    "NTG_MESH_TIMEOUT_MS=soon $NTG train " GRAPH " --data '%s' " RUN
                    " -o '%s' --mesh --world 1 --rank 0",
                    csv, tmp("x.plan")),
                 2, "%s", o);
    cr_expect(strstr(o, "NTG_MESH_TIMEOUT_MS='soon' is not a timeout in ms"), "%s", o);
    free(o);
    /* a batch smaller than the world: some worker would have no window */
    cr_expect_eq(sh(&o,
                    "$NTG train " GRAPH " --data '%s' " RUN " -o '%s' --batch 1 --mesh --rank 0 "
                    "--world 1",
                    csv, tmp("x.plan")),
                 0, "%s", o);
    free(o);
    int port = free_port();
    cr_expect_eq(sh(&o,
                    "for r in 0 1; do $NTG train " GRAPH " --data '%s' " RUN
                    " -o '%s' --batch 1 --mesh --rank $r --world 2 --rendezvous "
                    "tcp://127.0.0.1:%d > '%s'$r 2>&1 & done; wait; cat '%s'0",
                    csv, tmp("x.plan"), port, tmp("e"), tmp("e")),
                 0, "%s", o);
    cr_expect(strstr(o, "batch 1 is smaller than the mesh's world size 2"), "%s", o);
    free(o);
    /* batchnorm: each worker would normalize by its own shard's statistics */
    FILE *g = fopen(tmp("bn.yaml"), "w");
    cr_assert(g);
    fputs("ntgraph: 1\nname: bn\ninputs:\n  x: [batch, 96]\noutputs:\n  y: [batch, 24]\n"
          "nodes:\n  - {op: dense, name: fc1, in: x, out: h, units: 16}\n"
          "  - {op: batchnorm, name: bn, in: h, out: hn}\n"
          "  - {op: dense, name: fc2, in: hn, out: y, units: 24}\n"
          "train:\n  loss: mse\n",
          g);
    fclose(g);
    port = free_port();
    cr_expect_eq(sh(&o,
                    "for r in 0 1; do $NTG train '%s' --data '%s' " RUN
                    " -o '%s' --mesh --rank $r --world 2 --rendezvous "
                    "tcp://127.0.0.1:%d > '%s'$r 2>&1 & done; wait; cat '%s'0",
                    tmp("bn.yaml"), csv, tmp("x.plan"), port, tmp("e"), tmp("e")),
                 0, "%s", o);
    cr_expect(strstr(o, "data-parallel training of a graph with batchnorm (") &&
                  strstr(o, "train it in one process"),
              "%s", o);
    free(o);
    /* plain TCP beyond loopback is refused without keys or --mesh-insecure */
    cr_expect_eq(sh(&o,
                    "$NTG train " GRAPH " --data '%s' " RUN " -o '%s' --mesh --rank 0 --world 2 "
                    "--rendezvous tcp://0.0.0.0:%d",
                    csv, tmp("x.plan"), free_port()),
                 2, "%s", o);
    cr_expect(strstr(o, "without CURVE keys"), "%s", o);
    free(o);
    /* a launcher variable that is not a number */
    cr_expect_eq(sh(&o,
                    "OMPI_COMM_WORLD_RANK=x OMPI_COMM_WORLD_SIZE=2 $NTG train " GRAPH
                    " --data '%s' " RUN " -o '%s' --mesh",
                    csv, tmp("x.plan")),
                 2, "%s", o);
    cr_expect(strstr(o, "OMPI_COMM_WORLD_RANK"), "%s", o);
    free(o);
}

/* ------------------------------------------------------------------ mesh run */

Test(mesh_train, mesh_run_two_workers)
{
    const char *csv = slice();
    char *o;
    /* the launcher adds --mesh and --threads 1: the same model as two workers started by hand */
    cr_assert_eq(sh(&o,
                    "$NTG mesh run -n 2 -- train " GRAPH " --data '%s' --split 1000,250,250 "
                    "--steps 12 --seed 7 --val-every 4 --backend cpu" BATCH " -o '%s'",
                    csv, tmp("run.plan")),
                 0, "%s", o);
    cr_expect(strstr(o, "ntgraph mesh run: worker 1 of 2: pid "), "%s", o);
    cr_expect(strstr(o, "launcher torchrun"), "%s", o);
    cr_expect(strstr(o, "trained graphs/nhits_brief.yaml: 12 steps"), "%s", o);
    /* one host: the gradients went through shared memory, both ways */
    cr_expect(strstr(o, "ring data through shared memory: to rank 1 yes, from rank 1 yes"), "%s",
              o);
    free(o);
    /* the same job with its data over TCP: bitwise the same model (the same frames and sums) */
    cr_assert_eq(sh(&o,
                    "NTG_MESH_TRANSPORT=tcp $NTG mesh run -n 2 -- train " GRAPH
                    " --data '%s' --split 1000,250,250 --steps 12 --seed 7 --val-every 4 "
                    "--backend cpu" BATCH " -o '%s'",
                    csv, tmp("tcp.plan")),
                 0, "%s", o);
    cr_expect(!strstr(o, "through shared memory"), "%s", o);
    free(o);
    cr_expect(compare(tmp("run.plan"), tmp("tcp.plan")).bitwise);
    char hand[600], p0[640];
    snprintf(hand, sizeof hand, "%s", tmp("hand"));
    cr_assert_eq(mesh_train(2, csv, hand, ""), 0);
    snprintf(p0, sizeof p0, "%s.0.plan", hand);
    cr_expect(compare(tmp("run.plan"), p0).bitwise);
}

#define LONG                                                                                       \
    " --data '%s' --split 1000,250,250 --steps 1500 --seed 7 --val-every 0 --backend cpu" BATCH

/* `mesh run -n 2` with checkpoints every 50 steps; worker `victim` is killed (SIGKILL) once the
 * first checkpoint is written; returns the launcher's output (caller frees) and exit status. */
static int run_and_kill(const char *csv, int victim, const char *plan, char **o)
{
    char ck[600], lg[600];
    snprintf(ck, sizeof ck, "%s", tmp("ck"));
    snprintf(lg, sizeof lg, "%s", tmp("run.log"));
    return sh(o,
              "$NTG mesh run -n 2 --max-restarts 1 -- train " GRAPH LONG
              " -o '%s' --checkpoint-dir '%s' --checkpoint-every 50 > '%s' 2>&1 & M=$!; "
              "for i in $(seq 1 600); do ls '%s' 2>/dev/null | grep -q "
              "'ckpt-[0-9]*[.]safetensors$' && break; "
              "sleep 0.05; done; "
              "P=$(sed -n 's/.*worker %d of 2: pid \\([0-9]*\\).*/\\1/p' '%s' | head -1); "
              "kill -9 $P; wait $M; rc=$?; cat '%s'; exit $rc",
              csv, plan, ck, lg, ck, victim, lg, lg);
}

/* Worker 1 dies: the survivor re-forms with a replacement that joins, rank 0 takes up its newest
 * checkpoint, and the job ends with bitwise the uninterrupted job's weights (the same world and
 * shards, and the steps after the checkpoint run again). */
Test(mesh_train, mesh_run_replaces_a_killed_worker)
{
    fault_timeout("6000");
    const char *csv = slice();
    char *o, plan[600], whole[600];
    snprintf(plan, sizeof plan, "%s", tmp("killed.plan"));
    snprintf(whole, sizeof whole, "%s", tmp("whole.plan"));
    cr_assert_eq(run_and_kill(csv, 1, plan, &o), 0, "%s", o);
    cr_expect(strstr(o, "worker 1 was killed by signal 9; a replacement (pid "), "%s", o);
    cr_expect(strstr(o, "joins the running job (restart 1 of 1)"), "%s", o);
    cr_expect(strstr(o, "mesh re-formed: generation 2, this worker is rank 0 of 2"), "%s", o);
    cr_expect(strstr(o, "joined the mesh as rank 1 of 2"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG mesh run -n 2 -- train " GRAPH LONG " -o '%s'", csv, whole), 0, "%s",
                 o);
    free(o);
    diff d = compare(plan, whole);
    cr_expect(d.bitwise, "the job with a replaced worker differs: relative L2 %g", d.rel_l2);
}

/* Rank 0 dies: the job restarts, all workers, from the newest checkpoint. */
Test(mesh_train, mesh_run_restarts_the_job_when_rank_0_dies)
{
    fault_timeout("6000");
    const char *csv = slice();
    char *o, plan[600], whole[600];
    snprintf(plan, sizeof plan, "%s", tmp("killed.plan"));
    snprintf(whole, sizeof whole, "%s", tmp("whole.plan"));
    cr_assert_eq(run_and_kill(csv, 0, plan, &o), 0, "%s", o);
    cr_expect(strstr(o, "worker 0 was killed by signal 9; restarting all 2 workers from the "
                        "newest checkpoint (restart 1 of 1)"),
              "%s", o);
    cr_expect(strstr(o, "resumed from step "), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG mesh run -n 2 -- train " GRAPH LONG " -o '%s'", csv, whole), 0, "%s",
                 o);
    free(o);
    diff d = compare(plan, whole);
    cr_expect(d.bitwise, "restarted job differs: relative L2 %g", d.rel_l2);
}

/* Worker 1 frozen (SIGSTOP) for 6 s: rank 0 names it lost and trains on alone from its
 * checkpoint; the worker wakes, is told it was left out, asks to join and is taken in between
 * two steps. The job finishes within 1e-5 of the uninterrupted one. */
Test(mesh_train, mesh_run_survives_a_frozen_worker)
{
    fault_timeout("4000");
    const char *csv = slice();
    char *o, plan[600], whole[600], ck[600], lg[600];
    snprintf(plan, sizeof plan, "%s", tmp("stopped.plan"));
    snprintf(whole, sizeof whole, "%s", tmp("whole.plan"));
    snprintf(ck, sizeof ck, "%s", tmp("ck"));
    snprintf(lg, sizeof lg, "%s", tmp("run.log"));
#define MID                                                                                        \
    " --data '%s' --split 1000,250,250 --steps 400 --seed 7 --val-every 0 --backend cpu" BATCH
    cr_assert_eq(sh(&o,
                    "$NTG mesh run -n 2 -- train " GRAPH MID
                    " -o '%s' --checkpoint-dir '%s' --checkpoint-every 10 > '%s' 2>&1 & M=$!; "
                    "for i in $(seq 1 600); do ls '%s' 2>/dev/null | grep -q "
                    "'ckpt-[0-9]*[.]safetensors$' && break; "
                    "sleep 0.02; done; "
                    "P=$(sed -n 's/.*worker 1 of 2: pid \\([0-9]*\\).*/\\1/p' '%s' | head -1); "
                    "kill -STOP $P; sleep 6; kill -CONT $P; wait $M; rc=$?; cat '%s'; exit $rc",
                    csv, plan, ck, lg, ck, lg, lg),
                 0, "%s", o);
    cr_expect(strstr(o, "lost: no heartbeat"), "%s", o);
    cr_expect(strstr(o, "this worker is rank 0 of 1"), "%s", o);
    cr_expect(strstr(o, "admitting the joiner"), "%s", o);
    cr_expect(strstr(o, "mesh worker 1 of 2: 400 steps done"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG mesh run -n 2 -- train " GRAPH MID " -o '%s'", csv, whole), 0, "%s",
                 o);
    free(o);
    diff d = compare(plan, whole);
    cr_expect(d.rel_l2 <= 1e-5 && d.rel_max <= 1e-5,
              "after a frozen worker: relative L2 %g, max %g", d.rel_l2, d.rel_max);
    fprintf(stderr, "frozen worker vs uninterrupted job: relative L2 %.3e, max %.3e\n", d.rel_l2,
            d.rel_max);
}

/* Three workers started by hand lose one for good: the two survivors re-form, re-split the
 * global batch over 2 and finish; the model is the one-process model within 1e-5. */
Test(mesh_train, survivors_go_on_after_a_loss)
{
    fault_timeout("6000");
    const char *csv = slice();
    char *o, out[600], ck[600], ref[600], p0[640];
    snprintf(out, sizeof out, "%s", tmp("el"));
    snprintf(ck, sizeof ck, "%s", tmp("eck"));
    snprintf(ref, sizeof ref, "%s", tmp("ref.plan"));
    int port = free_port();
#define SHORT                                                                                      \
    " --data '%s' --split 1000,250,250 --steps 300 --seed 7 --val-every 0 --backend cpu "          \
    "--threads 1" BATCH
    cr_assert_eq(sh(&o,
                    "for r in 0 1 2; do $NTG train " GRAPH SHORT
                    " --checkpoint-dir '%s' --checkpoint-every 10 --mesh --rank $r --world 3 "
                    "--rendezvous tcp://127.0.0.1:%d -o '%s'.$r.plan > '%s'.$r.log 2>&1 & "
                    "eval P$r=$!; done; "
                    "for i in $(seq 1 600); do ls '%s' 2>/dev/null | grep -q "
                    "'ckpt-[0-9]*[.]safetensors$' && break; "
                    "sleep 0.02; done; kill -9 $P2; "
                    "wait $P0; a=$?; wait $P1; b=$?; cat '%s'.0.log '%s'.1.log; "
                    "[ $a = 0 ] && [ $b = 0 ]",
                    csv, ck, port, out, out, ck, out, out),
                 0, "%s", o);
    cr_expect(strstr(o, "rank 2 (host "), "%s", o);
    cr_expect(strstr(o, "mesh re-formed: generation 2, this worker is rank 1 of 2"), "%s", o);
    cr_expect(strstr(o, "trained graphs/nhits_brief.yaml: 300 steps"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG train " GRAPH SHORT " -o '%s'", csv, ref), 0, "%s", o);
    free(o);
    snprintf(p0, sizeof p0, "%s.0.plan", out);
    diff d = compare(p0, ref);
    cr_expect(d.rel_l2 <= 1e-5 && d.rel_max <= 1e-5, "after the loss: relative L2 %g, max %g",
              d.rel_l2, d.rel_max);
    fprintf(stderr, "survivors after a loss vs one process: relative L2 %.3e, max %.3e\n", d.rel_l2,
            d.rel_max);
}

Test(mesh_train, mesh_run_forwards_sigterm)
{
    const char *csv = slice();
    char *o, plan[600], lg[600];
    snprintf(plan, sizeof plan, "%s", tmp("t.plan"));
    snprintf(lg, sizeof lg, "%s", tmp("t.log"));
    /* SIGTERM to the launcher reaches both workers; it exits 128 + 15 with none left behind */
    cr_assert_eq(sh(&o,
                    "$NTG mesh run -n 2 -- train " GRAPH
                    " --data '%s' --split 1000,250,250 --steps 1000000 --val-every 0" BATCH
                    " -o '%s' > '%s' 2>&1 & M=$!; "
                    "for i in $(seq 1 600); do grep -q 'ring ready' '%s' 2>/dev/null && break; "
                    "sleep 0.05; done; sleep 0.3; "
                    "P=$(sed -n 's/.*worker [01] of 2: pid \\([0-9]*\\).*/\\1/p' '%s'); "
                    "kill -TERM $M; wait $M; rc=$?; sleep 0.2; cat '%s'; "
                    "for p in $P; do kill -0 $p 2>/dev/null && echo \"worker $p still runs\"; "
                    "done; exit $rc",
                    csv, plan, lg, lg, lg, lg),
                 143, "%s", o);
    cr_expect(strstr(o, "ntgraph mesh run: stopped by signal 15 (forwarded to the workers)"), "%s",
              o);
    cr_expect(!strstr(o, "still runs"), "%s", o);
    free(o);
}

Test(mesh_train, mesh_run_usage)
{
    char *o;
    cr_expect_eq(sh(&o, "$NTG mesh run -n 2 -- eval x.plan"), 2, "%s", o);
    cr_expect(strstr(o, "expected the worker's command after '--'"), "%s", o);
    free(o);
    cr_expect_eq(sh(&o, "$NTG mesh run -- train g.yaml"), 2, "%s", o);
    cr_expect(strstr(o, "run needs -n N"), "%s", o);
    free(o);
    cr_expect_eq(sh(&o, "$NTG mesh run -n 2 -- train g.yaml --world 3"), 2, "%s", o);
    cr_expect(strstr(o, "drop --world from the train command"), "%s", o);
    free(o);
    /* a worker's bad input is not retried: the job ends with its status at once */
    cr_expect_eq(sh(&o, "$NTG mesh run -n 2 -- train no-such.yaml --data x.csv --split 1,1,1 -o "
                        "x.plan"),
                 2, "%s", o);
    cr_expect(strstr(o, "bad usage or input is not retried"), "%s", o);
    cr_expect(!strstr(o, "restarting"), "%s", o);
    free(o);
}

/* ------------------------------------------------------------- launchers */

/* Open MPI's mpirun (Debian's openmpi-bin) starts the workers: rank and world from
 * OMPI_COMM_WORLD_*, the rendezvous on this host because every rank is local. */
Test(mesh_train, mpirun_two_ranks)
{
    char *o;
    if (sh(&o, "command -v mpirun") != 0) {
        free(o);
        cr_skip_test("mpirun not found (Debian's openmpi-bin; scripts/setup installs it)");
    }
    free(o);
    const char *csv = slice();
    char ref[600], mpi[600], hand[600], p0[640];
    snprintf(ref, sizeof ref, "%s", tmp("ref.plan"));
    snprintf(mpi, sizeof mpi, "%s", tmp("mpi.plan"));
    snprintf(hand, sizeof hand, "%s", tmp("hand"));
    cr_assert_eq(sh(&o, "$NTG train " GRAPH " --data '%s' " RUN BATCH " -o '%s'", csv, ref), 0,
                 "%s", o);
    free(o);
    cr_assert_eq(sh(&o,
                    "MASTER_PORT=%d timeout 200 mpirun --allow-run-as-root --oversubscribe -n 2 "
                    "-x MASTER_PORT $NTG train " GRAPH " --data '%s' " RUN BATCH " --mesh -o '%s'",
                    free_port(), csv, mpi),
                 0, "%s", o);
    cr_expect(strstr(o, "launcher Open MPI"), "%s", o);
    cr_expect(strstr(o, "mesh worker 1 of 2: 12 steps done"), "%s", o);
    free(o);
    cr_assert_eq(mesh_train(2, csv, hand, ""), 0);
    snprintf(p0, sizeof p0, "%s.0.plan", hand);
    diff d = compare(mpi, ref);
    cr_expect(d.rel_l2 <= 1e-5 && d.rel_max <= 1e-5, "mpirun: relative L2 %g, max %g", d.rel_l2,
              d.rel_max);
    cr_expect(compare(mpi, p0).bitwise, "mpirun's 2 workers differ from 2 started by hand");
}

/* Slurm's srun (Debian's slurm-wlm + munge) starts the workers on a private one-node Slurm that
 * tests/slurm_one_node.sh brings up (as root) and down: rank and world from SLURM_PROCID and
 * SLURM_NTASKS, the rendezvous on the first host of the job's node list, by name. */
Test(mesh_train, srun_two_tasks)
{
    char *o, dir[600];
    snprintf(dir, sizeof dir, "%s", tmp("slurm"));
    int rc = sh(&o, "mkdir -p '%s' && tests/slurm_one_node.sh up '%s'", dir, dir);
    if (rc == 77) {
        cr_log_info("%s", o);
        free(o);
        cr_skip_test("no one-node Slurm here (needs root, slurm-wlm and munge: scripts/setup)");
    }
    cr_assert_eq(rc, 0, "tests/slurm_one_node.sh up: %s", o);
    free(o);
    const char *csv = slice();
    char ref[600], sl[600], hand[600], p0[640];
    snprintf(ref, sizeof ref, "%s", tmp("ref.plan"));
    snprintf(sl, sizeof sl, "%s", tmp("srun.plan"));
    snprintf(hand, sizeof hand, "%s", tmp("hand"));
    rc = sh(
        &o,
        "export SLURM_CONF='%s/slurm.conf' MASTER_PORT=%d; timeout 200 srun -n 2 $NTG train " GRAPH
        " --data '%s' " RUN BATCH " --mesh -o '%s'",
        dir, free_port(), csv, sl);
    char *d;
    cr_expect_eq(sh(&d, "tests/slurm_one_node.sh down '%s'", dir), 0, "%s", d);
    free(d);
    cr_assert_eq(rc, 0, "srun: %s", o);
    cr_expect(strstr(o, "launcher Slurm"), "%s", o);
    cr_expect(strstr(o, "mesh worker 1 of 2: 12 steps done"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG train " GRAPH " --data '%s' " RUN BATCH " -o '%s'", csv, ref), 0,
                 "%s", o);
    free(o);
    cr_assert_eq(mesh_train(2, csv, hand, ""), 0);
    snprintf(p0, sizeof p0, "%s.0.plan", hand);
    diff df = compare(sl, ref);
    cr_expect(df.rel_l2 <= 1e-5 && df.rel_max <= 1e-5, "srun: relative L2 %g, max %g", df.rel_l2,
              df.rel_max);
    cr_expect(compare(sl, p0).bitwise, "srun's 2 tasks differ from 2 workers started by hand");
}

/* With --mesh-keys every mesh socket is CURVE-encrypted; the model is the same bitwise. */
Test(mesh_train, with_curve_keys)
{
    const char *csv = slice();
    char *o, keys[600], extra[700], a[600], b[600], pa[640], pb[640];
    snprintf(keys, sizeof keys, "%s", tmp("keys"));
    snprintf(a, sizeof a, "%s", tmp("plain"));
    snprintf(b, sizeof b, "%s", tmp("keyed"));
    cr_assert_eq(sh(&o, "$NTG mesh keygen '%s' --name job", keys), 0, "%s", o);
    free(o);
    snprintf(extra, sizeof extra, "--mesh-keys '%s'", keys);
    cr_assert_eq(mesh_train(2, csv, a, ""), 0);
    cr_assert_eq(mesh_train(2, csv, b, extra), 0);
    snprintf(pa, sizeof pa, "%s.0.plan", a);
    snprintf(pb, sizeof pb, "%s.0.plan", b);
    cr_expect(compare(pb, pa).bitwise);
    /* --mesh-insecure lets rank 0 listen beyond loopback without keys */
    cr_expect_eq(sh(&o,
                    "$NTG train " GRAPH " --data '%s' " RUN BATCH
                    " -o '%s' --mesh --rank 0 --world 1 --rendezvous tcp://0.0.0.0:%d "
                    "--mesh-insecure",
                    csv, tmp("x.plan"), free_port()),
                 0, "%s", o);
    free(o);
}

/* A worker that trains something else (here another seed) is refused, and all fail together. */
Test(mesh_train, workers_must_train_the_same_thing)
{
    const char *csv = slice();
    char *o;
    int port = free_port();
    cr_expect_eq(sh(&o,
                    "$NTG train " GRAPH " --data '%s' " RUN BATCH
                    " -o '%s' --mesh --rank 0 --world 2 --rendezvous tcp://127.0.0.1:%d > '%s' "
                    "2>&1 & A=$!; "
                    "$NTG train " GRAPH " --data '%s' --split 1000,250,250 --steps 12 --seed 8 "
                    "--val-every 4 --threads 1 --backend cpu" BATCH
                    " -o '%s' --mesh --rank 1 --world 2 --rendezvous tcp://127.0.0.1:%d; "
                    "b=$?; wait $A; a=$?; cat '%s'; echo \"rc $a $b\"",
                    csv, tmp("x.plan"), port, tmp("r0.log"), csv, tmp("y.plan"), port,
                    tmp("r0.log")),
                 0, "%s", o);
    cr_expect(strstr(o, "worker 1 of 2 trains something else than rank 0: its seed differs"), "%s",
              o);
    cr_expect(strstr(o, "1 worker(s) train something else than rank 0"), "%s", o);
    cr_expect(strstr(o, "rc 2 2"), "%s", o);
    free(o);
}

/* The first line of file `path` that contains `what`, or "" (caller frees). */
static char *log_line(const char *path, const char *what)
{
    char *o;
    sh(&o, "grep -F -m1 -- '%s' '%s' || true", what, path);
    return o;
}

/* Overlap: with small buckets the grad program is cut into ranges and each bucket's all-reduce
 * starts while backward goes on.  With 2 workers every element is summed as a + b either way, so
 * the model is bitwise the one of a single all-reduce after backward (--mesh-bucket-mb 0); with
 * 3 the buckets change which rank's value starts each sum, so it is bitwise repeatable and within
 * 1e-5 of one process.  Workers that cut differently are refused at the start. */
Test(mesh_train, bucketed_all_reduce_overlaps_backward)
{
    const char *csv = slice();
    char ref[600], a[600], b[600], c[600], d[600], pa[640], pb[640], pc[640], pd[640], *o;
    snprintf(ref, sizeof ref, "%s", tmp("ref.plan"));
    snprintf(a, sizeof a, "%s", tmp("b2a"));
    snprintf(b, sizeof b, "%s", tmp("b2b"));
    snprintf(c, sizeof c, "%s", tmp("b3a"));
    snprintf(d, sizeof d, "%s", tmp("b3b"));
    cr_assert_eq(sh(&o, "$NTG train " GRAPH " --data '%s' " RUN BATCH " -o '%s'", csv, ref), 0,
                 "%s", o);
    free(o);
    cr_assert_eq(mesh_train(2, csv, a, "--mesh-bucket-mb 0.01"), 0);
    cr_assert_eq(mesh_train(2, csv, b, "--mesh-bucket-mb 0"), 0);
    snprintf(pa, sizeof pa, "%s.0.plan", a);
    snprintf(pb, sizeof pb, "%s.0.plan", b);
    /* every worker says how it cuts the step */
    for (int r = 0; r < 2; r++) {
        char lg[640];
        snprintf(lg, sizeof lg, "%s.%d.log", a, r);
        char *l = log_line(lg, "all-reduced while backward runs");
        int nb = 0;
        cr_expect(sscanf(strstr(l, "gradients: ") ? strstr(l, "gradients: ") : "", "gradients: %d",
                         &nb) == 1 &&
                      nb >= 3,
                  "worker %d: no buckets: '%s'", r, l);
        free(l);
    }
    char lg[640];
    snprintf(lg, sizeof lg, "%s.0.log", b);
    char *l = log_line(lg, "no overlap: bucket size 0");
    cr_expect(l[0], "no fallback line in %s", lg);
    free(l);
    /* the host backend's gradients are summed in the arena, with and without buckets */
    l = log_line(lg, "gradients: summed");
    cr_expect(strstr(l, "summed in place"), "%s: '%s'", lg, l);
    free(l);
    snprintf(lg, sizeof lg, "%s.1.log", a);
    l = log_line(lg, "gradients: summed");
    cr_expect(strstr(l, "summed in place"), "%s: '%s'", lg, l);
    free(l);
    /* rank 0's summary splits the step */
    snprintf(lg, sizeof lg, "%s.0.log", a);
    l = log_line(lg, "mesh: per step");
    cr_expect(strstr(l, "waiting for the gradient all-reduce") && strstr(l, "all-reduces"), "'%s'",
              l);
    free(l);
    diff two = compare(pa, pb);
    cr_expect(two.bitwise, "N=2: buckets changed the model (relative L2 %g)", two.rel_l2);

    cr_assert_eq(mesh_train(3, csv, c, "--mesh-bucket-mb 0.01"), 0);
    cr_assert_eq(mesh_train(3, csv, d, "--mesh-bucket-mb 0.01"), 0);
    snprintf(pc, sizeof pc, "%s.0.plan", c);
    snprintf(pd, sizeof pd, "%s.0.plan", d);
    diff again = compare(pd, pc), one = compare(pc, ref);
    fprintf(stderr,
            "bucketed N=3 vs one process: relative L2 %.3e, max |diff| / max |w| %.3e; repeated "
            "run bitwise %d\n",
            one.rel_l2, one.rel_max, again.bitwise);
    cr_expect(again.bitwise, "N=3 with buckets: two runs differ");
    cr_expect(one.rel_l2 <= 1e-5 && one.rel_max <= 1e-5, "N=3 with buckets: %g, %g", one.rel_l2,
              one.rel_max);

    /* another bucket size on one worker: refused by name, all fail together */
    int port = free_port();
    cr_expect_eq(sh(&o,
                    "$NTG train " GRAPH " --data '%s' " RUN BATCH
                    " -o '%s' --mesh --rank 0 --world 2 --rendezvous tcp://127.0.0.1:%d "
                    "--mesh-bucket-mb 0.01 > '%s' 2>&1 & A=$!; "
                    "$NTG train " GRAPH " --data '%s' " RUN BATCH
                    " -o '%s' --mesh --rank 1 --world 2 --rendezvous tcp://127.0.0.1:%d "
                    "--mesh-bucket-mb 0; b=$?; wait $A; a=$?; cat '%s'; echo \"rc $a $b\"",
                    csv, tmp("x.plan"), port, tmp("r0.log"), csv, tmp("y.plan"), port,
                    tmp("r0.log")),
                 0, "%s", o);
    cr_expect(strstr(o, "its gradient buckets (--mesh-bucket-mb"), "%s", o);
    cr_expect(strstr(o, "rc 2 2"), "%s", o);
    free(o);
    /* the flag's range, and that it needs --mesh */
    cr_expect_eq(sh(&o, "$NTG train " GRAPH " --data '%s' " RUN " -o '%s' --mesh-bucket-mb 1", csv,
                    tmp("z.plan")),
                 2, "%s", o);
    cr_expect(strstr(o, "--mesh-bucket-mb belongs to data-parallel training: add --mesh"), "%s", o);
    free(o);
    cr_expect_eq(sh(&o,
                    "$NTG train " GRAPH " --data '%s' " RUN
                    " -o '%s' --mesh --world 1 --rank 0 --mesh-bucket-mb -1",
                    csv, tmp("z.plan")),
                 2, "%s", o);
    cr_expect(strstr(o, "mesh-bucket-mb"), "%s", o);
    free(o);
}

/* ZeRO-1 (docs/mesh.md, "Sharded optimizer"): each worker updates its own segments' weights and
 * the all-gather carries them; with 2 workers every sum is a + b whatever the segments, so the
 * model is bitwise the unsharded one, with and without buckets; a checkpoint taken while the
 * state is sharded holds all of it (a resumed run is bitwise the uninterrupted one), and 3
 * workers resume it within rounding of one process. */
Test(mesh_train, sharded_optimizer_equals_unsharded_and_resumes)
{
    const char *csv = slice();
    char ref[600], *o;
    snprintf(ref, sizeof ref, "%s", tmp("ref.plan"));
    cr_assert_eq(sh(&o, "$NTG train " GRAPH " --data '%s' " RUN BATCH " -o '%s'", csv, ref), 0,
                 "%s", o);
    free(o);
    const char *mb[2] = {"0.01", "0"};
    for (int k = 0; k < 2; k++) {
        char on[600], off[600], fon[640], foff[640], flags[200];
        snprintf(on, sizeof on, "%s", tmp(k ? "s0on" : "s1on"));
        snprintf(off, sizeof off, "%s", tmp(k ? "s0off" : "s1off"));
        snprintf(flags, sizeof flags, "--mesh-bucket-mb %s --mesh-shard-optimizer on", mb[k]);
        cr_assert_eq(mesh_train(2, csv, on, flags), 0);
        snprintf(flags, sizeof flags, "--mesh-bucket-mb %s --mesh-shard-optimizer off", mb[k]);
        cr_assert_eq(mesh_train(2, csv, off, flags), 0);
        snprintf(fon, sizeof fon, "%s.0.plan", on);
        snprintf(foff, sizeof foff, "%s.0.plan", off);
        for (int r = 0; r < 2; r++) {
            char lg[640];
            snprintf(lg, sizeof lg, "%s.%d.log", on, r);
            char *l = log_line(lg, "optimizer: sharded");
            cr_expect(strstr(l, "the all-gather carries the updated weights"), "%s: '%s'", lg, l);
            free(l);
        }
        /* on one host the sharded step's frames go in place (docs/mesh.md, "In place") */
        char lg0[640];
        snprintf(lg0, sizeof lg0, "%s.0.log", on);
        char *l = log_line(lg0, "mesh: per step");
        cr_expect(strstr(l, "ring frames in place (read where they lie)"), "%s: '%s'", lg0, l);
        free(l);
        diff d = compare(fon, foff), one = compare(fon, ref);
        cr_expect(d.bitwise, "bucket %s MB: sharded differs from unsharded (relative L2 %g)", mb[k],
                  d.rel_l2);
        cr_expect(one.rel_l2 <= 1e-5 && one.rel_max <= 1e-5, "sharded vs one process: %g, %g",
                  one.rel_l2, one.rel_max);
    }
    /* checkpoints at 4, 8, 12; drop 12 and resume from 8 */
    char full[600], res[600], res3[600], extra[1400], pf[640], pr[640], p3[640];
    snprintf(full, sizeof full, "%s", tmp("cfull"));
    snprintf(res, sizeof res, "%s", tmp("cres"));
    snprintf(res3, sizeof res3, "%s", tmp("cres3"));
    snprintf(extra, sizeof extra,
             "--mesh-bucket-mb 0.01 --checkpoint-dir '%s' --checkpoint-every 4", tmp("ck"));
    cr_assert_eq(mesh_train(2, csv, full, extra), 0);
    cr_assert_eq(sh(&o, "cp '%s/ckpt-000000008.safetensors' '%s.8' && rm -f '%s'/ckpt-000000012*",
                    tmp("ck"), tmp("ck8"), tmp("ck")),
                 0, "%s", o);
    free(o);
    snprintf(extra, sizeof extra, "--mesh-bucket-mb 0.01 --checkpoint-dir '%s' --resume",
             tmp("ck"));
    cr_assert_eq(mesh_train(2, csv, res, extra), 0);
    snprintf(pf, sizeof pf, "%s.0.plan", full);
    snprintf(pr, sizeof pr, "%s.0.plan", res);
    cr_assert_eq(sh(&o, "cat '%s.0.log'", res), 0);
    cr_expect(strstr(o, "resumed from step 8"), "%s", o);
    free(o);
    diff d = compare(pr, pf);
    cr_expect(d.bitwise, "sharded resume differs from the uninterrupted run (relative L2 %g)",
              d.rel_l2);
    /* the same checkpoint, resumed by 3 workers (other shards) */
    cr_assert_eq(sh(&o,
                    "rm -f '%s'/ckpt-0000000[1-9]* && cp '%s.8' '%s/ckpt-000000008.safetensors'",
                    tmp("ck"), tmp("ck8"), tmp("ck")),
                 0, "%s", o);
    free(o);
    cr_assert_eq(mesh_train(3, csv, res3, extra), 0);
    snprintf(p3, sizeof p3, "%s.0.plan", res3);
    diff d3 = compare(p3, ref);
    fprintf(stderr,
            "sharded: N=3 resumed from N=2's step-8 checkpoint vs one process: relative L2 "
            "%.3e, max %.3e\n",
            d3.rel_l2, d3.rel_max);
    cr_expect(d3.rel_l2 <= 1e-5 && d3.rel_max <= 1e-5, "N=3 resumed: %g, %g", d3.rel_l2,
              d3.rel_max);
}
