/* manifest.c - per-file and per-tensor XXH3-128, written and checked. */
#include "convert/manifest.h"
#include "common/hash.h"
#include "common/util.h"
#include "formats/safetensors.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

void ds_manifest_init(ds_manifest *m) {
    m->root = cJSON_CreateObject();
    cJSON_AddStringToObject(m->root, "format", "dsconv-manifest-1");
    cJSON_AddStringToObject(m->root, "hash", "xxh3-128");
    m->files = cJSON_AddObjectToObject(m->root, "files");
}

void ds_manifest_free(ds_manifest *m) {
    cJSON_Delete(m->root);
    m->root = m->files = NULL;
}

cJSON *ds_manifest_file(ds_manifest *m, const char *file) {
    cJSON *f = cJSON_GetObjectItemCaseSensitive(m->files, file);
    if (!f) f = cJSON_AddObjectToObject(m->files, file);
    return f;
}

void ds_manifest_set_file(ds_manifest *m, const char *file, uint64_t size, const char hex[33]) {
    cJSON *f = ds_manifest_file(m, file);
    cJSON_DeleteItemFromObjectCaseSensitive(f, "size");
    cJSON_DeleteItemFromObjectCaseSensitive(f, "xxh3_128");
    cJSON_AddNumberToObject(f, "size", (double)size);
    cJSON_AddStringToObject(f, "xxh3_128", hex);
}

void ds_manifest_set_tensor(ds_manifest *m, const char *file, const char *tensor, const char hex[33]) {
    cJSON *f = ds_manifest_file(m, file);
    cJSON *t = cJSON_GetObjectItemCaseSensitive(f, "tensors");
    if (!t) t = cJSON_AddObjectToObject(f, "tensors");
    cJSON_DeleteItemFromObjectCaseSensitive(t, tensor);
    cJSON_AddStringToObject(t, tensor, hex);
}

int ds_manifest_write(const ds_manifest *m, const char *path) {
    char *txt = cJSON_Print(m->root);
    size_t n = strlen(txt);
    txt = xrealloc(txt, n + 2);
    txt[n] = '\n'; txt[n + 1] = 0;
    int rc = ds_write_file_atomic(path, txt, n + 1);
    free(txt);
    return rc;
}

static int is_safetensors(const char *name) { return ds_has_suffix(name, ".safetensors"); }

int ds_manifest_add_path(ds_manifest *m, const char *path, const char *name) {
    char hex[33];
    if (is_safetensors(name)) {
        ds_st_file f;
        DS_TRY(ds_st_open(path, &f));
        ds_xxh128_hex(f.map, f.file_size, hex);
        ds_manifest_set_file(m, name, f.file_size, hex);
        for (int i = 0; i < f.n_tensors; i++) {
            const ds_tensor_info *t = &f.tensors[i];
            ds_xxh128_hex(ds_st_data(&f, t), t->end - t->begin, hex);
            ds_manifest_set_tensor(m, name, t->name, hex);
        }
        ds_st_close(&f);
        return 0;
    }
    char *buf;
    size_t n;
    DS_TRY(ds_read_file(path, &buf, &n));
    ds_xxh128_hex(buf, n, hex);
    ds_manifest_set_file(m, name, n, hex);
    free(buf);
    return 0;
}

int ds_manifest_load(const char *path, ds_manifest *m) {
    char *txt;
    DS_TRY(ds_read_file(path, &txt, NULL));
    m->root = cJSON_Parse(txt);
    free(txt);
    m->files = m->root ? cJSON_GetObjectItemCaseSensitive(m->root, "files") : NULL;
    const cJSON *fmt = m->root ? cJSON_GetObjectItemCaseSensitive(m->root, "format") : NULL;
    if (!cJSON_IsObject(m->files) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "dsconv-manifest-1")) {
        ds_manifest_free(m);
        return ds_fail(DS_EXIT_INPUT, "%s: not a dsconv manifest", path);
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, m->files) {
        /* Entries name files inside the checkpoint directory, nothing else. */
        if (!f->string[0] || strchr(f->string, '/') || !strcmp(f->string, ".") || !strcmp(f->string, "..") ||
            !cJSON_IsObject(f) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(f, "xxh3_128"))) {
            int rc = ds_fail(DS_EXIT_INPUT, "%s: entry '%s' is not a file of the checkpoint with an xxh3_128", path,
                             f->string);
            ds_manifest_free(m);
            return rc;
        }
    }
    return 0;
}

int ds_manifest_check(const ds_manifest *m, const char *dir) {
    ds_manifest now;
    ds_manifest_init(&now);
    int diffs = 0, rc = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, m->files) {
        char *path = ds_path_join(dir, f->string);
        if (!ds_path_exists(path)) {
            ds_err("%s: missing (listed in the manifest)", path);
            diffs++;
            free(path);
            continue;
        }
        rc = ds_manifest_add_path(&now, path, f->string);
        free(path);
        if (rc) break;
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(now.files, f->string);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(f, "xxh3_128");
        const cJSON *got = cJSON_GetObjectItemCaseSensitive(g, "xxh3_128");
        if (!cJSON_IsString(want) || strcmp(want->valuestring, got->valuestring)) {
            diffs++;
            ds_err("%s: file bytes differ from the manifest", f->string);
            const cJSON *wt = cJSON_GetObjectItemCaseSensitive(f, "tensors");
            const cJSON *gt = cJSON_GetObjectItemCaseSensitive(g, "tensors");
            const cJSON *t;
            cJSON_ArrayForEach(t, wt) {
                const cJSON *h = cJSON_GetObjectItemCaseSensitive(gt, t->string);
                if (!h) ds_err("%s: tensor %s: missing", f->string, t->string);
                else if (!cJSON_IsString(t) || strcmp(t->valuestring, h->valuestring))
                    ds_err("%s: tensor %s: bytes differ (xxh3-128 %s, manifest %s)", f->string, t->string,
                           h->valuestring, cJSON_IsString(t) ? t->valuestring : "?");
            }
            cJSON_ArrayForEach(t, gt)
                if (!cJSON_GetObjectItemCaseSensitive(wt, t->string))
                    ds_err("%s: tensor %s: not in the manifest", f->string, t->string);
        }
    }
    /* Files in the copy that the manifest does not list are differences too. */
    DIR *d = rc ? NULL : opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || cJSON_GetObjectItemCaseSensitive(m->files, de->d_name)) continue;
        char *p = ds_path_join(dir, de->d_name);
        if (!ds_is_dir(p)) { ds_err("%s: not in the manifest", de->d_name); diffs++; }
        free(p);
    }
    if (d) closedir(d);
    ds_manifest_free(&now);
    if (rc) return rc;
    return diffs ? DS_EXIT_MISMATCH : 0;
}
