/* test_store_errors.c — foreign and corrupted directories: clear errors, nothing else touched. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <rocksdb/c.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "store_testutil.h"

static char dir[256], db[300];

static void setup(void)
{
    st_mkdtemp(dir, sizeof dir, "store-err");
    snprintf(db, sizeof db, "%s/models.db", dir);
}

static void teardown(void)
{
    st_rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

/* Every file under `path` with its size and an FNV-1a hash of its bytes, sorted by name. */
static char *snapshot_of(const char *path, int data_only)
{
    char cmd[600];
    /* data_only: RocksDB's info logs (LOG, LOG.old.*) left out, an open always writes them */
    snprintf(cmd, sizeof cmd, "cd '%s' 2>/dev/null && find . -type f %s| sort | xargs -r md5sum",
             path, data_only ? "! -name 'LOG*' " : "");
    FILE *f = popen(cmd, "r");
    cr_assert(f);
    size_t cap = 1 << 16, n = 0;
    char *buf = calloc(cap, 1);
    size_t k;
    while ((k = fread(buf + n, 1, cap - 1 - n, f)) > 0) n += k;
    pclose(f);
    return buf;
}

static char *snapshot(const char *path)
{
    return snapshot_of(path, 0);
}

static ntg_status try_open(const char *path, unsigned flags, ntg_error *err)
{
    ntg_store_options o;
    ntg_store_options_init(&o);
    o.flags = flags;
    ntg_store *s = NULL;
    ntg_status st = ntg_store_open(path, &o, &s, err);
    ntg_store_close(s);
    return st;
}

Test(store, missing_store_for_readers)
{
    ntg_error err;
    cr_assert_eq(try_open(db, NTG_STORE_OPEN_READONLY, &err), NTG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "no model store here"), "%s", err.message);
    cr_assert(strstr(err.message, db), "%s", err.message);
    cr_assert_eq(try_open(db, NTG_STORE_OPEN_NO_CREATE, &err), NTG_ERR_NOT_FOUND);
    struct stat sb;
    cr_assert_neq(stat(db, &sb), 0, "a reader must not create the store");
}

