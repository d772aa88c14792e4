/* test_runrec.c - run records (convert/runrec.h): part assignment is a pure,
 * balanced function of the plan and N; journals prove only whole lines; head
 * differences are named. */
#include "test.h"
#include "test_fs.h"
#include "convert/runrec.h"

#include <fcntl.h>
#include <stdlib.h>

/* A plan of n files, file f holding one U8 tensor of sizes[f] bytes. */
static void plan_of(ds_plan *p, const int64_t *sizes, int n) {
    ds_plan_init(p);
    for (int f = 0; f < n; f++) {
        char name[32];
        snprintf(name, sizeof name, "f%02d.safetensors", f);
        int fi = ds_plan_add_file(p, name);
        ds_plan_add_tensor(p, fi, "t", DS_U8, 1, &sizes[f]);
    }
}

TEST(assign_is_pure_and_balanced) {
    const int64_t sizes[] = {900, 100, 500, 500, 300, 700, 200, 800, 400, 600};
    int n = 10;
    ds_plan p;
    plan_of(&p, sizes, n);
    for (int parts = 1; parts <= 12; parts++) {
        int a[10], b[10];
        ds_part_assign(&p, parts, a);
        ds_part_assign(&p, parts, b);
        CHECK(!memcmp(a, b, sizeof a));
        uint64_t load[13] = {0}, total = 0, largest = 0;
        for (int f = 0; f < n; f++) {
            CHECK(a[f] >= 1 && a[f] <= parts);
            uint64_t bytes = ds_plan_file_bytes(&p, f);
            load[a[f]] += bytes;
            total += bytes;
            if (bytes > largest) largest = bytes;
        }
        /* greedy largest-first: no part exceeds the average by more than the largest file */
        for (int i = 1; i <= parts; i++) CHECKF(load[i] <= total / parts + largest, "parts %d: part %d has %llu", parts, i, (unsigned long long)load[i]);
        if (parts <= n)
            for (int i = 1; i <= parts; i++) CHECKF(load[i] > 0, "parts %d: part %d empty", parts, i);
    }
    int two[10];
    ds_part_assign(&p, 2, two);
    uint64_t l1 = 0, l2 = 0;
    for (int f = 0; f < n; f++) *(two[f] == 1 ? &l1 : &l2) += ds_plan_file_bytes(&p, f);
    CHECKF(llabs((long long)l1 - (long long)l2) <= 100, "two parts: %llu vs %llu", (unsigned long long)l1,
           (unsigned long long)l2);
    ds_plan_free(&p);
}

static cJSON *fp_of(const char *index_hex, uint64_t shard_size) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "xxh3_128", index_hex);   /* differs whenever anything differs */
    cJSON_AddStringToObject(f, "index", index_hex);
    cJSON_AddNullToObject(f, "config");
    cJSON *s = cJSON_AddArrayToObject(f, "shards"), *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "model-00001-of-00001.safetensors");
    cJSON_AddNumberToObject(e, "size", (double)shard_size);
    cJSON_AddStringToObject(e, "header", "00");
    cJSON_AddItemToArray(s, e);
    return f;
}

TEST(head_differences_are_named) {
    cJSON *fa = fp_of("aa", 10), *fb = fp_of("aa", 10), *fc = fp_of("ab", 10), *fd = fp_of("aa", 12);
    cJSON_ReplaceItemInObject(fd, "xxh3_128", cJSON_CreateString("zz"));
    const char *o1[] = {"--bits=4"}, *o2[] = {"--bits=8"};
    cJSON *h1 = ds_rec_head("requant", o1, 1, "/in", 1, 2, fa), *h2 = ds_rec_head("requant", o1, 1, "/elsewhere", 2, 2, fb);
    cJSON *h3 = ds_rec_head("requant", o2, 1, "/in", 1, 2, fa), *h4 = ds_rec_head("fp8-to-bf16", o1, 1, "/in", 1, 2, fa);
    cJSON *h5 = ds_rec_head("requant", o1, 1, "/in", 1, 2, fc), *h6 = ds_rec_head("requant", o1, 1, "/in", 1, 2, fd);
    char *d;
    CHECK((d = ds_rec_head_diff(h1, h2)) == NULL); /* another part, another mount: the same conversion */
    free(d);
    d = ds_rec_head_diff(h1, h3); CHECK_STR_CONTAINS(d, "options '--bits=8', were '--bits=4'"); free(d);
    d = ds_rec_head_diff(h1, h4); CHECK_STR_CONTAINS(d, "command fp8-to-bf16, was requant"); free(d);
    d = ds_rec_head_diff(h1, h5); CHECK_STR_CONTAINS(d, "index.json changed"); free(d);
    d = ds_rec_head_diff(h1, h6); CHECK_STR_CONTAINS(d, "shard model-00001-of-00001.safetensors: size 12, was 10"); free(d);
    cJSON *all[] = {fa, fb, fc, fd, h1, h2, h3, h4, h5, h6};
    for (int i = 0; i < 10; i++) cJSON_Delete(all[i]);
}

