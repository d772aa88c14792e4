/* gguf_quant.c - float32 rows to ggml types, CPU reference (see kernels/gguf_quant.h). */
#include "kernels/gguf_quant.h"
#include "formats/dtype.h"
#include "kernels/gguf_blocks.h"
#include "common/util.h"

#include <math.h>
#include <string.h>

int ds_cpu_gguf_encode_row(const float *x, int64_t cols, ds_ggml_type t, uint8_t *out) {
    switch (t) {
    case DS_GGML_F32: memcpy(out, x, (size_t)cols * 4); return 0;
    case DS_GGML_F16: {
        uint16_t *o = (uint16_t *)out;
        for (int64_t j = 0; j < cols; j++) o[j] = gg_f32_to_f16(x[j]);
        return 0;
    }
    case DS_GGML_BF16: {
        uint16_t *o = (uint16_t *)out;
        for (int64_t j = 0; j < cols; j++) o[j] = gg_f32_to_bf16(x[j]);
        return 0;
    }
    case DS_GGML_Q8_0: for (int64_t b = 0; b < cols / 32; b++) ds_gg_q8_0_block(x + b * 32, out + b * 34); return 0;
    case DS_GGML_Q4_K: case DS_GGML_Q6_K: case DS_GGML_Q5_0: ds_cpu_gguf_kquant_row(x, cols, t, out); return 0;
    default: return ds_fail(DS_EXIT_USAGE, "ggml type %d: no encoder", (int)t);
    }
}

int ds_cpu_gguf_encode(const float *x, int64_t nrows, int64_t cols, ds_ggml_type t, uint8_t *out) {
    const ds_ggml_traits *tr = ds_ggml_info(t);
    if (!tr) return ds_fail(DS_EXIT_USAGE, "ggml type %d: unknown", (int)t);
    uint64_t rb = ds_ggml_row_bytes(tr, cols);
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (int64_t r = 0; r < nrows; r++) bad |= ds_cpu_gguf_encode_row(x + r * cols, cols, t, out + r * rb) != 0;
    return bad ? DS_EXIT_USAGE : 0;
}

int ds_cpu_dequant_fp8_f32_exact(const uint8_t *w, float *out, int64_t r0, int64_t nrows, int64_t cols,
                                 const float *scale, int64_t scale_cols, int br, int bc) {
    const float *tab = ds_e4m3_table();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nrows; i++) {
        const uint8_t *src = w + i * cols;
        float *dst = out + i * cols;
        const float *srow = scale + ((r0 + i) / br) * scale_cols;
        for (int64_t c0 = 0; c0 < cols; c0 += bc) {
            int64_t c1 = c0 + bc < cols ? c0 + bc : cols;
            float s = srow[c0 / bc];
            for (int64_t j = c0; j < c1; j++) dst[j] = tab[src[j]] * s;
        }
    }
    return 0;
}
