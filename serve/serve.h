/* serve.h — `ntgraph serve`: one request handler (plan cache, dynamic batching, streams,
 * metrics) behind an HTTP (libmicrohttpd) and a ZeroMQ front end. */
#ifndef NTG_SERVE_H
#define NTG_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "ntgraph.h"
#include "pool.h"

/* ------------------------------------------------------------ request decoder */

/* What a request body may hold (bounds checked before anything is allocated for it). */
typedef struct ntg__serve_limits {
    size_t max_series; /* series in one request */
    size_t max_values; /* values of one series */
} ntg__serve_limits;

/* Covariate kinds of a request (docs/serve.md, "Covariates"). */
enum { NTG__SERVE_HIST = 0, NTG__SERVE_FUTR = 1, NTG__SERVE_STAT = 2 };

/* A decoded body: {"series": {NAME: [numbers], ...}, "timestamps": [strings], "model": REF,
 * "hist_exog": {NAME: [numbers]}, "futr_exog": {NAME: [numbers]}, "stat_exog": {NAME:
 * number}}.  Everything lives in the pool passed to the decoder. */
typedef struct ntg__serve_req {
    size_t n_series;
    const char **names;
    const double **values;
    size_t *n_values;
    const char **timestamps; /* NULL when absent */
    size_t n_timestamps;
    const char *model; /* the "model" member (streams), NULL when absent */
    /* covariates, for every series of the request: n_cov of them, hist_exog members first,
     * then futr_exog, then stat_exog (one value each); at most max_series of each kind, and
     * max_values values each */
    size_t n_cov;
    const char **cov_names;
    const double **cov_values;
    size_t *cov_n;
    int *cov_kind; /* NTG__SERVE_HIST, _FUTR, _STAT */
} ntg__serve_req;

/* Decode a request body.  Refuses (NTG_ERR_PARSE, with `msg` naming the problem and, for
 * JSON syntax, the byte offset): invalid JSON, a root that is not an object, an unknown
 * member, a "series" that is not a non-empty object of arrays of numbers, a null value
 * (JavaScript's JSON.stringify writes NaN and Infinity so), more series or values than the
 * limits, time stamps that are not an array of strings, covariates that are not an object
 * of arrays of finite numbers (stat_exog: of finite numbers), a covariate name given twice.
 * NTG_ERR_NOMEM when out of memory. */
ntg_status ntg__serve_decode(const char *body, size_t len, const ntg__serve_limits *lim,
                             ntg_pool *pool, ntg__serve_req *out, char *msg, size_t cap);

/* ------------------------------------------------------------------- service */

typedef struct ntg__serve_config {
    const char *db;          /* the model store (opened read-only) */
    const char *backend;     /* sessions' backend (NULL: auto) */
    int threads;             /* worker threads of each forecaster's session */
    size_t cache_bytes;      /* plan cache budget */
    long batch_delay_us;     /* how long a batch waits for more requests */
    int max_batch;           /* windows per batched run (capped by each plan's max batch) */
    size_t max_body;         /* request body limit, bytes */
    size_t max_series;       /* series per request */
    size_t max_streams;      /* server-side rolling windows */
    long poll_ms;            /* how often aliases are re-resolved against the store */
    unsigned conn_timeout_s; /* idle/slow client timeout (HTTP) */
} ntg__serve_config;

void ntg__serve_config_init(ntg__serve_config *c);

typedef struct ntg__serve ntg__serve;

/* Open the store and start the alias poller.  Errors: those of ntg_store_open. */
ntg_status ntg__serve_create(const ntg__serve_config *cfg, ntg__serve **out, ntg_error *err);
/* Stop the poller, free every cached plan.  No request may be in flight.  NULL: no-op. */
void ntg__serve_destroy(ntg__serve *s);

/* A response: status, a malloc'ed body (JSON unless content_type says otherwise). */
typedef struct ntg__serve_resp {
    int status;
    char *body;
    size_t len;
    const char *content_type;
} ntg__serve_resp;

/* Handle one request (any thread, any number at once).  `path` without the query string.
 * Never fails: errors are responses (4xx for the client's mistakes, 5xx for ours), and
 * r->body is NULL only when even the error could not be allocated (status 503). */
void ntg__serve_handle(ntg__serve *s, const char *method, const char *path, const char *body,
                       size_t len, ntg__serve_resp *r);
void ntg__serve_resp_free(ntg__serve_resp *r);
/* Count a request the front end answered itself (e.g. 413 before the body was read). */
void ntg__serve_count(ntg__serve *s, int status, double seconds);
/* A JSON error body {"error": {"status": N, "message": M}} (malloc'ed; NULL when out of memory). */
char *ntg__serve_error_body(int status, const char *message, size_t *len);
const ntg__serve_config *ntg__serve_cfg(const ntg__serve *s);

/* ---------------------------------------------------------------- front ends */

typedef struct ntg__serve_http ntg__serve_http;
/* Listen on "HOST:PORT" (port 0: any free one); *bound receives "HOST:PORT" as bound. */
ntg_status ntg__serve_http_start(ntg__serve *s, const char *addr, ntg__serve_http **out,
                                 char *bound, size_t cap, ntg_error *err);
/* Stop accepting, finish the requests in flight, release. NULL: no-op. */
void ntg__serve_http_stop(ntg__serve_http *h);

typedef struct ntg__serve_zmq ntg__serve_zmq;
/* A ROUTER on `endpoint`; *bound receives the endpoint as bound (ZMQ_LAST_ENDPOINT).
 * NTG_ERR_UNSUPPORTED in builds without libzmq. */
ntg_status ntg__serve_zmq_start(ntg__serve *s, const char *endpoint, int workers,
                                ntg__serve_zmq **out, char *bound, size_t cap, ntg_error *err);
void ntg__serve_zmq_stop(ntg__serve_zmq *z);

#endif /* NTG_SERVE_H */
