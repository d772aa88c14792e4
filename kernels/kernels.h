/* kernels.h - the math: every compute kernel, one signature each.
 *
 * Each kernel is declared once as a function type (ds_k_*) and defined twice
 * with it: ds_cpu_* in kernels/cpu (OpenMP, the reference) and ds_cuda_* in
 * kernels/cuda, which takes device pointers and writes the same bytes (tests
 * compare the two bit for bit). Every kernel returns 0, or a DS_EXIT_* code
 * for arguments it cannot take (CUDA also DS_EXIT_IO for a failed launch).
 *
 * What moves data to and from a GPU (memory, copies, streams, events, cuBLAS,
 * the pipelined chunk path) is the GPU runtime: kernels/gpu.h. The one table
 * the library calls, so that CPU and CUDA are chosen once (--device) instead
 * of at every call, is kernels/device.h. */
#ifndef DS_KERNELS_H
#define DS_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "formats/dtype.h"

/* ---- FP8 -> BF16 / F32 ----------------------------------------------------------
 * FP8 e4m3 block dequantization to BF16 for rows [r0, r0+nrows) of a [*, cols]
 * weight with 2-D block scales scale[(r/br)*scale_cols + c/bc] (the whole
 * tensor's scale, row-major). w and out point at the chunk's first row.
 * out[i][j] = bf16_rne(e4m3(w[i][j]) * s): one float32 multiply, then
 * round-to-nearest-even, as upstream's Triton kernel; a NaN product is written
 * as 0x7FFF (the GPU's canonical NaN). Scales must be finite (the plan builders
 * check them): otherwise CPU and GPU bytes differ. The CUDA version needs
 * scale_cols >= ceil(cols/bc), runs on the default stream and returns when it
 * is done (its enqueue-only twin: ds_cuda_dequant_fp8_bf16_async, gpu.h). */
typedef int ds_k_dequant_fp8_bf16(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                                  const float *scale, int64_t scale_cols, int br, int bc);
ds_k_dequant_fp8_bf16 ds_cpu_dequant_fp8_bf16, ds_cuda_dequant_fp8_bf16;

/* Same, to float32. Verify must read FP8 exactly as fp8-to-bf16 writes it, so
 * this one rounds to bf16 and then widens (= dequant_fp8_bf16 + widen_bf16_f32,
 * which is what the GPU path does). CPU only. */
typedef int ds_k_dequant_fp8_f32(const uint8_t *w, float *out, int64_t r0, int64_t nrows, int64_t cols,
                                 const float *scale, int64_t scale_cols, int br, int bc);
ds_k_dequant_fp8_f32 ds_cpu_dequant_fp8_f32;

/* ---- bf16 -> float32 ------------------------------------------------------------
 * out[i] is the float32 whose upper half is in[i] and lower half zero
 * (ds_bf16_to_f32 elementwise): exact for every value, NaN payloads kept, so a
 * weight widened on the GPU equals the one widened on the CPU. */
typedef int ds_k_widen_bf16_f32(const uint16_t *in, float *out, int64_t n);
ds_k_widen_bf16_f32 ds_cpu_widen_bf16_f32, ds_cuda_widen_bf16_f32;

/* ---- GEMM of the verify forward pass --------------------------------------------
 * C[M,N] = A[M,K] . W[N,K]^T, float32, row-major (a linear layer: activations
 * times a weight stored [out, in]). The CPU version sums every element in one
 * fixed order (8 lane sums, combined pairwise), independent of threads and
 * tiling, so identical inputs give identical bits. The CUDA one is cuBLAS
 * (pedantic fp32, never TF32) and needs a handle: ds_cuda_gemm_f32 in gpu.h. */
typedef int ds_k_gemm_f32(const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K);
ds_k_gemm_f32 ds_cpu_gemm_f32;

/* ---- requant: INT4/INT8 weight quantization (see quant/requant.h and
 * quant/quant_core.h for the arithmetic, MANUAL.md section requant for what it matches)
 * A chunk is rows [r0, r0+nrows) of a [rows, cols] weight; w, packed, scale
 * and zero_point point at the chunk's part of each tensor:
 *   packed     [nrows, cols*bits/32] words: q + 2^(bits-1) LSB-first along the row
 *              (INT4: word j holds column 8j+i in bits 4i..4i+3; INT8: 4j+i in 8i..8i+7)
 *   scale      [nrows, ngroups] bf16 (ngroups = cols/group_size, or 1 per channel)
 *   zero_point [ceil(nrows*bits/32), ngroups] words, only when !symmetric: the
 *              zero points packed the same way along the rows (row 8j+i of group
 *              g in word [j][g], bits 4i.., for INT4), so an asymmetric chunk
 *              must start at a row that is a multiple of 32/bits (any length).
 * Rows are independent otherwise: any split into chunks gives the same bytes.
 * spec is a host pointer in both builds; the CUDA versions take device pointers
 * for everything else and write the same bytes as the CPU ones. */
typedef struct ds_quant_spec {
    int bits;       /* 4 or 8 */
    int group_size; /* columns per scale (multiple of 32/bits); 0: one per row ("channel") */
    int symmetric;  /* 1: no zero point */
    int mse;        /* 1: per-group clipping search (--method mse); 0: rtn */
    int format;     /* 0: integer (above); 1: NVFP4, 2: MXFP4 (quant/fp4_core.h DSQ_FMT_*) */
} ds_quant_spec;

/* Per-row error statistics of a quantized chunk (dequantized vs input). */
typedef struct {
    double err_sq;      /* sum of (dequantized - input)^2 */
    double ref_sq;      /* sum of input^2 */
    double max_abs_err; /* largest |dequantized - input| */
    double nonfinite;   /* inputs that are NaN or infinite (the caller rejects the tensor) */
} ds_quant_row_stats;

