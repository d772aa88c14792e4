/* manifest.c - dsconv manifest CKPT [-o FILE] */
#include "cmd/cmd.h"
#include "cmd/parse_options.h"
#include "common/util.h"
#include "convert/manifest.h"
#include "formats/hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: dsconv manifest CKPT [-o FILE]\n\n"
    "Hash a checkpoint directory: XXH3-128 of every file in it and of every tensor\n"
    "of every .safetensors shard, as JSON (stdout, or FILE written atomically).\n"
    "The checkpoint is validated first (exit 3 naming the file and tensor if not).\n"
    "Writing commands produce the same manifest while they write (--manifest FILE),\n"
    "and 'dsconv verify CKPT --manifest FILE' checks a copy against it (exit 1\n"
    "naming every file and tensor that differs).\n\n";

static const char *examples =
    "\nexample (a pipeline):\n"
    "  dsconv fp8-to-bf16 IN OUT --manifest out.manifest.json\n"
    "  rsync -a OUT/ node7:/models/v3-bf16/\n"
    "  ssh node7 dsconv verify /models/v3-bf16 --manifest out.manifest.json\n";

int cmd_manifest(int argc, char **argv) {
    const char *out = NULL;
    const ds_option opts[] = {
        DS_OPT_STRING_("output", 'o', &out, "FILE", "write the manifest to FILE instead of stdout"),
        DS_OPT_END_()};
    const ds_opt_doc doc = {usage, examples, NULL, NULL, 1};
    int i, rc = ds_parse_options(argc, argv, opts, &doc, &i);
    if (rc) return rc == DS_OPT_HELP_SHOWN ? 0 : rc;
    const char *path = NULL;
    DS_TRY(ds_opt_operands(argc, argv, i, opts, &doc, 1, &path));
    ds_ckpt ck;
    DS_TRY(ds_ckpt_open(path, &ck));  /* validate first */
    ds_manifest m;
    ds_manifest_init(&m);
    rc = ds_is_dir(path) ? ds_manifest_add_dir(&m, path) : ds_manifest_add_path(&m, path, ds_basename(path));
    ds_ckpt_close(&ck);
    if (!rc) {
        if (out) rc = ds_manifest_write(&m, out);
        else {
            char *txt = cJSON_Print(m.root);
            puts(txt);
            free(txt);
        }
    }
    ds_manifest_free(&m);
    return rc;
}
