/* xform.c - chunk transforms, run on the device chosen once (kernels/device.h).
 *
 * COPY hands the source rows through. FP8_TO_BF16 runs the dequant kernel.
 * QUANT dequantizes FP8 rows to BF16 (the same kernel, so an FP8 checkpoint
 * quantizes to the same bytes as its BF16 conversion), then quantizes; the
 * packed words are the chunk's result, the scales / zero points are collected
 * in one of N_ACC per-item buffers and handed to the writer after the item's
 * last chunk. The buffers go round in the order items start (not by item
 * index: a --part or --resume skips items, so two items in flight can have
 * indexes N_ACC apart); N_ACC exceeds the items that can be in flight in the
 * executor's ring, so a buffer is never refilled while the writer still reads it. */
#include "convert/xform.h"
#include "common/bug.h"
#include "common/util.h"
#include "kernels/device.h"
#include "quant/requant.h"
#include "quant/fp4_core.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ACC DS_XF_N_ACC

struct ds_xf_ctx {
    const ds_ckpt *c;
    const ds_plan *p;
    const ds_device *dev;
    void *pipe;                   /* dev's FP8 -> BF16 of host chunks (CUDA: streams, device buffers, pinned staging) */
    /* QUANT */
    ds_quant_row_stats *rstats;   /* per row of a chunk */
    uint8_t *acc[N_ACC];          /* scales, zero points, shape of an item */
    size_t acc_cap;
    int *acc_of;                  /* per plan item: its acc buffer, chosen at its first chunk */
    unsigned acc_next;            /* the buffer the next item to start takes */
    ds_quant_stats *qstats;       /* per plan item */
    float *gscale;                /* per plan item: NVFP4 global scale, set at its first chunk */
    unsigned char *prepared;      /* per plan item: gscale set ahead by ds_xf_prepare */
    /* the largest |w| of the last few weights scanned: a gate projection's
     * global scale needs its up partner's too, and the up item the gate's
     * (under amax_lock: readers may prepare two items at once) */
    pthread_mutex_t amax_lock;
    const ds_ckpt_entry *amax_of[4];
    float amax_val[4];
    unsigned amax_next;
    /* QUANT: the kernels' buffers for one chunk, in dev's memory. d_bf16 (the BF16
     * rows of an FP8 source) always; the others only where that memory is
     * separate (gpu): on the CPU the kernels use the host buffers themselves. */
    void *d_bf16, *d_in, *d_scale, *d_packed, *d_qscale, *d_zp, *d_stats;
};

int64_t ds_xf_row_unit(const ds_plan_item *it) {
    if (it->xform == DS_XF_FP8_TO_BF16) return it->block[0];
    if (it->xform == DS_XF_QUANT) return it->block[0] ? it->block[0] : 128;
    if (it->xform == DS_XF_UNPACK) return 32; /* packed zero points: whole words of rows */
    return 1;
}

static int64_t src_row_bytes(const ds_plan_item *it) {
    return ds_tensor_cols(it->src->info) * (int64_t)ds_dtype_size(it->src->info->dtype);
}

int64_t ds_xf_chunk_rows(const ds_plan_item *it, size_t chunk_bytes) {
    int64_t rb = src_row_bytes(it), rows = ds_tensor_rows(it->src->info);
    int64_t unit = ds_xf_row_unit(it);
    int64_t n = rb ? (int64_t)chunk_bytes / rb : rows;
    n = n / unit * unit;
    if (n < unit) n = unit;
    return n < rows ? n : (rows ? rows : 1);
}

size_t ds_xf_out_bytes(const ds_plan_item *it, int64_t rows) {
    int64_t cols = ds_tensor_cols(it->src->info);
    if (it->xform == DS_XF_FP8_TO_BF16) return (size_t)(rows * cols * 2);
    if (it->xform == DS_XF_QUANT) return (size_t)(rows * cols * it->quant->bits / 8);
    if (it->xform == DS_XF_UNPACK) return (size_t)(rows * it->unpack_cols * 2);
    return 0;
}

/* Bytes of an item's deferred outputs (scale, zero point) and of one chunk's share. */
static void quant_sizes(const ds_plan_item *it, int64_t rows, uint64_t *scale_b, uint64_t *zp_b) {
    const ds_quant_spec *s = it->quant;
    int64_t cols = it->src->info->shape[1], g = ds_quant_groups(s, cols), pf = 32 / s->bits;
    if (s->format != DSQ_FMT_INT) {
        *scale_b = (uint64_t)(rows * g);
        *zp_b = 0;
        return;
    }
    *scale_b = (uint64_t)(rows * g * 2);
    *zp_b = s->symmetric ? 0 : (uint64_t)((rows + pf - 1) / pf * g * 4);
}

