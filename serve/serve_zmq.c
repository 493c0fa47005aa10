/* serve_zmq.c — the ZeroMQ front end of `ntgraph serve`: a ROUTER whose requests a pool of
 * workers hands to the same handler as HTTP (envelope in docs/serve.md). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "serve.h"

#ifdef NTG_HAVE_MESH
#include <pthread.h>
#include <zmq.h>

#define MAX_FRAMES 8

struct ntg__serve_zmq {
    ntg__serve *s;
    void *ctx;
    void *front, *back, *control; /* ROUTER, inproc DEALER, proxy control (PAIR) */
    char back_ep[64], control_ep[64];
    pthread_t proxy;
    int proxy_started;
    pthread_t *workers;
    int n_workers;
    atomic_int stop;
};

typedef struct worker_arg {
    struct ntg__serve_zmq *z;
} worker_arg;

static void *proxy_main(void *arg)
{
    struct ntg__serve_zmq *z = arg;
    void *ctl = zmq_socket(z->ctx, ZMQ_PAIR);
    if (ctl && zmq_connect(ctl, z->control_ep) == 0)
        zmq_proxy_steerable(z->front, z->back, NULL, ctl);
    if (ctl) zmq_close(ctl);
    return NULL;
}

static int send_frame(void *sock, const void *data, size_t len, int more)
{
    return zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

static void *worker_main(void *arg)
{
    struct ntg__serve_zmq *z = arg;
    void *sock = zmq_socket(z->ctx, ZMQ_DEALER);
    if (!sock) return NULL;
    int linger = 2000, rcvtimeo = 100;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
    if (zmq_connect(sock, z->back_ep) != 0) {
        zmq_close(sock);
        return NULL;
    }
    while (!atomic_load(&z->stop)) {
        zmq_msg_t f[MAX_FRAMES];
        int n = 0, more = 1, err = 0, overflow = 0;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, 0) < 0) {
                zmq_msg_close(&m);
                err = 1;
                break;
            }
            more = zmq_msg_more(&m);
            if (n < MAX_FRAMES)
                f[n++] = m;
            else {
                zmq_msg_close(&m);
                overflow = 1;
            }
        }
        if (err && n == 0) continue; /* a receive timeout: look at the stop flag */
        if (err) {
            for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
            continue;
        }
        /* f[0] is the ROUTER's identity; an empty frame after it is a REQ client's delimiter */
        int k = 1;
        if (k < n && zmq_msg_size(&f[k]) == 0) k++;
        int head = k;
        ntg__serve_resp r;
        memset(&r, 0, sizeof r);
        const char *corr = NULL;
        size_t corr_len = 0;
        if (overflow || n - k < 1 || n - k > 3) {
            r.status = 400;
            r.body = ntg__serve_error_body(
                400,
                "expected frames: \"METHOD PATH\", then the JSON body, then optionally a "
                "correlation frame",
                &r.len);
            ntg__serve_count(z->s, 400, 0);
        } else {
            char line[512];
            size_t ll = zmq_msg_size(&f[k]);
            char method[16], path[480];
            int ok = ll < sizeof line;
            if (ok) {
                memcpy(line, zmq_msg_data(&f[k]), ll);
                line[ll] = 0;
                ok = strlen(line) == ll && sscanf(line, "%15s %479s", method, path) == 2;
            }
            const char *body = "";
            size_t blen = 0;
            if (n - k >= 2) {
                body = zmq_msg_data(&f[k + 1]);
                blen = zmq_msg_size(&f[k + 1]);
            }
            if (n - k == 3) {
                corr = zmq_msg_data(&f[k + 2]);
                corr_len = zmq_msg_size(&f[k + 2]);
            }
            if (!ok) {
                r.status = 400;
                r.body =
                    ntg__serve_error_body(400,
                                          "the first frame must be \"METHOD PATH\" (e.g. \"POST "
                                          "/v1/models/NAME/forecast\")",
                                          &r.len);
                ntg__serve_count(z->s, 400, 0);
            } else if (blen > ntg__serve_cfg(z->s)->max_body) {
                char msg[160];
                snprintf(msg, sizeof msg, "request body over the limit of %zu bytes",
                         ntg__serve_cfg(z->s)->max_body);
                r.status = 413;
                r.body = ntg__serve_error_body(413, msg, &r.len);
                ntg__serve_count(z->s, 413, 0);
            } else {
                ntg__serve_handle(z->s, method, path, body, blen, &r);
            }
        }
        static const char oom[] = "{\"error\":{\"status\":503,\"message\":\"out of memory\"}}\n";
        char status[8];
        snprintf(status, sizeof status, "%d", r.body ? r.status : 503);
        int bad = 0;
        for (int i = 0; i < head && !bad; i++)
            bad = send_frame(sock, zmq_msg_data(&f[i]), zmq_msg_size(&f[i]), 1);
        if (!bad) bad = send_frame(sock, status, strlen(status), 1);
        if (!bad)
            bad = r.body ? send_frame(sock, r.body, r.len, corr != NULL)
                         : send_frame(sock, oom, sizeof oom - 1, corr != NULL);
        if (!bad && corr) send_frame(sock, corr, corr_len, 0);
        ntg__serve_resp_free(&r);
        for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    }
    zmq_close(sock);
    return NULL;
}

