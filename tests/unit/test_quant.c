/* test_quant.c - INT4/INT8 quantization kernels: layout, rtn against a plain
 * scalar re-implementation of compressed-tensors' arithmetic, edge groups,
 * chunking, mse against rtn, and the dev-tiny fixture. */
#include "test.h"
#include "common/util.h"
#include "formats/dtype.h"
#include "formats/hf.h"
#include "kernels/kernels.h"
#include "quant/quant_core.h"
#include "quant/qrules.h"
#include "quant/requant.h"
#include "convert/requant_plan.h"
#include "convert/xform.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static uint64_t rng_u64(void) {
    uint64_t x = rng_state;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return rng_state = x;
}
static double rng_unit(void) { return ((rng_u64() >> 11) + 0.5) / 9007199254740992.0; }
static double rng_gauss(void) { return sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit()); }

static float bf(float x) { return ds_bf16_to_f32(ds_f32_to_bf16(x)); }

/* Gaussian bf16 weights with a per-row scale, some outliers. */
static uint16_t *gauss_bf16(int64_t rows, int64_t cols, double sigma, int outliers) {
    uint16_t *w = xmalloc((size_t)(rows * cols) * 2);
    for (int64_t i = 0; i < rows; i++) {
        double rs = sigma * (0.25 + 1.5 * rng_unit());
        for (int64_t j = 0; j < cols; j++) {
            double v = rs * rng_gauss();
            if (outliers && rng_unit() < 0.002) v *= 8;
            w[i * cols + j] = ds_f32_to_bf16((float)v);
        }
    }
    return w;
}

typedef struct {
    uint32_t *packed, *zp;
    uint16_t *scale;
    ds_quant_row_stats *stats;
    int64_t nw, ns, nz;
} qout;

static void qout_alloc(qout *o, const ds_quant_spec *s, int64_t rows, int64_t cols) {
    int pf = 32 / s->bits;
    int64_t ng = s->group_size ? cols / s->group_size : 1;
    o->nw = rows * cols / pf;
    o->ns = rows * ng;
    o->nz = (rows + pf - 1) / pf * ng;
    o->packed = xcalloc((size_t)o->nw + 1, 4);
    o->scale = xcalloc((size_t)o->ns + 1, 2);
    o->zp = xcalloc((size_t)o->nz + 1, 4);
    o->stats = xcalloc((size_t)rows + 1, sizeof *o->stats);
}

static void qout_free(qout *o) {
    free(o->packed), free(o->scale), free(o->zp), free(o->stats);
}

static int qout_equal(const qout *a, const qout *b, int sym) {
    return !memcmp(a->packed, b->packed, (size_t)a->nw * 4) && !memcmp(a->scale, b->scale, (size_t)a->ns * 2) &&
           (sym || !memcmp(a->zp, b->zp, (size_t)a->nz * 4));
}

/* ------------------------------------------------------------ the scalar reference
 * Written from compressed-tensors' source directly (calculate_qparams,
 * _quantize, pack_to_int32), with the dtype table's conversions: each bf16
 * tensor op is a float op rounded to bf16. */
static void ref_quant(int bits, int group, int sym, const uint16_t *w, int64_t rows, int64_t cols,
                      uint32_t *packed, uint16_t *scale, uint32_t *zpw) {
    int pf = 32 / bits, qmin = -(1 << (bits - 1)), qmax = (1 << (bits - 1)) - 1;
    int64_t gs = group ? group : cols, ng = cols / gs;
    int8_t *zp = xcalloc((size_t)(rows * ng) + 1, 1);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t g = 0; g < ng; g++) {
            const uint16_t *gw = w + i * cols + g * gs;
            float mn = 0, mx = 0; /* min(0, min w), max(0, max w) */
            for (int64_t k = 0; k < gs; k++) {
                float x = ds_bf16_to_f32(gw[k]);
                if (x < mn) mn = x;
                if (x > mx) mx = x;
            }
            float s, z = 0;
            if (sym) {
                float amax = -mn > mx ? -mn : mx;
                s = bf(amax / (float)((qmax - qmin) / 2.0));
                if (s == 0) s = 0.0078125f; /* torch.finfo(torch.bfloat16).eps */
            } else {
                float s0 = bf(bf(mx - mn) / (float)(qmax - qmin));
                float zf = bf((float)qmin - bf(mn / s0));
                if (zf != zf) z = 0;
                else z = nearbyintf(zf < qmin ? qmin : zf > qmax ? qmax : zf);
                s = s0 == 0 ? 0.0078125f : s0;
            }
            scale[i * ng + g] = ds_f32_to_bf16(s);
            zp[i * ng + g] = (int8_t)z;
            for (int64_t k = 0; k < gs; k++) {
                float t = bf(ds_bf16_to_f32(gw[k]) / s);
                if (!sym) t = bf(t + z);
                t = t < qmin ? qmin : t > qmax ? qmax : t;
                int q = (int)nearbyintf(t);
                int64_t c = g * gs + k;
                uint32_t *word = &packed[i * (cols / pf) + c / pf];
                if (c % pf == 0) *word = 0;
                *word |= (uint32_t)(q - qmin) << ((c % pf) * bits);
            }
        }
    if (!sym)
        for (int64_t j = 0; j < (rows + pf - 1) / pf; j++)
            for (int64_t g = 0; g < ng; g++) {
                uint32_t v = 0;
                for (int k = 0; k < pf && j * pf + k < rows; k++)
                    v |= (uint32_t)(zp[(j * pf + k) * ng + g] - qmin) << (k * bits);
                zpw[j * ng + g] = v;
            }
    free(zp);
}

