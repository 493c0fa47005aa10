/* ref_kernels.h — the reference kernels (ops/ref/, library ntg_ref): one forward and one
 * backward per op in ops.def, in plain C.  The oracle of every backend; the cpu backend runs
 * them, the fast CPU backend falls back to them, the compiler folds constants with them. */
#ifndef NTG_REF_KERNELS_H
#define NTG_REF_KERNELS_H

#include "ops.h"

/*
 * Kernel contract (every backend's kernels follow the same one):
 *  - forward: c->in[0..n_in) are the op's inputs (parameters included), c->out[0..n_out)
 *    its outputs, described at the actual batch (dims[0] == c->batch when batched).
 *  - backward: c->in = [forward inputs (nfi), forward outputs (nfo), gradients of the
 *    forward outputs (nfo)], c->out = [gradients of the forward inputs (nfi)].  Forward
 *    operands not in the op's bwd_saves mask have data == NULL (their shapes are valid);
 *    an output gradient with data == NULL is zero; an input gradient with data == NULL is
 *    not wanted.  Kernels overwrite their outputs (the compiler sums fan-out gradients).
 *  - outputs never alias inputs; kernels read only inside their operands and
 *    c->scratch[0..scratch_bytes).
 *  - no allocation, no failure: the plan was validated at load.
 */

#define NTG_OP(name, ni0, ni1, no0, no1)                                                           \
    void ntg__cpu_fwd_##name(const ntg_kctx *c);                                                   \
    void ntg__cpu_bwd_##name(const ntg_kctx *c);
#define NTG_OP_NODIFF(name, ni0, ni1, no0, no1) void ntg__cpu_fwd_##name(const ntg_kctx *c);
#include "ops.def"
#undef NTG_OP
#undef NTG_OP_NODIFF

/* The same kernels indexed by op code (ref_tables.c; bwd NULL for non-differentiable ops). */
extern const ntg_kernel_fn ntg__cpu_fwd[NTG_OP_COUNT];
extern const ntg_kernel_fn ntg__cpu_bwd[NTG_OP_COUNT];

/* Scratch bytes kernel (code, dir) needs for the operands in `c` (described at the
 * maximum batch); 0 for most ops (ref_scratch.c). */
size_t ntg__cpu_scratch_bytes(uint32_t code, int dir, const ntg_kctx *c);

/* C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, row-major with leading
 * dimensions; op(X) = X or X^T.  The reference GEMM (cache-blocked), shared by the
 * kernels that need one. */
void ntg__cpu_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *cm,
                   int64_t ldc);

#endif /* NTG_REF_KERNELS_H */
