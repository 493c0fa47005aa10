/* mesh_shm.c — ring data through shared memory between ranks on one host (docs/mesh.md,
 * "Shared memory on one host").
 *
 * A rank whose next ring neighbour reports the same host name offers it, in its ring hello, a
 * POSIX shared-memory segment (a single-producer single-consumer ring of frame slots) and two
 * FIFOs that serve as doorbells (data published, slots freed).  The neighbour opens them, checks
 * the segment (magic, a 16-byte nonce sent over the authenticated ZeroMQ link, generation,
 * sender, sizes, owner), marks it accepted and removes the names.  Once the generation has
 * started (every rank's ring hello was taken before rank 0 sent GO) the sender looks at the mark:
 * accepted, its data frames go through the segment; not (another host under the same name, a
 * different /dev/shm, a refusal), they go over TCP as before.  Control, heartbeats and
 * generations stay on ZeroMQ, so a dead or frozen peer is found exactly as before.  A segment
 * lives for one generation: the next one builds new ones, so a straggler of an old generation
 * can only write into memory nobody reads.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mesh_int.h"

#define SHM_MAGIC 0x4D485347544E0002ull /* "NTGSHM" + layout 2 */
#define SHM_CTL_BYTES 4096u
#define SHM_SLOT_DATA 64u /* a slot: 8 bytes of padding, the 56-byte header, the payload */

/* The control block at the start of the segment.  Counters are frames since the generation
 * started; head is written by the sender only, tail by the receiver only. */
typedef struct shm_ctl {
    uint64_t magic;
    uint32_t generation, sender;
    uint32_t nslots, pad0;
    uint64_t slot_bytes, total_bytes;
    unsigned char nonce[16];
    _Atomic uint32_t accepted;
    _Alignas(64) _Atomic uint64_t head;
    _Atomic uint32_t rx_waiting; /* the receiver sleeps until head moves: ring its doorbell */
    _Alignas(64) _Atomic uint64_t tail;
    _Atomic uint32_t tx_waiting; /* the sender sleeps until a slot frees */
    /* in place: the sender's shared regions (written before reg_version), and the version of
     * them the receiver mapped (SHM_REG_REFUSED: it cannot) */
    _Alignas(64) _Atomic uint32_t reg_version;
    uint32_t reg_pad;
    struct {
        uint64_t bytes; /* 0: none */
        int64_t fd;
    } reg[NTG__MESH_MAX_REGIONS];
    _Alignas(64) _Atomic uint32_t reg_mapped;
} shm_ctl;

#define SHM_REG_REFUSED 0xFFFFFFFFu

_Static_assert(sizeof(shm_ctl) <= SHM_CTL_BYTES, "shm control block");

struct mesh_shm {
    unsigned char *base;
    size_t size;
    shm_ctl *ctl;
    unsigned char *slots;
    uint32_t nslots;
    size_t slot_bytes;
    int fd_data, fd_space; /* FIFOs: the receiver polls fd_data, the sender fd_space */
    char name[64];         /* segment name ("/ntgraph-mesh-..."); FIFOs: /dev/shm + name + .d/.s */
    int creator;
    uint64_t local; /* sender: frames written; receiver: frames taken */
    /* in place.  sender: the region version announced; receiver: the version mapped (or
     * tried), and prev's regions mapped read-only */
    uint32_t reg_version;
    const unsigned char *peer[NTG__MESH_MAX_REGIONS];
    size_t peer_bytes[NTG__MESH_MAX_REGIONS];
};

static void fifo_path(const char *name, char which, char *out, size_t cap)
{
    snprintf(out, cap, "/dev/shm%s.%c", name, which);
}

static void unlink_names(const char *name)
{
    char p[96];
    shm_unlink(name);
    fifo_path(name, 'd', p, sizeof p);
    unlink(p);
    fifo_path(name, 's', p, sizeof p);
    unlink(p);
}

