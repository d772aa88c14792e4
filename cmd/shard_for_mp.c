/* shard_for_mp.c - dsconv shard-for-mp IN OUT --model-parallel N */
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/shard_mp.h"

#include <stdio.h>
#include <string.h>

static const char *help =
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
    "  --model-parallel N   ranks (required)\n"
    "  --n-experts E        routed experts (default and must-agree: config.json's n_routed_experts)\n"
    "  --dtype fp8|bf16     bf16 dequantizes FP8 weights while resharding (no scale tensors);\n"
    "                       default fp8 keeps tensors as stored\n"
    "options:\n" DS_WRITE_HELP
    "\nexamples:\n  dsconv shard-for-mp /models/DeepSeek-V3 /models/V3-mp16 --model-parallel 16\n"
    "  dsconv shard-for-mp IN OUT --model-parallel 16 --part 2/4 --resume   # then: dsconv finish OUT\n";

static int build(const ds_ckpt *c, ds_plan *p, const void *arg) { return ds_plan_shard_mp(c, arg, p); }

int cmd_shard_for_mp(int argc, char **argv) {
    enum { O_MP = 1, O_EXPERTS, O_DTYPE, O_IN, O_OUT };
    static const struct option opts[] = {
        {"model-parallel", required_argument, 0, O_MP}, {"n-experts", required_argument, 0, O_EXPERTS},
        {"dtype", required_argument, 0, O_DTYPE}, {"hf-ckpt-path", required_argument, 0, O_IN},
        {"save-path", required_argument, 0, O_OUT}, DS_WRITE_LONG_OPTS, {0, 0, 0, 0}};
    ds_wargs w;
    ds_wargs_init(&w, "shard-for-mp");
    ds_mp_opts mo = {0, 0, 0};
    const char *in = NULL, *out = NULL;
    long v;
    int c;
    optind = 1;
    int rc = 0;
    while (!rc && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != O_IN && c != O_OUT) ds_wargs_note(&w, opts, c, optarg);
        switch (c) {
        case O_MP: if (!(rc = ds_parse_int("--model-parallel", optarg, 1, 4096, &v))) mo.mp = (int)v; continue;
        case O_EXPERTS: if (!(rc = ds_parse_int("--n-experts", optarg, 1, 1 << 20, &v))) mo.n_experts = (int)v; continue;
        case O_DTYPE:
            if (!strcmp(optarg, "bf16")) mo.to_bf16 = 1;
            else if (strcmp(optarg, "fp8")) rc = ds_fail(DS_EXIT_USAGE, "--dtype must be fp8 or bf16");
            continue;
        case O_IN: in = optarg; continue;
        case O_OUT: out = optarg; continue;
        }
        int r = ds_wargs_opt(&w, c, optarg);
        if (r < 0) rc = -r;
        else if (r == 0) { fputs(help, stderr); rc = DS_EXIT_USAGE; }
    }
    if (!rc && w.help) { fputs(help, stdout); ds_wargs_free(&w); return 0; }
    if (!rc && !in && optind < argc) in = argv[optind++];
    if (!rc && !out && optind < argc) out = argv[optind++];
    if (!rc && (!in || !out || optind != argc)) { fputs(help, stderr); rc = DS_EXIT_USAGE; }
    if (!rc && !mo.mp) rc = ds_fail(DS_EXIT_USAGE, "--model-parallel N is required");
    if (rc) { ds_wargs_free(&w); return rc; }
    return ds_wargs_run(&w, in, out, build, &mo);
}

