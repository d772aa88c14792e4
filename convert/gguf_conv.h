/* gguf_conv.h - to-gguf: a Hugging Face DeepSeek-V3-family checkpoint to the
 * GGUF llama.cpp's convert_hf_to_gguf.py writes (architecture deepseek2;
 * deepseek32 for DeepSeek-V3.2).
 *
 * The plan (names, ggml types, shapes, order) and the metadata are decided
 * before a byte is written; then every tensor streams from the input
 * (FP8 dequantized exactly as fp8-to-bf16 does, BF16, F16 or F32) through
 * float32 rows into its ggml type, in bounded memory, into a temporary file
 * renamed when complete. The header fixes every tensor's offset, so the data
 * is written by parallel workers at those offsets (convert/gguf_stream.c). */
#ifndef DS_GGUF_CONV_H
#define DS_GGUF_CONV_H
#include "formats/hf.h"
#include "formats/gguf.h"

/* --io: how the tensor data reaches the file */
enum { DS_GG_IO_PWRITE = 0,      /* pwrite from each worker's buffer (default: the fastest measured, ext4 page cache) */
       DS_GG_IO_MMAP };          /* stored into the mapped file (pwrite where blocks cannot be reserved) */

typedef struct {
    ds_ggml_type type;           /* --type: weights of 2+ dimensions */
    const char **override_pat;   /* --type-for PATTERN=TYPE (fnmatch on the GGUF name), first match wins */
    ds_ggml_type *override_type;
    int n_override;
    int no_vocab;                /* --no-vocab: no tokenizer.* keys */
    const char *tokenizer_pre;   /* --tokenizer-pre: tokenizer.ggml.pre instead of the recognized name */
    const char *name;            /* --name: general.name (default: from the input directory's name) */
    int no_sync, quiet, progress;
    int use_cuda;                /* encode on the GPU (resolved --device) */
    const char *json_path;       /* --json FILE */
    int dry_run;                 /* --dry-run: print the plan, write nothing */
    int fp8_f32;                 /* --fp8-f32: FP8 read as float32 products, as the converter reads FP8
                                  * itself (default: rounded to BF16 first, as fp8-to-bf16 writes it) */
    int io;                      /* --io: DS_GG_IO_* */
    int reserve;                 /* --reserve: fallocate the whole file before writing */
    int writers;                 /* --writers N: pwrite by N threads fed by the workers (0: each worker writes;
                                  * the command's default is 1) */
    /* --device auto/cuda: resolved by worker 0 as the workers start, so that
     * CUDA's start-up (a good part of a second) overlaps the CPU workers'
     * units instead of preceding them; NULL: use_cuda is already resolved.
     * gpu_work 0: the GPU will be given no unit, so only check it is there
     * (no context: its start and teardown would buy nothing). */
    int (*resolve_device)(void *ctx, int gpu_work, int *use_cuda);
    void *resolve_ctx;
    int device_auto;             /* --device auto: where the GPU can take no unit (BF16 out of FP8 or
                                  * BF16: table look-ups) CUDA is not resolved at all; an explicit
                                  * --device cuda is still checked (exit 2 without a GPU), without a context */
} ds_gguf_opts;

typedef enum { DS_GG_PLAIN = 0, DS_GG_STACK, DS_GG_KB, DS_GG_VB } ds_gg_kind;

typedef struct {
    char *name;                  /* GGUF name */
    ds_ggml_type type;
    int ndim;
    int64_t ne[4];               /* ggml order */
    ds_gg_kind kind;
    int n_src;                   /* PLAIN/KB/VB: 1; STACK: experts */
    const ds_ckpt_entry **src;
    const ds_ckpt_entry **scale; /* FP8 block scales (NULL entries otherwise) */
    int block[2];
    int64_t rows, cols;          /* of each source as a 2-D [rows, cols] matrix */
} ds_gg_tensor;

typedef struct {
    ds_gg_tensor *t;
    int n, cap;
} ds_gg_plan;

/* Family check, then the tensor plan. 0 or DS_EXIT_INPUT / DS_EXIT_USAGE. */
int ds_gguf_plan(const ds_ckpt *c, const ds_gguf_opts *o, ds_gg_plan *p);
void ds_gguf_plan_free(ds_gg_plan *p);
/* The metadata: general.*, deepseek2.*, tokenizer.* (unless no_vocab). */
int ds_gguf_metadata(const ds_ckpt *c, const ds_gguf_opts *o, const ds_gg_plan *p, ds_gguf_kv *kv);
/* The whole command after option parsing. */
int ds_gguf_convert(const char *in, const char *out, const ds_gguf_opts *o);
#endif
