/* test_ops_loss.c — the reference loss kernels (MSE, MAE, Huber, pinball): values and gradients. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "backend.h"
#include "ref/ref_kernels.h"
#include "ops_harness.h"
#include "testutil.h"

/* The forward is a double-accumulated sum rounded once to float: half an ulp (6e-8) of the
 * loss, so 1e-6 leaves room for nothing but that rounding. */
#define TOL 1e-6
/* Gradients against central differences of the double reference (eps 1e-6, so the quotient
 * is good to ~1e-9): the bound measures the float32 kernel, as in test_ops_grad.c. */
#define GTOL 1e-4
#define EPS 1e-6
/* Inputs keep at least this far from the kinks (y == t, |y - t| == delta), so that the
 * differences never straddle one. */
#define KINK 1e-3

enum { MASK_NONE, MASK_BINARY, MASK_WEIGHTS, MASK_ZEROS };
static const char *const mask_name[] = {"no mask", "0/1 mask", "weight mask", "zero mask"};

static const uint32_t elementwise_losses[] = {NTG_OP_loss_mse, NTG_OP_loss_mae, NTG_OP_loss_huber};

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

static float *add_input(oh_case *t, tu_rng *r, ntg_tdesc d, double lo, double hi)
{
    size_t n = oh_numel(&d);
    float *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert_not_null(x);
    tu_fill(r, x, n, lo, hi);
    oh_case_input(t, d, x);
    return x;
}

static void free_case(oh_case *t)
{
    for (int i = 0; i < t->n_in; i++) free(t->in[i].data);
    oh_case_free(t);
}

static void add_mask(oh_case *t, tu_rng *r, ntg_tdesc d, int kind)
{
    if (kind == MASK_NONE) return;
    float *m = add_input(t, r, d, 0, 1);
    size_t n = oh_numel(&d);
    for (size_t i = 0; i < n; i++) {
        if (kind == MASK_ZEROS)
            m[i] = 0.0f;
        else if (kind == MASK_BINARY)
            m[i] = m[i] < 0.3f ? 0.0f : 1.0f; /* about 30% masked out */
        else
            m[i] = 0.1f + 0.9f * m[i];
    }
    if (kind == MASK_BINARY) m[0] = 1.0f; /* never all zero by chance */
}

/* Index of the element of t that y's element iy is compared with (pinball drops the
 * quantile axis; the others have one shape). */
static size_t t_index(const oh_case *t, size_t iy)
{
    if (t->code != NTG_OP_loss_pinball) return iy;
    const ntg_tdesc *yd = &t->in[0].d, *td = &t->in[1].d;
    int ax = ntg__axis(t->attrs.slot[NTG_PINBALL_AXIS].i, yd->rank);
    int64_t yi[NTG_MAX_RANK], ti[NTG_MAX_RANK];
    oh_unravel(iy, yd->rank, yd->dims, yi);
    for (int d = 0, j = 0; d < yd->rank; d++)
        if (d != ax) ti[j++] = yi[d];
    return oh_ravel(td->rank, td->dims, ti);
}

/* Move every y off the kinks by redrawing it. */
static void keep_off_kinks(oh_case *t, tu_rng *r)
{
    float *y = t->in[0].data;
    const float *tv = t->in[1].data;
    double delta = t->code == NTG_OP_loss_huber ? t->attrs.slot[NTG_HUBER_DELTA].f : -1.0;
    size_t n = oh_numel(&t->in[0].d);
    for (size_t i = 0; i < n; i++) {
        double e = (double)y[i] - (double)tv[t_index(t, i)];
        while (fabs(e) < KINK || fabs(fabs(e) - delta) < KINK) {
            y[i] = (float)tu_uniform(r, -2, 2);
            e = (double)y[i] - (double)tv[t_index(t, i)];
        }
    }
}

/* y and t of shape `d` (y: `yd` for pinball), a mask of t's shape. */
static void loss_case(oh_case *t, tu_rng *r, uint32_t code, ntg_tdesc yd, ntg_tdesc td, int mask)
{
    oh_case_init(t, code);
    add_input(t, r, yd, -2, 2);
    add_input(t, r, td, -2, 2);
    add_mask(t, r, td, mask);
}

