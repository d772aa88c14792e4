// widen.cu - bf16 -> float32 on the GPU, the same bits as kernels/cpu/widen.c:
// each float32 is the bf16 shifted into the upper half (exact, NaN kept).
// verify dequantizes FP8 to bf16 with ds_cuda_dequant_fp8_bf16_async and
// widens here, so its GPU weights are the CPU path's floats bit for bit.
// Memory-bound: 16-byte loads of 8 bf16, two 16-byte stores of 8 floats when
// the pointers allow, one element per thread and step otherwise.
#include <stdint.h>

#include "kernels/cuda/cuda_check.h"

extern "C" {
#include "kernels/gpu.h"
}

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) widen_vec8(const uint4 *__restrict__ in, uint4 *__restrict__ out,
                                                       int64_t groups) {
    for (int64_t g = (int64_t)blockIdx.x * kThreads + threadIdx.x; g < groups; g += (int64_t)gridDim.x * kThreads) {
        uint4 v = in[g], a, b;
        a.x = v.x << 16; a.y = v.x & 0xFFFF0000u;
        a.z = v.y << 16; a.w = v.y & 0xFFFF0000u;
        b.x = v.z << 16; b.y = v.z & 0xFFFF0000u;
        b.z = v.w << 16; b.w = v.w & 0xFFFF0000u;
        out[2 * g] = a;
        out[2 * g + 1] = b;
    }
}

__global__ void __launch_bounds__(kThreads) widen_scalar(const uint16_t *__restrict__ in, uint32_t *__restrict__ out,
                                                         int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x; i < n; i += (int64_t)gridDim.x * kThreads)
        out[i] = (uint32_t)in[i] << 16;
}

unsigned grid_for(int64_t items) {
    int64_t g = (items + kThreads - 1) / kThreads;
    const int64_t cap = 1 << 16; // the grid-stride loops cover the rest
    return (unsigned)(g < 1 ? 1 : g > cap ? cap : g);
}

} // namespace

extern "C" int ds_cuda_widen_bf16_f32_async(const uint16_t *in, float *out, int64_t n, void *stream) {
    ds_cuda_bind_();
    if (n < 0) return ds_fail(DS_EXIT_INPUT, "widen bf16->f32 (CUDA): negative length %lld", (long long)n);
    if (n == 0) return DS_OK;
    cudaStream_t st = (cudaStream_t)stream;
    // little-endian: bf16 element 2k sits in the low half of word k, so it widens to a.x, 2k+1 to a.y
    int64_t head = 0;
    if ((uintptr_t)in % 16 == 0 && (uintptr_t)out % 16 == 0) {
        int64_t groups = n / 8;
        if (groups) widen_vec8<<<grid_for(groups), kThreads, 0, st>>>((const uint4 *)in, (uint4 *)out, groups);
        head = groups * 8;
    }
    if (head < n)
        widen_scalar<<<grid_for(n - head), kThreads, 0, st>>>(in + head, (uint32_t *)out + head, n - head);
    CUDA_CHECK_LAUNCH();
    return DS_OK;
}

extern "C" int ds_cuda_widen_bf16_f32(const uint16_t *in, float *out, int64_t n) {
    ds_cuda_bind_();
    DS_TRY(ds_cuda_widen_bf16_f32_async(in, out, n, NULL));
    CUDA_CHECK(cudaStreamSynchronize(0));
    return DS_OK;
}
