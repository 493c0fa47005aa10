/* store_bench.c — model store numbers: checkpoint MB/s against a plain file, overhead, `similar`.
 *
 * usage: store_bench DIR [SOURCE_ROOT] [VERSIONS (0, or >= 300; default 10000) [keep]]
 *
 * DIR must not exist (it is created, and removed unless `keep` is given).  Checkpoints have the
 * size of the full N-HiTS training state (weights, Adam state, best weights: 4 x 14 MiB); the
 * plain-file baseline writes the same bytes with write + fsync, as ntgraph's checkpoint files do.
 * VERSIONS 0 measures the checkpoints and the size only (no `similar`: for profiling).
 */
#define _GNU_SOURCE /* getloadavg, MADV_POPULATE_READ */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ntgraph.h"
#include "plan_int.h"
#include "store.h"
#include "store_int.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process: RocksDB's flush runs in its own threads, counted here. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t x = rng_next(&seed);
        memcpy(p + i, &x, 8);
    }
}

/* Turn the new, empty store at `path` into one of an older format (1: BLAKE2b; 2: BLAKE3 with
 * chunks in RocksDB, as stores made before format 3 are), to measure them in one run. */
static int make_format(const char *path, uint32_t version)
{
    ntg_error err;
    ntg_store *s = NULL;
    if (ntg_store_open(path, NULL, &s, &err)) return -1;
    ntg_store_close(s);
    rocksdb_options_t *o = rocksdb_options_create();
    const rocksdb_options_t *cfo[NTG__STORE_NCF];
    for (int i = 0; i < NTG__STORE_NCF; i++) cfo[i] = o;
    rocksdb_column_family_handle_t *cf[NTG__STORE_NCF];
    char *e = NULL;
    rocksdb_t *d =
        rocksdb_open_column_families(o, path, NTG__STORE_NCF, ntg__store_cf_names, cfo, cf, &e);
    if (e) {
        fprintf(stderr, "store_bench: %s\n", e);
        return -1;
    }
    char val[sizeof NTG__FORMAT_MAGIC + 4];
    memcpy(val, NTG__FORMAT_MAGIC, sizeof NTG__FORMAT_MAGIC);
    memcpy(val + sizeof NTG__FORMAT_MAGIC, &version, 4);
    rocksdb_writeoptions_t *w = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(w, 1);
    rocksdb_put_cf(d, w, cf[NTG__CF_DEFAULT], "format", 6, val, sizeof val, &e);
    rocksdb_writeoptions_destroy(w);
    for (int i = 0; i < NTG__STORE_NCF; i++) rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(d);
    rocksdb_options_destroy(o);
    if (e) fprintf(stderr, "store_bench: %s\n", e);
    return e ? -1 : 0;
}

static int die(const ntg_error *err)
{
    fprintf(stderr, "store_bench: %s\n", err->message);
    return 1;
}

static double median(double *x, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
            double t = x[j];
            x[j] = x[j - 1];
            x[j - 1] = t;
        }
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

static uint64_t dir_bytes(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "du -sb '%s'", dir);
    FILE *f = popen(cmd, "r");
    unsigned long long n = 0;
    if (f) {
        if (fscanf(f, "%llu", &n) != 1) n = 0;
        pclose(f);
    }
    return n;
}

/* Minor page faults of the process so far (a fault per 4 KiB page of new memory, one per 2 MiB
 * where transparent huge pages take effect). */
static long faults_now(void)
{
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_minflt : 0;
}

/* The process's anonymous memory in transparent huge pages, kB (-1: unknown). */
static long anon_huge_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    long kb = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

/* One checkpoint written (keeping 2) and read back; wall and CPU seconds of each. */
/* With `rd` (a reader opened with NTG_STORE_OPEN_NO_MAP: the blobs read, not mapped), the
 * checkpoint is read through it too into new memory (tq, cq); with `reuse`, into the earlier
 * result *reuse (ti, ci: that read's wall and CPU seconds), through `rd` where given: the memory
 * of the last round's read, warm like the plain file's buffer. */
