/* cu_ops.cu — the CUDA backend's kernels and launchers: every op of ops.def, forward and
 * backward, following the reference kernels of ops/ref/ (the same contract, ref_kernels.h).
 *
 * NOT YET RUN ON A GPU: this file compiles (nvcc 13, -Werror all-warnings, sm_90 SASS +
 * compute_90 PTX) but no kernel here has been executed on hardware; bench/cuda_check.sh is
 * the script that checks it on an H100 against the reference backend.
 *
 * Launchers run once per program and batch, while the program is being captured into a CUDA
 * graph (cu_backend.c): host-side work here (geometry, cuBLAS call selection) is paid at
 * capture, never per run.  Numerics follow the reference: sums, statistics, activations and
 * optimizer updates in double, rounded once when stored; reductions in a fixed order, so the
 * results are reproducible run to run.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define _Static_assert static_assert
extern "C" {
#include "bcast.h"
#include "mm_geom.h"
#include "op_attrs.h"
#include "ops.h"
}
#include "cu_int.h"

namespace {

const int THREADS = 256;
const int MAX_Q = 32; /* pinball quantiles a loss kernel takes by value */

int fail(const ntg__cu_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msg_cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* The last launch's error, if any. */
int launched(const ntg__cu_ctx *c, const char *what)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return fail(c, "cuda: launching %s failed: %s", what, cudaGetErrorString(e));
    return 0;
}

unsigned blocks_for(int64_t n)
{
    int64_t b = (n + THREADS - 1) / THREADS;
    if (b < 1) b = 1;
    return (unsigned)(b > 65535 ? 65535 : b);
}

int64_t numel(const ntg_view *v)
{
    return ntg__tdesc_numel(&v->d);
}

float *fp(const ntg_view *v)
{
    return (float *)v->data;
}

#define GRID_LOOP(i, n)                                                                            \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)gridDim.x * blockDim.x)

/* ------------------------------------------------------------- basic kernels */

__global__ void k_fill(float *p, int64_t n, float v)
{
    GRID_LOOP(i, n) p[i] = v;
}

int fill(const ntg__cu_ctx *c, float *p, int64_t n, float v)
{
    if (!p || n <= 0) return 0;
    if (v == 0.0f) {
        cudaError_t e = cudaMemsetAsync(p, 0, (size_t)n * sizeof(float), c->stream);
        if (e != cudaSuccess) return fail(c, "cuda: memset failed: %s", cudaGetErrorString(e));
        return 0;
    }
    k_fill<<<blocks_for(n), THREADS, 0, c->stream>>>(p, n, v);
    return launched(c, "fill");
}

int zero_view(const ntg__cu_ctx *c, const ntg_view *v)
{
    return v ? fill(c, fp(v), numel(v), 0.0f) : 0;
}

int copy_dev(const ntg__cu_ctx *c, float *dst, const float *src, int64_t n)
{
    if (n <= 0) return 0;
    cudaError_t e = cudaMemcpyAsync(dst, src, (size_t)n * sizeof(float), cudaMemcpyDeviceToDevice,
                                    c->stream);
    if (e != cudaSuccess) return fail(c, "cuda: copy failed: %s", cudaGetErrorString(e));
    return 0;
}

/* dst[doff + sum idx ds] = src[soff + sum idx ss] over dims (row-major index space). */
struct strided {
    int rank;
    int64_t dims[NTG_MAX_RANK];
    int64_t ss[NTG_MAX_RANK], ds[NTG_MAX_RANK];
    int64_t soff, doff, n;
};

__global__ void k_copy(strided g, const float *src, float *dst)
{
    GRID_LOOP(i, g.n)
    {
        int64_t r = i, so = g.soff, d = g.doff;
        for (int a = g.rank - 1; a >= 0; a--) {
            int64_t ix = r % g.dims[a];
            r /= g.dims[a];
            so += ix * g.ss[a];
            d += ix * g.ds[a];
        }
        dst[d] = src[so];
    }
}

int copy_strided(const ntg__cu_ctx *c, strided g, const float *src, float *dst)
{
    g.n = 1;
    for (int a = 0; a < g.rank; a++) g.n *= g.dims[a];
    if (g.n <= 0) return 0;
    k_copy<<<blocks_for(g.n), THREADS, 0, c->stream>>>(g, src, dst);
    return launched(c, "strided copy");
}

/* A tensor as [outer, len, inner] around one axis. */
struct axis3 {
    int64_t outer, len, inner;
};

axis3 around(const ntg_tdesc *d, int ax)
{
    axis3 s = {1, d->dims[ax], 1};
    for (int i = 0; i < ax; i++) s.outer *= d->dims[i];
    for (int i = ax + 1; i < d->rank; i++) s.inner *= d->dims[i];
    return s;
}

/* y[j] (and y2[j]) = sum over rows of x[r * cols + j], in row order, in double. */
__global__ void k_colsum(const float *x, int64_t rows, int64_t cols, float *y, float *y2)
{
    GRID_LOOP(j, cols)
    {
        double s = 0.0;
        for (int64_t r = 0; r < rows; r++) s += (double)x[r * cols + j];
        if (y) y[j] = (float)s;
        if (y2) y2[j] = (float)s;
    }
}

int colsum(const ntg__cu_ctx *c, const float *x, int64_t rows, int64_t cols, float *y, float *y2)
{
    if (cols <= 0 || (!y && !y2)) return 0;
    k_colsum<<<blocks_for(cols), THREADS, 0, c->stream>>>(x, rows, cols, y, y2);
    return launched(c, "column sums");
}

/* --------------------------------------------------------------------- GEMM */

const char *blas_str(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
        return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "CUBLAS_STATUS_NOT_SUPPORTED";
    default:
        return "cuBLAS error";
    }
}

int fits_int(int64_t v)
{
    return v >= 0 && v <= 2147483647;
}

/*
 * C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C, row-major with leading dimensions, as
 * ntg__cpu_gemm.  cuBLAS is column-major: a row-major matrix is its transpose there, so
 * C^T = op(B)^T op(A)^T is computed with the operands swapped.  count > 1: a strided batch
 * (sa, sb, sc elements between consecutive matrices; 0 broadcasts an operand).
 */
int gemm_batched(const ntg__cu_ctx *c, int ta, int tb, int64_t m, int64_t n, int64_t k,
                 float alpha, const float *a, int64_t lda, int64_t sa, const float *b, int64_t ldb,
                 int64_t sb, float beta, float *cm, int64_t ldc, int64_t sc, int64_t count)
{
    if (m <= 0 || n <= 0 || count <= 0) return 0;
    if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(lda) || !fits_int(ldb) ||
        !fits_int(ldc) || !fits_int(count))
        return fail(c, "cuda: a GEMM of %lld x %lld x %lld exceeds cuBLAS's 32-bit sizes",
                    (long long)m, (long long)n, (long long)k);
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (ldc < 1) ldc = 1;
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasStatus_t s;
    if (count == 1)
        s = c->blas->sgemm(c->blas->handle, ob, oa, (int)n, (int)m, (int)k, &alpha, b, (int)ldb, a,
                           (int)lda, &beta, cm, (int)ldc);
    else
        s = c->blas->sgemm_batched(c->blas->handle, ob, oa, (int)n, (int)m, (int)k, &alpha, b,
                                   (int)ldb, sb, a, (int)lda, sa, &beta, cm, (int)ldc, sc,
                                   (int)count);
    if (s != CUBLAS_STATUS_SUCCESS)
        return fail(c, "cuda: cuBLAS SGEMM (%lld x %lld x %lld, batch %lld) failed: %s",
                    (long long)m, (long long)n, (long long)k, (long long)count, blas_str(s));
    return 0;
}

int gemm(const ntg__cu_ctx *c, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
         const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *cm,
         int64_t ldc)
{
    return gemm_batched(c, ta, tb, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, cm, ldc, 0, 1);
}

/* ------------------------------------------------------------- activations */

enum { U_RELU, U_GELU, U_TANH, U_SIGMOID, U_SCALE, U_NONE, U_EXP, U_LOG, U_ABS, U_SQRT, U_SOFTPLUS };

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

__device__ float act_f(int mode, float xf, float factor)
{
    double z = (double)xf;
    switch (mode) {
    case U_RELU:
        return xf > 0.0f ? xf : (xf == xf ? 0.0f : xf);
    case U_GELU:
        return (float)(0.5 * z * (1.0 + erf(z * SQRT1_2)));
    case U_TANH:
        return (float)tanh(z);
    case U_SIGMOID:
        return (float)(1.0 / (1.0 + exp(-z)));
    case U_SCALE:
        return xf * factor;
    /* IEEE at the domain edges, as torch and the reference: log(0) = -inf, log and sqrt of a
     * negative number NaN, exp overflowing to inf */
    case U_EXP:
        return (float)exp(z);
    case U_LOG:
        return (float)log(z);
    case U_ABS:
        return fabsf(xf);
    case U_SQRT:
        return (float)sqrt(z);
    case U_SOFTPLUS: /* torch's threshold 20; log1p keeps the far left exact */
        return (float)(z > 20.0 ? z : log1p(exp(z)));
    default:
        return xf;
    }
}

__device__ double gelu_grad(double z)
{
    double cdf = 0.5 * (1.0 + erf(z * SQRT1_2));
    double pdf = exp(-0.5 * z * z) * INV_SQRT_2PI;
    return cdf + z * pdf;
}

/* dx = dy f'(.): relu, tanh, sigmoid from y (src), gelu from x (src), scale from nothing. */
__device__ float act_b(int mode, float src, float dy, float factor)
{
    double v = (double)src;
    switch (mode) {
    case U_RELU:
        return src > 0.0f ? dy : 0.0f;
    case U_GELU:
        return (float)((double)dy * gelu_grad(v));
    case U_TANH:
        return (float)((double)dy * (1.0 - v * v));
    case U_SIGMOID:
        return (float)((double)dy * v * (1.0 - v));
    case U_SCALE:
        return dy * factor;
    case U_EXP: /* from y: dy e^x */
        return (float)((double)dy * v);
    case U_LOG: /* from x: dy / x */
        return (float)((double)dy / v);
    case U_ABS: /* from x: dy sign(x), sign(0) = 0 */
        return src > 0.0f ? dy : src < 0.0f ? -dy : 0.0f;
    case U_SQRT: /* from y: dy / (2 y) */
        return (float)((double)dy / (2.0 * v));
    case U_SOFTPLUS: /* from x: dy sigmoid(x) below the threshold, dy above */
        return v > 20.0 ? dy : (float)((double)dy / (1.0 + exp(-v)));
    default:
        return dy;
    }
}

__global__ void k_unary_fwd(int mode, const float *x, float *y, int64_t n, float factor)
{
    GRID_LOOP(i, n) y[i] = act_f(mode, x[i], factor);
}

__global__ void k_unary_bwd(int mode, const float *src, const float *dy, float *dx, int64_t n,
                            float factor)
{
    GRID_LOOP(i, n) dx[i] = act_b(mode, src ? src[i] : 0.0f, dy[i], factor);
}

int unary_fwd(const ntg__cu_ctx *c, int mode, float factor)
{
    int64_t n = numel(&c->in[0]);
    if (n <= 0) return 0;
    k_unary_fwd<<<blocks_for(n), THREADS, 0, c->stream>>>(mode, fp(&c->in[0]), fp(&c->out[0]), n,
                                                           factor);
    return launched(c, "unary forward");
}

/* in = [x, y, dy], out = [dx]; src: 0 = x, 1 = y, -1 = none. */
int unary_bwd(const ntg__cu_ctx *c, int mode, int src, float factor)
{
    float *dx = fp(&c->out[0]);
    if (!dx) return 0;
    if (!c->in[2].data) return zero_view(c, &c->out[0]);
    int64_t n = numel(&c->in[0]);
    if (n <= 0) return 0;
    k_unary_bwd<<<blocks_for(n), THREADS, 0, c->stream>>>(
        mode, src >= 0 ? fp(&c->in[src]) : NULL, fp(&c->in[2]), dx, n, factor);
    return launched(c, "unary backward");
}

