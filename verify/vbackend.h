/* vbackend.h - where the forward pass multiplies: the CPU reference GEMM or
 * cuBLAS (fp32, pedantic math). Only the linear layers move to the GPU; the
 * rest of the forward pass (norms, RoPE, attention, routing) runs on the CPU in
 * both modes, so the two paths differ only by the GEMM summation order. */
#ifndef DS_VERIFY_VBACKEND_H
#define DS_VERIFY_VBACKEND_H

#include <stdint.h>
#include "kernels/kernels.h"

typedef struct {
    int use_cuda;
    ds_cuda_blas *blas;
    double gemm_seconds;  /* time spent in vf_linear */
} vf_backend;

/* 0, or DS_EXIT_USAGE when CUDA is asked for and unusable. */
int vf_backend_open(vf_backend *b, int use_cuda);
void vf_backend_close(vf_backend *b);
/* y[M,N] = x[M,K] . w[N,K]^T, host pointers. */
int vf_linear(vf_backend *b, const float *x, const float *w, float *y, int64_t M, int64_t N, int64_t K);

#endif
