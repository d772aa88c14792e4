/* gguf.c - GGUF v3 metadata builder and streaming writer (see gguf.h). */
#define _GNU_SOURCE /* fallocate */
#include "formats/gguf.h"
#include "common/bug.h"
#include "common/util.h"
#include "common/fsafe.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const ds_ggml_traits ggml_table[] = {
    {DS_GGML_F32, "f32", 1, 4, 0},
    {DS_GGML_F16, "f16", 1, 2, 1},
    {DS_GGML_Q5_0, "q5_0", 32, 22, 8},
    {DS_GGML_Q8_0, "q8_0", 32, 34, 7},
    {DS_GGML_Q4_K, "q4_k", 256, 144, 15},   /* LLAMA_FTYPE_MOSTLY_Q4_K_M */
    {DS_GGML_Q6_K, "q6_k", 256, 210, 18},
    {DS_GGML_BF16, "bf16", 1, 2, 32},
};
#define N_GGML (int)(sizeof ggml_table / sizeof ggml_table[0])

const ds_ggml_traits *ds_ggml_info(ds_ggml_type t) {
    for (int i = 0; i < N_GGML; i++)
        if (ggml_table[i].type == t) return &ggml_table[i];
    return NULL;
}

int ds_ggml_from_name(const char *name, ds_ggml_type *t) {
    for (int i = 0; i < N_GGML; i++)
        if (!strcasecmp(ggml_table[i].name, name)) { *t = ggml_table[i].type; return 0; }
    return -1;
}

/* ---- metadata ---- */
typedef struct { uint8_t *buf; size_t len, cap; } bytes_t;
static void put(bytes_t *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        while (b->len + n > b->cap) b->cap = b->cap ? b->cap * 2 : 256;
        b->buf = xrealloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}
static void put_u32(bytes_t *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes_t *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes_t *b, const char *s) {
    size_t n = strlen(s);
    put_u64(b, n);
    put(b, s, n);
}

