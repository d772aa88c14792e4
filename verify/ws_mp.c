/* ws_mp.c - weight source over shard-for-mp output: model{i}-mp{N}.safetensors
 * rank files with upstream convert.py's names (embed.weight,
 * layers.L.attn.wq_b.weight, layers.L.ffn.experts.K.w1.weight, ... with FP8
 * scales as <name>.scale) and config.json beside them.
 *
 * convert.py splits embed, head, wq, wq_b, wkv_b, w1, w3 (also of the shared
 * experts) along dim 0 and wo, w2 along dim 1 into N equal parts, puts routed
 * expert K whole in rank K / (E/N) and copies everything else to every rank.
 * A split FP8 tensor carries a split scale, so each part is dequantized with
 * its own scale and the float parts are joined. A compressed-tensors weight
 * (weight_packed and its companions) is read where shard-for-mp writes one: a
 * routed expert or a replicated tensor, whole in its rank. */
#include "verify/ws_impl.h"
#include "common/util.h"
#include "formats/schema.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SPLIT_NONE, SPLIT_ROW, SPLIT_COL, SPLIT_EXPERT };

typedef struct {
    char *dir;
    int n;              /* ranks */
    ds_st_file *f;      /* [n] */
    int br, bc, n_experts;
    const ds_config *cfg;   /* the source's config (names follow its family) */
    const ds_family *fam;   /* NULL: model_type unknown, no name maps */
} ws_mp;

/* HF name -> rank-file name and split rule from the model schema
 * (formats/schema.h holds convert.py's table); -1 when the name has no MP form. */
static int map_name(const ws_mp *h, const char *hf, char *mp, size_t cap, int *split, int *expert) {
    ds_schema_match m;
    *expert = -1;
    if (!h->fam || !ds_schema_lookup(h->cfg, h->fam, hf, &m) || m.mtp || m.part != DS_PART_TENSOR) return -1;
    ds_schema_mp_name(&m, mp, cap);
    switch (m.rule->split) {
    case DS_SPLIT_ROW: *split = SPLIT_ROW; break;
    case DS_SPLIT_COL: *split = SPLIT_COL; break;
    case DS_SPLIT_EXPERT: *split = SPLIT_EXPERT; *expert = m.expert; break;
    default: *split = SPLIT_NONE; break;
    }
    return 0;
}

/* A compressed-tensors weight in rank file f: "<module>.weight" stored as
 * <module>.weight_packed with weight_scale (weight_zero_point, weight_shape,
 * weight_global_scale) beside it, as shard-for-mp copies a routed expert whole
 * (Kimi-K2-Thinking's INT4 experts). 1 when found (p filled), else 0. */
static int ct_part(ds_st_file *f, const char *mp, ds_ws_part *p) {
    char base[512], nm[600];
    if (!ds_has_suffix(mp, ".weight") || strlen(mp) >= sizeof base) return 0;
    snprintf(base, sizeof base, "%.*s", (int)(strlen(mp) - 7), mp);
    snprintf(nm, sizeof nm, "%s.weight_packed", base);
    const ds_tensor_info *t = ds_st_find(f, nm), *x;
    if (!t) return 0;
    p->file = p->sfile = f->path;
    p->name = t->name;
    p->w = t;
    p->wd = ds_st_data(f, t);
    p->fd = f->fd;
    p->foff = ds_st_file_offset(f, t);
    p->kind = DS_WQ_INT;
    p->int_packed = 1;
    snprintf(nm, sizeof nm, "%s.weight_scale", base);
    if ((x = ds_st_find(f, nm))) p->s = x, p->sd = ds_st_data(f, x);
    snprintf(nm, sizeof nm, "%s.weight_zero_point", base);
    if ((x = ds_st_find(f, nm))) p->z = x, p->zd = ds_st_data(f, x);
    snprintf(nm, sizeof nm, "%s.weight_shape", base);
    if ((x = ds_st_find(f, nm))) p->sh = x, p->shd = ds_st_data(f, x);
    if (t->dtype == DS_U8) { /* nvfp4 / mxfp4 */
        p->fp4 = p->s && p->s->dtype == DS_F8_E4M3 ? 1 : 2;
        snprintf(nm, sizeof nm, "%s.weight_global_scale", base);
        if ((x = ds_st_find(f, nm))) p->gs = x, p->gsd = ds_st_data(f, x);
    }
    return 1;
}

