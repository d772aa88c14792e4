/* test_config.c - config.json -> ds_config (formats/config.h): the dev-tiny
 * values, transformers' DeepseekV3Config defaults for absent fields (written
 * out here from its documented defaults), q_lora_rank null -> 0, rope_scaling
 * and quantization_config, and wrong types / not JSON -> exit 3 naming the
 * file (and the field). */
#define _GNU_SOURCE
#include "tests/unit/test.h"
#include "formats/config.h"
#include "common/util.h"

#include <stdlib.h>
#include <unistd.h>

/* ds_config_parse with stderr captured into *err (malloc'd). */
static int parse_capture(const char *path, const char *json, ds_config *c, char **err) {
    char tmpl[] = "/tmp/dsconv-test-config-err-XXXXXX";
    int efd = mkstemp(tmpl);
    if (efd < 0) { perror("mkstemp"); exit(4); }
    fflush(stderr);
    int saved = dup(2);
    if (saved < 0 || dup2(efd, 2) < 0) { perror("dup"); exit(4); }
    int rc = ds_config_parse(path, json, c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(efd);
    if (ds_read_file(tmpl, err, NULL) != 0) *err = xstrdup("");
    unlink(tmpl);
    return rc;
}

/* Fields are compared one by one so a failure names the field. */
#define EQ(field, v) CHECK_EQ_INT(c.field, v)
#define EQD(field, v) CHECKF(c.field == (v), "%s = %.17g, want %.17g", #field, (double)c.field, (double)(v))
#define EQS(field, v) CHECKF(strcmp(c.field, v) == 0, "%s = '%s', want '%s'", #field, c.field, v)

TEST(dev_tiny_values) {
    ds_config c;
    memset(&c, 0x5A, sizeof c);
    CHECK_EQ_INT(ds_config_load(DS_TEST_DATA "/dev-tiny/input/config.json", &c), 0);
    EQS(model_type, "deepseek_v3");
    EQ(vocab_size, 1024);
    EQ(hidden_size, 256);
    EQ(intermediate_size, 512);
    EQ(moe_intermediate_size, 256);
    EQ(num_hidden_layers, 2);
    EQ(num_nextn_predict_layers, 1);
    EQ(first_k_dense_replace, 1);
    EQ(moe_layer_freq, 1);
    EQ(num_attention_heads, 8);
    EQ(num_key_value_heads, 8);
    EQ(q_lora_rank, 192);
    EQ(kv_lora_rank, 128);
    EQ(qk_nope_head_dim, 32);
    EQ(qk_rope_head_dim, 32);
    EQ(v_head_dim, 32);
    EQ(n_routed_experts, 8);
    EQ(n_shared_experts, 2);
    EQ(num_experts_per_tok, 2);
    EQ(n_group, 4);
    EQ(topk_group, 2);
    EQD(routed_scaling_factor, 2.5);
    EQS(scoring_func, "sigmoid");
    EQS(topk_method, "noaux_tc");
    EQ(norm_topk_prob, 1);
    EQD(rms_norm_eps, 1e-6);
    EQ(max_position_embeddings, 163840);
    EQD(rope_theta, 10000);
    EQ(tie_word_embeddings, 0);
    EQ(rope_yarn, 1);
    EQD(rope_factor, 40);
    EQ(rope_original_max_pos, 4096);
    EQD(rope_beta_fast, 32);
    EQD(rope_beta_slow, 1);
    EQD(rope_mscale, 1.0);
    EQD(rope_mscale_all_dim, 1.0);
    EQ(has_quant, 1);
    EQS(quant_method, "fp8");
    EQ(weight_block_size[0], 128);
    EQ(weight_block_size[1], 128);
    EQS(torch_dtype, "bfloat16");
    /* Layer 0 is dense (first_k_dense_replace 1), 1 and the MTP layer 2 are MoE. */
    CHECK(!ds_config_is_moe_layer(&c, 0));
    CHECK(ds_config_is_moe_layer(&c, 1));
    CHECK(ds_config_is_moe_layer(&c, 2));
}

/* "{}": every field takes DeepseekV3Config's default (num_nextn_predict_layers,
 * moe_layer_freq, scoring_func and topk_method from DeepSeek's own
 * configuration_deepseek.py, which transformers' class leaves out). */
TEST(all_defaults) {
    ds_config c;
    memset(&c, 0x5A, sizeof c);
    char *err;
    CHECK_EQ_INT(parse_capture("cfg.json", "{}", &c, &err), 0);
    free(err);
    EQS(model_type, "deepseek_v3");
    EQ(vocab_size, 129280);
    EQ(hidden_size, 7168);
    EQ(intermediate_size, 18432);
    EQ(moe_intermediate_size, 2048);
    EQ(num_hidden_layers, 61);
    EQ(num_nextn_predict_layers, 1);
    EQ(num_attention_heads, 128);
    EQ(num_key_value_heads, 128);
    EQ(n_shared_experts, 1);
    EQ(n_routed_experts, 256);
    EQ(num_experts_per_tok, 8);
    EQ(n_group, 8);
    EQ(topk_group, 4);
    EQ(first_k_dense_replace, 3);
    EQ(moe_layer_freq, 1);
    EQ(q_lora_rank, 1536);
    EQ(kv_lora_rank, 512);
    EQ(qk_nope_head_dim, 128);
    EQ(qk_rope_head_dim, 64);
    EQ(v_head_dim, 128);
    EQD(routed_scaling_factor, 2.5);
    EQS(scoring_func, "sigmoid");
    EQS(topk_method, "noaux_tc");
    EQ(norm_topk_prob, 1);
    EQD(rms_norm_eps, 1e-6);
    EQD(rope_theta, 10000);
    EQ(max_position_embeddings, 4096);
    EQ(tie_word_embeddings, 0);
    EQ(rope_yarn, 0);           /* rope_scaling None */
    EQD(rope_factor, 1);
    EQ(has_quant, 0);           /* no quantization_config */
    EQ(weight_block_size[0], 0);
    EQ(weight_block_size[1], 0);
    CHECK(!ds_config_is_moe_layer(&c, 2));
    CHECK(ds_config_is_moe_layer(&c, 3));
    CHECK(ds_config_is_moe_layer(&c, 60));
}

/* Fields present take their values, absent ones keep defaults, one by one. */
TEST(partial_config_mixes_values_and_defaults) {
    ds_config c;
    char *err;
    CHECK_EQ_INT(parse_capture("cfg.json",
                               "{\"hidden_size\": 512, \"num_hidden_layers\": 4, \"n_routed_experts\": 16,"
                               " \"scoring_func\": \"softmax\", \"topk_method\": \"greedy\", \"norm_topk_prob\": false,"
                               " \"tie_word_embeddings\": true, \"rms_norm_eps\": 1e-5, \"torch_dtype\": \"float16\","
                               " \"moe_layer_freq\": 2, \"first_k_dense_replace\": 0, \"num_nextn_predict_layers\": 0,"
                               " \"some_unknown_field\": [1, 2]}",
                               &c, &err), 0);
    free(err);
    EQ(hidden_size, 512);
    EQ(num_hidden_layers, 4);
    EQ(n_routed_experts, 16);
    EQS(scoring_func, "softmax");
    EQS(topk_method, "greedy");
    EQ(norm_topk_prob, 0);
    EQ(tie_word_embeddings, 1);
    EQD(rms_norm_eps, 1e-5);
    EQS(torch_dtype, "float16");
    EQ(num_nextn_predict_layers, 0);
    EQ(first_k_dense_replace, 0);
    EQ(moe_layer_freq, 2);
    EQ(vocab_size, 129280);     /* absent: default */
    EQ(q_lora_rank, 1536);
    EQ(kv_lora_rank, 512);
    EQ(n_group, 8);
    /* moe_layer_freq 2: MoE on even layers from first_k_dense_replace on. */
    CHECK(ds_config_is_moe_layer(&c, 0));
    CHECK(!ds_config_is_moe_layer(&c, 1));
    CHECK(ds_config_is_moe_layer(&c, 2));
}

TEST(q_lora_rank_null_is_zero) {
    ds_config c;
    char *err;
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"q_lora_rank\": null}", &c, &err), 0);
    free(err);
    EQ(q_lora_rank, 0);
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"q_lora_rank\": 768}", &c, &err), 0);
    free(err);
    EQ(q_lora_rank, 768);
    /* Other integer fields given as null keep their defaults. */
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"hidden_size\": null}", &c, &err), 0);
    free(err);
    EQ(hidden_size, 7168);
}

