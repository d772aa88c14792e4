/* cuda_check.h - every CUDA runtime call goes through CUDA_CHECK: on failure it
 * prints "CUDA: <call>: <error> (file:line)" and makes the enclosing function
 * return DS_EXIT_IO, so failures travel up as ordinary dsconv exit codes.
 * Also the few C++-linkage helpers the .cu files share among themselves.
 * Included only by the .cu files in kernels/cuda (C++ under nvcc). */
#ifndef DS_CUDA_CHECK_H
#define DS_CUDA_CHECK_H

#include <cuda_runtime_api.h>
#include <stdint.h>

extern "C" {
#include "common/util.h"
}

/* Reports one failed call and returns DS_EXIT_IO. cudaGetLastError() clears a
 * non-sticky error so that the next, unrelated call does not report it again. */
static inline int ds_cuda_fail_at(cudaError_t e, const char *call, const char *file, int line) {
    (void)cudaGetLastError();
    return ds_fail(DS_EXIT_IO, "CUDA: %s: %s (%s) (%s:%d)", call, cudaGetErrorString(e),
                   cudaGetErrorName(e), file, line);
}

#define CUDA_CHECK(call)                                                             \
    do {                                                                             \
        cudaError_t ds_ce_ = (call);                                                 \
        if (ds_ce_ != cudaSuccess) return ds_cuda_fail_at(ds_ce_, #call, __FILE__, __LINE__); \
    } while (0)

/* After a kernel launch: the launch itself (bad configuration, no kernel image). */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

/* For clean-up paths that cannot return a code (destroy, free): report and go on. */
#define CUDA_WARN(call)                                                              \
    do {                                                                             \
        cudaError_t ds_ce_ = (call);                                                 \
        if (ds_ce_ != cudaSuccess) (void)ds_cuda_fail_at(ds_ce_, #call, __FILE__, __LINE__); \
    } while (0)

/* Shared between the .cu files in kernels/cuda, not part of the C API. */
/* First call of every extern "C" entry point: once --device cuda:K chose K
 * (ds_cuda_select_device), makes K current on the calling thread, once per
 * thread. Threads that never chose it - the executor's readers, which allocate
 * pinned buffers before the device is known, a main thread freeing them -
 * then work on K instead of making a context on device 0 (the default of
 * every new thread). Without cuda:K: nothing. */
void ds_cuda_bind_(void);
/* Checks arguments and enqueues the fp8->bf16 kernel on st (no wait). */
int ds_cuda_dequant_launch_(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                            const float *scale, int64_t scale_cols, int br, int bc, cudaStream_t st);
/* cudaSuccess when the current device has a runnable image of the kernels. */
cudaError_t ds_cuda_dequant_probe_(void);

#endif