static const ds_quant_spec k_specs[] = {
    {4, 128, 1, 0, 0}, {4, 32, 1, 0, 0}, {4, 0, 1, 0, 0}, {8, 0, 1, 0, 0}, {8, 128, 1, 0, 0},
    {4, 128, 0, 0, 0}, {4, 0, 0, 0, 0},  {8, 0, 0, 0, 0}, {8, 64, 0, 0, 0},
};
#define N_SPECS ((int)(sizeof k_specs / sizeof k_specs[0]))

/* ------------------------------------------------------------ tests */

TEST(bf16_rounding_matches_dtype_table) {
    rng_seed(1);
    int bad = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)rng_u64();
        if (i < 65536) u = ((uint32_t)i << 16) | 0x8000u; /* every tie */
        float f;
        memcpy(&f, &u, 4);
        bad += dsq_f2bf(f) != ds_f32_to_bf16(f);
    }
    CHECK_EQ_INT(bad, 0);
}

/* The library divides by (qmax-qmin)/2 on the CPU and multiplies by its
 * reciprocal on CUDA (torch's div by a scalar). For every bf16 amax both round
 * to the same bf16 scale, so the choice does not matter; same for the
 * asymmetric divisors 15 and 255. */
TEST(scale_division_equals_reciprocal_multiply) {
    const float div[] = {7.5f, 127.5f, 15.0f, 255.0f};
    int bad = 0;
    for (int d = 0; d < 4; d++) {
        float rcp = 1.0f / div[d];
        for (uint32_t h = 0; h < 0x7F80; h++) {
            float a = ds_bf16_to_f32((uint16_t)h);
            if (ds_f32_to_bf16(a / div[d]) != ds_f32_to_bf16(a * rcp)) bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(packing_layout_int4_int8) {
    /* Weights chosen so that scale = 1 and q = w: amax 7.5 (INT4) / 127.5 (INT8)
     * at the group's first element, which rounds half-even to -8 / -128. */
    for (int bits = 4; bits <= 8; bits += 4) {
        int qmin = -(1 << (bits - 1)), qmax = -qmin - 1, pf = 32 / bits;
        const int64_t rows = 3, cols = 64;
        uint16_t w[3 * 64];
        int q[3 * 64];
        rng_seed(7 + bits);
        for (int64_t i = 0; i < rows * cols; i++) {
            q[i] = qmin + 1 + (int)(rng_u64() % (uint64_t)(qmax - qmin)); /* |q| <= amax */
            if (i % cols == 0) q[i] = qmin;
            w[i] = ds_f32_to_bf16(i % cols == 0 ? (float)qmin + 0.5f : (float)q[i]);
        }
        ds_quant_spec s = {bits, 0, 1, 0, 0};
        uint32_t packed[3 * 64] = {0};
        uint16_t scale[3] = {0};
        CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_BF16, rows, cols, packed, scale, NULL, NULL), 0);
        for (int i = 0; i < rows; i++) CHECK_EQ_INT(scale[i], 0x3F80); /* 1.0 */
        int bad = 0;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols / pf; j++) {
                uint32_t want = 0;
                for (int k = 0; k < pf; k++) want |= (uint32_t)(q[i * cols + j * pf + k] - qmin) << (k * bits);
                bad += packed[i * (cols / pf) + j] != want;
            }
        CHECKF(bad == 0, "bits %d: %d words differ from the LSB-first layout", bits, bad);
        /* Unpack gives q * 1.0 back. */
        float back[3 * 64];
        CHECK_EQ_INT(ds_cpu_quant_unpack_rows(&s, packed, scale, NULL, rows, cols, back, DS_F32), 0);
        bad = 0;
        for (int64_t i = 0; i < rows * cols; i++) bad += back[i] != (float)q[i];
        CHECKF(bad == 0, "bits %d: %d unpacked values differ", bits, bad);
    }
}