void ds_gguf_kv_init(ds_gguf_kv *kv) { memset(kv, 0, sizeof *kv); }
void ds_gguf_kv_free(ds_gguf_kv *kv) {
    for (int i = 0; i < kv->n; i++) { free(kv->keys[i]); free(kv->vals[i]); }
    free(kv->keys); free(kv->vals); free(kv->vlen);
    memset(kv, 0, sizeof *kv);
}
static int find(const ds_gguf_kv *kv, const char *key) {
    for (int i = 0; i < kv->n; i++)
        if (!strcmp(kv->keys[i], key)) return i;
    return -1;
}
int ds_gguf_kv_has(const ds_gguf_kv *kv, const char *key) { return find(kv, key) >= 0; }
void ds_gguf_kv_del(ds_gguf_kv *kv, const char *key) {
    int i = find(kv, key);
    if (i < 0) return;
    free(kv->keys[i]); free(kv->vals[i]);
    for (int j = i + 1; j < kv->n; j++) { kv->keys[j - 1] = kv->keys[j]; kv->vals[j - 1] = kv->vals[j]; kv->vlen[j - 1] = kv->vlen[j]; }
    kv->n--;
}
/* Sets key to the value bytes in b (type first), taking b's buffer. */
static void set(ds_gguf_kv *kv, const char *key, bytes_t *b) {
    int i = find(kv, key);
    if (i < 0) {
        if (kv->n == kv->cap) {
            kv->cap = kv->cap ? kv->cap * 2 : 64;
            kv->keys = xrealloc(kv->keys, kv->cap * sizeof *kv->keys);
            kv->vals = xrealloc(kv->vals, kv->cap * sizeof *kv->vals);
            kv->vlen = xrealloc(kv->vlen, kv->cap * sizeof *kv->vlen);
        }
        i = kv->n++;
        kv->keys[i] = xstrdup(key);
    } else {
        free(kv->vals[i]);
    }
    kv->vals[i] = b->buf;
    kv->vlen[i] = b->len;
}
void ds_gguf_kv_str(ds_gguf_kv *kv, const char *key, const char *v) {
    bytes_t b = {0}; put_u32(&b, DS_GGUF_STRING); put_str(&b, v); set(kv, key, &b);
}
void ds_gguf_kv_u32(ds_gguf_kv *kv, const char *key, uint32_t v) {
    bytes_t b = {0}; put_u32(&b, DS_GGUF_U32); put_u32(&b, v); set(kv, key, &b);
}
void ds_gguf_kv_i32(ds_gguf_kv *kv, const char *key, int32_t v) {
    bytes_t b = {0}; put_u32(&b, DS_GGUF_I32); put(&b, &v, 4); set(kv, key, &b);
}
void ds_gguf_kv_f32(ds_gguf_kv *kv, const char *key, float v) {
    bytes_t b = {0}; put_u32(&b, DS_GGUF_F32); put(&b, &v, 4); set(kv, key, &b);
}
void ds_gguf_kv_bool(ds_gguf_kv *kv, const char *key, int v) {
    uint8_t x = v ? 1 : 0;
    bytes_t b = {0}; put_u32(&b, DS_GGUF_BOOL); put(&b, &x, 1); set(kv, key, &b);
}
void ds_gguf_kv_arr_str(ds_gguf_kv *kv, const char *key, char *const *v, int64_t n) {
    bytes_t b = {0};
    put_u32(&b, DS_GGUF_ARRAY); put_u32(&b, DS_GGUF_STRING); put_u64(&b, (uint64_t)n);
    for (int64_t i = 0; i < n; i++) put_str(&b, v[i]);
    set(kv, key, &b);
}
void ds_gguf_kv_arr_i32(ds_gguf_kv *kv, const char *key, const int32_t *v, int64_t n) {
    bytes_t b = {0};
    put_u32(&b, DS_GGUF_ARRAY); put_u32(&b, DS_GGUF_I32); put_u64(&b, (uint64_t)n);
    put(&b, v, (size_t)n * 4);
    set(kv, key, &b);
}

/* ---- writer ---- */
static uint64_t pad_to(uint64_t n) { return (n + DS_GGUF_ALIGN - 1) / DS_GGUF_ALIGN * DS_GGUF_ALIGN; }

uint64_t ds_gguf_tensor_bytes(const ds_gguf_tensor_desc *d) {
    const ds_ggml_traits *tr = ds_ggml_info(d->type);
    DS_ASSERT(tr);
    uint64_t rows = 1;
    for (int i = 1; i < d->ndim; i++) rows *= (uint64_t)d->ne[i];
    return rows * ds_ggml_row_bytes(tr, d->ne[0]);
}

struct ds_gguf_writer {
    char *final_path, *tmp_path;
    int fd;
    int n, cur;                 /* tensors, the one being written */
    uint64_t *bytes;            /* data bytes of each tensor */
    uint64_t cur_done;          /* bytes of tensor cur written */
    uint64_t pos, total;        /* file offset, planned file size */
    uint64_t hlen;              /* header (with its padding): where tensor data starts */
    uint64_t *offset;           /* data offset of each tensor, from hlen */
    /* positioned mode (ds_gguf_begin_positioned): writers at known offsets */
    int positioned;
    uint8_t *map;               /* the whole file mapped shared, or NULL (pwrite) */
    uint64_t data_done;         /* data bytes written, added atomically */
};

