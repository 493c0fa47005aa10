/* store.c — opening and closing a model store, errors, views, references, the commit batch. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "store_int.h"

const char *const ntg__store_cf_names[NTG__STORE_NCF] = {
    "default", "models", "versions", "aliases", "tags", "tagidx", "ckpts", "embed", "chunks"};

#define FORMAT_KEY "format"
#define STATS_KEY "stats"
#define RING_PREFIX "ring"

#define DAMAGED_ADVICE NTG__DAMAGED_ADVICE

int64_t ntg__now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ errors */

ntg_status ntg__store_fail(const ntg_store *s, ntg_error *err, ntg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ntg__verr(err, st, s ? s->path : NULL, 0, 0, fmt, ap);
    va_end(ap);
    return st;
}

ntg_status ntg__store_rdb_status(const char *msg)
{
    if (strstr(msg, "While lock file") || strstr(msg, "lock hold by current process"))
        return NTG_ERR_STATE;
    /* RocksDB passes an allocation that failed inside it on as strerror(ENOMEM) (IO error)
     * or as a MemoryLimit status: out of memory, not a damaged store */
    if (strstr(msg, "Cannot allocate memory") || strstr(msg, "MemoryLimit")) return NTG_ERR_NOMEM;
    if (strncmp(msg, "Corruption", 10) == 0) return NTG_ERR_DATA;
    if (strncmp(msg, "Not implemented", 15) == 0) return NTG_ERR_UNSUPPORTED;
    if (strncmp(msg, "Invalid argument", 16) == 0) return NTG_ERR_DATA;
    return NTG_ERR_IO;
}

ntg_status ntg__store_rdb(const ntg_store *s, char *rerr, ntg_error *err, const char *what)
{
    ntg_status st = ntg__store_rdb_status(rerr ? rerr : "");
    if (rerr && (strstr(rerr, "No space left on device") || strstr(rerr, "NoSpace"))) {
        /* a machine failure, not bad input: NTG_ERR_IO, and what to do about it */
        ntg__store_fail(s, err, NTG_ERR_IO,
                        "%s: the disk is full (%s); nothing acknowledged was lost. Free space "
                        "(`ntgraph store gc` removes chunks nothing uses) and try again",
                        what, rerr);
        if (err) err->os_errno = ENOSPC; /* the CLI exits 1: a machine failure */
        rocksdb_free(rerr);
        /* RocksDB 7.8 asserts (SIGABRT) when it closes a log writer that failed: this handle
         * is not closed, only dropped (see ntg_store_close) */
        ((ntg_store *)s)->poisoned = 1;
        return NTG_ERR_IO;
    }
    ntg__store_fail(s, err, st, "%s: %s", what, rerr ? rerr : "unknown RocksDB error");
    rocksdb_free(rerr);
    return st;
}

void ntg__store_set_killpoint(ntg_store *s, ntg__store_killpoint_fn fn, void *user)
{
    if (!s) return;
    s->killpoint = fn;
    s->killpoint_user = user;
}

ntg_status ntg__store_space(ntg_store *s, uint64_t need, const char *what, ntg_error *err)
{
    struct statvfs v;
    if (statvfs(s->path, &v) != 0) return NTG_OK; /* cannot tell: the write will say */
    uint64_t avail = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
    /* what is in the memtables is written again when they are flushed */
    uint64_t mem = 0;
    if (s->db) (void)rocksdb_property_int(s->db, "rocksdb.cur-size-all-mem-tables", &mem);
    uint64_t want = need + mem + NTG__SPACE_RESERVE;
    if (avail >= want) return NTG_OK;
    ntg__store_fail(s, err, NTG_ERR_IO,
                    "%s: the disk is full (%.1f MiB free; this needs about %.1f MiB, "
                    "with RocksDB's headroom); nothing was written and nothing acknowledged "
                    "was lost. Free space (`ntgraph store gc` removes chunks nothing uses) "
                    "and try again",
                    what, (double)avail / 1048576.0, (double)want / 1048576.0);
    if (err) err->os_errno = ENOSPC; /* the CLI exits 1: a machine failure */
    return NTG_ERR_IO;
}

unsigned long ntg__store_catchups(const ntg_store *s)
{
    return s ? s->catchups_total : 0;
}

void ntg__store_kill(ntg_store *s, int step)
{
    if (s->killpoint) s->killpoint(s->killpoint_user, step);
}

/* ------------------------------------------------------------------ names */

static int name_char(int c)
{
    return isalnum(c) || c == '_' || c == '.' || c == '-';
}

int ntg__valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > NTG__NAME_MAX) return 0;
    if (!isalnum((unsigned char)name[0]) && name[0] != '_') return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)name[i])) return 0;
    return 1;
}

int ntg__store_valid_model_name(const char *name)
{
    return ntg__valid_name(name);
}

int ntg__valid_alias(const char *alias)
{
    size_t n = alias ? strlen(alias) : 0;
    if (n == 0 || n > NTG__ALIAS_MAX) return 0;
    if (!isalpha((unsigned char)alias[0]) && alias[0] != '_') return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)alias[i])) return 0;
    return 1;
}

int ntg__valid_tag_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > NTG__TAG_KEY_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)key[i]) && key[i] != ':' && key[i] != '/') return 0;
    return 1;
}

/* ------------------------------------------------------------------ open */

