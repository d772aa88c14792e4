/* test_quant_rules.c - which tensors requant quantizes (on the dev-tiny
 * fixture's names and shapes), the ignore list with vLLM's fused groups, the
 * --ignore patterns, and config.json's quantization_config. */
#include "test.h"
#include "common/util.h"
#include "formats/hf.h"
#include "quant/ct_config.h"
#include "quant/qrules.h"
#include "quant/requant.h"

#include <stdlib.h>
#include <string.h>

static ds_ckpt g_ckpt;
static int g_open = -1;

static const ds_ckpt *fixture(void) {
    if (g_open < 0) g_open = ds_ckpt_open(DS_TEST_DATA "/dev-tiny/input", &g_ckpt) == 0;
    return g_open ? &g_ckpt : NULL;
}

/* The ignore list for the fixture with spec and patterns; NULL on error (rc set). */
static char **ignore_list(const ds_quant_spec *s, const char *const *pats, int np, int *n, int *rc) {
    const ds_ckpt *c = fixture();
    *n = 0;
    if (!c) {
        *rc = -1;
        return NULL;
    }
    ds_qrules *r;
    *rc = ds_qrules_new(&r, &c->config, s, pats, np);
    if (*rc) return NULL;
    ds_qr_tensor *t = xcalloc((size_t)c->n_entries, sizeof *t);
    for (int i = 0; i < c->n_entries; i++)
        t[i] = (ds_qr_tensor){c->entries[i].name, c->entries[i].info->ndim, c->entries[i].info->shape};
    char **list = NULL;
    *rc = ds_qrules_ignore_list(r, t, c->n_entries, &list, n);
    free(t);
    ds_qrules_free(r);
    return list;
}

static int list_is(char **list, int n, const char *const *want, int nw) {
    if (n != nw) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], want[i])) return 0;
    return 1;
}

static void print_list(char **list, int n) {
    for (int i = 0; i < n; i++) fprintf(stderr, "  ignore[%d] = %s\n", i, list[i]);
}

static ds_qr_decision decide(const ds_quant_spec *s, const char *const *pats, int np, const char *name, int *rc) {
    const ds_ckpt *c = fixture();
    ds_qr_decision d = {DS_QR_KEEP, 0, "none", NULL};
    const ds_ckpt_entry *e = c ? ds_ckpt_find(c, name) : NULL;
    *rc = -1;
    if (!e) return d;
    ds_qrules *r;
    *rc = ds_qrules_new(&r, &c->config, s, pats, np);
    if (*rc) return d;
    *rc = ds_qrules_decide(r, name, e->info->ndim, e->info->shape, &d);
    static char pat[256]; /* the rules own d.pattern: keep a copy past their end */
    if (d.pattern) snprintf(pat, sizeof pat, "%s", d.pattern), d.pattern = pat;
    ds_qrules_free(r);
    return d;
}

TEST(fixture_opens) { CHECK(fixture() != NULL); }

TEST(default_int4_ignore_list) {
    ds_quant_spec s;
    ds_quant_spec_default(&s, 4);
    int n, rc;
    char **l = ignore_list(&s, NULL, 0, &n, &rc);
    CHECK_EQ_INT(rc, 0);
    /* q_b_proj's input (q_lora_rank 192) is not a multiple of 128. */
    const char *want[] = {"lm_head", "model.layers.0.self_attn.q_b_proj", "model.layers.1.mlp.gate",
                          "model.layers.1.self_attn.q_b_proj", "re:model\\.layers\\.2\\."};
    int ok = list_is(l, n, want, 5);
    if (!ok) print_list(l, n);
    CHECK(ok);
    ds_qrules_list_free(l, n);
}

TEST(default_int8_ignore_list) {
    ds_quant_spec s;
    ds_quant_spec_default(&s, 8);
    int n, rc;
    char **l = ignore_list(&s, NULL, 0, &n, &rc);
    CHECK_EQ_INT(rc, 0);
    const char *want[] = {"lm_head", "model.layers.1.mlp.gate", "re:model\\.layers\\.2\\."};
    int ok = list_is(l, n, want, 3);
    if (!ok) print_list(l, n);
    CHECK(ok);
    ds_qrules_list_free(l, n);
}

