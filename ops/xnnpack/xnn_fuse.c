/* xnn_fuse.c — chains of plan ops run as one kernel when no one else reads their links. */
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "op_attrs.h"
#include "xnn_int.h"

/*
 * A chain a -> b -> c (each the only reader of the one before's output) can run as one
 * kernel writing only c's output when, in every program:
 *  - the ops appear all or none, consecutively and in order (nothing runs in between that
 *    could use the final output's memory, which the planner may share with anything dead
 *    before it);
 *  - the intermediate tensors are activations (no program output, no gradient) that no
 *    other op reads, forward or backward (backward ops read only what their saves keep);
 *  - the final output does not overlap the chain's inputs (it is written while they are
 *    still read).
 * The chain's other ops then do nothing; the shapes of the skipped tensors stay valid, so
 * the backward ops, which read only shapes from them, are unaffected.
 */

typedef struct fuse_ctx {
    const ntg_plan_view *plan;
    uint32_t *readers; /* per tensor: ops that read its value */
    uint32_t *reader;  /* per tensor: the last such op */
    int32_t *pos;      /* [program][op]: position, or -1 */
    uint32_t *real;    /* per tensor: whose bytes it reads after aliasing (itself) */
} fuse_ctx;

static uint32_t operand(const ntg_plan_view *p, uint32_t op, int i)
{
    return p->operands[p->ops[op].operands + (uint32_t)i];
}

/* The op that alone reads tensor id, is op code `code` forward, or NTG_NONE. */
static uint32_t only_reader(const fuse_ctx *f, uint32_t id, uint32_t code)
{
    const ntg_plan_view *p = f->plan;
    if (id == NTG_NONE || p->tensors[id].role != NTG_ROLE_ACTIVATION) return NTG_NONE;
    if (f->readers[id] != 1) return NTG_NONE;
    uint32_t r = f->reader[id];
    if (p->ops[r].code != code || p->ops[r].dir != NTG_DIR_FWD) return NTG_NONE;
    return r;
}

/* Whether ops chain[0..n) run consecutively, in order, in every program that has any. */
static int consecutive(const fuse_ctx *f, const uint32_t *chain, int n)
{
    const ntg_plan_view *p = f->plan;
    for (uint32_t g = 0; g < p->n_programs; g++) {
        const int32_t *pos = f->pos + (size_t)g * p->n_ops;
        int present = pos[chain[0]] >= 0;
        for (int i = 1; i < n; i++) {
            if ((pos[chain[i]] >= 0) != present) return 0;
            if (present && pos[chain[i]] != pos[chain[0]] + i) return 0;
        }
    }
    return 1;
}

static int overlap(const ntg_plan_view *p, uint32_t a, uint32_t b)
{
    const ntg_tensor_rec *x = &p->tensors[a], *y = &p->tensors[b];
    if (x->storage != y->storage) return 0;
    return x->offset < y->offset + y->nbytes && y->offset < x->offset + x->nbytes;
}

static void fused_noop(ntg_backend *b, xnn_op *o, int batch)
{
    (void)b;
    (void)o;
    (void)batch;
}

static int reads_value(const ntg_plan_view *p, uint32_t op, uint32_t id);

/*
 * matmul -> scale -> softmax (fused above) -> matmul P.V: the whole attention block, per
 * program.  P is read by the P.V matmul's backward wherever gradients are computed, so the
 * plan-wide rule above never lets it go; but in a program whose only reader of P is the
 * forward P.V matmul, running right after the softmax (inference), P need not exist.  In those
 * programs the first matmul computes each head's output straight into P.V's output and P.V
 * does nothing.  In a program whose other readers of P are backward ops (training), the same
 * kernel also stores P, head by head, and P.V reads each head's rows back while they are in
 * cache instead of from memory after all heads (`keep`).  P.V's output must not overlap Q, K
 * or V (it is written while they are read), nor, where P is kept, P.
 */
/*
 * Whether the attention output may be written while input `in` is read: no overlap, or the
 * very same bytes (the planner gives a dead Q, K or V's block to the output of the same size).
 * In place is safe because each head's inputs are consumed (Q, K into the scores, V copied
 * into the small kernel's buffer) before the same head's output is written, and a head's
 * output covers only that head's input, which no other task reads.
 */
static int apart_or_same(const ntg_plan_view *p, uint32_t out, uint32_t in)
{
    const ntg_tensor_rec *x = &p->tensors[out], *y = &p->tensors[in];
    if (!overlap(p, out, in)) return 1;
    return x->offset == y->offset && x->nbytes == y->nbytes;
}

