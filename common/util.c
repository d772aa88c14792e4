/* util.c - diagnostics, checked allocation, whole-buffer I/O, small file helpers. */
#define _GNU_SOURCE
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void vmsg(const char *kind, const char *fmt, va_list ap) {
    fprintf(stderr, "dsconv: %s: ", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
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
    fprintf(stderr, "dsconv: error: %s: %s: %s (%s:%d)\n", path, what, strerror(e), file, line);
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

int ds_read_file(const char *path, char **out, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
    if (fd < 0) return errno == ENOENT ? (ds_err("%s: no such file", path), DS_EXIT_INPUT)
                                       : DS_IO_FAIL(path, "open");
    struct stat st;
    if (fstat(fd, &st) != 0) { int rc = DS_IO_FAIL(path, "stat"); close(fd); return rc; }
    if (!S_ISREG(st.st_mode)) { close(fd); return ds_fail(DS_EXIT_INPUT, "%s: not a regular file", path); }
    size_t n = (size_t)st.st_size;
    char *buf = xmalloc(n + 1);
    int rc = ds_pread_full(fd, buf, n, 0, path);
    close(fd);
    if (rc) { free(buf); return rc; }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

/* Temporary names start with '.' and end with .dsconv-tmp: hidden, and never
 * mistaken for a finished file. */
static char *tmp_name_for(const char *path) {
    const char *base = ds_basename(path);
    size_t dl = (size_t)(base - path);
    size_t n = strlen(path) + 32;
    char *t = xmalloc(n);
    snprintf(t, n, "%.*s.%s.dsconv-tmp", (int)dl, path, base);
    return t;
}

int ds_write_file_atomic(const char *path, const void *data, size_t len) {
    char *tmp = tmp_name_for(path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { rc = DS_IO_FAIL(tmp, "create"); goto out; }
    rc = ds_write_full(fd, data, len, tmp);
    if (!rc && fsync(fd) != 0) rc = DS_IO_FAIL(tmp, "fsync");
    if (close(fd) != 0 && !rc) rc = DS_IO_FAIL(tmp, "close");
    if (!rc && rename(tmp, path) != 0) rc = DS_IO_FAIL(path, "rename");
    if (rc) unlink(tmp);
out:
    free(tmp);
    return rc;
}

int ds_copy_file_atomic(const char *src, const char *dst) {
    char *buf; size_t n;
    DS_TRY(ds_read_file(src, &buf, &n));
    int rc = ds_write_file_atomic(dst, buf, n);
    free(buf);
    return rc;
}

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
