/* ct_config.h - config.json's "quantization_config" for a compressed-tensors
 * pack-quantized checkpoint (what vLLM and transformers read to load it). */
#ifndef DS_CT_CONFIG_H
#define DS_CT_CONFIG_H

#include <cjson/cJSON.h>
#include "quant/requant.h"

/* The object:
 *   {"quant_method": "compressed-tensors", "format": "pack-quantized",
 *    "quantization_status": "compressed",
 *    "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
 *        "num_bits", "type": "int", "symmetric", "strategy": "channel"|"group",
 *        "group_size": null|G, "block_structure": null, "dynamic": false,
 *        "actorder": null, "observer": "minmax"|"mse", "observer_kwargs": {}},
 *        "input_activations": null, "output_activations": null}},
 *    "ignore": [...], "kv_cache_scheme": null}
 * Only keys that compressed-tensors' QuantizationConfig / QuantizationScheme /
 * QuantizationArgs accept in every release that has pack-quantized with
 * zero points (the last two forbid unknown keys). Caller frees. */
cJSON *ds_ct_quant_config(const ds_quant_spec *s, const char *const *ignore, int n_ignore);

/* The compressed-tensors format of a spec: "pack-quantized",
 * "nvfp4-pack-quantized" or "mxfp4-pack-quantized". */
const char *ds_ct_format_name(const ds_quant_spec *s);

/* --experts-only: format "mixed-precision", one group per scheme, each with
 * its own "format": group_0 the routed experts (targets a regex vLLM's FusedMoE
 * lookup of "<layer>.mlp.experts.0.gate_proj" matches) in spec's format;
 * group_1, when n_fp8 > 0, the FP8 Linears kept as they were (targets: their
 * module names) as float-quantized block FP8 (the library's FP8_BLOCK). */
cJSON *ds_ct_mixed_config(const ds_quant_spec *s, const char *const *fp8, int n_fp8, const int block[2],
                          const char *const *ignore, int n_ignore);

/* Sets (replacing any old one) cfg's "quantization_config" to q (taken) and
 * "torch_dtype" to "bfloat16", the dtype of the unquantized tensors. */
void ds_ct_set_quant_config(cJSON *cfg, cJSON *q);

#endif
