/* mesh_proto.h — the mesh's wire format: one versioned, bounds-checked frame per message. */
#ifndef NTG_MESH_PROTO_H
#define NTG_MESH_PROTO_H

/*
 * Every mesh message is one ZeroMQ frame: a fixed 56-byte little-endian header and a payload
 * (docs/mesh.md, "Wire format").  Nothing here touches ZeroMQ, so the decoder is fuzzed
 * (fuzz/fuzz_mesh_msg.c) and unit-tested on bytes alone.
 *
 *   off size field
 *     0    4 magic        "NTGM"
 *     4    2 version      NTG__MESH_VERSION
 *     6    1 type         ntg__mesh_type
 *     7    1 dtype        0 none (control), 1 float32, 2 bytes
 *     8    4 generation   of the mesh the sender belongs to (1 = the first)
 *    12    4 sender       the sender's rank in that generation (NTG__MESH_NO_RANK: none yet)
 *    16    8 step         training step the sender is at (ntg__mesh_set_step)
 *    24    4 bucket       all-reduce bucket id (0 for other types)
 *    28    2 phase        ring step of a data frame, 0 .. 2(world-1)-1
 *    30    2 flags        0, or NTG__MESH_FLAG_IN_PLACE on a reduce or gather frame
 *    32    8 offset       first element of this frame within the buffer
 *    40    8 total        elements of the whole buffer
 *    48    4 count        elements in this frame
 *    52    4 payload      bytes after the header (= count * dtype size for data frames; 8
 *                          for a frame in place)
 *
 * A frame in place (flags NTG__MESH_FLAG_IN_PLACE) travels only through the shared-memory ring
 * between ranks on one host (docs/mesh.md, "In place"): its payload is the sender's scale (a
 * little-endian double) and its count elements are read from the sender's shared memory where
 * they lie; over TCP such a frame is dropped.
 */

#include <stddef.h>
#include <stdint.h>

#include "ntgraph.h"

#define NTG__MESH_MAGIC 0x4D47544Eu /* the bytes "NTGM" read as a little-endian u32 */
#define NTG__MESH_VERSION 1u
#define NTG__MESH_HEADER 56u
#define NTG__MESH_NO_RANK 0xFFFFFFFFu
/* Limits a decoder enforces before anything else reads the frame. */
#define NTG__MESH_MAX_DATA_PAYLOAD (64u << 20)  /* a data frame (a chunk is far smaller) */
#define NTG__MESH_MAX_CTRL_PAYLOAD (1u << 20)   /* a control frame (a layout of 4096 peers fits) */
#define NTG__MESH_MAX_TOTAL ((uint64_t)1 << 40) /* elements of one buffer */
#define NTG__MESH_MAX_WORLD 4096
#define NTG__MESH_FLAG_IN_PLACE 1u
#define NTG__MESH_IN_PLACE_PAYLOAD 8u

typedef enum ntg__mesh_type {
    NTG__MSG_HELLO = 1,      /* worker -> rank 0: who I am, where my ring listens (kv payload) */
    NTG__MSG_WELCOME = 2,    /* rank 0 -> worker: generation, your rank, the layout (kv) */
    NTG__MSG_REFUSE = 3,     /* rank 0 -> worker: you cannot join, and why (kv: reason) */
    NTG__MSG_RING_HELLO = 4, /* rank -> next on the ring: the link works */
    NTG__MSG_READY = 5,      /* worker -> rank 0: my ring links work */
    NTG__MSG_GO = 6,         /* rank 0 -> all: every link works, the generation starts */
    NTG__MSG_HEARTBEAT = 7,  /* both ways between rank 0 and each worker */
    NTG__MSG_LOST = 8,       /* rank 0 -> workers: a peer is lost (kv: rank, host, pid, reason) */
    NTG__MSG_RESET = 9,      /* rank 0 -> workers: form a new generation (kv: reason) */
    NTG__MSG_EVICTED = 10,   /* rank 0 -> a straggler: the mesh went on without you */
    NTG__MSG_BARRIER = 11,   /* worker -> rank 0: entered barrier number `step` */
    NTG__MSG_RELEASE = 12,   /* rank 0 -> workers: barrier number `step` is complete */
    NTG__MSG_REDUCE = 13,    /* ring: reduce-scatter chunk (float32) */
    NTG__MSG_GATHER = 14,    /* ring: all-gather chunk (float32) */
    NTG__MSG_BCAST = 15,     /* ring: broadcast chunk from rank 0 (bytes) */
    NTG__MSG_BYE = 16,       /* orderly leave (ntg__mesh_destroy) */
    NTG__MSG_TYPE_MAX = 16
} ntg__mesh_type;

typedef enum ntg__mesh_dtype {
    NTG__MESH_DT_NONE = 0,
    NTG__MESH_DT_F32 = 1,
    NTG__MESH_DT_BYTES = 2
} ntg__mesh_dtype;

/* A decoded frame; `payload` points into the frame it was decoded from. */
typedef struct ntg__mesh_msg {
    uint8_t type, dtype;
    uint16_t phase, flags;
    uint32_t generation, sender;
    uint64_t step;
    uint32_t bucket;
    uint64_t offset, total;
    uint32_t count, payload_bytes;
    const unsigned char *payload;
} ntg__mesh_msg;

