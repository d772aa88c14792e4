/* xform.h - the transform stage of the executor: turns a chunk of source rows
 * into output bytes on the CPU (kernels/cpu) or the GPU (kernels/cuda).
 *
 * A result has components: COPY and FP8_TO_BF16 have one (every output of the
 * item takes its rows or columns from it); QUANT has one per output tensor
 * (packed, scale, [zero point,] shape), of which all but the packed weight are
 * small and "deferred": collected over the item's chunks and written once,
 * after its last chunk, so every file still receives bytes in order. */
#ifndef DS_XFORM_H
#define DS_XFORM_H

#include "convert/plan.h"

#define DS_XF_MAX_PARTS 4

typedef struct {
    const uint8_t *data;
    int64_t row0, rows, cols;  /* the chunk's rows of this component */
    int64_t row_bytes;
    size_t bytes;              /* deferred_done: total bytes at data */
    int deferred;              /* nothing to write for this chunk */
    int deferred_done;         /* the whole component is at data: write it now */
} ds_xf_part;

typedef struct { int n; ds_xf_part part[DS_XF_MAX_PARTS]; } ds_xf_result;

typedef struct ds_xf_ctx ds_xf_ctx;

/* Checks that every transform of the plan can run here; creates the CUDA context when use_cuda. */
int ds_xf_create(ds_xf_ctx **x, const ds_ckpt *c, const ds_plan *p, int use_cuda, size_t max_in, size_t max_out);
void ds_xf_destroy(ds_xf_ctx *x);
/* Items whose deferred outputs (scales, zero points) are collected at once: one
 * buffer each, reused round robin in the order items start (not by item index:
 * a --part or --resume skips items). Must exceed the items that can be in flight in
 * the executor's ring (its slots), so a buffer is never refilled while the writer
 * still reads it; convert/exec.c asserts this at compile time. */
#define DS_XF_N_ACC 11
/* Host buffers for chunks (pinned when CUDA is used); NULL (reported) when pinned memory runs out. */
void *ds_xf_host_alloc(ds_xf_ctx *x, size_t n);
void ds_xf_host_free(ds_xf_ctx *x, void *p);
/* Rows per chunk must be a multiple of this (FP8 block rows, quant packing). */
int64_t ds_xf_row_unit(const ds_plan_item *it);
/* Rows per chunk of about chunk_bytes of source: whole units, at least one. */
int64_t ds_xf_chunk_rows(const ds_plan_item *it, size_t chunk_bytes);
/* Output buffer bytes for a chunk of `rows` rows (0: the result is the input). */
size_t ds_xf_out_bytes(const ds_plan_item *it, int64_t rows);
/* Which result component output k of an item reads. */
static inline int ds_xf_component(const ds_plan_item *it, int k) { return it->xform == DS_XF_QUANT ? k : 0; }
/* The part of an item's first chunk that needs no device and may run on
 * another thread ahead of it (the executor's readers, while the transform
 * works on earlier chunks): the NVFP4 global scale, the largest |w| of the
 * weight and of its gate/up partner (CPU, OpenMP). whole: the item's source
 * bytes when the caller holds all of them, else NULL (read through the map).
 * Nothing for other items. An item not prepared is prepared by ds_xf_run at
 * its first chunk; the caller orders ds_xf_prepare before that ds_xf_run, and
 * prepares distinct items at once only. */
void ds_xf_prepare(ds_xf_ctx *x, const ds_plan_item *it, const uint8_t *whole);
/* Transforms rows [r0, r1) (source bytes at in) into out; fills res. A
 * DS_XF_COPY item needs no context (x may be NULL: the executor copies while
 * the device is still starting). */
int ds_xf_run(ds_xf_ctx *x, const ds_plan_item *it, int64_t r0, int64_t r1, const uint8_t *in, uint8_t *out,
              ds_xf_result *res);
const char *ds_xf_device_name(const ds_xf_ctx *x);
/* Per-tensor error statistics of quantized items ([{tensor, rel_l2, ...}]), or NULL. */
cJSON *ds_xf_report(const ds_xf_ctx *x);

/* Summary of the quantized items: how many, relative L2 error of all their
 * weights together (sqrt(sum err^2 / sum w^2)) and of the worst tensor (named). */
void ds_xf_quality(const ds_xf_ctx *x, int *n, double *rel_all, double *rel_worst, char *worst, size_t worst_cap);

#endif
