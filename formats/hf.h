/* hf.h - a Hugging Face checkpoint: a directory with model.safetensors.index.json
 * and its shards, or a single .safetensors file (alone or in a directory).
 *
 * ds_ckpt_open opens and validates every shard and checks the index against the
 * shards (every mapped tensor exists in its file, no tensor in two files, every
 * shard tensor is in the index, every mapped file exists), so commands find
 * input problems before they write anything. */
#ifndef DS_HF_H
#define DS_HF_H

#include "formats/safetensors.h"
#include "formats/config.h"

typedef struct {
    const char *name;            /* points into the shard's tensor info */
    int file;                    /* index into ds_ckpt.shards */
    const ds_tensor_info *info;
} ds_ckpt_entry;

typedef struct {
    char *dir;                   /* the directory (for a lone file: its directory) */
    int has_index;               /* model.safetensors.index.json was used */
    int mp_layout;               /* no index, rank files model{i}-mp{N}: replicated names allowed */
    int n_shards;
    char **shard_names;          /* basenames, in index order of first appearance / sorted */
    ds_st_file *shards;
    ds_ckpt_entry *entries;      /* every tensor, sorted by name */
    int n_entries;
    int has_config;
    ds_config config;
    uint64_t total_bytes;        /* sum of shard file sizes */
    int lone_file;               /* the input was one .safetensors file (dir is its folder) */
    int partial;                 /* ... and an index beside it: one shard of a larger checkpoint */
    unsigned file_mode;          /* permission bits every shard has (AND of all): outputs get no more */
} ds_ckpt;

/* Shards that keep an open descriptor; the rest are read through their map. */
#define DS_MAX_SHARD_FDS 256

/* path: a directory or a .safetensors file. 0, DS_EXIT_INPUT or DS_EXIT_IO. */
int ds_ckpt_open(const char *path, ds_ckpt *c);
void ds_ckpt_close(ds_ckpt *c);
const ds_ckpt_entry *ds_ckpt_find(const ds_ckpt *c, const char *name);
static inline const uint8_t *ds_ckpt_data(const ds_ckpt *c, const ds_ckpt_entry *e) {
    return ds_st_data(&c->shards[e->file], e->info);
}

/* Validates an index JSON text against a set of opened shards; used by
 * ds_ckpt_open and the fuzzer. */
int ds_index_check(const char *index_path, const char *json, ds_ckpt *c);

/* config.json's counts against the tensors present: num_hidden_layers at
 * least 1 and at most the layers present, layers + MTP layers covering every
 * layer present, and every size field under a cap, before any reader
 * allocates by them (for one shard given alone: the caps only). Called by
 * ds_ckpt_open; DS_EXIT_INPUT naming config.json. */
int ds_ckpt_check_counts(const ds_ckpt *c);

/* "model.layers.N.<rest>" -> N, or -1 when the name is not a layer tensor. */
int ds_layer_of(const char *name);

#endif
