/* sample_gen.h - deterministic synthetic DeepSeek-V3-shaped checkpoints.
 *
 * Writes config.json, generation_config.json, tokenizer_config.json and the
 * weights (FP8 e4m3 with 128x128 F32 block scales, or BF16) as the real
 * DeepSeek-V3 Hugging Face checkpoint names and shapes them, split over
 * several model-0000K-of-0000N.safetensors shards with an index, or one
 * model.safetensors. The defaults are a tiny model (a few MB) that has what
 * toy inputs usually miss: dims that are not multiples of 128, a scale stored
 * in another shard than its weight, an MTP layer, dense and MoE layers; every
 * split dim and every scale's split dim divides by 4 (model-parallel 2 and 4).
 *
 * Every tensor's bytes depend only on (seed, tensor name, shape, options), not
 * on the shard layout or the thread count: the generator is counter based. */
#ifndef DS_SAMPLE_GEN_H
#define DS_SAMPLE_GEN_H

#include <stdint.h>
#include "formats/dtype.h"

typedef struct {
    const char *out;          /* output directory (created) */
    int hidden;               /* hidden_size */
    int layers;               /* num_hidden_layers (main layers) */
    int mtp;                  /* num_nextn_predict_layers */
    int dense;                /* first_k_dense_replace */
    int experts;              /* n_routed_experts */
    int shared;               /* n_shared_experts */
    int topk;                 /* num_experts_per_tok */
    int groups;               /* n_group */
    int topk_groups;          /* topk_group */
    int heads;                /* num_attention_heads */
    int q_lora;               /* q_lora_rank; 0 writes self_attn.q_proj instead of q_a/q_b */
    int kv_lora;              /* kv_lora_rank */
    int nope;                 /* qk_nope_head_dim */
    int rope;                 /* qk_rope_head_dim */
    int v_dim;                /* v_head_dim */
    int inter;                /* intermediate_size (dense MLP) */
    int moe_inter;            /* moe_intermediate_size (one expert) */
    int vocab;                /* vocab_size */
    int shards;               /* shard files; 0 = auto (~5 GB each) */
    uint64_t seed;
    int ue8m0;                /* power-of-two block scales, scale_fmt "ue8m0" */
    int bf16;                 /* BF16 weights, no scales, no quantization_config */
    int single_file;          /* one model.safetensors, no index (shards ignored) */
    int fast;                 /* FP8 bytes from a Gaussian byte table and nominal
                               * per-block scales instead of exact amax/448 (GB-sized output) */
    int quiet;                /* no progress lines on stderr */
    /* --family (ds_sample_family): what sets one member of the V3 format family apart */
    const char *model_type;   /* config.json model_type; NULL: "deepseek_v3" */
    int index_heads;          /* index_n_heads; > 0 writes V3.2's lightning indexer in every layer */
    int index_dim;            /* index_head_dim */
    int index_topk;           /* index_topk */
    int kimi;                 /* Moonshot's settings: routed_scaling_factor 2.827, rope_theta 50000, YaRN
                               * factor 32 with beta_fast 1 and beta_slow 1 */
    int int4_experts;         /* routed experts as compressed-tensors pack-quantized INT4 (symmetric,
                               * group 32: weight_packed, weight_scale, weight_shape); the rest BF16 */
    int f32_norms;            /* norm weights stored F32 */
    int odd_oproj_scales;     /* with ue8m0: o_proj keeps exact amax/448 scales, not powers of two */
} ds_sample_opts;

/* --family NAME: v3 | v32 | kimi | kimi-thinking | terminus | moonlight, applied
 * over the defaults. DS_EXIT_USAGE naming the known ones. */
int ds_sample_family(ds_sample_opts *o, const char *name);
#define DS_SAMPLE_FAMILIES "v3, v32, kimi, kimi-thinking, terminus, moonlight"

/* The tiny default model. */
void ds_sample_defaults(ds_sample_opts *o);

/* --profile v3-bench: DeepSeek-V3's real shapes (hidden 7168, 128 heads, ...,
 * experts of 2048x7168, vocab 129280) with as many layers and routed experts
 * (a multiple of 16) as fit size_gb (10^9 bytes). Below what one real dense
 * and one MoE layer need (about 5.3 GB), the same structure is scaled down by
 * the smallest power of two k that fits (hidden/k, vocab/k, ...; *scale_down
 * = k, 1 for real shapes). Every split dim divides by 16 in all cases, so
 * model-parallel up to 16 works. mtp < 0 means "one MTP layer when it fits".
 * Keeps o->out, seed, ue8m0, bf16, single_file, shards; sets fast.
 * DS_EXIT_USAGE when even k = 32 does not fit. */
int ds_sample_profile_v3_bench(ds_sample_opts *o, double size_gb, int mtp, int *scale_down);

/* Checks the options are consistent. 0 or DS_EXIT_USAGE naming the option. */
int ds_sample_check(const ds_sample_opts *o);

/* One planned tensor. */
typedef struct {
    char name[96];
    ds_dtype dtype;
    int ndim;
    int64_t shape[2];
    int shard;                /* 0-based shard file */
    uint64_t bytes;
} ds_sample_tensor;

/* The full tensor list in file order with its shard assignment (malloc'd;
 * free(*out)). 0 or DS_EXIT_USAGE. */
int ds_sample_plan(const ds_sample_opts *o, ds_sample_tensor **out, int *n, int *n_shards);

/* Sum of tensor bytes (the index's metadata.total_size) without building names. */
uint64_t ds_sample_total_bytes(const ds_sample_opts *o);

/* Writes the checkpoint. 0, DS_EXIT_USAGE or DS_EXIT_IO. */
int ds_sample_generate(const ds_sample_opts *o);

/* Shard file name for shard k (0-based) of n, e.g. "model-00001-of-00003.safetensors". */
void ds_sample_shard_name(char *buf, size_t len, int k, int n);

#endif
