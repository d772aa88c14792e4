/* sthash.c - the reference side of golden: {file: {tensor: {dtype, shape, xxh3}}}
 * for every *.safetensors file of a directory (sorted), as golden compares it.
 * tests/tools/family_refs.py runs it on what the upstream scripts wrote.
 *
 * usage: sthash DIR    (compact JSON on stdout; exit 0, or 2 on bad input) */
#include "common/hash.h"
#include "common/util.h"
#include "formats/safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: sthash DIR\n"); return 2; }
    DIR *d = opendir(argv[1]);
    if (!d) { perror(argv[1]); return 2; }
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        size_t l = strlen(e->d_name);
        if (l > 12 && !strcmp(e->d_name + l - 12, ".safetensors")) names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp);
    cJSON *root = cJSON_CreateObject();
    for (int i = 0; i < n; i++) {
        char *path = ds_path_join(argv[1], names[i]);
        ds_st_file f;
        if (ds_st_open(path, &f)) return 2;
        cJSON *fo = cJSON_AddObjectToObject(root, names[i]);
        for (int t = 0; t < f.n_tensors; t++) {
            const ds_tensor_info *ti = &f.tensors[t];
            cJSON *x = cJSON_AddObjectToObject(fo, ti->name);
            cJSON_AddStringToObject(x, "dtype", ds_dtype_name(ti->dtype));
            cJSON *sh = cJSON_AddArrayToObject(x, "shape");
            for (int k = 0; k < ti->ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ti->shape[k]));
            char h[17];
            ds_xxh3_64_hex(ds_st_data(&f, ti), ti->end - ti->begin, h);
            cJSON_AddStringToObject(x, "xxh3", h);
        }
        ds_st_close(&f);
        free(path);
        free(names[i]);
    }
    char *txt = cJSON_PrintUnformatted(root);
    puts(txt);
    free(txt);
    cJSON_Delete(root);
    return 0;
}
