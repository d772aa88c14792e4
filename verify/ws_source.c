/* ws_source.c - picks the backend for a path and forwards requests to it. */
#include "verify/ws_impl.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

int ds_ws_open(const char *path, ds_ws_source **out) {
    *out = NULL;
    if (!ds_path_exists(path)) return ds_fail(DS_EXIT_INPUT, "%s: no such file or directory", path);
    ds_ws_source *ws = xcalloc(1, sizeof *ws);
    int rc = ds_ws_mp_detect(path) ? ds_ws_mp_open(path, ws) : ds_ws_hf_open(path, ws);
    if (rc) { free(ws); return rc; }
    ws->path = xstrdup(path);
    *out = ws;
    return 0;
}

void ds_ws_close(ds_ws_source *ws) {
    if (!ws) return;
    ws->ops->close(ws->impl);
    free(ws->path);
    free(ws);
}

const ds_config *ds_ws_config(const ds_ws_source *ws) { return &ws->cfg; }
const char *ds_ws_path(const ds_ws_source *ws) { return ws->path; }
const char *ds_ws_describe(const ds_ws_source *ws) { return ws->desc; }
int ds_ws_int_bits(const ds_ws_source *ws) { return ws->int_bits; }

int ds_ws_has(ds_ws_source *ws, const char *name) { return ws->ops->exists(ws->impl, name); }

int ds_ws_info(ds_ws_source *ws, const char *name, ds_ws_tinfo *ti) {
    return ws->ops->info(ws->impl, name, ti, 0);
}

const char *ds_ws_locate(ds_ws_source *ws, const char *name, int64_t row, int64_t col) {
    const char *f = ws->ops->locate(ws->impl, name, row, col);
    return f ? f : ws->path;
}

int ds_ws_read_rows(ds_ws_source *ws, const char *name, int64_t r0, int64_t nrows, float *out) {
    DS_TRY(ws->ops->read(ws->impl, name, r0, nrows, out));
    ds_ws_tinfo ti;
    if (ds_ws_info(ws, name, &ti) == 0) {
        /* Stored bytes: FP8 one per weight, INT bits/8, others their dtype. */
        double per = ti.kind == DS_WQ_FP8 ? 1.0 : ti.kind == DS_WQ_INT ? ti.bits / 8.0 : (double)ds_dtype_size(ti.dtype);
        ws->bytes_read += (uint64_t)((double)nrows * (double)ti.cols * per);
    }
    return 0;
}

uint64_t ds_ws_bytes_read(const ds_ws_source *ws) { return ws->bytes_read; }

int ds_ws_info_shape(ds_ws_source *ws, const char *name, int64_t rows, int64_t cols, ds_ws_tinfo *ti) {
    DS_TRY(ds_ws_info(ws, name, ti));
    if (ti->rows != rows || ti->cols != cols || ti->ndim > 2)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape %lldx%lld, expected %lldx%lld from config.json", ws->path,
                       name, (long long)ti->rows, (long long)ti->cols, (long long)rows, (long long)cols);
    return 0;
}

int ds_ws_load(ds_ws_source *ws, const char *name, int64_t rows, int64_t cols, float **out) {
    *out = NULL;
    ds_ws_tinfo ti;
    DS_TRY(ds_ws_info_shape(ws, name, rows, cols, &ti));
    float *buf = xaligned((size_t)(rows * cols > 0 ? rows * cols : 1) * sizeof(float));
    int rc = ds_ws_read_rows(ws, name, 0, rows, buf);
    if (rc) { free(buf); return rc; }
    *out = buf;
    return 0;
}
