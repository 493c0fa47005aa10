/* store_blob.c — content-addressed chunks: hashing, writing them durable, reading objects back. */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan_int.h"
#include "store_int.h"

void ntg__hash(const ntg_store *s, const void *p, size_t n, uint8_t out[NTG__HASH])
{
    if (s->format >= 2)
        ntg__blake3(p, n, out);
    else
        crypto_generichash(out, NTG__HASH, p, n, NULL, 0);
}

/* Format 2: the hash of an object of several chunks is the BLAKE3 of a header and its chunks'
 * hashes ("ntgraph-object" NUL, u64 size, u32 chunk size, the hashes; little-endian), so each
 * byte is hashed once.  Objects of 0 or 1 chunk have the hash of their bytes.  Format 1 hashes
 * every byte a second time for the object (BLAKE2b of all of them). */
static int obj_hash_v2(const ntg__obj *o, uint8_t out[NTG__HASH])
{
    static const char tag[] = "ntgraph-object";
    size_t head = sizeof tag + 12, n = head + (size_t)o->n_chunks * NTG__HASH;
    uint8_t *b = malloc(n);
    if (!b) return -1;
    memcpy(b, tag, sizeof tag);
    for (int i = 0; i < 8; i++) b[sizeof tag + (size_t)i] = (uint8_t)(o->nbytes >> (8 * i));
    for (int i = 0; i < 4; i++)
        b[sizeof tag + 8 + (size_t)i] = (uint8_t)(o->chunk_bytes >> (8 * i));
    if (o->n_chunks) memcpy(b + head, o->chunks, (size_t)o->n_chunks * NTG__HASH);
    ntg__blake3(b, n, out);
    free(b);
    return 0;
}

void ntg__hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

static void chunk_key(char key[1 + NTG__HASH], char kind, const uint8_t *hash)
{
    key[0] = kind;
    memcpy(key + 1, hash, NTG__HASH);
}

/* ------------------------------------------------------------------ writing */

ntg_status ntg__writer_init(ntg__writer *w, ntg_store *s, ntg_error *err)
{
    memset(w, 0, sizeof *w);
    w->s = s;
    if (s->readonly)
        return ntg__store_fail(s, err, NTG_ERR_STATE, "the store was opened read-only");
    w->wb = rocksdb_writebatch_create();
    w->inl = rocksdb_writebatch_create();
    if (!w->wb || !w->inl) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return NTG_OK;
}

/* ------------------------------------------------------ hashing ahead (a second thread) */

typedef struct ntg__prehash {
    const ntg_store *s;
    size_t n;                /* chunks to hash, in the order the puts meet them */
    const uint8_t **p;       /* their bytes */
    size_t *len;             /* and lengths */
    uint8_t (*h)[NTG__HASH]; /* their hashes, [0, done) valid */
    size_t used;             /* the next one a put takes */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t done; /* under mu */
    int stop;    /* under mu: the writer is freed */
    pthread_t th;
} ntg__prehash;

