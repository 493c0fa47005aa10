/* store_put.c — the write side: versions, checkpoints, tags and aliases, each one synced commit. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"
#include "safetensors.h"
#include "store_int.h"

static ntg_status bad_name(const ntg_store *s, ntg_error *err, const char *name)
{
    return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                           "bad model name '%s': 1..%d letters, digits, '_', '.', '-', not "
                           "starting with '.' or '-'",
                           name ? name : "(null)", NTG__NAME_MAX);
}

static ntg_status check_alias_arg(const ntg_store *s, const char *alias, ntg_error *err)
{
    if (!ntg__valid_alias(alias))
        return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                               "bad alias '%s': 1..%d letters, digits, '_', '.', '-', starting "
                               "with a letter or '_'",
                               alias ? alias : "(null)", NTG__ALIAS_MAX);
    if (strcmp(alias, "latest") == 0)
        return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                               "alias 'latest' is kept by the store: it always names the newest "
                               "version");
    return NTG_OK;
}

static ntg_status check_tag_arg(const ntg_store *s, const char *key, const char *value,
                                ntg_error *err)
{
    if (!ntg__valid_tag_key(key))
        return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                               "bad tag key '%s': 1..%d letters, digits, '_', '.', '-', ':', '/'",
                               key ? key : "(null)", NTG__TAG_KEY_MAX);
    if (value && strlen(value) > NTG__TAG_VALUE_MAX)
        return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG, "tag '%s': value longer than %d bytes",
                               key, NTG__TAG_VALUE_MAX);
    return NTG_OK;
}

/* Tag rows: the tag itself and its index entry. */
static void tag_keys(const char *name, uint64_t version, const char *key, const char *value,
                     ntg__buf *row, ntg__buf *idx)
{
    ntg__key_named(row, name, version);
    ntg__sb_put(row, key, strlen(key));
    if (idx) {
        ntg__buf_cstr(idx, key);
        ntg__buf_cstr(idx, value);
        ntg__key_named(idx, name, version);
    }
}

static void put_alias(ntg_store *s, rocksdb_writebatch_t *wb, const char *name, const char *alias,
                      uint64_t version, ntg__buf *scratch)
{
    scratch->len = 0;
    ntg__buf_cstr(scratch, name);
    ntg__sb_put(scratch, alias, strlen(alias));
    uint8_t v[8];
    ntg__put_be64(v, version);
    if (!scratch->oom)
        rocksdb_writebatch_put_cf(wb, s->cf[NTG__CF_ALIASES], (const char *)scratch->p,
                                  scratch->len, (const char *)v, 8);
}

static ntg_status writable(const ntg_store *s, ntg_error *err)
{
    if (!s) return ntg__fail(err, NTG_ERR_INVALID_ARG, "NULL store");
    if (s->readonly)
        return ntg__store_fail(s, err, NTG_ERR_STATE, "the store was opened read-only");
    return NTG_OK;
}

/* ------------------------------------------------------------------ versions */

typedef struct span {
    uint64_t off, len;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Bytes of the WEIGHTS section outside every tensor must be zero: the store rebuilds them so. */
static int gaps_zero(const uint8_t *w, uint64_t wlen, span *sp, size_t n)
{
    qsort(sp, n, sizeof *sp, span_cmp);
    uint64_t at = 0;
    for (size_t i = 0; i <= n; i++) {
        uint64_t next = i < n ? sp[i].off : wlen;
        for (uint64_t b = at; b < next; b++)
            if (w[b]) return 0;
        if (i < n && sp[i].off + sp[i].len > at) at = sp[i].off + sp[i].len;
    }
    return 1;
}

static int numeric(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) return 0;
    *out = x;
    return 1;
}

typedef struct put_ctx {
    ntg_store *s;
    const char *name;
    const ntg_plan *plan;
    ntg_store_put_options o;
    ntg_pool *pool;
    ntg__writer w;
    ntg__version_rec rec;
    float embed[NTG__EMBED_DIM];
    int imported; /* weights from elsewhere: the base plan's trained.* are not their metrics */
} put_ctx;

