/* xnn_lstm.c — the LSTM forward and backward-through-time over xgemm and vector cell kernels. */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "ntg_error.h"
#include "op_attrs.h"
#include "ref/ref_span.h"
#include "xnn_int.h"

/*
 * The reference's recurrences (ops/ref/k_lstm.c), rearranged for threads and caches: every
 * batch row's recurrence is independent of the others (the weights are shared read-only),
 * so the rows are split into one contiguous chunk per thread and each thread runs its chunk
 * through all the time steps: one dispatch per layer, not one per step, each step's GEMM
 * single-threaded on weights packed once per layer (once per plan for read-only weights).
 * In the backward, the weight gradients over all B*T steps are big multithreaded GEMMs.
 */

static size_t fl_round(int64_t n)
{
    return (size_t)((n + 15) & ~(int64_t)15);
}

/* Recurrent-GEMM scratch of one chunk (packed B: only the GEMM's slack), 64-byte multiple. */
static size_t chunk_slot(const ntg_lstm_dims *d, int bwd)
{
    ntg_xgemm_args g;
    memset(&g, 0, sizeof g);
    g.trans_b = !bwd;
    g.m = d->b;
    g.n = bwd ? d->h : 4 * d->h;
    g.k = bwd ? 4 * d->h : d->h;
    g.packed_b = (const float *)&g; /* any non-NULL: the packed form is passed */
    return (ntg__xgemm_scratch_bytes(&g, 1) + 63) & ~(size_t)63;
}

static int lstm_nthr(const ntg_backend *b, const ntg_lstm_dims *d)
{
    double fl = 8.0 * (double)(d->b * d->t * d->h * d->h);
    int nthr = ntg__xnn_threads_for(b, fl, 0);
    return nthr > d->b ? (int)d->b : nthr;
}

/* ------------------------------------------------------------------- forward */

/*
 * Two ways through a layer, chosen per chunk of rows:
 *  - fused: one GEMM per step, gates = [x_t | h_{t-1}] [W_ih | W_hh]^T + (b_ih + b_hh),
 *    K = in + H, on both weights packed side by side (panel q of the concatenation is
 *    W_ih's panel q, then W_hh's).  A step's A rows, gates and cells stay in L2: the choice
 *    for many rows, and for a narrow input (layer 0 reads scalars: W_ih is one row);
 *  - projected: for a few rows and a wide input, re-reading W_ih at every step would double
 *    what a step streams from L2 (the bound at batch 1), so the chunk's whole input sequence
 *    is projected first, P = X W_ih^T + bias (W_ih read once), and each step adds
 *    h_{t-1} W_hh^T into its rows of P.
 * Layer k reads layer k-1's h_t from y just before overwriting it with its own, so y ends
 * with the top layer's sequence.  Weights are packed once per plan when read-only, else
 * once per layer per run.
 */

/* Chunks of at most this many rows use the projected way when the input is wide. */
enum { PROJ_MAX_ROWS = 8, PROJ_MIN_IN = 16 };

static int projected(int64_t rows, int64_t in)
{
    return rows <= PROJ_MAX_ROWS && in >= PROJ_MIN_IN;
}

/* Floats of one layer's packed weights: [W_ih | W_hh] side by side, W_ih, W_hh. */
typedef struct pack_sizes {
    int64_t cat, ih, hh, total;
} pack_sizes;

static pack_sizes pack_sizes_of(int64_t in, int64_t h)
{
    pack_sizes p;
    p.cat = (int64_t)(ntg__xgemm_packed_b_bytes(4 * h, in + h) / sizeof(float));
    p.ih = (int64_t)(ntg__xgemm_packed_b_bytes(4 * h, in) / sizeof(float));
    p.hh = (int64_t)(ntg__xgemm_packed_b_bytes(4 * h, h) / sizeof(float));
    p.total = p.cat + p.ih + p.hh;
    return p;
}

/* One layer's three packings, at dst (pack_sizes_of(in, h).total floats), with instructions up
 * to `isa`. */
static void pack_layer(int isa, const float *wih, const float *whh, int64_t in, int64_t h,
                       float *dst)
{
    pack_sizes ps = pack_sizes_of(in, h);
    int64_t g4 = 4 * h, k = in + h;
    for (int64_t j0 = 0; j0 < g4; j0 += NTG_XGEMM_NR) {
        int64_t nr = g4 - j0 < NTG_XGEMM_NR ? g4 - j0 : NTG_XGEMM_NR;
        float *panel = dst + j0 * k;
        ntg__xgemm_pack_b(isa, 1, nr, in, wih + j0 * in, in, panel);
        ntg__xgemm_pack_b(isa, 1, nr, h, whh + j0 * h, h, panel + in * NTG_XGEMM_NR);
    }
    ntg__xgemm_pack_b(isa, 1, g4, in, wih, in, dst + ps.cat);
    ntg__xgemm_pack_b(isa, 1, g4, h, whh, h, dst + ps.cat + ps.ih);
}

