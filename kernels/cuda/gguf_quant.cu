// gguf_quant.cu - float32 rows to ggml types on the GPU (to-gguf): the same
// functions as the CPU (kernels/gguf_blocks.h), one thread per ggml block
// (one per element for F16/BF16), so the bytes are the CPU's. Built with
// -fmad=false (Makefile): a fused multiply-add would change the K-quant search.
#include <stdint.h>

#include "kernels/cuda/cuda_check.h"

extern "C" {
#include "kernels/gpu.h"
#include "kernels/gguf_quant.h"
}
#include "kernels/gguf_blocks.h"

namespace {

constexpr int kThreads = 128;

__global__ void encode_blocks(const float *__restrict__ x, uint8_t *__restrict__ out, int64_t nblocks, int type) {
    for (int64_t b = (int64_t)blockIdx.x * kThreads + threadIdx.x; b < nblocks; b += (int64_t)gridDim.x * kThreads) {
        switch (type) {
        case DS_GGML_Q4_K: ds_gg_q4_k_block(x + b * 256, out + b * 144); break;
        case DS_GGML_Q6_K: ds_gg_q6_k_block(x + b * 256, out + b * 210); break;
        case DS_GGML_Q5_0: ds_gg_q5_0_block(x + b * 32, out + b * 22); break;
        case DS_GGML_Q8_0: ds_gg_q8_0_block(x + b * 32, out + b * 34); break;
        case DS_GGML_F16: ((uint16_t *)out)[b] = gg_f32_to_f16(x[b]); break;
        case DS_GGML_BF16: ((uint16_t *)out)[b] = gg_f32_to_bf16(x[b]); break;
        default: ((float *)out)[b] = x[b]; break;
        }
    }
}

} // namespace

// x, out: device pointers; rows are contiguous, so the row structure only
// matters through cols being a multiple of the block (checked).
extern "C" int ds_cuda_gguf_encode(const float *x, int64_t nrows, int64_t cols, ds_ggml_type t, uint8_t *out) {
    ds_cuda_bind_();
    const ds_ggml_traits *tr = ds_ggml_info(t);
    if (!tr || cols % tr->block)
        return ds_fail(DS_EXIT_USAGE, "gguf encode (CUDA): type %d with rows of %lld", (int)t, (long long)cols);
    int64_t nblocks = nrows * (cols / tr->block);
    if (nblocks == 0) return DS_OK;
    int64_t g = (nblocks + kThreads - 1) / kThreads;
    unsigned grid = (unsigned)(g > 65535 ? 65535 : g);
    encode_blocks<<<grid, kThreads>>>(x, out, nblocks, (int)t);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaDeviceSynchronize());
    return DS_OK;
}
