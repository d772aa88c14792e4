/* manifest.c - dsconv manifest CKPT [-o FILE] */
#include "cmd/cmd.h"
#include "common/util.h"
#include "convert/manifest.h"
#include "formats/hf.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help =
    "usage: dsconv manifest CKPT [-o FILE]\n\n"
    "Hash a checkpoint directory: XXH3-128 of every file in it and of every tensor\n"
    "of every .safetensors shard, as JSON (stdout, or FILE written atomically).\n"
    "The checkpoint is validated first (exit 3 naming the file and tensor if not).\n"
    "Writing commands produce the same manifest while they write (--manifest FILE),\n"
    "and 'dsconv verify CKPT --manifest FILE' checks a copy against it (exit 1\n"
    "naming every file and tensor that differs).\n\n"
    "  -o, --output FILE   write the manifest to FILE instead of stdout\n\n"
    "example (a pipeline):\n"
    "  dsconv fp8-to-bf16 IN OUT --manifest out.manifest.json\n"
    "  rsync -a OUT/ node7:/models/v3-bf16/\n"
    "  ssh node7 dsconv verify /models/v3-bf16 --manifest out.manifest.json\n";

static int not_a_dir(const char *dir, const char *name, void *arg) {
    (void)arg;
    char *p = ds_path_join(dir, name);
    int keep = !ds_is_dir(p);
    free(p);
    return keep;
}

/* Adds every file of dir, hidden ones included (a dot-named shard is still a
 * shard), in name order; subdirectories are not part of a checkpoint. */
static int add_dir(ds_manifest *m, const char *dir) {
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

int cmd_manifest(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'o') out = optarg;
        else if (c == 'h') { fputs(help, stdout); return 0; }
        else { fputs(help, stderr); return DS_EXIT_USAGE; }
    }
    if (argc - optind != 1) { fputs(help, stderr); return DS_EXIT_USAGE; }
    const char *path = argv[optind];
    ds_ckpt ck;
    DS_TRY(ds_ckpt_open(path, &ck));  /* validate first */
    ds_manifest m;
    ds_manifest_init(&m);
    int rc = ds_is_dir(path) ? add_dir(&m, path) : ds_manifest_add_path(&m, path, ds_basename(path));
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
