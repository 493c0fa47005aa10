/* store_int.h — the model store's private parts: the handle, keys, record codecs, chunked objects.
 */
#ifndef NTG_STORE_INT_H
#define NTG_STORE_INT_H

#include <rocksdb/c.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "ntg_error.h"
#include "ntgraph.h"
#include "pool.h"
#include "store.h"
#include "strbuf.h"

/* Column families, in the order they are opened (docs/store.md describes each). */
enum {
    NTG__CF_DEFAULT = 0, /* "format" marker, "stats" counters, the recent-commit ring */
    NTG__CF_MODELS,      /* name -> model record */
    NTG__CF_VERSIONS,    /* name \0 be64(version) -> version record */
    NTG__CF_ALIASES,     /* name \0 alias -> be64(version) */
    NTG__CF_TAGS,        /* name \0 be64(version or 0 for the model) \0 key -> value */
    NTG__CF_TAGIDX,      /* key \0 value \0 name \0 be64(version or 0) -> "" */
    NTG__CF_CKPTS,       /* name \0 be64(id) -> checkpoint record */
    NTG__CF_EMBED,       /* name \0 be64(version) -> embedding row */
    NTG__CF_CHUNKS,      /* 'i' hash -> be64(size); 'd' hash -> bytes (blob files) */
    NTG__STORE_NCF
};

#define NTG__HASH 32                /* BLAKE2b-256 */
#define NTG__CHUNK_BYTES (8u << 20) /* chunk size: far below RocksDB's 4 GiB limit and 64 MiB */
/* format 3's chunk size (its chunks above 256 KiB are files) */
#define NTG__FILE_CHUNK_BYTES (64u << 20)
#define NTG__BATCH_BYTES (8u << 20)   /* chunk write batches are cut at this size */
#define NTG__INLINE_MAX (256u << 10)  /* chunks up to this size ride in the commit batch ... */
#define NTG__INLINE_BUDGET (4u << 20) /* ... up to this much per commit */
#define NTG__MIN_BLOB 4096            /* values from this size go to blob files */
#define NTG__RING 1024                /* recent commits remembered for reader consistency checks */
#define NTG__EMBED_DIM 96
#define NTG__SPACE_RESERVE                                                                         \
    (2u << 20) /* free space kept for RocksDB's own files (MANIFEST, LOG)                          \
                */
#define NTG__FORMAT_MAGIC "ntgraph-store"
/* 1: BLAKE2b content hashes (still read and written), 2: BLAKE3, 3: BLAKE3 and chunks larger
 * than NTG__INLINE_MAX in their own files (store_files.c) */
#define NTG__FORMAT_VERSION 3u
#define NTG__FILES_DIR "chunks" /* format 3: the chunk files, in the store's directory */
#define NTG__PEND_MAX 64        /* chunk files written and not yet synced, at most */
#define NTG__NAME_MAX 128
#define NTG__ALIAS_MAX 64
#define NTG__TAG_KEY_MAX 128
#define NTG__TAG_VALUE_MAX 1024

extern const char *const ntg__store_cf_names[NTG__STORE_NCF];

struct ntg_store {
    rocksdb_t *db;
    rocksdb_options_t *dbopt;
    rocksdb_options_t *cfopt[NTG__STORE_NCF];
    rocksdb_column_family_handle_t *cf[NTG__STORE_NCF];
    rocksdb_writeoptions_t *wsync;  /* commits: synced WAL */
    rocksdb_writeoptions_t *wnowal; /* chunks: no WAL, made durable by a flush */
    rocksdb_flushoptions_t *flush;
    int readonly;  /* a read-only RocksDB instance: a fixed view until reopened */
    int no_marker; /* check_format found no format marker */
    int creating;  /* create_store: the marker is written, not required */
    int marked;    /* a writer that created its presence file (removed at close) */
    int poisoned;  /* a write failed for lack of space: RocksDB cannot close this handle */
    char *path;    /* as given, for messages */
    char *logdir;  /* readers: a private directory for RocksDB's info log */
    int catchups;  /* readers: reopened to see a newer state */
    unsigned long catchups_total; /* the same, never reset (tests count retries) */
    int missing;                  /* the last object read found a chunk absent (readers retry) */
    int no_map;                   /* NTG_STORE_OPEN_NO_MAP: checkpoint blobs read, not mapped */
    int acked_fd;                 /* writers: NTGRAPH-ACKED, opened at the first commit (-1) */
    unsigned format;              /* the store's format: its content hash (ntg__hash) */
    ntg__store_killpoint_fn killpoint;
    void *killpoint_user;
};

