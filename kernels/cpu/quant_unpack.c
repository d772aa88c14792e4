/* quant_unpack.c - CPU reference of pack-quantized decompression: unpack the
 * INT4/INT8 words and dequantize as compressed-tensors does,
 * bf16((q - zp) * scale). Used by the tests and by verify's weight source. */
#include "kernels/kernels.h"
#include "quant/quant_core.h"
#include "common/util.h"

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

#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nrows; i++) {
        for (int64_t g = 0; g < ng; g++) {
            float s = dsq_bf2f(scale[i * ng + g]);
            int zp = sp->symmetric ? 0 : dsq_decode(zero_point[(i / pf) * ng + g], (int)(i % pf), bits);
            for (int64_t c = g * gs; c < (g + 1) * gs; c++) {
                int q = dsq_decode(packed[i * wpr + c / pf], (int)(c % pf), bits);
                float d = dsq_dequantize(q, s, zp);
                if (out_dtype == DS_BF16) ((uint16_t *)out)[i * cols + c] = dsq_f2bf(d);
                else ((float *)out)[i * cols + c] = d;
            }
        }
    }
    return 0;
}
