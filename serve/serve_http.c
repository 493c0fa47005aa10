/* serve_http.c — the HTTP/1.1 front end of `ntgraph serve` on libmicrohttpd. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ntg_error.h"
#include "serve.h"

struct ntg__serve_http {
    ntg__serve *s;
    struct MHD_Daemon *d;
    atomic_int in_flight; /* requests begun and not yet completed */
};

/* Per connection: the body read so far. */
typedef struct upload {
    char *buf;
    size_t len, cap;
    int too_big;
    double t0;
} upload;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, char *body, size_t len,
                             const char *type)
{
    static const char oom[] = "{\"error\":{\"status\":503,\"message\":\"out of memory\"}}\n";
    struct MHD_Response *resp;
    if (body)
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type ? type : "application/json");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)(body ? status : 503), resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result too_big(ntg__serve_http *h, struct MHD_Connection *c, upload *u,
                               size_t limit)
{
    char msg[160];
    snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", limit);
    size_t len = 0;
    char *body = ntg__serve_error_body(413, msg, &len);
    ntg__serve_count(h->s, body ? 413 : 503, now_s() - u->t0);
    return reply(c, 413, body, len, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)version;
    ntg__serve_http *h = cls;
    size_t limit = ntg__serve_cfg(h->s)->max_body;
    upload *u = *con_cls;
    if (!u) {
        u = calloc(1, sizeof *u);
        if (!u) return MHD_NO;
        u->t0 = now_s();
        atomic_fetch_add(&h->in_flight, 1);
        /* refuse a declared length over the limit before reading any of it */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        *con_cls = u;
        if (cl && strtoull(cl, NULL, 10) > limit) {
            /* answer before the body arrives; libmicrohttpd then closes the connection */
            u->too_big = 1;
            return too_big(h, c, u, limit);
        }
        return MHD_YES;
    }
    if (*data_size) {
        if (!u->too_big && u->len + *data_size > limit) {
            u->too_big = 1;
            free(u->buf);
            u->buf = NULL;
            u->len = u->cap = 0;
        }
        if (!u->too_big) {
            if (u->len + *data_size > u->cap) {
                size_t cap = u->cap ? u->cap : 4096;
                while (cap < u->len + *data_size) cap *= 2;
                if (cap > limit) cap = limit;
                char *nb = realloc(u->buf, cap);
                if (!nb) return MHD_NO;
                u->buf = nb;
                u->cap = cap;
            }
            memcpy(u->buf + u->len, data, *data_size);
            u->len += *data_size;
        }
        *data_size = 0;
        return MHD_YES;
    }
    if (u->too_big) return too_big(h, c, u, limit);
    ntg__serve_resp r;
    ntg__serve_handle(h->s, method, url, u->buf ? u->buf : "", u->len, &r);
    return reply(c, r.status, r.body, r.len, r.content_type);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
    ntg__serve_http *h = cls;
    (void)c;
    (void)code;
    upload *u = *con_cls;
    if (u) {
        atomic_fetch_sub(&h->in_flight, 1);
        free(u->buf);
        free(u);
    }
    *con_cls = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("ntgraph serve: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

ntg_status ntg__serve_http_start(ntg__serve *s, const char *addr, ntg__serve_http **out,
                                 char *bound, size_t cap, ntg_error *err)
{
    *out = NULL;
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host || !colon[1])
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "--http '%s': expected HOST:PORT", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "--http '%s': port must be 0..65535", addr);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int gr = getaddrinfo(host, NULL, &hints, &ai);
    if (gr || !ai)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "--http '%s': cannot resolve host '%s': %s",
                         addr, host, gai_strerror(gr));
    struct sockaddr_in sin;
    memcpy(&sin, ai->ai_addr, sizeof sin);
    freeaddrinfo(ai);
    sin.sin_port = htons((uint16_t)port);

    ntg__serve_http *h = calloc(1, sizeof *h);
    if (!h) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    h->s = s;
    atomic_init(&h->in_flight, 0);
    const ntg__serve_config *cfg = ntg__serve_cfg(s);
    /* a thread per connection: a request blocks while its batch gathers and runs, and the
     * other connections must keep arriving to join that batch */
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_AUTO,
                            0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, h, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)cfg->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)1024, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
                            MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return ntg__fail(err, NTG_ERR_IO, "--http %s: cannot listen (address in use or not local?)",
                         addr);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned p = di ? di->port : (unsigned)port;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof ip);
    snprintf(bound, cap, "%s:%u", ip, p);
    *out = h;
    return NTG_OK;
}

void ntg__serve_http_stop(ntg__serve_http *h)
{
    if (!h) return;
    /* stop listening, let the requests in flight finish (a stalled one is cut by the connection
     * timeout), then stop: MHD_stop_daemon alone would close connections mid-request */
    MHD_quiesce_daemon(h->d);
    unsigned limit_ms = (ntg__serve_cfg(h->s)->conn_timeout_s + 60) * 1000;
    for (unsigned waited = 0; atomic_load(&h->in_flight) > 0 && waited < limit_ms; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h->d);
    free(h);
}