TEST(journal_proves_whole_lines_only) {
    char *dir = test_tmpdir("runrec");
    CHECK(dir != NULL);
    if (!dir) return;
    cJSON *fp = fp_of("aa", 10);
    cJSON *head = ds_rec_head("strip-mtp", NULL, 0, "/in", 2, 3, fp);
    ds_journal *j;
    CHECK_EQ_INT(ds_journal_open(&j, dir, 2, 3, head, 0, 0), 0);
    cJSON *e = ds_rec_entry(123, "0123456789abcdef0123456789abcdef", NULL);
    CHECK_EQ_INT(ds_journal_add(j, "a.safetensors", e), 0);
    CHECK_EQ_INT(ds_journal_add(j, "b.safetensors", e), 0);
    ds_journal_close(j);
    /* a crash in the middle of the third line */
    char *log = ds_rec_path(dir, 2, 3, ".log");
    int fd = open(log, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "{\"file\":\"c.safetensors\",\"si", 27) == 27);
    if (fd >= 0) close(fd);
    ds_rec r;
    int found = 0;
    CHECK_EQ_INT(ds_rec_load(dir, 2, 3, &r, &found), 0);
    CHECK(found && !r.complete && r.part_i == 2 && r.part_n == 3);
    CHECK_EQ_INT(cJSON_GetArraySize(r.files), 2);
    CHECK(cJSON_GetObjectItemCaseSensitive(r.files, "b.safetensors") != NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(r.files, "c.safetensors") == NULL);
    /* the record supersedes the journal, which it removes */
    CHECK_EQ_INT(ds_rec_finish(dir, 2, 3, head, r.files), 0);
    CHECK(!ds_path_exists(log));
    ds_rec_free(&r);
    CHECK_EQ_INT(ds_rec_load(dir, 2, 3, &r, &found), 0);
    CHECK(found && r.complete && cJSON_GetArraySize(r.files) == 2);
    ds_rec_free(&r);
    ds_rec_set s;
    CHECK_EQ_INT(ds_rec_load_all(dir, &s), 0);
    CHECK_EQ_INT(s.n, 1);
    ds_rec_set_free(&s);
    /* a record under another part's name is refused */
    char *other = ds_rec_path(dir, 1, 3, ".json"), *mine = ds_rec_path(dir, 2, 3, ".json");
    CHECK(rename(mine, other) == 0);
    CHECK_EQ_INT(ds_rec_load(dir, 1, 3, &r, &found), DS_EXIT_INPUT);
    free(other); free(mine); free(log);
    cJSON_Delete(e); cJSON_Delete(head); cJSON_Delete(fp);
    test_rm_tree(dir);
    free(dir);
}

/* Records and journals are parsed strictly (common/json.h): a duplicate key or
 * bytes after a line end the journal there (the file it names is not proven); a
 * record with either is refused. */
TEST(records_are_strict_json) {
    char *dir = test_tmpdir("runrec-strict");
    CHECK(dir != NULL);
    if (!dir) return;
    cJSON *fp = fp_of("aa", 10);
    cJSON *head = ds_rec_head("requant", NULL, 0, "/in", 0, 0, fp);
    ds_journal *j;
    CHECK_EQ_INT(ds_journal_open(&j, dir, 0, 0, head, 0, 0), 0);
    cJSON *e = ds_rec_entry(123, NULL, NULL);
    CHECK_EQ_INT(ds_journal_add(j, "a.safetensors", e), 0);
    ds_journal_close(j);
    char *log = ds_rec_path(dir, 0, 0, ".log");
    int fd = open(log, O_WRONLY | O_APPEND);
    const char *dup = "{\"file\":\"b.safetensors\",\"size\":1,\"size\":2}\n";
    const char *after = "{\"file\":\"c.safetensors\",\"size\":1}\n";
    CHECK(fd >= 0 && write(fd, dup, strlen(dup)) == (ssize_t)strlen(dup) &&
          write(fd, after, strlen(after)) == (ssize_t)strlen(after));
    if (fd >= 0) close(fd);
    ds_rec r;
    int found = 0;
    CHECK_EQ_INT(ds_rec_load(dir, 0, 0, &r, &found), 0);
    CHECK(found && cJSON_GetArraySize(r.files) == 1);
    CHECK(cJSON_GetObjectItemCaseSensitive(r.files, "b.safetensors") == NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(r.files, "c.safetensors") == NULL);
    /* the final record, then bytes after it */
    CHECK_EQ_INT(ds_rec_finish(dir, 0, 0, head, r.files), 0);
    ds_rec_free(&r);
    char *rec = ds_rec_path(dir, 0, 0, ".json");
    fd = open(rec, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "{}", 2) == 2);
    if (fd >= 0) close(fd);
    CHECK_EQ_INT(ds_rec_load(dir, 0, 0, &r, &found), DS_EXIT_INPUT);
    free(rec); free(log);
    cJSON_Delete(e); cJSON_Delete(head); cJSON_Delete(fp);
    test_rm_tree(dir);
    free(dir);
}

TESTS_MAIN(T(assign_is_pure_and_balanced), T(head_differences_are_named), T(journal_proves_whole_lines_only),
           T(records_are_strict_json))
