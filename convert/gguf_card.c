/* gguf_card.c - general.* keys from the model card (see gguf_card.h).
 *
 * The rules, from gguf-py 0.3.36 (metadata.py Metadata.load_model_card,
 * apply_metadata_heuristic, get_model_id_components, id_to_title,
 * set_gguf_meta_model; gguf_writer.py add_string / add_array):
 * - README.md is read whole as UTF-8 (a decode error stops the converter);
 *   the front matter is the lines (str.splitlines) after a first line that is
 *   exactly "---", up to the next line that is exactly "---" (or the end);
 *   joined with "\n" plus a final "\n", "- no\n" becomes "- \"no\"\n" and each
 *   tab two spaces, then yaml.safe_load; anything but a mapping counts as
 *   no card;
 * - scalar keys, first card key present and not null wins: name <- name,
 *   model_name; author <- author, model_author, model_creator; version,
 *   organization, description, finetune, size_label <- KEY, model_KEY;
 *   basename <- basename, model_basename, model_type; source.url/doi/uuid/
 *   repo_url <- url/doi/uuid/repo_url, model_url/...; license, license_name,
 *   license_link (a license list is joined with ",");
 * - base_model (else base_models, else base_model_sources), and datasets
 *   (else dataset, else dataset_sources): present at all (even null) writes a
 *   count; each string entry is a URL (http://, https://, ssh://: repo_url,
 *   and name/organization/version when it is huggingface.co/ORG/NAME) or a
 *   Hugging Face id ORG/NAME (name and organization title-cased, version from
 *   the name's parts, repo_url https://huggingface.co/ORG/NAME); an entry
 *   that is neither string nor mapping counts with no keys;
 * - tags: tags then pipeline_tag appended; languages: languages then language
 *   (a string is one item, a list its items, anything else nothing);
 * - strings and arrays that are empty are not written; --name (the
 *   converter's --model-name) wins over the card's name; the card's
 *   size_label replaces the computed one.
 * What is read is a strict subset of YAML: top-level "key: value" lines with
 * plain, 'single' or "double" quoted scalars, one-line [flow, lists], and
 * "- item" lists; other values (nested mappings, block scalars, ...) are
 * skipped where the converter does not read the key, and warned about where
 * it does; a front matter outside the subset is not read (warning). */
#include "convert/gguf_card.h"
#include "common/util.h"
#include "common/bug.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CARD_MAX_BYTES (1u << 20) /* front matter read at most (bytes) */
#define CARD_MAX_KEYS 4096
#define CARD_MAX_ITEMS 4096       /* list items in all */

typedef enum { CV_NULL, CV_STR, CV_LIST, CV_OTHER } cv_kind; /* OTHER: a value not read here */
typedef struct { cv_kind kind; char *s; } cv_item;          /* NULL, STR or OTHER */
typedef struct { char *key; cv_kind kind; char *s; cv_item *items; int n; int line; } cv_entry;

struct ds_gguf_card {
    char *path;
    cv_entry *e;
    int n;
};

void ds_gguf_card_free(ds_gguf_card *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->e[i].key); free(c->e[i].s);
        for (int k = 0; k < c->e[i].n; k++) free(c->e[i].items[k].s);
        free(c->e[i].items);
    }
    free(c->e); free(c->path); free(c);
}

/* ---- reading the front matter -------------------------------------------- */
/* One UTF-8 code point at p (< end): its length, or 0 when invalid (Python's
 * strict decoder: no overlongs, surrogates or values past U+10FFFF). */
