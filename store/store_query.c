/* store_query.c — the read side: plans by reference, filtered listings, similarity, checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan_int.h"
#include "store_int.h"

/* ------------------------------------------------------------------ retries */

/* Run fn on a consistent view.  A reader (read-only instance) can open in the middle of a
 * writer's flush and see a view with a recent commit missing, or a version whose chunks it
 * cannot see yet; it then catches up and tries again. */
typedef ntg_status (*view_fn)(ntg_store *s, const ntg__view *v, void *arg, ntg_error *err);

static void pause_ms(long ms)
{
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

static ntg_status with_view(ntg_store *s, view_fn fn, void *arg, void (*reset)(void *arg),
                            ntg_error *err)
{
    for (int attempt = 0;; attempt++) {
        ntg__view v;
        int ok = 1;
        s->missing = 0;
        ntg_status st = ntg__view_begin(s, &v, err);
        if (!st) st = ntg__view_consistent(s, &v, &ok, err);
        if (!st && ok) st = fn(s, &v, arg, err);
        ntg__view_end(s, &v);
        int retry = s->readonly && ((!st && !ok) || (st && s->missing));
        if (!retry || attempt >= 40) {
            if (!st && !ok)
                st = ntg__store_fail(s, err, NTG_ERR_DATA,
                                     "the store's recent commits are incomplete (a writer "
                                     "crashed during a flush?); open it for writing once");
            s->catchups = 0;
            return st;
        }
        if (reset) reset(arg);
        pause_ms(attempt < 3 ? 5 * (attempt + 1) : 20);
        if ((st = ntg__store_catch_up(s, err))) return st;
    }
}

/* ------------------------------------------------------------------ lists */

struct ntg_store_list {
    ntg_pool *pool;
    ntg_vec v; /* ntg_store_version */
};

size_t ntg_store_list_count(const ntg_store_list *l)
{
    return l ? l->v.len : 0;
}

const ntg_store_version *ntg_store_list_at(const ntg_store_list *l, size_t i)
{
    return l && i < l->v.len ? ntg__vec_at(&l->v, i) : NULL;
}

void ntg_store_list_destroy(ntg_store_list *l)
{
    if (!l) return;
    ntg__vec_free(&l->v);
    ntg__pool_destroy(l->pool);
    free(l);
}

static ntg_store_list *list_new(void)
{
    ntg_store_list *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->pool = ntg__pool_create();
    ntg__vec_init(&l->v, sizeof(ntg_store_version));
    if (!l->pool) {
        free(l);
        return NULL;
    }
    return l;
}

static void list_clear(ntg_store_list *l)
{
    l->v.len = 0;
}

/* Aliases of one model: names and versions (pool memory). */
typedef struct alias_set {
    size_t n;
    const char **names;
    uint64_t *versions;
} alias_set;

static ntg_status load_aliases(ntg_store *s, const ntg__view *v, const char *name, ntg_pool *pool,
                               alias_set *a, ntg_error *err)
{
    memset(a, 0, sizeof *a);
    ntg__buf prefix = {0}, upper;
    ntg__buf_cstr(&prefix, name);
    if (prefix.oom) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it =
        ntg__iter_prefix(s, v, NTG__CF_ALIASES, prefix.p, prefix.len, &upper, &ro);
    size_t cap = 0;
    ntg_status st = NTG_OK;
    for (; it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        if (kl <= prefix.len || vl != 8) continue;
        if (a->n == cap) {
            size_t nc = cap ? 2 * cap : 8;
            const char **nn = ntg__pool_array(pool, nc, sizeof *nn);
            uint64_t *nv = ntg__pool_array(pool, nc, sizeof *nv);
            if (!nn || !nv) {
                st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
                break;
            }
            if (a->n) {
                memcpy(nn, a->names, a->n * sizeof *nn);
                memcpy(nv, a->versions, a->n * sizeof *nv);
            }
            a->names = nn;
            a->versions = nv;
            cap = nc;
        }
        a->names[a->n] = ntg__pool_strndup(pool, k + prefix.len, kl - prefix.len);
        a->versions[a->n] = ntg__be64((const uint8_t *)val);
        if (!a->names[a->n]) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        a->n++;
    }
    if (!it && !st) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__iter_end(it, ro, &upper);
    ntg__sb_free(&prefix);
    return st;
}

/* Tags of (name, version) — version 0: the model's. */
static ntg_status load_tags(ntg_store *s, const ntg__view *v, const char *name, uint64_t version,
                            ntg_pool *pool, const ntg_define **out, size_t *n, ntg_error *err)
{
    *out = NULL;
    *n = 0;
    ntg__buf prefix = {0}, upper;
    ntg__key_named(&prefix, name, version);
    if (prefix.oom) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it =
        ntg__iter_prefix(s, v, NTG__CF_TAGS, prefix.p, prefix.len, &upper, &ro);
    ntg_vec tags;
    ntg__vec_init(&tags, sizeof(ntg_define));
    ntg_status st = it ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (; !st && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        ntg_define *d = ntg__vec_push(&tags);
        if (d) {
            d->name = ntg__pool_strndup(pool, k + prefix.len, kl - prefix.len);
            d->value = ntg__pool_strndup(pool, val, vl);
        }
        if (!d || !d->name || !d->value) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    ntg__iter_end(it, ro, &upper);
    ntg__sb_free(&prefix);
    if (!st && tags.len) {
        ntg_define *copy = ntg__pool_array(pool, tags.len, sizeof *copy);
        if (!copy)
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        else {
            memcpy(copy, tags.data, tags.len * sizeof *copy);
            *out = copy;
            *n = tags.len;
        }
    }
    ntg__vec_free(&tags);
    return st;
}

static const char *tag_value(const ntg_define *t, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, key) == 0) return t[i].value;
    return NULL;
}

