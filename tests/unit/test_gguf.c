/* test_gguf.c - to-gguf pieces: ggml encoders against llama.cpp's own
 * quantize_row_*_ref (hashes from tests/tools/kquant_ref.sh), the GGUF
 * metadata builder and writer. Whole files are checked against llama.cpp's
 * converter in tests/e2e/to_gguf.sh. */
#include "test.h"
#include "test_fs.h"
#include "kquant_input.h"
#include "formats/gguf.h"
#include "formats/dtype.h"
#include "kernels/gguf_quant.h"
#include "kernels/gguf_blocks.h"

#include <omp.h>
#include <stdlib.h>

static uint64_t ref_hash(const char *type) {
    FILE *f = fopen(DS_TEST_DATA "/gguf-ref/kquant.txt", "r");
    if (!f) return 0;
    char t[16];
    unsigned long long h;
    uint64_t r = 0;
    while (fscanf(f, "%15s %llx", t, &h) == 2)
        if (!strcmp(t, type)) r = h;
    fclose(f);
    return r;
}

static void check_type(test_ctx *t_, const char *name) {
    static float x[KQ_N];
    static uint8_t y[KQ_N * 4], y1[KQ_N * 4];
    kq_fill(x);
    ds_ggml_type ty;
    CHECK_EQ_INT(ds_ggml_from_name(name, &ty), 0);
    const ds_ggml_traits *tr = ds_ggml_info(ty);
    size_t nb = ds_ggml_row_bytes(tr, KQ_N);
    /* as 48 rows of 256: the bytes of a row do not depend on how rows are split */
    CHECK_EQ_INT(ds_cpu_gguf_encode(x, KQ_BLOCKS, 256, ty, y), 0);
    uint64_t want = ref_hash(name);
    CHECKF(want != 0, "no reference hash for %s", name);
    CHECKF(kq_fnv(y, nb) == want, "%s: %016llx, llama.cpp gives %016llx", name,
           (unsigned long long)kq_fnv(y, nb), (unsigned long long)want);
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    ds_cpu_gguf_encode(x, 1, KQ_N, ty, y1);
    omp_set_num_threads(nt);
    CHECK(memcmp(y, y1, nb) == 0);
}

TEST(q4_k_bytes_match_llama_cpp) { check_type(t_, "q4_k"); }
TEST(q6_k_bytes_match_llama_cpp) { check_type(t_, "q6_k"); }
TEST(q5_0_bytes_match_llama_cpp) { check_type(t_, "q5_0"); }
TEST(q8_0_bytes_match_llama_cpp) { check_type(t_, "q8_0"); }

TEST(f16_and_bf16_rounding) {
    float x[6] = {1.0f, 65520.0f, 5.9604645e-08f, 1.00048828125f, -0.0f, 3.0f};
    uint16_t h[6], b[6];
    ds_cpu_gguf_encode_row(x, 6, DS_GGML_F16, (uint8_t *)h);
    CHECK_EQ_INT(h[0], 0x3C00);
    CHECK_EQ_INT(h[1], 0x7C00);            /* rounds to infinity, as numpy */
    CHECK_EQ_INT(h[2], 0x0001);            /* smallest subnormal */
    CHECK_EQ_INT(h[3], 0x3C00);            /* tie to even */
    CHECK_EQ_INT(h[4], 0x8000);
    float nanv = NAN;
    ds_cpu_gguf_encode_row(&nanv, 1, DS_GGML_BF16, (uint8_t *)b);
    CHECK((b[0] & 0x7F80) == 0x7F80 && (b[0] & 0x7F) != 0); /* stays NaN, quiet */
    ds_cpu_gguf_encode_row(x, 6, DS_GGML_BF16, (uint8_t *)b);
    CHECK_EQ_INT(b[0], 0x3F80);
    CHECK_EQ_INT(b[5], 0x4040);
}

