/* test_ops_unary.c — exp, log, abs, sqrt, softplus and identity, forward and backward, on every
 * backend of the registry, against closed forms and double-precision finite differences. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ops.h"
#include "testutil.h"

/*
 * Each check is a one-op plan view, built here the way the compiler lays one out: program 0
 * runs y = f(x), program 1 its backward dx = dy f'(.) with the op class's bwd_saves mask, all
 * four tensors batched [B, N] in the arena.  The arena goes up and comes back through the
 * backend's own buffer_alloc / upload / download, so the same code drives the reference CPU
 * backend, xnnpack and Vulkan.  Row 0 of x holds the domain edges (0, negatives, overflow,
 * the softplus threshold); the other rows random values in the op's domain.
 *  - forward: every element against the function evaluated in double (NaN where it must be
 *    NaN, the same infinity where it must be infinite);
 *  - backward: away from the edges, against a central finite difference of the double
 *    function (step 1e-5 of |x|, at least 1e-8); at the edges, against PyTorch's closed form.
 */

#define N 41  /* elements per row */
#define B 4   /* rows (the batch) */
#define NE 12 /* edge values at the start of row 0 */

enum { T_X, T_Y, T_DY, T_DX, T_COUNT };

static const uint32_t codes[] = {NTG_OP_exp,  NTG_OP_log,      NTG_OP_abs,
                                 NTG_OP_sqrt, NTG_OP_softplus, NTG_OP_identity};

/* The function in double, as PyTorch defines it (softplus: beta 1, threshold 20). */
static double f_of(uint32_t code, double v)
{
    switch (code) {
    case NTG_OP_exp:
        return exp(v);
    case NTG_OP_log:
        return log(v);
    case NTG_OP_abs:
        return fabs(v);
    case NTG_OP_sqrt:
        return sqrt(v);
    case NTG_OP_softplus:
        return v > 20.0 ? v : log1p(exp(v));
    default:
        return v;
    }
}

/* PyTorch's backward formula (for the edges, where a difference quotient is meaningless). */
static double df_of(uint32_t code, double v, double dy)
{
    switch (code) {
    case NTG_OP_exp:
        return dy * exp(v);
    case NTG_OP_log:
        return dy / v;
    case NTG_OP_abs:
        return v > 0 ? dy : v < 0 ? -dy : 0.0;
    case NTG_OP_sqrt:
        return dy / (2.0 * sqrt(v));
    case NTG_OP_softplus:
        return v > 20.0 ? dy : dy / (1.0 + exp(-v));
    default:
        return dy;
    }
}

/* Row 0's edge values per op. */
static void edges(uint32_t code, float *x)
{
    static const float common[NE] = {0.0f,  -0.0f, 1.0f, -1.0f, 0.5f, 2.0f,
                                     -3.0f, 1e-3f, 7.0f, -7.0f, 3.0f, -0.25f};
    memcpy(x, common, sizeof common);
    if (code == NTG_OP_exp) {
        x[8] = 100.0f;  /* overflows float: inf */
        x[9] = -100.0f; /* 3.7e-44, a float denormal: Vulkan may flush it, checked apart */
        x[10] = 88.0f;
    } else if (code == NTG_OP_softplus) {
        x[6] = 20.0f; /* the threshold itself: log1p(exp(20)) */
        x[7] = 20.5f; /* above it: x */
        x[8] = 30.0f;
        x[9] = -30.0f; /* e^-30, where log(1 + e^x) loses everything */
        x[10] = -80.0f;
        x[11] = 19.5f;
    }
}

static int is_edge(uint32_t code, int row, int i, float v)
{
    if (row != 0 || i >= NE) return 0;
    /* the kinks and the outside of the domain; smooth points of row 0 are differenced too */
    if ((code == NTG_OP_log || code == NTG_OP_sqrt) && v <= 0.0f) return 1;
    if (code == NTG_OP_abs && v == 0.0f) return 1;
    if (code == NTG_OP_softplus && fabsf(v - 20.0f) < 1.0f) return 1;
    if (code == NTG_OP_exp && fabsf(v) > 80.0f) return 1;
    return 0;
}

/* ---------------------------------------------------------- the plan */

