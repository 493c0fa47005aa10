/* mesh_int.h — the mesh's private parts: the handle, its operations queue, the threads' helpers. */
#ifndef NTG_MESH_INT_H
#define NTG_MESH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ntg_error.h"
#include "mesh.h"
#include "mesh_proto.h"

#define NTG__MESH_MAX_OPS 64     /* operations in flight (started, not yet waited) */
#define NTG__MESH_MAX_JOINERS 64 /* workers waiting for the next generation */
#define NTG__MESH_RID 16         /* bytes of a worker's routing id */
#define NTG__MESH_ZAP_DOMAIN "ntgraph-mesh"
#define NTG__MESH_MAX_REGIONS 4 /* ntg__mesh_share */

enum { OPK_ALLREDUCE = 0, OPK_BROADCAST = 1, OPK_BARRIER = 2 };
enum { OPS_FREE = 0, OPS_QUEUED, OPS_ACTIVE, OPS_DONE };

/* One operation.  The caller's thread fills it and queues it (under mu); from then until it is
 * DONE only the I/O thread touches it, except `state`, `status` and `message` (under mu). */
typedef struct mesh_op {
    int state, kind;
    uint32_t bucket;
    void *buf;
    uint64_t n; /* float elements (all-reduce) or bytes (broadcast) */
    /* a gathered all-reduce (ntg__mesh_allreduce_startv; buf NULL): the vector is the
     * concatenation of segp[i][0 .. segn[i]), the caller's arrays; seg/seg_off: where the
     * last copy ended (frames mostly come in order), for the next one's search */
    float *const *segp;
    const size_t *segn;
    unsigned nseg, seg;
    uint64_t seg_off;
    double scale; /* this rank's terms count as (float)((double)x * scale) in the sum */
    /* ntg__mesh_allreduce_startx: the caller's segment bounds (NULL: the even cut) and the
     * part of the all-reduce (NTG__MESH_PART_*) */
    const uint64_t *bounds;
    int part;
    uint64_t seq, step, barrier;
    ntg_status status;
    char message[640];
    /* the I/O thread's progress */
    ntg__mesh_sched sched;
    ntg__mesh_cursor scur, rcur;
    int64_t progress_ms; /* when it last sent or received a frame */
    int64_t active_ns;   /* when the I/O thread took it up (monotonic) */
} mesh_op;

/* A rank of the current generation as this process knows it. */
typedef struct mesh_member {
    ntg__mesh_peer_info info;
    unsigned char rid[NTG__MESH_RID]; /* rank 0: its DEALER's routing id */
    size_t rid_len;
    int64_t last_seen_ms; /* rank 0: of each worker; workers: of rank 0 (index 0) */
    int alive, left;
    uint64_t barrier; /* rank 0: the last barrier it entered */
} mesh_member;

/* A HELLO that rank 0 holds for the next generation: a survivor re-forming or a joiner. */
typedef struct mesh_pending {
    unsigned char rid[NTG__MESH_RID];
    size_t rid_len;
    ntg__mesh_hello hello;
    int64_t last_seen_ms;
} mesh_pending;

/* A shared-memory ring link (mesh_shm.c). */
typedef struct mesh_shm mesh_shm;

typedef struct mesh_zap {
    void *sock;
    pthread_t thread;
    int running;
    int stop; /* set under the mesh's mutex, read by the ZAP thread between polls */
} mesh_zap;

struct ntg_mesh {
    ntg__mesh_config cfg; /* strings point into the copies below */
    char rendezvous[256], keys_dir[512], ring_host[128];
    char host[64];
    long pid;
    unsigned char rid[NTG__MESH_RID]; /* workers: our DEALER's routing id */

    void *ctx;
    void *rdv;         /* rank 0: ROUTER bound at the rendezvous; workers: DEALER */
    void *rdv_mon;     /* workers: PAIR reading the DEALER's handshake events */
    void *ring_in;     /* PULL, bound; prev pushes here */
    void *ring_out;    /* PUSH, connected to next */
    mesh_shm *shm_out; /* this generation's data to next through shared memory, or NULL: TCP */
    mesh_shm *shm_in;  /* and from prev */
    char ring_endpoint[128];
    char rdv_endpoint[256]; /* rank 0: what it bound */
    ntg__mesh_keys *keys;
    mesh_zap zap;