static ntg_status check_put_options(put_ctx *c, ntg_error *err)
{
    const ntg_store_put_options *o = &c->o;
    ntg_status st;
    for (size_t i = 0; i < o->n_aliases; i++)
        if ((st = check_alias_arg(c->s, o->aliases[i], err))) return st;
    for (size_t i = 0; i < o->n_tags; i++) {
        if ((st = check_tag_arg(c->s, o->tags[i].name, o->tags[i].value, err))) return st;
        if (!o->tags[i].value)
            return ntg__store_fail(c->s, err, NTG_ERR_INVALID_ARG, "tag '%s' has no value",
                                   o->tags[i].name);
        /* one row per key: a repeated key would leave a stale index row */
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->tags[i].name, o->tags[j].name) == 0)
                return ntg__store_fail(c->s, err, NTG_ERR_INVALID_ARG, "tag '%s' given twice",
                                       o->tags[i].name);
    }
    for (size_t i = 0; i < o->n_metrics; i++)
        if (!o->metrics[i].name || !*o->metrics[i].name)
            return ntg__store_fail(c->s, err, NTG_ERR_INVALID_ARG, "a metric without a name");
    if (o->parent < NTG_STORE_PARENT_LATEST)
        return ntg__store_fail(c->s, err, NTG_ERR_INVALID_ARG, "bad parent version %lld",
                               (long long)o->parent);
    if (o->data_sha256 && *o->data_sha256) {
        size_t n = strlen(o->data_sha256);
        int hex = n == 64;
        for (size_t i = 0; hex && i < n; i++)
            hex = strchr("0123456789abcdef", o->data_sha256[i]) != NULL;
        if (!hex)
            return ntg__store_fail(c->s, err, NTG_ERR_INVALID_ARG,
                                   "data_sha256 must be 64 lowercase hex digits");
    }
    return NTG_OK;
}

/* The version record's contents from the plan: manifest, hparams, metrics; chunks written. */
static ntg_status describe_plan(put_ctx *c, ntg_error *err)
{
    const ntg_plan *p = c->plan;
    const ntg_plan_image *im = &p->img;
    ntg__version_rec *r = &c->rec;
    ntg_pool *pool = c->pool;
    ntg__hash(c->s, p->base, p->size, r->plan_hash);
    r->plan_bytes = p->size;
    long at = ntg__plan_weights_entry(p->base, p->size);
    if (at >= 0) {
        ntg_plan_section sec;
        memcpy(&sec, p->base + at, sizeof sec);
        r->weights_off = sec.offset;
        r->weights_len = sec.bytes;
    }
    uint64_t woff = r->weights_off, wlen = r->weights_len;
    size_t nw = 0;
    for (uint32_t i = 0; i < im->n_tensors; i++) nw += im->tensors[i].storage == NTG_STORE_WEIGHTS;
    span *sp = calloc(nw + 1, sizeof *sp);
    r->tensors = ntg__pool_array(pool, nw + 1, sizeof *r->tensors);
    if (!sp || !r->tensors) {
        free(sp);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    for (uint32_t i = 0; i < im->n_tensors; i++) {
        const ntg_tensor_rec *t = &im->tensors[i];
        if (t->storage != NTG_STORE_WEIGHTS) continue;
        sp[k].off = t->offset;
        sp[k].len = t->nbytes;
        ntg__tensor *e = &r->tensors[k++];
        e->name = ntg__plan_str(p, t->name);
        e->dtype = t->dtype;
        e->role = t->role;
        e->rank = t->rank;
        for (int d = 0; d < t->rank; d++) e->dims[d] = t->dims[d];
        e->offset = t->offset;
        r->weight_bytes += t->nbytes;
    }
    r->n_tensors = k;
    int zero = gaps_zero(p->base + woff, wlen, sp, k);
    free(sp);
    if (!zero)
        return ntg__store_fail(c->s, err, NTG_ERR_DATA,
                               "the plan's weights section holds bytes outside its tensors; "
                               "save it again with this ntgraph");

    /* the skeleton: the file without its WEIGHTS section, whose CRC is zeroed (weights-only
     * changes then share it) */
    size_t skel = p->size - (size_t)wlen;
    uint8_t *sk = malloc(skel + 1);
    if (!sk) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    memcpy(sk, p->base, (size_t)woff);
    memcpy(sk + woff, p->base + woff + wlen, p->size - (size_t)(woff + wlen));
    if (at >= 0) memset(sk + at + offsetof(ntg_plan_section, crc), 0, 4);
    ntg_status st = ntg__writer_put(&c->w, sk, skel, pool, &r->skeleton, err);
    free(sk);
    /* the manifest's tensors in plan order, as collected above */
    k = 0;
    for (uint32_t i = 0; !st && i < im->n_tensors; i++) {
        const ntg_tensor_rec *t = &im->tensors[i];
        if (t->storage != NTG_STORE_WEIGHTS) continue;
        ntg__tensor *e = &r->tensors[k++];
        st = ntg__writer_put(&c->w, p->base + woff + e->offset, t->nbytes, pool, &e->obj, err);
    }
    return st;
}

static ntg_status plan_extras(put_ctx *c, ntg_error *err)
{
    const ntg_plan *p = c->plan;
    ntg__version_rec *r = &c->rec;
    size_t nm = ntg_plan_meta_count(p), nh = 0, nmet = 0;
    r->hparams = ntg__pool_array(c->pool, nm + 1, sizeof *r->hparams);
    r->metrics = ntg__pool_array(c->pool, nm + c->o.n_metrics + 1, sizeof *r->metrics);
    if (!r->hparams || !r->metrics) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < c->o.n_metrics; i++) r->metrics[nmet++] = c->o.metrics[i];
    for (size_t i = 0; i < nm; i++) {
        const char *k, *v;
        ntg_plan_meta_at(p, i, &k, &v, NULL);
        double x;
        if (strncmp(k, "hparam.", 7) == 0) {
            r->hparams[nh].name = k + 7;
            r->hparams[nh++].value = v;
        } else if (!c->imported && strncmp(k, "trained.", 8) == 0 && numeric(v, &x)) {
            int dup = 0;
            for (size_t j = 0; j < nmet; j++) dup |= strcmp(r->metrics[j].name, k + 8) == 0;
            if (!dup) r->metrics[nmet++] = (ntg_store_metric){k + 8, x};
        }
    }
    r->n_hparams = nh;
    r->n_metrics = nmet;
    r->param_elements = ntg_plan_param_elements(p);
    const char *kind = c->o.kind ? c->o.kind : ntg_plan_meta(p, "model.kind");
    r->kind = kind ? kind : "";
    r->description = c->o.description ? c->o.description : "";
    r->data_sha256 = c->o.data_sha256 ? c->o.data_sha256 : "";
    r->data_split = c->o.data_split ? c->o.data_split : "";
    ntg__embed_plan(p, c->embed);
    return NTG_OK;
}