/* A copy of a host buffer in the kernels' memory: only where that memory is separate. */
static int dev_buf(const ds_xf_ctx *x, void **p, size_t n) { return x->dev->gpu ? x->dev->alloc(p, n) : 0; }

int ds_xf_create(ds_xf_ctx **xp, const ds_ckpt *c, const ds_plan *p, int use_cuda, size_t max_in, size_t max_out) {
    const ds_device *dev;
    DS_TRY(ds_device_get(use_cuda, &dev));
    ds_xf_ctx *x = xcalloc(1, sizeof *x);
    pthread_mutex_init(&x->amax_lock, NULL);
    x->c = c;
    x->p = p;
    x->dev = dev;
    (void)max_out;
    int rc = 0;
    int64_t max_rows = 0, max_elems = 0;
    uint64_t max_chunk_small = 0;
    for (int i = 0; i < p->n_items; i++) {
        const ds_plan_item *it = &p->items[i];
        if (it->xform != DS_XF_QUANT) continue;
        int64_t rows = it->src->info->shape[0], cols = it->src->info->shape[1];
        int64_t cr = ds_xf_chunk_rows(it, max_in);
        uint64_t sb, zb;
        quant_sizes(it, rows, &sb, &zb);
        if (sb + zb + 16 > x->acc_cap) x->acc_cap = sb + zb + 16;
        quant_sizes(it, cr, &sb, &zb);
        if (sb + zb > max_chunk_small) max_chunk_small = sb + zb;
        if (cr > max_rows) max_rows = cr;
        if (cr * cols > max_elems) max_elems = cr * cols;
    }
    if (max_rows) {
        x->gscale = xcalloc((size_t)p->n_items, sizeof(float));
        x->prepared = xcalloc((size_t)p->n_items, 1);
        x->qstats = xcalloc((size_t)p->n_items, sizeof(ds_quant_stats));
        x->rstats = xcalloc((size_t)max_rows, sizeof(ds_quant_row_stats));
        x->acc_of = xcalloc((size_t)p->n_items, sizeof(int));
        for (int k = 0; k < N_ACC; k++) x->acc[k] = xaligned(x->acc_cap);
    }
    /* CUDA: 4 MiB pieces over 3 streams: H2D, kernel and D2H of consecutive pieces
     * overlap (measured 5-8% faster than 16 MiB pieces on an H100). */
    rc = dev->pipe_open(&x->pipe, 4u << 20, 3);
    if (!rc && max_rows) {
        size_t scale_max = 0;
        for (int i = 0; i < p->n_items; i++)
            if (p->items[i].xform == DS_XF_QUANT && p->items[i].scale) {
                size_t b = p->items[i].scale->info->end - p->items[i].scale->info->begin;
                if (b > scale_max) scale_max = b;
            }
        if (!rc) rc = dev_buf(x, &x->d_in, max_in);
        if (!rc) rc = dev_buf(x, &x->d_scale, scale_max ? scale_max : 4);
        /* the CPU quantizes FP8 rows without it (cpu_fp8) */
        if (!rc && dev->gpu) rc = dev->alloc(&x->d_bf16, (size_t)max_elems * 2);
        if (!rc) rc = dev_buf(x, &x->d_packed, (size_t)max_elems);
        if (!rc) rc = dev_buf(x, &x->d_qscale, max_chunk_small + 64);
        if (!rc) rc = dev_buf(x, &x->d_zp, max_chunk_small + 64);
        if (!rc) rc = dev_buf(x, &x->d_stats, (size_t)max_rows * sizeof(ds_quant_row_stats));
    }
    if (rc) { ds_xf_destroy(x); return rc; }
    *xp = x;
    return 0;
}

void ds_xf_destroy(ds_xf_ctx *x) {
    if (!x) return;
    const ds_device *d = x->dev;
    d->pipe_close(x->pipe);
    d->free(x->d_in); d->free(x->d_scale); d->free(x->d_bf16); d->free(x->d_packed);
    d->free(x->d_qscale); d->free(x->d_zp); d->free(x->d_stats);
    for (int k = 0; k < N_ACC; k++) free(x->acc[k]);
    free(x->gscale);
    free(x->prepared);
    free(x->acc_of);
    free(x->rstats);
    free(x->qstats);
    pthread_mutex_destroy(&x->amax_lock);
    free(x);
}