Test(store, a_file_is_not_a_store)
{
    FILE *f = fopen(db, "w");
    fputs("hello\n", f);
    fclose(f);
    char *before = snapshot(dir);
    ntg_error err;
    cr_assert_eq(try_open(db, 0, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "not a model store"), "%s", err.message);
    char *after = snapshot(dir);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

Test(store, a_directory_of_other_files_is_refused_untouched)
{
    cr_assert_eq(mkdir(db, 0777), 0);
    char p[400];
    snprintf(p, sizeof p, "%s/notes.txt", db);
    FILE *f = fopen(p, "w");
    fputs("my notes\n", f);
    fclose(f);
    char *before = snapshot(db);
    ntg_error err;
    cr_assert_eq(try_open(db, 0, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "not a model store"), "%s", err.message);
    cr_assert(strstr(err.message, "nothing was changed"), "%s", err.message);
    cr_assert_eq(try_open(db, NTG_STORE_OPEN_READONLY, &err), NTG_ERR_DATA);
    char *after = snapshot(db);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

Test(store, another_rocksdb_database_is_refused_untouched)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    char *rerr = NULL;
    rocksdb_t *r = rocksdb_open(o, db, &rerr);
    cr_assert_null(rerr, "%s", rerr);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put(r, wo, "k", 1, "v", 1, &rerr);
    cr_assert_null(rerr);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(r);
    rocksdb_options_destroy(o);
    char *before = snapshot(db);
    ntg_error err;
    cr_assert_eq(try_open(db, 0, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "other column families (default)"), "%s", err.message);
    cr_assert_eq(try_open(db, NTG_STORE_OPEN_READONLY, &err), NTG_ERR_DATA);
    char *after = snapshot(db);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

/* The names of the files in db whose name ends with `suffix`, first one. */
static int find_file(const char *suffix, char *out, size_t cap)
{
    DIR *d = opendir(db);
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name), m = strlen(suffix);
        if (n >= m && strcmp(e->d_name + n - m, suffix) == 0) {
            snprintf(out, cap, "%s/%s", db, e->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* The newest WAL file (opening keeps older ones until a flush, so there can be several). */
static int find_wal(char *out, size_t cap)
{
    DIR *d = opendir(db);
    struct dirent *e;
    long best = -1;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        long num = atol(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0 && num > best) {
            best = num;
            snprintf(out, cap, "%s/%s", db, e->d_name);
        }
    }
    closedir(d);
    return best >= 0;
}

static void flip_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    cr_assert(f, "%s", path);
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

Test(store, corrupted_chunks_are_named_and_verify_reports_them)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    st_put(s, "m", p);
    /* small chunks ride in the WAL until a flush moves them into blob files */
    ntg_error err;
    cr_assert_eq(ntg__store_compact(s, &err), NTG_OK, "%s", err.message);
    ntg_store_close(s);
    char blob[400];
    cr_assert(find_file(".blob", blob, sizeof blob));
    struct stat sb;
    stat(blob, &sb);
    flip_byte(blob, (long)sb.st_size / 2);
    s = st_open(db, NTG_STORE_OPEN_READONLY);
    ntg_plan *g = NULL;
    ntg_status st = ntg_store_get_plan(s, "m", &g, &err);
    cr_assert_eq(st, NTG_ERR_DATA, "%d %s", st, err.message);
    cr_log_info("%s", err.message);
    cr_assert(strstr(err.message, "m@1"), "%s", err.message);
    /* damaged bytes stay damaged: no reopen-and-retry (it cost ~3 s of them) */
    cr_assert_eq(ntg__store_catchups(s), 0, "%lu retries", ntg__store_catchups(s));
    ntg_store_verify_report r;
    ntg_store_verify_report_init(&r);
    cr_assert_eq(ntg_store_verify(s, &r, &err), NTG_ERR_DATA);
    cr_assert_gt(r.bad, 0);
    cr_log_info("verify: %s", err.message);
    ntg_store_close(s);
    ntg_plan_destroy(p);
}

Test(store, corrupted_metadata_is_a_clear_error)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    st_put(s, "m", p);
    ntg_store_close(s);
    ntg_plan_destroy(p);
    char path[400];
    /* CURRENT names a MANIFEST that does not exist */
    snprintf(path, sizeof path, "%s/CURRENT", db);
    FILE *f = fopen(path, "w");
    fputs("MANIFEST-999999\n", f);
    fclose(f);
    char *before = snapshot(db);
    ntg_error err;
    ntg_status st = try_open(db, NTG_STORE_OPEN_READONLY, &err);
    cr_assert(st == NTG_ERR_DATA || st == NTG_ERR_IO, "%d", st);
    cr_log_info("%s", err.message);
    cr_assert(strstr(err.message, db), "%s", err.message);
    char *after = snapshot(db);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

/* issue 11 §5: a flipped byte in the WAL used to drop the acknowledged commit silently (RocksDB's
 * default point-in-time recovery stops before it), and the next import reused its number. */
Test(store, a_corrupted_wal_refuses_to_open_and_no_number_is_reused)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_plan *q = st_variant(p, 0, 5);
    ntg_store *s = st_open(db, 0);
    st_put(s, "m", p);
    ntg_error err;
    cr_assert_eq(ntg__store_compact(s, &err), NTG_OK, "%s", err.message);
    /* version 2 is acknowledged and lives only in the WAL (closing does not flush it) */
    cr_assert_eq(st_put(s, "m", q), 2);
    ntg_store_close(s);
    char wal[400];
    cr_assert(find_wal(wal, sizeof wal));
    struct stat sb;
    stat(wal, &sb);
    cr_assert_gt(sb.st_size, 1000, "the WAL holds version 2");
    flip_byte(wal, (long)sb.st_size / 2);
    char *before = snapshot_of(db, 1);
    for (int ro = 0; ro < 2; ro++) {
        ntg_status st = try_open(db, ro ? NTG_STORE_OPEN_READONLY : 0, &err);
        cr_log_info("%s", err.message);
        cr_assert_eq(st, NTG_ERR_DATA, "%d: %s", st, err.message);
        cr_assert(strstr(err.message, db), "%s", err.message);
        cr_assert(strstr(err.message, "corrupted store"), "%s", err.message);
        cr_assert(strstr(err.message, "write-ahead log"), "%s", err.message);
        cr_assert(strstr(err.message, "store verify"), "%s", err.message);
        cr_assert(strstr(err.message, "backup"), "%s", err.message);
    }
    /* refused before anything was written: version 2 cannot be lost by a later open, nor
     * its number given to other weights */
    char *after = snapshot_of(db, 1);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    ntg_plan_destroy(p);
    ntg_plan_destroy(q);
}

/* A MANIFEST cut short is a damaged store, not a foreign directory ("not a model store"), and
 * a writer must not open it (it would delete the tables the lost records listed).  The cuts
 * land in the column family records, after the first flush, and after the WAL records. */
static void cut_manifest_and_open(int percent)
{
    char sub[320];
    snprintf(sub, sizeof sub, "%s/cut%d.db", dir, percent);
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_store *s = st_open(sub, 0);
    st_put(s, "m", p);
    ntg_error err;
    cr_assert_eq(ntg__store_compact(s, &err), NTG_OK, "%s", err.message);
    ntg_store_close(s);
    ntg_plan_destroy(p);
    char man[700] = "";
    DIR *d = opendir(sub);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "MANIFEST-", 9) == 0)
            snprintf(man, sizeof man, "%s/%s", sub, e->d_name);
    closedir(d);
    cr_assert(man[0]);
    struct stat sb;
    stat(man, &sb);
    cr_assert_eq(truncate(man, sb.st_size * percent / 100), 0);
    for (int ro = 0; ro < 2; ro++) {
        ntg_status st = try_open(sub, ro ? NTG_STORE_OPEN_READONLY : 0, &err);
        cr_log_info("cut to %d %%: %s", percent, err.message);
        cr_assert_eq(st, NTG_ERR_DATA, "cut to %d %%: %d: %s", percent, st, err.message);
        cr_assert(strstr(err.message, "corrupted store"), "%s", err.message);
        cr_assert_null(strstr(err.message, "not a model store"), "%s", err.message);
        cr_assert(strstr(err.message, "store verify"), "%s", err.message);
        cr_assert(strstr(err.message, "backup"), "%s", err.message);
    }
}

