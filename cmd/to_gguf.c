/* to_gguf.c - dsconv to-gguf IN OUT.gguf --type bf16|f16|q8_0 */
#include "cmd/cmd.h"
#include "common/util.h"
#include "common/fsafe.h"
#include "convert/gguf_conv.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help =
    "usage: dsconv to-gguf IN OUT.gguf [--type bf16|f16|q8_0|q4_k|q6_k] [options]\n\n"
    "Write the GGUF file llama.cpp runs (architecture deepseek2) straight from a\n"
    "Hugging Face DeepSeek-V3-family checkpoint: FP8 (dequantized exactly as\n"
    "fp8-to-bf16 does, no BF16 copy on disk), BF16, F16 or F32. Tensor names,\n"
    "order, shapes, ggml types and bytes, and the metadata, are those llama.cpp's\n"
    "convert_hf_to_gguf.py writes for the BF16 checkpoint: kv_b_proj split into\n"
    "attn_k_b (transposed) and attn_v_b, routed experts stacked into ffn_*_exps,\n"
    "norms, router and bias kept F32, MTP layers left out. The tokenizer.* keys\n"
    "come from IN's tokenizer.json and tokenizer_config.json.\n"
    "Streams in bounded memory; OUT appears only when complete.\n\n"
    "options:\n"
    "  --type T                 bf16 (default), f16 or q8_0: every weight of 2+ dimensions, as the\n"
    "                           converter writes it; q4_k or q6_k: what 'llama-quantize --pure'\n"
    "                           (Q4_K_M / Q6_K) writes from the converter's bf16 file (rows not a\n"
    "                           multiple of 256: q5_0 / q8_0, as llama-quantize falls back)\n"
    "  --type-for PATTERN=T     T for GGUF tensor names matching the glob PATTERN (repeatable,\n"
    "                           first match wins), e.g. 'blk.*.ffn_*_exps.weight=q8_0'\n"
    "  --no-vocab               write no tokenizer keys (llama.cpp then needs a vocab from elsewhere)\n"
    "  --tokenizer-pre NAME     tokenizer.ggml.pre to write (default: deepseek-v3 for DeepSeek-V3's\n"
    "                           pre-tokenizer, which is recognized; others need this option)\n"
    "  --name NAME              general.name (default: from IN's directory name, as the converter)\n"
    "  --fp8-f32                read FP8 as float32 products (w * scale), as the converter does when\n"
    "                           given the FP8 checkpoint itself; default: rounded to BF16 first, as\n"
    "                           fp8-to-bf16 writes it (bf16 output is the same either way; f16 and\n"
    "                           q8_0 then equal the converter run on the BF16 checkpoint)\n"
    "  --dry-run                print the tensor plan and write nothing\n"
    "  --device auto|cpu|cuda[:K]  where the ggml encoding runs (default auto: cuda when usable);\n"
    "                           the bytes are the same\n"
    "  --threads N              CPU threads\n"
    "  --force                  overwrite an existing OUT\n"
    "  --json FILE              write a JSON summary (tensors, bytes, seconds)\n"
    "  --quiet / --progress     progress on stderr off / on even when not a terminal\n"
    "  --no-sync                skip fsync before the rename\n"
    "\nexit codes: 0 ok, 2 usage, 3 input to-gguf does not understand (family, dtype,\n"
    "tensor, tokenizer; the message names file and tensor), 4 I/O.\n"
    "\nexamples:\n"
    "  dsconv to-gguf /models/DeepSeek-V3 /models/DeepSeek-V3-Q8_0.gguf --type q8_0\n"
    "  dsconv to-gguf /models/DeepSeek-R1 r1.gguf --type bf16 --type-for 'blk.*_exps.weight=q8_0'\n";

