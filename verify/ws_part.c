/* ws_part.c - one stored weight (plus its scale / zero point / shape companions)
 * decoded to float32 rows.
 *
 * FP8 goes through ds_cpu_dequant_fp8_f32, the kernel fp8-to-bf16 uses, so the
 * floats are exactly the BF16 conversion's values. INT values are
 * (q - zero_point) * scale as one float32 multiply: q - zp is a small integer
 * and the scale a BF16/F16/F32 number, so the product is exact in float32
 * (compressed-tensors computes it in the scale's dtype, which may round). */
#include "verify/ws_impl.h"

#include <sys/mman.h>
#include <unistd.h>
#include "kernels/kernels.h"
#include "common/util.h"
#include "quant/fp4_core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ds_ws_fp8_block(const ds_config *c, int *br, int *bc) {
    *br = c->weight_block_size[0] > 0 ? c->weight_block_size[0] : 128;
    *bc = c->weight_block_size[1] > 0 ? c->weight_block_size[1] : 128;
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static const char *shape_str(const ds_tensor_info *t, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

static int is_int_dtype(ds_dtype d) {
    return d == DS_I8 || d == DS_U8 || d == DS_I16 || d == DS_I32 || d == DS_I64;
}

/* A float32 copy of scale rows [b0, b0+nb) (any float dtype, any alignment). */
static void scale_rows(const ds_ws_part *p, int64_t b0, int64_t nb, int64_t sc, float *dst) {
    const ds_dtype_traits *tr = ds_dtype_info(p->s->dtype);
    const uint8_t *src = p->sd + (size_t)(b0 * sc) * tr->size;
    if (p->s->dtype == DS_F32) { memcpy(dst, src, (size_t)(nb * sc) * sizeof(float)); return; }
    for (int64_t i = 0; i < nb * sc; i++) dst[i] = tr->to_f32(src + (size_t)i * tr->size);
}

static int validate_fp8(ds_ws_part *p) {
    char b1[96], b2[96];
    if (p->w->dtype != DS_F8_E4M3)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: FP8 weights must be F8_E4M3, not %s", p->file, p->name,
                       ds_dtype_name(p->w->dtype));
    if (p->w->ndim != 2)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: an FP8 weight must be 2-D, is %s", p->file, p->name,
                       shape_str(p->w, b1, sizeof b1));
    p->rows = p->w->shape[0];
    p->cols = p->w->shape[1];
    if (!p->s)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: FP8 weight without its scale tensor", p->file, p->name);
    int64_t er = cdiv(p->rows, p->br), ec = cdiv(p->cols, p->bc);
    if (!ds_dtype_info(p->s->dtype)->is_float || p->s->ndim != 2 || p->s->shape[0] != er || p->s->shape[1] != ec)
        return ds_fail(DS_EXIT_INPUT,
                       "%s: tensor %s: scale is %s %s, expected F32 [%lld, %lld] for weight %s with %dx%d blocks",
                       p->sfile ? p->sfile : p->file, p->s->name, ds_dtype_name(p->s->dtype), shape_str(p->s, b1, sizeof b1),
                       (long long)er, (long long)ec, shape_str(p->w, b2, sizeof b2), p->br, p->bc);
    return 0;
}

/* weight_shape: an integer tensor of two positive values. */
static int int_shape(ds_ws_part *p, int64_t *rows, int64_t *cols) {
    if (!p->sh) return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: packed weight without weight_shape", p->file, p->name);
    if (!is_int_dtype(p->sh->dtype) || ds_tensor_numel(p->sh) != 2)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: must hold two integers", p->file, p->sh->name);
    const ds_dtype_traits *tr = ds_dtype_info(p->sh->dtype);
    double r = tr->to_f32(p->shd), c = tr->to_f32(p->shd + tr->size);
    if (p->sh->dtype == DS_I64) { /* exact for any size */
        int64_t v[2];
        memcpy(v, p->shd, sizeof v);
        r = (double)v[0];
        c = (double)v[1];
    }
    if (r < 1 || c < 1)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape values must be positive", p->file, p->sh->name);
    *rows = (int64_t)r;
    *cols = (int64_t)c;
    return 0;
}

/* nvfp4-/mxfp4-pack-quantized: U8 [rows, cols/2], scales [rows, cols/group]
 * (F8_E4M3 plus an F32 global scale, or U8 E8M0). */
