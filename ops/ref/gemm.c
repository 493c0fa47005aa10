/* gemm.c — the reference single-precision GEMM: packed, cache-blocked, plain-C micro-kernel. */
#include <string.h>

#include "ref_kernels.h"

/*
 * Goto/BLIS blocking: a KC x NC block of op(B) is packed into NR-wide panels and stays in L2,
 * an MC x KC block of op(A) is packed into MR-tall panels, and the micro-kernel multiplies one
 * A panel by one B panel into an MR x NR register tile.  Packing pads the edges with zeros, so
 * the micro-kernel never branches; only the store is clipped.
 *
 * The packing buffers live on the stack (no allocation in kernels): (MC + NC) * KC floats,
 * 96 KiB, which callers' threads must allow for.  8 x 8 tiles with these blocks measured best
 * for x86-64 baseline (SSE2) code: about 20 GFLOP/s at 512^3 on one Zen core with GCC -O2 or
 * Clang, 26 with GCC -O3.  NR and the blocks may be retuned with -D at build time.
 */
#ifndef NTG_GEMM_NR
#define NTG_GEMM_NR 8
#endif
#ifndef NTG_GEMM_MC
#define NTG_GEMM_MC 64
#endif
#ifndef NTG_GEMM_KC
#define NTG_GEMM_KC 128
#endif
#ifndef NTG_GEMM_NC
#define NTG_GEMM_NC 128
#endif

/* MR is fixed by the micro-kernel, which spells its eight rows out. */
enum { MR = 8, NR = NTG_GEMM_NR, MC = NTG_GEMM_MC, KC = NTG_GEMM_KC, NC = NTG_GEMM_NC };

_Static_assert(MC % MR == 0 && NC % NR == 0, "cache blocks are whole micro-tiles");

/* op(A)[i0 .. i0+mc, p0 .. p0+kc] into MR-row panels, each stored p-major (MR floats per p). */
static void pack_a(int trans, const float *a, int64_t lda, int64_t i0, int64_t p0, int64_t mc,
                   int64_t kc, float *restrict ap)
{
    for (int64_t ir = 0; ir < mc; ir += MR) {
        int64_t mr = mc - ir < MR ? mc - ir : MR;
        float *dst = ap + ir * kc;
        if (trans) {
            for (int64_t p = 0; p < kc; p++) {
                const float *src = a + (p0 + p) * lda + i0 + ir;
                int64_t i = 0;
                for (; i < mr; i++) dst[p * MR + i] = src[i];
                for (; i < MR; i++) dst[p * MR + i] = 0.0f;
            }
        } else {
            for (int64_t i = 0; i < MR; i++) {
                if (i < mr) {
                    const float *src = a + (i0 + ir + i) * lda + p0;
                    for (int64_t p = 0; p < kc; p++) dst[p * MR + i] = src[p];
                } else {
                    for (int64_t p = 0; p < kc; p++) dst[p * MR + i] = 0.0f;
                }
            }
        }
    }
}

/* op(B)[p0 .. p0+kc, j0 .. j0+nc] into NR-column panels, each stored p-major. */
static void pack_b(int trans, const float *b, int64_t ldb, int64_t p0, int64_t j0, int64_t kc,
                   int64_t nc, float *restrict bp)
{
    for (int64_t jr = 0; jr < nc; jr += NR) {
        int64_t nr = nc - jr < NR ? nc - jr : NR;
        float *dst = bp + jr * kc;
        if (trans) {
            for (int64_t j = 0; j < NR; j++) {
                if (j < nr) {
                    const float *src = b + (j0 + jr + j) * ldb + p0;
                    for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = src[p];
                } else {
                    for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = 0.0f;
                }
            }
        } else {
            for (int64_t p = 0; p < kc; p++) {
                const float *src = b + (p0 + p) * ldb + j0 + jr;
                int64_t j = 0;
                for (; j < nr; j++) dst[p * NR + j] = src[j];
                for (; j < NR; j++) dst[p * NR + j] = 0.0f;
            }
        }
    }
}

/*
 * The register tile: out = A panel (MR x kc) * B panel (kc x NR), one rank-1 update per p.
 * The eight accumulator rows are separate arrays with the j loop innermost: spelled this way
 * GCC (-O2 and -O3) and Clang all keep them in vector registers; a 2-D acc[MR][NR] made
 * GCC -O3 and Clang spill and shuffle (8 instead of 20-35 GFLOP/s).
 */