/* Per-chunk scratch of the forward, for a chunk of up to `rows` rows. */
typedef struct fwd_chunk {
    size_t a, g, c, slot, total;
} fwd_chunk;

static fwd_chunk fwd_chunk_of(const ntg_lstm_dims *d, int64_t rows)
{
    fwd_chunk l;
    int64_t wide = (d->in > d->h ? d->in : d->h) + d->h, g4 = 4 * d->h;
    int64_t prow = rows < PROJ_MAX_ROWS ? rows : PROJ_MAX_ROWS;
    /* gates: a step's [rows, 4H] (fused) or the projected sequence [rows, T, 4H] */
    int64_t gates = rows * g4 > prow * d->t * g4 ? rows * g4 : prow * d->t * g4;
    size_t slot = 0;
    for (int proj = 0; proj < 2; proj++) {
        ntg_xgemm_args g;
        memset(&g, 0, sizeof g);
        g.trans_b = 1;
        g.m = proj ? prow * d->t : rows;
        g.n = g4;
        g.k = wide;
        g.packed_b = (const float *)&g; /* any non-NULL: the packed form is passed */
        size_t sb = ntg__xgemm_scratch_bytes(&g, 1);
        if (sb > slot) slot = sb;
    }
    l.a = 0;
    l.g = l.a + fl_round(rows * wide) * sizeof(float);
    l.c = l.g + fl_round(gates) * sizeof(float);
    l.slot = l.c + fl_round(rows * d->h) * sizeof(float);
    l.total = (l.slot + slot + 63) & ~(size_t)63;
    return l;
}

typedef struct fwd_ctx {
    const ntg_simd_vk *vk;
    const ntg_lstm_dims *d;
    int64_t k, in;
    const float *x; /* the layer's input sequence [B, T, in] (x, or y for k > 0) */
    float *y, *ws;
    const float *packed, *bias; /* the layer's three packings (pack_layer) */
    size_t chunks;
    uint8_t *scratch;
    fwd_chunk cl; /* per chunk, sized for the largest chunk */
    int isa;      /* the instance's instruction-set cap, for xgemm */
} fwd_ctx;

/*
 * The cell of step t for the chunk's rows, gates of row r at gt + r * gstride.  With a
 * workspace (training) the gates are already in the rows' workspace steps (the GEMM wrote
 * them there) unless `copy`; the cell state then lives there too (the previous step's c is
 * the workspace's), else in `cell`.  h goes to the workspace, to hbuf (the next step's A
 * rows, hstride apart) and to y.
 */
static void fwd_cells(const fwd_ctx *c, int64_t b0, int64_t rows, int64_t t, float *gt,
                      int64_t gstride, int copy, float *cell, float *hbuf, int64_t hstride)
{
    const ntg_lstm_dims *d = c->d;
    int64_t h = d->h, nt = d->t, g4 = 4 * h;
    size_t hb = (size_t)h * sizeof(float);
    for (int64_t r = 0; r < rows; r++) {
        int64_t b = b0 + r;
        float *gr = gt + r * gstride, *hr = hbuf + r * hstride;
        if (!c->ws) {
            float *cr = cell + r * h;
            c->vk->lstm_cell(gr, t > 0 ? cr : NULL, cr, hr, (size_t)h);
        } else {
            float *st = c->ws + ntg__ref_lstm_ws_off(d, b, c->k, t);
            if (copy) memcpy(st, gr, (size_t)g4 * sizeof *st);
            const float *cp =
                t > 0 ? c->ws + ntg__ref_lstm_ws_off(d, b, c->k, t - 1) + NTG_WS_C * h : NULL;
            c->vk->lstm_cell(st, cp, st + NTG_WS_C * h, st + NTG_WS_H * h, (size_t)h);
            memcpy(hr, st + NTG_WS_H * h, hb);
        }
        memcpy(c->y + (b * nt + t) * h, hr, hb);
    }
}

