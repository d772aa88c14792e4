/* requant_plan.c - plan of requant. Shards keep their names; each tensor is
 * quantized, kept (FP8 dequantized to BF16, others as stored) or dropped (FP8
 * scales, folded into their weights) as quant/qrules decides; the index and
 * config.json (compressed-tensors quantization_config, ignore list) follow. */
#include "convert/requant_plan.h"
#include "common/util.h"
#include "quant/ct_config.h"
#include "formats/schema.h"
#include "quant/qrules.h"
#include "quant/fp4_core.h"

#include <stdlib.h>
#include <string.h>

/* NVFP4: the gate and up projections of one MLP (or expert) share one global
 * scale, so vLLM's fused gate_up kernels get one; each item names the other as
 * its partner (qrules quantizes both or neither of such a pair). */
static int add_partner(const ds_ckpt *c, ds_plan_item *it, const ds_ckpt_entry *e) {
    static const char *const pair[2][2] = {{"gate_proj.weight", "up_proj.weight"}, {"up_proj.weight", "gate_proj.weight"}};
    size_t len = strlen(e->name);
    for (int k = 0; k < 2; k++) {
        size_t sl = strlen(pair[k][0]);
        if (len < sl || strcmp(e->name + len - sl, pair[k][0])) continue;
        char nm[600];
        snprintf(nm, sizeof nm, "%.*s%s", (int)(len - sl), e->name, pair[k][1]);
        const ds_ckpt_entry *pe = ds_ckpt_find(c, nm);
        if (!pe) return 0;
        if (pe->info->ndim != 2 || pe->info->shape[1] != e->info->shape[1] ||
            (pe->info->dtype != DS_F8_E4M3 && pe->info->dtype != DS_BF16))
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: cannot share a global scale with %s (shape or dtype)",
                           c->shard_names[pe->file], pe->name, e->name);
        it->partner = pe;
        if (pe->info->dtype == DS_F8_E4M3) {
            int block[2];
            DS_TRY(ds_plan_fp8_scale(c, pe, &it->partner_scale, block));
        }
    }
    return 0;
}

static int add_quantized(const ds_ckpt *c, ds_plan *p, int file, const ds_ckpt_entry *e, const ds_quant_spec *spec) {
    if (e->info->dtype != DS_F8_E4M3 && e->info->dtype != DS_BF16)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: requant reads F8_E4M3 or BF16 weights, not %s",
                       c->shard_names[e->file], e->name, ds_dtype_name(e->info->dtype));
    const ds_ckpt_entry *scale = NULL;
    int block[2] = {0, 0};
    if (e->info->dtype == DS_F8_E4M3) DS_TRY(ds_plan_fp8_scale(c, e, &scale, block));
    ds_quant_output outs[DS_QUANT_MAX_OUTPUTS];
    int n = 0;
    DS_TRY(ds_quant_outputs(spec, e->name, e->info->shape[0], e->info->shape[1], outs, &n));
    int tix[DS_QUANT_MAX_OUTPUTS];
    for (int k = 0; k < n; k++) tix[k] = ds_plan_add_tensor(p, file, outs[k].name, outs[k].dtype, outs[k].ndim, outs[k].shape);
    ds_quant_outputs_free(outs, n);
    ds_plan_item *it = ds_plan_add_item(p, e, DS_XF_QUANT);
    it->scale = scale;
    it->block[0] = block[0];
    it->block[1] = block[1];
    it->quant = spec;
    for (int k = 0; k < n; k++) ds_plan_add_out(p, file, tix[k], -1, 0, 0);
    if (spec->format == DSQ_FMT_NVFP4) DS_TRY(add_partner(c, it, e));
    return 0;
}

/* Kept tensors are BF16 (FP8 dequantized) or as stored. */
static int add_kept(const ds_ckpt *c, ds_plan *p, int file, const ds_ckpt_entry *e) {
    if (e->info->dtype == DS_F8_E4M3) return ds_plan_add_dequant(c, p, file, e);
    ds_plan_add_copy(p, file, e);
    return 0;
}

