/* k_matmul.c — reference kernels of matmul: torch.matmul with optional transposes, broadcast. */
#include <string.h>

#include "cpu_kernels.h"
#include "op_attrs.h"

/*
 * The output's leading axes (all but the last two) as one index space, with each operand's
 * matrix stride on every leading axis (0 where that operand has extent 1 or lacks the axis:
 * numpy broadcasting).  Every output matrix is then one GEMM of an a matrix and a b matrix.
 */
typedef struct mm_geom {
    int ta, tb;
    int64_t m, n, k;
    int64_t lda, ldb;   /* row strides of the stored a and b matrices */
    int lead;           /* leading axes of the output */
    int64_t count;      /* output matrices (product of the leading extents) */
    int a_full, b_full; /* each output matrix has its own a (b) matrix: no broadcast */
    int b_none;         /* every output matrix shares one b matrix */
    int64_t dims[NTG_MAX_RANK];
    int64_t sa[NTG_MAX_RANK], sb[NTG_MAX_RANK];
} mm_geom;

static void lead_strides(const ntg_tdesc *x, const ntg_tdesc *y, int64_t *st)
{
    int lead = y->rank - 2, xlead = x->rank - 2;
    int64_t s = x->dims[x->rank - 2] * x->dims[x->rank - 1];
    for (int i = lead - 1; i >= 0; i--) {
        int ix = i - (lead - xlead);
        int64_t d = ix >= 0 ? x->dims[ix] : 1;
        st[i] = d == 1 ? 0 : s;
        s *= d;
    }
}

/* a, b: the operands' descriptions; y: the output's (all at the actual batch). */
static mm_geom mm_geom_of(const ntg_kctx *c, const ntg_tdesc *a, const ntg_tdesc *b,
                          const ntg_tdesc *y)
{
    mm_geom g;
    memset(&g, 0, sizeof g);
    g.ta = ntg__attr_i(c->attr, NTG_MATMUL_TRANS_A) != 0;
    g.tb = ntg__attr_i(c->attr, NTG_MATMUL_TRANS_B) != 0;
    g.m = y->dims[y->rank - 2];
    g.n = y->dims[y->rank - 1];
    g.k = a->dims[a->rank - (g.ta ? 2 : 1)];
    g.lda = a->dims[a->rank - 1];
    g.ldb = b->dims[b->rank - 1];
    g.lead = y->rank - 2;
    g.count = 1;
    for (int i = 0; i < g.lead; i++) {
        g.dims[i] = y->dims[i];
        g.count *= y->dims[i];
    }
    lead_strides(a, y, g.sa);
    lead_strides(b, y, g.sb);
    g.a_full = g.b_full = g.b_none = 1;
    for (int i = 0; i < g.lead; i++) {
        if (g.dims[i] > 1 && g.sa[i] == 0) g.a_full = 0;
        if (g.dims[i] > 1 && g.sb[i] == 0) g.b_full = 0;
        if (g.dims[i] > 1 && g.sb[i] != 0) g.b_none = 0;
    }
    return g;
}

/* Offsets of output matrix p's a and b matrices (elements). */
static void mm_offsets(const mm_geom *g, int64_t p, int64_t *oa, int64_t *ob)
{
    *oa = *ob = 0;
    for (int i = g->lead - 1; i >= 0; i--) {
        int64_t q = p % g->dims[i];
        p /= g->dims[i];
        *oa += q * g->sa[i];
        *ob += q * g->sb[i];
    }
}

/*
 * [rows, k] @ one b matrix, when b is shared by every output matrix and a is plain, stored
 * without transposition and never broadcast ([B, L, K] @ [K, N]): the output matrices are
 * consecutive rows of one GEMM, which blocks better than `count` small ones.
 */
static int mm_one_gemm(const mm_geom *g)
{
    return g->b_none && g->a_full && !g->ta;
}

