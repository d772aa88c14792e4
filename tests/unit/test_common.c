/* test_common.c - the helpers written once in common/: ds_has_suffix (names)
 * and ds_write_json_atomic (reports, sample config.json). */
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

TESTS_MAIN(T(suffix_needs_a_stem), T(json_file_is_pretty_with_one_newline_and_no_temporary))