TEST(rtn_matches_scalar_reference) {
    rng_seed(11);
    const int64_t rows = 40, cols = 512; /* 40: asymmetric zero points end in a partial word */
    uint16_t *w = gauss_bf16(rows, cols, 0.02, 1);
    for (int k = 0; k < N_SPECS; k++) {
        const ds_quant_spec *s = &k_specs[k];
        qout a, b;
        qout_alloc(&a, s, rows, cols);
        qout_alloc(&b, s, rows, cols);
        CHECK_EQ_INT(ds_cpu_quant_rows(s, w, DS_BF16, rows, cols, a.packed, a.scale, a.zp, a.stats), 0);
        ref_quant(s->bits, s->group_size, s->symmetric, w, rows, cols, b.packed, b.scale, b.zp);
        CHECKF(qout_equal(&a, &b, s->symmetric), "spec bits %d group %d sym %d differs from the reference", s->bits,
               s->group_size, s->symmetric);
        qout_free(&a), qout_free(&b);
    }
    free(w);
}

TEST(unpack_roundtrip_and_stats) {
    rng_seed(13);
    const int64_t rows = 24, cols = 256;
    uint16_t *w = gauss_bf16(rows, cols, 0.05, 1);
    for (int k = 0; k < N_SPECS; k++) {
        ds_quant_spec s = k_specs[k];
        for (int mse = 0; mse <= 1; mse++) {
            s.mse = mse;
            qout a;
            qout_alloc(&a, &s, rows, cols);
            CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_BF16, rows, cols, a.packed, a.scale, a.zp, a.stats), 0);
            float *back = xmalloc((size_t)(rows * cols) * 4);
            uint16_t *back16 = xmalloc((size_t)(rows * cols) * 2);
            CHECK_EQ_INT(ds_cpu_quant_unpack_rows(&s, a.packed, a.scale, a.zp, rows, cols, back, DS_F32), 0);
            CHECK_EQ_INT(ds_cpu_quant_unpack_rows(&s, a.packed, a.scale, a.zp, rows, cols, back16, DS_BF16), 0);
            /* Re-derive every q from the unpacked value and check it against
             * the kernel's own stats: the error the stats report is the
             * error of what unpack gives. */
            double err = 0, ref = 0, st_err = 0, st_ref = 0;
            int bad16 = 0;
            for (int64_t i = 0; i < rows * cols; i++) {
                float x = ds_bf16_to_f32(w[i]);
                double d = (double)(back[i] - x);
                err += d * d, ref += (double)x * x;
                bad16 += ds_f32_to_bf16(back[i]) != back16[i] || bf(back[i]) != back[i];
            }
            for (int64_t i = 0; i < rows; i++) st_err += a.stats[i].err_sq, st_ref += a.stats[i].ref_sq;
            CHECK_EQ_INT(bad16, 0);
            CHECKF(fabs(err - st_err) <= 1e-9 * err && fabs(ref - st_ref) <= 1e-9 * ref,
                   "stats %g/%g vs %g/%g", st_err, st_ref, err, ref);
            double rel = sqrt(err / ref);
            /* INT4 with one scale per row of 256 outlier-laden values is the worst case here. */
            double lim = s.bits == 8 ? 0.02 : s.group_size ? 0.15 : 0.25;
            CHECKF(rel < lim, "bits %d group %d sym %d mse %d: rel error %.4f", s.bits,
                   s.group_size, s.symmetric, mse, rel);
            free(back), free(back16);
            qout_free(&a);
        }
    }
    free(w);
}

/* Decompression (eight elements at a time where a group is a multiple of 8
 * columns, element by element otherwise) against the core's dsq_dequantize
 * element by element, bit for bit: random words (every code), random zero
 * points, scales random and special (0, -0, the smallest subnormal, the
 * largest finite, inf, NaN), to BF16 and to F32; the specs cover both paths. */
