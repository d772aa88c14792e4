/* quant_core.h - the arithmetic of one quantization group, shared word for word
 * by the CPU kernels (kernels/cpu/quant_*.c) and the CUDA kernels
 * (kernels/cuda/quant_*.cu), so both write the same bytes.
 *
 * Every step follows compressed-tensors' round-to-nearest on BF16 weights (see
 * MANUAL.md (section requant), "What rtn matches"): torch computes each bf16 op in
 * float32 and rounds the result to bf16, so each op below is one IEEE float op
 * followed by dsq_f2bf. Device code uses the explicit _rn intrinsics so nvcc
 * can neither contract a multiply and an add into an FMA nor use approximate
 * division; host code has no multiply-add pattern to contract.
 *
 * Sums that decide something (the squared error of a --method mse candidate)
 * are taken in one fixed order on both sides: element k goes to lane k % 32,
 * each lane adds its elements in increasing k, then the 32 lane sums are
 * combined by a butterfly (offsets 16, 8, 4, 2, 1) - what a CUDA warp does with
 * __shfl_xor_sync. The CPU replays that order exactly (dsq_lane_reduce). Each
 * term is the square of a float difference, computed in double, where it is
 * exact; so an FMA on either side could not change it either. */
#ifndef DS_QUANT_CORE_H
#define DS_QUANT_CORE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define DSQ_HD __host__ __device__ static inline
#else
#define DSQ_HD static inline
#endif

#if defined(__CUDA_ARCH__)
#define DSQ_FDIV(a, b) __fdiv_rn((a), (b))
#define DSQ_FMUL(a, b) __fmul_rn((a), (b))
#define DSQ_FADD(a, b) __fadd_rn((a), (b))
#define DSQ_FSUB(a, b) __fsub_rn((a), (b))
#define DSQ_DMUL(a, b) __dmul_rn((a), (b))
#define DSQ_DADD(a, b) __dadd_rn((a), (b))
#else
#define DSQ_FDIV(a, b) ((a) / (b))
#define DSQ_FMUL(a, b) ((a) * (b))
#define DSQ_FADD(a, b) ((a) + (b))
#define DSQ_FSUB(a, b) ((a) - (b))
#define DSQ_DMUL(a, b) ((a) * (b))
#define DSQ_DADD(a, b) ((a) + (b))
#endif

/* Number of --method mse clipping candidates: ratios (100 - i) / 100, i = 0..30,
 * i.e. 1.00 down to 0.70. Candidate 0 is rtn itself. */
#define DSQ_MSE_STEPS 31
/* compressed-tensors replaces a zero bf16 scale by torch.finfo(bfloat16).eps = 2^-7. */
#define DSQ_BF16_EPS 0x3C00u

DSQ_HD uint32_t dsq_f2u(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
#endif
}

DSQ_HD float dsq_u2f(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}

/* float -> bf16, round to nearest even; the same bits as ds_f32_to_bf16 (the
 * unit tests check it), written here so device code has it too. */
