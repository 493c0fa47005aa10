/* store_acked.c — the number of the last acknowledged commit, kept outside RocksDB.
 *
 * RocksDB's state is what its MANIFEST lists.  A MANIFEST cut inside its first records can
 * still list every column family (and the table holding the format marker) but none of the
 * later flushes, and then opens as an older state without any error.  The store so writes the
 * commit counter of every commit it acknowledges to NTGRAPH-ACKED in its directory, after the
 * commit is durable, and refuses to open a RocksDB state that holds fewer commits.
 *
 * The file has two 32-byte slots; commit c goes to slot c % 2, so a torn write leaves the
 * other slot (one commit older) intact.  A slot: "NTGACK1\n", be64 commit, and the first 16
 * bytes of the BLAKE2b-256 of those 16 bytes, written with pwrite after each commit and
 * synced when the store closes.  The counter only ever moves up, and it is
 * written only after the commit it counts is durable, so it never claims more than RocksDB
 * holds: a write that fails (or a file that is damaged or gone) weakens the check, it never
 * makes a healthy store look damaged. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

#define SLOT 32
#define MAGIC "NTGACK1\n"

static void path_in(const char *dir, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/" NTG__ACKED_FILE, dir);
    if (n < 0 || (size_t)n >= cap) buf[0] = 0; /* too long a path: no file, no check */
}

static void encode(uint8_t slot[SLOT], uint64_t commits)
{
    uint8_t h[32];
    memcpy(slot, MAGIC, 8);
    ntg__put_be64(slot + 8, commits);
    crypto_generichash(h, sizeof h, slot, 16, NULL, 0);
    memcpy(slot + 16, h, 16);
}

static int decode(const uint8_t slot[SLOT], uint64_t *commits)
{
    uint8_t h[32];
    if (memcmp(slot, MAGIC, 8) != 0) return 0;
    crypto_generichash(h, sizeof h, slot, 16, NULL, 0);
    if (memcmp(slot + 16, h, 16) != 0) return 0;
    *commits = ntg__be64(slot + 8);
    return 1;
}

int ntg__acked_read(const char *dir, uint64_t *acked)
{
    *acked = 0;
    char path[4096];
    path_in(dir, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    uint8_t buf[2 * SLOT];
    ssize_t n;
    do n = pread(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    close(fd);
    int have = 0;
    for (ssize_t at = 0; n > 0 && at + SLOT <= n; at += SLOT) {
        uint64_t c;
        if (decode(buf + at, &c)) {
            if (!have || c > *acked) *acked = c;
            have = 1;
        }
    }
    return have;
}

/* Write `commits` into slot commits % 2 of the file in `dir` (fd: an open descriptor of it, or
 * NULL to open and close one; sync: fdatasync it).  0 on success. */
static int write_slot(const char *dir, int *fd, uint64_t commits, int sync)
{
    int own = -1;
    if (!fd) fd = &own;
    if (*fd < 0) {
        char path[4096];
        path_in(dir, path, sizeof path);
        int created = access(path, F_OK) != 0;
        *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (*fd < 0) return -1;
        if (created) {
            /* the file's directory entry must be durable too */
            int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (d >= 0) {
                (void)fsync(d);
                close(d);
            }
        }
    }
    uint8_t slot[SLOT];
    encode(slot, commits);
    ssize_t n;
    do n = pwrite(*fd, slot, SLOT, (off_t)(commits % 2) * SLOT);
    while (n < 0 && errno == EINTR);
    int bad = n != SLOT || (sync && fdatasync(*fd) != 0);
    if (own >= 0) close(own);
    return bad ? -1 : 0;
}

void ntg__acked_note(ntg_store *s, uint64_t commits)
{
    /* best effort: a failure leaves an older count, which only weakens the check.  Not synced
     * here (an fdatasync per commit doubled the cost of a small one): the page cache keeps it
     * across a crash of the process, and closing the store syncs it */
    if (write_slot(s->path, &s->acked_fd, commits, 0) != 0 && s->acked_fd >= 0) {
        close(s->acked_fd);
        s->acked_fd = -1;
    }
}

void ntg__acked_close(ntg_store *s)
{
    if (s->acked_fd < 0) return;
    (void)fdatasync(s->acked_fd);
    close(s->acked_fd);
    s->acked_fd = -1;
}

void ntg__acked_note_in(const char *dir, uint64_t commits)
{
    (void)write_slot(dir, NULL, commits, 1);
}

ntg_status ntg__acked_refuse(const ntg_store *s, uint64_t have, uint64_t acked, ntg_error *err)
{
    return ntg__store_fail(
        s, err, NTG_ERR_DATA,
        "corrupted store: its RocksDB files hold %llu commits, but %llu were acknowledged "
        "(" NTG__ACKED_FILE "): its MANIFEST or table files are damaged or cut short, or files "
        "were removed, and opening it would silently go back to an older "
        "state; " NTG__DAMAGED_ADVICE,
        (unsigned long long)have, (unsigned long long)acked);
}
