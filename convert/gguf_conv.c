/* gguf_conv.c - to-gguf plan, metadata and streaming writer (see gguf_conv.h).
 *
 * Every rule here is read from llama.cpp's converter (convert_hf_to_gguf.py,
 * conversion/base.py and conversion/deepseek.py, gguf-py; llama-cpp-python
 * 0.3.36 sdist) and checked against its output (tests/tools/gguf_ref.py):
 * - order: shards in sorted order, each shard's tensors sorted by name; FP8
 *   scales dropped; layers >= num_hidden_layers (MTP) skipped (deepseek2;
 *   deepseek32 keeps them as blocks with nextn.* tensors);
 * - routed experts of a layer are held back until all 3*E of them have been
 *   seen, then written stacked as ffn_down_exps, ffn_gate_exps, ffn_up_exps;
 * - kv_b_proj [H*(nope+v), kv_lora] becomes attn_k_b [H, kv_lora, nope] (the
 *   nope rows of each head, transposed) and attn_v_b [H, v, kv_lora];
 * - F32: 1-D tensors, *_norm.weight, ffn_gate_inp, names not ending .weight
 *   (exp_probs_b.bias); Q8_0 where the row length is not a multiple of 32
 *   falls back to F16. */
#include "convert/gguf_conv.h"
#include "convert/gguf_vocab.h"
#include "convert/gguf_sampling.h"
#include "convert/gguf_card.h"
#include "convert/gguf_stream.h"
#include "convert/plan.h"
#include "kernels/kernels.h"
#include "kernels/gguf_quant.h"
#include "kernels/device.h"
#include "common/bug.h"
#include "common/util.h"

#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- family ------------------------------------------------------------- */
/* llama.cpp architectures to-gguf writes (bits, for the name tables below). */
enum { ARCH_DS2 = 1, ARCH_DS32 = 2, ARCH_ALL = 3 };

/* model_type values to-gguf writes, and as which llama.cpp architecture.
 * deepseek32 (conversion/deepseek.py DeepseekV32Model): deepseek2's tensors
 * plus the indexer's, the MTP layers kept as blocks L..L+nextn-1 (nextn.*),
 * and the indexer's keys. (Kept here, not in the model schema, so it is one
 * line to switch over.) */
typedef struct {
    const char *model_type, *arch;
    int bit;
    int transformers;   /* transformers 5.17 knows the model_type: its config class fills defaults */
    int keep_mtp;       /* MTP layers written (deepseek2 skips them) */
} gguf_family;
static const gguf_family GGUF_FAMILIES[] = {
    {"deepseek_v3", "deepseek2", ARCH_DS2, 1, 0},
    {"kimi_k2", "deepseek2", ARCH_DS2, 0, 0},
    {"deepseek_v32", "deepseek32", ARCH_DS32, 1, 1},
};

static const gguf_family *family_of(const char *mt) {
    for (size_t i = 0; i < sizeof GGUF_FAMILIES / sizeof *GGUF_FAMILIES; i++)
        if (!strcmp(GGUF_FAMILIES[i].model_type, mt)) return &GGUF_FAMILIES[i];
    return NULL;
}

/* ---- names ---------------------------------------------------------------- */
typedef struct { const char *hf, *gguf; int arch; } name_map;
/* "model.layers.N." + hf -> "blk.N." + gguf, for the architectures in arch
 * (0: all); gguf-py constants.py TENSOR_NAMES / tensor_mapping.py */
