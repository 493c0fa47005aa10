/* ir.c — building the IR from a read graph: name resolution, ordering, parameters, shapes. */
#include "ir.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nearest.h"
#include "ntg_error.h"

void ntg__ir_init(ntg_ir *ir, ntg_pool *pool)
{
    memset(ir, 0, sizeof *ir);
    ir->pool = pool;
    ntg__vec_init(&ir->tensors, sizeof(ntg_ir_tensor));
    ntg__vec_init(&ir->nodes, sizeof(ntg_ir_node));
    ntg__vec_init(&ir->meta, sizeof(ntg_ir_meta));
    for (int p = 0; p < NTG_IR_MAX_PROGRAMS; p++) {
        ntg__vec_init(&ir->programs[p].nodes, sizeof(uint32_t));
        ntg__vec_init(&ir->programs[p].inputs, sizeof(uint32_t));
        ntg__vec_init(&ir->programs[p].outputs, sizeof(uint32_t));
    }
}

void ntg__ir_free(ntg_ir *ir)
{
    ntg__vec_free(&ir->tensors);
    ntg__vec_free(&ir->nodes);
    ntg__vec_free(&ir->meta);
    for (int p = 0; p < NTG_IR_MAX_PROGRAMS; p++) {
        ntg__vec_free(&ir->programs[p].nodes);
        ntg__vec_free(&ir->programs[p].inputs);
        ntg__vec_free(&ir->programs[p].outputs);
    }
}

uint64_t ntg__ir_desc_bytes(const ntg_tdesc *d)
{
    uint64_t b = 0;
    /* f32 and i32 are both 4 bytes; an unchecked oversized shape reads as too large */
    return ntg__tdesc_bytes(d, &b) ? UINT64_MAX : b;
}

const char *ntg__ir_bytes_str(uint64_t bytes, char *buf, size_t cap)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) return ntg__strfmt(buf, cap, "%llu bytes", (unsigned long long)bytes);
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 5) v /= 1024.0, u++;
    return ntg__strfmt(buf, cap, "%.1f %s", v, unit[u]);
}

ntg_status ntg__ir_check_size(const char *what, const char *name, const ntg_tdesc *d, int batch,
                              ntg_loc loc, ntg_error *err)
{
    char shape[160], at[48] = "", hb[32];
    uint64_t bytes = 0;
    if (d->batched) ntg__strfmt(at, sizeof at, " at batch %d", batch);
    ntg__tdesc_str(d, shape, sizeof shape);
    if (ntg__tdesc_bytes(d, &bytes))
        return ntg__err(err, NTG_ERR_RANGE, loc.file, loc.line, loc.col,
                        "%s '%s' %s has more elements%s than 64-bit sizes can count", what, name,
                        shape, at);
    if (bytes > NTG_IR_MAX_BYTES)
        return ntg__err(err, NTG_ERR_RANGE, loc.file, loc.line, loc.col,
                        "%s '%s' %s needs %llu bytes (%s)%s, more than the 1 TiB a plan can "
                        "hold",
                        what, name, shape, (unsigned long long)bytes,
                        ntg__ir_bytes_str(bytes, hb, sizeof hb), at);
    return NTG_OK;
}

uint32_t ntg__ir_add_tensor(ntg_ir *ir, const char *name, const ntg_tdesc *desc, ntg_role role,
                            ntg_loc loc)
{
    ntg_ir_tensor *t = ntg__vec_push(&ir->tensors);
    if (!t) return NTG_NONE;
    t->name = name;
    t->desc = *desc;
    t->role = role;
    t->storage = (role == NTG_ROLE_PARAM || role == NTG_ROLE_CONST) ? NTG_STORE_WEIGHTS
                 : role == NTG_ROLE_STATE                           ? NTG_STORE_STATE
                                                                    : NTG_STORE_ARENA;
    t->link = NTG_NONE;
    t->producer = -1;
    t->loc = loc;
    t->nbytes = ntg__ir_desc_bytes(desc);
    return (uint32_t)(ir->tensors.len - 1);
}

