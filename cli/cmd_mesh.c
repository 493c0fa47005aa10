/* cmd_mesh.c — `ntgraph mesh keygen`: CURVE keys for the data-parallel mesh; and the mesh side
 * of `ntgraph train --mesh`. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "train_dp.h"
#ifdef NTG_HAVE_MESH
#include "mesh.h"
#endif

/* ------------------------------------------------------------ train --mesh */

/* --mesh-bucket-mb's default: gradient all-reduces of about this many MB overlap backward */
#define CLI_MESH_BUCKET_MB 4.0

struct cli_train_mesh {
    ntg__train_dp dp;
    double comm_s; /* wall time spent in all-reduce and broadcast during the steps */
    long calls;
    int in_steps;  /* the last all-reduce served a step (not the start's synchronisation) */
    double wait_s; /* of comm_s: blocked in the steps' gradient all-reduces */
    long steps, last_step, buckets; /* steps seen, and gradient all-reduces started in them */
    /* the counters when the first step and the latest one began: the summary covers the whole
     * steps between (from one step's first all-reduce to the next one's) */
    struct tm_snap {
        double wall, cpu_proc, cpu_self, wait, comm, ring;
        long buckets;
    } first, last;
#ifdef NTG_HAVE_MESH
    ntg_mesh *mesh;
#endif
};

