/* summary.c - derive inspect's facts from names, shapes and config. */
#include "formats/summary.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Layer index from "model.layers.N." or (shard-for-mp names) "layers.N.". */
static int layer_index(const char *name) {
    int l = ds_layer_of(name);
    if (l >= 0 || strncmp(name, "layers.", 7) != 0) return l;
    char *end;
    long v = strtol(name + 7, &end, 10);
    return (end != name + 7 && *end == '.' && v < 1000000) ? (int)v : -1;
}

/* Routed expert index from ".experts.K." (not shared_experts). */
static int expert_index(const char *name) {
    const char *p = strstr(name, ".experts.");
    if (!p) return -1;
    char *end;
    long v = strtol(p + 9, &end, 10);
    return (end != p + 9 && *end == '.' && v < 1000000) ? (int)v : -1;
}

static int ceil_div(int64_t a, int64_t b) { return (int)((a + b - 1) / b); }

void ds_summarize(const ds_ckpt *c, ds_summary *s) {
    memset(s, 0, sizeof *s);
    s->max_layer = -1;
    s->n_tensors = c->n_entries;
    s->n_shards = c->n_shards;
    int cap = 64;
    int *expert_max = xcalloc((size_t)cap, sizeof(int)); /* per layer: highest expert index + 1 */
    char *seen = xcalloc((size_t)cap, 1);
    for (int i = 0; i < c->n_entries; i++) {
        const ds_ckpt_entry *e = &c->entries[i];
        uint64_t b = e->info->end - e->info->begin;
        s->bytes_by_dtype[e->info->dtype] += b;
        s->tensors_by_dtype[e->info->dtype]++;
        s->tensor_bytes += b;
        if (strncmp(e->name, "layers.", 7) == 0 || strcmp(e->name, "embed.weight") == 0) s->layout_mp = 1;
        if (ds_has_suffix(e->name, "_scale_inv")) s->scales++;
        int l = layer_index(e->name);
        if (l < 0) continue;
        if (l >= cap) {
            int nc = l * 2;
            expert_max = xrealloc(expert_max, sizeof(int) * (size_t)nc);
            seen = xrealloc(seen, (size_t)nc);
            memset(expert_max + cap, 0, sizeof(int) * (size_t)(nc - cap));
            memset(seen + cap, 0, (size_t)(nc - cap));
            cap = nc;
        }
        seen[l] = 1;
        if (l > s->max_layer) s->max_layer = l;
        int x = expert_index(e->name);
        if (x + 1 > expert_max[l]) expert_max[l] = x + 1;
        /* FP8 block size from the first weight that has a scale, if config lacks it. */
        if (!s->fp8_block[0] && e->info->dtype == DS_F8_E4M3 && e->info->ndim == 2) {
            char sn[512];
            snprintf(sn, sizeof sn, "%s_scale_inv", e->name);
            const ds_ckpt_entry *se = ds_ckpt_find(c, sn);
            if (se && se->info->ndim == 2 && se->info->shape[0] > 0 && se->info->shape[1] > 0) {
                int64_t r = e->info->shape[0], k = e->info->shape[1];
                for (int blk = 1; blk <= 4096; blk *= 2)
                    if (ceil_div(r, blk) == se->info->shape[0] && ceil_div(k, blk) == se->info->shape[1]) {
                        s->fp8_block[0] = s->fp8_block[1] = blk;
                        break;
                    }
            }
        }
    }
    if (c->has_config && !s->layout_mp && (s->family = ds_family_find(c->config.model_type)))
        for (int i = 0; i < c->n_entries; i++) {
            const ds_ckpt_entry *e = &c->entries[i];
            ds_schema_match m;
            if (!ds_schema_lookup(&c->config, s->family, e->name, &m)) {
                if (s->unknown < 4) snprintf(s->unknown_first[s->unknown], sizeof s->unknown_first[0], "%s", e->name);
                s->unknown++;
                continue;
            }
            ds_role r = m.rule->role;
            if (m.part == DS_PART_SCALE_INV) s->role_scaled[r]++;
            else if (m.part == DS_PART_CT && !strcmp(m.suffix, "weight_packed")) s->role_tensors[r]++, s->role_ct[r]++;
            else if (m.part == DS_PART_TENSOR) {
                s->role_tensors[r]++;
                s->role_dtypes[r] |= 1u << e->info->dtype;
            }
        }
    for (int l = 0; l <= s->max_layer; l++) {
        s->layers_present += seen[l];
        if (expert_max[l] > s->routed_experts) s->routed_experts = expert_max[l];
    }
    s->main_layers = c->has_config ? c->config.num_hidden_layers : s->layers_present;
    for (int l = s->main_layers; l <= s->max_layer; l++) s->mtp_layers += seen[l];
    if (c->has_config && c->config.weight_block_size[0]) {
        s->fp8_block[0] = c->config.weight_block_size[0];
        s->fp8_block[1] = c->config.weight_block_size[1];
    }
    free(expert_max);
    free(seen);
}

