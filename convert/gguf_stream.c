/* gguf_stream.c - to-gguf's tensor data, in parallel at known offsets.
 *
 * A GGUF is one file whose every tensor offset is in its header, so nothing
 * forces one sequential writer. The plan is cut into units - a run of whole
 * rows of one source (an expert of a stacked tensor, a slice of a plain one),
 * or a run of heads of kv_b_proj's two halves - each with its own output
 * offset and size. Every worker (one per --threads) takes the next unit in
 * file order and does all of it: the input pages (the shard is mapped),
 * the encoding into an output buffer, which goes to the writer thread(s)
 * (--writers, default 1) that pwrite it at the unit's offset. No OpenMP team
 * spins beside them: a worker calls the kernels on its own (nested regions
 * are one thread). The kernel serializes buffered writes to one file (ext4
 * holds the inode lock for each), so one writer that never waits for it
 * replaces workers queueing (and spinning) for it; the workers encode ahead
 * and sleep when the pool is empty. --writers 0: each worker pwrites its own
 * units. --io mmap maps the (reserved) file and encodes straight into the
 * page cache, with no copy and no lock but every page zeroed and faulted in
 * first (1.5-2x slower than pwrite on ext4, measured on the H200).
 *
 * Memory: per worker two scratch buffers of float32 rows (BATCH_ELEMS, or a
 * row or a head where larger) and units of output: a pool of min(workers, 16) + 2N
 * (--writers 0: one per worker; mmap: none); the input pages a unit read (and with
 * mmap the output pages it wrote) are unmapped when it is done (they stay in
 * the page cache), so resident memory is about workers x (unit in + unit out
 * + scratch), whatever the model.
 *
 * CUDA (--device cuda): worker 0 - the thread whose device --device chose -
 * encodes its units on the GPU (FP8 or BF16 rows copied there, dequantized,
 * encoded, copied back into the output); the other workers encode on the CPU.
 * The bytes are the same either way; --threads 1 puts every unit the GPU can
 * take on it. BF16 out of FP8 or BF16 is a byte-for-byte table look-up and
 * stays on the CPU (the GPU would add two copies and nothing else), so where
 * that is all there is no context is made. With more workers, worker 0 gives
 * the GPU back shortly before the end (near_end) and finishes on the CPU. */
#include "convert/gguf_stream.h"
#include "formats/dtype.h"
#include "kernels/kernels.h"
#include "kernels/gguf_quant.h"
#include "kernels/device.h"
#include "common/bug.h"
#include "common/util.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* elements per unit: 4 MiB of BF16 out, 2 MiB of FP8 in */
#define UNIT_ELEMS ((int64_t)2 << 20)
/* float32 rows encoded at a time: 512 KiB, near the core's cache */
#define BATCH_ELEMS ((int64_t)128 << 10)

typedef struct {
    int t, si;          /* plan tensor, source (a stacked tensor's expert) */
    int64_t a, n;       /* source rows [a, a+n); kv_b halves: heads [a, a+n) */
    uint64_t off, nb;   /* output file offset and bytes */
} gg_unit;

typedef struct {
    const ds_ckpt *c;
    const ds_gg_plan *p;
    ds_gguf_writer *w;
    uint8_t *map;       /* the output file mapped, or NULL: pwrite */
    gg_unit *u;
    int64_t nu, next;   /* next: the next unit to take (atomic) */
    int err;            /* the first error (atomic); workers stop taking units */
    int fp8_f32, kq, show;
    int64_t cap;        /* floats per scratch buffer */
    uint64_t max_nb;    /* largest unit's output */
    uint64_t done, total;
    double t0, last, last_mem;
    uint64_t peak_anon;
    int no_populate;    /* the kernel has no MADV_POPULATE_* (atomic) */
    /* --writers N (pwrite): N threads write the units the workers hand them
     * through a pool of min(workers, 16) + 2N buffers; 0: each worker writes its own */
    int nwriters, stop;
    pthread_mutex_t mu;
    pthread_cond_t pool_cv; /* a buffer came back (workers wait on it), or err */
    pthread_cond_t queue_cv;/* a buffer was filled (writers wait on it), or stop */
    uint8_t **pool;
    int npool;              /* free buffers in pool */
    struct { uint8_t *buf; uint64_t off, nb; } *q;
    int qcap, qhead, qlen;  /* filled buffers waiting for a writer */
    double wbusy;           /* the writers' seconds in pwrite */
    /* GPU: worker 0's buffers */
    const ds_device *gpu;
    void *dw, *dbf, *df, *dq, *dscale;
    size_t dscale_cap;
    const ds_ckpt_entry *dscale_of; /* the scale tensor now in dscale */
    uint64_t gpu_bytes;
    int own_gpu;        /* the context is this command's (resolved here), so it may be released early */
} gg_run;

