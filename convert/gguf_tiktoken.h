/* gguf_tiktoken.h - the tokenizer.* keys of a GGUF from a tiktoken tokenizer
 * (tiktoken.model + tokenizer_config.json, no tokenizer.json): Kimi-K2,
 * Kimi-K2-Thinking and Moonlight, written as llama.cpp's converter writes
 * them (model "gpt2", pre "kimi-k2", the ranks as GPT-2 byte strings, the
 * special and reserved tokens, merges rebuilt by rank-limited BPE). */
#ifndef DS_GGUF_TIKTOKEN_H
#define DS_GGUF_TIKTOKEN_H
#include "formats/gguf.h"

/* dir: the checkpoint directory (it has tiktoken.model); vocab_size from
 * config.json; pre: --tokenizer-pre (NULL: recognize Kimi's tokenizer code;
 * anything but "kimi-k2" is DS_EXIT_USAGE). 0, DS_EXIT_INPUT naming the file
 * and what is wrong or not understood, or DS_EXIT_USAGE. */
int ds_gguf_tiktoken_add(ds_gguf_kv *kv, const char *dir, int vocab_size, const char *pre);

/* The rank-limited BPE of one token, as the converter rebuilds merges: the
 * token's bytes split into single bytes, then the adjacent pair whose join
 * has the lowest rank (leftmost on ties) merged while that rank is below
 * max_rank. rank(tok, n, ctx) gives a byte string's rank or -1. Fills
 * cut[0..parts] with part boundaries (cut[0] = 0, cut[parts] = n; cut and
 * scratch hold n + 1 entries) and returns the number of parts. */
typedef int64_t (*ds_bpe_rank_fn)(const uint8_t *tok, size_t n, void *ctx);
int ds_bpe_parts(const uint8_t *tok, size_t n, int64_t max_rank, ds_bpe_rank_fn rank, void *ctx, uint32_t *cut,
                 int64_t *scratch);
#endif
