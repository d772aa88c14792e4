/* test_dtype.c - the dtype traits table (formats/dtype.h) and its scalar
 * conversions, checked against decoders and a nearest-value encoder written
 * here from the formats' definitions (not from formats/dtype.c):
 *   e4m3fn  (-1)^s * 2^(e-7) * (1 + m/8), subnormal (-1)^s * 2^-6 * m/8,
 *           S.1111.111 is NaN, no infinity, max 448
 *   e5m2    (-1)^s * 2^(e-15) * (1 + m/4), subnormal 2^-14 * m/4, e=31 inf/NaN
 *   f16     (-1)^s * 2^(e-15) * (1 + m/1024), subnormal 2^-14 * m/1024
 *   bf16    the top 16 bits of an f32
 * Encoders must round to the nearest representable value, ties to the even
 * code, which the reference below finds by binary search over decoded codes. */
#include "tests/unit/test.h"
#include "formats/dtype.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* 2^k by repeated multiplication (exact for the small k used here). */
static double pow2(int k) {
    double r = 1;
    for (; k > 0; k--) r *= 2;
    for (; k < 0; k++) r /= 2;
    return r;
}

/* ---- independent decoders */
static double ref_e4m3(int c) {
    int s = (c >> 7) & 1, e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return NAN;
    double v = e == 0 ? pow2(-6) * (m / 8.0) : pow2(e - 7) * (1 + m / 8.0);
    return s ? -v : v;
}
static double ref_e5m2(int c) {
    int s = (c >> 7) & 1, e = (c >> 2) & 31, m = c & 3;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else v = e == 0 ? pow2(-14) * (m / 4.0) : pow2(e - 15) * (1 + m / 4.0);
    return s ? -v : v;
}
static double ref_f16(int c) {
    int s = (c >> 15) & 1, e = (c >> 10) & 31, m = c & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else v = e == 0 ? pow2(-14) * (m / 1024.0) : pow2(e - 15) * (1 + m / 1024.0);
    return s ? -v : v;
}

/* ---- reference encoder: nearest code, ties to the even code.
 * tab[0..maxcode] are the positive values of codes 0..maxcode (increasing);
 * beyond is the magnitude of the code after maxcode (infinity's place, or for
 * e4m3 the NaN code's place), used only to decide rounding up. Returns a code
 * in [0, maxcode + 1]. */
static int ref_round(double a, const double *tab, int maxcode, double beyond) {
    int lo = 0, hi = maxcode;
    if (a >= tab[maxcode]) lo = maxcode;
    else {
        while (hi - lo > 1) { /* tab[lo] <= a < tab[hi] */
            int mid = (lo + hi) / 2;
            if (tab[mid] <= a) lo = mid; else hi = mid;
        }
    }
    if (tab[lo] == a) return lo;
    double up = lo == maxcode ? beyond : tab[lo + 1];
    double d1 = a - tab[lo], d2 = up - a;
    if (d1 < d2) return lo;
    if (d2 < d1) return lo + 1;
    return (lo & 1) ? lo + 1 : lo;
}

static double e4m3_tab[0x7F], e5m2_tab[0x7C], f16_tab[0x7C00], bf16_tab[0x7F80];
static void build_tabs(void) {
    for (int c = 0; c < 0x7F; c++) e4m3_tab[c] = ref_e4m3(c);
    for (int c = 0; c < 0x7C; c++) e5m2_tab[c] = ref_e5m2(c);
    for (int c = 0; c < 0x7C00; c++) f16_tab[c] = ref_f16(c);
    for (int c = 0; c < 0x7F80; c++) bf16_tab[c] = (double)u2f((uint32_t)c << 16);
}

/* Expected codes for |f| (finite), sign added by the caller. */
static int want_e4m3(double a) {
    int c = ref_round(a, e4m3_tab, 0x7E, 480.0);
    return c > 0x7E ? 0x7E : c; /* saturating: no infinity, never the NaN code */
}
static int want_e5m2(double a) { return ref_round(a, e5m2_tab, 0x7B, 65536.0); }
static int want_f16(double a) { return ref_round(a, f16_tab, 0x7BFF, 65536.0); }
static int want_bf16(double a) { return ref_round(a, bf16_tab, 0x7F7F, pow2(128)); }