uint32_t ntg__ir_add_node(ntg_ir *ir, int code, int dir, int n_in, int n_out)
{
    uint32_t *in = ntg__pool_array(ir->pool, (size_t)(n_in + 1), sizeof *in);
    uint32_t *out = ntg__pool_array(ir->pool, (size_t)(n_out + 1), sizeof *out);
    ntg_ir_node *n = in && out ? ntg__vec_push(&ir->nodes) : NULL;
    if (!n) return NTG_NONE;
    n->code = (uint16_t)code;
    n->dir = (uint8_t)dir;
    n->n_in = n_in;
    n->n_out = n_out;
    n->in = in;
    n->out = out;
    for (int i = 0; i < n_in; i++) in[i] = NTG_NONE;
    for (int i = 0; i < n_out; i++) out[i] = NTG_NONE;
    return (uint32_t)(ir->nodes.len - 1);
}

int ntg__ir_push_u32(ntg_vec *v, uint32_t x)
{
    uint32_t *p = ntg__vec_push(v);
    if (!p) return -1;
    *p = x;
    return 0;
}

int ntg__ir_add_meta(ntg_ir *ir, const char *key, const char *value)
{
    ntg_ir_meta *m = ntg__vec_push(&ir->meta);
    if (!m) return -1;
    m->key = key;
    m->value = value;
    return 0;
}

/* ------------------------------------------------------------ name lookup */

/* The known tensor name nearest to `name`, for "did you mean" (a short name may be
 * suggested for a short one: 'x' for 'y'). */
static const char *nearest_name(const ntg_rgraph *g, const char *name)
{
    ntg_nearest near;
    ntg__nearest_init(&near, name);
    near.short_ok = 1;
    for (size_t i = 0; i < g->n_inputs; i++) ntg__nearest_try(&near, g->inputs[i].name);
    for (size_t n = 0; n < g->n_nodes; n++)
        for (int o = 0; o < g->nodes[n].n_out; o++) ntg__nearest_try(&near, g->nodes[n].out[o]);
    return near.best;
}

static ntg_status loc_err(ntg_error *err, ntg_status st, ntg_loc loc, const char *fmt, ...)
    NTG_PRINTF(4, 5);
static ntg_status loc_err(ntg_error *err, ntg_status st, ntg_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ntg__verr(err, st, loc.file, loc.line, loc.col, fmt, ap);
    va_end(ap);
    return st;
}

/* ---------------------------------------------------------------- build */

enum { PRODUCER_INPUT = -2, PRODUCER_NONE = -1 };

typedef struct build_ctx {
    ntg_ir *ir;
    const ntg_rgraph *g;
    ntg_strmap producer; /* tensor name -> node index + 1 (0 = graph input) */
    ntg_strmap tensor;   /* tensor name -> IR tensor id */
    ntg_strmap param;    /* parameter name -> IR tensor id */
    uint64_t seed;
    ntg_error *err;
} build_ctx;

/* Every name defined once; every input defined somewhere. */
static ntg_status check_names(build_ctx *b)
{
    const ntg_rgraph *g = b->g;
    for (size_t i = 0; i < g->n_inputs; i++)
        if (ntg__strmap_put(&b->producer, g->inputs[i].name, 0))
            return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
    for (size_t n = 0; n < g->n_nodes; n++) {
        const ntg_rnode *rn = &g->nodes[n];
        for (int o = 0; o < rn->n_out; o++) {
            unsigned prev;
            if (ntg__strmap_get(&b->producer, rn->out[o], &prev)) {
                ntg_loc where = prev == 0 ? g->inputs[0].loc : g->nodes[prev - 1].loc;
                if (prev == 0)
                    for (size_t i = 0; i < g->n_inputs; i++)
                        if (strcmp(g->inputs[i].name, rn->out[o]) == 0) where = g->inputs[i].loc;
                return loc_err(b->err, NTG_ERR_GRAPH, rn->out_loc[o],
                               "duplicate name '%s' (first defined at line %d)", rn->out[o],
                               where.line);
            }
            if (ntg__strmap_put(&b->producer, rn->out[o], (unsigned)n + 1))
                return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
        }
    }
    for (size_t n = 0; n < g->n_nodes; n++) {
        const ntg_rnode *rn = &g->nodes[n];
        for (int i = 0; i < rn->n_in; i++) {
            unsigned p;
            if (ntg__strmap_get(&b->producer, rn->in[i], &p)) continue;
            for (size_t k = 0; k < g->n_dropped; k++)
                if (strcmp(g->dropped[k].name, rn->in[i]) == 0)
                    return loc_err(b->err, NTG_ERR_GRAPH, rn->in_loc[i],
                                   "input '%s' is not taken: its shape (line %d) has a 0 extent; "
                                   "put the nodes that read it under a repeat whose count is 0 "
                                   "then",
                                   rn->in[i], g->dropped[k].loc.line);
            const char *near = nearest_name(g, rn->in[i]);
            if (near)
                return loc_err(b->err, NTG_ERR_GRAPH, rn->in_loc[i],
                               "undefined name '%s'; did you mean '%s'?", rn->in[i], near);
            return loc_err(b->err, NTG_ERR_GRAPH, rn->in_loc[i], "undefined name '%s'", rn->in[i]);
        }
    }
    return NTG_OK;
}

