/* mesh_io.c — the mesh's I/O thread: ring all-reduce and broadcast, barriers, heartbeats, losses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "mesh_int.h"

/* What only the I/O thread touches. */
typedef struct io_state {
    mesh_op *op;            /* the active operation, NULL when idle */
    uint64_t sent;          /* data frames of it sent */
    uint64_t recvd;         /* and received */
    int want_out;           /* the ring PUSH refused a frame: poll for POLLOUT */
    int want_space;         /* the shared-memory ring is full (or frames in place wait to be taken):
                               poll its doorbell */
    uint64_t in_place_upto; /* the active operation's last frame in place (shared-memory frames
                               published up to it), 0: none; it ends once the next rank took it */
    int64_t next_hb;
    int64_t last_tick; /* when the loop last ran: a long gap means this process was stopped */
} io_state;

/* --------------------------------------------------------------- breaking */

static void fail_ops_locked(ntg_mesh *m, ntg_status st, const char *msg)
{
    for (int i = 0; i < NTG__MESH_MAX_OPS; i++) {
        mesh_op *op = &m->ops[i];
        if (op->state == OPS_QUEUED || op->state == OPS_ACTIVE) {
            op->state = OPS_DONE;
            op->status = st;
            snprintf(op->message, sizeof op->message, "%s", msg);
        }
    }
    pthread_cond_broadcast(&m->cv);
}

void ntg__mesh_break(ntg_mesh *m, ntg_status status, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&m->mu);
    if (!m->broken) {
        m->broken = 1;
        m->broken_status = status;
        snprintf(m->broken_msg, sizeof m->broken_msg, "%s", msg);
    }
    fail_ops_locked(m, m->broken_status, m->broken_msg);
    pthread_mutex_unlock(&m->mu);
}

/* Rank 0: tell every live worker (but `except`) a control message with a kv payload. */
static void tell_workers(ntg_mesh *m, unsigned type, int except, const char *payload)
{
    for (int r = 1; r < m->world; r++) {
        mesh_member *mm = &m->members[r];
        if (r != except && mm->alive && !mm->left && mm->rid_len)
            ntg__mesh_send(m, m->rdv, mm->rid, mm->rid_len, type, m->step, payload,
                           strlen(payload));
    }
}

/* A peer is lost: name it, break the generation, tell the others (rank 0). */
static void peer_lost(ntg_mesh *m, int r, const char *reason)
{
    char who[160];
    ntg__mesh_describe(m, r, who, sizeof who);
    m->members[r].alive = 0;
    pthread_mutex_lock(&m->mu);
    m->stats.peers_lost++;
    if (r == 0) m->coordinator_gone = 1;
    pthread_mutex_unlock(&m->mu);
    ntg__mesh_log(m, NTG__MESH_LOG_ERROR, "%s lost: %s; generation %u is broken", who, reason,
                  (unsigned)m->generation);
    if (m->rank == 0) {
        char payload[600];
        const ntg__mesh_peer_info *p = &m->members[r].info;
        snprintf(payload, sizeof payload, "rank=%d\nhost=%s\npid=%ld\nreason=%.200s\n", r, p->host,
                 p->pid, reason);
        tell_workers(m, NTG__MSG_LOST, r, payload);
    }
    ntg__mesh_break(m, NTG_ERR_PEER_LOST, "mesh: %s lost: %s (generation %u)", who, reason,
                    (unsigned)m->generation);
}

/* ------------------------------------------------------------- operations */

/* Forget the active operation once it is no longer active (the generation broke): from then on
 * its buffer belongs to the caller again and nothing may be written into it. */