/* The parent version: checked before any chunk is written, and again at the commit. */
static ntg_status find_parent(put_ctx *c, ntg__model_rec *m, int *found, uint64_t *out,
                              ntg_error *err)
{
    ntg_store *s = c->s;
    ntg_status st = ntg__get_model(s, NULL, c->name, c->pool, m, found, err);
    if (st) return st;
    uint64_t parent = 0;
    if (c->o.parent == NTG_STORE_PARENT_LATEST) {
        parent = *found && m->n_versions ? m->next_version - 1 : 0;
    } else if (c->o.parent > 0) {
        ntg__version_rec pr;
        int have = 0;
        if (*found && (st = ntg__get_version(s, NULL, c->name, (uint64_t)c->o.parent, c->pool, 0,
                                             &pr, &have, err)))
            return st;
        if (!have)
            return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                                   "parent version %lld of '%s' does not exist",
                                   (long long)c->o.parent, c->name);
        parent = (uint64_t)c->o.parent;
    }
    *out = parent;
    return NTG_OK;
}

static ntg_status commit_version(put_ctx *c, uint64_t *version, ntg_error *err)
{
    ntg_store *s = c->s;
    ntg__model_rec m;
    int found;
    uint64_t parent;
    ntg_status st = find_parent(c, &m, &found, &parent, err);
    if (st) return st;
    ntg__commit cm;
    if ((st = ntg__commit_begin(s, &cm, &c->w, err))) return st;
    if (!found) {
        memset(&m, 0, sizeof m);
        m.kind = "";
        m.description = "";
        m.created_ms = ntg__now_ms();
        m.next_version = 1;
        m.next_ckpt = 1;
        cm.stats.n_models++;
    }
    ntg__version_rec *r = &c->rec;
    r->version = m.next_version++;
    r->created_ms = ntg__now_ms();
    r->parent = parent;
    m.n_versions++;
    if (*r->kind) m.kind = r->kind;
    const char *about = ntg_plan_meta(c->plan, "model.description");
    if (about) m.description = about;
    cm.stats.n_versions++;

    ntg__buf key = {0}, val = {0}, idx = {0};
    ntg__key_named(&key, c->name, r->version);
    ntg__enc_version(&val, r);
    if (!key.oom && !val.oom)
        rocksdb_writebatch_put_cf(cm.wb, s->cf[NTG__CF_VERSIONS], (const char *)key.p, key.len,
                                  (const char *)val.p, val.len);
    val.len = 0;
    ntg__enc_embed(&val, c->embed, r->kind, r->param_elements, r->created_ms);
    if (!key.oom && !val.oom)
        rocksdb_writebatch_put_cf(cm.wb, s->cf[NTG__CF_EMBED], (const char *)key.p, key.len,
                                  (const char *)val.p, val.len);
    val.len = 0;
    ntg__enc_model(&val, &m);
    if (!val.oom)
        rocksdb_writebatch_put_cf(cm.wb, s->cf[NTG__CF_MODELS], c->name, strlen(c->name),
                                  (const char *)val.p, val.len);
    put_alias(s, cm.wb, c->name, "latest", r->version, &key);
    for (size_t i = 0; i < c->o.n_aliases; i++)
        put_alias(s, cm.wb, c->name, c->o.aliases[i], r->version, &key);
    for (size_t i = 0; i < c->o.n_tags; i++) {
        key.len = idx.len = 0;
        tag_keys(c->name, r->version, c->o.tags[i].name, c->o.tags[i].value, &key, &idx);
        if (key.oom || idx.oom) break;
        rocksdb_writebatch_put_cf(cm.wb, s->cf[NTG__CF_TAGS], (const char *)key.p, key.len,
                                  c->o.tags[i].value, strlen(c->o.tags[i].value));
        rocksdb_writebatch_put_cf(cm.wb, s->cf[NTG__CF_TAGIDX], (const char *)idx.p, idx.len, "",
                                  0);
    }
    int oom = key.oom || val.oom || idx.oom;
    ntg__sb_free(&key);
    ntg__sb_free(&val);
    ntg__sb_free(&idx);
    if (oom) {
        ntg__commit_abort(&cm);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if ((st = ntg__commit_write(s, &cm, err))) return st;
    ntg__store_kill(s, NTG__KP_COMMITTED);
    *version = r->version;
    return NTG_OK;
}

static ntg_status put_plan(ntg_store *s, const char *name, const ntg_plan *plan,
                           const ntg_store_put_options *opts, int imported, uint64_t *version,
                           ntg_error *err)
{
    if (version) *version = 0;
    ntg_status st = writable(s, err);
    if (st) return st;
    if (!plan || !version)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_put: NULL argument");
    if (!ntg__valid_name(name)) return bad_name(s, err, name);
    put_ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.name = name;
    c.plan = plan;
    c.imported = imported;
    ntg_store_put_options_init(&c.o);
    st = NTG__ABI_IN(&c.o, opts, ntg_store_put_options, data_split,
                     imported ? "ntg_store_put_safetensors" : "ntg_store_put", err);
    if (st) return st;
    if ((st = check_put_options(&c, err))) return st;
    c.pool = ntg__pool_create();
    if (!c.pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__model_rec m;
    int found;
    uint64_t parent;
    st = find_parent(&c, &m, &found, &parent, err);
    if (!st) ntg__store_kill(s, NTG__KP_BEGIN);
    if (!st) st = ntg__writer_init(&c.w, s, err);
    if (!st) st = describe_plan(&c, err);
    if (!st) st = plan_extras(&c, err);
    if (!st) st = ntg__writer_finish(&c.w, err);
    if (!st) st = commit_version(&c, version, err);
    ntg__writer_free(&c.w);
    ntg__pool_destroy(c.pool);
    return st;
}

ntg_status ntg_store_put(ntg_store *s, const char *name, const ntg_plan *plan,
                         const ntg_store_put_options *opts, uint64_t *version, ntg_error *err)
{
    return put_plan(s, name, plan, opts, 0, version, err);
}

/* ------------------------------------------------------------- safetensors */

/* The plan of `ref` (NULL view: the current state). */
static ntg_status load_plan(ntg_store *s, const char *ref, ntg_plan **out, uint64_t *version,
                            ntg_error *err)
{
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__view v;
    const char *name;
    ntg_status st = ntg__view_begin(s, &v, err);
    if (!st) st = ntg__resolve(s, &v, ref, pool, &name, version, err);
    ntg__version_rec rec;
    int found = 0;
    if (!st) st = ntg__get_version(s, &v, name, *version, pool, 1, &rec, &found, err);
    void *bytes = NULL;
    size_t size = 0;
    if (!st && found) st = ntg__version_plan_bytes(s, &v, name, &rec, 0, &bytes, &size, err);
    if (!st && found) st = ntg__plan_adopt(bytes, size, ref, out, err);
    ntg__view_end(s, &v);
    ntg__pool_destroy(pool);
    return st;
}

ntg_status ntg_store_put_safetensors(ntg_store *s, const char *name, const char *path,
                                     const ntg_store_put_options *opts, uint64_t *version,
                                     ntg_error *err)
{
    if (version) *version = 0;
    ntg_status st = writable(s, err);
    if (st) return st;
    if (!path || !version)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_put_safetensors: NULL argument");
    if (!ntg__valid_name(name)) return bad_name(s, err, name);
    ntg_plan *base = NULL, *plan = NULL;
    ntg_st_file *f = NULL;
    uint64_t from = 0;
    uint8_t *w = NULL;
    if ((st = load_plan(s, name, &base, &from, err))) return st;
    st = ntg__st_load(path, &f, err);
    const ntg_plan_image *im = &base->img;
    if (!st) {
        w = malloc(im->weights_bytes + 1);
        if (!w)
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        else if (im->weights_bytes)
            memcpy(w, im->weights, im->weights_bytes);
    }
    for (size_t i = 0; !st && i < ntg__st_count(f); i++) {
        const ntg_st_tensor *t = ntg__st_get(f, i);
        uint32_t id = NTG_NONE;
        for (uint32_t k = 0; k < base->n_params; k++)
            if (strcmp(ntg__plan_str(base, im->tensors[base->param_ids[k]].name), t->name) == 0)
                id = base->param_ids[k];
        if (id == NTG_NONE) {
            st =
                ntg__err(err, NTG_ERR_DATA, path, 0, 0, "tensor '%s' is not a parameter of %s@%llu",
                         t->name, name, (unsigned long long)from);
            break;
        }
        const ntg_tensor_rec *r = &im->tensors[id];
        int same = strcmp(t->dtype, "F32") == 0 && t->rank == r->rank;
        for (int d = 0; same && d < r->rank; d++) same = (uint64_t)t->shape[d] == r->dims[d];
        if (!same || t->nbytes != r->nbytes) {
            st = ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                          "tensor '%s' (%s, rank %d, %llu bytes) does not fit the parameter of "
                          "%s@%llu (F32, rank %d, %llu bytes)",
                          t->name, t->dtype, t->rank, (unsigned long long)t->nbytes, name,
                          (unsigned long long)from, r->rank, (unsigned long long)r->nbytes);
            break;
        }
        memcpy(w + r->offset, t->data, (size_t)t->nbytes);
    }
    if (!st) st = ntg__plan_rewrite(base, w, NULL, 0, &plan, err);
    /* the metrics the base version's training left in its plan describe other weights */
    if (!st) st = put_plan(s, name, plan, opts, 1, version, err);
    free(w);
    ntg__st_free(f);
    ntg_plan_destroy(plan);
    ntg_plan_destroy(base);
    return st;
}

/* ------------------------------------------------------------- checkpoints */

#define MAX_PRUNE 64 /* checkpoints one commit prunes at most (more go with later commits) */

/* The run a checkpoint belongs to: its "run" metadata, "" without one. */
static const char *ckpt_run(const ntg_define *meta, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (meta[i].name && strcmp(meta[i].name, "run") == 0 && meta[i].value) return meta[i].value;
    return "";
}

ntg_status ntg_store_put_checkpoint(ntg_store *s, const char *name, const ntg_store_checkpoint *ck,
                                    unsigned keep, uint64_t *id, ntg_error *err)
{
    return ntg__store_put_checkpoint_drop(s, name, ck, keep, NULL, 0, id, err);
}

ntg_status ntg__store_put_checkpoint_drop(ntg_store *s, const char *name,
                                          const ntg_store_checkpoint *ck, unsigned keep,
                                          const uint64_t *drop_ids, size_t n_drop, uint64_t *id,
                                          ntg_error *err)
{
    if (id) *id = 0;
    ntg_status st = writable(s, err);
    if (st) return st;
    if (!ck || !id) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_put_checkpoint: NULL");
    ntg_store_checkpoint ckl;
    ntg_store_checkpoint_init(&ckl);
    st = NTG__ABI_IN(&ckl, ck, ntg_store_checkpoint, n_blobs, "ntg_store_put_checkpoint", err);
    if (st) return st;
    ck = &ckl;
    if (!ntg__valid_name(name)) return bad_name(s, err, name);
    for (size_t i = 0; i < ck->n_blobs; i++) {
        if (!ck->blobs[i].name || !*ck->blobs[i].name ||
            (!ck->blobs[i].data && ck->blobs[i].nbytes))
            return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                                   "checkpoint blob %zu has no name or no data", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(ck->blobs[i].name, ck->blobs[j].name) == 0)
                return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                                       "checkpoint blob '%s' given twice", ck->blobs[i].name);
    }
    for (size_t i = 0; i < ck->n_meta; i++)
        if (!ck->meta[i].name || !ck->meta[i].value)
            return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                                   "checkpoint metadata entry %zu "
                                   "is NULL",
                                   i);
    for (size_t i = 0; i < ck->n_metrics; i++)
        if (!ck->metrics[i].name)
            return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG, "a metric without a name");
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__ckpt_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.step = ck->step;
    rec.train_loss = ck->train_loss;
    rec.val_loss = ck->val_loss;
    rec.metrics = (ntg_store_metric *)ck->metrics;
    rec.n_metrics = ck->n_metrics;
    rec.meta = (ntg_define *)ck->meta;
    rec.n_meta = ck->n_meta;
    rec.n_blobs = ck->n_blobs;
    rec.blob_names = ntg__pool_array(pool, ck->n_blobs + 1, sizeof *rec.blob_names);
    rec.blobs = ntg__pool_array(pool, ck->n_blobs + 1, sizeof *rec.blobs);
    ntg__writer w;
    memset(&w, 0, sizeof w);
    if (!rec.blob_names || !rec.blobs) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__store_kill(s, NTG__KP_BEGIN);
    if (!st) st = ntg__writer_init(&w, s, err);
    if (!st && ck->n_blobs) {
        /* blob i+1's chunks are hashed on a second thread while blob i's are written */
        const void **data = malloc(ck->n_blobs * sizeof *data);
        uint64_t *n = malloc(ck->n_blobs * sizeof *n);
        for (size_t i = 0; data && n && i < ck->n_blobs; i++) {
            data[i] = ck->blobs[i].data;
            n[i] = ck->blobs[i].nbytes;
        }
        if (data && n) ntg__writer_prehash(&w, data, n, ck->n_blobs);
        free(data);
        free(n);
    }
    for (size_t i = 0; !st && i < ck->n_blobs; i++) {
        rec.blob_names[i] = ck->blobs[i].name;
        st = ntg__writer_put(&w, ck->blobs[i].data, ck->blobs[i].nbytes, pool, &rec.blobs[i], err);
    }
    if (!st) st = ntg__writer_finish(&w, err);

    ntg__model_rec m;
    int found = 0;
    if (!st) st = ntg__get_model(s, NULL, name, pool, &m, &found, err);
    ntg__commit cm;
    memset(&cm, 0, sizeof cm);
    if (!st) st = ntg__commit_begin(s, &cm, &w, err);
    ntg__buf key = {0}, val = {0};
    ntg__buf pruned[MAX_PRUNE];
    memset(pruned, 0, sizeof pruned);
    size_t n_pruned = 0;
    uint64_t reclaimed = 0;
    ntg__buf files = {0};
    if (!st) {
        if (!found) {
            memset(&m, 0, sizeof m);
            m.kind = "";
            m.description = "";
            m.created_ms = ntg__now_ms();
            m.next_version = 1;
            m.next_ckpt = 1;
            cm.stats.n_models++;
        }
        rec.id = m.next_ckpt++;
        rec.created_ms = ntg__now_ms();
        m.n_ckpts++;
        cm.stats.n_ckpts++;
        ntg__key_named(&key, name, rec.id);
        ntg__enc_ckpt(&val, &rec);
        if (!key.oom && !val.oom)
            rocksdb_writebatch_put_cf(cm.wb, s->cf[NTG__CF_CKPTS], (const char *)key.p, key.len,
                                      (const char *)val.p, val.len);
        /* keep the newest `keep`: older records go in this same commit, and with them the
         * chunks nothing else uses, so a long run's disk use stays bounded */
        /* checkpoints belong to a run (metadata "run"): a run prunes only its own, so two
         * runs of one model do not take each other's; checkpoints without one count as one
         * run */
        const char *run = ckpt_run(ck->meta, ck->n_meta);
        if (keep) {
            ntg__buf prefix = {0}, upper;
            ntg__buf_cstr(&prefix, name);
            rocksdb_readoptions_t *ro = NULL;
            uint64_t same = 1; /* the new one */
            for (int pass = 0; pass < 2 && !prefix.oom; pass++) {
                uint64_t drop = pass == 0 ? 0 : (same > keep ? same - keep : 0);
                if (pass == 1 && drop == 0) break;
                rocksdb_iterator_t *it =
                    ntg__iter_prefix(s, NULL, NTG__CF_CKPTS, prefix.p, prefix.len, &upper, &ro);
                for (; it && (pass == 0 || drop) && n_pruned < MAX_PRUNE && rocksdb_iter_valid(it);
                     rocksdb_iter_next(it)) {
                    size_t kl, vl;
                    const char *k = rocksdb_iter_key(it, &kl);
                    const char *v = rocksdb_iter_value(it, &vl);
                    if (kl != prefix.len + 8) continue;
                    ntg__ckpt_rec old;
                    if (ntg__dec_ckpt(v, vl, pool, &old)) continue; /* verify names it */
                    if (strcmp(ckpt_run(old.meta, old.n_meta), run) != 0) continue;
                    if (pass == 0) {
                        same++;
                        continue;
                    }
                    rocksdb_writebatch_delete_cf(cm.wb, s->cf[NTG__CF_CKPTS], k, kl);
                    ntg__sb_put(&pruned[n_pruned++], k, kl);
                    drop--;
                    m.n_ckpts--;
                    cm.stats.n_ckpts--;
                }
                ntg__iter_end(it, ro, &upper);
            }
            ntg__sb_free(&prefix);
        }
        /* checkpoints of other runs the caller reclaims (store_train.c: abandoned runs), in
         * the same commit; ones already gone are skipped */
        for (size_t i = 0; !st && i < n_drop && n_pruned < MAX_PRUNE; i++) {
            ntg__buf k = {0};
            ntg__key_named(&k, name, drop_ids[i]);
            char *old = NULL;
            size_t ol = 0;
            if (k.oom) {
                key.oom = 1;
                break;
            }
            st = ntg__store_get(s, NULL, NTG__CF_CKPTS, k.p, k.len, &old, &ol, err);
            int dup = 0;
            for (size_t j = 0; j < n_pruned; j++)
                dup |= pruned[j].len == k.len && memcmp(pruned[j].p, k.p, k.len) == 0;
            if (!st && old && !dup && drop_ids[i] != rec.id) {
                rocksdb_writebatch_delete_cf(cm.wb, s->cf[NTG__CF_CKPTS], (const char *)k.p, k.len);
                pruned[n_pruned++] = k;
                m.n_ckpts--;
                cm.stats.n_ckpts--;
            } else {
                ntg__sb_free(&k);
            }
            free(old);
        }
        if (!st && n_pruned) {
            for (size_t i = 0; i < n_pruned; i++) key.oom |= pruned[i].oom;
            if (!key.oom)
                st = ntg__store_drop_pruned(s, cm.wb, pruned, n_pruned, rec.blobs, rec.n_blobs,
                                            &reclaimed, &files, err);
        }
        val.len = 0;
        ntg__enc_model(&val, &m);
        if (!val.oom)
            rocksdb_writebatch_put_cf(cm.wb, s->cf[NTG__CF_MODELS], name, strlen(name),
                                      (const char *)val.p, val.len);
        if (st) {
            ntg__commit_abort(&cm);
        } else if (key.oom || val.oom) {
            ntg__commit_abort(&cm);
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        } else {
            st = ntg__commit_write(s, &cm, err);
        }
        /* the pruned chunks are deleted durably; their blob files go now, not at the end,
         * and so do their chunk files (a crash before this leaves them to gc) */
        if (!st) ntg__store_unlink_files(s, &files);
        if (!st && reclaimed) st = ntg__store_drop_garbage_files(s, err);
    }
    ntg__sb_free(&files);
    for (size_t i = 0; i < n_pruned; i++) ntg__sb_free(&pruned[i]);
    ntg__sb_free(&key);
    ntg__sb_free(&val);
    ntg__writer_free(&w);
    if (!st) {
        ntg__store_kill(s, NTG__KP_COMMITTED);
        *id = rec.id;
    }
    ntg__pool_destroy(pool);
    return st;
}