static char *index_text(const ds_plan *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON *wm = cJSON_AddObjectToObject(o, "weight_map");
    for (int f = 0; f < p->n_files; f++)
        for (int t = 0; t < p->files[f].n_tensors; t++)
            cJSON_AddStringToObject(wm, p->files[f].tensors[t].name, p->files[f].name);
    cJSON_AddNumberToObject(meta, "total_size", (double)ds_plan_data_bytes(p));
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

int ds_plan_requant(const ds_ckpt *c, const ds_quant_spec *spec, const char *const *ignore, int n_ignore,
                    ds_plan *p) {
    ds_requant_opts o = {0};
    return ds_plan_requant_ex(c, spec, ignore, n_ignore, &o, p);
}

/* --experts-only: a kept F8_E4M3 tensor is copied as it is; in a main layer
 * its weight_scale_inv is written as "<m>.weight_scale" (float-quantized block
 * FP8), in an MTP layer under its own name. */
static void add_copy_named(ds_plan *p, int file, const ds_ckpt_entry *e, const char *name) {
    int t = ds_plan_add_tensor(p, file, name, e->info->dtype, e->info->ndim, e->info->shape);
    ds_plan_add_item(p, e, DS_XF_COPY);
    ds_plan_add_out(p, file, t, -1, 0, 0);
}

static int is_main_layer_tensor(const ds_ckpt *c, const char *name) {
    int l = ds_layer_of(name);
    return l >= 0 && l < c->config.num_hidden_layers;
}

int ds_plan_requant_ex(const ds_ckpt *c, const ds_quant_spec *spec, const char *const *ignore, int n_ignore,
                       const ds_requant_opts *o, ds_plan *p) {
    ds_plan_init(p);
    if (!c->has_config)
        return ds_fail(DS_EXIT_INPUT, "%s: requant needs config.json (layers, experts, dims)", c->dir);
    DS_TRY(ds_quant_spec_check(spec));
    const ds_family *fam;
    DS_TRY(ds_schema_family(c->dir, &c->config, &fam));
    ds_qrules *rules;
    DS_TRY(ds_qrules_new(&rules, &c->config, spec, ignore, n_ignore));
    ds_qrules_set_experts_only(rules, o->experts_only);
    int rc = 0;
    char **fp8 = xcalloc((size_t)c->n_entries + 1, sizeof *fp8); /* --experts-only: FP8 Linears kept */
    int n_fp8 = 0;
    for (int s = 0; s < c->n_shards && !rc; s++) {
        const ds_st_file *sf = &c->shards[s];
        int file = -1;
        for (int t = 0; t < sf->n_tensors && !rc; t++) {
            const ds_ckpt_entry *e = ds_ckpt_find(c, sf->tensors[t].name);
            ds_qr_decision d;
            if ((rc = ds_qrules_decide(rules, e->name, e->info->ndim, e->info->shape, &d))) break;
            if (d.action == DS_QR_DROP && o->experts_only && ds_is_scale_name(e->name)) {
                /* the scale of a weight kept in FP8 stays with it */
                char *wn = strndup(e->name, strlen(e->name) - strlen("_scale_inv"));
                const ds_ckpt_entry *we = ds_ckpt_find(c, wn);
                ds_qr_decision wd;
                int keep = we && we->info->dtype == DS_F8_E4M3 &&
                           !(rc = ds_qrules_decide(rules, we->name, we->info->ndim, we->info->shape, &wd)) &&
                           wd.action == DS_QR_KEEP;
                if (keep) {
                    if (file < 0) file = ds_plan_add_file(p, c->shard_names[s]);
                    if (is_main_layer_tensor(c, wn)) {
                        char *sn = xmalloc(strlen(wn) + 8);
                        sprintf(sn, "%s_scale", wn);
                        add_copy_named(p, file, e, sn);
                        free(sn);
                    } else {
                        add_copy_named(p, file, e, e->name);
                    }
                }
                free(wn);
                if (rc) break;
                continue;
            }
            if (d.action == DS_QR_DROP) continue;
            if (file < 0) file = ds_plan_add_file(p, c->shard_names[s]);
            if (d.action == DS_QR_QUANTIZE) {
                rc = add_quantized(c, p, file, e, spec);
            } else if (o->experts_only && e->info->dtype == DS_F8_E4M3) {
                const ds_ckpt_entry *sc;
                int block[2];
                if ((rc = ds_plan_fp8_scale(c, e, &sc, block))) break;
                add_copy_named(p, file, e, e->name);
                if (is_main_layer_tensor(c, e->name) && d.is_linear)
                    fp8[n_fp8++] = strndup(e->name, strlen(e->name) - strlen(".weight"));
                else if (is_main_layer_tensor(c, e->name))
                    rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: an F8_E4M3 tensor that is not a Linear weight",
                                 c->shard_names[s], e->name);
            } else if (o->experts_only) {
                ds_plan_add_copy(p, file, e);
            } else {
                rc = add_kept(c, p, file, e);
            }
        }
    }
    char **ign = NULL;
    int n_ign = 0;
    if (!rc) {
        ds_qr_tensor *ts = xcalloc((size_t)c->n_entries + 1, sizeof *ts);
        int nt = 0;
        for (int i = 0; i < c->n_entries; i++) {
            const ds_ckpt_entry *e = &c->entries[i];
            /* FP8 Linears kept as FP8 are quantized (group_1), not ignored */
            if (o->experts_only && e->info->dtype == DS_F8_E4M3 && is_main_layer_tensor(c, e->name)) continue;
            ts[nt++] = (ds_qr_tensor){e->name, e->info->ndim, e->info->shape};
        }
        rc = ds_qrules_ignore_list(rules, ts, nt, &ign, &n_ign);
        free(ts);
    }
    ds_qrules_free(rules);
    if (rc) { ds_qrules_list_free(fp8, n_fp8); return rc; }
    cJSON *cfg = NULL;
    if (!(rc = ds_plan_copy_side_files(p, c, 0))) cfg = ds_plan_load_config_json(c, &rc);
    if (rc) { ds_qrules_list_free(ign, n_ign); ds_qrules_list_free(fp8, n_fp8); return rc; }
    if (o->experts_only) {
        int block[2] = {c->config.weight_block_size[0] ? c->config.weight_block_size[0] : 128,
                        c->config.weight_block_size[1] ? c->config.weight_block_size[1] : 128};
        ds_ct_set_quant_config(cfg, ds_ct_mixed_config(spec, (const char *const *)fp8, n_fp8, block,
                                                       (const char *const *)ign, n_ign));
    } else {
        ds_ct_set_quant_config(cfg, ds_ct_quant_config(spec, (const char *const *)ign, n_ign));
    }
    ds_qrules_list_free(ign, n_ign);
    ds_qrules_list_free(fp8, n_fp8);
    char *txt = cJSON_Print(cfg);
    cJSON_Delete(cfg);
    size_t n = strlen(txt);
    txt = xrealloc(txt, n + 2);
    txt[n] = '\n'; txt[n + 1] = 0;
    ds_plan_add_extra_text(p, "config.json", txt);
    if (c->has_index || c->n_shards > 1) ds_plan_add_extra_text(p, "model.safetensors.index.json", index_text(p));
    ds_plan_finish(p);
    return 0;
}