TEST(unpack_equals_core_every_element) {
    static const ds_quant_spec specs[] = {
        {4, 32, 1, 0, 0}, {4, 128, 1, 0, 0}, {4, 64, 0, 0, 0}, {4, 0, 1, 0, 0}, {4, 0, 0, 0, 0},
        {8, 0, 1, 0, 0},  {8, 32, 0, 0, 0},  {8, 4, 1, 0, 0},  {8, 12, 0, 0, 0}, {8, 0, 0, 0, 0},
    };
    static const uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80, 0x7FC0, 0x3C00};
    rng_seed(17);
    const int64_t rows = 37, cols = 384;
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        const ds_quant_spec *s = &specs[k];
        const int pf = 32 / s->bits;
        const int64_t c = s->group_size == 0 && s->bits == 8 ? cols - 4 : cols; /* a row of 380: no 8-multiple */
        const int64_t gs = s->group_size ? s->group_size : c, ng = c / gs, wpr = c / pf;
        uint32_t *packed = xmalloc((size_t)(rows * wpr) * 4), *zp = xmalloc((size_t)((rows + pf - 1) / pf * ng) * 4);
        uint16_t *scale = xmalloc((size_t)(rows * ng) * 2), *o16 = xmalloc((size_t)(rows * c) * 2);
        float *o32 = xmalloc((size_t)(rows * c) * 4);
        for (int64_t i = 0; i < rows * wpr; i++) packed[i] = (uint32_t)rng_u64();
        for (int64_t i = 0; i < (rows + pf - 1) / pf * ng; i++) zp[i] = (uint32_t)rng_u64();
        for (int64_t i = 0; i < rows * ng; i++) {
            uint64_t r = rng_u64();
            scale[i] = r % 4 == 0 ? special[(r >> 8) % (sizeof special / 2)] : (uint16_t)(r >> 16);
        }
        const uint32_t *z = s->symmetric ? NULL : zp;
        CHECK_EQ_INT(ds_cpu_quant_unpack_rows(s, packed, scale, z, rows, c, o16, DS_BF16), 0);
        CHECK_EQ_INT(ds_cpu_quant_unpack_rows(s, packed, scale, z, rows, c, o32, DS_F32), 0);
        int64_t bad = 0;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < c; j++) {
                int64_t g = j / gs;
                int zpv = s->symmetric ? 0 : dsq_decode(zp[(i / pf) * ng + g], (int)(i % pf), s->bits);
                int q = dsq_decode(packed[i * wpr + j / pf], (int)(j % pf), s->bits);
                float d = dsq_dequantize(q, dsq_bf2f(scale[i * ng + g]), zpv);
                bad += o16[i * c + j] != dsq_f2bf(d) || memcmp(&o32[i * c + j], &d, 4) != 0;
            }
        CHECKF(bad == 0, "bits %d group %d sym %d: %lld elements differ from the core", s->bits, s->group_size,
               s->symmetric, (long long)bad);
        free(packed), free(zp), free(scale), free(o16), free(o32);
    }
}

/* All-zero, constant, +-extreme and tiny groups: finite scales, exact or
 * near-exact reconstruction. (Extremes are +-1e38: from about 0.93 of the
 * largest bf16 up, -8 * amax/7.5 itself overflows bf16, in the library's
 * dequantization as here; edge_groups_match_reference covers those bytes.) */
TEST(edge_groups) {
    const int64_t cols = 128;
    const float maxbf = bf(1e38f), tiny = ds_bf16_to_f32(0x0001);
    for (int k = 0; k < N_SPECS; k++) {
        ds_quant_spec s = k_specs[k];
        if (s.group_size && cols % s.group_size) continue;
        const int64_t rows = 8;
        uint16_t w[8 * 128];
        for (int64_t j = 0; j < cols; j++) {
            w[0 * cols + j] = 0x0000;                                   /* all zero */
            w[1 * cols + j] = ds_f32_to_bf16(0.3f);                     /* constant positive */
            w[2 * cols + j] = ds_f32_to_bf16(-0.3f);                    /* constant negative */
            w[3 * cols + j] = ds_f32_to_bf16(j % 2 ? maxbf : -maxbf);  /* +-largest bf16 */
            w[4 * cols + j] = ds_f32_to_bf16(j % 3 ? tiny : -tiny);    /* smallest subnormal */
            w[5 * cols + j] = ds_f32_to_bf16(j == 5 ? 1e4f : 1e-4f);   /* one huge outlier */
            w[6 * cols + j] = ds_f32_to_bf16(-(float)j);                /* ramp, all <= 0 */
            w[7 * cols + j] = ds_f32_to_bf16(j == 0 ? -maxbf : 0.f);   /* one extreme, rest 0 */
        }
        for (int mse = 0; mse <= 1; mse++) {
            s.mse = mse;
            qout a;
            qout_alloc(&a, &s, rows, cols);
            CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_BF16, rows, cols, a.packed, a.scale, a.zp, a.stats), 0);
            float back[8 * 128];
            CHECK_EQ_INT(ds_cpu_quant_unpack_rows(&s, a.packed, a.scale, a.zp, rows, cols, back, DS_F32), 0);
            int64_t ng = s.group_size ? cols / s.group_size : 1;
            int nonfin = 0;
            for (int64_t i = 0; i < rows * ng; i++) nonfin += !isfinite(ds_bf16_to_f32(a.scale[i]));
            for (int64_t i = 0; i < rows * cols; i++) nonfin += !isfinite(back[i]);
            CHECK_EQ_INT(nonfin, 0);
            /* All zero: scale eps (0x3C00), every value 0, reconstructed exactly. */
            CHECK_EQ_INT(a.scale[0], 0x3C00);
            for (int64_t j = 0; j < cols; j++) CHECK(back[j] == 0.0f);
            /* Constant rows and the one-extreme row come back within a scale step;
             * the zeros of row 7 exactly. */
            for (int64_t j = 0; j < cols; j++) {
                CHECKF(fabsf(back[cols + j] - 0.3f) <= 0.3f / 7.0f, "const + %g", back[cols + j]);
                CHECKF(fabsf(back[2 * cols + j] + 0.3f) <= 0.3f / 7.0f, "const - %g", back[2 * cols + j]);
                if (j) CHECK(back[7 * cols + j] == 0.0f);
            }
            CHECKF(fabsf(back[7 * cols] + maxbf) <= maxbf / 7.0f, "extreme %g", back[7 * cols]);
            /* +-max: symmetric gets q = +-7.5 -> 7 / -8: within one step. */
            for (int64_t j = 0; j < cols; j++) {
                float x = ds_bf16_to_f32(w[3 * cols + j]);
                CHECKF(fabsf(back[3 * cols + j] - x) <= maxbf / 3.0f, "max %g vs %g", back[3 * cols + j], x);
            }
            qout_free(&a);
        }
    }
}