/* Everything about one model a listing needs. */
typedef struct model_ctx {
    const char *name;
    ntg__model_rec m;
    alias_set aliases;
    const ntg_define *tags;
    size_t n_tags;
} model_ctx;

static ntg_status model_load(ntg_store *s, const ntg__view *v, const char *name, ntg_pool *pool,
                             model_ctx *mc, int *found, ntg_error *err)
{
    memset(mc, 0, sizeof *mc);
    mc->name = name;
    ntg_status st = ntg__get_model(s, v, name, pool, &mc->m, found, err);
    if (!st && *found) st = load_aliases(s, v, name, pool, &mc->aliases, err);
    if (!st && *found) st = load_tags(s, v, name, 0, pool, &mc->tags, &mc->n_tags, err);
    return st;
}

static ntg_status fill(ntg_store *s, const ntg__view *v, const model_ctx *mc,
                       const ntg__version_rec *r, ntg_pool *pool, ntg_store_version *out,
                       ntg_error *err)
{
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    out->name = mc->name;
    out->version = r->version;
    out->kind = r->kind;
    out->description = r->description;
    out->created_ms = r->created_ms;
    out->parent = r->parent;
    char *hex = ntg__pool_alloc(pool, 2 * NTG__HASH + 1);
    if (!hex) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__hex(r->plan_hash, NTG__HASH, hex);
    out->plan_hash = hex;
    out->plan_bytes = r->plan_bytes;
    out->param_elements = r->param_elements;
    out->weight_bytes = r->weight_bytes;
    out->data_sha256 = r->data_sha256;
    out->data_split = r->data_split;
    out->metrics = r->metrics;
    out->n_metrics = r->n_metrics;
    out->hparams = r->hparams;
    out->n_hparams = r->n_hparams;
    out->model_tags = mc->tags;
    out->n_model_tags = mc->n_tags;
    out->model_versions = mc->m.n_versions;
    out->model_description = mc->m.description ? mc->m.description : "";
    out->model_created_ms = mc->m.created_ms;
    out->score = NAN;
    size_t na = 0;
    for (size_t i = 0; i < mc->aliases.n; i++) na += mc->aliases.versions[i] == r->version;
    const char **al = ntg__pool_array(pool, na + 1, sizeof *al);
    if (!al) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    na = 0;
    for (size_t i = 0; i < mc->aliases.n; i++)
        if (mc->aliases.versions[i] == r->version) al[na++] = mc->aliases.names[i];
    out->aliases = al;
    out->n_aliases = na;
    ntg_status st = load_tags(s, v, mc->name, r->version, pool, &out->tags, &out->n_tags, err);
    if (st || !r->tensors) return st;
    ntg_store_tensor *t = ntg__pool_array(pool, r->n_tensors + 1, sizeof *t);
    if (!t) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n_tensors; i++) {
        const ntg__tensor *e = &r->tensors[i];
        t[i].name = e->name;
        t[i].role = (ntg_role)e->role;
        t[i].rank = e->rank;
        for (int d = 0; d < e->rank; d++) t[i].shape[d] = (int64_t)e->dims[d];
        t[i].nbytes = e->obj.nbytes;
        char *h = ntg__pool_alloc(pool, 2 * NTG__HASH + 1);
        if (!h) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        ntg__hex(e->obj.hash, NTG__HASH, h);
        t[i].hash = h;
    }
    out->tensors = t;
    out->n_tensors = r->n_tensors;
    return NTG_OK;
}

/* The version-level conditions of a filter (name conditions are checked by the caller). */
static ntg_status matches(ntg_store *s, const ntg__view *v, const ntg_store_filter *f,
                          const model_ctx *mc, const ntg__version_rec *r, ntg_pool *pool, int *yes,
                          ntg_error *err)
{
    *yes = 0;
    if (f->kind && strcmp(f->kind, r->kind) != 0) return NTG_OK;
    if (r->param_elements < f->min_params) return NTG_OK;
    if (f->max_params && r->param_elements > f->max_params) return NTG_OK;
    if (f->created_from && r->created_ms < f->created_from) return NTG_OK;
    if (f->created_to && r->created_ms > f->created_to) return NTG_OK;
    if (f->alias) {
        int hit = 0;
        for (size_t i = 0; i < mc->aliases.n; i++)
            hit |= strcmp(mc->aliases.names[i], f->alias) == 0 &&
                   mc->aliases.versions[i] == r->version;
        if (!hit) return NTG_OK;
    }
    if (f->n_tags) {
        const ntg_define *vt;
        size_t nvt;
        ntg_status st = load_tags(s, v, mc->name, r->version, pool, &vt, &nvt, err);
        if (st) return st;
        for (size_t i = 0; i < f->n_tags; i++) {
            const char *val = tag_value(vt, nvt, f->tags[i].name);
            if (!val) val = tag_value(mc->tags, mc->n_tags, f->tags[i].name);
            if (!val || strcmp(val, f->tags[i].value) != 0) return NTG_OK;
        }
    }
    *yes = 1;
    return NTG_OK;
}

static int name_ok(const ntg_store_filter *f, const char *name)
{
    if (f->name && strcmp(f->name, name) != 0) return 0;
    if (f->name_prefix && strncmp(f->name_prefix, name, strlen(f->name_prefix)) != 0) return 0;
    return 1;
}

/* (name, version) pairs; version 0 stands for every version of the model. */
typedef struct cand {
    const char *name;
    uint64_t version;
} cand;

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->version < y->version ? -1 : x->version > y->version;
}

