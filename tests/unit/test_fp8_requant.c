/* test_fp8_requant.c - requant straight from FP8 (ds_cpu_fp8_quant_rows,
 * ds_cpu_fp8_fp4_quant_rows) against the two-step path it replaces on the
 * CPU: ds_cpu_dequant_fp8_bf16 into a BF16 buffer, then the BF16 kernels.
 * Bytes and row statistics must be identical, for every INT and FP4 spec,
 * on codes that include NaN (0x7F/0xFF), -0, subnormals and the largest
 * magnitudes, scales negative, tiny and huge, blocks cut by the weight's
 * edge (cols, rows not multiples of the block) and chunks starting inside a
 * block; and the statistics must not depend on the thread count. The BF16
 * kernels' RTN fast paths themselves are checked against the shared core
 * (quant/fp4_core.h) for every possible group maximum. */
#include "test.h"
#include "common/util.h"
#include "kernels/kernels.h"
#include "quant/fp4_core.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void) {
    uint64_t x = rng_state;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return rng_state = x;
}

typedef struct {
    int64_t rows, cols, srows, scols;
    int br, bc;
    uint8_t *w;
    float *scale;
} fp8_weight;

/* Codes mostly of ordinary magnitude, a few special ones; scales of every sign and size. */
static void make_weight(fp8_weight *f, int64_t rows, int64_t cols, int br, int bc, int specials) {
    f->rows = rows, f->cols = cols, f->br = br, f->bc = bc;
    f->srows = (rows + br - 1) / br, f->scols = (cols + bc - 1) / bc;
    f->w = xmalloc((size_t)(rows * cols));
    f->scale = xmalloc((size_t)(f->srows * f->scols) * sizeof(float));
    static const uint8_t special[] = {0x00, 0x80, 0x01, 0x81, 0x07, 0x08, 0x7E, 0xFE, 0x77, 0x7F, 0xFF};
    for (int64_t i = 0; i < rows * cols; i++) {
        uint64_t r = rng_u64();
        uint8_t c = (uint8_t)(0x20 + (r >> 8) % 0x30) | (uint8_t)((r >> 20) & 0x80);
        if (specials && (r & 0xFF) < 3) c = special[(r >> 32) % sizeof special];
        if (!specials && (c & 0x7F) == 0x7F) c = 0x7E;
        f->w[i] = c;
    }
    static const float sc[] = {1.0f / 448, 3.1e-4f, -2.2e-3f, 1.5e-5f, 0.75f, 1e-30f, 2.0e3f};
    for (int64_t i = 0; i < f->srows * f->scols; i++) f->scale[i] = sc[rng_u64() % (specials ? 7 : 5)];
}

static void free_weight(fp8_weight *f) {
    free(f->w);
    free(f->scale);
}

/* The two-step path: dequantize rows [r0, r0+n) to BF16, then the BF16 kernel. */
static int two_step(const ds_quant_spec *s, const fp8_weight *f, int64_t r0, int64_t n, float gs, void *packed,
                    void *scale, uint32_t *zp, ds_quant_row_stats *st) {
    uint16_t *b = xmalloc((size_t)(n * f->cols) * 2 + 2);
    int rc = ds_cpu_dequant_fp8_bf16(f->w + r0 * f->cols, b, r0, n, f->cols, f->scale, f->scols, f->br, f->bc);
    if (!rc && s->format == DSQ_FMT_INT)
        rc = ds_cpu_quant_rows(s, b, DS_BF16, n, f->cols, packed, scale, zp, st);
    else if (!rc)
        rc = ds_cpu_fp4_quant_rows(s, b, n, f->cols, gs, packed, scale, st);
    free(b);
    return rc;
}

static int direct(const ds_quant_spec *s, const fp8_weight *f, int64_t r0, int64_t n, float gs, void *packed,
                  void *scale, uint32_t *zp, ds_quant_row_stats *st) {
    if (s->format == DSQ_FMT_INT)
        return ds_cpu_fp8_quant_rows(s, f->w + r0 * f->cols, r0, n, f->cols, f->scale, f->scols, f->br, f->bc, packed,
                                     scale, zp, st);
    return ds_cpu_fp8_fp4_quant_rows(s, f->w + r0 * f->cols, r0, n, f->cols, f->scale, f->scols, f->br, f->bc, gs,
                                     packed, scale, st);
}

typedef struct {
    uint8_t *packed, *scale;
    uint32_t *zp;
    ds_quant_row_stats *st;
    size_t pb, sb, zb;
} outs;