#ifdef NTG_HAVE_MESH
static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_s(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A step's first gradient all-reduce: count the step and take the counters (the process's CPU
 * time, and this thread's: the one that runs the backend with --threads 1). */
static void tm_step(cli_train_mesh *m, long step)
{
    if (step <= 0 || step == m->last_step) return;
    ntg__mesh_stats ms;
    ntg__mesh_stats_get(m->mesh, &ms);
    struct tm_snap n = {now_s(),
                        cpu_s(CLOCK_PROCESS_CPUTIME_ID),
                        cpu_s(CLOCK_THREAD_CPUTIME_ID),
                        m->wait_s,
                        m->comm_s,
                        (double)ms.allreduce_ns * 1e-9,
                        m->buckets};
    if (!m->steps) m->first = n;
    m->last = n;
    m->steps++;
    m->last_step = step;
}

static ntg_status tm_allreduce(void *user, long step, float *buf, size_t n, ntg_error *err)
{
    cli_train_mesh *m = user;
    double t0 = now_s();
    tm_step(m, step);
    ntg__mesh_set_step(m->mesh, (uint64_t)step);
    ntg_status st = ntg__mesh_allreduce(m->mesh, buf, n, err);
    m->in_steps = step > 0;
    if (m->in_steps) {
        m->comm_s += now_s() - t0;
        m->wait_s += now_s() - t0;
        m->buckets++;
    }
    m->calls++;
    return st;
}

static ntg_status tm_allreduce_start(void *user, long step, unsigned bucket, float *buf, size_t n,
                                     ntg_error *err)
{
    cli_train_mesh *m = user;
    tm_step(m, step);
    m->in_steps = step > 0;
    ntg__mesh_set_step(m->mesh, (uint64_t)step);
    ntg_status st = ntg__mesh_allreduce_start(m->mesh, bucket, buf, n, err);
    if (!st) m->buckets++;
    return st;
}

static ntg_status tm_allreduce_startv(void *user, long step, unsigned bucket, float *const *ptrs,
                                      const size_t *lens, unsigned n, double scale, ntg_error *err)
{
    cli_train_mesh *m = user;
    tm_step(m, step);
    m->in_steps = step > 0;
    ntg__mesh_set_step(m->mesh, (uint64_t)step);
    ntg_status st = ntg__mesh_allreduce_startv(m->mesh, bucket, ptrs, lens, n, scale, err);
    if (!st) m->buckets++;
    return st;
}

static ntg_status tm_allreduce_startx(void *user, long step, unsigned bucket, float *const *ptrs,
                                      const size_t *lens, unsigned n, double scale,
                                      const uint64_t *bounds, int part, ntg_error *err)
{
    cli_train_mesh *m = user;
    tm_step(m, step);
    m->in_steps = step > 0;
    ntg__mesh_set_step(m->mesh, (uint64_t)step);
    int mp = part == NTG__TRAIN_DP_GATHER ? NTG__MESH_PART_GATHER : NTG__MESH_PART_REDUCE;
    ntg_status st =
        ntg__mesh_allreduce_startx(m->mesh, bucket, ptrs, lens, n, scale, bounds, mp, err);
    if (!st && part != NTG__TRAIN_DP_GATHER) m->buckets++;
    return st;
}

static ntg_status tm_share(void *user, unsigned id, const void *base, size_t bytes, int fd,
                           ntg_error *err)
{
    cli_train_mesh *m = user;
    return ntg__mesh_share(m->mesh, id, base, bytes, fd, err);
}

static ntg_status tm_allreduce_wait(void *user, unsigned bucket, ntg_error *err)
{
    cli_train_mesh *m = user;
    double t0 = now_s();
    ntg_status st = ntg__mesh_allreduce_wait(m->mesh, bucket, err);
    double dt = now_s() - t0;
    m->comm_s += dt;
    m->wait_s += dt;
    m->calls++;
    return st;
}

static void tm_info(void *user, const char *line)
{
    cli_train_mesh *m = user;
    fprintf(stderr, "ntgraph train: mesh rank %d: %s\n", m->dp.rank, line);
}

static ntg_status tm_broadcast(void *user, void *buf, size_t nbytes, ntg_error *err)
{
    cli_train_mesh *m = user;
    double t0 = now_s();
    ntg_status st = ntg__mesh_broadcast(m->mesh, buf, nbytes, err);
    if (m->in_steps) m->comm_s += now_s() - t0; /* validation losses */
    m->calls++;
    return st;
}

static ntg_status tm_reform(void *user, int *rank, int *world, ntg_error *err)
{
    cli_train_mesh *m = user;
    ntg_status st = ntg__mesh_reform(m->mesh, err);
    if (st) return st;
    /* the new generation starts as a fresh job does, at step 0 (a joiner is there) */
    ntg__mesh_set_step(m->mesh, 0);
    m->in_steps = 0;
    *rank = m->dp.rank = ntg__mesh_rank(m->mesh);
    *world = m->dp.world = ntg__mesh_world(m->mesh);
    fprintf(stderr, "ntgraph train: mesh re-formed: generation %u, this worker is rank %d of %d\n",
            ntg__mesh_generation(m->mesh), *rank, *world);
    return NTG_OK;
}

static int tm_joiners(void *user)
{
    cli_train_mesh *m = user;
    return ntg__mesh_joiners(m->mesh);
}

static ntg_status tm_request_reform(void *user, ntg_error *err)
{
    cli_train_mesh *m = user;
    return ntg__mesh_request_reform(m->mesh, "admitting workers that asked to join", err);
}
#endif

int cli_train_mesh_open(const cli_cmd *cmd, const cli_args *a, cli_train_mesh **out)
{
    *out = NULL;
    static const char *const flags[] = {
        "rank",      "world",        "rendezvous",     "mesh-keys", "mesh-insecure",
        "mesh-join", "mesh-timeout", "mesh-bucket-mb", "mesh-tcp",  "mesh-shard-optimizer"};
    if (!cli_flag(a, "mesh")) {
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
            if (cli_get(a, flags[i]))
                return cli_usage_error(cmd, "--%s belongs to data-parallel training: add --mesh",
                                       flags[i]);
        return CLI_OK;
    }
#ifdef NTG_HAVE_MESH
    long rank = -1, world = 0, timeout_ms = 0;
    double bucket_mb = CLI_MESH_BUCKET_MB;
    if (cli_int(cmd, a, "rank", 0, 4095, &rank) < 0 ||
        cli_int(cmd, a, "world", 1, 4096, &world) < 0 ||
        cli_int(cmd, a, "mesh-timeout", 200, 3600000, &timeout_ms) < 0 ||
        cli_double(cmd, a, "mesh-bucket-mb", 0, 1024, &bucket_mb) < 0)
        return CLI_USAGE;
    const char *shard = cli_get(a, "mesh-shard-optimizer");
    if (shard && strcmp(shard, "on") != 0 && strcmp(shard, "off") != 0)
        return cli_usage_error(cmd, "--mesh-shard-optimizer '%s' is neither 'on' nor 'off'", shard);
    ntg__mesh_launch launch;
    ntg_error err;
    ntg_status st = ntg__mesh_launch_resolve(NULL, (int)rank, (int)world, cli_get(a, "rendezvous"),
                                             &launch, &err);
    if (st) return cli_fail(cmd, st, &err);
    cli_train_mesh *m = calloc(1, sizeof *m);
    if (!m) {
        fprintf(stderr, "ntgraph %s: error: out of memory\n", cmd->name);
        return CLI_FAIL;
    }
    ntg__mesh_config cfg;
    ntg__mesh_config_init(&cfg);
    cfg.rank = launch.rank;
    cfg.world = launch.world;
    cfg.rendezvous = launch.rendezvous;
    cfg.keys_dir = cli_get(a, "mesh-keys");
    cfg.insecure = cli_flag(a, "mesh-insecure");
    cfg.join = cli_flag(a, "mesh-join");
    /* ring data through shared memory between workers on one host, unless told otherwise */
    const char *env_transport = getenv("NTG_MESH_TRANSPORT");
    if (env_transport && *env_transport && strcmp(env_transport, "tcp") != 0 &&
        strcmp(env_transport, "auto") != 0) {
        free(m);
        return cli_usage_error(cmd, "NTG_MESH_TRANSPORT='%s' is neither 'tcp' nor 'auto'",
                               env_transport);
    }
    cfg.force_tcp = cli_flag(a, "mesh-tcp") || (env_transport && strcmp(env_transport, "tcp") == 0);
    const char *env_timeout = getenv("NTG_MESH_TIMEOUT_MS");
    if (timeout_ms == 0 && env_timeout && *env_timeout) {
        char *end;
        errno = 0;
        timeout_ms = strtol(env_timeout, &end, 10);
        if (errno || *end || timeout_ms < 200 || timeout_ms > 3600000) {
            free(m);
            return cli_usage_error(
                cmd, "NTG_MESH_TIMEOUT_MS='%s' is not a timeout in ms (200 .. 3600000)",
                env_timeout);
        }
    }
    if (timeout_ms > 0) { /* a peer silent this long is lost; heartbeats 8 times as often */
        cfg.timeout_ms = (int)timeout_ms;
        cfg.heartbeat_ms = (int)(timeout_ms / 8 > 25 ? timeout_ms / 8 : 25);
    }
    fprintf(stderr, "ntgraph %s: mesh rank %d of %d, rendezvous %s (%s)\n", cmd->name, launch.rank,
            launch.world, launch.rendezvous, launch.source);
    st = ntg__mesh_create(&cfg, &m->mesh, &err);
    if (st) {
        free(m);
        return cli_fail(cmd, st, &err);
    }
    /* a joiner learns its place from rank 0 */
    m->dp.rank = ntg__mesh_rank(m->mesh);
    m->dp.world = ntg__mesh_world(m->mesh);
    m->dp.user = m;
    m->dp.allreduce = tm_allreduce;
    m->dp.broadcast = tm_broadcast;
    m->dp.reform = tm_reform;
    m->dp.joiners = tm_joiners;
    m->dp.request_reform = tm_request_reform;
    m->dp.allreduce_start = tm_allreduce_start;
    m->dp.allreduce_wait = tm_allreduce_wait;
    m->dp.allreduce_startv = tm_allreduce_startv;
    m->dp.allreduce_startx = tm_allreduce_startx;
    m->dp.shard_optimizer = !shard || strcmp(shard, "on") == 0;
    /* in place through shared memory (docs/mesh.md, "In place"); NTG_MESH_IN_PLACE=off: the
     * frames carry copies, as over TCP */
    const char *ip = getenv("NTG_MESH_IN_PLACE");
    if (!cfg.force_tcp && !(ip && strcmp(ip, "off") == 0)) m->dp.share = tm_share;
    m->dp.bucket_bytes = (size_t)(bucket_mb * 1e6 + 0.5);
    if (bucket_mb > 0 && m->dp.bucket_bytes < 4) m->dp.bucket_bytes = 4; /* one float */
    m->dp.info = tm_info;
    if (cfg.join)
        fprintf(stderr, "ntgraph %s: joined the mesh as rank %d of %d\n", cmd->name, m->dp.rank,
                m->dp.world);
    *out = m;
    return CLI_OK;
#else
    fprintf(stderr,
            "ntgraph %s: error: --mesh: this ntgraph was built without the mesh (libzmq "
            "not found)\n",
            cmd->name);
    return CLI_FAIL;
#endif
}

const ntg__train_dp *cli_train_mesh_dp(const cli_train_mesh *m)
{
    return m ? &m->dp : NULL;
}

int cli_train_mesh_rank(const cli_train_mesh *m)
{
    return m ? m->dp.rank : 0;
}

int cli_train_mesh_world(const cli_train_mesh *m)
{
    return m ? m->dp.world : 1;
}

double cli_train_mesh_comm_seconds(const cli_train_mesh *m)
{
    return m ? m->comm_s : 0;
}

void cli_train_mesh_summary(const cli_train_mesh *m, char *out, size_t cap)
{
    if (!cap) return;
    out[0] = '\0';
    if (!m || m->steps < 2) return;
    const struct tm_snap *a = &m->first, *b = &m->last;
    double k = 1e3 / (double)(m->steps - 1); /* per step, in ms */
    double wall = (b->wall - a->wall) * k, wait = (b->wait - a->wait) * k;
    double bcast = (b->comm - a->comm) * k - wait, ring = (b->ring - a->ring) * k;
    if (bcast < 0.005) bcast = 0; /* rounding of the difference */
    double self = (b->cpu_self - a->cpu_self) * k;
    double others = (b->cpu_proc - a->cpu_proc) * k - self;
    snprintf(out, cap,
             "per step %.2f ms: %.2f computing and the rest, %.2f waiting for the gradient "
             "all-reduce, %.2f in broadcasts; the ring was busy %.2f ms with %.1f all-reduces "
             "(%.0f %% of it hidden behind backward); CPU %.2f ms in the training thread, %.2f "
             "in the mesh's and ZeroMQ's threads",
             wall, wall - wait - bcast, wait, bcast, ring,
             (double)(b->buckets - a->buckets) / (double)(m->steps - 1),
             ring > wait ? 100.0 * (ring - wait) / ring : 0.0, self, others);
#ifdef NTG_HAVE_MESH
    ntg__mesh_stats st;
    ntg__mesh_stats_get(m->mesh, &st);
    size_t len = strlen(out);
    if (st.in_place_sent || st.in_place_received)
        snprintf(out + len, cap - len,
                 "; ring frames in place (read where they lie): %llu of %llu sent, %llu of %llu "
                 "received",
                 (unsigned long long)st.in_place_sent, (unsigned long long)st.frames_sent,
                 (unsigned long long)st.in_place_received, (unsigned long long)st.frames_received);
#endif
}

void cli_train_mesh_close(cli_train_mesh *m)
{
    if (!m) return;
#ifdef NTG_HAVE_MESH
    ntg__mesh_destroy(m->mesh);
#endif
    free(m);
}

/* ------------------------------------------------------------ mesh run */

#ifdef NTG_HAVE_MESH
#define RUN_MAX 64

/* A TCP port free on loopback now (the kernel's pick), or -1. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int has_arg(char **argv, int n, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < n; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strncmp(argv[i], name, len) == 0 && (argv[i][len] == '\0' || argv[i][len] == '='))
            return 1;
    }
    return 0;
}

/* Start worker `rank` of `world`: this program with `train …` (plus --mesh, --threads 1 and
 * --resume where wanted) and the torchrun variables; the other launchers' variables removed so
 * that they do not win (ntg__mesh_launch_resolve reads Open MPI, PMI and Slurm first). */
static long spawn(const char *self, char **argv, int rank, int world, int port,
                  const sigset_t *mask)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    sigprocmask(SIG_SETMASK, mask, NULL);
    static const char *const drop[] = {"OMPI_COMM_WORLD_RANK",
                                       "OMPI_COMM_WORLD_SIZE",
                                       "OMPI_COMM_WORLD_LOCAL_SIZE",
                                       "PMI_RANK",
                                       "PMI_SIZE",
                                       "MPI_LOCALNRANKS",
                                       "SLURM_PROCID",
                                       "SLURM_NTASKS",
                                       "SLURM_NPROCS"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) unsetenv(drop[i]);
    char v[32];
    snprintf(v, sizeof v, "%d", rank);
    setenv("RANK", v, 1);
    setenv("LOCAL_RANK", v, 1);
    snprintf(v, sizeof v, "%d", world);
    setenv("WORLD_SIZE", v, 1);
    setenv("LOCAL_WORLD_SIZE", v, 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    snprintf(v, sizeof v, "%d", port);
    setenv("MASTER_PORT", v, 1);
    execv(self, argv);
    fprintf(stderr, "ntgraph mesh run: cannot start %s: %s\n", self, strerror(errno));
    _exit(CLI_FAIL);
}

static void describe(int status, char *buf, size_t cap)
{
    if (WIFSIGNALED(status))
        snprintf(buf, cap, "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
}

/* Stop the workers still running: SIGTERM, then SIGKILL after 10 s. */
static void stop_all(long *pid, int *status, int n, int *alive, const sigset_t *set)
{
    for (int r = 0; r < n; r++)
        if (pid[r] > 0) kill((pid_t)pid[r], SIGTERM);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int killed = 0;
    while (*alive > 0) {
        struct timespec tick = {0, 100 * 1000 * 1000}, now;
        sigtimedwait(set, NULL, &tick);
        for (int r = 0; r < n; r++)
            if (pid[r] > 0 && waitpid((pid_t)pid[r], &status[r], WNOHANG) == (pid_t)pid[r]) {
                pid[r] = 0;
                (*alive)--;
            }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!killed && now.tv_sec - t0.tv_sec >= 10) {
            for (int r = 0; r < n; r++)
                if (pid[r] > 0) kill((pid_t)pid[r], SIGKILL);
            killed = 1;
        }
    }
}

static int run_workers(const cli_cmd *cmd, cli_args *a)
{
    long n = 0, max_restarts = 3, port_opt = 0;
    if (cli_int(cmd, a, "n", 1, RUN_MAX, &n) < 0 ||
        cli_int(cmd, a, "max-restarts", 0, 1000, &max_restarts) < 0 ||
        cli_int(cmd, a, "port", 1, 65535, &port_opt) < 0)
        return CLI_USAGE;
    if (n == 0) return cli_usage_error(cmd, "run needs -n N (the number of workers)");
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected 'run -n N -- train …'");
    if (!a->rest || a->n_rest < 1 || strcmp(a->rest[0], "train") != 0)
        return cli_usage_error(cmd, "expected the worker's command after '--': "
                                    "'mesh run -n N -- train GRAPH.yaml …'");
    static const char *const own[] = {"--rank", "--world", "--rendezvous"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (has_arg(a->rest, a->n_rest, own[i]))
            return cli_usage_error(cmd,
                                   "mesh run sets each worker's rank, world and rendezvous: "
                                   "drop %s from the train command",
                                   own[i]);
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        fprintf(stderr, "ntgraph %s: error: cannot find this program (/proc/self/exe): %s\n",
                cmd->name, strerror(errno));
        return CLI_FAIL;
    }
    self[len] = '\0';
    /* the worker's argv: ntgraph train … [--mesh] [--threads 1] [--resume] */
    int resumable =
        has_arg(a->rest, a->n_rest, "--checkpoint-dir") || has_arg(a->rest, a->n_rest, "--store");
    int has_resume = has_arg(a->rest, a->n_rest, "--resume");
    char **wargv = calloc((size_t)a->n_rest + 8, sizeof *wargv);
    char **jargv = calloc((size_t)a->n_rest + 9, sizeof *jargv); /* wargv + --mesh-join */
    if (!wargv || !jargv) {
        free(wargv);
        free(jargv);
        fprintf(stderr, "ntgraph %s: error: out of memory\n", cmd->name);
        return CLI_FAIL;
    }
    int k = 0;
    wargv[k++] = self;
    for (int i = 0; i < a->n_rest; i++) wargv[k++] = a->rest[i];
    if (!has_arg(a->rest, a->n_rest, "--mesh")) wargv[k++] = "--mesh";
    if (!has_arg(a->rest, a->n_rest, "--threads")) {
        wargv[k++] = "--threads";
        wargv[k++] = "1";
    }
    int resume_slot = k;
    wargv[k] = NULL;

    /* signals come to this loop (sigtimedwait), not to handlers; workers get the old mask */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    long pid[RUN_MAX];
    int status[RUN_MAX], rc = CLI_OK;
    int restarts = 0;
    for (;; restarts++) {
        int port = port_opt ? (int)port_opt : free_port();
        if (port < 0) {
            fprintf(stderr, "ntgraph %s: error: no free TCP port on 127.0.0.1: %s\n", cmd->name,
                    strerror(errno));
            rc = CLI_FAIL;
            break;
        }
        int alive = 0;
        for (int r = 0; r < n; r++) {
            pid[r] = spawn(self, wargv, r, (int)n, port, &old);
            status[r] = 0;
            if (pid[r] < 0) {
                fprintf(stderr, "ntgraph %s: error: cannot start worker %d: %s\n", cmd->name, r,
                        strerror(errno));
                pid[r] = 0;
                stop_all(pid, status, (int)n, &alive, &set);
                rc = CLI_FAIL;
                goto out;
            }
            alive++;
            fprintf(stderr,
                    "ntgraph mesh run: worker %d of %ld: pid %ld (rendezvous "
                    "tcp://127.0.0.1:%d)\n",
                    r, n, pid[r], port);
        }
        int failed = -1, fail_status = 0, interrupted = 0;
        while (alive > 0 && !interrupted) {
            siginfo_t si;
            struct timespec tick = {1, 0};
            int sig = sigtimedwait(&set, &si, &tick);
            if (sig == SIGINT || sig == SIGTERM) {
                /* forwarded; the workers end as they do on their own */
                for (int r = 0; r < n; r++)
                    if (pid[r] > 0) kill((pid_t)pid[r], sig);
                interrupted = sig;
            }
            for (int r = 0; r < n; r++) {
                if (pid[r] <= 0 || waitpid((pid_t)pid[r], &status[r], WNOHANG) != (pid_t)pid[r])
                    continue;
                pid[r] = 0;
                alive--;
                /* rank 0's failure decides (the job cannot go on without it) */
                if ((failed < 0 || r == 0) &&
                    !(WIFEXITED(status[r]) && WEXITSTATUS(status[r]) == 0)) {
                    failed = r;
                    fail_status = status[r];
                }
            }
            if (failed < 0) continue;
            /* another worker died while rank 0 runs: a replacement joins the job's next
             * generation (the survivors re-form and go on from rank 0's newest checkpoint) */
            int usage = WIFEXITED(fail_status) && WEXITSTATUS(fail_status) == CLI_USAGE;
            if (failed == 0 || usage || restarts >= max_restarts || pid[0] <= 0) break;
            char what[64];
            describe(fail_status, what, sizeof what);
            restarts++;
            int k2 = 0;
            for (; wargv[k2]; k2++) jargv[k2] = wargv[k2];
            jargv[k2++] = "--mesh-join";
            jargv[k2] = NULL;
            pid[failed] = spawn(self, jargv, failed, (int)n, port, &old);
            if (pid[failed] < 0) {
                pid[failed] = 0;
                break;
            }
            alive++;
            fprintf(stderr,
                    "ntgraph mesh run: worker %d %s; a replacement (pid %ld) joins the running "
                    "job (restart %d of %ld)\n",
                    failed, what, pid[failed], restarts, max_restarts);
            failed = -1;
        }
        if (interrupted) {
            /* wait for the workers to finish with the signal (they have it already) */
            while (alive > 0) {
                struct timespec tick = {0, 100 * 1000 * 1000};
                sigtimedwait(&set, NULL, &tick);
                for (int r = 0; r < n; r++)
                    if (pid[r] > 0 &&
                        waitpid((pid_t)pid[r], &status[r], WNOHANG) == (pid_t)pid[r]) {
                        pid[r] = 0;
                        alive--;
                    }
            }
            fprintf(stderr, "ntgraph mesh run: stopped by signal %d (forwarded to the workers)\n",
                    interrupted);
            rc = 128 + interrupted;
            break;
        }
        if (failed < 0) break; /* every worker finished: rank 0 wrote the plan */
        char what[64];
        describe(fail_status, what, sizeof what);
        int bad_input = WIFEXITED(fail_status) && WEXITSTATUS(fail_status) == CLI_USAGE;
        int code = WIFEXITED(fail_status) ? WEXITSTATUS(fail_status) : CLI_FAIL;
        if (bad_input || restarts >= max_restarts) {
            fprintf(stderr, "ntgraph mesh run: worker %d %s; %s\n", failed, what,
                    bad_input ? "bad usage or input is not retried: stopping the job"
                              : "no restarts left: stopping the job");
            stop_all(pid, status, (int)n, &alive, &set);
            rc = code;
            break;
        }
        /* rank 0 is gone: restart the whole job, from the newest checkpoint when there is one */
        fprintf(stderr,
                "ntgraph mesh run: worker %d %s; restarting all %ld workers%s (restart %d "
                "of %ld)\n",
                failed, what, n, resumable ? " from the newest checkpoint" : " from the start",
                restarts + 1, max_restarts);
        stop_all(pid, status, (int)n, &alive, &set);
        if (resumable && !has_resume) {
            wargv[resume_slot] = "--resume";
            wargv[resume_slot + 1] = NULL;
        }
    }
out:
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(wargv);
    free(jargv);
    return rc;
}
#endif

/* ------------------------------------------------------------ ntgraph mesh */

static const cli_opt mesh_opts[] = {
    {"name", 0, "NAME", 0, "keygen: the key's name in authorized/ (default: the short host name)"},
    {"force", 0, NULL, 0, "keygen: replace an existing key pair"},
    {"n", 'n', "N", 0, "run: the number of workers (1..64)"},
    {"max-restarts", 0, "K", 0, "run: replacements and restarts after workers die (default 3)"},
    {"port", 0, "P", 0, "run: the rendezvous port on 127.0.0.1 (default: a free one)"},
};

static int mesh_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos < 1) return cli_usage_error(cmd, "expected a subcommand (keygen or run)");
    if (strcmp(a->pos[0], "run") == 0) {
#ifdef NTG_HAVE_MESH
        return run_workers(cmd, a);
#else
        fprintf(stderr, "ntgraph %s: this ntgraph was built without the mesh (libzmq not found)\n",
                cmd->name);
        return CLI_FAIL;
#endif
    }
    if (a->rest) return cli_usage_error(cmd, "'--' and a command belong to 'mesh run'");
    if (strcmp(a->pos[0], "keygen") != 0)
        return cli_usage_error(cmd, "unknown subcommand '%s' (expected keygen or run)", a->pos[0]);
    if (a->n_pos != 2) return cli_usage_error(cmd, "expected 'keygen DIR'");
