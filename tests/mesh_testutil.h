/* mesh_testutil.h — running mesh ranks as forked processes on loopback, with shared results. */
#ifndef NTG_MESH_TESTUTIL_H
#define NTG_MESH_TESTUTIL_H

#ifndef _DEFAULT_SOURCE
#error "define _DEFAULT_SOURCE before the first include (MAP_ANONYMOUS, usleep)"
#endif

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mesh.h"

#define MT_MAX 8           /* processes of one test */
#define MT_LOG (48u << 10) /* log bytes kept per process */

/* Shared by the test and its children (MAP_SHARED): the rendezvous endpoint rank 0 bound, what
 * each process reports, and each process's log lines. */
typedef struct mt_shared {
    char endpoint[256];
    int endpoint_ready;
    int go;                    /* a flag the test raises for the children */
    int status[MT_MAX];        /* ntg_status of the step that failed (0: all well) */
    char message[MT_MAX][768]; /* its message */
    int64_t when[MT_MAX];      /* ms (CLOCK_MONOTONIC) of the failure */
    long pid[MT_MAX];
    int iterations[MT_MAX]; /* operations completed */
    int mismatches[MT_MAX]; /* results that differ from the reference */
    int world[MT_MAX], rank[MT_MAX];
    unsigned generation[MT_MAX];
    ntg__mesh_stats stats[MT_MAX];
    char ring[MT_MAX][128]; /* ring endpoints the children publish */
    int64_t t[MT_MAX][4];   /* test-defined times */
    char log[MT_MAX][MT_LOG];
    size_t log_len[MT_MAX];
} mt_shared;

static inline int64_t mt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline mt_shared *mt_map(void)
{
    void *p =
        mmap(NULL, sizeof(mt_shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    memset(p, 0, sizeof(mt_shared));
    return p;
}

static inline void mt_unmap(mt_shared *sh)
{
    munmap(sh, sizeof *sh);
}

/* The log sink of process `slot` (children are single processes: a local mutex suffices). */
typedef struct mt_logger {
    mt_shared *sh;
    int slot;
} mt_logger;

static pthread_mutex_t mt_log_mu = PTHREAD_MUTEX_INITIALIZER;

static inline void mt_log(void *user, int level, const char *line)
{
    (void)level;
    mt_logger *l = user;
    pthread_mutex_lock(&mt_log_mu);
    size_t n = strlen(line), *len = &l->sh->log_len[l->slot];
    if (*len + n + 2 < MT_LOG) {
        memcpy(l->sh->log[l->slot] + *len, line, n);
        l->sh->log[l->slot][*len + n] = '\n';
        *len += n + 1;
        l->sh->log[l->slot][*len] = '\0';
    }
    pthread_mutex_unlock(&mt_log_mu);
    if (getenv("NTG_MESH_TEST_VERBOSE")) fprintf(stderr, "[%d] %s\n", l->slot, line);
}

static inline void mt_bound(void *user, const char *endpoint)
{
    mt_shared *sh = user;
    snprintf(sh->endpoint, sizeof sh->endpoint, "%s", endpoint);
    __atomic_store_n(&sh->endpoint_ready, 1, __ATOMIC_RELEASE);
}

/* Wait (a child) for rank 0's endpoint; 0 when it came. */
static inline int mt_wait_endpoint(mt_shared *sh, int ms)
{
    int64_t end = mt_now() + ms;
    while (!__atomic_load_n(&sh->endpoint_ready, __ATOMIC_ACQUIRE)) {
        if (mt_now() > end) return -1;
        usleep(1000);
    }
    return 0;
}

static inline int mt_wait_flag(int *flag, int value, int ms)
{
    int64_t end = mt_now() + ms;
    while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) < value) {
        if (mt_now() > end) return -1;
        usleep(1000);
    }
    return 0;
}

/* A config for rank `rank` of `world` on loopback with short timeouts: rank 0 binds any free
 * port and publishes it; the others wait for it. */
