/* sample_gen.c - the synthetic checkpoint generator (library part; no main,
 * since every unit test binary links it).
 *
 * Three steps: plan the tensor list in the real DeepSeek-V3 order and naming,
 * assign tensors to shards, then stream each shard through the safetensors
 * writer chunk by chunk, so memory never holds more than two chunks.
 *
 * Values: a counter-based splitmix64 gives 64 random bits per 4 elements of a
 * tensor (keyed by seed and tensor name); each 16-bit piece indexes a table of
 * standard-normal quantiles. Norm weights are ~N(1, 0.05), everything else
 * ~N(0, 0.02) (transformers' initializer_range), FP8 blocks get a per-block
 * sigma in [0.015, 0.025] so block scales differ as in a trained model. */
#define _GNU_SOURCE /* sync_file_range */
#include "samples/sample_gen.h"
#include "formats/safetensors.h"
#include "common/jsonfile.h"
#include "common/util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLK 128                      /* weight_block_size */
#define CHUNK_BYTES (32u << 20)      /* one write buffer (two are in use) */
#define SHARD_TARGET 5000000000ull   /* auto shard size, ~5 GB */
#define W_SIGMA 0.02f                /* std of projections and embeddings */
#define NORM_SIGMA 0.05f
#define BIAS_SIGMA 0.01f
#define GOLDEN 0x9E3779B97F4A7C15ull

typedef enum { K_PLAIN, K_FP8, K_SCALE, K_INT4, K_INT4_SCALE, K_SHAPE } sg_kind;
#define CT_GROUP 32                  /* Kimi-K2-Thinking's INT4 group size */

typedef struct {
    ds_sample_tensor t;
    sg_kind kind;
    float mean, sigma;   /* K_PLAIN */
    int weight;          /* K_SCALE: index of its weight in the plan */
    int64_t logical[2];  /* K_SHAPE: the packed weight's [rows, cols] */
} sg_spec;

/* A growing tensor list; with counting set it only sums bytes (no names), so
 * sizes of GB-scale configurations are computed without building them. */
typedef struct {
    const ds_sample_opts *o;
    int counting;
    uint64_t bytes;
    sg_spec *v;
    int n, cap;
} sg_list;

/* ---------------------------------------------------------------- options */

void ds_sample_defaults(ds_sample_opts *o) {
    memset(o, 0, sizeof *o);
    /* Unlike dev-tiny: 16 heads so o_proj has 512 columns and its scale 4
     * column blocks (dev-tiny's 256 columns refuse model-parallel 4); vocab
     * 1280 divides by 4 (embed_tokens and lm_head split by rows). */
    o->hidden = 256;
    o->layers = 2;
    o->mtp = 1;
    o->dense = 1;
    o->experts = 8;
    o->shared = 2;
    o->topk = 2;
    o->groups = 4;
    o->topk_groups = 2;
    o->heads = 16;
    o->q_lora = 192;      /* not a multiple of 128 */
    o->kv_lora = 128;     /* + rope 32 = 160 kv_a_proj_with_mqa rows, not a multiple of 128 */
    o->nope = 32;
    o->rope = 32;
    o->v_dim = 32;
    o->inter = 512;
    o->moe_inter = 256;
    o->vocab = 1280;
    o->shards = 3;
    o->seed = 0;
}

int ds_sample_family(ds_sample_opts *o, const char *name) {
    if (!strcmp(name, "v3")) return 0;
    if (!strcmp(name, "v32")) {
        /* V3.2-Exp: the indexer (64 heads x 128, top-2048 in the release) and ue8m0 scales */
        o->model_type = "deepseek_v32";
        o->index_heads = 4;
        o->index_dim = 64;
        o->index_topk = 8;
        o->ue8m0 = 1;
        return 0;
    }
    if (!strcmp(name, "kimi") || !strcmp(name, "kimi-thinking")) {
        /* Kimi-K2: one expert group, no MTP (384 experts, top-8 in the release) */
        o->model_type = "kimi_k2";
        o->kimi = 1;
        o->mtp = 0;
        o->experts = 16;
        o->shared = 1;
        o->topk = 4;
        o->groups = 1;
        o->topk_groups = 1;
        if (name[4]) o->bf16 = o->int4_experts = 1;
        return 0;
    }
    if (!strcmp(name, "terminus")) {
        o->ue8m0 = 1;
        o->odd_oproj_scales = 1;
        o->f32_norms = 1;
        return 0;
    }
    if (!strcmp(name, "moonlight")) {
        /* Moonlight-16B-A3B: BF16, no query compression, one expert group, no MTP */
        o->q_lora = 0;
        o->bf16 = 1;
        o->mtp = 0;
        o->groups = 1;
        o->topk_groups = 1;
        return 0;
    }
    return ds_fail(DS_EXIT_USAGE, "--family %s: unknown (known: %s)", name, DS_SAMPLE_FAMILIES);
}

static int any_moe(const ds_sample_opts *o) { return o->dense < o->layers + o->mtp; }

