/* tpool.c — the CPU backends' thread pool (bounded spin, futex sleep, shared claim counter)
 * and the default thread count (CPUs online, affinity, cgroup quota). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "tpool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "ntg_error.h"

/*
 * Why not pthreadpool (what the xnnpack backend used before): its caller waits until every
 * worker has checked in to every parallel call, and both sides spin for up to a million
 * pause instructions first.  With another CPU-bound process per core, a worker is often
 * descheduled for a whole time slice (milliseconds), so each of a run's dozens of parallel
 * ops waited for one: 2 threads ran N-HiTS at batch 256 in 232 ms where 1 thread took 0.5 ms.
 * Here the caller waits only for indices a worker has actually started, and nobody spins for
 * more than SPIN_NS.
 *
 * Protocol.  `state` packs a generation (high 32 bits) and the next unclaimed index (low 32).
 * A run first closes the old generation: state = (gen + 1, CLOSED) (sequentially consistent),
 * CLOSED being above any n.  Only then does it store fn, ctx, n (release) and done = 0, and
 * open the run with state = (gen + 1, 0) (release).  Any thread claims index i by CAS state
 * (g, i) -> (g, i + 1) with i < n, having read fn/ctx/n (acquire) after loading state.  The
 * CAS succeeding proves they were generation g's: had any of them been g + 1's, the closing
 * store that precedes it would be visible to the CAS, which would then fail.  (Without the
 * closing store a worker holding the finished state (g, 3) could read the next run's n = 7,
 * claim (g, 3) -> (g, 4) before (g + 1, 0) was stored, and run index 3 of the new run, which
 * the run then handed out again; its extra `done` count left the caller waiting forever.)
 * A finished index increments `done`; the caller returns when done == n, so no worker
 * touches a run's context after it returned.
 *
 * Sleeping: a worker that saw state s and found nothing to claim spins until state != s or
 * SPIN_NS pass (or the caller parked generation g), then registers in `sleepers` and sleeps
 * on the `wake` futex word; a run that sees sleepers bumps `wake` and wakes them (sequentially
 * consistent on both sides, so either the worker sees the new state or the run sees it
 * sleeping).  The caller waiting for done does the same with `waiting` and the `done` word.
 */

#define SPIN_NS 30000.0 /* ~30 us: the gap between two parallel ops of a run is usually less */
#define MAX_THREADS 1024
#define CLOSED UINT32_MAX /* the low half of a state being set up: above every n */

typedef struct worker {
    ntg_tpool *p;
    pthread_t tid;
} worker;

struct ntg_tpool {
    int threads;
    worker *w;    /* threads - 1 workers */
    uint32_t gen; /* the caller's copy of the current generation */
    /* the run: written by the caller before it publishes state */
    _Atomic(ntg_tpool_fn) fn;
    _Atomic(void *) ctx;
    _Atomic uint32_t n;
    _Alignas(64) _Atomic uint64_t state;
    _Alignas(64) _Atomic uint32_t done;
    _Atomic uint32_t waiting; /* the caller sleeps on `done` */
    _Alignas(64) _Atomic uint32_t wake;
    _Atomic uint32_t sleepers;
    _Atomic uint32_t parked; /* generation whose idle workers sleep without spinning, +1 */
    _Atomic int stop;
    _Atomic unsigned delay_us;  /* test hook */
    _Atomic size_t worker_runs; /* test statistic */
};

/* ------------------------------------------------------------------ futex */

static void futex_wait(_Atomic uint32_t *word, uint32_t expect)
{
#if defined(__linux__)
    /* EAGAIN (the word changed already), EINTR and spurious wake-ups: the callers re-check */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expect, NULL, NULL, 0);
#else
    (void)word;
    (void)expect;
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
#endif
}

static void futex_wake(_Atomic uint32_t *word, int count)
{
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
#else
    (void)word;
    (void)count;
#endif
}

