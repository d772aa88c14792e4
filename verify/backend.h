/* backend.h - where the forward pass multiplies: the CPU reference GEMM or
 * cuBLAS (fp32, pedantic math). Only the linear layers move to the GPU; the
 * rest of the forward pass (norms, RoPE, attention, routing) runs on the CPU in
 * both modes, so the two paths differ only by the GEMM summation order.
 *
 * Weights come through a weight stream (verify/ws_stream.h): the pass plans
 * them in the order it will use them, reader threads fetch the stored bytes
 * ahead, and ds_vf_linear_w takes each one as float32 where its GEMM runs (on the
 * GPU path the stored bytes are uploaded and dequantized there). */
#ifndef DS_VERIFY_BACKEND_H
#define DS_VERIFY_BACKEND_H

#include <stdint.h>
#include <stdio.h>
#include "kernels/device.h"
#include "verify/ws_stream.h"

typedef struct {
    int io_threads;   /* weight reader threads; 0: default */
    int profile;      /* time the phases (CUDA: device events around decode and GEMM) */
} ds_vf_backend_opts;

typedef struct {
    const ds_device *dev;      /* chosen once at open (kernels/device.h) */
    int profile;
    void *gemm;                /* dev's GEMM handle (cuBLAS on CUDA) */
    ds_ws_stream *stream;
    float *w, *x, *y;          /* dev memory: the weight being multiplied; activations (only where dev->gpu) */
    size_t cap_w, cap_x, cap_y;
    void *ev[3];               /* profile, CUDA: before and after the activation upload, after the GEMM */
    /* since ds_vf_backend_begin */
    double gemm_seconds;       /* time in ds_vf_linear / ds_vf_linear_w: takes, GEMMs, copies */
    double take_seconds;       /* part of it spent taking weights (waiting included) */
    double dev_upload_s, dev_gemm_s, dev_gemm_max_s; /* profile, CUDA: device times */
    int64_t gemm_max_mnk[3];   /* the slowest GEMM's shape */
    double d2h_s;              /* profile, CUDA: host time of the result copies (GEMM waits included) */
    ds_ws_stream_prof prof0;     /* stream counters at ds_vf_backend_begin */
    ds_ws_scan *scan;               /* the next pass's structure scan (verify/ws_scan.h), or NULL */
} ds_vf_backend;

/* 0, or DS_EXIT_USAGE when CUDA is asked for and unusable (DS_EXIT_IO when a
 * reader thread or CUDA resource cannot be made). */
int ds_vf_backend_open(ds_vf_backend *b, int use_cuda);
int ds_vf_backend_open_opts(ds_vf_backend *b, int use_cuda, const ds_vf_backend_opts *o);
void ds_vf_backend_close(ds_vf_backend *b);

/* A pass over ws whose largest weight (or head chunk) has max_weight_elems values. */
int ds_vf_backend_begin(ds_vf_backend *b, ds_ws_source *ws, int64_t max_weight_elems);
void ds_vf_backend_end(ds_vf_backend *b);
/* The next pass (one ds_vf_backend_begin .. ds_vf_backend_end) also runs this scan:
 * its readers test what they read and scan the tensors the pass does not read;
 * ds_vf_backend_end waits until the scan has finished, then forgets it. */
void ds_vf_backend_set_scan(ds_vf_backend *b, ds_ws_scan *sc);
/* Announces rows [r0, r0+n) of weight name ([rows, cols]) as the next one to be
 * taken. A failure is reported here and returned again by ds_vf_linear_w. */
int ds_vf_plan(ds_vf_backend *b, const char *name, int64_t r0, int64_t n, int64_t rows, int64_t cols);
/* y[M,N] = x[M,K] . W^T, W = rows [r0, r0+N) of weight name ([rows, K]), host
 * activations. W planned: taken from the stream; otherwise read directly. */
int ds_vf_linear_w(ds_vf_backend *b, const char *name, int64_t r0, int64_t rows, const float *x, float *y, int64_t M,
                   int64_t N, int64_t K);
/* y[M,N] = x[M,K] . w[N,K]^T, host pointers. */
int ds_vf_linear(ds_vf_backend *b, const float *x, const float *w, float *y, int64_t M, int64_t N, int64_t K);
/* One line of phase times since ds_vf_backend_begin, for a pass of seconds that read bytes. */
void ds_vf_backend_profile(const ds_vf_backend *b, double seconds, uint64_t bytes, FILE *f);

#endif
