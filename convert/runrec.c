/* runrec.c - input fingerprints, run journals and records, part assignment. */
#define _GNU_SOURCE
#include "convert/runrec.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/jsonfile.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ fingerprint */

static int hash_small_file(const char *dir, const char *name, cJSON *o, const char *key) {
    char *path = ds_path_join(dir, name);
    int rc = 0;
    if (ds_path_exists(path)) {
        char *buf;
        size_t n;
        char hex[33];
        rc = ds_read_file(path, &buf, &n);
        if (!rc) {
            ds_xxh128_hex(buf, n, hex);
            cJSON_AddStringToObject(o, key, hex);
            free(buf);
        }
    } else {
        cJSON_AddNullToObject(o, key);
    }
    free(path);
    return rc;
}

int ds_fingerprint(const ds_ckpt *c, cJSON **out) {
    cJSON *o = cJSON_CreateObject();
    int rc = hash_small_file(c->dir, "model.safetensors.index.json", o, "index");
    if (!rc) rc = hash_small_file(c->dir, "config.json", o, "config");
    cJSON *sh = cJSON_AddArrayToObject(o, "shards");
    for (int s = 0; s < c->n_shards && !rc; s++) {
        const ds_st_file *f = &c->shards[s];
        char hex[33];
        ds_xxh128_hex(f->map, (size_t)f->data_offset, hex);   /* length prefix + header JSON */
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", c->shard_names[s]);
        cJSON_AddNumberToObject(e, "size", (double)f->file_size);
        cJSON_AddStringToObject(e, "header", hex);
        cJSON_AddItemToArray(sh, e);
    }
    if (rc) { cJSON_Delete(o); return rc; }
    char *txt = cJSON_PrintUnformatted(o), hex[33];
    ds_xxh128_hex(txt, strlen(txt), hex);
    free(txt);
    /* The summary hash first, so a reader sees it before the list. */
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "xxh3_128", hex);
    cJSON *it = o->child;
    while (it) {
        cJSON *next = it->next;
        cJSON_AddItemToObject(r, it->string, cJSON_DetachItemViaPointer(o, it));
        it = next;
    }
    cJSON_Delete(o);
    *out = r;
    return 0;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0) s = NULL;
    va_end(ap);
    return s ? s : xstrdup("(out of memory)");
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

char *ds_fingerprint_diff(const cJSON *was, const cJSON *now) {
    if (same_str(str_of(was, "xxh3_128"), str_of(now, "xxh3_128")) && str_of(now, "xxh3_128")) return NULL;
    if (!same_str(str_of(was, "index"), str_of(now, "index"))) return xstrdup("model.safetensors.index.json changed");
    if (!same_str(str_of(was, "config"), str_of(now, "config"))) return xstrdup("config.json changed");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(was, "shards"), *b = cJSON_GetObjectItemCaseSensitive(now, "shards");
    int na = cJSON_GetArraySize(a), nb = cJSON_GetArraySize(b);
    for (int i = 0; i < na && i < nb; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i);
        const char *n = str_of(y, "name");
        if (!same_str(str_of(x, "name"), n))
            return fmt("shard %d is %s, was %s", i + 1, n ? n : "?", str_of(x, "name") ? str_of(x, "name") : "?");
        double sa = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "size"));
        double sb = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(y, "size"));
        if (sa != sb) return fmt("shard %s: size %.0f, was %.0f", n, sb, sa);
        if (!same_str(str_of(x, "header"), str_of(y, "header"))) return fmt("shard %s: header changed", n);
    }
    if (na != nb) return fmt("%d shards, were %d", nb, na);
    return xstrdup("fingerprint differs");
}

/* ------------------------------------------------------------ heads */

cJSON *ds_rec_head(const char *command, const char *const *options, int n_options, const char *input_dir,
                   int part_i, int part_n, const cJSON *fingerprint) {
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "format", "dsconv-run-1");
    cJSON_AddStringToObject(h, "command", command);
    cJSON *o = cJSON_AddArrayToObject(h, "options");
    for (int i = 0; i < n_options; i++) cJSON_AddItemToArray(o, cJSON_CreateString(options[i]));
    cJSON_AddStringToObject(h, "input", input_dir);
    if (part_n) {
        cJSON *p = cJSON_AddArrayToObject(h, "part");
        cJSON_AddItemToArray(p, cJSON_CreateNumber(part_i));
        cJSON_AddItemToArray(p, cJSON_CreateNumber(part_n));
    }
    cJSON_AddItemToObject(h, "fingerprint", cJSON_Duplicate(fingerprint, 1));
    return h;
}

