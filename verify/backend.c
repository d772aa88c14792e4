/* backend.c - the GEMM dispatch of the verify forward pass (backend.h). */
#include "verify/backend.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* The first cuBLAS GEMM of a process pays for loading and initializing the
 * library (measured ~0.1 s on an H100, a fifth of a whole pass over a 7.8 GB
 * checkpoint), and the first launch of each kernel for loading it: done here,
 * once per backend, on small buffers, rather than inside the first pass. */
static int warm_up(ds_vf_backend *b) {
    const ds_device *d = b->dev;
    const int64_t M = 128, N = 256, K = 256;
    float *x = NULL, *w = NULL, *y = NULL;
    DS_TRY(d->alloc((void **)&x, (size_t)(M * K) * sizeof(float)));
    int rc = d->alloc((void **)&w, (size_t)(N * K) * sizeof(float));
    if (!rc && (rc = d->alloc((void **)&y, (size_t)(M * N) * sizeof(float)))) y = NULL;
    if (!rc) rc = d->memset(x, 0, (size_t)(M * K) * sizeof(float));
    if (!rc) rc = d->memset(w, 0, (size_t)(N * K) * sizeof(float));
    if (!rc) rc = d->gemm_f32(b->gemm, x, w, y, M, N, K);
    if (!rc) rc = d->gemm_f32(b->gemm, x, w, y, 16, N, K);
    if (!rc) rc = d->widen_bf16_f32((const uint16_t *)w, y, 64, NULL);
    float one = 1;
    if (!rc) rc = d->h2d(x, &one, sizeof one);
    if (!rc) rc = d->dequant_fp8_bf16((const uint8_t *)w, (uint16_t *)y, 0, 16, 16, x, 1, 128, 128, NULL);
    if (!rc) rc = d->sync();
    d->free(x);
    d->free(w);
    d->free(y);
    return rc;
}

int ds_vf_backend_open_opts(ds_vf_backend *b, int use_cuda, const ds_vf_backend_opts *o) {
    memset(b, 0, sizeof *b);
    const ds_device *d;
    DS_TRY(ds_device_get(use_cuda, &d));
    b->dev = d;
    b->profile = o->profile;
    DS_TRY(d->gemm_open(&b->gemm));
    ds_ws_stream_opts so = {.cuda = use_cuda, .readers = o->io_threads, .profile = o->profile};
    int rc = d->gpu ? warm_up(b) : 0;
    if (!rc) rc = ds_ws_stream_open(&b->stream, &so);
    for (int i = 0; i < 3 && d->gpu && b->profile && !rc; i++) rc = d->event_create(&b->ev[i]);
    if (rc) ds_vf_backend_close(b);
    return rc;
}

int ds_vf_backend_open(ds_vf_backend *b, int use_cuda) {
    ds_vf_backend_opts o = {0};
    return ds_vf_backend_open_opts(b, use_cuda, &o);
}

static void free_buffers(ds_vf_backend *b) {
    b->dev->free(b->w);
    b->dev->free(b->x);
    b->dev->free(b->y);
    b->w = b->x = b->y = NULL;
    b->cap_w = b->cap_x = b->cap_y = 0;
}

void ds_vf_backend_close(ds_vf_backend *b) {
    if (!b->dev) return; /* never opened */
    ds_ws_stream_close(b->stream);
    b->stream = NULL;
    free_buffers(b);
    for (int i = 0; i < 3; i++) b->dev->event_destroy(b->ev[i]);
    memset(b->ev, 0, sizeof b->ev);
    b->dev->gemm_close(b->gemm);
    b->gemm = NULL;
}

int ds_vf_backend_begin(ds_vf_backend *b, ds_ws_source *ws, int64_t max_weight_elems) {
    /* The ring holds the weights read ahead. CUDA: two of the largest even as
     * float32 (F16/INT weights are decoded by the readers), eight or more FP8
     * ones. CPU: the region is free once decoded, before the GEMM, so one
     * largest weight as stored lets the next be read during the GEMM. */
    uint64_t need = ds_ws_stream_ring_need(b->stream, max_weight_elems, 1);
    uint64_t ring = b->dev->gpu ? 2 * need : need;
    if (b->dev->gpu && ring < ((uint64_t)1 << 30)) ring = (uint64_t)1 << 30;
    b->gemm_seconds = b->take_seconds = b->dev_upload_s = b->dev_gemm_s = b->dev_gemm_max_s = b->d2h_s = 0;
    ds_ws_stream_prof_get(b->stream, &b->prof0);
    DS_TRY(ds_ws_stream_begin(b->stream, ws, ring));
    if (b->scan) ds_ws_stream_set_scan(b->stream, b->scan);
    return 0;
}

void ds_vf_backend_set_scan(ds_vf_backend *b, ds_ws_scan *sc) { b->scan = sc; }

void ds_vf_backend_end(ds_vf_backend *b) {
    if (b->scan) ds_ws_stream_scan_drain(b->stream); /* before any verdict: the scan has finished */
    b->scan = NULL;
    ds_ws_stream_end(b->stream);
    free_buffers(b);
}

int ds_vf_plan(ds_vf_backend *b, const char *name, int64_t r0, int64_t n, int64_t rows, int64_t cols) {
    return ds_ws_stream_plan(b->stream, name, r0, n, rows, cols);
}

