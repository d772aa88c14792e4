/* quant_rows.c - CPU reference of INT4/INT8 weight quantization (rtn and mse,
 * group or channel, symmetric or asymmetric) into compressed-tensors'
 * pack-quantized layout. The per-group arithmetic is quant/quant_core.h,
 * shared with kernels/cuda/quant_rows.cu, so both write the same bytes.
 * OpenMP over rows: each row is independent; asymmetric zero points, which
 * pack 32/bits rows into one word, are collected per row and packed after.
 * Rows are read as bf16-valued floats: BF16/F32 rows widened, or
 * (ds_cpu_fp8_quant_rows) FP8 rows decoded in the thread's cache
 * (kernels/cpu/fp8_row.h), so an FP8 weight needs no BF16 buffer. */
#include "kernels/kernels.h"
#include "quant/quant_core.h"
#include "common/util.h"
#include "kernels/cpu/fp8_row.h"

#include <stdlib.h>
#include <math.h>
#include <string.h>

/* Row i of the chunk as bf16-valued floats (F32 input is rounded to bf16 first). */
static void load_row(const void *w, ds_dtype dt, int64_t i, int64_t cols, float *out) {
    if (dt == DS_BF16) {
        const uint16_t *r = (const uint16_t *)w + i * cols;
        for (int64_t j = 0; j < cols; j++) out[j] = dsq_bf2f(r[j]);
    } else {
        const float *r = (const float *)w + i * cols;
        for (int64_t j = 0; j < cols; j++) out[j] = dsq_rbf(r[j]);
    }
}

/* Squared error of a group under params p, summed in the shared lane order. */
static double group_error(const float *v, int64_t g, dsq_params p, int bits) {
    double part[32] = {0};
    float s = dsq_bf2f(p.scale);
    for (int64_t k = 0; k < g; k++) {
        float d = dsq_dequantize(dsq_quantize(v[k], s, p.zp, bits), s, p.zp);
        part[k & 31] = DSQ_DADD(part[k & 31], dsq_err_term(d, v[k]));
    }
    return dsq_lane_reduce(part);
}

/* The group's parameters: rtn, or the mse candidate with the least error
 * (first one on ties, so an unclippable group keeps rtn's scale). */
static dsq_params choose_params(const float *v, int64_t g, const ds_quant_spec *sp) {
    /* fminf/fmaxf skip NaN, as the CUDA reduction does (exact, any order). */
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t k = 0; k < g; k++) {
        lo = fminf(lo, v[k]);
        hi = fmaxf(hi, v[k]);
    }
    dsq_params best = dsq_params_of(lo, hi, sp->bits, sp->symmetric);
    if (!sp->mse) return best;
    double best_err = group_error(v, g, best, sp->bits);
    for (int i = 1; i < DSQ_MSE_STEPS; i++) {
        dsq_params p = dsq_params_clipped(lo, hi, sp->bits, sp->symmetric, i);
        double e = group_error(v, g, p, sp->bits);
        if (e < best_err) {
            best_err = e;
            best = p;
        }
    }
    return best;
}

/* --- RTN fast path ------------------------------------------------------
 * choose_params (rtn) and the packing loop below on eight lanes at a time
 * with gcc's vector extensions; every float operation is the core's, one for
 * one (IEEE division, no contraction), the round-half-even of a value already
 * clamped to [qmin, qmax] is the 1.5*2^23 addition (exact there, the default
 * rounding mode as nearbyintf's), so the bytes are the same. The row's
 * statistics are fp8_row.h's (eight double lane sums in a fixed order). */
typedef float v8f __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define SEL(m, a, b) ((v8u)(((v8u)(m) & (v8u)(a)) | (~(v8u)(m) & (v8u)(b))))