static void *prehash_run(void *arg)
{
    ntg__prehash *q = arg;
    for (size_t i = 0; i < q->n; i++) {
        pthread_mutex_lock(&q->mu);
        int stop = q->stop;
        pthread_mutex_unlock(&q->mu);
        if (stop) break;
        ntg__hash(q->s, q->p[i], q->len[i], q->h[i]);
        pthread_mutex_lock(&q->mu);
        q->done = i + 1;
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

/* The chunk sizes ntg__writer_put cuts objects into. */
static uint32_t chunk_bytes(const ntg_store *s)
{
    /* format 3: chunk files of up to 64 MiB (fewer files to sync and remove per checkpoint);
     * RocksDB values stay at 8 MiB */
    return s->format >= 3 ? NTG__FILE_CHUNK_BYTES : NTG__CHUNK_BYTES;
}

void ntg__writer_prehash(ntg__writer *w, const void *const *data, const uint64_t *n, size_t count)
{
    if (w->pre) return;
    uint32_t cb = chunk_bytes(w->s);
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        for (uint64_t off = 0; off < n[i]; off += cb) k += n[i] - off > NTG__INLINE_MAX;
    if (k == 0) return;
    ntg__prehash *q = calloc(1, sizeof *q);
    if (!q) return;
    q->s = w->s;
    q->p = malloc(k * sizeof *q->p);
    q->len = malloc(k * sizeof *q->len);
    q->h = malloc(k * sizeof *q->h);
    if (!q->p || !q->len || !q->h) goto fail;
    for (size_t i = 0; i < count; i++)
        for (uint64_t off = 0; off < n[i]; off += cb) {
            uint64_t len = n[i] - off < cb ? n[i] - off : cb;
            if (len <= NTG__INLINE_MAX) continue;
            q->p[q->n] = (const uint8_t *)data[i] + off;
            q->len[q->n++] = (size_t)len;
        }
    if (pthread_mutex_init(&q->mu, NULL) != 0) goto fail;
    if (pthread_cond_init(&q->cv, NULL) != 0) {
        pthread_mutex_destroy(&q->mu);
        goto fail;
    }
    if (pthread_create(&q->th, NULL, prehash_run, q) != 0) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
        goto fail;
    }
    w->pre = q;
    return;
fail:
    free(q->p);
    free(q->len);
    free(q->h);
    free(q);
}

/* The hash of the chunk at p (len bytes): from the thread when it is the next one there. */
static void chunk_hash(ntg__writer *w, const uint8_t *p, size_t len, uint8_t out[NTG__HASH])
{
    ntg__prehash *q = w->pre;
    if (!q || q->used >= q->n || q->p[q->used] != p || q->len[q->used] != len) {
        ntg__hash(w->s, p, len, out);
        return;
    }
    pthread_mutex_lock(&q->mu);
    while (q->done <= q->used) pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
    memcpy(out, q->h[q->used++], NTG__HASH);
}

static void prehash_free(ntg__writer *w)
{
    ntg__prehash *q = w->pre;
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->th, NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->p);
    free(q->len);
    free(q->h);
    free(q);
    w->pre = NULL;
}

void ntg__writer_free(ntg__writer *w)
{
    prehash_free(w);
    if (w->s) ntg__chunk_files_drop_pending(w);
    if (w->wb) rocksdb_writebatch_destroy(w->wb);
    if (w->inl) rocksdb_writebatch_destroy(w->inl);
    ntg__sb_free(&w->seen);
    memset(w, 0, sizeof *w);
}

static int seen_has(const ntg__writer *w, const uint8_t *hash)
{
    for (size_t at = 0; at < w->seen.len; at += NTG__HASH)
        if (memcmp(w->seen.p + at, hash, NTG__HASH) == 0) return 1;
    return 0;
}

static ntg_status chunk_exists(ntg__writer *w, const uint8_t *hash, int *yes, ntg_error *err)
{
    *yes = seen_has(w, hash);
    if (*yes) return NTG_OK;
    char key[1 + NTG__HASH];
    chunk_key(key, 'i', hash);
    char *rerr = NULL;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_pinnableslice_t *v =
        rocksdb_get_pinned_cf(w->s->db, ro, w->s->cf[NTG__CF_CHUNKS], key, sizeof key, &rerr);
    rocksdb_readoptions_destroy(ro);
    if (rerr) return ntg__store_rdb(w->s, rerr, err, "cannot read the chunk index");
    *yes = v != NULL;
    rocksdb_pinnableslice_destroy(v);
    return NTG_OK;
}

static ntg_status write_batch(ntg__writer *w, ntg_error *err)
{
    if (w->wb_bytes == 0 && rocksdb_writebatch_count(w->wb) == 0) return NTG_OK;
    char *rerr = NULL;
    ntg_status st = ntg__store_space(w->s, w->wb_bytes, "cannot write chunks", err);
    if (st) {
        rocksdb_writebatch_clear(w->wb);
        w->wb_bytes = 0;
        return st;
    }
    /* no WAL: these rows become durable by the flush in ntg__writer_finish, before any record
     * refers to them; lost unflushed chunks are simply absent */
    rocksdb_write(w->s->db, w->s->wnowal, w->wb, &rerr);
    rocksdb_writebatch_clear(w->wb);
    w->wb_bytes = 0;
    if (rerr) return ntg__store_rdb(w->s, rerr, err, "cannot write chunks");
    w->dirty = 1;
    ntg__store_kill(w->s, NTG__KP_CHUNK_BATCH);
    return NTG_OK;
}