/* Probe points: every code's value, midpoints between neighbours and one f32
 * ulp either side of them, and a sweep over f32 bit patterns. */
typedef int (*want_fn)(double);
typedef int (*got_fn)(float);
static int got_e4m3(float f) { return ds_f32_to_e4m3(f); }
static int got_e5m2(float f) { return ds_f32_to_e5m2(f); }
static int got_f16(float f) { return ds_f32_to_f16(f); }
static int got_bf16(float f) { return ds_f32_to_bf16(f); }

/* Returns the number of mismatches; prints the first few. sign_bit is the
 * code's sign bit (0x80 or 0x8000). */
static int check_encoder(const char *what, want_fn want, got_fn got, const double *tab, int ncodes, int sign_bit) {
    build_tabs();
    int bad = 0;
    float probes[4];
    for (int c = 0; c < ncodes; c++) {
        int np = 0;
        probes[np++] = (float)tab[c];
        if (c + 1 < ncodes) {
            float mid = (float)((tab[c] + tab[c + 1]) / 2); /* exact: midpoints have one more bit */
            probes[np++] = mid;
            probes[np++] = nextafterf(mid, 0);
            probes[np++] = nextafterf(mid, INFINITY);
        }
        for (int i = 0; i < np; i++)
            for (int sg = 0; sg < 2; sg++) {
                float f = sg ? -probes[i] : probes[i];
                int w = want(fabs((double)f)) | (signbit(f) ? sign_bit : 0);
                int g = got(f);
                if (w != g && bad++ < 5)
                    fprintf(stderr, "%s(%.9g = 0x%08x): got 0x%x, want 0x%x\n", what, f, f2u(f), g, w);
            }
    }
    /* Sweep: about a million f32 bit patterns across every exponent, both signs. */
    for (uint64_t u = 0; u < 0x7F800000u; u += 4093) {
        for (int sg = 0; sg < 2; sg++) {
            float f = u2f((uint32_t)u | (sg ? 0x80000000u : 0));
            int w = want(fabs((double)f)) | (sg ? sign_bit : 0);
            int g = got(f);
            if (w != g && bad++ < 5)
                fprintf(stderr, "%s(%.9g = 0x%08x): got 0x%x, want 0x%x\n", what, f, f2u(f), g, w);
        }
    }
    return bad;
}

static int same_bits_or_both_nan(double want, float got) {
    if (isnan(want)) return isnan(got);
    return (double)got == want && !signbit(got) == !signbit(want);
}

/* ------------------------------------------------------------------ table */

TEST(table_names_sizes_kinds) {
    static const struct { ds_dtype t; const char *name; size_t size; int is_float; } want[] = {
        {DS_F8_E4M3, "F8_E4M3", 1, 1}, {DS_F8_E5M2, "F8_E5M2", 1, 1}, {DS_BF16, "BF16", 2, 1},
        {DS_F16, "F16", 2, 1},         {DS_F32, "F32", 4, 1},         {DS_F64, "F64", 8, 1},
        {DS_I8, "I8", 1, 0},           {DS_U8, "U8", 1, 0},           {DS_I16, "I16", 2, 0},
        {DS_I32, "I32", 4, 0},         {DS_I64, "I64", 8, 0},         {DS_BOOL, "BOOL", 1, 0},
    };
    CHECK_EQ_INT(sizeof want / sizeof want[0], DS_DTYPE_COUNT);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const ds_dtype_traits *tr = ds_dtype_info(want[i].t);
        CHECKF(tr && tr->name && strcmp(tr->name, want[i].name) == 0, "dtype %zu name %s", i, tr ? tr->name : "?");
        CHECK_EQ_INT(tr->size, want[i].size);
        CHECK_EQ_INT(ds_dtype_size(want[i].t), want[i].size);
        CHECK_EQ_INT(!!tr->is_float, want[i].is_float);
        CHECK(strcmp(ds_dtype_name(want[i].t), want[i].name) == 0);
        CHECK(tr->to_f32 && tr->from_f32);
        ds_dtype got = DS_DTYPE_COUNT;
        CHECK_EQ_INT(ds_dtype_from_name(want[i].name, &got), 0);
        CHECK_EQ_INT(got, want[i].t);
    }
}

