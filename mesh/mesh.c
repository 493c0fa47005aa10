/* mesh.c — forming a mesh: sockets, the rendezvous, the ring, generations; the caller's API. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "mesh_int.h"

/* ------------------------------------------------------------------ helpers */

int64_t ntg__mesh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ntg__mesh_log(ntg_mesh *m, int level, const char *fmt, ...)
{
    if (level > m->cfg.log_level) return;
    char body[900], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (m->rank >= 0)
        snprintf(line, sizeof line, "mesh rank %d/%d gen %u: %s", m->rank, m->world,
                 (unsigned)m->generation, body);
    else
        snprintf(line, sizeof line, "mesh (joining, pid %ld): %s", m->pid, body);
    if (m->cfg.log)
        m->cfg.log(m->cfg.log_user, level, line);
    else
        fprintf(stderr, "ntgraph %s\n", line);
}

void ntg__mesh_log_drop(ntg_mesh *m, const char *from, const char *why)
{
    unsigned long n = ++m->log_drops;
    if (n <= 20 || n % 1000 == 0)
        ntg__mesh_log(m, NTG__MESH_LOG_WARN, "dropped a frame from %s: %s%s", from, why,
                      n == 20 ? " (further drops are logged every 1000th)" : "");
}

void ntg__mesh_describe(const ntg_mesh *m, int r, char *out, size_t cap)
{
    if (r >= 0 && r < m->world && m->members)
        snprintf(out, cap, "rank %d (host %s, pid %ld)", r, m->members[r].info.host,
                 m->members[r].info.pid);
    else
        snprintf(out, cap, "rank %d", r);
}

int ntg__mesh_send(ntg_mesh *m, void *sock, const unsigned char *rid, size_t rid_len, unsigned type,
                   uint64_t step, const void *payload, size_t n)
{
    ntg__mesh_msg h;
    memset(&h, 0, sizeof h);
    h.type = (uint8_t)type;
    h.generation = m->generation;
    h.sender = m->rank >= 0 ? (uint32_t)m->rank : NTG__MESH_NO_RANK;
    h.step = step;
    h.payload_bytes = (uint32_t)n;
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, NTG__MESH_HEADER + n) != 0) return -1;
    unsigned char *d = zmq_msg_data(&msg);
    ntg__mesh_msg_write_header(d, &h);
    if (n) memcpy(d + NTG__MESH_HEADER, payload, n);
    if (rid && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    if (zmq_msg_send(&msg, sock, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&msg);
        errno = e;
        return -1;
    }
    pthread_mutex_lock(&m->mu);
    m->stats.frames_sent++;
    m->stats.bytes_sent += NTG__MESH_HEADER + n;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

/* Read and discard the rest of a multipart message. */
static void drain_parts(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t t;
        zmq_msg_init(&t);
        zmq_msg_recv(&t, sock, ZMQ_DONTWAIT);
        zmq_msg_close(&t);
        sz = sizeof more;
    }
}

int ntg__mesh_recv(ntg_mesh *m, void *sock, int router, unsigned char *rid, size_t *rid_len,
                   void *msgp)
{
    zmq_msg_t *msg = msgp;
    if (router) {
        zmq_msg_t id;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return 0;
        }
        size_t n = zmq_msg_size(&id);
        int ok = n >= 1 && n <= NTG__MESH_RID && zmq_msg_more(&id);
        if (ok) {
            memcpy(rid, zmq_msg_data(&id), n);
            *rid_len = n;
        }
        zmq_msg_close(&id);
        if (!ok) {
            drain_parts(sock);
            pthread_mutex_lock(&m->mu);
            m->stats.dropped_malformed++;
            pthread_mutex_unlock(&m->mu);
            ntg__mesh_log_drop(m, "the rendezvous", "an envelope without a routing id and frame");
            return -1;
        }
    }
    zmq_msg_init(msg);
    if (zmq_msg_recv(msg, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(msg);
        return 0;
    }
    pthread_mutex_lock(&m->mu);
    m->stats.frames_received++;
    m->stats.bytes_received += zmq_msg_size(msg);
    pthread_mutex_unlock(&m->mu);
    if (zmq_msg_more(msg)) {
        drain_parts(sock);
        zmq_msg_close(msg);
        pthread_mutex_lock(&m->mu);
        m->stats.dropped_malformed++;
        pthread_mutex_unlock(&m->mu);
        ntg__mesh_log_drop(m, router ? "the rendezvous" : "the ring",
                           "a multipart message (mesh messages are one frame)");
        return -1;
    }
    return 1;
}

/* Decode a received frame; count and log a malformed one.  0 ok, -1 dropped. */
static int decode(ntg_mesh *m, zmq_msg_t *msg, ntg__mesh_msg *out, const char *from)
{
    ntg_error e;
    if (ntg__mesh_msg_decode(zmq_msg_data(msg), zmq_msg_size(msg), out, &e) != NTG_OK) {
        pthread_mutex_lock(&m->mu);
        m->stats.dropped_malformed++;
        pthread_mutex_unlock(&m->mu);
        ntg__mesh_log_drop(m, from, e.message);
        return -1;
    }
    return 0;
}

static void count_drop(ntg_mesh *m, int generation)
{
    pthread_mutex_lock(&m->mu);
    if (generation)
        m->stats.dropped_generation++;
    else
        m->stats.dropped_unexpected++;
    pthread_mutex_unlock(&m->mu);
}

/* Wait until `sock` is readable (or writable with out) or ms pass: 1, 0 on timeout. */
static int wait_sock(void *sock, int out, int64_t ms)
{
    if (ms < 0) ms = 0;
    zmq_pollitem_t it = {sock, 0, (short)(out ? ZMQ_POLLOUT : ZMQ_POLLIN), 0};
    int rc = zmq_poll(&it, 1, (long)ms);
    return rc > 0;
}

/* Send a control frame that must go out (a HELLO before the DEALER has connected): wait for
 * the socket to take it until the deadline. */
static int send_by(ntg_mesh *m, void *sock, const unsigned char *rid, size_t rid_len, unsigned type,
                   uint64_t step, const void *payload, size_t n, int64_t deadline)
{
    for (;;) {
        if (ntg__mesh_send(m, sock, rid, rid_len, type, step, payload, n) == 0) return 0;
        if (zmq_errno() != EAGAIN) return -1;
        int64_t left = deadline - ntg__mesh_now_ms();
        if (left <= 0) return -1;
        wait_sock(sock, 1, left < 100 ? left : 100);
    }
}

static int user_id_matches(ntg_mesh *m, zmq_msg_t *msg, const char *key)
{
    if (!m->keys) return 1;
    const char *uid = zmq_msg_gets(msg, "User-Id");
    return uid && key && strcmp(uid, key) == 0;
}

/* ------------------------------------------------------------ addresses */

/* Split "tcp://HOST:PORT" (HOST may be [v6]) into host and port. */
static int split_endpoint(const char *ep, char *host, size_t cap, long *port)
{
    if (strncmp(ep, "tcp://", 6) != 0) return -1;
    const char *h = ep + 6, *colon;
    size_t hl;
    if (*h == '[') {
        const char *rb = strchr(h, ']');
        if (!rb || rb[1] != ':') return -1;
        hl = (size_t)(rb - h - 1);
        h++;
        colon = rb + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon) return -1;
        hl = (size_t)(colon - h);
    }
    if (hl == 0 || hl >= cap) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    *port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || *port < 0 || *port > 65535) return -1;
    return 0;
}

static int sockaddr_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
    }
    return 0;
}

/* 1 when every address `host` names is a loopback address ("*" names every interface). */
static int host_is_loopback(const char *host)
{
    if (strcmp(host, "*") == 0) return 0;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return 0;
    int all = 1;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (!sockaddr_loopback(a->ai_addr)) all = 0;
    freeaddrinfo(res);
    return all;
}

/* `host` as a numeric address ZeroMQ can bind: itself when it is one (or "*"), else the first
 * address a name lookup gives (ZeroMQ's bind takes an interface name there, not a host name:
 * Slurm's rendezvous is the first host of the node list by name).  -1 when it does not resolve. */
