/* test_ops_cpu.c — the reference CPU forward kernels and the GEMM against double-precision code. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "backend.h"
#include "ref/ref_kernels.h"
#include "ops_harness.h"
#include "testutil.h"

/* float32 kernels against a double reference: a few ulps of the largest output */
#define TOL 1e-5

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

/* Forward on the CPU kernels vs. the double reference; returns the max-abs-relative error. */
static double check_forward(oh_case *t, const char *what)
{
    int rc = oh_forward(t, ntg__cpu_fwd[t->code], ntg__cpu_scratch_bytes);
    cr_assert_eq(rc, 0, "%s: %s", what, t->msg);
    size_t n = t->out[0].n;
    double *ref = malloc((n ? n : 1) * sizeof *ref);
    cr_assert_not_null(ref);
    oh_ref_case(t, ref);
    double err = tu_max_abs_rel_d(t->out[0].data, ref, n);
    cr_assert(err <= TOL, "%s: max-abs-rel error %.3g > %.0e", what, err, TOL);
    free(ref);
    return err;
}

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

/* ------------------------------------------------------------------- GEMM */

/* Runs ntg__cpu_gemm on padded operands (NaN in the padding of A and B, a sentinel in C's)
 * and returns its error against a double loop; fails if C's padding was written. */
static double check_gemm(tu_rng *r, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                         float beta, int nan_c)
{
    int64_t arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
    int64_t lda = acols + 3, ldb = bcols + 5, ldc = n + 2;
    size_t na = (size_t)(arows * lda), nb = (size_t)(brows * ldb), nc = (size_t)(m * ldc);
    float *a = malloc((na + 1) * sizeof *a), *b = malloc((nb + 1) * sizeof *b);
    float *c = malloc((nc + 1) * sizeof *c);
    double *ref = malloc((size_t)(m * n + 1) * sizeof *ref);
    float *got = malloc((size_t)(m * n + 1) * sizeof *got);
    cr_assert(a && b && c && ref && got);
    for (size_t i = 0; i < na; i++) a[i] = (i % (size_t)lda) < (size_t)acols ? 0.0f : NAN;
    for (size_t i = 0; i < nb; i++) b[i] = (i % (size_t)ldb) < (size_t)bcols ? 0.0f : NAN;
    for (int64_t i = 0; i < arows; i++) tu_fill(r, a + i * lda, (size_t)acols, -1, 1);
    for (int64_t i = 0; i < brows; i++) tu_fill(r, b + i * ldb, (size_t)bcols, -1, 1);
    oh_fill_sentinel(c, nc);
    for (int64_t i = 0; i < m; i++) {
        if (nan_c)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = NAN;
        else
            tu_fill(r, c + i * ldc, (size_t)n, -1, 1);
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) {
                double av = ta ? a[p * lda + i] : a[i * lda + p];
                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            double cv = beta == 0.0f ? 0.0 : (double)beta * c[i * ldc + j];
            ref[i * n + j] = (double)alpha * s + cv;
        }

    ntg__cpu_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    for (int64_t i = 0; i < m; i++) {
        memcpy(got + i * n, c + i * ldc, (size_t)n * sizeof *got);
        cr_assert(oh_is_sentinel(c + i * ldc + n, (size_t)(ldc - n)),
                  "gemm wrote past n in row %lld", (long long)i);
    }
    double err = tu_max_abs_rel_d(got, ref, (size_t)(m * n));
    cr_assert(err <= TOL, "gemm ta %d tb %d %lldx%lldx%lld alpha %g beta %g: error %.3g", ta, tb,
              (long long)m, (long long)n, (long long)k, (double)alpha, (double)beta, err);
    free(a);
    free(b);
    free(c);
    free(ref);
    free(got);
    return err;
}

