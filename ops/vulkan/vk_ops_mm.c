/* vk_ops_mm.c — Vulkan emitters of the matrix ops: dense, matmul and the LSTM (GEMMs and steps). */
#include <math.h>
#include <string.h>

#include "mm_geom.h"
#include "op_attrs.h"
#include "vk_int.h"

static uint64_t nel_max(const ntg__vk_ctx *e, const ntg__vk_opnd *o)
{
    ntg_tdesc d = o->d;
    if (d.batched) d.dims[0] = e->max_batch;
    return (uint64_t)ntg__tdesc_numel(&d);
}

static ntg__vk_mat mat(const ntg__vk_opnd *o, uint64_t extra, uint64_t ld, int trans)
{
    ntg__vk_mat m = {o, extra, ld, trans};
    return m;
}

static ntg_status zero_wanted(ntg__vk_ctx *e, float v)
{
    for (int i = 0; i < e->n_out; i++)
        if (e->out[i].present && ntg__vk_fill(e, &e->out[i], v)) return e->status;
    return e->status;
}

/* -------------------------------------------------------------------- dense */

ntg_status ntg__vk_fwd_dense(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *x = &e->in[0], *w = &e->in[1], *y = &e->out[0];
    uint64_t units = (uint64_t)w->d.dims[0], in = (uint64_t)w->d.dims[1];
    ntg__vk_gemm_args g;
    memset(&g, 0, sizeof g);
    g.m = ntg__vk_numel(y) / units;
    g.n = units;
    g.k = in;
    g.a = mat(x, 0, in, 0);
    g.b = mat(w, 0, in, 1);
    g.c = mat(y, 0, units, 0);
    g.alpha = 1.0f;
    g.bias = e->n_in > 2 ? &e->in[2] : NULL;
    g.act = (int)ntg__attr_i(e->attr, NTG_DENSE_ACT);
    return ntg__vk_gemm(e, &g);
}

/*
 * in = [x, W, (b), y, dy], out = [dx, dW, (db)].  dZ = dY act'(.) goes to scratch unless the
 * activation is none (dZ is dY): relu, tanh and sigmoid from the saved y; GELU from
 * z = x W^T + b, recomputed into the scratch and turned into dZ in place.  Then
 * dx = dZ W, dW = dZ^T x (independent: no barrier between them) and db = column sums of dZ.
 */
ntg_status ntg__vk_bwd_dense(ntg__vk_ctx *e)
{
    int nfi = e->n_out;
    const ntg__vk_opnd *x = &e->in[0], *w = &e->in[1], *b = nfi > 2 ? &e->in[2] : NULL;
    const ntg__vk_opnd *y = &e->in[nfi], *dy = &e->in[nfi + 1];
    const ntg__vk_opnd *dx = &e->out[0], *dw = &e->out[1], *db = nfi > 2 ? &e->out[2] : NULL;
    int act = (int)ntg__attr_i(e->attr, NTG_DENSE_ACT);
    uint64_t units = (uint64_t)w->d.dims[0], in = (uint64_t)w->d.dims[1];
    uint64_t rows = ntg__vk_numel(y) / units;
    if (!dx->present && !dw->present && !(db && db->present)) return NTG_OK;
    if (!dy->present) return zero_wanted(e, 0.0f);
    const ntg__vk_opnd *dz = dy;
    ntg__vk_opnd s;
    if (act != NTG_ACT_NONE) {
        s = ntg__vk_scratch(e, nel_max(e, y));
        if (act == NTG_ACT_GELU) {
            ntg__vk_gemm_args g;
            memset(&g, 0, sizeof g);
            g.m = rows;
            g.n = units;
            g.k = in;
            g.a = mat(x, 0, in, 0);
            g.b = mat(w, 0, in, 1);
            g.c = mat(&s, 0, units, 0);
            g.alpha = 1.0f;
            g.bias = b && b->present ? b : NULL;
            if (ntg__vk_gemm(e, &g) ||
                ntg__vk_unary(e, 1, UN_GELU, 0, &s, NULL, dy, &s, rows * units))
                return e->status;
        } else {
            uint32_t mode = act == NTG_ACT_RELU   ? UN_RELU
                            : act == NTG_ACT_TANH ? UN_TANH
                                                  : UN_SIGMOID;
            if (ntg__vk_unary(e, 1, mode, 0, NULL, y, dy, &s, rows * units)) return e->status;
        }
        dz = &s;
    }
    ntg__vk_gemm_args g;
    if (dx->present) {
        memset(&g, 0, sizeof g);
        g.m = rows;
        g.n = in;
        g.k = units;
        g.a = mat(dz, 0, units, 0);
        g.b = mat(w, 0, in, 0);
        g.c = mat(dx, 0, in, 0);
        g.alpha = 1.0f;
        if (ntg__vk_gemm(e, &g)) return e->status;
    }
    if (dw->present) {
        memset(&g, 0, sizeof g);
        g.m = units;
        g.n = in;
        g.k = rows;
        g.a = mat(dz, 0, units, 1);
        g.b = mat(x, 0, in, 0);
        g.c = mat(dw, 0, in, 0);
        g.alpha = 1.0f;
        if (ntg__vk_gemm(e, &g)) return e->status;
    }
    if (db && db->present) return ntg__vk_colsum(e, dz, rows, units, units, db, NULL);
    return e->status;
}

