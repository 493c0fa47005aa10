/* bcast.c — numpy broadcasting of a binary elementwise op (see bcast.h). */
#include "bcast.h"

void ntg__bcast_init(ntg_bcast *it, const ntg_tdesc *a, const ntg_tdesc *b, const ntg_tdesc *o)
{
    const ntg_tdesc *src[2] = {a, b};
    int64_t st[2][NTG_MAX_RANK];
    for (int k = 0; k < 2; k++) {
        int64_t s = 1;
        for (int i = o->rank - 1; i >= 0; i--) {
            int ik = i - (o->rank - src[k]->rank);
            int64_t d = ik >= 0 ? src[k]->dims[ik] : 1;
            st[k][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    int r = 0;
    for (int i = 0; i < o->rank; i++) {
        if (o->dims[i] == 1) continue;
        if (r > 0 && it->st[0][r - 1] == st[0][i] * o->dims[i] &&
            it->st[1][r - 1] == st[1][i] * o->dims[i]) {
            /* axis r-1 steps over whole runs of axis i in both operands: merge */
            it->dims[r - 1] *= o->dims[i];
            it->st[0][r - 1] = st[0][i];
            it->st[1][r - 1] = st[1][i];
            continue;
        }
        it->dims[r] = o->dims[i];
        it->st[0][r] = st[0][i];
        it->st[1][r] = st[1][i];
        r++;
    }
    if (r == 0) {
        it->dims[0] = 1;
        it->st[0][0] = it->st[1][0] = 0;
        r = 1;
    }
    it->rank = r;
}

int64_t ntg__bcast_runs(const ntg_bcast *it)
{
    int64_t n = 1;
    for (int i = 0; i < it->rank - 1; i++) n *= it->dims[i];
    return n;
}

void ntg__bcast_seek(const ntg_bcast *it, int64_t r, int64_t *idx, int64_t off[2])
{
    off[0] = off[1] = 0;
    for (int i = it->rank - 2; i >= 0; i--) {
        idx[i] = r % it->dims[i];
        r /= it->dims[i];
        off[0] += idx[i] * it->st[0][i];
        off[1] += idx[i] * it->st[1][i];
    }
}

void ntg__bcast_next(const ntg_bcast *it, int64_t *idx, int64_t off[2])
{
    for (int i = it->rank - 2; i >= 0; i--) {
        off[0] += it->st[0][i];
        off[1] += it->st[1][i];
        if (++idx[i] < it->dims[i]) return;
        off[0] -= it->st[0][i] * it->dims[i];
        off[1] -= it->st[1][i] * it->dims[i];
        idx[i] = 0;
    }
}

void ntg__bcast_span(const ntg_bcast *it, int op, const float *a, const float *b, float *y,
                     int64_t r0, int64_t r1, int64_t e0, int64_t e1)
{
    int64_t n = it->dims[it->rank - 1];
    int64_t sa = it->st[0][it->rank - 1], sb = it->st[1][it->rank - 1];
    int64_t idx[NTG_MAX_RANK] = {0}, off[2];
    ntg__bcast_seek(it, r0, idx, off);
    for (int64_t r = r0; r < r1; r++, ntg__bcast_next(it, idx, off)) {
        const float *pa = a + off[0] + (sa ? e0 : 0), *pb = b + off[1] + (sb ? e0 : 0);
        float *py = y + r * n + e0;
        int64_t m = e1 - e0;
        /* An inner stride is 0 only where that operand is broadcast (then the other's is 1)
         * or the run has one element; each case is spelled out so that its loop vectorises. */
        if ((sa || n == 1) && (sb || n == 1)) {
            if (op == NTG_BC_ADD)
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] + pb[j];
            else if (op == NTG_BC_SUB)
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] - pb[j];
            else
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] * pb[j];
        } else if (!sa) {
            float va = pa[0];
            if (op == NTG_BC_ADD)
                for (int64_t j = 0; j < m; j++) py[j] = va + pb[j];
            else if (op == NTG_BC_SUB)
                for (int64_t j = 0; j < m; j++) py[j] = va - pb[j];
            else
                for (int64_t j = 0; j < m; j++) py[j] = va * pb[j];
        } else {
            float vb = pb[0];
            if (op == NTG_BC_ADD)
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] + vb;
            else if (op == NTG_BC_SUB)
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] - vb;
            else
                for (int64_t j = 0; j < m; j++) py[j] = pa[j] * vb;
        }
    }
}

void ntg__bcast_grad(const ntg_bcast *it, int op, int k, const float *dy, const float *other,
                     float *g)
{
    float sign = op == NTG_BC_SUB && k == 1 ? -1.0f : 1.0f;
    if (op != NTG_BC_MUL) other = NULL;
    int64_t n = it->dims[it->rank - 1], runs = ntg__bcast_runs(it);
    int64_t sg = it->st[k][it->rank - 1], so = it->st[1 - k][it->rank - 1];
    int64_t idx[NTG_MAX_RANK] = {0}, off[2] = {0, 0};
    for (int64_t r = 0; r < runs; r++, ntg__bcast_next(it, idx, off)) {
        float *pg = g + off[k];
        const float *py = dy + r * n, *po = other ? other + off[1 - k] : NULL;
        if (sg || n == 1) {
            if (!po)
                for (int64_t j = 0; j < n; j++) pg[j] += sign * py[j];
            else if (so || n == 1)
                for (int64_t j = 0; j < n; j++) pg[j] += py[j] * po[j];
            else
                for (int64_t j = 0; j < n; j++) pg[j] += py[j] * po[0];
        } else {
            /* operand k is broadcast along this run, so the other one is not (stride 1) */
            double s = 0.0;
            if (po)
                for (int64_t j = 0; j < n; j++) s += (double)py[j] * (double)po[j];
            else
                for (int64_t j = 0; j < n; j++) s += (double)py[j];
            pg[0] += sign * (float)s;
        }
    }
}