static void sync_op(ntg_mesh *m, io_state *io)
{
    if (!io->op) return;
    pthread_mutex_lock(&m->mu);
    if (io->op->state != OPS_ACTIVE) io->op = NULL;
    pthread_mutex_unlock(&m->mu);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void op_done(ntg_mesh *m, io_state *io, ntg_status st, const char *msg)
{
    int64_t t = io->op->kind == OPK_ALLREDUCE && st == NTG_OK ? now_ns() - io->op->active_ns : -1;
    pthread_mutex_lock(&m->mu);
    if (io->op->state == OPS_ACTIVE) {
        if (t >= 0) {
            m->stats.allreduces++;
            m->stats.allreduce_ns += (uint64_t)t;
        }
        io->op->state = OPS_DONE;
        io->op->status = st;
        snprintf(io->op->message, sizeof io->op->message, "%.600s", msg ? msg : "");
    }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    io->op = NULL;
}

/* Rank 0: release the barrier when every live rank has entered it. */
static void check_barrier(ntg_mesh *m, io_state *io)
{
    if (m->rank != 0 || !io->op || io->op->kind != OPK_BARRIER) return;
    uint64_t b = io->op->barrier;
    for (int r = 0; r < m->world; r++)
        if (m->members[r].barrier < b) return;
    for (int r = 1; r < m->world; r++)
        ntg__mesh_send(m, m->rdv, m->members[r].rid, m->members[r].rid_len, NTG__MSG_RELEASE, b,
                       NULL, 0);
    op_done(m, io, NTG_OK, NULL);
}

static void activate(ntg_mesh *m, io_state *io)
{
    pthread_mutex_lock(&m->mu);
    mesh_op *best = NULL;
    for (int i = 0; i < NTG__MESH_MAX_OPS; i++)
        if (m->ops[i].state == OPS_QUEUED && (!best || m->ops[i].seq < best->seq))
            best = &m->ops[i];
    if (best) best->state = OPS_ACTIVE;
    pthread_mutex_unlock(&m->mu);
    if (!best) return;
    io->op = best;
    io->sent = io->recvd = 0;
    io->in_place_upto = 0;
    best->progress_ms = ntg__mesh_now_ms();
    best->active_ns = now_ns();
    if (best->kind == OPK_BARRIER) {
        if (m->rank == 0) {
            m->members[0].barrier = best->barrier;
            check_barrier(m, io);
        } else {
            ntg__mesh_send(m, m->rdv, NULL, 0, NTG__MSG_BARRIER, best->barrier, NULL, 0);
        }
        return;
    }
    int kind = best->kind == OPK_ALLREDUCE ? 0 : 1;
    uint64_t chunk = kind == 0 ? m->chunk_bytes / 4 : m->chunk_bytes;
    ntg_error e;
    ntg_status sst =
        kind == 0 ? ntg__mesh_sched_init_part(&best->sched, m->rank, m->world, best->n, chunk,
                                              best->bounds, best->part, &e)
                  : ntg__mesh_sched_init(&best->sched, kind, m->rank, m->world, best->n, chunk, &e);
    if (sst != NTG_OK) {
        op_done(m, io, NTG_ERR_INVALID_ARG, e.message);
        return;
    }
    ntg__mesh_cursor_start(&best->sched, 0, &best->scur);
    ntg__mesh_cursor_start(&best->sched, 1, &best->rcur);
    if (best->sched.sends == 0 && best->sched.recvs == 0) {
        /* one rank: the sum is its own values, scaled */
        if (best->scale != 1.0)
            for (unsigned i = 0; i < best->nseg; i++)
                for (size_t x = 0; x < best->segn[i]; x++)
                    best->segp[i][x] = (float)((double)best->segp[i][x] * best->scale);
        op_done(m, io, NTG_OK, NULL);
    }
}

static float *piece_at(mesh_op *op, uint64_t off, size_t *avail);

/* Frames this rank may send now: all of the first step, then one per frame received. */
static uint64_t enabled_sends(const io_state *io)
{
    const ntg__mesh_sched *s = &io->op->sched;
    uint64_t first;
    if (s->kind == 0)
        first = ntg__mesh_sched_chunks(s, ntg__mesh_sched_seg_at(s, 0, s->step0));
    else
        first = s->rank == 0 ? s->sends : 0;
    uint64_t e = first + io->recvd;
    return e < s->sends ? e : s->sends;
}

static void maybe_done(ntg_mesh *m, io_state *io)
{
    mesh_op *op = io->op;
    if (op && op->kind != OPK_BARRIER && io->sent == op->sched.sends &&
        io->recvd == op->sched.recvs) {
        /* frames in place point into the caller's memory, which is the caller's again once the
         * operation ends: wait until the next rank took them */
        if (io->in_place_upto && !ntg__mesh_shm_consumed(m, io->in_place_upto)) {
            io->want_space = 1;
            return;
        }
        op_done(m, io, NTG_OK, NULL);
    }
}

/* Whether the count floats of the vector from element off all lie in memory the next rank
 * reads in place (an all-reduce part through shared memory; docs/mesh.md, "In place"). */
static int frame_in_place(ntg_mesh *m, mesh_op *op, uint64_t off, size_t count)
{
    if (op->kind != OPK_ALLREDUCE || op->part == NTG__MESH_PART_ALL || !op->nseg) return 0;
    while (count) {
        size_t avail = count;
        const float *p = piece_at(op, off, &avail);
        size_t k = avail < count ? avail : count;
        if (!ntg__mesh_shm_in_place(m, p, k)) return 0;
        off += k;
        count -= k;
    }
    return 1;
}

/* The piece of a gathered all-reduce's vector that holds element `off` (< op->n): a pointer
 * to it, and in *avail how many elements of the piece follow from there. */
static float *piece_at(mesh_op *op, uint64_t off, size_t *avail)
{
    if (off < op->seg_off) {
        op->seg = 0;
        op->seg_off = 0;
    }
    while (op->seg + 1 < op->nseg && off >= op->seg_off + op->segn[op->seg]) {
        op->seg_off += op->segn[op->seg];
        op->seg++;
    }
    *avail = (size_t)(op->seg_off + op->segn[op->seg] - off);
    return op->segp[op->seg] + (off - op->seg_off);
}

/* count floats of an all-reduce's vector from element off into dst (a frame's payload), scaled
 * (this rank's own values, sent at the first ring step) unless scale is 1. */
static void copy_out(mesh_op *op, uint64_t off, unsigned char *dst, size_t count, double scale)
{
    if (!op->nseg && scale == 1.0) {
        memcpy(dst, (const float *)op->buf + off, count * 4);
        return;
    }
    while (count) {
        size_t avail = count;
        const float *p = op->nseg ? piece_at(op, off, &avail) : (const float *)op->buf + off;
        size_t k = avail < count ? avail : count;
        if (scale == 1.0) {
            memcpy(dst, p, k * 4);
        } else {
            size_t i = 0;
            for (; i + 8 <= k; i += 8) { /* blocks of 8: see add_into */
                float v[8];
                for (int e = 0; e < 8; e++) v[e] = (float)((double)p[i + (size_t)e] * scale);
                memcpy(dst + 4 * i, v, sizeof v);
            }
            for (; i < k; i++) {
                float v = (float)((double)p[i] * scale);
                memcpy(dst + 4 * i, &v, 4);
            }
        }
        dst += k * 4;
        off += k;
        count -= k;
    }
}

/* The header of the active operation's next frame (the cursor's), and its payload's size. */
static size_t next_frame(ntg_mesh *m, io_state *io, ntg__mesh_msg *h, uint64_t *off,
                         uint32_t *count)
{
    mesh_op *op = io->op;
    unsigned type;
    ntg__mesh_cursor_frame(&op->sched, 0, &op->scur, off, count, &type);
    size_t bytes = (size_t)*count * (op->kind == OPK_ALLREDUCE ? 4 : 1);
    memset(h, 0, sizeof *h);
    h->type = (uint8_t)type;
    h->dtype = op->kind == OPK_ALLREDUCE ? NTG__MESH_DT_F32 : NTG__MESH_DT_BYTES;
    h->generation = m->generation;
    h->sender = (uint32_t)m->rank;
    h->step = op->step;
    h->bucket = op->bucket;
    h->phase = (uint16_t)op->scur.step;
    h->offset = *off;
    h->total = op->sched.total;
    h->count = *count;
    h->payload_bytes = (uint32_t)bytes;
    return bytes;
}

/* One frame into the shared-memory ring: the same header and payload a TCP frame has, written
 * straight into the slot.  -1 when the ring is full (want_space) or the generation broke. */
static int shm_send(ntg_mesh *m, io_state *io)
{
    mesh_op *op = io->op;
    int full;
    unsigned char *d = ntg__mesh_shm_slot(m, &full);
    if (!d) {
        io->want_space = 1;
        return -1;
    }
    ntg__mesh_msg h;
    uint64_t off;
    uint32_t count;
    size_t bytes = next_frame(m, io, &h, &off, &count);
    if (NTG__MESH_HEADER + bytes > ntg__mesh_shm_slot_capacity(m)) {
        ntg__mesh_break(m, NTG_ERR_INTERNAL,
                        "mesh: a %zu-byte frame does not fit a shared-memory slot", bytes);
        return -1;
    }
    double scale = h.type == NTG__MSG_REDUCE && op->scur.step == 0 ? op->scale : 1.0;
    int in_place = frame_in_place(m, op, off, count);
    if (in_place) {
        /* the floats stay where they lie; the payload is the scale the sender would apply */
        h.flags = NTG__MESH_FLAG_IN_PLACE;
        h.payload_bytes = NTG__MESH_IN_PLACE_PAYLOAD;
        bytes = NTG__MESH_IN_PLACE_PAYLOAD;
        ntg__mesh_msg_write_header(d, &h);
        memcpy(d + NTG__MESH_HEADER, &scale, sizeof scale); /* little-endian, as this host */
    } else {
        ntg__mesh_msg_write_header(d, &h);
        if (op->kind == OPK_ALLREDUCE)
            copy_out(op, off, d + NTG__MESH_HEADER, count, scale);
        else
            memcpy(d + NTG__MESH_HEADER, (const char *)op->buf + off, bytes);
    }
    ntg__mesh_shm_publish(m);
    if (in_place) io->in_place_upto = ntg__mesh_shm_published(m);
    pthread_mutex_lock(&m->mu);
    m->stats.frames_sent++;
    m->stats.shm_frames_sent++;
    m->stats.in_place_sent += (uint64_t)in_place;
    m->stats.bytes_sent += NTG__MESH_HEADER + bytes;
    pthread_mutex_unlock(&m->mu);
    io->sent++;
    ntg__mesh_cursor_next(&op->sched, 0, &op->scur);
    op->progress_ms = ntg__mesh_now_ms();
    return 0;
}

/* Send what the schedule allows; stops at a full queue (and polls for room). */
static void pump_sends(ntg_mesh *m, io_state *io)
{
    io->want_out = 0;
    io->want_space = 0;
    ntg__mesh_shm_announce(m);
    while (io->op && io->op->kind != OPK_BARRIER && io->sent < enabled_sends(io)) {
        mesh_op *op = io->op;
        if (m->shm_out) {
            if (shm_send(m, io) != 0) return;
            continue;
        }
        int events = 0;
        size_t sz = sizeof events;
        if (zmq_getsockopt(m->ring_out, ZMQ_EVENTS, &events, &sz) != 0 || !(events & ZMQ_POLLOUT)) {
            io->want_out = 1;
            return;
        }
        uint64_t off;
        uint32_t count;
        unsigned type;
        ntg__mesh_cursor_frame(&op->sched, 0, &op->scur, &off, &count, &type);
        size_t esize = op->kind == OPK_ALLREDUCE ? 4 : 1, bytes = (size_t)count * esize;
        zmq_msg_t msg;
        void *mem = ntg__mesh_pool_get(m, NTG__MESH_HEADER + bytes);
        int rc =
            mem ? zmq_msg_init_data(&msg, mem, NTG__MESH_HEADER + bytes, ntg__mesh_pool_release, m)
                : zmq_msg_init_size(&msg, NTG__MESH_HEADER + bytes);
        if (rc != 0) {
            if (mem) ntg__mesh_pool_release(mem, m);
            ntg__mesh_break(m, NTG_ERR_NOMEM, "mesh: out of memory for a %zu-byte frame", bytes);
            return;
        }
        ntg__mesh_msg h;
        memset(&h, 0, sizeof h);
        h.type = (uint8_t)type;
        h.dtype = op->kind == OPK_ALLREDUCE ? NTG__MESH_DT_F32 : NTG__MESH_DT_BYTES;
        h.generation = m->generation;
        h.sender = (uint32_t)m->rank;
        h.step = op->step;
        h.bucket = op->bucket;
        h.phase = (uint16_t)op->scur.step;
        h.offset = off;
        h.total = op->sched.total;
        h.count = count;
        h.payload_bytes = (uint32_t)bytes;
        unsigned char *d = zmq_msg_data(&msg);
        ntg__mesh_msg_write_header(d, &h);
        if (op->kind == OPK_ALLREDUCE)
            copy_out(op, off, d + NTG__MESH_HEADER, count,
                     type == NTG__MSG_REDUCE && op->scur.step == 0 ? op->scale : 1.0);
        else
            memcpy(d + NTG__MESH_HEADER, (const char *)op->buf + off, bytes);
        if (zmq_msg_send(&msg, m->ring_out, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&msg);
            if (e == EAGAIN) {
                io->want_out = 1;
                return;
            }
            ntg__mesh_break(m, NTG_ERR_IO, "mesh: sending on the ring: %s", zmq_strerror(e));
            return;
        }
        pthread_mutex_lock(&m->mu);
        m->stats.frames_sent++;
        m->stats.bytes_sent += NTG__MESH_HEADER + bytes;
        pthread_mutex_unlock(&m->mu);
        io->sent++;
        ntg__mesh_cursor_next(&op->sched, 0, &op->scur);
        op->progress_ms = ntg__mesh_now_ms();
    }
    maybe_done(m, io);
}

/* dst[i] = dst[i] + src[i]: the one addition of the reduction order (mesh_proto.h).  src may
 * be unaligned (libzmq receives in place), hence memcpy, which compilers turn into plain
 * vector loads.  Blocks of 8 with a fixed trip count: GCC's -O2 vectorizes those (not the
 * plain loop), and the per-element arithmetic, so the result, is the same. */
static void add_into(float *dst, const unsigned char *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8], d[8];
        memcpy(v, src + 4 * i, sizeof v);
        memcpy(d, dst + i, sizeof d);
        for (int k = 0; k < 8; k++) d[k] = d[k] + v[k];
        memcpy(dst + i, d, sizeof d);
    }
    for (; i < n; i++) {
        float v;
        memcpy(&v, src + 4 * i, 4);
        dst[i] = dst[i] + v;
    }
}