ntg_status ntg__writer_put(ntg__writer *w, const void *data, uint64_t n, ntg_pool *pool,
                           ntg__obj *obj, ntg_error *err)
{
    memset(obj, 0, sizeof *obj);
    obj->nbytes = n;
    uint32_t cb = chunk_bytes(w->s);
    obj->chunk_bytes = cb;
    uint64_t nc = (n + cb - 1) / cb;
    if (nc > UINT32_MAX) return ntg__fail(err, NTG_ERR_RANGE, "object too large");
    obj->n_chunks = (uint32_t)nc;
    if (nc) {
        obj->chunks = ntg__pool_array(pool, (size_t)nc, NTG__HASH);
        if (!obj->chunks) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    int v1 = w->s->format < 2;
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, NTG__HASH);
    const uint8_t *p = data;
    for (uint64_t c = 0; c < nc; c++) {
        uint64_t off = c * cb;
        size_t len = (size_t)(n - off < cb ? n - off : cb);
        chunk_hash(w, p + off, len, obj->chunks[c]);
        if (v1 && nc > 1) crypto_generichash_update(&hs, p + off, len);
        int have;
        ntg_status st = chunk_exists(w, obj->chunks[c], &have, err);
        if (st) return st;
        w->chunks++;
        w->bytes += len;
        if (have) continue;
        char key[1 + NTG__HASH];
        uint8_t size[8];
        ntg__put_be64(size, len);
        /* small chunks go with the record: one synced write, no flush for small changes */
        int inl = len <= NTG__INLINE_MAX && w->inl_bytes + len <= NTG__INLINE_BUDGET;
        /* format 3: large ones go to their own files, synced before the commit batch, which
         * holds their index rows (so a chunk is indexed only once its file is durable) */
        int file = ntg__chunk_in_file(w->s, len);
        rocksdb_writebatch_t *b = inl || file ? w->inl : w->wb;
        if (file) {
            if ((st = ntg__chunk_file_write(w, obj->chunks[c], p + off, len, err))) return st;
        } else {
            chunk_key(key, 'd', obj->chunks[c]);
            rocksdb_writebatch_put_cf(b, w->s->cf[NTG__CF_CHUNKS], key, sizeof key,
                                      (const char *)p + off, len);
        }
        chunk_key(key, 'i', obj->chunks[c]);
        rocksdb_writebatch_put_cf(b, w->s->cf[NTG__CF_CHUNKS], key, sizeof key, (const char *)size,
                                  sizeof size);
        ntg__sb_put(&w->seen, obj->chunks[c], NTG__HASH);
        if (w->seen.oom) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        w->new_chunks++;
        w->new_bytes += len;
        if (inl || file) {
            if (inl) w->inl_bytes += len;
            continue;
        }
        w->wb_bytes += len;
        if (w->wb_bytes >= NTG__BATCH_BYTES && (st = write_batch(w, err))) return st;
    }
    if (nc == 1)
        memcpy(obj->hash, obj->chunks[0], NTG__HASH);
    else if (v1)
        crypto_generichash_final(&hs, obj->hash, NTG__HASH);
    else if (nc == 0)
        ntg__blake3(p, 0, obj->hash);
    else if (obj_hash_v2(obj, obj->hash))
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return NTG_OK;
}

ntg_status ntg__writer_finish(ntg__writer *w, ntg_error *err)
{
    ntg_status st = write_batch(w, err);
    if (st) return st;
    if (w->dirty) {
        char *rerr = NULL;
        if ((st = ntg__store_space(w->s, 0, "cannot make the chunks durable", err))) return st;
        rocksdb_flush_cf(w->s->db, w->s->flush, w->s->cf[NTG__CF_CHUNKS], &rerr);
        if (rerr) return ntg__store_rdb(w->s, rerr, err, "cannot make the chunks durable");
        w->dirty = 0;
    }
    if ((st = ntg__chunk_files_sync(w, err))) return st;
    ntg__store_kill(w->s, NTG__KP_CHUNKS_DURABLE);
    return NTG_OK;
}

/* ------------------------------------------------------------------ reading */

/* `map`: dst is a page-aligned reservation of ntg__blob_map_reserve, chunk files are mapped
 * into it rather than read */
