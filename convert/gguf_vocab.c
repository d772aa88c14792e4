/* gguf_vocab.c - tokenizer.* keys from tokenizer.json (see gguf_vocab.h).
 *
 * Rules (llama.cpp convert_hf_to_gguf.py get_vocab_base/_set_vocab_gpt2 and
 * gguf-py vocab.py SpecialVocab, llama-cpp-python 0.3.36 sdist):
 * - token i < vocab_size: the vocabulary's token with id i (added tokens
 *   included); "[PAD<i>]" of type UNUSED where no token has the id.
 * - types: added tokens CONTROL when "special" or when they look special
 *   ("<|...|>", "<｜...｜>", "<pad>", ...), else USER_DEFINED with U+2581 made
 *   a space; other tokens NORMAL.
 * - pre-tokenizer name: the converter tells by hashing how the tokenizer
 *   splits a text; dsconv cannot run the tokenizer, so it recognizes the
 *   pre_tokenizer section itself: DeepSeek-V3's (three Split regexes and
 *   ByteLevel) is "deepseek-v3"; anything else is refused.
 * - merges from model.merges (strings, or pairs joined by a space with
 *   spaces inside a part written as U+0120).
 * - special ids: tokenizer_config.json's bos/eos/unk/sep/pad/cls/mask token
 *   contents looked up among added_tokens, then config.json's *_token_id for
 *   those still unset; add_bos/add_eos: a ByteLevel post-processor sets both
 *   false first, tokenizer_config's add_*_token only fills what is unset.
 * A checkpoint with tiktoken.model and no tokenizer.json (Kimi-K2, Moonlight)
 * goes to gguf_tiktoken.c instead. */
#include "convert/gguf_vocab.h"
#include "convert/gguf_tiktoken.h"
#include "common/hash.h"
#include "common/util.h"
#include "common/fsafe.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_UNUSED = 5 };

cJSON *ds_gguf_side_json(const char *dir, const char *name, int required, int *rc) {
    char *path = ds_path_join(dir, name);
    *rc = 0;
    if (!ds_path_exists(path)) {
        if (required) *rc = ds_fail(DS_EXIT_INPUT, "%s: not found", path);
        free(path);
        return NULL;
    }
    /* A side file: followed through a link only inside the checkpoint (or its
     * HF cache blobs/), strict JSON, capped (common/fsafe.h, common/json.h). */
    ds_tree t;
    char *real = NULL;
    int is_dir = 0;
    cJSON *j = NULL;
    *rc = ds_tree_init(&t, dir);
    if (!*rc) *rc = ds_tree_member(&t, name, &real, &is_dir);
    if (!*rc && is_dir) *rc = ds_fail(DS_EXIT_INPUT, "%s: is a directory", path);
    if (!*rc) *rc = ds_json_load(real, DS_MAX_INDEX_BYTES, &j);
    ds_tree_free(&t);
    free(real);
    free(path);
    return j;
}

static int starts_ends(const char *s, const char *a, const char *b) {
    size_t n = strlen(s), na = strlen(a), nb = strlen(b);
    return n >= na + nb && !strncmp(s, a, na) && !strcmp(s + n - nb, b);
}
/* TextModel.does_token_look_special */
static int looks_special(const char *t) {
    return !strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") || !strcmp(t, "[@BOS@]") ||
           starts_ends(t, "<|", "|>") || starts_ends(t, "<\xef\xbd\x9c", "\xef\xbd\x9c>") ||
           starts_ends(t, "<unused", ">");
}

