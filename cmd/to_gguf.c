/* to_gguf.c - dsconv to-gguf IN OUT.gguf --type bf16|f16|q8_0 */
#include "cmd/cmd.h"
#include "cmd/parse_options.h"
#include "common/util.h"
#include "common/fsafe.h"
#include "convert/gguf_conv.h"
#include "kernels/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: dsconv to-gguf IN OUT.gguf [--type bf16|f16|q8_0|q4_k|q6_k] [options]\n\n"
    "Write the GGUF file llama.cpp runs (architecture deepseek2 or deepseek32) from a\n"
    "Hugging Face DeepSeek-V3-family checkpoint: FP8 (dequantized exactly as\n"
    "fp8-to-bf16 does, no BF16 copy on disk), BF16, F16 or F32. Tensor names,\n"
    "order, shapes, ggml types and bytes, and the metadata, are those llama.cpp's\n"
    "convert_hf_to_gguf.py writes for the BF16 checkpoint: kv_b_proj split into\n"
    "attn_k_b (transposed) and attn_v_b, routed experts stacked into ffn_*_exps,\n"
    "norms, router and bias kept F32, MTP layers left out (deepseek2). The tokenizer.* keys\n"
    "come from IN's tokenizer.json and tokenizer_config.json, or for Kimi-K2 and\n"
    "Moonlight from tiktoken.model and tokenizer_config.json (pre kimi-k2: ranks,\n"
    "special and reserved ids, merges rebuilt as the converter does).\n"
    "general.sampling.* (temp, top_p, top_k, ...) come from generation_config.json.\n"
    "Families: deepseek_v3 (V3, V3.1, R1, Moonlight) and kimi_k2 as deepseek2;\n"
    "deepseek_v32 (V3.2) as deepseek32: the lightning indexer (indexer.proj F32)\n"
    "and its keys, and the MTP layers kept as blocks with nextn.* tensors.\n"
    "Streams in bounded memory; OUT appears only when complete.\n\n"
    ;

static const char *epilog =
    "\nexit codes: 0 ok, 2 usage, 3 input to-gguf does not understand (family, dtype,\n"
    "tensor, tokenizer; the message names file and tensor), 4 I/O.\n"
    "\nexamples:\n"
    "  dsconv to-gguf /models/DeepSeek-V3 /models/DeepSeek-V3-Q8_0.gguf --type q8_0\n"
    "  dsconv to-gguf /models/DeepSeek-R1 r1.gguf --type bf16 --type-for 'blk.*_exps.weight=q8_0'\n"
    "  dsconv to-gguf /models/DeepSeek-V3.2 v32.gguf --type q8_0\n";

static int cb_io(const ds_option *opt, const char *arg) {
    int *io = opt->value;
    if (!strcmp(arg, "mmap")) *io = DS_GG_IO_MMAP;
    else if (!strcmp(arg, "pwrite")) *io = DS_GG_IO_PWRITE;
    else return ds_fail(DS_EXIT_USAGE, "--io %s: expected pwrite or mmap", arg);
    return 0;
}

static int resolve_device(void *ctx, int gpu_work, int *use_cuda) {
    ds_device_req d = *(const ds_device_req *)ctx;
    d.check_only = !gpu_work;
    return ds_resolve_device(d, use_cuda);
}

/* --type and --type-for fill the ggml types of ds_gguf_opts. */
typedef struct {
    ds_gguf_opts *o;
    const char **pats;
    ds_ggml_type *types;
} gguf_cli;

static int cb_type(const ds_option *opt, const char *arg) {
    ds_gguf_opts *o = ((gguf_cli *)opt->value)->o;
    if (ds_ggml_from_name(arg, &o->type) || !(o->type == DS_GGML_BF16 || o->type == DS_GGML_F16 ||
                                              o->type == DS_GGML_Q8_0 || o->type == DS_GGML_Q4_K ||
                                              o->type == DS_GGML_Q6_K))
        return ds_fail(DS_EXIT_USAGE, "--type %s: expected bf16, f16, q8_0, q4_k or q6_k", arg);
    return 0;
}

static int cb_type_for(const ds_option *opt, const char *arg) {
    gguf_cli *g = opt->value;
    char *eq = strrchr(arg, '=');
    ds_ggml_type t;
    if (!eq || eq == arg || ds_ggml_from_name(eq + 1, &t) || t == DS_GGML_Q5_0)
        return ds_fail(DS_EXIT_USAGE, "--type-for %s: expected PATTERN=TYPE with TYPE f32, bf16, f16, q8_0, q4_k or q6_k",
                       arg);
    if (g->o->n_override == 64) return ds_fail(DS_EXIT_USAGE, "--type-for: at most 64");
    *eq = 0; /* the pattern is the argument up to '=' (argv is ours to cut) */
    g->pats[g->o->n_override] = arg;
    g->types[g->o->n_override++] = t;
    return 0;
}