static const name_map LAYER_NAMES[] = {
    {"input_layernorm.weight", "attn_norm.weight", 0},
    {"post_attention_layernorm.weight", "ffn_norm.weight", 0},
    {"self_attn.q_proj.weight", "attn_q.weight", 0},
    {"self_attn.q_a_proj.weight", "attn_q_a.weight", 0},
    {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight", 0},
    {"self_attn.q_b_proj.weight", "attn_q_b.weight", 0},
    {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight", 0},
    {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight", 0},
    {"self_attn.o_proj.weight", "attn_output.weight", 0},
    {"mlp.gate_proj.weight", "ffn_gate.weight", 0},
    {"mlp.up_proj.weight", "ffn_up.weight", 0},
    {"mlp.down_proj.weight", "ffn_down.weight", 0},
    {"mlp.gate.weight", "ffn_gate_inp.weight", 0},
    {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias", 0},
    {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight", 0},
    {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight", 0},
    {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight", 0},
    /* DeepSeek Sparse Attention's lightning indexer (the model schema's indexer rows) */
    {"self_attn.indexer.k_norm.weight", "indexer.k_norm.weight", ARCH_DS32},
    {"self_attn.indexer.k_norm.bias", "indexer.k_norm.bias", ARCH_DS32},
    {"self_attn.indexer.weights_proj.weight", "indexer.proj.weight", ARCH_DS32},
    {"self_attn.indexer.wk.weight", "indexer.attn_k.weight", ARCH_DS32},
    {"self_attn.indexer.wq_b.weight", "indexer.attn_q_b.weight", ARCH_DS32},
};
/* MTP layers' own tensors (the schema's DS_AT_MTP rows), kept by deepseek32 as nextn.* */
static const name_map MTP_NAMES[] = {
    {"eh_proj.weight", "nextn.eh_proj.weight", ARCH_DS32},
    {"embed_tokens.weight", "nextn.embed_tokens.weight", ARCH_DS32},
    {"enorm.weight", "nextn.enorm.weight", ARCH_DS32},
    {"hnorm.weight", "nextn.hnorm.weight", ARCH_DS32},
    {"shared_head.head.weight", "nextn.shared_head_head.weight", ARCH_DS32},
    {"shared_head.norm.weight", "nextn.shared_head_norm.weight", ARCH_DS32},
};
static const name_map TOP_NAMES[] = {
    {"model.embed_tokens.weight", "token_embd.weight", 0},
    {"model.norm.weight", "output_norm.weight", 0},
    {"lm_head.weight", "output.weight", 0},
};

static const char *map_in(const name_map *m, size_t n, const char *hf, int arch) {
    for (size_t i = 0; i < n; i++)
        if ((!m[i].arch || (m[i].arch & arch)) && !strcmp(hf, m[i].hf)) return m[i].gguf;
    return NULL;
}

/* GGUF name of an HF tensor that maps one to one for architecture arch
 * (ARCH_*); mtp: a layer past num_hidden_layers. NULL when none. */
static char *map_name(const char *hf, int arch, int mtp) {
    const char *g = map_in(TOP_NAMES, sizeof TOP_NAMES / sizeof *TOP_NAMES, hf, arch);
    if (g) return xstrdup(g);
    int layer = ds_layer_of(hf);
    if (layer < 0) return NULL;
    const char *rest = strchr(hf + strlen("model.layers."), '.');
    if (!rest) return NULL;
    rest++;
    g = map_in(LAYER_NAMES, sizeof LAYER_NAMES / sizeof *LAYER_NAMES, rest, arch);
    if (!g && mtp) g = map_in(MTP_NAMES, sizeof MTP_NAMES / sizeof *MTP_NAMES, rest, arch);
    if (!g) return NULL;
    char b[128];
    snprintf(b, sizeof b, "blk.%d.%s", layer, g);
    return xstrdup(b);
}

/* "model.layers.L.mlp.experts.X.W_proj.weight": sets expert and w (0 down, 1 gate, 2 up). */
static int parse_expert(const char *name, int *expert, int *w) {
    int layer, x, n = 0;
    char proj[16];
    if (sscanf(name, "model.layers.%d.mlp.experts.%d.%15[a-z]_proj.weight%n", &layer, &x, proj, &n) != 3 ||
        name[n] != 0)
        return 0;
    *expert = x;
    if (!strcmp(proj, "down")) *w = 0;
    else if (!strcmp(proj, "gate")) *w = 1;
    else if (!strcmp(proj, "up")) *w = 2;
    else return 0;
    return 1;
}

/* deepseek32's MTP blocks: config.json's num_nextn_predict_layers when the key
 * is there (transformers' DeepseekV32Config has no default for it: absent, the
 * converter writes no nextn key and keeps no MTP layer). */
static int ds_gguf_nextn_layers(const ds_ckpt *c) {
    int rc = 0;
    cJSON *raw = ds_plan_load_config_json(c, &rc);
    int n = raw && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(raw, "num_nextn_predict_layers"))
                ? c->config.num_nextn_predict_layers : 0;
    cJSON_Delete(raw);
    return n > 0 ? n : 0;
}

/* ---- plan ----------------------------------------------------------------- */
static ds_gg_tensor *add_tensor(ds_gg_plan *p) {
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->t = xrealloc(p->t, p->cap * sizeof *p->t);
    }
    ds_gg_tensor *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    return t;
}

void ds_gguf_plan_free(ds_gg_plan *p) {
    for (int i = 0; i < p->n; i++) { free(p->t[i].name); free(p->t[i].src); free(p->t[i].scale); }
    free(p->t);
    memset(p, 0, sizeof *p);
}

/* Checks a source tensor's dtype and finds its FP8 scale. */
static int source_ok(const ds_ckpt *c, const ds_ckpt_entry *e, const ds_ckpt_entry **scale, int block[2]) {
    *scale = NULL;
    switch (e->info->dtype) {
    case DS_F8_E4M3: return ds_plan_fp8_scale(c, e, scale, block);
    case DS_BF16: case DS_F16: case DS_F32: return 0;
    default:
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: dtype %s cannot be written to GGUF by to-gguf "
                       "(it reads FP8 with block scales, BF16, F16 and F32)", c->shard_names[e->file], e->name,
                       ds_dtype_name(e->info->dtype));
    }
}

static int is_kquant(ds_ggml_type t) { return t == DS_GGML_Q4_K || t == DS_GGML_Q6_K; }

/* The ggml type of a planned tensor: the converter's prepare_tensors rules
 * (F32 for 1-D, norms, the router, non-.weight), which are also the tensors
 * llama-quantize leaves alone, then llama-quantize's tensor_type_fallback for
 * rows the type's block does not divide (Q4_K -> Q5_0, Q6_K -> Q8_0, then
 * F16; gguf-py's Q8_0 -> F16 is the same rule). */
static ds_ggml_type choose_type(const ds_gguf_opts *o, const char *name, int np_ndim, int64_t ne0) {
    if (np_ndim <= 1 || ds_has_suffix(name, "_norm.weight") || !ds_has_suffix(name, ".weight") ||
        strstr(name, ".ffn_gate_inp.") != NULL)
        return DS_GGML_F32;
    /* deepseek32's indexer.proj: F32 in the converter's file (its prepare_tensors
     * list), but llama-quantize (tensor_allows_quantization) does not exempt it
     * for deepseek32 (only for glm5-next): a K-quant file quantizes it */
    if (strstr(name, ".indexer.proj.") != NULL && !is_kquant(o->type)) return DS_GGML_F32;
    ds_ggml_type t = o->type;
    for (int i = 0; i < o->n_override; i++)
        if (fnmatch(o->override_pat[i], name, 0) == 0) { t = o->override_type[i]; break; }
    if (ne0 % ds_ggml_info(t)->block) {
        if (t == DS_GGML_Q4_K) t = DS_GGML_Q5_0;
        else if (t == DS_GGML_Q6_K) t = DS_GGML_Q8_0;
        if (ne0 % ds_ggml_info(t)->block) t = DS_GGML_F16;
    }
    return t;
}

/* llama-quantize writes tensors in its loader's name order: tensors outside
 * the layers first, then layer by layer, by name within each. */
static int layer_of_gguf(const char *n) {
    int l = -1;
    if (sscanf(n, "blk.%d.", &l) != 1) l = -1;
    return l;
}
static int quantize_order(const void *a, const void *b) {
    const ds_gg_tensor *x = a, *y = b;
    int lx = layer_of_gguf(x->name), ly = layer_of_gguf(y->name);
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void set_shape(ds_gg_tensor *t, int np_ndim, const int64_t *np_shape) {
    t->ndim = np_ndim;
    for (int i = 0; i < np_ndim; i++) t->ne[i] = np_shape[np_ndim - 1 - i];
}

int ds_gguf_plan(const ds_ckpt *c, const ds_gguf_opts *o, ds_gg_plan *p) {
    memset(p, 0, sizeof *p);
    if (!c->has_config) return ds_fail(DS_EXIT_INPUT, "%s: no config.json; to-gguf needs the model's config", c->dir);
    const ds_config *cf = &c->config;
    const gguf_family *fam = family_of(cf->model_type);
    if (!fam)
        return ds_fail(DS_EXIT_INPUT, "%s/config.json: model_type '%s' is not a family to-gguf writes (it writes %s)",
                       c->dir, cf->model_type[0] ? cf->model_type : "(none)",
                       "deepseek_v3 (V3, V3.1, R1, Moonlight), kimi_k2, deepseek_v32 (V3.2)");
    if (cf->has_quant && strcmp(cf->quant_method, "fp8") != 0)
        return ds_fail(DS_EXIT_INPUT, "%s/config.json: quantization_config quant_method '%s': to-gguf reads FP8 "
                       "(block-scaled) or unquantized checkpoints; convert this one to BF16 first (dsconv to-bf16)",
                       c->dir, cf->quant_method);
    int L = cf->num_hidden_layers, E = cf->n_routed_experts;
    int H = cf->num_key_value_heads, nope = cf->qk_nope_head_dim, vd = cf->v_head_dim;
    /* deepseek32 keeps the MTP layers: blocks L .. L + nextn - 1 */
    int nextn = fam->keep_mtp ? ds_gguf_nextn_layers(c) : 0;
    int LB = L + nextn;
    int rc = 0;
    /* deepseek32 has the indexer in every block (llama.cpp's loader requires
     * it): a V3.2 checkpoint without it is not one */
    for (int l = 0; l < LB && !rc && fam->bit == ARCH_DS32; l++)
        for (size_t i = 0; i < sizeof LAYER_NAMES / sizeof *LAYER_NAMES && !rc; i++) {
            if (LAYER_NAMES[i].arch != ARCH_DS32) continue;
            char b[160];
            snprintf(b, sizeof b, "model.layers.%d.%s", l, LAYER_NAMES[i].hf);
            if (!ds_ckpt_find(c, b))
                rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s is missing: model_type deepseek_v32 (llama.cpp's deepseek32) "
                             "has the lightning indexer in every layer", c->dir, b);
        }
    if (rc) return rc;
    int *seen = xcalloc(LB > 0 ? LB : 1, sizeof *seen);
    for (int f = 0; f < c->n_shards && !rc; f++) {
        const ds_st_file *sf = &c->shards[f];
        for (int k = 0; k < sf->n_tensors && !rc; k++) {
            const ds_tensor_info *ti = &sf->tensors[sf->by_name[k]];
            const char *name = ti->name;
            const ds_ckpt_entry *e = ds_ckpt_find(c, name);
            DS_ASSERT(e);
            if (ds_is_scale_name(name) || ds_has_suffix(name, ".activation_scale") || ds_has_suffix(name, "_activation_scale"))
                continue;
            if (ds_has_suffix(name, ".attention.masked_bias") || ds_has_suffix(name, ".attention.bias") ||
                ds_has_suffix(name, ".rotary_emb.inv_freq"))
                continue;
            if (cf->tie_word_embeddings && !strcmp(name, "lm_head.weight")) continue;
            int layer = ds_layer_of(name);
            if (layer >= L && !fam->keep_mtp) continue; /* MTP: llama.cpp's deepseek2 skips it */
            if (layer >= LB) {
                rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: layer %d past num_hidden_layers + num_nextn_predict_layers (%d)",
                             c->shard_names[e->file], name, layer, LB);
                break;
            }
            int x, w;
            if (parse_expert(name, &x, &w)) {
                if (x < 0 || x >= E || e->info->ndim != 2) {
                    rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: expert index outside n_routed_experts %d or not 2-D",
                                 c->shard_names[e->file], name, E);
                    break;
                }
                if (++seen[layer] < 3 * E) continue;
                static const char *W[] = {"down", "gate", "up"};
                for (int wi = 0; wi < 3 && !rc; wi++) {
                    ds_gg_tensor *t = add_tensor(p);
                    char b[128];
                    snprintf(b, sizeof b, "blk.%d.ffn_%s_exps.weight", layer, W[wi]);
                    t->name = xstrdup(b);
                    t->kind = DS_GG_STACK;
                    t->n_src = E;
                    t->src = xcalloc(E, sizeof *t->src);
                    t->scale = xcalloc(E, sizeof *t->scale);
                    for (int xi = 0; xi < E && !rc; xi++) {
                        snprintf(b, sizeof b, "model.layers.%d.mlp.experts.%d.%s_proj.weight", layer, xi, W[wi]);
                        t->src[xi] = ds_ckpt_find(c, b);
                        if (!t->src[xi]) { rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s is missing", c->dir, b); break; }
                        rc = source_ok(c, t->src[xi], &t->scale[xi], t->block);
                        if (!rc && (t->src[xi]->info->shape[0] != t->src[0]->info->shape[0] ||
                                    t->src[xi]->info->shape[1] != t->src[0]->info->shape[1]))
                            rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape differs from expert 0's",
                                         c->shard_names[t->src[xi]->file], b);
                    }
                    if (rc) break;
                    t->rows = t->src[0]->info->shape[0];
                    t->cols = t->src[0]->info->shape[1];
                    int64_t shp[3] = {E, t->rows, t->cols};
                    set_shape(t, 3, shp);
                    t->type = choose_type(o, t->name, 3, t->ne[0]);
                }
                continue;
            }
            if (ds_has_suffix(name, ".self_attn.kv_b_proj.weight")) {
                const ds_ckpt_entry *sc;
                int block[2] = {0, 0};
                rc = source_ok(c, e, &sc, block);
                if (rc) break;
                if (e->info->ndim != 2 || e->info->shape[0] != (int64_t)H * (nope + vd)) {
                    rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: expected [%d, kv_lora_rank] (num_key_value_heads x "
                                 "(qk_nope_head_dim + v_head_dim)) rows", c->shard_names[e->file], name, H * (nope + vd));
                    break;
                }
                int64_t kvl = e->info->shape[1];
                for (int part = 0; part < 2; part++) {
                    ds_gg_tensor *t = add_tensor(p);
                    char b[128];
                    snprintf(b, sizeof b, "blk.%d.attn_%s_b.weight", layer, part ? "v" : "k");
                    t->name = xstrdup(b);
                    t->kind = part ? DS_GG_VB : DS_GG_KB;
                    t->n_src = 1;
                    t->src = xcalloc(1, sizeof *t->src);
                    t->scale = xcalloc(1, sizeof *t->scale);
                    t->src[0] = e; t->scale[0] = sc;
                    t->block[0] = block[0]; t->block[1] = block[1];
                    t->rows = e->info->shape[0];
                    t->cols = kvl;
                    int64_t shk[3] = {H, kvl, nope}, shv[3] = {H, vd, kvl};
                    set_shape(t, 3, part ? shv : shk);
                    t->type = choose_type(o, t->name, 3, t->ne[0]);
                }
                continue;
            }
            char *g = map_name(name, fam->bit, layer >= L);
            if (!g) {
                rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: not a tensor llama.cpp's %s has; to-gguf refuses "
                             "what it does not understand", c->shard_names[e->file], name, fam->arch);
                break;
            }
            ds_gg_tensor *t = add_tensor(p);
            t->name = g;
            t->kind = DS_GG_PLAIN;
            t->n_src = 1;
            t->src = xcalloc(1, sizeof *t->src);
            t->scale = xcalloc(1, sizeof *t->scale);
            t->src[0] = e;
            rc = source_ok(c, e, &t->scale[0], t->block);
            if (rc) break;
            if (e->info->ndim < 1 || e->info->ndim > 4) {
                rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: %d dimensions", c->shard_names[e->file], name, e->info->ndim);
                break;
            }
            t->rows = ds_tensor_rows(e->info);
            t->cols = ds_tensor_cols(e->info);
            if (e->info->ndim == 1) { t->rows = 1; t->cols = e->info->shape[0]; }
            set_shape(t, e->info->ndim, e->info->shape);
            t->type = choose_type(o, t->name, e->info->ndim, t->ne[0]);
        }
    }
    for (int l = 0; l < LB && !rc; l++)
        if (seen[l] % (3 * (E ? E : 1)) != 0 || (seen[l] && seen[l] != 3 * E))
            rc = ds_fail(DS_EXIT_INPUT, "%s: layer %d: %d routed expert weights, expected %d (3 x n_routed_experts)",
                         c->dir, l, seen[l], 3 * E);
    free(seen);
    if (rc) ds_gguf_plan_free(p);
    else if (is_kquant(o->type)) qsort(p->t, (size_t)p->n, sizeof *p->t, quantize_order);
    return rc;
}

/* ---- metadata -------------------------------------------------------------- */
/* gguf-py utility.model_weight_count_rounded_notation */
static void rounded_notation(double n, char *out, size_t len) {
    double s; const char *suf;
    if (n > 1e12) { s = n * 1e-12; suf = "T"; }
    else if (n > 1e9) { s = n * 1e-9; suf = "B"; }
    else if (n > 1e6) { s = n * 1e-6; suf = "M"; }
    else { s = n * 1e-3; suf = "K"; }
    char d[64];
    snprintf(d, sizeof d, "%.0f", nearbyint(s)); /* Python round(): half to even */
    const char *q = d;
    while (*q == '0') q++;
    int fix = 2 - (int)strlen(q);
    if (fix < 0) fix = 0;
    snprintf(out, len, "%.*f%s", fix, s, suf);
}

static const cJSON *jget(const cJSON *j, const char *k) { return cJSON_GetObjectItemCaseSensitive(j, k); }

/* DeepseekV32Model.set_vocab refuses a tokenizer that does not add BOS
 * ("Change value of add_bos_token to true in tokenizer_config.json file."):
 * the same check on the file, which is what it reads under transformers 4
 * (transformers 5 drops the key when tokenizer.json is there, and the
 * converter's assertion then fails for every checkpoint: MANUAL to-gguf). */
static int v32_add_bos_check(const char *dir) {
    int rc = 0;
    char *tj = ds_path_join(dir, "tokenizer.json");
    int has_tj = ds_path_exists(tj);
    free(tj);
    if (!has_tj) /* DeepseekV32Model.set_vocab has only the GPT-2 (tokenizer.json) path */
        return ds_fail(DS_EXIT_INPUT, "%s/tokenizer.json: not found; llama.cpp's converter writes a DeepSeek-V3.2 "
                       "vocabulary from tokenizer.json only (--no-vocab to write none)", dir);
    cJSON *tc = ds_gguf_side_json(dir, "tokenizer_config.json", 0, &rc);
    if (rc) return rc;
    int ok = cJSON_IsTrue(jget(tc, "add_bos_token"));
    cJSON_Delete(tc);
    if (!ok)
        return ds_fail(DS_EXIT_INPUT, "%s/tokenizer_config.json: add_bos_token is not true; llama.cpp's converter refuses "
                       "a DeepSeek-V3.2 tokenizer that does not add BOS (set it to true, or --no-vocab)", dir);
    return 0;
}

int ds_gguf_metadata(const ds_ckpt *c, const ds_gguf_opts *o, const ds_gg_plan *p, ds_gguf_kv *kv) {
    int rc = 0;
    cJSON *raw = ds_plan_load_config_json(c, &rc);
    if (!raw) return rc ? rc : ds_fail(DS_EXIT_INPUT, "%s: no config.json", c->dir);
    const ds_config *cf = &c->config;
    const gguf_family *fam = family_of(cf->model_type);
    DS_ASSERT(fam); /* ds_gguf_plan refused any other */
    /* transformers knows deepseek_v3 and deepseek_v32 and fills their defaults
     * (and head_dim = qk_rope_head_dim); other model_types reach the converter
     * as raw JSON. */
    int tf = fam->transformers;
#define HAS(k) (tf || jget(raw, k) != NULL)
    int nextn = fam->keep_mtp ? ds_gguf_nextn_layers(c) : 0;

    ds_gguf_kv_str(kv, "general.architecture", fam->arch);
    ds_gguf_kv_str(kv, "general.type", "model");
    /* generation_config.json's sampling defaults, before general.name as the converter */
    rc = ds_gguf_sampling_add(kv, c->dir);
    if (rc) { cJSON_Delete(raw); return rc; }
    /* the model card (README.md's front matter): read first, so that a front
     * matter the converter stops on stops to-gguf before anything is written */
    ds_model_card *card = NULL;
    rc = ds_model_card_load(c->dir, &card);
    if (rc) { cJSON_Delete(raw); return rc; }
    /* size label: gguf_writer.get_total_parameter_count + utility.size_label */
    double total = 0, shared = 0, expert = 0;
    int64_t expert_sum = 0, n_exp_t = 0;
    for (int i = 0; i < p->n; i++) {
        double sz = 1;
        for (int d = 0; d < p->t[i].ndim; d++) sz *= (double)p->t[i].ne[d];
        if (strstr(p->t[i].name, "_exps.") && p->t[i].ndim >= 3) {
            int64_t ec = p->t[i].ne[2];
            expert += floor(sz / (double)ec);
            expert_sum += ec; n_exp_t++;
        } else shared += sz;
        total += sz;
    }
    char label[96];
    int64_t ecount = n_exp_t ? expert_sum / n_exp_t : 0;
    if (ecount > 0) {
        char pr[48];
        rounded_notation(shared + expert, pr, sizeof pr);
        snprintf(label, sizeof label, "%lldx%s", (long long)ecount, pr);
    } else rounded_notation(total, label, sizeof label);
    /* general.name, the card's keys, general.size_label, in the converter's order */
    const cJSON *nop = jget(raw, "_name_or_path");
    ds_gguf_card_write(kv, card, o->name, ds_basename(c->dir) /* no trailing '/': ds_ckpt_open */,
                       cJSON_IsString(nop) ? nop->valuestring : NULL,
                       total > 0 ? label : NULL, (int64_t)total);
    ds_model_card_free(card);

    char k[96];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", fam->arch, s), k)
    ds_gguf_kv_u32(kv, KEY("block_count"), (uint32_t)(cf->num_hidden_layers + nextn));
    if (HAS("max_position_embeddings")) ds_gguf_kv_u32(kv, KEY("context_length"), (uint32_t)cf->max_position_embeddings);
    ds_gguf_kv_u32(kv, KEY("embedding_length"), (uint32_t)cf->hidden_size);
    if (HAS("intermediate_size")) ds_gguf_kv_u32(kv, KEY("feed_forward_length"), (uint32_t)cf->intermediate_size);
    ds_gguf_kv_u32(kv, KEY("attention.head_count"), (uint32_t)cf->num_attention_heads);
    ds_gguf_kv_u32(kv, KEY("attention.head_count_kv"), 1); /* MLA written as MQA */
    const cJSON *rs = jget(raw, "rope_scaling");
    if (cJSON_IsObject(rs)) {
        const cJSON *ty = jget(rs, "rope_type");
        if (!cJSON_IsString(ty)) ty = jget(rs, "type");
        const cJSON *fac = jget(rs, "factor");
        if (cJSON_IsString(ty) && cJSON_IsNumber(fac)) {
            if (!strcmp(ty->valuestring, "yarn")) {
                const cJSON *om = jget(rs, "original_max_position_embeddings");
                if (!cJSON_IsNumber(om)) { cJSON_Delete(raw); return ds_fail(DS_EXIT_INPUT, "%s/config.json: rope_scaling yarn without original_max_position_embeddings", c->dir); }
                ds_gguf_kv_str(kv, KEY("rope.scaling.type"), "yarn");
                ds_gguf_kv_f32(kv, KEY("rope.scaling.factor"), (float)fac->valuedouble);
                ds_gguf_kv_u32(kv, KEY("rope.scaling.original_context_length"), (uint32_t)om->valuedouble);
                const cJSON *v;
                if (cJSON_IsNumber(v = jget(rs, "extrapolation_factor"))) ds_gguf_kv_f32(kv, KEY("rope.scaling.yarn_ext_factor"), (float)v->valuedouble);
                if (cJSON_IsNumber(v = jget(rs, "attention_factor")) || cJSON_IsNumber(v = jget(rs, "attn_factor")))
                    ds_gguf_kv_f32(kv, KEY("rope.scaling.yarn_attn_factor"), (float)v->valuedouble);
                if (cJSON_IsNumber(v = jget(rs, "beta_fast"))) ds_gguf_kv_f32(kv, KEY("rope.scaling.yarn_beta_fast"), (float)v->valuedouble);
                if (cJSON_IsNumber(v = jget(rs, "beta_slow"))) ds_gguf_kv_f32(kv, KEY("rope.scaling.yarn_beta_slow"), (float)v->valuedouble);
            } else if (!strcmp(ty->valuestring, "linear")) {
                ds_gguf_kv_str(kv, KEY("rope.scaling.type"), "linear");
                ds_gguf_kv_f32(kv, KEY("rope.scaling.factor"), (float)fac->valuedouble);
            } else {
                cJSON_Delete(raw);
                return ds_fail(DS_EXIT_INPUT, "%s/config.json: rope_scaling type '%s' is not one to-gguf writes (yarn, linear)",
                               c->dir, ty->valuestring);
            }
        }
    }
    if (HAS("rope_theta")) ds_gguf_kv_f32(kv, KEY("rope.freq_base"), (float)cf->rope_theta);
    ds_gguf_kv_f32(kv, KEY("attention.layer_norm_rms_epsilon"), (float)cf->rms_norm_eps);
    if (HAS("n_routed_experts")) ds_gguf_kv_u32(kv, KEY("expert_count"), (uint32_t)cf->n_routed_experts);
    if (HAS("num_experts_per_tok")) ds_gguf_kv_u32(kv, KEY("expert_used_count"), (uint32_t)cf->num_experts_per_tok);
    if (HAS("n_group")) ds_gguf_kv_u32(kv, KEY("expert_group_count"), (uint32_t)cf->n_group);
    if (HAS("topk_group")) ds_gguf_kv_u32(kv, KEY("expert_group_used_count"), (uint32_t)cf->topk_group);
    if (jget(raw, "scoring_func")) {
        if (!strcmp(cf->scoring_func, "sigmoid")) ds_gguf_kv_u32(kv, KEY("expert_gating_func"), 2);
        else if (!strcmp(cf->scoring_func, "softmax")) ds_gguf_kv_u32(kv, KEY("expert_gating_func"), 1);
        else { cJSON_Delete(raw); return ds_fail(DS_EXIT_INPUT, "%s/config.json: scoring_func '%s' unknown", c->dir, cf->scoring_func); }
    }
    if (tf) { /* transformers' head_dim (= qk_rope_head_dim); overwritten below, position kept */
        ds_gguf_kv_u32(kv, KEY("attention.key_length"), (uint32_t)cf->qk_rope_head_dim);
        ds_gguf_kv_u32(kv, KEY("attention.value_length"), (uint32_t)cf->qk_rope_head_dim);
    }
    const ds_ggml_traits *ft = ds_ggml_info(o->type);
    /* a K-quant file is the converter's BF16 file through llama-quantize, which
     * sets file_type and quantization_version again, moving them to the end */
    int kq = is_kquant(o->type);
    ds_gguf_kv_u32(kv, "general.file_type", kq ? 32u : (uint32_t)ft->file_type);
    ds_gguf_kv_u32(kv, KEY("leading_dense_block_count"), (uint32_t)cf->first_k_dense_replace);
    ds_gguf_kv_u32(kv, KEY("vocab_size"), (uint32_t)cf->vocab_size);
    if (cf->q_lora_rank > 0) ds_gguf_kv_u32(kv, KEY("attention.q_lora_rank"), (uint32_t)cf->q_lora_rank);
    ds_gguf_kv_u32(kv, KEY("attention.kv_lora_rank"), (uint32_t)cf->kv_lora_rank);
    ds_gguf_kv_u32(kv, KEY("attention.key_length"), (uint32_t)(cf->kv_lora_rank + cf->qk_rope_head_dim));
    ds_gguf_kv_u32(kv, KEY("attention.value_length"), (uint32_t)cf->kv_lora_rank);
    ds_gguf_kv_u32(kv, KEY("attention.key_length_mla"), (uint32_t)(cf->qk_nope_head_dim + cf->qk_rope_head_dim));
    ds_gguf_kv_u32(kv, KEY("attention.value_length_mla"), (uint32_t)cf->v_head_dim);
    ds_gguf_kv_u32(kv, KEY("expert_feed_forward_length"), (uint32_t)cf->moe_intermediate_size);
    if (HAS("n_routed_experts")) ds_gguf_kv_u32(kv, KEY("expert_count"), (uint32_t)cf->n_routed_experts);
    ds_gguf_kv_u32(kv, KEY("expert_shared_count"), (uint32_t)cf->n_shared_experts);
    if (HAS("routed_scaling_factor")) ds_gguf_kv_f32(kv, KEY("expert_weights_scale"), (float)cf->routed_scaling_factor);
    if (HAS("norm_topk_prob") && cf->norm_topk_prob) ds_gguf_kv_bool(kv, KEY("expert_weights_norm"), 1);
    ds_gguf_kv_u32(kv, KEY("rope.dimension_count"), (uint32_t)cf->qk_rope_head_dim);
    if (cJSON_IsObject(rs) && cJSON_IsNumber(jget(rs, "mscale_all_dim")))
        ds_gguf_kv_f32(kv, KEY("rope.scaling.yarn_log_multiplier"), (float)(0.1 * jget(rs, "mscale_all_dim")->valuedouble));
    if (fam->bit == ARCH_DS32) { /* DeepseekV32Model.set_gguf_parameters */
        if (cJSON_IsNumber(jget(raw, "num_nextn_predict_layers")))
            ds_gguf_kv_u32(kv, KEY("nextn_predict_layers"), (uint32_t)cf->num_nextn_predict_layers);
        ds_gguf_kv_u32(kv, KEY("attention.indexer.head_count"), (uint32_t)cf->index_n_heads);
        ds_gguf_kv_u32(kv, KEY("attention.indexer.key_length"), (uint32_t)cf->index_head_dim);
        ds_gguf_kv_u32(kv, KEY("attention.indexer.top_k"), (uint32_t)cf->index_topk);
    }
    ds_gguf_kv_u32(kv, "general.quantization_version", 2);
#undef KEY
#undef HAS
    cJSON_Delete(raw);
    if (!o->no_vocab && fam->bit == ARCH_DS32) DS_TRY(v32_add_bos_check(c->dir));
    if (!o->no_vocab) DS_TRY(ds_gguf_vocab_add(kv, c->dir, cf->vocab_size, o->tokenizer_pre));
    if (kq) {
        ds_gguf_kv_del(kv, "general.quantization_version");
        ds_gguf_kv_del(kv, "general.file_type");
        ds_gguf_kv_u32(kv, "general.quantization_version", 2);
        ds_gguf_kv_u32(kv, "general.file_type", (uint32_t)ft->file_type);
    }
    return 0;
}

int ds_gguf_convert(const char *in, const char *out, const ds_gguf_opts *o) {
    double t_start = ds_now();
    ds_ckpt c;
    DS_TRY(ds_ckpt_open(in, &c));
    ds_gg_plan p;
    int rc = ds_gguf_plan(&c, o, &p);
    if (rc) { ds_ckpt_close(&c); return rc; }
    ds_gguf_kv kv;
    ds_gguf_kv_init(&kv);
    rc = ds_gguf_metadata(&c, o, &p, &kv);
    ds_gguf_tensor_desc *d = xcalloc(p.n ? p.n : 1, sizeof *d);
    uint64_t data = 0;
    for (int i = 0; i < p.n; i++) {
        d[i].name = p.t[i].name; d[i].type = p.t[i].type; d[i].ndim = p.t[i].ndim;
        memcpy(d[i].ne, p.t[i].ne, sizeof d[i].ne);
        data += ds_gguf_tensor_bytes(&d[i]);
    }
    if (!rc && o->dry_run) {
        for (int i = 0; i < p.n; i++) {
            printf("%-40s %-5s", p.t[i].name, ds_ggml_info(p.t[i].type)->name);
            for (int k = 0; k < p.t[i].ndim; k++) printf("%s%lld", k ? " x " : "  [", (long long)p.t[i].ne[k]);
            printf("]\n");
        }
        printf("%d tensors, %.3f GB of tensor data, %d metadata keys\n", p.n, (double)data / 1e9, kv.n);
    }
    if (!rc && !o->dry_run) {
        /* Every offset is known now: the workers write all tensors at once
         * (gguf_stream.c), into the mapped file or by pwrite (--io). */
        ds_gguf_writer *w = NULL;
        uint8_t *base = NULL;
        ds_gguf_stream_stats st;
        memset(&st, 0, sizeof st);
        rc = ds_gguf_open(&w, out, &kv, d, p.n);
        if (!rc) rc = ds_gguf_begin_positioned(w, o->io == DS_GG_IO_MMAP, o->reserve, &base);
        double t_setup = ds_now() - t_start, tp = ds_now();
        if (!rc) rc = ds_gguf_stream(&c, &p, o, w, base, data, &st);
        double t_pipe = ds_now() - tp, tc = ds_now();
        if (!rc) rc = ds_gguf_commit(w, o->no_sync);
        else if (w) ds_gguf_abort(w);
        double t_commit = ds_now() - tc;
        double sec = ds_now() - t_start;
        uint64_t anon = ds_rss_anon();
        if (anon > st.peak_anon) st.peak_anon = anon;
        if (!rc && !o->quiet)
            printf("to-gguf: %d tensors, %.3f GB in %.1f s (%.2f GB/s), %s, peak RSS %.2f GB -> %s\n", p.n,
                   (double)data / 1e9, sec, (double)data / 1e9 / (sec + 1e-9), ds_ggml_info(o->type)->name,
                   (double)ds_peak_rss() / 1e9, out);
        if (!rc && o->json_path) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "command", "to-gguf");
            cJSON_AddStringToObject(j, "output", out);
            cJSON_AddStringToObject(j, "type", ds_ggml_info(o->type)->name);
            cJSON_AddNumberToObject(j, "tensors", p.n);
            cJSON_AddNumberToObject(j, "tensor_bytes", (double)data);
            cJSON_AddNumberToObject(j, "input_bytes", (double)c.total_bytes);
            cJSON_AddNumberToObject(j, "seconds", sec);
            cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)ds_peak_rss());
            cJSON_AddNumberToObject(j, "peak_anon_bytes", (double)st.peak_anon);
            cJSON_AddStringToObject(j, "device", st.gpu ? "cuda" : "cpu");
            cJSON_AddNumberToObject(j, "gpu_bytes", (double)st.gpu_bytes);
            cJSON_AddBoolToObject(j, "gpu_context", st.gpu_context);
            if (st.gpu_released >= 0) cJSON_AddNumberToObject(j, "gpu_released_at_seconds", st.gpu_released);
            cJSON_AddStringToObject(j, "io", base ? "mmap" : "pwrite");
            cJSON_AddBoolToObject(j, "reserve", o->reserve);
            cJSON_AddNumberToObject(j, "workers", st.workers);
            cJSON_AddNumberToObject(j, "writers", st.writers);
            cJSON_AddNumberToObject(j, "units", (double)st.units);
            cJSON_AddNumberToObject(j, "buffer_bytes", (double)st.buffer_bytes);
            /* wall seconds of the stages, and the workers' busy seconds summed
             * (busy / workers near "pipeline" is what bounds the run): read =
             * faulting the input in, transform = dequantize + encode (GPU
             * copies included), write = the output's pages (mmap) or pwrite */
            cJSON *ts = cJSON_AddObjectToObject(j, "stages_seconds");
            cJSON_AddNumberToObject(ts, "setup", t_setup);
            cJSON_AddNumberToObject(ts, "pipeline", t_pipe);
            cJSON_AddNumberToObject(ts, "read_busy", st.read_busy);
            cJSON_AddNumberToObject(ts, "transform_busy", st.transform_busy);
            cJSON_AddNumberToObject(ts, "write_busy", st.write_busy);
            cJSON_AddNumberToObject(ts, "writer_threads_busy", st.writer_busy);
            cJSON_AddNumberToObject(ts, "commit", t_commit);
            char *txt = cJSON_Print(j);
            rc = ds_write_file_atomic(o->json_path, txt, strlen(txt));
            free(txt);
            cJSON_Delete(j);
        }
    }
    free(d);
    ds_gguf_kv_free(&kv);
    ds_gguf_plan_free(&p);
    ds_ckpt_close(&c);
    return rc;
}