int ds_gguf_open(ds_gguf_writer **out, const char *final_path, const ds_gguf_kv *kv,
                 const ds_gguf_tensor_desc *t, int n) {
    *out = NULL;
    bytes_t hdr = {0};
    put(&hdr, "GGUF", 4);
    put_u32(&hdr, 3);
    put_u64(&hdr, (uint64_t)n);
    put_u64(&hdr, (uint64_t)kv->n);
    for (int i = 0; i < kv->n; i++) {
        put_str(&hdr, kv->keys[i]);
        put(&hdr, kv->vals[i], kv->vlen[i]);
    }
    ds_gguf_writer *w = xcalloc(1, sizeof *w);
    w->bytes = xcalloc(n ? n : 1, sizeof *w->bytes);
    w->offset = xcalloc(n ? n : 1, sizeof *w->offset);
    w->n = n;
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (!ds_ggml_info(t[i].type) || t[i].ndim < 1 || t[i].ndim > 4) {
            free(hdr.buf); free(w->bytes); free(w->offset); free(w);
            return ds_fail(DS_EXIT_INPUT, "%s: internal error: bad planned tensor %s", final_path, t[i].name);
        }
        put_str(&hdr, t[i].name);
        put_u32(&hdr, (uint32_t)t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++) put_u64(&hdr, (uint64_t)t[i].ne[d]);
        put_u32(&hdr, (uint32_t)t[i].type);
        put_u64(&hdr, off);
        w->bytes[i] = ds_gguf_tensor_bytes(&t[i]);
        w->offset[i] = off;
        off += pad_to(w->bytes[i]);
    }
    uint64_t hlen = pad_to(hdr.len);
    static const uint8_t zero[DS_GGUF_ALIGN];
    put(&hdr, zero, hlen - hdr.len);
    w->total = hlen + off;
    w->hlen = hlen;
    w->final_path = xstrdup(final_path);
    /* a fresh O_EXCL|O_NOFOLLOW temporary (common/fsafe.h): a planted link is never written through */
    w->fd = -1;
    int rc = ds_tmp_create(final_path, 0644, &w->tmp_path, &w->fd);
    if (!rc) rc = ds_write_full(w->fd, hdr.buf, hdr.len, w->tmp_path);
    w->pos = hdr.len;
    free(hdr.buf);
    if (rc) { ds_gguf_abort(w); return rc; }
    *out = w;
    return 0;
}

uint64_t ds_gguf_total_size(const ds_gguf_writer *w) { return w->total; }
uint64_t ds_gguf_data_offset(const ds_gguf_writer *w, int i) {
    DS_ASSERT(i >= 0 && i < w->n);
    return w->hlen + w->offset[i];
}

/* fallocate of the data section: 0, 1 where the file system cannot, or an error */
static int reserve_blocks(ds_gguf_writer *w) {
    if (fallocate(w->fd, 0, (off_t)w->hlen, (off_t)(w->total - w->hlen)) == 0) return 0;
    if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL) return 1;
    return -DS_IO_FAIL(w->tmp_path, "fallocate");
}