Test(store, a_truncated_manifest_is_a_corrupted_store)
{
    int cuts[] = {7, 26, 52};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) cut_manifest_and_open(cuts[i]);
}

/* Size of the store's (one) WAL file. */
static long wal_size(void)
{
    char wal[400];
    cr_assert(find_wal(wal, sizeof wal));
    struct stat sb;
    cr_assert_eq(stat(wal, &sb), 0);
    return (long)sb.st_size;
}

/* issue 11 §5: `verify` said ok after a version was lost.  Someone forces RocksDB past a damaged
 * WAL record in the middle (skip-any-corrupted-records recovery, what a salvage tool does):
 * commits 1 and 3 survive, 2 is gone.  verify names the lost commit and the gap. */
Test(store, verify_detects_a_lost_version)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    long at[4];
    /* commit 2 spans several 32 KiB WAL blocks (all new weights), so commit 3 starts in a
     * block after the damaged one, which a salvage drops whole */
    ntg_plan *p2 = st_compile("graphs/nhits.yaml", 1, 2), *p3 = st_variant(p2, 1, 3);
    const ntg_plan *plans[] = {p, p2, p3};
    at[0] = wal_size();
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(st_put(s, "m", plans[i - 1]), (uint64_t)i);
        at[i] = wal_size();
    }
    ntg_plan_destroy(p2);
    ntg_plan_destroy(p3);
    ntg_store_close(s);
    cr_assert_gt(at[2] - at[1], 3 * 32768);
    char wal[400];
    cr_assert(find_wal(wal, sizeof wal));
    flip_byte(wal, at[1] + 100); /* in commit 2's first block */
    /* the salvage: RocksDB itself, skipping what fails its checksum */
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_wal_recovery_mode(o, 3);
    const char *names[] = {"default", "models", "versions", "aliases", "tags",
                           "tagidx",  "ckpts",  "embed",    "chunks"};
    const rocksdb_options_t *cfo[9];
    rocksdb_column_family_handle_t *cf[9];
    for (int i = 0; i < 9; i++) cfo[i] = o;
    char *rerr = NULL;
    rocksdb_t *r = rocksdb_open_column_families(o, db, 9, names, cfo, cf, &rerr);
    cr_assert_null(rerr, "%s", rerr);
    for (int i = 0; i < 9; i++) rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(r);
    rocksdb_options_destroy(o);
    /* the store opens (its WAL is clean now), and verify finds the hole */
    s = st_open(db, 0);
    ntg_error err;
    ntg_store_verify_report vr;
    ntg_store_verify_report_init(&vr);
    ntg_store_stats x;
    ntg_store_stats_init(&x);
    ntg_store_stats_get(s, &x, &err);
    cr_log_info("after the salvage: %llu versions, %llu commits; WAL offsets %ld %ld %ld %ld",
                (unsigned long long)x.versions, (unsigned long long)x.commits, at[0], at[1], at[2],
                at[3]);
    ntg_status st = ntg_store_verify(s, &vr, &err);
    cr_log_info("%s", err.message);
    cr_assert_eq(st, NTG_ERR_DATA, "verify said ok after version 2 was lost");
    cr_assert(strstr(err.message, "commit 2 is missing"), "%s", err.message);
    cr_assert_geq(vr.bad, 2, "the gap in m's versions too");
    ntg_store_close(s);
    ntg_plan_destroy(p);
}

