/* xnn_dense.c — dense and matmul, forward and backward, on XNNPACK fully connected and xgemm. */
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "ntg_error.h"
#include "mm_geom.h"
#include "op_attrs.h"
#include "xnn_int.h"

/*
 * dense forward: y = act(x W^T + b).  Three implementations:
 *  - "xnnpack-fc": XNNPACK's fully connected operator, weights packed at creation (read-only
 *    weights only), relu fused as its output clamp;
 *  - "xgemm-packed": ntg__xgemm on W packed once at prepare (read-only weights only), bias and
 *    relu fused in the GEMM's epilogue;
 *  - "xgemm": ntg__xgemm on the raw W (trainable sessions: weights change every step).
 * GELU, tanh and sigmoid run after the GEMM over the output rows, in parallel.
 */

enum { I_ROWS_UNITS, I_IN, I_ACT };

static int64_t dense_rows(const xnn_op *o, const ntg_view *y, int64_t units)
{
    (void)o;
    return units > 0 ? ntg__xnn_numel(y) / units : 0;
}

typedef struct act_ctx {
    const ntg_simd_vk *vk;
    int act;
    const float *z; /* the pre-activations: y itself, or the kept copy */
    float *y;
    int64_t rows, cols;
    size_t chunks;
} act_ctx;

static void act_task(void *p, size_t i)
{
    const act_ctx *c = p;
    int64_t r0 = c->rows * (int64_t)i / (int64_t)c->chunks;
    int64_t r1 = c->rows * (int64_t)(i + 1) / (int64_t)c->chunks;
    const float *z = c->z + r0 * c->cols;
    float *y = c->y + r0 * c->cols;
    size_t n = (size_t)((r1 - r0) * c->cols);
    if (c->act == NTG_ACT_GELU)
        c->vk->gelu(z, y, n);
    else if (c->act == NTG_ACT_TANH)
        c->vk->tanh(z, y, n);
    else if (c->act == NTG_ACT_SIGMOID)
        c->vk->sigmoid(z, y, n);
}

/* The activations the GEMM epilogue does not fuse: y = act(z) (z may be y). */
static void apply_act(ntg_backend *b, int act, const float *z, float *y, int64_t rows, int64_t cols)
{
    if (act == NTG_ACT_NONE || act == NTG_ACT_RELU || rows <= 0) return;
    double n = (double)(rows * cols);
    int nthr = ntg__xnn_threads_for(b, 20.0 * n, 8.0 * n);
    act_ctx c = {b->vk, act, z, y, rows, cols, (size_t)nthr};
    ntg__xnn_parallel(b, nthr, act_task, &c, (size_t)nthr);
}

static void dense_gemm_args(const xnn_op *o, ntg_xgemm_args *g, int64_t rows)
{
    int64_t units = o->in[1].d.dims[0], in = o->in[1].d.dims[1];
    memset(g, 0, sizeof *g);
    g->trans_b = 1;
    g->m = rows;
    g->n = units;
    g->k = in;
    g->a = o->in[0].data;
    g->lda = in;
    g->b = o->in[1].data;
    g->ldb = in;
    g->packed_b = o->own;
    g->bias = o->n_in > 2 ? o->in[2].data : NULL;
    g->relu = ntg__attr_i(o->attr, NTG_DENSE_ACT) == NTG_ACT_RELU;
    g->c = o->out[0].data;
    g->ldc = units;
}

static void run_dense_xgemm(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    ntg_xgemm_args g;
    int64_t units = o->in[1].d.dims[0];
    dense_gemm_args(o, &g, dense_rows(o, &o->out[0], units));
    int act = (int)ntg__attr_i(o->attr, NTG_DENSE_ACT);
    if (o->zsave) {
        g.c = o->zsave; /* the backward reads them */
    } else if (!(b->policy & (XNN_POL_NO_FUSION | XNN_POL_NO_EPI_ACT))) {
        /* the activation in the GEMM's epilogue, on rows still in L1 (xgemm.h, post) */
        g.post = act == NTG_ACT_GELU      ? b->vk->gelu
                 : act == NTG_ACT_TANH    ? b->vk->tanh
                 : act == NTG_ACT_SIGMOID ? b->vk->sigmoid
                                          : NULL;
        if (g.post) act = NTG_ACT_NONE;
    }
    ntg__xnn_gemm(b, &g);
    apply_act(b, act, g.c, o->out[0].data, g.m, units);
}

#ifdef NTG_HAVE_XNNPACK
/* XNNPACK's fully connected split by rows over the instance's pool: task i runs its own copy
 * of the operator (o->xop, then o->xclone[i - 1]; the same packed weights, made at prepare)
 * on rows [i*rows/T, (i+1)*rows/T) with no pthreadpool.  Every row is computed alone, so the
 * result does not depend on the split. */
typedef struct fc_ctx {
    xnn_op *o;
} fc_ctx;

static void fc_task(void *ctx, size_t i)
{
    xnn_op *o = ((fc_ctx *)ctx)->o;
    xnn_run_operator(i == 0 ? o->xop : o->xclone[i - 1], NULL);
}

static void run_dense_fc(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    int64_t units = o->in[1].d.dims[0], in = o->in[1].d.dims[1];
    int64_t rows = dense_rows(o, &o->out[0], units);
    int nthr = b->policy & XNN_POL_PAR_ALWAYS ? b->threads
                                              : ntg__xgemm_threads(rows, units, in, b->threads);
    if (nthr > o->n_xclone + 1) nthr = o->n_xclone + 1;
    if (nthr > rows) nthr = rows < 1 ? 1 : (int)rows;
    size_t key = (size_t)rows * 2048 + (size_t)nthr;
    if (key != o->xop_key) {
        /* setup only computes strides and tiles (no allocation); redone when the batch or
         * the split changes */
        for (int t = 0; t < nthr; t++) {
            int64_t r0 = rows * t / nthr, r1 = rows * (t + 1) / nthr;
            xnn_setup_fully_connected_nc_f32(t == 0 ? o->xop : o->xclone[t - 1], (size_t)(r1 - r0),
                                             (const float *)o->in[0].data + r0 * in,
                                             (float *)o->out[0].data + r0 * units, NULL);
        }
        o->xop_key = key;
    }
    fc_ctx c = {o};
    ntg__xnn_parallel(b, nthr, fc_task, &c, (size_t)nthr);
    apply_act(b, (int)ntg__attr_i(o->attr, NTG_DENSE_ACT), o->out[0].data, o->out[0].data, rows,
              units);
}

/*
 * Inference dense on read-only weights: XNNPACK's fully connected and xgemm on packed
 * weights, measured on the shipped graphs' shapes (docs/benchmarks.md has the table): equal
 * at a few hundred rows (~115 GFLOP/s on one core), xgemm ahead on a few rows (batch 1:
 * 1.5x, its panels stream the weights faster), XNNPACK ahead on tall products with a
 * narrow input (the transformer's 24576 x 64 x 192 at batch 256: 1.25x).  Both are prepared
 * for such layers and each run takes the one for its row count.
 */
enum { FC_MIN_ROWS = 1024, FC_MAX_IN = 128 };

