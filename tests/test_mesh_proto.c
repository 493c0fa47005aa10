/* test_mesh_proto.c — the mesh wire format: frames, payloads, the ring schedule, the fuzz seeds. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh_proto.h"
#include "testutil.h"

#define NTG_FUZZ_SEEDS 1
#include "../fuzz/fuzz_mesh_msg.c"

/* A frame: header from h (payload_bytes set from n) + payload, in a malloc'ed buffer. */
static unsigned char *frame(const ntg__mesh_msg *h, const void *payload, size_t n, size_t *size)
{
    unsigned char *f = malloc(NTG__MESH_HEADER + n + 1);
    ntg__mesh_msg m = *h;
    m.payload_bytes = (uint32_t)n;
    ntg__mesh_msg_write_header(f, &m);
    if (n) memcpy(f + NTG__MESH_HEADER, payload, n);
    *size = NTG__MESH_HEADER + n;
    return f;
}

static ntg__mesh_msg data_header(unsigned type, uint64_t offset, uint64_t total, uint32_t count)
{
    ntg__mesh_msg h;
    memset(&h, 0, sizeof h);
    h.type = (uint8_t)type;
    h.dtype = type == NTG__MSG_BCAST ? NTG__MESH_DT_BYTES : NTG__MESH_DT_F32;
    h.generation = 3;
    h.sender = 1;
    h.step = 42;
    h.bucket = 7;
    h.offset = offset;
    h.total = total;
    h.count = count;
    return h;
}

/* Decoding `f` fails with a message containing `want`. */
static void refused(const unsigned char *f, size_t size, const char *want)
{
    ntg__mesh_msg m;
    ntg_error err;
    ntg_status st = ntg__mesh_msg_decode(f, size, &m, &err);
    cr_assert_eq(st, NTG_ERR_DATA, "accepted a frame that should fail with '%s'", want);
    cr_assert(strstr(err.message, want), "message '%s' lacks '%s'", err.message, want);
}

Test(mesh, a_frame_round_trips_every_header_field)
{
    float v[3] = {1.5f, -2.0f, 3.25f};
    ntg__mesh_msg h = data_header(NTG__MSG_GATHER, 9, 20, 3);
    h.phase = 5;
    size_t size;
    unsigned char *f = frame(&h, v, sizeof v, &size);
    /* little-endian "NTGM" first */
    cr_assert_eq(memcmp(f, "NTGM", 4), 0);
    ntg__mesh_msg m;
    cr_assert_eq(ntg__mesh_msg_decode(f, size, &m, NULL), NTG_OK);
    cr_assert_eq(m.type, NTG__MSG_GATHER);
    cr_assert_eq(m.dtype, NTG__MESH_DT_F32);
    cr_assert_eq(m.generation, 3);
    cr_assert_eq(m.sender, 1);
    cr_assert_eq(m.step, 42);
    cr_assert_eq(m.bucket, 7);
    cr_assert_eq(m.phase, 5);
    cr_assert_eq(m.offset, 9);
    cr_assert_eq(m.total, 20);
    cr_assert_eq(m.count, 3);
    cr_assert_eq(m.payload_bytes, 12);
    cr_assert_eq(m.payload, f + NTG__MESH_HEADER);
    cr_assert_eq(memcmp(m.payload, v, 12), 0);
    free(f);
}

