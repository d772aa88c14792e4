/* gguf_quant.c - float32 rows to ggml types, CPU reference (see kernels/gguf_quant.h). */
#include "kernels/gguf_quant.h"
#include "formats/dtype.h"
#include "kernels/gguf_blocks.h"
#include "common/util.h"

#include <math.h>
#include <string.h>

/* Q8_0 rows on eight lanes at a time (gcc vector extensions; ymm in the avx2
 * clone): the same operations as ds_gg_q8_0_block - the block's largest |x|
 * (NaN skipped, as a > amax skips it), d and 1/d in scalar float32, x * id in
 * float32 - and roundf's half-away-from-zero done exactly: truncate, then step
 * away from zero where the (exact) remainder is at least 0.5. A NaN product
 * keeps the truncation's 0x80000000, whose low byte 0 is what the scalar
 * cast writes. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
/* the same vector at any float's alignment: loaded in one instruction (a
 * memcpy into a v8f on the stack was two 16-byte stores and a 32-byte load,
 * which the store buffer cannot forward: a stall per load) */
typedef float v8f_u __attribute__((vector_size(32), aligned(4), may_alias));

__attribute__((target_clones("avx2", "default"))) static void q8_0_row(const float *x, int64_t cols, uint8_t *out) {
    for (int64_t b = 0; b < cols / 32; b++) {
        const float *v = x + b * 32;
        uint8_t *o = out + b * 34;
        v8f xv[4];
        v8f am = {0};
        for (int j = 0; j < 4; j++) {
            xv[j] = *(const v8f_u *)(v + 8 * j);
            v8f a = (v8f)((v8u)xv[j] & 0x7FFFFFFFu);
            v8i gt = (v8i)(a > am);
            am = (v8f)(((v8u)gt & (v8u)a) | (~(v8u)gt & (v8u)am));
        }
        float amax = 0.0f;
        for (int l = 0; l < 8; l++)
            if (am[l] > amax) amax = am[l];
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t dh = gg_f32_to_f16(d);
        memcpy(o, &dh, 2);
        for (int j = 0; j < 4; j++) {
            v8f p = xv[j] * id;
            v8i t = __builtin_convertvector(p, v8i);
            v8f fr = p - __builtin_convertvector(t, v8f);
            v8f ap = (v8f)((v8u)p & 0x7FFFFFFFu);
            v8i up = (v8i)(fr >= 0.5f) & (v8i)(ap < 1e9f);
            v8i dn = (v8i)(fr <= -0.5f) & (v8i)(ap < 1e9f);
            t = t - up + dn; /* masks are -1 */
            for (int l = 0; l < 8; l++) o[2 + 8 * j + l] = (uint8_t)t[l];
        }
    }
}

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
    case DS_GGML_Q8_0: q8_0_row(x, cols, out); return 0;
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
