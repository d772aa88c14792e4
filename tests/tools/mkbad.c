/* mkbad.c - make a damaged copy of a good checkpoint, for the bad-input tests.
 *
 * usage: mkbad SRC DST DAMAGE [--shard FILE] [--tensor NAME]
 *        mkbad --list
 *
 * Copies every regular file of the checkpoint directory SRC into DST (created;
 * must not exist), then applies one named damage. The damage hits --shard (default:
 * the first shard) and --tensor (default: the first 2-D F8_E4M3 weight of a main
 * layer (not MTP) in that shard whose weight_scale_inv is in the same shard and
 * has at least 2 elements, else the shard's largest tensor), so the same damage
 * works on the fixture, on generated samples and on converted (BF16) outputs. Header damages re-serialize the JSON header (its length may
 * change; the data section is kept byte for byte, offsets are relative to it).
 *
 * On success prints one line "FILE<TAB>TENSOR": the file and tensor an error
 * message about this damage must name ("-" where no tensor applies; for the
 * scale damages the weight, whose name the scale's name contains).
 * Exit 0, 2 on bad usage or when SRC lacks what the damage needs. */
#define _GNU_SOURCE
#include "common/util.h"
#include "formats/config.h"
#include "formats/hf.h"
#include "formats/safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct { const char *name, *what; } damages[] = {
    {"empty-file", "the shard is 0 bytes"},
    {"truncated-data", "the shard is cut in the middle of its data section"},
    {"header-length-past-end", "the 8-byte header length points past the end of the file"},
    {"header-length-huge", "the 8-byte header length is 2^63"},
    {"header-not-json", "the header's first bytes are not JSON"},
    {"offsets-past-data", "the tensor's data_offsets lie past the end of the data section"},
    {"overlapping-offsets", "the tensor's data_offsets overlap another tensor"},
    {"overlap-around-empty", "as overlapping-offsets, with an empty tensor placed between the two in offset order"},
    {"unknown-dtype", "the tensor's dtype is not a safetensors dtype"},
    {"shape-size-mismatch", "shape[0] + 1: the shape no longer matches the byte span"},
    {"overflowing-shape", "the shape's element count overflows 64 bits"},
    {"negative-shape", "shape[0] is negative"},
    {"missing-scale-inv", "the weight's weight_scale_inv is removed (header and index)"},
    {"scale-wrong-shape", "the weight_scale_inv is reshaped to [n, 1] (same bytes)"},
    {"nan-scale", "the first element of the weight_scale_inv is NaN"},
    {"shard-not-a-file", "the shard is replaced by a directory of the same name"},
    {"shard-is-fifo", "the shard is replaced by a named pipe (opening it must not block)"},
    {"index-missing-shard", "the shard file is deleted; the index still names it"},
    {"tensor-missing-from-index", "the tensor is removed from the index weight_map"},
    {"tensor-in-two-shards", "the tensor is also stored in a second shard"},
    {"config-not-json", "config.json is not JSON"},
    {"config-is-fifo", "config.json is replaced by a named pipe (opening it must not block)"},
    {"index-not-json", "model.safetensors.index.json is not JSON"},
    {"flip-byte", "one byte in the middle of the tensor's data is inverted (the file stays valid)"},
    {"huge-layer-index", "the tensor is renamed [model.]layers.2000000000.* (header and index)"},
};
#define N_DAMAGES (int)(sizeof damages / sizeof damages[0])