void ntg__cpu_fwd_matmul(const ntg_kctx *c)
{
    const float *a = c->in[0].data, *b = c->in[1].data;
    float *y = c->out[0].data;
    mm_geom g = mm_geom_of(c, &c->in[0].d, &c->in[1].d, &c->out[0].d);
    if (mm_one_gemm(&g)) {
        ntg__cpu_gemm(0, g.tb, g.count * g.m, g.n, g.k, 1.0f, a, g.lda, b, g.ldb, 0.0f, y, g.n);
        return;
    }
    for (int64_t p = 0; p < g.count; p++) {
        int64_t oa, ob;
        mm_offsets(&g, p, &oa, &ob);
        ntg__cpu_gemm(g.ta, g.tb, g.m, g.n, g.k, 1.0f, a + oa, g.lda, b + ob, g.ldb, 0.0f,
                      y + p * g.m * g.n, g.n);
    }
}

static void zero_view(const ntg_view *v)
{
    if (v->data) memset(v->data, 0, (size_t)ntg__tdesc_numel(&v->d) * sizeof(float));
}

/*
 * With op(A) [m, k] and op(B) [k, n]: d op(A) = dY op(B)^T and d op(B) = op(A)^T dY; a stored
 * transposed gets the transpose of its gradient (dA = op(B) dY^T, dB = dY^T op(A)).  Matrices
 * an operand shares between output matrices (broadcast) receive the sum of their
 * contributions, in output order, so the result is deterministic.
 */
static void mm_grad_a(const mm_geom *g, const float *b, const float *dy, float beta, float *da)
{
    if (!g->ta)
        ntg__cpu_gemm(0, !g->tb, g->m, g->k, g->n, 1.0f, dy, g->n, b, g->ldb, beta, da, g->k);
    else
        ntg__cpu_gemm(g->tb, 1, g->k, g->m, g->n, 1.0f, b, g->ldb, dy, g->n, beta, da, g->m);
}

static void mm_grad_b(const mm_geom *g, const float *a, const float *dy, float beta, float *db,
                      int64_t m)
{
    if (!g->tb)
        ntg__cpu_gemm(!g->ta, 0, g->k, g->n, m, 1.0f, a, g->lda, dy, g->n, beta, db, g->n);
    else
        ntg__cpu_gemm(1, g->ta, g->n, g->k, m, 1.0f, dy, g->n, a, g->lda, beta, db, g->k);
}

/* in = [a, b, y, dy], out = [da, db]; y is not saved (its shape is). */
void ntg__cpu_bwd_matmul(const ntg_kctx *c)
{
    const float *a = c->in[0].data, *b = c->in[1].data, *dy = c->in[3].data;
    float *da = c->out[0].data, *db = c->out[1].data;
    if (!da && !db) return;
    if (!dy) {
        zero_view(&c->out[0]);
        zero_view(&c->out[1]);
        return;
    }
    mm_geom g = mm_geom_of(c, &c->in[0].d, &c->in[1].d, &c->in[2].d);
    int64_t ysz = g.m * g.n;
    if (mm_one_gemm(&g)) {
        /* the output matrices are rows of one [count * m, n] product (see mm_one_gemm) */
        mm_geom big = g;
        big.m = g.count * g.m;
        if (da) mm_grad_a(&big, b, dy, 0.0f, da);
        if (db) mm_grad_b(&g, a, dy, 0.0f, db, big.m);
        return;
    }
    /* a broadcast operand's gradient is cleared, then accumulates every contribution */
    if (da && !g.a_full) zero_view(&c->out[0]);
    if (db && !g.b_full) zero_view(&c->out[1]);
    for (int64_t p = 0; p < g.count; p++) {
        int64_t oa, ob;
        mm_offsets(&g, p, &oa, &ob);
        const float *dyp = dy + p * ysz;
        if (da) mm_grad_a(&g, b + ob, dyp, g.a_full ? 0.0f : 1.0f, da + oa);
        if (db) mm_grad_b(&g, a + oa, dyp, g.b_full ? 0.0f : 1.0f, db + ob, g.m);
    }
}
