/* fp4_rows.c - CPU reference of NVFP4 / MXFP4 weight quantization into
 * compressed-tensors' nvfp4-pack-quantized / mxfp4-pack-quantized layout, its
 * decompression, and the largest |w| of BF16 rows (the NVFP4 global scale).
 * The per-group arithmetic is quant/fp4_core.h, shared with
 * kernels/cuda/fp4_rows.cu, so both write the same bytes. */
#include "kernels/kernels.h"
#include "quant/fp4_core.h"
#include "common/util.h"
#include "kernels/cpu/fp8_row.h"

#include <stdlib.h>
#include <string.h>

static const char *fp4_chunk_error(const ds_quant_spec *sp, int64_t nrows, int64_t cols) {
    if (sp->format != DSQ_FMT_NVFP4 && sp->format != DSQ_FMT_MXFP4) return "format is not nvfp4 or mxfp4";
    if (nrows < 0 || cols <= 0) return "empty or negative shape";
    if (cols % dsq_fp4_group_size(sp->format)) return "columns not a multiple of the group size";
    return NULL;
}

/* --- RTN fast path ------------------------------------------------------
 * The same arithmetic as dsq_fp4_encode_group with mse off, written so gcc
 * vectorizes it: the group maximum as an integer max of |bf16| bits (finite
 * values only: |x| bits order as |x| does), eight group scales at once, the
 * E2M1 code and value by rounding onto the E2M1 grid; the row's statistics
 * are eight double lane sums in a fixed order (kernels/cpu/fp8_row.h). Every
 * float operation is the core's, one for one (IEEE division, no
 * contraction), so the bytes are the core's: test_fp8_requant checks them
 * against the core for every group maximum, the requant e2e tests against
 * compressed-tensors. Rows come as bf16-valued floats: a BF16 row widened,
 * or (ds_cpu_fp8_fp4_quant_rows) an FP8 row decoded in the thread's cache. */

/* Largest finite |x| of n bf16 values, as bf16 bits (0 when none). */
__attribute__((target_clones("avx2", "default"))) static uint32_t absmax_bits(const uint16_t *w, int64_t n) {
    uint16_t m = 0;
    for (int64_t k = 0; k < n; k++) {
        uint16_t a = (uint16_t)(w[k] & 0x7FFFu);
        a = a < 0x7F80u ? a : 0; /* inf and NaN are skipped */
        m = a > m ? a : m;
    }
    return m;
}

/* Eight lanes at a time with gcc's vector extensions (ymm in the avx2 clone,
 * two xmm otherwise); the lane operations are the core's, one for one. */
typedef float v8f __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

FR_INLINE v8u sel(v8i m, v8u a, v8u b) { return ((v8u)m & a) | (~(v8u)m & b); }

/* The E2M1 codes and values of scaled values v: dsq_e2m1_code's thresholds
 * are round to nearest even onto the E2M1 grid, so below 1 (steps of 0.5)
 * the code is 2|v| rounded to an integer (the 1.5*2^23 addition, exact
 * there), from 1 up the float's exponent and top mantissa bit rounded to
 * nearest even on the 22 bits below (codes over 7, i.e. |v| >= 7 or inf,
 * clamp to 7: value 6). The value has v's sign when v < 0 (-0.0 for a small
 * negative v, as the code's sign bit says); a NaN gives code 0, value 0. */
FR_INLINE v8u e2m1_8(v8f v, v8f *val) {
    v8u bits = (v8u)v & 0x7FFFFFFFu;
    v8f a = (v8f)bits;
    v8f ts = a * 2.0f + 8388608.0f;                                  /* 2|v| rounded, below 1 */
    v8u cs = (v8u)ts - 0x4B000000u;
    v8f vs = (ts - 8388608.0f) * 0.5f;
    v8u r = bits + 0x1FFFFFu + ((bits >> 22) & 1u);                 /* from 1 up */
    v8u cn = (r >> 22) - 252u;
    cn = sel((v8i)(cn > 7u), (v8u){0} + 7u, cn);
    v8f vn = (v8f)(r & 0xFFC00000u);
    vn = (v8f)sel((v8i)(vn > 6.0f), (v8u)((v8f){0} + 6.0f), (v8u)vn);
    v8i lo = (v8i)(a < 1.0f), neg = (v8i)(v < 0.0f), ok = (v8i)(v == v);
    v8u c = (sel(lo, cs, cn) | ((v8u)neg & 8u)) & (v8u)ok;
    *val = (v8f)((sel(lo, (v8u)vs, (v8u)vn) | ((v8u)neg & 0x80000000u)) & (v8u)ok);
    return c;
}

