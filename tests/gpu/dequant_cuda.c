/* dequant_cuda.c - GPU test of the FP8 -> BF16 dequantization: the CUDA kernel
 * (device pointers) and the executor's chunk path (host pointers, pageable and
 * pinned) against the CPU reference ds_cpu_dequant_fp8_bf16, byte for byte;
 * then bandwidth numbers for the record (BENCH lines, not pass/fail).
 *
 * Only meaningful where a GPU is usable: elsewhere it prints "SKIP: no GPU (why)"
 * and exits 77. Build and run from the repository root: bash tests/gpu/run.sh
 * Inputs are random with a fresh seed per run (printed; DS_SEED=n repeats one).
 * DS_GPU_DUMP=dir writes the all-codes grid (input, scales, both outputs) for
 * tests/gpu/triton_ref.py; DS_BENCH_SWEEP=1 adds a slot/staging-size sweep;
 * DS_QUICK=1 leaves out the large cases and the bench (for compute-sanitizer);
 * DS_ONLY=text runs only the cases whose name contains text. */
#define _GNU_SOURCE
#include <cuda_runtime_api.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "formats/dtype.h"
#include "kernels/kernels.h"
#include "kernels/gpu.h"
#include "tests/unit/test.h"

/* ---- options (set once in main) ------------------------------------------- */
static uint64_t opt_seed;

/* ---- helpers ----------------------------------------------------------------- */

typedef struct { uint64_t s; } rng;
static uint64_t rnext(rng *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static rng rng_for(const char *name) {
    rng r = {opt_seed};
    for (const char *p = name; *p; p++) r.s = r.s * 131 + (uint8_t)*p;
    rnext(&r);
    return r;
}
/* Any code but the two NaNs (tests about indexing keep NaN out of the way). */
static uint8_t rand_code(rng *r) {
    uint8_t c;
    do c = (uint8_t)(rnext(r) >> 56); while ((c & 0x7F) == 0x7F);
    return c;
}
/* Scales as checkpoints have them (2^-20 .. 2^2, full mantissa), sometimes negative. */
static float rand_scale(rng *r) {
    uint64_t x = rnext(r);
    float m = 1.0f + (float)(x >> 40) / 16777216.0f;
    float v = ldexpf(m, -20 + (int)((x >> 8) % 23));
    return (x & 0x7) == 0 ? -v : v;
}
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static int bf16_isnan(uint16_t v) { return (v & 0x7FFF) > 0x7F80; }

/* The CPU reference on rows [r0, r0+n) of W ([R, C], whole tensor), scale [*, sc]. */
static uint16_t *cpu_ref(const uint8_t *W, const float *S, int64_t r0, int64_t n, int64_t C, int64_t sc, int br,
                         int bc) {
    uint16_t *o = xmalloc((size_t)(n * C) * 2 + 2);
    memset(o, 0xFF, (size_t)(n * C) * 2);
    ds_cpu_dequant_fp8_bf16(W + r0 * C, o, r0, n, C, S, sc, br, bc);
    return o;
}

/* The CUDA kernel on the same rows, with w and out placed wmis / omis bytes past
 * an aligned address (to reach the unaligned path). Output poisoned with 0xFF
 * bytes first: 0xFFFF is a NaN the kernel never writes (its NaN is 0x7FFF), so
 * an element it skipped cannot pass. Returns NULL after a CUDA failure. */
static uint16_t *gpu_run(const uint8_t *W, const float *S, int64_t srows, int64_t r0, int64_t n, int64_t C,
                         int64_t sc, int br, int bc, int wmis, int omis) {
    size_t in = (size_t)(n * C), outb = 2 * in, sb = (size_t)(srows * sc) * 4;
    void *dw = NULL, *dout = NULL, *ds = NULL;
    uint16_t *o = xmalloc(outb + 2);
    int rc = ds_cuda_malloc(&dw, in + 16);
    if (!rc) rc = ds_cuda_malloc(&dout, outb + 16);
    if (!rc) rc = ds_cuda_malloc(&ds, sb);
    if (!rc) rc = ds_cuda_memcpy_h2d((char *)dw + wmis, W + r0 * C, in);
    if (!rc) rc = ds_cuda_memcpy_h2d(ds, S, sb);
    if (!rc) rc = ds_cuda_memset(dout, 0xFF, outb + 16);
    if (!rc)
        rc = ds_cuda_dequant_fp8_bf16((const uint8_t *)dw + wmis, (uint16_t *)((char *)dout + omis), r0, n, C,
                                      (const float *)ds, sc, br, bc);
    if (!rc) rc = ds_cuda_memcpy_d2h(o, (char *)dout + omis, outb);
    ds_cuda_free(dw);
    ds_cuda_free(dout);
    ds_cuda_free(ds);
    if (rc) {
        free(o);
        return NULL;
    }
    return o;
}

enum { CMP_ALL, CMP_NONNAN, CMP_NAN_ONLY };
/* Counts elements that differ under mode and prints the first few, with the
 * element's code and scale so a failure says what it was about. */
static int64_t compare(const char *what, const uint16_t *gpu, const uint16_t *cpu, const uint8_t *w, int64_t r0,
                       int64_t n, int64_t C, const float *S, int64_t sc, int br, int bc, int mode) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n * C; i++) {
        int cn = bf16_isnan(cpu[i]), gn = bf16_isnan(gpu[i]);
        int differ;
        if (mode == CMP_ALL) differ = gpu[i] != cpu[i];
        else if (mode == CMP_NONNAN) differ = cn ? !gn : gpu[i] != cpu[i];
        else differ = cn && gpu[i] != cpu[i];
        if (!differ) continue;
        if (bad++ < 5) {
            int64_t r = i / C, c = i % C;
            float s = S[((r0 + r) / br) * sc + c / bc];
            fprintf(stderr, "  %s: row %lld col %lld code 0x%02X scale %a (0x%08X): cuda 0x%04X cpu 0x%04X\n", what,
                    (long long)(r0 + r), (long long)c, w[i], s, bits_of(s), gpu[i], cpu[i]);
        }
    }
    if (bad) fprintf(stderr, "  %s: %lld of %lld elements differ\n", what, (long long)bad, (long long)(n * C));
    return bad;
}