/* Candidates from the tag index: rows key \0 value \0 name \0 be64(version). */
static ntg_status tag_candidates(ntg_store *s, const ntg__view *v, const ntg_define *tag,
                                 ntg_pool *pool, ntg_vec *out, ntg_error *err)
{
    ntg__buf prefix = {0}, upper;
    ntg__buf_cstr(&prefix, tag->name);
    ntg__buf_cstr(&prefix, tag->value);
    if (prefix.oom) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it =
        ntg__iter_prefix(s, v, NTG__CF_TAGIDX, prefix.p, prefix.len, &upper, &ro);
    ntg_status st = it ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (; !st && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < prefix.len + 2 + 8 || k[kl - 9] != 0) continue;
        cand *c = ntg__vec_push(out);
        if (!c) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        c->name = ntg__pool_strndup(pool, k + prefix.len, kl - 9 - prefix.len);
        c->version = ntg__be64((const uint8_t *)k + kl - 8);
        if (!c->name) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    ntg__iter_end(it, ro, &upper);
    ntg__sb_free(&prefix);
    return st;
}

/* Candidates from the aliases: every (name, version) alias `alias` points at. */
static ntg_status alias_candidates(ntg_store *s, const ntg__view *v, const char *alias,
                                   ntg_pool *pool, ntg_vec *out, ntg_error *err)
{
    ntg__buf upper;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it = ntg__iter_prefix(s, v, NTG__CF_ALIASES, NULL, 0, &upper, &ro);
    ntg_status st = it ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    size_t al = strlen(alias);
    for (; !st && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        size_t nl = strnlen(k, kl);
        if (nl + 1 + al != kl || memcmp(k + nl + 1, alias, al) != 0 || vl != 8) continue;
        cand *c = ntg__vec_push(out);
        if (!c || !(c->name = ntg__pool_strndup(pool, k, nl))) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        c->version = ntg__be64((const uint8_t *)val);
    }
    ntg__iter_end(it, ro, &upper);
    return st;
}

typedef struct list_arg {
    const ntg_store_filter *f;
    ntg_store_list *out;
} list_arg;

static void list_arg_reset(void *arg)
{
    list_clear(((list_arg *)arg)->out);
}

/* Add the matching versions of one model (`only` non-zero: just that version). */
static ntg_status list_model(ntg_store *s, const ntg__view *v, const list_arg *a, const char *name,
                             uint64_t only, ntg_error *err)
{
    ntg_pool *pool = a->out->pool;
    model_ctx mc;
    int found;
    /* the listing keeps the name: it must live in the list's pool */
    if (!(name = ntg__pool_strdup(pool, name)))
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_status st = model_load(s, v, name, pool, &mc, &found, err);
    if (st || !found) return st;
    ntg__buf prefix = {0}, upper;
    ntg__buf_cstr(&prefix, name);
    if (only) ntg__buf_be64(&prefix, only);
    if (prefix.oom) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it =
        ntg__iter_prefix(s, v, NTG__CF_VERSIONS, prefix.p, prefix.len, &upper, &ro);
    if (!it) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_store_version *last = NULL;
    /* per model, the scratch of non-matching versions is recycled through a private pool */
    ntg_pool *tmp = ntg__pool_create();
    if (!tmp && !st) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (; !st && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        size_t base = strlen(name) + 1;
        if (kl != base + 8) continue;
        ntg__version_rec r;
        if (ntg__dec_version(val, vl, tmp, 0, &r) ||
            r.version != ntg__be64((const uint8_t *)k + base)) {
            st = ntg__store_fail(s, err, NTG_ERR_DATA, "the record of %s@%llu is corrupted", name,
                                 (unsigned long long)ntg__be64((const uint8_t *)k + base));
            break;
        }
        int yes;
        if ((st = matches(s, v, a->f, &mc, &r, tmp, &yes, err)) || !yes) continue;
        ntg__version_rec keep;
        /* decode again into the list's pool: the match is kept */
        if (ntg__dec_version(val, vl, pool, 0, &keep)) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        ntg_store_version *o = a->f->all_versions || !last ? ntg__vec_push(&a->out->v) : last;
        if (!o) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        st = fill(s, v, &mc, &keep, pool, o, err);
        last = o;
    }
    ntg__iter_end(it, ro, &upper);
    ntg__sb_free(&prefix);
    ntg__pool_destroy(tmp);
    return st;
}

static ntg_status list_fn(ntg_store *s, const ntg__view *v, void *arg, ntg_error *err)
{
    list_arg *a = arg;
    const ntg_store_filter *f = a->f;
    ntg_status st = NTG_OK;
    if (f->n_tags) {
        /* the tag index gives the candidates; the other conditions are checked on each */
        ntg_vec cs;
        ntg__vec_init(&cs, sizeof(cand));
        ntg_pool *tmp = ntg__pool_create();
        if (!tmp) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        st = tag_candidates(s, v, &f->tags[0], tmp, &cs, err);
        if (!st && cs.len) qsort(cs.data, cs.len, sizeof(cand), cand_cmp);
        size_t i = 0;
        while (!st && i < cs.len) {
            const cand *c = ntg__vec_at(&cs, i);
            size_t j = i;
            while (j < cs.len && strcmp(((const cand *)ntg__vec_at(&cs, j))->name, c->name) == 0)
                j++;
            if (!name_ok(f, c->name)) {
                i = j;
                continue;
            }
            if (c->version == 0) {
                /* a model tag (sorted first) covers every version */
                st = list_model(s, v, a, c->name, 0, err);
            } else {
                size_t before = a->out->v.len;
                for (size_t q = i; !st && q < j; q++)
                    st = list_model(s, v, a, c->name, ((const cand *)ntg__vec_at(&cs, q))->version,
                                    err);
                if (!st && !f->all_versions && a->out->v.len > before + 1) {
                    /* the newest match only (candidates are in version order) */
                    memcpy(ntg__vec_at(&a->out->v, before),
                           ntg__vec_at(&a->out->v, a->out->v.len - 1), sizeof(ntg_store_version));
                    a->out->v.len = before + 1;
                }
            }
            i = j;
        }
        ntg__vec_free(&cs);
        ntg__pool_destroy(tmp);
        return st;
    }
    const char *start = f->name ? f->name : f->name_prefix ? f->name_prefix : "";
    ntg__buf upper;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it =
        ntg__iter_prefix(s, v, NTG__CF_MODELS, start, strlen(start), &upper, &ro);
    if (!it) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    char name[NTG__NAME_MAX + 1];
    for (; !st && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl == 0 || kl > NTG__NAME_MAX) continue;
        memcpy(name, k, kl);
        name[kl] = 0;
        if (!name_ok(f, name)) continue;
        st = list_model(s, v, a, name, 0, err);
    }
    ntg__iter_end(it, ro, &upper);
    return st;
}