/* ------------------------------------------------------------- tags, aliases */

ntg_status ntg_store_tag(ntg_store *s, const char *ref, const char *key, const char *value,
                         ntg_error *err)
{
    ntg_status st = writable(s, err);
    if (st) return st;
    if (!ref) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_tag: NULL reference");
    if ((st = check_tag_arg(s, key, value, err))) return st;
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    const char *name = NULL;
    uint64_t version = 0;
    if (strchr(ref, '@')) {
        st = ntg__resolve(s, NULL, ref, pool, &name, &version, err);
    } else {
        ntg__model_rec m;
        int found;
        name = ref;
        if (!ntg__valid_name(ref))
            st = bad_name(s, err, ref);
        else if (!(st = ntg__get_model(s, NULL, ref, pool, &m, &found, err)) && !found)
            st = ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "no model '%s'", ref);
    }
    ntg__buf row = {0}, idx = {0};
    char *old = NULL;
    size_t oldn = 0;
    if (!st) {
        tag_keys(name, version, key, "", &row, NULL);
        if (row.oom) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if (!st) st = ntg__store_get(s, NULL, NTG__CF_TAGS, row.p, row.len, &old, &oldn, err);
    if (!st && !old && !value)
        st = ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "%s has no tag '%s'", ref, key);
    ntg__commit cm;
    memset(&cm, 0, sizeof cm);
    if (!st) st = ntg__commit_begin(s, &cm, NULL, err);
    if (!st) {
        if (old) {
            ntg__buf oi = {0}, dummy = {0};
            tag_keys(name, version, key, old, &dummy, &oi);
            if (!oi.oom)
                rocksdb_writebatch_delete_cf(cm.wb, s->cf[NTG__CF_TAGIDX], (const char *)oi.p,
                                             oi.len);
            ntg__sb_free(&oi);
            ntg__sb_free(&dummy);
        }
        if (value) {
            ntg__buf dummy = {0};
            tag_keys(name, version, key, value, &dummy, &idx);
            ntg__sb_free(&dummy);
            rocksdb_writebatch_put_cf(cm.wb, s->cf[NTG__CF_TAGS], (const char *)row.p, row.len,
                                      value, strlen(value));
            if (!idx.oom)
                rocksdb_writebatch_put_cf(cm.wb, s->cf[NTG__CF_TAGIDX], (const char *)idx.p,
                                          idx.len, "", 0);
        } else {
            rocksdb_writebatch_delete_cf(cm.wb, s->cf[NTG__CF_TAGS], (const char *)row.p, row.len);
        }
        if (idx.oom) {
            ntg__commit_abort(&cm);
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        } else {
            st = ntg__commit_write(s, &cm, err);
        }
    }
    free(old);
    ntg__sb_free(&row);
    ntg__sb_free(&idx);
    ntg__pool_destroy(pool);
    return st;
}

