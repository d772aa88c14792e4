/* gguf_card.c - general.* keys from the model card (see gguf_card.h).
 *
 * The rules, from gguf-py 0.3.36 (metadata.py Metadata.load_model_card,
 * apply_metadata_heuristic, get_model_id_components, id_to_title,
 * set_gguf_meta_model; gguf_writer.py add_string / add_array; the front
 * matter itself is read by formats/model_card.c):
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
 *   size_label replaces the computed one. */
#include "convert/gguf_card.h"
#include "common/util.h"
#include "common/bug.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define fullmatch(re, s) ds_re_match((re), (s), 1) /* re.fullmatch(re, s, re.IGNORECASE) */

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
        if (w[0] == 'v') version = ds_re_match("v[0-9]+([.][0-9]+)*", w, 0);
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
    ds_sbuf v = {0};
    for (int i = 0; i < np; i++) {
        if (!(t[i] & bit) || (t[i] & not_bit)) continue;
        int seen = 0;
        for (int k = 0; dedup && k < i; k++) if ((t[k] & bit) && !strcmp(mod[k], mod[i])) seen = 1;
        if (seen) continue;
        if (v.n) ds_sbuf_put(&v, "-", 1);
        ds_sbuf_put(&v, mod[i], strlen(mod[i]));
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

typedef struct { ds_sbuf names; } warnlist;
static void warn_key(warnlist *w, const char *k) {
    if (w->names.n) ds_sbuf_put(&w->names, ", ", 2);
    ds_sbuf_put(&w->names, k, strlen(k));
}

/* set_gguf_meta_model writes a string attribute when it is a non-empty str */
static void put_scalar(ds_gguf_kv *kv, const char *gkey, const ds_cv_entry *e, warnlist *w) {
    if (!e) return;
    if (e->kind == DS_CV_STR) { if (e->s[0]) ds_gguf_kv_str(kv, gkey, e->s); return; }
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
static void put_sources(ds_gguf_kv *kv, const ds_model_card *c, const char *const keys[3], const char *pre,
                        int64_t total, warnlist *w) {
    const ds_cv_entry *e = NULL;
    int present = 0;
    for (int i = 0; i < 3 && !present; i++)
        if ((e = ds_model_card_get(c, keys[i]))) present = 1;
    if (!present) return;
    /* model_card.get(a, model_card.get(b, ...)): the first present key's value, null included */
    int ok = e->kind == DS_CV_NULL || (e->kind == DS_CV_STR && ascii_only(e->s));
    if (e->kind == DS_CV_LIST) {
        ok = 1;
        for (int i = 0; i < e->n; i++)
            if (e->items[i].kind == DS_CV_OTHER || (e->items[i].kind == DS_CV_STR && !ascii_only(e->items[i].s))) ok = 0;
    }
    if (!ok) { warn_key(w, e->key); return; }
    int n = e->kind == DS_CV_STR ? 1 : e->kind == DS_CV_LIST ? e->n : 0;
    char k[96];
    snprintf(k, sizeof k, "general.%s.count", pre);
    ds_gguf_kv_u32(kv, k, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const char *s = e->kind == DS_CV_STR ? e->s : e->items[i].s;
        if (s) source_entry(kv, pre, i, s, total); /* a null entry: counted, no keys (the converter's "not in a known format") */
    }
}

/* tags / languages: use_array_model_card_metadata for each key, appended */
static void put_array(ds_gguf_kv *kv, const ds_model_card *c, const char *gkey, const char *k1, const char *k2,
                      warnlist *w) {
    const char *ks[2] = {k1, k2};
    char **v = NULL;
    int n = 0, bad = 0;
    for (int i = 0; i < 2; i++) {
        const ds_cv_entry *e = ds_model_card_get(c, ks[i]);
        if (!e || e->kind == DS_CV_NULL) continue;
        if (e->kind == DS_CV_STR) { v = xrealloc(v, (size_t)(n + 1) * sizeof *v); v[n++] = e->s; continue; }
        int ok = e->kind == DS_CV_LIST;
        for (int j = 0; ok && j < e->n; j++) if (e->items[j].kind != DS_CV_STR) ok = 0;
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
static void put_field(ds_gguf_kv *kv, const char *gkey, const ds_cv_entry *e, const char *h, warnlist *w) {
    if (e) put_scalar(kv, gkey, e, w);
    else if (h && h[0]) ds_gguf_kv_str(kv, gkey, h);
}

void ds_gguf_card_write(ds_gguf_kv *kv, const ds_model_card *c, const char *cli_name, const char *dir_base,
                        const char *name_or_path, const char *size_label, int64_t total) {
    const ds_cv_entry *f[F_N] = {0};
    for (size_t i = 0; i < sizeof CARD_SCALARS / sizeof *CARD_SCALARS; i++) {
        const ds_cv_entry *e = ds_model_card_get(c, CARD_SCALARS[i].key);
        if (!f[CARD_SCALARS[i].f] && e && e->kind != DS_CV_NULL) f[CARD_SCALARS[i].f] = e;
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
    else if (f[F_NAME] && f[F_NAME]->kind == DS_CV_STR) { if (f[F_NAME]->s[0]) ds_gguf_kv_str(kv, "general.name", f[F_NAME]->s); }
    else {
        if (f[F_NAME]) warn_key(&w, f[F_NAME]->key);
        if (h[F_NAME]) { if (h[F_NAME][0]) ds_gguf_kv_str(kv, "general.name", h[F_NAME]); }
        else {
            char *t = id_to_title(dir_base);
            ds_gguf_kv_str(kv, "general.name", t);
            free(t);
        }
    }
    put_scalar(kv, "general.author", f[F_AUTHOR], &w);
    put_field(kv, "general.version", f[F_VERSION], h[F_VERSION], &w);
    put_field(kv, "general.organization", f[F_ORG], h[F_ORG], &w);
    put_field(kv, "general.finetune", f[F_FINETUNE], h[F_FINETUNE], &w);
    put_field(kv, "general.basename", f[F_BASENAME], h[F_BASENAME], &w);
    put_scalar(kv, "general.description", f[F_DESC], &w);
    if (f[F_SIZE] && f[F_SIZE]->kind == DS_CV_STR) { if (f[F_SIZE]->s[0]) ds_gguf_kv_str(kv, "general.size_label", f[F_SIZE]->s); }
    else if (h[F_SIZE] && !f[F_SIZE]) { if (h[F_SIZE][0]) ds_gguf_kv_str(kv, "general.size_label", h[F_SIZE]); }
    else {
        if (f[F_SIZE]) warn_key(&w, f[F_SIZE]->key);
        if (size_label) ds_gguf_kv_str(kv, "general.size_label", size_label);
    }
    const ds_cv_entry *lic = f[F_LICENSE];
    if (lic && lic->kind == DS_CV_LIST) { /* a list of licenses: joined with "," */
        ds_sbuf j = {0};
        ds_sbuf_put(&j, "", 0);
        int ok = 1;
        for (int i = 0; i < lic->n; i++) {
            if (lic->items[i].kind != DS_CV_STR) { ok = 0; break; }
            if (i) ds_sbuf_put(&j, ",", 1);
            ds_sbuf_put(&j, lic->items[i].s, strlen(lic->items[i].s));
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
