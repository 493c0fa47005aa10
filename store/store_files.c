/* store_files.c — format 3: chunks larger than NTG__INLINE_MAX in their own files.
 *
 * A chunk file is `<store>/chunks/<64 hex digits of its BLAKE3>`: the chunk's bytes, then a
 * 4-byte trailer, the CRC32C of those bytes (little-endian).  It is written as `<name>.tmp` in
 * 1 MiB pieces, its write-back started every 8 MiB, then fdatasync'ed and renamed into place at
 * the writer's finish, and the directory synced, before the commit batch that indexes it is written
 * (docs/store.md: "Chunk files").  Reads check the trailer's CRC32C (hardware, ~10x cheaper
 * than BLAKE3); verify checks the BLAKE3 too.  Large checkpoint blobs are the files mapped
 * (ntg__chunk_file_map), with the same checks over the mapped pages. */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32c.h"
#include "store_int.h"

int ntg__chunk_in_file(const ntg_store *s, uint64_t len)
{
    return s->format >= 3 && len > NTG__INLINE_MAX;
}

void ntg__chunk_path(const ntg_store *s, const uint8_t *hash, const char *suffix, char *buf,
                     size_t cap)
{
    char hex[2 * NTG__HASH + 1] = "";
    if (hash) ntg__hex(hash, NTG__HASH, hex);
    snprintf(buf, cap, "%s/" NTG__FILES_DIR "%s%s%s", s->path, hash ? "/" : "", hex,
             suffix ? suffix : "");
}