static int64_t unit_rows(int64_t elems_per_row) {
    int64_t n = UNIT_ELEMS / (elems_per_row > 0 ? elems_per_row : 1);
    return n < 1 ? 1 : n;
}

static void add_unit(gg_run *r, int64_t *cap, int t, int si, int64_t a, int64_t n, uint64_t off, uint64_t nb) {
    if (r->nu == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        r->u = xrealloc(r->u, (size_t)*cap * sizeof *r->u);
    }
    r->u[r->nu++] = (gg_unit){t, si, a, n, off, nb};
    if (nb > r->max_nb) r->max_nb = nb;
}

/* The units of every tensor, in file order; checks they tile the data exactly. */
static int build_units(gg_run *r) {
    int64_t cap = 0;
    uint64_t sum = 0;
    for (int i = 0; i < r->p->n; i++) {
        const ds_gg_tensor *t = &r->p->t[i];
        const ds_ggml_traits *tr = ds_ggml_info(t->type);
        uint64_t off = ds_gguf_data_offset(r->w, i), tb = 0;
        if (t->kind == DS_GG_PLAIN || t->kind == DS_GG_STACK) {
            uint64_t rb = ds_ggml_row_bytes(tr, t->cols);
            int64_t step = unit_rows(t->cols);
            for (int si = 0; si < t->n_src; si++)
                for (int64_t a = 0; a < t->rows; a += step) {
                    int64_t n = t->rows - a < step ? t->rows - a : step;
                    add_unit(r, &cap, i, si, a, n, off + ((uint64_t)si * (uint64_t)t->rows + (uint64_t)a) * rb,
                             (uint64_t)n * rb);
                    tb += (uint64_t)n * rb;
                }
        } else {
            /* per head: attn_k_b is kv_lora rows of nope, attn_v_b v rows of kv_lora */
            int64_t H = t->ne[2];
            uint64_t hb = (uint64_t)t->ne[1] * ds_ggml_row_bytes(tr, t->ne[0]);
            int64_t step = unit_rows(t->ne[0] * t->ne[1]);
            for (int64_t a = 0; a < H; a += step) {
                int64_t n = H - a < step ? H - a : step;
                add_unit(r, &cap, i, 0, a, n, off + (uint64_t)a * hb, (uint64_t)n * hb);
                tb += (uint64_t)n * hb;
            }
        }
        ds_gguf_tensor_desc d = {t->name, t->type, t->ndim, {t->ne[0], t->ne[1], t->ne[2], t->ne[3]}};
        if (tb != ds_gguf_tensor_bytes(&d)) DS_BUG("to-gguf units of a tensor do not tile it");
        sum += tb;
    }
    if (sum != r->total) DS_BUG("to-gguf units do not tile the tensor data");
    return 0;
}

/* ---- input ------------------------------------------------------------------ */
/* Rows [r0, r0+nr) of source si of t as float32: FP8 exactly as fp8-to-bf16
 * writes it (bf16-rounded product) so every output type starts from the BF16
 * checkpoint's values (or the float32 product, --fp8-f32); BF16/F16/F32
 * widened. Called from a worker: the kernels' OpenMP loops run on it alone. */
