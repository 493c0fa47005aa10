/* test_backend_conformance.c — every op, forward and backward, on every backend vs the reference.
 */
#include <math.h>
#include <string.h>

#define BS_SUITE "conformance"
#define BS_TIMEOUT 900

#include "backend_suite.h"
#include "ops_harness.h"
#include "testutil.h"

/*
 * The case catalogue: each case is one op with its inputs (shapes at the case's maximum
 * batch, the storage each lives in) and attributes, made into a one-op plan view (program 0
 * the forward op, program 1 its backward with the bwd_saves mask the compiler would use) that
 * the reference backend and the backend under test both prepare and run through their
 * vtables, batch patching included.  Every tensor has its own region of its storage with
 * sentinel guards around it; inputs are fresh random numbers (the same on both sides),
 * outputs start as sentinel.  At batch 1, the middle and the maximum:
 *  - every output (forward, and the inputs an in-place op updates) within the backend's
 *    forward tolerance (max-abs-relative, backend_hooks.h: 1e-5 on the CPU backends, 1e-4 on
 *    a device), every input gradient (backward) within its backward tolerance (1e-4, 1e-3);
 *  - every byte of the backend's storages outside what the op may write (its outputs' first
 *    `batch` rows) is as before the run: guards, rows past the batch, the inputs.
 * The backward runs from the reference's forward values, so that it is judged alone.  Every
 * case runs under each of the backend's configurations (thread splits and kernel policies,
 * reductions and GEMM tiling, read-only and writable host weights or device buffers); a device
 * backend's instance must produce no validation message over its life.
 *
 * The catalogue is the union of what the xnnpack and Vulkan suites had: "(threads)" cases are
 * large enough for the CPU backends to split them across threads, "(several tiles)", "(many
 * workgroups)" and "(long ...)" ones span several workgroups or tiles on a device; every
 * backend runs all of them.
 */

#define CF_GUARD 256 /* bytes of sentinel around every tensor */
#define CF_MAX_T 200
#define CF_MAX_IN 24
#define CF_MAX_CASES 48

/* input kinds: uniform [-2,2], [0,2], a 0/1 mask, optimizer controls {lr, step 3 or 1},
 * few distinct values (ties for the first-maximum rules, zeros for relu), [-0.125,0.125]
 * (an LSTM's weights for a wide H, whose gates would otherwise saturate), zeros, [78,82]
 * (large offsets: a softmax's max keeps exp finite), dropout's train.rng (a seed past 2^22,
 * step 7, first window 3) */
enum { K_RAND, K_POS, K_MASK, K_CTL, K_CTL1, K_TIES, K_SMALL, K_ZERO, K_OFFSET, K_RNG, K_CLASS3 };
enum { SA = NTG_STORE_ARENA, SW = NTG_STORE_WEIGHTS, SS = NTG_STORE_STATE };

typedef struct cf_in {
    ntg_tdesc d;
    int store, kind;
} cf_in;

typedef struct cf_case {
    char name[128];
    uint32_t code;
    oh_attrs a;
    int n_in;
    cf_in in[CF_MAX_IN];
    int n_out; /* forward outputs (0: the op's minimum) */
    int max_batch;
    uint64_t want;      /* backward: gradients wanted (bit i); 0: no backward */
    uint32_t dy_absent; /* backward: output j's gradient is absent (NTG_NONE) */
    uint64_t inplace;   /* inputs the op updates in place */
    /* the least tolerances the case asks for (0: the backend's): a case written for a
     * device's tolerances whose numbers drift further than 1e-5 in float on any backend */
    double tol_fwd_min, tol_bwd_min;
} cf_case;

typedef struct cf_list {
    cf_case c[CF_MAX_CASES];
    int n;
} cf_list;

static cf_case *cf_new(cf_list *l, uint32_t code, const char *name, int max_batch)
{
    cr_assert_lt(l->n, CF_MAX_CASES);
    cf_case *c = &l->c[l->n++];
    memset(c, 0, sizeof *c);
    c->code = code;
    oh_attrs_init(&c->a, code);
    snprintf(c->name, sizeof c->name, "%s %s", ntg__op_info(code)->cls->name, name);
    c->max_batch = max_batch;
    return c;
}

/* An input; a batched shape's first extent is replaced by the case's maximum batch. */
static void cf_add(cf_case *c, ntg_tdesc d, int store, int kind)
{
    cr_assert_lt(c->n_in, CF_MAX_IN);
    if (d.batched) d.dims[0] = c->max_batch;
    c->in[c->n_in].d = d;
    c->in[c->n_in].store = store;
    c->in[c->n_in].kind = kind;
    c->n_in++;
}

#define BT(...) oh_shape(1, __VA_ARGS__)
#define UT(...) oh_shape(0, __VA_ARGS__)
#define ALL ((uint64_t)-1)
#define M 5

/* ------------------------------------------------------------------ cases */

static void unary_cases(cf_list *l, uint32_t code)
{
    /* log and sqrt on their domain (NaN outside it, compared in tests/test_ops_unary.c) */
    int kind = code == NTG_OP_log || code == NTG_OP_sqrt ? K_POS : K_RAND;
    cf_case *c = cf_new(l, code, "[B,7,13]", M);
    cf_add(c, BT(3, 0, 7, 13), SA, kind);
    if (code == NTG_OP_scale) oh_attrs_set_f(&c->a, NTG_SCALE_FACTOR, 0.37);
    c->want = 1;
    if (code == NTG_OP_relu) {
        c = cf_new(l, code, "[B,7,13] ties and zeros", M);
        cf_add(c, BT(3, 0, 7, 13), SA, K_TIES);
        c->want = 1;
    }
    c = cf_new(l, code, "[B,5000] (threads)", 64);
    cf_add(c, BT(2, 0, 5000), SA, kind);
    if (code == NTG_OP_scale) oh_attrs_set_f(&c->a, NTG_SCALE_FACTOR, -1.5);
    c->want = 1;
    c = cf_new(l, code, "[B,1601] (many workgroups)", 7);
    cf_add(c, BT(2, 0, 1601), SA, kind);
    if (code == NTG_OP_scale) oh_attrs_set_f(&c->a, NTG_SCALE_FACTOR, -1.5);
    c->want = 1;
    c = cf_new(l, code, "no dy", M);
    cf_add(c, BT(2, 0, 9), SA, kind);
    if (code == NTG_OP_scale) oh_attrs_set_f(&c->a, NTG_SCALE_FACTOR, 2.0);
    c->want = 1;
    c->dy_absent = 1;
}

static void dense_cases(cf_list *l)
{
    static const char *acts[] = {"none", "relu", "gelu", "tanh", "sigmoid"};
    for (int act = 0; act < 5; act++)
        for (int bias = 1; bias >= 0; bias--) {
            char nm[64];
            snprintf(nm, sizeof nm, "[B,37]->29 %s%s", acts[act], bias ? "" : " no bias");
            cf_case *c = cf_new(l, NTG_OP_dense, nm, M);
            cf_add(c, BT(2, 0, 37), SA, K_RAND);
            cf_add(c, UT(2, 29, 37), SW, K_RAND);
            if (bias) cf_add(c, UT(1, 29), SW, K_RAND);
            oh_attrs_set_i(&c->a, NTG_DENSE_UNITS, 29);
            oh_attrs_set_i(&c->a, NTG_DENSE_ACT, act);
            oh_attrs_set_i(&c->a, NTG_DENSE_BIAS, bias);
            c->want = ALL;
        }
    cf_case *c = cf_new(l, NTG_OP_dense, "[B,3,37]->17 relu, no dx", M);
    cf_add(c, BT(3, 0, 3, 37), SA, K_RAND);
    cf_add(c, UT(2, 17, 37), SW, K_RAND);
    cf_add(c, UT(1, 17), SW, K_RAND);
    oh_attrs_set_i(&c->a, NTG_DENSE_UNITS, 17);
    oh_attrs_set_i(&c->a, NTG_DENSE_ACT, NTG_ACT_RELU);
    c->want = 0x6;
    for (int act = 0; act < 5; act += 2) {
        char nm[64];
        snprintf(nm, sizeof nm, "[B,300]->260 %s (threads)", acts[act]);
        c = cf_new(l, NTG_OP_dense, nm, 64);
        cf_add(c, BT(2, 0, 300), SA, K_RAND);
        cf_add(c, UT(2, 260, 300), SW, K_RAND);
        cf_add(c, UT(1, 260), SW, K_RAND);
        oh_attrs_set_i(&c->a, NTG_DENSE_UNITS, 260);
        oh_attrs_set_i(&c->a, NTG_DENSE_ACT, act);
        c->want = ALL;
        snprintf(nm, sizeof nm, "[B,23,131]->67 %s (several tiles)", acts[act]);
        c = cf_new(l, NTG_OP_dense, nm, 7);
        cf_add(c, BT(3, 0, 23, 131), SA, K_RAND);
        cf_add(c, UT(2, 67, 131), SW, K_RAND);
        cf_add(c, UT(1, 67), SW, K_RAND);
        oh_attrs_set_i(&c->a, NTG_DENSE_UNITS, 67);
        oh_attrs_set_i(&c->a, NTG_DENSE_ACT, act);
        c->want = ALL;
    }
    c = cf_new(l, NTG_OP_dense, "no dy", M);
    cf_add(c, BT(2, 0, 8), SA, K_RAND);
    cf_add(c, UT(2, 3, 8), SW, K_RAND);
    cf_add(c, UT(1, 3), SW, K_RAND);
    oh_attrs_set_i(&c->a, NTG_DENSE_UNITS, 3);
    oh_attrs_set_i(&c->a, NTG_DENSE_ACT, NTG_ACT_TANH);
    c->want = ALL;
    c->dy_absent = 1;
}