Test(mesh, malformed_frames_are_refused_with_a_reason)
{
    float v[4] = {0};
    size_t size;
    ntg__mesh_msg h = data_header(NTG__MSG_REDUCE, 0, 8, 4);
    unsigned char *f = frame(&h, v, sizeof v, &size);

    refused(f, 10, "shorter than the 56-byte header");
    refused(f, 0, "shorter than the 56-byte header");

    unsigned char *g = malloc(size);
    memcpy(g, f, size);
    g[0] = 'X';
    refused(g, size, "bad magic");
    memcpy(g, f, size);
    g[4] = 2;
    refused(g, size, "protocol version 2");
    memcpy(g, f, size);
    g[6] = 99;
    refused(g, size, "unknown message type 99");
    memcpy(g, f, size);
    g[30] = 2;
    refused(g, size, "flags 0x0002 (only 0x0001, in place, is defined)");
    /* in place (flag 1): the payload is the sender's 8-byte scale, nothing else */
    memcpy(g, f, size);
    g[30] = 1;
    refused(g, size, "reduce frame in place: 4 elements with 16 payload bytes (expected 8");
    free(g);
    {
        double scale = 0.5;
        ntg__mesh_msg ip = data_header(NTG__MSG_GATHER, 0, 8, 4);
        ip.flags = NTG__MESH_FLAG_IN_PLACE;
        size_t isz;
        unsigned char *fi = frame(&ip, &scale, sizeof scale, &isz);
        ntg__mesh_msg m;
        cr_assert_eq(ntg__mesh_msg_decode(fi, isz, &m, NULL), NTG_OK);
        cr_assert_eq(m.flags, NTG__MESH_FLAG_IN_PLACE);
        cr_assert_eq(m.count, 4);
        fi[6] = NTG__MSG_BCAST;
        fi[7] = NTG__MESH_DT_BYTES;
        refused(fi, isz, "in place: reduce and gather frames only");
        free(fi);
    }
    g = malloc(size);
    /* the payload length must match the frame: a truncated frame, a longer one */
    refused(f, size - 1, "header says 16 payload bytes, the frame has 15");
    free(g);
    free(f);

    h = data_header(NTG__MSG_REDUCE, 0, 8, 4);
    h.dtype = NTG__MESH_DT_BYTES;
    f = frame(&h, v, sizeof v, &size);
    refused(f, size, "dtype 2 (expected 1)");
    free(f);

    h = data_header(NTG__MSG_REDUCE, 0, 8, 5); /* 5 floats are not 16 bytes */
    f = frame(&h, v, sizeof v, &size);
    refused(f, size, "5 elements of 4 bytes do not make 16 payload bytes");
    free(f);

    h = data_header(NTG__MSG_REDUCE, 6, 8, 4); /* elements 6..10 of 8 */
    f = frame(&h, v, sizeof v, &size);
    refused(f, size, "elements 6..10 lie outside a buffer of 8");
    free(f);

    h = data_header(NTG__MSG_REDUCE, UINT64_MAX - 1, 8, 4); /* offset + count wraps */
    f = frame(&h, v, sizeof v, &size);
    refused(f, size, "lie outside a buffer of 8");
    free(f);

    h = data_header(NTG__MSG_REDUCE, 0, (uint64_t)1 << 50, 4);
    f = frame(&h, v, sizeof v, &size);
    refused(f, size, "buffer of 1125899906842624 elements");
    free(f);

    h = data_header(NTG__MSG_GATHER, 0, 8, 0);
    f = frame(&h, NULL, 0, &size);
    refused(f, size, "0 elements of 4 bytes");
    free(f);

    /* a control frame with data fields */
    memset(&h, 0, sizeof h);
    h.type = NTG__MSG_HEARTBEAT;
    h.count = 3;
    f = frame(&h, NULL, 0, &size);
    refused(f, size, "heartbeat frame (control) with data fields set");
    free(f);

    memset(&h, 0, sizeof h);
    h.type = NTG__MSG_HEARTBEAT;
    h.sender = 5000;
    f = frame(&h, NULL, 0, &size);
    refused(f, size, "from rank 5000");
    free(f);
}

Test(mesh, key_value_payloads_are_checked_before_use)
{
    const char *ok = "rank=3\nhost=a.b\npeer=1\npeer=2\n";
    cr_assert_eq(ntg__mesh_kv_check((const unsigned char *)ok, strlen(ok), NULL), NTG_OK);
    char v[16];
    cr_assert_eq(ntg__mesh_kv_get((const unsigned char *)ok, strlen(ok), "peer", 1, v, sizeof v),
                 0);
    cr_assert_str_eq(v, "2");
    cr_assert_eq(ntg__mesh_kv_get((const unsigned char *)ok, strlen(ok), "peer", 2, v, sizeof v),
                 -1);
    /* "rank" is not found inside "prank" or as a prefix of another key */
    const char *tricky = "ranks=9\nxrank=8\n";
    cr_assert_eq(
        ntg__mesh_kv_get((const unsigned char *)tricky, strlen(tricky), "rank", 0, v, sizeof v),
        -1);
    long long x;
    ntg_error err;
    cr_assert_eq(ntg__mesh_kv_int((const unsigned char *)ok, strlen(ok), "rank", 0, 2, &x, &err),
                 NTG_ERR_DATA);
    cr_assert(strstr(err.message, "'rank=3' is outside 0..2"), "%s", err.message);
    cr_assert_eq(ntg__mesh_kv_int((const unsigned char *)ok, strlen(ok), "host", 0, 9, &x, &err),
                 NTG_ERR_DATA);
    cr_assert(strstr(err.message, "'host=a.b' is not an integer"), "%s", err.message);

    struct {
        const char *text, *why;
    } bad[] = {
        {"rank\n", "'=' expected"},   {"Rank=1\n", "a key of 1..31"},
        {"=1\n", "a key of 1..31"},   {"rank=1", "not terminated by a newline"},
        {"rank=\x01\n", "byte 0x01"}, {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1\n", "a key of 1..31"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(
            ntg__mesh_kv_check((const unsigned char *)bad[i].text, strlen(bad[i].text), &err),
            NTG_ERR_DATA, "accepted '%s'", bad[i].text);
        cr_assert(strstr(err.message, bad[i].why), "'%s': %s", bad[i].text, err.message);
    }
    char longv[400];
    memset(longv, 'a', sizeof longv);
    memcpy(longv, "k=", 2);
    longv[sizeof longv - 1] = '\n';
    cr_assert_eq(ntg__mesh_kv_check((const unsigned char *)longv, sizeof longv, &err),
                 NTG_ERR_DATA);
    cr_assert(strstr(err.message, "limit 255"), "%s", err.message);
}