/* ---- the all-codes x scales grid ------------------------------------------------ */
/* Row block k (128 rows, br = 128) has scale value k in both column blocks
 * (bc = 128); every row holds the 256 codes in order. The finite scales come
 * first (rows [0, Rfin)): the CPU kernel is defined for those only (dsconv
 * rejects a non-finite scale before any kernel runs); the inf/NaN scales after
 * them are checked against upstream's results (what GPU arithmetic gives, and
 * triton_ref.py confirms). Computed once and shared by the grid cases (a cache
 * of test data, not state of the code under test). */
typedef struct {
    int ready, failed;
    int64_t R, C, ns, Rfin;
    uint8_t *W;
    float *S;       /* [ns, 2] for bc = 128 */
    float *S8;      /* [ns, 32] for bc = 8 (the per-element kernel) */
    uint16_t *cpu, *gpu, *cpu8, *gpu8;
} grid_data;
static grid_data grid;

/* Fills v with the scales; returns how many, *nfin of them finite (first). */
static int scale_values(float *v, rng *r, int *nfin) {
    int n = 0;
    static const float fixed[] = {1.0f, -1.0f, 0.5f, 2.0f, 3.0f, 0.1f, 1.0f / 448.0f, 448.0f, 1e-4f, 3.3e-5f,
                                  0.0f, -0.0f, FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX, 1e30f, 1e-30f};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) v[n++] = fixed[i];
    /* bf16 rounding ties and near-ties: 1 + 2^-8 sits halfway between two bf16. */
    v[n++] = 1.0f + 0x1p-8f;
    v[n++] = 1.0f + 3 * 0x1p-8f;
    v[n++] = -(1.0f + 0x1p-8f);
    v[n++] = 1.0f + 0x1p-8f + 0x1p-23f;
    v[n++] = 1.0f + 0x1p-8f - 0x1p-23f;
    /* f32 subnormal scales: products land in or near the subnormal range. */
    v[n++] = from_bits(0x00000001u);
    v[n++] = from_bits(0x00400000u);
    v[n++] = from_bits(0x007FFFFFu);
    v[n++] = from_bits(0x80012345u);
    v[n++] = 1e-40f;
    /* ue8m0 block scales: every power of two an e8m0 byte encodes, 2^-127 .. 2^127. */
    for (int e = -127; e <= 127; e++) v[n++] = ldexpf(1.0f, e);
    for (int i = 0; i < 24; i++) v[n++] = rand_scale(r);
    *nfin = n;
    /* Non-finite scales: every code times inf or NaN. */
    v[n++] = INFINITY;
    v[n++] = -INFINITY;
    v[n++] = from_bits(0x7FC00000u);
    v[n++] = from_bits(0xFFC00000u);
    v[n++] = from_bits(0x7F800001u); /* signaling NaN */
    v[n++] = from_bits(0x7FA5A5A5u);
    v[n++] = from_bits(0xFFFFFFFFu);
    return n;
}

