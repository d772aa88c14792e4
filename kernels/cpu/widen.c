/* widen.c - bf16 -> float32, CPU reference of kernels/cuda/widen.cu.
 *
 * verify reads a BF16 weight (and an FP8 one, after its bf16 dequantization)
 * as float32; widening is the bit shift of ds_bf16_to_f32, so it is exact and
 * the CPU and GPU paths multiply the same floats. */
#include "kernels/kernels.h"

#include <string.h>

int ds_cpu_widen_bf16_f32(const uint16_t *in, float *out, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 20))
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)in[i] << 16;
        memcpy(out + i, &u, sizeof u);
    }
    return 0;
}
