/* hf.c - a Hugging Face checkpoint directory: index, shards, config.
 *
 * Accepted layouts: DIR with model.safetensors.index.json; DIR with a single
 * model.safetensors; DIR with other *.safetensors files and no index (e.g. the
 * model{i}-mp{N} files of shard-for-mp); a lone FILE.safetensors. */
#define _GNU_SOURCE
#include "formats/hf.h"
#include "common/util.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const ds_ckpt_entry *)a)->name, ((const ds_ckpt_entry *)b)->name);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ds_layer_of(const char *name) {
    const char *p = "model.layers.";
    if (strncmp(name, p, strlen(p)) != 0) return -1;
    const char *s = name + strlen(p);
    if (*s < '0' || *s > '9') return -1;
    long v = strtol(s, (char **)&s, 10);
    return (*s == '.' && v < 1000000) ? (int)v : -1;
}

/* Opens the named shards and builds the sorted entry table; a tensor present
 * in two shards is an error. */
static int open_shards(ds_ckpt *c) {
    c->shards = xcalloc((size_t)c->n_shards + 1, sizeof(ds_st_file));
    c->file_mode = 0666;
    int total = 0, max_fds = DS_MAX_SHARD_FDS;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)max_fds > rl.rlim_cur / 4)
        max_fds = (int)(rl.rlim_cur / 4); /* leave room for outputs, OpenMP, CUDA */
    for (int i = 0; i < c->n_shards; i++) {
        char *p = ds_path_join(c->dir, c->shard_names[i]);
        int rc = ds_st_open(p, &c->shards[i]);
        free(p);
        if (rc) return rc;
        struct stat st;
        if (fstat(c->shards[i].fd, &st) == 0) c->file_mode &= (unsigned)st.st_mode & 0666;
        /* A bounded number of descriptors whatever the shard count: past the
         * first DS_MAX_SHARD_FDS (or a quarter of the descriptor limit), a
         * shard is read through its mapping alone (readers use the map when
         * fd < 0; a mapping needs no descriptor). */
        if (i >= max_fds) { close(c->shards[i].fd); c->shards[i].fd = -1; }
        total += c->shards[i].n_tensors;
        c->total_bytes += c->shards[i].file_size;
    }
    c->entries = xcalloc((size_t)total + 1, sizeof(ds_ckpt_entry));
    for (int i = 0; i < c->n_shards; i++)
        for (int j = 0; j < c->shards[i].n_tensors; j++) {
            ds_ckpt_entry *e = &c->entries[c->n_entries++];
            e->name = c->shards[i].tensors[j].name;
            e->file = i;
            e->info = &c->shards[i].tensors[j];
        }
    qsort(c->entries, (size_t)c->n_entries, sizeof(ds_ckpt_entry), cmp_entry);
    /* Model-parallel rank files (no index, several files) replicate tensors by
     * design: there a name may repeat, and lookups find one of the copies. */
    if (c->mp_layout) return 0;
    for (int i = 1; i < c->n_entries; i++)
        if (strcmp(c->entries[i - 1].name, c->entries[i].name) == 0)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: present in two shards, %s and %s", c->dir,
                           c->entries[i].name, c->shard_names[c->entries[i - 1].file],
                           c->shard_names[c->entries[i].file]);
    return 0;
}

static int valid_shard_name(const char *s) {
    return s[0] && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

/* Reads the index's file list (unique names, sorted). */
static int index_files(const char *index_path, const char *json, ds_ckpt *c) {
    cJSON *root;
    int rc = ds_json_parse(index_path, NULL, json, strlen(json), &root);
    if (rc) return rc;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(wm)) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: no \"weight_map\" object", index_path);
        goto out;
    }
    int n = cJSON_GetArraySize(wm);
    char **names = xcalloc((size_t)n + 1, sizeof(char *));
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, wm) {
        if (!cJSON_IsString(it) || !valid_shard_name(it->valuestring)) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: weight_map value is not a shard file name", index_path,
                         it->string);
            free(names);
            goto out;
        }
        names[k++] = it->valuestring;
    }
    qsort(names, (size_t)k, sizeof(char *), cmp_str);
    c->shard_names = xcalloc((size_t)k + 1, sizeof(char *));
    for (int i = 0; i < k; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0) c->shard_names[c->n_shards++] = xstrdup(names[i]);
    free(names);
out:
    cJSON_Delete(root);
    return rc;
}