#ifdef NTG_HAVE_MESH
    const char *dir = a->pos[1], *name = cli_get(a, "name");
    char pub[41], host[65];
    if (!name) {
        ntg__mesh_default_key_name(host);
        name = host;
    }
    ntg_error err;
    ntg_status st = ntg__mesh_keygen(dir, name, cli_flag(a, "force"), pub, &err);
    if (st) return cli_fail(cmd, st, &err);
    /* stdout holds the public key alone, for scripts; the rest is for people */
    printf("%s\n", pub);
    fprintf(stderr,
            "ntgraph mesh: wrote %s/mesh.secret (mode 0600: keep it private), %s/mesh.public, "
            "and %s/authorized/%s.pub\n",
            dir, dir, dir, name);
    return CLI_OK;
#else
    fprintf(stderr, "ntgraph %s: this ntgraph was built without the mesh (libzmq not found)\n",
            cmd->name);
    return CLI_FAIL;
#endif
}

const cli_cmd cli_cmd_mesh = {
    "mesh",
    "Data-parallel mesh: CURVE keys, local workers",
    "ntgraph mesh keygen DIR [--name NAME] [--force]\n"
    "       ntgraph mesh run -n N [--max-restarts K] [--port P] -- train GRAPH.yaml …",
    "keygen creates DIR (mode 0700) if needed and writes a new CURVE key pair for one\n"
    "worker: DIR/mesh.secret (mode 0600), DIR/mesh.public, and DIR/authorized/NAME.pub so\n"
    "that the key admits itself. It prints the public key. A mesh started with\n"
    "--mesh-keys DIR admits only the public keys in DIR/authorized/ (every socket is\n"
    "encrypted; a stranger is refused and logged): copy each worker's mesh.public into\n"
    "every other worker's authorized/ as NAME.pub, and rank 0's into DIR/coordinator.pub;\n"
    "or generate one DIR and give all workers a copy of it.\n"
    "\n"
    "run starts N workers of `ntgraph train … --mesh` on this machine (adding --mesh, and\n"
    "--threads 1 unless the command gives --threads), each with RANK, WORLD_SIZE,\n"
    "MASTER_ADDR=127.0.0.1 and MASTER_PORT in its environment. SIGINT and SIGTERM are\n"
    "forwarded to the workers. When a worker other than rank 0 dies, a replacement\n"
    "starts with --mesh-join: the survivors re-form with it and go on from rank 0's\n"
    "newest checkpoint (elastic). When rank 0 dies, the whole job restarts, with --resume\n"
    "when the command writes checkpoints (--checkpoint-dir or --store). At most K\n"
    "restarts in all; a worker that exits with status 2 (bad usage or input) is not\n"
    "retried. The exit status is 0 when every worker finished (rank 0 wrote the plan),\n"
    "else the failing worker's status (1 when it was killed), or 128 + the signal that\n"
    "stopped the job.\n"
    "docs/mesh.md describes the files, the protocol and the failure behaviour.",
    mesh_opts,
    (int)(sizeof mesh_opts / sizeof mesh_opts[0]),
    mesh_run,
};
