/* xgemm.c — our GEMM (ops/simd/): ISA dispatch, packing, k blocking and threading. */
#include <string.h>

#include "xgemm.h"

enum { NR = NTG_XGEMM_NR, MR = NTG_XGEMM_MR, KC = NTG_XGEMM_KC };

static int64_t cdiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int ntg__xgemm_best_isa(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    /* libgcc's checks include the OS saving the wider registers (XCR0), not just CPUID. */
    if (__builtin_cpu_supports("avx512f")) return NTG_XGEMM_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return NTG_XGEMM_ISA_AVX2;
#endif
    return NTG_XGEMM_ISA_SCALAR;
}

const char *ntg__xgemm_isa_name(int isa)
{
    return isa >= NTG_XGEMM_ISA_SCALAR && isa <= NTG_XGEMM_ISA_AVX512 ? ntg__isa_name(isa) : "auto";
}

/* The requested ISA if the CPU has it, else the best it has. */
static int resolve_isa(int isa)
{
    int best = ntg__xgemm_best_isa();
    if (isa <= NTG_XGEMM_ISA_AUTO || isa > best) return best;
    return isa;
}

int ntg__xgemm_capped_isa(int cap)
{
    return resolve_isa(cap);
}

/* ------------------------------------------------------------------ packing */

/* dst[c * ldd + r] = src[r * lds + c] (0 past `rows`): eight source rows at a time, so the
 * reads are eight sequential streams and each destination run is eight contiguous floats. */
static void transpose_c(const float *src, int64_t lds, int64_t rows, int64_t cols, int64_t rows_pad,
                        float *dst, int64_t ldd)
{
    for (int64_t r0 = 0; r0 < rows_pad; r0 += 8) {
        int64_t r1 = min64(r0 + 8, rows_pad);
        for (int64_t c = 0; c < cols; c++) {
            float *d = dst + c * ldd;
            for (int64_t r = r0; r < r1; r++) d[r] = r < rows ? src[r * lds + c] : 0.0f;
        }
    }
}

static void transpose(int isa, const float *src, int64_t lds, int64_t rows, int64_t cols,
                      int64_t rows_pad, float *dst, int64_t ldd)
{
    if (isa == NTG_XGEMM_ISA_AVX512)
        ntg__xgemm_transpose_avx512(src, lds, rows, cols, rows_pad, dst, ldd);
    else if (isa == NTG_XGEMM_ISA_AVX2)
        ntg__xgemm_transpose_avx2(src, lds, rows, cols, rows_pad, dst, ldd);
    else
        transpose_c(src, lds, rows, cols, rows_pad, dst, ldd);
}

void ntg__xgemm_transpose(int isa, const float *src, int64_t lds, int64_t rows, int64_t cols,
                          float *dst, int64_t ldd)
{
    if (rows > 0 && cols > 0) transpose(resolve_isa(isa), src, lds, rows, cols, rows, dst, ldd);
}

/* op(B)[p0 .. p0+kc, j0 .. j0+nr] (nr <= NR) into one [kc][NR] panel, zero padded. */
static void pack_panel(int isa, int trans_b, const float *b, int64_t ldb, int64_t p0, int64_t kc,
                       int64_t j0, int64_t nr, float *dst)
{
    if (trans_b) {
        transpose(isa, b + j0 * ldb + p0, ldb, nr, kc, NR, dst, NR);
        return;
    }
    if (isa == NTG_XGEMM_ISA_AVX512) {
        ntg__xgemm_copy_rows_avx512(b + p0 * ldb + j0, ldb, nr, kc, dst);
        return;
    }
    for (int64_t p = 0; p < kc; p++) {
        const float *src = b + (p0 + p) * ldb + j0;
        float *d = dst + p * NR;
        memcpy(d, src, (size_t)nr * sizeof *d);
        if (nr < NR) memset(d + nr, 0, (size_t)(NR - nr) * sizeof *d);
    }
}

size_t ntg__xgemm_packed_b_bytes(int64_t n, int64_t k)
{
    if (n <= 0 || k <= 0) return 0;
    return (size_t)(cdiv(n, NR) * NR * k) * sizeof(float);
}

void ntg__xgemm_pack_b(int isa, int trans_b, int64_t n, int64_t k, const float *b, int64_t ldb,
                       float *packed)
{
    isa = resolve_isa(isa);
    for (int64_t j0 = 0; j0 < n; j0 += NR)
        pack_panel(isa, trans_b, b, ldb, 0, k, j0, min64(NR, n - j0), packed + j0 * k);
}

/* ------------------------------------------------------ portable micro-kernel */