static int utf8_next(const unsigned char *p, const unsigned char *end, uint32_t *cp) {
    unsigned c = p[0];
    if (c < 0x80) { *cp = c; return 1; }
    int n; unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c == 0xE0) { n = 2; lo = 0xA0; }
    else if (c == 0xED) { n = 2; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) n = 2;
    else if (c == 0xF0) { n = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 3;
    else if (c == 0xF4) { n = 3; hi = 0x8F; }
    else return 0;
    if (end - p < n + 1) return 0;
    uint32_t v = c & (n == 1 ? 0x1F : n == 2 ? 0x0F : 0x07);
    for (int i = 1; i <= n; i++) {
        unsigned b = p[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return 0;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return n + 1;
}

/* str.splitlines' line boundaries */
static int is_break(uint32_t cp) {
    return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
           cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}
/* PyYAML's Reader refuses these (NON_PRINTABLE) */
static int yaml_printable(uint32_t cp) {
    return cp == '\t' || cp == '\n' || cp == '\r' || (cp >= 0x20 && cp <= 0x7E) || cp == 0x85 ||
           (cp >= 0xA0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
}

typedef struct { char *p; size_t n, cap; } sbuf;
static void sb_put(sbuf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* ---- the YAML subset ----------------------------------------------------- */
typedef struct {
    char **line; int n;         /* the front matter's lines (after the converter's replacements) */
    const char *why; int at;    /* why the front matter is not read, at which line (1-based in README.md) */
    int items;
} yparse;

static int blank_or_comment(const char *s) {
    while (*s == ' ') s++;
    return *s == 0 || *s == '#';
}
static int indent_of(const char *s) { int i = 0; while (s[i] == ' ') i++; return i; }

static int rx_match(const char *re, const char *s, int icase) {
    regex_t r;
    char anch[512];
    snprintf(anch, sizeof anch, "^(%s)$", re);
    if (regcomp(&r, anch, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0))) DS_BUG("regcomp %s", re);
    int m = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}
#define fullmatch(re, s) rx_match((re), (s), 1) /* re.fullmatch(re, s, re.IGNORECASE) */

/* A plain scalar's type as PyYAML's implicit resolvers (YAML 1.1) give it:
 * null, str, or OTHER (bool, int, float, timestamp, merge, value). */
static cv_kind plain_kind(const char *t) {
    if (!*t || rx_match("~|null|Null|NULL", t, 0)) return CV_NULL;
    static const char *const other[] = {
        "yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
        "[-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+][0-9]+)?|\\.[0-9][0-9_]*([eE][-+][0-9]+)?|"
        "[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)",
        "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+",
        "<<|=",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}"
        "(\\.[0-9]*)?([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?",
    };
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        if (rx_match(other[i], t, 0)) return CV_OTHER;
    return CV_STR;
}

/* A quoted scalar at *pp (on '"' or '\''), ending on this line: sets *out
 * (STR, or OTHER for an escape not decoded here) and moves *pp past it.
 * 0, or -1 when it does not end on the line. */
static int quoted(const char **pp, cv_item *out) {
    const char *p = *pp;
    char q = *p++;
    sbuf b = {0};
    sb_put(&b, "", 0);
    int other = 0;
    for (;;) {
        if (!*p) { free(b.p); return -1; }
        if (q == '\'' && p[0] == '\'') {
            if (p[1] == '\'') { sb_put(&b, "'", 1); p += 2; continue; }
            p++; break;
        }
        if (q == '"' && p[0] == '"') { p++; break; }
        if (q == '"' && p[0] == '\\') {
            if (!p[1]) { free(b.p); return -1; } /* an escaped line break: continues on the next line */
            const char *m = strchr("\\\"/", p[1]);
            if (m) sb_put(&b, p + 1, 1);
            else if (p[1] == 't') sb_put(&b, "\t", 1);
            else other = 1;
            p += 2;
            continue;
        }
        sb_put(&b, p, 1);
        p++;
    }
    *pp = p;
    if (other) { free(b.p); out->kind = CV_OTHER; out->s = NULL; }
    else { out->kind = CV_STR; out->s = b.p; }
    return 0;
}

/* A plain scalar in block context from p to the end of the line or a
 * comment: *map set when it holds ": " or ends in ':' (a mapping). */
static void plain(const char *p, cv_item *out, int *map) {
    const char *e = p;
    while (*e && !(*e == '#' && e > p && e[-1] == ' ')) e++;
    while (e > p && e[-1] == ' ') e--;
    char *t = xmalloc((size_t)(e - p) + 1);
    memcpy(t, p, (size_t)(e - p));
    t[e - p] = 0;
    *map = strstr(t, ": ") != NULL || (e > p && e[-1] == ':');
    out->kind = plain_kind(t);
    if (out->kind == CV_STR) out->s = t;
    else { free(t); out->s = NULL; }
}

static int rest_is_empty(const char *p) {
    while (*p == ' ') p++;
    return *p == 0 || *p == '#';
}

static cv_item *push_item(yparse *y, cv_entry *e) {
    if (++y->items > CARD_MAX_ITEMS) return NULL;
    e->items = xrealloc(e->items, (size_t)(e->n + 1) * sizeof *e->items);
    cv_item *it = &e->items[e->n++];
    it->kind = CV_NULL; it->s = NULL;
    return it;
}

/* A one-line [flow, list] at p (on '['): the entry's items, or OTHER when it
 * nests. 0, or -1 (y->why) when it does not close on the line. */
static int flow_list(yparse *y, const char *p, cv_entry *e) {
    /* first: does it close on this line (quotes and nesting followed)? */
    int depth = 0, nested = 0;
    const char *q = p, *close = NULL;
    while (*q) {
        if (*q == '"' || *q == '\'') {
            cv_item tmp;
            if (quoted(&q, &tmp)) { y->why = "a quoted scalar in a [list] goes on past its line"; return -1; }
            free(tmp.s);
            continue;
        }
        if (*q == '#' && q > p && q[-1] == ' ') break;
        if (*q == '[' || *q == '{') { depth++; if (depth > 1) nested = 1; }
        if (*q == ']' || *q == '}') { if (--depth == 0) { close = q; break; } }
        q++;
    }
    if (!close) { y->why = "a [list] goes on past its line"; return -1; }
    if (!rest_is_empty(close + 1)) { y->why = "text after a [list]"; return -1; }
    if (nested || *p != '[') { e->kind = CV_OTHER; return 0; }
    e->kind = CV_LIST;
    p++;
    for (;;) {
        while (*p == ' ') p++;
        if (p == close) break;
        cv_item *it = push_item(y, e);
        if (!it) { y->why = "too many list items"; return -1; }
        if (*p == '"' || *p == '\'') {
            if (quoted(&p, it)) return -1; /* checked above */
            while (*p == ' ') p++;
        } else {
            const char *s = p;
            while (p < close && *p != ',') p++;
            const char *t = p;
            while (t > s && t[-1] == ' ') t--;
            char *v = xmalloc((size_t)(t - s) + 1);
            memcpy(v, s, (size_t)(t - s));
            v[t - s] = 0;
            if (!*v) { y->why = "an empty item in a [list]"; free(v); return -1; }
            /* "k: v" (or a ':' before ',' / ']') in a flow list is a mapping */
            const char *col = strchr(v, ':');
            while (col && col[1] && col[1] != ' ') col = strchr(col + 1, ':');
            it->kind = col ? CV_OTHER : plain_kind(v);
            if (it->kind == CV_STR) it->s = v;
            else free(v);
        }
        if (p == close) break;
        if (*p != ',') { y->why = "a [list] item followed by text"; return -1; }
        p++;
    }
    return 0;
}

/* A value on the key's or the item's own line (p past the spaces): sets it.
 * in_item: a "- " list item (a mapping there is a value not read, OTHER).
 * 0, or -1 with y->why when the front matter is outside the subset. */
static int inline_value(yparse *y, const char *p, cv_item *it, int in_item) {
    if (*p == '"' || *p == '\'') {
        if (quoted(&p, it)) { y->why = "a quoted scalar goes on past its line"; return -1; }
        while (*p == ' ') p++;
        if (in_item && *p == ':') { free(it->s); it->s = NULL; it->kind = CV_OTHER; return 0; }
        if (!rest_is_empty(p)) { y->why = "text after a quoted scalar"; return -1; }
        return 0;
    }
    if (*p == '|' || *p == '>') { it->kind = CV_OTHER; return 0; } /* block scalar: its lines are indented */
    if (in_item && *p == '-' && (p[1] == ' ' || !p[1])) { it->kind = CV_OTHER; return 0; } /* nested list */
    if (strchr("&*!%@`?,]}-", *p) && !(*p == '-' && p[1] && p[1] != ' ')) {
        y->why = "an anchor, alias, tag or indicator the subset read here does not have";
        return -1;
    }
    int map;
    plain(p, it, &map);
    if (map) {
        free(it->s); it->s = NULL; it->kind = CV_OTHER;
        if (!in_item) { y->why = "a value holding \": \" (not YAML the converter reads)"; return -1; }
    }
    return 0;
}

/* Parses the front matter's lines into c->e. 0, or -1 with y->why/y->at. */
static int parse(yparse *y, ds_gguf_card *c, int first_line) {
    int i = 0;
    while (i < y->n) {
        const char *L = y->line[i];
        if (blank_or_comment(L)) { i++; continue; }
        y->at = first_line + i;
        const char *k = L;
        while ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
               (*k && strchr("_.-/", *k) && k > L))
            k++;
        if (k == L || *k != ':' || (k[1] && k[1] != ' ')) {
            y->why = L[0] == ' ' ? "an indented line where a top-level key was expected"
                                 : "a line that is not \"key: value\"";
            return -1;
        }
        if (!strncmp(L, "---", 3) || !strncmp(L, "...", 3)) { y->why = "a document marker"; return -1; }
        if (c->n >= CARD_MAX_KEYS) { y->why = "too many keys"; return -1; }
        c->e = xrealloc(c->e, (size_t)(c->n + 1) * sizeof *c->e);
        cv_entry *e = &c->e[c->n++];
        memset(e, 0, sizeof *e);
        e->key = xmalloc((size_t)(k - L) + 1);
        memcpy(e->key, L, (size_t)(k - L));
        e->key[k - L] = 0;
        e->line = first_line + i;
        const char *p = k + 1;
        while (*p == ' ') p++;
        /* the value's further lines: up to the next top-level line */
        int j = i + 1, more = 0, dash0 = 0;
        for (; j < y->n; j++) {
            const char *M = y->line[j];
            if (blank_or_comment(M)) continue;
            if (M[0] != ' ') {
                if (M[0] == '-' && (M[1] == ' ' || !M[1])) { dash0 = 1; more = 1; continue; }
                break;
            }
            more = 1;
        }
        if (!rest_is_empty(p)) {
            if (dash0) { y->at = first_line + i + 1; y->why = "a \"- item\" after a key with a value"; return -1; }
            if (*p == '[' || *p == '{') {
                if (flow_list(y, p, e)) return -1;
                if (more) e->kind = CV_OTHER;
            } else {
                cv_item it = {CV_NULL, NULL};
                if (inline_value(y, p, &it, 0)) return -1;
                e->kind = it.kind; e->s = it.s;
                if (more) { free(e->s); e->s = NULL; e->kind = CV_OTHER; } /* several lines */
            }
            i = j;
            continue;
        }
        if (!more) { e->kind = CV_NULL; i = j; continue; }
        /* a "- item" list at the indent of its first line, or another value (OTHER) */
        int f = i + 1;
        while (blank_or_comment(y->line[f])) f++;
        int n0 = indent_of(y->line[f]);
        const char *F = y->line[f] + n0;
        if (!(F[0] == '-' && (F[1] == ' ' || !F[1]))) { e->kind = CV_OTHER; i = j; continue; }
        e->kind = CV_LIST;
        cv_item *cur = NULL;
        for (int m = f; m < j; m++) {
            const char *M = y->line[m];
            if (blank_or_comment(M)) continue;
            int n = indent_of(M);
            y->at = first_line + m;
            if (n > n0) { if (cur) { free(cur->s); cur->s = NULL; cur->kind = CV_OTHER; } continue; }
            if (n < n0 || !(M[n] == '-' && (M[n + 1] == ' ' || !M[n + 1]))) {
                y->why = "a list item out of line with the list";
                return -1;
            }
            cur = push_item(y, e);
            if (!cur) { y->why = "too many list items"; return -1; }
            const char *q = M + n + 1;
            while (*q == ' ') q++;
            if (rest_is_empty(q)) continue; /* null item (or a value on the next lines: OTHER above) */
            if (*q == '[' || *q == '{') {
                cv_entry sub;
                memset(&sub, 0, sizeof sub);
                int r = flow_list(y, q, &sub);
                for (int s = 0; s < sub.n; s++) free(sub.items[s].s);
                free(sub.items);
                if (r) return -1;
                cur->kind = CV_OTHER;
                continue;
            }
            if (inline_value(y, q, cur, 1)) return -1;
        }
        i = j;
    }
    return 0;
}

int ds_gguf_card_load(const char *dir, ds_gguf_card **card) {
    *card = NULL;
    char *path = ds_path_join(dir, "README.md");
    FILE *f = fopen(path, "rb");
    if (!f) { free(path); return 0; }
    /* the first CARD_MAX_BYTES (+ a line) are where a front matter is read */
    size_t cap = CARD_MAX_BYTES + 8, len = 0;
    unsigned char *buf = xmalloc(cap);
    len = fread(buf, 1, cap, f);
    int rc = 0;
    const unsigned char *p = buf, *end = buf + len;
    /* lines: [start, end) offsets */
    sbuf yaml = {0};
    int nlines = 0, in_fm = 0, closed = 0, first_ok = 0, lineno = 0, skip = 0;
    const char *why = NULL;
    size_t bad_at = (size_t)-1;
    while (p < end && !closed) {
        const unsigned char *ls = p;
        uint32_t cp = 0;
        int bad = 0, np_bad = 0;
        while (p < end) {
            int n = utf8_next(p, end, &cp);
            if (!n) { bad = 1; break; }
            if (is_break(cp)) break;
            if (!yaml_printable(cp)) np_bad = 1;
            p += n;
        }
        const unsigned char *le = p;
        if (bad) {
            /* a sequence cut by the end of the buffer is not an error yet */
            if (end - p < 4 && len == cap) { why = "front matter longer than 1 MiB"; skip = 1; break; }
            bad_at = (size_t)(p - buf);
            break;
        }
        if (p < end) { /* the break */
            int n = utf8_next(p, end, &cp);
            p += n;
            if (cp == '\r' && p < end && *p == '\n') p++;
        } else if (len == cap) { why = "front matter longer than 1 MiB"; skip = 1; break; }
        lineno++;
        size_t ll = (size_t)(le - ls);
        if (lineno == 1) {
            first_ok = ll == 3 && !memcmp(ls, "---", 3);
            if (!first_ok) break;
            in_fm = 1;
            continue;
        }
        if (ll == 3 && !memcmp(ls, "---", 3)) { closed = 1; break; }
        if (np_bad) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: line %d: a control character in the front matter: llama.cpp's converter "
                         "stops on it (YAML refuses it); remove it or the front matter", path, lineno);
            break;
        }
        /* the converter's replacements: "- no\n" -> "- \"no\"\n", tab -> two spaces */
        int norway = ll >= 4 && !memcmp(le - 4, "- no", 4);
        for (const unsigned char *q = ls; q < le - (norway ? 2 : 0); q++) {
            if (*q == '\t') sb_put(&yaml, "  ", 2);
            else sb_put(&yaml, q, 1);
        }
        if (norway) sb_put(&yaml, "\"no\"", 4);
        sb_put(&yaml, "\n", 1);
        nlines++;
    }
    if (!rc && bad_at != (size_t)-1) {
        if (in_fm && !closed)
            rc = ds_fail(DS_EXIT_INPUT, "%s: byte %zu: the front matter is not UTF-8; llama.cpp's converter stops on "
                         "this file (UnicodeDecodeError)", path, bad_at);
        else
            ds_warn("%s: byte %zu: not UTF-8; llama.cpp's converter stops on this file (UnicodeDecodeError); the "
                    "model card is not read", path, bad_at);
        skip = 1;
    }
    /* the converter decodes the whole file: check the rest too */
    if (!rc && !skip && bad_at == (size_t)-1) {
        size_t off = (size_t)(p - buf);
        size_t keep = len - off;
        memmove(buf, buf + off, keep);
        size_t base = off;
        for (;;) {
            size_t got = fread(buf + keep, 1, cap - keep, f);
            size_t have = keep + got;
            size_t q = 0;
            int at_eof = got == 0 || have < cap;
            while (q < have) {
                uint32_t cp;
                int n = utf8_next(buf + q, buf + have, &cp);
                if (!n) {
                    if (!at_eof && have - q < 4) break; /* cut by the buffer: read on */
                    ds_warn("%s: byte %zu: not UTF-8; llama.cpp's converter stops on this file (UnicodeDecodeError); "
                            "the model card is not read", path, base + q);
                    skip = 1;
                    break;
                }
                q += (size_t)n;
            }
            if (skip || at_eof) break;
            keep = have - q;
            memmove(buf, buf + q, keep);
            base += q;
        }
    }
    fclose(f);
    free(buf);
    if (rc || skip || !first_ok) {
        if (skip && why) ds_warn("%s: model card not read: %s; llama.cpp's converter may write general.* keys from it "
                                 "that this file leaves out", path, why);
        free(yaml.p); free(path);
        return rc;
    }
    /* parse */
    yparse y;
    memset(&y, 0, sizeof y);
    y.line = xcalloc((size_t)nlines + 1, sizeof *y.line);
    char *s = yaml.p;
    for (int i = 0; i < nlines; i++) {
        char *nl = strchr(s, '\n');
        *nl = 0;
        y.line[y.n++] = s;
        s = nl + 1;
    }
    y.line[y.n] = (char *)""; /* a sentinel blank line */
    ds_gguf_card *c = xcalloc(1, sizeof *c);
    c->path = path;
    if (parse(&y, c, 2)) {
        ds_warn("%s: line %d: model card not read: %s; llama.cpp's converter may write general.* keys from it that "
                "this file leaves out", path, y.at, y.why);
        ds_gguf_card_free(c);
        c = NULL;
    }
    free(y.line);
    free(yaml.p);
    *card = c;
    return 0;
}