static int bindable_host(const char *host, char *out, size_t cap, int *v6)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (strcmp(host, "*") == 0 || inet_pton(AF_INET, host, buf) == 1 ||
        inet_pton(AF_INET6, host, buf) == 1) {
        snprintf(out, cap, "%s", host);
        *v6 = strchr(host, ':') != NULL;
        return 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return -1;
    int rc = -1;
    for (struct addrinfo *a = res; a && rc != 0; a = a->ai_next) {
        const void *src = a->ai_family == AF_INET
                              ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                          : a->ai_family == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                              : NULL;
        if (src && inet_ntop(a->ai_family, src, out, (socklen_t)cap)) {
            *v6 = a->ai_family == AF_INET6;
            rc = 0;
        }
    }
    freeaddrinfo(res);
    return rc;
}

/* The local address the kernel would use to reach `host` (no packet is sent). */
static int route_to(const char *host, char *out, size_t cap, int *v6)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, "9", &hints, &res) != 0 || !res) return -1;
    int rc = -1;
    for (struct addrinfo *a = res; a && rc != 0; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
            getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
            const void *src = ss.ss_family == AF_INET
                                  ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                                  : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
            if (inet_ntop(ss.ss_family, src, out, (socklen_t)cap)) {
                *v6 = ss.ss_family == AF_INET6;
                rc = 0;
            }
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

/* ------------------------------------------------------------------ config */

void ntg__mesh_config_init(ntg__mesh_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->rank = -1;
    cfg->heartbeat_ms = 500;
    cfg->timeout_ms = 4000;
    cfg->rendezvous_timeout_ms = 60000;
    cfg->join_window_ms = 2000;
    cfg->op_timeout_ms = 300000;
    cfg->chunk_bytes = 256u << 10;
    cfg->sndhwm = 32;
    cfg->linger_ms = 1000;
    cfg->log_level = NTG__MESH_LOG_INFO;
}

static ntg_status check_config(const ntg__mesh_config *c, ntg_error *err)
{
    if (!c->join && (c->world < 1 || c->world > NTG__MESH_MAX_WORLD))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: world %d is outside 1..%d", c->world,
                         NTG__MESH_MAX_WORLD);
    if (!c->join && (c->rank < 0 || c->rank >= c->world))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: rank %d is outside 0..%d", c->rank,
                         c->world - 1);
    if (!c->rendezvous || strlen(c->rendezvous) >= 256)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: no rendezvous (tcp://HOST:PORT)");
    char host[128];
    long port;
    if (split_endpoint(c->rendezvous, host, sizeof host, &port) != 0 ||
        (port == 0 && (c->rank != 0 || c->join)) ||
        (port != 0 && !ntg__mesh_valid_endpoint(c->rendezvous)))
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "mesh: rendezvous '%.200s' is not tcp://HOST:PORT (port 1..65535; 0 lets "
                         "rank 0 choose)",
                         c->rendezvous);
    if (c->ring_host && (!ntg__mesh_valid_host(c->ring_host) || strlen(c->ring_host) >= 128))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: ring host '%.80s' is not an address",
                         c->ring_host);
    if (c->heartbeat_ms < 10 || c->heartbeat_ms > 60000)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: heartbeat of %d ms (10..60000)",
                         c->heartbeat_ms);
    if (c->timeout_ms < 2 * c->heartbeat_ms || c->timeout_ms > 3600000)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "mesh: timeout of %d ms (at least two heartbeats, %d ms, and at most an "
                         "hour)",
                         c->timeout_ms, 2 * c->heartbeat_ms);
    if (c->rendezvous_timeout_ms < 100 || c->join_window_ms < 0 || c->op_timeout_ms < 100)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "mesh: rendezvous, join or operation timeout "
                         "below 100 ms");
    if (c->chunk_bytes < 64 || c->chunk_bytes > NTG__MESH_MAX_DATA_PAYLOAD || c->chunk_bytes % 4)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "mesh: ring frames of %zu bytes (a multiple of 4 in 64..%u)",
                         c->chunk_bytes, NTG__MESH_MAX_DATA_PAYLOAD);
    if (c->sndhwm < 1 || c->linger_ms < 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: sndhwm below 1 or negative linger");
    return NTG_OK;
}

/* ----------------------------------------------------------------- sockets */

static void *new_socket(ntg_mesh *m, int type)
{
    void *s = zmq_socket(m->ctx, type);
    if (!s) return NULL;
    int linger = m->cfg.linger_ms, hb = m->cfg.heartbeat_ms, to = m->cfg.timeout_ms;
    int hwm = m->cfg.sndhwm;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    /* ZMTP heartbeats: libzmq closes a connection whose peer stopped answering (it reconnects);
     * naming the peer is left to the mesh's own heartbeats */
    zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
    zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &to, sizeof to);
    if (type == ZMQ_PUSH || type == ZMQ_PULL) {
        uint64_t affinity = type == ZMQ_PUSH ? 1 : 2;
        zmq_setsockopt(s, ZMQ_AFFINITY, &affinity, sizeof affinity);
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
        int64_t maxmsg = (int64_t)NTG__MESH_HEADER + NTG__MESH_MAX_DATA_PAYLOAD;
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    } else {
        int64_t maxmsg = (int64_t)NTG__MESH_HEADER + NTG__MESH_MAX_CTRL_PAYLOAD;
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    }
    return s;
}

static void close_socket(void **s)
{
    if (*s) zmq_close(*s);
    *s = NULL;
}

/* Plain TCP is refused on an address other than loopback unless insecure was given. */
static ntg_status check_bind(ntg_mesh *m, const char *host, const char *what, ntg_error *err)
{
    if (m->keys || m->cfg.insecure || host_is_loopback(host)) return NTG_OK;
    return ntg__fail(err, NTG_ERR_INVALID_ARG,
                     "mesh: refusing to bind %s on %s without CURVE keys: anyone who can reach it "
                     "could join the mesh or read its traffic; give --mesh-keys DIR (ntgraph mesh "
                     "keygen), or --mesh-insecure on a trusted network",
                     what, host);
}

static ntg_status bind_ring(ntg_mesh *m, ntg_error *err)
{
    char rhost[128];
    long port;
    split_endpoint(m->rendezvous, rhost, sizeof rhost, &port);
    int v6 = 0;
    if (m->cfg.ring_host) {
        snprintf(m->ring_host, sizeof m->ring_host, "%s", m->cfg.ring_host);
        v6 = strchr(m->ring_host, ':') != NULL;
    } else if (host_is_loopback(rhost)) {
        snprintf(m->ring_host, sizeof m->ring_host, "127.0.0.1");
    } else {
        char name[256] = "";
        const char *target = rhost;
        if (strcmp(rhost, "*") == 0 || strcmp(rhost, "0.0.0.0") == 0) {
            /* rank 0 listening everywhere: the address its host name resolves to */
            gethostname(name, sizeof name - 1);
            target = name;
        }
        if (route_to(target, m->ring_host, sizeof m->ring_host, &v6) != 0)
            return ntg__fail(err, NTG_ERR_IO,
                             "mesh: no local address routes to %s (give ring_host / --ring-host)",
                             target);
    }
    ntg_status st = check_bind(m, m->ring_host, "the ring socket", err);
    if (st) return st;
    m->ring_in = new_socket(m, ZMQ_PULL);
    if (!m->ring_in || ntg__mesh_curve_server(m, m->ring_in) != 0)
        return ntg__fail(err, NTG_ERR_IO, "mesh: ring socket: %s", zmq_strerror(zmq_errno()));
    if (v6) {
        int one = 1;
        zmq_setsockopt(m->ring_in, ZMQ_IPV6, &one, sizeof one);
    }
    char ep[160];
    snprintf(ep, sizeof ep, v6 ? "tcp://[%s]:*" : "tcp://%s:*", m->ring_host);
    if (zmq_bind(m->ring_in, ep) != 0)
        return ntg__fail(err, NTG_ERR_IO, "mesh: binding the ring socket on %s: %s", ep,
                         zmq_strerror(zmq_errno()));
    size_t len = sizeof m->ring_endpoint;
    if (zmq_getsockopt(m->ring_in, ZMQ_LAST_ENDPOINT, m->ring_endpoint, &len) != 0 ||
        !ntg__mesh_valid_endpoint(m->ring_endpoint))
        return ntg__fail(err, NTG_ERR_IO, "mesh: the ring socket bound to an unusable endpoint");
    return NTG_OK;
}

