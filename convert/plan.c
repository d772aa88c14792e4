/* plan.c - building plans, and checks shared by the plan builders. */
#include "convert/plan.h"
#include "common/util.h"
#include "common/fsafe.h"
#include "common/json.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GROW(arr, n, cap) do { if ((n) >= (cap)) { (cap) = (cap) ? (cap) * 2 : 16; \
    (arr) = xrealloc((arr), sizeof(*(arr)) * (size_t)(cap)); } } while (0)

void ds_plan_init(ds_plan *p) { memset(p, 0, sizeof *p); }

void ds_plan_free(ds_plan *p) {
    for (int i = 0; i < p->n_files; i++) {
        for (int j = 0; j < p->files[i].n_tensors; j++) free((char *)p->files[i].tensors[j].name);
        free(p->files[i].tensors);
        free(p->files[i].name);
    }
    for (int i = 0; i < p->n_extras; i++) {
        free(p->extras[i].name);
        free(p->extras[i].src_path);
        free(p->extras[i].text);
    }
    free(p->files); free(p->items); free(p->outs); free(p->extras);
    memset(p, 0, sizeof *p);
}

int ds_plan_find_file(const ds_plan *p, const char *name) {
    for (int i = 0; i < p->n_files; i++)
        if (!strcmp(p->files[i].name, name)) return i;
    return -1;
}

int ds_plan_add_file(ds_plan *p, const char *name) {
    int f = ds_plan_find_file(p, name);
    if (f >= 0) return f;
    GROW(p->files, p->n_files, p->cap_files);
    memset(&p->files[p->n_files], 0, sizeof(ds_plan_file));
    p->files[p->n_files].name = xstrdup(name);
    p->files[p->n_files].last_item = -1;
    return p->n_files++;
}

int ds_plan_add_tensor(ds_plan *p, int f, const char *name, ds_dtype dt, int ndim, const int64_t *shape) {
    ds_plan_file *pf = &p->files[f];
    GROW(pf->tensors, pf->n_tensors, pf->cap);
    ds_tensor_desc *d = &pf->tensors[pf->n_tensors];
    memset(d, 0, sizeof *d);
    d->name = xstrdup(name);
    d->dtype = dt;
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++) d->shape[i] = shape[i];
    return pf->n_tensors++;
}

ds_plan_item *ds_plan_add_item(ds_plan *p, const ds_ckpt_entry *src, ds_xform xf) {
    GROW(p->items, p->n_items, p->cap_items);
    ds_plan_item *it = &p->items[p->n_items++];
    memset(it, 0, sizeof *it);
    it->src = src;
    it->xform = xf;
    it->first_out = p->n_outs;
    return it;
}

void ds_plan_add_out(ds_plan *p, int file, int tensor, int dim, int64_t begin, int64_t end) {
    GROW(p->outs, p->n_outs, p->cap_outs);
    p->outs[p->n_outs++] = (ds_plan_out){file, tensor, dim, begin, end};
    p->items[p->n_items - 1].n_out++;
}

static ds_plan_extra *add_extra(ds_plan *p, const char *name) {
    GROW(p->extras, p->n_extras, p->cap_extras);
    ds_plan_extra *e = &p->extras[p->n_extras++];
    memset(e, 0, sizeof *e);
    e->name = xstrdup(name);
    return e;
}
void ds_plan_add_extra_copy(ds_plan *p, const char *name, const char *src_path) {
    add_extra(p, name)->src_path = xstrdup(src_path);
}
void ds_plan_add_extra_text(ds_plan *p, const char *name, char *text) { add_extra(p, name)->text = text; }

void ds_plan_finish(ds_plan *p) {
    for (int i = 0; i < p->n_items; i++)
        for (int k = 0; k < p->items[i].n_out; k++) p->files[p->outs[p->items[i].first_out + k].file].last_item = i;
}

uint64_t ds_tensor_desc_bytes(const ds_tensor_desc *d) {
    uint64_t b = ds_dtype_size(d->dtype);
    for (int i = 0; i < d->ndim; i++) b *= (uint64_t)d->shape[i];
    return b;
}