static void set_quantiles(oh_case *t, const double *q, int nq, int axis)
{
    cr_assert_eq(oh_attrs_set_floats(&t->attrs, NTG_PINBALL_QUANTILES, q, nq), 0);
    oh_attrs_set_i(&t->attrs, NTG_PINBALL_AXIS, axis);
}

/* Forward on the kernel vs. the double reference; returns the relative error. */
static double check_forward(oh_case *t, const char *what)
{
    cr_assert_eq(oh_forward(t, ntg__cpu_fwd[t->code], ntg__cpu_scratch_bytes), 0, "%s: %s", what,
                 t->msg);
    cr_assert_eq(t->out[0].n, 1, "%s: a loss is one number", what);
    double ref;
    oh_ref_case(t, &ref);
    double err = tu_max_abs_rel_d(t->out[0].data, &ref, 1);
    cr_assert(err <= TOL, "%s: loss %.9g, reference %.9g: error %.3g > %.0e", what,
              (double)t->out[0].data[0], ref, err, TOL);
    return err;
}

static double ref_loss(const oh_case *t, double *const *x)
{
    ntg_tdesc d[OH_MAX_IN];
    double y;
    for (int i = 0; i < t->n_in; i++) d[i] = t->in[i].d;
    oh_ref_forward(t->code, t->attrs.slot, t->n_in, d, (const double *const *)x, &t->out[0].d, &y);
    return y;
}

/*
 * Forward, then backward with the output gradient dloss, and central differences of
 * dloss * L (the double reference) for every input in `want`.  Returns the worst
 * max-abs-relative error.
 */
static double check_grad(oh_case *t, float dloss, uint64_t want, const char *what)
{
    cr_assert_eq(oh_forward(t, ntg__cpu_fwd[t->code], ntg__cpu_scratch_bytes), 0, "%s: %s", what,
                 t->msg);
    float *dy[1] = {&dloss};
    cr_assert_eq(oh_backward(t, ntg__cpu_bwd[t->code], ntg__cpu_scratch_bytes, dy, want), 0,
                 "%s: %s", what, t->msg);
    double *x[OH_MAX_IN];
    for (int i = 0; i < t->n_in; i++) {
        size_t n = oh_numel(&t->in[i].d);
        const float *src = t->in[i].data;
        x[i] = malloc((n ? n : 1) * sizeof(double));
        cr_assert_not_null(x[i]);
        for (size_t e = 0; e < n; e++) x[i][e] = (double)src[e];
    }
    double worst = 0;
    for (int i = 0; i < t->n_in; i++) {
        if (!((want >> i) & 1u)) {
            cr_assert_null(t->dx[i].data, "%s: input %d's gradient was not asked for", what, i);
            continue;
        }
        size_t n = oh_numel(&t->in[i].d);
        double *g = malloc((n ? n : 1) * sizeof *g);
        cr_assert_not_null(g);
        for (size_t e = 0; e < n; e++) {
            double v = x[i][e];
            x[i][e] = v + EPS;
            double lp = ref_loss(t, x);
            x[i][e] = v - EPS;
            double lm = ref_loss(t, x);
            x[i][e] = v;
            g[e] = (double)dloss * (lp - lm) / (2 * EPS);
        }
        double err = tu_max_abs_rel_d(t->dx[i].data, g, n);
        cr_assert(err <= GTOL, "%s: gradient of input %d: max-abs-rel error %.3g > %.0e", what, i,
                  err, GTOL);
        worst = maxd(worst, err);
        free(g);
    }
    for (int i = 0; i < t->n_in; i++) free(x[i]);
    return worst;
}

static uint64_t all_inputs(const oh_case *t)
{
    return (UINT64_C(1) << t->n_in) - 1;
}

/* --------------------------------------------------------------- forward */

