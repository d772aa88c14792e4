/* to_bf16.c - plan of to-bf16 (and its alias fp8-to-bf16): every quantized
 * weight the checkpoint holds becomes BF16, everything else is copied.
 *
 * A checkpoint with only FP8 weight_scale_inv blocks (DeepSeek's own) goes
 * through ds_plan_fp8_to_bf16 unchanged, byte for byte upstream's
 * fp8_cast_bf16.py. A compressed-tensors checkpoint (config.json
 * quantization_config, quant_method "compressed-tensors") is read module by
 * module: "<m>.weight_packed" with its weight_scale (and weight_zero_point,
 * weight_shape, weight_global_scale) becomes "<m>.weight" BF16 with the bytes
 * the library's CompressedTensorsDequantizer writes (pack-quantized INT4/INT8
 * sym/asym group/channel, nvfp4- and mxfp4-pack-quantized); an F8_E4M3
 * "<m>.weight" with a 2-D F32 "<m>.weight_scale" (float-quantized block FP8)
 * is dequantized like DeepSeek's blocks. The scheme of each module is read
 * from its tensors' dtypes and shapes and must be one a config group
 * declares: anything else is refused (exit 3) naming the tensor. */
#include "convert/to_bf16.h"
#include "convert/fp8_to_bf16.h"
#include "common/util.h"
#include "common/json.h"
#include "quant/fp4_core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_companions[] = {".weight_scale", ".weight_zero_point", ".weight_shape",
                                           ".weight_global_scale"};

/* "<base><suffix>" in the checkpoint, or NULL. */
static const ds_ckpt_entry *find2(const ds_ckpt *c, const char *base, size_t blen, const char *suffix) {
    char nm[640];
    if ((size_t)snprintf(nm, sizeof nm, "%.*s%s", (int)blen, base, suffix) >= sizeof nm) return NULL;
    return ds_ckpt_find(c, nm);
}

/* A float-quantized block FP8 weight: F8_E4M3 "<m>.weight" with "<m>.weight_scale". */
static const ds_ckpt_entry *fp8_weight_scale(const ds_ckpt *c, const ds_ckpt_entry *e) {
    if (e->info->dtype != DS_F8_E4M3 || !ds_has_suffix(e->name, ".weight")) return NULL;
    return find2(c, e->name, strlen(e->name), "_scale");
}

/* 1 when e is a companion of a compressed module (its weight_packed, or a
 * float-quantized FP8 weight, exists): dropped, read by its weight. */
