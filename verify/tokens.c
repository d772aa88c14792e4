/* tokens.c - token sequences for verify (see tokens.h). */
#include "verify/tokens.h"
#include "common/json.h"
#include "common/util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: a fixed, portable generator, so the probe set never changes. */
static uint64_t mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ds_vf_tokens_probe(int vocab, ds_vf_tokens *t) {
    memset(t, 0, sizeof *t);
    t->n_seq = DS_VF_PROBE_SEQS;
    t->total = (int64_t)DS_VF_PROBE_SEQS * DS_VF_PROBE_LEN;
    t->len = xmalloc(sizeof(int) * DS_VF_PROBE_SEQS);
    t->tok = xmalloc(sizeof(int32_t) * (size_t)t->total);
    uint64_t s1 = 0x5EED0001, s2 = 0x5EED0002, s3 = 0x5EED0003;
    int32_t cycle[4];
    for (int i = 0; i < 4; i++) cycle[i] = (int32_t)(mix(&s3) % (uint64_t)vocab);
    int64_t low = vocab < 1000 ? vocab : 1000; /* frequent (low) ids of a BPE vocabulary */
    for (int s = 0; s < DS_VF_PROBE_SEQS; s++) {
        t->len[s] = DS_VF_PROBE_LEN;
        for (int i = 0; i < DS_VF_PROBE_LEN; i++) {
            int32_t v;
            switch (s) {
            case 0: v = (int32_t)(((int64_t)(2 * i + 1) * vocab) / (2 * DS_VF_PROBE_LEN)); break; /* evenly spread */
            case 1: v = (int32_t)(mix(&s1) % (uint64_t)vocab); break;                           /* uniform */
            case 2: v = (int32_t)(mix(&s2) % (uint64_t)low); break;                             /* low ids */
            default: v = cycle[i % 4]; break;                                                   /* repeats */
            }
            t->tok[s * DS_VF_PROBE_LEN + i] = v;
        }
    }
}

int ds_vf_tokens_parse(const char *path, const char *json, ds_vf_tokens *t) {
    memset(t, 0, sizeof *t);
    cJSON *root;
    /* strict, as every JSON dsconv reads: duplicate keys and trailing bytes refused */
    DS_TRY(ds_json_parse(path, NULL, json, strlen(json), &root));
    const cJSON *arr = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "tokens") : root;
    int rc = 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: expected a non-empty JSON array of token-id arrays (or {\"tokens\": ...})", path);
        goto out;
    }
    int n = cJSON_GetArraySize(arr);
    int64_t total = 0;
    const cJSON *seq;
    int si = 0;
    cJSON_ArrayForEach(seq, arr) {
        if (!cJSON_IsArray(seq) || cJSON_GetArraySize(seq) == 0) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: sequence %d is not a non-empty array of token ids", path, si);
            goto out;
        }
        total += cJSON_GetArraySize(seq);
        si++;
    }
    t->n_seq = n;
    t->total = total;
    t->len = xmalloc(sizeof(int) * (size_t)n);
    t->tok = xmalloc(sizeof(int32_t) * (size_t)total);
    int s = 0;
    int64_t k = 0;
    cJSON_ArrayForEach(seq, arr) {
        t->len[s] = cJSON_GetArraySize(seq);
        const cJSON *v;
        int i = 0;
        cJSON_ArrayForEach(v, seq) {
            if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2147483647.0 ||
                floor(v->valuedouble) != v->valuedouble) {
                rc = ds_fail(DS_EXIT_INPUT, "%s: sequence %d, position %d: not a token id", path, s, i);
                goto out;
            }
            t->tok[k++] = (int32_t)v->valuedouble;
            i++;
        }
        s++;
    }
out:
    cJSON_Delete(root);
    if (rc) ds_vf_tokens_free(t);
    return rc;
}

int ds_vf_tokens_load(const char *path, ds_vf_tokens *t) {
    char *buf;
    memset(t, 0, sizeof *t);
    DS_TRY(ds_read_file_max(path, DS_MAX_INDEX_BYTES, &buf, NULL)); /* capped: ids are a few bytes each */
    int rc = ds_vf_tokens_parse(path, buf, t);
    free(buf);
    return rc;
}