static void free_handles(ntg_store *s)
{
    for (int i = 0; i < NTG__STORE_NCF; i++) {
        if (s->cf[i]) rocksdb_column_family_handle_destroy(s->cf[i]);
        s->cf[i] = NULL;
    }
    if (s->db) rocksdb_close(s->db);
    s->db = NULL;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

/* A writer's presence file: left behind, it says the last writer did not close (a crash). */
#define WRITER_MARK "NTGRAPH-WRITER"

static void writer_mark_path(const ntg_store *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/" WRITER_MARK, s->path);
}

void ntg_store_close(ntg_store *s)
{
    if (!s) return;
    ntg__acked_close(s);
    if (s->poisoned) {
        /* a write failed for lack of space: closing would abort in RocksDB, so the RocksDB
         * handles are left to the process's end (the store's lock with them); what is on
         * disk is whole, as after a crash */
        free(s->logdir);
        free(s->path);
        free(s);
        return;
    }
    if (s->db && !s->readonly && s->marked) {
        char mark[4096];
        writer_mark_path(s, mark, sizeof mark);
        unlink(mark);
    }
    free_handles(s);
    for (int i = 0; i < NTG__STORE_NCF; i++)
        if (s->cfopt[i]) rocksdb_options_destroy(s->cfopt[i]);
    if (s->dbopt) rocksdb_options_destroy(s->dbopt);
    if (s->wsync) rocksdb_writeoptions_destroy(s->wsync);
    if (s->wnowal) rocksdb_writeoptions_destroy(s->wnowal);
    if (s->flush) rocksdb_flushoptions_destroy(s->flush);
    if (s->logdir) {
        remove_dir(s->logdir);
        free(s->logdir);
    }
    free(s->path);
    free(s);
}

/* What is at `path`: 0 nothing, 1 a RocksDB database, 2 an empty directory; else an error. */
static ntg_status probe(const ntg_store *s, const char *path, int *what, ntg_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) {
            *what = 0;
            return NTG_OK;
        }
        return ntg__store_fail(s, err, NTG_ERR_IO, "cannot access the store: %s", strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return ntg__store_fail(s, err, NTG_ERR_DATA,
                               "not a model store: a file, not a directory (nothing was changed)");
    char cur[4096];
    snprintf(cur, sizeof cur, "%s/CURRENT", path);
    if (access(cur, F_OK) == 0) {
        *what = 1;
        return NTG_OK;
    }
    DIR *d = opendir(path);
    if (!d)
        return ntg__store_fail(s, err, NTG_ERR_IO, "cannot read the directory: %s",
                               strerror(errno));
    int empty = 1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(d);
    if (!empty)
        return ntg__store_fail(s, err, NTG_ERR_DATA,
                               "not a model store: a directory with other files and no RocksDB "
                               "database (nothing was changed)");
    *what = 2;
    return NTG_OK;
}

/* Errors a reader gets when a running writer replaced a file it was about to read. */
static int transient(const char *msg)
{
    return strstr(msg, "No such file or directory") != NULL;
}

/* A RocksDB database is ours when it has exactly our column families: checked from its
 * MANIFEST alone, before opening it could write anything. */
static ntg_status check_families(ntg_store *s, ntg_error *err)
{
    char *rerr = NULL;
    size_t n = 0;
    char **names = NULL;
    /* CURRENT may name a MANIFEST a running writer just replaced: read it again */
    for (int tries = 0;; tries++) {
        names = rocksdb_list_column_families(s->dbopt, s->path, &n, &rerr);
        if (!rerr || !transient(rerr) || tries >= 100) break;
        rocksdb_list_column_families_destroy(names, n);
        names = NULL;
        n = 0;
        rocksdb_free(rerr);
        rerr = NULL;
        sleep_ms(20);
    }
    if (rerr && ntg__store_rdb_status(rerr) == NTG_ERR_NOMEM) {
        rocksdb_list_column_families_destroy(names, n);
        ntg__store_fail(s, err, NTG_ERR_NOMEM, "cannot read the store's RocksDB metadata: %s",
                        rerr);
        rocksdb_free(rerr);
        return NTG_ERR_NOMEM;
    }
    if (rerr) {
        rocksdb_list_column_families_destroy(names, n);
        ntg__store_fail(
            s, err, NTG_ERR_DATA,
            "corrupted store: cannot read its RocksDB metadata (MANIFEST): %s; " DAMAGED_ADVICE,
            rerr);
        rocksdb_free(rerr);
        return NTG_ERR_DATA;
    }
    /* RocksDB's C API copies each name with strdup and does not check it: a NULL is a
     * name it could not allocate */
    int lost = !names && n;
    for (size_t j = 0; names && j < n; j++) lost |= names[j] == NULL;
    if (lost) {
        rocksdb_list_column_families_destroy(names, n);
        return ntg__store_fail(s, err, NTG_ERR_NOMEM,
                               "cannot read the store's column families: out of memory");
    }
    int ours = 0, foreign = 0; /* column families of ours beyond "default"; of nobody's */
    for (size_t j = 0; j < n; j++) {
        int known = 0;
        for (size_t i = 0; i < NTG__STORE_NCF; i++)
            known |= strcmp(names[j], ntg__store_cf_names[i]) == 0;
        if (!known)
            foreign++;
        else if (strcmp(names[j], "default") != 0)
            ours++;
    }
    int ok = n == NTG__STORE_NCF && ours == NTG__STORE_NCF - 1;
    char list[256] = "";
    size_t at = 0;
    for (size_t j = 0; j < n && at + 1 < sizeof list; j++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", j ? ", " : "", names[j]);
    rocksdb_list_column_families_destroy(names, n);
    /* a store is renamed into place only once all its families exist, so some of ours and
     * none of anyone else's is a store whose MANIFEST lost records (cut short, damaged) */
    /* ... and so is one that lists only "default" but has our file of acknowledged commits */
    uint64_t acked;
    int mine = ours > 0 || ntg__acked_read(s->path, &acked);
    if (!ok && mine && foreign == 0)
        return ntg__store_fail(s, err, NTG_ERR_DATA,
                               "corrupted store: its MANIFEST lists %d of the store's %d column "
                               "families (%s): the file is damaged or cut short; " DAMAGED_ADVICE,
                               ours + 1, NTG__STORE_NCF, list);
    if (!ok)
        return ntg__store_fail(s, err, NTG_ERR_DATA,
                               "not a model store: a RocksDB database with other column families "
                               "(%s); nothing was changed",
                               list);
    return NTG_OK;
}

static ntg_status make_options(ntg_store *s, int create)
{
    rocksdb_options_t *base = rocksdb_options_create();
    if (!base) return NTG_ERR_NOMEM;
    /* The MANIFEST records which WAL files exist and the open checks them: a MANIFEST that
     * lost records (cut short) then names a WAL that a later flush deleted, and the open
     * fails instead of silently going back to an older state.  Opening does not flush the
     * WAL into tables: a store on a full disk still opens, so gc can free space.  No
     * preallocation: RocksDB reserves ~1.1 write buffers (140 MiB here) for each WAL, which
     * would make a disk look full long before it is.  No C setters for these in 7.8. */
    s->dbopt = rocksdb_options_create();
    char *rerr = NULL;
    if (s->dbopt)
        rocksdb_get_options_from_string(base,
                                        "track_and_verify_wals_in_manifest=true;"
                                        "avoid_flush_during_recovery=true;"
                                        "allow_fallocate=false",
                                        s->dbopt, &rerr);
    rocksdb_options_destroy(base);
    rocksdb_free(rerr); /* an older RocksDB: the check is lost, nothing else */
    if (!s->dbopt) return NTG_ERR_NOMEM;
    rocksdb_options_set_create_if_missing(s->dbopt, (unsigned char)create);
    rocksdb_options_set_create_missing_column_families(s->dbopt, (unsigned char)create);
    rocksdb_options_set_keep_log_file_num(s->dbopt, 2);
    rocksdb_options_set_info_log_level(s->dbopt, 2); /* warnings and errors only */
    /* A damaged WAL record must stop the open: the default (point-in-time recovery) drops
     * it and everything after, acknowledged commits included, and the next commit then reuses
     * their version numbers.  This mode still accepts a torn last record, which only a write
     * that was never acknowledged (its sync had not returned) can leave. */
    rocksdb_options_set_wal_recovery_mode(s->dbopt, 0 /* kTolerateCorruptedTailRecords */);
    /* secondaries need every table file open, so the writer's deletions cannot hurt them */
    rocksdb_options_set_max_open_files(s->dbopt, -1);
    /* column families flush together: a commit batch is never half in tables, half in a
     * purged WAL (what a reader opening during a flush could otherwise see) */
    rocksdb_options_set_atomic_flush(s->dbopt, 1);
    /* small chunks travel in the WAL: bound it, since every reader's open replays it */
    rocksdb_options_set_max_total_wal_size(s->dbopt, 64u << 20);
    for (int i = 0; i < NTG__STORE_NCF; i++) {
        rocksdb_options_t *o = rocksdb_options_create();
        if (!o) return NTG_ERR_NOMEM;
        s->cfopt[i] = o;
        if (i == NTG__CF_CHUNKS) {
            /* weights do not compress; blob files keep them out of the LSM's rewrites */
            rocksdb_options_set_compression(o, rocksdb_no_compression);
            rocksdb_options_set_enable_blob_files(o, 1);
            rocksdb_options_set_min_blob_size(o, NTG__MIN_BLOB);
            rocksdb_options_set_blob_file_size(o, 256ull << 20);
            rocksdb_options_set_blob_compression_type(o, rocksdb_no_compression);
            rocksdb_options_set_enable_blob_gc(o, 0);
            rocksdb_options_set_write_buffer_size(o, 128u << 20);
        }
    }
    s->wsync = rocksdb_writeoptions_create();
    s->wnowal = rocksdb_writeoptions_create();
    s->flush = rocksdb_flushoptions_create();
    if (!s->wsync || !s->wnowal || !s->flush) return NTG_ERR_NOMEM;
    rocksdb_writeoptions_set_sync(s->wsync, 1);
    rocksdb_writeoptions_disable_WAL(s->wnowal, 1);
    rocksdb_flushoptions_set_wait(s->flush, 1);
    return NTG_OK;
}

/* A private temporary directory for a read-only instance's info log (NULL: none). */
static char *private_logdir(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ntgraph-reader-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return NULL;
    char *p = strdup(dir);
    if (!p) rmdir(dir);
    return p;
}

/* A read-only view of the store opened with `mode` as its WAL recovery mode, writing nothing
 * in the store's directory: 0 when it opens (*commits: the commit counter, *marker: 1 when the
 * format marker is there), else -1 with *rerr set (the caller frees it). */
static int ro_probe(ntg_store *s, int mode, uint64_t *commits, int *marker, char **rerr)
{
    *commits = 0;
    *marker = 0;
    *rerr = NULL;
    rocksdb_options_t *o = rocksdb_options_create_copy(s->dbopt);
    char *logdir = private_logdir();
    if (!o || !logdir) {
        if (o) rocksdb_options_destroy(o);
        free(logdir);
        return 1;
    }
    rocksdb_options_set_wal_recovery_mode(o, mode);
    rocksdb_options_set_create_if_missing(o, 0);
    rocksdb_options_set_db_log_dir(o, logdir);
    const rocksdb_options_t *cfo[NTG__STORE_NCF];
    rocksdb_column_family_handle_t *cf[NTG__STORE_NCF] = {0};
    for (int i = 0; i < NTG__STORE_NCF; i++) cfo[i] = s->cfopt[i];
    rocksdb_t *db = rocksdb_open_for_read_only_column_families(
        o, s->path, NTG__STORE_NCF, ntg__store_cf_names, cfo, cf, 0, rerr);
    int ok = db && !*rerr;
    if (ok) {
        rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
        size_t n = 0;
        char *e2 = NULL;
        char *val =
            rocksdb_get_cf(db, ro, cf[NTG__CF_DEFAULT], STATS_KEY, strlen(STATS_KEY), &n, &e2);
        ntg__stats_rec st;
        if (val && !e2 && ntg__dec_stats(val, n, &st) == 0) *commits = st.commits;
        rocksdb_free(val);
        rocksdb_free(e2);
        e2 = NULL;
        val = rocksdb_get_cf(db, ro, cf[NTG__CF_DEFAULT], FORMAT_KEY, strlen(FORMAT_KEY), &n, &e2);
        *marker = val != NULL;
        rocksdb_free(val);
        rocksdb_free(e2);
        rocksdb_readoptions_destroy(ro);
        for (int i = 0; i < NTG__STORE_NCF; i++)
            if (cf[i]) rocksdb_column_family_handle_destroy(cf[i]);
        rocksdb_close(db);
    }
    rocksdb_options_destroy(o);
    remove_dir(logdir);
    free(logdir);
    return ok ? 0 : -1;
}

/* After an open failed with corruption: 1 when a view that stops the WAL replay at the damage
 * (point-in-time recovery) opens, i.e. the WAL is what is damaged. */
static int wal_damaged(ntg_store *s, uint64_t *commits)
{
    int marker;
    char *rerr = NULL;
    int r = ro_probe(s, 2 /* kPointInTimeRecovery */, commits, &marker, &rerr);
    rocksdb_free(rerr);
    return r == 0;
}

/* Opening a writer deletes every file its MANIFEST does not list; a MANIFEST that lost
 * records would so take the store's tables with it.  A read-only look first: every store
 * has its format marker (written before the store is renamed into place), so a view without
 * it is a damaged store, refused before anything is deleted. */
static ntg_status check_before_writing(ntg_store *s, ntg_error *err)
{
    uint64_t commits, acked = 0;
    int marker;
    char *rerr = NULL;
    /* the count of acknowledged commits first: a commit a running writer acknowledges meanwhile
     * is then in the view, unless it flushes while the view opens (another look settles it) */
    int have_acked = ntg__acked_read(s->path, &acked);
    int probed = ro_probe(s, 0, &commits, &marker, &rerr);
    for (int tries = 0; probed == 0 && have_acked && commits < acked && tries < 10; tries++) {
        sleep_ms(20);
        probed = ro_probe(s, 0, &commits, &marker, &rerr);
    }
    if (probed == 0 && have_acked && commits < acked)
        return ntg__acked_refuse(s, commits, acked, err);
    if (probed != 0) {
        if (!rerr) return NTG_OK; /* no memory for the look: the open will say */
        if (ntg__store_rdb_status(rerr) != NTG_ERR_DATA) {
            rocksdb_free(rerr);
            return NTG_OK; /* the writer's open reports it (busy, missing files) */
        }
        int wal = wal_damaged(s, &commits);
        ntg__store_fail(
            s, err, NTG_ERR_DATA,
            wal ? "corrupted store: a commit in its write-ahead log (WAL) is damaged "
                  "(%s); opening it would silently drop that commit and every later "
                  "one; " DAMAGED_ADVICE
            : strstr(rerr, "Missing WAL")
                ? "corrupted store: its MANIFEST names a write-ahead log file "
                  "that is gone, so the MANIFEST is damaged or cut short, or "
                  "files were removed (%s); " DAMAGED_ADVICE
                : "corrupted store: its RocksDB files are damaged (%s); " DAMAGED_ADVICE,
            rerr);
        rocksdb_free(rerr);
        return NTG_ERR_DATA;
    }
    if (!marker)
        return ntg__store_fail(s, err, NTG_ERR_DATA,
                               "corrupted store: its format marker is missing (its MANIFEST or a "
                               "table file is damaged or cut short); " DAMAGED_ADVICE);
    return NTG_OK;
}

static ntg_status open_db(ntg_store *s, int lock_wait_ms, ntg_error *err)
{
    const rocksdb_options_t *cfo[NTG__STORE_NCF];
    for (int i = 0; i < NTG__STORE_NCF; i++) cfo[i] = s->cfopt[i];
    long waited = 0;
    for (;;) {
        char *rerr = NULL;
        /* readers open read-only, not as RocksDB secondaries: secondaries do not support blob
         * files (RocksDB's BlobDB wiki; 7.8 crashes reading one) */
        if (s->readonly)
            s->db = rocksdb_open_for_read_only_column_families(
                s->dbopt, s->path, NTG__STORE_NCF, ntg__store_cf_names, cfo, s->cf, 0, &rerr);
        else
            s->db = rocksdb_open_column_families(s->dbopt, s->path, NTG__STORE_NCF,
                                                 ntg__store_cf_names, cfo, s->cf, &rerr);
        if (!rerr && s->db) return NTG_OK;
        s->db = NULL;
        /* the writer may replace the MANIFEST or delete compacted files while a reader opens:
         * a moment later the files it names exist */
        /* ... and a reader can take the MANIFEST from before a flush, which names a WAL the
         * flush then deleted: for a reader, a missing WAL is a moment too late */
        if (rerr && (transient(rerr) || (s->readonly && strstr(rerr, "Missing WAL"))) &&
            waited < 2000) {
            rocksdb_free(rerr);
            sleep_ms(20);
            waited += 20;
            continue;
        }
        if (rerr && ntg__store_rdb_status(rerr) == NTG_ERR_STATE && !s->readonly) {
            if (waited < lock_wait_ms) {
                rocksdb_free(rerr);
                sleep_ms(20);
                waited += 20;
                continue;
            }
            rocksdb_free(rerr);
            return ntg__store_fail(s, err, NTG_ERR_STATE,
                                   "the store is in use by another writer (waited %ld ms); "
                                   "try again when it is done",
                                   waited);
        }
        if (rerr && ntg__store_rdb_status(rerr) == NTG_ERR_DATA) {
            /* RocksDB's message does not name the file; a view that replays the WAL only up to
             * the damage opening fine says the WAL is what is damaged */
            uint64_t commits = 0;
            int wal = wal_damaged(s, &commits);
            if (wal)
                ntg__store_fail(
                    s, err, NTG_ERR_DATA,
                    "corrupted store: a commit in its write-ahead log (WAL) is "
                    "damaged (%s); opening it would silently drop that commit and "
                    "every later one (the last intact one is commit %llu); " DAMAGED_ADVICE,
                    rerr, (unsigned long long)commits);
            else
                ntg__store_fail(
                    s, err, NTG_ERR_DATA,
                    "corrupted store: its RocksDB files are damaged (%s); " DAMAGED_ADVICE, rerr);
            rocksdb_free(rerr);
            return NTG_ERR_DATA;
        }
        return ntg__store_rdb(s, rerr, err, "cannot open the store");
    }
}

/* The "format" row: written once, synced, when the store is created. */
static ntg_status check_format(ntg_store *s, ntg_error *err)
{
    char *val = NULL;
    size_t n = 0;
    ntg_status st =
        ntg__store_get(s, NULL, NTG__CF_DEFAULT, FORMAT_KEY, strlen(FORMAT_KEY), &val, &n, err);
    if (st) return st;
    size_t ml = sizeof NTG__FORMAT_MAGIC; /* with its NUL */
    if (val) {
        int ok = n == ml + 4 && memcmp(val, NTG__FORMAT_MAGIC, ml) == 0;
        uint32_t ver = 0;
        if (ok) memcpy(&ver, val + ml, 4);
        free(val);
        if (!ok)
            return ntg__store_fail(s, err, NTG_ERR_DATA,
                                   "not a model store: its format marker is not ntgraph's");
        if (ver < 1 || ver > NTG__FORMAT_VERSION)
            return ntg__store_fail(s, err, NTG_ERR_VERSION,
                                   "store format %u; this ntgraph reads formats 1..%u", ver,
                                   NTG__FORMAT_VERSION);
        s->format = ver; /* 1: BLAKE2b content hashes, 2: BLAKE3 (docs/store.md) */
        return NTG_OK;
    }
    /* no marker: a store whose creation was interrupted, or a foreign database with our
     * column family names; only an empty one is finished */
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cf[NTG__CF_MODELS]);
    rocksdb_iter_seek_to_first(it);
    int empty = !rocksdb_iter_valid(it);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    s->no_marker = 1;
    if (!empty)
        return ntg__store_fail(s, err, NTG_ERR_DATA,
                               "corrupted store: models without a format marker; " DAMAGED_ADVICE);
    /* only a store being created (in its sibling directory) lacks the marker */
    if (!s->creating)
        return ntg__store_fail(s, err, NTG_ERR_DATA,
                               "corrupted store: its format marker is missing (its MANIFEST or a "
                               "table file is damaged or cut short); " DAMAGED_ADVICE);
    char buf[sizeof NTG__FORMAT_MAGIC + 4];
    uint32_t ver = NTG__FORMAT_VERSION;
    memcpy(buf, NTG__FORMAT_MAGIC, sizeof NTG__FORMAT_MAGIC);
    memcpy(buf + sizeof NTG__FORMAT_MAGIC, &ver, 4);
    char *rerr = NULL;
    rocksdb_put_cf(s->db, s->wsync, s->cf[NTG__CF_DEFAULT], FORMAT_KEY, strlen(FORMAT_KEY), buf,
                   sizeof buf, &rerr);
    if (rerr) return ntg__store_rdb(s, rerr, err, "cannot write the format marker");
    s->format = ver;
    return NTG_OK;
}

/* A new store is made in a sibling directory and renamed into place: RocksDB creates column
 * families one at a time, and a crash in between must not leave half a store at the path. */
static ntg_status create_store(ntg_store *s, ntg_error *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.creating.%ld", s->path, (long)getpid());
    remove_dir(tmp);
    const rocksdb_options_t *cfo[NTG__STORE_NCF];
    for (int i = 0; i < NTG__STORE_NCF; i++) cfo[i] = s->cfopt[i];
    char *rerr = NULL;
    s->db = rocksdb_open_column_families(s->dbopt, tmp, NTG__STORE_NCF, ntg__store_cf_names, cfo,
                                         s->cf, &rerr);
    if (rerr) {
        s->db = NULL;
        remove_dir(tmp);
        return ntg__store_rdb(s, rerr, err, "cannot create the store");
    }
    s->creating = 1;
    ntg_status st = check_format(s, err); /* writes the marker, synced */
    s->creating = 0;
    free_handles(s);
    if (!st && rename(tmp, s->path) != 0) {
        /* someone else made it meanwhile: use theirs */
        int e = errno;
        struct stat sb;
        char cur[4096];
        snprintf(cur, sizeof cur, "%s/CURRENT", s->path);
        if (stat(cur, &sb) != 0)
            st = ntg__store_fail(s, err, NTG_ERR_IO, "cannot create the store: %s", strerror(e));
    }
    remove_dir(tmp); /* gone after a rename; the leftovers otherwise */
    if (!st) ntg__sync_dir_of(s->path);
    return st;
}

ntg_status ntg_store_open(const char *path, const ntg_store_options *opts, ntg_store **out,
                          ntg_error *err)
{
    if (out) *out = NULL;
    if (!path || !out || !*path)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_open: NULL argument");
    if (sodium_init() < 0)
        return ntg__fail(err, NTG_ERR_INTERNAL, "libsodium could not be initialised");
    ntg_store_options o;
    ntg_store_options_init(&o);
    ntg_status ost = NTG__ABI_IN(&o, opts, ntg_store_options, lock_wait_ms, "ntg_store_open", err);
    if (ost) return ost;
    ntg_store *s = calloc(1, sizeof *s);
    if (!s) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    s->acked_fd = -1;
    s->path = strdup(path);
    s->readonly = (o.flags & NTG_STORE_OPEN_READONLY) != 0;
    s->no_map = (o.flags & NTG_STORE_OPEN_NO_MAP) != 0;
    ntg_status st = s->path ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    int what = 0;
    if (!st) st = probe(s, path, &what, err);
    int create = 0;
    if (!st && what != 1) {
        if (s->readonly || (o.flags & NTG_STORE_OPEN_NO_CREATE))
            st = ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "no model store here");
        else
            create = 1;
    }
    uint64_t acked = 0; /* read before the view opens: what it must hold at least */
    int have_acked = !st && !create && ntg__acked_read(path, &acked);
    if (!st && make_options(s, create)) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (!st && create) st = create_store(s, err);
    if (!st) st = check_families(s, err);
    if (!st && !create && !s->readonly) st = check_before_writing(s, err);
    /* a reader writes nothing in the store's directory: its info log goes to a private one */
    if (!st && s->readonly) {
        const char *tmp = getenv("TMPDIR");
        if (!(s->logdir = private_logdir()))
            st = ntg__store_fail(s, err, NTG_ERR_IO, "cannot create a reader directory in %s: %s",
                                 tmp && *tmp ? tmp : "/tmp", strerror(errno));
        if (!st) rocksdb_options_set_db_log_dir(s->dbopt, s->logdir);
    }
    if (!st) st = open_db(s, o.lock_wait_ms, err);
    if (!st) st = check_format(s, err);
    /* A reader that opens while the writer recovers (its first open after creation flushes the
     * marker from the log into a table file and drops the log) can take the file list from
     * before and the log from after, and see models without the marker.  A new view settles
     * it; a database that really lacks the marker still fails, after a second. */
    for (int tries = 0; st && s->readonly && s->no_marker && tries < 50; tries++) {
        sleep_ms(20);
        free_handles(s);
        st = open_db(s, 0, err);
        if (!st) st = check_format(s, err);
    }
    /* every acknowledged commit must be there (store_acked.c); a reader's view may miss the
     * newest while the writer flushes, and a new view settles that */
    for (int tries = 0; !st && have_acked; tries++) {
        ntg__stats_rec sr;
        st = ntg__get_stats(s, NULL, &sr, err);
        if (st || sr.commits >= acked) break;
        if (!s->readonly || tries >= 50) {
            st = ntg__acked_refuse(s, sr.commits, acked, err);
            break;
        }
        sleep_ms(20);
        free_handles(s);
        st = open_db(s, 0, err);
    }
    if (st) {
        ntg_store_close(s);
        return st;
    }
    /* The last writer did not close: a crash can have left chunks that no record references
     * (written before their commit).  Blob files are large, so they are reclaimed now rather
     * than at the next gc; a failure here leaves them to it. */
    if (!s->readonly) {
        char mark[4096];
        writer_mark_path(s, mark, sizeof mark);
        int crashed = !create && access(mark, F_OK) == 0;
        int fd = open(mark, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) {
            close(fd);
            s->marked = 1;
        }
        if (crashed) {
            ntg_store_gc_report g;
            ntg_error e2;
            (void)ntg__store_gc(s, 0, &g, &e2);
        }
    }
    *out = s;
    return NTG_OK;
}