TEST(rope_scaling_forms) {
    ds_config c;
    char *err;
    /* transformers' newer spelling rope_type. */
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 8,"
                               " \"original_max_position_embeddings\": 2048, \"beta_fast\": 16, \"beta_slow\": 2,"
                               " \"mscale\": 0.5, \"mscale_all_dim\": 0.75}}", &c, &err), 0);
    free(err);
    EQ(rope_yarn, 1);
    EQD(rope_factor, 8);
    EQ(rope_original_max_pos, 2048);
    EQD(rope_beta_fast, 16);
    EQD(rope_beta_slow, 2);
    EQD(rope_mscale, 0.5);
    EQD(rope_mscale_all_dim, 0.75);
    /* Only type and factor: the yarn defaults for the rest. */
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 40}}", &c, &err), 0);
    free(err);
    EQ(rope_yarn, 1);
    EQD(rope_factor, 40);
    EQD(rope_beta_fast, 32);
    EQD(rope_beta_slow, 1);
    EQD(rope_mscale, 1);
    EQD(rope_mscale_all_dim, 0);
    EQ(rope_original_max_pos, 4096); /* = max_position_embeddings' default */
    /* Another type is not yarn; null is no scaling. */
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}}", &c, &err), 0);
    free(err);
    EQ(rope_yarn, 0);
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"rope_scaling\": null}", &c, &err), 0);
    free(err);
    EQ(rope_yarn, 0);
    EQD(rope_factor, 1);
}