/* ------------------------------------------------------------------- matmul */

/* The output's leading axes with each operand's matrix stride on them (0 where broadcast),
 * as ops/ref/k_matmul.c. */
typedef struct mm_geom {
    int ta, tb, lead;
    uint64_t m, n, k, lda, ldb, count;
    int a_full, b_none;
    uint64_t dims[GEMM_MAXQ], sa[GEMM_MAXQ], sb[GEMM_MAXQ], sy[GEMM_MAXQ];
} mm_geom;

/* The shared geometry (ops/mm_geom.h) in the unsigned words the GEMM shader takes, plus the
 * output's own strides. */
static ntg_status mm_geom_of(ntg__vk_ctx *e, const ntg_tdesc *a, const ntg_tdesc *b,
                             const ntg_tdesc *y, mm_geom *g)
{
    memset(g, 0, sizeof *g);
    if (y->rank - 2 > GEMM_MAXQ)
        return ntg__vk_fail(e, NTG_ERR_UNSUPPORTED, "more than 4 batch axes");
    ntg_mm_geom s = ntg__mm_geom_of(e->attr, a, b, y);
    int64_t sy[NTG_MAX_RANK];
    ntg__mm_lead_strides(y, y, sy);
    g->ta = s.ta;
    g->tb = s.tb;
    g->lead = s.lead;
    g->m = (uint64_t)s.m;
    g->n = (uint64_t)s.n;
    g->k = (uint64_t)s.k;
    g->lda = (uint64_t)s.lda;
    g->ldb = (uint64_t)s.ldb;
    g->count = (uint64_t)s.count;
    g->a_full = s.a_full;
    g->b_none = s.b_none;
    for (int i = 0; i < s.lead; i++) {
        g->dims[i] = (uint64_t)s.dims[i];
        g->sa[i] = (uint64_t)s.sa[i];
        g->sb[i] = (uint64_t)s.sb[i];
        g->sy[i] = (uint64_t)sy[i];
    }
    return NTG_OK;
}

ntg_status ntg__vk_fwd_matmul(ntg__vk_ctx *e)
{
    mm_geom mg;
    if (mm_geom_of(e, &e->in[0].d, &e->in[1].d, &e->out[0].d, &mg)) return e->status;
    ntg__vk_gemm_args g;
    memset(&g, 0, sizeof g);
    g.n = mg.n;
    g.k = mg.k;
    g.a = mat(&e->in[0], 0, mg.lda, mg.ta);
    g.b = mat(&e->in[1], 0, mg.ldb, mg.tb);
    g.c = mat(&e->out[0], 0, mg.n, 0);
    g.alpha = 1.0f;
    if (mg.b_none && mg.a_full && !mg.ta) {
        /* [B, L, K] @ one [K, N]: the output matrices are rows of one product */
        g.m = mg.count * mg.m;
        return ntg__vk_gemm(e, &g);
    }
    g.m = mg.m;
    g.qn = mg.lead;
    for (int i = 0; i < mg.lead; i++) {
        g.qdims[i] = mg.dims[i];
        g.qsa[i] = mg.sa[i];
        g.qsb[i] = mg.sb[i];
        g.qsc[i] = mg.sy[i];
    }
    return ntg__vk_gemm(e, &g);
}