int ds_sample_check(const ds_sample_opts *o) {
    const int maxd = 1 << 20;
    struct { const char *opt; int v, min; } dims[] = {
        {"--hidden", o->hidden, 1}, {"--layers", o->layers, 1}, {"--mtp", o->mtp, 0},
        {"--dense", o->dense, 0}, {"--heads", o->heads, 1}, {"--q-lora", o->q_lora, 0},
        {"--kv-lora", o->kv_lora, 1}, {"--nope", o->nope, 1}, {"--rope", o->rope, 1},
        {"--v-dim", o->v_dim, 1}, {"--inter", o->inter, 1}, {"--moe-inter", o->moe_inter, 1},
        {"--vocab", o->vocab, 1}, {"--experts", o->experts, 0}, {"--shared", o->shared, 0},
        {"--topk", o->topk, 0}, {"--groups", o->groups, 0}, {"--topk-groups", o->topk_groups, 0},
        {"--shards", o->shards, 0},
    };
    if (!o->out || !*o->out) return ds_fail(DS_EXIT_USAGE, "--out DIR is required");
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v < dims[i].min || dims[i].v > maxd)
            return ds_fail(DS_EXIT_USAGE, "%s %d: must be in [%d, %d]", dims[i].opt, dims[i].v,
                           dims[i].min, maxd);
    if (o->layers + o->mtp > 100000) return ds_fail(DS_EXIT_USAGE, "--layers + --mtp: too many layers");
    if (o->dense > o->layers)
        return ds_fail(DS_EXIT_USAGE, "--dense %d: more dense layers than --layers %d", o->dense, o->layers);
    if (any_moe(o)) {
        if (o->experts < 1) return ds_fail(DS_EXIT_USAGE, "--experts must be >= 1 when there are MoE layers");
        if (o->groups < 1 || o->experts % o->groups)
            return ds_fail(DS_EXIT_USAGE, "--experts %d is not a multiple of --groups %d", o->experts, o->groups);
        if (o->topk_groups < 1 || o->topk_groups > o->groups)
            return ds_fail(DS_EXIT_USAGE, "--topk-groups %d must be in [1, --groups %d]", o->topk_groups, o->groups);
        int reach = o->experts / o->groups * o->topk_groups;
        if (o->topk < 1 || o->topk > reach)
            return ds_fail(DS_EXIT_USAGE, "--topk %d must be in [1, %d] (experts per group x --topk-groups)",
                           o->topk, reach);
        if ((int64_t)o->experts * 6 > 10000000)
            return ds_fail(DS_EXIT_USAGE, "--experts %d: too many", o->experts);
    }
    if (o->bf16 && o->ue8m0) return ds_fail(DS_EXIT_USAGE, "--ue8m0 needs FP8 weights; it cannot go with --bf16");
    if (o->int4_experts && o->moe_inter % CT_GROUP)
        return ds_fail(DS_EXIT_USAGE, "--moe-inter %d: INT4 experts need a multiple of %d", o->moe_inter, CT_GROUP);
    if (o->index_heads > 0 && (o->index_dim < o->rope || o->q_lora < 1))
        return ds_fail(DS_EXIT_USAGE, "the indexer needs index_head_dim >= --rope and a --q-lora");
    return 0;
}

/* ---------------------------------------------------------------- planning */

static void list_add(sg_list *l, const char *prefix, const char *suffix, ds_dtype dt, int ndim,
                     int64_t r, int64_t c, sg_kind kind, float mean, float sigma) {
    uint64_t numel = (uint64_t)r * (uint64_t)(ndim == 2 ? c : 1);
    uint64_t bytes = numel * ds_dtype_size(dt);
    l->bytes += bytes;
    if (l->counting) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    sg_spec *s = &l->v[l->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->t.name, sizeof s->t.name, "%s%s", prefix, suffix);
    s->t.dtype = dt;
    s->t.ndim = ndim;
    s->t.shape[0] = r;
    s->t.shape[1] = ndim == 2 ? c : 0;
    s->t.bytes = bytes;
    s->kind = kind;
    s->mean = mean;
    s->sigma = sigma;
    s->weight = -1;
}

static void add_norm(sg_list *l, const char *p, const char *s, int64_t n) {
    list_add(l, p, s, l->o->f32_norms ? DS_F32 : DS_BF16, 1, n, 0, K_PLAIN, 1.0f, NORM_SIGMA);
}
static void add_bf16(sg_list *l, const char *p, const char *s, int64_t r, int64_t c) {
    list_add(l, p, s, DS_BF16, 2, r, c, K_PLAIN, 0.0f, W_SIGMA);
}

/* A linear weight: FP8 + its weight_scale_inv right after it, or BF16. */
static void add_proj(sg_list *l, const char *p, const char *s, int64_t r, int64_t c) {
    if (l->o->bf16) { add_bf16(l, p, s, r, c); return; }
    list_add(l, p, s, DS_F8_E4M3, 2, r, c, K_FP8, 0, 0);
    char sc[96];
    snprintf(sc, sizeof sc, "%s_scale_inv", s);
    list_add(l, p, sc, DS_F32, 2, (r + BLK - 1) / BLK, (c + BLK - 1) / BLK, K_SCALE, 0, 0);
    if (!l->counting) l->v[l->n - 1].weight = l->n - 2;
}

/* A compressed-tensors pack-quantized INT4 Linear (symmetric, group 32):
 * weight_packed I32 [r, c/8], weight_scale BF16 [r, c/32], weight_shape I32 [2]. */
static void add_int4(sg_list *l, const char *p, const char *s, int64_t r, int64_t c) {
    char n[96];
    int m = (int)strlen(s) - 6; /* without "weight" */
    snprintf(n, sizeof n, "%.*sweight_packed", m, s);
    list_add(l, p, n, DS_I32, 2, r, c / 8, K_INT4, 0, 0);
    snprintf(n, sizeof n, "%.*sweight_scale", m, s);
    list_add(l, p, n, DS_BF16, 2, r, c / CT_GROUP, K_INT4_SCALE, 0, 0);
    snprintf(n, sizeof n, "%.*sweight_shape", m, s);
    list_add(l, p, n, DS_I32, 1, 2, 0, K_SHAPE, 0, 0);
    if (!l->counting) l->v[l->n - 1].logical[0] = r, l->v[l->n - 1].logical[1] = c;
}

/* gate_proj/up_proj [inter, hidden], down_proj [hidden, inter] under prefix p+mid. */
static void add_mlp(sg_list *l, const char *p, const char *mid, int64_t inter) {
    const ds_sample_opts *o = l->o;
    char s[96];
    if (o->int4_experts && !strncmp(mid, "mlp.experts.", 12)) {
        snprintf(s, sizeof s, "%sgate_proj.weight", mid); add_int4(l, p, s, inter, o->hidden);
        snprintf(s, sizeof s, "%sup_proj.weight", mid);   add_int4(l, p, s, inter, o->hidden);
        snprintf(s, sizeof s, "%sdown_proj.weight", mid); add_int4(l, p, s, o->hidden, inter);
        return;
    }
    snprintf(s, sizeof s, "%sgate_proj.weight", mid); add_proj(l, p, s, inter, o->hidden);
    snprintf(s, sizeof s, "%sup_proj.weight", mid);   add_proj(l, p, s, inter, o->hidden);
    snprintf(s, sizeof s, "%sdown_proj.weight", mid); add_proj(l, p, s, o->hidden, inter);
}

