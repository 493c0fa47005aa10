/* mm_geom.h — the geometry of a batched matmul, shared by every backend's matmul kernels. */
#ifndef NTG_MM_GEOM_H
#define NTG_MM_GEOM_H

#include <stdint.h>

#include "ops.h"

/*
 * The output's leading axes (all but the last two) as one index space, with each operand's
 * matrix stride on every leading axis (0 where that operand has extent 1 or lacks the axis:
 * numpy broadcasting).  Every output matrix is then one GEMM of an a matrix and a b matrix.
 */
typedef struct ntg_mm_geom {
    int ta, tb;
    int64_t m, n, k;
    int64_t lda, ldb;   /* row strides of the stored a and b matrices */
    int lead;           /* leading axes of the output */
    int64_t count;      /* output matrices (product of the leading extents) */
    int a_full, b_full; /* each output matrix has its own a (b) matrix: no broadcast */
    int b_none;         /* every output matrix shares one b matrix */
    int64_t dims[NTG_MAX_RANK];
    int64_t sa[NTG_MAX_RANK], sb[NTG_MAX_RANK];
} ntg_mm_geom;

/* st[i]: x's matrix stride on y's leading axis i (0 where x is broadcast along it). */
void ntg__mm_lead_strides(const ntg_tdesc *x, const ntg_tdesc *y, int64_t *st);

/* The geometry of y = op(a) @ op(b) under the matmul attributes `attr` (trans_a, trans_b);
 * a, b, y as the kernel sees them (at the actual batch). */
ntg_mm_geom ntg__mm_geom_of(const ntg_attr *attr, const ntg_tdesc *a, const ntg_tdesc *b,
                            const ntg_tdesc *y);

/* Offsets (elements) of output matrix p's a and b matrices. */
void ntg__mm_offsets(const ntg_mm_geom *g, int64_t p, int64_t *oa, int64_t *ob);

/*
 * [rows, k] @ one b matrix, when b is shared by every output matrix and a is plain, stored
 * without transposition and never broadcast ([B, L, K] @ [K, N]): the output matrices are
 * consecutive rows of one GEMM, which blocks better than `count` small ones.
 */
static inline int ntg__mm_one_gemm(const ntg_mm_geom *g)
{
    return g->b_none && g->a_full && !g->ta;
}

#endif /* NTG_MM_GEOM_H */
