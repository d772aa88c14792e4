/* fp8_to_bf16.h - plan builders of the lossless commands. */
#ifndef DS_FP8_TO_BF16_H
#define DS_FP8_TO_BF16_H
#include "convert/plan.h"

/* fp8-to-bf16: every F8_E4M3 weight dequantized with its weight_scale_inv, the
 * scales dropped, everything else copied; shards keep their names and
 * tensors; index (scale entries removed) and config.json (no
 * quantization_config, torch_dtype bfloat16) rewritten; other files copied. */
int ds_plan_fp8_to_bf16(const ds_ckpt *c, ds_plan *p);
/* strip-mtp: every tensor of layers >= num_hidden_layers dropped. */
int ds_plan_strip_mtp(const ds_ckpt *c, ds_plan *p);
#endif