static int fc_for(const ntg_backend *b, const xnn_op *o, int64_t rows, int64_t in)
{
    if (b->policy & XNN_POL_FC_XNNPACK) return 1;
    if (b->policy & XNN_POL_FC_XGEMM) return 0;
    /* a GELU (tanh, sigmoid) layer: our GEMM applies it in its epilogue while the rows are in
     * L1, where XNNPACK needs a second pass over the whole output (the transformer's linear1
     * at batch 256, 24576 x 64 -> 256: 53.6 ms against 66-69 ms per run, docs/cpu-backend.md) */
    int act = (int)ntg__attr_i(o->attr, NTG_DENSE_ACT);
    if (act != NTG_ACT_NONE && act != NTG_ACT_RELU &&
        !(b->policy & (XNN_POL_NO_FUSION | XNN_POL_NO_EPI_ACT)))
        return 0;
    return rows >= FC_MIN_ROWS && in <= FC_MAX_IN;
}
#endif

static void run_dense_packed(ntg_backend *b, xnn_op *o, int batch)
{
#ifdef NTG_HAVE_XNNPACK
    int64_t units = o->in[1].d.dims[0], in = o->in[1].d.dims[1];
    if (o->xop && fc_for(b, o, dense_rows(o, &o->out[0], units), in)) {
        run_dense_fc(b, o, batch);
        return;
    }
#endif
    run_dense_xgemm(b, o, batch);
}

typedef struct dense_pack_ctx {
    int isa;
    int64_t units, in;
    const float *w;
} dense_pack_ctx;

static ntg_status dense_pack(void *ctx, void *mem, ntg_error *err)
{
    (void)err;
    const dense_pack_ctx *c = ctx;
    ntg__xgemm_pack_b(c->isa, 1, c->units, c->in, c->w, c->in, mem);
    return NTG_OK;
}

ntg_status ntg__xnn_prep_dense(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    int64_t units = o->in[1].d.dims[0], in = o->in[1].d.dims[1];
    int64_t rows = dense_rows(o, &o->out[0], units);
    int act = (int)ntg__attr_i(o->attr, NTG_DENSE_ACT);
    int has_bias = o->n_in > 2;
    uint32_t need = has_bias ? 0x6u : 0x2u;
    int packable = (o->const_in & need) == need && o->in[1].data;
    ntg_xgemm_args g;
#ifdef NTG_HAVE_XNNPACK
    if (packable && !(b->policy & XNN_POL_NO_XNNOPS) && fc_for(b, o, rows, in)) {
        float lo = act == NTG_ACT_RELU ? 0.0f : -INFINITY;
        if (b->threads > 1) {
            o->xclone = calloc((size_t)b->threads - 1, sizeof *o->xclone);
            if (!o->xclone) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            o->n_xclone = b->threads - 1;
        }
        for (int t = 0; t < b->threads; t++) {
            enum xnn_status st = xnn_create_fully_connected_nc_f32(
                (size_t)in, (size_t)units, (size_t)in, (size_t)units, o->in[1].data,
                has_bias ? o->in[2].data : NULL, lo, INFINITY, 0,
                t == 0 ? &o->xop : &o->xclone[t - 1]);
            if (st != xnn_status_success)
                return ntg__fail(err, NTG_ERR_BACKEND,
                                 "xnnpack backend: fully connected %lldx%lld: status %d",
                                 (long long)units, (long long)in, (int)st);
        }
    }
#else
    (void)act;
#endif
    if (packable && !(b->policy & XNN_POL_FC_XNNPACK && o->xop)) {
        dense_pack_ctx pc = {b->isa, units, in, o->in[1].data};
        ntg_status st = ntg__xnn_pack_shared(b, o, "dense", ntg__xgemm_packed_b_bytes(units, in),
                                             dense_pack, &pc, err);
        if (st) return st;
    }
    o->impl = !packable ? "xgemm"
              : !o->xop ? "xgemm-packed"
              : o->own  ? "fc|xgemm-packed"
                        : "xnnpack-fc";
    dense_gemm_args(o, &g, rows);
    o->scratch = ntg__xnn_gemm_scratch(b, &g);
    o->run = packable ? run_dense_packed : run_dense_xgemm;
    return NTG_OK;
}

/* ------------------------------------------------------------ dense backward */

/*
 * in = [x, W, (b), y, dy], out = [dx, dW, (db)].  dZ = dY act'(.) goes to the front of the
 * scratch (rows x units) unless the activation is none; GELU recomputes z = x W^T + b there
 * (fused bias) first.  Then dX = dZ W and dW = dZ^T X through xgemm, db as column sums in
 * double in row order (the reference's order: bitwise its result), columns split across
 * threads.
 */
typedef struct dz_ctx {
    const ntg_simd_vk *vk;
    int act;
    const float *y, *dy, *z; /* z: GELU's pre-activations */
    float *dz;
    int64_t n;
    size_t chunks;
} dz_ctx;

static void dz_task(void *p, size_t i)
{
    const dz_ctx *c = p;
    int64_t e0 = c->n * (int64_t)i / (int64_t)c->chunks,
            e1 = c->n * (int64_t)(i + 1) / (int64_t)c->chunks;
    const float *y = c->y, *dy = c->dy;
    float *dz = c->dz;
    switch (c->act) {
    case NTG_ACT_RELU:
        c->vk->relu_bwd(y + e0, dy + e0, dz + e0, (size_t)(e1 - e0));
        break;
    case NTG_ACT_TANH:
        for (int64_t k = e0; k < e1; k++) dz[k] = dy[k] * (1.0f - y[k] * y[k]);
        break;
    case NTG_ACT_SIGMOID:
        for (int64_t k = e0; k < e1; k++) dz[k] = dy[k] * y[k] * (1.0f - y[k]);
        break;
    default: /* GELU */
        c->vk->gelu_bwd(c->z + e0, dy + e0, dz + e0, (size_t)(e1 - e0));
        break;
    }
}

typedef struct colsum_ctx {
    const ntg_simd_vk *vk;
    const float *z;
    int64_t rows, cols;
    float *d1, *d2;
    size_t chunks;
} colsum_ctx;

enum { COLSUM_CHUNK = 256 };

static void colsum_task(void *p, size_t i)
{
    const colsum_ctx *c = p;
    int64_t j0 = c->cols * (int64_t)i / (int64_t)c->chunks;
    int64_t j1 = c->cols * (int64_t)(i + 1) / (int64_t)c->chunks;
    double acc[COLSUM_CHUNK];
    for (int64_t a = j0; a < j1; a += COLSUM_CHUNK) {
        int64_t nj = j1 - a < COLSUM_CHUNK ? j1 - a : COLSUM_CHUNK;
        c->vk->colsum(c->z + a, (size_t)c->rows, (size_t)c->cols, (size_t)nj, acc);
        for (int64_t j = 0; j < nj; j++) {
            if (c->d1) c->d1[a + j] = (float)acc[j];
            if (c->d2) c->d2[a + j] = (float)acc[j];
        }
    }
}

