/* test_xnn_gemm.c — the xnnpack backend's GEMM against a double reference and ntg__cpu_gemm. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "ref/ref_kernels.h"
#include "testutil.h"
#include "simd/xgemm.h"

/*
 * Oracle: every element summed in double.  Tolerance: the golden README's 1e-5
 * max-abs-relative for values (a float32 sum of k <= 1100 products of U(-1, 1) values is
 * good to a few 1e-6 of the largest element).  Sizes cross every blocking edge: the 12-row
 * tile (6 for AVX2, 4 portable), the 32-column panel and its 16- and 24-column tiles, the
 * 512-deep k block (k = 600 and 1100 take two and three blocks).  C sits inside a NaN guard
 * band (columns past n up to ldc, rows before and after) that must come back bit for bit.
 */
#define TOL 1e-5
#define GUARD_ROWS 2

/* The widest ISA these tests run: the CPU's best within the cap NTG_CPU_ISA sets (CI runs the
 * suite capped too, so that an AVX-512 machine also proves the AVX2 and portable paths). */
static int isa_limit(void)
{
    int cap;
    ntg_error err;
    cr_assert_eq(ntg__isa_cap_from_env(&cap, &err), NTG_OK, "%s", err.message);
    return ntg__xgemm_capped_isa(cap);
}

typedef struct gcase {
    int trans_a, trans_b, packed, bias, relu, accumulate;
    int64_t m, n, k;
    int64_t lda; /* 0: a little past the extent */
} gcase;

