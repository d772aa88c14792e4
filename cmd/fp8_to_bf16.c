/* fp8_to_bf16.c - dsconv fp8-to-bf16 IN OUT */
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/fp8_to_bf16.h"

#include <stdio.h>

static const char *help =
    "usage: dsconv fp8-to-bf16 IN OUT [options]\n"
    "       dsconv fp8-to-bf16 --input-fp8-hf-path IN --output-bf16-hf-path OUT   (upstream's flags)\n\n"
    "Convert a Hugging Face FP8 checkpoint (F8_E4M3 weights with 128x128 block\n"
    "weight_scale_inv, as DeepSeek-V3/R1/V3.1 ship) to BF16, byte-identical to\n"
    "DeepSeek's inference/fp8_cast_bf16.py: out = bf16_rne(float(w) * scale).\n"
    "Runs on the CPU or a GPU; streams in bounded memory; shards keep their names;\n"
    "scales are dropped from shards and index; config.json loses its\n"
    "quantization_config and says torch_dtype bfloat16; other files are copied.\n"
    "A missing, misshapen or non-finite scale is an error (exit 3) naming the tensor.\n"
    "Output appears under temporary names and the index is written last.\n\n"
    "options:\n" DS_WRITE_HELP
    "\nexamples:\n"
    "  dsconv fp8-to-bf16 /models/DeepSeek-V3 /models/DeepSeek-V3-bf16\n"
    "  dsconv fp8-to-bf16 IN OUT --device cpu --threads 16 --json report.json\n"
    "  dsconv fp8-to-bf16 IN OUT --resume        # finish an interrupted run\n"
    "  dsconv fp8-to-bf16 IN OUT --part 3/16 --resume   # one of 16 parts (then: dsconv finish OUT)\n";

static int build(const ds_ckpt *c, ds_plan *p, const void *arg) {
    (void)arg;
    return ds_plan_fp8_to_bf16(c, p);
}

int cmd_fp8_to_bf16(int argc, char **argv) {
    enum { O_IN = 1, O_OUT };
    static const struct option opts[] = {
        {"input-fp8-hf-path", required_argument, 0, O_IN}, {"output-bf16-hf-path", required_argument, 0, O_OUT},
        DS_WRITE_LONG_OPTS, {0, 0, 0, 0}};
    ds_wargs w;
    ds_wargs_init(&w, "fp8-to-bf16");
    const char *in = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == O_IN) { in = optarg; continue; }
        if (c == O_OUT) { out = optarg; continue; }
        ds_wargs_note(&w, opts, c, optarg);
        int r = ds_wargs_opt(&w, c, optarg);
        if (r < 0) { ds_wargs_free(&w); return -r; }
        if (r == 0) { ds_wargs_free(&w); fputs(help, stderr); return DS_EXIT_USAGE; }
    }
    if (w.help) { ds_wargs_free(&w); fputs(help, stdout); return 0; }
    if (!in && optind < argc) in = argv[optind++];
    if (!out && optind < argc) out = argv[optind++];
    if (!in || !out || optind != argc) { ds_wargs_free(&w); fputs(help, stderr); return DS_EXIT_USAGE; }
    return ds_wargs_run(&w, in, out, build, NULL);
}