/* Edge rows, the bf16 extremes included, against the scalar reference. */
TEST(edge_groups_match_reference) {
    const int64_t rows = 10, cols = 128;
    uint16_t w[10 * 128];
    const uint16_t maxbf = 0x7F7F, tiny = 0x0001;
    for (int64_t j = 0; j < cols; j++) {
        w[0 * cols + j] = 0;
        w[1 * cols + j] = ds_f32_to_bf16(0.3f);
        w[2 * cols + j] = ds_f32_to_bf16(-0.3f);
        w[3 * cols + j] = j % 2 ? maxbf : (uint16_t)(maxbf | 0x8000);
        w[4 * cols + j] = j % 3 ? tiny : (uint16_t)(tiny | 0x8000);
        w[5 * cols + j] = j == 5 ? maxbf : 0;
        w[6 * cols + j] = j == 9 ? (uint16_t)(maxbf | 0x8000) : ds_f32_to_bf16(1.0f);
        w[7 * cols + j] = ds_f32_to_bf16((float)j - 64.0f);
        w[8 * cols + j] = j % 2 ? 0x8000 : 0; /* -0 and +0 */
        w[9 * cols + j] = ds_f32_to_bf16(j < 64 ? 2.0f : 1e-30f);
    }
    for (int k = 0; k < N_SPECS; k++) {
        const ds_quant_spec *s = &k_specs[k];
        qout a, b;
        qout_alloc(&a, s, rows, cols);
        qout_alloc(&b, s, rows, cols);
        CHECK_EQ_INT(ds_cpu_quant_rows(s, w, DS_BF16, rows, cols, a.packed, a.scale, a.zp, NULL), 0);
        ref_quant(s->bits, s->group_size, s->symmetric, w, rows, cols, b.packed, b.scale, b.zp);
        CHECKF(qout_equal(&a, &b, s->symmetric), "spec bits %d group %d sym %d differs from the reference", s->bits,
               s->group_size, s->symmetric);
        qout_free(&a), qout_free(&b);
    }
}

TEST(constant_group_library_values) {
    /* A symmetric INT4 group of 0.3: scale bf16(0.3/7.5); 0.3/scale rounds to
     * ~7.5 in bf16, clamped to 7 before rounding; -0.3 gives -8. */
    ds_quant_spec s = {4, 0, 1, 0, 0};
    uint16_t w[16];
    for (int j = 0; j < 8; j++) w[j] = ds_f32_to_bf16(0.3f), w[8 + j] = ds_f32_to_bf16(-0.3f);
    uint32_t packed[2];
    uint16_t scale[2];
    CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_BF16, 2, 8, packed, scale, NULL, NULL), 0);
    CHECK_EQ_INT(scale[0], ds_f32_to_bf16(bf(0.3f) / 7.5f));
    CHECK_EQ_INT(packed[0], 0xFFFFFFFFu); /* 7 + 8 = 15 in every nibble */
    CHECK_EQ_INT(packed[1], 0x00000000u); /* -8 + 8 = 0 */
}

