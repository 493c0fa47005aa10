/* fold.c — constant folding: ops whose inputs are all known at compile time run now, once. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ntg_error.h"
#include "ref/ref_kernels.h"
#include "ir.h"

/* Whether node n can run at compile time: every input a constant (or none), no batched
 * output, and a reference kernel to run it. */
static int foldable(const ntg_ir *ir, const ntg_ir_node *n)
{
    if (n->dir != NTG_DIR_FWD || !ntg__cpu_fwd[n->code]) return 0;
    if (ntg__op_info(n->code)->cls->flags & (NTG_OPF_INPLACE | NTG_OPF_LOSS)) return 0;
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] == NTG_NONE || ntg__ir_tensor(ir, n->in[i])->role != NTG_ROLE_CONST) return 0;
    for (int o = 0; o < n->n_out; o++) {
        const ntg_ir_tensor *t = ntg__ir_tensor(ir, n->out[o]);
        if (t->desc.batched || t->role != NTG_ROLE_ACTIVATION) return 0;
    }
    return 1;
}

static ntg_status run_now(ntg_ir *ir, const ntg_ir_node *n, ntg_error *err)
{
    ntg_view views[72];
    int nv = n->n_in + n->n_out;
    if (nv > 72) return ntg__fail(err, NTG_ERR_GRAPH, "too many operands to fold");
    for (int o = 0; o < n->n_out; o++) {
        ntg_ir_tensor *t = ntg__ir_tensor(ir, n->out[o]);
        t->data = ntg__pool_array(ir->pool, (size_t)ntg__tdesc_numel(&t->desc) + 1, sizeof(float));
        if (!t->data) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < nv; i++) {
        uint32_t id = i < n->n_in ? n->in[i] : n->out[i - n->n_in];
        ntg_ir_tensor *t = ntg__ir_tensor(ir, id);
        views[i].data = t->data;
        views[i].d = t->desc;
    }
    ntg_kctx c = {n->attr, n->n_attr, n->n_in, n->n_out, views, views + n->n_in, 1, NULL, 0};
    size_t scratch = ntg__cpu_scratch_bytes(n->code, NTG_DIR_FWD, &c);
    void *mem = NULL;
    if (scratch && !(mem = malloc(scratch))) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    c.scratch = mem;
    c.scratch_bytes = scratch;
    ntg__cpu_fwd[n->code](&c);
    free(mem);
    for (int o = 0; o < n->n_out; o++) {
        ntg_ir_tensor *t = ntg__ir_tensor(ir, n->out[o]);
        t->role = NTG_ROLE_CONST;
        t->storage = NTG_STORE_WEIGHTS;
        t->producer = -1;
    }
    return NTG_OK;
}

ntg_status ntg__ir_fold_constants(ntg_ir *ir, ntg_error *err)
{
    ntg_ir_program *p = &ir->programs[0];
    size_t nn = ir->nodes.len;
    uint8_t *folded = calloc(nn + 1, 1);
    uint32_t *map = calloc(nn + 1, sizeof *map);
    ntg_status st = folded && map ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    /* program order is topological: a folded node's outputs are constants for the next */
    for (size_t k = 0; !st && k < p->nodes.len; k++) {
        uint32_t id = ntg__ir_u32(&p->nodes, k);
        const ntg_ir_node *n = ntg__ir_node(ir, id);
        if (!foldable(ir, n)) continue;
        if ((st = run_now(ir, n, err))) break;
        folded[id] = 1;
    }
    if (!st) {
        /* drop folded nodes and renumber the rest */
        size_t kept = 0;
        for (size_t k = 0; k < nn; k++) {
            if (folded[k]) {
                map[k] = NTG_NONE;
                continue;
            }
            map[k] = (uint32_t)kept;
            if (kept != k)
                memcpy(ntg__vec_at(&ir->nodes, kept), ntg__vec_at(&ir->nodes, k),
                       sizeof(ntg_ir_node));
            kept++;
        }
        ir->nodes.len = kept;
        for (size_t t = 0; t < ir->tensors.len; t++) {
            ntg_ir_tensor *tt = ntg__ir_tensor(ir, (uint32_t)t);
            if (tt->producer >= 0) tt->producer = (int)map[tt->producer];
        }
        size_t w = 0;
        for (size_t k = 0; k < p->nodes.len; k++) {
            uint32_t id = ntg__ir_u32(&p->nodes, k);
            if (map[id] != NTG_NONE) *(uint32_t *)ntg__vec_at(&p->nodes, w++) = map[id];
        }
        p->nodes.len = w;
    }
    free(folded);
    free(map);
    return st;
}
