/* mesh.h — the data-parallel mesh's interface to the rest of ntgraph (docs/mesh.md). */
#ifndef NTG_MESH_H
#define NTG_MESH_H

/*
 * A mesh is `world` processes (ranks 0 .. world-1) that found each other through a rendezvous
 * address: rank 0 binds it (a ROUTER socket) and coordinates; every other rank connects (a
 * DEALER), says who it is and where its ring socket listens, and gets the ring layout and a
 * generation number back.  Each rank then holds one link to each ring neighbour (PUSH to
 * rank+1, PULL from rank-1), over which buffers are broadcast from rank 0 and summed by ring
 * all-reduce.  A mesh has its own ZeroMQ context, an I/O thread that moves every byte and
 * sends heartbeats, and with keys a ZAP thread that admits only listed CURVE keys.
 *
 * This interface is internal for now (the CLI, tests and the trainer of phase 2 use it); it
 * follows the public conventions of ntgraph.h so that it can move there unchanged: statuses,
 * an optional ntg_error, create/destroy, destroy(NULL) a no-op, one thread at a time per
 * handle.  Logging callbacks are the exception: they run on the mesh's own threads too.
 *
 * Failures.  A peer that stops sending heartbeats for `timeout_ms` (killed, frozen, cut off)
 * breaks the generation: rank 0 names it in the log (rank, host, pid), tells the others, and
 * every operation in flight or started later returns NTG_ERR_PEER_LOST with that message,
 * until each survivor calls ntg__mesh_reform().  Messages of an older generation are dropped.
 */

#include <stddef.h>
#include <stdint.h>

#include "mesh_proto.h"
#include "ntgraph.h"

typedef struct ntg_mesh ntg_mesh;

/* ---------------------------------------------------------- launcher environments */

#define NTG__MESH_DEFAULT_PORT 29600

/* Rank, world and rendezvous as a launcher (or flags) gave them. */
typedef struct ntg__mesh_launch {
    int rank, world;
    char rendezvous[256]; /* "tcp://HOST:PORT" */
    char source[256];     /* where they came from, for logs ("Slurm: SLURM_PROCID=1, ...") */
} ntg__mesh_launch;

/*
 * Resolve rank, world and rendezvous.  Explicit values win field by field (rank < 0, world
 * <= 0, rendezvous NULL or "" mean "not given"); the rest comes from the first launcher whose
 * variables are present, in this order:
 *   Open MPI    OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE
 *   PMI/MPICH   PMI_RANK, PMI_SIZE
 *   Slurm       SLURM_PROCID, SLURM_NTASKS (or SLURM_NPROCS); rendezvous on the first host of
 *               SLURM_JOB_NODELIST (or SLURM_NODELIST), port MASTER_PORT or
 *               NTG__MESH_DEFAULT_PORT + SLURM_JOB_ID % 1000
 *   torchrun    RANK, WORLD_SIZE
 * The rendezvous, when not given, is MASTER_ADDR:MASTER_PORT (port default
 * NTG__MESH_DEFAULT_PORT), else Slurm's first host, else 127.0.0.1 when the launcher says every
 * rank runs on this host (OMPI_COMM_WORLD_LOCAL_SIZE or MPI_LOCALNRANKS equal to the world), or
 * a world of 1.  `envp` is a NULL-terminated "NAME=VALUE" array (NULL: the process
 * environment).  Errors (NTG_ERR_INVALID_ARG) name the variable or flag: a value that is not an
 * integer, a rank without a world or the reverse, rank outside 0..world-1, a world outside
 * 1..4096, a malformed hostlist, no rendezvous to be found.
 */
ntg_status ntg__mesh_launch_resolve(const char *const *envp, int rank, int world,
                                    const char *rendezvous, ntg__mesh_launch *out, ntg_error *err);

/* Slurm's compressed hostlists ("node[01-04,07],gpu-a", "r[1-2]n[1-3]"): how many hosts, and
 * host `index` in Slurm's order.  NTG_ERR_INVALID_ARG naming the column of a syntax error;
 * NTG_ERR_RANGE when index >= count or the host does not fit in cap. */
ntg_status ntg__mesh_hostlist_count(const char *list, size_t *count, ntg_error *err);
ntg_status ntg__mesh_hostlist_nth(const char *list, size_t index, char *host, size_t cap,
                                  ntg_error *err);

/* ------------------------------------------------------------------------ keys */

