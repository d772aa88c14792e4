/* summary.h - what a checkpoint holds (for inspect): counts by dtype, layers,
 * MTP layers, experts, FP8 block size, shards. */
#ifndef DS_SUMMARY_H
#define DS_SUMMARY_H

#include "formats/hf.h"
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
} ds_summary;

void ds_summarize(const ds_ckpt *c, ds_summary *s);
/* The summary and (with tensors) the per-tensor list as JSON. */
cJSON *ds_summary_json(const ds_ckpt *c, const ds_summary *s, int tensors);
#endif