FR_INLINE void rtn_row_body(const float *v, int64_t cols, int64_t gs, int bits, int symmetric, uint32_t *packed,
                                uint16_t *scale, int8_t *zps, ds_quant_row_stats *st) {
    const int pf = 32 / bits;
    const float qmin = (float)dsq_qmin(bits), qmax = (float)dsq_qmax(bits);
    const int64_t ng = cols / gs;
    fr_stats acc;
    fr_stats_init(&acc);
    for (int64_t g = 0; g < ng; g++) {
        const float *gv = v + g * gs;
        v8f lo8 = (v8f){0} + INFINITY, hi8 = (v8f){0} - INFINITY;
        for (int64_t k = 0; k < gs; k += 8) {
            v8f x;
            memcpy(&x, gv + k, sizeof x);
            /* a NaN compares false: skipped, as fminf/fmaxf skip it */
            lo8 = (v8f)SEL((v8i)(x < lo8), x, lo8);
            hi8 = (v8f)SEL((v8i)(x > hi8), x, hi8);
        }
        /* no lane holds a NaN; the sign of a zero is not used (dsq_params_of compares with 0) */
        float lo = INFINITY, hi = -INFINITY;
        for (int l = 0; l < 8; l++) {
            lo = lo8[l] < lo ? lo8[l] : lo;
            hi = hi8[l] > hi ? hi8[l] : hi;
        }
        dsq_params p = dsq_params_of(lo, hi, bits, symmetric);
        float s = dsq_bf2f(p.scale);
        scale[g] = p.scale;
        if (zps) zps[g] = (int8_t)p.zp;
        const float zpf = (float)p.zp;
        uint8_t *out = (uint8_t *)(packed + g * (gs / pf));
        for (int64_t k = 0; k < gs; k += 8) {
            v8f x;
            memcpy(&x, gv + k, sizeof x);
            v8f t = fr_rbf(x / s);
            if (p.zp != 0) t = fr_rbf(t + zpf);
            v8i nan = (v8i)(t != t);
            t = (v8f)SEL((v8i)(t < qmin), (v8f){0} + qmin, t);
            t = (v8f)SEL((v8i)(t > qmax), (v8f){0} + qmax, t);
            t = (t + 12582912.0f) - 12582912.0f;
            v8i q = __builtin_convertvector(t, v8i);
            q = (v8i)SEL(nan, (v8i){0}, q);
            v8u c = (v8u)(q + (1 << (bits - 1))) & ((1u << bits) - 1u);
            v8f d = fr_rbf(__builtin_convertvector(q - p.zp, v8f) * s) - x;
            /* words are little-endian bytes: INT8 one code a byte, INT4 two (the even column low) */
            if (bits == 4) fr_pack_nibbles(c, out + k / 2);
            else fr_pack_bytes(c, out + k);
            fr_stats_add(&acc, x, d);
        }
    }
    fr_stats_end(&acc, st);
}

__attribute__((target_clones("avx2", "default"))) static void rtn_row_fast(const float *v, int64_t cols, int64_t gs,
                                                                           int bits, int symmetric, uint32_t *packed,
                                                                           uint16_t *scale, int8_t *zps,
                                                                           ds_quant_row_stats *st) {
    rtn_row_body(v, cols, gs, bits, symmetric, packed, scale, zps, st);
}

/* An FP8 row decoded (fp8_row.h) and quantized, in one call so the decoded
 * row stays in this core's cache. */
__attribute__((target_clones("avx2", "default"))) static void fp8_row_fast(const uint8_t *src, const float *srow,
                                                                           int bc, float *v, int64_t cols, int64_t gs,
                                                                           int bits, int symmetric, uint32_t *packed,
                                                                           uint16_t *scale, int8_t *zps,
                                                                           ds_quant_row_stats *st) {
    fr_decode_row(src, cols, srow, bc, v);
    rtn_row_body(v, cols, gs, bits, symmetric, packed, scale, zps, st);
}

__attribute__((target_clones("avx2", "default"))) static void fp8_row_decode(const uint8_t *src, const float *srow,
                                                                             int bc, float *v, int64_t cols) {
    fr_decode_row(src, cols, srow, bc, v);
}

/* Where a chunk's rows come from: BF16/F32 rows, or FP8 rows [r0, r0+nrows)
 * of a weight with 2-D block scales (decoded per row, fp8_row.h). */
typedef struct {
    const void *w;
    ds_dtype dtype;
    int64_t r0, scale_cols;
    const float *scale;
    int br, bc;
} row_src;