static inline void cpu_pause(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_ia32_pause();
#endif
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* ------------------------------------------------------------------- work */

/* Claim and run one index of the generation in `s`: 1 when one ran (or the claim lost a race
 * and the caller should look again), 0 when there is nothing left to claim in `s`. */
static int claim_one(ntg_tpool *p, uint64_t s, int is_worker)
{
    uint32_t i = (uint32_t)s;
    ntg_tpool_fn fn = atomic_load_explicit(&p->fn, memory_order_acquire);
    void *ctx = atomic_load_explicit(&p->ctx, memory_order_acquire);
    uint32_t n = atomic_load_explicit(&p->n, memory_order_acquire);
    if (i >= n) return 0; /* CLOSED included */
    if (!atomic_compare_exchange_strong_explicit(&p->state, &s, s + 1, memory_order_acq_rel,
                                                 memory_order_acquire))
        return 1;
    fn(ctx, i);
    if (is_worker) atomic_fetch_add_explicit(&p->worker_runs, 1, memory_order_relaxed);
    atomic_fetch_add(&p->done, 1);
    if (atomic_load(&p->waiting)) futex_wake(&p->done, 1);
    return 1;
}

static void worker_wait(ntg_tpool *p, uint64_t s)
{
    uint32_t g = (uint32_t)(s >> 32);
    if (atomic_load_explicit(&p->parked, memory_order_relaxed) != g + 1) {
        double t0 = now_ns();
        for (unsigned k = 1;; k++) {
            if (atomic_load_explicit(&p->state, memory_order_relaxed) != s ||
                atomic_load_explicit(&p->stop, memory_order_relaxed))
                return;
            cpu_pause();
            if ((k & 31) == 0 && (now_ns() - t0 > SPIN_NS ||
                                  atomic_load_explicit(&p->parked, memory_order_relaxed) == g + 1))
                break;
        }
    }
    uint32_t w = atomic_load(&p->wake);
    atomic_fetch_add(&p->sleepers, 1);
    if (atomic_load(&p->state) == s && !atomic_load(&p->stop)) futex_wait(&p->wake, w);
    atomic_fetch_sub(&p->sleepers, 1);
}

static void *worker_main(void *arg)
{
    worker *me = arg;
    ntg_tpool *p = me->p;
    uint32_t last_gen = 0;
    for (;;) {
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
        uint32_t g = (uint32_t)(s >> 32);
        if (g != last_gen) {
            last_gen = g;
            unsigned d = atomic_load_explicit(&p->delay_us, memory_order_relaxed);
            if (d) {
                struct timespec ts = {(time_t)(d / 1000000u), (long)(d % 1000000u) * 1000L};
                nanosleep(&ts, NULL);
                continue; /* the run may be over: look again */
            }
        }
        if (!claim_one(p, s, 1)) worker_wait(p, s);
    }
}

/* ------------------------------------------------------------------ public */

ntg_status ntg__tpool_create(int threads, ntg_tpool **out, ntg_error *err)
{
    *out = NULL;
    if (threads < 1 || threads > MAX_THREADS)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "thread count %d is outside 1..%d", threads,
                         MAX_THREADS);
    ntg_tpool *p = aligned_alloc(64, (sizeof *p + 63) & ~(size_t)63);
    if (!p) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory for a thread pool");
    memset(p, 0, sizeof *p);
    p->threads = threads;
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ctx, NULL);
    atomic_init(&p->n, 0);
    atomic_init(&p->state, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->waiting, 0);
    atomic_init(&p->wake, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->parked, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->delay_us, 0);
    atomic_init(&p->worker_runs, 0);
    if (threads > 1) {
        p->w = calloc((size_t)threads - 1, sizeof *p->w);
        if (!p->w) {
            free(p);
            return ntg__fail(err, NTG_ERR_NOMEM, "out of memory for a thread pool");
        }
        for (int k = 0; k < threads - 1; k++) {
            p->w[k].p = p;
            int rc = pthread_create(&p->w[k].tid, NULL, worker_main, &p->w[k]);
            if (rc) {
                p->threads = k + 1; /* destroy joins the k started */
                ntg__tpool_destroy(p);
                return ntg__fail(err, NTG_ERR_NOMEM, "cannot start worker thread %d of %d: %s",
                                 k + 1, threads - 1, strerror(rc));
            }
        }
    }
    *out = p;
    return NTG_OK;
}

