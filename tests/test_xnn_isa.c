/* test_xnn_isa.c — the instruction-set cap NTG_CPU_ISA: parsing, the xnnpack instance, its GEMMs.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_isa.h"
#include "ntgraph.h"
#include "testutil.h"
#include "xnnpack/xnn_int.h"

/* Criterion runs every test in a process of its own: setenv here does not leak into others. */

static const ntg_backend_class *xnnpack_or_skip(void)
{
    const ntg_backend_class *c = ntg__backend_find("xnnpack");
    char info[256] = "";
    if (!c) cr_skip_test("this build has no xnnpack backend");
    if (c->available && !c->available(info, sizeof info))
        cr_skip_test("the xnnpack backend is not available here: %s", info);
    return c;
}

static int cpu_has_avx2(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

Test(xnn, isa_cap_parses_the_documented_words)
{
    static const struct {
        const char *value;
        int cap;
    } ok[] = {{NULL, NTG_ISA_AVX512},        {"", NTG_ISA_AVX512},   {"avx512", NTG_ISA_AVX512},
              {"AVX2", NTG_ISA_AVX2},        {"avx2", NTG_ISA_AVX2}, {"portable", NTG_ISA_PORTABLE},
              {"Portable", NTG_ISA_PORTABLE}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int cap = -1;
        ntg_error err;
        cr_assert_eq(ntg__isa_cap_parse(ok[i].value, &cap, &err), NTG_OK, "%s",
                     ok[i].value ? ok[i].value : "(unset)");
        cr_assert_eq(cap, ok[i].cap, "%s", ok[i].value ? ok[i].value : "(unset)");
        cr_assert_str_eq(ntg__isa_name(cap), ok[i].cap == NTG_ISA_AVX512 ? "avx512"
                                             : ok[i].cap == NTG_ISA_AVX2 ? "avx2"
                                                                         : "portable");
    }
    static const char *const bad[] = {"avx-512", "sse4.2", "avx2 ", "native"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int cap = -1;
        ntg_error err;
        cr_assert_eq(ntg__isa_cap_parse(bad[i], &cap, &err), NTG_ERR_INVALID_ARG, "%s", bad[i]);
        char want[96];
        snprintf(want, sizeof want, "NTG_CPU_ISA='%s': not an instruction-set cap", bad[i]);
        cr_assert(strstr(err.message, want), "got: %s", err.message);
        cr_assert(strstr(err.message, "expected avx512, avx2 or portable"), "got: %s", err.message);
    }
}

/* The instance reads the cap when it is made; the vector kernels and every xgemm stay under it,
 * whatever the policy bits ask for. */
Test(xnn, isa_cap_picks_the_kernels_of_an_instance)
{
    const ntg_backend_class *c = xnnpack_or_skip();
    static const char *const caps[] = {"portable", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(setenv("NTG_CPU_ISA", caps[i], 1), 0);
        ntg_backend_config cfg = {1, 4};
        ntg_backend *b = NULL;
        ntg_error err;
        cr_assert_eq(c->create(&cfg, &b, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(b->isa, NTG_ISA_PORTABLE + i, "NTG_CPU_ISA=%s", caps[i]);
        cr_assert_eq(b->vk, ntg__simd_vk_pick(b->isa));
        if (i == 0) cr_assert_str_eq(b->vk->isa, "portable");
        if (i == 1) cr_assert_str_eq(b->vk->isa, cpu_has_avx2() ? "AVX2" : "portable");
        /* the policy bits only lower the vector kernels further, never above the cap */
        ntg__xnn_set_policy(b, XNN_POL_VK_AVX2);
        cr_assert_eq(b->vk, ntg__simd_vk_pick(b->isa < NTG_ISA_AVX2 ? b->isa : NTG_ISA_AVX2),
                     "NTG_CPU_ISA=%s, XNN_POL_VK_AVX2", caps[i]);
        ntg__xnn_set_policy(b, XNN_POL_VK_PORTABLE);
        cr_assert_str_eq(b->vk->isa, "portable");
        c->destroy(b);

        /* `ntgraph backends` shows the cap in effect */
        char info[256] = "", want[64];
        cr_assert_eq(c->available(info, sizeof info), 1);
        snprintf(want, sizeof want, "NTG_CPU_ISA cap: %s", caps[i]);
        cr_assert(strstr(info, want), "NTG_CPU_ISA=%s: %s", caps[i], info);
        snprintf(want, sizeof want, "xgemm %s", ntg__isa_name(ntg__xgemm_capped_isa(i + 1)));
        cr_assert(strstr(info, want), "NTG_CPU_ISA=%s: %s", caps[i], info);
    }
    unsetenv("NTG_CPU_ISA");
    char info[256] = "";
    cr_assert_eq(c->available(info, sizeof info), 1);
    cr_assert(strstr(info, "NTG_CPU_ISA cap: none"), "%s", info);
}

/* A cap nobody understands fails the session loudly; `auto` does not quietly fall back to the
 * reference backend (the xnnpack suites would then skip and CI pass without them). */
Test(xnn, isa_cap_refuses_an_unknown_word)
{
    const ntg_backend_class *c = xnnpack_or_skip();
    cr_assert_eq(setenv("NTG_CPU_ISA", "avx-512", 1), 0);
    ntg_backend_config cfg = {1, 4};
    ntg_backend *b = NULL;
    ntg_error err;
    cr_assert_eq(c->create(&cfg, &b, &err), NTG_ERR_INVALID_ARG);
    cr_assert_str_eq(err.message, "xnnpack backend: NTG_CPU_ISA='avx-512': not an instruction-set "
                                  "cap; expected avx512, avx2 or portable");
    cr_assert_eq(ntg__backend_find("auto"), c);
    char info[256] = "";
    cr_assert_eq(c->available(info, sizeof info), 1);
    cr_assert(strstr(info, "NTG_CPU_ISA='avx-512'"), "%s", info);
}

/* A dense layer run by a session under NTG_CPU_ISA=portable is bitwise the portable GEMM's
 * result (same operands, one thread, fixed summation order): the cap reaches the op's xgemm and
 * its packing, not only the vector kernels.  With AVX2 (FMA) the bits differ. */
Test(xnn, isa_cap_reaches_the_dense_gemm)
{
    xnnpack_or_skip();
    enum { IN = 200, UNITS = 64, ROWS = 8 };
    cr_assert_eq(setenv("NTG_CPU_ISA", "portable", 1), 0);
    /* xgemm on packed weights for every dense layer (XNN_POL_FC_XGEMM), not XNNPACK's */
    char pol[16];
    snprintf(pol, sizeof pol, "%u", (unsigned)XNN_POL_FC_XGEMM);
    cr_assert_eq(setenv("NTG_XNN_POLICY", pol, 1), 0);
    char g[512];
    snprintf(g, sizeof g,
             "ntgraph: 1\nname: d\ninputs:\n  x: [batch, %d]\noutputs:\n  y: ~\nnodes:\n"
             "  - {op: dense, name: fc, in: x, out: y, units: %d, activation: relu}\n",
             IN, UNITS);
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.max_batch = ROWS;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(g, strlen(g), "d.yaml", &co, &p, &err), NTG_OK, "%s",
                 err.message);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "xnnpack";
    so.threads = 1;
    ntg_session *s = NULL;
    cr_assert_eq(ntg_session_create(p, &so, &s, &err), NTG_OK, "%s", err.message);
    static float x[ROWS * IN], y[ROWS * UNITS], want[ROWS * UNITS];
    tu_rng r = {99};
    tu_fill(&r, x, ROWS * IN, -1, 1);
    cr_assert_eq(ntg_session_set_input(s, "x", x, ROWS * IN, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, ROWS, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, ROWS * UNITS, &err), NTG_OK, "%s", err.message);

    ntg_xgemm_args a;
    memset(&a, 0, sizeof a);
    a.trans_b = 1;
    a.m = ROWS, a.n = UNITS, a.k = IN;
    a.a = x, a.lda = IN;
    a.b = ntg_plan_param_data(p, 0), a.ldb = IN;
    a.bias = ntg_plan_param_data(p, 1);
    a.relu = 1;
    a.c = want, a.ldc = UNITS;
    size_t sb = ntg__xgemm_scratch_bytes(&a, 1);
    void *scratch = sb ? malloc(sb) : NULL;
    ntg__xgemm_isa(NULL, 1, &a, scratch, NTG_XGEMM_ISA_SCALAR);
    free(scratch);
    size_t diff = 0;
    for (int i = 0; i < ROWS * UNITS; i++) diff += memcmp(&y[i], &want[i], sizeof y[i]) != 0;
    cr_assert_eq(diff, 0, "%zu of %d outputs differ from the portable GEMM's bits", diff,
                 ROWS * UNITS);
    ntg_session_destroy(s);
    ntg_plan_destroy(p);
}

/* Whether table isas[s] is one this CPU gives that the tables before it in isas did not: a level
 * above the CPU's falls back to a narrower table, which is logged as not run here rather than
 * tested twice. */
static int vk_is_new(const int *isas, size_t s)
{
    const ntg_simd_vk *vk = ntg__simd_vk_pick(isas[s]);
    for (size_t i = 0; i < s; i++)
        if (ntg__simd_vk_pick(isas[i]) == vk) {
            cr_log_info("vector-kernel level %d: not on this CPU: not run", isas[s]);
            return 0;
        }
    return 1;
}

/*
 * The small-B GEMM of every vector-kernel table this CPU runs: against a double-precision
 * product; with A handed over transposed (ta) bitwise the same as with A plain (the same FMAs
 * in the same order); shapes that take the tall tiles of a one- or two-vector-wide C (n 16,
 * 9) with row remainders (m 29), and the wide tiles (n 96).
 */
Test(xnn, gemm_small_transposed_a_and_narrow_tiles)
{
    static const int isas[] = {NTG_ISA_PORTABLE, NTG_ISA_AVX2, NTG_ISA_AVX512};
    static const int64_t shapes[][3] = {{29, 16, 96}, {96, 16, 96}, {29, 9, 40}, {33, 96, 16}};
    for (size_t s = 0; s < sizeof isas / sizeof isas[0]; s++) {
        const ntg_simd_vk *vk = ntg__simd_vk_pick(isas[s]);
        if (!vk_is_new(isas, s)) continue;
        for (size_t q = 0; q < sizeof shapes / sizeof shapes[0]; q++) {
            int64_t m = shapes[q][0], n = shapes[q][1], k = shapes[q][2];
            float *a = malloc((size_t)(m * k) * sizeof *a), *at = malloc((size_t)(m * k) * 4);
            float *b = malloc((size_t)(k * n) * 4), *c = malloc((size_t)(m * n) * 4);
            float *ct = malloc((size_t)(m * n) * 4), *buf = malloc((size_t)k * 128 * 4);
            cr_assert(a && at && b && c && ct && buf);
            tu_rng r = {(uint64_t)(q + 3)};
            tu_fill(&r, a, (size_t)(m * k), -1, 1);
            tu_fill(&r, b, (size_t)(k * n), -1, 1);
            for (int64_t i = 0; i < m; i++)
                for (int64_t p = 0; p < k; p++) at[p * m + i] = a[i * k + p];
            vk->gemm_small(0, 0, m, n, k, a, k, b, n, c, n, buf);
            vk->gemm_small(1, 0, m, n, k, at, m, b, n, ct, n, buf);
            cr_assert_eq(memcmp(c, ct, (size_t)(m * n) * sizeof *c), 0,
                         "%s %lldx%lldx%lld: A^T differs from A", vk->isa, (long long)m,
                         (long long)n, (long long)k);
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double want = 0;
                    for (int64_t p = 0; p < k; p++) want += (double)a[i * k + p] * b[p * n + j];
                    cr_assert_float_eq(c[i * n + j], want, 1e-4, "%s %lldx%lldx%lld (%lld, %lld)",
                                       vk->isa, (long long)m, (long long)n, (long long)k,
                                       (long long)i, (long long)j);
                }
            free(a), free(at), free(b), free(c), free(ct), free(buf);
        }
    }
}

/* The column sums of every table, from zero and added to given values: bitwise the scalar double
 * loop in row order (the reference's bias-gradient order), for widths with and without whole
 * strips. */
Test(xnn, colsum_is_the_scalar_row_order_sum)
{
    static const int isas[] = {NTG_ISA_PORTABLE, NTG_ISA_AVX2, NTG_ISA_AVX512};
    enum { ROWS = 37, LD = 80 };
    float z[ROWS * LD];
    tu_rng r = {5};
    tu_fill(&r, z, ROWS * LD, -3, 3);
    for (size_t s = 0; s < sizeof isas / sizeof isas[0]; s++) {
        const ntg_simd_vk *vk = ntg__simd_vk_pick(isas[s]);
        if (!vk_is_new(isas, s)) continue;
        for (size_t n = 1; n < LD; n += 7) {
            double got[LD];
            vk->colsum(z + 1, ROWS, LD, n, got);
            /* colsum_acc adds to what is there (the LSTM's bias sums, one row per call) */
            double acc[LD];
            for (size_t j = 0; j < n; j++) acc[j] = 0.25 * (double)j - 1.0;
            vk->colsum_acc(z + 1, 3, LD, n, acc);
            for (size_t i = 3; i < ROWS; i++) vk->colsum_acc(z + 1 + i * LD, 1, LD, n, acc);
            for (size_t j = 0; j < n; j++) {
                double want = 0.0, want_acc = 0.25 * (double)j - 1.0;
                for (size_t i = 0; i < ROWS; i++) want += (double)z[i * LD + 1 + j];
                for (size_t i = 0; i < ROWS; i++) want_acc += (double)z[i * LD + 1 + j];
                cr_assert_eq(memcmp(&got[j], &want, sizeof want), 0, "%s n %zu column %zu", vk->isa,
                             n, j);
                cr_assert_eq(memcmp(&acc[j], &want_acc, sizeof want_acc), 0,
                             "colsum_acc %s n %zu column %zu", vk->isa, n, j);
            }
        }
    }
}

/* GELU's gradient (dx = dy gelu'(x)) within 4e-7 in absolute terms of the exact one, on every
 * instruction set, over [-10, 10] and through the padded tail. */
Test(xnn, gelu_gradient_is_accurate)
{
    static const int isas[] = {NTG_ISA_PORTABLE, NTG_ISA_AVX2, NTG_ISA_AVX512};
    enum { N = 4003 };
    static float x[N], dy[N], dx[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(-10.0 + 20.0 * i / (N - 1));
        dy[i] = i % 3 ? 1.0f : -0.5f;
    }
    for (size_t s = 0; s < sizeof isas / sizeof isas[0]; s++) {
        const ntg_simd_vk *vk = ntg__simd_vk_pick(isas[s]);
        if (!vk_is_new(isas, s)) continue;
        vk->gelu_bwd(x, dy, dx, N);
        for (int i = 0; i < N; i++) {
            double v = x[i];
            double g = 0.5 * (1.0 + erf(v / sqrt(2.0))) +
                       v * exp(-0.5 * v * v) / sqrt(2.0 * 3.14159265358979323846);
            double e = fabs((double)dx[i] - (double)dy[i] * g);
            cr_assert_leq(e, 4e-7, "%s x %.6g: %.9g, exact %.9g", vk->isa, v, dx[i], dy[i] * g);
        }
    }
}