static int grid_build(void) {
    if (grid.ready) return !grid.failed;
    grid.ready = 1;
    rng r = rng_for("grid");
    float v[512];
    int nfin = 0, ns = scale_values(v, &r, &nfin);
    grid.ns = ns;
    grid.Rfin = (int64_t)nfin * 128;
    grid.C = 256;
    grid.R = (int64_t)ns * 128;
    grid.W = xmalloc((size_t)(grid.R * grid.C));
    for (int64_t i = 0; i < grid.R; i++)
        for (int j = 0; j < 256; j++) grid.W[i * 256 + j] = (uint8_t)j;
    grid.S = xmalloc((size_t)ns * 2 * sizeof(float));
    grid.S8 = xmalloc((size_t)ns * 32 * sizeof(float));
    for (int k = 0; k < ns; k++) {
        grid.S[2 * k] = grid.S[2 * k + 1] = v[k];
        for (int j = 0; j < 32; j++) grid.S8[32 * k + j] = v[k];
    }
    grid.cpu = cpu_ref(grid.W, grid.S, 0, grid.R, 256, 2, 128, 128);
    grid.cpu8 = cpu_ref(grid.W, grid.S8, 0, grid.R, 256, 32, 128, 8);
    grid.gpu = gpu_run(grid.W, grid.S, ns, 0, grid.R, 256, 2, 128, 128, 0, 0);
    grid.gpu8 = gpu_run(grid.W, grid.S8, ns, 0, grid.R, 256, 32, 128, 8, 0, 0);
    grid.failed = !grid.gpu || !grid.gpu8;
    const char *dump = getenv("DS_GPU_DUMP");
    if (dump && !grid.failed) {
        ds_mkdir_p(dump);
        char *p;
        struct { const char *name; const void *data; size_t n; } f[] = {
            {"grid_w.u8", grid.W, (size_t)(grid.R * 256)},
            {"grid_scale.f32", grid.S, (size_t)ns * 2 * 4},
            {"grid_cuda.bf16", grid.gpu, (size_t)(grid.R * 256) * 2},
            {"grid_cpu.bf16", grid.cpu, (size_t)(grid.R * 256) * 2},
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
            p = ds_path_join(dump, f[i].name);
            if (ds_write_file_atomic(p, f[i].data, f[i].n)) grid.failed = 1;
            free(p);
        }
        char meta[128];
        int m = snprintf(meta, sizeof meta, "%lld %d 128 128\n", (long long)grid.R, 256);
        p = ds_path_join(dump, "grid_meta.txt");
        if (ds_write_file_atomic(p, meta, (size_t)m)) grid.failed = 1;
        free(p);
    }
    return !grid.failed;
}

TEST(available_says_why_not_or_empty) {
    char why[200] = "unchanged";
    CHECK(ds_cuda_available(why, (int)sizeof why) == 1);
    CHECKF(why[0] == 0, "reason '%s' with a usable device", why);
    CHECK(ds_cuda_available(NULL, 0) == 1); /* no buffer is fine */
}

TEST(grid_non_nan_results_equal_cpu) {
    CHECK(grid_build());
    if (!grid.gpu) return;
    CHECK(compare("grid", grid.gpu, grid.cpu, grid.W, 0, grid.Rfin, 256, grid.S, 2, 128, 128, CMP_NONNAN) == 0);
}

TEST(grid_per_element_kernel_equal_cpu) {
    CHECK(grid_build());
    if (!grid.gpu8) return;
    CHECK(compare("grid bc=8", grid.gpu8, grid.cpu8, grid.W, 0, grid.Rfin, 256, grid.S8, 32, 128, 8, CMP_NONNAN) ==
          0);
}

/* Every NaN the GPU writes is 0x7FFF, the canonical NaN GPU arithmetic (and so
 * upstream's Triton kernel) produces; triton_ref.py checks that claim. */
TEST(grid_nan_results_are_0x7fff) {
    CHECK(grid_build());
    if (!grid.gpu || !grid.gpu8) return;
    int64_t n = grid.R * 256, nan = 0, other = 0;
    for (int64_t i = 0; i < n; i++)
        if (bf16_isnan(grid.gpu[i]) || bf16_isnan(grid.gpu8[i])) {
            nan++;
            other += grid.gpu[i] != 0x7FFF || grid.gpu8[i] != 0x7FFF;
        }
    CHECKF(nan > 0 && other == 0, "%lld NaN results, %lld of them not 0x7FFF", (long long)nan, (long long)other);
}

/* Strict bytes at NaN results too, finite scales (the NaN codes 0x7F/0xFF): the
 * CPU kernel must not keep x86's NaN sign and payload; upstream writes 0x7FFF. */
TEST(grid_nan_results_bytes_equal_cpu) {
    CHECK(grid_build());
    if (!grid.gpu) return;
    int64_t bad =
        compare("grid NaN", grid.gpu, grid.cpu, grid.W, 0, grid.Rfin, 256, grid.S, 2, 128, 128, CMP_NAN_ONLY);
    CHECKF(bad == 0, "the CPU kernel writes other NaN bytes than 0x7FFF (upstream's and the GPU's canonical NaN)");
}

/* inf and NaN scales (outside the CPU kernel's domain): what upstream's kernel
 * gives, i.e. IEEE float32 products with every NaN as 0x7FFF: +-inf for a
 * nonzero code times inf, 0x7FFF for 0 * inf, a NaN code or a NaN scale. */