static int is_companion(const ds_ckpt *c, const ds_ckpt_entry *e) {
    if (ds_is_scale_name(e->name)) return 1;
    size_t n = strlen(e->name);
    for (size_t k = 0; k < sizeof k_companions / sizeof *k_companions; k++) {
        size_t sl = strlen(k_companions[k]);
        if (n <= sl || strcmp(e->name + n - sl, k_companions[k])) continue;
        if (find2(c, e->name, n - sl, ".weight_packed")) return 1;
        if (k == 0) {
            const ds_ckpt_entry *w = find2(c, e->name, n - sl, ".weight");
            if (w && w->info->dtype == DS_F8_E4M3) return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ config schemes */

typedef struct {
    int is_float, bits, group_size, symmetric; /* group_size 0: channel */
} declared;

static int parse_declared(const ds_ckpt *c, declared *d, int cap, int *n, char *fmt, size_t fmt_cap) {
    *n = 0;
    fmt[0] = 0;
    int rc = 0;
    cJSON *cfg = ds_plan_load_config_json(c, &rc);
    if (rc) return rc;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(q, "quant_method");
    if (!cJSON_IsString(m) || strcmp(m->valuestring, "compressed-tensors")) {
        cJSON_Delete(cfg);
        return ds_fail(DS_EXIT_INPUT,
                       "%s: config.json: the checkpoint holds compressed-tensors weights (weight_packed), but "
                       "quantization_config.quant_method is not \"compressed-tensors\"", c->dir);
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(q, "format");
    if (cJSON_IsString(f)) snprintf(fmt, fmt_cap, "%s", f->valuestring);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(q, "config_groups"), *g;
    cJSON_ArrayForEach(g, groups) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(g, "weights");
        if (!cJSON_IsObject(w) || *n >= cap) continue;
        const cJSON *bits = cJSON_GetObjectItemCaseSensitive(w, "num_bits");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(w, "type");
        const cJSON *sym = cJSON_GetObjectItemCaseSensitive(w, "symmetric");
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(w, "group_size");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(w, "strategy");
        declared x = {0};
        x.bits = cJSON_IsNumber(bits) ? bits->valueint : 0;
        x.is_float = cJSON_IsString(type) && !strcmp(type->valuestring, "float");
        x.symmetric = !cJSON_IsFalse(sym);
        x.group_size = cJSON_IsNumber(gs) && !(cJSON_IsString(st) && !strcmp(st->valuestring, "channel"))
                           ? gs->valueint : 0;
        d[(*n)++] = x;
    }
    cJSON_Delete(cfg);
    return 0;
}

static const char *scheme_text(const ds_quant_spec *s, char *buf, size_t cap) {
    if (s->format == DSQ_FMT_NVFP4) snprintf(buf, cap, "nvfp4 (float 4-bit, group 16, FP8 scales, global scale)");
    else if (s->format == DSQ_FMT_MXFP4) snprintf(buf, cap, "mxfp4 (float 4-bit, group 32, E8M0 scales)");
    else if (s->group_size) snprintf(buf, cap, "int%d group %d %s", s->bits, s->group_size, s->symmetric ? "symmetric" : "asymmetric");
    else snprintf(buf, cap, "int%d channel %s", s->bits, s->symmetric ? "symmetric" : "asymmetric");
    return buf;
}

/* One scale a row is a channel scale or a group as wide as the row: both decode alike. */
static int is_declared(const declared *d, int n, const ds_quant_spec *s, int64_t cols) {
    for (int i = 0; i < n; i++) {
        int fl = s->format != DSQ_FMT_INT;
        if (d[i].is_float != fl || d[i].bits != s->bits) continue;
        int same_group = d[i].group_size == s->group_size || (s->group_size == 0 && d[i].group_size == cols);
        if (fl ? same_group : (same_group && d[i].symmetric == s->symmetric))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ one module */

static int64_t int_value(const ds_ckpt *c, const ds_ckpt_entry *e, int i) {
    const uint8_t *d = ds_ckpt_data(c, e);
    if (e->info->dtype == DS_I64) { int64_t v; memcpy(&v, d + 8 * i, 8); return v; }
    int32_t v;
    memcpy(&v, d + 4 * i, 4);
    return v;
}

#define BAD(...) ds_fail(DS_EXIT_INPUT, __VA_ARGS__)

/* Reads the scheme of module "<base>" from its tensors. */
static int module_scheme(const ds_ckpt *c, const ds_ckpt_entry *packed, ds_quant_spec *s, int64_t *rows,
                         int64_t *cols, const ds_ckpt_entry **scale, const ds_ckpt_entry **zp,
                         const ds_ckpt_entry **gscale) {
    const char *file = c->shard_names[packed->file], *nm = packed->name;
    size_t bl = strlen(nm) - strlen(".weight_packed");
    const ds_ckpt_entry *sh = find2(c, nm, bl, ".weight_shape");
    *scale = find2(c, nm, bl, ".weight_scale");
    *zp = find2(c, nm, bl, ".weight_zero_point");
    *gscale = find2(c, nm, bl, ".weight_global_scale");
    memset(s, 0, sizeof *s);
    s->symmetric = 1;
    if (packed->info->ndim != 2) return BAD("%s: tensor %s: must be 2-D", file, nm);
    if (!*scale || (*scale)->info->ndim != 2 || (*scale)->info->shape[0] != packed->info->shape[0])
        return BAD("%s: tensor %s: needs a 2-D %.*s.weight_scale with %lld rows", file, nm, (int)bl, nm,
                   (long long)packed->info->shape[0]);
    *rows = packed->info->shape[0];
    int64_t pc = packed->info->shape[1], ng = (*scale)->info->shape[1];
    ds_dtype sdt = (*scale)->info->dtype;
    if (packed->info->dtype == DS_U8) {
        *cols = pc * 2;
        if (sh && (sh->info->dtype == DS_I32 || sh->info->dtype == DS_I64) && ds_tensor_numel(sh->info) == 2 &&
            (int_value(c, sh, 0) != *rows || int_value(c, sh, 1) != *cols))
            return BAD("%s: tensor %s: weight_shape disagrees with [%lld, %lld]", file, nm, (long long)*rows,
                       (long long)*cols);
        s->bits = 4;
        if (sdt == DS_F8_E4M3) s->format = DSQ_FMT_NVFP4;
        else if (sdt == DS_U8) s->format = DSQ_FMT_MXFP4;
        else return BAD("%s: tensor %.*s.weight_scale: FP4 scales must be F8_E4M3 (nvfp4) or U8 (mxfp4), not %s",
                        file, (int)bl, nm, ds_dtype_name(sdt));
        s->group_size = dsq_fp4_group_size(s->format);
        if (ng * s->group_size != *cols)
            return BAD("%s: tensor %.*s.weight_scale: %lld groups do not fit %lld columns in groups of %d", file,
                       (int)bl, nm, (long long)ng, (long long)*cols, s->group_size);
        if (*zp) return BAD("%s: tensor %.*s.weight_zero_point: FP4 is symmetric only", file, (int)bl, nm);
        if (s->format == DSQ_FMT_NVFP4) {
            if (!*gscale || (*gscale)->info->dtype != DS_F32 || ds_tensor_numel((*gscale)->info) != 1)
                return BAD("%s: tensor %s: nvfp4 needs an F32 %.*s.weight_global_scale of one element", file, nm,
                           (int)bl, nm);
            float g;
            memcpy(&g, ds_ckpt_data(c, *gscale), 4);
            if (!isfinite(g) || g == 0)
                return BAD("%s: tensor %s: global scale %g is not finite and nonzero", c->shard_names[(*gscale)->file],
                           (*gscale)->name, g);
        }
        return 0;
    }
    if (packed->info->dtype != DS_I32)
        return BAD("%s: tensor %s: packed weights must be I32 (int) or U8 (fp4), not %s", file, nm,
                   ds_dtype_name(packed->info->dtype));
    if (!sh || (sh->info->dtype != DS_I32 && sh->info->dtype != DS_I64) || ds_tensor_numel(sh->info) != 2)
        return BAD("%s: tensor %s: needs %.*s.weight_shape, two I32 or I64 values", file, nm, (int)bl, nm);
    if (int_value(c, sh, 0) != *rows || int_value(c, sh, 1) < 1)
        return BAD("%s: tensor %.*s.weight_shape: [%lld, %lld] does not fit %lld packed rows", file, (int)bl, nm,
                   (long long)int_value(c, sh, 0), (long long)int_value(c, sh, 1), (long long)*rows);
    *cols = int_value(c, sh, 1);
    if (pc * 8 == *cols) s->bits = 4;
    else if (pc * 4 == *cols) s->bits = 8;
    else return BAD("%s: tensor %s: %lld words a row fit neither INT4 nor INT8 packing of %lld columns", file, nm,
                    (long long)pc, (long long)*cols);
    if (sdt != DS_BF16)
        return BAD("%s: tensor %.*s.weight_scale: %s scales are not supported (BF16 only)", file, (int)bl, nm,
                   ds_dtype_name(sdt));
    if (ng < 1 || *cols % ng) return BAD("%s: tensor %.*s.weight_scale: %lld groups do not divide %lld columns",
                                         file, (int)bl, nm, (long long)ng, (long long)*cols);
    s->group_size = ng == 1 ? 0 : (int)(*cols / ng);
    if (*zp) {
        int pf = 32 / s->bits;
        if ((*zp)->info->dtype != DS_I32 || (*zp)->info->ndim != 2 || (*zp)->info->shape[0] != (*rows + pf - 1) / pf ||
            (*zp)->info->shape[1] != ng)
            return BAD("%s: tensor %.*s.weight_zero_point: expected I32 [%lld, %lld] (zero points packed along rows)",
                       c->shard_names[(*zp)->file], (int)bl, nm, (long long)((*rows + pf - 1) / pf), (long long)ng);
        s->symmetric = 0;
    }
    const char *why = dsq_chunk_error(s->bits, s->group_size, *rows, *cols);
    if (why) return BAD("%s: tensor %s: %s", file, nm, why);
    return 0;
}

/* The spec in the caller's table (shared by every module of that scheme). */
static const ds_quant_spec *intern(ds_quant_spec *specs, int *n_specs, const ds_quant_spec *s) {
    for (int i = 0; i < *n_specs; i++)
        if (!memcmp(&specs[i], s, sizeof *s)) return &specs[i];
    if (*n_specs >= DS_TO_BF16_MAX_SPECS) return NULL;
    specs[*n_specs] = *s;
    return &specs[(*n_specs)++];
}

static int add_unpack(const ds_ckpt *c, ds_plan *p, int file, const ds_ckpt_entry *e, const declared *d, int nd,
                      ds_quant_spec *specs, int *n_specs) {
    ds_quant_spec s;
    int64_t rows = 0, cols = 0;
    const ds_ckpt_entry *scale, *zp, *gs;
    DS_TRY(module_scheme(c, e, &s, &rows, &cols, &scale, &zp, &gs));
    char buf[96];
    if (!is_declared(d, nd, &s, cols))
        return BAD("%s: tensor %s: stored as %s, which no config group of config.json's quantization_config declares",
                   c->shard_names[e->file], e->name, scheme_text(&s, buf, sizeof buf));
    const ds_quant_spec *sp = intern(specs, n_specs, &s);
    if (!sp) return BAD("%s: more than %d quantization schemes", c->dir, DS_TO_BF16_MAX_SPECS);
    size_t bl = strlen(e->name) - strlen("_packed");
    char *wn = strndup(e->name, bl);
    int64_t shape[2] = {rows, cols};
    int t = ds_plan_add_tensor(p, file, wn, DS_BF16, 2, shape);
    free(wn);
    ds_plan_item *it = ds_plan_add_item(p, e, DS_XF_UNPACK);
    it->scale = scale;
    it->zero_point = zp;
    it->global_scale = gs;
    it->quant = sp;
    it->unpack_cols = cols;
    ds_plan_add_out(p, file, t, -1, 0, 0);
    return 0;
}

/* float-quantized block FP8: the weight_scale is DeepSeek's weight_scale_inv under another name. */
static int add_fp8_ws(const ds_ckpt *c, ds_plan *p, int file, const ds_ckpt_entry *e, const ds_ckpt_entry *s) {
    int br = c->config.weight_block_size[0] ? c->config.weight_block_size[0] : 128;
    int bc = c->config.weight_block_size[1] ? c->config.weight_block_size[1] : 128;
    if (e->info->ndim != 2) return BAD("%s: tensor %s: F8_E4M3 weight must be 2-D", c->shard_names[e->file], e->name);
    int64_t er = (e->info->shape[0] + br - 1) / br, ec = (e->info->shape[1] + bc - 1) / bc;
    if (s->info->dtype != DS_F32 || s->info->ndim != 2 || s->info->shape[0] != er || s->info->shape[1] != ec)
        return BAD("%s: tensor %s: expected F32 [%lld, %lld] block scales (%dx%d blocks)", c->shard_names[s->file],
                   s->name, (long long)er, (long long)ec, br, bc);
    const uint8_t *d = ds_ckpt_data(c, s);
    for (int64_t i = 0; i < er * ec; i++) {
        float v;
        memcpy(&v, d + 4 * i, 4);
        if (!isfinite(v)) return BAD("%s: tensor %s: non-finite scale at block %lld", c->shard_names[s->file], s->name,
                                     (long long)i);
    }
    int t = ds_plan_add_tensor(p, file, e->name, DS_BF16, 2, e->info->shape);
    ds_plan_item *it = ds_plan_add_item(p, e, DS_XF_FP8_TO_BF16);
    it->scale = s;
    it->block[0] = br;
    it->block[1] = bc;
    ds_plan_add_out(p, file, t, -1, 0, 0);
    return 0;
}

/* ------------------------------------------------------------ index, config */

static char *with_newline(char *s) {
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = 0;
    return s;
}

/* The input's weight_map order: weight_packed renamed to weight, companions dropped. */
static int index_text(const ds_ckpt *c, const ds_plan *p, char **out) {
    char *path = ds_path_join(c->dir, "model.safetensors.index.json");
    cJSON *in;
    int rc = ds_json_load(path, DS_MAX_INDEX_BYTES, &in); /* strict and capped, as ds_ckpt_open read it */
    free(path);
    if (rc) return rc;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(in, "weight_map"), *it;
    cJSON *o = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddNumberToObject(meta, "total_size", (double)ds_plan_data_bytes(p));
    cJSON *om = cJSON_AddObjectToObject(o, "weight_map");
    cJSON_ArrayForEach(it, wm) {
        const ds_ckpt_entry *e = ds_ckpt_find(c, it->string);
        if (!e || is_companion(c, e)) continue;
        if (ds_has_suffix(it->string, ".weight_packed")) {
            char *wn = strndup(it->string, strlen(it->string) - strlen("_packed"));
            cJSON_AddStringToObject(om, wn, it->valuestring);
            free(wn);
        } else {
            cJSON_AddStringToObject(om, it->string, it->valuestring);
        }
    }
    *out = with_newline(cJSON_Print(o));
    cJSON_Delete(o);
    cJSON_Delete(in);
    return 0;
}

int ds_plan_to_bf16(const ds_ckpt *c, ds_quant_spec *specs, ds_plan *p) {
    int compressed = 0;
    for (int i = 0; i < c->n_entries && !compressed; i++) {
        const ds_ckpt_entry *e = &c->entries[i];
        compressed = ds_has_suffix(e->name, ".weight_packed") || fp8_weight_scale(c, e);
    }
    if (!compressed) return ds_plan_fp8_to_bf16(c, p);

    ds_plan_init(p);
    if (!c->has_config) return BAD("%s: compressed-tensors weights without config.json", c->dir);
    declared d[DS_TO_BF16_MAX_SPECS];
    int nd = 0, n_specs = 0;
    char fmt[64];
    DS_TRY(parse_declared(c, d, DS_TO_BF16_MAX_SPECS, &nd, fmt, sizeof fmt));
    for (int sh = 0; sh < c->n_shards; sh++) {
        const ds_st_file *sf = &c->shards[sh];
        int file = ds_plan_add_file(p, c->shard_names[sh]);
        for (int t = 0; t < sf->n_tensors; t++) {
            const ds_ckpt_entry *e = ds_ckpt_find(c, sf->tensors[t].name), *ws;
            if (ds_has_suffix(e->name, ".weight_packed")) {
                DS_TRY(add_unpack(c, p, file, e, d, nd, specs, &n_specs));
            } else if (is_companion(c, e)) {
                continue;
            } else if ((ws = fp8_weight_scale(c, e)) && !find2(c, e->name, strlen(e->name), "_scale_inv")) {
                DS_TRY(add_fp8_ws(c, p, file, e, ws));
            } else if (e->info->dtype == DS_F8_E4M3) {
                DS_TRY(ds_plan_add_dequant(c, p, file, e));
            } else {
                ds_plan_add_copy(p, file, e);
            }
        }
    }
    DS_TRY(ds_plan_copy_side_files(p, c, 0));
    int rc = 0;
    cJSON *cfg = ds_plan_load_config_json(c, &rc);
    if (rc) return rc;
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "quantization_config");
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "torch_dtype");
    cJSON_AddStringToObject(cfg, "torch_dtype", "bfloat16");
    ds_plan_add_extra_text(p, "config.json", with_newline(cJSON_Print(cfg)));
    cJSON_Delete(cfg);
    if (c->has_index) {
        char *idx;
        DS_TRY(index_text(c, p, &idx));
        ds_plan_add_extra_text(p, "model.safetensors.index.json", idx);
    }
    ds_plan_finish(p);
    return 0;
}