/* dst[i] = (float)((double)dst[i] * scale) + src[i]: this rank's own value scaled, then the
 * same addition as add_into. */
static void scale_add_into(float *dst, const unsigned char *src, size_t n, double scale)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8], d[8];
        memcpy(v, src + 4 * i, sizeof v);
        memcpy(d, dst + i, sizeof d);
        for (int k = 0; k < 8; k++) d[k] = (float)((double)d[k] * scale) + v[k];
        memcpy(dst + i, d, sizeof d);
    }
    for (; i < n; i++) {
        float v;
        memcpy(&v, src + 4 * i, 4);
        dst[i] = (float)((double)dst[i] * scale) + v;
    }
}

/* dst[i] = (own) dst[i] + (float)((double)src[i] * sscale) (sscale 1: src[i]), own scaled by
 * `scale` first unless it is 1: the additions of scale_add_into / add_into with the sender's
 * scaling of copy_out, on the sender's floats read where they lie (a frame in place). */
static void add_in_place(float *dst, const float *src, size_t n, double scale, double sscale)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8], d[8];
        memcpy(v, src + i, sizeof v);
        memcpy(d, dst + i, sizeof d);
        if (sscale != 1.0)
            for (int k = 0; k < 8; k++) v[k] = (float)((double)v[k] * sscale);
        if (scale != 1.0)
            for (int k = 0; k < 8; k++) d[k] = (float)((double)d[k] * scale) + v[k];
        else
            for (int k = 0; k < 8; k++) d[k] = d[k] + v[k];
        memcpy(dst + i, d, sizeof d);
    }
    for (; i < n; i++) {
        float v = sscale != 1.0 ? (float)((double)src[i] * sscale) : src[i];
        dst[i] = scale != 1.0 ? (float)((double)dst[i] * scale) + v : dst[i] + v;
    }
}