TEST(grid_nonfinite_scales_as_upstream) {
    CHECK(grid_build());
    if (!grid.gpu || !grid.gpu8) return;
    int64_t bad = 0, n = 0;
    for (int64_t r = grid.Rfin; r < grid.R; r++) {
        float s = grid.S[(r / 128) * 2];
        for (int c = 0; c < 256; c++) {
            uint16_t want;
            int code_nan = (c & 0x7F) == 0x7F, code_zero = (c & 0x7F) == 0;
            if (isnan(s) || code_nan || code_zero) want = 0x7FFF;
            else want = ((c >> 7) ^ (signbit(s) != 0)) ? 0xFF80 : 0x7F80;
            uint16_t g = grid.gpu[r * 256 + c], g8 = grid.gpu8[r * 256 + c];
            n++;
            if (g != want || g8 != want) {
                if (bad++ < 5)
                    fprintf(stderr, "  code 0x%02X scale 0x%08X: cuda 0x%04X / 0x%04X, want 0x%04X\n", c, bits_of(s), g,
                            g8, want);
            }
        }
    }
    CHECKF(n > 0 && bad == 0, "%lld of %lld elements", (long long)bad, (long long)n);
}

/* ---- shapes: partial edge blocks, chunk offsets, odd blocks, unaligned ------------ */
typedef struct {
    int64_t R, C, r0, n;
    int br, bc, wmis, omis;
} shape;

static int64_t run_shape(const shape *s, rng *r) {
    int64_t srows = (s->R + s->br - 1) / s->br, sc = (s->C + s->bc - 1) / s->bc;
    uint8_t *W = xmalloc((size_t)(s->R * s->C) + 1);
    float *S = xmalloc((size_t)(srows * sc) * 4);
    for (int64_t i = 0; i < s->R * s->C; i++) W[i] = rand_code(r);
    for (int64_t i = 0; i < srows * sc; i++) S[i] = rand_scale(r);
    uint16_t *cpu = cpu_ref(W, S, s->r0, s->n, s->C, sc, s->br, s->bc);
    uint16_t *gpu = gpu_run(W, S, srows, s->r0, s->n, s->C, sc, s->br, s->bc, s->wmis, s->omis);
    char what[160];
    snprintf(what, sizeof what, "[%lld x %lld] rows %lld+%lld block %dx%d mis %d/%d", (long long)s->R,
             (long long)s->C, (long long)s->r0, (long long)s->n, s->br, s->bc, s->wmis, s->omis);
    int64_t bad = gpu ? compare(what, gpu, cpu, W + s->r0 * s->C, s->r0, s->n, s->C, S, sc, s->br, s->bc, CMP_ALL)
                      : 1;
    free(W), free(S), free(cpu), free(gpu);
    return bad;
}

TEST(edge_shapes_equal_cpu) {
    static const shape shapes[] = {
        {1, 16, 0, 1, 128, 128, 0, 0},          /* one group */
        {200, 160, 0, 200, 128, 128, 0, 0},     /* partial row and column blocks */
        {160, 7168, 0, 160, 128, 128, 0, 0},    /* kv_a_proj-like: 160 rows */
        {129, 7168, 0, 129, 128, 128, 0, 0},    /* one row past a block */
        {192, 1536, 0, 192, 128, 128, 0, 0},    /* q_lora-like */
        {500, 256, 128, 200, 128, 128, 0, 0},   /* chunk in the middle, block-aligned */
        {500, 272, 37, 400, 128, 128, 0, 0},    /* chunk starting inside a block */
        {300, 1000, 0, 300, 128, 128, 0, 0},    /* cols % 16 = 8: per-element kernel */
        {7, 5, 2, 3, 128, 128, 0, 0},           /* tiny, odd */
        {1000, 192, 0, 1000, 64, 32, 0, 0},     /* other block sizes */
        {260, 384, 0, 260, 128, 48, 0, 0},      /* bc not a multiple of 16 */
        {260, 384, 5, 250, 1, 16, 0, 0},        /* per-row scales */
        {256, 512, 0, 256, 128, 128, 1, 0},     /* input 1 byte off alignment */
        {256, 512, 0, 256, 128, 128, 0, 2},     /* output 2 bytes off alignment */
        {3, 1 << 20, 1, 2, 128, 128, 0, 0},     /* very wide rows */
    };
    rng r = rng_for("edge");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) CHECK(run_shape(&shapes[i], &r) == 0);
}

TEST(random_large_equal_cpu) {
    /* 7232 rows: 56.5 row blocks; 18432 cols (an MoE up-projection's width). */
    shape s = {7232, 18432, 0, 7232, 128, 128, 0, 0};
    rng r = rng_for("large");
    CHECK(run_shape(&s, &r) == 0);
    shape s2 = {7232, 18432, 2944, 1152, 128, 128, 0, 0}; /* a chunk of whole blocks inside it */
    CHECK(run_shape(&s2, &r) == 0);
}