static void src_rows_f32(const ds_ckpt *c, const ds_gg_tensor *t, int si, int64_t r0, int64_t nr, float *out,
                         int fp8_f32) {
    const ds_ckpt_entry *e = t->src[si];
    const uint8_t *d = ds_ckpt_data(c, e);
    int64_t cols = t->cols, n = nr * cols;
    switch (e->info->dtype) {
    case DS_F8_E4M3: {
        const ds_ckpt_entry *s = t->scale[si];
        (fp8_f32 ? ds_cpu_dequant_fp8_f32_exact : ds_cpu_dequant_fp8_f32)(
            d + r0 * cols, out, r0, nr, cols, (const float *)ds_ckpt_data(c, s), s->info->shape[1], t->block[0],
            t->block[1]);
        return;
    }
    case DS_BF16: {
        const uint16_t *p = (const uint16_t *)d + r0 * cols;
        for (int64_t i = 0; i < n; i++) { uint32_t u = (uint32_t)p[i] << 16; memcpy(&out[i], &u, 4); }
        return;
    }
    case DS_F16: {
        const uint16_t *p = (const uint16_t *)d + r0 * cols;
        for (int64_t i = 0; i < n; i++) out[i] = ds_f16_to_f32(p[i]);
        return;
    }
    case DS_F32: memcpy(out, (const float *)d + r0 * cols, (size_t)n * 4); return;
    default: DS_BUG("source dtype checked by the planner");
    }
}

/* The source bytes a unit reads: [*a, *b). */
static void unit_input(const gg_run *r, const gg_unit *u, uintptr_t *a, uintptr_t *b) {
    const ds_gg_tensor *t = &r->p->t[u->t];
    const ds_ckpt_entry *e = t->src[u->si];
    int64_t esz = ds_dtype_size(e->info->dtype);
    int64_t r0 = u->a, r1 = u->a + u->n;
    if (t->kind == DS_GG_KB || t->kind == DS_GG_VB) { /* heads of rows/H rows each */
        int64_t per = t->rows / t->ne[2];
        r0 *= per; r1 *= per;
    }
    *a = (uintptr_t)ds_ckpt_data(r->c, e) + (uintptr_t)(r0 * t->cols * esz);
    *b = (uintptr_t)ds_ckpt_data(r->c, e) + (uintptr_t)(r1 * t->cols * esz);
}

/* madvise over the pages holding [a, b) (whole pages: a neighbour unit
 * sharing an edge page only faults it in again; file pages stay in the page
 * cache, and a dirty one stays dirty). */
static int advise(uintptr_t a, uintptr_t b, int advice) {
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    a &= ~(pg - 1);
    b = (b + pg - 1) & ~(pg - 1);
    return b > a ? madvise((void *)a, b - a, advice) : 0;
}

/* Faults the unit's input in with one call (counted as reading). */
static void populate(gg_run *r, uintptr_t a, uintptr_t b, int advice) {
    if (__atomic_load_n(&r->no_populate, __ATOMIC_RELAXED)) return;
    if (advise(a, b, advice) != 0) __atomic_store_n(&r->no_populate, 1, __ATOMIC_RELAXED); /* older kernel: the stores fault */
}

/* ---- encoding ------------------------------------------------------------------ */
static int encode(const gg_run *r, float *x, int64_t nrows, int64_t cols, ds_ggml_type type, uint8_t *out) {
    if (r->kq && type != DS_GGML_F32) {
        /* llama-quantize reads the converter's BF16 file: round to BF16 first
         * (a no-op for FP8 and BF16 sources) */
        for (int64_t i = 0; i < nrows * cols; i++) x[i] = ds_bf16_to_f32(ds_f32_to_bf16(x[i]));
    }
    return ds_cpu_gguf_encode(x, nrows, cols, type, out);
}

/* BF16 out of BF16, or of FP8 rounded as fp8-to-bf16 does: the bytes, one pass
 * (ggml's f32->bf16 of a bf16 value is the value; NaN 0x7FFF both). */
static int bf16_direct(const gg_run *r, const ds_gg_tensor *t, int si) {
    ds_dtype sd = t->src[si]->info->dtype;
    return t->type == DS_GGML_BF16 && (sd == DS_BF16 || (sd == DS_F8_E4M3 && !r->fp8_f32));
}

