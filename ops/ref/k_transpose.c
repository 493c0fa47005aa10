/* k_transpose.c — reference kernels of transpose (torch.permute made contiguous). */
#include <string.h>

#include "ref_kernels.h"
#include "ref_span.h"
#include "op_attrs.h"

void ntg__ref_perm_geom(const ntg_tdesc *sd, const int *perm, ntg_perm_geom *g)
{
    int rank = sd->rank, r = 0;
    int64_t sst[NTG_MAX_RANK], s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        sst[i] = s;
        s *= sd->dims[i];
    }
    for (int i = 0; i < rank; i++) {
        int64_t d = sd->dims[perm[i]], si = sst[perm[i]];
        if (d == 1) continue;
        if (r > 0 && g->st[r - 1] == si * d) {
            g->dims[r - 1] *= d;
            g->st[r - 1] = si;
            continue;
        }
        g->dims[r] = d;
        g->st[r] = si;
        r++;
    }
    if (r == 0) { /* one element: one run of one */
        g->dims[0] = 1;
        g->st[0] = 1;
        r = 1;
    }
    g->r = r;
    g->n = g->dims[r - 1];
    g->sn = g->st[r - 1];
    g->runs = s / g->n;
}

void ntg__ref_perm_span(const ntg_perm_geom *g, const float *src, float *dst, int64_t k0,
                        int64_t k1)
{
    int64_t idx[NTG_MAX_RANK] = {0}, off = 0, k = k0;
    for (int i = g->r - 2; i >= 0; i--) {
        idx[i] = k % g->dims[i];
        k /= g->dims[i];
        off += idx[i] * g->st[i];
    }
    for (k = k0; k < k1; k++) {
        float *d = dst + k * g->n;
        if (g->sn == 1)
            memcpy(d, src + off, (size_t)g->n * sizeof(float));
        else
            for (int64_t j = 0; j < g->n; j++) d[j] = src[off + j * g->sn];
        for (int i = g->r - 2; i >= 0; i--) {
            off += g->st[i];
            if (++idx[i] < g->dims[i]) break;
            off -= g->st[i] * g->dims[i];
            idx[i] = 0;
        }
    }
}

static void permute(const float *src, const ntg_tdesc *sd, const int *perm, float *dst)
{
    ntg_perm_geom g;
    ntg__ref_perm_geom(sd, perm, &g);
    ntg__ref_perm_span(&g, src, dst, 0, g.runs);
}

static void perm_of(const ntg_kctx *c, int *perm)
{
    int64_t n;
    const ntg_attr *p = ntg__attr_list(c->attr, NTG_TRANSPOSE_PERM, &n);
    for (int64_t i = 0; i < n; i++) perm[i] = (int)p[i].i;
}

void ntg__cpu_fwd_transpose(const ntg_kctx *c)
{
    int perm[NTG_MAX_RANK];
    perm_of(c, perm);
    permute(c->in[0].data, &c->in[0].d, perm, c->out[0].data);
}

/* in = [x, y, dy], out = [dx]: dy permuted back by the inverse permutation. */
void ntg__cpu_bwd_transpose(const ntg_kctx *c)
{
    const ntg_tdesc *yd = &c->in[1].d;
    float *dx = c->out[0].data;
    if (!dx) return;
    if (!c->in[2].data) {
        memset(dx, 0, (size_t)ntg__tdesc_numel(&c->in[0].d) * sizeof(float));
        return;
    }
    int perm[NTG_MAX_RANK], inv[NTG_MAX_RANK];
    perm_of(c, perm);
    for (int i = 0; i < yd->rank; i++) inv[perm[i]] = i;
    permute(c->in[2].data, yd, inv, dx);
}