static ntg_status sys_fail(const ntg_store *s, ntg_error *err, const char *what, const char *path)
{
    int e = errno;
    return ntg__store_fail(s, err, NTG_ERR_IO, "%s: %s: %s", what, path, strerror(e));
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

/* The chunk directory, made (and its parent synced) the first time a chunk file is written. */
static ntg_status files_dir(ntg__writer *w, ntg_error *err)
{
    if (w->dir_ok) return NTG_OK;
    char dir[4096];
    ntg__chunk_path(w->s, NULL, NULL, dir, sizeof dir);
    if (mkdir(dir, 0777) == 0) {
        if (fsync_path(w->s->path) != 0)
            return sys_fail(w->s, err, "cannot sync the store directory", w->s->path);
    } else if (errno != EEXIST) {
        return sys_fail(w->s, err, "cannot create the chunk directory", dir);
    }
    w->dir_ok = 1;
    return NTG_OK;
}

ntg_status ntg__chunk_file_write(ntg__writer *w, const uint8_t *hash, const void *p, size_t len,
                                 ntg_error *err)
{
    ntg_status st = NTG_OK;
    if (w->n_pend == NTG__PEND_MAX && (st = ntg__chunk_files_sync(w, err))) return st;
    if ((st = files_dir(w, err))) return st;
    if ((st = ntg__store_space(w->s, (uint64_t)len + 4, "cannot write a chunk file", err)))
        return st;
    char path[4096];
    ntg__chunk_path(w->s, hash, ".tmp", path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return sys_fail(w->s, err, "cannot create a chunk file", path);
    /* in pieces of 1 MiB: each piece's CRC32C is computed just before the kernel copies it,
     * while it is in cache, and the write-back of every 8 MiB is started at once, so the disk
     * works while the next pieces are copied (and the next chunk hashed) */
    enum { PIECE = 1 << 20, STARTS = 8 << 20 };
    uint32_t crc = 0;
    size_t done = 0, started = 0;
    while (!st && done < len + 4) {
        uint8_t tr[4];
        const uint8_t *src;
        size_t n;
        if (done < len) {
            src = (const uint8_t *)p + done;
            n = len - done < PIECE ? len - done : PIECE;
            crc = ntg__crc32c(crc, src, n);
        } else {
            for (int i = 0; i < 4; i++) tr[i] = (uint8_t)(crc >> (8 * i));
            src = tr;
            n = 4;
        }
        for (size_t k = 0; k < n;) {
            ssize_t m = write(fd, src + k, n - k);
            if (m < 0 && errno == EINTR) continue;
            if (m <= 0) {
                if (m == 0) errno = EIO;
                st = sys_fail(w->s, err, "cannot write a chunk file", path);
                break;
            }
            k += (size_t)m;
        }
        done += n;
        if (!st && (done - started >= STARTS || done == len + 4)) {
            (void)sync_file_range(fd, (off_t)started, (off_t)(done - started),
                                  SYNC_FILE_RANGE_WRITE);
            started = done;
        }
    }
    if (st) {
        close(fd);
        unlink(path);
        return st;
    }
    w->pend_fd[w->n_pend] = fd;
    memcpy(w->pend_hash[w->n_pend], hash, NTG__HASH);
    w->n_pend++;
    ntg__store_kill(w->s, NTG__KP_CHUNK_BATCH);
    return NTG_OK;
}

ntg_status ntg__chunk_files_sync(ntg__writer *w, ntg_error *err)
{
    ntg_status st = NTG_OK;
    int n = w->n_pend;
    for (int i = 0; i < n; i++) {
        char tmp[4096], fin[4096];
        ntg__chunk_path(w->s, w->pend_hash[i], ".tmp", tmp, sizeof tmp);
        ntg__chunk_path(w->s, w->pend_hash[i], NULL, fin, sizeof fin);
        if (!st && fdatasync(w->pend_fd[i]) != 0)
            st = sys_fail(w->s, err, "cannot make a chunk file durable", tmp);
        close(w->pend_fd[i]);
        w->pend_fd[i] = -1;
        if (!st && rename(tmp, fin) != 0)
            st = sys_fail(w->s, err, "cannot rename a chunk file into place", tmp);
        if (st) unlink(tmp);
    }
    w->n_pend = 0;
    if (!st && n) {
        char dir[4096];
        ntg__chunk_path(w->s, NULL, NULL, dir, sizeof dir);
        if (fsync_path(dir) != 0) st = sys_fail(w->s, err, "cannot sync the chunk directory", dir);
    }
    return st;
}

void ntg__chunk_files_drop_pending(ntg__writer *w)
{
    for (int i = 0; i < w->n_pend; i++) {
        char tmp[4096];
        ntg__chunk_path(w->s, w->pend_hash[i], ".tmp", tmp, sizeof tmp);
        close(w->pend_fd[i]);
        unlink(tmp);
    }
    w->n_pend = 0;
}

/* A part of a chunk file read into memory: [off, off + len) of the file to dst. */
typedef struct rd_part {
    int fd;
    uint8_t *dst;
    uint64_t off;
    size_t len;
    uint32_t crc; /* of the bytes read */
    int err;      /* errno of a failed read, -1 when the file ended first, 0 */
} rd_part;

/* Chunks of at least this many bytes are read on two threads. */
#define RD_PAR_MIN ((size_t)4 << 20)

static void *rd_run(void *arg)
{
    rd_part *r = arg;
    enum { PIECE = 256 << 10 }; /* stays in L2 between the kernel's copy and the CRC */
    size_t done = 0;
    uint32_t crc = 0;
    while (done < r->len) {
        size_t n = r->len - done < PIECE ? r->len - done : PIECE;
        uint8_t *at = r->dst + done;
        ssize_t m = pread(r->fd, at, n, (off_t)(r->off + done));
        if (m < 0 && errno == EINTR) continue;
        if (m <= 0) {
            r->err = m < 0 ? errno : -1;
            break;
        }
        crc = ntg__crc32c(crc, at, (size_t)m);
        done += (size_t)m;
    }
    r->crc = crc;
    return NULL;
}

/* Open the chunk file of `hash` and check that it holds `want` bytes and the trailer. */
static ntg_status chunk_open(ntg_store *s, const uint8_t *hash, size_t want, const char *what,
                             char *path, size_t cap, int *fd_out, ntg_error *err)
{
    char hex[2 * NTG__HASH + 1];
    ntg__chunk_path(s, hash, NULL, path, cap);
    ntg__hex(hash, 8, hex);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            s->missing = 1;
            return ntg__store_fail(s, err, NTG_ERR_DATA, "%s: chunk %s... is missing (no file %s)",
                                   what, hex, path);
        }
        return sys_fail(s, err, "cannot open a chunk file", path);
    }
    struct stat sb;
    ntg_status st = NTG_OK;
    if (fstat(fd, &sb) != 0) {
        st = sys_fail(s, err, "cannot read a chunk file", path);
    } else if ((uint64_t)sb.st_size != (uint64_t)want + 4) {
        st = ntg__store_fail(s, err, NTG_ERR_DATA,
                             "%s: chunk %s...: its file holds %lld bytes, the record says %zu "
                             "and a 4-byte check (corrupted store: %s)",
                             what, hex, (long long)sb.st_size, want, path);
    }
    if (st) {
        close(fd);
        return st;
    }
    *fd_out = fd;
    return NTG_OK;
}

