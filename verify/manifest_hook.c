/* manifest_hook.c - placeholder for the manifest check of verify --manifest:
 * the manifest checker (issue 7) replaces this body. Until then the option is
 * refused rather than silently ignored. */
#include "verify/manifest_hook.h"
#include "common/util.h"

int vf_manifest_check(const char *ckpt_path, const char *manifest_path) {
    (void)ckpt_path;
    return ds_fail(DS_EXIT_USAGE, "--manifest %s: manifest checking is not available in this build yet", manifest_path);
}