Test(ops, gemm_matches_reference_for_all_transposes_and_scalings)
{
    /* odd sizes, and sizes past every cache block (MC 64, NC 128, KC 128) */
    static const int64_t dims[][3] = {{1, 1, 1},   {3, 7, 13},      {13, 1, 97},   {97, 13, 7},
                                      {8, 8, 128}, {131, 263, 301}, {5, 300, 301}, {7, 9, 8}};
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-1.5f, 0.25f}};
    tu_rng r = {42};
    double worst = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
                for (size_t s = 0; s < sizeof ab / sizeof ab[0]; s++)
                    worst = maxd(worst, check_gemm(&r, ta, tb, dims[d][0], dims[d][1], dims[d][2],
                                                   ab[s][0], ab[s][1], 0));
    cr_log_info("gemm: worst max-abs-rel %.2e", worst);
}

Test(ops, gemm_beta_zero_ignores_old_c)
{
    tu_rng r = {7};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm(&r, ta, tb, 37, 141, 150, 1.0f, 0.0f, 1);
            check_gemm(&r, ta, tb, 5, 3, 2, -2.0f, 0.0f, 1);
        }
}

Test(ops, gemm_empty_k_and_zero_alpha_only_scale_c)
{
    float a[4] = {NAN, NAN, NAN, NAN}, b[4] = {NAN, NAN, NAN, NAN};
    float c[4] = {1, 2, 3, 4}, z[4] = {NAN, NAN, NAN, NAN};
    ntg__cpu_gemm(0, 0, 2, 2, 0, 1.0f, a, 2, b, 2, 0.5f, c, 2);
    cr_assert(c[0] == 0.5f && c[1] == 1.0f && c[2] == 1.5f && c[3] == 2.0f);
    ntg__cpu_gemm(0, 0, 2, 2, 2, 0.0f, a, 2, b, 2, 2.0f, c, 2);
    cr_assert(c[0] == 1.0f && c[3] == 4.0f, "alpha 0 must not read A and B");
    ntg__cpu_gemm(1, 1, 2, 2, 0, 1.0f, a, 2, b, 2, 0.0f, z, 2);
    for (int i = 0; i < 4; i++) cr_assert(z[i] == 0.0f, "beta 0 with k 0 gives zeros");
}

/* ------------------------------------------------------------------ dense */

Test(ops, dense_matches_reference_for_every_activation)
{
    /* batch, in, units, middle axis (0: x is [batch, in]) */
    static const int shp[][4] = {{1, 1, 1, 0},  {1, 13, 7, 0},     {5, 97, 3, 0},
                                 {3, 7, 13, 4}, {70, 130, 129, 0}, {2, 3, 1, 5}};
    static const char *names[] = {"none", "relu", "gelu", "tanh", "sigmoid"};
    tu_rng r = {11};
    double worst[5] = {0};
    for (int act = 0; act < 5; act++)
        for (int bias = 0; bias < 2; bias++)
            for (size_t s = 0; s < sizeof shp / sizeof shp[0]; s++) {
                int b = shp[s][0], in = shp[s][1], units = shp[s][2], mid = shp[s][3];
                double bound = 1.0 / sqrt((double)in);
                oh_case t;
                char what[96];
                oh_case_init(&t, NTG_OP_dense);
                oh_attrs_set_i(&t.attrs, NTG_DENSE_UNITS, units);
                oh_attrs_set_i(&t.attrs, NTG_DENSE_ACT, act);
                oh_attrs_set_i(&t.attrs, NTG_DENSE_BIAS, bias);
                add_input(&t, &r, mid ? oh_shape(1, 3, b, mid, in) : oh_shape(1, 2, b, in), -2, 2);
                add_input(&t, &r, oh_shape(0, 2, units, in), -bound, bound);
                if (bias) add_input(&t, &r, oh_shape(0, 1, units), -0.5, 0.5);
                snprintf(what, sizeof what, "dense %s bias %d [%d,%d%s] -> %d", names[act], bias, b,
                         in, mid ? ",mid" : "", units);
                worst[act] = maxd(worst[act], check_forward(&t, what));
                free_case(&t);
            }
    for (int act = 0; act < 5; act++)
        cr_log_info("dense %s: worst max-abs-rel %.2e", names[act], worst[act]);
}

