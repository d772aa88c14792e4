/* fp4_rows.c - CPU reference of NVFP4 / MXFP4 weight quantization into
 * compressed-tensors' nvfp4-pack-quantized / mxfp4-pack-quantized layout, its
 * decompression, and the largest |w| of BF16 rows (the NVFP4 global scale).
 * The per-group arithmetic is quant/fp4_core.h, shared with
 * kernels/cuda/fp4_rows.cu, so both write the same bytes. */
#include "kernels/kernels.h"
#include "quant/fp4_core.h"
#include "common/util.h"



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
 * values only: |x| bits order as |x| does), the E2M1 code as a count of
 * thresholds, its value built from the code's bits; only the row's double
 * sums stay in order (err_sq, ref_sq add in increasing column, as the shared
 * core does, so the statistics are the same to the last bit). Every float
 * operation is the core's, one for one (IEEE division, no contraction), so
 * the bytes are the core's; test_quant and the requant e2e tests pin them. */

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
typedef uint16_t v8h __attribute__((vector_size(16)));

static inline v8u sel(v8i m, v8u a, v8u b) { return ((v8u)m & a) | (~(v8u)m & b); }

/* dsq_rbf on eight lanes: round to bf16 (NaN quieted as dsq_f2bf does). */
static inline v8f rbf8(v8f f) {
    v8u x = (v8u)f;
    v8i nan = (v8i)((x & 0x7FFFFFFFu) > 0x7F800000u);
    v8u r = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
    return (v8f)(sel(nan, (x >> 16) | 0x40u, r) << 16);
}

/* Codes of v = x / eff (after the MXFP4 rounding), and bf16(value * eff) - x. */
static inline v8u code8(int fmt, v8f x, float eff, v8f *dif) {
    v8f v = x / eff;
    if (fmt == DSQ_FMT_MXFP4) v = rbf8(v);
    v8f a = (v8f)((v8u)v & 0x7FFFFFFFu);
    v8i m = -((a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) + (a > 5.0f));
    v8u c = ((v8u)(v < 0.0f) & 8u) | (v8u)m;
    c &= ~(v8u)(v != v); /* NaN gives code 0 */
    v8u e = (c >> 1) & 3u, mb = c & 1u;
    v8u mag = sel((v8i)(e != 0u), ((e + 126u) << 23) | (mb << 22), sel((v8i)(mb != 0u), (v8u){0} + 0x3F000000u, (v8u){0}));
    v8f val = (v8f)(mag | ((c & 8u) << 28));
    *dif = rbf8(val * eff) - x;
    return c;
}

/* A row of groups of G, format FMT; a group's double sums run after its codes,
 * in increasing column. */
#define FP4_RTN_ROW(NAME, FMT, G)                                                                              \
    __attribute__((target_clones("avx2", "default"))) static void NAME(                                       \
        const uint16_t *w, int64_t cols, float gs, uint8_t *packed, uint8_t *scale, dsq_fp4_stats *st) {       \
        double err = st->err_sq, ref = st->ref_sq, mx = st->max_abs_err, nonfinite = st->nonfinite;          \
        enum { NV = (G) / 8 };                                                                                \
        for (int64_t k0 = 0; k0 < cols; k0 += (G)) {                                                        \
            v8f x[NV], dif[NV];                                                                               \
            v8u mb = {0};                                                                                     \
            for (int j = 0; j < NV; j++) {                                                                    \
                v8h h;                                                                                        \
                memcpy(&h, w + k0 + 8 * j, sizeof h);                                                         \
                v8u u = __builtin_convertvector(h, v8u);                                                      \
                x[j] = (v8f)(u << 16);                                                                        \
                v8u ab = u & 0x7FFFu;                                                                         \
                ab = sel((v8i)(ab < 0x7F80u), ab, (v8u){0});                                                  \
                mb = sel((v8i)(ab > mb), ab, mb);                                                             \
            }                                                                                                 \
            uint32_t m = 0;                                                                                   \
            for (int l = 0; l < 8; l++) m = mb[l] > m ? mb[l] : m;                                            \
            uint8_t sc;                                                                                       \
            float eff = dsq_fp4_group((FMT), dsq_bf2f((uint16_t)m), gs, &sc);                                 \
            scale[k0 / (G)] = sc;                                                                             \
            for (int j = 0; j < NV; j++) {                                                                    \
                v8u c = code8((FMT), x[j], eff, &dif[j]);                                                     \
                uint8_t *o = packed + (k0 + 8 * j) / 2;                                                       \
                for (int l = 0; l < 4; l++) o[l] = (uint8_t)(c[2 * l] | c[2 * l + 1] << 4);                   \
            }                                                                                                 \
            for (int j = 0; j < NV; j++)                                                                      \
                for (int l = 0; l < 8; l++) {                                                                 \
                    float xf = x[j][l];                                                                       \
                    if (!dsq_isfinite(xf)) {                                                                  \
                        nonfinite += 1;                                                                       \
                        continue;                                                                             \
                    }                                                                                         \
                    double d = (double)dif[j][l];                                                             \
                    double ad = d < 0 ? -d : d;                                                               \
                    err += d * d;                                                                             \
                    ref += (double)xf * (double)xf;                                                           \
                    if (ad > mx) mx = ad;                                                                     \
                }                                                                                             \
        }                                                                                                     \
        st->err_sq = err;                                                                                     \
        st->ref_sq = ref;                                                                                     \
        st->max_abs_err = mx;                                                                                 \
        st->nonfinite = nonfinite;                                                                            \
    }
FP4_RTN_ROW(rtn_row_nvfp4, DSQ_FMT_NVFP4, DSQ_NVFP4_GROUP)
FP4_RTN_ROW(rtn_row_mxfp4, DSQ_FMT_MXFP4, DSQ_MXFP4_GROUP)

static void rtn_row(int fmt, const uint16_t *w, int64_t cols, float gs, uint8_t *packed, uint8_t *scale,
                    dsq_fp4_stats *st) {
    if (fmt == DSQ_FMT_MXFP4) rtn_row_mxfp4(w, cols, gs, packed, scale, st);
    else rtn_row_nvfp4(w, cols, gs, packed, scale, st);
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
        if (!sp->mse)
            rtn_row(sp->format, w + i * cols, cols, gs, packed + i * (cols / 2), scale + i * ng, &st);
        else
            for (int64_t k = 0; k < ng; k++)
                dsq_fp4_encode_group(sp->format, sp->mse, w + i * cols + k * g, g, gs,
                                     packed + i * (cols / 2) + k * (g / 2), scale + i * ng + k, &st);
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
