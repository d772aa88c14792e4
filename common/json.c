/* json.c - strict parse: no duplicate keys, nothing after the value. */
#define _GNU_SOURCE
#include "common/json.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_key(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Sorted keys per object: n log n even for a 100k-tensor header. Nesting is
 * bounded by cJSON (CJSON_NESTING_LIMIT), so the recursion is too. */
static const char *find_dup(const cJSON *v) {
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) return NULL;
    int n = 0;
    const cJSON *c;
    for (c = v->child; c; c = c->next) n++;
    if (cJSON_IsObject(v) && n > 1) {
        const cJSON **k = xmalloc(sizeof *k * (size_t)n);
        int i = 0;
        for (c = v->child; c; c = c->next) k[i++] = c;
        qsort(k, (size_t)n, sizeof *k, cmp_key);
        const char *dup = NULL;
        for (i = 1; i < n && !dup; i++)
            if (!strcmp(k[i - 1]->string, k[i]->string)) dup = k[i]->string;
        free(k);
        if (dup) return dup;
    }
    for (c = v->child; c; c = c->next) {
        const char *d = find_dup(c);
        if (d) return d;
    }
    return NULL;
}

int ds_json_parse(const char *path, const char *what, const char *text, size_t len, cJSON **out) {
    *out = NULL;
    const char *end = NULL;
    const char *pre = what ? what : "", *sep = what ? " " : "";
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) return ds_fail(DS_EXIT_INPUT, "%s: %s%snot valid JSON", path, pre, sep);
    size_t at = (size_t)(end - text);
    for (size_t i = at; i < len; i++) {
        char ch = text[i];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            cJSON_Delete(root);
            return ds_fail(DS_EXIT_INPUT, "%s: %s%strailing bytes after the JSON value (at byte %zu)", path, pre, sep,
                           i);
        }
    }
    const char *dup = find_dup(root);
    if (dup) {
        int rc = ds_fail(DS_EXIT_INPUT,
                         "%s: %s%skey \"%s\" appears twice in one object (readers disagree on which one counts)",
                         path, pre, sep, dup);
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return 0;
}

int ds_json_load(const char *path, size_t max_bytes, cJSON **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return errno == ENOENT ? ds_fail(DS_EXIT_INPUT, "%s: no such file", path) : DS_IO_FAIL(path, "open");
    struct stat st;
    if (fstat(fd, &st) != 0) { int rc = DS_IO_FAIL(path, "stat"); close(fd); return rc; }
    close(fd);
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_bytes) {
        char a[32], b[32];
        return ds_fail(DS_EXIT_INPUT, "%s: %s, larger than the %s this file can reasonably be", path,
                       ds_fmt_bytes((uint64_t)st.st_size, a, sizeof a), ds_fmt_bytes(max_bytes, b, sizeof b));
    }
    char *txt;
    size_t n;
    DS_TRY(ds_read_file(path, &txt, &n));
    int rc = ds_json_parse(path, NULL, txt, n, out);
    free(txt);
    return rc;
}

cJSON *ds_json_parse_quiet(const char *text, size_t len) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) return NULL;
    for (size_t i = (size_t)(end - text); i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') { cJSON_Delete(root); return NULL; }
    if (find_dup(root)) { cJSON_Delete(root); return NULL; }
    return root;
}