static void fwd_task(void *ctx, size_t i)
{
    const fwd_ctx *c = ctx;
    const ntg_lstm_dims *d = c->d;
    int64_t b0 = d->b * (int64_t)i / (int64_t)c->chunks;
    int64_t b1 = d->b * (int64_t)(i + 1) / (int64_t)c->chunks;
    int64_t rows = b1 - b0, nt = d->t, h = d->h, g4 = 4 * h, in = c->in;
    uint8_t *s = c->scratch + i * c->cl.total;
    float *a = (float *)(s + c->cl.a), *gt = (float *)(s + c->cl.g), *cell = (float *)(s + c->cl.c);
    pack_sizes ps = pack_sizes_of(in, h);
    ntg_xgemm_args g;
    memset(&g, 0, sizeof g);
    g.isa = c->isa;
    g.trans_b = 1;
    g.n = g4;
    if (projected(rows, in)) {
        /* P = X W_ih^T + bias for the chunk's whole sequence, then h W_hh^T step by step */
        for (int64_t p0 = 0; p0 < rows; p0 += PROJ_MAX_ROWS) {
            int64_t pr = rows - p0 < PROJ_MAX_ROWS ? rows - p0 : PROJ_MAX_ROWS;
            g.m = pr * nt;
            g.k = in;
            g.a = c->x + (b0 + p0) * nt * in;
            g.lda = in;
            g.packed_b = c->packed + ps.cat;
            g.bias = c->bias;
            g.c = gt;
            g.ldc = g4;
            g.accumulate = 0;
            ntg__xgemm(NULL, 1, &g, s + c->cl.slot);
            for (int64_t t = 0; t < nt; t++) {
                if (t > 0) {
                    g.m = pr;
                    g.k = h;
                    g.a = a;
                    g.lda = h;
                    g.packed_b = c->packed + ps.cat + ps.ih;
                    g.bias = NULL;
                    g.c = gt + t * g4;
                    g.ldc = nt * g4;
                    g.accumulate = 1;
                    ntg__xgemm(NULL, 1, &g, s + c->cl.slot);
                }
                fwd_cells(c, b0 + p0, pr, t, gt + t * g4, nt * g4, 1, cell, a, h);
            }
        }
        return;
    }
    int64_t kk = in + h;
    size_t ib = (size_t)in * sizeof(float);
    for (int64_t r = 0; r < rows; r++) memset(a + r * kk + in, 0, (size_t)h * sizeof(float));
    g.m = rows;
    g.k = kk;
    g.a = a;
    g.lda = kk;
    g.packed_b = c->packed;
    g.bias = c->bias;
    g.c = gt;
    g.ldc = g4;
    for (int64_t t = 0; t < nt; t++) {
        for (int64_t r = 0; r < rows; r++) memcpy(a + r * kk, c->x + ((b0 + r) * nt + t) * in, ib);
        if (c->ws) {
            /* the gates straight into the rows' workspace steps */
            g.c = c->ws + ntg__ref_lstm_ws_off(d, b0, c->k, t);
            g.ldc = d->layers * nt * NTG_WS_STEP * h;
        }
        ntg__xgemm(NULL, 1, &g, s + c->cl.slot);
        fwd_cells(c, b0, rows, t, g.c, g.ldc, 0, cell, a + in, kk);
    }
}

/*
 * Batch 1 (fewer rows than threads) of an inference run: the rows cannot be split, so the
 * hidden units are.  Unit u owns hidden columns [u hw, (u+1) hw) of every gate (whole
 * panels): its four gate GEMMs read only its panels of the weights (a step is bound by
 * streaming them from L2: each core now streams its share from its own L2) and its cell
 * writes its part of h.  A step's units are claimed from a counter by whichever participant
 * comes first, and every participant waits for the step's units to be done before the next
 * step (all of h is read by every unit): no participant ever waits for one that has not
 * started, so a worker that wakes late only means the caller does more units.  Each unit
 * computes its elements exactly as the one-thread path (same summation order, the cell is
 * elementwise): bitwise the same result whoever runs it.
 */
enum {
    UNIT_MIN_BYTES = 65536, /* a step's weights worth splitting (~1 us from L2) */
    UNIT_SPINS = 20000      /* pauses (~0.1 ms) before a waiting participant yields its core */
};

static int unit_count(const ntg_backend *b, const ntg_lstm_dims *d)
{
    if (b->threads < 2 || d->b >= b->threads || (b->policy & XNN_POL_NO_UNITS)) return 1;
    int u = b->threads;
    if (d->h % ((int64_t)u * NTG_XGEMM_NR)) return 1;
    if (!(b->policy & XNN_POL_PAR_ALWAYS) && 16 * d->h * (d->h + d->in) < UNIT_MIN_BYTES) return 1;
    return u;
}

/* The unit path's scratch: the fused way's A rows of every step [T][rows][in + H], the gates
 * or projected sequence of every unit ([rows][T][4H] in all), the cell [rows][H], then the
 * step counters. */
typedef struct unit_layout {
    size_t a, g, c, cnt, total;
} unit_layout;

static unit_layout unit_layout_of(const ntg_lstm_dims *d)
{
    unit_layout l;
    int64_t wide = (d->in > d->h ? d->in : d->h) + d->h;
    l.a = 0;
    l.g = l.a + fl_round(d->b * d->t * wide) * sizeof(float);
    l.c = l.g + fl_round(d->b * d->t * 4 * d->h) * sizeof(float);
    l.cnt = l.c + fl_round(d->b * d->h) * sizeof(float);
    l.total = (l.cnt + (size_t)(2 * (d->t + 1)) * sizeof(atomic_int) + 63) & ~(size_t)63;
    return l;
}

typedef struct unit_ctx {
    const ntg_simd_vk *vk;
    const ntg_lstm_dims *d;
    int64_t in, units, hw;
    int proj;
    const float *x; /* the layer's input sequence */
    float *y;
    const float *packed, *bias;
    float *a, *g, *cell;
    atomic_int *claim, *done; /* per step; index 0 is the projection, step t at t + 1 */
    int isa;                  /* the instance's instruction-set cap, for xgemm */
} unit_ctx;