static ntg_status open_rendezvous(ntg_mesh *m, ntg_error *err)
{
    char host[128];
    long port;
    split_endpoint(m->rendezvous, host, sizeof host, &port);
    int v6 = strchr(host, ':') != NULL, one = 1;
    if (m->rank == 0 && !m->cfg.join) {
        ntg_status st = check_bind(m, host, "the rendezvous", err);
        if (st) return st;
        m->rdv = new_socket(m, ZMQ_ROUTER);
        if (!m->rdv || ntg__mesh_curve_server(m, m->rdv) != 0)
            return ntg__fail(err, NTG_ERR_IO, "mesh: rendezvous socket: %s",
                             zmq_strerror(zmq_errno()));
        /* a worker that reconnects (same routing id) takes its place back; sends to a worker that
         * is gone fail instead of vanishing */
        zmq_setsockopt(m->rdv, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
        zmq_setsockopt(m->rdv, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        if (v6) zmq_setsockopt(m->rdv, ZMQ_IPV6, &one, sizeof one);
        char ep[300], addr[128];
        if (bindable_host(host, addr, sizeof addr, &v6) != 0)
            return ntg__fail(err, NTG_ERR_IO,
                             "mesh: binding the rendezvous %s: host '%s' does not resolve",
                             m->rendezvous, host);
        if (v6) zmq_setsockopt(m->rdv, ZMQ_IPV6, &one, sizeof one);
        if (port == 0)
            snprintf(ep, sizeof ep, v6 ? "tcp://[%s]:*" : "tcp://%s:*", addr);
        else
            snprintf(ep, sizeof ep, v6 ? "tcp://[%s]:%ld" : "tcp://%s:%ld", addr, port);
        if (zmq_bind(m->rdv, ep) != 0)
            return ntg__fail(err, NTG_ERR_IO, "mesh: binding the rendezvous %s: %s", ep,
                             zmq_strerror(zmq_errno()));
        size_t len = sizeof m->rdv_endpoint;
        zmq_getsockopt(m->rdv, ZMQ_LAST_ENDPOINT, m->rdv_endpoint, &len);
        if (m->cfg.bound) m->cfg.bound(m->cfg.bound_user, m->rdv_endpoint);
        return NTG_OK;
    }
    m->rdv = new_socket(m, ZMQ_DEALER);
    if (!m->rdv ||
        (m->keys && ntg__mesh_curve_client(m, m->rdv, ntg__mesh_keys_coordinator(m->keys)) != 0))
        return ntg__fail(err, NTG_ERR_IO, "mesh: rendezvous socket: %s", zmq_strerror(zmq_errno()));
    zmq_setsockopt(m->rdv, ZMQ_ROUTING_ID, m->rid, NTG__MESH_RID);
    if (v6) zmq_setsockopt(m->rdv, ZMQ_IPV6, &one, sizeof one);
    /* handshake failures (a refused key) show up as monitor events, not as errors */
    char mon[96];
    snprintf(mon, sizeof mon, "inproc://ntgraph-mesh-monitor-%p", (void *)m);
    if (zmq_socket_monitor(m->rdv, mon,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0) {
        m->rdv_mon = zmq_socket(m->ctx, ZMQ_PAIR);
        int zero = 0;
        if (m->rdv_mon) zmq_setsockopt(m->rdv_mon, ZMQ_LINGER, &zero, sizeof zero);
        if (m->rdv_mon && zmq_connect(m->rdv_mon, mon) != 0) close_socket(&m->rdv_mon);
    }
    if (zmq_connect(m->rdv, m->rendezvous) != 0)
        return ntg__fail(err, NTG_ERR_IO, "mesh: connecting to the rendezvous %s: %s",
                         m->rendezvous, zmq_strerror(zmq_errno()));
    return NTG_OK;
}

/* Workers: a handshake failure the monitor reported ("" when none). */
static void monitor_failure(ntg_mesh *m, char *why, size_t cap)
{
    why[0] = '\0';
    if (!m->rdv_mon) return;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, m->rdv_mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
        }
        zmq_msg_close(&ev);
        zmq_msg_init(&addr);
        zmq_msg_recv(&addr, m->rdv_mon, ZMQ_DONTWAIT);
        zmq_msg_close(&addr);
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            snprintf(why, cap, "rank 0 at %.120s refused this worker's CURVE key (ZAP status %u)",
                     m->rendezvous, (unsigned)value);
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            snprintf(why, cap,
                     "the handshake with %.120s failed (protocol error %u: CURVE keys on one side "
                     "only, or a wrong coordinator key?)",
                     m->rendezvous, (unsigned)value);
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            snprintf(why, cap, "the handshake with %.120s failed (%.80s)", m->rendezvous,
                     zmq_strerror((int)value));
    }
}

/* --------------------------------------------------------------- members */

static ntg_status set_members(ntg_mesh *m, int world, ntg_error *err)
{
    mesh_member *nm = calloc((size_t)world, sizeof *nm);
    if (!nm) return ntg__fail(err, NTG_ERR_NOMEM, "mesh: out of memory for %d members", world);
    free(m->members);
    m->members = nm;
    m->world = world;
    return NTG_OK;
}

static void self_info(ntg_mesh *m, ntg__mesh_peer_info *p)
{
    memset(p, 0, sizeof *p);
    p->rank = m->rank;
    p->pid = m->pid;
    snprintf(p->host, sizeof p->host, "%s", m->host);
    snprintf(p->ring, sizeof p->ring, "%s", m->ring_endpoint);
    if (m->keys) snprintf(p->key, sizeof p->key, "%s", ntg__mesh_keys_public(m->keys));
}

/* Rank 0: send every member its WELCOME. */
static ntg_status send_welcomes(ntg_mesh *m, ntg_error *err)
{
    ntg__mesh_peer_info *peers = malloc((size_t)m->world * sizeof *peers);
    size_t cap = 256 + (size_t)m->world * 256;
    char *buf = malloc(cap);
    if (!peers || !buf) {
        free(peers);
        free(buf);
        return ntg__fail(err, NTG_ERR_NOMEM, "mesh: out of memory");
    }
    for (int r = 0; r < m->world; r++) peers[r] = m->members[r].info;
    for (int r = 1; r < m->world; r++) {
        size_t n =
            ntg__mesh_welcome_write(m->generation, r, m->world, m->chunk_bytes, peers, buf, cap);
        if (n < cap)
            ntg__mesh_send(m, m->rdv, m->members[r].rid, m->members[r].rid_len, NTG__MSG_WELCOME, 0,
                           buf, n);
    }
    free(peers);
    free(buf);
    return NTG_OK;
}

static void send_refuse(ntg_mesh *m, const unsigned char *rid, size_t rid_len, const char *reason)
{
    char payload[NTG__MESH_KV_VALUE_MAX + 16];
    int n = snprintf(payload, sizeof payload, "reason=%.200s\n", reason);
    ntg__mesh_send(m, m->rdv, rid, rid_len, NTG__MSG_REFUSE, 0, payload, (size_t)n);
}

static void heartbeat_members(ntg_mesh *m)
{
    for (int r = 1; r < m->world; r++)
        if (m->members[r].rid_len && m->members[r].alive && !m->members[r].left)
            ntg__mesh_send(m, m->rdv, m->members[r].rid, m->members[r].rid_len, NTG__MSG_HEARTBEAT,
                           m->step, NULL, 0);
}

/* ------------------------------------------------------- the rendezvous: workers */

static ntg_status apply_welcome(ntg_mesh *m, const ntg__mesh_msg *msg, ntg_error *err)
{
    ntg__mesh_peer_info *peers = malloc(NTG__MESH_MAX_WORLD * sizeof *peers);
    if (!peers) return ntg__fail(err, NTG_ERR_NOMEM, "mesh: out of memory");
    uint32_t gen;
    int rank, world;
    uint64_t chunk;
    ntg_status st = ntg__mesh_welcome_parse(msg->payload, msg->payload_bytes, &gen, &rank, &world,
                                            &chunk, peers, NTG__MESH_MAX_WORLD, err);
    if (st == NTG_OK && (peers[rank].pid != m->pid || strcmp(peers[rank].ring, m->ring_endpoint)))
        st = ntg__fail(err, NTG_ERR_DATA, "mesh: the layout's rank %d is not this process", rank);
    if (st == NTG_OK) st = set_members(m, world, err);
    if (st == NTG_OK) {
        int64_t now = ntg__mesh_now_ms();
        for (int r = 0; r < world; r++) {
            m->members[r].info = peers[r];
            m->members[r].alive = 1;
            m->members[r].last_seen_ms = now;
        }
        m->generation = gen;
        m->rank = rank;
        m->chunk_bytes = chunk;
    }
    free(peers);
    return st;
}

static ntg_status worker_meet(ntg_mesh *m, int reform, ntg_error *err)
{
    ntg__mesh_hello h;
    memset(&h, 0, sizeof h);
    int joining = reform || m->cfg.join;
    h.rank = joining ? -1 : m->cfg.rank;
    h.world = joining ? 0 : m->cfg.world;
    h.pid = m->pid;
    snprintf(h.host, sizeof h.host, "%s", m->host);
    snprintf(h.ring, sizeof h.ring, "%s", m->ring_endpoint);
    if (m->keys) snprintf(h.key, sizeof h.key, "%s", ntg__mesh_keys_public(m->keys));
    h.prev_generation = reform ? m->generation : 0;
    h.prev_rank = reform ? m->rank : -1;
    char payload[1024];
    size_t n = ntg__mesh_hello_write(&h, payload, sizeof payload);
    int64_t start = ntg__mesh_now_ms(), deadline = start + m->cfg.rendezvous_timeout_ms;
    if (send_by(m, m->rdv, NULL, 0, NTG__MSG_HELLO, m->step, payload, n, deadline) != 0)
        return ntg__fail(err, NTG_ERR_PEER_LOST,
                         "mesh: could not reach rank 0 at %s within %.1f s (is it running? is the "
                         "address right?)",
                         m->rendezvous, m->cfg.rendezvous_timeout_ms / 1000.0);
    int64_t last_hello = ntg__mesh_now_ms(), contact = 0;
    for (;;) {
        char why[300];
        monitor_failure(m, why, sizeof why);
        if (why[0]) return ntg__fail(err, NTG_ERR_STATE, "mesh: %s", why);
        int64_t now = ntg__mesh_now_ms();
        if (now >= deadline)
            return ntg__fail(err, NTG_ERR_PEER_LOST, "mesh: no %s from rank 0 at %s within %.1f s",
                             "welcome", m->rendezvous, m->cfg.rendezvous_timeout_ms / 1000.0);
        if (contact && now - contact > m->cfg.timeout_ms)
            return ntg__fail(err, NTG_ERR_PEER_LOST,
                             "mesh: rank 0 at %s went silent for %.1f s during the rendezvous",
                             m->rendezvous, (double)(now - contact) / 1000.0);
        if (now - last_hello >= m->cfg.heartbeat_ms) {
            /* a keepalive: rank 0 forgets joiners that went quiet */
            ntg__mesh_send(m, m->rdv, NULL, 0, NTG__MSG_HELLO, m->step, payload, n);
            last_hello = now;
        }
        int64_t wait = deadline - now < m->cfg.heartbeat_ms ? deadline - now : m->cfg.heartbeat_ms;
        zmq_pollitem_t it[2] = {{m->rdv, 0, ZMQ_POLLIN, 0}, {m->rdv_mon, 0, ZMQ_POLLIN, 0}};
        zmq_poll(it, m->rdv_mon ? 2 : 1, (long)wait);
        zmq_msg_t msg;
        int got;
        while ((got = ntg__mesh_recv(m, m->rdv, 0, NULL, NULL, &msg)) != 0) {
            if (got < 0) continue;
            ntg__mesh_msg d;
            if (decode(m, &msg, &d, "rank 0") != 0) {
                zmq_msg_close(&msg);
                continue;
            }
            contact = ntg__mesh_now_ms();
            ntg_status st = NTG_OK;
            int done = 0;
            if (d.type == NTG__MSG_WELCOME && d.generation > m->generation) {
                st = apply_welcome(m, &d, err);
                done = 1;
            } else if (d.type == NTG__MSG_REFUSE) {
                char reason[NTG__MESH_KV_VALUE_MAX] = "no reason given";
                if (ntg__mesh_kv_check(d.payload, d.payload_bytes, NULL) == NTG_OK)
                    ntg__mesh_kv_get(d.payload, d.payload_bytes, "reason", 0, reason,
                                     sizeof reason);
                st = ntg__fail(err, NTG_ERR_STATE, "mesh: rank 0 at %s refused this worker: %s",
                               m->rendezvous, reason);
                done = 1;
            } else if (d.type != NTG__MSG_HEARTBEAT) {
                count_drop(m, d.generation != m->generation);
            }
            zmq_msg_close(&msg);
            if (done) return st;
        }
    }
}

/* ------------------------------------------------- the rendezvous: rank 0 */

static int member_by_rid(const ntg_mesh *m, const unsigned char *rid, size_t len)
{
    for (int r = 1; r < m->world; r++)
        if (m->members[r].rid_len == len && memcmp(m->members[r].rid, rid, len) == 0) return r;
    return -1;
}

/* Rank 0, first generation: wait for ranks 1..world-1. */
static ntg_status coord_initial(ntg_mesh *m, ntg_error *err)
{
    ntg_status st = set_members(m, m->cfg.world, err);
    if (st) return st;
    self_info(m, &m->members[0].info);
    m->members[0].alive = 1;
    int arrived = 1;
    int64_t deadline = ntg__mesh_now_ms() + m->cfg.rendezvous_timeout_ms, last_hb = 0;
    ntg__mesh_log(m, NTG__MESH_LOG_INFO, "waiting at %s for %d workers", m->rdv_endpoint,
                  m->world - 1);
    while (arrived < m->world) {
        int64_t now = ntg__mesh_now_ms();
        if (now >= deadline) break;
        if (now - last_hb >= m->cfg.heartbeat_ms) {
            heartbeat_members(m);
            last_hb = now;
        }
        wait_sock(m->rdv, 0,
                  deadline - now < m->cfg.heartbeat_ms ? deadline - now : m->cfg.heartbeat_ms);
        unsigned char rid[NTG__MESH_RID];
        size_t rl = 0;
        zmq_msg_t msg;
        int got;
        while ((got = ntg__mesh_recv(m, m->rdv, 1, rid, &rl, &msg)) != 0) {
            if (got < 0) continue;
            ntg__mesh_msg d;
            if (decode(m, &msg, &d, "the rendezvous") != 0) {
                zmq_msg_close(&msg);
                continue;
            }
            if (d.type != NTG__MSG_HELLO) {
                count_drop(m, 0);
                zmq_msg_close(&msg);
                continue;
            }
            ntg__mesh_hello h;
            ntg_error e;
            char why[400] = "";
            if (ntg__mesh_hello_parse(d.payload, d.payload_bytes, &h, &e) != NTG_OK) {
                count_drop(m, 0);
                ntg__mesh_log_drop(m, "a worker", e.message);
            } else if (!user_id_matches(m, &msg, h.key)) {
                snprintf(why, sizeof why,
                         "its hello claims key %.40s, but it authenticated with "
                         "another",
                         h.key);
            } else if (h.rank < 0) {
                ntg__mesh_take_hello(m, rid, rl, &d, zmq_msg_gets(&msg, "User-Id"));
            } else if (h.world != m->world) {
                snprintf(why, sizeof why, "it says the world has %d ranks; rank 0 has %d", h.world,
                         m->world);
            } else if (h.rank == 0) {
                snprintf(why, sizeof why, "it claims rank 0, which is %s (pid %ld)", m->host,
                         m->pid);
            } else {
                mesh_member *mm = &m->members[h.rank];
                if (mm->rid_len && (mm->rid_len != rl || memcmp(mm->rid, rid, rl) != 0)) {
                    snprintf(why, sizeof why, "rank %d is already taken by host %s, pid %ld",
                             h.rank, mm->info.host, mm->info.pid);
                } else if (!mm->rid_len) {
                    memcpy(mm->rid, rid, rl);
                    mm->rid_len = rl;
                    mm->info.rank = h.rank;
                    mm->info.pid = h.pid;
                    snprintf(mm->info.host, sizeof mm->info.host, "%s", h.host);
                    snprintf(mm->info.ring, sizeof mm->info.ring, "%s", h.ring);
                    snprintf(mm->info.key, sizeof mm->info.key, "%s", h.key);
                    mm->alive = 1;
                    mm->last_seen_ms = ntg__mesh_now_ms();
                    arrived++;
                    ntg__mesh_log(m, NTG__MESH_LOG_INFO, "rank %d arrived from %s (pid %ld)",
                                  h.rank, h.host, h.pid);
                } else {
                    mm->last_seen_ms = ntg__mesh_now_ms();
                }
            }
            if (why[0]) {
                ntg__mesh_log(m, NTG__MESH_LOG_WARN, "refused %s (pid %ld): %s", h.host, h.pid,
                              why);
                send_refuse(m, rid, rl, why);
            }
            zmq_msg_close(&msg);
        }
    }
    if (arrived < m->world) {
        char missing[300] = "";
        size_t used = 0;
        for (int r = 1; r < m->world && used + 12 < sizeof missing; r++)
            if (!m->members[r].rid_len)
                used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%d",
                                         used ? ", " : "", r);
        char why[400];
        snprintf(why, sizeof why, "the mesh did not form: rank%s %s never arrived within %.1f s",
                 strchr(missing, ',') ? "s" : "", missing, m->cfg.rendezvous_timeout_ms / 1000.0);
        for (int r = 1; r < m->world; r++)
            if (m->members[r].rid_len)
                send_refuse(m, m->members[r].rid, m->members[r].rid_len, why);
        return ntg__fail(err, NTG_ERR_PEER_LOST, "mesh: rank 0 at %s: %s (%d of %d arrived)",
                         m->rdv_endpoint, why, arrived, m->world);
    }
    m->generation = 1;
    m->first_world = m->world;
    return send_welcomes(m, err);
}

