/* gemm_bench.c — our GEMM against OpenBLAS and XNNPACK on the models' shapes, and the FMA peak. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cblas.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include "simd/xgemm.h"

/*
 * For each shape and 1 and 2 threads, GFLOP/s (2 m n k per call, median of `samples` batches of
 * calls, each batch >= ~5 ms, operands warm in cache as in a training loop) of:
 *   xgemm packed  ntg__xgemm with B packed once (fixed weights: inference)
 *   xgemm raw     ntg__xgemm packing B inside every call (weights that change every step)
 *   OpenBLAS      cblas_sgemm, openblas_set_num_threads(threads)
 *   XNN FC        XNNPACK fully_connected_nc_f32 created and set up once, run many times
 *   XNN repack    XNNPACK create + setup + run + delete every call (training with XNNPACK)
 * XNNPACK cannot read a transposed A: for trans_a shapes its columns include copying A^T into
 * a row-major buffer first.
 *
 * Usage: gemm_bench [samples [best]] (default 11 samples, median), on a quiet machine; with
 * `best`, the fastest batch instead of the median: on a machine shared with other work the
 * best batch is the one least disturbed, for every implementation alike.  The first line names the
 * OpenBLAS build and the kernels it picked: Debian's DYNAMIC_ARCH build chooses from CPUID
 * (Cooperlake, i.e. AVX-512, on a Zen 4); OPENBLAS_CORETYPE in the environment overrides it
 * (the peers' OpenMP build needs SkylakeX there, or it falls back to SSE3 kernels).  An
 * AVX-512 core type on a CPU without avx512f would die with SIGILL in the first call: refused
 * up front.  NTG_CPU_ISA caps xgemm's instruction set and the FMA peaks measured, as it caps
 * the library's kernels (docs/cpu-backend.md).
 */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* ------------------------------------------------------------- FMA peak */

#if defined(__x86_64__)
#include <immintrin.h>