TEST(bad_arguments_rejected) {
    void *d = NULL;
    if (ds_cuda_malloc(&d, 4096)) {
        CHECK(0);
        return;
    }
    CHECK_EQ_INT(ds_cuda_dequant_fp8_bf16(d, d, 0, 1, 16, d, 1, 0, 128), DS_EXIT_INPUT);  /* br = 0 */
    CHECK_EQ_INT(ds_cuda_dequant_fp8_bf16(d, d, 0, 1, 300, d, 2, 128, 128), DS_EXIT_INPUT); /* 3 scale cols needed */
    CHECK_EQ_INT(ds_cuda_dequant_fp8_bf16(d, d, -1, 1, 16, d, 1, 128, 128), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_cuda_dequant_fp8_bf16(d, d, 0, 0, 16, d, 1, 128, 128), 0); /* nothing to do */
    ds_cuda_free(d);
}

/* ---- the chunk path ----------------------------------------------------------------- */

enum { MEM_PAGEABLE, MEM_PINNED };
static void *host_buf(int kind, size_t n) {
    void *p = NULL;
    if (kind == MEM_PINNED) {
        if (ds_cuda_host_alloc(&p, n)) return NULL;
        return p;
    }
    return xmalloc(n);
}
static void host_buf_free(int kind, void *p) {
    if (kind == MEM_PINNED) ds_cuda_host_free(p);
    else free(p);
}

/* Converts an [R, C] tensor chunk by chunk (chunk_rows each, the last shorter)
 * through ctx, with input and output in the given memory kinds, and compares the
 * whole output with the CPU's. */
static int64_t run_chunks(ds_cuda_ctx *ctx, int64_t R, int64_t C, int br, int bc, int64_t chunk_rows, int in_kind,
                          int out_kind, rng *r) {
    int64_t srows = (R + br - 1) / br, sc = (C + bc - 1) / bc;
    uint8_t *W = host_buf(in_kind, (size_t)(R * C));
    uint16_t *O = host_buf(out_kind, (size_t)(R * C) * 2);
    float *S = xmalloc((size_t)(srows * sc) * 4);
    if (!W || !O) return 1;
    for (int64_t i = 0; i < R * C; i++) W[i] = rand_code(r);
    for (int64_t i = 0; i < srows * sc; i++) S[i] = rand_scale(r);
    memset(O, 0xFF, (size_t)(R * C) * 2);
    int64_t bad = 0;
    for (int64_t r0 = 0; r0 < R && !bad; r0 += chunk_rows) {
        int64_t n = R - r0 < chunk_rows ? R - r0 : chunk_rows;
        int rc = ds_cuda_dequant_chunk(ctx, W + r0 * C, O + r0 * C, r0, n, C, S, sc, br, bc);
        if (rc) {
            fprintf(stderr, "  ds_cuda_dequant_chunk rows %lld+%lld: exit %d\n", (long long)r0, (long long)n, rc);
            bad = 1;
        }
    }
    if (!bad) {
        uint16_t *cpu = cpu_ref(W, S, 0, R, C, sc, br, bc);
        char what[160];
        snprintf(what, sizeof what, "chunks [%lld x %lld] by %lld rows, in %s, out %s", (long long)R, (long long)C,
                 (long long)chunk_rows, in_kind ? "pinned" : "pageable", out_kind ? "pinned" : "pageable");
        bad = compare(what, O, cpu, W, 0, R, C, S, sc, br, bc, CMP_ALL);
        free(cpu);
    }
    host_buf_free(in_kind, W);
    host_buf_free(out_kind, O);
    free(S);
    return bad;
}

TEST(chunk_pageable_many_pieces) {
    ds_cuda_ctx *ctx = NULL;
    /* 1 MiB staging: 146 rows of 7168 per piece, so pieces straddle scale blocks
     * and every slot is reused many times within one chunk. */
    CHECK(ds_cuda_ctx_create(&ctx, 1 << 20, 2) == 0);
    if (!ctx) return;
    rng r = rng_for("chunk_pageable");
    CHECK(run_chunks(ctx, 2000, 7168, 128, 128, 512, MEM_PAGEABLE, MEM_PAGEABLE, &r) == 0);
    CHECK(run_chunks(ctx, 2000, 7168, 128, 128, 2000, MEM_PAGEABLE, MEM_PAGEABLE, &r) == 0);
    ds_cuda_ctx_destroy(ctx);
}

TEST(chunk_default_ctx_executor_sized) {
    ds_cuda_ctx *ctx = NULL;
    CHECK(ds_cuda_ctx_create(&ctx, 0, 0) == 0);
    if (!ctx) return;
    rng r = rng_for("chunk_default");
    /* 9344 rows x 7168 = 64 MiB chunks of whole 128-row blocks, last one partial. */
    CHECK(run_chunks(ctx, 9344 * 2 + 200, 7168, 128, 128, 9344, MEM_PAGEABLE, MEM_PAGEABLE, &r) == 0);
    ds_cuda_ctx_destroy(ctx);
}

