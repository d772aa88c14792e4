/* test_fs.h - temporary directories for unit tests that write files. */
#ifndef DS_TEST_FS_H
#define DS_TEST_FS_H
#include "common/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh /tmp/dsconv-test-TAG-XXXXXX (malloc'd), or NULL. */
static inline char *test_tmpdir(const char *tag) {
    char tmpl[128];
    snprintf(tmpl, sizeof tmpl, "/tmp/dsconv-test-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    return d ? xstrdup(d) : NULL;
}

/* Removes dir and everything below it. */
static inline void test_rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = ds_path_join(dir, e->d_name);
        if (ds_is_dir(p)) test_rm_tree(p);
        else unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}
#endif