/* Quantizes a chunk. w: BF16 (uint16_t) or F32 (rounded to bf16 first, so an
 * F32 copy of a BF16 weight gives the same bytes). stats: nrows entries, or NULL.
 * 0, or DS_EXIT_INPUT for an unsupported spec/shape (cols not a multiple of the
 * group size or of 32/bits, dtype not BF16/F32). */
typedef int ds_k_quant_rows(const ds_quant_spec *spec, const void *w, ds_dtype w_dtype, int64_t nrows, int64_t cols,
                            uint32_t *packed, uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats);
ds_k_quant_rows ds_cpu_quant_rows, ds_cuda_quant_rows;

/* The inverse (compressed-tensors' decompress): out = bf16((q - zp) * scale),
 * written as BF16 or widened to F32 (out_dtype). Same chunk rules. */
typedef int ds_k_quant_unpack_rows(const ds_quant_spec *spec, const uint32_t *packed, const uint16_t *scale,
                                   const uint32_t *zero_point, int64_t nrows, int64_t cols, void *out,
                                   ds_dtype out_dtype);
ds_k_quant_unpack_rows ds_cpu_quant_unpack_rows, ds_cuda_quant_unpack_rows;

/* ---- verify's structure scan ------------------------------------------------------
 * Index of the first non-finite value among n stored values of elem_size
 * bytes (1, 2 or 4), or -1: a value is non-finite iff (v & exp_mask) ==
 * exp_mask, exp_mask from ds_scan_exp_mask (e4m3fn 0x7F: its NaN codes
 * 0x7F/0xFF; e5m2 0x7C; f16 0x7C00; bf16 0x7F80; f32 0x7F800000). No decoding:
 * the stored bytes are tested as they are (kernels/cpu/scan_finite.c). The
 * CUDA twin (kernels/cuda/scan_finite.cu) lowers a device-side first index
 * instead of returning it: ds_cuda_scan_nonfinite_async, gpu.h. */
int64_t ds_cpu_scan_nonfinite(const void *data, int64_t n, int elem_size, uint32_t exp_mask);
uint32_t ds_scan_exp_mask(int elem_size, int fp8_e5m2, int f16);

/* ==== requant: NVFP4 / MXFP4 (quant/fp4_core.h for the arithmetic; MANUAL.md, section requant) ====
 * spec->format DSQ_FMT_NVFP4 (group 16, E4M3 scales, global scale gs) or
 * DSQ_FMT_MXFP4 (group 32, E8M0 scales; gs ignored); spec->mse picks the group
 * scale by least squared error. w: BF16 rows [nrows, cols]; packed [nrows,
 * cols/2] bytes (even column in the low nibble); scale [nrows, cols/group]
 * bytes. Rows are independent: any split into chunks gives the same bytes.
 * The CUDA versions take device pointers (spec on the host) and write the same
 * bytes; their stats sums may differ from the CPU's in the last bits. */
typedef int ds_k_fp4_quant_rows(const ds_quant_spec *spec, const uint16_t *w, int64_t nrows, int64_t cols,
                                float gs, uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats);
ds_k_fp4_quant_rows ds_cpu_fp4_quant_rows, ds_cuda_fp4_quant_rows;
/* compressed-tensors' decompression: bf16(e2m1 * scale) to BF16 or widened to F32. */
int ds_cpu_fp4_unpack_rows(const ds_quant_spec *spec, const uint8_t *packed, const uint8_t *scale, float gs,
                           int64_t nrows, int64_t cols, void *out, ds_dtype out_dtype);
/* Largest |w| of n BF16 values (non-finite ones skipped), as a float. */
float ds_cpu_bf16_absmax(const uint16_t *w, int64_t n);
/* Largest finite |w| of FP8 e4m3 rows [r0, r0+nrows) dequantized to BF16 (the
 * same value as ds_cpu_bf16_absmax over ds_cpu_dequant_fp8_bf16's output),
 * without writing the BF16 rows: per block, the largest code times |scale|. */
float ds_cpu_fp8_absmax(const uint8_t *w, int64_t r0, int64_t nrows, int64_t cols, const float *scale,
                        int64_t scale_cols, int br, int bc);
/* ==== end NVFP4 / MXFP4 block ==== */

/* ---- requant straight from FP8 (CPU only) ------------------------------------------
 * The same bytes and statistics as ds_cpu_dequant_fp8_bf16 into a BF16 buffer
 * followed by ds_cpu_quant_rows / ds_cpu_fp4_quant_rows on it, without the
 * buffer: each row is decoded into the core's cache and quantized there.
 * w: FP8 e4m3 rows [r0, r0+nrows) of a weight with 2-D block scales
 * fp8_scale[(r/br)*scale_cols + c/bc] (the whole tensor's, row-major); the
 * outputs as the BF16 kernels'. kernels/cpu/fp8_row.h says how. */
int ds_cpu_fp8_quant_rows(const ds_quant_spec *spec, const uint8_t *w, int64_t r0, int64_t nrows, int64_t cols,
                          const float *fp8_scale, int64_t scale_cols, int br, int bc, uint32_t *packed,
                          uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats);
int ds_cpu_fp8_fp4_quant_rows(const ds_quant_spec *spec, const uint8_t *w, int64_t r0, int64_t nrows, int64_t cols,
                              const float *fp8_scale, int64_t scale_cols, int br, int bc, float gs, uint8_t *packed,
                              uint8_t *scale, ds_quant_row_stats *stats);

#endif
