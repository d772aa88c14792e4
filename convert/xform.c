/* xform.c - dispatch of chunk transforms to the CPU or CUDA kernels. */
#include "convert/xform.h"
#include "common/util.h"
#include "kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

struct ds_xf_ctx {
    const ds_ckpt *c;
    int use_cuda;
    void *cuda;   /* ds_cuda_ctx when use_cuda */
};

int ds_xf_create(ds_xf_ctx **xp, const ds_ckpt *c, const ds_plan *p, int use_cuda, size_t max_in, size_t max_out) {
    for (int i = 0; i < p->n_items; i++)
        if (p->items[i].xform == DS_XF_QUANT)
            return ds_fail(DS_EXIT_USAGE, "quantization is not built into this executor yet");
    ds_xf_ctx *x = xcalloc(1, sizeof *x);
    x->c = c;
    x->use_cuda = use_cuda;
    (void)max_in; (void)max_out;
    *xp = x;
    return 0;
}

void ds_xf_destroy(ds_xf_ctx *x) { free(x); }

void *ds_xf_host_alloc(ds_xf_ctx *x, size_t n) { (void)x; return xaligned(n); }
void ds_xf_host_free(ds_xf_ctx *x, void *p) { (void)x; free(p); }

const char *ds_xf_device_name(const ds_xf_ctx *x) { return x->use_cuda ? "cuda" : "cpu"; }

int64_t ds_xf_row_unit(const ds_plan_item *it) {
    if (it->xform == DS_XF_FP8_TO_BF16) return it->block[0];
    if (it->xform == DS_XF_QUANT) return 128;
    return 1;
}

size_t ds_xf_out_bytes(const ds_plan_item *it, int64_t rows) {
    if (it->xform == DS_XF_FP8_TO_BF16) return (size_t)(rows * ds_tensor_cols(it->src->info) * 2);
    return 0;
}

int ds_xf_run(ds_xf_ctx *x, const ds_plan_item *it, int64_t r0, int64_t r1, const uint8_t *in, uint8_t *out,
              ds_xf_result *res) {
    int64_t cols = ds_tensor_cols(it->src->info), n = r1 - r0;
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
    case DS_XF_FP8_TO_BF16: {
        const float *scale = (const float *)ds_ckpt_data(x->c, it->scale);
        int64_t scols = it->scale->info->shape[1];
        ds_cpu_dequant_fp8_bf16(in, (uint16_t *)out, r0, n, cols, scale, scols, it->block[0], it->block[1]);
        p->data = out;
        p->row_bytes = cols * 2;
        return 0;
    }
    case DS_XF_QUANT:
        break;
    }
    return ds_fail(DS_EXIT_USAGE, "internal error: transform %d not available", (int)it->xform);
}