typedef struct up_plan {
    ntg_plan_view v;
    ntg_tensor_rec t[T_COUNT];
    ntg_op_rec op[2];
    uint32_t operands[8];
    ntg_program_view prog[2];
    uint32_t prog_ops[2];
    ntg_attr attr[1];
} up_plan;

static void plan_build(up_plan *p, uint32_t code)
{
    memset(p, 0, sizeof *p);
    const ntg_op_info *info = ntg__op_info(code);
    cr_assert_eq(info->cls->n_attrs, 0, "%s has attributes", info->cls->name);
    uint64_t off = 0;
    for (int k = 0; k < T_COUNT; k++) {
        ntg_tensor_rec *t = &p->t[k];
        t->dtype = NTG_DTYPE_F32;
        t->rank = 2;
        t->flags = NTG_TF_BATCHED;
        t->dims[0] = B;
        t->dims[1] = N;
        t->storage = NTG_STORE_ARENA;
        t->link = NTG_NONE;
        t->offset = off;
        t->nbytes = (uint64_t)B * N * 4;
        t->role = k == T_Y || k == T_DX ? NTG_ROLE_OUTPUT : 0;
        off = (off + t->nbytes + 63) & ~(uint64_t)63;
    }
    p->v.storage_bytes[NTG_STORE_ARENA] = off;
    ntg_tdesc xd = {0};
    xd.dtype = NTG_DTYPE_F32;
    xd.rank = 2;
    xd.batched = 1;
    xd.dims[0] = B;
    xd.dims[1] = N;
    ntg_opsig sig = {p->attr, 0, 1, &xd, 1};
    /* fwd: x -> y; bwd: x, y, dy -> dx */
    uint32_t ops[] = {T_X, T_Y, T_X, T_Y, T_DY, T_DX};
    memcpy(p->operands, ops, sizeof ops);
    p->op[0] = (ntg_op_rec){
        .code = (uint16_t)code, .dir = NTG_DIR_FWD, .operands = 0, .n_in = 1, .n_out = 1};
    p->op[1] = (ntg_op_rec){.code = (uint16_t)code,
                            .dir = NTG_DIR_BWD,
                            .operands = 2,
                            .n_in = 3,
                            .n_out = 1,
                            .saved = info->cls->bwd_saves ? info->cls->bwd_saves(&sig) : ~0u};
    p->prog_ops[0] = 0;
    p->prog_ops[1] = 1;
    p->prog[0] = (ntg_program_view){"fwd", &p->prog_ops[0], 1};
    p->prog[1] = (ntg_program_view){"bwd", &p->prog_ops[1], 1};
    p->v.tensors = p->t;
    p->v.n_tensors = T_COUNT;
    p->v.ops = p->op;
    p->v.n_ops = 2;
    p->v.operands = p->operands;
    p->v.n_operands = 6;
    p->v.attrs = p->attr;
    p->v.n_attrs = 0;
    p->v.programs = p->prog;
    p->v.n_programs = 2;
    p->v.strings = "";
    p->v.max_batch = B;
}

/* --------------------------------------------------------- the backends */

/* Sanitizer builds: LeakSanitizer reports what Mesa's lavapipe and its LLVM keep until exit
 * (none of it ntgraph's), as tests/test_vk_util.h says; ntgraph's own leaks still count. */
const char *__lsan_default_suppressions(void) __attribute__((visibility("default"), used));
const char *__lsan_default_suppressions(void)
{
    return "leak:libvulkan_lvp.so\nleak:libLLVM\nleak:libVkLayer_khronos_validation.so\n";
}

/* Keep the driver mapped until exit (the loader unloads it with the instance), so that a leak
 * report names it and the suppression above applies. */
static void pin_driver(const char *icd_json)
{
    FILE *f = fopen(icd_json, "r");
    if (!f) return;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *at = strstr(buf, "\"library_path\"");
    char *q = at ? strchr(at + 14, '"') : NULL;
    char *e = q ? strchr(q + 1, '"') : NULL;
    if (!e) return;
    *e = '\0';
    dlopen(q + 1, RTLD_NOW | RTLD_NODELETE);
}

