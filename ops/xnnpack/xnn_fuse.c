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
    /* after the chains (they look at the views' data, which aliasing rewrites) */
    for (uint32_t k = 0; k < plan->n_ops; k++)
        if (plan->ops[k].code == NTG_OP_reshape && b->ops[k].impl &&
            strcmp(b->ops[k].impl, "reference"))
            try_alias_reshape(b, &f, k);
    free(f.readers);
    free(f.reader);
    free(f.pos);
    free(f.real);
    return NTG_OK;
}
