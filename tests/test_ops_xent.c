/* test_ops_xent.c — loss_xent, the classification head's softmax cross-entropy: values against
 * the closed form and known torch.nn.functional.cross_entropy values, gradients against central
 * differences of the double reference, the shape rule and bad labels. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>

#include "backend.h"
#include "ops_harness.h"
#include "ref/ref_kernels.h"
#include "testutil.h"

#define TOL 1e-6  /* forward: one float rounding of a double result */
#define GTOL 1e-4 /* gradients vs central differences of the double reference */
#define EPS 1e-6

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

/* logits [b, h, C] (axis -1) or [b, C, h] (axis 1), labels [b, h] in 0 .. C-1, a mask of
 * weights when asked. */
static void xent_case(oh_case *t, tu_rng *r, int b, int h, int nc, int last, int mask)
{
    oh_case_init(t, NTG_OP_loss_xent);
    oh_attrs_set_i(&t->attrs, NTG_XENT_AXIS, last ? -1 : 1);
    add_input(t, r, last ? oh_shape(1, 3, b, h, nc) : oh_shape(1, 3, b, nc, h), -3, 3);
    float *lab = add_input(t, r, oh_shape(1, 2, b, h), 0, 1);
    for (int i = 0; i < b * h; i++) lab[i] = (float)(tu_next(r) % (uint64_t)nc);
    if (mask) {
        float *m = add_input(t, r, oh_shape(1, 2, b, h), 0, 1);
        m[0] = 0.0f; /* one element out, the others weighted */
    }
}

static double ref_loss(const oh_case *t, double *const *x, void *ctx)
{
    (void)ctx;
    ntg_tdesc d[OH_MAX_IN];
    double y;
    for (int i = 0; i < t->n_in; i++) d[i] = t->in[i].d;
    oh_ref_forward(t->code, t->attrs.slot, t->n_in, d, (const double *const *)x, &t->out[0].d, &y);
    return y;
}

Test(ops_xent, loss_matches_the_closed_form)
{
    tu_rng r = {606};
    double worst = 0;
    for (int nc = 2; nc <= 3; nc++)
        for (int last = 0; last < 2; last++)
            for (int mask = 0; mask < 2; mask++) {
                oh_case t;
                xent_case(&t, &r, 5, 11, nc, last, mask);
                cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[t.code], ntg__cpu_scratch_bytes), 0, "%s",
                             t.msg);
                double ref;
                oh_ref_case(&t, &ref);
                double err = fabs((double)t.out[0].data[0] - ref) / fmax(1.0, fabs(ref));
                cr_assert(err <= TOL, "C %d, axis %s, mask %d: %.9g vs %.9g", nc, last ? "-1" : "1",
                          mask, (double)t.out[0].data[0], ref);
                worst = fmax(worst, err);
                free_case(&t);
            }
    cr_log_info("loss_xent: worst relative error %.2e", worst);
}

/* F.cross_entropy(torch.tensor([[1., 2., 3.]]), torch.tensor([k])) = 2.4076, 1.4076, 0.4076;
 * two equal logits: log 2; large logits stay finite (max-shifted). */
Test(ops_xent, known_values)
{
    static const struct {
        float y[3];
        int nc;
        float t;
        double want;
    } rows[] = {
        {{1, 2, 3}, 3, 0, 2.40760596444438}, {{1, 2, 3}, 3, 1, 1.40760596444438},
        {{1, 2, 3}, 3, 2, 0.40760596444438}, {{0, 0, 0}, 2, 1, 0.69314718055995},
        {{500, 0, 0}, 2, 1, 500.0},          {{-2, 2, 0}, 2, 1, 0.01814992791781},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        oh_case t;
        oh_case_init(&t, NTG_OP_loss_xent);
        oh_attrs_set_i(&t.attrs, NTG_XENT_AXIS, -1);
        float *y = malloc(3 * sizeof *y), *tt = malloc(sizeof *tt);
        memcpy(y, rows[k].y, sizeof rows[k].y);
        tt[0] = rows[k].t;
        oh_case_input(&t, oh_shape(1, 2, 1, rows[k].nc), y);
        oh_case_input(&t, oh_shape(1, 1, 1), tt);
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[t.code], ntg__cpu_scratch_bytes), 0, "%s", t.msg);
        double got = (double)t.out[0].data[0];
        cr_assert(fabs(got - rows[k].want) <= 2e-6 * fmax(1.0, rows[k].want),
                  "row %zu: %.9g vs %.9g", k, got, rows[k].want);
        free_case(&t);
    }
}