static void try_attention(ntg_backend *b, const fuse_ctx *f, const uint32_t chain[3])
{
    const ntg_plan_view *p = f->plan;
    uint32_t x = chain[2], pid = operand(p, x, 1);
    if (pid == NTG_NONE || p->tensors[pid].role != NTG_ROLE_ACTIVATION) return;
    uint64_t progs = 0, keep = 0;
    uint32_t pv = NTG_NONE;
    for (uint32_t g = 0; g < p->n_programs && g < 64; g++) {
        const ntg_program_view *pg = &p->programs[g];
        const int32_t *pos = f->pos + (size_t)g * p->n_ops;
        if (pos[x] < 0) continue;
        /* the one forward reader of P; backward readers (they run later) make P kept */
        uint32_t n = 0, nb = 0, r = NTG_NONE;
        for (uint32_t i = 0; i < pg->n_ops; i++) {
            if (!reads_value(p, pg->ops[i], pid)) continue;
            if (p->ops[pg->ops[i]].dir == NTG_DIR_BWD && (int32_t)i > pos[x])
                nb++;
            else
                n++, r = pg->ops[i];
        }
        if (n != 1 || p->ops[r].code != NTG_OP_matmul || p->ops[r].dir != NTG_DIR_FWD ||
            operand(p, r, 0) != pid || operand(p, r, 1) == pid || pos[r] != pos[x] + 1)
            continue;
        if (pv != NTG_NONE && pv != r) return; /* not the same op in every program */
        pv = r;
        progs |= (uint64_t)1 << g;
        if (nb) keep |= (uint64_t)1 << g;
    }
    if (b->policy & XNN_POL_NO_ATTENTION) return;
    if (!progs || !b->ops[pv].impl || !strcmp(b->ops[pv].impl, "reference")) return;
    uint32_t out = operand(p, pv, p->ops[pv].n_in);
    if (out == NTG_NONE || !apart_or_same(p, out, operand(p, chain[0], 0)) ||
        !apart_or_same(p, out, operand(p, chain[0], 1)) ||
        !apart_or_same(p, out, operand(p, pv, 1)))
        return;
    /* where P is kept, it is written head by head while other heads' outputs are */
    if (keep && overlap(p, out, pid)) progs &= ~keep, keep = 0;
    if (!progs) return;
    ntg__xnn_prep_attention(b, &b->ops[chain[0]], &b->ops[pv], progs, keep);
}

/* matmul -> scale -> softmax over the last axis. */
static void try_mm_softmax(ntg_backend *b, const fuse_ctx *f, uint32_t k, size_t *scratch)
{
    const ntg_plan_view *p = f->plan;
    uint32_t dots = operand(p, k, p->ops[k].n_in);
    uint32_t s = only_reader(f, dots, NTG_OP_scale);
    if (s == NTG_NONE) return;
    uint32_t scores = operand(p, s, 1);
    uint32_t x = only_reader(f, scores, NTG_OP_softmax);
    if (x == NTG_NONE) return;
    uint32_t chain[3] = {k, s, x};
    if (!consecutive(f, chain, 3)) return;
    xnn_op *ox = &b->ops[x];
    const ntg_tdesc *sd = &ox->in[0].d;
    if (ntg__axis(ntg__attr_i(ox->attr, NTG_SOFTMAX_AXIS), sd->rank) != sd->rank - 1) return;
    uint32_t out = operand(p, x, 1);
    if (overlap(p, out, operand(p, k, 0)) || overlap(p, out, operand(p, k, 1))) return;
    xnn_op *om = &b->ops[k];
    double factor = ntg__attr_f(b->ops[s].attr, NTG_SCALE_FACTOR);
    if (ntg__xnn_prep_mm_softmax(b, om, ox->out[0].data, factor)) return;
    b->ops[s].run = fused_noop;
    b->ops[s].impl = "fused";
    ox->run = fused_noop;
    ox->impl = "fused";
    if (om->scratch > *scratch) *scratch = om->scratch;
    try_attention(b, f, chain);
}

/*
 * add -> layernorm of the sum, the layernorm right after the add in every program that runs
 * them: one pass (ntg__xnn_prep_add_layernorm).  The sum keeps its other readers (it is still
 * stored); the layernorm's output must not overlap the add's operands or the sum, since it is
 * written block by block while they are still read.
 */
