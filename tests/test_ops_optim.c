/* test_ops_optim.c — the in-place optimizer kernels (SGD, Adam/AdamW, clip_grad_norm) vs torch. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "backend.h"
#include "ref/ref_kernels.h"
#include "ops_harness.h"
#include "testutil.h"

/* Kernels keep parameters and state in float between steps, the references in double: after
 * three steps they differ by a few float roundings, far inside 1e-6 of the largest value. */
#define TOL 1e-6

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

static float *new_floats(size_t n)
{
    float *x = calloc(n ? n : 1, sizeof *x);
    cr_assert_not_null(x);
    return x;
}

static double *new_doubles(size_t n)
{
    double *x = calloc(n ? n : 1, sizeof *x);
    cr_assert_not_null(x);
    return x;
}

static void widen(double *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = (double)src[i];
}

/* |got - want| <= 1e-6 |want| elementwise (an absolute 1e-12 floor for zeros). */
static void expect_each(const float *got, const double *want, size_t n, const char *what, int step)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)got[i] - want[i]) <= TOL * fmax(fabs(want[i]), 1e-6),
                  "%s, step %d, element %zu: %.9g, expected %.9g", what, step, i, (double)got[i],
                  want[i]);
}

static double expect_close(const float *got, const double *want, size_t n, const char *what,
                           int step)
{
    double err = tu_max_abs_rel_d(got, want, n);
    cr_assert(err <= TOL, "%s, step %d: max-abs-rel error %.3g > %.0e", what, step, err, TOL);
    return err;
}

static void set_ctl(float *ctl, double lr, int step)
{
    ctl[NTG_CTL_LR] = (float)lr;
    ctl[NTG_CTL_STEP] = (float)step;
    ctl[2] = ctl[3] = 0.0f;
}

/* ============================================================ references */

/*
 * torch 1.13, torch/optim/sgd.py, _single_tensor_sgd, line by line for one parameter (the
 * `momentum_buffer_list[i] is None` of the first step is `*have_buf == 0`).
 */
typedef struct sgd_cfg {
    double momentum, dampening, weight_decay;
    int nesterov;
} sgd_cfg;

static void ref_sgd(const sgd_cfg *o, double lr, double *param, const double *grad, double *buf,
                    int *have_buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double d_p = grad[i];
        if (o->weight_decay != 0) d_p = d_p + o->weight_decay * param[i];
        if (o->momentum != 0) {
            if (!*have_buf)
                buf[i] = d_p; /* torch.clone(d_p).detach() */
            else              /* buf.mul_(momentum).add_(d_p, alpha=1 - dampening) */
                buf[i] = buf[i] * o->momentum + (1 - o->dampening) * d_p;
            if (o->nesterov)
                d_p = d_p + o->momentum * buf[i];
            else
                d_p = buf[i];
        }
        param[i] = param[i] + (-lr) * d_p; /* param.add_(d_p, alpha=-lr) */
    }
    *have_buf = 1;
}

/*
 * torch 1.13, torch/optim/adam.py, _single_tensor_adam (and torch/optim/adamw.py,
 * _single_tensor_adamw when decoupled), amsgrad/maximize/capturable off; `step` is the
 * already incremented state_steps[i].
 */
typedef struct adam_cfg {
    double beta1, beta2, eps, weight_decay;
    int decoupled;
} adam_cfg;

static void ref_adam(const adam_cfg *o, double lr, double step, double *param,
                     const double *grad_in, double *exp_avg, double *exp_avg_sq, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double grad = grad_in[i];
        if (o->decoupled) /* AdamW: param.mul_(1 - lr * weight_decay) */
            param[i] = param[i] * (1 - lr * o->weight_decay);
        else if (o->weight_decay != 0) /* grad = grad.add(param, alpha=weight_decay) */
            grad = grad + o->weight_decay * param[i];
        /* exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1) */
        exp_avg[i] = exp_avg[i] * o->beta1 + grad * (1 - o->beta1);
        /* exp_avg_sq.mul_(beta2).addcmul_(grad, grad.conj(), value=1 - beta2) */
        exp_avg_sq[i] = exp_avg_sq[i] * o->beta2 + (1 - o->beta2) * grad * grad;
        double bias_correction1 = 1 - pow(o->beta1, step);
        double bias_correction2 = 1 - pow(o->beta2, step);
        double step_size = lr / bias_correction1;
        double bias_correction2_sqrt = sqrt(bias_correction2);
        /* denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps) */
        double denom = sqrt(exp_avg_sq[i]) / bias_correction2_sqrt + o->eps;
        /* param.addcdiv_(exp_avg, denom, value=-step_size) */
        param[i] = param[i] + (-step_size) * exp_avg[i] / denom;
    }
}