/* ------------------------------------------------------------------ errors */

/* The advice every "corrupted store" message ends with. */
#define NTG__DAMAGED_ADVICE                                                                        \
    "nothing was changed; restore it from a backup (`ntgraph store backup` makes one), or "        \
    "run `ntgraph store verify --db` on it to see what is damaged"

/* The last acknowledged commit, outside RocksDB (store_acked.c): a RocksDB state holding fewer
 * commits is a damaged store (a MANIFEST cut back to an older state). */
#define NTG__ACKED_FILE "NTGRAPH-ACKED"
/* 1 and *acked when the file in `dir` has a valid count; 0 when it is absent or unreadable. */
int ntg__acked_read(const char *dir, uint64_t *acked);
/* Record commit `commits` as acknowledged (after it is durable); best effort, not synced. */
void ntg__acked_note(ntg_store *s, uint64_t commits);
/* Sync and close the file (ntg_store_close). */
void ntg__acked_close(ntg_store *s);
/* The same as ntg__acked_note, synced, for the store in `dir` (a backup). */
void ntg__acked_note_in(const char *dir, uint64_t commits);
/* NTG_ERR_DATA: the store holds `have` commits where `acked` were acknowledged. */
ntg_status ntg__acked_refuse(const ntg_store *s, uint64_t have, uint64_t acked, ntg_error *err);

/* Turn a RocksDB error string (freed here) into an ntg_error naming the store and `what`. */
ntg_status ntg__store_rdb(const ntg_store *s, char *rerr, ntg_error *err, const char *what);
/* The status a RocksDB error message maps to (lock: STATE, corruption: DATA, else IO). */
ntg_status ntg__store_rdb_status(const char *msg);
/* NTG_ERR_IO naming `what` when the store's file system has less than `need` bytes (plus the
 * memtables, which a flush writes, and a reserve) free: checked before writing, because
 * RocksDB 7.8 cannot close a handle whose write failed for lack of space. */
ntg_status ntg__store_space(ntg_store *s, uint64_t need, const char *what, ntg_error *err);
/* An error about the store (place = its path). */
ntg_status ntg__store_fail(const ntg_store *s, ntg_error *err, ntg_status st, const char *fmt, ...)
    NTG_PRINTF(4, 5);
/* Call the test hook, if any, at commit-protocol step `step`. */
void ntg__store_kill(ntg_store *s, int step);

/* Kill-point steps of the commit protocols (docs/store.md lists them). */
enum {
    NTG__KP_BEGIN = 1,       /* before anything is written */
    NTG__KP_CHUNK_BATCH = 2, /* after a batch of chunks was written, not yet flushed */
    NTG__KP_CHUNKS_DURABLE,  /* after the chunk flush, before the commit batch */
    NTG__KP_COMMITTED,       /* after the synced commit batch, before returning */
    NTG__KP_GC_DELETED,      /* gc: after the deletions were written, before their flush */
    NTG__KP_GC_FLUSHED       /* gc: after the deletions were flushed, before the compaction */
};

/* ------------------------------------------------------------------ buffers */

/* Keys and records are built in base's growable buffer (strbuf.h); `oom` is sticky. */
typedef ntg_strbuf ntg__buf;

void ntg__buf_u8(ntg__buf *b, uint8_t v);
void ntg__buf_u32(ntg__buf *b, uint32_t v);
void ntg__buf_u64(ntg__buf *b, uint64_t v);
void ntg__buf_be64(ntg__buf *b, uint64_t v); /* big-endian: keys sort numerically */
void ntg__buf_f64(ntg__buf *b, double v);
void ntg__buf_str(ntg__buf *b, const char *s);  /* u32 length + bytes */
void ntg__buf_cstr(ntg__buf *b, const char *s); /* bytes + NUL (key parts) */

