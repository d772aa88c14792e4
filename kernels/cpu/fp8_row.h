/* fp8_row.h - the CPU kernels' shared row helpers for requant straight from
 * FP8 (no BF16 staging buffer between dequantization and quantization) and
 * the statistics of a quantized row, eight lanes at a time with gcc's vector
 * extensions. Internal to kernels/cpu (quant_rows.c, fp4_rows.c); each helper
 * is static inline so it is compiled into the caller's target_clones clone.
 *
 * fp8_decode_row gives, per element, the float whose bits are exactly the
 * BF16 that ds_cpu_dequant_fp8_bf16 writes (widened): bf16_rne(e4m3 * s), a
 * NaN code 0x7FFF. The e4m3 value is built from its bits: a float whose
 * exponent field is the code's exponent and whose top mantissa bits are the
 * code's mantissa, times 2^120 (exact: a power-of-two scaling; a code of
 * exponent 0 becomes a float subnormal, m * 2^-149, so m * 2^-29 * 2^120 =
 * m * 2^-9, the e4m3 subnormal). Then one float multiply by the block scale
 * and the round to nearest even, as upstream's kernel; a NaN code (its
 * magnitude bits would read 480) is written 0x7FFF. Scales must be finite,
 * as for every dequant kernel (kernels.h; the plan builders check them).
 * ds_cpu_dequant_fp8_bf16 / _f32 are this decode too.
 *
 * Row statistics (ds_quant_row_stats): err_sq and ref_sq in double, lane l
 * (of eight) taking the columns l mod 8 in increasing order, the eight lane
 * sums combined in one fixed order at the end of the row; each term (a float
 * squared in double) is exact, so the sums are the same for any thread count
 * or chunking, and differ from a sequential sum only by rounding (relative
 * ~1e-16). max_abs_err and nonfinite are order-free. */
#ifndef DS_KERNELS_CPU_FP8_ROW_H
#define DS_KERNELS_CPU_FP8_ROW_H

#include "kernels/kernels.h"
#include "formats/dtype.h"

#include <stdint.h>
#include <string.h>

/* Inlined into each target_clones clone, so compiled for its target. */
#define FR_INLINE static inline __attribute__((always_inline))

typedef float fr_v8f __attribute__((vector_size(32)));
typedef uint32_t fr_v8u __attribute__((vector_size(32)));
typedef int32_t fr_v8i __attribute__((vector_size(32)));
typedef double fr_v4d __attribute__((vector_size(32)));
typedef uint8_t fr_v16b __attribute__((vector_size(16)));
typedef uint8_t fr_v32b __attribute__((vector_size(32)));
typedef uint8_t fr_v4b __attribute__((vector_size(4)));
typedef uint32_t fr_v4u __attribute__((vector_size(16)));

FR_INLINE fr_v8u fr_sel(fr_v8i m, fr_v8u a, fr_v8u b) { return ((fr_v8u)m & a) | (~(fr_v8u)m & b); }

/* Round to nearest even to bf16, as floats, without dsq_f2bf's NaN case.
 * Exact for every non-NaN value (an overflow rounds to inf, as there). A NaN
 * stays a NaN when its low 16 bits are zero - the only NaNs these kernels
 * meet: inputs are bf16 values (or FP8 decoded to them), an operation on a
 * NaN keeps that operand's payload (quieted) and x86's default NaN is
 * 0xFFC00000 - so the addition can neither carry out of the payload nor
 * clear it. Only the payload can differ from dsq_f2bf's, and nothing written
 * depends on it: a NaN's code is 0 and the statistics skip non-finite inputs. */
FR_INLINE fr_v8f fr_rbf(fr_v8f f) {
    fr_v8u x = (fr_v8u)f;
    return (fr_v8f)((x + 0x7FFFu + ((x >> 16) & 1u)) & 0xFFFF0000u);
}

/* dsq_f2bf of eight floats, NaN case included (quieted: bit 6 of the bf16
 * set), in the low 16 bits of each lane; the decompression kernels' rounding. */
