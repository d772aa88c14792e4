/* test_safetensors.c - the validating reader and the streaming writer
 * (formats/safetensors.h).
 *
 * Reader: each rule of the format is broken once in a file built here (u64
 * header length, JSON, data bytes); ds_st_open must return DS_EXIT_INPUT and
 * its diagnostic on stderr must name the file and, where there is one, the
 * tensor. stderr is captured by pointing fd 2 at a temporary file around the
 * call. Good files (zero-size tensor, scalar, every dtype, metadata) must open
 * with exactly the tensors described.
 *
 * Writer: a round trip through ds_stw_* and ds_st_open, the header padding, the
 * hidden temporary name before commit and the final name after, abort, and a
 * commit that is missing bytes. */
#define _GNU_SOURCE
#include "tests/unit/test.h"
#include "tests/unit/test_fs.h"
#include "formats/safetensors.h"
#include "common/fsafe.h"
#include "common/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers */


/* Writes raw bytes to dir/name; returns the malloc'd path. */
static char *write_raw(const char *dir, const char *name, const void *buf, size_t n) {
    char *p = ds_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) { perror(p); exit(4); }
    if (n && fwrite(buf, 1, n, f) != n) { perror(p); exit(4); }
    if (fclose(f) != 0) { perror(p); exit(4); }
    return p;
}

/* A safetensors file: 8-byte little-endian header length hlen, the JSON text,
 * then ndata data bytes (a counting pattern). hlen is normally strlen(json). */
static char *write_st_len(const char *dir, const char *name, uint64_t hlen, const char *json, size_t ndata) {
    size_t jl = strlen(json), n = 8 + jl + ndata;
    unsigned char *b = xmalloc(n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, json, jl);
    for (size_t i = 0; i < ndata; i++) b[8 + jl + i] = (unsigned char)(i * 7 + 1);
    char *p = write_raw(dir, name, b, n);
    free(b);
    return p;
}
static char *write_st(const char *dir, const char *name, const char *json, size_t ndata) {
    return write_st_len(dir, name, strlen(json), json, ndata);
}

/* Runs ds_st_open with stderr going to a file; returns rc, *err gets the text (malloc'd). */
static int open_capture(const char *path, ds_st_file *f, char **err) {
    char tmpl[] = "/tmp/dsconv-test-st-err-XXXXXX";
    int efd = mkstemp(tmpl);
    if (efd < 0) { perror("mkstemp"); exit(4); }
    fflush(stderr);
    int saved = dup(2);
    if (saved < 0 || dup2(efd, 2) < 0) { perror("dup"); exit(4); }
    int rc = ds_st_open(path, f);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(efd);
    size_t len;
    if (ds_read_file(tmpl, err, &len) != 0) *err = xstrdup("");
    unlink(tmpl);
    return rc;
}

/* A malformed file: ds_st_open gives DS_EXIT_INPUT, a diagnostic naming the
 * file and `names` (NULL: only the file), and leaves f closed. */
static void expect_bad(test_ctx *t_, const char *dir, const char *case_name, const char *json, size_t ndata,
                       const char *names) {
    char fname[128];
    snprintf(fname, sizeof fname, "%s.safetensors", case_name);
    char *p = write_st(dir, fname, json, ndata);
    ds_st_file f;
    char *err = NULL;
    int rc = open_capture(p, &f, &err);
    CHECKF(rc == DS_EXIT_INPUT, "%s: rc %d, wanted %d; stderr: %s", case_name, rc, DS_EXIT_INPUT, err);
    CHECKF(strstr(err, p) != NULL, "%s: stderr does not name the file %s: %s", case_name, p, err);
    if (names) CHECKF(strstr(err, names) != NULL, "%s: stderr does not name '%s': %s", case_name, names, err);
    if (rc == 0) ds_st_close(&f); /* wrongly accepted: still release it */
    else CHECKF(f.tensors == NULL && f.map == NULL && f.n_tensors == 0, "%s: failed open left state behind", case_name);
    free(err);
    free(p);
}

/* ------------------------------------------------------------------ reader: file-level errors */

TEST(bad_empty_file) {
    char *d = test_tmpdir("st");
    char *p = write_raw(d, "empty.safetensors", "", 0);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, p);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

TEST(bad_seven_byte_file) {
    char *d = test_tmpdir("st");
    char *p = write_raw(d, "seven.safetensors", "\x02\0\0\0\0\0\0", 7);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, p);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

