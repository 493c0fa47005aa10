/* mm_geom.c — the geometry of a batched matmul (see mm_geom.h). */
#include "mm_geom.h"

#include <string.h>

#include "op_attrs.h"

void ntg__mm_lead_strides(const ntg_tdesc *x, const ntg_tdesc *y, int64_t *st)
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

ntg_mm_geom ntg__mm_geom_of(const ntg_attr *attr, const ntg_tdesc *a, const ntg_tdesc *b,
                            const ntg_tdesc *y)
{
    ntg_mm_geom g;
    memset(&g, 0, sizeof g);
    g.ta = ntg__attr_i(attr, NTG_MATMUL_TRANS_A) != 0;
    g.tb = ntg__attr_i(attr, NTG_MATMUL_TRANS_B) != 0;
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
    ntg__mm_lead_strides(a, y, g.sa);
    ntg__mm_lead_strides(b, y, g.sb);
    g.a_full = g.b_full = g.b_none = 1;
    for (int i = 0; i < g.lead; i++) {
        if (g.dims[i] > 1 && g.sa[i] == 0) g.a_full = 0;
        if (g.dims[i] > 1 && g.sb[i] == 0) g.b_full = 0;
        if (g.dims[i] > 1 && g.sb[i] != 0) g.b_none = 0;
    }
    return g;
}

void ntg__mm_offsets(const ntg_mm_geom *g, int64_t p, int64_t *oa, int64_t *ob)
{
    *oa = *ob = 0;
    for (int i = g->lead - 1; i >= 0; i--) {
        int64_t q = p % g->dims[i];
        p /= g->dims[i];
        *oa += q * g->sa[i];
        *ob += q * g->sb[i];
    }
}
