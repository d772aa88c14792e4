/* gpu.h - the GPU runtime: what moves data to and from the GPU and orders the
 * work there (kernels/cuda: device.cu, async.cu, gemm.cu). The kernels
 * themselves are in kernels/kernels.h; library code reaches both through the
 * device table (kernels/device.h) and includes this header only where it needs
 * something CUDA-specific (tests/gpu, the CUDA table itself).
 *
 * In a CPU-only build (CUDA=0 or no nvcc) only ds_cuda_available(),
 * ds_cuda_present() and ds_cuda_select_device() exist (kernels/cuda_stub.c:
 * "built without CUDA") and the device table has no CUDA instance. CUDA
 * failures are printed where they happen ("CUDA: <call>: <error>
 * (file:line)") and returned as DS_EXIT_IO; bad arguments as DS_EXIT_INPUT.
 * Functions use the calling thread's current device: after
 * ds_cuda_select_device(K) (--device cuda:K), device K on every thread (each
 * entry point makes it current on a thread that has not chosen it yet). */
#ifndef DS_GPU_H
#define DS_GPU_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/kernels.h"

/* 1 when built with CUDA and a device is usable. Never fails; on a machine
 * without a GPU or driver it returns 0 and why in reason. */
int ds_cuda_available(char *reason, int reason_len);
/* The same device checks without creating a context (the driver alone: count,
 * compute capability), for a caller that will run nothing on the GPU: its
 * context's start (0.2 s) and teardown at exit (0.1-0.2 s, H200) buy nothing.
 * Whether this build's kernels run there is not checked. */
int ds_cuda_present(char *reason, int reason_len);
/* --device cuda:K: makes visible device K (numbered after CUDA_VISIBLE_DEVICES)
 * current for this thread; 1 on success, 0 and why in reason otherwise. Call
 * it before any other CUDA work. (The CPU-only build has it too: "built without CUDA".) */
int ds_cuda_select_device(int k, char *reason, int reason_len);

/* ---- memory and blocking copies (legacy default stream) ---- */
int ds_cuda_malloc(void **dptr, size_t n);
void ds_cuda_free(void *dptr); /* NULL is fine */
int ds_cuda_memcpy_h2d(void *dst, const void *src, size_t n);
int ds_cuda_memcpy_d2h(void *dst, const void *src, size_t n);
int ds_cuda_memset(void *dptr, int byte, size_t n);
int ds_cuda_sync(void); /* waits for all work on the device; reports errors of earlier launches */
/* Destroys this process's context on the current device (cudaDeviceReset):
 * every buffer, stream and event made there is gone. For a thread that is done
 * with the GPU while others still work, so that the teardown a process pays at
 * exit (0.1 s, H200) runs beside their work. */
void ds_cuda_release(void);
/* Pinned (page-locked) host memory: chunk buffers allocated here are copied
 * straight to and from the device (no staging copy); read()/pread() into them
 * works like into any memory. */
int ds_cuda_host_alloc(void **p, size_t n);
void ds_cuda_host_free(void *p); /* NULL is fine */

/* ---- streams, events, asynchronous copies ----
 * A stream made here does not synchronize with the legacy default stream
 * (NULL), where the blocking copies above and ds_cuda_gemm_f32 run. Events
 * time (elapsed). Each returns 0 or DS_EXIT_IO naming the failing call. */
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

/* ---- kernels enqueued on a stream (a cudaStream_t; NULL: the default stream) ----
 * The kernels.h kernels without the wait: they return launch errors; later
 * ones show at the next synchronization. */
int ds_cuda_dequant_fp8_bf16_async(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                                   const float *scale, int64_t scale_cols, int br, int bc, void *stream);
int ds_cuda_widen_bf16_f32_async(const uint16_t *in, float *out, int64_t n, void *stream);
/* verify's structure scan (ds_cpu_scan_nonfinite) on device memory: atomically
 * lowers *dev_first (device memory, UINT64_MAX before) to the first non-finite
 * index. The synchronous one returns it on the host (-1: all finite). */
int ds_cuda_scan_nonfinite_async(const void *dev_data, int64_t n, int elem_size, uint32_t exp_mask,
                                 unsigned long long *dev_first, void *stream);
int ds_cuda_scan_nonfinite(const void *dev_data, int64_t n, int elem_size, uint32_t exp_mask, int64_t *first);
int ds_cuda_quant_rows_async(const ds_quant_spec *spec, const void *w, ds_dtype w_dtype, int64_t nrows,
                             int64_t cols, uint32_t *packed, uint16_t *scale, uint32_t *zero_point,
                             ds_quant_row_stats *stats, void *stream);
int ds_cuda_fp4_quant_rows_async(const ds_quant_spec *spec, const uint16_t *w, int64_t nrows, int64_t cols, float gs,
                                 uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats, void *stream);

/* ---- FP8 -> BF16 of host memory, pipelined through the GPU ----
 * A context owns nslots CUDA streams, each with device buffers and pinned
 * staging for stage_bytes of FP8 input (2x that of BF16 output). One context
 * serves one thread at a time; make one per converting thread. stage_bytes 0:
 * 8 MiB; nslots 0: 3 (>= 2 for overlap). */
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

/* ---- cuBLAS GEMM (kernels.h's ds_k_gemm_f32 on the GPU) ----
 * ds_cuda_blas holds the handle (math mode CUBLAS_PEDANTIC_MATH: true fp32,
 * never TF32) plus device staging buffers. open: 0, or DS_EXIT_USAGE when no
 * device is usable (message says why). */
typedef struct ds_cuda_blas ds_cuda_blas;
int ds_cuda_blas_open(ds_cuda_blas **b);
void ds_cuda_blas_close(ds_cuda_blas *b);
/* Device pointers. 0 or DS_EXIT_IO (message names the failing call). */
int ds_cuda_gemm_f32(ds_cuda_blas *b, const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K);
/* Host pointers: copies A and W into b's device buffers, multiplies, copies C back. */
int ds_cuda_gemm_f32_host(ds_cuda_blas *b, const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K);

#endif
