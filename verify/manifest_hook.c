/* manifest_hook.c - verify --manifest: re-hash CKPT and compare with a manifest
 * (convert/manifest.c); each differing file and tensor is named, exit 1. */
#include "verify/manifest_hook.h"
#include "common/util.h"
#include "convert/manifest.h"

#include <stdio.h>

int ds_verify_manifest_check(const char *ckpt_path, const char *manifest_path) {
    ds_manifest m;
    DS_TRY(ds_manifest_load(manifest_path, &m));
    int rc = ds_manifest_check(&m, ckpt_path);
    int n = cJSON_GetArraySize(m.files);
    ds_manifest_free(&m);
    if (rc == DS_EXIT_MISMATCH) ds_err("%s: bytes differ from manifest %s", ckpt_path, manifest_path);
    else if (!rc) {
        char a[1024], b[1024]; /* printed escaped, as every name on stdout (common/util.h) */
        printf("manifest: %s: all %d files and their tensors match %s\n", ds_esc(ckpt_path, a, sizeof a), n,
               ds_esc(manifest_path, b, sizeof b));
    }
    return rc;
}
