/* ws_hf.c - weight source over a Hugging Face checkpoint (formats/hf.h):
 * plain float tensors, FP8 e4m3 + weight_scale_inv, and compressed-tensors
 * integer weights (<p>.weight_packed / weight_scale / weight_shape /
 * weight_zero_point, or an I8 <p>.weight with weight_scale). */
#include "verify/ws_impl.h"
#include "formats/hf.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ds_ckpt ck;
    int br, bc;
} ws_hf;

/* Finds a companion tensor "<base><suffix>" anywhere in the checkpoint (the
 * index may put a scale in another shard than its weight). */
static const ds_ckpt_entry *companion(const ws_hf *h, const char *base, const char *suffix,
                                      const uint8_t **data) {
    char nm[512];
    if ((size_t)snprintf(nm, sizeof nm, "%s%s", base, suffix) >= sizeof nm) return NULL;
    const ds_ckpt_entry *e = ds_ckpt_find(&h->ck, nm);
    if (e && data) *data = ds_ckpt_data(&h->ck, e);
    return e;
}

/* Builds the part for an HF tensor name. DS_EXIT_INPUT when missing or malformed. */
static int hf_part(ws_hf *h, const char *name, ds_ws_part *p, int quiet) {
    memset(p, 0, sizeof *p);
    p->br = h->br;
    p->bc = h->bc;
    const ds_ckpt_entry *e = ds_ckpt_find(&h->ck, name), *x;
    char base[512];
    snprintf(base, sizeof base, "%s", name);
    if (ds_has_suffix(base, ".weight")) base[strlen(base) - 7] = 0;
    p->fd = -1;
    if (e) {
        p->file = h->ck.shards[e->file].path;
        p->name = e->name;
        p->w = e->info;
        p->wd = ds_ckpt_data(&h->ck, e);
        p->fd = h->ck.shards[e->file].fd;
        p->foff = ds_st_file_offset(&h->ck.shards[e->file], e->info);
        if (p->w->dtype == DS_F8_E4M3 || p->w->dtype == DS_F8_E5M2) {
            p->kind = DS_WQ_FP8;
            if ((x = companion(h, name, "_scale_inv", &p->sd))) { p->s = x->info; p->sfile = h->ck.shards[x->file].path; }
            /* compressed-tensors float-quantized block FP8: the same scale named weight_scale */
            else if ((x = companion(h, base, ".weight_scale", &p->sd))) { p->s = x->info; p->sfile = h->ck.shards[x->file].path; }
        } else if (p->w->dtype == DS_I8 && (x = companion(h, base, ".weight_scale", &p->sd))) {
            p->kind = DS_WQ_INT;
            p->s = x->info;
            p->sfile = h->ck.shards[x->file].path;
            if ((x = companion(h, base, ".weight_zero_point", &p->zd))) p->z = x->info;
            if ((x = companion(h, base, ".weight_shape", &p->shd))) p->sh = x->info;
        }
    } else if (ds_has_suffix(name, ".weight") && (e = companion(h, base, ".weight_packed", &p->wd))) {
        p->file = h->ck.shards[e->file].path;
        p->name = e->name;
        p->w = e->info;
        p->fd = h->ck.shards[e->file].fd;
        p->foff = ds_st_file_offset(&h->ck.shards[e->file], e->info);
        p->kind = DS_WQ_INT;
        p->int_packed = 1;
        if ((x = companion(h, base, ".weight_scale", &p->sd))) { p->s = x->info; p->sfile = h->ck.shards[x->file].path; }
        if ((x = companion(h, base, ".weight_zero_point", &p->zd))) p->z = x->info;
        if ((x = companion(h, base, ".weight_shape", &p->shd))) p->sh = x->info;
        if (e->info->dtype == DS_U8) { /* nvfp4 / mxfp4 */
            p->fp4 = p->s && p->s->dtype == DS_F8_E4M3 ? 1 : 2;
            if ((x = companion(h, base, ".weight_global_scale", &p->gsd))) p->gs = x->info;
        }
    } else {
        return quiet ? DS_EXIT_INPUT : ds_fail(DS_EXIT_INPUT, "%s: tensor %s: missing", h->ck.dir, name);
    }
    return ds_ws_part_validate(p);
}

static int hf_info(void *impl, const char *name, ds_ws_tinfo *ti, int quiet) {
    ds_ws_part p;
    DS_TRY(hf_part(impl, name, &p, quiet));
    ds_ws_part_tinfo(&p, ti);
    return 0;
}