ntg_status ntg__serve_zmq_start(ntg__serve *s, const char *endpoint, int workers,
                                ntg__serve_zmq **out, char *bound, size_t cap, ntg_error *err)
{
    *out = NULL;
    struct ntg__serve_zmq *z = calloc(1, sizeof *z);
    if (!z) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    z->s = s;
    atomic_init(&z->stop, 0);
    snprintf(z->back_ep, sizeof z->back_ep, "inproc://ntg-serve-back-%p", (void *)z);
    snprintf(z->control_ep, sizeof z->control_ep, "inproc://ntg-serve-ctl-%p", (void *)z);
    z->ctx = zmq_ctx_new();
    if (!z->ctx) {
        free(z);
        return ntg__fail(err, NTG_ERR_NOMEM, "zmq_ctx_new failed");
    }
    z->front = zmq_socket(z->ctx, ZMQ_ROUTER);
    z->back = zmq_socket(z->ctx, ZMQ_DEALER);
    z->control = zmq_socket(z->ctx, ZMQ_PAIR);
    int linger = 2000;
    if (z->front) zmq_setsockopt(z->front, ZMQ_LINGER, &linger, sizeof linger);
    if (!z->front || !z->back || !z->control || zmq_bind(z->back, z->back_ep) != 0 ||
        zmq_bind(z->control, z->control_ep) != 0) {
        ntg__serve_zmq_stop(z);
        return ntg__fail(err, NTG_ERR_IO, "cannot create the ZeroMQ sockets: %s",
                         zmq_strerror(zmq_errno()));
    }
    if (zmq_bind(z->front, endpoint) != 0) {
        int e = zmq_errno();
        ntg__serve_zmq_stop(z);
        return ntg__fail(err,
                         e == EINVAL || e == EPROTONOSUPPORT ? NTG_ERR_INVALID_ARG : NTG_ERR_IO,
                         "--zmq %s: cannot bind: %s", endpoint, zmq_strerror(e));
    }
    size_t bl = cap;
    if (zmq_getsockopt(z->front, ZMQ_LAST_ENDPOINT, bound, &bl) != 0)
        snprintf(bound, cap, "%s", endpoint);
    if (pthread_create(&z->proxy, NULL, proxy_main, z) != 0) {
        ntg__serve_zmq_stop(z);
        return ntg__fail(err, NTG_ERR_NOMEM, "cannot start the ZeroMQ proxy thread");
    }
    z->proxy_started = 1;
    z->workers = calloc((size_t)workers, sizeof *z->workers);
    for (int i = 0; z->workers && i < workers; i++) {
        if (pthread_create(&z->workers[i], NULL, worker_main, z) != 0) break;
        z->n_workers++;
    }
    if (z->n_workers == 0) {
        ntg__serve_zmq_stop(z);
        return ntg__fail(err, NTG_ERR_NOMEM, "cannot start the ZeroMQ worker threads");
    }
    *out = z;
    return NTG_OK;
}

void ntg__serve_zmq_stop(ntg__serve_zmq *z)
{
    if (!z) return;
    /* workers finish the request in hand (their replies pass the proxy), then the proxy stops */
    atomic_store(&z->stop, 1);
    for (int i = 0; i < z->n_workers; i++) pthread_join(z->workers[i], NULL);
    free(z->workers);
    if (z->proxy_started) {
        zmq_send(z->control, "TERMINATE", 9, 0);
        pthread_join(z->proxy, NULL);
    }
    if (z->front) zmq_close(z->front);
    if (z->back) zmq_close(z->back);
    if (z->control) zmq_close(z->control);
    zmq_ctx_term(z->ctx);
    free(z);
}

#else /* no libzmq */

ntg_status ntg__serve_zmq_start(ntg__serve *s, const char *endpoint, int workers,
                                ntg__serve_zmq **out, char *bound, size_t cap, ntg_error *err)
{
    (void)s;
    (void)workers;
    (void)bound;
    (void)cap;
    *out = NULL;
    return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                     "--zmq %s: this ntgraph was built without ZeroMQ (libzmq not found)",
                     endpoint);
}

void ntg__serve_zmq_stop(ntg__serve_zmq *z)
{
    (void)z;
}

#endif