/* A pending entry of a survivor of the current generation: its old rank, else -1. */
static int pending_survivor(const ntg_mesh *m, const mesh_pending *p)
{
    int r = p->hello.prev_rank;
    if (p->hello.prev_generation != m->generation || r < 1 || r >= m->world) return -1;
    const mesh_member *mm = &m->members[r];
    if (mm->rid_len != p->rid_len || memcmp(mm->rid, p->rid, p->rid_len) != 0) return -1;
    return r;
}

static void drop_pending(ntg_mesh *m, int i)
{
    pthread_mutex_lock(&m->mu);
    m->pending[i] = m->pending[m->n_pending - 1];
    m->n_pending--;
    pthread_mutex_unlock(&m->mu);
}

/* Rank 0: the next generation from the survivors that come back and the joiners. */
static ntg_status coord_reform(ntg_mesh *m, ntg_error *err)
{
    int old_world = m->world;
    int *back = calloc((size_t)old_world, sizeof *back); /* 1 came back, -1 left out */
    if (!back) return ntg__fail(err, NTG_ERR_NOMEM, "mesh: out of memory");
    for (int r = 1; r < old_world; r++) {
        mesh_member *mm = &m->members[r];
        if (!mm->alive || mm->left)
            back[r] = -1;
        else
            /* tell it, in case its generation is not broken yet */
            ntg__mesh_send(m, m->rdv, mm->rid, mm->rid_len, NTG__MSG_RESET, m->step,
                           "reason=rank 0 is forming a new generation\n", 42);
    }
    int64_t start = ntg__mesh_now_ms(), deadline = start + m->cfg.rendezvous_timeout_ms;
    int64_t all_back_at = 0, last_hb = 0;
    int joiners = 0;
    for (;;) {
        int64_t now = ntg__mesh_now_ms();
        /* who came back, who joins (pending entries are survivors' or joiners' HELLOs) */
        joiners = 0;
        for (int i = 0; i < m->n_pending; i++) {
            int r = pending_survivor(m, &m->pending[i]);
            if (r > 0 && back[r] == 0) back[r] = 1;
            if (r < 0) {
                if (now - m->pending[i].last_seen_ms > m->cfg.timeout_ms) {
                    ntg__mesh_log(m, NTG__MESH_LOG_INFO,
                                  "forgot the joiner on %s (pid %ld): silent",
                                  m->pending[i].hello.host, m->pending[i].hello.pid);
                    drop_pending(m, i--);
                    continue;
                }
                joiners++;
            }
        }
        int waiting = 0, count = 1;
        for (int r = 1; r < old_world; r++) {
            if (back[r] == 0) {
                mesh_member *mm = &m->members[r];
                char who[160];
                ntg__mesh_describe(m, r, who, sizeof who);
                if (now - mm->last_seen_ms > m->cfg.timeout_ms || now >= deadline) {
                    ntg__mesh_log(m, NTG__MESH_LOG_WARN,
                                  "%s did not come back within %.1f s; generation %u forms "
                                  "without it",
                                  who, (double)(now - start) / 1000.0, (unsigned)m->generation + 1);
                    back[r] = -1;
                    mm->alive = 0;
                } else {
                    waiting++;
                }
            }
            if (back[r] == 1) count++;
        }
        if (waiting == 0 && !all_back_at) all_back_at = now;
        if (waiting == 0 && (count + joiners >= m->first_world ||
                             now - all_back_at >= m->cfg.join_window_ms || now >= deadline))
            break;
        if (now - last_hb >= m->cfg.heartbeat_ms) {
            heartbeat_members(m);
            for (int i = 0; i < m->n_pending; i++)
                ntg__mesh_send(m, m->rdv, m->pending[i].rid, m->pending[i].rid_len,
                               NTG__MSG_HEARTBEAT, m->step, NULL, 0);
            last_hb = now;
        }
        wait_sock(m->rdv, 0, 50);
        unsigned char rid[NTG__MESH_RID];
        size_t rl = 0;
        zmq_msg_t msg;
        int got;
        while ((got = ntg__mesh_recv(m, m->rdv, 1, rid, &rl, &msg)) != 0) {
            if (got < 0) continue;
            ntg__mesh_msg d;
            if (decode(m, &msg, &d, "the rendezvous") != 0) {
                zmq_msg_close(&msg);
                continue;
            }
            int r = member_by_rid(m, rid, rl);
            if (d.type == NTG__MSG_HELLO)
                ntg__mesh_take_hello(m, rid, rl, &d, zmq_msg_gets(&msg, "User-Id"));
            else if (r > 0 && d.generation == m->generation)
                m->members[r].last_seen_ms = ntg__mesh_now_ms();
            else
                count_drop(m, d.generation != m->generation);
            zmq_msg_close(&msg);
        }
    }

    /* the new layout: rank 0, the survivors in their old order, then joiners by arrival */
    int nw = 1;
    for (int r = 1; r < old_world; r++) nw += back[r] == 1;
    int room = m->first_world - nw;
    mesh_member *nm = calloc((size_t)(nw + (room > 0 ? room : 0)), sizeof *nm);
    if (!nm) {
        free(back);
        return ntg__fail(err, NTG_ERR_NOMEM, "mesh: out of memory");
    }
    int k = 0;
    nm[k++] = m->members[0];
    int64_t now = ntg__mesh_now_ms();
    for (int r = 1; r < old_world; r++)
        if (back[r] == 1) {
            nm[k] = m->members[r];
            for (int i = 0; i < m->n_pending; i++)
                if (pending_survivor(m, &m->pending[i]) == r) {
                    /* its new ring endpoint and key come from the fresh HELLO */
                    snprintf(nm[k].info.ring, sizeof nm[k].info.ring, "%s",
                             m->pending[i].hello.ring);
                    drop_pending(m, i);
                    break;
                }
            k++;
        }
    for (int i = 0; i < m->n_pending && room > 0;) {
        if (pending_survivor(m, &m->pending[i]) >= 0) {
            i++;
            continue;
        }
        mesh_pending *p = &m->pending[i];
        memset(&nm[k], 0, sizeof nm[k]);
        memcpy(nm[k].rid, p->rid, p->rid_len);
        nm[k].rid_len = p->rid_len;
        nm[k].info.pid = p->hello.pid;
        snprintf(nm[k].info.host, sizeof nm[k].info.host, "%s", p->hello.host);
        snprintf(nm[k].info.ring, sizeof nm[k].info.ring, "%s", p->hello.ring);
        snprintf(nm[k].info.key, sizeof nm[k].info.key, "%s", p->hello.key);
        ntg__mesh_log(m, NTG__MESH_LOG_INFO, "admitting the joiner on %s (pid %ld)", p->hello.host,
                      p->hello.pid);
        k++;
        room--;
        drop_pending(m, i);
    }
    /* leftover survivors' entries (none expected) are stale now */
    for (int i = 0; i < m->n_pending;)
        if (pending_survivor(m, &m->pending[i]) >= 0)
            drop_pending(m, i);
        else
            i++;
    free(back);
    for (int r = 0; r < k; r++) {
        nm[r].info.rank = r;
        nm[r].alive = 1;
        nm[r].left = 0;
        nm[r].barrier = 0;
        nm[r].last_seen_ms = now;
    }
    free(m->members);
    m->members = nm;
    m->world = k;
    m->generation++;
    ntg__mesh_log(m, NTG__MESH_LOG_WARN, "generation %u formed with %d rank%s",
                  (unsigned)m->generation, k, k == 1 ? "" : "s");
    return send_welcomes(m, err);
}

