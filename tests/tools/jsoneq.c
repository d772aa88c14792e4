/* jsoneq.c - are two JSON files equal as JSON values? Object members may come
 * in any order; everything else (types, numbers, strings, array order) must match.
 * Used to compare manifests written by different code paths.
 * usage: jsoneq A.json B.json   exit 0 equal, 1 different, 2 unreadable or not JSON */
#include "common/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: jsoneq A.json B.json\n"); return 2; }
    char *a, *b;
    if (ds_read_file(argv[1], &a, NULL) || ds_read_file(argv[2], &b, NULL)) return 2;
    cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
    if (!ja || !jb) { fprintf(stderr, "jsoneq: %s is not JSON\n", ja ? argv[2] : argv[1]); return 2; }
    /* cJSON_Compare looks object members up by name, both ways: order does not matter. */
    int same = cJSON_Compare(ja, jb, 1);
    if (!same) printf("jsoneq: %s and %s differ\n", argv[1], argv[2]);
    cJSON_Delete(ja); cJSON_Delete(jb); free(a); free(b);
    return same ? 0 : 1;
}