void ntg__xnn_colsum(ntg_backend *b, const float *z, int64_t rows, int64_t cols, float *d1,
                     float *d2)
{
    if (!d1 && !d2) return;
    /* ~4 floats/ns on one thread (N-HiTS' 256 x 512: 28-33 us with dZ in cache, ~80 us
     * without), not the 6 that 4 bytes a float at XNN_BYTE_PER_NS assume: at 12 bytes a float
     * those columns split over 2 threads instead of running alone between the GEMMs */
    double n = (double)(rows * cols);
    int nthr = ntg__xnn_threads_for(b, n, 12.0 * n);
    if (nthr > cols / 16) nthr = cols / 16 > 1 ? (int)(cols / 16) : 1;
    colsum_ctx c = {b->vk, z, rows, cols, d1, d2, (size_t)nthr};
    ntg__xnn_parallel(b, nthr, colsum_task, &c, (size_t)nthr);
}

static void run_dense_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    int nfi = o->n_out;
    const ntg_view *x = &o->in[0], *w = &o->in[1];
    const float *bias = nfi > 2 ? o->in[2].data : NULL;
    const float *y = o->in[nfi].data, *dy = o->in[nfi + 1].data;
    float *dx = o->out[0].data, *dw = o->out[1].data, *db = nfi > 2 ? o->out[2].data : NULL;
    int act = (int)ntg__attr_i(o->attr, NTG_DENSE_ACT);
    int64_t units = w->d.dims[0], in = w->d.dims[1];
    int64_t rows = dense_rows(o, &o->in[nfi], units), n = rows * units;
    if (!dy) {
        for (int i = 0; i < nfi; i++) ntg__xnn_zero(&o->out[i]);
        return;
    }
    const float *dz = dy;
    /* scratch: [dZ (rows x units, with an activation)] [dW^T (in x units)] [GEMM scratch] */
    float *s = (float *)b->scratch;
    float *tw = act != NTG_ACT_NONE ? s + ((n + 15) & ~(int64_t)15) : s;
    float *gs = tw + ((in * units + 15) & ~(int64_t)15);
    ntg_xgemm_args g;
    if (act != NTG_ACT_NONE) {
        if (act == NTG_ACT_GELU && !o->zsave) {
            memset(&g, 0, sizeof g);
            g.trans_b = 1;
            g.m = rows;
            g.n = units;
            g.k = in;
            g.a = x->data;
            g.lda = in;
            g.b = w->data;
            g.ldb = in;
            g.bias = bias;
            g.c = s;
            g.ldc = units;
            g.isa = b->isa;
            int t = ntg__xgemm_threads(rows, units, in, b->threads);
            if (b->policy & XNN_POL_PAR_ALWAYS) t = b->threads;
            ntg__xgemm(ntg__xnn_pool(b, t), t, &g, gs);
        }
        double fl = (double)n * (act == NTG_ACT_GELU ? 30.0 : 2.0);
        int nthr = ntg__xnn_threads_for(b, fl, 12.0 * (double)n);
        dz_ctx c = {
            b->vk, act, y, dy, o->zsave ? o->zsave : s, s, n, ntg__xnn_chunks(nthr, n, 16384)};
        ntg__xnn_parallel(b, nthr, dz_task, &c, c.chunks);
        dz = s;
    }
    if (dx) {
        memset(&g, 0, sizeof g);
        g.m = rows;
        g.n = in;
        g.k = units;
        g.a = dz;
        g.lda = units;
        g.b = w->data;
        g.ldb = in;
        g.c = dx;
        g.ldc = in;
        g.isa = b->isa;
        int t = b->policy & XNN_POL_PAR_ALWAYS ? b->threads
                                               : ntg__xgemm_threads(rows, in, units, b->threads);
        ntg__xgemm(ntg__xnn_pool(b, t), t, &g, gs);
    }
    if (dw) {
        /* dW = dZ^T X, or (X^T dZ)^T when the input is at most half the output: the GEMM
         * transposes its A operand into row tiles, so A should be the narrow one (worth the
         * final transpose only when it is clearly narrower) */
        int flip = 2 * in <= units;
        memset(&g, 0, sizeof g);
        g.trans_a = 1;
        g.m = flip ? in : units;
        g.n = flip ? units : in;
        g.k = rows;
        g.a = flip ? x->data : dz;
        g.lda = flip ? in : units;
        g.b = flip ? dz : x->data;
        g.ldb = flip ? units : in;
        g.c = flip ? tw : dw;
        g.ldc = g.n;
        g.isa = b->isa;
        int t = b->policy & XNN_POL_PAR_ALWAYS ? b->threads
                                               : ntg__xgemm_threads(g.m, g.n, rows, b->threads);
        ntg__xgemm(ntg__xnn_pool(b, t), t, &g, gs);
        if (flip) ntg__xnn_transpose(b, tw, in, units, dw);
    }
    if (db) ntg__xnn_colsum(b, dz, rows, units, db, NULL);
}

ntg_status ntg__xnn_prep_dense_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)err;
    int nfi = o->n_out;
    int act = (int)ntg__attr_i(o->attr, NTG_DENSE_ACT);
    int64_t units = o->in[1].d.dims[0], in = o->in[1].d.dims[1];
    int64_t rows = dense_rows(o, &o->in[nfi], units);
    /* the GEMMs read x and W; without their values (a plan whose saves differ) use the
     * reference, which handles every case */
    if (!o->in[0].data || !o->in[1].data) return NTG_OK;
    if (act == NTG_ACT_GELU && nfi > 2 && !o->in[2].data) return NTG_OK;
    if (act != NTG_ACT_NONE && act != NTG_ACT_GELU && !o->in[nfi].data) return NTG_OK;
    ntg_xgemm_args g[4];
    memset(g, 0, sizeof g);
    g[0].trans_b = 1;
    g[0].m = rows, g[0].n = units, g[0].k = in;
    g[1].m = rows, g[1].n = in, g[1].k = units;
    g[2].trans_a = 1;
    g[2].m = units, g[2].n = in, g[2].k = rows;
    g[3] = g[2];
    g[3].m = in, g[3].n = units;
    size_t gs = 0;
    for (int i = 0; i < 4; i++) {
        size_t s = ntg__xnn_gemm_scratch(b, &g[i]);
        if (s > gs) gs = s;
    }
    size_t dz =
        act != NTG_ACT_NONE ? (size_t)((rows * units + 15) & ~(int64_t)15) * sizeof(float) : 0;
    size_t tw = (size_t)((in * units + 15) & ~(int64_t)15) * sizeof(float);
    o->scratch = dz + tw + gs;
    o->run = run_dense_bwd;
    o->impl = "xgemm";
    return NTG_OK;
}

/* ------------------------------------------------------------------- matmul */

/* One GEMM of the batch, with everything explicit. */
static void gemm1(int isa, int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a,
                  int64_t lda, const float *bm, int64_t ldb, int acc, float *c, int64_t ldc,
                  void *scratch)
{
    ntg_xgemm_args g;
    memset(&g, 0, sizeof g);
    g.isa = isa;
    g.trans_a = ta;
    g.trans_b = tb;
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = a;
    g.lda = lda;
    g.b = bm;
    g.ldb = ldb;
    g.accumulate = acc;
    g.c = c;
    g.ldc = ldc;
    ntg__xgemm(NULL, 1, &g, scratch);
}