static int hf_read(void *impl, const char *name, int64_t r0, int64_t n, float *out) {
    ds_ws_part p;
    DS_TRY(hf_part(impl, name, &p, 0));
    if (r0 < 0 || n < 0 || r0 + n > p.rows)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: rows %lld..%lld out of %lld", p.file, name, (long long)r0,
                       (long long)(r0 + n), (long long)p.rows);
    ds_ws_part_read(&p, r0, n, out);
    return 0;
}

static int hf_pieces(void *impl, const char *name, int64_t r0, int64_t n, ds_ws_piece **out, int *count) {
    ds_ws_part p;
    *out = NULL;
    *count = 0;
    DS_TRY(hf_part(impl, name, &p, 0));
    if (r0 < 0 || n < 0 || r0 + n > p.rows)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: rows %lld..%lld out of %lld", p.file, name, (long long)r0,
                       (long long)(r0 + n), (long long)p.rows);
    if (n == 0) return 0;
    ds_ws_piece *pc = xcalloc(1, sizeof *pc);
    pc->part = p;
    pc->r0 = r0;
    pc->n = n;
    *out = pc;
    *count = 1;
    return 0;
}

static void hf_close(void *impl) {
    ws_hf *h = impl;
    ds_ckpt_close(&h->ck);
    free(h);
}

static int hf_exists(void *impl, const char *name) {
    ws_hf *h = impl;
    if (ds_ckpt_find(&h->ck, name)) return 1;
    char base[512];
    snprintf(base, sizeof base, "%s", name);
    if (!ds_has_suffix(base, ".weight")) return 0;
    base[strlen(base) - 7] = 0;
    return companion(h, base, ".weight_packed", NULL) != NULL;
}

static const char *hf_locate(void *impl, const char *name, int64_t row, int64_t col) {
    (void)row; (void)col;
    ds_ws_part p;
    const ds_ckpt_entry *e = ds_ckpt_find(&((ws_hf *)impl)->ck, name);
    if (e) return ((ws_hf *)impl)->ck.shards[e->file].path;
    return hf_part(impl, name, &p, 1) ? NULL : p.file;
}

static const ds_ws_ops hf_ops = {hf_info, hf_read, hf_exists, hf_locate, hf_close, hf_pieces};

/* What the 2-D weights hold, for the report: int4/int8 when any weight is
 * integer-quantized, else fp8 when any is FP8, else the dtype of the rest. */
static void describe(ws_hf *h, ds_ws_source *ws) {
    int n_f8 = 0, bits = 0, fp4 = 0;
    const char *plain = NULL;
    for (int i = 0; i < h->ck.n_entries; i++) {
        const ds_ckpt_entry *e = &h->ck.entries[i];
        if (e->info->dtype == DS_F8_E4M3 || e->info->dtype == DS_F8_E5M2) n_f8++;
        else if (ds_has_suffix(e->name, ".weight_packed") || (e->info->dtype == DS_I8 && ds_has_suffix(e->name, ".weight"))) {
            char base[512];
            snprintf(base, sizeof base, "%s", e->name);
            base[strlen(base) - (ds_has_suffix(e->name, ".weight_packed") ? 14 : 7)] = 0;
            strncat(base, ".weight", sizeof base - strlen(base) - 1);
            ds_ws_part p;
            if (hf_part(h, base, &p, 1) == 0 && (!bits || p.bits < bits)) bits = p.bits;
            if (p.fp4) fp4 = p.fp4;
        } else if (!plain && e->info->ndim == 2 && ds_has_suffix(e->name, ".weight"))
            plain = ds_dtype_name(e->info->dtype);
    }
    ws->int_bits = bits;
    const char *what = fp4 == 1 ? "nvfp4" : fp4 == 2 ? "mxfp4" : bits == 4 ? "int4" : bits == 8 ? "int8" : n_f8 ? "fp8" : plain ? plain : "empty";
    char low[16];
    snprintf(low, sizeof low, "%s", what);
    for (char *c = low; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    snprintf(ws->desc, sizeof ws->desc, "hf %s", low);
}

int ds_ws_hf_open(const char *path, ds_ws_source *ws) {
    ws_hf *h = xcalloc(1, sizeof *h);
    int rc = ds_ckpt_open(path, &h->ck);
    if (rc) { free(h); return rc; }
    if (!h->ck.has_config) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: no config.json beside the weights", h->ck.dir);
        hf_close(h);
        return rc;
    }
    ws->cfg = h->ck.config;
    ds_ws_fp8_block(&ws->cfg, &h->br, &h->bc);
    ws->ops = &hf_ops;
    ws->impl = h;
    describe(h, ws);
    return 0;
}
