/* autodiff.c — reverse-mode differentiation of the IR and the eval, grad and train_step programs.
 */
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "ir.h"
#include "op_attrs.h"
#include "train_cfg.h"

/* Gradient contributions waiting to be summed, per tensor. */
typedef struct contrib {
    uint32_t *ids;
    size_t n, cap;
} contrib;

typedef struct ad_ctx {
    ntg_ir *ir;
    ntg_error *err;
    contrib *c; /* indexed by tensor id (grown as tensors are added) */
    size_t c_len;
    ntg_vec bwd_nodes; /* uint32_t: nodes of the backward pass, in order */
    unsigned name_seq;
} ad_ctx;

static ntg_status nomem(ad_ctx *a)
{
    return ntg__fail(a->err, NTG_ERR_NOMEM, "out of memory");
}

static int push_contrib(ad_ctx *a, uint32_t t, uint32_t g)
{
    if (t >= a->c_len) {
        size_t nl = a->ir->tensors.len + 64;
        contrib *nc = realloc(a->c, nl * sizeof *nc);
        if (!nc) return -1;
        memset(nc + a->c_len, 0, (nl - a->c_len) * sizeof *nc);
        a->c = nc;
        a->c_len = nl;
    }
    contrib *c = &a->c[t];
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4;
        uint32_t *ni = realloc(c->ids, cap * sizeof *ni);
        if (!ni) return -1;
        c->ids = ni;
        c->cap = cap;
    }
    c->ids[c->n++] = g;
    return 0;
}

static uint32_t new_like(ad_ctx *a, uint32_t t, const char *name, ntg_role role)
{
    ntg_ir_tensor *src = ntg__ir_tensor(a->ir, t);
    ntg_tdesc d = src->desc;
    ntg_loc loc = src->loc;
    return ntg__ir_add_tensor(a->ir, name, &d, role, loc);
}

/* The gradient of tensor t: its contributions summed with add nodes (NTG_NONE when
 * nothing reached it).  `final_name` names the total (NULL: a generated name). */
static ntg_status total_grad(ad_ctx *a, uint32_t t, const char *final_name, ntg_role role,
                             uint32_t *out)
{
    *out = NTG_NONE;
    if (t >= a->c_len || a->c[t].n == 0) return NTG_OK;
    contrib *c = &a->c[t];
    ntg_ir *ir = a->ir;
    uint32_t acc = c->ids[0];
    for (size_t k = 1; k < c->n; k++) {
        const char *nm =
            k + 1 == c->n && final_name
                ? final_name
                : ntg__pool_fmt(ir->pool, "grad/%s+%zu", ntg__ir_tensor(ir, t)->name, k);
        if (!nm) return nomem(a);
        uint32_t sum = new_like(a, t, nm, k + 1 == c->n ? role : NTG_ROLE_ACTIVATION);
        uint32_t nid = ntg__ir_add_node(ir, NTG_OP_add, NTG_DIR_FWD, 2, 1);
        if (sum == NTG_NONE || nid == NTG_NONE) return nomem(a);
        ntg_ir_node *n = ntg__ir_node(ir, nid);
        n->in[0] = acc;
        n->in[1] = c->ids[k];
        n->out[0] = sum;
        n->loc = ntg__ir_tensor(ir, t)->loc;
        n->scope = "autodiff";
        ntg__ir_tensor(ir, sum)->producer = (int)nid;
        if (ntg__ir_push_u32(&a->bwd_nodes, nid)) return nomem(a);
        acc = sum;
    }
    /* a single contribution is the gradient itself: give it the final name and role,
     * unless it is not ours to rename (the loss seed, a constant) */
    if (c->n == 1 && final_name && ntg__ir_tensor(ir, acc)->role == NTG_ROLE_ACTIVATION) {
        ntg_ir_tensor *g = ntg__ir_tensor(ir, acc);
        g->name = final_name;
        g->role = role;
    }
    *out = acc;
    return NTG_OK;
}

/* Forward-propagated "depends on a parameter": only those tensors get gradients. */
static uint8_t *requires_grad(ntg_ir *ir, const ntg_vec *order)
{
    uint8_t *rg = ntg__pool_alloc(ir->pool, ir->tensors.len + 1);
    if (!rg) return NULL;
    for (size_t t = 0; t < ir->tensors.len; t++)
        rg[t] = ntg__ir_tensor(ir, (uint32_t)t)->role == NTG_ROLE_PARAM;
    for (size_t k = 0; k < order->len; k++) {
        const ntg_ir_node *n = ntg__ir_node(ir, ntg__ir_u32(order, k));
        if (!ntg__op_info(n->code)->differentiable) continue;
        int any = 0;
        for (int i = 0; i < n->n_in; i++) any |= n->in[i] != NTG_NONE && rg[n->in[i]];
        for (int o = 0; o < n->n_out; o++) rg[n->out[o]] = (uint8_t)any;
    }
    return rg;
}