static void die(const char *fmt, const char *a) {
    fprintf(stderr, "mkbad: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    exit(2);
}

static void copy_dir(const char *src, const char *dst) {
    if (ds_path_exists(dst)) die("%s exists; mkbad writes a new directory", dst);
    if (ds_mkdir_p(dst)) exit(2);
    DIR *d = opendir(src);
    if (!d) die("cannot open %s", src);
    struct dirent *de;
    while ((de = readdir(d))) {
        char *from = ds_path_join(src, de->d_name);
        if (de->d_name[0] != '.' && ds_path_exists(from) && !ds_is_dir(from)) {
            char *to = ds_path_join(dst, de->d_name), *buf;
            size_t n;
            if (ds_read_file(from, &buf, &n)) exit(2);
            int fd = open(to, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (fd < 0 || ds_write_full(fd, buf, n, to) || close(fd)) die("cannot write %s", to);
            free(buf);
            free(to);
        }
        free(from);
    }
    closedir(d);
}

/* A shard held in memory: its header as JSON and its data section. */
typedef struct {
    char *path;
    cJSON *hdr;
    uint8_t *data;
    size_t data_len;
} shard;

static void shard_load(shard *s, const char *path) {
    char *buf;
    size_t n;
    if (ds_read_file(path, &buf, &n)) exit(2);
    uint64_t hl = 0;
    for (int i = 7; i >= 0 && n >= 8; i--) hl = (hl << 8) | (uint8_t)buf[i];
    if (n < 8 || hl > n - 8) die("%s is not a valid safetensors file", path);
    s->path = xstrdup(path);
    s->hdr = cJSON_ParseWithLength(buf + 8, hl);
    if (!s->hdr) die("%s: header is not JSON", path);
    s->data_len = n - 8 - hl;
    s->data = xmalloc(s->data_len + 1);
    memcpy(s->data, buf + 8 + hl, s->data_len);
    free(buf);
}

/* Writes the shard back: length, JSON padded to a multiple of 8, data. */
static void shard_save(shard *s) {
    char *json = cJSON_PrintUnformatted(s->hdr);
    size_t jl = strlen(json), pad = (8 - jl % 8) % 8;
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)(jl + pad) >> (8 * i));
    int fd = open(s->path, O_WRONLY | O_TRUNC);
    if (fd < 0 || ds_write_full(fd, len, 8, s->path) || ds_write_full(fd, json, jl, s->path) ||
        ds_write_full(fd, "        ", pad, s->path) || ds_write_full(fd, s->data, s->data_len, s->path) || close(fd))
        die("cannot rewrite %s", s->path);
    free(json);
}

static void shard_free(shard *s) {
    cJSON_Delete(s->hdr);
    free(s->data);
    free(s->path);
}

static cJSON *entry(shard *s, const char *name) {
    cJSON *e = cJSON_GetObjectItemCaseSensitive(s->hdr, name);
    if (!cJSON_IsObject(e)) die("tensor %s not in the shard", name);
    return e;
}
static uint64_t off(cJSON *e, int k) {
    return (uint64_t)cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), k)->valuedouble;
}
/* Sets (replaces or adds) a member of a header entry. */
static void set_member(cJSON *e, const char *key, cJSON *v) {
    if (cJSON_GetObjectItemCaseSensitive(e, key)) cJSON_ReplaceItemInObjectCaseSensitive(e, key, v);
    else cJSON_AddItemToObject(e, key, v);
}
static void set_offsets(cJSON *e, uint64_t b, uint64_t end) {
    cJSON *o = cJSON_CreateArray();
    cJSON_AddItemToArray(o, cJSON_CreateNumber((double)b));
    cJSON_AddItemToArray(o, cJSON_CreateNumber((double)end));
    set_member(e, "data_offsets", o);
}
static void set_shape(cJSON *e, const double *dims, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(dims[i]));
    set_member(e, "shape", a);
}

/* The index, as JSON, with its path. */
static cJSON *index_load(const char *dir, char **path) {
    *path = ds_path_join(dir, "model.safetensors.index.json");
    char *txt;
    if (!ds_path_exists(*path) || ds_read_file(*path, &txt, NULL)) return NULL;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    return j;
}
static void index_save(cJSON *j, const char *path) {
    char *txt = cJSON_Print(j);
    if (ds_write_file_atomic(path, txt, strlen(txt))) exit(2);
    free(txt);
}

static void write_bytes_at(const char *path, uint64_t at, const void *p, size_t n) {
    int fd = open(path, O_WRONLY);
    if (fd < 0 || ds_pwrite_full(fd, p, n, at, path) || close(fd)) die("cannot write %s", path);
}

