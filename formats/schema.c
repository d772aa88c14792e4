/* schema.c - the families and the tensor table (see schema.h).
 *
 * Sources of the facts: the Hugging Face checkpoints' names and shapes
 * (transformers' DeepseekV3/DeepseekV32 modeling), DeepSeek's
 * inference/convert.py mapping table (V3; V3.2-Exp adds the indexer's wq_b,
 * wk, k_norm and weights_proj, all replicated) and which weights the FP8
 * releases store with a weight_scale_inv. */
#include "formats/schema.h"
#include "common/util.h"
#include "common/bug.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ds_family ds_families[] = {
    {"deepseek_v3", DS_FAM_V3, "DeepSeek-V3, V3-0324, R1, R1-0528, V3.1, V3.1-Terminus, Moonlight", 0, 1},
    {"deepseek_v32", DS_FAM_V32, "DeepSeek-V3.2-Exp, V3.2, V3.2-Speciale (DeepSeek Sparse Attention)", 1, 1},
    {"kimi_k2", DS_FAM_KIMI, "Kimi-K2, Kimi-K2-Thinking (DeepseekV3 architecture, Moonshot's settings)", 0, 0},
    {NULL, 0, NULL, 0, 0},
};

#define A DS_FAM_ALL
#define V32 DS_FAM_V32
/* linear quantize fp8 */
#define LIN_Q 1, 1, 1
#define LIN_KEEP 1, 0, 0
#define LIN_KEEP_FP8 1, 0, 1
#define PLAIN 0, 0, 0
static const ds_tensor_rule rules[] = {
    /* families at hf mp role d0 d1 cond linear quantize fp8 split forward w */
    {A, DS_AT_TOP, "model.embed_tokens.weight", "embed.weight", DS_ROLE_EMBED, DS_D_VOCAB, DS_D_HIDDEN, 0, PLAIN,
     DS_SPLIT_ROW, 1, DS_W_EMBED},
    {A, DS_AT_TOP, "model.norm.weight", "norm.weight", DS_ROLE_NORM, DS_D_HIDDEN, DS_D_NONE, 0, PLAIN, DS_SPLIT_NONE,
     1, DS_W_FINAL_NORM},
    {A, DS_AT_TOP, "lm_head.weight", "head.weight", DS_ROLE_HEAD, DS_D_VOCAB, DS_D_HIDDEN, DS_IF_UNTIED, LIN_KEEP,
     DS_SPLIT_ROW, 1, DS_W_HEAD},

    /* MTP layer extras (convert.py never sees them: it drops the MTP layer) */
    {A, DS_AT_MTP, "embed_tokens.weight", NULL, DS_ROLE_MTP, DS_D_VOCAB, DS_D_HIDDEN, 0, PLAIN, DS_SPLIT_NONE, 0, DS_W_NONE},
    {A, DS_AT_MTP, "enorm.weight", NULL, DS_ROLE_MTP, DS_D_HIDDEN, DS_D_NONE, 0, PLAIN, DS_SPLIT_NONE, 0, DS_W_NONE},
    {A, DS_AT_MTP, "hnorm.weight", NULL, DS_ROLE_MTP, DS_D_HIDDEN, DS_D_NONE, 0, PLAIN, DS_SPLIT_NONE, 0, DS_W_NONE},
    {A, DS_AT_MTP, "eh_proj.weight", NULL, DS_ROLE_MTP, DS_D_HIDDEN, DS_D_2HIDDEN, 0, LIN_KEEP, DS_SPLIT_NONE, 0, DS_W_NONE},

    /* every layer: norms and MLA */
    {A, DS_AT_LAYER, "input_layernorm.weight", "attn_norm.weight", DS_ROLE_NORM, DS_D_HIDDEN, DS_D_NONE, 0, PLAIN,
     DS_SPLIT_NONE, 1, DS_W_ATTN_NORM},
    {A, DS_AT_LAYER, "self_attn.q_a_proj.weight", "attn.wq_a.weight", DS_ROLE_ATTN, DS_D_Q_LORA, DS_D_HIDDEN,
     DS_IF_Q_LORA, LIN_Q, DS_SPLIT_NONE, 1, DS_W_Q_A},
    {A, DS_AT_LAYER, "self_attn.q_a_layernorm.weight", "attn.q_norm.weight", DS_ROLE_NORM, DS_D_Q_LORA, DS_D_NONE,
     DS_IF_Q_LORA, PLAIN, DS_SPLIT_NONE, 1, DS_W_Q_NORM},
    {A, DS_AT_LAYER, "self_attn.q_b_proj.weight", "attn.wq_b.weight", DS_ROLE_ATTN, DS_D_Q_OUT, DS_D_Q_LORA,
     DS_IF_Q_LORA, LIN_Q, DS_SPLIT_ROW, 1, DS_W_Q_B},
    {A, DS_AT_LAYER, "self_attn.q_proj.weight", "attn.wq.weight", DS_ROLE_ATTN, DS_D_Q_OUT, DS_D_HIDDEN,
     DS_IF_NO_Q_LORA, LIN_Q, DS_SPLIT_ROW, 1, DS_W_Q},
    {A, DS_AT_LAYER, "self_attn.kv_a_proj_with_mqa.weight", "attn.wkv_a.weight", DS_ROLE_ATTN, DS_D_KV_A_OUT,
     DS_D_HIDDEN, 0, LIN_Q, DS_SPLIT_NONE, 1, DS_W_KV_A},
    {A, DS_AT_LAYER, "self_attn.kv_a_layernorm.weight", "attn.kv_norm.weight", DS_ROLE_NORM, DS_D_KV_LORA, DS_D_NONE,
     0, PLAIN, DS_SPLIT_NONE, 1, DS_W_KV_NORM},
    {A, DS_AT_LAYER, "self_attn.kv_b_proj.weight", "attn.wkv_b.weight", DS_ROLE_ATTN, DS_D_KV_B_OUT, DS_D_KV_LORA, 0,
     LIN_Q, DS_SPLIT_ROW, 1, DS_W_KV_B},
    {A, DS_AT_LAYER, "self_attn.o_proj.weight", "attn.wo.weight", DS_ROLE_ATTN, DS_D_HIDDEN, DS_D_O_IN, 0, LIN_Q,
     DS_SPLIT_COL, 1, DS_W_O},

    /* DeepSeek Sparse Attention's lightning indexer (V3.2-Exp's convert.py: replicated) */
    {V32, DS_AT_LAYER, "self_attn.indexer.wq_b.weight", "attn.indexer.wq_b.weight", DS_ROLE_INDEXER, DS_D_IDX_Q_OUT,
     DS_D_Q_LORA, DS_IF_Q_LORA, LIN_KEEP_FP8, DS_SPLIT_NONE, 1, DS_W_IX_Q},
    {V32, DS_AT_LAYER, "self_attn.indexer.wk.weight", "attn.indexer.wk.weight", DS_ROLE_INDEXER, DS_D_IDX_HEAD,
     DS_D_HIDDEN, 0, LIN_KEEP_FP8, DS_SPLIT_NONE, 1, DS_W_IX_K},
    {V32, DS_AT_LAYER, "self_attn.indexer.k_norm.weight", "attn.indexer.k_norm.weight", DS_ROLE_INDEXER,
     DS_D_IDX_HEAD, DS_D_NONE, 0, PLAIN, DS_SPLIT_NONE, 1, DS_W_IX_K_NORM},
    {V32, DS_AT_LAYER, "self_attn.indexer.k_norm.bias", "attn.indexer.k_norm.bias", DS_ROLE_INDEXER, DS_D_IDX_HEAD,
     DS_D_NONE, 0, PLAIN, DS_SPLIT_NONE, 1, DS_W_IX_K_NORM_BIAS},
    {V32, DS_AT_LAYER, "self_attn.indexer.weights_proj.weight", "attn.indexer.weights_proj.weight", DS_ROLE_INDEXER,
     DS_D_IDX_HEADS, DS_D_HIDDEN, 0, LIN_KEEP, DS_SPLIT_NONE, 1, DS_W_IX_W},

    {A, DS_AT_LAYER, "post_attention_layernorm.weight", "ffn_norm.weight", DS_ROLE_NORM, DS_D_HIDDEN, DS_D_NONE, 0,
     PLAIN, DS_SPLIT_NONE, 1, DS_W_FFN_NORM},

    /* dense MLP */
    {A, DS_AT_DENSE, "mlp.gate_proj.weight", "ffn.w1.weight", DS_ROLE_MLP, DS_D_INTER, DS_D_HIDDEN, 0, LIN_Q,
     DS_SPLIT_ROW, 1, DS_W_GATE},
    {A, DS_AT_DENSE, "mlp.up_proj.weight", "ffn.w3.weight", DS_ROLE_MLP, DS_D_INTER, DS_D_HIDDEN, 0, LIN_Q,
     DS_SPLIT_ROW, 1, DS_W_UP},
    {A, DS_AT_DENSE, "mlp.down_proj.weight", "ffn.w2.weight", DS_ROLE_MLP, DS_D_HIDDEN, DS_D_INTER, 0, LIN_Q,
     DS_SPLIT_COL, 1, DS_W_DOWN},

    /* MoE: router, routed experts, shared experts */
    {A, DS_AT_MOE, "mlp.gate.weight", "ffn.gate.weight", DS_ROLE_ROUTER, DS_D_EXPERTS, DS_D_HIDDEN, 0, LIN_KEEP,
     DS_SPLIT_NONE, 1, DS_W_ROUTER},
    {A, DS_AT_MOE, "mlp.gate.e_score_correction_bias", "ffn.gate.bias", DS_ROLE_ROUTER_BIAS, DS_D_EXPERTS, DS_D_NONE,
     DS_IF_NOAUX, PLAIN, DS_SPLIT_NONE, 1, DS_W_ROUTER_BIAS},
    {A, DS_AT_EXPERT, "gate_proj.weight", "w1.weight", DS_ROLE_EXPERT, DS_D_MOE_INTER, DS_D_HIDDEN, 0, LIN_Q,
     DS_SPLIT_EXPERT, 1, DS_W_EXPERT_GATE},
    {A, DS_AT_EXPERT, "up_proj.weight", "w3.weight", DS_ROLE_EXPERT, DS_D_MOE_INTER, DS_D_HIDDEN, 0, LIN_Q,
     DS_SPLIT_EXPERT, 1, DS_W_EXPERT_UP},
    {A, DS_AT_EXPERT, "down_proj.weight", "w2.weight", DS_ROLE_EXPERT, DS_D_HIDDEN, DS_D_MOE_INTER, 0, LIN_Q,
     DS_SPLIT_EXPERT, 1, DS_W_EXPERT_DOWN},
    {A, DS_AT_MOE, "mlp.shared_experts.gate_proj.weight", "ffn.shared_experts.w1.weight", DS_ROLE_SHARED_EXPERT,
     DS_D_SHARED_INTER, DS_D_HIDDEN, DS_IF_SHARED, LIN_Q, DS_SPLIT_ROW, 1, DS_W_SHARED_GATE},
    {A, DS_AT_MOE, "mlp.shared_experts.up_proj.weight", "ffn.shared_experts.w3.weight", DS_ROLE_SHARED_EXPERT,
     DS_D_SHARED_INTER, DS_D_HIDDEN, DS_IF_SHARED, LIN_Q, DS_SPLIT_ROW, 1, DS_W_SHARED_UP},
    {A, DS_AT_MOE, "mlp.shared_experts.down_proj.weight", "ffn.shared_experts.w2.weight", DS_ROLE_SHARED_EXPERT,
     DS_D_HIDDEN, DS_D_SHARED_INTER, DS_IF_SHARED, LIN_Q, DS_SPLIT_COL, 1, DS_W_SHARED_DOWN},

    /* MTP layer tail */
    {A, DS_AT_MTP, "shared_head.norm.weight", NULL, DS_ROLE_MTP, DS_D_HIDDEN, DS_D_NONE, 0, PLAIN, DS_SPLIT_NONE, 0, DS_W_NONE},
    {A, DS_AT_MTP, "shared_head.head.weight", NULL, DS_ROLE_MTP, DS_D_VOCAB, DS_D_HIDDEN, 0, LIN_KEEP,
     DS_SPLIT_NONE, 0, DS_W_NONE},
};
#undef A
#undef V32
#define N_RULES ((int)(sizeof rules / sizeof rules[0]))