/*
 * A key directory (--mesh-keys DIR):
 *   DIR/mesh.secret          this worker's CURVE secret key: 40 Z85 characters on one line
 *                            (lines starting with '#' are comments); mode 0600 or stricter
 *   DIR/mesh.public          its public key, the same way (written by keygen; optional)
 *   DIR/authorized/NAME.pub  one file per admitted public key; NAME (letters, digits, '.',
 *                            '_', '-') names the key in the log
 *   DIR/coordinator.pub      optional: rank 0's public key, when ranks have their own keys;
 *                            without it a worker expects rank 0 to hold its own key (one key
 *                            shared by the whole job)
 * Rank 0's own key and every worker's must be listed in authorized/ of every rank that binds
 * (all of them: each rank's ring socket is a CURVE server).
 */
typedef struct ntg__mesh_keys ntg__mesh_keys;

/* Create DIR (mode 0700) if needed and write a new key pair: mesh.secret (0600), mesh.public,
 * and authorized/NAME.pub so the key admits itself.  NTG_ERR_STATE when mesh.secret exists and
 * !force; NTG_ERR_UNSUPPORTED when libzmq lacks CURVE; NTG_ERR_IO naming the path.
 * public_z85 (may be NULL) receives the public key. */
ntg_status ntg__mesh_keygen(const char *dir, const char *name, int force, char public_z85[41],
                            ntg_error *err);
/* keygen's default NAME: the short host name, characters outside [A-Za-z0-9._-] as '-'. */
void ntg__mesh_default_key_name(char out[65]);
/* Read and check a key directory (every file is hostile: sizes, characters, the secret key's
 * mode).  Errors name the file: NTG_ERR_IO, NTG_ERR_DATA, NTG_ERR_NOT_FOUND (no mesh.secret). */
ntg_status ntg__mesh_keys_load(const char *dir, ntg__mesh_keys **out, ntg_error *err);
void ntg__mesh_keys_destroy(ntg__mesh_keys *k);
/* This key's public half (Z85) and the number of admitted keys. */
const char *ntg__mesh_keys_public(const ntg__mesh_keys *k);
size_t ntg__mesh_keys_authorized(const ntg__mesh_keys *k);
/* The NAME an admitted key was listed under, or NULL when it is not listed. */
const char *ntg__mesh_keys_lookup(const ntg__mesh_keys *k, const char *public_z85);

/* ---------------------------------------------------------------------- the mesh */

enum { NTG__MESH_LOG_ERROR = 0, NTG__MESH_LOG_WARN, NTG__MESH_LOG_INFO, NTG__MESH_LOG_DEBUG };

/* Called with one complete line (no newline), from the caller's thread or the mesh's I/O and
 * ZAP threads (it must be thread-safe). */
typedef void (*ntg__mesh_log_fn)(void *user, int level, const char *message);

typedef struct ntg__mesh_config {
    int rank, world;        /* 0 <= rank < world (ntg__mesh_launch_resolve) */
    const char *rendezvous; /* "tcp://HOST:PORT"; rank 0 binds it (port 0: any free port) */
    int join;               /* join a running mesh at its next generation (rank ignored) */
    const char *keys_dir;   /* CURVE keys (see above); NULL: plain TCP */
    int insecure;           /* allow plain TCP on addresses other than loopback */
    int force_tcp;          /* ring data over TCP even between ranks on one host (default 0: through
                               shared memory there; docs/mesh.md, "Shared memory on one host") */
    const char *ring_host;  /* address the ring socket binds on; NULL: the local address that
                               routes to the rendezvous host */
    int heartbeat_ms;       /* heartbeat interval (default 500) */
    int timeout_ms;         /* a peer silent this long is lost (default 4000: with the default
                               heartbeat, a loss is named within 4.5 s) */
    int rendezvous_timeout_ms; /* waiting for the world to gather, or to re-form (60000) */
    int join_window_ms;        /* re-forming: how long rank 0 waits for joiners (2000) */
    int op_timeout_ms;         /* an operation that makes no progress this long fails (300000) */
    size_t chunk_bytes;        /* ring frame size (default 256 KiB) */
    int sndhwm;    /* ZMQ_SNDHWM/RCVHWM of the ring sockets, in frames (default 32); the mesh keeps
                      sndhwm + 16 send buffers of chunk_bytes */
    int linger_ms; /* ZMQ_LINGER at destroy (default 1000) */
    ntg__mesh_log_fn log; /* NULL: lines at or above log_level go to stderr */
    void *log_user;
    int log_level; /* NTG__MESH_LOG_* (default INFO) */
    /* Rank 0: called once the rendezvous is bound, with the endpoint actually bound (the port
     * chosen when the rendezvous asked for port 0), before waiting for the others. */
    void (*bound)(void *user, const char *endpoint);
    void *bound_user;
} ntg__mesh_config;

