/* dequant_fp8.cu - FP8 e4m3 block dequantization to BF16 on the GPU.
 *
 * out[i][j] = bf16_rne(e4m3(w[i][j]) * scale[(r0+i)/br][j/bc]): one float32
 * multiply, then round-to-nearest-even, as upstream's Triton kernel does. The
 * decode is exact (hardware cvt e4m3x2 -> f16x2 on sm_89+, NVIDIA's exact
 * software path below that; f16 -> f32 is exact), the multiply is IEEE (nvcc
 * without fast-math: no flush of subnormals), and any NaN result is written as
 * 0x7FFF, the canonical NaN that a GPU produces for NaN arithmetic and that
 * upstream's kernel therefore writes.
 *
 * Two kernels: a fast one where every group of 16 consecutive elements lies in
 * one row and one scale block and the pointers are 16-byte aligned (cols and bc
 * multiples of 16: every DeepSeek weight), doing 16-byte loads and 2 x 16-byte
 * stores per group; and a per-element one for everything else.
 * On an H100 the fast kernel moves a 64 MiB chunk (64 MiB in, 128 MiB out) in
 * 0.076 ms, ~2.6 TB/s, 94% of a device-to-device copy's rate; tests/gpu/NOTES.md
 * has the variants tried (unrolling, cache hints, the NaN select). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <stdint.h>

#include "kernels/cuda/cuda_check.h"

extern "C" {
#include "kernels/gpu.h"
}

namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 1; /* groups per thread per step: 1 measured fastest on H100 (more cut occupancy) */

/* Two e4m3 bytes (first element in the low byte) to two floats, exactly. */
__device__ __forceinline__ float2 e4m3x2_to_f32x2(unsigned short v) {
    __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)v, __NV_E4M3);
    return __half22float2(__half2(h));
}

__device__ __forceinline__ float e4m3_to_f32(uint8_t v) {
    return __half2float(__half(__nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)v, __NV_E4M3)));
}

/* bf16 RNE of one float; NaN -> 0x7FFF whatever the hardware's cvt does with it. */
__device__ __forceinline__ uint16_t f32_to_bf16(float f) {
    __nv_bfloat16 b = __float2bfloat16_rn(f);
    uint16_t u = __bfloat16_as_ushort(b);
    return f != f ? (uint16_t)0x7FFF : u;
}

/* Two floats to two packed bf16 (a in the low half), as f32_to_bf16 each. */
__device__ __forceinline__ uint32_t f32x2_to_bf16x2(float a, float b) {
    __nv_bfloat162 r = __floats2bfloat162_rn(a, b);
    uint32_t u = (uint32_t)__bfloat16_as_ushort(r.x) | ((uint32_t)__bfloat16_as_ushort(r.y) << 16);
    if (a != a) u = (u & 0xFFFF0000u) | 0x7FFFu;
    if (b != b) u = (u & 0x0000FFFFu) | 0x7FFF0000u;
    return u;
}

/* Four fp8 bytes (one 32-bit word) times s -> four bf16 (two words). */
__device__ __forceinline__ void dequant4(uint32_t v, float s, uint32_t &o0, uint32_t &o1) {
    float2 a = e4m3x2_to_f32x2((unsigned short)(v & 0xFFFFu));
    float2 b = e4m3x2_to_f32x2((unsigned short)(v >> 16));
    o0 = f32x2_to_bf16x2(a.x * s, a.y * s);
    o1 = f32x2_to_bf16x2(b.x * s, b.y * s);
}

/* Fast path. Group t = elements [16t, 16t+16) of the chunk, in row gr = t / gpr,
 * group column gc = t % gpr; bc16 = bc / 16 groups per scale block. r0m < br is
 * the chunk's first row within its scale block (scale already points at that
 * block's row). Idx is 32-bit whenever the chunk allows, for cheap division. */
template <typename Idx>
__global__ void __launch_bounds__(kThreads) dequant_vec16(const uint4 *__restrict__ w, uint4 *__restrict__ out,
                                                          Idx ngroups, Idx gpr, Idx bc16, Idx r0m, Idx br,
                                                          const float *__restrict__ scale, int64_t scale_cols) {
    const Idx stride = (Idx)gridDim.x * (kThreads * kUnroll);
    for (Idx base = (Idx)blockIdx.x * (kThreads * kUnroll) + threadIdx.x; base < ngroups; base += stride) {
        uint4 v[kUnroll];
        float s[kUnroll];
#pragma unroll
        for (int k = 0; k < kUnroll; k++) {
            Idx t = base + (Idx)k * kThreads;
            if (t < ngroups) {
                v[k] = w[t];
                Idx gr = t / gpr, gc = t - gr * gpr;
                s[k] = __ldg(scale + (int64_t)((r0m + gr) / br) * scale_cols + (int64_t)(gc / bc16));
            }
        }
#pragma unroll
        for (int k = 0; k < kUnroll; k++) {
            Idx t = base + (Idx)k * kThreads;
            if (t < ngroups) {
                uint4 a, b;
                dequant4(v[k].x, s[k], a.x, a.y);
                dequant4(v[k].y, s[k], a.z, a.w);
                dequant4(v[k].z, s[k], b.x, b.y);
                dequant4(v[k].w, s[k], b.z, b.w);
                out[2 * (size_t)t] = a;
                out[2 * (size_t)t + 1] = b;
            }
        }
    }
}