/* The MANIFEST of the store at `sub` (its one MANIFEST file). */
static void manifest_of(const char *sub, char *out, size_t cap)
{
    out[0] = 0;
    DIR *d = opendir(sub);
    cr_assert(d, "%s", sub);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "MANIFEST-", 9) == 0) snprintf(out, cap, "%s/%s", sub, e->d_name);
    closedir(d);
    cr_assert(out[0]);
}

/* issue 11 §5: a MANIFEST cut inside its first records can still list every column family and
 * the format marker, but none of the later flushes: the store used to open as the older
 * (possibly empty) state it describes, and a writer then deleted the tables it no longer
 * listed.  The store keeps the number of its last acknowledged commit outside RocksDB
 * (NTGRAPH-ACKED) and refuses a state older than that.  The store is opened twice (RocksDB
 * starts a new MANIFEST at each open with a snapshot of the tables, the format marker's
 * among them); every cut of the second MANIFEST, at every length tried, either is refused as a
 * corrupted store or opens with every acknowledged version intact. */
Test(store, a_manifest_cut_to_an_older_state_is_refused)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_plan *q = st_variant(p, 0, 5), *r3 = st_variant(p, 1, 6);
    const ntg_plan *plans[] = {p, q, r3};
    char orig[320];
    snprintf(orig, sizeof orig, "%s/orig.db", dir);
    ntg_error err;
    ntg_store *s = st_open(orig, 0);
    cr_assert_eq(st_put(s, "m", p), 1);
    cr_assert_eq(ntg__store_compact(s, &err), NTG_OK, "%s", err.message);
    ntg_store_close(s);
    /* the second session: version 2, then a checkpoint whose large chunk is flushed (with
     * version 2: column families flush together) without a compaction, version 3 in the WAL */
    s = st_open(orig, 0);
    cr_assert_eq(st_put(s, "m", q), 2);
    /* 20 chunks of 256 KiB: 16 ride in the commit batch, the rest go to RocksDB before it and
     * are flushed (larger chunks would go to chunk files, which RocksDB's MANIFEST does not
     * list) */
    enum { NB = 20, NF = (256 << 10) / 4 };
    static float blob[NB][NF];
    static char names[NB][8];
    ntg_store_blob blobs[NB];
    for (size_t b = 0; b < NB; b++) {
        for (size_t i = 0; i < NF; i++) blob[b][i] = (float)(i + b * NF);
        snprintf(names[b], sizeof names[b], "w%zu", b);
        blobs[b] = (ntg_store_blob){names[b], blob[b], sizeof blob[b]};
    }
    ntg_store_checkpoint ck;
    ntg_store_checkpoint_init(&ck);
    ck.step = 1;
    ck.train_loss = ck.val_loss = 0.5;
    ck.blobs = blobs;
    ck.n_blobs = NB;
    uint64_t id;
    cr_assert_eq(ntg_store_put_checkpoint(s, "m", &ck, 2, &id, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(st_put(s, "m", r3), 3);
    ntg_store_close(s);
    char man[700];
    manifest_of(orig, man, sizeof man);
    struct stat sb;
    cr_assert_eq(stat(man, &sb), 0);
    const char *mname = strrchr(man, '/') + 1;
    int refused = 0, whole = 0, older = 0;
    for (int percent = 5; percent <= 95; percent += 5) {
        char sub[320], cmd[800];
        snprintf(sub, sizeof sub, "%s/cut%d.db", dir, percent);
        snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", orig, sub);
        cr_assert_eq(system(cmd), 0);
        char cut[1100];
        snprintf(cut, sizeof cut, "%s/%s", sub, mname);
        cr_assert_eq(truncate(cut, sb.st_size * percent / 100), 0);
        char *before = snapshot_of(sub, 1);
        for (int ro = 1; ro >= 0; ro--) {
            ntg_store_options o;
            ntg_store_options_init(&o);
            o.flags = ro ? NTG_STORE_OPEN_READONLY : 0;
            s = NULL;
            ntg_status st = ntg_store_open(sub, &o, &s, &err);
            if (st) {
                cr_log_info("cut to %d %% (%s): %s", percent, ro ? "reader" : "writer",
                            err.message);
                cr_assert_eq(st, NTG_ERR_DATA, "cut to %d %%: %d: %s", percent, st, err.message);
                cr_assert(strstr(err.message, "corrupted store"), "%s", err.message);
                cr_assert(strstr(err.message, "store verify"), "%s", err.message);
                cr_assert(strstr(err.message, "backup"), "%s", err.message);
                older += strstr(err.message, "acknowledged") != NULL;
                /* refused before anything was written or deleted */
                char *after = snapshot_of(sub, 1);
                cr_assert_str_eq(before, after, "cut to %d %%: files changed", percent);
                free(after);
                refused++;
                continue;
            }
            /* it opened: then it must be the whole store */
            for (int i = 0; i < 3; i++) {
                char ref[32];
                snprintf(ref, sizeof ref, "m@%d", i + 1);
                ntg_plan *g = NULL;
                st = ntg_store_get_plan(s, ref, &g, &err);
                cr_assert_eq(st, NTG_OK, "cut to %d %% opened (%s) without %s: %s", percent,
                             ro ? "reader" : "writer", ref, err.message);
                cr_assert(st_same_bytes(g, plans[i]));
                ntg_plan_destroy(g);
            }
            ntg_store_close(s);
            whole++;
        }
        free(before);
        st_rmdir(sub);
    }
    cr_log_info("%d opens refused (%d as older than acknowledged), %d opened whole", refused, older,
                whole);
    cr_assert_gt(older, 0, "no cut gave an older state: the test does not test the gap");
    ntg_plan_destroy(p);
    ntg_plan_destroy(q);
    ntg_plan_destroy(r3);
}

/* The chunk files of a format-3 store (docs/store.md "Chunk files"), by name. */
static int chunk_files(char (*out)[400], int cap)
{
    char path[400];
    snprintf(path, sizeof path, "%s/chunks", db);
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap)
        if (strlen(e->d_name) == 64) snprintf(out[n++], 400, "%s/%s", path, e->d_name);
    closedir(d);
    return n;
}

