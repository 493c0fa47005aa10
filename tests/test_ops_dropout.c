/* test_ops_dropout.c — dropout: the reference kernel (keep fraction, scale, the mask a pure
 * function of (seed, step, stream, global index), a mesh shard drawing the single process's
 * bits, the backward through the same mask), the compiler's programs (active in grad and
 * train_step only, the identity in forecasts and eval), shape errors with file:line:col, and
 * training runs that repeat bitwise for a seed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ref/ref_kernels.h"
#include "ntgraph.h"
#include "op_attrs.h"
#include "testutil.h"

/* ------------------------------------------------------------ the kernel */

typedef struct drop_run {
    ntg_attr attr[2];
    ntg_view in[4], out[2];
} drop_run;

/* y = dropout(x) over [rows, inner] (batched) with train.rng = (seed, step, row0); rng NULL:
 * the one-operand (forecast) form. */
static void fwd(const float *x, float *y, int64_t rows, int64_t inner, double p, int64_t stream,
                const float *rng)
{
    drop_run r;
    memset(&r, 0, sizeof r);
    r.attr[NTG_DROPOUT_P].f = p;
    r.attr[NTG_DROPOUT_STREAM].i = stream;
    ntg_tdesc xd = {NTG_DTYPE_F32, 2, 1, 0, {rows, inner}};
    ntg_tdesc rd = {NTG_DTYPE_F32, 1, 0, 0, {NTG_RNG_SIZE}};
    r.in[0].data = (void *)x;
    r.in[0].d = xd;
    r.in[1].data = (void *)rng;
    r.in[1].d = rd;
    r.out[0].data = y;
    r.out[0].d = xd;
    ntg_kctx c = {r.attr, 2, rng ? 2 : 1, 1, r.in, r.out, (int)rows, NULL, 0};
    ntg__cpu_fwd_dropout(&c);
}

/* dx from dy (in = [x, rng, y, dy], out = [dx, drng]) */
static void bwd(const float *dy, float *dx, int64_t rows, int64_t inner, double p, int64_t stream,
                const float *rng)
{
    drop_run r;
    memset(&r, 0, sizeof r);
    r.attr[NTG_DROPOUT_P].f = p;
    r.attr[NTG_DROPOUT_STREAM].i = stream;
    ntg_tdesc xd = {NTG_DTYPE_F32, 2, 1, 0, {rows, inner}};
    ntg_tdesc rd = {NTG_DTYPE_F32, 1, 0, 0, {NTG_RNG_SIZE}};
    r.in[0].d = xd;
    r.in[1].data = (void *)rng;
    r.in[1].d = rd;
    r.in[2].d = xd;
    r.in[3].data = (void *)dy;
    r.in[3].d = xd;
    r.out[0].data = dx;
    r.out[0].d = xd;
    r.out[1].d = rd;
    ntg_kctx c = {r.attr, 2, 4, 2, r.in, r.out, (int)rows, NULL, 0};
    ntg__cpu_bwd_dropout(&c);
}

static float *rnd(tu_rng *r, size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)tu_uniform(r, 0.5, 2.0); /* never 0 */
    return p;
}

enum { ROWS = 8, INNER = 25000 };
#define N ((size_t)ROWS * INNER)

Test(dropout, keeps_one_minus_p_and_scales_the_rest)
{
    tu_rng r = {11};
    float *x = rnd(&r, N), *y = malloc(N * sizeof *y);
    float w[NTG_RNG_SIZE];
    static const double ps[] = {0.1, 0.3, 0.5, 0.9};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        ntg__rng_fill(w, 42, 1, 0);
        fwd(x, y, ROWS, INNER, ps[k], 0, w);
        size_t kept = 0;
        for (size_t i = 0; i < N; i++) {
            if (y[i] == 0.0f) continue;
            kept++;
            float want = (float)((double)x[i] / (1.0 - ps[k]));
            cr_assert_eq(y[i], want, "p %g: y[%zu] = %g, x / (1 - p) = %g", ps[k], i, (double)y[i],
                         (double)want);
        }
        /* binomial: the standard deviation of the fraction is below 0.0012 here */
        double frac = (double)kept / (double)N;
        cr_assert(fabs(frac - (1 - ps[k])) < 0.006, "p %g: kept %.4f", ps[k], frac);
    }
    /* p 0 keeps everything unscaled; p 1 drops everything */
    fwd(x, y, ROWS, INNER, 0.0, 0, w);
    cr_assert(memcmp(x, y, N * sizeof *y) == 0);
    fwd(x, y, ROWS, INNER, 1.0, 0, w);
    for (size_t i = 0; i < N; i++) cr_assert_eq(y[i], 0.0f);
    free(x);
    free(y);
}

