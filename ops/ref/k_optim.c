/* k_optim.c — reference kernels of the in-place optimizer ops: SGD, Adam/AdamW, clip_grad_norm. */
#include <math.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/*
 * Semantics are torch 1.13's single-tensor (non-foreach, non-fused) code paths.  Torch does
 * each tensor op in float and rounds after every one of them (with vectorisation and FMA
 * deciding the last bits); here the scalar factors and each element's whole update are
 * computed in double and rounded once when stored.  That is the exact formula to within
 * float storage, independent of compiler contraction, so it serves as the oracle that
 * every backend (and torch itself, a few ulps away) is measured against.
 */

/* The step number t of the control tensor; the runtime sets t >= 1, and a 0 is read as the
 * first step so that Adam's bias correction cannot divide by zero. */
static double ctl_step(const float *ctl)
{
    double t = (double)ctl[NTG_CTL_STEP];
    return t >= 1.0 ? t : 1.0;
}

/* in = [param, grad, ctl, (momentum buffer)]: torch.optim.sgd._single_tensor_sgd. */
void ntg__cpu_fwd_sgd(const ntg_kctx *c)
{
    float *p = c->in[0].data, *buf = c->n_in > 3 ? c->in[3].data : NULL;
    const float *g = c->in[1].data, *ctl = c->in[2].data;
    double momentum = ntg__attr_f(c->attr, NTG_SGD_MOMENTUM);
    double dampening = ntg__attr_f(c->attr, NTG_SGD_DAMPENING);
    double wd = ntg__attr_f(c->attr, NTG_SGD_WEIGHT_DECAY);
    int nesterov = ntg__attr_i(c->attr, NTG_SGD_NESTEROV) != 0;
    double lr = (double)ctl[NTG_CTL_LR];
    /* torch creates the buffer as a copy of d_p on the first step (no dampening then) */
    int first = ctl_step(ctl) == 1.0;
    int64_t n = ntg__tdesc_numel(&c->in[0].d);

    for (int64_t i = 0; i < n; i++) {
        double pi = (double)p[i], d = (double)g[i];
        if (wd != 0.0) d += wd * pi;
        if (momentum != 0.0 && buf) {
            double b = first ? d : momentum * (double)buf[i] + (1.0 - dampening) * d;
            buf[i] = (float)b;
            d = nesterov ? d + momentum * b : b;
        }
        p[i] = (float)(pi - lr * d);
    }
}

/* in = [param, grad, m, v, ctl]: torch.optim.adam._single_tensor_adam, or
 * torch.optim.adamw._single_tensor_adamw when decoupled. */
void ntg__cpu_fwd_adam(const ntg_kctx *c)
{
    float *p = c->in[0].data, *m = c->in[2].data, *v = c->in[3].data;
    const float *g = c->in[1].data, *ctl = c->in[4].data;
    double beta1 = ntg__attr_f(c->attr, NTG_ADAM_BETA1);
    double beta2 = ntg__attr_f(c->attr, NTG_ADAM_BETA2);
    double eps = ntg__attr_f(c->attr, NTG_ADAM_EPS);
    double wd = ntg__attr_f(c->attr, NTG_ADAM_WEIGHT_DECAY);
    int decoupled = ntg__attr_i(c->attr, NTG_ADAM_DECOUPLED) != 0;
    double lr = (double)ctl[NTG_CTL_LR], t = ctl_step(ctl);
    double bias_correction1 = 1.0 - pow(beta1, t);
    double bias_correction2 = 1.0 - pow(beta2, t);
    double step_size = lr / bias_correction1;
    double bias_correction2_sqrt = sqrt(bias_correction2);
    double decay = 1.0 - lr * wd;
    int64_t n = ntg__tdesc_numel(&c->in[0].d);

    for (int64_t i = 0; i < n; i++) {
        double pi = (double)p[i], gi = (double)g[i];
        if (decoupled)
            pi *= decay;
        else if (wd != 0.0)
            gi += wd * pi;
        double mi = (double)m[i] * beta1 + gi * (1.0 - beta1);
        double vi = (double)v[i] * beta2 + (1.0 - beta2) * gi * gi;
        double denom = sqrt(vi) / bias_correction2_sqrt + eps;
        m[i] = (float)mi;
        v[i] = (float)vi;
        p[i] = (float)(pi - step_size * mi / denom);
    }
}

/* in = [grads...], out = [total norm [1]]: torch.nn.utils.clip_grad_norm_ (norm_type 2,
 * error_if_nonfinite False).  The sum of squares runs over the inputs in order, each in
 * memory order, in double. */
void ntg__cpu_fwd_clip_grad_norm(const ntg_kctx *c)
{
    double max_norm = ntg__attr_f(c->attr, NTG_CLIP_MAX_NORM), ss = 0.0;
    for (int k = 0; k < c->n_in; k++) {
        const float *g = c->in[k].data;
        int64_t n = ntg__tdesc_numel(&c->in[k].d);
        for (int64_t i = 0; i < n; i++) ss += (double)g[i] * (double)g[i];
    }
    double total = sqrt(ss);
    double clip_coef = max_norm / (total + 1e-6);
    /* torch multiplies by clamp(clip_coef, max=1): a factor of 1 changes nothing, so it is
     * skipped, but a NaN norm still makes every gradient NaN, as there */
    if (!(clip_coef >= 1.0))
        for (int k = 0; k < c->n_in; k++) {
            float *g = c->in[k].data;
            int64_t n = ntg__tdesc_numel(&c->in[k].d);
            for (int64_t i = 0; i < n; i++) g[i] = (float)((double)g[i] * clip_coef);
        }
    float *out = c->out[0].data;
    out[0] = (float)total;
}
