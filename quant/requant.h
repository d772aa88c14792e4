/* requant.h - the numeric and format core of `dsconv requant`: the
 * quantization spec, the compressed-tensors pack-quantized tensors one
 * quantized Linear becomes, where a chunk of rows lands in them, and the
 * per-tensor error statistics. The kernels themselves are in kernels/kernels.h
 * (ds_cpu_quant_rows / ds_cuda_quant_rows and the unpack pair); the rules for
 * which tensors are quantized in quant/qrules.h; config.json's
 * quantization_config in quant/ct_config.h. MANUAL.md (section requant) says what
 * every number matches.
 *
 * How the executor quantizes one weight [rows, cols] (FP8 or BF16):
 *   ds_quant_outputs()       the output tensors, in plan order (packed, scale,
 *                            [zero point,] shape) with dtypes and shapes;
 *   for each chunk [r0, r0+n) of whole rows (r0 a multiple of
 *   ds_quant_row_align(), e.g. whole 128-row FP8 blocks):
 *       dequantize to BF16 (ds_*_dequant_fp8_bf16) unless already BF16,
 *       ds_cpu_quant_rows / ds_cuda_quant_rows on the chunk,
 *       ds_quant_chunk_ranges() says at which byte offset of each output
 *       tensor the chunk's packed words, scales and zero points go;
 *       ds_quant_stats_add() folds the chunk's row statistics in;
 *   ds_quant_shape_bytes()   the 16 bytes of weight_shape. */
#ifndef DS_REQUANT_H
#define DS_REQUANT_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "kernels/kernels.h"
#include "formats/dtype.h"

/* Defaults: --bits 8 per channel, --bits 4 group 128, symmetric, rtn. */
void ds_quant_spec_default(ds_quant_spec *s, int bits);
/* --format int8|int4|nvfp4|mxfp4: that format's defaults (int8 per channel,
 * int4 group 128, nvfp4 group 16, mxfp4 group 32). DS_EXIT_USAGE otherwise. */
int ds_quant_parse_format(const char *name, ds_quant_spec *s);
/* "int8", "int4", "nvfp4" or "mxfp4". */
const char *ds_quant_format_name(const ds_quant_spec *s);
/* "rtn" -> 0, "mse" -> 1; DS_EXIT_USAGE naming --method otherwise. */
int ds_quant_parse_method(const char *s, int *mse);
const char *ds_quant_method_name(const ds_quant_spec *s);
/* Checks a spec from the command line: bits 4 or 8, group size 0 (channel) or
 * a positive multiple of 32/bits. DS_EXIT_USAGE with the reason otherwise. */
int ds_quant_spec_check(const ds_quant_spec *s);

static inline int ds_quant_pack_factor(const ds_quant_spec *s) { return 32 / s->bits; }
/* Scales per row: cols / group_size, or 1 per channel. */
int64_t ds_quant_groups(const ds_quant_spec *s, int64_t cols);
/* Chunks must start at a multiple of this row count: 32/bits when asymmetric
 * (zero points of that many rows share a word), else 1. */
int64_t ds_quant_row_align(const ds_quant_spec *s);

/* Why a weight of this shape cannot be quantized with s (NULL when it can):
 * cols not a multiple of the group size (or of 32/bits per channel), or, for
 * asymmetric, rows not a multiple of 32/bits (vLLM sizes the packed zero
 * points as rows/(32/bits)). The returned text is static. */
const char *ds_quant_unsupported(const ds_quant_spec *s, int64_t rows, int64_t cols);

/* The tensors a quantized "<p>.weight" [rows, cols] becomes, in the order the
 * plan lists them (convert/plan.h DS_XF_QUANT):
 *   <p>.weight_packed      I32  [rows, cols*bits/32]
 *   <p>.weight_scale       BF16 [rows, groups]
 *   <p>.weight_zero_point  I32  [ceil(rows*bits/32), groups]   (asymmetric only)
 *   <p>.weight_shape       I64  [2]
 * and for NVFP4 / MXFP4 (nvfp4- / mxfp4-pack-quantized):
 *   <p>.weight_packed        U8       [rows, cols/2]
 *   <p>.weight_scale         F8_E4M3 (NVFP4) or U8 (MXFP4, E8M0) [rows, cols/group]
 *   <p>.weight_global_scale  F32      [1]          (NVFP4 only)
 * Names are malloc'd (ds_quant_outputs_free). DS_EXIT_INPUT when the name does
 * not end in ".weight" or the shape is unsupported. */
enum { DS_QUANT_MAX_OUTPUTS = 4 };
typedef struct {
    char *name;
    ds_dtype dtype;
    int ndim;
    int64_t shape[2];
} ds_quant_output;
int ds_quant_outputs(const ds_quant_spec *s, const char *weight_name, int64_t rows, int64_t cols,
                     ds_quant_output out[DS_QUANT_MAX_OUTPUTS], int *n_out);
void ds_quant_outputs_free(ds_quant_output *out, int n);
/* weight_shape's data: int64 little-endian {rows, cols}. */
void ds_quant_shape_bytes(int64_t rows, int64_t cols, uint8_t out[16]);

/* Where the chunk rows [r0, r0+n) of a [rows, cols] weight go: for each output
 * of ds_quant_outputs (same order; the shape tensor gets an empty range), the
 * byte offset inside that tensor's data and the length the kernel writes for
 * the chunk. DS_EXIT_INPUT when the chunk is outside the weight or an
 * asymmetric chunk does not start at a multiple of ds_quant_row_align. */
typedef struct {
    uint64_t off, len;
} ds_quant_range;
int ds_quant_chunk_ranges(const ds_quant_spec *s, int64_t rows, int64_t cols, int64_t r0, int64_t n,
                          ds_quant_range out[DS_QUANT_MAX_OUTPUTS], int *n_out);

/* Error statistics of one tensor, accumulated over its chunks. */
typedef struct {
    double err_sq, ref_sq, max_abs_err;
    int64_t nonfinite, elements;
} ds_quant_stats;
void ds_quant_stats_add(ds_quant_stats *acc, const ds_quant_row_stats *rows, int64_t nrows, int64_t cols);
/* sqrt(sum err^2 / sum w^2): the relative L2 error of the dequantized weight. */
double ds_quant_stats_rel(const ds_quant_stats *s);
/* {"rel_l2":..., "rmse":..., "max_abs_err":..., "elements":...} for --json. */
cJSON *ds_quant_stats_json(const ds_quant_stats *s);

#endif