/* A guard value no computation produces: a NaN with a payload. */
static float guard_nan(void)
{
    uint32_t bits = 0x7fc0beefu;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int is_guard(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits == 0x7fc0beefu;
}

/* The operands of one case, with leading dimensions past the extents. */
typedef struct gdata {
    gcase c;
    int64_t lda, ldb, ldc;
    float *a, *b, *bias, *packed;
    float *cbuf, *c0; /* C with guard rows around it; the C the call started from */
    float *cmat;      /* cbuf + GUARD_ROWS * ldc */
    size_t cbuf_n;
} gdata;

static void gdata_init(gdata *d, const gcase *c, uint64_t seed)
{
    tu_rng r = {seed};
    d->c = *c;
    d->lda = (c->trans_a ? c->m : c->k) + (int64_t)(tu_next(&r) % 5);
    if (c->lda) d->lda = c->lda;
    d->ldb = (c->trans_b ? c->k : c->n) + (int64_t)(tu_next(&r) % 5);
    d->ldc = c->n + 1 + (int64_t)(tu_next(&r) % 4);
    size_t na = (size_t)((c->trans_a ? c->k : c->m) * d->lda);
    size_t nb = (size_t)((c->trans_b ? c->n : c->k) * d->ldb);
    d->a = malloc((na + 1) * sizeof(float));
    d->b = malloc((nb + 1) * sizeof(float));
    d->bias = malloc((size_t)(c->n + 1) * sizeof(float));
    cr_assert(d->a && d->b && d->bias);
    tu_fill(&r, d->a, na, -1, 1);
    tu_fill(&r, d->b, nb, -1, 1);
    tu_fill(&r, d->bias, (size_t)c->n, -1, 1);
    d->packed = NULL;
    if (c->packed) {
        size_t bytes = ntg__xgemm_packed_b_bytes(c->n, c->k);
        d->packed = malloc(bytes + sizeof(float));
        cr_assert(d->packed);
        ntg__xgemm_pack_b(isa_limit(), c->trans_b, c->n, c->k, d->b, d->ldb, d->packed);
    }
    d->cbuf_n = (size_t)((c->m + 2 * GUARD_ROWS) * d->ldc);
    d->cbuf = malloc(d->cbuf_n * sizeof(float));
    d->c0 = malloc(d->cbuf_n * sizeof(float));
    cr_assert(d->cbuf && d->c0);
    for (size_t i = 0; i < d->cbuf_n; i++) d->cbuf[i] = guard_nan();
    d->cmat = d->cbuf + GUARD_ROWS * d->ldc;
    for (int64_t i = 0; i < c->m; i++)
        for (int64_t j = 0; j < c->n; j++)
            /* Without accumulate C must not be read: leave the NaN there. */
            if (c->accumulate) d->cmat[i * d->ldc + j] = (float)tu_uniform(&r, -1, 1);
    memcpy(d->c0, d->cbuf, d->cbuf_n * sizeof(float));
}

static void gdata_free(gdata *d)
{
    free(d->a);
    free(d->b);
    free(d->bias);
    free(d->packed);
    free(d->cbuf);
    free(d->c0);
}

static ntg_xgemm_args gdata_args(gdata *d)
{
    ntg_xgemm_args g = {0};
    g.trans_a = d->c.trans_a;
    g.trans_b = d->c.trans_b;
    g.m = d->c.m;
    g.n = d->c.n;
    g.k = d->c.k;
    g.a = d->a;
    g.lda = d->lda;
    g.b = d->b;
    g.ldb = d->ldb;
    g.packed_b = d->packed;
    g.bias = d->c.bias ? d->bias : NULL;
    g.relu = d->c.relu;
    g.accumulate = d->c.accumulate;
    g.c = d->cmat;
    g.ldc = d->ldc;
    return g;
}

/* Restore C to its starting state (guards and, for accumulate, the old values). */
static void gdata_reset(gdata *d)
{
    memcpy(d->cbuf, d->c0, d->cbuf_n * sizeof(float));
}

/* Run with exactly the scratch the call asks for (ASan catches a byte more), at an address
 * 4 bytes past malloc's alignment: the call aligns what it needs itself. */
static void run(ntg_tpool *pool, int threads, int isa, gdata *d)
{
    ntg_xgemm_args g = gdata_args(d);
    size_t bytes = ntg__xgemm_scratch_bytes(&g, threads);
    char *mem = bytes ? malloc(bytes + 4) : NULL;
    cr_assert(!bytes || mem);
    ntg__xgemm_isa(pool, threads, &g, mem ? mem + 4 : NULL, isa);
    free(mem);
}

static double check_double(const gdata *d, const char *what)
{
    const gcase *c = &d->c;
    size_t mn = (size_t)(c->m * c->n);
    double *ref = malloc((mn + 1) * sizeof *ref);
    float *got = malloc((mn + 1) * sizeof *got);
    cr_assert(ref && got);
    for (int64_t i = 0; i < c->m; i++)
        for (int64_t j = 0; j < c->n; j++) {
            double s = c->accumulate ? (double)d->c0[(GUARD_ROWS + i) * d->ldc + j] : 0.0;
            for (int64_t p = 0; p < c->k; p++) {
                double x = c->trans_a ? d->a[p * d->lda + i] : d->a[i * d->lda + p];
                double y = c->trans_b ? d->b[j * d->ldb + p] : d->b[p * d->ldb + j];
                s += x * y;
            }
            if (c->bias) s += d->bias[j];
            if (c->relu && s < 0) s = 0;
            ref[i * c->n + j] = s;
            got[i * c->n + j] = d->cmat[i * d->ldc + j];
        }
    double err = tu_max_abs_rel_d(got, ref, mn);
    cr_expect(err <= TOL,
              "%s: ta %d tb %d packed %d bias %d relu %d acc %d m %ld n %ld k %ld: err %g", what,
              c->trans_a, c->trans_b, c->packed, c->bias, c->relu, c->accumulate, (long)c->m,
              (long)c->n, (long)c->k, err);
    /* The guard band: rows around C and the columns between n and ldc. */
    size_t bad = 0;
    for (size_t x = 0; x < d->cbuf_n; x++) {
        int64_t row = (int64_t)(x / (size_t)d->ldc) - GUARD_ROWS,
                col = (int64_t)(x % (size_t)d->ldc);
        int inside = row >= 0 && row < c->m && col < c->n;
        if (!inside && !is_guard(d->cbuf[x])) bad++;
    }
    cr_expect(bad == 0, "%s: %zu writes outside C (m %ld n %ld k %ld ldc %ld)", what, bad,
              (long)c->m, (long)c->n, (long)c->k, (long)d->ldc);
    free(ref);
    free(got);
    return err;
}

/* Skip (reported as skipped, exit 0) a path this CPU lacks or the cap excludes. */
static void need_isa(int isa)
{
    if (isa > ntg__xgemm_best_isa())
        cr_skip_test("this CPU lacks %s: its path is not tested here", ntg__xgemm_isa_name(isa));
    if (isa > isa_limit())
        cr_skip_test("NTG_CPU_ISA=%s excludes %s: its path is not tested in this run",
                     getenv("NTG_CPU_ISA"), ntg__xgemm_isa_name(isa));
}

static const int64_t sizes[] = {1, 3, 7, 13, 24, 31, 97, 257};
static const int64_t depths[] = {1, 3, 7, 13, 31, 97, 257, 600, 1100};
#define NSIZES (int)(sizeof sizes / sizeof sizes[0])
#define NDEPTHS (int)(sizeof depths / sizeof depths[0])

/* Every ISA the CPU has, every transpose, packed and raw B, every size pair; k and the
 * epilogue flags rotate so that each combination meets many shapes. */
static void sweep(int isa, ntg_tpool *pool, int threads)
{
    /* Criterion counts a warning as a failure (exit 1): a path this CPU cannot run is a skip */
    need_isa(isa);
    unsigned rot = 0;
    double worst = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int packed = 0; packed < 2; packed++)
                for (int mi = 0; mi < NSIZES; mi++)
                    for (int ni = 0; ni < NSIZES; ni++, rot++) {
                        gcase c = {ta,
                                   tb,
                                   packed,
                                   (int)(rot & 1),
                                   (int)(rot >> 1 & 1),
                                   (int)(rot >> 2 & 1),
                                   sizes[mi],
                                   sizes[ni],
                                   depths[(rot * 5u + (unsigned)mi) % NDEPTHS],
                                   0};
                        gdata d;
                        gdata_init(&d, &c, 1000u + rot);
                        run(pool, threads, isa, &d);
                        double e = check_double(&d, ntg__xgemm_isa_name(isa));
                        if (e > worst) worst = e;
                        gdata_free(&d);
                    }
    cr_log_info("%s, %d thread(s): worst max-abs-rel %.3g", ntg__xgemm_isa_name(isa), threads,
                worst);
}

