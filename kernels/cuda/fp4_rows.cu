/* fp4_rows.cu - NVFP4 / MXFP4 weight quantization on the GPU, the same bytes
 * as kernels/cpu/fp4_rows.c: both encode every group with
 * dsq_fp4_encode_group (quant/fp4_core.h), which sums its --method mse errors
 * in one sequential order, so both pick the same scale.
 *
 * One block per row, each thread a group (t, t+blockDim, ...); a thread's
 * statistics are combined in a fixed tree in shared memory (reporting only). */
#include <stdint.h>

#include "kernels/cuda/cuda_check.h"

extern "C" {
#include "kernels/kernels.h"
#include "kernels/gpu.h"
}
#include "quant/fp4_core.h"

namespace {

constexpr int kThreads = 128;

__global__ void fp4_rows_kernel(int fmt, int mse, const uint16_t *w, int64_t cols, float gs, uint8_t *packed,
                                uint8_t *scale, ds_quant_row_stats *stats) {
    __shared__ double s_err[kThreads], s_ref[kThreads], s_max[kThreads], s_nf[kThreads];
    const int64_t row = blockIdx.x;
    const int g = dsq_fp4_group_size(fmt);
    const int64_t ng = cols / g;
    dsq_fp4_stats st = {0, 0, 0, 0};
    for (int64_t k = threadIdx.x; k < ng; k += blockDim.x)
        dsq_fp4_encode_group(fmt, mse, w + row * cols + k * g, g, gs, packed + row * (cols / 2) + k * (g / 2),
                             scale + row * ng + k, &st);
    s_err[threadIdx.x] = st.err_sq;
    s_ref[threadIdx.x] = st.ref_sq;
    s_max[threadIdx.x] = st.max_abs_err;
    s_nf[threadIdx.x] = st.nonfinite;
    __syncthreads();
    for (int off = kThreads / 2; off > 0; off >>= 1) {
        if ((int)threadIdx.x < off) {
            s_err[threadIdx.x] = __dadd_rn(s_err[threadIdx.x], s_err[threadIdx.x + off]);
            s_ref[threadIdx.x] = __dadd_rn(s_ref[threadIdx.x], s_ref[threadIdx.x + off]);
            s_max[threadIdx.x] = fmax(s_max[threadIdx.x], s_max[threadIdx.x + off]);
            s_nf[threadIdx.x] = __dadd_rn(s_nf[threadIdx.x], s_nf[threadIdx.x + off]);
        }
        __syncthreads();
    }
    if (threadIdx.x == 0 && stats) {
        stats[row].err_sq = s_err[0];
        stats[row].ref_sq = s_ref[0];
        stats[row].max_abs_err = s_max[0];
        stats[row].nonfinite = s_nf[0];
    }
}

} // namespace

extern "C" int ds_cuda_fp4_quant_rows_async(const ds_quant_spec *sp, const uint16_t *w, int64_t nrows,
                                            int64_t cols, float gs, uint8_t *packed, uint8_t *scale,
                                            ds_quant_row_stats *stats, void *stream) {
    ds_cuda_bind_();
    if ((sp->format != DSQ_FMT_NVFP4 && sp->format != DSQ_FMT_MXFP4) || nrows < 0 || cols <= 0 ||
        cols % dsq_fp4_group_size(sp->format))
        return ds_fail(DS_EXIT_INPUT, "CUDA quantize fp4: unsupported format %d or shape %lld x %lld", sp->format,
                       (long long)nrows, (long long)cols);
    cudaStream_t st = (cudaStream_t)stream;
    for (int64_t r0 = 0; r0 < nrows; r0 += 65535) { /* grid.x limit of older devices: stay portable */
        int64_t n = nrows - r0 < 65535 ? nrows - r0 : 65535;
        fp4_rows_kernel<<<(unsigned)n, kThreads, 0, st>>>(sp->format, sp->mse, w + r0 * cols, cols, gs,
                                                          packed + r0 * (cols / 2),
                                                          scale + r0 * (cols / dsq_fp4_group_size(sp->format)),
                                                          stats ? stats + r0 : nullptr);
        CUDA_CHECK_LAUNCH();
    }
    return 0;
}

extern "C" int ds_cuda_fp4_quant_rows(const ds_quant_spec *sp, const uint16_t *w, int64_t nrows, int64_t cols,
                                      float gs, uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats) {
    ds_cuda_bind_();
    DS_TRY(ds_cuda_fp4_quant_rows_async(sp, w, nrows, cols, gs, packed, scale, stats, NULL));
    CUDA_CHECK(cudaDeviceSynchronize());
    return 0;
}
