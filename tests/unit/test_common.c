/* test_common.c - the helpers written once in common/: ds_has_suffix (names),
 * ds_write_json_atomic (reports, sample config.json) and ds_list_dir (shards,
 * side files, manifest). */
#include "tests/unit/test.h"
#include "tests/unit/test_fs.h"
#include "common/jsonfile.h"
#include "common/util.h"

#include <dirent.h>
#include <stdlib.h>

TEST(suffix_needs_a_stem) {
    CHECK(ds_has_suffix("model.layers.0.mlp.down_proj.weight", ".weight"));
    CHECK(ds_has_suffix("x_scale_inv", "_scale_inv"));
    CHECK(ds_has_suffix("model-00001-of-00163.safetensors", ".safetensors"));
    CHECK(!ds_has_suffix(".weight", ".weight"));   /* the suffix alone has no stem */
    CHECK(!ds_has_suffix("weight", ".weight"));
    CHECK(!ds_has_suffix("a.weight_packed", ".weight"));
    CHECK(!ds_has_suffix("", "x"));
}

TEST(json_file_is_pretty_with_one_newline_and_no_temporary) {
    char *d = test_tmpdir("json");
    CHECK(d != NULL);
    if (!d) return;
    char *p = ds_path_join(d, "r.json");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "verdict", "PASS");
    cJSON_AddNumberToObject(o, "exit_code", 0);
    CHECK_EQ_INT(ds_write_json_atomic(p, o), 0);
    char *want = cJSON_Print(o), *got = NULL;
    size_t n = 0;
    CHECK_EQ_INT(ds_read_file(p, &got, &n), 0);
    CHECK_EQ_INT(n, strlen(want) + 1);
    CHECK(got && !strncmp(got, want, strlen(want)) && got[n - 1] == '\n');
    int files = 0;
    DIR *dir = opendir(d);
    for (struct dirent *e; dir && (e = readdir(dir));) files += e->d_name[0] != '.' || strstr(e->d_name, "tmp");
    if (dir) closedir(dir);
    CHECK_EQ_INT(files, 1); /* r.json only: the temporary name is gone */
    /* a directory that does not exist: I/O error, reported */
    char *bad = ds_path_join(d, "no/such/dir.json");
    fflush(stderr);
    CHECK_EQ_INT(ds_write_json_atomic(bad, o), DS_EXIT_IO);
    free(bad);
    free(want);
    free(got);
    cJSON_Delete(o);
    free(p);
    test_rm_tree(d);
    free(d);
}

static int no_b(const char *dir, const char *name, void *arg) {
    (void)dir;
    ++*(int *)arg;
    return name[0] != 'b';
}

/* One listing: every entry but . and .., sorted by strcmp, filtered. */
TEST(list_dir_sorted_and_filtered) {
    char *d = test_tmpdir("ls");
    CHECK(d != NULL);
    if (!d) return;
    const char *mk[] = {"c.json", "a2", ".hidden", "b.safetensors", "a10", "Z"};
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++) {
        char *p = ds_path_join(d, mk[i]);
        CHECK_EQ_INT(ds_write_file_atomic(p, "x", 1), 0);
        free(p);
    }
    char **names;
    int n, calls = 0;
    CHECK_EQ_INT(ds_list_dir(d, no_b, &calls, &names, &n), 0);
    const char *want[] = {".hidden", "Z", "a10", "a2", "c.json"};
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(calls, 6);
    for (int i = 0; i < n && i < 5; i++) CHECKF(!strcmp(names[i], want[i]), "%d: %s, want %s", i, names[i], want[i]);
    ds_free_names(names, n);
    CHECK_EQ_INT(ds_list_dir(d, NULL, NULL, &names, &n), 0);
    CHECK_EQ_INT(n, 6);
    ds_free_names(names, n);
    char *missing = ds_path_join(d, "nope");
    fflush(stderr);
    CHECK_EQ_INT(ds_list_dir(missing, NULL, NULL, &names, &n), DS_EXIT_IO);
    CHECK_EQ_INT(n, 0);
    free(missing);
    test_rm_tree(d);
    free(d);
}

TESTS_MAIN(T(suffix_needs_a_stem), T(json_file_is_pretty_with_one_newline_and_no_temporary),
           T(list_dir_sorted_and_filtered))