static void outs_alloc(outs *o, const ds_quant_spec *s, int64_t n, int64_t cols) {
    if (s->format == DSQ_FMT_INT) {
        int pf = 32 / s->bits;
        int64_t ng = s->group_size ? cols / s->group_size : 1;
        o->pb = (size_t)(n * cols / pf) * 4, o->sb = (size_t)(n * ng) * 2, o->zb = (size_t)((n + pf - 1) / pf * ng) * 4;
    } else {
        o->pb = (size_t)(n * cols / 2), o->sb = (size_t)(n * cols / dsq_fp4_group_size(s->format)), o->zb = 0;
    }
    o->packed = xcalloc(o->pb + 8, 1);
    o->scale = xcalloc(o->sb + 8, 1);
    o->zp = xcalloc(o->zb + 8, 1);
    o->st = xcalloc((size_t)n + 1, sizeof *o->st);
}

static void outs_free(outs *o) { free(o->packed), free(o->scale), free(o->zp), free(o->st); }

static int same_stats(const ds_quant_row_stats *a, const ds_quant_row_stats *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        /* compared as bits: NaN sums (a row with a NaN error) must agree too */
        if (memcmp(&a[i], &b[i], sizeof a[i])) return 0;
    }
    return 1;
}

static void check_spec(test_ctx *t_, const ds_quant_spec *s, const fp8_weight *f, int64_t r0, int64_t n,
                       const char *what) {
    float gs = s->format == DSQ_FMT_NVFP4 ? 37.5f : 1.0f;
    outs a, b;
    outs_alloc(&a, s, n, f->cols);
    outs_alloc(&b, s, n, f->cols);
    CHECK_EQ_INT(two_step(s, f, r0, n, gs, a.packed, a.scale, s->symmetric ? NULL : a.zp, a.st), 0);
    CHECK_EQ_INT(direct(s, f, r0, n, gs, b.packed, b.scale, s->symmetric ? NULL : b.zp, b.st), 0);
    CHECKF(!memcmp(a.packed, b.packed, a.pb) && !memcmp(a.scale, b.scale, a.sb) && !memcmp(a.zp, b.zp, a.zb),
           "%s: format %d bits %d group %d sym %d mse %d rows %lld+%lld: bytes differ", what, s->format, s->bits,
           s->group_size, s->symmetric, s->mse, (long long)r0, (long long)n);
    CHECKF(same_stats(a.st, b.st, n), "%s: format %d bits %d group %d sym %d mse %d: statistics differ", what,
           s->format, s->bits, s->group_size, s->symmetric, s->mse);
    outs_free(&a);
    outs_free(&b);
}

static const ds_quant_spec specs[] = {
    {4, 128, 1, 0, DSQ_FMT_INT}, {4, 32, 0, 0, DSQ_FMT_INT}, {8, 0, 1, 0, DSQ_FMT_INT}, {8, 64, 0, 0, DSQ_FMT_INT},
    {4, 32, 1, 1, DSQ_FMT_INT},  {4, 16, 1, 0, DSQ_FMT_NVFP4}, {4, 16, 1, 0, DSQ_FMT_MXFP4},
    {4, 16, 1, 1, DSQ_FMT_NVFP4}, {4, 32, 1, 1, DSQ_FMT_MXFP4},
};

TEST(fp8_direct_equals_dequant_then_quant) {
    /* cols 384: whole blocks; 160 / 96 rows: the last block cut by the edge */
    static const int64_t shape[][2] = {{160, 384}, {96, 160}};
    for (int sh = 0; sh < 2; sh++)
        for (int specials = 0; specials < 2; specials++) {
            fp8_weight f;
            make_weight(&f, shape[sh][0], shape[sh][1], 128, 128, specials);
            for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
                const ds_quant_spec *s = &specs[k];
                if (s->group_size && f.cols % s->group_size) continue;
                check_spec(t_, s, &f, 0, f.rows, specials ? "specials" : "ordinary");
                /* a chunk starting inside a block (asymmetric INT packs 32/bits rows a word) */
                check_spec(t_, s, &f, 64, f.rows - 64, "chunk at row 64");
            }
            free_weight(&f);
        }
}

TEST(fp8_small_blocks) {
    /* blocks narrower than a vector and not dividing the columns */
    fp8_weight f;
    make_weight(&f, 40, 256, 3, 12, 1);
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) check_spec(t_, &specs[k], &f, 0, f.rows, "small blocks");
    free_weight(&f);
}

