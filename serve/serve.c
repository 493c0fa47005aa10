/* serve.c — the request handler of `ntgraph serve`: routes, the LRU plan cache over the model
 * store, alias re-resolution, dynamic batching, rolling-window streams and metrics. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ntg_error.h"
#include "json.h"
#include "serve.h"
#include "store.h"

/* ------------------------------------------------------------------ metrics */

/* Upper bounds of the latency buckets (seconds) and the batch-size buckets (windows). */
static const double lat_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
#define N_LAT (sizeof lat_le / sizeof lat_le[0])
static const int batch_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define N_BATCH (sizeof batch_le / sizeof batch_le[0])

typedef struct metrics {
    atomic_ulong by_status[600];
    atomic_ulong lat[N_LAT + 1];
    atomic_ullong lat_sum_ns;
    atomic_ulong batch[N_BATCH + 1];
    atomic_ulong batch_runs, batch_windows, batch_requests;
    atomic_ulong cache_hits, cache_misses, cache_evictions;
    atomic_ulong alias_switches;
} metrics;

/* ---------------------------------------------------------------- the cache */

typedef struct batch_result {
    ntg_forecast *f;
    int refs; /* jobs still reading it (under the entry's mutex) */
} batch_result;

typedef struct job {
    const ntg_window *w;
    size_t n;
    struct job *next;
    int done;
    ntg_status st;
    char msg[768];
    batch_result *res;
    size_t col0; /* this job's first column in res->f */
} job;

enum { E_LOADING, E_READY, E_FAILED };

typedef struct entry {
    char *name;
    uint64_t version;
    int state;
    ntg_status load_st;
    char load_msg[768];
    ntg_plan *plan;
    ntg_forecaster *fc;
    size_t input_size, h;
    int max_batch;
    size_t bytes;
    int refs;     /* holders (under the cache mutex) */
    int in_table; /* reachable from the cache; 0 once evicted */
    struct entry *prev, *next;
    /* the batcher: one leader at a time gathers and runs (it alone touches fc) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    size_t pending_jobs, pending_windows;
    size_t expected; /* requests that acquired this entry and have not been answered */
    int leader;
} entry;

typedef struct resolution {
    char *ref; /* "NAME@REF" */
    char *name;
    uint64_t version;
    int numeric; /* NAME@7 never changes */
} resolution;

typedef struct stream {
    char id[65];
    char *ref;
    size_t n_series;
    char **names;
    double **ring; /* cap values each, oldest at (pos[i] + cap - count[i]) % cap */
    size_t *count, *pos;
    size_t cap;
    int busy;
} stream;

struct ntg__serve {
    ntg__serve_config cfg;
    metrics m;

    pthread_mutex_t store_mu; /* the store handle: one thread at a time */
    ntg_store *store;
    struct timespec last_refresh;

    pthread_mutex_t cache_mu;
    pthread_cond_t cache_cv;
    entry *lru_head, *lru_tail; /* most recently used first */
    size_t n_entries, cache_bytes;
    resolution *res;
    size_t n_res, cap_res;

    pthread_mutex_t streams_mu;
    pthread_cond_t streams_cv;
    stream **streams;
    size_t n_streams;

    pthread_t poller;
    int poller_started, stopping;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
};

