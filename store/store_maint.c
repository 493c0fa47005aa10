/* store_maint.c — garbage collection, backup, verification, statistics and consistency checks. */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_int.h"
#include "store_int.h"

/* ------------------------------------------------------------------ hash set */

/* Set of 32-byte hashes (open addressing; the hashes are uniform, so their first bytes index). */
typedef struct hset {
    uint8_t (*keys)[NTG__HASH];
    uint8_t *used;
    size_t cap, len;
} hset;

static void hset_free(hset *h)
{
    free(h->keys);
    free(h->used);
    memset(h, 0, sizeof *h);
}

static size_t hslot(const uint8_t *k, size_t cap)
{
    uint64_t x;
    memcpy(&x, k, 8);
    return (size_t)(x & (cap - 1));
}

static int hset_has(const hset *h, const uint8_t *k)
{
    if (!h->cap) return 0;
    for (size_t i = hslot(k, h->cap);; i = (i + 1) & (h->cap - 1)) {
        if (!h->used[i]) return 0;
        if (memcmp(h->keys[i], k, NTG__HASH) == 0) return 1;
    }
}

static int hset_add(hset *h, const uint8_t *k)
{
    if (2 * (h->len + 1) > h->cap) {
        hset g = {0};
        g.cap = h->cap ? 2 * h->cap : 1024;
        g.keys = malloc(g.cap * NTG__HASH);
        g.used = calloc(g.cap, 1);
        if (!g.keys || !g.used) {
            hset_free(&g);
            return -1;
        }
        for (size_t i = 0; i < h->cap; i++)
            if (h->used[i]) {
                size_t j = hslot(h->keys[i], g.cap);
                while (g.used[j]) j = (j + 1) & (g.cap - 1);
                g.used[j] = 1;
                memcpy(g.keys[j], h->keys[i], NTG__HASH);
                g.len++;
            }
        hset_free(h);
        *h = g;
    }
    size_t i = hslot(k, h->cap);
    while (h->used[i]) {
        if (memcmp(h->keys[i], k, NTG__HASH) == 0) return 0;
        i = (i + 1) & (h->cap - 1);
    }
    h->used[i] = 1;
    memcpy(h->keys[i], k, NTG__HASH);
    h->len++;
    return 0;
}

static int add_obj(hset *h, const ntg__obj *o)
{
    for (uint32_t c = 0; c < o->n_chunks; c++)
        if (hset_add(h, o->chunks[c])) return -1;
    return 0;
}

/* Every chunk a version or checkpoint record references; checkpoint rows whose key is one of
 * `skip` (n_skip keys of skip_len bytes each, NULL: none) are left out. */
static ntg_status collect_refs_but(ntg_store *s, const ntg__view *v, hset *refs,
                                   const ntg__buf *skip, size_t n_skip, ntg_error *err);
static ntg_status collect_refs(ntg_store *s, const ntg__view *v, hset *refs, ntg_error *err)
{
    return collect_refs_but(s, v, refs, NULL, 0, err);
}

static int skipped(const ntg__buf *skip, size_t n_skip, const char *k, size_t kl)
{
    for (size_t i = 0; i < n_skip; i++)
        if (skip[i].len == kl && memcmp(skip[i].p, k, kl) == 0) return 1;
    return 0;
}

static ntg_status collect_refs_but(ntg_store *s, const ntg__view *v, hset *refs,
                                   const ntg__buf *skip, size_t n_skip, ntg_error *err)
{
    int cfs[2] = {NTG__CF_VERSIONS, NTG__CF_CKPTS};
    ntg_status st = NTG_OK;
    for (int c = 0; !st && c < 2; c++) {
        ntg__buf upper;
        rocksdb_readoptions_t *ro;
        rocksdb_iterator_t *it = ntg__iter_prefix(s, v, cfs[c], NULL, 0, &upper, &ro);
        if (!it) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        for (; !st && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            size_t vl, kl;
            const char *val = rocksdb_iter_value(it, &vl);
            const char *key = rocksdb_iter_key(it, &kl);
            if (cfs[c] == NTG__CF_CKPTS && skipped(skip, n_skip, key, kl)) continue;
            ntg_pool *pool = ntg__pool_create();
            if (!pool) {
                st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
                break;
            }
            int bad = 0;
            if (cfs[c] == NTG__CF_VERSIONS) {
                ntg__version_rec r;
                bad = ntg__dec_version(val, vl, pool, 1, &r);
                if (!bad) bad = add_obj(refs, &r.skeleton) ? 2 : 0;
                for (size_t i = 0; !bad && i < r.n_tensors; i++)
                    bad = add_obj(refs, &r.tensors[i].obj) ? 2 : 0;
            } else {
                ntg__ckpt_rec r;
                bad = ntg__dec_ckpt(val, vl, pool, &r);
                for (size_t i = 0; !bad && i < r.n_blobs; i++)
                    bad = add_obj(refs, &r.blobs[i]) ? 2 : 0;
            }
            ntg__pool_destroy(pool);
            if (bad == 2) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            /* a record that cannot be read: refuse to collect, its chunks might be live */
            else if (bad)
                st = ntg__store_fail(s, err, NTG_ERR_DATA,
                                     "a %s record is corrupted; nothing was collected "
                                     "(run verify)",
                                     cfs[c] == NTG__CF_VERSIONS ? "version" : "checkpoint");
        }
        ntg__iter_end(it, ro, &upper);
    }
    return st;
}

/* ------------------------------------------------------------------ chunk files */