const ds_tensor_rule *ds_schema_rules(int *n) {
    *n = N_RULES;
    return rules;
}

const ds_family *ds_family_find(const char *model_type) {
    for (const ds_family *f = ds_families; f->model_type; f++)
        if (!strcmp(f->model_type, model_type)) return f;
    return NULL;
}

const char *ds_schema_supported(void) { return "deepseek_v3, deepseek_v32, kimi_k2"; }

int ds_schema_family(const char *path, const ds_config *c, const ds_family **f) {
    *f = ds_family_find(c->model_type);
    if (*f) return 0;
    return ds_fail(DS_EXIT_INPUT, "%s: config.json model_type \"%s\" is not supported (supported: %s)", path,
                   c->model_type, ds_schema_supported());
}

const char *ds_role_name(ds_role r) {
    static const char *const names[DS_ROLE_COUNT] = {
        "embedding", "norm", "attention", "indexer", "dense MLP", "router", "router bias",
        "shared expert", "routed expert", "lm_head", "MTP"};
    return r >= 0 && r < DS_ROLE_COUNT ? names[r] : "?";
}

int64_t ds_schema_dim(const ds_config *c, ds_dim d) {
    int64_t nh = c->num_attention_heads;
    switch (d) {
    case DS_D_NONE: return 0;
    case DS_D_HIDDEN: return c->hidden_size;
    case DS_D_2HIDDEN: return 2 * (int64_t)c->hidden_size;
    case DS_D_VOCAB: return c->vocab_size;
    case DS_D_Q_LORA: return c->q_lora_rank;
    case DS_D_Q_OUT: return nh * (c->qk_nope_head_dim + c->qk_rope_head_dim);
    case DS_D_KV_A_OUT: return (int64_t)c->kv_lora_rank + c->qk_rope_head_dim;
    case DS_D_KV_LORA: return c->kv_lora_rank;
    case DS_D_KV_B_OUT: return nh * (c->qk_nope_head_dim + c->v_head_dim);
    case DS_D_O_IN: return nh * c->v_head_dim;
    case DS_D_INTER: return c->intermediate_size;
    case DS_D_MOE_INTER: return c->moe_intermediate_size;
    case DS_D_SHARED_INTER: return (int64_t)c->moe_intermediate_size * c->n_shared_experts;
    case DS_D_EXPERTS: return c->n_routed_experts;
    case DS_D_IDX_Q_OUT: return (int64_t)c->index_n_heads * c->index_head_dim;
    case DS_D_IDX_HEAD: return c->index_head_dim;
    case DS_D_IDX_HEADS: return c->index_n_heads;
    }
    return 0;
}