Test(ops_loss, elementwise_losses_match_reference_with_and_without_mask)
{
    /* batch, inner extents (0: none) */
    static const int shp[][3] = {{1, 1, 0}, {1, 7, 0}, {5, 13, 0},
                                 {3, 4, 7}, {2, 1, 5}, {256, 720, 0}};
    static const double deltas[] = {1.0, 0.3, 2.5};
    tu_rng r = {101};
    double worst = 0;
    char what[160];
    for (size_t k = 0; k < 3; k++) {
        uint32_t code = elementwise_losses[k];
        for (size_t s = 0; s < sizeof shp / sizeof shp[0]; s++)
            for (int mask = MASK_NONE; mask <= MASK_WEIGHTS; mask++)
                for (size_t di = 0; di < (code == NTG_OP_loss_huber ? 3u : 1u); di++) {
                    ntg_tdesc d = shp[s][2] ? oh_shape(1, 3, shp[s][0], shp[s][1], shp[s][2])
                                            : oh_shape(1, 2, shp[s][0], shp[s][1]);
                    oh_case t;
                    loss_case(&t, &r, code, d, d, mask);
                    if (code == NTG_OP_loss_huber)
                        oh_attrs_set_f(&t.attrs, NTG_HUBER_DELTA, deltas[di]);
                    snprintf(what, sizeof what, "%s %s [%d, %d, %d] delta %g",
                             ntg__op_info(code)->cls->name, mask_name[mask], shp[s][0], shp[s][1],
                             shp[s][2], deltas[di]);
                    worst = maxd(worst, check_forward(&t, what));
                    free_case(&t);
                }
    }
    cr_log_info("mse/mae/huber forward: worst relative error %.2e", worst);
}

Test(ops_loss, unbatched_operands_take_the_plain_mean)
{
    tu_rng r = {7};
    for (size_t k = 0; k < 3; k++) {
        oh_case t;
        ntg_tdesc d = oh_shape(0, 2, 3, 5);
        loss_case(&t, &r, elementwise_losses[k], d, d, MASK_NONE);
        check_forward(&t, ntg__op_info(t.code)->cls->name);
        free_case(&t);
    }
}

Test(ops_loss, all_zero_mask_gives_zero_loss_and_gradients)
{
    static const double q[] = {0.5, 0.1, 0.9};
    tu_rng r = {3};
    for (uint32_t code = NTG_OP_loss_mse; code <= NTG_OP_loss_pinball; code++) {
        oh_case t;
        const char *name = ntg__op_info(code)->cls->name;
        if (code == NTG_OP_loss_pinball) {
            loss_case(&t, &r, code, oh_shape(1, 3, 4, 6, 3), oh_shape(1, 2, 4, 6), MASK_ZEROS);
            set_quantiles(&t, q, 3, -1);
        } else {
            loss_case(&t, &r, code, oh_shape(1, 2, 4, 6), oh_shape(1, 2, 4, 6), MASK_ZEROS);
        }
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[code], ntg__cpu_scratch_bytes), 0, "%s: %s", name,
                     t.msg);
        cr_assert(t.out[0].data[0] == 0.0f, "%s: loss %g under an all-zero mask", name,
                  (double)t.out[0].data[0]);
        float one = 1.0f, *dy[1] = {&one};
        cr_assert_eq(oh_backward(&t, ntg__cpu_bwd[code], ntg__cpu_scratch_bytes, dy, 7), 0,
                     "%s: %s", name, t.msg);
        for (int i = 0; i < 3; i++)
            for (size_t e = 0; e < t.dx[i].n; e++)
                cr_assert(t.dx[i].data[e] == 0.0f, "%s: d input %d [%zu] = %g", name, i, e,
                          (double)t.dx[i].data[e]);
        free_case(&t);
    }
}