static ntg_status check_filter(const ntg_store *s, const ntg_store_filter *f, ntg_error *err)
{
    for (size_t i = 0; i < f->n_tags; i++)
        if (!f->tags[i].name || !f->tags[i].value)
            return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG, "a tag filter needs KEY=VALUE");
    if (f->alias && !ntg__valid_alias(f->alias))
        return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG, "bad alias '%s'", f->alias);
    return NTG_OK;
}

ntg_status ntg_store_list_versions(ntg_store *s, const ntg_store_filter *f, ntg_store_list **out,
                                   ntg_error *err)
{
    if (out) *out = NULL;
    if (!s || !out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_list_versions: NULL");
    ntg_store_filter fl;
    ntg_store_filter_init(&fl);
    ntg_status st =
        NTG__ABI_IN(&fl, f, ntg_store_filter, all_versions, "ntg_store_list_versions", err);
    if (st) return st;
    f = &fl;
    st = check_filter(s, f, err);
    if (st) return st;
    ntg_store_list *l = list_new();
    if (!l) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    list_arg a = {f, l};
    st = with_view(s, list_fn, &a, list_arg_reset, err);
    if (st) {
        ntg_store_list_destroy(l);
        return st;
    }
    *out = l;
    return NTG_OK;
}

/* ------------------------------------------------------------------ show, get */

typedef struct ref_arg {
    const char *ref;
    ntg_store_list *out; /* show */
    void *bytes;         /* get_plan */
    size_t size;
    uint64_t version;
} ref_arg;

static void ref_arg_reset(void *arg)
{
    list_clear(((ref_arg *)arg)->out);
}

static ntg_status show_fn(ntg_store *s, const ntg__view *v, void *arg, ntg_error *err)
{
    ref_arg *a = arg;
    ntg_pool *pool = a->out->pool;
    const char *name;
    uint64_t version;
    ntg_status st = ntg__resolve(s, v, a->ref, pool, &name, &version, err);
    model_ctx mc;
    int found = 0;
    if (!st) st = model_load(s, v, name, pool, &mc, &found, err);
    ntg__version_rec r;
    if (!st && found) st = ntg__get_version(s, v, name, version, pool, 1, &r, &found, err);
    if (!st && !found) st = ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "no version '%s'", a->ref);
    ntg_store_version *o = st ? NULL : ntg__vec_push(&a->out->v);
    if (!st && !o) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (!st) st = fill(s, v, &mc, &r, pool, o, err);
    return st;
}

ntg_status ntg_store_show(ntg_store *s, const char *ref, ntg_store_list **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!s || !out || !ref) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_show: NULL");
    ntg_store_list *l = list_new();
    if (!l) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ref_arg a = {ref, l, NULL, 0, 0};
    ntg_status st = with_view(s, show_fn, &a, ref_arg_reset, err);
    if (st) {
        ntg_store_list_destroy(l);
        return st;
    }
    *out = l;
    return NTG_OK;
}

static ntg_status resolve_fn(ntg_store *s, const ntg__view *v, void *arg, ntg_error *err)
{
    ref_arg *a = arg;
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    const char *name;
    ntg_status st = ntg__resolve(s, v, a->ref, pool, &name, &a->version, err);
    ntg__pool_destroy(pool);
    return st;
}

ntg_status ntg_store_resolve(ntg_store *s, const char *ref, uint64_t *version, ntg_error *err)
{
    if (version) *version = 0;
    if (!s || !ref || !version)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_resolve: NULL");
    ref_arg a = {ref, NULL, NULL, 0, 0};
    ntg_status st = with_view(s, resolve_fn, &a, NULL, err);
    if (!st) *version = a.version;
    return st;
}

static ntg_status plan_fn(ntg_store *s, const ntg__view *v, void *arg, ntg_error *err)
{
    ref_arg *a = arg;
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    const char *name;
    ntg_status st = ntg__resolve(s, v, a->ref, pool, &name, &a->version, err);
    ntg__version_rec r;
    int found = 0;
    if (!st) st = ntg__get_version(s, v, name, a->version, pool, 1, &r, &found, err);
    if (!st && !found) st = ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "no version '%s'", a->ref);
    if (!st) st = ntg__version_plan_bytes(s, v, name, &r, 0, &a->bytes, &a->size, err);
    ntg__pool_destroy(pool);
    return st;
}

