/* requant_plan.h - the plan of requant: quantized Linears become
 * compressed-tensors pack-quantized tensors, everything else BF16 or as stored. */
#ifndef DS_REQUANT_PLAN_H
#define DS_REQUANT_PLAN_H
#include "convert/plan.h"
#include "quant/requant.h"

/* spec must outlive the plan (items point at it). ignore: --ignore patterns. */
int ds_plan_requant(const ds_ckpt *c, const ds_quant_spec *spec, const char *const *ignore, int n_ignore,
                    ds_plan *p);
#endif