/* Pinned memory when the GPU is used, so chunks copy straight to and from the device.
 * NULL (reported) when the pinned allocation fails; the caller returns DS_EXIT_IO. */
void *ds_xf_host_alloc(ds_xf_ctx *x, size_t n) {
    void *p = NULL;
    if (x->dev->host_alloc(&p, n) != 0) {
        ds_err("cannot allocate %zu bytes of pinned host memory (%s:%d)", n, __FILE__, __LINE__);
        return NULL;
    }
    return p;
}
void ds_xf_host_free(ds_xf_ctx *x, void *p) { x->dev->host_free(p); }

const char *ds_xf_device_name(const ds_xf_ctx *x) { return x->dev->name; }

static int dequant(ds_xf_ctx *x, const ds_plan_item *it, int64_t r0, int64_t n, const uint8_t *in, uint16_t *out) {
    const float *scale = (const float *)ds_ckpt_data(x->c, it->scale);
    int64_t cols = ds_tensor_cols(it->src->info), scols = it->scale->info->shape[1];
    return x->dev->dequant_fp8_bf16_host(x->pipe, in, out, r0, n, cols, scale, scols, it->block[0], it->block[1]);
}

/* The BF16 rows [r0, r0+n) of a chunk (source bytes at in) where the kernels
 * read them (*w): the source itself (copied to the device where its memory is
 * separate), or an FP8 source dequantized into x->d_bf16 with its scale. */
static int bf16_rows(ds_xf_ctx *x, const ds_plan_item *it, int64_t r0, int64_t n, const uint8_t *in, const void **w) {
    const ds_device *d = x->dev;
    DS_TRY(ds_dev_in(d, x->d_in, in, (size_t)(n * src_row_bytes(it)), w));
    if (it->src->info->dtype != DS_F8_E4M3) return 0;
    const void *scale;
    size_t sbytes = it->scale->info->end - it->scale->info->begin;
    DS_TRY(ds_dev_in(d, x->d_scale, ds_ckpt_data(x->c, it->scale), sbytes, &scale));
    DS_TRY(d->dequant_fp8_bf16(*w, x->d_bf16, r0, n, it->src->info->shape[1], scale, it->scale->info->shape[1],
                               it->block[0], it->block[1], NULL));
    *w = x->d_bf16;
    return 0;
}

/* On the CPU an FP8 source goes straight to the quantizer (kernels.h,
 * ds_cpu_fp8_quant_rows): the same bytes as dequantizing into x->d_bf16 and
 * quantizing that, without the buffer's round trip through memory. */
static int cpu_fp8(const ds_xf_ctx *x, const ds_plan_item *it) {
    return !x->dev->gpu && it->src->info->dtype == DS_F8_E4M3;
}

/* Quantizes rows [r0, r0+n) (source bytes at in) into the host buffers packed,
 * qscale, zp (NULL when symmetric) and x->rstats. Where the kernels' memory is
 * separate, the input (and an FP8 source's scale) is copied there first and the
 * results back after; on the CPU the kernels read and write the host buffers.
 * The kernels run on the default stream, ordered with the blocking copies. */
static int quant_chunk(ds_xf_ctx *x, const ds_plan_item *it, int64_t r0, int64_t n, const uint8_t *in,
                       uint8_t *packed, uint8_t *qscale, uint8_t *zp, uint64_t sb, uint64_t zb) {
    const ds_device *d = x->dev;
    int64_t cols = it->src->info->shape[1];
    if (cpu_fp8(x, it)) /* FP8 rows quantized without a BF16 buffer */
        return ds_cpu_fp8_quant_rows(it->quant, in, r0, n, cols, (const float *)ds_ckpt_data(x->c, it->scale),
                                     it->scale->info->shape[1], it->block[0], it->block[1], (uint32_t *)packed,
                                     (uint16_t *)qscale, (uint32_t *)zp, x->rstats);
    const void *w;
    DS_TRY(bf16_rows(x, it, r0, n, in, &w));
    DS_TRY(d->quant_rows(it->quant, w, DS_BF16, n, cols, ds_dev_out(d, x->d_packed, packed),
                         ds_dev_out(d, x->d_qscale, qscale), zp ? ds_dev_out(d, x->d_zp, zp) : NULL,
                         ds_dev_out(d, x->d_stats, x->rstats), NULL));
    DS_TRY(ds_dev_back(d, packed, x->d_packed, (size_t)(n * cols * it->quant->bits / 8)));
    DS_TRY(ds_dev_back(d, qscale, x->d_qscale, sb));
    if (zp) DS_TRY(ds_dev_back(d, zp, x->d_zp, zb));
    return ds_dev_back(d, x->rstats, x->d_stats, (size_t)n * sizeof(ds_quant_row_stats));
}