/* ================================================================== SGD */

/* One parameter of n elements with its gradient, control tensor and (with momentum) buffer. */
typedef struct sgd_run {
    oh_case t;
    float *p, *g, *ctl, *buf;
    size_t n;
} sgd_run;

static void sgd_setup(sgd_run *s, const sgd_cfg *o, ntg_tdesc d, const float *p0)
{
    memset(s, 0, sizeof *s);
    s->n = oh_numel(&d);
    oh_case_init(&s->t, NTG_OP_sgd);
    oh_attrs_set_f(&s->t.attrs, NTG_SGD_MOMENTUM, o->momentum);
    oh_attrs_set_f(&s->t.attrs, NTG_SGD_DAMPENING, o->dampening);
    oh_attrs_set_i(&s->t.attrs, NTG_SGD_NESTEROV, o->nesterov);
    oh_attrs_set_f(&s->t.attrs, NTG_SGD_WEIGHT_DECAY, o->weight_decay);
    s->p = new_floats(s->n);
    s->g = new_floats(s->n);
    s->ctl = new_floats(NTG_CTL_SIZE);
    memcpy(s->p, p0, s->n * sizeof *s->p);
    oh_case_input(&s->t, d, s->p);
    oh_case_input(&s->t, d, s->g);
    oh_case_input(&s->t, oh_shape(0, 1, NTG_CTL_SIZE), s->ctl);
    if (o->momentum != 0) {
        /* STATE storage starts zeroed; torch's first step ignores it anyway */
        s->buf = new_floats(s->n);
        oh_case_input(&s->t, d, s->buf);
    }
}

static void sgd_step(sgd_run *s, double lr, int step)
{
    set_ctl(s->ctl, lr, step);
    /* param and buffer are updated in place; grad and ctl must stay untouched */
    cr_assert_eq(oh_forward_inplace(&s->t, ntg__cpu_fwd[NTG_OP_sgd], ntg__cpu_scratch_bytes,
                                    s->buf ? 0x9u : 0x1u),
                 0, "sgd: %s", s->t.msg);
}

static void sgd_free(sgd_run *s)
{
    free(s->p);
    free(s->g);
    free(s->ctl);
    free(s->buf);
    oh_case_free(&s->t);
}

/* Three steps of lr 0.1 with the gradient g held fixed; want_p[k] and want_buf[k] are the
 * values after step k + 1. */
static void sgd_by_hand(const sgd_cfg *o, const char *what, const float *p0, const float *g,
                        size_t n, const double (*want_p)[3], const double (*want_buf)[3])
{
    sgd_run s;
    sgd_setup(&s, o, oh_shape(0, 1, (int)n), p0);
    memcpy(s.g, g, n * sizeof *g);
    for (int k = 0; k < 3; k++) {
        sgd_step(&s, 0.1, k + 1);
        expect_each(s.p, want_p[k], n, what, k + 1);
        if (want_buf) expect_each(s.buf, want_buf[k], n, what, k + 1);
    }
    sgd_free(&s);
}

Test(ops_optim, sgd_plain_by_hand)
{
    /* p -= 0.1 g three times */
    static const float p0[] = {1, -2, 0.5f}, g[] = {0.1f, 0.2f, -0.3f};
    static const double want[3][3] = {
        {0.99, -2.02, 0.53}, {0.98, -2.04, 0.56}, {0.97, -2.06, 0.59}};
    sgd_cfg o = {0, 0, 0, 0};
    sgd_by_hand(&o, "sgd", p0, g, 3, want, NULL);
}