/* The decoder layer body shared by main and MTP layers. */
static void add_layer_body(sg_list *l, const char *p, int layer) {
    const ds_sample_opts *o = l->o;
    int64_t h = o->hidden, qk = o->nope + o->rope;
    add_norm(l, p, "input_layernorm.weight", h);
    if (o->q_lora > 0) {
        add_proj(l, p, "self_attn.q_a_proj.weight", o->q_lora, h);
        add_norm(l, p, "self_attn.q_a_layernorm.weight", o->q_lora);
        add_proj(l, p, "self_attn.q_b_proj.weight", (int64_t)o->heads * qk, o->q_lora);
    } else {
        add_proj(l, p, "self_attn.q_proj.weight", (int64_t)o->heads * qk, h);
    }
    add_proj(l, p, "self_attn.kv_a_proj_with_mqa.weight", (int64_t)o->kv_lora + o->rope, h);
    add_norm(l, p, "self_attn.kv_a_layernorm.weight", o->kv_lora);
    add_proj(l, p, "self_attn.kv_b_proj.weight", (int64_t)o->heads * (o->nope + o->v_dim), o->kv_lora);
    add_proj(l, p, "self_attn.o_proj.weight", h, (int64_t)o->heads * o->v_dim);
    if (o->index_heads > 0) {
        /* V3.2's lightning indexer: wq_b and wk FP8 with scales, k_norm (LayerNorm), weights_proj BF16 */
        add_proj(l, p, "self_attn.indexer.wq_b.weight", (int64_t)o->index_heads * o->index_dim, o->q_lora);
        add_proj(l, p, "self_attn.indexer.wk.weight", o->index_dim, h);
        add_norm(l, p, "self_attn.indexer.k_norm.weight", o->index_dim);
        list_add(l, p, "self_attn.indexer.k_norm.bias", o->f32_norms ? DS_F32 : DS_BF16, 1, o->index_dim, 0,
                 K_PLAIN, 0.0f, BIAS_SIGMA);
        add_bf16(l, p, "self_attn.indexer.weights_proj.weight", o->index_heads, h);
    }
    add_norm(l, p, "post_attention_layernorm.weight", h);
    if (layer < o->dense) {
        add_mlp(l, p, "mlp.", o->inter);
        return;
    }
    /* The router stays BF16 and its bias F32 in the real FP8 checkpoint. */
    add_bf16(l, p, "mlp.gate.weight", o->experts, h);
    list_add(l, p, "mlp.gate.e_score_correction_bias", DS_F32, 1, o->experts, 0, K_PLAIN, 0.0f, BIAS_SIGMA);
    for (int e = 0; e < o->experts; e++) {
        char mid[48];
        snprintf(mid, sizeof mid, "mlp.experts.%d.", e);
        add_mlp(l, p, mid, o->moe_inter);
    }
    if (o->shared > 0) add_mlp(l, p, "mlp.shared_experts.", (int64_t)o->moe_inter * o->shared);
}

static void layer_prefix(char *p, size_t n, int layer) { snprintf(p, n, "model.layers.%d.", layer); }

static void add_layer(sg_list *l, int layer) {
    char p[48];
    layer_prefix(p, sizeof p, layer);
    add_layer_body(l, p, layer);
}

/* MTP layer: the real V3 keeps its own embed_tokens, enorm/hnorm, eh_proj
 * (BF16 [hidden, 2*hidden]) and shared_head, around an ordinary MoE layer. */
static void add_mtp_extras_head(sg_list *l, const char *p) {
    const ds_sample_opts *o = l->o;
    add_bf16(l, p, "embed_tokens.weight", o->vocab, o->hidden);
    add_norm(l, p, "enorm.weight", o->hidden);
    add_norm(l, p, "hnorm.weight", o->hidden);
    add_bf16(l, p, "eh_proj.weight", o->hidden, 2 * (int64_t)o->hidden);
}
static void add_mtp_extras_tail(sg_list *l, const char *p) {
    const ds_sample_opts *o = l->o;
    add_norm(l, p, "shared_head.norm.weight", o->hidden);
    add_bf16(l, p, "shared_head.head.weight", o->vocab, o->hidden);
}

static void add_mtp_layer(sg_list *l, int layer) {
    char p[48];
    layer_prefix(p, sizeof p, layer);
    add_mtp_extras_head(l, p);
    add_layer_body(l, p, layer);
    add_mtp_extras_tail(l, p);
}

static void build_list(sg_list *l) {
    const ds_sample_opts *o = l->o;
    add_bf16(l, "", "model.embed_tokens.weight", o->vocab, o->hidden);
    for (int i = 0; i < o->layers; i++) add_layer(l, i);
    for (int i = 0; i < o->mtp; i++) add_mtp_layer(l, o->layers + i);
    add_norm(l, "", "model.norm.weight", o->hidden);
    add_bf16(l, "", "lm_head.weight", o->vocab, o->hidden);
}

/* Bytes of one layer of a given kind, by counting (no names built). */
static uint64_t layer_bytes(const ds_sample_opts *o, int moe, int mtp) {
    sg_list l = {.o = o, .counting = 1};
    int layer = moe ? o->dense : 0;
    if (moe && o->dense >= o->layers + o->mtp) return 0;
    if (!moe && o->dense == 0) return 0;
    if (mtp) add_mtp_extras_head(&l, "");
    add_layer_body(&l, "", layer);
    if (mtp) add_mtp_extras_tail(&l, "");
    return l.bytes;
}

uint64_t ds_sample_total_bytes(const ds_sample_opts *o) {
    sg_list g = {.o = o, .counting = 1};
    add_bf16(&g, "", "", o->vocab, o->hidden);
    add_norm(&g, "", "", o->hidden);
    add_bf16(&g, "", "", o->vocab, o->hidden);
    uint64_t total = g.bytes;
    total += (uint64_t)o->dense * layer_bytes(o, 0, 0);
    total += (uint64_t)(o->layers - o->dense) * layer_bytes(o, 1, 0);
    total += (uint64_t)o->mtp * layer_bytes(o, 1, 1);
    return total;
}

void ds_sample_shard_name(char *buf, size_t len, int k, int n) {
    snprintf(buf, len, "model-%05d-of-%05d.safetensors", k + 1, n);
}

/* Shards: close a shard once it holds its share of the bytes, but only right
 * after an FP8 weight, so its weight_scale_inv opens the next shard (the real
 * checkpoint has such pairs; readers must not assume a scale sits next to its
 * weight). When too few tensors are left for the remaining shards, close early. */