/* Twelve independent FMA chains (latency 4, one or two issued per cycle) in registers only. */
__attribute__((target("avx512f"), noinline)) static float fma_zmm(long iters, float x0)
{
    __m512 x = _mm512_set1_ps(x0), y = _mm512_set1_ps(1e-3f);
    /* Distinct starting values: the compiler merges chains that compute the same thing. */
    __m512 a0 = _mm512_set1_ps(x0 + 0.01f), a1 = _mm512_set1_ps(x0 + 0.02f),
           a2 = _mm512_set1_ps(x0 + 0.03f);
    __m512 a3 = _mm512_set1_ps(x0 + 0.04f), a4 = _mm512_set1_ps(x0 + 0.05f),
           a5 = _mm512_set1_ps(x0 + 0.06f);
    __m512 a6 = _mm512_set1_ps(x0 + 0.07f), a7 = _mm512_set1_ps(x0 + 0.08f),
           a8 = _mm512_set1_ps(x0 + 0.09f);
    __m512 a9 = _mm512_set1_ps(x0 + 0.10f), a10 = _mm512_set1_ps(x0 + 0.11f),
           a11 = _mm512_set1_ps(x0 + 0.12f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm512_fmadd_ps(a0, x, y), a1 = _mm512_fmadd_ps(a1, x, y);
        a2 = _mm512_fmadd_ps(a2, x, y), a3 = _mm512_fmadd_ps(a3, x, y);
        a4 = _mm512_fmadd_ps(a4, x, y), a5 = _mm512_fmadd_ps(a5, x, y);
        a6 = _mm512_fmadd_ps(a6, x, y), a7 = _mm512_fmadd_ps(a7, x, y);
        a8 = _mm512_fmadd_ps(a8, x, y), a9 = _mm512_fmadd_ps(a9, x, y);
        a10 = _mm512_fmadd_ps(a10, x, y), a11 = _mm512_fmadd_ps(a11, x, y);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"), noinline)) static float fma_ymm(long iters, float x0)
{
    __m256 x = _mm256_set1_ps(x0), y = _mm256_set1_ps(1e-3f);
    /* Distinct starting values: the compiler merges chains that compute the same thing. */
    __m256 a0 = _mm256_set1_ps(x0 + 0.01f), a1 = _mm256_set1_ps(x0 + 0.02f),
           a2 = _mm256_set1_ps(x0 + 0.03f);
    __m256 a3 = _mm256_set1_ps(x0 + 0.04f), a4 = _mm256_set1_ps(x0 + 0.05f),
           a5 = _mm256_set1_ps(x0 + 0.06f);
    __m256 a6 = _mm256_set1_ps(x0 + 0.07f), a7 = _mm256_set1_ps(x0 + 0.08f),
           a8 = _mm256_set1_ps(x0 + 0.09f);
    __m256 a9 = _mm256_set1_ps(x0 + 0.10f), a10 = _mm256_set1_ps(x0 + 0.11f),
           a11 = _mm256_set1_ps(x0 + 0.12f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, x, y), a1 = _mm256_fmadd_ps(a1, x, y);
        a2 = _mm256_fmadd_ps(a2, x, y), a3 = _mm256_fmadd_ps(a3, x, y);
        a4 = _mm256_fmadd_ps(a4, x, y), a5 = _mm256_fmadd_ps(a5, x, y);
        a6 = _mm256_fmadd_ps(a6, x, y), a7 = _mm256_fmadd_ps(a7, x, y);
        a8 = _mm256_fmadd_ps(a8, x, y), a9 = _mm256_fmadd_ps(a9, x, y);
        a10 = _mm256_fmadd_ps(a10, x, y), a11 = _mm256_fmadd_ps(a11, x, y);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

typedef struct peak_job {
    int zmm;
    long iters;
    double gflops[8];
    float sink[8];
} peak_job;

static void peak_task(void *ctx, size_t i)
{
    peak_job *j = ctx;
    double t0 = now();
    j->sink[i] = j->zmm ? fma_zmm(j->iters, 0.9999f) : fma_ymm(j->iters, 0.9999f);
    j->gflops[i] = (double)j->iters * 12.0 * (j->zmm ? 32.0 : 16.0) / (now() - t0) * 1e-9;
}

/* Best of 40 runs (~5 ms each) of the per-thread FMA rate, `threads` threads at once: a peak
 * is a maximum, and the best short run is also the one least disturbed by other processes. */
static double fma_peak(pthreadpool_t pool, int threads, int zmm)
{
    double best = 0;
    for (int r = 0; r < 40; r++) {
        peak_job j = {.zmm = zmm, .iters = 1500000};
        if (threads > 1)
            pthreadpool_parallelize_1d(pool, peak_task, &j, (size_t)threads, 0);
        else
            peak_task(&j, 0);
        double s = 0;
        for (int t = 0; t < threads; t++) s += j.gflops[t];
        if (s / threads > best) best = s / threads;
    }
    return best;
}
#endif

/* --------------------------------------------------------------- shapes */

typedef struct shape {
    const char *name;
    int trans_a, trans_b;
    int64_t m, n, k;
    int fixed_b; /* B is a weight the backend can pack once for inference */
} shape;

static const shape shapes[] = {
    {"N-HiTS fwd x W^T (k 240)", 0, 1, 256, 512, 240, 1},
    {"N-HiTS fwd x W^T (k 120)", 0, 1, 256, 512, 120, 1},
    {"N-HiTS fwd x W^T (k 480)", 0, 1, 256, 512, 480, 1},
    {"N-HiTS fwd x W^T (k 512)", 0, 1, 256, 512, 512, 1},
    {"N-HiTS fwd theta (n 600)", 0, 1, 256, 600, 512, 1},
    {"N-HiTS fwd theta (n 528)", 0, 1, 256, 528, 512, 1},
    {"N-HiTS fwd theta (n 504)", 0, 1, 256, 504, 512, 1},
    {"N-HiTS bwd dX = dY W (n 240)", 0, 0, 256, 240, 512, 0},
    {"N-HiTS bwd dX = dY W (n 512)", 0, 0, 256, 512, 512, 0},
    {"N-HiTS bwd dW = dY^T X", 1, 0, 512, 512, 256, 0},
    {"LSTM recurrent step", 0, 1, 64, 512, 128, 1},
    {"LSTM input projection", 0, 1, 6144, 512, 128, 1},
    {"attention Q K^T (per head)", 0, 1, 96, 96, 16, 0},
    {"attention P V (per head)", 0, 0, 96, 16, 96, 0},
    {"Transformer dense", 0, 1, 6144, 192, 64, 1},
    {"head (flatten -> 24)", 0, 1, 64, 24, 6144, 1},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

enum { IMPL_PACKED, IMPL_RAW, IMPL_BLAS, IMPL_XNN, IMPL_XNN_REPACK, NIMPL };
static const char *const impl_names[NIMPL] = {"xgemm packed", "xgemm raw", "OpenBLAS", "XNN FC",
                                              "XNN repack"};

typedef struct bench_ctx {
    const shape *s;
    int threads;
    pthreadpool_t pool; /* XNNPACK's threads; NULL at 1 thread */
    ntg_tpool *tp;      /* xgemm's (the backend's own pool); NULL at 1 thread */
    float *a, *b, *c, *at, *packed;
    void *scratch;
    xnn_operator_t fc; /* created once, for IMPL_XNN */
    int isa;           /* xgemm's instruction set: the CPU's best within NTG_CPU_ISA */
} bench_ctx;

/* op(A) row-major, what XNNPACK's fully connected reads. */
static const float *xnn_input(bench_ctx *x)
{
    const shape *s = x->s;
    if (!s->trans_a) return x->a;
    for (int64_t p0 = 0; p0 < s->k; p0 += 16)
        for (int64_t i = 0; i < s->m; i++)
            for (int64_t p = p0; p < p0 + 16 && p < s->k; p++)
                x->at[i * s->k + p] = x->a[p * s->m + i];
    return x->at;
}

static int xnn_make(bench_ctx *x, xnn_operator_t *op)
{
    const shape *s = x->s;
    uint32_t flags = s->trans_b ? 0 : XNN_FLAG_TRANSPOSE_WEIGHTS;
    if (xnn_create_fully_connected_nc_f32((size_t)s->k, (size_t)s->n, (size_t)s->k, (size_t)s->n,
                                          x->b, NULL, -INFINITY, INFINITY, flags,
                                          op) != xnn_status_success)
        return -1;
    return 0;
}

/* One call of implementation `impl`; nonzero on failure. */
static int call(bench_ctx *x, int impl)
{
    const shape *s = x->s;
    int64_t lda = s->trans_a ? s->m : s->k, ldb = s->trans_b ? s->k : s->n;
    switch (impl) {
    case IMPL_PACKED:
    case IMPL_RAW: {
        ntg_xgemm_args g = {
            s->trans_a, s->trans_b, s->m, s->n, s->k,
            x->a,       lda,        x->b, ldb,  impl == IMPL_PACKED ? x->packed : NULL,
            NULL,       0,          0,    x->c, s->n,
            x->isa,     NULL};
        ntg__xgemm(x->tp, x->threads, &g, x->scratch);
        return 0;
    }
    case IMPL_BLAS:
        cblas_sgemm(CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans,
                    s->trans_b ? CblasTrans : CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f,
                    x->a, (int)lda, x->b, (int)ldb, 0.0f, x->c, (int)s->n);
        return 0;
    case IMPL_XNN:
        xnn_input(x); /* set up once (in main) to read x->at for trans_a */
        return xnn_run_operator(x->fc, x->pool) != xnn_status_success;
    case IMPL_XNN_REPACK: {
        xnn_operator_t op = NULL;
        const float *in = xnn_input(x);
        if (xnn_make(x, &op)) return -1;
        int bad = xnn_setup_fully_connected_nc_f32(op, (size_t)s->m, in, x->c, x->pool) !=
                      xnn_status_success ||
                  xnn_run_operator(op, x->pool) != xnn_status_success;
        xnn_delete_operator(op);
        return bad;
    }
    }
    return -1;
}

/* GFLOP/s of the implementations with use[i] set, median (or best) over `samples` batches of
 * calls each, each batch sized to take ~5 ms.  The batches of different implementations take
 * turns, so that a disturbance from outside hits them alike. */
static void measure(bench_ctx *x, const int *use, int samples, int best, double *gf)
{
    const shape *s = x->s;
    double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
    long calls[NIMPL] = {0};
    double *rate = malloc((size_t)(samples * NIMPL) * sizeof *rate);
    if (!rate) return;
    for (int i = 0; i < NIMPL; i++) {
        if (!use[i]) continue;
        gf[i] = NAN;
        int bad = 0;
        for (int w = 0; w < 3; w++) bad |= call(x, i);
        if (bad) continue;
        double t0 = now();
        while (now() - t0 < 0.005) {
            call(x, i);
            calls[i]++;
        }
    }
    /* A fresh order every round, so that no implementation keeps meeting the same phase of
     * another process's time slices. */
    uint64_t lcg = 0x9e3779b97f4a7c15ull;
    int order[NIMPL] = {0, 1, 2, 3, 4};
    for (int r = 0; r < samples; r++)
        for (int o = 0; o < NIMPL; o++) {
            if (o == 0)
                for (int j = NIMPL - 1; j > 0; j--) {
                    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
                    int q = (int)((lcg >> 33) % (uint64_t)(j + 1)), t = order[j];
                    order[j] = order[q];
                    order[q] = t;
                }
            int i = order[o];
            if (!calls[i]) continue;
            double t1 = now();
            for (long c = 0; c < calls[i]; c++) call(x, i);
            rate[i * samples + r] = flops * (double)calls[i] / (now() - t1) * 1e-9;
        }
    for (int i = 0; i < NIMPL; i++) {
        if (!calls[i]) continue;
        double *ri = rate + i * samples;
        qsort(ri, (size_t)samples, sizeof *ri, cmp_double);
        gf[i] = best ? ri[samples - 1] : ri[samples / 2];
    }
    free(rate);
}

/* Every implementation computes the same C as OpenBLAS (to float rounding), or the table
 * would compare unequal work. */
static int check(bench_ctx *x)
{
    size_t mn = (size_t)(x->s->m * x->s->n);
    float *ref = malloc(mn * sizeof *ref);
    if (!ref) return 1;
    int bad = call(x, IMPL_BLAS);
    memcpy(ref, x->c, mn * sizeof *ref);
    double scale = 0;
    for (size_t i = 0; i < mn; i++) scale = fmax(scale, fabs((double)ref[i]));
    for (int impl = 0; impl < NIMPL && !bad; impl++) {
        if (impl == IMPL_BLAS || (impl == IMPL_XNN && !x->fc)) continue;
        memset(x->c, 0, mn * sizeof *x->c);
        bad = call(x, impl);
        double err = 0;
        for (size_t i = 0; i < mn; i++) err = fmax(err, fabs((double)x->c[i] - (double)ref[i]));
        if (!(err <= 1e-5 * scale)) {
            fprintf(stderr, "gemm_bench: %s on %s differs from OpenBLAS by %g (of %g)\n",
                    impl_names[impl], x->s->name, err, scale);
            bad = 1;
        }
    }
    free(ref);
    return bad;
}

static float *alloc_floats(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64);
    if (!p) {
        fprintf(stderr, "gemm_bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 2001u) * 1e-3f - 1.0f;
    return p;
}

/* The 1-minute load average, to judge how quiet the machine was. */
static const char *load_average(char *buf, size_t cap)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f || !fgets(buf, (int)cap, f)) snprintf(buf, cap, "unknown ");
    if (f) fclose(f);
    char *sp = strchr(buf, ' ');
    if (sp) *sp = '\0';
    return buf;
}

/* OpenBLAS core types whose kernels use AVX-512 (0.3.21's names, any case). */
static int avx512_coretype(const char *ct)
{
    static const char *const names[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    for (size_t i = 0; ct && i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(ct, names[i]) == 0) return 1;
    return 0;
}

static const char *blas_parallel(void)
{
    switch (openblas_get_parallel()) {
    case 0:
        return "sequential";
    case 1:
        return "pthreads";
    case 2:
        return "OpenMP";
    default:
        return "unknown";
    }
}

int main(int argc, char **argv)
{
    int samples = argc > 1 ? atoi(argv[1]) : 11;
    if (samples < 1) samples = 11;
    int best = argc > 2 && strcmp(argv[2], "best") == 0;
    char la[64];
    if (xnn_initialize(NULL) != xnn_status_success) {
        fprintf(stderr, "gemm_bench: xnn_initialize failed\n");
        return 1;
    }
    int cap;
    ntg_error err;
    if (ntg__isa_cap_from_env(&cap, &err) != NTG_OK) {
        fprintf(stderr, "gemm_bench: %s\n", err.message);
        return 2;
    }
    int isa = ntg__xgemm_capped_isa(cap);
    const char *coretype = getenv("OPENBLAS_CORETYPE");
#if defined(__x86_64__)
    if (avx512_coretype(coretype) && !__builtin_cpu_supports("avx512f")) {
        fprintf(stderr,
                "gemm_bench: OPENBLAS_CORETYPE=%s selects AVX-512 kernels, but this CPU has no "
                "avx512f (OpenBLAS would die with SIGILL); unset it to let OpenBLAS detect the "
                "core\n",
                coretype);
        return 2;
    }
#endif
    pthreadpool_t pool2 = pthreadpool_create(2);
    ntg_tpool *tp2 = NULL;
    if (ntg__tpool_create(2, &tp2, NULL) != NTG_OK) return 1;
    printf("OpenBLAS: %s; core %s; threading %s; OPENBLAS_CORETYPE=%s\n", openblas_get_config(),
           openblas_get_corename(), blas_parallel(), coretype ? coretype : "(unset)");
    printf("xgemm ISA: %s (%s cap: %s); %s of %d batches per cell; load average at start %s\n",
           ntg__xgemm_isa_name(isa), NTG_CPU_ISA_ENV, ntg__isa_name(cap), best ? "best" : "median",
           samples, load_average(la, sizeof la));
#if defined(__x86_64__)
    if (cap >= NTG_ISA_AVX512 && __builtin_cpu_supports("avx512f"))
        printf("FMA peak per core, AVX-512 register-only loop: %.1f GFLOP/s (1 thread), "
               "%.1f GFLOP/s per core (2 threads)\n",
               fma_peak(pool2, 1, 1), fma_peak(pool2, 2, 1));
    if (cap >= NTG_ISA_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        printf("FMA peak per core, AVX2 register-only loop:    %.1f GFLOP/s (1 thread), "
               "%.1f GFLOP/s per core (2 threads)\n\n",
               fma_peak(pool2, 1, 0), fma_peak(pool2, 2, 0));
#endif

    printf("| shape | op(A) m x k, op(B) k x n | threads |");
    for (int i = 0; i < NIMPL; i++) printf(" %s |", impl_names[i]);
    printf("\n|---|---|---|");
    for (int i = 0; i < NIMPL; i++) printf("---|");
    printf("\n");
    for (int threads = 1; threads <= 2; threads++) {
        openblas_set_num_threads(threads);
        for (int si = 0; si < NSHAPES; si++) {
            const shape *s = &shapes[si];
            bench_ctx x = {.s = s,
                           .threads = threads,
                           .pool = threads > 1 ? pool2 : NULL,
                           .tp = threads > 1 ? tp2 : NULL,
                           .isa = isa};
            x.a = alloc_floats((size_t)(s->m * s->k));
            x.b = alloc_floats((size_t)(s->k * s->n));
            x.c = alloc_floats((size_t)(s->m * s->n));
            x.at = alloc_floats((size_t)(s->m * s->k));
            x.packed = alloc_floats(ntg__xgemm_packed_b_bytes(s->n, s->k) / sizeof(float));
            ntg__xgemm_pack_b(isa, s->trans_b, s->n, s->k, x.b, s->trans_b ? s->k : s->n, x.packed);
            ntg_xgemm_args g = {s->trans_a, s->trans_b, s->m, s->n, s->k, x.a,  0,   x.b, 0,
                                NULL,       NULL,       0,    0,    x.c,  s->n, isa, NULL};
            size_t sb = ntg__xgemm_scratch_bytes(&g, threads);
            x.scratch = sb ? alloc_floats(sb / sizeof(float) + 1) : NULL;
            if (xnn_make(&x, &x.fc) ||
                xnn_setup_fully_connected_nc_f32(x.fc, (size_t)s->m, s->trans_a ? x.at : x.a, x.c,
                                                 x.pool) != xnn_status_success) {
                xnn_delete_operator(x.fc);
                x.fc = NULL;
            }
            if (check(&x)) return 1;
            /* Ours (its own pool) and XNNPACK (a pthreadpool) take turns; OpenBLAS has its own
             * threads, which spin after a call: at 2 threads it runs alone, with pauses. */
            double gf[NIMPL] = {NAN, NAN, NAN, NAN, NAN};
            int use[NIMPL] = {1, 1, threads == 1, x.fc != NULL, 1};
            measure(&x, use, samples, best, gf);
            if (threads > 1) {
                int blas_only[NIMPL] = {0, 0, 1, 0, 0};
                pause_ms(200);
                measure(&x, blas_only, samples, best, gf);
                pause_ms(200);
            }
            printf("| %s%s | %ld x %ld, %ld x %ld%s%s | %d |", s->name,
                   s->fixed_b ? "" : " (B changes)", (long)s->m, (long)s->k, (long)s->k, (long)s->n,
                   s->trans_a ? ", A^T" : "", s->trans_b ? ", B^T" : "", threads);
            for (int i = 0; i < NIMPL; i++) printf(" %.1f |", gf[i]);
            printf("\n");
            fflush(stdout);
            xnn_delete_operator(x.fc);
            free(x.a);
            free(x.b);
            free(x.c);
            free(x.at);
            free(x.packed);
            free(x.scratch);
        }
    }
    pthreadpool_destroy(pool2);
    ntg__tpool_destroy(tp2);
    return 0;
}
