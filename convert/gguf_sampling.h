/* gguf_sampling.h - the general.sampling.* keys of a GGUF: the sampling
 * defaults of the checkpoint's generation_config.json, as llama.cpp's
 * converter writes them (gguf-py Metadata.load / set_gguf_meta_model). */
#ifndef DS_GGUF_SAMPLING_H
#define DS_GGUF_SAMPLING_H
#include "formats/gguf.h"

/* Adds the keys generation_config.json in dir sets (none when the file is
 * absent or not JSON, as the converter). 0, or DS_EXIT_INPUT naming the file
 * and key when a value is of a type the converter cannot write. */
int ds_gguf_sampling_add(ds_gguf_kv *kv, const char *dir);
#endif
