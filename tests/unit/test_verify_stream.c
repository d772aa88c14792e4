/* test_verify_stream.c - verify's weight stream (verify/ws_stream.h) gives the
 * floats of ds_ws_read_rows bit for bit, and counts the same stored bytes, for
 * every weight of dev-tiny as FP8, its BF16 conversion, MP rank files (FP8
 * split by rows and columns, BF16) and INT4 compressed-tensors; on the CPU
 * path, on the CPU emulation of the GPU path (staging buffers, F32/INT decoded
 * by the readers) and, where a GPU is usable, on the GPU path itself. Tiny
 * chunks, a small ring and several readers make requests span many chunks,
 * wrap the ring and wait for room. Also: the widen kernel, an unplanned take,
 * a wrong shape, a pass ended early. */
#include "tests/unit/test.h"
#include "common/util.h"
#include "convert/exec.h"
#include "convert/fp8_to_bf16.h"
#include "convert/requant_plan.h"
#include "convert/shard_mp.h"
#include "formats/hf.h"
#include "kernels/device.h"
#include "kernels/gpu.h"
#include "verify/ws_stream.h"

#include <stdlib.h>
#include <string.h>

#define TINY DS_TEST_DATA "/dev-tiny/input"

enum { CONV_BF16, CONV_NOMTP, CONV_MP, CONV_INT4 };

static int convert(const char *in, const char *out, int kind, int mp) {
    ds_ckpt ck;
    DS_TRY(ds_ckpt_open(in, &ck));
    ds_plan plan;
    ds_quant_spec spec;
    ds_mp_opts mo = {.mp = mp};
    int rc;
    switch (kind) {
    case CONV_BF16: rc = ds_plan_fp8_to_bf16(&ck, &plan); break;
    case CONV_NOMTP: rc = ds_plan_strip_mtp(&ck, &plan); break;
    case CONV_MP: rc = ds_plan_shard_mp(&ck, &mo, &plan); break;
    default:
        ds_quant_spec_default(&spec, 4);
        spec.group_size = 32;
        spec.symmetric = 0;
        rc = ds_plan_requant(&ck, &spec, NULL, 0, &plan);
        break;
    }
    ds_exec_opts o = {.out_dir = out, .command = "test", .quiet = 1, .no_sync = 1};
    ds_exec_stats st;
    if (!rc) rc = ds_exec_run(&ck, &plan, &o, &st);
    ds_plan_free(&plan);
    ds_ckpt_close(&ck);
    return rc;
}

/* The checkpoints, made once. */
static char g_dir[64];
static const char *g_src[6];
static int g_nsrc;

static int sources(void) {
    if (g_nsrc) return g_nsrc;
    snprintf(g_dir, sizeof g_dir, "/tmp/dsconv-wstream.XXXXXX");
    if (!mkdtemp(g_dir)) return 0;
    static char p[5][128];
    const char *names[5] = {"bf16", "nomtp", "fp8-mp2", "bf16-mp4", "int4"};
    for (int i = 0; i < 5; i++) snprintf(p[i], sizeof p[i], "%s/%s", g_dir, names[i]);
    if (convert(TINY, p[0], CONV_BF16, 0) || convert(TINY, p[1], CONV_NOMTP, 0) || convert(p[1], p[2], CONV_MP, 2) ||
        convert(p[0], p[3], CONV_MP, 4) || convert(TINY, p[4], CONV_INT4, 0))
        return 0;
    g_src[0] = TINY;
    for (int i = 0; i < 5; i++) g_src[i + 1] = p[i];
    return g_nsrc = 6;
}

/* The 2-D weights of dev-tiny, by their HF names. */
static char **weight_names(int *n) {
    ds_ckpt ck;
    *n = 0;
    if (ds_ckpt_open(TINY, &ck)) return NULL;
    char **v = xcalloc((size_t)ck.n_entries, sizeof *v);
    for (int i = 0; i < ck.n_entries; i++) {
        const ds_ckpt_entry *e = &ck.entries[i];
        size_t l = strlen(e->name);
        if (e->info->ndim == 2 && l > 7 && !strcmp(e->name + l - 7, ".weight")) v[(*n)++] = xstrdup(e->name);
    }
    ds_ckpt_close(&ck);
    return v;
}

