/* xnn_backend.c — the fast CPU backend: XNNPACK operators, own SIMD kernels, one thread pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host_buf.h"
#include "ntg_error.h"
#include "ref/ref_kernels.h"
#include "xnn_int.h"

/*
 * Design:
 *  - prepare does every one-time thing: per op, an implementation is chosen and its
 *    arguments computed from the plan (pointers into the storages, dims at the maximum
 *    batch), XNNPACK operators are created and weights packed when the weights storage is
 *    read-only (an inference session over the mapped plan: they cannot change); run only
 *    patches the batch.  Then xnn_fuse.c rewires chains whose links no one else reads.
 *  - one ntg_tpool per instance (ops/tpool.h: work claimed from a shared counter, so a late
 *    worker's share is done by whoever runs; bounded spinning, then sleep); each kernel picks
 *    its thread count from its size, so tiny ops stay on the calling thread; after a run the
 *    workers are told to sleep at once instead of spinning until the next one.
 *  - reductions use fixed orders (column sums in row order, fixed blocks): a run is bitwise
 *    reproducible for a given thread count.
 *  - ops without a fast kernel (reductions, posenc, pinball) run the reference kernel on
 *    the same views and the shared scratch.
 * Which implementation each op got: ntg__xnn_op_impl, or NTG_XNN_PROFILE=1 (a table of the
 * time per op kind, printed when the instance is destroyed).
 */

/* Cost model of the thread choice: a parallel dispatch costs a few microseconds (more when
 * the workers sleep), so work below ~20 us stays on one thread.  Memory-bound kernels move
 * ~24 bytes/ns on one core here (L2/L3-resident activations), compute ~20 flop/ns. */
#define XNN_FLOP_PER_NS 20.0
#define XNN_BYTE_PER_NS 24.0
#define XNN_PAR_MIN_NS 20000.0

/* ------------------------------------------------------------- helpers */

int64_t ntg__xnn_numel(const ntg_view *v)
{
    return ntg__tdesc_numel(&v->d);
}

void ntg__xnn_zero(const ntg_view *v)
{
    if (v->data) memset(v->data, 0, (size_t)ntg__xnn_numel(v) * sizeof(float));
}

typedef struct tr_ctx {
    const float *src;
    float *dst;
    int64_t rows, cols;
    int isa;
    size_t chunks;
} tr_ctx;

/* Columns of src (rows of dst) in chunks of whole 8-column groups. */
static void tr_task(void *p, size_t i)
{
    const tr_ctx *c = p;
    int64_t g = (c->cols + 7) / 8;
    int64_t c0 = 8 * (g * (int64_t)i / (int64_t)c->chunks);
    int64_t c1 = 8 * (g * (int64_t)(i + 1) / (int64_t)c->chunks);
    if (c1 > c->cols) c1 = c->cols;
    if (c1 > c0)
        ntg__xgemm_transpose(c->isa, c->src + c0, c->cols, c->rows, c1 - c0, c->dst + c0 * c->rows,
                             c->rows);
}

void ntg__xnn_transpose(ntg_backend *b, const float *src, int64_t rows, int64_t cols, float *dst)
{
    /* N-HiTS' flipped dW, 240 x 512, one thread: ~33 us with AVX2 in cache and 106-163 us from
     * memory, against 38-61 and 202-251 us for the scalar 16 x 16 tiles this replaced (which
     * also ran on the calling thread alone); 8 bytes a float make that size 2 threads */
    double n = (double)rows * (double)cols;
    int nthr = ntg__xnn_threads_for(b, 0.0, 8.0 * n);
    if (nthr > (cols + 7) / 8) nthr = (int)((cols + 7) / 8);
    if (nthr < 1) nthr = 1;
    tr_ctx c = {src, dst, rows, cols, b->isa, (size_t)nthr};
    ntg__xnn_parallel(b, nthr, tr_task, &c, c.chunks);
}