/*
 * 4 x 8 tiles for CPUs without AVX2 (and as a cross-check of the vector paths in tests).  With
 * GCC or Clang the accumulators are 4-float vector-extension values (SSE2 or NEON registers,
 * 8 of them): plain arrays measured 19 GFLOP/s at -O2 but 6 at -O3, where GCC vectorizes the
 * k loop instead, with shuffles.  Same epilogue order as the vector kernels.
 */
#if defined(__GNUC__)
typedef float v4f __attribute__((vector_size(16)));

static v4f v4_load(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* tile[i][0..8) = sum_p a_i[p] * b[p * NR + 0..8) */
static void tile_4x8(int64_t kc, const float *a0, const float *a1, const float *a2, const float *a3,
                     const float *b, float tile[4][8])
{
    v4f c0a = {0}, c0b = {0}, c1a = {0}, c1b = {0}, c2a = {0}, c2b = {0}, c3a = {0}, c3b = {0};
    for (int64_t p = 0; p < kc; p++) {
        v4f b0 = v4_load(b + p * NR), b1 = v4_load(b + p * NR + 4);
        c0a += a0[p] * b0, c0b += a0[p] * b1;
        c1a += a1[p] * b0, c1b += a1[p] * b1;
        c2a += a2[p] * b0, c2b += a2[p] * b1;
        c3a += a3[p] * b0, c3b += a3[p] * b1;
    }
    memcpy(tile[0], &c0a, 16), memcpy(tile[0] + 4, &c0b, 16);
    memcpy(tile[1], &c1a, 16), memcpy(tile[1] + 4, &c1b, 16);
    memcpy(tile[2], &c2a, 16), memcpy(tile[2] + 4, &c2b, 16);
    memcpy(tile[3], &c3a, 16), memcpy(tile[3] + 4, &c3b, 16);
}
#else
static void tile_4x8(int64_t kc, const float *a0, const float *a1, const float *a2, const float *a3,
                     const float *b, float tile[4][8])
{
    float c0[8] = {0}, c1[8] = {0}, c2[8] = {0}, c3[8] = {0};
    for (int64_t p = 0; p < kc; p++) {
        const float *bp = b + p * NR;
        for (int j = 0; j < 8; j++) {
            c0[j] += a0[p] * bp[j];
            c1[j] += a1[p] * bp[j];
            c2[j] += a2[p] * bp[j];
            c3[j] += a3[p] * bp[j];
        }
    }
    memcpy(tile[0], c0, sizeof c0);
    memcpy(tile[1], c1, sizeof c1);
    memcpy(tile[2], c2, sizeof c2);
    memcpy(tile[3], c3, sizeof c3);
}
#endif

static void blk_scalar(const ntg__xgemm_blk *k)
{
    for (int64_t i0 = 0; i0 < k->m; i0 += 4) {
        int64_t mr = min64(4, k->m - i0);
        const float *a0 = k->a + i0 * k->lda;
        const float *a1 = mr > 1 ? a0 + k->lda : a0;
        const float *a2 = mr > 2 ? a1 + k->lda : a0;
        const float *a3 = mr > 3 ? a2 + k->lda : a0;
        for (int64_t j0 = 0; j0 < k->n; j0 += 8) {
            int64_t nr = min64(8, k->n - j0);
            float tile[4][8];
            tile_4x8(k->kc, a0, a1, a2, a3, k->b + (j0 / NR) * k->b_stride + j0 % NR, tile);
            for (int64_t i = 0; i < mr; i++) {
                float *cr = k->c + (i0 + i) * k->ldc + j0;
                for (int64_t j = 0; j < nr; j++) {
                    float t = tile[i][j];
                    if (k->load_c) t = cr[j] + t;
                    if (k->bias) t = t + k->bias[j0 + j];
                    if (k->relu) t = t > 0.0f ? t : (t == t ? 0.0f : t);
                    cr[j] = t;
                }
            }
        }
    }
}

static void run_blk(int isa, const ntg__xgemm_blk *k)
{
    if (isa == NTG_XGEMM_ISA_AVX512)
        ntg__xgemm_blk_avx512(k);
    else if (isa == NTG_XGEMM_ISA_AVX2)
        ntg__xgemm_blk_avx2(k);
    else
        blk_scalar(k);
}

/* ----------------------------------------------------------------- the plan */

/*
 * Work is split into tasks = tm x tn rectangles of C (rows evenly, columns by whole panels),
 * each run start to finish by one thread with its own slice of scratch, so no barrier is
 * needed: a task packs the B panels (raw B) and A tiles (transposed A) it uses.  k is never
 * split, which keeps the summation order independent of the split.
 */
typedef struct xg_plan {
    int tm, tn;
    int64_t np;         /* panels of NR columns */
    int64_t kcb;        /* k block */
    size_t task_floats; /* scratch of one task, a multiple of 16 floats */
} xg_plan;

/* Cycles of one task's FMAs, modelling short row tiles as latency-bound (a tile of r < 4 rows
 * has too few independent accumulators to fill the pipes), plus its packing. */
static double task_cost(const ntg_xgemm_args *g, int64_t np, int tm, int tn)
{
    int64_t rows = cdiv(g->m, tm), cols = cdiv(np, tn) * NR;
    int64_t rest = rows % MR;
    double rcost = (double)(rows - rest) + (double)(rest ? (rest < 4 ? 4 : rest) : 0);
    double cost = rcost * (double)cols * (double)g->k / 16.0;
    if (!g->packed_b) cost += (double)cols * (double)g->k * (g->trans_b ? 0.5 : 0.25);
    if (g->trans_a) cost += (double)rows * (double)g->k * 0.5;
    return cost;
}

/* The product's time on one thread (ns): the larger of its FMAs and the bytes it streams (see
 * ntg__xgemm_threads). */
#define XG_FLOP_PER_NS 100.0
#define XG_BYTE_PER_NS 60.0
#define XG_MIN_NS 2500.0

static double one_thread_ns(int64_t m, int64_t n, int64_t k)
{
    double flops = 2.0 * (double)m * (double)n * (double)k;
    double bytes = 4.0 * ((double)n * (double)k + (double)m * (double)k + (double)m * (double)n);
    double ns = flops / XG_FLOP_PER_NS;
    return bytes / XG_BYTE_PER_NS > ns ? bytes / XG_BYTE_PER_NS : ns;
}

/*
 * Tasks for `threads` threads.  Tasks are claimed from the pool's counter by whichever thread
 * is running, so a thread descheduled by the OS (a busy machine) leaves the tasks it has not
 * started to the others, but the one it is in the middle of still has to wait for it: a big
 * product is cut into up to NTG_XGEMM_SUB tasks per thread, each still worth XG_SUB_MIN_NS,
 * so that what is left waiting is a fraction of a thread's share.  Any split gives the same
 * bits (k is never split).
 */
#define XG_SUB_MIN_NS 100000.0

static int task_count(const ntg_xgemm_args *g, int threads)
{
    if (threads <= 1) return 1;
    double f = one_thread_ns(g->m, g->n, g->k) / ((double)threads * XG_SUB_MIN_NS);
    int sub = f >= NTG_XGEMM_SUB ? NTG_XGEMM_SUB : f < 1.0 ? 1 : (int)f;
    return threads * sub;
}

static void make_plan(const ntg_xgemm_args *g, int threads, xg_plan *pl)
{
    pl->np = cdiv(g->n, NR);
    int64_t nb = cdiv(g->k, KC);
    pl->kcb = nb > 0 ? cdiv(g->k, nb) : 0;
    int64_t units = cdiv(g->m, 4) * pl->np;
    int t = threads < 1 ? 1 : threads;
    if (t > units) t = (int)units;
    pl->tm = t;
    pl->tn = 1;
    double best = -1.0;
    /* Prefer splitting columns on ties: tasks then share A (read-only) instead of each
     * packing the same B. */
    for (int tn = t; tn >= 1; tn--) {
        if (t % tn || tn > pl->np || t / tn > g->m) continue;
        double c = task_cost(g, pl->np, t / tn, tn);
        if (best < 0.0 || c < best * 0.999) {
            best = c;
            pl->tm = t / tn;
            pl->tn = tn;
        }
    }
    size_t fl = 0;
    if (!g->packed_b) fl += (size_t)(pl->kcb * cdiv(pl->np, pl->tn) * NR);
    if (g->trans_a) fl += (size_t)(MR * (pl->kcb + 16));
    pl->task_floats = fl ? (fl + 15) / 16 * 16 + 16 : 0; /* + alignment slack */
}

/* ----------------------------------------------------------------- running */

typedef struct xg_run {
    const ntg_xgemm_args *g;
    xg_plan pl;
    int isa;
    char *scratch;
} xg_run;

/*
 * A raw B (weights that change every step, packed inside the call) is packed and used one
 * panel at a time when the task's rows of A at one k block are at most this many floats
 * (512 KiB: a batch of 256 rows of 512): the panel just packed is still in L1/L2 for its
 * rows, instead of the whole of B being packed into scratch first (a 1 MiB pass out of L3
 * with no arithmetic in it, then read back from L2: what the lead's training profile showed
 * as ntg__xgemm_transpose / copy_rows).  Taller A (the LSTM's input
 * projection, 6144 rows) would be re-read from L3 once per panel: measured 30-40 % slower
 * that way, so it keeps packing every panel first (docs/cpu-backend.md, "Raw B").  So does
 * a B of at most PANELWISE_B_MIN_FLOATS (64 KiB) per task, which packs from and into L1/L2
 * anyway (per-head attention's 96 x 16 x 96 measured 2-4 % slower panel by panel).
 */
enum { PANELWISE_A_FLOATS = 131072, PANELWISE_B_MIN_FLOATS = 16384 };

/* Rows per block when a post-op follows (a multiple of both tiles' rows, 12 and 6): 48 rows of
 * a task's columns (at most 8 panels: 48 KB) are still in L1/L2 when it reads them back. */
enum { POST_ROWS = 48 };

static void run_task(void *ctx, size_t t)
{
    const xg_run *r = ctx;
    const ntg_xgemm_args *g = r->g;
    const xg_plan *pl = &r->pl;
    int ti = (int)t / pl->tn, tj = (int)t % pl->tn;
    int64_t r0 = g->m * ti / pl->tm, r1 = g->m * (ti + 1) / pl->tm;
    int64_t q0 = pl->np * tj / pl->tn, q1 = pl->np * (tj + 1) / pl->tn;
    int64_t j0 = q0 * NR, j1 = min64(g->n, q1 * NR);
    if (r1 <= r0 || j1 <= j0) return;

    /* 64-byte aligned slice of this task (the caller's scratch may have any alignment). */
    float *bpack = NULL, *apack = NULL;
    if (pl->task_floats) {
        uintptr_t base = (uintptr_t)r->scratch + t * pl->task_floats * sizeof(float);
        bpack = (float *)((base + 63) & ~(uintptr_t)63);
        apack = bpack + (g->packed_b ? 0 : pl->kcb * (q1 - q0) * NR);
    }

    for (int64_t pc = 0; pc < g->k; pc += pl->kcb) {
        int64_t kc = min64(pl->kcb, g->k - pc);
        int last = pc + kc == g->k;
        ntg__xgemm_blk k = {0};
        k.n = j1 - j0;
        k.kc = kc;
        k.ldc = g->ldc;
        k.bias = last && g->bias ? g->bias + j0 : NULL;
        k.load_c = g->accumulate || pc > 0;
        k.relu = last && g->relu;
        if (!g->packed_b && !g->trans_a && !(last && g->post) &&
            (r1 - r0) * kc <= PANELWISE_A_FLOATS && (q1 - q0) * kc * NR > PANELWISE_B_MIN_FLOATS) {
            /* A raw B under few rows (a training step's dense layers): pack one panel, run
             * every row over it while it is in L1/L2, then the next (see PANELWISE_A_FLOATS).
             * Each element of C gets the same k order as below: the bits do not change. */
            k.m = r1 - r0;
            k.a = g->a + r0 * g->lda + pc;
            k.lda = g->lda;
            k.b_stride = kc * NR;
            for (int64_t q = q0; q < q1; q++) {
                int64_t jq = q * NR;
                k.n = min64(NR, g->n - jq);
                pack_panel(r->isa, g->trans_b, g->b, g->ldb, pc, kc, jq, k.n, bpack);
                k.b = bpack;
                k.c = g->c + r0 * g->ldc + jq;
                k.bias = last && g->bias ? g->bias + jq : NULL;
                run_blk(r->isa, &k);
            }
            continue;
        }
        if (g->packed_b) {
            k.b = g->packed_b + q0 * g->k * NR + pc * NR;
            k.b_stride = g->k * NR;
        } else {
            for (int64_t q = q0; q < q1; q++)
                pack_panel(r->isa, g->trans_b, g->b, g->ldb, pc, kc, q * NR,
                           min64(NR, g->n - q * NR), bpack + (q - q0) * kc * NR);
            k.b = bpack;
            k.b_stride = kc * NR;
        }
        if (g->trans_a) {
            /* op(A) rows are columns of A: copy an MR-row tile at a time, reused by every
             * panel of the task. */
            /* Rows one line past kc apart: a 2 KiB stride would put them in few L1 sets. */
            int64_t ldp = kc + 16;
            for (int64_t i0 = r0; i0 < r1; i0 += MR) {
                int64_t mr = min64(MR, r1 - i0);
                transpose(r->isa, g->a + pc * g->lda + i0, g->lda, kc, mr, kc, apack, ldp);
                k.m = mr;
                k.a = apack;
                k.lda = ldp;
                k.c = g->c + i0 * g->ldc + j0;
                run_blk(r->isa, &k);
                if (last && g->post)
                    for (int64_t i = 0; i < mr; i++)
                        g->post(k.c + i * g->ldc, k.c + i * g->ldc, (size_t)(j1 - j0));
            }
        } else if (last && g->post) {
            /* the last k block a few row tiles at a time, each followed by the post-op */
            k.lda = g->lda;
            for (int64_t i0 = r0; i0 < r1; i0 += POST_ROWS) {
                k.m = min64(POST_ROWS, r1 - i0);
                k.a = g->a + i0 * g->lda + pc;
                k.c = g->c + i0 * g->ldc + j0;
                run_blk(r->isa, &k);
                for (int64_t i = 0; i < k.m; i++)
                    g->post(k.c + i * g->ldc, k.c + i * g->ldc, (size_t)(j1 - j0));
            }
        } else {
            k.m = r1 - r0;
            k.a = g->a + r0 * g->lda + pc;
            k.lda = g->lda;
            k.c = g->c + r0 * g->ldc + j0;
            run_blk(r->isa, &k);
        }
    }
}

/* k == 0: nothing to multiply, only the epilogue. */
static void epilogue_only(const ntg_xgemm_args *g)
{
    for (int64_t i = 0; i < g->m; i++) {
        float *cr = g->c + i * g->ldc;
        for (int64_t j = 0; j < g->n; j++) {
            float t = g->accumulate ? cr[j] : 0.0f;
            if (g->bias) t = t + g->bias[j];
            if (g->relu) t = t > 0.0f ? t : (t == t ? 0.0f : t);
            cr[j] = t;
        }
        if (g->post) g->post(cr, cr, (size_t)g->n);
    }
}

size_t ntg__xgemm_scratch_bytes(const ntg_xgemm_args *g, int threads)
{
    if (g->m <= 0 || g->n <= 0 || g->k <= 0) return 0;
    size_t most = 0;
    for (int t = 1; t <= (threads < 1 ? 1 : threads); t++) {
        xg_plan pl;
        make_plan(g, task_count(g, t), &pl);
        size_t bytes = (size_t)(pl.tm * pl.tn) * pl.task_floats * sizeof(float);
        if (bytes > most) most = bytes;
    }
    return most;
}

void ntg__xgemm_isa(ntg_tpool *pool, int threads, const ntg_xgemm_args *g, void *scratch, int isa)
{
    if (g->m <= 0 || g->n <= 0) return;
    if (g->k <= 0) {
        epilogue_only(g);
        return;
    }
    if (!pool || threads < 1) threads = 1;
    if (pool) {
        int have = ntg__tpool_threads(pool);
        if (threads > have) threads = have;
    }
    xg_run r;
    r.g = g;
    r.isa = resolve_isa(isa);
    r.scratch = (char *)scratch;
    make_plan(g, task_count(g, threads), &r.pl);
    size_t tasks = (size_t)(r.pl.tm * r.pl.tn);
    if (tasks == 1) {
        run_task(&r, 0);
        return;
    }
    ntg__tpool_run(pool, run_task, &r, tasks);
}

void ntg__xgemm(ntg_tpool *pool, int threads, const ntg_xgemm_args *g, void *scratch)
{
    ntg__xgemm_isa(pool, threads, g, scratch, g->isa);
}

/*
 * The thread choice: the product's time on one thread is the larger of its FMAs (~100 GFLOP/s
 * in the 12 x 32 tiles) and the bytes it streams (~60 bytes/ns from L2/L3: a few-row product
 * such as batch-1 inference reads each weight once and is bound by that, not by FMAs); each
 * thread must get at least XG_MIN_NS of it.  Dispatching to the pool's spinning workers costs
 * ~1 us within a run (the first parallel op of a run also wakes them, but the caller does not
 * wait for a worker that has not started: it takes the work itself); a column split of a
 * few-row product adds no work (each thread streams only its own panels of B).
 */

int ntg__xgemm_threads(int64_t m, int64_t n, int64_t k, int max_threads)
{
    if (max_threads <= 1 || m <= 0 || n <= 0 || k <= 0) return 1;
    double t = one_thread_ns(m, n, k) / XG_MIN_NS;
    /* a split of a few-row product is by whole panels of columns */
    int64_t most = m < 4 ? cdiv(n, NR) : m;
    if (t > (double)most) t = (double)most;
    if (t >= (double)max_threads) return max_threads;
    return t < 1.0 ? 1 : (int)t;
}