static int ck_round(ntg_store *s, int r, uint8_t *w, uint8_t *st, uint8_t *best, size_t wbytes,
                    size_t sbytes, double *tw, double *cw, double *tr, double *cr,
                    ntg_store_ckpts **reuse, double *ti, double *ci, long *flt, long *huge,
                    double *td, ntg_store *rd, double *tq, double *cq)
{
    fill(w, wbytes, 3 * (uint64_t)r + 1);
    fill(st, sbytes, 3 * (uint64_t)r + 2);
    fill(best, wbytes, 3 * (uint64_t)r + 3);
    ntg_store_blob blobs[] = {
        {"weights", w, wbytes}, {"state", st, sbytes}, {"best", best, wbytes}};
    ntg_store_checkpoint ck;
    ntg_store_checkpoint_init(&ck);
    ck.step = r + 1;
    ck.blobs = blobs;
    ck.n_blobs = 3;
    uint64_t id;
    ntg_error err;
    double t0 = now(), c0 = cpu_now();
    if (ntg_store_put_checkpoint(s, "nhits", &ck, 2, &id, &err)) return die(&err);
    *tw = now() - t0;
    *cw = cpu_now() - c0;
    t0 = now();
    c0 = cpu_now();
    ntg_store_ckpts *c = NULL;
    long f0 = faults_now();
    if (ntg_store_get_checkpoint(s, "nhits", 0, &c, &err)) return die(&err);
    *tr = now() - t0;
    *cr = cpu_now() - c0;
    if (flt) *flt = faults_now() - f0;
    if (huge) *huge = anon_huge_kb();
    const ntg_store_checkpoint *k = ntg_store_ckpts_at(c, 0);
    int same = memcmp(k->blobs[1].data, st, sbytes) == 0;
    t0 = now();
    ntg_store_ckpts_destroy(c);
    if (td) *td = now() - t0;
    if (same && rd) {
        if (ntg_store_refresh(rd, &err)) return die(&err);
        t0 = now();
        c0 = cpu_now();
        if (ntg_store_get_checkpoint(rd, "nhits", 0, &c, &err)) return die(&err);
        *tq = now() - t0;
        *cq = cpu_now() - c0;
        same = memcmp(ntg_store_ckpts_at(c, 0)->blobs[1].data, st, sbytes) == 0;
        ntg_store_ckpts_destroy(c);
    }
    if (same && reuse) {
        t0 = now();
        c0 = cpu_now();
        if (ntg_store_get_checkpoint_into(rd ? rd : s, "nhits", 0, reuse, &err)) return die(&err);
        *ti = now() - t0;
        *ci = cpu_now() - c0;
        k = ntg_store_ckpts_at(*reuse, 0);
        same = memcmp(k->blobs[1].data, st, sbytes) == 0;
    }
    if (!same) fprintf(stderr, "store_bench: checkpoint read back differs\n");
    return same ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: store_bench DIR [SOURCE_ROOT] [VERSIONS [keep]]\n");
        return 2;
    }
    const char *dir = argv[1], *src = argc > 2 ? argv[2] : ".";
    long n_versions = 10000;
    if (argc > 3) {
        /* the `similar` queries ask for versions 1..3 of model000..model020: the puts go round
         * 100 models, so fewer than 300 would end in "has no version" after minutes of work */
        char *end;
        errno = 0;
        n_versions = strtol(argv[3], &end, 10);
        if (errno || end == argv[3] || *end || (n_versions < 300 && n_versions != 0)) {
            fprintf(stderr, "store_bench: VERSIONS '%s': expected 0 or a whole number >= 300\n",
                    argv[3]);
            return 2;
        }
    }
    if (mkdir(dir, 0777) != 0) {
        fprintf(stderr, "store_bench: cannot create %s: %s\n", dir, strerror(errno));
        return 2;
    }
    char db[1024], db1[1024], db2[1024], file[1024], graph[1024];
    snprintf(db, sizeof db, "%s/ckpt.db", dir);
    snprintf(db1, sizeof db1, "%s/ckpt1.db", dir);
    snprintf(db2, sizeof db2, "%s/ckpt2.db", dir);
    snprintf(file, sizeof file, "%s/ckpt.bin", dir);
    snprintf(graph, sizeof graph, "%s/graphs/nhits.yaml", src);
    ntg_error err;
    ntg_plan *nhits = NULL;
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    if (ntg_compile_file(graph, &co, &nhits, &err)) return die(&err);
    size_t wbytes = (size_t)nhits->img.info.storage_bytes[NTG_STORE_WEIGHTS];
    size_t sbytes = (size_t)nhits->img.info.storage_bytes[NTG_STORE_STATE];
    size_t total = 2 * wbytes + sbytes;
    uint8_t *w = malloc(wbytes), *st = malloc(sbytes), *best = malloc(wbytes), *rd = malloc(total);
    if (!w || !st || !best || !rd) return 1;

    /* ---- checkpoints: the store against a plain file with fsync ---- */
    enum { R = 8 };
    /* wall and process CPU seconds: store write, plain write, store read, plain read into a
     * warm buffer, plain read into a new buffer (malloc + read + free, as a loader does) */
    double tw[R], tf[R], trs[R], trf[R], trn[R], cw[R], cf[R], crs[R], crf[R], crn[R];
    double tin[R], cin[R];         /* store read into the previous round's result */
    double tnm[R], cnm[R];         /* store read into new memory, not mapped (NO_MAP) */
    double tds[R];                 /* wall seconds of ntg_store_ckpts_destroy of the store's read */
    double tm[R], cm[R], tdm[R];   /* plain file mapped: mmap + populate, and its munmap */
    long flt[R], huge[R], fltn[R]; /* page faults of the store's read and the plain one into new
                                    * memory; AnonHugePages while the store's result is alive */
    ntg_store_ckpts *reuse = NULL;
    /* the same through format-2 and format-1 stores (chunks in RocksDB; BLAKE3 / BLAKE2b),
     * measured after the current format's store is closed: process CPU time counts every
     * thread, so one store's background flushes must not land in another's numbers */
    double tw2[R], trs2[R], cw2[R], crs2[R], tw1[R], trs1[R], cw1[R], crs1[R];
    ntg_store *s = NULL;
    if (make_format(db1, 1) || make_format(db2, 2)) return 1;
    if (ntg_store_open(db, NULL, &s, &err)) return die(&err);
    ntg_store *rs = NULL; /* a reader that reads, not maps */
    ntg_store_options rdo;
    ntg_store_options_init(&rdo);
    rdo.flags = NTG_STORE_OPEN_READONLY | NTG_STORE_OPEN_NO_MAP;
    if (ntg_store_open(db, &rdo, &rs, &err)) return die(&err);
    for (int r = 0; r < R; r++) {
        if (ck_round(s, r, w, st, best, wbytes, sbytes, &tw[r], &cw[r], &trs[r], &crs[r], &reuse,
                     &tin[r], &cin[r], &flt[r], &huge[r], &tds[r], rs, &tnm[r], &cnm[r]))
            return 1;
        double t0 = now(), c0 = cpu_now();
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int bad = fd < 0 || write(fd, w, wbytes) != (ssize_t)wbytes ||
                  write(fd, st, sbytes) != (ssize_t)sbytes ||
                  write(fd, best, wbytes) != (ssize_t)wbytes || fsync(fd) != 0;
        if (fd >= 0) close(fd);
        tf[r] = now() - t0;
        cf[r] = cpu_now() - c0;
        t0 = now();
        c0 = cpu_now();
        fd = open(file, O_RDONLY);
        bad |= fd < 0 || read(fd, rd, total) != (ssize_t)total;
        if (fd >= 0) close(fd);
        trf[r] = now() - t0;
        crf[r] = cpu_now() - c0;
        t0 = now();
        c0 = cpu_now();
        long f0 = faults_now();
        uint8_t *fresh = malloc(total);
        fd = open(file, O_RDONLY);
        bad |= !fresh || fd < 0 || read(fd, fresh, total) != (ssize_t)total;
        if (fd >= 0) close(fd);
        free(fresh);
        trn[r] = now() - t0;
        crn[r] = cpu_now() - c0;
        fltn[r] = faults_now() - f0;
        /* the plain file mapped (MAP_PRIVATE, read-only) with its pages faulted in: what a
         * loader that maps pays before the first use, without any check of the bytes */
        t0 = now();
        c0 = cpu_now();
        fd = open(file, O_RDONLY);
        void *m = fd < 0 ? MAP_FAILED : mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0);
        if (fd >= 0) close(fd);
        bad |= m == MAP_FAILED;