TEST(chunk_pinned_and_mixed) {
    ds_cuda_ctx *ctx = NULL;
    CHECK(ds_cuda_ctx_create(&ctx, 4 << 20, 3) == 0);
    if (!ctx) return;
    rng r = rng_for("chunk_pinned");
    CHECK(run_chunks(ctx, 3000, 4096, 128, 128, 1024, MEM_PINNED, MEM_PINNED, &r) == 0);
    CHECK(run_chunks(ctx, 3000, 4096, 128, 128, 1024, MEM_PINNED, MEM_PAGEABLE, &r) == 0);
    CHECK(run_chunks(ctx, 3000, 4096, 128, 128, 1024, MEM_PAGEABLE, MEM_PINNED, &r) == 0);
    ds_cuda_ctx_destroy(ctx);
}

TEST(chunk_odd_shapes) {
    ds_cuda_ctx *ctx = NULL;
    CHECK(ds_cuda_ctx_create(&ctx, 4096, 2) == 0); /* smaller than one row: buffers grow */
    if (!ctx) return;
    rng r = rng_for("chunk_odd");
    CHECK(run_chunks(ctx, 300, 7168, 128, 128, 128, MEM_PAGEABLE, MEM_PAGEABLE, &r) == 0);
    CHECK(run_chunks(ctx, 333, 1000, 128, 128, 77, MEM_PAGEABLE, MEM_PAGEABLE, &r) == 0); /* per-element kernel */
    CHECK(run_chunks(ctx, 333, 384, 64, 48, 100, MEM_PINNED, MEM_PAGEABLE, &r) == 0);
    CHECK(run_chunks(ctx, 1, 16, 128, 128, 1, MEM_PAGEABLE, MEM_PAGEABLE, &r) == 0);
    ds_cuda_ctx_destroy(ctx);
}

/* ---- bandwidth, for the record ---------------------------------------------------------- */

#define BCHECK(call)                                                                          \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess) {                                                              \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            t_->fails++;                                                                      \
            return;                                                                           \
        }                                                                                     \
    } while (0)

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Median of the host-clock times of reps runs of ds_cuda_dequant_chunk over the
 * whole [R, C] tensor in 64 MiB chunks; -1 on failure. */
static double time_chunks(ds_cuda_ctx *ctx, const uint8_t *W, uint16_t *O, int64_t R, int64_t C, const float *S,
                          int64_t sc, int64_t chunk_rows, int reps) {
    double t[16];
    for (int k = 0; k < reps; k++) {
        double t0 = ds_now();
        for (int64_t r0 = 0; r0 < R; r0 += chunk_rows) {
            int64_t n = R - r0 < chunk_rows ? R - r0 : chunk_rows;
            if (ds_cuda_dequant_chunk(ctx, W + r0 * C, O + r0 * C, r0, n, C, S, sc, 128, 128)) return -1;
        }
        t[k] = ds_now() - t0;
    }
    for (int i = 1; i < reps; i++) /* insertion sort, reps is small */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[reps / 2];
}

