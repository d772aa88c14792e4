/* safetensors.c - validating reader (mmap) and streaming writer.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON, then the
 * data section. Every rule is checked here once, so the rest of dsconv can
 * trust a ds_st_file: offsets inside the data, sizes that match shapes, no
 * overlaps, known dtypes, no arithmetic overflow. */
#define _GNU_SOURCE
#include "formats/safetensors.h"
#include "common/bug.h"
#include "common/util.h"
#include "common/fsafe.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* A JSON number that is a whole number in [0, 2^53] (exact in a double). */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int cmp_begin(const void *a, const void *b, void *ctx) {
    const ds_tensor_info *t = ctx;
    const ds_tensor_info *x = &t[*(const int *)a], *y = &t[*(const int *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b, void *ctx) {
    const ds_tensor_info *t = ctx;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

static int parse_tensor(const char *path, const cJSON *item, uint64_t data_size, ds_tensor_info *t) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: header entry is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt))
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: missing or non-string dtype", path, name);
    if (ds_dtype_from_name(dt->valuestring, &t->dtype) != 0)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: unknown dtype '%s'", path, name, dt->valuestring);
    if (!cJSON_IsArray(sh))
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: missing or non-array shape", path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > DS_MAX_DIMS)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: %d dimensions (at most %d supported)", path, name, nd, DS_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        uint64_t v;
        if (cJSON_IsNumber(d) && d->valuedouble < 0)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: negative shape entry %.0f", path, name, d->valuedouble);
        if (json_u64(d, &v) != 0 || v > (uint64_t)INT64_MAX)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape entry %d is not a non-negative integer", path, name, i);
        if (v && numel > UINT64_MAX / v)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape overflows (element count too large)", path, name);
        numel *= v;
        t->shape[i++] = (int64_t)v;
    }
    size_t es = ds_dtype_size(t->dtype);
    /* A zero-element tensor's other dimensions cost nothing on disk but size
     * the readers' row buffers and index arithmetic: bound their product
     * (times the element size) by DS_ST_MAX_EMPTY_BYTES, in checked
     * arithmetic, so [0, 2^40] or [0, 2^53, 2^53] is refused here. */
    if (numel == 0) {
        uint64_t nz = es;
        for (int k = 0; k < i; k++) {
            uint64_t v = (uint64_t)t->shape[k];
            if (!v) continue;
            if (v > DS_ST_MAX_EMPTY_BYTES || nz > DS_ST_MAX_EMPTY_BYTES / v)
                return ds_fail(DS_EXIT_INPUT,
                               "%s: tensor %s: has no elements but its other dimensions span more than %llu bytes "
                               "(dimension %d is %llu)", path, name, (unsigned long long)DS_ST_MAX_EMPTY_BYTES, k,
                               (unsigned long long)v);
            nz *= v;
        }
    }
    if (numel > UINT64_MAX / es || numel * es > (uint64_t)INT64_MAX)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape overflows (byte size too large)", path, name);
    uint64_t bytes = numel * es;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: data_offsets must be an array of two integers", path, name);
    if (json_u64(cJSON_GetArrayItem(of, 0), &t->begin) || json_u64(cJSON_GetArrayItem(of, 1), &t->end))
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: data_offsets are not non-negative integers", path, name);
    if (t->end < t->begin)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: data_offsets end %llu before begin %llu", path, name,
                       (unsigned long long)t->end, (unsigned long long)t->begin);
    if (t->end - t->begin != bytes)
        return ds_fail(DS_EXIT_INPUT,
                       "%s: tensor %s: data_offsets span %llu bytes but dtype %s and shape need %llu", path,
                       name, (unsigned long long)(t->end - t->begin), ds_dtype_name(t->dtype),
                       (unsigned long long)bytes);
    if (t->end > data_size)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: data_offsets [%llu, %llu) past the end of the data (%llu bytes)",
                       path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)data_size);
    return 0;
}

static int parse_metadata(const char *path, const cJSON *m, ds_st_file *f) {
    if (!cJSON_IsObject(m)) return ds_fail(DS_EXIT_INPUT, "%s: __metadata__ is not an object", path);
    int n = cJSON_GetArraySize(m);
    f->meta_keys = xcalloc((size_t)n + 1, sizeof(char *));
    f->meta_vals = xcalloc((size_t)n + 1, sizeof(char *));
    const cJSON *kv;
    cJSON_ArrayForEach(kv, m) {
        if (!cJSON_IsString(kv))
            return ds_fail(DS_EXIT_INPUT, "%s: __metadata__ value of '%s' is not a string", path, kv->string);
        f->meta_keys[f->n_meta] = xstrdup(kv->string);
        f->meta_vals[f->n_meta] = xstrdup(kv->valuestring);
        f->n_meta++;
    }
    return 0;
}

