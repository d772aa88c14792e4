// async.cu - streams, events and asynchronous copies behind a C interface, so
// the C code of verify's weight stream (verify/ws_stream.c) can overlap its
// reads, uploads and kernels without CUDA headers. Thin wrappers: every call
// is checked and reported where it fails (CUDA_CHECK).
#include "kernels/cuda/cuda_check.h"

extern "C" {
#include "kernels/gpu.h"
}

extern "C" int ds_cuda_stream_create(void **stream) {
    ds_cuda_bind_();
    cudaStream_t s = nullptr;
    *stream = nullptr;
    // non-blocking: never waits for, nor holds up, the legacy default stream
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *stream = (void *)s;
    return DS_OK;
}

extern "C" void ds_cuda_stream_destroy(void *stream) {
    ds_cuda_bind_();
    if (stream) CUDA_WARN(cudaStreamDestroy((cudaStream_t)stream));
}

extern "C" int ds_cuda_stream_sync(void *stream) {
    ds_cuda_bind_();
    CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)stream));
    return DS_OK;
}

extern "C" int ds_cuda_event_create(void **event) {
    ds_cuda_bind_();
    cudaEvent_t e = nullptr;
    *event = nullptr;
    CUDA_CHECK(cudaEventCreate(&e));
    *event = (void *)e;
    return DS_OK;
}

extern "C" void ds_cuda_event_destroy(void *event) {
    ds_cuda_bind_();
    if (event) CUDA_WARN(cudaEventDestroy((cudaEvent_t)event));
}

extern "C" int ds_cuda_event_record(void *event, void *stream) {
    ds_cuda_bind_();
    CUDA_CHECK(cudaEventRecord((cudaEvent_t)event, (cudaStream_t)stream));
    return DS_OK;
}

extern "C" int ds_cuda_event_sync(void *event) {
    ds_cuda_bind_();
    CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)event));
    return DS_OK;
}

extern "C" int ds_cuda_event_query(void *event, int *done) {
    ds_cuda_bind_();
    cudaError_t e = cudaEventQuery((cudaEvent_t)event);
    *done = e == cudaSuccess;
    if (e == cudaErrorNotReady) return DS_OK;
    CUDA_CHECK(e);
    return DS_OK;
}

extern "C" int ds_cuda_event_elapsed_ms(void *start, void *end, float *ms) {
    ds_cuda_bind_();
    *ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(ms, (cudaEvent_t)start, (cudaEvent_t)end));
    return DS_OK;
}

extern "C" int ds_cuda_memcpy_h2d_async(void *dst, const void *src, size_t n, void *stream) {
    ds_cuda_bind_();
    if (n) CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, (cudaStream_t)stream));
    return DS_OK;
}

extern "C" int ds_cuda_memcpy_2d_d2d_async(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                                           size_t height, void *stream) {
    ds_cuda_bind_();
    if (width && height)
        CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, cudaMemcpyDeviceToDevice,
                                     (cudaStream_t)stream));
    return DS_OK;
}