/* A frame in place: its count floats read from prev's shared memory (where this rank's own
 * pieces lie in its regions) and added or copied.  -1 when some piece is not shared. */
static int take_in_place(ntg_mesh *m, mesh_op *op, uint64_t off, size_t count, int add,
                         double sscale)
{
    if (!op->nseg) return -1;
    while (count) {
        size_t avail = count;
        float *p = piece_at(op, off, &avail);
        size_t k = avail < count ? avail : count;
        const float *src = ntg__mesh_shm_peer_ptr(m, p, k);
        if (!src) return -1;
        if (add)
            add_in_place(p, src, k, op->scale, sscale);
        else
            memcpy(p, src, k * 4);
        off += k;
        count -= k;
    }
    return 0;
}

/* A received frame's count floats into an all-reduce's vector at element off: added
 * (reduce-scatter; this rank's own value scaled first) or copied (all-gather). */
static void take_in(mesh_op *op, uint64_t off, const unsigned char *src, size_t count, int add)
{
    while (count) {
        size_t avail = count;
        float *p = op->nseg ? piece_at(op, off, &avail) : (float *)op->buf + off;
        size_t k = avail < count ? avail : count;
        if (add && op->scale != 1.0)
            scale_add_into(p, src, k, op->scale);
        else if (add)
            add_into(p, src, k);
        else
            memcpy(p, src, k * 4);
        src += k * 4;
        off += k;
        count -= k;
    }
}

/* A data frame from the ring for the active operation. */
static void take_data(ntg_mesh *m, io_state *io, const ntg__mesh_msg *d)
{
    mesh_op *op = io->op;
    char prev[160];
    ntg__mesh_describe(m, (m->rank + m->world - 1) % m->world, prev, sizeof prev);
    if (d->bucket != op->bucket || (op->kind == OPK_BROADCAST) != (d->type == NTG__MSG_BCAST)) {
        ntg__mesh_break(m, NTG_ERR_STATE,
                        "mesh: %s sent a %s frame of bucket %u while this rank runs %s of bucket "
                        "%u: every rank must start the same operations in the same order",
                        prev, ntg__mesh_type_name(d->type), (unsigned)d->bucket,
                        op->kind == OPK_BROADCAST ? "a broadcast" : "the all-reduce",
                        (unsigned)op->bucket);
        return;
    }
    if (d->step != op->step) {
        ntg__mesh_break(
            m, NTG_ERR_STATE, "mesh: %s is at step %llu, this rank at step %llu (bucket %u)", prev,
            (unsigned long long)d->step, (unsigned long long)op->step, (unsigned)op->bucket);
        return;
    }
    ntg_error e;
    if (ntg__mesh_sched_expect(&op->sched, &op->rcur, d, &e) != NTG_OK) {
        ntg__mesh_break(m, NTG_ERR_STATE, "mesh: ranks disagree on bucket %u: %s (from %s)",
                        (unsigned)op->bucket, e.message, prev);
        return;
    }
    if (d->flags & NTG__MESH_FLAG_IN_PLACE) {
        double sscale;
        memcpy(&sscale, d->payload, sizeof sscale);
        if (op->kind != OPK_ALLREDUCE || op->part == NTG__MESH_PART_ALL || !(sscale > 0) ||
            take_in_place(m, op, d->offset, d->count, d->type == NTG__MSG_REDUCE, sscale) != 0) {
            ntg__mesh_break(m, NTG_ERR_STATE,
                            "mesh: %s sent a frame in place of bucket %u that this rank cannot "
                            "read where it lies (its memory is not shared with this rank)",
                            prev, (unsigned)op->bucket);
            return;
        }
        pthread_mutex_lock(&m->mu);
        m->stats.in_place_received++;
        pthread_mutex_unlock(&m->mu);
    } else if (d->type == NTG__MSG_REDUCE || d->type == NTG__MSG_GATHER)
        take_in(op, d->offset, d->payload, d->count, d->type == NTG__MSG_REDUCE);
    else
        memcpy((char *)op->buf + d->offset, d->payload, d->count);
    io->recvd++;
    ntg__mesh_cursor_next(&op->sched, 1, &op->rcur);
    op->progress_ms = ntg__mesh_now_ms();
}

static int wants_data(const io_state *io)
{
    return io->op && io->op->kind != OPK_BARRIER && io->recvd < io->op->sched.recvs;
}

/* read_ring from the shared-memory ring: the frames are decoded and checked as TCP frames
 * are (the segment is another process's memory), and taken in where they lie. */