ntg_status ntg__store_catch_up(ntg_store *s, ntg_error *err)
{
    if (!s->readonly) return NTG_OK;
    s->catchups++;
    s->catchups_total++;
    /* a read-only instance is a fixed view: a new one sees the writer's current state */
    free_handles(s);
    return open_db(s, 0, err);
}

ntg_status ntg_store_refresh(ntg_store *s, ntg_error *err)
{
    if (!s) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_refresh: NULL store");
    if (!s->readonly) return NTG_OK;
    free_handles(s);
    return open_db(s, 0, err);
}

/* ------------------------------------------------------------------ views */

ntg_status ntg__view_begin(ntg_store *s, ntg__view *v, ntg_error *err)
{
    memset(v, 0, sizeof *v);
    v->ro = rocksdb_readoptions_create();
    if (!v->ro) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    /* a read-only instance never changes, so its plain reads are already a view */
    if (!s->readonly) {
        v->snap = rocksdb_create_snapshot(s->db);
        rocksdb_readoptions_set_snapshot(v->ro, v->snap);
    }
    return NTG_OK;
}

void ntg__view_end(ntg_store *s, ntg__view *v)
{
    if (v->ro) rocksdb_readoptions_destroy(v->ro);
    if (v->snap) rocksdb_release_snapshot(s->db, v->snap);
    memset(v, 0, sizeof *v);
}

