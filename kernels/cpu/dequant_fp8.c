/* dequant_fp8.c - CPU reference for FP8 e4m3 block dequantization.
 *
 * Per element: one float32 multiply of the decoded e4m3 value by its block's
 * scale, then round-to-nearest-even to bf16 - the same two operations as
 * upstream's Triton kernel, so the bytes match. A NaN product (e4m3 codes
 * 0x7F/0xFF; scales are checked finite before any work) becomes 0x7FFF, the
 * canonical NaN the GPU's cvt.rn.bf16.f32 writes for every NaN, and so what
 * upstream writes.
 *
 * The decode is branch-free integer arithmetic on 32-bit lanes rather than a
 * table lookup, so gcc vectorizes the whole row loop (SSE2 everywhere, AVX2
 * where the CPU has it, chosen at run time by target_clones). It equals
 * ds_e4m3_to_f32 for all 256 codes (tests check it). */
#include "kernels/kernels.h"
#include "formats/dtype.h"

#include <string.h>

static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* e4m3 -> f32 bits: normal codes rebias the exponent (+120 << 23); subnormal
 * codes (exponent 0) are m * 2^-9, exact in float. NaN codes are handled by the caller. */
static inline uint32_t e4m3_bits(uint32_t b) {
    uint32_t em = b & 0x7F;
    uint32_t normal = (em << 20) + 0x3C000000u;
    uint32_t sub = f2u((float)(em & 7) * 0x1p-9f);
    return (em < 8 ? sub : normal) | ((b & 0x80) << 24);
}

static inline uint16_t bf16_rne_dq(uint32_t code, float f) {
    uint32_t x = f2u(f);
    uint16_t r = (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1)) >> 16);
    return (code & 0x7F) == 0x7F ? (uint16_t)0x7FFF : r;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define DS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DS_CLONES
#endif

/* One block-column run of a row: dst[j] = bf16(decode(src[j]) * s). */
DS_CLONES static void row_run_bf16(const uint8_t *restrict src, uint16_t *restrict dst, int64_t n, float s) {
    for (int64_t j = 0; j < n; j++) {
        uint32_t b = src[j];
        dst[j] = bf16_rne_dq(b, u2f(e4m3_bits(b)) * s);
    }
}

void ds_cpu_dequant_fp8_bf16(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                             const float *scale, int64_t scale_cols, int br, int bc) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nrows; i++) {
        const uint8_t *src = w + i * cols;
        uint16_t *dst = out + i * cols;
        const float *srow = scale + ((r0 + i) / br) * scale_cols;
        for (int64_t c0 = 0; c0 < cols; c0 += bc) {
            int64_t n = c0 + bc < cols ? bc : cols - c0;
            row_run_bf16(src + c0, dst + c0, n, srow[c0 / bc]);
        }
    }
}

void ds_cpu_dequant_fp8_f32(const uint8_t *w, float *out, int64_t r0, int64_t nrows, int64_t cols,
                            const float *scale, int64_t scale_cols, int br, int bc) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nrows; i++) {
        const uint8_t *src = w + i * cols;
        float *dst = out + i * cols;
        const float *srow = scale + ((r0 + i) / br) * scale_cols;
        for (int64_t c0 = 0; c0 < cols; c0 += bc) {
            int64_t c1 = c0 + bc < cols ? c0 + bc : cols;
            float s = srow[c0 / bc];
            for (int64_t j = c0; j < c1; j++) {
                uint32_t b = src[j];
                dst[j] = ds_bf16_to_f32(bf16_rne_dq(b, u2f(e4m3_bits(b)) * s));
            }
        }
    }
}
