/* requant.c - dsconv requant IN OUT --bits 8|4 ... */
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/requant_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help =
    "usage: dsconv requant IN OUT [--format int8|int4|nvfp4|mxfp4 | --bits 8|4] [--group-size G] [--asym]\n"
    "                             [--method rtn|mse]\n"
    "                             [--ignore PATTERN]... [options]\n\n"
    "Quantize an FP8 (or BF16) DeepSeek-V3 checkpoint to weight-only INT8 (W8A16) or\n"
    "INT4 (W4A16) in the compressed-tensors pack-quantized format that vLLM, SGLang\n"
    "and transformers load, straight from FP8 (no BF16 copy on disk; FP8 input gives\n"
    "the same bytes as its BF16 conversion). Every Linear of the main layers is\n"
    "quantized (attention, dense MLP, shared and routed experts); embeddings, norms,\n"
    "the router, lm_head and the MTP layers stay BF16 and are listed in the config's\n"
    "ignore list, as are Linears whose input dim the group size does not divide.\n\n"
    "  --format F          int8 (per output channel, the default), int4 (groups of 128),\n"
    "                      nvfp4 (nvfp4-pack-quantized, NVFP4A16: E2M1 in groups of 16 with FP8 E4M3\n"
    "                      scales and one F32 global scale, shared by gate and up projections),\n"
    "                      mxfp4 (mxfp4-pack-quantized, MXFP4A16: E2M1 in groups of 32, E8M0 scales)\n"
    "  --bits 8|4          the same as --format int8|int4\n"
    "  --group-size G      columns per scale (multiple of 32/bits); 0 = per channel\n"
    "  --asym              asymmetric: adds weight_zero_point (default symmetric)\n"
    "  --method rtn|mse    rtn = compressed-tensors' round-to-nearest, bit for bit (default);\n"
    "                      mse = per group, the clipping ratio (1.00..0.70) of least squared error\n"
    "  --ignore PATTERN    keep these Linears BF16 too: an exact module name or 're:REGEX' (repeatable)\n"
    "  --experts-only      quantize only the routed experts of the main layers; FP8 Linears stay FP8\n"
    "                      (their 128x128 scales written as weight_scale: compressed-tensors\n"
    "                      float-quantized block FP8), BF16/F32 tensors and MTP layers as in the\n"
    "                      source; config format mixed-precision, one group per scheme\n"
    "  --target ENGINE     vllm or transformers (the default layout), or sglang: keeps\n"
    "                      q_a_proj and kv_a_proj_with_mqa unquantized (SGLang fuses them and\n"
    "                      cannot load them packed) and refuses --asym (see MANUAL.md, loaders)\n"
    "options:\n" DS_WRITE_HELP
    "\nexamples:\n"
    "  dsconv requant /models/DeepSeek-V3 /models/V3-w4a16 --bits 4\n"
    "  dsconv requant /models/DeepSeek-V3 /models/V3-nvfp4 --format nvfp4\n"
    "  dsconv requant /models/DeepSeek-V3 /models/V3-experts-mxfp4 --format mxfp4 --experts-only\n"
    "  dsconv requant IN OUT --bits 8 --ignore 're:model\\.layers\\.[0-2]\\.'\n"
    "  dsconv verify /models/V3-w4a16 --against /models/DeepSeek-V3\n";

typedef struct {
    const ds_quant_spec *spec;
    const char **ignore;
    int n_ignore;
    const ds_requant_opts *opts;
} requant_args;

static int build(const ds_ckpt *c, ds_plan *p, const void *arg) {
    const requant_args *a = arg;
    return ds_plan_requant_ex(c, a->spec, a->ignore, a->n_ignore, a->opts, p);
}