DSQ_HD uint16_t dsq_f2bf(float f) {
    uint32_t x = dsq_f2u(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7FFFu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

DSQ_HD float dsq_bf2f(uint16_t h) { return dsq_u2f((uint32_t)h << 16); }

/* bf16 rounding of a float value, as a float (torch's "compute in float, store bf16"). */
DSQ_HD float dsq_rbf(float f) { return dsq_bf2f(dsq_f2bf(f)); }

DSQ_HD int dsq_isnan(float f) { return f != f; }
DSQ_HD int dsq_isfinite(float f) { return (dsq_f2u(f) & 0x7F800000u) != 0x7F800000u; }

DSQ_HD int dsq_qmin(int bits) { return -(1 << (bits - 1)); }
DSQ_HD int dsq_qmax(int bits) { return (1 << (bits - 1)) - 1; }

/* Round half to even of a value already in [qmin, qmax] (torch.round). */
DSQ_HD int dsq_rne_int(float v) {
#if defined(__CUDA_ARCH__)
    return (int)rintf(v);
#else
    return (int)nearbyintf(v);
#endif
}

/* The clipping ratio of mse candidate i (i = 0: 1.0, rtn). */
DSQ_HD float dsq_mse_ratio(int i) { return (float)((double)(100 - i) / 100.0); }

/* Parameters of one group. */
typedef struct {
    uint16_t scale; /* bf16 */
    int zp;         /* zero point (0 when symmetric) */
} dsq_params;

/* Symmetric parameters from the group's min and max (bf16 values as floats):
 * amax = max(|min(0,lo)|, |max(0,hi)|); scale = bf16(amax / ((qmax-qmin)/2)),
 * i.e. amax/7.5 (INT4) or amax/127.5 (INT8); a zero scale becomes eps. */
DSQ_HD dsq_params dsq_params_sym(float lo, float hi, int bits) {
    float mn = lo < 0.0f ? lo : 0.0f;
    float mx = hi > 0.0f ? hi : 0.0f;
    float amax = -mn > mx ? -mn : mx;
    float half_range = bits == 4 ? 7.5f : 127.5f;
    dsq_params p;
    p.scale = dsq_f2bf(DSQ_FDIV(amax, half_range));
    if (dsq_bf2f(p.scale) == 0.0f) p.scale = (uint16_t)DSQ_BF16_EPS;
    p.zp = 0;
    return p;
}

/* Asymmetric parameters: scale = bf16(bf16(max - min) / (qmax - qmin));
 * zp = round(clamp(bf16(qmin - bf16(min / scale)), qmin, qmax)), all with the
 * scale before the eps replacement, as the library orders them. Where that
 * scale is 0 the library's zero point comes out of 0/0 = NaN (an all-zero
 * group), and a NaN cast to int8 is undefined; we write 0 there (any zero
 * point reproduces such a group exactly: every q equals it). */
DSQ_HD dsq_params dsq_params_asym(float lo, float hi, int bits) {
    float mn = lo < 0.0f ? lo : 0.0f;
    float mx = hi > 0.0f ? hi : 0.0f;
    float qmin = (float)dsq_qmin(bits), qmax = (float)dsq_qmax(bits);
    float range = dsq_rbf(DSQ_FSUB(mx, mn));
    float s = dsq_rbf(DSQ_FDIV(range, bits == 4 ? 15.0f : 255.0f));
    float t = dsq_rbf(DSQ_FDIV(mn, s));
    float z = dsq_rbf(DSQ_FSUB(qmin, t));
    dsq_params p;
    if (dsq_isnan(z)) {
        p.zp = 0;
    } else {
        z = z < qmin ? qmin : z;
        z = z > qmax ? qmax : z;
        p.zp = dsq_rne_int(z);
    }
    p.scale = dsq_f2bf(s);
    if (s == 0.0f) p.scale = (uint16_t)DSQ_BF16_EPS;
    return p;
}

DSQ_HD dsq_params dsq_params_of(float lo, float hi, int bits, int symmetric) {
    return symmetric ? dsq_params_sym(lo, hi, bits) : dsq_params_asym(lo, hi, bits);
}

/* Candidate i of --method mse: the group's min and max scaled by the ratio and
 * rounded to bf16 (the observer's p * min in bf16), then the rtn parameters. */
DSQ_HD dsq_params dsq_params_clipped(float lo, float hi, int bits, int symmetric, int i) {
    if (i == 0) return dsq_params_of(lo, hi, bits, symmetric);
    float r = dsq_mse_ratio(i);
    return dsq_params_of(dsq_rbf(DSQ_FMUL(r, lo)), dsq_rbf(DSQ_FMUL(r, hi)), bits, symmetric);
}

/* q = round(clamp(bf16(bf16(w / scale) + zp), qmin, qmax)); a NaN gives 0. */
DSQ_HD int dsq_quantize(float w, float scale, int zp, int bits) {
    float t = dsq_rbf(DSQ_FDIV(w, scale));
    if (zp != 0) t = dsq_rbf(DSQ_FADD(t, (float)zp));
    if (dsq_isnan(t)) return 0;
    float qmin = (float)dsq_qmin(bits), qmax = (float)dsq_qmax(bits);
    t = t < qmin ? qmin : t;
    t = t > qmax ? qmax : t;
    return dsq_rne_int(t);
}

/* Dequantized value as compressed-tensors' dequantize gives it: bf16((q - zp) * scale). */
DSQ_HD float dsq_dequantize(int q, float scale, int zp) {
    return dsq_rbf(DSQ_FMUL((float)(q - zp), scale));
}

/* One squared-error term: the float difference, squared in double (exact). */
DSQ_HD double dsq_err_term(float deq, float w) {
    double d = (double)DSQ_FSUB(deq, w);
    return DSQ_DMUL(d, d);
}

/* The butterfly combination of 32 lane sums (see the header comment); part is
 * overwritten. Host side only (the device uses shuffles). */
DSQ_HD double dsq_lane_reduce(double *part) {
    for (int off = 16; off > 0; off >>= 1)
        for (int i = 0; i < off; i++) part[i] = DSQ_DADD(part[i], part[i + off]);
    return part[0];
}

/* Why a kernel cannot take this chunk (NULL when it can): the checks both
 * builds make before touching memory. */
static inline const char *dsq_chunk_error(int bits, int group_size, int64_t nrows, int64_t cols) {
    if (bits != 4 && bits != 8) return "bits must be 4 or 8";
    if (group_size < 0) return "negative group size";
    if (nrows < 0 || cols <= 0) return "empty or negative shape";
    int64_t pf = 32 / bits;
    if (cols % pf) return "columns not a multiple of 32/bits";
    if (group_size && (group_size % pf)) return "group size not a multiple of 32/bits";
    if (group_size && (cols % group_size)) return "columns not a multiple of the group size";
    return 0;
}

/* Stored nibble/byte of q: q + 2^(bits-1), in [0, 2^bits). */
DSQ_HD uint32_t dsq_code(int q, int bits) { return (uint32_t)(q + (1 << (bits - 1))) & ((1u << bits) - 1u); }
DSQ_HD int dsq_decode(uint32_t word, int i, int bits) {
    return (int)((word >> (i * bits)) & ((1u << bits) - 1u)) - (1 << (bits - 1));
}

#endif
