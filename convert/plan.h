/* plan.h - what a conversion writes, decided before a byte moves.
 *
 * Every writing command (fp8-to-bf16, strip-mtp, shard-for-mp, requant) only
 * builds a ds_plan: the output files, each file's tensors in write order, and
 * one item per source tensor saying how its bytes become output bytes. The
 * executor (exec.h) runs any plan. Because every header is known up front,
 * problems are found before writing, and --resume can compare what is on disk
 * with what would be written. */
#ifndef DS_PLAN_H
#define DS_PLAN_H

#include "formats/hf.h"
#include <cjson/cJSON.h>

typedef enum {
    DS_XF_COPY = 0,      /* bytes as they are */
    DS_XF_FP8_TO_BF16,   /* F8_E4M3 + block scale -> BF16 (kernels ds_*_dequant_fp8_bf16) */
    DS_XF_QUANT,         /* (FP8->)BF16 -> packed INT4/INT8/NVFP4/MXFP4 + scales (quant/) */
    DS_XF_UNPACK,        /* compressed-tensors weight_packed + scales -> BF16 (kernels ds_cpu_*_unpack_rows) */
} ds_xform;

/* Where (part of) an item's result goes. For DS_XF_QUANT the item's outputs
 * are, in order: packed, scale, [zero point,] shape. */
typedef struct {
    int file;            /* index into plan.files */
    int tensor;          /* index into that file's tensors */
    int dim;             /* -1: whole; 0: rows [begin, end); 1: columns [begin, end) */
    int64_t begin, end;
} ds_plan_out;

typedef struct ds_quant_spec ds_quant_spec; /* quant/requant.h */

typedef struct {
    const ds_ckpt_entry *src;
    const ds_ckpt_entry *scale;   /* FP8 block scale (DS_XF_FP8_TO_BF16, or QUANT of FP8) */
    int block[2];                 /* FP8 block rows, cols */
    ds_xform xform;
    int first_out, n_out;         /* range in plan.outs */
    const ds_quant_spec *quant;   /* DS_XF_QUANT parameters; DS_XF_UNPACK: the stored scheme */
    /* NVFP4: the weight whose largest |w| the global scale also covers (the
     * gate/up partner of a fused pair), with its FP8 block scale, or NULL */
    const ds_ckpt_entry *partner, *partner_scale;
    /* DS_XF_UNPACK: the compressed-tensors companions of src (weight_packed) */
    const ds_ckpt_entry *zero_point, *global_scale;
    int64_t unpack_cols;          /* DS_XF_UNPACK: columns of the dequantized weight */
} ds_plan_item;

typedef struct {
    char *name;                   /* basename in the output directory */
    ds_tensor_desc *tensors;      /* names owned by the plan */
    int n_tensors, cap;
    int last_item;                /* last item that writes here: the file is committed after it */
} ds_plan_file;

typedef struct {
    char *name;                   /* basename in the output directory */
    char *src_path;               /* copy this file, or */
    char *text;                   /* write this text */
} ds_plan_extra;

typedef struct {
    ds_plan_file *files; int n_files, cap_files;
    ds_plan_item *items; int n_items, cap_items;
    ds_plan_out *outs; int n_outs, cap_outs;
    /* Small files written after every shard is complete, in this order; the
     * last one (the index, or config.json) marks the output as complete. */
    ds_plan_extra *extras; int n_extras, cap_extras;
} ds_plan;

void ds_plan_init(ds_plan *p);
void ds_plan_free(ds_plan *p);
int ds_plan_add_file(ds_plan *p, const char *name);
int ds_plan_find_file(const ds_plan *p, const char *name);
/* Adds a tensor to file f and returns its index there. */
int ds_plan_add_tensor(ds_plan *p, int f, const char *name, ds_dtype dt, int ndim, const int64_t *shape);
/* Starts an item; then add its outputs with ds_plan_add_out. */
ds_plan_item *ds_plan_add_item(ds_plan *p, const ds_ckpt_entry *src, ds_xform xf);
void ds_plan_add_out(ds_plan *p, int file, int tensor, int dim, int64_t begin, int64_t end);
void ds_plan_add_extra_copy(ds_plan *p, const char *name, const char *src_path);
void ds_plan_add_extra_text(ds_plan *p, const char *name, char *text /* taken */);
/* Fills last_item per file; call once after building. */
void ds_plan_finish(ds_plan *p);
/* Data bytes of one planned tensor, and of all of them (an index's total_size). */
uint64_t ds_tensor_desc_bytes(const ds_tensor_desc *d);
uint64_t ds_plan_data_bytes(const ds_plan *p);

/* ---- helpers shared by the plan builders ---- */

/* Adds tensor e to file as it is stored (a COPY item). */
void ds_plan_add_copy(ds_plan *p, int file, const ds_ckpt_entry *e);
/* Adds F8_E4M3 tensor e to file as BF16 (a FP8_TO_BF16 item), after checking its scale. */
int ds_plan_add_dequant(const ds_ckpt *c, ds_plan *p, int file, const ds_ckpt_entry *e);

/* Finds NAME_scale_inv for an F8_E4M3 weight and checks it: F32, 2-D, shape
 * [ceil(rows/br), ceil(cols/bc)], finite and positive. DS_EXIT_INPUT naming
 * the tensor otherwise. Block size comes from config (default 128x128). */
int ds_plan_fp8_scale(const ds_ckpt *c, const ds_ckpt_entry *w, const ds_ckpt_entry **scale, int block[2]);
/* True for "<...>_scale_inv" tensors. */
int ds_is_scale_name(const char *name);
/* Copies the input directory's non-weight files (config.json is handled by
 * the caller): everything except *.safetensors, the index and config.json;
 * with only_token, just files whose name contains "token" (convert.py).
 * Beside a lone .safetensors file, only Hugging Face checkpoint files
 * (tokenizer*, generation_config.json, ...). Each is checked now: a link
 * must resolve inside the input (or its HF cache blobs/), a non-regular file
 * is refused, DS_EXIT_INPUT naming it, before anything is written. */
int ds_plan_copy_side_files(ds_plan *p, const ds_ckpt *c, int only_token);
/* Every output name (files and extras) a plain, distinct basename that is
 * not a temporary name: DS_EXIT_INPUT naming the collision otherwise. */
int ds_plan_check_names(const ds_plan *p);
/* The input's config.json as cJSON (caller frees), or NULL if absent. */
cJSON *ds_plan_load_config_json(const ds_ckpt *c, int *rc);

#endif
