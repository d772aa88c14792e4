/* gguf_sampling.c - general.sampling.* from generation_config.json (see
 * gguf_sampling.h).
 *
 * The rules, from gguf-py 0.3.36 (metadata.py Metadata.load_generation_config,
 * Metadata.load, set_gguf_meta_model; gguf_writer.py add_sampling_*):
 * - the file is read when it is there; one that is not valid JSON counts as
 *   absent (the converter catches JSONDecodeError), so does an empty object;
 * - each key of the table below is written when its generation_config.json
 *   key is present and not null, in the table's order, right after
 *   general.type (before general.name);
 * - penalty_repeat is "penalty_repeat", else transformers' "repetition_penalty";
 * - top_k, penalty_last_n, mirostat are INT32, sequence a STRING, the rest
 *   FLOAT32 (a JSON integer or bool converts; true is 1, as in Python).
 * The converter fails on a value it cannot pack (a string for a number, a
 * fraction for an INT32); dsconv refuses those with exit 3 instead. */
#include "convert/gguf_sampling.h"
#include "convert/gguf_vocab.h"
#include "common/util.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { SK_STR, SK_I32, SK_F32 } sk_kind;

typedef struct {
    const char *key;        /* general.sampling.<key> */
    const char *json;       /* generation_config.json's key */
    const char *fallback;   /* read when json is absent (NULL: none) */
    sk_kind kind;
} sampling_key;

static const sampling_key SAMPLING_KEYS[] = {
    {"general.sampling.sequence", "sequence", NULL, SK_STR},
    {"general.sampling.top_k", "top_k", NULL, SK_I32},
    {"general.sampling.top_p", "top_p", NULL, SK_F32},
    {"general.sampling.min_p", "min_p", NULL, SK_F32},
    {"general.sampling.xtc_probability", "xtc_probability", NULL, SK_F32},
    {"general.sampling.xtc_threshold", "xtc_threshold", NULL, SK_F32},
    {"general.sampling.temp", "temperature", NULL, SK_F32},
    {"general.sampling.penalty_last_n", "penalty_last_n", NULL, SK_I32},
    {"general.sampling.penalty_repeat", "penalty_repeat", "repetition_penalty", SK_F32},
    {"general.sampling.mirostat", "mirostat", NULL, SK_I32},
    {"general.sampling.mirostat_tau", "mirostat_tau", NULL, SK_F32},
    {"general.sampling.mirostat_eta", "mirostat_eta", NULL, SK_F32},
};

#define GEN_CONFIG "generation_config.json"
#define GEN_CONFIG_MAX (1u << 20)

/* A JSON number or bool as Python sees it; 0 when it is neither. */
static int number_of(const cJSON *v, double *d) {
    if (cJSON_IsBool(v)) { *d = cJSON_IsTrue(v) ? 1 : 0; return 1; }
    if (cJSON_IsNumber(v)) { *d = v->valuedouble; return 1; }
    return 0;
}

static int add_one(ds_gguf_kv *kv, const char *dir, const sampling_key *s, const cJSON *v) {
    double d;
    switch (s->kind) {
    case SK_STR:
        if (!cJSON_IsString(v))
            return ds_fail(DS_EXIT_INPUT, "%s/%s: \"%s\" is not a string", dir, GEN_CONFIG, s->json);
        ds_gguf_kv_str(kv, s->key, v->valuestring);
        return 0;
    case SK_I32:
        if (!number_of(v, &d) || d != floor(d) || d < INT32_MIN || d > INT32_MAX)
            return ds_fail(DS_EXIT_INPUT, "%s/%s: \"%s\" is not an integer that fits int32 (%s is INT32)", dir,
                           GEN_CONFIG, s->json, s->key);
        ds_gguf_kv_i32(kv, s->key, (int32_t)d);
        return 0;
    case SK_F32:
        if (!number_of(v, &d) || fabs(d) > FLT_MAX)
            return ds_fail(DS_EXIT_INPUT, "%s/%s: \"%s\" is not a number within float32's range (%s is FLOAT32)",
                           dir, GEN_CONFIG, s->json, s->key);
        ds_gguf_kv_f32(kv, s->key, (float)d);
        return 0;
    }
    return 0;
}

int ds_gguf_sampling_add(ds_gguf_kv *kv, const char *dir) {
    char *path = ds_path_join(dir, GEN_CONFIG);
    int there = ds_path_exists(path);
    free(path);
    if (!there) return 0;
    char *text = NULL;
    size_t len = 0;
    DS_TRY(ds_gguf_side_text(dir, GEN_CONFIG, GEN_CONFIG_MAX, &text, &len));
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) {
        ds_warn("%s/%s: not valid JSON; no general.sampling.* keys written (as llama.cpp's converter)", dir, GEN_CONFIG);
        return 0;
    }
    int rc = 0;
    if (!cJSON_IsObject(j)) {
        /* the converter skips an empty value and fails on any other non-object */
        if (!((cJSON_IsArray(j) && !j->child) || (cJSON_IsString(j) && !j->valuestring[0]) || cJSON_IsNull(j) ||
              cJSON_IsFalse(j) || (cJSON_IsNumber(j) && j->valuedouble == 0)))
            rc = ds_fail(DS_EXIT_INPUT, "%s/%s: not a JSON object", dir, GEN_CONFIG);
        cJSON_Delete(j);
        return rc;
    }
    for (size_t i = 0; i < sizeof SAMPLING_KEYS / sizeof *SAMPLING_KEYS && !rc; i++) {
        const sampling_key *s = &SAMPLING_KEYS[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, s->json);
        if (!v && s->fallback) v = cJSON_GetObjectItemCaseSensitive(j, s->fallback);
        if (!v || cJSON_IsNull(v)) continue;
        rc = add_one(kv, dir, s, v);
    }
    cJSON_Delete(j);
    return rc;
}
