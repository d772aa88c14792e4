/* quant_rows.cu - INT4/INT8 weight quantization on the GPU, the same bytes as
 * kernels/cpu/quant_rows.c: both take every value from quant/quant_core.h.
 *
 * One warp per group. Lane l reads elements l, l+32, ... (coalesced); min and
 * max are reduced exactly; for --method mse each candidate's squared error is
 * summed per lane in increasing element order and combined by the xor
 * butterfly 16, 8, 4, 2, 1 - the order the CPU replays - so both pick the same
 * candidate. Packing: lane l then builds words l, l+32, ... of the group from
 * 32/bits consecutive elements. Asymmetric zero points share a word among
 * 32/bits rows and are OR-ed in with atomicOr into a zeroed buffer (order
 * cannot change an OR). Row statistics are summed with atomics: they are
 * reporting only, not compared bit for bit. */
#include <stdint.h>

#include "kernels/cuda/cuda_check.h"

extern "C" {
#include "kernels/gpu.h"
}
#include "quant/quant_core.h"

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFull = 0xFFFFFFFFu;

template <typename T> __device__ __forceinline__ float load_bf(const T *p, int64_t i);
template <> __device__ __forceinline__ float load_bf<uint16_t>(const uint16_t *p, int64_t i) { return dsq_bf2f(p[i]); }
template <> __device__ __forceinline__ float load_bf<float>(const float *p, int64_t i) { return dsq_rbf(p[i]); }

__device__ __forceinline__ double warp_sum_ordered(double v) {
    for (int off = 16; off > 0; off >>= 1) v = __dadd_rn(v, __shfl_xor_sync(kFull, v, off));
    return v;
}

__device__ __forceinline__ float warp_min(float v) {
    for (int off = 16; off > 0; off >>= 1) v = fminf(v, __shfl_xor_sync(kFull, v, off));
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(kFull, v, off));
    return v;
}

/* Squared error of one candidate over the group, in the shared order. */
template <typename T>
__device__ double group_error(const T *gw, int64_t gs, dsq_params p, int bits, int lane) {
    float s = dsq_bf2f(p.scale);
    double part = 0.0;
    for (int64_t k = lane; k < gs; k += 32) {
        float x = load_bf(gw, k);
        float d = dsq_dequantize(dsq_quantize(x, s, p.zp, bits), s, p.zp);
        part = __dadd_rn(part, dsq_err_term(d, x));
    }
    return warp_sum_ordered(part);
}

__device__ __forceinline__ void atomic_max_nonneg(double *addr, double v) {
    /* Non-negative doubles order like their bit patterns as unsigned integers. */
    atomicMax((unsigned long long *)addr, (unsigned long long)__double_as_longlong(v));
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
quant_groups(const T *__restrict__ w, int64_t nrows, int64_t cols, int bits, int64_t gs, int symmetric, int mse,
             uint32_t *__restrict__ packed, uint16_t *__restrict__ scale, uint32_t *__restrict__ zero_point,
             ds_quant_row_stats *__restrict__ stats) {
    const int lane = threadIdx.x & 31;
    const int pf = 32 / bits;
    const int64_t ng = cols / gs, wpr = cols / pf, total = nrows * ng;
    const int64_t nwarps = (int64_t)gridDim.x * kWarps;
    for (int64_t t = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5); t < total; t += nwarps) {
        const int64_t i = t / ng, g = t % ng;
        const T *gw = w + i * cols + g * gs;

        float lo = __int_as_float(0x7F800000), hi = -lo; /* +inf, -inf */
        for (int64_t k = lane; k < gs; k += 32) {
            float x = load_bf(gw, k);
            lo = fminf(lo, x);
            hi = fmaxf(hi, x);
        }
        lo = warp_min(lo);
        hi = warp_max(hi);

        dsq_params best = dsq_params_of(lo, hi, bits, symmetric);
        if (mse) {
            double best_err = group_error(gw, gs, best, bits, lane);
            for (int c = 1; c < DSQ_MSE_STEPS; c++) {
                dsq_params p = dsq_params_clipped(lo, hi, bits, symmetric, c);
                double e = group_error(gw, gs, p, bits, lane);
                if (e < best_err) { /* identical in every lane: the butterfly leaves one total */
                    best_err = e;
                    best = p;
                }
            }
        }
        const float s = dsq_bf2f(best.scale);

        double err_sq = 0.0, ref_sq = 0.0, max_err = 0.0, nonfinite = 0.0;
        uint32_t *out = packed + i * wpr + g * (gs / pf);
        for (int64_t wd = lane; wd < gs / pf; wd += 32) {
            uint32_t word = 0;
            for (int k = 0; k < pf; k++) {
                float x = load_bf(gw, wd * pf + k);
                int q = dsq_quantize(x, s, best.zp, bits);
                word |= dsq_code(q, bits) << (k * bits);
                if (!dsq_isfinite(x)) {
                    nonfinite += 1.0;
                    continue;
                }
                float d = __fsub_rn(dsq_dequantize(q, s, best.zp), x);
                err_sq += (double)d * d;
                ref_sq += (double)x * x;
                max_err = fmax(max_err, (double)fabsf(d));
            }
            out[wd] = word;
        }
        if (stats) {
            for (int off = 16; off > 0; off >>= 1) {
                err_sq += __shfl_xor_sync(kFull, err_sq, off);
                ref_sq += __shfl_xor_sync(kFull, ref_sq, off);
                nonfinite += __shfl_xor_sync(kFull, nonfinite, off);
                max_err = fmax(max_err, __shfl_xor_sync(kFull, max_err, off));
            }
        }
        if (lane == 0) {
            scale[i * ng + g] = best.scale;
            if (!symmetric)
                atomicOr(&zero_point[(i / pf) * ng + g], dsq_code(best.zp, bits) << ((i % pf) * bits));
            if (stats) {
                atomicAdd(&stats[i].err_sq, err_sq);
                atomicAdd(&stats[i].ref_sq, ref_sq);
                atomicAdd(&stats[i].nonfinite, nonfinite);
                atomic_max_nonneg(&stats[i].max_abs_err, max_err);
            }
        }
    }
}

} // namespace

