/* cuda_stub.c - "no device": what a build without CUDA (CUDA=0 or no nvcc)
 * has in place of kernels/cuda. There is no CUDA instance of the device table
 * (kernels/device.h), so ds_device_get refuses --device cuda with exit 2, and
 * ds_cuda_available says why --device auto takes the CPU. */
#include <stdio.h>

#include "kernels/device.h"
#include "kernels/gpu.h"

const ds_device *ds_device_cuda(void) { return NULL; }

int ds_cuda_available(char *reason, int reason_len) {
    if (reason && reason_len > 0) snprintf(reason, (size_t)reason_len, "built without CUDA");
    return 0;
}

int ds_cuda_present(char *reason, int reason_len) { return ds_cuda_available(reason, reason_len); }

int ds_cuda_select_device(int k, char *reason, int reason_len) {
    (void)k;
    if (reason && reason_len > 0) snprintf(reason, (size_t)reason_len, "built without CUDA");
    return 0;
}