TEST(chunks_and_f32_input_give_same_bytes) {
    rng_seed(17);
    const int64_t rows = 72, cols = 384;
    uint16_t *w = gauss_bf16(rows, cols, 0.01, 1);
    float *wf = xmalloc((size_t)(rows * cols) * 4);
    for (int64_t i = 0; i < rows * cols; i++) wf[i] = ds_bf16_to_f32(w[i]);
    for (int k = 0; k < N_SPECS; k++) {
        ds_quant_spec s = k_specs[k];
        if (s.group_size && cols % s.group_size) continue;
        s.mse = k & 1;
        qout whole, parts, fromf;
        qout_alloc(&whole, &s, rows, cols);
        qout_alloc(&parts, &s, rows, cols);
        qout_alloc(&fromf, &s, rows, cols);
        CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_BF16, rows, cols, whole.packed, whole.scale, whole.zp, NULL), 0);
        CHECK_EQ_INT(ds_cpu_quant_rows(&s, wf, DS_F32, rows, cols, fromf.packed, fromf.scale, fromf.zp, NULL), 0);
        /* Chunks of 8, 24, 16 and the 24 left, placed by ds_quant_chunk_ranges. */
        const int64_t cuts[] = {0, 8, 32, 48, 72};
        for (int c = 0; c < 4; c++) {
            int64_t r0 = cuts[c], n = cuts[c + 1] - cuts[c];
            ds_quant_range rg[DS_QUANT_MAX_OUTPUTS];
            int nr;
            CHECK_EQ_INT(ds_quant_chunk_ranges(&s, rows, cols, r0, n, rg, &nr), 0);
            CHECK_EQ_INT(nr, s.symmetric ? 3 : 4);
            CHECK_EQ_INT(ds_cpu_quant_rows(&s, w + r0 * cols, DS_BF16, n, cols, (uint32_t *)((uint8_t *)parts.packed + rg[0].off),
                                           (uint16_t *)((uint8_t *)parts.scale + rg[1].off),
                                           s.symmetric ? NULL : (uint32_t *)((uint8_t *)parts.zp + rg[2].off), NULL),
                         0);
        }
        CHECKF(qout_equal(&whole, &parts, s.symmetric), "spec %d: chunked differs", k);
        CHECKF(qout_equal(&whole, &fromf, s.symmetric), "spec %d: F32 input differs", k);
        qout_free(&whole), qout_free(&parts), qout_free(&fromf);
    }
    /* An asymmetric chunk that splits a zero-point word is refused. */
    ds_quant_spec a = {4, 128, 0, 0, 0};
    ds_quant_range rg[DS_QUANT_MAX_OUTPUTS];
    int nr;
    CHECK_EQ_INT(ds_quant_chunk_ranges(&a, rows, cols, 4, 8, rg, &nr), DS_EXIT_INPUT);
    free(w), free(wf);
}

/* --method mse on Gaussian weights: never worse than rtn per group (candidate
 * 0 is rtn), and at 4 bits at least 5% less total squared error. */
TEST(mse_beats_rtn) {
    rng_seed(23);
    const int64_t rows = 256, cols = 1024;
    uint16_t *w = gauss_bf16(rows, cols, 0.02, 0);
    const ds_quant_spec specs[] = {{4, 128, 1, 0, 0}, {4, 128, 0, 0, 0}, {4, 0, 1, 0, 0}, {8, 0, 1, 0, 0}, {8, 128, 0, 0, 0}};
    for (int k = 0; k < 5; k++) {
        ds_quant_spec s = specs[k];
        double tot[2] = {0, 0};
        qout o[2];
        for (int mse = 0; mse <= 1; mse++) {
            s.mse = mse;
            qout_alloc(&o[mse], &s, rows, cols);
            CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_BF16, rows, cols, o[mse].packed, o[mse].scale, o[mse].zp,
                                           o[mse].stats), 0);
            for (int64_t i = 0; i < rows; i++) tot[mse] += o[mse].stats[i].err_sq;
        }
        int worse = 0;
        for (int64_t i = 0; i < rows; i++) worse += o[1].stats[i].err_sq > o[0].stats[i].err_sq * (1 + 1e-12);
        CHECKF(worse == 0, "spec %d: %d rows worse with mse", k, worse);
        double cut = 1.0 - tot[1] / tot[0];
        printf("# mse vs rtn, bits %d group %d sym %d: total squared error %.4g -> %.4g (%.1f%% less)\n", s.bits,
               s.group_size, s.symmetric, tot[0], tot[1], 100 * cut);
        if (s.bits == 4) CHECKF(cut >= 0.05, "bits 4 group %d sym %d: only %.2f%% less error", s.group_size, s.symmetric,
                                100 * cut);
        qout_free(&o[0]), qout_free(&o[1]);
    }
    free(w);
}

TEST(bad_arguments_refused) {
    uint16_t w[64] = {0};
    uint32_t p[64];
    uint16_t sc[8];
    ds_quant_spec s = {4, 24, 1, 0, 0}; /* 24 does not divide 64 */
    CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_BF16, 1, 64, p, sc, NULL, NULL), DS_EXIT_INPUT);
    s = (ds_quant_spec){3, 0, 1, 0, 0};
    CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_BF16, 1, 64, p, sc, NULL, NULL), DS_EXIT_INPUT);
    s = (ds_quant_spec){4, 0, 1, 0, 0};
    CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_F16, 1, 64, p, sc, NULL, NULL), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_cpu_quant_rows(&s, w, DS_BF16, 1, 60, p, sc, NULL, NULL), DS_EXIT_INPUT); /* 60 % 8 */
    s = (ds_quant_spec){4, 12, 1, 0, 0};
    CHECK_EQ_INT(ds_quant_spec_check(&s), DS_EXIT_USAGE);
    s = (ds_quant_spec){8, 12, 1, 0, 0};
    CHECK_EQ_INT(ds_quant_spec_check(&s), 0);
}