/* Products whose B (rounded up to whole vectors) fits L1 go to the vector kernel that keeps
 * it there unpacked: per-head attention products are 96 x 96 x 16, where a packing GEMM
 * spends more on packing and edges than on FMAs.  A may be transposed (dV = P^T dO, dK = dS^T Q
 * in the backward): the kernel reads it through strides. */
enum { SMALL_B_FLOATS = 12288 };

static int small_ok(int acc, int64_t n, int64_t k)
{
    return !acc && k * ((n + 15) / 16 * 16) <= SMALL_B_FLOATS;
}

/* gemm1, or the small kernel when it qualifies (buf: SMALL_B_FLOATS floats). */
static void gemm_pick(int isa, const ntg_simd_vk *vk, int ta, int tb, int64_t m, int64_t n,
                      int64_t k, const float *a, int64_t lda, const float *bm, int64_t ldb, int acc,
                      float *c, int64_t ldc, void *scratch, float *buf)
{
    if (vk && small_ok(acc, n, k))
        vk->gemm_small(ta, tb, m, n, k, a, lda, bm, ldb, c, ldc, buf);
    else
        gemm1(isa, ta, tb, m, n, k, a, lda, bm, ldb, acc, c, ldc, scratch);
}

/* Per-task scratch of a batch of small single-threaded GEMMs: slots of `slot` bytes. */
typedef struct mm_ctx {
    const ntg_mm_geom *g;
    const float *a, *bm, *dy;
    float *y, *da, *db;
    int64_t count;
    size_t chunks;
    uint8_t *scratch;
    size_t slot;
    int bwd;
    /* fused scale + softmax (fwd): each product goes to a per-task matrix first */
    const ntg_simd_vk *vk;
    float factor;
    size_t tmp;               /* offset of that matrix in the task's slot */
    const ntg_simd_vk *small; /* the small-product kernels, or NULL */
    size_t sbuf;              /* offset of their buffer in the task's slot */
    int isa;                  /* the instance's instruction-set cap, for xgemm */
    /* the whole attention (fwd): the softmax rows, still in the task's matrix, times V */
    const ntg_mm_geom *g2; /* geometry of P.V, or NULL */
    const float *v;
    float *o;
    int64_t o_ld, o_h; /* o_ld > 0: the output inside [B, T, o_ld] (xnn_op.hl) */
} mm_ctx;

/* Head q's [rows, dh] matrix inside a [B, rows, ld] tensor of h heads per row. */
static inline float *head_in(float *base, int64_t q, int64_t h, int64_t rows, int64_t dh,
                             int64_t ld)
{
    return base + (q / h) * rows * ld + (q % h) * dh;
}

static void mm_task(void *p, size_t t)
{
    const mm_ctx *c = p;
    const ntg_mm_geom *g = c->g;
    int64_t p0 = c->count * (int64_t)t / (int64_t)c->chunks;
    int64_t p1 = c->count * (int64_t)(t + 1) / (int64_t)c->chunks;
    void *s = c->scratch + t * c->slot;
    float *sb = (float *)((uint8_t *)s + c->sbuf);
    const ntg_simd_vk *k = c->small;
    for (int64_t q = p0; q < p1; q++) {
        int64_t oa, ob;
        ntg__mm_offsets(g, q, &oa, &ob);
        if (!c->bwd && c->vk) {
            /* the scores stay in this task's matrix; only the softmax is stored */
            float *tm = (float *)((uint8_t *)s + c->tmp);
            float *y = c->y ? c->y + q * g->m * g->n : NULL;
            gemm_pick(c->isa, k, g->ta, g->tb, g->m, g->n, g->k, c->a + oa, g->lda, c->bm + ob,
                      g->ldb, 0, tm, g->n, s, sb);
            if (c->g2) {
                /* P stays here too: soft-maxed in place, then multiplied by this head's V */
                const ntg_mm_geom *h = c->g2;
                int64_t pa, pv;
                ntg__mm_offsets(h, q, &pa, &pv);
                /* where the backward reads P (c->y set), the rows are written there and
                 * read back by P.V while still in cache */
                float *pm = c->y ? y : tm;
                for (int64_t r = 0; r < g->m; r++) {
                    float *tr = tm + r * g->n;
                    for (int64_t j = 0; j < g->n; j++) tr[j] = tr[j] * c->factor;
                    c->vk->softmax_line(tr, pm + r * g->n, (size_t)g->n, 0);
                }
                float *om = c->o + q * h->m * h->n;
                int64_t ldo = h->n;
                if (c->o_ld) om = head_in(c->o, q, c->o_h, h->m, h->n, c->o_ld), ldo = c->o_ld;
                c->vk->gemm_small(0, 0, h->m, h->n, h->k, pm, g->n, c->v + pv, h->ldb, om, ldo, sb);
                continue;
            }
            for (int64_t r = 0; r < g->m; r++) {
                float *tr = tm + r * g->n;
                for (int64_t j = 0; j < g->n; j++) tr[j] = tr[j] * c->factor;
                c->vk->softmax_line(tr, y + r * g->n, (size_t)g->n, 0);
            }
            continue;
        }
        if (!c->bwd) {
            gemm_pick(c->isa, k, g->ta, g->tb, g->m, g->n, g->k, c->a + oa, g->lda, c->bm + ob,
                      g->ldb, 0, c->y + q * g->m * g->n, g->n, s, sb);
            continue;
        }
        const float *dyp = c->dy + q * g->m * g->n;
        if (c->da) {
            if (!g->ta)
                gemm_pick(c->isa, k, 0, !g->tb, g->m, g->k, g->n, dyp, g->n, c->bm + ob, g->ldb, 0,
                          c->da + oa, g->k, s, sb);
            else
                gemm_pick(c->isa, k, g->tb, 1, g->k, g->m, g->n, c->bm + ob, g->ldb, dyp, g->n, 0,
                          c->da + oa, g->m, s, sb);
        }
        if (c->db) {
            if (!g->tb)
                gemm_pick(c->isa, k, !g->ta, 0, g->k, g->n, g->m, c->a + oa, g->lda, dyp, g->n, 0,
                          c->db + ob, g->n, s, sb);
            else
                gemm_pick(c->isa, k, 1, g->ta, g->n, g->k, g->m, dyp, g->n, c->a + oa, g->lda, 0,
                          c->db + ob, g->k, s, sb);
        }
    }
}

static size_t mm_xgemm_part(const ntg_mm_geom *g)
{
    ntg_xgemm_args a[5];
    memset(a, 0, sizeof a);
    a[0].trans_a = g->ta, a[0].trans_b = g->tb, a[0].m = g->m, a[0].n = g->n, a[0].k = g->k;
    a[1].trans_b = !g->tb, a[1].m = g->m, a[1].n = g->k, a[1].k = g->n;
    a[2].trans_a = g->tb, a[2].trans_b = 1, a[2].m = g->k, a[2].n = g->m, a[2].k = g->n;
    a[3].trans_a = !g->ta, a[3].m = g->k, a[3].n = g->n, a[3].k = g->m;
    a[4].trans_a = 1, a[4].trans_b = g->ta, a[4].m = g->n, a[4].n = g->k, a[4].k = g->m;
    size_t most = 0;
    for (int i = 0; i < 5; i++) {
        size_t s = ntg__xgemm_scratch_bytes(&a[i], 1);
        if (s > most) most = s;
    }
    return (most + 63) & ~(size_t)63;
}

