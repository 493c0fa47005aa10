/* fileio.h — whole-file reads and atomic replacement, for every module that reads or writes
 * a file of its own (graphs, CSV, safetensors, plans, plots).  Every failure names the path
 * and records the system's errno in ntg_error.os_errno, so that the CLI can tell a machine
 * failure (ENOSPC, EIO, EDQUOT: exit 1) from a bad name (ENOENT, EISDIR: exit 2). */
#ifndef NTG_FILEIO_H
#define NTG_FILEIO_H

#include <stddef.h>

#include "ntg_error.h"

/* write(2) all `n` bytes: EINTR retried, a write of 0 bytes taken as EIO; 0, or the errno. */
int ntg__write_full(int fd, const void *p, size_t n);
/* read(2) until `n` bytes or end of file; *got the bytes read; 0, or the errno. */
int ntg__read_full(int fd, void *p, size_t n, size_t *got);

/* What ntg__file_slurp could not do. */
typedef enum ntg_file_fail {
    NTG_FILE_OK = 0,
    NTG_FILE_OPEN,    /* open(2) failed */
    NTG_FILE_READ,    /* read(2) failed; a directory is this, with EISDIR */
    NTG_FILE_TOO_BIG, /* more than the limit (EFBIG; bad input, not a machine failure) */
    NTG_FILE_NOMEM    /* out of memory (errno ENOMEM) */
} ntg_file_fail;

/* The whole of `path` (a regular file, a pipe, /dev/stdin) into a new malloc'ed buffer with a
 * NUL after the last byte; *len the bytes without it.  `limit`: the most bytes accepted (0: as
 * many as memory allows), checked against the size before reading when the size is known and
 * again while reading.  Returns NTG_FILE_OK, or what failed with *os_errno its errno; for
 * callers that phrase their own message.  EINTR is retried. */
ntg_file_fail ntg__file_slurp(const char *path, size_t limit, char **out, size_t *len,
                              int *os_errno);
/* ntg__file_slurp with the error in `err`: NTG_ERR_IO "PATH: cannot open: REASON",
 * "PATH: cannot read: REASON" ("Is a directory" for one), "PATH: the file is larger than
 * LIMIT bytes" (os_errno 0: the limit is the caller's rule about its input); NTG_ERR_NOMEM
 * when memory runs out. */
ntg_status ntg__file_read(const char *path, size_t limit, char **out, size_t *len, ntg_error *err);

/* One piece of the bytes of a file. */
typedef struct ntg_span {
    const void *p;
    size_t n;
} ntg_span;

/* Replace `path` with the concatenation of `parts`, all or nothing: the bytes go to a new
 * temporary file beside it ("PATH.tmp.PID", O_EXCL: never written through a file or link
 * someone else put there), which is fsynced, closed, renamed over `path`; then the directory
 * is fsynced so that the rename survives a crash (best effort: some file systems refuse to
 * sync a directory).  On any failure the temporary file is removed and `path` is as it was.
 * Errors (NTG_ERR_IO, os_errno set): "PATH: cannot create TMP: REASON", "PATH: cannot write
 * TMP: REASON" (a full disk is ENOSPC here), "PATH: cannot rename TMP into place: REASON". */
ntg_status ntg__file_replace(const char *path, const ntg_span *parts, size_t n_parts,
                             ntg_error *err);

/* ntg__file_replace with the new file's permission bits exactly `mode` (0600 for a secret),
 * whatever the umask; ntg__file_replace gives 0666 less the umask. */
ntg_status ntg__file_replace_mode(const char *path, const ntg_span *parts, size_t n_parts,
                                  unsigned mode, ntg_error *err);

/* fsync the directory that holds `path` (best effort), after a rename or a create there. */
void ntg__sync_dir_of(const char *path);

#endif /* NTG_FILEIO_H */
