/* mesh_bench.c — mesh all-reduce bus bandwidth against raw ZeroMQ PUSH/PULL and gloo; a model. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "mesh.h"

/*
 * Usage (docs/benchmarks.md, "Mesh all-reduce", has the runs and their commands):
 *
 *   mesh_bench [--worlds 2,3,4] [--sizes 1,4,14.7,64] [--iters 10] [--repeats 3]
 *              [--chunk BYTES] [--gloo bench/allreduce_gloo_cpu.py]
 *       On loopback, for each world: raw PUSH/PULL throughput between two processes (the
 *       median of 3 runs just before), then an all-reduce of each size (MB = 1e6 bytes of
 *       float32) in `world` forked processes: time per all-reduce (10 back to back between
 *       barriers, as allreduce_gloo.py does; the median of `repeats` such runs), bus
 *       bandwidth = bytes * 2(N-1)/N / time, its ratio to the raw throughput, and rank 0's
 *       process CPU time per all-reduce (every thread; a busy machine disturbs it less than
 *       the wall time).  With --gloo, torch.distributed's gloo all-reduce of the same sizes
 *       for each world, run by /usr/bin/python3 (bench/allreduce_gloo_cpu.py is the peer's
 *       allreduce_gloo.py that also reports rank 0's CPU time; the peer's own script works
 *       too, without it).  The ranks share this host, so the all-reduce moves its data
 *       through shared memory (docs/mesh.md); --tcp keeps it on ZeroMQ's TCP as before.
 *   mesh_bench --rank R --world N --rendezvous tcp://HOST:PORT [--insecure] [--keys DIR] [--tcp]
 * ... One rank of a mesh formed across namespaces or hosts (rank 0 prints the table). mesh_bench
 * --raw-recv tcp://ADDR:PORT | --raw-send tcp://ADDR:PORT [--mb 256] Raw PUSH/PULL throughput
 * between two places (the receiver prints it). mesh_bench --pong tcp://ADDR:PORT | --ping
 * tcp://ADDR:PORT [--iters 1000] The round trip of a 56-byte ZeroMQ message (REQ/REP) between two
 * places: the pinger prints the mean, and alpha = half of it, the latency term of the model.
 *   mesh_bench --model GBIT_PER_S ALPHA_US [--worlds ...] [--sizes ...]
 *       The alpha-beta model of a ring all-reduce, 2(N-1)/N * bytes / bandwidth
 *       + 2(N-1) * alpha: a table on paper, nothing is run.
 */

typedef struct opts {
    int worlds[8], n_worlds;
    double sizes[8];
    int n_sizes;
    int iters, repeats;
    size_t chunk;
    const char *gloo;
    int rank, world;
    const char *rendezvous, *keys;
    int insecure;
    int tcp; /* --tcp: ring data over TCP even on one host (cfg.force_tcp) */
    const char *raw_recv, *raw_send, *ping, *pong;
    double raw_mb;
    double model_gbit, model_alpha_us;
} opts;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void load(char *out, size_t cap)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f || !fgets(out, (int)cap, f)) snprintf(out, cap, "?");
    if (f) fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

/* ------------------------------------------------------------ raw ZeroMQ */

/* Receive until `bytes` arrived; returns the throughput (bytes/s) from the first message on. */
static double raw_receive(void *pull, size_t bytes)
{
    size_t got = 0;
    double t0 = 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (got < bytes) {
        if (zmq_msg_recv(&msg, pull, 0) < 0) break;
        if (got == 0) t0 = now_s();
        got += zmq_msg_size(&msg);
    }
    double t = now_s() - t0;
    zmq_msg_close(&msg);
    return t > 0 ? (double)got / t : 0;
}

static void raw_send_all(void *push, size_t bytes, size_t chunk)
{
    char *buf = calloc(1, chunk);
    /* one extra message: the receiver's clock starts at the first */
    for (size_t sent = 0; sent < bytes + chunk; sent += chunk) zmq_send(push, buf, chunk, 0);
    free(buf);
}