/* A task's slot: the xgemm scratch (mm_sbuf_off bytes), then the small kernel's buffer. */
static size_t mm_sbuf_off(const ntg_mm_geom *g)
{
    return mm_xgemm_part(g);
}

static size_t mm_slot(const ntg_mm_geom *g)
{
    return mm_xgemm_part(g) + SMALL_B_FLOATS * sizeof(float);
}

static void run_matmul(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    ntg_mm_geom g = ntg__mm_geom_of(o->attr, &o->in[0].d, &o->in[1].d, &o->out[0].d);
    const float *a = o->in[0].data, *bm = o->in[1].data;
    float *y = o->out[0].data;
    if (ntg__mm_one_gemm(&g)) {
        ntg_xgemm_args x;
        memset(&x, 0, sizeof x);
        x.trans_b = g.tb;
        x.m = g.count * g.m;
        x.n = g.n;
        x.k = g.k;
        x.a = a;
        x.lda = g.lda;
        x.b = bm;
        x.ldb = g.ldb;
        x.c = y;
        x.ldc = g.n;
        ntg__xnn_gemm(b, &x);
        return;
    }
    double fl = 2.0 * (double)(g.count * g.m * g.n * g.k);
    int nthr = ntg__xnn_threads_for(b, fl, 0);
    if (nthr > g.count) nthr = (int)g.count;
    mm_ctx c = {&g,
                a,
                bm,
                NULL,
                y,
                NULL,
                NULL,
                g.count,
                (size_t)nthr,
                b->scratch,
                (size_t)o->i[0],
                0,
                NULL,
                0.0f,
                0,
                NULL,
                0,
                b->isa,
                NULL,
                NULL,
                NULL,
                0,
                0};
    c.small = b->vk;
    c.sbuf = mm_sbuf_off(&g);
    ntg__xnn_parallel(b, nthr, mm_task, &c, (size_t)nthr);
}

/* The geometry at batch 1, where a broadcast over the batch axis disappears (and with it,
 * maybe, the reason not to run one GEMM). */
static ntg_mm_geom mm_geom_batch1(const xnn_op *o, const ntg_tdesc *a, const ntg_tdesc *b,
                                  const ntg_tdesc *y)
{
    ntg_tdesc d[3] = {*a, *b, *y};
    for (int i = 0; i < 3; i++)
        if (d[i].batched) d[i].dims[0] = 1;
    return ntg__mm_geom_of(o->attr, &d[0], &d[1], &d[2]);
}

static size_t mm_fwd_scratch(const ntg_backend *b, const ntg_mm_geom *g)
{
    if (!ntg__mm_one_gemm(g)) return mm_slot(g) * (size_t)b->threads;
    ntg_xgemm_args x;
    memset(&x, 0, sizeof x);
    x.trans_b = g->tb;
    x.m = g->count * g->m;
    x.n = g->n;
    x.k = g->k;
    return ntg__xnn_gemm_scratch(b, &x);
}

ntg_status ntg__xnn_prep_matmul(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)err;
    ntg_mm_geom g = ntg__mm_geom_of(o->attr, &o->in[0].d, &o->in[1].d, &o->out[0].d);
    ntg_mm_geom g1 = mm_geom_batch1(o, &o->in[0].d, &o->in[1].d, &o->out[0].d);
    o->i[0] = (int64_t)mm_slot(&g);
    size_t s = mm_fwd_scratch(b, &g), s1 = mm_fwd_scratch(b, &g1);
    o->scratch = s > s1 ? s : s1;
    o->run = run_matmul;
    o->impl = "xgemm";
    return NTG_OK;
}

/* matmul -> scale -> softmax (last axis), fused by xnn_fuse.c: every product matrix is
 * computed into the task's scratch, scaled (float, as the scale op) and soft-maxed row by
 * row into the softmax's output, so neither the products nor the scaled scores are stored. */
static void run_mm_softmax(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    ntg_mm_geom g = ntg__mm_geom_of(o->attr, &o->in[0].d, &o->in[1].d, &o->out[0].d);
    double fl = 2.0 * (double)(g.count * g.m * g.n * g.k) + 30.0 * (double)(g.count * g.m * g.n);
    int nthr = ntg__xnn_threads_for(b, fl, 0);
    if (nthr > g.count) nthr = (int)g.count;
    mm_ctx c = {&g,
                o->in[0].data,
                o->in[1].data,
                NULL,
                o->fuse_out,
                NULL,
                NULL,
                g.count,
                (size_t)nthr,
                b->scratch,
                (size_t)o->i[0],
                0,
                b->vk,
                (float)o->fuse_scale,
                (size_t)o->i[1],
                NULL,
                0,
                b->isa,
                NULL,
                NULL,
                NULL,
                0,
                0};
    c.small = b->vk;
    c.sbuf = mm_sbuf_off(&g);
    ntg__xnn_parallel(b, nthr, mm_task, &c, (size_t)nthr);
}

/* Whether P.V (geometry h) continues QK^T (geometry g) head by head: the same output
 * matrices, P read plainly as the scores were written (matrix q at q m n), V's rows as many as
 * the keys, and V small enough for the small kernel's buffer. */
static int attn_geom_ok(const ntg_mm_geom *g, const ntg_mm_geom *h)
{
    if (h->ta || h->tb || !h->a_full || h->count != g->count || h->m != g->m || h->k != g->n ||
        h->lda != g->n || !small_ok(0, h->n, h->k))
        return 0;
    for (int i = 0; i < h->lead; i++)
        if (h->sa[i] != 0 && h->sa[i] % (g->m * g->n) != 0) return 0;
    int64_t pa, pv;
    ntg__mm_offsets(h, h->count - 1, &pa, &pv);
    return pa == (h->count - 1) * g->m * g->n;
}

/* The attention block, fused (ntg__xnn_prep_attention): one pass per head, the scores and the
 * softmax rows in the task's scratch (m x n floats: 36 KB for 96 x 96, in L1/L2), written only
 * as the P.V product into the second matmul's output; with keep_p (programs whose backward
 * reads P) the softmax rows are also stored as P, and P.V reads them while they are in cache. */