#ifdef MADV_POPULATE_READ
        if (m != MAP_FAILED) bad |= madvise(m, total, MADV_POPULATE_READ) != 0;
#endif
        tm[r] = now() - t0;
        cm[r] = cpu_now() - c0;
        t0 = now();
        if (m != MAP_FAILED) munmap(m, total);
        tdm[r] = now() - t0;
        if (bad) {
            fprintf(stderr, "store_bench: plain file I/O failed\n");
            return 1;
        }
    }
    ntg_store_ckpts_destroy(reuse);
    ntg_store_close(rs);
    ntg_store_gc_report g;
    ntg_store_gc_report_init(&g);
    if (ntg_store_gc(s, &g, &err)) return die(&err);
    ntg_store_close(s);
    const char *olddb[2] = {db2, db1};
    double *otw[2] = {tw2, tw1}, *ocw[2] = {cw2, cw1}, *otr[2] = {trs2, trs1},
           *ocr[2] = {crs2, crs1};
    for (int f = 0; f < 2; f++) {
        if (ntg_store_open(olddb[f], NULL, &s, &err)) return die(&err);
        for (int r = 0; r < R; r++)
            if (ck_round(s, r, w, st, best, wbytes, sbytes, &otw[f][r], &ocw[f][r], &otr[f][r],
                         &ocr[f][r], NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL))
                return 1;
        ntg_store_close(s);
    }
    double mb = (double)total / 1e6;
    printf("checkpoint: %.1f MB (N-HiTS weights + Adam state + best weights), median of %d\n", mb,
           R);
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 0) load[0] = -1;
    printf("  (load average %.2f; MB/s of wall time, and in brackets ms of process CPU time)\n",
           load[0]);
    printf("  write  store %7.0f MB/s [%5.1f ms]   plain file + fsync %7.0f MB/s [%5.1f ms]   "
           "store/plain %.0f%% [CPU %.0f%%]\n",
           mb / median(tw, R), 1e3 * median(cw, R), mb / median(tf, R), 1e3 * median(cf, R),
           100 * median(tf, R) / median(tw, R), 100 * median(cf, R) / median(cw, R));
    printf("  read   store %7.0f MB/s [%5.1f ms]   plain file %7.0f MB/s [%5.1f ms]   "
           "store/plain %.0f%% [CPU %.0f%%]   (page cache warm; every chunk checked; blobs from "
           "4 MiB mapped)\n",
           mb / median(trs, R), 1e3 * median(crs, R), mb / median(trf, R), 1e3 * median(crf, R),
           100 * median(trf, R) / median(trs, R), 100 * median(crf, R) / median(crs, R));
    printf("         plain file into a new buffer (malloc + read) %7.0f MB/s [%5.1f ms]   "
           "store/that %.0f%% [CPU %.0f%%]\n",
           mb / median(trn, R), 1e3 * median(crn, R), 100 * median(trn, R) / median(trs, R),
           100 * median(crn, R) / median(crs, R));
    printf("         store read, not mapped (NTG_STORE_OPEN_NO_MAP), into new memory %7.0f MB/s "
           "[%5.1f ms]   store/plain %.0f%% [CPU %.0f%%]\n",
           mb / median(tnm, R), 1e3 * median(cnm, R), 100 * median(trf, R) / median(tnm, R),
           100 * median(crf, R) / median(cnm, R));
    /* the first round's read into a NULL result makes new memory: rounds 2.. only */
    printf(
        "         the same into the last read's memory (ntg_store_get_checkpoint_into) %7.0f MB/s "
        "[%5.1f ms]   store/plain %.0f%% [CPU %.0f%%]\n",
        mb / median(tin + 1, R - 1), 1e3 * median(cin + 1, R - 1),
        100 * median(trf, R) / median(tin + 1, R - 1),
        100 * median(crf, R) / median(cin + 1, R - 1));
    printf("         plain file mapped (mmap + MADV_POPULATE_READ, no check) %7.0f MB/s [%5.1f ms]"
           "   store/that %.0f%% [CPU %.0f%%]\n",
           mb / median(tm, R), 1e3 * median(cm, R), 100 * median(tm, R) / median(trs, R),
           100 * median(cm, R) / median(crs, R));
    printf("         freeing the result: store (ntg_store_ckpts_destroy) %.2f ms, plain mapping "
           "(munmap) %.2f ms (wall)\n",
           1e3 * median(tds, R), 1e3 * median(tdm, R));
    printf("         page faults per read: store %ld (result alive: %ld kB of it in huge pages), "
           "plain file into a new buffer %ld\n",
           flt[R - 1], huge[R - 1], fltn[R - 1]);
    const char *oname[2] = {"format 2 (BLAKE3, chunks in RocksDB)",
                            "format 1 (BLAKE2b, RocksDB CRC on reads)"};
    for (int f = 0; f < 2; f++)
        printf("  %s: write %7.0f MB/s [%5.1f ms] = %.0f%% of plain; read %7.0f MB/s [%5.1f ms] "
               "= %.0f%% of plain\n",
               oname[f], mb / median(otw[f], R), 1e3 * median(ocw[f], R),
               100 * median(tf, R) / median(otw[f], R), mb / median(otr[f], R),
               1e3 * median(ocr[f], R), 100 * median(trf, R) / median(otr[f], R));

    /* ---- size overhead of one N-HiTS version ---- */
    snprintf(db, sizeof db, "%s/nhits.db", dir);
    if (ntg_store_open(db, NULL, &s, &err)) return die(&err);
    uint64_t v;
    if (ntg_store_put(s, "nhits", nhits, NULL, &v, &err)) return die(&err);
    if (ntg__store_compact(s, &err)) return die(&err);
    ntg_store_stats ss;
    ntg_store_stats_init(&ss);
    if (ntg_store_stats_get(s, &ss, &err)) return die(&err);
    ntg_store_close(s);
    uint64_t raw = 0;
    for (size_t i = 0; i < ntg_plan_param_count(nhits); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_param(nhits, i, &ti, NULL);
        raw += ti.nbytes;
    }
    printf("size: N-HiTS parameters %llu bytes; store after compaction: %llu SST + %llu blob = "
           "%+.2f%%; whole directory %llu bytes = %+.2f%%\n",
           (unsigned long long)raw, (unsigned long long)ss.sst_bytes,
           (unsigned long long)ss.blob_bytes,
           100.0 * ((double)(ss.sst_bytes + ss.blob_bytes) / (double)raw - 1),
           (unsigned long long)dir_bytes(db), 100.0 * ((double)dir_bytes(db) / (double)raw - 1));

    /* ---- similar over many versions ---- */
    if (n_versions == 0) goto done;
    snprintf(db, sizeof db, "%s/many.db", dir);
    ntg_define small[] = {{"h", "8"}, {"input_size", "24"}, {"hidden", "16"}};
    const char *graphs[] = {"nhits.yaml", "lstm_attention.yaml", "transformer.yaml"};
    ntg_plan *base[3];
    for (int i = 0; i < 3; i++) {
        snprintf(graph, sizeof graph, "%s/graphs/%s", src, graphs[i]);
        ntg_compile_options_init(&co);
        co.flags = NTG_COMPILE_INFER_ONLY;
        co.max_batch = 1;
        co.defines = i == 0 ? small : NULL;
        co.n_defines = i == 0 ? 3 : 0;
        if (ntg_compile_file(graph, &co, &base[i], &err)) return die(&err);
    }
    if (ntg_store_open(db, NULL, &s, &err)) return die(&err);
    double t0 = now();
    for (long i = 0; i < n_versions; i++) {
        const ntg_plan *b = base[i % 3];
        /* every version changes one tensor: distinct weights and embeddings */
        uint8_t *ww = malloc(b->img.weights_bytes + 1);
        memcpy(ww, b->img.weights, b->img.weights_bytes);
        const ntg_tensor_rec *t = &b->img.tensors[b->param_ids[(size_t)i % b->n_params]];
        uint64_t seed = (uint64_t)i + 1;
        for (size_t e = 0; e < t->nbytes / 4; e++) {
            float x = (float)((double)(rng_next(&seed) >> 11) / 9007199254740992.0 - 0.5);
            memcpy(ww + t->offset + 4 * e, &x, 4);
        }
        ntg_plan *p = NULL;
        if (ntg__plan_rewrite(b, ww, NULL, 0, &p, &err)) return die(&err);
        free(ww);
        char name[32];
        snprintf(name, sizeof name, "model%03ld", i % 100);
        ntg_define tag = {"team", i % 10 == 0 ? "x" : "y"};
        ntg_store_put_options o;
        ntg_store_put_options_init(&o);
        o.tags = &tag;
        o.n_tags = 1;
        if (ntg_store_put(s, name, p, &o, &v, &err)) return die(&err);
        ntg_plan_destroy(p);
    }
    double put_s = now() - t0;
    ntg_store_close(s);
    ntg_store_options ro;
    ntg_store_options_init(&ro);
    ro.flags = NTG_STORE_OPEN_READONLY;
    if (ntg_store_open(db, &ro, &s, &err)) return die(&err);
    enum { Q = 21 };
    double tq[Q], tk[Q], tt[Q];
    ntg_store_filter fk, ft;
    ntg_store_filter_init(&fk);
    fk.kind = "nhits";
    ntg_store_filter_init(&ft);
    ntg_define tag = {"team", "x"};
    ft.tags = &tag;
    ft.n_tags = 1;
    for (int q = 0; q < Q; q++) {
        char ref[64];
        snprintf(ref, sizeof ref, "model%03d@%d", q % 100, 1 + q % 3);
        ntg_store_list *l = NULL;
        double a = now();
        if (ntg_store_similar(s, ref, NULL, 10, &l, &err)) return die(&err);
        tq[q] = now() - a;
        ntg_store_list_destroy(l);
        a = now();
        if (ntg_store_similar(s, ref, &fk, 10, &l, &err)) return die(&err);
        tk[q] = now() - a;
        ntg_store_list_destroy(l);
        a = now();
        if (ntg_store_similar(s, ref, &ft, 10, &l, &err)) return die(&err);
        tt[q] = now() - a;
        ntg_store_list_destroy(l);
    }
    ntg_store_close(s);
    printf("similar: %ld versions (%.1f ms per put), top 10, median of %d: %.2f ms; kind filter "
           "%.2f ms; tag filter (index) %.2f ms\n",
           n_versions, 1000 * put_s / (double)n_versions, Q, 1000 * median(tq, Q),
           1000 * median(tk, Q), 1000 * median(tt, Q));
    for (int i = 0; i < 3; i++) ntg_plan_destroy(base[i]);
done:
    ntg_plan_destroy(nhits);
    free(w);
    free(st);
    free(best);
    free(rd);
    if (argc > 4 && strcmp(argv[4], "keep") == 0) return 0;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