Test(xnn, gemm_avx512_matches_double_reference)
{
    sweep(NTG_XGEMM_ISA_AVX512, NULL, 1);
}

Test(xnn, gemm_avx2_matches_double_reference)
{
    sweep(NTG_XGEMM_ISA_AVX2, NULL, 1);
}

Test(xnn, gemm_portable_matches_double_reference)
{
    sweep(NTG_XGEMM_ISA_SCALAR, NULL, 1);
}

Test(xnn, gemm_two_threads_match_double_reference)
{
    ntg_tpool *pool;
    cr_assert(ntg__tpool_create(2, &pool, NULL) == NTG_OK);
    sweep(isa_limit(), pool, 2);
    ntg__tpool_destroy(pool);
}

/* Same answers as the reference backend's GEMM (alpha 1, beta 0 or 1, then bias and relu). */
Test(xnn, gemm_matches_cpu_gemm)
{
    static const int64_t shapes[][3] = {{256, 512, 240}, {97, 31, 257}, {13, 600, 7}, {1, 97, 300}};
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 8; t++) {
            gcase c = {t & 1,        t >> 1 & 1,   t >> 2 & 1,   1, 1, t & 1,
                       shapes[s][0], shapes[s][1], shapes[s][2], 0};
            gdata d;
            gdata_init(&d, &c, 77u + (unsigned)(s * 8 + t));
            run(NULL, 1, isa_limit(), &d);
            size_t mn = (size_t)(c.m * c.n);
            float *ref = malloc(mn * sizeof *ref), *got = malloc(mn * sizeof *got);
            cr_assert(ref && got);
            for (int64_t i = 0; i < c.m; i++)
                for (int64_t j = 0; j < c.n; j++)
                    ref[i * c.n + j] = c.accumulate ? d.c0[(GUARD_ROWS + i) * d.ldc + j] : 0.0f;
            ntg__cpu_gemm(c.trans_a, c.trans_b, c.m, c.n, c.k, 1.0f, d.a, d.lda, d.b, d.ldb,
                          c.accumulate ? 1.0f : 0.0f, ref, c.n);
            for (int64_t i = 0; i < c.m; i++)
                for (int64_t j = 0; j < c.n; j++) {
                    float v = ref[i * c.n + j] + d.bias[j];
                    ref[i * c.n + j] = v > 0.0f ? v : 0.0f;
                    got[i * c.n + j] = d.cmat[i * d.ldc + j];
                }
            double e = tu_max_abs_rel(got, ref, mn);
            cr_expect(e <= TOL, "shape %d case %d: err %g against ntg__cpu_gemm", s, t, e);
            free(ref);
            free(got);
            gdata_free(&d);
        }
}

