/* ws_scan.h - verify's value check on the bytes as they stream: a checkpoint is
 * read once, by the forward pass's reader threads.
 *
 * Before the pass, ds_vs_check (structure.h) checks what costs no weight bytes:
 * every tensor present with the shape config.json gives, storage valid, scales
 * finite and positive. The values are tested here, on stored bytes verify
 * reads anyway, with the exponent test of ds_cpu_scan_nonfinite (FP8 NaN codes
 * as a byte test, BF16/F16/F32 Inf/NaN as an exponent-bits test; no decoding):
 *  - a weight the forward pass streams is tested by the reader that brings its
 *    bytes in (verify/ws_stream.c calls ds_ws_scan_stored / ds_ws_scan_floats);
 *  - every other stored tensor the model has (routed experts the router did
 *    not choose, the embedding, norms, router biases, MTP layers) is a
 *    scan-only job: read by the same readers when the pass leaves them idle,
 *    tested, never decoded, and whatever is left when the pass ends is read by
 *    every core (ds_ws_scan_drain) before verify gives a verdict.
 * A scan-only tensor of layer L becomes eligible once the pass has planned a
 * later layer (the router of L has chosen, so the tensors of L the pass will
 * read are known); then one the pass planned is skipped, so no tensor is read
 * twice. (Norms, router biases and the embedding rows of the probe tokens are
 * also read directly by the pass: a few KB, counted in the forward's bytes.)
 *
 * Problems are reported on stderr naming file, tensor, row and column (the
 * first found per tensor, up to 20 messages) and counted; verify turns them
 * into exit 3 before any verdict on the logits. A ds_ws_scan serves one weight
 * source and one pass; its functions are thread-safe. */
#ifndef DS_VERIFY_WS_SCAN_H
#define DS_VERIFY_WS_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include "verify/ws_impl.h"

typedef struct ds_ws_scan ds_ws_scan;

typedef struct {
    int tensors;                /* tensors on the scan list (the model's, MTP included) */
    int mtp_tensors;            /* of those, tensors of MTP layers present */
    int tensors_scan_only;      /* scanned by scan-only jobs */
    int tensors_skipped;        /* skipped by the scan: the pass planned them */
    uint64_t bytes_in_stream;   /* stored bytes tested as the pass's readers brought them */
    uint64_t bytes_scan_only;   /* stored bytes read and tested by scan-only jobs */
    int64_t values;             /* values tested */
    int problems;
    double test_seconds;        /* in the value test, summed over threads (CPU time of the scan) */
    double scan_only_seconds;   /* in scan-only jobs (read + test), summed over threads */
    double drain_seconds;       /* after the pass: scan-only jobs left, on every core */
    int drain_threads;
} ds_ws_scan_stats;

/* The scan list of ws: every tensor ds_vs_expected names plus the tensors of the
 * MTP layers (num_nextn_predict_layers after the main ones) that are present;
 * an MTP layer present in part must be complete (missing tensors named).
 * Shapes and storage are validated here too. 0 or DS_EXIT_INPUT. */
int ds_ws_scan_open(ds_ws_source *ws, ds_ws_scan **out);
void ds_ws_scan_close(ds_ws_scan *sc); /* NULL is fine */
void ds_ws_scan_stats_get(ds_ws_scan *sc, ds_ws_scan_stats *st);
/* 0, or DS_EXIT_INPUT when a problem was found (already reported). */
int ds_ws_scan_result(ds_ws_scan *sc);

/* ---- for the weight stream (verify/ws_stream.c) ---- */

/* The pass planned rows [r0, r0+n) of name: gates open behind its layer. */
void ds_ws_scan_planned(ds_ws_scan *sc, const char *name, int64_t n);
/* 1 when a scan-only chunk is eligible now. */
int ds_ws_scan_has_work(ds_ws_scan *sc);
/* Runs one eligible scan-only chunk with *buf (grown as needed, the caller's
 * to free). 1 when it ran one, 0 when none was eligible. */
int ds_ws_scan_work(ds_ws_scan *sc, uint8_t **buf, size_t *cap);
/* Stored bytes [byte_pos, byte_pos+nbytes) of piece pc's data (its rows from
 * pc->r0 on), of rows starting at tensor row row0 + pc->dst_row of name.
 * on_device: only counted here, the GPU tests them (ds_ws_scan_dev_piece). */
void ds_ws_scan_stored(ds_ws_scan *sc, const char *name, int64_t row0, const ds_ws_piece *pc, uint64_t byte_pos,
                       const void *data, uint64_t nbytes, int on_device);
/* Decoded float32 rows [piece_row, piece_row+nrows) of piece pc (relative to
 * pc->r0); pc NULL: rows [row0, row0+nrows) of the whole tensor, read directly. */
void ds_ws_scan_floats(ds_ws_scan *sc, const char *name, int64_t row0, const ds_ws_piece *pc, int64_t piece_row, int64_t nrows,
                       const float *data);
/* On the staged path (CUDA, or the CPU's staged mode) the stored bytes of a
 * planned weight are in the device table's memory anyway: the test runs there
 * (the table's scan_nonfinite: kernels/cuda/scan_finite.cu on CUDA), enqueued
 * on the default stream after the decode, one result slot per piece; the
 * slots are read back, and problems reported, at ds_ws_scan_dev_flush (and when
 * they run out). Only for pieces ds_ws_scan_dev_tests says yes to. */
typedef struct ds_ws_scan_dev ds_ws_scan_dev;
struct ds_device;
int ds_ws_scan_dev_open(const struct ds_device *dev, ds_ws_scan_dev **out);  /* 0 or DS_EXIT_IO */
void ds_ws_scan_dev_close(ds_ws_scan_dev *d);   /* NULL is fine */
int ds_ws_scan_dev_tests(const ds_ws_piece *pc);
/* The piece's stored data (all its rows) at device pointer dev_data. */
int ds_ws_scan_dev_piece(ds_ws_scan_dev *d, ds_ws_scan *sc, const char *name, int64_t row0, const ds_ws_piece *pc,
                         const void *dev_data);
/* Waits for the tests enqueued so far, reports what they found, frees the slots. */
int ds_ws_scan_dev_flush(ds_ws_scan_dev *d, ds_ws_scan *sc);

/* The pass has planned everything it will: every scan-only job is eligible. */
void ds_ws_scan_open_gates(ds_ws_scan *sc);
/* Opens the gates; the calling thread and threads - 1 helpers run the
 * scan-only jobs left, then wait for those in flight. */
void ds_ws_scan_drain(ds_ws_scan *sc, int threads);

#endif