extern "C" int ds_cuda_quant_rows_async(const ds_quant_spec *sp, const void *w, ds_dtype w_dtype, int64_t nrows,
                                        int64_t cols, uint32_t *packed, uint16_t *scale, uint32_t *zero_point,
                                        ds_quant_row_stats *stats, void *stream) {
    ds_cuda_bind_();
    const char *why = dsq_chunk_error(sp->bits, sp->group_size, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "quantize: %s (bits %d, group %d, %lld x %lld)", why, sp->bits,
                            sp->group_size, (long long)nrows, (long long)cols);
    if (w_dtype != DS_BF16 && w_dtype != DS_F32)
        return ds_fail(DS_EXIT_INPUT, "quantize: input must be BF16 or F32, not %s", ds_dtype_name(w_dtype));
    if (nrows == 0) return 0;
    cudaStream_t st = (cudaStream_t)stream;
    const int pf = 32 / sp->bits;
    const int64_t gs = sp->group_size ? sp->group_size : cols, ng = cols / gs;
    if (!sp->symmetric)
        CUDA_CHECK(cudaMemsetAsync(zero_point, 0, (size_t)((nrows + pf - 1) / pf * ng) * sizeof(uint32_t), st));
    if (stats) CUDA_CHECK(cudaMemsetAsync(stats, 0, (size_t)nrows * sizeof(ds_quant_row_stats), st));
    int64_t groups = nrows * ng, blocks = (groups + kWarps - 1) / kWarps;
    if (blocks > 65535 * 8) blocks = 65535 * 8; /* grid-stride loop covers the rest */
    if (w_dtype == DS_BF16)
        quant_groups<uint16_t><<<(unsigned)blocks, kThreads, 0, st>>>((const uint16_t *)w, nrows, cols, sp->bits, gs,
                                                                      sp->symmetric, sp->mse, packed, scale,
                                                                      zero_point, stats);
    else
        quant_groups<float><<<(unsigned)blocks, kThreads, 0, st>>>((const float *)w, nrows, cols, sp->bits, gs,
                                                                   sp->symmetric, sp->mse, packed, scale, zero_point,
                                                                   stats);
    CUDA_CHECK_LAUNCH();
    return 0;
}

extern "C" int ds_cuda_quant_rows(const ds_quant_spec *sp, const void *w, ds_dtype w_dtype, int64_t nrows,
                                  int64_t cols, uint32_t *packed, uint16_t *scale, uint32_t *zero_point,
                                  ds_quant_row_stats *stats) {
    ds_cuda_bind_();
    DS_TRY(ds_cuda_quant_rows_async(sp, w, w_dtype, nrows, cols, packed, scale, zero_point, stats, NULL));
    CUDA_CHECK(cudaStreamSynchronize(0));
    return 0;
}