static int cpu_unit(const gg_run *r, const gg_unit *u, uint8_t *dst, float *f, float *tmp) {
    const ds_ckpt *c = r->c;
    const ds_gg_tensor *t = &r->p->t[u->t];
    int64_t cols = t->cols;
    const ds_ggml_traits *tr = ds_ggml_info(t->type);
    if (t->kind == DS_GG_PLAIN || t->kind == DS_GG_STACK) {
        if (bf16_direct(r, t, u->si)) {
            const uint8_t *d = ds_ckpt_data(c, t->src[u->si]);
            if (t->src[u->si]->info->dtype == DS_BF16) memcpy(dst, d + u->a * cols * 2, (size_t)(u->n * cols * 2));
            else {
                const ds_ckpt_entry *sc = t->scale[u->si];
                ds_cpu_dequant_fp8_bf16(d + u->a * cols, (uint16_t *)dst, u->a, u->n, cols,
                                        (const float *)ds_ckpt_data(c, sc), sc->info->shape[1], t->block[0], t->block[1]);
            }
            return 0;
        }
        uint64_t rb = ds_ggml_row_bytes(tr, cols);
        int64_t step = r->cap / cols;
        if (step < 1) step = 1;
        for (int64_t b = 0; b < u->n; b += step) {
            int64_t nr = u->n - b < step ? u->n - b : step;
            src_rows_f32(c, t, u->si, u->a + b, nr, f, r->fp8_f32);
            DS_TRY(encode(r, f, nr, cols, t->type, dst + (uint64_t)b * rb));
        }
        return 0;
    }
    /* kv_b_proj, a head at a time: rows h*(nope+v) .. +nope are k, the next v rows are v */
    int64_t H = t->ne[2], per = t->rows / H;
    uint64_t hb = (uint64_t)t->ne[1] * ds_ggml_row_bytes(tr, t->ne[0]);
    for (int64_t h = u->a; h < u->a + u->n; h++) {
        uint8_t *o = dst + (uint64_t)(h - u->a) * hb;
        if (t->kind == DS_GG_KB) {
            int64_t nope = t->ne[0];
            src_rows_f32(c, t, 0, h * per, nope, tmp, r->fp8_f32); /* [nope, kvl] */
            for (int64_t i = 0; i < nope; i++)
                for (int64_t j = 0; j < cols; j++) f[j * nope + i] = tmp[i * cols + j];
            DS_TRY(encode(r, f, cols, nope, t->type, o)); /* [kvl, nope] */
        } else {
            int64_t vd = t->ne[1];
            src_rows_f32(c, t, 0, h * per + (per - vd), vd, f, r->fp8_f32);
            DS_TRY(encode(r, f, vd, cols, t->type, o));
        }
    }
    return 0;
}

/* Units the GPU takes: rows of FP8 (read as fp8-to-bf16 does) or BF16 into a
 * type that needs encoding. The rest (F32 copies, BF16 look-ups, the kv_b
 * transposes, F16/F32 sources) are the CPU's. */
static int gpu_can(const gg_run *r, const gg_unit *u) {
    const ds_gg_tensor *t = &r->p->t[u->t];
    if (t->type == DS_GGML_F32 || (t->kind != DS_GG_PLAIN && t->kind != DS_GG_STACK) ||
        bf16_direct(r, t, u->si))
        return 0;
    ds_dtype sd = t->src[u->si]->info->dtype;
    return sd == DS_BF16 || (sd == DS_F8_E4M3 && !r->fp8_f32);
}

static int gpu_takes(const gg_run *r, const gg_unit *u) { return r->gpu && gpu_can(r, u); }

/* On the GPU, on the legacy default stream of worker 0's device: copy the
 * rows there, FP8 -> BF16 (the same kernel as fp8-to-bf16), widen, encode
 * (returns when done), copy the bytes back into the output. */