void ntg__tpool_destroy(ntg_tpool *p)
{
    if (!p) return;
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->wake, 1);
    futex_wake(&p->wake, INT_MAX);
    for (int k = 0; k < p->threads - 1; k++) pthread_join(p->w[k].tid, NULL);
    free(p->w);
    free(p);
}

int ntg__tpool_threads(const ntg_tpool *p)
{
    return p ? p->threads : 1;
}

void ntg__tpool_run(ntg_tpool *p, ntg_tpool_fn fn, void *ctx, size_t n)
{
    if (!p || p->threads <= 1 || n <= 1 || n >= CLOSED) {
        for (size_t i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    p->gen++;
    uint64_t s = (uint64_t)p->gen << 32;
    /* close: no claim on the previous state can succeed from here on (see the protocol) */
    atomic_store(&p->state, s | CLOSED);
    atomic_store_explicit(&p->fn, fn, memory_order_release);
    atomic_store_explicit(&p->ctx, ctx, memory_order_release);
    atomic_store_explicit(&p->n, (uint32_t)n, memory_order_release);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store(&p->state, s);
    if (atomic_load(&p->sleepers)) {
        atomic_fetch_add(&p->wake, 1);
        futex_wake(&p->wake, INT_MAX);
    }
    /* the caller's share: whatever nobody else has claimed */
    for (;;) {
        uint64_t cur = atomic_load_explicit(&p->state, memory_order_acquire);
        if ((uint32_t)cur >= n) break;
        claim_one(p, cur, 0);
    }
    /* indices still running on workers: spin a little, then sleep until the last is done */
    uint32_t d = atomic_load_explicit(&p->done, memory_order_acquire);
    if (d == n) return;
    double t0 = now_ns();
    for (unsigned k = 1; (d = atomic_load_explicit(&p->done, memory_order_acquire)) != n; k++) {
        cpu_pause();
        if ((k & 31) == 0 && now_ns() - t0 > SPIN_NS) break;
    }
    if (d == n) return;
    atomic_store(&p->waiting, 1);
    while ((d = atomic_load(&p->done)) != n) futex_wait(&p->done, d);
    atomic_store(&p->waiting, 0);
}

void ntg__tpool_park(ntg_tpool *p)
{
    if (p && p->threads > 1) atomic_store_explicit(&p->parked, p->gen + 1, memory_order_relaxed);
}

void ntg__tpool_set_worker_delay(ntg_tpool *p, unsigned usec)
{
    if (p) atomic_store(&p->delay_us, usec);
}

size_t ntg__tpool_worker_runs(const ntg_tpool *p)
{
    return p ? atomic_load_explicit(&((ntg_tpool *)p)->worker_runs, memory_order_relaxed) : 0;
}

/* --------------------------------------------------- the default thread count */

static long read_real(void *ctx, const char *path, char *buf, size_t cap)
{
    (void)ctx;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t got = fread(buf, 1, cap - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) return -1;
    buf[got] = '\0';
    return (long)got;
}

typedef struct probe {
    long (*read)(void *ctx, const char *path, char *buf, size_t cap);
    void *ctx;
} probe;

/* ceil(quota / period) of one limit file's contents, 0 when it says no limit or is not one. */
static int quota_v2(const char *text)
{
    char q[32];
    long long period;
    if (sscanf(text, "%31s %lld", q, &period) != 2 || period <= 0) return 0;
    if (strcmp(q, "max") == 0) return 0;
    char *end;
    long long quota = strtoll(q, &end, 10);
    if (*end || quota <= 0) return 0;
    long long t = (quota + period - 1) / period;
    return t > MAX_THREADS ? MAX_THREADS : (int)t;
}

static int quota_v1(const probe *pr, const char *dir)
{
    char path[4096], buf[64], buf2[64];
    snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
    if (pr->read(pr->ctx, path, buf, sizeof buf) < 0) return 0;
    snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
    if (pr->read(pr->ctx, path, buf2, sizeof buf2) < 0) return 0;
    char text[160];
    snprintf(text, sizeof text, "%s %s", buf, buf2);
    /* "-1" is no limit: quota_v2 refuses a non-positive quota */
    return quota_v2(text);
}

/* The tightest limit in `dir` and its ancestors up to `root`; 0 when none. */
static int walk_up(const probe *pr, const char *root, const char *rel, int v2)
{
    char dir[4096];
    int best = 0;
    snprintf(dir, sizeof dir, "%s%s", root, rel);
    size_t rootlen = strlen(root);
    for (;;) {
        /* strip a trailing slash (the root cgroup's path is "/") */
        size_t len = strlen(dir);
        while (len > rootlen && dir[len - 1] == '/') dir[--len] = '\0';
        int t;
        if (v2) {
            char path[4200], buf[128];
            snprintf(path, sizeof path, "%s/cpu.max", dir);
            t = pr->read(pr->ctx, path, buf, sizeof buf) < 0 ? 0 : quota_v2(buf);
        } else {
            t = quota_v1(pr, dir);
        }
        if (t > 0 && (best == 0 || t < best)) best = t;
        if (len <= rootlen) break;
        char *slash = strrchr(dir + rootlen, '/');
        if (!slash) break;
        *slash = '\0';
    }
    return best;
}

int ntg__cpu_quota_threads(const ntg_cpu_probe *env)
{
    probe pr = {read_real, NULL};
    if (env && env->read) pr.read = env->read, pr.ctx = env->ctx;
    char cg[4096];
    int best = 0;
    if (pr.read(pr.ctx, "/proc/self/cgroup", cg, sizeof cg) < 0) cg[0] = '\0';
    /* one line per hierarchy: "0::/path" (v2), "4:cpu,cpuacct:/path" (v1) */
    const char *v2 = NULL, *v1 = NULL;
    size_t v2len = 0, v1len = 0;
    for (char *line = cg; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *c1 = memchr(line, ':', len);
        char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            size_t clen = (size_t)(c2 - c1 - 1);
            const char *path = c2 + 1;
            size_t plen = len - (size_t)(path - line);
            if (clen == 0 && line[0] == '0') {
                v2 = path, v2len = plen;
            } else {
                /* a v1 line whose controller list has "cpu" */
                for (const char *c = c1 + 1; c < c2;) {
                    const char *e = memchr(c, ',', (size_t)(c2 - c));
                    if (!e) e = c2;
                    if (e - c == 3 && memcmp(c, "cpu", 3) == 0) v1 = path, v1len = plen;
                    c = e + 1;
                }
            }
        }
        if (!nl) break;
        line = nl + 1;
    }
    char rel[2048];
    /* without /proc/self/cgroup: the mount point's own files (a container's view) */
    snprintf(rel, sizeof rel, "%.*s", (int)(v2 ? v2len : 0), v2 ? v2 : "");
    int t = walk_up(&pr, "/sys/fs/cgroup", rel, 1);
    if (t > 0) best = t;
    snprintf(rel, sizeof rel, "%.*s", (int)(v1 ? v1len : 0), v1 ? v1 : "");
    static const char *const v1_roots[] = {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"};
    for (size_t r = 0; r < sizeof v1_roots / sizeof v1_roots[0]; r++) {
        t = walk_up(&pr, v1_roots[r], rel, 0);
        if (t > 0 && (best == 0 || t < best)) best = t;
    }
    return best;
}

int ntg__cpu_default_threads(const ntg_cpu_probe *env)
{
    int n = env && env->online > 0 ? env->online : 0;
    if (n <= 0) {
        long on = sysconf(_SC_NPROCESSORS_ONLN);
        n = on < 1 ? 1 : on > MAX_THREADS ? MAX_THREADS : (int)on;
    }
    int aff = env && env->affinity > 0 ? env->affinity : 0;
#if defined(__linux__)
    if (aff <= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof set, &set) == 0) aff = CPU_COUNT(&set);
    }
#endif
    if (aff > 0 && aff < n) n = aff;
    int q = ntg__cpu_quota_threads(env);
    if (q > 0 && q < n) n = q;
    return n < 1 ? 1 : n;
}