static void pool_cases(cf_list *l)
{
    static const int p[][4] = {{2, 0, 1, 0}, {3, 2, 0, 1}, {4, 1, 0, 0},
                               {2, 0, 0, 0}, {1, 0, 1, 0}, {5, 3, 1, 2}};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        for (int ties = 0; ties <= (i == 2); ties++) {
            char nm[64];
            snprintf(nm, sizeof nm, "k%d s%d ceil%d pad%d%s", p[i][0], p[i][1], p[i][2], p[i][3],
                     ties ? " ties" : "");
            cf_case *c = cf_new(l, NTG_OP_maxpool1d, nm, M);
            cf_add(c, BT(3, 0, 3, 31), SA, ties ? K_TIES : K_RAND);
            oh_attrs_set_i(&c->a, NTG_POOL_KERNEL, p[i][0]);
            oh_attrs_set_i(&c->a, NTG_POOL_STRIDE, p[i][1]);
            oh_attrs_set_i(&c->a, NTG_POOL_CEIL, p[i][2]);
            oh_attrs_set_i(&c->a, NTG_POOL_PAD, p[i][3]);
            c->want = 1;
        }
    cf_case *c = cf_new(l, NTG_OP_maxpool1d, "[B,480] k2 ceil (threads)", 64);
    cf_add(c, BT(2, 0, 481), SA, K_RAND);
    oh_attrs_set_i(&c->a, NTG_POOL_KERNEL, 2);
    oh_attrs_set_i(&c->a, NTG_POOL_CEIL, 1);
    c->want = 1;
}
static void layout_cases(cf_list *l, uint32_t code)
{
    cf_case *c;
    switch (code) {
    case NTG_OP_flip:
        for (int ax = 1; ax <= 3; ax++) {
            c = cf_new(l, code, ax == 3 ? "axis -1" : ax == 1 ? "axis 1" : "axis 2", M);
            cf_add(c, BT(3, 0, 4, 9), SA, K_RAND);
            oh_attrs_set_i(&c->a, NTG_FLIP_AXIS, ax == 3 ? -1 : ax);
            c->want = 1;
        }
        c = cf_new(l, code, "[B,4096] (threads)", 64);
        cf_add(c, BT(2, 0, 4096), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_FLIP_AXIS, 1);
        c->want = 1;
        c = cf_new(l, code, "no dy", M);
        cf_add(c, BT(2, 0, 7), SA, K_RAND);
        c->want = 1;
        c->dy_absent = 1;
        break;
    case NTG_OP_slice: {
        static const int s[][4] = {{1, 2, 9, 3}, {2, -1, 1 << 30, 1}, {-1, 1, 5, 1}, {1, 0, 11, 1}};
        for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "axis %d [%d:%d:%d]", s[i][0], s[i][1], s[i][2], s[i][3]);
            c = cf_new(l, code, nm, M);
            cf_add(c, BT(3, 0, 11, 6), SA, K_RAND);
            oh_attrs_set_i(&c->a, NTG_SLICE_AXIS, s[i][0]);
            oh_attrs_set_i(&c->a, NTG_SLICE_START, s[i][1]);
            oh_attrs_set_i(&c->a, NTG_SLICE_END, s[i][2]);
            oh_attrs_set_i(&c->a, NTG_SLICE_STEP, s[i][3]);
            c->want = 1;
        }
        c = cf_new(l, code, "no dy", M);
        cf_add(c, BT(2, 0, 11), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_SLICE_AXIS, 1);
        oh_attrs_set_i(&c->a, NTG_SLICE_START, 3);
        c->want = 1;
        c->dy_absent = 1;
        break;
    }
    case NTG_OP_reshape: {
        int64_t s1[] = {0, 30}, s2[] = {0, 3, -1};
        c = cf_new(l, code, "[B,6,5]->[B,30]", M);
        cf_add(c, BT(3, 0, 6, 5), SA, K_RAND);
        oh_attrs_set_ints(&c->a, NTG_RESHAPE_SHAPE, s1, 2);
        c->want = 1;
        c = cf_new(l, code, "[B,6,5]->[B,3,10]", M);
        cf_add(c, BT(3, 0, 6, 5), SA, K_RAND);
        oh_attrs_set_ints(&c->a, NTG_RESHAPE_SHAPE, s2, 3);
        c->want = 1;
        c = cf_new(l, code, "[B,8192] (threads)", 64);
        int64_t s3[] = {0, 64, 128};
        cf_add(c, BT(2, 0, 8192), SA, K_RAND);
        oh_attrs_set_ints(&c->a, NTG_RESHAPE_SHAPE, s3, 3);
        c->want = 1;
        c = cf_new(l, code, "no dy", M);
        cf_add(c, BT(3, 0, 6, 5), SA, K_RAND);
        oh_attrs_set_ints(&c->a, NTG_RESHAPE_SHAPE, s1, 2);
        c->want = 1;
        c->dy_absent = 1;
        break;
    }
    case NTG_OP_concat:
        c = cf_new(l, code, "3 pieces axis 1", M);
        cf_add(c, BT(3, 0, 3, 4), SA, K_RAND);
        cf_add(c, BT(3, 0, 2, 4), SA, K_RAND);
        cf_add(c, BT(3, 0, 5, 4), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_CONCAT_AXIS, 1);
        c->want = ALL;
        c = cf_new(l, code, "2 pieces axis -1, one gradient", M);
        cf_add(c, BT(3, 0, 3, 4), SA, K_RAND);
        cf_add(c, BT(3, 0, 3, 2), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_CONCAT_AXIS, -1);
        c->want = 0x2;
        c = cf_new(l, code, "no dy", M);
        cf_add(c, BT(2, 0, 3), SA, K_RAND);
        cf_add(c, BT(2, 0, 2), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_CONCAT_AXIS, 1);
        c->want = ALL;
        c->dy_absent = 1;
        break;
    case NTG_OP_split: {
        int64_t s1[] = {2, 3, 4}, s2[] = {1, 3};
        c = cf_new(l, code, "axis 1 [2,3,4]", M);
        cf_add(c, BT(3, 0, 9, 4), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_SPLIT_AXIS, 1);
        oh_attrs_set_ints(&c->a, NTG_SPLIT_SIZES, s1, 3);
        c->n_out = 3;
        c->want = 1;
        c = cf_new(l, code, "axis 1 [2,3,4], piece 1's gradient absent", M);
        cf_add(c, BT(3, 0, 9, 4), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_SPLIT_AXIS, 1);
        oh_attrs_set_ints(&c->a, NTG_SPLIT_SIZES, s1, 3);
        c->n_out = 3;
        c->want = 1;
        c->dy_absent = 0x2;
        c = cf_new(l, code, "axis -1 [1,3]", M);
        cf_add(c, BT(3, 0, 5, 4), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_SPLIT_AXIS, -1);
        oh_attrs_set_ints(&c->a, NTG_SPLIT_SIZES, s2, 2);
        c->n_out = 2;
        c->want = 1;
        break;
    }
    default: { /* transpose */
        static const int64_t p1[] = {0, 2, 1, 3}, p2[] = {0, 3, 1, 2}, p3[] = {0, 1, 2, 3};
        static const int64_t p4[] = {1, 0}, p5[] = {0, 2, 1};
        const int64_t *ps[] = {p1, p2, p3};
        for (int i = 0; i < 3; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "[B,3,4,5] perm %d", i);
            c = cf_new(l, code, nm, M);
            cf_add(c, BT(4, 0, 3, 4, 5), SA, K_RAND);
            oh_attrs_set_ints(&c->a, NTG_TRANSPOSE_PERM, ps[i], 4);
            c->want = 1;
        }
        c = cf_new(l, code, "[3,4] unbatched", M);
        cf_add(c, UT(2, 3, 4), SA, K_RAND);
        oh_attrs_set_ints(&c->a, NTG_TRANSPOSE_PERM, p4, 2);
        c->want = 1;
        c = cf_new(l, code, "[B,1,5]", M);
        cf_add(c, BT(3, 0, 1, 5), SA, K_RAND);
        oh_attrs_set_ints(&c->a, NTG_TRANSPOSE_PERM, p5, 3);
        c->want = 1;
        c = cf_new(l, code, "[B,96,4,16] heads (threads)", 16);
        cf_add(c, BT(4, 0, 96, 4, 16), SA, K_RAND);
        oh_attrs_set_ints(&c->a, NTG_TRANSPOSE_PERM, p1, 4);
        c->want = 1;
        c = cf_new(l, code, "[B,19,3,11] heads", 3);
        cf_add(c, BT(4, 0, 19, 3, 11), SA, K_RAND);
        oh_attrs_set_ints(&c->a, NTG_TRANSPOSE_PERM, p1, 4);
        c->want = 1;
        break;
    }
    }
}

static void interp_cases(cf_list *l)
{
    static const int s[][3] = {{7, 24, 0}, {7, 24, 1}, {7, 5, 0},  {7, 7, 0},
                               {1, 24, 0}, {7, 1, 1},  {12, 96, 0}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%d->%d align %d", s[i][0], s[i][1], s[i][2]);
        cf_case *c = cf_new(l, NTG_OP_interp_linear, nm, M);
        cf_add(c, BT(3, 0, 2, s[i][0]), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_INTERP_SIZE, s[i][1]);
        oh_attrs_set_i(&c->a, NTG_INTERP_ALIGN, s[i][2]);
        c->want = 1;
    }
}

static void bcast_cases(cf_list *l, uint32_t code)
{
    struct {
        const char *nm;
        ntg_tdesc a, b;
        int max;
    } p[] = {
        {"same [B,5,7]", BT(3, 0, 5, 7), BT(3, 0, 5, 7), M},
        {"[B,1] with [B,7]", BT(2, 0, 1), BT(2, 0, 7), M},
        {"[B,5,7] with [5,7]", BT(3, 0, 5, 7), UT(2, 5, 7), M},
        {"[B,5,7] with [7]", BT(3, 0, 5, 7), UT(1, 7), M},
        {"[7] with [B,5,7]", UT(1, 7), BT(3, 0, 5, 7), M},
        {"[B,5,1] with [B,1,7]", BT(3, 0, 5, 1), BT(3, 0, 1, 7), M},
        {"[B,3,1,4] with [3,5,1]", BT(4, 0, 3, 1, 4), UT(3, 3, 5, 1), M},
        {"[1] with [1]", UT(1, 1), UT(1, 1), M},
        {"[B,5000] (threads)", BT(2, 0, 5000), BT(2, 0, 5000), 64},
        {"[B,96,64] with [96,64] (threads)", BT(3, 0, 96, 64), UT(2, 96, 64), 64},
        {"[B,19,37] with [1] (long sums)", BT(3, 0, 19, 37), UT(1, 1), M},
        {"[B,1] with [B,1] at max batch 1", BT(2, 0, 1), BT(2, 0, 1), 1},
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        cf_case *c = cf_new(l, code, p[i].nm, p[i].max);
        cf_add(c, p[i].a, SA, K_RAND);
        cf_add(c, p[i].b, SA, K_RAND);
        c->want = ALL;
    }
    cf_case *c = cf_new(l, code, "one gradient", M);
    cf_add(c, BT(2, 0, 6), SA, K_RAND);
    cf_add(c, BT(2, 0, 6), SA, K_RAND);
    c->want = 0x2;
    c = cf_new(l, code, "no dy", M);
    cf_add(c, BT(2, 0, 1), SA, K_RAND);
    cf_add(c, BT(2, 0, 6), SA, K_RAND);
    c->want = ALL;
    c->dy_absent = 1;
}

