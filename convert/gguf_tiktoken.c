/* gguf_tiktoken.c - tokenizer.* keys from tiktoken.model (see gguf_tiktoken.h).
 *
 * Rules (llama.cpp convert_hf_to_gguf.py DeepseekV2Model.set_vocab, its
 * "kimi-k2" branch, with QwenModel.bpe / token_bytes_to_string and gguf-py
 * SpecialVocab; the model repositories' tokenization_kimi.py and
 * tokenization_moonshot.py for the special ids; llama-cpp-python 0.3.36):
 * - ranks: tiktoken.model, one "BASE64 RANK" a line, in file order; n of them.
 * - special tokens: ids n .. n+257 (256 reserved + 2); an id's name is the
 *   content tokenizer_config.json's added_tokens_decoder gives it, else
 *   "<|reserved_token_ID|>".
 * - token i < vocab_size: the special token with id i (type CONTROL), else
 *   the token of rank i as GPT-2 byte characters (NORMAL), else "[PAD<i>]"
 *   (UNUSED).
 * - merges, in file order: for each token of 2+ bytes, the BPE of its bytes
 *   limited to ranks below its own; when that ends in two parts, "A B".
 * - pre-tokenizer "kimi-k2": the converter tells it by hashing how the
 *   tokenizer splits a text; dsconv cannot run the tokenizer's Python, so it
 *   reads the class tokenizer_config.json's auto_map names and recognizes
 *   Kimi's split pattern and special-token layout in it.
 * - SpecialVocab without tokenizer.json: bos/eos/... ids only from config.json
 *   (*_token_id, else text_config's), add_bos/add_eos/add_sep from
 *   tokenizer_config.json's add_*_token, chat template from
 *   tokenizer_config.json, else chat_template.jinja, else chat_template.json.
 * Anything that would make these rules ambiguous (a repeated token or rank,
 * two special tokens of one name, a special name that is also a rank's
 * string) is refused rather than guessed. */
#include "convert/gguf_tiktoken.h"
#include "convert/gguf_vocab.h"
#include "common/hash.h"
#include "common/util.h"
#include "common/fsafe.h"
#include "common/json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

enum { TOK_NORMAL = 1, TOK_CONTROL = 3, TOK_UNUSED = 5 };
#define N_RESERVED 258          /* num_reserved_special_tokens + 2 */
#define MAX_TIKTOKEN_BYTES (256u << 20)
#define MAX_TOKENIZER_PY_BYTES (4u << 20)
#define MAX_RANK ((int64_t)1 << 30)

/* ---- GPT-2 byte characters (transformers bytes_to_unicode) ---------------- */
/* Printable Latin-1 bytes stand for themselves; the others, in byte order,
 * become U+0100, U+0101, ... UTF-8 of each byte's character, and its length. */
typedef struct { char s[256][3]; uint8_t n[256]; } byte_chars;

static void byte_chars_init(byte_chars *bc) {
    int next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int cp = printable ? b : next++;
        if (cp < 0x80) { bc->s[b][0] = (char)cp; bc->n[b] = 1; }
        else { bc->s[b][0] = (char)(0xC0 | (cp >> 6)); bc->s[b][1] = (char)(0x80 | (cp & 0x3F)); bc->n[b] = 2; }
    }
}

/* Appends the byte characters of tok[0, n) to out (room for 2n bytes). */
static size_t put_bytes(const byte_chars *bc, const uint8_t *tok, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + k, bc->s[tok[i]], bc->n[tok[i]]);
        k += bc->n[tok[i]];
    }
    return k;
}

/* The bytes a string of byte characters stands for, or -1 when some
 * character is not one (then it is no rank's string). out: room for strlen. */
static long unbyte(const byte_chars *bc, const char *s, uint8_t *out) {
    long n = 0;
    while (*s) {
        int found = -1;
        for (int b = 0; b < 256 && found < 0; b++)
            if (!strncmp(s, bc->s[b], bc->n[b])) found = b;
        if (found < 0) return -1;
        out[n++] = (uint8_t)found;
        s += bc->n[found];
    }
    return n;
}

