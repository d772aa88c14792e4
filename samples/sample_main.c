/* sample_main.c - bin/dsconv-sample: command line for the synthetic
 * checkpoint generator (samples/sample_gen.h does the work). */
#include "samples/sample_gen.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    ds_sample_opts d;
    ds_sample_defaults(&d);
    fprintf(f,
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
"\n"
"Family (--family NAME, first; later options override it):\n"
"  v3             DeepSeek-V3 / R1 / V3.1 (the defaults: FP8, MTP layer)\n"
"  v32            DeepSeek-V3.2: model_type deepseek_v32, lightning indexer in every layer\n"
"                 (index_n_heads 4, index_head_dim 64, index_topk 8; wq_b, wk FP8), ue8m0\n"
"  kimi           Kimi-K2: model_type kimi_k2, n_group 1, 16 experts, no MTP,\n"
"                 routed_scaling_factor 2.827, rope_theta 50000, YaRN factor 32, betas 1 and 1\n"
"  kimi-thinking  Kimi-K2-Thinking: kimi with routed experts in compressed-tensors\n"
"                 pack-quantized INT4 (symmetric, group 32), the rest BF16\n"
"  terminus       V3.1-Terminus: ue8m0 with non-power-of-two o_proj scales, F32 norms\n"
"  moonlight      Moonlight: q_lora_rank null (q_proj), BF16, n_group 1, no MTP\n"
"\n"
"Output:\n"
"  --out DIR          output directory (created)\n"
"  --shards N         shard files (default %d; 0 = about 5 GB each)\n"
"  --single-file      one model.safetensors, no index\n"
"  --bf16             BF16 weights: no scales, no quantization_config\n"
"  --ue8m0            power-of-two block scales (quantization_config scale_fmt \"ue8m0\")\n"
"  --seed N           PRNG seed (default %llu)\n"
"  --fast             FP8 bytes from a Gaussian byte table with nominal block scales\n"
"                     (~amax/448) instead of each block's exact amax; for GB sizes\n"
"  --quiet            no progress lines\n"
"  --dry-run          print what would be written (layers, experts, tensors, shards,\n"
"                     bytes) and write nothing\n"
"\n"
"Dimensions (config.json field; default):\n"
"  --hidden N         hidden_size (%d)\n"
"  --layers N         num_hidden_layers, main layers (%d)\n"
"  --mtp N            num_nextn_predict_layers, MTP layers after the main ones (%d)\n"
"  --dense N          first_k_dense_replace: the first N layers are dense (%d)\n"
"  --experts N        n_routed_experts (%d)\n"
"  --shared N         n_shared_experts (%d)\n"
"  --topk N           num_experts_per_tok (%d)\n"
"  --groups N         n_group (%d)\n"
"  --topk-groups N    topk_group (%d)\n"
"  --heads N          num_attention_heads (%d)\n"
"  --q-lora N         q_lora_rank, 0 = q_proj instead of q_a/q_b (%d)\n"
"  --kv-lora N        kv_lora_rank (%d)\n"
"  --nope N           qk_nope_head_dim (%d)\n"
"  --rope N           qk_rope_head_dim (%d)\n"
"  --v-dim N          v_head_dim (%d)\n"
"  --inter N          intermediate_size of dense layers (%d)\n"
"  --moe-inter N      moe_intermediate_size of one expert (%d)\n"
"  --vocab N          vocab_size (%d)\n"
"\n"
"Benchmark inputs:\n"
"  --profile v3-bench --size-gb X\n"
"                     DeepSeek-V3's real shapes (hidden 7168, 128 heads, q_lora 1536,\n"
"                     kv_lora 512, rope 64, nope 128, v 128, experts 2048x7168, vocab\n"
"                     129280) with as many layers and routed experts (a multiple of\n"
"                     16) as fit X GB (10^9 bytes); below ~5.3 GB the same structure\n"
"                     scaled down by a power of two (hidden/k, vocab/k, ...). Every\n"
"                     split dim allows model-parallel 16. One MTP layer when it fits\n"
"                     (--mtp N to choose); implies --fast and --shards 0 (~5 GB\n"
"                     files); dimension options are refused.\n"
"  --help             this text\n"
"\n"
"Exit status: 0 ok, 2 usage, 4 I/O error.\n",
        d.shards, (unsigned long long)d.seed, d.hidden, d.layers, d.mtp, d.dense, d.experts, d.shared,
        d.topk, d.groups, d.topk_groups, d.heads, d.q_lora, d.kv_lora, d.nope, d.rope, d.v_dim, d.inter,
        d.moe_inter, d.vocab);
}