TEST(table_rejects_unknown_names) {
    const char *bad[] = {"", "F8", "FP8", "F8_E4M3FN", "bf16", "Bf16", "F32 ", "I4", "U16", "F8_E8M0", "complex64"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_dtype t = DS_F32;
        CHECKF(ds_dtype_from_name(bad[i], &t) == -1, "'%s' accepted", bad[i]);
    }
}

/* Every element accessor reads back what it wrote, for a value each dtype holds exactly. */
TEST(table_accessors_round_trip) {
    for (int d = 0; d < DS_DTYPE_COUNT; d++) {
        const ds_dtype_traits *tr = ds_dtype_info((ds_dtype)d);
        unsigned char buf[16];
        memset(buf, 0xAB, sizeof buf);
        float v = d == DS_BOOL ? 1.0f : d == DS_U8 ? 3.0f : -3.0f;
        tr->from_f32(v, buf);
        CHECKF(tr->to_f32(buf) == v, "%s: %g read back as %g", tr->name, v, tr->to_f32(buf));
        CHECKF(buf[tr->size] == 0xAB, "%s wrote past its %zu bytes", tr->name, tr->size);
        tr->from_f32(0.0f, buf);
        CHECKF(tr->to_f32(buf) == 0.0f, "%s: 0 read back as %g", tr->name, tr->to_f32(buf));
    }
    /* Known little-endian bytes. */
    unsigned char b[8];
    ds_dtype_info(DS_BF16)->from_f32(1.0f, b);
    CHECK(b[0] == 0x80 && b[1] == 0x3F);
    ds_dtype_info(DS_F16)->from_f32(1.0f, b);
    CHECK(b[0] == 0x00 && b[1] == 0x3C);
    ds_dtype_info(DS_F8_E4M3)->from_f32(-448.0f, b);
    CHECK(b[0] == 0xFE);
    ds_dtype_info(DS_I32)->from_f32(-2.0f, b);
    CHECK(b[0] == 0xFE && b[1] == 0xFF && b[2] == 0xFF && b[3] == 0xFF);
}

TEST(table_integer_writes_saturate_and_round) {
    unsigned char b[8];
    ds_dtype_info(DS_I8)->from_f32(300.0f, b);
    CHECK_EQ_INT((int8_t)b[0], 127);
    ds_dtype_info(DS_I8)->from_f32(-300.0f, b);
    CHECK_EQ_INT((int8_t)b[0], -128);
    ds_dtype_info(DS_U8)->from_f32(-5.0f, b);
    CHECK_EQ_INT(b[0], 0);
    ds_dtype_info(DS_U8)->from_f32(1000.0f, b);
    CHECK_EQ_INT(b[0], 255);
    ds_dtype_info(DS_I16)->from_f32(1e6f, b);
    CHECK_EQ_INT(ds_dtype_info(DS_I16)->to_f32(b), 32767);
    ds_dtype_info(DS_I8)->from_f32(2.75f, b);
    CHECK_EQ_INT((int8_t)b[0], 3);
    ds_dtype_info(DS_I8)->from_f32(-2.75f, b);
    CHECK_EQ_INT((int8_t)b[0], -3);
    ds_dtype_info(DS_BOOL)->from_f32(-7.0f, b);
    CHECK_EQ_INT(b[0], 1);
    ds_dtype_info(DS_I64)->from_f32(-1048576.0f, b);
    CHECK(ds_dtype_info(DS_I64)->to_f32(b) == -1048576.0f);
}

/* ------------------------------------------------------------------ e4m3 */

