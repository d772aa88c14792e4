/* util.h - exit codes, checked allocation and I/O, diagnostics.
 *
 * Library functions report a problem on stderr at the point where it is found
 * (naming file and tensor) and return one of the DS_EXIT_* codes; callers pass
 * the code up unchanged, so the command's exit status says what kind of failure
 * it was. There is no global error buffer. */
#ifndef DS_UTIL_H
#define DS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    DS_OK = 0,
    DS_EXIT_MISMATCH = 1, /* verify found a difference */
    DS_EXIT_USAGE = 2,    /* bad command line, device not available */
    DS_EXIT_INPUT = 3,    /* invalid or inconsistent input */
    DS_EXIT_IO = 4,       /* write error, no space, permission */
    /* 70: DS_EXIT_BUG, a broken invariant (common/bug.h) */
};

/* Diagnostics: "dsconv: error: ..." on stderr. */
void ds_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ds_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Returns code after printing; lets "return ds_fail(DS_EXIT_INPUT, ...)" read well. */
int ds_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that cannot return NULL: on failure it reports file:line and exits 4. */
void *ds_xmalloc_at(size_t n, const char *file, int line);
void *ds_xcalloc_at(size_t n, size_t sz, const char *file, int line);
void *ds_xrealloc_at(void *p, size_t n, const char *file, int line);
char *ds_xstrdup_at(const char *s, const char *file, int line);
#define xmalloc(n) ds_xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, s) ds_xcalloc_at((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) ds_xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) ds_xstrdup_at((s), __FILE__, __LINE__)
/* One UTF-8 code point at p (< end) into *cp: its length, or 0 when invalid
 * (Python's strict decoder: no overlongs, surrogates or values past U+10FFFF). */
int ds_utf8_next(const unsigned char *p, const unsigned char *end, uint32_t *cp);
/* A growing NUL-terminated string: ds_sbuf b = {0}; ds_sbuf_put(&b, s, n); ... free(b.p). */
typedef struct { char *p; size_t n, cap; } ds_sbuf;
void ds_sbuf_put(ds_sbuf *b, const void *s, size_t n);
/* Does all of s match the POSIX extended regular expression re (Python's
 * re.fullmatch)? re must compile (a constant of the caller's): DS_BUG otherwise. */
int ds_re_match(const char *re, const char *s, int icase);
/* Aligned (64 B) allocation for kernel buffers; free with free(). */
void *ds_xaligned_at(size_t n, const char *file, int line);
#define xaligned(n) ds_xaligned_at((n), __FILE__, __LINE__)

/* Propagate a non-zero status. */
#define DS_TRY(expr) do { int ds_rc_ = (expr); if (ds_rc_) return ds_rc_; } while (0)

/* Checked I/O: report "path: what: strerror (src:line)" and evaluate to DS_EXIT_IO. */
int ds_io_fail_at(const char *path, const char *what, const char *file, int line);
#define DS_IO_FAIL(path, what) ds_io_fail_at((path), (what), __FILE__, __LINE__)

/* Whole-buffer pread/pwrite with EINTR and short-count handling. */
int ds_pread_full(int fd, void *buf, size_t n, uint64_t off, const char *path);
int ds_pwrite_full(int fd, const void *buf, size_t n, uint64_t off, const char *path);
int ds_write_full(int fd, const void *buf, size_t n, const char *path);

/* Small file helpers. read_file returns a NUL-terminated malloc'd buffer;
 * read_file_max refuses (DS_EXIT_INPUT) a file larger than max bytes. */
int ds_read_file(const char *path, char **out, size_t *len);
int ds_read_file_max(const char *path, size_t max, char **out, size_t *len);
/* Write a small file atomically: a fresh temporary name (O_EXCL|O_NOFOLLOW,
 * common/fsafe.h) then rename. Mode 0644, or mode (umask applies). */
int ds_write_file_atomic(const char *path, const void *data, size_t len);
int ds_write_file_atomic_mode(const char *path, const void *data, size_t len, unsigned mode);
/* Streaming copy with src's permission bits (ds_copy_file_stream). */
int ds_copy_file_atomic(const char *src, const char *dst);

/* Input strings (tensor names, paths, JSON keys) printed for people: control
 * bytes, C1 controls and invalid UTF-8 become \xNN. ds_err/ds_warn/ds_fail
 * escape their whole message; use these for stdout. ds_esc writes into buf. */
void ds_esc_fputs(const char *s, FILE *f);
const char *ds_esc(const char *s, char *buf, size_t cap);
int ds_path_exists(const char *path);
int ds_is_dir(const char *path);
/* malloc'd "dir/name". */
char *ds_path_join(const char *dir, const char *name);
const char *ds_basename(const char *path);
int ds_mkdir_p(const char *path);

double ds_now(void); /* monotonic seconds */
/* Peak resident set size of this process (VmHWM), bytes; 0 if unknown. */
uint64_t ds_peak_rss(void);
/* Current anonymous resident memory (RssAnon), bytes; 0 if unknown. */
uint64_t ds_rss_anon(void);

/* Formats bytes as "1.23 GB" into buf. */
const char *ds_fmt_bytes(uint64_t n, char *buf, size_t len);

/* 1 when s is something followed by suf ("x.weight" has ".weight"; ".weight" alone has not). */
int ds_has_suffix(const char *s, const char *suf);

/* The entries of dir ("." and ".." never) for which keep(dir, name, arg) says 1
 * (keep NULL: all), sorted by name (strcmp), so whatever walks them does so in
 * the same order on every machine. *names and each name are malloc'd: free with
 * ds_free_names. 0, or DS_EXIT_IO (reported) when dir cannot be read. */
typedef int (*ds_name_filter)(const char *dir, const char *name, void *arg);
int ds_list_dir(const char *dir, ds_name_filter keep, void *arg, char ***names, int *n);
void ds_free_names(char **names, int n);

#endif