/* The errors of the parts read (two halves and the trailer), then the CRC32C of the halves
 * against the trailer's. */
static ntg_status chunk_check(ntg_store *s, const uint8_t *hash, const rd_part part[2],
                              const rd_part *trailer, const uint8_t tr[4], const char *what,
                              const char *path, ntg_error *err)
{
    char hex[2 * NTG__HASH + 1];
    ntg__hex(hash, 8, hex);
    for (int i = 0; i < 3; i++) {
        int e = i < 2 ? part[i].err : trailer->err;
        if (e > 0) {
            errno = e;
            return sys_fail(s, err, "cannot read a chunk file", path);
        } else if (e < 0) {
            return ntg__store_fail(s, err, NTG_ERR_DATA, "%s: chunk %s...: its file %s ends early",
                                   what, hex, path);
        }
    }
    uint32_t crc =
        (uint32_t)tr[0] | (uint32_t)tr[1] << 8 | (uint32_t)tr[2] << 16 | (uint32_t)tr[3] << 24;
    if (ntg__crc32c_combine(part[0].crc, part[1].crc, part[1].len) != crc)
        return ntg__store_fail(s, err, NTG_ERR_DATA,
                               "%s: chunk %s...: the bytes of its file do not match their check "
                               "(corrupted store: %s)",
                               what, hex, path);
    return NTG_OK;
}

/* Split [0, want) into two halves on a page boundary where the chunk is large enough to be
 * worth a second thread; run `fn` on both (the second on its own thread) and join. */
static void run_halves(rd_part part[2], size_t want, void *(*fn)(void *))
{
    pthread_t th;
    int threaded = 0;
    if (want >= RD_PAR_MIN) {
        size_t half = (want / 2) & ~(size_t)4095;
        part[0].len = half;
        part[1].dst = part[0].dst + half;
        part[1].off = half;
        part[1].len = want - half;
        threaded = pthread_create(&th, NULL, fn, &part[1]) == 0;
    }
    fn(&part[0]);
    if (threaded)
        pthread_join(th, NULL);
    else if (part[1].len)
        fn(&part[1]);
}

ntg_status ntg__chunk_file_read(ntg_store *s, const uint8_t *hash, void *dst, size_t want,
                                int check, const char *what, ntg_error *err)
{
    char path[4096];
    int fd = -1;
    ntg_status st = chunk_open(s, hash, want, what, path, sizeof path, &fd, err);
    if (st) return st;
    /* the bytes in two halves, one on a second thread where the chunk is large (a second core
     * halves the wall time of the copy and the check); each half in pieces whose CRC32C is
     * taken right after the kernel copied them, while they are in cache */
    rd_part part[2] = {{fd, dst, 0, want, 0, 0}, {fd, (uint8_t *)dst + want, want, 0, 0, 0}};
    run_halves(part, want, rd_run);
    uint8_t tr[4];
    rd_part trailer = {fd, tr, want, 4, 0, 0};
    rd_run(&trailer);
    close(fd);
    if ((st = chunk_check(s, hash, part, &trailer, tr, what, path, err))) return st;
    if (check) {
        uint8_t h[NTG__HASH];
        ntg__blake3(dst, want, h);
        if (memcmp(h, hash, NTG__HASH) != 0) {
            char hex[2 * NTG__HASH + 1];
            ntg__hex(hash, 8, hex);
            return ntg__store_fail(s, err, NTG_ERR_DATA,
                                   "%s: chunk %s...: the bytes of its file do not match their "
                                   "hash (corrupted store: %s)",
                                   what, hex, path);
        }
    }
    return NTG_OK;
}

