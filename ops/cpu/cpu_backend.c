/* cpu_backend.c — the reference CPU backend: a plain op-by-op executor over ops/ref/ (host
 * buffers: host_buf.c). */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "host_buf.h"
#include "ntg_error.h"
#include "ref/ref_kernels.h"

struct ntg_backend {
    ntg_backend_config cfg;
    const ntg_plan_view *plan;
    uint8_t *base[NTG_STORE_COUNT];
    ntg_view *views; /* operands of every op, op k's at views[plan->ops[k].operands] */
    void *scratch;
    size_t scratch_bytes;
};

static ntg_status cpu_create(const ntg_backend_config *cfg, ntg_backend **out, ntg_error *err)
{
    ntg_backend *b = calloc(1, sizeof *b);
    if (!b) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    b->cfg = *cfg;
    *out = b;
    return NTG_OK;
}

static void cpu_destroy(ntg_backend *b)
{
    if (!b) return;
    free(b->views);
    free(b->scratch);
    free(b);
}

static int cpu_supports(const ntg_backend *b, uint32_t code, int dir, int dtype)
{
    (void)b;
    if (code >= NTG_OP_COUNT || dtype != NTG_DTYPE_F32) return 0;
    return dir == NTG_DIR_FWD ? ntg__cpu_fwd[code] != NULL : ntg__cpu_bwd[code] != NULL;
}

static ntg_status cpu_prepare(ntg_backend *b, const ntg_plan_view *plan,
                              ntg_buffer *const storage[NTG_STORE_COUNT], ntg_error *err)
{
    b->plan = plan;
    for (int s = 0; s < NTG_STORE_COUNT; s++) b->base[s] = storage[s] ? storage[s]->data : NULL;
    free(b->views);
    b->views = calloc(plan->n_operands + 1, sizeof *b->views);
    if (!b->views) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    size_t scratch = 0;
    for (uint32_t k = 0; k < plan->n_ops; k++) {
        const ntg_op_rec *op = &plan->ops[k];
        ntg_view *v = b->views + op->operands;
        int n = op->n_in + op->n_out;
        for (int i = 0; i < n; i++) {
            uint32_t id = plan->operands[op->operands + (uint32_t)i];
            memset(&v[i], 0, sizeof v[i]);
            if (id == NTG_NONE) continue;
            const ntg_tensor_rec *t = &plan->tensors[id];
            ntg__tdesc_from_rec(t, &v[i].d);
            if (ntg__bwd_has_value(op, i) && b->base[t->storage])
                v[i].data = b->base[t->storage] + t->offset;
        }
        ntg_kctx c = {plan->attrs + op->attrs, op->n_attr, op->n_in, op->n_out, v, v + op->n_in,
                      plan->max_batch,         NULL,       0};
        size_t need = ntg__cpu_scratch_bytes(op->code, op->dir, &c);
        if (need > scratch) scratch = need;
    }
    free(b->scratch);
    b->scratch = NULL;
    b->scratch_bytes = scratch;
    if (scratch) {
        void *mem = NULL;
        if (posix_memalign(&mem, 64, (scratch + 63) & ~(size_t)63))
            return ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes of scratch", scratch);
        b->scratch = mem;
    }
    return NTG_OK;
}

static ntg_status cpu_run_range(ntg_backend *b, uint32_t program, int batch, uint32_t first,
                                uint32_t end, ntg_error *err)
{
    const ntg_plan_view *plan = b->plan;
    if (!plan || program >= plan->n_programs)
        return ntg__fail(err, NTG_ERR_INTERNAL, "cpu backend: no such program %u", program);
    const ntg_program_view *pg = &plan->programs[program];
    if (first > end || end > pg->n_ops)
        return ntg__fail(err, NTG_ERR_INTERNAL, "cpu backend: ops %u..%u of a program of %u", first,
                         end, pg->n_ops);
    for (uint32_t k = first; k < end; k++) {
        const ntg_op_rec *op = &plan->ops[pg->ops[k]];
        ntg_view *v = b->views + op->operands;
        int n = op->n_in + op->n_out;
        for (int i = 0; i < n; i++)
            if (v[i].d.batched) v[i].d.dims[0] = batch;
        ntg_kctx c = {plan->attrs + op->attrs,
                      op->n_attr,
                      op->n_in,
                      op->n_out,
                      v,
                      v + op->n_in,
                      batch,
                      b->scratch,
                      b->scratch_bytes};
        ntg_kernel_fn fn = op->dir == NTG_DIR_FWD ? ntg__cpu_fwd[op->code] : ntg__cpu_bwd[op->code];
        fn(&c);
    }
    return NTG_OK;
}

/* run_elems: the op's elementwise operands narrowed to [lo, hi), its kernel, the views back. */
static ntg_status cpu_run_elems(ntg_backend *b, uint32_t program, uint32_t k, uint64_t lo,
                                uint64_t hi, ntg_error *err)
{
    const ntg_plan_view *plan = b->plan;
    if (!plan || program >= plan->n_programs || k >= plan->programs[program].n_ops)
        return ntg__fail(err, NTG_ERR_INTERNAL, "cpu backend: no op %u in program %u", k, program);
    const ntg_op_rec *op = &plan->ops[plan->programs[program].ops[k]];
    ntg_view *v = b->views + op->operands, saved[8];
    if (op->dir != NTG_DIR_FWD)
        return ntg__fail(err, NTG_ERR_INTERNAL, "cpu backend: a backward op");
    ntg_status st = ntg__host_elems_narrow(op->code, v, op->n_in, lo, hi, saved, err);
    if (st) return st;
    ntg_kctx c = {
        plan->attrs + op->attrs, op->n_attr, op->n_in, op->n_out, v, v + op->n_in, 1, b->scratch,
        b->scratch_bytes};
    ntg__cpu_fwd[op->code](&c);
    ntg__host_elems_restore(v, op->n_in, saved);
    return NTG_OK;
}

static ntg_status cpu_run(ntg_backend *b, uint32_t program, int batch, ntg_error *err)
{
    if (!b->plan || program >= b->plan->n_programs)
        return ntg__fail(err, NTG_ERR_INTERNAL, "cpu backend: no such program %u", program);
    return cpu_run_range(b, program, batch, 0, b->plan->programs[program].n_ops, err);
}

const ntg_backend_class ntg__backend_cpu = {
    "cpu",
    "reference kernels in plain C, single-threaded (the oracle of every backend)",
    NULL,
    cpu_create,
    cpu_destroy,
    cpu_supports,
    ntg__host_buffer_alloc,
    ntg__host_buffer_wrap,
    ntg__host_buffer_free,
    ntg__host_upload,
    ntg__host_download,
    cpu_prepare,
    cpu_run,
    NULL, /* single-threaded */
    cpu_run_range,
    cpu_run_elems,
};
