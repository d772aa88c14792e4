/* gguf.h - GGUF v3 (llama.cpp's model file): the ggml type table, a metadata
 * (key/value) builder and a streaming writer.
 *
 * The layout, as llama.cpp's gguf-py writes it: "GGUF", version 3, tensor
 * count, key/value count; the key/values in the order they were added; one
 * info per tensor (name, dims innermost first, ggml type, data offset); zero
 * padding to the alignment (32); then each tensor's data, zero-padded to the
 * alignment. Because the header holds every offset, it is computed from the
 * planned tensor list before any data is written; data then arrives in plan
 * order (ds_gguf_append), or at its known offsets from any number of threads
 * (positioned mode, below: to-gguf). The file lives under a hidden temporary
 * name beside the final one until ds_gguf_commit checks its size (or, when
 * positioned, that every tensor byte was written), fsyncs and renames it. */
#ifndef DS_GGUF_H
#define DS_GGUF_H
#include <stddef.h>
#include <stdint.h>

#define DS_GGUF_ALIGN 32

/* ggml tensor types dsconv writes (values are ggml's enum ggml_type). */
typedef enum {
    DS_GGML_F32 = 0,
    DS_GGML_F16 = 1,
    DS_GGML_Q5_0 = 6,
    DS_GGML_Q8_0 = 8,
    DS_GGML_Q4_K = 12,
    DS_GGML_Q6_K = 14,
    DS_GGML_BF16 = 30,
} ds_ggml_type;

typedef struct {
    ds_ggml_type type;
    const char *name;       /* ggml's spelling: "f32", "q8_0", ... */
    int block;              /* elements per block (1 for plain floats) */
    int block_bytes;        /* bytes per block */
    int file_type;          /* llama_ftype of a file made of this type ("general.file_type") */
} ds_ggml_traits;

/* NULL for a type not in the table. */
const ds_ggml_traits *ds_ggml_info(ds_ggml_type t);
/* By name (case-insensitive); -1 when unknown. */
int ds_ggml_from_name(const char *name, ds_ggml_type *t);
/* Bytes of a row of n elements (n a multiple of the block). */
static inline uint64_t ds_ggml_row_bytes(const ds_ggml_traits *tr, int64_t n) {
    return (uint64_t)(n / tr->block) * (uint64_t)tr->block_bytes;
}

/* ---- metadata ---- */
enum { DS_GGUF_U8 = 0, DS_GGUF_I8, DS_GGUF_U16, DS_GGUF_I16, DS_GGUF_U32, DS_GGUF_I32, DS_GGUF_F32,
       DS_GGUF_BOOL, DS_GGUF_STRING, DS_GGUF_ARRAY, DS_GGUF_U64, DS_GGUF_I64, DS_GGUF_F64 };

/* Key/values in insertion order. Setting a key again replaces its value
 * and keeps its position, as gguf-py's writer does (llama.cpp's converter
 * relies on it: deepseek2.attention.key_length is first written from
 * head_dim, then overwritten with kv_lora_rank + qk_rope_head_dim). */
typedef struct {
    char **keys;
    uint8_t **vals;        /* serialized value: type (u32) then the value */
    size_t *vlen;
    int n, cap;
} ds_gguf_kv;

void ds_gguf_kv_init(ds_gguf_kv *kv);
void ds_gguf_kv_free(ds_gguf_kv *kv);
int ds_gguf_kv_has(const ds_gguf_kv *kv, const char *key);
/* Removes key (no-op when absent); the keys after it move up. */
void ds_gguf_kv_del(ds_gguf_kv *kv, const char *key);
void ds_gguf_kv_str(ds_gguf_kv *kv, const char *key, const char *v);
void ds_gguf_kv_u32(ds_gguf_kv *kv, const char *key, uint32_t v);
void ds_gguf_kv_i32(ds_gguf_kv *kv, const char *key, int32_t v);
void ds_gguf_kv_f32(ds_gguf_kv *kv, const char *key, float v);
void ds_gguf_kv_bool(ds_gguf_kv *kv, const char *key, int v);
void ds_gguf_kv_arr_str(ds_gguf_kv *kv, const char *key, char *const *v, int64_t n);
void ds_gguf_kv_arr_i32(ds_gguf_kv *kv, const char *key, const int32_t *v, int64_t n);

/* ---- writer ---- */
typedef struct {
    const char *name;
    ds_ggml_type type;
    int ndim;
    int64_t ne[4];          /* ggml order: ne[0] is the innermost (row) length */
} ds_gguf_tensor_desc;

uint64_t ds_gguf_tensor_bytes(const ds_gguf_tensor_desc *d);

typedef struct ds_gguf_writer ds_gguf_writer;
/* Builds the header, creates the temporary file and writes the header. */
int ds_gguf_open(ds_gguf_writer **w, const char *final_path, const ds_gguf_kv *kv,
                 const ds_gguf_tensor_desc *t, int n);
/* Appends data of the current tensor; after the last byte of a tensor its
 * padding is written. Writes must come in plan order. */
int ds_gguf_append(ds_gguf_writer *w, const void *buf, size_t n);
uint64_t ds_gguf_total_size(const ds_gguf_writer *w);
/* File offset of tensor i's data (the header's offsets are relative to the
 * data section; this one is absolute). */
uint64_t ds_gguf_data_offset(const ds_gguf_writer *w, int i);

/* Positioned mode, instead of ds_gguf_append: every offset is known from the
 * plan, so any number of threads write any tensor's bytes in any order. The
 * file gets its final size (the padding is never written: zeros). With map,
 * where the file system reserves the blocks (fallocate), the whole file is
 * mapped shared and *base points at it: encoders store straight into the page
 * cache, in parallel and without a copy; then report each store's size with
 * ds_gguf_mapped_written. Otherwise *base is NULL: write with ds_gguf_pwrite
 * (thread-safe). ds_gguf_commit then checks that exactly the tensors' bytes
 * were written (it unmaps before syncing; the stores are ordinary dirty pages). */
/* reserve: fallocate the data's blocks first also without map, so a full disk
 * fails here, before any encoding (where the file system can; else ignored). */
int ds_gguf_begin_positioned(ds_gguf_writer *w, int map, int reserve, uint8_t **base);
int ds_gguf_pwrite(ds_gguf_writer *w, uint64_t off, const void *buf, size_t n);
void ds_gguf_mapped_written(ds_gguf_writer *w, size_t n);
/* Checks every planned byte was written, fsyncs (unless no_sync), renames. Frees w. */
int ds_gguf_commit(ds_gguf_writer *w, int no_sync);
/* Removes the temporary file, frees w. NULL is fine. */
void ds_gguf_abort(ds_gguf_writer *w);
const char *ds_gguf_tmp_path(const ds_gguf_writer *w);
#endif