TEST(bad_missing_file) {
    char *d = test_tmpdir("st");
    char *p = ds_path_join(d, "absent.safetensors");
    ds_st_file f;
    char *err;
    int rc = open_capture(p, &f, &err);
    CHECK(rc == DS_EXIT_INPUT || rc == DS_EXIT_IO);
    CHECK_STR_CONTAINS(err, p);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

TEST(bad_header_length_past_end) {
    char *d = test_tmpdir("st");
    /* "{}" plus one byte of data: a length of 4 runs one byte past the file. */
    char *p = write_st_len(d, "past.safetensors", 4, "{}", 1);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, p);
    free(err); free(p);
    /* A huge length (would overflow 8 + n). */
    p = write_st_len(d, "huge.safetensors", UINT64_MAX - 3, "{}", 0);
    CHECK_EQ_INT(open_capture(p, &f, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, p);
    free(err); free(p);
    /* Exactly to the end is fine: "{}" with no data. */
    p = write_st(d, "exact.safetensors", "{}", 0);
    CHECK_EQ_INT(open_capture(p, &f, &err), 0);
    CHECK_EQ_INT(f.n_tensors, 0);
    ds_st_close(&f);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

/* The 100 MiB limit is checked on its own, not only as "past the end": the
 * file really is longer than the header it announces (sparse, so it is cheap). */
TEST(bad_header_length_over_100_mib) {
    char *d = test_tmpdir("st");
    char *p = ds_path_join(d, "big.safetensors");
    uint64_t n = (uint64_t)DS_ST_MAX_HEADER + 1;
    CHECK_EQ_INT(DS_ST_MAX_HEADER, 100u << 20);
    unsigned char h[10];
    for (int i = 0; i < 8; i++) h[i] = (unsigned char)(n >> (8 * i));
    h[8] = '{'; h[9] = '}';
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, h, sizeof h) == (ssize_t)sizeof h);
    CHECK(ftruncate(fd, (off_t)(8 + n + 64)) == 0);
    close(fd);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, p);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

/* A header of exactly 100 MiB ("{}" padded with spaces) is allowed. */
TEST(header_of_exactly_100_mib_opens) {
    char *d = test_tmpdir("st");
    char *p = ds_path_join(d, "limit.safetensors");
    size_t n = DS_ST_MAX_HEADER;
    unsigned char *b = xmalloc(8 + n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memset(b + 8, ' ', n);
    memcpy(b + 8, "{\"__metadata__\":{\"k\":\"v\"}}", 26);
    CHECK_EQ_INT(ds_write_file_atomic(p, b, 8 + n), 0);
    free(b);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), 0);
    CHECK_EQ_INT(f.header_len, n);
    CHECK_EQ_INT(f.data_offset, 8 + n);
    CHECK_EQ_INT(f.n_meta, 1);
    ds_st_close(&f);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

/* ------------------------------------------------------------------ reader: header errors */

TEST(bad_header_not_json) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "notjson", "{\"w\": {\"dtype\": \"F32\",", 0, NULL);
    expect_bad(t_, d, "notjson2", "hello world", 0, NULL);
    test_rm_tree(d); free(d);
}

TEST(bad_header_json_array) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "array", "[{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}]", 4, NULL);
    expect_bad(t_, d, "string", "\"F32\"", 0, NULL);
    test_rm_tree(d); free(d);
}

TEST(bad_metadata_non_string_value) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "meta_num", "{\"__metadata__\":{\"format\":\"pt\",\"step_count\":5}}", 0, "step_count");
    expect_bad(t_, d, "meta_obj", "{\"__metadata__\":{\"nested_key\":{\"a\":\"b\"}}}", 0, "nested_key");
    expect_bad(t_, d, "meta_notobj", "{\"__metadata__\":\"pt\"}", 0, "__metadata__");
    test_rm_tree(d); free(d);
}

TEST(bad_unknown_dtype) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "dtype_f4", "{\"layer.unknown_dt\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
               "layer.unknown_dt");
    expect_bad(t_, d, "dtype_lower",
               "{\"layer.lower_dt\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "layer.lower_dt");
    test_rm_tree(d); free(d);
}

TEST(bad_missing_dtype) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "nodtype", "{\"layer.no_dtype\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "layer.no_dtype");
    expect_bad(t_, d, "numdtype", "{\"layer.num_dtype\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               "layer.num_dtype");
    expect_bad(t_, d, "notobj", "{\"layer.not_object\":[1,2]}", 0, "layer.not_object");
    test_rm_tree(d); free(d);
}