/* ---- the converter's name heuristics ------------------------------------- */
static int ascii_only(const char *s) {
    for (; *s; s++) if ((unsigned char)*s >= 0x80) return 0;
    return 1;
}
static int is_space(char ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1C && ch <= 0x1F); }
static int is_lower(char ch) { return ch >= 'a' && ch <= 'z'; }
static int is_upper(char ch) { return ch >= 'A' && ch <= 'Z'; }
static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* Metadata.id_to_title (ASCII): words split at whitespace and '-', each
 * all-lowercase word that is not a version (v1.2) or number title-cased. */
static char *id_to_title(const char *s) {
    size_t n = strlen(s);
    char *w = xmalloc(n + 1), *out = xmalloc(n + 1);
    size_t o = 0;
    const char *p = s;
    for (;;) {
        while (*p && (is_space(*p) || *p == '-')) p++;
        if (!*p) break;
        size_t k = 0;
        while (*p && !is_space(*p) && *p != '-') w[k++] = *p++;
        w[k] = 0;
        int has_lower = 0, has_upper = 0;
        for (size_t i = 0; i < k; i++) { has_lower |= is_lower(w[i]); has_upper |= is_upper(w[i]); }
        /* re.match(r'^(v\d+(?:\.\d+)*|\d.*)$'): case-sensitive */
        int version = is_digit(w[0]);
        if (w[0] == 'v') {
            regex_t r;
            if (regcomp(&r, "^v[0-9]+([.][0-9]+)*$", REG_EXTENDED | REG_NOSUB)) DS_BUG("regcomp");
            version = regexec(&r, w, 0, NULL, 0) == 0;
            regfree(&r);
        }
        if (has_lower && !has_upper && !version) {
            int prev = 0;
            for (size_t i = 0; i < k; i++) {
                int cased = is_lower(w[i]) || is_upper(w[i]);
                if (cased && !prev) w[i] = (char)(w[i] - 32);
                prev = cased;
            }
        }
        if (o) out[o++] = ' ';
        memcpy(out + o, w, k);
        o += k;
    }
    out[o] = 0;
    free(w);
    return out;
}

