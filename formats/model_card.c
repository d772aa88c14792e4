/* model_card.c - a model card's front matter, read (see model_card.h).
 *
 * As llama.cpp's converter reads it (gguf-py 0.3.36 metadata.py
 * Metadata.load_model_card): README.md is read whole as UTF-8 (a decode error
 * stops the converter); the front matter is the lines (str.splitlines) after
 * a first line that is exactly "---", up to the next line that is exactly
 * "---" (or the end); joined with "\n" plus a final "\n", "- no\n" becomes
 * "- \"no\"\n" and each tab two spaces, then yaml.safe_load; anything but a
 * mapping counts as no card.
 * What is read is a strict subset of YAML: top-level "key: value" lines with
 * plain, 'single' or "double" quoted scalars, one-line [flow, lists], and
 * "- item" lists; other values (nested mappings, block scalars, ...) are kept
 * as DS_CV_OTHER (the writer skips them where the converter does not read the
 * key and warns where it does); a front matter outside the subset is not read
 * (warning). */
#include "formats/model_card.h"
#include "common/util.h"
#include "common/bug.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CARD_MAX_BYTES (1u << 20) /* front matter read at most (bytes) */
#define CARD_MAX_KEYS 4096
#define CARD_MAX_ITEMS 4096       /* list items in all */

void ds_model_card_free(ds_model_card *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->e[i].key); free(c->e[i].s);
        for (int k = 0; k < c->e[i].n; k++) free(c->e[i].items[k].s);
        free(c->e[i].items);
    }
    free(c->e); free(c->path); free(c);
}

const ds_cv_entry *ds_model_card_get(const ds_model_card *c, const char *k) {
    if (!c) return NULL;
    for (int i = c->n - 1; i >= 0; i--) /* a key given twice: the last wins, as yaml.safe_load */
        if (!strcmp(c->e[i].key, k)) return &c->e[i];
    return NULL;
}

/* ---- reading the front matter -------------------------------------------- */
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


/* A plain scalar's type as PyYAML's implicit resolvers (YAML 1.1) give it:
 * null, str, or OTHER (bool, int, float, timestamp, merge, value). */
static ds_cv_kind plain_kind(const char *t) {
    if (!*t || ds_re_match("~|null|Null|NULL", t, 0)) return DS_CV_NULL;
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
        if (ds_re_match(other[i], t, 0)) return DS_CV_OTHER;
    return DS_CV_STR;
}

/* A quoted scalar at *pp (on '"' or '\''), ending on this line: sets *out
 * (STR, or OTHER for an escape not decoded here) and moves *pp past it.
 * 0, or -1 when it does not end on the line. */
static int quoted(const char **pp, ds_cv_item *out) {
    const char *p = *pp;
    char q = *p++;
    ds_sbuf b = {0};
    ds_sbuf_put(&b, "", 0);
    int other = 0;
    for (;;) {
        if (!*p) { free(b.p); return -1; }
        if (q == '\'' && p[0] == '\'') {
            if (p[1] == '\'') { ds_sbuf_put(&b, "'", 1); p += 2; continue; }
            p++; break;
        }
        if (q == '"' && p[0] == '"') { p++; break; }
        if (q == '"' && p[0] == '\\') {
            if (!p[1]) { free(b.p); return -1; } /* an escaped line break: continues on the next line */
            const char *m = strchr("\\\"/", p[1]);
            if (m) ds_sbuf_put(&b, p + 1, 1);
            else if (p[1] == 't') ds_sbuf_put(&b, "\t", 1);
            else other = 1;
            p += 2;
            continue;
        }
        ds_sbuf_put(&b, p, 1);
        p++;
    }
    *pp = p;
    if (other) { free(b.p); out->kind = DS_CV_OTHER; out->s = NULL; }
    else { out->kind = DS_CV_STR; out->s = b.p; }
    return 0;
}

/* A plain scalar in block context from p to the end of the line or a
 * comment: *map set when it holds ": " or ends in ':' (a mapping). */
static void plain(const char *p, ds_cv_item *out, int *map) {
    const char *e = p;
    while (*e && !(*e == '#' && e > p && e[-1] == ' ')) e++;
    while (e > p && e[-1] == ' ') e--;
    char *t = xmalloc((size_t)(e - p) + 1);
    memcpy(t, p, (size_t)(e - p));
    t[e - p] = 0;
    *map = strstr(t, ": ") != NULL || (e > p && e[-1] == ':');
    out->kind = plain_kind(t);
    if (out->kind == DS_CV_STR) out->s = t;
    else { free(t); out->s = NULL; }
}

static int rest_is_empty(const char *p) {
    while (*p == ' ') p++;
    return *p == 0 || *p == '#';
}

static ds_cv_item *push_item(yparse *y, ds_cv_entry *e) {
    if (++y->items > CARD_MAX_ITEMS) return NULL;
    e->items = xrealloc(e->items, (size_t)(e->n + 1) * sizeof *e->items);
    ds_cv_item *it = &e->items[e->n++];
    it->kind = DS_CV_NULL; it->s = NULL;
    return it;
}

/* A one-line [flow, list] at p (on '['): the entry's items, or OTHER when it
 * nests. 0, or -1 (y->why) when it does not close on the line. */
