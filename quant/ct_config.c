/* ct_config.c - the compressed-tensors quantization_config object (see ct_config.h). */
#include "quant/ct_config.h"
#include "quant/fp4_core.h"

const char *ds_ct_format_name(const ds_quant_spec *s) {
    if (s->format == DSQ_FMT_NVFP4) return "nvfp4-pack-quantized";
    if (s->format == DSQ_FMT_MXFP4) return "mxfp4-pack-quantized";
    return "pack-quantized";
}

cJSON *ds_ct_quant_config(const ds_quant_spec *s, const char *const *ignore, int n_ignore) {
    cJSON *w = cJSON_CreateObject();
    int fp4 = s->format != DSQ_FMT_INT;
    cJSON_AddNumberToObject(w, "num_bits", s->bits);
    cJSON_AddStringToObject(w, "type", fp4 ? "float" : "int");
    cJSON_AddBoolToObject(w, "symmetric", s->symmetric != 0);
    /* NVFP4A16 is the library's "tensor_group" (group scales times one global
     * scale), MXFP4A16 plain "group"; MXFP4 names its E8M0 scale dtype, which
     * is how the library tells MX scales apart (NVFP4 checkpoints in the wild
     * carry no scale_dtype, and older releases refuse unknown keys). */
    cJSON_AddStringToObject(w, "strategy", s->format == DSQ_FMT_NVFP4 ? "tensor_group"
                                           : s->group_size ? "group" : "channel");
    if (s->format == DSQ_FMT_MXFP4) cJSON_AddStringToObject(w, "scale_dtype", "torch.uint8");
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
    cJSON_AddStringToObject(q, "format", ds_ct_format_name(s));
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

/* One config group: targets, weights, input activations (may be NULL), format. */
static cJSON *group(cJSON *targets, cJSON *weights, cJSON *inputs, const char *format) {
    cJSON *g = cJSON_CreateObject();
    cJSON_AddItemToObject(g, "targets", targets);
    cJSON_AddItemToObject(g, "weights", weights);
    if (inputs) cJSON_AddItemToObject(g, "input_activations", inputs);
    else cJSON_AddNullToObject(g, "input_activations");
    cJSON_AddNullToObject(g, "output_activations");
    cJSON_AddStringToObject(g, "format", format);
    return g;
}

cJSON *ds_ct_mixed_config(const ds_quant_spec *s, const char *const *fp8, int n_fp8, const int block[2],
                          const char *const *ignore, int n_ignore) {
    cJSON *q = ds_ct_quant_config(s, ignore, n_ignore);
    cJSON *groups = cJSON_GetObjectItemCaseSensitive(q, "config_groups");
    cJSON *g0 = cJSON_DetachItemFromObjectCaseSensitive(groups, "group_0");
    cJSON *w = cJSON_DetachItemFromObjectCaseSensitive(g0, "weights");
    cJSON_Delete(g0);
    /* The routed experts of every main layer (vLLM asks for "<layer>.mlp.experts.0.gate_proj"). */
    cJSON *t = cJSON_CreateArray();
    cJSON_AddItemToArray(t, cJSON_CreateString("re:.*mlp\\.experts\\.[0-9]+\\.(gate_proj|up_proj|down_proj)$"));
    cJSON_AddItemToObject(groups, "group_0", group(t, w, NULL, ds_ct_format_name(s)));
    if (n_fp8) {
        /* DeepSeek's FP8 blocks as the library's FP8_BLOCK scheme: 128x128 weight
         * blocks, activations quantized dynamically per group of 128. */
        cJSON *fw = cJSON_CreateObject();
        cJSON_AddNumberToObject(fw, "num_bits", 8);
        cJSON_AddStringToObject(fw, "type", "float");
        cJSON_AddBoolToObject(fw, "symmetric", 1);
        cJSON_AddNullToObject(fw, "group_size");
        cJSON_AddStringToObject(fw, "strategy", "block");
        cJSON *bs = cJSON_AddArrayToObject(fw, "block_structure");
        cJSON_AddItemToArray(bs, cJSON_CreateNumber(block[0]));
        cJSON_AddItemToArray(bs, cJSON_CreateNumber(block[1]));
        cJSON_AddBoolToObject(fw, "dynamic", 0);
        cJSON_AddNullToObject(fw, "actorder");
        cJSON *fi = cJSON_CreateObject();
        cJSON_AddNumberToObject(fi, "num_bits", 8);
        cJSON_AddStringToObject(fi, "type", "float");
        cJSON_AddBoolToObject(fi, "symmetric", 1);
        cJSON_AddNumberToObject(fi, "group_size", block[1]);
        cJSON_AddStringToObject(fi, "strategy", "group");
        cJSON_AddBoolToObject(fi, "dynamic", 1);
        cJSON_AddNullToObject(fi, "actorder");
        cJSON *ft = cJSON_CreateArray();
        for (int i = 0; i < n_fp8; i++) cJSON_AddItemToArray(ft, cJSON_CreateString(fp8[i]));
        cJSON_AddItemToObject(groups, "group_1", group(ft, fw, fi, "float-quantized"));
    }
    cJSON_ReplaceItemInObjectCaseSensitive(q, "format", cJSON_CreateString("mixed-precision"));
    return q;
}