/* The acc buffer of item idx: a fresh one at the item's first chunk (r0 == 0;
 * the executor runs an item's chunks in order, one item after the other). */
static uint8_t *item_acc(ds_xf_ctx *x, int idx, int64_t r0) {
    if (r0 == 0) x->acc_of[idx] = (int)(x->acc_next++ % N_ACC);
    return x->acc[x->acc_of[idx]];
}

/* Largest |w| of a whole weight as BF16 (an FP8 weight's from its codes and
 * block scales, without dequantizing; the reader reads the same pages next).
 * d: its bytes, or NULL to read them through the map. */
static float weight_amax(ds_xf_ctx *x, const ds_plan_item *it, const ds_ckpt_entry *e, const ds_ckpt_entry *scale,
                         const uint8_t *d) {
    float a = -1.0f;
    pthread_mutex_lock(&x->amax_lock);
    for (int k = 0; k < 4; k++)
        if (x->amax_of[k] == e) a = x->amax_val[k];
    pthread_mutex_unlock(&x->amax_lock);
    if (a >= 0.0f) return a;
    if (!d) d = ds_ckpt_data(x->c, e);
    int64_t rows = ds_tensor_rows(e->info), cols = ds_tensor_cols(e->info);
    if (e->info->dtype == DS_BF16) {
        a = ds_cpu_bf16_absmax((const uint16_t *)d, rows * cols);
    } else {
        int br = it->block[0] > 0 ? it->block[0] : 128, bc = it->block[1] > 0 ? it->block[1] : 128;
        a = ds_cpu_fp8_absmax(d, 0, rows, cols, (const float *)ds_ckpt_data(x->c, scale), scale->info->shape[1], br,
                              bc);
    }
    pthread_mutex_lock(&x->amax_lock);
    unsigned k = x->amax_next++ % 4;
    x->amax_of[k] = e;
    x->amax_val[k] = a;
    pthread_mutex_unlock(&x->amax_lock);
    return a;
}

void ds_xf_prepare(ds_xf_ctx *x, const ds_plan_item *it, const uint8_t *whole) {
    if (it->xform != DS_XF_QUANT || it->quant->format == DSQ_FMT_INT || !x->gscale) return;
    int idx = (int)(it - x->p->items);
    float gs = 1.0f;
    if (it->quant->format == DSQ_FMT_NVFP4) {
        float a = weight_amax(x, it, it->src, it->scale, whole);
        if (it->partner) {
            float b = weight_amax(x, it, it->partner, it->partner_scale, NULL);
            if (b > a) a = b;
        }
        gs = dsq_nvfp4_global_scale(a);
    }
    x->gscale[idx] = gs;
    x->prepared[idx] = 1;
}

/* NVFP4 / MXFP4 rows [r0, r0+n) of an item: BF16 rows (FP8 dequantized
 * first), then the fp4 kernel; packed bytes are the chunk's result, scales
 * (and the global scale) collected and written after the last chunk. */