/* The block header's half conversion (host and device) against the dtype table's. */
TEST(f16_conversion_matches_dtype_table) {
    int bad = 0;
    for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 4099) {
        float f;
        uint32_t v = (uint32_t)u;
        memcpy(&f, &v, 4);
        if (isnan(f)) continue;
        if (gg_f32_to_f16(f) != ds_f32_to_f16(f) && bad++ < 5) fprintf(stderr, "f16 of %08x: %04x vs %04x\n", v, gg_f32_to_f16(f), ds_f32_to_f16(f));
        uint16_t h = (uint16_t)(u >> 7);
        float a = gg_f16_to_f32(h), b = ds_f16_to_f32(h);
        if (!(isnan(a) && isnan(b)) && memcmp(&a, &b, 4) && bad++ < 5) fprintf(stderr, "f32 of %04x differs\n", h);
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(kv_overwrite_keeps_position) {
    ds_gguf_kv kv;
    ds_gguf_kv_init(&kv);
    ds_gguf_kv_u32(&kv, "a", 1);
    ds_gguf_kv_u32(&kv, "b", 2);
    ds_gguf_kv_u32(&kv, "a", 3);
    CHECK_EQ_INT(kv.n, 2);
    CHECK(!strcmp(kv.keys[0], "a"));
    uint32_t v;
    memcpy(&v, kv.vals[0] + 4, 4);
    CHECK_EQ_INT(v, 3);
    ds_gguf_kv_del(&kv, "a");
    ds_gguf_kv_u32(&kv, "a", 4);
    CHECK(!strcmp(kv.keys[0], "b") && !strcmp(kv.keys[1], "a"));
    ds_gguf_kv_free(&kv);
}

TEST(writer_layout_and_temp_name) {
    char *d = test_tmpdir("gguf");
    CHECK(d != NULL);
    if (!d) return;
    char *path = ds_path_join(d, "x.gguf");
    ds_gguf_kv kv;
    ds_gguf_kv_init(&kv);
    ds_gguf_kv_str(&kv, "general.architecture", "deepseek2");
    ds_gguf_tensor_desc t[2] = {{"a", DS_GGML_F32, 1, {3, 1, 1, 1}}, {"b", DS_GGML_Q8_0, 2, {32, 2, 1, 1}}};
    ds_gguf_writer *w;
    CHECK_EQ_INT(ds_gguf_open(&w, path, &kv, t, 2), 0);
    CHECK(!ds_path_exists(path));          /* only the temporary name exists until commit */
    float a[3] = {1, 2, 3};
    uint8_t q[68] = {0};
    CHECK_EQ_INT(ds_gguf_append(w, a, sizeof a), 0);
    CHECK_EQ_INT(ds_gguf_append(w, q, sizeof q), 0);
    uint64_t total = ds_gguf_total_size(w);
    CHECK_EQ_INT(ds_gguf_commit(w, 1), 0);
    char *buf; size_t len;
    CHECK_EQ_INT(ds_read_file(path, &buf, &len), 0);
    CHECK_EQ_INT(len, total);
    CHECK(len % 32 == 0);
    CHECK(!memcmp(buf, "GGUF", 4));
    uint32_t ver; uint64_t nt, nkv;
    memcpy(&ver, buf + 4, 4); memcpy(&nt, buf + 8, 8); memcpy(&nkv, buf + 16, 8);
    CHECK_EQ_INT(ver, 3); CHECK_EQ_INT(nt, 2); CHECK_EQ_INT(nkv, 1);
    /* data: a (12 bytes, padded to 32), then b (68 bytes, padded to 96) */
    CHECK(!memcmp(buf + len - 128, a, sizeof a));
    free(buf);
    /* an aborted write leaves nothing */
    char *p2 = ds_path_join(d, "y.gguf");
    CHECK_EQ_INT(ds_gguf_open(&w, p2, &kv, t, 2), 0);
    ds_gguf_abort(w);
    CHECK(!ds_path_exists(p2));
    ds_gguf_kv_free(&kv);
    free(path); free(p2);
    test_rm_tree(d);
    free(d);
}

/* Positioned mode (to-gguf's workers): the tensors written out of order, by
 * pwrite or through the mapping, give the appended file's bytes; a tensor
 * left unwritten fails the commit and leaves no file. */
static char *positioned_file(const char *d, const char *name, int map, int skip_b) {
    char *path = ds_path_join(d, name);
    ds_gguf_kv kv;
    ds_gguf_kv_init(&kv);
    ds_gguf_kv_str(&kv, "general.architecture", "deepseek2");
    ds_gguf_tensor_desc t[2] = {{"a", DS_GGML_F32, 1, {3, 1, 1, 1}}, {"b", DS_GGML_Q8_0, 2, {32, 2, 1, 1}}};
    float a[3] = {1, 2, 3};
    uint8_t q[68];
    for (int i = 0; i < 68; i++) q[i] = (uint8_t)(i * 7 + 1);
    ds_gguf_writer *w = NULL;
    uint8_t *base = NULL;
    int rc = ds_gguf_open(&w, path, &kv, t, 2);
    if (!rc) rc = ds_gguf_begin_positioned(w, map, 1, &base);
    if (!rc && map && !base) rc = -1; /* this file system cannot reserve: say so */
    if (!rc && !skip_b) { /* b first, in two pieces */
        if (base) {
            memcpy(base + ds_gguf_data_offset(w, 1) + 34, q + 34, 34); ds_gguf_mapped_written(w, 34);
            memcpy(base + ds_gguf_data_offset(w, 1), q, 34); ds_gguf_mapped_written(w, 34);
        } else {
            rc = ds_gguf_pwrite(w, ds_gguf_data_offset(w, 1) + 34, q + 34, 34);
            if (!rc) rc = ds_gguf_pwrite(w, ds_gguf_data_offset(w, 1), q, 34);
        }
    }
    if (!rc) {
        if (base) { memcpy(base + ds_gguf_data_offset(w, 0), a, sizeof a); ds_gguf_mapped_written(w, sizeof a); }
        else rc = ds_gguf_pwrite(w, ds_gguf_data_offset(w, 0), a, sizeof a);
    }
    if (!rc) { rc = ds_gguf_commit(w, 1); w = NULL; }
    if (w) ds_gguf_abort(w);
    ds_gguf_kv_free(&kv);
    if (rc) { free(path); return NULL; }
    return path;
}

TEST(writer_positioned_same_bytes) {
    char *d = test_tmpdir("ggufpos");
    CHECK(d != NULL);
    if (!d) return;
    /* the appended reference */
    char *ref = ds_path_join(d, "ref.gguf");
    ds_gguf_kv kv;
    ds_gguf_kv_init(&kv);
    ds_gguf_kv_str(&kv, "general.architecture", "deepseek2");
    ds_gguf_tensor_desc t[2] = {{"a", DS_GGML_F32, 1, {3, 1, 1, 1}}, {"b", DS_GGML_Q8_0, 2, {32, 2, 1, 1}}};
    float a[3] = {1, 2, 3};
    uint8_t q[68];
    for (int i = 0; i < 68; i++) q[i] = (uint8_t)(i * 7 + 1);
    ds_gguf_writer *w;
    CHECK_EQ_INT(ds_gguf_open(&w, ref, &kv, t, 2), 0);
    CHECK_EQ_INT(ds_gguf_append(w, a, sizeof a), 0);
    CHECK_EQ_INT(ds_gguf_append(w, q, sizeof q), 0);
    CHECK_EQ_INT(ds_gguf_commit(w, 1), 0);
    ds_gguf_kv_free(&kv);
    char *rb; size_t rl;
    CHECK_EQ_INT(ds_read_file(ref, &rb, &rl), 0);
    static const char *names[] = {"pw.gguf", "map.gguf"};
    for (int m = 0; m < 2; m++) {
        char *p = positioned_file(d, names[m], m, 0);
        CHECK(p != NULL);
        if (!p) continue;
        char *b; size_t l;
        CHECK_EQ_INT(ds_read_file(p, &b, &l), 0);
        CHECK_EQ_INT(l, rl);
        CHECK(l == rl && !memcmp(b, rb, l));
        free(b); free(p);
    }
    /* a tensor never written: the commit fails, nothing appears */
    CHECK(positioned_file(d, "short.gguf", 0, 1) == NULL);
    char *sp = ds_path_join(d, "short.gguf");
    CHECK(!ds_path_exists(sp));
    free(sp);
    free(rb); free(ref);
    test_rm_tree(d);
    free(d);
}

TESTS_MAIN(T(q4_k_bytes_match_llama_cpp), T(q6_k_bytes_match_llama_cpp), T(q5_0_bytes_match_llama_cpp),
           T(q8_0_bytes_match_llama_cpp), T(f16_and_bf16_rounding), T(f16_conversion_matches_dtype_table), T(kv_overwrite_keeps_position),
           T(writer_layout_and_temp_name), T(writer_positioned_same_bytes))