/* The gradient's leading axes: output matrices (Q) where the operand has its own matrix,
 * summed (R) where it was broadcast; sg are the gradient's strides, s1 and s2 those of the
 * GEMM's A and B operands. */
static void grad_axes(const mm_geom *mg, const uint64_t *sg, const uint64_t *s1, const uint64_t *s2,
                      ntg__vk_gemm_args *g)
{
    for (int i = 0; i < mg->lead; i++) {
        if (mg->dims[i] > 1 && sg[i] == 0) {
            g->rdims[g->rn] = mg->dims[i];
            g->rsa[g->rn] = s1[i];
            g->rsb[g->rn] = s2[i];
            g->rn++;
        } else {
            g->qdims[g->qn] = mg->dims[i];
            g->qsa[g->qn] = s1[i];
            g->qsb[g->qn] = s2[i];
            g->qsc[g->qn] = sg[i];
            g->qn++;
        }
    }
}

/*
 * in = [a, b, y, dy], out = [da, db].  With op(A) [m, k], op(B) [k, n]: d op(A) = dY op(B)^T,
 * d op(B) = op(A)^T dY; an operand stored transposed gets the transpose.  A broadcast
 * operand's matrices sum their contributions: the GEMM's R axes, in a fixed order.
 */
ntg_status ntg__vk_bwd_matmul(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *a = &e->in[0], *b = &e->in[1], *dy = &e->in[3];
    const ntg__vk_opnd *da = &e->out[0], *db = &e->out[1];
    if (!da->present && !db->present) return NTG_OK;
    if (!dy->present) return zero_wanted(e, 0.0f);
    mm_geom mg;
    if (mm_geom_of(e, &a->d, &b->d, &e->in[2].d, &mg)) return e->status;
    ntg__vk_gemm_args g;
    if (da->present) {
        memset(&g, 0, sizeof g);
        g.alpha = 1.0f;
        g.k = mg.n;
        if (!mg.ta) {
            g.m = mg.m;
            g.n = mg.k;
            g.a = mat(dy, 0, mg.n, 0);
            g.b = mat(b, 0, mg.ldb, !mg.tb);
            g.c = mat(da, 0, mg.k, 0);
        } else {
            g.m = mg.k;
            g.n = mg.m;
            g.a = mat(b, 0, mg.ldb, mg.tb);
            g.b = mat(dy, 0, mg.n, 1);
            g.c = mat(da, 0, mg.m, 0);
        }
        if (mg.b_none && mg.a_full && !mg.ta) {
            g.m = mg.count * mg.m; /* rows of one product, as the forward */
        } else if (!mg.ta) {
            grad_axes(&mg, mg.sa, mg.sy, mg.sb, &g);
        } else {
            grad_axes(&mg, mg.sa, mg.sb, mg.sy, &g);
        }
        if (ntg__vk_gemm(e, &g)) return e->status;
    }
    if (db->present) {
        /* one shared b: the rows of every output matrix are one K (the reference's order) */
        int one = mg.b_none && mg.a_full && !mg.ta;
        memset(&g, 0, sizeof g);
        g.alpha = 1.0f;
        g.k = one ? mg.count * mg.m : mg.m;
        if (!mg.tb) {
            g.m = mg.k;
            g.n = mg.n;
            g.a = mat(a, 0, mg.lda, !mg.ta);
            g.b = mat(dy, 0, mg.n, 0);
            g.c = mat(db, 0, mg.n, 0);
            if (!one) grad_axes(&mg, mg.sb, mg.sa, mg.sy, &g);
        } else {
            g.m = mg.n;
            g.n = mg.k;
            g.a = mat(dy, 0, mg.n, 1);
            g.b = mat(a, 0, mg.lda, mg.ta);
            g.c = mat(db, 0, mg.k, 0);
            if (!one) grad_axes(&mg, mg.sb, mg.sy, mg.sa, &g);
        }
        if (ntg__vk_gemm(e, &g)) return e->status;
    }
    return e->status;
}

