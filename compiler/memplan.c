/* memplan.c — memory planning: liveness per program, greedy offsets in one arena. */
#include <stdlib.h>

#include "ntg_error.h"
#include "ir.h"
#include "memplace.h"

#define ALIGN64(x) (((x) + 63u) & ~(uint64_t)63u)

/* Live interval of a tensor in one program, in steps; first < 0 when absent. */
typedef ntg_mp_span span;
_Static_assert(NTG_IR_MAX_PROGRAMS <= NTG_MEMPLACE_MAX_PROGRAMS, "programs per plan");

static void touch(span *s, int32_t k)
{
    if (s->first < 0 || k < s->first) s->first = k;
    if (k > s->last) s->last = k;
}

/* Whether operand i of node n reads a value (a backward op reads only what it saved). */
static int reads_value(const ntg_ir_node *n, int i)
{
    if (n->dir != NTG_DIR_BWD) return 1;
    int nfi = n->n_out, nfo = (n->n_in - n->n_out) / 2;
    if (i >= nfi + nfo) return 1; /* gradients of the forward outputs */
    /* the mask has 16 bits for inputs and 16 for outputs; ops with more (concat)
     * save nothing beyond them */
    if ((i < nfi && i >= 16) || (i >= nfi && i - nfi >= 16)) return 0;
    int bit = i < nfi ? i : 16 + (i - nfi);
    return (n->saved >> bit) & 1u;
}

static void program_spans(const ntg_ir *ir, const ntg_ir_program *p, span *sp)
{
    size_t nt = ir->tensors.len;
    int32_t end = (int32_t)p->nodes.len;
    for (size_t t = 0; t < nt; t++) sp[t].first = sp[t].last = -1;
    for (size_t i = 0; i < p->inputs.len; i++) {
        uint32_t t = ntg__ir_u32(&p->inputs, i);
        touch(&sp[t], 0);
        touch(&sp[t], end);
    }
    for (size_t k = 0; k < p->nodes.len; k++) {
        const ntg_ir_node *n = ntg__ir_node(ir, ntg__ir_u32(&p->nodes, k));
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] != NTG_NONE && reads_value(n, i)) touch(&sp[n->in[i]], (int32_t)k);
        for (int o = 0; o < n->n_out; o++)
            if (n->out[o] != NTG_NONE) touch(&sp[n->out[o]], (int32_t)k);
    }
    for (size_t i = 0; i < p->outputs.len; i++) touch(&sp[ntg__ir_u32(&p->outputs, i)], end);
}

typedef struct order_item {
    uint64_t size;
    uint32_t id;
} order_item;

