/* test_hf.c - Hugging Face checkpoint directories (formats/hf.h): the layouts
 * ds_ckpt_open accepts, each of the four index inconsistencies (a mapped
 * tensor not in the named file, a tensor in two files, a tensor missing from
 * the index, a mapped file missing) rejected with exit 3 naming the index or
 * directory and the tensor or file, and the dev-tiny fixture. */
#define _GNU_SOURCE
#include "tests/unit/test.h"
#include "tests/unit/test_fs.h"
#include "formats/hf.h"
#include "common/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- helpers */


/* Writes dir/file with the tensors named in the NULL-terminated list, each
 * F32 [2, 3] filled with a byte pattern from its position. */
static int write_shard(const char *dir, const char *file, const char *const *names) {
    int n = 0;
    while (names[n]) n++;
    ds_tensor_desc *t = xcalloc((size_t)n + 1, sizeof *t);
    for (int i = 0; i < n; i++) {
        t[i].name = names[i];
        t[i].dtype = DS_F32;
        t[i].ndim = 2;
        t[i].shape[0] = 2;
        t[i].shape[1] = 3;
    }
    char *p = ds_path_join(dir, file);
    ds_st_writer *w = NULL;
    int rc = ds_stw_open(&w, p, t, n);
    for (int i = 0; !rc && i < n; i++) {
        unsigned char b[24];
        for (int k = 0; k < 24; k++) b[k] = (unsigned char)(i * 24 + k);
        rc = ds_stw_append(w, b, sizeof b);
    }
    if (!rc) rc = ds_stw_commit(w);
    else ds_stw_abort(w);
    free(p);
    free(t);
    return rc;
}

static int write_text(const char *dir, const char *file, const char *text) {
    char *p = ds_path_join(dir, file);
    int rc = ds_write_file_atomic(p, text, strlen(text));
    free(p);
    return rc;
}

/* Index text from "name=file" pairs (NULL-terminated). */
static char *index_json(const char *const *pairs) {
    size_t cap = 8192, len = 0;
    char *s = xmalloc(cap);
    len += (size_t)snprintf(s + len, cap - len, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int i = 0; pairs[i]; i++) {
        const char *eq = strchr(pairs[i], '=');
        len += (size_t)snprintf(s + len, cap - len, "%s\"%.*s\": \"%s\"", i ? ", " : "", (int)(eq - pairs[i]), pairs[i],
                                eq + 1);
    }
    snprintf(s + len, cap - len, "}}\n");
    return s;
}

static int write_index(const char *dir, const char *const *pairs) {
    char *j = index_json(pairs);
    int rc = write_text(dir, "model.safetensors.index.json", j);
    free(j);
    return rc;
}