Test(mesh, hello_and_welcome_round_trip_and_refuse_bad_fields)
{
    ntg__mesh_hello h = {3, 4, 777, "gpu-a.cluster", "tcp://10.1.2.3:5555", "", 2, 1};
    char text[1024];
    size_t n = ntg__mesh_hello_write(&h, text, sizeof text);
    ntg__mesh_hello back;
    cr_assert_eq(ntg__mesh_hello_parse((const unsigned char *)text, n, &back, NULL), NTG_OK);
    cr_assert_eq(back.rank, 3);
    cr_assert_eq(back.world, 4);
    cr_assert_eq(back.pid, 777);
    cr_assert_str_eq(back.host, "gpu-a.cluster");
    cr_assert_str_eq(back.ring, "tcp://10.1.2.3:5555");
    cr_assert_str_eq(back.key, "");
    cr_assert_eq(back.prev_generation, 2);
    cr_assert_eq(back.prev_rank, 1);

    ntg_error err;
    const char *bad_host = "rank=1\nworld=2\npid=5\nhost=a b\nring=tcp://h:1\nkey=\n"
                           "prev_generation=0\nprev_rank=-1\n";
    cr_assert_eq(
        ntg__mesh_hello_parse((const unsigned char *)bad_host, strlen(bad_host), &back, &err),
        NTG_ERR_DATA);
    cr_assert(strstr(err.message, "'host=a b' is not a valid host"), "%s", err.message);
    const char *bad_ring = "rank=1\nworld=2\npid=5\nhost=a\nring=ipc:///tmp/x\nkey=\n"
                           "prev_generation=0\nprev_rank=-1\n";
    cr_assert_eq(
        ntg__mesh_hello_parse((const unsigned char *)bad_ring, strlen(bad_ring), &back, &err),
        NTG_ERR_DATA);
    cr_assert(strstr(err.message, "not a valid ring"), "%s", err.message);
    const char *bad_rank = "rank=2\nworld=2\npid=5\nhost=a\nring=tcp://h:1\nkey=\n"
                           "prev_generation=0\nprev_rank=-1\n";
    cr_assert_eq(
        ntg__mesh_hello_parse((const unsigned char *)bad_rank, strlen(bad_rank), &back, &err),
        NTG_ERR_DATA);
    cr_assert(strstr(err.message, "rank 2 of a world of 2"), "%s", err.message);

    ntg__mesh_peer_info peers[3] = {
        {0, 10, "a", "tcp://127.0.0.1:1000", ""},
        {1, 11, "b", "tcp://127.0.0.1:1001", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"},
        {2, 12, "c", "tcp://[::1]:1002", ""},
    };
    n = ntg__mesh_welcome_write(5, 2, 3, 4096, peers, text, sizeof text);
    cr_assert_lt(n, sizeof text);
    ntg__mesh_peer_info got[3];
    uint32_t gen;
    int rank, world;
    uint64_t chunk;
    cr_assert_eq(ntg__mesh_welcome_parse((const unsigned char *)text, n, &gen, &rank, &world,
                                         &chunk, got, 3, &err),
                 NTG_OK, "%s", err.message);
    cr_assert_eq(gen, 5);
    cr_assert_eq(rank, 2);
    cr_assert_eq(world, 3);
    cr_assert_eq(chunk, 4096);
    cr_assert_str_eq(got[1].key, peers[1].key);
    cr_assert_str_eq(got[2].ring, "tcp://[::1]:1002");
    cr_assert_eq(got[2].pid, 12);
    /* room for fewer peers than the world */
    cr_assert_eq(ntg__mesh_welcome_parse((const unsigned char *)text, n, &gen, &rank, &world,
                                         &chunk, got, 2, &err),
                 NTG_ERR_DATA);
    cr_assert(strstr(err.message, "a layout of 3 ranks (room for 2)"), "%s", err.message);
    /* a layout with a peer missing, and one with them out of order */
    n = ntg__mesh_welcome_write(5, 1, 2, 4096, peers, text, sizeof text);
    char *p = strstr(text, "world=2");
    p[6] = '3';
    cr_assert_eq(ntg__mesh_welcome_parse((const unsigned char *)text, n, &gen, &rank, &world,
                                         &chunk, got, 3, &err),
                 NTG_ERR_DATA);
    cr_assert(strstr(err.message, "lists 2 peers for a world of 3"), "%s", err.message);
    n = ntg__mesh_welcome_write(5, 1, 2, 4096, peers, text, sizeof text);
    p = strstr(text, "peer=1 ");
    p[5] = '0';
    cr_assert_eq(ntg__mesh_welcome_parse((const unsigned char *)text, n, &gen, &rank, &world,
                                         &chunk, got, 3, &err),
                 NTG_ERR_DATA);
    cr_assert(strstr(err.message, "peer line 1 names rank '0'"), "%s", err.message);
}

/* ------------------------------------------------------------- schedule */

/* The frames of one direction of one rank, in order. */
typedef struct frame_list {
    uint64_t n;
    uint32_t step[4096];
    uint64_t off[4096];
    uint32_t cnt[4096];
    unsigned type[4096];
} frame_list;

static void list_frames(const ntg__mesh_sched *s, int dir, frame_list *l)
{
    ntg__mesh_cursor c;
    ntg__mesh_cursor_start(s, dir, &c);
    l->n = 0;
    uint64_t total = dir == 0 ? s->sends : s->recvs;
    while (c.index < total) {
        cr_assert_lt(l->n, 4096);
        l->step[l->n] = c.step;
        ntg__mesh_cursor_frame(s, dir, &c, &l->off[l->n], &l->cnt[l->n], &l->type[l->n]);
        l->n++;
        ntg__mesh_cursor_next(s, dir, &c);
    }
}

Test(mesh, each_rank_receives_exactly_what_its_previous_rank_sends)
{
    static frame_list a, b;
    const uint64_t totals[] = {0, 1, 2, 3, 5, 7, 10, 64, 101, 1000};
    const uint64_t chunks[] = {1, 3, 16, 1000};
    for (int kind = 0; kind < 2; kind++)
        for (int world = 1; world <= 5; world++)
            for (size_t t = 0; t < sizeof totals / sizeof totals[0]; t++)
                for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
                    for (int r = 0; r < world; r++) {
                        ntg__mesh_sched sp, sr;
                        int prev = (r + world - 1) % world;
                        cr_assert_eq(ntg__mesh_sched_init(&sp, kind, prev, world, totals[t],
                                                          chunks[c], NULL),
                                     NTG_OK);
                        cr_assert_eq(
                            ntg__mesh_sched_init(&sr, kind, r, world, totals[t], chunks[c], NULL),
                            NTG_OK);
                        list_frames(&sp, 0, &a);
                        list_frames(&sr, 1, &b);
                        /* broadcast: the last rank sends nothing to rank 0 */
                        if (kind == 1 && r == 0) {
                            cr_assert_eq(b.n, 0);
                            continue;
                        }
                        cr_assert_eq(a.n, b.n, "kind %d world %d total %llu chunk %llu rank %d",
                                     kind, world, (unsigned long long)totals[t],
                                     (unsigned long long)chunks[c], r);
                        for (uint64_t i = 0; i < a.n; i++) {
                            cr_assert_eq(a.step[i], b.step[i]);
                            cr_assert_eq(a.off[i], b.off[i]);
                            cr_assert_eq(a.cnt[i], b.cnt[i]);
                            cr_assert_eq(a.type[i], b.type[i]);
                            cr_assert_leq(a.cnt[i], chunks[c]);
                            cr_assert_gt(a.cnt[i], 0);
                        }
                    }
}

/* ZeRO-1's parts (mesh_proto.h): with the caller's segment bounds (empty segments included),
 * the reduce-scatter's frames then the all-gather's are exactly the whole all-reduce's, on each
 * side of every link; the owned segment is (rank + 1) mod world; bad bounds are refused. */
Test(mesh, all_reduce_parts_are_the_whole_cut_in_two)
{
    static frame_list whole, rs, ag, prev_rs;
    const uint64_t b3[][4] = {{0, 0, 5, 10}, {0, 10, 10, 10}, {0, 3, 4, 10}, {0, 0, 0, 10}};
    const uint64_t chunks[] = {1, 2, 100};
    for (size_t k = 0; k < sizeof b3 / sizeof b3[0]; k++)
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
            for (int r = 0; r < 3; r++)
                for (int dir = 0; dir < 2; dir++) {
                    ntg__mesh_sched sw, sr, sg, sp;
                    cr_assert_eq(ntg__mesh_sched_init_part(&sw, r, 3, 10, chunks[c], b3[k],
                                                           NTG__MESH_PART_ALL, NULL),
                                 NTG_OK);
                    cr_assert_eq(ntg__mesh_sched_init_part(&sr, r, 3, 10, chunks[c], b3[k],
                                                           NTG__MESH_PART_REDUCE, NULL),
                                 NTG_OK);
                    cr_assert_eq(ntg__mesh_sched_init_part(&sg, r, 3, 10, chunks[c], b3[k],
                                                           NTG__MESH_PART_GATHER, NULL),
                                 NTG_OK);
                    list_frames(&sw, dir, &whole);
                    list_frames(&sr, dir, &rs);
                    list_frames(&sg, dir, &ag);
                    cr_assert_eq(rs.n + ag.n, whole.n, "bounds %zu chunk %llu rank %d dir %d", k,
                                 (unsigned long long)chunks[c], r, dir);
                    for (uint64_t i = 0; i < whole.n; i++) {
                        const frame_list *f = i < rs.n ? &rs : &ag;
                        uint64_t j = i < rs.n ? i : i - rs.n;
                        cr_assert_eq(f->step[j], whole.step[i]);
                        cr_assert_eq(f->off[j], whole.off[i]);
                        cr_assert_eq(f->cnt[j], whole.cnt[i]);
                        cr_assert_eq(f->type[j], whole.type[i]);
                        cr_assert_eq(f->type[j], i < rs.n ? NTG__MSG_REDUCE : NTG__MSG_GATHER);
                    }
                    /* what the previous rank's reduce-scatter sends is what this one receives */
                    if (dir == 1) {
                        cr_assert_eq(ntg__mesh_sched_init_part(&sp, (r + 2) % 3, 3, 10, chunks[c],
                                                               b3[k], NTG__MESH_PART_REDUCE, NULL),
                                     NTG_OK);
                        list_frames(&sp, 0, &prev_rs);
                        cr_assert_eq(prev_rs.n, rs.n);
                        for (uint64_t i = 0; i < rs.n; i++) cr_assert_eq(prev_rs.off[i], rs.off[i]);
                    }
                    /* the last reduce-scatter step's segment, received, is the owned one */
                    int own = ntg__mesh_sched_owned(r, 3);
                    if (dir == 1 && b3[k][own + 1] > b3[k][own]) {
                        cr_assert_gt(rs.n, 0);
                        cr_assert_eq(rs.step[rs.n - 1], 1);
                        cr_assert(rs.off[rs.n - 1] >= b3[k][own] &&
                                  rs.off[rs.n - 1] < b3[k][own + 1]);
                    }
                }
    ntg__mesh_sched s;
    const uint64_t bad1[] = {0, 6, 5, 10}, bad2[] = {0, 3, 4, 9}, bad3[] = {1, 3, 4, 10};
    ntg_error err;
    cr_expect_eq(ntg__mesh_sched_init_part(&s, 0, 3, 10, 4, bad1, NTG__MESH_PART_ALL, &err),
                 NTG_ERR_INVALID_ARG);
    cr_expect(strstr(err.message, "segment 1 ends before it starts"), "%s", err.message);
    cr_expect_eq(ntg__mesh_sched_init_part(&s, 0, 3, 10, 4, bad2, NTG__MESH_PART_ALL, &err),
                 NTG_ERR_INVALID_ARG);
    cr_expect_eq(ntg__mesh_sched_init_part(&s, 0, 3, 10, 4, bad3, NTG__MESH_PART_ALL, &err),
                 NTG_ERR_INVALID_ARG);
    cr_expect_eq(ntg__mesh_sched_init_part(&s, 0, 3, 10, 4, NULL, 3, &err), NTG_ERR_INVALID_ARG);
}

/* The ring run in one process: ranks exchange frames through queues, in the order the I/O
 * thread would (sends enabled by receipts), with the real schedule.  Checks the result against
 * the documented order, bitwise. */
Test(mesh, the_ring_sums_in_the_documented_order)
{
    enum { MAXW = 5, N = 103 };
    const uint64_t chunks[] = {1, 4, 7, 200};
    for (int world = 1; world <= MAXW; world++)
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            static float x[MAXW][N], buf[MAXW][N];
            tu_rng rng = {(uint64_t)world * 1000 + c};
            for (int r = 0; r < world; r++) {
                /* wide magnitudes make additions round, so an order change shows */
                for (int i = 0; i < N; i++)
                    x[r][i] = (float)tu_uniform(&rng, -1, 1) * (float)(1 << (tu_next(&rng) % 20));
                memcpy(buf[r], x[r], sizeof buf[r]);
            }
            ntg__mesh_sched s[MAXW];
            ntg__mesh_cursor sc[MAXW], rc[MAXW];
            uint64_t sent[MAXW] = {0}, recvd[MAXW] = {0};
            /* in-flight frames per link r -> r+1, copied when sent */
            static float q[MAXW][4096][200];
            static uint64_t qoff[MAXW][4096];
            static uint32_t qcnt[MAXW][4096];
            uint64_t qhead[MAXW] = {0}, qtail[MAXW] = {0};
            for (int r = 0; r < world; r++) {
                ntg__mesh_sched_init(&s[r], 0, r, world, N, chunks[c], NULL);
                ntg__mesh_cursor_start(&s[r], 0, &sc[r]);
                ntg__mesh_cursor_start(&s[r], 1, &rc[r]);
            }
            for (int progress = 1; progress;) {
                progress = 0;
                for (int r = 0; r < world; r++) {
                    uint64_t first =
                        ntg__mesh_sched_chunks(&s[r], ntg__mesh_sched_seg_at(&s[r], 0, 0));
                    uint64_t enabled =
                        first + recvd[r] < s[r].sends ? first + recvd[r] : s[r].sends;
                    while (sent[r] < enabled) {
                        uint64_t off;
                        uint32_t cnt;
                        unsigned type;
                        ntg__mesh_cursor_frame(&s[r], 0, &sc[r], &off, &cnt, &type);
                        memcpy(q[r][qtail[r]], &buf[r][off], cnt * sizeof(float));
                        qoff[r][qtail[r]] = off;
                        qcnt[r][qtail[r]] = cnt;
                        qtail[r]++;
                        sent[r]++;
                        ntg__mesh_cursor_next(&s[r], 0, &sc[r]);
                        progress = 1;
                    }
                }
                for (int r = 0; r < world; r++) {
                    int prev = (r + world - 1) % world;
                    while (qhead[prev] < qtail[prev]) {
                        uint64_t k = qhead[prev]++;
                        ntg__mesh_msg m;
                        memset(&m, 0, sizeof m);
                        uint64_t off;
                        uint32_t cnt;
                        unsigned type;
                        ntg__mesh_cursor_frame(&s[r], 1, &rc[r], &off, &cnt, &type);
                        m.type = (uint8_t)type;
                        m.phase = (uint16_t)rc[r].step;
                        m.offset = qoff[prev][k];
                        m.count = qcnt[prev][k];
                        m.total = N;
                        cr_assert_eq(ntg__mesh_sched_expect(&s[r], &rc[r], &m, NULL), NTG_OK);
                        for (uint32_t i = 0; i < m.count; i++) {
                            if (type == NTG__MSG_REDUCE)
                                buf[r][m.offset + i] = buf[r][m.offset + i] + q[prev][k][i];
                            else
                                buf[r][m.offset + i] = q[prev][k][i];
                        }
                        recvd[r]++;
                        ntg__mesh_cursor_next(&s[r], 1, &rc[r]);
                        progress = 1;
                    }
                }
            }
            for (int r = 0; r < world; r++) {
                cr_assert_eq(sent[r], s[r].sends);
                cr_assert_eq(recvd[r], s[r].recvs);
            }
            /* segment j: ((x_j + x_{j+1}) + ...) + x_{j+world-1} */
            for (int j = 0; j < world; j++) {
                uint64_t start, len;
                ntg__mesh_sched_segment(&s[0], j, &start, &len);
                for (uint64_t i = start; i < start + len; i++) {
                    float acc = x[j][i];
                    for (int t = 1; t < world; t++) acc = acc + x[(j + t) % world][i];
                    for (int r = 0; r < world; r++)
                        cr_assert(memcmp(&acc, &buf[r][i], sizeof acc) == 0,
                                  "world %d chunk %llu rank %d element %llu: %a, expected %a",
                                  world, (unsigned long long)chunks[c], r, (unsigned long long)i,
                                  (double)buf[r][i], (double)acc);
                }
            }
        }
}