/* --------------------------------------------------------------- the ring */

static ntg_status ring_connect(ntg_mesh *m, ntg_error *err)
{
    close_socket(&m->ring_out);
    ntg__mesh_shm_close(m); /* the last generation's segments */
    if (m->world == 1) return NTG_OK;
    int next = (m->rank + 1) % m->world, prev = (m->rank + m->world - 1) % m->world;
    const ntg__mesh_peer_info *pn = &m->members[next].info, *pp = &m->members[prev].info;
    m->ring_out = new_socket(m, ZMQ_PUSH);
    int one = 1;
    if (!m->ring_out || ntg__mesh_curve_client(m, m->ring_out, pn->key) != 0)
        return ntg__fail(err, NTG_ERR_IO, "mesh: ring socket: %s", zmq_strerror(zmq_errno()));
    if (strchr(pn->ring, '[')) zmq_setsockopt(m->ring_out, ZMQ_IPV6, &one, sizeof one);
    if (zmq_connect(m->ring_out, pn->ring) != 0)
        return ntg__fail(err, NTG_ERR_IO, "mesh: connecting to rank %d's ring at %s: %s", next,
                         pn->ring, zmq_strerror(zmq_errno()));
    int64_t deadline = ntg__mesh_now_ms() + m->cfg.rendezvous_timeout_ms;
    char who[160];
    ntg__mesh_describe(m, next, who, sizeof who);
    char offer[256];
    size_t offer_n = ntg__mesh_shm_offer(m, offer, sizeof offer);
    if (send_by(m, m->ring_out, NULL, 0, NTG__MSG_RING_HELLO, m->step, offer_n ? offer : NULL,
                offer_n, deadline) != 0)
        return ntg__fail(err, NTG_ERR_PEER_LOST,
                         "mesh: the ring link to %s at %s did not open within %.1f s", who,
                         pn->ring, m->cfg.rendezvous_timeout_ms / 1000.0);
    ntg__mesh_describe(m, prev, who, sizeof who);
    for (;;) {
        int64_t now = ntg__mesh_now_ms();
        if (now >= deadline)
            return ntg__fail(err, NTG_ERR_PEER_LOST,
                             "mesh: no ring hello from %s within %.1f s (its keys may not list "
                             "this rank's)",
                             who, m->cfg.rendezvous_timeout_ms / 1000.0);
        wait_sock(m->ring_in, 0, deadline - now < 100 ? deadline - now : 100);
        zmq_msg_t msg;
        int got;
        while ((got = ntg__mesh_recv(m, m->ring_in, 0, NULL, NULL, &msg)) != 0) {
            if (got < 0) continue;
            ntg__mesh_msg d;
            int ok = 0;
            if (decode(m, &msg, &d, "the ring") == 0) {
                if (d.generation != m->generation) {
                    /* frames of a generation that failed, still queued */
                    count_drop(m, 1);
                } else if (d.type == NTG__MSG_RING_HELLO && d.sender == (uint32_t)prev &&
                           user_id_matches(m, &msg, pp->key)) {
                    ntg__mesh_shm_accept(m, &d);
                    ok = 1;
                } else {
                    count_drop(m, 0);
                    ntg__mesh_log_drop(m, "the ring", "not the ring hello of the previous rank");
                }
            }
            zmq_msg_close(&msg);
            if (ok) return NTG_OK;
        }
    }
}

