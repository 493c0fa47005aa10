/* store_rec.c — byte buffers, keys and the binary records of the model store (little-endian). */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define REC_VERSION 1u

/* ------------------------------------------------------------------ buffers */

void ntg__buf_u8(ntg__buf *b, uint8_t v)
{
    ntg__sb_put(b, &v, 1);
}

void ntg__buf_u32(ntg__buf *b, uint32_t v)
{
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    ntg__sb_put(b, p, 4);
}

void ntg__buf_u64(ntg__buf *b, uint64_t v)
{
    ntg__buf_u32(b, (uint32_t)v);
    ntg__buf_u32(b, (uint32_t)(v >> 32));
}

void ntg__put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t ntg__be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

void ntg__buf_be64(ntg__buf *b, uint64_t v)
{
    uint8_t p[8];
    ntg__put_be64(p, v);
    ntg__sb_put(b, p, 8);
}

void ntg__buf_f64(ntg__buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    ntg__buf_u64(b, u);
}

void ntg__buf_str(ntg__buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    ntg__buf_u32(b, (uint32_t)n);
    ntg__sb_put(b, s, n);
}

void ntg__buf_cstr(ntg__buf *b, const char *s)
{
    ntg__sb_put(b, s, strlen(s) + 1);
}

/* ------------------------------------------------------------------ reader */

const uint8_t *ntg__rd_bytes(ntg__rd *r, size_t n)
{
    if (r->bad || n > r->n - r->at) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->at;
    r->at += n;
    return p;
}

uint8_t ntg__rd_u8(ntg__rd *r)
{
    const uint8_t *p = ntg__rd_bytes(r, 1);
    return p ? p[0] : 0;
}