/* A chunk file's name: 64 hex digits, then nothing (*tmp 0) or ".tmp" (*tmp 1). */
static int file_name_hash(const char *name, uint8_t hash[NTG__HASH], int *tmp)
{
    for (int i = 0; i < 2 * NTG__HASH; i++) {
        int c = name[i], v = c >= '0' && c <= '9'   ? c - '0'
                             : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                    : -1;
        if (v < 0) return 0;
        if (i % 2 == 0)
            hash[i / 2] = (uint8_t)(v << 4);
        else
            hash[i / 2] = (uint8_t)(hash[i / 2] | v);
    }
    *tmp = strcmp(name + 2 * NTG__HASH, ".tmp") == 0;
    return *tmp || name[2 * NTG__HASH] == 0;
}

/* Call fn for each chunk file (and leftover .tmp) of a format-3 store. */
typedef void (*file_fn)(void *ctx, const char *path, const uint8_t *hash, int tmp, uint64_t size);
static void each_file(ntg_store *s, file_fn fn, void *ctx)
{
    if (s->format < 3) return;
    char dir[4096];
    ntg__chunk_path(s, NULL, NULL, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint8_t h[NTG__HASH];
        int tmp;
        if (!file_name_hash(e->d_name, h, &tmp)) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        uint64_t size = stat(path, &sb) == 0 && sb.st_size >= 4 ? (uint64_t)sb.st_size - 4 : 0;
        fn(ctx, path, h, tmp, size);
    }
    closedir(d);
}

void ntg__store_unlink_files(ntg_store *s, const ntg__buf *hashes)
{
    for (size_t at = 0; at + NTG__HASH <= hashes->len; at += NTG__HASH) {
        char path[4096];
        ntg__chunk_path(s, (const uint8_t *)hashes->p + at, NULL, path, sizeof path);
        (void)unlink(path);
    }
}

/* ------------------------------------------------------------------ gc */

ntg_status ntg__store_drop_pruned(ntg_store *s, rocksdb_writebatch_t *wb, const ntg__buf *pruned,
                                  size_t n_pruned, const ntg__obj *keep, size_t n_keep,
                                  uint64_t *bytes, ntg__buf *files, ntg_error *err)
{
    *bytes = 0;
    if (n_pruned == 0) return NTG_OK;
    hset refs = {0}, gone = {0};
    ntg_status st = collect_refs_but(s, NULL, &refs, pruned, n_pruned, err);
    for (size_t i = 0; !st && i < n_keep; i++)
        if (add_obj(&refs, &keep[i])) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t p = 0; !st && p < n_pruned; p++) {
        char *val = NULL;
        size_t vl = 0;
        st = ntg__store_get(s, NULL, NTG__CF_CKPTS, pruned[p].p, pruned[p].len, &val, &vl, err);
        if (st || !val) break;
        ntg_pool *pool = ntg__pool_create();
        ntg__ckpt_rec r;
        /* a record that cannot be read keeps its chunks: gc (and verify) deal with it */
        if (pool && ntg__dec_ckpt(val, vl, pool, &r) == 0) {
            for (size_t b = 0; !st && b < r.n_blobs; b++) {
                const ntg__obj *o = &r.blobs[b];
                for (uint32_t c = 0; c < o->n_chunks; c++) {
                    if (hset_has(&refs, o->chunks[c]) || hset_has(&gone, o->chunks[c])) continue;
                    if (hset_add(&gone, o->chunks[c])) {
                        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
                        break;
                    }
                    char key[1 + NTG__HASH];
                    key[0] = 'i';
                    memcpy(key + 1, o->chunks[c], NTG__HASH);
                    rocksdb_writebatch_delete_cf(wb, s->cf[NTG__CF_CHUNKS], key, sizeof key);
                    key[0] = 'd';
                    rocksdb_writebatch_delete_cf(wb, s->cf[NTG__CF_CHUNKS], key, sizeof key);
                    uint64_t last = o->nbytes - (uint64_t)(o->n_chunks - 1) * o->chunk_bytes;
                    uint64_t len = c + 1 == o->n_chunks ? last : o->chunk_bytes;
                    if (files && ntg__chunk_in_file(s, len)) {
                        ntg__sb_put(files, o->chunks[c], NTG__HASH);
                        if (files->oom) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
                    } else {
                        *bytes += len; /* held by RocksDB: its blob files need a compaction */
                    }
                }
            }
        }
        ntg__pool_destroy(pool);
        free(val);
    }
    hset_free(&refs);
    hset_free(&gone);
    return st;
}

ntg_status ntg__store_drop_garbage_files(ntg_store *s, ntg_error *err)
{
    char *rerr = NULL;
    ntg_status st = ntg__store_space(s, 0, "cannot flush the reclaimed chunks", err);
    if (st) return st;
    rocksdb_flush_cf(s->db, s->flush, s->cf[NTG__CF_CHUNKS], &rerr);
    if (rerr) return ntg__store_rdb(s, rerr, err, "cannot flush the reclaimed chunks");
    /* a compaction drops the blob files that now hold only removed chunks */
    rocksdb_compact_range_cf(s->db, s->cf[NTG__CF_CHUNKS], NULL, 0, NULL, 0);
    return NTG_OK;
}

ntg_status ntg_store_gc(ntg_store *s, ntg_store_gc_report *report, ntg_error *err)
{
    if (report) {
        ntg_status st =
            NTG__ABI_CHECK(report, ntg_store_gc_report, bytes_kept, "ntg_store_gc", err);
        if (st) return st;
    }
    ntg_store_gc_report r;
    ntg_status st = ntg__store_gc(s, 1, &r, err);
    if (report) ntg__abi_out(report, &r);
    return st;
}