TEST(decisions_per_tensor) {
    ds_quant_spec s;
    ds_quant_spec_default(&s, 4);
    int rc;
    struct {
        const char *name;
        ds_qr_action a;
        int linear;
    } cases[] = {
        {"model.layers.0.self_attn.q_a_proj.weight", DS_QR_QUANTIZE, 1},
        {"model.layers.0.self_attn.kv_a_proj_with_mqa.weight", DS_QR_QUANTIZE, 1},
        {"model.layers.0.self_attn.kv_b_proj.weight", DS_QR_QUANTIZE, 1},
        {"model.layers.0.self_attn.o_proj.weight", DS_QR_QUANTIZE, 1},
        {"model.layers.0.self_attn.q_b_proj.weight", DS_QR_KEEP, 1},
        {"model.layers.0.mlp.down_proj.weight", DS_QR_QUANTIZE, 1},
        {"model.layers.1.mlp.shared_experts.up_proj.weight", DS_QR_QUANTIZE, 1},
        {"model.layers.1.mlp.experts.7.down_proj.weight", DS_QR_QUANTIZE, 1},
        {"model.layers.1.mlp.experts.7.down_proj.weight_scale_inv", DS_QR_DROP, 0},
        {"model.layers.1.mlp.gate.weight", DS_QR_KEEP, 1},
        {"model.layers.1.mlp.gate.e_score_correction_bias", DS_QR_KEEP, 0},
        {"model.layers.1.input_layernorm.weight", DS_QR_KEEP, 0},
        {"model.layers.1.self_attn.kv_a_layernorm.weight", DS_QR_KEEP, 0},
        {"model.layers.2.self_attn.o_proj.weight", DS_QR_KEEP, 1},
        {"model.layers.2.mlp.experts.0.up_proj.weight", DS_QR_KEEP, 1},
        {"model.layers.2.eh_proj.weight", DS_QR_KEEP, 1},
        {"model.layers.2.shared_head.head.weight", DS_QR_KEEP, 1},
        {"model.layers.2.enorm.weight", DS_QR_KEEP, 0},
        {"model.layers.2.embed_tokens.weight", DS_QR_KEEP, 0},
        {"model.embed_tokens.weight", DS_QR_KEEP, 0},
        {"model.norm.weight", DS_QR_KEEP, 0},
        {"lm_head.weight", DS_QR_KEEP, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ds_qr_decision d = decide(&s, NULL, 0, cases[i].name, &rc);
        CHECKF(rc == 0 && d.action == cases[i].a && d.is_linear == cases[i].linear,
               "%s: rc %d action %d linear %d (%s)", cases[i].name, rc, (int)d.action, d.is_linear,
               d.reason ? d.reason : "-");
    }
    /* The kept q_b_proj says why. */
    ds_qr_decision d = decide(&s, NULL, 0, "model.layers.0.self_attn.q_b_proj.weight", &rc);
    CHECK_STR_CONTAINS(d.reason, "group size");
}

TEST(ignore_keeps_fused_partner) {
    ds_quant_spec s;
    ds_quant_spec_default(&s, 8);
    const char *p1[] = {"model.layers.0.mlp.up_proj"};
    int n, rc;
    char **l = ignore_list(&s, p1, 1, &n, &rc);
    CHECK_EQ_INT(rc, 0);
    const char *w1[] = {"lm_head", "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
                        "model.layers.1.mlp.gate", "re:model\\.layers\\.2\\."};
    int ok = list_is(l, n, w1, 5);
    if (!ok) print_list(l, n);
    CHECK(ok);
    ds_qrules_list_free(l, n);
    ds_qr_decision d = decide(&s, p1, 1, "model.layers.0.mlp.gate_proj.weight", &rc);
    CHECK(rc == 0 && d.action == DS_QR_KEEP && d.pattern && !strcmp(d.pattern, p1[0]));
    CHECK_STR_CONTAINS(d.reason, "fused partner");
    d = decide(&s, p1, 1, "model.layers.0.mlp.down_proj.weight", &rc); /* not fused with gate/up */
    CHECK(rc == 0 && d.action == DS_QR_QUANTIZE);

    const char *p2[] = {"re:model\\.layers\\.[0-9]+\\.self_attn\\.q_a"};
    l = ignore_list(&s, p2, 1, &n, &rc);
    CHECK_EQ_INT(rc, 0);
    const char *w2[] = {"lm_head",
                        "model.layers.0.self_attn.kv_a_proj_with_mqa",
                        "model.layers.0.self_attn.q_a_proj",
                        "model.layers.1.mlp.gate",
                        "model.layers.1.self_attn.kv_a_proj_with_mqa",
                        "model.layers.1.self_attn.q_a_proj",
                        "re:model\\.layers\\.2\\."};
    ok = list_is(l, n, w2, 7);
    if (!ok) print_list(l, n);
    CHECK(ok);
    ds_qrules_list_free(l, n);
}

TEST(ignore_one_expert_keeps_the_layer_experts) {
    ds_quant_spec s;
    ds_quant_spec_default(&s, 4);
    const char *pats[][1] = {{"model.layers.1.mlp.experts.3.down_proj"}, {"re:model\\.layers\\.1\\.mlp\\.experts$"}};
    for (int k = 0; k < 2; k++) {
        int n, rc;
        char **l = ignore_list(&s, pats[k], 1, &n, &rc);
        CHECK_EQ_INT(rc, 0);
        const char *want[] = {"lm_head", "model.layers.0.self_attn.q_b_proj", "model.layers.1.mlp.gate",
                              "model.layers.1.self_attn.q_b_proj", "re:model\\.layers\\.1\\.mlp\\.experts($|\\.)",
                              "re:model\\.layers\\.2\\."};
        int ok = list_is(l, n, want, 6);
        if (!ok) print_list(l, n);
        CHECK(ok);
        ds_qrules_list_free(l, n);
        ds_qr_decision d = decide(&s, pats[k], 1, "model.layers.1.mlp.experts.0.gate_proj.weight", &rc);
        CHECK(rc == 0 && d.action == DS_QR_KEEP);
        d = decide(&s, pats[k], 1, "model.layers.1.mlp.shared_experts.gate_proj.weight", &rc);
        CHECK(rc == 0 && d.action == DS_QR_QUANTIZE);
    }
}

/* The written list, given back as --ignore, keeps exactly the same tensors:
 * its patterns mean to our matcher what they mean to vLLM's. */
TEST(ignore_list_is_a_fixed_point) {
    ds_quant_spec s;
    ds_quant_spec_default(&s, 4);
    const char *p[] = {"model.layers.1.mlp.experts.5.up_proj", "model.layers.0.self_attn.o_proj"};
    int n, rc, n2, rc2;
    char **l = ignore_list(&s, p, 2, &n, &rc);
    CHECK_EQ_INT(rc, 0);
    char **l2 = ignore_list(&s, (const char *const *)l, n, &n2, &rc2);
    CHECK_EQ_INT(rc2, 0);
    int ok = l && l2 && list_is(l2, n2, (const char *const *)l, n);
    if (!ok) print_list(l2, n2);
    CHECK(ok);
    ds_qrules_list_free(l, n);
    ds_qrules_list_free(l2, n2);
}

TEST(patterns_anchor_at_start_and_refuse_python_syntax) {
    ds_quant_spec s;
    ds_quant_spec_default(&s, 8);
    int rc;
    /* re.match semantics: "self_attn" is not at the start of any name. */
    const char *p1[] = {"re:self_attn"};
    ds_qr_decision d = decide(&s, p1, 1, "model.layers.0.self_attn.o_proj.weight", &rc);
    CHECK(rc == 0 && d.action == DS_QR_QUANTIZE);
    const char *p2[] = {"re:.*o_proj"};
    d = decide(&s, p2, 1, "model.layers.0.self_attn.o_proj.weight", &rc);
    CHECK(rc == 0 && d.action == DS_QR_KEEP && d.pattern && !strcmp(d.pattern, p2[0]));
    /* Exact names match module names, not tensor names. */
    const char *p3[] = {"model.layers.0.self_attn.o_proj.weight"};
    d = decide(&s, p3, 1, "model.layers.0.self_attn.o_proj.weight", &rc);
    CHECK(rc == 0 && d.action == DS_QR_QUANTIZE);
    const ds_ckpt *c = fixture();
    if (!c) return;
    const char *bad[] = {"re:model\\.layers\\.\\d+\\.mlp", "re:(abc", "re:.*?o_proj", "re:(?:x)"};
    for (int i = 0; i < 4; i++) {
        ds_qrules *r = NULL;
        CHECKF(ds_qrules_new(&r, &c->config, &s, &bad[i], 1) == DS_EXIT_USAGE, "%s accepted", bad[i]);
        ds_qrules_free(r);
    }
}

TEST(shape_rules_and_errors) {
    const ds_ckpt *c = fixture();
    if (!c) {
        CHECK(0);
        return;
    }
    ds_config cfg = c->config;
    /* Asymmetric INT4 needs rows % 8 == 0 (packed zero points): a kv_a with
     * 132 rows is kept, and with it its fused partner q_a. */
    cfg.kv_lora_rank = 100;
    ds_quant_spec s = {4, 128, 0, 0, 0};
    ds_qrules *r;
    CHECK_EQ_INT(ds_qrules_new(&r, &cfg, &s, NULL, 0), 0);
    ds_qr_decision d;
    int64_t kv[2] = {132, 256}, qa[2] = {192, 256}, bad3[3] = {1, 2, 3}, ex[2] = {256, 128};
    CHECK_EQ_INT(ds_qrules_decide(r, "model.layers.0.self_attn.kv_a_proj_with_mqa.weight", 2, kv, &d), 0);
    CHECK(d.action == DS_QR_KEEP);
    CHECK_EQ_INT(ds_qrules_decide(r, "model.layers.0.self_attn.q_a_proj.weight", 2, qa, &d), 0);
    CHECK(d.action == DS_QR_KEEP);
    CHECK_STR_CONTAINS(d.reason, "fused partner");
    CHECK_EQ_INT(ds_qrules_decide(r, "model.layers.0.self_attn.o_proj.weight", 3, bad3, &d), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_qrules_decide(r, "model.layers.1.mlp.experts.2.up_proj.weight", 2, ex, &d), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_qrules_decide(r, "model.layers.0.mlp.experts.2.up_proj.weight", 2, qa, &d), DS_EXIT_INPUT);
    ds_qrules_free(r);
    /* Group 64 on INT8: q_b_proj (input 192) is quantized. */
    s = (ds_quant_spec){8, 64, 1, 0, 0};
    CHECK_EQ_INT(ds_qrules_new(&r, &c->config, &s, NULL, 0), 0);
    int64_t qb[2] = {512, 192};
    CHECK_EQ_INT(ds_qrules_decide(r, "model.layers.0.self_attn.q_b_proj.weight", 2, qb, &d), 0);
    CHECK(d.action == DS_QR_QUANTIZE);
    ds_qrules_free(r);
}

/* Exactly these keys, no others: compressed-tensors' QuantizationArgs and
 * QuantizationScheme forbid unknown ones. */
static int keys_are(const cJSON *o, const char *const *keys, int n) {
    int count = 0;
    for (const cJSON *it = o ? o->child : NULL; it; it = it->next) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= !strcmp(it->string, keys[i]);
        if (!found) {
            fprintf(stderr, "unexpected key %s\n", it->string);
            return 0;
        }
        count++;
    }
    return count == n;
}