static int cmp_order(const void *a, const void *b)
{
    const order_item *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

ntg_status ntg__ir_plan_memory(ntg_ir *ir, ntg_error *err)
{
    size_t nt = ir->tensors.len;
    int np = ir->n_programs;
    ntg_status st = NTG_OK;
    span *sp = calloc((size_t)np * nt + 1, sizeof *sp);
    order_item *ord = calloc(nt + 1, sizeof *ord);
    uint8_t *placed = calloc(nt + 1, 1);
    uint32_t *ids = NULL;
    uint64_t *size = NULL, *off = NULL;
    if (!sp || !ord || !placed) {
        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int p = 0; p < np; p++) program_spans(ir, &ir->programs[p], sp + (size_t)p * nt);

    /* weights and state: packed in tensor order, 64-byte aligned */
    uint64_t wsz = 0, ssz = 0;
    size_t n_arena = 0;
    ir->naive_arena_bytes = 0;
    for (size_t t = 0; t < nt; t++) {
        ntg_ir_tensor *tt = ntg__ir_tensor(ir, (uint32_t)t);
        tt->nbytes = ntg__ir_desc_bytes(&tt->desc);
        if (tt->storage == NTG_STORE_WEIGHTS) {
            tt->offset = wsz;
            wsz = ALIGN64(wsz + tt->nbytes);
        } else if (tt->storage == NTG_STORE_STATE) {
            tt->offset = ssz;
            ssz = ALIGN64(ssz + tt->nbytes);
        } else if (tt->storage == NTG_STORE_ARENA) {
            int used = 0;
            for (int p = 0; p < np; p++) used |= sp[(size_t)p * nt + t].first >= 0;
            if (!used) {
                /* in no program (cannot happen after DCE): give it no arena space */
                tt->offset = 0;
                continue;
            }
            ord[n_arena].size = ALIGN64(tt->nbytes);
            ord[n_arena].id = (uint32_t)t;
            ir->naive_arena_bytes += ALIGN64(tt->nbytes);
            n_arena++;
        }
    }
    ir->weights_bytes = wsz;
    ir->state_bytes = ssz;

    /* greedy by decreasing size: each tensor goes to the lowest offset that no tensor
     * already placed and live at the same time (in some program) occupies (memplace.c) */
    qsort(ord, n_arena, sizeof *ord, cmp_order);
    ids = malloc((n_arena + 1) * sizeof *ids);
    size = malloc((n_arena + 1) * sizeof *size);
    off = malloc((n_arena + 1) * sizeof *off);
    uint64_t arena = 0;
    if (!ids || !size || !off) {
        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n_arena; k++) {
        ids[k] = ord[k].id;
        size[k] = ord[k].size;
    }
    if (ntg__memplace(n_arena, np, sp, nt, ids, size, off, &arena)) {
        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n_arena; k++) {
        ntg__ir_tensor(ir, ids[k])->offset = off[k];
        placed[ids[k]] = 1;
    }
    ir->arena_bytes = arena;
    {
        /* each tensor was checked when made; their sum can still pass the loader's limit */
        static const char *const what[] = {"arena", "weights", "optimizer state"};
        uint64_t have[3] = {arena, wsz, ssz};
        for (int s = 0; s < 3 && !st; s++) {
            if (have[s] < NTG_IR_MAX_BYTES) continue;
            const ntg_ir_tensor *big = NULL;
            for (size_t t = 0; t < nt; t++) {
                const ntg_ir_tensor *tt = ntg__ir_tensor(ir, (uint32_t)t);
                int in = s == 0   ? tt->storage == NTG_STORE_ARENA
                         : s == 1 ? tt->storage == NTG_STORE_WEIGHTS
                                  : tt->storage == NTG_STORE_STATE;
                if (in && (!big || tt->nbytes > big->nbytes)) big = tt;
            }
            char hb[32], hb2[32], shape[160];
            ntg_loc l = big ? big->loc : (ntg_loc){0};
            st = ntg__err(err, NTG_ERR_RANGE, l.file, l.line, l.col,
                          "the plan's %s needs %llu bytes (%s) at batch %d, more than the 1 TiB "
                          "a plan can hold; its largest tensor is '%s' %s (%s)",
                          what[s], (unsigned long long)have[s],
                          ntg__ir_bytes_str(have[s], hb, sizeof hb), ir->max_batch,
                          big ? big->name : "?",
                          big ? ntg__tdesc_str(&big->desc, shape, sizeof shape) : "",
                          ntg__ir_bytes_str(big ? big->nbytes : 0, hb2, sizeof hb2));
        }
        if (st) goto done;
    }
    for (int p = 0; p < np; p++) {
        uint64_t peak = 0;
        for (size_t t = 0; t < nt; t++) {
            if (!placed[t] || sp[(size_t)p * nt + t].first < 0) continue;
            const ntg_ir_tensor *tt = ntg__ir_tensor(ir, (uint32_t)t);
            if (tt->offset + ALIGN64(tt->nbytes) > peak) peak = tt->offset + ALIGN64(tt->nbytes);
        }
        ir->programs[p].arena_peak = peak;
    }
done:
    free(ids);
    free(size);
    free(off);
    free(sp);
    free(ord);
    free(placed);
    return st;
}