int ds_schema_applies(const ds_config *c, const ds_family *f, const ds_tensor_rule *r) {
    if (!(r->families & f->bit)) return 0;
    if ((r->cond & DS_IF_Q_LORA) && c->q_lora_rank <= 0) return 0;
    if ((r->cond & DS_IF_NO_Q_LORA) && c->q_lora_rank > 0) return 0;
    if ((r->cond & DS_IF_NOAUX) && c->topk != DS_TOPK_NOAUX_TC) return 0;
    if ((r->cond & DS_IF_UNTIED) && c->tie_word_embeddings) return 0;
    if ((r->cond & DS_IF_SHARED) && c->n_shared_experts <= 0) return 0;
    return 1;
}

/* ------------------------------------------------------------ forward-pass weights */

const ds_tensor_rule *ds_schema_weight(ds_weight w) {
    for (int i = 0; w > DS_W_NONE && w < DS_W_COUNT && i < N_RULES; i++)
        if (rules[i].w == w) return &rules[i];
    DS_BUG("model schema: no row for forward-pass weight %d", (int)w);
}

const char *ds_schema_weight_name(ds_weight w, int L, int e, char *buf, size_t cap) {
    const ds_tensor_rule *r = ds_schema_weight(w);
    if (r->at == DS_AT_TOP) snprintf(buf, cap, "%s", r->hf);
    else if (r->at == DS_AT_EXPERT) snprintf(buf, cap, "model.layers.%d.mlp.experts.%d.%s", L, e, r->hf);
    else snprintf(buf, cap, "model.layers.%d.%s", L, r->hf);
    return buf;
}