static int validate_fp4(ds_ws_part *p) {
    char b1[96];
    int g = p->fp4 == 1 ? DSQ_NVFP4_GROUP : DSQ_MXFP4_GROUP;
    p->rows = p->w->shape[0];
    p->cols = p->w->shape[1] * 2;
    p->bits = 4;
    p->group = g;
    if (!p->s || p->s->ndim != 2 || p->s->shape[0] != p->rows || p->s->shape[1] * g != p->cols ||
        (p->s->dtype != DS_F8_E4M3 && p->s->dtype != DS_U8))
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: %s needs an %s weight_scale [%lld, %lld]%s%s", p->file, p->name,
                       p->fp4 == 1 ? "nvfp4" : "mxfp4", p->fp4 == 1 ? "F8_E4M3" : "U8", (long long)p->rows,
                       (long long)(p->cols / g), p->s ? ", found " : "", p->s ? shape_str(p->s, b1, sizeof b1) : "");
    if (p->z) return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: fp4 weights are symmetric (no zero point)", p->file, p->name);
    if (p->fp4 == 1) {
        float gs = 0;
        if (!p->gs || p->gs->dtype != DS_F32 || ds_tensor_numel(p->gs) != 1)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: nvfp4 needs an F32 weight_global_scale [1]", p->file, p->name);
        memcpy(&gs, p->gsd, 4);
        if (!isfinite(gs) || gs == 0)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: global scale %g is not finite and nonzero", p->file,
                           p->gs->name, gs);
        int64_t n = ds_tensor_numel(p->s);
        for (int64_t i = 0; i < n; i++)
            if ((p->sd[i] & 0x7F) == 0x7F)
                return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: row %lld, column %lld is NaN (a scale must be finite)",
                               p->sfile ? p->sfile : p->file, p->s->name, (long long)(i / (p->cols / g)),
                               (long long)(i % (p->cols / g)));
    }
    return 0;
}

static int validate_int(ds_ws_part *p) {
    char b1[96], b2[96];
    if (p->fp4 && p->int_packed && p->w->ndim == 2 && p->w->dtype == DS_U8) return validate_fp4(p);
    if (p->w->ndim != 2)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: must be 2-D, is %s", p->file, p->name,
                       shape_str(p->w, b1, sizeof b1));
    if (p->int_packed) {
        if (p->w->dtype != DS_I32)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: packed weights must be I32, not %s", p->file, p->name,
                           ds_dtype_name(p->w->dtype));
        DS_TRY(int_shape(p, &p->rows, &p->cols));
        int64_t pc = p->w->shape[1];
        if (p->rows != p->w->shape[0])
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: %lld rows, but weight_shape says %lld", p->file, p->name,
                           (long long)p->w->shape[0], (long long)p->rows);
        int fits4 = pc == cdiv(p->cols, 8), fits8 = pc == cdiv(p->cols, 4);
        if (fits4 == fits8)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: %lld words per row fit neither 4- nor 8-bit packing of %lld columns",
                           p->file, p->name, (long long)pc, (long long)p->cols);
        p->bits = fits4 ? 4 : 8;
    } else {
        if (p->w->dtype != DS_I8)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: integer weights must be I8, not %s", p->file, p->name,
                           ds_dtype_name(p->w->dtype));
        p->rows = p->w->shape[0];
        p->cols = p->w->shape[1];
        p->bits = 8;
        if (p->sh) {
            int64_t r, c;
            DS_TRY(int_shape(p, &r, &c));
            if (r != p->rows || c != p->cols)
                return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: weight_shape disagrees with %s", p->file, p->name,
                               shape_str(p->w, b1, sizeof b1));
        }
    }
    if (!p->s) return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: integer weight without weight_scale", p->file, p->name);
    int64_t sr = p->s->ndim >= 1 ? p->s->shape[0] : 0, sc = p->s->ndim == 2 ? p->s->shape[1] : 1;
    if (!ds_dtype_info(p->s->dtype)->is_float || p->s->ndim < 1 || p->s->ndim > 2 || sr != p->rows || sc < 1 ||
        (sc != 1 && p->cols % sc != 0))
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: scale %s %s does not fit a [%lld, %lld] weight",
                       p->sfile ? p->sfile : p->file, p->s->name, ds_dtype_name(p->s->dtype), shape_str(p->s, b1, sizeof b1), (long long)p->rows,
                       (long long)p->cols);
    p->group = p->cols / sc;
    p->zp_packed = 0;
    if (p->z) {
        int per = 32 / p->bits;
        int64_t zr = p->z->ndim >= 1 ? p->z->shape[0] : 0, zc = p->z->ndim == 2 ? p->z->shape[1] : 1;
        if (!is_int_dtype(p->z->dtype) || p->z->ndim < 1 || p->z->ndim > 2 || zc != sc)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: zero point %s %s does not match scale %s", p->file,
                           p->z->name, ds_dtype_name(p->z->dtype), shape_str(p->z, b1, sizeof b1),
                           shape_str(p->s, b2, sizeof b2));
        if (zr == p->rows) p->zp_packed = 0;
        else if (p->z->dtype == DS_I32 && zr == cdiv(p->rows, per)) p->zp_packed = 1;
        else
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: zero point %s does not match %lld rows", p->file,
                           p->z->name, shape_str(p->z, b1, sizeof b1), (long long)p->rows);
    }
    return 0;
}