float scale_factor(const ntg__cu_ctx *c)
{
    return (float)ntg__attr_f(c->attr, NTG_SCALE_FACTOR);
}

/* ------------------------------------------------------------------- dense */

int act_mode(int act)
{
    switch (act) {
    case NTG_ACT_RELU:
        return U_RELU;
    case NTG_ACT_GELU:
        return U_GELU;
    case NTG_ACT_TANH:
        return U_TANH;
    case NTG_ACT_SIGMOID:
        return U_SIGMOID;
    default:
        return U_NONE;
    }
}

/* y[r, j] = act(y[r, j] + b[j]): the GEMM's epilogue. */
__global__ void k_bias_act(float *y, const float *b, int64_t rows, int64_t units, int mode)
{
    GRID_LOOP(i, rows * units)
    {
        float v = y[i];
        if (b) v += b[i % units];
        y[i] = act_f(mode, v, 1.0f);
    }
}

/* dz = dy act'(.): relu/tanh/sigmoid from y; gelu from z (in dz already, without the bias). */
__global__ void k_dense_dz(int mode, const float *y, const float *dy, const float *b, float *dz,
                           int64_t rows, int64_t units)
{
    GRID_LOOP(i, rows * units)
    {
        if (mode == U_GELU) {
            float z = dz[i];
            if (b) z += b[i % units];
            dz[i] = (float)((double)dy[i] * gelu_grad((double)z));
        } else {
            dz[i] = act_b(mode, y[i], dy[i], 1.0f);
        }
    }
}

int64_t rows_of(const ntg_view *y, int64_t units)
{
    return units > 0 ? numel(y) / units : 0;
}

} // namespace

namespace {

/*
 * y = act(x W^T + b) as one cuBLASLt matmul with its bias / ReLU epilogue, where cuBLASLt has
 * the epilogue (none + bias, relu with or without bias; its GELU is the tanh approximation,
 * not the exact erf GELU of the op, and it has no tanh or sigmoid).  Column-major view:
 * y^T [units, rows] = op(W)^T x^T with the bias along D's rows.  Returns 1 when done, 0 when
 * not applicable or when cuBLASLt offers no algorithm (the caller falls back), -1 on error.
 */
int lt_dense(const ntg__cu_ctx *c, int64_t rows, int64_t units, int64_t in, const float *x,
             const float *w, const float *b, float *y, int mode)
{
    const ntg__cu_blas *bl = c->blas;
    if (!bl->lt_lib || !bl->ws) return 0;
    if (mode != U_RELU && !(mode == U_NONE && b)) return 0;
    cublasLtEpilogue_t epi = mode == U_RELU ? (b ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU)
                                            : CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    uint64_t wsb = bl->ws_bytes;
    int done = 0;
    cublasStatus_t st = bl->lt_desc_create(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = bl->lt_desc_set(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = bl->lt_desc_set(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = bl->lt_desc_set(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    if (st == CUBLAS_STATUS_SUCCESS && b)
        st = bl->lt_desc_set(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof b);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = bl->lt_layout_create(&la, CUDA_R_32F, (uint64_t)in, (uint64_t)units, in);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = bl->lt_layout_create(&lb, CUDA_R_32F, (uint64_t)in, (uint64_t)rows, in);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = bl->lt_layout_create(&lc, CUDA_R_32F, (uint64_t)units, (uint64_t)rows, units);
    if (st == CUBLAS_STATUS_SUCCESS) st = bl->lt_pref_create(&pref);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = bl->lt_pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    memset(&res, 0, sizeof res);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = bl->lt_heuristic(bl->lt, op, la, lb, lc, lc, pref, 1, &res, &found);
    if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
        const float one = 1.0f, zero = 0.0f;
        st = bl->lt_matmul(bl->lt, op, &one, w, la, x, lb, &zero, y, lc, y, lc, &res.algo, bl->ws,
                           bl->ws_bytes, c->stream);
        done = st == CUBLAS_STATUS_SUCCESS ? 1 : -1;
        if (done < 0)
            fail(c, "cuda: cuBLASLt matmul with epilogue (%lld x %lld x %lld) failed: %s",
                 (long long)rows, (long long)units, (long long)in, blas_str(st));
    }
    if (pref) bl->lt_pref_destroy(pref);
    if (lc) bl->lt_layout_destroy(lc);
    if (lb) bl->lt_layout_destroy(lb);
    if (la) bl->lt_layout_destroy(la);
    if (op) bl->lt_desc_destroy(op);
    return done;
}

} // namespace

extern "C" int ntg__cu_fwd_dense(const ntg__cu_ctx *c)
{
    const float *x = fp(&c->in[0]), *w = fp(&c->in[1]);
    const float *b = c->n_in > 2 ? fp(&c->in[2]) : NULL;
    float *y = fp(&c->out[0]);
    int mode = act_mode((int)ntg__attr_i(c->attr, NTG_DENSE_ACT));
    int64_t units = c->in[1].d.dims[0], in = c->in[1].d.dims[1];
    int64_t rows = rows_of(&c->out[0], units);
    if (rows > 0 && units > 0 && in > 0) {
        int lt = lt_dense(c, rows, units, in, x, w, b, y, mode);
        if (lt) return lt < 0 ? -1 : 0;
    }
    if (gemm(c, 0, 1, rows, units, in, 1.0f, x, in, w, in, 0.0f, y, units)) return -1;
    if (!b && mode == U_NONE) return 0;
    if (rows * units <= 0) return 0;
    k_bias_act<<<blocks_for(rows * units), THREADS, 0, c->stream>>>(y, b, rows, units, mode);
    return launched(c, "dense bias and activation");
}

/* in = [x, W, (b), y, dy], out = [dx, dW, (db)] (k_dense.c). */
extern "C" int ntg__cu_bwd_dense(const ntg__cu_ctx *c)
{
    int nfi = c->n_out;
    const float *x = fp(&c->in[0]), *w = fp(&c->in[1]);
    const float *b = nfi > 2 ? fp(&c->in[2]) : NULL;
    const float *y = fp(&c->in[nfi]), *dy = fp(&c->in[nfi + 1]);
    float *dx = fp(&c->out[0]), *dw = fp(&c->out[1]);
    float *db = nfi > 2 ? fp(&c->out[2]) : NULL;
    int mode = act_mode((int)ntg__attr_i(c->attr, NTG_DENSE_ACT));
    int64_t units = c->in[1].d.dims[0], in = c->in[1].d.dims[1];
    int64_t rows = rows_of(&c->in[nfi], units), n = rows * units;
    if (!dy) {
        for (int i = 0; i < nfi; i++)
            if (zero_view(c, &c->out[i])) return -1;
        return 0;
    }
    const float *dz = dy;
    if (mode != U_NONE && n > 0) {
        float *s = (float *)c->scratch;
        if (mode == U_GELU && gemm(c, 0, 1, rows, units, in, 1.0f, x, in, w, in, 0.0f, s, units))
            return -1;
        k_dense_dz<<<blocks_for(n), THREADS, 0, c->stream>>>(mode, y, dy, b, s, rows, units);
        if (launched(c, "dense activation gradient")) return -1;
        dz = s;
    }
    if (dx && gemm(c, 0, 0, rows, in, units, 1.0f, dz, units, w, in, 0.0f, dx, in)) return -1;
    if (dw && gemm(c, 1, 0, units, in, rows, 1.0f, dz, units, x, in, 0.0f, dw, in)) return -1;
    if (db && colsum(c, dz, rows, units, db, NULL)) return -1;
    return 0;
}

/* ------------------------------------------------------- elementwise unary */

extern "C" int ntg__cu_fwd_relu(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_RELU, 1.0f);
}
extern "C" int ntg__cu_bwd_relu(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_RELU, 1, 1.0f);
}
extern "C" int ntg__cu_fwd_gelu(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_GELU, 1.0f);
}
extern "C" int ntg__cu_bwd_gelu(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_GELU, 0, 1.0f);
}
extern "C" int ntg__cu_fwd_tanh(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_TANH, 1.0f);
}
extern "C" int ntg__cu_bwd_tanh(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_TANH, 1, 1.0f);
}
extern "C" int ntg__cu_fwd_sigmoid(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_SIGMOID, 1.0f);
}
extern "C" int ntg__cu_bwd_sigmoid(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_SIGMOID, 1, 1.0f);
}
extern "C" int ntg__cu_fwd_exp(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_EXP, 1.0f);
}
extern "C" int ntg__cu_bwd_exp(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_EXP, 1, 1.0f);
}
extern "C" int ntg__cu_fwd_log(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_LOG, 1.0f);
}
extern "C" int ntg__cu_bwd_log(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_LOG, 0, 1.0f);
}
extern "C" int ntg__cu_fwd_abs(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_ABS, 1.0f);
}
extern "C" int ntg__cu_bwd_abs(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_ABS, 0, 1.0f);
}
extern "C" int ntg__cu_fwd_sqrt(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_SQRT, 1.0f);
}
extern "C" int ntg__cu_bwd_sqrt(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_SQRT, 1, 1.0f);
}
extern "C" int ntg__cu_fwd_softplus(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_SOFTPLUS, 1.0f);
}
extern "C" int ntg__cu_bwd_softplus(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_SOFTPLUS, 0, 1.0f);
}
extern "C" int ntg__cu_fwd_identity(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_NONE, 1.0f);
}
extern "C" int ntg__cu_bwd_identity(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_NONE, -1, 1.0f);
}
extern "C" int ntg__cu_fwd_scale(const ntg__cu_ctx *c)
{
    return unary_fwd(c, U_SCALE, scale_factor(c));
}
extern "C" int ntg__cu_bwd_scale(const ntg__cu_ctx *c)
{
    return unary_bwd(c, U_SCALE, -1, scale_factor(c));
}

/* ---------------------------------------------------------- broadcasting */