/* ---- ranks ------------------------------------------------------------------ */
typedef struct {
    uint8_t *bytes;     /* every token's bytes, back to back */
    size_t *off;        /* token k: bytes[off[k], off[k+1]) */
    int64_t *rank;
    int n;
    uint32_t *slot;     /* open addressing: token index + 1, 0 empty */
    uint64_t mask;
    int32_t *pair;      /* rank of each two-byte token by its 16 bits, -1: none (most lookups) */
} ranks_t;

static uint64_t slot_of(const ranks_t *r, const uint8_t *p, size_t n) { return ds_xxh3_64(p, n) & r->mask; }

/* Rank of bytes p[0, n), or -1. */
static int64_t rank_lookup(const uint8_t *p, size_t n, void *ctx) {
    const ranks_t *r = ctx;
    if (n == 2) return r->pair[p[0] << 8 | p[1]];
    for (uint64_t s = slot_of(r, p, n);; s = (s + 1) & r->mask) {
        uint32_t v = r->slot[s];
        if (!v) return -1;
        int k = (int)v - 1;
        if (r->off[k + 1] - r->off[k] == n && !memcmp(r->bytes + r->off[k], p, n)) return r->rank[k];
    }
}
/* Index of the token with bytes p[0, n), or -1. */
static int token_index(const ranks_t *r, const uint8_t *p, size_t n) {
    for (uint64_t s = slot_of(r, p, n);; s = (s + 1) & r->mask) {
        uint32_t v = r->slot[s];
        if (!v) return -1;
        int k = (int)v - 1;
        if (r->off[k + 1] - r->off[k] == n && !memcmp(r->bytes + r->off[k], p, n)) return k;
    }
}

static void ranks_free(ranks_t *r) {
    free(r->bytes); free(r->off); free(r->rank); free(r->slot); free(r->pair);
    memset(r, 0, sizeof *r);
}

static int b64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with '=' padding, strictly (Python's b64decode would skip
 * stray characters; such a file is refused instead). Bytes written, or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out) {
    if (n == 0 || n % 4) return -1;
    size_t pad = (s[n - 1] == '=') + (n >= 2 && s[n - 2] == '=');
    long k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            int c = (unsigned char)s[i + j];
            if (c == '=' && i + j >= n - pad) v[j] = 0;
            else if ((v[j] = b64_value(c)) < 0) return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t take = i + 4 == n ? 3 - pad : 3;
        for (size_t j = 0; j < take; j++) out[k++] = (uint8_t)(w >> (16 - 8 * j));
    }
    return k;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Parses tiktoken.model (text[0, len)) into r. */
