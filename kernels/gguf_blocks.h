/* gguf_blocks.h - one ggml block at a time: the encoders of kernels/cpu/gguf_quant.c
 * and kernels/cuda/gguf_quant.cu are these functions, compiled by gcc and by
 * nvcc (host and device), so CPU and GPU write the same bytes by construction.
 *
 * Q4_K, Q6_K and Q5_0 are the bytes llama-quantize writes without an
 * importance matrix (ggml-quants.c quantize_row_*_ref, llama-cpp-python 0.3.36
 * sdist): the same search for scales and the same float32 operations in the
 * same order. Q5_0 is llama-quantize's fallback for a Q4_K tensor whose rows
 * are not a multiple of 256 (Q6_K falls back to Q8_0). Q8_0 is gguf-py's (=
 * ggml's quantize_row_q8_0_ref). Compile without contraction (gcc
 * -ffp-contract=off, nvcc -fmad=false): a fused multiply-add changes bytes. */
#ifndef DS_GGUF_BLOCKS_H
#define DS_GGUF_BLOCKS_H
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifdef __CUDACC__
#define DS_HD __host__ __device__
#else
#define DS_HD
#endif

DS_HD static inline void gg_copy(void *d, const void *s, size_t n) {
    for (size_t i = 0; i < n; i++) ((uint8_t *)d)[i] = ((const uint8_t *)s)[i];
}
DS_HD static inline void gg_zero(void *d, size_t n) {
    for (size_t i = 0; i < n; i++) ((uint8_t *)d)[i] = 0;
}
DS_HD static inline uint32_t gg_f2u(float f) { uint32_t u; gg_copy(&u, &f, 4); return u; }
DS_HD static inline float gg_u2f(uint32_t u) { float f; gg_copy(&f, &u, 4); return f; }

/* float32 -> IEEE half, round to nearest even (numpy astype, ggml's FP32_TO_FP16). */
DS_HD static inline uint16_t gg_f32_to_f16(float f) {
    uint32_t x = gg_f2u(f);
    uint16_t s = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7FFFFFFFu;
    if (x > 0x7F800000u) return (uint16_t)(s | 0x7E00);
    if (x >= 0x477FF000u) return (uint16_t)(s | 0x7C00);
    if (x < 0x38800000u) {                     /* subnormal half: steps of 2^-24 */
        if (x < 0x33000000u) return s;         /* below half the smallest: 0 (ties at exactly 2^-25 go to even 0) */
        uint32_t m = (x & 0x7FFFFFu) | 0x800000u;
        int sh = 126 - (int)(x >> 23);         /* 14..24 */
        uint32_t h = m >> sh, rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(s | h);
    }
    uint32_t mant = x & 0x7FFFFFu;
    uint32_t h = ((((x >> 23) - 127 + 15)) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(s | h);
}
DS_HD static inline float gg_f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 0) {
        float v = (float)m * 5.9604644775390625e-08f; /* m * 2^-24, exact */
        return s ? -v : v;
    }
    if (e == 31) return gg_u2f(s | 0x7F800000u | (m << 13));
    return gg_u2f(s | ((e - 15 + 127) << 23) | (m << 13));
}
/* ggml_compute_fp32_to_bf16: NaN made quiet keeping sign and top bits, else RNE. */
DS_HD static inline uint16_t gg_f32_to_bf16(float f) {
    uint32_t u = gg_f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* Q8_0 block of 32: d = amax/127 (float32), q = round-half-away(x * (1/d)), d as F16. */
DS_HD static inline void ds_gg_q8_0_block(const float *v, uint8_t *o) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        float a = fabsf(v[j]);
        if (a > amax) amax = a;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint16_t dh = gg_f32_to_f16(d);
    gg_copy(o, &dh, 2);
    for (int j = 0; j < 32; j++) o[2 + j] = (uint8_t)(int8_t)roundf(v[j] * id);
}

#define QK_K 256
#define EPS_ZERO 1e-15f /* ggml's GROUP_MAX_EPS: below it a group counts as all zero */

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 leaves
 * the integer in the low mantissa bits (ggml's nearest_int). */
DS_HD static inline int near_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    gg_copy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}
DS_HD static inline int imin(int a, int b) { return a < b ? a : b; }
DS_HD static inline int imax(int a, int b) { return a > b ? a : b; }

/* Scale and min for n values quantized to 0..nmax as x ~ scale*q - m: a grid
 * of nstep+1 trial scales around nmax/(max-min), each refined by weighted
 * least squares, keeping the one with the smallest weighted squared error. */
DS_HD static inline float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *q, float *neg_min,
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
        gg_zero(q, (size_t)n);
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
                gg_copy(q, qtry, (size_t)n);
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
DS_HD static inline void ds_gg_q4_k_block(const float *x, uint8_t *out) {
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
    uint16_t dh = gg_f32_to_f16(max_scale / 63.f), mh = gg_f32_to_f16(max_min / 63.f);
    gg_copy(out, &dh, 2);
    gg_copy(out + 2, &mh, 2);
    float d0 = gg_f16_to_f32(dh), m0 = gg_f16_to_f32(mh);
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
DS_HD static inline float fit_scale_sym(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < EPS_ZERO) {
        gg_zero(L, (size_t)n);
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
DS_HD static inline void ds_gg_q6_k_block(const float *x, uint8_t *out) {
    int8_t L[QK_K];
    float scales[16];
    float max_scale = 0, max_abs = 0;
    for (int ib = 0; ib < 16; ++ib) {
        float s = fit_scale_sym(16, 32, x + 16 * ib, L + 16 * ib);
        scales[ib] = s;
        if (fabsf(s) > max_abs) { max_abs = fabsf(s); max_scale = s; }
    }
    gg_zero(out, 210);
    if (max_abs < EPS_ZERO) return; /* all zero, d = +0 */
    int8_t *sc = (int8_t *)(out + 192);
    float iscale = -128.f / max_scale;
    uint16_t dh = gg_f32_to_f16(1 / iscale);
    gg_copy(out + 208, &dh, 2);
    for (int ib = 0; ib < 16; ++ib) sc[ib] = (int8_t)imin(127, near_int(iscale * scales[ib]));
    float d0 = gg_f16_to_f32(dh);
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
DS_HD static inline void ds_gg_q5_0_block(const float *x, uint8_t *out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    float d = max / -16;
    float id = d ? 1.0f / d : 0.0f;
    uint16_t dh = gg_f32_to_f16(d);
    gg_copy(out, &dh, 2);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        uint8_t a = (uint8_t)imin(31, (int8_t)(x[j] * id + 16.5f));
        uint8_t b = (uint8_t)imin(31, (int8_t)(x[16 + j] * id + 16.5f));
        out[6 + j] = (uint8_t)((a & 0x0F) | ((b & 0x0F) << 4));
        qh |= ((a & 0x10u) >> 4) << j;
        qh |= ((b & 0x10u) >> 4) << (j + 16);
    }
    gg_copy(out + 2, &qh, 4);
}

#endif