Test(ops_xent, gradients_match_central_differences)
{
    tu_rng r = {707};
    double worst = 0;
    for (int nc = 2; nc <= 3; nc++)
        for (int last = 0; last < 2; last++)
            for (int mask = 0; mask < 2; mask++) {
                oh_case t;
                xent_case(&t, &r, 3, 7, nc, last, mask);
                float dloss = 0.7f, *dy[1] = {&dloss};
                uint64_t want = (UINT64_C(1) << t.n_in) - 1;
                cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[t.code], ntg__cpu_scratch_bytes), 0, "%s",
                             t.msg);
                cr_assert_eq(
                    oh_backward(&t, ntg__cpu_bwd[t.code], ntg__cpu_scratch_bytes, dy, want), 0,
                    "%s", t.msg);
                double *x[OH_MAX_IN];
                cr_assert_eq(oh_inputs_as_double(&t, x), 0);
                for (int i = 0; i < t.n_in; i++) {
                    size_t n = oh_numel(&t.in[i].d);
                    double *g = malloc(n * sizeof *g);
                    cr_assert_not_null(g);
                    if (i == 1) /* labels: no gradient, dt must be zero */
                        memset(g, 0, n * sizeof *g);
                    else
                        oh_central_diff(&t, x, i, EPS, (double)dloss, ref_loss, NULL, g);
                    double err = tu_max_abs_rel_d(t.dx[i].data, g, n);
                    cr_assert(err <= GTOL, "C %d, axis %s, mask %d: d input %d error %.3g", nc,
                              last ? "-1" : "1", mask, i, err);
                    worst = fmax(worst, err);
                    free(g);
                }
                oh_free_doubles(x, t.n_in);
                free_case(&t);
            }
    cr_log_info("loss_xent gradients: worst max-abs-rel %.2e", worst);
}

Test(ops_xent, shape_rule_and_bad_labels)
{
    oh_case t;
    tu_rng r = {9};
    oh_case_init(&t, NTG_OP_loss_xent);
    add_input(&t, &r, oh_shape(1, 3, 2, 5, 1), -1, 1); /* one class */
    add_input(&t, &r, oh_shape(1, 2, 2, 5), -1, 1);
    cr_assert_neq(oh_forward(&t, ntg__cpu_fwd[t.code], ntg__cpu_scratch_bytes), 0);
    cr_assert(strstr(t.msg, "class axis of extent 2 to 64"), "%s", t.msg);
    free_case(&t);

    oh_case_init(&t, NTG_OP_loss_xent);
    add_input(&t, &r, oh_shape(1, 3, 2, 5, 3), -1, 1);
    add_input(&t, &r, oh_shape(1, 2, 2, 4), -1, 1); /* t's shape does not match */
    cr_assert_neq(oh_forward(&t, ntg__cpu_fwd[t.code], ntg__cpu_scratch_bytes), 0);
    cr_assert(strstr(t.msg, "does not match the prediction"), "%s", t.msg);
    free_case(&t);

    /* a label outside 0 .. C-1 or not an integer: NaN, which the trainer reports */
    static const float bad[] = {3.0f, -1.0f, 0.5f};
    for (int k = 0; k < 3; k++) {
        oh_case_init(&t, NTG_OP_loss_xent);
        add_input(&t, &r, oh_shape(1, 2, 1, 3), -1, 1);
        float *lab = add_input(&t, &r, oh_shape(1, 1, 1), 0, 0);
        lab[0] = bad[k];
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[t.code], ntg__cpu_scratch_bytes), 0, "%s", t.msg);
        cr_assert(isnan(t.out[0].data[0]), "label %g gave %g", (double)bad[k],
                  (double)t.out[0].data[0]);
        free_case(&t);
    }
}