/* Bit-identical results run after run, and across thread counts (k is never split). */
Test(xnn, gemm_threads_are_deterministic)
{
    ntg_tpool *pool;
    cr_assert(ntg__tpool_create(2, &pool, NULL) == NTG_OK);
    static const int64_t shapes[][3] = {
        {256, 512, 512}, {512, 512, 256}, {64, 24, 700}, {257, 97, 300}, {6, 1000, 40}};
    for (int s = 0; s < 5; s++)
        for (int t = 0; t < 4; t++) {
            gcase c = {t & 1,        t >> 1 & 1,   s & 1,        1, 0, 1,
                       shapes[s][0], shapes[s][1], shapes[s][2], 0};
            gdata d;
            gdata_init(&d, &c, 5u + (unsigned)t);
            size_t bytes = d.cbuf_n * sizeof(float);
            float *first = malloc(bytes);
            cr_assert(first);
            run(pool, 2, isa_limit(), &d);
            memcpy(first, d.cbuf, bytes);
            for (int rep = 0; rep < 3; rep++) {
                gdata_reset(&d);
                run(pool, rep == 1 ? 1 : 2, isa_limit(), &d);
                cr_expect(memcmp(first, d.cbuf, bytes) == 0,
                          "shape %d case %d rep %d: results differ between runs", s, t, rep);
            }
            check_double(&d, "threads");
            free(first);
            gdata_free(&d);
        }
    ntg__tpool_destroy(pool);
}

/* Row strides that are multiples of 2 KiB (the rows of a tile share L1 sets) and beyond k. */
Test(xnn, gemm_aliasing_strides)
{
    static const int64_t shapes[][4] = {
        {13, 97, 300, 512}, {64, 24, 700, 1024}, {256, 40, 240, 512}, {5, 33, 20, 2048}};
    for (int isa = NTG_XGEMM_ISA_SCALAR; isa <= isa_limit(); isa++)
        for (int s = 0; s < 4; s++)
            for (int packed = 0; packed < 2; packed++) {
                gcase c = {
                    0,           1, packed, 1, 1, packed, shapes[s][0], shapes[s][1], shapes[s][2],
                    shapes[s][3]};
                gdata d;
                gdata_init(&d, &c, 11u + (unsigned)s);
                run(NULL, 1, isa, &d);
                check_double(&d, ntg__xgemm_isa_name(isa));
                gdata_free(&d);
            }
}

/* A raw B is packed one panel at a time when A's rows are few enough (xgemm.c,
 * PANELWISE_A_FLOATS) and all panels first otherwise; either way every element of C is summed
 * in the packed-B order, so raw and packed B give the same bits, on every ISA and thread
 * count, across the threshold (the last shapes) and with k blocks (k > 512). */
Test(xnn, gemm_raw_b_bitwise_packed_b)
{
    ntg_tpool *pool;
    cr_assert(ntg__tpool_create(2, &pool, NULL) == NTG_OK);
    static const int64_t shapes[][3] = {{128, 512, 512}, {256, 504, 512}, {7, 97, 300},
                                        {60, 70, 1100},  {600, 97, 130},  {1100, 64, 200}};
    for (int isa = NTG_XGEMM_ISA_SCALAR; isa <= isa_limit(); isa++)
        for (int s = 0; s < 6; s++)
            for (int t = 0; t < 4; t++) {
                int tb = t & 1, threads = 1 + (t >> 1);
                gdata d[2];
                for (int packed = 0; packed < 2; packed++) {
                    gcase c = {0, tb, packed, 1, 1, s & 1, shapes[s][0], shapes[s][1], shapes[s][2],
                               0};
                    gdata_init(&d[packed], &c, 21u + (unsigned)s);
                    run(pool, threads, isa, &d[packed]);
                }
                cr_expect(memcmp(d[0].cbuf, d[1].cbuf, d[0].cbuf_n * sizeof(float)) == 0,
                          "%s, shape %d, trans_b %d, %d thread(s): raw B differs from packed B",
                          ntg__xgemm_isa_name(isa), s, tb, threads);
                check_double(&d[0], ntg__xgemm_isa_name(isa));
                gdata_free(&d[0]);
                gdata_free(&d[1]);
            }
    ntg__tpool_destroy(pool);
}