static int ranks_parse(const char *path, const char *text, size_t len, ranks_t *r) {
    memset(r, 0, sizeof *r);
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n' || text[i] == '\r';
    r->bytes = xmalloc(len ? len : 1); /* decoded base64 is shorter than its text */
    r->off = xmalloc((lines + 1) * sizeof *r->off);
    r->rank = xmalloc(lines * sizeof *r->rank);
    r->off[0] = 0;
    size_t at = 0, line_no = 0;
    while (at < len) {
        /* bytes.splitlines(): \n, \r\n or \r ends a line; empty lines are skipped */
        size_t e = at;
        while (e < len && text[e] != '\n' && text[e] != '\r') e++;
        size_t next = e < len && text[e] == '\r' && e + 1 < len && text[e + 1] == '\n' ? e + 2 : e + 1;
        line_no++;
        if (e > at) {
            const char *f[3];
            size_t fl[3];
            int nf = 0;
            for (size_t i = at; i < e;) {
                while (i < e && is_ws((unsigned char)text[i])) i++;
                if (i == e) break;
                size_t s = i;
                while (i < e && !is_ws((unsigned char)text[i])) i++;
                if (nf < 3) { f[nf] = text + s; fl[nf] = i - s; }
                nf++;
            }
            /* a line of blanks is not empty: the loader's "token, rank = line.split()" fails on it */
            if (nf != 2) return ds_fail(DS_EXIT_INPUT, "%s: line %zu: expected 'BASE64 RANK', found %d fields", path, line_no, nf);
            long nb = b64_decode(f[0], fl[0], r->bytes + r->off[r->n]);
            if (nb <= 0)
                return ds_fail(DS_EXIT_INPUT, "%s: line %zu: '%.*s' is not a non-empty base64 token", path, line_no,
                               (int)(fl[0] > 64 ? 64 : fl[0]), f[0]);
            int64_t rk = 0;
            for (size_t i = 0; i < fl[1]; i++) {
                if (f[1][i] < '0' || f[1][i] > '9' || rk > MAX_RANK)
                    return ds_fail(DS_EXIT_INPUT, "%s: line %zu: rank '%.*s' is not a number below 2^30", path, line_no,
                                   (int)(fl[1] > 32 ? 32 : fl[1]), f[1]);
                rk = rk * 10 + (f[1][i] - '0');
            }
            if (rk >= MAX_RANK)
                return ds_fail(DS_EXIT_INPUT, "%s: line %zu: rank %lld is not below 2^30", path, line_no, (long long)rk);
            r->rank[r->n] = rk;
            r->off[r->n + 1] = r->off[r->n] + (size_t)nb;
            r->n++;
        }
        at = next;
    }
    if (r->n == 0) return ds_fail(DS_EXIT_INPUT, "%s: no tokens", path);
    int64_t *sorted = xmalloc((size_t)r->n * sizeof *sorted);
    memcpy(sorted, r->rank, (size_t)r->n * sizeof *sorted);
    qsort(sorted, (size_t)r->n, sizeof *sorted, cmp_i64);
    for (int k = 1; k < r->n; k++)
        if (sorted[k] == sorted[k - 1]) {
            long long d = (long long)sorted[k];
            free(sorted);
            return ds_fail(DS_EXIT_INPUT, "%s: rank %lld appears twice (tiktoken refuses such a file)", path, d);
        }
    free(sorted);
    uint64_t cap = 1;
    while (cap < 2 * (uint64_t)r->n) cap <<= 1;
    r->slot = xcalloc(cap, sizeof *r->slot);
    r->mask = cap - 1;
    for (int k = 0; k < r->n; k++) {
        const uint8_t *p = r->bytes + r->off[k];
        size_t n = r->off[k + 1] - r->off[k];
        uint64_t s = slot_of(r, p, n);
        for (; r->slot[s]; s = (s + 1) & r->mask) {
            int o = (int)r->slot[s] - 1;
            if (r->off[o + 1] - r->off[o] == n && !memcmp(r->bytes + r->off[o], p, n))
                return ds_fail(DS_EXIT_INPUT, "%s: the token of rank %lld repeats the one of rank %lld (tiktoken would "
                               "keep only the later)", path, (long long)r->rank[k], (long long)r->rank[o]);
        }
        r->slot[s] = (uint32_t)k + 1;
    }
    r->pair = xmalloc(65536 * sizeof *r->pair);
    for (int i = 0; i < 65536; i++) r->pair[i] = -1;
    for (int k = 0; k < r->n; k++)
        if (r->off[k + 1] - r->off[k] == 2) r->pair[r->bytes[r->off[k]] << 8 | r->bytes[r->off[k] + 1]] = (int32_t)r->rank[k];
    return 0;
}

/* ---- rank-limited BPE --------------------------------------------------------- */
int ds_bpe_parts(const uint8_t *tok, size_t n, int64_t max_rank, ds_bpe_rank_fn rank, void *ctx, uint32_t *cut,
                 int64_t *pr) {
    /* parts k = tok[cut[k], cut[k+1]); pr[k] = rank of parts k and k+1 joined (-1: none) */
    int m = (int)n;
    for (int k = 0; k <= m; k++) cut[k] = (uint32_t)k;
    for (int k = 0; k + 1 < m; k++) pr[k] = rank(tok + k, 2, ctx);
    while (m > 1) {
        int best = -1;
        for (int k = 0; k + 1 < m; k++)
            if (pr[k] >= 0 && (best < 0 || pr[k] < pr[best])) best = k;
        if (best < 0 || pr[best] >= max_rank) break;
        /* join parts best and best+1: drop cut[best+1], pr[best] */
        memmove(cut + best + 1, cut + best + 2, (size_t)(m - best - 1) * sizeof *cut);
        if (best + 1 < m - 1) memmove(pr + best, pr + best + 1, (size_t)(m - 2 - best) * sizeof *pr);
        m--;
        if (best > 0) pr[best - 1] = rank(tok + cut[best - 1], cut[best + 1] - cut[best - 1], ctx);
        if (best + 1 < m) pr[best] = rank(tok + cut[best], cut[best + 2] - cut[best], ctx);
    }
    return m;
}