int ds_st_parse_header(const char *path, const char *json, size_t json_len, uint64_t data_size, ds_st_file *f) {
    cJSON *root;
    int rc = ds_json_parse(path, "header", json, json_len, &root);
    if (rc) return rc;
    if (!cJSON_IsObject(root)) { rc = ds_fail(DS_EXIT_INPUT, "%s: header is not a JSON object", path); goto out; }
    int n = cJSON_GetArraySize(root);
    f->tensors = xcalloc((size_t)n + 1, sizeof(ds_tensor_info));
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (f->meta_keys) { rc = ds_fail(DS_EXIT_INPUT, "%s: __metadata__ appears twice", path); goto out; }
            if ((rc = parse_metadata(path, item, f))) goto out;
            continue;
        }
        ds_tensor_info *t = &f->tensors[f->n_tensors];
        if ((rc = parse_tensor(path, item, data_size, t))) goto out;
        t->name = xstrdup(item->string);
        f->n_tensors++;
    }
    /* Overlap check in data order: each non-empty tensor must start at or after
     * the furthest end seen so far (empty tensors occupy no bytes and are skipped,
     * but cannot hide an overlap between their neighbours). */
    int nt = f->n_tensors;
    int *ord = xmalloc(sizeof(int) * (size_t)(nt + 1));
    for (int i = 0; i < nt; i++) ord[i] = i;
    qsort_r(ord, (size_t)nt, sizeof(int), cmp_begin, f->tensors);
    const ds_tensor_info *far = NULL;
    for (int i = 0; i < nt; i++) {
        const ds_tensor_info *b = &f->tensors[ord[i]];
        if (b->end == b->begin) continue;
        if (far && b->begin < far->end) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: data [%llu, %llu) overlaps tensor %s [%llu, %llu)", path,
                         b->name, (unsigned long long)b->begin, (unsigned long long)b->end, far->name,
                         (unsigned long long)far->begin, (unsigned long long)far->end);
            free(ord);
            goto out;
        }
        if (!far || b->end > far->end) far = b;
    }
    ds_tensor_info *sorted = xcalloc((size_t)nt + 1, sizeof(ds_tensor_info));
    for (int i = 0; i < nt; i++) sorted[i] = f->tensors[ord[i]];
    free(f->tensors);
    f->tensors = sorted;
    for (int i = 0; i < nt; i++) ord[i] = i;
    qsort_r(ord, (size_t)nt, sizeof(int), cmp_name, f->tensors);
    for (int i = 1; i < nt; i++)
        if (strcmp(f->tensors[ord[i - 1]].name, f->tensors[ord[i]].name) == 0) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: appears twice in the header", path, f->tensors[ord[i]].name);
            free(ord);
            goto out;
        }
    f->by_name = ord;
out:
    cJSON_Delete(root);
    return rc;
}

int ds_st_open(const char *path, ds_st_file *f) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = xstrdup(path);
    int rc;
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
    if (f->fd < 0) {
        rc = errno == ENOENT ? ds_fail(DS_EXIT_INPUT, "%s: no such file", path) : DS_IO_FAIL(path, "open");
        goto fail;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) { rc = DS_IO_FAIL(path, "stat"); goto fail; }
    if (!S_ISREG(st.st_mode)) { rc = ds_fail(DS_EXIT_INPUT, "%s: not a regular file", path); goto fail; }
    f->file_size = (uint64_t)st.st_size;
    if (f->file_size < 8) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: %s (%llu bytes): no room for the 8-byte header length", path,
                     f->file_size ? "too short" : "empty file", (unsigned long long)f->file_size);
        goto fail;
    }
    f->map = mmap(NULL, f->file_size, PROT_READ, MAP_SHARED, f->fd, 0);
    if (f->map == MAP_FAILED) { f->map = NULL; rc = DS_IO_FAIL(path, "mmap"); goto fail; }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | f->map[i];
    if (n > DS_ST_MAX_HEADER) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: header length %llu exceeds the 100 MiB limit", path, (unsigned long long)n);
        goto fail;
    }
    if (n > f->file_size - 8) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: header length %llu runs past the end of the file (%llu bytes)", path,
                     (unsigned long long)n, (unsigned long long)f->file_size);
        goto fail;
    }
    f->header_len = n;
    f->data_offset = 8 + n;
    if ((rc = ds_st_parse_header(path, (const char *)f->map + 8, n, f->file_size - f->data_offset, f))) goto fail;
    return 0;
