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
 *   contents (cls_token standing in for a missing bos_token, sep_token for
 *   eos_token) looked up among added_tokens, then config.json's *_token_id
 *   (else text_config's) for those still unset; add_bos/add_eos: a ByteLevel
 *   post-processor sets both false first, tokenizer_config's add_*_token only
 *   fills what is unset; an empty tokenizer_config.json counts as none.
 * - chat template: tokenizer_config.json's chat_template when the key is
 *   there (null: none), else chat_template.jinja, else chat_template.json.
 * - normalizer: Lowercase / StripAccents / BertNormalizer (also inside a
 *   Sequence, the last one winning) give tokenizer.ggml.normalizer.* keys.
 * A checkpoint with tiktoken.model and no tokenizer.json (Kimi-K2, Moonlight)
 * goes to gguf_tiktoken.c instead. */
#include "convert/gguf_vocab.h"
#include "convert/gguf_tiktoken.h"
#include "common/hash.h"
#include "common/util.h"
#include "common/fsafe.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <dirent.h>
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

const char *const ds_special_types[DS_N_SPECIAL] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
const char *const ds_special_keys[DS_N_SPECIAL] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                                  "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
                                                  "tokenizer.ggml.padding_token_id", NULL /* cls: the writer has no key */,
                                                  "tokenizer.ggml.mask_token_id"};

/* DIR/NAME read whole (at most max bytes), through the checkpoint's tree. */
int ds_gguf_side_text(const char *dir, const char *name, size_t max, char **text, size_t *len) {
    ds_tree t;
    char *real = NULL;
    int is_dir = 0;
    int rc = ds_tree_init(&t, dir);
    if (!rc) rc = ds_tree_member(&t, name, &real, &is_dir);
    if (!rc && is_dir) rc = ds_fail(DS_EXIT_INPUT, "%s/%s: is a directory", dir, name);
    if (!rc) rc = ds_read_file_max(real, max, text, len);
    ds_tree_free(&t);
    free(real);
    return rc;
}

/* The chat template: tokenizer_config.json's chat_template when the key is
 * there (null: none), else chat_template.jinja, else chat_template.json's.
 * *out malloc'd or NULL. */
int ds_gguf_chat_template(const char *dir, const cJSON *tc, char **out) {
    *out = NULL;
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(tc, "chat_template");
    int rc = 0;
    if (ct) {
        if (cJSON_IsString(ct)) *out = xstrdup(ct->valuestring);
        else if (cJSON_IsArray(ct))
            return ds_fail(DS_EXIT_INPUT, "%s/tokenizer_config.json: chat_template is a list of named templates; to-gguf "
                           "writes one template (--no-vocab leaves the tokenizer out)", dir);
        return 0; /* null or another type: the converter writes none */
    }
    char *jp = ds_path_join(dir, "chat_template.jinja"), *ap = ds_path_join(dir, "additional_chat_templates");
    if (ds_path_exists(jp)) {
        if (ds_is_dir(ap)) {
            DIR *d = opendir(ap);
            struct dirent *e;
            while (d && (e = readdir(d)) && !rc) {
                size_t l = strlen(e->d_name);
                if (l > 6 && !strcmp(e->d_name + l - 6, ".jinja"))
                    rc = ds_fail(DS_EXIT_INPUT, "%s: named chat templates beside chat_template.jinja; to-gguf writes one "
                                 "template", ap);
            }
            if (d) closedir(d);
        }
        size_t len;
        if (!rc) rc = ds_gguf_side_text(dir, "chat_template.jinja", DS_MAX_CONFIG_BYTES, out, &len);
    } else {
        char *cp = ds_path_join(dir, "chat_template.json");
        if (ds_path_exists(cp)) {
            cJSON *j = ds_gguf_side_json(dir, "chat_template.json", 1, &rc);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "chat_template");
            if (cJSON_IsString(t)) *out = xstrdup(t->valuestring);
            else if (cJSON_IsArray(t))
                rc = ds_fail(DS_EXIT_INPUT, "%s: chat_template is a list of named templates; to-gguf writes one template", cp);
            cJSON_Delete(j);
        }
        free(cp);
    }
    free(jp); free(ap);
    return rc;
}

int ds_gguf_config_token_ids(const char *dir, int *set, int64_t *id, int *order, int *n_order) {
    int rc = 0;
    cJSON *cfg = ds_gguf_side_json(dir, "config.json", 0, &rc);
    for (int s = 0; s < DS_N_SPECIAL && cfg && !rc; s++) {
        char key[32];
        snprintf(key, sizeof key, "%s_token_id", ds_special_types[s]);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
        if (!v || cJSON_IsNull(v)) v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "text_config"), key);
        int64_t x;
        if (cJSON_IsBool(v)) x = cJSON_IsTrue(v); /* Python's bool is an int */
        else if (cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble) x = (int64_t)v->valuedouble;
        else continue;
        if (x < 0) rc = ds_fail(DS_EXIT_INPUT, "%s/config.json: %s is negative", dir, key);
        else if (x > UINT32_MAX) rc = ds_fail(DS_EXIT_INPUT, "%s/config.json: %s does not fit 32 bits", dir, key);
        else if (!set[s]) { set[s] = 1; id[s] = x; order[(*n_order)++] = s; }
    }
    cJSON_Delete(cfg);
    return rc;
}