/* Metadata.get_model_id_components: the full name, organization (NULL: none)
 * and version (NULL: none) of a model id "ORG/NAME" or "NAME". */
typedef struct { char *full, *org, *version, *basename, *finetune, *size_label; } id_parts;
static void id_parts_free(id_parts *x) {
    free(x->full); free(x->org); free(x->version); free(x->basename); free(x->finetune); free(x->size_label);
}

/* "-".join of the parts with flag bit (and without not_bit); dedup: each text once. NULL when none. */
static char *join_parts(char **mod, const int *t, int np, int bit, int not_bit, int dedup) {
    sbuf v = {0};
    for (int i = 0; i < np; i++) {
        if (!(t[i] & bit) || (t[i] & not_bit)) continue;
        int seen = 0;
        for (int k = 0; dedup && k < i; k++) if ((t[k] & bit) && !strcmp(mod[k], mod[i])) seen = 1;
        if (seen) continue;
        if (v.n) sb_put(&v, "-", 1);
        sb_put(&v, mod[i], strlen(mod[i]));
    }
    return v.p;
}

enum { T_BASENAME = 1, T_SIZE = 2, T_FINETUNE = 4, T_VERSION = 8, T_TYPE = 16 };

static void model_id_components(const char *id, int64_t total, id_parts *out) {
    memset(out, 0, sizeof *out);
    if (strchr(id, ' ')) { out->full = xstrdup(id); return; }
    const char *sl = strchr(id, '/');
    if (sl) {
        out->org = xmalloc((size_t)(sl - id) + 1);
        memcpy(out->org, id, (size_t)(sl - id));
        out->org[sl - id] = 0;
        out->full = xstrdup(sl + 1);
        if (out->org[0] == '.') { free(out->org); out->org = NULL; }
    } else out->full = xstrdup(id);
    /* name parts: split at '-', empty ones removed */
    size_t n = strlen(out->full);
    char *buf = xmalloc(n + 1);
    memcpy(buf, out->full, n + 1);
    int np = 0;
    char **part = xcalloc(n + 1, sizeof *part);
    char **mod = xcalloc(n + 1, sizeof *mod); /* parts as annotated (sizes normalized) */
    int *t = xcalloc(n + 1, sizeof *t);
    for (char *save = NULL, *w = strtok_r(buf, "-", &save); w; w = strtok_r(NULL, "-", &save)) part[np++] = w;
    for (int i = 0; i < np; i++) {
        mod[i] = xstrdup(part[i]);
        const char *w = part[i];
        if (fullmatch("(v|iter)?[0-9]+([.][0-9]+)*", w)) t[i] |= T_VERSION;
        else if (fullmatch("i?q[0-9](_[A-Za-z0-9_])*|b?fp?(16|32)", w)) {
            t[i] |= T_TYPE;
            for (char *q = mod[i]; *q; q++) if (is_lower(*q)) *q = (char)(*q - 32);
        } else if (i > 0 && fullmatch("(([a]|[0-9]+[x])?[0-9]+([._][0-9]+)?[kmbt][0-9]?|small|mini|medium|large|x?xl)", w)) {
            char *s = mod[i];
            for (char *q = s; *q; q++) if (*q == '_') *q = '.';
            size_t L = strlen(s);
            if (is_digit(s[L - 1])) { /* bloom-7b1 notation: 7b1 -> 7.1b */
                char *r = xmalloc(L + 2);
                memcpy(r, s, L - 2);
                r[L - 2] = '.'; r[L - 1] = s[L - 1]; r[L] = s[L - 2]; r[L + 1] = 0;
                free(s); s = mod[i] = r; L++;
            }
            if (L > 1 && is_digit(s[L - 2]) && strchr("kmbt", s[L - 1])) s[L - 1] = (char)(s[L - 1] - 32);
            if (total != 0) {
                /* float(part[:-1]): digits with at most one '.' here, else ValueError */
                char num[64];
                int ok = L - 1 < sizeof num;
                if (ok) { memcpy(num, s, L - 1); num[L - 1] = 0; ok = fullmatch("[0-9]+([.][0-9]+)?", num); }
                const char *units = " KMBT";
                const char *u = strchr(units, s[L - 1]);
                if (ok) {
                    double label = strtod(num, NULL), mul = 1;
                    int pw = u ? (int)(u - units) : -1;
                    if (pw >= 0) for (int k = 0; k < pw; k++) mul *= 1000;
                    else mul = 0.001;
                    label *= mul;
                    /* a converted model's total is > 0: the LoRA branch does not apply */
                    if (total > 0 && fabs(label - (double)total) > (double)(7 * total / 8)) {
                        t[i] |= T_FINETUNE;
                        if (is_upper(s[L - 1])) s[L - 1] = (char)(s[L - 1] + 32);
                    }
                }
            }
            if (!t[i]) t[i] |= T_SIZE;
        } else if (i > 0 && fullmatch("chat|instruct|vision|lora", w)) {
            t[i] |= T_FINETUNE; /* total > 0 here: "lora" is a finetune */
        }
    }
    /* word sizes dropped when a numeric one is there */
    int numeric = 0;
    for (int i = 0; i < np; i++)
        if (t[i] & T_SIZE) for (const char *q = mod[i]; *q; q++) if (is_digit(*q)) numeric = 1;
    if (numeric)
        for (int i = 0; i < np; i++)
            if (t[i] & T_SIZE) {
                int alpha = 1;
                for (const char *q = mod[i]; *q; q++) if (!is_lower(*q) && !is_upper(*q)) alpha = 0;
                if (alpha) t[i] &= ~T_SIZE;
            }
    int at_start = 1;
    for (int i = 0; i < np; i++) {
        if (at_start && ((t[i] == 0 && (is_lower(mod[i][0]) || is_upper(mod[i][0]))) || (t[i] & T_VERSION))) t[i] |= T_BASENAME;
        else {
            at_start = 0;
            if (t[i] == 0) t[i] |= T_FINETUNE;
        }
    }
    for (int i = np - 1; i >= 0; i--) {
        if ((t[i] & T_BASENAME) && (t[i] & ~T_BASENAME)) t[i] &= ~T_BASENAME;
        else break;
    }
    out->basename = join_parts(mod, t, np, T_BASENAME, 0, 0);
    out->size_label = join_parts(mod, t, np, T_SIZE, 0, 1);
    out->finetune = join_parts(mod, t, np, T_FINETUNE, 0, 0);
    out->version = join_parts(mod, t, np, T_VERSION, T_BASENAME, 0);
    if (!out->size_label && !out->finetune && !out->version) { free(out->basename); out->basename = NULL; } /* too ambiguous */
    for (int i = 0; i < np; i++) free(mod[i]);
    free(mod); free(part); free(t); free(buf);
}