namespace {

struct bc_fwd {
    int rank, op;
    int64_t dims[NTG_MAX_RANK], sa[NTG_MAX_RANK], sb[NTG_MAX_RANK], n;
};

__global__ void k_bcast_fwd(bc_fwd g, const float *a, const float *b, float *y)
{
    GRID_LOOP(i, g.n)
    {
        int64_t r = i, oa = 0, ob = 0;
        for (int k = g.rank - 1; k >= 0; k--) {
            int64_t ix = r % g.dims[k];
            r /= g.dims[k];
            oa += ix * g.sa[k];
            ob += ix * g.sb[k];
        }
        float av = a[oa], bv = b[ob];
        y[i] = g.op == NTG_BC_ADD ? av + bv : g.op == NTG_BC_SUB ? av - bv : av * bv;
    }
}

int bcast_fwd(const ntg__cu_ctx *c, int op)
{
    ntg_bcast it;
    ntg__bcast_init(&it, &c->in[0].d, &c->in[1].d, &c->out[0].d);
    bc_fwd g;
    memset(&g, 0, sizeof g);
    g.rank = it.rank;
    g.op = op;
    g.n = 1;
    for (int k = 0; k < it.rank; k++) {
        g.dims[k] = it.dims[k];
        g.sa[k] = it.st[0][k];
        g.sb[k] = it.st[1][k];
        g.n *= it.dims[k];
    }
    if (numel(&c->out[0]) <= 0) return 0;
    k_bcast_fwd<<<blocks_for(g.n), THREADS, 0, c->stream>>>(g, fp(&c->in[0]), fp(&c->in[1]),
                                                            fp(&c->out[0]));
    return launched(c, "broadcast forward");
}

/* The gradient of one operand: its own axes (kept) index the threads, the axes it was
 * broadcast along (red) are summed in output order, in double. */
struct bc_grad {
    int nk, nr, op, k;
    int64_t kd[NTG_MAX_RANK], ky[NTG_MAX_RANK], kg[NTG_MAX_RANK], ko[NTG_MAX_RANK];
    int64_t rd[NTG_MAX_RANK], ry[NTG_MAX_RANK], ro[NTG_MAX_RANK];
    int64_t n, nred;
};

__global__ void k_bcast_grad(bc_grad g, const float *dy, const float *other, float *gr)
{
    GRID_LOOP(i, g.n)
    {
        int64_t r = i, oy = 0, og = 0, oo = 0;
        for (int k = g.nk - 1; k >= 0; k--) {
            int64_t ix = r % g.kd[k];
            r /= g.kd[k];
            oy += ix * g.ky[k];
            og += ix * g.kg[k];
            oo += ix * g.ko[k];
        }
        double s = 0.0;
        for (int64_t q = 0; q < g.nred; q++) {
            int64_t rr = q, py = oy, po = oo;
            for (int k = g.nr - 1; k >= 0; k--) {
                int64_t ix = rr % g.rd[k];
                rr /= g.rd[k];
                py += ix * g.ry[k];
                po += ix * g.ro[k];
            }
            double v = (double)dy[py];
            if (g.op == NTG_BC_MUL) v *= (double)other[po];
            s += v;
        }
        if (g.op == NTG_BC_SUB && g.k == 1) s = -s;
        gr[og] = (float)s;
    }
}

int bcast_grad(const ntg__cu_ctx *c, int op, int k)
{
    const ntg_view *gv = &c->out[k];
    const float *dy = fp(&c->in[3]);
    if (!gv->data) return 0;
    if (!dy) return zero_view(c, gv);
    if (numel(gv) <= 0) return 0;
    ntg_bcast it;
    ntg__bcast_init(&it, &c->in[0].d, &c->in[1].d, &c->in[3].d);
    int64_t ost[NTG_MAX_RANK], s = 1;
    for (int a = it.rank - 1; a >= 0; a--) {
        ost[a] = s;
        s *= it.dims[a];
    }
    bc_grad g;
    memset(&g, 0, sizeof g);
    g.op = op;
    g.k = k;
    g.n = g.nred = 1;
    for (int a = 0; a < it.rank; a++) {
        if (it.st[k][a] != 0 || it.dims[a] == 1) {
            g.kd[g.nk] = it.dims[a];
            g.ky[g.nk] = ost[a];
            g.kg[g.nk] = it.st[k][a];
            g.ko[g.nk] = it.st[1 - k][a];
            g.n *= it.dims[a];
            g.nk++;
        } else {
            g.rd[g.nr] = it.dims[a];
            g.ry[g.nr] = ost[a];
            g.ro[g.nr] = it.st[1 - k][a];
            g.nred *= it.dims[a];
            g.nr++;
        }
    }
    k_bcast_grad<<<blocks_for(g.n), THREADS, 0, c->stream>>>(g, dy, fp(&c->in[1 - k]), fp(gv));
    return launched(c, "broadcast gradient");
}

int bcast_bwd(const ntg__cu_ctx *c, int op)
{
    if (bcast_grad(c, op, 0)) return -1;
    return bcast_grad(c, op, 1);
}

} // namespace

extern "C" int ntg__cu_fwd_add(const ntg__cu_ctx *c)
{
    return bcast_fwd(c, NTG_BC_ADD);
}
extern "C" int ntg__cu_fwd_sub(const ntg__cu_ctx *c)
{
    return bcast_fwd(c, NTG_BC_SUB);
}
extern "C" int ntg__cu_fwd_mul(const ntg__cu_ctx *c)
{
    return bcast_fwd(c, NTG_BC_MUL);
}
extern "C" int ntg__cu_bwd_add(const ntg__cu_ctx *c)
{
    return bcast_bwd(c, NTG_BC_ADD);
}
extern "C" int ntg__cu_bwd_sub(const ntg__cu_ctx *c)
{
    return bcast_bwd(c, NTG_BC_SUB);
}
extern "C" int ntg__cu_bwd_mul(const ntg__cu_ctx *c)
{
    return bcast_bwd(c, NTG_BC_MUL);
}

/* ------------------------------------------------------------------ layout */

namespace {

/* flip along axis: dst[o, len-1-l, i] = src[o, l, i] */
int flip_copy(const ntg__cu_ctx *c, const float *src, float *dst, axis3 s)
{
    strided g;
    memset(&g, 0, sizeof g);
    g.rank = 3;
    g.dims[0] = s.outer;
    g.dims[1] = s.len;
    g.dims[2] = s.inner;
    g.ss[0] = g.ds[0] = s.len * s.inner;
    g.ss[1] = s.inner;
    g.ds[1] = -s.inner;
    g.ss[2] = g.ds[2] = 1;
    g.doff = (s.len - 1) * s.inner;
    return copy_strided(c, g, src, dst);
}

int flip_axis(const ntg__cu_ctx *c, const ntg_tdesc *d)
{
    return ntg__axis(ntg__attr_i(c->attr, NTG_FLIP_AXIS), d->rank);
}

/* x [outer, len, inner] <-> y [outer, nout, inner] at s0, s0 + step, ... */
strided slice_map(const ntg__cu_ctx *c, const ntg_tdesc *x, const ntg_tdesc *y, int to_y)
{
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_SLICE_AXIS), x->rank);
    int64_t s0, cnt;
    ntg__slice_range(x->dims[ax], ntg__attr_i(c->attr, NTG_SLICE_START),
                     ntg__attr_i(c->attr, NTG_SLICE_END), &s0, &cnt);
    int64_t step = ntg__attr_i(c->attr, NTG_SLICE_STEP), nout = y->dims[ax];
    axis3 s = around(x, ax);
    strided g;
    memset(&g, 0, sizeof g);
    g.rank = 3;
    g.dims[0] = s.outer;
    g.dims[1] = nout;
    g.dims[2] = s.inner;
    int64_t *xs = to_y ? g.ss : g.ds, *ys = to_y ? g.ds : g.ss;
    xs[0] = s.len * s.inner;
    xs[1] = step * s.inner;
    xs[2] = 1;
    ys[0] = nout * s.inner;
    ys[1] = s.inner;
    ys[2] = 1;
    if (to_y)
        g.soff = s0 * s.inner;
    else
        g.doff = s0 * s.inner;
    return g;
}

/* dst (contiguous, shape of src permuted) = src permuted by perm. */
int permute(const ntg__cu_ctx *c, const float *src, const ntg_tdesc *sd, const int *perm,
            float *dst)
{
    strided g;
    memset(&g, 0, sizeof g);
    int64_t sst[NTG_MAX_RANK], s = 1;
    for (int i = sd->rank - 1; i >= 0; i--) {
        sst[i] = s;
        s *= sd->dims[i];
    }
    g.rank = sd->rank;
    int64_t d = 1;
    for (int i = sd->rank - 1; i >= 0; i--) {
        g.dims[i] = sd->dims[perm[i]];
        g.ss[i] = sst[perm[i]];
        g.ds[i] = d;
        d *= g.dims[i];
    }
    if (g.rank == 0) return copy_dev(c, dst, src, 1);
    return copy_strided(c, g, src, dst);
}

void perm_of(const ntg__cu_ctx *c, int *perm)
{
    int64_t n;
    const ntg_attr *p = ntg__attr_list(c->attr, NTG_TRANSPOSE_PERM, &n);
    for (int64_t i = 0; i < n && i < NTG_MAX_RANK; i++) perm[i] = (int)p[i].i;
}

/* [outer, run] blocks of a piece <-> [outer, total] rows of the whole at column `at`. */
strided slab(int64_t outer, int64_t run, int64_t total, int64_t at, int to_whole)
{
    strided g;
    memset(&g, 0, sizeof g);
    g.rank = 2;
    g.dims[0] = outer;
    g.dims[1] = run;
    int64_t *ps = to_whole ? g.ss : g.ds, *ws = to_whole ? g.ds : g.ss;
    ps[0] = run;
    ps[1] = 1;
    ws[0] = total;
    ws[1] = 1;
    if (to_whole)
        g.doff = at;
    else
        g.soff = at;
    return g;
}

} // namespace

extern "C" int ntg__cu_fwd_flip(const ntg__cu_ctx *c)
{
    const ntg_tdesc *d = &c->in[0].d;
    return flip_copy(c, fp(&c->in[0]), fp(&c->out[0]), around(d, flip_axis(c, d)));
}

extern "C" int ntg__cu_bwd_flip(const ntg__cu_ctx *c)
{
    const ntg_tdesc *d = &c->in[0].d;
    if (!c->out[0].data) return 0;
    if (!c->in[2].data) return zero_view(c, &c->out[0]);
    return flip_copy(c, fp(&c->in[2]), fp(&c->out[0]), around(d, flip_axis(c, d)));
}

extern "C" int ntg__cu_fwd_slice(const ntg__cu_ctx *c)
{
    return copy_strided(c, slice_map(c, &c->in[0].d, &c->out[0].d, 1), fp(&c->in[0]),
                        fp(&c->out[0]));
}

extern "C" int ntg__cu_bwd_slice(const ntg__cu_ctx *c)
{
    if (!c->out[0].data) return 0;
    if (zero_view(c, &c->out[0])) return -1;
    if (!c->in[2].data) return 0;
    return copy_strided(c, slice_map(c, &c->in[0].d, &c->in[1].d, 0), fp(&c->in[2]),
                        fp(&c->out[0]));
}

extern "C" int ntg__cu_fwd_reshape(const ntg__cu_ctx *c)
{
    return copy_dev(c, fp(&c->out[0]), fp(&c->in[0]), numel(&c->out[0]));
}

extern "C" int ntg__cu_bwd_reshape(const ntg__cu_ctx *c)
{
    if (!c->out[0].data) return 0;
    if (!c->in[2].data) return zero_view(c, &c->out[0]);
    return copy_dev(c, fp(&c->out[0]), fp(&c->in[2]), numel(&c->in[0]));
}

extern "C" int ntg__cu_fwd_concat(const ntg__cu_ctx *c)
{
    const ntg_tdesc *yd = &c->out[0].d;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_CONCAT_AXIS), yd->rank);
    axis3 sy = around(yd, ax);
    int64_t at = 0;
    for (int i = 0; i < c->n_in; i++) {
        axis3 si = around(&c->in[i].d, ax);
        strided g = slab(sy.outer, si.len * si.inner, sy.len * sy.inner, at * sy.inner, 1);
        if (copy_strided(c, g, fp(&c->in[i]), fp(&c->out[0]))) return -1;
        at += si.len;
    }
    return 0;
}

extern "C" int ntg__cu_bwd_concat(const ntg__cu_ctx *c)
{
    int nfi = c->n_out;
    const ntg_tdesc *yd = &c->in[nfi].d;
    const float *dy = fp(&c->in[nfi + 1]);
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_CONCAT_AXIS), yd->rank);
    axis3 sy = around(yd, ax);
    int64_t at = 0;
    for (int i = 0; i < nfi; i++) {
        axis3 si = around(&c->in[i].d, ax);
        float *dx = fp(&c->out[i]);
        if (dx && !dy && zero_view(c, &c->out[i])) return -1;
        if (dx && dy) {
            strided g = slab(sy.outer, si.len * si.inner, sy.len * sy.inner, at * sy.inner, 0);
            if (copy_strided(c, g, dy, dx)) return -1;
        }
        at += si.len;
    }
    return 0;
}

extern "C" int ntg__cu_fwd_split(const ntg__cu_ctx *c)
{
    const ntg_tdesc *xd = &c->in[0].d;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_SPLIT_AXIS), xd->rank);
    axis3 s = around(xd, ax);
    int64_t at = 0;
    for (int j = 0; j < c->n_out; j++) {
        int64_t len = c->out[j].d.dims[ax];
        strided g = slab(s.outer, len * s.inner, s.len * s.inner, at * s.inner, 0);
        if (copy_strided(c, g, fp(&c->in[0]), fp(&c->out[j]))) return -1;
        at += len;
    }
    return 0;
}

