/* util.c - diagnostics, checked allocation, whole-buffer I/O, small file helpers. */
#define _GNU_SOURCE
#include "common/util.h"
#include "common/fsafe.h"
#include "common/bug.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ds_utf8_next(const unsigned char *p, const unsigned char *end, uint32_t *cp) {
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

/* Length of the valid UTF-8 sequence at s (1-4) that is not a C1 control, or 0. */
static size_t utf8_ok(const unsigned char *s) {
    uint32_t cp;
    int n = ds_utf8_next(s, s + strnlen((const char *)s, 4), &cp);
    return n > 1 && cp >= 0xA0 ? (size_t)n : 0;
}

void ds_esc_fputs(const char *text, FILE *f) {
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        if (*s >= 0x20 && *s < 0x7f) { fputc(*s++, f); continue; }
        size_t n = *s >= 0x80 ? utf8_ok(s) : 0;
        if (n) { fwrite(s, 1, n, f); s += n; continue; }
        fprintf(f, "\\x%02x", *s++);
    }
}

const char *ds_esc(const char *text, char *buf, size_t cap) {
    FILE *f = fmemopen(buf, cap, "w");
    if (!f) { snprintf(buf, cap, "?"); return buf; }
    setbuf(f, NULL);
    ds_esc_fputs(text, f);
    fclose(f);
    buf[cap - 1] = 0;
    return buf;
}

/* The whole message is escaped: it carries tensor names, paths and JSON keys
 * from the input, and none of them may reach the terminal as control bytes. */
static void vmsg(const char *kind, const char *fmt, va_list ap) {
    char small[1024], *m = small;
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (m = malloc((size_t)n + 1))) vsnprintf(m, (size_t)n + 1, fmt, aq);
    else if (n >= (int)sizeof small) m = small;
    va_end(aq);
    fprintf(stderr, "dsconv: %s: ", kind);
    ds_esc_fputs(m, stderr);
    fputc('\n', stderr);
    if (m != small) free(m);
}

void ds_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg("error", fmt, ap);
    va_end(ap);
}

void ds_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning", fmt, ap);
    va_end(ap);
}

int ds_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg("error", fmt, ap);
    va_end(ap);
    return code;
}

static void oom(size_t n, const char *file, int line) {
    fprintf(stderr, "dsconv: error: out of memory allocating %zu bytes (%s:%d)\n", n, file, line);
    exit(DS_EXIT_IO);
}

void *ds_xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n, file, line);
    return p;
}

void *ds_xcalloc_at(size_t n, size_t sz, const char *file, int line) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) oom(n * sz, file, line);
    return p;
}

void *ds_xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n, file, line);
    return q;
}

char *ds_xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = ds_xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

void *ds_xaligned_at(size_t n, const char *file, int line) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? (n + 63) / 64 * 64 : 64) != 0) oom(n, file, line);
    return p;
}

int ds_io_fail_at(const char *path, const char *what, const char *file, int line) {
    int e = errno;
    fputs("dsconv: error: ", stderr);
    ds_esc_fputs(path, stderr);
    fprintf(stderr, ": %s: %s (%s:%d)\n", what, strerror(e), file, line);
    errno = e;
    return DS_EXIT_IO;
}

int ds_pread_full(int fd, void *buf, size_t n, uint64_t off, const char *path) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return DS_IO_FAIL(path, "read");
        }
        if (r == 0) {
            errno = EIO;
            return ds_fail(DS_EXIT_INPUT, "%s: unexpected end of file at offset %llu", path,
                           (unsigned long long)off);
        }
        p += r; n -= (size_t)r; off += (uint64_t)r;
    }
    return 0;
}

int ds_pwrite_full(int fd, const void *buf, size_t n, uint64_t off, const char *path) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return DS_IO_FAIL(path, "write");
        }
        p += r; n -= (size_t)r; off += (uint64_t)r;
    }
    return 0;
}

int ds_write_full(int fd, const void *buf, size_t n, const char *path) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return DS_IO_FAIL(path, "write");
        }
        p += r; n -= (size_t)r;
    }
    return 0;
}

int ds_read_file(const char *path, char **out, size_t *len) { return ds_read_file_max(path, SIZE_MAX - 1, out, len); }

