/* gguf_kquant.c - ggml's Q4_K, Q6_K and Q5_0 blocks from float32, CPU reference.
 *
 * These are the bytes llama-quantize writes without an importance matrix
 * (ggml-quants.c quantize_row_*_ref, llama-cpp-python 0.3.36 sdist): the same
 * search for scales and the same float32 operations in the same order, so
 * the results are bit-identical. Q5_0 is what llama-quantize falls back to
 * for a Q4_K tensor whose rows are not a multiple of 256 (Q6_K falls back to
 * Q8_0). Build with -ffp-contract=off: a fused multiply-add changes bytes. */
#include "kernels/gguf_quant.h"
#include "formats/dtype.h"

#include <math.h>
#include <string.h>

#define QK_K 256
#define EPS_ZERO 1e-15f /* ggml's GROUP_MAX_EPS: below it a group counts as all zero */

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 leaves
 * the integer in the low mantissa bits (ggml's nearest_int). */
static inline int near_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}
static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Scale and min for n values quantized to 0..nmax as x ~ scale*q - m: a grid
 * of nstep+1 trial scales around nmax/(max-min), each refined by weighted
 * least squares, keeping the one with the smallest weighted squared error. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *q, float *neg_min,
                           uint8_t *qtry, float rmin, float rdelta, int nstep) {
    float lo = x[0], hi = x[0];
    float sw = w[0];
    float sx = sw * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        float wi = w[i];
        sw += wi;
        sx += wi * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        memset(q, 0, (size_t)n);
        *neg_min = -lo;
        return 0.f;
    }
    float inv = nmax / (hi - lo);
    float scale = 1 / inv;
    float best = 0;
    for (int i = 0; i < n; ++i) {
        int l = near_int(inv * (x[i] - lo));
        q[i] = (uint8_t)imax(0, imin(nmax, l));
        float e = scale * q[i] + lo - x[i];
        best += w[i] * (e * e);
    }
    for (int s = 0; s <= nstep; ++s) {
        inv = (rmin + rdelta * s + nmax) / (hi - lo);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; ++i) {
            int l = imax(0, imin(nmax, near_int(inv * (x[i] - lo))));
            qtry[i] = (uint8_t)l;
            float wi = w[i];
            sl += wi * l;
            sl2 += wi * l * l;
            sxl += wi * l * x[i];
        }
        float det = sw * sl2 - sl * sl;
        if (det > 0) {
            float sc = (sw * sxl - sx * sl) / det;
            float mn = (sl2 * sx - sl * sxl) / det;
            if (mn > 0) {
                mn = 0;
                sc = sxl / sl2;
            }
            float err = 0;
            for (int i = 0; i < n; ++i) {
                float e = sc * qtry[i] + mn - x[i];
                err += w[i] * (e * e);
            }
            if (err < best) {
                memcpy(q, qtry, (size_t)n);
                best = err;
                scale = sc;
                lo = mn;
            }
        }
    }
    *neg_min = -lo;
    return scale;
}