ntg_status ntg__store_get(ntg_store *s, const ntg__view *v, int cf, const void *key, size_t klen,
                          char **val, size_t *vlen, ntg_error *err)
{
    *val = NULL;
    *vlen = 0;
    char *rerr = NULL;
    rocksdb_readoptions_t *ro = v ? v->ro : NULL;
    rocksdb_readoptions_t *own = NULL;
    if (!ro) ro = own = rocksdb_readoptions_create();
    size_t n = 0;
    char *p = rocksdb_get_cf(s->db, ro, s->cf[cf], key, klen, &n, &rerr);
    if (own) rocksdb_readoptions_destroy(own);
    if (rerr) return ntg__store_rdb(s, rerr, err, "read failed");
    if (!p) return NTG_OK;
    /* rocksdb_get_cf's buffer is malloc'ed; copy anyway so the caller frees with free() and
     * an empty value is still non-NULL */
    char *copy = malloc(n + 1);
    if (!copy) {
        rocksdb_free(p);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    memcpy(copy, p, n);
    copy[n] = 0;
    rocksdb_free(p);
    *val = copy;
    *vlen = n;
    return NTG_OK;
}

rocksdb_iterator_t *ntg__iter_prefix(ntg_store *s, const ntg__view *v, int cf, const void *prefix,
                                     size_t n, ntg__buf *upper, rocksdb_readoptions_t **ro_out)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    *ro_out = ro;
    if (!ro) return NULL;
    if (v && v->snap) rocksdb_readoptions_set_snapshot(ro, v->snap);
    memset(upper, 0, sizeof *upper);
    if (n && ntg__key_upper(prefix, n, upper))
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)upper->p, upper->len);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cf[cf]);
    if (!it) return NULL;
    if (n)
        rocksdb_iter_seek(it, prefix, n);
    else
        rocksdb_iter_seek_to_first(it);
    return it;
}