/* The part of tensor mp in rank r. */
static int rank_part(ws_mp *h, int r, const char *mp, ds_ws_part *p, int quiet) {
    memset(p, 0, sizeof *p);
    p->br = h->br;
    p->bc = h->bc;
    ds_st_file *f = &h->f[r];
    const ds_tensor_info *t = ds_st_find(f, mp);
    if (!t) {
        if (!ct_part(f, mp, p))
            return quiet ? DS_EXIT_INPUT : ds_fail(DS_EXIT_INPUT, "%s: tensor %s: missing", f->path, mp);
        return ds_ws_part_validate(p);
    }
    p->file = f->path;
    p->name = t->name;
    p->w = t;
    p->wd = ds_st_data(f, t);
    p->fd = f->fd;
    p->foff = ds_st_file_offset(f, t);
    if (t->dtype == DS_F8_E4M3 || t->dtype == DS_F8_E5M2) {
        char sn[512];
        snprintf(sn, sizeof sn, "%s", mp);
        if (ds_has_suffix(sn, ".weight")) sn[strlen(sn) - 7] = 0;
        strncat(sn, ".scale", sizeof sn - strlen(sn) - 1);
        p->kind = DS_WQ_FP8;
        if ((p->s = ds_st_find(f, sn))) p->sd = ds_st_data(f, p->s);
        p->sfile = f->path;
    }
    return ds_ws_part_validate(p);
}

/* Resolves a name to its rank range: parts [r0, r1) joined along split. */
static int resolve(ws_mp *h, const char *name, char *mp, size_t cap, int *split, int *r0, int *r1, int quiet) {
    int expert;
    if (map_name(h, name, mp, cap, split, &expert))
        return quiet ? DS_EXIT_INPUT : ds_fail(DS_EXIT_INPUT, "%s: tensor %s: missing (no model-parallel name)", h->dir, name);
    *r0 = 0;
    *r1 = 1;
    if (*split == SPLIT_ROW || *split == SPLIT_COL) *r1 = h->n;
    if (*split == SPLIT_EXPERT) {
        if (h->n_experts <= 0 || h->n_experts % h->n != 0 || expert >= h->n_experts)
            return quiet ? DS_EXIT_INPUT
                         : ds_fail(DS_EXIT_INPUT, "%s: tensor %s: expert %d does not fit %d experts over %d ranks",
                                   h->dir, name, expert, h->n_experts, h->n);
        *r0 = expert / (h->n_experts / h->n);
        *r1 = *r0 + 1;
    }
    return 0;
}

static int mp_info(void *impl, const char *name, ds_ws_tinfo *ti, int quiet) {
    ws_mp *h = impl;
    char mp[512];
    int split, r0, r1;
    DS_TRY(resolve(h, name, mp, sizeof mp, &split, &r0, &r1, quiet));
    ds_ws_part first;
    DS_TRY(rank_part(h, r0, mp, &first, quiet));
    ds_ws_part_tinfo(&first, ti);
    /* replicated tensors must be in every rank, with one shape and dtype */
    int last = split == SPLIT_NONE ? h->n : r1;
    for (int r = r0 + 1; r < last; r++) {
        ds_ws_part p;
        DS_TRY(rank_part(h, r, mp, &p, 0));
        if (p.rows != first.rows || p.cols != first.cols || p.w->dtype != first.w->dtype || p.kind != first.kind)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: %lldx%lld %s, but %lldx%lld %s in %s", p.file, mp,
                           (long long)p.rows, (long long)p.cols, ds_dtype_name(p.w->dtype), (long long)first.rows,
                           (long long)first.cols, ds_dtype_name(first.w->dtype), first.file);
    }
    int parts = r1 - r0;
    if (split == SPLIT_ROW) { ti->shape[0] *= parts; ti->rows *= parts; }
    if (split == SPLIT_COL) {
        if (ti->ndim != 2) return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: a dim-1 split needs a 2-D tensor", first.file, mp);
        ti->shape[1] *= parts;
        ti->cols *= parts;
    }
    ti->parts = parts;
    return 0;
}

/* Validates every part of name, finds how it is split over which ranks, and
 * checks the requested rows: shared by mp_read and mp_pieces. */
static int locate(ws_mp *h, const char *name, int64_t row0, int64_t n, ds_ws_tinfo *ti, char *mp, size_t mp_len,
                  int *split, int *r0, int *r1) {
    DS_TRY(mp_info(h, name, ti, 0));
    DS_TRY(resolve(h, name, mp, mp_len, split, r0, r1, 0));
    if (row0 < 0 || n < 0 || row0 + n > ti->rows)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: rows %lld..%lld out of %lld", h->dir, name, (long long)row0,
                       (long long)(row0 + n), (long long)ti->rows);
    return 0;
}

