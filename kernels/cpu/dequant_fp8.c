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
 * The decode is a 256-entry table (formats/dtype.c). Measured on this 2-core VM,
 * one thread, 117 M elements: table 72 ms (1.6 GB/s of FP8 in); a branch-free
 * arithmetic decode that gcc vectorizes was 340 ms, so the table stays. Since
 * 2026-11-29 each 128x128 block builds its 256 outputs first (one look-up per
 * element, no multiply or rounding): requant's FP8 stage about 3x fewer
 * instructions, to-gguf's F32 stage about 5x (callgrind, 33 MB sample). */
#include "kernels/kernels.h"
#include "formats/dtype.h"

#include <string.h>

static inline uint16_t bf16_rne_nan7fff(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFF;
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1)) >> 16);
}

/* Blocks, not rows: within one block (br x bc) the scale is constant, so the
 * 256 possible outputs are computed once (the same multiply and rounding per
 * code) and every element is a table look-up. Parallel over blocks; a chunk's
 * first and last block-rows may be partial (r0 need not be a multiple of br). */
#define DEQ_BLOCKS(OUT_T, TAB_OF)                                                                              \
    const float *tab = ds_e4m3_table();                                                                        \
    if (nrows <= 0) return 0;                                                                                  \
    const int64_t sb0 = r0 / br, nsb = (r0 + nrows - 1) / br - sb0 + 1, ncb = (cols + bc - 1) / bc;             \
    _Pragma("omp parallel for collapse(2) schedule(static)")                                                  \
    for (int64_t k = 0; k < nsb; k++)                                                                          \
        for (int64_t cb = 0; cb < ncb; cb++) {                                                                 \
            int64_t a0 = (sb0 + k) * br, a1 = a0 + br;                                                         \
            if (a0 < r0) a0 = r0;                                                                              \
            if (a1 > r0 + nrows) a1 = r0 + nrows;                                                              \
            int64_t c0 = cb * bc, c1 = c0 + bc < cols ? c0 + bc : cols;                                         \
            float s = scale[(sb0 + k) * scale_cols + cb];                                                      \
            OUT_T t[256];                                                                                      \
            for (int c = 0; c < 256; c++) t[c] = TAB_OF(bf16_rne_nan7fff(tab[c] * s));                         \
            for (int64_t r = a0; r < a1; r++) {                                                                \
                const uint8_t *src = w + (r - r0) * cols;                                                      \
                OUT_T *dst = out + (r - r0) * cols;                                                            \
                for (int64_t j = c0; j < c1; j++) dst[j] = t[src[j]];                                          \
            }                                                                                                  \
        }                                                                                                      \
    return 0;

static inline uint16_t as_bf16(uint16_t h) { return h; }
static inline float widen_bf16(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

int ds_cpu_dequant_fp8_bf16(const uint8_t *w, uint16_t *out, int64_t r0, int64_t nrows, int64_t cols,
                             const float *scale, int64_t scale_cols, int br, int bc) {
    DEQ_BLOCKS(uint16_t, as_bf16)
}

int ds_cpu_dequant_fp8_f32(const uint8_t *w, float *out, int64_t r0, int64_t nrows, int64_t cols,
                            const float *scale, int64_t scale_cols, int br, int bc) {
    DEQ_BLOCKS(float, widen_bf16)
}

/* Largest code magnitude (b & 0x7F) of n FP8 e4m3 bytes, NaN codes (0x7F)
 * skipped: e4m3 magnitudes order as their codes do. */
typedef uint8_t v32b __attribute__((vector_size(32)));

__attribute__((target_clones("avx2", "default"))) static uint8_t max_code(const uint8_t *src, int64_t n) {
    uint8_t m = 0;
    int64_t j = 0;
    if (n >= 32) { /* 32 bytes at a time (gcc's vector extensions; the loop below was left scalar) */
        v32b mv = {0};
        for (; j + 32 <= n; j += 32) {
            v32b a;
            memcpy(&a, src + j, 32);
            a &= 0x7Fu;
            a &= ~(v32b)(a == 0x7Fu);
            v32b gt = (v32b)(a > mv);
            mv = (gt & a) | (~gt & mv);
        }
        for (int l = 0; l < 32; l++) m = mv[l] > m ? mv[l] : m;
    }
    for (; j < n; j++) {
        uint8_t a = src[j] & 0x7Fu;
        a = a == 0x7Fu ? 0 : a;
        m = a > m ? a : m;
    }
    return m;
}

/* Why it equals the dequantize-then-scan result: |e4m3 * s| = |e4m3| * |s|
 * exactly, and float multiplication and the bf16 rounding are both monotonic,
 * so a block's largest bf16 magnitude is bf16(max|e4m3| * |s|) - unless that
 * product is not finite, where the scan skips it and takes the next smaller
 * element; such a block (a scale over ~7e35) is dequantized and scanned. */
float ds_cpu_fp8_absmax(const uint8_t *w, int64_t r0, int64_t nrows, int64_t cols, const float *scale,
                        int64_t scale_cols, int br, int bc) {
    const float *tab = ds_e4m3_table();
    float m = 0.0f;
#pragma omp parallel for reduction(max : m) schedule(static)
    for (int64_t i = 0; i < nrows; i++) {
        const uint8_t *src = w + i * cols;
        const float *srow = scale + ((r0 + i) / br) * scale_cols;
        for (int64_t c0 = 0; c0 < cols; c0 += bc) {
            int64_t c1 = c0 + bc < cols ? c0 + bc : cols;
            float s = srow[c0 / bc];
            s = s < 0 ? -s : s;
            uint16_t h = bf16_rne_nan7fff(tab[max_code(src + c0, c1 - c0)] * s);
            if ((h & 0x7F80u) == 0x7F80u) { /* inf (or NaN): the exact scan of this row's block */
                h = 0;
                for (int64_t j = c0; j < c1; j++) {
                    uint16_t b = (uint16_t)(bf16_rne_nan7fff(tab[src[j]] * s) & 0x7FFFu);
                    if (b < 0x7F80u && b > h) h = b;
                }
            }
            float v = ds_bf16_to_f32(h);
            if (v > m) m = v;
        }
    }
    return m;
}
