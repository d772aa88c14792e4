/* quant_unpack.c - CPU reference of pack-quantized decompression: unpack the
 * INT4/INT8 words and dequantize as compressed-tensors does,
 * bf16((q - zp) * scale). Used by to-bf16 (on either device), the tests and
 * verify's weight source.
 *
 * Eight elements at a time (kernels/cpu/fp8_row.h's vectors) where a group is
 * a multiple of 8 columns: q - zp from the word's bits as an integer, exactly
 * converted to float, one float multiply by the group's scale, dsq_f2bf's
 * rounding with its NaN case - dsq_dequantize's operations one for one, so the
 * same bytes (test_quant checks every q and zero point under scales that round
 * up, down, to ties, overflow, and NaN). Other groups (INT8 groups of 4 or 12
 * columns, a channel-wise row not a multiple of 8) go element by element
 * through the core. The element loop was all there was before: ~5 ns an
 * element against ~0.5 for the FP8 path (2-core VM, 2026-11-30). */
/* fp8_row.h's vector helpers are all inlined into the target_clones clones:
 * no vector crosses a call whose ABI the warning is about */
#pragma GCC diagnostic ignored "-Wpsabi"
#include "kernels/kernels.h"
#include "quant/quant_core.h"
#include "common/util.h"
#include "kernels/cpu/fp8_row.h"

#include <stdlib.h>

/* Row i's elements [c0, c1) of a group through the core. */
static void unpack_scalar(int bits, const uint32_t *words, float s, int zp, int64_t c0, int64_t c1, uint16_t *o16,
                          float *o32) {
    const int pf = 32 / bits;
    for (int64_t c = c0; c < c1; c++) {
        float d = dsq_dequantize(dsq_decode(words[c / pf], (int)(c % pf), bits), s, zp);
        if (o16) o16[c] = dsq_f2bf(d);
        else o32[c] = d;
    }
}

/* One row, groups of gs columns (gs a multiple of 8), zps[g] its zero points. */
FR_INLINE void unpack_row_body(int bits, const uint32_t *words, const uint16_t *scale, const int *zps, int64_t gs,
                               int64_t cols, uint16_t *o16, float *o32) {
    const fr_v8u sh4 = {0, 4, 8, 12, 16, 20, 24, 28}, sh8 = {0, 8, 16, 24, 0, 8, 16, 24};
    for (int64_t g = 0; g < cols / gs; g++) {
        float s = dsq_bf2f(scale[g]);
        /* q - zp = stored code - 2^(bits-1) - zp */
        fr_v8i off = (fr_v8i){0} + ((1 << (bits - 1)) + zps[g]);
        for (int64_t c = g * gs; c < (g + 1) * gs; c += 8) {
            fr_v8u code;
            if (bits == 4) {
                code = (((fr_v8u){0} + words[c / 8]) >> sh4) & 15u;
            } else {
                uint32_t a = words[c / 4], b = words[c / 4 + 1];
                code = ((fr_v8u){a, a, a, a, b, b, b, b} >> sh8) & 255u;
            }
            fr_v8f v = __builtin_convertvector((fr_v8i)code - off, fr_v8f) * s;
            fr_store_bf16_8(fr_f2bf8(v), o16 ? o16 + c : NULL, o32 ? o32 + c : NULL);
        }
    }
}

#define INT_UNPACK_ROW(NAME, BITS)                                                                             \
    __attribute__((target_clones("avx2", "default"))) static void NAME(                                       \
        const uint32_t *words, const uint16_t *scale, const int *zps, int64_t gs, int64_t cols, uint16_t *o16, \
        float *o32) {                                                                                          \
        if (o16) unpack_row_body((BITS), words, scale, zps, gs, cols, o16, NULL);                              \
        else unpack_row_body((BITS), words, scale, zps, gs, cols, NULL, o32);                                  \
    }
INT_UNPACK_ROW(unpack_row_int4, 4)
INT_UNPACK_ROW(unpack_row_int8, 8)

int ds_cpu_quant_unpack_rows(const ds_quant_spec *sp, const uint32_t *packed, const uint16_t *scale,
                             const uint32_t *zero_point, int64_t nrows, int64_t cols, void *out,
                             ds_dtype out_dtype) {
    const char *why = dsq_chunk_error(sp->bits, sp->group_size, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "unpack: %s (bits %d, group %d, %lld x %lld)", why, sp->bits,
                            sp->group_size, (long long)nrows, (long long)cols);
    if (out_dtype != DS_BF16 && out_dtype != DS_F32)
        return ds_fail(DS_EXIT_INPUT, "unpack: output must be BF16 or F32, not %s", ds_dtype_name(out_dtype));
    const int bits = sp->bits, pf = 32 / bits;
    const int64_t gs = sp->group_size ? sp->group_size : cols, ng = cols / gs, wpr = cols / pf;
    const int vec = gs % 8 == 0;

#pragma omp parallel
    {
        int *zps = xcalloc((size_t)ng, sizeof(int));
#pragma omp for schedule(static)
        for (int64_t i = 0; i < nrows; i++) {
            const uint32_t *words = packed + i * wpr;
            const uint16_t *srow = scale + i * ng;
            uint16_t *o16 = out_dtype == DS_BF16 ? (uint16_t *)out + i * cols : NULL;
            float *o32 = out_dtype == DS_F32 ? (float *)out + i * cols : NULL;
            if (!sp->symmetric)
                for (int64_t g = 0; g < ng; g++) zps[g] = dsq_decode(zero_point[(i / pf) * ng + g], (int)(i % pf), bits);
            if (!vec)
                for (int64_t g = 0; g < ng; g++)
                    unpack_scalar(bits, words, dsq_bf2f(srow[g]), zps[g], g * gs, (g + 1) * gs, o16, o32);
            else if (bits == 4)
                unpack_row_int4(words, srow, zps, gs, cols, o16, o32);
            else
                unpack_row_int8(words, srow, zps, gs, cols, o16, o32);
        }
        free(zps);
    }
    return 0;
}