Test(mesh, schedules_refuse_bad_shapes)
{
    ntg__mesh_sched s;
    ntg_error err;
    cr_assert_eq(ntg__mesh_sched_init(&s, 0, 3, 3, 10, 4, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "rank 3 of a world of 3"), "%s", err.message);
    cr_assert_eq(ntg__mesh_sched_init(&s, 0, 0, 0, 10, 4, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg__mesh_sched_init(&s, 0, 0, 2, 10, 0, &err), NTG_ERR_INVALID_ARG);
    /* a data frame that is not the next one expected is named */
    cr_assert_eq(ntg__mesh_sched_init(&s, 0, 1, 2, 10, 3, NULL), NTG_OK);
    ntg__mesh_cursor c;
    ntg__mesh_cursor_start(&s, 1, &c);
    ntg__mesh_msg m = data_header(NTG__MSG_REDUCE, 3, 10, 3);
    cr_assert_eq(ntg__mesh_sched_expect(&s, &c, &m, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "expected reduce step 0 at offset 0 (3 of 10 elements); the "
                                  "frame is reduce step 0 at offset 3 (3 of 10 elements)"),
              "%s", err.message);
    m = data_header(NTG__MSG_REDUCE, 0, 11, 3);
    cr_assert_eq(ntg__mesh_sched_expect(&s, &c, &m, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "(3 of 11 elements)"), "%s", err.message);
}

/* -------------------------------------------------------------- fuzz seeds */

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    unsigned char *b = malloc(1 << 16);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

Test(mesh, the_fuzz_seed_corpus_replays_and_survives_mutations)
{
    char dir[] = "/tmp/ntg-mesh-seeds-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int seeds = ntg_fuzz_mesh_seeds(dir);
    cr_assert_eq(seeds, 10);
    DIR *d = opendir(dir);
    struct dirent *de;
    int replayed = 0;
    tu_rng rng = {7};
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t n;
        unsigned char *b = read_all(path, &n);
        /* every seed is a valid frame */
        ntg__mesh_msg m;
        ntg_error err;
        cr_assert_eq(ntg__mesh_msg_decode(b, n, &m, &err), NTG_OK, "%s: %s", de->d_name,
                     err.message);
        LLVMFuzzerTestOneInput(b, n);
        /* every truncation, every single-bit flip of the header and the first payload bytes,
         * and random overwrites: none may crash the decoder or the parsers */
        for (size_t k = 0; k < n; k++) LLVMFuzzerTestOneInput(b, k);
        size_t span = n < 128 ? n : 128;
        for (size_t i = 0; i < span; i++)
            for (int bit = 0; bit < 8; bit++) {
                b[i] ^= (unsigned char)(1u << bit);
                LLVMFuzzerTestOneInput(b, n);
                b[i] ^= (unsigned char)(1u << bit);
            }
        for (int round = 0; round < 200; round++) {
            unsigned char *c = malloc(n);
            memcpy(c, b, n);
            for (int k = 0; k < 4; k++) c[tu_next(&rng) % n] = (unsigned char)tu_next(&rng);
            LLVMFuzzerTestOneInput(c, n);
            free(c);
        }
        free(b);
        unlink(path);
        replayed++;
    }
    closedir(d);
    rmdir(dir);
    cr_assert_eq(replayed, seeds);
}