static void loss_cases(cf_list *l, uint32_t code)
{
    for (int mask = 0; mask < 2; mask++)
        for (int wide = 0; wide < 2; wide++) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s%s", mask ? "mask" : "no mask", wide ? ", dy and dt" : "");
            cf_case *c = cf_new(l, code, nm, M);
            if (code == NTG_OP_loss_pinball) {
                double q[] = {0.5, 0.1, 0.9};
                cf_add(c, BT(3, 0, 3, 9), SA, K_RAND);
                oh_attrs_set_floats(&c->a, NTG_PINBALL_QUANTILES, q, 3);
                oh_attrs_set_i(&c->a, NTG_PINBALL_AXIS, 1);
            } else {
                cf_add(c, BT(2, 0, 9), SA, K_RAND);
            }
            if (code == NTG_OP_loss_huber) oh_attrs_set_f(&c->a, NTG_HUBER_DELTA, 0.5);
            cf_add(c, BT(2, 0, 9), SA, K_RAND);
            if (mask) cf_add(c, BT(2, 0, 9), SA, K_MASK);
            c->want = wide ? ALL : 1;
        }
    cf_case *c = cf_new(l, code, "[B,9000] (threads)", 64);
    if (code == NTG_OP_loss_pinball) {
        double q[] = {0.3};
        cf_add(c, BT(3, 0, 1, 9000), SA, K_RAND);
        oh_attrs_set_floats(&c->a, NTG_PINBALL_QUANTILES, q, 1);
        oh_attrs_set_i(&c->a, NTG_PINBALL_AXIS, 1);
    } else {
        cf_add(c, BT(2, 0, 9000), SA, K_RAND);
    }
    cf_add(c, BT(2, 0, 9000), SA, K_RAND);
    c->want = 1;
    c = cf_new(l, code, "[B,2311] (several partial sums)", 5);
    if (code == NTG_OP_loss_pinball) {
        double q[] = {0.3, 0.7};
        cf_add(c, BT(3, 0, 2, 2311), SA, K_RAND);
        oh_attrs_set_floats(&c->a, NTG_PINBALL_QUANTILES, q, 2);
        oh_attrs_set_i(&c->a, NTG_PINBALL_AXIS, 1);
    } else {
        cf_add(c, BT(2, 0, 2311), SA, K_RAND);
    }
    cf_add(c, BT(2, 0, 2311), SA, K_RAND);
    c->want = 1;
    c = cf_new(l, code, "all masked", 3);
    cf_add(c, code == NTG_OP_loss_pinball ? BT(3, 0, 1, 6) : BT(2, 0, 6), SA, K_RAND);
    if (code == NTG_OP_loss_pinball) {
        double q[] = {0.5};
        oh_attrs_set_floats(&c->a, NTG_PINBALL_QUANTILES, q, 1);
        oh_attrs_set_i(&c->a, NTG_PINBALL_AXIS, 1);
    }
    cf_add(c, BT(2, 0, 6), SA, K_RAND);
    cf_add(c, BT(2, 0, 6), SA, K_ZERO);
    c->want = ALL;
}

/* loss_normal / loss_studentt: y [B, P, 7] (P = 2 or 3, axis 1), t [B, 7], with and without a
 * mask, with dt and dmask asked or not. */
static void dist_cases(cf_list *l, uint32_t code)
{
    int64_t np = code == NTG_OP_loss_normal ? 2 : 3;
    for (int mask = 0; mask < 2; mask++)
        for (int wide = 0; wide < 2; wide++) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s%s", mask ? "mask" : "no mask", wide ? ", dy and dt" : "");
            cf_case *c = cf_new(l, code, nm, M);
            cf_add(c, BT(3, 0, np, 7), SA, K_RAND);
            oh_attrs_set_i(&c->a, NTG_DIST_AXIS, 1);
            cf_add(c, BT(2, 0, 7), SA, K_RAND);
            if (mask) cf_add(c, BT(2, 0, 7), SA, K_MASK);
            c->want = wide ? ALL : 1;
        }
}

/* loss_xent: logits y [B, 7, 3] (class axis last) and [B, 3, 7] (axis 1), labels t [B, 7], with
 * and without a mask, with dt and dmask asked or not. */
static void xent_cases(cf_list *l, uint32_t code)
{
    for (int mask = 0; mask < 2; mask++)
        for (int wide = 0; wide < 2; wide++) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s%s%s", mask ? "mask" : "no mask", wide ? ", dy and dt" : "",
                     mask && wide ? ", axis 1" : "");
            cf_case *c = cf_new(l, code, nm, M);
            cf_add(c, mask && wide ? BT(3, 0, 3, 7) : BT(3, 0, 7, 3), SA, K_RAND);
            oh_attrs_set_i(&c->a, NTG_XENT_AXIS, mask && wide ? 1 : -1);
            cf_add(c, BT(2, 0, 7), SA, K_CLASS3);
            if (mask) cf_add(c, BT(2, 0, 7), SA, K_MASK);
            c->want = wide ? ALL : 1;
        }
}

static void optim_cases(cf_list *l, uint32_t code)
{
    cf_case *c;
    if (code == NTG_OP_sgd) {
        static const double mom[][3] = {{0, 0, 0}, {0.9, 0, 0}, {0.9, 0, 1}, {0.5, 0.3, 0}};
        /* step 3, and step 1 (the momentum buffer's first step) with weight decay */
        for (int wd = 0; wd < 2; wd++)
            for (int step1 = 0; step1 <= wd; step1++)
                for (size_t i = 0; i < sizeof mom / sizeof mom[0]; i++) {
                    char nm[64];
                    snprintf(nm, sizeof nm, "momentum %g dampening %g nesterov %d wd %d%s",
                             mom[i][0], mom[i][1], (int)mom[i][2], wd, step1 ? " step 1" : "");
                    c = cf_new(l, code, nm, M);
                    cf_add(c, UT(2, 37, 29), SW, K_RAND);
                    cf_add(c, UT(2, 37, 29), SA, K_RAND);
                    cf_add(c, UT(1, 4), SA, step1 ? K_CTL1 : K_CTL);
                    if (mom[i][0] != 0) cf_add(c, UT(2, 37, 29), SS, K_RAND);
                    oh_attrs_set_f(&c->a, NTG_SGD_MOMENTUM, mom[i][0]);
                    oh_attrs_set_f(&c->a, NTG_SGD_DAMPENING, mom[i][1]);
                    oh_attrs_set_i(&c->a, NTG_SGD_NESTEROV, (int64_t)mom[i][2]);
                    oh_attrs_set_f(&c->a, NTG_SGD_WEIGHT_DECAY, wd ? 0.01 : 0.0);
                    c->inplace = mom[i][0] != 0 ? 0x9 : 0x1;
                }
        c = cf_new(l, code, "[300007] (threads)", M);
        cf_add(c, UT(1, 300007), SW, K_RAND);
        cf_add(c, UT(1, 300007), SA, K_RAND);
        cf_add(c, UT(1, 4), SA, K_CTL);
        c->inplace = 0x1;
        return;
    }
    if (code == NTG_OP_adam) {
        for (int dec = 0; dec < 2; dec++)
            for (int step1 = 0; step1 <= dec; step1++)
                for (int wd = 0; wd < 2; wd++) {
                    char nm[64];
                    snprintf(nm, sizeof nm, "[37,29] decoupled %d wd %d%s", dec, wd,
                             step1 ? " step 1" : "");
                    c = cf_new(l, code, nm, M);
                    cf_add(c, UT(2, 37, 29), SW, K_RAND);
                    cf_add(c, UT(2, 37, 29), SA, K_RAND);
                    cf_add(c, UT(2, 37, 29), SS, K_RAND);
                    cf_add(c, UT(2, 37, 29), SS, K_POS);
                    cf_add(c, UT(1, 4), SA, step1 ? K_CTL1 : K_CTL);
                    oh_attrs_set_i(&c->a, NTG_ADAM_DECOUPLED, dec);
                    oh_attrs_set_f(&c->a, NTG_ADAM_WEIGHT_DECAY, wd ? 0.01 : 0.0);
                    c->inplace = 0xd;
                }
        c = cf_new(l, code, "[3] from zero state, step 1", M);
        cf_add(c, UT(1, 3), SW, K_RAND);
        cf_add(c, UT(1, 3), SA, K_RAND);
        cf_add(c, UT(1, 3), SS, K_ZERO);
        cf_add(c, UT(1, 3), SS, K_ZERO);
        cf_add(c, UT(1, 4), SA, K_CTL1);
        c->inplace = 0xd;
        c = cf_new(l, code, "[3] tail only", M);
        for (int k = 0; k < 4; k++)
            cf_add(c, UT(1, 3), k == 0 ? SW : k == 1 ? SA : SS, k == 3 ? K_POS : K_RAND);
        cf_add(c, UT(1, 4), SA, K_CTL);
        c->inplace = 0xd;
        c = cf_new(l, code, "[300007] (threads)", M);
        cf_add(c, UT(1, 300007), SW, K_RAND);
        cf_add(c, UT(1, 300007), SA, K_RAND);
        cf_add(c, UT(1, 300007), SS, K_RAND);
        cf_add(c, UT(1, 300007), SS, K_POS);
        cf_add(c, UT(1, 4), SA, K_CTL);
        c->inplace = 0xd;
        return;
    }
    for (int clip = 0; clip < 2; clip++) { /* clip_grad_norm */
        c = cf_new(l, code, clip ? "clipping" : "not clipping", M);
        cf_add(c, UT(1, 37), SA, K_RAND);
        cf_add(c, UT(2, 5, 9), SA, K_RAND);
        cf_add(c, UT(1, 9001), SA, K_RAND);
        cf_add(c, UT(1, 1), SA, K_RAND);
        oh_attrs_set_f(&c->a, NTG_CLIP_MAX_NORM, clip ? 0.5 : 1e6);
        c->inplace = 0xf;
        c = cf_new(l, code, clip ? "clipping [40000] (threads)" : "not clipping [40000] (threads)",
                   M);
        cf_add(c, UT(1, 37), SA, K_RAND);
        cf_add(c, UT(2, 5, 9), SA, K_RAND);
        cf_add(c, UT(1, 40000), SA, K_RAND);
        oh_attrs_set_f(&c->a, NTG_CLIP_MAX_NORM, clip ? 0.5 : 1e6);
        c->inplace = 0x7;
    }
}

