/* gguf_stream.h - to-gguf's data: every planned tensor's bytes, written by
 * parallel workers at offsets known from the plan (see gguf_stream.c). */
#ifndef DS_GGUF_STREAM_H
#define DS_GGUF_STREAM_H
#include "convert/gguf_conv.h"

/* Where the time goes (--json "stages_seconds") and what bounded memory. */
typedef struct {
    double pipeline;                              /* wall seconds of the workers */
    double read_busy, transform_busy, write_busy; /* seconds summed over the workers */
    int workers, writers;                         /* writers: --writers threads (0: the workers write) */
    double writer_busy;                           /* the writer threads' seconds in pwrite (in write_busy too) */
    int64_t units, unit_elems;                    /* work units, elements per unit (at most, rows whole) */
    int gpu;                                      /* --device resolved to CUDA (worker 0 encodes the units
                                                   * the GPU can take on it, if any) */
    uint64_t gpu_bytes;                           /* output bytes encoded on the GPU */
    int gpu_context;                              /* a CUDA context was made (not where the GPU could take no
                                                   * unit: then --device cuda only checked the device) */
    double gpu_released;                          /* seconds into the pipeline when worker 0 gave the GPU
                                                   * back to finish on the CPU (gguf_stream.c near_end); -1: not */
    uint64_t peak_anon;                           /* sampled RssAnon maximum */
    uint64_t buffer_bytes;                        /* the workers' buffers (scratch, staging) */
} ds_gguf_stream_stats;

/* Writes every tensor of p into w, which is in positioned mode
 * (ds_gguf_begin_positioned; base: its mapping, or NULL for pwrite).
 * 0 or the first error (DS_EXIT_*), already reported. */
int ds_gguf_stream(const ds_ckpt *c, const ds_gg_plan *p, const ds_gguf_opts *o, ds_gguf_writer *w, uint8_t *base,
                   uint64_t data_bytes, ds_gguf_stream_stats *st);
#endif