uint32_t ntg__rd_u32(ntg__rd *r)
{
    const uint8_t *p = ntg__rd_bytes(r, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

uint64_t ntg__rd_u64(ntg__rd *r)
{
    uint64_t lo = ntg__rd_u32(r);
    return lo | (uint64_t)ntg__rd_u32(r) << 32;
}

double ntg__rd_f64(ntg__rd *r)
{
    uint64_t u = ntg__rd_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

char *ntg__rd_str(ntg__rd *r, ntg_pool *pool)
{
    uint32_t n = ntg__rd_u32(r);
    const uint8_t *p = ntg__rd_bytes(r, n);
    if (!p) return NULL;
    if (memchr(p, 0, n)) {
        r->bad = 1;
        return NULL;
    }
    char *s = ntg__pool_strndup(pool, (const char *)p, n);
    if (!s) r->bad = 1;
    return s;
}

/* A count of entries that each take at least `min` bytes: refused when the rest cannot hold
 * them, so a corrupted count cannot ask for a huge allocation. */
static uint32_t rd_count(ntg__rd *r, size_t min)
{
    uint32_t n = ntg__rd_u32(r);
    if (!r->bad && (size_t)n > (r->n - r->at) / min) r->bad = 1;
    return r->bad ? 0 : n;
}

/* ------------------------------------------------------------------ keys */

void ntg__key_named(ntg__buf *b, const char *name, uint64_t n)
{
    ntg__buf_cstr(b, name);
    ntg__buf_be64(b, n);
}

int ntg__key_upper(const uint8_t *prefix, size_t n, ntg__buf *out)
{
    memset(out, 0, sizeof *out);
    while (n > 0 && prefix[n - 1] == 0xff) n--;
    if (n == 0) return 0;
    ntg__sb_put(out, prefix, n);
    if (out->oom) return 0;
    ((unsigned char *)out->p)[n - 1]++;
    return 1;
}

/* ------------------------------------------------------------------ objects */

static void enc_obj(ntg__buf *b, const ntg__obj *o)
{
    ntg__buf_u64(b, o->nbytes);
    ntg__sb_put(b, o->hash, NTG__HASH);
    ntg__buf_u32(b, o->chunk_bytes);
    ntg__buf_u32(b, o->n_chunks);
    ntg__sb_put(b, o->chunks, (size_t)o->n_chunks * NTG__HASH);
}

static void dec_obj(ntg__rd *r, ntg_pool *pool, ntg__obj *o)
{
    o->nbytes = ntg__rd_u64(r);
    const uint8_t *h = ntg__rd_bytes(r, NTG__HASH);
    if (h) memcpy(o->hash, h, NTG__HASH);
    o->chunk_bytes = ntg__rd_u32(r);
    o->n_chunks = rd_count(r, NTG__HASH);
    const uint8_t *c = ntg__rd_bytes(r, (size_t)o->n_chunks * NTG__HASH);
    o->chunks = NULL;
    if (c && o->n_chunks) {
        o->chunks = ntg__pool_array(pool, o->n_chunks, NTG__HASH);
        if (o->chunks)
            memcpy(o->chunks, c, (size_t)o->n_chunks * NTG__HASH);
        else
            r->bad = 1;
    }
    /* the chunk list must tile the object exactly */
    if (!r->bad) {
        uint64_t cb = o->chunk_bytes;
        uint64_t want = cb ? (o->nbytes + cb - 1) / cb : 0;
        if (cb == 0 || cb > (64u << 20) || want != o->n_chunks) r->bad = 1;
    }
}

/* ------------------------------------------------------------------ metrics, pairs */

static void enc_metrics(ntg__buf *b, const ntg_store_metric *m, size_t n)
{
    ntg__buf_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        ntg__buf_str(b, m[i].name);
        ntg__buf_f64(b, m[i].value);
    }
}

static ntg_store_metric *dec_metrics(ntg__rd *r, ntg_pool *pool, size_t *n)
{
    *n = rd_count(r, 12);
    ntg_store_metric *m = *n ? ntg__pool_array(pool, *n, sizeof *m) : NULL;
    if (*n && !m) r->bad = 1;
    for (size_t i = 0; !r->bad && i < *n; i++) {
        m[i].name = ntg__rd_str(r, pool);
        m[i].value = ntg__rd_f64(r);
    }
    return r->bad ? NULL : m;
}

static void enc_pairs(ntg__buf *b, const ntg_define *d, size_t n)
{
    ntg__buf_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        ntg__buf_str(b, d[i].name);
        ntg__buf_str(b, d[i].value);
    }
}

static ntg_define *dec_pairs(ntg__rd *r, ntg_pool *pool, size_t *n)
{
    *n = rd_count(r, 8);
    ntg_define *d = *n ? ntg__pool_array(pool, *n, sizeof *d) : NULL;
    if (*n && !d) r->bad = 1;
    for (size_t i = 0; !r->bad && i < *n; i++) {
        d[i].name = ntg__rd_str(r, pool);
        d[i].value = ntg__rd_str(r, pool);
    }
    return r->bad ? NULL : d;
}

/* ------------------------------------------------------------------ records */

void ntg__enc_model(ntg__buf *b, const ntg__model_rec *m)
{
    ntg__buf_u8(b, REC_VERSION);
    ntg__buf_str(b, m->kind);
    ntg__buf_str(b, m->description);
    ntg__buf_u64(b, (uint64_t)m->created_ms);
    ntg__buf_u64(b, m->next_version);
    ntg__buf_u64(b, m->n_versions);
    ntg__buf_u64(b, m->next_ckpt);
    ntg__buf_u64(b, m->n_ckpts);
}

int ntg__dec_model(const void *p, size_t n, ntg_pool *pool, ntg__model_rec *m)
{
    ntg__rd r = {p, n, 0, 0};
    memset(m, 0, sizeof *m);
    if (ntg__rd_u8(&r) != REC_VERSION) return -1;
    m->kind = ntg__rd_str(&r, pool);
    m->description = ntg__rd_str(&r, pool);
    m->created_ms = (int64_t)ntg__rd_u64(&r);
    m->next_version = ntg__rd_u64(&r);
    m->n_versions = ntg__rd_u64(&r);
    m->next_ckpt = ntg__rd_u64(&r);
    m->n_ckpts = ntg__rd_u64(&r);
    return r.bad || r.at != n || m->next_version == 0 || m->next_ckpt == 0 ? -1 : 0;
}

void ntg__enc_version(ntg__buf *b, const ntg__version_rec *v)
{
    ntg__buf_u8(b, REC_VERSION);
    ntg__buf_u64(b, v->version);
    ntg__buf_u64(b, (uint64_t)v->created_ms);
    ntg__buf_u64(b, v->parent);
    ntg__buf_str(b, v->kind);
    ntg__buf_str(b, v->description);
    ntg__sb_put(b, v->plan_hash, NTG__HASH);
    ntg__buf_u64(b, v->plan_bytes);
    ntg__buf_u64(b, v->weights_off);
    ntg__buf_u64(b, v->weights_len);
    enc_obj(b, &v->skeleton);
    ntg__buf_u64(b, v->param_elements);
    ntg__buf_u64(b, v->weight_bytes);
    ntg__buf_str(b, v->data_sha256);
    ntg__buf_str(b, v->data_split);
    enc_metrics(b, v->metrics, v->n_metrics);
    enc_pairs(b, v->hparams, v->n_hparams);
    /* the manifest last: listings stop before it */
    ntg__buf_u32(b, (uint32_t)v->n_tensors);
    for (size_t i = 0; i < v->n_tensors; i++) {
        const ntg__tensor *t = &v->tensors[i];
        ntg__buf_str(b, t->name);
        ntg__buf_u8(b, t->dtype);
        ntg__buf_u8(b, t->role);
        ntg__buf_u8(b, t->rank);
        for (int d = 0; d < t->rank; d++) ntg__buf_u64(b, t->dims[d]);
        ntg__buf_u64(b, t->offset);
        enc_obj(b, &t->obj);
    }
}

int ntg__dec_version(const void *p, size_t n, ntg_pool *pool, int with_manifest,
                     ntg__version_rec *v)
{
    ntg__rd r = {p, n, 0, 0};
    memset(v, 0, sizeof *v);
    if (ntg__rd_u8(&r) != REC_VERSION) return -1;
    v->version = ntg__rd_u64(&r);
    v->created_ms = (int64_t)ntg__rd_u64(&r);
    v->parent = ntg__rd_u64(&r);
    v->kind = ntg__rd_str(&r, pool);
    v->description = ntg__rd_str(&r, pool);
    const uint8_t *h = ntg__rd_bytes(&r, NTG__HASH);
    if (h) memcpy(v->plan_hash, h, NTG__HASH);
    v->plan_bytes = ntg__rd_u64(&r);
    v->weights_off = ntg__rd_u64(&r);
    v->weights_len = ntg__rd_u64(&r);
    dec_obj(&r, pool, &v->skeleton);
    v->param_elements = ntg__rd_u64(&r);
    v->weight_bytes = ntg__rd_u64(&r);
    v->data_sha256 = ntg__rd_str(&r, pool);
    v->data_split = ntg__rd_str(&r, pool);
    v->metrics = dec_metrics(&r, pool, &v->n_metrics);
    v->hparams = dec_pairs(&r, pool, &v->n_hparams);
    v->n_tensors = rd_count(&r, 4 + 3 + 8 + 8 + NTG__HASH + 8);
    if (r.bad) return -1;
    if (v->skeleton.nbytes + v->weights_len != v->plan_bytes || v->weights_off > v->skeleton.nbytes)
        return -1;
    if (!with_manifest) return 0;
    v->tensors = v->n_tensors ? ntg__pool_array(pool, v->n_tensors, sizeof *v->tensors) : NULL;
    if (v->n_tensors && !v->tensors) return -1;
    for (size_t i = 0; !r.bad && i < v->n_tensors; i++) {
        ntg__tensor *t = &v->tensors[i];
        t->name = ntg__rd_str(&r, pool);
        t->dtype = ntg__rd_u8(&r);
        t->role = ntg__rd_u8(&r);
        t->rank = ntg__rd_u8(&r);
        if (t->rank > NTG_MAX_RANK) r.bad = 1;
        for (int d = 0; !r.bad && d < t->rank; d++) t->dims[d] = ntg__rd_u64(&r);
        t->offset = ntg__rd_u64(&r);
        dec_obj(&r, pool, &t->obj);
        if (!r.bad && (t->offset > v->weights_len || t->obj.nbytes > v->weights_len - t->offset))
            r.bad = 1;
    }
    return r.bad || r.at != n ? -1 : 0;
}

void ntg__enc_ckpt(ntg__buf *b, const ntg__ckpt_rec *c)
{
    ntg__buf_u8(b, REC_VERSION);
    ntg__buf_u64(b, c->id);
    ntg__buf_u64(b, (uint64_t)c->created_ms);
    ntg__buf_u64(b, (uint64_t)(int64_t)c->step);
    ntg__buf_f64(b, c->train_loss);
    ntg__buf_f64(b, c->val_loss);
    enc_metrics(b, c->metrics, c->n_metrics);
    enc_pairs(b, c->meta, c->n_meta);
    ntg__buf_u32(b, (uint32_t)c->n_blobs);
    for (size_t i = 0; i < c->n_blobs; i++) {
        ntg__buf_str(b, c->blob_names[i]);
        enc_obj(b, &c->blobs[i]);
    }
}

int ntg__dec_ckpt(const void *p, size_t n, ntg_pool *pool, ntg__ckpt_rec *c)
{
    ntg__rd r = {p, n, 0, 0};
    memset(c, 0, sizeof *c);
    if (ntg__rd_u8(&r) != REC_VERSION) return -1;
    c->id = ntg__rd_u64(&r);
    c->created_ms = (int64_t)ntg__rd_u64(&r);
    c->step = (long)(int64_t)ntg__rd_u64(&r);
    c->train_loss = ntg__rd_f64(&r);
    c->val_loss = ntg__rd_f64(&r);
    c->metrics = dec_metrics(&r, pool, &c->n_metrics);
    c->meta = dec_pairs(&r, pool, &c->n_meta);
    c->n_blobs = rd_count(&r, 4 + 8 + NTG__HASH + 8);
    if (r.bad) return -1;
    c->blob_names = c->n_blobs ? ntg__pool_array(pool, c->n_blobs, sizeof *c->blob_names) : NULL;
    c->blobs = c->n_blobs ? ntg__pool_array(pool, c->n_blobs, sizeof *c->blobs) : NULL;
    if (c->n_blobs && (!c->blob_names || !c->blobs)) return -1;
    for (size_t i = 0; !r.bad && i < c->n_blobs; i++) {
        c->blob_names[i] = ntg__rd_str(&r, pool);
        dec_obj(&r, pool, &c->blobs[i]);
    }
    return r.bad || r.at != n ? -1 : 0;
}

void ntg__enc_stats(ntg__buf *b, const ntg__stats_rec *s)
{
    ntg__buf_u8(b, REC_VERSION);
    ntg__buf_u64(b, s->n_models);
    ntg__buf_u64(b, s->n_versions);
    ntg__buf_u64(b, s->n_ckpts);
    ntg__buf_u64(b, s->commits);
}

int ntg__dec_stats(const void *p, size_t n, ntg__stats_rec *s)
{
    ntg__rd r = {p, n, 0, 0};
    memset(s, 0, sizeof *s);
    if (ntg__rd_u8(&r) != REC_VERSION) return -1;
    s->n_models = ntg__rd_u64(&r);
    s->n_versions = ntg__rd_u64(&r);
    s->n_ckpts = ntg__rd_u64(&r);
    s->commits = ntg__rd_u64(&r);
    return r.bad || r.at != n ? -1 : 0;
}

void ntg__enc_embed(ntg__buf *b, const float *e, const char *kind, uint64_t params,
                    int64_t created_ms)
{
    ntg__buf_u8(b, NTG__EMBED_DIM);
    for (int i = 0; i < NTG__EMBED_DIM; i++) {
        uint32_t u;
        memcpy(&u, &e[i], 4);
        ntg__buf_u32(b, u);
    }
    ntg__buf_str(b, kind);
    ntg__buf_u64(b, params);
    ntg__buf_u64(b, (uint64_t)created_ms);
}
