/* cu_int.h — private to the CUDA backend: what the host code (cu_backend.c, C11) and the
 * kernels (cu_ops.cu, CUDA C++) share.  Plain C, included by both. */
#ifndef NTG_CU_INT_H
#define NTG_CU_INT_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cuBLAS is loaded with dlopen (libcublas.so.13), so that the library has no link-time
 * dependency on it: a machine without the toolkit's runtime libraries still loads ntgraph.
 * The entry points the backend calls, resolved once per instance. */
typedef struct ntg__cu_blas {
    void *lib;
    cublasStatus_t (*create)(cublasHandle_t *h);
    cublasStatus_t (*destroy)(cublasHandle_t h);
    cublasStatus_t (*set_stream)(cublasHandle_t h, cudaStream_t s);
    cublasStatus_t (*set_workspace)(cublasHandle_t h, void *ws, size_t bytes);
    cublasStatus_t (*set_math_mode)(cublasHandle_t h, cublasMath_t mode);
    cublasStatus_t (*sgemm)(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const float *alpha, const float *a, int lda,
                            const float *b, int ldb, const float *beta, float *c, int ldc);
    cublasStatus_t (*sgemm_batched)(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                    int m, int n, int k, const float *alpha, const float *a,
                                    int lda, long long sa, const float *b, int ldb, long long sb,
                                    const float *beta, float *c, int ldc, long long sc, int count);
    cublasHandle_t handle;
    /* cuBLASLt (libcublasLt.so.13), for GEMMs with a bias / ReLU epilogue; lt_lib NULL when it
     * could not be loaded (dense then runs SGEMM and its own epilogue kernel) */
    void *lt_lib;
    cublasLtHandle_t lt;
    cublasStatus_t (*lt_create)(cublasLtHandle_t *h);
    cublasStatus_t (*lt_destroy)(cublasLtHandle_t h);
    cublasStatus_t (*lt_desc_create)(cublasLtMatmulDesc_t *d, cublasComputeType_t ct,
                                     cudaDataType_t scale);
    cublasStatus_t (*lt_desc_destroy)(cublasLtMatmulDesc_t d);
    cublasStatus_t (*lt_desc_set)(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a,
                                  const void *buf, size_t size);
    cublasStatus_t (*lt_layout_create)(cublasLtMatrixLayout_t *l, cudaDataType t, uint64_t rows,
                                       uint64_t cols, int64_t ld);
    cublasStatus_t (*lt_layout_destroy)(cublasLtMatrixLayout_t l);
    cublasStatus_t (*lt_pref_create)(cublasLtMatmulPreference_t *p);
    cublasStatus_t (*lt_pref_destroy)(cublasLtMatmulPreference_t p);
    cublasStatus_t (*lt_pref_set)(cublasLtMatmulPreference_t p,
                                  cublasLtMatmulPreferenceAttributes_t a, const void *buf,
                                  size_t size);
    cublasStatus_t (*lt_heuristic)(cublasLtHandle_t h, cublasLtMatmulDesc_t d,
                                   cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                   cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dl,
                                   cublasLtMatmulPreference_t p, int requested,
                                   cublasLtMatmulHeuristicResult_t *results, int *returned);
    cublasStatus_t (*lt_matmul)(cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void *alpha,
                                const void *a, cublasLtMatrixLayout_t al, const void *b,
                                cublasLtMatrixLayout_t bl, const void *beta, const void *c,
                                cublasLtMatrixLayout_t cl, void *dm, cublasLtMatrixLayout_t dl,
                                const cublasLtMatmulAlgo_t *algo, void *ws, size_t ws_bytes,
                                cudaStream_t stream);
    /* the workspace cuBLAS and cuBLASLt share (stream-ordered on the session's stream) */
    void *ws;
    size_t ws_bytes;
} ntg__cu_blas;

/* What an op's launcher sees: the CPU kernel contract of ref/ref_kernels.h with device
 * pointers in the views, plus the stream the program is captured on. */
typedef struct ntg__cu_ctx {
    const ntg_attr *attr;
    uint32_t n_attr;
    int n_in, n_out;
    const ntg_view *in;  /* data: device addresses (NULL when absent or not saved) */
    const ntg_view *out; /* described at the batch the graph is captured for */
    int batch;
    void *scratch; /* device scratch, scratch_bytes long (the largest op's need) */
    size_t scratch_bytes;
    double *acc; /* device accumulators, acc_count doubles (loss and norm reductions) */
    size_t acc_count;
    cudaStream_t stream;
    const ntg__cu_blas *blas;
    char *msg; /* a launcher that fails writes why here (msg_cap bytes) */
    size_t msg_cap;
} ntg__cu_ctx;

/* A launcher enqueues the op's kernels on c->stream; returns 0, or -1 with c->msg filled
 * (a CUDA or cuBLAS error, or a geometry this backend cannot run). */
typedef int (*ntg__cu_launch_fn)(const ntg__cu_ctx *c);

#define NTG_OP(name, ni0, ni1, no0, no1)                                                           \
    int ntg__cu_fwd_##name(const ntg__cu_ctx *c);                                                  \
    int ntg__cu_bwd_##name(const ntg__cu_ctx *c);
#define NTG_OP_NODIFF(name, ni0, ni1, no0, no1) int ntg__cu_fwd_##name(const ntg__cu_ctx *c);
#include "ops.def"
#undef NTG_OP
#undef NTG_OP_NODIFF

extern const ntg__cu_launch_fn ntg__cu_fwd[NTG_OP_COUNT];
extern const ntg__cu_launch_fn ntg__cu_bwd[NTG_OP_COUNT];

/* Device scratch (bytes) and accumulators (doubles) op (code, dir) needs beyond what the
 * CPU reference asks for, with the operands described at the maximum batch. */
size_t ntg__cu_scratch_bytes(uint32_t code, int dir, const ntg_kctx *c);
size_t ntg__cu_acc_count(uint32_t code, int dir, const ntg_kctx *c);

#ifdef __cplusplus
}
#endif

#endif /* NTG_CU_INT_H */
