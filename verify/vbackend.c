/* vbackend.c - the GEMM dispatch of the verify forward pass. */
#include "verify/vbackend.h"
#include "common/util.h"

#include <string.h>

int vf_backend_open(vf_backend *b, int use_cuda) {
    memset(b, 0, sizeof *b);
    b->use_cuda = use_cuda;
    return use_cuda ? ds_cuda_blas_open(&b->blas) : 0;
}

void vf_backend_close(vf_backend *b) {
    if (b->blas) ds_cuda_blas_close(b->blas);
    b->blas = NULL;
}

int vf_linear(vf_backend *b, const float *x, const float *w, float *y, int64_t M, int64_t N, int64_t K) {
    double t = ds_now();
    int rc = b->use_cuda ? ds_cuda_gemm_f32_host(b->blas, x, w, y, M, N, K) : ds_cpu_gemm_f32(x, w, y, M, N, K);
    b->gemm_seconds += ds_now() - t;
    return rc;
}