Test(ops_loss, pinball_matches_reference_for_quantile_counts_and_axes)
{
    static const double qs[] = {0.5, 0.1, 0.9, 0.25, 0.75};
    static const int nqs[] = {1, 3, 5};
    /* batch, h */
    static const int shp[][2] = {{1, 1}, {1, 7}, {4, 13}, {32, 96}};
    tu_rng r = {202};
    double worst = 0;
    char what[160];
    for (size_t a = 0; a < 3; a++)
        for (size_t s = 0; s < sizeof shp / sizeof shp[0]; s++)
            for (int mask = MASK_NONE; mask <= MASK_WEIGHTS; mask++)
                for (int layout = 0; layout < 4; layout++) {
                    int nq = nqs[a], b = shp[s][0], h = shp[s][1], axis;
                    ntg_tdesc yd, td;
                    oh_case t;
                    switch (layout) {
                    case 0: /* [b, h, Q], axis -1 */
                        yd = oh_shape(1, 3, b, h, nq), td = oh_shape(1, 2, b, h), axis = -1;
                        break;
                    case 1: /* [b, Q, h], axis 1 */
                        yd = oh_shape(1, 3, b, nq, h), td = oh_shape(1, 2, b, h), axis = 1;
                        break;
                    case 2: /* [b, 2, h, Q] with the axis spelled 3 */
                        yd = oh_shape(1, 4, b, 2, h, nq), td = oh_shape(1, 3, b, 2, h), axis = 3;
                        break;
                    default: /* [b, Q]: one value per series */
                        yd = oh_shape(1, 2, b, nq), td = oh_shape(1, 1, b), axis = -1;
                        break;
                    }
                    loss_case(&t, &r, NTG_OP_loss_pinball, yd, td, mask);
                    set_quantiles(&t, qs, nq, axis);
                    snprintf(what, sizeof what, "pinball Q %d layout %d b %d h %d %s", nq, layout,
                             b, h, mask_name[mask]);
                    worst = maxd(worst, check_forward(&t, what));
                    free_case(&t);
                }
    cr_log_info("pinball forward: worst relative error %.2e", worst);
}

Test(ops_loss, pinball_with_one_median_quantile_is_half_the_mae)
{
    static const double q[] = {0.5};
    tu_rng r = {5};
    for (int mask = MASK_NONE; mask <= MASK_WEIGHTS; mask++) {
        oh_case p, m;
        loss_case(&p, &r, NTG_OP_loss_pinball, oh_shape(1, 3, 3, 11, 1), oh_shape(1, 2, 3, 11),
                  mask);
        set_quantiles(&p, q, 1, -1);
        oh_case_init(&m, NTG_OP_loss_mae);
        for (int i = 0; i < p.n_in; i++) oh_case_input(&m, p.in[i].d, p.in[i].data);
        m.in[0].d = oh_shape(1, 2, 3, 11);
        cr_assert_eq(oh_forward(&p, ntg__cpu_fwd[p.code], NULL), 0, "%s", p.msg);
        cr_assert_eq(oh_forward(&m, ntg__cpu_fwd[m.code], NULL), 0, "%s", m.msg);
        double lp = p.out[0].data[0], lm = m.out[0].data[0];
        cr_assert(fabs(lp - 0.5 * lm) <= 1e-6 * lm, "%s: pinball(0.5) %.9g vs mae / 2 %.9g",
                  mask_name[mask], lp, 0.5 * lm);
        oh_case_free(&m);
        free_case(&p);
    }
}

