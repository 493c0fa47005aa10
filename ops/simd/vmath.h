/* vmath.h — our vector kernels (ops/simd/, library ntg_simd): elementwise math with
 * transcendentals, softmax and layernorm lines, a small-B GEMM, the LSTM cell and Adam, one
 * table per instruction set.  Plain float arrays in, no backend state: any CPU-side backend
 * can call them.  The bodies are written once (vmath_impl.h) and instantiated per ISA by
 * vmath.c. */
#ifndef NTG_SIMD_VMATH_H
#define NTG_SIMD_VMATH_H

#include <stddef.h>
#include <stdint.h>

#include "cpu_isa.h"

typedef struct ntg_simd_vk {
    const char *isa; /* "AVX-512", "AVX2", "portable" */
    void (*relu)(const float *x, float *y, size_t n);
    void (*relu_bwd)(const float *y, const float *dy, float *dx, size_t n);
    void (*sigmoid)(const float *x, float *y, size_t n);
    void (*tanh)(const float *x, float *y, size_t n);
    void (*gelu)(const float *x, float *y, size_t n);
    void (*exp)(const float *x, float *y, size_t n);
    void (*gelu_bwd)(const float *x, const float *dy, float *dx, size_t n);
    void (*softmax_line)(const float *x, float *y, size_t n, int log_form);
    void (*softmax_bwd_line)(const float *y, const float *dy, float *dx, size_t n, int log_form);
    void (*layernorm)(const float *x, float *y, const float *w, const float *b, size_t rows,
                      size_t d, float eps);
    void (*layernorm_bwd)(const float *x, const float *dy, const float *w, float *dx, float *accw,
                          float *accb, size_t rows, size_t d, float eps);
    /* C = A B (A^T when ta, A given as [k, m]; B^T when tb) for operands whose B fits L1;
     * buf: k * round_up(n, 16) floats */
    void (*gemm_small)(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                       const float *b, int64_t ldb, float *c, int64_t ldc, float *buf);
    void (*lstm_cell)(float *g, const float *cprev, float *c, float *h, size_t hidden);
    void (*lstm_cell_bwd)(const float *st, const float *cprev, const float *dh, float *carry,
                          float *dg, size_t hidden);
    void (*adam)(float *p, const float *g, float *m, float *v, size_t n, const double *k,
                 int decoupled);
    /* out[j] = the sum of column j < n of z's rows (row stride ld), in double, row order */
    void (*colsum)(const float *z, size_t rows, size_t ld, size_t n, double *out);
    /* the same sums added to out's values (not zeroed first), each column in row order */
    void (*colsum_acc)(const float *z, size_t rows, size_t ld, size_t n, double *out);
} ntg_simd_vk;

/* The widest table this CPU runs, up to `max_isa` (an NTG_ISA_* level: a cap). */
const ntg_simd_vk *ntg__simd_vk_pick(int max_isa);

#endif /* NTG_SIMD_VMATH_H */
