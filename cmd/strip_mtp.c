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
    DS_TRY(ds_wargs_finish(&w));
    w.exec.out_dir = argv[optind + 1];
    ds_ckpt ck;
    DS_TRY(ds_ckpt_open(argv[optind], &ck));
    ds_plan plan;
    int rc = ds_plan_strip_mtp(&ck, &plan);
    ds_exec_stats st;
    if (!rc) rc = ds_exec_run(&ck, &plan, &w.exec, &st);
    if (!rc) ds_wargs_summary(&w, &st);
    ds_plan_free(&plan);
    ds_ckpt_close(&ck);
    return rc;
}
