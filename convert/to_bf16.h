/* to_bf16.h - plan of to-bf16 (alias fp8-to-bf16): dequantize whatever the
 * checkpoint holds to BF16 (see to_bf16.c). */
#ifndef DS_TO_BF16_H
#define DS_TO_BF16_H
#include "convert/plan.h"
#include "kernels/kernels.h"

enum { DS_TO_BF16_MAX_SPECS = 16 };

/* specs: DS_TO_BF16_MAX_SPECS entries the caller keeps alive while the plan
 * runs (items point at them: one per distinct stored scheme). */
int ds_plan_to_bf16(const ds_ckpt *c, ds_quant_spec *specs, ds_plan *p);
#endif
