/* common.c - option helpers shared by the commands. */
#include "cmd/cmd.h"
#include "common/util.h"
#include "kernels/gpu.h" /* ds_cuda_available */

#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

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

int ds_resolve_device(ds_device_req d, int *use_cuda) {
    char why[256] = "";
    /* Choose the device before anything else touches CUDA, so every later call uses it. */
    if (d.has_index && !ds_cuda_select_device(d.index, why, sizeof why))
        return ds_fail(DS_EXIT_USAGE, "--device cuda:%d: %s", d.index, why);
    int avail = d.kind == DS_DEV_CPU ? 0 : ds_cuda_available(why, sizeof why);
    if (d.kind == DS_DEV_CUDA && !avail) return ds_fail(DS_EXIT_USAGE, "--device cuda: CUDA is not available: %s", why);
    *use_cuda = avail;
    return 0;
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