static char *options_text(const cJSON *h) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(h, "options"), *it;
    size_t n = 1;
    cJSON_ArrayForEach(it, o) n += (cJSON_IsString(it) ? strlen(it->valuestring) : 1) + 1;
    char *s = xmalloc(n), *p = s;
    *p = 0;
    cJSON_ArrayForEach(it, o) p += sprintf(p, "%s%s", p == s ? "" : " ", cJSON_IsString(it) ? it->valuestring : "?");
    return s;
}

char *ds_rec_head_diff(const cJSON *was, const cJSON *now) {
    const char *ca = str_of(was, "command"), *cb = str_of(now, "command");
    if (!same_str(ca, cb)) return fmt("command %s, was %s", cb ? cb : "?", ca ? ca : "?");
    char *oa = options_text(was), *ob = options_text(now);
    if (strcmp(oa, ob)) {
        char *r = fmt("options '%s', were '%s'", ob, oa);
        free(oa); free(ob);
        return r;
    }
    free(oa); free(ob);
    char *d = ds_fingerprint_diff(cJSON_GetObjectItemCaseSensitive(was, "fingerprint"),
                                  cJSON_GetObjectItemCaseSensitive(now, "fingerprint"));
    if (!d) return NULL;
    char *r = fmt("input changed: %s", d);
    free(d);
    return r;
}

/* ------------------------------------------------------------ records */

char *ds_rec_path(const char *out_dir, int part_i, int part_n, const char *ext) {
    char name[96];
    if (part_n) snprintf(name, sizeof name, "%s/part-%d-of-%d%s", DS_REC_DIR, part_i, part_n, ext);
    else snprintf(name, sizeof name, "%s/run%s", DS_REC_DIR, ext);
    return ds_path_join(out_dir, name);
}

void ds_rec_free(ds_rec *r) {
    cJSON_Delete(r->head);
    cJSON_Delete(r->files);
    memset(r, 0, sizeof *r);
}

static int head_ok(const cJSON *h) {
    const char *f = str_of(h, "format");
    return cJSON_IsObject(h) && f && !strcmp(f, "dsconv-run-1") && str_of(h, "command") &&
           cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(h, "options")) &&
           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(h, "fingerprint"));
}

/* An entry has a size; its hashes are there when the run made them (runrec.h). */
static int entry_ok(const cJSON *e) {
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "xxh3_128"), *n = cJSON_GetObjectItemCaseSensitive(e, "size");
    /* sizes are whole byte counts a double holds exactly (and casts to uint64_t safely) */
    return cJSON_IsObject(e) && cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble <= 9007199254740992.0 &&
           n->valuedouble == (double)(uint64_t)n->valuedouble && (!h || cJSON_IsString(h));
}

/* Output file names in records are basenames of OUT, nothing else. */
static int name_ok(const char *n) { return n && n[0] && n[0] != '.' && !strchr(n, '/'); }

static int load_json_record(const char *path, ds_rec *r) {
    cJSON *j;
    /* strict and capped, like every JSON dsconv reads (common/json.h): OUT may be as untrusted as IN */
    DS_TRY(ds_json_load(path, DS_MAX_MANIFEST_BYTES, &j));
    cJSON *files = j ? cJSON_DetachItemFromObjectCaseSensitive(j, "files") : NULL;
    int ok = head_ok(j) && cJSON_IsObject(files);
    const cJSON *e;
    if (ok) cJSON_ArrayForEach(e, files) if (!name_ok(e->string) || !entry_ok(e)) ok = 0;
    if (!ok) {
        cJSON_Delete(j); cJSON_Delete(files);
        return ds_fail(DS_EXIT_INPUT, "%s: not a dsconv run record", path);
    }
    r->head = j;
    r->files = files;
    r->complete = 1;
    return 0;
}

/* A journal: the head, then one entry per line. A line cut short by a crash
 * (no newline, or not JSON) ends the journal: the file it names is not proven. */
static int load_journal(const char *path, ds_rec *r) {
    char *txt;
    size_t n;
    DS_TRY(ds_read_file_max(path, DS_MAX_MANIFEST_BYTES, &txt, &n));
    char *p = txt, *nl = memchr(p, '\n', n);
    cJSON *h = nl ? ds_json_parse_quiet(p, (size_t)(nl - p)) : NULL;
    if (!head_ok(h)) {
        cJSON_Delete(h);
        free(txt);
        return ds_fail(DS_EXIT_INPUT, "%s: not a dsconv run journal", path);
    }
    r->head = h;
    r->files = cJSON_CreateObject();
    for (p = nl + 1; (size_t)(p - txt) < n && (nl = memchr(p, '\n', n - (size_t)(p - txt))); p = nl + 1) {
        /* strict: a duplicate key or bytes after the entry end the journal like a torn line */
        cJSON *e = ds_json_parse_quiet(p, (size_t)(nl - p));
        const char *f = str_of(e, "file");
        if (!name_ok(f) || !entry_ok(e)) { cJSON_Delete(e); break; }
        char *name = xstrdup(f);
        cJSON_DeleteItemFromObjectCaseSensitive(e, "file");
        cJSON_DeleteItemFromObjectCaseSensitive(r->files, name);   /* a later entry supersedes */
        cJSON_AddItemToObject(r->files, name, e);
        free(name);
    }
    free(txt);
    return 0;
}

