/* dtype.c - the dtype traits table and exact scalar conversions. */
#include "formats/dtype.h"

#include <math.h>
#include <string.h>

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ---- e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa; no infinities; S.1111.111 is NaN. */
float ds_e4m3_to_f32(uint8_t v) {
    int s = v >> 7, e = (v >> 3) & 15, m = v & 7;
    float r;
    if (e == 15 && m == 7) return s ? -NAN : NAN;
    if (e == 0) r = ldexpf((float)m, -9);               /* subnormal: m/8 * 2^-6 */
    else r = ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -r : r;
}

/* Round-to-nearest-even; saturates to +-448 (the format has no infinity). */
uint8_t ds_f32_to_e4m3(float f) {
    if (isnan(f)) return 0x7F;
    uint8_t s = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (a >= 448.0f) return (uint8_t)(s | 0x7E);         /* saturate (infinities too) */
    if (a < ldexpf(1.0f, -6)) {                          /* subnormal range, steps of 2^-9 */
        int q = (int)rintf(a * 512.0f);                  /* q == 8 is the smallest normal: code 0x08 */
        return (uint8_t)(s | q);
    }
    int e;
    float mant = frexpf(a, &e) * 2.0f;                   /* a = mant * 2^(e-1), mant in [1,2) */
    e -= 1;
    int m = (int)rintf((mant - 1.0f) * 8.0f);
    if (m == 8) { m = 0; e++; }
    if (e > 8 || (e == 8 && m == 7)) return (uint8_t)(s | 0x7E); /* 448 */
    return (uint8_t)(s | ((e + 7) << 3) | m);
}

/* ---- f16 (IEEE binary16). */
float ds_f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h & 0x8000) << 16;
    int e = (h >> 10) & 31, m = h & 1023;
    if (e == 0) {
        float r = ldexpf((float)m, -24);
        return s ? -r : r;
    }
    if (e == 31) return u2f(s | 0x7F800000u | ((uint32_t)m << 13));
    return u2f(s | ((uint32_t)(e - 15 + 127) << 23) | ((uint32_t)m << 13));
}