static void matmul_cases(cf_list *l)
{
    struct {
        const char *nm;
        ntg_tdesc a, b;
        int ta, tb, max;
    } p[] = {
        {"[B,4,6]@[B,6,5]", BT(3, 0, 4, 6), BT(3, 0, 6, 5), 0, 0, M},
        {"[B,6,4]^T@[B,6,5]", BT(3, 0, 6, 4), BT(3, 0, 6, 5), 1, 0, M},
        {"[B,4,6]@[B,5,6]^T", BT(3, 0, 4, 6), BT(3, 0, 5, 6), 0, 1, M},
        {"[B,6,4]^T@[B,5,6]^T", BT(3, 0, 6, 4), BT(3, 0, 5, 6), 1, 1, M},
        {"[B,4,6]@[6,5] one GEMM", BT(3, 0, 4, 6), UT(2, 6, 5), 0, 0, M},
        {"[B,4,6]@[5,6]^T one GEMM", BT(3, 0, 4, 6), UT(2, 5, 6), 0, 1, M},
        {"[B,6,4]^T@[6,5]", BT(3, 0, 6, 4), UT(2, 6, 5), 1, 0, M},
        {"[B,2,4,6]@[B,1,6,5] b broadcast", BT(4, 0, 2, 4, 6), BT(4, 0, 1, 6, 5), 0, 0, M},
        {"[4,6]@[B,6,5] a broadcast", UT(2, 4, 6), BT(3, 0, 6, 5), 0, 0, M},
        {"[4,6]^T... [6,4]^T@[B,6,5] a broadcast", UT(2, 6, 4), BT(3, 0, 6, 5), 1, 0, M},
        {"[B,7,8]@[B,1,8]^T attention scores", BT(3, 0, 7, 8), BT(3, 0, 1, 8), 0, 1, M},
        {"[B,7,1]^T@[B,7,8] attention context", BT(3, 0, 7, 1), BT(3, 0, 7, 8), 1, 0, M},
        {"[B,2,7,3]@[B,2,7,3]^T heads", BT(4, 0, 2, 7, 3), BT(4, 0, 2, 7, 3), 0, 1, M},
        {"[B,2,7,7]@[B,2,7,3] heads", BT(4, 0, 2, 7, 7), BT(4, 0, 2, 7, 3), 0, 0, M},
        {"[B,4,96,16]@[B,4,96,16]^T (threads)", BT(4, 0, 4, 96, 16), BT(4, 0, 4, 96, 16), 0, 1, 8},
        {"[B,96,128]@[128,64] (threads)", BT(3, 0, 96, 128), UT(2, 128, 64), 0, 0, 8},
        {"[B,70,33]@[33,65] (several tiles)", BT(3, 0, 70, 33), UT(2, 33, 65), 0, 0, 3},
        {"[B,3,67,19]@[B,3,67,19]^T (several tiles)", BT(4, 0, 3, 67, 19), BT(4, 0, 3, 67, 19), 0,
         1, 2},
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        cf_case *c = cf_new(l, NTG_OP_matmul, p[i].nm, p[i].max);
        cf_add(c, p[i].a, SA, K_RAND);
        cf_add(c, p[i].b, SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_MATMUL_TRANS_A, p[i].ta);
        oh_attrs_set_i(&c->a, NTG_MATMUL_TRANS_B, p[i].tb);
        c->want = ALL;
    }
    cf_case *c = cf_new(l, NTG_OP_matmul, "only db, b broadcast", M);
    cf_add(c, BT(4, 0, 2, 4, 6), SA, K_RAND);
    cf_add(c, BT(4, 0, 1, 6, 5), SA, K_RAND);
    c->want = 0x2;
    c = cf_new(l, NTG_OP_matmul, "no dy", M);
    cf_add(c, BT(3, 0, 4, 6), SA, K_RAND);
    cf_add(c, BT(3, 0, 6, 5), SA, K_RAND);
    c->want = ALL;
    c->dy_absent = 1;
}

static void softmax_cases(cf_list *l, uint32_t code)
{
    struct {
        const char *nm;
        ntg_tdesc x;
        int axis, max;
    } p[] = {
        {"[B,7,9] axis -1", BT(3, 0, 7, 9), -1, M},
        {"[B,7,9] axis 1", BT(3, 0, 7, 9), 1, M},
        {"[B,9,1] axis 1", BT(3, 0, 9, 1), 1, M},
        {"[B,2,3,5] axis 2", BT(4, 0, 2, 3, 5), 2, M},
        {"[B,37] axis 1", BT(2, 0, 37), 1, M},
        {"[B,4,96,96] axis -1 (threads)", BT(4, 0, 4, 96, 96), -1, 8},
        {"[B,3,203] axis -1 (long lines)", BT(3, 0, 3, 203), -1, M},
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        cf_case *c = cf_new(l, code, p[i].nm, p[i].max);
        cf_add(c, p[i].x, SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_SOFTMAX_AXIS, p[i].axis);
        c->want = 1;
    }
    /* large offsets: the max keeps exp finite */
    cf_case *c = cf_new(l, code, "[B,11] offset 80", M);
    cf_add(c, BT(2, 0, 11), SA, K_OFFSET);
    c->want = 1;
}

static void layernorm_cases(cf_list *l)
{
    cf_case *c = cf_new(l, NTG_OP_layernorm, "[B,5,24] affine", M);
    cf_add(c, BT(3, 0, 5, 24), SA, K_RAND);
    cf_add(c, UT(1, 24), SW, K_RAND);
    cf_add(c, UT(1, 24), SW, K_RAND);
    c->want = ALL;
    c = cf_new(l, NTG_OP_layernorm, "[B,7] affine, only the parameters", M);
    cf_add(c, BT(2, 0, 7), SA, K_RAND);
    cf_add(c, UT(1, 7), SW, K_RAND);
    cf_add(c, UT(1, 7), SW, K_RAND);
    c->want = 0x6;
    c = cf_new(l, NTG_OP_layernorm, "[B,3,19] plain eps 1e-3", M);
    cf_add(c, BT(3, 0, 3, 19), SA, K_RAND);
    oh_attrs_set_i(&c->a, NTG_LAYERNORM_AFFINE, 0);
    oh_attrs_set_f(&c->a, NTG_LAYERNORM_EPS, 1e-3);
    c->want = ALL;
    c = cf_new(l, NTG_OP_layernorm, "[B,96,64] affine (threads)", 64);
    cf_add(c, BT(3, 0, 96, 64), SA, K_RAND);
    cf_add(c, UT(1, 64), SW, K_RAND);
    cf_add(c, UT(1, 64), SW, K_RAND);
    c->want = ALL;
    c = cf_new(l, NTG_OP_layernorm, "[B,9,131] affine (long rows)", 3);
    cf_add(c, BT(3, 0, 9, 131), SA, K_RAND);
    cf_add(c, UT(1, 131), SW, K_RAND);
    cf_add(c, UT(1, 131), SW, K_RAND);
    c->want = ALL;
    c = cf_new(l, NTG_OP_layernorm, "only db", M);
    cf_add(c, BT(2, 0, 6), SA, K_RAND);
    cf_add(c, UT(1, 6), SW, K_RAND);
    cf_add(c, UT(1, 6), SW, K_RAND);
    c->want = 0x4;
    c = cf_new(l, NTG_OP_layernorm, "no dy", M);
    cf_add(c, BT(2, 0, 6), SA, K_RAND);
    cf_add(c, UT(1, 6), SW, K_RAND);
    cf_add(c, UT(1, 6), SW, K_RAND);
    c->want = ALL;
    c->dy_absent = 1;
}

static void reduce_cases(cf_list *l, uint32_t code)
{
    for (int ties = 0; ties <= (code == NTG_OP_reduce_max); ties++)
        for (int ax = 1; ax <= 2; ax++)
            for (int keep = 0; keep < 2; keep++) {
                char nm[64];
                snprintf(nm, sizeof nm, "[B,4,6] axis %d keepdims %d%s", ax, keep,
                         ties ? " ties" : "");
                cf_case *c = cf_new(l, code, nm, M);
                cf_add(c, BT(3, 0, 4, 6), SA, ties ? K_TIES : K_RAND);
                oh_attrs_set_i(&c->a, NTG_REDUCE_AXIS, ax);
                oh_attrs_set_i(&c->a, NTG_REDUCE_KEEPDIMS, keep);
                c->want = 1;
            }
    cf_case *c = cf_new(l, code, "[B,3,301] axis -1 (long lines)", M);
    cf_add(c, BT(3, 0, 3, 301), SA, K_RAND);
    oh_attrs_set_i(&c->a, NTG_REDUCE_AXIS, -1);
    c->want = 1;
    c = cf_new(l, code, "no dy", M);
    cf_add(c, BT(3, 0, 3, 5), SA, K_RAND);
    oh_attrs_set_i(&c->a, NTG_REDUCE_AXIS, 1);
    c->want = 1;
    c->dy_absent = 1;
}

/* Weights of `kind`: K_SMALL for a wide H, whose gates would otherwise saturate (and lose
 * the comparison's precision). */
static void lstm_add_k(cf_case *c, int in, int h, int layers, int kind)
{
    for (int k = 0; k < layers; k++) {
        cf_add(c, UT(2, 4 * h, k == 0 ? in : h), SW, kind);
        cf_add(c, UT(2, 4 * h, h), SW, kind);
        cf_add(c, UT(1, 4 * h), SW, kind);
        cf_add(c, UT(1, 4 * h), SW, kind);
    }
    oh_attrs_set_i(&c->a, NTG_LSTM_HIDDEN, h);
    oh_attrs_set_i(&c->a, NTG_LSTM_LAYERS, layers);
}

static void lstm_add(cf_case *c, int in, int h, int layers)
{
    lstm_add_k(c, in, h, layers, K_RAND);
}

static void lstm_cases(cf_list *l)
{
    cf_case *c = cf_new(l, NTG_OP_lstm, "[B,7,3] H5 1 layer, infer", M);
    cf_add(c, BT(3, 0, 7, 3), SA, K_RAND);
    lstm_add(c, 3, 5, 1);
    for (int layers = 1; layers <= 3; layers++) {
        char nm[64];
        snprintf(nm, sizeof nm, "[B,7,3] H5 %d layers, workspace", layers);
        c = cf_new(l, NTG_OP_lstm, nm, M);
        cf_add(c, BT(3, 0, 7, 3), SA, K_RAND);
        lstm_add(c, 3, 5, layers);
        c->n_out = 2;
        c->want = ALL;
        c->dy_absent = 0x2; /* the workspace's gradient: the compiler never makes one */
    }
    c = cf_new(l, NTG_OP_lstm, "2 layers, weights only", M);
    cf_add(c, BT(3, 0, 6, 1), SA, K_RAND);
    lstm_add(c, 1, 4, 2);
    c->n_out = 2;
    c->want = ALL & ~(uint64_t)1;
    c->dy_absent = 0x2;
    c = cf_new(l, NTG_OP_lstm, "2 layers, top layer only", M);
    cf_add(c, BT(3, 0, 6, 2), SA, K_RAND);
    lstm_add(c, 2, 4, 2);
    c->n_out = 2;
    c->want = 0x1e0;
    c->dy_absent = 0x2;
    c = cf_new(l, NTG_OP_lstm, "[B,1,2] one step", M);
    cf_add(c, BT(3, 0, 1, 2), SA, K_RAND);
    lstm_add(c, 2, 3, 1);
    c->n_out = 2;
    c->want = ALL;
    c->dy_absent = 0x2;
    /* 24 steps of two layers with weights up to 2 in magnitude: the recurrence amplifies the
     * float rounding to ~1.1e-5 against the reference on the CPU backends (xnnpack's fused
     * cell), so it is held to the device tolerances it was written for */
    c = cf_new(l, NTG_OP_lstm, "[B,24,1] H33 2 layers", 3);
    cf_add(c, BT(3, 0, 24, 1), SA, K_RAND);
    lstm_add(c, 1, 33, 2);
    c->n_out = 2;
    c->want = ALL;
    c->dy_absent = 0x2;
    c->tol_fwd_min = 1e-4;
    c->tol_bwd_min = 1e-3;
    c = cf_new(l, NTG_OP_lstm, "[B,24,1] H16 2 layers (threads)", 8);
    cf_add(c, BT(3, 0, 24, 1), SA, K_RAND);
    lstm_add(c, 1, 16, 2);
    c->n_out = 2;
    c->want = ALL;
    c->dy_absent = 0x2;
    /* batch 1 on 2 threads: the hidden units split across threads, fused and projected */
    c = cf_new(l, NTG_OP_lstm, "[B,9,1] H64 2 layers, infer (units)", 3);
    cf_add(c, BT(3, 0, 9, 1), SA, K_RAND);
    lstm_add_k(c, 1, 64, 2, K_SMALL);
    c = cf_new(l, NTG_OP_lstm, "[B,5,20] H128 1 layer, infer (units)", 3);
    cf_add(c, BT(3, 0, 5, 20), SA, K_RAND);
    lstm_add_k(c, 20, 128, 1, K_SMALL);
    c = cf_new(l, NTG_OP_lstm, "no dy", M);
    cf_add(c, BT(3, 0, 4, 2), SA, K_RAND);
    lstm_add(c, 2, 3, 1);
    c->n_out = 2;
    c->want = ALL;
    c->dy_absent = 0x3;
}

