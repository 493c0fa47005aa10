/* session.c — sessions: a plan bound to a backend instance with its arena, weights and state. */
/* MAP_ANONYMOUS and MAP_NORESERVE are not in POSIX 2008; memfd_create is Linux's */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"
#include "backend.h"
#include "ntg_error.h"
#include "plan_int.h"
#include "session_int.h"

void ntg_session_options_init(ntg_session_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->backend = "auto";
}

/* "cpu, xnnpack" into buf: the backends this build has. */
static const char *backend_names(char *buf, size_t cap)
{
    size_t n, len = 0;
    const ntg_backend_class *const *all = ntg__backends(&n);
    buf[0] = '\0';
    for (size_t i = 0; i < n && len + 32 < cap; i++) {
        size_t w = strlen(all[i]->name);
        if (i) {
            memcpy(buf + len, ", ", 2);
            len += 2;
        }
        memcpy(buf + len, all[i]->name, w);
        len += w;
        buf[len] = '\0';
    }
    return buf;
}

static const char *program_of_op(const ntg_plan *p, uint32_t op)
{
    for (uint32_t g = 0; g < p->img.n_programs; g++)
        for (uint32_t k = 0; k < p->programs[g].n_ops; k++)
            if (p->programs[g].ops[k] == op) return p->programs[g].name;
    return "?";
}

static size_t page_size(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    return pg > 0 ? (size_t)pg : 4096;
}

/* Open storage `sto` of a lean session up to `bytes` (whole pages): the pages come on first
 * touch, zero.  Pointers into it stay where they are: the mapping was reserved whole. */
static ntg_status open_storage(ntg_session *s, int sto, uint64_t bytes, ntg_error *err)
{
    if (bytes <= s->open_bytes[sto] || !s->host_map[sto]) return NTG_OK;
    size_t page = page_size(), len = s->host_map_bytes[sto];
    if (bytes < len) len = (size_t)((bytes + page - 1) / page * page);
    if (mprotect(s->host_map[sto], len, PROT_READ | PROT_WRITE) != 0)
        return ntg__fail(err, NTG_ERR_NOMEM, "cannot open %zu bytes of the %s", len,
                         sto == NTG_STORE_ARENA ? "arena" : "optimizer state");
    uint64_t all = s->plan->img.info.storage_bytes[sto];
    s->open_bytes[sto] = len < all ? len : all;
    return NTG_OK;
}

/* The arena (or state) of a host backend as an anonymous private mapping, wrapped as
 * the backend's buffer. The plan sizes the arena for its maximum batch, but a run at
 * batch b writes only the first b rows of each tensor: with the pages made on first
 * touch (zero, as the state needs), 4 rows on a plan compiled for 262144 touch a few
 * pages per tensor instead of the whole arena. MAP_NORESERVE: the part never touched
 * is not charged against the commit limit either.  A lean session maps it all without
 * access and opens only `open` bytes of it (see lean_sizes). */
