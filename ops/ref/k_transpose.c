/* k_transpose.c — reference kernels of transpose (torch.permute made contiguous). */
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/*
 * dst = src with output axis i taken from source axis perm[i].  The output is walked in
 * row-major order with each axis's source stride; axes of extent 1 are dropped and output
 * neighbours that are neighbours in the source too are merged, so a permutation that keeps
 * the last axis moves whole runs with memcpy.
 */
static void permute(const float *src, const ntg_tdesc *sd, const int *perm, float *dst)
{
    int rank = sd->rank, r = 0;
    int64_t sst[NTG_MAX_RANK], dims[NTG_MAX_RANK], st[NTG_MAX_RANK], s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        sst[i] = s;
        s *= sd->dims[i];
    }
    for (int i = 0; i < rank; i++) {
        int64_t d = sd->dims[perm[i]], si = sst[perm[i]];
        if (d == 1) continue;
        if (r > 0 && st[r - 1] == si * d) {
            dims[r - 1] *= d;
            st[r - 1] = si;
            continue;
        }
        dims[r] = d;
        st[r] = si;
        r++;
    }
    if (r == 0) { /* one element */
        dst[0] = src[0];
        return;
    }
    int64_t n = dims[r - 1], sn = st[r - 1], runs = s / n, idx[NTG_MAX_RANK] = {0}, off = 0;
    for (int64_t k = 0; k < runs; k++) {
        float *d = dst + k * n;
        if (sn == 1)
            memcpy(d, src + off, (size_t)n * sizeof(float));
        else
            for (int64_t j = 0; j < n; j++) d[j] = src[off + j * sn];
        for (int i = r - 2; i >= 0; i--) {
            off += st[i];
            if (++idx[i] < dims[i]) break;
            off -= st[i] * dims[i];
            idx[i] = 0;
        }
    }
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