static void set_part(ds_rec *r) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r->head, "part");
    r->part_i = r->part_n = 0;
    if (cJSON_GetArraySize(p) == 2) {
        double i = cJSON_GetNumberValue(cJSON_GetArrayItem(p, 0)), n = cJSON_GetNumberValue(cJSON_GetArrayItem(p, 1));
        /* out of range (or NaN): -1, which no part's file name matches */
        r->part_i = i >= 1 && i <= 100000 ? (int)i : -1;
        r->part_n = n >= 1 && n <= 100000 ? (int)n : -1;
    }
}

int ds_rec_load(const char *out_dir, int part_i, int part_n, ds_rec *r, int *found) {
    memset(r, 0, sizeof *r);
    *found = 0;
    char *pj = ds_rec_path(out_dir, part_i, part_n, ".json"), *pl = ds_rec_path(out_dir, part_i, part_n, ".log");
    int rc = 0;
    if (ds_path_exists(pj)) { rc = load_json_record(pj, r); *found = !rc; }
    else if (ds_path_exists(pl)) {
        rc = load_journal(pl, r);
        /* A run that finished between the two looks replaced its journal by its record. */
        if (rc && !ds_path_exists(pl) && ds_path_exists(pj)) rc = load_json_record(pj, r);
        *found = !rc;
    }
    free(pj); free(pl);
    if (*found) {
        set_part(r);
        if (r->part_i != part_i || r->part_n != part_n) {
            ds_rec_free(r);
            *found = 0;
            char *p = ds_rec_path(out_dir, part_i, part_n, "");
            rc = ds_fail(DS_EXIT_INPUT, "%s: the record names another part than its file name", p);
            free(p);
        }
    }
    return rc;
}

static int rec_cmp(const void *a, const void *b) {
    const ds_rec *x = a, *y = b;
    if (x->part_n != y->part_n) return x->part_n < y->part_n ? -1 : 1;
    return x->part_i < y->part_i ? -1 : x->part_i > y->part_i;
}

int ds_rec_load_all(const char *out_dir, ds_rec_set *s) {
    memset(s, 0, sizeof *s);
    char *dir = ds_path_join(out_dir, DS_REC_DIR);
    DIR *d = opendir(dir);
    free(dir);
    if (!d) return 0;
    struct dirent *de;
    int rc = 0, cap = 0;
    while (!rc && (de = readdir(d))) {
        int i = 0, n = 0, len = 0;
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        int is_json = l > 5 && !strcmp(nm + l - 5, ".json"), is_log = l > 4 && !strcmp(nm + l - 4, ".log");
        if (!is_json && !is_log) continue;
        if (!strcmp(nm, "run.json") || !strcmp(nm, "run.log")) { i = n = 0; }
        else if (sscanf(nm, "part-%d-of-%d%n", &i, &n, &len) != 2 || nm[len] != '.' || i < 1 || n < 1 || i > n)
            continue;
        /* A journal whose record exists is superseded by it. */
        if (is_log) {
            char *pj = ds_rec_path(out_dir, i, n, ".json");
            int has = ds_path_exists(pj);
            free(pj);
            if (has) continue;
        }
        if (s->n >= cap) { cap = cap ? 2 * cap : 16; s->recs = xrealloc(s->recs, sizeof(ds_rec) * (size_t)cap); }
        int found;
        rc = ds_rec_load(out_dir, i, n, &s->recs[s->n], &found);
        if (!rc && found) s->n++;
    }
    closedir(d);
    if (rc) { ds_rec_set_free(s); return rc; }
    if (s->n > 1) qsort(s->recs, (size_t)s->n, sizeof(ds_rec), rec_cmp);
    return 0;
}