/* param: the parameter (any storage a plan gives it: weights) copied out, its gradient back */
static void param_cases(cf_list *l)
{
    static const int64_t sh2[] = {16, 7}, sh1[] = {1601};
    cf_case *c = cf_new(l, NTG_OP_param, "[16,7]", M);
    cf_add(c, UT(2, 16, 7), SW, K_RAND);
    oh_attrs_set_ints(&c->a, NTG_PARAM_SHAPE, sh2, 2);
    c->want = 1;
    c = cf_new(l, NTG_OP_param, "[1601] (many workgroups)", M);
    cf_add(c, UT(1, 1601), SW, K_RAND);
    oh_attrs_set_ints(&c->a, NTG_PARAM_SHAPE, sh1, 1);
    c->want = 1;
    c = cf_new(l, NTG_OP_param, "no dy", M);
    cf_add(c, UT(2, 16, 7), SW, K_RAND);
    oh_attrs_set_ints(&c->a, NTG_PARAM_SHAPE, sh2, 2);
    c->want = 1;
    c->dy_absent = 1;
}

/* avgpool1d: kernel, stride (0 = kernel), padding, padding_mode (1 = replicate) */
static void avgpool_cases(cf_list *l)
{
    static const int p[][4] = {{25, 1, 12, 1}, {3, 0, 1, 0}, {4, 2, 2, 0}, {5, 3, 4, 1},
                               {1, 1, 0, 0},   {7, 2, 0, 1}, {2, 0, 0, 0}};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "k%d s%d pad%d %s", p[i][0], p[i][1], p[i][2],
                 p[i][3] ? "replicate" : "zeros");
        cf_case *c = cf_new(l, NTG_OP_avgpool1d, nm, M);
        cf_add(c, BT(3, 0, 3, 31), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_AVGPOOL_KERNEL, p[i][0]);
        oh_attrs_set_i(&c->a, NTG_AVGPOOL_STRIDE, p[i][1]);
        oh_attrs_set_i(&c->a, NTG_AVGPOOL_PAD, p[i][2]);
        oh_attrs_set_i(&c->a, NTG_AVGPOOL_MODE, p[i][3]);
        c->want = 1;
    }
    cf_case *c = cf_new(l, NTG_OP_avgpool1d, "[B,7,336] k25 replicate (threads)", 64);
    cf_add(c, BT(3, 0, 7, 336), SA, K_RAND);
    oh_attrs_set_i(&c->a, NTG_AVGPOOL_KERNEL, 25);
    oh_attrs_set_i(&c->a, NTG_AVGPOOL_STRIDE, 1);
    oh_attrs_set_i(&c->a, NTG_AVGPOOL_PAD, 12);
    oh_attrs_set_i(&c->a, NTG_AVGPOOL_MODE, NTG_PAD_REPLICATE);
    c->want = 1;
    c = cf_new(l, NTG_OP_avgpool1d, "no dy", M);
    cf_add(c, BT(2, 0, 9), SA, K_RAND);
    oh_attrs_set_i(&c->a, NTG_AVGPOOL_KERNEL, 3);
    c->want = 1;
    c->dy_absent = 1;
}

/* conv1d: cin, len, out_channels, kernel, stride, padding, dilation, groups, bias, mode */
static void conv_cases(cf_list *l)
{
    static const int p[][10] = {
        {3, 20, 4, 3, 1, 1, 1, 1, 1, 0}, {3, 20, 4, 3, 1, 1, 1, 1, 1, 1},
        {4, 17, 6, 5, 2, 3, 2, 2, 1, 1}, {4, 17, 4, 3, 3, 0, 1, 4, 0, 0},
        {1, 31, 2, 4, 1, 2, 3, 1, 1, 0}, {6, 12, 3, 1, 1, 0, 1, 3, 1, 0},
        {2, 9, 2, 9, 1, 4, 1, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        const int *q = p[i];
        char nm[96];
        snprintf(nm, sizeof nm, "[B,%d,%d]->%d k%d s%d pad%d d%d g%d%s %s", q[0], q[1], q[2], q[3],
                 q[4], q[5], q[6], q[7], q[8] ? "" : " no bias", q[9] ? "replicate" : "zeros");
        cf_case *c = cf_new(l, NTG_OP_conv1d, nm, M);
        cf_add(c, BT(3, 0, q[0], q[1]), SA, K_RAND);
        cf_add(c, UT(3, q[2], q[0] / q[7], q[3]), SW, K_RAND);
        if (q[8]) cf_add(c, UT(1, q[2]), SW, K_RAND);
        oh_attrs_set_i(&c->a, NTG_CONV_OUT, q[2]);
        oh_attrs_set_i(&c->a, NTG_CONV_KERNEL, q[3]);
        oh_attrs_set_i(&c->a, NTG_CONV_STRIDE, q[4]);
        oh_attrs_set_i(&c->a, NTG_CONV_PAD, q[5]);
        oh_attrs_set_i(&c->a, NTG_CONV_DILATION, q[6]);
        oh_attrs_set_i(&c->a, NTG_CONV_GROUPS, q[7]);
        oh_attrs_set_i(&c->a, NTG_CONV_BIAS, q[8]);
        oh_attrs_set_i(&c->a, NTG_CONV_MODE, q[9]);
        c->want = ALL;
    }
    cf_case *c = cf_new(l, NTG_OP_conv1d, "[B,16,96]->16 k3 (threads)", 64);
    cf_add(c, BT(3, 0, 16, 96), SA, K_RAND);
    cf_add(c, UT(3, 16, 16, 3), SW, K_RAND);
    cf_add(c, UT(1, 16), SW, K_RAND);
    oh_attrs_set_i(&c->a, NTG_CONV_OUT, 16);
    oh_attrs_set_i(&c->a, NTG_CONV_KERNEL, 3);
    oh_attrs_set_i(&c->a, NTG_CONV_PAD, 1);
    c->want = ALL;
    c = cf_new(l, NTG_OP_conv1d, "no dx", M);
    cf_add(c, BT(3, 0, 2, 10), SA, K_RAND);
    cf_add(c, UT(3, 3, 2, 3), SW, K_RAND);
    cf_add(c, UT(1, 3), SW, K_RAND);
    oh_attrs_set_i(&c->a, NTG_CONV_OUT, 3);
    oh_attrs_set_i(&c->a, NTG_CONV_KERNEL, 3);
    c->want = 0x6;
    c = cf_new(l, NTG_OP_conv1d, "no dy", M);
    cf_add(c, BT(3, 0, 2, 10), SA, K_RAND);
    cf_add(c, UT(3, 3, 2, 3), SW, K_RAND);
    cf_add(c, UT(1, 3), SW, K_RAND);
    oh_attrs_set_i(&c->a, NTG_CONV_OUT, 3);
    oh_attrs_set_i(&c->a, NTG_CONV_KERNEL, 3);
    c->want = ALL;
    c->dy_absent = 1;
}

/* unfold: size, step, pad_end (PatchTST: 16, 8, 8 on 336; 12, 5, 5 leaves a ragged end) */
static void unfold_cases(cf_list *l)
{
    static const int p[][4] = {{336, 16, 8, 8}, {31, 12, 5, 5}, {31, 4, 4, 0},
                               {31, 5, 3, 0},   {7, 7, 1, 0},   {9, 1, 1, 2}};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "L%d size%d step%d pad_end%d", p[i][0], p[i][1], p[i][2], p[i][3]);
        cf_case *c = cf_new(l, NTG_OP_unfold, nm, M);
        cf_add(c, BT(3, 0, 3, p[i][0]), SA, K_RAND);
        oh_attrs_set_i(&c->a, NTG_UNFOLD_SIZE, p[i][1]);
        oh_attrs_set_i(&c->a, NTG_UNFOLD_STEP, p[i][2]);
        oh_attrs_set_i(&c->a, NTG_UNFOLD_PAD_END, p[i][3]);
        c->want = 1;
    }
    cf_case *c = cf_new(l, NTG_OP_unfold, "no dy", M);
    cf_add(c, BT(2, 0, 9), SA, K_RAND);
    oh_attrs_set_i(&c->a, NTG_UNFOLD_SIZE, 3);
    oh_attrs_set_i(&c->a, NTG_UNFOLD_STEP, 2);
    c->want = 1;
    c->dy_absent = 1;
}

/* batchnorm: training form (batch statistics, the saved output) and forecast form (running
 * statistics); batchnorm_stats updating the running ones in place */
static void batchnorm_cases(cf_list *l)
{
    static const struct {
        const char *name;
        int max_batch, c, len, train;
    } k[] = {{"[B,4,13] training", M, 4, 13, 1},
             {"[B,6] training", M, 6, 0, 1},
             {"[B,4,13] forecast form", M, 4, 13, 0},
             {"[B,6] forecast form", M, 6, 0, 0},
             {"[B,16,300] training (threads)", 64, 16, 300, 1}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        cf_case *c = cf_new(l, NTG_OP_batchnorm, k[i].name, k[i].max_batch);
        cf_add(c, k[i].len ? BT(3, 0, k[i].c, k[i].len) : BT(2, 0, k[i].c), SA, K_RAND);
        cf_add(c, UT(1, k[i].c), SW, K_RAND);
        cf_add(c, UT(1, k[i].c), SW, K_RAND);
        cf_add(c, UT(1, k[i].c), SW, K_RAND);
        cf_add(c, UT(1, k[i].c), SW, K_POS);
        if (k[i].train) c->n_out = 2;
        oh_attrs_set_f(&c->a, NTG_BATCHNORM_EPS, i == 1 ? 1e-3 : 1e-5);
        c->want = 0x7;
    }
    cf_case *c = cf_new(l, NTG_OP_batchnorm, "no dy", M);
    cf_add(c, BT(3, 0, 3, 5), SA, K_RAND);
    for (int j = 0; j < 4; j++) cf_add(c, UT(1, 3), SW, j == 3 ? K_POS : K_RAND);
    c->n_out = 2;
    c->want = 0x7;
    c->dy_absent = 1;
}