/* Loopback: two processes, PUSH -> PULL, `chunk`-byte messages.  Bytes/s. */
static double raw_loopback(size_t bytes, size_t chunk)
{
    double *result = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *ep = (char *)(result + 1);
    result[0] = 0;
    ep[0] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        void *ctx = zmq_ctx_new(), *pull = zmq_socket(ctx, ZMQ_PULL);
        zmq_bind(pull, "tcp://127.0.0.1:*");
        size_t len = 256;
        char tmp[256];
        zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, tmp, &len);
        memcpy(ep, tmp, len);
        __atomic_store_n(&ep[255], 1, __ATOMIC_RELEASE);
        result[0] = raw_receive(pull, bytes);
        zmq_close(pull);
        zmq_ctx_term(ctx);
        _exit(0);
    }
    while (!__atomic_load_n(&ep[255], __ATOMIC_ACQUIRE)) usleep(1000);
    void *ctx = zmq_ctx_new(), *push = zmq_socket(ctx, ZMQ_PUSH);
    zmq_connect(push, ep);
    raw_send_all(push, bytes, chunk);
    waitpid(pid, NULL, 0);
    zmq_close(push);
    zmq_ctx_term(ctx);
    double r = result[0];
    munmap(result, 4096);
    return r;
}

static int raw_between(const opts *o)
{
    size_t bytes = (size_t)(o->raw_mb * 1e6);
    void *ctx = zmq_ctx_new();
    if (o->raw_recv) {
        void *pull = zmq_socket(ctx, ZMQ_PULL);
        if (zmq_bind(pull, o->raw_recv) != 0) {
            fprintf(stderr, "mesh_bench: bind %s: %s\n", o->raw_recv, zmq_strerror(zmq_errno()));
            return 1;
        }
        double r = raw_receive(pull, bytes);
        printf("raw PUSH/PULL %.0f MB in %zu-byte messages: %.3f GB/s\n", o->raw_mb, o->chunk,
               r / 1e9);
        zmq_close(pull);
    } else {
        void *push = zmq_socket(ctx, ZMQ_PUSH);
        zmq_connect(push, o->raw_send);
        raw_send_all(push, bytes, o->chunk);
        zmq_close(push);
    }
    zmq_ctx_term(ctx);
    return 0;
}

/* Round trips of a header-sized message; the REP side answers iters + 10 of them. */
static int ping_pong(const opts *o)
{
    int n = o->iters < 100 ? 1000 : o->iters;
    void *ctx = zmq_ctx_new();
    char msg[56] = {0};
    if (o->pong) {
        void *rep = zmq_socket(ctx, ZMQ_REP);
        if (zmq_bind(rep, o->pong) != 0) {
            fprintf(stderr, "mesh_bench: bind %s: %s\n", o->pong, zmq_strerror(zmq_errno()));
            return 1;
        }
        for (int i = 0; i < n + 10; i++) {
            if (zmq_recv(rep, msg, sizeof msg, 0) < 0) break;
            zmq_send(rep, msg, sizeof msg, 0);
        }
        zmq_close(rep);
    } else {
        void *req = zmq_socket(ctx, ZMQ_REQ);
        zmq_connect(req, o->ping);
        double t0 = 0;
        for (int i = 0; i < n + 10; i++) {
            if (i == 10) t0 = now_s(); /* the first round trips connect */
            zmq_send(req, msg, sizeof msg, 0);
            zmq_recv(req, msg, sizeof msg, 0);
        }
        double rtt = (now_s() - t0) / n;
        printf("round trip of a 56-byte ZeroMQ message: %.1f us (mean of %d); alpha %.1f us\n",
               rtt * 1e6, n, rtt * 1e6 / 2);
        zmq_close(req);
    }
    zmq_ctx_term(ctx);
    return 0;
}

/* ------------------------------------------------------------ all-reduce */

typedef struct shared {
    char endpoint[256];
    int ready;
    double t[8][8];   /* [size][repeat] seconds per all-reduce, rank 0's */
    double cpu[8][8]; /* and rank 0's process CPU seconds (every thread) per all-reduce */
    int failed;
    char message[512];
} shared;

static void bound(void *user, const char *endpoint)
{
    shared *sh = user;
    snprintf(sh->endpoint, sizeof sh->endpoint, "%s", endpoint);
    __atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
}

static void quiet_log(void *user, int level, const char *line)
{
    (void)user;
    if (level <= NTG__MESH_LOG_WARN) fprintf(stderr, "%s\n", line);
}