/* A buffer of the device's memory that holds n floats. */
static int grow(ds_vf_backend *b, float **p, size_t *cap, int64_t n) {
    size_t need = (size_t)(n > 0 ? n : 1) * sizeof(float);
    if (need <= *cap) return 0;
    b->dev->free(*p);
    *p = NULL;
    *cap = 0;
    DS_TRY(b->dev->alloc((void **)p, need));
    *cap = need;
    return 0;
}

int ds_vf_linear_w(ds_vf_backend *b, const char *name, int64_t r0, int64_t rows, const float *x, float *y, int64_t M,
                   int64_t N, int64_t K) {
    const ds_device *d = b->dev;
    double t0 = ds_now();
    int rc = grow(b, &b->w, &b->cap_w, N * K);
    /* Separate memory: the GEMM reads and writes device copies of the host activations. */
    if (!rc && d->gpu) rc = grow(b, &b->x, &b->cap_x, M * K);
    if (!rc && d->gpu) rc = grow(b, &b->y, &b->cap_y, M * N);
    double t = ds_now();
    if (!rc) rc = ds_ws_stream_take(b->stream, name, r0, N, rows, K, b->w);
    b->take_seconds += ds_now() - t;
    if (rc || M <= 0 || N <= 0) {
        b->gemm_seconds += ds_now() - t0;
        return rc;
    }
    const void *dx;
    if (b->profile) DS_TRY(d->event_record(b->ev[0], NULL));
    DS_TRY(ds_dev_in(d, b->x, x, (size_t)(M * K) * sizeof(float), &dx));
    if (b->profile) DS_TRY(d->event_record(b->ev[1], NULL));
    DS_TRY(d->gemm_f32(b->gemm, dx, b->w, ds_dev_out(d, b->y, y), M, N, K));
    if (b->profile) DS_TRY(d->event_record(b->ev[2], NULL));
    t = ds_now();
    DS_TRY(ds_dev_back(d, y, b->y, (size_t)(M * N) * sizeof(float)));
    if (b->profile && d->gpu) {
        float u, g;
        b->d2h_s += ds_now() - t;
        DS_TRY(d->event_elapsed_ms(b->ev[0], b->ev[1], &u));
        DS_TRY(d->event_elapsed_ms(b->ev[1], b->ev[2], &g));
        b->dev_upload_s += u / 1e3;
        b->dev_gemm_s += g / 1e3;
        if (g / 1e3 > b->dev_gemm_max_s) {
            b->dev_gemm_max_s = g / 1e3;
            b->gemm_max_mnk[0] = M, b->gemm_max_mnk[1] = N, b->gemm_max_mnk[2] = K;
        }
    }
    b->gemm_seconds += ds_now() - t0;
    return 0;
}

int ds_vf_linear(ds_vf_backend *b, const float *x, const float *w, float *y, int64_t M, int64_t N, int64_t K) {
    double t = ds_now();
    int rc = b->dev->gemm_f32_host(b->gemm, x, w, y, M, N, K);
    b->gemm_seconds += ds_now() - t;
    return rc;
}

void ds_vf_backend_profile(const ds_vf_backend *b, double seconds, uint64_t bytes, FILE *f) {
    ds_ws_stream_prof p;
    ds_ws_stream_prof_get(b->stream, &p);
    const ds_ws_stream_prof *o = &b->prof0;
    double rd = p.read_s - o->read_s, busy = seconds > 0 ? rd / (p.readers * seconds) : 0;
    uint64_t staged = p.bytes_staged - o->bytes_staged;
    fprintf(f,
            "verify: profile: forward %.3f s, %.3f GB stored read = %.2f GB/s; %d readers: %.3f GB staged, "
            "read %.3f s (%.2f GB/s each, %.0f%% busy), upload wait %.3f s, ring wait %.3f s, idle %.3f s; "
            "weights taken %lld (%lld direct): waited %.3f s, decode %.3f s; linear layers %.3f s",
            seconds, bytes / 1e9, seconds > 0 ? bytes / 1e9 / seconds : 0, p.readers, staged / 1e9, rd,
            rd > 0 ? staged / 1e9 / rd : 0, 100 * busy, p.copy_wait_s - o->copy_wait_s,
            p.ring_wait_s - o->ring_wait_s, p.idle_s - o->idle_s, (long long)(p.takes - o->takes),
            (long long)(p.direct_reads - o->direct_reads), p.take_wait_s - o->take_wait_s, p.decode_s - o->decode_s,
            b->gemm_seconds);
    if (b->dev->gpu && b->profile)
        fprintf(f, " (device: decode %.3f s, activation upload %.3f s, GEMM %.3f s, slowest %.1f ms for %lldx%lldx%lld; "
                "result copies %.3f s)", p.dev_decode_s - o->dev_decode_s, b->dev_upload_s, b->dev_gemm_s,
                b->dev_gemm_max_s * 1e3, (long long)b->gemm_max_mnk[0], (long long)b->gemm_max_mnk[1],
                (long long)b->gemm_max_mnk[2], b->d2h_s);
    fprintf(f, "; the rest (CPU blocks, norms, embedding) %.3f s\n", seconds - b->gemm_seconds);
}