FR_INLINE fr_v8u fr_f2bf8(fr_v8f f) {
    fr_v8u x = (fr_v8u)f;
    return fr_sel((fr_v8i)((x & 0x7FFFFFFFu) > 0x7F800000u), (x >> 16) | 0x40u,
                  (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

/* Eight e4m3 codes times s, rounded to bf16. */
FR_INLINE fr_v8f fr_dec8(const uint8_t *src, float s) {
    /* element-wise constructors: what gcc 12 turns into vpmovzxbd / vcvtps2pd ymm (its
     * __builtin_convertvector of these sizes goes through scalars or the stack) */
    fr_v8u u = {src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7]};
    fr_v8u mag = u & 0x7Fu;
    fr_v8f v = (fr_v8f)(mag << 20) * 0x1p120f;                /* |e4m3|, exact */
    v = (fr_v8f)((fr_v8u)v | ((u & 0x80u) << 24));            /* sign (-0 for code 0x80) */
    /* the product is NaN only for a NaN code (scales are finite: kernels.h), written 0x7FFF */
    return (fr_v8f)fr_sel((fr_v8i)(mag == 0x7Fu), (fr_v8u){0} + 0x7FFF0000u, (fr_v8u)fr_rbf(v * s));
}

FR_INLINE float fr_dec1(uint8_t c, float s) {
    float p = ds_e4m3_table()[c] * s;
    uint32_t x;
    memcpy(&x, &p, 4);
    x = (x & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FFF0000u : ((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16) << 16;
    memcpy(&p, &x, 4);
    return p;
}

/* One FP8 row (cols codes at src; srow: the row's block scales, one per bc
 * columns) as bf16-valued floats. */
FR_INLINE void fr_decode_row(const uint8_t *src, int64_t cols, const float *srow, int bc, float *out) {
    for (int64_t c0 = 0; c0 < cols; c0 += bc) {
        int64_t c1 = c0 + bc < cols ? c0 + bc : cols, j = c0;
        float s = srow[c0 / bc];
        for (; j + 8 <= c1; j += 8) {
            fr_v8f v = fr_dec8(src + j, s);
            memcpy(out + j, &v, sizeof v);
        }
        for (; j < c1; j++) out[j] = fr_dec1(src[j], s);
    }
}

/* Eight 4-bit codes (lanes of c, < 16) as four bytes, the even lane in the low nibble. */
FR_INLINE void fr_pack_nibbles(fr_v8u c, uint8_t *out) {
    fr_v4u b = __builtin_shufflevector(c, c, 0, 2, 4, 6) | (__builtin_shufflevector(c, c, 1, 3, 5, 7) << 4);
    fr_v16b bb = (fr_v16b)b;
    fr_v4b o = __builtin_shufflevector(bb, bb, 0, 4, 8, 12);
    memcpy(out, &o, 4);
}

/* Eight byte codes (lanes of c, < 256) as eight bytes. */
FR_INLINE void fr_pack_bytes(fr_v8u c, uint8_t *out) {
    fr_v32b cb = (fr_v32b)c;
    fr_v16b o = __builtin_shufflevector(cb, cb, 0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    memcpy(out, &o, 8);
}

/* One FP8 row as BF16 bits (what ds_cpu_dequant_fp8_bf16 writes). */
typedef uint16_t fr_v8h __attribute__((vector_size(16)));
typedef uint16_t fr_v16h __attribute__((vector_size(32)));
FR_INLINE void fr_decode_row_bf16(const uint8_t *src, int64_t cols, const float *srow, int bc, uint16_t *out) {
    for (int64_t c0 = 0; c0 < cols; c0 += bc) {
        int64_t c1 = c0 + bc < cols ? c0 + bc : cols, j = c0;
        float s = srow[c0 / bc];
        for (; j + 8 <= c1; j += 8) {
            fr_v16h h = (fr_v16h)fr_dec8(src + j, s);
            fr_v8h o = __builtin_shufflevector(h, h, 1, 3, 5, 7, 9, 11, 13, 15);
            memcpy(out + j, &o, sizeof o);
        }
        for (; j < c1; j++) {
            float f = fr_dec1(src[j], s);
            uint32_t u;
            memcpy(&u, &f, 4);
            out[j] = (uint16_t)(u >> 16);
        }
    }
}

/* Eight bf16 (low halves of b, as fr_f2bf8 gives them) stored as BF16 at o16,
 * or (o16 NULL) widened to F32 at o32. */
FR_INLINE void fr_store_bf16_8(fr_v8u b, uint16_t *o16, float *o32) {
    if (o16) {
        fr_v16h h = (fr_v16h)b;
        fr_v8h o = __builtin_shufflevector(h, h, 0, 2, 4, 6, 8, 10, 12, 14);
        memcpy(o16, &o, sizeof o);
    } else {
        fr_v8u u = b << 16;
        memcpy(o32, &u, sizeof u);
    }
}

/* One BF16 row widened to floats. */
FR_INLINE void fr_widen_row(const uint16_t *src, int64_t cols, float *out) {
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
        const uint16_t *h = src + j;
        fr_v8u u = (fr_v8u){h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]} << 16;
        memcpy(out + j, &u, sizeof u);
    }
    for (; j < cols; j++) {
        uint32_t u = (uint32_t)src[j] << 16;
        memcpy(out + j, &u, 4);
    }
}

/* The statistics of a row being quantized, eight lanes. */
typedef struct {
    fr_v4d err0, err1, ref0, ref1; /* lanes 0-3, 4-7 */
    fr_v8f mx;                     /* largest |d| (NaN never taken, as the scalar `ad > max`) */
    int64_t n;                     /* inputs added */
    fr_v8u fin;                    /* finite inputs, negated (a true lane mask is -1) */
} fr_stats;

FR_INLINE void fr_stats_init(fr_stats *a) {
    memset(a, 0, sizeof *a);
    a->n = 0;
}

/* Adds eight inputs x and their errors d (dequantized - x); a non-finite x is
 * counted and its lane left out of the sums. */
FR_INLINE void fr_stats_add(fr_stats *a, fr_v8f x, fr_v8f d) {
    fr_v8i fin = (fr_v8i)(((fr_v8u)x & 0x7F800000u) != 0x7F800000u);
    a->n += 8;
    a->fin += (fr_v8u)fin;
    fr_v8f dz = (fr_v8f)((fr_v8u)fin & (fr_v8u)d), xz = (fr_v8f)((fr_v8u)fin & (fr_v8u)x);
    fr_v4d d0 = {dz[0], dz[1], dz[2], dz[3]}, d1 = {dz[4], dz[5], dz[6], dz[7]};
    fr_v4d x0 = {xz[0], xz[1], xz[2], xz[3]}, x1 = {xz[4], xz[5], xz[6], xz[7]};
    a->err0 += d0 * d0;
    a->err1 += d1 * d1;
    a->ref0 += x0 * x0;
    a->ref1 += x1 * x1;
    fr_v8f ad = (fr_v8f)((fr_v8u)dz & 0x7FFFFFFFu);
    a->mx = (fr_v8f)fr_sel((fr_v8i)(ad > a->mx), (fr_v8u)ad, (fr_v8u)a->mx);
}

/* Lane sums combined: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). */
FR_INLINE double fr_sum8(fr_v4d a, fr_v4d b) {
    fr_v4d s = a + b;
    return (s[0] + s[2]) + (s[1] + s[3]);
}

FR_INLINE void fr_stats_end(const fr_stats *a, ds_quant_row_stats *st) {
    st->err_sq = fr_sum8(a->err0, a->err1);
    st->ref_sq = fr_sum8(a->ref0, a->ref1);
    float m = 0;
    int64_t nf = a->n;
    for (int l = 0; l < 8; l++) {
        m = a->mx[l] > m ? a->mx[l] : m;
        nf -= (uint32_t)-a->fin[l];
    }
    st->max_abs_err = m;
    st->nonfinite = nf;
}

#endif
