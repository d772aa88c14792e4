/* ct_config.c - the compressed-tensors quantization_config object (see ct_config.h). */
#include "quant/ct_config.h"

cJSON *ds_ct_quant_config(const ds_quant_spec *s, const char *const *ignore, int n_ignore) {
    cJSON *w = cJSON_CreateObject();
    cJSON_AddNumberToObject(w, "num_bits", s->bits);
    cJSON_AddStringToObject(w, "type", "int");
    cJSON_AddBoolToObject(w, "symmetric", s->symmetric != 0);
    cJSON_AddStringToObject(w, "strategy", s->group_size ? "group" : "channel");
    if (s->group_size) cJSON_AddNumberToObject(w, "group_size", s->group_size);
    else cJSON_AddNullToObject(w, "group_size");
    cJSON_AddNullToObject(w, "block_structure");
    cJSON_AddBoolToObject(w, "dynamic", 0);
    cJSON_AddNullToObject(w, "actorder");
    /* Informational (nothing observes at load time): how the scales were chosen. */
    cJSON_AddStringToObject(w, "observer", s->mse ? "mse" : "minmax");
    cJSON_AddItemToObject(w, "observer_kwargs", cJSON_CreateObject());

    cJSON *g = cJSON_CreateObject();
    cJSON *targets = cJSON_AddArrayToObject(g, "targets");
    cJSON_AddItemToArray(targets, cJSON_CreateString("Linear"));
    cJSON_AddItemToObject(g, "weights", w);
    cJSON_AddNullToObject(g, "input_activations");
    cJSON_AddNullToObject(g, "output_activations");

    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "quant_method", "compressed-tensors");
    cJSON_AddStringToObject(q, "format", "pack-quantized");
    cJSON_AddStringToObject(q, "quantization_status", "compressed");
    cJSON *groups = cJSON_AddObjectToObject(q, "config_groups");
    cJSON_AddItemToObject(groups, "group_0", g);
    cJSON *ig = cJSON_AddArrayToObject(q, "ignore");
    for (int i = 0; i < n_ignore; i++) cJSON_AddItemToArray(ig, cJSON_CreateString(ignore[i]));
    cJSON_AddNullToObject(q, "kv_cache_scheme");
    return q;
}

void ds_ct_set_quant_config(cJSON *cfg, cJSON *q) {
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "quantization_config");
    cJSON_AddItemToObject(cfg, "quantization_config", q);
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "torch_dtype");
    cJSON_AddStringToObject(cfg, "torch_dtype", "bfloat16");
}