/* N-HiTS as small as the other tests' but 512 wide: its 512 x 512 weights (1 MiB) get files. */
static ntg_plan *wide_nhits(void)
{
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "512"}};
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.defines = d;
    o.n_defines = 3;
    o.max_batch = 8;
    o.seed = 3;
    o.flags = NTG_COMPILE_INFER_ONLY;
    ntg_plan *p = NULL;
    ntg_error err;
    ntg_status st = ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &p, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    return p;
}

static ntg_status load_err(ntg_error *err)
{
    ntg_store *s = st_open(db, NTG_STORE_OPEN_READONLY);
    ntg_plan *g = NULL;
    ntg_status st = ntg_store_get_plan(s, "m", &g, err);
    ntg_plan_destroy(g);
    ntg_store_verify_report r;
    ntg_store_verify_report_init(&r);
    ntg_error e2;
    ntg_status vs = ntg_store_verify(s, &r, &e2);
    if (st) {
        cr_assert_eq(vs, NTG_ERR_DATA, "verify: %d %s", vs, e2.message);
        cr_assert_gt(r.bad, 0);
        cr_log_info("verify: %s", e2.message);
    }
    ntg_store_close(s);
    return st;
}

Test(store, a_bit_flipped_or_truncated_chunk_file_is_named_with_its_version)
{
    ntg_plan *p = wide_nhits();
    ntg_store *s = st_open(db, 0);
    st_put(s, "m", p);
    ntg_store_close(s);
    char files[64][400];
    int n = chunk_files(files, 64);
    cr_assert_geq(n, 2, "N-HiTS has tensors above 256 KiB: they get chunk files");
    ntg_error err;
    cr_assert_eq(load_err(&err), NTG_OK, "%s", err.message);
    /* one bit pattern changed in the middle of a file: the CRC32C check on read sees it */
    struct stat sb;
    cr_assert_eq(stat(files[0], &sb), 0);
    flip_byte(files[0], (long)sb.st_size / 2);
    ntg_status st = load_err(&err);
    cr_assert_eq(st, NTG_ERR_DATA, "%d %s", st, err.message);
    cr_log_info("%s", err.message);
    cr_assert(strstr(err.message, "m@1: tensor '"), "%s", err.message);
    cr_assert(strstr(err.message, "corrupted store"), "%s", err.message);
    flip_byte(files[0], (long)sb.st_size / 2); /* restored */
    cr_assert_eq(load_err(&err), NTG_OK, "%s", err.message);
    /* a file cut short */
    cr_assert_eq(truncate(files[1], 1000), 0);
    st = load_err(&err);
    cr_assert_eq(st, NTG_ERR_DATA, "%d %s", st, err.message);
    cr_log_info("%s", err.message);
    cr_assert(strstr(err.message, "m@1: tensor '"), "%s", err.message);
    cr_assert(strstr(err.message, "its file holds 1000 bytes"), "%s", err.message);
    ntg_plan_destroy(p);
}