static ntg_status backward_of(ad_ctx *a, uint32_t nid, const uint8_t *rg)
{
    ntg_ir *ir = a->ir;
    ntg_ir_node fwd = *ntg__ir_node(ir, nid);
    const ntg_op_info *info = ntg__op_info(fwd.code);
    uint32_t douts[8];
    int any = 0;
    for (int o = 0; o < fwd.n_out; o++) {
        const char *nm = ntg__pool_fmt(ir->pool, "grad/%s", ntg__ir_tensor(ir, fwd.out[o])->name);
        if (!nm) return nomem(a);
        ntg_status st = total_grad(a, fwd.out[o], nm, NTG_ROLE_ACTIVATION, &douts[o]);
        if (st) return st;
        any |= douts[o] != NTG_NONE;
    }
    int wants = 0;
    for (int i = 0; i < fwd.n_in; i++) wants |= fwd.in[i] != NTG_NONE && rg[fwd.in[i]];
    if (!any || !wants) return NTG_OK;
    if (!info->differentiable)
        return ntg__err(a->err, NTG_ERR_GRAPH, fwd.loc.file, fwd.loc.line, fwd.loc.col,
                        "op '%s' has no gradient but a parameter's gradient flows through it",
                        info->cls->name);

    int nfi = fwd.n_in, nfo = fwd.n_out;
    uint32_t bid = ntg__ir_add_node(ir, fwd.code, NTG_DIR_BWD, nfi + 2 * nfo, nfi);
    if (bid == NTG_NONE) return nomem(a);
    ntg_ir_node *b = ntg__ir_node(ir, bid);
    b->attr = fwd.attr;
    b->n_attr = fwd.n_attr;
    b->scope = fwd.scope;
    b->loc = fwd.loc;
    for (int i = 0; i < nfi; i++) b->in[i] = fwd.in[i];
    for (int o = 0; o < nfo; o++) b->in[nfi + o] = fwd.out[o];
    for (int o = 0; o < nfo; o++) b->in[nfi + nfo + o] = douts[o];
    ntg_tdesc descs[72];
    for (int i = 0; i < nfi && i < 72; i++) descs[i] = ntg__ir_tensor(ir, fwd.in[i])->desc;
    ntg_opsig sig = {fwd.attr, fwd.n_attr, nfi, descs, nfo};
    b->saved = info->cls->bwd_saves ? info->cls->bwd_saves(&sig) : 0xffffffffu;
    /* keep only bits for operands that exist (16 input bits, 16 output bits) */
    uint32_t mask = 0;
    for (int i = 0; i < nfi && i < 16; i++) mask |= 1u << i;
    for (int o = 0; o < nfo && o < 16; o++) mask |= 1u << (16 + o);
    b->saved &= mask;
    for (int i = 0; i < nfi; i++) {
        if (fwd.in[i] == NTG_NONE || !rg[fwd.in[i]]) continue;
        const char *nm = ntg__pool_fmt(ir->pool, "grad/%s@%u", ntg__ir_tensor(ir, fwd.in[i])->name,
                                       a->name_seq++);
        if (!nm) return nomem(a);
        uint32_t g = new_like(a, fwd.in[i], nm, NTG_ROLE_ACTIVATION);
        if (g == NTG_NONE) return nomem(a);
        b = ntg__ir_node(ir, bid);
        b->out[i] = g;
        ntg__ir_tensor(ir, g)->producer = (int)bid;
        if (push_contrib(a, fwd.in[i], g)) return nomem(a);
    }
    if (ntg__ir_push_u32(&a->bwd_nodes, bid)) return nomem(a);
    return NTG_OK;
}

/* A forward node whose op keeps state for its backward (aux outputs) runs, in the
 * training programs, as a variant that also writes that state; `infer` keeps the lean
 * node.  Fills map[id] = the node training uses. */