/* The unit's four gate GEMMs: columns q H + u hw .. of panels `packed` (depth k) into
 * gu + q hw (row stride ldc). */
static void unit_gemm(const unit_ctx *c, int64_t u, int64_t m, const float *a, int64_t lda,
                      const float *packed, int64_t k, const float *bias, int acc, float *gu,
                      int64_t ldc)
{
    int64_t h = c->d->h, hw = c->hw;
    ntg_xgemm_args g;
    memset(&g, 0, sizeof g);
    g.isa = c->isa;
    g.trans_b = 1;
    g.m = m;
    g.n = hw;
    g.k = k;
    g.a = a;
    g.lda = lda;
    g.accumulate = acc;
    g.ldc = ldc;
    for (int64_t q = 0; q < 4; q++) {
        int64_t j0 = q * h + u * hw;
        g.packed_b = packed + j0 * k; /* j0 is a whole number of panels */
        g.bias = bias ? bias + j0 : NULL;
        g.c = gu + q * hw;
        ntg__xgemm(NULL, 1, &g, NULL);
    }
}

/* Unit u of step t; t < 0: the layer's start (the projection of the unit's columns over the
 * whole sequence, or, fused, the A rows [x_t | 0] of every step: one unit does that). */
static void unit_run(const unit_ctx *c, int64_t u, int64_t t)
{
    const ntg_lstm_dims *d = c->d;
    int64_t h = d->h, hw = c->hw, nt = d->t, in = c->in, rows = d->b, kk = in + h;
    pack_sizes ps = pack_sizes_of(in, h);
    /* unit u's gates: [rows][T][4 hw] (projected) or [rows][4 hw] (fused) */
    int64_t gstride = c->proj ? nt * 4 * hw : 4 * hw;
    float *gu = c->g + u * rows * gstride;
    if (t < 0) {
        if (c->proj) {
            unit_gemm(c, u, rows * nt, c->x, in, c->packed + ps.cat, in, c->bias, 0, gu, 4 * hw);
        } else if (u == 0) {
            size_t ib = (size_t)in * sizeof(float);
            for (int64_t s = 0; s < nt; s++)
                for (int64_t r = 0; r < rows; r++) {
                    float *ar = c->a + (s * rows + r) * kk;
                    memcpy(ar, c->x + (r * nt + s) * in, ib);
                    memset(ar + in, 0, (size_t)h * sizeof(float));
                }
        }
        return;
    }
    float *gt = gu + (c->proj ? t * 4 * hw : 0);
    if (!c->proj)
        unit_gemm(c, u, rows, c->a + t * rows * kk, kk, c->packed, kk, c->bias, 0, gt, gstride);
    else if (t > 0) /* h_{t-1}: this layer's output rows of the previous step */
        unit_gemm(c, u, rows, c->y + (t - 1) * h, nt * h, c->packed + ps.cat + ps.ih, h, NULL, 1,
                  gt, gstride);
    for (int64_t r = 0; r < rows; r++) {
        float *cr = c->cell + r * h + u * hw, *hr = c->y + (r * nt + t) * h + u * hw;
        c->vk->lstm_cell(gt + r * gstride, t > 0 ? cr : NULL, cr, hr, (size_t)hw);
        if (!c->proj && t + 1 < nt)
            memcpy(c->a + ((t + 1) * rows + r) * kk + in + u * hw, hr, (size_t)hw * sizeof(float));
    }
}

static void unit_task(void *ctx, size_t i)
{
    (void)i;
    const unit_ctx *c = ctx;
    for (int64_t t = -1; t < c->d->t; t++) {
        atomic_int *claim = c->claim + t + 1, *done = c->done + t + 1;
        for (;;) {
            int u = atomic_fetch_add_explicit(claim, 1, memory_order_relaxed);
            if (u >= c->units) break;
            unit_run(c, u, t);
            atomic_fetch_add_explicit(done, 1, memory_order_release);
        }
        for (int spins = 0; atomic_load_explicit(done, memory_order_acquire) < c->units;)
            if (++spins < UNIT_SPINS)
                ntg__xnn_spin_pause();
            else
                sched_yield(); /* the other participant was descheduled: let it run */
    }
}

/* Scratch: bias [4H], one layer's packings (when not packed at prepare), then one chunk
 * area per thread. */
typedef struct fwd_layout {
    size_t bias, pack, chunks, total;
    fwd_chunk cl;
} fwd_layout;

static fwd_layout fwd_layout_of(const ntg_backend *b, const ntg_lstm_dims *d)
{
    fwd_layout l;
    int64_t wide = d->in > d->h ? d->in : d->h;
    l.cl = fwd_chunk_of(d, d->b); /* a chunk never has more rows than the batch */
    l.bias = 0;
    l.pack = l.bias + fl_round(4 * d->h) * sizeof(float);
    l.chunks =
        (l.pack + (size_t)pack_sizes_of(wide, d->h).total * sizeof(float) + 63) & ~(size_t)63;
    l.total = l.chunks + l.cl.total * (size_t)b->threads;
    if (b->threads > 1) {
        /* the unit path runs below `threads` rows */
        ntg_lstm_dims du = *d;
        if (du.b > b->threads - 1) du.b = b->threads - 1;
        size_t ut = l.chunks + unit_layout_of(&du).total;
        if (ut > l.total) l.total = ut;
    }
    return l;
}

