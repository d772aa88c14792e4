/* inspect.c - dsconv inspect PATH [--tensors] [--json] */
#include "cmd/cmd.h"
#include "cmd/parse_options.h"
#include "common/util.h"
#include "formats/summary.h"
#include "convert/plan.h"

#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: dsconv inspect PATH [--tensors] [--json]\n\n"
    "Describe a checkpoint: a directory (with model.safetensors.index.json, a single\n"
    "model.safetensors, or shard-for-mp rank files) or one .safetensors file.\n"
    "Every shard header and the index are validated first, and every F8_E4M3\n"
    "weight's block scale (present, F32 of the right shape, finite) as the converting\n"
    "commands check it; a malformed input is reported naming the file and tensor (exit 3).\n\n";

static const char *examples =
    "\nexample:\n  dsconv inspect /models/DeepSeek-V3 --json | jq .mtp_layers\n";

static void print_text(const ds_ckpt *c, const ds_summary *s, int tensors) {
    char b[32];
    char d1[1024], d2[256];
    printf("checkpoint:     %s\n", ds_esc(c->dir, d1, sizeof d1));
    if (c->has_config)
        printf("architecture:   %s, %d main layers, hidden %d, vocab %d\n", ds_esc(c->config.model_type, d2, sizeof d2),
               c->config.num_hidden_layers, c->config.hidden_size, c->config.vocab_size);
    printf("layout:         %s\n", s->layout_mp ? "model-parallel rank files (DeepSeek-Infer)" : "Hugging Face");
    printf("layers:         %d present (%d main + %d MTP)\n", s->layers_present, s->layers_present - s->mtp_layers,
           s->mtp_layers);
    printf("routed experts: %d%s\n", s->routed_experts,
           c->has_config && c->config.n_routed_experts != s->routed_experts ? " (config says otherwise)" : "");
    if (c->has_config) {
        const ds_family *f = ds_family_find(c->config.model_type);
        if (f) printf("family:         %s (%s)\n", f->model_type, f->members);
        else printf("family:         unsupported: model_type \"%s\" is not one of %s\n", c->config.model_type,
                    ds_schema_supported());
        printf("traits:         indexer %s, q_lora_rank %d%s, n_group %d, scale_fmt %s\n",
               f && f->indexer ? "yes" : "no", c->config.q_lora_rank, c->config.q_lora_rank ? "" : " (q_proj)",
               c->config.n_group, c->config.scale_fmt[0] ? c->config.scale_fmt : "none");
        printf("routing:        top-%d of %d experts, routed_scaling_factor %g; rope_theta %g",
               c->config.num_experts_per_tok, c->config.n_routed_experts, c->config.routed_scaling_factor,
               c->config.rope_theta);
        if (c->config.rope_yarn)
            printf(", YaRN factor %g (beta_fast %g, beta_slow %g)", c->config.rope_factor, c->config.rope_beta_fast,
                   c->config.rope_beta_slow);
        printf("\n");
        if (f && f->indexer)
            printf("indexer:        %d heads x %d, top-%d keys per query\n", c->config.index_n_heads,
                   c->config.index_head_dim, c->config.index_topk);
    }
    if (s->fp8_block[0]) printf("fp8 block:      %dx%d (%d scale tensors)\n", s->fp8_block[0], s->fp8_block[1], s->scales);
    else printf("fp8 block:      none\n");
    if (s->family) {
        printf("tensor groups:\n");
        for (int r = 0; r < DS_ROLE_COUNT; r++) {
            if (!s->role_tensors[r]) continue;
            char st[160];
            ds_summary_group_storage(s, (ds_role)r, st, sizeof st);
            printf("  %-14s %6d  %s\n", ds_role_name((ds_role)r), s->role_tensors[r], st);
        }
        if (s->unknown) printf("unknown:        %d tensors the %s schema does not know (first: %s)\n", s->unknown,
                               s->family->model_type, s->unknown_first[0]);
    }
    printf("tensors:        %d, %s\n", s->n_tensors, ds_fmt_bytes(s->tensor_bytes, b, sizeof b));
    for (int d = 0; d < DS_DTYPE_COUNT; d++)
        if (s->tensors_by_dtype[d])
            printf("  %-8s %6d tensors  %s\n", ds_dtype_name((ds_dtype)d), s->tensors_by_dtype[d],
                   ds_fmt_bytes(s->bytes_by_dtype[d], b, sizeof b));
    printf("shards:         %d\n", s->n_shards);
    char e1[1024], e2[1024];
    for (int i = 0; i < c->n_shards; i++)
        printf("  %-40s %6d tensors  %s\n", ds_esc(c->shard_names[i], e1, sizeof e1), c->shards[i].n_tensors,
               ds_fmt_bytes(c->shards[i].file_size, b, sizeof b));
    if (!tensors) return;
    printf("\n%-64s %-8s %-20s %s\n", "tensor", "dtype", "shape", "file");
    for (int i = 0; i < c->n_entries; i++) {
        const ds_ckpt_entry *e = &c->entries[i];
        char shape[128] = "[";
        for (int d = 0; d < e->info->ndim; d++) {
            char x[32];
            snprintf(x, sizeof x, "%s%lld", d ? ", " : "", (long long)e->info->shape[d]);
            strncat(shape, x, sizeof shape - strlen(shape) - 2);
        }
        strcat(shape, "]");
        printf("%-64s %-8s %-20s %s\n", ds_esc(e->name, e1, sizeof e1), ds_dtype_name(e->info->dtype), shape,
               ds_esc(c->shard_names[e->file], e2, sizeof e2));
    }
}

int cmd_inspect(int argc, char **argv) {
    int tensors = 0, json = 0;
    const ds_option opts[] = {
        DS_OPT_FLAG_("tensors", 0, &tensors, "also list every tensor: name, dtype, shape, file"),
        DS_OPT_FLAG_("json", 0, &json, "print the description as JSON (for scripts)"),
        DS_OPT_END_()};
    const ds_opt_doc doc = {usage, examples, NULL, NULL, 0};
    int first, rc = ds_parse_options(argc, argv, opts, &doc, &first);
    if (rc) return rc == DS_OPT_HELP_SHOWN ? 0 : rc;
    const char *path = NULL;
    DS_TRY(ds_opt_operands(argc, argv, first, opts, &doc, 1, &path));
    ds_ckpt ck;
    DS_TRY(ds_ckpt_open(path, &ck));
    /* The scales, as the converting commands check them (rank files of
     * shard-for-mp name their scales differently, and one shard given alone
     * may have its scales in another shard: those are not checked here). */
    for (int i = 0; !ck.mp_layout && !ck.partial && i < ck.n_entries; i++) {
        const ds_ckpt_entry *e = &ck.entries[i], *sc;
        int block[2];
        if (e->info->dtype != DS_F8_E4M3) continue;
        int rc = ds_plan_fp8_scale(&ck, e, &sc, block);
        if (rc) { ds_ckpt_close(&ck); return rc; }
    }
    ds_summary s;
    ds_summarize(&ck, &s);
    if (json) {
        cJSON *o = ds_summary_json(&ck, &s, tensors);
        char *txt = cJSON_Print(o);
        puts(txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        print_text(&ck, &s, tensors);
    }
    ds_ckpt_close(&ck);
    return 0;
}
