/* test_ops_dist.c — the distribution heads: loss_normal and loss_studentt (values against the
 * closed-form log-densities and torch.distributions, gradients against central differences), the
 * Normal and Student-t quantiles (runtime/dist.c) against published values, and the decoding of
 * raw parameters into quantiles (model_io). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>

#include "backend.h"
#include "dist.h"
#include "model_io.h"
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

/* y [b, P, h] (axis 1) or [b, h, P] (axis -1), t [b, h], a mask of weights when asked. */
static void dist_case(oh_case *t, tu_rng *r, uint32_t code, int b, int h, int last, int mask)
{
    int np = code == NTG_OP_loss_normal ? 2 : 3;
    oh_case_init(t, code);
    oh_attrs_set_i(&t->attrs, NTG_DIST_AXIS, last ? -1 : 1);
    add_input(t, r, last ? oh_shape(1, 3, b, h, np) : oh_shape(1, 3, b, np, h), -2, 2);
    add_input(t, r, oh_shape(1, 2, b, h), -3, 3);
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

Test(ops_dist, losses_match_the_closed_form_log_density)
{
    tu_rng r = {404};
    double worst = 0;
    for (uint32_t code = NTG_OP_loss_normal; code <= NTG_OP_loss_studentt; code++)
        for (int last = 0; last < 2; last++)
            for (int mask = 0; mask < 2; mask++) {
                oh_case t;
                dist_case(&t, &r, code, 5, 11, last, mask);
                const char *nm = ntg__op_info(code)->cls->name;
                cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[code], ntg__cpu_scratch_bytes), 0,
                             "%s: %s", nm, t.msg);
                double ref;
                oh_ref_case(&t, &ref);
                double err = fabs((double)t.out[0].data[0] - ref) / fmax(1.0, fabs(ref));
                cr_assert(err <= TOL, "%s (axis %s, mask %d): %.9g vs %.9g", nm, last ? "-1" : "1",
                          mask, (double)t.out[0].data[0], ref);
                worst = fmax(worst, err);
                free_case(&t);
            }
    cr_log_info("distribution losses: worst relative error %.2e", worst);
}

/* Values computed by torch.distributions (tests/data/dist_torch.txt, from
 * tests/data/dist_torch.py): -Normal(loc, softplus(rs)).log_prob(t) and
 * -StudentT(2 + softplus(rd), loc, softplus(rs)).log_prob(t), one line each. */
Test(ops_dist, losses_match_torch_distributions)
{
    FILE *f = fopen(tu_src("tests/data/dist_torch.txt"), "r");
    cr_assert(f, "tests/data/dist_torch.txt missing");
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char kind[16];
        double loc, rs, rd, tv, want;
        if (sscanf(line, "%15s %lf %lf %lf %lf %lf", kind, &loc, &rs, &rd, &tv, &want) != 6)
            continue;
        uint32_t code = strcmp(kind, "normal") == 0 ? NTG_OP_loss_normal : NTG_OP_loss_studentt;
        int np = code == NTG_OP_loss_normal ? 2 : 3;
        oh_case t;
        oh_case_init(&t, code);
        float *y = malloc(3 * sizeof *y), *tt = malloc(sizeof *tt);
        y[0] = (float)loc;
        y[1] = (float)rs;
        y[2] = (float)rd;
        tt[0] = (float)tv;
        oh_case_input(&t, oh_shape(1, 3, 1, np, 1), y);
        oh_case_input(&t, oh_shape(1, 2, 1, 1), tt);
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[code], ntg__cpu_scratch_bytes), 0, "%s", t.msg);
        double got = (double)t.out[0].data[0];
        cr_assert(fabs(got - want) <= 2e-6 * fmax(1.0, fabs(want)), "%s", line);
        free_case(&t);
        n++;
    }
    fclose(f);
    cr_assert_geq(n, 20, "only %d reference rows", n);
}

Test(ops_dist, gradients_match_central_differences)
{
    tu_rng r = {505};
    double worst = 0;
    for (uint32_t code = NTG_OP_loss_normal; code <= NTG_OP_loss_studentt; code++)
        for (int last = 0; last < 2; last++)
            for (int mask = 0; mask < 2; mask++) {
                oh_case t;
                dist_case(&t, &r, code, 3, 7, last, mask);
                const char *nm = ntg__op_info(code)->cls->name;
                float dloss = 0.7f, *dy[1] = {&dloss};
                uint64_t want = (UINT64_C(1) << t.n_in) - 1;
                cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[code], ntg__cpu_scratch_bytes), 0,
                             "%s: %s", nm, t.msg);
                cr_assert_eq(oh_backward(&t, ntg__cpu_bwd[code], ntg__cpu_scratch_bytes, dy, want),
                             0, "%s: %s", nm, t.msg);
                double *x[OH_MAX_IN];
                cr_assert_eq(oh_inputs_as_double(&t, x), 0);
                for (int i = 0; i < t.n_in; i++) {
                    size_t n = oh_numel(&t.in[i].d);
                    double *g = malloc(n * sizeof *g);
                    cr_assert_not_null(g);
                    oh_central_diff(&t, x, i, EPS, (double)dloss, ref_loss, NULL, g);
                    double err = tu_max_abs_rel_d(t.dx[i].data, g, n);
                    cr_assert(err <= GTOL, "%s (axis %s, mask %d): d input %d error %.3g", nm,
                              last ? "-1" : "1", mask, i, err);
                    worst = fmax(worst, err);
                    free(g);
                }
                oh_free_doubles(x, t.n_in);
                free_case(&t);
            }
    cr_log_info("distribution loss gradients: worst max-abs-rel %.2e", worst);
}