Test(ops_optim, sgd_momentum_by_hand_first_step_sets_the_buffer)
{
    /* momentum 0.9: buf = g, then 0.9 buf + g: g, 1.9 g, 2.71 g; p0 - 0.1 (1, 2.9, 5.61) g */
    static const float p0[] = {1, -2, 0.5f}, g[] = {1, -0.5f, 2};
    double want_p[3][3], want_b[3][3];
    static const double bk[] = {1, 1.9, 2.71}, pk[] = {0.1, 0.29, 0.561};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) {
            want_b[k][i] = bk[k] * g[i];
            want_p[k][i] = p0[i] - pk[k] * g[i];
        }
    sgd_cfg o = {0.9, 0, 0, 0};
    sgd_by_hand(&o, "sgd momentum", p0, g, 3, (const double(*)[3])want_p,
                (const double(*)[3])want_b);
}

Test(ops_optim, sgd_dampening_by_hand_not_on_the_first_step)
{
    /* momentum 0.9, dampening 0.5: buf = g (undamped), 0.9 g + 0.5 g = 1.4 g, 1.26 g + 0.5 g =
     * 1.76 g; p0 - 0.1 (1, 2.4, 4.16) g */
    static const float p0[] = {0.25f, -1, 3}, g[] = {2, 0.5f, -1};
    double want_p[3][3], want_b[3][3];
    static const double bk[] = {1, 1.4, 1.76}, pk[] = {0.1, 0.24, 0.416};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) {
            want_b[k][i] = bk[k] * g[i];
            want_p[k][i] = p0[i] - pk[k] * g[i];
        }
    sgd_cfg o = {0.9, 0.5, 0, 0};
    sgd_by_hand(&o, "sgd dampening", p0, g, 3, (const double(*)[3])want_p,
                (const double(*)[3])want_b);
}

Test(ops_optim, sgd_nesterov_by_hand)
{
    /* momentum 0.9, Nesterov: buf g, 1.9 g, 2.71 g; the step is g + 0.9 buf = 1.9 g, 2.71 g,
     * 3.439 g; p0 - 0.1 (1.9, 4.61, 8.049) g */
    static const float p0[] = {1, 0, -1}, g[] = {0.5f, -1, 0.25f};
    double want_p[3][3], want_b[3][3];
    static const double bk[] = {1, 1.9, 2.71}, pk[] = {0.19, 0.461, 0.8049};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) {
            want_b[k][i] = bk[k] * g[i];
            want_p[k][i] = p0[i] - pk[k] * g[i];
        }
    sgd_cfg o = {0.9, 0, 0, 1};
    sgd_by_hand(&o, "sgd nesterov", p0, g, 3, (const double(*)[3])want_p,
                (const double(*)[3])want_b);
}

Test(ops_optim, sgd_weight_decay_by_hand)
{
    /* wd 0.1, lr 0.1: p <- p - 0.1 (g + 0.1 p) = 0.99 p - 0.1 g
     * p = 1, g = 0.5:  0.94, 0.8806, 0.821794
     * p = -2, g = 0:   -1.98, -1.9602, -1.940598 */
    static const float p0[] = {1, -2}, g[] = {0.5f, 0};
    static const double want[3][3] = {{0.94, -1.98}, {0.8806, -1.9602}, {0.821794, -1.940598}};
    sgd_cfg o = {0, 0, 0.1, 0};
    sgd_by_hand(&o, "sgd weight decay", p0, g, 2, want, NULL);
}

Test(ops_optim, sgd_matches_torch_reference_over_three_steps)
{
    static const sgd_cfg cfgs[] = {
        {0, 0, 0, 0},    {0.9, 0, 0, 0},    {0.9, 0.3, 0, 0},    {0.8, 0, 0, 1},
        {0, 0, 0.01, 0}, {0.9, 0, 0.05, 0}, {0.9, 0.3, 0.05, 0}, {0.95, 0, 0.02, 1},
    };
    static const int shp[][2] = {{1, 1}, {1, 7}, {2, 13}, {2, 129}};
    static const double lrs[] = {0.05, 0.02, 0.01}; /* a decaying schedule through ctl */
    tu_rng r = {77};
    double worst = 0;
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
        for (size_t k = 0; k < sizeof shp / sizeof shp[0]; k++) {
            ntg_tdesc d = shp[k][0] == 1 ? oh_shape(0, 1, shp[k][1]) : oh_shape(0, 2, shp[k][1], 3);
            size_t n = oh_numel(&d);
            float *p0 = new_floats(n);
            tu_fill(&r, p0, n, -1, 1);
            sgd_run s;
            sgd_setup(&s, &cfgs[c], d, p0);
            double *p = new_doubles(n), *g = new_doubles(n), *buf = new_doubles(n);
            int have_buf = 0;
            widen(p, p0, n);
            for (int step = 1; step <= 3; step++) {
                tu_fill(&r, s.g, n, -1, 1);
                widen(g, s.g, n);
                ref_sgd(&cfgs[c], (double)(float)lrs[step - 1], p, g, buf, &have_buf, n);
                sgd_step(&s, lrs[step - 1], step);
                worst = maxd(worst, expect_close(s.p, p, n, "sgd param", step));
                if (s.buf) worst = maxd(worst, expect_close(s.buf, buf, n, "sgd buffer", step));
            }
            free(p0);
            free(p);
            free(g);
            free(buf);
            sgd_free(&s);
        }
    cr_log_info("sgd: worst max-abs-rel %.2e", worst);
}