/* Bounds-checked reader over a record; `bad` is sticky and every read after it yields zero. */
typedef struct ntg__rd {
    const uint8_t *p;
    size_t n, at;
    int bad;
} ntg__rd;

uint8_t ntg__rd_u8(ntg__rd *r);
uint32_t ntg__rd_u32(ntg__rd *r);
uint64_t ntg__rd_u64(ntg__rd *r);
double ntg__rd_f64(ntg__rd *r);
const uint8_t *ntg__rd_bytes(ntg__rd *r, size_t n);
/* A u32-length string copied into the pool (NUL-terminated); NULL when bad or out of memory. */
char *ntg__rd_str(ntg__rd *r, ntg_pool *pool);

uint64_t ntg__be64(const uint8_t *p);
void ntg__put_be64(uint8_t *p, uint64_t v);

/* --------------------------------------------------------------- keys */

/* name \0 be64(n) — versions, checkpoints, embeddings, and tags' prefix. */
void ntg__key_named(ntg__buf *b, const char *name, uint64_t n);
/* The smallest key above every key that starts with `prefix` (for iterate_upper_bound);
 * 0 when there is none (all bytes 0xff). */
int ntg__key_upper(const uint8_t *prefix, size_t n, ntg__buf *out);

/* --------------------------------------------------------------- records */

/* A content-addressed object: a tensor or a plan skeleton, cut into chunks. */
typedef struct ntg__obj {
    uint64_t nbytes;
    uint8_t hash[NTG__HASH]; /* of all the bytes (= the chunk's hash for one chunk) */
    uint32_t chunk_bytes;    /* every chunk but the last has this size */
    uint32_t n_chunks;
    uint8_t (*chunks)[NTG__HASH];
} ntg__obj;

/* One entry of a version's weight manifest. */
typedef struct ntg__tensor {
    const char *name;
    uint8_t dtype, role, rank;
    uint64_t dims[NTG_MAX_RANK];
    uint64_t offset; /* in the plan's WEIGHTS storage */
    ntg__obj obj;
} ntg__tensor;

typedef struct ntg__model_rec {
    const char *kind;
    const char *description; /* the plan's model.description, from its newest version */
    int64_t created_ms;
    uint64_t next_version, n_versions;
    uint64_t next_ckpt, n_ckpts;
} ntg__model_rec;

typedef struct ntg__version_rec {
    uint64_t version;
    int64_t created_ms;
    uint64_t parent;
    const char *kind, *description;
    uint8_t plan_hash[NTG__HASH];
    uint64_t plan_bytes;
    uint64_t weights_off, weights_len; /* the WEIGHTS section cut out of the skeleton */
    ntg__obj skeleton;
    uint64_t param_elements, weight_bytes;
    const char *data_sha256, *data_split;
    size_t n_metrics;
    ntg_store_metric *metrics;
    size_t n_hparams;
    ntg_define *hparams;
    size_t n_tensors;
    ntg__tensor *tensors; /* NULL unless decoded with the manifest */
} ntg__version_rec;

typedef struct ntg__ckpt_rec {
    uint64_t id;
    int64_t created_ms;
    long step;
    double train_loss, val_loss;
    size_t n_metrics;
    ntg_store_metric *metrics;
    size_t n_meta;
    ntg_define *meta;
    size_t n_blobs;
    const char **blob_names;
    ntg__obj *blobs;
} ntg__ckpt_rec;

typedef struct ntg__stats_rec {
    uint64_t n_models, n_versions, n_ckpts, commits;
} ntg__stats_rec;

void ntg__enc_model(ntg__buf *b, const ntg__model_rec *m);
int ntg__dec_model(const void *p, size_t n, ntg_pool *pool, ntg__model_rec *m);
void ntg__enc_version(ntg__buf *b, const ntg__version_rec *v);
/* with_manifest 0 stops before the tensor list (listings). 0 ok, -1 malformed or no memory. */
int ntg__dec_version(const void *p, size_t n, ntg_pool *pool, int with_manifest,
                     ntg__version_rec *v);