TEST(bench_kernel_and_chunk_path) {
    const int64_t C = 7168, R = 9344 * 4; /* 4 chunks of 64 MiB = 256 MiB of FP8 */
    const int64_t chunk = 9344, sc = C / 128, srows = R / 128;
    const size_t in = (size_t)(R * C), out = 2 * in;
    rng r = rng_for("bench");
    uint8_t *W = xmalloc(in);
    uint16_t *O = xmalloc(out);
    float *S = xmalloc((size_t)(srows * sc) * 4);
    for (size_t i = 0; i < in; i++) W[i] = rand_code(&r);
    for (int64_t i = 0; i < srows * sc; i++) S[i] = rand_scale(&r);
    memset(O, 0, out); /* touch every page before timing */

    /* CPU reference, all threads. */
    uint16_t *cpu = xmalloc(out);
    double t0 = ds_now();
    ds_cpu_dequant_fp8_bf16(W, cpu, 0, R, C, S, sc, 128, 128);
    double tcpu = ds_now() - t0;
    t0 = ds_now();
    ds_cpu_dequant_fp8_bf16(W, cpu, 0, R, C, S, sc, 128, 128);
    double t2 = ds_now() - t0;
    if (t2 < tcpu) tcpu = t2;
    printf("BENCH cpu kernel (%d threads): %.1f ms for %.0f MiB fp8 -> %.2f GB/s of fp8 in (%.2f GB/s in+out)\n",
           omp_get_max_threads(), tcpu * 1e3, in / 1048576.0, in / tcpu / 1e9, (in + out) / tcpu / 1e9);

    /* Kernel alone: 4 sets of device buffers (64 MiB in, 128 MiB out each, well
     * past the L2), rotated; events around each launch; median. */
    enum { NSET = 4, REPS = 40 };
    const size_t cin = (size_t)(chunk * C), cout = 2 * cin;
    uint8_t *dw[NSET] = {0};
    uint16_t *dout[NSET] = {0};
    float *ds = NULL;
    for (int k = 0; k < NSET; k++) {
        BCHECK(cudaMalloc((void **)&dw[k], cin));
        BCHECK(cudaMalloc((void **)&dout[k], cout));
        BCHECK(cudaMemcpy(dw[k], W + k * cin, cin, cudaMemcpyHostToDevice));
    }
    BCHECK(cudaMalloc((void **)&ds, (size_t)(srows * sc) * 4));
    BCHECK(cudaMemcpy(ds, S, (size_t)(srows * sc) * 4, cudaMemcpyHostToDevice));
    cudaEvent_t e0, e1;
    BCHECK(cudaEventCreate(&e0));
    BCHECK(cudaEventCreate(&e1));
    float ms[REPS];
    for (int i = -4; i < REPS; i++) {
        int k = (i + 8) % NSET;
        BCHECK(cudaEventRecord(e0, 0));
        CHECK(ds_cuda_dequant_fp8_bf16_async(dw[k], dout[k], k * chunk, chunk, C, ds, sc, 128, 128, NULL) == 0);
        BCHECK(cudaEventRecord(e1, 0));
        BCHECK(cudaEventSynchronize(e1));
        if (i >= 0) BCHECK(cudaEventElapsedTime(&ms[i], e0, e1));
    }
    qsort(ms, REPS, sizeof ms[0], cmp_float);
    double tk = ms[REPS / 2] / 1e3;
    /* The timed outputs are right too: set k holds chunk k. */
    for (int k = 0; k < NSET; k++) BCHECK(cudaMemcpy(O + k * cin, dout[k], cout, cudaMemcpyDeviceToHost));
    CHECK(compare("bench kernel", O, cpu, W, 0, R, C, S, sc, 128, 128, CMP_ALL) == 0);
    /* Copy ceiling: device-to-device copy of 128 MiB (overwrites the outputs, checked above), read + write. */
    float msc[10];
    for (int i = -2; i < 10; i++) {
        BCHECK(cudaEventRecord(e0, 0));
        BCHECK(cudaMemcpyAsync(dout[(i + 4) % NSET], dout[(i + 5) % NSET], cout, cudaMemcpyDeviceToDevice, 0));
        BCHECK(cudaEventRecord(e1, 0));
        BCHECK(cudaEventSynchronize(e1));
        if (i >= 0) BCHECK(cudaEventElapsedTime(&msc[i], e0, e1));
    }
    qsort(msc, 10, sizeof msc[0], cmp_float);
    double tcopy = msc[5] / 1e3;
    printf("BENCH cuda kernel alone: %.3f ms per 64 MiB chunk (median of %d) -> %.0f GB/s in+out "
           "(device copy ceiling %.0f GB/s read+write; kernel at %.0f%% of it)\n",
           tk * 1e3, REPS, (cin + cout) / tk / 1e9, 2.0 * cout / tcopy / 1e9,
           100.0 * ((cin + cout) / tk) / (2.0 * cout / tcopy));
    for (int k = 0; k < NSET; k++) {
        cudaFree(dw[k]);
        cudaFree(dout[k]);
    }
    cudaFree(ds);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);

    /* Chunk path with transfers, pageable and pinned host memory. */
    ds_cuda_ctx *ctx = NULL;
    CHECK(ds_cuda_ctx_create(&ctx, 0, 0) == 0);
    if (!ctx) return;
    memset(O, 0xFF, out);
    double tp = time_chunks(ctx, W, O, R, C, S, sc, chunk, 5);
    CHECK(tp > 0);
    CHECK(compare("bench chunks pageable", O, cpu, W, 0, R, C, S, sc, 128, 128, CMP_ALL) == 0);
    printf("BENCH cuda chunk path, pageable host memory (default ctx): %.1f ms for %.0f MiB -> %.2f GB/s of fp8 "
           "in (%.2f GB/s in+out), %.1fx the CPU kernel\n",
           tp * 1e3, in / 1048576.0, in / tp / 1e9, (in + out) / tp / 1e9, tcpu / tp);
    uint8_t *Wp = NULL;
    uint16_t *Op = NULL;
    if (ds_cuda_host_alloc((void **)&Wp, in) == 0 && ds_cuda_host_alloc((void **)&Op, out) == 0) {
        memcpy(Wp, W, in);
        memset(Op, 0xFF, out);
        /* PCIe ceilings: one 64 MiB chunk's input H2D, its output D2H, pinned. */
        void *dbuf = NULL;
        if (ds_cuda_malloc(&dbuf, cout) == 0) {
            double th = 1e9, td = 1e9;
            for (int i = 0; i < 5; i++) {
                double a = ds_now();
                if (ds_cuda_memcpy_h2d(dbuf, Wp, cin)) break;
                double b = ds_now();
                if (ds_cuda_memcpy_d2h(Op, dbuf, cout)) break;
                double c = ds_now();
                if (b - a < th) th = b - a;
                if (c - b < td) td = c - b;
            }
            printf("BENCH pcie pinned copies: H2D %.1f GB/s, D2H %.1f GB/s (one direction at a time)\n", cin / th / 1e9,
                   cout / td / 1e9);
            ds_cuda_free(dbuf);
        }
        memset(Op, 0xFF, out);
        double tq = time_chunks(ctx, Wp, Op, R, C, S, sc, chunk, 5);
        CHECK(tq > 0);
        CHECK(compare("bench chunks pinned", Op, cpu, W, 0, R, C, S, sc, 128, 128, CMP_ALL) == 0);
        printf("BENCH cuda chunk path, pinned host memory: %.1f ms for %.0f MiB -> %.2f GB/s of fp8 in "
               "(%.2f GB/s in+out)\n",
               tq * 1e3, in / 1048576.0, in / tq / 1e9, (in + out) / tq / 1e9);
    } else {
        CHECK(0);
    }
    ds_cuda_ctx_destroy(ctx);

    if (getenv("DS_BENCH_SWEEP")) {
        static const int slots[] = {2, 3, 4};
        static const int stage_mib[] = {4, 8, 16, 32};
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 4; b++) {
                ds_cuda_ctx *c2 = NULL;
                if (ds_cuda_ctx_create(&c2, (size_t)stage_mib[b] << 20, slots[a])) {
                    CHECK(0);
                    continue;
                }
                double x = time_chunks(c2, W, O, R, C, S, sc, chunk, 3);
                double y = Wp && Op ? time_chunks(c2, Wp, Op, R, C, S, sc, chunk, 3) : -1;
                printf("BENCH sweep slots %d stage %2d MiB: pageable %.2f GB/s, pinned %.2f GB/s (fp8 in)\n",
                       slots[a], stage_mib[b], in / x / 1e9, in / y / 1e9);
                ds_cuda_ctx_destroy(c2);
            }
    }
    ds_cuda_host_free(Wp);
    ds_cuda_host_free(Op);
    free(W), free(O), free(S), free(cpu);
}