Test(ops_loss, reads_only_the_actual_batch)
{
    static const double q[] = {0.1, 0.5, 0.9};
    tu_rng r = {11};
    for (uint32_t code = NTG_OP_loss_mse; code <= NTG_OP_loss_pinball; code++) {
        int pin = code == NTG_OP_loss_pinball, b = 3, max_b = 8, h = 10, nq = pin ? 3 : 1;
        oh_case t;
        oh_case_init(&t, code);
        /* buffers for max_b rows, NaN past the actual batch */
        size_t ny = (size_t)(max_b * h * nq), nt = (size_t)(max_b * h);
        float *y = malloc(ny * sizeof *y), *tv = malloc(nt * sizeof *tv);
        float *m = malloc(nt * sizeof *m);
        cr_assert(y && tv && m);
        for (size_t i = 0; i < ny; i++) y[i] = NAN;
        for (size_t i = 0; i < nt; i++) tv[i] = m[i] = NAN;
        tu_fill(&r, y, (size_t)(b * h * nq), -1, 1);
        tu_fill(&r, tv, (size_t)(b * h), -1, 1);
        tu_fill(&r, m, (size_t)(b * h), 0, 1);
        oh_case_input(&t, pin ? oh_shape(1, 3, b, h, nq) : oh_shape(1, 2, b, h), y);
        oh_case_input(&t, oh_shape(1, 2, b, h), tv);
        oh_case_input(&t, oh_shape(1, 2, b, h), m);
        t.max_batch = max_b;
        if (pin) set_quantiles(&t, q, 3, -1);
        check_forward(&t, ntg__op_info(code)->cls->name);
        float one = 1.0f, *dy[1] = {&one};
        cr_assert_eq(oh_backward(&t, ntg__cpu_bwd[code], ntg__cpu_scratch_bytes, dy, 7), 0, "%s",
                     t.msg);
        for (int i = 0; i < 3; i++)
            for (size_t e = 0; e < t.dx[i].n; e++)
                cr_assert(isfinite(t.dx[i].data[e]), "%s: d input %d [%zu] = %g",
                          ntg__op_info(code)->cls->name, i, e, (double)t.dx[i].data[e]);
        free_case(&t);
    }
}

/* ------------------------------------------------------------ hand-made */

/* Runs forward and backward (dloss given, every gradient wanted) on small float arrays. */
static void run_small(oh_case *t, float dloss)
{
    cr_assert_eq(oh_forward(t, ntg__cpu_fwd[t->code], NULL), 0, "%s", t->msg);
    float *dy[1] = {&dloss};
    cr_assert_eq(oh_backward(t, ntg__cpu_bwd[t->code], NULL, dy, all_inputs(t)), 0, "%s", t->msg);
}

/* within 1e-6 of want (an absolute 1e-12 floor where the exact answer is 0) */
static void expect_near(double got, double want, const char *what)
{
    cr_assert(fabs(got - want) <= 1e-6 * fmax(fabs(want), 1e-6), "%s: %.9g, expected %.9g", what,
              got, want);
}

Test(ops_loss, mse_by_hand)
{
    /* y = [1, 2], t = [0, 0]: (1 + 4) / 2 = 2.5; dL/dy = 2 e / n = e = [1, 2] */
    float y[] = {1, 2}, tv[] = {0, 0};
    oh_case t;
    oh_case_init(&t, NTG_OP_loss_mse);
    oh_case_input(&t, oh_shape(1, 2, 1, 2), y);
    oh_case_input(&t, oh_shape(1, 2, 1, 2), tv);
    run_small(&t, 3.0f);
    expect_near(t.out[0].data[0], 2.5, "mse");
    expect_near(t.dx[0].data[0], 3.0, "dy[0]");
    expect_near(t.dx[0].data[1], 6.0, "dy[1]");
    expect_near(t.dx[1].data[0], -3.0, "dt[0]");
    expect_near(t.dx[1].data[1], -6.0, "dt[1]");
    oh_case_free(&t);

    /* batch 2 with a mask: e = [1, -2 | 3, 4], m = [1, 0 | 1, 1]: (1 + 9 + 16) / 3 */
    float y2[] = {1, -2, 3, 4}, t2[] = {0, 0, 0, 0}, m2[] = {1, 0, 1, 1};
    oh_case_init(&t, NTG_OP_loss_mse);
    oh_case_input(&t, oh_shape(1, 2, 2, 2), y2);
    oh_case_input(&t, oh_shape(1, 2, 2, 2), t2);
    oh_case_input(&t, oh_shape(1, 2, 2, 2), m2);
    run_small(&t, 1.0f);
    expect_near(t.out[0].data[0], 26.0 / 3.0, "masked mse");
    static const double dy2[] = {2.0 / 3, 0, 2.0, 8.0 / 3};
    for (int i = 0; i < 4; i++) expect_near(t.dx[0].data[i], dy2[i], "masked mse dy");
    /* dL/dm_i = (e_i^2 - L) / sum m */
    static const double dm2[] = {(1 - 26.0 / 3) / 3, (4 - 26.0 / 3) / 3, (9 - 26.0 / 3) / 3,
                                 (16 - 26.0 / 3) / 3};
    for (int i = 0; i < 4; i++) expect_near(t.dx[2].data[i], dm2[i], "masked mse dmask");
    oh_case_free(&t);
}

