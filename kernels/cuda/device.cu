/* device.cu - the CUDA device layer: availability, thin memory wrappers, and the
 * streaming context that feeds host chunks through the GPU kernels.
 *
 * ds_cuda_dequant_chunk pipelines a chunk as pieces over nslots streams:
 *
 *   host:   stage-in p0 | stage-in p1 | copy-out p0, stage-in p2 | ...
 *   slot 0:   H2D p0, kernel p0, D2H p0           H2D p2 ...
 *   slot 1:               H2D p1, kernel p1, D2H p1 ...
 *
 * so while one piece is on the PCIe bus the next is being staged and the one
 * before is being copied out. A slot is reused only after its event says its
 * last piece has left its buffers. Pinned caller buffers skip staging. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_check.h"

extern "C" {
#include "kernels/gpu.h"
}

namespace {

constexpr size_t kDefaultStage = 8u << 20;
constexpr int kDefaultSlots = 3;
constexpr int kMaxSlots = 8;

struct slot {
    cudaStream_t st;
    cudaEvent_t done;     /* recorded after the slot's last D2H */
    bool busy;            /* work enqueued since the last wait */
    uint8_t *d_in;        /* device buffers, cap bytes in / 2*cap out */
    uint16_t *d_out;
    uint8_t *h_in;        /* pinned staging, same sizes */
    uint16_t *h_out;
    uint16_t *pend_dst;   /* where h_out goes once done (pageable output) */
    size_t pend_bytes;
};

/* Host copy for staging: a few threads for large copies, since one thread's
 * memcpy (~10 GB/s) is slower than PCIe; on a 16-core H100 host 16 threads
 * staged ~1.5x faster than 8. Serial inside a parallel region. */
void stage_copy(void *dst, const void *src, size_t n) {
    const size_t piece = 1u << 20;
    if (n < 4 * piece || omp_in_parallel()) {
        memcpy(dst, src, n);
        return;
    }
    long np = (long)((n + piece - 1) / piece);
    int nt = omp_get_max_threads();
    if (nt > 16) nt = 16;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long i = 0; i < np; i++) {
        size_t off = (size_t)i * piece, len = n - off < piece ? n - off : piece;
        memcpy((char *)dst + off, (const char *)src + off, len);
    }
}

/* Pinned (cudaHostAlloc'd or registered) host memory can be DMA'd directly. */
bool is_pinned(const void *p) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    return a.type == cudaMemoryTypeHost;
}

} /* namespace */

struct ds_cuda_ctx {
    int device;
    int nslots;
    size_t cap; /* FP8 bytes per slot */
    slot s[kMaxSlots];
    float *d_scale;
    size_t scale_cap;
};

/* ---- availability ---------------------------------------------------------- */

/* --device cuda:K's K, set once when chosen (an option, not state); -1: none. */
static int selected_device = -1;
/* The device this thread made current through ds_cuda_bind_ (or chose). */
static __thread int bound_device = -1;

void ds_cuda_bind_(void) {
    int k = __atomic_load_n(&selected_device, __ATOMIC_ACQUIRE);
    if (k >= 0 && bound_device != k && cudaSetDevice(k) == cudaSuccess) bound_device = k;
}

/* Whether the current device is one this build can use: the driver's answer
 * alone (count, compute capability 8.0+: no context), then, with kernels,
 * whether this build's kernels run there (which creates the context). */
static int usable(char *reason, int reason_len, int kernels) {
    char dummy[8];
    if (!reason || reason_len <= 0) {
        reason = dummy;
        reason_len = (int)sizeof dummy;
    }
    reason[0] = 0;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(reason, (size_t)reason_len, "%s (%s)", e == cudaErrorNoDevice ? "no CUDA device" : "no CUDA driver",
                 cudaGetErrorString(e));
        return 0;
    }
    if (n <= 0) {
        snprintf(reason, (size_t)reason_len, "no CUDA device");
        return 0;
    }
    int dev = 0, major = 0, minor = 0;
    if ((e = cudaGetDevice(&dev)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev)) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(reason, (size_t)reason_len, "CUDA device not usable (%s)", cudaGetErrorString(e));
        return 0;
    }
    if (major < 8) {
        snprintf(reason, (size_t)reason_len, "CUDA device %d has compute capability %d.%d; this build needs 8.0 or newer",
                 dev, major, minor);
        return 0;
    }
    if (!kernels) return 1;
    /* Creates the context and finds (or JIT-compiles) a kernel image. */
    if ((e = ds_cuda_dequant_probe_()) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(reason, (size_t)reason_len, "CUDA device %d (sm_%d%d) cannot run this build's kernels (%s)", dev,
                 major, minor, cudaGetErrorString(e));
        return 0;
    }
    return 1;
}