/* One rank: form the mesh, time every size; rank 0 fills sh->t. */
static int run_rank(const opts *o, int rank, int world, const char *rendezvous, shared *sh)
{
    ntg__mesh_config cfg;
    ntg__mesh_config_init(&cfg);
    cfg.rank = rank;
    cfg.world = world;
    cfg.rendezvous = rendezvous;
    cfg.keys_dir = o->keys;
    cfg.insecure = o->insecure;
    cfg.force_tcp = o->tcp;
    cfg.chunk_bytes = o->chunk;
    cfg.log = quiet_log;
    if (rank == 0 && sh) {
        cfg.bound = bound;
        cfg.bound_user = sh;
    }
    ntg_mesh *m;
    ntg_error err;
    if (ntg__mesh_create(&cfg, &m, &err) != NTG_OK) {
        fprintf(stderr, "mesh_bench rank %d: %s\n", rank, err.message);
        if (sh) sh->failed = 1;
        return 1;
    }
    size_t max = 0;
    for (int s = 0; s < o->n_sizes; s++)
        if ((size_t)(o->sizes[s] * 1e6 / 4) > max) max = (size_t)(o->sizes[s] * 1e6 / 4);
    float *buf = malloc(max * sizeof *buf);
    for (size_t i = 0; i < max; i++) buf[i] = 1.0f;
    int rc = 0;
    for (int s = 0; s < o->n_sizes && !rc; s++) {
        size_t n = (size_t)(o->sizes[s] * 1e6 / 4);
        for (int w = 0; w < 3 && !rc; w++) rc = ntg__mesh_allreduce(m, buf, n, &err) != NTG_OK;
        for (int r = 0; r < o->repeats && !rc; r++) {
            rc = ntg__mesh_barrier(m, &err) != NTG_OK;
            double t0 = now_s(), c0 = cpu_s();
            for (int it = 0; it < o->iters && !rc; it++)
                rc = ntg__mesh_allreduce(m, buf, n, &err) != NTG_OK;
            rc = rc || ntg__mesh_barrier(m, &err) != NTG_OK;
            double dt = (now_s() - t0) / o->iters, dc = (cpu_s() - c0) / o->iters;
            if (rank == 0 && sh) {
                sh->t[s][r] = dt;
                sh->cpu[s][r] = dc;
            }
            if (rank == 0 && !sh)
                printf("world %d size %6.1f MB repeat %d: %8.2f ms, busbw %.3f GB/s, CPU %.1f ms "
                       "(rank 0's process)\n",
                       world, o->sizes[s], r, dt * 1e3,
                       o->sizes[s] * 1e6 * 2 * (world - 1) / world / dt / 1e9, dc * 1e3);
        }
    }
    if (rc) {
        fprintf(stderr, "mesh_bench rank %d: %s\n", rank, err.message);
        if (sh) {
            sh->failed = 1;
            snprintf(sh->message, sizeof sh->message, "%.500s", err.message);
        }
    }
    free(buf);
    ntg__mesh_destroy(m);
    return rc;
}

/* Fork `world` ranks on loopback; fills sh->t. */
static int run_local(const opts *o, int world, shared *sh)
{
    memset(sh, 0, sizeof *sh);
    pid_t pids[16];
    for (int r = 0; r < world; r++) {
        pids[r] = fork();
        if (pids[r] == 0) {
            const char *rdv = "tcp://127.0.0.1:0";
            if (r > 0) {
                while (!__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE)) usleep(1000);
                rdv = sh->endpoint;
            }
            _exit(run_rank(o, r, world, rdv, sh));
        }
    }
    int bad = 0;
    for (int r = 0; r < world; r++) {
        int st;
        waitpid(pids[r], &st, 0);
        bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    return bad || sh->failed;
}

/* gloo: "world 2 size   14.7 MB:    13.85 ms, busbw 1.06 GB/s[, cpu 9.1 ms]" lines of
 * ../shared/peers/allreduce_gloo.py or bench/allreduce_gloo_cpu.py (which also gets the sizes). */