static void run_attention(ntg_backend *b, xnn_op *o, int batch, int keep_p)
{
    xnn_op *pv = o->fuse_next;
    ntg__xnn_patch_batch(pv, batch); /* it runs after this op: its views are not patched yet */
    ntg_mm_geom g = ntg__mm_geom_of(o->attr, &o->in[0].d, &o->in[1].d, &o->out[0].d);
    ntg_mm_geom h = ntg__mm_geom_of(pv->attr, &pv->in[0].d, &pv->in[1].d, &pv->out[0].d);
    if (!attn_geom_ok(&g, &h)) {
        /* cannot happen for a plan that qualified at prepare; stay correct anyway */
        run_mm_softmax(b, o, batch);
        pv->run_unfused(b, pv, batch);
        return;
    }
    double fl =
        2.0 * (double)(g.count * g.m * g.n * (g.k + h.n)) + 30.0 * (double)(g.count * g.m * g.n);
    int nthr = ntg__xnn_threads_for(b, fl, 0);
    if (nthr > g.count) nthr = (int)g.count;
    mm_ctx c;
    memset(&c, 0, sizeof c);
    c.g = &g;
    c.a = o->in[0].data;
    c.bm = o->in[1].data;
    c.count = g.count;
    c.chunks = (size_t)nthr;
    c.scratch = b->scratch;
    c.slot = (size_t)o->i[0];
    c.vk = b->vk;
    c.factor = (float)o->fuse_scale;
    c.tmp = (size_t)o->i[1];
    c.small = b->vk;
    c.sbuf = mm_sbuf_off(&g);
    c.isa = b->isa;
    c.g2 = &h;
    c.v = pv->in[1].data;
    c.o = pv->out[0].data;
    if (o->hl.v) {
        c.o = (float *)o->hl.v->data + o->hl.off;
        c.o_ld = o->hl.ld;
        c.o_h = o->hl.h;
    }
    c.y = keep_p ? o->fuse_out : NULL;
    ntg__xnn_parallel(b, nthr, mm_task, &c, (size_t)nthr);
}

static void run_attn_dispatch(ntg_backend *b, xnn_op *o, int batch)
{
    if (b->cur_program < 64 && (o->fuse_progs >> b->cur_program & 1))
        run_attention(b, o, batch, (int)(o->fuse_keep >> b->cur_program & 1));
    else
        run_mm_softmax(b, o, batch);
}

static void run_pv_dispatch(ntg_backend *b, xnn_op *o, int batch)
{
    if (b->cur_program < 64 && (o->fuse_progs >> b->cur_program & 1)) return; /* done above */
    o->run_unfused(b, o, batch);
}

int ntg__xnn_prep_attention(ntg_backend *b, xnn_op *o, xnn_op *pv, uint64_t progs, uint64_t keep)
{
    (void)b;
    if (!progs || o->run != run_mm_softmax || !pv->run || pv->run == run_pv_dispatch) return -1;
    ntg_mm_geom g = ntg__mm_geom_of(o->attr, &o->in[0].d, &o->in[1].d, &o->out[0].d);
    ntg_mm_geom h = ntg__mm_geom_of(pv->attr, &pv->in[0].d, &pv->in[1].d, &pv->out[0].d);
    ntg_mm_geom g1 = mm_geom_batch1(o, &o->in[0].d, &o->in[1].d, &o->out[0].d);
    ntg_mm_geom h1 = mm_geom_batch1(pv, &pv->in[0].d, &pv->in[1].d, &pv->out[0].d);
    if (!attn_geom_ok(&g, &h) || !attn_geom_ok(&g1, &h1)) return -1;
    o->fuse_next = pv;
    o->fuse_progs = progs;
    o->fuse_keep = keep & progs;
    o->run = run_attn_dispatch;
    o->impl = "attention";
    pv->fuse_progs = progs;
    pv->run_unfused = pv->run;
    pv->run = run_pv_dispatch;
    pv->impl = "fused";
    return 0;
}

int ntg__xnn_prep_mm_softmax(ntg_backend *b, xnn_op *o, void *out, double factor)
{
    ntg_mm_geom g = ntg__mm_geom_of(o->attr, &o->in[0].d, &o->in[1].d, &o->out[0].d);
    if (!out || g.m < 1 || g.n < 1) return -1;
    size_t tmp = mm_slot(&g),
           slot = tmp + (((size_t)(g.m * g.n) * sizeof(float) + 63) & ~(size_t)63);
    o->i[0] = (int64_t)slot;
    o->i[1] = (int64_t)tmp;
    if (slot * (size_t)b->threads > o->scratch) o->scratch = slot * (size_t)b->threads;
    o->fuse_out = out;
    o->fuse_scale = factor;
    o->run = run_mm_softmax;
    o->impl = "xgemm+softmax";
    return 0;
}

/*
 * The attention backward, fused (xnn_fuse.c, ntg__xnn_prep_attention_bwd): the P.V matmul's
 * backward, the softmax's, the scale's and the Q.K^T matmul's as one pass per head.  dP =
 * dO V^T goes to the task's matrix (m x keys floats: 36 KB for 96 x 96, in L1/L2) instead of
 * memory, the softmax and scale backwards turn it into dS in place row by row, and dQ = dS K
 * and dK = dS^T Q read it from there: neither dP nor the two dS tensors are stored (3 x 37.7 MB
 * per layer of the Transformer at batch 256, each written once and read once or twice).  The
 * products, lines and float products are those of the four unfused ops, in the same order
 * per element, so the gradients are bitwise theirs.
 */
typedef struct attn_bwd_ctx {
    const ntg_mm_geom *g, *h; /* P.V and Q.K^T */
    const float *p, *v, *dout, *q, *k;
    float *dv, *dq, *dk;
    float factor;
    const ntg_simd_vk *vk;
    int isa;
    uint8_t *scratch;
    size_t slot, sbuf, tmp;
    int64_t count;
    size_t chunks;
} attn_bwd_ctx;

static void attn_bwd_task(void *p, size_t t)
{
    const attn_bwd_ctx *c = p;
    const ntg_mm_geom *g = c->g, *h = c->h;
    int64_t p0 = c->count * (int64_t)t / (int64_t)c->chunks;
    int64_t p1 = c->count * (int64_t)(t + 1) / (int64_t)c->chunks;
    void *s = c->scratch + t * c->slot;
    float *sb = (float *)((uint8_t *)s + c->sbuf), *tm = (float *)((uint8_t *)s + c->tmp);
    const ntg_simd_vk *vk = c->vk;
    for (int64_t q = p0; q < p1; q++) {
        int64_t oa, ob, qa, qb;
        ntg__mm_offsets(g, q, &oa, &ob); /* P, V */
        ntg__mm_offsets(h, q, &qa, &qb); /* Q, K */
        const float *dyp = c->dout + q * g->m * g->n;
        /* dP = dO V^T: the P.V backward's da (ld: keys) */
        gemm_pick(c->isa, vk, 0, 1, g->m, g->k, g->n, dyp, g->n, c->v + ob, g->ldb, 0, tm, g->k, s,
                  sb);
        /* dV = P^T dO: its db */
        if (c->dv)
            gemm_pick(c->isa, vk, 1, 0, g->k, g->n, g->m, c->p + oa, g->lda, dyp, g->n, 0,
                      c->dv + ob, g->n, s, sb);
        /* the softmax backward over each row, then the scale's (float product) */
        for (int64_t r = 0; r < g->m; r++) {
            float *tr = tm + r * g->k;
            vk->softmax_bwd_line(c->p + oa + r * g->lda, tr, tr, (size_t)g->k, 0);
            for (int64_t j = 0; j < g->k; j++) tr[j] = tr[j] * c->factor;
        }
        /* dQ = dS K, dK = dS^T Q: the Q.K^T backward's da and db */
        if (c->dq)
            gemm_pick(c->isa, vk, 0, 0, h->m, h->k, h->n, tm, h->n, c->k + qb, h->ldb, 0,
                      c->dq + qa, h->k, s, sb);
        if (c->dk)
            gemm_pick(c->isa, vk, 1, 0, h->n, h->k, h->m, tm, h->n, c->q + qa, h->lda, 0,
                      c->dk + qb, h->k, s, sb);
    }
}