typedef struct gc_files {
    const hset *refs, *gone;
    ntg_store_gc_report *r;
} gc_files;

static void gc_file(void *ctx, const char *path, const uint8_t *hash, int tmp, uint64_t size)
{
    gc_files *g = ctx;
    if (!tmp && hset_has(g->refs, hash)) return;
    if (unlink(path) != 0) return;
    if (tmp || hset_has(g->gone, hash)) return; /* counted with its index row */
    g->r->chunks_removed++;
    g->r->bytes_removed += size;
}

ntg_status ntg__store_gc(ntg_store *s, int relocate, ntg_store_gc_report *report, ntg_error *err)
{
    ntg_store_gc_report r;
    ntg_store_gc_report_init(&r);
    if (report) *report = r;
    if (!s) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_gc: NULL store");
    if (s->readonly)
        return ntg__store_fail(s, err, NTG_ERR_STATE, "gc needs the store opened for writing");
    hset refs = {0}, gone = {0};
    ntg__view v;
    ntg_status st = ntg__view_begin(s, &v, err);
    if (!st) st = collect_refs(s, &v, &refs, err);
    rocksdb_writebatch_t *wb = st ? NULL : rocksdb_writebatch_create();
    if (!st && !wb) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__buf upper;
    rocksdb_readoptions_t *ro = NULL;
    rocksdb_iterator_t *it =
        st ? NULL : ntg__iter_prefix(s, &v, NTG__CF_CHUNKS, "i", 1, &upper, &ro);
    char *rerr = NULL;
    for (; !st && it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        if (kl != 1 + NTG__HASH) continue;
        uint64_t size = vl == 8 ? ntg__be64((const uint8_t *)val) : 0;
        if (hset_has(&refs, (const uint8_t *)k + 1)) {
            r.chunks_kept++;
            r.bytes_kept += size;
            continue;
        }
        char key[1 + NTG__HASH];
        memcpy(key, k, sizeof key);
        rocksdb_writebatch_delete_cf(wb, s->cf[NTG__CF_CHUNKS], key, sizeof key);
        key[0] = 'd';
        rocksdb_writebatch_delete_cf(wb, s->cf[NTG__CF_CHUNKS], key, sizeof key);
        r.chunks_removed++;
        r.bytes_removed += size;
        if (ntg__chunk_in_file(s, size) && hset_add(&gone, (const uint8_t *)k + 1))
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        if (rocksdb_writebatch_count(wb) >= 65536) {
            rocksdb_write(s->db, s->wnowal, wb, &rerr);
            rocksdb_writebatch_clear(wb);
            if (rerr) st = ntg__store_rdb(s, rerr, err, "gc: cannot delete chunks");
        }
    }
    if (ro) ntg__iter_end(it, ro, &upper);
    ntg__view_end(s, &v);
    /* deletions need no WAL: lost ones leave orphans that the next gc removes */
    if (!st && rocksdb_writebatch_count(wb)) {
        rocksdb_write(s->db, s->wnowal, wb, &rerr);
        if (rerr) st = ntg__store_rdb(s, rerr, err, "gc: cannot delete chunks");
    }
    if (wb) rocksdb_writebatch_destroy(wb);
    /* relocating live blobs out of files that hold garbage needs room for a copy of them;
     * on a disk that lacks it, only the files that are all garbage go (that needs none) */
    if (!st && relocate) {
        uint64_t live = 0;
        (void)rocksdb_property_int_cf(s->db, s->cf[NTG__CF_CHUNKS], "rocksdb.live-blob-file-size",
                                      &live);
        ntg_error e2;
        if (ntg__store_space(s, live, "gc", &e2)) relocate = 0;
    }
    if (!st && r.chunks_removed) {
        ntg__store_kill(s, NTG__KP_GC_DELETED);
        rocksdb_flush_cf(s->db, s->flush, s->cf[NTG__CF_CHUNKS], &rerr);
        if (rerr) st = ntg__store_rdb(s, rerr, err, "gc: cannot flush");
        if (!st) ntg__store_kill(s, NTG__KP_GC_FLUSHED);
        /* a compaction with blob garbage collection rewrites the live blobs of files that
         * hold garbage, so the space of removed chunks is returned */
        const char *on_k[] = {"enable_blob_garbage_collection",
                              "blob_garbage_collection_age_cutoff"};
        const char *on_v[] = {"true", "1.0"}, *off_v[] = {"false", "0.25"};
        if (!st && relocate)
            rocksdb_set_options_cf(s->db, s->cf[NTG__CF_CHUNKS], 2, on_k, on_v, &rerr);
        if (!st && rerr) st = ntg__store_rdb(s, rerr, err, "gc: cannot enable blob collection");
        /* without relocation the compaction still drops blob files that are all garbage */
        if (!st) rocksdb_compact_range_cf(s->db, s->cf[NTG__CF_CHUNKS], NULL, 0, NULL, 0);
        if (!st && relocate) {
            rocksdb_set_options_cf(s->db, s->cf[NTG__CF_CHUNKS], 2, on_k, off_v, &rerr);
            if (rerr) st = ntg__store_rdb(s, rerr, err, "gc: cannot disable blob collection");
        }
    }
    /* chunk files: only now that the deletion of their index rows is durable (a surviving
     * row without its file would make a later put skip writing it); files without a row are
     * leftovers of a commit that never happened, .tmp ones of a write cut short */
    if (!st) {
        gc_files g = {&refs, &gone, &r};
        each_file(s, gc_file, &g);
    }
    hset_free(&refs);
    hset_free(&gone);
    if (report) *report = r;
    return st;
}