static int gpu_unit(gg_run *r, const gg_unit *u, uint8_t *dst) {
    const ds_device *g = r->gpu;
    const ds_gg_tensor *t = &r->p->t[u->t];
    const ds_ckpt_entry *e = t->src[u->si];
    const uint8_t *d = ds_ckpt_data(r->c, e);
    int64_t cols = t->cols, n = u->n * cols;
    if (e->info->dtype == DS_F8_E4M3) {
        const ds_ckpt_entry *sc = t->scale[u->si];
        if (r->dscale_of != sc) {
            size_t sb = (size_t)(sc->info->end - sc->info->begin);
            if (sb > r->dscale_cap) {
                g->free(r->dscale);
                r->dscale = NULL;
                DS_TRY(g->alloc(&r->dscale, sb));
                r->dscale_cap = sb;
            }
            DS_TRY(g->h2d(r->dscale, ds_ckpt_data(r->c, sc), sb));
            r->dscale_of = sc;
        }
        DS_TRY(g->h2d(r->dw, d + u->a * cols, (size_t)n));
        DS_TRY(g->dequant_fp8_bf16(r->dw, r->dbf, u->a, u->n, cols, r->dscale, sc->info->shape[1], t->block[0],
                                   t->block[1], NULL));
    } else {
        DS_TRY(g->h2d(r->dbf, d + u->a * cols * 2, (size_t)n * 2));
    }
    DS_TRY(g->widen_bf16_f32(r->dbf, r->df, n, NULL));
    DS_TRY(g->gguf_encode(r->df, u->n, cols, t->type, r->dq));
    DS_TRY(g->d2h(dst, r->dq, (size_t)u->nb));
    r->gpu_bytes += u->nb;
    return 0;
}

static void gpu_free(gg_run *r) {
    const ds_device *g = r->gpu;
    g->free(r->dw); g->free(r->dbf); g->free(r->df); g->free(r->dq); g->free(r->dscale);
    r->dw = r->dbf = r->df = r->dq = r->dscale = NULL;
    r->dscale_of = NULL;
}

/* Worker 0 gives the GPU back once the units left would take the workers less
 * than this at the pace so far, and finishes on the CPU: the context's teardown
 * (0.1 s, H200, 2026-11-30), which a process otherwise pays at exit after the
 * file is complete, then runs beside the other workers' last units. */
#define RELEASE_AHEAD_S 0.3
static int near_end(const gg_run *r) {
    int64_t taken = __atomic_load_n(&r->next, __ATOMIC_RELAXED);
    if (taken < 1) return 0;
    double pace = (ds_now() - r->t0) / (double)taken; /* seconds per unit, all workers together */
    return (double)(r->nu - taken) * pace < RELEASE_AHEAD_S;
}
static void gpu_release(gg_run *r) {
    gpu_free(r);
    if (r->gpu->release) r->gpu->release();
    r->gpu = NULL; /* read by worker 0 alone */
}

/* ---- writers ------------------------------------------------------------------- */
static void set_err(gg_run *r, int rc) {
    int zero = 0;
    __atomic_compare_exchange_n(&r->err, &zero, rc, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    if (r->nwriters) { /* wake whoever waits for a buffer or a unit */
        pthread_mutex_lock(&r->mu);
        pthread_cond_broadcast(&r->pool_cv);
        pthread_cond_broadcast(&r->queue_cv);
        pthread_mutex_unlock(&r->mu);
    }
}

/* A free buffer, or NULL once the run has failed. */
static uint8_t *pool_get(gg_run *r) {
    pthread_mutex_lock(&r->mu);
    while (!r->npool && !__atomic_load_n(&r->err, __ATOMIC_RELAXED)) pthread_cond_wait(&r->pool_cv, &r->mu);
    uint8_t *b = __atomic_load_n(&r->err, __ATOMIC_RELAXED) ? NULL : r->pool[--r->npool];
    pthread_mutex_unlock(&r->mu);
    return b;
}
static void pool_put(gg_run *r, uint8_t *b) {
    pthread_mutex_lock(&r->mu);
    r->pool[r->npool++] = b;
    pthread_cond_signal(&r->pool_cv); /* one buffer: one worker (no herd waking beside the writer) */
    pthread_mutex_unlock(&r->mu);
}
/* Hands a filled buffer to the writers (the queue holds every buffer: never full). */
static void queue_put(gg_run *r, uint8_t *b, uint64_t off, uint64_t nb) {
    pthread_mutex_lock(&r->mu);
    int k = (r->qhead + r->qlen++) % r->qcap;
    r->q[k].buf = b; r->q[k].off = off; r->q[k].nb = nb;
    pthread_cond_signal(&r->queue_cv);
    pthread_mutex_unlock(&r->mu);
}

static void *writer_main(void *arg) {
    gg_run *r = arg;
    double busy = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->qlen && !r->stop) pthread_cond_wait(&r->queue_cv, &r->mu);
        if (!r->qlen) { pthread_mutex_unlock(&r->mu); break; }
        uint8_t *b = r->q[r->qhead].buf;
        uint64_t off = r->q[r->qhead].off, nb = r->q[r->qhead].nb;
        r->qhead = (r->qhead + 1) % r->qcap;
        r->qlen--;
        pthread_mutex_unlock(&r->mu);
        if (!__atomic_load_n(&r->err, __ATOMIC_RELAXED)) { /* after an error: only hand the buffers back */
            double t0 = ds_now();
            int rc = ds_gguf_pwrite(r->w, off, b, nb);
            busy += ds_now() - t0;
            if (rc) set_err(r, rc);
            else __atomic_add_fetch(&r->done, nb, __ATOMIC_RELAXED);
        }
        pool_put(r, b);
    }
    pthread_mutex_lock(&r->mu);
    r->wbusy += busy;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- workers -------------------------------------------------------------------- */
