/* sample_main.c - bin/dsconv-sample: command line for the synthetic
 * checkpoint generator (samples/sample_gen.h does the work). Its options are
 * one table (cmd/parse_options.h) that drives both parsing and --help, as
 * dsconv's commands. */
#include "samples/sample_gen.h"
#include "cmd/parse_options.h"
#include "cmd/cmd.h"
#include "common/util.h"
#include "common/bug.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
"usage: dsconv-sample --out DIR [options]\n"
"\n"
"Writes a small, deterministic, synthetic DeepSeek-V3-shaped checkpoint (random\n"
"weights, real tensor names, shapes and dtypes): config.json, generation_config.json,\n"
"tokenizer_config.json, model-0000K-of-0000N.safetensors shards and\n"
"model.safetensors.index.json. Weights are FP8 e4m3 with F32 128x128 block scales\n"
"(weight_scale_inv, amax/448 per block) unless --bf16. The defaults cover what\n"
"toy checkpoints usually miss: dims that are not multiples of 128 (q_lora 192,\n"
"kv_a_proj_with_mqa 160 rows), a weight_scale_inv stored in the next shard after\n"
"its weight, an MTP layer (model.layers.<layers>.* with embed_tokens, enorm, hnorm,\n"
"eh_proj, shared_head), dense and MoE layers; every dim that model-parallel\n"
"splits, and its scale's, divides by 4. Same options and seed give the same bytes.\n"
"Files of an earlier run in DIR named model.safetensors,\n"
"model-NNNNN-of-NNNNN.safetensors or model.safetensors.index.json are removed first.\n"
"\n";

static const char *epilog = "\nExit status: 0 ok, 2 usage, 4 I/O error.\n";

/* The target of an int option: a field of ds_sample_opts, and where to note
 * that the option was given (NULL: nowhere). */
typedef struct {
    int *field;
    const char **given;
} int_target;

/* A whole number from 0 to 2^30 into an int field. */
static int cb_int(const ds_option *o, const char *arg) {
    const int_target *t = o->value;
    char opt[64];
    long v;
    snprintf(opt, sizeof opt, "--%s", o->long_name);
    DS_TRY(ds_parse_int(opt, arg, 0, 1L << 30, &v));
    *t->field = (int)v;
    if (t->given) *t->given = o->long_name;
    return 0;
}

static int cb_seed(const ds_option *o, const char *arg) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 0);
    if (errno || end == arg || *end || arg[0] == '-')
        return ds_fail(DS_EXIT_USAGE, "--seed: '%s' is not a non-negative integer", arg);
    *(uint64_t *)o->value = v;
    return 0;
}

static int cb_size_gb(const ds_option *o, const char *arg) {
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !(v > 0)) return ds_fail(DS_EXIT_USAGE, "--size-gb: '%s' is not a positive number", arg);
    *(double *)o->value = v;
    return 0;
}

static int dry_run(const ds_sample_opts *o) {
    ds_sample_tensor *v;
    int n, ns;
    DS_TRY(ds_sample_plan(o, &v, &n, &ns));
    uint64_t total = 0, fp8 = 0;
    for (int i = 0; i < n; i++) {
        total += v[i].bytes;
        if (v[i].dtype == DS_F8_E4M3) fp8 += v[i].bytes;
    }
    char a[32], b[32];
    printf("%s: %s, %d layers (%d dense) + %d MTP, hidden %d, %d routed + %d shared experts, vocab %d\n",
           o->out, o->bf16 ? "bf16" : o->ue8m0 ? "fp8 (ue8m0 scales)" : "fp8", o->layers, o->dense, o->mtp,
           o->hidden, o->experts, o->shared, o->vocab);
    printf("%d tensors, %s (%s FP8) in %d file%s\n", n, ds_fmt_bytes(total, a, sizeof a),
           ds_fmt_bytes(fp8, b, sizeof b), o->single_file ? 1 : ns, ns > 1 ? "s" : "");
    free(v);
    return 0;
}

