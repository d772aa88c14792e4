/* shard_mp.c - plan of shard-for-mp (upstream convert.py, byte for byte).
 *
 * Every source tensor becomes one item that writes to each rank its part:
 * routed experts whole to rank K / (E/N), split tensors as N contiguous row or
 * column ranges, the rest replicated. All splits are checked before anything
 * is written, so a refused input leaves no rank files. */
#include "convert/shard_mp.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* convert.py's table: HF component -> (new component, split dimension). */
static const struct { const char *from, *to; int dim; } mapping[] = {
    {"embed_tokens", "embed", 0}, {"input_layernorm", "attn_norm", -1}, {"post_attention_layernorm", "ffn_norm", -1},
    {"q_proj", "wq", 0}, {"q_a_proj", "wq_a", -1}, {"q_a_layernorm", "q_norm", -1}, {"q_b_proj", "wq_b", 0},
    {"kv_a_proj_with_mqa", "wkv_a", -1}, {"kv_a_layernorm", "kv_norm", -1}, {"kv_b_proj", "wkv_b", 0},
    {"o_proj", "wo", 1}, {"gate", "gate", -1}, {"gate_proj", "w1", 0}, {"down_proj", "w2", 1},
    {"up_proj", "w3", 0}, {"norm", "norm", -1}, {"lm_head", "head", 0}, {"scale", "scale", -1},
};

/* Replaces every occurrence of `from` in *s by `to` (Python's str.replace). */
static void replace_all(char **s, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = strstr(*s, from); p; p = strstr(p + fl, from)) n++;
    if (!n) return;
    char *out = xmalloc(strlen(*s) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
    const char *src = *s;
    for (const char *p = strstr(src, from); p; p = strstr(src, from)) {
        memcpy(o, src, (size_t)(p - src)); o += p - src;
        memcpy(o, to, tl); o += tl;
        src = p + fl;
    }
    strcpy(o, src);
    free(*s);
    *s = out;
}

int ds_mp_rename(const char *hf_name, char **out, int *dim) {
    char *n = xstrdup(strncmp(hf_name, "model.", 6) == 0 ? hf_name + 6 : hf_name);
    replace_all(&n, "self_attn", "attn");
    replace_all(&n, "mlp", "ffn");
    replace_all(&n, "weight_scale_inv", "scale");
    replace_all(&n, "e_score_correction_bias", "bias");
    /* key = the second-to-last dot component */
    char *last = strrchr(n, '.');
    if (!last) { free(n); return ds_fail(DS_EXIT_INPUT, "tensor %s: name has no component to map", hf_name); }
    char *prev = last;
    while (prev > n && prev[-1] != '.') prev--;
    char *key = strndup(prev, (size_t)(last - prev));
    int found = -1;
    for (size_t i = 0; i < sizeof mapping / sizeof mapping[0]; i++)
        if (!strcmp(mapping[i].from, key)) { found = (int)i; break; }
    if (found < 0) {
        int rc = ds_fail(DS_EXIT_INPUT, "tensor %s: component '%s' is not one convert.py maps", hf_name, key);
        free(key); free(n);
        return rc;
    }
    replace_all(&n, key, mapping[found].to);
    free(key);
    *out = n;
    *dim = mapping[found].dim;
    return 0;
}

/* Routed expert index of a renamed tensor ("...experts.K.w1.weight"), or -1. */
static int routed_expert(const char *name) {
    if (!strstr(name, "experts") || strstr(name, "shared_experts")) return -1;
    /* the third-from-last component */
    const char *end = name + strlen(name);
    int dots = 0;
    const char *p = end;
    while (p > name && dots < 3) { p--; if (*p == '.') dots++; }
    if (dots < 3) return -1;
    char *e;
    long v = strtol(p + 1, &e, 10);
    return (e != p + 1 && *e == '.') ? (int)v : -1;
}

