/* test_schema.c - the model schema (formats/schema.h): families by model_type,
 * what a config implies, name lookup and convert.py's names. */
#include "test.h"
#include "common/util.h"
#include "formats/config.h"
#include "formats/schema.h"

#include <string.h>

static ds_config cfg(const char *json) {
    ds_config c;
    if (ds_config_parse("t/config.json", json, &c)) memset(&c, 0, sizeof c);
    return c;
}

#define SMALL "\"vocab_size\":64,\"hidden_size\":32,\"num_hidden_layers\":2,\"num_nextn_predict_layers\":1," \
              "\"first_k_dense_replace\":1,\"n_routed_experts\":4,\"n_group\":1,\"topk_group\":1," \
              "\"num_experts_per_tok\":2,\"num_attention_heads\":2,\"q_lora_rank\":16,\"kv_lora_rank\":8," \
              "\"qk_nope_head_dim\":8,\"qk_rope_head_dim\":4,\"v_head_dim\":8,\"intermediate_size\":48," \
              "\"moe_intermediate_size\":16,\"n_shared_experts\":1"

typedef struct { int n, mtp, indexer; const char *want; int seen; int64_t s0, s1; } counter;
static void count(const ds_schema_tensor *t, void *ctx) {
    counter *x = ctx;
    x->n++;
    x->mtp += t->mtp;
    x->indexer += t->rule->role == DS_ROLE_INDEXER;
    if (x->want && !strcmp(t->name, x->want)) x->seen = 1, x->s0 = t->shape[0], x->s1 = t->shape[1];
}

TEST(families_by_model_type) {
    const ds_family *f;
    ds_config c = cfg("{\"model_type\":\"kimi_k2\"," SMALL "}");
    CHECK_EQ_INT(ds_schema_family("x", &c, &f), 0);
    CHECK(f && !strcmp(f->model_type, "kimi_k2") && !f->indexer);
    c = cfg("{\"model_type\":\"deepseek_v32\"," SMALL "}");
    CHECK_EQ_INT(ds_schema_family("x", &c, &f), 0);
    CHECK(f && f->indexer);
    c = cfg("{\"model_type\":\"glm_moe_dsa\"," SMALL "}");
    CHECK_EQ_INT(ds_schema_family("x", &c, &f), DS_EXIT_INPUT);
    CHECK(!f);
    c = cfg("{" SMALL "}"); /* absent: transformers' default deepseek_v3 */
    CHECK_EQ_INT(ds_schema_family("x", &c, &f), 0);
}

TEST(expected_tensors_v3_and_v32) {
    ds_config c = cfg("{\"model_type\":\"deepseek_v3\"," SMALL "}");
    counter a = {0};
    a.want = "model.layers.1.mlp.experts.3.down_proj.weight";
    ds_schema_expected(&c, ds_family_find("deepseek_v3"), 0, count, &a);
    /* embed, norm, lm_head; layer 0: 2 norms + q_a, q_norm, q_b, kv_a, kv_norm, kv_b, o + 3 MLP = 12;
     * layer 1: 9 + gate, bias, 4x3 experts, 3 shared = 26 */
    CHECK_EQ_INT(a.n, 3 + 12 + 26);
    CHECK(a.seen && a.s0 == 32 && a.s1 == 16);
    counter m = {0};
    ds_schema_expected(&c, ds_family_find("deepseek_v3"), 1, count, &m);
    CHECK_EQ_INT(m.mtp, 26 + 6); /* the MTP layer: a MoE layer and its 6 extras */
    ds_config v = cfg("{\"model_type\":\"deepseek_v32\",\"index_n_heads\":4,\"index_head_dim\":8,\"index_topk\":4,"
                      SMALL "}");
    counter b = {0};
    b.want = "model.layers.0.self_attn.indexer.wq_b.weight";
    ds_schema_expected(&v, ds_family_find("deepseek_v32"), 0, count, &b);
    CHECK_EQ_INT(b.indexer, 2 * 5);
    CHECK(b.seen && b.s0 == 32 && b.s1 == 16);
    CHECK_EQ_INT(v.index_topk, 4);
}