int cmd_to_gguf(int argc, char **argv) {
    enum { O_TYPE = 1, O_TYPE_FOR, O_NO_VOCAB, O_NAME, O_DRY, O_THREADS, O_FORCE, O_JSON, O_QUIET, O_PROGRESS,
           O_NO_SYNC, O_HELP, O_FP8_F32, O_TOK_PRE, O_DEVICE };
    static const struct option opts[] = {
        {"type", required_argument, 0, O_TYPE}, {"type-for", required_argument, 0, O_TYPE_FOR},
        {"no-vocab", no_argument, 0, O_NO_VOCAB}, {"name", required_argument, 0, O_NAME},
        {"dry-run", no_argument, 0, O_DRY}, {"threads", required_argument, 0, O_THREADS},
        {"force", no_argument, 0, O_FORCE}, {"json", required_argument, 0, O_JSON},
        {"quiet", no_argument, 0, O_QUIET}, {"progress", no_argument, 0, O_PROGRESS},
        {"no-sync", no_argument, 0, O_NO_SYNC}, {"fp8-f32", no_argument, 0, O_FP8_F32},
        {"tokenizer-pre", required_argument, 0, O_TOK_PRE}, {"device", required_argument, 0, O_DEVICE}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0}};
    ds_gguf_opts o;
    memset(&o, 0, sizeof o);
    o.type = DS_GGML_BF16;
    int force = 0, c, rc = 0;
    long threads = 0;
    ds_device_req dreq;
    memset(&dreq, 0, sizeof dreq);
    const char *pats[64];
    ds_ggml_type types[64];
    o.override_pat = pats;
    o.override_type = types;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_TYPE:
            if (ds_ggml_from_name(optarg, &o.type) ||
                !(o.type == DS_GGML_BF16 || o.type == DS_GGML_F16 || o.type == DS_GGML_Q8_0 ||
                  o.type == DS_GGML_Q4_K || o.type == DS_GGML_Q6_K)) {
                ds_err("--type %s: expected bf16, f16, q8_0, q4_k or q6_k", optarg);
                return DS_EXIT_USAGE;
            }
            break;
        case O_TYPE_FOR: {
            char *eq = strrchr(optarg, '=');
            ds_ggml_type t;
            if (!eq || eq == optarg || ds_ggml_from_name(eq + 1, &t) ||
                t == DS_GGML_Q5_0) {
                ds_err("--type-for %s: expected PATTERN=TYPE with TYPE f32, bf16, f16, q8_0, q4_k or q6_k", optarg);
                return DS_EXIT_USAGE;
            }
            if (o.n_override == 64) { ds_err("--type-for: at most 64"); return DS_EXIT_USAGE; }
            *eq = 0;
            pats[o.n_override] = optarg;
            types[o.n_override++] = t;
            break;
        }
        case O_NO_VOCAB: o.no_vocab = 1; break;
        case O_NAME: o.name = optarg; break;
        case O_DRY: o.dry_run = 1; break;
        case O_THREADS: DS_TRY(ds_parse_int("--threads", optarg, 1, 4096, &threads)); break;
        case O_FORCE: force = 1; break;
        case O_JSON: o.json_path = optarg; break;
        case O_QUIET: o.quiet = 1; break;
        case O_PROGRESS: o.progress = 1; break;
        case O_NO_SYNC: o.no_sync = 1; break;
        case O_FP8_F32: o.fp8_f32 = 1; break;
        case O_TOK_PRE: o.tokenizer_pre = optarg; break;
        case O_DEVICE: DS_TRY(ds_parse_device(optarg, &dreq)); break;
        case O_HELP: fputs(help, stdout); return 0;
        default: fputs(help, stderr); return DS_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) { fputs(help, stderr); return DS_EXIT_USAGE; }
    const char *in = argv[optind], *out = argv[optind + 1];
    if (!o.dry_run && ds_path_exists(out) && !force) {
        ds_err("%s exists (use --force to overwrite)", out);
        return DS_EXIT_USAGE;
    }
    if (!o.dry_run) DS_TRY(ds_check_out_file_vs_in(in, out)); /* --force never replaces an input file */
    if (!o.dry_run && ds_is_dir(out)) {
        ds_err("%s is a directory; OUT is the .gguf file to write", out);
        return DS_EXIT_USAGE;
    }
    ds_set_threads((int)threads);
    DS_TRY(ds_resolve_device(dreq, &o.use_cuda));
    rc = ds_gguf_convert(in, out, &o);
    return rc;
}