TEST(bad_shape_negative) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "neg", "{\"w.negative\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", 16,
               "w.negative");
    /* -1 x -1 would multiply to a positive count that matches the span. */
    expect_bad(t_, d, "negneg", "{\"w.negneg\":{\"dtype\":\"U8\",\"shape\":[-1,-1],\"data_offsets\":[0,1]}}", 1,
               "w.negneg");
    test_rm_tree(d); free(d);
}

TEST(bad_shape_not_integer) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "frac", "{\"w.fraction\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
               "w.fraction");
    expect_bad(t_, d, "strdim", "{\"w.strdim\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
               "w.strdim");
    expect_bad(t_, d, "noshape", "{\"w.noshape\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "w.noshape");
    expect_bad(t_, d, "shapeobj", "{\"w.shapeobj\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 4,
               "w.shapeobj");
    test_rm_tree(d); free(d);
}

TEST(bad_shape_overflow) {
    char *d = test_tmpdir("st");
    /* Element count 2^96. */
    expect_bad(t_, d, "numel",
               "{\"w.numel_overflow\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
               "\"data_offsets\":[0,0]}}",
               0, "w.numel_overflow");
    /* Element count 2^62 fits, bytes 2^65 (F64) do not. */
    expect_bad(t_, d, "bytes",
               "{\"w.bytes_overflow\":{\"dtype\":\"F64\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]}}",
               0, "w.bytes_overflow");
    /* 2^64 elements exactly wraps to 0 in 64-bit arithmetic; span 0 must not match. */
    expect_bad(t_, d, "wrap",
               "{\"w.wraps_to_zero\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
               0, "w.wraps_to_zero");
    test_rm_tree(d); free(d);
}

TEST(bad_offsets_end_before_begin) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "endbegin", "{\"w.backwards\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
               "w.backwards");
    test_rm_tree(d); free(d);
}

TEST(bad_span_not_numel_times_size) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "short", "{\"w.short_span\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8,
               "w.short_span");
    expect_bad(t_, d, "long", "{\"w.long_span\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16,
               "w.long_span");
    test_rm_tree(d); free(d);
}

TEST(bad_offsets_past_data) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "past", "{\"w.past_end\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
               "w.past_end");
    expect_bad(t_, d, "past2",
               "{\"w.ok\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"w.far_away\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[100,101]}}",
               8, "w.far_away");
    test_rm_tree(d); free(d);
}

TEST(bad_tensors_overlap) {
    char *d = test_tmpdir("st");
    const char *j = "{\"w.alpha\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"w.beta\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    expect_bad(t_, d, "overlap", j, 12, "w.alpha");
    expect_bad(t_, d, "overlap_b", j, 12, "w.beta");
    /* Identical ranges, listed in the other order. */
    expect_bad(t_, d, "same_range",
               "{\"w.gamma\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
               "\"w.delta\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
               4, "w.gamma");
    /* One inside another. */
    expect_bad(t_, d, "inside",
               "{\"w.outer\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
               "\"w.inner\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}",
               16, "w.inner");
    test_rm_tree(d); free(d);
}

/* An empty tensor sorted between two overlapping ones must not hide the
 * overlap (comparing only neighbours in offset order would miss it). */
TEST(bad_overlap_around_empty_tensor) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "around_empty",
               "{\"w.first\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"w.hollow\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
               "\"w.second\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, "w.second");
    /* Two empties in between, and the overlapping one far behind. */
    expect_bad(t_, d, "around_empties",
               "{\"w.wide\":{\"dtype\":\"U8\",\"shape\":[32],\"data_offsets\":[0,32]},"
               "\"w.e1\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,8]},"
               "\"w.e2\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[9,9]},"
               "\"w.late\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[20,24]}}",
               32, "w.late");
    test_rm_tree(d); free(d);
}

/* An empty tensor anywhere, even inside another's range, overlaps nothing. */
TEST(good_empty_tensor_inside_another) {
    char *d = test_tmpdir("st");
    char *p = write_st(d, "inside.safetensors",
                       "{\"w.full\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"w.none\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                       "\"w.next\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                       12);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), 0);
    CHECK_EQ_INT(f.n_tensors, 3);
    ds_st_close(&f);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

TEST(bad_same_name_twice) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "dup",
               "{\"w.twice\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"w.twice\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, "w.twice");
    test_rm_tree(d); free(d);
}