Test(dropout, forecast_form_is_the_identity)
{
    tu_rng r = {12};
    float *x = rnd(&r, 4 * 100), *y = malloc(4 * 100 * sizeof *y);
    fwd(x, y, 4, 100, 0.9, 0, NULL);
    cr_assert(memcmp(x, y, 400 * sizeof *y) == 0, "no train.rng: y = x bitwise");
    free(x);
    free(y);
}

/* the fraction of positions whose keep bit differs between a and b */
static double differ(const float *a, const float *b, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += (a[i] == 0.0f) != (b[i] == 0.0f);
    return (double)d / (double)n;
}

Test(dropout, mask_is_a_pure_function_of_seed_step_stream_index)
{
    tu_rng r = {13};
    float *x = rnd(&r, N), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    float w[NTG_RNG_SIZE];
    /* a seed that needs all three words */
    uint64_t seed = ((uint64_t)123 << 44) | ((uint64_t)456 << 22) | 789;
    ntg__rng_fill(w, seed, 5, 0);
    fwd(x, a, ROWS, INNER, 0.5, 3, w);
    fwd(x, b, ROWS, INNER, 0.5, 3, w);
    cr_assert(memcmp(a, b, N * sizeof *a) == 0, "same (seed, step, stream): bitwise the same");
    /* next step, another stream, another seed (each word): independent masks, which differ
     * at about 2 p (1 - p) = half of the positions */
    const struct {
        uint64_t seed, step;
        int64_t stream;
    } other[] = {{seed, 6, 3},
                 {seed, 5, 4},
                 {seed + 1, 5, 3},
                 {seed ^ ((uint64_t)1 << 30), 5, 3},
                 {seed ^ ((uint64_t)1 << 50), 5, 3}};
    for (size_t k = 0; k < sizeof other / sizeof other[0]; k++) {
        ntg__rng_fill(w, other[k].seed, other[k].step, 0);
        fwd(x, b, ROWS, INNER, 0.5, other[k].stream, w);
        double d = differ(a, b, N);
        cr_assert(fabs(d - 0.5) < 0.01, "case %zu: %.4f of the mask differs", k, d);
    }
    /* the words survive the float round trip */
    uint64_t s2, st2, r2;
    ntg__rng_fill(w, seed, 5, 3);
    ntg__rng_words(w, &s2, &st2, &r2);
    cr_assert(s2 == seed && st2 == 5 && r2 == 3);
    free(x);
    free(a);
    free(b);
}

/* A mesh worker runs rows [lo, lo + n) of the step's batch with row0 = lo: it must draw the
 * bits the single process draws for those rows. */
Test(dropout, a_shard_draws_the_single_process_bits)
{
    tu_rng r = {14};
    enum { B = 6, IN = 1000 };
    float *x = rnd(&r, B * IN), *full = malloc(B * IN * sizeof *full);
    float *part = malloc(B * IN * sizeof *part);
    float w[NTG_RNG_SIZE];
    ntg__rng_fill(w, 99, 17, 0);
    fwd(x, full, B, IN, 0.4, 1, w);
    static const int shards[][2] = {{0, 2}, {2, 2}, {4, 2}, {1, 5}, {5, 1}};
    for (size_t k = 0; k < sizeof shards / sizeof shards[0]; k++) {
        int lo = shards[k][0], n = shards[k][1];
        ntg__rng_fill(w, 99, 17, (uint64_t)lo);
        fwd(x + (size_t)lo * IN, part, n, IN, 0.4, 1, w);
        cr_assert(memcmp(part, full + (size_t)lo * IN, (size_t)n * IN * sizeof *part) == 0,
                  "shard [%d, %d) differs from the single process", lo, lo + n);
    }
    /* without row0 the shard would repeat row 0's bits: the offset matters */
    ntg__rng_fill(w, 99, 17, 0);
    fwd(x + 2 * IN, part, 2, IN, 0.4, 1, w);
    cr_assert(differ(part, full + 2 * IN, 2 * IN) > 0.3);
    free(x);
    free(full);
    free(part);
}