/* transformers' YaRN takes original_max_position_embeddings from rope_scaling,
 * or else max_position_embeddings ("... or config.max_position_embeddings"). */
TEST(rope_original_max_pos_defaults_to_max_position_embeddings) {
    ds_config c;
    char *err;
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"max_position_embeddings\": 163840,"
                               " \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 40}}", &c, &err), 0);
    free(err);
    EQ(max_position_embeddings, 163840);
    EQ(rope_original_max_pos, 163840);
}

TEST(quantization_config_forms) {
    ds_config c;
    char *err;
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"quantization_config\": {\"quant_method\": \"fp8\", \"fmt\": \"e4m3\","
                               " \"activation_scheme\": \"dynamic\", \"weight_block_size\": [64, 32]}}", &c, &err), 0);
    free(err);
    EQ(has_quant, 1);
    EQS(quant_method, "fp8");
    EQ(weight_block_size[0], 64);
    EQ(weight_block_size[1], 32);
    /* A method without blocks (compressed-tensors). */
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"quantization_config\": {\"quant_method\": \"compressed-tensors\"}}", &c,
                               &err), 0);
    free(err);
    EQ(has_quant, 1);
    EQS(quant_method, "compressed-tensors");
    EQ(weight_block_size[0], 0);
    CHECK_EQ_INT(parse_capture("cfg.json", "{\"quantization_config\": null}", &c, &err), 0);
    free(err);
    EQ(has_quant, 0);
}

/* Each wrong-typed field: exit 3, message naming the file and the field. */
TEST(wrong_types_exit_3) {
    static const struct { const char *json, *field; } bad[] = {
        {"{\"hidden_size\": \"7168\"}", "hidden_size"},
        {"{\"hidden_size\": 7168.5}", "hidden_size"},
        {"{\"num_hidden_layers\": true}", "num_hidden_layers"},
        {"{\"q_lora_rank\": \"none\"}", "q_lora_rank"},
        {"{\"n_routed_experts\": [256]}", "n_routed_experts"},
        {"{\"num_nextn_predict_layers\": 1.5}", "num_nextn_predict_layers"},
        {"{\"vocab_size\": 1e12}", "vocab_size"},
        {"{\"routed_scaling_factor\": \"2.5\"}", "routed_scaling_factor"},
        {"{\"rms_norm_eps\": {}}", "rms_norm_eps"},
        {"{\"norm_topk_prob\": \"yes\"}", "norm_topk_prob"},
        {"{\"tie_word_embeddings\": 0}", "tie_word_embeddings"},
        {"{\"scoring_func\": 1}", "scoring_func"},
        {"{\"model_type\": [\"deepseek_v3\"]}", "model_type"},
        {"{\"rope_scaling\": \"yarn\"}", "rope_scaling"},
        {"{\"rope_scaling\": {\"type\": \"yarn\", \"factor\": \"40\"}}", "factor"},
        {"{\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 40, \"original_max_position_embeddings\": 4096.5}}",
         "original_max_position_embeddings"},
        {"{\"quantization_config\": [\"fp8\"]}", "quantization_config"},
        {"{\"quantization_config\": {\"quant_method\": 8}}", "quant_method"},
        {"{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [128]}}", "weight_block_size"},
        {"{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [128, \"128\"]}}",
         "weight_block_size"},
        {"{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [0, 128]}}", "weight_block_size"},
        {"{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": 128}}", "weight_block_size"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_config c;
        char *err;
        int rc = parse_capture("/some/dir/config.json", bad[i].json, &c, &err);
        CHECKF(rc == DS_EXIT_INPUT, "%s: rc %d, wanted 3", bad[i].json, rc);
        CHECKF(strstr(err, "/some/dir/config.json") != NULL, "%s: file not named: %s", bad[i].json, err);
        CHECKF(strstr(err, bad[i].field) != NULL, "%s: field %s not named: %s", bad[i].json, bad[i].field, err);
        free(err);
    }
}