static void unmap_peer(mesh_shm *s)
{
    for (int i = 0; i < NTG__MESH_MAX_REGIONS; i++) {
        if (s->peer[i]) munmap((void *)(uintptr_t)s->peer[i], s->peer_bytes[i]);
        s->peer[i] = NULL;
        s->peer_bytes[i] = 0;
    }
}

static void shm_free(mesh_shm *s)
{
    if (!s) return;
    unmap_peer(s);
    if (s->creator) unlink_names(s->name);
    if (s->base) munmap(s->base, s->size);
    if (s->fd_data >= 0) close(s->fd_data);
    if (s->fd_space >= 0) close(s->fd_space);
    free(s);
}

void ntg__mesh_shm_close(ntg_mesh *m)
{
    shm_free(m->shm_out);
    shm_free(m->shm_in);
    m->shm_out = m->shm_in = NULL;
}

static int open_fifo(const char *path)
{
    /* O_RDWR: never blocks on a FIFO (Linux), and the FIFO lives while either side holds it */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return -1;
    }
    return fd;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void random_bytes(unsigned char *out, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, out, n) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)n) {
        uint64_t x = (uint64_t)ntg__mesh_now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() ^
                     (uint64_t)(uintptr_t)out;
        for (size_t i = 0; i < n; i++) {
            x ^= x >> 29;
            x *= 0xBF58476D1CE4E5B9ull;
            out[i] = (unsigned char)(x >> 56);
        }
    }
}

/* An offer's names are unlinked once the next rank mapped it, or when the generation settles;
 * a rank killed in between (SIGKILL during the rendezvous) leaves its segment and doorbells in
 * /dev/shm.  Before offering, remove such leftovers: names of this format, this user's, older
 * than a minute (a live offer is taken within the rendezvous), whose creator's pid is gone. */
static void sweep_stale(void)
{
    DIR *d = opendir("/dev/shm");
    if (!d) return;
    time_t now = time(NULL);
    uid_t uid = getuid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = 0;
        char rest[64];
        if (strncmp(e->d_name, "ntgraph-mesh-", 13) != 0 || strlen(e->d_name) > 60 ||
            sscanf(e->d_name + 13, "%ld-%63s", &pid, rest) != 2 || pid <= 0)
            continue;
        char path[300]; /* d_name holds at most 255 characters; these names 60 */
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0 || st.st_uid != uid || now - st.st_mtime < 60) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to ask */
        unlink(path);
    }
    closedir(d);
}