void ds_schema_weight_shape(const ds_config *c, ds_weight w, int64_t *d0, int64_t *d1) {
    const ds_tensor_rule *r = ds_schema_weight(w);
    *d0 = ds_schema_dim(c, r->d0);
    *d1 = ds_schema_dim(c, r->d1);
}

/* ------------------------------------------------------------ enumeration */

static void emit(const ds_config *c, const ds_tensor_rule *r, const char *name, int layer, int expert, int mtp,
                 ds_schema_visit fn, void *ctx) {
    ds_schema_tensor t = {r, name, layer, expert, mtp, r->d1 == DS_D_NONE ? 1 : 2, {0, 0}};
    t.shape[0] = ds_schema_dim(c, r->d0);
    t.shape[1] = ds_schema_dim(c, r->d1);
    fn(&t, ctx);
}

static void visit_layer(const ds_config *c, const ds_family *f, int L, int mtp, ds_schema_visit fn, void *ctx) {
    int moe = ds_config_is_moe_layer(c, L);
    char n[256];
    for (int i = 0; i < N_RULES; i++) {
        const ds_tensor_rule *r = &rules[i];
        if (!ds_schema_applies(c, f, r)) continue;
        switch (r->at) {
        case DS_AT_TOP: continue;
        case DS_AT_MTP: if (!mtp) continue; break;
        case DS_AT_DENSE: if (moe) continue; break;
        case DS_AT_MOE: if (!moe) continue; break;
        case DS_AT_LAYER: break;
        case DS_AT_EXPERT:
            if (!moe) continue;
            for (int e = 0; e < c->n_routed_experts; e++) {
                snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%d.%s", L, e, r->hf);
                emit(c, r, n, L, e, mtp, fn, ctx);
            }
            continue;
        }
        snprintf(n, sizeof n, "model.layers.%d.%s", L, r->hf);
        emit(c, r, n, L, -1, mtp, fn, ctx);
    }
}