/* ------------------------------------------------------------------- relu */

Test(ops, relu_matches_reference)
{
    static const int shp[][3] = {{1, 1, 0}, {1, 97, 0}, {4, 13, 3}, {7, 3, 1}};
    tu_rng r = {12};
    double worst = 0;
    for (size_t s = 0; s < sizeof shp / sizeof shp[0]; s++) {
        oh_case t;
        oh_case_init(&t, NTG_OP_relu);
        add_input(&t, &r,
                  shp[s][2] ? oh_shape(1, 3, shp[s][0], shp[s][1], shp[s][2])
                            : oh_shape(1, 2, shp[s][0], shp[s][1]),
                  -1, 1);
        worst = maxd(worst, check_forward(&t, "relu"));
        free_case(&t);
    }
    cr_log_info("relu: worst max-abs-rel %.2e", worst);
}

/* --------------------------------------------------------------- maxpool1d */

/* torch's pooling_output_shape (dilation 1), written out independently of ntg__pool_out_len. */
static int64_t torch_pool_len(int64_t len, int64_t k, int64_t s, int64_t pad, int ceil_mode)
{
    int64_t num = len + 2 * pad - (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int64_t out = num / s + 1;
    if (ceil_mode && (out - 1) * s >= len + pad) out--;
    return out;
}

Test(ops, maxpool1d_matches_reference)
{
    /* len, kernel, stride (0 = kernel), padding, ceil_mode */
    static const int cs[][5] = {
        {10, 3, 2, 0, 0}, {10, 3, 2, 0, 1}, {10, 3, 0, 0, 0}, {10, 3, 0, 0, 1}, {7, 2, 1, 1, 0},
        {13, 4, 3, 2, 1}, {1, 1, 1, 0, 0},  {97, 5, 3, 2, 1}, {98, 5, 3, 2, 1}, {98, 5, 3, 2, 0},
        {8, 3, 5, 1, 1},  {9, 3, 4, 1, 1},  {11, 4, 4, 0, 1}, {11, 4, 4, 0, 0}, {13, 13, 1, 6, 0},
        {24, 2, 0, 0, 1}, {25, 2, 0, 0, 1}, {25, 2, 0, 1, 1}, {3, 7, 1, 3, 1},
    };
    tu_rng r = {13};
    double worst = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (int b = 1; b <= 3; b += 2)
            for (int rank3 = 0; rank3 < 2; rank3++) {
                int len = cs[i][0], k = cs[i][1], st = cs[i][2], pad = cs[i][3], ceil = cs[i][4];
                oh_case t;
                char what[96];
                oh_case_init(&t, NTG_OP_maxpool1d);
                oh_attrs_set_i(&t.attrs, NTG_POOL_KERNEL, k);
                oh_attrs_set_i(&t.attrs, NTG_POOL_STRIDE, st);
                oh_attrs_set_i(&t.attrs, NTG_POOL_PAD, pad);
                oh_attrs_set_i(&t.attrs, NTG_POOL_CEIL, ceil);
                add_input(&t, &r, rank3 ? oh_shape(1, 3, b, 3, len) : oh_shape(1, 2, b, len), -1,
                          1);
                snprintf(what, sizeof what, "maxpool len %d k %d s %d pad %d ceil %d", len, k, st,
                         pad, ceil);
                worst = maxd(worst, check_forward(&t, what));
                const ntg_tdesc *y = &t.out[0].d;
                cr_assert_eq(y->dims[y->rank - 1], torch_pool_len(len, k, st ? st : k, pad, ceil),
                             "%s: output length", what);
                free_case(&t);
            }
    cr_log_info("maxpool1d: worst max-abs-rel %.2e", worst);
}

/* ------------------------------------------------------------------- flip */

Test(ops, flip_matches_reference_on_every_axis)
{
    tu_rng r = {14};
    double worst = 0;
    for (int b = 1; b <= 4; b += 3) {
        ntg_tdesc ds[] = {oh_shape(1, 2, b, 7), oh_shape(1, 3, b, 5, 13),
                          oh_shape(1, 4, b, 3, 1, 5), oh_shape(0, 2, 3, 97)};
        for (size_t s = 0; s < sizeof ds / sizeof ds[0]; s++)
            for (int ax = -ds[s].rank; ax < ds[s].rank; ax++) {
                int nax = ax < 0 ? ax + ds[s].rank : ax;
                if (ds[s].batched && nax == 0) continue;
                oh_case t;
                oh_case_init(&t, NTG_OP_flip);
                oh_attrs_set_i(&t.attrs, NTG_FLIP_AXIS, ax);
                add_input(&t, &r, ds[s], -1, 1);
                worst = maxd(worst, check_forward(&t, "flip"));
                free_case(&t);
            }
    }
    cr_log_info("flip: worst max-abs-rel %.2e", worst);
}

/* ------------------------------------------------------------------ slice */

Test(ops, slice_follows_python_bounds)
{
    /* axis, start, end, step on x [batch, 4, 13] */
    static const int64_t cs[][4] = {
        {-1, 0, NTG_ATTR_INT_MAX, 1},
        {2, 2, 11, 3},
        {-1, -5, -1, 1},
        {-1, -100, 100, 2},
        {2, 3, -3, 4},
        {2, 12, 13, 1},
        {-1, -1, NTG_ATTR_INT_MAX, 1},
        {2, 0, 13, 13},
        {1, 1, 3, 1},
        {-2, -3, 4, 2},
        {1, 0, 100, 5},
    };
    tu_rng r = {15};
    double worst = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (int b = 1; b <= 3; b += 2) {
            oh_case t;
            char what[96];
            oh_case_init(&t, NTG_OP_slice);
            oh_attrs_set_i(&t.attrs, NTG_SLICE_AXIS, cs[i][0]);
            oh_attrs_set_i(&t.attrs, NTG_SLICE_START, cs[i][1]);
            oh_attrs_set_i(&t.attrs, NTG_SLICE_END, cs[i][2]);
            oh_attrs_set_i(&t.attrs, NTG_SLICE_STEP, cs[i][3]);
            add_input(&t, &r, oh_shape(1, 3, b, 4, 13), -1, 1);
            snprintf(what, sizeof what, "slice axis %lld [%lld:%lld:%lld]", (long long)cs[i][0],
                     (long long)cs[i][1], (long long)cs[i][2], (long long)cs[i][3]);
            worst = maxd(worst, check_forward(&t, what));
            int ax = oh_norm_axis(cs[i][0], 3);
            int64_t first, count;
            oh_py_slice(ax == 1 ? 4 : 13, cs[i][1], cs[i][2], cs[i][3], &first, &count);
            cr_assert_eq(t.out[0].d.dims[ax], count, "%s: extent", what);
            free_case(&t);
        }
    cr_log_info("slice: worst max-abs-rel %.2e", worst);
}

/* ---------------------------------------------------------------- reshape */

Test(ops, reshape_keeps_row_major_order)
{
    static const int64_t s1[] = {0, 3, 4}, s2[] = {0, -1}, s3[] = {0, 6, -1}, s4[] = {3, 4};
    tu_rng r = {16};
    double worst = 0;
    for (int b = 1; b <= 5; b += 4) {
        struct {
            ntg_tdesc in;
            const int64_t *shape;
            int n;
        } cs[] = {{oh_shape(1, 2, b, 12), s1, 3},
                  {oh_shape(1, 3, b, 3, 4), s2, 2},
                  {oh_shape(1, 4, b, 2, 3, 2), s3, 3},
                  {oh_shape(0, 2, 6, 2), s4, 2}};
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            oh_case t;
            oh_case_init(&t, NTG_OP_reshape);
            cr_assert_eq(oh_attrs_set_ints(&t.attrs, NTG_RESHAPE_SHAPE, cs[i].shape, cs[i].n), 0);
            add_input(&t, &r, cs[i].in, -1, 1);
            worst = maxd(worst, check_forward(&t, "reshape"));
            cr_assert_eq(t.out[0].d.rank, cs[i].n);
            free_case(&t);
        }
    }
    cr_log_info("reshape: worst max-abs-rel %.2e", worst);
}

