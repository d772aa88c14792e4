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

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Adds every file of dir, hidden ones included (a dot-named shard is still a
 * shard), in name order; subdirectories are not part of a checkpoint. */
static int add_dir(ds_manifest *m, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return DS_IO_FAIL(dir, "opendir");
    struct dirent *de;
    char **names = NULL;
    int n = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *p = ds_path_join(dir, de->d_name);
        if (!ds_is_dir(p)) {
            names = xrealloc(names, sizeof(char *) * (size_t)(n + 1));
            names[n++] = xstrdup(de->d_name);
        }
        free(p);
    }
    closedir(d);
    int rc = 0;
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_name);
    for (int i = 0; i < n; i++) {
        char *p = ds_path_join(dir, names[i]);
        if (!rc) rc = ds_manifest_add_path(m, p, names[i]);
        free(p);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
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