int ds_read_file_max(const char *path, size_t max, char **out, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
    if (fd < 0) return errno == ENOENT ? (ds_err("%s: no such file", path), DS_EXIT_INPUT)
                                       : DS_IO_FAIL(path, "open");
    struct stat st;
    if (fstat(fd, &st) != 0) { int rc = DS_IO_FAIL(path, "stat"); close(fd); return rc; }
    if (!S_ISREG(st.st_mode)) { close(fd); return ds_fail(DS_EXIT_INPUT, "%s: not a regular file", path); }
    size_t n = (size_t)st.st_size;
    if ((uint64_t)st.st_size > max) {
        close(fd);
        char a[32], b[32];
        return ds_fail(DS_EXIT_INPUT, "%s: %s, more than the %s this kind of file may have", path,
                       ds_fmt_bytes((uint64_t)st.st_size, a, sizeof a), ds_fmt_bytes(max, b, sizeof b));
    }
    char *buf = xmalloc(n + 1);
    int rc = ds_pread_full(fd, buf, n, 0, path);
    close(fd);
    if (rc) { free(buf); return rc; }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

int ds_write_file_atomic(const char *path, const void *data, size_t len) {
    return ds_write_file_atomic_mode(path, data, len, 0644);
}

/* Through a fresh temporary name (common/fsafe.h): a link planted at the
 * output's name or at a guessable temporary name is never written through. */
int ds_write_file_atomic_mode(const char *path, const void *data, size_t len, unsigned mode) {
    char *tmp;
    int fd;
    DS_TRY(ds_tmp_create(path, (mode_t)mode, &tmp, &fd));
    int rc = ds_write_full(fd, data, len, tmp);
    if (!rc && fsync(fd) != 0) rc = DS_IO_FAIL(tmp, "fsync");
    if (close(fd) != 0 && !rc) rc = DS_IO_FAIL(tmp, "close");
    if (!rc && rename(tmp, path) != 0) rc = DS_IO_FAIL(path, "rename");
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

int ds_copy_file_atomic(const char *src, const char *dst) { return ds_copy_file_stream(src, dst); }

int ds_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int ds_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *ds_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    size_t dl = strlen(dir);
    snprintf(p, n, "%s%s%s", dir, (dl && dir[dl - 1] == '/') ? "" : "/", name);
    return p;
}

const char *ds_basename(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int ds_mkdir_p(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) { int rc = DS_IO_FAIL(p, "mkdir"); free(p); return rc; }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = DS_IO_FAIL(p, "mkdir");
    free(p);
    return rc;
}

double ds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

const char *ds_fmt_bytes(uint64_t n, char *buf, size_t len) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)n;
    int i = 0;
    while (v >= 1000.0 && i < 4) { v /= 1000.0; i++; }
    snprintf(buf, len, i ? "%.2f %s" : "%.0f %s", v, u[i]);
    return buf;
}

static uint64_t status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kl = strlen(key);
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) { kb = strtoull(line + kl, NULL, 10); break; }
    fclose(f);
    return kb * 1024;
}

uint64_t ds_peak_rss(void) { return status_kb("VmHWM:"); }
uint64_t ds_rss_anon(void) { return status_kb("RssAnon:"); }

int ds_has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n > k && memcmp(s + n - k, suf, k) == 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ds_list_dir(const char *dir, ds_name_filter keep, void *arg, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return DS_IO_FAIL(dir, "opendir");
    int cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (keep && !keep(dir, de->d_name, arg)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *names = xrealloc(*names, sizeof(char *) * (size_t)cap);
        }
        (*names)[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (*n) qsort(*names, (size_t)*n, sizeof(char *), cmp_names);
    return 0;
}

void ds_free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

void ds_sbuf_put(ds_sbuf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

int ds_re_match(const char *re, const char *s, int icase) {
    regex_t r;
    char anch[512];
    if (snprintf(anch, sizeof anch, "^(%s)$", re) >= (int)sizeof anch) DS_BUG("regex too long: %s", re);
    if (regcomp(&r, anch, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0))) DS_BUG("regcomp %s", re);
    int m = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}