/* Dimension options: int fields of ds_sample_opts, each a config.json field. */
#define N_DIMS 18
static const struct {
    const char *name;
    size_t off;
    const char *help; /* the field; its default follows in parentheses */
} DIMS[N_DIMS] = {
    {"hidden", offsetof(ds_sample_opts, hidden), "hidden_size"},
    {"layers", offsetof(ds_sample_opts, layers), "num_hidden_layers, main layers"},
    {"mtp", offsetof(ds_sample_opts, mtp), "num_nextn_predict_layers, MTP layers after the main ones"},
    {"dense", offsetof(ds_sample_opts, dense), "first_k_dense_replace: the first N layers are dense"},
    {"experts", offsetof(ds_sample_opts, experts), "n_routed_experts"},
    {"shared", offsetof(ds_sample_opts, shared), "n_shared_experts"},
    {"topk", offsetof(ds_sample_opts, topk), "num_experts_per_tok"},
    {"groups", offsetof(ds_sample_opts, groups), "n_group"},
    {"topk-groups", offsetof(ds_sample_opts, topk_groups), "topk_group"},
    {"heads", offsetof(ds_sample_opts, heads), "num_attention_heads"},
    {"q-lora", offsetof(ds_sample_opts, q_lora), "q_lora_rank, 0 = q_proj instead of q_a/q_b"},
    {"kv-lora", offsetof(ds_sample_opts, kv_lora), "kv_lora_rank"},
    {"nope", offsetof(ds_sample_opts, nope), "qk_nope_head_dim"},
    {"rope", offsetof(ds_sample_opts, rope), "qk_rope_head_dim"},
    {"v-dim", offsetof(ds_sample_opts, v_dim), "v_head_dim"},
    {"inter", offsetof(ds_sample_opts, inter), "intermediate_size of dense layers"},
    {"moe-inter", offsetof(ds_sample_opts, moe_inter), "moe_intermediate_size of one expert"},
    {"vocab", offsetof(ds_sample_opts, vocab), "vocab_size"},
};

enum { PROFILE_NONE = 0, PROFILE_V3_BENCH };
static const ds_opt_choice PROFILES[] = {{"v3-bench", PROFILE_V3_BENCH}, {NULL, 0}};

/* The command line: the option table over a ds_sample_opts, and what its
 * entries note besides the generator's own fields. */
typedef struct {
    const char *family;
    const char *dim_given, *shards_given, *mtp_given; /* the option's name when given */
    int profile, dry;
    double size_gb;
    int_target shards_t, dim_t[N_DIMS];
    char shards_help[64], seed_help[64], dim_help[N_DIMS][96];
    ds_option opts[N_DIMS + 24];
} sample_cli;

/* Fills c->opts with targets in o; d (the defaults) gives --help its numbers. */
static void build_table(sample_cli *c, ds_sample_opts *o, const ds_sample_opts *d) {
    snprintf(c->shards_help, sizeof c->shards_help, "shard files (default %d; 0 = about 5 GB each)", d->shards);
    snprintf(c->seed_help, sizeof c->seed_help, "PRNG seed (default %llu)", (unsigned long long)d->seed);
    c->shards_t = (int_target){&o->shards, &c->shards_given};
    ds_option *t = c->opts;
    *t++ = (ds_option)DS_OPT_GROUP_("Family (applied first, wherever it stands; the other options override it):");
    *t++ = (ds_option)DS_OPT_STRING_("family", 0, &c->family, "v3|v32|kimi|kimi-thinking|terminus|moonlight",
        "one of:\n"
        "v3: DeepSeek-V3 / R1 / V3.1 (the defaults: FP8, MTP)\n"
        "v32: DeepSeek-V3.2: model_type deepseek_v32, the\n"
        "  lightning indexer in every layer (index_n_heads 4,\n"
        "  index_head_dim 64, index_topk 8; wq_b, wk FP8), ue8m0\n"
        "kimi: Kimi-K2: model_type kimi_k2, n_group 1, 16\n"
        "  experts, no MTP, routed_scaling_factor 2.827,\n"
        "  rope_theta 50000, YaRN factor 32, betas 1 and 1\n"
        "kimi-thinking: Kimi-K2-Thinking: kimi with routed\n"
        "  experts in compressed-tensors pack-quantized INT4\n"
        "  (symmetric, group 32), the rest BF16\n"
        "terminus: V3.1-Terminus: ue8m0 with non-power-of-two\n"
        "  o_proj scales, F32 norms\n"
        "moonlight: Moonlight: q_lora_rank null (q_proj), BF16,\n"
        "  n_group 1, no MTP");
    *t++ = (ds_option)DS_OPT_GROUP_("\nOutput:");
    *t++ = (ds_option)DS_OPT_STRING_("out", 0, &o->out, "DIR", "output directory (created)");
    *t++ = (ds_option)DS_OPT_CALLBACK_("shards", &c->shards_t, "N", cb_int, c->shards_help);
    *t++ = (ds_option)DS_OPT_FLAG_("single-file", 0, &o->single_file, "one model.safetensors, no index");
    *t++ = (ds_option)DS_OPT_FLAG_("bf16", 0, &o->bf16, "BF16 weights: no scales, no quantization_config");
    *t++ = (ds_option)DS_OPT_FLAG_("ue8m0", 0, &o->ue8m0,
                                   "power-of-two block scales (quantization_config scale_fmt \"ue8m0\")");
    *t++ = (ds_option)DS_OPT_CALLBACK_("seed", &o->seed, "N", cb_seed, c->seed_help);
    *t++ = (ds_option)DS_OPT_FLAG_("fast", 0, &o->fast,
                                   "FP8 bytes from a Gaussian byte table with nominal block\n"
                                   "scales (~amax/448) instead of each block's exact amax;\n"
                                   "for GB sizes");
    *t++ = (ds_option)DS_OPT_FLAG_("quiet", 0, &o->quiet, "no progress lines");
    *t++ = (ds_option)DS_OPT_FLAG_("dry-run", 0, &c->dry,
                                   "print what would be written (layers, experts, tensors,\n"
                                   "shards, bytes) and write nothing");
    *t++ = (ds_option)DS_OPT_GROUP_("\nDimensions (config.json field; default):");
    for (int i = 0; i < N_DIMS; i++) {
        int *field = (int *)((char *)o + DIMS[i].off);
        const int *dflt = (const int *)((const char *)d + DIMS[i].off);
        snprintf(c->dim_help[i], sizeof c->dim_help[i], "%s (%d)", DIMS[i].help, *dflt);
        c->dim_t[i] = (int_target){field, !strcmp(DIMS[i].name, "mtp") ? &c->mtp_given : &c->dim_given};
        *t++ = (ds_option)DS_OPT_CALLBACK_(DIMS[i].name, &c->dim_t[i], "N", cb_int, c->dim_help[i]);
    }
    *t++ = (ds_option)DS_OPT_GROUP_("\nBenchmark inputs (--profile v3-bench --size-gb X):");
    *t++ = (ds_option)DS_OPT_ENUM_("profile", &c->profile, "v3-bench", PROFILES,
                                   "DeepSeek-V3's real shapes (hidden 7168, 128 heads,\n"
                                   "q_lora 1536, kv_lora 512, rope 64, nope 128, v 128,\n"
                                   "experts 2048x7168, vocab 129280) with as many layers and\n"
                                   "routed experts (a multiple of 16) as fit X GB; below\n"
                                   "~5.3 GB the same structure scaled down by a power of two\n"
                                   "(hidden/k, vocab/k, ...). Every split dim allows\n"
                                   "model-parallel 16. One MTP layer when it fits (--mtp N to\n"
                                   "choose); implies --fast and --shards 0 (~5 GB files);\n"
                                   "dimension options are refused.");
    *t++ = (ds_option)DS_OPT_CALLBACK_("size-gb", &c->size_gb, "X", cb_size_gb,
                                       "the checkpoint's size in GB (10^9 bytes)");
    *t++ = (ds_option)DS_OPT_END_();
    DS_ASSERT(t <= c->opts + sizeof c->opts / sizeof c->opts[0]);
}

