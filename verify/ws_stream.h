/* ws_stream.h - the weight stream of the verify forward pass: weights read ahead,
 * in the order the pass will multiply by them, and handed over as float32.
 *
 * The pass plans (announces) every weight, or row range of one, before it
 * takes it, in the order it will take them. Reader threads copy the stored
 * bytes of planned weights (FP8 one byte a weight plus its block scales, BF16
 * two; other storage decoded to float32 by the reader) into a ring buffer:
 * GPU memory, through pinned staging buffers and per-reader copy streams, on
 * the CUDA path; host memory on the CPU path. So reading the next weights
 * overlaps the multiplications with the current one, and the GPU gets the
 * stored bytes, not four bytes a weight.
 *
 * Taking a weight turns its stored bytes into float32 where the GEMM runs:
 * FP8 dequantized to bf16 (the fp8-to-bf16 kernels) and widened, BF16 widened,
 * float32 copied. The floats are exactly those of ds_ws_read_rows, on either
 * path. A take that does not match the oldest planned request is served by a
 * direct read (correct, only slower).
 *
 * Memory: the ring (its size chosen by the caller; it must hold the largest
 * request as stored, which ds_ws_stream_ring_need tells) plus, on the GPU path,
 * two staging buffers per reader and bf16/float32 scratch for one weight.
 * A ds_ws_stream serves one thread (the forward pass) and one pass at a time. */
#ifndef DS_VERIFY_WS_STREAM_H
#define DS_VERIFY_WS_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include "verify/ws_source.h"

typedef struct ds_ws_stream ds_ws_stream;

typedef struct {
    int cuda;            /* 1: ring in GPU memory, decode on the GPU */
    int readers;         /* reader threads; 0: ds_ws_stream_default_readers */
    size_t chunk_bytes;  /* bytes per read; 0: 16 MiB */
    int staged;          /* CPU only: the GPU path (staging, upload, decode) on the CPU device (tests) */
    int profile;         /* CUDA: time the decodes on the device */
} ds_ws_stream_opts;

/* Phase times, summed since open. Reader times are summed over readers. */
typedef struct {
    int readers;
    uint64_t bytes_staged;   /* bytes readers put in the ring (stored bytes, scales, decoded floats) */
    double read_s;           /* readers: pread / decode into staging or the ring */
    double copy_wait_s;      /* readers: waiting for their uploads to finish (CUDA) */
    double ring_wait_s;      /* readers: waiting for ring space */
    double idle_s;           /* readers: nothing planned */
    double take_wait_s;      /* taker: waiting for planned weights to arrive */
    double decode_s;         /* taker: decoding (CPU) or enqueueing the decode (CUDA) */
    double dev_decode_s;     /* CUDA with profile: device time of the decodes */
    int64_t takes, direct_reads;
} ds_ws_stream_prof;

/* Readers when none are asked for. CUDA: a quarter of the cores, 2 to 8 (on a
 * 16-core H100 host 4 readers pread at ~5.6 GB/s each, about twice what the
 * pass consumes; more readers only took cores from the CPU blocks). CPU: 1
 * (the GEMMs are far slower than reading). */
int ds_ws_stream_default_readers(int cuda);
int ds_ws_stream_open(ds_ws_stream **s, const ds_ws_stream_opts *o);
void ds_ws_stream_close(ds_ws_stream *s); /* NULL is fine */

/* Bytes of ring a request of rows x cols needs at most, for this stream's path. */
uint64_t ds_ws_stream_ring_need(const ds_ws_stream *s, int64_t rows, int64_t cols);
/* Starts a pass over ws with a ring of ring_bytes (grown when a request needs more). */
int ds_ws_stream_begin(ds_ws_stream *s, ds_ws_source *ws, uint64_t ring_bytes);
/* Ends the pass: readers stop, requests not taken are dropped, the ring is freed. */
void ds_ws_stream_end(ds_ws_stream *s);

/* Plans rows [r0, r0+n) of tensor name, which must be [rows, cols] (ds_ws_load's
 * check). A failure (missing tensor, wrong shape) is reported here and
 * returned again by the take. 0 or that code. */
int ds_ws_stream_plan(ds_ws_stream *s, const char *name, int64_t r0, int64_t n, int64_t rows, int64_t cols);
/* Rows [r0, r0+n) of name as float32 [n][cols] to dst: device memory on the
 * CUDA path (enqueued on the legacy default stream; complete once work queued
 * after it there is), host memory otherwise (complete on return). Counts the
 * stored bytes in ds_ws_bytes_read. rows: the tensor's rows, as planned. */
int ds_ws_stream_take(ds_ws_stream *s, const char *name, int64_t r0, int64_t n, int64_t rows, int64_t cols, float *dst);

void ds_ws_stream_prof_get(ds_ws_stream *s, ds_ws_stream_prof *p);

/* The structure scan (verify/ws_scan.h) on this pass: the readers test the bytes
 * they bring in, and take scan-only chunks when the pass has nothing for them.
 * Call after ds_ws_stream_begin; ds_ws_stream_end detaches it. */
typedef struct ds_ws_scan ds_ws_scan;
void ds_ws_stream_set_scan(ds_ws_stream *s, ds_ws_scan *sc);
/* After the pass's last take: the scan-only chunks left, on every core
 * (readers and helper threads); returns when the scan has finished. */
void ds_ws_stream_scan_drain(ds_ws_stream *s);

#endif