Test(ops_loss, mae_by_hand_with_sign_zero_at_ties)
{
    /* e = [1, -2, 0, -0.5], m = [1, 1, 1, 0]: (1 + 2 + 0) / 3 = 1; dy = sign(e) m / 3 */
    float y[] = {1, -2, 3, 0.5f}, tv[] = {0, 0, 3, 1}, m[] = {1, 1, 1, 0};
    oh_case t;
    oh_case_init(&t, NTG_OP_loss_mae);
    oh_case_input(&t, oh_shape(1, 2, 1, 4), y);
    oh_case_input(&t, oh_shape(1, 2, 1, 4), tv);
    oh_case_input(&t, oh_shape(1, 2, 1, 4), m);
    run_small(&t, 2.0f);
    expect_near(t.out[0].data[0], 1.0, "mae");
    static const double dy[] = {2.0 / 3, -2.0 / 3, 0, 0};
    for (int i = 0; i < 4; i++) {
        expect_near(t.dx[0].data[i], dy[i], "mae dy");
        expect_near(t.dx[1].data[i], -dy[i], "mae dt");
    }
    cr_assert(t.dx[0].data[2] == 0.0f, "sign(0) is 0, as torch");
    oh_case_free(&t);
}

Test(ops_loss, huber_by_hand_on_both_branches_and_at_delta)
{
    /* delta 1, e = [0.5, 3, -2, 1]: 0.125, 3 - 0.5, 2 - 0.5, and at |e| == delta the linear
     * branch 1 - 0.5 (equal to 0.5 e^2 there); dy = [0.5, 1, -1, 1] / 4 */
    float y[] = {0.5f, 3, -2, 1}, tv[] = {0, 0, 0, 0};
    oh_case t;
    oh_case_init(&t, NTG_OP_loss_huber);
    oh_case_input(&t, oh_shape(1, 2, 2, 2), y);
    oh_case_input(&t, oh_shape(1, 2, 2, 2), tv);
    run_small(&t, 1.0f);
    expect_near(t.out[0].data[0], (0.125 + 2.5 + 1.5 + 0.5) / 4, "huber");
    static const double dy[] = {0.125, 0.25, -0.25, 0.25};
    for (int i = 0; i < 4; i++) expect_near(t.dx[0].data[i], dy[i], "huber dy");
    oh_case_free(&t);

    /* delta 0.5, e = [0.25, -0.75]: 0.03125 and 0.5 (0.75 - 0.25) = 0.25 */
    float y2[] = {0.25f, -0.75f}, t2[] = {0, 0};
    oh_case_init(&t, NTG_OP_loss_huber);
    oh_attrs_set_f(&t.attrs, NTG_HUBER_DELTA, 0.5);
    oh_case_input(&t, oh_shape(1, 1, 2), y2);
    oh_case_input(&t, oh_shape(1, 1, 2), t2);
    run_small(&t, 1.0f);
    expect_near(t.out[0].data[0], (0.03125 + 0.25) / 2, "huber delta 0.5");
    expect_near(t.dx[0].data[0], 0.125, "huber delta 0.5 dy[0]");
    expect_near(t.dx[0].data[1], -0.25, "huber delta 0.5 dy[1]");
    oh_case_free(&t);
}

