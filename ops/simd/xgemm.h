/* xgemm.h — our GEMM (ops/simd/): packed B panels, AVX-512/AVX2 tiles, ntg_tpool threads. */
#ifndef NTG_XGEMM_H
#define NTG_XGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "cpu_isa.h"
#include "tpool.h"

/*
 * C[m,n] (=|+=) op(A)[m,k] op(B)[k,n] (+ bias) (relu), row-major with leading dimensions.
 *
 * op(B) is consumed as NTG_XGEMM_NR-column panels stored k-major ([k][NR] floats each, zero
 * padded past n), the layout ntg__xgemm_pack_b writes once for fixed weights and every call
 * writes into its scratch for a raw B.  op(A) is read in place when not transposed (copying
 * row tiles measured no faster, even at strides that alias in L1); a transposed A is copied
 * into row tiles first.  Threads split rows or columns, never k, so every element of C is
 * summed in the same order whatever the thread count: the result depends only on the ISA the
 * call ran on.
 */

enum {
    NTG_XGEMM_NR = 32,  /* columns of a packed B panel: two zmm, four ymm */
    NTG_XGEMM_MR = 12,  /* rows of the AVX-512 register tile (24 zmm accumulators) */
    NTG_XGEMM_KC = 512, /* deepest k block (measured: 256 loses 1-2% to C reloads) */
    NTG_XGEMM_SUB = 4,  /* most tasks per thread of a big product (xgemm.c, task_count) */
};

/* Instruction sets a call can run on (the NTG_ISA_* levels of cpu_isa.h).  AUTO: the best the
 * CPU supports, with no cap. */
typedef enum ntg_xgemm_isa {
    NTG_XGEMM_ISA_AUTO = 0,
    NTG_XGEMM_ISA_SCALAR = NTG_ISA_PORTABLE, /* portable C, any CPU */
    NTG_XGEMM_ISA_AVX2 = NTG_ISA_AVX2,       /* AVX2 + FMA */
    NTG_XGEMM_ISA_AVX512 = NTG_ISA_AVX512    /* AVX-512F */
} ntg_xgemm_isa;

/* The packed form of B for repeated use (inference weights: packed once at prepare). */
size_t ntg__xgemm_packed_b_bytes(int64_t n, int64_t k);
/* op(B) (B is [k, n], or [n, k] when trans_b) into `packed` (ntg__xgemm_packed_b_bytes), with
 * instructions up to `isa` (a cap, as ntg_xgemm_args.isa).  The layout does not depend on the
 * ISA: one packing serves every path. */
void ntg__xgemm_pack_b(int isa, int trans_b, int64_t n, int64_t k, const float *b, int64_t ldb,
                       float *packed);

typedef struct ntg_xgemm_args {
    int trans_a, trans_b;
    int64_t m, n, k;
    const float *a;
    int64_t lda;
    const float *b; /* raw B (ignored when packed_b is set) */
    int64_t ldb;
    const float *packed_b; /* from ntg__xgemm_pack_b, or NULL */
    const float *bias;     /* n values added to every row, or NULL */
    int relu;              /* fused max(., 0) after the bias (NaN stays NaN) */
    int accumulate;        /* 0: C = A op(B) (+ bias); 1: C += A op(B) (+ bias) */
    float *c;
    int64_t ldc;
    int isa; /* widest instruction set the call may use (the cap in effect, NTG_ISA_*); one the
              * CPU lacks falls back to the best it has; 0 (AUTO): the CPU's best, no cap */
    /* or NULL: applied in place to every finished row segment of C (after bias and relu), a
     * few rows at a time right after the tile that wrote them, so the values are still in L1
     * (the fused GELU of a dense layer: vmath's gelu) */
    void (*post)(const float *x, float *y, size_t n);
} ntg_xgemm_args;

/* Scratch the call needs with up to `threads` threads, at most NTG_XGEMM_SUB tasks per thread
 * each packing at most what one thread alone packs (packing panels; 0 for a packed B and
 * no trans_a).  Only m, n, k, trans_a and whether packed_b is set matter, so it can be sized
 * at prepare time.  The scratch may have any alignment. */
size_t ntg__xgemm_scratch_bytes(const ntg_xgemm_args *g, int threads);
/* Run on `pool` (NULL: the calling thread) with at most `threads` threads; deterministic
 * results for a given thread count (every C element summed in a fixed order; in fact the same
 * for every thread count on one ISA).  Each element is relu((C_old if accumulate) +
 * sum_p A[i,p] B[p,j] + bias[j]); with accumulate == 0, C is never read (NaN there does not
 * leak).  m, n or k may be 0.  No allocation; C must not overlap A, B or the scratch. */
void ntg__xgemm(ntg_tpool *pool, int threads, const ntg_xgemm_args *g, void *scratch);
/* The same on a chosen instruction set, whatever g->isa says (tests, benchmarks); one the CPU
 * lacks falls back to the best it has. */
void ntg__xgemm_isa(ntg_tpool *pool, int threads, const ntg_xgemm_args *g, void *scratch, int isa);
/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: a plain transpose with the packing's
 * vector kernels, instructions up to `isa` (a cap, as ntg_xgemm_args.isa). */
void ntg__xgemm_transpose(int isa, const float *src, int64_t lds, int64_t rows, int64_t cols,
                          float *dst, int64_t ldd);
/* Threads worth using for an m x n x k product (tiny products: 1). */
int ntg__xgemm_threads(int64_t m, int64_t n, int64_t k, int max_threads);
/* The instruction set AUTO resolves to on this CPU (no cap), the one a call capped at `cap`
 * runs on, and a name for reports ("avx512", "avx2", "portable", "auto"). */
int ntg__xgemm_best_isa(void);
int ntg__xgemm_capped_isa(int cap);
const char *ntg__xgemm_isa_name(int isa);

/* ------------------------------------------ internal: the ISA kernels (xgemm_*.c) */

/* One block of C: m rows x n columns (n <= panels * NR), one k block of depth kc. */
typedef struct ntg__xgemm_blk {
    int64_t m, n, kc;
    const float *a; /* op(A) rows: row i, step p at a[i * lda + p] */
    int64_t lda;
    const float *b; /* panel j (columns j*NR ..) at b + j * b_stride, row p at + p * NR */
    int64_t b_stride;
    float *c;
    int64_t ldc;
    const float *bias; /* the block's n biases (last k block only), or NULL */
    int load_c;        /* add the C already there (accumulate, or a later k block) */
    int relu;          /* last k block only */
} ntg__xgemm_blk;

void ntg__xgemm_blk_avx512(const ntg__xgemm_blk *k);
void ntg__xgemm_blk_avx2(const ntg__xgemm_blk *k);
/* dst[c * ldd + r] = src[r * lds + c] for r < rows (0 for rows <= r < rows_pad), c < cols:
 * packing a transposed operand. */
void ntg__xgemm_transpose_avx512(const float *src, int64_t lds, int64_t rows, int64_t cols,
                                 int64_t rows_pad, float *dst, int64_t ldd);
void ntg__xgemm_transpose_avx2(const float *src, int64_t lds, int64_t rows, int64_t cols,
                               int64_t rows_pad, float *dst, int64_t ldd);
/* kc rows of nr <= NR floats, ldb apart, into a [kc][NR] panel, zero padded. */
void ntg__xgemm_copy_rows_avx512(const float *src, int64_t ldb, int64_t nr, int64_t kc, float *dst);

#endif /* NTG_XGEMM_H */