fail:
    ds_st_close(f);
    return rc;
}

void ds_st_close(ds_st_file *f) {
    if (!f->path) return; /* never opened (zeroed) */
    if (f->map) munmap((void *)f->map, f->file_size);
    if (f->fd >= 0) close(f->fd);
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) { free(f->meta_keys[i]); free(f->meta_vals[i]); }
    free(f->tensors);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

const ds_tensor_info *ds_st_find(const ds_st_file *f, const char *name) {
    int lo = 0, hi = f->n_tensors - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const ds_tensor_info *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (!c) return t;
        if (c < 0) hi = mid - 1; else lo = mid + 1;
    }
    return NULL;
}

/* ------------------------------------------------------------------ writer */

struct ds_st_writer {
    char *final_path, *tmp_path;
    int fd;
    int n;
    uint64_t header_total;   /* 8 + padded JSON */
    uint64_t *begin;         /* per tensor, relative to data */
    uint64_t *bytes;
    uint64_t data_size;
    uint64_t append_pos;     /* absolute */
    uint64_t written;        /* data bytes written (for the completeness check) */
    int no_sync;
};

void ds_stw_set_sync(ds_st_writer *w, int sync) { w->no_sync = !sync; }

static void sb_str(ds_sbuf *b, const char *s) { ds_sbuf_put(b, s, strlen(s)); }
static void sb_json_string(ds_sbuf *b, const char *s) {
    ds_sbuf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; ds_sbuf_put(b, esc, 2); }
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); ds_sbuf_put(b, esc, 6); }
        else ds_sbuf_put(b, (const char *)&c, 1);
    }
    ds_sbuf_put(b, "\"", 1);
}

int ds_st_build_header(const ds_tensor_desc *tensors, int n, uint8_t **out, size_t *len, uint64_t *data_size) {
    ds_sbuf b = {0};
    char num[64];
    uint64_t off = 0;
    sb_str(&b, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        const ds_tensor_desc *t = &tensors[i];
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (uint64_t)t->shape[d];
        uint64_t bytes = numel * ds_dtype_size(t->dtype);
        sb_str(&b, ",");
        sb_json_string(&b, t->name);
        sb_str(&b, ":{\"dtype\":\"");
        sb_str(&b, ds_dtype_name(t->dtype));
        sb_str(&b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            sb_str(&b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + bytes));
        sb_str(&b, num);
        off += bytes;
    }
    sb_str(&b, "}");
    while (b.n % 8) sb_str(&b, " ");   /* data section starts 8-byte aligned */
    uint8_t *h = xmalloc(8 + b.n);
    for (int i = 0; i < 8; i++) h[i] = (uint8_t)((uint64_t)b.n >> (8 * i));
    memcpy(h + 8, b.p, b.n);
    free(b.p);
    *out = h;
    *len = 8 + b.n;
    if (data_size) *data_size = off;
    return 0;
}

int ds_stw_open(ds_st_writer **wp, const char *final_path, const ds_tensor_desc *tensors, int n) {
    return ds_stw_open_mode(wp, final_path, tensors, n, 0644);
}

int ds_stw_open_mode(ds_st_writer **wp, const char *final_path, const ds_tensor_desc *tensors, int n, unsigned mode) {
    ds_st_writer *w = xcalloc(1, sizeof *w);
    w->fd = -1;
    w->final_path = xstrdup(final_path);
    w->n = n;
    w->begin = xcalloc((size_t)n + 1, sizeof(uint64_t));
    w->bytes = xcalloc((size_t)n + 1, sizeof(uint64_t));
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < tensors[i].ndim; d++) numel *= (uint64_t)tensors[i].shape[d];
        w->begin[i] = off;
        w->bytes[i] = numel * ds_dtype_size(tensors[i].dtype);
        off += w->bytes[i];
    }
    uint8_t *hdr;
    size_t hlen;
    ds_st_build_header(tensors, n, &hdr, &hlen, &w->data_size);
    w->header_total = hlen;
    int rc = ds_tmp_create(final_path, (mode_t)mode, &w->tmp_path, &w->fd);
    if (!rc) rc = ds_pwrite_full(w->fd, hdr, hlen, 0, w->tmp_path);
    free(hdr);
    w->append_pos = w->header_total;
    if (rc) { ds_stw_abort(w); return rc; }
    *wp = w;
    return 0;
}