void ntg__iter_end(rocksdb_iterator_t *it, rocksdb_readoptions_t *ro, ntg__buf *upper)
{
    if (it) rocksdb_iter_destroy(it);
    if (ro) rocksdb_readoptions_destroy(ro);
    ntg__sb_free(upper);
}

ntg_status ntg__get_stats(ntg_store *s, const ntg__view *v, ntg__stats_rec *st, ntg_error *err)
{
    memset(st, 0, sizeof *st);
    char *val;
    size_t n;
    ntg_status r =
        ntg__store_get(s, v, NTG__CF_DEFAULT, STATS_KEY, strlen(STATS_KEY), &val, &n, err);
    if (r || !val) return r;
    int bad = ntg__dec_stats(val, n, st);
    free(val);
    if (bad) return ntg__store_fail(s, err, NTG_ERR_DATA, "the store's counters are corrupted");
    return NTG_OK;
}

static void ring_key(uint64_t commit, char key[8])
{
    memcpy(key, RING_PREFIX, 4);
    uint32_t slot = (uint32_t)(commit % NTG__RING);
    key[4] = (char)(slot >> 24);
    key[5] = (char)(slot >> 16);
    key[6] = (char)(slot >> 8);
    key[7] = (char)slot;
}

ntg_status ntg__view_consistent(ntg_store *s, const ntg__view *v, int *ok, ntg_error *err)
{
    *ok = 1;
    if (!s->readonly) return NTG_OK;
    uint64_t missing;
    return ntg__ring_check(s, v, ok, &missing, err);
}

