/* device_k.c - --device cuda:K on a machine with two or more GPUs: after
 * ds_cuda_select_device(K), a thread that never chose a device (as the
 * executor's readers, which allocate pinned buffers before the device is
 * known) works on K through every entry point of kernels/gpu.h, and no
 * context appears on device 0. The driver's own answer is the check:
 * cuDevicePrimaryCtxGetState (libcuda, opened with dlopen: the build links the
 * runtime only). PASS/FAIL lines; "SKIP" and exit 77 with fewer than 2 GPUs.
 * Run by tests/gpu/device_k.sh. */
#include "kernels/gpu.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static int fails, passes;
static void check(int ok, const char *name) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    if (ok) passes++;
    else fails++;
}

/* The driver's view: is device k's primary context active (-1: cannot tell). */
typedef int (*get_fn)(int *dev, int ordinal);
typedef int (*state_fn)(int dev, unsigned *flags, int *active);
static get_fn cu_device_get;
static state_fn cu_ctx_state;
static int ctx_active(int k) {
    int dev = 0, active = -1;
    unsigned flags = 0;
    if (cu_device_get(&dev, k) != 0 || cu_ctx_state(dev, &flags, &active) != 0) return -1;
    return active;
}

/* What a reader thread of the executor does, and more: pinned and device
 * memory, a copy, a stream and an event, freed again. */
static void *worker(void *arg) {
    int *rc = arg;
    void *h = NULL, *d = NULL, *st = NULL, *ev = NULL;
    *rc = ds_cuda_host_alloc(&h, 1 << 20);
    if (!*rc) *rc = ds_cuda_malloc(&d, 1 << 20);
    if (!*rc) memset(h, 7, 1 << 20), *rc = ds_cuda_memcpy_h2d(d, h, 1 << 20);
    if (!*rc) *rc = ds_cuda_stream_create(&st);
    if (!*rc) *rc = ds_cuda_event_create(&ev);
    if (!*rc) *rc = ds_cuda_event_record(ev, st);
    if (!*rc) *rc = ds_cuda_event_sync(ev);
    ds_cuda_event_destroy(ev);
    ds_cuda_stream_destroy(st);
    ds_cuda_free(d);
    ds_cuda_host_free(h);
    return NULL;
}

int main(void) {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (!lib) { printf("SKIP: no libcuda.so.1 (%s)\n", dlerror()); return 77; }
    int (*cu_init)(unsigned) = (int (*)(unsigned))dlsym(lib, "cuInit");
    int (*cu_count)(int *) = (int (*)(int *))dlsym(lib, "cuDeviceGetCount");
    cu_device_get = (get_fn)dlsym(lib, "cuDeviceGet");
    cu_ctx_state = (state_fn)dlsym(lib, "cuDevicePrimaryCtxGetState");
    int n = 0;
    if (!cu_init || !cu_count || !cu_device_get || !cu_ctx_state || cu_init(0) != 0 || cu_count(&n) != 0) {
        printf("SKIP: the CUDA driver does not answer\n");
        return 77;
    }
    if (n < 2) { printf("SKIP: --device cuda:K needs 2 GPUs, %d visible\n", n); return 77; }
    const int k = n - 1;
    char why[256];
    check(ctx_active(0) == 0 && ctx_active(k) == 0, "no context before the choice");
    check(ds_cuda_select_device(k, why, sizeof why) == 1, "ds_cuda_select_device(K)");
    check(ds_cuda_available(why, sizeof why) == 1, "device K runs this build's kernels");
    check(ctx_active(k) == 1, "device K's context made by the thread that chose it");
    int rc[2] = {-1, -1};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, worker, &rc[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    check(rc[0] == 0 && rc[1] == 0, "two new threads allocate, copy, stream and free through gpu.h");
    check(ctx_active(0) == 0, "no context on device 0 (the new threads worked on K)");
    void *h = NULL;
    check(ds_cuda_host_alloc(&h, 4096) == 0, "pinned memory on the choosing thread");
    ds_cuda_host_free(h);
    check(ctx_active(0) == 0, "still no context on device 0");
    printf("%d passed, %d failed\n", passes, fails);
    return fails ? 1 : 0;
}
