/* mfsubset.c - does a dsconv manifest hold the expected tensor hashes?
 *
 * usage: mfsubset [--partial] EXPECTED.json KEY MANIFEST.json
 *   EXPECTED.json[KEY] is {tensor: xxh3_128} (tests/tools/ct_ref.py writes it);
 *   every such tensor must be in some file of MANIFEST.json (dsconv manifest)
 *   with that hash, and (unless --partial) the manifest must hold no tensor
 *   the reference lacks.
 * Prints each difference; exit 0 when they agree, 1 otherwise, 2 on bad usage. */
#include "common/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int partial = argc > 1 && !strcmp(argv[1], "--partial");
    if (partial) argc--, argv++;
    if (argc != 4) { fprintf(stderr, "usage: mfsubset EXPECTED.json KEY MANIFEST.json\n"); return 2; }
    char *a, *b;
    if (ds_read_file(argv[1], &a, NULL) || ds_read_file(argv[3], &b, NULL)) return 2;
    cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(ja, argv[2]);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(jb, "files");
    if (!cJSON_IsObject(want) || !cJSON_IsObject(files)) {
        fprintf(stderr, "mfsubset: no %s in %s or no files in %s\n", argv[2], argv[1], argv[3]);
        return 2;
    }
    int diffs = 0, seen = 0;
    const cJSON *w, *f, *t;
    cJSON_ArrayForEach(w, want) {
        const char *got = NULL;
        cJSON_ArrayForEach(f, files) {
            const cJSON *ts = cJSON_GetObjectItemCaseSensitive(f, "tensors");
            const cJSON *h = ts ? cJSON_GetObjectItemCaseSensitive(ts, w->string) : NULL;
            if (cJSON_IsString(h)) got = h->valuestring;
        }
        if (!got) { printf("missing: %s\n", w->string); diffs++; }
        else if (strcmp(got, w->valuestring)) { printf("differs: %s\n", w->string); diffs++; }
        else seen++;
    }
    cJSON_ArrayForEach(f, files) {
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(f, "tensors");
        if (!ts) continue;
        cJSON_ArrayForEach(t, ts) if (!cJSON_GetObjectItemCaseSensitive(want, t->string)) {
            if (partial) continue; /* a partial reference (requant: only the quantized tensors) */
            printf("unexpected: %s\n", t->string);
            diffs++;
        }
    }
    printf("mfsubset %s: %d tensors agree, %d differences\n", argv[2], seen, diffs);
    cJSON_Delete(ja); cJSON_Delete(jb); free(a); free(b);
    return diffs ? 1 : 0;
}