uint64_t ds_stw_tensor_offset(const ds_st_writer *w, int i) { return w->header_total + w->begin[i]; }
uint64_t ds_stw_tensor_bytes(const ds_st_writer *w, int i) { return w->bytes[i]; }
uint64_t ds_stw_total_size(const ds_st_writer *w) { return w->header_total + w->data_size; }
const char *ds_stw_tmp_path(const ds_st_writer *w) { return w->tmp_path; }
int ds_stw_fd(const ds_st_writer *w) { return w->fd; }

int ds_stw_append(ds_st_writer *w, const void *buf, size_t n) {
    DS_TRY(ds_stw_pwrite(w, w->append_pos, buf, n));
    w->append_pos += n;
    return 0;
}

int ds_stw_pwrite(ds_st_writer *w, uint64_t off, const void *buf, size_t n) {
    if (off < w->header_total || off + n > ds_stw_total_size(w))
        return ds_fail(DS_EXIT_BUG, "%s: internal error: write [%llu, +%zu) outside the planned data", w->tmp_path,
                       (unsigned long long)off, n);
    DS_TRY(ds_pwrite_full(w->fd, buf, n, off, w->tmp_path));
    __atomic_add_fetch(&w->written, n, __ATOMIC_RELAXED);
    return 0;
}

int ds_stw_pwrite_rows(ds_st_writer *w, uint64_t off, const uint8_t *buf, size_t width, int64_t rows, size_t stride) {
    uint64_t n = (uint64_t)width * (uint64_t)(rows > 0 ? rows : 0);
    if (off < w->header_total || off + n > ds_stw_total_size(w))
        return ds_fail(DS_EXIT_BUG, "%s: internal error: write [%llu, +%llu) outside the planned data", w->tmp_path,
                       (unsigned long long)off, (unsigned long long)n);
    if (rows == 1 || width == stride) return ds_stw_pwrite(w, off, buf, n);
    enum { BATCH = 512 };
    struct iovec v[BATCH];
    for (int64_t r = 0; r < rows;) {
        int k = 0;
        for (; k < BATCH && r + k < rows; k++) {
            v[k].iov_base = (void *)(buf + (size_t)(r + k) * stride);
            v[k].iov_len = width;
        }
        /* A short write leaves part of a batch: finish it piece by piece. */
        size_t want = (size_t)k * width;
        ssize_t got;
        do got = pwritev(w->fd, v, k, (off_t)off); while (got < 0 && errno == EINTR);
        if (got < 0) return DS_IO_FAIL(w->tmp_path, "write");
        for (size_t done = (size_t)got; done < want;) {
            size_t i = done / width, in = done % width;
            DS_TRY(ds_pwrite_full(w->fd, buf + (size_t)(r + (int64_t)i) * stride + in, width - in, off + done, w->tmp_path));
            done += width - in;
        }
        off += want;
        r += k;
    }
    __atomic_add_fetch(&w->written, n, __ATOMIC_RELAXED);
    return 0;
}

int ds_stw_commit(ds_st_writer *w) {
    int rc = 0;
    if (w->written != w->data_size)
        rc = ds_fail(DS_EXIT_BUG, "%s: internal error: %llu of %llu data bytes written", w->tmp_path,
                     (unsigned long long)w->written, (unsigned long long)w->data_size);
    if (!rc && !w->no_sync && fdatasync(w->fd) != 0) rc = DS_IO_FAIL(w->tmp_path, "fsync");
    if (close(w->fd) != 0 && !rc) rc = DS_IO_FAIL(w->tmp_path, "close");
    w->fd = -1;
    if (!rc && rename(w->tmp_path, w->final_path) != 0) rc = DS_IO_FAIL(w->final_path, "rename");
    if (rc) { ds_stw_abort(w); return rc; }
    free(w->final_path); free(w->tmp_path); free(w->begin); free(w->bytes); free(w);
    return 0;
}

void ds_stw_abort(ds_st_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->tmp_path) unlink(w->tmp_path);
    free(w->final_path); free(w->tmp_path); free(w->begin); free(w->bytes); free(w);
}
