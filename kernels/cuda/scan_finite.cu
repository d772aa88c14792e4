// scan_finite.cu - verify's structure scan on device memory, the same test as
// kernels/cpu/scan_finite.c: a stored value is non-finite iff its exponent
// bits (exp_mask) are all ones. Grid-stride over the elements; a thread that
// finds one lowers *dev_first with atomicMin, so the result is the first
// non-finite index whatever the launch shape (the CPU reference's answer).
// Memory-bound: one load and two integer ops per element.
#include <stdint.h>

#include "kernels/cuda/cuda_check.h"

extern "C" {
#include "kernels/gpu.h"
}

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads) scan_kernel(const T *__restrict__ p, int64_t n, T m,
                                                        unsigned long long *first) {
    for (int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x; i < n; i += (int64_t)gridDim.x * kThreads) {
        if ((T)(p[i] & m) == m) {
            atomicMin(first, (unsigned long long)i);
            return; // later indices of this thread are larger
        }
    }
}

unsigned grid_for(int64_t items) {
    int64_t g = (items + kThreads - 1) / kThreads;
    const int64_t cap = 1 << 15; // the grid-stride loop covers the rest
    return (unsigned)(g < 1 ? 1 : g > cap ? cap : g);
}

} // namespace

extern "C" int ds_cuda_scan_nonfinite_async(const void *dev_data, int64_t n, int elem_size, uint32_t exp_mask,
                                            unsigned long long *dev_first, void *stream) {
    ds_cuda_bind_();
    if (n <= 0 || !exp_mask) return DS_OK;
    cudaStream_t st = (cudaStream_t)stream;
    switch (elem_size) {
    case 1: scan_kernel<uint8_t><<<grid_for(n), kThreads, 0, st>>>((const uint8_t *)dev_data, n, (uint8_t)exp_mask, dev_first); break;
    case 2: scan_kernel<uint16_t><<<grid_for(n), kThreads, 0, st>>>((const uint16_t *)dev_data, n, (uint16_t)exp_mask, dev_first); break;
    case 4: scan_kernel<uint32_t><<<grid_for(n), kThreads, 0, st>>>((const uint32_t *)dev_data, n, exp_mask, dev_first); break;
    default: return ds_fail(DS_EXIT_INPUT, "scan (CUDA): element size %d is not 1, 2 or 4", elem_size);
    }
    CUDA_CHECK_LAUNCH();
    return DS_OK;
}

extern "C" int ds_cuda_scan_nonfinite(const void *dev_data, int64_t n, int elem_size, uint32_t exp_mask,
                                      int64_t *first) {
    ds_cuda_bind_();
    unsigned long long *d = NULL, h = ~0ull;
    *first = -1;
    CUDA_CHECK(cudaMalloc((void **)&d, sizeof h));
    int rc = DS_OK;
    if (cudaMemcpy(d, &h, sizeof h, cudaMemcpyHostToDevice) != cudaSuccess)
        rc = ds_fail(DS_EXIT_IO, "scan (CUDA): cudaMemcpy failed");
    if (!rc) rc = ds_cuda_scan_nonfinite_async(dev_data, n, elem_size, exp_mask, d, NULL);
    if (!rc && cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost) != cudaSuccess)
        rc = ds_fail(DS_EXIT_IO, "scan (CUDA): cudaMemcpy of the result failed");
    cudaFree(d);
    if (!rc && h != ~0ull) *first = (int64_t)h;
    return rc;
}