/*
 * Whether the unit split pays depends on where the two threads run: on a machine whose cores
 * each stream from their own L2 it takes a third off a batch-1 LSTM, but on cores that share
 * their caches and bandwidth (SMT siblings: a VM's vCPUs can be placed so, and moved) the
 * step barriers make it slower than one thread.  Both ways give the same bits, so the choice
 * is measured: after a warm-up run, the op alternates the two for PROBE_RUNS runs each and
 * keeps the faster (by each's fastest run) until the next probe, REPROBE_RUNS runs later.
 * State in o->i[1..4]: eligible runs so far, the choice, the fastest unit and one-thread
 * runs of the current probe (ns).
 */
enum { PROBE_RUNS = 4, REPROBE_RUNS = 1024 };

static double mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void run_lstm_layers(ntg_backend *b, xnn_op *o, int64_t units);

static void run_lstm(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    ntg_lstm_dims d = ntg__ref_lstm_dims(o->attr, &o->in[0].d);
    float *ws = o->n_out > 1 ? o->out[1].data : NULL;
    int64_t units = ws ? 1 : unit_count(b, &d);
    if (units <= 1 || (b->policy & XNN_POL_PAR_ALWAYS)) {
        run_lstm_layers(b, o, units);
        return;
    }
    if (b->solo) {
        /* a run without workers (xnn_adapt): the unit split would only add step barriers, and
         * timing it here would mislead this op's own probe */
        run_lstm_layers(b, o, 1);
        return;
    }
    int64_t n = o->i[1]++ % REPROBE_RUNS;
    if (n == 0 || n > 2 * PROBE_RUNS) {
        /* the warm-up run of a probe, then the probe's choice */
        run_lstm_layers(b, o, n == 0 || o->i[2] ? units : 1);
        if (n == 0) o->i[3] = o->i[4] = INT64_MAX;
        return;
    }
    int split = n & 1;
    double t0 = mono_ns();
    run_lstm_layers(b, o, split ? units : 1);
    int64_t dt = (int64_t)(mono_ns() - t0);
    int64_t *best = &o->i[split ? 3 : 4];
    if (dt < *best) *best = dt;
    if (n == 2 * PROBE_RUNS) o->i[2] = o->i[3] < o->i[4];
}

static void run_lstm_layers(ntg_backend *b, xnn_op *o, int64_t units)
{
    ntg_lstm_dims d = ntg__ref_lstm_dims(o->attr, &o->in[0].d);
    const float *x = o->in[0].data;
    float *y = o->out[0].data, *ws = o->n_out > 1 ? o->out[1].data : NULL;
    int64_t h = d.h, g4 = 4 * h;
    fwd_layout l = fwd_layout_of(b, &d);
    uint8_t *s = b->scratch;
    float *bias = (float *)(s + l.bias);
    int nthr = lstm_nthr(b, &d);
    int64_t off = 0;
    for (int64_t k = 0; k < d.layers; k++) {
        const float *wih = o->in[1 + 4 * k].data, *whh = o->in[2 + 4 * k].data;
        const float *bih = o->in[3 + 4 * k].data, *bhh = o->in[4 + 4 * k].data;
        int64_t in = k == 0 ? d.in : h;
        for (int64_t j = 0; j < g4; j++) bias[j] = bih[j] + bhh[j];
        const float *packed;
        if (o->own) {
            packed = (const float *)o->own + off;
        } else {
            pack_layer(b->isa, wih, whh, in, h, (float *)(s + l.pack));
            packed = (const float *)(s + l.pack);
        }
        off += pack_sizes_of(in, h).total;
        if (units > 1) {
            unit_layout ul = unit_layout_of(&d);
            uint8_t *us = s + l.chunks;
            unit_ctx c = {b->vk,
                          &d,
                          in,
                          units,
                          h / units,
                          projected(d.b, in),
                          k == 0 ? x : y,
                          y,
                          packed,
                          bias,
                          (float *)(us + ul.a),
                          (float *)(us + ul.g),
                          (float *)(us + ul.c),
                          (atomic_int *)(us + ul.cnt),
                          (atomic_int *)(us + ul.cnt) + d.t + 1,
                          b->isa};
            for (int64_t i = 0; i < 2 * (d.t + 1); i++) atomic_init(&c.claim[i], 0);
            ntg__xnn_parallel(b, (int)units, unit_task, &c, (size_t)units);
            continue;
        }
        fwd_ctx c = {b->vk,        &d,           k,    in,    k == 0 ? x : y, y, ws, packed, bias,
                     (size_t)nthr, s + l.chunks, l.cl, b->isa};
        ntg__xnn_parallel(b, nthr, fwd_task, &c, (size_t)nthr);
    }
}