/* Whether P.V's backward (g) and Q.K^T's (h) are one attention head by head: no transposed or
 * broadcast operand, the same output matrices, P stored plainly (matrix q at q m keys, rows of
 * `keys`) as the scores, and the keys of both the same. */
static int attn_bwd_geom_ok(const ntg_mm_geom *g, const ntg_mm_geom *h)
{
    if (g->ta || g->tb || h->ta || !h->tb || !g->a_full || !g->b_full || !h->a_full || !h->b_full ||
        ntg__mm_one_gemm(g) || ntg__mm_one_gemm(h) || g->count != h->count || g->m != h->m ||
        g->k != h->n || g->lda != g->k || g->m < 1 || g->k < 1)
        return 0;
    int64_t pa, pv;
    ntg__mm_offsets(g, g->count - 1, &pa, &pv);
    return pa == (g->count - 1) * g->m * g->k;
}

static void run_matmul_bwd(ntg_backend *b, xnn_op *o, int batch);

/* o: the P.V backward; o->fuse_next: the Q.K^T backward (after the softmax's and the scale's). */
static void run_attention_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    xnn_op *qk = o->fuse_next;
    ntg__xnn_patch_batch(qk, batch); /* it runs after this op: its views are not patched yet */
    ntg_mm_geom g = ntg__mm_geom_of(o->attr, &o->in[0].d, &o->in[1].d, &o->in[2].d);
    ntg_mm_geom h = ntg__mm_geom_of(qk->attr, &qk->in[0].d, &qk->in[1].d, &qk->in[2].d);
    attn_bwd_ctx c;
    memset(&c, 0, sizeof c);
    c.dv = o->out[1].data;
    c.dq = qk->out[0].data;
    c.dk = qk->out[1].data;
    if (!c.dv && !c.dq && !c.dk) return;
    if (!o->in[3].data) {
        /* no gradient reaches the attention output: every gradient below is zero */
        ntg__xnn_zero(&o->out[1]);
        ntg__xnn_zero(&qk->out[0]);
        ntg__xnn_zero(&qk->out[1]);
        return;
    }
    if (!attn_bwd_geom_ok(&g, &h)) return; /* refused at prepare for every batch */
    double fl = 8.0 * (double)(g.count * g.m * g.n * g.k) + 30.0 * (double)(g.count * g.m * g.k);
    int nthr = ntg__xnn_threads_for(b, fl, 0);
    if (nthr > g.count) nthr = (int)g.count;
    c.g = &g;
    c.h = &h;
    c.p = o->in[0].data;
    c.v = o->in[1].data;
    c.dout = o->in[3].data;
    c.q = qk->in[0].data;
    c.k = qk->in[1].data;
    c.factor = (float)o->fuse_scale;
    c.vk = b->vk;
    c.isa = b->isa;
    c.scratch = b->scratch;
    c.slot = (size_t)o->i[1];
    c.sbuf = (size_t)o->i[2];
    c.tmp = (size_t)o->i[3];
    c.count = g.count;
    c.chunks = (size_t)nthr;
    ntg__xnn_parallel(b, nthr, attn_bwd_task, &c, (size_t)nthr);
}

int ntg__xnn_prep_attention_bwd(ntg_backend *b, xnn_op *pv, xnn_op *qk, double factor)
{
    if (pv->run != run_matmul_bwd || qk->run != run_matmul_bwd) return -1;
    /* dP is what the fused kernel keeps to itself: it must be wanted (so that the softmax
     * backward has its input), and every operand read must be bound */
    if (!pv->out[0].data || !pv->in[0].data || !pv->in[1].data || !pv->in[3].data ||
        !qk->in[0].data || !qk->in[1].data)
        return -1;
    ntg_mm_geom g = ntg__mm_geom_of(pv->attr, &pv->in[0].d, &pv->in[1].d, &pv->in[2].d);
    ntg_mm_geom h = ntg__mm_geom_of(qk->attr, &qk->in[0].d, &qk->in[1].d, &qk->in[2].d);
    ntg_mm_geom g1 = mm_geom_batch1(pv, &pv->in[0].d, &pv->in[1].d, &pv->in[2].d);
    ntg_mm_geom h1 = mm_geom_batch1(qk, &qk->in[0].d, &qk->in[1].d, &qk->in[2].d);
    if (!attn_bwd_geom_ok(&g, &h) || !attn_bwd_geom_ok(&g1, &h1)) return -1;
    /* a task's slot: the xgemm scratch of either product, the small kernel's buffer, dP */
    size_t xa = mm_xgemm_part(&g), xb = mm_xgemm_part(&h);
    size_t sbuf = xa > xb ? xa : xb;
    size_t tmp = sbuf + SMALL_B_FLOATS * sizeof(float);
    size_t slot = tmp + (((size_t)(g.m * g.k) * sizeof(float) + 63) & ~(size_t)63);
    pv->i[1] = (int64_t)slot;
    pv->i[2] = (int64_t)sbuf;
    pv->i[3] = (int64_t)tmp;
    if (slot * (size_t)b->threads > pv->scratch) pv->scratch = slot * (size_t)b->threads;
    pv->fuse_next = qk;
    pv->fuse_scale = factor;
    pv->run = run_attention_bwd;
    pv->impl = "attention-bwd";
    return 0;
}

/* in = [a, b, y, dy], out = [da, db].  Operands shared between output matrices (broadcast)
 * accumulate their contributions in output order on one thread (as the reference), so the
 * result does not depend on the thread count; otherwise matrices are split across threads. */