static ntg_status obj_read(ntg_store *s, const ntg__view *v, const ntg__obj *o, void *dst,
                           int check, int map, const char *what, ntg_error *err)
{
    /* format 2 checks every chunk's BLAKE3 as it reads it, which is stronger than RocksDB's
     * CRC32C of the blob record and, in Debian's portable build of RocksDB (software CRC),
     * faster: that check is switched off for these reads (verify still does both) */
    int v2 = s->format >= 2;
    /* every chunk but the last is chunk_bytes long: mapped files must start on a page */
    map = map && !check && o->chunk_bytes % (uint64_t)sysconf(_SC_PAGESIZE) == 0;
    rocksdb_readoptions_t *ro = v->ro, *own = NULL;
    if (v2) {
        if (!(own = rocksdb_readoptions_create()))
            return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        if (v->snap) rocksdb_readoptions_set_snapshot(own, v->snap);
        rocksdb_readoptions_set_verify_checksums(own, 0);
        ro = own;
    }
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, NTG__HASH);
    uint8_t *out = dst;
    ntg_status st = NTG_OK;
    for (uint32_t c = 0; !st && c < o->n_chunks; c++) {
        uint64_t off = (uint64_t)c * o->chunk_bytes;
        size_t want = (size_t)(o->nbytes - off < o->chunk_bytes ? o->nbytes - off : o->chunk_bytes);
        char key[1 + NTG__HASH], hex[2 * NTG__HASH + 1];
        if (ntg__chunk_in_file(s, want)) {
            /* straight from its file into dst: no RocksDB buffer, no copy */
            st = map ? ntg__chunk_file_map(s, o->chunks[c], out + off, want, what, err)
                     : ntg__chunk_file_read(s, o->chunks[c], out + off, want, check, what, err);
            continue;
        }
        chunk_key(key, 'd', o->chunks[c]);
        char *rerr = NULL;
        rocksdb_pinnableslice_t *ps =
            rocksdb_get_pinned_cf(s->db, ro, s->cf[NTG__CF_CHUNKS], key, sizeof key, &rerr);
        if (rerr) {
            /* a reader may race the writer's compaction for a blob file (gone a moment later):
             * retry after catch-up; damaged bytes stay damaged, so no retry for those */
            s->missing = s->readonly && ntg__store_rdb_status(rerr) != NTG_ERR_DATA;
            st = ntg__store_rdb(s, rerr, err, what);
            break;
        }
        ntg__hex(o->chunks[c], 8, hex);
        if (!ps) {
            s->missing = 1;
            st = ntg__store_fail(s, err, NTG_ERR_DATA, "%s: chunk %s... is missing", what, hex);
            break;
        }
        size_t n = 0;
        const char *p = rocksdb_pinnableslice_value(ps, &n);
        uint8_t h[NTG__HASH];
        if (v2 && n == want) ntg__blake3(p, n, h);
        if (n != want) {
            st = ntg__store_fail(s, err, NTG_ERR_DATA,
                                 "%s: chunk %s... holds %zu bytes, the record says %zu", what, hex,
                                 n, want);
        } else if (v2 && memcmp(h, o->chunks[c], NTG__HASH) != 0) {
            st = ntg__store_fail(s, err, NTG_ERR_DATA,
                                 "%s: chunk %s...: the bytes read do not match their hash "
                                 "(corrupted store)",
                                 what, hex);
        } else {
            memcpy(out + off, p, n);
            if (!v2 && check && o->n_chunks > 1) crypto_generichash_update(&hs, out + off, n);
        }
        rocksdb_pinnableslice_destroy(ps);
    }
    if (own) rocksdb_readoptions_destroy(own);
    if (st || (!check && !v2)) return st;
    uint8_t h[NTG__HASH];
    if (!v2 && o->n_chunks == 1)
        ntg__hash(s, out, (size_t)o->nbytes, h);
    else if (!v2)
        crypto_generichash_final(&hs, h, NTG__HASH);
    else if (o->n_chunks == 1)
        memcpy(h, o->chunks[0], NTG__HASH); /* its bytes were checked against it above */
    else if (o->n_chunks == 0)
        ntg__blake3(out, 0, h);
    else if (obj_hash_v2(o, h))
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (memcmp(h, o->hash, NTG__HASH) != 0)
        return ntg__store_fail(s, err, NTG_ERR_DATA,
                               "%s: the bytes read do not match their hash (corrupted store)",
                               what);
    return NTG_OK;
}