size_t ntg__mesh_shm_offer(ntg_mesh *m, char *payload, size_t cap)
{
    if (m->cfg.force_tcp || m->world < 2) return 0;
    int next = (m->rank + 1) % m->world;
    if (strcmp(m->members[next].info.host, m->host) != 0) return 0; /* another host */
    sweep_stale();
    mesh_shm *s = calloc(1, sizeof *s);
    if (!s) return 0;
    s->fd_data = s->fd_space = -1;
    s->creator = 1;
    unsigned char rnd[8], nonce[16];
    char rhex[17];
    random_bytes(rnd, sizeof rnd);
    random_bytes(nonce, sizeof nonce);
    hex(rnd, sizeof rnd, rhex);
    snprintf(s->name, sizeof s->name, "/ntgraph-mesh-%ld-%s", m->pid, rhex);
    int n = m->cfg.sndhwm < 4 ? 4 : m->cfg.sndhwm > 256 ? 256 : m->cfg.sndhwm;
    s->nslots = (uint32_t)n;
    s->slot_bytes = (SHM_SLOT_DATA + (size_t)m->chunk_bytes + 63) & ~(size_t)63;
    s->size = SHM_CTL_BYTES + (size_t)n * s->slot_bytes;
    char path[96];
    int fd = shm_open(s->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) goto fail;
    /* reserve the pages now: on a full tmpfs (a container's small /dev/shm) a page faulted in
     * later would be SIGBUS, here it is an error and the link stays on TCP */
    int rc = ftruncate(fd, (off_t)s->size) != 0 ? errno : posix_fallocate(fd, 0, (off_t)s->size);
    if (rc != 0) {
        errno = rc;
        close(fd);
        goto fail;
    }
    void *p = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) goto fail;
    s->base = p;
    fifo_path(s->name, 'd', path, sizeof path);
    if (mkfifo(path, 0600) != 0 || (s->fd_data = open_fifo(path)) < 0) goto fail;
    fifo_path(s->name, 's', path, sizeof path);
    if (mkfifo(path, 0600) != 0 || (s->fd_space = open_fifo(path)) < 0) goto fail;
    s->ctl = (shm_ctl *)(void *)s->base;
    s->slots = s->base + SHM_CTL_BYTES;
    s->ctl->generation = m->generation;
    s->ctl->sender = (uint32_t)m->rank;
    s->ctl->nslots = s->nslots;
    s->ctl->slot_bytes = s->slot_bytes;
    s->ctl->total_bytes = s->size;
    memcpy(s->ctl->nonce, nonce, sizeof nonce);
    atomic_store(&s->ctl->head, 0);
    atomic_store(&s->ctl->tail, 0);
    atomic_store(&s->ctl->accepted, 0);
    s->ctl->magic = SHM_MAGIC;
    char nhex[33];
    hex(nonce, sizeof nonce, nhex);
    int w = snprintf(payload, cap, "shm=%s\nnonce=%s\nslots=%u\n", s->name, nhex, s->nslots);
    if (w < 0 || (size_t)w >= cap) goto fail;
    ntg__mesh_shm_close_out(m);
    m->shm_out = s;
    return (size_t)w;
fail:
    ntg__mesh_log(m, NTG__MESH_LOG_INFO,
                  "ring data to rank %d stays on TCP: no shared-memory segment (%s)", next,
                  strerror(errno));
    shm_free(s);
    return 0;
}

void ntg__mesh_shm_close_out(ntg_mesh *m)
{
    shm_free(m->shm_out);
    m->shm_out = NULL;
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return -1;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return 0;
}

void ntg__mesh_shm_accept(ntg_mesh *m, const ntg__mesh_msg *hello)
{
    shm_free(m->shm_in);
    m->shm_in = NULL;
    char name[NTG__MESH_KV_VALUE_MAX], nonce_hex[NTG__MESH_KV_VALUE_MAX];
    unsigned char nonce[16];
    if (!hello->payload_bytes ||
        ntg__mesh_kv_check(hello->payload, hello->payload_bytes, NULL) != NTG_OK ||
        ntg__mesh_kv_get(hello->payload, hello->payload_bytes, "shm", 0, name, sizeof name) != 0 ||
        ntg__mesh_kv_get(hello->payload, hello->payload_bytes, "nonce", 0, nonce_hex,
                         sizeof nonce_hex) != 0)
        return; /* no offer: TCP */
    const char *why = NULL;
    if (m->cfg.force_tcp) {
        why = "TCP forced";
    } else if (strncmp(name, "/ntgraph-mesh-", 14) != 0 || strlen(name) >= 64 ||
               strchr(name + 1, '/') || unhex(nonce_hex, nonce, sizeof nonce) != 0) {
        why = "a malformed offer";
    }
    mesh_shm *s = NULL;
    if (!why && !(s = calloc(1, sizeof *s))) why = "out of memory";
    if (!why) {
        s->fd_data = s->fd_space = -1;
        snprintf(s->name, sizeof s->name, "%.63s", name); /* checked: shorter than 64 */
        int fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
        struct stat st;
        if (fd < 0) {
            why = "cannot open the segment (another host, or another /dev/shm)";
        } else if (fstat(fd, &st) != 0 || st.st_uid != geteuid() ||
                   (size_t)st.st_size < SHM_CTL_BYTES) {
            why = "the segment is not this user's or too small";
        } else {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_POPULATE, fd, 0);
            if (p == MAP_FAILED) {
                why = "cannot map the segment";
            } else {
                s->base = p;
                s->size = (size_t)st.st_size;
            }
        }
        if (fd >= 0) close(fd);
    }
    if (!why) {
        shm_ctl *c = (shm_ctl *)(void *)s->base;
        uint64_t slot = c->slot_bytes;
        uint32_t ns = c->nslots;
        if (c->magic != SHM_MAGIC || memcmp(c->nonce, nonce, sizeof nonce) != 0 ||
            c->generation != m->generation || c->sender != hello->sender) {
            why = "the segment is not the one offered";
        } else if (ns < 1 || ns > 256 || slot < SHM_SLOT_DATA + 4 || slot > (64u << 20) + 64 ||
                   slot % 64 || c->total_bytes != s->size ||
                   SHM_CTL_BYTES + (uint64_t)ns * slot != s->size) {
            why = "the segment's layout does not add up";
        } else {
            s->ctl = c;
            s->slots = s->base + SHM_CTL_BYTES;
            s->nslots = ns;
            s->slot_bytes = (size_t)slot;
        }
    }
    if (!why) {
        char path[96];
        fifo_path(name, 'd', path, sizeof path);
        s->fd_data = open_fifo(path);
        fifo_path(name, 's', path, sizeof path);
        s->fd_space = open_fifo(path);
        if (s->fd_data < 0 || s->fd_space < 0) why = "cannot open its doorbells";
    }
    if (why) {
        ntg__mesh_log(m, NTG__MESH_LOG_INFO,
                      "ring data from rank %u stays on TCP: shared memory refused (%s)",
                      (unsigned)hello->sender, why);
        shm_free(s);
        return;
    }
    unlink_names(name); /* both sides hold it now; nothing is left behind on a crash */
    atomic_store(&s->ctl->accepted, 1);
    m->shm_in = s;
}