/* Name of a message type ("hello", ...; "type 99" style names are not returned: NULL). */
const char *ntg__mesh_type_name(unsigned type);

/* Write the 56-byte header of `m` (payload_bytes included) to `out`. */
void ntg__mesh_msg_write_header(unsigned char out[NTG__MESH_HEADER], const ntg__mesh_msg *m);

/* Check a received frame and fill `m`: the size against the header, magic, version, type,
 * flags, dtype against the type, payload length against the frame and the count, offset +
 * count within total, every limit above.  NTG_ERR_DATA with the reason ("bad magic
 * 0x12345678", "header says 400 payload bytes, the frame has 12") when anything is off;
 * nothing of the frame should be used then.  Never reads outside [frame, frame + size). */
ntg_status ntg__mesh_msg_decode(const void *frame, size_t size, ntg__mesh_msg *m, ntg_error *err);

/* ------------------------------------------------------------ control payloads */

/*
 * Control payloads are lines "key=value\n": keys [a-z_]{1,31}, values of printable ASCII
 * (0x20..0x7e), at most NTG__MESH_KV_VALUE_MAX - 1 bytes.  A key may repeat (the layout's
 * "peer" lines); unknown keys are ignored, so later versions can add some.
 */
#define NTG__MESH_KV_VALUE_MAX 256

/* Check the whole payload's syntax once, before any getter: NTG_ERR_DATA naming the line. */
ntg_status ntg__mesh_kv_check(const unsigned char *p, size_t n, ntg_error *err);
/* The `index`-th value of `key` copied into out (NUL-terminated); 0 when found, -1 when not. */
int ntg__mesh_kv_get(const unsigned char *p, size_t n, const char *key, size_t index, char *out,
                     size_t cap);
/* An integer value in [lo, hi]: NTG_OK, or NTG_ERR_DATA (absent, malformed or out of range,
 * naming the key). */
ntg_status ntg__mesh_kv_int(const unsigned char *p, size_t n, const char *key, long long lo,
                            long long hi, long long *out, ntg_error *err);

/* What a HELLO says. */
typedef struct ntg__mesh_hello {
    int rank, world;          /* claimed (from the launcher); -1 / 0 when joining */
    long pid;                 /* the sender's process id */
    char host[64];            /* its host name */
    char ring[128];           /* "tcp://ADDR:PORT" its ring PULL socket listens on */
    char key[41];             /* its CURVE public key (Z85), "" without keys */
    uint32_t prev_generation; /* re-forming: the generation it was in (0: none) */
    int prev_rank;            /* re-forming: its rank there (-1: none) */
} ntg__mesh_hello;

/* Serialise / parse a HELLO payload.  The parser checks every field (host and key
 * characters, a tcp:// endpoint, ranges); NTG_ERR_DATA names the first bad one. */
size_t ntg__mesh_hello_write(const ntg__mesh_hello *h, char *out, size_t cap);
ntg_status ntg__mesh_hello_parse(const unsigned char *p, size_t n, ntg__mesh_hello *h,
                                 ntg_error *err);

/* One peer of a layout (WELCOME): the hello fields that the others need. */
typedef struct ntg__mesh_peer_info {
    int rank;
    long pid;
    char host[64];
    char ring[128];
    char key[41];
} ntg__mesh_peer_info;

/* Serialise a WELCOME payload (generation, the receiver's rank, world, the ring frame size
 * rank 0 chose, one "peer" line per rank in rank order); returns the bytes needed (write again
 * with a larger `cap` when the result is >= cap). */
size_t ntg__mesh_welcome_write(uint32_t generation, int rank, int world, uint64_t chunk_bytes,
                               const ntg__mesh_peer_info *peers, char *out, size_t cap);
/* Parse a WELCOME into `peers` (room for max_world entries): checks that world fits, that the
 * peer lines are exactly ranks 0..world-1 in order, each field as in the hello parser, and a
 * frame size of 64 bytes .. NTG__MESH_MAX_DATA_PAYLOAD, a multiple of 4. */
ntg_status ntg__mesh_welcome_parse(const unsigned char *p, size_t n, uint32_t *generation,
                                   int *rank, int *world, uint64_t *chunk_bytes,
                                   ntg__mesh_peer_info *peers, int max_world, ntg_error *err);

/* Checks the parsers share, also used on configuration. */
int ntg__mesh_valid_host(const char *s);     /* [A-Za-z0-9._:-], 1..63 chars */
int ntg__mesh_valid_endpoint(const char *s); /* "tcp://" host-or-[v6] ":" port 1..65535 */
int ntg__mesh_valid_key(const char *s);      /* 40 Z85 characters */

/* --------------------------------------------------------------- the ring schedule */

