/* fp8_to_bf16.c - plans of fp8-to-bf16 and strip-mtp: same shards, some
 * tensors transformed or dropped, index and config rewritten. */
#include "convert/fp8_to_bf16.h"
#include "formats/schema.h"
#include "common/util.h"
#include "common/json.h"

#include <stdlib.h>
#include <string.h>

typedef int (*keep_fn)(const ds_ckpt *c, const ds_ckpt_entry *e);

/* Index text: the input's weight_map order, minus dropped tensors. */
static int index_text(const ds_ckpt *c, const ds_plan *p, keep_fn keep, char **out) {
    char *path = ds_path_join(c->dir, "model.safetensors.index.json");
    cJSON *in;
    int rc = ds_json_load(path, DS_MAX_INDEX_BYTES, &in); /* strict and capped, as ds_ckpt_open read it */
    free(path);
    if (rc) return rc;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(in, "weight_map");
    cJSON *o = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddNumberToObject(meta, "total_size", (double)ds_plan_data_bytes(p));
    cJSON *om = cJSON_AddObjectToObject(o, "weight_map");
    const cJSON *it;
    cJSON_ArrayForEach(it, wm) {
        const ds_ckpt_entry *e = ds_ckpt_find(c, it->string);
        if (e && keep(c, e)) cJSON_AddStringToObject(om, it->string, it->valuestring);
    }
    *out = cJSON_Print(o);
    cJSON_Delete(o);
    cJSON_Delete(in);
    return 0;
}

static char *config_text(cJSON *cfg) {
    char *s = cJSON_Print(cfg);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n'; s[n + 1] = 0;
    return s;
}

/* Shared by both plans: walk shards in order, keep or transform each tensor. */
typedef int (*add_fn)(const ds_ckpt *c, ds_plan *p, int file, const ds_ckpt_entry *e);

static int walk(const ds_ckpt *c, ds_plan *p, keep_fn keep, add_fn add, int keep_empty_shards) {
    for (int s = 0; s < c->n_shards; s++) {
        const ds_st_file *sf = &c->shards[s];
        int file = -1;
        if (keep_empty_shards) file = ds_plan_add_file(p, c->shard_names[s]);
        for (int t = 0; t < sf->n_tensors; t++) {
            const ds_ckpt_entry *e = ds_ckpt_find(c, sf->tensors[t].name);
            if (!keep(c, e)) continue;
            if (file < 0) file = ds_plan_add_file(p, c->shard_names[s]);
            DS_TRY(add(c, p, file, e));
        }
    }
    return 0;
}

/* ------------------------------------------------------------ fp8-to-bf16 */

static int keep_bf16(const ds_ckpt *c, const ds_ckpt_entry *e) {
    (void)c;
    return !ds_is_scale_name(e->name);
}

static int add_bf16(const ds_ckpt *c, ds_plan *p, int file, const ds_ckpt_entry *e) {
    if (e->info->dtype != DS_F8_E4M3) { ds_plan_add_copy(p, file, e); return 0; }
    return ds_plan_add_dequant(c, p, file, e);
}

int ds_plan_fp8_to_bf16(const ds_ckpt *c, ds_plan *p) {
    ds_plan_init(p);
    /* Scales that belong to no FP8 weight are dropped too (as upstream does), but said. */
    for (int i = 0; i < c->n_entries; i++) {
        const ds_ckpt_entry *e = &c->entries[i];
        if (!ds_is_scale_name(e->name)) continue;
        char *w = strndup(e->name, strlen(e->name) - 10);
        const ds_ckpt_entry *we = ds_ckpt_find(c, w);
        if (!we || we->info->dtype != DS_F8_E4M3)
            ds_warn("%s: tensor %s: scale of no F8_E4M3 weight; dropped", c->shard_names[e->file], e->name);
        free(w);
    }
    int rc = walk(c, p, keep_bf16, add_bf16, 1);
    if (rc) return rc;
    DS_TRY(ds_plan_copy_side_files(p, c, 0));
    cJSON *cfg = ds_plan_load_config_json(c, &rc);
    if (rc) return rc;
    if (cfg) {
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "quantization_config");
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "torch_dtype");
        cJSON_AddStringToObject(cfg, "torch_dtype", "bfloat16");
        ds_plan_add_extra_text(p, "config.json", config_text(cfg));
        cJSON_Delete(cfg);
    }
    if (c->has_index) {
        char *idx;
        DS_TRY(index_text(c, p, keep_bf16, &idx));
        ds_plan_add_extra_text(p, "model.safetensors.index.json", idx);
    }
    ds_plan_finish(p);
    return 0;
}

/* -------------------------------------------------------------- strip-mtp */

static int keep_main(const ds_ckpt *c, const ds_ckpt_entry *e) {
    int l = ds_layer_of(e->name);
    return l < 0 || l < c->config.num_hidden_layers;
}

static int add_main(const ds_ckpt *c, ds_plan *p, int file, const ds_ckpt_entry *e) {
    (void)c;
    ds_plan_add_copy(p, file, e);
    return 0;
}

int ds_plan_strip_mtp(const ds_ckpt *c, ds_plan *p) {
    ds_plan_init(p);
    if (!c->has_config)
        return ds_fail(DS_EXIT_INPUT, "%s: strip-mtp needs config.json (num_hidden_layers says which layers are MTP)",
                       c->dir);
    const ds_family *fam; /* which layers are MTP depends on the architecture */
    DS_TRY(ds_schema_family(c->dir, &c->config, &fam));
    int rc = walk(c, p, keep_main, add_main, 0);
    if (rc) return rc;
    if (!p->n_files) return ds_fail(DS_EXIT_INPUT, "%s: no tensors left after removing the MTP layers", c->dir);
    DS_TRY(ds_plan_copy_side_files(p, c, 0));
    cJSON *cfg = ds_plan_load_config_json(c, &rc);
    if (rc) return rc;
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "num_nextn_predict_layers");
    cJSON_AddNumberToObject(cfg, "num_nextn_predict_layers", 0);
    ds_plan_add_extra_text(p, "config.json", config_text(cfg));
    cJSON_Delete(cfg);
    if (c->has_index) {
        char *idx;
        DS_TRY(index_text(c, p, keep_main, &idx));
        ds_plan_add_extra_text(p, "model.safetensors.index.json", idx);
    }
    ds_plan_finish(p);
    return 0;
}