/* The backward is dy through the forward's mask and scale: y = x m / (1 - p) is linear in x,
 * so <dy, f(x)> = <b(dy), x> exactly in double (the adjoint identity), and each dx element is
 * 0 or dy / (1 - p) where the forward kept it.  A central difference agrees too. */
Test(dropout, gradient_uses_the_same_mask)
{
    tu_rng r = {15};
    enum { B = 4, IN = 3000 };
    const double p = 0.3;
    float *x = rnd(&r, B * IN), *y = malloc(B * IN * sizeof *y), *dy = rnd(&r, B * IN);
    float *dx = malloc(B * IN * sizeof *dx);
    float w[NTG_RNG_SIZE];
    ntg__rng_fill(w, 5, 9, 2);
    fwd(x, y, B, IN, p, 0, w);
    bwd(dy, dx, B, IN, p, 0, w);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < (size_t)B * IN; i++) {
        int kept = y[i] != 0.0f;
        float want = kept ? (float)((double)dy[i] / (1 - p)) : 0.0f;
        cr_assert_eq(dx[i], want, "dx[%zu] = %g, want %g", i, (double)dx[i], (double)want);
        lhs += (double)dy[i] * (double)y[i];
        rhs += (double)dx[i] * (double)x[i];
    }
    cr_assert(fabs(lhs - rhs) <= 1e-5 * fabs(lhs), "<dy, y> %g vs <dx, x> %g", lhs, rhs);
    /* finite differences of L = <dy, y> at a few elements */
    float *yp = malloc(B * IN * sizeof *yp);
    for (size_t k = 0; k < 20; k++) {
        size_t i = (size_t)(tu_next(&r) % (B * IN));
        float keep = x[i];
        const float eps = 1.0f / 64;
        x[i] = keep + eps;
        fwd(x, yp, B, IN, p, 0, w);
        double lp = (double)dy[i] * (double)yp[i];
        x[i] = keep - eps;
        fwd(x, yp, B, IN, p, 0, w);
        double lm = (double)dy[i] * (double)yp[i];
        x[i] = keep;
        double fd = (lp - lm) / (2.0 * eps);
        cr_assert(fabs(fd - (double)dx[i]) <= 1e-4 * (1 + fabs(fd)), "element %zu: fd %g, dx %g", i,
                  fd, (double)dx[i]);
    }
    /* no dy: zero; the forecast form: dx = dy */
    free(yp);
    free(x);
    free(y);
    free(dy);
    free(dx);
}

/* ------------------------------------------------------------ the compiler */

#define GRAPH(P)                                                                                   \
    "ntgraph: 1\n"                                                                                 \
    "name: t\n"                                                                                    \
    "inputs:\n"                                                                                    \
    "  x: [batch, 24]\n"                                                                           \
    "outputs:\n"                                                                                   \
    "  y: [batch, 8]\n"                                                                            \
    "nodes:\n"                                                                                     \
    "  - {op: dense, name: fc1, in: x, out: h, units: 64, activation: relu}\n"                     \
    "  - {op: dropout, in: h, out: hd, p: " P "}\n"                                                \
    "  - {op: dense, name: fc2, in: hd, out: y, units: 8}\n"                                       \
    "train:\n"                                                                                     \
    "  loss: mse\n"                                                                                \
    "  optimizer: adam\n"                                                                          \
    "  scaler: zscore\n"                                                                           \
    "  window_scaler: identity\n"

static ntg_plan *compile(const char *text, int infer_only)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 16;
    o.seed = 3;
    if (infer_only) o.flags |= NTG_COMPILE_INFER_ONLY;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(text, strlen(text), "g.yaml", &o, &plan, &err), NTG_OK, "%s",
                 err.message);
    return plan;
}

