/* fsafe.c - temporary files, side-file containment, OUT/IN overlap, SIGBUS. */
#define _GNU_SOURCE
#include "common/fsafe.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ds_is_tmp_name(const char *name) {
    size_t l = strlen(name);
    return l > 12 && name[0] == '.' && !strcmp(name + l - 11, ".dsconv-tmp");
}

int ds_tmp_create(const char *final_path, mode_t mode, char **tmp, int *fdp) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const char *base = ds_basename(final_path);
    size_t dl = (size_t)(base - final_path), n = strlen(final_path) + 32;
    char *t = xmalloc(n);
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
            /* No entropy yet (early boot): O_EXCL still makes the name safe, only guessable. */
            uint64_t v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20) ^ (uint64_t)attempt * 0x9E3779B97F4A7C15ull;
            for (int i = 0; i < 6; i++) r[i] = (unsigned char)(v >> (8 * i));
        }
        char sfx[7];
        for (int i = 0; i < 6; i++) sfx[i] = al[r[i] % (sizeof al - 1)];
        sfx[6] = 0;
        snprintf(t, n, "%.*s.%s.%s.dsconv-tmp", (int)dl, final_path, base, sfx);
        int fd = open(t, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0) { *tmp = t; *fdp = fd; return 0; }
        if (errno != EEXIST) break;
    }
    int rc = DS_IO_FAIL(t, "create");
    free(t);
    return rc;
}

/* ------------------------------------------------------------ the tree */

int ds_tree_init(ds_tree *t, const char *dir) {
    memset(t, 0, sizeof *t);
    t->real = realpath(dir, NULL);
    if (!t->real) return DS_IO_FAIL(dir, "realpath");
    /* A Hugging Face cache snapshot: .../models--X/snapshots/REV, whose files
     * are links to ../../blobs/HASH. */
    char *slash = strrchr(t->real, '/');
    if (slash && slash > t->real) {
        const char *p = slash - 1;
        while (p > t->real && *p != '/') p--;
        if (*p == '/' && (size_t)(slash - p - 1) == 9 && !strncmp(p + 1, "snapshots", 9)) {
            size_t rl = (size_t)(p - t->real);
            char *b = xmalloc(rl + 8);
            snprintf(b, rl + 8, "%.*s/blobs", (int)rl, t->real);
            t->blobs = realpath(b, NULL);
            free(b);
        }
    }
    return 0;
}

void ds_tree_free(ds_tree *t) {
    free(t->real);
    free(t->blobs);
    memset(t, 0, sizeof *t);
}

static int inside(const char *path, const char *root) {
    if (!root) return 0;
    size_t l = strlen(root);
    if (l == 1 && root[0] == '/') return 1;
    return !strncmp(path, root, l) && path[l] == '/';
}

int ds_tree_member(const ds_tree *t, const char *name, char **resolved, int *is_dir) {
    *resolved = NULL;
    *is_dir = 0;
    char *path = ds_path_join(t->real, name);
    struct stat st;
    int rc = 0;
    if (lstat(path, &st) != 0) { rc = DS_IO_FAIL(path, "stat"); goto out; }
    if (S_ISDIR(st.st_mode)) { *is_dir = 1; goto out; }
    char *real = path;
    if (S_ISLNK(st.st_mode)) {
        real = realpath(path, NULL);
        if (!real) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: symbolic link that resolves to nothing (%s); refusing to follow it", path,
                         strerror(errno));
            goto out;
        }
        if (!inside(real, t->real) && !inside(real, t->blobs)) {
            rc = ds_fail(DS_EXIT_INPUT,
                         "%s: symbolic link to %s, outside the checkpoint directory%s; refusing to copy it "
                         "(copy the file into the checkpoint, or remove the link)",
                         path, real, t->blobs ? " and its Hugging Face cache blobs/" : "");
            free(real);
            goto out;
        }
        if (stat(real, &st) != 0) { rc = DS_IO_FAIL(real, "stat"); free(real); goto out; }
        if (S_ISDIR(st.st_mode)) { *is_dir = 1; free(real); goto out; }
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: not a regular file (a pipe, device or socket); refusing to copy it", path);
        if (real != path) free(real);
        goto out;
    }
    /* Readable now, so a permission problem stops the run before it writes. */
    int fd = open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { rc = DS_IO_FAIL(real, "open"); if (real != path) free(real); goto out; }
    close(fd);
    *resolved = real == path ? xstrdup(path) : real;
out:
    free(path);
    return rc;
}