static int assign_shards(const ds_sample_opts *o, sg_spec *v, int n, uint64_t total, int *n_shards) {
    int want = o->single_file ? 1 : o->shards;
    if (want == 0) want = (int)((total + SHARD_TARGET - 1) / SHARD_TARGET);
    if (want < 1) want = 1;
    if (want > n)
        return ds_fail(DS_EXIT_USAGE, "--shards %d: more shards than the %d tensors", want, n);
    int last_fp8 = -1;
    for (int i = 0; i < n; i++)
        if (v[i].kind == K_FP8) last_fp8 = i;
    double target = (double)total / want;
    uint64_t cum = 0;
    int cur = 0;
    for (int i = 0; i < n; i++) {
        v[i].t.shard = cur;
        cum += v[i].t.bytes;
        if (cur == want - 1) continue;
        int force = n - (i + 1) == want - 1 - cur;
        int full = (double)cum >= target * (cur + 1);
        int at_pair = o->bf16 || v[i].kind == K_FP8 || i > last_fp8;
        if (force || (full && at_pair)) cur++;
    }
    *n_shards = want;
    return 0;
}

static int plan(const ds_sample_opts *o, sg_spec **out, int *n, int *n_shards) {
    DS_TRY(ds_sample_check(o));
    sg_list l = {.o = o};
    build_list(&l);
    int rc = assign_shards(o, l.v, l.n, l.bytes, n_shards);
    if (rc) { free(l.v); return rc; }
    *out = l.v;
    *n = l.n;
    return 0;
}

int ds_sample_plan(const ds_sample_opts *o, ds_sample_tensor **out, int *n, int *n_shards) {
    sg_spec *v;
    DS_TRY(plan(o, &v, n, n_shards));
    *out = xmalloc((size_t)(*n ? *n : 1) * sizeof **out);
    for (int i = 0; i < *n; i++) (*out)[i] = v[i].t;
    free(v);
    return 0;
}

/* ---------------------------------------------------------------- v3-bench */

/* DeepSeek-V3's dims, or for k > 1 (budgets too small for one real layer)
 * the same structure scaled down: hidden, q_lora and vocab divided by k,
 * heads and kv_lora by k down to 32 and 128. Whatever k, every dim that
 * model-parallel 16 splits, and its scale's, divides by 16 (heads >= 32 keeps
 * q_b's 1.5*heads scale rows so; inter a multiple of 2048; moe_inter 2048). */
static void v3_dims(ds_sample_opts *o, int k) {
    o->hidden = 7168 / k;
    o->heads = 128 / k > 32 ? 128 / k : 32;
    o->q_lora = 1536 / k;
    o->kv_lora = 512 / k > 128 ? 512 / k : 128;
    o->nope = 128; o->rope = 64; o->v_dim = 128;
    o->inter = k == 1 ? 18432 : (18432 / k / 2048 > 1 ? 18432 / k / 2048 : 1) * 2048;
    o->moe_inter = 2048;
    o->vocab = 129280 / k;
    o->shared = 1; o->topk = 8; o->groups = 8; o->topk_groups = 4;
}

/* The largest (dense layers 3..1, MoE layers, routed experts) that fits the
 * budget with the dims set in o. Experts are multiples of 16 (model-parallel
 * 16 deals them out whole; >= 16 also lets top-8 pick from 4 of 8 groups).
 * Prefer the real 256 experts: among fits within 3% of the budget take the
 * most experts, otherwise the largest fit. 0 or -1 when nothing fits. */
static int v3_fit(ds_sample_opts *o, uint64_t budget, int mtp) {
    int best_d = -1, best_m = 0, best_e = 0;
    uint64_t best = 0;
    for (int d = 3; d >= 1 && best_d < 0; d--) {
        for (int m = 1; m <= 61 - d; m++) {
            int fits = 0;
            for (int e = 256; e >= 16; e -= 16) {
                ds_sample_opts t = *o;
                t.dense = d; t.layers = d + m; t.experts = e; t.mtp = mtp;
                uint64_t b = ds_sample_total_bytes(&t);
                if (b > budget) continue;
                int near = b >= budget * 0.97, best_near = best >= budget * 0.97;
                int better = best_d < 0 || (near && !best_near) ||
                             (near && best_near && (e > best_e || (e == best_e && b > best))) ||
                             (!near && !best_near && b > best);
                if (better) { best_d = d; best_m = m; best_e = e; best = b; }
                fits = 1;
                break; /* smaller e only shrinks b */
            }
            if (!fits) break; /* more layers only grow b */
        }
    }
    if (best_d < 0) return -1;
    o->dense = best_d; o->layers = best_d + best_m; o->experts = best_e; o->mtp = mtp;
    return 0;
}

int ds_sample_profile_v3_bench(ds_sample_opts *o, double size_gb, int mtp, int *scale_down) {
    if (!(size_gb > 0) || size_gb > 1e6)
        return ds_fail(DS_EXIT_USAGE, "--size-gb %g: must be a positive size in GB", size_gb);
    uint64_t budget = (uint64_t)(size_gb * 1e9);
    o->fast = 1;
    for (int k = 1; k <= 32; k *= 2) {
        v3_dims(o, k);
        /* one MTP layer when it fits (as the real model), unless told */
        for (int m = mtp < 0 ? 1 : mtp; m >= (mtp < 0 ? 0 : mtp); m--)
            if (v3_fit(o, budget, m) == 0) {
                if (scale_down) *scale_down = k;
                return 0;
            }
    }
    ds_sample_opts t = *o;
    t.dense = 1; t.layers = 2; t.experts = 16; t.mtp = mtp < 0 ? 0 : mtp;
    return ds_fail(DS_EXIT_USAGE, "--size-gb %g: too small for the v3-bench profile (needs at least %.3f GB)",
                   size_gb, ds_sample_total_bytes(&t) / 1e9);
}

/* ---------------------------------------------------------------- values */

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* splitmix64 output number i of the stream keyed by key. */
static inline uint64_t rnd(uint64_t key, uint64_t i) { return mix64(key + (i + 1) * GOLDEN); }
static inline float unit24(uint64_t r) { return (float)(r >> 40) * (1.0f / 16777216.0f); }