static void read_shm(ntg_mesh *m, io_state *io)
{
    int prev = (m->rank + m->world - 1) % m->world;
    ntg__mesh_shm_map_peer(m);
    for (int budget = 64; budget > 0 && wants_data(io) && m->shm_in; budget--) {
        size_t size;
        const unsigned char *f = ntg__mesh_shm_peek(m, &size);
        if (!f) break;
        ntg__mesh_msg d;
        ntg_error e;
        if (ntg__mesh_msg_decode(f, size, &d, &e) != NTG_OK) {
            pthread_mutex_lock(&m->mu);
            m->stats.dropped_malformed++;
            pthread_mutex_unlock(&m->mu);
            ntg__mesh_log_drop(m, "the shared-memory ring", e.message);
        } else if (d.generation != m->generation || d.sender != (uint32_t)prev ||
                   d.type < NTG__MSG_REDUCE || d.type > NTG__MSG_BCAST) {
            pthread_mutex_lock(&m->mu);
            m->stats.dropped_unexpected++;
            pthread_mutex_unlock(&m->mu);
            char why[120];
            snprintf(why, sizeof why, "a %s frame that is not a data frame of rank %d",
                     ntg__mesh_type_name(d.type), prev);
            ntg__mesh_log_drop(m, "the shared-memory ring", why);
        } else {
            pthread_mutex_lock(&m->mu);
            m->stats.frames_received++;
            m->stats.shm_frames_received++;
            m->stats.bytes_received += size;
            pthread_mutex_unlock(&m->mu);
            take_data(m, io, &d);
        }
        ntg__mesh_shm_release(m);
        sync_op(m, io);
        pump_sends(m, io);
    }
}

static void read_ring(ntg_mesh *m, io_state *io)
{
    /* with shared memory, the TCP link still carries nothing legitimate, but whatever arrives
     * on it is read, checked and dropped as before */
    if (m->shm_in) read_shm(m, io);
    int prev = (m->rank + m->world - 1) % m->world;
    for (int budget = 64; budget > 0 && wants_data(io); budget--) {
        zmq_msg_t msg;
        int got = ntg__mesh_recv(m, m->ring_in, 0, NULL, NULL, &msg);
        if (got == 0) break;
        if (got < 0) continue;
        ntg__mesh_msg d;
        ntg_error e;
        if (ntg__mesh_msg_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &d, &e) != NTG_OK) {
            pthread_mutex_lock(&m->mu);
            m->stats.dropped_malformed++;
            pthread_mutex_unlock(&m->mu);
            ntg__mesh_log_drop(m, "the ring", e.message);
        } else if (d.generation != m->generation) {
            pthread_mutex_lock(&m->mu);
            m->stats.dropped_generation++;
            pthread_mutex_unlock(&m->mu);
            char why[120];
            snprintf(why, sizeof why, "a %s frame of generation %u (this is %u)",
                     ntg__mesh_type_name(d.type), (unsigned)d.generation, (unsigned)m->generation);
            ntg__mesh_log_drop(m, "the ring", why);
        } else if (d.sender != (uint32_t)prev || d.type < NTG__MSG_REDUCE ||
                   d.type > NTG__MSG_BCAST || d.flags ||
                   (m->keys &&
                    (!zmq_msg_gets(&msg, "User-Id") ||
                     strcmp(zmq_msg_gets(&msg, "User-Id"), m->members[prev].info.key) != 0))) {
            pthread_mutex_lock(&m->mu);
            m->stats.dropped_unexpected++;
            pthread_mutex_unlock(&m->mu);
            char why[120];
            snprintf(why, sizeof why, "a %s frame that is not a data frame of rank %d",
                     ntg__mesh_type_name(d.type), prev);
            ntg__mesh_log_drop(m, "the ring", why);
        } else {
            take_data(m, io, &d);
        }
        zmq_msg_close(&msg);
        sync_op(m, io);
        pump_sends(m, io);
    }
}

/* -------------------------------------------------------- the rendezvous */

void ntg__mesh_take_hello(ntg_mesh *m, const unsigned char *rid, size_t rid_len,
                          const ntg__mesh_msg *msg, const char *user_id)
{
    ntg__mesh_hello h;
    ntg_error e;
    if (ntg__mesh_hello_parse(msg->payload, msg->payload_bytes, &h, &e) != NTG_OK) {
        pthread_mutex_lock(&m->mu);
        m->stats.dropped_malformed++;
        pthread_mutex_unlock(&m->mu);
        ntg__mesh_log_drop(m, "a worker's hello", e.message);
        return;
    }
    if (m->keys && (!user_id || strcmp(user_id, h.key) != 0)) {
        ntg__mesh_log(m, NTG__MESH_LOG_WARN,
                      "ignored a hello from %s (pid %ld): it claims key %s but authenticated with "
                      "another",
                      h.host, h.pid, h.key);
        return;
    }
    int r = -1;
    for (int q = 1; q < m->world; q++)
        if (m->members[q].rid_len == rid_len && memcmp(m->members[q].rid, rid, rid_len) == 0) r = q;
    if (r > 0 && h.prev_generation != m->generation) {
        /* a member's keepalive, sent before its welcome arrived: nothing to do */
        pthread_mutex_lock(&m->mu);
        m->stats.dropped_generation++;
        pthread_mutex_unlock(&m->mu);
        return;
    }
    int64_t now = ntg__mesh_now_ms();
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->n_pending &&
           !(m->pending[i].rid_len == rid_len && memcmp(m->pending[i].rid, rid, rid_len) == 0))
        i++;
    int fresh = i == m->n_pending;
    if (fresh && m->n_pending == NTG__MESH_MAX_JOINERS) {
        pthread_mutex_unlock(&m->mu);
        char payload[120];
        snprintf(payload, sizeof payload, "reason=%d workers already wait to join\n",
                 NTG__MESH_MAX_JOINERS);
        ntg__mesh_send(m, m->rdv, rid, rid_len, NTG__MSG_REFUSE, 0, payload, strlen(payload));
        return;
    }
    if (fresh) m->n_pending++;
    mesh_pending *p = &m->pending[i];
    memcpy(p->rid, rid, rid_len);
    p->rid_len = rid_len;
    p->hello = h;
    p->last_seen_ms = now;
    int running = m->io_running && !m->broken;
    pthread_mutex_unlock(&m->mu);
    /* a member of this generation asking for the next one: the generation is broken */
    if (r > 0) {
        if (running) {
            char who[160], payload[300];
            ntg__mesh_describe(m, r, who, sizeof who);
            ntg__mesh_log(m, NTG__MESH_LOG_WARN, "%s asks for a new generation", who);
            snprintf(payload, sizeof payload, "reason=%s asked for a new generation\n", who);
            tell_workers(m, NTG__MSG_RESET, r, payload);
            ntg__mesh_break(m, NTG_ERR_PEER_LOST,
                            "mesh: %s asked for a new generation; call ntg__mesh_reform", who);
        }
    } else if (fresh) {
        ntg__mesh_log(m, NTG__MESH_LOG_INFO,
                      "a worker on %s (pid %ld) asks to join; it joins at the next generation",
                      h.host, h.pid);
    }
}