static void batchnorm_stats_cases(cf_list *l)
{
    cf_case *c = cf_new(l, NTG_OP_batchnorm_stats, "[7]", M);
    cf_add(c, UT(1, 7), SW, K_RAND);
    cf_add(c, UT(1, 7), SW, K_POS);
    cf_add(c, UT(2, 3, 7), SA, K_POS);
    oh_attrs_set_f(&c->a, NTG_BNSTATS_MOMENTUM, 0.25);
    c->inplace = 0x3;
}

/* dropout: with train.rng (training), and without it (the identity of forecasts) */
static void dropout_cases(cf_list *l)
{
    static const struct {
        const char *name;
        int max_batch, len;
        double p;
        int rng;
    } k[] = {{"[B,7,13] p 0.3", M, 13, 0.3, 1},
             {"[B,5000] (threads)", 64, 5000, 0.5, 1},
             {"[B,1601] (many workgroups)", 7, 1601, 0.1, 1},
             {"p 0", M, 13, 0.0, 1},
             {"p 1", M, 13, 1.0, 1},
             {"inference (no train.rng)", M, 13, 0.5, 0}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        cf_case *c = cf_new(l, NTG_OP_dropout, k[i].name, k[i].max_batch);
        cf_add(c, BT(3, 0, 2, k[i].len), SA, K_RAND);
        if (k[i].rng) cf_add(c, UT(1, NTG_RNG_SIZE), SA, K_RNG);
        oh_attrs_set_f(&c->a, NTG_DROPOUT_P, k[i].p);
        oh_attrs_set_i(&c->a, NTG_DROPOUT_STREAM, (int64_t)i);
        c->want = 1;
    }
    cf_case *c = cf_new(l, NTG_OP_dropout, "no dy", M);
    cf_add(c, BT(2, 0, 9), SA, K_RAND);
    cf_add(c, UT(1, NTG_RNG_SIZE), SA, K_RNG);
    c->want = 1;
    c->dy_absent = 1;
}

static void cases_for(uint32_t code, cf_list *l)
{
    l->n = 0;
    switch (code) {
    case NTG_OP_dense:
        dense_cases(l);
        break;
    case NTG_OP_relu:
    case NTG_OP_gelu:
    case NTG_OP_tanh:
    case NTG_OP_sigmoid:
    case NTG_OP_scale:
    case NTG_OP_exp:
    case NTG_OP_log:
    case NTG_OP_abs:
    case NTG_OP_sqrt:
    case NTG_OP_softplus:
    case NTG_OP_identity:
        unary_cases(l, code);
        break;
    case NTG_OP_maxpool1d:
        pool_cases(l);
        break;
    case NTG_OP_flip:
    case NTG_OP_slice:
    case NTG_OP_reshape:
    case NTG_OP_concat:
    case NTG_OP_split:
    case NTG_OP_transpose:
        layout_cases(l, code);
        break;
    case NTG_OP_interp_linear:
        interp_cases(l);
        break;
    case NTG_OP_add:
    case NTG_OP_sub:
    case NTG_OP_mul:
        bcast_cases(l, code);
        break;
    case NTG_OP_loss_mse:
    case NTG_OP_loss_mae:
    case NTG_OP_loss_huber:
    case NTG_OP_loss_pinball:
        loss_cases(l, code);
        break;
    case NTG_OP_loss_normal:
    case NTG_OP_loss_studentt:
        dist_cases(l, code);
        break;
    case NTG_OP_loss_xent:
        xent_cases(l, code);
        break;
    case NTG_OP_sgd:
    case NTG_OP_adam:
    case NTG_OP_clip_grad_norm:
        optim_cases(l, code);
        break;
    case NTG_OP_matmul:
        matmul_cases(l);
        break;
    case NTG_OP_softmax:
    case NTG_OP_log_softmax:
        softmax_cases(l, code);
        break;
    case NTG_OP_layernorm:
        layernorm_cases(l);
        break;
    case NTG_OP_reduce_sum:
    case NTG_OP_reduce_mean:
    case NTG_OP_reduce_max:
        reduce_cases(l, code);
        break;
    case NTG_OP_posenc: {
        cf_case *c = cf_new(l, code, "7 x 6", M);
        oh_attrs_set_i(&c->a, NTG_POSENC_LENGTH, 7);
        oh_attrs_set_i(&c->a, NTG_POSENC_DIM, 6);
        c = cf_new(l, code, "96 x 64", M);
        oh_attrs_set_i(&c->a, NTG_POSENC_LENGTH, 96);
        oh_attrs_set_i(&c->a, NTG_POSENC_DIM, 64);
        break;
    }
    case NTG_OP_basis: {
        /* NeuralForecast's bases at h 96, input_size 480 (n_polynomials 2, n_harmonics 2) */
        static const struct {
            const char *name;
            int kind, len, period, degree, harmonics, sign;
        } bs[] = {{"poly 3 x 480", NTG_BASIS_POLY, 480, 0, 2, 0, 1},
                  {"poly 4 x 7, period 5", NTG_BASIS_POLY, 7, 5, 3, 0, 1},
                  {"fourier 190 x 96", NTG_BASIS_FOURIER, 96, 0, 0, 2, 1},
                  {"fourier 190 x 480, backcast", NTG_BASIS_FOURIER, 480, 96, 0, 2, -1},
                  {"fourier 3 harmonics, odd period", NTG_BASIS_FOURIER, 11, 5, 0, 3, 1}};
        for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++) {
            cf_case *c = cf_new(l, code, bs[i].name, M);
            oh_attrs_set_i(&c->a, NTG_BASIS_KIND, bs[i].kind);
            oh_attrs_set_i(&c->a, NTG_BASIS_LENGTH, bs[i].len);
            oh_attrs_set_i(&c->a, NTG_BASIS_PERIOD, bs[i].period);
            oh_attrs_set_i(&c->a, NTG_BASIS_DEGREE, bs[i].degree);
            oh_attrs_set_i(&c->a, NTG_BASIS_HARMONICS, bs[i].harmonics);
            oh_attrs_set_i(&c->a, NTG_BASIS_SIGN, bs[i].sign);
        }
        break;
    }
    case NTG_OP_lstm:
        lstm_cases(l);
        break;
    case NTG_OP_param:
        param_cases(l);
        break;
    case NTG_OP_avgpool1d:
        avgpool_cases(l);
        break;
    case NTG_OP_conv1d:
        conv_cases(l);
        break;
    case NTG_OP_unfold:
        unfold_cases(l);
        break;
    case NTG_OP_dropout:
        dropout_cases(l);
        break;
    case NTG_OP_batchnorm:
        batchnorm_cases(l);
        break;
    case NTG_OP_batchnorm_stats:
        batchnorm_stats_cases(l);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------ the plan */

typedef struct cf_plan {
    ntg_plan_view v;
    ntg_tensor_rec t[CF_MAX_T];
    uint32_t nt;
    ntg_op_rec op[2];
    uint32_t operands[4 * CF_MAX_IN + 4 * OH_MAX_OUT];
    ntg_program_view prog[2];
    uint32_t prog_ops[2];
    uint32_t in_id[CF_MAX_IN], out_id[OH_MAX_OUT], dy_id[OH_MAX_OUT], dx_id[CF_MAX_IN];
    int n_out;
} cf_plan;

static uint32_t cf_tensor(cf_plan *p, const ntg_tdesc *d, int store)
{
    cr_assert_lt(p->nt, CF_MAX_T);
    ntg_tensor_rec *t = &p->t[p->nt];
    memset(t, 0, sizeof *t);
    t->dtype = NTG_DTYPE_F32;
    t->rank = d->rank;
    t->flags = d->batched ? NTG_TF_BATCHED : 0;
    for (int i = 0; i < d->rank; i++) t->dims[i] = (uint32_t)d->dims[i];
    t->storage = (uint8_t)store;
    t->link = NTG_NONE;
    uint64_t off = (p->v.storage_bytes[store] + CF_GUARD + 63) & ~(uint64_t)63;
    t->offset = off;
    t->nbytes = (uint64_t)ntg__tdesc_numel(d) * 4;
    p->v.storage_bytes[store] = off + t->nbytes;
    return p->nt++;
}
static void cf_plan_build(const cf_case *c, cf_plan *p)
{
    const ntg_op_info *info = ntg__op_info(c->code);
    ntg_tdesc ind[CF_MAX_IN], outd[OH_MAX_OUT];
    char msg[256];
    memset(p, 0, sizeof *p);
    for (int i = 0; i < c->n_in; i++) ind[i] = c->in[i].d;
    p->n_out = c->n_out ? c->n_out : info->n_out_min;
    ntg_opsig sig = {c->a.slot, c->a.n, c->n_in, ind, p->n_out};
    memset(outd, 0, sizeof outd);
    cr_assert_eq(ntg__attr_check(info->cls, c->a.slot, c->a.n, msg, sizeof msg), 0, "%s: %s",
                 c->name, msg);
    cr_assert_eq(info->cls->infer(&sig, outd, msg, sizeof msg), 0, "%s: infer: %s", c->name, msg);
    uint32_t k = 0;
    for (int i = 0; i < c->n_in; i++) p->in_id[i] = cf_tensor(p, &c->in[i].d, c->in[i].store);
    /* outputs are the programs' outputs (the caller reads them), as in a compiled plan */
    for (int j = 0; j < p->n_out; j++) {
        p->out_id[j] = cf_tensor(p, &outd[j], SA);
        p->t[p->out_id[j]].role = NTG_ROLE_OUTPUT;
    }
    ntg_op_rec *op = &p->op[0];
    op->code = (uint16_t)c->code;
    op->dir = NTG_DIR_FWD;
    op->operands = k;
    op->n_in = (uint16_t)c->n_in;
    op->n_out = (uint16_t)p->n_out;
    op->n_attr = c->a.n;
    for (int i = 0; i < c->n_in; i++) p->operands[k++] = p->in_id[i];
    for (int j = 0; j < p->n_out; j++) p->operands[k++] = p->out_id[j];
    p->v.n_ops = 1;
    if (c->want) {
        op = &p->op[1];
        op->code = (uint16_t)c->code;
        op->dir = NTG_DIR_BWD;
        op->operands = k;
        op->n_in = (uint16_t)(c->n_in + 2 * p->n_out);
        op->n_out = (uint16_t)c->n_in;
        op->n_attr = c->a.n;
        op->saved = info->cls->bwd_saves ? info->cls->bwd_saves(&sig) : 0xffffffffu;
        for (int i = 0; i < c->n_in; i++) p->operands[k++] = p->in_id[i];
        for (int j = 0; j < p->n_out; j++) p->operands[k++] = p->out_id[j];
        for (int j = 0; j < p->n_out; j++) {
            p->dy_id[j] = (c->dy_absent >> j) & 1u ? NTG_NONE : cf_tensor(p, &outd[j], SA);
            p->operands[k++] = p->dy_id[j];
        }
        for (int i = 0; i < c->n_in; i++) {
            p->dx_id[i] = (c->want >> i) & 1u ? cf_tensor(p, &c->in[i].d, SA) : NTG_NONE;
            if (p->dx_id[i] != NTG_NONE) p->t[p->dx_id[i]].role = NTG_ROLE_OUTPUT;
            p->operands[k++] = p->dx_id[i];
        }
        p->v.n_ops = 2;
    }
    for (int s = 0; s < NTG_STORE_COUNT; s++)
        if (p->v.storage_bytes[s]) p->v.storage_bytes[s] += CF_GUARD;
    p->prog_ops[0] = 0;
    p->prog_ops[1] = 1;
    p->prog[0].name = "fwd";
    p->prog[0].ops = &p->prog_ops[0];
    p->prog[0].n_ops = 1;
    p->prog[1].name = "bwd";
    p->prog[1].ops = &p->prog_ops[1];
    p->prog[1].n_ops = 1;
    p->v.tensors = p->t;
    p->v.n_tensors = p->nt;
    p->v.ops = p->op;
    p->v.operands = p->operands;
    p->v.n_operands = k;
    p->v.attrs = c->a.slot;
    p->v.n_attrs = c->a.n;
    p->v.programs = p->prog;
    p->v.n_programs = (uint32_t)p->v.n_ops;
    p->v.strings = "";
    p->v.max_batch = c->max_batch;
}

/* ------------------------------------------------------------- checking */

typedef struct cf_worst {
    double fwd, bwd;
} cf_worst;

static float *tdata(uint8_t *const mem[NTG_STORE_COUNT], const cf_plan *p, uint32_t id)
{
    return (float *)(mem[p->t[id].storage] + p->t[id].offset);
}

/* Elements of tensor id at `batch`. */
static size_t tnumel(const cf_plan *p, uint32_t id, int batch)
{
    const ntg_tensor_rec *t = &p->t[id];
    size_t n = (size_t)(t->nbytes / 4);
    if (t->flags & NTG_TF_BATCHED) n = n / t->dims[0] * (size_t)batch;
    return n;
}

static void fill(tu_rng *r, float *x, size_t n, int kind)
{
    if (kind == K_RNG) {
        float w[NTG_RNG_SIZE];
        ntg__rng_fill(w, 0x123456789ull, 7, 3);
        memcpy(x, w, sizeof w);
    } else if (kind == K_CTL || kind == K_CTL1) {
        float ctl[4] = {0.01f, kind == K_CTL1 ? 1.0f : 3.0f, 0.0f, 0.0f};
        memcpy(x, ctl, sizeof ctl);
    } else if (kind == K_MASK) {
        for (size_t i = 0; i < n; i++) x[i] = (tu_next(r) & 3) ? 1.0f : 0.0f;
    } else if (kind == K_TIES) {
        for (size_t i = 0; i < n; i++) x[i] = (float)((int)(tu_next(r) % 5) - 2);
    } else if (kind == K_CLASS3) { /* class indices 0, 1, 2 */
        for (size_t i = 0; i < n; i++) x[i] = (float)(tu_next(r) % 3);
    } else if (kind == K_ZERO) {
        memset(x, 0, n * sizeof *x);
    } else if (kind == K_SMALL) {
        tu_fill(r, x, n, -0.125, 0.125);
    } else {
        double off = kind == K_OFFSET ? 80.0 : 0.0;
        tu_fill(r, x, n, off + (kind == K_POS ? 0.0 : -2.0), off + 2.0);
    }
}

/* Whether byte offset `off` of storage `st` lies in a region the program may write. */
static int writable(const cf_plan *p, const uint32_t *ids, int n, int st, size_t off, int batch)
{
    for (int i = 0; i < n; i++) {
        if (ids[i] == NTG_NONE || p->t[ids[i]].storage != st) continue;
        size_t o = (size_t)p->t[ids[i]].offset, e = o + tnumel(p, ids[i], batch) * 4;
        if (off >= o && off < e) return 1;
    }
    return 0;
}

/* Which tensor (or guard) a byte belongs to, for messages. */
static const char *where(const cf_plan *p, int st, size_t off, char *buf, size_t cap)
{
    for (uint32_t i = 0; i < p->nt; i++) {
        size_t o = (size_t)p->t[i].offset;
        if (p->t[i].storage == st && off >= o && off < o + (size_t)p->t[i].nbytes) {
            snprintf(buf, cap, "tensor %u at element %zu", i, (off - o) / 4);
            return buf;
        }
    }
    snprintf(buf, cap, "a guard zone (storage %d, byte %zu)", st, off);
    return buf;
}

/* The side under test: its storages (device buffers or host memory in place) and the host
 * image of them, as last downloaded. */
typedef struct cf_side {
    const ntg_backend_class *cls;
    const bs_hooks *h;
    const bs_cfg *g;
    ntg_backend *be;
    ntg_buffer *buf[NTG_STORE_COUNT];
    uint8_t *img[NTG_STORE_COUNT];
} cf_side;

static void check_image(const cf_side *s, const cf_case *c, const cf_plan *p,
                        uint8_t *const before[NTG_STORE_COUNT], const uint32_t *ids, int n,
                        int batch, const char *phase)
{
    for (int st = 0; st < NTG_STORE_COUNT; st++) {
        if (!s->img[st]) continue;
        size_t bytes = (size_t)p->v.storage_bytes[st];
        for (size_t b = 0; b < bytes; b += 4) {
            if (!memcmp(s->img[st] + b, before[st] + b, 4)) continue;
            if (writable(p, ids, n, st, b, batch)) continue;
            char w[96];
            cr_assert_fail("%s: %s [%s] batch %d %s: wrote outside its outputs: %s", s->cls->name,
                           c->name, s->g->name, batch, phase, where(p, st, b, w, sizeof w));
        }
    }
}

static double compare(const cf_side *s, const cf_case *c, const cf_plan *p,
                      uint8_t *const ref[NTG_STORE_COUNT], uint32_t id, int batch, double tol,
                      const char *what)
{
    size_t n = tnumel(p, id, batch), at = 0;
    const float *a = tdata(s->img, p, id), *b = tdata(ref, p, id);
    double e = tu_max_abs_rel(a, b, n), big = -1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > big || d != d) big = d, at = i;
    }
    cr_assert_leq(e, tol,
                  "%s: %s [%s] batch %d: %s max-abs-rel %.3g (tolerance %g); worst at element %zu "
                  "of %zu: %.9g, reference %.9g",
                  s->cls->name, c->name, s->g->name, batch, what, e, tol, at, n,
                  n ? (double)a[at] : 0.0, n ? (double)b[at] : 0.0);
    return e;
}