TEST(outputs_names_shapes) {
    ds_quant_spec s = {4, 128, 0, 0, 0};
    ds_quant_output o[DS_QUANT_MAX_OUTPUTS];
    int n;
    CHECK_EQ_INT(ds_quant_outputs(&s, "model.layers.0.mlp.down_proj.weight", 260, 512, o, &n), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_quant_outputs(&s, "model.layers.0.mlp.down_proj.weight", 256, 512, o, &n), 0);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK(!strcmp(o[0].name, "model.layers.0.mlp.down_proj.weight_packed") && o[0].dtype == DS_I32 &&
              o[0].shape[0] == 256 && o[0].shape[1] == 64);
        CHECK(!strcmp(o[1].name, "model.layers.0.mlp.down_proj.weight_scale") && o[1].dtype == DS_BF16 &&
              o[1].shape[0] == 256 && o[1].shape[1] == 4);
        CHECK(!strcmp(o[2].name, "model.layers.0.mlp.down_proj.weight_zero_point") && o[2].dtype == DS_I32 &&
              o[2].shape[0] == 32 && o[2].shape[1] == 4);
        CHECK(!strcmp(o[3].name, "model.layers.0.mlp.down_proj.weight_shape") && o[3].dtype == DS_I64 &&
              o[3].ndim == 1 && o[3].shape[0] == 2);
    }
    ds_quant_outputs_free(o, n);
    ds_quant_spec c = {8, 0, 1, 0, 0};
    CHECK_EQ_INT(ds_quant_outputs(&c, "x.weight", 160, 256, o, &n), 0);
    CHECK_EQ_INT(n, 3);
    if (n == 3) CHECK(o[0].shape[1] == 64 && o[1].shape[1] == 1 && !strcmp(o[2].name, "x.weight_shape"));
    ds_quant_outputs_free(o, n);
    CHECK_EQ_INT(ds_quant_outputs(&c, "x.bias", 160, 256, o, &n), DS_EXIT_INPUT);
    uint8_t b[16];
    ds_quant_shape_bytes(7168, 18432, b);
    CHECK(b[0] == 0x00 && b[1] == 0x1C && b[2] == 0 && b[8] == 0x00 && b[9] == 0x48 && b[15] == 0);
}

/* The dev-tiny fixture: every Linear the rules quantize, from its FP8 bytes
 * dequantized exactly as fp8-to-bf16 does; INT8 per channel under 2% and INT4
 * group 128 under 15% relative error per tensor; the F32 reading of the same
 * FP8 (ds_cpu_dequant_fp8_f32, what an F32 consumer gets) gives identical bytes. */
TEST(dev_tiny_fixture) {
    ds_ckpt c;
    if (ds_ckpt_open(DS_TEST_DATA "/dev-tiny/input", &c)) {
        CHECKF(0, "cannot open the dev-tiny fixture");
        return;
    }
    for (int bits = 8; bits >= 4; bits -= 4) {
        ds_quant_spec s;
        ds_quant_spec_default(&s, bits);
        ds_qrules *r;
        CHECK_EQ_INT(ds_qrules_new(&r, &c.config, &s, NULL, 0), 0);
        int n_q = 0, over = 0, differ = 0;
        double worst = 0, tot_err = 0, tot_ref = 0;
        for (int i = 0; i < c.n_entries; i++) {
            const ds_ckpt_entry *e = &c.entries[i];
            ds_qr_decision d;
            CHECK_EQ_INT(ds_qrules_decide(r, e->name, e->info->ndim, e->info->shape, &d), 0);
            if (d.action != DS_QR_QUANTIZE) continue;
            CHECK(e->info->dtype == DS_F8_E4M3);
            int64_t rows = e->info->shape[0], cols = e->info->shape[1];
            char sn[512];
            snprintf(sn, sizeof sn, "%s_scale_inv", e->name);
            const ds_ckpt_entry *se = ds_ckpt_find(&c, sn);
            CHECK(se != NULL);
            if (!se) continue;
            const float *scale = (const float *)ds_ckpt_data(&c, se);
            uint16_t *wb = xmalloc((size_t)(rows * cols) * 2);
            float *wf = xmalloc((size_t)(rows * cols) * 4);
            ds_cpu_dequant_fp8_bf16(ds_ckpt_data(&c, e), wb, 0, rows, cols, scale, se->info->shape[1], 128, 128);
            ds_cpu_dequant_fp8_f32(ds_ckpt_data(&c, e), wf, 0, rows, cols, scale, se->info->shape[1], 128, 128);
            qout a, b;
            qout_alloc(&a, &s, rows, cols);
            qout_alloc(&b, &s, rows, cols);
            CHECK_EQ_INT(ds_cpu_quant_rows(&s, wb, DS_BF16, rows, cols, a.packed, a.scale, a.zp, a.stats), 0);
            CHECK_EQ_INT(ds_cpu_quant_rows(&s, wf, DS_F32, rows, cols, b.packed, b.scale, b.zp, NULL), 0);
            differ += !qout_equal(&a, &b, s.symmetric);
            ds_quant_stats st = {0};
            ds_quant_stats_add(&st, a.stats, rows, cols);
            double rel = ds_quant_stats_rel(&st);
            worst = rel > worst ? rel : worst;
            over += rel >= (bits == 8 ? 0.02 : 0.15);
            tot_err += st.err_sq, tot_ref += st.ref_sq;
            n_q++;
            qout_free(&a), qout_free(&b);
            free(wb), free(wf);
        }
        printf("# dev-tiny INT%d: %d tensors quantized, worst relative error %.4f, overall %.4f\n", bits, n_q, worst,
               sqrt(tot_err / tot_ref));
        /* 2 x 5 attention + 3 dense + 3 shared + 8 x 3 routed; INT4 keeps both
         * q_b_proj (input 192 is not a multiple of 128). */
        CHECK_EQ_INT(n_q, bits == 8 ? 40 : 38);
        CHECK_EQ_INT(over, 0);
        CHECK_EQ_INT(differ, 0);
        ds_qrules_free(r);
    }
    ds_ckpt_close(&c);
}