/* Rank 0: one message from a worker. */
static void coord_message(ntg_mesh *m, io_state *io, const unsigned char *rid, size_t rl,
                          zmq_msg_t *msg, const ntg__mesh_msg *d)
{
    if (d->type == NTG__MSG_HELLO) {
        ntg__mesh_take_hello(m, rid, rl, d, zmq_msg_gets(msg, "User-Id"));
        return;
    }
    int r = -1;
    for (int q = 1; q < m->world; q++)
        if (m->members[q].rid_len == rl && memcmp(m->members[q].rid, rid, rl) == 0) r = q;
    if (r < 0 || d->generation != m->generation) {
        if (r > 0) {
            /* its own frames of a generation that just ended */
            pthread_mutex_lock(&m->mu);
            m->stats.dropped_generation++;
            pthread_mutex_unlock(&m->mu);
            return;
        }
        /* a straggler of an older generation, or a stranger: tell it it is not in the mesh */
        pthread_mutex_lock(&m->mu);
        if (d->generation && d->generation < m->generation)
            m->stats.dropped_generation++;
        else
            m->stats.dropped_unexpected++;
        pthread_mutex_unlock(&m->mu);
        char why[160];
        snprintf(why, sizeof why, "a %s of generation %u from a process not in generation %u",
                 ntg__mesh_type_name(d->type), (unsigned)d->generation, (unsigned)m->generation);
        ntg__mesh_log_drop(m, "the rendezvous", why);
        ntg__mesh_send(m, m->rdv, rid, rl, NTG__MSG_EVICTED, 0, NULL, 0);
        return;
    }
    mesh_member *mm = &m->members[r];
    mm->last_seen_ms = ntg__mesh_now_ms();
    switch (d->type) {
    case NTG__MSG_HEARTBEAT:
    case NTG__MSG_READY:
        break;
    case NTG__MSG_BARRIER:
        if (d->step > mm->barrier) mm->barrier = d->step;
        check_barrier(m, io);
        break;
    case NTG__MSG_BYE: {
        char who[160];
        ntg__mesh_describe(m, r, who, sizeof who);
        mm->left = 1;
        ntg__mesh_log(m, NTG__MESH_LOG_INFO, "%s left the mesh", who);
        break;
    }
    default:
        pthread_mutex_lock(&m->mu);
        m->stats.dropped_unexpected++;
        pthread_mutex_unlock(&m->mu);
        ntg__mesh_log_drop(m, "the rendezvous", "a message rank 0 does not take");
    }
}

/* Workers: one message from rank 0. */
static void worker_message(ntg_mesh *m, io_state *io, const ntg__mesh_msg *d)
{
    if (d->type == NTG__MSG_EVICTED && d->generation >= m->generation) {
        pthread_mutex_lock(&m->mu);
        int again = m->evicted;
        m->evicted = 1;
        pthread_mutex_unlock(&m->mu);
        if (again) return;
        ntg__mesh_log(m, NTG__MESH_LOG_ERROR,
                      "rank 0 says this worker is not in its generation %u any more",
                      (unsigned)d->generation);
        ntg__mesh_break(m, NTG_ERR_PEER_LOST,
                        "mesh: this worker was left out: rank 0 runs generation %u without it "
                        "(it was too slow or frozen); it may join again (join)",
                        (unsigned)d->generation);
        return;
    }
    if (d->generation != m->generation) {
        pthread_mutex_lock(&m->mu);
        m->stats.dropped_generation++;
        pthread_mutex_unlock(&m->mu);
        return;
    }
    m->members[0].last_seen_ms = ntg__mesh_now_ms();
    char kv[4][NTG__MESH_KV_VALUE_MAX];
    int kv_ok = ntg__mesh_kv_check(d->payload, d->payload_bytes, NULL) == NTG_OK;
    static const char *const keys[4] = {"rank", "host", "pid", "reason"};
    for (int i = 0; i < 4; i++) {
        snprintf(kv[i], sizeof kv[i], "?");
        if (kv_ok) ntg__mesh_kv_get(d->payload, d->payload_bytes, keys[i], 0, kv[i], sizeof kv[i]);
    }
    switch (d->type) {
    case NTG__MSG_HEARTBEAT:
        break;
    case NTG__MSG_LOST:
        ntg__mesh_log(m, NTG__MESH_LOG_ERROR,
                      "rank %s (host %s, pid %s) lost: %s (reported by rank 0); generation %u is "
                      "broken",
                      kv[0], kv[1], kv[2], kv[3], (unsigned)m->generation);
        ntg__mesh_break(m, NTG_ERR_PEER_LOST,
                        "mesh: rank %s (host %s, pid %s) lost: %s (generation %u)", kv[0], kv[1],
                        kv[2], kv[3], (unsigned)m->generation);
        break;
    case NTG__MSG_RESET:
        ntg__mesh_log(m, NTG__MESH_LOG_WARN, "rank 0 asks for a new generation: %s", kv[3]);
        ntg__mesh_break(m, NTG_ERR_PEER_LOST,
                        "mesh: rank 0 asks for a new generation (%s); call ntg__mesh_reform",
                        kv[3]);
        break;
    case NTG__MSG_RELEASE:
        if (io->op && io->op->kind == OPK_BARRIER && io->op->barrier == d->step)
            op_done(m, io, NTG_OK, NULL);
        break;
    case NTG__MSG_BYE:
        pthread_mutex_lock(&m->mu);
        m->coordinator_gone = 1;
        pthread_mutex_unlock(&m->mu);
        m->members[0].left = 1;
        ntg__mesh_log(m, NTG__MESH_LOG_INFO, "rank 0 left the mesh");
        break;
    default:
        pthread_mutex_lock(&m->mu);
        m->stats.dropped_unexpected++;
        pthread_mutex_unlock(&m->mu);
    }
}