static int quant_rows_from(const ds_quant_spec *sp, const row_src *in, int64_t nrows, int64_t cols, uint32_t *packed,
                           uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats) {
    const void *w = in->w;
    const ds_dtype w_dtype = in->dtype;
    const int bits = sp->bits, pf = 32 / bits;
    const int64_t gs = sp->group_size ? sp->group_size : cols, ng = cols / gs, wpr = cols / pf;
    int8_t *zps = sp->symmetric ? NULL : xmalloc((size_t)(nrows * ng) + 1);
    const int fast = !sp->mse && gs % 8 == 0;

#pragma omp parallel
    {
        float *v = xmalloc((size_t)cols * sizeof(float));
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < nrows; i++) {
            ds_quant_row_stats st = {0, 0, 0, 0};
            if (w_dtype == DS_F8_E4M3) {
                const uint8_t *src = (const uint8_t *)w + i * cols;
                const float *srow = in->scale + ((in->r0 + i) / in->br) * in->scale_cols;
                if (fast) {
                    fp8_row_fast(src, srow, in->bc, v, cols, gs, bits, sp->symmetric, packed + i * wpr,
                                 scale + i * ng, zps ? zps + i * ng : NULL, &st);
                    if (stats) stats[i] = st;
                    continue;
                }
                fp8_row_decode(src, srow, in->bc, v, cols);
            } else {
                load_row(w, w_dtype, i, cols, v);
                if (fast) {
                    rtn_row_fast(v, cols, gs, bits, sp->symmetric, packed + i * wpr, scale + i * ng,
                                 zps ? zps + i * ng : NULL, &st);
                    if (stats) stats[i] = st;
                    continue;
                }
            }
            for (int64_t g = 0; g < ng; g++) {
                const float *gv = v + g * gs;
                dsq_params p = choose_params(gv, gs, sp);
                float s = dsq_bf2f(p.scale);
                scale[i * ng + g] = p.scale;
                if (zps) zps[i * ng + g] = (int8_t)p.zp;
                uint32_t *out = packed + i * wpr + g * (gs / pf);
                for (int64_t k0 = 0; k0 < gs; k0 += pf) {
                    uint32_t word = 0;
                    for (int k = 0; k < pf; k++) {
                        float x = gv[k0 + k];
                        int q = dsq_quantize(x, s, p.zp, bits);
                        word |= dsq_code(q, bits) << (k * bits);
                        if (!dsq_isfinite(x)) {
                            st.nonfinite += 1;
                            continue;
                        }
                        float d = DSQ_FSUB(dsq_dequantize(q, s, p.zp), x);
                        float ad = d < 0 ? -d : d;
                        st.err_sq += (double)d * d;
                        st.ref_sq += (double)x * x;
                        if (ad > st.max_abs_err) st.max_abs_err = ad;
                    }
                    out[k0 / pf] = word;
                }
            }
            if (stats) stats[i] = st;
        }
        free(v);
    }

    if (zps) {
        /* Zero points packed along the rows: word [j][g] holds rows pf*j+k in bits k*bits. */
        int64_t zrows = (nrows + pf - 1) / pf;
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < zrows; j++)
            for (int64_t g = 0; g < ng; g++) {
                uint32_t word = 0;
                for (int k = 0; k < pf && j * pf + k < nrows; k++)
                    word |= dsq_code(zps[(j * pf + k) * ng + g], bits) << (k * bits);
                zero_point[j * ng + g] = word;
            }
        free(zps);
    }
    return 0;
}

int ds_cpu_quant_rows(const ds_quant_spec *sp, const void *w, ds_dtype w_dtype, int64_t nrows, int64_t cols,
                      uint32_t *packed, uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats) {
    const char *why = dsq_chunk_error(sp->bits, sp->group_size, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "quantize: %s (bits %d, group %d, %lld x %lld)", why, sp->bits,
                            sp->group_size, (long long)nrows, (long long)cols);
    if (w_dtype != DS_BF16 && w_dtype != DS_F32)
        return ds_fail(DS_EXIT_INPUT, "quantize: input must be BF16 or F32, not %s", ds_dtype_name(w_dtype));
    row_src in = {w, w_dtype, 0, 0, NULL, 0, 0};
    return quant_rows_from(sp, &in, nrows, cols, packed, scale, zero_point, stats);
}

int ds_cpu_fp8_quant_rows(const ds_quant_spec *sp, const uint8_t *w, int64_t r0, int64_t nrows, int64_t cols,
                          const float *fp8_scale, int64_t scale_cols, int br, int bc, uint32_t *packed,
                          uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats) {
    const char *why = dsq_chunk_error(sp->bits, sp->group_size, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "quantize: %s (bits %d, group %d, %lld x %lld)", why, sp->bits,
                            sp->group_size, (long long)nrows, (long long)cols);
    if (br <= 0 || bc <= 0 || r0 < 0) return ds_fail(DS_EXIT_INPUT, "quantize: FP8 block %d x %d", br, bc);
    row_src in = {w, DS_F8_E4M3, r0, scale_cols, fp8_scale, br, bc};
    return quant_rows_from(sp, &in, nrows, cols, packed, scale, zero_point, stats);
}