int cmd_to_gguf(int argc, char **argv) {
    ds_gguf_opts o;
    memset(&o, 0, sizeof o);
    o.type = DS_GGML_BF16;
    int force = 0, rc = 0;
    long threads = 0, writers = 0;
    ds_device_req dreq;
    memset(&dreq, 0, sizeof dreq);
    const char *pats[64];
    ds_ggml_type types[64];
    o.override_pat = pats;
    o.override_type = types;
    gguf_cli g = {&o, pats, types};
    const ds_option opts[] = {
        DS_OPT_GROUP_("options:"),
        DS_OPT_CALLBACK_("type", &g, "T", cb_type,
                         "bf16 (default), f16 or q8_0: every weight of 2+ dimensions, as the\n"
                         "converter writes it; q4_k or q6_k: what 'llama-quantize --pure'\n"
                         "(Q4_K_M / Q6_K) writes from the converter's bf16 file (rows not a\n"
                         "multiple of 256: q5_0 / q8_0, as llama-quantize falls back)"),
        DS_OPT_CALLBACK_("type-for", &g, "PATTERN=T", cb_type_for,
                         "T for GGUF tensor names matching the glob PATTERN (repeatable,\n"
                         "first match wins), e.g. 'blk.*.ffn_*_exps.weight=q8_0'"),
        DS_OPT_FLAG_("no-vocab", 0, &o.no_vocab, "write no tokenizer keys (llama.cpp then needs a vocab from elsewhere)"),
        DS_OPT_STRING_("tokenizer-pre", 0, &o.tokenizer_pre, "NAME",
                       "tokenizer.ggml.pre to write (default: deepseek-v3 for DeepSeek-V3's\n"
                       "pre-tokenizer, kimi-k2 for Kimi's tiktoken one, both recognized;\n"
                       "others need this option; a tiktoken.model takes kimi-k2 only)"),
        DS_OPT_STRING_("name", 0, &o.name, "NAME", "general.name (default: from IN's directory name, as the converter)"),
        DS_OPT_FLAG_("fp8-f32", 0, &o.fp8_f32,
                     "read FP8 as float32 products (w * scale), as the converter does when\n"
                     "given the FP8 checkpoint itself; default: rounded to BF16 first, as\n"
                     "fp8-to-bf16 writes it (bf16 output is the same either way; f16 and\n"
                     "q8_0 then equal the converter run on the BF16 checkpoint)"),
        DS_OPT_FLAG_("dry-run", 0, &o.dry_run, "print the tensor plan and write nothing"),
        DS_OPT_DEVICE_(&dreq, "where the ggml encoding runs (default auto: cuda when usable);\n"
                              "the bytes are the same"),
        DS_OPT_THREADS_(&threads, "CPU threads"),
        DS_OPT_FLAG_("force", 0, &force, "overwrite an existing OUT"),
        DS_OPT_STRING_("json", 0, &o.json_path, "FILE", "write a JSON summary (tensors, bytes, seconds)"),
        DS_OPT_FLAG_("quiet", 0, &o.quiet, "no progress on stderr"),
        DS_OPT_FLAG_("progress", 0, &o.progress, "progress on stderr even when it is not a terminal"),
        DS_OPT_FLAG_("no-sync", 0, &o.no_sync, "skip fsync before the rename"),
        DS_OPT_CALLBACK_("io", &o.io, "pwrite|mmap", cb_io,
                         "how the workers write (the bytes are the same): pwrite (default)\n"
                         "writes each worker's buffer at its offset; mmap stores them straight\n"
                         "into the mapped output, blocks reserved first (pwrite where the file\n"
                         "system cannot reserve; slower than pwrite on ext4's page cache)"),
        DS_OPT_INT_("writers", &writers, "N", 0, 64,
                    "with pwrite: 0 (default): each worker writes its own units (faster than\n"
                    "one writer thread on the 2-core VM; the layout the H200 measured); N: N threads\n"
                    "write what the workers encode, handed over through min(workers, 16) + 2N buffers"),
        DS_OPT_FLAG_("reserve", 0, &o.reserve,
                     "reserve the whole file's blocks (fallocate) before writing, so a full\n"
                     "disk fails at the start rather than part way"),
        DS_OPT_END_()};
    const ds_opt_doc doc = {usage, epilog, NULL, NULL, 0};
    int i;
    rc = ds_parse_options(argc, argv, opts, &doc, &i);
    if (rc) return rc == DS_OPT_HELP_SHOWN ? 0 : rc;
    const char *in = NULL, *out = NULL;
    DS_TRY(ds_opt_operands(argc, argv, i, opts, &doc, 2, &in, &out));
    if (!o.dry_run && ds_path_exists(out) && !force) {
        ds_err("%s exists (use --force to overwrite)", out);
        return DS_EXIT_USAGE;
    }
    if (!o.dry_run) DS_TRY(ds_check_out_file_vs_in(in, out)); /* --force never replaces an input file */
    if (!o.dry_run && ds_is_dir(out)) {
        ds_err("%s is a directory; OUT is the .gguf file to write", out);
        return DS_EXIT_USAGE;
    }
    o.writers = (int)writers;
    ds_set_threads((int)threads);
    /* CUDA's start-up is left to the first worker (gguf_conv.h resolve_device),
     * except where it costs nothing: --device cpu, a build without CUDA, a dry run */
    if (dreq.kind == DS_DEV_CPU || !ds_device_cuda() || o.dry_run) DS_TRY(ds_resolve_device(dreq, &o.use_cuda));
    else { o.resolve_device = resolve_device; o.resolve_ctx = &dreq; o.device_auto = dreq.kind == DS_DEV_AUTO; }
    rc = ds_gguf_convert(in, out, &o);
    return rc;
}