/* Kimi's split pattern (the pat_str of tokenization_kimi.py /
 * tokenization_moonshot.py), its alternatives in order, as the source spells
 * them in raw strings; and the special-token layout the rules above assume. */
static const char *const KIMI_PAT[] = {
    "[\\p{Han}]+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "\\p{N}{1,3}",
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*",
    "\\s*[\\r\\n]+",
    "\\s+(?!\\S)",
    "\\s+",
};
static const char *const KIMI_LAYOUT[] = {
    "num_reserved_special_tokens = 256",
    "<|reserved_token_{i}|>",
    "num_reserved_special_tokens + 2",
    "load_tiktoken_bpe(",
};

/* "kimi-k2" when the tokenizer class tokenizer_config.json's auto_map names
 * is Kimi's; else DS_EXIT_INPUT saying what was not recognized. */
static int recognize_pre(const char *dir, const cJSON *tc) {
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tc, "auto_map"), "AutoTokenizer");
    const char *cls = cJSON_IsString(am) ? am->valuestring
                      : cJSON_IsString(cJSON_GetArrayItem(am, 0)) ? cJSON_GetArrayItem(am, 0)->valuestring : NULL;
    const char *hint = "; if this is Kimi-K2's or Moonlight's tokenizer, --tokenizer-pre kimi-k2 says so "
                       "(--no-vocab leaves the tokenizer out)";
    if (!cls || strchr(cls, '/') || !strchr(cls, '.'))
        return ds_fail(DS_EXIT_INPUT, "%s/tokenizer_config.json: auto_map.AutoTokenizer does not name a tokenizer class "
                       "of the checkpoint (MODULE.CLASS); to-gguf cannot tell the pre-tokenizer of tiktoken.model%s", dir, hint);
    size_t ml = (size_t)(strrchr(cls, '.') - cls);
    char *py = xmalloc(ml + 4);
    memcpy(py, cls, ml);
    strcpy(py + ml, ".py");
    char *src = NULL;
    size_t len = 0;
    int rc = 0;
    char *pp = ds_path_join(dir, py);
    if (!ds_path_exists(pp)) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: not found (tokenizer_config.json's auto_map names %s); to-gguf reads the split "
                     "pattern there to tell the pre-tokenizer%s", pp, cls, hint);
        goto out;
    }
    if ((rc = ds_gguf_side_text(dir, py, MAX_TOKENIZER_PY_BYTES, &src, &len))) goto out;
    const char *at = src;
    for (size_t i = 0; i < sizeof KIMI_PAT / sizeof *KIMI_PAT && !rc; i++) {
        const char *f = strstr(at, KIMI_PAT[i]);
        if (!f) rc = ds_fail(DS_EXIT_INPUT, "%s: the split pattern is not Kimi-K2's (alternative %zu, '%s', not found "
                             "in order); llama.cpp knows this tokenizer only as kimi-k2%s", pp, i + 1, KIMI_PAT[i], hint);
        else at = f + strlen(KIMI_PAT[i]);
    }
    for (size_t i = 0; i < sizeof KIMI_LAYOUT / sizeof *KIMI_LAYOUT && !rc; i++)
        if (!strstr(src, KIMI_LAYOUT[i]))
            rc = ds_fail(DS_EXIT_INPUT, "%s: '%s' not found: the special tokens may not be laid out as Kimi-K2's "
                         "(256 reserved + 2 after the ranks)%s", pp, KIMI_LAYOUT[i], hint);
out:
    free(src); free(pp); free(py);
    return rc;
}

/* ---- SpecialVocab without tokenizer.json ------------------------------------------ */