static ntg_status map_lazily(ntg_session *s, int sto, size_t bytes, uint64_t open, ntg_error *err)
{
    size_t page = page_size();
    size_t len = bytes > SIZE_MAX - page ? 0 : (bytes + page - 1) / page * page;
    void *mem = len ? mmap(NULL, len, s->lean ? PROT_NONE : PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                    : MAP_FAILED;
    if (mem == MAP_FAILED)
        return ntg__fail(err, NTG_ERR_NOMEM, "cannot map %zu bytes for the %s", bytes,
                         sto == NTG_STORE_ARENA ? "arena" : "optimizer state");
    s->host_map[sto] = mem;
    s->host_map_bytes[sto] = len;
    s->open_bytes[sto] = s->lean ? 0 : bytes;
    ntg_status st = s->lean ? open_storage(s, sto, open, err) : NTG_OK;
    if (st) return st;
    return s->cls->buffer_wrap(s->be, mem, bytes, 0, &s->storage[sto], err);
}

/*
 * A session without NTG_SESSION_TRAINABLE on a host backend (cpu, xnnpack) is lean: what
 * it pays for is the infer program's arena — open up to that program's arena_peak (the
 * compiler's per-program extent, compiler/memplan.c) and resident only where a run at its
 * own batch writes — and no optimizer state (twice the weights with Adam).  The other programs it
 * may run (eval, grad: those that update no parameter) find their part of the arena and the state
 * reserved and have it opened on their first run. Device backends bind their buffers whole and keep
 * the plan's sizes.
 */
static ntg_status lean_sizes(ntg_session *s, uint64_t open[NTG_STORE_COUNT], ntg_error *err)
{
    const ntg_plan *p = s->plan;
    memcpy(open, p->img.info.storage_bytes, sizeof(uint64_t) * NTG_STORE_COUNT);
    s->lean = !s->trainable && s->cls->buffer_wrap;
    s->reads_state = calloc(p->img.n_programs + 1, 1);
    if (!s->reads_state) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (uint32_t g = 0; g < p->img.n_programs; g++)
        for (uint32_t k = 0; k < p->programs[g].n_ops; k++) {
            const ntg_op_rec *op = &p->img.ops[p->programs[g].ops[k]];
            for (uint32_t i = 0; i < (uint32_t)op->n_in + op->n_out; i++) {
                uint32_t id = p->img.operands[op->operands + i];
                if (id != NTG_NONE && p->img.tensors[id].storage == NTG_STORE_STATE)
                    s->reads_state[g] = 1;
            }
        }
    if (!s->lean) return NTG_OK;
    open[NTG_STORE_ARENA] = p->infer_program >= 0 ? p->img.programs[p->infer_program].arena_peak
                                                  : p->img.info.storage_bytes[NTG_STORE_ARENA];
    open[NTG_STORE_STATE] = p->infer_program >= 0 && s->reads_state[p->infer_program]
                                ? p->img.info.storage_bytes[NTG_STORE_STATE]
                                : 0;
    return NTG_OK;
}

uint64_t ntg__session_open_bytes(const ntg_session *s)
{
    return s ? s->open_bytes[NTG_STORE_ARENA] + s->open_bytes[NTG_STORE_STATE] : 0;
}

ntg_status ntg_session_create(const ntg_plan *plan, const ntg_session_options *opts,
                              ntg_session **out, ntg_error *err)
{
    ntg_session_options o;
    if (!out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_session_create: out is NULL");
    *out = NULL;
    if (!plan) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_session_create: plan is NULL");
    ntg_session_options_init(&o);
    ntg_status ost = NTG__ABI_IN(&o, opts, ntg_session_options, flags, "ntg_session_create", err);
    if (ost) return ost;
    opts = &o;
    const char *bname = opts->backend ? opts->backend : "auto";
    const ntg_backend_class *cls = ntg__backend_find(bname);
    if (!cls) {
        char names[256];
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "unknown backend '%s' (this build has: %s)",
                         bname, backend_names(names, sizeof names));
    }
    char info[256] = "";
    /* no device or driver: a failure of the machine, not of the request (CLI exit 1) */
    if (cls->available && !cls->available(info, sizeof info))
        return ntg__fail(err, NTG_ERR_BACKEND, "backend '%s' is not available here: %s", cls->name,
                         info);
    int pmax = (int)plan->img.info.max_batch;
    int max_batch = opts->max_batch > 0 ? opts->max_batch : pmax;
    if (opts->max_batch < 0 || max_batch > pmax)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "max batch %d is outside 1..%d (the plan's maximum)", opts->max_batch,
                         pmax);
    if (opts->threads < 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "threads must be >= 0, not %d", opts->threads);

    ntg_session *s = calloc(1, sizeof *s);
    if (!s) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    s->plan = plan;
    s->cls = cls;
    s->max_batch = max_batch;
    ntg_backend_config cfg = {opts->threads, max_batch};
    ntg_status st = cls->create(&cfg, &s->be, err);
    if (st) goto fail;
    for (uint32_t k = 0; k < plan->img.n_ops; k++) {
        const ntg_op_rec *op = &plan->img.ops[k];
        if (!cls->supports(s->be, op->code, op->dir, NTG_DTYPE_F32)) {
            st = ntg__fail(err, NTG_ERR_UNSUPPORTED,
                           "backend '%s' has no %s kernel for op '%s' (program %s, %s)", cls->name,
                           op->dir ? "backward" : "forward", ntg__op_info(op->code)->cls->name,
                           program_of_op(plan, k), ntg__plan_str(plan, op->loc));
            goto fail;
        }
    }
    s->trainable = (opts->flags & NTG_SESSION_TRAINABLE) != 0;
    s->writes_weights = calloc(plan->img.n_programs + 1, 1);
    if (!s->writes_weights) {
        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t g = 0; g < plan->img.n_programs; g++)
        for (uint32_t k = 0; k < plan->programs[g].n_ops; k++) {
            const ntg_op_rec *op = &plan->img.ops[plan->programs[g].ops[k]];
            if (ntg__op_info(op->code)->cls->flags & NTG_OPF_INPLACE) {
                uint32_t id = plan->img.operands[op->operands];
                if (plan->img.tensors[id].storage == NTG_STORE_WEIGHTS) s->writes_weights[g] = 1;
            }
        }
    uint64_t open[NTG_STORE_COUNT];
    if ((st = lean_sizes(s, open, err))) goto fail;
    for (int sto = NTG_STORE_ARENA; sto < NTG_STORE_COUNT; sto++) {
        uint64_t bytes = plan->img.info.storage_bytes[sto];
        if (bytes == 0) continue;
        if (sto == NTG_STORE_WEIGHTS && cls->buffer_wrap && !s->trainable) {
            /* inference reads parameters straight from the (mapped) plan */
            st = cls->buffer_wrap(s->be, (void *)plan->img.weights, (size_t)bytes, 1,
                                  &s->storage[sto], err);
        } else if (sto != NTG_STORE_WEIGHTS && cls->buffer_wrap) {
            st = map_lazily(s, sto, (size_t)bytes, open[sto], err);
        } else if (cls->buffer_wrap) {
            /* a trainable session's own weights on a host backend: host memory the trainer
             * can address (ntg__session_host_tensor; a sharded optimizer's all-gather writes
             * the other workers' updated weights there) */
            st = map_lazily(s, sto, (size_t)bytes, bytes, err);
            if (!st) memcpy(s->host_map[sto], plan->img.weights, (size_t)bytes);
        } else {
            st = cls->buffer_alloc(s->be, (size_t)bytes, &s->storage[sto], err);
            if (!st && sto == NTG_STORE_WEIGHTS)
                st = cls->upload(s->be, s->storage[sto], 0, plan->img.weights, (size_t)bytes, err);
        }
        if (st) goto fail;
    }
    st = cls->prepare(s->be, &plan->view, s->storage, err);
    if (st) goto fail;
    *out = s;
    return NTG_OK;
fail:
    ntg_session_destroy(s);
    return st;
}