TEST(statistics_independent_of_threads) {
    fp8_weight f;
    make_weight(&f, 256, 512, 128, 128, 0);
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        const ds_quant_spec *s = &specs[k];
        outs a, b;
        outs_alloc(&a, s, f.rows, f.cols);
        outs_alloc(&b, s, f.rows, f.cols);
        int nt = omp_get_max_threads();
        omp_set_num_threads(1);
        CHECK_EQ_INT(direct(s, &f, 0, f.rows, 10.0f, a.packed, a.scale, s->symmetric ? NULL : a.zp, a.st), 0);
        omp_set_num_threads(3);
        CHECK_EQ_INT(direct(s, &f, 0, f.rows, 10.0f, b.packed, b.scale, s->symmetric ? NULL : b.zp, b.st), 0);
        omp_set_num_threads(nt);
        CHECKF(!memcmp(a.packed, b.packed, a.pb) && same_stats(a.st, b.st, f.rows),
               "format %d bits %d: 1 and 3 threads differ", s->format, s->bits);
        /* the statistics are sums of squares, not zero: the comparison above means something */
        CHECK(a.st[0].ref_sq > 0 && a.st[0].err_sq > 0);
        outs_free(&a);
        outs_free(&b);
    }
    free_weight(&f);
}

/* The BF16 kernel's RTN fast path (eight group scales at a time, E2M1 codes
 * by rounding) against the shared core group by group: one group for every
 * bf16 bit pattern as its largest |x| (non-finite ones too), at global
 * scales from tiny to huge. */
static uint16_t f2bf(float f) { return dsq_f2bf(f); }

TEST(fp4_rtn_equals_core_for_every_group_max) {
    static const float gss[] = {1.0f, 37.5f, 2688.0f, 1e-30f, 3e30f};
    for (int fmt = DSQ_FMT_NVFP4; fmt <= DSQ_FMT_MXFP4; fmt++)
        for (size_t gi = 0; gi < sizeof gss / sizeof gss[0]; gi++) {
            const int g = dsq_fp4_group_size(fmt);
            const int64_t cols = 8 * g * 4 + g, rows = (32768 + cols / g - 1) / (cols / g); /* a tail of one group */
            const int64_t n = rows * cols, ng = n / g;
            uint16_t *w = xmalloc((size_t)n * 2);
            for (int64_t k = 0; k < ng; k++) {
                uint16_t top = (uint16_t)(k & 0x7FFF);
                float amax = dsq_bf2f(top);
                for (int j = 0; j < g; j++) {
                    uint64_t r = rng_u64();
                    float v = dsq_isfinite(amax) ? amax * (float)((r >> 40) % 1000) / 1000.0f : (float)((r >> 40) % 100);
                    uint16_t b = f2bf(v);
                    if (dsq_bf2f(b) > amax && dsq_isfinite(amax)) b = top;
                    w[k * g + j] = (uint16_t)(b | ((r & 1) << 15));
                }
                w[k * g + (k * 7) % g] = (uint16_t)(top | ((k & 2) << 14));
            }
            ds_quant_spec s = {4, g, 1, 0, fmt};
            uint8_t *pa = xcalloc((size_t)n / 2, 1), *pb = xcalloc((size_t)n / 2, 1);
            uint8_t *sa = xcalloc((size_t)ng, 1), *sb = xcalloc((size_t)ng, 1);
            ds_quant_row_stats *st = xcalloc((size_t)rows, sizeof *st);
            CHECK_EQ_INT(ds_cpu_fp4_quant_rows(&s, w, rows, cols, gss[gi], pa, sa, st), 0);
            int bad_rows = 0;
            for (int64_t i = 0; i < rows; i++) {
                dsq_fp4_stats c = {0, 0, 0, 0};
                for (int64_t k = 0; k < cols / g; k++)
                    dsq_fp4_encode_group(fmt, 0, w + i * cols + k * g, g, gss[gi], pb + (i * cols + k * g) / 2,
                                         sb + i * (cols / g) + k, &c);
                double e = fabs(c.err_sq - st[i].err_sq), r = fabs(c.ref_sq - st[i].ref_sq);
                int same_nan = isnan(c.err_sq) == isnan(st[i].err_sq) && isnan(c.ref_sq) == isnan(st[i].ref_sq);
                if (!same_nan || (!isnan(c.err_sq) && e > 1e-12 * c.err_sq) || (!isnan(c.ref_sq) && r > 1e-12 * c.ref_sq) ||
                    c.max_abs_err != st[i].max_abs_err || c.nonfinite != st[i].nonfinite)
                    bad_rows++;
            }
            CHECKF(!memcmp(pa, pb, (size_t)n / 2) && !memcmp(sa, sb, (size_t)ng), "format %d gs %g: bytes differ from the core",
                   fmt, gss[gi]);
            CHECKF(bad_rows == 0, "format %d gs %g: %d rows' statistics differ from the core", fmt, gss[gi], bad_rows);
            free(w), free(pa), free(pb), free(sa), free(sb), free(st);
        }
}