/* --------------------------------------------------------------------- lstm */

/*
 * in = [x, (W_ih, W_hh, b_ih, b_hh) per layer], out = [y, (ws)].  Per layer: one GEMM for the
 * input projection of every step into scratch P [B, T, 4H] (the layer below's h sequence is in
 * y, read whole before this layer's steps overwrite it), then one lstm_step_fwd dispatch per
 * step (each reads row t - 1 of y: a barrier between steps).
 */
ntg_status ntg__vk_fwd_lstm(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *x = &e->in[0], *y = &e->out[0];
    const ntg__vk_opnd *ws = e->n_out > 1 && e->out[1].present ? &e->out[1] : NULL;
    uint64_t nb = (uint64_t)x->d.dims[0], nt = (uint64_t)x->d.dims[1], nin = (uint64_t)x->d.dims[2];
    uint64_t h = (uint64_t)ntg__attr_i(e->attr, NTG_LSTM_HIDDEN);
    uint64_t layers = (uint64_t)ntg__attr_i(e->attr, NTG_LSTM_LAYERS);
    uint64_t bmax = (uint64_t)e->max_batch;
    ntg__vk_opnd p = ntg__vk_scratch(e, bmax * nt * 4 * h), cell = ntg__vk_scratch(e, bmax * h);
    for (uint64_t k = 0; k < layers; k++) {
        const ntg__vk_opnd *wih = &e->in[1 + 4 * k], *whh = &e->in[2 + 4 * k];
        const ntg__vk_opnd *bih = &e->in[3 + 4 * k], *bhh = &e->in[4 + 4 * k];
        uint64_t in = k == 0 ? nin : h;
        ntg__vk_gemm_args g;
        memset(&g, 0, sizeof g);
        g.m = nb * nt;
        g.n = 4 * h;
        g.k = in;
        g.a = mat(k == 0 ? x : y, 0, in, 0);
        g.b = mat(wih, 0, in, 1);
        g.c = mat(&p, 0, 4 * h, 0);
        g.alpha = 1.0f;
        if (ntg__vk_gemm(e, &g)) return e->status;
        for (uint64_t t = 0; t < nt; t++) {
            uint32_t *w = ntg__vk_dispatch(e, NTG_VK_PIPE_lstm_step_fwd, LF_WORDS,
                                           ntg__vk_groups1d(nb * h), 1, 1);
            if (!w) return e->status;
            ntg__vk_ref(e, w + LF_P, &p, 0);
            ntg__vk_ref(e, w + LF_WHH, whh, 0);
            ntg__vk_ref(e, w + LF_BIH, bih, 0);
            ntg__vk_ref(e, w + LF_BHH, bhh, 0);
            ntg__vk_ref(e, w + LF_Y, y, 0);
            ntg__vk_ref(e, w + LF_CELL, &cell, 0);
            w[LF_B] = (uint32_t)nb;
            w[LF_T] = (uint32_t)nt;
            w[LF_H] = (uint32_t)h;
            w[LF_STEP] = (uint32_t)t;
            w[LF_LAYER] = (uint32_t)k;
            w[LF_L] = (uint32_t)layers;
            ntg__vk_read(e, &p);
            ntg__vk_read(e, whh);
            ntg__vk_read(e, bih);
            ntg__vk_read(e, bhh);
            ntg__vk_read(e, &cell);
            ntg__vk_read(e, y);
            ntg__vk_write(e, y);
            ntg__vk_write(e, &cell);
            if (ws) {
                ntg__vk_ref(e, w + LF_WS, ws, 0);
                w[LF_HAS_WS] = 1;
                ntg__vk_write(e, ws);
            }
        }
    }
    return e->status;
}

