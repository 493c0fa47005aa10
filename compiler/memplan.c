/* memplan.c — memory planning: liveness per program, greedy offsets in one arena. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ir.h"

#define ALIGN64(x) (((x) + 63u) & ~(uint64_t)63u)

/* Live interval of a tensor in one program, in steps; first < 0 when absent. */
typedef struct span {
    int32_t first, last;
} span;

typedef struct place {
    uint64_t off, size;
} place;

static int cmp_place(const void *a, const void *b)
{
    const place *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

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

/* Which arena tensors are live at the same time as a given one, per program, without
 * comparing every pair: a segment tree over the program's steps answers "live at step
 * a" (each span is stored in O(log steps) nodes), and lists of spans by first step give
 * "starts in (a, b]"; together they are exactly the spans that overlap [a, b].  Cost is
 * proportional to the overlaps found, so a long chain plans in linear time. */
typedef struct span_index {
    size_t size;       /* leaves of the tree: a power of two > steps */
    uint32_t *tree_at; /* tree node i lists tree_ids[tree_at[i] .. tree_at[i + 1]) */
    uint32_t *tree_ids;
    uint32_t *start_at; /* step s starts start_ids[start_at[s] .. start_at[s + 1]) */
    uint32_t *start_ids;
} span_index;

static void index_free(span_index *x)
{
    free(x->tree_at);
    free(x->tree_ids);
    free(x->start_at);
    free(x->start_ids);
    memset(x, 0, sizeof *x);
}

/* The tree nodes that together cover leaves [a, b] exactly (at most 2 per level). */
static int cover(size_t size, size_t a, size_t b, size_t *nodes)
{
    int n = 0;
    for (size_t l = a + size, r = b + size + 1; l < r; l >>= 1, r >>= 1) {
        if (l & 1) nodes[n++] = l++;
        if (r & 1) nodes[n++] = --r;
    }
    return n;
}

static int index_build(span_index *x, const span *sp, const uint32_t *ids, size_t n, size_t steps)
{
    memset(x, 0, sizeof *x);
    x->size = 1;
    while (x->size <= steps) x->size *= 2;
    x->tree_at = calloc(2 * x->size + 1, sizeof *x->tree_at);
    x->start_at = calloc(x->size + 2, sizeof *x->start_at);
    if (!x->tree_at || !x->start_at) return -1;
    size_t total = 0, nodes[128];
    /* pass 0 counts list lengths, pass 1 fills the lists */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < n; k++) {
            const span *s = &sp[ids[k]];
            if (s->first < 0) continue;
            int nc = cover(x->size, (size_t)s->first, (size_t)s->last, nodes);
            for (int c = 0; c < nc; c++) {
                if (pass == 0) {
                    x->tree_at[nodes[c] + 1]++;
                    total++;
                } else {
                    x->tree_ids[x->tree_at[nodes[c]]++] = ids[k];
                }
            }
            if (pass == 0)
                x->start_at[(size_t)s->first + 1]++;
            else
                x->start_ids[x->start_at[s->first]++] = ids[k];
        }
        if (pass == 0) {
            for (size_t i = 1; i <= 2 * x->size; i++) x->tree_at[i] += x->tree_at[i - 1];
            for (size_t i = 1; i <= x->size + 1; i++) x->start_at[i] += x->start_at[i - 1];
            x->tree_ids = malloc((total + 1) * sizeof *x->tree_ids);
            x->start_ids = malloc((n + 1) * sizeof *x->start_ids);
            if (!x->tree_ids || !x->start_ids) return -1;
        }
    }
    /* filling advanced each list's start to the next list's start: shift back */
    for (size_t i = 2 * x->size; i > 0; i--) x->tree_at[i] = x->tree_at[i - 1];
    x->tree_at[0] = 0;
    for (size_t i = x->size + 1; i > 0; i--) x->start_at[i] = x->start_at[i - 1];
    x->start_at[0] = 0;
    return 0;
}

/* Add placed tensor u (once per query k) to the busy list. */
static size_t add_busy(const ntg_ir *ir, place *busy, size_t nb, const uint8_t *placed,
                       uint32_t *stamp, uint32_t u, uint32_t k)
{
    if (!placed[u] || stamp[u] == k + 1) return nb;
    stamp[u] = k + 1;
    const ntg_ir_tensor *tu = ntg__ir_tensor(ir, u);
    busy[nb].off = tu->offset;
    busy[nb].size = ALIGN64(tu->nbytes);
    return nb + 1;
}

ntg_status ntg__ir_plan_memory(ntg_ir *ir, ntg_error *err)
{
    size_t nt = ir->tensors.len;
    int np = ir->n_programs;
    ntg_status st = NTG_OK;
    span *sp = calloc((size_t)np * nt + 1, sizeof *sp);
    order_item *ord = calloc(nt + 1, sizeof *ord);
    place *busy = calloc(nt + 1, sizeof *busy);
    uint8_t *placed = calloc(nt + 1, 1);
    uint32_t *ids = NULL, *stamp = NULL;
    span_index *idx = NULL;
    if (!sp || !ord || !busy || !placed) {
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
     * already placed and live at the same time (in some program) occupies */
    qsort(ord, n_arena, sizeof *ord, cmp_order);
    ids = malloc((n_arena + 1) * sizeof *ids);
    stamp = calloc(nt + 1, sizeof *stamp);
    idx = calloc((size_t)np + 1, sizeof *idx);
    if (!ids || !stamp || !idx) {
        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n_arena; k++) ids[k] = ord[k].id;
    for (int p = 0; p < np; p++)
        if (index_build(&idx[p], sp + (size_t)p * nt, ids, n_arena, ir->programs[p].nodes.len)) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            goto done;
        }
    uint64_t arena = 0;
    for (size_t k = 0; k < n_arena; k++) {
        uint32_t t = ord[k].id;
        size_t nb = 0;
        stamp[t] = (uint32_t)k + 1;
        for (int p = 0; p < np; p++) {
            const span *a = &sp[(size_t)p * nt + t];
            const span_index *x = &idx[p];
            if (a->first < 0) continue;
            /* spans live at step a->first, then spans starting in (first, last] */
            for (size_t i = (size_t)a->first + x->size; i >= 1; i >>= 1)
                for (uint32_t j = x->tree_at[i]; j < x->tree_at[i + 1]; j++)
                    nb = add_busy(ir, busy, nb, placed, stamp, x->tree_ids[j], (uint32_t)k);
            for (size_t s = (size_t)a->first + 1; s <= (size_t)a->last; s++)
                for (uint32_t j = x->start_at[s]; j < x->start_at[s + 1]; j++)
                    nb = add_busy(ir, busy, nb, placed, stamp, x->start_ids[j], (uint32_t)k);
        }
        qsort(busy, nb, sizeof *busy, cmp_place);
        uint64_t off = 0;
        for (size_t j = 0; j < nb; j++) {
            if (busy[j].off >= off + ord[k].size) break;
            if (busy[j].off + busy[j].size > off) off = busy[j].off + busy[j].size;
        }
        ntg__ir_tensor(ir, t)->offset = off;
        placed[t] = 1;
        if (off + ord[k].size > arena) arena = off + ord[k].size;
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
    for (int p = 0; idx && p < np; p++) index_free(&idx[p]);
    free(idx);
    free(ids);
    free(stamp);
    free(sp);
    free(ord);
    free(busy);
    free(placed);
    return st;
}