/* Vulkan runs on Mesa's lavapipe where it is installed (as tests/test_vk_util.h does), so the
 * numbers do not depend on whichever GPU the machine has. */
static void use_lavapipe(void)
{
    static const char *const dirs[] = {"/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d",
                                       "/etc/vulkan/icd.d"};
    const char *native = getenv("NTG_VK_TEST_NATIVE");
    if (native && strcmp(native, "1") == 0) return;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (strncmp(ent->d_name, "lvp_icd.", 8) != 0) continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dirs[i], ent->d_name);
            setenv("VK_DRIVER_FILES", path, 1);
            setenv("VK_ICD_FILENAMES", path, 1);
            pin_driver(path);
            closedir(d);
            return;
        }
        closedir(d);
    }
}

/* The backend called `name` from the registry, or a skip saying why it cannot run here. */
static const ntg_backend_class *need_backend(const char *name)
{
    if (strcmp(name, "vulkan") == 0) use_lavapipe();
    size_t n = 0;
    const ntg_backend_class *const *all = ntg__backends(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i]->name, name) != 0) continue;
        char info[256] = "";
        if (all[i]->available && all[i]->available(info, sizeof info) == 0)
            cr_skip_test("backend %s is built but cannot run here: %s", name, info);
        return all[i];
    }
    cr_skip_test("this build has no %s backend", name);
    return NULL;
}

/* Forward tolerance (relative, or absolute below 1): the CPU backends compute in double and
 * round once; Vulkan uses GLSL's float exp/log/sqrt (tests/test_vk_conformance.c's 1e-4). */
static double fwd_tol(const char *name)
{
    return strcmp(name, "vulkan") == 0 ? 1e-4 : 1e-6;
}

static double rel_err(double got, double want)
{
    return fabs(got - want) / (fabs(want) > 1.0 ? fabs(want) : 1.0);
}

/* got must be want: NaN for NaN, the same infinity, else within tol. */
static void expect(const char *be, uint32_t code, const char *what, int row, int i, double x,
                   double got, double want, double tol)
{
    const char *op = ntg__op_info(code)->cls->name;
    if (isnan(want)) {
        cr_expect(isnan(got), "%s %s %s at x = %g [%d,%d]: got %g, want NaN", be, op, what, x, row,
                  i, got);
    } else if (isinf(want)) {
        cr_expect(got == want, "%s %s %s at x = %g [%d,%d]: got %g, want %g", be, op, what, x, row,
                  i, got, want);
    } else {
        cr_expect(isfinite(got) && rel_err(got, want) <= tol,
                  "%s %s %s at x = %g [%d,%d]: got %.9g, want %.9g (error %.3g > %g)", be, op, what,
                  x, row, i, got, want, rel_err(got, want), tol);
    }
}