void ntg__enc_ckpt(ntg__buf *b, const ntg__ckpt_rec *c);
int ntg__dec_ckpt(const void *p, size_t n, ntg_pool *pool, ntg__ckpt_rec *c);
void ntg__enc_stats(ntg__buf *b, const ntg__stats_rec *s);
int ntg__dec_stats(const void *p, size_t n, ntg__stats_rec *s);

/* ----------------------------------------------------------- reads */

/* A consistent view: a snapshot and read options bound to it. */
typedef struct ntg__view {
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro;
} ntg__view;

ntg_status ntg__view_begin(ntg_store *s, ntg__view *v, ntg_error *err);
void ntg__view_end(ntg_store *s, ntg__view *v);

/* Point read into a malloc'ed copy (*val NULL and NTG_OK when absent). */
ntg_status ntg__store_get(ntg_store *s, const ntg__view *v, int cf, const void *key, size_t klen,
                          char **val, size_t *vlen, ntg_error *err);
ntg_status ntg__get_model(ntg_store *s, const ntg__view *v, const char *name, ntg_pool *pool,
                          ntg__model_rec *m, int *found, ntg_error *err);
ntg_status ntg__get_version(ntg_store *s, const ntg__view *v, const char *name, uint64_t version,
                            ntg_pool *pool, int with_manifest, ntg__version_rec *rec, int *found,
                            ntg_error *err);
ntg_status ntg__get_stats(ntg_store *s, const ntg__view *v, ntg__stats_rec *st, ntg_error *err);

/* Resolve NAME[@VERSION|@ALIAS] to (name, version); *name_out points into pool. */
ntg_status ntg__resolve(ntg_store *s, const ntg__view *v, const char *ref, ntg_pool *pool,
                        const char **name_out, uint64_t *version, ntg_error *err);

/* An iterator over `cf` limited to keys starting with prefix (n bytes). */
rocksdb_iterator_t *ntg__iter_prefix(ntg_store *s, const ntg__view *v, int cf, const void *prefix,
                                     size_t n, ntg__buf *upper, rocksdb_readoptions_t **ro_out);
void ntg__iter_end(rocksdb_iterator_t *it, rocksdb_readoptions_t *ro, ntg__buf *upper);

/* Readers (read-only instances) may see a view with a hole while the writer flushes (see
 * docs/store.md): 1 when the view's recent-commit ring is complete, 0 when not. */
ntg_status ntg__view_consistent(ntg_store *s, const ntg__view *v, int *ok, ntg_error *err);
/* Whether the recent-commit ring holds each of the last 1024 commit numbers (any instance);
 * *missing: the oldest absent one. */
ntg_status ntg__ring_check(ntg_store *s, const ntg__view *v, int *ok, uint64_t *missing,
                           ntg_error *err);
/* Readers: catch up with the writer (by reopening the read-only instance). */
ntg_status ntg__store_catch_up(ntg_store *s, ntg_error *err);

/* ----------------------------------------------------------- objects */

/* Writes chunks not yet in the store: small ones into `inl`, which becomes the commit batch
 * (durable with the record, no flush); large ones with no WAL, flushed durable at finish. */
typedef struct ntg__writer {
    ntg_store *s;
    rocksdb_writebatch_t *wb, *inl;
    size_t wb_bytes, inl_bytes;
    ntg__buf seen; /* hashes written by this writer (a commit may repeat a chunk) */
    uint64_t new_chunks, new_bytes, chunks, bytes;
    int dirty; /* something was written since the last flush */
    /* format 3: chunk files written as NAME.tmp, synced and renamed at finish */
    int dir_ok, n_pend;
    int pend_fd[NTG__PEND_MAX];
    uint8_t pend_hash[NTG__PEND_MAX][NTG__HASH];
    struct ntg__prehash *pre; /* large chunks hashed ahead on a second thread, or NULL */
} ntg__writer;

ntg_status ntg__writer_init(ntg__writer *w, ntg_store *s, ntg_error *err);
/* Hash and store `n` bytes as an object; obj->chunks is allocated in pool. */
ntg_status ntg__writer_put(ntg__writer *w, const void *data, uint64_t n, ntg_pool *pool,
                           ntg__obj *obj, ntg_error *err);
