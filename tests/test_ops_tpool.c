/* test_ops_tpool.c — the CPU thread pool (every index once, late workers' work given back)
 * and the default thread count (affinity, cgroup v1/v2 quota). */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ntgraph.h"
#include "tpool.h"

/* ------------------------------------------------------------------ the pool */

typedef struct count_ctx {
    atomic_int *hits;
    double *out;
    pthread_t caller;
    atomic_int on_worker;
    unsigned worker_sleep_us; /* an index run by a worker sleeps this long (descheduled) */
    atomic_int slow_done;
} count_ctx;

static void count_task(void *vctx, size_t i)
{
    count_ctx *c = vctx;
    int worker = !pthread_equal(pthread_self(), c->caller);
    if (worker) atomic_fetch_add(&c->on_worker, 1);
    if (worker && c->worker_sleep_us) {
        struct timespec ts = {0, (long)c->worker_sleep_us * 1000L};
        nanosleep(&ts, NULL);
    }
    if (!worker && c->worker_sleep_us) {
        /* hold the caller's first index until a worker has one (up to 1 s of wall time: a
         * count of 100 us naps is minutes on a machine loaded 20+ deep), so that a worker
         * certainly runs an index while the caller runs out of work */
        struct timespec ts = {0, 100000}, t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (!atomic_load(&c->on_worker)) {
            nanosleep(&ts, NULL);
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 > 1.0)
                break;
        }
    }
    /* a value that takes a few operations, so that indices overlap in time */
    double v = 0;
    for (size_t k = 0; k < 2000; k++) v += (double)((i * 2654435761u + k) % 1000u) * 1e-3;
    c->out[i] = v;
    atomic_fetch_add(&c->hits[i], 1);
    if (worker && c->worker_sleep_us) atomic_store(&c->slow_done, 1);
}

/* the least work an index can be: the claim race, not the work, is what is tested */
static void tiny_task(void *vctx, size_t i)
{
    count_ctx *c = vctx;
    atomic_fetch_add(&c->hits[i], 1);
}

static double expected(size_t i)
{
    double v = 0;
    for (size_t k = 0; k < 2000; k++) v += (double)((i * 2654435761u + k) % 1000u) * 1e-3;
    return v;
}

static void run_and_check(ntg_tpool *p, count_ctx *c, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        atomic_store(&c->hits[i], 0);
        c->out[i] = -1;
    }
    ntg__tpool_run(p, count_task, c, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(atomic_load(&c->hits[i]), 1, "%s: index %zu of %zu ran %d times", what, i, n,
                     atomic_load(&c->hits[i]));
        cr_assert(c->out[i] == expected(i), "%s: index %zu has a wrong value", what, i);
    }
}

static count_ctx *ctx_new(size_t n)
{
    count_ctx *c = calloc(1, sizeof *c);
    cr_assert(c);
    c->hits = calloc(n, sizeof *c->hits);
    c->out = calloc(n, sizeof *c->out);
    cr_assert(c->hits && c->out);
    c->caller = pthread_self();
    return c;
}

static void ctx_free(count_ctx *c)
{
    free(c->hits);
    free(c->out);
    free(c);
}

