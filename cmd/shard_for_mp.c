/* shard_for_mp.c - dsconv shard-for-mp IN OUT --model-parallel N */
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/shard_mp.h"

#include <stdio.h>
#include <string.h>

static const char *usage =
    "usage: dsconv shard-for-mp IN OUT --model-parallel N [--n-experts E] [--dtype fp8|bf16] [options]\n"
    "       dsconv shard-for-mp --hf-ckpt-path IN --save-path OUT --n-experts E --model-parallel N\n\n"
    "Write the checkpoint layout of DeepSeek's inference/convert.py, which the\n"
    "DeepSeek-Infer demo (generate.py, model.py) loads with N ranks: one file\n"
    "model{i}-mp{N}.safetensors per rank, tensors renamed (embed, layers.L.attn.wq_b,\n"
    "ffn.experts.K.w1, ...), routed experts whole to rank K/(E/N), embed, wq, wq_b,\n"
    "wkv_b, w1, w3, head split along dim 0 and wo, w2 along dim 1 (FP8 scales split\n"
    "like their weights), the rest replicated; MTP layers left out. Byte-identical\n"
    "to convert.py, but streamed: memory stays bounded (convert.py holds the whole\n"
    "model). A split that does not divide by N is refused (exit 3) before any\n"
    "rank file is written. Files named *token* and config.json are copied.\n\n"
    ;

static const char *examples =
    "\nexamples:\n  dsconv shard-for-mp /models/DeepSeek-V3 /models/V3-mp16 --model-parallel 16\n"
    "  dsconv shard-for-mp IN OUT --model-parallel 16 --part 2/4 --resume   # then: dsconv finish OUT\n";

static int build(const ds_ckpt *c, ds_plan *p, const void *arg) { return ds_plan_shard_mp(c, arg, p); }

int cmd_shard_for_mp(int argc, char **argv) {
    static const ds_opt_choice dtypes[] = {{"fp8", 0}, {"bf16", 1}, {NULL, 0}};
    ds_wargs w;
    ds_wargs_init(&w, "shard-for-mp");
    ds_mp_opts mo = {0, 0, 0};
    long mp = 0, n_experts = 0;
    const char *in = NULL, *out = NULL;
    const ds_option opts[] = {
        DS_OPT_INT_("model-parallel", &mp, "N", 1, 4096, "ranks (required)", .flags = DS_OPTF_RECORD),
        DS_OPT_INT_("n-experts", &n_experts, "E", 1, 1 << 20,
                    "routed experts (default and must-agree: config.json's n_routed_experts)", .flags = DS_OPTF_RECORD),
        DS_OPT_ENUM_("dtype", &mo.to_bf16, "fp8|bf16", dtypes,
                     "bf16 dequantizes FP8 weights while resharding (no scale tensors);\n"
                     "default fp8 keeps tensors as stored", .flags = DS_OPTF_RECORD),
        DS_OPT_STRING_("hf-ckpt-path", 0, &in, "IN", "convert.py's spelling of IN"),
        DS_OPT_STRING_("save-path", 0, &out, "OUT", "convert.py's spelling of OUT"),
        DS_OPT_WRITE_COMMON_(&w),
        DS_OPT_END_()};
    const ds_opt_doc doc = {usage, examples, ds_wargs_note, &w, 0};
    int i, rc = ds_parse_options(argc, argv, opts, &doc, &i);
    if (rc) { ds_wargs_free(&w); return rc == DS_OPT_HELP_SHOWN ? 0 : rc; }
    rc = ds_opt_operands(argc, argv, i, opts, &doc, 2, &in, &out);
    if (!rc && !mp) rc = ds_fail(DS_EXIT_USAGE, "--model-parallel N is required");
    if (rc) { ds_wargs_free(&w); return rc; }
    mo.mp = (int)mp;
    mo.n_experts = (int)n_experts;
    return ds_wargs_run(&w, in, out, build, &mo);
}
