/* requant_plan.h - the plan of requant: quantized Linears become
 * compressed-tensors pack-quantized tensors, everything else BF16 or as stored. */
#ifndef DS_REQUANT_PLAN_H
#define DS_REQUANT_PLAN_H
#include "convert/plan.h"
#include "quant/requant.h"

/* spec must outlive the plan (items point at it). ignore: --ignore patterns. */
int ds_plan_requant(const ds_ckpt *c, const ds_quant_spec *spec, const char *const *ignore, int n_ignore,
                    ds_plan *p);
/* Options beyond the spec (all 0: ds_plan_requant). */
typedef struct {
    int experts_only; /* quantize only the routed experts; FP8 Linears stay FP8 (float-quantized) */
} ds_requant_opts;
int ds_plan_requant_ex(const ds_ckpt *c, const ds_quant_spec *spec, const char *const *ignore, int n_ignore,
                       const ds_requant_opts *o, ds_plan *p);
#endif