Test(tpool, every_index_runs_once)
{
    for (int threads = 1; threads <= 4; threads++) {
        ntg_tpool *p = NULL;
        ntg_error err;
        cr_assert_eq(ntg__tpool_create(threads, &p, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg__tpool_threads(p), threads);
        count_ctx *c = ctx_new(300);
        static const size_t sizes[] = {0, 1, 2, 3, 7, 64, 300};
        for (int rep = 0; rep < 200; rep++) {
            size_t n = sizes[rep % 7];
            char what[64];
            snprintf(what, sizeof what, "%d threads, run %d", threads, rep);
            run_and_check(p, c, n, what);
            if (rep % 50 == 49) {
                /* parked workers must wake for the next run */
                ntg__tpool_park(p);
                struct timespec ts = {0, 2000000};
                nanosleep(&ts, NULL);
            }
        }
        ctx_free(c);
        ntg__tpool_destroy(p);
    }
    ntg__tpool_destroy(NULL);
    cr_assert_eq(ntg__tpool_threads(NULL), 1);
}

/* A worker that read the state of a finished run must never claim an index of the next one
 * (it once could: it read the new run's n after the old state, and its claim on the old state
 * succeeded before the new state was published — one index ran twice, and the stray `done`
 * count made the caller wait forever).  Runs of alternating sizes make the window wide: the
 * old state's next index is below the new n. */
Test(tpool, a_stale_worker_never_claims_in_the_next_run)
{
    for (int threads = 2; threads <= 4; threads++) {
        ntg_tpool *p = NULL;
        cr_assert_eq(ntg__tpool_create(threads, &p, NULL), NTG_OK);
        count_ctx *c = ctx_new(8);
        for (int rep = 0; rep < 20000; rep++) {
            size_t n = rep % 2 ? 8 : 2 + (size_t)(rep / 2) % 5;
            for (size_t i = 0; i < n; i++) atomic_store(&c->hits[i], 0);
            ntg__tpool_run(p, tiny_task, c, n);
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(atomic_load(&c->hits[i]), 1,
                             "%d threads, run %d: index %zu of %zu ran %d times", threads, rep, i,
                             n, atomic_load(&c->hits[i]));
        }
        ctx_free(c);
        ntg__tpool_destroy(p);
    }
}

Test(tpool, refuses_bad_thread_counts)
{
    ntg_tpool *p = (ntg_tpool *)1;
    ntg_error err;
    cr_assert_eq(ntg__tpool_create(0, &p, &err), NTG_ERR_INVALID_ARG);
    cr_assert_null(p);
    cr_assert(strstr(err.message, "thread count 0 is outside 1..1024"), "%s", err.message);
    cr_assert_eq(ntg__tpool_create(1025, &p, &err), NTG_ERR_INVALID_ARG);
}

/* A worker that is late for every run (as one the OS keeps descheduled): the caller does its
 * share, every run completes with every index done once, and the late worker runs nothing. */
Test(tpool, late_worker_leaves_its_work_to_the_caller)
{
    ntg_tpool *p = NULL;
    cr_assert_eq(ntg__tpool_create(2, &p, NULL), NTG_OK);
    /* far longer than the runs below together; destroy waits for it once at the end */
    ntg__tpool_set_worker_delay(p, 1000000);
    count_ctx *c = ctx_new(64);
    for (int rep = 0; rep < 50; rep++) run_and_check(p, c, 64, "late worker");
    cr_assert_eq(ntg__tpool_worker_runs(p), 0,
                 "the delayed worker ran %zu indices: the caller waited for it",
                 ntg__tpool_worker_runs(p));
    ctx_free(c);
    ntg__tpool_destroy(p);
}

/* A worker descheduled in the middle of an index: the caller has nothing left to claim and
 * must wait (sleeping) for that index, and return only once it is done. */
Test(tpool, caller_waits_for_a_running_index)
{
    ntg_tpool *p = NULL;
    cr_assert_eq(ntg__tpool_create(2, &p, NULL), NTG_OK);
    count_ctx *c = ctx_new(16);
    c->worker_sleep_us = 50000;
    int saw_worker = 0;
    for (int rep = 0; rep < 20 && !saw_worker; rep++) {
        atomic_store(&c->slow_done, 0);
        atomic_store(&c->on_worker, 0);
        run_and_check(p, c, 16, "slow worker");
        if (atomic_load(&c->on_worker)) {
            saw_worker = 1;
            cr_assert_eq(atomic_load(&c->slow_done), 1,
                         "the run returned before the worker's index was done");
        }
    }
    if (!saw_worker) cr_skip_test("the worker never got an index in 20 runs (a busy machine)");
    ctx_free(c);
    ntg__tpool_destroy(p);
}

/* ------------------------------------------------------ the default thread count */

typedef struct fake_fs {
    const char *paths[8];
    const char *texts[8];
} fake_fs;

static long fake_read(void *ctx, const char *path, char *buf, size_t cap)
{
    const fake_fs *fs = ctx;
    for (int i = 0; i < 8 && fs->paths[i]; i++)
        if (strcmp(fs->paths[i], path) == 0) {
            size_t n = strlen(fs->texts[i]);
            if (n > cap - 1) n = cap - 1;
            memcpy(buf, fs->texts[i], n);
            buf[n] = '\0';
            return (long)n;
        }
    return -1;
}

static int threads_with(const fake_fs *fs, int online, int affinity)
{
    ntg_cpu_probe pr = {fake_read, (void *)fs, online, affinity};
    return ntg__cpu_default_threads(&pr);
}

Test(tpool, default_threads_cgroup_v2_quota)
{
    fake_fs none = {{"/proc/self/cgroup"}, {"0::/\n"}};
    cr_assert_eq(threads_with(&none, 8, 8), 8, "no cpu.max: no limit");

    fake_fs unlimited = {{"/proc/self/cgroup", "/sys/fs/cgroup/cpu.max"},
                         {"0::/\n", "max 100000\n"}};
    cr_assert_eq(threads_with(&unlimited, 8, 8), 8);

    fake_fs one_and_half = {{"/proc/self/cgroup", "/sys/fs/cgroup/cpu.max"},
                            {"0::/\n", "150000 100000\n"}};
    cr_assert_eq(threads_with(&one_and_half, 8, 8), 2, "1.5 CPUs round up to 2 threads");

    fake_fs half = {{"/proc/self/cgroup", "/sys/fs/cgroup/cpu.max"}, {"0::/\n", "50000 100000\n"}};
    cr_assert_eq(threads_with(&half, 8, 8), 1, "half a CPU is still one thread");

    fake_fs above = {{"/proc/self/cgroup", "/sys/fs/cgroup/cpu.max"},
                     {"0::/\n", "1600000 100000\n"}};
    cr_assert_eq(threads_with(&above, 4, 4), 4, "a quota above the CPUs does not add threads");

    /* the process's own cgroup, and the tighter limit of an ancestor */
    fake_fs nested = {
        {"/proc/self/cgroup", "/sys/fs/cgroup/a/b/cpu.max", "/sys/fs/cgroup/a/cpu.max"},
        {"0::/a/b\n", "max 100000\n", "300000 100000\n"}};
    cr_assert_eq(threads_with(&nested, 16, 16), 3, "the parent's 3 CPUs bind the child");

    fake_fs garbage = {{"/proc/self/cgroup", "/sys/fs/cgroup/cpu.max"},
                       {"0::/\n", "lots of CPUs\n"}};
    cr_assert_eq(threads_with(&garbage, 8, 8), 8, "a cpu.max that does not parse is no limit");
}

Test(tpool, default_threads_cgroup_v1_quota)
{
    fake_fs v1 = {{"/proc/self/cgroup", "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us",
                   "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us"},
                  {"5:cpu,cpuacct:/job\n1:name=systemd:/job\n", "250000\n", "100000\n"}};
    cr_assert_eq(threads_with(&v1, 8, 8), 3, "2.5 CPUs: 3 threads");
    fake_fs v1_none = {{"/proc/self/cgroup", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                        "/sys/fs/cgroup/cpu/cpu.cfs_period_us"},
                       {"4:cpu:/\n", "-1\n", "100000\n"}};
    cr_assert_eq(threads_with(&v1_none, 8, 8), 8, "-1 is no limit");
}

Test(tpool, default_threads_affinity_and_online)
{
    fake_fs none = {{NULL}, {NULL}};
    cr_assert_eq(threads_with(&none, 8, 3), 3, "the affinity mask's 3 CPUs");
    cr_assert_eq(threads_with(&none, 2, 6), 2, "never more than the online CPUs");
    fake_fs q = {{"/proc/self/cgroup", "/sys/fs/cgroup/cpu.max"}, {"0::/\n", "200000 100000\n"}};
    cr_assert_eq(threads_with(&q, 8, 3), 2, "the smallest of the three");
}

/* The real probes: a child pinned to one CPU gets a default of 1, and so does a session's
 * backend (threads = 0). */
Test(tpool, default_threads_follow_sched_setaffinity)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof set, &set) != 0) _exit(10);
        int first = -1;
        for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
            if (CPU_ISSET(i, &set)) first = i;
        CPU_ZERO(&set);
        CPU_SET(first, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(11);
        if (ntg__cpu_default_threads(NULL) != 1) _exit(12);
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died");
    cr_assert_eq(WEXITSTATUS(status), 0,
                 "child status %d (10/11: affinity calls failed; 12: default was not 1)",
                 WEXITSTATUS(status));
}