static void progress(gg_run *r) {
    double now = ds_now();
    if (now - r->last_mem > 0.1) {
        /* anonymous memory is what the bound is about (file pages are the page cache's) */
        uint64_t a = ds_rss_anon();
        if (a > r->peak_anon) r->peak_anon = a;
        r->last_mem = now;
    }
    if (!r->show) return;
    uint64_t done = __atomic_load_n(&r->done, __ATOMIC_RELAXED);
    if (now - r->last > 0.5 || done == r->total) {
        r->last = now;
        fprintf(stderr, "\rto-gguf: %5.1f%%  %.2f GB  %.2f GB/s ", 100.0 * (double)done / (double)(r->total ? r->total : 1),
                (double)done / 1e9, (double)done / 1e9 / (now - r->t0 + 1e-9));
    }
}

typedef struct { double read, xf, write; } busy_t;

static int do_unit(gg_run *r, const gg_unit *u, int gpu_worker, uint8_t *stage, float *f, float *tmp, busy_t *b) {
    const ds_gg_tensor *t = &r->p->t[u->t];
    double t0 = ds_now();
    uintptr_t ia, ib;
    unit_input(r, u, &ia, &ib);
    populate(r, ia, ib, MADV_POPULATE_READ);
    double t1 = ds_now();
    uint8_t *dst = r->map ? r->map + u->off : stage;
    if (r->map) populate(r, (uintptr_t)dst, (uintptr_t)dst + u->nb, MADV_POPULATE_WRITE);
    double t2 = ds_now();
    int rc = gpu_worker && gpu_takes(r, u) ? gpu_unit(r, u, dst) : cpu_unit(r, u, dst, f, tmp);
    double t3 = ds_now();
    if (!rc) {
        if (r->map) {
            ds_gguf_mapped_written(r->w, u->nb);
            advise((uintptr_t)dst, (uintptr_t)dst + u->nb, MADV_DONTNEED); /* dirty pages stay in the page cache */
        } else if (!r->nwriters) {
            rc = ds_gguf_pwrite(r->w, u->off, stage, u->nb);
        } /* else the caller queues stage for the writers */
    }
    /* kv_b_proj is read by attn_k_b and attn_v_b: its pages go with attn_v_b's units */
    if (t->kind != DS_GG_KB) advise(ia, ib, MADV_DONTNEED);
    double t4 = ds_now();
    b->read += t1 - t0;
    b->write += (t2 - t1) + (t4 - t3);
    b->xf += t3 - t2;
    return rc;
}

