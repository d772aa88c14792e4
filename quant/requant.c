/* requant.c - spec defaults and checks, the pack-quantized output tensors of a
 * quantized weight, chunk placement, error statistics. */
#include "quant/requant.h"
#include "common/util.h"
#include "quant/fp4_core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ds_quant_spec_default(ds_quant_spec *s, int bits) {
    s->bits = bits;
    s->group_size = bits == 4 ? 128 : 0;
    s->symmetric = 1;
    s->mse = 0;
    s->format = DSQ_FMT_INT;
}

int ds_quant_parse_format(const char *name, ds_quant_spec *s) {
    if (!strcmp(name, "int8")) ds_quant_spec_default(s, 8);
    else if (!strcmp(name, "int4")) ds_quant_spec_default(s, 4);
    else if (!strcmp(name, "nvfp4") || !strcmp(name, "mxfp4")) {
        int nv = name[0] == 'n';
        ds_quant_spec_default(s, 4);
        s->format = nv ? DSQ_FMT_NVFP4 : DSQ_FMT_MXFP4;
        s->group_size = nv ? DSQ_NVFP4_GROUP : DSQ_MXFP4_GROUP;
    } else
        return ds_fail(DS_EXIT_USAGE, "--format: '%s' is not int8, int4, nvfp4 or mxfp4", name);
    return 0;
}

const char *ds_quant_format_name(const ds_quant_spec *s) {
    if (s->format == DSQ_FMT_NVFP4) return "nvfp4";
    if (s->format == DSQ_FMT_MXFP4) return "mxfp4";
    return s->bits == 4 ? "int4" : "int8";
}

int ds_quant_parse_method(const char *s, int *mse) {
    if (!strcmp(s, "rtn")) *mse = 0;
    else if (!strcmp(s, "mse")) *mse = 1;
    else return ds_fail(DS_EXIT_USAGE, "--method: '%s' is not rtn or mse", s);
    return 0;
}

const char *ds_quant_method_name(const ds_quant_spec *s) { return s->mse ? "mse" : "rtn"; }

int ds_quant_spec_check(const ds_quant_spec *s) {
    if (s->format == DSQ_FMT_NVFP4 || s->format == DSQ_FMT_MXFP4) {
        int g = dsq_fp4_group_size(s->format);
        if (s->group_size != g)
            return ds_fail(DS_EXIT_USAGE, "--group-size %d: %s has groups of %d", s->group_size,
                           ds_quant_format_name(s), g);
        if (!s->symmetric) return ds_fail(DS_EXIT_USAGE, "--asym: %s is symmetric only", ds_quant_format_name(s));
        return 0;
    }
    if (s->format != DSQ_FMT_INT) return ds_fail(DS_EXIT_USAGE, "unknown quantization format %d", s->format);
    if (s->bits != 4 && s->bits != 8) return ds_fail(DS_EXIT_USAGE, "--bits must be 4 or 8, not %d", s->bits);
    int pf = 32 / s->bits;
    if (s->group_size < 0 || (s->group_size && s->group_size % pf))
        return ds_fail(DS_EXIT_USAGE, "--group-size %d: must be a positive multiple of %d for %d bits "
                       "(or 0 for one scale per output channel)", s->group_size, pf, s->bits);
    return 0;
}

int64_t ds_quant_groups(const ds_quant_spec *s, int64_t cols) { return s->group_size ? cols / s->group_size : 1; }

int64_t ds_quant_row_align(const ds_quant_spec *s) { return s->symmetric ? 1 : 32 / s->bits; }

const char *ds_quant_unsupported(const ds_quant_spec *s, int64_t rows, int64_t cols) {
    if (s->format != DSQ_FMT_INT) {
        if (rows <= 0 || cols <= 0) return "empty";
        return cols % s->group_size ? "input dim not a multiple of the group size" : NULL;
    }
    int pf = 32 / s->bits;
    if (rows <= 0 || cols <= 0) return "empty";
    if (s->group_size && cols % s->group_size) return "input dim not a multiple of the group size";
    if (cols % pf) return s->bits == 4 ? "input dim not a multiple of 8 (INT4 packing)"
                                       : "input dim not a multiple of 4 (INT8 packing)";
    if (!s->symmetric && rows % pf)
        return s->bits == 4 ? "output dim not a multiple of 8 (packed zero points)"
                            : "output dim not a multiple of 4 (packed zero points)";
    return NULL;
}

static char *suffixed(const char *prefix, size_t plen, const char *suffix) {
    size_t sl = strlen(suffix);
    char *s = xmalloc(plen + sl + 1);
    memcpy(s, prefix, plen);
    memcpy(s + plen, suffix, sl + 1);
    return s;
}