extern "C" int ntg__cu_bwd_split(const ntg__cu_ctx *c)
{
    const ntg_tdesc *xd = &c->in[0].d;
    float *dx = fp(&c->out[0]);
    int nfo = (c->n_in - 1) / 2;
    if (!dx) return 0;
    int ax = ntg__axis(ntg__attr_i(c->attr, NTG_SPLIT_AXIS), xd->rank);
    axis3 s = around(xd, ax);
    int64_t at = 0;
    for (int j = 0; j < nfo; j++) {
        int64_t len = c->in[1 + j].d.dims[ax];
        const float *dy = fp(&c->in[1 + nfo + j]);
        strided g = slab(s.outer, len * s.inner, s.len * s.inner, at * s.inner, 1);
        if (dy) {
            if (copy_strided(c, g, dy, dx)) return -1;
        } else {
            /* zeros for the piece: a strided copy of nothing is a fill; do it per row */
            for (int64_t o = 0; o < s.outer; o++)
                if (fill(c, dx + o * s.len * s.inner + at * s.inner, len * s.inner, 0.0f))
                    return -1;
        }
        at += len;
    }
    return 0;
}

extern "C" int ntg__cu_fwd_transpose(const ntg__cu_ctx *c)
{
    int perm[NTG_MAX_RANK] = {0};
    perm_of(c, perm);
    return permute(c, fp(&c->in[0]), &c->in[0].d, perm, fp(&c->out[0]));
}

extern "C" int ntg__cu_bwd_transpose(const ntg__cu_ctx *c)
{
    const ntg_tdesc *yd = &c->in[1].d;
    float *dx = fp(&c->out[0]);
    if (!dx) return 0;
    if (!c->in[2].data) return zero_view(c, &c->out[0]);
    int perm[NTG_MAX_RANK] = {0}, inv[NTG_MAX_RANK] = {0};
    perm_of(c, perm);
    for (int i = 0; i < yd->rank; i++) inv[perm[i]] = i;
    return permute(c, fp(&c->in[2]), yd, inv, dx);
}

/* ----------------------------------------------------------------- reduce */

namespace {

enum { R_SUM, R_MEAN, R_MAX };

axis3 red_of(const ntg__cu_ctx *c)
{
    const ntg_tdesc *d = &c->in[0].d;
    return around(d, ntg__axis(ntg__attr_i(c->attr, NTG_REDUCE_AXIS), d->rank));
}

__device__ int beats(float v, float m)
{
    return v > m || (v != v && m == m);
}

__global__ void k_reduce_fwd(int kind, const float *x, float *y, axis3 g)
{
    GRID_LOOP(q, g.outer * g.inner)
    {
        int64_t o = q / g.inner, i = q % g.inner;
        const float *xo = x + o * g.len * g.inner + i;
        if (kind == R_MAX) {
            float m = xo[0];
            for (int64_t l = 1; l < g.len; l++)
                if (beats(xo[l * g.inner], m)) m = xo[l * g.inner];
            y[q] = m;
        } else {
            double s = 0.0;
            for (int64_t l = 0; l < g.len; l++) s += (double)xo[l * g.inner];
            y[q] = (float)(kind == R_MEAN ? s / (double)g.len : s);
        }
    }
}

__global__ void k_reduce_sum_bwd(int mean, const float *dy, float *dx, axis3 g)
{
    GRID_LOOP(e, g.outer * g.len * g.inner)
    {
        int64_t i = e % g.inner, o = e / (g.len * g.inner);
        float v = dy[o * g.inner + i];
        dx[e] = mean ? v / (float)g.len : v;
    }
}

__global__ void k_reduce_max_bwd(const float *x, const float *y, const float *dy, float *dx,
                                 axis3 g)
{
    GRID_LOOP(q, g.outer * g.inner)
    {
        int64_t o = q / g.inner, i = q % g.inner, at = o * g.len * g.inner + i;
        float m = y[q];
        for (int64_t l = 0; l < g.len; l++) {
            float v = x[at + l * g.inner];
            if (v == m || (v != v && m != m)) {
                dx[at + l * g.inner] = dy[q];
                break;
            }
        }
    }
}

int reduce_fwd(const ntg__cu_ctx *c, int kind)
{
    axis3 g = red_of(c);
    if (g.outer * g.inner <= 0) return 0;
    k_reduce_fwd<<<blocks_for(g.outer * g.inner), THREADS, 0, c->stream>>>(kind, fp(&c->in[0]),
                                                                           fp(&c->out[0]), g);
    return launched(c, "reduction");
}

int reduce_sum_bwd(const ntg__cu_ctx *c, int mean)
{
    float *dx = fp(&c->out[0]);
    if (!dx) return 0;
    if (!c->in[2].data) return zero_view(c, &c->out[0]);
    axis3 g = red_of(c);
    int64_t n = g.outer * g.len * g.inner;
    if (n <= 0) return 0;
    k_reduce_sum_bwd<<<blocks_for(n), THREADS, 0, c->stream>>>(mean, fp(&c->in[2]), dx, g);
    return launched(c, "reduction gradient");
}

} // namespace

extern "C" int ntg__cu_fwd_reduce_sum(const ntg__cu_ctx *c)
{
    return reduce_fwd(c, R_SUM);
}
extern "C" int ntg__cu_fwd_reduce_mean(const ntg__cu_ctx *c)
{
    return reduce_fwd(c, R_MEAN);
}
extern "C" int ntg__cu_fwd_reduce_max(const ntg__cu_ctx *c)
{
    return reduce_fwd(c, R_MAX);
}
extern "C" int ntg__cu_bwd_reduce_sum(const ntg__cu_ctx *c)
{
    return reduce_sum_bwd(c, 0);
}
extern "C" int ntg__cu_bwd_reduce_mean(const ntg__cu_ctx *c)
{
    return reduce_sum_bwd(c, 1);
}
extern "C" int ntg__cu_bwd_reduce_max(const ntg__cu_ctx *c)
{
    float *dx = fp(&c->out[0]);
    if (!dx) return 0;
    if (zero_view(c, &c->out[0])) return -1;
    if (!c->in[2].data) return 0;
    axis3 g = red_of(c);
    if (g.outer * g.inner <= 0) return 0;
    k_reduce_max_bwd<<<blocks_for(g.outer * g.inner), THREADS, 0, c->stream>>>(
        fp(&c->in[0]), fp(&c->in[1]), fp(&c->in[2]), dx, g);
    return launched(c, "reduce_max gradient");
}

/* ------------------------------------------------------- softmax, layernorm */

