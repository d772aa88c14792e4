/* test_verify_scan.c - the structure scan's value test (kernels/cpu/scan_finite.c)
 * against decoding: every FP8/BF16/F16 code and F32 specials, decoded by the
 * dtype table and tested with isfinite(), must give the kernel's answer; the
 * first bad index is found wherever it sits (vector blocks, tails). And the
 * scan on a weight stream (verify/ws_scan.h), on the host path and on the staged
 * path whose test runs through the device table (as on CUDA): a NaN in a
 * streamed weight and one in a scan-only one both found, every byte once. */
#include "test.h"
#include "test_fs.h"
#include "kernels/kernels.h"
#include "formats/dtype.h"
#include "formats/hf.h"
#include "verify/ws_scan.h"
#include "verify/ws_stream.h"

#include <fcntl.h>

#include <stdint.h>
#include <stdlib.h>

/* Kernel answer for one value of esz bytes. */
static int kernel_bad(const void *v, int esz, uint32_t mask) { return ds_cpu_scan_nonfinite(v, 1, esz, mask) == 0; }

TEST(every_fp8_code) {
    const ds_dtype_traits *e4 = ds_dtype_info(DS_F8_E4M3), *e5 = ds_dtype_info(DS_F8_E5M2);
    int nan4 = 0;
    for (int c = 0; c < 256; c++) {
        uint8_t b = (uint8_t)c;
        CHECKF(kernel_bad(&b, 1, ds_scan_exp_mask(1, 0, 0)) == !isfinite(e4->to_f32(&b)), "e4m3 code 0x%02x", c);
        CHECKF(kernel_bad(&b, 1, ds_scan_exp_mask(1, 1, 0)) == !isfinite(e5->to_f32(&b)), "e5m2 code 0x%02x", c);
        nan4 += kernel_bad(&b, 1, 0x7F);
    }
    CHECK_EQ_INT(nan4, 2); /* 0x7F and 0xFF */
}

TEST(every_16_bit_code) {
    const ds_dtype_traits *bf = ds_dtype_info(DS_BF16), *h = ds_dtype_info(DS_F16);
    int bad_bf = 0, bad_h = 0;
    for (uint32_t c = 0; c < 65536; c++) {
        uint16_t v = (uint16_t)c;
        int kb = kernel_bad(&v, 2, ds_scan_exp_mask(2, 0, 0)), kh = kernel_bad(&v, 2, ds_scan_exp_mask(2, 0, 1));
        if (kb != !isfinite(bf->to_f32(&v)) || kh != !isfinite(h->to_f32(&v))) {
            CHECKF(0, "16-bit code 0x%04x: bf16 %d f16 %d", c, kb, kh);
            break;
        }
        bad_bf += kb;
        bad_h += kh;
    }
    CHECK_EQ_INT(bad_bf, 2 * 128); /* sign x 7 mantissa bits, all-ones exponent */
    CHECK_EQ_INT(bad_h, 2 * 1024);
}

TEST(f32_values) {
    float v[] = {0.f, -0.f, 1.f, -3.4e38f, 3.4028235e38f, 1e-45f, INFINITY, -INFINITY, NAN, -NAN};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        CHECKF(kernel_bad(&v[i], 4, ds_scan_exp_mask(4, 0, 0)) == !isfinite(v[i]), "value %zu", i);
    srand(7);
    for (int i = 0; i < 200000; i++) {
        uint32_t u = ((uint32_t)rand() << 17) ^ (uint32_t)rand();
        float f;
        memcpy(&f, &u, 4);
        if (kernel_bad(&u, 4, 0x7F800000u) != !isfinite(f)) { CHECKF(0, "bits 0x%08x", u); break; }
    }
}

/* One bad value at every position of a buffer longer than several vector
 * blocks (and a second one later): the first is the answer; none: -1. */
