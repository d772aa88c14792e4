/* quant_rows.c - CPU reference of INT4/INT8 weight quantization (rtn and mse,
 * group or channel, symmetric or asymmetric) into compressed-tensors'
 * pack-quantized layout. The per-group arithmetic is quant/quant_core.h,
 * shared with kernels/cuda/quant_rows.cu, so both write the same bytes.
 * OpenMP over rows: each row is independent; asymmetric zero points, which
 * pack 32/bits rows into one word, are collected per row and packed after. */
#include "kernels/kernels.h"
#include "quant/quant_core.h"
#include "common/util.h"

#include <stdlib.h>
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

int ds_cpu_quant_rows(const ds_quant_spec *sp, const void *w, ds_dtype w_dtype, int64_t nrows, int64_t cols,
                      uint32_t *packed, uint16_t *scale, uint32_t *zero_point, ds_quant_row_stats *stats) {
    const char *why = dsq_chunk_error(sp->bits, sp->group_size, nrows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "quantize: %s (bits %d, group %d, %lld x %lld)", why, sp->bits,
                            sp->group_size, (long long)nrows, (long long)cols);
    if (w_dtype != DS_BF16 && w_dtype != DS_F32)
        return ds_fail(DS_EXIT_INPUT, "quantize: input must be BF16 or F32, not %s", ds_dtype_name(w_dtype));
    const int bits = sp->bits, pf = 32 / bits;
    const int64_t gs = sp->group_size ? sp->group_size : cols, ng = cols / gs, wpr = cols / pf;
    int8_t *zps = sp->symmetric ? NULL : xmalloc((size_t)(nrows * ng) + 1);

#pragma omp parallel
    {
        float *v = xmalloc((size_t)cols * sizeof(float));
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < nrows; i++) {
            load_row(w, w_dtype, i, cols, v);
            ds_quant_row_stats st = {0, 0, 0, 0};
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