ntg_status ntg_store_get_plan(ntg_store *s, const char *ref, ntg_plan **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!s || !ref || !out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_get_plan: NULL");
    ref_arg a = {ref, NULL, NULL, 0, 0};
    ntg_status st = with_view(s, plan_fn, &a, NULL, err);
    if (st) return st;
    char where[NTG__NAME_MAX + 64];
    snprintf(where, sizeof where, "%.*s@%llu", (int)strcspn(ref, "@"), ref,
             (unsigned long long)a.version);
    return ntg__plan_adopt(a.bytes, a.size, where, out, err);
}

ntg_status ntg__store_load_spec(const char *spec, ntg_plan **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!spec || strncmp(spec, "store:", 6) != 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "not a store reference: %s", spec ? spec : "");
    const char *rest = spec + 6, *colon = strrchr(rest, ':');
    if (!colon || colon == rest || !colon[1])
        return ntg__err(err, NTG_ERR_INVALID_ARG, spec, 0, 0,
                        "expected store:PATH:NAME@REF (e.g. store:models.db:nhits@champion)");
    char *path = malloc((size_t)(colon - rest) + 1);
    if (!path) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    memcpy(path, rest, (size_t)(colon - rest));
    path[colon - rest] = 0;
    ntg_store_options o;
    ntg_store_options_init(&o);
    o.flags = NTG_STORE_OPEN_READONLY;
    ntg_store *s = NULL;
    ntg_status st = ntg_store_open(path, &o, &s, err);
    if (!st) st = ntg_store_get_plan(s, colon + 1, out, err);
    ntg_store_close(s);
    free(path);
    return st;
}

/* ------------------------------------------------------------------ similar */

typedef struct hit {
    char *name;
    uint64_t version;
    double score;
} hit;

typedef struct sim_arg {
    const char *ref;
    const ntg_plan *plan;
    const ntg_store_filter *f;
    size_t k;
    ntg_store_list *out;
} sim_arg;

static void sim_arg_reset(void *arg)
{
    list_clear(((sim_arg *)arg)->out);
}