TEST(e4m3_decode_all_256_codes) {
    int bad = 0;
    for (int c = 0; c < 256; c++) {
        float g = ds_e4m3_to_f32((uint8_t)c);
        double w = ref_e4m3(c);
        if (!same_bits_or_both_nan(w, g) && bad++ < 5) fprintf(stderr, "e4m3 0x%02x: got %.9g want %.9g\n", c, g, w);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(isnan(ds_e4m3_to_f32(0x7F)) && isnan(ds_e4m3_to_f32(0xFF)));
    CHECK(ds_e4m3_to_f32(0x7E) == 448.0f && ds_e4m3_to_f32(0xFE) == -448.0f);
    CHECK(ds_e4m3_to_f32(0x01) == 0x1p-9f && ds_e4m3_to_f32(0x07) == 7 * 0x1p-9f); /* subnormals */
    CHECK(ds_e4m3_to_f32(0x08) == 0x1p-6f);  /* smallest normal */
    CHECK(ds_e4m3_to_f32(0x38) == 1.0f && ds_e4m3_to_f32(0xC0) == -2.0f);
    CHECK(ds_e4m3_to_f32(0x80) == 0.0f && signbit(ds_e4m3_to_f32(0x80)));
    int nans = 0;
    for (int c = 0; c < 256; c++) nans += isnan(ds_e4m3_to_f32((uint8_t)c)) != 0;
    CHECK_EQ_INT(nans, 2);
}

TEST(e4m3_table_matches_decode) {
    const float *tab = ds_e4m3_table();
    CHECK(tab != NULL);
    int bad = 0;
    for (int c = 0; tab && c < 256; c++) {
        float a = tab[c], b = ds_e4m3_to_f32((uint8_t)c);
        if (isnan(a) ? !isnan(b) : f2u(a) != f2u(b)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(e4m3_encode_round_trips_all_254_finite_codes) {
    int n = 0, bad = 0;
    for (int c = 0; c < 256; c++) {
        if ((c & 0x7F) == 0x7F) continue;
        n++;
        uint8_t r = ds_f32_to_e4m3(ds_e4m3_to_f32((uint8_t)c));
        if (r != c && bad++ < 5) fprintf(stderr, "e4m3 0x%02x -> %.9g -> 0x%02x\n", c, ds_e4m3_to_f32((uint8_t)c), r);
    }
    CHECK_EQ_INT(n, 254);
    CHECK_EQ_INT(bad, 0);
}

TEST(e4m3_encode_saturates) {
    const float big[] = {448.0f, 449.0f, 463.9f, 464.0f, 465.0f, 480.0f, 500.0f, 1e6f, FLT_MAX, INFINITY};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        CHECKF(ds_f32_to_e4m3(big[i]) == 0x7E, "%g -> 0x%02x, want 0x7E (448)", big[i], ds_f32_to_e4m3(big[i]));
        CHECKF(ds_f32_to_e4m3(-big[i]) == 0xFE, "%g -> 0x%02x, want 0xFE (-448)", -big[i], ds_f32_to_e4m3(-big[i]));
    }
    CHECK_EQ_INT(ds_f32_to_e4m3(NAN), 0x7F);
    CHECK(isnan(ds_e4m3_to_f32(ds_f32_to_e4m3(-NAN))));
}

TEST(e4m3_encode_rounds_to_nearest_even) {
    /* Hand-picked ties: 1 + 1/16 lies between 1 (0x38) and 1.125 (0x39): even 0x38;
     * 1 + 3/16 between 0x39 and 0x3A: even 0x3A; subnormal 1.5 * 2^-9 between 0x01 and 0x02: 0x02;
     * 0.5 * 2^-9 between 0 and 0x01: 0; 7.5 * 2^-9 rounds up into the smallest normal 0x08. */
    CHECK_EQ_INT(ds_f32_to_e4m3(1.0625f), 0x38);
    CHECK_EQ_INT(ds_f32_to_e4m3(1.1875f), 0x3A);
    CHECK_EQ_INT(ds_f32_to_e4m3(1.5f * 0x1p-9f), 0x02);
    CHECK_EQ_INT(ds_f32_to_e4m3(0.5f * 0x1p-9f), 0x00);
    CHECK_EQ_INT(ds_f32_to_e4m3(-0.5f * 0x1p-9f), 0x80);
    CHECK_EQ_INT(ds_f32_to_e4m3(7.5f * 0x1p-9f), 0x08);
    CHECK_EQ_INT(ds_f32_to_e4m3(nextafterf(1.0625f, 2)), 0x39);
    CHECK_EQ_INT(check_encoder("f32_to_e4m3", want_e4m3, got_e4m3, e4m3_tab, 0x7F, 0x80), 0);
}

/* ------------------------------------------------------------------ e5m2 */

TEST(e5m2_decode_all_codes_vs_f16) {
    /* An e5m2 code is the top byte of an f16 with the same value. */
    int bad = 0;
    for (int c = 0; c < 256; c++) {
        float g = ds_e5m2_to_f32((uint8_t)c);
        double w = ref_e5m2(c), w16 = ref_f16(c << 8);
        if (!same_bits_or_both_nan(w, g) && bad++ < 5) fprintf(stderr, "e5m2 0x%02x: got %.9g want %.9g\n", c, g, w);
        if (!same_bits_or_both_nan(w16, g) && bad++ < 5) fprintf(stderr, "e5m2 0x%02x: got %.9g, f16 says %.9g\n", c, g, w16);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(ds_e5m2_to_f32(0x7B) == 57344.0f);
    CHECK(isinf(ds_e5m2_to_f32(0x7C)) && ds_e5m2_to_f32(0xFC) < 0);
    CHECK(isnan(ds_e5m2_to_f32(0x7D)) && isnan(ds_e5m2_to_f32(0xFF)));
    CHECK(ds_e5m2_to_f32(0x01) == 0x1p-16f);
}

TEST(e5m2_encode) {
    int bad = 0;
    for (int c = 0; c < 256; c++) {
        if ((c & 0x7F) > 0x7C) continue; /* NaN codes */
        if (ds_f32_to_e5m2(ds_e5m2_to_f32((uint8_t)c)) != c) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(ds_f32_to_e5m2(61439.0f), 0x7B);   /* below the midpoint to the next power */
    CHECK_EQ_INT(ds_f32_to_e5m2(61440.0f), 0x7C);   /* tie: rounds to even, which is infinity */
    CHECK_EQ_INT(ds_f32_to_e5m2(-1e9f), 0xFC);
    CHECK_EQ_INT(ds_f32_to_e5m2(INFINITY), 0x7C);
    CHECK(isnan(ds_e5m2_to_f32(ds_f32_to_e5m2(NAN))));
    CHECK_EQ_INT(check_encoder("f32_to_e5m2", want_e5m2, got_e5m2, e5m2_tab, 0x7C, 0x80), 0);
}

/* ------------------------------------------------------------------ bf16 */

TEST(bf16_decode_is_the_top_half) {
    int bad = 0;
    for (uint32_t c = 0; c < 65536; c++) {
        float g = ds_bf16_to_f32((uint16_t)c);
        if (f2u(g) != c << 16) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(bf16_encode_ties_nan_inf_overflow) {
    CHECK_EQ_INT(ds_f32_to_bf16(u2f(0x3F808000u)), 0x3F80); /* tie, even stays */
    CHECK_EQ_INT(ds_f32_to_bf16(u2f(0x3F818000u)), 0x3F82); /* tie, odd rounds up */
    CHECK_EQ_INT(ds_f32_to_bf16(u2f(0x3F808001u)), 0x3F81); /* just above the tie */
    CHECK_EQ_INT(ds_f32_to_bf16(u2f(0x3F817FFFu)), 0x3F81); /* just below the tie */
    CHECK_EQ_INT(ds_f32_to_bf16(u2f(0xBF818000u)), 0xBF82); /* negative tie */
    CHECK_EQ_INT(ds_f32_to_bf16(u2f(0x0000C000u)), 0x0001); /* subnormal tie, odd up */
    CHECK_EQ_INT(ds_f32_to_bf16(1.0f), 0x3F80);
    CHECK_EQ_INT(ds_f32_to_bf16(-0.0f), 0x8000);
    CHECK_EQ_INT(ds_f32_to_bf16(INFINITY), 0x7F80);
    CHECK_EQ_INT(ds_f32_to_bf16(-INFINITY), 0xFF80);
    CHECK_EQ_INT(ds_f32_to_bf16(FLT_MAX), 0x7F80);          /* rounds up to infinity */
    CHECK_EQ_INT(ds_f32_to_bf16(u2f(0x7F7F8000u)), 0x7F80); /* tie at the top, odd: infinity */
    CHECK_EQ_INT(ds_f32_to_bf16(u2f(0x7F7F7FFFu)), 0x7F7F); /* largest finite stays */
    /* NaNs stay NaN, whatever the payload (rounding could carry them into inf or -0). */
    const uint32_t nans[] = {0x7FC00000u, 0x7F800001u, 0x7FFFFFFFu, 0xFF800001u, 0xFFFFFFFFu, 0x7F80FFFFu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t h = ds_f32_to_bf16(u2f(nans[i]));
        CHECKF(isnan(ds_bf16_to_f32(h)), "NaN 0x%08x -> 0x%04x", nans[i], h);
        CHECKF((h & 0x8000) == ((nans[i] >> 16) & 0x8000), "NaN 0x%08x lost its sign: 0x%04x", nans[i], h);
    }
    CHECK_EQ_INT(check_encoder("f32_to_bf16", want_bf16, got_bf16, bf16_tab, 0x7F80, 0x8000), 0);
}

/* ------------------------------------------------------------------ f16 */

TEST(f16_decode_all_codes) {
    int bad = 0;
    for (int c = 0; c < 65536; c++) {
        float g = ds_f16_to_f32((uint16_t)c);
        double w = ref_f16(c);
        if (!same_bits_or_both_nan(w, g) && bad++ < 5) fprintf(stderr, "f16 0x%04x: got %.9g want %.9g\n", c, g, w);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(ds_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(ds_f16_to_f32(0x7BFF) == 65504.0f);
}

TEST(f16_encode_ties_subnormals_overflow) {
    CHECK_EQ_INT(ds_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);       /* tie, even stays */
    CHECK_EQ_INT(ds_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);   /* tie, odd rounds up */
    CHECK_EQ_INT(ds_f32_to_f16(0x1p-24f), 0x0001);              /* smallest subnormal */
    CHECK_EQ_INT(ds_f32_to_f16(0x1p-25f), 0x0000);              /* tie with 0: even */
    CHECK_EQ_INT(ds_f32_to_f16(3 * 0x1p-25f), 0x0002);          /* subnormal tie, odd up */
    CHECK_EQ_INT(ds_f32_to_f16(1023.5f * 0x1p-24f), 0x0400);    /* rounds up into the smallest normal */
    CHECK_EQ_INT(ds_f32_to_f16(0x1p-14f), 0x0400);
    CHECK_EQ_INT(ds_f32_to_f16(-0x1p-24f), 0x8001);
    CHECK_EQ_INT(ds_f32_to_f16(65504.0f), 0x7BFF);
    CHECK_EQ_INT(ds_f32_to_f16(65519.0f), 0x7BFF);
    CHECK_EQ_INT(ds_f32_to_f16(65520.0f), 0x7C00);             /* tie, odd: infinity */
    CHECK_EQ_INT(ds_f32_to_f16(-1e10f), 0xFC00);
    CHECK_EQ_INT(ds_f32_to_f16(INFINITY), 0x7C00);
    CHECK(isnan(ds_f16_to_f32(ds_f32_to_f16(NAN))));
    CHECK(isnan(ds_f16_to_f32(ds_f32_to_f16(u2f(0x7F800001u)))));
    int bad = 0;
    for (int c = 0; c < 65536; c++) {
        if ((c & 0x7C00) == 0x7C00 && (c & 0x3FF)) continue; /* NaN codes */
        if (ds_f32_to_f16(ds_f16_to_f32((uint16_t)c)) != c) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(check_encoder("f32_to_f16", want_f16, got_f16, f16_tab, 0x7C00, 0x8000), 0);
}

TEST(reference_tables_are_sane) {
    build_tabs();
    CHECK(e4m3_tab[0x7E] == 448.0 && e5m2_tab[0x7B] == 57344.0 && f16_tab[0x7BFF] == 65504.0);
    CHECK(bf16_tab[0x3F80] == 1.0);
    int mono = 1;
    for (int c = 1; c < 0x7C00; c++) mono &= f16_tab[c] > f16_tab[c - 1];
    for (int c = 1; c < 0x7F80; c++) mono &= bf16_tab[c] > bf16_tab[c - 1];
    CHECK(mono);
}

TESTS_MAIN(T(reference_tables_are_sane), T(table_names_sizes_kinds), T(table_rejects_unknown_names),
           T(table_accessors_round_trip), T(table_integer_writes_saturate_and_round), T(e4m3_decode_all_256_codes),
           T(e4m3_table_matches_decode), T(e4m3_encode_round_trips_all_254_finite_codes), T(e4m3_encode_saturates),
           T(e4m3_encode_rounds_to_nearest_even), T(e5m2_decode_all_codes_vs_f16), T(e5m2_encode),
           T(bf16_decode_is_the_top_half), T(bf16_encode_ties_nan_inf_overflow), T(f16_decode_all_codes),
           T(f16_encode_ties_subnormals_overflow))
