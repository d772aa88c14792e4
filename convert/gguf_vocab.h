/* gguf_vocab.h - the tokenizer.* keys of a GGUF, from a checkpoint's
 * tokenizer.json and tokenizer_config.json, as llama.cpp's converter writes
 * them for a GPT-2-style BPE tokenizer (DeepSeek-V3/R1/V3.1): model "gpt2",
 * the pre-tokenizer name, tokens (vocab_size of them, "[PAD<i>]" for unused
 * ids), token types, merges, bos/eos/pad ids, add_bos/add_eos, chat template. */
#ifndef DS_GGUF_VOCAB_H
#define DS_GGUF_VOCAB_H
#include "formats/gguf.h"

/* dir: the checkpoint directory; vocab_size from config.json. 0, or
 * DS_EXIT_INPUT naming the file and what is wrong or not understood. */
/* pre: tokenizer.ggml.pre to write instead of the recognized name (NULL: recognize). */
int ds_gguf_vocab_add(ds_gguf_kv *kv, const char *dir, int vocab_size, const char *pre);
/* DIR/NAME parsed as JSON, read as a side file of the checkpoint (a link
 * only inside it, strict JSON, capped). NULL with *rc 0 when absent and not
 * required; NULL with *rc DS_EXIT_INPUT naming the file when required. */
#include <cjson/cJSON.h>
cJSON *ds_gguf_side_json(const char *dir, const char *name, int required, int *rc);

/* gguf-py SpecialVocab's pieces, shared by both tokenizer kinds. */
#define DS_N_SPECIAL 7
/* bos eos unk sep pad cls mask, and their tokenizer.ggml.*_token_id keys (cls: none) */
extern const char *const ds_special_types[DS_N_SPECIAL], *const ds_special_keys[DS_N_SPECIAL];
/* DIR/NAME read whole (at most max bytes) as a side file of the checkpoint. */
int ds_gguf_side_text(const char *dir, const char *name, size_t max, char **text, size_t *len);
/* The chat template: tokenizer_config.json's chat_template when the key is there (null: none), else
 * chat_template.jinja, else chat_template.json's; named template lists are DS_EXIT_INPUT. *out malloc'd or NULL. */
int ds_gguf_chat_template(const char *dir, const cJSON *tc, char **out);
/* config.json's *_token_id (else text_config's; a bool counts as 0/1, as in Python) for each type not yet
 * set, in type order: set[s], id[s], order[(*n_order)++] = s. Negative: DS_EXIT_INPUT. */
int ds_gguf_config_token_ids(const char *dir, int *set, int64_t *id, int *order, int *n_order);
#endif