static int mp_read(void *impl, const char *name, int64_t row0, int64_t n, float *out) {
    ws_mp *h = impl;
    char mp[512];
    int split, r0, r1;
    ds_ws_tinfo ti;
    DS_TRY(locate(h, name, row0, n, &ti, mp, sizeof mp, &split, &r0, &r1));
    ds_ws_part p;
    if (split != SPLIT_ROW && split != SPLIT_COL) {
        DS_TRY(rank_part(h, r0, mp, &p, 0));
        ds_ws_part_read(&p, row0, n, out);
        return 0;
    }
    if (split == SPLIT_ROW) {
        int64_t per = ti.rows / (r1 - r0);
        for (int r = r0; r < r1 && n > 0; r++) {
            int64_t lo = (r - r0) * per, hi = lo + per;
            if (row0 >= hi) continue;
            int64_t take = hi - row0 < n ? hi - row0 : n;
            DS_TRY(rank_part(h, r, mp, &p, 0));
            ds_ws_part_read(&p, row0 - lo, take, out);
            out += take * ti.cols;
            row0 += take;
            n -= take;
        }
        return 0;
    }
    int64_t pc = ti.cols / (r1 - r0);
    float *tmp = xmalloc((size_t)(n * pc) * sizeof(float));
    int rc = 0;
    for (int r = r0; r < r1 && !rc; r++) {
        if ((rc = rank_part(h, r, mp, &p, 0))) break;
        ds_ws_part_read(&p, row0, n, tmp);
        for (int64_t i = 0; i < n; i++)
            memcpy(out + i * ti.cols + (r - r0) * pc, tmp + i * pc, (size_t)pc * sizeof(float));
    }
    free(tmp);
    return rc;
}

/* The pieces mp_read decodes and joins, in the same order. */
static int mp_pieces(void *impl, const char *name, int64_t row0, int64_t n, ds_ws_piece **out, int *count) {
    ws_mp *h = impl;
    char mp[512];
    int split, r0, r1;
    ds_ws_tinfo ti;
    *out = NULL;
    *count = 0;
    DS_TRY(locate(h, name, row0, n, &ti, mp, sizeof mp, &split, &r0, &r1));
    if (n == 0) return 0;
    ds_ws_piece *pc = xcalloc((size_t)(r1 - r0), sizeof *pc);
    int k = 0, rc = 0;
    if (split != SPLIT_ROW && split != SPLIT_COL) {
        if (!(rc = rank_part(h, r0, mp, &pc[0].part, 0))) {
            pc[0].r0 = row0;
            pc[0].n = n;
            k = 1;
        }
    } else if (split == SPLIT_ROW) {
        int64_t per = ti.rows / (r1 - r0), dst = 0;
        for (int r = r0; r < r1 && n > 0 && !rc; r++) {
            int64_t lo = (r - r0) * per, hi = lo + per;
            if (row0 >= hi) continue;
            int64_t take = hi - row0 < n ? hi - row0 : n;
            if ((rc = rank_part(h, r, mp, &pc[k].part, 0))) break;
            pc[k].r0 = row0 - lo;
            pc[k].n = take;
            pc[k].dst_row = dst;
            k++;
            dst += take;
            row0 += take;
            n -= take;
        }
    } else {
        int64_t pcols = ti.cols / (r1 - r0);
        for (int r = r0; r < r1 && !rc; r++, k++) {
            if ((rc = rank_part(h, r, mp, &pc[k].part, 0))) break;
            pc[k].r0 = row0;
            pc[k].n = n;
            pc[k].dst_col = (r - r0) * pcols;
        }
    }
    if (rc) { free(pc); return rc; }
    *out = pc;
    *count = k;
    return 0;
}

static void mp_close(void *impl) {
    ws_mp *h = impl;
    for (int i = 0; i < h->n; i++) if (h->f) ds_st_close(&h->f[i]);
    free(h->f);
    free(h->dir);
    free(h);
}

static int mp_exists(void *impl, const char *name) {
    ws_mp *h = impl;
    char mp[512];
    int split, r0, r1;
    ds_ws_part p;
    if (resolve(h, name, mp, sizeof mp, &split, &r0, &r1, 1)) return 0;
    return ds_st_find(&h->f[r0], mp) != NULL || ct_part(&h->f[r0], mp, &p);
}

static const char *mp_locate(void *impl, const char *name, int64_t row, int64_t col) {
    ws_mp *h = impl;
    char mp[512];
    int split, r0, r1;
    ds_ws_part p;
    if (resolve(h, name, mp, sizeof mp, &split, &r0, &r1, 1) || rank_part(h, r0, mp, &p, 1)) return NULL;
    int r = r0; /* parts are equal: the part index is row (or col) over the part's size */
    if (split == SPLIT_ROW && p.rows > 0) r = r0 + (int)(row / p.rows);
    if (split == SPLIT_COL && p.cols > 0) r = r0 + (int)(col / p.cols);
    return r < r1 ? h->f[r].path : NULL;
}