static uint64_t tensor_key(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return mix64(h ^ mix64(seed + GOLDEN));
}

/* Uniform 16-bit numbers for flat element indices [i0, i0+n): element i is
 * piece i%4 of random word i/4, whatever the chunking. */
static void u16_span(uint64_t key, uint64_t i0, size_t n, uint16_t *out) {
    uint64_t i = i0, end = i0 + n;
    while (i < end && (i & 3)) { *out++ = (uint16_t)(rnd(key, i >> 2) >> (16 * (i & 3))); i++; }
    for (; i + 4 <= end; i += 4) {
        uint64_t r = rnd(key, i >> 2);
        out[0] = (uint16_t)r; out[1] = (uint16_t)(r >> 16); out[2] = (uint16_t)(r >> 32); out[3] = (uint16_t)(r >> 48);
        out += 4;
    }
    for (; i < end; i++) *out++ = (uint16_t)(rnd(key, i >> 2) >> (16 * (i & 3)));
}

typedef struct {
    const ds_sample_opts *o;
    float z[65536];       /* standard-normal quantile of (u + 0.5) / 65536 */
    uint8_t q[65536];     /* fast mode: e4m3(z * q_sigma), largest |value| exactly 448 */
    uint16_t b[65536];    /* bf16(0 + W_SIGMA * z): the common BF16 case as a lookup, same bytes */
    float q_sigma;
    int threads;          /* generator threads: one core is left to the writer thread */
} sg_gen;

/* z with upper-tail probability q (0 < q <= 0.5): bisection on erfc, which
 * stays accurate far in the tail where Newton from a rough start overshoots. */
static double upper_quantile(double q) {
    double lo = 0, hi = 10;
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(mid / sqrt(2.0)) > q) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

static void gen_init(sg_gen *g, const ds_sample_opts *o) {
    g->o = o;
    g->threads = omp_get_max_threads() > 1 ? omp_get_max_threads() - 1 : 1;
    for (int u = 32768; u < 65536; u++) {
        float z = (float)upper_quantile((65536 - u - 0.5) / 65536.0);
        g->z[u] = z;
        g->z[65535 - u] = -z;
    }
    g->q_sigma = 448.0f / g->z[65535];
    for (int u = 0; u < 65536; u++) {
        g->q[u] = ds_f32_to_e4m3(g->z[u] * g->q_sigma);
        g->b[u] = ds_f32_to_bf16(0.0f + W_SIGMA * g->z[u]);
    }
}

/* Smallest power of two >= x (x > 0, finite). */
static float pow2_ceil(float x) {
    if (!(x > 0) || !isfinite(x)) return 1.0f;
    int e;
    float m = frexpf(x, &e);
    return m == 0.5f ? x : ldexpf(1.0f, e);
}

static float block_sigma(uint64_t key, int64_t blk) {
    return W_SIGMA * (0.75f + 0.5f * unit24(rnd(key ^ 0xD1B54A32D192ED03ull, (uint64_t)blk)));
}

/* The weight_scale_inv of block (br, bc) of an FP8 weight [rows, cols] and
 * that block's sigma: amax/448 of the block's values (rounded up to a power
 * of two for ue8m0), or in fast mode sigma/q_sigma without looking at values. */
static float block_scale(const sg_gen *g, uint64_t key, int64_t rows, int64_t cols, int64_t br, int64_t bc,
                         float *sigma, int pow2) {
    int64_t sc = (cols + BLK - 1) / BLK;
    float s = block_sigma(key, br * sc + bc);
    *sigma = s;
    float scale;
    if (g->o->fast) {
        scale = s / g->q_sigma;
    } else {
        int64_t r1 = br * BLK + BLK < rows ? br * BLK + BLK : rows;
        int64_t c0 = bc * BLK, bw = c0 + BLK < cols ? BLK : cols - c0;
        uint16_t u[BLK];
        float amax = 0;
        for (int64_t r = br * BLK; r < r1; r++) {
            u16_span(key, (uint64_t)(r * cols + c0), (size_t)bw, u);
            for (int64_t j = 0; j < bw; j++) {
                float a = fabsf(s * g->z[u[j]]);
                if (a > amax) amax = a;
            }
        }
        scale = amax > 0 ? amax / 448.0f : 1.0f;
    }
    return pow2 ? pow2_ceil(scale) : scale;
}

/* Whether a weight's block scales are powers of two: ue8m0, except o_proj
 * when asked (V3.1-Terminus ships such scales under scale_fmt ue8m0). */
static int pow2_scales(const sg_gen *g, const char *weight) {
    return g->o->ue8m0 && !(g->o->odd_oproj_scales && strstr(weight, "o_proj"));
}