static void micro_kernel(int64_t kc, const float *restrict ap, const float *restrict bp,
                         float *restrict out)
{
    float c0[NR] = {0}, c1[NR] = {0}, c2[NR] = {0}, c3[NR] = {0};
    float c4[NR] = {0}, c5[NR] = {0}, c6[NR] = {0}, c7[NR] = {0};
    for (int64_t p = 0; p < kc; p++) {
        const float *a = ap + p * MR, *b = bp + p * NR;
        for (int j = 0; j < NR; j++) {
            c0[j] += a[0] * b[j];
            c1[j] += a[1] * b[j];
            c2[j] += a[2] * b[j];
            c3[j] += a[3] * b[j];
            c4[j] += a[4] * b[j];
            c5[j] += a[5] * b[j];
            c6[j] += a[6] * b[j];
            c7[j] += a[7] * b[j];
        }
    }
    float *rows[MR] = {c0, c1, c2, c3, c4, c5, c6, c7};
    for (int i = 0; i < MR; i++) memcpy(out + i * NR, rows[i], sizeof c0);
}

/* C tile = alpha * acc (+ beta * C on the first k block, + C on later ones).  beta == 0 never
 * reads C, so NaN or uninitialised memory there does not leak into the result (BLAS rule). */
static void store_tile(const float *acc, int64_t mr, int64_t nr, float alpha, float beta, int first,
                       float *cm, int64_t ldc)
{
    for (int64_t i = 0; i < mr; i++) {
        float *crow = cm + i * ldc;
        const float *arow = acc + i * NR;
        if (!first)
            for (int64_t j = 0; j < nr; j++) crow[j] += alpha * arow[j];
        else if (beta == 0.0f)
            for (int64_t j = 0; j < nr; j++) crow[j] = alpha * arow[j];
        else
            for (int64_t j = 0; j < nr; j++) crow[j] = alpha * arow[j] + beta * crow[j];
    }
}

static void scale_c(int64_t m, int64_t n, float beta, float *cm, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        float *crow = cm + i * ldc;
        if (beta == 0.0f)
            memset(crow, 0, (size_t)n * sizeof *crow);
        else if (beta != 1.0f)
            for (int64_t j = 0; j < n; j++) crow[j] *= beta;
    }
}

/* C = alpha A B^T + beta C for a few rows of A (a dense layer at batch 1..7): every
 * output is a dot product of two contiguous rows, so packing would only add traffic.
 * Eight partial sums per dot product keep the loop vectorisable and the order fixed. */
static void small_m_abt(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float beta, float *cm, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        const float *ar = a + i * lda;
        for (int64_t j = 0; j < n; j++) {
            const float *br = b + j * ldb;
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t p = 0;
            for (; p + 8 <= k; p += 8)
                for (int l = 0; l < 8; l++) acc[l] += ar[p + l] * br[p + l];
            float sum =
                ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for (; p < k; p++) sum += ar[p] * br[p];
            float *c = cm + i * ldc + j;
            *c = beta == 0.0f ? alpha * sum : alpha * sum + beta * *c;
        }
    }
}

void ntg__cpu_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *cm,
                   int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, cm, ldc);
        return;
    }
    if (m < MR && !trans_a && trans_b) {
        small_m_abt(m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc);
        return;
    }
    float apack[MC * KC], bpack[KC * NC], tile[MR * NR];
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += KC) {
            int64_t kc = k - pc < KC ? k - pc : KC;
            pack_b(trans_b, b, ldb, pc, jc, kc, nc, bpack);
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t mc = m - ic < MC ? m - ic : MC;
                pack_a(trans_a, a, lda, ic, pc, mc, kc, apack);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int64_t nr = nc - jr < NR ? nc - jr : NR;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t mr = mc - ir < MR ? mc - ir : MR;
                        micro_kernel(kc, apack + ir * kc, bpack + jr * kc, tile);
                        store_tile(tile, mr, nr, alpha, beta, pc == 0,
                                   cm + (ic + ir) * ldc + jc + jr, ldc);
                    }
                }
            }
        }
    }
}
