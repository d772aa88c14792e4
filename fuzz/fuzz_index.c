/* fuzz_index.c - libFuzzer harness for model.safetensors.index.json.
 *
 * The input is the text of an index. Two paths are exercised per input:
 *  1. ds_index_check against the dev-tiny checkpoint opened once at start
 *     (the lookups: every name mapped to the shard that holds it, nothing
 *     missing, nothing twice);
 *  2. ds_ckpt_open of a scratch directory whose shards are links to the
 *     dev-tiny shards and whose index is the input (the file list: shard names,
 *     missing shards, then the same check).
 * Both must return 0 or DS_EXIT_INPUT, never crash. The fixture directory is
 * $DSCONV_FUZZ_CKPT or tests/data/dev-tiny/input (run from the repository root). */
#define _GNU_SOURCE
#include "formats/hf.h"
#include "common/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ds_ckpt fixture;
static char scratch[PATH_MAX], index_path[PATH_MAX];

static void die(const char *what) { fprintf(stderr, "fuzz_index: %s\n", what); exit(1); }

static void remove_scratch(void) {
    static const char *names[] = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                  "model-00003-of-00003.safetensors", "model.safetensors.index.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = ds_path_join(scratch, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    const char *src = getenv("DSCONV_FUZZ_CKPT");
    if (!src) src = "tests/data/dev-tiny/input";
    char abs[PATH_MAX];
    if (!realpath(src, abs)) die("fixture directory not found (set DSCONV_FUZZ_CKPT)");
    if (ds_ckpt_open(abs, &fixture)) die("fixture does not open");
    const char *tmp = getenv("TMPDIR");
    if (!tmp) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/fuzz-index.XXXXXX", tmp);
    if (!mkdtemp(scratch)) die("mkdtemp failed");
    atexit(remove_scratch);
    for (int i = 0; i < fixture.n_shards; i++) {
        char *from = ds_path_join(abs, fixture.shard_names[i]);
        char *to = ds_path_join(scratch, fixture.shard_names[i]);
        if (symlink(from, to)) die("symlink failed");
        free(from);
        free(to);
    }
    snprintf(index_path, sizeof index_path, "%s/model.safetensors.index.json", scratch);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = xmalloc(size + 1);
    memcpy(json, data, size);
    json[size] = 0;
    int rc = ds_index_check("fuzz-index.json", json, &fixture);
    free(json);
    if (rc != 0 && rc != DS_EXIT_INPUT) abort();

    /* Plain write, no fsync: the scratch directory is rewritten every input. */
    FILE *fp = fopen(index_path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) die("cannot write the scratch index");
    ds_ckpt c;
    rc = ds_ckpt_open(scratch, &c);
    if (rc != 0 && rc != DS_EXIT_INPUT) abort();
    if (rc == 0) {
        for (int i = 0; i < c.n_entries; i++)
            if (ds_ckpt_find(&c, c.entries[i].name) != &c.entries[i]) abort();
        ds_ckpt_close(&c);
    }
    return 0;
}
