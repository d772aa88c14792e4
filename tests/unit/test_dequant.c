/* test_dequant.c - the CPU FP8 -> BF16 kernel against the contract, written
 * out independently here: out = bf16_rne((float)e4m3(w) * scale), one float32
 * multiply, ties to even, every NaN 0x7FFF (what upstream's GPU writes). */
#include "test.h"
#include "kernels/kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* e4m3fn decoded from its fields, in double (exact). */
static double ref_decode(uint8_t v) {
    int s = v >> 7, e = (v >> 3) & 15, m = v & 7;
    if (e == 15 && m == 7) return NAN;
    double x = e ? ldexp(1.0 + m / 8.0, e - 7) : ldexp(m / 8.0, -6);
    return s ? -x : x;
}

/* bf16 from a float, by the rule: keep the top 16 bits, round on the low 16. */
static uint16_t ref_bf16(float f) {
    if (isnan(f)) return 0x7FFF;
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t hi = x >> 16, lo = x & 0xFFFF;
    if (lo > 0x8000 || (lo == 0x8000 && (hi & 1))) hi++;
    return (uint16_t)hi;
}

static uint16_t ref_out(uint8_t code, float scale) { return ref_bf16((float)ref_decode(code) * scale); }

static float bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

TEST(all_codes_times_scales) {
    /* plain, rounding-tie makers (both parities), subnormal products, ue8m0 powers, large */
    float scales[64];
    int n = 0;
    scales[n++] = 1.0f; scales[n++] = 0.5f; scales[n++] = 1.0f / 448.0f; scales[n++] = 3.0517578e-05f;
    scales[n++] = bits(0x3F808000); scales[n++] = bits(0x3F818000); scales[n++] = bits(0x3F838000);
    scales[n++] = 1e-38f; scales[n++] = 1e-40f; scales[n++] = 3.0e38f; scales[n++] = -0.75f; scales[n++] = 0.0f;
    for (int e = -127; e <= 127; e += 12) scales[n++] = ldexpf(1.0f, e); /* ue8m0-style */
    uint8_t w[256];
    uint16_t out[256];
    for (int i = 0; i < 256; i++) w[i] = (uint8_t)i;
    int bad = 0, ties = 0;
    for (int k = 0; k < n; k++) {
        /* one row of 256 columns, one block covering it */
        ds_cpu_dequant_fp8_bf16(w, out, 0, 1, 256, &scales[k], 1, 128, 256);
        for (int i = 0; i < 256; i++) {
            uint16_t want = ref_out((uint8_t)i, scales[k]);
            float p = (float)ref_decode((uint8_t)i) * scales[k];
            uint32_t pb;
            memcpy(&pb, &p, 4);
            ties += !isnan(p) && (pb & 0xFFFF) == 0x8000;
            if (out[i] != want && bad++ < 5)
                fprintf(stderr, "code 0x%02x scale %a: got 0x%04x want 0x%04x\n", i, scales[k], out[i], want);
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECKF(ties > 20, "only %d rounding ties exercised", ties);
}

TEST(nan_codes_give_canonical_nan) {
    uint8_t w[2] = {0x7F, 0xFF};
    uint16_t out[2];
    float s = 2.0f;
    ds_cpu_dequant_fp8_bf16(w, out, 0, 1, 2, &s, 1, 128, 128);
    CHECK_EQ_INT(out[0], 0x7FFF);
    CHECK_EQ_INT(out[1], 0x7FFF);
}

TEST(subnormal_codes_exact) {
    uint8_t w[8];
    uint16_t out[8];
    float s = 1.0f;
    for (int m = 0; m < 8; m++) w[m] = (uint8_t)m; /* exponent 0: m/8 * 2^-6 */
    ds_cpu_dequant_fp8_bf16(w, out, 0, 1, 8, &s, 1, 128, 128);
    for (int m = 0; m < 8; m++) {
        float want = ldexpf((float)m, -9);
        uint32_t wb;
        memcpy(&wb, &want, 4);
        CHECK_EQ_INT(out[m], wb >> 16); /* exact in bf16 */
    }
}

/* A [200, 300] weight with 128x128 blocks: partial blocks on both edges, each
 * block its own scale; converted whole and in two chunks (rows 0..127, 128..199). */
TEST(partial_edge_blocks_and_chunks) {
    enum { R = 200, C = 300, SR = 2, SC = 3 };
    uint8_t *w = malloc(R * C);
    uint16_t *a = malloc(R * C * 2), *b = malloc(R * C * 2);
    float s[SR * SC];
    unsigned x = 12345;
    for (int i = 0; i < R * C; i++) { x = x * 1103515245u + 12345u; w[i] = (uint8_t)(x >> 16); }
    for (int i = 0; i < SR * SC; i++) s[i] = ldexpf(1.0f + i / 7.0f, -8 + i);
    ds_cpu_dequant_fp8_bf16(w, a, 0, R, C, s, SC, 128, 128);
    ds_cpu_dequant_fp8_bf16(w, b, 0, 128, C, s, SC, 128, 128);
    ds_cpu_dequant_fp8_bf16(w + 128 * C, b + 128 * C, 128, R - 128, C, s, SC, 128, 128);
    int bad = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) bad += a[r * C + c] != ref_out(w[r * C + c], s[(r / 128) * SC + c / 128]);
    CHECK_EQ_INT(bad, 0);
    CHECK(memcmp(a, b, R * C * 2) == 0);
    free(w); free(a); free(b);
}

TEST(f32_variant_is_bf16_widened) {
    enum { R = 130, C = 140 };
    uint8_t *w = malloc(R * C);
    uint16_t *h = malloc(R * C * 2);
    float *f = malloc(R * C * 4), s[4] = {0.01f, 3.0f, 1e-3f, 0.25f};
    for (int i = 0; i < R * C; i++) w[i] = (uint8_t)(i * 37);
    ds_cpu_dequant_fp8_bf16(w, h, 0, R, C, s, 2, 128, 128);
    ds_cpu_dequant_fp8_f32(w, f, 0, R, C, s, 2, 128, 128);
    int bad = 0;
    for (int i = 0; i < R * C; i++) {
        uint32_t fb;
        memcpy(&fb, &f[i], 4);
        bad += (fb >> 16) != h[i] || (fb & 0xFFFF) != 0;
    }
    CHECK_EQ_INT(bad, 0);
    free(w); free(h); free(f);
}

/* ds_cpu_fp8_absmax (nvfp4's global-scale input, read from the codes) against
 * dequantize-then-scan: random codes with NaN codes, partial edge blocks,
 * negative, zero and huge scales (a block whose largest product overflows to
 * inf must fall back to the next finite element, as the scan skips inf). */
TEST(fp8_absmax_equals_dequant_then_scan) {
    enum { R = 200, C = 300, SR = 2, SC = 3 };
    uint8_t *w = malloc(R * C);
    uint16_t *h = malloc(R * C * 2);
    unsigned x = 777;
    for (int trial = 0; trial < 6; trial++) {
        float s[SR * SC];
        for (int i = 0; i < R * C; i++) { x = x * 1103515245u + 12345u; w[i] = (uint8_t)(x >> 16); }
        if (trial == 1) for (int i = 0; i < R * C; i++) w[i] |= 0x7F; /* NaN codes everywhere */
        for (int i = 0; i < SR * SC; i++) {
            x = x * 1103515245u + 12345u;
            s[i] = ldexpf(1.0f + (x >> 20) / 4096.0f, (int)((x >> 8) % 40) - 20) * ((x & 1) ? -1.0f : 1.0f);
        }
        if (trial == 2) s[0] = 0.0f;
        if (trial >= 3) s[trial - 3] = 1e36f; /* 448 * s overflows; smaller codes do not */
        ds_cpu_dequant_fp8_bf16(w, h, 0, R, C, s, SC, 128, 128);
        float want = ds_cpu_bf16_absmax(h, R * C);
        float got = ds_cpu_fp8_absmax(w, 0, R, C, s, SC, 128, 128);
        CHECKF(memcmp(&want, &got, 4) == 0, "trial %d: %g vs %g", trial, want, got);
        /* the row range form: rows 128.. only */
        ds_cpu_dequant_fp8_bf16(w + 128 * C, h, 128, R - 128, C, s, SC, 128, 128);
        want = ds_cpu_bf16_absmax(h, (R - 128) * C);
        got = ds_cpu_fp8_absmax(w + 128 * C, 128, R - 128, C, s, SC, 128, 128);
        CHECKF(memcmp(&want, &got, 4) == 0, "trial %d rows 128..: %g vs %g", trial, want, got);
        /* rows 100..: the first band cut by the range */
        ds_cpu_dequant_fp8_bf16(w + 100 * C, h, 100, R - 100, C, s, SC, 128, 128);
        want = ds_cpu_bf16_absmax(h, (R - 100) * C);
        got = ds_cpu_fp8_absmax(w + 100 * C, 100, R - 100, C, s, SC, 128, 128);
        CHECKF(memcmp(&want, &got, 4) == 0, "trial %d rows 100..: %g vs %g", trial, want, got);
    }
    free(w); free(h);
}

TESTS_MAIN(T(all_codes_times_scales), T(nan_codes_give_canonical_nan), T(subnormal_codes_exact),
           T(partial_edge_blocks_and_chunks), T(f32_variant_is_bf16_widened),
           T(fp8_absmax_equals_dequant_then_scan))