/* ---- writing --------------------------------------------------------------- */
static const cv_entry *card_get(const ds_gguf_card *c, const char *k) {
    if (!c) return NULL;
    for (int i = c->n - 1; i >= 0; i--) /* a key given twice: the last wins, as yaml.safe_load */
        if (!strcmp(c->e[i].key, k)) return &c->e[i];
    return NULL;
}

enum { F_NAME, F_AUTHOR, F_VERSION, F_ORG, F_DESC, F_FINETUNE, F_BASENAME, F_SIZE, F_SURL, F_SDOI, F_SUUID, F_SREPO,
       F_LICENSE, F_LNAME, F_LLINK, F_N };
/* apply_metadata_heuristic's use_model_card_metadata calls, in its order */
static const struct { int f; const char *key; } CARD_SCALARS[] = {
    {F_NAME, "name"}, {F_AUTHOR, "author"}, {F_VERSION, "version"}, {F_ORG, "organization"},
    {F_DESC, "description"}, {F_FINETUNE, "finetune"}, {F_BASENAME, "basename"}, {F_SIZE, "size_label"},
    {F_SURL, "url"}, {F_SDOI, "doi"}, {F_SUUID, "uuid"}, {F_SREPO, "repo_url"},
    {F_NAME, "model_name"}, {F_AUTHOR, "model_author"}, {F_VERSION, "model_version"}, {F_ORG, "model_organization"},
    {F_DESC, "model_description"}, {F_FINETUNE, "model_finetune"}, {F_BASENAME, "model_basename"},
    {F_SIZE, "model_size_label"}, {F_SURL, "model_url"}, {F_SDOI, "model_doi"}, {F_SUUID, "model_uuid"},
    {F_SREPO, "model_repo_url"},
    {F_AUTHOR, "model_creator"}, {F_BASENAME, "model_type"},
    {F_LICENSE, "license"}, {F_LNAME, "license_name"}, {F_LLINK, "license_link"},
};