static void try_add_layernorm(ntg_backend *b, const fuse_ctx *f, uint32_t k)
{
    const ntg_plan_view *p = f->plan;
    if (b->policy & XNN_POL_NO_ADD_LN) return;
    uint32_t z = operand(p, k, 2);
    if (z == NTG_NONE || p->tensors[z].role != NTG_ROLE_ACTIVATION) return;
    uint32_t ln = NTG_NONE;
    for (uint32_t j = 0; j < p->n_ops; j++)
        if (p->ops[j].code == NTG_OP_layernorm && p->ops[j].dir == NTG_DIR_FWD &&
            operand(p, j, 0) == z) {
            if (ln != NTG_NONE) return;
            ln = j;
        }
    if (ln == NTG_NONE || b->ops[ln].run == fused_noop) return;
    uint32_t chain[2] = {k, ln};
    if (!consecutive(f, chain, 2)) return;
    uint32_t out = operand(p, ln, p->ops[ln].n_in);
    if (out == NTG_NONE || overlap(p, out, operand(p, k, 0)) || overlap(p, out, operand(p, k, 1)) ||
        overlap(p, out, z))
        return;
    if (ntg__xnn_prep_add_layernorm(b, &b->ops[k], &b->ops[ln])) return;
    b->ops[ln].run = fused_noop;
    b->ops[ln].impl = "fused";
}

/* The op that alone reads tensor id's value, as input `at`, is op code `code` backward; or
 * NTG_NONE. */
static uint32_t only_bwd_reader(const fuse_ctx *f, uint32_t id, uint32_t code, int at)
{
    const ntg_plan_view *p = f->plan;
    if (id == NTG_NONE || p->tensors[id].role != NTG_ROLE_ACTIVATION) return NTG_NONE;
    if (f->readers[id] != 1) return NTG_NONE;
    uint32_t r = f->reader[id];
    if (p->ops[r].code != code || p->ops[r].dir != NTG_DIR_BWD || operand(p, r, at) != id)
        return NTG_NONE;
    return r;
}

/*
 * The attention backward: matmul P.V backward -> softmax backward (last axis, from the saved
 * P) -> scale backward -> matmul Q.K^T backward, consecutive in every program that runs them,
 * dP and the two dS read by nothing else (ntg__xnn_prep_attention_bwd).  The gradients written
 * (dV, dQ, dK) must not overlap what the kernel reads (P, V, dO, Q, K) nor each other: each
 * head's are written while other heads' inputs are still to be read.
 */
static void try_attention_bwd(ntg_backend *b, const fuse_ctx *f, uint32_t k)
{
    const ntg_plan_view *p = f->plan;
    if (b->policy & XNN_POL_NO_ATTN_BWD) return;
    const ntg_op_rec *pv = &p->ops[k];
    if (pv->n_in != 4 || pv->n_out != 2) return;
    uint32_t pid = operand(p, k, 0), dp = operand(p, k, 4);
    uint32_t sm = only_bwd_reader(f, dp, NTG_OP_softmax, 2);
    if (sm == NTG_NONE || operand(p, sm, 1) != pid || !ntg__bwd_has_value(&p->ops[sm], 1)) return;
    xnn_op *osm = &b->ops[sm];
    const ntg_tdesc *sd = &osm->in[1].d;
    if (!osm->impl || strcmp(osm->impl, "own-simd") ||
        ntg__axis(ntg__attr_i(osm->attr, NTG_SOFTMAX_AXIS), sd->rank) != sd->rank - 1)
        return;
    uint32_t sc = only_bwd_reader(f, operand(p, sm, 3), NTG_OP_scale, 2);
    if (sc == NTG_NONE || !b->ops[sc].impl || strcmp(b->ops[sc].impl, "own-simd")) return;
    uint32_t qk = only_bwd_reader(f, operand(p, sc, 3), NTG_OP_matmul, 3);
    if (qk == NTG_NONE || p->ops[qk].n_in != 4 || p->ops[qk].n_out != 2) return;
    uint32_t chain[4] = {k, sm, sc, qk};
    if (!consecutive(f, chain, 4)) return;
    uint32_t outs[3] = {operand(p, k, 5), operand(p, qk, 4), operand(p, qk, 5)};
    uint32_t ins[5] = {pid, operand(p, k, 1), operand(p, k, 3), operand(p, qk, 0),
                       operand(p, qk, 1)};
    for (int i = 0; i < 3; i++) {
        if (outs[i] == NTG_NONE) continue;
        for (int j = 0; j < 5; j++)
            if (ins[j] == NTG_NONE || overlap(p, outs[i], ins[j])) return;
        for (int j = i + 1; j < 3; j++)
            if (outs[j] != NTG_NONE && overlap(p, outs[i], outs[j])) return;
    }
    double factor = ntg__attr_f(b->ops[sc].attr, NTG_SCALE_FACTOR);
    if (ntg__xnn_prep_attention_bwd(b, &b->ops[k], &b->ops[qk], factor)) return;
    for (int i = 1; i < 4; i++) {
        b->ops[chain[i]].run = fused_noop;
        b->ops[chain[i]].impl = "fused";
    }
}

