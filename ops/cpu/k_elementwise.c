/* k_elementwise.c — reference kernels of relu and of add, sub, mul with numpy broadcasting. */
#include <string.h>

#include "cpu_kernels.h"

static void zero_view(const ntg_view *v)
{
    if (v->data) memset(v->data, 0, (size_t)ntg__tdesc_numel(&v->d) * sizeof(float));
}

/* ------------------------------------------------------------------- relu */

void ntg__cpu_fwd_relu(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    int64_t n = ntg__tdesc_numel(&c->out[0].d);
    /* NaN passes through, as torch.relu */
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

/* in = [x, y, dy], out = [dx]; the mask comes from the saved y (x is not saved). */
void ntg__cpu_bwd_relu(const ntg_kctx *c)
{
    const float *y = c->in[1].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = ntg__tdesc_numel(&c->in[0].d);
    if (!dx) return;
    if (!dy) {
        zero_view(&c->out[0]);
        return;
    }
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ------------------------------------------------------------ broadcasting */

enum { BC_ADD, BC_SUB, BC_MUL };

/*
 * The output's index space with each operand's element strides (0 on its broadcast axes).
 * Axes of extent 1 are dropped and neighbours that are contiguous in every operand merged,
 * so [B, h] + [B, h] is one run and [B, 1] + [B, h] is B runs of h; the innermost stride of
 * each operand is then 0 or 1.
 */
typedef struct bcast {
    int rank;
    int64_t dims[NTG_MAX_RANK];
    int64_t st[2][NTG_MAX_RANK];
} bcast;

static void bcast_init(bcast *it, const ntg_tdesc *a, const ntg_tdesc *b, const ntg_tdesc *o)
{
    const ntg_tdesc *src[2] = {a, b};
    int64_t dims[NTG_MAX_RANK], st[2][NTG_MAX_RANK];
    for (int k = 0; k < 2; k++) {
        int64_t s = 1;
        for (int i = o->rank - 1; i >= 0; i--) {
            int ik = i - (o->rank - src[k]->rank);
            int64_t d = ik >= 0 ? src[k]->dims[ik] : 1;
            st[k][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    for (int i = 0; i < o->rank; i++) dims[i] = o->dims[i];

    int r = 0;
    for (int i = 0; i < o->rank; i++) {
        if (dims[i] == 1) continue;
        if (r > 0 && it->st[0][r - 1] == st[0][i] * dims[i] &&
            it->st[1][r - 1] == st[1][i] * dims[i]) {
            /* axis r-1 steps over whole runs of axis i in both operands: merge */
            it->dims[r - 1] *= dims[i];
            it->st[0][r - 1] = st[0][i];
            it->st[1][r - 1] = st[1][i];
            continue;
        }
        it->dims[r] = dims[i];
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

/* Number of innermost runs (the product of the outer axes). */
static int64_t bcast_runs(const bcast *it)
{
    int64_t n = 1;
    for (int i = 0; i < it->rank - 1; i++) n *= it->dims[i];
    return n;
}

/* Advance the odometer over the outer axes by one run, keeping both operands' offsets. */
static void bcast_next(const bcast *it, int64_t *idx, int64_t off[2])
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

static void bcast_fwd(const ntg_kctx *c, int op)
{
    const float *a = c->in[0].data, *b = c->in[1].data;
    float *y = c->out[0].data;
    bcast it;
    bcast_init(&it, &c->in[0].d, &c->in[1].d, &c->out[0].d);
    int64_t n = it.dims[it.rank - 1], runs = bcast_runs(&it);
    int64_t sa = it.st[0][it.rank - 1], sb = it.st[1][it.rank - 1];
    int64_t idx[NTG_MAX_RANK] = {0}, off[2] = {0, 0};
    for (int64_t r = 0; r < runs; r++, bcast_next(&it, idx, off)) {
        const float *pa = a + off[0], *pb = b + off[1];
        float *py = y + r * n;
        /* An inner stride is 0 only where that operand is broadcast (then the other's is 1)
         * or the run has one element; each case is spelled out so that its loop vectorises. */
        if ((sa || n == 1) && (sb || n == 1)) {
            if (op == BC_ADD)
                for (int64_t j = 0; j < n; j++) py[j] = pa[j] + pb[j];
            else if (op == BC_SUB)
                for (int64_t j = 0; j < n; j++) py[j] = pa[j] - pb[j];
            else
                for (int64_t j = 0; j < n; j++) py[j] = pa[j] * pb[j];
        } else if (!sa) {
            float va = pa[0];
            if (op == BC_ADD)
                for (int64_t j = 0; j < n; j++) py[j] = va + pb[j];
            else if (op == BC_SUB)
                for (int64_t j = 0; j < n; j++) py[j] = va - pb[j];
            else
                for (int64_t j = 0; j < n; j++) py[j] = va * pb[j];
        } else {
            float vb = pb[0];
            if (op == BC_ADD)
                for (int64_t j = 0; j < n; j++) py[j] = pa[j] + vb;
            else if (op == BC_SUB)
                for (int64_t j = 0; j < n; j++) py[j] = pa[j] - vb;
            else
                for (int64_t j = 0; j < n; j++) py[j] = pa[j] * vb;
        }
    }
}

/*
 * Gradient of operand k (0 = a, 1 = b): g = dy * sign (* the other operand for mul), summed
 * over the axes operand k was broadcast along.  Runs along which k is broadcast are summed
 * in double before touching the output; the order is fixed, so results are reproducible.
 */
static void bcast_grad(const ntg_kctx *c, int op, int k)
{
    const ntg_view *gv = &c->out[k];
    float *g = gv->data;
    const float *dy = c->in[3].data;
    const float *other = op == BC_MUL ? c->in[1 - k].data : NULL;
    float sign = op == BC_SUB && k == 1 ? -1.0f : 1.0f;
    if (!g) return;
    zero_view(gv);
    if (!dy) return;

    bcast it;
    bcast_init(&it, &c->in[0].d, &c->in[1].d, &c->in[3].d);
    int64_t n = it.dims[it.rank - 1], runs = bcast_runs(&it);
    int64_t sg = it.st[k][it.rank - 1], so = it.st[1 - k][it.rank - 1];
    int64_t idx[NTG_MAX_RANK] = {0}, off[2] = {0, 0};
    for (int64_t r = 0; r < runs; r++, bcast_next(&it, idx, off)) {
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

void ntg__cpu_fwd_add(const ntg_kctx *c)
{
    bcast_fwd(c, BC_ADD);
}

void ntg__cpu_fwd_sub(const ntg_kctx *c)
{
    bcast_fwd(c, BC_SUB);
}

void ntg__cpu_fwd_mul(const ntg_kctx *c)
{
    bcast_fwd(c, BC_MUL);
}

/* in = [a, b, y, dy], out = [da, db]; mul reads the saved a and b. */
void ntg__cpu_bwd_add(const ntg_kctx *c)
{
    bcast_grad(c, BC_ADD, 0);
    bcast_grad(c, BC_ADD, 1);
}

void ntg__cpu_bwd_sub(const ntg_kctx *c)
{
    bcast_grad(c, BC_SUB, 0);
    bcast_grad(c, BC_SUB, 1);
}

void ntg__cpu_bwd_mul(const ntg_kctx *c)
{
    bcast_grad(c, BC_MUL, 0);
    bcast_grad(c, BC_MUL, 1);
}