Test(ops_loss, pinball_by_hand)
{
    /* quantiles [0.5, 0.1, 0.9], t = 1, y = [1, 0, 2]: 0, 0.1 (1 - 0), 0.1 (2 - 1) -> 0.2 / 3.
     * dy: a tie at q 0.5 gives 0.5 - q = 0 (torch.maximum splits ties), y < t gives -q,
     * y > t gives 1 - q; all / 3. */
    static const double q[] = {0.5, 0.1, 0.9};
    float y[] = {1, 0, 2}, tv[] = {1};
    oh_case t;
    oh_case_init(&t, NTG_OP_loss_pinball);
    set_quantiles(&t, q, 3, -1);
    oh_case_input(&t, oh_shape(1, 2, 1, 3), y);
    oh_case_input(&t, oh_shape(1, 1, 1), tv);
    run_small(&t, 3.0f);
    expect_near(t.out[0].data[0], 0.2 / 3, "pinball");
    cr_assert(t.dx[0].data[0] == 0.0f, "pinball dy at the median tie: %g", (double)t.dx[0].data[0]);
    expect_near(t.dx[0].data[1], -0.1, "pinball dy q 0.1");
    expect_near(t.dx[0].data[2], 0.1, "pinball dy q 0.9");
    expect_near(t.dx[1].data[0], 0.0, "pinball dt");
    oh_case_free(&t);

    /* two series, Q = 2 on axis 1 ([b, Q, h] with h = 2), mask [1, 1 | 0, 1]:
     * q 0.2: e = y - t = [-1, 2 | 5, -3] -> [0.2, 1.6 | -, 0.6] = 2.4 / 3
     * q 0.7: e = [1, -1 | 5, 0.5]        -> [0.3, 0.7 | -, 0.15] = 1.15 / 3
     * loss = (2.4 + 1.15) / 3 / 2 */
    static const double q2[] = {0.2, 0.7};
    float y2[] = {0, 3, 2, 0, 5, -2, 5, 1.5f}, t2[] = {1, 1, 0, 1}, m2[] = {1, 1, 0, 1};
    oh_case_init(&t, NTG_OP_loss_pinball);
    set_quantiles(&t, q2, 2, 1);
    oh_case_input(&t, oh_shape(1, 3, 2, 2, 2), y2);
    oh_case_input(&t, oh_shape(1, 2, 2, 2), t2);
    oh_case_input(&t, oh_shape(1, 2, 2, 2), m2);
    run_small(&t, 1.0f);
    expect_near(t.out[0].data[0], (2.4 + 1.15) / 6, "pinball axis 1");
    static const double dy2[] = {-0.2 / 6, 0.8 / 6, 0.3 / 6, -0.7 / 6, 0, -0.2 / 6, 0, 0.3 / 6};
    for (int i = 0; i < 8; i++) expect_near(t.dx[0].data[i], dy2[i], "pinball axis 1 dy");
    oh_case_free(&t);

    /* ties off the median: y == t at q 0.1 and 0.9 gives (0.5 - q) / 2 = 0.2 and -0.2 */
    static const double q3[] = {0.1, 0.9};
    float y3[] = {2, 2}, t3[] = {2};
    oh_case_init(&t, NTG_OP_loss_pinball);
    set_quantiles(&t, q3, 2, -1);
    oh_case_input(&t, oh_shape(1, 2, 1, 2), y3);
    oh_case_input(&t, oh_shape(1, 1, 1), t3);
    run_small(&t, 1.0f);
    cr_assert(t.out[0].data[0] == 0.0f);
    expect_near(t.dx[0].data[0], 0.2, "pinball tie q 0.1");
    expect_near(t.dx[0].data[1], -0.2, "pinball tie q 0.9");
    oh_case_free(&t);
}

/* -------------------------------------------------------------- gradients */

Test(ops_loss, gradients_match_finite_differences)
{
    static const int shp[][2] = {{1, 1}, {1, 9}, {4, 7}, {3, 17}};
    static const float dls[] = {1.0f, 0.37f, -2.5f};
    tu_rng r = {303};
    double worst = 0;
    char what[160];
    for (size_t k = 0; k < 3; k++) {
        uint32_t code = elementwise_losses[k];
        for (size_t s = 0; s < sizeof shp / sizeof shp[0]; s++)
            for (int mask = MASK_NONE; mask <= MASK_WEIGHTS; mask++) {
                ntg_tdesc d = oh_shape(1, 2, shp[s][0], shp[s][1]);
                oh_case t;
                loss_case(&t, &r, code, d, d, mask);
                if (code == NTG_OP_loss_huber)
                    oh_attrs_set_f(&t.attrs, NTG_HUBER_DELTA, s % 2 ? 0.7 : 1.0);
                keep_off_kinks(&t, &r);
                snprintf(what, sizeof what, "%s [%d, %d] %s", ntg__op_info(code)->cls->name,
                         shp[s][0], shp[s][1], mask_name[mask]);
                worst = maxd(worst, check_grad(&t, dls[s % 3], all_inputs(&t), what));
                free_case(&t);
            }
    }
    cr_log_info("mse/mae/huber backward: worst max-abs-rel %.2e", worst);
}

