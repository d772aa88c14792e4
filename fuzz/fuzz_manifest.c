/* fuzz_manifest.c - libFuzzer harness for the manifest reader (verify --manifest).
 *
 * The input is the text of a manifest. ds_manifest_parse must return 0 or
 * DS_EXIT_INPUT; an accepted manifest names only plain files (no '/', not
 * "." or ".."), and ds_manifest_check of it against a small scratch
 * checkpoint (one side file "a.json" and one shard "b.safetensors") must
 * return 0, DS_EXIT_MISMATCH or DS_EXIT_INPUT, never crash: the comparison
 * of tensor lists, missing and added files are all reached. */
#define _GNU_SOURCE
#include "convert/manifest.h"
#include "common/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char scratch[PATH_MAX];

static void cleanup(void) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/a.json", scratch); unlink(p);
    snprintf(p, sizeof p, "%s/b.safetensors", scratch); unlink(p);
    rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    snprintf(scratch, sizeof scratch, "/tmp/dsconv-fuzz-manifest-XXXXXX");
    if (!mkdtemp(scratch)) { perror("mkdtemp"); exit(1); }
    atexit(cleanup);
    char *a = ds_path_join(scratch, "a.json"), *b = ds_path_join(scratch, "b.safetensors");
    const char *h = "{\"t0\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                    "\"t1\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}      ";
    size_t hl = strlen(h);
    char buf[256] = {0};
    for (int i = 0; i < 8; i++) buf[i] = (char)(hl >> (8 * i));
    memcpy(buf + 8, h, hl);
    if (ds_write_file_atomic(a, "{}", 2) || ds_write_file_atomic(b, buf, 8 + hl + 8)) exit(1);
    free(a); free(b);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds_manifest m;
    memset(&m, 0, sizeof m);
    int rc = ds_manifest_parse("fuzz.manifest.json", (const char *)data, size, &m);
    if (rc != 0 && rc != DS_EXIT_INPUT) abort();
    if (rc) return 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, m.files)
        if (!f->string[0] || strchr(f->string, '/') || !strcmp(f->string, ".") || !strcmp(f->string, "..")) abort();
    rc = ds_manifest_check(&m, scratch);
    if (rc != 0 && rc != DS_EXIT_MISMATCH && rc != DS_EXIT_INPUT) abort();
    ds_manifest_free(&m);
    return 0;
}