/*
 * in = [x, params..., y, ws, dy, dws], out = [dx, (dW_ih, dW_hh, db_ih, db_hh) per layer];
 * reads x, the weights and ws (lstm_saves).  Layers from the top, as ops/ref/k_lstm.c: the
 * steps' dgates D [B, T, 4H] (scratch) from the top step down, one lstm_step_bwd dispatch per
 * step; then dW_hh = sum_b D_b[1:T]^T h_b[0:T-1] and dW_ih = sum_b D_b^T in_b (GEMMs summing
 * over the batch, reading h straight from the workspace), db_ih = db_hh = column sums of D,
 * and D W_ih, the gradient arriving at the layer below (scratch S) or at x.
 */
ntg_status ntg__vk_bwd_lstm(ntg__vk_ctx *e)
{
    int nfi = e->n_out, nfo = (e->n_in - e->n_out) / 2;
    const ntg__vk_opnd *x = &e->in[0];
    const ntg__vk_opnd *ws = nfo > 1 ? &e->in[nfi + 1] : NULL, *dy = &e->in[nfi + nfo];
    const ntg__vk_opnd *dx = &e->out[0];
    int64_t nb = x->d.dims[0], nt = x->d.dims[1], nin = x->d.dims[2];
    int64_t h = ntg__attr_i(e->attr, NTG_LSTM_HIDDEN),
            layers = ntg__attr_i(e->attr, NTG_LSTM_LAYERS);
    int64_t g4 = 4 * h, bmax = e->max_batch;

    int64_t lowest = dx->present ? 0 : layers;
    for (int64_t k = 0; k < lowest; k++)
        for (int j = 0; j < 4; j++)
            if (e->out[1 + 4 * k + j].present) lowest = k;
    if (lowest == layers) return NTG_OK;
    if (!dy->present) return zero_wanted(e, 0.0f);
    /* weights past the saved-operand mask's 16 input bits arrive without data: NaN, as the
     * reference says it */
    int missing = !ws || !ws->present || !ws->has_value || !x->has_value;
    for (int64_t k = lowest; k < layers; k++)
        missing |= !e->in[1 + 4 * k].has_value || !e->in[2 + 4 * k].has_value;
    if (missing) return zero_wanted(e, NAN);

    ntg__vk_opnd carry = ntg__vk_scratch(e, (uint64_t)(bmax * h));
    ntg__vk_opnd d = ntg__vk_scratch(e, (uint64_t)(bmax * nt * g4));
    ntg__vk_opnd s = ntg__vk_scratch(e, (uint64_t)(bmax * nt * h));
    uint64_t rows = (uint64_t)(nb * nt);
    for (int64_t k = layers - 1; k >= lowest; k--) {
        const ntg__vk_opnd *wih = &e->in[1 + 4 * k], *whh = &e->in[2 + 4 * k];
        const ntg__vk_opnd *dwih = &e->out[1 + 4 * k], *dwhh = &e->out[2 + 4 * k];
        const ntg__vk_opnd *dbih = &e->out[3 + 4 * k], *dbhh = &e->out[4 + 4 * k];
        const ntg__vk_opnd *dhin = k == layers - 1 ? dy : &s;
        int64_t in = k == 0 ? nin : h;
        for (int64_t t = nt - 1; t >= 0; t--) {
            uint32_t *w = ntg__vk_dispatch(e, NTG_VK_PIPE_lstm_step_bwd, LB_WORDS,
                                           ntg__vk_groups1d((uint64_t)(nb * h)), 1, 1);
            if (!w) return e->status;
            ntg__vk_ref(e, w + LB_WS, ws, 0);
            ntg__vk_ref(e, w + LB_WHH, whh, 0);
            ntg__vk_ref(e, w + LB_DHIN, dhin, 0);
            ntg__vk_ref(e, w + LB_D, &d, 0);
            ntg__vk_ref(e, w + LB_CARRY, &carry, 0);
            w[LB_B] = (uint32_t)nb;
            w[LB_T] = (uint32_t)nt;
            w[LB_H] = (uint32_t)h;
            w[LB_STEP] = (uint32_t)t;
            w[LB_LAYER] = (uint32_t)k;
            w[LB_L] = (uint32_t)layers;
            ntg__vk_read(e, ws);
            ntg__vk_read(e, whh);
            ntg__vk_read(e, dhin);
            ntg__vk_read(e, &d);
            ntg__vk_read(e, &carry);
            ntg__vk_write(e, &d);
            ntg__vk_write(e, &carry);
        }
        ntg__vk_gemm_args g;
        /* the workspace's h of layer k: row (b, t) at ((b L + k) T + t) 6H + 5H */
        uint64_t ws_row = (uint64_t)(NTG_LSTM_WS_PER_STEP * h),
                 ws_b = (uint64_t)layers * nt * ws_row;
        if (dwhh->present) {
            memset(&g, 0, sizeof g);
            g.m = (uint64_t)g4;
            g.n = (uint64_t)h;
            g.k = (uint64_t)(nt - 1);
            g.a = mat(&d, (uint64_t)g4, (uint64_t)g4, 1);
            g.b = mat(ws, (uint64_t)(k * nt) * ws_row + 5 * (uint64_t)h, ws_row, 0);
            g.c = mat(dwhh, 0, (uint64_t)h, 0);
            g.alpha = 1.0f;
            g.rn = 1;
            g.rdims[0] = (uint64_t)nb;
            g.rsa[0] = (uint64_t)(nt * g4);
            g.rsb[0] = ws_b;
            if (ntg__vk_gemm(e, &g)) return e->status;
        }
        if (dwih->present) {
            memset(&g, 0, sizeof g);
            g.m = (uint64_t)g4;
            g.n = (uint64_t)in;
            g.k = (uint64_t)nt;
            g.a = mat(&d, 0, (uint64_t)g4, 1);
            if (k == 0)
                g.b = mat(x, 0, (uint64_t)nin, 0);
            else
                g.b = mat(ws, (uint64_t)((k - 1) * nt) * ws_row + 5 * (uint64_t)h, ws_row, 0);
            g.c = mat(dwih, 0, (uint64_t)in, 0);
            g.alpha = 1.0f;
            g.rn = 1;
            g.rdims[0] = (uint64_t)nb;
            g.rsa[0] = (uint64_t)(nt * g4);
            g.rsb[0] = k == 0 ? (uint64_t)(nt * nin) : ws_b;
            if (ntg__vk_gemm(e, &g)) return e->status;
        }
        if (dbih->present || dbhh->present) {
            const ntg__vk_opnd *first = dbih->present ? dbih : dbhh;
            const ntg__vk_opnd *second = dbih->present && dbhh->present ? dbhh : NULL;
            if (ntg__vk_colsum(e, &d, rows, (uint64_t)g4, (uint64_t)g4, first, second))
                return e->status;
        }
        if (k > lowest || (k == 0 && dx->present)) {
            memset(&g, 0, sizeof g);
            g.m = rows;
            g.n = (uint64_t)in;
            g.k = (uint64_t)g4;
            g.a = mat(&d, 0, (uint64_t)g4, 0);
            g.b = mat(wih, 0, (uint64_t)in, 0);
            g.c = mat(k > lowest ? &s : dx, 0, (uint64_t)in, 0);
            g.alpha = 1.0f;
            if (ntg__vk_gemm(e, &g)) return e->status;
        }
    }
    return e->status;
}

/* --------------------------------------------------------------- the tables */

/* A differentiable op without ntg__vk_bwd_<name> fails to link, as on the CPU. */
const ntg__vk_emit_fn ntg__vk_emit_fwd[NTG_OP_COUNT] = {
#define NTG_OP(name, ni0, ni1, no0, no1) [NTG_OP_##name] = ntg__vk_fwd_##name,
#include "ops.def"
#undef NTG_OP
};

const ntg__vk_emit_fn ntg__vk_emit_bwd[NTG_OP_COUNT] = {
#define NTG_OP(name, ni0, ni1, no0, no1) [NTG_OP_##name] = ntg__vk_bwd_##name,
#define NTG_OP_NODIFF(name, ni0, ni1, no0, no1) [NTG_OP_##name] = NULL,
#include "ops.def"
#undef NTG_OP
#undef NTG_OP_NODIFF
};