/*
 * The ring all-reduce of `total` elements over `world` ranks (docs/mesh.md, "Reduction
 * order"): the buffer is cut into `world` segments (the first total % world one element
 * longer), each segment into chunks of at most `chunk` elements.  Ring step s (phase) of
 * 2(world-1): during reduce-scatter (s < world-1) rank r sends segment (r - s) mod world and
 * receives segment (r - s - 1) mod world, which it adds to its own; during all-gather
 * (s' = s - (world-1)) it sends segment (r + 1 - s') and receives (r - s'), which it copies.
 * A chunk received at step s is the chunk sent at step s+1, so chunks flow through the ring
 * one by one and every rank sends and receives in step-major, chunk-minor order.  Segment j's
 * sum is therefore ((x_j + x_{j+1}) + x_{j+2}) + ... + x_{j+world-1} (ranks mod world) on every
 * rank and every run.
 *
 * A broadcast (kind 1) is a chain 0 -> 1 -> ... -> world-1 over the same links: rank 0 sends
 * every chunk, the others receive each and forward it unless they are last.
 */
typedef struct ntg__mesh_sched {
    int rank, world, kind; /* kind 0 all-reduce, 1 broadcast */
    uint64_t total, chunk;
    uint32_t step0;         /* the first ring step this schedule runs (a part: see below) */
    uint32_t steps;         /* one past the last: 2(world-1) for all-reduce, 1 for broadcast */
    uint64_t sends, recvs;  /* frames this rank sends and receives in all */
    const uint64_t *bounds; /* NULL: the even cut; else segment j is [bounds[j], bounds[j+1]) */
} ntg__mesh_sched;

/* Parts of an all-reduce (ntg__mesh_sched_init_part): the whole, its reduce-scatter alone
 * (ring steps 0 .. world-2: afterwards rank r holds the sum of segment (r + 1) mod world,
 * ntg__mesh_sched_owned), or its all-gather alone (steps world-1 .. 2(world-1)-1: rank r
 * sends its segment (r + 1) mod world as it is and receives every other one).  The frames of a
 * part are exactly the frames of those steps of the whole. */
enum { NTG__MESH_PART_ALL = 0, NTG__MESH_PART_REDUCE = 1, NTG__MESH_PART_GATHER = 2 };

/* A cursor over the frames of one direction, in the order they travel. */
typedef struct ntg__mesh_cursor {
    uint32_t step;  /* ring step (phase) */
    uint64_t chunk; /* chunk index within the step's segment */
    uint64_t index; /* frames before this one */
} ntg__mesh_cursor;

/* Set up the schedule; NTG_ERR_INVALID_ARG for world outside 1..NTG__MESH_MAX_WORLD, rank
 * outside 0..world-1, chunk 0, total above NTG__MESH_MAX_TOTAL. */
ntg_status ntg__mesh_sched_init(ntg__mesh_sched *s, int kind, int rank, int world, uint64_t total,
                                uint64_t chunk, ntg_error *err);
/* An all-reduce's part (NTG__MESH_PART_*) with the caller's segment bounds (world + 1 values,
 * 0 = bounds[0] <= bounds[1] <= ... <= bounds[world] = total; NULL: the even cut), which the
 * schedule keeps pointing to.  NTG_ERR_INVALID_ARG as sched_init, and for bounds that do not
 * cut [0, total). */
ntg_status ntg__mesh_sched_init_part(ntg__mesh_sched *s, int rank, int world, uint64_t total,
                                     uint64_t chunk, const uint64_t *bounds, int part,
                                     ntg_error *err);
/* The segment rank r holds summed after the reduce-scatter (and sends first in the
 * all-gather): (r + 1) mod world. */
int ntg__mesh_sched_owned(int rank, int world);
/* First element and length of segment j. */
void ntg__mesh_sched_segment(const ntg__mesh_sched *s, int j, uint64_t *start, uint64_t *len);
/* Segment this rank sends (dir 0) or receives (dir 1) at ring step `step`. */
int ntg__mesh_sched_seg_at(const ntg__mesh_sched *s, int dir, uint32_t step);
/* Chunks of segment j. */
uint64_t ntg__mesh_sched_chunks(const ntg__mesh_sched *s, int j);
/* Start a cursor for direction dir (0 send, 1 receive) at the first frame; the cursor's
 * frame is (step, chunk) unless index == sends / recvs (the end). */
void ntg__mesh_cursor_start(const ntg__mesh_sched *s, int dir, ntg__mesh_cursor *c);
void ntg__mesh_cursor_next(const ntg__mesh_sched *s, int dir, ntg__mesh_cursor *c);
/* The elements of the cursor's frame: offset, count and the message type it travels as. */
void ntg__mesh_cursor_frame(const ntg__mesh_sched *s, int dir, const ntg__mesh_cursor *c,
                            uint64_t *offset, uint32_t *count, unsigned *type);

/* Check a decoded data frame against the receive cursor of a schedule: its type, phase,
 * offset, count and total must be exactly the next frame expected.  NTG_ERR_DATA naming the
 * difference ("ring step 2 chunk 0 expected at offset 300 (100 elements); the frame is
 * step 2 at offset 400 (100 elements)"). */
ntg_status ntg__mesh_sched_expect(const ntg__mesh_sched *s, const ntg__mesh_cursor *c,
                                  const ntg__mesh_msg *m, ntg_error *err);

#endif /* NTG_MESH_PROTO_H */
