/* to_bf16.c - dsconv to-bf16 IN OUT (alias: fp8-to-bf16, with upstream's flags) */
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/to_bf16.h"

#include <stdio.h>

static const char *usage =
    "usage: dsconv to-bf16 IN OUT [options]\n"
    "       dsconv fp8-to-bf16 IN OUT [options]                                    (the same command)\n"
    "       dsconv fp8-to-bf16 --input-fp8-hf-path IN --output-bf16-hf-path OUT   (upstream's flags)\n\n"
    "Dequantize a Hugging Face checkpoint to BF16, whatever its weights hold:\n"
    "  - FP8 (F8_E4M3 with 128x128 block weight_scale_inv, as DeepSeek-V3/R1/V3.1 ship):\n"
    "    byte-identical to DeepSeek's inference/fp8_cast_bf16.py: out = bf16_rne(float(w) * scale);\n"
    "  - compressed-tensors (quantization_config quant_method \"compressed-tensors\"):\n"
    "    pack-quantized INT4/INT8 (symmetric or asymmetric, group or channel; e.g. Kimi-K2-Thinking's\n"
    "    INT4 experts), nvfp4-pack-quantized, mxfp4-pack-quantized and float-quantized block FP8, with\n"
    "    the bytes compressed-tensors' CompressedTensorsDequantizer writes (BF16).\n"
    "Tensors already BF16/F32 are copied unchanged, so a BF16 input gives its own bytes.\n"
    "A module stored in a scheme the config does not declare, a missing, misshapen or non-finite\n"
    "scale is an error (exit 3) naming the tensor. Runs on the CPU or a GPU (FP8 blocks; the\n"
    "compressed-tensors formats are decoded on the CPU); streams in bounded memory; shards keep\n"
    "their names (weight_packed becomes weight); scales are dropped from shards and index;\n"
    "config.json loses its quantization_config and says torch_dtype bfloat16; other files are\n"
    "copied. Output appears under temporary names and the index is written last.\n\n";

static const char *examples =
    "\nexamples:\n"
    "  dsconv to-bf16 /models/DeepSeek-V3 /models/DeepSeek-V3-bf16\n"
    "  dsconv to-bf16 /models/Kimi-K2-Thinking /models/Kimi-K2-Thinking-bf16\n"
    "  dsconv to-bf16 IN OUT --device cpu --threads 16 --json report.json\n"
    "  dsconv to-bf16 IN OUT --resume        # finish an interrupted run\n"
    "  dsconv to-bf16 IN OUT --part 3/16 --resume   # one of 16 parts (then: dsconv finish OUT)\n";

static int build(const ds_ckpt *c, ds_plan *p, const void *arg) {
    return ds_plan_to_bf16(c, (ds_quant_spec *)arg, p);
}

int cmd_to_bf16(int argc, char **argv) {
    ds_wargs w;
    ds_wargs_init(&w, argv[0]);
    const char *in = NULL, *out = NULL;
    const ds_option opts[] = {
        DS_OPT_STRING_("input-fp8-hf-path", 0, &in, "IN", "upstream's spelling of IN (fp8_cast_bf16.py)"),
        DS_OPT_STRING_("output-bf16-hf-path", 0, &out, "OUT", "upstream's spelling of OUT"),
        DS_OPT_WRITE_COMMON_(&w),
        DS_OPT_END_()};
    const ds_opt_doc doc = {usage, examples, ds_wargs_note, &w, 0};
    int i, rc = ds_parse_options(argc, argv, opts, &doc, &i);
    if (rc) { ds_wargs_free(&w); return rc == DS_OPT_HELP_SHOWN ? 0 : rc; }
    if ((rc = ds_opt_operands(argc, argv, i, opts, &doc, 2, &in, &out))) { ds_wargs_free(&w); return rc; }
    ds_quant_spec specs[DS_TO_BF16_MAX_SPECS];
    return ds_wargs_run(&w, in, out, build, specs);
}