/* Binary min-heap of node indices: the ready node written first in the file comes out first. */
static void heap_push(uint32_t *h, size_t *n, uint32_t v)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint32_t heap_pop(uint32_t *h, size_t *n)
{
    uint32_t top = h[0], v = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

/* Kahn's algorithm with in-degree counts and consumer lists, taking ready nodes in
 * file order so the schedule follows the author's order wherever the dependencies
 * allow: O((nodes + edges) log nodes), so a million-op chain orders in well under a
 * second. */
static ntg_status topo_order(build_ctx *b, uint32_t *order)
{
    const ntg_rgraph *g = b->g;
    size_t nn = g->n_nodes, ne = 0;
    uint32_t *pending = ntg__pool_array(b->ir->pool, nn + 1, sizeof *pending);
    uint8_t *done = ntg__pool_array(b->ir->pool, nn + 1, 1);
    uint32_t *prod = NULL, *lst = NULL, *cons = NULL, *heap = NULL;
    if (!pending || !done) return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
    for (size_t n = 0; n < nn; n++) ne += (size_t)g->nodes[n].n_in;
    /* the producer of every operand, looked up once (index + 1, 0 = graph input) */
    prod = ntg__pool_array(b->ir->pool, ne + 1, sizeof *prod);
    lst = ntg__pool_array(b->ir->pool, nn + 2, sizeof *lst);
    cons = ntg__pool_array(b->ir->pool, ne + 1, sizeof *cons);
    heap = ntg__pool_array(b->ir->pool, nn + 1, sizeof *heap);
    if (!prod || !lst || !cons || !heap) return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
    size_t e = 0;
    for (size_t n = 0; n < nn; n++)
        for (int i = 0; i < g->nodes[n].n_in; i++, e++) {
            unsigned p = 0;
            ntg__strmap_get(&b->producer, g->nodes[n].in[i], &p);
            prod[e] = p;
            if (p > 0) {
                pending[n]++;
                lst[p]++; /* counts, turned into list starts below */
            }
        }
    /* consumers of node p-1 end up in cons[lst[p] .. lst[p + 1]) */
    for (size_t p = 1; p <= nn + 1; p++) lst[p] += lst[p - 1];
    e = 0;
    for (size_t n = 0; n < nn; n++)
        for (int i = 0; i < g->nodes[n].n_in; i++, e++)
            if (prod[e] > 0) cons[--lst[prod[e]]] = (uint32_t)n;
    size_t k = 0, nh = 0;
    for (size_t n = 0; n < nn; n++)
        if (pending[n] == 0) heap_push(heap, &nh, (uint32_t)n);
    while (nh > 0) {
        uint32_t pick = heap_pop(heap, &nh);
        done[pick] = 1;
        order[k++] = pick;
        for (uint32_t j = lst[pick + 1]; j < lst[pick + 2]; j++)
            if (--pending[cons[j]] == 0) heap_push(heap, &nh, cons[j]);
    }
    if (k == nn) return NTG_OK;

    /* a cycle: walk producers from any blocked node until a node repeats */
    size_t start = 0;
    while (done[start]) start++;
    uint32_t *seen = ntg__pool_array(b->ir->pool, nn + 1, sizeof *seen);
    uint32_t *path = ntg__pool_array(b->ir->pool, nn + 1, sizeof *path);
    if (!seen || !path) return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
    size_t len = 0, cur = start;
    while (!seen[cur]) {
        seen[cur] = (uint32_t)len + 1;
        path[len++] = (uint32_t)cur;
        const ntg_rnode *rn = &g->nodes[cur];
        for (int i = 0; i < rn->n_in; i++) {
            unsigned p = 0;
            ntg__strmap_get(&b->producer, rn->in[i], &p);
            if (p > 0 && !done[p - 1]) {
                cur = p - 1;
                break;
            }
        }
    }
    /* path[s ..] is the cycle, each node consuming the next one's output (and the last
     * consuming path[s]'s): in data-flow order it runs from path[len-1] down to path[s].
     * Start it at the node written first in the file, where the message points. */
    size_t s = seen[cur] - 1, m = len - s, first = 0;
    for (size_t i = 1; i < m; i++)
        if (path[len - 1 - i] < path[len - 1 - first]) first = i;
    char text[512];
    size_t tl = 0;
    text[0] = '\0';
    for (size_t i = 0; i <= m && tl < sizeof text - 64; i++) {
        uint32_t nd = path[len - 1 - (first + i) % m];
        int w = snprintf(text + tl, sizeof text - tl, "%s%s", i ? " -> " : "", g->nodes[nd].out[0]);
        if (w > 0) tl += (size_t)w;
    }
    return loc_err(b->err, NTG_ERR_GRAPH, g->nodes[path[len - 1 - first]].loc, "cycle: %s", text);
}

static void init_param(ntg_ir_tensor *t, const ntg_param_spec *ps, uint64_t seed)
{
    size_t n = (size_t)ntg__tdesc_numel(&t->desc);
    uint64_t stream = ntg__hash_str(t->name);
    for (size_t i = 0; i < n; i++) {
        switch (ps->init) {
        case NTG_INIT_UNIFORM:
            t->data[i] = (float)((2.0 * ntg__rng_uniform(seed, stream, i) - 1.0) * ps->init_arg);
            break;
        case NTG_INIT_ONES:
            t->data[i] = 1.0f;
            break;
        default:
            t->data[i] = 0.0f;
            break;
        }
    }
}

static const char *param_name(build_ctx *b, const ntg_rnode *rn, const char *leaf)
{
    for (int k = 0; k < rn->n_param_names; k++)
        if (strcmp(rn->param_leaf[k], leaf) == 0) leaf = rn->param_name[k];
    if (!rn->scope || !rn->scope[0]) return ntg__pool_strdup(b->ir->pool, leaf);
    return ntg__pool_fmt(b->ir->pool, "%s.%s", rn->scope, leaf);
}

static ntg_status lower_node(build_ctx *b, const ntg_rnode *rn)
{
    const ntg_op_info *info = ntg__op_info((uint32_t)rn->code);
    const ntg_op_class *cls = info->cls;
    ntg_ir *ir = b->ir;
    char msg[512];
    ntg_tdesc in[64 + 8];
    ntg_param_spec ps[64];
    int n_params = 0;

    if (rn->n_in > 64) return loc_err(b->err, NTG_ERR_GRAPH, rn->loc, "too many inputs");
    for (int i = 0; i < rn->n_in; i++) {
        unsigned id = 0;
        ntg__strmap_get(&b->tensor, rn->in[i], &id);
        in[i] = ntg__ir_tensor(ir, id)->desc;
    }
    int want_min = info->n_in_min, want_max = info->n_in_max;
    if (cls->flags & NTG_OPF_PARAMS) want_min = want_max = cls->flags & NTG_OPF_NO_INPUT ? 0 : 1;
    if (rn->n_in < want_min || rn->n_in > want_max) {
        if (want_min == want_max)
            return loc_err(b->err, NTG_ERR_GRAPH, rn->loc, "op '%s' takes %d input%s, got %d",
                           cls->name, want_min, want_min == 1 ? "" : "s", rn->n_in);
        return loc_err(b->err, NTG_ERR_GRAPH, rn->loc, "op '%s' takes %d to %d inputs, got %d",
                       cls->name, want_min, want_max, rn->n_in);
    }
    if (rn->n_out < info->n_out_min || rn->n_out > info->n_out_max) {
        if (info->n_out_min == info->n_out_max)
            return loc_err(b->err, NTG_ERR_GRAPH, rn->loc, "op '%s' has %d output%s, got %d",
                           cls->name, info->n_out_min, info->n_out_min == 1 ? "" : "s", rn->n_out);
        return loc_err(b->err, NTG_ERR_GRAPH, rn->loc, "op '%s' has %d to %d outputs, got %d",
                       cls->name, info->n_out_min, info->n_out_max, rn->n_out);
    }
    ntg_opsig sig = {rn->attr, rn->n_attr, rn->n_in, in, rn->n_out};
    msg[0] = '\0';
    if (ntg__attr_check(cls, rn->attr, rn->n_attr, msg, sizeof msg))
        return loc_err(b->err, NTG_ERR_GRAPH, rn->loc, "%s", msg);
    if (cls->params) {
        n_params = cls->params(&sig, ps, 64, msg, sizeof msg);
        if (n_params < 0) return loc_err(b->err, NTG_ERR_SHAPE, rn->loc, "%s", msg);
        for (int k = 0; k < n_params; k++) in[rn->n_in + k] = ps[k].desc;
    }
    sig.n_in = rn->n_in + n_params;
    ntg_tdesc out[8];
    memset(out, 0, sizeof out);
    if (cls->infer(&sig, out, msg, sizeof msg))
        return loc_err(b->err, NTG_ERR_SHAPE, rn->loc, "%s", msg);

    uint32_t nid = ntg__ir_add_node(ir, rn->code, NTG_DIR_FWD, sig.n_in, rn->n_out);
    if (nid == NTG_NONE) return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
    ntg_ir_node *node = ntg__ir_node(ir, nid);
    node->attr = rn->attr;
    node->n_attr = rn->n_attr;
    node->scope = rn->scope;
    node->loc = rn->loc;
    for (int i = 0; i < rn->n_in; i++) {
        unsigned id = 0;
        ntg__strmap_get(&b->tensor, rn->in[i], &id);
        node->in[i] = id;
    }
    for (int k = 0; k < n_params; k++) {
        const char *pname = param_name(b, rn, ps[k].leaf);
        if (!pname) return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
        unsigned prev;
        if (ntg__strmap_get(&b->param, pname, &prev))
            return loc_err(b->err, NTG_ERR_GRAPH, rn->loc,
                           "duplicate parameter name '%s' (also made at line %d); give the node "
                           "a distinct `name`",
                           pname, ntg__ir_tensor(ir, prev)->loc.line);
        ntg_status st =
            ntg__ir_check_size("parameter", pname, &ps[k].desc, ir->max_batch, rn->loc, b->err);
        if (st) return st;
        uint32_t tid = ntg__ir_add_tensor(ir, pname, &ps[k].desc,
                                          ps[k].buffer ? NTG_ROLE_CONST : NTG_ROLE_PARAM, rn->loc);
        if (tid == NTG_NONE) return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
        ntg_ir_tensor *t = ntg__ir_tensor(ir, tid);
        t->data = ntg__pool_array(ir->pool, (size_t)ntg__tdesc_numel(&t->desc), sizeof(float));
        if (!t->data) {
            /* the initial values live in memory until the plan is written: a size this
             * machine cannot allocate is a graph (or -D) asking for too much */
            char shape[160], hb[32];
            return loc_err(b->err, NTG_ERR_RANGE, rn->loc,
                           "parameter '%s' %s needs %llu bytes (%s) for its values, more than "
                           "this machine can allocate",
                           pname, ntg__tdesc_str(&t->desc, shape, sizeof shape),
                           (unsigned long long)t->nbytes,
                           ntg__ir_bytes_str(t->nbytes, hb, sizeof hb));
        }
        if (ntg__strmap_put(&b->param, pname, tid))
            return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
        init_param(t, &ps[k], b->seed);
        node = ntg__ir_node(ir, nid);
        node->in[rn->n_in + k] = tid;
    }
    for (int o = 0; o < rn->n_out; o++) {
        ntg_status st = ntg__ir_check_size("tensor", rn->out[o], &out[o], ir->max_batch,
                                           rn->out_loc[o], b->err);
        if (st) return st;
        uint32_t tid =
            ntg__ir_add_tensor(ir, rn->out[o], &out[o], NTG_ROLE_ACTIVATION, rn->out_loc[o]);
        if (tid == NTG_NONE || ntg__strmap_put(&b->tensor, rn->out[o], tid))
            return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
        ntg__ir_tensor(ir, tid)->producer = (int)nid;
        ntg__ir_node(ir, nid)->out[o] = tid;
    }
    return NTG_OK;
}

/* Keep only nodes an output depends on; renumber nodes, drop unused tensors'
 * parameters.  Returns the number of nodes removed. */
static ntg_status eliminate_dead(build_ctx *b, uint32_t *outputs, size_t n_outputs)
{
    ntg_ir *ir = b->ir;
    size_t nn = ir->nodes.len, nt = ir->tensors.len;
    uint8_t *live_node = ntg__pool_array(ir->pool, nn + 1, 1);
    uint8_t *live_t = ntg__pool_array(ir->pool, nt + 1, 1);
    if (!live_node || !live_t) return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n_outputs; i++) live_t[outputs[i]] = 1;
    for (size_t t = 0; t < nt; t++)
        if (ntg__ir_tensor(ir, (uint32_t)t)->role == NTG_ROLE_INPUT) live_t[t] = 1;
    /* nodes are in topological order: one backward sweep finds everything needed */
    for (size_t k = nn; k-- > 0;) {
        ntg_ir_node *n = ntg__ir_node(ir, (uint32_t)k);
        int needed = 0;
        for (int o = 0; o < n->n_out; o++) needed |= live_t[n->out[o]];
        if (!needed) continue;
        live_node[k] = 1;
        for (int o = 0; o < n->n_out; o++) live_t[n->out[o]] = 1;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] != NTG_NONE) live_t[n->in[i]] = 1;
    }
    /* compact tensors, then nodes, remapping ids */
    uint32_t *tmap = ntg__pool_array(ir->pool, nt + 1, sizeof *tmap);
    uint32_t *nmap = ntg__pool_array(ir->pool, nn + 1, sizeof *nmap);
    if (!tmap || !nmap) return ntg__fail(b->err, NTG_ERR_NOMEM, "out of memory");
    size_t kt = 0;
    for (size_t t = 0; t < nt; t++) {
        if (!live_t[t]) {
            tmap[t] = NTG_NONE;
            continue;
        }
        tmap[t] = (uint32_t)kt;
        if (kt != t)
            memcpy(ntg__vec_at(&ir->tensors, kt), ntg__vec_at(&ir->tensors, t),
                   sizeof(ntg_ir_tensor));
        kt++;
    }
    ir->tensors.len = kt;
    /* outputs are live: give the caller their new ids */
    for (size_t i = 0; i < n_outputs; i++) outputs[i] = tmap[outputs[i]];
    size_t kn = 0;
    for (size_t k = 0; k < nn; k++) {
        if (!live_node[k]) {
            nmap[k] = NTG_NONE;
            continue;
        }
        nmap[k] = (uint32_t)kn;
        if (kn != k)
            memcpy(ntg__vec_at(&ir->nodes, kn), ntg__vec_at(&ir->nodes, k), sizeof(ntg_ir_node));
        kn++;
    }
    ir->nodes.len = kn;
    for (size_t k = 0; k < kn; k++) {
        ntg_ir_node *n = ntg__ir_node(ir, (uint32_t)k);
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] != NTG_NONE) n->in[i] = tmap[n->in[i]];
        for (int o = 0; o < n->n_out; o++) n->out[o] = tmap[n->out[o]];
    }
    for (size_t t = 0; t < kt; t++) {
        ntg_ir_tensor *tt = ntg__ir_tensor(ir, (uint32_t)t);
        if (tt->producer >= 0) tt->producer = (int)nmap[tt->producer];
        if (tt->link != NTG_NONE) tt->link = tmap[tt->link];
    }
    return NTG_OK;
}

