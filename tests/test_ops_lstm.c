/* test_ops_lstm.c — the lstm reference kernels: double recurrence, finite differences, PyTorch. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "ref/ref_kernels.h"
#include "ops_harness.h"
#include "safetensors.h"
#include "testutil.h"

/*
 * The oracle is the recurrence of torch.nn.LSTM written out in double (matrix-vector products,
 * sigmoid, tanh), sharing nothing with the kernel.  Tolerances are the golden README's:
 * 1e-5 max-abs-relative for values, 1e-4 for gradients (central differences of the double
 * recurrence, eps 1e-6, are good to ~1e-9, so the bound measures the float32 kernel).
 */
#define FWD_TOL 1e-5
#define GRAD_TOL 1e-4
#define EPS 1e-6
#define WS NTG_LSTM_WS_PER_STEP

typedef struct lstm_shape {
    int b, t, in, h, layers;
} lstm_shape;

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

static double sigm(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

/*
 * torch.nn.LSTM(batch_first=True) from zero state: x [B, T, I], p[4k + 0..3] = W_ih, W_hh,
 * b_ih, b_hh of layer k (gate rows i, f, g, o); y [B, T, H] gets the top layer's h; ws (NULL
 * or [B, L, T, 6H]) the activated gates, c and h of every layer and step.
 */
static void ref_lstm(const lstm_shape *s, const double *x, const double *const *p, double *y,
                     double *ws)
{
    size_t nb = (size_t)s->b, nt = (size_t)s->t, h = (size_t)s->h, seq = nb * nt * h;
    double *hin = calloc(seq + 1, sizeof *hin), *hout = calloc(seq + 1, sizeof *hout);
    double *hprev = calloc(h, sizeof *hprev), *cprev = calloc(h, sizeof *cprev);
    double *z = calloc(4 * h, sizeof *z);
    cr_assert(hin && hout && hprev && cprev && z);
    for (int k = 0; k < s->layers; k++) {
        size_t in = k ? h : (size_t)s->in;
        const double *src = k ? hin : x;
        const double *wih = p[4 * k], *whh = p[4 * k + 1], *bih = p[4 * k + 2], *bhh = p[4 * k + 3];
        for (size_t b = 0; b < nb; b++) {
            memset(hprev, 0, h * sizeof *hprev);
            memset(cprev, 0, h * sizeof *cprev);
            for (size_t t = 0; t < nt; t++) {
                const double *xt = src + (b * nt + t) * in;
                for (size_t r = 0; r < 4 * h; r++) {
                    double a = bih[r] + bhh[r];
                    for (size_t q = 0; q < in; q++) a += wih[r * in + q] * xt[q];
                    for (size_t q = 0; q < h; q++) a += whh[r * h + q] * hprev[q];
                    z[r] = a;
                }
                double *ho = hout + (b * nt + t) * h;
                double *st =
                    ws ? ws + ((b * (size_t)s->layers + (size_t)k) * nt + t) * WS * h : NULL;
                for (size_t j = 0; j < h; j++) {
                    double i = sigm(z[j]), f = sigm(z[h + j]), g = tanh(z[2 * h + j]);
                    double o = sigm(z[3 * h + j]), c = f * cprev[j] + i * g;
                    cprev[j] = c;
                    ho[j] = o * tanh(c);
                    if (st) {
                        st[j] = i;
                        st[h + j] = f;
                        st[2 * h + j] = g;
                        st[3 * h + j] = o;
                        st[4 * h + j] = c;
                        st[5 * h + j] = ho[j];
                    }
                }
                memcpy(hprev, ho, h * sizeof *hprev);
            }
        }
        double *tmp = hin;
        hin = hout;
        hout = tmp;
    }
    memcpy(y, hin, seq * sizeof *y);
    free(hin);
    free(hout);
    free(hprev);
    free(cprev);
    free(z);
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

/* x in [-1, 1), every weight and bias in [-0.8, 0.8): wide enough that the gates leave their
 * linear range, as torch's U(-1/sqrt(H), 1/sqrt(H)) does for small H. */
static void make_case(oh_case *t, tu_rng *r, const lstm_shape *s)
{
    oh_case_init(t, NTG_OP_lstm);
    oh_attrs_set_i(&t->attrs, NTG_LSTM_HIDDEN, s->h);
    oh_attrs_set_i(&t->attrs, NTG_LSTM_LAYERS, s->layers);
    add_input(t, r, oh_shape(1, 3, s->b, s->t, s->in), -1, 1);
    for (int k = 0; k < s->layers; k++) {
        add_input(t, r, oh_shape(0, 2, 4 * s->h, k ? s->h : s->in), -0.8, 0.8);
        add_input(t, r, oh_shape(0, 2, 4 * s->h, s->h), -0.8, 0.8);
        add_input(t, r, oh_shape(0, 1, 4 * s->h), -0.8, 0.8);
        add_input(t, r, oh_shape(0, 1, 4 * s->h), -0.8, 0.8);
    }
}

static void free_case(oh_case *t)
{
    for (int i = 0; i < t->n_in; i++) free(t->in[i].data);
    oh_case_free(t);
}

/* The case's float inputs widened to double (freed with free_wide). */
static void widen(const oh_case *t, double **x)
{
    for (int i = 0; i < t->n_in; i++) {
        size_t n = oh_numel(&t->in[i].d);
        const float *src = t->in[i].data;
        x[i] = malloc((n ? n : 1) * sizeof(double));
        cr_assert_not_null(x[i]);
        for (size_t e = 0; e < n; e++) x[i][e] = (double)src[e];
    }
}

static void free_wide(const oh_case *t, double **x)
{
    for (int i = 0; i < t->n_in; i++) free(x[i]);
}

static void forward(oh_case *t, int n_out, const char *what)
{
    t->want_out = n_out;
    cr_assert_eq(oh_forward(t, ntg__cpu_fwd_lstm, ntg__cpu_scratch_bytes), 0, "%s: %s", what,
                 t->msg);
    cr_assert_eq(t->n_out, n_out);
}

static double *dalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    cr_assert_not_null(p);
    return p;
}

/* ---------------------------------------------------------------- forward */

/* y and ws against the double recurrence; y bitwise the same with and without ws (inference
 * runs without it, training with it: both must forecast alike). */
static double check_forward(const lstm_shape *s, tu_rng *r, int max_batch)
{
    char what[96];
    snprintf(what, sizeof what, "B %d T %d I %d H %d layers %d", s->b, s->t, s->in, s->h,
             s->layers);
    oh_case t;
    make_case(&t, r, s);
    t.max_batch = max_batch;
    forward(&t, 1, what);
    size_t ny = t.out[0].n;
    float *y1 = malloc((ny ? ny : 1) * sizeof *y1);
    cr_assert_not_null(y1);
    memcpy(y1, t.out[0].data, ny * sizeof *y1);
    forward(&t, 2, what);
    cr_assert_eq(memcmp(y1, t.out[0].data, ny * sizeof *y1), 0, "%s: y differs with ws", what);
    cr_assert_eq(t.out[1].n, (size_t)s->b * (size_t)s->layers * (size_t)s->t * WS * (size_t)s->h);

    double *x[OH_MAX_IN];
    widen(&t, x);
    double *y = dalloc(ny), *ws = dalloc(t.out[1].n);
    ref_lstm(s, x[0], (const double *const *)x + 1, y, ws);
    double ey = tu_max_abs_rel_d(t.out[0].data, y, ny);
    double ew = tu_max_abs_rel_d(t.out[1].data, ws, t.out[1].n);
    cr_assert(ey <= FWD_TOL, "%s: y max-abs-rel %.3g", what, ey);
    cr_assert(ew <= FWD_TOL, "%s: ws max-abs-rel %.3g", what, ew);
    free_wide(&t, x);
    free(y);
    free(ws);
    free(y1);
    free_case(&t);
    return maxd(ey, ew);
}

Test(ops_lstm, forward_matches_double_recurrence)
{
    static const int bs[] = {1, 3}, ts[] = {1, 2, 7}, ins[] = {1, 5}, hs[] = {3, 8};
    tu_rng r = {2024};
    double worst = 0;
    int n = 0;
    for (int layers = 1; layers <= 2; layers++)
        for (int ib = 0; ib < 2; ib++)
            for (int it = 0; it < 3; it++)
                for (int ii = 0; ii < 2; ii++)
                    for (int ih = 0; ih < 2; ih++) {
                        lstm_shape s = {bs[ib], ts[it], ins[ii], hs[ih], layers};
                        /* every other case with scratch sized for a larger compiled batch */
                        worst = maxd(worst, check_forward(&s, &r, n++ % 2 ? s.b + 2 : 0));
                    }
    cr_log_info("lstm forward: %d shapes, worst max-abs-rel %.2e", n, worst);
}

/* Batches of 8 and more take the GEMM's packed path in the per-step products, hidden sizes
 * past one register tile and a cache block (4H > 128) its edges, three layers the middle. */
Test(ops_lstm, forward_matches_double_recurrence_larger)
{
    static const lstm_shape shapes[] = {
        {9, 10, 3, 17, 2}, {16, 5, 7, 40, 1}, {8, 3, 2, 5, 3}, {2, 40, 1, 9, 2}};
    tu_rng r = {77};
    double worst = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        worst = maxd(worst, check_forward(&shapes[i], &r, 0));
    cr_log_info("lstm forward (larger): worst max-abs-rel %.2e", worst);
}

/* --------------------------------------------------------------- backward */

static double loss(const lstm_shape *s, double *const *x, const float *w, double *y, size_t ny)
{
    ref_lstm(s, x[0], (const double *const *)x + 1, y, NULL);
    double l = 0;
    for (size_t i = 0; i < ny; i++) l += (double)w[i] * y[i];
    return l;
}

/*
 * Forward with ws, backward with dy = w (NULL when null_dy) for the inputs in `want`, then
 * central differences of L = sum(w * y) on the double recurrence for every wanted input.
 * Unwanted gradients must stay unallocated; with null_dy every wanted one must be all zero.
 */
static double check_backward(const lstm_shape *s, tu_rng *r, uint64_t want, int null_dy)
{
    char what[128];
    snprintf(what, sizeof what, "B %d T %d I %d H %d layers %d want %#llx%s", s->b, s->t, s->in,
             s->h, s->layers, (unsigned long long)want, null_dy ? " dy NULL" : "");
    oh_case t;
    make_case(&t, r, s);
    forward(&t, 2, what);
    size_t ny = t.out[0].n;
    float *w = malloc((ny ? ny : 1) * sizeof *w);
    cr_assert_not_null(w);
    tu_fill(r, w, ny, -1, 1);
    float *dy[2] = {null_dy ? NULL : w, NULL};
    cr_assert_eq(oh_backward(&t, ntg__cpu_bwd_lstm, ntg__cpu_scratch_bytes, dy, want), 0, "%s: %s",
                 what, t.msg);
    /* x, the weights and ws are read; y and the biases only described */
    cr_assert_eq(t.saves & (1u << 16), 0u);
    cr_assert_neq(t.saves & (1u << 17), 0u);

    double *x[OH_MAX_IN], *y = dalloc(ny), worst = 0;
    widen(&t, x);
    for (int i = 0; i < t.n_in; i++) {
        if (!((want >> i) & 1u)) {
            cr_assert_null(t.dx[i].data, "%s: unwanted gradient %d allocated", what, i);
            continue;
        }
        size_t n = t.dx[i].n;
        if (null_dy) {
            for (size_t e = 0; e < n; e++)
                cr_assert(t.dx[i].data[e] == 0.0f, "%s: d input %d [%zu] = %g", what, i, e,
                          (double)t.dx[i].data[e]);
            continue;
        }
        double *g = dalloc(n);
        for (size_t e = 0; e < n; e++) {
            double v = x[i][e];
            x[i][e] = v + EPS;
            double lp = loss(s, x, w, y, ny);
            x[i][e] = v - EPS;
            double lm = loss(s, x, w, y, ny);
            x[i][e] = v;
            g[e] = (lp - lm) / (2 * EPS);
        }
        double err = tu_max_abs_rel_d(t.dx[i].data, g, n);
        cr_assert(err <= GRAD_TOL, "%s: gradient of input %d: max-abs-rel %.3g", what, i, err);
        worst = maxd(worst, err);
        free(g);
    }
    free_wide(&t, x);
    free(y);
    free(w);
    free_case(&t);
    return worst;
}

static uint64_t all_inputs(const lstm_shape *s)
{
    return (UINT64_C(1) << (1 + 4 * s->layers)) - 1;
}

Test(ops_lstm, backward_matches_finite_differences)
{
    static const lstm_shape shapes[] = {{2, 3, 2, 3, 1}, {3, 4, 3, 4, 2}, {1, 7, 1, 5, 2},
                                        {2, 5, 4, 3, 3}, {1, 1, 2, 3, 2}, {9, 4, 2, 5, 2}};
    tu_rng r = {31337};
    double worst = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        worst = maxd(worst, check_backward(&shapes[i], &r, all_inputs(&shapes[i]), 0));
    cr_log_info("lstm backward: worst max-abs-rel %.2e", worst);
}

/* Only some gradients wanted: the others stay NULL, and the wanted ones are still exact when
 * the layers below them are skipped (nothing under them wanted) or only dx is asked for. */
Test(ops_lstm, backward_writes_only_wanted_gradients)
{
    static const lstm_shape s2 = {3, 5, 2, 4, 2}, s3 = {2, 4, 3, 3, 3};
    static const uint64_t wants2[] = {
        0x1,   /* dx only: through both layers */
        0x1e0, /* layer 1's parameters only: layer 0 skipped */
        0x018, /* layer 0's biases */
        0x02c, /* layer 0's W_hh and b_ih, layer 1's W_ih */
        0x101, /* dx and the top b_hh */
    };
    tu_rng r = {99};
    double worst = 0;
    for (size_t i = 0; i < sizeof wants2 / sizeof wants2[0]; i++)
        worst = maxd(worst, check_backward(&s2, &r, wants2[i], 0));
    worst = maxd(worst, check_backward(&s3, &r, 0x1u << 6, 0));  /* middle layer's W_hh */
    worst = maxd(worst, check_backward(&s3, &r, 0x1u << 12, 0)); /* top b_hh */
    check_backward(&s2, &r, 0, 0);                               /* nothing: a no-op */
    cr_log_info("lstm backward (subsets): worst max-abs-rel %.2e", worst);
}

Test(ops_lstm, backward_with_null_dy_gives_zero_gradients)
{
    static const lstm_shape s = {2, 3, 2, 3, 2};
    tu_rng r = {5};
    check_backward(&s, &r, all_inputs(&s), 1);
    check_backward(&s, &r, 0x1e0, 1);
}

/* A weight the backward needs but did not get (the saves mask has 16 input bits: layers 4 and
 * up) gives NaN gradients, never a NULL read. */
Test(ops_lstm, backward_without_a_weight_gives_nan)
{
    static const lstm_shape s = {2, 3, 2, 3, 1};
    tu_rng r = {6};
    oh_case t;
    make_case(&t, &r, &s);
    forward(&t, 2, "no weight");
    ntg_view in[9], out[5];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    for (int i = 0; i < 5; i++) in[i] = t.in[i];
    in[2].data = NULL; /* W_hh */
    in[3].data = in[4].data = NULL;
    in[5].d = t.out[0].d;
    in[6].d = t.out[1].d;
    in[6].data = t.out[1].data;
    in[7].d = t.out[0].d;
    in[7].data = t.out[0].data; /* any dy */
    oh_buf dx;
    cr_assert_eq(oh_buf_alloc(&dx, &t.in[0].d), 0);
    out[0].d = t.in[0].d;
    out[0].data = dx.data;
    cr_assert_eq(oh_call(&t, ntg__cpu_bwd_lstm, ntg__cpu_scratch_bytes, NTG_DIR_BWD, 9, in, 5, out),
                 0, "%s", t.msg);
    for (size_t e = 0; e < dx.n; e++) cr_assert(isnan(dx.data[e]));
    cr_assert(oh_buf_guards_ok(&dx));
    oh_buf_free(&dx);
    free_case(&t);
}

/* -------------------------------------------------------- PyTorch anchored */

static float *st_floats(const ntg_st_file *f, const char *name, size_t n)
{
    const ntg_st_tensor *st = ntg__st_find(f, name);
    cr_assert_not_null(st, "golden file lacks %s", name);
    cr_assert_str_eq(st->dtype, "F32");
    cr_assert_eq(st->nbytes, n * sizeof(float), "%s: %llu bytes", name,
                 (unsigned long long)st->nbytes);
    float *p = malloc(n * sizeof *p);
    cr_assert_not_null(p);
    memcpy(p, st->data, n * sizeof *p); /* data may be unaligned */
    return p;
}

static double dget(const ntg_st_file *f, const char *name, size_t i, size_t n)
{
    float *p = st_floats(f, name, n);
    double v = (double)p[i];
    free(p);
    return v;
}

/*
 * LSTMAttention's head (../shared/peers/torch_models.py) on enc [B, T, H] in double:
 * q = enc[:, -1]; w = softmax(enc q / sqrt(H)) over time; ctx = sum_t w_t enc_t;
 * y = fc2(relu(fc1([ctx, q]))).  With t given, returns the MSE loss and writes denc, its
 * gradient (softmax backward ds = w (dw - sum w dw), q counted both as a key and a query).
 */
typedef struct head {
    const float *w1, *b1, *w2, *b2; /* fc1 [F, 2H], fc2 [O, F] */
    int f, o;
} head;

static double head_run(const head *hd, const lstm_shape *s, const float *enc, const float *t,
                       double *yout, float *denc)
{
    int nb = s->b, nt = s->t, h = s->h, nf = hd->f, no = hd->o;
    double scale = 1.0 / sqrt((double)h), l = 0;
    double *w = dalloc((size_t)nt), *dw = dalloc((size_t)nt), *z = dalloc(2 * (size_t)h);
    double *a1 = dalloc((size_t)nf), *da1 = dalloc((size_t)nf), *dz = dalloc(2 * (size_t)h);
    double *dyv = dalloc((size_t)no), *ds = dalloc((size_t)nt);
    for (int b = 0; b < nb; b++) {
        const float *e = enc + (size_t)b * (size_t)nt * (size_t)h, *q = e + (nt - 1) * h;
        double m = -INFINITY, sum = 0;
        for (int u = 0; u < nt; u++) {
            double sc = 0;
            for (int j = 0; j < h; j++) sc += (double)e[u * h + j] * (double)q[j];
            w[u] = sc * scale;
            m = fmax(m, w[u]);
        }
        for (int u = 0; u < nt; u++) sum += (w[u] = exp(w[u] - m));
        for (int u = 0; u < nt; u++) w[u] /= sum;
        for (int j = 0; j < h; j++) {
            double c = 0;
            for (int u = 0; u < nt; u++) c += w[u] * (double)e[u * h + j];
            z[j] = c;
            z[h + j] = (double)q[j];
        }
        for (int u = 0; u < nf; u++) {
            double a = (double)hd->b1[u];
            for (int j = 0; j < 2 * h; j++) a += (double)hd->w1[u * 2 * h + j] * z[j];
            a1[u] = a;
        }
        for (int o = 0; o < no; o++) {
            double a = (double)hd->b2[o];
            for (int u = 0; u < nf; u++) a += (double)hd->w2[o * nf + u] * fmax(a1[u], 0.0);
            yout[b * no + o] = a;
            double d = a - (double)t[b * no + o];
            l += d * d / (double)(nb * no);
            dyv[o] = 2 * d / (double)(nb * no);
        }
        for (int u = 0; u < nf; u++) {
            double d = 0;
            for (int o = 0; o < no; o++) d += (double)hd->w2[o * nf + u] * dyv[o];
            da1[u] = a1[u] > 0 ? d : 0;
        }
        for (int j = 0; j < 2 * h; j++) {
            double d = 0;
            for (int u = 0; u < nf; u++) d += (double)hd->w1[u * 2 * h + j] * da1[u];
            dz[j] = d;
        }
        double wdw = 0;
        for (int u = 0; u < nt; u++) {
            double d = 0;
            for (int j = 0; j < h; j++) d += dz[j] * (double)e[u * h + j];
            dw[u] = d;
            wdw += w[u] * d;
        }
        for (int u = 0; u < nt; u++) ds[u] = w[u] * (dw[u] - wdw) * scale;
        float *de = denc + (size_t)b * (size_t)nt * (size_t)h;
        for (int j = 0; j < h; j++) {
            double dq = dz[h + j];
            for (int u = 0; u < nt; u++) {
                dq += ds[u] * (double)e[u * h + j];
                de[u * h + j] = (float)(w[u] * dz[j] + ds[u] * (double)q[j]);
            }
            de[(nt - 1) * h + j] = (float)((double)de[(nt - 1) * h + j] + dq);
        }
    }
    free(w);
    free(dw);
    free(z);
    free(a1);
    free(da1);
    free(dz);
    free(dyv);
    free(ds);
    return l;
}

/*
 * lstm_attn_h24.safetensors (PyTorch 1.13, ../shared/golden): the LSTM alone is not in the
 * file, so (1) the kernel's forward on the real weights and x [4, 96, 1] must be
 * deterministic and equal the double recurrence; (2) the model's head, run in double on the
 * kernel's output, must give torch's y and loss; (3) the head's gradient fed to the backward
 * kernel must give torch's grad.lstm.* .  (2) and (3) pin the gate order and both biases to
 * torch's, which a reference written from the same reading could not.
 */
Test(ops_lstm, pytorch_golden_lstm_attention)
{
    /* the vendored copy (tests/data, byte-identical) first, so CI runs this too */
    const char *path = tu_src("tests/data/lstm_attn_h24.safetensors");
    FILE *probe = fopen(path, "rb");
    if (probe)
        fclose(probe);
    else
        path = tu_shared("golden/lstm_attn_h24.safetensors");
    if (!path) cr_skip_test("lstm_attn_h24.safetensors is in neither tests/data nor ../shared");
    ntg_st_file *f = NULL;
    ntg_error err;
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK, "%s", err.message);
    static const char *leaf[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    const lstm_shape s = {4, 96, 1, 128, 2};
    size_t g4 = 4 * (size_t)s.h;

    oh_case t;
    oh_case_init(&t, NTG_OP_lstm);
    oh_attrs_set_i(&t.attrs, NTG_LSTM_HIDDEN, s.h);
    oh_attrs_set_i(&t.attrs, NTG_LSTM_LAYERS, s.layers);
    oh_case_input(&t, oh_shape(1, 3, s.b, s.t, s.in), st_floats(f, "x", 4 * 96));
    for (int k = 0; k < s.layers; k++)
        for (int j = 0; j < 4; j++) {
            char name[64];
            snprintf(name, sizeof name, "lstm.%s_l%d", leaf[j], k);
            size_t cols = j == 0 ? (k ? (size_t)s.h : 1) : j == 1 ? (size_t)s.h : 1;
            ntg_tdesc d = j < 2 ? oh_shape(0, 2, (int)g4, (int)cols) : oh_shape(0, 1, (int)g4);
            oh_case_input(&t, d, st_floats(f, name, g4 * cols));
        }

    forward(&t, 1, "golden");
    size_t ny = t.out[0].n;
    float *y1 = malloc(ny * sizeof *y1);
    cr_assert_not_null(y1);
    memcpy(y1, t.out[0].data, ny * sizeof *y1);
    forward(&t, 1, "golden");
    cr_assert_eq(memcmp(y1, t.out[0].data, ny * sizeof *y1), 0, "forward is not deterministic");
    forward(&t, 2, "golden");
    cr_assert_eq(memcmp(y1, t.out[0].data, ny * sizeof *y1), 0, "y differs with ws");

    double *x[OH_MAX_IN], *yr = dalloc(ny);
    widen(&t, x);
    ref_lstm(&s, x[0], (const double *const *)x + 1, yr, NULL);
    double e_enc = tu_max_abs_rel_d(y1, yr, ny);
    cr_assert(e_enc <= FWD_TOL, "enc vs double recurrence: max-abs-rel %.3g", e_enc);

    head hd = {st_floats(f, "fc1.weight", 128 * 256),
               st_floats(f, "fc1.bias", 128),
               st_floats(f, "fc2.weight", 24 * 128),
               st_floats(f, "fc2.bias", 24),
               128,
               24};
    float *tt = st_floats(f, "t", 4 * 24), *ygold = st_floats(f, "y", 4 * 24);
    float *denc = malloc(ny * sizeof *denc);
    double yh[4 * 24];
    cr_assert_not_null(denc);
    double l = head_run(&hd, &s, y1, tt, yh, denc);
    double e_y = tu_max_abs_rel_d(ygold, yh, 4 * 24);
    double lg = dget(f, "loss", 0, 1), e_l = fabs(l - lg) / fabs(lg);
    cr_assert(e_y <= FWD_TOL, "head(lstm) vs torch y: max-abs-rel %.3g", e_y);
    cr_assert(e_l <= FWD_TOL, "loss %.9g vs torch %.9g", l, lg);

    float *dy[2] = {denc, NULL};
    cr_assert_eq(oh_backward(&t, ntg__cpu_bwd_lstm, ntg__cpu_scratch_bytes, dy, 0x1fe), 0, "%s",
                 t.msg);
    double e_g = 0;
    for (int k = 0; k < s.layers; k++)
        for (int j = 0; j < 4; j++) {
            char name[64];
            snprintf(name, sizeof name, "grad.lstm.%s_l%d", leaf[j], k);
            const oh_buf *g = &t.dx[1 + 4 * k + j];
            float *want = st_floats(f, name, g->n);
            double e = tu_max_abs_rel(g->data, want, g->n);
            cr_assert(e <= GRAD_TOL, "%s: max-abs-rel %.3g", name, e);
            e_g = maxd(e_g, e);
            free(want);
        }
    cr_log_info("lstm golden: enc vs double %.2e, y %.2e, loss %.2e, grads %.2e", e_enc, e_y, e_l,
                e_g);

    free_wide(&t, x);
    free(yr);
    free(y1);
    free(denc);
    free(tt);
    free(ygold);
    free((void *)hd.w1);
    free((void *)hd.b1);
    free((void *)hd.w2);
    free((void *)hd.b2);
    free_case(&t);
    ntg__st_free(f);
}