typedef struct { sbuf names; } warnlist;
static void warn_key(warnlist *w, const char *k) {
    if (w->names.n) sb_put(&w->names, ", ", 2);
    sb_put(&w->names, k, strlen(k));
}

/* set_gguf_meta_model writes a string attribute when it is a non-empty str */
static void put_scalar(ds_gguf_kv *kv, const char *gkey, const cv_entry *e, warnlist *w) {
    if (!e) return;
    if (e->kind == CV_STR) { if (e->s[0]) ds_gguf_kv_str(kv, gkey, e->s); return; }
    warn_key(w, e->key);
}

/* One base_model / dataset entry from a string (the converter's rules). */
static void source_entry(ds_gguf_kv *kv, const char *pre, int idx, const char *s, int64_t total) {
    char k[128];
    char *name = NULL, *org = NULL, *version = NULL, *repo = NULL;
    id_parts ip;
    int have = 0;
    if (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8) || !strncmp(s, "ssh://", 6)) {
        repo = xstrdup(s);
        const char *h = !strncmp(s, "https://", 8) ? s + 8 : !strncmp(s, "http://", 7) ? s + 7 : NULL;
        /* re.match(r"https?://huggingface.co/([^/]+/[^/]+)$"): '.' is any character */
        if (strstr(s, "huggingface.co") && h && !strncmp(h, "huggingface", 11) && h[11] && !strncmp(h + 12, "co/", 3)) {
            const char *id = h + 15, *sl = strchr(id, '/');
            if (sl && sl > id && sl[1] && !strchr(sl + 1, '/')) {
                model_id_components(id, total, &ip);
                have = 1;
            }
        }
    } else {
        model_id_components(s, total, &ip);
        have = 1;
        if (ip.org && ip.full) {
            size_t n = strlen(ip.org) + strlen(ip.full) + 32;
            repo = xmalloc(n);
            snprintf(repo, n, "https://huggingface.co/%s/%s", ip.org, ip.full);
        }
    }
    if (have) {
        if (ip.full) name = id_to_title(ip.full);
        if (ip.org) org = id_to_title(ip.org);
        if (ip.version) version = xstrdup(ip.version);
        id_parts_free(&ip);
    }
    /* set_gguf_meta_model's order: name, author, version, organization, description, url, doi, uuid, repo_url */