uint64_t ds_plan_data_bytes(const ds_plan *p) {
    uint64_t n = 0;
    for (int f = 0; f < p->n_files; f++)
        for (int t = 0; t < p->files[f].n_tensors; t++) n += ds_tensor_desc_bytes(&p->files[f].tensors[t]);
    return n;
}

void ds_plan_add_copy(ds_plan *p, int file, const ds_ckpt_entry *e) {
    int t = ds_plan_add_tensor(p, file, e->name, e->info->dtype, e->info->ndim, e->info->shape);
    ds_plan_add_item(p, e, DS_XF_COPY);
    ds_plan_add_out(p, file, t, -1, 0, 0);
}

int ds_plan_add_dequant(const ds_ckpt *c, ds_plan *p, int file, const ds_ckpt_entry *e) {
    const ds_ckpt_entry *scale;
    int block[2];
    DS_TRY(ds_plan_fp8_scale(c, e, &scale, block));
    int t = ds_plan_add_tensor(p, file, e->name, DS_BF16, e->info->ndim, e->info->shape);
    ds_plan_item *it = ds_plan_add_item(p, e, DS_XF_FP8_TO_BF16);
    it->scale = scale;
    it->block[0] = block[0];
    it->block[1] = block[1];
    ds_plan_add_out(p, file, t, -1, 0, 0);
    return 0;
}

int ds_is_scale_name(const char *name) { return ds_has_suffix(name, "_scale_inv"); }

int ds_plan_fp8_scale(const ds_ckpt *c, const ds_ckpt_entry *w, const ds_ckpt_entry **scale, int block[2]) {
    block[0] = c->has_config && c->config.weight_block_size[0] ? c->config.weight_block_size[0] : 128;
    block[1] = c->has_config && c->config.weight_block_size[1] ? c->config.weight_block_size[1] : 128;
    const char *file = c->shard_names[w->file];
    if (w->info->ndim != 2)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: F8_E4M3 weight must be 2-D (has %d dimensions)", file, w->name,
                       w->info->ndim);
    size_t n = strlen(w->name) + 16;
    char *sn = xmalloc(n);
    snprintf(sn, n, "%s_scale_inv", w->name);
    const ds_ckpt_entry *s = ds_ckpt_find(c, sn);
    free(sn);
    if (!s) return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: F8_E4M3 weight has no %s_scale_inv in the checkpoint", file,
                           w->name, w->name);
    const char *sfile = c->shard_names[s->file];
    int64_t er = (w->info->shape[0] + block[0] - 1) / block[0], ec = (w->info->shape[1] + block[1] - 1) / block[1];
    if (s->info->dtype != DS_F32 || s->info->ndim != 2 || s->info->shape[0] != er || s->info->shape[1] != ec)
        return ds_fail(DS_EXIT_INPUT,
                       "%s: tensor %s_scale_inv: expected F32 [%lld, %lld] for weight [%lld, %lld] with %dx%d blocks, "
                       "found %s with %d dimensions [%lld, %lld]",
                       sfile, w->name, (long long)er, (long long)ec, (long long)w->info->shape[0],
                       (long long)w->info->shape[1], block[0], block[1], ds_dtype_name(s->info->dtype), s->info->ndim,
                       (long long)(s->info->ndim > 0 ? s->info->shape[0] : 0),
                       (long long)(s->info->ndim > 1 ? s->info->shape[1] : 0));
    const uint8_t *d = ds_ckpt_data(c, s);
    for (int64_t i = 0; i < er * ec; i++) {
        float v;
        memcpy(&v, d + 4 * i, 4);
        if (!isfinite(v))
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s_scale_inv: non-finite scale %g at block [%lld, %lld]", sfile,
                           w->name, v, (long long)(i / ec), (long long)(i % ec));
    }
    *scale = s;
    return 0;
}

