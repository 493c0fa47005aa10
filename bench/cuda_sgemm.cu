/* cuda_sgemm.cu — the cuBLAS FP32 SGEMM rate of this GPU, the yardstick of bench/cuda_check.sh.
 *
 *   nvcc -O2 -o cuda_sgemm bench/cuda_sgemm.cu -lcublas && ./cuda_sgemm [N]
 *
 * Times cublasSgemm on N x N x N (default 8192; plain FP32, no TF32) after a warm-up and
 * prints one line: "sgemm_gflops <rate> n <N> ms <median milliseconds of 20>".  Exit 1 when
 * there is no device.  Not part of the library; never run by the test suite.
 */
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            std::fprintf(stderr, "cuda_sgemm: %s: %s\n", #x, cudaGetErrorString(e_));              \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    int n = argc > 1 ? std::atoi(argv[1]) : 8192;
    if (n <= 0 || n > 32768) {
        std::fprintf(stderr, "cuda_sgemm: N must be in 1..32768\n");
        return 2;
    }
    size_t bytes = (size_t)n * (size_t)n * sizeof(float);
    float *a, *b, *c;
    CHECK(cudaMalloc(&a, bytes));
    CHECK(cudaMalloc(&b, bytes));
    CHECK(cudaMalloc(&c, bytes));
    CHECK(cudaMemset(a, 0, bytes));
    CHECK(cudaMemset(b, 0, bytes));
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        std::fprintf(stderr, "cuda_sgemm: cublasCreate failed\n");
        return 1;
    }
    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    const float one = 1.0f, zero = 0.0f;
    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));
    for (int i = 0; i < 3; i++)
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, c, n);
    CHECK(cudaDeviceSynchronize());
    std::vector<float> ms;
    for (int i = 0; i < 20; i++) {
        CHECK(cudaEventRecord(t0));
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, c, n);
        CHECK(cudaEventRecord(t1));
        CHECK(cudaEventSynchronize(t1));
        float m = 0;
        CHECK(cudaEventElapsedTime(&m, t0, t1));
        ms.push_back(m);
    }
    std::sort(ms.begin(), ms.end());
    double med = ms[ms.size() / 2];
    double gflops = 2.0 * n * (double)n * n / (med * 1e-3) / 1e9;
    std::printf("sgemm_gflops %.1f n %d ms %.3f\n", gflops, n, med);
    cublasDestroy(h);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return 0;
}