void ntg_session_destroy(ntg_session *s)
{
    if (!s) return;
    for (int sto = 0; sto < NTG_STORE_COUNT; sto++) {
        if (s->storage[sto]) s->cls->buffer_free(s->be, s->storage[sto]);
        if (s->host_map[sto]) munmap(s->host_map[sto], s->host_map_bytes[sto]);
        if (s->host_fd[sto] > 0) close(s->host_fd[sto]);
    }
    if (s->be) s->cls->destroy(s->be);
    free(s->writes_weights);
    free(s->reads_state);
    free(s);
}

const char *ntg_session_backend(const ntg_session *s)
{
    return s ? s->cls->name : "";
}

int ntg_session_threads(const ntg_session *s)
{
    if (!s) return 0;
    return s->cls->threads ? s->cls->threads(s->be) : 1;
}

uint32_t ntg__session_find(const ntg_session *s, const char *name, int is_output)
{
    for (uint32_t g = 0; g < s->plan->img.n_programs; g++) {
        uint32_t id = ntg__plan_io(s->plan, (int)g, is_output, name);
        if (id != NTG_NONE) return id;
    }
    return NTG_NONE;
}

ntg_status ntg_session_set_input(ntg_session *s, const char *name, const float *data, size_t count,
                                 ntg_error *err)
{
    if (!s || !name || (!data && count))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_session_set_input: NULL argument");
    uint32_t id = ntg__session_find(s, name, 0);
    if (id == NTG_NONE)
        return ntg__fail(err, NTG_ERR_NOT_FOUND, "the plan has no input '%s'", name);
    return ntg__session_set_tensor(s, id, data, count, err);
}