static inline void mt_config(ntg__mesh_config *cfg, mt_shared *sh, mt_logger *lg, int rank,
                             int world)
{
    ntg__mesh_config_init(cfg);
    cfg->rank = rank;
    cfg->world = world;
    /* generous for a loaded machine (and sanitizers); the fault tests shorten them */
    cfg->heartbeat_ms = 200;
    cfg->timeout_ms =
        15000; /* a rank descheduled for seconds on a loaded 2-core host is not lost */
    cfg->rendezvous_timeout_ms = 15000;
    cfg->join_window_ms = 300;
    cfg->op_timeout_ms = 60000;
    cfg->chunk_bytes = 4096;
    cfg->log = mt_log;
    cfg->log_user = lg;
    cfg->log_level = NTG__MESH_LOG_INFO;
    if (rank == 0) {
        cfg->rendezvous = "tcp://127.0.0.1:0";
        cfg->bound = mt_bound;
        cfg->bound_user = sh;
    } else {
        if (mt_wait_endpoint(sh, 15000) != 0)
            cfg->rendezvous = "tcp://127.0.0.1:1";
        else
            cfg->rendezvous = sh->endpoint;
    }
}

/* Record a failure of process `slot`. */
static inline int mt_fail(mt_shared *sh, int slot, ntg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sh->message[slot], sizeof sh->message[slot], fmt, ap);
    va_end(ap);
    sh->status[slot] = st ? (int)st : -100;
    sh->when[slot] = mt_now();
    return 1;
}

typedef int (*mt_child_fn)(mt_shared *sh, int slot, void *arg);

/* Fork a child running fn(sh, slot, arg); it exits with fn's result. */
static inline pid_t mt_spawn(mt_shared *sh, int slot, mt_child_fn fn, void *arg)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork");
    if (pid == 0) {
        /* a test that fails half-way must not leave ranks behind */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(99);
        sh->pid[slot] = (long)getpid();
        int rc = fn(sh, slot, arg);
        _exit(rc);
    }
    sh->pid[slot] = (long)pid;
    return pid;
}

/* Wait for the children to exit, at most ms; the rest are killed.  Returns how many exited
 * with status 0. */
static inline int mt_wait(pid_t *pids, int n, int ms, int *codes)
{
    int64_t end = mt_now() + ms;
    int left = n, ok = 0;
    int done[MT_MAX] = {0};
    while (left > 0 && mt_now() < end) {
        for (int i = 0; i < n; i++) {
            if (done[i] || pids[i] <= 0) {
                if (!done[i] && pids[i] <= 0) {
                    done[i] = 1;
                    left--;
                }
                continue;
            }
            int status;
            if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                done[i] = 1;
                left--;
                int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                if (codes) codes[i] = code;
                if (code == 0) ok++;
            }
        }
        usleep(5000);
    }
    for (int i = 0; i < n; i++)
        if (!done[i] && pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            if (codes) codes[i] = 255;
        }
    return ok;
}

/* The value rank `rank` contributes at element i of test buffer `seed`: spans many magnitudes,
 * so that a different summation order changes the rounding. */
static inline float mt_value(unsigned seed, int rank, size_t i)
{
    uint64_t z = (uint64_t)seed * 0x9E3779B97F4A7C15ull + (uint64_t)rank * 0xBF58476D1CE4E5B9ull +
                 (uint64_t)i * 0x94D049BB133111EBull;
    z ^= z >> 31;
    z *= 0xD6E8FEB86659FD93ull;
    z ^= z >> 32;
    float unit = (float)(z & 0xFFFFFF) / 16777216.0f - 0.5f;
    return unit * (float)(1u << ((z >> 24) % 16));
}

/* The documented ring order (mesh_proto.h): segment j of n elements over `world` ranks sums
 * ((x_j + x_{j+1}) + ...) + x_{j+world-1}; returns what element i must be. */
static inline float mt_ring_sum(unsigned seed, int world, size_t n, size_t i)
{
    size_t base = n / (size_t)world, rem = n % (size_t)world, j = 0;
    /* the segment holding i: the first rem segments have base + 1 elements */
    size_t big = rem * (base + 1);
    j = i < big ? i / (base + 1) : rem + (i - big) / (base ? base : 1);
    float acc = mt_value(seed, (int)j, i);
    for (int t = 1; t < world; t++)
        acc = acc + mt_value(seed, (int)((j + (size_t)t) % (size_t)world), i);
    return acc;
}

/* Whether `line` is somewhere in process slot's log. */
static inline int mt_logged(const mt_shared *sh, int slot, const char *text)
{
    return strstr(sh->log[slot], text) != NULL;
}

#endif /* NTG_MESH_TESTUTIL_H */