static int parse_int(const char *opt, const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > (1L << 30))
        return ds_fail(DS_EXIT_USAGE, "--%s: '%s' is not a non-negative integer", opt, s);
    *out = (int)v;
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

enum { O_OUT = 256, O_SHARDS, O_SINGLE, O_BF16, O_UE8M0, O_SEED, O_FAST, O_QUIET, O_PROFILE, O_SIZE,
       O_HELP, O_DRY, O_FAMILY, O_DIM0 };

/* Dimension options map onto int fields of ds_sample_opts. */
typedef struct { const char *name; size_t off; } dim_opt;
#define DIM(n, f) { n, offsetof(ds_sample_opts, f) }
static const dim_opt DIMS[] = {
    DIM("hidden", hidden), DIM("layers", layers), DIM("mtp", mtp), DIM("dense", dense),
    DIM("experts", experts), DIM("shared", shared), DIM("topk", topk), DIM("groups", groups),
    DIM("topk-groups", topk_groups), DIM("heads", heads), DIM("q-lora", q_lora), DIM("kv-lora", kv_lora),
    DIM("nope", nope), DIM("rope", rope), DIM("v-dim", v_dim), DIM("inter", inter),
    DIM("moe-inter", moe_inter), DIM("vocab", vocab),
};
#define N_DIMS ((int)(sizeof DIMS / sizeof DIMS[0]))