void ntg__mesh_shm_settle(ntg_mesh *m)
{
    if (m->shm_out) {
        unlink_names(m->shm_out->name);
        m->shm_out->creator = 0;
        if (!atomic_load(&m->shm_out->ctl->accepted)) {
            ntg__mesh_log(m, NTG__MESH_LOG_INFO,
                          "ring data to rank %d goes over TCP: it did not take the shared memory",
                          (m->rank + 1) % m->world);
            ntg__mesh_shm_close_out(m);
        }
    }
    if (m->shm_out || m->shm_in)
        ntg__mesh_log(m, NTG__MESH_LOG_INFO,
                      "ring data through shared memory: to rank %d %s, from rank %d %s",
                      (m->rank + 1) % m->world, m->shm_out ? "yes" : "no (TCP)",
                      (m->rank + m->world - 1) % m->world, m->shm_in ? "yes" : "no (TCP)");
}

/* ----------------------------------------------------------- the data path */

static void doorbell(int fd)
{
    ssize_t rc = write(fd, "", 1);
    (void)rc; /* a full FIFO already wakes the other side */
}

static void drain(int fd)
{
    char sink[256];
    while (read(fd, sink, sizeof sink) > 0) {
    }
}

unsigned char *ntg__mesh_shm_slot(ntg_mesh *m, int *full)
{
    mesh_shm *s = m->shm_out;
    *full = 0;
    if (s->local - atomic_load(&s->ctl->tail) < s->nslots)
        return s->slots + (size_t)(s->local % s->nslots) * s->slot_bytes + 8;
    atomic_store(&s->ctl->tx_waiting, 1);
    if (s->local - atomic_load(&s->ctl->tail) < s->nslots) {
        atomic_store(&s->ctl->tx_waiting, 0);
        return s->slots + (size_t)(s->local % s->nslots) * s->slot_bytes + 8;
    }
    *full = 1;
    return NULL;
}

size_t ntg__mesh_shm_slot_capacity(const ntg_mesh *m)
{
    return m->shm_out->slot_bytes - 8;
}