TEST(first_bad_anywhere) {
    const int64_t n = 1500;
    uint8_t *b8 = malloc(n);
    uint16_t *b16 = malloc(n * 2);
    uint32_t *b32 = malloc(n * 4);
    for (int64_t i = 0; i < n; i++) { b8[i] = (uint8_t)(i % 0x7F); b16[i] = 0x3F80; b32[i] = 0x3F800000u; }
    CHECK_EQ_INT(ds_cpu_scan_nonfinite(b8, n, 1, 0x7F), -1);
    CHECK_EQ_INT(ds_cpu_scan_nonfinite(b16, n, 2, 0x7F80), -1);
    CHECK_EQ_INT(ds_cpu_scan_nonfinite(b32, n, 4, 0x7F800000u), -1);
    for (int64_t at = 0; at < n; at++) {
        int64_t later = at + 37 < n ? at + 37 : at;
        uint8_t s8 = b8[at], l8 = b8[later];
        b8[at] = 0xFF; b8[later] = 0x7F; b16[at] = 0x7F80; b16[later] = 0xFFC0; b32[at] = 0xFF800001u; b32[later] = 0x7F800000u;
        int64_t r8 = ds_cpu_scan_nonfinite(b8, n, 1, 0x7F), r16 = ds_cpu_scan_nonfinite(b16, n, 2, 0x7F80);
        int64_t r32 = ds_cpu_scan_nonfinite(b32, n, 4, 0x7F800000u);
        b8[at] = s8; b8[later] = l8; b16[at] = b16[later] = 0x3F80; b32[at] = b32[later] = 0x3F800000u;
        if (r8 != at || r16 != at || r32 != at) { CHECKF(0, "bad at %lld: found %lld %lld %lld", (long long)at, (long long)r8, (long long)r16, (long long)r32); break; }
    }
    CHECK_EQ_INT(ds_cpu_scan_nonfinite(b8, 0, 1, 0x7F), -1);
    free(b8);
    free(b16);
    free(b32);
}

/* Writes byte v at element idx of tensor name of the checkpoint in dir. */
static int poke(const char *dir, const char *name, int64_t idx, uint8_t v) {
    ds_ckpt ck;
    if (ds_ckpt_open(dir, &ck)) return -1;
    const ds_ckpt_entry *e = ds_ckpt_find(&ck, name);
    int rc = -1;
    if (e) {
        char *path = xstrdup(ck.shards[e->file].path);
        uint64_t off = ds_st_file_offset(&ck.shards[e->file], e->info) + (uint64_t)idx;
        ds_ckpt_close(&ck);
        int fd = open(path, O_WRONLY);
        rc = fd >= 0 && pwrite(fd, &v, 1, (off_t)off) == 1 ? 0 : -1;
        if (fd >= 0) close(fd);
        free(path);
        return rc;
    }
    ds_ckpt_close(&ck);
    return rc;
}

TEST(scan_on_a_stream) {
    char *dir = test_tmpdir("vscan");
    CHECK(dir != NULL);
    if (!dir) return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s/dev-tiny/input/* %s/", DS_TEST_DATA, dir);
    CHECK_EQ_INT(system(cmd), 0);
    const char *streamed = "model.layers.1.mlp.experts.3.down_proj.weight";    /* [256, 256] e4m3 */
    const char *scanned = "model.layers.1.mlp.experts.6.up_proj.weight";
    CHECK_EQ_INT(poke(dir, streamed, 9 * 256 + 200, 0xFF), 0);
    CHECK_EQ_INT(poke(dir, scanned, 255 * 256 + 1, 0x7F), 0);
    for (int staged = 0; staged < 2; staged++) {
        ds_ws_source *ws = NULL;
        ds_ws_scan *sc = NULL;
        ds_ws_stream *st = NULL;
        CHECK_EQ_INT(ds_ws_open(dir, &ws), 0);
        if (!ws) break;
        CHECK_EQ_INT(ds_ws_scan_open(ws, &sc), 0);
        ds_ws_stream_opts o = {.staged = staged, .readers = 2, .chunk_bytes = 10000};
        CHECK_EQ_INT(ds_ws_stream_open(&st, &o), 0);
        if (sc && st) {
            CHECK_EQ_INT(ds_ws_stream_begin(st, ws, ds_ws_stream_ring_need(st, 256, 256)), 0);
            ds_ws_stream_set_scan(st, sc);
            float *w = malloc(256 * 256 * sizeof(float));
            CHECK_EQ_INT(ds_ws_stream_plan(st, streamed, 0, 256, 256, 256), 0);
            CHECK_EQ_INT(ds_ws_stream_take(st, streamed, 0, 256, 256, 256, w), 0);
            ds_ws_stream_scan_drain(st);
            ds_ws_stream_end(st);
            free(w);
            ds_ws_scan_stats v;
            ds_ws_scan_stats_get(sc, &v);
            CHECKF(v.problems == 2, "staged %d: %d problems", staged, v.problems);
            CHECK_EQ_INT(v.bytes_in_stream, 256 * 256);
            CHECK_EQ_INT(v.bytes_in_stream + v.bytes_scan_only, 7658432); /* tests/tools/stored_bytes.py */
            CHECK_EQ_INT(v.tensors_skipped, 1);
            CHECK_EQ_INT(ds_ws_scan_result(sc), DS_EXIT_INPUT);
        }
        ds_ws_stream_close(st);
        ds_ws_scan_close(sc);
        ds_ws_close(ws);
    }
    test_rm_tree(dir);
    free(dir);
}

TESTS_MAIN(T(every_fp8_code), T(every_16_bit_code), T(f32_values), T(first_bad_anywhere), T(scan_on_a_stream))