/* READY from every worker to rank 0, then GO back. */
static ntg_status ready_go(ntg_mesh *m, ntg_error *err)
{
    int64_t deadline = ntg__mesh_now_ms() + m->cfg.rendezvous_timeout_ms;
    if (m->rank != 0) {
        if (send_by(m, m->rdv, NULL, 0, NTG__MSG_READY, m->step, NULL, 0, deadline) != 0)
            return ntg__fail(err, NTG_ERR_PEER_LOST, "mesh: rank 0 stopped taking messages");
        for (;;) {
            int64_t now = ntg__mesh_now_ms();
            if (now >= deadline)
                return ntg__fail(err, NTG_ERR_PEER_LOST,
                                 "mesh: rank 0 did not start generation %u within %.1f s",
                                 (unsigned)m->generation, m->cfg.rendezvous_timeout_ms / 1000.0);
            wait_sock(m->rdv, 0, deadline - now < 100 ? deadline - now : 100);
            zmq_msg_t msg;
            int got;
            while ((got = ntg__mesh_recv(m, m->rdv, 0, NULL, NULL, &msg)) != 0) {
                if (got < 0) continue;
                ntg__mesh_msg d;
                ntg_status st = NTG_OK;
                int done = 0;
                if (decode(m, &msg, &d, "rank 0") == 0) {
                    if (d.type == NTG__MSG_GO && d.generation == m->generation) {
                        done = 1;
                    } else if (d.type == NTG__MSG_REFUSE) {
                        char reason[NTG__MESH_KV_VALUE_MAX] = "no reason given";
                        if (ntg__mesh_kv_check(d.payload, d.payload_bytes, NULL) == NTG_OK)
                            ntg__mesh_kv_get(d.payload, d.payload_bytes, "reason", 0, reason,
                                             sizeof reason);
                        st = ntg__fail(err, NTG_ERR_PEER_LOST, "mesh: generation %u failed: %s",
                                       (unsigned)m->generation, reason);
                        done = 1;
                    }
                }
                zmq_msg_close(&msg);
                if (done) return st;
            }
        }
    }
    int need = m->world - 1;
    char *ready = calloc((size_t)m->world, 1);
    if (!ready) return ntg__fail(err, NTG_ERR_NOMEM, "mesh: out of memory");
    int64_t last_hb = 0;
    while (need > 0) {
        int64_t now = ntg__mesh_now_ms();
        if (now >= deadline) break;
        if (now - last_hb >= m->cfg.heartbeat_ms) {
            heartbeat_members(m);
            last_hb = now;
        }
        wait_sock(m->rdv, 0, 50);
        unsigned char rid[NTG__MESH_RID];
        size_t rl = 0;
        zmq_msg_t msg;
        int got;
        while ((got = ntg__mesh_recv(m, m->rdv, 1, rid, &rl, &msg)) != 0) {
            if (got < 0) continue;
            ntg__mesh_msg d;
            if (decode(m, &msg, &d, "the rendezvous") == 0) {
                int r = member_by_rid(m, rid, rl);
                if (d.type == NTG__MSG_HELLO)
                    ntg__mesh_take_hello(m, rid, rl, &d, zmq_msg_gets(&msg, "User-Id"));
                else if (r > 0 && d.generation == m->generation) {
                    m->members[r].last_seen_ms = now;
                    if (d.type == NTG__MSG_READY && !ready[r]) {
                        ready[r] = 1;
                        need--;
                    }
                } else
                    count_drop(m, d.generation != m->generation);
            }
            zmq_msg_close(&msg);
        }
    }
    if (need > 0) {
        int r = 1;
        while (r < m->world && ready[r]) r++;
        char who[160], why[300];
        ntg__mesh_describe(m, r, who, sizeof who);
        snprintf(why, sizeof why, "%s never reported its ring links", who);
        for (int q = 1; q < m->world; q++)
            send_refuse(m, m->members[q].rid, m->members[q].rid_len, why);
        free(ready);
        return ntg__fail(err, NTG_ERR_PEER_LOST, "mesh: generation %u failed: %s",
                         (unsigned)m->generation, why);
    }
    free(ready);
    for (int r = 1; r < m->world; r++)
        ntg__mesh_send(m, m->rdv, m->members[r].rid, m->members[r].rid_len, NTG__MSG_GO, m->step,
                       NULL, 0);
    return NTG_OK;
}