int ds_plan_shard_mp(const ds_ckpt *c, const ds_mp_opts *o, ds_plan *p) {
    ds_plan_init(p);
    if (!c->has_config)
        return ds_fail(DS_EXIT_INPUT, "%s: shard-for-mp needs config.json (layers and experts)", c->dir);
    int N = o->mp, E = o->n_experts ? o->n_experts : c->config.n_routed_experts;
    if (o->n_experts && o->n_experts != c->config.n_routed_experts)
        return ds_fail(DS_EXIT_USAGE, "--n-experts %d disagrees with config.json's n_routed_experts %d", o->n_experts,
                       c->config.n_routed_experts);
    if (E % N)
        return ds_fail(DS_EXIT_USAGE, "%d routed experts cannot be spread evenly over %d ranks", E, N);
    int local = E / N;
    int *rank_file = xmalloc(sizeof(int) * (size_t)N);
    for (int i = 0; i < N; i++) {
        char fn[64];
        snprintf(fn, sizeof fn, "model%d-mp%d.safetensors", i, N);
        rank_file[i] = ds_plan_add_file(p, fn);
    }
    int rc = 0;
    for (int s = 0; s < c->n_shards && !rc; s++) {
        const ds_st_file *sf = &c->shards[s];
        for (int t = 0; t < sf->n_tensors && !rc; t++) {
            const ds_ckpt_entry *e = ds_ckpt_find(c, sf->tensors[t].name);
            int layer = ds_layer_of(e->name);
            if (layer >= c->config.num_hidden_layers) continue;       /* MTP */
            if (o->to_bf16 && ds_is_scale_name(e->name)) continue;     /* folded into the weight */
            char *name;
            int dim;
            if ((rc = ds_mp_rename(e->name, &name, &dim))) break;
            ds_xform xf = DS_XF_COPY;
            const ds_ckpt_entry *scale = NULL;
            int block[2] = {0, 0};
            ds_dtype dt = e->info->dtype;
            if (o->to_bf16 && dt == DS_F8_E4M3) {
                if ((rc = ds_plan_fp8_scale(c, e, &scale, block))) { free(name); break; }
                xf = DS_XF_FP8_TO_BF16;
                dt = DS_BF16;
            }
            int expert = routed_expert(name);
            int64_t shape[DS_MAX_DIMS];
            memcpy(shape, e->info->shape, sizeof shape);
            if (expert < 0 && dim >= 0) {
                if (e->info->ndim <= dim) {
                    rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: has %d dimensions, cannot split dimension %d",
                                 c->shard_names[e->file], e->name, e->info->ndim, dim);
                } else if (e->info->shape[dim] % N) {
                    rc = ds_fail(DS_EXIT_INPUT,
                                 "%s: tensor %s (%s): dimension %d (size %lld) is not divisible by %d ranks",
                                 c->shard_names[e->file], e->name, name, dim, (long long)e->info->shape[dim], N);
                } else if (dim == 1 && e->info->ndim != 2) {
                    rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: column split of a %d-D tensor is not supported",
                                 c->shard_names[e->file], e->name, e->info->ndim);
                }
                if (rc) { free(name); break; }
                shape[dim] /= N;
            }
            if (expert >= E) {
                rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: expert %d but only %d routed experts",
                             c->shard_names[e->file], e->name, expert, E);
                free(name);
                break;
            }
            /* Tensors first in every file they go to, then the item that fills them. */
            int tix[4096];
            int ranks = N <= 4096 ? N : 4096;
            for (int i = 0; i < ranks; i++) {
                tix[i] = -1;
                if (expert >= 0 && expert / local != i) continue;
                tix[i] = ds_plan_add_tensor(p, rank_file[i], name, dt, e->info->ndim, shape);
            }
            ds_plan_item *it = ds_plan_add_item(p, e, xf);
            it->scale = scale;
            it->block[0] = block[0];
            it->block[1] = block[1];
            for (int i = 0; i < ranks; i++) {
                if (tix[i] < 0) continue;
                if (expert < 0 && dim >= 0)
                    ds_plan_add_out(p, rank_file[i], tix[i], dim, i * shape[dim], (i + 1) * shape[dim]);
                else
                    ds_plan_add_out(p, rank_file[i], tix[i], -1, 0, 0);
            }
            free(name);
        }
    }
    free(rank_file);
    if (rc) return rc;
    DS_TRY(ds_plan_copy_side_files(p, c, 1));
    char *cfg = ds_path_join(c->dir, "config.json");
    ds_plan_add_extra_copy(p, "config.json", cfg);   /* last: marks the output complete */
    free(cfg);
    ds_plan_finish(p);
    return 0;
}
