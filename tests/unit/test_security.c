/* test_security.c - the helpers that harden input handling: strict JSON, escaping, temporary
 * files, side-file containment, OUT/IN overlap, empty-tensor bounds, SIGBUS. */
#define _GNU_SOURCE
#include "tests/unit/test.h"
#include "tests/unit/test_fs.h"
#include "common/fsafe.h"
#include "common/json.h"
#include "common/hash.h"
#include "common/util.h"
#include "convert/manifest.h"
#include "formats/safetensors.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs f with stderr discarded (the functions report what they refuse). */
static int quiet_rc(int (*f)(void *), void *a) {
    fflush(stderr);
    int saved = dup(2), nul = open("/dev/null", O_WRONLY);
    dup2(nul, 2);
    int rc = f(a);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(nul);
    return rc;
}
static int parse_it(void *a) {
    cJSON *j = NULL;
    int rc = ds_json_parse("t.json", NULL, a, strlen(a), &j);
    cJSON_Delete(j);
    return rc;
}

TEST(json_strict) {
    CHECK_EQ_INT(quiet_rc(parse_it, "{\"a\": 1, \"b\": [1, {\"c\": 2}]}  \n"), 0);
    CHECK_EQ_INT(quiet_rc(parse_it, "{\"a\": 1, \"a\": 2}"), DS_EXIT_INPUT);
    CHECK_EQ_INT(quiet_rc(parse_it, "{\"x\": {\"b\": 1, \"a\": 0, \"b\": 2}}"), DS_EXIT_INPUT);
    CHECK_EQ_INT(quiet_rc(parse_it, "[{\"k\": 1}, {\"k\": 1, \"k\": 1}]"), DS_EXIT_INPUT);
    CHECK_EQ_INT(quiet_rc(parse_it, "{\"a\": 1} x"), DS_EXIT_INPUT);
    CHECK_EQ_INT(quiet_rc(parse_it, "{\"a\": 1}{}"), DS_EXIT_INPUT);
    CHECK_EQ_INT(quiet_rc(parse_it, "{\"a\": 1, \"A\": 2}"), 0); /* case matters, as in Python */
    CHECK_EQ_INT(quiet_rc(parse_it, "{\"a\": "), DS_EXIT_INPUT);
    /* a length-bounded parse stops at len: bytes past it are not looked at */
    cJSON *j = NULL;
    const char *txt = "{\"a\": 1}   GARBAGE";
    CHECK_EQ_INT(ds_json_parse("t", "header", txt, 11, &j), 0);
    cJSON_Delete(j);
}

TEST(escape_controls) {
    char b[256];
    CHECK(!strcmp(ds_esc("model.layers.0.weight", b, sizeof b), "model.layers.0.weight"));
    CHECK(!strcmp(ds_esc("a\x1b[2Jb\x07", b, sizeof b), "a\\x1b[2Jb\\x07"));
    CHECK(!strcmp(ds_esc("x\xc2\x9b" "31m", b, sizeof b), "x\\xc2\\x9b31m"));   /* C1 CSI as UTF-8 */
    CHECK(!strcmp(ds_esc("\x9b\xff", b, sizeof b), "\\x9b\\xff"));              /* invalid UTF-8 */
    CHECK(!strcmp(ds_esc("caf\xc3\xa9 \xe2\x9c\x93", b, sizeof b), "caf\xc3\xa9 \xe2\x9c\x93")); /* kept */
    CHECK(!strcmp(ds_esc("\x7f\n\t", b, sizeof b), "\\x7f\\x0a\\x09"));
    char small[8];
    ds_esc("\x1b\x1b\x1b\x1b", small, sizeof small);
    CHECK(strlen(small) < sizeof small); /* truncated, terminated */
}

TEST(tmp_files_are_fresh) {
    char *d = test_tmpdir("sec");
    char *fin = ds_path_join(d, "report.json");
    char *t1, *t2;
    int f1, f2;
    CHECK_EQ_INT(ds_tmp_create(fin, 0600, &t1, &f1), 0);
    CHECK_EQ_INT(ds_tmp_create(fin, 0600, &t2, &f2), 0);
    CHECK(strcmp(t1, t2) != 0);
    CHECK(ds_is_tmp_name(ds_basename(t1)));
    CHECK(!strncmp(ds_basename(t1), ".report.json.", 13));
    struct stat st;
    CHECK(fstat(f1, &st) == 0 && (st.st_mode & 0777) == 0600);
    close(f1); close(f2);
    unlink(t1); unlink(t2);
    free(t1); free(t2);
    /* a link at the final name is replaced, its target untouched */
    char *victim = ds_path_join(d, "victim");
    CHECK_EQ_INT(ds_write_file_atomic(victim, "keep", 4), 0);
    CHECK(symlink(victim, fin) == 0);
    CHECK_EQ_INT(ds_write_file_atomic(fin, "new", 3), 0);
    char *txt;
    size_t n;
    CHECK(ds_read_file(victim, &txt, &n) == 0 && n == 4 && !memcmp(txt, "keep", 4));
    free(txt);
    CHECK(lstat(fin, &st) == 0 && S_ISREG(st.st_mode));
    free(victim); free(fin);
    test_rm_tree(d); free(d);
}

