/* device.h - one table of device operations, with a CPU instance and a CUDA
 * instance, chosen once (--device) where a command starts its work.
 *
 * Library code that can run on either (convert/xform.c, verify/ws_stream.c,
 * verify/backend.c) holds a `const ds_device *` and calls through it: memory
 * the kernels use, host memory that is copied to and from it, copies, streams
 * and events, the kernels. The CPU instance (kernels/cpu/device_cpu.c) runs
 * the kernels.h CPU kernels on host memory; its copies are memcpy, its streams
 * and events are no-ops (work is done when the call returns). The CUDA instance
 * (kernels/cuda/device_cuda.c, CUDA builds only) calls the GPU runtime
 * (kernels/gpu.h). The code therefore reads the same for both; what still
 * differs is said by one field, `gpu`: whether the kernels' memory is separate
 * from the host's (so data must be copied there and back, and the kernels run
 * asynchronously). The ds_dev_in/ds_dev_out helpers below skip those copies
 * on the CPU, so the CPU path moves no byte more than it did before the table.
 *
 * Every operation returns 0 or a DS_EXIT_* code (reported where it happened);
 * "stream" and "event" are opaque (NULL: the default stream). */
#ifndef DS_DEVICE_H
#define DS_DEVICE_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/kernels.h"
#include "kernels/gguf_quant.h"

typedef struct ds_device {
    const char *name;       /* "cpu", "cuda": reports and messages */
    int gpu;                /* 1: the kernels' memory is the GPU's, reached by copies; work is asynchronous */

    /* memory the kernels read and write */
    int (*alloc)(void **p, size_t n);
    void (*free)(void *p);                                   /* NULL is fine */
    /* host memory that is copied to and from it (pinned on CUDA) */
    int (*host_alloc)(void **p, size_t n);
    void (*host_free)(void *p);                              /* NULL is fine */
    /* blocking copies (after all earlier work on the default stream) */
    int (*h2d)(void *dst, const void *src, size_t n);
    int (*d2h)(void *dst, const void *src, size_t n);
    int (*memset)(void *p, int byte, size_t n);
    int (*sync)(void);                                       /* all work done */
    /* gives the device back (CUDA: the context is destroyed, with every buffer made
     * on it) so its teardown runs now, beside other work, not at exit; NULL: nothing to give */
    void (*release)(void);

    /* streams and events */
    int (*stream_create)(void **stream);
    void (*stream_destroy)(void *stream);
    int (*event_create)(void **event);
    void (*event_destroy)(void *event);
    int (*event_record)(void *event, void *stream);
    int (*event_sync)(void *event);
    int (*event_query)(void *event, int *done);
    int (*event_elapsed_ms)(void *start, void *end, float *ms);
    int (*h2d_async)(void *dst, const void *src, size_t n, void *stream);
    int (*copy_2d_async)(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                         void *stream);

    /* the kernels (kernels.h), on the table's memory, enqueued on stream */
    int (*dequant_fp8_bf16)(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                            const float *scale, int64_t scale_cols, int br, int bc, void *stream);
    int (*widen_bf16_f32)(const uint16_t *in, float *out, int64_t n, void *stream);
    int (*quant_rows)(const ds_quant_spec *spec, const void *w, ds_dtype w_dtype, int64_t nrows, int64_t cols,
                      uint32_t *packed, uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats,
                      void *stream);

    /* FP8 -> BF16 of host memory, returning when host_out is complete (CUDA:
     * pipelined over streams and pinned staging, ds_cuda_dequant_chunk).
     * pipe_open's context serves one thread; stage_bytes/nslots as ds_cuda_ctx_create. */
    int (*pipe_open)(void **pipe, size_t stage_bytes, int nslots);
    void (*pipe_close)(void *pipe);                          /* NULL is fine */
    int (*dequant_fp8_bf16_host)(void *pipe, const uint8_t *host_w, uint16_t *host_out, int64_t r0, int64_t nrows,
                                 int64_t cols, const float *host_scale, int64_t scale_cols, int br, int bc);

    /* GEMM (ds_k_gemm_f32): a handle per user (cuBLAS; NULL on the CPU), on the
     * table's memory, or on host memory (copied there and back) */
    int (*gemm_open)(void **gemm);
    void (*gemm_close)(void *gemm);                          /* NULL is fine */
    int (*gemm_f32)(void *gemm, const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K);
    int (*gemm_f32_host)(void *gemm, const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K);

    /* verify's structure scan (ds_cpu_scan_nonfinite) of n stored values of esz
     * bytes on the table's memory: lowers *first (table memory, UINT64_MAX
     * before) to the first non-finite index, enqueued on stream */
    int (*scan_nonfinite)(const void *data, int64_t n, int esz, uint32_t exp_mask, unsigned long long *first,
                          void *stream);

    /* NVFP4 / MXFP4 quantization (ds_k_fp4_quant_rows), on the table's memory, enqueued on stream */
    int (*fp4_quant_rows)(const ds_quant_spec *spec, const uint16_t *w, int64_t nrows, int64_t cols, float gs,
                          uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats, void *stream);

    /* to-gguf: float32 rows as ggml type t (kernels/gguf_quant.h), on the table's memory; returns when done */
    int (*gguf_encode)(const float *x, int64_t nrows, int64_t cols, ds_ggml_type t, uint8_t *out);
} ds_device;

/* The instances. ds_device_cuda() is NULL in a build without CUDA. */
const ds_device *ds_device_cpu(void);
const ds_device *ds_device_cuda(void);

/* The table for a resolved --device (cmd/common.c ds_resolve_device): 0, or
 * DS_EXIT_USAGE when CUDA is asked of a build without it. */
int ds_device_get(int use_cuda, const ds_device **dev);

/* Host bytes at src for the kernels: src itself where the kernels read host
 * memory, else copied (blocking) into the device buffer dbuf. */
static inline int ds_dev_in(const ds_device *d, void *dbuf, const void *src, size_t n, const void **at) {
    *at = src;
    if (!d->gpu) return 0;
    *at = dbuf;
    return n ? d->h2d(dbuf, src, n) : 0;
}
/* Where a kernel should write what ends up at host dst: dst itself, or dbuf
 * (then ds_dev_back copies it to dst once the kernel has run). */
static inline void *ds_dev_out(const ds_device *d, void *dbuf, void *dst) { return d->gpu ? dbuf : dst; }
static inline int ds_dev_back(const ds_device *d, void *dst, const void *dbuf, size_t n) {
    return d->gpu && n ? d->d2h(dst, dbuf, n) : 0;
}

#endif