/* The side's storages take the image `mem` (host memory in place: a copy into it). */
static void side_put(cf_side *s, const cf_plan *p, uint8_t *const mem[NTG_STORE_COUNT])
{
    ntg_error err;
    for (int k = 0; k < NTG_STORE_COUNT; k++) {
        if (!s->buf[k]) continue;
        size_t n = (size_t)p->v.storage_bytes[k];
        if (s->g->wrap != BS_ALLOC) {
            if (s->img[k] != mem[k]) memcpy(s->img[k], mem[k], n);
            continue;
        }
        cr_assert_eq(s->cls->upload(s->be, s->buf[k], 0, mem[k], n, &err), NTG_OK, "%s",
                     err.message);
    }
}

/* The side's image, as the backend holds it now. */
static void side_get(cf_side *s, const cf_plan *p)
{
    ntg_error err;
    if (s->g->wrap != BS_ALLOC) return;
    for (int k = 0; k < NTG_STORE_COUNT; k++)
        if (s->buf[k])
            cr_assert_eq(s->cls->download(s->be, s->buf[k], 0, s->img[k],
                                          (size_t)p->v.storage_bytes[k], &err),
                         NTG_OK, "%s", err.message);
}

static void snapshot(const cf_plan *p, uint8_t *const src[NTG_STORE_COUNT],
                     uint8_t *dst[NTG_STORE_COUNT])
{
    for (int st = 0; st < NTG_STORE_COUNT; st++) {
        dst[st] = NULL;
        if (!src[st]) continue;
        dst[st] = malloc((size_t)p->v.storage_bytes[st]);
        memcpy(dst[st], src[st], (size_t)p->v.storage_bytes[st]);
    }
}

static void free_img(uint8_t *img[NTG_STORE_COUNT])
{
    for (int st = 0; st < NTG_STORE_COUNT; st++) {
        free(img[st]);
        img[st] = NULL;
    }
}

static uint8_t *aligned_image(size_t n)
{
    uint8_t *m = aligned_alloc(64, (n + 63) & ~(size_t)63);
    cr_assert(m);
    return m;
}

/* A new instance of the backend under configuration g for op `code`; 0 when g does not apply
 * to it (the instance is then finished: it must still have produced no device message). */
static int side_open(cf_side *s, const ntg_backend_class *cls, const bs_hooks *h, const bs_cfg *g,
                     uint32_t code, int max_batch)
{
    ntg_error err;
    memset(s, 0, sizeof *s);
    s->cls = cls;
    s->h = h;
    s->g = g;
    ntg_backend_config cfg = {g->threads, max_batch};
    cr_assert_eq(cls->create(&cfg, &s->be, &err), NTG_OK, "%s: %s", cls->name, err.message);
    if (h->configure && !h->configure(s->be, g, code)) {
        char first[1024] = "";
        long msgs =
            h->finish ? h->finish(cls, s->be, first, sizeof first) : (cls->destroy(s->be), 0);
        cr_assert_eq(msgs, 0, "%s [%s]: %ld device message(s), the first: %s", cls->name, g->name,
                     msgs, first);
        return 0;
    }
    return 1;
}

static void side_close(cf_side *s, uint32_t code)
{
    char first[1024] = "";
    long msgs = 0;
    if (s->h->finish)
        msgs = s->h->finish(s->cls, s->be, first, sizeof first);
    else
        s->cls->destroy(s->be);
    cr_assert_eq(msgs, 0, "%s: %s [%s]: %ld device message(s), the first: %s", s->cls->name,
                 ntg__op_info(code)->cls->name, s->g->name, msgs, first);
}

/* The ops a backend may refuse at prepare (NTG_ERR_UNSUPPORTED naming the op): the suite
 * reports them as skipped for it.  Every other op must prepare everywhere.  cuda has no kernel
 * for batchnorm and the distribution losses yet (docs/cuda.md); neither GPU backend runs basis,
 * which the compiler folds into a constant; vulkan has every other op. */
static int refused_op(const char *backend, uint32_t code)
{
    if (strcmp(backend, "cuda") == 0)
        return code == NTG_OP_batchnorm || code == NTG_OP_batchnorm_stats ||
               code == NTG_OP_loss_normal || code == NTG_OP_loss_studentt ||
               code == NTG_OP_loss_xent || code == NTG_OP_basis;
    if (strcmp(backend, "vulkan") == 0) return code == NTG_OP_basis;
    return 0;
}

