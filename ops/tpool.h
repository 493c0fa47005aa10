/* tpool.h — the CPU backends' thread pool: bounded spinning, then sleep; work given back. */
#ifndef NTG_TPOOL_H
#define NTG_TPOOL_H

#include <stddef.h>

#include "ntgraph.h"

/*
 * One pool per backend instance, driven by one thread at a time (the thread that runs the
 * session: the "caller").  ntg__tpool_run(p, fn, ctx, n) runs fn(ctx, i) for i in [0, n) and
 * returns when all n are done.  The caller works too, and every index is claimed from one
 * atomic counter by whichever thread comes first, so a worker that is late (descheduled by
 * the OS on a busy machine, still asleep) only leaves its share to the others: the caller
 * never waits for a worker that has not started an index, only for one that is running one.
 *
 * Waiting is bounded spinning, then sleeping on a futex: workers spin ~spin_us after their
 * last index (a run's next parallel op is usually that close) and then sleep; the caller, when
 * it has nothing left to claim, spins as long for the running indices and then sleeps until
 * the last finishes.  ntg__tpool_park makes the workers sleep at once (end of a run: an idle
 * session costs no CPU).
 *
 * Which thread runs which index is not fixed, so a deterministic result may depend on how
 * the work is split into indices but never on which thread ran an index.
 */
typedef struct ntg_tpool ntg_tpool;
typedef void (*ntg_tpool_fn)(void *ctx, size_t i);

/* A pool of `threads` threads in all: the caller and threads - 1 workers (1: no worker,
 * everything runs inline).  NTG_ERR_INVALID_ARG for threads < 1 or > 1024; NTG_ERR_NOMEM when
 * the workers cannot be started (nothing is left running then). */
ntg_status ntg__tpool_create(int threads, ntg_tpool **out, ntg_error *err);
/* Stops and joins the workers; NULL is a no-op.  Not while a run is in progress. */
void ntg__tpool_destroy(ntg_tpool *p);
/* Threads in all, the caller included (1 for NULL). */
int ntg__tpool_threads(const ntg_tpool *p);
/* fn(ctx, i) for every i < n, on the caller and any worker that comes; returns when all are
 * done.  NULL p, n <= 1, n >= 2^32 - 1 or a one-thread pool: inline on the caller, in
 * order.  Allocates nothing. */
void ntg__tpool_run(ntg_tpool *p, ntg_tpool_fn fn, void *ctx, size_t n);
/* Tell spinning workers to sleep now rather than after their spin. */
void ntg__tpool_park(ntg_tpool *p);

/* Test hook: every worker sleeps `usec` microseconds after it wakes for a run and before it
 * claims an index (0: off), as a worker the OS descheduled would.  Results must not change. */
void ntg__tpool_set_worker_delay(ntg_tpool *p, unsigned usec);
/* Indices run by workers (not the caller) since the pool was created (tests). */
size_t ntg__tpool_worker_runs(const ntg_tpool *p);

/* ---------------------------------------------------- the default thread count */

/*
 * min(online CPUs, CPUs in this process's affinity mask, ceil(cgroup CPU quota / period)),
 * at least 1.  The quota is cgroup v2's cpu.max ("max 100000" is no limit; "150000 100000" is
 * 1.5 CPUs: 2 threads) or v1's cpu.cfs_quota_us / cpu.cfs_period_us (-1: no limit), read for
 * the process's own cgroup (/proc/self/cgroup) and each of its ancestors up to the mount
 * point, the smallest winning (a parent's limit binds its children).  Files that are missing
 * or do not parse are no limit.
 *
 * The probes are injectable for tests: `read` returns the bytes of a whole small file into
 * buf (NUL-terminated, at most cap - 1 bytes) or -1 when there is none; `online` and
 * `affinity` <= 0 mean "ask the system".  NULL env: the real machine.
 */
typedef struct ntg_cpu_probe {
    long (*read)(void *ctx, const char *path, char *buf, size_t cap);
    void *ctx;
    int online;
    int affinity;
} ntg_cpu_probe;

int ntg__cpu_default_threads(const ntg_cpu_probe *env);
/* The quota part alone: ceil(quota / period) of the tightest limit, 0 when there is none. */
int ntg__cpu_quota_threads(const ntg_cpu_probe *env);

#endif /* NTG_TPOOL_H */