static ntg_status training_variants(ntg_ir *ir, const ntg_vec *fwd_nodes, uint32_t *map,
                                    ntg_error *err)
{
    for (size_t k = 0; k < fwd_nodes->len; k++) {
        uint32_t id = ntg__ir_u32(fwd_nodes, k);
        map[id] = id;
        ntg_ir_node n = *ntg__ir_node(ir, id);
        const ntg_op_info *info = ntg__op_info(n.code);
        int aux = info->cls->aux_outputs;
        if (aux <= 0 || n.n_out + aux > info->n_out_max) continue;
        ntg_tdesc in[72], out[8];
        for (int i = 0; i < n.n_in && i < 72; i++) in[i] = ntg__ir_tensor(ir, n.in[i])->desc;
        ntg_opsig sig = {n.attr, n.n_attr, n.n_in, in, n.n_out + aux};
        char msg[256];
        memset(out, 0, sizeof out);
        if (info->cls->infer(&sig, out, msg, sizeof msg))
            return ntg__err(err, NTG_ERR_INTERNAL, n.loc.file, n.loc.line, n.loc.col, "%s", msg);
        uint32_t vid = ntg__ir_add_node(ir, n.code, NTG_DIR_FWD, n.n_in, n.n_out + aux);
        if (vid == NTG_NONE) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        ntg_ir_node *v = ntg__ir_node(ir, vid);
        v->attr = n.attr;
        v->n_attr = n.n_attr;
        v->scope = n.scope;
        v->loc = n.loc;
        for (int i = 0; i < n.n_in; i++) v->in[i] = n.in[i];
        for (int o = 0; o < n.n_out; o++) v->out[o] = n.out[o];
        for (int a = 0; a < aux; a++) {
            const char *nm =
                ntg__pool_fmt(ir->pool, "%s.saved%d", ntg__ir_tensor(ir, n.out[0])->name, a);
            uint32_t t =
                nm ? ntg__ir_add_tensor(ir, nm, &out[n.n_out + a], NTG_ROLE_ACTIVATION, n.loc)
                   : NTG_NONE;
            if (t == NTG_NONE) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            v = ntg__ir_node(ir, vid);
            v->out[n.n_out + a] = t;
            ntg__ir_tensor(ir, t)->producer = (int)vid;
        }
        map[id] = vid;
    }
    return NTG_OK;
}

/* Dropout is active only in the grad and train_step programs (docs/internals.md, "Dropout"):
 * each dropout node gets a training twin that also reads the trainer's train.rng tensor
 * (created here when the graph has a dropout), and map[id] points at the twin; forecasts and
 * eval keep the one-operand node, the identity.  A stream of -1 is numbered here: the graph's
 * n-th dropout, counted from 0 in forward order. */
static ntg_status dropout_variants(ntg_ir *ir, const ntg_vec *fwd_nodes, uint32_t *map,
                                   uint32_t rng, ntg_error *err)
{
    int64_t next = 0;
    for (size_t k = 0; k < fwd_nodes->len; k++) {
        uint32_t id = ntg__ir_u32(fwd_nodes, k);
        ntg_ir_node n = *ntg__ir_node(ir, id);
        if (n.code != NTG_OP_dropout || n.n_in != 1 || n.n_attr <= NTG_DROPOUT_STREAM) continue;
        ntg_attr *at = ntg__pool_array(ir->pool, n.n_attr + 1, sizeof(ntg_attr));
        uint32_t vid = ntg__ir_add_node(ir, n.code, NTG_DIR_FWD, 2, n.n_out);
        if (!at || vid == NTG_NONE) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        memcpy(at, n.attr, n.n_attr * sizeof *at);
        if (at[NTG_DROPOUT_STREAM].i < 0) at[NTG_DROPOUT_STREAM].i = next;
        next++;
        ntg__ir_node(ir, id)->attr = at; /* the forecast node records the stream too */
        ntg_ir_node *v = ntg__ir_node(ir, vid);
        v->attr = at;
        v->n_attr = n.n_attr;
        v->scope = n.scope;
        v->loc = n.loc;
        v->in[0] = n.in[0];
        v->in[1] = rng;
        for (int o = 0; o < n.n_out; o++) v->out[o] = n.out[o];
        map[id] = vid;
    }
    return NTG_OK;
}

/* batchnorm's running statistics: one in-place batchnorm_stats node per batchnorm, reading the
 * batch statistics its training form saved (aux output 1), for the grad and train_step
 * programs (docs/internals.md, "Batchnorm"). */