static int flow_list(yparse *y, const char *p, ds_cv_entry *e) {
    /* first: does it close on this line (quotes and nesting followed)? */
    int depth = 0, nested = 0;
    const char *q = p, *close = NULL;
    while (*q) {
        if (*q == '"' || *q == '\'') {
            ds_cv_item tmp;
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
    if (nested || *p != '[') { e->kind = DS_CV_OTHER; return 0; }
    e->kind = DS_CV_LIST;
    p++;
    for (;;) {
        while (*p == ' ') p++;
        if (p == close) break;
        ds_cv_item *it = push_item(y, e);
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
            it->kind = col ? DS_CV_OTHER : plain_kind(v);
            if (it->kind == DS_CV_STR) it->s = v;
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
static int inline_value(yparse *y, const char *p, ds_cv_item *it, int in_item) {
    if (*p == '"' || *p == '\'') {
        if (quoted(&p, it)) { y->why = "a quoted scalar goes on past its line"; return -1; }
        while (*p == ' ') p++;
        if (in_item && *p == ':') { free(it->s); it->s = NULL; it->kind = DS_CV_OTHER; return 0; }
        if (!rest_is_empty(p)) { y->why = "text after a quoted scalar"; return -1; }
        return 0;
    }
    if (*p == '|' || *p == '>') { it->kind = DS_CV_OTHER; return 0; } /* block scalar: its lines are indented */
    if (in_item && *p == '-' && (p[1] == ' ' || !p[1])) { it->kind = DS_CV_OTHER; return 0; } /* nested list */
    if (strchr("&*!%@`?,]}-", *p) && !(*p == '-' && p[1] && p[1] != ' ')) {
        y->why = "an anchor, alias, tag or indicator the subset read here does not have";
        return -1;
    }
    int map;
    plain(p, it, &map);
    if (map) {
        free(it->s); it->s = NULL; it->kind = DS_CV_OTHER;
        if (!in_item) { y->why = "a value holding \": \" (not YAML the converter reads)"; return -1; }
    }
    return 0;
}

/* Parses the front matter's lines into c->e. 0, or -1 with y->why/y->at. */
static int parse(yparse *y, ds_model_card *c, int first_line) {
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
        ds_cv_entry *e = &c->e[c->n++];
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
                if (more) e->kind = DS_CV_OTHER;
            } else {
                ds_cv_item it = {DS_CV_NULL, NULL};
                if (inline_value(y, p, &it, 0)) return -1;
                e->kind = it.kind; e->s = it.s;
                if (more) { free(e->s); e->s = NULL; e->kind = DS_CV_OTHER; } /* several lines */
            }
            i = j;
            continue;
        }
        if (!more) { e->kind = DS_CV_NULL; i = j; continue; }
        /* a "- item" list at the indent of its first line, or another value (OTHER) */
        int f = i + 1;
        while (blank_or_comment(y->line[f])) f++;
        int n0 = indent_of(y->line[f]);
        const char *F = y->line[f] + n0;
        if (!(F[0] == '-' && (F[1] == ' ' || !F[1]))) { e->kind = DS_CV_OTHER; i = j; continue; }
        e->kind = DS_CV_LIST;
        ds_cv_item *cur = NULL;
        for (int m = f; m < j; m++) {
            const char *M = y->line[m];
            if (blank_or_comment(M)) continue;
            int n = indent_of(M);
            y->at = first_line + m;
            if (n > n0) { if (cur) { free(cur->s); cur->s = NULL; cur->kind = DS_CV_OTHER; } continue; }
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
                ds_cv_entry sub;
                memset(&sub, 0, sizeof sub);
                int r = flow_list(y, q, &sub);
                for (int s = 0; s < sub.n; s++) free(sub.items[s].s);
                free(sub.items);
                if (r) return -1;
                cur->kind = DS_CV_OTHER;
                continue;
            }
            if (inline_value(y, q, cur, 1)) return -1;
        }
        i = j;
    }
    return 0;
}

int ds_model_card_load(const char *dir, ds_model_card **card) {
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
    ds_sbuf yaml = {0};
    int nlines = 0, in_fm = 0, closed = 0, first_ok = 0, lineno = 0, skip = 0;
    const char *why = NULL;
    size_t bad_at = (size_t)-1;
    while (p < end && !closed) {
        const unsigned char *ls = p;
        uint32_t cp = 0;
        int bad = 0, np_bad = 0;
        while (p < end) {
            int n = ds_utf8_next(p, end, &cp);
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
            int n = ds_utf8_next(p, end, &cp);
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
            if (*q == '\t') ds_sbuf_put(&yaml, "  ", 2);
            else ds_sbuf_put(&yaml, q, 1);
        }
        if (norway) ds_sbuf_put(&yaml, "\"no\"", 4);
        ds_sbuf_put(&yaml, "\n", 1);
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
                int n = ds_utf8_next(buf + q, buf + have, &cp);
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
    ds_model_card *c = xcalloc(1, sizeof *c);
    c->path = path;
    if (parse(&y, c, 2)) {
        ds_warn("%s: line %d: model card not read: %s; llama.cpp's converter may write general.* keys from it that "
                "this file leaves out", path, y.at, y.why);
        ds_model_card_free(c);
        c = NULL;
    }
    free(y.line);
    free(yaml.p);
    *card = c;
    return 0;
}
