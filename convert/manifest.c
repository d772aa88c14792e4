/* manifest.c - per-file and per-tensor XXH3-128, written and checked. */
#include "convert/manifest.h"
#include "common/hash.h"
#include "common/util.h"
#include "common/json.h"
#include "common/jsonfile.h"
#include "formats/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

void ds_manifest_init(ds_manifest *m) {
    m->root = cJSON_CreateObject();
    cJSON_AddStringToObject(m->root, "format", "dsconv-manifest-1");
    cJSON_AddStringToObject(m->root, "hash", "xxh3-128");
    m->files = cJSON_AddObjectToObject(m->root, "files");
    m->last = NULL;
}

void ds_manifest_free(ds_manifest *m) {
    cJSON_Delete(m->root);
    m->root = m->files = m->last = NULL;
}

cJSON *ds_manifest_file(ds_manifest *m, const char *file) {
    /* Tensors arrive file by file: the last file looked up is the next one
     * asked for, so a checkpoint of many files stays linear. */
    if (m->last && !strcmp(m->last->string, file)) return m->last;
    cJSON *f = cJSON_GetObjectItemCaseSensitive(m->files, file);
    if (!f) f = cJSON_AddObjectToObject(m->files, file);
    m->last = f;
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
    /* Each tensor is set once per file (names are unique in a shard), so no
     * search for an earlier entry: adding is constant time. */
    cJSON_AddStringToObject(t, tensor, hex);
}

int ds_manifest_write(const ds_manifest *m, const char *path) { return ds_write_json_atomic(path, m->root); }

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
    /* Any other file is hashed as it streams by: its size does not matter. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return errno == ENOENT ? ds_fail(DS_EXIT_INPUT, "%s: no such file", path) : DS_IO_FAIL(path, "open");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int rc = S_ISREG(st.st_mode) ? DS_IO_FAIL(path, "stat") : ds_fail(DS_EXIT_INPUT, "%s: not a regular file", path);
        close(fd);
        return rc;
    }
    size_t cap = 1u << 20;
    char *buf = xmalloc(cap);
    ds_h128 *h = ds_h128_new();
    uint64_t n = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = DS_IO_FAIL(path, "read"); break; }
        if (r == 0) break;
        ds_h128_update(h, buf, (size_t)r);
        n += (uint64_t)r;
    }
    close(fd);
    free(buf);
    if (!rc) {
        ds_h128_hex(h, hex);
        ds_manifest_set_file(m, name, n, hex);
    }
    ds_h128_free(h);
    return rc;
}

int ds_manifest_load(const char *path, ds_manifest *m) {
    char *txt;
    size_t n;
    DS_TRY(ds_read_file_max(path, DS_MAX_MANIFEST_BYTES, &txt, &n));
    int rc = ds_manifest_parse(path, txt, n, m);
    free(txt);
    return rc;
}

int ds_manifest_parse(const char *path, const char *text, size_t len, ds_manifest *m) {
    m->last = NULL;
    DS_TRY(ds_json_parse(path, NULL, text, len, &m->root));
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

static int cmp_item(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}
static const cJSON **sorted_children(const cJSON *o, int *n) {
    *n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, o) (*n)++;
    const cJSON **v = xcalloc((size_t)*n + 1, sizeof *v);
    int i = 0;
    cJSON_ArrayForEach(c, o) v[i++] = c;
    qsort(v, (size_t)*n, sizeof *v, cmp_item);
    return v;
}

/* Names every tensor that differs, is missing or is new: one merge of the two
 * sorted name lists (n log n; a lookup per tensor would be quadratic). */
static void compare_tensors(const char *file, const cJSON *want, const cJSON *got) {
    int nw, ng, i = 0, j = 0;
    const cJSON **w = sorted_children(want, &nw), **g = sorted_children(got, &ng);
    while (i < nw || j < ng) {
        int c = i >= nw ? 1 : j >= ng ? -1 : strcmp(w[i]->string, g[j]->string);
        if (c < 0) ds_err("%s: tensor %s: missing", file, w[i++]->string);
        else if (c > 0) ds_err("%s: tensor %s: not in the manifest", file, g[j++]->string);
        else {
            if (!cJSON_IsString(w[i]) || strcmp(w[i]->valuestring, g[j]->valuestring))
                ds_err("%s: tensor %s: bytes differ (xxh3-128 %s, manifest %s)", file, w[i]->string,
                       g[j]->valuestring, cJSON_IsString(w[i]) ? w[i]->valuestring : "?");
            i++, j++;
        }
    }
    free(w);
    free(g);
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
            compare_tensors(f->string, cJSON_GetObjectItemCaseSensitive(f, "tensors"),
                            cJSON_GetObjectItemCaseSensitive(g, "tensors"));
        }
    }
    /* Files in the copy that the manifest does not list are differences too. */
    DIR *d = rc ? NULL : opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        /* Hidden files too: a file added to a copy is a difference whatever its name. */
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            cJSON_GetObjectItemCaseSensitive(m->files, de->d_name))
            continue;
        char *p = ds_path_join(dir, de->d_name);
        if (!ds_is_dir(p)) { ds_err("%s: not in the manifest", de->d_name); diffs++; }
        free(p);
    }
    if (d) closedir(d);
    ds_manifest_free(&now);
    if (rc) return rc;
    return diffs ? DS_EXIT_MISMATCH : 0;
}

static int not_a_dir(const char *dir, const char *name, void *arg) {
    (void)arg;
    char *p = ds_path_join(dir, name);
    int keep = !ds_is_dir(p);
    free(p);
    return keep;
}

/* Adds every file of dir, hidden ones included (a dot-named shard is still a
 * shard), in name order; subdirectories are not part of a checkpoint. */
int ds_manifest_add_dir(ds_manifest *m, const char *dir) {
    char **names;
    int n;
    DS_TRY(ds_list_dir(dir, not_a_dir, NULL, &names, &n));
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char *p = ds_path_join(dir, names[i]);
        rc = ds_manifest_add_path(m, p, names[i]);
        free(p);
    }
    ds_free_names(names, n);
    return rc;
}