/* Everything after the sockets exist: meet, connect the ring, start. */
static ntg_status form(ntg_mesh *m, int reform, ntg_error *err)
{
    ntg_status st;
    if (m->rank == 0)
        st = reform ? coord_reform(m, err) : coord_initial(m, err);
    else
        st = worker_meet(m, reform, err);
    if (st) return st;
    if ((st = ring_connect(m, err))) return st;
    if ((st = ready_go(m, err))) return st;
    /* every rank took its ring hello before rank 0 said GO: the offers are settled */
    ntg__mesh_shm_settle(m);
    pthread_mutex_lock(&m->mu);
    m->broken = 0;
    m->broken_msg[0] = '\0';
    m->barriers = 0;
    m->evicted = 0;
    pthread_mutex_unlock(&m->mu);
    int64_t now = ntg__mesh_now_ms();
    for (int r = 0; r < m->world; r++) m->members[r].last_seen_ms = now;
    ntg__mesh_log(m, NTG__MESH_LOG_INFO, "ring ready (ring socket %s)", m->ring_endpoint);
    return ntg__mesh_io_start(m, err);
}

/* --------------------------------------------------------------- lifetime */

static void random_id(unsigned char *out, size_t n, long pid)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, out, n) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)n) {
        uint64_t x = (uint64_t)ntg__mesh_now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)pid;
        for (size_t i = 0; i < n; i++) {
            x ^= x >> 29;
            x *= 0xBF58476D1CE4E5B9ull;
            out[i] = (unsigned char)(x >> 56);
        }
    }
    out[0] |= 1; /* routing ids starting with a zero byte are libzmq's own */
}

ntg_status ntg__mesh_create(const ntg__mesh_config *cfg, ntg_mesh **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!cfg || !out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: NULL argument");
    ntg_status st = check_config(cfg, err);
    if (st) return st;
    ntg_mesh *m = calloc(1, sizeof *m);
    if (!m) return ntg__fail(err, NTG_ERR_NOMEM, "mesh: out of memory");
    m->cfg = *cfg;
    snprintf(m->rendezvous, sizeof m->rendezvous, "%s", cfg->rendezvous);
    m->cfg.rendezvous = m->rendezvous;
    if (cfg->keys_dir) {
        snprintf(m->keys_dir, sizeof m->keys_dir, "%s", cfg->keys_dir);
        m->cfg.keys_dir = m->keys_dir;
    }
    if (cfg->ring_host) {
        snprintf(m->ring_host, sizeof m->ring_host, "%s", cfg->ring_host);
        m->cfg.ring_host = m->ring_host;
    }
    m->rank = cfg->join ? -1 : cfg->rank;
    m->world = cfg->join ? 0 : cfg->world;
    m->first_world = m->world;
    m->chunk_bytes = cfg->chunk_bytes;
    m->pid = (long)getpid();
    m->wake[0] = m->wake[1] = -1;
    if (gethostname(m->host, sizeof m->host - 1) != 0 || !ntg__mesh_valid_host(m->host))
        snprintf(m->host, sizeof m->host, "unknown-host");
    random_id(m->rid, sizeof m->rid, m->pid);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->pool_mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->ctx = zmq_ctx_new();
    if (!m->ctx) {
        st = ntg__fail(err, NTG_ERR_IO, "mesh: zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* two libzmq I/O threads: the ring's sends and receives each get one (ZMQ_AFFINITY in
     * new_socket), so a rank pushes to its next and pulls from its previous at once */
    zmq_ctx_set(m->ctx, ZMQ_IO_THREADS, 2);
    if (cfg->keys_dir) {
        if ((st = ntg__mesh_keys_load(cfg->keys_dir, &m->keys, err))) goto fail;
        /* the handler must listen before any CURVE server socket takes a connection */
        if ((st = ntg__mesh_zap_start(m, err))) goto fail;
    }
    if ((st = bind_ring(m, err))) goto fail;
    if ((st = open_rendezvous(m, err))) goto fail;
    if ((st = form(m, 0, err))) goto fail;
    *out = m;
    return NTG_OK;
fail:
    ntg__mesh_destroy(m);
    return st;
}

void ntg__mesh_destroy(ntg_mesh *m)
{
    if (!m) return;
    ntg__mesh_io_stop(m, 1); /* says goodbye first */
    close_socket(&m->ring_out);
    close_socket(&m->ring_in);
    ntg__mesh_shm_close(m);
    if (m->rdv_mon) {
        if (m->rdv) zmq_socket_monitor(m->rdv, NULL, 0);
        close_socket(&m->rdv_mon);
    }
    close_socket(&m->rdv);
    ntg__mesh_zap_stop(m);
    if (m->ctx) zmq_ctx_term(m->ctx);
    ntg__mesh_keys_destroy(m->keys);
    for (int i = 0; i < 2; i++)
        if (m->wake[i] >= 0) close(m->wake[i]);
    free(m->members);
    /* after zmq_ctx_term: libzmq holds no frame of the pool any more */
    free(m->pool_mem);
    free(m->pool_free);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->pool_mu);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* --------------------------------------------------------------- queries */

int ntg__mesh_rank(const ntg_mesh *m)
{
    return m ? m->rank : -1;
}

int ntg__mesh_world(const ntg_mesh *m)
{
    return m ? m->world : 0;
}

uint32_t ntg__mesh_generation(const ntg_mesh *m)
{
    return m ? m->generation : 0;
}

void ntg__mesh_set_step(ntg_mesh *m, uint64_t step)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->step = step;
    pthread_mutex_unlock(&m->mu);
}

ntg_status ntg__mesh_peer_get(const ntg_mesh *m, int rank, ntg__mesh_peer *out)
{
    if (!m || !out) return NTG_ERR_INVALID_ARG;
    if (rank < 0 || rank >= m->world) return NTG_ERR_RANGE;
    const ntg__mesh_peer_info *p = &m->members[rank].info;
    out->rank = rank;
    out->pid = p->pid;
    snprintf(out->host, sizeof out->host, "%s", p->host);
    snprintf(out->ring, sizeof out->ring, "%s", p->ring);
    return NTG_OK;
}

void ntg__mesh_stats_get(ntg_mesh *m, ntg__mesh_stats *s)
{
    if (!m || !s) return;
    pthread_mutex_lock(&m->mu);
    *s = m->stats;
    pthread_mutex_unlock(&m->mu);
}

