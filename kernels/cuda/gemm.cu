// gemm.cu - C[M,N] = A[M,K] . W[N,K]^T in float32 through cuBLAS sgemm, for
// the verify forward pass. The handle runs in CUBLAS_PEDANTIC_MATH so no TF32
// or other reduced-precision path is ever taken: the result must agree with
// the CPU reference to float32 rounding, not to TF32's 10-bit mantissa.
//
// cuBLAS is opened with dlopen when verify first asks for a GEMM, not linked:
// the loader's mapping of libcublas and libcublasLt (600 MB) cost every dsconv
// process 0.09-0.11 s before main (a program linked with only -lcublas, dev VM
// and H200 host, 2026-11-30), twice for the executor's commands (they execute
// themselves once, cmd/omp_wait.c), which was 0.2 s of each requant's 1.7 s I/O
// floor on the 8 GB bench. The conversions never call cuBLAS; a machine with a
// GPU but without cuBLAS now still converts, and verify --device cuda says
// what it could not load.
#include <climits>
#include <dlfcn.h>
#include <pthread.h>
#include <cublas_v2.h>

#include "kernels/cuda/cuda_check.h"
extern "C" {
#include "kernels/gpu.h"
}

#define DS_STR_(x) #x
#define DS_STR(x) DS_STR_(x)
// The soname of the cuBLAS the build compiled against; the unversioned name
// (a development install) only when that is missing.
static const char *const blas_names[] = {"libcublas.so." DS_STR(CUBLAS_VER_MAJOR), "libcublas.so"};

// The five entry points verify uses, resolved once (cublas_v2.h maps the
// short names to the _v2 symbols).
static struct {
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetMathMode) set_math_mode;
    decltype(&cublasSgemm_v2) sgemm;
    decltype(&cublasGetStatusString) status_string;
    char err[512]; // why loading failed, empty when it did not
} blas;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_load(void) {
    void *h = nullptr;
    const char *tried = nullptr;
    for (const char *n : blas_names)
        if ((h = dlopen(tried = n, RTLD_NOW | RTLD_LOCAL))) break;
    if (!h) {
        const char *e = dlerror();
        snprintf(blas.err, sizeof blas.err, "cannot load cuBLAS (tried %s and %s; verify needs it, the "
                 "conversions do not): %s", blas_names[0], blas_names[1], e ? e : "not found");
        return;
    }
    blas.create = (decltype(blas.create))dlsym(h, "cublasCreate_v2");
    blas.destroy = (decltype(blas.destroy))dlsym(h, "cublasDestroy_v2");
    blas.set_math_mode = (decltype(blas.set_math_mode))dlsym(h, "cublasSetMathMode");
    blas.sgemm = (decltype(blas.sgemm))dlsym(h, "cublasSgemm_v2");
    blas.status_string = (decltype(blas.status_string))dlsym(h, "cublasGetStatusString");
    if (!blas.create || !blas.destroy || !blas.set_math_mode || !blas.sgemm || !blas.status_string)
        snprintf(blas.err, sizeof blas.err, "%s lacks an entry point dsconv uses (cublasCreate_v2, "
                 "cublasDestroy_v2, cublasSetMathMode, cublasSgemm_v2, cublasGetStatusString)", tried);
    // The library stays loaded for the life of the process (no dlclose: its handles outlive any one user).
}

struct ds_cuda_blas {
    cublasHandle_t handle;
    float *dA, *dW, *dC;   // staging buffers of the host-pointer entry, grown on demand
    size_t capA, capW, capC; // in floats
};

static int cublas_fail_at(cublasStatus_t s, const char *call, const char *file, int line) {
    return ds_fail(DS_EXIT_IO, "cuBLAS: %s: %s (%s:%d)", call, blas.status_string(s), file, line);
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
    ds_cuda_bind_();
    *out = nullptr;
    char why[256];
    if (!ds_cuda_available(why, (int)sizeof why)) return ds_fail(DS_EXIT_USAGE, "--device cuda: %s", why);
    pthread_once(&blas_once, blas_load);
    if (blas.err[0]) return ds_fail(DS_EXIT_USAGE, "--device cuda: %s", blas.err);
    ds_cuda_blas *b = (ds_cuda_blas *)xcalloc(1, sizeof *b);
    cublasStatus_t s = blas.create(&b->handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
        free(b);
        return cublas_fail_at(s, "cublasCreate", __FILE__, __LINE__);
    }
    s = blas.set_math_mode(b->handle, CUBLAS_PEDANTIC_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) {
        blas.destroy(b->handle);
        free(b);
        return cublas_fail_at(s, "cublasSetMathMode(PEDANTIC)", __FILE__, __LINE__);
    }
    *out = b;
    return 0;
}

extern "C" void ds_cuda_blas_close(ds_cuda_blas *b) {
    ds_cuda_bind_();
    if (!b) return;
    if (b->dA) CUDA_WARN(cudaFree(b->dA));
    if (b->dW) CUDA_WARN(cudaFree(b->dW));
    if (b->dC) CUDA_WARN(cudaFree(b->dC));
    blas.destroy(b->handle);
    free(b);
}

extern "C" int ds_cuda_gemm_f32(ds_cuda_blas *b, const float *A, const float *W, float *C,
                                int64_t M, int64_t N, int64_t K) {
    ds_cuda_bind_();
    if (M <= 0 || N <= 0) return 0;
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
        return ds_fail(DS_EXIT_INPUT, "CUDA GEMM: %lld x %lld x %lld exceeds cuBLAS int sizes",
                       (long long)M, (long long)N, (long long)K);
    const float one = 1.0f, zero = 0.0f;
    // Row-major C[M,N] = A W^T is column-major C^T[N,M] = op(W)=T [N,K] x A^T [K,M].
    int k = K > 0 ? (int)K : 1; // leading dimensions must be >= 1 even when K is 0
    CUBLAS_CHECK(blas.sgemm(b->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, W, k,
                         A, k, &zero, C, (int)N));
    return 0;
}

extern "C" int ds_cuda_gemm_f32_host(ds_cuda_blas *b, const float *A, const float *W, float *C,
                                     int64_t M, int64_t N, int64_t K) {
    ds_cuda_bind_();
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
