/* main.c - dsconv entry point: dispatch to the command table (cmd/). */
#include "cmd/cmd.h"
#include "common/util.h"
#include "common/fsafe.h"

#include <stdio.h>
#include <string.h>

#ifndef DSCONV_VERSION
#define DSCONV_VERSION "0.1.0"
#endif

static const ds_cmd commands[] = {
    {"fp8-to-bf16", cmd_fp8_to_bf16, "convert an FP8 (128x128 block-scaled) checkpoint to BF16, byte-identical to upstream", 1},
    {"shard-for-mp", cmd_shard_for_mp, "write the DeepSeek-Infer model-parallel layout (model{i}-mp{N}.safetensors)", 1},
    {"strip-mtp", cmd_strip_mtp, "drop the Multi-Token-Prediction layers", 1},
    {"requant", cmd_requant, "quantize to INT8/INT4/NVFP4/MXFP4 weight-only (compressed-tensors), all Linears or experts only", 1},
    {"verify", cmd_verify, "run the model and compare logits against another checkpoint", 0},
    {"inspect", cmd_inspect, "describe a checkpoint: layers, experts, dtypes, shards", 0},
    {"manifest", cmd_manifest, "XXH3-128 of every tensor and file, as JSON", 0},
    {"finish", cmd_finish, "complete a conversion run as parts (--part I/N): checks them, writes the index", 1},
    {"to-gguf", cmd_to_gguf, "write llama.cpp's GGUF (bf16/f16/q8_0/q4_k/q6_k) straight from the checkpoint", 0},
    {"to-bf16", cmd_to_bf16, "dequantize to BF16: FP8 blocks, compressed-tensors INT4/INT8/NVFP4/MXFP4 (fp8-to-bf16 is its alias)", 1},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

const ds_cmd *ds_cmd_find(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: dsconv <command> [options] ...\n"
            "       dsconv <command> --help     options and examples of one command\n"
            "       dsconv --version\n\n"
            "Convert, reshard, requantize and verify DeepSeek-V3-family Hugging Face checkpoints,\n"
            "streaming (bounded memory) and safely (outputs appear only when complete).\n\n"
            "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nexit codes: 0 success, 1 verification mismatch, 2 usage error, 3 invalid input,\n"
            "            4 I/O failure (no space, permission, write error). See MANUAL.md.\n");
}

int main(int argc, char **argv) {
    if (argc >= 2) ds_omp_wait_policy(ds_cmd_find(argv[1]), argv);
    ds_install_fault_handlers();
    if (argc < 2) { usage(stderr); return DS_EXIT_USAGE; }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) { usage(stdout); return 0; }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) { printf("dsconv %s\n", DSCONV_VERSION); return 0; }
    if (!strcmp(name, "help")) {
        if (argc < 3) { usage(stdout); return 0; }
        name = argv[2];
        for (int i = 0; i < N_COMMANDS; i++)
            if (!strcmp(commands[i].name, name)) {
                char *hargv[] = {(char *)commands[i].name, "--help", NULL};
                return commands[i].fn(2, hargv);
            }
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return commands[i].fn(argc - 1, argv + 1);
    ds_err("'%s' is not a dsconv command (see 'dsconv --help')", name);
    return DS_EXIT_USAGE;
}