/* ds_ckpt_open with stderr captured into *err (malloc'd). */
static int open_capture(const char *path, ds_ckpt *c, char **err) {
    char tmpl[] = "/tmp/dsconv-test-hf-err-XXXXXX";
    int efd = mkstemp(tmpl);
    if (efd < 0) { perror("mkstemp"); exit(4); }
    fflush(stderr);
    int saved = dup(2);
    if (saved < 0 || dup2(efd, 2) < 0) { perror("dup"); exit(4); }
    int rc = ds_ckpt_open(path, c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(efd);
    if (ds_read_file(tmpl, err, NULL) != 0) *err = xstrdup("");
    unlink(tmpl);
    return rc;
}

static const char *const shard1[] = {"model.embed_tokens.weight", "model.layers.0.mlp.gate_proj.weight", NULL};
static const char *const shard2[] = {"model.layers.0.mlp.gate_proj.weight_scale_inv", "model.norm.weight",
                                     "lm_head.weight", NULL};
static const char *const good_map[] = {
    "model.embed_tokens.weight=model-00001-of-00002.safetensors",
    "model.layers.0.mlp.gate_proj.weight=model-00001-of-00002.safetensors",
    "model.layers.0.mlp.gate_proj.weight_scale_inv=model-00002-of-00002.safetensors",
    "model.norm.weight=model-00002-of-00002.safetensors",
    "lm_head.weight=model-00002-of-00002.safetensors",
    NULL};

/* A good two-shard checkpoint in a fresh directory. */
static char *good_ckpt(void) {
    char *d = test_tmpdir("hf");
    if (!d) return NULL;
    if (write_shard(d, "model-00001-of-00002.safetensors", shard1) || write_shard(d, "model-00002-of-00002.safetensors", shard2) ||
        write_index(d, good_map)) {
        test_rm_tree(d);
        free(d);
        return NULL;
    }
    return d;
}

/* ------------------------------------------------------------------ good layouts */

TEST(index_layout_opens) {
    char *d = good_ckpt();
    CHECK(d != NULL);
    if (!d) return;
    ds_ckpt c;
    char *err;
    CHECK_EQ_INT(open_capture(d, &c, &err), 0);
    CHECK_EQ_INT(c.has_index, 1);
    CHECK_EQ_INT(c.n_shards, 2);
    CHECK_EQ_INT(c.n_entries, 5);
    CHECK_EQ_INT(c.has_config, 0);
    CHECK(c.dir && strcmp(c.dir, d) == 0);
    for (int i = 1; i < c.n_entries; i++) CHECK(strcmp(c.entries[i - 1].name, c.entries[i].name) < 0);
    const ds_ckpt_entry *e = ds_ckpt_find(&c, "model.layers.0.mlp.gate_proj.weight_scale_inv");
    CHECK(e != NULL);
    if (e) {
        CHECK(strcmp(c.shard_names[e->file], "model-00002-of-00002.safetensors") == 0);
        CHECK_EQ_INT(e->info->dtype, DS_F32);
        CHECK_EQ_INT(ds_ckpt_data(&c, e)[0], 0); /* first tensor of its shard */
    }
    e = ds_ckpt_find(&c, "model.layers.0.mlp.gate_proj.weight");
    CHECK(e && strcmp(c.shard_names[e->file], "model-00001-of-00002.safetensors") == 0);
    if (e) CHECK_EQ_INT(ds_ckpt_data(&c, e)[0], 24); /* second tensor of its shard */
    CHECK(ds_ckpt_find(&c, "model.layers.0.mlp") == NULL);
    CHECK(c.total_bytes == c.shards[0].file_size + c.shards[1].file_size);
    ds_ckpt_close(&c);
    free(err);
    test_rm_tree(d); free(d);
}

TEST(single_file_layouts_open) {
    char *d = test_tmpdir("hf");
    CHECK_EQ_INT(write_shard(d, "model.safetensors", shard2), 0);
    ds_ckpt c;
    char *err;
    /* The directory, without an index. */
    CHECK_EQ_INT(open_capture(d, &c, &err), 0);
    CHECK_EQ_INT(c.has_index, 0);
    CHECK_EQ_INT(c.n_shards, 1);
    CHECK_EQ_INT(c.n_entries, 3);
    CHECK(ds_ckpt_find(&c, "lm_head.weight") != NULL);
    ds_ckpt_close(&c);
    free(err);
    /* The file itself. */
    char *p = ds_path_join(d, "model.safetensors");
    CHECK_EQ_INT(open_capture(p, &c, &err), 0);
    CHECK_EQ_INT(c.n_shards, 1);
    CHECK_EQ_INT(c.n_entries, 3);
    CHECK(c.dir && strcmp(c.dir, d) == 0);
    ds_ckpt_close(&c);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

/* A config.json beside the shards is parsed; a broken one fails the open. */
TEST(config_is_read_with_the_checkpoint) {
    char *d = good_ckpt();
    CHECK(d != NULL);
    if (!d) return;
    /* the shards hold layer 0 only, so one layer (counts are bounded by the tensors) */
    CHECK_EQ_INT(write_text(d, "config.json", "{\"num_hidden_layers\": 1, \"num_nextn_predict_layers\": 0, \"hidden_size\": 64}"), 0);
    ds_ckpt c;
    char *err;
    CHECK_EQ_INT(open_capture(d, &c, &err), 0);
    CHECK_EQ_INT(c.has_config, 1);
    CHECK_EQ_INT(c.config.num_hidden_layers, 1);
    CHECK_EQ_INT(c.config.hidden_size, 64);
    ds_ckpt_close(&c);
    free(err);
    CHECK_EQ_INT(write_text(d, "config.json", "{\"num_hidden_layers\": \"seven\"}"), 0);
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "config.json");
    CHECK_STR_CONTAINS(err, "num_hidden_layers");
    free(err);
    test_rm_tree(d); free(d);
}

/* ------------------------------------------------------------------ the four inconsistencies */

/* 1. A mapped tensor is not in the file the index names: it is in the other shard. */
TEST(inconsistent_tensor_not_in_named_file) {
    char *d = good_ckpt();
    CHECK(d != NULL);
    if (!d) return;
    static const char *const map[] = {
        "model.embed_tokens.weight=model-00001-of-00002.safetensors",
        "model.layers.0.mlp.gate_proj.weight=model-00002-of-00002.safetensors", /* lives in 00001 */
        "model.layers.0.mlp.gate_proj.weight_scale_inv=model-00002-of-00002.safetensors",
        "model.norm.weight=model-00002-of-00002.safetensors",
        "lm_head.weight=model-00002-of-00002.safetensors",
        NULL};
    CHECK_EQ_INT(write_index(d, map), 0);
    ds_ckpt c;
    char *err;
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "model.safetensors.index.json");
    CHECK_STR_CONTAINS(err, "model.layers.0.mlp.gate_proj.weight");
    CHECK_STR_CONTAINS(err, "model-00002-of-00002.safetensors");
    free(err);
    test_rm_tree(d); free(d);
}