static int run_fp4(ds_xf_ctx *x, const ds_plan_item *it, int64_t r0, int64_t r1, const uint8_t *in, uint8_t *out,
                   ds_xf_result *res) {
    const ds_quant_spec *s = it->quant;
    int idx = (int)(it - x->p->items);
    int64_t rows = it->src->info->shape[0], cols = it->src->info->shape[1], n = r1 - r0;
    int64_t ng = cols / s->group_size;
    uint8_t *acc = item_acc(x, idx, r0);
    uint8_t *qscale = acc + r0 * ng;
    if (r0 == 0) {
        memset(&x->qstats[idx], 0, sizeof x->qstats[idx]);
        if (!x->prepared[idx]) ds_xf_prepare(x, it, NULL);
        x->prepared[idx] = 0; /* used: a later run of the item computes it again */
    }
    float gs = x->gscale[idx];
    /* as quant_chunk: the kernels' memory, copies only where it is separate */
    const ds_device *d = x->dev;
    const void *w;
    if (cpu_fp8(x, it)) {
        DS_TRY(ds_cpu_fp8_fp4_quant_rows(s, in, r0, n, cols, (const float *)ds_ckpt_data(x->c, it->scale),
                                         it->scale->info->shape[1], it->block[0], it->block[1], gs, out, qscale,
                                         x->rstats));
    } else {
        DS_TRY(bf16_rows(x, it, r0, n, in, &w));
        DS_TRY(d->fp4_quant_rows(s, w, n, cols, gs, ds_dev_out(d, x->d_packed, out),
                                 ds_dev_out(d, x->d_qscale, qscale), ds_dev_out(d, x->d_stats, x->rstats), NULL));
    }
    DS_TRY(ds_dev_back(d, out, x->d_packed, (size_t)(n * cols / 2)));
    DS_TRY(ds_dev_back(d, qscale, x->d_qscale, (size_t)(n * ng)));
    DS_TRY(ds_dev_back(d, x->rstats, x->d_stats, (size_t)n * sizeof(ds_quant_row_stats)));
    ds_quant_stats_add(&x->qstats[idx], x->rstats, n, cols);
    if (x->qstats[idx].nonfinite)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: %lld non-finite weights cannot be quantized",
                       x->c->shard_names[it->src->file], it->src->name, (long long)x->qstats[idx].nonfinite);
    int last = r1 >= rows, nr = s->format == DSQ_FMT_NVFP4 ? 3 : 2;
    res->n = nr;
    ds_xf_part *pk = &res->part[0];
    pk->data = out;
    pk->row0 = r0;
    pk->rows = n;
    pk->cols = cols / 2;
    pk->row_bytes = cols / 2;
    for (int k = 1; k < nr; k++) {
        res->part[k].deferred = !last;
        res->part[k].deferred_done = last;
    }
    if (last) {
        res->part[1].data = acc;
        res->part[1].bytes = (size_t)(rows * ng);
        if (nr == 3) {
            uint8_t *g = acc + rows * ng;
            memcpy(g, &gs, 4);
            res->part[2].data = g;
            res->part[2].bytes = 4;
        }
    }
    return 0;
}

/* DS_XF_UNPACK: rows [r0, r1) of a compressed-tensors weight to BF16, as the
 * library's decompression writes them (CPU kernels on either device). */
static int run_unpack(ds_xf_ctx *x, const ds_plan_item *it, int64_t r0, int64_t r1, const uint8_t *in, uint8_t *out,
                      ds_xf_result *res) {
    const ds_quant_spec *s = it->quant;
    int64_t cols = it->unpack_cols, n = r1 - r0;
    int64_t ng = s->group_size ? cols / s->group_size : 1;
    const uint8_t *sd = ds_ckpt_data(x->c, it->scale);
    if (s->format == DSQ_FMT_INT) {
        int pf = 32 / s->bits;
        const uint32_t *zp = it->zero_point
                                 ? (const uint32_t *)ds_ckpt_data(x->c, it->zero_point) + (r0 / pf) * ng : NULL;
        DS_TRY(ds_cpu_quant_unpack_rows(s, (const uint32_t *)in, (const uint16_t *)sd + r0 * ng, zp, n, cols, out,
                                        DS_BF16));
    } else {
        float gs = 1.0f;
        if (it->global_scale) memcpy(&gs, ds_ckpt_data(x->c, it->global_scale), 4);
        DS_TRY(ds_cpu_fp4_unpack_rows(s, in, sd + r0 * ng, gs, n, cols, out, DS_BF16));
    }
    res->n = 1;
    res->part[0].data = out;
    res->part[0].row0 = r0;
    res->part[0].rows = n;
    res->part[0].cols = cols;
    res->part[0].row_bytes = cols * 2;
    return 0;
}

