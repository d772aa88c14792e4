/* config.c - config.json -> ds_config, with transformers' DeepseekV3Config
 * defaults for absent fields (num_nextn_predict_layers from DeepSeek's own
 * configuration_deepseek.py, since transformers does not model MTP). */
#include "formats/config.h"
#include "common/util.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void defaults(ds_config *c) {
    memset(c, 0, sizeof *c);
    strcpy(c->model_type, "deepseek_v3");
    c->vocab_size = 129280;
    c->hidden_size = 7168;
    c->intermediate_size = 18432;
    c->moe_intermediate_size = 2048;
    c->num_hidden_layers = 61;
    c->num_nextn_predict_layers = 1;
    c->num_attention_heads = 128;
    c->num_key_value_heads = 128;
    c->n_shared_experts = 1;
    c->n_routed_experts = 256;
    c->num_experts_per_tok = 8;
    c->n_group = 8;
    c->topk_group = 4;
    c->first_k_dense_replace = 3;
    c->moe_layer_freq = 1;
    c->q_lora_rank = 1536;
    c->kv_lora_rank = 512;
    c->qk_nope_head_dim = 128;
    c->qk_rope_head_dim = 64;
    c->v_head_dim = 128;
    c->routed_scaling_factor = 2.5;
    strcpy(c->scoring_func, "sigmoid");
    strcpy(c->topk_method, "noaux_tc");
    c->scoring = DS_SCORE_SIGMOID;
    c->topk = DS_TOPK_NOAUX_TC;
    c->norm_topk_prob = 1;
    c->rms_norm_eps = 1e-6;
    c->rope_theta = 10000;
    c->max_position_embeddings = 4096;
    c->rope_factor = 1;
    c->rope_original_max_pos = 4096;
    c->rope_beta_fast = 32;
    c->rope_beta_slow = 1;
    c->rope_mscale = 1;
    c->rope_mscale_all_dim = 0;
    strcpy(c->torch_dtype, "bfloat16");
    c->index_n_heads = 64;
    c->index_head_dim = 128;
    c->index_topk = 2048;
}

typedef struct { const char *path; const cJSON *obj; } src;

/* Integer field: absent or null keeps the default; anything but a whole number is an error. */
static int get_int(src s, const char *key, int *out, int null_value) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s.obj, key);
    if (!v) return 0;
    if (cJSON_IsNull(v)) { if (null_value >= 0) *out = null_value; return 0; }
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble || fabs(v->valuedouble) > 2e9)
        return ds_fail(DS_EXIT_INPUT, "%s: field %s must be an integer", s.path, key);
    *out = (int)v->valuedouble;
    return 0;
}

static int get_num(src s, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s.obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v)) return ds_fail(DS_EXIT_INPUT, "%s: field %s must be a number", s.path, key);
    *out = v->valuedouble;
    return 0;
}