/* 1b. A mapped tensor is in no shard at all. */
TEST(inconsistent_tensor_in_no_file) {
    char *d = good_ckpt();
    CHECK(d != NULL);
    if (!d) return;
    static const char *const map[] = {
        "model.embed_tokens.weight=model-00001-of-00002.safetensors",
        "model.layers.0.mlp.gate_proj.weight=model-00001-of-00002.safetensors",
        "model.layers.0.mlp.gate_proj.weight_scale_inv=model-00002-of-00002.safetensors",
        "model.norm.weight=model-00002-of-00002.safetensors",
        "lm_head.weight=model-00002-of-00002.safetensors",
        "model.layers.0.mlp.up_proj.weight=model-00001-of-00002.safetensors", /* nowhere */
        NULL};
    CHECK_EQ_INT(write_index(d, map), 0);
    ds_ckpt c;
    char *err;
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "model.safetensors.index.json");
    CHECK_STR_CONTAINS(err, "model.layers.0.mlp.up_proj.weight");
    free(err);
    test_rm_tree(d); free(d);
}

/* 2. The same tensor is stored in two files. */
TEST(inconsistent_tensor_in_two_files) {
    char *d = test_tmpdir("hf");
    static const char *const s2[] = {"model.norm.weight", "model.embed_tokens.weight", NULL};
    CHECK_EQ_INT(write_shard(d, "model-00001-of-00002.safetensors", shard1), 0);
    CHECK_EQ_INT(write_shard(d, "model-00002-of-00002.safetensors", s2), 0);
    static const char *const map[] = {
        "model.embed_tokens.weight=model-00001-of-00002.safetensors",
        "model.layers.0.mlp.gate_proj.weight=model-00001-of-00002.safetensors",
        "model.norm.weight=model-00002-of-00002.safetensors",
        NULL};
    CHECK_EQ_INT(write_index(d, map), 0);
    ds_ckpt c;
    char *err;
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "model.embed_tokens.weight");
    CHECK_STR_CONTAINS(err, d);
    free(err);
    /* Also without an index (a directory of shards). */
    char *ip = ds_path_join(d, "model.safetensors.index.json");
    unlink(ip);
    free(ip);
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "model.embed_tokens.weight");
    free(err);
    test_rm_tree(d); free(d);
}