/* Decompression (ds_cpu_fp4_unpack_rows, eight codes at a time) against the
 * core's dsq_fp4_dequantize element by element, bit for bit: every packed
 * byte (so every code in both nibbles) under every scale byte (NaN E4M3
 * codes, E8M0 0 and 255 included), global scales plain, tiny, huge, 0 (an
 * infinite eff) and NaN, to BF16 and to F32. */
TEST(fp4_unpack_equals_core_for_every_code_and_scale) {
    const float gss[] = {1.0f, 37.5f, 2688.0f, 1e-30f, 3e30f, 0.0f, NAN};
    const int64_t rows = 256, cols = 512;
    uint8_t *packed = xmalloc((size_t)(rows * cols / 2));
    for (int64_t i = 0; i < rows * cols / 2; i++) packed[i] = (uint8_t)(i * 7 + i / 256);
    uint16_t *o16 = xmalloc((size_t)(rows * cols * 2));
    float *o32 = xmalloc((size_t)(rows * cols * 4));
    for (int fmt = DSQ_FMT_NVFP4; fmt <= DSQ_FMT_MXFP4; fmt++) {
        const int g = dsq_fp4_group_size(fmt);
        const int64_t ng = cols / g;
        uint8_t *scale = xmalloc((size_t)(rows * ng));
        for (int64_t i = 0; i < rows; i++)
            for (int64_t k = 0; k < ng; k++) scale[i * ng + k] = (uint8_t)(i + k * 37);
        ds_quant_spec s = {4, g, 1, 0, fmt};
        for (size_t gi = 0; gi < sizeof gss / sizeof gss[0]; gi++) {
            CHECK_EQ_INT(ds_cpu_fp4_unpack_rows(&s, packed, scale, gss[gi], rows, cols, o16, DS_BF16), 0);
            CHECK_EQ_INT(ds_cpu_fp4_unpack_rows(&s, packed, scale, gss[gi], rows, cols, o32, DS_F32), 0);
            int64_t bad = 0;
            for (int64_t i = 0; i < rows; i++)
                for (int64_t c = 0; c < cols; c++) {
                    uint8_t b = packed[(i * cols + c) / 2];
                    float eff = dsq_fp4_eff_of_code(fmt, scale[i * ng + c / g], gss[gi]);
                    float d = dsq_fp4_dequantize((c & 1) ? (uint32_t)(b >> 4) : (uint32_t)(b & 15u), eff);
                    if (o16[i * cols + c] != dsq_f2bf(d) || memcmp(&o32[i * cols + c], &d, 4)) bad++;
                }
            CHECKF(bad == 0, "format %d gs %g: %lld elements differ from the core", fmt, gss[gi], (long long)bad);
        }
        free(scale);
    }
    free(packed), free(o16), free(o32);
}

TEST(bad_blocks_refused) {
    ds_quant_spec s = {4, 16, 1, 0, DSQ_FMT_NVFP4};
    uint8_t w[32] = {0}, p[16], sc[2];
    float scale = 1;
    CHECK_EQ_INT(ds_cpu_fp8_fp4_quant_rows(&s, w, 0, 1, 32, &scale, 1, 0, 128, 1.0f, p, sc, NULL), DS_EXIT_INPUT);
    ds_quant_spec q = {4, 32, 1, 0, DSQ_FMT_INT};
    uint32_t pk[4];
    uint16_t qs[1];
    CHECK_EQ_INT(ds_cpu_fp8_quant_rows(&q, w, 0, 1, 32, &scale, 1, 128, 0, pk, qs, NULL, NULL), DS_EXIT_INPUT);
}

TESTS_MAIN(T(fp8_direct_equals_dequant_then_quant), T(fp8_small_blocks), T(statistics_independent_of_threads),
           T(fp4_rtn_equals_core_for_every_group_max), T(fp4_unpack_equals_core_for_every_code_and_scale),
           T(bad_blocks_refused))