/* A NaN, infinite, zero or negative scale would poison (or flip) every weight
 * of its block: named here, scale file and element, before anything reads
 * through it. (Quantizers never write one: a zero block gets eps or 1.) */
static int scales_finite(const ds_ws_part *p) {
    const ds_dtype_traits *tr = ds_dtype_info(p->s->dtype);
    int64_t n = ds_tensor_numel(p->s), cols = ds_tensor_cols(p->s);
    for (int64_t i = 0; i < n; i++) {
        float v = tr->to_f32(p->sd + (size_t)i * tr->size);
        if (!isfinite(v) || !(v > 0)) {
            char what[48];
            if (isfinite(v)) snprintf(what, sizeof what, "%g", (double)v);
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: row %lld, column %lld is %s (a scale must be finite and positive)",
                           p->sfile ? p->sfile : p->file, p->s->name, (long long)(i / cols), (long long)(i % cols),
                           isnan(v) ? "NaN" : isinf(v) ? "infinite" : what);
        }
    }
    return 0;
}

int ds_ws_part_validate(ds_ws_part *p) {
    switch (p->kind) {
    case DS_WQ_FP8:
        DS_TRY(validate_fp8(p));
        return scales_finite(p);
    case DS_WQ_INT:
        DS_TRY(validate_int(p));
        return p->fp4 ? 0 : scales_finite(p);
    default:
        if (!ds_dtype_info(p->w->dtype)->is_float || p->w->dtype == DS_F8_E4M3 || p->w->dtype == DS_F8_E5M2)
            return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: dtype %s cannot be read as weights%s", p->file, p->name,
                           ds_dtype_name(p->w->dtype),
                           p->w->dtype == DS_F8_E4M3 || p->w->dtype == DS_F8_E5M2 ? " without a scale" : "");
        p->rows = ds_tensor_rows(p->w);
        p->cols = ds_tensor_cols(p->w);
        return 0;
    }
}

void ds_ws_part_tinfo(const ds_ws_part *p, ds_ws_tinfo *ti) {
    memset(ti, 0, sizeof *ti);
    if (p->kind == DS_WQ_INT) {
        ti->ndim = 2;
        ti->shape[0] = p->rows;
        ti->shape[1] = p->cols;
    } else {
        ti->ndim = p->w->ndim;
        for (int i = 0; i < p->w->ndim && i < 8; i++) ti->shape[i] = p->w->shape[i];
    }
    ti->rows = p->rows;
    ti->cols = p->cols;
    ti->dtype = p->w->dtype;
    ti->kind = p->kind;
    ti->bits = p->kind == DS_WQ_INT ? p->bits : 0;
    ti->parts = 1;
}

void ds_ws_part_scale_rows(const ds_ws_part *p, int64_t b0, int64_t nb, float *dst) {
    scale_rows(p, b0, nb, p->s->shape[1], dst);
}

static void read_plain(const ds_ws_part *p, int64_t r0, int64_t n, float *out) {
    const ds_dtype_traits *tr = ds_dtype_info(p->w->dtype);
    size_t es = tr->size;
    int64_t cols = p->cols;
    const uint8_t *src = p->wd + (size_t)(r0 * cols) * es;
    if (p->w->dtype == DS_F32) { memcpy(out, src, (size_t)(n * cols) * sizeof(float)); return; }
    #pragma omp parallel for schedule(static) if (n * cols > 65536)
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *s = src + (size_t)(i * cols) * es;
        float *o = out + i * cols;
        if (p->w->dtype == DS_BF16) {
            for (int64_t j = 0; j < cols; j++) {
                uint16_t v;
                memcpy(&v, s + 2 * j, 2);
                o[j] = ds_bf16_to_f32(v);
            }
        } else {
            for (int64_t j = 0; j < cols; j++) o[j] = tr->to_f32(s + (size_t)j * es);
        }
    }
}