static int cand_find(const ntg_vec *cs, const char *name, uint64_t version)
{
    size_t lo = 0, hi = cs->len;
    cand key = {name, version};
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cand_cmp(ntg__vec_at(cs, mid), &key);
        if (c == 0) return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Decodes an embedding row.  A row of an older layout (another dimension: stores written
 * before the current embedding) decodes its filters and sets *stale; its vector must be
 * recomputed from the version's plan (stale_embed). */
static int dec_embed(const char *p, size_t n, float *e, ntg__rd *r, uint64_t *params,
                     int64_t *created, const char **kind, size_t *kind_len, int *stale)
{
    *r = (ntg__rd){(const uint8_t *)p, n, 0, 0};
    unsigned dim = ntg__rd_u8(r);
    *stale = dim != NTG__EMBED_DIM;
    if (dim == 0) return -1;
    for (unsigned i = 0; i < dim; i++) {
        uint32_t u = ntg__rd_u32(r);
        if (!*stale) memcpy(&e[i], &u, 4);
    }
    uint32_t kl = ntg__rd_u32(r);
    const uint8_t *k = ntg__rd_bytes(r, kl);
    *kind = (const char *)k;
    *kind_len = kl;
    *params = ntg__rd_u64(r);
    *created = (int64_t)ntg__rd_u64(r);
    return r->bad ? -1 : 0;
}

/* The current embedding of name@ver, from its plan: for rows of an older layout. */
static ntg_status stale_embed(ntg_store *s, const ntg__view *v, const char *name, uint64_t ver,
                              float *e, ntg_error *err)
{
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__version_rec r;
    int found = 0;
    void *bytes = NULL;
    size_t size = 0;
    ntg_status st = ntg__get_version(s, v, name, ver, pool, 1, &r, &found, err);
    if (!st && !found)
        st = ntg__store_fail(s, err, NTG_ERR_DATA, "%s@%llu has an embedding but no record", name,
                             (unsigned long long)ver);
    if (!st) st = ntg__version_plan_bytes(s, v, name, &r, 0, &bytes, &size, err);
    ntg__pool_destroy(pool);
    if (st) return st;
    char where[NTG__NAME_MAX + 64];
    snprintf(where, sizeof where, "%s@%llu", name, (unsigned long long)ver);
    ntg_plan *p = NULL;
    if ((st = ntg__plan_adopt(bytes, size, where, &p, err))) return st;
    ntg__embed_plan(p, e);
    ntg_plan_destroy(p);
    return NTG_OK;
}

static ntg_status sim_fn(ntg_store *s, const ntg__view *v, void *arg, ntg_error *err)
{
    sim_arg *a = arg;
    const ntg_store_filter *f = a->f;
    ntg_pool *pool = a->out->pool;
    float q[NTG__EMBED_DIM];
    const char *self = NULL;
    uint64_t self_v = 0;
    ntg_status st = NTG_OK;
    if (a->plan) {
        ntg__embed_plan(a->plan, q);
    } else {
        if ((st = ntg__resolve(s, v, a->ref, pool, &self, &self_v, err))) return st;
        ntg__buf key = {0};
        ntg__key_named(&key, self, self_v);
        char *val = NULL;
        size_t n = 0;
        st = key.oom ? ntg__fail(err, NTG_ERR_NOMEM, "out of memory")
                     : ntg__store_get(s, v, NTG__CF_EMBED, key.p, key.len, &val, &n, err);
        ntg__sb_free(&key);
        if (st) return st;
        ntg__rd r;
        uint64_t pe;
        int64_t cr;
        const char *kind;
        size_t kl;
        int stale = 0;
        int bad = !val || dec_embed(val, n, q, &r, &pe, &cr, &kind, &kl, &stale);
        free(val);
        if (bad)
            return ntg__store_fail(s, err, NTG_ERR_DATA, "the embedding of %s@%llu is %s", self,
                                   (unsigned long long)self_v, val ? "corrupted" : "missing");
        if (stale && (st = stale_embed(s, v, self, self_v, q, err))) return st;
    }
    double qn = 0;
    for (int i = 0; i < NTG__EMBED_DIM; i++) qn += (double)q[i] * q[i];
    qn = sqrt(qn);
    /* every condition is read off index rows and the embedding rows themselves: one sorted
     * candidate set per tag (from the tag index; version 0 stands for a model tag) and one
     * for the alias */
    size_t nsets = f->n_tags + (f->alias != NULL);
    ntg_vec *sets = calloc(nsets + 1, sizeof *sets);
    ntg_pool *tmp = ntg__pool_create();
    if (!sets || !tmp) {
        free(sets);
        ntg__pool_destroy(tmp);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nsets; i++) ntg__vec_init(&sets[i], sizeof(cand));
    for (size_t i = 0; !st && i < f->n_tags; i++)
        st = tag_candidates(s, v, &f->tags[i], tmp, &sets[i], err);
    if (!st && f->alias) st = alias_candidates(s, v, f->alias, tmp, &sets[f->n_tags], err);
    for (size_t i = 0; !st && i < nsets; i++)
        if (sets[i].len) qsort(sets[i].data, sets[i].len, sizeof(cand), cand_cmp);
    hit *top = calloc(a->k + 1, sizeof *top);
    size_t nt = 0;
    if (!top && !st) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__buf upper;
    rocksdb_readoptions_t *ro = NULL;
    rocksdb_iterator_t *it =
        st ? NULL : ntg__iter_prefix(s, v, NTG__CF_EMBED, NULL, 0, &upper, &ro);
    char name[NTG__NAME_MAX + 1];
    for (; !st && it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        if (kl < 10 || kl - 9 > NTG__NAME_MAX || k[kl - 9] != 0) continue;
        memcpy(name, k, kl - 9);
        name[kl - 9] = 0;
        uint64_t ver = ntg__be64((const uint8_t *)k + kl - 8);
        if (self && ver == self_v && strcmp(name, self) == 0) continue;
        if (!name_ok(f, name)) continue;
        float e[NTG__EMBED_DIM];
        ntg__rd r;
        uint64_t pe;
        int64_t cr;
        const char *kind;
        size_t kindl;
        int stale = 0;
        if (dec_embed(val, vl, e, &r, &pe, &cr, &kind, &kindl, &stale)) {
            st = ntg__store_fail(s, err, NTG_ERR_DATA, "the embedding of %s@%llu is corrupted",
                                 name, (unsigned long long)ver);
            break;
        }
        if (f->kind && (strlen(f->kind) != kindl || memcmp(f->kind, kind, kindl) != 0)) continue;
        if (pe < f->min_params || (f->max_params && pe > f->max_params)) continue;
        if ((f->created_from && cr < f->created_from) || (f->created_to && cr > f->created_to))
            continue;
        int in = 1;
        for (size_t i = 0; in && i < f->n_tags; i++)
            in = cand_find(&sets[i], name, ver) || cand_find(&sets[i], name, 0);
        if (in && f->alias) in = cand_find(&sets[f->n_tags], name, ver);
        if (!in) continue;
        if (stale && (st = stale_embed(s, v, name, ver, e, err))) break;
        double dot = 0, en = 0;
        for (int i = 0; i < NTG__EMBED_DIM; i++) {
            dot += (double)q[i] * e[i];
            en += (double)e[i] * e[i];
        }
        double score = qn > 0 && en > 0 ? dot / (qn * sqrt(en)) : 0;
        /* insertion into the sorted top k (k is small next to the rows scanned) */
        if (nt == a->k && (a->k == 0 || score <= top[nt - 1].score)) continue;
        size_t at = nt < a->k ? nt++ : nt - 1;
        free(top[at].name);
        while (at > 0 && top[at - 1].score < score) {
            top[at] = top[at - 1];
            at--;
        }
        top[at].name = strdup(name);
        top[at].version = ver;
        top[at].score = score;
        if (!top[at].name) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if (ro) ntg__iter_end(it, ro, &upper);
    for (size_t i = 0; !st && i < nt; i++) {
        model_ctx mc;
        int found;
        char *nm = ntg__pool_strdup(pool, top[i].name);
        if (!nm) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        if ((st = model_load(s, v, nm, pool, &mc, &found, err))) break;
        ntg__version_rec r;
        if (found && (st = ntg__get_version(s, v, nm, top[i].version, pool, 0, &r, &found, err)))
            break;
        if (!found) {
            st = ntg__store_fail(s, err, NTG_ERR_DATA, "%s@%llu has an embedding but no record", nm,
                                 (unsigned long long)top[i].version);
            break;
        }
        ntg_store_version *o = ntg__vec_push(&a->out->v);
        if (!o || (st = fill(s, v, &mc, &r, pool, o, err))) {
            if (!st) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            break;
        }
        o->score = top[i].score;
    }
    for (size_t i = 0; top && i < a->k + 1; i++) free(top[i].name);
    free(top);
    for (size_t i = 0; i < nsets; i++) ntg__vec_free(&sets[i]);
    free(sets);
    ntg__pool_destroy(tmp);
    return st;
}

static ntg_status similar(ntg_store *s, const char *ref, const ntg_plan *plan,
                          const ntg_store_filter *f, size_t k, ntg_store_list **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!s || !out || (!ref && !plan))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_similar: NULL argument");
    ntg_store_filter fl;
    ntg_store_filter_init(&fl);
    ntg_status st = NTG__ABI_IN(&fl, f, ntg_store_filter, all_versions,
                                ref ? "ntg_store_similar" : "ntg_store_similar_plan", err);
    if (st) return st;
    f = &fl;
    st = check_filter(s, f, err);
    if (st) return st;
    ntg_store_list *l = list_new();
    if (!l) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    sim_arg a = {ref, plan, f, k, l};
    st = with_view(s, sim_fn, &a, sim_arg_reset, err);
    if (st) {
        ntg_store_list_destroy(l);
        return st;
    }
    *out = l;
    return NTG_OK;
}

ntg_status ntg_store_similar(ntg_store *s, const char *ref, const ntg_store_filter *f, size_t k,
                             ntg_store_list **out, ntg_error *err)
{
    if (!ref) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_similar: NULL reference");
    return similar(s, ref, NULL, f, k, out, err);
}

ntg_status ntg_store_similar_plan(ntg_store *s, const ntg_plan *plan, const ntg_store_filter *f,
                                  size_t k, ntg_store_list **out, ntg_error *err)
{
    if (!plan) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_similar_plan: NULL plan");
    return similar(s, NULL, plan, f, k, out, err);
}

/* ------------------------------------------------------------------ checkpoints */

struct ntg_store_ckpts {
    ntg_pool *pool;
    ntg_vec c;     /* ntg_store_checkpoint */
    ntg_vec owned; /* ck_buf: blob buffers */
    ntg_vec spare; /* ck_buf: buffers of an earlier result, taken again by their size */
};

typedef struct ck_buf {
    void *p;
    size_t n;
    size_t map; /* a mapping of this length (ntg__obj_map), 0: malloc'ed */
} ck_buf;

static void buf_free(const ck_buf *b)
{
    if (b->map)
        ntg__blob_unmap(b->p, b->map);
    else
        free(b->p);
}

size_t ntg_store_ckpts_count(const ntg_store_ckpts *c)
{
    return c ? c->c.len : 0;
}

const ntg_store_checkpoint *ntg_store_ckpts_at(const ntg_store_ckpts *c, size_t i)
{
    return c && i < c->c.len ? ntg__vec_at(&c->c, i) : NULL;
}

static void free_bufs(ntg_vec *v)
{
    for (size_t i = 0; i < v->len; i++) buf_free(ntg__vec_at(v, i));
    v->len = 0;
}

/* The blobs' buffers become spares (for the retry of a read, or the next read into `c`). */
static void ckpts_clear(ntg_store_ckpts *c)
{
    for (size_t i = 0; i < c->owned.len; i++) {
        ck_buf *sp = ntg__vec_push(&c->spare), *b = ntg__vec_at(&c->owned, i);
        if (sp)
            *sp = *b;
        else
            buf_free(b);
    }
    c->owned.len = 0;
    c->c.len = 0;
}

void ntg_store_ckpts_destroy(ntg_store_ckpts *c)
{
    if (!c) return;
    free_bufs(&c->owned);
    free_bufs(&c->spare);
    ntg__vec_free(&c->c);
    ntg__vec_free(&c->owned);
    ntg__vec_free(&c->spare);
    ntg__pool_destroy(c->pool);
    free(c);
}

typedef struct ck_arg {
    const char *name;
    uint64_t id; /* get: 0 newest */
    int load;
    ntg_store_ckpts *out;
} ck_arg;

static void ck_arg_reset(void *arg)
{
    ckpts_clear(((ck_arg *)arg)->out);
}

static ntg_status ck_fill(ntg_store *s, const ntg__view *v, ck_arg *a, const ntg__ckpt_rec *r,
                          ntg_error *err)
{
    ntg_pool *pool = a->out->pool;
    ntg_store_checkpoint *o = ntg__vec_push(&a->out->c);
    ntg_store_blob *b = ntg__pool_array(pool, r->n_blobs + 1, sizeof *b);
    if (!o || !b) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    o->size = sizeof *o;
    o->id = r->id;
    o->created_ms = r->created_ms;
    o->step = r->step;
    o->train_loss = r->train_loss;
    o->val_loss = r->val_loss;
    o->metrics = r->metrics;
    o->n_metrics = r->n_metrics;
    o->meta = r->meta;
    o->n_meta = r->n_meta;
    o->blobs = b;
    o->n_blobs = r->n_blobs;
    for (size_t i = 0; i < r->n_blobs; i++) {
        b[i].name = r->blob_names[i];
        b[i].nbytes = r->blobs[i].nbytes;
        if (!a->load) continue;
        if (r->blobs[i].nbytes > SIZE_MAX / 2)
            return ntg__store_fail(s, err, NTG_ERR_DATA, "implausible checkpoint blob size");
        char what[NTG__NAME_MAX + 128];
        snprintf(what, sizeof what, "checkpoint %llu of '%s': '%s'", (unsigned long long)r->id,
                 a->name, r->blob_names[i]);
        /* a large blob of a format-3 store is its chunk files mapped: no copy, no fresh memory
         * (docs/store.md, "Reading") */
        if (s->format >= 3 && !s->no_map && r->blobs[i].nbytes >= NTG__MAP_MIN) {
            ck_buf cb = {NULL, 0, 0};
            ntg_status st = ntg__obj_map(s, v, &r->blobs[i], &cb.p, &cb.map, what, err);
            if (st) return st;
            cb.n = cb.map;
            ck_buf *slot = ntg__vec_push(&a->out->owned);
            if (!slot) {
                buf_free(&cb);
                return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            }
            *slot = cb;
            b[i].data = cb.p;
            continue;
        }
        /* a spare of this size (a read into an earlier result) is memory already touched */
        ck_buf cb = {NULL, (size_t)r->blobs[i].nbytes + 1, 0};
        ntg_vec *sp = &a->out->spare;
        for (size_t j = 0; j < sp->len && !cb.p; j++) {
            ck_buf *x = ntg__vec_at(sp, j);
            if (x->n != cb.n || x->map) continue;
            cb.p = x->p;
            *x = *(ck_buf *)ntg__vec_at(sp, sp->len - 1);
            sp->len--;
        }
        if (!cb.p) cb.p = ntg__blob_alloc(cb.n);
        ck_buf *slot = cb.p ? ntg__vec_push(&a->out->owned) : NULL;
        if (!slot) {
            free(cb.p);
            return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        }
        *slot = cb;
        void *buf = cb.p;
        ntg_status st = ntg__obj_read(s, v, &r->blobs[i], buf, 0, what, err);
        if (st) return st;
        b[i].data = buf;
    }
    return NTG_OK;
}

static ntg_status ck_fn(ntg_store *s, const ntg__view *v, void *arg, ntg_error *err)
{
    ck_arg *a = arg;
    ntg_pool *pool = a->out->pool;
    ntg__model_rec m;
    int found;
    ntg_status st = ntg__get_model(s, v, a->name, pool, &m, &found, err);
    if (st) return st;
    if (!found) return ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "no model '%s'", a->name);
    ntg__buf prefix = {0}, upper;
    ntg__buf_cstr(&prefix, a->name);
    if (a->id) ntg__buf_be64(&prefix, a->id);
    if (prefix.oom) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it =
        ntg__iter_prefix(s, v, NTG__CF_CKPTS, prefix.p, prefix.len, &upper, &ro);
    if (!it) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    /* the newest (id 0 with load) is the last record under the prefix */
    int want_last = a->load && a->id == 0;
    size_t base = strlen(a->name) + 1;
    ntg__buf last = {0};
    for (; !st && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        if (kl != base + 8) continue;
        if (want_last) {
            last.len = 0;
            ntg__sb_put(&last, val, vl);
            if (last.oom) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            continue;
        }
        ntg__ckpt_rec r;
        if (ntg__dec_ckpt(val, vl, pool, &r)) {
            st = ntg__store_fail(s, err, NTG_ERR_DATA, "checkpoint %llu of '%s' is corrupted",
                                 (unsigned long long)ntg__be64((const uint8_t *)k + base), a->name);
            break;
        }
        st = ck_fill(s, v, a, &r, err);
        if (a->id) break;
    }
    if (!st && want_last && last.len) {
        ntg__ckpt_rec r;
        if (ntg__dec_ckpt(last.p, last.len, pool, &r))
            st = ntg__store_fail(s, err, NTG_ERR_DATA,
                                 "the newest checkpoint of '%s' is "
                                 "corrupted",
                                 a->name);
        else
            st = ck_fill(s, v, a, &r, err);
    }
    ntg__sb_free(&last);
    ntg__iter_end(it, ro, &upper);
    ntg__sb_free(&prefix);
    if (!st && a->load && a->out->c.len == 0)
        st = a->id ? ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "model '%s' has no checkpoint %llu",
                                     a->name, (unsigned long long)a->id)
                   : ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "model '%s' has no checkpoints",
                                     a->name);
    return st;
}