TEST(bad_data_offsets_not_two_ints) {
    char *d = test_tmpdir("st");
    expect_bad(t_, d, "one", "{\"w.one_offset\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
               "w.one_offset");
    expect_bad(t_, d, "three", "{\"w.three\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
               "w.three");
    expect_bad(t_, d, "str", "{\"w.str_off\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4,
               "w.str_off");
    expect_bad(t_, d, "frac", "{\"w.frac_off\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0.5,1.5]}}", 2,
               "w.frac_off");
    expect_bad(t_, d, "neg", "{\"w.neg_off\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 2,
               "w.neg_off");
    expect_bad(t_, d, "absent", "{\"w.no_off\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "w.no_off");
    expect_bad(t_, d, "obj", "{\"w.obj_off\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":4}}}", 4,
               "w.obj_off");
    test_rm_tree(d); free(d);
}

/* ds_st_parse_header (the fuzzer's entry) applies the same rules without a file. */
TEST(parse_header_in_memory) {
    ds_st_file f;
    memset(&f, 0, sizeof f);
    const char *good = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    CHECK_EQ_INT(ds_st_parse_header("mem.safetensors", good, strlen(good), 8, &f), 0);
    CHECK_EQ_INT(f.n_tensors, 1);
    f.path = xstrdup("mem.safetensors");
    f.fd = -1; /* no file behind it: close must not close fd 0 */
    ds_st_close(&f);
    memset(&f, 0, sizeof f);
    /* Same header, data section one byte short. */
    char tmpl[] = "/tmp/dsconv-test-st-err-XXXXXX";
    int efd = mkstemp(tmpl), saved = dup(2);
    fflush(stderr);
    dup2(efd, 2);
    int rc = ds_st_parse_header("mem.safetensors", good, strlen(good), 7, &f);
    fflush(stderr);
    dup2(saved, 2);
    close(saved); close(efd);
    char *err = NULL;
    CHECK_EQ_INT(ds_read_file(tmpl, &err, NULL), 0);
    unlink(tmpl);
    CHECK_EQ_INT(rc, DS_EXIT_INPUT);
    CHECK_STR_CONTAINS(err, "mem.safetensors");
    free(err);
    f.path = xstrdup("mem.safetensors");
    f.fd = -1;
    ds_st_close(&f);
}

/* ------------------------------------------------------------------ reader: good files */

TEST(good_zero_size_and_scalar) {
    char *d = test_tmpdir("st");
    char *p = write_st(d, "zs.safetensors",
                       "{\"w.empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                       "\"w.scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                       "\"w.empty2\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[4,4]}}",
                       4);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), 0);
    CHECK_EQ_INT(f.n_tensors, 3);
    const ds_tensor_info *e = ds_st_find(&f, "w.empty"), *s = ds_st_find(&f, "w.scalar"), *e2 = ds_st_find(&f, "w.empty2");
    CHECK(e && s && e2);
    if (e && s && e2) {
        CHECK_EQ_INT(e->ndim, 2);
        CHECK_EQ_INT(e->shape[0], 0);
        CHECK_EQ_INT(e->shape[1], 5);
        CHECK_EQ_INT(ds_tensor_numel(e), 0);
        CHECK_EQ_INT(e->end - e->begin, 0);
        CHECK_EQ_INT(s->ndim, 0);
        CHECK_EQ_INT(ds_tensor_numel(s), 1);
        CHECK_EQ_INT(ds_tensor_rows(s), 1);
        CHECK_EQ_INT(s->begin, 0);
        CHECK_EQ_INT(s->end, 4);
        CHECK_EQ_INT(ds_st_data(&f, s)[0], 1); /* first data byte of the pattern */
        CHECK_EQ_INT(e2->dtype, DS_BF16);
    }
    CHECK(ds_st_find(&f, "w.absent") == NULL);
    ds_st_close(&f);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

/* One tensor of every dtype, listed out of data order: each reads back with
 * its dtype, shape and bytes, and tensors[] comes sorted by offset. */