ntg_status ntg__obj_read(ntg_store *s, const ntg__view *v, const ntg__obj *o, void *dst, int check,
                         const char *what, ntg_error *err)
{
    return obj_read(s, v, o, dst, check, 0, what, err);
}

ntg_status ntg__obj_map(ntg_store *s, const ntg__view *v, const ntg__obj *o, void **out,
                        size_t *len, const char *what, ntg_error *err)
{
    *out = NULL;
    *len = 0;
    if (o->nbytes > SIZE_MAX / 2) return ntg__fail(err, NTG_ERR_DATA, "%s: implausible size", what);
    size_t n = 0;
    void *p = ntg__blob_map_reserve((size_t)o->nbytes + 1, &n);
    if (!p) return ntg__fail(err, NTG_ERR_NOMEM, "%s: out of memory", what);
    ntg_status st = obj_read(s, v, o, p, 0, 1, what, err);
    if (st) {
        ntg__blob_unmap(p, n);
        return st;
    }
    *out = p;
    *len = n;
    return NTG_OK;
}

/* The WEIGHTS entry of a plan file's section table, or -1. */
static long weights_entry(const uint8_t *base, size_t size)
{
    ntg_plan_header h;
    if (size < sizeof h) return -1;
    memcpy(&h, base, sizeof h);
    for (uint32_t i = 0; i < h.section_count; i++) {
        size_t at = (size_t)h.section_table + (size_t)i * sizeof(ntg_plan_section);
        if (at + sizeof(ntg_plan_section) > size) return -1;
        ntg_plan_section sec;
        memcpy(&sec, base + at, sizeof sec);
        if (sec.kind == NTG_SEC_WEIGHTS) return (long)at;
    }
    return -1;
}

ntg_status ntg__version_plan_bytes(ntg_store *s, const ntg__view *v, const char *name,
                                   const ntg__version_rec *rec, int check, void **out, size_t *size,
                                   ntg_error *err)
{
    *out = NULL;
    *size = 0;
    if (rec->plan_bytes > SIZE_MAX / 2)
        return ntg__store_fail(s, err, NTG_ERR_DATA, "%s@%llu: implausible plan size", name,
                               (unsigned long long)rec->version);
    size_t total = (size_t)rec->plan_bytes, woff = (size_t)rec->weights_off,
           wlen = (size_t)rec->weights_len, skel = (size_t)rec->skeleton.nbytes;
    uint8_t *buf = ntg__aligned_alloc(total ? total : 64);
    if (!buf) return ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes", total);
    char what[NTG__NAME_MAX + 300];
    snprintf(what, sizeof what, "%s@%llu: plan", name, (unsigned long long)rec->version);
    ntg_status st = ntg__obj_read(s, v, &rec->skeleton, buf, 1, what, err);
    if (!st) {
        /* the skeleton is the file without its WEIGHTS section: open the gap, fill it */
        memmove(buf + woff + wlen, buf + woff, skel - woff);
        memset(buf + woff, 0, wlen);
    }
    for (size_t i = 0; !st && i < rec->n_tensors; i++) {
        const ntg__tensor *t = &rec->tensors[i];
        snprintf(what, sizeof what, "%s@%llu: tensor '%s'", name, (unsigned long long)rec->version,
                 t->name);
        st = ntg__obj_read(s, v, &t->obj, buf + woff + t->offset, check, what, err);
    }
    if (!st && wlen) {
        /* the stored skeleton has the WEIGHTS CRC zeroed, so versions that differ only in
         * weights share it */
        long at = weights_entry(buf, total);
        ntg_plan_section sec;
        if (at >= 0) memcpy(&sec, buf + at, sizeof sec);
        if (at < 0 || sec.offset != woff || sec.bytes != wlen) {
            st = ntg__store_fail(s, err, NTG_ERR_DATA, "%s@%llu: the stored plan is inconsistent",
                                 name, (unsigned long long)rec->version);
        } else {
            sec.crc = ntg__crc32c(0, buf + woff, wlen);
            memcpy(buf + at, &sec, sizeof sec);
        }
    }
    if (st) {
        ntg__aligned_free(buf);
        return st;
    }
    *out = buf;
    *size = total;
    return NTG_OK;
}

long ntg__plan_weights_entry(const uint8_t *base, size_t size)
{
    return weights_entry(base, size);
}
