/* scan_finite.c - the value test of verify's structure scan, on stored bytes,
 * CPU reference of kernels/cuda/scan_finite.cu.
 *
 * A float format's non-finite values (Inf and NaN; FP8 e4m3fn has only NaN)
 * are exactly those whose exponent bits are all ones, so the test needs no
 * decoding: with m the code's exponent mask (e4m3fn 0x7F, which also takes
 * the mantissa: only S.1111.111 is NaN), v is non-finite iff (v & m) == m.
 * m is one run of ones, so (v & m) + lowest_bit(m) carries into the bit
 * above m exactly then: an AND, an ADD and an OR per element, accumulated
 * over a block and tested once. The compiler turns the block loop into wide
 * vector code (uint8/16/32 lanes), so a core scans at memory speed. */
#include "kernels/kernels.h"

#define BLOCK 512 /* elements tested before the accumulated carry is looked at */

#define SCAN_BODY(T)                                                                       \
    const T *p = (const T *)data;                                                          \
    const T m = (T)mask, low = (T)(mask & (~mask + 1u)), top = (T)(mask + low);            \
    int64_t i = 0;                                                                         \
    for (; i + BLOCK <= n; i += BLOCK) {                                                   \
        T acc = 0;                                                                         \
        for (int j = 0; j < BLOCK; j++) acc |= (T)((T)(p[i + j] & m) + low);               \
        if (acc & top) break; /* somewhere in this block: find it below */                 \
    }                                                                                      \
    for (; i < n; i++)                                                                     \
        if ((T)(p[i] & m) == m) return i;                                                  \
    return -1;

/* AVX2 where the CPU has it: 32 bytes a step instead of 16 */
__attribute__((target_clones("avx2", "default"))) static int64_t scan8(const void *data, int64_t n, uint32_t mask) { SCAN_BODY(uint8_t) }
__attribute__((target_clones("avx2", "default"))) static int64_t scan16(const void *data, int64_t n, uint32_t mask) { SCAN_BODY(uint16_t) }
__attribute__((target_clones("avx2", "default"))) static int64_t scan32(const void *data, int64_t n, uint32_t mask) { SCAN_BODY(uint32_t) }

int64_t ds_cpu_scan_nonfinite(const void *data, int64_t n, int elem_size, uint32_t exp_mask) {
    if (n <= 0 || !exp_mask) return -1;
    switch (elem_size) {
    case 1: return scan8(data, n, exp_mask);
    case 2: return scan16(data, n, exp_mask);
    case 4: return scan32(data, n, exp_mask);
    default: return -1;
    }
}

uint32_t ds_scan_exp_mask(int elem_size, int fp8_e5m2, int f16) {
    switch (elem_size) {
    case 1: return fp8_e5m2 ? 0x7Cu : 0x7Fu;
    case 2: return f16 ? 0x7C00u : 0x7F80u;
    case 4: return 0x7F800000u;
    default: return 0;
    }
}
