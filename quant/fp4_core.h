/* fp4_core.h - the arithmetic of one NVFP4 / MXFP4 group (E2M1 values, FP8
 * E4M3 or E8M0 group scales), shared word for word by the CPU kernels
 * (kernels/cpu/fp4_rows.c) and the CUDA kernels (kernels/cuda/fp4_rows.cu), so
 * both write the same bytes.
 *
 * Every step follows compressed-tensors (0.20) for a BF16 weight, in the order
 * and dtype torch evaluates it there (MANUAL.md, section requant, "NVFP4 and
 * MXFP4"); tests/tools/ct_fp4_ref.py runs the library itself for the hashes
 * the tests compare against.
 *
 * NVFP4 (nvfp4-pack-quantized, scheme NVFP4A16, group 16):
 *   global scale gs = bf16(bf16(1 / amax) * 2688)  generate_gparam on bf16 min/max
 *                     (amax clamped to bf16's smallest normal; inf/NaN -> 1.0);
 *                     stored as F32. Gate and up projections share the smaller.
 *   group scale      s = e4m3(clamp(gs * bf16(amax_g / 6), +-448))   (0 -> 0.125)
 *   element          q = e2m1(w / (s / gs))        in float32
 *   dequantized      bf16(e2m1value(q) * (s / gs))
 * MXFP4 (mxfp4-pack-quantized, scheme MXFP4A16, group 32):
 *   group exponent   E = clamp(125 + log2(pow2(amax_g)), 0, 255) where pow2
 *                     keeps a bf16's sign and exponent after adding 2^5 to its
 *                     bits (a mantissa >= 0.75 rounds up); stored as U8
 *   group scale      s = 2^(E-127) as bf16
 *   element          q = e2m1(bf16(w / s))
 *   dequantized      bf16(e2m1value(q) * s)
 * e2m1(): clamp to [-6, 6], then the library's thresholds (ties between
 * neighbours go to the one with an even mantissa: 0.25 -> 0, 0.75 -> 1,
 * 1.25 -> 1, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4); sign bit 3 set when the
 * scaled value is < 0 (so -0.0 gives +0, a small negative value -0, as both
 * the library's torch and Triton paths write). Two codes a byte: the even
 * column in the low nibble. */
#ifndef DS_FP4_CORE_H
#define DS_FP4_CORE_H

#include "quant/quant_core.h"

/* Formats of ds_quant_spec.format (kernels/kernels.h). */
#define DSQ_FMT_INT 0
#define DSQ_FMT_NVFP4 1
#define DSQ_FMT_MXFP4 2

#define DSQ_NVFP4_GROUP 16
#define DSQ_MXFP4_GROUP 32

/* |value| of E2M1 magnitude codes 0..7. */
DSQ_HD float dsq_e2m1_mag(uint32_t c) {
    switch (c & 7u) {
    case 0: return 0.0f;
    case 1: return 0.5f;
    case 2: return 1.0f;
    case 3: return 1.5f;
    case 4: return 2.0f;
    case 5: return 3.0f;
    case 6: return 4.0f;
    default: return 6.0f;
    }
}

/* Signed value of a 4-bit code (bit 3 the sign). */
DSQ_HD float dsq_e2m1_value(uint32_t c) {
    float m = dsq_e2m1_mag(c);
    return (c & 8u) ? -m : m;
}

/* The code of a scaled value (already divided by the group scale). NaN gives 0. */
DSQ_HD uint32_t dsq_e2m1_code(float v) {
    if (dsq_isnan(v)) return 0;
    uint32_t sign = v < 0.0f ? 8u : 0u;
    float a = v < 0.0f ? -v : v;
    uint32_t m;
    if (a <= 0.25f) m = 0;
    else if (a < 0.75f) m = 1;
    else if (a <= 1.25f) m = 2;
    else if (a < 1.75f) m = 3;
    else if (a <= 2.5f) m = 4;
    else if (a < 3.5f) m = 5;
    else if (a <= 5.0f) m = 6;
    else m = 7;
    return sign | m;
}

