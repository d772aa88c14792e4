/* manifest.h - XXH3-128 of every tensor and every file, as JSON:
 * {"format": "dsconv-manifest-1", "hash": "xxh3-128",
 *  "files": {FILE: {"size": N, "xxh3_128": HEX, "tensors": {NAME: HEX, ...}}, ...}}
 * Small (non-safetensors) files have no "tensors". Built while writing by the
 * executor, or by `dsconv manifest` from a checkpoint on disk. */
#ifndef DS_MANIFEST_H
#define DS_MANIFEST_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct { cJSON *root, *files, *last; } ds_manifest;

void ds_manifest_init(ds_manifest *m);
void ds_manifest_free(ds_manifest *m);
/* Returns the file's object (created on first use). */
cJSON *ds_manifest_file(ds_manifest *m, const char *file);
void ds_manifest_set_file(ds_manifest *m, const char *file, uint64_t size, const char hex[33]);
void ds_manifest_set_tensor(ds_manifest *m, const char *file, const char *tensor, const char hex[33]);
int ds_manifest_write(const ds_manifest *m, const char *path);
/* Hashes a whole file on disk (and, for .safetensors, each tensor) into m. */
int ds_manifest_add_path(ds_manifest *m, const char *path, const char *name);
/* Adds every file of the directory dir, hidden ones included (a dot-named
 * shard is still a shard), in name order; subdirectories are not part of a checkpoint. */
int ds_manifest_add_dir(ds_manifest *m, const char *dir);
/* Loads a manifest file; DS_EXIT_INPUT if it is not one. */
int ds_manifest_load(const char *path, ds_manifest *m);
/* The same from text in memory (strict JSON: no duplicate keys, nothing after). */
int ds_manifest_parse(const char *path, const char *text, size_t len, ds_manifest *m);
/* Compares the checkpoint directory dir against m: every file and tensor
 * hashed again; prints each difference; 0 same, DS_EXIT_MISMATCH otherwise. */
int ds_manifest_check(const ds_manifest *m, const char *dir);

#endif