TEST(good_every_dtype) {
    char *d = test_tmpdir("st");
    static const char *names[] = {"F8_E4M3", "F8_E5M2", "BF16", "F16", "F32", "F64",
                                  "I8", "U8", "I16", "I32", "I64", "BOOL"};
    static const int sizes[] = {1, 1, 2, 2, 4, 4 * 2, 1, 1, 2, 4, 8, 1};
    const int n = 12;
    char json[4096] = "{";
    uint64_t off[12], total = 0;
    for (int i = 0; i < n; i++) { off[i] = total; total += (uint64_t)(2 * 3 * sizes[i]); }
    for (int k = n - 1; k >= 0; k--) { /* reverse order in the header */
        char one[256];
        snprintf(one, sizeof one, "%s\"t.%s\":{\"dtype\":\"%s\",\"shape\":[2,3],\"data_offsets\":[%llu,%llu]}",
                 k == n - 1 ? "" : ",", names[k], names[k], (unsigned long long)off[k],
                 (unsigned long long)(off[k] + (uint64_t)(6 * sizes[k])));
        strcat(json, one);
    }
    strcat(json, "}");
    char *p = write_st(d, "all.safetensors", json, (size_t)total);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), 0);
    CHECK_EQ_INT(f.n_tensors, n);
    CHECK_EQ_INT(f.header_len, strlen(json));
    CHECK_EQ_INT(f.data_offset, 8 + strlen(json));
    CHECK_EQ_INT(f.file_size, 8 + strlen(json) + total);
    for (int i = 0; i < n && f.n_tensors == n; i++) {
        char tn[64];
        snprintf(tn, sizeof tn, "t.%s", names[i]);
        const ds_tensor_info *t = ds_st_find(&f, tn);
        CHECKF(t != NULL, "%s missing", tn);
        if (!t) continue;
        CHECK(strcmp(ds_dtype_name(t->dtype), names[i]) == 0);
        CHECK_EQ_INT(ds_dtype_size(t->dtype), sizes[i]);
        CHECK_EQ_INT(t->ndim, 2);
        CHECK_EQ_INT(t->shape[0], 2);
        CHECK_EQ_INT(t->shape[1], 3);
        CHECK_EQ_INT(ds_tensor_rows(t), 2);
        CHECK_EQ_INT(ds_tensor_cols(t), 3);
        CHECK_EQ_INT(t->begin, off[i]);
        CHECK_EQ_INT(ds_st_file_offset(&f, t), f.data_offset + off[i]);
        CHECK_EQ_INT(ds_st_data(&f, t)[0], (unsigned char)(off[i] * 7 + 1));
        CHECK(&f.tensors[i] == t); /* sorted by data offset */
    }
    ds_st_close(&f);
    CHECK(f.map == NULL && f.tensors == NULL);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

TEST(good_metadata_kept) {
    char *d = test_tmpdir("st");
    char *p = write_st(d, "meta.safetensors",
                       "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"__metadata__\":{\"format\":\"pt\",\"producer\":\"unit \\\"test\\\"\",\"empty\":\"\"}}",
                       1);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), 0);
    CHECK_EQ_INT(f.n_tensors, 1); /* __metadata__ is not a tensor */
    CHECK(ds_st_find(&f, "__metadata__") == NULL);
    CHECK_EQ_INT(f.n_meta, 3);
    int seen = 0;
    for (int i = 0; i < f.n_meta; i++) {
        if (!strcmp(f.meta_keys[i], "format")) seen += !strcmp(f.meta_vals[i], "pt");
        if (!strcmp(f.meta_keys[i], "producer")) seen += !strcmp(f.meta_vals[i], "unit \"test\"");
        if (!strcmp(f.meta_keys[i], "empty")) seen += !strcmp(f.meta_vals[i], "");
    }
    CHECK_EQ_INT(seen, 3);
    ds_st_close(&f);
    free(err); free(p);
    test_rm_tree(d); free(d);
}