ntg_status ntg__session_set_tensor(ntg_session *s, uint32_t id, const float *data, size_t count,
                                   ntg_error *err)
{
    const ntg_tensor_rec *t = &s->plan->img.tensors[id];
    const char *name = ntg__plan_str(s->plan, t->name);
    ntg_tdesc d;
    ntg__tdesc_from_rec(t, &d);
    size_t inner = (size_t)ntg__tdesc_inner(&d);
    size_t max = d.batched ? inner * (size_t)s->max_batch : inner;
    if (count > max || (d.batched && count % inner) || (!d.batched && count != inner))
        return ntg__fail(err, NTG_ERR_RANGE, "input '%s' takes %s%zu values%s, not %zu", name,
                         d.batched ? "a multiple of " : "", inner,
                         d.batched ? " (one per window element) up to the maximum batch" : "",
                         count);
    ntg_status st = open_storage(s, t->storage, t->offset + count * sizeof(float), err);
    if (st) return st;
    return s->cls->upload(s->be, s->storage[t->storage], (size_t)t->offset, data,
                          count * sizeof(float), err);
}

/* Run a program whole (end UINT32_MAX), or its first ops [0, end) with run_range. */
static ntg_status session_run(ntg_session *s, int program, int batch, uint32_t end, ntg_error *err)
{
    if (batch < 1 || batch > s->max_batch)
        return ntg__fail(err, NTG_ERR_RANGE, "batch %d is outside 1..%d", batch, s->max_batch);
    if (s->writes_weights[program] && !s->trainable)
        return ntg__fail(err, NTG_ERR_STATE,
                         "program '%s' updates the parameters: create the session with "
                         "NTG_SESSION_TRAINABLE",
                         s->plan->programs[program].name);
    /* a lean session opens what this program needs on its first run */
    ntg_status st =
        open_storage(s, NTG_STORE_ARENA, s->plan->img.programs[program].arena_peak, err);
    if (!st && s->reads_state[program])
        st =
            open_storage(s, NTG_STORE_STATE, s->plan->img.info.storage_bytes[NTG_STORE_STATE], err);
    if (st) return st;
    st = end == UINT32_MAX ? s->cls->run(s->be, (uint32_t)program, batch, err)
                           : s->cls->run_range(s->be, (uint32_t)program, batch, 0, end, err);
    if (!st) {
        s->last_batch = batch;
        s->last_program = program;
    }
    return st;
}

int ntg__session_can_run_range(const ntg_session *s)
{
    return s->cls->run_range != NULL;
}

ntg_status ntg__session_run_range(ntg_session *s, int program, int batch, uint32_t first,
                                  uint32_t end, ntg_error *err)
{
    if (!s->cls->run_range)
        return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                         "the %s backend runs programs only as a whole, not in op ranges",
                         s->cls->name);
    if (end > s->plan->img.programs[program].n_ops || first > end)
        return ntg__fail(err, NTG_ERR_RANGE, "ops %u..%u of program '%s', which has %u", first, end,
                         s->plan->programs[program].name, s->plan->img.programs[program].n_ops);
    if (first > 0) { /* the run's first range checked and opened what it needs */
        if (s->last_program != program || s->last_batch != batch)
            return ntg__fail(err, NTG_ERR_STATE,
                             "ops %u.. of program '%s' at batch %d without the ops before them",
                             first, s->plan->programs[program].name, batch);
        return s->cls->run_range(s->be, (uint32_t)program, batch, first, end, err);
    }
    return session_run(s, program, batch, end, err);
}

int ntg__session_can_run_elems(const ntg_session *s)
{
    return s->cls->run_elems != NULL;
}