typedef struct { const char *name; int64_t r0, n, rows, cols; } req;

/* Takes every request through a stream of this mode and compares with
 * ds_ws_read_rows. mode 0 CPU, 1 staged CPU, 2 CUDA. Returns mismatches. */
static int run_mode(test_ctx *t_, ds_ws_source *ws, const req *r, int nr, int mode, uint64_t ring) {
    ds_ws_stream_opts o = {.cuda = mode == 2, .staged = mode == 1, .readers = 3, .chunk_bytes = 4096};
    ds_ws_stream *s;
    CHECK_EQ_INT(ds_ws_stream_open(&s, &o), 0);
    if (!s) return 1;
    CHECK_EQ_INT(ds_ws_stream_begin(s, ws, ring), 0);
    for (int i = 0; i < nr; i++) CHECK_EQ_INT(ds_ws_stream_plan(s, r[i].name, r[i].r0, r[i].n, r[i].rows, r[i].cols), 0);
    int bad = 0;
    for (int i = 0; i < nr; i++) {
        size_t bytes = (size_t)(r[i].n * r[i].cols) * sizeof(float);
        float *ref = xaligned(bytes), *got = xaligned(bytes), *dev = NULL;
        uint64_t b0 = ds_ws_bytes_read(ws);
        CHECK_EQ_INT(ds_ws_read_rows(ws, r[i].name, r[i].r0, r[i].n, ref), 0);
        uint64_t b1 = ds_ws_bytes_read(ws);
        memset(got, 0xA5, bytes);
        if (mode == 2) {
            CHECK_EQ_INT(ds_device_cuda()->alloc((void **)&dev, bytes), 0);
            CHECK_EQ_INT(ds_device_cuda()->memset(dev, 0xA5, bytes), 0);
        }
        CHECK_EQ_INT(ds_ws_stream_take(s, r[i].name, r[i].r0, r[i].n, r[i].rows, r[i].cols, mode == 2 ? dev : got), 0);
        if (mode == 2) {
            CHECK_EQ_INT(ds_device_cuda()->d2h(got, dev, bytes), 0);
            ds_device_cuda()->free(dev);
        }
        uint64_t b2 = ds_ws_bytes_read(ws);
        if (memcmp(ref, got, bytes) || b2 - b1 != b1 - b0) {
            fprintf(stderr, "  mode %d: %s rows %lld+%lld differ (bytes counted %llu vs %llu)\n", mode, r[i].name,
                    (long long)r[i].r0, (long long)r[i].n, (unsigned long long)(b2 - b1),
                    (unsigned long long)(b1 - b0));
            bad++;
        }
        free(ref);
        free(got);
    }
    ds_ws_stream_prof p;
    ds_ws_stream_prof_get(s, &p);
    CHECK_EQ_INT(p.takes, nr);
    CHECK_EQ_INT(p.direct_reads, 0);
    ds_ws_stream_close(s);
    return bad;
}

