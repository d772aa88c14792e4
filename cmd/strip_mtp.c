/* strip_mtp.c - dsconv strip-mtp IN OUT */
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/fp8_to_bf16.h"

#include <stdio.h>

static const char *usage =
    "usage: dsconv strip-mtp IN OUT [options]\n\n"
    "Drop the Multi-Token-Prediction modules: every tensor model.layers.N.* with\n"
    "N >= num_hidden_layers of config.json (layer 61 in DeepSeek-V3; never assumed).\n"
    "Every other tensor is copied byte for byte (FP8, BF16 or quantized alike);\n"
    "the index is rewritten, config.json gets num_nextn_predict_layers 0, other\n"
    "files are copied, and a shard left empty is not written.\n\n";

static const char *examples =
    "\nexample:\n  dsconv strip-mtp /models/DeepSeek-V3 /models/DeepSeek-V3-nomtp\n";

static int build(const ds_ckpt *c, ds_plan *p, const void *arg) {
    (void)arg;
    return ds_plan_strip_mtp(c, p);
}

int cmd_strip_mtp(int argc, char **argv) {
    ds_wargs w;
    ds_wargs_init(&w, "strip-mtp");
    const ds_option opts[] = {DS_OPT_WRITE_COMMON_(&w), DS_OPT_END_()};
    /* strip-mtp has no options of its own: nothing for the run record. */
    const ds_opt_doc doc = {usage, examples, NULL, NULL, 0};
    int i, rc = ds_parse_options(argc, argv, opts, &doc, &i);
    if (rc) return rc == DS_OPT_HELP_SHOWN ? 0 : rc;
    const char *in = NULL, *out = NULL;
    DS_TRY(ds_opt_operands(argc, argv, i, opts, &doc, 2, &in, &out));
    return ds_wargs_run(&w, in, out, build, NULL);
}
