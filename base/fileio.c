/* fileio.c — whole-file reads and atomic replacement (fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One write(2) moves at most this much (Linux moves at most 0x7ffff000 bytes anyway). */
#define CHUNK ((size_t)1 << 30)

int ntg__write_full(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = write(fd, b, n > CHUNK ? CHUNK : n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno ? errno : EIO;
        if (w == 0) return EIO;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int ntg__read_full(int fd, void *p, size_t n, size_t *got)
{
    unsigned char *b = p;
    size_t have = 0;
    while (have < n) {
        size_t want = n - have;
        ssize_t r = read(fd, b + have, want > CHUNK ? CHUNK : want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            *got = have;
            return errno ? errno : EIO;
        }
        if (r == 0) break;
        have += (size_t)r;
    }
    *got = have;
    return 0;
}

static ntg_file_fail fail(int *os_errno, int e, ntg_file_fail what)
{
    *os_errno = e;
    return what;
}

ntg_file_fail ntg__file_slurp(const char *path, size_t limit, char **out, size_t *len,
                              int *os_errno)
{
    *out = NULL;
    *len = 0;
    *os_errno = 0;
    size_t max = limit ? limit : SIZE_MAX - 1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(os_errno, errno, NTG_FILE_OPEN);
    struct stat sb;
    size_t cap = (size_t)1 << 16;
    if (fstat(fd, &sb) == 0) {
        /* a directory opens fine on Linux and fails at the first read: say so up front */
        if (S_ISDIR(sb.st_mode)) {
            close(fd);
            return fail(os_errno, EISDIR, NTG_FILE_READ);
        }
        if (S_ISREG(sb.st_mode) && sb.st_size > 0) {
            if ((uint64_t)sb.st_size > (uint64_t)max) {
                close(fd);
                return fail(os_errno, EFBIG, NTG_FILE_TOO_BIG);
            }
            cap = (size_t)sb.st_size + 1; /* +1 sees the end without a second grow */
        }
    }
    if (cap > max) cap = max + 1;
    char *buf = malloc(cap);
    size_t n = 0;
    for (;;) {
        if (!buf) {
            close(fd);
            return fail(os_errno, ENOMEM, NTG_FILE_NOMEM);
        }
        if (n == cap) {
            /* full: grow, unless that would hold more than the limit */
            if (n > max) {
                free(buf);
                close(fd);
                return fail(os_errno, EFBIG, NTG_FILE_TOO_BIG);
            }
            size_t nc = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            if (nc > max + 1) nc = max + 1;
            char *nb = realloc(buf, nc);
            if (!nb) free(buf);
            buf = nb;
            cap = nc;
            continue;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return fail(os_errno, e, NTG_FILE_READ);
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        free(buf);
        return fail(os_errno, EFBIG, NTG_FILE_TOO_BIG);
    }
    if (n == cap) {
        char *nb = realloc(buf, n + 1);
        if (!nb) {
            free(buf);
            return fail(os_errno, ENOMEM, NTG_FILE_NOMEM);
        }
        buf = nb;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return NTG_FILE_OK;
}

ntg_status ntg__file_read(const char *path, size_t limit, char **out, size_t *len, ntg_error *err)
{
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!path || !out || !len)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__file_read: NULL argument");
    int e = 0;
    char eb[128];
    switch (ntg__file_slurp(path, limit, out, len, &e)) {
    case NTG_FILE_OK:
        return NTG_OK;
    case NTG_FILE_OPEN:
        return ntg__err_os(err, NTG_ERR_IO, e, path, "cannot open: %s",
                           ntg__errno_str(e, eb, sizeof eb));
    case NTG_FILE_READ:
        return ntg__err_os(err, NTG_ERR_IO, e, path, "cannot read: %s",
                           ntg__errno_str(e, eb, sizeof eb));
    case NTG_FILE_TOO_BIG:
        /* the limit is the caller's rule about its input, not a failing machine: no os_errno */
        return ntg__err(err, NTG_ERR_IO, path, 0, 0, "the file is larger than %zu bytes", limit);
    case NTG_FILE_NOMEM:
        break;
    }
    return ntg__err(err, NTG_ERR_NOMEM, path, 0, 0, "out of memory");
}

void ntg__sync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (slash) {
        size_t k = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(k + 1);
        if (!dir) return;
        memcpy(dir, path, k);
        dir[k] = '\0';
    }
    int fd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

static ntg_status replace(const char *path, const ntg_span *parts, size_t n_parts, unsigned mode,
                          int exact, ntg_error *err)
{
    if (!path || (n_parts && !parts))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__file_replace: NULL argument");
    size_t tn = strlen(path) + 32;
    char *tmp = malloc(tn);
    if (!tmp) return ntg__err(err, NTG_ERR_NOMEM, path, 0, 0, "out of memory");
    snprintf(tmp, tn, "%s.tmp.%ld", path, (long)getpid());
    char eb[128];
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        int e = errno;
        ntg_status st = ntg__err_os(err, NTG_ERR_IO, e, path, "cannot create %s: %s", tmp,
                                    ntg__errno_str(e, eb, sizeof eb));
        free(tmp);
        return st;
    }
    int e = exact && fchmod(fd, (mode_t)mode) != 0 ? errno : 0;
    for (size_t i = 0; i < n_parts && !e; i++)
        if (parts[i].n) e = ntg__write_full(fd, parts[i].p, parts[i].n);
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    ntg_status st = NTG_OK;
    if (e) {
        st = ntg__err_os(err, NTG_ERR_IO, e, path, "cannot write %s: %s", tmp,
                         ntg__errno_str(e, eb, sizeof eb));
    } else if (rename(tmp, path) != 0) {
        e = errno;
        st = ntg__err_os(err, NTG_ERR_IO, e, path, "cannot rename %s into place: %s", tmp,
                         ntg__errno_str(e, eb, sizeof eb));
    }
    if (st != NTG_OK)
        unlink(tmp);
    else
        ntg__sync_dir_of(path);
    free(tmp);
    return st;
}

ntg_status ntg__file_replace(const char *path, const ntg_span *parts, size_t n_parts,
                             ntg_error *err)
{
    return replace(path, parts, n_parts, 0666, 0, err);
}

ntg_status ntg__file_replace_mode(const char *path, const ntg_span *parts, size_t n_parts,
                                  unsigned mode, ntg_error *err)
{
    return replace(path, parts, n_parts, mode, 1, err);
}