/* Rows [r0, r0+nr) of tensor ti into out (row-major bytes of its dtype). */
static void gen_rows(const sg_gen *g, const sg_spec *all, int ti, int64_t r0, int64_t nr, void *out) {
    const sg_spec *s = &all[ti];
    uint64_t key = tensor_key(g->o->seed, s->t.name);
    int64_t rows = s->t.shape[0], cols = s->t.ndim == 2 ? s->t.shape[1] : 1;
    if (s->t.ndim == 1) { cols = rows; rows = 1; }
    int table16 = s->t.dtype == DS_BF16 && s->mean == 0.0f && s->sigma == W_SIGMA;
    /* threads only where there is work for them: norms and scales are tiny,
     * and waking a team for each costs more than it saves */
    int par = nr * cols >= (1 << 18), nt = g->threads;
    if (s->kind == K_PLAIN) {
        #pragma omp parallel for schedule(static) if (par) num_threads(nt)
        for (int64_t r = r0; r < r0 + nr; r++) {
            uint16_t u[1024];
            for (int64_t c = 0; c < cols; c += 1024) {
                size_t m = (size_t)(cols - c < 1024 ? cols - c : 1024);
                u16_span(key, (uint64_t)(r * cols + c), m, u);
                size_t at = (size_t)((r - r0) * cols + c);
                if (table16) {
                    uint16_t *o16 = (uint16_t *)out + at;
                    for (size_t j = 0; j < m; j++) o16[j] = g->b[u[j]];
                } else if (s->t.dtype == DS_BF16) {
                    uint16_t *o16 = (uint16_t *)out + at;
                    for (size_t j = 0; j < m; j++) o16[j] = ds_f32_to_bf16(s->mean + s->sigma * g->z[u[j]]);
                } else {
                    float *o32 = (float *)out + at;
                    for (size_t j = 0; j < m; j++) o32[j] = s->mean + s->sigma * g->z[u[j]];
                }
            }
        }
    } else if (s->kind == K_FP8 && g->o->fast) {
        /* The byte table already is e4m3 of a Gaussian scaled to the block range. */
        uint8_t *o8 = out;
        #pragma omp parallel for schedule(static) if (par) num_threads(nt)
        for (int64_t r = r0; r < r0 + nr; r++) {
            uint16_t u[1024];
            for (int64_t c = 0; c < cols; c += 1024) {
                size_t m = (size_t)(cols - c < 1024 ? cols - c : 1024);
                u16_span(key, (uint64_t)(r * cols + c), m, u);
                uint8_t *d = o8 + (r - r0) * cols + c;
                for (size_t j = 0; j < m; j++) d[j] = g->q[u[j]];
            }
        }
    } else if (s->kind == K_FP8) {
        /* Exact: value = sigma_b * z, quantized with the block's amax/448 scale. */
        uint8_t *o8 = out;
        int64_t b0 = r0 / BLK, nbr = (nr + BLK - 1) / BLK, nbc = (cols + BLK - 1) / BLK;
        int pow2 = pow2_scales(g, s->t.name);
        #pragma omp parallel for collapse(2) schedule(static) if (par) num_threads(nt)
        for (int64_t br = b0; br < b0 + nbr; br++) {
            for (int64_t bc = 0; bc < nbc; bc++) {
                float sig, scale = block_scale(g, key, rows, cols, br, bc, &sig, pow2);
                int64_t c0 = bc * BLK, bw = c0 + BLK < cols ? BLK : cols - c0;
                int64_t r1 = br * BLK + BLK < rows ? br * BLK + BLK : rows;
                uint16_t u[BLK];
                for (int64_t r = br * BLK; r < r1; r++) {
                    u16_span(key, (uint64_t)(r * cols + c0), (size_t)bw, u);
                    uint8_t *d = o8 + (r - r0) * cols + c0;
                    for (int64_t j = 0; j < bw; j++) d[j] = ds_f32_to_e4m3(sig * g->z[u[j]] / scale);
                }
            }
        }
    } else if (s->kind == K_INT4) {
        /* eight random 4-bit values per int32 */
        uint32_t *o32 = out;
        for (int64_t i = 0; i < nr * cols; i++) o32[i] = (uint32_t)rnd(key, (uint64_t)(r0 * cols + i));
    } else if (s->kind == K_INT4_SCALE) {
        /* positive group scales around what a W_SIGMA weight's amax/7.5 gives */
        uint16_t *o16 = out;
        for (int64_t i = 0; i < nr * cols; i++)
            o16[i] = ds_f32_to_bf16(W_SIGMA * 3.0f / 7.5f * (0.75f + 0.5f * unit24(rnd(key, (uint64_t)(r0 * cols + i)))));
    } else if (s->kind == K_SHAPE) {
        int32_t *o32 = out;
        o32[0] = (int32_t)s->logical[0];
        o32[1] = (int32_t)s->logical[1];
    } else { /* K_SCALE: the weight's block scales, whatever shard the weight is in */
        const sg_spec *w = &all[s->weight];
        int pow2 = pow2_scales(g, w->t.name);
        uint64_t wkey = tensor_key(g->o->seed, w->t.name);
        float *o32 = out;
        int64_t sc = cols;
        par = !g->o->fast && w->t.shape[0] * w->t.shape[1] >= (1 << 18); /* exact scales scan the weight */
        #pragma omp parallel for schedule(dynamic) if (par) num_threads(nt)
        for (int64_t r = r0; r < r0 + nr; r++)
            for (int64_t c = 0; c < sc; c++) {
                float sig;
                o32[(r - r0) * sc + c] = block_scale(g, wkey, w->t.shape[0], w->t.shape[1], r, c, &sig, pow2);
            }
    }
}

/* ---------------------------------------------------------------- writing */

/* One write in flight on a helper thread while the next chunk is generated. */
typedef struct {
    ds_st_writer *w;
    const void *buf;
    size_t n;
    uint64_t off;        /* file offset of buf */
    int rc, busy;
    pthread_t th;
} sg_async;

/* Writes one chunk and starts its writeback at once: GB-sized outputs then
 * stream to disk steadily instead of piling up dirty pages until the kernel
 * throttles the writer (a hint; its failure changes nothing). */
static void *async_run(void *p) {
    sg_async *a = p;
    a->rc = ds_stw_append(a->w, a->buf, a->n);
    if (!a->rc) (void)sync_file_range(ds_stw_fd(a->w), (off64_t)a->off, (off64_t)a->n, SYNC_FILE_RANGE_WRITE);
    return NULL;
}
static int async_wait(sg_async *a) {
    if (!a->busy) return 0;
    pthread_join(a->th, NULL);
    a->busy = 0;
    return a->rc;
}
static int async_submit(sg_async *a, ds_st_writer *w, uint64_t off, const void *buf, size_t n) {
    DS_TRY(async_wait(a));
    a->w = w; a->buf = buf; a->n = n; a->off = off; a->rc = 0;
    if (pthread_create(&a->th, NULL, async_run, a) != 0) { /* no thread: write now */
        async_run(a);
        return a->rc;
    }
    a->busy = 1;
    return 0;
}