typedef struct lstm_pack_ctx {
    int isa;
    const ntg_lstm_dims *d;
    const xnn_op *o;
} lstm_pack_ctx;

/* Every layer's packings, one after the other. */
static ntg_status lstm_pack(void *ctx, void *mem, ntg_error *err)
{
    (void)err;
    const lstm_pack_ctx *c = ctx;
    int64_t off = 0;
    for (int64_t k = 0; k < c->d->layers; k++) {
        int64_t in = k == 0 ? c->d->in : c->d->h;
        pack_layer(c->isa, c->o->in[1 + 4 * k].data, c->o->in[2 + 4 * k].data, in, c->d->h,
                   (float *)mem + off);
        off += pack_sizes_of(in, c->d->h).total;
    }
    return NTG_OK;
}

ntg_status ntg__xnn_prep_lstm(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    ntg_lstm_dims d = ntg__ref_lstm_dims(o->attr, &o->in[0].d);
    for (int i = 0; i < o->n_in; i++)
        if (!o->in[i].data) return NTG_OK;
    int all_const = 1;
    for (int64_t k = 0; k < d.layers; k++)
        if ((o->const_in >> (1 + 4 * k) & 3u) != 3u) all_const = 0;
    if (all_const) {
        int64_t total = 0;
        for (int64_t k = 0; k < d.layers; k++)
            total += pack_sizes_of(k == 0 ? d.in : d.h, d.h).total;
        lstm_pack_ctx pc = {b->isa, &d, o};
        ntg_status st =
            ntg__xnn_pack_shared(b, o, "lstm", (size_t)total * sizeof(float), lstm_pack, &pc, err);
        if (st) return st;
    }
    o->scratch = fwd_layout_of(b, &d).total;
    o->run = run_lstm;
    o->impl = all_const ? "xgemm-packed" : "xgemm";
    return NTG_OK;
}

/* ------------------------------------------------------------------ backward */

typedef struct bwd_ctx {
    const ntg_simd_vk *vk;
    const ntg_lstm_dims *d;
    int64_t k;
    const float *ws, *dh_in, *packed;
    float *dg, *carry, *dhr;
    double *dbpart; /* per task: the sum of its dgates rows (4H), or NULL */
    size_t chunks;
    uint8_t *slots;
    size_t slot;
    int isa; /* the instance's instruction-set cap, for xgemm */
} bwd_ctx;

/* One chunk of rows of one layer, from the top step down: dh = dh_in + dgates_{t+1} W_hh. */
static void bwd_task(void *ctx, size_t i)
{
    const bwd_ctx *c = ctx;
    const ntg_lstm_dims *d = c->d;
    int64_t b0 = d->b * (int64_t)i / (int64_t)c->chunks;
    int64_t b1 = d->b * (int64_t)(i + 1) / (int64_t)c->chunks;
    int64_t nt = d->t, h = d->h, g4 = 4 * h;
    size_t hb = (size_t)h * sizeof(float);
    memset(c->carry + b0 * h, 0, (size_t)(b1 - b0) * hb);
    if (c->dbpart) memset(c->dbpart + (int64_t)i * g4, 0, (size_t)g4 * sizeof(double));
    for (int64_t t = nt - 1; t >= 0; t--) {
        for (int64_t b = b0; b < b1; b++) {
            const float *st = c->ws + ntg__ref_lstm_ws_off(d, b, c->k, t);
            const float *cprev =
                t > 0 ? c->ws + ntg__ref_lstm_ws_off(d, b, c->k, t - 1) + NTG_WS_C * h : NULL;
            const float *din = c->dh_in + (b * nt + t) * h;
            float *dh = c->dhr + b * h;
            if (t == nt - 1)
                memcpy(dh, din, hb);
            else
                for (int64_t j = 0; j < h; j++) dh[j] += din[j];
            float *dgr = c->dg + (b * nt + t) * g4;
            c->vk->lstm_cell_bwd(st, cprev, dh, c->carry + b * h, dgr, (size_t)h);
            /* the bias gradients in double, row after row (the vector kernel adds each
             * column in the scalar loop's order: the same bits) */
            if (c->dbpart)
                c->vk->colsum_acc(dgr, 1, (size_t)g4, (size_t)g4, c->dbpart + (int64_t)i * g4);
        }
        if (t > 0) {
            ntg_xgemm_args g;
            memset(&g, 0, sizeof g);
            g.isa = c->isa;
            g.m = b1 - b0;
            g.n = h;
            g.k = g4;
            g.a = c->dg + (b0 * nt + t) * g4;
            g.lda = nt * g4;
            g.packed_b = c->packed;
            g.c = c->dhr + b0 * h;
            g.ldc = h;
            ntg__xgemm(NULL, 1, &g, c->slots + i * c->slot);
        }
    }
}