Test(ops_loss, pinball_gradients_match_finite_differences)
{
    static const double qs[] = {0.5, 0.1, 0.9, 0.25, 0.75};
    static const int nqs[] = {1, 3, 5};
    tu_rng r = {404};
    double worst = 0;
    char what[160];
    for (size_t a = 0; a < 3; a++)
        for (int mask = MASK_NONE; mask <= MASK_WEIGHTS; mask++)
            for (int axis1 = 0; axis1 < 2; axis1++) {
                int nq = nqs[a], b = 3, h = 7;
                oh_case t;
                ntg_tdesc yd = axis1 ? oh_shape(1, 3, b, nq, h) : oh_shape(1, 3, b, h, nq);
                loss_case(&t, &r, NTG_OP_loss_pinball, yd, oh_shape(1, 2, b, h), mask);
                set_quantiles(&t, qs, nq, axis1 ? 1 : -1);
                keep_off_kinks(&t, &r);
                snprintf(what, sizeof what, "pinball Q %d axis %d %s", nq, axis1 ? 1 : -1,
                         mask_name[mask]);
                worst = maxd(worst, check_grad(&t, 0.8f, all_inputs(&t), what));
                free_case(&t);
            }
    cr_log_info("pinball backward: worst max-abs-rel %.2e", worst);
}

Test(ops_loss, computes_only_the_wanted_gradients)
{
    static const double q[] = {0.1, 0.9};
    tu_rng r = {505};
    for (uint32_t code = NTG_OP_loss_mse; code <= NTG_OP_loss_pinball; code++)
        for (uint64_t want = 1; want < 8; want++) {
            oh_case t;
            if (code == NTG_OP_loss_pinball) {
                loss_case(&t, &r, code, oh_shape(1, 3, 2, 5, 2), oh_shape(1, 2, 2, 5), MASK_BINARY);
                set_quantiles(&t, q, 2, -1);
            } else {
                loss_case(&t, &r, code, oh_shape(1, 2, 2, 5), oh_shape(1, 2, 2, 5), MASK_BINARY);
            }
            keep_off_kinks(&t, &r);
            check_grad(&t, 1.0f, want, ntg__op_info(code)->cls->name);
            free_case(&t);
        }
}

Test(ops_loss, null_output_gradient_gives_zero_gradients)
{
    static const double q[] = {0.1, 0.5, 0.9};
    tu_rng r = {606};
    for (uint32_t code = NTG_OP_loss_mse; code <= NTG_OP_loss_pinball; code++)
        for (int mask = MASK_NONE; mask <= MASK_BINARY; mask++) {
            oh_case t;
            const char *name = ntg__op_info(code)->cls->name;
            if (code == NTG_OP_loss_pinball) {
                loss_case(&t, &r, code, oh_shape(1, 3, 3, 4, 3), oh_shape(1, 2, 3, 4), mask);
                set_quantiles(&t, q, 3, -1);
            } else {
                loss_case(&t, &r, code, oh_shape(1, 2, 3, 4), oh_shape(1, 2, 3, 4), mask);
            }
            cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[code], NULL), 0, "%s: %s", name, t.msg);
            cr_assert_eq(oh_backward(&t, ntg__cpu_bwd[code], NULL, NULL, all_inputs(&t)), 0,
                         "%s: %s", name, t.msg);
            for (int i = 0; i < t.n_in; i++)
                for (size_t e = 0; e < t.dx[i].n; e++)
                    cr_assert(t.dx[i].data[e] == 0.0f, "%s: d input %d [%zu] = %g", name, i, e,
                              (double)t.dx[i].data[e]);
            free_case(&t);
        }
}
