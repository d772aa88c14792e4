/* dequant_fp8.c - CPU reference for FP8 e4m3 block dequantization.
 *
 * Per element: one float32 multiply of the decoded e4m3 value by its block's
 * scale, then round-to-nearest-even to bf16 - the same two operations as
 * upstream's Triton kernel, so the bytes match. A NaN product (e4m3 codes
 * 0x7F/0xFF) becomes 0x7FFF, the canonical NaN the GPU's cvt.rn.bf16.f32
 * writes for every NaN, and so what upstream writes.
 *
 * Precondition: scales are finite (the plan builders check every scale before
 * any work); with a NaN or infinite scale the bytes would differ from the GPU's.
 *
 * The decode builds each e4m3 value from its code's bits, eight lanes at a
 * time (kernels/cpu/fp8_row.h, shared with requant's FP8 path). Measured on
 * the 2-core VM, one thread, 7.3 M elements: 1.3 ns/element (1.8
 * instructions) against 3.6 ns (3.1) for the 256-output table per 128x128
 * block it replaces (2026-11-29), itself ~3x fewer instructions than a
 * table decode and a multiply per element. */
#include "kernels/kernels.h"
#include "formats/dtype.h"
#include "kernels/cpu/fp8_row.h"

#include <stdlib.h>
#include <string.h>

static inline uint16_t bf16_rne_nan7fff(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFF;
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1)) >> 16);
}

/* Rows, eight elements at a time: each decoded from its code's bits and
 * multiplied by its block's scale (kernels/cpu/fp8_row.h; the same multiply
 * and rounding per element as the table of a block's 256 outputs used before,
 * at about a third of its instructions). Parallel over rows, handed out a few
 * at a time as threads come free. */
__attribute__((target_clones("avx2", "default"))) static void row_bf16(const uint8_t *src, int64_t cols,
                                                                       const float *srow, int bc, uint16_t *out) {
    fr_decode_row_bf16(src, cols, srow, bc, out);
}

__attribute__((target_clones("avx2", "default"))) static void row_f32(const uint8_t *src, int64_t cols,
                                                                      const float *srow, int bc, float *out) {
    fr_decode_row(src, cols, srow, bc, out);
}

int ds_cpu_dequant_fp8_bf16(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                             const float *scale, int64_t scale_cols, int br, int bc) {
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < nrows; i++)
        row_bf16(w + i * cols, cols, scale + ((r0 + i) / br) * scale_cols, bc, out + i * cols);
    return 0;
}

int ds_cpu_dequant_fp8_f32(const uint8_t *w, float *out, int64_t r0, int64_t nrows, int64_t cols,
                            const float *scale, int64_t scale_cols, int br, int bc) {
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < nrows; i++)
        row_f32(w + i * cols, cols, scale + ((r0 + i) / br) * scale_cols, bc, out + i * cols);
    return 0;
}

/* Largest code magnitude (b & 0x7F, NaN codes 0x7F skipped: e4m3 magnitudes
 * order as their codes do) of each bc-column block of rows [a0, a1) (row
 * stride cols; cols need not be a multiple of bc), into m[0..ncb): 32 bytes
 * at a time per block over all the rows, one horizontal maximum per block. */
typedef uint8_t v32b __attribute__((vector_size(32)));

__attribute__((target_clones("avx2", "default"))) static void band_max_codes(const uint8_t *w, int64_t nrows,
                                                                             int64_t cols, int64_t bc, uint8_t *m) {
    int64_t ncb = (cols + bc - 1) / bc;
    for (int64_t cb = 0; cb < ncb; cb++) {
        int64_t c0 = cb * bc, c1 = c0 + bc < cols ? c0 + bc : cols;
        v32b mv = {0};
        uint8_t ms = 0;
        for (int64_t r = 0; r < nrows; r++) {
            const uint8_t *src = w + r * cols;
            int64_t j = c0;
            for (; j + 32 <= c1; j += 32) {
                v32b a;
                memcpy(&a, src + j, 32);
                a &= 0x7Fu;
                a &= ~(v32b)(a == 0x7Fu);
                v32b gt = (v32b)(a > mv);
                mv = (gt & a) | (~gt & mv);
            }
            for (; j < c1; j++) {
                uint8_t a = src[j] & 0x7Fu;
                a = a == 0x7Fu ? 0 : a;
                ms = a > ms ? a : ms;
            }
        }
        for (int l = 0; l < 32; l++) ms = mv[l] > ms ? mv[l] : ms;
        m[cb] = ms;
    }
}

/* Why it equals the dequantize-then-scan result: |e4m3 * s| = |e4m3| * |s|
 * exactly, and float multiplication and the bf16 rounding are both monotonic,
 * so a block's largest bf16 magnitude is bf16(max|e4m3| * |s|) - unless that
 * product is not finite, where the scan skips it and takes the next smaller
 * element; such a block (a scale over ~7e35) is dequantized and scanned.
 * Parallel over bands of br rows (the rows of one scale row): each thread
 * reads its band row by row, once. */
float ds_cpu_fp8_absmax(const uint8_t *w, int64_t r0, int64_t nrows, int64_t cols, const float *scale,
                        int64_t scale_cols, int br, int bc) {
    const float *tab = ds_e4m3_table();
    float m = 0.0f;
    if (nrows <= 0) return 0.0f;
    const int64_t sb0 = r0 / br, nsb = (r0 + nrows - 1) / br - sb0 + 1, ncb = (cols + bc - 1) / bc;
#pragma omp parallel reduction(max : m)
    {
        uint8_t *mc = malloc((size_t)ncb);
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < nsb; k++) {
            int64_t a0 = (sb0 + k) * br, a1 = a0 + br;
            if (a0 < r0) a0 = r0;
            if (a1 > r0 + nrows) a1 = r0 + nrows;
            const uint8_t *band = w + (a0 - r0) * cols;
            band_max_codes(band, a1 - a0, cols, bc, mc);
            const float *srow = scale + (sb0 + k) * scale_cols;
            for (int64_t cb = 0; cb < ncb; cb++) {
                float s = srow[cb];
                s = s < 0 ? -s : s;
                uint16_t h = bf16_rne_nan7fff(tab[mc[cb]] * s);
                if ((h & 0x7F80u) == 0x7F80u) { /* inf (or NaN): the exact scan of this block */
                    int64_t c0 = cb * bc, c1 = c0 + bc < cols ? c0 + bc : cols;
                    h = 0;
                    for (int64_t r = 0; r < a1 - a0; r++)
                        for (int64_t j = c0; j < c1; j++) {
                            uint16_t b = (uint16_t)(bf16_rne_nan7fff(tab[band[r * cols + j]] * s) & 0x7FFFu);
                            if (b < 0x7F80u && b > h) h = b;
                        }
                }
                float v = ds_bf16_to_f32(h);
                if (v > m) m = v;
            }
        }
        free(mc);
    }
    return m;
}