/* ================================================================= Adam */

typedef struct adam_run {
    oh_case t;
    float *p, *g, *m, *v, *ctl;
    size_t n;
} adam_run;

static void adam_setup(adam_run *s, const adam_cfg *o, ntg_tdesc d, const float *p0)
{
    memset(s, 0, sizeof *s);
    s->n = oh_numel(&d);
    oh_case_init(&s->t, NTG_OP_adam);
    oh_attrs_set_f(&s->t.attrs, NTG_ADAM_BETA1, o->beta1);
    oh_attrs_set_f(&s->t.attrs, NTG_ADAM_BETA2, o->beta2);
    oh_attrs_set_f(&s->t.attrs, NTG_ADAM_EPS, o->eps);
    oh_attrs_set_f(&s->t.attrs, NTG_ADAM_WEIGHT_DECAY, o->weight_decay);
    oh_attrs_set_i(&s->t.attrs, NTG_ADAM_DECOUPLED, o->decoupled);
    s->p = new_floats(s->n);
    s->g = new_floats(s->n);
    s->m = new_floats(s->n); /* STATE storage starts zeroed, as torch's zeros_like */
    s->v = new_floats(s->n);
    s->ctl = new_floats(NTG_CTL_SIZE);
    memcpy(s->p, p0, s->n * sizeof *s->p);
    oh_case_input(&s->t, d, s->p);
    oh_case_input(&s->t, d, s->g);
    oh_case_input(&s->t, d, s->m);
    oh_case_input(&s->t, d, s->v);
    oh_case_input(&s->t, oh_shape(0, 1, NTG_CTL_SIZE), s->ctl);
}

static void adam_step(adam_run *s, double lr, int step)
{
    set_ctl(s->ctl, lr, step);
    /* param, m and v in place; grad and ctl untouched */
    cr_assert_eq(oh_forward_inplace(&s->t, ntg__cpu_fwd[NTG_OP_adam], ntg__cpu_scratch_bytes, 0xdu),
                 0, "adam: %s", s->t.msg);
}

static void adam_free(adam_run *s)
{
    free(s->p);
    free(s->g);
    free(s->m);
    free(s->v);
    free(s->ctl);
    oh_case_free(&s->t);
}

static const adam_cfg adam_defaults = {0.9, 0.999, 1e-8, 0, 0};

