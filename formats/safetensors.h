/* safetensors.h - validating mmap reader and streaming writer.
 *
 * Reader: ds_st_open maps the file, checks every rule of the format before any
 * tensor is used, and reports the first violation naming file and tensor
 * (exit code DS_EXIT_INPUT). Data offsets are relative to the data section.
 *
 * Writer: the header is computed from the planned tensor list, so the file
 * size and every tensor's offset are known before a byte of data is written;
 * data then arrives in plan order (ds_stw_append) or at any planned offset
 * (ds_stw_pwrite). The file lives under a hidden temporary name in the output
 * directory until ds_stw_commit fsyncs and renames it. */
#ifndef DS_SAFETENSORS_H
#define DS_SAFETENSORS_H

#include <stdint.h>
#include <stddef.h>
#include "formats/dtype.h"

#define DS_MAX_DIMS 8
#define DS_ST_MAX_HEADER (100u << 20) /* 100 MiB, as the format's reference reader */
/* Largest product of the non-zero dimensions (times element size) of a
 * zero-element tensor: 256 MiB, far above any real empty tensor. */
#define DS_ST_MAX_EMPTY_BYTES (256ull << 20)

typedef struct {
    char *name;
    ds_dtype dtype;
    int ndim;
    int64_t shape[DS_MAX_DIMS];
    uint64_t begin, end;   /* byte offsets in the data section */
} ds_tensor_info;

static inline int64_t ds_tensor_numel(const ds_tensor_info *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}
/* rows = shape[0] (1 for scalars), cols = product of the rest. */
static inline int64_t ds_tensor_rows(const ds_tensor_info *t) { return t->ndim ? t->shape[0] : 1; }
static inline int64_t ds_tensor_cols(const ds_tensor_info *t) {
    int64_t n = 1;
    for (int i = 1; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

typedef struct {
    char *path;
    int fd;
    const uint8_t *map;      /* whole file, read-only */
    uint64_t file_size;
    uint64_t header_len;     /* JSON bytes */
    uint64_t data_offset;    /* 8 + header_len: where the data section starts in the file */
    ds_tensor_info *tensors; /* in data-offset order */
    int n_tensors;
    int *by_name;            /* indices into tensors, sorted by name (for lookups) */
    char **meta_keys, **meta_vals;
    int n_meta;
} ds_st_file;

/* Opens and validates. 0, DS_EXIT_INPUT (malformed; message names file/tensor) or DS_EXIT_IO. */
int ds_st_open(const char *path, ds_st_file *f);
/* Validates a header held in memory (used by ds_st_open and by the fuzzer).
 * file_size is the total file size the header must fit. */
int ds_st_parse_header(const char *path, const char *json, size_t json_len,
                       uint64_t data_size, ds_st_file *f);
void ds_st_close(ds_st_file *f);
const ds_tensor_info *ds_st_find(const ds_st_file *f, const char *name);
static inline const uint8_t *ds_st_data(const ds_st_file *f, const ds_tensor_info *t) {
    return f->map + f->data_offset + t->begin;
}
static inline uint64_t ds_st_file_offset(const ds_st_file *f, const ds_tensor_info *t) {
    return f->data_offset + t->begin;
}

/* ---- writer ---- */
typedef struct {
    const char *name;
    ds_dtype dtype;
    int ndim;
    int64_t shape[DS_MAX_DIMS];
} ds_tensor_desc;

typedef struct ds_st_writer ds_st_writer;

/* Plans the file: builds the header (tensors in the given order, contiguous,
 * {"format":"pt"} metadata, header padded with spaces to a multiple of 8),
 * creates the temporary file and writes the header. */
int ds_stw_open(ds_st_writer **w, const char *final_path, const ds_tensor_desc *tensors, int n);
/* The same with the file's permission bits (umask applies), e.g. no wider than the input's. */
int ds_stw_open_mode(ds_st_writer **w, const char *final_path, const ds_tensor_desc *tensors, int n, unsigned mode);
/* Builds just the header bytes (8-byte length + JSON), for resume checks. malloc'd. */
int ds_st_build_header(const ds_tensor_desc *tensors, int n, uint8_t **out, size_t *len,
                       uint64_t *data_size);
/* Absolute file offset where tensor i's data begins. */
uint64_t ds_stw_tensor_offset(const ds_st_writer *w, int i);
uint64_t ds_stw_tensor_bytes(const ds_st_writer *w, int i);
uint64_t ds_stw_total_size(const ds_st_writer *w);
/* Appends at the current end (sequential writing in plan order). */
int ds_stw_append(ds_st_writer *w, const void *buf, size_t n);
/* Writes at an absolute file offset (any order). */
int ds_stw_pwrite(ds_st_writer *w, uint64_t off, const void *buf, size_t n);
/* Writes `rows` pieces of `width` bytes, taken `stride` bytes apart at buf,
 * one after the other from absolute offset off (a column slice of a chunk of
 * rows, without gathering it first: pwritev). Safe from several threads at
 * once for disjoint ranges, as ds_stw_pwrite. */
int ds_stw_pwrite_rows(ds_st_writer *w, uint64_t off, const uint8_t *buf, size_t width, int64_t rows, size_t stride);
/* Checks size, fsyncs, renames to the final name, frees w. */
int ds_stw_commit(ds_st_writer *w);
/* Removes the temporary file, frees w. Safe on NULL. */
void ds_stw_abort(ds_st_writer *w);
/* fsync before the rename (default on). */
void ds_stw_set_sync(ds_st_writer *w, int sync);
const char *ds_stw_tmp_path(const ds_st_writer *w);
int ds_stw_fd(const ds_st_writer *w);

#endif
