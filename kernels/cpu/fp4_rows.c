/* fp4_rows.c - CPU reference of NVFP4 / MXFP4 weight quantization into
 * compressed-tensors' nvfp4-pack-quantized / mxfp4-pack-quantized layout, its
 * decompression, and the largest |w| of BF16 rows (the NVFP4 global scale).
 * The per-group arithmetic is quant/fp4_core.h, shared with
 * kernels/cuda/fp4_rows.cu, so both write the same bytes. */
#include "kernels/kernels.h"
#include "quant/fp4_core.h"
#include "common/util.h"

static const char *fp4_chunk_error(const ds_quant_spec *sp, int64_t nrows, int64_t cols) {
    if (sp->format != DSQ_FMT_NVFP4 && sp->format != DSQ_FMT_MXFP4) return "format is not nvfp4 or mxfp4";
    if (nrows < 0 || cols <= 0) return "empty or negative shape";
    if (cols % dsq_fp4_group_size(sp->format)) return "columns not a multiple of the group size";
    return NULL;
}

int ds_cpu_fp4_quant_rows(const ds_quant_spec *sp, const uint16_t *w, int64_t nrows, int64_t cols, float gs,
                          uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats) {
    const char *why = fp4_chunk_error(sp, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "quantize fp4: %s (%lld x %lld)", why, (long long)nrows, (long long)cols);
    const int g = dsq_fp4_group_size(sp->format);
    const int64_t ng = cols / g;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < nrows; i++) {
        dsq_fp4_stats st = {0, 0, 0, 0};
        for (int64_t k = 0; k < ng; k++)
            dsq_fp4_encode_group(sp->format, sp->mse, w + i * cols + k * g, g, gs, packed + i * (cols / 2) + k * (g / 2),
                                 scale + i * ng + k, &st);
        if (stats) {
            stats[i].err_sq = st.err_sq;
            stats[i].ref_sq = st.ref_sq;
            stats[i].max_abs_err = st.max_abs_err;
            stats[i].nonfinite = st.nonfinite;
        }
    }
    return 0;
}

int ds_cpu_fp4_unpack_rows(const ds_quant_spec *sp, const uint8_t *packed, const uint8_t *scale, float gs,
                           int64_t nrows, int64_t cols, void *out, ds_dtype out_dtype) {
    const char *why = fp4_chunk_error(sp, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "unpack fp4: %s (%lld x %lld)", why, (long long)nrows, (long long)cols);
    if (out_dtype != DS_BF16 && out_dtype != DS_F32)
        return ds_fail(DS_EXIT_INPUT, "unpack fp4: output must be BF16 or F32, not %s", ds_dtype_name(out_dtype));
    const int g = dsq_fp4_group_size(sp->format);
    const int64_t ng = cols / g;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nrows; i++)
        for (int64_t k = 0; k < ng; k++) {
            float eff = dsq_fp4_eff_of_code(sp->format, scale[i * ng + k], gs);
            for (int64_t c = k * g; c < (k + 1) * g; c++) {
                uint8_t b = packed[i * (cols / 2) + c / 2];
                float d = dsq_fp4_dequantize((c & 1) ? (uint32_t)(b >> 4) : (uint32_t)(b & 15u), eff);
                if (out_dtype == DS_BF16) ((uint16_t *)out)[i * cols + c] = dsq_f2bf(d);
                else ((float *)out)[i * cols + c] = d;
            }
        }
    return 0;
}

float ds_cpu_bf16_absmax(const uint16_t *w, int64_t n) {
    float m = 0.0f;
#pragma omp parallel for reduction(max : m) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float x = dsq_bf2f(w[i]);
        if (!dsq_isfinite(x)) continue;
        float a = x < 0 ? -x : x;
        if (a > m) m = a;
    }
    return m;
}