Test(ops_optim, adam_first_step_moves_each_weight_by_lr_times_sign)
{
    /* Bias correction makes m / (1 - b1) = g and v / (1 - b2) = g^2 on step 1, so the step is
     * lr g / (|g| + eps): lr sign(g) for |g| >> eps whatever the gradient's scale (without
     * the correction it would be lr 0.1 / sqrt(0.001) = 3.16 lr).  A zero gradient moves
     * nothing. */
    static const double lr = 1.0 / 1024; /* exact in float */
    tu_rng r = {9};
    size_t n = 64;
    float *p0 = new_floats(n), *g = new_floats(n);
    tu_fill(&r, p0, n, -1, 1);
    for (size_t i = 0; i < n; i++) {
        double mag = pow(10.0, tu_uniform(&r, -4, 3)); /* 1e-4 .. 1e3 */
        g[i] = (float)(tu_next(&r) & 1 ? mag : -mag);
    }
    g[5] = 0.0f;
    for (int wd = 0; wd < 2; wd++) {
        adam_cfg o = adam_defaults;
        o.decoupled = wd; /* AdamW with no decay is Adam */
        adam_run s;
        adam_setup(&s, &o, oh_shape(0, 1, (int)n), p0);
        memcpy(s.g, g, n * sizeof *g);
        adam_step(&s, lr, 1);
        for (size_t i = 0; i < n; i++) {
            double dp = (double)s.p[i] - (double)p0[i];
            double want = g[i] > 0 ? -lr : g[i] < 0 ? lr : 0.0;
            /* eps / |g| <= 1e-4 of lr, plus the float rounding of p (|p| < 1: 6e-8) */
            cr_assert(fabs(dp - want) <= 1e-4 * lr + 6e-8, "element %zu, g %g: moved %.9g", i,
                      (double)g[i], dp);
        }
        cr_assert(s.p[5] == p0[5], "a zero gradient must not move the weight");
        adam_free(&s);
    }
    free(p0);
    free(g);
}

Test(ops_optim, adam_constant_gradient_by_hand)
{
    /* With g held fixed, m_t = (1 - b1^t) g and v_t = (1 - b2^t) g^2 exactly, so every step
     * is lr g / (|g| + eps): after k steps p0 - k lr g / (|g| + eps). */
    static const float p0[] = {1, -1, 0.5f, 0.25f}, g[] = {0.5f, -2, 1e-3f, 0};
    const double lr = 0.01;
    adam_run s;
    adam_setup(&s, &adam_defaults, oh_shape(0, 1, 4), p0);
    memcpy(s.g, g, sizeof g);
    for (int k = 1; k <= 3; k++) {
        double want[4];
        adam_step(&s, lr, k);
        for (int i = 0; i < 4; i++)
            want[i] = p0[i] - k * (double)(float)lr * g[i] / (fabs((double)g[i]) + 1e-8);
        expect_each(s.p, want, 4, "adam constant gradient", k);
        /* the moments themselves: m = (1 - 0.9^k) g, v = (1 - 0.999^k) g^2 */
        for (int i = 0; i < 4; i++) {
            want[i] = (1 - pow(0.9, k)) * g[i];
            cr_assert(fabs(s.m[i] - want[i]) <= 1e-6 * fabs(want[i]) + 1e-12, "m[%d] step %d", i,
                      k);
            want[i] = (1 - pow(0.999, k)) * (double)g[i] * g[i];
            cr_assert(fabs(s.v[i] - want[i]) <= 1e-6 * fabs(want[i]) + 1e-18, "v[%d] step %d", i,
                      k);
        }
    }
    adam_free(&s);
}

Test(ops_optim, adam_l2_weight_decay_by_hand)
{
    /* Adam (coupled) with wd 0.1: g' = g + 0.1 p = [0.6, -2.1]; step 1 is lr sign(g'). */
    static const float p0[] = {1, -1}, g[] = {0.5f, -2};
    adam_cfg o = adam_defaults;
    o.weight_decay = 0.1;
    adam_run s;
    adam_setup(&s, &o, oh_shape(0, 1, 2), p0);
    memcpy(s.g, g, sizeof g);
    adam_step(&s, 0.1, 1);
    double lr = (double)0.1f;
    double want[2] = {1 - lr * 0.6 / (0.6 + 1e-8), -1 + lr * 2.1 / (2.1 + 1e-8)};
    expect_each(s.p, want, 2, "adam l2", 1);
    double want_m[2] = {0.1 * 0.6, 0.1 * -2.1};
    expect_each(s.m, want_m, 2, "adam l2 m", 1);
    adam_free(&s);
}

Test(ops_optim, adamw_decoupled_decay_by_hand)
{
    /* AdamW, wd 0.01, lr 0.1, g fixed: p <- p (1 - 0.001) - 0.1 sign(g) (the Adam part sees g
     * alone, so it stays lr g / (|g| + eps)): 0.899, 0.798101, 0.697302899 */
    static const float p0[] = {1, -1}, g[] = {0.5f, -2};
    static const double want[3][2] = {
        {0.899, -0.899}, {0.798101, -0.798101}, {0.697302899, -0.697302899}};
    adam_cfg o = adam_defaults;
    o.weight_decay = 0.01;
    o.decoupled = 1;
    adam_run s;
    adam_setup(&s, &o, oh_shape(0, 1, 2), p0);
    memcpy(s.g, g, sizeof g);
    for (int k = 0; k < 3; k++) {
        adam_step(&s, 0.1, k + 1);
        expect_each(s.p, want[k], 2, "adamw", k + 1);
    }
    adam_free(&s);
}