static int run_quant(ds_xf_ctx *x, const ds_plan_item *it, int64_t r0, int64_t r1, const uint8_t *in, uint8_t *out,
                     ds_xf_result *res) {
    const ds_quant_spec *s = it->quant;
    if (s->format != DSQ_FMT_INT) return run_fp4(x, it, r0, r1, in, out, res);
    int idx = (int)(it - x->p->items);
    int64_t rows = it->src->info->shape[0], cols = it->src->info->shape[1], n = r1 - r0;
    uint8_t *acc = item_acc(x, idx, r0);
    uint64_t scale_total, zp_total;
    quant_sizes(it, rows, &scale_total, &zp_total);
    ds_quant_range rg[DS_QUANT_MAX_OUTPUTS];
    int nr = 0;
    DS_TRY(ds_quant_chunk_ranges(s, rows, cols, r0, n, rg, &nr));
    uint8_t *qscale = acc + rg[1].off, *zp = s->symmetric ? NULL : acc + scale_total + rg[2].off;
    if (r0 == 0) memset(&x->qstats[idx], 0, sizeof x->qstats[idx]);
    DS_TRY(quant_chunk(x, it, r0, n, in, out, qscale, zp, rg[1].len, s->symmetric ? 0 : rg[2].len));
    ds_quant_stats_add(&x->qstats[idx], x->rstats, n, cols);
    if (x->qstats[idx].nonfinite)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: %lld non-finite weights cannot be quantized",
                       x->c->shard_names[it->src->file], it->src->name, (long long)x->qstats[idx].nonfinite);
    int last = r1 >= rows;
    res->n = nr;
    ds_xf_part *pk = &res->part[0];
    pk->data = out;
    pk->row0 = r0;
    pk->rows = n;
    pk->cols = cols * s->bits / 32;
    pk->row_bytes = cols * s->bits / 8;
    for (int k = 1; k < nr; k++) {
        ds_xf_part *q = &res->part[k];
        q->deferred = !last;
        q->deferred_done = last;
    }
    if (last) {
        res->part[1].data = acc;
        res->part[1].bytes = scale_total;
        if (!s->symmetric) {
            res->part[2].data = acc + scale_total;
            res->part[2].bytes = zp_total;
        }
        uint8_t *shape = acc + scale_total + zp_total;
        ds_quant_shape_bytes(rows, cols, shape);
        res->part[nr - 1].data = shape;
        res->part[nr - 1].bytes = 16;
    }
    return 0;
}

int ds_xf_run(ds_xf_ctx *x, const ds_plan_item *it, int64_t r0, int64_t r1, const uint8_t *in, uint8_t *out,
              ds_xf_result *res) {
    int64_t cols = ds_tensor_cols(it->src->info), n = r1 - r0, unit = ds_xf_row_unit(it);
    /* The executor cuts chunks at multiples of the row unit (ds_xf_chunk_rows). */
    DS_ASSERT(r0 >= 0 && r1 >= r0 && (unit <= 0 || r0 % unit == 0));
    memset(res, 0, sizeof *res);
    res->n = 1;
    ds_xf_part *p = &res->part[0];
    p->row0 = r0;
    p->rows = n;
    p->cols = cols ? cols : 1;
    switch (it->xform) {
    case DS_XF_COPY:
        p->data = in;
        p->row_bytes = cols * (int64_t)ds_dtype_size(it->src->info->dtype);
        return 0;
    case DS_XF_FP8_TO_BF16:
        DS_TRY(dequant(x, it, r0, n, in, (uint16_t *)out));
        p->data = out;
        p->row_bytes = cols * 2;
        return 0;
    case DS_XF_QUANT:
        return run_quant(x, it, r0, r1, in, out, res);
    case DS_XF_UNPACK:
        return run_unpack(x, it, r0, r1, in, out, res);
    }
    DS_BUG("transform %d of tensor %s has no case here", (int)it->xform, it->src->name);
}

cJSON *ds_xf_report(const ds_xf_ctx *x) {
    if (!x->qstats) return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < x->p->n_items; i++) {
        const ds_plan_item *it = &x->p->items[i];
        if (it->xform != DS_XF_QUANT || !x->qstats[i].elements) continue;
        cJSON *o = ds_quant_stats_json(&x->qstats[i]);
        cJSON_AddStringToObject(o, "tensor", it->src->name);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

void ds_xf_quality(const ds_xf_ctx *x, int *n, double *rel_all, double *rel_worst, char *worst, size_t worst_cap) {
    double e = 0, r = 0;
    *n = 0;
    *rel_all = *rel_worst = 0;
    if (worst_cap) worst[0] = 0;
    if (!x->qstats) return;
    for (int i = 0; i < x->p->n_items; i++) {
        const ds_plan_item *it = &x->p->items[i];
        if (it->xform != DS_XF_QUANT || !x->qstats[i].elements) continue;
        double rel = ds_quant_stats_rel(&x->qstats[i]);
        (*n)++;
        e += x->qstats[i].err_sq;
        r += x->qstats[i].ref_sq;
        if (rel > *rel_worst) {
            *rel_worst = rel;
            snprintf(worst, worst_cap, "%s", it->src->name);
        }
    }
    *rel_all = r > 0 ? sqrt(e / r) : 0;
}