/* A block size is a whole number of elements; 128.5 must not become 128. */
TEST(weight_block_size_must_be_integers) {
    const char *bad[] = {
        "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [128.5, 128]}}",
        "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [128, 1.25]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_config c;
        char *err;
        int rc = parse_capture("/some/dir/config.json", bad[i], &c, &err);
        CHECKF(rc == DS_EXIT_INPUT, "%s: rc %d, wanted 3 (block %d x %d)", bad[i], rc, c.weight_block_size[0],
               c.weight_block_size[1]);
        CHECK_STR_CONTAINS(err, "weight_block_size");
        free(err);
    }
}

/* Values of the right type that cannot describe a model. */
TEST(impossible_values_exit_3) {
    const char *bad[] = {
        "{\"hidden_size\": 0}", "{\"vocab_size\": -5}", "{\"num_attention_heads\": 0}",
        "{\"num_hidden_layers\": -1}", "{\"n_routed_experts\": 10, \"n_group\": 4}", "{\"n_group\": 0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_config c;
        char *err;
        int rc = parse_capture("cfg.json", bad[i], &c, &err);
        CHECKF(rc == DS_EXIT_INPUT, "%s: rc %d, wanted 3", bad[i], rc);
        CHECK_STR_CONTAINS(err, "cfg.json");
        free(err);
    }
}

TEST(not_json_exit_3) {
    const char *bad[] = {"", "{", "{\"hidden_size\": 7168,}", "not json at all", "[1, 2, 3]", "\"deepseek\"", "42",
                         "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_config c;
        char *err;
        int rc = parse_capture("/x/config.json", bad[i], &c, &err);
        CHECKF(rc == DS_EXIT_INPUT, "'%s': rc %d, wanted 3", bad[i], rc);
        CHECKF(strstr(err, "/x/config.json") != NULL, "'%s': file not named: %s", bad[i], err);
        free(err);
    }
}

/* ds_config_load on a file: the path is what the message names. */
TEST(load_from_file) {
    char tmpl[] = "/tmp/dsconv-test-config-XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    const char *txt = "{\"hidden_size\": \"big\"}";
    CHECK(write(fd, txt, strlen(txt)) == (ssize_t)strlen(txt));
    close(fd);
    ds_config c;
    fflush(stderr);
    char etmpl[] = "/tmp/dsconv-test-config-err-XXXXXX";
    int efd = mkstemp(etmpl), saved = dup(2);
    dup2(efd, 2);
    int rc = ds_config_load(tmpl, &c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved); close(efd);
    char *err = NULL;
    CHECK_EQ_INT(ds_read_file(etmpl, &err, NULL), 0);
    unlink(etmpl);
    CHECK_EQ_INT(rc, DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, tmpl);
    free(err);
    unlink(tmpl);
}

/* The routing strings become enums once, matched exactly: a name that only
 * starts like a known one is unknown (verify's structure check refuses it). */
TEST(routing_method_enums) {
    static const struct { const char *json; ds_scoring sc; ds_topk_method tk; } cases[] = {
        {"{}", DS_SCORE_SIGMOID, DS_TOPK_NOAUX_TC},
        {"{\"scoring_func\": \"softmax\", \"topk_method\": \"greedy\"}", DS_SCORE_SOFTMAX, DS_TOPK_GREEDY},
        {"{\"topk_method\": \"group_limited_greedy\"}", DS_SCORE_SIGMOID, DS_TOPK_GROUP_LIMITED_GREEDY},
        {"{\"topk_method\": \"group_limited\"}", DS_SCORE_SIGMOID, DS_TOPK_UNKNOWN},
        {"{\"topk_method\": \"group_limited_greedy_v2\"}", DS_SCORE_SIGMOID, DS_TOPK_UNKNOWN},
        {"{\"scoring_func\": \"sigmoid2\", \"topk_method\": \"noaux_tc\"}", DS_SCORE_UNKNOWN, DS_TOPK_NOAUX_TC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ds_config c;
        char *err;
        CHECK_EQ_INT(parse_capture("cfg.json", cases[i].json, &c, &err), 0);
        free(err);
        CHECKF(c.scoring == cases[i].sc && c.topk == cases[i].tk, "%s: scoring %d topk %d", cases[i].json,
               (int)c.scoring, (int)c.topk);
    }
}

TESTS_MAIN(T(dev_tiny_values), T(all_defaults), T(partial_config_mixes_values_and_defaults), T(routing_method_enums),
           T(q_lora_rank_null_is_zero), T(rope_scaling_forms), T(rope_original_max_pos_defaults_to_max_position_embeddings),
           T(quantization_config_forms), T(wrong_types_exit_3), T(weight_block_size_must_be_integers), T(impossible_values_exit_3), T(not_json_exit_3),
           T(load_from_file))