extern "C" int ds_cuda_present(char *reason, int reason_len) {
    ds_cuda_bind_();
    return usable(reason, reason_len, 0);
}

extern "C" int ds_cuda_available(char *reason, int reason_len) {
    ds_cuda_bind_();
    return usable(reason, reason_len, 1);
}

extern "C" int ds_cuda_select_device(int k, char *reason, int reason_len) {
    char dummy[8];
    if (!reason || reason_len <= 0) {
        reason = dummy;
        reason_len = (int)sizeof dummy;
    }
    reason[0] = 0;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(reason, (size_t)reason_len, "no CUDA device (%s)", cudaGetErrorString(e));
        return 0;
    }
    if (k < 0 || k >= n) {
        const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
        snprintf(reason, (size_t)reason_len, "%d CUDA device(s) visible (numbered 0..%d%s%s%s)", n, n - 1,
                 cvd ? ", CUDA_VISIBLE_DEVICES=" : "", cvd ? cvd : "", cvd ? "" : "");
        return 0;
    }
    if ((e = cudaSetDevice(k)) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(reason, (size_t)reason_len, "cannot use CUDA device %d (%s)", k, cudaGetErrorString(e));
        return 0;
    }
    bound_device = k;
    __atomic_store_n(&selected_device, k, __ATOMIC_RELEASE);
    return 1;
}

/* ---- memory ------------------------------------------------------------------ */

extern "C" int ds_cuda_malloc(void **dptr, size_t n) {
    ds_cuda_bind_();
    *dptr = NULL;
    CUDA_CHECK(cudaMalloc(dptr, n ? n : 1));
    return DS_OK;
}

extern "C" void ds_cuda_free(void *dptr) {
    ds_cuda_bind_();
    if (dptr) CUDA_WARN(cudaFree(dptr));
}

extern "C" int ds_cuda_memcpy_h2d(void *dst, const void *src, size_t n) {
    ds_cuda_bind_();
    CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
    return DS_OK;
}

extern "C" int ds_cuda_memcpy_d2h(void *dst, const void *src, size_t n) {
    ds_cuda_bind_();
    CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
    return DS_OK;
}

extern "C" int ds_cuda_memset(void *dptr, int byte, size_t n) {
    ds_cuda_bind_();
    CUDA_CHECK(cudaMemset(dptr, byte, n));
    CUDA_CHECK(cudaDeviceSynchronize());
    return DS_OK;
}

extern "C" int ds_cuda_sync(void) {
    ds_cuda_bind_();
    CUDA_CHECK(cudaDeviceSynchronize());
    return DS_OK;
}

extern "C" void ds_cuda_release(void) {
    ds_cuda_bind_();
    /* Errors here only mean there was nothing to tear down. */
    (void)cudaDeviceReset();
    (void)cudaGetLastError();
}

extern "C" int ds_cuda_host_alloc(void **p, size_t n) {
    ds_cuda_bind_();
    *p = NULL;
    CUDA_CHECK(cudaHostAlloc(p, n ? n : 1, cudaHostAllocDefault));
    return DS_OK;
}

extern "C" void ds_cuda_host_free(void *p) {
    ds_cuda_bind_();
    if (p) CUDA_WARN(cudaFreeHost(p));
}

/* ---- streaming context --------------------------------------------------------- */