ntg_status ntg_store_alias_set(ntg_store *s, const char *ref, const char *alias, ntg_error *err)
{
    ntg_status st = writable(s, err);
    if (st) return st;
    if ((st = check_alias_arg(s, alias, err))) return st;
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    const char *name;
    uint64_t version;
    st = ntg__resolve(s, NULL, ref, pool, &name, &version, err);
    ntg__commit cm;
    memset(&cm, 0, sizeof cm);
    if (!st) st = ntg__commit_begin(s, &cm, NULL, err);
    if (!st) {
        ntg__buf scratch = {0};
        put_alias(s, cm.wb, name, alias, version, &scratch);
        int oom = scratch.oom;
        ntg__sb_free(&scratch);
        if (oom) {
            ntg__commit_abort(&cm);
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        } else {
            st = ntg__commit_write(s, &cm, err);
        }
    }
    ntg__pool_destroy(pool);
    return st;
}

ntg_status ntg_store_alias_remove(ntg_store *s, const char *name, const char *alias, ntg_error *err)
{
    ntg_status st = writable(s, err);
    if (st) return st;
    if (!ntg__valid_name(name)) return bad_name(s, err, name);
    if ((st = check_alias_arg(s, alias, err))) return st;
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    /* resolving NAME@ALIAS gives the messages for an unknown model or alias */
    char *ref = ntg__pool_fmt(pool, "%s@%s", name, alias);
    const char *n2;
    uint64_t version;
    st = ref ? ntg__resolve(s, NULL, ref, pool, &n2, &version, err)
             : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__commit cm;
    memset(&cm, 0, sizeof cm);
    if (!st) st = ntg__commit_begin(s, &cm, NULL, err);
    if (!st) {
        ntg__buf key = {0};
        ntg__buf_cstr(&key, name);
        ntg__sb_put(&key, alias, strlen(alias));
        if (key.oom) {
            ntg__commit_abort(&cm);
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        } else {
            rocksdb_writebatch_delete_cf(cm.wb, s->cf[NTG__CF_ALIASES], (const char *)key.p,
                                         key.len);
            st = ntg__commit_write(s, &cm, err);
        }
        ntg__sb_free(&key);
    }
    ntg__pool_destroy(pool);
    return st;
}