/* Scratch: carry [B, H], D [B, T, 4H], S [B, T, max(H, in)], dhr [B, H], packed W_hh, then
 * the GEMM scratch (big GEMMs) overlapping the chunk slots. */
typedef struct bwd_layout {
    size_t carry, dg, s, dhr, tw, dbp, pack, gemm, total;
} bwd_layout;

static bwd_layout bwd_layout_of(const ntg_backend *b, const ntg_lstm_dims *d, size_t slot)
{
    bwd_layout l;
    /* S holds [H | in] columns side by side when both weight gradients are wanted (one dW
     * GEMM for the layer: D packed once), and the [H + in, 4H] product goes to TW */
    int64_t rows = d->b * d->t, g4 = 4 * d->h, wide = d->h + (d->in > d->h ? d->in : d->h);
    l.carry = 0;
    l.dg = l.carry + fl_round(d->b * d->h) * sizeof(float);
    l.s = l.dg + fl_round(rows * g4) * sizeof(float);
    l.dhr = l.s + fl_round(rows * wide) * sizeof(float);
    l.tw = l.dhr + fl_round(d->b * d->h) * sizeof(float);
    l.dbp = l.tw + fl_round(4 * d->h * wide) * sizeof(float);
    l.pack = l.dbp + (size_t)(4 * d->h) * sizeof(double) * (size_t)b->threads;
    l.gemm = (l.pack + ntg__xgemm_packed_b_bytes(d->h, g4) + 63) & ~(size_t)63;
    size_t gs = slot * (size_t)b->threads;
    for (int64_t k = 0; k < d->layers; k++) {
        int64_t in = k == 0 ? d->in : d->h;
        ntg_xgemm_args g[4];
        memset(g, 0, sizeof g);
        g[0].trans_a = 1, g[0].m = d->h, g[0].n = g4, g[0].k = rows;
        g[1].trans_a = 1, g[1].m = in, g[1].n = g4, g[1].k = rows;
        g[2].m = rows, g[2].n = in, g[2].k = g4;
        g[3].trans_a = 1, g[3].m = d->h + in, g[3].n = g4, g[3].k = rows;
        for (int i = 0; i < 4; i++) {
            size_t s = ntg__xnn_gemm_scratch(b, &g[i]);
            if (s > gs) gs = s;
        }
    }
    l.total = l.gemm + gs;
    return l;
}

static void big_gemm(ntg_backend *b, int ta, int64_t m, int64_t n, int64_t k, const float *a,
                     int64_t lda, const float *bm, int64_t ldb, float *c, int64_t ldc, void *s)
{
    ntg_xgemm_args g;
    memset(&g, 0, sizeof g);
    g.trans_a = ta;
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = a;
    g.lda = lda;
    g.b = bm;
    g.ldb = ldb;
    g.c = c;
    g.ldc = ldc;
    g.isa = b->isa;
    int t = b->policy & XNN_POL_PAR_ALWAYS ? b->threads : ntg__xgemm_threads(m, n, k, b->threads);
    ntg__xgemm(ntg__xnn_pool(b, t), t, &g, s);
}

static int64_t lowest_layer(const xnn_op *o, const ntg_lstm_dims *d)
{
    int64_t lowest = o->out[0].data ? 0 : d->layers;
    for (int64_t k = 0; k < lowest; k++)
        for (int j = 0; j < 4; j++)
            if (o->out[1 + 4 * k + j].data) lowest = k;
    return lowest;
}

/* Rows (b, t) of [h of layer k at t - 1 (0 at t = 0) | layer k's input at t] into dst, row
 * stride w = H + in: the input is layer k - 1's h (x NULL) or x itself. */
static void gather_cat(const ntg_lstm_dims *d, const float *ws, int64_t k, const float *x,
                       int64_t in, float *dst, int64_t w)
{
    size_t hb = (size_t)d->h * sizeof *dst, ib = (size_t)in * sizeof *dst;
    for (int64_t b = 0; b < d->b; b++)
        for (int64_t t = 0; t < d->t; t++) {
            float *row = dst + (b * d->t + t) * w;
            if (t == 0)
                memset(row, 0, hb);
            else
                memcpy(row, ws + ntg__ref_lstm_ws_off(d, b, k, t - 1) + NTG_WS_H * d->h, hb);
            const float *src = x ? x + (b * d->t + t) * in
                                 : ws + ntg__ref_lstm_ws_off(d, b, k - 1, t) + NTG_WS_H * d->h;
            memcpy(row + d->h, src, ib);
        }
}

