/* ws_source.h - a weight source: "give me tensor T as float32".
 *
 * The forward pass and the structural checks name tensors by their Hugging
 * Face names (model.layers.3.self_attn.kv_b_proj.weight) and never learn how
 * a checkpoint stores them. Sources:
 *  - an HF checkpoint (formats/hf.h): BF16/F16/F32 as stored; FP8 e4m3 with
 *    weight_scale_inv dequantized by the fp8-to-bf16 kernel (so an FP8 model
 *    and its BF16 conversion give identical floats); compressed-tensors INT4 /
 *    INT8 (weight_packed + weight_scale [+ weight_zero_point]) as (q - zp) * s;
 *  - the rank files model{i}-mp{N}.safetensors of shard-for-mp, split tensors
 *    reassembled from their parts (each part dequantized with its own scale).
 * Tensors are read on demand from the mapped files; nothing is cached, so a
 * caller holds exactly the weights it has asked for. */
#ifndef DS_VERIFY_WS_SOURCE_H
#define DS_VERIFY_WS_SOURCE_H

#include <stdint.h>
#include "formats/config.h"
#include "formats/dtype.h"

typedef struct ds_ws_source ds_ws_source;

typedef enum { DS_WQ_PLAIN = 0, DS_WQ_FP8, DS_WQ_INT } ds_wq_kind;

typedef struct {
    int ndim;              /* 1 or 2 (other ranks are reported as they are) */
    int64_t shape[8];      /* logical shape: INT tensors unpacked, MP parts joined */
    int64_t rows, cols;    /* shape[0], product of the rest (cols 1 for 1-D) */
    ds_dtype dtype;        /* stored dtype of the weight data (I32 for packed INT) */
    ds_wq_kind kind;
    int bits;              /* INT: 4 or 8 */
    int parts;             /* MP: number of rank files holding pieces (1 otherwise) */
} ds_ws_tinfo;

/* Opens path: an HF checkpoint directory or file, or a directory of
 * model{i}-mp{N}.safetensors rank files. Needs config.json beside the weights.
 * 0, DS_EXIT_INPUT (message names the file) or DS_EXIT_IO. */
int ds_ws_open(const char *path, ds_ws_source **ws);
void ds_ws_close(ds_ws_source *ws);

const ds_config *ds_ws_config(const ds_ws_source *ws);
const char *ds_ws_path(const ds_ws_source *ws);
/* "hf" or "mpN" plus what the weights hold: "fp8", "bf16", "int4", ... */
const char *ds_ws_describe(const ds_ws_source *ws);
/* Smallest INT bit width among the weights (4 or 8), 0 when none is integer-quantized. */
int ds_ws_int_bits(const ds_ws_source *ws);

/* 1 when the tensor is stored, in whatever form (no validation, no message). */
int ds_ws_has(ds_ws_source *ws, const char *name);
/* Describes a tensor and validates its storage (dtypes, scale shapes, packing,
 * MP parts agreeing). 0 or DS_EXIT_INPUT naming file and tensor ("missing" too). */
int ds_ws_info(ds_ws_source *ws, const char *name, ds_ws_tinfo *ti);
/* ds_ws_info, and the tensor must be [rows, cols] as config.json says (at most
 * 2-D): otherwise DS_EXIT_INPUT with the one message for it, naming source,
 * tensor and both shapes. */
int ds_ws_info_shape(ds_ws_source *ws, const char *name, int64_t rows, int64_t cols, ds_ws_tinfo *ti);
/* The file that holds element (row, col) of a tensor ds_ws_info accepted. */
const char *ds_ws_locate(ds_ws_source *ws, const char *name, int64_t row, int64_t col);
/* Stored bytes read so far through ds_ws_read_rows (weights, not their scales). */
uint64_t ds_ws_bytes_read(const ds_ws_source *ws);
/* Rows [r0, r0+nrows) as float32, row-major [nrows][cols]. */
int ds_ws_read_rows(ds_ws_source *ws, const char *name, int64_t r0, int64_t nrows, float *out);
/* The whole tensor, checked to be [rows, cols] (cols 1 for a 1-D tensor of
 * rows values); *out is malloc'd. DS_EXIT_INPUT on a shape mismatch. */
int ds_ws_load(ds_ws_source *ws, const char *name, int64_t rows, int64_t cols, float **out);

#endif