static void check_op(const ntg_backend_class *cls, uint32_t code)
{
    const char *be = cls->name;
    up_plan *p = calloc(1, sizeof *p);
    cr_assert(p);
    plan_build(p, code);
    size_t bytes = (size_t)p->v.storage_bytes[NTG_STORE_ARENA];
    float *mem = calloc(1, bytes);
    cr_assert(mem);
    float *x = mem + p->t[T_X].offset / 4, *y = mem + p->t[T_Y].offset / 4;
    float *dy = mem + p->t[T_DY].offset / 4, *dx = mem + p->t[T_DX].offset / 4;

    tu_rng r = {0x0a11 + code};
    int positive = code == NTG_OP_log || code == NTG_OP_sqrt;
    tu_fill(&r, x, (size_t)B * N, positive ? 0.05 : -4.0, 4.0);
    if (code == NTG_OP_softplus) /* both sides of the threshold and the far left */
        tu_fill(&r, x + N, N, -40.0, 40.0);
    edges(code, x);
    tu_fill(&r, dy, (size_t)B * N, -2.0, 2.0);
    dy[0] = 1.0f; /* log'(0) and sqrt'(0): +inf for a positive dy */

    ntg_error err;
    ntg_backend *b = NULL;
    ntg_backend_config cfg = {2, B};
    cr_assert_eq(cls->create(&cfg, &b, &err), NTG_OK, "%s: %s", be, err.message);
    ntg_buffer *st[NTG_STORE_COUNT] = {0};
    cr_assert_eq(cls->buffer_alloc(b, bytes, &st[NTG_STORE_ARENA], &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(cls->prepare(b, &p->v, st, &err), NTG_OK, "%s: %s", be, err.message);
    cr_assert_eq(cls->upload(b, st[NTG_STORE_ARENA], 0, mem, bytes, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(cls->run(b, 0, B, &err), NTG_OK, "%s: %s", be, err.message);
    cr_assert_eq(cls->run(b, 1, B, &err), NTG_OK, "%s: %s", be, err.message);
    cr_assert_eq(cls->download(b, st[NTG_STORE_ARENA], 0, mem, bytes, &err), NTG_OK, "%s",
                 err.message);

    double tol = fwd_tol(be);
    int vk = strcmp(be, "vulkan") == 0;
    for (int row = 0; row < B; row++)
        for (int i = 0; i < N; i++) {
            size_t e = (size_t)row * N + i;
            double v = x[e], want = (double)(float)f_of(code, v);
            if (vk && want != 0.0 && fabs(want) < 1.1754944e-38) /* a denormal, may be flushed */
                cr_expect(fabs((double)y[e] - want) <= 1.1754944e-38, "%s exp(%g) = %g", be, v,
                          (double)y[e]);
            else
                expect(be, code, "forward", row, i, v, y[e], want, tol);
            if (is_edge(code, row, i, x[e])) {
                expect(be, code, "gradient", row, i, v, dx[e], (double)(float)df_of(code, v, dy[e]),
                       vk ? 1e-3 : 1e-6);
                continue;
            }
            /* central difference of the double function, then the chain rule */
            double h = 1e-5 * (fabs(v) > 1e-3 ? fabs(v) : 1e-3);
            double fd = (f_of(code, v + h) - f_of(code, v - h)) / (2.0 * h);
            expect(be, code, "gradient", row, i, v, dx[e], (double)dy[e] * fd, vk ? 1e-3 : 1e-5);
        }
    cls->buffer_free(b, st[NTG_STORE_ARENA]);
    cls->destroy(b);
    free(mem);
    free(p);
}

static void check_backend(const char *name)
{
    const ntg_backend_class *cls = need_backend(name);
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) check_op(cls, codes[k]);
}

Test(ops_unary, cpu)
{
    check_backend("cpu");
}

Test(ops_unary, xnnpack)
{
    check_backend("xnnpack");
}

Test(ops_unary, vulkan, .timeout = 300)
{
    check_backend("vulkan");
}

/* Skipped (with the reason) where no CUDA device is present. */
Test(ops_unary, cuda, .timeout = 300)
{
    check_backend("cuda");
}

/* A backend added to the registry gets a test above (a new name fails here until it has). */
Test(ops_unary, every_registered_backend_is_checked)
{
    size_t n = 0;
    const ntg_backend_class *const *all = ntg__backends(&n);
    for (size_t i = 0; i < n; i++)
        cr_expect(strcmp(all[i]->name, "cpu") == 0 || strcmp(all[i]->name, "xnnpack") == 0 ||
                      strcmp(all[i]->name, "vulkan") == 0 || strcmp(all[i]->name, "cuda") == 0,
                  "backend %s has no unary test", all[i]->name);
}

/* The domain edges of the closed forms the checks rely on (PyTorch's values). */
Test(ops_unary, reference_values)
{
    cr_expect(isinf(f_of(NTG_OP_log, 0.0)) && f_of(NTG_OP_log, 0.0) < 0);
    cr_expect(isnan(f_of(NTG_OP_log, -1.0)));
    cr_expect(isnan(f_of(NTG_OP_sqrt, -1.0)));
    /* torch.nn.functional.softplus(torch.tensor([20., 20.5, -30.])) */
    cr_expect_float_eq((float)f_of(NTG_OP_softplus, 20.0), 20.0f, 1e-6f);
    cr_expect_eq((float)f_of(NTG_OP_softplus, 20.5), 20.5f);
    cr_expect_float_eq(f_of(NTG_OP_softplus, -30.0), 9.357622968840175e-14, 1e-26);
}