int main(int argc, char **argv) {
    ds_sample_opts o, d;
    ds_sample_defaults(&o);
    d = o;
    sample_cli c = {0};
    build_table(&c, &o, &d);
    const ds_opt_doc doc = {usage, epilog, NULL, NULL, 1};
    int first, rc = ds_parse_options(argc, argv, c.opts, &doc, &first);
    if (!rc && c.family) {
        /* the family first, wherever it stands: then the options again, over it */
        ds_sample_defaults(&o);
        rc = ds_sample_family(&o, c.family);
        if (!rc) rc = ds_parse_options(argc, argv, c.opts, &doc, &first);
    }
    if (rc) return rc == DS_OPT_HELP_SHOWN ? 0 : rc;
    if (first < argc) {
        ds_err("unexpected argument '%s'", argv[first]);
        return ds_opt_usage_error(c.opts, &doc);
    }
    if (c.profile == PROFILE_V3_BENCH) {
        if (c.size_gb <= 0) return ds_fail(DS_EXIT_USAGE, "--profile v3-bench needs --size-gb X");
        if (c.dim_given)
            return ds_fail(DS_EXIT_USAGE, "--%s: the v3-bench profile sets the dimensions itself", c.dim_given);
        if (!c.shards_given) o.shards = 0;
        int k = 1;
        rc = ds_sample_profile_v3_bench(&o, c.size_gb, c.mtp_given ? o.mtp : -1, &k);
        if (rc) return rc;
        if (!o.quiet) {
            fprintf(stderr, "dsconv-sample: v3-bench %g GB: %d layers (%d dense), %d MTP, %d routed experts, %.2f GB\n",
                    c.size_gb, o.layers, o.dense, o.mtp, o.experts, ds_sample_total_bytes(&o) / 1e9);
            if (k > 1)
                fprintf(stderr, "dsconv-sample: too small for real V3 layers (~5.3 GB): shapes scaled by 1/%d "
                        "(hidden %d, %d heads, vocab %d)\n", k, o.hidden, o.heads, o.vocab);
        }
    } else if (c.size_gb > 0) {
        return ds_fail(DS_EXIT_USAGE, "--size-gb goes with --profile v3-bench");
    }
    if (o.single_file && c.shards_given && o.shards > 1)
        return ds_fail(DS_EXIT_USAGE, "--single-file writes one file; it cannot go with --shards %d", o.shards);
    if (c.dry) return dry_run(&o);
    return ds_sample_generate(&o);
}