int ds_copy_file_stream(const char *src, const char *dst) {
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) return errno == ELOOP ? ds_fail(DS_EXIT_INPUT, "%s: is a symbolic link; refusing to follow it", src)
                                      : DS_IO_FAIL(src, "open");
    struct stat st;
    if (fstat(in, &st) != 0) { int rc = DS_IO_FAIL(src, "stat"); close(in); return rc; }
    if (!S_ISREG(st.st_mode)) { close(in); return ds_fail(DS_EXIT_INPUT, "%s: not a regular file", src); }
    char *tmp;
    int out, rc = ds_tmp_create(dst, st.st_mode & 0666, &tmp, &out);
    if (rc) { close(in); return rc; }
    size_t cap = 1u << 20;
    char *buf = xmalloc(cap);
    for (;;) {
        ssize_t r = read(in, buf, cap);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = DS_IO_FAIL(src, "read"); break; }
        if (r == 0) break;
        if ((rc = ds_write_full(out, buf, (size_t)r, tmp))) break;
    }
    free(buf);
    close(in);
    if (!rc && fsync(out) != 0) rc = DS_IO_FAIL(tmp, "fsync");
    if (close(out) != 0 && !rc) rc = DS_IO_FAIL(tmp, "close");
    if (!rc && rename(tmp, dst) != 0) rc = DS_IO_FAIL(dst, "rename");
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

/* ------------------------------------------------------------ OUT vs IN */

/* realpath of path, or of its nearest existing ancestor when path does not
 * exist yet (*exists tells which). */
static char *real_or_ancestor(const char *path, int *exists) {
    char *r = realpath(path, NULL);
    *exists = r != NULL;
    if (r) return r;
    char *p = xstrdup(path);
    for (;;) {
        char *s = strrchr(p, '/');
        while (s && s > p && s[1] == 0) { *s = 0; s = strrchr(p, '/'); } /* trailing slashes */
        if (!s) { free(p); return realpath(".", NULL); }
        if (s == p) { free(p); return xstrdup("/"); }
        *s = 0;
        r = realpath(p, NULL);
        if (r) { free(p); return r; }
    }
}

/* Is (dev, ino) the directory real or one of its ancestors? Returns the depth
 * (0 = real itself, 1 = parent, ...) or -1. */
static int ancestor_depth(const char *real, dev_t dev, ino_t ino) {
    char *p = xstrdup(real);
    int depth = 0;
    for (;;) {
        struct stat st;
        if (stat(p, &st) == 0 && st.st_dev == dev && st.st_ino == ino) { free(p); return depth; }
        char *s = strrchr(p, '/');
        if (!s || (s == p && p[1] == 0)) break;
        if (s == p) s[1] = 0; else *s = 0;
        depth++;
    }
    free(p);
    return -1;
}

int ds_check_out_vs_in(const char *in_dir, int in_is_file, const char *out_dir) {
    struct stat in_st, out_st;
    if (stat(in_dir, &in_st) != 0) return 0; /* the reader reports it */
    int exists;
    char *out_real = real_or_ancestor(out_dir, &exists);
    if (!out_real) return 0;
    int rc = 0;
    int d = ancestor_depth(out_real, in_st.st_dev, in_st.st_ino);
    if (d == 0 && exists)
        rc = ds_fail(DS_EXIT_USAGE, "%s: the output directory is the input%s (%s); write to a new directory", out_dir,
                     in_is_file ? "'s directory" : "", in_dir);
    else if (d >= 0 && !in_is_file)
        rc = ds_fail(DS_EXIT_USAGE, "%s: the output directory is inside the input %s; write outside it", out_dir,
                     in_dir);
    else if (exists && stat(out_real, &out_st) == 0) {
        char *in_real = realpath(in_dir, NULL);
        if (in_real && ancestor_depth(in_real, out_st.st_dev, out_st.st_ino) > 0)
            rc = ds_fail(DS_EXIT_USAGE, "%s: the output directory holds the input %s; write to a new directory",
                         out_dir, in_dir);
        free(in_real);
    }
    free(out_real);
    return rc;
}

int ds_check_out_file_vs_in(const char *in, const char *out_file) {
    struct stat in_st, out_st;
    if (stat(in, &in_st) != 0 || stat(out_file, &out_st) != 0) return 0; /* a new file harms nothing */
    int harm = in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino;
    if (!harm && S_ISDIR(in_st.st_mode)) {
        char *r = realpath(out_file, NULL);
        harm = r && ancestor_depth(r, in_st.st_dev, in_st.st_ino) > 0;
        free(r);
    }
    return harm ? ds_fail(DS_EXIT_USAGE, "%s: is a file of the input %s; refusing to replace it", out_file, in) : 0;
}

/* ------------------------------------------------------------ SIGBUS */

static void on_sigbus(int sig) {
    (void)sig;
    static const char msg[] =
        "\ndsconv: error: an input file shrank or changed while it was being read (SIGBUS on a mapped page); "
        "nothing was marked complete - rerun once the input is stable\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(DS_EXIT_IO);
}

void ds_install_fault_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}