cJSON *ds_plan_load_config_json(const ds_ckpt *c, int *rc) {
    *rc = 0;
    char *path = ds_path_join(c->dir, "config.json");
    cJSON *j = NULL;
    if (ds_path_exists(path)) {
        *rc = ds_json_load(path, DS_MAX_CONFIG_BYTES, &j);
        if (!*rc && !cJSON_IsObject(j)) {
            cJSON_Delete(j);
            j = NULL;
            *rc = ds_fail(DS_EXIT_INPUT, "%s: not a JSON object", path);
        }
    }
    free(path);
    return j;
}

/* Beside a lone .safetensors file only the files of a Hugging Face
 * checkpoint are taken (the folder may be ~/Downloads): */
static int checkpoint_side_file(const char *nm) {
    static const char *exact[] = {"generation_config.json", "special_tokens_map.json", "added_tokens.json",
                                  "vocab.json", "vocab.txt", "merges.txt", "preprocessor_config.json",
                                  "chat_template.jinja", "chat_template.json", "tiktoken.model", NULL};
    for (int i = 0; exact[i]; i++)
        if (!strcmp(nm, exact[i])) return 1;
    size_t l = strlen(nm);
    int py = l > 3 && !strcmp(nm + l - 3, ".py");
    return !strncmp(nm, "tokenizer", 9) || (py && (!strncmp(nm, "configuration_", 14) || !strncmp(nm, "modeling_", 9) ||
                                                   !strncmp(nm, "tokenization_", 13)));
}

typedef struct { const ds_ckpt *c; int only_token; } side_filter;

/* A name the plan copies beside the shards, if it is a file inside the tree (checked after). */
static int side_file_name(const char *dir, const char *nm, void *arg) {
    const side_filter *f = arg;
    (void)dir;
    if (nm[0] == '.' || ds_has_suffix(nm, ".safetensors")) return 0;
    if (!strcmp(nm, "model.safetensors.index.json") || !strcmp(nm, "config.json")) return 0;
    if (f->only_token && !strstr(nm, "token")) return 0;
    return !f->c->lone_file || checkpoint_side_file(nm);
}

int ds_plan_copy_side_files(ds_plan *p, const ds_ckpt *c, int only_token) {
    ds_tree tree;
    DS_TRY(ds_tree_init(&tree, c->dir));
    side_filter f = {c, only_token};
    char **names;
    int n;
    /* Sorted, so plans (and resumes) are deterministic. */
    int rc = ds_list_dir(tree.real, side_file_name, &f, &names, &n);
    char **srcs = xcalloc((size_t)n + 1, sizeof(char *));
    /* Links must stay inside the checkpoint (or its cache blobs/), and only
     * regular files are copied: all checked before anything is planned. */
    for (int i = 0; i < n && !rc; i++) {
        int is_dir;
        if (!(rc = ds_tree_member(&tree, names[i], &srcs[i], &is_dir)) && is_dir) {
            free(srcs[i]);
            srcs[i] = NULL;
        }
    }
    ds_tree_free(&tree);
    for (int i = 0; i < n && !rc; i++)
        if (srcs[i]) ds_plan_add_extra_copy(p, names[i], srcs[i]);
    for (int i = 0; i < n; i++) free(srcs[i]);
    free(srcs);
    ds_free_names(names, n);
    return rc;
}

int ds_plan_check_names(const ds_plan *p) {
    int n = p->n_files + p->n_extras;
    const char **all = xcalloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < p->n_files; i++) all[i] = p->files[i].name;
    for (int i = 0; i < p->n_extras; i++) all[p->n_files + i] = p->extras[i].name;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const char *a = all[i];
        if (!a[0] || strchr(a, '/') || !strcmp(a, ".") || !strcmp(a, "..") || ds_is_tmp_name(a))
            rc = ds_fail(DS_EXIT_INPUT, "output file name '%s' (from the input) is not a plain file name dsconv can write",
                         a);
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp(a, all[j]))
                rc = ds_fail(DS_EXIT_INPUT,
                             "output file %s would be written twice (a shard and a side file, or two outputs, share "
                             "the name); rename the input file", a);
    }
    free(all);
    return rc;
}