    int rank, world, first_world;
    uint32_t generation;
    uint64_t chunk_bytes; /* the ring frame size of this generation (rank 0's) */
    mesh_member *members; /* world entries */
    mesh_pending pending[NTG__MESH_MAX_JOINERS];
    int n_pending;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t io;
    int io_running;
    int wake[2]; /* pipe: the caller's thread wakes the I/O thread */
    int stop;
    mesh_op ops[NTG__MESH_MAX_OPS];
    uint64_t next_seq;
    uint64_t step;
    uint64_t barriers; /* barriers entered in this generation (the caller's count) */
    int broken;        /* the generation failed: every operation returns broken_status */
    ntg_status broken_status;
    char broken_msg[640];
    int coordinator_gone; /* workers: rank 0 is lost or left: no new generation possible */
    int evicted;
    int bye;             /* the I/O thread says goodbye when it stops (destroy, not reform) */
    int reset_requested; /* rank 0: ntg__mesh_request_reform asked the I/O thread to reset */
    char reset_reason[200];
    ntg__mesh_stats stats;
    unsigned long log_drops; /* rate limit of "dropped" log lines */

    /* Memory this rank shares with its ring neighbour on one host (ntg__mesh_share): written by
     * the caller's thread under mu, region_version last; read by the I/O thread. */
    struct {
        const unsigned char *base;
        uint64_t bytes;
        int fd;
    } region[NTG__MESH_MAX_REGIONS], io_region[NTG__MESH_MAX_REGIONS]; /* io_: the I/O thread's
                                                                            copy */
    _Atomic uint32_t region_version;
    uint32_t io_region_version;

    /* Send buffers for ring frames, allocated when the first generation starts: libzmq hands
     * each back (from its own I/O thread) once the frame is on the wire, so sending allocates
     * nothing, and no fresh pages are faulted in per frame. */
    pthread_mutex_t pool_mu;
    unsigned char *pool_mem;
    void **pool_free;
    int pool_n, pool_cap;
    size_t pool_item;
};

/* ---------------------------------------------------------------- helpers */

int64_t ntg__mesh_now_ms(void);
void ntg__mesh_log(ntg_mesh *m, int level, const char *fmt, ...) NTG_PRINTF(3, 4);
/* Log a dropped frame (rate-limited: the first 20, then every 1000th). */
void ntg__mesh_log_drop(ntg_mesh *m, const char *from, const char *why);
/* Describe rank r of the current generation: "rank 2 (host node02, pid 4242)". */
void ntg__mesh_describe(const ntg_mesh *m, int r, char *out, size_t cap);

/* Build and send a frame (header fields from m and the arguments, payload copied) on `sock`;
 * a ROUTER needs rid.  Never blocks (ZMQ_DONTWAIT): -1 with errno on failure. */
int ntg__mesh_send(ntg_mesh *m, void *sock, const unsigned char *rid, size_t rid_len, unsigned type,
                   uint64_t step, const void *payload, size_t n);
/* Receive one message (ROUTER: routing id then frame) without blocking.  Returns 1 with the
 * frame in *msg (the caller closes it), 0 when there is none, -1 on a malformed envelope
 * (dropped). */
int ntg__mesh_recv(ntg_mesh *m, void *sock, int router, unsigned char *rid, size_t *rid_len,
                   void *msg);

/* Break the generation: every queued or active operation fails with `status` and the message,
 * and every later one until ntg__mesh_reform.  Takes mu. */
void ntg__mesh_break(ntg_mesh *m, ntg_status status, const char *fmt, ...) NTG_PRINTF(3, 4);

/* A send buffer of at least `bytes` from the pool, or NULL (the caller allocates then);
 * ntg__mesh_pool_release is its zmq_free_fn (hint: the mesh). */
void *ntg__mesh_pool_get(ntg_mesh *m, size_t bytes);
void ntg__mesh_pool_release(void *data, void *hint);

