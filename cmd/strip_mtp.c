/* strip_mtp.c - dsconv strip-mtp IN OUT */
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/fp8_to_bf16.h"

#include <stdio.h>

static const char *help =
    "usage: dsconv strip-mtp IN OUT [options]\n\n"
    "Drop the Multi-Token-Prediction modules: every tensor model.layers.N.* with\n"
    "N >= num_hidden_layers of config.json (layer 61 in DeepSeek-V3; never assumed).\n"
    "Every other tensor is copied byte for byte (FP8, BF16 or quantized alike);\n"
    "the index is rewritten, config.json gets num_nextn_predict_layers 0, other\n"
    "files are copied, and a shard left empty is not written.\n\n"
    "options:\n" DS_WRITE_HELP
    "\nexample:\n  dsconv strip-mtp /models/DeepSeek-V3 /models/DeepSeek-V3-nomtp\n";

static int build(const ds_ckpt *c, ds_plan *p, const void *arg) {
    (void)arg;
    return ds_plan_strip_mtp(c, p);
}

int cmd_strip_mtp(int argc, char **argv) {
    static const struct option opts[] = {DS_WRITE_LONG_OPTS, {0, 0, 0, 0}};
    ds_wargs w;
    ds_wargs_init(&w, "strip-mtp");
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = ds_wargs_opt(&w, c, optarg);
        if (r < 0) return -r;
        if (r == 0) { fputs(help, stderr); return DS_EXIT_USAGE; }
    }
    if (w.help) { fputs(help, stdout); return 0; }
    if (argc - optind != 2) { fputs(help, stderr); return DS_EXIT_USAGE; }
    /* strip-mtp has no options of its own: nothing for the run record. */
    return ds_wargs_run(&w, argv[optind], argv[optind + 1], build, NULL);
}

