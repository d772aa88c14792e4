/* summary.h - what a checkpoint holds (for inspect): counts by dtype, layers,
 * MTP layers, experts, FP8 block size, shards. */
#ifndef DS_SUMMARY_H
#define DS_SUMMARY_H

#include "formats/hf.h"
#include "formats/schema.h"
#include <cjson/cJSON.h>

typedef struct {
    int n_tensors, n_shards;
    uint64_t bytes_by_dtype[DS_DTYPE_COUNT];
    int tensors_by_dtype[DS_DTYPE_COUNT];
    uint64_t tensor_bytes;
    int layers_present;      /* distinct model.layers.N indices */
    int max_layer;           /* highest N, -1 if none */
    int main_layers;         /* config num_hidden_layers, or layers present without config */
    int mtp_layers;          /* layers present with N >= num_hidden_layers */
    int routed_experts;      /* distinct expert indices seen in any one layer (max over layers) */
    int fp8_block[2];        /* from config, or inferred from a weight and its scale; 0 if none */
    int scales;              /* *_scale_inv tensors */
    int layout_mp;           /* 1 when the names are shard-for-mp style (no "model." prefix, "layers.N.attn") */
    /* From the model schema (formats/schema.h), Hugging Face layout with a known model_type only: */
    const ds_family *family; /* NULL: no config, or a model_type the schema does not know */
    int role_tensors[DS_ROLE_COUNT];      /* weights (not scales or packing parts) per role */
    unsigned role_dtypes[DS_ROLE_COUNT];  /* 1 << ds_dtype of those weights */
    int role_ct[DS_ROLE_COUNT];           /* weights stored compressed-tensors packed (weight_packed) */
    int role_scaled[DS_ROLE_COUNT];       /* weights with an FP8 block scale */
    int unknown;             /* tensors the schema does not know for this family and config */
    char unknown_first[4][128];
} ds_summary;

/* How a tensor group is stored, e.g. "F8_E4M3 (128x128 block scales)",
 * "int (compressed-tensors weight_packed)", "BF16", "BF16 + F32". */
void ds_summary_group_storage(const ds_summary *s, ds_role r, char *buf, size_t cap);

void ds_summarize(const ds_ckpt *c, ds_summary *s);
/* The summary and (with tensors) the per-tensor list as JSON. */
cJSON *ds_summary_json(const ds_ckpt *c, const ds_summary *s, int tensors);
#endif