ntg_status ntg__ring_check(ntg_store *s, const ntg__view *v, int *ok, uint64_t *missing,
                           ntg_error *err)
{
    *ok = 1;
    *missing = 0;
    ntg__stats_rec st;
    ntg_status r = ntg__get_stats(s, v, &st, err);
    if (r) return r;
    /* every commit writes its number into slot commit % RING: a view that misses a recent
     * commit has a slot with an older number (or none) */
    uint64_t lo = st.commits > NTG__RING ? st.commits - NTG__RING + 1 : 1, seen = 0;
    ntg__buf upper;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it = ntg__iter_prefix(s, v, NTG__CF_DEFAULT, RING_PREFIX, 4, &upper, &ro);
    if (!it) {
        ntg__iter_end(it, ro, &upper);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    uint8_t have[NTG__RING] = {0};
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t vl;
        const char *val = rocksdb_iter_value(it, &vl);
        if (vl != 8) continue;
        uint64_t c = ntg__be64((const uint8_t *)val);
        if (c >= lo && c <= st.commits) {
            seen++;
            have[c % NTG__RING] = 1;
        }
    }
    ntg__iter_end(it, ro, &upper);
    *ok = st.commits == 0 || seen == st.commits - lo + 1;
    for (uint64_t c = st.commits; !*ok && c >= lo && c > 0; c--)
        if (!have[c % NTG__RING]) *missing = c; /* the oldest one missing */
    return NTG_OK;
}