/* ----------------------------------------------------------- interp_linear */

Test(ops, interp_linear_matches_reference_up_and_down)
{
    static const int ins[] = {1, 3, 7, 13, 97}, sizes[] = {1, 2, 5, 13, 24, 97, 200};
    tu_rng r = {17};
    double worst = 0;
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int align = 0; align < 2; align++)
                for (int b = 1; b <= 3; b += 2) {
                    oh_case t;
                    char what[96];
                    oh_case_init(&t, NTG_OP_interp_linear);
                    oh_attrs_set_i(&t.attrs, NTG_INTERP_SIZE, sizes[s]);
                    oh_attrs_set_i(&t.attrs, NTG_INTERP_ALIGN, align);
                    add_input(&t, &r,
                              b == 3 ? oh_shape(1, 3, b, 2, ins[i]) : oh_shape(1, 2, b, ins[i]), -1,
                              1);
                    snprintf(what, sizeof what, "interp %d -> %d align %d", ins[i], sizes[s],
                             align);
                    worst = maxd(worst, check_forward(&t, what));
                    free_case(&t);
                }
    cr_log_info("interp_linear: worst max-abs-rel %.2e", worst);
}

/* Values F.interpolate gives for arange(4) (worked out from torch's formulas by hand). */
Test(ops, interp_linear_gives_torch_values)
{
    static const struct {
        int size, align;
        float want[8];
    } cs[] = {
        {8, 0, {0.0f, 0.25f, 0.75f, 1.25f, 1.75f, 2.25f, 2.75f, 3.0f}},
        {7, 1, {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f}},
        {2, 0, {0.5f, 2.5f}},
        {2, 1, {0.0f, 3.0f}},
        {1, 0, {1.5f}},
        {1, 1, {0.0f}},
        {3, 0, {0.16666667f, 1.5f, 2.8333333f}},
    };
    float x[4] = {0, 1, 2, 3};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        oh_case t;
        oh_case_init(&t, NTG_OP_interp_linear);
        oh_attrs_set_i(&t.attrs, NTG_INTERP_SIZE, cs[i].size);
        oh_attrs_set_i(&t.attrs, NTG_INTERP_ALIGN, cs[i].align);
        oh_case_input(&t, oh_shape(1, 2, 1, 4), x);
        cr_assert_eq(oh_forward(&t, ntg__cpu_fwd[NTG_OP_interp_linear], ntg__cpu_scratch_bytes), 0,
                     "%s", t.msg);
        for (int j = 0; j < cs[i].size; j++)
            cr_assert_float_eq(t.out[0].data[j], cs[i].want[j], 1e-6,
                               "size %d align %d: y[%d] = %.8g, want %.8g", cs[i].size, cs[i].align,
                               j, (double)t.out[0].data[j], (double)cs[i].want[j]);
        oh_case_free(&t);
    }
}