void ds_schema_expected(const ds_config *c, const ds_family *f, int mtp, ds_schema_visit fn, void *ctx) {
    /* embed_tokens before the layers, the other top-level tensors after (checkpoint order) */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < N_RULES; i++) {
            const ds_tensor_rule *r = &rules[i];
            if (r->at != DS_AT_TOP || (r->role == DS_ROLE_EMBED) != (pass == 0) || !ds_schema_applies(c, f, r))
                continue;
            emit(c, r, r->hf, -1, -1, 0, fn, ctx);
        }
        if (pass) break;
        for (int L = 0; L < c->num_hidden_layers; L++) visit_layer(c, f, L, 0, fn, ctx);
        if (mtp)
            for (int L = c->num_hidden_layers; L < c->num_hidden_layers + c->num_nextn_predict_layers; L++)
                visit_layer(c, f, L, 1, fn, ctx);
    }
}

/* ------------------------------------------------------------ lookup */

static const char *const ct_parts[] = {"weight_packed", "weight_scale", "weight_zero_point", "weight_shape",
                                       "weight_global_scale"};

/* name == pattern, or pattern "<module>.weight" and name "<module>.<storage suffix>". */
static int match_rule(const char *name, const ds_tensor_rule *r, ds_part *part, const char **suffix) {
    if (!strcmp(name, r->hf)) {
        *part = DS_PART_TENSOR;
        *suffix = strrchr(r->hf, '.') + 1;
        return 1;
    }
    if (!r->linear) return 0;
    size_t hl = strlen(r->hf);
    if (hl < 7 || strcmp(r->hf + hl - 7, ".weight")) return 0;
    size_t ml = hl - 6; /* module name and its dot */
    if (strncmp(name, r->hf, ml)) return 0;
    const char *s = name + ml;
    if (!strcmp(s, "weight_scale_inv")) {
        *part = DS_PART_SCALE_INV;
        *suffix = s;
        return 1;
    }
    for (size_t i = 0; i < sizeof ct_parts / sizeof ct_parts[0]; i++)
        if (!strcmp(s, ct_parts[i])) {
            *part = DS_PART_CT;
            *suffix = s;
            return 1;
        }
    return 0;
}