/* Default target: see the header comment. */
static const char *pick_tensor(const ds_ckpt *c, int file) {
    int main_layers = c->has_config ? c->config.num_hidden_layers : 1 << 30;
    const ds_st_file *f = &c->shards[file];
    for (int i = 0; i < f->n_tensors; i++) {
        const ds_tensor_info *t = &f->tensors[i];
        int l = ds_layer_of(t->name);
        if (t->dtype != DS_F8_E4M3 || t->ndim != 2 || l >= main_layers) continue;
        char sn[512];
        snprintf(sn, sizeof sn, "%s_scale_inv", t->name);
        const ds_tensor_info *s = ds_st_find(f, sn);
        if (s && ds_tensor_numel(s) >= 2) return t->name;
    }
    const ds_tensor_info *big = NULL;
    for (int i = 0; i < f->n_tensors; i++)
        if (!big || f->tensors[i].end - f->tensors[i].begin > big->end - big->begin) big = &f->tensors[i];
    return big && big->end > big->begin ? big->name : NULL;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (int i = 0; i < N_DAMAGES; i++) printf("%-26s %s\n", damages[i].name, damages[i].what);
        return 0;
    }
    if (argc < 4 || (argc - 4) % 2) {
        fprintf(stderr, "usage: mkbad SRC DST DAMAGE [--shard FILE] [--tensor NAME]   (mkbad --list)\n");
        return 2;
    }
    const char *src = argv[1], *dst = argv[2], *dmg = argv[3], *shard_opt = NULL, *tensor_opt = NULL;
    for (int i = 4; i < argc; i += 2) {
        if (!strcmp(argv[i], "--shard")) shard_opt = argv[i + 1];
        else if (!strcmp(argv[i], "--tensor")) tensor_opt = argv[i + 1];
        else die("unknown option %s", argv[i]);
    }
    int known = 0;
    for (int i = 0; i < N_DAMAGES; i++) known |= !strcmp(damages[i].name, dmg);
    if (!known) die("unknown damage '%s' (see mkbad --list)", dmg);

    /* Learn the layout from the good source (it must open cleanly). */
    ds_ckpt c;
    if (ds_ckpt_open(src, &c)) die("%s does not open as a checkpoint", src);
    int file = 0;
    if (shard_opt) {
        for (file = 0; file < c.n_shards && strcmp(c.shard_names[file], shard_opt); file++) {}
        if (file == c.n_shards) die("no shard %s", shard_opt);
    }
    const char *fname = c.shard_names[file];
    const char *tname = tensor_opt ? tensor_opt : pick_tensor(&c, file);
    if (!tname) die("no tensor to damage in %s (use --tensor)", fname);
    char scale[512];
    snprintf(scale, sizeof scale, "%s_scale_inv", tname);

    copy_dir(src, dst);
    char *spath = ds_path_join(dst, fname);
    const char *rep_file = fname, *rep_tensor = tname;
    struct stat st;
    if (stat(spath, &st)) die("cannot stat %s", spath);
    shard s = {0};
    char *ipath;
    cJSON *idx = index_load(dst, &ipath);
    cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");

    if (!strcmp(dmg, "empty-file") || !strcmp(dmg, "truncated-data")) {
        rep_tensor = "-";
        uint64_t keep = 0;
        if (!strcmp(dmg, "truncated-data")) {
            /* Cut at half the data: the first tensor (in header order) that ends past the cut is the one reported. */
            const ds_st_file *f = &c.shards[file];
            uint64_t data = f->file_size - f->data_offset, cut = data / 2;
            keep = f->data_offset + cut;
            shard_load(&s, spath);
            const cJSON *e;
            cJSON_ArrayForEach(e, s.hdr) {
                if (strcmp(e->string, "__metadata__") && off((cJSON *)e, 1) > cut) { rep_tensor = e->string; break; }
            }
        }
        if (truncate(spath, (off_t)keep)) die("cannot truncate %s", spath);
    } else if (!strcmp(dmg, "header-length-past-end") || !strcmp(dmg, "header-length-huge")) {
        rep_tensor = "-";
        uint64_t v = dmg[14] == 'p' ? (uint64_t)st.st_size : (uint64_t)1 << 63;
        uint8_t b[8];
        for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
        write_bytes_at(spath, 0, b, 8);
    } else if (!strcmp(dmg, "header-not-json")) {
        rep_tensor = "-";
        write_bytes_at(spath, 8, "this is not json", 16);
    } else if (!strcmp(dmg, "config-not-json") || !strcmp(dmg, "index-not-json")) {
        rep_file = dmg[0] == 'c' ? "config.json" : "model.safetensors.index.json";
        rep_tensor = "-";
        char *p = ds_path_join(dst, rep_file);
        if (!ds_path_exists(p)) die("%s has no such file to damage", rep_file);
        const char *bad = "{\"hidden_size\": 256,, this is not json\n";
        if (ds_write_file_atomic(p, bad, strlen(bad))) exit(2);
        free(p);
    } else if (!strcmp(dmg, "config-is-fifo")) {
        rep_file = "config.json";
        rep_tensor = "-";
        char *p = ds_path_join(dst, rep_file);
        if (unlink(p) || mkfifo(p, 0644)) die("cannot replace %s by a named pipe", p);
        free(p);
    } else if (!strcmp(dmg, "index-missing-shard")) {
        if (!idx) die("%s", "index-missing-shard needs a checkpoint with an index");
        rep_tensor = "-";
        if (unlink(spath)) die("cannot delete %s", spath);
    } else if (!strcmp(dmg, "shard-not-a-file")) {
        rep_tensor = "-";
        if (unlink(spath) || mkdir(spath, 0755)) die("cannot replace %s by a directory", spath);
    } else if (!strcmp(dmg, "shard-is-fifo")) {
        rep_tensor = "-";
        if (unlink(spath) || mkfifo(spath, 0644)) die("cannot replace %s by a named pipe", spath);
    } else if (!strcmp(dmg, "tensor-missing-from-index")) {
        if (!idx) die("%s", "tensor-missing-from-index needs a checkpoint with an index");
        cJSON_DeleteItemFromObjectCaseSensitive(wm, tname);
        index_save(idx, ipath);
    } else if (!strcmp(dmg, "tensor-in-two-shards")) {
        if (c.n_shards < 2) die("%s", "tensor-in-two-shards needs two shards");
        /* Append a copy of the tensor (entry and bytes) to the next shard. */
        shard_load(&s, spath);
        cJSON *e = entry(&s, tname);
        uint64_t b = off(e, 0), n = off(e, 1) - b;
        shard o = {0};
        char *opath = ds_path_join(dst, c.shard_names[(file + 1) % c.n_shards]);
        shard_load(&o, opath);
        cJSON *copy = cJSON_Duplicate(e, 1);
        set_offsets(copy, o.data_len, o.data_len + n);
        cJSON_AddItemToObject(o.hdr, tname, copy);
        o.data = xrealloc(o.data, o.data_len + n + 1);
        memcpy(o.data + o.data_len, s.data + b, n);
        o.data_len += n;
        shard_save(&o);
        shard_free(&o);
        free(opath);
    } else if (!strcmp(dmg, "flip-byte")) {
        const ds_st_file *f = &c.shards[file];
        const ds_tensor_info *t = ds_st_find(f, tname);
        if (!t || t->end == t->begin) die("tensor %s is absent or empty", tname);
        uint64_t at = ds_st_file_offset(f, t) + (t->end - t->begin) / 2;
        uint8_t b = (uint8_t)~f->map[at];
        write_bytes_at(spath, at, &b, 1);
    } else if (!strcmp(dmg, "huge-layer-index")) {
        /* "[model.]layers.N.rest" -> "[model.]layers.2000000000.rest" (HF and shard-for-mp names) */
        shard_load(&s, spath);
        const char *l = strstr(tname, "layers.");
        const char *dot = l ? strchr(l + 7, '.') : NULL;
        if (!dot) die("%s is not a layer tensor", tname);
        static char renamed[512];
        snprintf(renamed, sizeof renamed, "%.*slayers.2000000000%s", (int)(l - tname), tname, dot);
        cJSON_AddItemToObject(s.hdr, renamed, cJSON_DetachItemFromObjectCaseSensitive(s.hdr, tname));
        shard_save(&s);
        if (wm) {
            cJSON_DeleteItemFromObjectCaseSensitive(wm, tname);
            cJSON_AddStringToObject(wm, renamed, fname);
            index_save(idx, ipath);
        }
        rep_tensor = renamed;
    } else if (!strcmp(dmg, "missing-scale-inv") || !strcmp(dmg, "scale-wrong-shape") || !strcmp(dmg, "nan-scale")) {
        shard_load(&s, spath);
        cJSON *e = entry(&s, scale);
        if (dmg[0] == 'm') {
            cJSON_DeleteItemFromObjectCaseSensitive(s.hdr, scale);
            if (wm) { cJSON_DeleteItemFromObjectCaseSensitive(wm, scale); index_save(idx, ipath); }
        } else if (dmg[0] == 's') {
            const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
            double r = cJSON_GetArrayItem(sh, 0)->valuedouble, k = cJSON_GetArrayItem(sh, 1)->valuedouble;
            double dims[2] = {r * k, 1};
            if (k == 1) { dims[0] = 1; dims[1] = r; }
            set_shape(e, dims, 2);
        } else {
            float nan = NAN;
            memcpy(s.data + off(e, 0), &nan, 4);
        }
        shard_save(&s);
        /* rep_tensor stays the weight: messages may name the weight or its scale ("W_scale_inv" contains W) */
    } else {
        /* Damages of the tensor's own header entry. */
        shard_load(&s, spath);
        cJSON *e = entry(&s, tname);
        uint64_t b = off(e, 0), end = off(e, 1);
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        int nd = cJSON_GetArraySize(sh);
        double dims[DS_MAX_DIMS];
        for (int i = 0; i < nd && i < DS_MAX_DIMS; i++) dims[i] = cJSON_GetArrayItem(sh, i)->valuedouble;
        if (!strcmp(dmg, "offsets-past-data")) {
            set_offsets(e, b + s.data_len, end + s.data_len);
        } else if (!strcmp(dmg, "overlapping-offsets") || !strcmp(dmg, "overlap-around-empty")) {
            /* [1, 1 + size): overlaps the tensor at offset 0 (or the one after this tensor, if this was first). */
            set_offsets(e, 1, 1 + end - b);
            if (!strcmp(dmg, "overlap-around-empty")) {
                /* An empty tensor at [1, 1) sorts between the tensor at 0 and this one. */
                cJSON *z = cJSON_CreateObject();
                cJSON_AddStringToObject(z, "dtype", "BF16");
                double zero[1] = {0};
                set_shape(z, zero, 1);
                set_offsets(z, 1, 1);
                /* named like a real tensor (shard-for-mp maps "norm"), so only the overlap is wrong */
                if (cJSON_GetObjectItemCaseSensitive(s.hdr, "model.norm.bias")) die("%s", "model.norm.bias exists");
                cJSON_AddItemToObject(s.hdr, "model.norm.bias", z);
                if (wm) { cJSON_AddStringToObject(wm, "model.norm.bias", fname); index_save(idx, ipath); }
            }
        } else if (!strcmp(dmg, "unknown-dtype")) {
            cJSON_ReplaceItemInObjectCaseSensitive(e, "dtype", cJSON_CreateString("F4_X9"));
        } else if (!strcmp(dmg, "shape-size-mismatch")) {
            dims[0] += 1;
            set_shape(e, dims, nd);
        } else if (!strcmp(dmg, "overflowing-shape")) {
            double big[3] = {4294967296.0, 4294967296.0, 4294967296.0};
            set_shape(e, big, 3);
        } else if (!strcmp(dmg, "negative-shape")) {
            dims[0] = -dims[0];
            set_shape(e, dims, nd);
        }
        shard_save(&s);
    }
    printf("%s\t%s\n", rep_file, rep_tensor);
    if (s.path) shard_free(&s);
    cJSON_Delete(idx);
    free(ipath);
    free(spath);
    ds_ckpt_close(&c);
    return 0;
}