TEST(widen_matches_bf16_to_f32) {
    uint16_t in[1000];
    float out[1000];
    for (int i = 0; i < 1000; i++) in[i] = (uint16_t)(i * 65.537 + (i % 3 ? 0x7F80 : 0));
    in[7] = 0x7FC1; /* NaN payload kept */
    in[8] = 0xFF80;
    CHECK_EQ_INT(ds_cpu_widen_bf16_f32(in, out, 1000), 0);
    int same = 1;
    for (int i = 0; i < 1000; i++) {
        float e = ds_bf16_to_f32(in[i]);
        same &= memcmp(&e, &out[i], 4) == 0;
    }
    CHECK(same);
    /* The device table's widen, on the CPU and, where there is a GPU, on CUDA:
     * odd offsets and lengths (the vector path, the scalar tail, the unaligned fallback). */
    int gpu = ds_cuda_available(NULL, 0);
    if (!gpu) printf("  no GPU here: the CUDA widen kernel is checked on a GPU machine\n");
    const ds_device *devs[2] = {ds_device_cpu(), gpu ? ds_device_cuda() : NULL};
    for (int di = 0; di < 2 && devs[di]; di++) {
        const ds_device *d = devs[di];
        uint16_t *din;
        float *dout, got[1000];
        CHECK_EQ_INT(d->alloc((void **)&din, sizeof in), 0);
        CHECK_EQ_INT(d->alloc((void **)&dout, sizeof out + 64), 0);
        CHECK_EQ_INT(d->h2d(din, in, sizeof in), 0);
        const int off[3][2] = {{0, 0}, {0, 1}, {3, 0}};
        for (int k = 0; k < 3; k++) {
            int n = 997 - off[k][0];
            CHECK_EQ_INT(d->memset(dout, 0xA5, sizeof out + 64), 0);
            CHECK_EQ_INT(d->widen_bf16_f32(din + off[k][0], dout + off[k][1], n, NULL), 0);
            CHECK_EQ_INT(d->d2h(got, dout + off[k][1], (size_t)n * 4), 0);
            CHECKF(memcmp(got, out + off[k][0], (size_t)n * 4) == 0, "%s: offsets %d/%d", d->name, off[k][0],
                   off[k][1]);
        }
        d->free(din);
        d->free(dout);
    }
}