static ntg_status batchnorm_updates(ntg_ir *ir, const ntg_vec *fwd_nodes, const uint32_t *map,
                                    ntg_vec *out, ntg_error *err)
{
    for (size_t k = 0; k < fwd_nodes->len; k++) {
        uint32_t id = ntg__ir_u32(fwd_nodes, k);
        const ntg_ir_node *n = ntg__ir_node(ir, id);
        const ntg_ir_node *v = ntg__ir_node(ir, map[id]);
        if (n->code != NTG_OP_batchnorm || v->n_out < 2) continue;
        ntg_attr *at = ntg__pool_array(ir->pool, 2, sizeof(ntg_attr));
        uint32_t sid = ntg__ir_add_node(ir, NTG_OP_batchnorm_stats, NTG_DIR_FWD, 3, 0);
        if (!at || sid == NTG_NONE) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        n = ntg__ir_node(ir, id);
        v = ntg__ir_node(ir, map[id]);
        at[NTG_BNSTATS_MOMENTUM].f = ntg__attr_f(n->attr, NTG_BATCHNORM_MOMENTUM);
        ntg_ir_node *s = ntg__ir_node(ir, sid);
        s->attr = at;
        s->n_attr = 1;
        s->scope = n->scope;
        s->loc = n->loc;
        s->in[0] = n->in[3];
        s->in[1] = n->in[4];
        s->in[2] = v->out[1];
        if (ntg__ir_push_u32(out, sid)) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    return NTG_OK;
}

static int has_dropout(ntg_ir *ir, const ntg_vec *fwd_nodes)
{
    for (size_t k = 0; k < fwd_nodes->len; k++)
        if (ntg__ir_node(ir, ntg__ir_u32(fwd_nodes, k))->code == NTG_OP_dropout) return 1;
    return 0;
}

static ntg_status add_input(ntg_ir *ir, const char *name, const ntg_tdesc *d, ntg_loc loc,
                            ntg_error *err, uint32_t *id)
{
    for (size_t t = 0; t < ir->tensors.len; t++)
        if (strcmp(ntg__ir_tensor(ir, (uint32_t)t)->name, name) == 0)
            return ntg__err(err, NTG_ERR_GRAPH, loc.file, loc.line, loc.col,
                            "training needs a tensor named '%s' of its own; rename the graph's "
                            "'%s'",
                            name, name);
    *id = ntg__ir_add_tensor(ir, name, d, NTG_ROLE_INPUT, loc);
    return *id == NTG_NONE ? ntg__fail(err, NTG_ERR_NOMEM, "out of memory") : NTG_OK;
}

static ntg_attr *attrs(ntg_ir *ir, uint32_t n)
{
    return ntg__pool_array(ir->pool, n + 1, sizeof(ntg_attr));
}

ntg_status ntg__ir_add_training(ntg_ir *ir, const ntg_train_cfg *cfg, ntg_error *err)
{
    ad_ctx a;
    memset(&a, 0, sizeof a);
    a.ir = ir;
    a.err = err;
    ntg__vec_init(&a.bwd_nodes, sizeof(uint32_t));
    ntg_status st = NTG_OK;
    ntg_ir_program *infer = &ir->programs[0];
    size_t n_fwd = infer->nodes.len;
    ntg_vec params;
    ntg__vec_init(&params, sizeof(uint32_t));
    uint32_t *tnode = NULL; /* forward node id -> the node the training programs run */
    ntg_vec bn_upd;         /* batchnorm_stats nodes (grad and train_step) */
    ntg__vec_init(&bn_upd, sizeof(uint32_t));

    /* the output the loss compares with the target */
    uint32_t y = NTG_NONE;
    if (cfg->target) {
        for (size_t i = 0; i < infer->outputs.len; i++)
            if (strcmp(ntg__ir_tensor(ir, ntg__ir_u32(&infer->outputs, i))->name, cfg->target) == 0)
                y = ntg__ir_u32(&infer->outputs, i);
        if (y == NTG_NONE) {
            st = ntg__fail(err, NTG_ERR_GRAPH, "train target '%s' is not an output of the graph",
                           cfg->target);
            goto done;
        }
    } else {
        y = ntg__ir_u32(&infer->outputs, 0);
    }
    ntg_tdesc yd = ntg__ir_tensor(ir, y)->desc;
    ntg_loc yloc = ntg__ir_tensor(ir, y)->loc;

    /* targets: y's shape, or without the quantile axis for multi-quantile losses */
    ntg_tdesc td = yd;
    int qaxis = -1;
    if (cfg->loss_code == NTG_OP_loss_pinball) {
        qaxis = ntg__axis(cfg->quantile_axis, yd.rank);
        if (yd.rank < 2 || qaxis < 1 || yd.dims[qaxis] != cfg->n_quantiles) {
            char b[96];
            st = ntg__err(err, NTG_ERR_SHAPE, yloc.file, yloc.line, yloc.col,
                          "mqloss with %d quantiles needs output '%s' to have them on axis %d; "
                          "it is %s",
                          cfg->n_quantiles, ntg__ir_tensor(ir, y)->name, cfg->quantile_axis,
                          ntg__tdesc_str(&yd, b, sizeof b));
            goto done;
        }
        for (int d = qaxis; d + 1 < yd.rank; d++) td.dims[d] = yd.dims[d + 1];
        td.rank = (uint8_t)(yd.rank - 1);
    } else if (cfg->loss_code == NTG_OP_loss_normal || cfg->loss_code == NTG_OP_loss_studentt) {
        /* the distribution's raw parameters on axis 1: [batch, P, h] */
        int np = cfg->loss_code == NTG_OP_loss_normal ? 2 : 3;
        if (yd.rank != 3 || yd.dims[1] != np) {
            char b[96];
            st = ntg__err(err, NTG_ERR_SHAPE, yloc.file, yloc.line, yloc.col,
                          "loss %s needs output '%s' as [batch, %d, h] (%s on axis 1); it is %s",
                          np == 2 ? "normal" : "studentt", ntg__ir_tensor(ir, y)->name, np,
                          np == 2 ? "loc, raw scale" : "loc, raw scale, raw df",
                          ntg__tdesc_str(&yd, b, sizeof b));
            goto done;
        }
        td.dims[1] = yd.dims[2];
        td.rank = 2;
    } else if (cfg->loss_code == NTG_OP_loss_xent) {
        /* class logits per horizon step: [batch, h, C], C 2 (down, up) or 3 (down, flat, up,
         * with the dead band class_threshold); t holds the class indices [batch, h] */
        int want = cfg->class_threshold > 0 ? 3 : 2;
        if (yd.rank != 3 || yd.dims[2] != want) {
            char b[96];
            st = ntg__err(err, NTG_ERR_SHAPE, yloc.file, yloc.line, yloc.col,
                          "loss xent %s needs output '%s' as [batch, h, %d] (class logits last); "
                          "it is %s%s",
                          want == 3 ? "with class_threshold > 0 (down, flat, up)"
                                    : "without class_threshold (down, up)",
                          ntg__ir_tensor(ir, y)->name, want, ntg__tdesc_str(&yd, b, sizeof b),
                          want == 3 ? " (graphs/nhits_cls.yaml: -D n_classes=3)"
                                    : " (graphs/nhits_cls.yaml: -D n_classes=2)");
            goto done;
        }
        td.rank = 2;
    }
    uint32_t t_in, mask_in = NTG_NONE, ctl_in;
    if ((st = add_input(ir, "t", &td, yloc, err, &t_in))) goto done;
    if (cfg->masked && (st = add_input(ir, "mask", &td, yloc, err, &mask_in))) goto done;
    ntg_tdesc cd = {NTG_DTYPE_F32, 1, 0, 0, {NTG_CTL_SIZE}};
    if ((st = add_input(ir, "train.ctl", &cd, yloc, err, &ctl_in))) goto done;
    uint32_t rng_in = NTG_NONE;
    ntg_tdesc rd = {NTG_DTYPE_F32, 1, 0, 0, {NTG_RNG_SIZE}};
    if (has_dropout(ir, &infer->nodes) &&
        (st = add_input(ir, "train.rng", &rd, yloc, err, &rng_in)))
        goto done;

    /* the loss node */
    int n_loss_in = cfg->masked ? 3 : 2;
    uint32_t lid = ntg__ir_add_node(ir, cfg->loss_code, NTG_DIR_FWD, n_loss_in, 1);
    ntg_tdesc one = {NTG_DTYPE_F32, 1, 0, 0, {1}};
    uint32_t loss = ntg__ir_add_tensor(ir, "loss", &one, NTG_ROLE_LOSS, yloc);
    if (lid == NTG_NONE || loss == NTG_NONE) goto nomem;
    ntg_ir_node *ln = ntg__ir_node(ir, lid);
    ln->in[0] = y;
    ln->in[1] = t_in;
    if (cfg->masked) ln->in[2] = mask_in;
    ln->out[0] = loss;
    ln->loc = yloc;
    ln->scope = "loss";
    if (cfg->loss_code == NTG_OP_loss_huber) {
        ln->attr = attrs(ir, 1);
        if (!ln->attr) goto nomem;
        ln->n_attr = 1;
        ln->attr[NTG_HUBER_DELTA].f = cfg->huber_delta;
    } else if (cfg->loss_code == NTG_OP_loss_pinball) {
        uint32_t nq = (uint32_t)cfg->n_quantiles;
        ln->attr = attrs(ir, 2 + nq);
        if (!ln->attr) goto nomem;
        ln->n_attr = 2 + nq;
        ln->attr[NTG_PINBALL_QUANTILES].i = (int64_t)(((uint64_t)2 << 32) | nq);
        ln->attr[NTG_PINBALL_AXIS].i = qaxis;
        for (uint32_t q = 0; q < nq; q++) ln->attr[2 + q].f = cfg->quantiles[q];
    } else if (cfg->loss_code == NTG_OP_loss_normal || cfg->loss_code == NTG_OP_loss_studentt) {
        ln->attr = attrs(ir, 1);
        if (!ln->attr) goto nomem;
        ln->n_attr = 1;
        ln->attr[NTG_DIST_AXIS].i = 1;
    } else if (cfg->loss_code == NTG_OP_loss_xent) {
        ln->attr = attrs(ir, 1);
        if (!ln->attr) goto nomem;
        ln->n_attr = 1;
        ln->attr[NTG_XENT_AXIS].i = 2;
    }
    ntg__ir_tensor(ir, loss)->producer = (int)lid;

    /* backward, from the loss seed (a constant 1) through the forward nodes in reverse */
    uint32_t seed = ntg__ir_add_tensor(ir, "loss.seed", &one, NTG_ROLE_CONST, yloc);
    if (seed == NTG_NONE) goto nomem;
    ntg__ir_tensor(ir, seed)->data = ntg__pool_alloc(ir->pool, sizeof(float));
    if (!ntg__ir_tensor(ir, seed)->data) goto nomem;
    ntg__ir_tensor(ir, seed)->data[0] = 1.0f;
    if (push_contrib(&a, loss, seed)) goto nomem;
    tnode = calloc(ir->nodes.len + 1, sizeof *tnode);
    if (!tnode) goto nomem;
    if ((st = training_variants(ir, &infer->nodes, tnode, err))) goto done;
    if (rng_in != NTG_NONE && (st = dropout_variants(ir, &infer->nodes, tnode, rng_in, err)))
        goto done;
    if ((st = batchnorm_updates(ir, &infer->nodes, tnode, &bn_upd, err))) goto done;
    ntg_vec order;
    ntg__vec_init(&order, sizeof(uint32_t));
    for (size_t k = 0; k < n_fwd; k++)
        if (ntg__ir_push_u32(&order, ntg__ir_u32(&infer->nodes, k))) {
            ntg__vec_free(&order);
            goto nomem;
        }
    uint8_t *rg = requires_grad(ir, &order);
    ntg__vec_free(&order);
    if (!rg) goto nomem;
    /* rg covers the tensors that existed; t, mask, ctl, loss and seed need no gradient */
    if ((st = backward_of(&a, lid, rg))) goto done;
    for (size_t k = n_fwd; k-- > 0;)
        if ((st = backward_of(&a, tnode[ntg__ir_u32(&infer->nodes, k)], rg))) goto done;

    /* each parameter's total gradient, in parameter order */
    size_t n_t = ir->tensors.len;
    for (size_t t = 0; t < n_t; t++) {
        if (ntg__ir_tensor(ir, (uint32_t)t)->role != NTG_ROLE_PARAM) continue;
        const char *nm = ntg__pool_fmt(ir->pool, "grad.%s", ntg__ir_tensor(ir, (uint32_t)t)->name);
        if (!nm) goto nomem;
        uint32_t g;
        if ((st = total_grad(&a, (uint32_t)t, nm, NTG_ROLE_GRAD, &g))) goto done;
        if (g == NTG_NONE) continue; /* not on the target's path: never updated */
        ntg__ir_tensor(ir, g)->link = (uint32_t)t;
        uint32_t pair[2] = {(uint32_t)t, g};
        for (int k = 0; k < 2; k++)
            if (ntg__ir_push_u32(&params, pair[k])) goto nomem;
    }
    size_t n_params = params.len / 2;
    if (n_params == 0) {
        /* a graph without parameters is fine for inference: say how to get that plan */
        st = ntg__fail(err, NTG_ERR_GRAPH,
                       "nothing to train: no parameter reaches '%s'; to compile the graph for "
                       "inference only, pass --infer-only (NTG_COMPILE_INFER_ONLY)",
                       ntg__ir_tensor(ir, y)->name);
        goto done;
    }

    /* optional global norm clipping, then one optimizer op per parameter */
    ntg_vec upd;
    ntg__vec_init(&upd, sizeof(uint32_t));
    uint32_t norm = NTG_NONE;
    if (cfg->clip > 0) {
        uint32_t cid = ntg__ir_add_node(ir, NTG_OP_clip_grad_norm, NTG_DIR_FWD, (int)n_params, 1);
        norm = ntg__ir_add_tensor(ir, "grad_norm", &one, NTG_ROLE_ACTIVATION, yloc);
        ntg_attr *ca = attrs(ir, 1);
        if (cid == NTG_NONE || norm == NTG_NONE || !ca) goto nomem_upd;
        ca[NTG_CLIP_MAX_NORM].f = cfg->clip;
        ntg_ir_node *cn = ntg__ir_node(ir, cid);
        for (size_t p = 0; p < n_params; p++) cn->in[p] = ntg__ir_u32(&params, 2 * p + 1);
        cn->out[0] = norm;
        cn->attr = ca;
        cn->n_attr = 1;
        cn->loc = yloc;
        cn->scope = "optimizer";
        ntg__ir_tensor(ir, norm)->producer = (int)cid;
        if (ntg__ir_push_u32(&upd, cid)) goto nomem_upd;
    }
    for (size_t p = 0; p < n_params; p++) {
        uint32_t pt = ntg__ir_u32(&params, 2 * p), gt = ntg__ir_u32(&params, 2 * p + 1);
        const char *pname = ntg__ir_tensor(ir, pt)->name;
        ntg_loc ploc = ntg__ir_tensor(ir, pt)->loc;
        uint32_t nid;
        ntg_attr *at;
        if (cfg->optimizer == NTG_OP_adam) {
            const char *mn = ntg__pool_fmt(ir->pool, "opt.m.%s", pname);
            const char *vn = ntg__pool_fmt(ir->pool, "opt.v.%s", pname);
            uint32_t m = mn ? new_like(&a, pt, mn, NTG_ROLE_STATE) : NTG_NONE;
            uint32_t v = vn ? new_like(&a, pt, vn, NTG_ROLE_STATE) : NTG_NONE;
            nid = ntg__ir_add_node(ir, NTG_OP_adam, NTG_DIR_FWD, 5, 0);
            at = attrs(ir, 5);
            if (m == NTG_NONE || v == NTG_NONE || nid == NTG_NONE || !at) goto nomem_upd;
            ntg__ir_tensor(ir, m)->link = pt;
            ntg__ir_tensor(ir, v)->link = pt;
            at[NTG_ADAM_BETA1].f = cfg->beta1;
            at[NTG_ADAM_BETA2].f = cfg->beta2;
            at[NTG_ADAM_EPS].f = cfg->eps;
            at[NTG_ADAM_WEIGHT_DECAY].f = cfg->weight_decay;
            at[NTG_ADAM_DECOUPLED].i = cfg->decoupled;
            ntg_ir_node *n = ntg__ir_node(ir, nid);
            n->in[0] = pt;
            n->in[1] = gt;
            n->in[2] = m;
            n->in[3] = v;
            n->in[4] = ctl_in;
            n->attr = at;
            n->n_attr = 5;
        } else {
            int has_buf = cfg->momentum != 0;
            uint32_t buf = NTG_NONE;
            if (has_buf) {
                const char *bn = ntg__pool_fmt(ir->pool, "opt.buf.%s", pname);
                buf = bn ? new_like(&a, pt, bn, NTG_ROLE_STATE) : NTG_NONE;
                if (buf == NTG_NONE) goto nomem_upd;
                ntg__ir_tensor(ir, buf)->link = pt;
            }
            nid = ntg__ir_add_node(ir, NTG_OP_sgd, NTG_DIR_FWD, has_buf ? 4 : 3, 0);
            at = attrs(ir, 4);
            if (nid == NTG_NONE || !at) goto nomem_upd;
            at[NTG_SGD_MOMENTUM].f = cfg->momentum;
            at[NTG_SGD_DAMPENING].f = cfg->dampening;
            at[NTG_SGD_NESTEROV].i = cfg->nesterov;
            at[NTG_SGD_WEIGHT_DECAY].f = cfg->weight_decay;
            ntg_ir_node *n = ntg__ir_node(ir, nid);
            n->in[0] = pt;
            n->in[1] = gt;
            n->in[2] = ctl_in;
            if (has_buf) n->in[3] = buf;
            n->attr = at;
            n->n_attr = 4;
        }
        ntg_ir_node *n = ntg__ir_node(ir, nid);
        n->loc = ploc;
        n->scope = "optimizer";
        if (ntg__ir_push_u32(&upd, nid)) goto nomem_upd;
    }

    /* the programs: eval (forward + loss), grad (+ backward), train_step (+ update) */
    const char *names[3] = {"eval", "grad", "train_step"};
    for (int pi = 0; pi < 3; pi++) {
        ntg_ir_program *p = &ir->programs[1 + pi];
        p->name = names[pi];
        int bad = 0;
        for (size_t k = 0; k < n_fwd; k++) {
            uint32_t id = ntg__ir_u32(&infer->nodes, k);
            /* eval is validation: dropout stays the identity there and batchnorm uses its
             * running statistics, as in forecasts */
            uint16_t code = ntg__ir_node(ir, id)->code;
            int lean = pi == 0 && (code == NTG_OP_dropout || code == NTG_OP_batchnorm);
            bad |= ntg__ir_push_u32(&p->nodes, lean ? id : tnode[id]);
        }
        bad |= ntg__ir_push_u32(&p->nodes, lid);
        if (pi >= 1)
            for (size_t k = 0; k < bn_upd.len; k++)
                bad |= ntg__ir_push_u32(&p->nodes, ntg__ir_u32(&bn_upd, k));
        if (pi >= 1)
            for (size_t k = 0; k < a.bwd_nodes.len; k++)
                bad |= ntg__ir_push_u32(&p->nodes, ntg__ir_u32(&a.bwd_nodes, k));
        if (pi == 2)
            for (size_t k = 0; k < upd.len; k++)
                bad |= ntg__ir_push_u32(&p->nodes, ntg__ir_u32(&upd, k));
        for (size_t i = 0; i < infer->inputs.len; i++)
            bad |= ntg__ir_push_u32(&p->inputs, ntg__ir_u32(&infer->inputs, i));
        bad |= ntg__ir_push_u32(&p->inputs, t_in);
        if (mask_in != NTG_NONE) bad |= ntg__ir_push_u32(&p->inputs, mask_in);
        if (pi == 2) bad |= ntg__ir_push_u32(&p->inputs, ctl_in);
        if (pi >= 1 && rng_in != NTG_NONE) bad |= ntg__ir_push_u32(&p->inputs, rng_in);
        bad |= ntg__ir_push_u32(&p->outputs, loss);
        if (pi == 0) bad |= ntg__ir_push_u32(&p->outputs, y);
        if (pi == 1)
            for (size_t q = 0; q < n_params; q++)
                bad |= ntg__ir_push_u32(&p->outputs, ntg__ir_u32(&params, 2 * q + 1));
        if (pi == 2 && norm != NTG_NONE) bad |= ntg__ir_push_u32(&p->outputs, norm);
        if (bad) goto nomem_upd;
    }
    /* apply: the update alone, on gradients given as inputs (grad's outputs, which a
     * data-parallel trainer sums across workers between the two runs); clipping included */
    ntg_ir_program *ap = &ir->programs[4];
    ap->name = "apply";
    int bad = 0;
    for (size_t k = 0; k < upd.len; k++) bad |= ntg__ir_push_u32(&ap->nodes, ntg__ir_u32(&upd, k));
    for (size_t q = 0; q < n_params; q++)
        bad |= ntg__ir_push_u32(&ap->inputs, ntg__ir_u32(&params, 2 * q + 1));
    bad |= ntg__ir_push_u32(&ap->inputs, ctl_in);
    if (norm != NTG_NONE) bad |= ntg__ir_push_u32(&ap->outputs, norm);
    if (bad) goto nomem_upd;
    ir->n_programs = 5;
    ntg__vec_free(&upd);
    goto done;
nomem_upd:
    ntg__vec_free(&upd);
nomem:
    st = nomem(&a);
done:
    for (size_t t = 0; t < a.c_len; t++) free(a.c[t].ids);
    free(a.c);
    ntg__vec_free(&a.bwd_nodes);
    ntg__vec_free(&params);
    ntg__vec_free(&bn_upd);
    free(tnode);
    return st;
}