namespace {

void free_buffers(slot *s) {
    CUDA_WARN(cudaFree(s->d_in));
    CUDA_WARN(cudaFree(s->d_out));
    CUDA_WARN(cudaFreeHost(s->h_in));
    CUDA_WARN(cudaFreeHost(s->h_out));
    s->d_in = s->h_in = NULL;
    s->d_out = s->h_out = NULL;
}

int alloc_buffers(slot *s, size_t cap) {
    CUDA_CHECK(cudaMalloc((void **)&s->d_in, cap));
    CUDA_CHECK(cudaMalloc((void **)&s->d_out, 2 * cap));
    CUDA_CHECK(cudaHostAlloc((void **)&s->h_in, cap, cudaHostAllocDefault));
    CUDA_CHECK(cudaHostAlloc((void **)&s->h_out, 2 * cap, cudaHostAllocDefault));
    return DS_OK;
}

/* Waits for the slot's last piece and delivers its output if it was staged. */
int finish_slot(slot *s) {
    if (!s->busy) return DS_OK;
    CUDA_CHECK(cudaEventSynchronize(s->done));
    s->busy = false;
    if (s->pend_dst) {
        stage_copy(s->pend_dst, s->h_out, s->pend_bytes);
        s->pend_dst = NULL;
    }
    return DS_OK;
}

/* After a failure: let enqueued work drain, drop undelivered outputs. */
void abandon(ds_cuda_ctx *c) {
    for (int i = 0; i < c->nslots; i++) {
        if (c->s[i].st) (void)cudaStreamSynchronize(c->s[i].st);
        c->s[i].busy = false;
        c->s[i].pend_dst = NULL;
    }
    (void)cudaGetLastError();
}

/* Slot buffers hold at least one row; grow all of them when a row is larger. */
int ensure_cap(ds_cuda_ctx *c, size_t need) {
    if (need <= c->cap) return DS_OK;
    for (int i = 0; i < c->nslots; i++) {
        DS_TRY(finish_slot(&c->s[i]));
        free_buffers(&c->s[i]);
    }
    c->cap = need;
    for (int i = 0; i < c->nslots; i++) DS_TRY(alloc_buffers(&c->s[i], c->cap));
    return DS_OK;
}

int ensure_scale(ds_cuda_ctx *c, size_t bytes) {
    if (bytes <= c->scale_cap) return DS_OK;
    CUDA_CHECK(cudaFree(c->d_scale));
    c->d_scale = NULL;
    c->scale_cap = 0;
    CUDA_CHECK(cudaMalloc((void **)&c->d_scale, bytes));
    c->scale_cap = bytes;
    return DS_OK;
}

int chunk_impl(ds_cuda_ctx *c, const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
               const float *scale, int64_t scale_cols, int br, int bc) {
    CUDA_CHECK(cudaSetDevice(c->device));
    DS_TRY(ensure_cap(c, (size_t)cols));
    /* Only the chunk's scale rows go to the device; the kernels then see the
     * chunk as starting at row r0 - k0*br of a tensor whose scale starts at k0. */
    int64_t k0 = r0 / br, k1 = (r0 + nrows - 1) / br;
    size_t sbytes = (size_t)(k1 - k0 + 1) * (size_t)scale_cols * sizeof(float);
    DS_TRY(ensure_scale(c, sbytes));
    /* A pageable-source copy may return before its DMA lands, and the slots'
     * streams do not wait for the default stream: copy on slot 0 and wait. */
    CUDA_CHECK(cudaMemcpyAsync(c->d_scale, scale + k0 * scale_cols, sbytes, cudaMemcpyHostToDevice, c->s[0].st));
    CUDA_CHECK(cudaStreamSynchronize(c->s[0].st));
    int64_t rel0 = r0 - k0 * br;

    bool w_pinned = is_pinned(w), out_pinned = is_pinned(out);
    int64_t prows = (int64_t)(c->cap / (size_t)cols);
    int64_t npieces = (nrows + prows - 1) / prows;
    for (int64_t p = 0; p < npieces; p++) {
        slot *s = &c->s[p % c->nslots];
        int64_t pr0 = p * prows, pn = nrows - pr0 < prows ? nrows - pr0 : prows;
        size_t in_bytes = (size_t)(pn * cols), out_bytes = 2 * in_bytes;
        const uint8_t *src = w + pr0 * cols;
        uint16_t *dst = out + pr0 * cols;
        /* Staging buffers and pending output of this slot must be free first;
         * device buffers are ordered by the slot's own stream. */
        if (!w_pinned || !out_pinned) DS_TRY(finish_slot(s));
        if (!w_pinned) {
            stage_copy(s->h_in, src, in_bytes);
            src = s->h_in;
        }
        CUDA_CHECK(cudaMemcpyAsync(s->d_in, src, in_bytes, cudaMemcpyHostToDevice, s->st));
        DS_TRY(ds_cuda_dequant_launch_(s->d_in, s->d_out, rel0 + pr0, pn, cols, c->d_scale, scale_cols, br, bc,
                                       s->st));
        CUDA_CHECK(cudaMemcpyAsync(out_pinned ? dst : s->h_out, s->d_out, out_bytes, cudaMemcpyDeviceToHost, s->st));
        CUDA_CHECK(cudaEventRecord(s->done, s->st));
        s->busy = true;
        if (!out_pinned) {
            s->pend_dst = dst;
            s->pend_bytes = out_bytes;
        }
    }
    /* Drain oldest first, so copy-outs proceed while later pieces still run. */
    for (int64_t i = 0; i < c->nslots; i++) DS_TRY(finish_slot(&c->s[(npieces + i) % c->nslots]));
    return DS_OK;
}

} /* namespace */