/* Names are looked up exactly, among many (the by-name index is sorted). */
TEST(good_find_among_many) {
    char *d = test_tmpdir("st");
    size_t cap = 1 << 16, len = 0;
    char *json = xmalloc(cap);
    len += (size_t)snprintf(json + len, cap - len, "{");
    const int n = 300;
    for (int i = 0; i < n; i++) {
        int k = (i * 37) % n; /* scrambled names vs offsets */
        len += (size_t)snprintf(json + len, cap - len, "%s\"model.layers.%d.w\":{\"dtype\":\"I16\",\"shape\":[1],"
                                "\"data_offsets\":[%d,%d]}", i ? "," : "", k, 2 * i, 2 * i + 2);
    }
    snprintf(json + len, cap - len, "}");
    char *p = write_st(d, "many.safetensors", json, 2 * (size_t)n);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(p, &f, &err), 0);
    CHECK_EQ_INT(f.n_tensors, n);
    int found = 0;
    for (int i = 0; i < n && f.n_tensors == n; i++) {
        char nm[64];
        int k = (i * 37) % n;
        snprintf(nm, sizeof nm, "model.layers.%d.w", k);
        const ds_tensor_info *t = ds_st_find(&f, nm);
        found += t && t->begin == (uint64_t)(2 * i) && !strcmp(t->name, nm);
    }
    CHECK_EQ_INT(found, n);
    CHECK(ds_st_find(&f, "model.layers.1") == NULL);
    CHECK(ds_st_find(&f, "model.layers.1.w.") == NULL);
    ds_st_close(&f);
    free(json); free(err); free(p);
    test_rm_tree(d); free(d);
}

/* ------------------------------------------------------------------ writer */

/* Three tensors of mixed dtypes, a scalar and a zero-size one. */
static const ds_tensor_desc plan[] = {
    {"model.embed_tokens.weight", DS_BF16, 2, {3, 5}},
    {"model.layers.0.self_attn.q_a_proj.weight", DS_F8_E4M3, 2, {4, 7}},
    {"model.layers.0.self_attn.q_a_proj.weight_scale_inv", DS_F32, 2, {1, 1}},
    {"scalar \"quoted\" name", DS_I64, 0, {0}},
    {"empty", DS_F16, 2, {0, 9}},
    {"model.norm.weight", DS_F32, 1, {5}},
};
#define NPLAN ((int)(sizeof plan / sizeof plan[0]))

static uint64_t plan_bytes(int i) {
    uint64_t n = ds_dtype_size(plan[i].dtype);
    for (int d = 0; d < plan[i].ndim; d++) n *= (uint64_t)plan[i].shape[d];
    return n;
}

static unsigned char *plan_data(int i) {
    uint64_t n = plan_bytes(i);
    unsigned char *b = xmalloc(n + 1);
    for (uint64_t k = 0; k < n; k++) b[k] = (unsigned char)(i * 31 + k * 3 + 5);
    return b;
}

TEST(writer_round_trip) {
    char *d = test_tmpdir("st");
    char *out = ds_path_join(d, "model-00001-of-00001.safetensors");
    ds_st_writer *w = NULL;
    CHECK_EQ_INT(ds_stw_open(&w, out, plan, NPLAN), 0);
    if (!w) { test_rm_tree(d); free(d); free(out); return; }
    uint64_t expect_off = ds_stw_tensor_offset(w, 0);
    for (int i = 0; i < NPLAN; i++) {
        CHECK_EQ_INT(ds_stw_tensor_bytes(w, i), plan_bytes(i));
        CHECK_EQ_INT(ds_stw_tensor_offset(w, i), expect_off); /* contiguous, in plan order */
        expect_off += plan_bytes(i);
        unsigned char *b = plan_data(i);
        /* Appended in two pieces: the writer streams, it does not need whole tensors. */
        size_t n = (size_t)plan_bytes(i), h = n / 2;
        CHECK_EQ_INT(ds_stw_append(w, b, h), 0);
        CHECK_EQ_INT(ds_stw_append(w, b + h, n - h), 0);
        free(b);
    }
    uint64_t total = ds_stw_total_size(w);
    CHECK_EQ_INT(total, expect_off);
    CHECK_EQ_INT(ds_stw_commit(w), 0);

    struct stat st;
    CHECK(stat(out, &st) == 0 && (uint64_t)st.st_size == total);
    ds_st_file f;
    char *err;
    CHECK_EQ_INT(open_capture(out, &f, &err), 0);
    CHECK_EQ_INT(f.n_tensors, NPLAN);
    CHECK_EQ_INT(f.header_len % 8, 0);
    CHECK_EQ_INT(f.data_offset % 8, 0);
    for (int i = 0; i < NPLAN && f.n_tensors == NPLAN; i++) {
        const ds_tensor_info *t = ds_st_find(&f, plan[i].name);
        CHECKF(t != NULL, "%s missing", plan[i].name);
        if (!t) continue;
        CHECK_EQ_INT(t->dtype, plan[i].dtype);
        CHECK_EQ_INT(t->ndim, plan[i].ndim);
        for (int k = 0; k < t->ndim; k++) CHECK_EQ_INT(t->shape[k], plan[i].shape[k]);
        CHECK_EQ_INT(t->end - t->begin, plan_bytes(i));
        unsigned char *b = plan_data(i);
        CHECKF(memcmp(ds_st_data(&f, t), b, (size_t)plan_bytes(i)) == 0, "%s bytes differ", plan[i].name);
        free(b);
    }
    /* {"format":"pt"} metadata. */
    int pt = 0;
    for (int i = 0; i < f.n_meta; i++) pt += !strcmp(f.meta_keys[i], "format") && !strcmp(f.meta_vals[i], "pt");
    CHECK_EQ_INT(pt, 1);
    /* Padding is spaces after the closing brace. */
    const char *hj = (const char *)f.map + 8;
    uint64_t last = f.header_len;
    while (last > 0 && hj[last - 1] == ' ') last--;
    CHECK(last > 0 && hj[last - 1] == '}');
    CHECK(f.header_len - last < 8);
    ds_st_close(&f);
    free(err);
    /* Only the final file is left in the directory. */
    DIR *dd = opendir(d);
    int entries = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd))) entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (dd) closedir(dd);
    CHECK_EQ_INT(entries, 1);
    free(out);
    test_rm_tree(d); free(d);
}