void ntg__mesh_config_init(ntg__mesh_config *cfg);

/* Form a mesh (or join one): bind, meet at the rendezvous, connect the ring, start the I/O
 * thread.  Blocks until the whole world has arrived and every ring link answered, at most
 * rendezvous_timeout_ms.  Errors: NTG_ERR_INVALID_ARG (config, naming the field; plain TCP on
 * a non-loopback address without `insecure`), NTG_ERR_PEER_LOST (peers that never arrived or
 * went silent, named), NTG_ERR_STATE (rank 0 refused this worker, with its reason),
 * NTG_ERR_IO (bind/connect failures, key files), NTG_ERR_DATA (bad key files),
 * NTG_ERR_UNSUPPORTED (keys without CURVE in libzmq), NTG_ERR_NOMEM. */
ntg_status ntg__mesh_create(const ntg__mesh_config *cfg, ntg_mesh **out, ntg_error *err);
/* Leave (telling the others, so they do not report a loss), stop the threads, close. */
void ntg__mesh_destroy(ntg_mesh *m);

int ntg__mesh_rank(const ntg_mesh *m);
int ntg__mesh_world(const ntg_mesh *m);
uint32_t ntg__mesh_generation(const ntg_mesh *m);
/* The training step stamped on this rank's frames; a data frame of another step fails the
 * operation (NTG_ERR_STATE), catching ranks that drifted apart. */
void ntg__mesh_set_step(ntg_mesh *m, uint64_t step);

/* What this rank knows of a peer of the current generation. */
typedef struct ntg__mesh_peer {
    int rank;
    long pid;
    char host[64];
    char ring[128]; /* its ring endpoint */
} ntg__mesh_peer;
ntg_status ntg__mesh_peer_get(const ntg_mesh *m, int rank, ntg__mesh_peer *out);

/* Sum float32 buffer `buf` of n elements (the same n on every rank) across the mesh, in place,
 * by ring all-reduce in the fixed order of mesh_proto.h: repeated runs with the same world are
 * bitwise identical.  Asynchronous: start hands the buffer to the I/O thread (which owns it
 * until wait returns) and returns; buckets run in the order they were started, which must be
 * the same on every rank; `bucket` is the caller's id for it (unique among those in flight).
 * Starting allocates nothing.  start: NTG_ERR_STATE (bucket already in flight, too many in
 * flight), NTG_ERR_PEER_LOST (the generation is broken).  wait: NTG_OK when buf holds the sum,
 * NTG_ERR_PEER_LOST (a peer was lost, named; the buffer is undefined), NTG_ERR_STATE (ranks
 * disagree on size, order or step), NTG_ERR_NOT_FOUND (no such bucket in flight). */
ntg_status ntg__mesh_allreduce_start(ntg_mesh *m, uint32_t bucket, float *buf, size_t n,
                                     ntg_error *err);
ntg_status ntg__mesh_allreduce_wait(ntg_mesh *m, uint32_t bucket, ntg_error *err);
/* allreduce_start over the concatenation of nseg pieces, ptrs[i][0 .. lens[i]), summed where
 * they lie (e.g. gradients in a backend's arena, with no copy into one buffer and back), each
 * rank's own values first scaled by its `scale`, (float)((double)x * scale), in the pass that
 * sends or adds them (1: as they are): the same frames, schedule and sums as allreduce_start of
 * a buffer holding the scaled pieces in that order.  The caller keeps both arrays and the
 * pieces until the wait returns. */
ntg_status ntg__mesh_allreduce_startv(ntg_mesh *m, uint32_t bucket, float *const *ptrs,
                                      const size_t *lens, unsigned nseg, double scale,
                                      ntg_error *err);
/* allreduce_startv of a part of the all-reduce (NTG__MESH_PART_*, mesh_proto.h) with the
 * segments cut at `bounds` (world + 1 element offsets of the vector, the current generation's
 * world; NULL: the even cut), which the caller keeps until the wait returns.  ZeRO-1
 * (docs/mesh.md, "Sharded optimizer"): the reduce-scatter of the gradients leaves rank r the sum
 * of segment (r + 1) mod world; it updates those weights, and the all-gather of the weights
 * (scale 1) gives every rank every segment's owner's values, copied. */