namespace {

const int WARP = 32;
const int LINES_PER_BLOCK = THREADS / WARP;

__device__ double warp_sum(double v)
{
    for (int o = WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ float warp_max(float v)
{
    for (int o = WARP / 2; o > 0; o /= 2) {
        float w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    return v;
}

unsigned line_blocks(int64_t lines)
{
    int64_t b = (lines + LINES_PER_BLOCK - 1) / LINES_PER_BLOCK;
    if (b < 1) b = 1;
    return (unsigned)(b > 65535 ? 65535 : b);
}

/* One warp per line of [outer, len, inner] (line (o, i) starts at o len inner + i, steps by
 * inner).  The max keeps every exp(x - max) in (0, 1]: stable at any offset of x. */
__global__ void k_softmax_fwd(const float *x, float *y, axis3 g, int log_form)
{
    int lane = (int)(threadIdx.x % WARP);
    int64_t nlines = g.outer * g.inner;
    for (int64_t q = (int64_t)blockIdx.x * LINES_PER_BLOCK + threadIdx.x / WARP; q < nlines;
         q += (int64_t)gridDim.x * LINES_PER_BLOCK) {
        int64_t o = q / g.inner, i = q % g.inner, st = g.inner, base = o * g.len * g.inner + i;
        const float *xl = x + base;
        float *yl = y + base;
        float mx = -INFINITY;
        for (int64_t l = lane; l < g.len; l += WARP) mx = xl[l * st] > mx ? xl[l * st] : mx;
        mx = warp_max(mx);
        double m = (double)mx, s = 0.0;
        for (int64_t l = lane; l < g.len; l += WARP) s += exp((double)xl[l * st] - m);
        s = warp_sum(s);
        if (log_form) {
            double lse = m + log(s);
            for (int64_t l = lane; l < g.len; l += WARP)
                yl[l * st] = (float)((double)xl[l * st] - lse);
        } else {
            double inv = 1.0 / s;
            for (int64_t l = lane; l < g.len; l += WARP)
                yl[l * st] = (float)((double)(float)exp((double)xl[l * st] - m) * inv);
        }
    }
}

__global__ void k_softmax_bwd(const float *y, const float *dy, float *dx, axis3 g, int log_form)
{
    int lane = (int)(threadIdx.x % WARP);
    int64_t nlines = g.outer * g.inner;
    for (int64_t q = (int64_t)blockIdx.x * LINES_PER_BLOCK + threadIdx.x / WARP; q < nlines;
         q += (int64_t)gridDim.x * LINES_PER_BLOCK) {
        int64_t o = q / g.inner, i = q % g.inner, st = g.inner, base = o * g.len * g.inner + i;
        const float *yl = y + base, *gl = dy + base;
        float *dl = dx + base;
        double s = 0.0;
        for (int64_t l = lane; l < g.len; l += WARP)
            s += log_form ? (double)gl[l * st] : (double)gl[l * st] * (double)yl[l * st];
        s = warp_sum(s);
        for (int64_t l = lane; l < g.len; l += WARP) {
            double yv = (double)yl[l * st], gv = (double)gl[l * st];
            dl[l * st] = (float)(log_form ? gv - exp(yv) * s : yv * (gv - s));
        }
    }
}

axis3 softmax_lines(const ntg__cu_ctx *c, const ntg_tdesc *d)
{
    return around(d, ntg__axis(ntg__attr_i(c->attr, NTG_SOFTMAX_AXIS), d->rank));
}

int softmax_fwd(const ntg__cu_ctx *c, int log_form)
{
    axis3 g = softmax_lines(c, &c->in[0].d);
    if (g.outer * g.inner <= 0 || g.len <= 0) return 0;
    k_softmax_fwd<<<line_blocks(g.outer * g.inner), THREADS, 0, c->stream>>>(
        fp(&c->in[0]), fp(&c->out[0]), g, log_form);
    return launched(c, "softmax");
}

int softmax_bwd(const ntg__cu_ctx *c, int log_form)
{
    float *dx = fp(&c->out[0]);
    if (!dx) return 0;
    if (!c->in[2].data) return zero_view(c, &c->out[0]);
    axis3 g = softmax_lines(c, &c->in[1].d);
    if (g.outer * g.inner <= 0 || g.len <= 0) return 0;
    k_softmax_bwd<<<line_blocks(g.outer * g.inner), THREADS, 0, c->stream>>>(
        fp(&c->in[1]), fp(&c->in[2]), dx, g, log_form);
    return launched(c, "softmax gradient");
}

/* Row statistics, two passes (no cancellation), one warp per row; stats[2r] = mean,
 * stats[2r + 1] = 1 / sqrt(biased variance + eps) when stats is given. */
__device__ void row_stats(const float *xr, int64_t d, double eps, int lane, double *mean,
                          double *rstd)
{
    double s = 0.0;
    for (int64_t j = lane; j < d; j += WARP) s += (double)xr[j];
    s = warp_sum(s) / (double)d;
    double v = 0.0;
    for (int64_t j = lane; j < d; j += WARP) {
        double e = (double)xr[j] - s;
        v += e * e;
    }
    v = warp_sum(v);
    *mean = s;
    *rstd = 1.0 / sqrt(v / (double)d + eps);
}

__global__ void k_layernorm_fwd(const float *x, const float *w, const float *b, float *y,
                                int64_t rows, int64_t d, double eps)
{
    int lane = (int)(threadIdx.x % WARP);
    for (int64_t r = (int64_t)blockIdx.x * LINES_PER_BLOCK + threadIdx.x / WARP; r < rows;
         r += (int64_t)gridDim.x * LINES_PER_BLOCK) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        double mean, rstd;
        row_stats(xr, d, eps, lane, &mean, &rstd);
        for (int64_t j = lane; j < d; j += WARP) {
            double v = ((double)xr[j] - mean) * rstd;
            yr[j] = (float)(w ? v * (double)w[j] + (double)b[j] : v);
        }
    }
}

/* dx per row (one warp), and the row statistics for the column sums that follow. */
__global__ void k_layernorm_bwd(const float *x, const float *w, const float *dy, float *dx,
                                double *stats, int64_t rows, int64_t d, double eps)
{
    int lane = (int)(threadIdx.x % WARP);
    for (int64_t r = (int64_t)blockIdx.x * LINES_PER_BLOCK + threadIdx.x / WARP; r < rows;
         r += (int64_t)gridDim.x * LINES_PER_BLOCK) {
        const float *xr = x + r * d, *gr = dy + r * d;
        double mean, rstd;
        row_stats(xr, d, eps, lane, &mean, &rstd);
        if (stats && lane == 0) {
            stats[2 * r] = mean;
            stats[2 * r + 1] = rstd;
        }
        if (!dx) continue;
        double sg = 0.0, sgx = 0.0;
        for (int64_t j = lane; j < d; j += WARP) {
            double g = w ? (double)gr[j] * (double)w[j] : (double)gr[j];
            sg += g;
            sgx += g * (((double)xr[j] - mean) * rstd);
        }
        sg = warp_sum(sg) / (double)d;
        sgx = warp_sum(sgx) / (double)d;
        float *dr = dx + r * d;
        for (int64_t j = lane; j < d; j += WARP) {
            double g = w ? (double)gr[j] * (double)w[j] : (double)gr[j];
            dr[j] = (float)(rstd * (g - sg - ((double)xr[j] - mean) * rstd * sgx));
        }
    }
}

/* dweight[j] = sum_r dy xhat, dbias[j] = sum_r dy, in row order, in double. */
__global__ void k_layernorm_dwb(const float *x, const float *dy, const double *stats, float *dw,
                                float *db, int64_t rows, int64_t d)
{
    GRID_LOOP(j, d)
    {
        double aw = 0.0, ab = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            double g = (double)dy[r * d + j];
            aw += g * (((double)x[r * d + j] - stats[2 * r]) * stats[2 * r + 1]);
            ab += g;
        }
        if (dw) dw[j] = (float)aw;
        if (db) db[j] = (float)ab;
    }
}

} // namespace

extern "C" int ntg__cu_fwd_softmax(const ntg__cu_ctx *c)
{
    return softmax_fwd(c, 0);
}
extern "C" int ntg__cu_fwd_log_softmax(const ntg__cu_ctx *c)
{
    return softmax_fwd(c, 1);
}
extern "C" int ntg__cu_bwd_softmax(const ntg__cu_ctx *c)
{
    return softmax_bwd(c, 0);
}
extern "C" int ntg__cu_bwd_log_softmax(const ntg__cu_ctx *c)
{
    return softmax_bwd(c, 1);
}

extern "C" int ntg__cu_fwd_layernorm(const ntg__cu_ctx *c)
{
    const ntg_tdesc *xd = &c->in[0].d;
    const float *w = c->n_in == 3 ? fp(&c->in[1]) : NULL, *b = c->n_in == 3 ? fp(&c->in[2]) : NULL;
    int64_t d = xd->dims[xd->rank - 1], rows = d > 0 ? ntg__tdesc_numel(xd) / d : 0;
    if (rows <= 0) return 0;
    k_layernorm_fwd<<<line_blocks(rows), THREADS, 0, c->stream>>>(
        fp(&c->in[0]), w, b, fp(&c->out[0]), rows, d, ntg__attr_f(c->attr, NTG_LAYERNORM_EPS));
    return launched(c, "layernorm");
}

/* in = [x, (weight, bias), y, dy], out = [dx, (dweight, dbias)] (k_norm.c). */
extern "C" int ntg__cu_bwd_layernorm(const ntg__cu_ctx *c)
{
    int nfi = c->n_out;
    const ntg_tdesc *xd = &c->in[0].d;
    const float *x = fp(&c->in[0]), *w = nfi == 3 ? fp(&c->in[1]) : NULL;
    const float *dy = fp(&c->in[nfi + 1]);
    float *dx = fp(&c->out[0]), *dw = nfi == 3 ? fp(&c->out[1]) : NULL;
    float *db = nfi == 3 ? fp(&c->out[2]) : NULL;
    if (!dy) {
        for (int i = 0; i < nfi; i++)
            if (zero_view(c, &c->out[i])) return -1;
        return 0;
    }
    double eps = ntg__attr_f(c->attr, NTG_LAYERNORM_EPS);
    int64_t d = xd->dims[xd->rank - 1], rows = d > 0 ? ntg__tdesc_numel(xd) / d : 0;
    if (rows <= 0) return 0;
    double *stats = (dw || db) ? (double *)c->scratch : NULL;
    k_layernorm_bwd<<<line_blocks(rows), THREADS, 0, c->stream>>>(x, w, dy, dx, stats, rows, d,
                                                                  eps);
    if (launched(c, "layernorm gradient")) return -1;
    if (!stats) return 0;
    k_layernorm_dwb<<<blocks_for(d), THREADS, 0, c->stream>>>(x, dy, stats, dw, db, rows, d);
    return launched(c, "layernorm parameter gradients");
}

/* ---------------------------------------------------------------- maxpool */

namespace {

struct pool_g {
    int64_t rows, len, nout, k, s, pad;
};

pool_g pool_of(const ntg__cu_ctx *c, const ntg_tdesc *x, const ntg_tdesc *y)
{
    pool_g g;
    g.len = x->dims[x->rank - 1];
    g.nout = y->dims[y->rank - 1];
    g.rows = g.len > 0 ? ntg__tdesc_numel(x) / g.len : 0;
    g.k = ntg__attr_i(c->attr, NTG_POOL_KERNEL);
    g.s = ntg__attr_i(c->attr, NTG_POOL_STRIDE);
    if (g.s == 0) g.s = g.k;
    g.pad = ntg__attr_i(c->attr, NTG_POOL_PAD);
    return g;
}

__device__ int64_t window_argmax(const float *xr, const pool_g &g, int64_t o)
{
    int64_t lo = o * g.s - g.pad, hi = lo + g.k;
    if (lo < 0) lo = 0;
    if (hi > g.len) hi = g.len;
    int64_t best = lo;
    float m = xr[lo];
    for (int64_t i = lo + 1; i < hi; i++)
        if (xr[i] > m || xr[i] != xr[i]) {
            m = xr[i];
            best = i;
        }
    return best;
}

__global__ void k_pool_fwd(const float *x, float *y, pool_g g)
{
    GRID_LOOP(q, g.rows * g.nout)
    {
        int64_t r = q / g.nout, o = q % g.nout;
        const float *xr = x + r * g.len;
        y[q] = xr[window_argmax(xr, g, o)];
    }
}

/* dx[i] = sum of dy over the windows whose first maximum is i, in window order. */
__global__ void k_pool_bwd(const float *x, const float *dy, float *dx, pool_g g)
{
    GRID_LOOP(e, g.rows * g.len)
    {
        int64_t r = e / g.len, i = e % g.len;
        const float *xr = x + r * g.len;
        /* windows o with o s - pad <= i < o s - pad + k */
        int64_t ohi = (i + g.pad) / g.s, olo = i + g.pad - g.k + 1;
        olo = olo <= 0 ? 0 : (olo + g.s - 1) / g.s;
        if (ohi > g.nout - 1) ohi = g.nout - 1;
        float acc = 0.0f;
        for (int64_t o = olo; o <= ohi; o++)
            if (window_argmax(xr, g, o) == i) acc += dy[r * g.nout + o];
        dx[e] = acc;
    }
}

} // namespace

extern "C" int ntg__cu_fwd_maxpool1d(const ntg__cu_ctx *c)
{
    pool_g g = pool_of(c, &c->in[0].d, &c->out[0].d);
    if (g.rows * g.nout <= 0) return 0;
    k_pool_fwd<<<blocks_for(g.rows * g.nout), THREADS, 0, c->stream>>>(fp(&c->in[0]),
                                                                       fp(&c->out[0]), g);
    return launched(c, "maxpool1d");
}

extern "C" int ntg__cu_bwd_maxpool1d(const ntg__cu_ctx *c)
{
    float *dx = fp(&c->out[0]);
    if (!dx) return 0;
    if (!c->in[2].data) return zero_view(c, &c->out[0]);
    pool_g g = pool_of(c, &c->in[0].d, &c->in[1].d);
    if (g.rows * g.len <= 0) return 0;
    k_pool_bwd<<<blocks_for(g.rows * g.len), THREADS, 0, c->stream>>>(fp(&c->in[0]),
                                                                      fp(&c->in[2]), dx, g);
    return launched(c, "maxpool1d gradient");
}

/* ----------------------------------------------------------- interp_linear */

namespace {

struct interp_g {
    int64_t rows, in, size;
    int align;
    float scale;
};

interp_g interp_of(const ntg__cu_ctx *c, const ntg_tdesc *x, const ntg_tdesc *y)
{
    interp_g g;
    g.in = x->dims[x->rank - 1];
    g.size = y->dims[y->rank - 1];
    g.rows = g.in > 0 ? ntg__tdesc_numel(x) / g.in : 0;
    g.align = (int)ntg__attr_i(c->attr, NTG_INTERP_ALIGN);
    if (g.align)
        g.scale = g.size > 1 ? (float)(g.in - 1) / (float)(g.size - 1) : 0.0f;
    else
        g.scale = (float)g.in / (float)g.size;
    return g;
}

/* ATen's source index in float (k_interp.c); no FMA contraction, so the float arithmetic
 * rounds as the reference's does. */
__device__ void interp_src(const interp_g &g, int64_t t, int64_t *i0, int64_t *i1, float *w1)
{
    if (g.in == g.size) {
        *i0 = *i1 = t;
        *w1 = 0.0f;
        return;
    }
    float src;
    if (g.align) {
        src = __fmul_rn(g.scale, (float)t);
    } else {
        src = __fsub_rn(__fmul_rn(g.scale, __fadd_rn((float)t, 0.5f)), 0.5f);
        if (src < 0.0f) src = 0.0f;
    }
    int64_t i = (int64_t)floorf(src);
    if (i > g.in - 1) i = g.in - 1;
    float w = src - (float)i;
    if (w < 0.0f) w = 0.0f;
    if (w > 1.0f) w = 1.0f;
    *i0 = i;
    *i1 = i < g.in - 1 ? i + 1 : i;
    *w1 = w;
}

__global__ void k_interp_fwd(const float *x, float *y, interp_g g)
{
    GRID_LOOP(q, g.rows * g.size)
    {
        int64_t r = q / g.size, t = q % g.size, i0, i1;
        float w1;
        interp_src(g, t, &i0, &i1, &w1);
        const float *xr = x + r * g.in;
        y[q] = __fadd_rn(__fmul_rn(1.0f - w1, xr[i0]), __fmul_rn(w1, xr[i1]));
    }
}

/* One thread per row, outputs in order: the reference's accumulation order exactly. */
__global__ void k_interp_bwd(const float *dy, float *dx, interp_g g)
{
    GRID_LOOP(r, g.rows)
    {
        const float *dyr = dy + r * g.size;
        float *dxr = dx + r * g.in;
        for (int64_t i = 0; i < g.in; i++) dxr[i] = 0.0f;
        for (int64_t t = 0; t < g.size; t++) {
            int64_t i0, i1;
            float w1;
            interp_src(g, t, &i0, &i1, &w1);
            dxr[i0] = __fadd_rn(dxr[i0], __fmul_rn(1.0f - w1, dyr[t]));
            dxr[i1] = __fadd_rn(dxr[i1], __fmul_rn(w1, dyr[t]));
        }
    }
}

} // namespace

extern "C" int ntg__cu_fwd_interp_linear(const ntg__cu_ctx *c)
{
    interp_g g = interp_of(c, &c->in[0].d, &c->out[0].d);
    if (g.rows * g.size <= 0) return 0;
    k_interp_fwd<<<blocks_for(g.rows * g.size), THREADS, 0, c->stream>>>(fp(&c->in[0]),
                                                                         fp(&c->out[0]), g);
    return launched(c, "interp_linear");
}

extern "C" int ntg__cu_bwd_interp_linear(const ntg__cu_ctx *c)
{
    float *dx = fp(&c->out[0]);
    if (!dx) return 0;
    if (!c->in[2].data) return zero_view(c, &c->out[0]);
    interp_g g = interp_of(c, &c->in[0].d, &c->in[1].d);
    if (g.rows <= 0) return 0;
    k_interp_bwd<<<blocks_for(g.rows), THREADS, 0, c->stream>>>(fp(&c->in[2]), dx, g);
    return launched(c, "interp_linear gradient");
}

/* ------------------------------------------------------------------ losses */

namespace {

enum { L_MSE, L_MAE, L_HUBER, L_PINBALL };

struct loss_g {
    int kind;
    int64_t outer, nq, inner;
    double delta;
    double q[MAX_Q];
};

int loss_of(const ntg__cu_ctx *c, int kind, loss_g *g)
{
    const ntg_tdesc *y = &c->in[0].d;
    memset(g, 0, sizeof *g);
    g->kind = kind;
    g->outer = g->nq = 1;
    g->inner = ntg__tdesc_numel(&c->in[1].d);
    if (kind == L_HUBER) g->delta = ntg__attr_f(c->attr, NTG_HUBER_DELTA);
    if (kind == L_PINBALL) {
        int64_t nq;
        int ax = ntg__axis(ntg__attr_i(c->attr, NTG_PINBALL_AXIS), y->rank);
        const ntg_attr *q = ntg__attr_list(c->attr, NTG_PINBALL_QUANTILES, &nq);
        g->nq = y->dims[ax];
        if (g->nq > MAX_Q || nq < g->nq)
            return fail(c, "cuda: loss_pinball with %lld quantiles (this backend takes at most %d)",
                        (long long)g->nq, MAX_Q);
        for (int64_t k = 0; k < g->nq; k++) g->q[k] = q[k].f;
        g->outer = g->inner = 1;
        for (int d = 0; d < ax; d++) g->outer *= y->dims[d];
        for (int d = ax + 1; d < y->rank; d++) g->inner *= y->dims[d];
    }
    return 0;
}

__device__ double elem_loss(const loss_g &g, int64_t k, double e)
{
    double a = fabs(e), q;
    switch (g.kind) {
    case L_MSE:
        return e * e;
    case L_MAE:
        return a;
    case L_HUBER:
        return a < g.delta ? 0.5 * e * e : g.delta * (a - 0.5 * g.delta);
    default:
        q = g.q[k];
        return e < 0 ? -q * e : (1.0 - q) * e;
    }
}

__device__ double elem_grad(const loss_g &g, int64_t k, double e)
{
    double q;
    switch (g.kind) {
    case L_MSE:
        return 2.0 * e;
    case L_MAE:
        return e > 0 ? 1.0 : e < 0 ? -1.0 : 0.0;
    case L_HUBER:
        if (fabs(e) < g.delta) return e;
        return e > 0 ? g.delta : -g.delta;
    default:
        q = g.q[k];
        return e < 0 ? -q : e > 0 ? 1.0 - q : 0.5 - q;
    }
}

__device__ double elem_sum(const loss_g &g, const float *y, const float *t, int64_t o, int64_t i)
{
    double tv = (double)t[o * g.inner + i], s = 0.0;
    for (int64_t k = 0; k < g.nq; k++)
        s += elem_loss(g, k, (double)y[(o * g.nq + k) * g.inner + i] - tv);
    return s;
}

/* Block-wide sum (THREADS threads) in a fixed tree order; the result in every thread. */
__device__ double block_sum(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s /= 2) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

/* One block: acc[0] = sum m, acc[1] = L (0 when the mask sums to 0); out[0] = L if given. */
__global__ void k_loss_value(loss_g g, const float *y, const float *t, const float *m, double *acc,
                             float *out)
{
    __shared__ double sh[THREADS];
    int64_t n = g.outer * g.inner;
    double w = 0.0, s = 0.0;
    for (int64_t e = threadIdx.x; e < n; e += THREADS) {
        double l = elem_sum(g, y, t, e / g.inner, e % g.inner);
        double mi = m ? (double)m[e] : 1.0;
        w += mi;
        s += m ? mi * l : l;
    }
    w = block_sum(w, sh);
    s = block_sum(s, sh);
    if (threadIdx.x == 0) {
        double L = w == 0.0 ? 0.0 : s / ((double)g.nq * w);
        acc[0] = w;
        acc[1] = L;
        if (out) out[0] = (float)L;
    }
}

__global__ void k_loss_bwd(loss_g g, const float *y, const float *t, const float *m,
                           const double *acc, const float *dl, float *dy, float *dt, float *dm)
{
    GRID_LOOP(it, g.outer * g.inner)
    {
        int64_t o = it / g.inner, i = it % g.inner;
        double w = acc[0];
        if (w == 0.0) {
            for (int64_t k = 0; k < g.nq; k++)
                if (dy) dy[(o * g.nq + k) * g.inner + i] = 0.0f;
            if (dt) dt[it] = 0.0f;
            if (dm) dm[it] = 0.0f;
            continue;
        }
        double scale = (double)dl[0] / w, per_q = scale / (double)g.nq;
        double tv = (double)t[it], mi = m ? (double)m[it] : 1.0, sdt = 0.0;
        for (int64_t k = 0; k < g.nq; k++) {
            int64_t iy = (o * g.nq + k) * g.inner + i;
            double d = per_q * mi * elem_grad(g, k, (double)y[iy] - tv);
            if (dy) dy[iy] = (float)d;
            sdt -= d;
        }
        if (dt) dt[it] = (float)sdt;
        if (dm) dm[it] = (float)(scale * (elem_sum(g, y, t, o, i) / (double)g.nq - acc[1]));
    }
}

int loss_fwd(const ntg__cu_ctx *c, int kind)
{
    loss_g g;
    if (loss_of(c, kind, &g)) return -1;
    const float *m = c->n_in > 2 ? fp(&c->in[2]) : NULL;
    k_loss_value<<<1, THREADS, 0, c->stream>>>(g, fp(&c->in[0]), fp(&c->in[1]), m, c->acc,
                                               fp(&c->out[0]));
    return launched(c, "loss");
}

/* in = [y, t, (mask), loss, dloss], out = [dy, dt, (dmask)] (k_loss.c). */
int loss_bwd(const ntg__cu_ctx *c, int kind)
{
    int nfi = c->n_out;
    loss_g g;
    if (loss_of(c, kind, &g)) return -1;
    const float *y = fp(&c->in[0]), *t = fp(&c->in[1]);
    const float *m = nfi > 2 ? fp(&c->in[2]) : NULL;
    const float *dl = fp(&c->in[nfi + 1]);
    float *dy = fp(&c->out[0]), *dt = fp(&c->out[1]), *dm = nfi > 2 ? fp(&c->out[2]) : NULL;
    if (!dl) {
        for (int i = 0; i < nfi; i++)
            if (zero_view(c, &c->out[i])) return -1;
        return 0;
    }
    if (!dy && !dt && !dm) return 0;
    k_loss_value<<<1, THREADS, 0, c->stream>>>(g, y, t, m, c->acc, NULL);
    if (launched(c, "loss statistics")) return -1;
    int64_t n = g.outer * g.inner;
    if (n <= 0) return 0;
    k_loss_bwd<<<blocks_for(n), THREADS, 0, c->stream>>>(g, y, t, m, c->acc, dl, dy, dt, dm);
    return launched(c, "loss gradient");
}

} // namespace

extern "C" int ntg__cu_fwd_loss_mse(const ntg__cu_ctx *c)
{
    return loss_fwd(c, L_MSE);
}
extern "C" int ntg__cu_bwd_loss_mse(const ntg__cu_ctx *c)
{
    return loss_bwd(c, L_MSE);
}
extern "C" int ntg__cu_fwd_loss_mae(const ntg__cu_ctx *c)
{
    return loss_fwd(c, L_MAE);
}
extern "C" int ntg__cu_bwd_loss_mae(const ntg__cu_ctx *c)
{
    return loss_bwd(c, L_MAE);
}
extern "C" int ntg__cu_fwd_loss_huber(const ntg__cu_ctx *c)
{
    return loss_fwd(c, L_HUBER);
}
extern "C" int ntg__cu_bwd_loss_huber(const ntg__cu_ctx *c)
{
    return loss_bwd(c, L_HUBER);
}
extern "C" int ntg__cu_fwd_loss_pinball(const ntg__cu_ctx *c)
{
    return loss_fwd(c, L_PINBALL);
}
extern "C" int ntg__cu_bwd_loss_pinball(const ntg__cu_ctx *c)
{
    return loss_bwd(c, L_PINBALL);
}

/* The distribution losses and loss_xent have no CUDA kernel yet: cu_prepare refuses plans with them
 * (NTG_ERR_UNSUPPORTED naming the op, docs/cuda.md), so these entries of the launch tables are
 * never reached; they fail all the same if they were. */
extern "C" int ntg__cu_fwd_loss_normal(const ntg__cu_ctx *c)
{
    return fail(c, "no CUDA kernel for loss_normal yet; use --backend cpu");
}
extern "C" int ntg__cu_bwd_loss_normal(const ntg__cu_ctx *c)
{
    return fail(c, "no CUDA kernel for loss_normal yet; use --backend cpu");
}
extern "C" int ntg__cu_fwd_loss_studentt(const ntg__cu_ctx *c)
{
    return fail(c, "no CUDA kernel for loss_studentt yet; use --backend cpu");
}
extern "C" int ntg__cu_bwd_loss_studentt(const ntg__cu_ctx *c)
{
    return fail(c, "no CUDA kernel for loss_studentt yet; use --backend cpu");
}
extern "C" int ntg__cu_fwd_loss_xent(const ntg__cu_ctx *c)
{
    return fail(c, "no CUDA kernel for loss_xent yet; use --backend cpu");
}
extern "C" int ntg__cu_bwd_loss_xent(const ntg__cu_ctx *c)
{
    return fail(c, "no CUDA kernel for loss_xent yet; use --backend cpu");
}

/* -------------------------------------------------------------- optimizers */

namespace {

/* The step number t of the control tensor, read on the device: the learning rate and step
 * never leave it, so a train_step is one graph launch. */
__device__ double ctl_step(const float *ctl)
{
    double t = (double)ctl[NTG_CTL_STEP];
    return t >= 1.0 ? t : 1.0;
}

struct sgd_g {
    double momentum, dampening, wd;
    int nesterov;
    int64_t n;
};

__global__ void k_sgd(sgd_g g, float *p, const float *gr, const float *ctl, float *buf)
{
    double lr = (double)ctl[NTG_CTL_LR];
    int first = ctl_step(ctl) == 1.0;
    GRID_LOOP(i, g.n)
    {
        double pi = (double)p[i], d = (double)gr[i];
        if (g.wd != 0.0) d += g.wd * pi;
        if (g.momentum != 0.0 && buf) {
            double b = first ? d : g.momentum * (double)buf[i] + (1.0 - g.dampening) * d;
            buf[i] = (float)b;
            d = g.nesterov ? d + g.momentum * b : b;
        }
        p[i] = (float)(pi - lr * d);
    }
}

struct adam_g {
    double beta1, beta2, eps, wd;
    int decoupled;
    int64_t n;
};

__global__ void k_adam(adam_g g, float *p, const float *gr, float *m, float *v, const float *ctl)
{
    double lr = (double)ctl[NTG_CTL_LR], t = ctl_step(ctl);
    double bc1 = 1.0 - pow(g.beta1, t), bc2 = 1.0 - pow(g.beta2, t);
    double step_size = lr / bc1, bc2_sqrt = sqrt(bc2), decay = 1.0 - lr * g.wd;
    GRID_LOOP(i, g.n)
    {
        double pi = (double)p[i], gi = (double)gr[i];
        if (g.decoupled)
            pi *= decay;
        else if (g.wd != 0.0)
            gi += g.wd * pi;
        double mi = (double)m[i] * g.beta1 + gi * (1.0 - g.beta1);
        double vi = (double)v[i] * g.beta2 + (1.0 - g.beta2) * gi * gi;
        double denom = sqrt(vi) / bc2_sqrt + g.eps;
        m[i] = (float)mi;
        v[i] = (float)vi;
        p[i] = (float)(pi - step_size * mi / denom);
    }
}

/* acc[k] = sum of squares of one gradient, one block, fixed tree order. */
__global__ void k_sumsq(const float *g, int64_t n, double *acc)
{
    __shared__ double sh[THREADS];
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += THREADS) s += (double)g[i] * (double)g[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) *acc = s;
}

/* The total over the gradients in order; acc[n] = the clip coefficient, out = the norm. */
__global__ void k_clip_coef(double *acc, int n, double max_norm, float *out)
{
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    double ss = 0.0;
    for (int k = 0; k < n; k++) ss += acc[k];
    double total = sqrt(ss);
    acc[n] = max_norm / (total + 1e-6);
    out[0] = (float)total;
}

__global__ void k_clip_scale(float *g, int64_t n, const double *coef)
{
    double cc = *coef;
    if (cc >= 1.0) return; /* a factor of 1 changes nothing; NaN still scales (as torch) */
    GRID_LOOP(i, n) g[i] = (float)((double)g[i] * cc);
}

} // namespace