/* float (>= 0, <= 448) to FP8 E4M3 bits, round to nearest even (torch's cast). */
DSQ_HD uint8_t dsq_f2e4m3_pos(float f) {
    if (!(f > 0.0f)) return 0;
    if (f >= 448.0f) return 0x7E;
    if (f < 0.015625f) { /* below 2^-6: subnormal steps of 2^-9 (exact scaling) */
        return (uint8_t)dsq_rne_int(DSQ_FMUL(f, 512.0f));
    }
    uint32_t x = dsq_f2u(f);
    x += 0x7FFFFu + ((x >> 20) & 1u); /* round the float mantissa to 3 bits */
    int e = (int)((x >> 23) & 0xFF) - 127 + 7;
    uint32_t m = (x >> 20) & 7u;
    if (e > 15 || (e == 15 && m == 7)) return 0x7E;
    return (uint8_t)((uint32_t)e << 3 | m);
}

/* FP8 E4M3 bits to float (finite codes; 0x7F/0xFF are NaN). */
DSQ_HD float dsq_e4m3_to_f(uint8_t b) {
    uint32_t e = (b >> 3) & 15u, m = b & 7u;
    float v;
    if (e == 0) v = DSQ_FMUL((float)m, 0.001953125f); /* m * 2^-9 */
    else if (e == 15 && m == 7) v = dsq_u2f(0x7FC00000u);
    else v = dsq_u2f(((e - 7 + 127) << 23) | (m << 20));
    return (b & 0x80) ? -v : v;
}

/* Global scale from a tensor's (or fused pair's) largest |w| (a bf16 value). */
DSQ_HD float dsq_nvfp4_global_scale(float amax) {
    const float tiny = 1.17549435e-38f; /* bf16 and float32 smallest normal */
    if (!(amax >= tiny)) amax = dsq_isnan(amax) ? amax : tiny;
    /* torch evaluates a Python number divided by a bf16 tensor as the bf16
     * reciprocal times the number, each rounded to bf16. */
    float g = dsq_rbf(DSQ_FMUL(dsq_rbf(DSQ_FDIV(1.0f, amax)), 2688.0f));
    if (!dsq_isfinite(g)) g = 1.0f;
    return g;
}

/* The group scale code (E4M3 bits) of an NVFP4 group of largest |w| amax. */
DSQ_HD uint8_t dsq_nvfp4_scale_code(float amax, float gs) {
    float s1 = dsq_rbf(DSQ_FDIV(amax, 6.0f));
    float s2 = DSQ_FMUL(gs, s1);
    if (s2 > 448.0f) s2 = 448.0f;
    uint8_t c = dsq_f2e4m3_pos(s2);
    return c ? c : (uint8_t)0x28; /* 0.125, the library's FP8 eps */
}

/* The scale elements are divided by, in float32: e4m3 / gs. */
DSQ_HD float dsq_nvfp4_eff_scale(uint8_t code, float gs) { return DSQ_FDIV(dsq_e4m3_to_f(code), gs); }