static int member_rc(const ds_tree *t, const char *name) {
    char *r = NULL;
    int is_dir = 0;
    fflush(stderr);
    int saved = dup(2), nul = open("/dev/null", O_WRONLY);
    dup2(nul, 2);
    int rc = ds_tree_member(t, name, &r, &is_dir);
    fflush(stderr);
    dup2(saved, 2); close(saved); close(nul);
    free(r);
    return rc;
}

TEST(tree_links_stay_inside) {
    char *d = test_tmpdir("sec");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir -p in/sub hub/models--a--b/blobs hub/models--a--b/snapshots/r1 hub/models--c--d/blobs && "
             "echo s > secret && echo t > in/sub/t.json && ln -s sub/t.json in/ok.json && ln -s ../secret in/bad.json && "
             "ln -s /nonexistent in/dangling && mkfifo in/pipe && echo b > hub/models--a--b/blobs/h1 && "
             "echo c > hub/models--c--d/blobs/h2 && ln -s ../../blobs/h1 hub/models--a--b/snapshots/r1/tok.json && "
             "ln -s ../../../models--c--d/blobs/h2 hub/models--a--b/snapshots/r1/other.json && "
             "ln -s ../../../../secret hub/models--a--b/snapshots/r1/up.json",
             d);
    CHECK(system(cmd) == 0);
    ds_tree t;
    char *in = ds_path_join(d, "in");
    CHECK_EQ_INT(ds_tree_init(&t, in), 0);
    CHECK(t.blobs == NULL);
    CHECK_EQ_INT(member_rc(&t, "ok.json"), 0);
    CHECK_EQ_INT(member_rc(&t, "bad.json"), DS_EXIT_INPUT);
    CHECK_EQ_INT(member_rc(&t, "dangling"), DS_EXIT_INPUT);
    CHECK_EQ_INT(member_rc(&t, "pipe"), DS_EXIT_INPUT);
    char *r; int isd;
    CHECK_EQ_INT(ds_tree_member(&t, "sub", &r, &isd), 0);
    CHECK(isd == 1 && r == NULL);
    ds_tree_free(&t);
    char *snap = ds_path_join(d, "hub/models--a--b/snapshots/r1");
    CHECK_EQ_INT(ds_tree_init(&t, snap), 0);
    CHECK(t.blobs != NULL);
    CHECK_EQ_INT(member_rc(&t, "tok.json"), 0);
    CHECK_EQ_INT(member_rc(&t, "other.json"), DS_EXIT_INPUT);
    CHECK_EQ_INT(member_rc(&t, "up.json"), DS_EXIT_INPUT);
    ds_tree_free(&t);
    free(snap); free(in);
    test_rm_tree(d); free(d);
}

typedef struct { const char *in; int file; const char *out; } ovl;
static int ovl_rc(void *a) { const ovl *o = a; return ds_check_out_vs_in(o->in, o->file, o->out); }

TEST(out_never_overlaps_in) {
    char *d = test_tmpdir("sec");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && mkdir -p in out hold/model && ln -s in in-link", d);
    CHECK(system(cmd) == 0);
    char in[1024], p[1024];
    snprintf(in, sizeof in, "%s/in", d);
#define OV(inp, file, outp, want) do { snprintf(p, sizeof p, "%s/%s", d, outp); ovl o_ = {inp, file, p}; \
        CHECKF(quiet_rc(ovl_rc, &o_) == (want), "%s -> %s", inp, p); } while (0)
    OV(in, 0, "in", DS_EXIT_USAGE);
    OV(in, 0, "in/.", DS_EXIT_USAGE);
    OV(in, 0, "in-link", DS_EXIT_USAGE);
    OV(in, 0, "./in/", DS_EXIT_USAGE);
    OV(in, 0, "in/new", DS_EXIT_USAGE);        /* inside, not yet created */
    OV(in, 0, "in/new/deeper", DS_EXIT_USAGE);
    OV(in, 0, "out", 0);
    OV(in, 0, "fresh", 0);
    OV(in, 0, "in2", 0);                        /* a name sharing a prefix is not inside */
    snprintf(in, sizeof in, "%s/hold/model", d);
    OV(in, 0, "hold", DS_EXIT_USAGE);           /* IN inside OUT */
    OV(in, 0, ".", DS_EXIT_USAGE);
    snprintf(in, sizeof in, "%s/in", d);
    OV(in, 1, "in", DS_EXIT_USAGE);             /* lone file: OUT = its folder */
    OV(in, 1, "in/bf16", 0);                    /* a new folder beside the file */