static void read_rendezvous(ntg_mesh *m, io_state *io)
{
    int router = m->rank == 0;
    for (int budget = 256; budget > 0; budget--) {
        unsigned char rid[NTG__MESH_RID];
        size_t rl = 0;
        zmq_msg_t msg;
        int got = ntg__mesh_recv(m, m->rdv, router, rid, &rl, &msg);
        if (got == 0) break;
        if (got < 0) continue;
        ntg__mesh_msg d;
        ntg_error e;
        if (ntg__mesh_msg_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &d, &e) != NTG_OK) {
            pthread_mutex_lock(&m->mu);
            m->stats.dropped_malformed++;
            pthread_mutex_unlock(&m->mu);
            ntg__mesh_log_drop(m, router ? "the rendezvous" : "rank 0", e.message);
        } else if (router) {
            coord_message(m, io, rid, rl, &msg, &d);
        } else {
            worker_message(m, io, &d);
        }
        zmq_msg_close(&msg);
        sync_op(m, io);
    }
}

/* ------------------------------------------------------------- liveness */

static void heartbeat(ntg_mesh *m, io_state *io, int64_t now)
{
    if (m->rank == 0) {
        for (int r = 1; r < m->world; r++) {
            mesh_member *mm = &m->members[r];
            if (mm->alive && !mm->left)
                ntg__mesh_send(m, m->rdv, mm->rid, mm->rid_len, NTG__MSG_HEARTBEAT, m->step, NULL,
                               0);
        }
        /* workers waiting to join hear from rank 0 too (they give up on a silent one); those
         * that went silent themselves are forgotten.  Sending takes mu: not under it. */
        unsigned char rids[NTG__MESH_MAX_JOINERS][NTG__MESH_RID];
        size_t lens[NTG__MESH_MAX_JOINERS];
        int n = 0;
        pthread_mutex_lock(&m->mu);
        for (int i = 0; i < m->n_pending; i++) {
            if (now - m->pending[i].last_seen_ms > m->cfg.timeout_ms &&
                m->pending[i].hello.prev_generation != m->generation) {
                m->pending[i] = m->pending[--m->n_pending];
                i--;
                continue;
            }
            memcpy(rids[n], m->pending[i].rid, m->pending[i].rid_len);
            lens[n++] = m->pending[i].rid_len;
        }
        pthread_mutex_unlock(&m->mu);
        for (int i = 0; i < n; i++)
            ntg__mesh_send(m, m->rdv, rids[i], lens[i], NTG__MSG_HEARTBEAT, m->step, NULL, 0);
    } else if (!m->members[0].left) {
        ntg__mesh_send(m, m->rdv, NULL, 0, NTG__MSG_HEARTBEAT, m->step, NULL, 0);
    }
    /* who went silent */
    for (int r = 0; r < m->world; r++) {
        if (r == m->rank || (m->rank != 0 && r != 0)) continue;
        mesh_member *mm = &m->members[r];
        if (!mm->alive || mm->left) continue;
        int64_t quiet = now - mm->last_seen_ms;
        if (quiet > m->cfg.timeout_ms) {
            char reason[160];
            snprintf(reason, sizeof reason,
                     "no heartbeat for %.1f s (timeout %.1f s): killed, frozen or cut off",
                     (double)quiet / 1000.0, m->cfg.timeout_ms / 1000.0);
            peer_lost(m, r, reason);
            sync_op(m, io);
        }
    }
    /* an operation that stalls: after a peer left, or for op_timeout_ms */
    if (io->op) {
        int64_t stall = now - io->op->progress_ms;
        int left = -1;
        for (int r = 0; r < m->world; r++)
            if (m->members[r].left) left = r;
        /* a rank that left flushes its last frames for up to linger_ms after its goodbye */
        if (left >= 0 && stall > (int64_t)m->cfg.linger_ms + m->cfg.timeout_ms) {
            char who[160];
            ntg__mesh_describe(m, left, who, sizeof who);
            ntg__mesh_break(m, NTG_ERR_PEER_LOST,
                            "mesh: %s left the mesh while an operation still needed it", who);
            io->op = NULL;
        } else if (stall > m->cfg.op_timeout_ms) {
            ntg__mesh_break(m, NTG_ERR_PEER_LOST,
                            "mesh: an operation made no progress for %.1f s though every peer "
                            "answers heartbeats (a rank stuck outside the mesh, or ranks that "
                            "started different operations)",
                            (double)stall / 1000.0);
            io->op = NULL;
        }
    }
}

/* --------------------------------------------------------------- the loop */

static void say_bye(ntg_mesh *m)
{
    if (m->rank == 0) {
        for (int r = 1; r < m->world; r++)
            if (m->members[r].alive && m->members[r].rid_len)
                ntg__mesh_send(m, m->rdv, m->members[r].rid, m->members[r].rid_len, NTG__MSG_BYE,
                               m->step, NULL, 0);
    } else if (m->rdv) {
        ntg__mesh_send(m, m->rdv, NULL, 0, NTG__MSG_BYE, m->step, NULL, 0);
    }
}

/* Called between the loop's steps: a gap much longer than a heartbeat means this process was
 * frozen (SIGSTOP, swapped out).  The silence was then ours, so the others get a fresh timeout
 * before this rank blames them (rank 0 will have left a frozen worker out meanwhile). */
static void stall_check(ntg_mesh *m, io_state *io, int64_t now)
{
    if (now - io->last_tick > m->cfg.heartbeat_ms + m->cfg.timeout_ms / 2) {
        ntg__mesh_log(m, NTG__MESH_LOG_WARN, "this process was stalled for %.1f s",
                      (double)(now - io->last_tick) / 1000.0);
        for (int r = 0; r < m->world; r++) m->members[r].last_seen_ms = now;
        if (io->op) io->op->progress_ms = now;
    }
    io->last_tick = now;
}