/* m or n zero writes nothing; k zero leaves relu((C) + bias). */
Test(xnn, gemm_empty_extents)
{
    for (int acc = 0; acc < 2; acc++) {
        gcase c = {0, 1, 0, 1, 1, acc, 5, 9, 0, 0};
        gdata d;
        gdata_init(&d, &c, 3);
        run(NULL, 1, isa_limit(), &d);
        check_double(&d, "k = 0");
        gdata_free(&d);
    }
    gcase c = {0, 0, 0, 1, 1, 0, 0, 9, 4, 0};
    gdata d;
    gdata_init(&d, &c, 4);
    run(NULL, 1, isa_limit(), &d);
    for (size_t i = 0; i < d.cbuf_n; i++) cr_expect(is_guard(d.cbuf[i]), "m = 0 wrote C");
    gdata_free(&d);
}

Test(xnn, gemm_thread_heuristic)
{
    cr_expect_eq(ntg__xgemm_threads(96, 96, 16, 2), 1, "attention head product is tiny");
    cr_expect_eq(ntg__xgemm_threads(256, 512, 512, 2), 2);
    cr_expect_eq(ntg__xgemm_threads(256, 512, 512, 1), 1);
    cr_expect_eq(ntg__xgemm_threads(0, 512, 512, 2), 1);
    /* batch 1: a GEMV streaming 1 MB of weights is split by columns; one panel cannot be */
    cr_expect_eq(ntg__xgemm_threads(1, 512, 512, 2), 2, "batch-1 dense 512 x 512");
    cr_expect_eq(ntg__xgemm_threads(1, 24, 4096, 2), 1, "one panel of columns");
    cr_expect_eq(ntg__xgemm_threads(1, 64, 16, 2), 1, "a tiny GEMV");
}

/* The plain transpose (the flipped dW of a dense or LSTM backward): exact, every ISA up to the
 * cap, ragged sizes and strides, and nothing written outside dst's [cols][ldd] rows. */
Test(xnn, transpose_exact_every_isa)
{
    static const int64_t dims[] = {1, 3, 7, 8, 9, 16, 31, 240, 513};
    const int isas[] = {NTG_XGEMM_ISA_SCALAR, NTG_XGEMM_ISA_AVX2, NTG_XGEMM_ISA_AVX512};
    int ran = 0;
    for (int q = 0; q < 3; q++) {
        if (isas[q] > ntg__xgemm_best_isa() || isas[q] > isa_limit()) {
            cr_log_info("%s: not on this CPU (or capped): not run", ntg__xgemm_isa_name(isas[q]));
            continue;
        }
        ran++;
        for (int ri = 0; ri < 9; ri++)
            for (int ci = 0; ci < 9; ci++) {
                int64_t rows = dims[ri], cols = dims[ci], lds = cols + (ri & 1) * 5,
                        ldd = rows + (ci & 1) * 3;
                size_t ns = (size_t)(rows * lds), nd = (size_t)(cols * ldd + 16);
                float *src = malloc(ns * sizeof *src), *dst = malloc(nd * sizeof *dst);
                cr_assert(src && dst);
                for (size_t i = 0; i < ns; i++) src[i] = (float)i * 0.5f - 7.0f;
                for (size_t i = 0; i < nd; i++) dst[i] = guard_nan();
                ntg__xgemm_transpose(isas[q], src, lds, rows, cols, dst, ldd);
                for (int64_t c = 0; c < cols; c++)
                    for (int64_t r = 0; r < ldd; r++) {
                        float got = dst[c * ldd + r];
                        if (r < rows)
                            cr_assert_eq(got, src[r * lds + c], "%s %lld x %lld: [%lld][%lld]",
                                         ntg__xgemm_isa_name(isas[q]), (long long)rows,
                                         (long long)cols, (long long)c, (long long)r);
                        else
                            cr_assert(is_guard(got), "%s wrote past rows",
                                      ntg__xgemm_isa_name(isas[q]));
                    }
                for (size_t i = (size_t)(cols * ldd); i < nd; i++)
                    cr_assert(is_guard(dst[i]), "%s wrote past dst", ntg__xgemm_isa_name(isas[q]));
                free(src);
                free(dst);
            }
    }
    cr_assert(ran > 0);
}