static int special_vocab(ds_gguf_kv *kv, const char *dir, const cJSON *tc) {
    int rc = 0;
    char *chat = NULL;
    int add_set[DS_N_SPECIAL] = {0}, add_val[DS_N_SPECIAL] = {0};
    if (cJSON_IsObject(tc) && tc->child) { /* an empty tokenizer_config.json counts as none */
        DS_TRY(ds_gguf_chat_template(dir, tc, &chat));
        for (int s = 0; s < DS_N_SPECIAL; s++) {
            char key[32];
            snprintf(key, sizeof key, "add_%s_token", ds_special_types[s]);
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(tc, key);
            if (cJSON_IsBool(a)) { add_set[s] = 1; add_val[s] = cJSON_IsTrue(a); }
        }
        /* bos_token & co. name tokenizer.json's added tokens; there is none here */
    }
    int sid_set[DS_N_SPECIAL] = {0}, sid_order[DS_N_SPECIAL], n_sid = 0;
    int64_t sid[DS_N_SPECIAL];
    rc = ds_gguf_config_token_ids(dir, sid_set, sid, sid_order, &n_sid);
    if (!rc) {
        for (int k = 0; k < n_sid; k++)
            if (ds_special_keys[sid_order[k]]) ds_gguf_kv_u32(kv, ds_special_keys[sid_order[k]], (uint32_t)sid[sid_order[k]]);
        if (add_set[0]) ds_gguf_kv_bool(kv, "tokenizer.ggml.add_bos_token", add_val[0]);
        if (add_set[1]) ds_gguf_kv_bool(kv, "tokenizer.ggml.add_eos_token", add_val[1]);
        if (add_set[3]) ds_gguf_kv_bool(kv, "tokenizer.ggml.add_sep_token", add_val[3]);
        if (chat) ds_gguf_kv_str(kv, "tokenizer.chat_template", chat);
    }
    free(chat);
    return rc;
}