ntg_status ntg__session_run_elems(ntg_session *s, int program, uint32_t op, uint64_t lo,
                                  uint64_t hi, ntg_error *err)
{
    if (!s->cls->run_elems)
        return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                         "the %s backend runs no part of an op's elements alone", s->cls->name);
    if (program < 0 || (uint32_t)program >= s->plan->img.n_programs ||
        op >= s->plan->img.programs[program].n_ops)
        return ntg__fail(err, NTG_ERR_RANGE, "no op %u in program %d", op, program);
    if (s->last_program != program)
        return ntg__fail(err, NTG_ERR_STATE,
                         "elements of op %u of program '%s' before a run of it was opened", op,
                         s->plan->programs[program].name);
    return s->cls->run_elems(s->be, (uint32_t)program, op, lo, hi, err);
}

ntg_status ntg__session_run_index(ntg_session *s, int program, int batch, ntg_error *err)
{
    return session_run(s, program, batch, UINT32_MAX, err);
}

ntg_status ntg_session_run(ntg_session *s, int batch, ntg_error *err)
{
    if (!s) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_session_run: session is NULL");
    return ntg__session_run_index(s, s->plan->infer_program, batch, err);
}

ntg_status ntg_session_run_program(ntg_session *s, const char *program, int batch, ntg_error *err)
{
    if (!s || !program)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_session_run_program: NULL argument");
    int g = ntg__plan_program(s->plan, program);
    if (g < 0)
        return ntg__fail(err, NTG_ERR_NOT_FOUND, "the plan has no program '%s'%s", program,
                         strcmp(program, "infer") ? " (compiled with --infer-only?)" : "");
    return ntg__session_run_index(s, g, batch, err);
}

ntg_status ntg_session_get_output(ntg_session *s, const char *name, float *out, size_t count,
                                  ntg_error *err)
{
    if (!s || !name || (!out && count))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_session_get_output: NULL argument");
    /* the last program's own output of that name first: programs may share names */
    uint32_t id = s->last_batch ? ntg__plan_io(s->plan, s->last_program, 1, name) : NTG_NONE;
    if (id == NTG_NONE) id = ntg__session_find(s, name, 1);
    if (id == NTG_NONE)
        return ntg__fail(err, NTG_ERR_NOT_FOUND, "the plan has no output '%s'", name);
    return ntg__session_get_tensor(s, id, out, count, err);
}

float *ntg__session_host_tensor(ntg_session *s, uint32_t id)
{
    const ntg_tensor_rec *t = &s->plan->img.tensors[id];
    int sto = t->storage;
    if (!s->host_map[sto]) return NULL; /* a device backend's, or read-only plan weights */
    ntg_tdesc d;
    ntg__tdesc_from_rec(t, &d);
    size_t inner = (size_t)ntg__tdesc_inner(&d);
    size_t count = d.batched ? inner * (size_t)s->max_batch : inner;
    ntg_error e;
    if (open_storage(s, sto, t->offset + count * sizeof(float), &e) != NTG_OK) return NULL;
    return (float *)(void *)((unsigned char *)s->host_map[sto] + t->offset);
}

ntg_status ntg__session_get_tensor(ntg_session *s, uint32_t id, float *out, size_t count,
                                   ntg_error *err)
{
    const char *name = ntg__plan_str(s->plan, s->plan->img.tensors[id].name);
    if (s->last_batch == 0)
        return ntg__fail(err, NTG_ERR_STATE, "output '%s' read before any run", name);
    /* another program's output holds what an earlier run left there, or nothing */
    if (ntg__plan_io(s->plan, s->last_program, 1, name) != id)
        return ntg__fail(err, NTG_ERR_STATE,
                         "output '%s' is not computed by program '%s', the last one run (run "
                         "the program that computes it first)",
                         name, s->plan->programs[s->last_program].name);
    const ntg_tensor_rec *t = &s->plan->img.tensors[id];
    ntg_tdesc d;
    ntg__tdesc_from_rec(t, &d);
    size_t inner = (size_t)ntg__tdesc_inner(&d);
    size_t max = d.batched ? inner * (size_t)s->last_batch : inner;
    if (count > max)
        return ntg__fail(err, NTG_ERR_RANGE,
                         "output '%s' holds %zu values after the last run (batch %d), not %zu",
                         name, max, s->last_batch, count);
    return s->cls->download(s->be, s->storage[t->storage], (size_t)t->offset, out,
                            count * sizeof(float), err);
}

