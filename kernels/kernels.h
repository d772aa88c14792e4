/* kernels.h - every compute kernel, in two builds with one signature:
 * ds_cpu_* (kernels/cpu, OpenMP, the reference) and ds_cuda_* (kernels/cuda).
 * The CUDA versions take device pointers and run on the current stream of the
 * caller's ds_cuda_ctx; everything else about the arguments is identical, and
 * tests compare the two bit for bit. */
#ifndef DS_KERNELS_H
#define DS_KERNELS_H

#include <stdint.h>

/* FP8 e4m3 block dequantization to BF16 for rows [r0, r0+nrows) of a [*, cols]
 * weight with 2-D block scales scale[(r/br)*scale_cols + c/bc] (the whole
 * tensor's scale, row-major). out[i][j] = bf16_rne(e4m3(w[i][j]) * s): one
 * float32 multiply, then round-to-nearest-even, as upstream's Triton kernel;
 * a NaN product is written as 0x7FFF (the GPU's canonical NaN). Scales must be
 * finite (the plan builders check them): otherwise CPU and GPU bytes differ. */
void ds_cpu_dequant_fp8_bf16(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows,
                             int64_t cols, const float *scale, int64_t scale_cols,
                             int br, int bc);
/* Same, to float32 (verify widens weights; identical values before rounding to bf16
 * is NOT what verify wants: it must read FP8 exactly as fp8-to-bf16 writes it, so
 * this one rounds to bf16 and then widens). */
void ds_cpu_dequant_fp8_f32(const uint8_t *w, float *out, int64_t r0, int64_t nrows,
                            int64_t cols, const float *scale, int64_t scale_cols,
                            int br, int bc);

/* CUDA availability: 1 when built with CUDA and a device is usable. Never fails;
 * on a machine without a GPU or driver it returns 0 and why in reason. */
int ds_cuda_available(char *reason, int reason_len);

/* ---- verify forward pass (owner: verify task) ----------------------------
 * C[M,N] = A[M,K] . W[N,K]^T, float32, row-major (a linear layer: activations
 * times a weight stored [out, in]). The CPU version sums every element in one
 * fixed order (8 lane sums, combined pairwise), independent of threads and
 * tiling, so identical inputs give identical bits. Returns 0. */
int ds_cpu_gemm_f32(const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K);
/* The CUDA version needs a cuBLAS handle: ds_cuda_blas holds it (math mode
 * CUBLAS_PEDANTIC_MATH: true fp32, never TF32) plus device staging buffers.
 * open: 0, or DS_EXIT_USAGE when no device is usable (message says why). */
typedef struct ds_cuda_blas ds_cuda_blas;
int ds_cuda_blas_open(ds_cuda_blas **b);
void ds_cuda_blas_close(ds_cuda_blas *b);
/* Device pointers. 0 or DS_EXIT_IO (message names the failing call). */
int ds_cuda_gemm_f32(ds_cuda_blas *b, const float *A, const float *W, float *C,
                     int64_t M, int64_t N, int64_t K);
/* Host pointers: copies A and W into b's device buffers, multiplies, copies C back. */
int ds_cuda_gemm_f32_host(ds_cuda_blas *b, const float *A, const float *W, float *C,
                          int64_t M, int64_t N, int64_t K);
/* ---- end verify block ---- */

/* ==== CUDA device layer and FP8 -> BF16 on the GPU ==============================
 * (block owned by the CUDA dequant/device-layer work: kernels/cuda/device.cu,
 * kernels/cuda/dequant_fp8.cu; stubs in kernels/cuda_stub.c)
 *
 * Every function here exists in both builds. In the CPU-only build (CUDA=0 or no
 * nvcc) ds_cuda_available() says "built without CUDA" and the others print that
 * and return DS_EXIT_USAGE, so a caller needs no #ifdef: ask ds_cuda_available
 * first and take the CPU path when it says 0. CUDA failures are printed where
 * they happen ("CUDA: <call>: <error> (file:line)") and returned as DS_EXIT_IO;
 * bad arguments as DS_EXIT_INPUT. Functions use the calling thread's current
 * device (device 0 unless the program chose another). */
#include <stddef.h>

/* Device memory and blocking copies, so C callers and tests need no CUDA headers. */
int ds_cuda_malloc(void **dptr, size_t n);
void ds_cuda_free(void *dptr); /* NULL is fine */
int ds_cuda_memcpy_h2d(void *dst, const void *src, size_t n);
int ds_cuda_memcpy_d2h(void *dst, const void *src, size_t n);
int ds_cuda_memset(void *dptr, int byte, size_t n);
int ds_cuda_sync(void); /* waits for all work on the device; reports errors of earlier launches */
/* Pinned (page-locked) host memory. Chunk buffers allocated here let
 * ds_cuda_dequant_chunk copy straight between them and the device (no staging
 * copy), and read()/pread() into them works like into any memory. */