static void read_fp8(const ds_ws_part *p, int64_t r0, int64_t n, float *out) {
    int64_t sc = p->s->shape[1];
    int64_t b0 = r0 / p->br, b1 = (r0 + n - 1) / p->br;
    float *sbuf = xmalloc((size_t)((b1 - b0 + 1) * sc) * sizeof(float));
    scale_rows(p, b0, b1 - b0 + 1, sc, sbuf);
    /* the kernel finds row i's scale row at (r0' + i) / br in the buffer given */
    ds_cpu_dequant_fp8_f32(p->wd + (size_t)(r0 * p->cols), out, r0 - b0 * p->br, n, p->cols, sbuf, sc, p->br, p->bc);
    free(sbuf);
}

/* compressed-tensors' decompression of fp4 rows (the bytes to-bf16 writes, widened). */
static void read_fp4(const ds_ws_part *p, int64_t r0, int64_t n, float *out) {
    ds_quant_spec sp = {4, (int)p->group, 1, 0, p->fp4 == 1 ? DSQ_FMT_NVFP4 : DSQ_FMT_MXFP4};
    float gs = 1.0f;
    if (p->fp4 == 1) memcpy(&gs, p->gsd, 4);
    int64_t ng = p->cols / p->group;
    if (ds_cpu_fp4_unpack_rows(&sp, p->wd + (size_t)(r0 * (p->cols / 2)), p->sd + (size_t)(r0 * ng), gs, n, p->cols,
                               out, DS_F32))
    {
        ds_err("BUG: fp4 part %s validated but not decodable (%s:%d)", p->name, __FILE__, __LINE__);
        abort();
    }
}

static void read_int(const ds_ws_part *p, int64_t r0, int64_t n, float *out) {
    if (p->fp4) { read_fp4(p, r0, n, out); return; }
    int64_t cols = p->cols, sc = p->cols / p->group, pc = p->int_packed ? p->w->shape[1] : 0;
    int bits = p->bits, per = 32 / bits, off = 1 << (bits - 1);
    uint32_t mask = (1u << bits) - 1;
    const ds_dtype_traits *ztr = p->z ? ds_dtype_info(p->z->dtype) : NULL;
    const int bf16_scale = p->s->dtype == DS_BF16;
    #pragma omp parallel
    {
        float *srow = xmalloc((size_t)sc * sizeof(float));
        float *zrow = xmalloc((size_t)sc * sizeof(float));
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            int64_t r = r0 + i;
            scale_rows(p, r, 1, sc, srow);
            for (int64_t g = 0; g < sc; g++) {
                if (!p->z) zrow[g] = 0;
                else if (p->zp_packed) {
                    uint32_t wz;
                    memcpy(&wz, p->zd + (size_t)((r / per) * sc + g) * 4, 4);
                    zrow[g] = (float)((int)((wz >> (bits * (r % per))) & mask) - off);
                } else zrow[g] = ztr->to_f32(p->zd + (size_t)(r * sc + g) * ztr->size);
            }
            float *o = out + i * cols;
            for (int64_t j = 0; j < cols; j++) {
                int q;
                if (p->int_packed) {
                    uint32_t w;
                    memcpy(&w, p->wd + (size_t)(r * pc + j / per) * 4, 4);
                    q = (int)((w >> (bits * (j % per))) & mask) - off;
                } else {
                    q = (int8_t)p->wd[r * cols + j];
                }
                int64_t g = j / p->group;
                o[j] = ((float)q - zrow[g]) * srow[g];
                /* compressed-tensors multiplies in the scale's dtype: a BF16 scale
                 * rounds the product to bf16 (the bytes to-bf16 writes) */
                if (bf16_scale) o[j] = ds_bf16_to_f32(ds_f32_to_bf16(o[j]));
            }
        }
        free(srow);
        free(zrow);
    }
}

/* The rows just decoded were read through the file mapping: unmap those pages
 * again (they stay in the page cache; a later access faults them back in), so
 * verify's resident memory stays bounded however many weights it reads. */
static void release_rows(const ds_ws_part *p, int64_t r0, int64_t n) {
    if (!p->w || !p->wd || p->w->ndim < 1 || p->w->shape[0] <= 0) return;
    uint64_t rb = (p->w->end - p->w->begin) / (uint64_t)p->w->shape[0];
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)(p->wd + (uint64_t)r0 * rb), b = a + (uint64_t)n * rb;
    a = (a + pg - 1) & ~(pg - 1);   /* whole pages inside the rows only */
    b &= ~(pg - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

void ds_ws_part_read(const ds_ws_part *p, int64_t r0, int64_t n, float *out) {
    if (n <= 0) return;
    switch (p->kind) {
    case DS_WQ_FP8: read_fp8(p, r0, n, out); break;
    case DS_WQ_INT: read_int(p, r0, n, out); break;
    default: read_plain(p, r0, n, out); break;
    }
    release_rows(p, r0, n);
}
