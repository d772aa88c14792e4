/* requant.c - dsconv requant IN OUT --bits 8|4 ... */
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/requant_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
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
    ;

static const char *examples =
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

/* --target: the engine whose loader the layout is for. */
typedef enum { TARGET_DEFAULT = 0, TARGET_VLLM, TARGET_TRANSFORMERS, TARGET_SGLANG } requant_target;
static const ds_opt_choice targets[] = {
    {"vllm", TARGET_VLLM}, {"transformers", TARGET_TRANSFORMERS}, {"sglang", TARGET_SGLANG}, {NULL, 0}};

/* What the options set before the spec is built from them. */
typedef struct {
    long bits, group;
    int bits_given, asym, mse, experts_only;
    const char *format;
    int target;           /* requant_target */
    const char **ignore;
    int n_ignore;
} requant_cli;

static int cb_bits(const ds_option *o, const char *arg) {
    requant_cli *q = o->value;
    long v;
    DS_TRY(ds_parse_int("--bits", arg, 4, 8, &v));
    if (v != 4 && v != 8) return ds_fail(DS_EXIT_USAGE, "--bits must be 4 or 8");
    q->bits = v;
    q->bits_given = 1;
    return 0;
}

static int cb_method(const ds_option *o, const char *arg) { return ds_quant_parse_method(arg, &((requant_cli *)o->value)->mse); }

static int cb_ignore(const ds_option *o, const char *arg) {
    requant_cli *q = o->value;
    q->ignore[q->n_ignore++] = arg;
    return 0;
}

int cmd_requant(int argc, char **argv) {
    ds_wargs w;
    ds_wargs_init(&w, "requant");
    requant_cli q = {.bits = 8, .group = -1};
    q.ignore = xcalloc((size_t)argc + 1, sizeof(char *));
    const ds_option opts[] = {
        DS_OPT_STRING_("format", 0, &q.format, "F",
                       "int8 (per output channel, the default), int4 (groups of 128),\n"
                       "nvfp4 (nvfp4-pack-quantized, NVFP4A16: E2M1 in groups of 16 with FP8 E4M3\n"
                       "scales and one F32 global scale, shared by gate and up projections),\n"
                       "mxfp4 (mxfp4-pack-quantized, MXFP4A16: E2M1 in groups of 32, E8M0 scales)",
                       .flags = DS_OPTF_RECORD),
        DS_OPT_CALLBACK_("bits", &q, "8|4", cb_bits, "the same as --format int8|int4", .flags = DS_OPTF_RECORD),
        DS_OPT_INT_("group-size", &q.group, "G", 0, 1 << 20, "columns per scale (multiple of 32/bits); 0 = per channel",
                    .flags = DS_OPTF_RECORD),
        DS_OPT_FLAG_("asym", 0, &q.asym, "asymmetric: adds weight_zero_point (default symmetric)",
                     .flags = DS_OPTF_RECORD),
        DS_OPT_CALLBACK_("method", &q, "rtn|mse", cb_method,
                         "rtn = compressed-tensors' round-to-nearest, bit for bit (default);\n"
                         "mse = per group, the clipping ratio (1.00..0.70) of least squared error",
                         .flags = DS_OPTF_RECORD),
        DS_OPT_CALLBACK_("ignore", &q, "PATTERN", cb_ignore,
                         "keep these Linears BF16 too: an exact module name or 're:REGEX' (repeatable)",
                         .flags = DS_OPTF_RECORD),
        DS_OPT_FLAG_("experts-only", 0, &q.experts_only,
                     "quantize only the routed experts of the main layers; FP8 Linears stay FP8\n"
                     "(their 128x128 scales written as weight_scale: compressed-tensors\n"
                     "float-quantized block FP8), BF16/F32 tensors and MTP layers as in the\n"
                     "source; config format mixed-precision, one group per scheme",
                     .flags = DS_OPTF_RECORD),
        DS_OPT_ENUM_("target", &q.target, "vllm|transformers|sglang", targets,
                       "vllm or transformers (the default layout), or sglang: keeps\n"
                       "q_a_proj and kv_a_proj_with_mqa unquantized (SGLang fuses them and\n"
                       "cannot load them packed) and refuses --asym (see MANUAL.md, loaders)",
                       .flags = DS_OPTF_RECORD),
        DS_OPT_WRITE_COMMON_(&w),
        DS_OPT_END_()};
    const ds_opt_doc doc = {usage, examples, ds_wargs_note, &w, 0};
    int i, rc = ds_parse_options(argc, argv, opts, &doc, &i);
    if (rc == DS_OPT_HELP_SHOWN) { free(q.ignore); ds_wargs_free(&w); return 0; }
    const char *in = NULL, *out = NULL;
    if (!rc) rc = ds_opt_operands(argc, argv, i, opts, &doc, 2, &in, &out);
    ds_quant_spec spec;
    ds_quant_spec_default(&spec, (int)q.bits);
    ds_requant_opts ro = {0};
    ro.experts_only = q.experts_only;
    if (!rc && q.format && q.bits_given) rc = ds_fail(DS_EXIT_USAGE, "--format and --bits both given: use one");
    if (!rc && q.format) rc = ds_quant_parse_format(q.format, &spec);
    if (q.group >= 0) spec.group_size = (int)q.group;
    spec.symmetric = !q.asym;
    spec.mse = q.mse;
    if (!rc) rc = ds_quant_spec_check(&spec);
    if (!rc && q.target == TARGET_SGLANG) {
        /* SGLang fuses q_a_proj with kv_a_proj_with_mqa and concatenates their
         * weight_shape (then asserts two elements), and skips the zero-point
         * transpose of asymmetric MoE: keep that pair unquantized, refuse --asym. */
        if (!spec.symmetric) rc = ds_fail(DS_EXIT_USAGE, "--target sglang: SGLang's MoE does not load asymmetric "
                                                         "zero points (drop --asym)");
        q.ignore[q.n_ignore++] = "re:.*self_attn\\.(q_a_proj|kv_a_proj_with_mqa)$";
    }
    if (rc) { free(q.ignore); ds_wargs_free(&w); return rc; }
    requant_args ra = {&spec, q.ignore, q.n_ignore, &ro};
    rc = ds_wargs_run(&w, in, out, build, &ra);
    free(q.ignore);
    return rc;
}