cJSON *ds_summary_json(const ds_ckpt *c, const ds_summary *s, int tensors) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", c->dir);
    if (c->has_config) {
        cJSON_AddStringToObject(o, "model_type", c->config.model_type);
        cJSON_AddNumberToObject(o, "num_hidden_layers", c->config.num_hidden_layers);
        cJSON_AddNumberToObject(o, "n_routed_experts", c->config.n_routed_experts);
        cJSON_AddStringToObject(o, "quant_method", c->config.has_quant ? c->config.quant_method : "none");
    }
    cJSON_AddStringToObject(o, "layout", s->layout_mp ? "model-parallel (DeepSeek-Infer)" : "hugging-face");
    cJSON_AddNumberToObject(o, "tensors", s->n_tensors);
    cJSON_AddNumberToObject(o, "shards", s->n_shards);
    cJSON_AddNumberToObject(o, "tensor_bytes", (double)s->tensor_bytes);
    cJSON_AddNumberToObject(o, "layers_present", s->layers_present);
    cJSON_AddNumberToObject(o, "main_layers", s->main_layers);
    cJSON_AddNumberToObject(o, "mtp_layers", s->mtp_layers);
    cJSON_AddNumberToObject(o, "routed_experts", s->routed_experts);
    cJSON_AddNumberToObject(o, "scale_tensors", s->scales);
    if (c->has_config) {
        const ds_family *f = ds_family_find(c->config.model_type);
        cJSON_AddStringToObject(o, "family", f ? f->model_type : "unsupported");
        cJSON_AddStringToObject(o, "scale_fmt", c->config.scale_fmt[0] ? c->config.scale_fmt : "none");
        cJSON_AddBoolToObject(o, "indexer", f && f->indexer);
        if (f && f->indexer) {
            cJSON_AddNumberToObject(o, "index_n_heads", c->config.index_n_heads);
            cJSON_AddNumberToObject(o, "index_head_dim", c->config.index_head_dim);
            cJSON_AddNumberToObject(o, "index_topk", c->config.index_topk);
        }
        cJSON_AddNumberToObject(o, "q_lora_rank", c->config.q_lora_rank);
        cJSON_AddNumberToObject(o, "n_group", c->config.n_group);
        cJSON_AddNumberToObject(o, "routed_scaling_factor", c->config.routed_scaling_factor);
    }
    if (s->family) {
        cJSON *g = cJSON_AddObjectToObject(o, "tensor_groups");
        for (int r = 0; r < DS_ROLE_COUNT; r++) {
            if (!s->role_tensors[r]) continue;
            char st[160];
            ds_summary_group_storage(s, (ds_role)r, st, sizeof st);
            cJSON *x = cJSON_AddObjectToObject(g, ds_role_name((ds_role)r));
            cJSON_AddNumberToObject(x, "tensors", s->role_tensors[r]);
            cJSON_AddStringToObject(x, "storage", st);
        }
        cJSON_AddNumberToObject(o, "unknown_tensors", s->unknown);
        cJSON *u = cJSON_AddArrayToObject(o, "unknown_first");
        for (int i = 0; i < s->unknown && i < 4; i++) cJSON_AddItemToArray(u, cJSON_CreateString(s->unknown_first[i]));
    }
    cJSON *blk = cJSON_AddArrayToObject(o, "fp8_block_size");
    if (s->fp8_block[0]) {
        cJSON_AddItemToArray(blk, cJSON_CreateNumber(s->fp8_block[0]));
        cJSON_AddItemToArray(blk, cJSON_CreateNumber(s->fp8_block[1]));
    }
    cJSON *bd = cJSON_AddObjectToObject(o, "by_dtype");
    for (int d = 0; d < DS_DTYPE_COUNT; d++) {
        if (!s->tensors_by_dtype[d]) continue;
        cJSON *x = cJSON_AddObjectToObject(bd, ds_dtype_name((ds_dtype)d));
        cJSON_AddNumberToObject(x, "tensors", s->tensors_by_dtype[d]);
        cJSON_AddNumberToObject(x, "bytes", (double)s->bytes_by_dtype[d]);
    }
    cJSON *sh = cJSON_AddArrayToObject(o, "shard_files");
    for (int i = 0; i < c->n_shards; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "file", c->shard_names[i]);
        cJSON_AddNumberToObject(x, "tensors", c->shards[i].n_tensors);
        cJSON_AddNumberToObject(x, "bytes", (double)c->shards[i].file_size);
        cJSON_AddItemToArray(sh, x);
    }
    if (tensors) {
        cJSON *ts = cJSON_AddArrayToObject(o, "tensor_list");
        for (int i = 0; i < c->n_entries; i++) {
            const ds_ckpt_entry *e = &c->entries[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", e->name);
            cJSON_AddStringToObject(x, "dtype", ds_dtype_name(e->info->dtype));
            cJSON *shp = cJSON_AddArrayToObject(x, "shape");
            for (int d = 0; d < e->info->ndim; d++) cJSON_AddItemToArray(shp, cJSON_CreateNumber((double)e->info->shape[d]));
            cJSON_AddStringToObject(x, "file", c->shard_names[e->file]);
            cJSON_AddItemToArray(ts, x);
        }
    }
    return o;
}

void ds_summary_group_storage(const ds_summary *s, ds_role r, char *buf, size_t cap) {
    buf[0] = 0;
    size_t n = 0;
    if (s->role_ct[r]) n += (size_t)snprintf(buf + n, cap - n, "int (compressed-tensors weight_packed)");
    for (int d = 0; d < DS_DTYPE_COUNT && n < cap; d++)
        if (s->role_dtypes[r] & (1u << d))
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? " + " : "", ds_dtype_name((ds_dtype)d));
    if (s->role_scaled[r] && n < cap)
        snprintf(buf + n, cap - n, " (%d with FP8 block scales)", s->role_scaled[r]);
}