int ntg__mesh_joiners(ntg_mesh *m)
{
    if (!m) return 0;
    pthread_mutex_lock(&m->mu);
    int n = 0;
    for (int i = 0; i < m->n_pending; i++)
        if (m->pending[i].hello.prev_generation != m->generation) n++;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* -------------------------------------------------------------- operations */

static ntg_status broken_error(ntg_mesh *m, ntg_error *err)
{
    return ntg__fail(err, m->broken_status, "%s", m->broken_msg);
}

static void wake(ntg_mesh *m)
{
    ssize_t rc = write(m->wake[1], "w", 1);
    (void)rc; /* a full pipe already wakes it */
}

/* Queue an operation; the caller holds mu.  Returns its slot or -1 (err filled). */
static int queue_op(ntg_mesh *m, int kind, uint32_t bucket, void *buf, uint64_t n, ntg_status *st,
                    ntg_error *err)
{
    if (m->broken) {
        *st = broken_error(m, err);
        return -1;
    }
    int free_slot = -1;
    for (int i = 0; i < NTG__MESH_MAX_OPS; i++) {
        mesh_op *op = &m->ops[i];
        if (op->state == OPS_FREE) {
            if (free_slot < 0) free_slot = i;
        } else if (kind == OPK_ALLREDUCE && op->kind == OPK_ALLREDUCE && op->bucket == bucket) {
            *st = ntg__fail(err, NTG_ERR_STATE,
                            "mesh: bucket %u is already in flight (wait for it "
                            "first)",
                            (unsigned)bucket);
            return -1;
        }
    }
    if (free_slot < 0) {
        *st = ntg__fail(err, NTG_ERR_STATE,
                        "mesh: %d operations in flight; wait for some before starting more",
                        NTG__MESH_MAX_OPS);
        return -1;
    }
    mesh_op *op = &m->ops[free_slot];
    memset(op, 0, sizeof *op);
    op->state = OPS_QUEUED;
    op->kind = kind;
    op->bucket = bucket;
    op->buf = buf;
    op->n = n;
    op->scale = 1.0;
    op->seq = m->next_seq++;
    op->step = m->step;
    if (kind == OPK_BARRIER) op->barrier = ++m->barriers;
    *st = NTG_OK;
    return free_slot;
}

/* Wait for slot i to finish, free it, return its status; the caller holds mu. */
static ntg_status wait_op(ntg_mesh *m, int i, ntg_error *err)
{
    mesh_op *op = &m->ops[i];
    while (op->state != OPS_DONE) {
        if (!m->io_running) {
            /* cannot happen while the mesh lives; never wait for a thread that is gone */
            op->state = OPS_FREE;
            return ntg__fail(err, NTG_ERR_INTERNAL, "mesh: the I/O thread is not running");
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    }
    ntg_status st = op->status;
    if (st) ntg__fail(err, st, "%s", op->message);
    op->state = OPS_FREE;
    return st;
}

ntg_status ntg__mesh_allreduce_start(ntg_mesh *m, uint32_t bucket, float *buf, size_t n,
                                     ntg_error *err)
{
    if (!m || (!buf && n)) return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: NULL argument");
    if ((uint64_t)n > NTG__MESH_MAX_TOTAL)
        return ntg__fail(err, NTG_ERR_RANGE, "mesh: %zu elements (limit %llu)", n,
                         (unsigned long long)NTG__MESH_MAX_TOTAL);
    ntg_status st;
    pthread_mutex_lock(&m->mu);
    int i = queue_op(m, OPK_ALLREDUCE, bucket, buf, n, &st, err);
    pthread_mutex_unlock(&m->mu);
    if (i >= 0) wake(m);
    return st;
}

ntg_status ntg__mesh_allreduce_startv(ntg_mesh *m, uint32_t bucket, float *const *ptrs,
                                      const size_t *lens, unsigned nseg, double scale,
                                      ntg_error *err)
{
    return ntg__mesh_allreduce_startx(m, bucket, ptrs, lens, nseg, scale, NULL, NTG__MESH_PART_ALL,
                                      err);
}

ntg_status ntg__mesh_allreduce_startx(ntg_mesh *m, uint32_t bucket, float *const *ptrs,
                                      const size_t *lens, unsigned nseg, double scale,
                                      const uint64_t *bounds, int part, ntg_error *err)
{
    if (!m || (nseg && (!ptrs || !lens)))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: NULL argument");
    if (part < NTG__MESH_PART_ALL || part > NTG__MESH_PART_GATHER)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: all-reduce part %d", part);
    uint64_t n = 0;
    for (unsigned i = 0; i < nseg; i++) {
        if (!ptrs[i] && lens[i])
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: piece %u is NULL", i);
        n += (uint64_t)lens[i];
        if (n > NTG__MESH_MAX_TOTAL)
            return ntg__fail(err, NTG_ERR_RANGE, "mesh: more than %llu elements",
                             (unsigned long long)NTG__MESH_MAX_TOTAL);
    }
    ntg_status st;
    pthread_mutex_lock(&m->mu);
    int i = queue_op(m, OPK_ALLREDUCE, bucket, NULL, n, &st, err);
    if (i >= 0) {
        m->ops[i].segp = ptrs;
        m->ops[i].segn = lens;
        m->ops[i].nseg = nseg;
        m->ops[i].scale = scale;
        m->ops[i].bounds = bounds;
        m->ops[i].part = part;
    }
    pthread_mutex_unlock(&m->mu);
    if (i >= 0) wake(m);
    return st;
}

ntg_status ntg__mesh_allreduce_wait(ntg_mesh *m, uint32_t bucket, ntg_error *err)
{
    if (!m) return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: NULL argument");
    pthread_mutex_lock(&m->mu);
    int slot = -1;
    for (int i = 0; i < NTG__MESH_MAX_OPS; i++)
        if (m->ops[i].state != OPS_FREE && m->ops[i].kind == OPK_ALLREDUCE &&
            m->ops[i].bucket == bucket)
            slot = i;
    ntg_status st;
    if (slot < 0)
        st =
            ntg__fail(err, NTG_ERR_NOT_FOUND, "mesh: bucket %u is not in flight", (unsigned)bucket);
    else
        st = wait_op(m, slot, err);
    pthread_mutex_unlock(&m->mu);
    return st;
}

ntg_status ntg__mesh_allreduce(ntg_mesh *m, float *buf, size_t n, ntg_error *err)
{
    /* an id no caller of start/wait uses alongside (they number buckets from 0) */
    const uint32_t id = 0xFFFFFFFFu;
    ntg_status st = ntg__mesh_allreduce_start(m, id, buf, n, err);
    return st ? st : ntg__mesh_allreduce_wait(m, id, err);
}

static ntg_status run_sync(ntg_mesh *m, int kind, void *buf, uint64_t n, ntg_error *err)
{
    ntg_status st;
    pthread_mutex_lock(&m->mu);
    int i = queue_op(m, kind, 0, buf, n, &st, err);
    if (i >= 0) {
        wake(m);
        st = wait_op(m, i, err);
    }
    pthread_mutex_unlock(&m->mu);
    return st;
}

ntg_status ntg__mesh_broadcast(ntg_mesh *m, void *buf, size_t nbytes, ntg_error *err)
{
    if (!m || (!buf && nbytes)) return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: NULL argument");
    if ((uint64_t)nbytes > NTG__MESH_MAX_TOTAL)
        return ntg__fail(err, NTG_ERR_RANGE, "mesh: broadcast of %zu bytes", nbytes);
    ntg_status st = run_sync(m, OPK_BROADCAST, buf, nbytes, err);
    /* rank 0 is done once its frames are queued; the barrier makes the call return on every
     * rank only once every rank holds the bytes, so no rank leaves with them still in flight */
    return st ? st : run_sync(m, OPK_BARRIER, NULL, 0, err);
}

ntg_status ntg__mesh_barrier(ntg_mesh *m, ntg_error *err)
{
    if (!m) return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: NULL argument");
    return run_sync(m, OPK_BARRIER, NULL, 0, err);
}

ntg_status ntg__mesh_request_reform(ntg_mesh *m, const char *reason, ntg_error *err)
{
    if (!m) return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: NULL argument");
    if (m->rank != 0)
        return ntg__fail(err, NTG_ERR_STATE, "mesh: only rank 0 can ask for a new generation");
    pthread_mutex_lock(&m->mu);
    m->reset_requested = 1;
    snprintf(m->reset_reason, sizeof m->reset_reason, "%s", reason ? reason : "asked by rank 0");
    pthread_mutex_unlock(&m->mu);
    wake(m);
    return NTG_OK;
}

ntg_status ntg__mesh_reform(ntg_mesh *m, ntg_error *err)
{
    if (!m) return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh: NULL argument");
    pthread_mutex_lock(&m->mu);
    int gone = m->coordinator_gone;
    pthread_mutex_unlock(&m->mu);
    if (m->rank != 0 && gone)
        return ntg__fail(err, NTG_ERR_PEER_LOST,
                         "mesh: rank 0 is gone; a new generation needs its coordinator (restart "
                         "the job and resume from the last checkpoint)");
    ntg__mesh_io_stop(m, 0);
    /* operations still queued fail: the buffers they name belong to the old generation */
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < NTG__MESH_MAX_OPS; i++)
        if (m->ops[i].state == OPS_QUEUED || m->ops[i].state == OPS_ACTIVE) {
            m->ops[i].state = OPS_DONE;
            m->ops[i].status = NTG_ERR_PEER_LOST;
            snprintf(m->ops[i].message, sizeof m->ops[i].message,
                     "mesh: the generation was re-formed before this operation ran");
        }
    pthread_mutex_unlock(&m->mu);
    ntg_status st = form(m, 1, err);
    if (st) {
        pthread_mutex_lock(&m->mu);
        m->broken = 1;
        m->broken_status = st;
        snprintf(m->broken_msg, sizeof m->broken_msg, "%.600s",
                 err ? err->message : "mesh: re-forming failed");
        pthread_mutex_unlock(&m->mu);
    }
    return st;
}

ntg_status ntg__mesh_share(ntg_mesh *m, unsigned id, const void *base, size_t bytes, int fd,
                           ntg_error *err)
{
    if (id >= NTG__MESH_MAX_REGIONS || !base || !bytes || fd < 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "mesh: shared region %u: an id below %d, memory and its file descriptor",
                         id, NTG__MESH_MAX_REGIONS);
    pthread_mutex_lock(&m->mu);
    m->region[id].base = base;
    m->region[id].bytes = bytes;
    m->region[id].fd = fd;
    atomic_fetch_add(&m->region_version, 1);
    pthread_mutex_unlock(&m->mu);
    return NTG_OK;
}