/* The E8M0 exponent of an MXFP4 group of largest |w| amax (a bf16 value, >= 0). */
DSQ_HD uint8_t dsq_mxfp4_exp(float amax) {
    uint32_t b = (uint32_t)dsq_f2bf(amax);
    b = (b + 32u) & 0xFF80u;
    if (b == 0) return 0;                    /* log2(0) = -inf, clamped */
    int e = (int)(b >> 7) - 127;             /* pow2 = 2^e (b's mantissa is 0) */
    if (e > 127) return 255;                 /* inf */
    int v = 125 + e;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* 2^(E-127) rounded to bf16, as a float. */
DSQ_HD float dsq_mxfp4_scale(uint8_t e) {
    int k = (int)e - 127;
    float v;
    if (k >= -126) v = dsq_u2f((uint32_t)(k + 127) << 23);
    else v = dsq_u2f(1u << (23 + k + 126)); /* float32 subnormal, exact */
    return dsq_rbf(v);
}

/* Code of one element of a group. */
DSQ_HD uint32_t dsq_fp4_quantize(int fmt, float w, float eff) {
    float v = DSQ_FDIV(w, eff);
    if (fmt == DSQ_FMT_MXFP4) v = dsq_rbf(v);
    if (v > 6.0f) v = 6.0f;
    if (v < -6.0f) v = -6.0f;
    return dsq_e2m1_code(v);
}

/* compressed-tensors' decompression of one element. */
DSQ_HD float dsq_fp4_dequantize(uint32_t code, float eff) { return dsq_rbf(DSQ_FMUL(dsq_e2m1_value(code), eff)); }

/* Group scale: the stored byte and the scale elements are divided by. */
DSQ_HD float dsq_fp4_group(int fmt, float amax, float gs, uint8_t *code) {
    if (fmt == DSQ_FMT_MXFP4) {
        *code = dsq_mxfp4_exp(amax);
        return dsq_mxfp4_scale(*code);
    }
    *code = dsq_nvfp4_scale_code(amax, gs);
    return dsq_nvfp4_eff_scale(*code, gs);
}

/* The scale elements are divided by, from the stored byte (decompression). */
DSQ_HD float dsq_fp4_eff_of_code(int fmt, uint8_t code, float gs) {
    return fmt == DSQ_FMT_MXFP4 ? dsq_mxfp4_scale(code) : dsq_nvfp4_eff_scale(code, gs);
}

DSQ_HD int dsq_fp4_group_size(int fmt) { return fmt == DSQ_FMT_MXFP4 ? DSQ_MXFP4_GROUP : DSQ_NVFP4_GROUP; }

/* Statistics of one group (dequantized vs input), added to a row's. */
typedef struct {
    double err_sq, ref_sq, max_abs_err, nonfinite;
} dsq_fp4_stats;

/* Squared error of a group of g bf16 weights under scale eff, summed in
 * increasing k in double (each term exact), so host and device agree. */
DSQ_HD double dsq_fp4_group_error(int fmt, const uint16_t *w, int g, float eff) {
    double e = 0.0;
    for (int k = 0; k < g; k++) {
        float x = dsq_bf2f(w[k]);
        double d = (double)DSQ_FSUB(dsq_fp4_dequantize(dsq_fp4_quantize(fmt, x, eff), eff), x);
        e = DSQ_DADD(e, DSQ_DMUL(d, d));
    }
    return e;
}

/* Encodes one group of g (16 or 32) bf16 weights: g/2 packed bytes, the scale
 * byte; --method mse (mse != 0) tries the group maximum scaled by 1.00 .. 0.70
 * (rounded to bf16, as the observer's p * max) and keeps the scale of least
 * squared error (the first on ties, so rtn's when nothing is better). */
DSQ_HD void dsq_fp4_encode_group(int fmt, int mse, const uint16_t *w, int g, float gs, uint8_t *packed,
                                 uint8_t *scale_code, dsq_fp4_stats *st) {
    float amax = 0.0f;
    for (int k = 0; k < g; k++) {
        float x = dsq_bf2f(w[k]);
        if (!dsq_isfinite(x)) continue;
        float a = x < 0.0f ? -x : x;
        if (a > amax) amax = a;
    }
    uint8_t code;
    float eff = dsq_fp4_group(fmt, amax, gs, &code);
    if (mse) {
        double best = dsq_fp4_group_error(fmt, w, g, eff);
        for (int i = 1; i < DSQ_MSE_STEPS; i++) {
            uint8_t c2;
            float e2 = dsq_fp4_group(fmt, dsq_rbf(DSQ_FMUL(dsq_mse_ratio(i), amax)), gs, &c2);
            double err = dsq_fp4_group_error(fmt, w, g, e2);
            if (err < best) {
                best = err;
                eff = e2;
                code = c2;
            }
        }
    }
    *scale_code = code;
    for (int k = 0; k < g; k += 2) {
        float x0 = dsq_bf2f(w[k]), x1 = dsq_bf2f(w[k + 1]);
        uint32_t c0 = dsq_fp4_quantize(fmt, x0, eff), c1 = dsq_fp4_quantize(fmt, x1, eff);
        packed[k / 2] = (uint8_t)(c0 | c1 << 4);
        for (int j = 0; j < 2; j++) {
            float x = j ? x1 : x0;
            if (!dsq_isfinite(x)) {
                st->nonfinite += 1;
                continue;
            }
            float d = DSQ_FSUB(dsq_fp4_dequantize(j ? c1 : c0, eff), x);
            double ad = d < 0 ? -(double)d : (double)d;
            st->err_sq = DSQ_DADD(st->err_sq, DSQ_DMUL((double)d, (double)d));
            st->ref_sq = DSQ_DADD(st->ref_sq, DSQ_DMUL((double)x, (double)x));
            if (ad > st->max_abs_err) st->max_abs_err = ad;
        }
    }
}

#endif