void ntg__xnn_parallel(ntg_backend *b, int nthr, xnn_task_fn fn, void *ctx, size_t n)
{
    if (nthr <= 1 || n <= 1 || !b->pool || b->solo) {
        for (size_t i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    b->pool_used = 1;
    b->dispatches++;
    ntg__tpool_run(b->pool, fn, ctx, n);
}

size_t ntg__xnn_chunks(int nthr, int64_t n, int64_t min_per_chunk)
{
    if (nthr <= 1) return 1;
    int64_t most = min_per_chunk > 0 ? n / min_per_chunk : n;
    int64_t c = (int64_t)nthr * XNN_CHUNKS_PER_THREAD;
    if (c > most) c = most;
    return (size_t)(c < nthr ? nthr : c);
}

int ntg__xnn_threads_for(const ntg_backend *b, double flops, double bytes)
{
    if (b->threads <= 1) return 1;
    if (b->policy & XNN_POL_PAR_ALWAYS) return b->threads;
    double ns = flops / XNN_FLOP_PER_NS;
    if (bytes / XNN_BYTE_PER_NS > ns) ns = bytes / XNN_BYTE_PER_NS;
    if (ns < XNN_PAR_MIN_NS) return 1;
    double t = ns / XNN_PAR_MIN_NS;
    return t >= (double)b->threads ? b->threads : (int)t < 1 ? 1 : (int)t;
}

ntg_tpool *ntg__xnn_pool(ntg_backend *b, int nthr)
{
    if (nthr <= 1 || !b->pool || b->solo) return NULL;
    b->pool_used = 1;
    b->dispatches++;
    return b->pool;
}

void ntg__xnn_gemm(ntg_backend *b, const ntg_xgemm_args *g)
{
    int t = b->policy & XNN_POL_PAR_ALWAYS ? b->threads
                                           : ntg__xgemm_threads(g->m, g->n, g->k, b->threads);
    ntg__xgemm_isa(ntg__xnn_pool(b, t), t, g, b->scratch, b->isa);
}

size_t ntg__xnn_gemm_scratch(const ntg_backend *b, const ntg_xgemm_args *g)
{
    /* every task of a split packs at most what one thread alone packs, and there are at
     * most NTG_XGEMM_SUB tasks per thread: a bound for any m and any split */
    size_t one = ntg__xgemm_scratch_bytes(g, 1), all = ntg__xgemm_scratch_bytes(g, b->threads);
    size_t bound = b->threads > 1 ? one * (size_t)b->threads * NTG_XGEMM_SUB : one;
    return bound > all ? bound : all;
}

void ntg__xnn_run_ref(ntg_backend *b, xnn_op *o, int batch)
{
    ntg_kctx c = {o->attr, o->n_attr, o->n_in,    o->n_out,        o->in,
                  o->out,  batch,     b->scratch, b->scratch_bytes};
    ntg_kernel_fn fn = o->dir == NTG_DIR_FWD ? ntg__cpu_fwd[o->code] : ntg__cpu_bwd[o->code];
    fn(&c);
}

size_t ntg__xnn_ref_scratch(const ntg_backend *b, const xnn_op *o)
{
    ntg_kctx c = {o->attr, o->n_attr, o->n_in, o->n_out, o->in, o->out, b->cfg.max_batch, NULL, 0};
    return ntg__cpu_scratch_bytes(o->code, o->dir, &c);
}

/* ------------------------------------------------------- availability */

/* What `ntgraph backends` says this build runs on: with libXNNPACK, its operators where they
 * win (docs/cpu-backend.md) and our kernels elsewhere; without it, our kernels alone. */
#ifdef NTG_HAVE_XNNPACK
#define XNN_LIB_INFO "XNNPACK (2022) +"
#else
#define XNN_LIB_INFO "built without libXNNPACK:"
#endif

static int xnn_available(char *info, size_t cap)
{
#ifdef NTG_HAVE_XNNPACK
    /* xnn_initialize is process-wide and idempotent (XNNPACK's own once-only state) */
    enum xnn_status st = xnn_initialize(NULL);
    if (st != xnn_status_success) {
        snprintf(info, cap, "XNNPACK does not initialise on this CPU (status %d)", (int)st);
        return 0;
    }
#endif
    /* a bad cap still leaves the backend "available": `auto` must not quietly fall back to the
     * reference kernels; creating an instance then fails with this message */
    int isa;
    ntg_error e;
    if (ntg__isa_cap_from_env(&isa, &e) != NTG_OK) {
        snprintf(info, cap, "%s (sessions on this backend fail until it is fixed)", e.message);
        return 1;
    }
    snprintf(info, cap, "%s own %s kernels, xgemm %s, %d threads; %s cap: %s", XNN_LIB_INFO,
             ntg__simd_vk_pick(isa)->isa, ntg__xgemm_isa_name(ntg__xgemm_capped_isa(isa)),
             ntg__cpu_default_threads(NULL), NTG_CPU_ISA_ENV,
             getenv(NTG_CPU_ISA_ENV) && *getenv(NTG_CPU_ISA_ENV) ? ntg__isa_name(isa) : "none");
    return 1;
}

/* ------------------------------------------------------------ instance */

static ntg_status xnn_create(const ntg_backend_config *cfg, ntg_backend **out, ntg_error *err)
{
#ifdef NTG_HAVE_XNNPACK
    if (xnn_initialize(NULL) != xnn_status_success)
        return ntg__fail(err, NTG_ERR_UNSUPPORTED, "xnnpack backend: XNNPACK does not initialise");
#endif
    int isa;
    if (ntg__isa_cap_from_env(&isa, err) != NTG_OK) {
        ntg__err_prefix(err, "xnnpack backend: ");
        return NTG_ERR_INVALID_ARG;
    }
    ntg_backend *b = calloc(1, sizeof *b);
    if (!b) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    b->cfg = *cfg;
    b->threads = cfg->threads > 0 ? cfg->threads : ntg__cpu_default_threads(NULL);
    b->isa = isa;
    b->vk = ntg__simd_vk_pick(isa);
    const char *prof = getenv("NTG_XNN_PROFILE");
    b->profile = !prof ? 0 : strcmp(prof, "ops") == 0 || strcmp(prof, "2") == 0 ? 2 : 1;
    /* developer knob for measurements: the XNN_POL_* bits (xnn_int.h) */
    const char *pol = getenv("NTG_XNN_POLICY");
    if (pol) ntg__xnn_set_policy(b, (unsigned)strtoul(pol, NULL, 0));
    if (b->threads > 1) {
        ntg_status st = ntg__tpool_create(b->threads, &b->pool, err);
        if (st) {
            free(b);
            ntg__err_prefix(err, "xnnpack backend: ");
            return st;
        }
    }
    *out = b;
    return NTG_OK;
}

/* The NTG_XNN_PROFILE table: time per op kind and implementation, most first. */
static void print_profile(const ntg_backend *b)
{
    double total = 0;
    for (uint32_t k = 0; k < b->n_ops; k++) total += b->ops[k].prof_ns;
    if (total <= 0) return;
    fprintf(stderr, "xnnpack profile (%d threads, %s): %.3f ms in all\n", b->threads, b->vk->isa,
            total * 1e-6);
    char done[4096] = {0};
    for (;;) {
        /* the heaviest (code, dir, impl) group not printed yet */
        double best = -1;
        uint32_t bk = 0;
        for (uint32_t k = 0; k < b->n_ops && k < sizeof done; k++) {
            if (done[k] || b->ops[k].prof_runs == 0) continue;
            double t = 0;
            for (uint32_t j = k; j < b->n_ops; j++)
                if (b->ops[j].code == b->ops[k].code && b->ops[j].dir == b->ops[k].dir &&
                    b->ops[j].impl == b->ops[k].impl)
                    t += b->ops[j].prof_ns;
            if (t > best) best = t, bk = k;
        }
        if (best < 0) break;
        const xnn_op *o = &b->ops[bk];
        uint64_t runs = 0;
        int n = 0;
        for (uint32_t j = bk; j < b->n_ops && j < sizeof done; j++)
            if (o->code == b->ops[j].code && o->dir == b->ops[j].dir && o->impl == b->ops[j].impl) {
                done[j] = 1;
                runs += b->ops[j].prof_runs;
                n++;
            }
        fprintf(stderr, "  %5.1f%% %10.3f ms  %-14s %s %-14s (%d ops, %llu runs)\n",
                100.0 * best / total, best * 1e-6, ntg__op_info(o->code)->cls->name,
                o->dir ? "bwd" : "fwd", o->impl, n, (unsigned long long)runs);
    }
    if (b->profile < 2) return;
    /* NTG_XNN_PROFILE=ops (or 2): every op in plan order, its time per run and its parallel
     * calls per run (0: it ran on the calling thread alone) */
    fprintf(stderr, "  per op (plan order): ms per run, parallel calls per run\n");
    for (uint32_t k = 0; k < b->n_ops; k++) {
        const xnn_op *o = &b->ops[k];
        if (!o->prof_runs) continue;
        fprintf(stderr, "  %5u %9.4f ms %5.2f  %-14s %s %-14s (%llu runs)\n", (unsigned)k,
                o->prof_ns * 1e-6 / (double)o->prof_runs,
                (double)o->prof_par / (double)o->prof_runs, ntg__op_info(o->code)->cls->name,
                o->dir ? "bwd" : "fwd", o->impl, (unsigned long long)o->prof_runs);
    }
}

ntg_status ntg__xnn_pack_shared(ntg_backend *b, xnn_op *o, const char *what, size_t bytes,
                                ntg_shared_fill_fn fill, void *ctx, ntg_error *err)
{
    if (b->shared) {
        char key[96];
        /* the packed layout depends on the instruction set (panel widths) */
        snprintf(key, sizeof key, "xnnpack/isa%d/op%u/%s", b->isa, (unsigned)(o - b->ops), what);
        ntg_status st = b->shared->get(b->shared->self, key, bytes, fill, ctx, &o->own, err);
        if (!st) o->own_shared = 1;
        return st;
    }
    void *mem = NULL;
    if (posix_memalign(&mem, 64, bytes ? bytes : 64))
        return ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes of packed weights", bytes);
    ntg_status st = fill(ctx, mem, err);
    if (st) {
        free(mem);
        return st;
    }
    o->own = mem;
    return NTG_OK;
}

static void release_ops(ntg_backend *b)
{
    if (b->profile && b->ops) print_profile(b);
    for (uint32_t k = 0; b->ops && k < b->n_ops; k++) {
#ifdef NTG_HAVE_XNNPACK
        if (b->ops[k].xop) xnn_delete_operator(b->ops[k].xop);
        for (int c = 0; c < b->ops[k].n_xclone; c++)
            if (b->ops[k].xclone[c]) xnn_delete_operator(b->ops[k].xclone[c]);
#endif
        free(b->ops[k].xclone);
        if (b->ops[k].own_shared)
            b->shared->put(b->shared->self, b->ops[k].own);
        else
            free(b->ops[k].own);
        if (b->ops[k].zsave_owned) free(b->ops[k].zsave);
    }
    free(b->ops);
    b->ops = NULL;
    b->n_ops = 0;
    free(b->views);
    b->views = NULL;
    free(b->scratch);
    b->scratch = NULL;
    b->scratch_bytes = 0;
}

static void xnn_destroy(ntg_backend *b)
{
    if (!b) return;
    release_ops(b);
    ntg__tpool_destroy(b->pool);
    free(b);
}

void ntg__xnn_set_policy(ntg_backend *b, unsigned policy)
{
    b->policy = policy;
    int vk = policy & XNN_POL_VK_PORTABLE ? NTG_ISA_PORTABLE
             : policy & XNN_POL_VK_AVX2   ? NTG_ISA_AVX2
                                          : NTG_ISA_AVX512;
    b->vk = ntg__simd_vk_pick(vk < b->isa ? vk : b->isa);
}

const char *ntg__xnn_op_impl(const ntg_backend *b, uint32_t k)
{
    if (!b->ops || k >= b->n_ops) return "";
    return b->ops[k].impl ? b->ops[k].impl : "reference";
}

static int xnn_threads(const ntg_backend *b)
{
    return b->threads;
}

static int xnn_supports(const ntg_backend *b, uint32_t code, int dir, int dtype)
{
    (void)b;
    /* every op has at least the reference kernel */
    if (code >= NTG_OP_COUNT || dtype != NTG_DTYPE_F32) return 0;
    return dir == NTG_DIR_FWD ? ntg__cpu_fwd[code] != NULL : ntg__cpu_bwd[code] != NULL;
}

/* ------------------------------------------------------------- prepare */

static xnn_prep_fn prep_of(uint32_t code, int dir)
{
    int bwd = dir == NTG_DIR_BWD;
    switch (code) {
    case NTG_OP_dense:
        return bwd ? ntg__xnn_prep_dense_bwd : ntg__xnn_prep_dense;
    case NTG_OP_matmul:
        return bwd ? ntg__xnn_prep_matmul_bwd : ntg__xnn_prep_matmul;
    case NTG_OP_lstm:
        return bwd ? ntg__xnn_prep_lstm_bwd : ntg__xnn_prep_lstm;
    case NTG_OP_relu:
    case NTG_OP_gelu:
    case NTG_OP_tanh:
    case NTG_OP_sigmoid:
    case NTG_OP_scale:
    case NTG_OP_exp:
    case NTG_OP_log:
    case NTG_OP_abs:
    case NTG_OP_sqrt:
    case NTG_OP_softplus:
    case NTG_OP_identity:
        return bwd ? ntg__xnn_prep_unary_bwd : ntg__xnn_prep_unary;
    case NTG_OP_add:
    case NTG_OP_sub:
    case NTG_OP_mul:
        return bwd ? ntg__xnn_prep_bcast_bwd : ntg__xnn_prep_bcast;
    case NTG_OP_softmax:
    case NTG_OP_log_softmax:
        return bwd ? ntg__xnn_prep_softmax_bwd : ntg__xnn_prep_softmax;
    case NTG_OP_layernorm:
        return bwd ? ntg__xnn_prep_layernorm_bwd : ntg__xnn_prep_layernorm;
    case NTG_OP_flip:
    case NTG_OP_slice:
    case NTG_OP_reshape:
    case NTG_OP_concat:
    case NTG_OP_split:
    case NTG_OP_transpose:
        return bwd ? ntg__xnn_prep_layout_bwd : ntg__xnn_prep_layout;
    case NTG_OP_maxpool1d:
        return bwd ? ntg__xnn_prep_maxpool_bwd : ntg__xnn_prep_maxpool;
    case NTG_OP_interp_linear:
        return bwd ? ntg__xnn_prep_interp_bwd : ntg__xnn_prep_interp;
    case NTG_OP_loss_mse:
    case NTG_OP_loss_mae:
    case NTG_OP_loss_huber:
    case NTG_OP_loss_pinball:
        return bwd ? ntg__xnn_prep_loss_bwd : ntg__xnn_prep_loss;
    case NTG_OP_adam:
    case NTG_OP_sgd:
    case NTG_OP_clip_grad_norm:
        return bwd ? NULL : ntg__xnn_prep_optim;
    default:
        return NULL;
    }
}

static ntg_status xnn_prepare(ntg_backend *b, const ntg_plan_view *plan,
                              ntg_buffer *const storage[NTG_STORE_COUNT], ntg_error *err)
{
    release_ops(b);
    b->plan = plan;
    for (int s = 0; s < NTG_STORE_COUNT; s++) b->base[s] = storage[s] ? storage[s]->data : NULL;
    b->weights_readonly = storage[NTG_STORE_WEIGHTS] && storage[NTG_STORE_WEIGHTS]->readonly;
    /* packings of read-only weights are the plan's, made once for all its sessions; a
     * session with its own (trainable) weights packs nothing it could share */
    b->shared = b->weights_readonly ? plan->shared : NULL;
    b->views = calloc(plan->n_operands + 1, sizeof *b->views);
    b->ops = calloc(plan->n_ops + 1, sizeof *b->ops);
    if (!b->views || !b->ops) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    b->n_ops = plan->n_ops;
    size_t scratch = 0;
    for (uint32_t k = 0; k < plan->n_ops; k++) {
        const ntg_op_rec *op = &plan->ops[k];
        xnn_op *o = &b->ops[k];
        ntg_view *v = b->views + op->operands;
        int n = op->n_in + op->n_out;
        for (int i = 0; i < n; i++) {
            uint32_t id = plan->operands[op->operands + (uint32_t)i];
            memset(&v[i], 0, sizeof v[i]);
            if (id == NTG_NONE) continue;
            const ntg_tensor_rec *t = &plan->tensors[id];
            ntg__tdesc_from_rec(t, &v[i].d);
            if (v[i].d.batched) v[i].d.dims[0] = plan->max_batch;
            if (ntg__bwd_has_value(op, i) && b->base[t->storage])
                v[i].data = b->base[t->storage] + t->offset;
            if (i < op->n_in && i < 32 && t->storage == NTG_STORE_WEIGHTS && b->weights_readonly)
                o->const_in |= 1u << i;
        }
        o->code = op->code;
        o->dir = op->dir;
        o->attr = plan->attrs + op->attrs;
        o->n_attr = op->n_attr;
        o->n_in = op->n_in;
        o->n_out = op->n_out;
        o->in = v;
        o->out = v + op->n_in;
        o->max_batch = plan->max_batch;
        xnn_prep_fn prep = b->policy & XNN_POL_REFERENCE ? NULL : prep_of(op->code, op->dir);
        if (prep) {
            ntg_status st = prep(b, o, err);
            if (st) return st;
        }
        if (!o->run) {
            o->run = ntg__xnn_run_ref;
            o->impl = "reference";
            o->scratch = ntg__xnn_ref_scratch(b, o);
        }
        if (o->scratch > scratch) scratch = o->scratch;
    }
    if (!(b->policy & XNN_POL_REFERENCE)) {
        ntg_status st = ntg__xnn_link_gelu(b, plan, err);
        if (st) return st;
    }
    if (!(b->policy & (XNN_POL_REFERENCE | XNN_POL_NO_FUSION))) {
        ntg_status st = ntg__xnn_fuse(b, plan, &scratch, err);
        if (st) return st;
    }
    b->scratch_bytes = scratch;
    if (scratch) {
        void *mem = NULL;
        if (posix_memalign(&mem, 64, (scratch + 63) & ~(size_t)63))
            return ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes of scratch", scratch);
        b->scratch = mem;
    }
    return NTG_OK;
}

/* ----------------------------------------------------------------- run */

static double mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int batch_class(int batch)
{
    int c = 0;
    while (batch > 1 && c < XNN_ADAPT_CLASSES - 1) batch >>= 1, c++;
    return c;
}

/* One op at `batch` (its batched operands set to it first), timed for NTG_XNN_PROFILE. */
static void run_op(ntg_backend *b, xnn_op *o, int batch)
{
    int n = o->n_in + o->n_out;
    for (int i = 0; i < n; i++)
        if (o->in[i].d.batched) o->in[i].d.dims[0] = batch;
    if (!b->profile) {
        o->run(b, o, batch);
        return;
    }
    /* one thread (or every split run on the caller: NTG_XNN_POLICY=0x800): its CPU time,
     * which other processes on the machine do not inflate */
    clockid_t clk = b->threads == 1 || b->solo ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
    struct timespec t1, t2;
    uint64_t d0 = b->dispatches;
    clock_gettime(clk, &t1);
    o->run(b, o, batch);
    clock_gettime(clk, &t2);
    o->prof_par += b->dispatches - d0;
    o->prof_ns += (double)(t2.tv_sec - t1.tv_sec) * 1e9 + (double)(t2.tv_nsec - t1.tv_nsec);
    o->prof_runs++;
}

/* Ops [first, end) of a program.  A run is one range or several in turn (data-parallel
 * training reads finished gradients between them); the adaptive choice is made when a run's
 * first range starts and timed over its ranges alone, so a run cut into ranges adapts as a
 * whole one does. */
static ntg_status xnn_run_range(ntg_backend *b, uint32_t program, int batch, uint32_t first,
                                uint32_t end, ntg_error *err)
{
    const ntg_plan_view *plan = b->plan;
    if (!plan || program >= plan->n_programs)
        return ntg__fail(err, NTG_ERR_INTERNAL, "xnnpack backend: no such program %u", program);
    const ntg_program_view *pg = &plan->programs[program];
    if (first > end || end > pg->n_ops)
        return ntg__fail(err, NTG_ERR_INTERNAL, "xnnpack backend: ops %u..%u of a program of %u",
                         first, end, pg->n_ops);
    if (first == 0) {
        /* the adaptive choice (xnn_int.h, xnn_adapt): probe runs alternate, the others follow */
        b->run_ad = NULL;
        b->run_probe = 0;
        b->run_ns = 0;
        b->solo = 0;
        if (b->pool && program < XNN_ADAPT_PROGRAMS &&
            !(b->policy & (XNN_POL_PAR_ALWAYS | XNN_POL_NO_ADAPT))) {
            xnn_adapt *ad = b->run_ad = &b->adapt[program][batch_class(batch)];
            uint32_t n = ad->runs++ % XNN_ADAPT_CYCLE;
            if (n == 0 || !ad->probes) /* the cycle's probe count, fixed for the whole cycle */
                ad->probes = ad->next_probes ? ad->next_probes : XNN_ADAPT_PROBES;
            b->run_pos = n;
            b->run_probe = n >= 1 && n <= 2 * ad->probes;
            b->solo = b->run_probe ? !(n & 1) : ad->solo;
        }
        if (b->policy & XNN_POL_SOLO) b->solo = 1;
    }
    b->pool_used = 0;
    b->cur_program = program;
    double t0 = b->run_probe ? mono_ns() : 0;
    for (uint32_t k = first; k < end; k++) run_op(b, &b->ops[pg->ops[k]], batch);
    if (b->run_probe) b->run_ns += mono_ns() - t0;
    if (end == pg->n_ops) {
        xnn_adapt *ad = b->run_ad;
        if (b->run_probe && ad) {
            if (b->solo)
                ad->t_solo += b->run_ns;
            else
                ad->t_par += b->run_ns;
            if (b->run_pos == 2 * ad->probes) {
                /* the workers must win by XNN_ADAPT_MARGIN: a run on the caller alone cannot
                 * wait for a descheduled worker, and on an idle machine a near tie means the
                 * split costs what the second thread brings (a batch-1 LSTM training step
                 * probed 5 % faster with workers and ran 4 % slower than one thread) */
                ad->solo = !(ad->t_par < XNN_ADAPT_MARGIN * ad->t_solo);
                ad->next_probes = ad->t_par < XNN_ADAPT_CLEAR * ad->t_solo ? 1 : XNN_ADAPT_PROBES;
                ad->t_solo = ad->t_par = 0;
            }
        }
        b->run_ad = NULL;
        b->run_probe = 0;
        b->solo = 0;
    }
    /* The workers spin briefly after each parallel call, which keeps the next op's dispatch
     * cheap; at the end of a run, or of a range (the caller does other work then), they are
     * told to sleep at once, so an idle session costs no CPU. */
    if (b->pool_used) ntg__tpool_park(b->pool);
    return NTG_OK;
}

/* run_elems: the op's elementwise operands narrowed to [lo, hi), its run, the views back. */
static ntg_status xnn_run_elems(ntg_backend *b, uint32_t program, uint32_t k, uint64_t lo,
                                uint64_t hi, ntg_error *err)
{
    const ntg_plan_view *plan = b->plan;
    if (!plan || program >= plan->n_programs || k >= plan->programs[program].n_ops)
        return ntg__fail(err, NTG_ERR_INTERNAL, "xnnpack backend: no op %u in program %u", k,
                         program);
    xnn_op *o = &b->ops[plan->programs[program].ops[k]];
    ntg_view saved[8];
    if (o->dir != NTG_DIR_FWD)
        return ntg__fail(err, NTG_ERR_INTERNAL, "xnnpack backend: a backward op");
    ntg_status st = ntg__host_elems_narrow(o->code, o->in, o->n_in, lo, hi, saved, err);
    if (st) return st;
    b->pool_used = 0;
    o->run(b, o, 1);
    ntg__host_elems_restore(o->in, o->n_in, saved);
    if (b->pool_used) ntg__tpool_park(b->pool);
    return NTG_OK;
}

static ntg_status xnn_run(ntg_backend *b, uint32_t program, int batch, ntg_error *err)
{
    if (!b->plan || program >= b->plan->n_programs)
        return ntg__fail(err, NTG_ERR_INTERNAL, "xnnpack backend: no such program %u", program);
    return xnn_run_range(b, program, batch, 0, b->plan->programs[program].n_ops, err);
}

const ntg_backend_class ntg__backend_xnnpack = {
    "xnnpack",
#ifdef NTG_HAVE_XNNPACK
    "fast CPU kernels: XNNPACK operators, own AVX-512/AVX2 GEMM and kernels, own thread pool",
#else
    "fast CPU kernels: own AVX-512/AVX2 GEMM and kernels, own thread pool (no libXNNPACK)",
#endif
    xnn_available,
    xnn_create,
    xnn_destroy,
    xnn_supports,
    ntg__host_buffer_alloc,
    ntg__host_buffer_wrap,
    ntg__host_buffer_free,
    ntg__host_upload,
    ntg__host_download,
    xnn_prepare,
    xnn_run,
    xnn_threads,
    xnn_run_range,
    xnn_run_elems,
};