/* The whole of `storage` open, for a copy of all of it. */
static ntg_status whole_storage(ntg_session *s, int storage, ntg_error *err)
{
    if (storage == NTG_STORE_WEIGHTS) return NTG_OK;
    return open_storage(s, storage, s->plan->img.info.storage_bytes[storage], err);
}

ntg_status ntg__session_read_storage(ntg_session *s, int storage, void *dst, ntg_error *err)
{
    uint64_t bytes = s->plan->img.info.storage_bytes[storage];
    if (!bytes) return NTG_OK;
    ntg_status st = whole_storage(s, storage, err);
    if (st) return st;
    return s->cls->download(s->be, s->storage[storage], 0, dst, (size_t)bytes, err);
}

ntg_status ntg__session_write_storage(ntg_session *s, int storage, const void *src, ntg_error *err)
{
    uint64_t bytes = s->plan->img.info.storage_bytes[storage];
    if (!bytes) return NTG_OK;
    if (storage == NTG_STORE_WEIGHTS && !s->trainable)
        return ntg__fail(err, NTG_ERR_STATE,
                         "parameters of a session created without "
                         "NTG_SESSION_TRAINABLE are read-only");
    ntg_status st = whole_storage(s, storage, err);
    if (st) return st;
    return s->cls->upload(s->be, s->storage[storage], 0, src, (size_t)bytes, err);
}

/* Linux: the storage's mapping moved, in place (MAP_FIXED: every pointer into it stays valid),
 * onto a memfd, its contents copied (only pages that hold something: the rest of an arena is
 * untouched zero pages and stays unallocated). */
ntg_status ntg__session_share(ntg_session *s, int sto, int *fd, void **base, size_t *bytes,
                              ntg_error *err)
{
    static const char *names[NTG_STORE_COUNT] = {NULL, "arena", "weights", "state"};
    if (sto < 0 || sto >= NTG_STORE_COUNT || !s->host_map[sto] || s->lean)
        return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                         "the %s of this session is not host memory it owns",
                         sto >= 0 && sto < NTG_STORE_COUNT && names[sto] ? names[sto] : "storage");
    size_t len = s->host_map_bytes[sto];
    if (s->host_fd[sto] <= 0) {
#ifdef MFD_CLOEXEC
        int f = memfd_create("ntgraph-session", MFD_CLOEXEC);
#else
        int f = -1;
#endif
        if (f < 0)
            return ntg__fail(err, NTG_ERR_IO, "cannot create shared memory for the %s", names[sto]);
        void *tmp = MAP_FAILED;
        if (ftruncate(f, (off_t)len) == 0)
            tmp = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, f, 0);
        if (tmp == MAP_FAILED) {
            close(f);
            return ntg__fail(err, NTG_ERR_NOMEM, "cannot map %zu bytes of shared memory for the %s",
                             len, names[sto]);
        }
        static const unsigned char zero[4096];
        const unsigned char *from = s->host_map[sto];
        for (size_t o = 0; o < len; o += sizeof zero) {
            size_t k = len - o < sizeof zero ? len - o : sizeof zero;
            if (memcmp(from + o, zero, k) != 0) memcpy((unsigned char *)tmp + o, from + o, k);
        }
        munmap(tmp, len);
        void *p = mmap(s->host_map[sto], len, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED | MAP_NORESERVE, f, 0);
        if (p == MAP_FAILED) {
            close(f);
            return ntg__fail(err, NTG_ERR_NOMEM, "cannot move the %s into shared memory",
                             names[sto]);
        }
        s->host_fd[sto] = f;
    }
    *fd = s->host_fd[sto];
    *base = s->host_map[sto];
    *bytes = len;
    return NTG_OK;
}