/* ---------------------------------------------------------- add, sub, mul */

Test(ops, broadcast_ops_match_reference)
{
    static const uint32_t codes[] = {NTG_OP_add, NTG_OP_sub, NTG_OP_mul};
    static const char *names[] = {"add", "sub", "mul"};
    tu_rng r = {18};
    double worst[3] = {0};
    for (int b = 1; b <= 4; b += 3) {
        const int h = 7, k = 5;
        ntg_tdesc cs[][2] = {
            {oh_shape(1, 2, b, 1), oh_shape(1, 2, b, h)},
            {oh_shape(0, 1, h), oh_shape(1, 2, b, h)},
            {oh_shape(1, 2, b, h), oh_shape(0, 1, h)},
            {oh_shape(1, 3, b, 1, h), oh_shape(0, 3, 1, k, 1)},
            {oh_shape(1, 2, b, 13), oh_shape(1, 2, b, 13)},
            {oh_shape(0, 0), oh_shape(1, 2, b, h)},
            {oh_shape(0, 1, 1), oh_shape(1, 2, b, 13)},
            {oh_shape(1, 4, b, 3, 1, 5), oh_shape(0, 2, 4, 1)},
            {oh_shape(1, 2, b, 1), oh_shape(0, 2, 1, 1)},
            {oh_shape(0, 2, 3, 1), oh_shape(0, 2, 1, 4)},
            {oh_shape(1, 3, b, k, 1), oh_shape(1, 3, b, 1, 97)},
        };
        for (int op = 0; op < 3; op++)
            for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
                oh_case t;
                char what[64];
                oh_case_init(&t, codes[op]);
                add_input(&t, &r, cs[i][0], -2, 2);
                add_input(&t, &r, cs[i][1], -2, 2);
                snprintf(what, sizeof what, "%s case %zu batch %d", names[op], i, b);
                worst[op] = maxd(worst[op], check_forward(&t, what));
                free_case(&t);
            }
    }
    for (int op = 0; op < 3; op++) cr_log_info("%s: worst max-abs-rel %.2e", names[op], worst[op]);
}