/* Shared memory between ring neighbours on one host (mesh_shm.c).  offer: create this
 * generation's segment for the next rank when it reports this host's name; writes the ring
 * hello's payload and returns its length (0: no offer, TCP).  accept: the next rank takes an
 * offer from a ring hello (or stays on TCP, logged).  settle: after the generation started,
 * keep the outbound segment only if it was accepted.  close: both, at a new generation and at
 * destroy.  The data path (I/O thread): slot gives where the next frame goes (header, then
 * payload 64-byte aligned; NULL and *full when the ring is full: poll tx_fd), publish hands it
 * over; peek gives the next received frame (NULL: none), release frees its slot; rx_sleep
 * arms the data doorbell before a poll (returns its fd, or -1 when data already waits); drain
 * empties the doorbells after one. */
size_t ntg__mesh_shm_offer(ntg_mesh *m, char *payload, size_t cap);
void ntg__mesh_shm_accept(ntg_mesh *m, const ntg__mesh_msg *ring_hello);
void ntg__mesh_shm_settle(ntg_mesh *m);
void ntg__mesh_shm_close(ntg_mesh *m);
void ntg__mesh_shm_close_out(ntg_mesh *m);
unsigned char *ntg__mesh_shm_slot(ntg_mesh *m, int *full);
size_t ntg__mesh_shm_slot_capacity(const ntg_mesh *m);
void ntg__mesh_shm_publish(ntg_mesh *m);
const unsigned char *ntg__mesh_shm_peek(ntg_mesh *m, size_t *size);
void ntg__mesh_shm_release(ntg_mesh *m);
int ntg__mesh_shm_rx_sleep(ntg_mesh *m);
int ntg__mesh_shm_tx_fd(const ntg_mesh *m);
void ntg__mesh_shm_drain(ntg_mesh *m);
/* In place (docs/mesh.md, "In place").  announce (sender, I/O thread): publish this rank's
 * shared regions in the outbound segment when they changed.  map_peer (receiver): map the
 * regions prev announced, read-only, and confirm them.  in_place: whether count floats at
 * `mine` may go as a frame in place (they lie in one region the next rank confirmed).
 * peer_ptr: the prev rank's copy of the floats at `mine` (the same offset in its region of the
 * same id), or NULL.  consumed: whether the next rank took every frame up to `upto` (frames
 * published since the generation began); if not, arms the space doorbell. */
void ntg__mesh_shm_announce(ntg_mesh *m);
void ntg__mesh_shm_map_peer(ntg_mesh *m);
int ntg__mesh_shm_in_place(ntg_mesh *m, const float *mine, size_t count);
const float *ntg__mesh_shm_peer_ptr(ntg_mesh *m, const float *mine, size_t count);
uint64_t ntg__mesh_shm_published(const ntg_mesh *m);
int ntg__mesh_shm_consumed(ntg_mesh *m, uint64_t upto);

/* The I/O thread (mesh_io.c). */
ntg_status ntg__mesh_io_start(ntg_mesh *m, ntg_error *err);
/* Stop and join it; with bye it first tells the others this rank leaves. */
void ntg__mesh_io_stop(ntg_mesh *m, int bye);
/* Rank 0 and the I/O thread: what to do with a HELLO that arrives outside a rendezvous. */
void ntg__mesh_take_hello(ntg_mesh *m, const unsigned char *rid, size_t rid_len,
                          const ntg__mesh_msg *msg, const char *user_id);

/* Keys (mesh_keys.c): set the CURVE options of a server / client socket. */
int ntg__mesh_curve_server(ntg_mesh *m, void *sock);
int ntg__mesh_curve_client(ntg_mesh *m, void *sock, const char *server_key);
/* The public key a worker expects rank 0 to present. */
const char *ntg__mesh_keys_coordinator(const ntg__mesh_keys *k);
/* Start / stop the ZAP handler on inproc://zeromq.zap.01 of m->ctx. */
ntg_status ntg__mesh_zap_start(ntg_mesh *m, ntg_error *err);
void ntg__mesh_zap_stop(ntg_mesh *m);

#endif /* NTG_MESH_INT_H */