/* 3. A tensor stored in a shard is missing from the index. */
TEST(inconsistent_tensor_missing_from_index) {
    char *d = good_ckpt();
    CHECK(d != NULL);
    if (!d) return;
    static const char *const map[] = {
        "model.embed_tokens.weight=model-00001-of-00002.safetensors",
        "model.layers.0.mlp.gate_proj.weight=model-00001-of-00002.safetensors",
        "model.layers.0.mlp.gate_proj.weight_scale_inv=model-00002-of-00002.safetensors",
        "lm_head.weight=model-00002-of-00002.safetensors",
        NULL}; /* model.norm.weight left out */
    CHECK_EQ_INT(write_index(d, map), 0);
    ds_ckpt c;
    char *err;
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "model.safetensors.index.json");
    CHECK_STR_CONTAINS(err, "model.norm.weight");
    free(err);
    test_rm_tree(d); free(d);
}

/* 4. The index names a shard file that does not exist. */
TEST(inconsistent_mapped_file_missing) {
    char *d = good_ckpt();
    CHECK(d != NULL);
    if (!d) return;
    static const char *const map[] = {
        "model.embed_tokens.weight=model-00001-of-00002.safetensors",
        "model.layers.0.mlp.gate_proj.weight=model-00001-of-00002.safetensors",
        "model.layers.0.mlp.gate_proj.weight_scale_inv=model-00002-of-00002.safetensors",
        "model.norm.weight=model-00002-of-00002.safetensors",
        "lm_head.weight=model-00002-of-00002.safetensors",
        "model.layers.1.mlp.gate_proj.weight=model-00003-of-00003.safetensors",
        NULL};
    CHECK_EQ_INT(write_index(d, map), 0);
    ds_ckpt c;
    char *err;
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "model.safetensors.index.json");
    CHECK_STR_CONTAINS(err, "model-00003-of-00003.safetensors");
    free(err);
    /* The same with the only shard it names gone. */
    CHECK_EQ_INT(write_index(d, good_map), 0);
    char *sp = ds_path_join(d, "model-00002-of-00002.safetensors");
    unlink(sp);
    free(sp);
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "model-00002-of-00002.safetensors");
    free(err);
    test_rm_tree(d); free(d);
}

/* ------------------------------------------------------------------ other bad inputs */

TEST(bad_index_json) {
    char *d = good_ckpt();
    CHECK(d != NULL);
    if (!d) return;
    const char *bad[] = {"{\"weight_map\": ", "[]", "{\"metadata\": {}}", "{\"weight_map\": []}",
                         "{\"weight_map\": {\"model.norm.weight\": 3}}",
                         "{\"weight_map\": {\"model.norm.weight\": \"../model-00002-of-00002.safetensors\"}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(write_text(d, "model.safetensors.index.json", bad[i]), 0);
        ds_ckpt c;
        char *err;
        int rc = open_capture(d, &c, &err);
        CHECKF(rc == DS_EXIT_INPUT, "index '%s': rc %d", bad[i], rc);
        CHECKF(strstr(err, "model.safetensors.index.json") != NULL, "index '%s': %s", bad[i], err);
        free(err);
    }
    test_rm_tree(d); free(d);
}

/* A malformed shard fails the whole open, naming the shard. */
TEST(bad_shard_named) {
    char *d = good_ckpt();
    CHECK(d != NULL);
    if (!d) return;
    char *sp = ds_path_join(d, "model-00002-of-00002.safetensors");
    int fd = open(sp, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 30) == 0); /* the header now runs past the end */
    close(fd);
    ds_ckpt c;
    char *err;
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "model-00002-of-00002.safetensors");
    free(err); free(sp);
    test_rm_tree(d); free(d);
}