extern "C" int ntg__cu_fwd_sgd(const ntg__cu_ctx *c)
{
    sgd_g g;
    g.momentum = ntg__attr_f(c->attr, NTG_SGD_MOMENTUM);
    g.dampening = ntg__attr_f(c->attr, NTG_SGD_DAMPENING);
    g.wd = ntg__attr_f(c->attr, NTG_SGD_WEIGHT_DECAY);
    g.nesterov = ntg__attr_i(c->attr, NTG_SGD_NESTEROV) != 0;
    g.n = numel(&c->in[0]);
    if (g.n <= 0) return 0;
    k_sgd<<<blocks_for(g.n), THREADS, 0, c->stream>>>(g, fp(&c->in[0]), fp(&c->in[1]),
                                                      fp(&c->in[2]),
                                                      c->n_in > 3 ? fp(&c->in[3]) : NULL);
    return launched(c, "sgd");
}

extern "C" int ntg__cu_fwd_adam(const ntg__cu_ctx *c)
{
    adam_g g;
    g.beta1 = ntg__attr_f(c->attr, NTG_ADAM_BETA1);
    g.beta2 = ntg__attr_f(c->attr, NTG_ADAM_BETA2);
    g.eps = ntg__attr_f(c->attr, NTG_ADAM_EPS);
    g.wd = ntg__attr_f(c->attr, NTG_ADAM_WEIGHT_DECAY);
    g.decoupled = ntg__attr_i(c->attr, NTG_ADAM_DECOUPLED) != 0;
    g.n = numel(&c->in[0]);
    if (g.n <= 0) return 0;
    k_adam<<<blocks_for(g.n), THREADS, 0, c->stream>>>(g, fp(&c->in[0]), fp(&c->in[1]),
                                                       fp(&c->in[2]), fp(&c->in[3]),
                                                       fp(&c->in[4]));
    return launched(c, "adam");
}

