/* gguf_quant.h - float32 rows to ggml tensor types (to-gguf).
 *
 * ds_cpu_gguf_encode writes nrows rows of cols floats as ggml type t, the
 * bytes llama.cpp's converter (gguf-py quants.py) writes for the same
 * floats: F32 as is; F16 round-to-nearest-even (numpy astype); BF16 RNE with
 * NaN made quiet (ggml_compute_fp32_to_bf16); Q8_0 blocks of 32: d = amax/127
 * (float32), q = round-half-away(x * (1/d)), d stored as F16. cols must be a
 * multiple of the type's block (the planner falls back to F16 otherwise, as
 * the converter does). Returns 0, or DS_EXIT_USAGE for a type it cannot write.
 * OpenMP over rows; the bytes do not depend on the thread count. */
#ifndef DS_GGUF_QUANT_H
#define DS_GGUF_QUANT_H
#include <stdint.h>
#include "formats/gguf.h"
#include "kernels/kernels.h"

/* Q4_K, Q6_K, Q5_0 rows (kernels/cpu/gguf_kquant.c): llama-quantize's bytes without an imatrix. */
void ds_cpu_gguf_kquant_row(const float *x, int64_t cols, ds_ggml_type t, uint8_t *out);
int ds_cpu_gguf_encode(const float *x, int64_t nrows, int64_t cols, ds_ggml_type t, uint8_t *out);
/* The same on the GPU (kernels/cuda/gguf_quant.cu): x and out are device
 * pointers; returns when out is complete; the CPU's bytes. Reached through the
 * device table (kernels/device.h, gguf_encode); absent from a build without CUDA. */
int ds_cuda_gguf_encode(const float *x, int64_t nrows, int64_t cols, ds_ggml_type t, uint8_t *out);
/* One row, no threading (for tests and callers that parallelize themselves). */
int ds_cpu_gguf_encode_row(const float *x, int64_t cols, ds_ggml_type t, uint8_t *out);

/* FP8 e4m3 block dequantization to float32 WITHOUT the bf16 rounding of
 * ds_cpu_dequant_fp8_f32: out = float(w) * scale, one float32 multiply, the
 * value llama.cpp's converter computes when it reads FP8 itself
 * (weight.float() * scale). Same arguments as ds_cpu_dequant_fp8_f32. */
ds_k_dequant_fp8_f32 ds_cpu_dequant_fp8_f32_exact;
#endif