/* Hash the large chunks of the `count` objects that the next ntg__writer_put calls will
 * store, in that order, on a second thread, so that chunk i+1 is hashed while chunk i is
 * written (a put takes a hash from there when its chunk is the next one hashed, and hashes it
 * itself otherwise).  Without memory or a thread it does nothing: the puts hash as before. */
void ntg__writer_prehash(ntg__writer *w, const void *const *data, const uint64_t *n, size_t count);
/* Write what is batched and flush the chunks durable (nothing when nothing is new). */
ntg_status ntg__writer_finish(ntg__writer *w, ntg_error *err);
void ntg__writer_free(ntg__writer *w);

/* ----------------------------------------------------------- chunk files (format 3) */

/* Whether a chunk of `len` bytes lives in its own file (format 3, larger than INLINE_MAX). */
int ntg__chunk_in_file(const ntg_store *s, uint64_t len);
/* `<store>/chunks/<hex>` + suffix (hash NULL: the directory). */
void ntg__chunk_path(const ntg_store *s, const uint8_t *hash, const char *suffix, char *buf,
                     size_t cap);
/* Memory for a blob to be read into (free() releases it): from 4 MiB on, 2 MiB aligned and
 * marked for transparent huge pages, so it faults in far fewer times. */
void *ntg__blob_alloc(size_t n);
/* Write a chunk file as NAME.tmp (bytes + CRC32C trailer) and start its write-back. */
ntg_status ntg__chunk_file_write(ntg__writer *w, const uint8_t *hash, const void *p, size_t len,
                                 ntg_error *err);
/* fdatasync the pending chunk files, rename them into place, sync the directory. */
ntg_status ntg__chunk_files_sync(ntg__writer *w, ntg_error *err);
/* Close and remove the pending files (a put that failed). */
void ntg__chunk_files_drop_pending(ntg__writer *w);
/* Read a chunk file of `want` bytes into dst, checking its size and CRC32C (and with `check`
 * its BLAKE3); an absent file sets s->missing. */
ntg_status ntg__chunk_file_read(ntg_store *s, const uint8_t *hash, void *dst, size_t want,
                                int check, const char *what, ntg_error *err);

/* Map the chunk file of `want` bytes at `at` (page-aligned, inside a reservation of
 * ntg__blob_map_reserve) read-only, fault its pages in and check its size and CRC32C, as
 * ntg__chunk_file_read does; where its pages cannot be faulted in, `at` becomes anonymous memory
 * the file is read into. */
ntg_status ntg__chunk_file_map(ntg_store *s, const uint8_t *hash, void *at, size_t want,
                               const char *what, ntg_error *err);
/* Anonymous memory of at least n bytes, page-aligned, for ntg__obj_map (*len: its length). */
void *ntg__blob_map_reserve(size_t n, size_t *len);
void ntg__blob_unmap(void *p, size_t len);
/* Objects from this size on are mapped by ntg__obj_map in a format-3 store. */
#define NTG__MAP_MIN ((uint64_t)4 << 20)
/* Object `o` as read-only memory of its own (*out, *len: munmap'ed by ntg__blob_unmap): its
 * chunk files mapped (ntg__chunk_file_map), the rest read into anonymous memory around them.
 * Checks as ntg__obj_read without `check`. */
ntg_status ntg__obj_map(ntg_store *s, const ntg__view *v, const ntg__obj *o, void **out,
                        size_t *len, const char *what, ntg_error *err);

/* Read object `o` into dst (o->nbytes bytes), checking every chunk's size and its hash.
 * Format 2 checks each chunk's BLAKE3 as it goes (RocksDB's blob CRC is not read); format 1
 * re-hashes (BLAKE2b) only with `check` (verify, small objects) and relies on RocksDB's
 * checksums otherwise.  `what` names it in messages.  A missing chunk sets s->missing so a
 * reader can catch up and retry; a mismatch is NTG_ERR_DATA. */
ntg_status ntg__obj_read(ntg_store *s, const ntg__view *v, const ntg__obj *o, void *dst, int check,
                         const char *what, ntg_error *err);