/* Q4_K super-block: 8 groups of 32, each with a 6-bit scale and min. */
static void q4_k_block(const float *x, uint8_t *out) {
    uint8_t L[QK_K], tmp[32];
    float w[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        float s2 = 0;
        for (int l = 0; l < 32; ++l) s2 += x[32 * j + l] * x[32 * j + l];
        float av = sqrtf(s2 / 32);
        for (int l = 0; l < 32; ++l) w[l] = av + fabsf(x[32 * j + l]);
        scales[j] = fit_scale_min(32, 15, x + 32 * j, w, L + 32 * j, &mins[j], tmp, -1.f, 0.1f, 20);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    uint8_t *sc = out + 4; /* d (f16), dmin (f16), scales[12], qs[128] */
    float is = max_scale > 0 ? 63.f / max_scale : 0.f;
    float im = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
        uint8_t ls = (uint8_t)near_int(is * scales[j]);
        uint8_t lm = (uint8_t)near_int(im * mins[j]);
        if (ls > 63) ls = 63;
        if (lm > 63) lm = 63;
        if (j < 4) {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else { /* high two bits of scale and min go to the top of bytes j-4 and j */
            sc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    uint16_t dh = ds_f32_to_f16(max_scale / 63.f), mh = ds_f32_to_f16(max_min / 63.f);
    memcpy(out, &dh, 2);
    memcpy(out + 2, &mh, 2);
    float d0 = ds_f16_to_f32(dh), m0 = ds_f16_to_f32(mh);
    for (int j = 0; j < 8; ++j) {
        uint8_t s, m;
        if (j < 4) { s = sc[j] & 63; m = sc[j + 4] & 63; }
        else { s = (uint8_t)((sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4)); m = (uint8_t)((sc[j + 4] >> 4) | ((sc[j] >> 6) << 4)); }
        float d = d0 * s;
        if (!d) continue;
        float dm = m0 * m;
        for (int i = 0; i < 32; ++i) L[32 * j + i] = (uint8_t)imax(0, imin(15, near_int((x[32 * j + i] + dm) / d)));
    }
    uint8_t *q = out + 16;
    for (int j = 0; j < QK_K; j += 64) {
        for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        q += 32;
    }
}

/* Symmetric scale for n values to -nmax..nmax-1 (stored +nmax), weights x^2:
 * 1/iscale from the extreme value, then 18 nearby trial scales refined by
 * least squares (ggml's make_qx_quants, rmse_type 1). */
static float fit_scale_sym(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < EPS_ZERO) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = imax(-nmax, imin(nmax - 1, near_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = imax(-nmax, imin(nmax - 1, near_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, near_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q6_K super-block: 16 groups of 16 with int8 scales; ql[128], qh[64], scales[16], d. */
static void q6_k_block(const float *x, uint8_t *out) {
    int8_t L[QK_K];
    float scales[16];
    float max_scale = 0, max_abs = 0;
    for (int ib = 0; ib < 16; ++ib) {
        float s = fit_scale_sym(16, 32, x + 16 * ib, L + 16 * ib);
        scales[ib] = s;
        if (fabsf(s) > max_abs) { max_abs = fabsf(s); max_scale = s; }
    }
    memset(out, 0, 210);
    if (max_abs < EPS_ZERO) return; /* all zero, d = +0 */
    int8_t *sc = (int8_t *)(out + 192);
    float iscale = -128.f / max_scale;
    uint16_t dh = ds_f32_to_f16(1 / iscale);
    memcpy(out + 208, &dh, 2);
    for (int ib = 0; ib < 16; ++ib) sc[ib] = (int8_t)imin(127, near_int(iscale * scales[ib]));
    float d0 = ds_f16_to_f32(dh);
    for (int j = 0; j < 16; ++j) {
        float d = d0 * sc[j];
        if (!d) continue;
        for (int i = 0; i < 16; ++i) L[16 * j + i] = (int8_t)(imax(-32, imin(31, near_int(x[16 * j + i] / d))) + 32);
    }
    uint8_t *ql = out, *qh = out + 128;
    for (int j = 0; j < QK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
            uint8_t a = (uint8_t)L[j + l], b = (uint8_t)L[j + l + 32], c = (uint8_t)L[j + l + 64], e = (uint8_t)L[j + l + 96];
            ql[l] = (uint8_t)((a & 0xF) | ((c & 0xF) << 4));
            ql[l + 32] = (uint8_t)((b & 0xF) | ((e & 0xF) << 4));
            qh[l] = (uint8_t)((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}

/* Q5_0 block of 32: d = (value of largest magnitude)/-16, 5-bit q = x/d + 16. */
static void q5_0_block(const float *x, uint8_t *out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    float d = max / -16;
    float id = d ? 1.0f / d : 0.0f;
    uint16_t dh = ds_f32_to_f16(d);
    memcpy(out, &dh, 2);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        uint8_t a = (uint8_t)imin(31, (int8_t)(x[j] * id + 16.5f));
        uint8_t b = (uint8_t)imin(31, (int8_t)(x[16 + j] * id + 16.5f));
        out[6 + j] = (uint8_t)((a & 0x0F) | ((b & 0x0F) << 4));
        qh |= ((a & 0x10u) >> 4) << j;
        qh |= ((b & 0x10u) >> 4) << (j + 16);
    }
    memcpy(out + 2, &qh, 4);
}

void ds_cpu_gguf_kquant_row(const float *x, int64_t cols, ds_ggml_type t, uint8_t *out) {
    switch (t) {
    case DS_GGML_Q4_K: for (int64_t b = 0; b < cols / QK_K; b++) q4_k_block(x + b * QK_K, out + b * 144); break;
    case DS_GGML_Q6_K: for (int64_t b = 0; b < cols / QK_K; b++) q6_k_block(x + b * QK_K, out + b * 210); break;
    case DS_GGML_Q5_0: for (int64_t b = 0; b < cols / 32; b++) q5_0_block(x + b * 32, out + b * 22); break;
    default: break;
    }
}
