/* device_cpu.c - the CPU instance of the device table (kernels/device.h):
 * host memory, memcpy for copies, streams and events that are no-ops because
 * every call has finished its work when it returns, and the kernels/cpu
 * kernels. Also ds_device_get, which picks the instance once. */
#include "kernels/device.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static int cpu_alloc(void **p, size_t n) {
    *p = xaligned(n ? n : 1);
    return 0;
}
static void cpu_free(void *p) { free(p); }
static int cpu_copy(void *dst, const void *src, size_t n) {
    if (n) memcpy(dst, src, n);
    return 0;
}
static int cpu_memset(void *p, int byte, size_t n) {
    memset(p, byte, n);
    return 0;
}
static int cpu_done(void) { return 0; }

/* Streams and events: the work before them is always done. */
static int cpu_handle_create(void **h) {
    *h = NULL;
    return 0;
}
static void cpu_handle_destroy(void *h) { (void)h; }
static int cpu_event_record(void *ev, void *stream) {
    (void)ev, (void)stream;
    return 0;
}
static int cpu_event_sync(void *ev) {
    (void)ev;
    return 0;
}
static int cpu_event_query(void *ev, int *done) {
    (void)ev;
    *done = 1;
    return 0;
}
static int cpu_event_elapsed_ms(void *a, void *b, float *ms) {
    (void)a, (void)b;
    *ms = 0;
    return 0;
}
static int cpu_copy_async(void *dst, const void *src, size_t n, void *stream) {
    (void)stream;
    return cpu_copy(dst, src, n);
}
static int cpu_copy_2d_async(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                             void *stream) {
    (void)stream;
    for (size_t r = 0; r < height; r++) memcpy((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return 0;
}

static int cpu_dequant(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols, const float *scale,
                       int64_t scale_cols, int br, int bc, void *stream) {
    (void)stream;
    return ds_cpu_dequant_fp8_bf16(w, out, r0, nrows, cols, scale, scale_cols, br, bc);
}
static int cpu_widen(const uint16_t *in, float *out, int64_t n, void *stream) {
    (void)stream;
    return ds_cpu_widen_bf16_f32(in, out, n);
}
static int cpu_quant_rows(const ds_quant_spec *spec, const void *w, ds_dtype w_dtype, int64_t nrows, int64_t cols,
                          uint32_t *packed, uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats,
                          void *stream) {
    (void)stream;
    return ds_cpu_quant_rows(spec, w, w_dtype, nrows, cols, packed, scale, zero_point, stats);
}

static int cpu_fp4_quant_rows(const ds_quant_spec *spec, const uint16_t *w, int64_t nrows, int64_t cols, float gs,
                              uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats, void *stream) {
    (void)stream;
    return ds_cpu_fp4_quant_rows(spec, w, nrows, cols, gs, packed, scale, stats);
}

static int cpu_pipe_open(void **pipe, size_t stage_bytes, int nslots) {
    (void)stage_bytes, (void)nslots;
    *pipe = NULL;
    return 0;
}
static int cpu_dequant_host(void *pipe, const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                            const float *scale, int64_t scale_cols, int br, int bc) {
    (void)pipe;
    return ds_cpu_dequant_fp8_bf16(w, out, r0, nrows, cols, scale, scale_cols, br, bc);
}
static int cpu_gemm(void *gemm, const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K) {
    (void)gemm;
    return ds_cpu_gemm_f32(A, W, C, M, N, K);
}

/* A test build can run the CPU as if its memory were separate from the host's,
 * so the code paths that copy to and from a GPU run (and are compared) on any
 * machine: make CUDA=0 BUILD=build-sep OPT="-O2 -DDS_CPU_SEPARATE_MEMORY=1". */
#ifndef DS_CPU_SEPARATE_MEMORY
#define DS_CPU_SEPARATE_MEMORY 0
#endif

static int cpu_scan(const void *data, int64_t n, int esz, uint32_t exp_mask, unsigned long long *first,
                    void *stream) {
    (void)stream;
    int64_t i = ds_cpu_scan_nonfinite(data, n, esz, exp_mask);
    if (i >= 0 && (unsigned long long)i < *first) *first = (unsigned long long)i;
    return 0;
}

static const ds_device cpu = {
    .name = "cpu",
    .gpu = DS_CPU_SEPARATE_MEMORY,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .host_alloc = cpu_alloc,
    .host_free = cpu_free,
    .h2d = cpu_copy,
    .d2h = cpu_copy,
    .memset = cpu_memset,
    .sync = cpu_done,
    .stream_create = cpu_handle_create,
    .stream_destroy = cpu_handle_destroy,
    .event_create = cpu_handle_create,
    .event_destroy = cpu_handle_destroy,
    .event_record = cpu_event_record,
    .event_sync = cpu_event_sync,
    .event_query = cpu_event_query,
    .event_elapsed_ms = cpu_event_elapsed_ms,
    .h2d_async = cpu_copy_async,
    .copy_2d_async = cpu_copy_2d_async,
    .dequant_fp8_bf16 = cpu_dequant,
    .widen_bf16_f32 = cpu_widen,
    .quant_rows = cpu_quant_rows,
    .pipe_open = cpu_pipe_open,
    .pipe_close = cpu_handle_destroy,
    .dequant_fp8_bf16_host = cpu_dequant_host,
    .gemm_open = cpu_handle_create,
    .gemm_close = cpu_handle_destroy,
    .gemm_f32 = cpu_gemm,
    .gemm_f32_host = cpu_gemm,
    .scan_nonfinite = cpu_scan,
    .fp4_quant_rows = cpu_fp4_quant_rows,
    .gguf_encode = ds_cpu_gguf_encode,
};

const ds_device *ds_device_cpu(void) { return &cpu; }

int ds_device_get(int use_cuda, const ds_device **dev) {
    *dev = use_cuda ? ds_device_cuda() : ds_device_cpu();
    if (!*dev)
        return ds_fail(DS_EXIT_USAGE, "--device cuda: this dsconv was built without CUDA (rebuild with nvcc and CUDA=1)");
    return 0;
}