extern "C" int ntg__cu_fwd_clip_grad_norm(const ntg__cu_ctx *c)
{
    if ((size_t)c->n_in + 1 > c->acc_count)
        return fail(c, "cuda: clip_grad_norm over %d tensors exceeds the accumulators (%zu)",
                    c->n_in, c->acc_count);
    for (int k = 0; k < c->n_in; k++) {
        k_sumsq<<<1, THREADS, 0, c->stream>>>(fp(&c->in[k]), numel(&c->in[k]), c->acc + k);
        if (launched(c, "clip_grad_norm sum of squares")) return -1;
    }
    k_clip_coef<<<1, 1, 0, c->stream>>>(c->acc, c->n_in,
                                        ntg__attr_f(c->attr, NTG_CLIP_MAX_NORM), fp(&c->out[0]));
    if (launched(c, "clip_grad_norm total")) return -1;
    for (int k = 0; k < c->n_in; k++) {
        int64_t n = numel(&c->in[k]);
        if (n <= 0) continue;
        k_clip_scale<<<blocks_for(n), THREADS, 0, c->stream>>>(fp(&c->in[k]), n, c->acc + c->n_in);
        if (launched(c, "clip_grad_norm scaling")) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ matmul */

namespace {

/* Whether offsets(p) = p * step for every output matrix p of operand `which` (0 a, 1 b):
 * then the whole product is one strided-batched GEMM. */
int affine(const ntg_mm_geom *g, int which, int64_t *step)
{
    int64_t o0[2], o1[2];
    ntg__mm_offsets(g, 0, &o0[0], &o0[1]);
    if (g->count < 2) {
        *step = 0;
        return o0[which] == 0;
    }
    ntg__mm_offsets(g, 1, &o1[0], &o1[1]);
    int64_t s = o1[which] - o0[which];
    if (o0[which] != 0 || s < 0) return 0;
    for (int64_t p = 2; p < g->count; p++) {
        int64_t oa, ob;
        ntg__mm_offsets(g, p, &oa, &ob);
        if ((which ? ob : oa) != p * s) return 0;
    }
    *step = s;
    return 1;
}

/* d op(A) = dY op(B)^T; a stored transposed gets the transpose (k_matmul.c). */
int mm_grad_a(const ntg__cu_ctx *c, const ntg_mm_geom *g, const float *b, int64_t sb,
              const float *dy, int64_t sy, float beta, float *da, int64_t sda, int64_t count)
{
    if (!g->ta)
        return gemm_batched(c, 0, !g->tb, g->m, g->k, g->n, 1.0f, dy, g->n, sy, b, g->ldb, sb,
                            beta, da, g->k, sda, count);
    return gemm_batched(c, g->tb, 1, g->k, g->m, g->n, 1.0f, b, g->ldb, sb, dy, g->n, sy, beta, da,
                        g->m, sda, count);
}

int mm_grad_b(const ntg__cu_ctx *c, const ntg_mm_geom *g, const float *a, int64_t sa,
              const float *dy, int64_t sy, float beta, float *db, int64_t sdb, int64_t m,
              int64_t count)
{
    if (!g->tb)
        return gemm_batched(c, !g->ta, 0, g->k, g->n, m, 1.0f, a, g->lda, sa, dy, g->n, sy, beta,
                            db, g->n, sdb, count);
    return gemm_batched(c, 1, g->ta, g->n, g->k, m, 1.0f, dy, g->n, sy, a, g->lda, sa, beta, db,
                        g->k, sdb, count);
}

} // namespace

extern "C" int ntg__cu_fwd_matmul(const ntg__cu_ctx *c)
{
    const float *a = fp(&c->in[0]), *b = fp(&c->in[1]);
    float *y = fp(&c->out[0]);
    ntg_mm_geom g = ntg__mm_geom_of(c->attr, &c->in[0].d, &c->in[1].d, &c->out[0].d);
    if (ntg__mm_one_gemm(&g))
        return gemm(c, 0, g.tb, g.count * g.m, g.n, g.k, 1.0f, a, g.lda, b, g.ldb, 0.0f, y, g.n);
    int64_t sa, sb;
    if (affine(&g, 0, &sa) && affine(&g, 1, &sb))
        return gemm_batched(c, g.ta, g.tb, g.m, g.n, g.k, 1.0f, a, g.lda, sa, b, g.ldb, sb, 0.0f, y,
                            g.n, g.m * g.n, g.count);
    for (int64_t p = 0; p < g.count; p++) {
        int64_t oa, ob;
        ntg__mm_offsets(&g, p, &oa, &ob);
        if (gemm(c, g.ta, g.tb, g.m, g.n, g.k, 1.0f, a + oa, g.lda, b + ob, g.ldb, 0.0f,
                 y + p * g.m * g.n, g.n))
            return -1;
    }
    return 0;
}

/* in = [a, b, y, dy], out = [da, db]. */
extern "C" int ntg__cu_bwd_matmul(const ntg__cu_ctx *c)
{
    const float *a = fp(&c->in[0]), *b = fp(&c->in[1]), *dy = fp(&c->in[3]);
    float *da = fp(&c->out[0]), *db = fp(&c->out[1]);
    if (!da && !db) return 0;
    if (!dy) {
        if (zero_view(c, &c->out[0])) return -1;
        return zero_view(c, &c->out[1]);
    }
    ntg_mm_geom g = ntg__mm_geom_of(c->attr, &c->in[0].d, &c->in[1].d, &c->in[2].d);
    int64_t ysz = g.m * g.n;
    if (ntg__mm_one_gemm(&g)) {
        ntg_mm_geom big = g;
        big.m = g.count * g.m;
        if (da && mm_grad_a(c, &big, b, 0, dy, 0, 0.0f, da, 0, 1)) return -1;
        if (db && mm_grad_b(c, &g, a, 0, dy, 0, 0.0f, db, 0, big.m, 1)) return -1;
        return 0;
    }
    int64_t sa, sb;
    int aff = affine(&g, 0, &sa) && affine(&g, 1, &sb);
    /* an operand with its own matrix per output: one strided batch (no two outputs write
     * the same matrix); a broadcast one accumulates, output matrix by output matrix */
    if (da && g.a_full && aff) {
        if (mm_grad_a(c, &g, b, sb, dy, ysz, 0.0f, da, sa, g.count)) return -1;
        da = NULL;
    }
    if (db && g.b_full && aff) {
        if (mm_grad_b(c, &g, a, sa, dy, ysz, 0.0f, db, sb, g.m, g.count)) return -1;
        db = NULL;
    }
    if (da && !g.a_full && zero_view(c, &c->out[0])) return -1;
    if (db && !g.b_full && zero_view(c, &c->out[1])) return -1;
    for (int64_t p = 0; p < g.count && (da || db); p++) {
        int64_t oa, ob;
        ntg__mm_offsets(&g, p, &oa, &ob);
        const float *dyp = dy + p * ysz;
        if (da && mm_grad_a(c, &g, b + ob, 0, dyp, 0, g.a_full ? 0.0f : 1.0f, da + oa, 0, 1))
            return -1;
        if (db && mm_grad_b(c, &g, a + oa, 0, dyp, 0, g.b_full ? 0.0f : 1.0f, db + ob, 0, g.m, 1))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ posenc */

namespace {

__global__ void k_posenc(float *pe, int64_t len, int64_t d)
{
    GRID_LOOP(e, len * (d / 2))
    {
        int64_t t = e / (d / 2), i2 = 2 * (e % (d / 2));
        double div = pow(10000.0, (double)i2 / (double)d), angle = (double)t / div;
        pe[t * d + i2] = (float)sin(angle);
        pe[t * d + i2 + 1] = (float)cos(angle);
    }
}

} // namespace

extern "C" int ntg__cu_fwd_posenc(const ntg__cu_ctx *c)
{
    int64_t len = c->out[0].d.dims[0], d = c->out[0].d.dims[1];
    if (len * (d / 2) <= 0) return 0;
    k_posenc<<<blocks_for(len * (d / 2)), THREADS, 0, c->stream>>>(fp(&c->out[0]), len, d);
    return launched(c, "posenc");
}

/* ------------------------------------------------------------------- basis */

/* Refused at prepare (cu_backend.c): the compiler folds basis into a constant, so plans never
 * run it. */
extern "C" int ntg__cu_fwd_basis(const ntg__cu_ctx *c)
{
    return fail(c, "basis: no CUDA kernel (the compiler folds it into a constant)");
}

/* -------------------------------------------------------------------- lstm */

namespace {

enum { WS_I, WS_F, WS_G, WS_O, WS_C, WS_H, WS_STEP };

struct lstm_d {
    int64_t b, t, in, h, layers;
};

lstm_d lstm_of(const ntg__cu_ctx *c)
{
    const ntg_tdesc *x = &c->in[0].d;
    lstm_d d = {x->dims[0], x->dims[1], x->dims[2], ntg__attr_i(c->attr, NTG_LSTM_HIDDEN),
                ntg__attr_i(c->attr, NTG_LSTM_LAYERS)};
    return d;
}

__device__ __host__ int64_t ws_off(const lstm_d &d, int64_t b, int64_t k, int64_t t)
{
    return ((b * d.layers + k) * d.t + t) * WS_STEP * d.h;
}

__device__ double sigm(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

/* Step t of layer k: the gates in P (projections summed) through their activations, the
 * cell and h, and the workspace copies; one thread per (batch row, hidden unit). */
__global__ void k_lstm_cell(lstm_d d, int64_t k, int64_t t, float *p, const float *bih,
                            const float *bhh, float *cell, float *y, float *ws)
{
    int64_t h = d.h, g4 = 4 * h;
    GRID_LOOP(q, d.b * h)
    {
        int64_t b = q / h, j = q % h;
        float *g = p + (b * d.t + t) * g4;
        double z[4];
        for (int a = 0; a < 4; a++) {
            int64_t jj = a * h + j;
            double v = (double)g[jj] + (double)bih[jj] + (double)bhh[jj];
            g[jj] = (float)(a == WS_G ? tanh(v) : sigm(v));
            z[a] = (double)g[jj];
        }
        double cprev = t > 0 ? (double)cell[q] : 0.0;
        float cn = (float)(z[WS_F] * cprev + z[WS_I] * z[WS_G]);
        float hn = (float)(z[WS_O] * tanh((double)cn));
        cell[q] = cn;
        y[(b * d.t + t) * h + j] = hn;
        if (ws) {
            float *st = ws + ws_off(d, b, k, t);
            for (int a = 0; a < 4; a++) st[a * h + j] = g[a * h + j];
            st[WS_C * h + j] = cn;
            st[WS_H * h + j] = hn;
        }
    }
}

__global__ void k_lstm_dgates(lstm_d d, int64_t k, int64_t t, const float *ws, const float *dh_in,
                              float *dg, double *carry, const float *dhr)
{
    int64_t h = d.h, g4 = 4 * h;
    int top = t == d.t - 1;
    GRID_LOOP(q, d.b * h)
    {
        int64_t b = q / h, j = q % h;
        const float *st = ws + ws_off(d, b, k, t);
        const float *cprev = t > 0 ? ws + ws_off(d, b, k, t - 1) + WS_C * h : NULL;
        double i = st[WS_I * h + j], f = st[WS_F * h + j], g = st[WS_G * h + j];
        double o = st[WS_O * h + j], tc = tanh((double)st[WS_C * h + j]);
        double dh = (double)dh_in[(b * d.t + t) * h + j] + (top ? 0.0 : (double)dhr[q]);
        double dc = dh * o * (1.0 - tc * tc) + (top ? 0.0 : carry[q]);
        double cp = cprev ? (double)cprev[j] : 0.0;
        float *dgb = dg + (b * d.t + t) * g4;
        dgb[WS_I * h + j] = (float)(dc * g * i * (1.0 - i));
        dgb[WS_F * h + j] = (float)(dc * cp * f * (1.0 - f));
        dgb[WS_G * h + j] = (float)(dc * i * (1.0 - g * g));
        dgb[WS_O * h + j] = (float)(dh * tc * o * (1.0 - o));
        carry[q] = dc * f;
    }
}

/* The h sequence of layer k into dst [B, T, H], `shift` steps later (zeros before). */
int gather_h(const ntg__cu_ctx *c, const lstm_d &d, const float *ws, int64_t k, int64_t shift,
             float *dst)
{
    if (shift > 0 && fill(c, dst, d.b * d.t * d.h, 0.0f)) return -1;
    strided g;
    memset(&g, 0, sizeof g);
    g.rank = 3;
    g.dims[0] = d.b;
    g.dims[1] = d.t - shift;
    g.dims[2] = d.h;
    g.ss[0] = d.layers * d.t * WS_STEP * d.h;
    g.ss[1] = WS_STEP * d.h;
    g.ss[2] = 1;
    g.soff = ws_off(d, 0, k, 0) + WS_H * d.h;
    g.ds[0] = d.t * d.h;
    g.ds[1] = d.h;
    g.ds[2] = 1;
    g.doff = shift * d.h;
    return copy_strided(c, g, ws, dst);
}

int fill_wanted(const ntg__cu_ctx *c, float v)
{
    for (int i = 0; i < c->n_out; i++)
        if (fill(c, fp(&c->out[i]), numel(&c->out[i]), v)) return -1;
    return 0;
}

} // namespace

/* in = [x, (W_ih, W_hh, b_ih, b_hh) per layer], out = [y, (ws)] (k_lstm.c). */
extern "C" int ntg__cu_fwd_lstm(const ntg__cu_ctx *c)
{
    lstm_d d = lstm_of(c);
    const float *x = fp(&c->in[0]);
    float *y = fp(&c->out[0]);
    float *ws = c->n_out > 1 ? fp(&c->out[1]) : NULL;
    int64_t nb = d.b, nt = d.t, h = d.h, g4 = 4 * h, rows = nb * nt;
    float *p = (float *)c->scratch, *cell = p + rows * g4;
    if (nb * h <= 0) return 0;
    for (int64_t k = 0; k < d.layers; k++) {
        const float *wih = fp(&c->in[1 + 4 * k]), *whh = fp(&c->in[2 + 4 * k]);
        const float *bih = fp(&c->in[3 + 4 * k]), *bhh = fp(&c->in[4 + 4 * k]);
        int64_t in = k == 0 ? d.in : h;
        if (gemm(c, 0, 1, rows, g4, in, 1.0f, k == 0 ? x : y, in, wih, in, 0.0f, p, g4)) return -1;
        for (int64_t t = 0; t < nt; t++) {
            if (t > 0 && gemm(c, 0, 1, nb, g4, h, 1.0f, y + (t - 1) * h, nt * h, whh, h, 1.0f,
                              p + t * g4, nt * g4))
                return -1;
            k_lstm_cell<<<blocks_for(nb * h), THREADS, 0, c->stream>>>(d, k, t, p, bih, bhh, cell,
                                                                        y, ws);
            if (launched(c, "lstm cell")) return -1;
        }
    }
    return 0;
}

/* in = [x, params..., y, ws, dy, dws], out = [dx, (dW_ih, dW_hh, db_ih, db_hh) per layer]. */
extern "C" int ntg__cu_bwd_lstm(const ntg__cu_ctx *c)
{
    int nfi = c->n_out, nfo = (c->n_in - c->n_out) / 2;
    lstm_d d = lstm_of(c);
    const float *x = fp(&c->in[0]);
    const float *ws = nfo > 1 ? fp(&c->in[nfi + 1]) : NULL;
    const float *dy = fp(&c->in[nfi + nfo]);
    float *dx = fp(&c->out[0]);
    int64_t nb = d.b, nt = d.t, h = d.h, g4 = 4 * h, rows = nb * nt;
    int64_t lowest = dx ? 0 : d.layers;
    for (int64_t k = 0; k < lowest; k++)
        for (int j = 0; j < 4; j++)
            if (c->out[1 + 4 * k + j].data) lowest = k;
    if (lowest == d.layers) return 0;
    if (!dy) return fill_wanted(c, 0.0f);
    int missing = !ws || !x;
    for (int64_t k = lowest; k < d.layers; k++)
        missing |= !c->in[1 + 4 * k].data || !c->in[2 + 4 * k].data;
    if (missing) return fill_wanted(c, NAN);
    if (nb * h <= 0) return fill_wanted(c, 0.0f);
    double *carry = (double *)c->scratch;
    float *dg = (float *)(carry + nb * h), *s = dg + rows * g4, *dhr = s + rows * h;
    for (int64_t k = d.layers - 1; k >= lowest; k--) {
        const float *wih = fp(&c->in[1 + 4 * k]), *whh = fp(&c->in[2 + 4 * k]);
        float *dwih = fp(&c->out[1 + 4 * k]), *dwhh = fp(&c->out[2 + 4 * k]);
        float *dbih = fp(&c->out[3 + 4 * k]), *dbhh = fp(&c->out[4 + 4 * k]);
        int64_t in = k == 0 ? d.in : h;
        const float *dh_in = k == d.layers - 1 ? dy : s;
        for (int64_t t = nt - 1; t >= 0; t--) {
            k_lstm_dgates<<<blocks_for(nb * h), THREADS, 0, c->stream>>>(d, k, t, ws, dh_in, dg,
                                                                          carry, dhr);
            if (launched(c, "lstm gate gradients")) return -1;
            if (t > 0 &&
                gemm(c, 0, 0, nb, h, g4, 1.0f, dg + t * g4, nt * g4, whh, h, 0.0f, dhr, h))
                return -1;
        }
        if (dwhh) {
            if (gather_h(c, d, ws, k, 1, s)) return -1;
            if (gemm(c, 1, 0, g4, h, rows, 1.0f, dg, g4, s, h, 0.0f, dwhh, h)) return -1;
        }
        if (dwih) {
            if (k > 0 && gather_h(c, d, ws, k - 1, 0, s)) return -1;
            if (gemm(c, 1, 0, g4, in, rows, 1.0f, dg, g4, k > 0 ? s : x, in, 0.0f, dwih, in))
                return -1;
        }
        if ((dbih || dbhh) && colsum(c, dg, rows, g4, dbih, dbhh)) return -1;
        if (k > lowest) {
            if (gemm(c, 0, 0, rows, h, g4, 1.0f, dg, g4, wih, h, 0.0f, s, h)) return -1;
        } else if (k == 0 && dx) {
            if (gemm(c, 0, 0, rows, in, g4, 1.0f, dg, g4, wih, in, 0.0f, dx, in)) return -1;
        }
    }
    return 0;
}

#include "cu_ops_win.cuh"

/* ------------------------------------------------------------------ tables */

extern "C" {

const ntg__cu_launch_fn ntg__cu_fwd[NTG_OP_COUNT] = {
#define NTG_OP(name, ni0, ni1, no0, no1) ntg__cu_fwd_##name,
#include "ops.def"
#undef NTG_OP
};

const ntg__cu_launch_fn ntg__cu_bwd[NTG_OP_COUNT] = {
#define NTG_OP(name, ni0, ni1, no0, no1) ntg__cu_bwd_##name,
#define NTG_OP_NODIFF(name, ni0, ni1, no0, no1) NULL,
#include "ops.def"
#undef NTG_OP
#undef NTG_OP_NODIFF
};

/* Beyond the reference's scratch: layernorm's backward keeps each row's mean and rstd
 * (2 doubles a row) for the column sums of dweight and dbias. */
size_t ntg__cu_scratch_bytes(uint32_t code, int dir, const ntg_kctx *c)
{
    if (code == NTG_OP_layernorm && dir == NTG_DIR_BWD) {
        const ntg_tdesc *x = &c->in[0].d;
        int64_t d = x->dims[x->rank - 1], rows = d > 0 ? ntg__tdesc_numel(x) / d : 0;
        return (size_t)rows * 2 * sizeof(double);
    }
    return 0;
}

/* Losses keep the mask sum and the loss value; clip_grad_norm a sum per gradient and the
 * coefficient. */
size_t ntg__cu_acc_count(uint32_t code, int dir, const ntg_kctx *c)
{
    (void)dir;
    if (code == NTG_OP_clip_grad_norm) return (size_t)c->n_in + 1;
    return 2;
}

} /* extern "C" */