#define PUT(field, v) do { if ((v) && (v)[0]) { snprintf(k, sizeof k, "general.%s.%d." field, pre, idx); ds_gguf_kv_str(kv, k, (v)); } } while (0)
    PUT("name", name);
    PUT("version", version);
    PUT("organization", org);
    PUT("repo_url", repo);
#undef PUT
    free(name); free(org); free(version); free(repo);
}

/* base_model / datasets: the first of keys[] present (even null) gives the
 * entries; pre is "base_model" or "dataset". */
static void put_sources(ds_gguf_kv *kv, const ds_gguf_card *c, const char *const keys[3], const char *pre,
                        int64_t total, warnlist *w) {
    const cv_entry *e = NULL;
    int present = 0;
    for (int i = 0; i < 3 && !present; i++)
        if ((e = card_get(c, keys[i]))) present = 1;
    if (!present) return;
    /* model_card.get(a, model_card.get(b, ...)): the first present key's value, null included */
    int ok = e->kind == CV_NULL || (e->kind == CV_STR && ascii_only(e->s));
    if (e->kind == CV_LIST) {
        ok = 1;
        for (int i = 0; i < e->n; i++)
            if (e->items[i].kind == CV_OTHER || (e->items[i].kind == CV_STR && !ascii_only(e->items[i].s))) ok = 0;
    }
    if (!ok) { warn_key(w, e->key); return; }
    int n = e->kind == CV_STR ? 1 : e->kind == CV_LIST ? e->n : 0;
    char k[96];
    snprintf(k, sizeof k, "general.%s.count", pre);
    ds_gguf_kv_u32(kv, k, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const char *s = e->kind == CV_STR ? e->s : e->items[i].s;
        if (s) source_entry(kv, pre, i, s, total); /* a null entry: counted, no keys (the converter's "not in a known format") */
    }
}

/* tags / languages: use_array_model_card_metadata for each key, appended */
static void put_array(ds_gguf_kv *kv, const ds_gguf_card *c, const char *gkey, const char *k1, const char *k2,
                      warnlist *w) {
    const char *ks[2] = {k1, k2};
    char **v = NULL;
    int n = 0, bad = 0;
    for (int i = 0; i < 2; i++) {
        const cv_entry *e = card_get(c, ks[i]);
        if (!e || e->kind == CV_NULL) continue;
        if (e->kind == CV_STR) { v = xrealloc(v, (size_t)(n + 1) * sizeof *v); v[n++] = e->s; continue; }
        int ok = e->kind == CV_LIST;
        for (int j = 0; ok && j < e->n; j++) if (e->items[j].kind != CV_STR) ok = 0;
        if (!ok) { warn_key(w, e->key); bad = 1; continue; }
        v = xrealloc(v, (size_t)(n + e->n + 1) * sizeof *v);
        for (int j = 0; j < e->n; j++) v[n++] = e->items[j].s;
    }
    if (!bad && n > 0) ds_gguf_kv_arr_str(kv, gkey, v, n);
    free(v);
}

/* A heuristic's value (h) where the card left the field unset: the
 * converter's "if metadata.X is None and component is not None". */
static void take(char **h, const char *v) { if (!*h && v) *h = xstrdup(v); }

/* the field: the card's entry, else the heuristics' string; non-empty strings written */
static void put_field(ds_gguf_kv *kv, const char *gkey, const cv_entry *e, const char *h, warnlist *w) {
    if (e) put_scalar(kv, gkey, e, w);
    else if (h && h[0]) ds_gguf_kv_str(kv, gkey, h);
}

