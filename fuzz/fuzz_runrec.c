/* fuzz_runrec.c - libFuzzer harness for the run-record and journal reader
 * (convert/runrec.c: what --resume, --part and finish believe about OUT).
 *
 * OUT is as untrusted as IN (anyone who can write there can plant a record).
 * The first input byte picks where the rest lands in a scratch OUT/.dsconv:
 * even: run.log (a journal), odd: run.json (a final record); bit 1 adds a
 * second copy as part-1-of-2.log so ds_rec_load_all sees two. ds_rec_load and
 * ds_rec_load_all must return 0 or DS_EXIT_INPUT, never crash; what they accept
 * names only plain file names (not empty, no '/', no leading '.') with whole,
 * non-negative sizes, and parts within range. */
#define _GNU_SOURCE
#include "convert/runrec.h"
#include "common/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[PATH_MAX], recdir[PATH_MAX + 16];
static const char *const names[] = {"run.log", "run.json", "part-1-of-2.log"};

static void clear(void) {
    char p[PATH_MAX + 64];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", recdir, names[i]);
        unlink(p);
    }
}

static void cleanup(void) {
    clear();
    rmdir(recdir);
    rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    snprintf(scratch, sizeof scratch, "/tmp/dsconv-fuzz-runrec-XXXXXX");
    if (!mkdtemp(scratch)) { perror("mkdtemp"); exit(1); }
    snprintf(recdir, sizeof recdir, "%s/%s", scratch, DS_REC_DIR);
    if (mkdir(recdir, 0700)) { perror("mkdir"); exit(1); }
    atexit(cleanup);
    return 0;
}

static void check_rec(const ds_rec *r) {
    if (!cJSON_IsObject(r->head) || !cJSON_IsObject(r->files)) abort();
    const cJSON *e;
    cJSON_ArrayForEach(e, r->files) {
        const char *n = e->string;
        if (!n || !n[0] || n[0] == '.' || strchr(n, '/')) abort();
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "size");
        if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble != (double)(uint64_t)s->valuedouble) abort();
    }
    if (r->part_n && (r->part_n < -1 || r->part_n > 100000 || r->part_i < -1 || r->part_i > 100000)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    clear();
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", recdir, names[data[0] & 1]);
    if (ds_write_file_atomic(p, data + 1, size - 1)) abort();
    if (data[0] & 2) {
        snprintf(p, sizeof p, "%s/%s", recdir, names[2]);
        if (ds_write_file_atomic(p, data + 1, size - 1)) abort();
    }
    ds_rec r;
    int found = 0;
    int rc = ds_rec_load(scratch, 0, 0, &r, &found);
    if (rc != 0 && rc != DS_EXIT_INPUT) abort();
    if (!rc && found) { check_rec(&r); ds_rec_free(&r); }
    ds_rec_set s;
    rc = ds_rec_load_all(scratch, &s);
    if (rc != 0 && rc != DS_EXIT_INPUT) abort();
    if (!rc) {
        for (int i = 0; i < s.n; i++) check_rec(&s.recs[i]);
        ds_rec_set_free(&s);
    }
    return 0;
}