static int write_shard(const sg_gen *g, const sg_spec *all, int first, int count, const char *path,
                       uint8_t *bufs[2]) {
    ds_tensor_desc *d = xcalloc((size_t)count, sizeof *d);
    for (int i = 0; i < count; i++) {
        const ds_sample_tensor *t = &all[first + i].t;
        d[i].name = t->name;
        d[i].dtype = t->dtype;
        d[i].ndim = t->ndim;
        d[i].shape[0] = t->shape[0];
        d[i].shape[1] = t->shape[1];
    }
    ds_st_writer *w = NULL;
    int rc = ds_stw_open(&w, path, d, count);
    free(d);
    if (rc) return rc;
    sg_async a = {0};
    int k = 0;
    uint64_t off = count ? ds_stw_tensor_offset(w, 0) : 0;
    for (int i = 0; i < count && !rc; i++) {
        const sg_spec *s = &all[first + i];
        int64_t rows = s->t.ndim == 2 ? s->t.shape[0] : 1;
        uint64_t row_bytes = s->t.bytes / (uint64_t)rows;
        int64_t step = (int64_t)(CHUNK_BYTES / (row_bytes ? row_bytes : 1));
        if (s->kind == K_FP8) step = step / BLK * BLK; /* whole blocks, each with its own scale */
        if (step < (s->kind == K_FP8 ? BLK : 1)) step = s->kind == K_FP8 ? BLK : 1;
        if (s->kind == K_SCALE) step = rows; /* small; one chunk */
        for (int64_t r0 = 0; r0 < rows && !rc; r0 += step) {
            int64_t nr = rows - r0 < step ? rows - r0 : step;
            uint8_t *buf = bufs[k++ & 1];
            /* buf was last used two submits ago; async_submit waited for it */
            gen_rows(g, all, first + i, r0, nr, buf);
            size_t len = (size_t)(nr * (int64_t)row_bytes);
            rc = async_submit(&a, w, off, buf, len);
            off += len;
        }
    }
    int rc2 = async_wait(&a);
    if (!rc) rc = rc2;
    if (rc) { ds_stw_abort(w); return rc; }
    return ds_stw_commit(w);
}

static int write_json(const char *dir, const char *name, cJSON *j) {
    char *path = ds_path_join(dir, name);
    int rc = ds_write_json_atomic(path, j);
    cJSON_Delete(j);
    free(path);
    return rc;
}

static cJSON *jadd_num(cJSON *o, const char *k, double v) { return cJSON_AddNumberToObject(o, k, v); }

static int write_config(const ds_sample_opts *o) {
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    const char *mt = o->model_type ? o->model_type : "deepseek_v3";
    cJSON_AddItemToArray(arch, cJSON_CreateString(!strcmp(mt, "deepseek_v32") ? "DeepseekV32ForCausalLM"
                                                                               : "DeepseekV3ForCausalLM"));
    cJSON_AddStringToObject(c, "model_type", mt);
    jadd_num(c, "vocab_size", o->vocab);
    jadd_num(c, "hidden_size", o->hidden);
    jadd_num(c, "intermediate_size", o->inter);
    jadd_num(c, "moe_intermediate_size", o->moe_inter);
    jadd_num(c, "num_hidden_layers", o->layers);
    jadd_num(c, "num_nextn_predict_layers", o->mtp);
    jadd_num(c, "first_k_dense_replace", o->dense);
    jadd_num(c, "moe_layer_freq", 1);
    jadd_num(c, "num_attention_heads", o->heads);
    jadd_num(c, "num_key_value_heads", o->heads);
    if (o->q_lora > 0) jadd_num(c, "q_lora_rank", o->q_lora);
    else cJSON_AddNullToObject(c, "q_lora_rank");
    jadd_num(c, "kv_lora_rank", o->kv_lora);
    jadd_num(c, "qk_nope_head_dim", o->nope);
    jadd_num(c, "qk_rope_head_dim", o->rope);
    jadd_num(c, "v_head_dim", o->v_dim);
    jadd_num(c, "n_routed_experts", o->experts);
    jadd_num(c, "n_shared_experts", o->shared);
    jadd_num(c, "num_experts_per_tok", o->topk);
    jadd_num(c, "n_group", o->groups);
    jadd_num(c, "topk_group", o->topk_groups);
    jadd_num(c, "routed_scaling_factor", o->kimi ? 2.827 : 2.5);
    cJSON_AddStringToObject(c, "scoring_func", "sigmoid");
    cJSON_AddStringToObject(c, "topk_method", "noaux_tc");
    cJSON_AddBoolToObject(c, "norm_topk_prob", 1);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    jadd_num(c, "rms_norm_eps", 1e-6);
    jadd_num(c, "max_position_embeddings", o->kimi ? 131072 : 163840); /* Kimi: 32 x 4096, its YaRN factor */
    jadd_num(c, "rope_theta", o->kimi ? 50000 : 10000);
    cJSON *rs = cJSON_AddObjectToObject(c, "rope_scaling");
    cJSON_AddStringToObject(rs, "type", "yarn");
    jadd_num(rs, "factor", o->kimi ? 32 : 40);
    jadd_num(rs, "original_max_position_embeddings", 4096);
    jadd_num(rs, "beta_fast", o->kimi ? 1 : 32);
    jadd_num(rs, "beta_slow", 1);
    jadd_num(rs, "mscale", 1.0);
    jadd_num(rs, "mscale_all_dim", 1.0);
    cJSON_AddBoolToObject(c, "attention_bias", 0);
    jadd_num(c, "attention_dropout", 0.0);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", 0);
    jadd_num(c, "bos_token_id", 0);
    jadd_num(c, "eos_token_id", 1);
    jadd_num(c, "initializer_range", W_SIGMA);
    cJSON_AddStringToObject(c, "torch_dtype", "bfloat16");
    cJSON_AddBoolToObject(c, "use_cache", 1);
    if (o->index_heads > 0) {
        jadd_num(c, "index_n_heads", o->index_heads);
        jadd_num(c, "index_head_dim", o->index_dim);
        jadd_num(c, "index_topk", o->index_topk);
    }
    if (o->int4_experts) {
        /* as Kimi-K2-Thinking's config.json ships it: INT4 routed experts, every other Linear ignored */
        cJSON *q = cJSON_AddObjectToObject(c, "quantization_config");
        cJSON *grp = cJSON_AddObjectToObject(cJSON_AddObjectToObject(q, "config_groups"), "group_0");
        cJSON_AddNullToObject(grp, "input_activations");
        cJSON_AddNullToObject(grp, "output_activations");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(grp, "targets"), cJSON_CreateString("Linear"));
        cJSON *w = cJSON_AddObjectToObject(grp, "weights");
        cJSON_AddNullToObject(w, "actorder");
        cJSON_AddNullToObject(w, "block_structure");
        cJSON_AddBoolToObject(w, "dynamic", 0);
        jadd_num(w, "group_size", CT_GROUP);
        jadd_num(w, "num_bits", 4);
        cJSON_AddStringToObject(w, "observer", "minmax");
        cJSON_AddObjectToObject(w, "observer_kwargs");
        cJSON_AddStringToObject(w, "strategy", "group");
        cJSON_AddBoolToObject(w, "symmetric", 1);
        cJSON_AddStringToObject(w, "type", "int");
        cJSON_AddStringToObject(q, "format", "pack-quantized");
        cJSON *ig = cJSON_AddArrayToObject(q, "ignore");
        cJSON_AddItemToArray(ig, cJSON_CreateString("lm_head"));
        cJSON_AddItemToArray(ig, cJSON_CreateString("re:.*self_attn.*"));
        cJSON_AddItemToArray(ig, cJSON_CreateString("re:.*shared_experts.*"));
        cJSON_AddItemToArray(ig, cJSON_CreateString("re:.*mlp\\.(gate|up|gate_up|down)_proj.*"));
        cJSON_AddItemToArray(ig, cJSON_CreateString("re:.*mlp\\.gate$"));
        cJSON_AddNullToObject(q, "kv_cache_scheme");
        cJSON_AddStringToObject(q, "quant_method", "compressed-tensors");
        cJSON_AddStringToObject(q, "quantization_status", "compressed");
    }
    if (!o->bf16) {
        cJSON *q = cJSON_AddObjectToObject(c, "quantization_config");
        cJSON_AddStringToObject(q, "activation_scheme", "dynamic");
        cJSON_AddStringToObject(q, "fmt", "e4m3");
        cJSON_AddStringToObject(q, "quant_method", "fp8");
        if (o->ue8m0) cJSON_AddStringToObject(q, "scale_fmt", "ue8m0"); /* as DeepSeek-V3.1 spells it */
        cJSON *bs = cJSON_AddArrayToObject(q, "weight_block_size");
        cJSON_AddItemToArray(bs, cJSON_CreateNumber(BLK));
        cJSON_AddItemToArray(bs, cJSON_CreateNumber(BLK));
    }
    return write_json(o->out, "config.json", c);
}