ntg_status ntg__ir_build(ntg_ir *ir, const ntg_rgraph *g, int max_batch, uint64_t seed,
                         ntg_error *err)
{
    build_ctx b;
    memset(&b, 0, sizeof b);
    b.ir = ir;
    b.g = g;
    b.seed = seed;
    b.err = err;
    ntg__strmap_init(&b.producer);
    ntg__strmap_init(&b.tensor);
    ntg__strmap_init(&b.param);
    ir->max_batch = max_batch;
    ntg_status st = NTG_OK;
    uint32_t *order = NULL, *outs = NULL;

    if (g->n_outputs == 0) {
        st = ntg__err(err, NTG_ERR_GRAPH, g->file, 1, 1, "the graph declares no outputs");
        goto done;
    }
    if ((st = check_names(&b))) goto done;
    order = ntg__pool_array(ir->pool, g->n_nodes + 1, sizeof *order);
    outs = ntg__pool_array(ir->pool, g->n_outputs + 1, sizeof *outs);
    if (!order || !outs) {
        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = topo_order(&b, order))) goto done;

    for (size_t i = 0; i < g->n_inputs; i++) {
        ntg_tdesc d = g->inputs[i].desc;
        if (d.batched) d.dims[0] = max_batch;
        if ((st = ntg__ir_check_size("input", g->inputs[i].name, &d, max_batch, g->inputs[i].loc,
                                     err)))
            goto done;
        uint32_t id =
            ntg__ir_add_tensor(ir, g->inputs[i].name, &d, NTG_ROLE_INPUT, g->inputs[i].loc);
        if (id == NTG_NONE || ntg__strmap_put(&b.tensor, g->inputs[i].name, id)) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    for (size_t k = 0; k < g->n_nodes; k++)
        if ((st = lower_node(&b, &g->nodes[order[k]]))) goto done;

    for (size_t o = 0; o < g->n_outputs; o++) {
        const ntg_rio *ro = &g->outputs[o];
        unsigned id;
        if (!ntg__strmap_get(&b.tensor, ro->name, &id)) {
            const char *near = nearest_name(g, ro->name);
            st = near ? loc_err(err, NTG_ERR_GRAPH, ro->loc,
                                "output '%s' is not computed by any node; did you mean '%s'?",
                                ro->name, near)
                      : loc_err(err, NTG_ERR_GRAPH, ro->loc,
                                "output '%s' is not computed by any node", ro->name);
            goto done;
        }
        ntg_ir_tensor *t = ntg__ir_tensor(ir, id);
        if (t->role == NTG_ROLE_INPUT) {
            st = loc_err(err, NTG_ERR_GRAPH, ro->loc, "output '%s' is a graph input", ro->name);
            goto done;
        }
        if (t->role == NTG_ROLE_OUTPUT) {
            st = loc_err(err, NTG_ERR_GRAPH, ro->loc, "output '%s' is listed twice", ro->name);
            goto done;
        }
        if (ro->has_shape) {
            ntg_tdesc want = ro->desc;
            if (want.batched) want.dims[0] = max_batch;
            want.dtype = t->desc.dtype;
            if (!ntg__tdesc_equal(&want, &t->desc)) {
                char a[96], c[96];
                st = loc_err(err, NTG_ERR_SHAPE, ro->loc, "output '%s' is %s, declared %s",
                             ro->name, ntg__tdesc_str(&t->desc, a, sizeof a),
                             ntg__tdesc_str(&ro->desc, c, sizeof c));
                goto done;
            }
        }
        t->role = NTG_ROLE_OUTPUT;
        outs[o] = id;
    }
    if ((st = eliminate_dead(&b, outs, g->n_outputs))) goto done;

    /* the infer program: every remaining node, inputs and outputs as declared */
    ntg_ir_program *p = &ir->programs[0];
    p->name = "infer";
    ir->n_programs = 1;
    for (size_t k = 0; k < ir->nodes.len; k++)
        if (ntg__ir_push_u32(&p->nodes, (uint32_t)k)) goto nomem;
    for (size_t t = 0; t < ir->tensors.len; t++) {
        ntg_ir_tensor *tt = ntg__ir_tensor(ir, (uint32_t)t);
        if (tt->role == NTG_ROLE_INPUT && ntg__ir_push_u32(&p->inputs, (uint32_t)t)) goto nomem;
    }
    /* outputs in declaration order (DCE renumbered outs[]; a name search per output
     * was outputs x tensors string compares) */
    for (size_t o = 0; o < g->n_outputs; o++)
        if (ntg__ir_push_u32(&p->outputs, outs[o])) goto nomem;
    goto done;
nomem:
    st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
done:
    ntg__strmap_free(&b.producer);
    ntg__strmap_free(&b.tensor);
    ntg__strmap_free(&b.param);
    return st;
}