/* Python truth of a tokenizer_config value: absent, null, false, 0, "" and empty containers are false. */
static int truthy(const cJSON *j) {
    if (!j || cJSON_IsNull(j) || cJSON_IsFalse(j)) return 0;
    if (cJSON_IsNumber(j)) return j->valuedouble != 0;
    if (cJSON_IsString(j)) return j->valuestring[0] != 0;
    if (cJSON_IsArray(j) || cJSON_IsObject(j)) return j->child != NULL;
    return 1;
}

/* SpecialVocab._parse_normalizer: Lowercase, StripAccents, BertNormalizer's
 * lowercase/strip_accents, and those inside a Sequence (the last one wins). */
static void parse_normalizer(const cJSON *n, int *lower, int *strip) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (!truthy(n) || !cJSON_IsString(ty)) return;
    if (!strcmp(ty->valuestring, "Lowercase")) *lower = 1;
    else if (!strcmp(ty->valuestring, "StripAccents")) *strip = 1;
    else if (!strcmp(ty->valuestring, "BertNormalizer")) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(n, "lowercase"), *s = cJSON_GetObjectItemCaseSensitive(n, "strip_accents");
        if (cJSON_IsBool(l)) *lower = cJSON_IsTrue(l);
        if (cJSON_IsBool(s)) *strip = cJSON_IsTrue(s);
    } else if (!strcmp(ty->valuestring, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "normalizers")) parse_normalizer(e, lower, strip);
    }
}

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
    int add_set[DS_N_SPECIAL] = {0}, add_val[DS_N_SPECIAL] = {0}, add_order[DS_N_SPECIAL], n_add = 0;
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
    int sid_set[DS_N_SPECIAL] = {0}, sid_order[DS_N_SPECIAL], n_sid = 0;
    int64_t sid[DS_N_SPECIAL];
    char *chat = NULL;
    if (cJSON_IsObject(tc) && tc->child) { /* an empty tokenizer_config.json counts as none */
        if ((rc = ds_gguf_chat_template(dir, tc, &chat))) goto done;
        for (int s = 0; s < DS_N_SPECIAL; s++) {
            char key[32];
            snprintf(key, sizeof key, "add_%s_token", ds_special_types[s]);
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(tc, key);
            if (cJSON_IsBool(a) && !add_set[s]) { add_set[s] = 1; add_val[s] = cJSON_IsTrue(a); add_order[n_add++] = s; }
            snprintf(key, sizeof key, "%s_token", ds_special_types[s]);
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(tc, key);
            /* no bos_token: cls_token stands in; no eos_token: sep_token (SpecialVocab) */
            if ((s == 0 || s == 1) && !truthy(e)) {
                const cJSON *alt = cJSON_GetObjectItemCaseSensitive(tc, s == 0 ? "cls_token" : "sep_token");
                if (truthy(alt)) e = alt;
            }
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
    if ((rc = ds_gguf_config_token_ids(dir, sid_set, sid, sid_order, &n_sid))) { free(chat); goto done; }
    int norm_lower = -1, norm_strip = -1;
    parse_normalizer(cJSON_GetObjectItemCaseSensitive(tj, "normalizer"), &norm_lower, &norm_strip);

    ds_gguf_kv_str(kv, "tokenizer.ggml.model", "gpt2");
    ds_gguf_kv_str(kv, "tokenizer.ggml.pre", pre);
    ds_gguf_kv_arr_str(kv, "tokenizer.ggml.tokens", tokens, vocab_size);
    ds_gguf_kv_arr_i32(kv, "tokenizer.ggml.token_type", types, vocab_size);
    if (n_merges) ds_gguf_kv_arr_str(kv, "tokenizer.ggml.merges", merges, n_merges);
    for (int k = 0; k < n_sid; k++)
        if (ds_special_keys[sid_order[k]]) ds_gguf_kv_u32(kv, ds_special_keys[sid_order[k]], (uint32_t)sid[sid_order[k]]);
    for (int k = 0; k < n_add; k++) {
        int s = add_order[k];
        if (s == 0) ds_gguf_kv_bool(kv, "tokenizer.ggml.add_bos_token", add_val[s]);
        else if (s == 1) ds_gguf_kv_bool(kv, "tokenizer.ggml.add_eos_token", add_val[s]);
        else if (s == 3) ds_gguf_kv_bool(kv, "tokenizer.ggml.add_sep_token", add_val[s]);
    }
    if (chat) ds_gguf_kv_str(kv, "tokenizer.chat_template", chat);
    if (norm_lower >= 0) ds_gguf_kv_bool(kv, "tokenizer.ggml.normalizer.lowercase", norm_lower);
    if (norm_strip >= 0) ds_gguf_kv_bool(kv, "tokenizer.ggml.normalizer.strip_accents", norm_strip);
    free(chat);
done:
    if (tokens) for (int i = 0; i < vocab_size; i++) free(tokens[i]);
    free(tokens); free(types);
    for (int i = 0; i < n_merges; i++) free(merges[i]);
    free(merges); free(tpath);
    cJSON_Delete(tj); cJSON_Delete(tc);
    return rc;
}