TEST(config_json_keys_and_values) {
    const char *ign[] = {"lm_head", "re:model\\.layers\\.61\\."};
    ds_quant_spec s4;
    ds_quant_spec_default(&s4, 4);
    cJSON *q = ds_ct_quant_config(&s4, ign, 2);
    const char *top[] = {"quant_method", "format", "quantization_status", "config_groups", "ignore",
                         "kv_cache_scheme"};
    CHECK(keys_are(q, top, 6));
    CHECK(!strcmp(cJSON_GetObjectItem(q, "quant_method")->valuestring, "compressed-tensors"));
    CHECK(!strcmp(cJSON_GetObjectItem(q, "format")->valuestring, "pack-quantized"));
    CHECK(!strcmp(cJSON_GetObjectItem(q, "quantization_status")->valuestring, "compressed"));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(q, "kv_cache_scheme")));
    const cJSON *ig = cJSON_GetObjectItem(q, "ignore");
    CHECK(cJSON_GetArraySize(ig) == 2 && !strcmp(cJSON_GetArrayItem(ig, 1)->valuestring, ign[1]));
    const cJSON *groups = cJSON_GetObjectItem(q, "config_groups");
    const char *gk[] = {"group_0"};
    CHECK(keys_are(groups, gk, 1));
    const cJSON *g = cJSON_GetObjectItem(groups, "group_0");
    const char *sk[] = {"targets", "weights", "input_activations", "output_activations"};
    CHECK(keys_are(g, sk, 4));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(g, "input_activations")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(g, "output_activations")));
    const cJSON *tg = cJSON_GetObjectItem(g, "targets");
    CHECK(cJSON_GetArraySize(tg) == 1 && !strcmp(cJSON_GetArrayItem(tg, 0)->valuestring, "Linear"));
    const cJSON *w = cJSON_GetObjectItem(g, "weights");
    const char *wk[] = {"num_bits", "type",     "symmetric", "strategy", "group_size",
                        "block_structure", "dynamic", "actorder", "observer", "observer_kwargs"};
    CHECK(keys_are(w, wk, 10));
    CHECK(cJSON_GetObjectItem(w, "num_bits")->valueint == 4);
    CHECK(!strcmp(cJSON_GetObjectItem(w, "type")->valuestring, "int"));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(w, "symmetric")));
    CHECK(!strcmp(cJSON_GetObjectItem(w, "strategy")->valuestring, "group"));
    CHECK(cJSON_GetObjectItem(w, "group_size")->valueint == 128);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(w, "block_structure")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(w, "dynamic")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(w, "actorder")));
    CHECK(!strcmp(cJSON_GetObjectItem(w, "observer")->valuestring, "minmax"));
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(w, "observer_kwargs")) &&
          !cJSON_GetObjectItem(w, "observer_kwargs")->child);
    cJSON_Delete(q);

    ds_quant_spec s8 = {8, 0, 0, 1, 0};
    q = ds_ct_quant_config(&s8, NULL, 0);
    w = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(q, "config_groups"), "group_0"), "weights");
    CHECK(cJSON_GetObjectItem(w, "num_bits")->valueint == 8);
    CHECK(!strcmp(cJSON_GetObjectItem(w, "strategy")->valuestring, "channel"));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(w, "group_size")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(w, "symmetric")));
    CHECK(!strcmp(cJSON_GetObjectItem(w, "observer")->valuestring, "mse"));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(q, "ignore")) == 0);

    /* Put into a config.json: replaces the FP8 block, torch_dtype bfloat16. */
    cJSON *cfg = cJSON_Parse("{\"model_type\":\"deepseek_v3\",\"torch_dtype\":\"float8\","
                             "\"quantization_config\":{\"quant_method\":\"fp8\"}}");
    ds_ct_set_quant_config(cfg, q);
    const cJSON *qc = cJSON_GetObjectItem(cfg, "quantization_config");
    CHECK(qc && !strcmp(cJSON_GetObjectItem(qc, "quant_method")->valuestring, "compressed-tensors"));
    CHECK(!strcmp(cJSON_GetObjectItem(cfg, "torch_dtype")->valuestring, "bfloat16"));
    cJSON_Delete(cfg);
}

TESTS_MAIN(T(fixture_opens), T(default_int4_ignore_list), T(default_int8_ignore_list), T(decisions_per_tensor),
           T(ignore_keeps_fused_partner), T(ignore_one_expert_keeps_the_layer_experts),
           T(ignore_list_is_a_fixed_point), T(patterns_anchor_at_start_and_refuse_python_syntax),
           T(shape_rules_and_errors), T(config_json_keys_and_values))