int ds_gguf_begin_positioned(ds_gguf_writer *w, int map, int reserve, uint8_t **base) {
    DS_ASSERT(!w->positioned && w->cur == 0 && w->cur_done == 0);
    *base = NULL;
    w->positioned = 1;
    /* the padding between tensors is never written: the file's size makes it zeros */
    if (ftruncate(w->fd, (off_t)w->total) != 0) return DS_IO_FAIL(w->tmp_path, "ftruncate");
    if (w->total == w->hlen) return 0;
    if (!map) {
        int r = reserve ? reserve_blocks(w) : 0;
        return r < 0 ? -r : 0;
    }
    /* Blocks reserved first, so a store through the mapping never meets a full
     * disk (which would be SIGBUS, not an error code). A file system that
     * cannot reserve gets the pwrite path. */
    int r = reserve_blocks(w);
    if (r) return r < 0 ? -r : 0;
    /* a shared writable mapping needs the file open for reading too: the
     * temporary's descriptor reopened (the magic link names this very file,
     * not a path that could have changed) */
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", w->fd);
    int rw = open(self, O_RDWR | O_CLOEXEC);
    if (rw < 0) return 0;
    void *m = mmap(NULL, (size_t)w->total, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    close(rw); /* the mapping keeps the file */
    if (m == MAP_FAILED) return 0;
    w->map = m;
    *base = m;
    return 0;
}

int ds_gguf_pwrite(ds_gguf_writer *w, uint64_t off, const void *buf, size_t n) {
    DS_ASSERT(w->positioned && off >= w->hlen && off + n <= w->total);
    DS_TRY(ds_pwrite_full(w->fd, buf, n, off, w->tmp_path));
    __atomic_add_fetch(&w->data_done, n, __ATOMIC_RELAXED);
    return 0;
}

void ds_gguf_mapped_written(ds_gguf_writer *w, size_t n) {
    DS_ASSERT(w->positioned && w->map);
    __atomic_add_fetch(&w->data_done, n, __ATOMIC_RELAXED);
}

/* positioned mode: the data bytes of every tensor were written */
static int positioned_check(ds_gguf_writer *w) {
    uint64_t want = 0;
    for (int i = 0; i < w->n; i++) want += w->bytes[i];
    uint64_t got = __atomic_load_n(&w->data_done, __ATOMIC_ACQUIRE);
    if (got != want)
        return ds_fail(DS_EXIT_IO, "%s: internal error: %llu of %llu tensor data bytes written", w->tmp_path,
                       (unsigned long long)got, (unsigned long long)want);
    w->pos = w->total;
    return 0;
}

static void unmap(ds_gguf_writer *w) {
    if (w->map) munmap(w->map, (size_t)w->total);
    w->map = NULL;
}
const char *ds_gguf_tmp_path(const ds_gguf_writer *w) { return w->tmp_path; }

int ds_gguf_append(ds_gguf_writer *w, const void *buf, size_t n) {
    DS_ASSERT(!w->positioned);
    const uint8_t *p = buf;
    static const uint8_t zero[DS_GGUF_ALIGN];
    while (n > 0) {
        if (w->cur >= w->n)
            return ds_fail(DS_EXIT_IO, "%s: internal error: data beyond the last planned tensor", w->tmp_path);
        uint64_t left = w->bytes[w->cur] - w->cur_done;
        size_t k = n < left ? n : (size_t)left;
        DS_TRY(ds_write_full(w->fd, p, k, w->tmp_path));
        p += k; n -= k; w->cur_done += k; w->pos += k;
        if (w->cur_done == w->bytes[w->cur]) {
            uint64_t padn = pad_to(w->bytes[w->cur]) - w->bytes[w->cur];
            if (padn) DS_TRY(ds_write_full(w->fd, zero, (size_t)padn, w->tmp_path));
            w->pos += padn;
            w->cur++;
            w->cur_done = 0;
            /* zero-byte tensors have nothing to append: step over them */
            while (w->cur < w->n && w->bytes[w->cur] == 0) w->cur++;
        }
    }
    return 0;
}

int ds_gguf_commit(ds_gguf_writer *w, int no_sync) {
    int rc = 0;
    unmap(w); /* the stores stay in the page cache; fdatasync writes them like any other */
    if (w->positioned) rc = positioned_check(w);
    if (!rc && w->pos != w->total)
        rc = ds_fail(DS_EXIT_IO, "%s: internal error: %llu of %llu bytes written", w->tmp_path,
                     (unsigned long long)w->pos, (unsigned long long)w->total);
    if (!rc && !no_sync && fdatasync(w->fd) != 0) rc = DS_IO_FAIL(w->tmp_path, "fsync");
    if (close(w->fd) != 0 && !rc) rc = DS_IO_FAIL(w->tmp_path, "close");
    w->fd = -1;
    if (!rc && rename(w->tmp_path, w->final_path) != 0) rc = DS_IO_FAIL(w->final_path, "rename");
    if (rc) unlink(w->tmp_path);
    free(w->final_path); free(w->tmp_path); free(w->bytes); free(w->offset); free(w);
    return rc;
}

void ds_gguf_abort(ds_gguf_writer *w) {
    if (!w) return;
    unmap(w);
    if (w->fd >= 0) close(w->fd);
    if (w->tmp_path) unlink(w->tmp_path);
    free(w->final_path); free(w->tmp_path); free(w->bytes); free(w->offset); free(w);
}