static void *io_main(void *arg)
{
    ntg_mesh *m = arg;
    io_state io;
    memset(&io, 0, sizeof io);
    io.next_hb = io.last_tick = ntg__mesh_now_ms();
    for (;;) {
        pthread_mutex_lock(&m->mu);
        int stop = m->stop, bye = m->bye, reset = m->reset_requested;
        char reason[200];
        snprintf(reason, sizeof reason, "%s", m->reset_reason);
        m->reset_requested = 0;
        pthread_mutex_unlock(&m->mu);
        if (stop) {
            if (bye) say_bye(m);
            break;
        }
        if (reset && m->rank == 0) {
            char payload[260];
            snprintf(payload, sizeof payload, "reason=%s\n", reason);
            tell_workers(m, NTG__MSG_RESET, -1, payload);
            ntg__mesh_break(m, NTG_ERR_PEER_LOST,
                            "mesh: rank 0 asked for a new generation (%s); call ntg__mesh_reform",
                            reason);
            io.op = NULL;
        }
        if (!io.op) activate(m, &io);
        pump_sends(m, &io);
        sync_op(m, &io);

        zmq_pollitem_t it[6];
        int n = 0, ring_in = -1, shm_ready = 0, bells = -1; /* bells: the first doorbell */
        it[n++] = (zmq_pollitem_t){NULL, m->wake[0], ZMQ_POLLIN, 0};
        it[n++] = (zmq_pollitem_t){m->rdv, 0, ZMQ_POLLIN, 0};
        if (wants_data(&io)) {
            ring_in = n;
            it[n++] = (zmq_pollitem_t){m->ring_in, 0, ZMQ_POLLIN, 0};
            if (m->shm_in) {
                int fd = ntg__mesh_shm_rx_sleep(m);
                if (fd >= 0) {
                    bells = n;
                    it[n++] = (zmq_pollitem_t){NULL, fd, ZMQ_POLLIN, 0};
                } else {
                    shm_ready = 1;
                }
            }
        }
        if (io.want_out) it[n++] = (zmq_pollitem_t){m->ring_out, 0, ZMQ_POLLOUT, 0};
        if (io.want_space) {
            if (bells < 0) bells = n;
            it[n++] = (zmq_pollitem_t){NULL, ntg__mesh_shm_tx_fd(m), ZMQ_POLLIN, 0};
        }
        int64_t now = ntg__mesh_now_ms();
        stall_check(m, &io, now);
        int64_t wait = shm_ready ? 0 : io.next_hb - now;
        if (wait < 0) wait = 0;
        if (zmq_poll(it, n, (long)wait) < 0 && zmq_errno() == ETERM) break;
        stall_check(m, &io, ntg__mesh_now_ms());
        if (it[0].revents & ZMQ_POLLIN) {
            char sink[64];
            while (read(m->wake[0], sink, sizeof sink) > 0) {
            }
        }
        for (int k = bells; k >= 0 && k < n; k++)
            if (!it[k].socket && (it[k].revents & ZMQ_POLLIN)) {
                ntg__mesh_shm_drain(m); /* a byte left behind would only wake us once more */
                break;
            }
        read_rendezvous(m, &io);
        if (ring_in >= 0 || wants_data(&io)) read_ring(m, &io);
        pump_sends(m, &io);
        sync_op(m, &io);
        now = ntg__mesh_now_ms();
        stall_check(m, &io, now);
        if (now >= io.next_hb) {
            heartbeat(m, &io, now);
            sync_op(m, &io);
            io.next_hb = now + m->cfg.heartbeat_ms;
        }
    }
    return NULL;
}

void *ntg__mesh_pool_get(ntg_mesh *m, size_t bytes)
{
    void *p = NULL;
    pthread_mutex_lock(&m->pool_mu);
    if (bytes <= m->pool_item && m->pool_n > 0) p = m->pool_free[--m->pool_n];
    pthread_mutex_unlock(&m->pool_mu);
    return p;
}

void ntg__mesh_pool_release(void *data, void *hint)
{
    ntg_mesh *m = hint;
    pthread_mutex_lock(&m->pool_mu);
    if (m->pool_n < m->pool_cap) m->pool_free[m->pool_n++] = data;
    pthread_mutex_unlock(&m->pool_mu);
}

/* The send pool: as many frames as the ring's send queue holds, and some in the encoder. */
static ntg_status pool_setup(ntg_mesh *m, ntg_error *err)
{
    if (m->pool_mem) return NTG_OK;
    size_t item = (NTG__MESH_HEADER + (size_t)m->chunk_bytes + 63) & ~(size_t)63;
    int cap = m->cfg.sndhwm + 16;
    m->pool_mem = malloc(item * (size_t)cap);
    m->pool_free = malloc(sizeof *m->pool_free * (size_t)cap);
    if (!m->pool_mem || !m->pool_free) {
        free(m->pool_mem);
        free(m->pool_free);
        m->pool_mem = NULL;
        m->pool_free = NULL;
        return ntg__fail(err, NTG_ERR_NOMEM, "mesh: out of memory for %d send buffers of %zu bytes",
                         cap, item);
    }
    /* touch every page now, not frame by frame later */
    memset(m->pool_mem, 0, item * (size_t)cap);
    for (int i = 0; i < cap; i++) m->pool_free[i] = m->pool_mem + (size_t)i * item;
    m->pool_n = m->pool_cap = cap;
    m->pool_item = item;
    return NTG_OK;
}

ntg_status ntg__mesh_io_start(ntg_mesh *m, ntg_error *err)
{
    ntg_status st = pool_setup(m, err);
    if (st) return st;
    if (m->wake[0] < 0) {
        if (pipe(m->wake) != 0)
            return ntg__fail(err, NTG_ERR_IO, "mesh: pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            fcntl(m->wake[i], F_SETFL, fcntl(m->wake[i], F_GETFL) | O_NONBLOCK);
            fcntl(m->wake[i], F_SETFD, FD_CLOEXEC);
        }
    }
    pthread_mutex_lock(&m->mu);
    m->stop = 0;
    m->bye = 0;
    m->io_running = 1;
    pthread_mutex_unlock(&m->mu);
    if (pthread_create(&m->io, NULL, io_main, m) != 0) {
        m->io_running = 0;
        return ntg__fail(err, NTG_ERR_NOMEM, "mesh: cannot start the I/O thread");
    }
    return NTG_OK;
}

void ntg__mesh_io_stop(ntg_mesh *m, int bye)
{
    if (!m->io_running) {
        if (bye && m->rdv && m->members) say_bye(m);
        return;
    }
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    m->bye = bye;
    pthread_mutex_unlock(&m->mu);
    ssize_t rc = write(m->wake[1], "s", 1);
    (void)rc;
    pthread_join(m->io, NULL);
    pthread_mutex_lock(&m->mu);
    m->io_running = 0;
    /* a waiter must not wait for a thread that is gone */
    fail_ops_locked(m, NTG_ERR_PEER_LOST, "mesh: the mesh stopped before this operation ended");
    pthread_mutex_unlock(&m->mu);
}