static int write_small_jsons(const ds_sample_opts *o) {
    DS_TRY(write_config(o));
    cJSON *gc = cJSON_CreateObject();
    jadd_num(gc, "bos_token_id", 0);
    jadd_num(gc, "eos_token_id", 1);
    DS_TRY(write_json(o->out, "generation_config.json", gc));
    cJSON *tc = cJSON_CreateObject();
    jadd_num(tc, "model_max_length", 16384);
    return write_json(o->out, "tokenizer_config.json", tc);
}

static int write_index(const ds_sample_opts *o, const sg_spec *v, int n, int n_shards, uint64_t total) {
    cJSON *idx = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(idx, "metadata");
    jadd_num(meta, "total_size", (double)total);
    cJSON *map = cJSON_AddObjectToObject(idx, "weight_map");
    char fname[64];
    for (int i = 0; i < n; i++) {
        ds_sample_shard_name(fname, sizeof fname, v[i].t.shard, n_shards);
        cJSON_AddStringToObject(map, v[i].t.name, fname);
    }
    return write_json(o->out, "model.safetensors.index.json", idx);
}

/* model-NNNNN-of-NNNNN.safetensors */
static int is_shard_name(const char *s) {
    unsigned a, b;
    int used = 0;
    return sscanf(s, "model-%5u-of-%5u.safetensors%n", &a, &b, &used) == 2 && used == (int)strlen(s) &&
           strlen(s) == strlen("model-00001-of-00001.safetensors");
}

/* A previous run into the same directory may have left other shard files or
 * an index; they would make the new checkpoint inconsistent, so the files
 * this generator writes (and only those names) are removed first. */
static int remove_stale(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return DS_IO_FAIL(dir, "opendir");
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (!is_shard_name(e->d_name) && strcmp(e->d_name, "model.safetensors") &&
            strcmp(e->d_name, "model.safetensors.index.json"))
            continue;
        char *p = ds_path_join(dir, e->d_name);
        if (unlink(p) != 0 && errno != ENOENT) rc = DS_IO_FAIL(p, "remove");
        free(p);
    }
    closedir(d);
    return rc;
}

int ds_sample_generate(const ds_sample_opts *o) {
    sg_spec *v;
    int n, n_shards;
    DS_TRY(plan(o, &v, &n, &n_shards));
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += v[i].t.bytes;
    int rc = ds_mkdir_p(o->out);
    if (!rc) rc = remove_stale(o->out);
    if (rc) { free(v); return rc; }
    sg_gen *g = xmalloc(sizeof *g);
    gen_init(g, o);
    uint8_t *bufs[2] = {xaligned(CHUNK_BYTES), xaligned(CHUNK_BYTES)};
    double t0 = ds_now();
    uint64_t done = 0;
    char sz[32], fname[64];
    for (int k = 0, first = 0; k < n_shards && !rc; k++) {
        int count = 0;
        uint64_t bytes = 0;
        while (first + count < n && v[first + count].t.shard == k) bytes += v[first + count++].t.bytes;
        if (o->single_file) snprintf(fname, sizeof fname, "model.safetensors");
        else ds_sample_shard_name(fname, sizeof fname, k, n_shards);
        char *path = ds_path_join(o->out, fname);
        rc = write_shard(g, v, first, count, path, bufs);
        free(path);
        done += bytes;
        first += count;
        if (!rc && !o->quiet)
            fprintf(stderr, "dsconv-sample: %s: %d tensors, %s (%.0f%%)\n", fname, count,
                    ds_fmt_bytes(bytes, sz, sizeof sz), total ? 100.0 * done / total : 100.0);
    }
    free(bufs[0]);
    free(bufs[1]);
    free(g);
    if (!rc) rc = write_small_jsons(o);
    if (!rc && !o->single_file) rc = write_index(o, v, n, n_shards, total); /* last: marks it complete */
    if (!rc && !o->quiet) {
        double dt = ds_now() - t0;
        fprintf(stderr, "dsconv-sample: wrote %s: %d tensors in %d file%s, %s in %.2f s (%.0f MB/s)\n", o->out, n,
                n_shards, n_shards > 1 ? "s" : "", ds_fmt_bytes(total, sz, sizeof sz), dt,
                dt > 0 ? total / dt / 1e6 : 0.0);
    }
    free(v);
    return rc;
}