int ds_cuda_host_alloc(void **p, size_t n);
void ds_cuda_host_free(void *p); /* NULL is fine */

/* The kernel on device pointers: same arguments and bytes as
 * ds_cpu_dequant_fp8_bf16 (w and out at the chunk's first row, scale the whole
 * tensor's, indexed by absolute row r0+i). Needs scale_cols >= ceil(cols/bc).
 * Runs on the default stream and returns when it is done. NaN results are
 * written as 0x7FFF, as upstream's Triton kernel does (see ds_cuda_dequant_chunk). */
int ds_cuda_dequant_fp8_bf16(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                             const float *scale, int64_t scale_cols, int br, int bc);
/* Same, only enqueued on stream (a cudaStream_t; NULL: the default stream);
 * returns launch errors, later ones show at the next synchronization. */
int ds_cuda_dequant_fp8_bf16_async(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                                   const float *scale, int64_t scale_cols, int br, int bc, void *stream);

/* Host-level streaming for the executor. A context owns nslots CUDA streams,
 * each with device buffers and pinned staging for stage_bytes of FP8 input
 * (2x that of BF16 output). One context serves one thread at a time; make one
 * per converting thread. stage_bytes 0: 8 MiB; nslots 0: 3 (>= 2 for overlap). */
typedef struct ds_cuda_ctx ds_cuda_ctx;
int ds_cuda_ctx_create(ds_cuda_ctx **ctx, size_t stage_bytes, int nslots);
void ds_cuda_ctx_destroy(ds_cuda_ctx *ctx); /* NULL is fine */

/* ds_cpu_dequant_fp8_bf16 on host memory, through the GPU: host_w is the chunk's
 * first row (nrows x cols FP8 bytes), host_out the chunk's first output row
 * (nrows x cols BF16), host_scale the whole tensor's scale ([*, scale_cols] F32;
 * only rows r0/br .. (r0+nrows-1)/br are read). Returns when host_out is
 * complete. Any chunk works (any r0, nrows, cols, block); the executor's chunks
 * of whole 128-row blocks up to ~64 MiB are the intended case.
 * Inside, the chunk is cut into pieces of whole rows of about stage_bytes; piece
 * k goes to slot k % nslots, whose stream copies it in, runs the kernel and
 * copies it out, so consecutive pieces overlap H2D, kernel and D2H. Buffers from
 * ds_cuda_host_alloc (each of host_w and host_out lying inside one such
 * allocation) are copied directly; other (pageable) memory goes through the
 * slot's pinned staging, copied by the host while other slots' pieces run.
 * Output bytes equal ds_cpu_dequant_fp8_bf16's wherever that is defined (finite
 * scales): a NaN product (codes 0x7F/0xFF) is 0x7FFF in both, the value the GPU
 * and so upstream's Triton kernel gives every NaN. With an inf or NaN scale the
 * CUDA kernel still gives upstream's bytes (IEEE product, NaN as 0x7FFF).
 * Pinned buffers are ~1.7x faster than pageable (tests/gpu/NOTES.md). */
int ds_cuda_dequant_chunk(ds_cuda_ctx *ctx, const uint8_t *host_w, uint16_t *host_out, int64_t r0, int64_t nrows,
                          int64_t cols, const float *host_scale, int64_t scale_cols, int br, int bc);
/* ==== end of the CUDA device layer block ======================================= */

/* ==== requant: INT4/INT8 weight quantization (owner: quant task; see quant/requant.h,
 * quant/quant_core.h for the arithmetic and MANUAL.md (section requant) for what it matches) ====
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
#include "formats/dtype.h"

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
int ds_cpu_quant_rows(const ds_quant_spec *spec, const void *w, ds_dtype w_dtype, int64_t nrows, int64_t cols,
                      uint32_t *packed, uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats);
int ds_cuda_quant_rows(const ds_quant_spec *spec, const void *w, ds_dtype w_dtype, int64_t nrows, int64_t cols,
                       uint32_t *packed, uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats);
/* Same, enqueued on stream (a cudaStream_t; NULL: the default stream). */
int ds_cuda_quant_rows_async(const ds_quant_spec *spec, const void *w, ds_dtype w_dtype, int64_t nrows,
                             int64_t cols, uint32_t *packed, uint16_t *scale, uint32_t *zero_point,
                             ds_quant_row_stats *stats, void *stream);
