/* cmd_serve.c — `ntgraph serve`: forecasts over HTTP and ZeroMQ from the models of a store. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#ifdef NTG_HAVE_SERVE
#include <pthread.h>

#include "serve.h"
#endif

static const cli_opt serve_opts[] = {
    {"db", 0, "PATH", 0, "the model store to serve (required; opened read-only)"},
    {"http", 0, "HOST:PORT", 0, "HTTP/1.1 address (default 127.0.0.1:8080; port 0: any free one)"},
    {"zmq", 0, "ENDPOINT", 0, "also a ZeroMQ ROUTER, e.g. tcp://127.0.0.1:5555 (default: none)"},
    {"threads", 0, "N", 0, "worker threads of each model's session (default 1)"},
    {"cache-mb", 0, "N", 0, "plan cache budget in MiB, least recently used evicted (default 256)"},
    {"batch-delay-us", 0, "N", 0,
     "how long a batch waits for concurrent requests to join it (default 500, max 100000)"},
    {"max-batch", 0, "N", 0, "windows per batched run (default 64; at most the plan's max batch)"},
    {"backend", 0, "NAME", 0, "sessions' backend: auto (default), cpu, xnnpack, vulkan"},
    {"max-body-kb", 0, "N", 0, "request body limit in KiB (default 1024)"},
    {"timeout-s", 0, "N", 0, "close HTTP connections idle or stalled this long (default 10)"},
    {"poll-ms", 0, "N", 0, "re-resolve aliases against the store this often (default 200)"},
    {"zmq-workers", 0, "N", 0, "threads answering ZeroMQ requests (default 64)"},
};

static int serve_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos) return cli_usage_error(cmd, "unexpected argument '%s'", a->pos[0]);
    const char *db = cli_get(a, "db");
    if (!db) return cli_usage_error(cmd, "--db PATH is required");
#ifdef NTG_HAVE_SERVE
    ntg__serve_config cfg;
    ntg__serve_config_init(&cfg);
    cfg.db = db;
    cfg.backend = cli_get(a, "backend");
    long threads = 1, cache_mb = 256, delay = cfg.batch_delay_us, mb = cfg.max_batch,
         body_kb = 1024, tmo = (long)cfg.conn_timeout_s, poll = cfg.poll_ms, zw = 64;
    if (cli_int(cmd, a, "threads", 1, 256, &threads) < 0 ||
        cli_int(cmd, a, "cache-mb", 1, 1L << 20, &cache_mb) < 0 ||
        cli_int(cmd, a, "batch-delay-us", 0, 100000, &delay) < 0 ||
        cli_int(cmd, a, "max-batch", 1, 4096, &mb) < 0 ||
        cli_int(cmd, a, "max-body-kb", 1, 1L << 20, &body_kb) < 0 ||
        cli_int(cmd, a, "timeout-s", 1, 3600, &tmo) < 0 ||
        cli_int(cmd, a, "poll-ms", 10, 60000, &poll) < 0 ||
        cli_int(cmd, a, "zmq-workers", 1, 1024, &zw) < 0)
        return CLI_USAGE;
    cfg.threads = (int)threads;
    cfg.cache_bytes = (size_t)cache_mb << 20;
    cfg.batch_delay_us = delay;
    cfg.max_batch = (int)mb;
    cfg.max_body = (size_t)body_kb << 10;
    cfg.conn_timeout_s = (unsigned)tmo;
    cfg.poll_ms = poll;
    const char *http = cli_get(a, "http"), *zmq = cli_get(a, "zmq");
    if (!http) http = "127.0.0.1:8080";

    /* SIGTERM and SIGINT are taken by sigwait below: block them before any thread starts so
     * every thread inherits the mask; a client that hangs up must not kill us (SIGPIPE) */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    ntg_error err;
    ntg__serve *s = NULL;
    ntg_status st = ntg__serve_create(&cfg, &s, &err);
    if (st) return cli_fail(cmd, st, &err);
    char bound[256];
    ntg__serve_http *h = NULL;
    ntg__serve_zmq *z = NULL;
    st = ntg__serve_http_start(s, http, &h, bound, sizeof bound, &err);
    if (st) {
        ntg__serve_destroy(s);
        int rc = cli_fail(cmd, st, &err);
        return st == NTG_ERR_IO ? CLI_FAIL : rc;
    }
    printf("http: http://%s\n", bound);
    if (zmq) {
        st = ntg__serve_zmq_start(s, zmq, (int)zw, &z, bound, sizeof bound, &err);
        if (st) {
            ntg__serve_http_stop(h);
            ntg__serve_destroy(s);
            int rc = cli_fail(cmd, st, &err);
            return st == NTG_ERR_IO || st == NTG_ERR_UNSUPPORTED ? CLI_FAIL : rc;
        }
        printf("zmq: %s\n", bound);
    }
    printf("ready\n");
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "ntgraph serve: %s: finishing the requests in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    ntg__serve_zmq_stop(z);
    ntg__serve_http_stop(h);
    ntg__serve_destroy(s);
    fprintf(stderr, "ntgraph serve: stopped\n");
    return CLI_OK;
#else
    fprintf(stderr, "ntgraph %s: this ntgraph was built without serve (libmicrohttpd not found)\n",
            cmd->name);
    return CLI_FAIL;
#endif
}

const cli_cmd cli_cmd_serve = {
    "serve",
    "Forecasting service over a model store (HTTP + ZeroMQ)",
    "ntgraph serve --db PATH [--http HOST:PORT] [--zmq ENDPOINT] [--threads N] [--cache-mb N]\n"
    "              [--batch-delay-us N] [options]",
    "Serves forecasts of the models in the store PATH until SIGTERM (or SIGINT), then\n"
    "finishes the requests in flight and exits 0. It prints the bound addresses\n"
    "(\"http: http://HOST:PORT\", \"zmq: ENDPOINT\") and \"ready\" on stdout.\n"
    "\n"
    "  POST /v1/models/NAME[@REF]/forecast  {\"series\": {\"OT\": [input_size values]}}\n"
    "       -> {\"model\", \"version\", \"forecast\": {\"OT\": [h values]}, \"quantiles\"?}\n"
    "       (optional: \"timestamps\", and for a model with covariates \"hist_exog\",\n"
    "        \"futr_exog\" (window + horizon), \"stat_exog\": {NAME: values})\n"
    "  POST /v1/streams/ID/observe          {\"model\": \"NAME@REF\", \"series\": {\"OT\": "
    "[new]}}\n"
    "  GET  /v1/models, /healthz, /metrics (Prometheus text)\n"
    "\n"
    "Without @REF a request uses the model's latest version; aliases (@champion) are\n"
    "re-resolved every --poll-ms, so `ntgraph store alias` moves traffic without a\n"
    "restart. Concurrent requests for one version are run as one batch. Bad requests\n"
    "get a JSON error with a 4xx status. docs/serve.md has the API, the ZeroMQ\n"
    "envelope, the metrics and the failure behaviour.",
    serve_opts,
    (int)(sizeof serve_opts / sizeof serve_opts[0]),
    serve_run,
};