static int get_bool(src s, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s.obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return ds_fail(DS_EXIT_INPUT, "%s: field %s must be true or false", s.path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_str(src s, const char *key, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s.obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return ds_fail(DS_EXIT_INPUT, "%s: field %s must be a string", s.path, key);
    snprintf(out, cap, "%s", v->valuestring);
    return 0;
}

static int positive(const char *path, const char *key, int v) {
    return v > 0 ? 0 : ds_fail(DS_EXIT_INPUT, "%s: field %s must be positive (is %d)", path, key, v);
}

int ds_config_parse(const char *path, const char *json, ds_config *c) {
    defaults(c);
    cJSON *root;
    int rc = ds_json_parse(path, NULL, json, strlen(json), &root);
    if (rc) return rc;
    if (!cJSON_IsObject(root)) { rc = ds_fail(DS_EXIT_INPUT, "%s: not a JSON object", path); goto out; }
    src s = {path, root};
#define I(k) if ((rc = get_int(s, #k, &c->k, -1))) goto out
    I(vocab_size); I(hidden_size); I(intermediate_size); I(moe_intermediate_size); I(num_hidden_layers);
    I(num_nextn_predict_layers); I(num_attention_heads); I(num_key_value_heads); I(n_shared_experts);
    I(n_routed_experts); I(num_experts_per_tok); I(n_group); I(topk_group); I(first_k_dense_replace);
    I(moe_layer_freq); I(kv_lora_rank); I(qk_nope_head_dim); I(qk_rope_head_dim); I(v_head_dim);
    I(max_position_embeddings);
    I(index_n_heads); I(index_head_dim); I(index_topk);
#undef I
    /* transformers: an absent original_max_position_embeddings means max_position_embeddings */
    c->rope_original_max_pos = c->max_position_embeddings;
    if ((rc = get_int(s, "q_lora_rank", &c->q_lora_rank, 0))) goto out;
    if ((rc = get_num(s, "routed_scaling_factor", &c->routed_scaling_factor))) goto out;
    if ((rc = get_num(s, "rms_norm_eps", &c->rms_norm_eps))) goto out;
    if ((rc = get_num(s, "rope_theta", &c->rope_theta))) goto out;
    if ((rc = get_bool(s, "norm_topk_prob", &c->norm_topk_prob))) goto out;
    if ((rc = get_bool(s, "tie_word_embeddings", &c->tie_word_embeddings))) goto out;
    if ((rc = get_str(s, "model_type", c->model_type, sizeof c->model_type))) goto out;
    if ((rc = get_str(s, "scoring_func", c->scoring_func, sizeof c->scoring_func))) goto out;
    if ((rc = get_str(s, "topk_method", c->topk_method, sizeof c->topk_method))) goto out;
    c->scoring = !strcmp(c->scoring_func, "sigmoid") ? DS_SCORE_SIGMOID
               : !strcmp(c->scoring_func, "softmax") ? DS_SCORE_SOFTMAX : DS_SCORE_UNKNOWN;
    c->topk = !strcmp(c->topk_method, "noaux_tc") ? DS_TOPK_NOAUX_TC
            : !strcmp(c->topk_method, "greedy") ? DS_TOPK_GREEDY
            : !strcmp(c->topk_method, "group_limited_greedy") ? DS_TOPK_GROUP_LIMITED_GREEDY : DS_TOPK_UNKNOWN;
    if ((rc = get_str(s, "torch_dtype", c->torch_dtype, sizeof c->torch_dtype))) goto out;

    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        if (!cJSON_IsObject(rs)) { rc = ds_fail(DS_EXIT_INPUT, "%s: rope_scaling must be an object", path); goto out; }
        src r = {path, rs};
        char type[32] = "";
        if ((rc = get_str(r, "type", type, sizeof type))) goto out;
        if (!type[0] && (rc = get_str(r, "rope_type", type, sizeof type))) goto out;
        c->rope_yarn = strcmp(type, "yarn") == 0;
        if ((rc = get_num(r, "factor", &c->rope_factor))) goto out;
        if ((rc = get_int(r, "original_max_position_embeddings", &c->rope_original_max_pos, -1))) goto out;
        if ((rc = get_num(r, "beta_fast", &c->rope_beta_fast))) goto out;
        if ((rc = get_num(r, "beta_slow", &c->rope_beta_slow))) goto out;
        if ((rc = get_num(r, "mscale", &c->rope_mscale))) goto out;
        if ((rc = get_num(r, "mscale_all_dim", &c->rope_mscale_all_dim))) goto out;
    }
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    if (qc && !cJSON_IsNull(qc)) {
        if (!cJSON_IsObject(qc)) { rc = ds_fail(DS_EXIT_INPUT, "%s: quantization_config must be an object", path); goto out; }
        c->has_quant = 1;
        src q = {path, qc};
        if ((rc = get_str(q, "quant_method", c->quant_method, sizeof c->quant_method))) goto out;
        if ((rc = get_str(q, "scale_fmt", c->scale_fmt, sizeof c->scale_fmt))) goto out;
        const cJSON *bs = cJSON_GetObjectItemCaseSensitive(qc, "weight_block_size");
        if (bs && !cJSON_IsNull(bs)) {
            if (!cJSON_IsArray(bs) || cJSON_GetArraySize(bs) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(bs, 0)) ||
                !cJSON_IsNumber(cJSON_GetArrayItem(bs, 1)) || cJSON_GetArrayItem(bs, 0)->valuedouble < 1 ||
                cJSON_GetArrayItem(bs, 1)->valuedouble < 1 || cJSON_GetArrayItem(bs, 0)->valuedouble > 1e6 ||
                cJSON_GetArrayItem(bs, 1)->valuedouble > 1e6 ||
                floor(cJSON_GetArrayItem(bs, 0)->valuedouble) != cJSON_GetArrayItem(bs, 0)->valuedouble ||
                floor(cJSON_GetArrayItem(bs, 1)->valuedouble) != cJSON_GetArrayItem(bs, 1)->valuedouble) {
                rc = ds_fail(DS_EXIT_INPUT, "%s: quantization_config.weight_block_size must be two positive integers", path);
                goto out;
            }
            c->weight_block_size[0] = (int)cJSON_GetArrayItem(bs, 0)->valuedouble;
            c->weight_block_size[1] = (int)cJSON_GetArrayItem(bs, 1)->valuedouble;
        }
    }
    /* Sanity: the fields that size tensors must be positive, the rest non-negative. */
    if ((rc = positive(path, "hidden_size", c->hidden_size)) || (rc = positive(path, "vocab_size", c->vocab_size)) ||
        (rc = positive(path, "num_attention_heads", c->num_attention_heads)) ||
        (rc = positive(path, "kv_lora_rank", c->kv_lora_rank)) ||
        (rc = positive(path, "qk_rope_head_dim", c->qk_rope_head_dim)) ||
        (rc = positive(path, "v_head_dim", c->v_head_dim)))
        goto out;
    if (c->num_hidden_layers < 0 || c->num_nextn_predict_layers < 0 || c->q_lora_rank < 0 ||
        c->n_routed_experts < 0 || c->first_k_dense_replace < 0 || c->n_shared_experts < 0 ||
        c->index_n_heads < 0 || c->index_head_dim < 0 || c->index_topk < 0) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: a layer, expert or indexer count is negative", path);
        goto out;
    }
    if (c->n_routed_experts && (c->n_group <= 0 || c->n_routed_experts % c->n_group != 0)) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: n_routed_experts (%d) must be a multiple of n_group (%d)", path,
                     c->n_routed_experts, c->n_group);
        goto out;
    }
out:
    cJSON_Delete(root);
    return rc;
}

int ds_config_load(const char *path, ds_config *c) {
    char *buf;
    DS_TRY(ds_read_file_max(path, DS_MAX_CONFIG_BYTES, &buf, NULL));
    int rc = ds_config_parse(path, buf, c);
    free(buf);
    return rc;
}

int ds_config_is_moe_layer(const ds_config *c, int layer) {
    return c->n_routed_experts > 0 && layer >= c->first_k_dense_replace &&
           (c->moe_layer_freq <= 1 || layer % c->moe_layer_freq == 0);
}