/* ----------------------------------------------------------------- concat */

Test(ops, concat_matches_reference)
{
    tu_rng r = {19};
    double worst = 0;
    for (int b = 1; b <= 3; b += 2) {
        struct {
            int axis, n;
            ntg_tdesc in[5];
        } cs[] = {
            {-1, 3, {oh_shape(1, 2, b, 3), oh_shape(1, 2, b, 1), oh_shape(1, 2, b, 7)}},
            {1, 2, {oh_shape(1, 3, b, 2, 5), oh_shape(1, 3, b, 3, 5)}},
            {2,
             5,
             {oh_shape(1, 3, b, 2, 1), oh_shape(1, 3, b, 2, 4), oh_shape(1, 3, b, 2, 13),
              oh_shape(1, 3, b, 2, 2), oh_shape(1, 3, b, 2, 1)}},
            {0, 2, {oh_shape(0, 2, 2, 3), oh_shape(0, 2, 4, 3)}},
            {1, 1, {oh_shape(1, 2, b, 97)}},
        };
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            oh_case t;
            oh_case_init(&t, NTG_OP_concat);
            oh_attrs_set_i(&t.attrs, NTG_CONCAT_AXIS, cs[i].axis);
            for (int j = 0; j < cs[i].n; j++) add_input(&t, &r, cs[i].in[j], -1, 1);
            worst = maxd(worst, check_forward(&t, "concat"));
            free_case(&t);
        }
    }
    cr_log_info("concat: worst max-abs-rel %.2e", worst);
}

/* ------------------------------------------------------------- the harness */

static void scribble_past_end(const ntg_kctx *c)
{
    float *y = c->out[0].data;
    y[ntg__tdesc_numel(&c->out[0].d)] = 1.0f;
}

static void write_input(const ntg_kctx *c)
{
    ntg__cpu_fwd_relu(c);
    ((float *)c->in[0].data)[0] = 5.0f;
}

/* The guards must catch what they are for, or every test above proves less than it says. */
Test(ops, harness_catches_out_of_bounds_and_input_writes)
{
    tu_rng r = {20};
    oh_case t;
    oh_case_init(&t, NTG_OP_relu);
    add_input(&t, &r, oh_shape(1, 2, 2, 3), -1, 1);
    cr_assert_neq(oh_forward(&t, scribble_past_end, NULL), 0);
    cr_assert_neq(oh_forward(&t, write_input, NULL), 0);
    cr_assert_eq(oh_forward(&t, ntg__cpu_fwd_relu, NULL), 0, "%s", t.msg);
    free_case(&t);
}