/* ds_st_build_header gives the same bytes the writer put in the file. */
TEST(writer_header_matches_build_header) {
    char *d = test_tmpdir("st");
    char *out = ds_path_join(d, "h.safetensors");
    uint8_t *h = NULL;
    size_t hl = 0;
    uint64_t ds = 0;
    CHECK_EQ_INT(ds_st_build_header(plan, NPLAN, &h, &hl, &ds), 0);
    uint64_t want_ds = 0;
    for (int i = 0; i < NPLAN; i++) want_ds += plan_bytes(i);
    CHECK_EQ_INT(ds, want_ds);
    CHECK_EQ_INT((hl - 8) % 8, 0);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | h[i];
    CHECK_EQ_INT(n, hl - 8);
    ds_st_writer *w = NULL;
    CHECK_EQ_INT(ds_stw_open(&w, out, plan, NPLAN), 0);
    if (w) {
        CHECK_EQ_INT(ds_stw_tensor_offset(w, 0), hl);
        CHECK_EQ_INT(ds_stw_total_size(w), hl + want_ds);
        /* Out-of-order pwrite at the planned offsets works as well as append. */
        for (int i = NPLAN - 1; i >= 0; i--) {
            unsigned char *b = plan_data(i);
            CHECK_EQ_INT(ds_stw_pwrite(w, ds_stw_tensor_offset(w, i), b, (size_t)plan_bytes(i)), 0);
            free(b);
        }
        CHECK_EQ_INT(ds_stw_commit(w), 0);
    }
    char *file = NULL;
    size_t fl = 0;
    CHECK_EQ_INT(ds_read_file(out, &file, &fl), 0);
    CHECK(file && fl == hl + want_ds && memcmp(file, h, hl) == 0);
    free(file); free(h); free(out);
    test_rm_tree(d); free(d);
}

TEST(writer_temp_name_until_commit) {
    char *d = test_tmpdir("st");
    char *out = ds_path_join(d, "model.safetensors");
    ds_st_writer *w = NULL;
    CHECK_EQ_INT(ds_stw_open(&w, out, plan, NPLAN), 0);
    if (!w) { free(out); test_rm_tree(d); free(d); return; }
    /* ".model.safetensors.XXXXXX.dsconv-tmp": hidden, random, a temporary name */
    char *tmp = xstrdup(ds_stw_tmp_path(w));
    char *pre = ds_path_join(d, ".model.safetensors.");
    CHECK(strncmp(tmp, pre, strlen(pre)) == 0 && strlen(tmp) == strlen(pre) + 6 + 11);
    CHECK(ds_is_tmp_name(ds_basename(tmp)));
    free(pre);
    CHECK(ds_stw_fd(w) >= 0);
    CHECK(ds_path_exists(tmp));
    CHECK(!ds_path_exists(out));
    for (int i = 0; i < NPLAN; i++) {
        unsigned char *b = plan_data(i);
        CHECK_EQ_INT(ds_stw_append(w, b, (size_t)plan_bytes(i)), 0);
        free(b);
        CHECK(!ds_path_exists(out)); /* still hidden while data arrives */
    }
    ds_stw_set_sync(w, 0);
    CHECK_EQ_INT(ds_stw_commit(w), 0);
    CHECK(ds_path_exists(out));
    CHECK(!ds_path_exists(tmp));
    free(out); free(tmp);
    test_rm_tree(d); free(d);
}