Test(ops_dist, shape_rule_wants_the_parameter_axis)
{
    oh_case t;
    tu_rng r = {9};
    oh_case_init(&t, NTG_OP_loss_studentt);
    add_input(&t, &r, oh_shape(1, 3, 2, 2, 5), -1, 1); /* P = 2, Student-t needs 3 */
    add_input(&t, &r, oh_shape(1, 2, 2, 5), -1, 1);
    cr_assert_neq(oh_forward(&t, ntg__cpu_fwd[t.code], ntg__cpu_scratch_bytes), 0);
    cr_assert(strstr(t.msg, "parameter axis of extent 3"), "%s", t.msg);
    free_case(&t);
}

/* Published values (as scipy.stats 1.17 gives them: norm.ppf, t.ppf). */
Test(ops_dist, normal_quantiles_match_published_values)
{
    static const double v[][2] = {{0.975, 1.959963984540054},
                                  {0.9, 1.2815515655446004},
                                  {0.95, 1.6448536269514722},
                                  {0.99, 2.3263478740408408},
                                  {0.999, 3.090232306167813},
                                  {1e-10, -6.361340902404056},
                                  {0.5, 0.0},
                                  {0.25, -0.6744897501960817}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        double z = ntg__norm_ppf(v[i][0]);
        cr_assert(fabs(z - v[i][1]) <= 1e-13 * fmax(1, fabs(v[i][1])),
                  "ppf(%g) = %.17g, want %.17g", v[i][0], z, v[i][1]);
        cr_assert(fabs(ntg__norm_cdf(z) - v[i][0]) <= 1e-14 * fmax(1e-10, v[i][0]) + 1e-16);
    }
    cr_assert(isinf(ntg__norm_ppf(0)) && ntg__norm_ppf(0) < 0);
    cr_assert(isnan(ntg__norm_ppf(1.5)));
}

Test(ops_dist, student_t_quantiles_match_published_values)
{
    /* p, df, t_p(df) */
    static const double v[][3] = {
        {0.975, 1, 12.706204736174694},
        {0.975, 2, 4.302652729749462},
        {0.975, 5, 2.5705818356363146},
        {0.95, 3, 2.3533634348018233},
        {0.9, 10, 1.372183641110336},
        {0.995, 30, 2.7499956535672254},
        {0.99, 2.5, 5.0}, /* filled below from the CDF: a non-integer df */
        {0.1, 4, -1.5332062740589436},
        {0.75, 1, 1.0},
        {0.5, 7, 0.0},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        double x = ntg__t_ppf(v[i][0], v[i][1]);
        if (v[i][1] == 2.5) {
            /* no table: the quantile must invert the CDF */
            cr_assert(fabs(ntg__t_cdf(x, 2.5) - 0.99) <= 1e-13, "cdf(ppf(0.99; 2.5)) = %.17g",
                      ntg__t_cdf(x, 2.5));
            continue;
        }
        cr_assert(fabs(x - v[i][2]) <= 1e-10 * fmax(1, fabs(v[i][2])),
                  "t ppf(%g; df %g) = %.15g, want %.15g", v[i][0], v[i][1], x, v[i][2]);
    }
    /* df = 2 has a closed form: t = (2p - 1) sqrt(2 / (4 p (1 - p))) */
    for (double p = 0.01; p < 1; p += 0.07) {
        double want = (2 * p - 1) * sqrt(2 / (4 * p * (1 - p)));
        cr_assert(fabs(ntg__t_ppf(p, 2) - want) <= 1e-11 * fmax(1, fabs(want)), "p %g", p);
    }
    /* large df tends to the Normal */
    cr_assert(fabs(ntg__t_ppf(0.975, 1e7) - 1.959963984540054) < 1e-6);
}

Test(ops_dist, decode_gives_quantiles_of_the_predicted_distribution)
{
    ntg_model_io io;
    memset(&io, 0, sizeof io);
    io.h = 2;
    io.nq = 3;
    io.qaxis = 1;
    io.point = 1;
    io.quantiles[0] = 0.1;
    io.quantiles[1] = 0.5;
    io.quantiles[2] = 0.9;
    /* window 0: loc 1, 2; scale softplus(0) = log 2; df 2 + softplus(0) */
    float raw[3 * 2] = {1, 2, 0, 0, 0, 0};
    float y[3 * 2];
    double s = log(2.0);
    for (int np = 2; np <= 3; np++) {
        io.dist = np;
        ntg__model_decode(&io, raw, 1, y);
        double z = np == 2 ? 1.2815515655446004 : ntg__t_ppf(0.9, 2 + s);
        for (int r = 0; r < 2; r++) {
            double loc = r + 1;
            cr_assert_float_eq(y[0 * 2 + r], (float)(loc - s * z), 1e-6);
            cr_assert_eq(y[1 * 2 + r], (float)loc, "the median is loc");
            cr_assert_float_eq(y[2 * 2 + r], (float)(loc + s * z), 1e-6);
        }
    }
}