/* ------------------------------------------------------------------ records */

ntg_status ntg__get_model(ntg_store *s, const ntg__view *v, const char *name, ntg_pool *pool,
                          ntg__model_rec *m, int *found, ntg_error *err)
{
    memset(m, 0, sizeof *m);
    *found = 0;
    char *val;
    size_t n;
    ntg_status st = ntg__store_get(s, v, NTG__CF_MODELS, name, strlen(name), &val, &n, err);
    if (st || !val) return st;
    int bad = ntg__dec_model(val, n, pool, m);
    free(val);
    if (bad)
        return ntg__store_fail(s, err, NTG_ERR_DATA, "the record of model '%s' is corrupted", name);
    *found = 1;
    return NTG_OK;
}

ntg_status ntg__get_version(ntg_store *s, const ntg__view *v, const char *name, uint64_t version,
                            ntg_pool *pool, int with_manifest, ntg__version_rec *rec, int *found,
                            ntg_error *err)
{
    memset(rec, 0, sizeof *rec);
    *found = 0;
    ntg__buf key = {0};
    ntg__key_named(&key, name, version);
    if (key.oom) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    char *val;
    size_t n;
    ntg_status st = ntg__store_get(s, v, NTG__CF_VERSIONS, key.p, key.len, &val, &n, err);
    ntg__sb_free(&key);
    if (st || !val) return st;
    int bad = ntg__dec_version(val, n, pool, with_manifest, rec);
    free(val);
    if (bad || rec->version != version)
        return ntg__store_fail(s, err, NTG_ERR_DATA, "the record of %s@%llu is corrupted", name,
                               (unsigned long long)version);
    *found = 1;
    return NTG_OK;
}

static ntg_status alias_get(ntg_store *s, const ntg__view *v, const char *name, const char *alias,
                            uint64_t *version, ntg_error *err)
{
    *version = 0;
    ntg__buf key = {0};
    ntg__buf_cstr(&key, name);
    ntg__sb_put(&key, alias, strlen(alias));
    if (key.oom) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    char *val;
    size_t n;
    ntg_status st = ntg__store_get(s, v, NTG__CF_ALIASES, key.p, key.len, &val, &n, err);
    ntg__sb_free(&key);
    if (st || !val) return st;
    if (n == 8) *version = ntg__be64((const uint8_t *)val);
    free(val);
    if (*version == 0)
        return ntg__store_fail(s, err, NTG_ERR_DATA, "alias '%s' of '%s' is corrupted", alias,
                               name);
    return NTG_OK;
}

