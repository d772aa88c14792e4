/* config.h - config.json of a DeepSeek-V3 family model, with transformers'
 * DeepseekV3Config defaults for absent fields. */
#ifndef DS_CONFIG_H
#define DS_CONFIG_H

#include <stdint.h>

/* The routing method of config.json, as enums: the strings are matched once,
 * exactly, in ds_config_parse; *_UNKNOWN is refused by verify's structure check. */
typedef enum { DS_SCORE_SIGMOID, DS_SCORE_SOFTMAX, DS_SCORE_UNKNOWN } ds_scoring;
typedef enum { DS_TOPK_NOAUX_TC, DS_TOPK_GREEDY, DS_TOPK_GROUP_LIMITED_GREEDY, DS_TOPK_UNKNOWN } ds_topk_method;

typedef struct {
    char model_type[64];
    int vocab_size;              /* 129280 */
    int hidden_size;             /* 7168 */
    int intermediate_size;       /* 18432 */
    int moe_intermediate_size;   /* 2048 */
    int num_hidden_layers;       /* 61 */
    int num_nextn_predict_layers;/* 1 */
    int num_attention_heads;     /* 128 */
    int num_key_value_heads;     /* 128 */
    int n_shared_experts;        /* 1 */
    int n_routed_experts;        /* 256 */
    int num_experts_per_tok;     /* 8 */
    int n_group;                 /* 8 */
    int topk_group;              /* 4 */
    int first_k_dense_replace;   /* 3 */
    int moe_layer_freq;          /* 1 */
    int q_lora_rank;             /* 1536; 0 means q_proj */
    int kv_lora_rank;            /* 512 */
    int qk_nope_head_dim;        /* 128 */
    int qk_rope_head_dim;        /* 64 */
    int v_head_dim;              /* 128 */
    double routed_scaling_factor;/* 2.5 */
    char scoring_func[16];       /* "sigmoid" | "softmax" (as written, for messages) */
    char topk_method[32];        /* "noaux_tc" | "greedy" | "group_limited_greedy" (as written) */
    ds_scoring scoring;          /* scoring_func, matched once (ds_config_parse) */
    ds_topk_method topk;         /* topk_method, matched once */
    int norm_topk_prob;          /* 1 */
    double rms_norm_eps;         /* 1e-6 */
    double rope_theta;           /* 10000 */
    int max_position_embeddings; /* 4096 in transformers' default */
    int tie_word_embeddings;     /* 0 */
    /* rope_scaling (type "yarn" or none) */
    int rope_yarn;               /* 1 when rope_scaling.type/rope_type == "yarn" */
    double rope_factor;          /* 1 when absent */
    int rope_original_max_pos;   /* original_max_position_embeddings */
    double rope_beta_fast;       /* 32 */
    double rope_beta_slow;       /* 1 */
    double rope_mscale;          /* 1 */
    double rope_mscale_all_dim;  /* 0 */
    /* quantization_config */
    /* quantization_config.scale_fmt: "ue8m0" (V3.1 and later: power-of-two scales) or "" */
    char scale_fmt[16];
    int has_quant;               /* quantization_config present */
    char quant_method[32];       /* "fp8", "compressed-tensors", ... */
    int weight_block_size[2];    /* [128,128] for fp8; 0 when absent */
    char torch_dtype[16];
    /* DeepSeek Sparse Attention's indexer (model_type deepseek_v32); transformers' defaults */
    int index_n_heads;           /* 64 */
    int index_head_dim;          /* 128 */
    int index_topk;              /* 2048 */
} ds_config;

/* Parses a config.json file. 0 or DS_EXIT_INPUT (not JSON, wrong types; message names the file). */
int ds_config_load(const char *path, ds_config *c);
int ds_config_parse(const char *path, const char *json, ds_config *c);
/* True when layer is a MoE layer. */
int ds_config_is_moe_layer(const ds_config *c, int layer);

#endif
