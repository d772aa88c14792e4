// gemm.cu - C[M,N] = A[M,K] . W[N,K]^T in float32 through cuBLAS sgemm, for
// the verify forward pass. The handle runs in CUBLAS_PEDANTIC_MATH so no TF32
// or other reduced-precision path is ever taken: the result must agree with
// the CPU reference to float32 rounding, not to TF32's 10-bit mantissa.
#include <climits>
#include <cublas_v2.h>

#include "kernels/cuda/cuda_check.h"
extern "C" {
#include "kernels/gpu.h"
}

struct ds_cuda_blas {
    cublasHandle_t handle;
    float *dA, *dW, *dC;   // staging buffers of the host-pointer entry, grown on demand
    size_t capA, capW, capC; // in floats
};

static int cublas_fail_at(cublasStatus_t s, const char *call, const char *file, int line) {
    return ds_fail(DS_EXIT_IO, "cuBLAS: %s: %s (%s:%d)", call, cublasGetStatusString(s), file, line);
}
#define CUBLAS_CHECK(call)                                                                   \
    do {                                                                                     \
        cublasStatus_t ds_bs_ = (call);                                                      \
        if (ds_bs_ != CUBLAS_STATUS_SUCCESS) return cublas_fail_at(ds_bs_, #call, __FILE__, __LINE__); \
    } while (0)

static int grow(float **p, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    if (*p) CUDA_CHECK(cudaFree(*p));
    *p = nullptr;
    *cap = 0;
    CUDA_CHECK(cudaMalloc((void **)p, n * sizeof(float)));
    *cap = n;
    return 0;
}

extern "C" int ds_cuda_blas_open(ds_cuda_blas **out) {
    *out = nullptr;
    char why[256];
    if (!ds_cuda_available(why, (int)sizeof why)) return ds_fail(DS_EXIT_USAGE, "--device cuda: %s", why);
    ds_cuda_blas *b = (ds_cuda_blas *)xcalloc(1, sizeof *b);
    cublasStatus_t s = cublasCreate(&b->handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
        free(b);
        return cublas_fail_at(s, "cublasCreate", __FILE__, __LINE__);
    }
    s = cublasSetMathMode(b->handle, CUBLAS_PEDANTIC_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) {
        cublasDestroy(b->handle);
        free(b);
        return cublas_fail_at(s, "cublasSetMathMode(PEDANTIC)", __FILE__, __LINE__);
    }
    *out = b;
    return 0;
}

extern "C" void ds_cuda_blas_close(ds_cuda_blas *b) {
    if (!b) return;
    if (b->dA) CUDA_WARN(cudaFree(b->dA));
    if (b->dW) CUDA_WARN(cudaFree(b->dW));
    if (b->dC) CUDA_WARN(cudaFree(b->dC));
    cublasDestroy(b->handle);
    free(b);
}

extern "C" int ds_cuda_gemm_f32(ds_cuda_blas *b, const float *A, const float *W, float *C,
                                int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0) return 0;
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
        return ds_fail(DS_EXIT_INPUT, "CUDA GEMM: %lld x %lld x %lld exceeds cuBLAS int sizes",
                       (long long)M, (long long)N, (long long)K);
    const float one = 1.0f, zero = 0.0f;
    // Row-major C[M,N] = A W^T is column-major C^T[N,M] = op(W)=T [N,K] x A^T [K,M].
    int k = K > 0 ? (int)K : 1; // leading dimensions must be >= 1 even when K is 0
    CUBLAS_CHECK(cublasSgemm(b->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, W, k,
                             A, k, &zero, C, (int)N));
    return 0;
}

extern "C" int ds_cuda_gemm_f32_host(ds_cuda_blas *b, const float *A, const float *W, float *C,
                                     int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0) return 0;
    size_t nA = (size_t)M * (size_t)K, nW = (size_t)N * (size_t)K, nC = (size_t)M * (size_t)N;
    DS_TRY(grow(&b->dA, &b->capA, nA ? nA : 1));
    DS_TRY(grow(&b->dW, &b->capW, nW ? nW : 1));
    DS_TRY(grow(&b->dC, &b->capC, nC));
    CUDA_CHECK(cudaMemcpy(b->dA, A, nA * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(b->dW, W, nW * sizeof(float), cudaMemcpyHostToDevice));
    DS_TRY(ds_cuda_gemm_f32(b, b->dA, b->dW, b->dC, M, N, K));
    CUDA_CHECK(cudaMemcpy(C, b->dC, nC * sizeof(float), cudaMemcpyDeviceToHost));
    return 0;
}
