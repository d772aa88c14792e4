/* device_cuda.c - the CUDA instance of the device table (kernels/device.h):
 * the GPU runtime of kernels/gpu.h and the CUDA kernels. C, built only with
 * CUDA (the CPU-only build's ds_device_cuda is in kernels/cuda_stub.c). */
#include "kernels/device.h"
#include "kernels/gpu.h"

static int pipe_open(void **pipe, size_t stage_bytes, int nslots) {
    ds_cuda_ctx *c = NULL;
    int rc = ds_cuda_ctx_create(&c, stage_bytes, nslots);
    *pipe = c;
    return rc;
}
static void pipe_close(void *pipe) { ds_cuda_ctx_destroy(pipe); }
static int dequant_host(void *pipe, const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                        const float *scale, int64_t scale_cols, int br, int bc) {
    return ds_cuda_dequant_chunk(pipe, w, out, r0, nrows, cols, scale, scale_cols, br, bc);
}
static int gemm_open(void **gemm) {
    ds_cuda_blas *b = NULL;
    int rc = ds_cuda_blas_open(&b);
    *gemm = b;
    return rc;
}
static void gemm_close(void *gemm) {
    if (gemm) ds_cuda_blas_close(gemm);
}
static int gemm(void *g, const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K) {
    return ds_cuda_gemm_f32(g, A, W, C, M, N, K);
}
static int gemm_host(void *g, const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K) {
    return ds_cuda_gemm_f32_host(g, A, W, C, M, N, K);
}

static const ds_device cuda = {
    .name = "cuda",
    .gpu = 1,
    .alloc = ds_cuda_malloc,
    .free = ds_cuda_free,
    .host_alloc = ds_cuda_host_alloc,
    .host_free = ds_cuda_host_free,
    .h2d = ds_cuda_memcpy_h2d,
    .d2h = ds_cuda_memcpy_d2h,
    .memset = ds_cuda_memset,
    .sync = ds_cuda_sync,
    .release = ds_cuda_release,
    .stream_create = ds_cuda_stream_create,
    .stream_destroy = ds_cuda_stream_destroy,
    .event_create = ds_cuda_event_create,
    .event_destroy = ds_cuda_event_destroy,
    .event_record = ds_cuda_event_record,
    .event_sync = ds_cuda_event_sync,
    .event_query = ds_cuda_event_query,
    .event_elapsed_ms = ds_cuda_event_elapsed_ms,
    .h2d_async = ds_cuda_memcpy_h2d_async,
    .copy_2d_async = ds_cuda_memcpy_2d_d2d_async,
    .dequant_fp8_bf16 = ds_cuda_dequant_fp8_bf16_async,
    .widen_bf16_f32 = ds_cuda_widen_bf16_f32_async,
    .quant_rows = ds_cuda_quant_rows_async,
    .pipe_open = pipe_open,
    .pipe_close = pipe_close,
    .dequant_fp8_bf16_host = dequant_host,
    .gemm_open = gemm_open,
    .gemm_close = gemm_close,
    .gemm_f32 = gemm,
    .gemm_f32_host = gemm_host,
    .scan_nonfinite = ds_cuda_scan_nonfinite_async,
    .fp4_quant_rows = ds_cuda_fp4_quant_rows_async,
    .gguf_encode = ds_cuda_gguf_encode,
};

const ds_device *ds_device_cuda(void) { return &cuda; }