Test(ops_optim, adam_and_adamw_match_torch_reference_over_three_steps)
{
    static const adam_cfg cfgs[] = {
        {0.9, 0.999, 1e-8, 0, 0},  {0.9, 0.999, 1e-8, 0.05, 0}, {0.9, 0.999, 1e-8, 0.05, 1},
        {0.5, 0.9, 1e-3, 0.01, 0}, {0.5, 0.9, 1e-3, 0.01, 1},   {0.0, 0.99, 1e-6, 0, 1},
    };
    static const int shp[][2] = {{1, 1}, {1, 7}, {2, 13}, {2, 129}};
    static const double lrs[] = {0.01, 0.005, 0.002};
    tu_rng r = {88};
    double worst = 0;
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
        for (size_t k = 0; k < sizeof shp / sizeof shp[0]; k++) {
            ntg_tdesc d = shp[k][0] == 1 ? oh_shape(0, 1, shp[k][1]) : oh_shape(0, 2, shp[k][1], 5);
            size_t n = oh_numel(&d);
            float *p0 = new_floats(n);
            tu_fill(&r, p0, n, -1, 1);
            adam_run s;
            adam_setup(&s, &cfgs[c], d, p0);
            double *p = new_doubles(n), *g = new_doubles(n);
            double *m = new_doubles(n), *v = new_doubles(n);
            widen(p, p0, n);
            for (int step = 1; step <= 3; step++) {
                tu_fill(&r, s.g, n, -1, 1);
                widen(g, s.g, n);
                ref_adam(&cfgs[c], (double)(float)lrs[step - 1], step, p, g, m, v, n);
                adam_step(&s, lrs[step - 1], step);
                worst = maxd(worst, expect_close(s.p, p, n, "adam param", step));
                worst = maxd(worst, expect_close(s.m, m, n, "adam exp_avg", step));
                worst = maxd(worst, expect_close(s.v, v, n, "adam exp_avg_sq", step));
            }
            free(p0);
            free(p);
            free(g);
            free(m);
            free(v);
            adam_free(&s);
        }
    cr_log_info("adam: worst max-abs-rel %.2e", worst);
}

/* ======================================================= clip_grad_norm */

/* Runs clip_grad_norm over n_in gradients (every one updated in place); returns the norm. */
static float run_clip(oh_case *t, double max_norm)
{
    oh_attrs_set_f(&t->attrs, NTG_CLIP_MAX_NORM, max_norm);
    cr_assert_eq(oh_forward_inplace(t, ntg__cpu_fwd[NTG_OP_clip_grad_norm], ntg__cpu_scratch_bytes,
                                    (UINT64_C(1) << t->n_in) - 1),
                 0, "clip_grad_norm: %s", t->msg);
    cr_assert_eq(t->out[0].n, 1);
    return t->out[0].data[0];
}

Test(ops_optim, clip_grad_norm_scales_above_max_norm_by_hand)
{
    /* [3, 0] and [[0, 4]]: norm 5; max_norm 1 scales by 1 / (5 + 1e-6) */
    float a[] = {3, 0}, b[] = {0, 4};
    oh_case t;
    oh_case_init(&t, NTG_OP_clip_grad_norm);
    oh_case_input(&t, oh_shape(0, 1, 2), a);
    oh_case_input(&t, oh_shape(0, 2, 1, 2), b);
    float norm = run_clip(&t, 1.0);
    cr_assert(norm == 5.0f, "norm %.9g", (double)norm);
    double c = 1.0 / (5.0 + 1e-6);
    double wa[] = {3 * c, 0}, wb[] = {0, 4 * c};
    expect_each(a, wa, 2, "clip a", 1);
    expect_each(b, wb, 2, "clip b", 1);
    oh_case_free(&t);

    /* exactly at max_norm torch still scales, by 5 / (5 + 1e-6) */
    float a2[] = {3, 0}, b2[] = {0, 4};
    oh_case_init(&t, NTG_OP_clip_grad_norm);
    oh_case_input(&t, oh_shape(0, 1, 2), a2);
    oh_case_input(&t, oh_shape(0, 1, 2), b2);
    norm = run_clip(&t, 5.0);
    cr_assert(norm == 5.0f);
    double wa2[] = {3 * 5.0 / (5.0 + 1e-6), 0};
    expect_each(a2, wa2, 2, "clip at max_norm", 1);
    cr_assert(a2[0] < 3.0f, "a2[0] = %.9g", (double)a2[0]);
    oh_case_free(&t);
}