/* A half of a mapped chunk: its pages faulted in (an I/O error is an error here, not a SIGBUS
 * later), then its CRC32C taken. */
static void *map_run(void *arg)
{
    rd_part *r = arg;
    r->err = 0;
    r->crc = 0;
    if (!r->len) return NULL;
#ifdef MADV_POPULATE_READ
    if (madvise(r->dst, r->len, MADV_POPULATE_READ) != 0) {
        r->err = errno ? errno : EIO;
        return NULL;
    }
#else
    r->err = ENOSYS;
    return NULL;
#endif
    enum { PIECE = 1 << 20 };
    uint32_t crc = 0;
    for (size_t done = 0; done < r->len; done += PIECE) {
        size_t n = r->len - done < PIECE ? r->len - done : PIECE;
        crc = ntg__crc32c(crc, r->dst + done, n);
    }
    r->crc = crc;
    return NULL;
}

ntg_status ntg__chunk_file_map(ntg_store *s, const uint8_t *hash, void *at, size_t want,
                               const char *what, ntg_error *err)
{
    char path[4096];
    int fd = -1;
    ntg_status st = chunk_open(s, hash, want, what, path, sizeof path, &fd, err);
    if (st) return st;
    /* the file's pages themselves, copy-on-write and read-only: no copy and no fresh memory to
     * zero.  Chunk files are never written in place once named (only created as NAME.tmp,
     * renamed, removed), so the mapped bytes stay those checked here; a removal keeps the
     * mapped file alive until the result is destroyed */
    int mapped = want && mmap(at, want, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == at;
    rd_part part[2] = {{fd, at, 0, want, 0, 0}, {fd, (uint8_t *)at + want, want, 0, 0, 0}};
    if (mapped) {
        run_halves(part, want, map_run);
        /* pages that could not be faulted in (no MADV_POPULATE_READ, an I/O error): read the
         * file into anonymous memory instead, which reports errors as read errors */
        mapped = !part[0].err && !part[1].err;
    }
    if (!mapped) {
        close(fd);
        if (mmap(at, want ? want : 1, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != at)
            return sys_fail(s, err, "cannot map memory for a chunk file", path);
        return ntg__chunk_file_read(s, hash, at, want, 0, what, err);
    }
    uint8_t tr[4];
    rd_part trailer = {fd, tr, want, 4, 0, 0};
    rd_run(&trailer);
    close(fd);
    return chunk_check(s, hash, part, &trailer, tr, what, path, err);
}

void *ntg__blob_alloc(size_t n)
{
    /* fresh memory's page faults were most of a checkpoint read into a new buffer: 4 KiB pages
     * fault once each, 2 MiB ones once per 512 (a 58.9 MB read: 25 -> 16 ms of CPU, where the
     * kernel gives transparent huge pages on request) */
    enum { HUGE = 2 << 20 };
    if (n < 2 * (size_t)HUGE) return malloc(n);
    void *p = NULL;
    if (posix_memalign(&p, HUGE, n) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE); /* a hint: refused, the pages are small */
#endif
    return p;
}

void *ntg__blob_map_reserve(size_t n, size_t *len)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t m = (n + pg - 1) / pg * pg;
    void *p = mmap(NULL, m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    *len = m;
    return p;
}

void ntg__blob_unmap(void *p, size_t len)
{
    if (p) munmap(p, len);
}