TEST(stream_matches_read_rows) {
    CHECK_EQ_INT(sources(), 6);
    int nn;
    char **names = weight_names(&nn);
    CHECK(nn > 20);
    int gpu = ds_cuda_available(NULL, 0);
    if (!gpu) printf("  no GPU here: the GPU path of the stream is checked on a GPU machine\n");
    for (int si = 0; si < g_nsrc; si++) {
        ds_ws_source *ws;
        CHECK_EQ_INT(ds_ws_open(g_src[si], &ws), 0);
        if (!ws) continue;
        req *r = xcalloc((size_t)(2 * nn), sizeof *r);
        int nr = 0;
        int64_t biggest = 0;
        for (int i = 0; i < nn; i++) {
            ds_ws_tinfo ti;
            if (!ds_ws_has(ws, names[i]) || ds_ws_info(ws, names[i], &ti)) continue;
            r[nr++] = (req){names[i], 0, ti.rows, ti.rows, ti.cols};
            if (ti.rows >= 3) /* a row range that starts inside an FP8 block and an MP part */
                r[nr++] = (req){names[i], ti.rows / 3, ti.rows / 2, ti.rows, ti.cols};
            if (ti.rows * ti.cols > biggest) biggest = ti.rows * ti.cols;
        }
        CHECKF(nr > 20, "%s: %d requests", g_src[si], nr);
        for (int mode = 0; mode < (gpu ? 3 : 2); mode++) {
            /* a ring of about one largest request (readers wait, regions wrap) */
            uint64_t ring = (uint64_t)biggest * (mode ? 4 : 2) + 4096;
            int bad = run_mode(t_, ws, r, nr, mode, ring);
            CHECKF(bad == 0, "%s, mode %d: %d of %d requests differ", g_src[si], mode, bad, nr);
        }
        printf("  %s (%s): %d requests match\n", g_src[si], ds_ws_describe(ws), nr);
        free(r);
        ds_ws_close(ws);
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
}

TEST(unplanned_take_reads_directly) {
    ds_ws_source *ws;
    CHECK_EQ_INT(ds_ws_open(TINY, &ws), 0);
    if (!ws) return;
    const char *a = "model.layers.0.self_attn.kv_a_proj_with_mqa.weight", *b = "model.layers.0.self_attn.o_proj.weight";
    ds_ws_tinfo ta, tb;
    CHECK_EQ_INT(ds_ws_info(ws, a, &ta), 0);
    CHECK_EQ_INT(ds_ws_info(ws, b, &tb), 0);
    for (int staged = 0; staged < 2; staged++) {
        ds_ws_stream_opts o = {.staged = staged, .readers = 2, .chunk_bytes = 1000};
        ds_ws_stream *s;
        CHECK_EQ_INT(ds_ws_stream_open(&s, &o), 0);
        CHECK_EQ_INT(ds_ws_stream_begin(s, ws, 1 << 20), 0);
        CHECK_EQ_INT(ds_ws_stream_plan(s, a, 0, ta.rows, ta.rows, ta.cols), 0);
        CHECK_EQ_INT(ds_ws_stream_plan(s, b, 0, tb.rows, tb.rows, tb.cols), 0);
        /* a wrong shape is named at the plan and returned by its take */
        CHECK_EQ_INT(ds_ws_stream_plan(s, a, 0, ta.rows, ta.rows + 1, ta.cols), DS_EXIT_INPUT);
        float *ra = xaligned((size_t)(ta.rows * ta.cols) * 4), *ga = xaligned((size_t)(ta.rows * ta.cols) * 4);
        float *rb = xaligned((size_t)(tb.rows * tb.cols) * 4), *gb = xaligned((size_t)(tb.rows * tb.cols) * 4);
        CHECK_EQ_INT(ds_ws_read_rows(ws, a, 0, ta.rows, ra), 0);
        CHECK_EQ_INT(ds_ws_read_rows(ws, b, 0, tb.rows, rb), 0);
        CHECK_EQ_INT(ds_ws_stream_take(s, b, 0, tb.rows, tb.rows, tb.cols, gb), 0); /* not the oldest: direct */
        CHECK(memcmp(rb, gb, (size_t)(tb.rows * tb.cols) * 4) == 0);
        memset(gb, 0, (size_t)(tb.rows * tb.cols) * 4);
        CHECK_EQ_INT(ds_ws_stream_take(s, a, 0, ta.rows, ta.rows, ta.cols, ga), 0);
        CHECK(memcmp(ra, ga, (size_t)(ta.rows * ta.cols) * 4) == 0);
        CHECK_EQ_INT(ds_ws_stream_take(s, b, 0, tb.rows, tb.rows, tb.cols, gb), 0);
        CHECK(memcmp(rb, gb, (size_t)(tb.rows * tb.cols) * 4) == 0);
        CHECK_EQ_INT(ds_ws_stream_take(s, a, 0, ta.rows, ta.rows + 1, ta.cols, ga), DS_EXIT_INPUT);
        ds_ws_stream_prof p;
        ds_ws_stream_prof_get(s, &p);
        CHECK_EQ_INT(p.direct_reads, 1);
        /* a pass ended with requests in flight, then another one */
        CHECK_EQ_INT(ds_ws_stream_plan(s, b, 0, tb.rows, tb.rows, tb.cols), 0);
        CHECK_EQ_INT(ds_ws_stream_plan(s, a, 0, ta.rows, ta.rows, ta.cols), 0);
        ds_ws_stream_end(s);
        CHECK_EQ_INT(ds_ws_stream_begin(s, ws, 64), 0); /* smaller than a request: grows */
        CHECK_EQ_INT(ds_ws_stream_plan(s, b, 0, tb.rows, tb.rows, tb.cols), 0);
        memset(gb, 0, (size_t)(tb.rows * tb.cols) * 4);
        CHECK_EQ_INT(ds_ws_stream_take(s, b, 0, tb.rows, tb.rows, tb.cols, gb), 0);
        CHECK(memcmp(rb, gb, (size_t)(tb.rows * tb.cols) * 4) == 0);
        ds_ws_stream_close(s);
        free(ra);
        free(ga);
        free(rb);
        free(gb);
    }
    ds_ws_close(ws);
}

TEST(cleanup) {
    if (!g_nsrc) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    CHECK_EQ_INT(system(cmd), 0);
}

TESTS_MAIN(T(widen_matches_bf16_to_f32), T(stream_matches_read_rows), T(unplanned_take_reads_directly), T(cleanup))
