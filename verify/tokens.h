/* tokens.h - the token sequences verify runs: from a JSON file or the built-in
 * deterministic probe set. */
#ifndef DS_VERIFY_TOKENS_H
#define DS_VERIFY_TOKENS_H

#include "verify/forward.h"

/* Built-in probe set for a vocabulary of vocab ids: DS_VF_PROBE_SEQS sequences of
 * DS_VF_PROBE_LEN tokens (evenly spread ids, two seeded pseudo-random draws, a
 * repeating pattern), the same on every machine. */
#define DS_VF_PROBE_SEQS 4
#define DS_VF_PROBE_LEN 32
void ds_vf_tokens_probe(int vocab, ds_vf_tokens *t);

/* JSON: an array of non-empty arrays of token ids, or an object whose "tokens"
 * member is one (as the golden expected.json). Ids are checked against the
 * vocabulary by the forward pass. 0, DS_EXIT_INPUT (names the file) or DS_EXIT_IO. */
int ds_vf_tokens_load(const char *path, ds_vf_tokens *t);
int ds_vf_tokens_parse(const char *path, const char *json, ds_vf_tokens *t);

#endif