/* `reuse`: an earlier result whose buffers are taken again (NULL: a new result). */
static ntg_status ckpts(ntg_store *s, const char *name, uint64_t id, int load,
                        ntg_store_ckpts *reuse, ntg_store_ckpts **out, ntg_error *err)
{
    if (out) *out = NULL;
    ntg_store_ckpts *c = reuse;
    if (!s || !out || !name) {
        ntg_store_ckpts_destroy(reuse);
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "checkpoints: NULL");
    }
    if (!ntg__valid_name(name)) {
        ntg_store_ckpts_destroy(reuse);
        return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG, "bad model name '%s'", name);
    }
    if (c) {
        ckpts_clear(c);
        ntg__pool_destroy(c->pool);
        c->pool = ntg__pool_create();
    } else if ((c = calloc(1, sizeof *c))) {
        c->pool = ntg__pool_create();
        ntg__vec_init(&c->c, sizeof(ntg_store_checkpoint));
        ntg__vec_init(&c->owned, sizeof(ck_buf));
        ntg__vec_init(&c->spare, sizeof(ck_buf));
    }
    if (!c || !c->pool) {
        ntg_store_ckpts_destroy(c);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    ck_arg a = {name, id, load, c};
    ntg_status st = with_view(s, ck_fn, &a, ck_arg_reset, err);
    if (st) {
        ntg_store_ckpts_destroy(c);
        return st;
    }
    free_bufs(&c->spare); /* buffers of sizes this result did not need */
    *out = c;
    return NTG_OK;
}

ntg_status ntg_store_checkpoints(ntg_store *s, const char *name, ntg_store_ckpts **out,
                                 ntg_error *err)
{
    return ckpts(s, name, 0, 0, NULL, out, err);
}

ntg_status ntg_store_get_checkpoint(ntg_store *s, const char *name, uint64_t id,
                                    ntg_store_ckpts **out, ntg_error *err)
{
    return ckpts(s, name, id, 1, NULL, out, err);
}

ntg_status ntg_store_get_checkpoint_into(ntg_store *s, const char *name, uint64_t id,
                                         ntg_store_ckpts **inout, ntg_error *err)
{
    if (!inout) return ntg__fail(err, NTG_ERR_INVALID_ARG, "checkpoints: NULL");
    ntg_store_ckpts *reuse = *inout;
    return ckpts(s, name, id, 1, reuse, inout, err);
}
