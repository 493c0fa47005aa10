/* serve_bench_zmq.c — closed-loop ZeroMQ load on `ntgraph serve`: N clients, each one request
 * at a time on its own DEALER, for a fixed time; prints requests/s and p50/p99 latency. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

typedef struct client {
    void *ctx;
    const char *ep, *line, *body;
    size_t body_len;
    double end;
    double *lat; /* seconds per request */
    size_t n, cap;
    long errors;
} client;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *client_main(void *arg)
{
    client *c = arg;
    void *s = zmq_socket(c->ctx, ZMQ_DEALER);
    int linger = 0, tmo = 30000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (zmq_connect(s, c->ep) != 0) {
        c->errors++;
        zmq_close(s);
        return NULL;
    }
    char *resp = malloc(1 << 20);
    while (now_s() < c->end) {
        double t0 = now_s();
        if (zmq_send(s, c->line, strlen(c->line), ZMQ_SNDMORE) < 0 ||
            zmq_send(s, c->body, c->body_len, 0) < 0) {
            c->errors++;
            break;
        }
        char status[16];
        int n = zmq_recv(s, status, sizeof status - 1, 0);
        if (n <= 0) {
            c->errors++;
            break;
        }
        status[n] = 0;
        n = zmq_recv(s, resp, 1 << 20, 0);
        double dt = now_s() - t0;
        if (n < 0 || strcmp(status, "200") != 0) {
            c->errors++;
            continue;
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 4096;
            double *nl = realloc(c->lat, c->cap * sizeof *nl);
            if (!nl) break;
            c->lat = nl;
        }
        c->lat[c->n++] = dt;
    }
    free(resp);
    zmq_close(s);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s ENDPOINT PATH BODY.json CLIENTS SECONDS\n", argv[0]);
        return 2;
    }
    const char *ep = argv[1], *path = argv[2];
    int clients = atoi(argv[4]);
    double secs = atof(argv[5]);
    if (clients < 1 || clients > 1024 || !(secs > 0)) {
        fprintf(stderr, "%s: CLIENTS must be 1..1024 and SECONDS > 0\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[3], "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s\n", argv[0], argv[3]);
        return 2;
    }
    char *body = malloc(1 << 20);
    size_t blen = fread(body, 1, 1 << 20, f);
    fclose(f);
    char line[600];
    snprintf(line, sizeof line, "POST %s", path);
    void *ctx = zmq_ctx_new();
    client *c = calloc((size_t)clients, sizeof *c);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    double t0 = now_s(), end = t0 + secs;
    for (int i = 0; i < clients; i++) {
        c[i] = (client){ctx, ep, line, body, blen, end, NULL, 0, 0, 0};
        pthread_create(&th[i], NULL, client_main, &c[i]);
    }
    size_t total = 0;
    long errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += c[i].n;
        errors += c[i].errors;
    }
    double wall = now_s() - t0;
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, c[i].lat, c[i].n * sizeof *all);
        k += c[i].n;
        free(c[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_d);
    double p50 = total ? all[(size_t)(0.50 * (double)(total - 1))] : NAN;
    double p99 = total ? all[(size_t)(0.99 * (double)(total - 1))] : NAN;
    printf("clients=%d requests=%zu errors=%ld req_per_s=%.0f p50_ms=%.3f p99_ms=%.3f\n", clients,
           total, errors, (double)total / wall, p50 * 1e3, p99 * 1e3);
    free(all);
    free(c);
    free(th);
    free(body);
    zmq_ctx_term(ctx);
    return errors ? 1 : 0;
}
