/* common.c - option helpers shared by the commands. */
#include "cmd/cmd.h"
#include "common/util.h"
#include "kernels/gpu.h" /* ds_cuda_available */

#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

int ds_parse_device(const char *s, ds_device_req *d) {
    if (!strcmp(s, "auto")) *d = DS_DEV_AUTO;
    else if (!strcmp(s, "cpu")) *d = DS_DEV_CPU;
    else if (!strcmp(s, "cuda") || !strcmp(s, "gpu")) *d = DS_DEV_CUDA;
    else return ds_fail(DS_EXIT_USAGE, "--device must be auto, cpu or cuda (got '%s')", s);
    return 0;
}

int ds_resolve_device(ds_device_req d, int *use_cuda) {
    char why[256] = "";
    int avail = d == DS_DEV_CPU ? 0 : ds_cuda_available(why, sizeof why);
    if (d == DS_DEV_CUDA && !avail) return ds_fail(DS_EXIT_USAGE, "--device cuda: CUDA is not available: %s", why);
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