Test(ops_optim, clip_grad_norm_is_a_no_op_below_max_norm)
{
    float a[] = {3, 0, -1e-3f}, b[] = {0, 4}, a0[3], b0[2];
    memcpy(a0, a, sizeof a);
    memcpy(b0, b, sizeof b);
    oh_case t;
    oh_case_init(&t, NTG_OP_clip_grad_norm);
    oh_case_input(&t, oh_shape(0, 1, 3), a);
    oh_case_input(&t, oh_shape(0, 1, 2), b);
    float norm = run_clip(&t, 10.0);
    double want = sqrt(25.0 + (double)-1e-3f * (double)-1e-3f);
    cr_assert(fabs(norm - want) <= 1e-6 * want, "norm %.9g, expected %.9g", (double)norm, want);
    cr_assert(memcmp(a, a0, sizeof a) == 0 && memcmp(b, b0, sizeof b) == 0,
              "gradients below max_norm must be left bit for bit");
    oh_case_free(&t);

    /* all-zero gradients: norm 0, nothing scaled (max_norm / 1e-6 > 1) */
    float z[] = {0, 0, 0, 0};
    oh_case_init(&t, NTG_OP_clip_grad_norm);
    oh_case_input(&t, oh_shape(0, 2, 2, 2), z);
    norm = run_clip(&t, 0.5);
    cr_assert(norm == 0.0f);
    for (int i = 0; i < 4; i++) cr_assert(z[i] == 0.0f);
    oh_case_free(&t);
}

Test(ops_optim, clip_grad_norm_matches_reference_over_many_tensors)
{
    static const int sizes[] = {1, 7, 130, 3, 1025, 64, 5};
    static const double max_norms[] = {0.1, 1.0, 10.0, 1000.0};
    enum { NT = sizeof sizes / sizeof sizes[0] };
    tu_rng r = {99};
    double worst = 0;
    for (size_t mi = 0; mi < sizeof max_norms / sizeof max_norms[0]; mi++) {
        oh_case t;
        float *g[NT];
        double *ref[NT], ss = 0;
        oh_case_init(&t, NTG_OP_clip_grad_norm);
        for (int k = 0; k < NT; k++) {
            g[k] = new_floats((size_t)sizes[k]);
            ref[k] = new_doubles((size_t)sizes[k]);
            tu_fill(&r, g[k], (size_t)sizes[k], -1, 1);
            widen(ref[k], g[k], (size_t)sizes[k]);
            for (int i = 0; i < sizes[k]; i++) ss += ref[k][i] * ref[k][i];
            oh_case_input(&t, oh_shape(0, 1, sizes[k]), g[k]);
        }
        /* torch.nn.utils.clip_grad_norm_ (torch 1.13), norm_type 2 */
        double total = sqrt(ss), clip_coef = max_norms[mi] / (total + 1e-6);
        double coef = clip_coef < 1.0 ? clip_coef : 1.0; /* torch.clamp(clip_coef, max=1.0) */
        float norm = run_clip(&t, max_norms[mi]);
        cr_assert(fabs(norm - total) <= TOL * total, "norm %.9g, expected %.9g", (double)norm,
                  total);
        for (int k = 0; k < NT; k++) {
            for (int i = 0; i < sizes[k]; i++) ref[k][i] *= coef;
            worst = maxd(worst, expect_close(g[k], ref[k], (size_t)sizes[k], "clip", 1));
            free(g[k]);
            free(ref[k]);
        }
        oh_case_free(&t);
    }
    cr_log_info("clip_grad_norm: worst max-abs-rel %.2e", worst);
}