/* General path: one element per thread and step; any cols, bc, alignment. */
template <typename Idx>
__global__ void __launch_bounds__(kThreads) dequant_scalar(const uint8_t *__restrict__ w, uint16_t *__restrict__ out,
                                                           Idx n, Idx cols, Idx r0m, Idx br, Idx bc,
                                                           const float *__restrict__ scale, int64_t scale_cols) {
    const Idx stride = (Idx)gridDim.x * kThreads;
    for (Idx e = (Idx)blockIdx.x * kThreads + threadIdx.x; e < n; e += stride) {
        Idx r = e / cols, c = e - r * cols;
        float s = __ldg(scale + (int64_t)((r0m + r) / br) * scale_cols + (int64_t)(c / bc));
        out[e] = f32_to_bf16(e4m3_to_f32(w[e]) * s);
    }
}

unsigned grid_for(uint64_t work_items, uint64_t per_block) {
    uint64_t g = (work_items + per_block - 1) / per_block;
    const uint64_t cap = 1u << 20; /* the grid-stride loops cover the rest */
    return (unsigned)(g < 1 ? 1 : g > cap ? cap : g);
}

template <typename Idx>
void launch_typed(const uint8_t *w, uint16_t *out, int64_t r0m, int64_t nrows, int64_t cols, const float *scale,
                  int64_t scale_cols, int br, int bc, bool vec, cudaStream_t st) {
    uint64_t n = (uint64_t)nrows * (uint64_t)cols;
    if (vec) {
        uint64_t ng = n / 16;
        dequant_vec16<Idx><<<grid_for(ng, kThreads * kUnroll), kThreads, 0, st>>>(
            (const uint4 *)w, (uint4 *)out, (Idx)ng, (Idx)(cols / 16), (Idx)(bc / 16), (Idx)r0m, (Idx)br, scale,
            scale_cols);
    } else {
        dequant_scalar<Idx><<<grid_for(n, kThreads), kThreads, 0, st>>>(w, out, (Idx)n, (Idx)cols, (Idx)r0m, (Idx)br,
                                                                        (Idx)bc, scale, scale_cols);
    }
}

} /* namespace */

/* Checks the arguments, moves scale to the chunk's first scale row (so the
 * kernels index with a small r0m < br), picks the kernel and index width. */
int ds_cuda_dequant_launch_(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                            const float *scale, int64_t scale_cols, int br, int bc, cudaStream_t st) {
    if (r0 < 0 || nrows < 0 || cols < 0 || br <= 0 || bc <= 0 || scale_cols < (cols + bc - 1) / bc)
        return ds_fail(DS_EXIT_INPUT,
                       "dequant fp8->bf16 (CUDA): bad arguments r0=%lld nrows=%lld cols=%lld scale_cols=%lld "
                       "block=%dx%d",
                       (long long)r0, (long long)nrows, (long long)cols, (long long)scale_cols, br, bc);
    if (nrows == 0 || cols == 0) return DS_OK;
    const float *s = scale + (r0 / br) * scale_cols;
    int64_t r0m = r0 % br;
    bool vec = cols % 16 == 0 && bc % 16 == 0 && ((uintptr_t)w % 16) == 0 && ((uintptr_t)out % 16) == 0;
    uint64_t n = (uint64_t)nrows * (uint64_t)cols;
    /* 32-bit indices when every index the kernel forms fits (element count, rows + r0m). */
    bool small = n < (1ull << 31) && (uint64_t)(r0m + nrows) < (1ull << 31);
    if (small)
        launch_typed<uint32_t>(w, out, r0m, nrows, cols, s, scale_cols, br, bc, vec, st);
    else
        launch_typed<uint64_t>(w, out, r0m, nrows, cols, s, scale_cols, br, bc, vec, st);
    CUDA_CHECK_LAUNCH();
    return DS_OK;
}

/* Used by ds_cuda_available: is there a kernel image this device can run? */
cudaError_t ds_cuda_dequant_probe_(void) {
    cudaFuncAttributes a;
    cudaError_t e = cudaFuncGetAttributes(&a, dequant_vec16<uint32_t>);
    if (e == cudaSuccess) e = cudaFuncGetAttributes(&a, dequant_scalar<uint32_t>);
    return e;
}

extern "C" int ds_cuda_dequant_fp8_bf16_async(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows,
                                              int64_t cols, const float *scale, int64_t scale_cols, int br, int bc,
                                              void *stream) {
    ds_cuda_bind_();
    return ds_cuda_dequant_launch_(w, out, r0, nrows, cols, scale, scale_cols, br, bc, (cudaStream_t)stream);
}

extern "C" int ds_cuda_dequant_fp8_bf16(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                                        const float *scale, int64_t scale_cols, int br, int bc) {
    ds_cuda_bind_();
    DS_TRY(ds_cuda_dequant_launch_(w, out, r0, nrows, cols, scale, scale_cols, br, bc, (cudaStream_t)0));
    CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)0));
    return DS_OK;
}
