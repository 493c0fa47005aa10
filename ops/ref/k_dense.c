/* k_dense.c — reference kernels of dense: y = act(x W^T + b) (torch.nn.Linear + activation). */
#include <math.h>
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/* Columns of the bias gradient summed per pass, in double, on the stack. */
enum { DB_CHUNK = 256 };

/* M_SQRT1_2 and friends are not ISO C. */
#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* Activations are evaluated in double and rounded once, so the oracle is as close to the
 * exact function as float storage allows (torch's float kernels are within an ulp or two). */
static float act_fwd(int act, float zf)
{
    double z = (double)zf;
    switch (act) {
    case NTG_ACT_RELU:
        return zf > 0.0f ? zf : (zf == zf ? 0.0f : zf);
    case NTG_ACT_GELU:
        /* exact GELU (torch's approximate='none'): z * Phi(z) */
        return (float)(0.5 * z * (1.0 + erf(z * SQRT1_2)));
    case NTG_ACT_TANH:
        return (float)tanh(z);
    case NTG_ACT_SIGMOID:
        return (float)(1.0 / (1.0 + exp(-z)));
    default:
        return zf;
    }
}

/* d act / dz for GELU at the pre-activation: Phi(z) + z phi(z). */
static float gelu_grad(float zf)
{
    double z = (double)zf;
    double cdf = 0.5 * (1.0 + erf(z * SQRT1_2));
    double pdf = exp(-0.5 * z * z) * INV_SQRT_2PI;
    return (float)(cdf + z * pdf);
}

static int64_t rows_of(const ntg_view *y, int64_t units)
{
    return units > 0 ? ntg__tdesc_numel(&y->d) / units : 0;
}

static void zero_view(const ntg_view *v)
{
    if (v->data) memset(v->data, 0, (size_t)ntg__tdesc_numel(&v->d) * sizeof(float));
}

void ntg__cpu_fwd_dense(const ntg_kctx *c)
{
    const float *x = c->in[0].data, *w = c->in[1].data;
    const float *b = c->n_in > 2 ? c->in[2].data : NULL;
    float *y = c->out[0].data;
    int act = (int)ntg__attr_i(c->attr, NTG_DENSE_ACT);
    int64_t units = c->in[1].d.dims[0], in = c->in[1].d.dims[1];
    int64_t rows = rows_of(&c->out[0], units);

    ntg__cpu_gemm(0, 1, rows, units, in, 1.0f, x, in, w, in, 0.0f, y, units);
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * units;
        if (b)
            for (int64_t j = 0; j < units; j++) yr[j] += b[j];
        if (act != NTG_ACT_NONE)
            for (int64_t j = 0; j < units; j++) yr[j] = act_fwd(act, yr[j]);
    }
}

/* db[j] = sum_r dz[r, j]: row order (deterministic), double accumulators, contiguous reads. */
static void column_sums(const float *dz, int64_t rows, int64_t units, float *db)
{
    double acc[DB_CHUNK];
    for (int64_t j0 = 0; j0 < units; j0 += DB_CHUNK) {
        int64_t nj = units - j0 < DB_CHUNK ? units - j0 : DB_CHUNK;
        for (int64_t j = 0; j < nj; j++) acc[j] = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            const float *zr = dz + r * units + j0;
            for (int64_t j = 0; j < nj; j++) acc[j] += (double)zr[j];
        }
        for (int64_t j = 0; j < nj; j++) db[j0 + j] = (float)acc[j];
    }
}

/*
 * in = [x, W, (b), y, dy], out = [dx, dW, (db)].  dZ = dY * act'(.) goes to scratch (rows x
 * units floats, see ntg__cpu_scratch_bytes) unless the activation is none, where dZ is dY.
 * relu, tanh and sigmoid take act' from the saved y; GELU recomputes z = x W^T + b, which is
 * why dense saves b (and not y) for it.
 */
void ntg__cpu_bwd_dense(const ntg_kctx *c)
{
    int nfi = c->n_out;
    const float *x = c->in[0].data, *w = c->in[1].data;
    const float *b = nfi > 2 ? c->in[2].data : NULL;
    const float *y = c->in[nfi].data, *dy = c->in[nfi + 1].data;
    float *dx = c->out[0].data, *dw = c->out[1].data;
    float *db = nfi > 2 ? c->out[2].data : NULL;
    int act = (int)ntg__attr_i(c->attr, NTG_DENSE_ACT);
    int64_t units = c->in[1].d.dims[0], in = c->in[1].d.dims[1];
    int64_t rows = rows_of(&c->in[nfi], units), n = rows * units;

    if (!dy) {
        for (int i = 0; i < nfi; i++) zero_view(&c->out[i]);
        return;
    }
    const float *dz = dy;
    if (act != NTG_ACT_NONE) {
        float *s = c->scratch;
        switch (act) {
        case NTG_ACT_RELU:
            for (int64_t i = 0; i < n; i++) s[i] = y[i] > 0.0f ? dy[i] : 0.0f;
            break;
        case NTG_ACT_TANH:
            for (int64_t i = 0; i < n; i++) s[i] = dy[i] * (1.0f - y[i] * y[i]);
            break;
        case NTG_ACT_SIGMOID:
            for (int64_t i = 0; i < n; i++) s[i] = dy[i] * y[i] * (1.0f - y[i]);
            break;
        default: /* GELU */
            ntg__cpu_gemm(0, 1, rows, units, in, 1.0f, x, in, w, in, 0.0f, s, units);
            for (int64_t r = 0; r < rows; r++) {
                float *sr = s + r * units;
                const float *dyr = dy + r * units;
                for (int64_t j = 0; j < units; j++)
                    sr[j] = dyr[j] * gelu_grad(b ? sr[j] + b[j] : sr[j]);
            }
            break;
        }
        dz = s;
    }
    if (dx) ntg__cpu_gemm(0, 0, rows, in, units, 1.0f, dz, units, w, in, 0.0f, dx, in);
    if (dw) ntg__cpu_gemm(1, 0, units, in, rows, 1.0f, dz, units, x, in, 0.0f, dw, in);
    if (db) column_sums(dz, rows, units, db);
}