TEST(bad_paths) {
    char *d = test_tmpdir("hf");
    ds_ckpt c;
    char *err;
    /* An empty directory: nothing to open. */
    CHECK_EQ_INT(open_capture(d, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, d);
    free(err);
    char *p = ds_path_join(d, "nothing-here");
    CHECK_EQ_INT(open_capture(p, &c, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "nothing-here");
    free(err); free(p);
    test_rm_tree(d); free(d);
}

TEST(layer_of_names) {
    CHECK_EQ_INT(ds_layer_of("model.layers.0.self_attn.q_a_proj.weight"), 0);
    CHECK_EQ_INT(ds_layer_of("model.layers.61.embed_tokens.weight"), 61);
    CHECK_EQ_INT(ds_layer_of("model.layers.12.mlp.experts.3.up_proj.weight"), 12);
    CHECK_EQ_INT(ds_layer_of("model.embed_tokens.weight"), -1);
    CHECK_EQ_INT(ds_layer_of("model.layers.x.mlp"), -1);
    CHECK_EQ_INT(ds_layer_of("model.layers.3"), -1);
    CHECK_EQ_INT(ds_layer_of("model.layers.-1.mlp"), -1);
    CHECK_EQ_INT(ds_layer_of("layers.3.attn.wq.weight"), -1);
    CHECK_EQ_INT(ds_layer_of("lm_head.weight"), -1);
}

/* ------------------------------------------------------------------ the dev-tiny fixture */

TEST(dev_tiny_fixture) {
    ds_ckpt c;
    char *err;
    CHECK_EQ_INT(open_capture(DS_TEST_DATA "/dev-tiny/input", &c, &err), 0);
    free(err);
    CHECK_EQ_INT(c.has_index, 1);
    CHECK_EQ_INT(c.n_shards, 3);
    CHECK_EQ_INT(c.n_entries, 169);
    CHECK_EQ_INT(c.has_config, 1);
    CHECK_EQ_INT(c.config.num_hidden_layers, 2);
    if (c.n_shards == 3) {
        CHECK(strcmp(c.shard_names[0], "model-00001-of-00003.safetensors") == 0);
        CHECK(strcmp(c.shard_names[2], "model-00003-of-00003.safetensors") == 0);
    }
    const ds_ckpt_entry *e = ds_ckpt_find(&c, "model.layers.0.self_attn.q_a_proj.weight");
    CHECK(e != NULL);
    if (e) {
        CHECK_EQ_INT(e->info->dtype, DS_F8_E4M3);
        CHECK_EQ_INT(e->info->ndim, 2);
        CHECK_EQ_INT(e->info->shape[0], 192);
        CHECK_EQ_INT(e->info->shape[1], 256);
    }
    /* Some weight keeps its weight_scale_inv in another shard. */
    int split = 0, scales = 0;
    for (int i = 0; i < c.n_entries; i++) {
        const char *n = c.entries[i].name;
        size_t l = strlen(n);
        if (l < 10 || strcmp(n + l - 10, "_scale_inv") != 0) continue;
        scales++;
        char w[256];
        snprintf(w, sizeof w, "%.*s", (int)(l - 10), n);
        const ds_ckpt_entry *we = ds_ckpt_find(&c, w);
        CHECKF(we != NULL, "%s has no weight", n);
        if (we && we->file != c.entries[i].file) split++;
    }
    CHECK_EQ_INT(scales, 72);
    CHECK(split > 0);
    ds_ckpt_close(&c);
}

TESTS_MAIN(T(index_layout_opens), T(single_file_layouts_open), T(config_is_read_with_the_checkpoint),
           T(inconsistent_tensor_not_in_named_file), T(inconsistent_tensor_in_no_file),
           T(inconsistent_tensor_in_two_files), T(inconsistent_tensor_missing_from_index),
           T(inconsistent_mapped_file_missing), T(bad_index_json), T(bad_shard_named), T(bad_paths),
           T(layer_of_names), T(dev_tiny_fixture))