static const ds_ws_ops mp_ops = {mp_info, mp_read, mp_exists, mp_locate, mp_close, mp_pieces};

/* Parses "model{i}-mp{N}.safetensors" exactly. */
static int rank_name(const char *s, int *i, int *n) {
    int end = 0;
    if (sscanf(s, "model%d-mp%d.safetensors%n", i, n, &end) != 2 || end == 0 || s[end] != 0) return 0;
    return *i >= 0 && *n > 0 && *i < *n;
}

/* Counts the ranks in dir: N from the files found, -1 when they disagree. */
static int scan_ranks(const char *dir, int *n_out, int *count) {
    DIR *d = opendir(dir);
    if (!d) return DS_IO_FAIL(dir, "opendir");
    struct dirent *de;
    int n = 0, c = 0, bad = 0;
    while ((de = readdir(d))) {
        int i, nn;
        if (!rank_name(de->d_name, &i, &nn)) continue;
        if (n && nn != n) bad = 1;
        n = nn;
        c++;
    }
    closedir(d);
    *n_out = bad ? -1 : n;
    *count = c;
    return 0;
}

int ds_ws_mp_detect(const char *dir) {
    if (!ds_is_dir(dir)) return 0;
    char *ip = ds_path_join(dir, "model.safetensors.index.json");
    int has_index = ds_path_exists(ip);
    free(ip);
    int n, c;
    if (has_index || scan_ranks(dir, &n, &c)) return 0;
    return c > 0;
}

int ds_ws_mp_open(const char *dir, ds_ws_source *ws) {
    int n, c;
    DS_TRY(scan_ranks(dir, &n, &c));
    if (n < 0) return ds_fail(DS_EXIT_INPUT, "%s: model{i}-mp{N}.safetensors files of different N", dir);
    if (c != n) return ds_fail(DS_EXIT_INPUT, "%s: %d of the %d rank files model{i}-mp%d.safetensors are present", dir, c, n, n);
    char *cp = ds_path_join(dir, "config.json");
    int rc = ds_path_exists(cp) ? ds_config_load(cp, &ws->cfg)
                                : ds_fail(DS_EXIT_INPUT, "%s: no config.json beside the rank files", dir);
    free(cp);
    if (rc) return rc;
    ws_mp *h = xcalloc(1, sizeof *h);
    h->dir = xstrdup(dir);
    h->f = xcalloc((size_t)n, sizeof(ds_st_file));
    h->n_experts = ws->cfg.n_routed_experts;
    h->cfg = &ws->cfg;
    h->fam = ds_family_find(ws->cfg.model_type);
    ds_ws_fp8_block(&ws->cfg, &h->br, &h->bc);
    for (int i = 0; i < n; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "model%d-mp%d.safetensors", i, n);
        char *p = ds_path_join(dir, nm);
        rc = ds_st_open(p, &h->f[i]);
        free(p);
        if (rc) { h->n = i; mp_close(h); return rc; }
    }
    h->n = n;
    ws->ops = &mp_ops;
    ws->impl = h;
    int f8 = 0, bits = 0, fp4 = 0;
    const char *plain = NULL;
    for (int i = 0; i < h->f[0].n_tensors; i++) {
        const ds_tensor_info *t = &h->f[0].tensors[i];
        ds_ws_part p;
        if (t->dtype == DS_F8_E4M3) f8 = 1;
        else if (ds_has_suffix(t->name, ".weight_packed")) { /* compressed-tensors: the bits, as ws_hf reports them */
            char mp[512];
            snprintf(mp, sizeof mp, "%.*s.weight", (int)(strlen(t->name) - 14), t->name);
            memset(&p, 0, sizeof p);
            if (ct_part(&h->f[0], mp, &p) && !ds_ws_part_validate(&p)) {
                if (!bits || p.bits < bits) bits = p.bits;
                if (p.fp4) fp4 = p.fp4;
            }
        } else if (!plain && t->ndim == 2) plain = t->dtype == DS_BF16 ? "bf16" : ds_dtype_name(t->dtype);
    }
    ws->int_bits = bits;
    snprintf(ws->desc, sizeof ws->desc, "mp%d %s", n,
             fp4 == 1 ? "nvfp4" : fp4 == 2 ? "mxfp4" : bits == 4 ? "int4" : bits == 8 ? "int8" : f8 ? "fp8"
             : plain ? plain : "empty");
    return 0;
}