/* "<digits>." at s: the number and the rest after the dot, or -1. */
static long leading_index(const char *s, const char **rest) {
    if (!isdigit((unsigned char)*s)) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '.' || v > 100000000 || (s[0] == '0' && end - s > 1)) return -1;
    *rest = end + 1;
    return v;
}

int ds_schema_lookup(const ds_config *c, const ds_family *f, const char *name, ds_schema_match *m) {
    memset(m, 0, sizeof *m);
    m->layer = m->expert = -1;
    for (int i = 0; i < N_RULES; i++)
        if (rules[i].at == DS_AT_TOP && ds_schema_applies(c, f, &rules[i]) &&
            match_rule(name, &rules[i], &m->part, &m->suffix)) {
            m->rule = &rules[i];
            return 1;
        }
    const char *p = "model.layers.", *rest;
    if (strncmp(name, p, strlen(p))) return 0;
    long L = leading_index(name + strlen(p), &rest);
    if (L < 0 || L >= (long)c->num_hidden_layers + c->num_nextn_predict_layers) return 0;
    int mtp = L >= c->num_hidden_layers, moe = ds_config_is_moe_layer(c, (int)L);
    long E = -1;
    const char *ep = "mlp.experts.", *erest = NULL;
    if (!strncmp(rest, ep, strlen(ep))) {
        E = leading_index(rest + strlen(ep), &erest);
        if (E < 0 || !moe || E >= c->n_routed_experts) return 0;
    }
    for (int i = 0; i < N_RULES; i++) {
        const ds_tensor_rule *r = &rules[i];
        if (r->at == DS_AT_TOP || !ds_schema_applies(c, f, r)) continue;
        if ((r->at == DS_AT_EXPERT) != (E >= 0)) continue;
        if ((r->at == DS_AT_MTP && !mtp) || (r->at == DS_AT_DENSE && moe) || (r->at == DS_AT_MOE && !moe)) continue;
        if (!match_rule(E >= 0 ? erest : rest, r, &m->part, &m->suffix)) continue;
        m->rule = r;
        m->layer = (int)L;
        m->expert = (int)E;
        m->mtp = mtp;
        return 1;
    }
    return 0;
}

void ds_schema_mp_name(const ds_schema_match *m, char *buf, size_t cap) {
    const ds_tensor_rule *r = m->rule;
    const char *mp = r->mp ? r->mp : r->hf;
    /* the rule's module: mp without its last component */
    int ml = (int)(strrchr(mp, '.') - mp);
    const char *suffix = m->part == DS_PART_SCALE_INV ? "scale" : m->suffix;
    if (m->part == DS_PART_TENSOR) suffix = strrchr(mp, '.') + 1;
    if (r->at == DS_AT_TOP) snprintf(buf, cap, "%.*s.%s", ml, mp, suffix);
    else if (r->at == DS_AT_EXPERT) snprintf(buf, cap, "layers.%d.ffn.experts.%d.%.*s.%s", m->layer, m->expert, ml, mp, suffix);
    else snprintf(buf, cap, "layers.%d.%.*s.%s", m->layer, ml, mp, suffix);
}