static void run_lstm_bwd(ntg_backend *b, xnn_op *o, int batch)
{
    (void)batch;
    int nfi = o->n_out, nfo = (o->n_in - o->n_out) / 2;
    ntg_lstm_dims d = ntg__ref_lstm_dims(o->attr, &o->in[0].d);
    const float *x = o->in[0].data, *ws = o->in[nfi + 1].data, *dy = o->in[nfi + nfo].data;
    float *dx = o->out[0].data;
    int64_t nt = d.t, h = d.h, g4 = 4 * h, rows = d.b * nt;
    int64_t lowest = lowest_layer(o, &d);
    if (lowest == d.layers) return;
    if (!dy) {
        for (int i = 0; i < o->n_out; i++) ntg__xnn_zero(&o->out[i]);
        return;
    }
    size_t slot = (size_t)o->i[0];
    bwd_layout l = bwd_layout_of(b, &d, slot);
    uint8_t *s = b->scratch;
    float *carry = (float *)(s + l.carry), *dg = (float *)(s + l.dg), *sq = (float *)(s + l.s);
    float *dhr = (float *)(s + l.dhr), *pack = (float *)(s + l.pack), *tw = (float *)(s + l.tw);
    int nthr = lstm_nthr(b, &d);
    for (int64_t k = d.layers - 1; k >= lowest; k--) {
        const float *wih = o->in[1 + 4 * k].data, *whh = o->in[2 + 4 * k].data;
        float *dwih = o->out[1 + 4 * k].data, *dwhh = o->out[2 + 4 * k].data;
        float *dbih = o->out[3 + 4 * k].data, *dbhh = o->out[4 + 4 * k].data;
        int64_t in = k == 0 ? d.in : h;
        ntg__xgemm_pack_b(b->isa, 0, h, g4, whh, h, pack);
        double *dbp = dbih || dbhh ? (double *)(s + l.dbp) : NULL;
        bwd_ctx c = {b->vk,        &d,         k,     ws,    k == d.layers - 1 ? dy : sq,
                     pack,         dg,         carry, dhr,   dbp,
                     (size_t)nthr, s + l.gemm, slot,  b->isa};
        ntg__xnn_parallel(b, nthr, bwd_task, &c, (size_t)nthr);
        /* the bias gradients: each task's rows summed in the recurrence (double), the tasks
         * in order: deterministic for a given thread count */
        for (int64_t j = 0; dbp && j < g4; j++) {
            double sum = 0.0;
            for (int q = 0; q < nthr; q++) sum += dbp[(int64_t)q * g4 + j];
            if (dbih) dbih[j] = (float)sum;
            if (dbhh) dbhh[j] = (float)sum;
        }
        /* dW = D^T S as (S^T D)^T: the GEMM then transposes the narrow operand (H or in
         * columns, not 4H) into its row tiles, and the [in, 4H] result is transposed back */
        if (dwhh && dwih) {
            /* both: A = [h_{t-1} | input_t] rows, one GEMM over D (packed once, not twice);
             * each output element is the same dot product over the same rows in the same
             * order as in two GEMMs (checked bitwise against them) */
            int64_t w = h + in;
            gather_cat(&d, ws, k, k > 0 ? NULL : x, in, sq, w);
            big_gemm(b, 1, w, g4, rows, sq, w, dg, g4, tw, g4, s + l.gemm);
            ntg__xnn_transpose(b, tw, h, g4, dwhh);
            ntg__xnn_transpose(b, tw + h * g4, in, g4, dwih);
        } else if (dwhh) {
            ntg__ref_lstm_gather_h(&d, ws, k, 1, sq);
            big_gemm(b, 1, h, g4, rows, sq, h, dg, g4, tw, g4, s + l.gemm);
            ntg__xnn_transpose(b, tw, h, g4, dwhh);
        } else if (dwih) {
            if (k > 0) ntg__ref_lstm_gather_h(&d, ws, k - 1, 0, sq);
            big_gemm(b, 1, in, g4, rows, k > 0 ? sq : x, in, dg, g4, tw, g4, s + l.gemm);
            ntg__xnn_transpose(b, tw, in, g4, dwih);
        }
        if (k > lowest)
            big_gemm(b, 0, rows, h, g4, dg, g4, wih, h, sq, h, s + l.gemm);
        else if (k == 0 && dx)
            big_gemm(b, 0, rows, in, g4, dg, g4, wih, in, dx, in, s + l.gemm);
    }
}

ntg_status ntg__xnn_prep_lstm_bwd(ntg_backend *b, xnn_op *o, ntg_error *err)
{
    (void)err;
    int nfi = o->n_out, nfo = (o->n_in - o->n_out) / 2;
    ntg_lstm_dims d = ntg__ref_lstm_dims(o->attr, &o->in[0].d);
    /* the reference handles the odd cases (no workspace, weights past the saves mask) */
    if (nfo < 2 || !o->in[nfi + 1].data || !o->in[0].data) return NTG_OK;
    int64_t lowest = lowest_layer(o, &d);
    for (int64_t k = lowest; k < d.layers; k++)
        if (!o->in[1 + 4 * k].data || !o->in[2 + 4 * k].data) return NTG_OK;
    size_t slot = chunk_slot(&d, 1);
    o->i[0] = (int64_t)slot;
    o->scratch = bwd_layout_of(b, &d, slot).total;
    o->run = run_lstm_bwd;
    o->impl = "xgemm";
    return NTG_OK;
}