/* Codes of v = x / eff (after the MXFP4 rounding), and bf16(value * eff) - x.
 * MXFP4's eff is a power of two (2^-127 to 2^127, or inf) whose reciprocal is
 * exact (0 for inf), so x * (1 / eff) rounds as x / eff does, bit for bit, and
 * one division per group replaces one per eight elements. */
FR_INLINE v8u code8(int fmt, v8f x, float eff, v8f *dif) {
    v8f v = fmt == DSQ_FMT_MXFP4 ? x * (1.0f / eff) : x / eff;
    if (fmt == DSQ_FMT_MXFP4) v = fr_rbf(v);
    v8f val;
    v8u c = e2m1_8(v, &val);
    *dif = fr_rbf(val * eff) - x;
    return c;
}

/* A row of groups of G, format FMT, from bf16-valued floats v (a BF16 row
 * widened, or an FP8 row decoded: fp8_row.h); its statistics are fp8_row.h's. */

/* Largest finite |x| (as bf16 bits) of one vector's lanes, for each of 8
 * vectors: lane g of the result is vector g's maximum (a transposing tree). */
FR_INLINE v8u umax8(v8u a, v8u b) { return sel((v8i)(a > b), a, b); }
FR_INLINE v8u group_max8(const v8u m[8]) {
    v8u p[4], q[2];
    for (int i = 0; i < 4; i++)
        p[i] = umax8(__builtin_shufflevector(m[2 * i], m[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11),
                     __builtin_shufflevector(m[2 * i], m[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15));
    for (int i = 0; i < 2; i++) /* lanes: [a a c c b b d d] of groups a..d */
        q[i] = umax8(__builtin_shufflevector(p[2 * i], p[2 * i + 1], 0, 1, 8, 9, 4, 5, 12, 13),
                     __builtin_shufflevector(p[2 * i], p[2 * i + 1], 2, 3, 10, 11, 6, 7, 14, 15));
    v8u r = umax8(__builtin_shufflevector(q[0], q[1], 0, 2, 4, 6, 8, 10, 12, 14),
                  __builtin_shufflevector(q[0], q[1], 1, 3, 5, 7, 9, 11, 13, 15)); /* groups 0 2 1 3 4 6 5 7 */
    return __builtin_shufflevector(r, r, 0, 2, 1, 3, 4, 6, 5, 7);
}

/* dsq_fp4_group for eight groups at once (amax: bf16 bits of each group's
 * largest finite |x|): the scale bytes, and the scales elements are divided
 * by. NVFP4 is dsq_nvfp4_scale_code / dsq_nvfp4_eff_scale step for step (the
 * E4M3 rounding as dsq_f2e4m3_pos: below 2^-6 the 1.5*2^23 addition, above
 * it the float's mantissa rounded to 3 bits, anything from 448 up 0x7E);
 * MXFP4 is dsq_mxfp4_exp / dsq_mxfp4_scale. */
FR_INLINE v8f group_scales8(int fmt, v8u amax, float gs, v8u *code) {
    if (fmt == DSQ_FMT_MXFP4) {
        v8u b = (((amax + 32u) & 0xFF80u) >> 7);                     /* pow2's biased exponent */
        v8u e = sel((v8i)(b > 1u), b - 2u, (v8u){0});                 /* 125 + log2, clamped at 0 */
        e = sel((v8i)(b >= 255u), (v8u){0} + 255u, e);                /* inf */
        *code = e;
        return fr_rbf((v8f)sel((v8i)(e != 0u), e << 23, (v8u){0} + 0x00400000u)); /* 2^(E-127) */
    }
    v8f s1 = fr_rbf((v8f)(amax << 16) / 6.0f);
    v8f f = s1 * gs;
    f = (v8f)sel((v8i)(f > 448.0f), (v8u)((v8f){0} + 448.0f), (v8u)f);
    v8u cs = (v8u)(f * 512.0f + 8388608.0f) - 0x4B000000u;           /* below 2^-6 */
    v8u x = (v8u)f;
    v8u cn = ((x + 0x7FFFFu + ((x >> 20) & 1u)) >> 20) - 960u;        /* (E - 120) << 3 | 3 mantissa bits */
    cn = sel((v8i)(cn > 0x7Eu), (v8u){0} + 0x7Eu, cn);
    v8u c = sel((v8i)(f < 0.015625f), cs, cn);
    c = sel((v8i)(c == 0u), (v8u){0} + 0x28u, c);                     /* 0.125, the library's FP8 eps */
    *code = c;
    return (v8f)(c << 20) * 0x1p120f / gs;                            /* e4m3 value (exact) / gs */
}

/* A row of groups of G, format FMT, from bf16-valued floats v (a BF16 row
 * widened, or an FP8 row decoded: fp8_row.h); eight groups at a time (their
 * scales in one vector), the last few (cols not a multiple of 8 G) one by one
 * through the core; the statistics are fp8_row.h's. */
FR_INLINE void rtn_row_body(int fmt, int G, const float *w, int64_t cols, float gs, uint8_t *packed,
                            uint8_t *scale, ds_quant_row_stats *st) {
    fr_stats acc;
    fr_stats_init(&acc);
    const int NV = G / 8;
    int64_t k0 = 0;
    for (; k0 + 8 * G <= cols; k0 += 8 * G) {
        v8u m[8];
        for (int g = 0; g < 8; g++) {
            m[g] = (v8u){0};
            for (int j = 0; j < NV; j++) {
                v8f x;
                memcpy(&x, w + k0 + g * G + 8 * j, sizeof x);
                v8u ab = ((v8u)x >> 16) & 0x7FFFu;
                ab &= (v8u)(ab < 0x7F80u); /* inf and NaN are skipped */
                m[g] = umax8(ab, m[g]);
            }
        }
        v8u code;
        v8f eff8 = group_scales8(fmt, group_max8(m), gs, &code);
        fr_pack_bytes(code, scale + k0 / G);
        for (int g = 0; g < 8; g++) {
            float eff = eff8[g];
            for (int j = 0; j < NV; j++) {
                v8f x, dif;
                memcpy(&x, w + k0 + g * G + 8 * j, sizeof x);
                v8u c = code8(fmt, x, eff, &dif);
                fr_pack_nibbles(c, packed + (k0 + g * G + 8 * j) / 2);
                fr_stats_add(&acc, x, dif);
            }
        }
    }
    for (; k0 < cols; k0 += G) {
        v8f x[4];
        v8u mb = {0};
        for (int j = 0; j < NV; j++) {
            memcpy(&x[j], w + k0 + 8 * j, sizeof x[j]);
            v8u ab = ((v8u)x[j] >> 16) & 0x7FFFu;
            ab &= (v8u)(ab < 0x7F80u);
            mb = umax8(ab, mb);
        }
        uint32_t m = 0;
        for (int l = 0; l < 8; l++) m = mb[l] > m ? mb[l] : m;
        uint8_t sc;
        float eff = dsq_fp4_group(fmt, dsq_bf2f((uint16_t)m), gs, &sc);
        scale[k0 / G] = sc;
        for (int j = 0; j < NV; j++) {
            v8f dif;
            v8u c = code8(fmt, x[j], eff, &dif);
            fr_pack_nibbles(c, packed + (k0 + 8 * j) / 2);
            fr_stats_add(&acc, x[j], dif);
        }
    }
    fr_stats_end(&acc, st);
}

/* fmt and its group size are constants in each clone's loops. */
#define FP4_RTN_ROW(NAME, FMT, G)                                                                              \
    __attribute__((target_clones("avx2", "default"))) static void NAME(                                       \
        const uint8_t *f8, const float *srow, int bc, float *v, int64_t cols, float gs, uint8_t *packed,      \
        uint8_t *scale, ds_quant_row_stats *st) {                                                              \
        if (f8) fr_decode_row(f8, cols, srow, bc, v);                                                          \
        rtn_row_body((FMT), (G), v, cols, gs, packed, scale, st);                                              \
    }
FP4_RTN_ROW(rtn_row_nvfp4, DSQ_FMT_NVFP4, DSQ_NVFP4_GROUP)
FP4_RTN_ROW(rtn_row_mxfp4, DSQ_FMT_MXFP4, DSQ_MXFP4_GROUP)

__attribute__((target_clones("avx2", "default"))) static void widen_row(const uint16_t *w, int64_t cols, float *v) {
    fr_widen_row(w, cols, v);
}

__attribute__((target_clones("avx2", "default"))) static void fp8_row_to_bf16(const uint8_t *src, const float *srow,
                                                                              int bc, int64_t cols, float *v,
                                                                              uint16_t *h) {
    fr_decode_row(src, cols, srow, bc, v);
    for (int64_t j = 0; j < cols; j++) {
        uint32_t u;
        memcpy(&u, v + j, 4);
        h[j] = (uint16_t)(u >> 16);
    }
}

/* Where a chunk's rows come from: BF16 rows (f8 NULL), or FP8 rows [r0,
 * r0+nrows) of a weight with 2-D block scales. */
typedef struct {
    const uint16_t *w;
    const uint8_t *f8;
    int64_t r0, scale_cols;
    const float *scale;
    int br, bc;
} row_src;

static int fp4_rows_from(const ds_quant_spec *sp, const row_src *in, int64_t nrows, int64_t cols, float gs,
                         uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats) {
    const int g = dsq_fp4_group_size(sp->format);
    const int64_t ng = cols / g;
#pragma omp parallel
    {
        float *v = xmalloc((size_t)cols * sizeof(float));
        uint16_t *h = sp->mse && in->f8 ? xmalloc((size_t)cols * 2) : NULL;
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < nrows; i++) {
            ds_quant_row_stats st = {0, 0, 0, 0};
            const uint8_t *f8 = in->f8 ? in->f8 + i * cols : NULL;
            const float *srow = in->f8 ? in->scale + ((in->r0 + i) / in->br) * in->scale_cols : NULL;
            if (!sp->mse) {
                if (!f8) widen_row(in->w + i * cols, cols, v);
                if (sp->format == DSQ_FMT_MXFP4)
                    rtn_row_mxfp4(f8, srow, in->bc, v, cols, gs, packed + i * (cols / 2), scale + i * ng, &st);
                else
                    rtn_row_nvfp4(f8, srow, in->bc, v, cols, gs, packed + i * (cols / 2), scale + i * ng, &st);
            } else {
                const uint16_t *row = in->w + i * cols;
                if (f8) {
                    fp8_row_to_bf16(f8, srow, in->bc, cols, v, h);
                    row = h;
                }
                dsq_fp4_stats fs = {0, 0, 0, 0};
                for (int64_t k = 0; k < ng; k++)
                    dsq_fp4_encode_group(sp->format, sp->mse, row + k * g, g, gs, packed + i * (cols / 2) + k * (g / 2),
                                         scale + i * ng + k, &fs);
                st.err_sq = fs.err_sq;
                st.ref_sq = fs.ref_sq;
                st.max_abs_err = fs.max_abs_err;
                st.nonfinite = fs.nonfinite;
            }
            if (stats) stats[i] = st;
        }
        free(v);
        free(h);
    }
    return 0;
}

int ds_cpu_fp4_quant_rows(const ds_quant_spec *sp, const uint16_t *w, int64_t nrows, int64_t cols, float gs,
                          uint8_t *packed, uint8_t *scale, ds_quant_row_stats *stats) {
    const char *why = fp4_chunk_error(sp, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "quantize fp4: %s (%lld x %lld)", why, (long long)nrows, (long long)cols);
    row_src in = {w, NULL, 0, 0, NULL, 0, 0};
    return fp4_rows_from(sp, &in, nrows, cols, gs, packed, scale, stats);
}

int ds_cpu_fp8_fp4_quant_rows(const ds_quant_spec *sp, const uint8_t *w, int64_t r0, int64_t nrows, int64_t cols,
                              const float *fp8_scale, int64_t scale_cols, int br, int bc, float gs, uint8_t *packed,
                              uint8_t *scale, ds_quant_row_stats *stats) {
    const char *why = fp4_chunk_error(sp, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "quantize fp4: %s (%lld x %lld)", why, (long long)nrows, (long long)cols);
    if (br <= 0 || bc <= 0 || r0 < 0) return ds_fail(DS_EXIT_INPUT, "quantize fp4: FP8 block %d x %d", br, bc);
    row_src in = {NULL, w, r0, scale_cols, fp8_scale, br, bc};
    return fp4_rows_from(sp, &in, nrows, cols, gs, packed, scale, stats);
}

/* --- decompression --------------------------------------------------------
 * dsq_fp4_dequantize (bf16(e2m1 value * eff)) eight codes at a time: the
 * group's eff from a table of the 256 scale bytes (dsq_fp4_eff_of_code, the
 * core's own), the E2M1 value from the code's bits, one float multiply, and
 * dsq_f2bf's rounding with its NaN case (a NaN scale byte or global scale
 * gives the core's NaN bits). The same operations as the core, one for one,
 * so the same bytes: test_fp8_requant checks every code under every scale byte.
 * Replaces a per-element loop through the core's switch and branches that ran
 * at ~10 ns an element (2-core VM, 2026-11-30). */

/* E2M1 values of eight codes (bit 3 the sign): magnitude codes 2..7 are
 * 2^(m/2 - 1) * (1 + (m & 1) / 2), i.e. float bits (m + 252) << 22; code 1 is
 * 0.5; code 8 is -0.0, as dsq_e2m1_value. */
FR_INLINE v8f e2m1_value8(v8u c) {
    v8u m = c & 7u;
    v8u mag = sel((v8i)(m >= 2u), (m + 252u) << 22, sel((v8i)(m == 1u), (v8u){0} + 0x3F000000u, (v8u){0}));
    return (v8f)(mag | ((c & 8u) << 28));
}

/* One row of cols (a multiple of the group size G, itself of 8) codes. */
FR_INLINE void unpack_row_body(const uint8_t *packed, const uint8_t *scale, const float *eff_of, int G, int64_t cols,
                               uint16_t *o16, float *o32) {
    const v8u shift = {0, 4, 8, 12, 16, 20, 24, 28};
    for (int64_t k = 0; k < cols / G; k++) {
        float eff = eff_of[scale[k]];
        for (int64_t j = k * G; j < (k + 1) * G; j += 8) {
            uint32_t w;
            memcpy(&w, packed + j / 2, 4); /* element j + l is nibble l: the even column low */
            v8u b = fr_f2bf8(e2m1_value8((((v8u){0} + w) >> shift) & 15u) * eff);
            fr_store_bf16_8(b, o16 ? o16 + j : NULL, o32 ? o32 + j : NULL);
        }
    }
}

#define FP4_UNPACK_ROW(NAME, G)                                                                                \
    __attribute__((target_clones("avx2", "default"))) static void NAME(                                       \
        const uint8_t *packed, const uint8_t *scale, const float *eff_of, int64_t cols, uint16_t *o16,         \
        float *o32) {                                                                                          \
        if (o16) unpack_row_body(packed, scale, eff_of, (G), cols, o16, NULL);                                 \
        else unpack_row_body(packed, scale, eff_of, (G), cols, NULL, o32);                                     \
    }
FP4_UNPACK_ROW(unpack_row_nvfp4, DSQ_NVFP4_GROUP)
FP4_UNPACK_ROW(unpack_row_mxfp4, DSQ_MXFP4_GROUP)

int ds_cpu_fp4_unpack_rows(const ds_quant_spec *sp, const uint8_t *packed, const uint8_t *scale, float gs,
                           int64_t nrows, int64_t cols, void *out, ds_dtype out_dtype) {
    const char *why = fp4_chunk_error(sp, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "unpack fp4: %s (%lld x %lld)", why, (long long)nrows, (long long)cols);
    if (out_dtype != DS_BF16 && out_dtype != DS_F32)
        return ds_fail(DS_EXIT_INPUT, "unpack fp4: output must be BF16 or F32, not %s", ds_dtype_name(out_dtype));
    const int g = dsq_fp4_group_size(sp->format), mx = sp->format == DSQ_FMT_MXFP4;
    const int64_t ng = cols / g;
    float eff_of[256];
    for (int c = 0; c < 256; c++) eff_of[c] = dsq_fp4_eff_of_code(sp->format, (uint8_t)c, gs);
    uint16_t *o16 = out_dtype == DS_BF16 ? out : NULL;
    float *o32 = out_dtype == DS_F32 ? out : NULL;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nrows; i++) {
        const uint8_t *p = packed + i * (cols / 2), *s = scale + i * ng;
        uint16_t *a = o16 ? o16 + i * cols : NULL;
        float *b = o32 ? o32 + i * cols : NULL;
        if (mx) unpack_row_mxfp4(p, s, eff_of, cols, a, b);
        else unpack_row_nvfp4(p, s, eff_of, cols, a, b);
    }
    return 0;
}

/* Largest finite |w| (0 when none): an integer max of |bf16| bits per thread. */
float ds_cpu_bf16_absmax(const uint16_t *w, int64_t n) {
    uint32_t m = 0;
    const int64_t step = (int64_t)1 << 16;
#pragma omp parallel for reduction(max : m) schedule(static)
    for (int64_t i = 0; i < n; i += step) {
        uint32_t b = absmax_bits(w + i, n - i < step ? n - i : step);
        if (b > m) m = b;
    }
    return dsq_bf2f((uint16_t)m);
}