/*
 * A reshape (forward, or backward: dy to dx) copies bytes unchanged: its readers can read
 * the source instead, and the copy is skipped, when in every program that runs it, nothing
 * between it and the last reader of its output writes over the source (the planner may
 * reuse a source's memory as soon as the reshape, its last reader, has run).  The output
 * must be an activation (not a program output, which the caller reads from its own place).
 */
static int writes_range(const ntg_plan_view *p, uint32_t op, const ntg_tensor_rec *t)
{
    const ntg_op_rec *r = &p->ops[op];
    int inplace = (ntg__op_info(r->code)->cls->flags & NTG_OPF_INPLACE) != 0;
    for (int i = inplace ? 0 : r->n_in; i < r->n_in + r->n_out; i++) {
        uint32_t id = operand(p, op, i);
        if (id == NTG_NONE) continue;
        const ntg_tensor_rec *w = &p->tensors[id];
        if (w->storage == t->storage && w->offset < t->offset + t->nbytes &&
            t->offset < w->offset + w->nbytes)
            return 1;
    }
    return 0;
}

static int reads_value(const ntg_plan_view *p, uint32_t op, uint32_t id)
{
    const ntg_op_rec *r = &p->ops[op];
    for (int i = 0; i < r->n_in; i++)
        if (operand(p, op, i) == id && ntg__bwd_has_value(r, i)) return 1;
    return 0;
}

static void try_alias_reshape(ntg_backend *b, fuse_ctx *f, uint32_t k)
{
    const ntg_plan_view *p = f->plan;
    const ntg_op_rec *r = &p->ops[k];
    int bwd = r->dir == NTG_DIR_BWD;
    uint32_t src = operand(p, k, bwd ? 2 : 0), dst = operand(p, k, r->n_in);
    if (src == NTG_NONE || dst == NTG_NONE || !ntg__bwd_has_value(r, bwd ? 2 : 0)) return;
    /* a source that is itself an aliased output lives in its own source's bytes */
    const ntg_tensor_rec *ts = &p->tensors[f->real[src]], *td = &p->tensors[dst];
    if (td->role != NTG_ROLE_ACTIVATION || ts->storage != NTG_STORE_ARENA ||
        td->storage != NTG_STORE_ARENA || ts->nbytes != td->nbytes)
        return;
    if (f->readers[dst] == 0) return; /* nothing to gain */
    for (uint32_t g = 0; g < p->n_programs; g++) {
        const ntg_program_view *pg = &p->programs[g];
        int32_t at = f->pos[(size_t)g * p->n_ops + k];
        if (at < 0) continue;
        uint32_t last = (uint32_t)at;
        for (uint32_t i = (uint32_t)at + 1; i < pg->n_ops; i++)
            if (reads_value(p, pg->ops[i], dst)) last = i;
        for (uint32_t i = (uint32_t)at + 1; i <= last; i++)
            if (writes_range(p, pg->ops[i], ts)) return;
    }
    /* every reader of dst now reads src's bytes */
    uint8_t *data = b->base[ts->storage] + ts->offset;
    f->real[dst] = f->real[src];
    for (uint32_t j = 0; j < p->n_ops; j++) {
        const ntg_op_rec *o = &p->ops[j];
        for (int i = 0; i < o->n_in; i++)
            if (operand(p, j, i) == dst && b->ops[j].in[i].data) b->ops[j].in[i].data = data;
    }
    b->ops[k].run = fused_noop;
    b->ops[k].impl = "aliased";
}

/*
 * The heads' layout (ntg__xnn_prep_heads): a Transformer moves Q, K and V from the projection's
 * [B, T, 3 D] into [B, H, T, Dh] by split -> reshape -> transpose (perm 0 2 1 3), and the
 * attention output back by transpose -> reshape; the backward does the reverse.  Each chain
 * becomes one move, run in its last op's slot, the others doing nothing, when in every program
 * the chain's ops run consecutively and its links (split pieces, reshaped or transposed
 * intermediates) are activations read by nothing else; the move's destination must not
 * overlap its source.  The destination then holds what the chain's last op would have
 * written, so every later reader is unaffected; the skipped links are never written.
 */
static int is_heads_perm(const xnn_op *o)
{
    int64_t n;
    const ntg_attr *a = ntg__attr_list(o->attr, NTG_TRANSPOSE_PERM, &n);
    return o->code == NTG_OP_transpose && n == 4 && a[0].i == 0 && a[1].i == 2 && a[2].i == 1 &&
           a[3].i == 3;
}