Test(store, orphan_chunk_files_are_counted_by_verify_and_removed_by_gc)
{
    ntg_plan *p = wide_nhits();
    ntg_store *s = st_open(db, 0);
    st_put(s, "m", p);
    ntg_store_close(s);
    char files[64][400];
    int n = chunk_files(files, 64);
    cr_assert_geq(n, 1);
    /* what a writer killed between a file's write and its commit leaves: a file no index row
     * names, and a .tmp one */
    char orphan[500], tmp[500], cmd[1200];
    snprintf(orphan, sizeof orphan, "%s/chunks/%064d", db, 7);
    snprintf(tmp, sizeof tmp, "%s/chunks/%064d.tmp", db, 8);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && cp '%s' '%s'", files[0], orphan, files[0], tmp);
    cr_assert_eq(system(cmd), 0);
    s = st_open(db, 0);
    ntg_store_verify_report r;
    ntg_store_verify_report_init(&r);
    ntg_error err;
    cr_assert_eq(ntg_store_verify(s, &r, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(r.orphans, 2);
    ntg_store_gc_report g;
    ntg_store_gc_report_init(&g);
    cr_assert_eq(ntg_store_gc(s, &g, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(g.chunks_removed, 1, "the .tmp one is not a chunk");
    struct stat sb;
    cr_assert_neq(stat(orphan, &sb), 0);
    cr_assert_neq(stat(tmp, &sb), 0);
    ntg_store_verify_report_init(&r);
    cr_assert_eq(ntg_store_verify(s, &r, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(r.orphans, 0);
    cr_assert_eq(chunk_files(files, 64), n, "the version's files are all kept");
    ntg_plan *back = NULL;
    cr_assert_eq(ntg_store_get_plan(s, "m", &back, &err), NTG_OK, "%s", err.message);
    cr_assert(st_same_bytes(p, back));
    ntg_plan_destroy(back);
    ntg_store_close(s);
    ntg_plan_destroy(p);
}