uint16_t ds_f32_to_f16(float f) {
    uint32_t x = f2u(f);
    uint16_t s = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7FFFFFFFu;
    if (x > 0x7F800000u) return s | 0x7E00;               /* NaN */
    if (x >= 0x477FF000u) return s | 0x7C00;              /* rounds to infinity */
    if (x < 0x38800000u) {                                /* f16 subnormal: steps of 2^-24 */
        return (uint16_t)(s | (uint16_t)rintf(u2f(x) * 16777216.0f));
    }
    uint32_t mant = x & 0x7FFFFFu;
    uint32_t h = ((((x >> 23) - 127 + 15)) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(s | h);
}

/* ---- e5m2: the top byte of an f16. */
float ds_e5m2_to_f32(uint8_t v) { return ds_f16_to_f32((uint16_t)(v << 8)); }

uint8_t ds_f32_to_e5m2(float f) {
    if (isnan(f)) return 0x7F;
    uint8_t s = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (isinf(a) || a >= 61440.0f) return s | 0x7C;       /* halfway above 57344 rounds to inf */
    if (a < ldexpf(1.0f, -14)) return (uint8_t)(s | (int)rintf(a * 65536.0f)); /* subnormal, 2^-16 steps */
    int e;
    float mant = frexpf(a, &e) * 2.0f;
    e -= 1;
    int m = (int)rintf((mant - 1.0f) * 4.0f);
    if (m == 4) { m = 0; e++; }
    return (uint8_t)(s | ((e + 15) << 2) | m);
}

/* ---- bf16: the top half of an f32. */
float ds_bf16_to_f32(uint16_t v) { return u2f((uint32_t)v << 16); }

uint16_t ds_f32_to_bf16(float f) {
    uint32_t x = f2u(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40); /* keep NaN a (quiet) NaN */
    x += 0x7FFFu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* ---- per-dtype element accessors for the traits table. */
#define RD(T, p) ({ T v_; memcpy(&v_, (p), sizeof v_); v_; })
static float rd_e4m3(const void *p) { return ds_e4m3_to_f32(*(const uint8_t *)p); }
static float rd_e5m2(const void *p) { return ds_e5m2_to_f32(*(const uint8_t *)p); }
static float rd_bf16(const void *p) { return ds_bf16_to_f32(RD(uint16_t, p)); }
static float rd_f16(const void *p) { return ds_f16_to_f32(RD(uint16_t, p)); }
static float rd_f32(const void *p) { return RD(float, p); }
static float rd_f64(const void *p) { return (float)RD(double, p); }
static float rd_i8(const void *p) { return (float)*(const int8_t *)p; }
static float rd_u8(const void *p) { return (float)*(const uint8_t *)p; }
static float rd_i16(const void *p) { return (float)RD(int16_t, p); }
static float rd_i32(const void *p) { return (float)RD(int32_t, p); }
static float rd_i64(const void *p) { return (float)RD(int64_t, p); }
static float rd_bool(const void *p) { return *(const uint8_t *)p ? 1.0f : 0.0f; }

static double clampd(float v, double lo, double hi) {
    if (isnan(v)) return 0;
    double r = rint((double)v);
    return r < lo ? lo : r > hi ? hi : r;
}
static void wr_e4m3(float v, void *p) { *(uint8_t *)p = ds_f32_to_e4m3(v); }
static void wr_e5m2(float v, void *p) { *(uint8_t *)p = ds_f32_to_e5m2(v); }
static void wr_bf16(float v, void *p) { uint16_t h = ds_f32_to_bf16(v); memcpy(p, &h, 2); }
static void wr_f16(float v, void *p) { uint16_t h = ds_f32_to_f16(v); memcpy(p, &h, 2); }
static void wr_f32(float v, void *p) { memcpy(p, &v, 4); }
static void wr_f64(float v, void *p) { double d = v; memcpy(p, &d, 8); }
static void wr_i8(float v, void *p) { *(int8_t *)p = (int8_t)clampd(v, -128, 127); }
static void wr_u8(float v, void *p) { *(uint8_t *)p = (uint8_t)clampd(v, 0, 255); }
static void wr_i16(float v, void *p) { int16_t x = (int16_t)clampd(v, -32768, 32767); memcpy(p, &x, 2); }
static void wr_i32(float v, void *p) { int32_t x = (int32_t)clampd(v, -2147483648.0, 2147483647.0); memcpy(p, &x, 4); }
static void wr_i64(float v, void *p) { int64_t x = (int64_t)clampd(v, -9.2e18, 9.2e18); memcpy(p, &x, 8); }
static void wr_bool(float v, void *p) { *(uint8_t *)p = v != 0.0f; }

static const ds_dtype_traits traits[DS_DTYPE_COUNT] = {
    [DS_F8_E4M3] = {"F8_E4M3", 1, 1, rd_e4m3, wr_e4m3},
    [DS_F8_E5M2] = {"F8_E5M2", 1, 1, rd_e5m2, wr_e5m2},
    [DS_BF16] = {"BF16", 2, 1, rd_bf16, wr_bf16},
    [DS_F16] = {"F16", 2, 1, rd_f16, wr_f16},
    [DS_F32] = {"F32", 4, 1, rd_f32, wr_f32},
    [DS_F64] = {"F64", 8, 1, rd_f64, wr_f64},
    [DS_I8] = {"I8", 1, 0, rd_i8, wr_i8},
    [DS_U8] = {"U8", 1, 0, rd_u8, wr_u8},
    [DS_I16] = {"I16", 2, 0, rd_i16, wr_i16},
    [DS_I32] = {"I32", 4, 0, rd_i32, wr_i32},
    [DS_I64] = {"I64", 8, 0, rd_i64, wr_i64},
    [DS_BOOL] = {"BOOL", 1, 0, rd_bool, wr_bool},
};

const ds_dtype_traits *ds_dtype_info(ds_dtype t) { return &traits[t]; }

int ds_dtype_from_name(const char *name, ds_dtype *t) {
    for (int i = 0; i < DS_DTYPE_COUNT; i++)
        if (strcmp(traits[i].name, name) == 0) { *t = (ds_dtype)i; return 0; }
    return -1;
}

/* The decode table is a pure function of the code; it is built once, before
 * main, so readers never race on it. */
static float e4m3_table[256];
__attribute__((constructor)) static void build_e4m3_table(void) {
    for (int i = 0; i < 256; i++) e4m3_table[i] = ds_e4m3_to_f32((uint8_t)i);
}
const float *ds_e4m3_table(void) { return e4m3_table; }