/* The store's content hash of n bytes: BLAKE2b-256 in format 1, BLAKE3-256 in format 2. */
void ntg__hash(const ntg_store *s, const void *p, size_t n, uint8_t out[NTG__HASH]);
/* BLAKE3-256 of n bytes (store_b3.c: SIMD as wide as NTG_CPU_ISA allows; from 4 MiB on, on
 * two threads). */
void ntg__blake3(const void *data, size_t n, uint8_t out[32]);
/* The same on at most `threads` threads (1: this one only; tests hold one against the other). */
void ntg__blake3_threads(const void *data, size_t n, int threads, uint8_t out[32]);
void ntg__hex(const uint8_t *p, size_t n, char *out); /* 2n chars + NUL */

/* Rebuild the plan bytes of a version (64-byte aligned, ntg__aligned_free); `check` re-hashes
 * every tensor (the skeleton always). */
ntg_status ntg__version_plan_bytes(ntg_store *s, const ntg__view *v, const char *name,
                                   const ntg__version_rec *rec, int check, void **out, size_t *size,
                                   ntg_error *err);

/* Byte offset of the WEIGHTS entry in a plan file's section table, or -1. */
long ntg__plan_weights_entry(const uint8_t *base, size_t size);

/* ----------------------------------------------------------- embeddings */

/* The similarity embedding of a plan (docs/store.md: which features). */
void ntg__embed_plan(const ntg_plan *plan, float out[NTG__EMBED_DIM]);

/* Embedding row: u8 dim, f32[dim], str kind, u64 params, i64 created. */
void ntg__enc_embed(ntg__buf *b, const float *e, const char *kind, uint64_t params,
                    int64_t created_ms);

/* ----------------------------------------------------------- commits */

/* The commit batch and the counters it updates. */
typedef struct ntg__commit {
    rocksdb_writebatch_t *wb;
    ntg__stats_rec stats;
} ntg__commit;

/* The commit batch starts as the writer's small chunks (w may be NULL). */
ntg_status ntg__commit_begin(ntg_store *s, ntg__commit *c, ntg__writer *w, ntg_error *err);
/* Add the stats and ring rows, write the batch synced, and free it. */
ntg_status ntg__commit_write(ntg_store *s, ntg__commit *c, ntg_error *err);
void ntg__commit_abort(ntg__commit *c);

/* Names and aliases: 1 when valid (messages say what is allowed). */
int ntg__valid_name(const char *name);
int ntg__valid_alias(const char *alias);
int ntg__valid_tag_key(const char *key);

int64_t ntg__now_ms(void);

/* Checkpoints pruned in a commit: add to `wb` the deletion of every chunk of the checkpoint
 * rows `pruned` (keys) that no other record and none of `keep` (the commit's new objects)
 * references; *bytes: the size of those RocksDB holds (not chunk files). */
/* ntg_store_put_checkpoint that also deletes, in the same commit, the checkpoints of model
 * `name` with the ids in drop_ids (other runs' ones the caller reclaims; absent ones skipped). */
ntg_status ntg__store_put_checkpoint_drop(ntg_store *s, const char *name,
                                          const ntg_store_checkpoint *ck, unsigned keep,
                                          const uint64_t *drop_ids, size_t n_drop, uint64_t *id,
                                          ntg_error *err);
/* `files` (may be NULL) gets the hashes of the chunk files to remove once the batch is written
 * (ntg__store_unlink_files). */
ntg_status ntg__store_drop_pruned(ntg_store *s, rocksdb_writebatch_t *wb, const ntg__buf *pruned,
                                  size_t n_pruned, const ntg__obj *keep, size_t n_keep,
                                  uint64_t *bytes, ntg__buf *files, ntg_error *err);
/* Remove the chunk files of `hashes` (after the deletion of their index rows is durable). */
void ntg__store_unlink_files(ntg_store *s, const ntg__buf *hashes);
/* Flush the chunks and compact them, so blob files holding only removed chunks go. */
ntg_status ntg__store_drop_garbage_files(ntg_store *s, ntg_error *err);

#endif /* NTG_STORE_INT_H */
