/* common.c - option helpers shared by the commands. */
#include "cmd/cmd.h"
#include "common/util.h"
#include "kernels/gpu.h" /* ds_cuda_available */
#include "kernels/device.h" /* ds_device_cuda: NULL in a build without CUDA */

#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ds_parse_device(const char *s, ds_device_req *d) {
    memset(d, 0, sizeof *d);
    if (!strcmp(s, "auto")) d->kind = DS_DEV_AUTO;
    else if (!strcmp(s, "cpu")) d->kind = DS_DEV_CPU;
    else if (!strcmp(s, "cuda") || !strcmp(s, "gpu")) d->kind = DS_DEV_CUDA;
    else if (!strncmp(s, "cuda:", 5) || !strncmp(s, "gpu:", 4)) {
        const char *k = strchr(s, ':') + 1;
        char *end;
        errno = 0;
        long v = strtol(k, &end, 10);
        if (errno || end == k || *end || v < 0 || v > 1023)
            return ds_fail(DS_EXIT_USAGE, "--device cuda:K takes a device number K >= 0 (got '%s')", s);
        d->kind = DS_DEV_CUDA;
        d->has_index = 1;
        d->index = (int)v;
    } else
        return ds_fail(DS_EXIT_USAGE, "--device must be auto, cpu, cuda or cuda:K (got '%s')", s);
    return 0;
}

/* What resolving needs of CUDA: K current (on the calling thread), then
 * whether CUDA is usable, which creates the context (check_only: whether
 * the driver has a device this build could use, without one). */
static void probe_cuda(ds_device_probe *pr) {
    /* Choose the device before anything else touches CUDA, so every later call uses it. */
    pr->selected = !pr->d.has_index || ds_cuda_select_device(pr->d.index, pr->why, sizeof pr->why);
    if (pr->selected)
        pr->avail = pr->d.kind == DS_DEV_CPU ? 0
                    : pr->d.check_only       ? ds_cuda_present(pr->why, sizeof pr->why)
                                             : ds_cuda_available(pr->why, sizeof pr->why);
}
static void *probe_main(void *arg) {
    probe_cuda(arg);
    return NULL;
}

void ds_resolve_device_start(ds_device_req d, ds_device_probe *pr) {
    memset(pr, 0, sizeof *pr);
    pr->d = d;
    /* --device cpu, a build without CUDA and a machine without an NVIDIA
     * driver answer at once (without a thread): nothing changes for them. */
    if (d.kind == DS_DEV_CPU || !ds_device_cuda() || access("/dev/nvidiactl", F_OK) != 0) return;
    pr->threaded = pthread_create(&pr->th, NULL, probe_main, pr) == 0;
}

int ds_resolve_device_join(ds_device_probe *pr, int *use_cuda) {
    if (pr->threaded) {
        pthread_join(pr->th, NULL);
        pr->threaded = 0;
        /* The current device is per thread: make K current here too (the context exists: cheap). */
        if (pr->selected && pr->d.has_index) pr->selected = ds_cuda_select_device(pr->d.index, pr->why, sizeof pr->why);
    } else if (!pr->done)
        probe_cuda(pr);
    pr->done = 1;
    ds_device_req d = pr->d;
    if (!pr->selected) return ds_fail(DS_EXIT_USAGE, "--device cuda:%d: %s", d.index, pr->why);
    if (d.kind == DS_DEV_CUDA && !pr->avail)
        return ds_fail(DS_EXIT_USAGE, "--device cuda: CUDA is not available: %s", pr->why);
    *use_cuda = pr->avail;
    return 0;
}

int ds_resolve_device(ds_device_req d, int *use_cuda) {
    ds_device_probe pr;
    memset(&pr, 0, sizeof pr);
    pr.d = d;
    return ds_resolve_device_join(&pr, use_cuda);
}

void ds_set_threads(int n) {
    if (n > 0) omp_set_num_threads(n);
}

int ds_parse_int(const char *opt, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < min || v > max)
        return ds_fail(DS_EXIT_USAGE, "%s takes a whole number from %ld to %ld (got '%s')", opt, min, max, s);
    *out = v;
    return 0;
}