int ds_gguf_stream(const ds_ckpt *c, const ds_gg_plan *p, const ds_gguf_opts *o, ds_gguf_writer *w, uint8_t *base,
                   uint64_t data_bytes, ds_gguf_stream_stats *st) {
    memset(st, 0, sizeof *st);
    st->gpu_released = -1;
    gg_run r;
    memset(&r, 0, sizeof r);
    r.c = c; r.p = p; r.w = w; r.map = base;
    r.fp8_f32 = o->fp8_f32;
    r.kq = o->type == DS_GGML_Q4_K || o->type == DS_GGML_Q6_K;
    r.total = data_bytes;
    r.show = !o->quiet && (o->progress || isatty(2));
    int rc = build_units(&r);
    /* scratch: a batch of rows, or one row / one kv_b head where larger */
    r.cap = BATCH_ELEMS;
    for (int i = 0; i < p->n; i++) {
        const ds_gg_tensor *t = &p->t[i];
        int64_t need = t->kind == DS_GG_KB || t->kind == DS_GG_VB ? t->ne[0] * t->ne[1] : t->cols;
        if (need > r.cap) r.cap = need;
    }
    int64_t max_elems = 0; /* of a unit the GPU may take; 0: none (bf16 from FP8: the GPU gets no buffers,
                            * and with --device auto no context either) */
    for (int64_t k = 0; k < r.nu; k++)
        if (gpu_can(&r, &r.u[k]) && r.u[k].n * p->t[r.u[k].t].cols > max_elems) max_elems = r.u[k].n * p->t[r.u[k].t].cols;
    const ds_device *dev = NULL;
    int on_cuda = 0;
    if (!rc && !o->resolve_device) rc = ds_device_get(o->use_cuda, &dev);
    if (!rc && dev && dev->gpu) {
        on_cuda = 1;
        if (max_elems) r.gpu = dev, st->gpu_context = 1; /* worker 0 allocates its buffers (below) */
    }
    int nw = omp_get_max_threads();
    if (nw < 1) nw = 1;
    r.nwriters = base ? 0 : o->writers;
    st->workers = nw;
    st->writers = r.nwriters;
    st->units = r.nu;
    st->unit_elems = UNIT_ELEMS;
    /* the pool: enough for 16 workers to encode ahead of the writers (more
     * workers only wait their turn: the writers bound the pace, not the pool) */
    uint64_t nbuf = base ? 0 : r.nwriters ? (uint64_t)(nw < 16 ? nw : 16) + 2 * (uint64_t)r.nwriters : (uint64_t)nw;
    st->buffer_bytes = (uint64_t)nw * (uint64_t)r.cap * 8 + nbuf * r.max_nb;
    r.t0 = r.last = r.last_mem = ds_now();
    busy_t total = {0, 0, 0};
    pthread_t *wt = NULL;
    int nstarted = 0, wready = 0;
    if (!rc && r.nwriters) {
        wready = 1;
        pthread_mutex_init(&r.mu, NULL);
        pthread_cond_init(&r.pool_cv, NULL);
        pthread_cond_init(&r.queue_cv, NULL);
        r.qcap = r.npool = (int)nbuf;
        r.pool = xcalloc(nbuf, sizeof *r.pool);
        r.q = xcalloc(nbuf, sizeof *r.q);
        for (uint64_t i = 0; i < nbuf; i++) r.pool[i] = xaligned((size_t)(r.max_nb ? r.max_nb : 1));
        wt = xcalloc((size_t)r.nwriters, sizeof *wt);
        for (; nstarted < r.nwriters && !rc; nstarted++)
            if (pthread_create(&wt[nstarted], NULL, writer_main, &r) != 0) {
                rc = ds_fail(DS_EXIT_IO, "to-gguf: cannot start a writer thread");
                break;
            }
        if (rc) set_err(&r, rc);
    }
    if (!rc) {
#pragma omp parallel num_threads(nw)
        {
            int me = omp_get_thread_num();
            omp_set_num_threads(1); /* the kernels' own OpenMP loops run on this worker alone */
            float *f = xaligned((size_t)r.cap * 4), *tmp = xaligned((size_t)r.cap * 4);
            uint8_t *stage = base || r.nwriters ? NULL : xaligned((size_t)(r.max_nb ? r.max_nb : 1));
            busy_t b = {0, 0, 0};
            if (me == 0 && o->resolve_device && (max_elems || !o->device_auto)) {
                /* --device auto/cuda: CUDA starts here, while the others work. Where
                 * the GPU could take no unit, its context's start (0.2 s) and teardown
                 * (0.1-0.2 s, H200, 2026-11-30) would buy nothing: auto does not look
                 * for it, cuda only checks it is there. */
                int use = 0, grc = o->resolve_device(o->resolve_ctx, max_elems != 0, &use);
                const ds_device *g = NULL;
                if (!grc && use && !(grc = ds_device_get(1, &g))) {
                    on_cuda = 1;
                    if (max_elems) r.gpu = g, r.own_gpu = st->gpu_context = 1;
                }
                if (grc) set_err(&r, grc);
            }
            if (me == 0 && r.gpu && !__atomic_load_n(&r.err, __ATOMIC_RELAXED)) {
                /* The GPU's first allocation creates its context (a good part of a
                 * second): worker 0 waits for it while the others start on units. */
                int grc = r.gpu->alloc(&r.dw, (size_t)max_elems);
                if (!grc) grc = r.gpu->alloc(&r.dbf, (size_t)max_elems * 2);
                if (!grc) grc = r.gpu->alloc(&r.df, (size_t)max_elems * 4);
                if (!grc) grc = r.gpu->alloc(&r.dq, (size_t)max_elems * 4);
                if (grc) set_err(&r, grc);
                b.xf += ds_now() - r.t0;
            }
            for (;;) {
                if (__atomic_load_n(&r.err, __ATOMIC_RELAXED)) break;
                if (me == 0 && r.gpu && r.own_gpu && nw > 1 && near_end(&r)) {
                    double tr = ds_now();
                    gpu_release(&r);
                    b.xf += ds_now() - tr;
                    st->gpu_released = tr - r.t0;
                }
                int64_t k = __atomic_fetch_add(&r.next, 1, __ATOMIC_RELAXED);
                if (k >= r.nu) break;
                uint8_t *buf = stage;
                if (r.nwriters) { /* waiting for a free buffer is waiting for the writers */
                    double tw = ds_now();
                    buf = pool_get(&r);
                    b.write += ds_now() - tw;
                    if (!buf) break;
                }
                int urc = do_unit(&r, &r.u[k], me == 0 && r.gpu, buf, f, tmp, &b);
                if (r.nwriters) {
                    if (urc) pool_put(&r, buf);
                    else queue_put(&r, buf, r.u[k].off, r.u[k].nb);
                }
                if (urc) {
                    set_err(&r, urc);
                    break;
                }
                if (!r.nwriters) __atomic_add_fetch(&r.done, r.u[k].nb, __ATOMIC_RELAXED);
                if (me == 0) progress(&r);
            }
            free(f); free(tmp); free(stage);
#pragma omp critical(gguf_busy)
            {
                total.read += b.read; total.xf += b.xf; total.write += b.write;
            }
        }
    }
    if (wready) { /* the writers drain the queue, then stop */
        pthread_mutex_lock(&r.mu);
        r.stop = 1;
        pthread_cond_broadcast(&r.queue_cv);
        pthread_mutex_unlock(&r.mu);
        for (int i = 0; i < nstarted; i++) pthread_join(wt[i], NULL);
        total.write += r.wbusy;
        st->writer_busy = r.wbusy;
        for (int i = 0; i < r.npool; i++) free(r.pool[i]);
        free(r.pool); free(r.q); free(wt);
        pthread_mutex_destroy(&r.mu);
        pthread_cond_destroy(&r.pool_cv);
        pthread_cond_destroy(&r.queue_cv);
    }
    if (!rc) {
        rc = r.err;
        if (!rc) progress(&r);
        if (r.show) fputc('\n', stderr);
    }
    st->pipeline = ds_now() - r.t0;
    st->read_busy = total.read;
    st->transform_busy = total.xf;
    st->write_busy = total.write;
    st->gpu = on_cuda;
    st->gpu_bytes = r.gpu_bytes;
    st->peak_anon = r.peak_anon;
    if (r.gpu) gpu_free(&r);
    free(r.u);
    return rc;
}