int ds_quant_outputs(const ds_quant_spec *s, const char *weight_name, int64_t rows, int64_t cols,
                     ds_quant_output out[DS_QUANT_MAX_OUTPUTS], int *n_out) {
    *n_out = 0;
    size_t len = strlen(weight_name);
    if (!ds_has_suffix(weight_name, ".weight"))
        return ds_fail(DS_EXIT_INPUT, "tensor %s: only a Linear's .weight can be quantized", weight_name);
    const char *why = ds_quant_unsupported(s, rows, cols);
    if (why) return ds_fail(DS_EXIT_INPUT, "tensor %s [%lld, %lld]: cannot quantize: %s", weight_name,
                            (long long)rows, (long long)cols, why);
    int pf = 32 / s->bits, n = 0;
    int64_t ng = ds_quant_groups(s, cols);
    if (s->format != DSQ_FMT_INT) {
        out[n++] = (ds_quant_output){suffixed(weight_name, len, "_packed"), DS_U8, 2, {rows, cols / 2}};
        out[n++] = (ds_quant_output){suffixed(weight_name, len, "_scale"),
                                     s->format == DSQ_FMT_NVFP4 ? DS_F8_E4M3 : DS_U8, 2, {rows, ng}};
        if (s->format == DSQ_FMT_NVFP4)
            out[n++] = (ds_quant_output){suffixed(weight_name, len, "_global_scale"), DS_F32, 1, {1, 0}};
        *n_out = n;
        return 0;
    }
    out[n++] = (ds_quant_output){suffixed(weight_name, len, "_packed"), DS_I32, 2, {rows, cols / pf}};
    out[n++] = (ds_quant_output){suffixed(weight_name, len, "_scale"), DS_BF16, 2, {rows, ng}};
    if (!s->symmetric)
        out[n++] = (ds_quant_output){suffixed(weight_name, len, "_zero_point"), DS_I32, 2, {(rows + pf - 1) / pf, ng}};
    out[n++] = (ds_quant_output){suffixed(weight_name, len, "_shape"), DS_I64, 1, {2, 0}};
    *n_out = n;
    return 0;
}

void ds_quant_outputs_free(ds_quant_output *out, int n) {
    for (int i = 0; i < n; i++) {
        free(out[i].name);
        out[i].name = NULL;
    }
}

void ds_quant_shape_bytes(int64_t rows, int64_t cols, uint8_t out[16]) {
    uint64_t v[2] = {(uint64_t)rows, (uint64_t)cols};
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 8; b++) out[k * 8 + b] = (uint8_t)(v[k] >> (8 * b));
}

int ds_quant_chunk_ranges(const ds_quant_spec *s, int64_t rows, int64_t cols, int64_t r0, int64_t n,
                          ds_quant_range out[DS_QUANT_MAX_OUTPUTS], int *n_out) {
    *n_out = 0;
    if (r0 < 0 || n < 0 || r0 + n > rows)
        return ds_fail(DS_EXIT_INPUT, "quantize: chunk rows [%lld, %lld) outside a weight of %lld rows",
                       (long long)r0, (long long)(r0 + n), (long long)rows);
    int64_t align = ds_quant_row_align(s);
    if (r0 % align)
        return ds_fail(DS_EXIT_INPUT, "quantize: asymmetric chunk starts at row %lld, not a multiple of %lld",
                       (long long)r0, (long long)align);
    int pf = 32 / s->bits, k = 0;
    int64_t ng = ds_quant_groups(s, cols);
    if (s->format != DSQ_FMT_INT) {
        out[k++] = (ds_quant_range){(uint64_t)(r0 * (cols / 2)), (uint64_t)(n * (cols / 2))};
        out[k++] = (ds_quant_range){(uint64_t)(r0 * ng), (uint64_t)(n * ng)};
        if (s->format == DSQ_FMT_NVFP4) out[k++] = (ds_quant_range){0, 0};
        *n_out = k;
        return 0;
    }
    out[k++] = (ds_quant_range){(uint64_t)(r0 * (cols / pf)) * 4, (uint64_t)(n * (cols / pf)) * 4};
    out[k++] = (ds_quant_range){(uint64_t)(r0 * ng) * 2, (uint64_t)(n * ng) * 2};
    if (!s->symmetric) {
        int64_t z0 = r0 / pf, z1 = (r0 + n + pf - 1) / pf;
        out[k++] = (ds_quant_range){(uint64_t)(z0 * ng) * 4, (uint64_t)((z1 - z0) * ng) * 4};
    }
    out[k++] = (ds_quant_range){0, 0};
    *n_out = k;
    return 0;
}

void ds_quant_stats_add(ds_quant_stats *acc, const ds_quant_row_stats *rows, int64_t nrows, int64_t cols) {
    for (int64_t i = 0; i < nrows; i++) {
        acc->err_sq += rows[i].err_sq;
        acc->ref_sq += rows[i].ref_sq;
        if (rows[i].max_abs_err > acc->max_abs_err) acc->max_abs_err = rows[i].max_abs_err;
        acc->nonfinite += (int64_t)rows[i].nonfinite;
    }
    acc->elements += nrows * cols;
}

double ds_quant_stats_rel(const ds_quant_stats *s) {
    if (s->ref_sq > 0) return sqrt(s->err_sq / s->ref_sq);
    return s->err_sq > 0 ? INFINITY : 0.0;
}

cJSON *ds_quant_stats_json(const ds_quant_stats *s) {
    cJSON *o = cJSON_CreateObject();
    double rel = ds_quant_stats_rel(s);
    /* JSON has no infinity: an all-zero weight with nonzero error cannot happen, but say so if it did. */
    if (isfinite(rel)) cJSON_AddNumberToObject(o, "rel_l2", rel);
    else cJSON_AddNullToObject(o, "rel_l2");
    cJSON_AddNumberToObject(o, "rmse", s->elements ? sqrt(s->err_sq / (double)s->elements) : 0.0);
    cJSON_AddNumberToObject(o, "max_abs_err", s->max_abs_err);
    cJSON_AddNumberToObject(o, "elements", (double)s->elements);
    if (s->nonfinite) cJSON_AddNumberToObject(o, "nonfinite", (double)s->nonfinite);
    return o;
}