static void run_matmul_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    const float *a = o->in[0].data, *bm = o->in[1].data, *dy = o->in[3].data;
    float *da = o->out[0].data, *db = o->out[1].data;
    if (!da && !db) return;
    if (!dy) {
        ntg__xnn_zero(&o->out[0]);
        ntg__xnn_zero(&o->out[1]);
        return;
    }
    ntg_mm_geom g = ntg__mm_geom_of(o->attr, &o->in[0].d, &o->in[1].d, &o->in[2].d);
    if (ntg__mm_one_gemm(&g)) {
        int64_t mm = g.count * g.m;
        ntg_xgemm_args x;
        if (da) {
            memset(&x, 0, sizeof x);
            x.trans_b = !g.tb;
            x.m = mm, x.n = g.k, x.k = g.n;
            x.a = dy, x.lda = g.n, x.b = bm, x.ldb = g.ldb, x.c = da, x.ldc = g.k;
            ntg__xnn_gemm(b, &x);
        }
        if (db) {
            memset(&x, 0, sizeof x);
            if (!g.tb) {
                x.trans_a = 1;
                x.m = g.k, x.n = g.n, x.k = mm;
                x.a = a, x.lda = g.lda, x.b = dy, x.ldb = g.n, x.c = db, x.ldc = g.n;
            } else {
                x.trans_a = 1;
                x.m = g.n, x.n = g.k, x.k = mm;
                x.a = dy, x.lda = g.n, x.b = a, x.ldb = g.lda, x.c = db, x.ldc = g.k;
            }
            ntg__xnn_gemm(b, &x);
        }
        return;
    }
    int shared = (da && !g.a_full) || (db && !g.b_full);
    if (shared) {
        /* the reference's order: clear the broadcast gradients, then every matrix in turn */
        if (da && !g.a_full) ntg__xnn_zero(&o->out[0]);
        if (db && !g.b_full) ntg__xnn_zero(&o->out[1]);
        for (int64_t p = 0; p < g.count; p++) {
            int64_t oa, ob;
            ntg__mm_offsets(&g, p, &oa, &ob);
            const float *dyp = dy + p * g.m * g.n;
            int aa = !g.a_full, ab = !g.b_full;
            if (da) {
                if (!g.ta)
                    gemm1(b->isa, 0, !g.tb, g.m, g.k, g.n, dyp, g.n, bm + ob, g.ldb, aa, da + oa,
                          g.k, b->scratch);
                else
                    gemm1(b->isa, g.tb, 1, g.k, g.m, g.n, bm + ob, g.ldb, dyp, g.n, aa, da + oa,
                          g.m, b->scratch);
            }
            if (db) {
                if (!g.tb)
                    gemm1(b->isa, !g.ta, 0, g.k, g.n, g.m, a + oa, g.lda, dyp, g.n, ab, db + ob,
                          g.n, b->scratch);
                else
                    gemm1(b->isa, 1, g.ta, g.n, g.k, g.m, dyp, g.n, a + oa, g.lda, ab, db + ob, g.k,
                          b->scratch);
            }
        }
        return;
    }
    double fl = 4.0 * (double)(g.count * g.m * g.n * g.k);
    int nthr = ntg__xnn_threads_for(b, fl, 0);
    if (nthr > g.count) nthr = (int)g.count;
    mm_ctx c = {
        &g, a,    bm,   dy, NULL, da, db,     g.count, (size_t)nthr, b->scratch, (size_t)o->i[0],
        1,  NULL, 0.0f, 0,  NULL, 0,  b->isa, NULL,    NULL,         NULL,       0,
        0};
    c.small = b->vk;
    c.sbuf = mm_sbuf_off(&g);
    ntg__xnn_parallel(b, nthr, mm_task, &c, (size_t)nthr);
}

ntg_status ntg__xnn_prep_matmul_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)err;
    if ((o->out[0].data && !o->in[1].data) || (o->out[1].data && !o->in[0].data)) return NTG_OK;
    ntg_mm_geom gs[2] = {ntg__mm_geom_of(o->attr, &o->in[0].d, &o->in[1].d, &o->in[2].d),
                         mm_geom_batch1(o, &o->in[0].d, &o->in[1].d, &o->in[2].d)};
    o->i[0] = (int64_t)mm_slot(&gs[0]);
    size_t s = (size_t)o->i[0] * (size_t)b->threads;
    for (int q = 0; q < 2; q++) {
        const ntg_mm_geom *g = &gs[q];
        if (!ntg__mm_one_gemm(g)) continue;
        int64_t mm = g->count * g->m;
        ntg_xgemm_args x[2];
        memset(x, 0, sizeof x);
        x[0].trans_b = !g->tb, x[0].m = mm, x[0].n = g->k, x[0].k = g->n;
        x[1].trans_a = 1, x[1].m = g->tb ? g->n : g->k, x[1].n = g->tb ? g->k : g->n, x[1].k = mm;
        for (int i = 0; i < 2; i++) {
            size_t t = ntg__xnn_gemm_scratch(b, &x[i]);
            if (t > s) s = t;
        }
    }
    o->scratch = s;
    o->run = run_matmul_bwd;
    o->impl = "xgemm";
    return NTG_OK;
}

/* ------------------------------------------- GELU pre-activations, kept */

/*
 * The backward of a GELU dense layer needs z = x W^T + b, which the forward computes and
 * then overwrites with gelu(z).  In a trainable session the forward keeps z in a buffer of
 * its own (maximum batch) and its backward reads it instead of recomputing the product
 * (a third of the layer's backward FMAs): the same GEMM on the same operands, so bitwise
 * the same z.  Only where every program that runs the backward runs the forward before it
 * (on the same x, W and b: the same tensors).
 */
static int fwd_before_bwd(const ntg_plan_view *plan, uint32_t f, uint32_t k)
{
    for (uint32_t g = 0; g < plan->n_programs; g++) {
        const ntg_program_view *pg = &plan->programs[g];
        int64_t pf = -1, pk = -1;
        for (uint32_t i = 0; i < pg->n_ops; i++) {
            if (pg->ops[i] == f && pf < 0) pf = i;
            if (pg->ops[i] == k && pk < 0) pk = i;
        }
        if (pk >= 0 && (pf < 0 || pf > pk)) return 0;
    }
    return 1;
}

ntg_status ntg__xnn_link_gelu(ntg_backend *b, const ntg_plan_view *plan, ntg_error *err)
{
    for (uint32_t k = 0; k < plan->n_ops; k++) {
        xnn_op *o = &b->ops[k];
        if (o->code != NTG_OP_dense || o->dir != NTG_DIR_BWD || o->run != run_dense_bwd ||
            ntg__attr_i(o->attr, NTG_DENSE_ACT) != NTG_ACT_GELU)
            continue;
        const uint32_t *kop = plan->operands + plan->ops[k].operands;
        int nfi = o->n_out;
        for (uint32_t f = 0; f < plan->n_ops; f++) {
            xnn_op *fo = &b->ops[f];
            if (fo->code != NTG_OP_dense || fo->dir != NTG_DIR_FWD || fo->run != run_dense_xgemm ||
                fo->n_in != nfi || fo->zsave ||
                ntg__attr_i(fo->attr, NTG_DENSE_ACT) != NTG_ACT_GELU)
                continue;
            const uint32_t *fop = plan->operands + plan->ops[f].operands;
            int same = 1;
            for (int i = 0; i < nfi; i++)
                if (fop[i] != kop[i]) same = 0;
            if (!same || !fwd_before_bwd(plan, f, k)) continue;
            int64_t units = fo->in[1].d.dims[0];
            size_t bytes = (size_t)ntg__xnn_numel(&fo->out[0]) * sizeof(float);
            void *mem = NULL;
            if (units <= 0 || !bytes) break;
            if (posix_memalign(&mem, 64, (bytes + 63) & ~(size_t)63))
                return ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
            fo->zsave = o->zsave = mem;
            fo->zsave_owned = 1;
            break;
        }
    }
    return NTG_OK;
}