/* ---- the keys ------------------------------------------------------------------ */
int ds_gguf_tiktoken_add(ds_gguf_kv *kv, const char *dir, int vocab_size, const char *pre) {
    int rc = 0;
    if (pre && strcmp(pre, "kimi-k2"))
        return ds_fail(DS_EXIT_USAGE, "--tokenizer-pre %s: a tiktoken tokenizer (%s/tiktoken.model) is written as "
                       "kimi-k2 only, as llama.cpp's converter does", pre, dir);
    cJSON *tc = ds_gguf_side_json(dir, "tokenizer_config.json", 1, &rc);
    if (!tc) {
        if (rc == DS_EXIT_INPUT) ds_err("a tiktoken.model tokenizer needs its tokenizer_config.json (the special tokens)");
        return rc;
    }
    char *path = ds_path_join(dir, "tiktoken.model");
    char *text = NULL, *str = NULL, *mstr = NULL, *names[N_RESERVED] = {0};
    size_t len = 0;
    ranks_t r = {0};
    char **tokens = NULL, **merges = NULL;
    int32_t *types = NULL;
    int *by_rank = NULL;
    uint32_t *cut = NULL;
    int64_t *scratch = NULL;
    int n_merges = 0;
    byte_chars bc;
    byte_chars_init(&bc);

    if (!pre && (rc = recognize_pre(dir, tc))) goto done;
    if ((rc = ds_gguf_side_text(dir, "tiktoken.model", MAX_TIKTOKEN_BYTES, &text, &len))) goto done;
    if ((rc = ranks_parse(path, text, len, &r))) goto done;
    free(text);
    text = NULL;

    /* special tokens: ids n .. n+257 */
    const int64_t nb = r.n;
    const cJSON *atd = cJSON_GetObjectItemCaseSensitive(tc, "added_tokens_decoder"), *it;
    if (atd && !cJSON_IsObject(atd)) {
        rc = ds_fail(DS_EXIT_INPUT, "%s/tokenizer_config.json: added_tokens_decoder is not an object", dir);
        goto done;
    }
    cJSON_ArrayForEach(it, atd) {
        char *e;
        long long id = strtoll(it->string, &e, 10);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!it->string[0] || *e || !cJSON_IsString(c)) {
            rc = ds_fail(DS_EXIT_INPUT, "%s/tokenizer_config.json: added_tokens_decoder '%s': expected an id with a "
                         "content string", dir, it->string);
            goto done;
        }
        if (id >= nb && id < nb + N_RESERVED) { free(names[id - nb]); names[id - nb] = xstrdup(c->valuestring); }
    }
    for (int i = 0; i < N_RESERVED; i++)
        if (!names[i]) {
            char b[48];
            snprintf(b, sizeof b, "<|reserved_token_%lld|>", (long long)(nb + i));
            names[i] = xstrdup(b);
        }
    for (int i = 0; i < N_RESERVED; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j])) {
                rc = ds_fail(DS_EXIT_INPUT, "%s/tokenizer_config.json: special tokens %lld and %lld are both '%s'", dir,
                             (long long)(nb + j), (long long)(nb + i), names[i]);
                goto done;
            }
        uint8_t *b = xmalloc(strlen(names[i]) + 1);
        long bl = unbyte(&bc, names[i], b);
        int k = bl > 0 ? token_index(&r, b, (size_t)bl) : -1;
        free(b);
        if (k >= 0) {
            rc = ds_fail(DS_EXIT_INPUT, "%s/tokenizer_config.json: special token %lld '%s' is also the token of rank %lld "
                         "in tiktoken.model", dir, (long long)(nb + i), names[i], (long long)r.rank[k]);
            goto done;
        }
    }

    /* tokens and types */
    size_t total = r.off[r.n];
    str = xmalloc(2 * total + (size_t)r.n + 1);
    tokens = xcalloc((size_t)vocab_size, sizeof *tokens);
    types = xcalloc((size_t)vocab_size, sizeof *types);
    by_rank = xmalloc((size_t)vocab_size * sizeof *by_rank);
    for (int i = 0; i < vocab_size; i++) by_rank[i] = -1;
    size_t at = 0;
    char **tok_str = xmalloc((size_t)r.n * sizeof *tok_str);
    for (int k = 0; k < r.n; k++) {
        tok_str[k] = str + at;
        at += put_bytes(&bc, r.bytes + r.off[k], r.off[k + 1] - r.off[k], str + at);
        str[at++] = 0;
        if (r.rank[k] < vocab_size) by_rank[r.rank[k]] = k; /* ranks are unique (ranks_parse) */
    }
    char pad[32];
    size_t pad_total = 0;
    for (int i = 0; i < vocab_size; i++) {
        if (i >= nb && i < nb + N_RESERVED) { tokens[i] = names[i - nb]; types[i] = TOK_CONTROL; }
        else if (by_rank[i] >= 0) { tokens[i] = tok_str[by_rank[i]]; types[i] = TOK_NORMAL; }
        else { types[i] = TOK_UNUSED; pad_total += (size_t)snprintf(pad, sizeof pad, "[PAD%d]", i) + 1; }
    }
    char *pads = xmalloc(pad_total + 1), *pp = pads;
    for (int i = 0; i < vocab_size; i++)
        if (!tokens[i]) { tokens[i] = pp; pp += snprintf(pp, 32, "[PAD%d]", i) + 1; }

    /* merges: each token's rank-limited BPE, in file order */
    size_t maxlen = 0;
    for (int k = 0; k < r.n; k++) if (r.off[k + 1] - r.off[k] > maxlen) maxlen = r.off[k + 1] - r.off[k];
    cut = xmalloc((maxlen + 1) * sizeof *cut);
    scratch = xmalloc((maxlen + 1) * sizeof *scratch);
    merges = xmalloc((size_t)r.n * sizeof *merges);
    mstr = xmalloc(2 * total + 2 * (size_t)r.n + 1);
    at = 0;
    for (int k = 0; k < r.n; k++) {
        const uint8_t *p = r.bytes + r.off[k];
        size_t n = r.off[k + 1] - r.off[k];
        if (n < 2) continue;
        if (ds_bpe_parts(p, n, r.rank[k], rank_lookup, &r, cut, scratch) != 2) continue;
        merges[n_merges++] = mstr + at;
        at += put_bytes(&bc, p, cut[1], mstr + at);
        mstr[at++] = ' ';
        at += put_bytes(&bc, p + cut[1], n - cut[1], mstr + at);
        mstr[at++] = 0;
    }

    ds_gguf_kv_str(kv, "tokenizer.ggml.model", "gpt2");
    ds_gguf_kv_str(kv, "tokenizer.ggml.pre", "kimi-k2");
    ds_gguf_kv_arr_str(kv, "tokenizer.ggml.tokens", tokens, vocab_size);
    ds_gguf_kv_arr_i32(kv, "tokenizer.ggml.token_type", types, vocab_size);
    if (n_merges) ds_gguf_kv_arr_str(kv, "tokenizer.ggml.merges", merges, n_merges);
    free(tok_str);
    free(pads);
    rc = special_vocab(kv, dir, tc);
done:
    for (int i = 0; i < N_RESERVED; i++) free(names[i]);
    free(text); free(str); free(mstr); free(tokens); free(types); free(by_rank); free(merges); free(cut); free(scratch);
    free(path);
    ranks_free(&r);
    cJSON_Delete(tc);
    return rc;
}