static void run_case(cf_side *x, const cf_case *c, int log, cf_worst *worst)
{
    const bs_hooks *h = x->h;
    double tol_fwd = h->tol_fwd > c->tol_fwd_min ? h->tol_fwd : c->tol_fwd_min;
    double tol_bwd = h->tol_bwd > c->tol_bwd_min ? h->tol_bwd : c->tol_bwd_min;
    cf_plan *p = calloc(1, sizeof *p);
    cf_plan_build(c, p);
    ntg_error err;

    /* the reference on host memory */
    uint8_t *ref[NTG_STORE_COUNT] = {NULL}, *init[NTG_STORE_COUNT];
    ntg_buffer *rbuf[NTG_STORE_COUNT] = {NULL};
    ntg_backend *rb;
    ntg_backend_config rcfg = {1, c->max_batch};
    cr_assert_eq(ntg__backend_cpu.create(&rcfg, &rb, &err), NTG_OK);
    tu_rng r = {0x5eed ^ (uint64_t)c->code * 7919u};
    for (int k = 0; k < NTG_STORE_COUNT; k++) {
        size_t n = (size_t)p->v.storage_bytes[k];
        if (!n) continue;
        ref[k] = aligned_image(n);
        oh_fill_sentinel((float *)ref[k], n / 4);
        x->img[k] = aligned_image(n);
    }
    for (int i = 0; i < c->n_in; i++) {
        uint32_t id = p->in_id[i];
        fill(&r, tdata(ref, p, id), (size_t)(p->t[id].nbytes / 4), c->in[i].kind);
    }
    snapshot(p, ref, init);
    for (int k = 0; k < NTG_STORE_COUNT; k++)
        if (ref[k])
            cr_assert_eq(ntg__backend_cpu.buffer_wrap(rb, ref[k], (size_t)p->v.storage_bytes[k], 0,
                                                      &rbuf[k], &err),
                         NTG_OK);
    cr_assert_eq(ntg__backend_cpu.prepare(rb, &p->v, rbuf, &err), NTG_OK, "%s", err.message);

    /* the side under test: storages of this case, the same images (weights in place before
     * prepare: a backend packs them there) */
    for (int k = 0; k < NTG_STORE_COUNT; k++) {
        if (!ref[k]) continue;
        size_t n = (size_t)p->v.storage_bytes[k];
        if (x->g->wrap == BS_ALLOC) {
            cr_assert_eq(x->cls->buffer_alloc(x->be, n, &x->buf[k], &err), NTG_OK, "%s: %s",
                         x->cls->name, err.message);
        } else {
            /* an in-place op writes its weights: never read-only there */
            int ro = x->g->wrap == BS_WRAP_RO && k == NTG_STORE_WEIGHTS && !c->inplace;
            cr_assert(x->cls->buffer_wrap, "%s cannot use host memory", x->cls->name);
            memcpy(x->img[k], init[k], n);
            cr_assert_eq(x->cls->buffer_wrap(x->be, x->img[k], n, ro, &x->buf[k], &err), NTG_OK,
                         "%s: %s", x->cls->name, err.message);
        }
    }
    side_put(x, p, init);
    ntg_status pst = x->cls->prepare(x->be, &p->v, x->buf, &err);
    if (pst == NTG_ERR_UNSUPPORTED && refused_op(x->cls->name, c->code)) {
        /* a backend that has no kernel for the op refuses it at prepare, naming it */
        const char *op = ntg__op_info(c->code)->cls->name;
        cr_assert(strstr(err.message, op), "%s refuses %s without naming it: %s", x->cls->name, op,
                  err.message);
        cr_skip_test("the %s backend refuses %s: %s", x->cls->name, op, err.message);
    }
    cr_assert_eq(pst, NTG_OK, "%s: %s [%s]: %s", x->cls->name, c->name, x->g->name, err.message);
    if (h->prepared) h->prepared(x->be, c->name, c->code, c->want != 0, log);

    int batches[3] = {1, (c->max_batch + 1) / 2, c->max_batch};
    for (int bi = 0; bi < 3; bi++) {
        int batch = batches[bi];
        if (bi > 0 && batch == batches[bi - 1]) continue;
        /* both sides start from the initial image (in-place inputs included) */
        for (int k = 0; k < NTG_STORE_COUNT; k++)
            if (ref[k]) memcpy(ref[k], init[k], (size_t)p->v.storage_bytes[k]);
        side_put(x, p, init);
        cr_assert_eq(ntg__backend_cpu.run(rb, 0, batch, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(x->cls->run(x->be, 0, batch, &err), NTG_OK, "%s: %s [%s]: %s", x->cls->name,
                     c->name, x->g->name, err.message);
        side_get(x, p);
        uint32_t wr[CF_MAX_IN + OH_MAX_OUT];
        int nw = 0;
        for (int j = 0; j < p->n_out; j++) {
            char what[32];
            snprintf(what, sizeof what, "output %d", j);
            double e = compare(x, c, p, ref, p->out_id[j], batch, tol_fwd, what);
            if (e > worst->fwd) worst->fwd = e;
            wr[nw++] = p->out_id[j];
        }
        for (int i = 0; i < c->n_in; i++)
            if ((c->inplace >> i) & 1u) {
                char what[32];
                snprintf(what, sizeof what, "updated input %d", i);
                double e = compare(x, c, p, ref, p->in_id[i], batch, tol_fwd, what);
                if (e > worst->fwd) worst->fwd = e;
                wr[nw++] = p->in_id[i];
            }
        check_image(x, c, p, init, wr, nw, batch, "forward");
        if (!c->want) continue;

        /* the backward from the reference's forward values, with the same random dy */
        for (int j = 0; j < p->n_out; j++) {
            if (p->dy_id[j] == NTG_NONE) continue;
            fill(&r, tdata(ref, p, p->dy_id[j]), (size_t)(p->t[p->dy_id[j]].nbytes / 4), K_RAND);
        }
        uint8_t *before[NTG_STORE_COUNT];
        snapshot(p, ref, before);
        side_put(x, p, before);
        cr_assert_eq(ntg__backend_cpu.run(rb, 1, batch, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(x->cls->run(x->be, 1, batch, &err), NTG_OK, "%s: %s [%s]: %s", x->cls->name,
                     c->name, x->g->name, err.message);
        side_get(x, p);
        nw = 0;
        for (int i = 0; i < c->n_in; i++) {
            if (p->dx_id[i] == NTG_NONE) continue;
            char what[32];
            snprintf(what, sizeof what, "gradient of input %d", i);
            double e = compare(x, c, p, ref, p->dx_id[i], batch, tol_bwd, what);
            if (e > worst->bwd) worst->bwd = e;
            wr[nw++] = p->dx_id[i];
        }
        check_image(x, c, p, before, wr, nw, batch, "backward");
        free_img(before);
    }
    for (int k = 0; k < NTG_STORE_COUNT; k++) {
        if (x->buf[k]) x->cls->buffer_free(x->be, x->buf[k]);
        x->buf[k] = NULL;
        if (rbuf[k]) ntg__backend_cpu.buffer_free(rb, rbuf[k]);
        free(ref[k]);
        free(x->img[k]);
        x->img[k] = NULL;
    }
    free_img(init);
    ntg__backend_cpu.destroy(rb);
    free(p);
}

/* Every case of op `code` under every configuration of the backend. */
static void run_op(const ntg_backend_class *cls, const bs_hooks *h, uint32_t code)
{
    cf_list *l = calloc(1, sizeof *l);
    cases_for(code, l);
    cr_assert_gt(l->n, 0, "no cases for %s", ntg__op_info(code)->cls->name);
    int max_batch = 1;
    for (int i = 0; i < l->n; i++)
        if (l->c[i].max_batch > max_batch) max_batch = l->c[i].max_batch;
    cf_worst worst = {0, 0};
    for (int gi = 0; h->cfgs[gi].name; gi++) {
        const bs_cfg *g = &h->cfgs[gi];
        cf_worst here = {0, 0};
        cf_side x;
        int ran = 0;
        if (h->fresh) {
            for (int i = 0; i < l->n; i++) {
                if (!side_open(&x, cls, h, g, code, l->c[i].max_batch)) continue;
                run_case(&x, &l->c[i], gi == 0, &here);
                side_close(&x, code);
                ran = 1;
            }
        } else if (side_open(&x, cls, h, g, code, max_batch)) {
            /* one instance prepares case after case: re-preparing is part of the contract */
            for (int i = 0; i < l->n; i++) run_case(&x, &l->c[i], gi == 0, &here);
            side_close(&x, code);
            ran = 1;
        }
        if (!ran) continue;
        cr_log_info("%s %-14s [%s] max-abs-rel: forward %.2e, backward %.2e", cls->name,
                    ntg__op_info(code)->cls->name, g->name, here.fwd, here.bwd);
        if (here.fwd > worst.fwd) worst.fwd = here.fwd;
        if (here.bwd > worst.bwd) worst.bwd = here.bwd;
    }
    cr_log_info("%s %-14s %d cases, worst max-abs-rel: forward %.2e (tolerance %g), backward "
                "%.2e (tolerance %g)",
                cls->name, ntg__op_info(code)->cls->name, l->n, worst.fwd, h->tol_fwd, worst.bwd,
                h->tol_bwd);
    free(l);
}

/* ------------------------------------------------------------ the tests */

/* One test per (backend, op): "<backend>_<op>". */
static size_t bs_items(const char **names, size_t cap)
{
    size_t n = 0;
    for (uint32_t code = 0; code < NTG_OP_COUNT && n < cap; code++)
        names[n++] = ntg__op_info(code)->cls->name;
    return n;
}

static void bs_run(const ntg_backend_class *cls, const bs_hooks *h, const char *item)
{
    for (uint32_t code = 0; code < NTG_OP_COUNT; code++)
        if (strcmp(ntg__op_info(code)->cls->name, item) == 0) {
            run_op(cls, h, code);
            return;
        }
    cr_assert_fail("no op %s", item);
}

/* Every op of ops.def has cases, with its backward when it has one. */
Test(conformance, every_op_is_covered)
{
    cf_list *l = calloc(1, sizeof *l);
    for (uint32_t code = 0; code < NTG_OP_COUNT; code++) {
        cases_for(code, l);
        cr_assert_gt(l->n, 0, "no conformance cases for op %s", ntg__op_info(code)->cls->name);
        int bwd = 0;
        for (int i = 0; i < l->n; i++) bwd |= l->c[i].want != 0;
        cr_assert(bwd || !ntg__op_info(code)->differentiable, "op %s: no backward case",
                  ntg__op_info(code)->cls->name);
    }
    free(l);
}

/* Every backend the registry has is one this suite runs: the hooks' table names no backend
 * the build lacks, and the reference is among the registered. */
Test(conformance, the_registry_is_the_list)
{
    size_t nb;
    const ntg_backend_class *const *b = ntg__backends(&nb);
    int cpu = 0;
    for (size_t i = 0; i < nb; i++) {
        cpu |= b[i] == &ntg__backend_cpu;
        cr_log_info("registered: %s (%s)", b[i]->name,
                    bs_hooks_for(b[i]->name)->backend ? "own hooks" : "default hooks");
    }
    cr_assert(cpu, "the reference backend is not registered");
    for (size_t t = 0; bs_hooks_row(t); t++)
        cr_assert(ntg__backend_find(bs_hooks_row(t)->backend), "hooks for %s, which is not built",
                  bs_hooks_row(t)->backend);
}