int main(void) {
    char why[256];
    if (!ds_cuda_available(why, (int)sizeof why)) {
        printf("SKIP: no GPU (%s)\n", why);
        return 77;
    }
    const char *seed = getenv("DS_SEED");
    opt_seed = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    int dev = 0;
    struct cudaDeviceProp prop;
    if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
        printf("device %d: %s, sm_%d%d, %d SMs, %.0f GiB; seed %llu (DS_SEED=%llu repeats this run)\n", dev, prop.name,
               prop.major, prop.minor, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0,
               (unsigned long long)opt_seed, (unsigned long long)opt_seed);
    static const test_case big[] = {T(random_large_equal_cpu), T(chunk_default_ctx_executor_sized),
                                    T(bench_kernel_and_chunk_path)};
    int quick = getenv("DS_QUICK") != NULL;
    static const test_case cases[] = {
        T(available_says_why_not_or_empty),
        T(grid_non_nan_results_equal_cpu),
        T(grid_per_element_kernel_equal_cpu),
        T(grid_nan_results_are_0x7fff),
        T(grid_nan_results_bytes_equal_cpu),
        T(grid_nonfinite_scales_as_upstream),
        T(edge_shapes_equal_cpu),
        T(random_large_equal_cpu),
        T(bad_arguments_rejected),
        T(chunk_pageable_many_pieces),
        T(chunk_default_ctx_executor_sized),
        T(chunk_pinned_and_mixed),
        T(chunk_odd_shapes),
        T(bench_kernel_and_chunk_path),
    };
    int n = (int)(sizeof cases / sizeof cases[0]), ran = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        int is_big = 0;
        for (size_t b = 0; b < sizeof big / sizeof big[0]; b++) is_big |= big[b].fn == cases[i].fn;
        const char *only = getenv("DS_ONLY");
        if (only && !strstr(cases[i].name, only)) continue;
        if (quick && is_big) {
            printf("SKIP %s (DS_QUICK)\n", cases[i].name);
            continue;
        }
        test_ctx c = {0};
        cases[i].fn(&c);
        printf("%s %s\n", c.fails ? "FAIL" : "PASS", cases[i].name);
        fflush(stdout);
        ran++;
        failed += c.fails != 0;
    }
    printf("%d passed, %d failed\n", ran - failed, failed);
    return failed ? 1 : 0;
}