void ds_gguf_card_write(ds_gguf_kv *kv, const ds_gguf_card *c, const char *cli_name, const char *dir_name,
                        const char *dir_base, const char *name_or_path, const char *size_label, int64_t total) {
    const cv_entry *f[F_N] = {0};
    for (size_t i = 0; i < sizeof CARD_SCALARS / sizeof *CARD_SCALARS; i++) {
        const cv_entry *e = card_get(c, CARD_SCALARS[i].key);
        if (!f[CARD_SCALARS[i].f] && e && e->kind != CV_NULL) f[CARD_SCALARS[i].f] = e;
    }
    /* then config.json's _name_or_path (when a model id: at most one '/'), then
     * the directory's name: name, organization, basename, finetune, version,
     * size label where the card gave none */
    char *h[F_N] = {0};
    const char *ids[2] = {name_or_path, dir_base};
    for (int k = 0; k < 2; k++) {
        const char *id = ids[k];
        if (!id) continue;
        int slashes = 0;
        for (const char *q = id; *q; q++) slashes += *q == '/';
        if (slashes > 1 || !ascii_only(id)) continue;
        id_parts ip;
        model_id_components(id, total, &ip);
        if (k == 0 && ip.full && !f[F_NAME]) { char *t = id_to_title(ip.full); take(&h[F_NAME], t); free(t); }
        if (ip.org && !f[F_ORG]) { char *t = id_to_title(ip.org); take(&h[F_ORG], t); free(t); }
        if (!f[F_BASENAME]) take(&h[F_BASENAME], ip.basename);
        if (!f[F_FINETUNE]) take(&h[F_FINETUNE], ip.finetune);
        if (!f[F_VERSION]) take(&h[F_VERSION], ip.version);
        if (!f[F_SIZE]) take(&h[F_SIZE], ip.size_label);
        id_parts_free(&ip);
    }
    warnlist w = {{0}};
    /* name: --name, else the card's, else _name_or_path's, else the directory's */
    if (cli_name) ds_gguf_kv_str(kv, "general.name", cli_name);
    else if (f[F_NAME] && f[F_NAME]->kind == CV_STR) { if (f[F_NAME]->s[0]) ds_gguf_kv_str(kv, "general.name", f[F_NAME]->s); }
    else {
        if (f[F_NAME]) warn_key(&w, f[F_NAME]->key);
        if (h[F_NAME]) { if (h[F_NAME][0]) ds_gguf_kv_str(kv, "general.name", h[F_NAME]); }
        else ds_gguf_kv_str(kv, "general.name", dir_name);
    }
    put_scalar(kv, "general.author", f[F_AUTHOR], &w);
    put_field(kv, "general.version", f[F_VERSION], h[F_VERSION], &w);
    put_field(kv, "general.organization", f[F_ORG], h[F_ORG], &w);
    put_field(kv, "general.finetune", f[F_FINETUNE], h[F_FINETUNE], &w);
    put_field(kv, "general.basename", f[F_BASENAME], h[F_BASENAME], &w);
    put_scalar(kv, "general.description", f[F_DESC], &w);
    if (f[F_SIZE] && f[F_SIZE]->kind == CV_STR) { if (f[F_SIZE]->s[0]) ds_gguf_kv_str(kv, "general.size_label", f[F_SIZE]->s); }
    else if (h[F_SIZE] && !f[F_SIZE]) { if (h[F_SIZE][0]) ds_gguf_kv_str(kv, "general.size_label", h[F_SIZE]); }
    else {
        if (f[F_SIZE]) warn_key(&w, f[F_SIZE]->key);
        if (size_label) ds_gguf_kv_str(kv, "general.size_label", size_label);
    }
    const cv_entry *lic = f[F_LICENSE];
    if (lic && lic->kind == CV_LIST) { /* a list of licenses: joined with "," */
        sbuf j = {0};
        sb_put(&j, "", 0);
        int ok = 1;
        for (int i = 0; i < lic->n; i++) {
            if (lic->items[i].kind != CV_STR) { ok = 0; break; }
            if (i) sb_put(&j, ",", 1);
            sb_put(&j, lic->items[i].s, strlen(lic->items[i].s));
        }
        if (!ok) warn_key(&w, lic->key);
        else if (j.n) ds_gguf_kv_str(kv, "general.license", j.p);
        free(j.p);
    } else put_scalar(kv, "general.license", lic, &w);
    put_scalar(kv, "general.license.name", f[F_LNAME], &w);
    put_scalar(kv, "general.license.link", f[F_LLINK], &w);
    put_scalar(kv, "general.source.url", f[F_SURL], &w);
    put_scalar(kv, "general.source.doi", f[F_SDOI], &w);
    put_scalar(kv, "general.source.uuid", f[F_SUUID], &w);
    put_scalar(kv, "general.source.repo_url", f[F_SREPO], &w);
    if (c) {
        static const char *const BM[3] = {"base_model", "base_models", "base_model_sources"};
        static const char *const DS[3] = {"datasets", "dataset", "dataset_sources"};
        put_sources(kv, c, BM, "base_model", total, &w);
        put_sources(kv, c, DS, "dataset", total, &w);
        put_array(kv, c, "general.tags", "tags", "pipeline_tag", &w);
        put_array(kv, c, "general.languages", "languages", "language", &w);
    }
    if (w.names.n)
        ds_warn("%s: model card keys not written (their values are not the strings and lists of strings to-gguf "
                "reads as llama.cpp's converter does): %s; this file leaves them out", c ? c->path : "README.md",
                w.names.p);
    free(w.names.p);
    for (int i = 0; i < F_N; i++) free(h[i]);
}
