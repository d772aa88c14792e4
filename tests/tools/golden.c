/* golden.c - compare a written checkpoint with a reference in expected.json.
 *
 * usage: golden EXPECTED.json KEY... OUTDIR
 *   KEY... walks into expected.json (e.g. "fp8_to_bf16" "tensors", or
 *   "model_parallel" "fp8-mp2") to an object {file: {tensor: {dtype, shape, xxh3}}}.
 * Every file and tensor must be present with the same dtype, shape and XXH3-64
 * of its bytes, and OUTDIR must hold no other tensors in those files.
 * Prints each difference; exit 0 when identical, 1 otherwise, 2 on bad usage.
 *
 * usage: golden --weight-map EXPECTED.json KEY... INDEX.json
 *   compares the weight_map at KEY... ("fp8_to_bf16" "index") with INDEX.json's:
 *   same names, same files, same order. */
#include "common/hash.h"
#include "common/util.h"
#include "formats/safetensors.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int weight_map(int argc, char **argv) {
    char *a, *b;
    if (ds_read_file(argv[2], &a, NULL) || ds_read_file(argv[argc - 1], &b, NULL)) return 2;
    cJSON *ra = cJSON_Parse(a), *rb = cJSON_Parse(b), *node = ra;
    for (int i = 3; i < argc - 1 && node; i++) node = cJSON_GetObjectItemCaseSensitive(node, argv[i]);
    const cJSON *wa = cJSON_GetObjectItemCaseSensitive(node, "weight_map");
    const cJSON *wb = cJSON_GetObjectItemCaseSensitive(rb, "weight_map");
    if (!cJSON_IsObject(wa) || !cJSON_IsObject(wb)) { printf("golden: no weight_map\n"); return 1; }
    int diffs = 0;
    const cJSON *x = wa->child, *y = wb->child;
    for (; x && y; x = x->next, y = y->next)
        if (strcmp(x->string, y->string) || strcmp(x->valuestring, y->valuestring)) {
            printf("weight_map differs: %s -> %s vs %s -> %s\n", x->string, x->valuestring, y->string, y->valuestring);
            diffs++;
        }
    if (x || y) { printf("weight_map lengths differ\n"); diffs++; }
    printf("golden: weight_map %d entries, %d differences\n", cJSON_GetArraySize(wa), diffs);
    free(a); free(b); cJSON_Delete(ra); cJSON_Delete(rb);
    return diffs ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "--weight-map")) return weight_map(argc, argv);
    if (argc < 4) { fprintf(stderr, "usage: golden EXPECTED.json KEY... OUTDIR\n"); return 2; }
    char *txt;
    if (ds_read_file(argv[1], &txt, NULL)) return 2;
    cJSON *root = cJSON_Parse(txt), *node = root;
    for (int i = 2; i < argc - 1 && node; i++) node = cJSON_GetObjectItemCaseSensitive(node, argv[i]);
    if (!cJSON_IsObject(node)) { fprintf(stderr, "golden: key path not found\n"); return 2; }
    const char *dir = argv[argc - 1];
    int diffs = 0, checked = 0;
    const cJSON *file;
    cJSON_ArrayForEach(file, node) {
        char *path = ds_path_join(dir, file->string);
        ds_st_file f;
        if (ds_st_open(path, &f)) { printf("missing or invalid file %s\n", file->string); diffs++; free(path); continue; }
        free(path);
        if (f.n_tensors != cJSON_GetArraySize(file)) {
            printf("%s: %d tensors, expected %d\n", file->string, f.n_tensors, cJSON_GetArraySize(file));
            diffs++;
        }
        const cJSON *t;
        cJSON_ArrayForEach(t, file) {
            const ds_tensor_info *ti = ds_st_find(&f, t->string);
            if (!ti) { printf("%s: tensor %s missing\n", file->string, t->string); diffs++; continue; }
            const char *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype")->valuestring;
            const char *want = cJSON_GetObjectItemCaseSensitive(t, "xxh3")->valuestring;
            const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
            int same_shape = cJSON_GetArraySize(shape) == ti->ndim;
            for (int d = 0; same_shape && d < ti->ndim; d++)
                same_shape = (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble == ti->shape[d];
            char got[17];
            ds_xxh3_64_hex(ds_st_data(&f, ti), ti->end - ti->begin, got);
            if (strcmp(dt, ds_dtype_name(ti->dtype)) || !same_shape || strcmp(got, want)) {
                printf("%s: tensor %s differs (dtype %s/%s, shape %s, xxh3 %s/%s)\n", file->string, t->string,
                       ds_dtype_name(ti->dtype), dt, same_shape ? "same" : "differs", got, want);
                diffs++;
            }
            checked++;
        }
        ds_st_close(&f);
    }
    printf("golden: %d tensors checked, %d differences\n", checked, diffs);
    free(txt);
    cJSON_Delete(root);
    return diffs ? 1 : 0;
}