void ds_rec_set_free(ds_rec_set *s) {
    for (int i = 0; i < s->n; i++) ds_rec_free(&s->recs[i]);
    free(s->recs);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ journal */

struct ds_journal {
    int fd;
    int sync;
    char *path;
};

static int append_line(ds_journal *j, const cJSON *o) {
    char *txt = cJSON_PrintUnformatted(o);
    size_t n = strlen(txt);
    txt = xrealloc(txt, n + 2);
    txt[n] = '\n'; txt[n + 1] = 0;
    int rc = ds_write_full(j->fd, txt, n + 1, j->path);
    free(txt);
    if (!rc && j->sync && fdatasync(j->fd) != 0) rc = DS_IO_FAIL(j->path, "fsync");
    return rc;
}

int ds_journal_open(ds_journal **jp, const char *out_dir, int part_i, int part_n, const cJSON *head, int append,
                    int sync) {
    char *dir = ds_path_join(out_dir, DS_REC_DIR);
    int rc = ds_mkdir_p(dir);
    free(dir);
    if (rc) return rc;
    ds_journal *j = xcalloc(1, sizeof *j);
    j->sync = sync;
    j->path = ds_rec_path(out_dir, part_i, part_n, ".log");
    /* A new journal appears whole with its head (written aside, renamed), so
     * another part reading it never sees a head cut in half. */
    if (!(append && ds_path_exists(j->path))) {
        char *txt = cJSON_PrintUnformatted(head);
        size_t n = strlen(txt);
        txt = xrealloc(txt, n + 2);
        txt[n] = '\n'; txt[n + 1] = 0;
        rc = ds_write_file_atomic(j->path, txt, n + 1);
        free(txt);
    }
    j->fd = rc ? -1 : open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (!rc && j->fd < 0) rc = DS_IO_FAIL(j->path, "open");
    if (rc) { ds_journal_close(j); return rc; }
    *jp = j;
    return 0;
}

int ds_journal_add(ds_journal *j, const char *file, const cJSON *entry) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", file);
    const cJSON *it;
    cJSON_ArrayForEach(it, entry) cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
    int rc = append_line(j, o);
    cJSON_Delete(o);
    return rc;
}

void ds_journal_close(ds_journal *j) {
    if (!j) return;
    if (j->fd >= 0) close(j->fd);
    free(j->path);
    free(j);
}

int ds_rec_finish(const char *out_dir, int part_i, int part_n, const cJSON *head, const cJSON *files) {
    cJSON *r = cJSON_Duplicate(head, 1);
    cJSON_AddItemToObject(r, "files", cJSON_Duplicate(files, 1));
    char *pj = ds_rec_path(out_dir, part_i, part_n, ".json"), *pl = ds_rec_path(out_dir, part_i, part_n, ".log");
    int rc = ds_write_json_atomic(pj, r);
    if (!rc) unlink(pl);
    cJSON_Delete(r);
    free(pj); free(pl);
    return rc;
}

int ds_rec_remove_all(const char *out_dir) {
    char *dir = ds_path_join(out_dir, DS_REC_DIR);
    DIR *d = opendir(dir);
    if (!d) { free(dir); return 0; }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        if ((l > 5 && !strcmp(nm + l - 5, ".json")) || (l > 4 && !strcmp(nm + l - 4, ".log"))) {
            char *p = ds_path_join(dir, nm);
            if (unlink(p) != 0 && errno != ENOENT) rc = DS_IO_FAIL(p, "unlink");
            free(p);
        }
    }
    closedir(d);
    free(dir);
    return rc;
}

cJSON *ds_rec_entry(uint64_t size, const char *hex, cJSON *tensors) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "size", (double)size);
    if (hex) cJSON_AddStringToObject(e, "xxh3_128", hex);
    if (tensors) cJSON_AddItemToObject(e, "tensors", tensors);
    return e;
}

/* ------------------------------------------------------------ parts */

uint64_t ds_plan_file_bytes(const ds_plan *p, int f) {
    uint8_t *hdr;
    size_t hl;
    uint64_t data;
    ds_st_build_header(p->files[f].tensors, p->files[f].n_tensors, &hdr, &hl, &data);
    free(hdr);
    return hl + data;
}

typedef struct { uint64_t bytes; int f; } sized;

static int by_size_desc(const void *a, const void *b) {
    const sized *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return x->f - y->f;
}

void ds_part_assign(const ds_plan *p, int n_parts, int *part_of) {
    sized *s = xmalloc(sizeof(sized) * (size_t)(p->n_files + 1));
    uint64_t *load = xcalloc((size_t)n_parts, sizeof(uint64_t));
    for (int f = 0; f < p->n_files; f++) s[f] = (sized){ds_plan_file_bytes(p, f), f};
    if (p->n_files > 1) qsort(s, (size_t)p->n_files, sizeof(sized), by_size_desc);
    for (int k = 0; k < p->n_files; k++) {
        int best = 0;
        for (int i = 1; i < n_parts; i++)
            if (load[i] < load[best]) best = i;
        load[best] += s[k].bytes;
        part_of[s[k].f] = best + 1;
    }
    free(load);
    free(s);
}
