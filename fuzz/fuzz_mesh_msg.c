/* fuzz_mesh_msg.c — libFuzzer target: the mesh frame decoder, its payload parsers, the ring checks.
 */
/* NTG_FUZZ_EXTRA_SOURCES: mesh/mesh_proto.c */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_WORLD 64
#define FUZZ_MAX_BUFFER (1u << 16)

/* What a mesh rank does with a frame that decoded: parse its payload, or check a data frame
 * against a receive schedule and apply it to a buffer of exactly `total` elements (so that a
 * decoder letting a bad offset through is an out-of-bounds write ASan sees). */
static void exercise(const ntg__mesh_msg *m)
{
    switch (m->type) {
    case NTG__MSG_HELLO: {
        ntg__mesh_hello h;
        if (ntg__mesh_hello_parse(m->payload, m->payload_bytes, &h, NULL) == NTG_OK) {
            if (!ntg__mesh_valid_host(h.host) || !ntg__mesh_valid_endpoint(h.ring))
                __builtin_trap();
            if (h.key[0] && !ntg__mesh_valid_key(h.key)) __builtin_trap();
            if (h.world > 0 && h.rank >= h.world) __builtin_trap();
        }
        break;
    }
    case NTG__MSG_WELCOME: {
        ntg__mesh_peer_info peers[FUZZ_MAX_WORLD];
        uint32_t gen;
        int rank, world;
        uint64_t chunk;
        if (ntg__mesh_welcome_parse(m->payload, m->payload_bytes, &gen, &rank, &world, &chunk,
                                    peers, FUZZ_MAX_WORLD, NULL) == NTG_OK) {
            if (world < 1 || world > FUZZ_MAX_WORLD || rank < 0 || rank >= world) __builtin_trap();
            for (int r = 0; r < world; r++)
                if (peers[r].rank != r || !ntg__mesh_valid_endpoint(peers[r].ring))
                    __builtin_trap();
        }
        break;
    }
    case NTG__MSG_REFUSE:
    case NTG__MSG_LOST:
    case NTG__MSG_RESET:
        if (ntg__mesh_kv_check(m->payload, m->payload_bytes, NULL) == NTG_OK) {
            char v[NTG__MESH_KV_VALUE_MAX];
            ntg__mesh_kv_get(m->payload, m->payload_bytes, "reason", 0, v, sizeof v);
            long long x;
            ntg__mesh_kv_int(m->payload, m->payload_bytes, "rank", -1, 4096, &x, NULL);
        }
        break;
    case NTG__MSG_REDUCE:
    case NTG__MSG_GATHER:
    case NTG__MSG_BCAST: {
        if (m->total > FUZZ_MAX_BUFFER) break;
        int kind = m->type == NTG__MSG_BCAST ? 1 : 0;
        /* a receiver whose previous rank is the sender, in a world the frame's fields pick */
        int world = 2 + (int)(m->sender % 3);
        int rank = (int)((m->sender + 1) % (uint32_t)world);
        ntg__mesh_sched s;
        if (ntg__mesh_sched_init(&s, kind, rank, world, m->total, m->count, NULL) != NTG_OK) break;
        ntg__mesh_cursor c;
        ntg__mesh_cursor_start(&s, 1, &c);
        for (uint32_t skip = m->bucket % 8; skip > 0 && c.index < s.recvs; skip--)
            ntg__mesh_cursor_next(&s, 1, &c);
        size_t esize = kind ? 1 : 4;
        unsigned char *buf = malloc((size_t)m->total * esize + 1);
        if (!buf) break;
        memset(buf, 0, (size_t)m->total * esize + 1);
        if (ntg__mesh_sched_expect(&s, &c, m, NULL) == NTG_OK) {
            /* a frame the schedule accepts lies where the cursor says */
            uint64_t off;
            uint32_t cnt;
            unsigned type;
            ntg__mesh_cursor_frame(&s, 1, &c, &off, &cnt, &type);
            if (off != m->offset || cnt != m->count || type != m->type) __builtin_trap();
        }
        /* whatever the schedule says, the decoder promised offset + count <= total: apply it */
        if (m->offset + m->count > m->total) __builtin_trap();
        /* a frame in place carries only the sender's scale (8 bytes, the decoder checked): its
         * floats lie in the sender's memory, here a buffer of the whole vector's size */
        int in_place = (m->flags & NTG__MESH_FLAG_IN_PLACE) != 0;
        if (in_place && m->payload_bytes != NTG__MESH_IN_PLACE_PAYLOAD) __builtin_trap();
        unsigned char *peer = in_place ? calloc((size_t)m->total + 1, esize) : NULL;
        if (in_place && !peer) {
            free(buf);
            break;
        }
        const unsigned char *src = in_place ? peer + 4 * (size_t)m->offset : m->payload;
        if (kind)
            memcpy(buf + m->offset, m->payload, m->count);
        else
            for (uint32_t i = 0; i < m->count; i++) {
                float v, d;
                memcpy(&v, src + 4 * (size_t)i, 4);
                memcpy(&d, buf + 4 * (size_t)(m->offset + i), 4);
                d = d + v;
                memcpy(buf + 4 * (size_t)(m->offset + i), &d, 4);
            }
        free(peer);
        free(buf);
        break;
    }
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly `size` bytes, so a read past the end is one ASan sees */
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    ntg__mesh_msg m;
    ntg_error err;
    err.message[0] = '\0';
    if (ntg__mesh_msg_decode(copy, size, &m, &err) == NTG_OK) {
        if (m.payload != copy + NTG__MESH_HEADER || m.payload_bytes != size - NTG__MESH_HEADER)
            __builtin_trap();
        exercise(&m);
        /* a frame that decodes re-encodes to the same header */
        unsigned char h[NTG__MESH_HEADER];
        ntg__mesh_msg_write_header(h, &m);
        if (memcmp(h, copy, NTG__MESH_HEADER) != 0) __builtin_trap();
    } else if (err.message[0] == '\0') {
        __builtin_trap(); /* a refusal always says why */
    }
    free(copy);
    return 0;
}

#if defined(NTG_FUZZ_SEED_MAIN) || defined(NTG_FUZZ_SEEDS)
/* Seed corpus: one valid frame of each kind a mesh sends, written as DIR/NAME.  Returns the
 * number written, -1 on an I/O error. */
static int seed_frame(const char *dir, const char *name, const ntg__mesh_msg *h,
                      const void *payload, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned char hdr[NTG__MESH_HEADER];
    ntg__mesh_msg m = *h;
    m.payload_bytes = (uint32_t)n;
    ntg__mesh_msg_write_header(hdr, &m);
    int bad = fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr || (n && fwrite(payload, 1, n, f) != n);
    return fclose(f) != 0 || bad ? -1 : 0;
}

int ntg_fuzz_mesh_seeds(const char *dir);
int ntg_fuzz_mesh_seeds(const char *dir)
{
    int written = 0;
    ntg__mesh_msg h;
    char text[2048];
    memset(&h, 0, sizeof h);
    h.generation = 1;
    h.sender = NTG__MESH_NO_RANK;

    ntg__mesh_hello hello = {
        2, 4, 4242, "node02", "tcp://10.0.0.2:41234", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
        1, 2};
    size_t n = ntg__mesh_hello_write(&hello, text, sizeof text);
    h.type = NTG__MSG_HELLO;
    if (seed_frame(dir, "hello", &h, text, n) != 0) return -1;
    written++;

    ntg__mesh_peer_info peers[3] = {
        {0, 100, "node01", "tcp://10.0.0.1:40000", ""},
        {1, 101, "node02", "tcp://10.0.0.2:40001", ""},
        {2, 102, "node03", "tcp://[fd00::3]:40002", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"},
    };
    n = ntg__mesh_welcome_write(2, 1, 3, 262144, peers, text, sizeof text);
    h.type = NTG__MSG_WELCOME;
    h.sender = 0;
    h.generation = 2;
    if (seed_frame(dir, "welcome", &h, text, n) != 0) return -1;
    written++;

    const char *lost = "rank=2\nhost=node03\npid=102\nreason=no heartbeat for 5.0 s\n";
    h.type = NTG__MSG_LOST;
    if (seed_frame(dir, "lost", &h, lost, strlen(lost)) != 0) return -1;
    written++;
    h.type = NTG__MSG_REFUSE;
    if (seed_frame(dir, "refuse", &h, "reason=rank 1 is taken\n", 23) != 0) return -1;
    written++;
    h.type = NTG__MSG_HEARTBEAT;
    h.step = 17;
    if (seed_frame(dir, "heartbeat", &h, NULL, 0) != 0) return -1;
    written++;

    /* data frames: the first frame rank 1 of 2 expects from rank 0 for 10 floats, chunks of 3 */
    float vals[5] = {1.0f, -2.5f, 3.25f, 1e-7f, 65504.0f};
    h.type = NTG__MSG_REDUCE;
    h.dtype = NTG__MESH_DT_F32;
    h.sender = 0;
    h.bucket = 3;
    h.total = 10;
    h.offset = 0;
    h.count = 3;
    if (seed_frame(dir, "reduce", &h, vals, 12) != 0) return -1;
    written++;
    h.type = NTG__MSG_GATHER;
    h.phase = 1;
    h.offset = 5;
    h.count = 5;
    if (seed_frame(dir, "gather", &h, vals, 20) != 0) return -1;
    written++;
    /* the same two frames in place (shared memory on one host): the payload is the sender's
     * scale, a little-endian double, and the floats stay in the sender's memory */
    double scale = 0.5;
    h.flags = NTG__MESH_FLAG_IN_PLACE;
    h.type = NTG__MSG_REDUCE;
    h.phase = 0;
    h.offset = 0;
    h.count = 3;
    if (seed_frame(dir, "reduce_in_place", &h, &scale, sizeof scale) != 0) return -1;
    written++;
    scale = 1.0;
    h.type = NTG__MSG_GATHER;
    h.phase = 1;
    h.offset = 5;
    h.count = 5;
    if (seed_frame(dir, "gather_in_place", &h, &scale, sizeof scale) != 0) return -1;
    written++;
    h.flags = 0;
    h.type = NTG__MSG_BCAST;
    h.dtype = NTG__MESH_DT_BYTES;
    h.phase = 0;
    h.offset = 0;
    h.total = 7;
    h.count = 7;
    if (seed_frame(dir, "broadcast", &h, "weights", 7) != 0) return -1;
    written++;
    return written;
}
#endif

#ifdef NTG_FUZZ_SEED_MAIN
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    return ntg_fuzz_mesh_seeds(argv[1]) < 0 ? 1 : 0;
}
#endif