void ntg__mesh_shm_publish(ntg_mesh *m)
{
    mesh_shm *s = m->shm_out;
    s->local++;
    atomic_store(&s->ctl->head, s->local);
    if (atomic_exchange(&s->ctl->rx_waiting, 0)) doorbell(s->fd_data);
}

const unsigned char *ntg__mesh_shm_peek(ntg_mesh *m, size_t *size)
{
    mesh_shm *s = m->shm_in;
    if (atomic_load(&s->ctl->head) == s->local) return NULL;
    const unsigned char *f = s->slots + (size_t)(s->local % s->nslots) * s->slot_bytes + 8;
    uint32_t pb;
    memcpy(&pb, f + 52, 4); /* the header's payload size (little-endian, as this host) */
    size_t cap = s->slot_bytes - 8;
    *size = (size_t)pb <= cap - NTG__MESH_HEADER ? NTG__MESH_HEADER + pb : cap;
    return f;
}

void ntg__mesh_shm_release(ntg_mesh *m)
{
    mesh_shm *s = m->shm_in;
    s->local++;
    atomic_store(&s->ctl->tail, s->local);
    if (atomic_exchange(&s->ctl->tx_waiting, 0)) doorbell(s->fd_space);
}

int ntg__mesh_shm_rx_sleep(ntg_mesh *m)
{
    mesh_shm *s = m->shm_in;
    atomic_store(&s->ctl->rx_waiting, 1);
    if (atomic_load(&s->ctl->head) != s->local) {
        atomic_store(&s->ctl->rx_waiting, 0);
        return -1; /* data already waits: do not sleep */
    }
    return s->fd_data;
}

int ntg__mesh_shm_tx_fd(const ntg_mesh *m)
{
    return m->shm_out->fd_space;
}

void ntg__mesh_shm_drain(ntg_mesh *m)
{
    if (m->shm_in) drain(m->shm_in->fd_data);
    if (m->shm_out) drain(m->shm_out->fd_space);
}

/* ----------------------------------------------------------------- in place */

/* The I/O thread's copy of the regions, brought up to date. */
static void sync_regions(ntg_mesh *m)
{
    if (atomic_load(&m->region_version) == m->io_region_version) return;
    pthread_mutex_lock(&m->mu);
    memcpy(m->io_region, m->region, sizeof m->io_region);
    m->io_region_version = atomic_load(&m->region_version);
    pthread_mutex_unlock(&m->mu);
}

void ntg__mesh_shm_announce(ntg_mesh *m)
{
    mesh_shm *s = m->shm_out;
    sync_regions(m);
    if (!s || m->io_region_version == s->reg_version) return;
    uint32_t v = m->io_region_version;
    for (int i = 0; i < NTG__MESH_MAX_REGIONS; i++) {
        s->ctl->reg[i].bytes = m->io_region[i].base ? m->io_region[i].bytes : 0;
        s->ctl->reg[i].fd = m->io_region[i].base ? m->io_region[i].fd : -1;
    }
    s->reg_version = v;
    atomic_store(&s->ctl->reg_version, v); /* after the table: the receiver reads it then */
}

/* Map prev's region: its memfd through /proc (the same user's process, the pid rank 0 named
 * in this generation's layout), checked to be a regular file of this user and as large as
 * announced.  NULL and *why on failure. */
static const unsigned char *map_region(long pid, int64_t fd, uint64_t bytes, const char **why)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd/%lld", pid, (long long)fd);
    int f = fd >= 0 && fd < (1 << 30) ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (f < 0) {
        *why = "cannot open its memory through /proc";
        return NULL;
    }
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (uint64_t)st.st_size < bytes)
        *why = "its memory is not a file of this user as large as announced";
    else if ((p = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, f, 0)) == MAP_FAILED)
        *why = "cannot map its memory";
    close(f);
    return p == MAP_FAILED ? NULL : p;
}