static int run_gloo(const opts *o, int world, double *ms, double *cpu, int n)
{
    char cmd[1024], sizes[128] = "";
    for (int s = 0; s < n; s++) {
        size_t l = strlen(sizes);
        snprintf(sizes + l, sizeof sizes - l, "%s%g", s ? "," : "", o->sizes[s]);
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' %d %d %s 2>/dev/null", o->gloo, world,
             29533 + world, sizes);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[256];
    int got = 0;
    while (fgets(line, sizeof line, p)) {
        int w;
        double mb, t, bus, c;
        int k = sscanf(line, "world %d size %lf MB: %lf ms, busbw %lf GB/s, cpu %lf ms", &w, &mb,
                       &t, &bus, &c);
        if (k >= 3)
            for (int s = 0; s < n; s++)
                if (fabs(o->sizes[s] - mb) < 0.05) {
                    ms[s] = t;
                    cpu[s] = k == 5 ? c : NAN;
                    got++;
                }
    }
    return pclose(p) == 0 && got ? 0 : -1;
}

static void model_table(const opts *o)
{
    double bw = o->model_gbit * 1e9 / 8, alpha = o->model_alpha_us * 1e-6;
    printf("alpha-beta model of a ring all-reduce (on paper): %.1f Gbit/s, alpha %.1f us\n",
           o->model_gbit, o->model_alpha_us);
    printf("| workers | size MB | bandwidth term ms | latency term ms | total ms |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    for (int w = 0; w < o->n_worlds; w++)
        for (int s = 0; s < o->n_sizes; s++) {
            int n = o->worlds[w];
            double b = 2.0 * (n - 1) / n * o->sizes[s] * 1e6 / bw, l = 2.0 * (n - 1) * alpha;
            printf("| %d | %.1f | %.3f | %.3f | %.3f |\n", n, o->sizes[s], b * 1e3, l * 1e3,
                   (b + l) * 1e3);
        }
}

static int parse_list_d(const char *s, double *out, int max)
{
    int n = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        out[n++] = atof(t);
    free(copy);
    return n;
}

int main(int argc, char **argv)
{
    opts o;
    memset(&o, 0, sizeof o);
    o.worlds[0] = 2;
    o.worlds[1] = 3;
    o.worlds[2] = 4;
    o.n_worlds = 3;
    o.n_sizes = parse_list_d("1,4,14.7,64", o.sizes, 8);
    o.iters = 10;
    o.repeats = 3;
    o.chunk = 256u << 10;
    o.rank = -1;
    o.raw_mb = 256;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--worlds") == 0 && v) {
            double w[8];
            o.n_worlds = parse_list_d(v, w, 8);
            for (int k = 0; k < o.n_worlds; k++) o.worlds[k] = (int)w[k];
            i++;
        } else if (strcmp(a, "--sizes") == 0 && v) {
            o.n_sizes = parse_list_d(v, o.sizes, 8);
            i++;
        } else if (strcmp(a, "--iters") == 0 && v) {
            o.iters = atoi(v);
            i++;
        } else if (strcmp(a, "--repeats") == 0 && v) {
            o.repeats = atoi(v);
            i++;
        } else if (strcmp(a, "--chunk") == 0 && v) {
            o.chunk = (size_t)atol(v);
            i++;
        } else if (strcmp(a, "--gloo") == 0 && v) {
            o.gloo = v;
            i++;
        } else if (strcmp(a, "--rank") == 0 && v) {
            o.rank = atoi(v);
            i++;
        } else if (strcmp(a, "--world") == 0 && v) {
            o.world = atoi(v);
            i++;
        } else if (strcmp(a, "--rendezvous") == 0 && v) {
            o.rendezvous = v;
            i++;
        } else if (strcmp(a, "--keys") == 0 && v) {
            o.keys = v;
            i++;
        } else if (strcmp(a, "--insecure") == 0) {
            o.insecure = 1;
        } else if (strcmp(a, "--tcp") == 0) {
            o.tcp = 1;
        } else if (strcmp(a, "--raw-recv") == 0 && v) {
            o.raw_recv = v;
            i++;
        } else if (strcmp(a, "--raw-send") == 0 && v) {
            o.raw_send = v;
            i++;
        } else if (strcmp(a, "--ping") == 0 && v) {
            o.ping = v;
            i++;
        } else if (strcmp(a, "--pong") == 0 && v) {
            o.pong = v;
            i++;
        } else if (strcmp(a, "--mb") == 0 && v) {
            o.raw_mb = atof(v);
            i++;
        } else if (strcmp(a, "--model") == 0 && i + 2 < argc) {
            o.model_gbit = atof(argv[i + 1]);
            o.model_alpha_us = atof(argv[i + 2]);
            i += 2;
        } else {
            fprintf(stderr,
                    "mesh_bench: unknown or incomplete option '%s' (see the comment at "
                    "the top of bench/mesh_bench.c)\n",
                    a);
            return 2;
        }
    }
    if (o.iters < 1 || o.repeats < 1 || o.repeats > 8 || o.n_sizes < 1 || o.chunk < 64 ||
        o.chunk % 4) {
        fprintf(stderr, "mesh_bench: bad --iters, --repeats (1..8), --sizes or --chunk\n");
        return 2;
    }
    if (o.model_gbit > 0) {
        model_table(&o);
        return 0;
    }
    if (o.raw_recv || o.raw_send) return raw_between(&o);
    if (o.ping || o.pong) return ping_pong(&o);
    if (o.rank >= 0) {
        if (!o.rendezvous || o.world < 1) {
            fprintf(stderr, "mesh_bench: --rank needs --world and --rendezvous\n");
            return 2;
        }
        return run_rank(&o, o.rank, o.world, o.rendezvous, NULL);
    }

    char l0[128], l1[128];
    load(l0, sizeof l0);
    printf("loadavg before: %s\n", l0);
    printf("raw: ZeroMQ PUSH/PULL between 2 processes on loopback, %zu-byte messages, %.0f MB, "
           "the median of 3 runs just before each world's all-reduces\n",
           o.chunk, o.raw_mb);
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    printf("\n| world | size MB | ntgraph ms | busbw GB/s | CPU ms | raw GB/s | vs raw | gloo ms | "
           "gloo busbw GB/s | gloo CPU ms |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int w = 0; w < o.n_worlds; w++) {
        int world = o.worlds[w];
        double gloo_ms[8], gloo_cpu[8];
        for (int s = 0; s < 8; s++) gloo_ms[s] = gloo_cpu[s] = NAN;
        if (o.gloo && run_gloo(&o, world, gloo_ms, gloo_cpu, o.n_sizes) != 0)
            fprintf(stderr, "mesh_bench: gloo did not run for world %d\n", world);
        /* the raw reference measured next to the mesh's runs: the load of a shared machine
         * drifts over a run */
        double raw[3];
        for (int r = 0; r < 3; r++) raw[r] = raw_loopback((size_t)(o.raw_mb * 1e6), o.chunk);
        qsort(raw, 3, sizeof raw[0], cmp_double);
        if (run_local(&o, world, sh) != 0) {
            fprintf(stderr, "mesh_bench: world %d failed: %s\n", world, sh->message);
            return 1;
        }
        for (int s = 0; s < o.n_sizes; s++) {
            double t[8];
            memcpy(t, sh->t[s], sizeof t);
            qsort(t, (size_t)o.repeats, sizeof t[0], cmp_double);
            double med = t[o.repeats / 2];
            memcpy(t, sh->cpu[s], sizeof t);
            qsort(t, (size_t)o.repeats, sizeof t[0], cmp_double);
            double cpu = t[o.repeats / 2];
            double bus = o.sizes[s] * 1e6 * 2 * (world - 1) / world / med;
            printf("| %d | %.1f | %.2f | %.3f | %.1f | %.3f | %.0f %% |", world, o.sizes[s],
                   med * 1e3, bus / 1e9, cpu * 1e3, raw[1] / 1e9, 100 * bus / raw[1]);
            if (isnan(gloo_ms[s]))
                printf(" - | - | - |\n");
            else
                printf(" %.2f | %.3f | %.1f |\n", gloo_ms[s],
                       o.sizes[s] * 1e6 * 2 * (world - 1) / world / (gloo_ms[s] * 1e-3) / 1e9,
                       gloo_cpu[s]);
            fflush(stdout);
        }
    }
    load(l1, sizeof l1);
    printf("\nloadavg after: %s\n", l1);
    munmap(sh, sizeof *sh);
    return 0;
}
