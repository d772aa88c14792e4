/* ws_impl.h - inside the weight source: the backend interface and the decoding
 * of one stored tensor ("part") to float32. Not for use outside verify/ws_*.c. */
#ifndef DS_VERIFY_WS_IMPL_H
#define DS_VERIFY_WS_IMPL_H

#include "verify/ws_source.h"
#include "formats/safetensors.h"

/* One stored weight with its quantization companions, all in one file. */
typedef struct {
    const char *file;              /* for messages */
    const char *name;              /* stored name of the weight data */
    const ds_tensor_info *w;  const uint8_t *wd;
    int fd;                        /* the weight's file, for pread (-1: read through wd) */
    uint64_t foff;                 /* file offset of wd */
    const ds_tensor_info *s;  const uint8_t *sd;   /* FP8 scale_inv / INT weight_scale */
    const char *sfile;             /* the scale's file (an index may put it in another shard) */
    const ds_tensor_info *z;  const uint8_t *zd;   /* INT weight_zero_point (optional) */
    const ds_tensor_info *sh; const uint8_t *shd;  /* INT weight_shape (optional for I8) */
    ds_wq_kind kind;
    int int_packed;                /* INT: I32 words (1) or one I8 per value (0) */
    int br, bc;                    /* FP8 block size */
    /* filled by ds_ws_part_validate */
    int64_t rows, cols;            /* logical 2-D shape (cols 1 for 1-D) */
    int bits;                      /* INT */
    int64_t group;                 /* INT: columns per scale */
    int zp_packed;                 /* INT: zero point packed along rows */
    /* compressed-tensors nvfp4-/mxfp4-pack-quantized: U8 weight_packed (fp4 = 1:
     * NVFP4, F8_E4M3 scales and a global scale; 2: MXFP4, E8M0 scales) */
    int fp4;
    const ds_tensor_info *gs; const uint8_t *gsd;  /* NVFP4 weight_global_scale */
} ds_ws_part;

/* Checks dtypes and the shapes of scale / zero point / packing against each
 * other, and that every scale is finite; fills the derived fields.
 * DS_EXIT_INPUT naming file and tensor. */
int ds_ws_part_validate(ds_ws_part *p);
/* Rows [r0, r0+n) to out[n][cols]. */
void ds_ws_part_read(const ds_ws_part *p, int64_t r0, int64_t n, float *out);
/* Fills ti from a validated part (ndim/shape from the stored or packed shape). */
void ds_ws_part_tinfo(const ds_ws_part *p, ds_ws_tinfo *ti);
/* FP8: float32 copy of scale rows [b0, b0+nb) (scale_cols each) to dst. */
void ds_ws_part_scale_rows(const ds_ws_part *p, int64_t b0, int64_t nb, float *dst);

/* Where rows of a tensor are stored: rows [r0, r0+n) of part land at rows
 * [dst_row, dst_row+n) and columns [dst_col, dst_col+part.cols) of the tensor
 * (an MP tensor split by columns has one piece per rank, side by side). */
typedef struct {
    ds_ws_part part;
    int64_t r0, n;
    int64_t dst_row, dst_col;
} ds_ws_piece;

typedef struct {
    /* quiet: a missing tensor returns DS_EXIT_INPUT without a message */
    int (*info)(void *impl, const char *name, ds_ws_tinfo *ti, int quiet);
    int (*read)(void *impl, const char *name, int64_t r0, int64_t n, float *out);
    /* 1 when the tensor is stored (in any form), without validating or reporting */
    int (*exists)(void *impl, const char *name);
    /* the file holding element (row, col) of a valid tensor, for messages */
    const char *(*locate)(void *impl, const char *name, int64_t row, int64_t col);
    void (*close)(void *impl);
    /* rows [r0, r0+n) as validated pieces (*out malloc'd, *count of them; rows of
     * zero-row pieces are left out); what read does, before decoding */
    int (*pieces)(void *impl, const char *name, int64_t r0, int64_t n, ds_ws_piece **out, int *count);
} ds_ws_ops;

struct ds_ws_source {
    const ds_ws_ops *ops;
    void *impl;
    ds_config cfg;
    char *path;
    char desc[64];
    int int_bits;
    uint64_t bytes_read;   /* stored bytes handed out by ds_ws_read_rows (for reports) */
};

/* Backends: fill ws (ops, impl, cfg, desc, int_bits). */
int ds_ws_hf_open(const char *path, ds_ws_source *ws);
int ds_ws_mp_open(const char *dir, ds_ws_source *ws);
/* 1 when dir holds model0-mpN.safetensors files (and no HF index). */
int ds_ws_mp_detect(const char *dir);

/* FP8 block size from the config (128x128 when absent). */
void ds_ws_fp8_block(const ds_config *c, int *br, int *bc);

#endif
