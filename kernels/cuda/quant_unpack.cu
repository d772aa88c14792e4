/* quant_unpack.cu - pack-quantized decompression on the GPU, the same bytes as
 * kernels/cpu/quant_unpack.c (quant/quant_core.h): one thread per packed word,
 * out = bf16((q - zp) * scale). */
#include <stdint.h>

#include "kernels/cuda/cuda_check.h"

extern "C" {
#include "kernels/kernels.h"
}
#include "quant/quant_core.h"

namespace {

constexpr int kThreads = 256;

template <typename T> __device__ __forceinline__ void store(T *p, int64_t i, float v);
template <> __device__ __forceinline__ void store<uint16_t>(uint16_t *p, int64_t i, float v) { p[i] = dsq_f2bf(v); }
template <> __device__ __forceinline__ void store<float>(float *p, int64_t i, float v) { p[i] = v; }

template <typename T>
__global__ void __launch_bounds__(kThreads)
unpack_words(const uint32_t *__restrict__ packed, const uint16_t *__restrict__ scale,
             const uint32_t *__restrict__ zero_point, int64_t nrows, int64_t cols, int bits, int64_t gs,
             int symmetric, T *__restrict__ out) {
    const int pf = 32 / bits;
    const int64_t ng = cols / gs, wpr = cols / pf, total = nrows * wpr;
    for (int64_t t = (int64_t)blockIdx.x * kThreads + threadIdx.x; t < total; t += (int64_t)gridDim.x * kThreads) {
        const int64_t i = t / wpr, j = t % wpr, c0 = j * pf, g = c0 / gs;
        const float s = dsq_bf2f(scale[i * ng + g]);
        const int zp = symmetric ? 0 : dsq_decode(zero_point[(i / pf) * ng + g], (int)(i % pf), bits);
        const uint32_t word = packed[t];
        for (int k = 0; k < pf; k++)
            store(out, i * cols + c0 + k, dsq_dequantize(dsq_decode(word, k, bits), s, zp));
    }
}

} // namespace

extern "C" int ds_cuda_quant_unpack_rows(const ds_quant_spec *sp, const uint32_t *packed, const uint16_t *scale,
                                         const uint32_t *zero_point, int64_t nrows, int64_t cols, void *out,
                                         ds_dtype out_dtype) {
    ds_cuda_bind_();
    const char *why = dsq_chunk_error(sp->bits, sp->group_size, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "unpack: %s (bits %d, group %d, %lld x %lld)", why, sp->bits,
                            sp->group_size, (long long)nrows, (long long)cols);
    if (out_dtype != DS_BF16 && out_dtype != DS_F32)
        return ds_fail(DS_EXIT_INPUT, "unpack: output must be BF16 or F32, not %s", ds_dtype_name(out_dtype));
    if (nrows == 0) return 0;
    const int64_t gs = sp->group_size ? sp->group_size : cols;
    int64_t words = nrows * (cols / (32 / sp->bits)), blocks = (words + kThreads - 1) / kThreads;
    if (blocks > 65535 * 8) blocks = 65535 * 8;
    if (out_dtype == DS_BF16)
        unpack_words<uint16_t><<<(unsigned)blocks, kThreads>>>(packed, scale, zero_point, nrows, cols, sp->bits, gs,
                                                               sp->symmetric, (uint16_t *)out);
    else
        unpack_words<float><<<(unsigned)blocks, kThreads>>>(packed, scale, zero_point, nrows, cols, sp->bits, gs,
                                                            sp->symmetric, (float *)out);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaStreamSynchronize(0));
    return 0;
}