int cmd_requant(int argc, char **argv) {
    enum { O_BITS = 1, O_GROUP, O_ASYM, O_METHOD, O_IGNORE, O_FORMAT, O_EXPERTS_ONLY, O_TARGET };
    static const struct option opts[] = {
        {"bits", required_argument, 0, O_BITS}, {"group-size", required_argument, 0, O_GROUP},
        {"asym", no_argument, 0, O_ASYM}, {"method", required_argument, 0, O_METHOD},
        {"ignore", required_argument, 0, O_IGNORE}, {"format", required_argument, 0, O_FORMAT},
        {"experts-only", no_argument, 0, O_EXPERTS_ONLY}, {"target", required_argument, 0, O_TARGET}, DS_WRITE_LONG_OPTS, {0, 0, 0, 0}};
    ds_wargs w;
    ds_wargs_init(&w, "requant");
    long bits = 8, group = -1, v;
    int asym = 0, mse = 0, n_ignore = 0, c;
    const char *format = NULL, *target = NULL;
    int bits_given = 0;
    ds_requant_opts ro = {0};
    const char **ignore = xcalloc((size_t)argc + 1, sizeof(char *));
    int rc = 0;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        ds_wargs_note(&w, opts, c, optarg);
        switch (c) {
        case O_BITS:
            if (!(rc = ds_parse_int("--bits", optarg, 4, 8, &v)) && v != 4 && v != 8)
                rc = ds_fail(DS_EXIT_USAGE, "--bits must be 4 or 8");
            bits = v;
            bits_given = 1;
            continue;
        case O_GROUP: rc = ds_parse_int("--group-size", optarg, 0, 1 << 20, &group); continue;
        case O_ASYM: asym = 1; continue;
        case O_METHOD: rc = ds_quant_parse_method(optarg, &mse); continue;
        case O_IGNORE: ignore[n_ignore++] = optarg; continue;
        case O_FORMAT: format = optarg; continue;
        case O_EXPERTS_ONLY: ro.experts_only = 1; continue;
        case O_TARGET: target = optarg; continue;
        }
        int r = ds_wargs_opt(&w, c, optarg);
        if (r < 0) rc = -r;
        else if (r == 0) { fputs(help, stderr); rc = DS_EXIT_USAGE; }
    }
    if (!rc && w.help) { fputs(help, stdout); free(ignore); ds_wargs_free(&w); return 0; }
    if (!rc && argc - optind != 2) { fputs(help, stderr); rc = DS_EXIT_USAGE; }
    ds_quant_spec spec;
    ds_quant_spec_default(&spec, (int)bits);
    if (!rc && format && bits_given) rc = ds_fail(DS_EXIT_USAGE, "--format and --bits both given: use one");
    if (!rc && format) rc = ds_quant_parse_format(format, &spec);
    if (group >= 0) spec.group_size = (int)group;
    spec.symmetric = !asym;
    spec.mse = mse;
    if (!rc) rc = ds_quant_spec_check(&spec);
    if (!rc && target) {
        if (!strcmp(target, "sglang")) {
            /* SGLang fuses q_a_proj with kv_a_proj_with_mqa and concatenates their
             * weight_shape (then asserts two elements), and skips the zero-point
             * transpose of asymmetric MoE: keep that pair unquantized, refuse --asym. */
            if (!spec.symmetric) rc = ds_fail(DS_EXIT_USAGE, "--target sglang: SGLang's MoE does not load asymmetric "
                                                             "zero points (drop --asym)");
            ignore[n_ignore++] = "re:.*self_attn\\.(q_a_proj|kv_a_proj_with_mqa)$";
        } else if (strcmp(target, "vllm") && strcmp(target, "transformers")) {
            rc = ds_fail(DS_EXIT_USAGE, "--target: '%s' is not vllm, sglang or transformers", target);
        }
    }
    if (rc) { free(ignore); ds_wargs_free(&w); return rc; }
    requant_args ra = {&spec, ignore, n_ignore, &ro};
    rc = ds_wargs_run(&w, argv[optind], argv[optind + 1], build, &ra);
    free(ignore);
    return rc;
}