TEST(writer_abort_removes_temp) {
    char *d = test_tmpdir("st");
    char *out = ds_path_join(d, "a.safetensors");
    ds_st_writer *w = NULL;
    CHECK_EQ_INT(ds_stw_open(&w, out, plan, NPLAN), 0);
    char *tmp = xstrdup(w ? ds_stw_tmp_path(w) : "none");
    CHECK(ds_path_exists(tmp));
    unsigned char *b = plan_data(0);
    if (w) CHECK_EQ_INT(ds_stw_append(w, b, (size_t)plan_bytes(0)), 0);
    free(b);
    ds_stw_abort(w);
    CHECK(!ds_path_exists(tmp));
    CHECK(!ds_path_exists(out));
    ds_stw_abort(NULL); /* safe on NULL */
    free(out); free(tmp);
    test_rm_tree(d); free(d);
}

TEST(writer_commit_with_missing_bytes_fails) {
    char *d = test_tmpdir("st");
    char *out = ds_path_join(d, "m.safetensors");
    ds_st_writer *w = NULL;
    CHECK_EQ_INT(ds_stw_open(&w, out, plan, NPLAN), 0);
    char *tmp = xstrdup(w ? ds_stw_tmp_path(w) : "none");
    if (w) {
        for (int i = 0; i < NPLAN - 1; i++) { /* the last tensor never arrives */
            unsigned char *b = plan_data(i);
            CHECK_EQ_INT(ds_stw_append(w, b, (size_t)plan_bytes(i)), 0);
            free(b);
        }
        fflush(stderr);
        int saved = dup(2), nul = open("/dev/null", O_WRONLY);
        dup2(nul, 2);
        int rc = ds_stw_commit(w);
        fflush(stderr);
        dup2(saved, 2);
        close(saved); close(nul);
        CHECK(rc != 0);
    }
    CHECK(!ds_path_exists(out));
    CHECK(!ds_path_exists(tmp));
    free(out); free(tmp);
    test_rm_tree(d); free(d);
}

/* Writes outside the planned data (into the header, past the end) are refused. */
TEST(writer_refuses_writes_outside_the_plan) {
    char *d = test_tmpdir("st");
    char *out = ds_path_join(d, "o.safetensors");
    ds_st_writer *w = NULL;
    CHECK_EQ_INT(ds_stw_open(&w, out, plan, NPLAN), 0);
    if (w) {
        unsigned char b[64] = {0};
        fflush(stderr);
        int saved = dup(2), nul = open("/dev/null", O_WRONLY);
        dup2(nul, 2);
        int r1 = ds_stw_pwrite(w, 0, b, 8);
        int r2 = ds_stw_pwrite(w, ds_stw_total_size(w) - 2, b, 4);
        fflush(stderr);
        dup2(saved, 2);
        close(saved); close(nul);
        CHECK(r1 != 0);
        CHECK(r2 != 0);
        ds_stw_abort(w);
    }
    CHECK(!ds_path_exists(out));
    free(out);
    test_rm_tree(d); free(d);
}

TESTS_MAIN(T(bad_empty_file), T(bad_seven_byte_file), T(bad_missing_file), T(bad_header_length_past_end),
           T(bad_header_length_over_100_mib), T(header_of_exactly_100_mib_opens), T(bad_header_not_json),
           T(bad_header_json_array), T(bad_metadata_non_string_value), T(bad_unknown_dtype), T(bad_missing_dtype),
           T(bad_shape_negative), T(bad_shape_not_integer), T(bad_shape_overflow), T(bad_offsets_end_before_begin),
           T(bad_span_not_numel_times_size), T(bad_offsets_past_data), T(bad_tensors_overlap), T(bad_overlap_around_empty_tensor),
           T(good_empty_tensor_inside_another), T(bad_same_name_twice),
           T(bad_data_offsets_not_two_ints), T(parse_header_in_memory), T(good_zero_size_and_scalar),
           T(good_every_dtype), T(good_metadata_kept), T(good_find_among_many), T(writer_round_trip),
           T(writer_header_matches_build_header), T(writer_temp_name_until_commit), T(writer_abort_removes_temp),
           T(writer_commit_with_missing_bytes_fails), T(writer_refuses_writes_outside_the_plan))