Test(dropout, identity_in_forecasts_and_eval_active_in_grad)
{
    ntg_plan *plan = compile(GRAPH("0.5"), 0);
    ntg_session *s = NULL;
    ntg_error err;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    enum { B = 4 };
    tu_rng r = {16};
    float x[B * 24], t[B * 8], y1[B * 8], y2[B * 8], w[NTG_RNG_SIZE];
    for (int i = 0; i < B * 24; i++) x[i] = (float)tu_uniform(&r, -1, 1);
    for (int i = 0; i < B * 8; i++) t[i] = (float)tu_uniform(&r, -1, 1);
    cr_assert_eq(ntg_session_set_input(s, "x", x, B * 24, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "t", t, B * 8, &err), NTG_OK, "%s", err.message);
    /* infer and eval ignore train.rng, whatever it holds */
    ntg__rng_fill(w, 1, 1, 0);
    cr_assert_eq(ntg_session_set_input(s, "train.rng", w, NTG_RNG_SIZE, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(ntg_session_run(s, B, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y1, B * 8, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run_program(s, "eval", B, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y2, B * 8, &err), NTG_OK, "%s", err.message);
    cr_assert(memcmp(y1, y2, sizeof y1) == 0, "eval forecasts as infer");
    float le = 0, lg1 = 0, lg2 = 0, lg3 = 0;
    cr_assert_eq(ntg_session_get_output(s, "loss", &le, 1, &err), NTG_OK, "%s", err.message);
    /* grad draws a mask: its loss differs from eval's; the same words give the same loss
     * bitwise, the next step another */
    cr_assert_eq(ntg_session_run_program(s, "grad", B, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "loss", &lg1, 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run_program(s, "grad", B, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "loss", &lg2, 1, &err), NTG_OK, "%s", err.message);
    ntg__rng_fill(w, 1, 2, 0);
    cr_assert_eq(ntg_session_set_input(s, "train.rng", w, NTG_RNG_SIZE, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(ntg_session_run_program(s, "grad", B, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "loss", &lg3, 1, &err), NTG_OK, "%s", err.message);
    cr_assert(le != lg1, "eval %g, grad %g: dropout is active in grad", (double)le, (double)lg1);
    cr_assert(lg1 == lg2, "same words, same loss: %g %g", (double)lg1, (double)lg2);
    cr_assert(lg1 != lg3, "next step, another mask");
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);

    /* a plan for inference only has no train.rng, and forecasts alike */
    plan = compile(GRAPH("0.5"), 1);
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "train.rng", w, NTG_RNG_SIZE, &err), NTG_ERR_NOT_FOUND);
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
}

/* The gradient of a batch is the share-weighted sum of its shards' gradients when each shard
 * runs with its first window's global index: what the mesh all-reduces. */
Test(dropout, shard_gradients_sum_to_the_batch_gradient)
{
    ntg_plan *plan = compile(GRAPH("0.3"), 0);
    ntg_session *s = NULL;
    ntg_error err;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    enum { B = 6, LO = 2, NW = 64 * 24 };
    tu_rng r = {17};
    float x[B * 24], t[B * 8], w[NTG_RNG_SIZE];
    static float gfull[NW], ga[NW], gb[NW];
    for (int i = 0; i < B * 24; i++) x[i] = (float)tu_uniform(&r, -1, 1);
    for (int i = 0; i < B * 8; i++) t[i] = (float)tu_uniform(&r, -1, 1);
    struct {
        int lo, n;
        float *g;
    } runs[] = {{0, B, gfull}, {0, LO, ga}, {LO, B - LO, gb}};
    for (int k = 0; k < 3; k++) {
        int lo = runs[k].lo, n = runs[k].n;
        cr_assert_eq(ntg_session_set_input(s, "x", x + lo * 24, (size_t)n * 24, &err), NTG_OK);
        cr_assert_eq(ntg_session_set_input(s, "t", t + lo * 8, (size_t)n * 8, &err), NTG_OK);
        ntg__rng_fill(w, 8, 4, (uint64_t)lo);
        cr_assert_eq(ntg_session_set_input(s, "train.rng", w, NTG_RNG_SIZE, &err), NTG_OK);
        cr_assert_eq(ntg_session_run_program(s, "grad", n, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_get_output(s, "grad.fc1.weight", runs[k].g, NW, &err), NTG_OK,
                     "%s", err.message);
    }
    double worst = 0, big = 0;
    for (int i = 0; i < NW; i++) {
        double sum = (double)LO / B * ga[i] + (double)(B - LO) / B * gb[i];
        double d = fabs(sum - (double)gfull[i]);
        worst = d > worst ? d : worst;
        big = fabs((double)gfull[i]) > big ? fabs((double)gfull[i]) : big;
    }
    cr_assert(big > 0 && worst <= 1e-5 * big, "shards vs batch: %g (of %g)", worst, big);
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
}

static void expect_error(const char *text, int line, int col, const char *msg)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_plan *plan = NULL;
    ntg_error err;
    memset(&err, 0, sizeof err);
    ntg_status st = ntg_compile_string(text, strlen(text), "g.yaml", &o, &plan, &err);
    cr_assert_eq(st, NTG_ERR_SHAPE, "status %d: %s", st, err.message);
    cr_assert_null(plan);
    cr_assert_eq(err.line, line, "line %d, want %d: %s", err.line, line, err.message);
    cr_assert_eq(err.column, col, "column %d, want %d: %s", err.column, col, err.message);
    cr_assert(strstr(err.message, msg), "message '%s' lacks '%s'", err.message, msg);
}

Test(dropout, shape_errors_name_the_node)
{
    expect_error(GRAPH("1.5"), 9, 10, "dropout: p 1.5 must lie in [0, 1]");
    expect_error(GRAPH("-0.1"), 9, 10, "dropout: p -0.1 must lie in [0, 1]");
    expect_error(GRAPH("0.1, stream: -2"), 9, 10, "dropout: stream -2 must be >= 0");
}

/* ------------------------------------------------------------ training */

static const char *synthetic_csv(void)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/ntg-dropout-%d.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "date,a\n");
    tu_rng r = {5};
    for (int i = 0; i < 400; i++)
        fprintf(f, "2020-01-%02d %02d:00:00,%.6f\n", 1 + i / 24, i % 24,
                10 + 3 * sin(i * 2 * 3.14159265358979 / 24) + tu_uniform(&r, -0.3, 0.3));
    fclose(f);
    return path;
}

static ntg_plan *train(const ntg_plan *p, const ntg_series *s, const char *seed)
{
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_define set[] = {{"steps", "20"},    {"batch", "8"},     {"lr", "0.003"},
                        {"val_every", "5"}, {"patience", "-1"}, {"seed", seed}};
    o.split = "300,50,50";
    o.settings = set;
    o.n_settings = 6;
    o.backend = "cpu";
    ntg_plan *out = NULL;
    ntg_error err;
    cr_assert_eq(ntg_train(p, s, &o, &out, NULL, &err), NTG_OK, "%s", err.message);
    return out;
}

static int same_weights(const ntg_plan *a, const ntg_plan *b)
{
    for (size_t i = 0; i < ntg_plan_param_count(a); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_param(a, i, &ti, NULL);
        if (memcmp(ntg_plan_param_data(a, i), ntg_plan_param_data(b, i), ti.nbytes)) return 0;
    }
    return 1;
}

Test(dropout, training_repeats_bitwise_for_a_seed)
{
    ntg_plan *p = compile(GRAPH("0.3"), 0);
    ntg_plan *p0 = compile(GRAPH("0"), 0);
    const char *csv = synthetic_csv();
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_load_csv(csv, NULL, &s, &err), NTG_OK, "%s", err.message);
    ntg_plan *a = train(p, s, "7"), *b = train(p, s, "7"), *c = train(p, s, "8");
    ntg_plan *d = train(p0, s, "7");
    cr_assert(same_weights(a, b), "same seed: bitwise the same run");
    cr_assert(!same_weights(a, c), "another seed: other masks (and windows)");
    cr_assert(!same_weights(a, d), "p 0.3 trains otherwise than p 0 (no dropout)");
    ntg_plan_destroy(a);
    ntg_plan_destroy(b);
    ntg_plan_destroy(c);
    ntg_plan_destroy(d);
    ntg_plan_destroy(p);
    ntg_plan_destroy(p0);
    ntg_series_destroy(s);
    unlink(csv);
}