void ntg__mesh_shm_map_peer(ntg_mesh *m)
{
    mesh_shm *s = m->shm_in;
    if (!s) return;
    uint32_t v = atomic_load(&s->ctl->reg_version);
    if (v == 0 || v == s->reg_version) return;
    /* this rank's own regions must be there, alike, to translate its pointers: wait for them */
    uint64_t want[NTG__MESH_MAX_REGIONS];
    int64_t fds[NTG__MESH_MAX_REGIONS];
    for (int i = 0; i < NTG__MESH_MAX_REGIONS; i++) {
        want[i] = s->ctl->reg[i].bytes;
        fds[i] = s->ctl->reg[i].fd;
    }
    sync_regions(m);
    int ready = 1, alike = 1;
    for (int i = 0; i < NTG__MESH_MAX_REGIONS; i++) {
        uint64_t own = m->io_region[i].base ? m->io_region[i].bytes : 0;
        if (want[i] && !own) ready = 0;
        if (want[i] && own && own != want[i]) alike = 0;
    }
    if (!ready) return;
    s->reg_version = v;
    unmap_peer(s);
    int prev = (m->rank + m->world - 1) % m->world;
    const char *why = alike ? NULL : "its regions differ in size from this rank's";
    for (int i = 0; !why && i < NTG__MESH_MAX_REGIONS; i++) {
        if (!want[i]) continue;
        s->peer[i] = map_region(m->members[prev].info.pid, fds[i], want[i], &why);
        s->peer_bytes[i] = s->peer[i] ? (size_t)want[i] : 0;
    }
    if (why) {
        unmap_peer(s);
        ntg__mesh_log(m, NTG__MESH_LOG_INFO,
                      "ring data from rank %d: not in place, copied through shared memory (%s)",
                      prev, why);
        atomic_store(&s->ctl->reg_mapped, SHM_REG_REFUSED);
        return;
    }
    ntg__mesh_log(m, NTG__MESH_LOG_DEBUG, "ring data from rank %d: read in place", prev);
    atomic_store(&s->ctl->reg_mapped, v);
}

/* The region of this rank's that holds [p, p + bytes), or -1. */
static int own_region(ntg_mesh *m, const void *p, size_t bytes)
{
    const unsigned char *c = p;
    for (int i = 0; i < NTG__MESH_MAX_REGIONS; i++) {
        const unsigned char *b = m->io_region[i].base;
        if (b && c >= b && (uint64_t)(c - b) <= m->io_region[i].bytes &&
            bytes <= m->io_region[i].bytes - (uint64_t)(c - b))
            return i;
    }
    return -1;
}

int ntg__mesh_shm_in_place(ntg_mesh *m, const float *mine, size_t count)
{
    mesh_shm *s = m->shm_out;
    if (!s || !s->reg_version || atomic_load(&s->ctl->reg_mapped) != s->reg_version) return 0;
    return own_region(m, mine, count * sizeof *mine) >= 0;
}

const float *ntg__mesh_shm_peer_ptr(ntg_mesh *m, const float *mine, size_t count)
{
    mesh_shm *s = m->shm_in;
    int i = s ? own_region(m, mine, count * sizeof *mine) : -1;
    if (i < 0 || !s->peer[i] || s->peer_bytes[i] != m->io_region[i].bytes) return NULL;
    return (const float *)(const void *)(s->peer[i] +
                                         ((const unsigned char *)mine - m->io_region[i].base));
}

uint64_t ntg__mesh_shm_published(const ntg_mesh *m)
{
    return m->shm_out ? m->shm_out->local : 0;
}

int ntg__mesh_shm_consumed(ntg_mesh *m, uint64_t upto)
{
    mesh_shm *s = m->shm_out;
    if (!s || atomic_load(&s->ctl->tail) >= upto) return 1;
    atomic_store(&s->ctl->tx_waiting, 1);
    if (atomic_load(&s->ctl->tail) >= upto) {
        atomic_store(&s->ctl->tx_waiting, 0);
        return 1;
    }
    return 0;
}
