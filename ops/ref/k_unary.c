/* k_unary.c — reference kernels of the elementwise gelu, tanh, sigmoid, scale, exp, log, abs,
 * sqrt, softplus and identity. */
#include <math.h>
#include <string.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/* M_SQRT1_2 and friends are not ISO C. */
#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/*
 * Functions and derivatives are evaluated in double and rounded once, as dense's fused
 * activations are: the oracle is as close to the exact function as float storage allows
 * (torch's float kernels are within an ulp or two of it).
 */

static int64_t numel(const ntg_view *v)
{
    return ntg__tdesc_numel(&v->d);
}

/* The shared head of every backward here (in = [x, y, dy], out = [dx]): nothing to do when
 * dx is unwanted, zeros when dy is absent.  Returns 1 when the kernel is done. */
static int bwd_trivial(const ntg_kctx *c)
{
    if (!c->out[0].data) return 1;
    if (!c->in[2].data) {
        memset(c->out[0].data, 0, (size_t)numel(&c->in[0]) * sizeof(float));
        return 1;
    }
    return 0;
}

/* --------------------------------------------------------------------- gelu */

void ntg__cpu_fwd_gelu(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) {
        double z = (double)x[i];
        y[i] = (float)(0.5 * z * (1.0 + erf(z * SQRT1_2)));
    }
}

/* d/dx x Phi(x) = Phi(x) + x phi(x), from the saved x (y is not saved). */
void ntg__cpu_bwd_gelu(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    const float *x = c->in[0].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) {
        double z = (double)x[i];
        double cdf = 0.5 * (1.0 + erf(z * SQRT1_2)), pdf = exp(-0.5 * z * z) * INV_SQRT_2PI;
        dx[i] = (float)((double)dy[i] * (cdf + z * pdf));
    }
}

/* --------------------------------------------------------------------- tanh */

void ntg__cpu_fwd_tanh(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) y[i] = (float)tanh((double)x[i]);
}

/* 1 - y^2 from the saved y (as torch's tanh_backward). */
void ntg__cpu_bwd_tanh(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    const float *y = c->in[1].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) {
        double v = (double)y[i];
        dx[i] = (float)((double)dy[i] * (1.0 - v * v));
    }
}

/* ------------------------------------------------------------------ sigmoid */

void ntg__cpu_fwd_sigmoid(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    /* for x < -709 exp(-x) is inf and 1 / (1 + inf) the right limit 0: no special case */
    for (int64_t i = 0; i < n; i++) y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}

/* y (1 - y) from the saved y. */
void ntg__cpu_bwd_sigmoid(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    const float *y = c->in[1].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) {
        double v = (double)y[i];
        dx[i] = (float)((double)dy[i] * v * (1.0 - v));
    }
}

/* -------------------------------------------------------------------- scale */

/* torch multiplies a float tensor by a Python scalar in float (the scalar rounded to float
 * first), so the product is rounded the same way here: bitwise torch's x * factor. */
void ntg__cpu_fwd_scale(const ntg_kctx *c)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data, f = (float)ntg__attr_f(c->attr, NTG_SCALE_FACTOR);
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * f;
}

/* in = [x, y, dy], out = [dx]: dx = factor dy (neither x nor y is saved). */
void ntg__cpu_bwd_scale(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    const float *dy = c->in[2].data;
    float *dx = c->out[0].data, f = (float)ntg__attr_f(c->attr, NTG_SCALE_FACTOR);
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * f;
}

/* ------------------------------------------- exp, log, abs, sqrt, softplus */

/* Forward of the one-argument functions below, in double, rounded once.  The domain edges are
 * IEEE's, as torch's: log(0) = -inf, log and sqrt of a negative number NaN, exp overflowing
 * float to inf. */
typedef double (*un_fn)(double);

static void fwd_map(const ntg_kctx *c, un_fn f)
{
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) y[i] = (float)f((double)x[i]);
}

static double d_abs(double v)
{
    return fabs(v);
}

/* torch.nn.Softplus() (beta 1, threshold 20): x itself above the threshold, where
 * log1p(exp(x)) equals x to float precision anyway; log1p keeps the far left exact. */
static double d_softplus(double v)
{
    return v > 20.0 ? v : log1p(exp(v));
}

void ntg__cpu_fwd_exp(const ntg_kctx *c)
{
    fwd_map(c, exp);
}

/* d e^x = e^x: from the saved y (as torch's exp backward, grad * result). */
void ntg__cpu_bwd_exp(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    const float *y = c->in[1].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) dx[i] = (float)((double)dy[i] * (double)y[i]);
}

void ntg__cpu_fwd_log(const ntg_kctx *c)
{
    fwd_map(c, log);
}

/* dy / x from the saved x (torch: grad / self): inf at 0, NaN where dy is 0 there too. */
void ntg__cpu_bwd_log(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    const float *x = c->in[0].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) dx[i] = (float)((double)dy[i] / (double)x[i]);
}

void ntg__cpu_fwd_abs(const ntg_kctx *c)
{
    fwd_map(c, d_abs);
}

/* dy sign(x), sign(0) = 0 (torch's abs backward, grad * self.sgn()). */
void ntg__cpu_bwd_abs(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    const float *x = c->in[0].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        dx[i] = v > 0.0f ? dy[i] : v < 0.0f ? -dy[i] : 0.0f;
    }
}

void ntg__cpu_fwd_sqrt(const ntg_kctx *c)
{
    fwd_map(c, sqrt);
}

/* dy / (2 y) from the saved y (torch: grad / (2 * result)): inf at 0. */
void ntg__cpu_bwd_sqrt(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    const float *y = c->in[1].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) dx[i] = (float)((double)dy[i] / (2.0 * (double)y[i]));
}

void ntg__cpu_fwd_softplus(const ntg_kctx *c)
{
    fwd_map(c, d_softplus);
}

/* dy sigmoid(x) below the threshold, dy above it (torch's softplus_backward), from x. */
void ntg__cpu_bwd_softplus(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    const float *x = c->in[0].data, *dy = c->in[2].data;
    float *dx = c->out[0].data;
    int64_t n = numel(&c->in[0]);
    for (int64_t i = 0; i < n; i++) {
        double v = (double)x[i];
        dx[i] = v > 20.0 ? dy[i] : (float)((double)dy[i] / (1.0 + exp(-v)));
    }
}

/* ----------------------------------------------------------------- identity */

void ntg__cpu_fwd_identity(const ntg_kctx *c)
{
    if (c->out[0].data != c->in[0].data)
        memcpy(c->out[0].data, c->in[0].data, (size_t)numel(&c->in[0]) * sizeof(float));
}

/* in = [x, y, dy], out = [dx]: dx = dy. */
void ntg__cpu_bwd_identity(const ntg_kctx *c)
{
    if (bwd_trivial(c)) return;
    memcpy(c->out[0].data, c->in[2].data, (size_t)numel(&c->in[0]) * sizeof(float));
}