TEST(q_lora_null_means_q_proj) {
    ds_config c = cfg("{" SMALL "}");
    c.q_lora_rank = 0; /* what config.c makes of null (test_config: q_lora_rank_null_is_zero) */
    ds_schema_match m;
    const ds_family *f = ds_family_find("deepseek_v3");
    CHECK(ds_schema_lookup(&c, f, "model.layers.0.self_attn.q_proj.weight", &m));
    CHECK(!ds_schema_lookup(&c, f, "model.layers.0.self_attn.q_a_proj.weight", &m));
    if (!ds_schema_lookup(&c, f, "model.layers.0.self_attn.q_proj.weight", &m)) return;
    char buf[256];
    ds_schema_mp_name(&m, buf, sizeof buf);
    CHECK(!strcmp(buf, "layers.0.attn.wq.weight"));
    CHECK_EQ_INT(m.rule->split, DS_SPLIT_ROW);
}

TEST(lookup_and_convert_names) {
    ds_config c = cfg("{\"model_type\":\"deepseek_v32\",\"index_n_heads\":4,\"index_head_dim\":8,\"index_topk\":4,"
                      SMALL "}");
    const ds_family *f = ds_family_find("deepseek_v32");
    ds_schema_match m;
    char buf[256];
    static const struct { const char *hf, *mp; int split; } cases[] = {
        {"model.embed_tokens.weight", "embed.weight", DS_SPLIT_ROW},
        {"lm_head.weight", "head.weight", DS_SPLIT_ROW},
        {"model.layers.0.self_attn.q_b_proj.weight_scale_inv", "layers.0.attn.wq_b.scale", DS_SPLIT_ROW},
        {"model.layers.0.self_attn.o_proj.weight", "layers.0.attn.wo.weight", DS_SPLIT_COL},
        {"model.layers.1.self_attn.indexer.wq_b.weight_scale_inv", "layers.1.attn.indexer.wq_b.scale", DS_SPLIT_NONE},
        {"model.layers.1.self_attn.indexer.k_norm.bias", "layers.1.attn.indexer.k_norm.bias", DS_SPLIT_NONE},
        {"model.layers.1.mlp.gate.e_score_correction_bias", "layers.1.ffn.gate.bias", DS_SPLIT_NONE},
        {"model.layers.1.mlp.experts.3.gate_proj.weight_packed", "layers.1.ffn.experts.3.w1.weight_packed",
         DS_SPLIT_EXPERT},
        {"model.layers.1.mlp.shared_experts.down_proj.weight", "layers.1.ffn.shared_experts.w2.weight", DS_SPLIT_COL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECKF(ds_schema_lookup(&c, f, cases[i].hf, &m), "%s", cases[i].hf);
        if (!m.rule) continue;
        ds_schema_mp_name(&m, buf, sizeof buf);
        CHECKF(!strcmp(buf, cases[i].mp), "%s -> %s, not %s", cases[i].hf, buf, cases[i].mp);
        CHECK_EQ_INT(m.rule->split, cases[i].split);
    }
    /* not in this family or config */
    static const char *const unknown[] = {
        "model.layers.0.mlp.experts.0.gate_proj.weight",   /* layer 0 is dense */
        "model.layers.1.mlp.experts.4.gate_proj.weight",   /* only 4 experts */
        "model.layers.3.input_layernorm.weight",           /* 2 main + 1 MTP layers */
        "model.layers.1.mlp.gate_proj.weight",             /* layer 1 is MoE */
        "model.layers.0.eh_proj.weight",                   /* MTP extras only in MTP layers */
        "model.layers.01.input_layernorm.weight",
        "model.layers.0.self_attn.indexer.wq_b.bias",
        "model.layers.0.self_attn.indexer.k_norm.bias_scale_inv",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECKF(!ds_schema_lookup(&c, f, unknown[i], &m), "%s known", unknown[i]);
    CHECK(ds_schema_lookup(&c, f, "model.layers.2.eh_proj.weight", &m) && m.mtp && !m.rule->forward);
    /* the indexer is a V3.2 tensor only */
    ds_config v3 = c;
    strcpy(v3.model_type, "deepseek_v3");
    CHECK(!ds_schema_lookup(&v3, ds_family_find("deepseek_v3"), "model.layers.1.self_attn.indexer.wk.weight", &m));
}

TEST(config_reads_indexer_scale_fmt_and_kimi_fields) {
    ds_config c = cfg("{\"model_type\":\"kimi_k2\",\"routed_scaling_factor\":2.827,\"rope_theta\":50000,"
                      "\"rope_scaling\":{\"type\":\"yarn\",\"factor\":32,\"beta_fast\":1,\"beta_slow\":1},"
                      "\"quantization_config\":{\"quant_method\":\"fp8\",\"scale_fmt\":\"ue8m0\"}," SMALL "}");
    CHECK(c.routed_scaling_factor == 2.827 && c.rope_theta == 50000 && c.rope_factor == 32);
    CHECK(c.rope_beta_fast == 1 && c.rope_beta_slow == 1 && c.n_group == 1);
    CHECK(!strcmp(c.scale_fmt, "ue8m0"));
    ds_config bad;
    CHECK_EQ_INT(ds_config_parse("t", "{\"index_topk\":-1}", &bad), DS_EXIT_INPUT);
}

/* verify's step list names the weights it reads by DS_W_* keys: each key is
 * exactly one row, the rows the forward pass reads are exactly the keyed ones,
 * and a key's name and shape are its row's. */
TEST(forward_weights_are_rows) {
    int n, seen[DS_W_COUNT] = {0};
    const ds_tensor_rule *r = ds_schema_rules(&n);
    for (int i = 0; i < n; i++) {
        CHECKF(r[i].w >= DS_W_NONE && r[i].w < DS_W_COUNT, "%s: key %d", r[i].hf, (int)r[i].w);
        CHECKF((r[i].w != DS_W_NONE) == (r[i].forward != 0), "%s: forward %d but key %d", r[i].hf, r[i].forward,
               (int)r[i].w);
        if (r[i].w > DS_W_NONE && r[i].w < DS_W_COUNT) seen[r[i].w]++;
    }
    for (int w = DS_W_NONE + 1; w < DS_W_COUNT; w++) {
        CHECKF(seen[w] == 1, "forward weight %d has %d rows", w, seen[w]);
        if (seen[w]) CHECK(ds_schema_weight((ds_weight)w)->w == (ds_weight)w);
    }
    ds_config c = cfg("{\"model_type\":\"deepseek_v3\"," SMALL "}");
    char buf[160];
    CHECK(!strcmp(ds_schema_weight_name(DS_W_Q_B, 3, -1, buf, sizeof buf), "model.layers.3.self_attn.q_b_proj.weight"));
    CHECK(!strcmp(ds_schema_weight_name(DS_W_EXPERT_DOWN, 1, 7, buf, sizeof buf),
                  "model.layers.1.mlp.experts.7.down_proj.weight"));
    CHECK(!strcmp(ds_schema_weight_name(DS_W_SHARED_UP, 1, -1, buf, sizeof buf),
                  "model.layers.1.mlp.shared_experts.up_proj.weight"));
    CHECK(!strcmp(ds_schema_weight_name(DS_W_HEAD, 5, -1, buf, sizeof buf), "lm_head.weight"));
    int64_t d0, d1;
    ds_schema_weight_shape(&c, DS_W_KV_B, &d0, &d1);
    CHECK(d0 == 2 * (8 + 8) && d1 == 8);
    ds_schema_weight_shape(&c, DS_W_SHARED_DOWN, &d0, &d1);
    CHECK(d0 == 32 && d1 == 16);
    ds_schema_weight_shape(&c, DS_W_FFN_NORM, &d0, &d1);
    CHECK(d0 == 32 && d1 == 0);
}

TESTS_MAIN(T(forward_weights_are_rows), T(families_by_model_type), T(expected_tensors_v3_and_v32), T(q_lora_null_means_q_proj),
           T(lookup_and_convert_names), T(config_reads_indexer_scale_fmt_and_kimi_fields))