int main(int argc, char **argv) {
    ds_sample_opts o;
    ds_sample_defaults(&o);
    struct option lo[N_DIMS + 16]; /* 13 named options, the dims, the terminator */
    int k = 0;
    lo[k++] = (struct option){"out", required_argument, 0, O_OUT};
    lo[k++] = (struct option){"shards", required_argument, 0, O_SHARDS};
    lo[k++] = (struct option){"single-file", no_argument, 0, O_SINGLE};
    lo[k++] = (struct option){"bf16", no_argument, 0, O_BF16};
    lo[k++] = (struct option){"ue8m0", no_argument, 0, O_UE8M0};
    lo[k++] = (struct option){"seed", required_argument, 0, O_SEED};
    lo[k++] = (struct option){"fast", no_argument, 0, O_FAST};
    lo[k++] = (struct option){"quiet", no_argument, 0, O_QUIET};
    lo[k++] = (struct option){"profile", required_argument, 0, O_PROFILE};
    lo[k++] = (struct option){"size-gb", required_argument, 0, O_SIZE};
    lo[k++] = (struct option){"help", no_argument, 0, O_HELP};
    lo[k++] = (struct option){"dry-run", no_argument, 0, O_DRY};
    lo[k++] = (struct option){"family", required_argument, 0, O_FAMILY};
    for (int i = 0; i < N_DIMS; i++) lo[k++] = (struct option){DIMS[i].name, required_argument, 0, O_DIM0 + i};
    lo[k] = (struct option){0, 0, 0, 0};

    const char *profile = NULL, *dim_given = NULL;
    double size_gb = 0;
    int shards_given = 0, mtp = -1, dry = 0, c;
    /* --family first, whatever its place: the other options then override it */
    for (int i = 1; i < argc; i++) {
        const char *fam = !strncmp(argv[i], "--family=", 9) ? argv[i] + 9
                          : !strcmp(argv[i], "--family") && i + 1 < argc ? argv[i + 1] : NULL;
        if (fam && ds_sample_family(&o, fam)) return DS_EXIT_USAGE;
    }
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_OUT: o.out = optarg; break;
        case O_SHARDS: if (parse_int("shards", optarg, &o.shards)) return DS_EXIT_USAGE; shards_given = 1; break;
        case O_SINGLE: o.single_file = 1; break;
        case O_BF16: o.bf16 = 1; break;
        case O_UE8M0: o.ue8m0 = 1; break;
        case O_FAST: o.fast = 1; break;
        case O_QUIET: o.quiet = 1; break;
        case O_DRY: dry = 1; break;
        case O_FAMILY: break; /* applied above */
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return ds_fail(DS_EXIT_USAGE, "--seed: '%s' is not a non-negative integer", optarg);
            o.seed = v;
            break;
        }
        case O_PROFILE: profile = optarg; break;
        case O_SIZE: {
            char *end;
            size_gb = strtod(optarg, &end);
            if (end == optarg || *end || !(size_gb > 0))
                return ds_fail(DS_EXIT_USAGE, "--size-gb: '%s' is not a positive number", optarg);
            break;
        }
        case 'h': case O_HELP: usage(stdout); return 0;
        case '?':
            if (optopt > 0 && optopt < 128) ds_err("unknown option or missing value: -%c", optopt);
            else ds_err("unknown option or missing value: %s", argv[optind - 1]);
            fprintf(stderr, "try 'dsconv-sample --help'\n");
            return DS_EXIT_USAGE;
        default:
            if (c >= O_DIM0 && c < O_DIM0 + N_DIMS) {
                const dim_opt *d = &DIMS[c - O_DIM0];
                int *field = (int *)((char *)&o + d->off);
                if (parse_int(d->name, optarg, field)) return DS_EXIT_USAGE;
                if (strcmp(d->name, "mtp") == 0) mtp = *field;
                else dim_given = d->name;
            }
            break;
        }
    }
    if (optind < argc) {
        ds_err("unexpected argument '%s'", argv[optind]);
        fprintf(stderr, "try 'dsconv-sample --help'\n");
        return DS_EXIT_USAGE;
    }
    if (profile) {
        if (strcmp(profile, "v3-bench") != 0)
            return ds_fail(DS_EXIT_USAGE, "--profile %s: unknown (known: v3-bench)", profile);
        if (size_gb <= 0) return ds_fail(DS_EXIT_USAGE, "--profile v3-bench needs --size-gb X");
        if (dim_given)
            return ds_fail(DS_EXIT_USAGE, "--%s: the v3-bench profile sets the dimensions itself", dim_given);
        if (!shards_given) o.shards = 0;
        int k = 1, rc = ds_sample_profile_v3_bench(&o, size_gb, mtp, &k);
        if (rc) return rc;
        if (!o.quiet) {
            fprintf(stderr, "dsconv-sample: v3-bench %g GB: %d layers (%d dense), %d MTP, %d routed experts, %.2f GB\n",
                    size_gb, o.layers, o.dense, o.mtp, o.experts, ds_sample_total_bytes(&o) / 1e9);
            if (k > 1)
                fprintf(stderr, "dsconv-sample: too small for real V3 layers (~5.3 GB): shapes scaled by 1/%d "
                        "(hidden %d, %d heads, vocab %d)\n", k, o.hidden, o.heads, o.vocab);
        }
    } else if (size_gb > 0) {
        return ds_fail(DS_EXIT_USAGE, "--size-gb goes with --profile v3-bench");
    }
    if (o.single_file && shards_given && o.shards > 1)
        return ds_fail(DS_EXIT_USAGE, "--single-file writes one file; it cannot go with --shards %d", o.shards);
    if (dry) return dry_run(&o);
    return ds_sample_generate(&o);
}