int ds_index_check(const char *index_path, const char *json, ds_ckpt *c) {
    cJSON *root;
    int rc = ds_json_parse(index_path, NULL, json, strlen(json), &root);
    if (rc) return rc;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) { rc = ds_fail(DS_EXIT_INPUT, "%s: no \"weight_map\" object", index_path); goto out; }
    int mapped = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, wm) {
        if (!cJSON_IsString(it)) { rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: bad weight_map value", index_path, it->string); goto out; }
        const ds_ckpt_entry *e = ds_ckpt_find(c, it->string);
        if (!e) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: mapped to %s but not found in that shard", index_path,
                         it->string, it->valuestring);
            goto out;
        }
        if (strcmp(c->shard_names[e->file], it->valuestring) != 0) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: mapped to %s but stored in %s", index_path, it->string,
                         it->valuestring, c->shard_names[e->file]);
            goto out;
        }
        mapped++;
    }
    if (mapped != c->n_entries) {
        /* Some shard tensor is not in the index (or the index repeats a name). */
        for (int i = 0; i < c->n_entries; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(wm, c->entries[i].name);
            if (!v) {
                rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: in shard %s but missing from the index", index_path,
                             c->entries[i].name, c->shard_names[c->entries[i].file]);
                goto out;
            }
        }
        rc = ds_fail(DS_EXIT_INPUT, "%s: the index maps a tensor name more than once", index_path);
    }
out:
    cJSON_Delete(root);
    return rc;
}

static int is_shard_file(const char *dir, const char *name, void *arg) {
    (void)dir, (void)arg;
    return name[0] != '.' && ds_has_suffix(name, ".safetensors");
}

static int list_safetensors(ds_ckpt *c) {
    DS_TRY(ds_list_dir(c->dir, is_shard_file, NULL, &c->shard_names, &c->n_shards));
    if (!c->n_shards) return ds_fail(DS_EXIT_INPUT, "%s: no model.safetensors.index.json and no .safetensors files", c->dir);
    return 0;
}

int ds_ckpt_open(const char *path, ds_ckpt *c) {
    memset(c, 0, sizeof *c);
    int rc = 0;
    if (!ds_path_exists(path)) return ds_fail(DS_EXIT_INPUT, "%s: no such file or directory", path);
    if (!ds_is_dir(path)) {
        /* A lone file: its directory holds config.json, if any. */
        const char *base = ds_basename(path);
        c->dir = base == path ? xstrdup(".") : strndup(path, (size_t)(base - path - 1));
        if (!c->dir) c->dir = xstrdup("/");
        c->shard_names = xcalloc(2, sizeof(char *));
        c->shard_names[0] = xstrdup(base);
        c->n_shards = 1;
        c->lone_file = 1;
        char *ip = ds_path_join(c->dir, "model.safetensors.index.json");
        c->partial = ds_path_exists(ip);
        free(ip);
        if ((rc = open_shards(c))) goto fail;
    } else {
        /* "Model/" as "Model": the directory's name is the model's (to-gguf's general.name) */
        c->dir = xstrdup(path);
        for (size_t n = strlen(c->dir); n > 1 && c->dir[n - 1] == '/';) c->dir[--n] = 0;
        char *ip = ds_path_join(path, "model.safetensors.index.json");
        if (ds_path_exists(ip)) {
            char *json = NULL;
            c->has_index = 1;
            rc = ds_read_file_max(ip, DS_MAX_INDEX_BYTES, &json, NULL);
            if (!rc) rc = index_files(ip, json, c);
            for (int i = 0; !rc && i < c->n_shards; i++) {
                char *sp = ds_path_join(path, c->shard_names[i]);
                if (!ds_path_exists(sp))
                    rc = ds_fail(DS_EXIT_INPUT, "%s: names shard %s, which does not exist", ip, c->shard_names[i]);
                free(sp);
            }
            if (!rc) rc = open_shards(c);
            if (!rc) rc = ds_index_check(ip, json, c);
            free(json);
            free(ip);
            if (rc) goto fail;
        } else {
            free(ip);
            if ((rc = list_safetensors(c))) goto fail;
            c->mp_layout = c->n_shards > 1 && strstr(c->shard_names[0], "-mp") != NULL;
            if ((rc = open_shards(c))) goto fail;
        }
    }
    char *cp = ds_path_join(c->dir, "config.json");
    if (ds_path_exists(cp)) {
        rc = ds_config_load(cp, &c->config);
        c->has_config = rc == 0;
    }
    free(cp);
    if (!rc && c->has_config) rc = ds_ckpt_check_counts(c);
    if (rc) goto fail;
    return 0;
fail:
    ds_ckpt_close(c);
    return rc;
}