/* Replaces every U+2581 (E2 96 81) with a space. */
static char *unspace(const char *s) {
    char *o = xmalloc(strlen(s) + 1), *p = o;
    while (*s) {
        if ((unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x96 && (unsigned char)s[2] == 0x81) {
            *p++ = ' '; s += 3;
        } else *p++ = *s++;
    }
    *p = 0;
    return o;
}

/* A merges entry of the pair form: spaces inside a part become U+0120. */
static char *join_pair(const char *a, const char *b) {
    size_t n = (strlen(a) + strlen(b)) * 2 + 2;
    char *o = xmalloc(n), *p = o;
    for (int k = 0; k < 2; k++) {
        const char *s = k ? b : a;
        if (k) *p++ = ' ';
        for (; *s; s++) {
            if (*s == ' ') { *p++ = (char)0xC4; *p++ = (char)0xA0; }
            else *p++ = *s;
        }
    }
    *p = 0;
    return o;
}

/* XXH3-64 of the unformatted pre_tokenizer section of DeepSeek-V3/R1/V3.1's
 * tokenizer.json (three Split regexes, then ByteLevel without regex). */
#define DEEPSEEK_V3_PRE_XXH3 0x6cf4031051a05b99ULL

static const char *pre_name(const cJSON *pre, uint64_t *h) {
    char *s = cJSON_PrintUnformatted(pre);
    *h = s ? ds_xxh3_64(s, strlen(s)) : 0;
    free(s);
    if (*h == DEEPSEEK_V3_PRE_XXH3) return "deepseek-v3";
    return NULL;
}

static const char *SPECIAL_TYPES[] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
static const char *SPECIAL_KEYS[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                     "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
                                     "tokenizer.ggml.padding_token_id", NULL /* cls: no key */,
                                     "tokenizer.ggml.mask_token_id"};
#define N_SPECIAL 7

int ds_gguf_vocab_add(ds_gguf_kv *kv, const char *dir, int vocab_size, const char *pre_override) {
    int rc;
    /* Kimi-K2 and Moonlight ship tiktoken.model and no tokenizer.json: the
     * converter's other branch (convert/gguf_tiktoken.c) */
    char *tjp = ds_path_join(dir, "tokenizer.json"), *tkp = ds_path_join(dir, "tiktoken.model");
    int tiktoken = !ds_path_exists(tjp) && ds_path_exists(tkp);
    free(tjp); free(tkp);
    if (tiktoken) return ds_gguf_tiktoken_add(kv, dir, vocab_size, pre_override);
    cJSON *tj = ds_gguf_side_json(dir, "tokenizer.json", 1, &rc);
    if (!tj) {
        if (rc == DS_EXIT_INPUT) ds_err("to-gguf needs the checkpoint's tokenizer.json or tiktoken.model (or --no-vocab for a file without one)");
        return rc;
    }
    cJSON *tc = ds_gguf_side_json(dir, "tokenizer_config.json", 0, &rc);
    if (rc) { cJSON_Delete(tj); return rc; }
    cJSON *cfg = ds_gguf_side_json(dir, "config.json", 0, &rc);
    if (rc) { cJSON_Delete(tj); cJSON_Delete(tc); return rc; }
    char *tpath = ds_path_join(dir, "tokenizer.json");
    char **tokens = NULL;
    int32_t *types = NULL;
    char **merges = NULL;
    int n_merges = 0;
    rc = 0;

    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tj, "model");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsString(mtype) || strcmp(mtype->valuestring, "BPE") || !cJSON_IsObject(vocab)) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: model.type is not BPE with a vocab object; to-gguf writes GPT-2-style BPE "
                     "tokenizers only (use --no-vocab to write the file without one)", tpath);
        goto done;
    }
    uint64_t ph;
    const char *pre = pre_name(cJSON_GetObjectItemCaseSensitive(tj, "pre_tokenizer"), &ph);
    if (pre_override) pre = pre_override;
    if (!pre) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: pre_tokenizer (xxh3 %016llx) is not DeepSeek-V3's; llama.cpp names "
                     "pre-tokenizers by behaviour and dsconv knows only that one (--tokenizer-pre NAME to name it, --no-vocab to leave the tokenizer out)", tpath,
                     (unsigned long long)ph);
        goto done;
    }
    tokens = xcalloc(vocab_size, sizeof *tokens);
    types = xcalloc(vocab_size, sizeof *types);
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= vocab_size) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: token %s: id outside [0, vocab_size %d)", tpath, it->string, vocab_size);
            goto done;
        }
        int id = it->valueint;
        free(tokens[id]);
        tokens[id] = xstrdup(it->string);
        types[id] = TOK_NORMAL;
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
    cJSON_ArrayForEach(it, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(content) || id->valuedouble < 0 || id->valuedouble >= vocab_size) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: added_tokens: an entry without id/content or with an id outside "
                         "[0, vocab_size %d)", tpath, vocab_size);
            goto done;
        }
        int i = id->valueint;
        int special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special"));
        free(tokens[i]);
        if (special || looks_special(content->valuestring)) {
            tokens[i] = xstrdup(content->valuestring);
            types[i] = TOK_CONTROL;
        } else {
            tokens[i] = unspace(content->valuestring);
            types[i] = TOK_USER_DEFINED;
        }
    }
    for (int i = 0; i < vocab_size; i++)
        if (!tokens[i]) {
            char b[32];
            snprintf(b, sizeof b, "[PAD%d]", i);
            tokens[i] = xstrdup(b);
            types[i] = TOK_UNUSED;
        }

    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(model, "merges");
    int nm = cJSON_GetArraySize(mj);
    merges = xcalloc(nm ? nm : 1, sizeof *merges);
    cJSON_ArrayForEach(it, mj) {
        if (cJSON_IsString(it)) merges[n_merges++] = xstrdup(it->valuestring);
        else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                 cJSON_IsString(cJSON_GetArrayItem(it, 1)))
            merges[n_merges++] = join_pair(cJSON_GetArrayItem(it, 0)->valuestring, cJSON_GetArrayItem(it, 1)->valuestring);
        else {
            rc = ds_fail(DS_EXIT_INPUT, "%s: model.merges: an entry is neither a string nor a pair of strings", tpath);
            goto done;
        }
    }

    /* add_bos/add_eos from the post-processor: ByteLevel sets both false;
     * the template forms llama.cpp parses are not handled here: refuse. */
    int add_set[N_SPECIAL] = {0}, add_val[N_SPECIAL] = {0}, add_order[N_SPECIAL], n_add = 0;
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(tj, "post_processor");
    if (pp && !cJSON_IsNull(pp)) {
        const cJSON *procs = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        const cJSON *one = pp;
        int n = procs ? cJSON_GetArraySize(procs) : 1;
        for (int k = 0; k < n; k++) {
            if (procs) one = cJSON_GetArrayItem(procs, k);
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(one, "type");
            if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "ByteLevel")) {
                for (int s = 0; s < 2; s++)
                    if (!add_set[s]) { add_set[s] = 1; add_val[s] = 0; add_order[n_add++] = s; }
            } else {
                rc = ds_fail(DS_EXIT_INPUT, "%s: post_processor %s is not supported by to-gguf (only ByteLevel)", tpath,
                             cJSON_IsString(ty) ? ty->valuestring : "?");
                goto done;
            }
        }
    }
    int sid_set[N_SPECIAL] = {0}, sid[N_SPECIAL], sid_order[2 * N_SPECIAL], n_sid = 0;
    const char *chat = NULL;
    char *chat_alt = NULL;
    if (tc) {
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(tc, "chat_template");
        if (ct && !cJSON_IsNull(ct)) {
            if (!cJSON_IsString(ct)) {
                rc = ds_fail(DS_EXIT_INPUT, "%s/tokenizer_config.json: chat_template is not a string (lists of named "
                             "templates are not supported by to-gguf)", dir);
                goto done;
            }
            chat = ct->valuestring;
        } else {
            char *jp = ds_path_join(dir, "chat_template.jinja");
            size_t l;
            if (ds_path_exists(jp) && ds_read_file(jp, &chat_alt, &l) == 0) chat = chat_alt;
            free(jp);
        }
        for (int s = 0; s < N_SPECIAL; s++) {
            char key[32];
            snprintf(key, sizeof key, "add_%s_token", SPECIAL_TYPES[s]);
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(tc, key);
            if (cJSON_IsBool(a) && !add_set[s]) { add_set[s] = 1; add_val[s] = cJSON_IsTrue(a); add_order[n_add++] = s; }
            snprintf(key, sizeof key, "%s_token", SPECIAL_TYPES[s]);
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(tc, key);
            const char *content = NULL;
            if (cJSON_IsString(e)) content = e->valuestring;
            else if (cJSON_IsObject(e) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "content")))
                content = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
            if (!content) continue;
            cJSON_ArrayForEach(it, added) {
                const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
                if (cJSON_IsString(c) && !strcmp(c->valuestring, content)) {
                    if (!sid_set[s]) { sid_set[s] = 1; sid[s] = cJSON_GetObjectItemCaseSensitive(it, "id")->valueint; sid_order[n_sid++] = s; }
                    break;
                }
            }
        }
    }
    if (cfg)
        for (int s = 0; s < N_SPECIAL; s++) {
            char key[32];
            snprintf(key, sizeof key, "%s_token_id", SPECIAL_TYPES[s]);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
            if (cJSON_IsNumber(v) && v->valuedouble == (double)v->valueint && !sid_set[s]) {
                if (v->valueint < 0) { rc = ds_fail(DS_EXIT_INPUT, "%s/config.json: %s is negative", dir, key); goto done; }
                sid_set[s] = 1; sid[s] = v->valueint; sid_order[n_sid++] = s;
            }
        }

    ds_gguf_kv_str(kv, "tokenizer.ggml.model", "gpt2");
    ds_gguf_kv_str(kv, "tokenizer.ggml.pre", pre);
    ds_gguf_kv_arr_str(kv, "tokenizer.ggml.tokens", tokens, vocab_size);
    ds_gguf_kv_arr_i32(kv, "tokenizer.ggml.token_type", types, vocab_size);
    if (n_merges) ds_gguf_kv_arr_str(kv, "tokenizer.ggml.merges", merges, n_merges);
    for (int k = 0; k < n_sid; k++)
        if (SPECIAL_KEYS[sid_order[k]]) ds_gguf_kv_u32(kv, SPECIAL_KEYS[sid_order[k]], (uint32_t)sid[sid_order[k]]);
    for (int k = 0; k < n_add; k++) {
        int s = add_order[k];
        if (s == 0) ds_gguf_kv_bool(kv, "tokenizer.ggml.add_bos_token", add_val[s]);
        else if (s == 1) ds_gguf_kv_bool(kv, "tokenizer.ggml.add_eos_token", add_val[s]);
        else if (s == 3) ds_gguf_kv_bool(kv, "tokenizer.ggml.add_sep_token", add_val[s]);
    }
    if (chat) ds_gguf_kv_str(kv, "tokenizer.chat_template", chat);
    free(chat_alt);
done:
    if (tokens) for (int i = 0; i < vocab_size; i++) free(tokens[i]);
    free(tokens); free(types);
    for (int i = 0; i < n_merges; i++) free(merges[i]);
    free(merges); free(tpath);
    cJSON_Delete(tj); cJSON_Delete(tc); cJSON_Delete(cfg);
    return rc;
}