/* "latest, champion" (at most cap bytes) for messages. */
static void alias_names(ntg_store *s, const ntg__view *v, const char *name, char *out, size_t cap)
{
    out[0] = 0;
    ntg__buf prefix = {0}, upper;
    ntg__buf_cstr(&prefix, name);
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it =
        prefix.oom ? NULL
                   : ntg__iter_prefix(s, v, NTG__CF_ALIASES, prefix.p, prefix.len, &upper, &ro);
    size_t at = 0;
    for (; it && rocksdb_iter_valid(it) && at + 1 < cap; rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl <= prefix.len) continue;
        at += (size_t)snprintf(out + at, cap - at, "%s%.*s", at ? ", " : "", (int)(kl - prefix.len),
                               k + prefix.len);
    }
    if (!prefix.oom) ntg__iter_end(it, ro, &upper);
    ntg__sb_free(&prefix);
    if (!out[0]) snprintf(out, cap, "none");
}

ntg_status ntg__resolve(ntg_store *s, const ntg__view *v, const char *ref, ntg_pool *pool,
                        const char **name_out, uint64_t *version, ntg_error *err)
{
    *name_out = NULL;
    *version = 0;
    if (!ref || !*ref) return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG, "empty model reference");
    const char *at = strchr(ref, '@');
    char *name = ntg__pool_strndup(pool, ref, at ? (size_t)(at - ref) : strlen(ref));
    if (!name) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    const char *what = at ? at + 1 : "latest";
    if (!ntg__valid_name(name) || (at && !*what))
        return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                               "bad reference '%s': expected NAME, NAME@VERSION or NAME@ALIAS "
                               "(names of letters, digits, '_', '.', '-')",
                               ref);
    ntg__model_rec m;
    int found;
    ntg_status st = ntg__get_model(s, v, name, pool, &m, &found, err);
    if (st) return st;
    if (!found) return ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "no model '%s'", name);
    *name_out = name;
    int numeric = 1;
    for (const char *p = what; *p; p++) numeric &= isdigit((unsigned char)*p) != 0;
    if (numeric) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(what, &end, 10);
        ntg__version_rec rec;
        if (errno == 0 && n > 0 &&
            !(st = ntg__get_version(s, v, name, n, pool, 0, &rec, &found, err)) && found) {
            *version = n;
            return NTG_OK;
        }
        if (st) return st;
        if (m.n_versions == 0)
            return ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "model '%s' has no versions yet",
                                   name);
        return ntg__store_fail(s, err, NTG_ERR_NOT_FOUND,
                               "model '%s' has no version %s (it has versions 1..%llu)", name, what,
                               (unsigned long long)(m.next_version - 1));
    }
    if (!ntg__valid_alias(what))
        return ntg__store_fail(s, err, NTG_ERR_INVALID_ARG,
                               "bad alias '%s' in '%s': aliases start with a letter or '_' and "
                               "hold letters, digits, '_', '.', '-'",
                               what, ref);
    if ((st = alias_get(s, v, name, what, version, err))) return st;
    if (*version) return NTG_OK;
    if (strcmp(what, "latest") == 0)
        return ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "model '%s' has no versions yet", name);
    char names[256];
    alias_names(s, v, name, names, sizeof names);
    return ntg__store_fail(s, err, NTG_ERR_NOT_FOUND, "model '%s' has no alias '%s' (aliases: %s)",
                           name, what, names);
}

/* ------------------------------------------------------------------ commits */

ntg_status ntg__commit_begin(ntg_store *s, ntg__commit *c, ntg__writer *w, ntg_error *err)
{
    memset(c, 0, sizeof *c);
    if (s->readonly)
        return ntg__store_fail(s, err, NTG_ERR_STATE, "the store was opened read-only");
    ntg_status st = ntg__get_stats(s, NULL, &c->stats, err);
    if (st) return st;
    if (w && w->inl) {
        c->wb = w->inl;
        w->inl = NULL;
        return NTG_OK;
    }
    c->wb = rocksdb_writebatch_create();
    if (!c->wb) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return NTG_OK;
}

void ntg__commit_abort(ntg__commit *c)
{
    if (c->wb) rocksdb_writebatch_destroy(c->wb);
    c->wb = NULL;
}

ntg_status ntg__commit_write(ntg_store *s, ntg__commit *c, ntg_error *err)
{
    c->stats.commits++;
    ntg__buf b = {0};
    ntg__enc_stats(&b, &c->stats);
    char rk[8], rv[8];
    ring_key(c->stats.commits, rk);
    ntg__put_be64((uint8_t *)rv, c->stats.commits);
    if (b.oom) {
        ntg__commit_abort(c);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    rocksdb_writebatch_put_cf(c->wb, s->cf[NTG__CF_DEFAULT], STATS_KEY, strlen(STATS_KEY),
                              (const char *)b.p, b.len);
    rocksdb_writebatch_put_cf(c->wb, s->cf[NTG__CF_DEFAULT], rk, sizeof rk, rv, sizeof rv);
    ntg__sb_free(&b);
    size_t bytes = 0;
    (void)rocksdb_writebatch_data(c->wb, &bytes);
    /* the batch goes to the WAL now and to a table file at the next flush */
    ntg_status st =
        ntg__store_space(s, 2 * (uint64_t)bytes, "commit failed (nothing was changed)", err);
    if (st) {
        ntg__commit_abort(c);
        return st;
    }
    char *rerr = NULL;
    rocksdb_write(s->db, s->wsync, c->wb, &rerr);
    ntg__commit_abort(c);
    if (rerr) return ntg__store_rdb(s, rerr, err, "commit failed (nothing was changed)");
    /* durable: from now on a state without it is a damaged store */
    ntg__acked_note(s, c->stats.commits);
    return NTG_OK;
}