/* "[model.]layers.N." -> N (any size up to 2^31), else -1. */
static long layer_num(const char *name) {
    if (!strncmp(name, "model.", 6)) name += 6;
    if (strncmp(name, "layers.", 7) || name[7] < '0' || name[7] > '9') return -1;
    char *end;
    long v = strtol(name + 7, &end, 10);
    return *end == '.' && v >= 0 && v < (1L << 31) ? v : -1;
}
/* Field names that size allocations in readers (verify, requant), with a cap
 * far above any released model; every field is also at most what the
 * tensors present support where the tensors say (layers, experts). */
static const struct { const char *name; size_t off; int cap; } count_caps[] = {
#define F(f, cap) {#f, offsetof(ds_config, f), cap}
    F(hidden_size, 1 << 20), F(vocab_size, 1 << 24), F(intermediate_size, 1 << 22),
    F(moe_intermediate_size, 1 << 22), F(num_attention_heads, 1 << 16), F(num_key_value_heads, 1 << 16),
    F(n_routed_experts, 1 << 16), F(n_shared_experts, 1 << 10), F(num_experts_per_tok, 1 << 16),
    F(q_lora_rank, 1 << 20), F(kv_lora_rank, 1 << 20), F(qk_nope_head_dim, 1 << 16), F(qk_rope_head_dim, 1 << 16),
    F(v_head_dim, 1 << 16), F(num_nextn_predict_layers, 1 << 10), F(num_hidden_layers, 1 << 16),
#undef F
};

int ds_ckpt_check_counts(const ds_ckpt *c) {
    const ds_config *k = &c->config;
    char cp[4096];
    snprintf(cp, sizeof cp, "%s/config.json", c->dir);
    for (size_t i = 0; i < sizeof count_caps / sizeof count_caps[0]; i++) {
        int v = *(const int *)((const char *)k + count_caps[i].off);
        if (v > count_caps[i].cap)
            return ds_fail(DS_EXIT_INPUT, "%s: %s is %d, more than any model this tool knows (at most %d)", cp,
                           count_caps[i].name, v, count_caps[i].cap);
    }
    /* One shard of an indexed checkpoint given alone holds part of the
     * layers and experts the config describes: only the caps apply. */
    if (c->partial) return 0;
    long max_layer = -1;
    const char *layer_t = NULL;
    for (int i = 0; i < c->n_entries; i++) {
        long l = layer_num(c->entries[i].name);
        if (l > max_layer) { max_layer = l; layer_t = c->entries[i].name; }
    }
    long present = max_layer + 1; /* layers 0..max_layer */
    if (k->num_hidden_layers > present)
        return ds_fail(DS_EXIT_INPUT,
                       "%s: num_hidden_layers is %d but the tensors hold only %ld layer%s (0..%ld); refusing a count "
                       "the checkpoint does not support", cp, k->num_hidden_layers, present, present == 1 ? "" : "s",
                       max_layer);
    if (present > 0 && k->num_hidden_layers < 1)
        return ds_fail(DS_EXIT_INPUT, "%s: num_hidden_layers is %d but the checkpoint holds layers 0..%ld", cp,
                       k->num_hidden_layers, max_layer);
    if (present > (long)k->num_hidden_layers + k->num_nextn_predict_layers)
        return ds_fail(DS_EXIT_INPUT,
                       "%s: num_hidden_layers %d + num_nextn_predict_layers %d = %ld layers, but tensor %s is in layer "
                       "%ld; every command would misread (or drop) the layers past the count", cp, k->num_hidden_layers,
                       k->num_nextn_predict_layers, (long)k->num_hidden_layers + k->num_nextn_predict_layers, layer_t,
                       max_layer);
    /* n_routed_experts is only capped: model-parallel rank files hold a slice
     * of the experts, and verify names each missing expert tensor itself. */
    return 0;
}

void ds_ckpt_close(ds_ckpt *c) {
    for (int i = 0; i < c->n_shards; i++) {
        if (c->shards) ds_st_close(&c->shards[i]);
        free(c->shard_names[i]);
    }
    free(c->shards);
    free(c->shard_names);
    free(c->entries);
    free(c->dir);
    memset(c, 0, sizeof *c);
}

const ds_ckpt_entry *ds_ckpt_find(const ds_ckpt *c, const char *name) {
    ds_ckpt_entry key = {.name = name};
    return bsearch(&key, c->entries, (size_t)c->n_entries, sizeof key, cmp_entry);
}