/* The inverse (compressed-tensors' decompress): out = bf16((q - zp) * scale),
 * written as BF16 or widened to F32 (out_dtype). Same chunk rules. */
int ds_cpu_quant_unpack_rows(const ds_quant_spec *spec, const uint32_t *packed, const uint16_t *scale,
                             const uint32_t *zero_point, int64_t nrows, int64_t cols, void *out, ds_dtype out_dtype);
int ds_cuda_quant_unpack_rows(const ds_quant_spec *spec, const uint32_t *packed, const uint16_t *scale,
                              const uint32_t *zero_point, int64_t nrows, int64_t cols, void *out, ds_dtype out_dtype);
/* ==== end requant block ==== */

/* ==== verify weight streaming (owner: verify-perf task: kernels/cpu/widen.c,
 * kernels/cuda/widen.cu, kernels/cuda/async.cu; stubs in kernels/cuda_stub.c) ====
 * bf16 -> float32: out[i] is the float32 whose upper half is in[i] and lower
 * half zero (ds_bf16_to_f32 elementwise): exact for every value, NaN payloads
 * kept, so a weight widened on the GPU equals the one widened on the CPU.
 * Returns 0 (CUDA: DS_EXIT_IO when a launch fails). The CUDA one waits; _async
 * enqueues on stream (a cudaStream_t; NULL: the legacy default stream). */
int ds_cpu_widen_bf16_f32(const uint16_t *in, float *out, int64_t n);
int ds_cuda_widen_bf16_f32(const uint16_t *in, float *out, int64_t n);
int ds_cuda_widen_bf16_f32_async(const uint16_t *in, float *out, int64_t n, void *stream);

/* Streams, events and asynchronous copies for C callers. A stream made here
 * does not synchronize with the legacy default stream (NULL), where the
 * blocking copies above and ds_cuda_gemm_f32 run. Events time (elapsed).
 * Each returns 0 or DS_EXIT_IO naming the failing call. */
int ds_cuda_stream_create(void **stream);
void ds_cuda_stream_destroy(void *stream); /* NULL is fine */
int ds_cuda_stream_sync(void *stream);
int ds_cuda_event_create(void **event);
void ds_cuda_event_destroy(void *event);   /* NULL is fine */
int ds_cuda_event_record(void *event, void *stream);
int ds_cuda_event_sync(void *event);
/* *done: 1 when the work before the event's last record has finished, else 0. */
int ds_cuda_event_query(void *event, int *done);
int ds_cuda_event_elapsed_ms(void *start, void *end, float *ms);
/* Host to device from pinned memory (pageable works too, less overlapped). */
int ds_cuda_memcpy_h2d_async(void *dst, const void *src, size_t n, void *stream);
/* Device to device, height rows of width bytes, rows pitch bytes apart. */
int ds_cuda_memcpy_2d_d2d_async(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                                size_t height, void *stream);
/* ==== end verify weight streaming block ==== */

/* ==== requant: NVFP4 / MXFP4 (quant/fp4_core.h for the arithmetic; MANUAL.md, section requant) ====
 * spec->format DSQ_FMT_NVFP4 (group 16, E4M3 scales, global scale gs) or
 * DSQ_FMT_MXFP4 (group 32, E8M0 scales; gs ignored); spec->mse picks the group
 * scale by least squared error. w: BF16 rows [nrows, cols]; packed [nrows,
 * cols/2] bytes (even column in the low nibble); scale [nrows, cols/group]
 * bytes. Rows are independent: any split into chunks gives the same bytes.
 * The CUDA versions take device pointers (spec on the host) and write the same
 * bytes; their stats sums may differ from the CPU's in the last bits. */
int ds_cpu_fp4_quant_rows(const ds_quant_spec *spec, const uint16_t *w, int64_t nrows, int64_t cols, float gs,
                          uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats);
int ds_cuda_fp4_quant_rows(const ds_quant_spec *spec, const uint16_t *w, int64_t nrows, int64_t cols, float gs,
                           uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats);
/* compressed-tensors' decompression: bf16(e2m1 * scale) to BF16 or widened to F32. */
int ds_cpu_fp4_unpack_rows(const ds_quant_spec *spec, const uint8_t *packed, const uint8_t *scale, float gs,
                           int64_t nrows, int64_t cols, void *out, ds_dtype out_dtype);
/* Largest |w| of n BF16 values (non-finite ones skipped), as a float. */
float ds_cpu_bf16_absmax(const uint16_t *w, int64_t n);
/* ==== end NVFP4 / MXFP4 block ==== */

#endif