/* An item's scales, handed to the writer at its last chunk, stay as they were
 * while the next items run: the executor's writer may still be writing them.
 * A --part skips items, so the next item to run can be any later one; the one
 * DS_XF_N_ACC items on shared the buffer (a part's file differed from the whole
 * run's when the writer was slower than the transform). */
TEST(deferred_scales_survive_later_items) {
    ds_ckpt c;
    if (ds_ckpt_open(DS_TEST_DATA "/dev-tiny/input", &c)) {
        CHECKF(0, "cannot open the dev-tiny fixture");
        return;
    }
    ds_quant_spec s;
    ds_quant_spec_default(&s, 4);
    ds_plan p;
    CHECK_EQ_INT(ds_plan_requant(&c, &s, NULL, 0, &p), 0);
    size_t max_in = 0, max_out = 0;
    int a = -1, b = -1;
    for (int i = 0; i < p.n_items; i++) {
        const ds_plan_item *it = &p.items[i];
        if (it->xform != DS_XF_QUANT) continue;
        int64_t rows = ds_tensor_rows(it->src->info);
        size_t in = (size_t)(rows * ds_tensor_cols(it->src->info)) * ds_dtype_size(it->src->info->dtype);
        if (in > max_in) max_in = in;
        if (ds_xf_out_bytes(it, rows) > max_out) max_out = ds_xf_out_bytes(it, rows);
        if (a < 0) a = i;
        else if (b < 0 && (i - a) % DS_XF_N_ACC == 0) b = i;
    }
    CHECK(a >= 0 && b > a);
    ds_xf_ctx *x = NULL;
    CHECK_EQ_INT(ds_xf_create(&x, &c, &p, 0, max_in, max_out), 0);
    if (a >= 0 && b > a && x) {
        uint8_t *out = xmalloc(max_out), *keep = NULL;
        ds_xf_result ra, rb;
        const ds_plan_item *ia = &p.items[a], *ib = &p.items[b];
        int64_t na = ds_tensor_rows(ia->src->info), nb = ds_tensor_rows(ib->src->info);
        CHECK(ds_xf_chunk_rows(ia, max_in) == na && ds_xf_chunk_rows(ib, max_in) == nb);
        CHECK_EQ_INT(ds_xf_run(x, ia, 0, na, ds_ckpt_data(&c, ia->src), out, &ra), 0);
        CHECK(ra.n >= 2 && ra.part[1].deferred_done && ra.part[1].bytes > 0);
        keep = xmalloc(ra.part[1].bytes);
        memcpy(keep, ra.part[1].data, ra.part[1].bytes);
        /* the item DS_XF_N_ACC on runs next (those between skipped, as a --part does) */
        CHECK_EQ_INT(ds_xf_run(x, ib, 0, nb, ds_ckpt_data(&c, ib->src), out, &rb), 0);
        CHECKF(memcmp(keep, ra.part[1].data, ra.part[1].bytes) == 0,
               "item %d's scales changed while item %d ran", a, b);
        free(keep);
        free(out);
    }
    ds_xf_destroy(x);
    ds_plan_free(&p);
    ds_ckpt_close(&c);
}

TESTS_MAIN(T(bf16_rounding_matches_dtype_table), T(scale_division_equals_reciprocal_multiply),
           T(packing_layout_int4_int8), T(rtn_matches_scalar_reference), T(unpack_roundtrip_and_stats),
           T(unpack_equals_core_every_element),
           T(edge_groups), T(edge_groups_match_reference), T(constant_group_library_values), T(chunks_and_f32_input_give_same_bytes),
           T(mse_beats_rtn), T(bad_arguments_refused), T(outputs_names_shapes), T(dev_tiny_fixture),
           T(deferred_scales_survive_later_items))
