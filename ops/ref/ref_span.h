/* ref_span.h — pieces of the reference kernels that other CPU kernels reuse: the geometry of
 * an op's operands and the kernels over a range of its outer index (rows), so that a backend
 * that splits an op across threads runs the reference's own loops on each part instead of a
 * copy of them.  The reference kernels call the same functions over the whole range. */
#ifndef NTG_REF_SPAN_H
#define NTG_REF_SPAN_H

#include <stdint.h>

#include "ops.h"

/* ------------------------------------------------------------ axis splits */

/* A tensor seen as [outer, len, inner] around axis `ax` (row-major): line (o, i) starts at
 * o * len * inner + i and steps by inner. */
typedef struct ntg_axis_split {
    int64_t outer, len, inner;
} ntg_axis_split;

static inline ntg_axis_split ntg__axis_split(const ntg_tdesc *d, int ax)
{
    ntg_axis_split s = {1, d->dims[ax], 1};
    for (int i = 0; i < ax; i++) s.outer *= d->dims[i];
    for (int i = ax + 1; i < d->rank; i++) s.inner *= d->dims[i];
    return s;
}

/* The same around the axis an op's axis attribute names (negative: from the end). */
static inline ntg_axis_split ntg__axis_split_attr(const ntg_tdesc *d, int64_t axis_attr)
{
    return ntg__axis_split(d, ntg__axis(axis_attr, d->rank));
}

/* ----------------------------------------------------------- flip, slice */

/* dst = src reversed along the split's axis, outer blocks [o0, o1). */
void ntg__ref_flip_span(const float *src, float *dst, ntg_axis_split s, int64_t o0, int64_t o1);

/* The slice of x along its axis as [outer, nout, inner] taken from [outer, len, inner] at
 * s0, s0 + step, ...; nout is the shape rule's ceil(count / step), read from y. */
typedef struct ntg_slice_geom {
    ntg_axis_split x;
    int64_t s0, step, nout;
} ntg_slice_geom;

ntg_slice_geom ntg__ref_slice_geom(const ntg_attr *attr, const ntg_tdesc *x, const ntg_tdesc *y);
/* Outer blocks [o0, o1): forward (bwd 0) gathers x -> y; backward zeroes dx's block and
 * scatters dy into it (dy NULL: zeros). */
void ntg__ref_slice_span(const ntg_slice_geom *g, const float *x, float *y, int bwd,
                         const float *dy, float *dx, int64_t o0, int64_t o1);

/* -------------------------------------------------------------- transpose */

/* dst = src with output axis i taken from source axis perm[i], the output walked in
 * row-major order with each axis's source stride; axes of extent 1 are dropped and output
 * neighbours that are neighbours in the source too are merged, so a permutation that keeps
 * the last axis moves runs of n floats with memcpy.  `runs` runs of `n` floats in all. */
typedef struct ntg_perm_geom {
    int r;
    int64_t dims[NTG_MAX_RANK], st[NTG_MAX_RANK];
    int64_t n, sn, runs;
} ntg_perm_geom;

void ntg__ref_perm_geom(const ntg_tdesc *sd, const int *perm, ntg_perm_geom *g);
/* Output runs [k0, k1). */
void ntg__ref_perm_span(const ntg_perm_geom *g, const float *src, float *dst, int64_t k0,
                        int64_t k1);

/* -------------------------------------------------------------- maxpool1d */

typedef struct ntg_pool_geom {
    int64_t rows, len, nout, k, s, pad;
} ntg_pool_geom;

void ntg__ref_pool_geom(const ntg_attr *attr, const ntg_tdesc *x, const ntg_tdesc *y,
                        ntg_pool_geom *g);

/*
 * Index of the first maximum of window o of row xr.  The -inf padding never wins, so the
 * window is clipped to the input; ntg__pool_out_len and padding <= kernel/2 guarantee that
 * every window keeps at least one element.  NaN wins, as in torch (val > max || isnan(val)).
 */
static inline int64_t ntg__ref_pool_argmax(const float *xr, const ntg_pool_geom *g, int64_t o)
{
    int64_t lo = o * g->s - g->pad, hi = lo + g->k;
    if (lo < 0) lo = 0;
    if (hi > g->len) hi = g->len;
    int64_t best = lo;
    float m = xr[lo];
    for (int64_t i = lo + 1; i < hi; i++)
        if (xr[i] > m || xr[i] != xr[i]) {
            m = xr[i];
            best = i;
        }
    return best;
}

/* Rows [r0, r1): y from x; dx (zeroed first) from x and dy. */
void ntg__ref_maxpool_rows(const ntg_pool_geom *g, const float *x, float *y, int64_t r0,
                           int64_t r1);
void ntg__ref_maxpool_bwd_rows(const ntg_pool_geom *g, const float *x, const float *dy, float *dx,
                               int64_t r0, int64_t r1);

/* ------------------------------------------------------------------- lstm */

/* The blocks of one workspace step, each `hidden` wide (op_attrs.h, NTG_LSTM_WS_PER_STEP). */
enum { NTG_WS_I, NTG_WS_F, NTG_WS_G, NTG_WS_O, NTG_WS_C, NTG_WS_H, NTG_WS_STEP };

typedef struct ntg_lstm_dims {
    int64_t b, t, in, h, layers;
} ntg_lstm_dims;

/* x is [batch, time, in] at the actual batch; hidden and layers were checked by the op class. */
ntg_lstm_dims ntg__ref_lstm_dims(const ntg_attr *attr, const ntg_tdesc *x);

/* First float of step t of layer k of batch row b in the workspace [batch, layers, time, 6H]. */
static inline int64_t ntg__ref_lstm_ws_off(const ntg_lstm_dims *d, int64_t b, int64_t k, int64_t t)
{
    return ((b * d->layers + k) * d->t + t) * NTG_WS_STEP * d->h;
}

/* The h sequence of layer k from the workspace ws into a contiguous [B, T, H] buffer, `shift`
 * steps later (rows before the shift are zero): one GEMM over all B*T rows can then read it. */
void ntg__ref_lstm_gather_h(const ntg_lstm_dims *d, const float *ws, int64_t k, int64_t shift,
                            float *dst);

#endif /* NTG_REF_SPAN_H */