ntg_status ntg__store_compact(ntg_store *s, ntg_error *err)
{
    if (!s || s->readonly)
        return ntg__store_fail(s, err, NTG_ERR_STATE, "compaction needs a writer");
    for (int i = 0; i < NTG__STORE_NCF; i++) {
        char *rerr = NULL;
        rocksdb_flush_cf(s->db, s->flush, s->cf[i], &rerr);
        if (rerr) return ntg__store_rdb(s, rerr, err, "flush failed");
        rocksdb_compact_range_cf(s->db, s->cf[i], NULL, 0, NULL, 0);
    }
    return NTG_OK;
}

/* ------------------------------------------------------------------ backup */

typedef struct backup_files {
    const char *dir;
    ntg_status st;
    ntg_error *err;
    ntg_store *s;
} backup_files;

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, bad = in < 0;
    if (!bad) bad = (out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0;
    char buf[1 << 16];
    ssize_t n = 0;
    while (!bad && (n = read(in, buf, sizeof buf)) > 0) bad = write(out, buf, (size_t)n) != n;
    bad |= n < 0;
    if (!bad) bad = fsync(out) != 0;
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return bad ? -1 : 0;
}

static void backup_file(void *ctx, const char *path, const uint8_t *hash, int tmp, uint64_t size)
{
    (void)size;
    backup_files *bf = ctx;
    if (tmp || bf->st) return;
    char hex[2 * NTG__HASH + 1], to[4400];
    ntg__hex(hash, NTG__HASH, hex);
    snprintf(to, sizeof to, "%s/" NTG__FILES_DIR "/%s", bf->dir, hex);
    if (link(path, to) == 0 || copy_file(path, to) == 0) return;
    bf->st = ntg__err(bf->err, NTG_ERR_IO, to, 0, 0, "backup: cannot copy the chunk file %s: %s",
                      path, strerror(errno));
}

ntg_status ntg_store_backup(ntg_store *s, const char *dir, ntg_error *err)
{
    if (!s || !dir || !*dir) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_backup: NULL");
    if (s->readonly)
        return ntg__store_fail(s, err, NTG_ERR_STATE,
                               "backup needs the store opened for writing (RocksDB checkpoints "
                               "are made by the writer)");
    struct stat sb;
    if (stat(dir, &sb) == 0 || errno != ENOENT)
        return ntg__err(err, NTG_ERR_INVALID_ARG, dir, 0, 0,
                        "the backup directory must not exist yet (nothing was written)");
    char *rerr = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(s->db, &rerr);
    if (rerr) return ntg__store_rdb(s, rerr, err, "backup failed");
    /* log_size_for_flush 0: flush first, so the copy is table files and no WAL to replay */
    rocksdb_checkpoint_create(cp, dir, 0, &rerr);
    rocksdb_checkpoint_object_destroy(cp);
    if (rerr) {
        ntg_status st = ntg__store_rdb_status(rerr);
        ntg__err(err, st, dir, 0, 0, "backup of %s failed: %s", s->path, rerr);
        rocksdb_free(rerr);
        return st;
    }
    /* format 3: the chunk files, hard-linked (they are never modified, only replaced or
     * removed) or copied across file systems, then synced */
    if (s->format >= 3) {
        backup_files bf = {dir, NTG_OK, err, s};
        char sub[4200];
        snprintf(sub, sizeof sub, "%s/" NTG__FILES_DIR, dir);
        if (mkdir(sub, 0777) != 0) {
            return ntg__err(err, NTG_ERR_IO, sub, 0, 0, "backup: cannot create it: %s",
                            strerror(errno));
        }
        each_file(s, backup_file, &bf);
        if (bf.st) return bf.st;
        int fd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
    }
    /* the copy holds every commit so far (the writer is this handle): it checks like the store */
    ntg__stats_rec sr;
    ntg_error e2;
    if (ntg__get_stats(s, NULL, &sr, &e2) == NTG_OK && sr.commits)
        ntg__acked_note_in(dir, sr.commits);
    return NTG_OK;
}

/* ------------------------------------------------------------------ verify */

