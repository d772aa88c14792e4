/* shard_mp.h - the plan of shard-for-mp: DeepSeek's inference/convert.py
 * layout for N model-parallel ranks, streamed instead of held in memory. */
#ifndef DS_SHARD_MP_H
#define DS_SHARD_MP_H
#include "convert/plan.h"

typedef struct {
    int mp;          /* ranks */
    int n_experts;   /* 0: config's n_routed_experts */
    int to_bf16;     /* --dtype bf16: dequantize FP8 while resharding */
} ds_mp_opts;

int ds_plan_shard_mp(const ds_ckpt *c, const ds_mp_opts *o, ds_plan *p);
#endif