ntg_status ntg__mesh_allreduce_startx(ntg_mesh *m, uint32_t bucket, float *const *ptrs,
                                      const size_t *lens, unsigned nseg, double scale,
                                      const uint64_t *bounds, int part, ntg_error *err);
/* start + wait. */
ntg_status ntg__mesh_allreduce(ntg_mesh *m, float *buf, size_t n, ntg_error *err);

/* Offer region `id` (< 4) of this process's memory to the ring neighbour on this host, in place
 * (docs/mesh.md, "In place"): `bytes` at `base`, a MAP_SHARED mapping of `fd` (a memfd the
 * process keeps open), laid out alike on every rank (the same plan's storage).  From then on,
 * through shared memory, the frames of an all-reduce part (startx with NTG__MESH_PART_REDUCE or
 * _GATHER) whose floats lie in a region the next rank mapped carry no data: it reads them where
 * they lie, and the part ends on this rank only once the next rank took them.  The caller must
 * then leave a part's pieces unchanged until its wait returns (as for every all-reduce).
 * NTG_ERR_INVALID_ARG for an id out of range or an empty region. */
ntg_status ntg__mesh_share(ntg_mesh *m, unsigned id, const void *base, size_t bytes, int fd,
                           ntg_error *err);

/* Copy rank 0's `nbytes` at buf to every rank's buf (the same nbytes everywhere), pipelined
 * down the ring.  Blocking: returns on every rank once every rank holds the bytes (a barrier
 * follows the copy).  Errors as allreduce_wait. */
ntg_status ntg__mesh_broadcast(ntg_mesh *m, void *buf, size_t nbytes, ntg_error *err);
/* Return once every rank has entered.  Errors as allreduce_wait. */
ntg_status ntg__mesh_barrier(ntg_mesh *m, ntg_error *err);

/* Form the next generation: every survivor calls it after NTG_ERR_PEER_LOST; rank 0 waits for
 * them (rendezvous_timeout_ms; those that do not come are dropped and named) and for workers
 * that asked to join (ntg__mesh_config.join, or a restarted worker) until the world is back at
 * its first size or join_window_ms passed.  Ranks are renumbered (rank 0 stays, survivors keep
 * their order, joiners follow), the ring is rebuilt, generation + 1.  Errors: NTG_ERR_PEER_LOST
 * (rank 0 is gone; or this worker was left out), NTG_ERR_IO, NTG_ERR_NOMEM. */
ntg_status ntg__mesh_reform(ntg_mesh *m, ntg_error *err);
/* Rank 0: break the generation on purpose (e.g. to admit waiting joiners at a step boundary):
 * every rank's next operation returns NTG_ERR_PEER_LOST with `reason`.  NTG_ERR_STATE on
 * other ranks. */
ntg_status ntg__mesh_request_reform(ntg_mesh *m, const char *reason, ntg_error *err);
/* Rank 0: workers waiting to join at the next generation. */
int ntg__mesh_joiners(ntg_mesh *m);

/* Counters (since create). */
typedef struct ntg__mesh_stats {
    uint64_t frames_sent, frames_received, bytes_sent, bytes_received;
    uint64_t dropped_malformed;  /* failed ntg__mesh_msg_decode */
    uint64_t dropped_generation; /* of another generation */
    uint64_t dropped_unexpected; /* well formed, from no known peer or at no place expected */
    uint64_t refused_keys;       /* CURVE clients the ZAP handler turned away */
    uint64_t peers_lost;
    /* All-reduces completed, and the wall time (ns) the I/O thread had each active, from taking
     * it up to its last frame: what the ring took, including waits for peers to start it. */
    uint64_t allreduces, allreduce_ns;
    /* Ring data frames this rank sent and received through shared memory (also counted in
     * frames_sent/received and bytes_sent/received). */
    uint64_t shm_frames_sent, shm_frames_received;
    /* of those, frames in place (their floats read where they lie in the sender's memory) */
    uint64_t in_place_sent, in_place_received;
} ntg__mesh_stats;
void ntg__mesh_stats_get(ntg_mesh *m, ntg__mesh_stats *s);

#endif /* NTG_MESH_H */