static void problem(ntg_store_verify_report *r, const char *fmt, ...) NTG_PRINTF(2, 3);
static void problem(ntg_store_verify_report *r, const char *fmt, ...)
{
    r->bad++;
    if (r->first_problem[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first_problem, sizeof r->first_problem, fmt, ap);
    va_end(ap);
}

static ntg_status verify_chunks(ntg_store *s, const ntg__view *v, ntg_store_verify_report *r,
                                hset *present, ntg_error *err)
{
    ntg__buf upper;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it = ntg__iter_prefix(s, v, NTG__CF_CHUNKS, "i", 1, &upper, &ro);
    ntg_status st = it ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (; !st && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        char hex[2 * NTG__HASH + 1];
        if (kl != 1 + NTG__HASH || vl != 8) {
            problem(r, "a malformed chunk index row");
            continue;
        }
        ntg__hex((const uint8_t *)k + 1, NTG__HASH, hex);
        uint64_t isize = ntg__be64((const uint8_t *)val);
        if (ntg__chunk_in_file(s, isize)) {
            /* its file: size, CRC32C trailer and BLAKE3 */
            void *buf = isize <= SIZE_MAX ? malloc((size_t)isize) : NULL;
            if (!buf) {
                st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
                break;
            }
            ntg_error e2;
            if (ntg__chunk_file_read(s, (const uint8_t *)k + 1, buf, (size_t)isize, 1, "verify",
                                     &e2))
                problem(r, "%s", e2.message);
            free(buf);
            r->chunks++;
            r->bytes += isize;
            if (hset_add(present, (const uint8_t *)k + 1))
                st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            continue;
        }
        char key[1 + NTG__HASH];
        memcpy(key, k, sizeof key);
        key[0] = 'd';
        char *rerr = NULL;
        rocksdb_pinnableslice_t *ps =
            rocksdb_get_pinned_cf(s->db, v->ro, s->cf[NTG__CF_CHUNKS], key, sizeof key, &rerr);
        if (rerr) {
            problem(r, "chunk %.16s: %s", hex, rerr);
            rocksdb_free(rerr);
            continue;
        }
        if (!ps) {
            problem(r, "chunk %.16s is indexed but missing", hex);
            continue;
        }
        size_t n;
        const char *p = rocksdb_pinnableslice_value(ps, &n);
        uint8_t h[NTG__HASH];
        ntg__hash(s, p, n, h);
        if (memcmp(h, k + 1, NTG__HASH) != 0)
            problem(r, "chunk %.16s: its bytes do not match its hash (corrupted)", hex);
        else if (n != ntg__be64((const uint8_t *)val))
            problem(r, "chunk %.16s: size %zu, the index says %llu", hex, n,
                    (unsigned long long)ntg__be64((const uint8_t *)val));
        rocksdb_pinnableslice_destroy(ps);
        r->chunks++;
        r->bytes += n;
        if (hset_add(present, (const uint8_t *)k + 1))
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    ntg__iter_end(it, ro, &upper);
    return st;
}

typedef struct verify_files {
    const hset *present;
    ntg_store_verify_report *r;
} verify_files;

static void verify_file(void *ctx, const char *path, const uint8_t *hash, int tmp, uint64_t size)
{
    (void)path;
    (void)size;
    verify_files *vf = ctx;
    if (tmp || !hset_has(vf->present, hash)) vf->r->orphans++;
}

static ntg_status verify_fn(ntg_store *s, const ntg__view *v, ntg_store_verify_report *r,
                            ntg_error *err)
{
    hset present = {0}, refs = {0};
    ntg_status st = verify_chunks(s, v, r, &present, err);
    if (!st) {
        ntg_error e2;
        ntg_status rs = collect_refs(s, v, &refs, &e2);
        if (rs == NTG_ERR_DATA)
            problem(r, "%s", e2.message);
        else if (rs) {
            *err = e2;
            st = rs;
        }
    }
    for (size_t i = 0; !st && i < present.cap; i++)
        if (present.used[i] && !hset_has(&refs, present.keys[i])) r->orphans++;
    /* chunk files no index row names (a commit that never happened): orphans too */
    verify_files vf = {&present, r};
    if (!st) each_file(s, verify_file, &vf);
    /* every version: rebuilt, hashed and validated as a plan */
    int cfs[2] = {NTG__CF_VERSIONS, NTG__CF_CKPTS};
    for (int c = 0; !st && c < 2; c++) {
        ntg__buf upper;
        rocksdb_readoptions_t *ro;
        rocksdb_iterator_t *it = ntg__iter_prefix(s, v, cfs[c], NULL, 0, &upper, &ro);
        if (!it) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        for (; !st && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            size_t kl, vl;
            const char *k = rocksdb_iter_key(it, &kl);
            const char *val = rocksdb_iter_value(it, &vl);
            char name[NTG__NAME_MAX + 1] = "?";
            uint64_t num = 0;
            if (kl >= 10 && kl - 9 <= NTG__NAME_MAX && k[kl - 9] == 0) {
                memcpy(name, k, kl - 9);
                name[kl - 9] = 0;
                num = ntg__be64((const uint8_t *)k + kl - 8);
            }
            ntg_pool *pool = ntg__pool_create();
            if (!pool) {
                st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
                break;
            }
            ntg_error e2;
            if (cfs[c] == NTG__CF_VERSIONS) {
                ntg__version_rec rec;
                r->versions++;
                void *bytes = NULL;
                size_t size = 0;
                if (ntg__dec_version(val, vl, pool, 1, &rec) || rec.version != num) {
                    problem(r, "the record of %s@%llu is corrupted", name, (unsigned long long)num);
                } else if (ntg__version_plan_bytes(s, v, name, &rec, 1, &bytes, &size, &e2)) {
                    problem(r, "%s", e2.message);
                } else {
                    uint8_t h[NTG__HASH];
                    ntg__hash(s, bytes, size, h);
                    ntg_plan *plan = NULL;
                    if (memcmp(h, rec.plan_hash, NTG__HASH) != 0)
                        problem(r, "%s@%llu: the rebuilt plan does not match its hash", name,
                                (unsigned long long)num);
                    else if (ntg_plan_load_memory(bytes, size, NTG_LOAD_BORROW, &plan, &e2))
                        problem(r, "%s@%llu: %s", name, (unsigned long long)num, e2.message);
                    ntg_plan_destroy(plan);
                }
                ntg__aligned_free(bytes);
            } else {
                ntg__ckpt_rec rec;
                r->checkpoints++;
                int bad = ntg__dec_ckpt(val, vl, pool, &rec);
                if (bad)
                    problem(r, "checkpoint %llu of '%s' is corrupted", (unsigned long long)num,
                            name);
                for (size_t b = 0; !bad && b < rec.n_blobs; b++) {
                    void *buf = malloc((size_t)rec.blobs[b].nbytes + 1);
                    if (!buf) {
                        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
                        break;
                    }
                    char what[NTG__NAME_MAX + 128];
                    snprintf(what, sizeof what, "checkpoint %llu of '%s': '%s'",
                             (unsigned long long)num, name, rec.blob_names[b]);
                    if (ntg__obj_read(s, v, &rec.blobs[b], buf, 1, what, &e2))
                        problem(r, "%s", e2.message);
                    free(buf);
                }
            }
            ntg__pool_destroy(pool);
        }
        ntg__iter_end(it, ro, &upper);
    }
    hset_free(&present);
    hset_free(&refs);
    return st;
}

static ntg_status check_fn(ntg_store *s, const ntg__view *v, ntg__store_check_report *r,
                           ntg_error *err);

ntg_status ntg_store_verify(ntg_store *s, ntg_store_verify_report *report, ntg_error *err)
{
    ntg_store_verify_report r;
    ntg_store_verify_report_init(&r);
    if (report) {
        ntg_status cst =
            NTG__ABI_CHECK(report, ntg_store_verify_report, first_problem, "ntg_store_verify", err);
        if (cst) return cst;
        ntg__abi_out(report, &r);
    }
    if (!s) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_verify: NULL store");
    ntg__view v;
    int ok = 1;
    ntg_status st = ntg__view_begin(s, &v, err);
    if (!st) st = ntg__view_consistent(s, &v, &ok, err);
    if (!st && !ok) problem(&r, "the store's recent commits are incomplete in this view");
    /* a lost commit: a gap in a model's versions, counters that disagree with the records,
     * a commit number missing from the ring of recent commits */
    uint64_t lost = 0;
    int whole = 1;
    if (!st && ok) st = ntg__ring_check(s, &v, &whole, &lost, err);
    if (!st && !whole)
        problem(&r,
                "commit %llu is missing (lost from the write-ahead log?); versions after it "
                "may be numbered over it",
                (unsigned long long)lost);
    /* fewer commits than were acknowledged (store_acked.c): a MANIFEST cut back to an older
     * state; the open refuses that, this catches a file that changed since (a reader's view
     * is fixed at its open, which checked it, and a writer may have committed since) */
    uint64_t acked;
    ntg__stats_rec sr;
    if (!st && !s->readonly && ntg__acked_read(s->path, &acked) &&
        !(st = ntg__get_stats(s, &v, &sr, err)) && sr.commits < acked)
        problem(&r,
                "the store holds %llu commits but %llu were acknowledged (" NTG__ACKED_FILE
                "): its MANIFEST or table files are damaged or cut short",
                (unsigned long long)sr.commits, (unsigned long long)acked);
    ntg__store_check_report cr;
    memset(&cr, 0, sizeof cr);
    if (!st) st = check_fn(s, &v, &cr, err);
    if (!st && cr.problems) {
        problem(&r, "%s", cr.first);
        r.bad += cr.problems - 1;
    }
    if (!st) st = verify_fn(s, &v, &r, err);
    ntg__view_end(s, &v);
    if (report) ntg__abi_out(report, &r);
    if (!st && r.bad)
        st = ntg__store_fail(s, err, NTG_ERR_DATA, "%llu problem%s; the first: %s",
                             (unsigned long long)r.bad, r.bad == 1 ? "" : "s", r.first_problem);
    return st;
}

/* ------------------------------------------------------------------ stats */

static void stats_file(void *ctx, const char *path, const uint8_t *hash, int tmp, uint64_t size)
{
    (void)path;
    (void)hash;
    (void)tmp;
    *(uint64_t *)ctx += size + 4;
}

ntg_status ntg_store_stats_get(ntg_store *s, ntg_store_stats *caller, ntg_error *err)
{
    if (!s || !caller) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_stats_get: NULL");
    ntg_status cst =
        NTG__ABI_CHECK(caller, ntg_store_stats, blob_bytes, "ntg_store_stats_get", err);
    if (cst) return cst;
    ntg_store_stats full, *out = &full;
    ntg_store_stats_init(out);
    ntg__view v;
    ntg_status st = ntg__view_begin(s, &v, err);
    ntg__stats_rec sr;
    if (!st) st = ntg__get_stats(s, &v, &sr, err);
    if (!st) {
        out->models = sr.n_models;
        out->versions = sr.n_versions;
        out->checkpoints = sr.n_ckpts;
        out->commits = sr.commits;
    }
    ntg__buf upper;
    rocksdb_readoptions_t *ro = NULL;
    rocksdb_iterator_t *it =
        st ? NULL : ntg__iter_prefix(s, &v, NTG__CF_CHUNKS, "i", 1, &upper, &ro);
    for (; it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t vl;
        const char *val = rocksdb_iter_value(it, &vl);
        out->chunks++;
        if (vl == 8) out->chunk_bytes += ntg__be64((const uint8_t *)val);
    }
    if (ro) ntg__iter_end(it, ro, &upper);
    ntg__view_end(s, &v);
    for (int i = 0; !st && i < NTG__STORE_NCF; i++) {
        uint64_t x = 0;
        if (rocksdb_property_int_cf(s->db, s->cf[i], "rocksdb.live-sst-files-size", &x) == 0)
            out->sst_bytes += x;
        x = 0;
        if (rocksdb_property_int_cf(s->db, s->cf[i], "rocksdb.live-blob-file-size", &x) == 0)
            out->blob_bytes += x;
    }
    /* format 3: chunk files count as blob bytes (their size on disk, trailers included) */
    if (!st) each_file(s, stats_file, &out->blob_bytes);
    ntg__abi_out(caller, out);
    return st;
}

/* ------------------------------------------------------------------ sha256 */

ntg_status ntg_store_sha256_file(const char *path, char hex[65], ntg_error *err)
{
    if (!path || !hex) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_sha256_file: NULL");
    hex[0] = 0;
    if (sodium_init() < 0) return ntg__fail(err, NTG_ERR_INTERNAL, "libsodium init failed");
    FILE *f = fopen(path, "rb");
    if (!f) return ntg__err(err, NTG_ERR_IO, path, 0, 0, "cannot open: %s", strerror(errno));
    crypto_hash_sha256_state hs;
    crypto_hash_sha256_init(&hs);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) crypto_hash_sha256_update(&hs, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return ntg__err(err, NTG_ERR_IO, path, 0, 0, "read error");
    uint8_t h[32];
    crypto_hash_sha256_final(&hs, h);
    ntg__hex(h, 32, hex);
    return NTG_OK;
}

/* ------------------------------------------------------------------ check */

static void cproblem(ntg__store_check_report *r, const char *fmt, ...) NTG_PRINTF(2, 3);
static void cproblem(ntg__store_check_report *r, const char *fmt, ...)
{
    r->problems++;
    if (r->first[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first, sizeof r->first, fmt, ap);
    va_end(ap);
}

/* Rows of `cf` under prefix (n bytes). */
static uint64_t count_rows(ntg_store *s, const ntg__view *v, int cf, const void *prefix, size_t n)
{
    ntg__buf upper;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it = ntg__iter_prefix(s, v, cf, prefix, n, &upper, &ro);
    uint64_t k = 0;
    for (; it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) k++;
    ntg__iter_end(it, ro, &upper);
    return k;
}

static ntg_status check_model(ntg_store *s, const ntg__view *v, const char *name,
                              const ntg__model_rec *m, ntg__store_check_report *r, ntg_error *err)
{
    ntg__buf prefix = {0}, upper;
    ntg__buf_cstr(&prefix, name);
    if (prefix.oom) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it =
        ntg__iter_prefix(s, v, NTG__CF_VERSIONS, prefix.p, prefix.len, &upper, &ro);
    uint64_t expect = 1;
    for (; it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        uint64_t ver = kl == prefix.len + 8 ? ntg__be64((const uint8_t *)k + prefix.len) : 0;
        ntg_pool *pool = ntg__pool_create();
        ntg__version_rec rec;
        if (!pool || ntg__dec_version(val, vl, pool, 1, &rec) || rec.version != ver)
            cproblem(r, "%s@%llu: unreadable record", name, (unsigned long long)ver);
        ntg__pool_destroy(pool);
        if (ver != expect)
            cproblem(r, "%s: version %llu where %llu was expected", name, (unsigned long long)ver,
                     (unsigned long long)expect);
        expect = ver + 1;
        ntg__buf ek = {0};
        ntg__key_named(&ek, name, ver);
        if (count_rows(s, v, NTG__CF_EMBED, ek.p, ek.len) != 1)
            cproblem(r, "%s@%llu has no embedding", name, (unsigned long long)ver);
        ntg__sb_free(&ek);
        r->versions++;
    }
    ntg__iter_end(it, ro, &upper);
    if (expect - 1 != m->n_versions || m->next_version != m->n_versions + 1)
        cproblem(r, "%s: the model record counts %llu versions (next %llu), the store has %llu",
                 name, (unsigned long long)m->n_versions, (unsigned long long)m->next_version,
                 (unsigned long long)(expect - 1));
    /* aliases: latest is the newest version; every alias names a version */
    it = ntg__iter_prefix(s, v, NTG__CF_ALIASES, prefix.p, prefix.len, &upper, &ro);
    int have_latest = 0;
    for (; it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        uint64_t ver = vl == 8 ? ntg__be64((const uint8_t *)val) : 0;
        int latest = kl - prefix.len == 6 && memcmp(k + prefix.len, "latest", 6) == 0;
        have_latest |= latest;
        if (ver == 0 || ver > m->n_versions)
            cproblem(r, "%s: alias %.*s names a missing version", name, (int)(kl - prefix.len),
                     k + prefix.len);
        if (latest && ver != m->n_versions)
            cproblem(r, "%s: latest is %llu, the newest version is %llu", name,
                     (unsigned long long)ver, (unsigned long long)m->n_versions);
    }
    ntg__iter_end(it, ro, &upper);
    if (!have_latest && m->n_versions) cproblem(r, "%s: no latest alias", name);
    uint64_t nck = 0;
    it = ntg__iter_prefix(s, v, NTG__CF_CKPTS, prefix.p, prefix.len, &upper, &ro);
    for (; it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        uint64_t id = kl == prefix.len + 8 ? ntg__be64((const uint8_t *)k + prefix.len) : 0;
        ntg_pool *pool = ntg__pool_create();
        ntg__ckpt_rec rec;
        if (!pool || ntg__dec_ckpt(val, vl, pool, &rec) || rec.id != id || id >= m->next_ckpt)
            cproblem(r, "%s: checkpoint %llu: bad record", name, (unsigned long long)id);
        ntg__pool_destroy(pool);
        nck++;
    }
    ntg__iter_end(it, ro, &upper);
    r->ckpts += nck;
    if (nck != m->n_ckpts)
        cproblem(r, "%s: the model record counts %llu checkpoints, the store has %llu", name,
                 (unsigned long long)m->n_ckpts, (unsigned long long)nck);
    ntg__sb_free(&prefix);
    return NTG_OK;
}

typedef struct check_files {
    const hset *present;
    ntg__store_check_report *r;
} check_files;

static void check_file(void *ctx, const char *path, const uint8_t *hash, int tmp, uint64_t size)
{
    (void)path;
    (void)size;
    check_files *cf = ctx;
    if (tmp || !hset_has(cf->present, hash)) cf->r->orphans++;
}

static ntg_status check_fn(ntg_store *s, const ntg__view *v, ntg__store_check_report *r,
                           ntg_error *err)
{
    ntg__stats_rec sr;
    ntg_status st = ntg__get_stats(s, v, &sr, err);
    if (st) return st;
    ntg__buf upper;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it = ntg__iter_prefix(s, v, NTG__CF_MODELS, NULL, 0, &upper, &ro);
    char name[NTG__NAME_MAX + 1];
    for (; !st && it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        r->models++;
        if (kl == 0 || kl > NTG__NAME_MAX) {
            cproblem(r, "a model with a bad name");
            continue;
        }
        memcpy(name, k, kl);
        name[kl] = 0;
        ntg_pool *pool = ntg__pool_create();
        ntg__model_rec m;
        if (!pool || ntg__dec_model(val, vl, pool, &m))
            cproblem(r, "model %s: unreadable record", name);
        else
            st = check_model(s, v, name, &m, r, err);
        ntg__pool_destroy(pool);
    }
    ntg__iter_end(it, ro, &upper);
    if (st) return st;
    uint64_t nv = count_rows(s, v, NTG__CF_VERSIONS, NULL, 0);
    uint64_t nc = count_rows(s, v, NTG__CF_CKPTS, NULL, 0);
    if (r->models != sr.n_models || nv != sr.n_versions || nc != sr.n_ckpts || nv != r->versions)
        cproblem(r,
                 "counters say %llu models, %llu versions, %llu checkpoints; the store has "
                 "%llu, %llu, %llu",
                 (unsigned long long)sr.n_models, (unsigned long long)sr.n_versions,
                 (unsigned long long)sr.n_ckpts, (unsigned long long)r->models,
                 (unsigned long long)nv, (unsigned long long)nc);
    if (count_rows(s, v, NTG__CF_EMBED, NULL, 0) != nv)
        cproblem(r, "embeddings and versions differ in number");
    /* tags and their index agree row for row */
    uint64_t ntags = 0;
    it = ntg__iter_prefix(s, v, NTG__CF_TAGS, NULL, 0, &upper, &ro);
    for (; it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        size_t nl = strnlen(k, kl);
        ntags++;
        if (nl + 9 > kl) {
            cproblem(r, "a malformed tag row");
            continue;
        }
        ntg__buf ik = {0};
        ntg__sb_put(&ik, k + nl + 9, kl - nl - 9);
        ntg__buf_u8(&ik, 0);
        ntg__sb_put(&ik, val, vl);
        ntg__buf_u8(&ik, 0);
        ntg__sb_put(&ik, k, nl + 9);
        if (count_rows(s, v, NTG__CF_TAGIDX, ik.p, ik.len) != 1)
            cproblem(r, "tag %.*s of %s has no index row", (int)(kl - nl - 9), k + nl + 9, k);
        ntg__sb_free(&ik);
    }
    ntg__iter_end(it, ro, &upper);
    if (count_rows(s, v, NTG__CF_TAGIDX, NULL, 0) != ntags)
        cproblem(r, "the tag index has rows for tags that do not exist");
    /* chunks: index rows and data rows pair up; references resolve */
    hset refs = {0}, present = {0};
    st = collect_refs(s, v, &refs, err);
    ro = NULL;
    it = st ? NULL : ntg__iter_prefix(s, v, NTG__CF_CHUNKS, "i", 1, &upper, &ro);
    uint64_t in_files = 0;
    for (; !st && it && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        if (kl != 1 + NTG__HASH) continue;
        r->chunks++;
        uint64_t size = vl == 8 ? ntg__be64((const uint8_t *)val) : 0;
        if (ntg__chunk_in_file(s, size)) {
            /* a chunk file is there with the size its index row says (verify reads it) */
            char path[4096];
            struct stat sb;
            in_files++;
            ntg__chunk_path(s, (const uint8_t *)k + 1, NULL, path, sizeof path);
            if (stat(path, &sb) != 0 || (uint64_t)sb.st_size != size + 4) {
                char hex[2 * NTG__HASH + 1];
                ntg__hex((const uint8_t *)k + 1, 8, hex);
                cproblem(r, "chunk %s...: its file %s is missing or not %llu bytes", hex, path,
                         (unsigned long long)(size + 4));
            }
        }
        if (!hset_has(&refs, (const uint8_t *)k + 1)) r->orphans++;
        if (hset_add(&present, (const uint8_t *)k + 1))
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if (ro) ntg__iter_end(it, ro, &upper);
    /* chunk files no index row names: left by a commit that never happened */
    if (!st) each_file(s, check_file, &(check_files){&present, r});
    for (size_t i = 0; !st && i < refs.cap; i++)
        if (refs.used[i] && !hset_has(&present, refs.keys[i])) r->missing++;
    if (!st && count_rows(s, v, NTG__CF_CHUNKS, "d", 1) != r->chunks - in_files)
        cproblem(r, "chunk data and chunk index rows differ in number");
    if (r->missing)
        cproblem(r, "%llu referenced chunks are missing", (unsigned long long)r->missing);
    hset_free(&refs);
    hset_free(&present);
    return st;
}

ntg_status ntg__store_check(ntg_store *s, ntg__store_check_report *r, ntg_error *err)
{
    memset(r, 0, sizeof *r);
    if (!s) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__store_check: NULL store");
    ntg__view v;
    int ok = 1;
    ntg_status st = ntg__view_begin(s, &v, err);
    if (!st) st = ntg__view_consistent(s, &v, &ok, err);
    if (!st && !ok) cproblem(r, "the view misses a recent commit");
    if (!st) st = check_fn(s, &v, r, err);
    ntg__view_end(s, &v);
    return st;
}