/* ------------------------------------------------------------------- helpers */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void deadline_after(struct timespec *t, long us)
{
    clock_gettime(CLOCK_REALTIME, t);
    long long ns = (long long)t->tv_nsec + (long long)us * 1000;
    t->tv_sec += (time_t)(ns / 1000000000);
    t->tv_nsec = (long)(ns % 1000000000);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A response body under construction: a memory stream (POSIX 2008). */
typedef struct out {
    FILE *f;
    char *buf;
    size_t len;
} out;

static int out_open(out *o)
{
    o->buf = NULL;
    o->len = 0;
    o->f = open_memstream(&o->buf, &o->len);
    return o->f ? 0 : -1;
}

static void out_num(out *o, double v)
{
    char b[NTG_JSON_NUMBER_CAP];
    ntg__json_fmt_number(b, v);
    fputs(b, o->f);
}

/* Close the stream into r (a write error or OOM becomes 503). */
static void out_finish(out *o, int status, ntg__serve_resp *r)
{
    int bad = ferror(o->f);
    if (fclose(o->f) != 0) bad = 1;
    if (bad) {
        free(o->buf);
        r->status = 503;
        r->body = ntg__serve_error_body(503, "out of memory formatting the response", &r->len);
        return;
    }
    r->status = status;
    r->body = o->buf;
    r->len = o->len;
}

char *ntg__serve_error_body(int status, const char *message, size_t *len)
{
    out o;
    if (out_open(&o)) return NULL;
    fprintf(o.f, "{\"error\":{\"status\":%d,\"message\":", status);
    ntg__json_put_string(o.f, message);
    fputs("}}\n", o.f);
    int bad = ferror(o.f);
    if (fclose(o.f) != 0 || bad) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

static void fail(ntg__serve_resp *r, int status, const char *fmt, ...) NTG_PRINTF(3, 4);
static void fail(ntg__serve_resp *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->content_type = "application/json";
    r->body = ntg__serve_error_body(status, msg, &r->len);
    if (!r->body) r->status = 503;
}

/* The HTTP status for a library status. */
static int http_status(ntg_status st)
{
    switch (st) {
    case NTG_ERR_NOT_FOUND:
        return 404;
    case NTG_ERR_INVALID_ARG:
    case NTG_ERR_PARSE:
    case NTG_ERR_RANGE:
        return 400;
    case NTG_ERR_DATA:
    case NTG_ERR_SHAPE:
    case NTG_ERR_PLAN:
    case NTG_ERR_VERSION:
    case NTG_ERR_UNSUPPORTED:
        return 422;
    case NTG_ERR_NOMEM:
        return 503;
    default:
        return 500;
    }
}

void ntg__serve_resp_free(ntg__serve_resp *r)
{
    if (!r) return;
    free(r->body);
    r->body = NULL;
}

const ntg__serve_config *ntg__serve_cfg(const ntg__serve *s)
{
    return &s->cfg;
}

void ntg__serve_count(ntg__serve *s, int status, double seconds)
{
    if (status >= 100 && status < 600) atomic_fetch_add(&s->m.by_status[status], 1);
    size_t b = 0;
    while (b < N_LAT && seconds > lat_le[b]) b++;
    atomic_fetch_add(&s->m.lat[b], 1);
    atomic_fetch_add(&s->m.lat_sum_ns, (unsigned long long)(seconds * 1e9));
}

static void count_batch(ntg__serve *s, size_t windows, size_t requests)
{
    size_t b = 0;
    while (b < N_BATCH && windows > (size_t)batch_le[b]) b++;
    atomic_fetch_add(&s->m.batch[b], 1);
    atomic_fetch_add(&s->m.batch_runs, 1);
    atomic_fetch_add(&s->m.batch_windows, windows);
    atomic_fetch_add(&s->m.batch_requests, requests);
}

/* -------------------------------------------------------------------- config */

void ntg__serve_config_init(ntg__serve_config *c)
{
    memset(c, 0, sizeof *c);
    c->threads = 1;
    c->cache_bytes = (size_t)256 << 20;
    c->batch_delay_us = 500;
    c->max_batch = 64;
    c->max_body = (size_t)1 << 20;
    c->max_series = 256;
    c->max_streams = 1024;
    c->poll_ms = 200;
    c->conn_timeout_s = 10;
}

/* ------------------------------------------------------------ store access */

static int valid_ref_part(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Reopen the read-only store to see newer commits; store_mu held. */
static ntg_status refresh_locked(ntg__serve *s, ntg_error *err)
{
    ntg_status st = ntg_store_refresh(s->store, err);
    clock_gettime(CLOCK_MONOTONIC, &s->last_refresh);
    return st;
}

static double since_refresh(const ntg__serve *s)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - s->last_refresh.tv_sec) +
           (double)(t.tv_nsec - s->last_refresh.tv_nsec) * 1e-9;
}

/* The version "NAME@REF" names now: from the resolution table (kept current by the poller),
 * else asked of the store (refreshed first when the last refresh is older than 50 ms, so a
 * model stored a moment ago is found). */
static ntg_status resolve(ntg__serve *s, const char *name, const char *ref, uint64_t *version,
                          ntg_error *err)
{
    char key[320];
    snprintf(key, sizeof key, "%s@%s", name, ref);
    pthread_mutex_lock(&s->cache_mu);
    for (size_t i = 0; i < s->n_res; i++)
        if (strcmp(s->res[i].ref, key) == 0) {
            *version = s->res[i].version;
            pthread_mutex_unlock(&s->cache_mu);
            return NTG_OK;
        }
    pthread_mutex_unlock(&s->cache_mu);

    pthread_mutex_lock(&s->store_mu);
    ntg_status st = ntg_store_resolve(s->store, key, version, err);
    if (st == NTG_ERR_NOT_FOUND && since_refresh(s) > 0.05) {
        ntg_error e2;
        if (refresh_locked(s, &e2) == NTG_OK) st = ntg_store_resolve(s->store, key, version, err);
    }
    pthread_mutex_unlock(&s->store_mu);
    if (st) return st;

    pthread_mutex_lock(&s->cache_mu);
    int have = 0;
    for (size_t i = 0; i < s->n_res && !have; i++) have = strcmp(s->res[i].ref, key) == 0;
    if (!have && s->n_res < 4096) {
        if (s->n_res == s->cap_res) {
            size_t cap = s->cap_res ? 2 * s->cap_res : 16;
            resolution *r = realloc(s->res, cap * sizeof *r);
            if (r) {
                s->res = r;
                s->cap_res = cap;
            }
        }
        if (s->n_res < s->cap_res) {
            resolution *r = &s->res[s->n_res];
            r->ref = xstrdup(key);
            r->name = xstrdup(name);
            r->version = *version;
            r->numeric = all_digits(ref);
            if (r->ref && r->name)
                s->n_res++;
            else {
                free(r->ref);
                free(r->name);
            }
        }
    }
    pthread_mutex_unlock(&s->cache_mu);
    return NTG_OK;
}

/* The poller: every poll_ms, reopen the store and re-resolve every alias the cache has seen,
 * so `ntgraph store alias` moves traffic without a restart.  Requests in flight keep the
 * entry they hold; the next ones load the new version. */
static void *poll_main(void *arg)
{
    ntg__serve *s = arg;
    pthread_mutex_lock(&s->stop_mu);
    while (!s->stopping) {
        struct timespec t;
        deadline_after(&t, s->cfg.poll_ms * 1000);
        while (!s->stopping && pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &t) != ETIMEDOUT) {
        }
        if (s->stopping) break;
        pthread_mutex_unlock(&s->stop_mu);

        /* the refs to check, copied so the store is not asked under the cache mutex */
        pthread_mutex_lock(&s->cache_mu);
        size_t n = s->n_res;
        char **refs = calloc(n ? n : 1, sizeof *refs);
        for (size_t i = 0; refs && i < n; i++)
            refs[i] = s->res[i].numeric ? NULL : xstrdup(s->res[i].ref);
        pthread_mutex_unlock(&s->cache_mu);
        size_t aliases = 0;
        for (size_t i = 0; refs && i < n; i++) aliases += refs[i] != NULL;
        if (refs && aliases == 0) {
            /* nothing to follow: reopening the store would only cost time */
            free(refs);
            refs = NULL;
        }
        if (refs) {
            uint64_t *v = calloc(n ? n : 1, sizeof *v);
            ntg_status *sts = calloc(n ? n : 1, sizeof *sts);
            pthread_mutex_lock(&s->store_mu);
            ntg_error err;
            ntg_status rst = refresh_locked(s, &err);
            for (size_t i = 0; !rst && v && sts && i < n; i++)
                if (refs[i]) sts[i] = ntg_store_resolve(s->store, refs[i], &v[i], NULL);
            pthread_mutex_unlock(&s->store_mu);
            if (rst)
                fprintf(stderr,
                        "ntgraph serve: could not refresh the store (kept the last "
                        "resolutions): %s\n",
                        err.message);
            pthread_mutex_lock(&s->cache_mu);
            for (size_t i = 0; !rst && v && sts && i < n; i++) {
                if (!refs[i]) continue;
                for (size_t j = 0; j < s->n_res; j++) {
                    resolution *r = &s->res[j];
                    if (strcmp(r->ref, refs[i]) != 0) continue;
                    if (sts[i] == NTG_OK && v[i] != r->version) {
                        fprintf(stderr, "ntgraph serve: %s now names version %llu (was %llu)\n",
                                r->ref, (unsigned long long)v[i], (unsigned long long)r->version);
                        r->version = v[i];
                        atomic_fetch_add(&s->m.alias_switches, 1);
                    } else if (sts[i] == NTG_ERR_NOT_FOUND) {
                        /* the alias is gone: forget it, so requests ask the store again */
                        free(r->ref);
                        free(r->name);
                        s->res[j] = s->res[--s->n_res];
                    }
                    break;
                }
            }
            pthread_mutex_unlock(&s->cache_mu);
            for (size_t i = 0; i < n; i++) free(refs[i]);
            free(refs);
            free(v);
            free(sts);
        }
        pthread_mutex_lock(&s->stop_mu);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

/* ------------------------------------------------------------- plan cache */

static void entry_free(entry *e)
{
    if (!e) return;
    ntg_forecaster_destroy(e->fc);
    ntg_plan_destroy(e->plan);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e->name);
    free(e);
}

static void lru_unlink(ntg__serve *s, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(ntg__serve *s, entry *e)
{
    e->prev = NULL;
    e->next = s->lru_head;
    if (s->lru_head) s->lru_head->prev = e;
    s->lru_head = e;
    if (!s->lru_tail) s->lru_tail = e;
}

/* Drop e from the table (cache_mu held); freed now when nobody holds it, else at release. */
static void evict_locked(ntg__serve *s, entry *e)
{
    lru_unlink(s, e);
    e->in_table = 0;
    s->n_entries--;
    s->cache_bytes -= e->bytes;
    if (e->refs == 0) entry_free(e);
}

/* Evict least recently used ready entries until the cache fits its budget; `keep` stays. */
static void shrink_locked(ntg__serve *s, const entry *keep)
{
    entry *e = s->lru_tail;
    while (s->cache_bytes > s->cfg.cache_bytes && e) {
        entry *prev = e->prev;
        if (e != keep && e->state == E_READY) {
            evict_locked(s, e);
            atomic_fetch_add(&s->m.cache_evictions, 1);
        }
        e = prev;
    }
}

static void release(ntg__serve *s, entry *e)
{
    pthread_mutex_lock(&s->cache_mu);
    if (--e->refs == 0 && !e->in_table) entry_free(e);
    pthread_mutex_unlock(&s->cache_mu);
}

/* Load version `version` of `name` and make its forecaster (no lock held). */
static void load_entry(ntg__serve *s, entry *e)
{
    ntg_error err;
    char ref[256];
    snprintf(ref, sizeof ref, "%s@%llu", e->name, (unsigned long long)e->version);
    pthread_mutex_lock(&s->store_mu);
    ntg_status st = ntg_store_get_plan(s->store, ref, &e->plan, &err);
    pthread_mutex_unlock(&s->store_mu);
    if (!st) {
        int mb = ntg_plan_max_batch(e->plan);
        if (mb > s->cfg.max_batch) mb = s->cfg.max_batch;
        if (mb < 1) mb = 1;
        ntg_session_options so;
        ntg_session_options_init(&so);
        so.backend = s->cfg.backend;
        so.threads = s->cfg.threads;
        so.max_batch = mb;
        st = ntg_forecaster_create(e->plan, &so, &e->fc, &err);
        if (!st) {
            e->max_batch = mb;
            e->input_size = ntg_forecaster_input_size(e->fc);
            e->h = ntg_forecaster_horizon(e->fc);
            /* the plan's parameters, the session's packed copy of them, and its arena */
            uint64_t params = ntg_plan_param_elements(e->plan) * 4u;
            uint64_t arena = ntg_plan_arena_bytes(e->plan);
            int pmb = ntg_plan_max_batch(e->plan);
            if (pmb > 0) arena = arena / (uint64_t)pmb * (uint64_t)mb;
            e->bytes = (size_t)(2 * params + arena + 4096);
        }
    }
    e->load_st = st;
    if (st) snprintf(e->load_msg, sizeof e->load_msg, "%s", err.message);
}

/* A held entry for NAME@REF (release it with release()); on failure a response in r. */
static entry *acquire(ntg__serve *s, const char *model_ref, ntg__serve_resp *r)
{
    char name[200], refpart[80];
    const char *at = strchr(model_ref, '@');
    size_t nl = at ? (size_t)(at - model_ref) : strlen(model_ref);
    if (nl == 0 || nl >= sizeof name) {
        fail(r, 400, "bad model reference '%s': expected NAME or NAME@REF", model_ref);
        return NULL;
    }
    memcpy(name, model_ref, nl);
    name[nl] = 0;
    snprintf(refpart, sizeof refpart, "%s", at ? at + 1 : "latest");
    if (!ntg__store_valid_model_name(name) || !valid_ref_part(refpart) ||
        (at && strlen(at + 1) >= sizeof refpart)) {
        fail(r, 400,
             "bad model reference '%s': names are [A-Za-z0-9_.-]{1,128}, refs a version number "
             "or an alias",
             model_ref);
        return NULL;
    }
    uint64_t version;
    ntg_error err;
    ntg_status st = resolve(s, name, refpart, &version, &err);
    if (st) {
        fail(r, http_status(st), "%s", err.message);
        return NULL;
    }
    pthread_mutex_lock(&s->cache_mu);
    entry *e;
    for (;;) {
        for (e = s->lru_head; e; e = e->next)
            if (e->version == version && strcmp(e->name, name) == 0) break;
        if (!e || e->state != E_LOADING) break;
        e->refs++;
        while (e->state == E_LOADING) pthread_cond_wait(&s->cache_cv, &s->cache_mu);
        e->refs--;
        if (e->state == E_FAILED) {
            char msg[768];
            snprintf(msg, sizeof msg, "%s", e->load_msg);
            ntg_status lst = e->load_st;
            if (e->refs == 0 && !e->in_table) entry_free(e);
            pthread_mutex_unlock(&s->cache_mu);
            fail(r, http_status(lst), "model %s version %llu: %s", name,
                 (unsigned long long)version, msg);
            return NULL;
        }
    }
    if (e) {
        atomic_fetch_add(&s->m.cache_hits, 1);
        e->refs++;
        lru_unlink(s, e);
        lru_push_front(s, e);
        pthread_mutex_unlock(&s->cache_mu);
        return e;
    }
    atomic_fetch_add(&s->m.cache_misses, 1);
    e = calloc(1, sizeof *e);
    if (!e || !(e->name = xstrdup(name))) {
        free(e);
        pthread_mutex_unlock(&s->cache_mu);
        fail(r, 503, "out of memory loading model %s", name);
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->version = version;
    e->state = E_LOADING;
    e->refs = 1;
    e->in_table = 1;
    lru_push_front(s, e);
    s->n_entries++;
    pthread_mutex_unlock(&s->cache_mu);

    load_entry(s, e);

    pthread_mutex_lock(&s->cache_mu);
    if (e->load_st) {
        e->state = E_FAILED;
        lru_unlink(s, e);
        e->in_table = 0;
        s->n_entries--;
        ntg_status lst = e->load_st;
        char msg[768];
        snprintf(msg, sizeof msg, "%s", e->load_msg);
        if (--e->refs == 0) entry_free(e);
        pthread_cond_broadcast(&s->cache_cv);
        pthread_mutex_unlock(&s->cache_mu);
        fail(r, http_status(lst), "model %s version %llu: %s", name, (unsigned long long)version,
             msg);
        return NULL;
    }
    e->state = E_READY;
    s->cache_bytes += e->bytes;
    shrink_locked(s, e);
    pthread_cond_broadcast(&s->cache_cv);
    pthread_mutex_unlock(&s->cache_mu);
    return e;
}

/* ------------------------------------------------------------- batching */

static long long mono_us(void)
{
    return (long long)(now_s() * 1e6);
}

static void result_unref(batch_result *b)
{
    if (b && --b->refs == 0) {
        ntg_forecast_destroy(b->f);
        free(b);
    }
}

/* Run the jobs from `first` (k of them, `windows` windows) as one batch (e->mu not held; only
 * the leader calls this).  When the batch fails, each job runs alone so that one bad window
 * fails only its own request. */
static void run_batch(ntg__serve *s, entry *e, job *first, size_t k, size_t windows)
{
    ntg_window *all = malloc(windows * sizeof *all);
    ntg_status st = all ? NTG_OK : NTG_ERR_NOMEM;
    ntg_forecast *f = NULL;
    ntg_error err;
    if (all) {
        size_t c = 0;
        job *j = first;
        for (size_t i = 0; i < k; i++, j = j->next) {
            memcpy(all + c, j->w, j->n * sizeof *all);
            j->col0 = c;
            c += j->n;
        }
        st = ntg_forecaster_run(e->fc, all, windows, &f, &err);
        free(all);
    }
    if (!st) {
        count_batch(s, windows, k);
        batch_result *b = malloc(sizeof *b);
        if (b) {
            b->f = f;
            b->refs = (int)k;
            job *j = first;
            for (size_t i = 0; i < k; i++, j = j->next) j->res = b;
            return;
        }
        ntg_forecast_destroy(f);
        st = NTG_ERR_NOMEM;
    }
    job *j = first;
    for (size_t i = 0; i < k; i++, j = j->next) {
        ntg_error e1;
        ntg_forecast *f1 = NULL;
        ntg_status s1 = k == 1 ? st : ntg_forecaster_run(e->fc, j->w, j->n, &f1, &e1);
        if (k == 1 && st) e1 = err;
        if (!s1) {
            count_batch(s, j->n, 1);
            batch_result *b = malloc(sizeof *b);
            if (b) {
                b->f = f1;
                b->refs = 1;
                j->res = b;
                j->col0 = 0;
                continue;
            }
            ntg_forecast_destroy(f1);
            s1 = NTG_ERR_NOMEM;
            snprintf(e1.message, sizeof e1.message, "out of memory");
        }
        j->st = s1;
        snprintf(j->msg, sizeof j->msg, "%s",
                 st == NTG_ERR_NOMEM && k == 1 ? "out of memory" : e1.message);
    }
}

/* Submit a job and wait for its result: the first waiter without a leader leads, gathering
 * jobs for up to batch_delay_us (less once every request holding the model has submitted, or
 * the batch is full), then runs them and wakes the others. */
static void submit(ntg__serve *s, entry *e, job *jb)
{
    pthread_mutex_lock(&e->mu);
    jb->next = NULL;
    if (e->tail)
        e->tail->next = jb;
    else
        e->head = jb;
    e->tail = jb;
    e->pending_jobs++;
    e->pending_windows += jb->n;
    pthread_cond_broadcast(&e->cv);
    while (!jb->done) {
        if (e->leader) {
            pthread_cond_wait(&e->cv, &e->mu);
            continue;
        }
        e->leader = 1;
        long long end = mono_us() + s->cfg.batch_delay_us;
        while (e->pending_jobs < e->expected && e->pending_windows < (size_t)e->max_batch) {
            long long left = end - mono_us();
            if (left <= 0) break;
            struct timespec t;
            deadline_after(&t, (long)left);
            pthread_cond_timedwait(&e->cv, &e->mu, &t);
        }
        /* take whole jobs up to max_batch windows (at least one) */
        job *first = e->head, *last = first;
        size_t k = 1, windows = first->n;
        while (last->next && windows + last->next->n <= (size_t)e->max_batch) {
            last = last->next;
            windows += last->n;
            k++;
        }
        e->head = last->next;
        if (!e->head) e->tail = NULL;
        e->pending_jobs -= k;
        e->pending_windows -= windows;
        pthread_mutex_unlock(&e->mu);

        run_batch(s, e, first, k, windows);

        pthread_mutex_lock(&e->mu);
        job *j = first;
        for (size_t i = 0; i < k; i++) {
            job *nx = j->next;
            j->done = 1;
            j = nx;
        }
        e->expected -= k;
        e->leader = 0;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
}

static void expect(entry *e, int delta)
{
    pthread_mutex_lock(&e->mu);
    if (delta > 0)
        e->expected++;
    else {
        e->expected--;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
}

/* ------------------------------------------------------------- responses */

static int cmp_level(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* A classification head's classes (2: down, up; 3: down, flat, up: docs/training.md):
 * "classes", "forecast" as the most probable class per step and "probabilities" per class. */
static void write_classes(out *o, const ntg_forecast *f, size_t col0, size_t n,
                          const char *const *names)
{
    static const char *const cls2[] = {"down", "up"}, *const cls3[] = {"down", "flat", "up"};
    size_t C = ntg_forecast_classes(f), h = ntg_forecast_horizon(f);
    const char *const *cname = C == 3 ? cls3 : cls2;
    if (C > 3) C = 3; /* ntg_forecast_classes is 2 or 3 */
    fputs(",\"classes\":[", o->f);
    for (size_t k = 0; k < C; k++) {
        if (k) fputc(',', o->f);
        ntg__json_put_string(o->f, cname[k]);
    }
    fputs("],\"forecast\":{", o->f);
    for (size_t c = 0; c < n; c++) {
        if (c) fputc(',', o->f);
        ntg__json_put_string(o->f, names[c]);
        fputs(":[", o->f);
        for (size_t t = 0; t < h; t++) {
            size_t best = 0;
            for (size_t k = 1; k < C; k++)
                if (ntg_forecast_value(f, col0 + c, t, k) >
                    ntg_forecast_value(f, col0 + c, t, best))
                    best = k;
            if (t) fputc(',', o->f);
            ntg__json_put_string(o->f, cname[best]);
        }
        fputc(']', o->f);
    }
    fputs("},\"probabilities\":{", o->f);
    for (size_t c = 0; c < n; c++) {
        if (c) fputc(',', o->f);
        ntg__json_put_string(o->f, names[c]);
        fputs(":{", o->f);
        for (size_t k = 0; k < C; k++) {
            if (k) fputc(',', o->f);
            ntg__json_put_string(o->f, cname[k]);
            fputs(":[", o->f);
            for (size_t t = 0; t < h; t++) {
                if (t) fputc(',', o->f);
                out_num(o, ntg_forecast_value(f, col0 + c, t, k));
            }
            fputc(']', o->f);
        }
        fputc('}', o->f);
    }
    fputc('}', o->f);
}

/* {"model", "version", "forecast", "quantiles"?, "timestamps"?} for columns col0.. of f
 * (a classifier: "classes", "forecast" of class names, "probabilities"). */
static void write_forecast(out *o, const entry *e, const ntg_forecast *f, size_t col0, size_t n,
                           const char *const *names, int with_dates)
{
    fputs("{\"model\":", o->f);
    ntg__json_put_string(o->f, e->name);
    fprintf(o->f, ",\"version\":%llu,\"input_size\":%zu,\"h\":%zu", (unsigned long long)e->version,
            e->input_size, e->h);
    size_t h = ntg_forecast_horizon(f);
    if (ntg_forecast_classes(f))
        write_classes(o, f, col0, n, names);
    else
        fputs(",\"forecast\":{", o->f);
    for (size_t c = 0; !ntg_forecast_classes(f) && c < n; c++) {
        if (c) fputc(',', o->f);
        ntg__json_put_string(o->f, names[c]);
        fputs(":[", o->f);
        for (size_t t = 0; t < h; t++) {
            if (t) fputc(',', o->f);
            out_num(o, ntg_forecast_value(f, col0 + c, t, 0));
        }
        fputc(']', o->f);
    }
    if (!ntg_forecast_classes(f)) fputc('}', o->f);
    size_t nq = ntg_forecast_quantiles(f);
    if (nq > 0 && nq <= 64) {
        double lv[64][2];
        for (size_t q = 0; q < nq; q++) {
            lv[q][0] = ntg_forecast_quantile_level(f, q);
            lv[q][1] = (double)q;
        }
        qsort(lv, nq, sizeof lv[0], cmp_level);
        fputs(",\"quantiles\":{", o->f);
        for (size_t c = 0; c < n; c++) {
            if (c) fputc(',', o->f);
            ntg__json_put_string(o->f, names[c]);
            fputs(":{", o->f);
            for (size_t i = 0; i < nq; i++) {
                char lvl[64];
                snprintf(lvl, sizeof lvl, "%g", lv[i][0]);
                if (i) fputc(',', o->f);
                ntg__json_put_string(o->f, lvl);
                fputs(":[", o->f);
                for (size_t t = 0; t < h; t++) {
                    if (t) fputc(',', o->f);
                    out_num(o, ntg_forecast_value(f, col0 + c, t, (size_t)lv[i][1]));
                }
                fputc(']', o->f);
            }
            fputc('}', o->f);
        }
        fputc('}', o->f);
    }
    if (with_dates && ntg_forecast_column_date(f, col0, 0)) {
        fputs(",\"timestamps\":[", o->f);
        for (size_t t = 0; t < h; t++) {
            const char *d = ntg_forecast_column_date(f, col0, t);
            if (t) fputc(',', o->f);
            ntg__json_put_string(o->f, d ? d : "");
        }
        fputc(']', o->f);
    }
}

/* Forecast n windows on a held entry and write the response (the entry stays held). */
static void forecast_on(ntg__serve *s, entry *e, ntg_window *w, size_t n, const char *const *names,
                        int with_dates, const char *extra_json, ntg__serve_resp *r)
{
    job jb;
    memset(&jb, 0, sizeof jb);
    jb.w = w;
    jb.n = n;
    submit(s, e, &jb);
    if (jb.st) {
        /* NOT_FOUND here is a column the model's scaler does not know: the client's mistake
         * in the body, not a missing resource */
        fail(r, jb.st == NTG_ERR_NOT_FOUND ? 400 : http_status(jb.st), "model %s version %llu: %s",
             e->name, (unsigned long long)e->version, jb.msg);
        return;
    }
    out o;
    if (out_open(&o)) {
        fail(r, 503, "out of memory");
    } else {
        write_forecast(&o, e, jb.res->f, jb.col0, n, names, with_dates);
        if (extra_json) fputs(extra_json, o.f);
        fputs("}\n", o.f);
        out_finish(&o, 200, r);
    }
    pthread_mutex_lock(&e->mu);
    result_unref(jb.res);
    pthread_mutex_unlock(&e->mu);
}

/* Check the windows' lengths against the model: exactly input_size values (and stamps). */
static int check_lengths(const entry *e, const ntg__serve_req *q, ntg__serve_resp *r)
{
    for (size_t i = 0; i < q->n_series; i++)
        if (q->n_values[i] != e->input_size) {
            fail(r, 400,
                 "series '%s' has %zu values; model %s version %llu takes exactly %zu "
                 "(its input_size)",
                 q->names[i], q->n_values[i], e->name, (unsigned long long)e->version,
                 e->input_size);
            return -1;
        }
    if (q->timestamps && q->n_timestamps != e->input_size) {
        fail(r, 400, "\"timestamps\" has %zu entries; model %s version %llu takes exactly %zu",
             q->n_timestamps, e->name, (unsigned long long)e->version, e->input_size);
        return -1;
    }
    /* historic covariates cover the window, future ones the window and the horizon */
    for (size_t i = 0; i < q->n_cov; i++) {
        if (q->cov_kind[i] == NTG__SERVE_STAT) continue;
        int futr = q->cov_kind[i] == NTG__SERVE_FUTR;
        size_t want = e->input_size + (futr ? e->h : 0);
        if (q->cov_n[i] != want) {
            fail(r, 400, "\"%s\" '%s' has %zu values; model %s version %llu takes exactly %zu (%s)",
                 futr ? "futr_exog" : "hist_exog", q->cov_names[i], q->cov_n[i], e->name,
                 (unsigned long long)e->version, want,
                 futr ? "input_size + h: the window's steps and the horizon's" : "input_size");
            return -1;
        }
    }
    return 0;
}

static void handle_forecast(ntg__serve *s, const char *ref, const char *body, size_t len,
                            ntg__serve_resp *r)
{
    ntg_pool *pool = ntg__pool_create();
    if (!pool) {
        fail(r, 503, "out of memory");
        return;
    }
    ntg__serve_req q;
    char msg[512];
    ntg__serve_limits lim = {s->cfg.max_series, 1u << 20};
    ntg_status st = ntg__serve_decode(body, len, &lim, pool, &q, msg, sizeof msg);
    if (st) {
        if (st == NTG_ERR_NOMEM)
            fail(r, 503, "out of memory decoding the request");
        else
            fail(r, 400, "%s", msg);
        ntg__pool_destroy(pool);
        return;
    }
    if (q.model) {
        fail(r, 400, "unknown member 'model' (the model is named in the path)");
        ntg__pool_destroy(pool);
        return;
    }
    entry *e = acquire(s, ref, r);
    if (!e) {
        ntg__pool_destroy(pool);
        return;
    }
    expect(e, +1);
    if (check_lengths(e, &q, r)) {
        expect(e, -1);
    } else {
        ntg_window *w = ntg__pool_array(pool, q.n_series, sizeof *w);
        ntg_covariate *cv = ntg__pool_array(pool, q.n_cov + 1, sizeof *cv);
        if (!w || !cv) {
            expect(e, -1);
            fail(r, 503, "out of memory");
        } else {
            /* the request's covariates go with each of its series */
            for (size_t i = 0; i < q.n_cov; i++) {
                ntg_covariate_init(&cv[i]);
                cv[i].name = q.cov_names[i];
                cv[i].values = q.cov_values[i];
                cv[i].n_values = q.cov_n[i];
            }
            for (size_t i = 0; i < q.n_series; i++) {
                ntg_window_init(&w[i]);
                w[i].column = q.names[i];
                w[i].values = q.values[i];
                w[i].n_values = q.n_values[i];
                w[i].timestamps = q.timestamps;
                w[i].covariates = q.n_cov ? cv : NULL;
                w[i].n_covariates = q.n_cov;
            }
            forecast_on(s, e, w, q.n_series, q.names, q.timestamps != NULL, NULL, r);
        }
    }
    release(s, e);
    ntg__pool_destroy(pool);
}

/* --------------------------------------------------------------- streams */

static void stream_free(stream *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->n_series; i++) {
        free(st->names[i]);
        free(st->ring[i]);
    }
    free(st->names);
    free(st->ring);
    free(st->count);
    free(st->pos);
    free(st->ref);
    free(st);
}

/* Resize every ring to `cap` values, keeping the newest; all or nothing (on failure the
 * stream is as it was). */
static int stream_recap(stream *st, size_t cap)
{
    double **nr = calloc(st->n_series ? st->n_series : 1, sizeof *nr);
    if (!nr) return -1;
    for (size_t i = 0; i < st->n_series; i++)
        if (!(nr[i] = malloc(cap * sizeof **nr))) {
            for (size_t k = 0; k < i; k++) free(nr[k]);
            free(nr);
            return -1;
        }
    for (size_t i = 0; i < st->n_series; i++) {
        size_t keep = st->count[i] < cap ? st->count[i] : cap;
        for (size_t k = 0; k < keep; k++)
            nr[i][k] = st->ring[i][(st->pos[i] + st->cap - keep + k) % st->cap];
        free(st->ring[i]);
        st->ring[i] = nr[i];
        st->count[i] = keep;
        st->pos[i] = keep % cap;
    }
    free(nr);
    st->cap = cap;
    return 0;
}

static size_t series_index(stream *st, const char *name)
{
    for (size_t i = 0; i < st->n_series; i++)
        if (strcmp(st->names[i], name) == 0) return i;
    return (size_t)-1;
}

static int stream_add_series(stream *st, const char *name)
{
    size_t n = st->n_series + 1;
    char **nm = realloc(st->names, n * sizeof *nm);
    if (!nm) return -1;
    st->names = nm;
    double **rg = realloc(st->ring, n * sizeof *rg);
    if (!rg) return -1;
    st->ring = rg;
    size_t *ct = realloc(st->count, n * sizeof *ct);
    if (!ct) return -1;
    st->count = ct;
    size_t *ps = realloc(st->pos, n * sizeof *ps);
    if (!ps) return -1;
    st->pos = ps;
    st->names[n - 1] = xstrdup(name);
    st->ring[n - 1] = calloc(st->cap, sizeof(double));
    st->count[n - 1] = 0;
    st->pos[n - 1] = 0;
    if (!st->names[n - 1] || !st->ring[n - 1]) {
        free(st->names[n - 1]);
        free(st->ring[n - 1]);
        return -1;
    }
    st->n_series = n;
    return 0;
}

static void handle_observe(ntg__serve *s, const char *id, const char *body, size_t len,
                           ntg__serve_resp *r)
{
    if (!valid_ref_part(id)) {
        fail(r, 400, "bad stream id '%s': 1..64 of [A-Za-z0-9_.-]", id);
        return;
    }
    ntg_pool *pool = ntg__pool_create();
    if (!pool) {
        fail(r, 503, "out of memory");
        return;
    }
    ntg__serve_req q;
    char msg[512];
    ntg__serve_limits lim = {s->cfg.max_series, 1u << 20};
    ntg_status dst = ntg__serve_decode(body, len, &lim, pool, &q, msg, sizeof msg);
    if (dst) {
        fail(r, dst == NTG_ERR_NOMEM ? 503 : 400, "%s", msg);
        ntg__pool_destroy(pool);
        return;
    }
    if (q.timestamps || q.n_cov) {
        fail(r, 400, "\"%s\" are not taken by streams",
             q.timestamps                       ? "timestamps"
             : q.cov_kind[0] == NTG__SERVE_HIST ? "hist_exog"
             : q.cov_kind[0] == NTG__SERVE_FUTR ? "futr_exog"
                                                : "stat_exog");
        ntg__pool_destroy(pool);
        return;
    }
    /* find or create the stream, and mark it busy so observations apply in order */
    pthread_mutex_lock(&s->streams_mu);
    stream *st = NULL;
    for (;;) {
        st = NULL;
        for (size_t i = 0; i < s->n_streams; i++)
            if (strcmp(s->streams[i]->id, id) == 0) st = s->streams[i];
        if (!st || !st->busy) break;
        pthread_cond_wait(&s->streams_cv, &s->streams_mu);
    }
    if (!st) {
        if (!q.model) {
            pthread_mutex_unlock(&s->streams_mu);
            fail(r, 400, "stream '%s' is new: its first observation must name the \"model\"", id);
            ntg__pool_destroy(pool);
            return;
        }
        if (s->n_streams >= s->cfg.max_streams) {
            pthread_mutex_unlock(&s->streams_mu);
            fail(r, 429, "too many streams (at most %zu)", s->cfg.max_streams);
            ntg__pool_destroy(pool);
            return;
        }
        st = calloc(1, sizeof *st);
        stream **ns = realloc(s->streams, (s->n_streams + 1) * sizeof *ns);
        if (ns) s->streams = ns;
        if (!st || !ns || !(st->ref = xstrdup(q.model))) {
            if (st) free(st);
            pthread_mutex_unlock(&s->streams_mu);
            fail(r, 503, "out of memory");
            ntg__pool_destroy(pool);
            return;
        }
        snprintf(st->id, sizeof st->id, "%.64s", id);
        st->cap = 1;
        s->streams[s->n_streams++] = st;
    } else if (q.model && strcmp(q.model, st->ref) != 0) {
        char *nr = xstrdup(q.model);
        if (nr) {
            free(st->ref);
            st->ref = nr;
        }
    }
    st->busy = 1;
    char ref[256];
    snprintf(ref, sizeof ref, "%s", st->ref);
    pthread_mutex_unlock(&s->streams_mu);

    entry *e = acquire(s, ref, r);
    if (e) {
        expect(e, +1);
        int ok = 1;
        if (st->cap != e->input_size && stream_recap(st, e->input_size)) {
            ok = 0;
            fail(r, 503, "out of memory");
        }
        for (size_t i = 0; ok && i < q.n_series; i++) {
            size_t k = series_index(st, q.names[i]);
            if (k == (size_t)-1) {
                if (st->n_series >= s->cfg.max_series) {
                    ok = 0;
                    fail(r, 400, "stream '%s': too many series (at most %zu)", id,
                         s->cfg.max_series);
                    break;
                }
                if (stream_add_series(st, q.names[i])) {
                    ok = 0;
                    fail(r, 503, "out of memory");
                    break;
                }
                k = st->n_series - 1;
            }
            for (size_t j = 0; j < q.n_values[i]; j++) {
                st->ring[k][st->pos[k]] = q.values[i][j];
                st->pos[k] = (st->pos[k] + 1) % st->cap;
                if (st->count[k] < st->cap) st->count[k]++;
            }
        }
        if (ok && r->body == NULL) {
            size_t ready = 0;
            for (size_t i = 0; i < st->n_series; i++) ready += st->count[i] == st->cap;
            if (ready < st->n_series) {
                out o;
                expect(e, -1);
                if (out_open(&o)) {
                    fail(r, 503, "out of memory");
                } else {
                    fputs("{\"stream\":", o.f);
                    ntg__json_put_string(o.f, id);
                    fputs(",\"model\":", o.f);
                    ntg__json_put_string(o.f, e->name);
                    fprintf(o.f, ",\"version\":%llu,\"input_size\":%zu,\"observed\":{",
                            (unsigned long long)e->version, e->input_size);
                    for (size_t i = 0; i < st->n_series; i++) {
                        if (i) fputc(',', o.f);
                        ntg__json_put_string(o.f, st->names[i]);
                        fprintf(o.f, ":%zu", st->count[i]);
                    }
                    fputs("}}\n", o.f);
                    out_finish(&o, 200, r);
                }
            } else {
                ntg_window *w = ntg__pool_array(pool, st->n_series, sizeof *w);
                const char **names = ntg__pool_array(pool, st->n_series, sizeof *names);
                int good = w && names;
                for (size_t i = 0; good && i < st->n_series; i++) {
                    double *v = ntg__pool_array(pool, st->cap, sizeof *v);
                    if (!v) {
                        good = 0;
                        break;
                    }
                    for (size_t k = 0; k < st->cap; k++)
                        v[k] = st->ring[i][(st->pos[i] + k) % st->cap];
                    names[i] = ntg__pool_strdup(pool, st->names[i]);
                    ntg_window_init(&w[i]);
                    w[i].column = names[i];
                    w[i].values = v;
                    w[i].n_values = st->cap;
                    if (!names[i]) good = 0;
                }
                if (!good) {
                    expect(e, -1);
                    fail(r, 503, "out of memory");
                } else {
                    char extra[160];
                    snprintf(extra, sizeof extra, ",\"stream\":\"%.64s\"", id);
                    forecast_on(s, e, w, st->n_series, names, 0, extra, r);
                }
            }
        } else {
            expect(e, -1);
        }
        release(s, e);
    }
    pthread_mutex_lock(&s->streams_mu);
    st->busy = 0;
    pthread_cond_broadcast(&s->streams_cv);
    pthread_mutex_unlock(&s->streams_mu);
    ntg__pool_destroy(pool);
}

/* ----------------------------------------------------------- other routes */

static void handle_models(ntg__serve *s, ntg__serve_resp *r)
{
    ntg_store_list *list = NULL;
    ntg_error err;
    pthread_mutex_lock(&s->store_mu);
    ntg_status st = since_refresh(s) > 0.05 ? refresh_locked(s, &err) : NTG_OK;
    if (!st) st = ntg_store_list_versions(s->store, NULL, &list, &err);
    pthread_mutex_unlock(&s->store_mu);
    if (st) {
        fail(r, 503, "the store cannot be listed: %s", err.message);
        return;
    }
    out o;
    if (out_open(&o)) {
        ntg_store_list_destroy(list);
        fail(r, 503, "out of memory");
        return;
    }
    fputs("{\"models\":[", o.f);
    for (size_t i = 0; i < ntg_store_list_count(list); i++) {
        const ntg_store_version *v = ntg_store_list_at(list, i);
        if (i) fputc(',', o.f);
        fputs("{\"name\":", o.f);
        ntg__json_put_string(o.f, v->name);
        fprintf(o.f, ",\"latest\":%llu,\"versions\":%llu,\"kind\":", (unsigned long long)v->version,
                (unsigned long long)v->model_versions);
        ntg__json_put_string(o.f, v->kind ? v->kind : "");
        fputs(",\"aliases\":[", o.f);
        for (size_t a = 0; a < v->n_aliases; a++) {
            if (a) fputc(',', o.f);
            ntg__json_put_string(o.f, v->aliases[a]);
        }
        fputs("],\"hparams\":{", o.f);
        for (size_t k = 0; k < v->n_hparams; k++) {
            if (k) fputc(',', o.f);
            ntg__json_put_string(o.f, v->hparams[k].name);
            fputc(':', o.f);
            ntg__json_put_string(o.f, v->hparams[k].value);
        }
        fprintf(o.f, "},\"created_ms\":%lld}", (long long)v->model_created_ms);
    }
    fputs("]}\n", o.f);
    ntg_store_list_destroy(list);
    out_finish(&o, 200, r);
}

static void handle_metrics(ntg__serve *s, ntg__serve_resp *r)
{
    out o;
    if (out_open(&o)) {
        fail(r, 503, "out of memory");
        return;
    }
    FILE *f = o.f;
    metrics *m = &s->m;
    fputs("# HELP ntgraph_serve_requests_total Requests answered, by HTTP status.\n"
          "# TYPE ntgraph_serve_requests_total counter\n",
          f);
    for (int c = 100; c < 600; c++) {
        unsigned long v = atomic_load(&m->by_status[c]);
        if (v) fprintf(f, "ntgraph_serve_requests_total{status=\"%d\"} %lu\n", c, v);
    }
    fputs("# HELP ntgraph_serve_request_seconds Time from a request's arrival to its response.\n"
          "# TYPE ntgraph_serve_request_seconds histogram\n",
          f);
    unsigned long cum = 0;
    for (size_t b = 0; b <= N_LAT; b++) {
        cum += atomic_load(&m->lat[b]);
        if (b < N_LAT)
            fprintf(f, "ntgraph_serve_request_seconds_bucket{le=\"%g\"} %lu\n", lat_le[b], cum);
        else
            fprintf(f, "ntgraph_serve_request_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
    }
    fprintf(f, "ntgraph_serve_request_seconds_sum %.9f\nntgraph_serve_request_seconds_count %lu\n",
            (double)atomic_load(&m->lat_sum_ns) * 1e-9, cum);
    fputs("# HELP ntgraph_serve_batch_size Windows per model run (concurrent requests coalesced).\n"
          "# TYPE ntgraph_serve_batch_size histogram\n",
          f);
    cum = 0;
    for (size_t b = 0; b <= N_BATCH; b++) {
        cum += atomic_load(&m->batch[b]);
        if (b < N_BATCH)
            fprintf(f, "ntgraph_serve_batch_size_bucket{le=\"%d\"} %lu\n", batch_le[b], cum);
        else
            fprintf(f, "ntgraph_serve_batch_size_bucket{le=\"+Inf\"} %lu\n", cum);
    }
    fprintf(f, "ntgraph_serve_batch_size_sum %lu\nntgraph_serve_batch_size_count %lu\n",
            atomic_load(&m->batch_windows), cum);
    fprintf(f,
            "# HELP ntgraph_serve_batch_requests_total Requests served by batched runs.\n"
            "# TYPE ntgraph_serve_batch_requests_total counter\n"
            "ntgraph_serve_batch_requests_total %lu\n",
            atomic_load(&m->batch_requests));
    pthread_mutex_lock(&s->cache_mu);
    size_t entries = s->n_entries, bytes = s->cache_bytes;
    pthread_mutex_unlock(&s->cache_mu);
    fprintf(f,
            "# HELP ntgraph_serve_cache_hits_total Plan cache lookups that found the version.\n"
            "# TYPE ntgraph_serve_cache_hits_total counter\n"
            "ntgraph_serve_cache_hits_total %lu\n"
            "# HELP ntgraph_serve_cache_misses_total Plan cache lookups that loaded it.\n"
            "# TYPE ntgraph_serve_cache_misses_total counter\n"
            "ntgraph_serve_cache_misses_total %lu\n"
            "# HELP ntgraph_serve_cache_evictions_total Versions evicted to fit --cache-mb.\n"
            "# TYPE ntgraph_serve_cache_evictions_total counter\n"
            "ntgraph_serve_cache_evictions_total %lu\n"
            "# HELP ntgraph_serve_cache_entries Versions in the plan cache.\n"
            "# TYPE ntgraph_serve_cache_entries gauge\n"
            "ntgraph_serve_cache_entries %zu\n"
            "# HELP ntgraph_serve_cache_bytes Estimated bytes of the cached versions.\n"
            "# TYPE ntgraph_serve_cache_bytes gauge\n"
            "ntgraph_serve_cache_bytes %zu\n"
            "# HELP ntgraph_serve_alias_switches_total Aliases seen to move to another version.\n"
            "# TYPE ntgraph_serve_alias_switches_total counter\n"
            "ntgraph_serve_alias_switches_total %lu\n",
            atomic_load(&m->cache_hits), atomic_load(&m->cache_misses),
            atomic_load(&m->cache_evictions), entries, bytes, atomic_load(&m->alias_switches));
    out_finish(&o, 200, r);
    r->content_type = "text/plain; version=0.0.4";
}

/* "/v1/models/REF/forecast" → REF (into buf); NULL when the path is not of that form. */
static const char *path_arg(const char *path, const char *prefix, const char *suffix, char *buf,
                            size_t cap)
{
    size_t np = strlen(prefix), ns = strlen(suffix), n = strlen(path);
    if (n <= np + ns || strncmp(path, prefix, np) != 0 || strcmp(path + n - ns, suffix) != 0)
        return NULL;
    size_t k = n - np - ns;
    if (k >= cap || memchr(path + np, '/', k)) return NULL;
    memcpy(buf, path + np, k);
    buf[k] = 0;
    return buf;
}

void ntg__serve_handle(ntg__serve *s, const char *method, const char *path, const char *body,
                       size_t len, ntg__serve_resp *r)
{
    double t0 = now_s();
    memset(r, 0, sizeof *r);
    r->content_type = "application/json";
    char arg[300];
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (path_arg(path, "/v1/models/", "/forecast", arg, sizeof arg)) {
        if (post)
            handle_forecast(s, arg, body, len, r);
        else
            fail(r, 405, "%s %s: use POST", method, path);
    } else if (path_arg(path, "/v1/streams/", "/observe", arg, sizeof arg)) {
        if (post)
            handle_observe(s, arg, body, len, r);
        else
            fail(r, 405, "%s %s: use POST", method, path);
    } else if (strcmp(path, "/v1/models") == 0) {
        if (get)
            handle_models(s, r);
        else
            fail(r, 405, "%s %s: use GET", method, path);
    } else if (strcmp(path, "/healthz") == 0) {
        if (get) {
            r->status = 200;
            r->body = xstrdup("{\"status\":\"ok\"}\n");
            r->len = r->body ? strlen(r->body) : 0;
            if (!r->body) r->status = 503;
        } else
            fail(r, 405, "%s %s: use GET", method, path);
    } else if (strcmp(path, "/metrics") == 0) {
        if (get)
            handle_metrics(s, r);
        else
            fail(r, 405, "%s %s: use GET", method, path);
    } else {
        fail(r, 404,
             "no route %s %s (POST /v1/models/NAME[@REF]/forecast, POST "
             "/v1/streams/ID/observe, GET /v1/models, GET /healthz, GET /metrics)",
             method, path);
    }
    ntg__serve_count(s, r->status, now_s() - t0);
}

/* ------------------------------------------------------------ lifecycle */

ntg_status ntg__serve_create(const ntg__serve_config *cfg, ntg__serve **out_s, ntg_error *err)
{
    *out_s = NULL;
    ntg__serve *s = calloc(1, sizeof *s);
    if (!s) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    s->cfg = *cfg;
    pthread_mutex_init(&s->store_mu, NULL);
    pthread_mutex_init(&s->cache_mu, NULL);
    pthread_cond_init(&s->cache_cv, NULL);
    pthread_mutex_init(&s->streams_mu, NULL);
    pthread_cond_init(&s->streams_cv, NULL);
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    ntg_store_options so;
    ntg_store_options_init(&so);
    so.flags = NTG_STORE_OPEN_READONLY;
    ntg_status st = ntg_store_open(cfg->db, &so, &s->store, err);
    if (st) {
        ntg__serve_destroy(s);
        return st;
    }
    clock_gettime(CLOCK_MONOTONIC, &s->last_refresh);
    if (pthread_create(&s->poller, NULL, poll_main, s) != 0) {
        ntg__serve_destroy(s);
        return ntg__fail(err, NTG_ERR_NOMEM, "cannot start the store poller thread");
    }
    s->poller_started = 1;
    *out_s = s;
    return NTG_OK;
}

void ntg__serve_destroy(ntg__serve *s)
{
    if (!s) return;
    if (s->poller_started) {
        pthread_mutex_lock(&s->stop_mu);
        s->stopping = 1;
        pthread_cond_broadcast(&s->stop_cv);
        pthread_mutex_unlock(&s->stop_mu);
        pthread_join(s->poller, NULL);
    }
    entry *e = s->lru_head;
    while (e) {
        entry *nx = e->next;
        entry_free(e);
        e = nx;
    }
    for (size_t i = 0; i < s->n_res; i++) {
        free(s->res[i].ref);
        free(s->res[i].name);
    }
    free(s->res);
    for (size_t i = 0; i < s->n_streams; i++) stream_free(s->streams[i]);
    free(s->streams);
    ntg_store_close(s->store);
    pthread_mutex_destroy(&s->store_mu);
    pthread_mutex_destroy(&s->cache_mu);
    pthread_cond_destroy(&s->cache_cv);
    pthread_mutex_destroy(&s->streams_mu);
    pthread_cond_destroy(&s->streams_cv);
    pthread_mutex_destroy(&s->stop_mu);
    pthread_cond_destroy(&s->stop_cv);
    free(s);
}