#undef OV
    test_rm_tree(d); free(d);
}

static int hdr_rc(void *a) {
    ds_st_file f;
    memset(&f, 0, sizeof f);
    f.fd = -1;
    f.path = xstrdup("t.safetensors");
    int rc = ds_st_parse_header(f.path, a, strlen(a), 1 << 20, &f);
    ds_st_close(&f);
    return rc;
}

TEST(empty_tensor_dimension_bounds) {
    CHECK_EQ_INT(quiet_rc(hdr_rc, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[0,7168],\"data_offsets\":[0,0]}}"), 0);
    CHECK_EQ_INT(quiet_rc(hdr_rc, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[0,2048,7168],\"data_offsets\":[0,0]}}"), 0);
    CHECK_EQ_INT(quiet_rc(hdr_rc, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[0,1099511627776],\"data_offsets\":[0,0]}}"),
                 DS_EXIT_INPUT);
    CHECK_EQ_INT(quiet_rc(hdr_rc, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[0,9007199254740992,9007199254740992],"
                                  "\"data_offsets\":[0,0]}}"), DS_EXIT_INPUT);
    CHECK_EQ_INT(quiet_rc(hdr_rc, "{\"a\":{\"dtype\":\"U8\",\"shape\":[65536,0,65536],\"data_offsets\":[0,0]}}"),
                 DS_EXIT_INPUT);
    CHECK_EQ_INT(quiet_rc(hdr_rc, "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                                  "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}"), DS_EXIT_INPUT);
}

/* A mapped input that shrinks mid-read ends the process with exit 4 and a
 * message, not a SIGBUS crash. */
TEST(truncated_mapping_exits_4) {
    char *d = test_tmpdir("sec");
    char *p = ds_path_join(d, "m.safetensors");
    const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[65536],\"data_offsets\":[0,65536]}}";
    size_t hl = strlen(h);
    char *buf = xcalloc(1, 8 + hl + 65536);
    for (int i = 0; i < 8; i++) buf[i] = (char)(hl >> (8 * i));
    memcpy(buf + 8, h, hl);
    CHECK_EQ_INT(ds_write_file_atomic(p, buf, 8 + hl + 65536), 0);
    free(buf);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 2);
        ds_install_fault_handlers();
        ds_st_file f;
        if (ds_st_open(p, &f)) _exit(9);
        if (truncate(p, 0)) _exit(8);
        char hex[33];
        ds_xxh128_hex(f.map, f.file_size, hex); /* touches the vanished pages */
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == DS_EXIT_IO, "status %d", st);
    free(p);
    test_rm_tree(d); free(d);
}

static int manifest_rc(void *a) {
    ds_manifest m;
    int rc = ds_manifest_load(a, &m);
    if (!rc) ds_manifest_free(&m);
    return rc;
}

TEST(manifest_reader_is_strict) {
    char *d = test_tmpdir("sec");
    char *p = ds_path_join(d, "m.json");
    const char *good = "{\"format\":\"dsconv-manifest-1\",\"hash\":\"xxh3-128\",\"files\":{\"a\":{\"size\":1,"
                       "\"xxh3_128\":\"00\"}}}";
    CHECK_EQ_INT(ds_write_file_atomic(p, good, strlen(good)), 0);
    CHECK_EQ_INT(quiet_rc(manifest_rc, p), 0);
    const char *dup = "{\"format\":\"dsconv-manifest-1\",\"files\":{\"a\":{\"xxh3_128\":\"00\"},\"a\":{\"xxh3_128\":\"11\"}}}";
    CHECK_EQ_INT(ds_write_file_atomic(p, dup, strlen(dup)), 0);
    CHECK_EQ_INT(quiet_rc(manifest_rc, p), DS_EXIT_INPUT);
    const char *trail = "{\"format\":\"dsconv-manifest-1\",\"files\":{}} {}";
    CHECK_EQ_INT(ds_write_file_atomic(p, trail, strlen(trail)), 0);
    CHECK_EQ_INT(quiet_rc(manifest_rc, p), DS_EXIT_INPUT);
    const char *esc = "{\"format\":\"dsconv-manifest-1\",\"files\":{\"../x\":{\"xxh3_128\":\"00\"}}}";
    CHECK_EQ_INT(ds_write_file_atomic(p, esc, strlen(esc)), 0);
    CHECK_EQ_INT(quiet_rc(manifest_rc, p), DS_EXIT_INPUT);
    free(p);
    test_rm_tree(d); free(d);
}

TESTS_MAIN(T(json_strict), T(escape_controls), T(tmp_files_are_fresh), T(tree_links_stay_inside),
           T(out_never_overlaps_in), T(empty_tensor_dimension_bounds), T(truncated_mapping_exits_4),
           T(manifest_reader_is_strict))