/* t4 [B, T, H, Dh] and h4 [B, H, T, Dh], both batched. */
static int heads_pair(const ntg_tdesc *t4, const ntg_tdesc *h4)
{
    return t4->rank == 4 && h4->rank == 4 && t4->batched && h4->batched &&
           t4->dims[1] == h4->dims[2] && t4->dims[2] == h4->dims[1] && t4->dims[3] == h4->dims[3];
}

static int own_memcpy(const xnn_op *o)
{
    return o->impl && !strcmp(o->impl, "own-memcpy") && o->run != fused_noop && !o->own;
}

static uint32_t producer(const ntg_plan_view *p, uint32_t id)
{
    for (uint32_t k = 0; k < p->n_ops; k++)
        for (int i = p->ops[k].n_in; i < p->ops[k].n_in + p->ops[k].n_out; i++)
            if (operand(p, k, i) == id) return k;
    return NTG_NONE;
}

/* The tensor is an activation whose value only `op` reads. */
static int link_of(const fuse_ctx *f, uint32_t id, uint32_t op)
{
    return id != NTG_NONE && f->plan->tensors[id].role == NTG_ROLE_ACTIVATION &&
           f->readers[id] == 1 && f->reader[id] == op;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sort the chain, check it runs consecutively, prepare its last op, quiet the others. */
static void heads_commit(ntg_backend *b, const fuse_ctx *f, uint32_t *chain, int n, int to_heads,
                         int np, const ntg_tdesc *h4, int64_t c, const int64_t *off,
                         const ntg_view *whole, const ntg_view *const *piece)
{
    qsort(chain, (size_t)n, sizeof *chain, cmp_u32);
    if (!consecutive(f, chain, n)) return;
    if (ntg__xnn_prep_heads(&b->ops[chain[n - 1]], to_heads, np, h4->dims[2], h4->dims[1],
                            h4->dims[3], c, off, whole, piece))
        return;
    for (int i = 0; i < n - 1; i++) {
        b->ops[chain[i]].run = fused_noop;
        b->ops[chain[i]].impl = "fused";
    }
}

/* forward split (last axis) -> per piece reshape [B, T, H, Dh] -> transpose to [B, H, T, Dh] */
static void try_heads_split(ntg_backend *b, const fuse_ctx *f, uint32_t k)
{
    const ntg_plan_view *p = f->plan;
    xnn_op *sp = &b->ops[k];
    int np = sp->n_out;
    const ntg_tdesc *wd = &sp->in[0].d;
    if (np < 1 || np > 3 || !own_memcpy(sp) || wd->rank != 3 || !wd->batched ||
        ntg__axis(ntg__attr_i(sp->attr, NTG_SPLIT_AXIS), wd->rank) != 2)
        return;
    uint32_t chain[7];
    int n = 0;
    chain[n++] = k;
    int64_t off[3], at = 0;
    const ntg_view *piece[3];
    const ntg_tdesc *h4 = NULL;
    uint32_t whole = operand(p, k, 0);
    for (int j = 0; j < np; j++) {
        uint32_t pc = operand(p, k, 1 + j);
        uint32_t rs = only_reader(f, pc, NTG_OP_reshape);
        if (rs == NTG_NONE || !own_memcpy(&b->ops[rs])) return;
        uint32_t t4 = operand(p, rs, 1);
        uint32_t tr = only_reader(f, t4, NTG_OP_transpose);
        if (tr == NTG_NONE || !own_memcpy(&b->ops[tr]) || !is_heads_perm(&b->ops[tr])) return;
        const xnn_op *otr = &b->ops[tr];
        if (!heads_pair(&otr->in[0].d, &otr->out[0].d)) return;
        if (h4 && memcmp(h4->dims, otr->out[0].d.dims, sizeof h4->dims)) return;
        h4 = &otr->out[0].d;
        if (sp->out[j].d.dims[2] != h4->dims[1] * h4->dims[3]) return;
        uint32_t dst = operand(p, tr, 1);
        if (dst == NTG_NONE || overlap(p, dst, whole)) return;
        for (int i = 0; i < j; i++)
            if (overlap(p, dst, operand(p, chain[2 + 2 * i], 1))) return;
        chain[n++] = rs;
        chain[n++] = tr;
        off[j] = at;
        at += sp->out[j].d.dims[2];
        piece[j] = &otr->out[0];
    }
    heads_commit(b, f, chain, n, 1, np, h4, wd->dims[2], off, &sp->in[0], piece);
}

/* forward transpose [B, H, T, Dh] -> [B, T, H, Dh] -> reshape [B, T, H Dh] */
static void try_heads_merge(ntg_backend *b, const fuse_ctx *f, uint32_t k)
{
    const ntg_plan_view *p = f->plan;
    xnn_op *tr = &b->ops[k];
    if (!own_memcpy(tr) || !is_heads_perm(tr) || !heads_pair(&tr->out[0].d, &tr->in[0].d)) return;
    uint32_t rs = only_reader(f, operand(p, k, 1), NTG_OP_reshape);
    if (rs == NTG_NONE || !own_memcpy(&b->ops[rs])) return;
    const ntg_tdesc *od = &b->ops[rs].out[0].d, *h4 = &tr->in[0].d;
    if (od->rank != 3 || od->dims[1] != h4->dims[2] || od->dims[2] != h4->dims[1] * h4->dims[3])
        return;
    uint32_t dst = operand(p, rs, 1);
    if (dst == NTG_NONE || p->tensors[dst].role != NTG_ROLE_ACTIVATION ||
        overlap(p, dst, operand(p, k, 0)))
        return;
    uint32_t chain[2] = {k, rs};
    int64_t off = 0;
    const ntg_view *piece = &tr->in[0];
    heads_commit(b, f, chain, 2, 0, 1, h4, od->dims[2], &off, &b->ops[rs].out[0], &piece);
}

/* backward reshape (dy [B, T, H Dh] -> [B, T, H, Dh]) -> transpose (-> [B, H, T, Dh]) */
static void try_heads_split_bwd(ntg_backend *b, const fuse_ctx *f, uint32_t k)
{
    const ntg_plan_view *p = f->plan;
    xnn_op *tr = &b->ops[k];
    /* in = [x (the heads), y, dy (both [B, T, H, Dh])] */
    if (!own_memcpy(tr) || !is_heads_perm(tr) || !heads_pair(&tr->in[1].d, &tr->in[0].d)) return;
    uint32_t dt4 = operand(p, k, 2), dst = operand(p, k, 3);
    uint32_t rs = producer(p, dt4);
    if (rs == NTG_NONE || !link_of(f, dt4, k) || p->ops[rs].code != NTG_OP_reshape ||
        p->ops[rs].dir != NTG_DIR_BWD || !own_memcpy(&b->ops[rs]))
        return;
    const xnn_op *ors = &b->ops[rs];
    const ntg_tdesc *wd = &ors->in[2].d, *h4 = &tr->in[0].d;
    if (wd->rank != 3 || wd->dims[1] != h4->dims[2] || wd->dims[2] != h4->dims[1] * h4->dims[3])
        return;
    uint32_t src = operand(p, rs, 2);
    if (src == NTG_NONE || dst == NTG_NONE || overlap(p, dst, src)) return;
    uint32_t chain[2] = {rs, k};
    int64_t off = 0;
    const ntg_view *piece = &tr->out[0];
    heads_commit(b, f, chain, 2, 1, 1, h4, wd->dims[2], &off, &ors->in[2], &piece);
}

/* backward per piece transpose ([B, H, T, Dh] -> [B, T, H, Dh]) -> reshape ([B, T, H Dh]), then
 * the split's backward joining the pieces along the last axis */
static void try_heads_merge_bwd(ntg_backend *b, const fuse_ctx *f, uint32_t k)
{
    const ntg_plan_view *p = f->plan;
    xnn_op *sp = &b->ops[k];
    if (!own_memcpy(sp) || sp->n_out != 1 || (sp->n_in - 1) % 2) return;
    int np = (sp->n_in - 1) / 2;
    const ntg_tdesc *wd = &sp->in[0].d;
    uint32_t dwhole = operand(p, k, sp->n_in);
    if (np < 1 || np > 3 || dwhole == NTG_NONE || wd->rank != 3 || !wd->batched ||
        ntg__axis(ntg__attr_i(sp->attr, NTG_SPLIT_AXIS), wd->rank) != 2)
        return;
    uint32_t chain[7];
    int n = 0;
    chain[n++] = k;
    int64_t off[3], at = 0;
    const ntg_view *piece[3];
    const ntg_tdesc *h4 = NULL;
    for (int j = 0; j < np; j++) {
        uint32_t dpc = operand(p, k, 1 + np + j);
        uint32_t rs = producer(p, dpc);
        if (rs == NTG_NONE || !link_of(f, dpc, k) || p->ops[rs].code != NTG_OP_reshape ||
            p->ops[rs].dir != NTG_DIR_BWD || !own_memcpy(&b->ops[rs]))
            return;
        uint32_t dt4 = operand(p, rs, 2);
        uint32_t tr = producer(p, dt4);
        if (tr == NTG_NONE || !link_of(f, dt4, rs) || p->ops[tr].code != NTG_OP_transpose ||
            p->ops[tr].dir != NTG_DIR_BWD || !own_memcpy(&b->ops[tr]) ||
            !is_heads_perm(&b->ops[tr]))
            return;
        const xnn_op *otr = &b->ops[tr];
        if (!heads_pair(&otr->in[0].d, &otr->in[1].d)) return;
        if (h4 && memcmp(h4->dims, otr->in[1].d.dims, sizeof h4->dims)) return;
        h4 = &otr->in[1].d;
        if (sp->in[1 + j].d.dims[2] != h4->dims[1] * h4->dims[3]) return;
        uint32_t src = operand(p, tr, 2);
        if (src == NTG_NONE || overlap(p, dwhole, src)) return;
        chain[n++] = rs;
        chain[n++] = tr;
        off[j] = at;
        at += sp->in[1 + j].d.dims[2];
        piece[j] = &otr->in[2];
    }
    heads_commit(b, f, chain, n, 0, np, h4, wd->dims[2], off, &sp->out[0], piece);
}

/*
 * The attention kernels reading and writing the projections' layout: where the fused attention's
 * output goes only to a heads merge (o4 -> transpose -> reshape -> o), the kernel writes each
 * head's rows straight into o ([B, T, D], rows D apart) and the merge does nothing; in the
 * backward, dO is read from the [B, T, D] gradient the heads split would have moved, and dQ, dK
 * and dV are written straight into the projection's gradient [B, T, 3 D] that the merge (the
 * split's backward) would have joined.  In every program that runs the attention, only ops
 * doing nothing may run between it and the move it takes over (so nothing else reads or
 * writes those bytes meanwhile), and the moved-to bytes must not overlap anything the
 * kernel reads.
 */
static int32_t at_pos(const fuse_ctx *f, uint32_t g, uint32_t op)
{
    return f->pos[(size_t)g * f->plan->n_ops + op];
}

/* In every program: a and z both absent, or z after a with only idle ops (or `also`) between. */
static int idle_between(const ntg_backend *b, const fuse_ctx *f, uint32_t a, uint32_t z,
                        uint32_t also)
{
    const ntg_plan_view *p = f->plan;
    for (uint32_t g = 0; g < p->n_programs; g++) {
        int32_t pa = at_pos(f, g, a), pz = at_pos(f, g, z);
        if ((pa < 0) != (pz < 0)) return 0;
        if (pa < 0) continue;
        if (pz <= pa) return 0;
        for (int32_t i = pa + 1; i < pz; i++) {
            uint32_t op = p->programs[g].ops[i];
            if (op != also && b->ops[op].run != fused_noop) return 0;
        }
    }
    return 1;
}

/* The op that alone reads tensor id's value, if it is op code `code` in direction dir. */
static uint32_t sole(const fuse_ctx *f, uint32_t id, uint32_t code, int dir)
{
    const ntg_plan_view *p = f->plan;
    if (id == NTG_NONE || p->tensors[id].role != NTG_ROLE_ACTIVATION || f->readers[id] != 1)
        return NTG_NONE;
    uint32_t r = f->reader[id];
    return p->ops[r].code == code && p->ops[r].dir == dir ? r : NTG_NONE;
}

static void try_attn_out_layout(ntg_backend *b, const fuse_ctx *f, uint32_t k)
{
    const ntg_plan_view *p = f->plan;
    xnn_op *o = &b->ops[k];
    if (!o->fuse_next || o->hl.v) return;
    uint32_t pv = (uint32_t)(o->fuse_next - b->ops);
    uint32_t o4 = operand(p, pv, p->ops[pv].n_in);
    uint32_t tr = sole(f, o4, NTG_OP_transpose, NTG_DIR_FWD);
    if (tr == NTG_NONE || b->ops[tr].run != fused_noop) return;
    uint32_t rs = sole(f, operand(p, tr, 1), NTG_OP_reshape, NTG_DIR_FWD);
    if (rs == NTG_NONE) return;
    int64_t ld, off;
    const ntg_view *w = ntg__xnn_heads_whole(&b->ops[rs], b->ops[pv].out[0].data, &ld, &off);
    if (!w || off < 0) return;
    /* every program running the attention runs it fused (else P.V writes o4 for the merge) */
    for (uint32_t g = 0; g < p->n_programs; g++)
        if (at_pos(f, g, k) >= 0 && (g >= 64 || !(o->fuse_progs >> g & 1))) return;
    if (!idle_between(b, f, k, rs, pv)) return;
    uint32_t dst = operand(p, rs, 1);
    uint32_t reads[4] = {operand(p, k, 0), operand(p, k, 1), operand(p, pv, 1), operand(p, pv, 0)};
    for (int i = 0; i < 4; i++)
        if (reads[i] == NTG_NONE || overlap(p, dst, reads[i])) return;
    o->hl.v = w;
    o->hl.off = off;
    o->hl.ld = ld;
    o->hl.h = b->ops[pv].out[0].d.dims[1];
    b->ops[rs].run = fused_noop;
    b->ops[rs].impl = "fused";
}

ntg_status ntg__xnn_fuse(ntg_backend *b, const ntg_plan_view *plan, size_t *scratch, ntg_error *err)
{
    fuse_ctx f;
    f.plan = plan;
    f.readers = calloc(plan->n_tensors + 1, sizeof *f.readers);
    f.reader = calloc(plan->n_tensors + 1, sizeof *f.reader);
    f.pos = malloc(((size_t)plan->n_programs * plan->n_ops + 1) * sizeof *f.pos);
    f.real = malloc((plan->n_tensors + 1) * sizeof *f.real);
    if (!f.readers || !f.reader || !f.pos || !f.real) {
        free(f.readers);
        free(f.reader);
        free(f.pos);
        free(f.real);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    for (uint32_t k = 0; k < plan->n_ops; k++) {
        const ntg_op_rec *op = &plan->ops[k];
        for (int i = 0; i < op->n_in; i++) {
            uint32_t id = operand(plan, k, i);
            if (id == NTG_NONE || !ntg__bwd_has_value(op, i)) continue;
            f.readers[id]++;
            f.reader[id] = k;
        }
    }
    for (size_t i = 0; i < (size_t)plan->n_programs * plan->n_ops; i++) f.pos[i] = -1;
    for (uint32_t i = 0; i < plan->n_tensors; i++) f.real[i] = i;
    for (uint32_t g = 0; g < plan->n_programs; g++)
        for (uint32_t i = 0; i < plan->programs[g].n_ops; i++)
            f.pos[(size_t)g * plan->n_ops + plan->programs[g].ops[i]] = (int32_t)i;
    for (uint32_t k = 0; k < plan->n_ops; k++)
        if (plan->ops[k].code == NTG_OP_matmul && plan->ops[k].dir == NTG_DIR_FWD &&
            b->ops[k].impl && strcmp(b->ops[k].impl, "reference"))
            try_mm_softmax(b, &f, k, scratch);
    for (uint32_t k = 0; k < plan->n_ops; k++)
        if (plan->ops[k].code == NTG_OP_matmul && plan->ops[k].dir == NTG_DIR_BWD) {
            try_attention_bwd(b, &f, k);
            if (b->ops[k].scratch > *scratch) *scratch = b->ops[k].scratch;
        }
    for (uint32_t k = 0; k < plan->n_ops; k++)
        if (plan->ops[k].code == NTG_OP_add && plan->ops[k].dir == NTG_DIR_FWD &&
            plan->ops[k].n_in == 2)
            try_add_layernorm(b, &f, k);
    if (!(b->policy & XNN_POL_NO_HEADS))
        for (uint32_t k = 0; k < plan->n_ops; k++) {
            const ntg_op_rec *op = &plan->ops[k];
            if (op->code == NTG_OP_split && op->dir == NTG_DIR_FWD)
                try_heads_split(b, &f, k);
            else if (op->code == NTG_OP_split)
                try_heads_merge_bwd(b, &f, k);
            else if (op->code == NTG_OP_transpose && op->dir == NTG_DIR_FWD)
                try_heads_merge(b, &f, k);
            else if (op->code == NTG_OP_transpose)
                try_heads_split_bwd(b, &f, k);
        }
    if (!(b->policy & XNN_POL_NO_HEADS) && !(b->policy & XNN_POL_NO_ATTN_LAYOUT))
        for (uint32_t k = 0; k < plan->n_ops; k++) {
            const char *impl = b->ops[k].impl;
            if (impl && !strcmp(impl, "attention")) try_attn_out_layout(b, &f, k);
        }
    /* after the chains (they look at the views' data, which aliasing rewrites) */
    for (uint32_t k = 0; k < plan->n_ops; k++)
        if (plan->ops[k].code == NTG_OP_reshape && b->ops[k].impl &&
            strcmp(b->ops[k].impl, "reference") && b->ops[k].run != fused_noop)
            try_alias_reshape(b, &f, k);
    free(f.readers);
    free(f.reader);
    free(f.pos);
    free(f.real);
    return NTG_OK;
}