extern "C" int ds_cuda_ctx_create(ds_cuda_ctx **out, size_t stage_bytes, int nslots) {
    ds_cuda_bind_();
    *out = NULL;
    if (nslots == 0) nslots = kDefaultSlots;
    if (stage_bytes == 0) stage_bytes = kDefaultStage;
    if (nslots < 1 || nslots > kMaxSlots)
        return ds_fail(DS_EXIT_USAGE, "CUDA context: %d slots requested, 1..%d supported", nslots, kMaxSlots);
    ds_cuda_ctx *c = (ds_cuda_ctx *)xcalloc(1, sizeof *c);
    c->nslots = nslots;
    c->cap = stage_bytes;
    int rc = DS_OK;
    cudaError_t e = cudaGetDevice(&c->device);
    if (e != cudaSuccess) rc = ds_cuda_fail_at(e, "cudaGetDevice", __FILE__, __LINE__);
    for (int i = 0; i < nslots && rc == DS_OK; i++) {
        slot *s = &c->s[i];
        if ((e = cudaStreamCreateWithFlags(&s->st, cudaStreamNonBlocking)) != cudaSuccess)
            rc = ds_cuda_fail_at(e, "cudaStreamCreateWithFlags", __FILE__, __LINE__);
        else if ((e = cudaEventCreateWithFlags(&s->done, cudaEventDisableTiming)) != cudaSuccess)
            rc = ds_cuda_fail_at(e, "cudaEventCreateWithFlags", __FILE__, __LINE__);
        else
            rc = alloc_buffers(s, c->cap);
    }
    if (rc != DS_OK) {
        ds_cuda_ctx_destroy(c);
        return rc;
    }
    *out = c;
    return DS_OK;
}

extern "C" void ds_cuda_ctx_destroy(ds_cuda_ctx *c) {
    ds_cuda_bind_();
    if (!c) return;
    for (int i = 0; i < c->nslots; i++) {
        slot *s = &c->s[i];
        if (s->st) CUDA_WARN(cudaStreamSynchronize(s->st));
        free_buffers(s);
        if (s->done) CUDA_WARN(cudaEventDestroy(s->done));
        if (s->st) CUDA_WARN(cudaStreamDestroy(s->st));
    }
    CUDA_WARN(cudaFree(c->d_scale));
    free(c);
}

extern "C" int ds_cuda_dequant_chunk(ds_cuda_ctx *c, const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows,
                                     int64_t cols, const float *scale, int64_t scale_cols, int br, int bc) {
    ds_cuda_bind_();
    if (r0 < 0 || nrows < 0 || cols < 0 || br <= 0 || bc <= 0 || scale_cols < (cols + bc - 1) / bc)
        return ds_fail(DS_EXIT_INPUT,
                       "dequant fp8->bf16 (CUDA chunk): bad arguments r0=%lld nrows=%lld cols=%lld "
                       "scale_cols=%lld block=%dx%d",
                       (long long)r0, (long long)nrows, (long long)cols, (long long)scale_cols, br, bc);
    if (nrows == 0 || cols == 0) return DS_OK;
    int rc = chunk_impl(c, w, out, r0, nrows, cols, scale, scale_cols, br, bc);
    if (rc != DS_OK) abandon(c);
    return rc;
}
