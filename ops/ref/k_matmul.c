/* k_matmul.c — reference kernels of matmul: torch.matmul with optional transposes, broadcast. */
#include <string.h>

#include "ref_kernels.h"
#include "mm_geom.h"
#include "op_attrs.h"

void ntg__cpu_fwd_matmul(const ntg_kctx *c)
{
    const float *a = c->in[0].data, *b = c->in[1].data;
    float *y = c->out[0].data;
    ntg_mm_geom g = ntg__mm_geom_of(c->attr, &c->in[0].d, &c->in[1].d, &c->out[0].d);
    if (ntg__mm_one_gemm(&g)) {
        ntg__cpu_gemm(0, g.tb, g.count * g.m, g.n, g.k, 1.0f, a, g.lda, b, g.ldb, 0.0f, y, g.n);
        return;
    }
    for (int64_t p = 0; p < g.count; p++) {
        int64_t oa, ob;
        ntg__mm_offsets(&g, p, &oa, &ob);
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
static void mm_grad_a(const ntg_mm_geom *g, const float *b, const float *dy, float beta, float *da)
{
    if (!g->ta)
        ntg__cpu_gemm(0, !g->tb, g->m, g->k, g->n, 1.0f, dy, g->n, b, g->ldb, beta, da, g->k);
    else
        ntg__cpu_gemm(g->tb, 1, g->k, g->m, g->n, 1.0f, b, g->ldb, dy, g->n, beta, da, g->m);
}

static void mm_grad_b(const ntg_mm_geom *g, const float *a, const float *dy, float beta, float *db,
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
    ntg_mm_geom g = ntg__mm_geom_of(c->attr, &c->in[0].d, &c->in[1].d, &c->in[2].d);
    int64_t ysz = g.m * g.n;
    if (ntg__mm_one_gemm(&g)) {
        /* the output matrices are rows of one [count * m, n] product (see ntg__mm_one_gemm) */
        ntg_mm_geom big = g;
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
        ntg__mm_offsets(&g, p, &oa, &ob);
        const float *dyp = dy + p * ysz;
        if (da) mm_grad_a(&g, b + ob, dyp, g.a_full ? 0.0f : 1.0f, da + oa);
        if (db) mm_grad_b(&g, a + oa, dyp, g.b_full ? 0.0f : 1.0f, db + ob, g.m);
    }
}
