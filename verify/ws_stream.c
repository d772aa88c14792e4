/* ws_stream.c - the weight stream (ws_stream.h): planned requests in a FIFO,
 * reader threads that fill a ring buffer with their stored bytes, and the take
 * that decodes a request to float32.
 *
 * Requests are taken in the order they were planned, so the ring is a plain
 * FIFO: readers allocate each request's region at the ring's head, in plan
 * order, and a region is freed when its request has been taken (on the CUDA
 * path: at the next take, once the decode enqueued by this one has run).
 * Whatever the readers are doing, the oldest untaken request can always get
 * its region (everything before it is freed), so a ring that holds the
 * largest request never deadlocks.
 *
 * A request's region holds, per stored piece (one, or one per rank file of a
 * split MP tensor): FP8: the e4m3 bytes of its rows, then its scale rows as
 * float32; BF16 / F32: the stored bytes; anything else (F16, integer-quantized)
 * float32 decoded by the reader with ds_ws_part_read. On the CPU path only FP8
 * and BF16 are read ahead; the rest is decoded at the take, from the mapping,
 * as ds_ws_read_rows does (no ring space for 4-byte copies of it).
 *
 * Readers work in chunks of chunk_bytes (stored bytes by pread from the file,
 * which on a warm page cache runs several GB/s per thread, and several readers
 * read different chunks at once). On the CUDA path each reader owns a stream
 * and two pinned staging buffers: it reads chunk k+1 into one while chunk k is
 * uploaded from the other, and marks a chunk arrived once its upload event
 * has completed.
 *
 * Memory, copies, events and kernels go through the device table
 * (kernels/device.h) chosen at open. The staged CPU mode (tests) runs that same
 * path - staging, upload, decode with the table's kernels - on the CPU
 * instance, whose copies are memcpy and whose events are always complete. */
#include "verify/ws_stream.h"
#include "verify/ws_impl.h"
#include "verify/ws_scan.h"
#include "kernels/device.h"
#include "common/bug.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NO_REGION UINT64_MAX
#define REGION_ALIGN 256
#define DEFAULT_CHUNK ((size_t)16 << 20)

enum { P_RAW, P_DECODE, P_LAZY };  /* stored bytes / float32 from a reader / float32 at the take */
enum { C_SCALE, C_RAW, C_DECODE }; /* what a chunk fills */

typedef struct {
    ds_ws_piece pc;
    int mode;
    uint64_t esz;              /* P_RAW: stored bytes per element */
    uint64_t data_off, data_bytes; /* in the request's region */
    int fp8;
    uint64_t scale_off;        /* FP8: scale rows [sb0, sb0+snb) of sc floats */
    int64_t sb0, snb, sc;
} wpiece;

typedef struct wreq {
    char *name;
    int64_t r0, n, cols;
    int rc;                    /* plan failure or a reader's I/O failure */
    wpiece *p;
    int np;
    uint64_t bytes;            /* region size */
    uint64_t off;              /* region in the ring, NO_REGION until allocated (or never) */
    uint64_t stored;           /* stored bytes, for ds_ws_bytes_read */
    int ip, phase;             /* issue cursor: piece, 0 scale / 1 data, position */
    uint64_t pos;
    int issued_all, pending;   /* every chunk handed out; chunks not yet arrived */
    int taken;
    struct wreq *next;
} wreq;

typedef struct {
    int kind;
    wreq *q;
    int ip;
    uint64_t pos, len;         /* C_RAW: bytes; C_DECODE: rows */
    uint64_t dst;              /* ring offset */
    uint64_t bytes;            /* bytes it fills */
} wchunk;

typedef struct {
    struct ds_ws_stream *s;
    pthread_t th;
    int started;
    void *stream;
    void *buf[2];
    size_t cap[2];
    void *ev[2];
    wchunk pend[2];            /* CUDA: chunk whose upload from buf[b] is in flight */
    int has[2];
    int turn;
    double read_s, copy_wait_s, ring_wait_s, idle_s; /* lock held to touch */
    uint64_t bytes;
    double l_read_s, l_copy_wait_s;                 /* the reader's own, moved to the above under the lock */
    uint64_t l_bytes;
    uint8_t *sbuf;             /* scan-only chunks (ws_scan.h) */
    size_t scap;
} reader;

struct ds_ws_stream {
    ds_ws_stream_opts o;
    const ds_device *dev;      /* chosen once, from o.cuda */
    int gpu_like;              /* CUDA, or the staged CPU emulation of it */
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv, idle_cv;
    reader *rd;
    int nrd;
    int quit, active, busy;
    ds_ws_source *ws;
    uint8_t *ring;
    uint64_t cap, rhead;
    wreq *first, *last;        /* every request not yet freed, in plan order */
    wreq *issue;               /* next to hand out chunks from */
    wreq *next_take;
    void *take_ev;             /* CUDA: recorded after the last take's decode */
    void *dec_ev;              /* CUDA with profile: recorded before it */
    int timing;                /* dec_ev .. take_ev not yet counted */
    uint16_t *tmp16;           /* CUDA scratch: bf16 of one piece */
    size_t cap16;
    float *tmp32;              /* scratch: float32 of one column piece (device on CUDA) */
    size_t cap32;
    ds_ws_stream_prof prof;    /* taker's fields */
    ds_ws_scan *scan;               /* value checks on the bytes read (ws_scan.h), or NULL */
    ds_ws_scan_dev *dscan;     /* staged path: those of stored bytes in the ring run on the device */
};

static uint64_t align_up(uint64_t x) { return (x + REGION_ALIGN - 1) / REGION_ALIGN * REGION_ALIGN; }

/* ---- memory of the path: the device's (GPU memory on CUDA, host otherwise) ---- */

static int mem_alloc(const ds_ws_stream *s, void **p, size_t n) { return s->dev->alloc(p, n); }

static void mem_free(const ds_ws_stream *s, void *p) { s->dev->free(p); }

static int grow(const ds_ws_stream *s, void **p, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    mem_free(s, *p);
    *p = NULL;
    *cap = 0;
    DS_TRY(mem_alloc(s, p, n));
    *cap = n;
    return 0;
}

/* ---- requests ---------------------------------------------------------------- */

static void req_free(wreq *q) {
    free(q->name);
    free(q->p);
    free(q);
}

static int piece_mode(const ds_ws_stream *s, const ds_ws_part *p) {
    if (p->kind == DS_WQ_FP8) return P_RAW;
    if (p->kind == DS_WQ_PLAIN && p->w->dtype == DS_BF16) return P_RAW;
    if (s->gpu_like && p->kind == DS_WQ_PLAIN && p->w->dtype == DS_F32) return P_RAW;
    return s->gpu_like ? P_DECODE : P_LAZY;
}

/* Stored bytes of nrows rows, as ds_ws_read_rows counts them. */
static uint64_t stored_bytes(const ds_ws_tinfo *ti, int64_t nrows) {
    double per = ti->kind == DS_WQ_FP8 ? 1.0 : ti->kind == DS_WQ_INT ? ti->bits / 8.0 : (double)ds_dtype_size(ti->dtype);
    return (uint64_t)((double)nrows * (double)ti->cols * per);
}

/* Validates and lays out a request (main thread). */
static int req_resolve(ds_ws_stream *s, wreq *q, int64_t rows) {
    ds_ws_source *ws = s->ws;
    ds_ws_tinfo ti;
    DS_TRY(ds_ws_info_shape(ws, q->name, rows, q->cols, &ti));
    ds_ws_piece *pc;
    int n;
    DS_TRY(ws->ops->pieces(ws->impl, q->name, q->r0, q->n, &pc, &n));
    q->p = xcalloc((size_t)(n > 0 ? n : 1), sizeof *q->p);
    q->np = n;
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        wpiece *w = &q->p[i];
        const ds_ws_part *p = &pc[i].part;
        w->pc = pc[i];
        w->mode = piece_mode(s, p);
        w->fp8 = p->kind == DS_WQ_FP8;
        if (w->mode == P_LAZY) continue;
        w->esz = w->mode == P_RAW ? ds_dtype_size(p->w->dtype) : sizeof(float);
        w->data_off = off;
        w->data_bytes = (uint64_t)w->pc.n * (uint64_t)p->cols * w->esz;
        off = align_up(off + w->data_bytes);
        if (w->fp8) {
            w->sb0 = w->pc.r0 / p->br;
            w->snb = (w->pc.r0 + w->pc.n - 1) / p->br - w->sb0 + 1;
            w->sc = p->s->shape[1];
            w->scale_off = off;
            off = align_up(off + (uint64_t)(w->snb * w->sc) * sizeof(float));
        }
    }
    free(pc);
    q->bytes = off;
    q->stored = stored_bytes(&ti, q->n);
    return 0;
}

/* ---- the ring (lock held) ------------------------------------------------------ */

/* Gives q a region at the ring's head, or returns 0 when there is no room yet.
 * Live regions are those of requests from first up to issue (allocated in
 * that order); the oldest one is the ring's tail. */
static int ring_alloc(ds_ws_stream *s, wreq *q) {
    uint64_t size = q->bytes, tail = NO_REGION;
    for (wreq *x = s->first; x && x != q; x = x->next)
        if (x->off != NO_REGION) { tail = x->off; break; }
    uint64_t at = NO_REGION;
    if (tail == NO_REGION) { /* empty: start over at 0, grown if this request needs more */
        if (size > s->cap) {
            uint64_t cap = align_up(size + size / 4);
            mem_free(s, s->ring);
            s->ring = NULL;
            s->cap = 0;
            void *p;
            if (mem_alloc(s, &p, cap)) return -1;
            s->ring = p;
            s->cap = cap;
        }
        at = 0;
    } else if (s->rhead > tail) { /* live [tail, rhead): room after it, or before tail */
        if (s->cap - s->rhead >= size) at = s->rhead;
        else if (tail >= size) at = 0;
    } else if (tail - s->rhead >= size) { /* wrapped: live [tail, cap) and [0, rhead) */
        at = s->rhead;
    }
    if (at == NO_REGION) return 0;
    DS_ASSERT(at + size <= s->cap);
    q->off = at;
    s->rhead = at + size;
    return 1;
}

/* Frees the front request (taken, or dropped). */
static void pop_front(ds_ws_stream *s) {
    wreq *q = s->first;
    s->first = q->next;
    if (!s->first) s->last = NULL;
    if (s->issue == q) s->issue = q->next;
    if (s->next_take == q) s->next_take = q->next;
    req_free(q);
    pthread_cond_broadcast(&s->work_cv); /* ring space */
}

/* ---- readers ------------------------------------------------------------------- */

/* Hands out the next chunk (lock held): 1, or -1 nothing planned, -2 no ring
 * space, -3 the ring could not be allocated (the request fails). */
static int next_chunk(ds_ws_stream *s, wchunk *c) {
    for (;;) {
        wreq *q = s->issue;
        if (!s->active || s->quit || !q) return -1;
        if (!q->rc && q->bytes && q->off == NO_REGION) {
            int a = ring_alloc(s, q);
            if (a == 0) return -2;
            if (a < 0) q->rc = DS_EXIT_IO;
        }
        if (q->rc || !q->bytes || q->ip >= q->np) {
            q->issued_all = 1;
            s->issue = q->next;
            pthread_cond_broadcast(&s->done_cv);
            continue;
        }
        wpiece *w = &q->p[q->ip];
        if (w->mode == P_LAZY) { q->ip++; continue; }
        memset(c, 0, sizeof *c);
        c->q = q;
        c->ip = q->ip;
        if (w->fp8 && q->phase == 0) {
            c->kind = C_SCALE;
            c->dst = q->off + w->scale_off;
            c->bytes = (uint64_t)(w->snb * w->sc) * sizeof(float);
            q->phase = 1;
            q->pos = 0;
        } else if (w->mode == P_RAW) {
            uint64_t left = w->data_bytes - q->pos;
            c->kind = C_RAW;
            c->pos = q->pos;
            c->len = left < s->o.chunk_bytes ? left : s->o.chunk_bytes;
            c->dst = q->off + w->data_off + q->pos;
            c->bytes = c->len;
            q->pos += c->len;
        } else {
            uint64_t rowb = (uint64_t)w->pc.part.cols * sizeof(float), per = s->o.chunk_bytes / (rowb ? rowb : 1);
            uint64_t left = (uint64_t)w->pc.n - q->pos;
            if (per < 1) per = 1;
            c->kind = C_DECODE;
            c->pos = q->pos;
            c->len = left < per ? left : per;
            c->dst = q->off + w->data_off + q->pos * rowb;
            c->bytes = c->len * rowb;
            q->pos += c->len;
        }
        if (c->kind != C_SCALE && q->pos >= (w->mode == P_RAW ? w->data_bytes : (uint64_t)w->pc.n)) {
            q->ip++;
            q->phase = 0;
            q->pos = 0;
        }
        q->pending++;
        if (q->ip >= q->np) {
            q->issued_all = 1;
            s->issue = q->next;
        }
        return 1;
    }
}

/* A chunk has arrived (lock held). */
static void arrived(ds_ws_stream *s, const wchunk *c, int rc) {
    wreq *q = c->q;
    if (rc && !q->rc) q->rc = rc;
    q->pending--;
    if (q->issued_all && q->pending == 0) pthread_cond_broadcast(&s->done_cv);
}

/* Fills dst with the chunk's bytes. */
static int fill(const wchunk *c, void *dst) {
    const wpiece *w = &c->q->p[c->ip];
    const ds_ws_part *p = &w->pc.part;
    switch (c->kind) {
    case C_SCALE:
        ds_ws_part_scale_rows(p, w->sb0, w->snb, dst);
        return 0;
    case C_RAW: {
        uint64_t at = (uint64_t)w->pc.r0 * (uint64_t)p->cols * w->esz + c->pos;
        if (p->fd < 0) {
            memcpy(dst, p->wd + at, c->len);
            return 0;
        }
        return ds_pread_full(p->fd, dst, c->len, p->foff + at, p->file);
    }
    default:
        ds_ws_part_read(p, w->pc.r0 + (int64_t)c->pos, (int64_t)c->len, dst);
        return 0;
    }
}

/* Waits for the upload from buffer b and marks its chunk arrived. */
static int settle(reader *r, int b) {
    ds_ws_stream *s = r->s;
    if (!r->has[b]) return 0;
    double t = ds_now();
    int rc = s->dev->event_sync(r->ev[b]);
    r->l_copy_wait_s += ds_now() - t;
    pthread_mutex_lock(&s->mu);
    arrived(s, &r->pend[b], rc);
    pthread_mutex_unlock(&s->mu);
    r->has[b] = 0;
    return rc;
}

static int staging(reader *r, int b, size_t n) {
    if (r->cap[b] >= n) return 0;
    r->s->dev->host_free(r->buf[b]);
    r->buf[b] = NULL;
    r->cap[b] = 0;
    DS_TRY(r->s->dev->host_alloc(&r->buf[b], n));
    r->cap[b] = n;
    return 0;
}

/* The value check of the bytes a chunk brought in (before it counts as arrived). */
static void scan_chunk(const ds_ws_stream *s, const wchunk *c, const void *data) {
    if (!s->scan || c->kind == C_SCALE) return;
    const wreq *q = c->q;
    const wpiece *w = &q->p[c->ip];
    if (c->kind == C_RAW) ds_ws_scan_stored(s->scan, q->name, q->r0, &w->pc, c->pos, data, c->len, s->dscan != NULL);
    else ds_ws_scan_floats(s->scan, q->name, q->r0, &w->pc, (int64_t)c->pos, (int64_t)c->len, data);
}

static void run_chunk(reader *r, const wchunk *c) {
    ds_ws_stream *s = r->s;
    int rc = 0;
    double t;
    if (!s->gpu_like) { /* straight into the ring */
        t = ds_now();
        rc = fill(c, s->ring + c->dst);
        if (!rc) scan_chunk(s, c, s->ring + c->dst);
        r->l_read_s += ds_now() - t;
        r->l_bytes += c->bytes;
        pthread_mutex_lock(&s->mu);
        arrived(s, c, rc);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    const ds_device *d = s->dev;
    int b = r->turn;
    r->turn ^= 1;
    rc = settle(r, b);
    if (!rc) rc = staging(r, b, c->bytes);
    t = ds_now();
    if (!rc) rc = fill(c, r->buf[b]);
    r->l_read_s += ds_now() - t;
    r->l_bytes += c->bytes;
    if (!rc) {
        rc = d->h2d_async(s->ring + c->dst, r->buf[b], c->bytes, r->stream);
        if (!rc) rc = d->event_record(r->ev[b], r->stream);
        if (!rc) {
            scan_chunk(s, c, r->buf[b]); /* the host copy, while the upload runs */
            r->pend[b] = *c;
            r->has[b] = 1;
            int done = 0; /* the other buffer's upload may be done already: say so now */
            if (r->has[b ^ 1] && !d->event_query(r->ev[b ^ 1], &done) && done) settle(r, b ^ 1);
            return;
        }
    }
    pthread_mutex_lock(&s->mu);
    arrived(s, c, rc);
    pthread_mutex_unlock(&s->mu);
}

static void *reader_main(void *arg) {
    reader *r = arg;
    ds_ws_stream *s = r->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        wchunk c;
        int k = next_chunk(s, &c);
        if (k > 0 || r->has[0] || r->has[1]) {
            s->busy++;
            pthread_mutex_unlock(&s->mu);
            if (k > 0) run_chunk(r, &c);
            else { settle(r, r->turn); settle(r, r->turn ^ 1); } /* oldest first */
            pthread_mutex_lock(&s->mu);
            r->read_s += r->l_read_s;
            r->copy_wait_s += r->l_copy_wait_s;
            r->bytes += r->l_bytes;
            r->l_read_s = r->l_copy_wait_s = 0;
            r->l_bytes = 0;
            if (--s->busy == 0) pthread_cond_broadcast(&s->idle_cv);
            continue;
        }
        if (s->quit) break;
        if (s->scan && s->active && ds_ws_scan_has_work(s->scan)) { /* idle: a scan-only chunk */
            s->busy++;
            pthread_mutex_unlock(&s->mu);
            ds_ws_scan_work(s->scan, &r->sbuf, &r->scap);
            pthread_mutex_lock(&s->mu);
            if (--s->busy == 0) pthread_cond_broadcast(&s->idle_cv);
            continue;
        }
        double t = ds_now();
        pthread_cond_wait(&s->work_cv, &s->mu);
        if (k == -2) r->ring_wait_s += ds_now() - t;
        else r->idle_s += ds_now() - t;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Waits for the last take's decode (and counts its device time); CPU: done already. */
static void last_decode_done(ds_ws_stream *s) {
    (void)s->dev->event_sync(s->take_ev);
    float ms;
    if (s->timing && !s->dev->event_elapsed_ms(s->dec_ev, s->take_ev, &ms)) s->prof.dev_decode_s += ms / 1e3;
    s->timing = 0;
}

/* ---- open / close / passes ------------------------------------------------------ */

void ds_ws_stream_close(ds_ws_stream *s) {
    if (!s) return;
    ds_ws_stream_end(s);
    pthread_mutex_lock(&s->mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nrd; i++) {
        reader *r = &s->rd[i];
        if (r->started) pthread_join(r->th, NULL);
        for (int b = 0; b < 2; b++) {
            s->dev->host_free(r->buf[b]);
            s->dev->event_destroy(r->ev[b]);
        }
        s->dev->stream_destroy(r->stream);
        free(r->sbuf);
    }
    s->dev->event_destroy(s->take_ev);
    s->dev->event_destroy(s->dec_ev);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->done_cv);
    pthread_cond_destroy(&s->idle_cv);
    free(s->rd);
    free(s);
}

int ds_ws_stream_default_readers(int cuda) {
    long q = sysconf(_SC_NPROCESSORS_ONLN) / 4;
    return cuda ? (int)(q < 2 ? 2 : q > 8 ? 8 : q) : 1;
}

int ds_ws_stream_open(ds_ws_stream **out, const ds_ws_stream_opts *o) {
    *out = NULL;
    const ds_device *dev;
    DS_TRY(ds_device_get(o->cuda, &dev));
    ds_ws_stream *s = xcalloc(1, sizeof *s);
    s->o = *o;
    s->dev = dev;
    if (s->o.cuda) s->o.staged = 0;
    s->gpu_like = dev->gpu || s->o.staged;
    if (!s->o.chunk_bytes) s->o.chunk_bytes = DEFAULT_CHUNK;
    if (s->o.readers <= 0) s->o.readers = ds_ws_stream_default_readers(s->o.cuda);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    s->nrd = s->o.readers;
    s->rd = xcalloc((size_t)s->nrd, sizeof *s->rd);
    int rc = 0;
    rc = dev->event_create(&s->take_ev);
    if (!rc) rc = dev->event_create(&s->dec_ev);
    for (int i = 0; i < s->nrd && !rc; i++) {
        reader *r = &s->rd[i];
        r->s = s;
        if (s->gpu_like) {
            rc = dev->stream_create(&r->stream);
            for (int b = 0; b < 2 && !rc; b++)
                if (!(rc = dev->event_create(&r->ev[b]))) rc = staging(r, b, s->o.chunk_bytes);
        }
        if (!rc && pthread_create(&r->th, NULL, reader_main, r) != 0)
            rc = ds_fail(DS_EXIT_IO, "verify: cannot start a weight reader thread");
        if (!rc) r->started = 1;
    }
    if (rc) {
        ds_ws_stream_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

uint64_t ds_ws_stream_ring_need(const ds_ws_stream *s, int64_t rows, int64_t cols) {
    uint64_t n = (uint64_t)(rows > 0 ? rows : 0) * (uint64_t)(cols > 0 ? cols : 0);
    return align_up(n * (s->gpu_like ? 4 : 2) + ((uint64_t)1 << 20));
}

int ds_ws_stream_begin(ds_ws_stream *s, ds_ws_source *ws, uint64_t ring_bytes) {
    ds_ws_stream_end(s);
    void *p;
    DS_TRY(mem_alloc(s, &p, ring_bytes));
    pthread_mutex_lock(&s->mu);
    s->ws = ws;
    s->ring = p;
    s->cap = ring_bytes;
    s->rhead = 0;
    s->active = 1;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void ds_ws_stream_end(ds_ws_stream *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->active = 0;
    pthread_cond_broadcast(&s->work_cv);
    while (s->busy > 0) pthread_cond_wait(&s->idle_cv, &s->mu);
    while (s->first) pop_front(s);
    s->issue = s->next_take = NULL;
    s->scan = NULL;
    pthread_mutex_unlock(&s->mu);
    /* the last take's decode may still read the ring and the scratch */
    if (s->ring) last_decode_done(s);
    ds_ws_scan_dev_close(s->dscan); /* its tests have run: the decode event came after them */
    s->dscan = NULL;
    mem_free(s, s->ring);
    mem_free(s, s->tmp16);
    mem_free(s, s->tmp32);
    s->ring = NULL;
    s->tmp16 = NULL;
    s->tmp32 = NULL;
    s->cap = s->cap16 = s->cap32 = 0;
    s->ws = NULL;
}

/* ---- plan and take ---------------------------------------------------------------- */

int ds_ws_stream_plan(ds_ws_stream *s, const char *name, int64_t r0, int64_t n, int64_t rows, int64_t cols) {
    wreq *q = xcalloc(1, sizeof *q);
    q->name = xstrdup(name);
    q->r0 = r0;
    q->n = n;
    q->cols = cols;
    q->off = NO_REGION;
    q->rc = req_resolve(s, q, rows);
    if (!q->rc && s->scan) ds_ws_scan_planned(s->scan, name, n);
    pthread_mutex_lock(&s->mu);
    if (s->last) s->last->next = q;
    else s->first = q;
    s->last = q;
    if (!s->issue) s->issue = q;
    if (!s->next_take) s->next_take = q;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    return q->rc;
}

/* An unplanned take: read now, as ds_ws_load would. */
static int take_direct(ds_ws_stream *s, const char *name, int64_t r0, int64_t n, int64_t rows, int64_t cols,
                       float *dst) {
    ds_ws_tinfo ti;
    DS_TRY(ds_ws_info_shape(s->ws, name, rows, cols, &ti));
    s->prof.direct_reads++;
    if (!s->dev->gpu) {
        DS_TRY(ds_ws_read_rows(s->ws, name, r0, n, dst));
        if (s->scan) ds_ws_scan_floats(s->scan, name, r0, NULL, 0, n, dst);
        return 0;
    }
    size_t bytes = (size_t)(n * cols) * sizeof(float);
    float *h = xaligned(bytes ? bytes : 1);
    int rc = ds_ws_read_rows(s->ws, name, r0, n, h);
    if (!rc && s->scan) ds_ws_scan_floats(s->scan, name, r0, NULL, 0, n, h);
    if (!rc) rc = s->dev->h2d(dst, h, bytes);
    free(h);
    return rc;
}

/* The staged path (CUDA, or the CPU's staged mode): the request's pieces, as the
 * readers put them in the ring (stored bytes, or floats they decoded), to
 * float32 at dst with the device's kernels, enqueued on the default stream. */
static int decode_dev(ds_ws_stream *s, const wreq *q, float *dst) {
    const ds_device *d = s->dev;
    const uint8_t *base = s->ring + q->off;
    if (s->o.profile) DS_TRY(d->event_record(s->dec_ev, NULL));
    for (int i = 0; i < q->np; i++) {
        const wpiece *w = &q->p[i];
        const ds_ws_part *p = &w->pc.part;
        int64_t pc = p->cols, n = w->pc.n, ne = n * pc;
        float *out = dst + w->pc.dst_row * q->cols + w->pc.dst_col;
        int whole = w->pc.dst_col == 0 && pc == q->cols;
        const uint16_t *bf = NULL;
        if (w->fp8) {
            DS_TRY(grow(s, (void **)&s->tmp16, &s->cap16, (size_t)ne * 2));
            DS_TRY(d->dequant_fp8_bf16(base + w->data_off, s->tmp16, w->pc.r0 - w->sb0 * p->br, n, pc,
                                       (const float *)(base + w->scale_off), w->sc, p->br, p->bc, NULL));
            bf = s->tmp16;
        } else if (w->mode == P_RAW && p->w->dtype == DS_BF16) {
            bf = (const uint16_t *)(base + w->data_off);
        }
        if (s->dscan && w->mode == P_RAW) /* the test of the stored bytes, where they are */
            DS_TRY(ds_ws_scan_dev_piece(s->dscan, s->scan, q->name, q->r0, &w->pc, base + w->data_off));
        if (bf && whole) {
            DS_TRY(d->widen_bf16_f32(bf, out, ne, NULL));
            continue;
        }
        const float *f = (const float *)(base + w->data_off);
        if (bf) {
            DS_TRY(grow(s, (void **)&s->tmp32, &s->cap32, (size_t)ne * 4));
            DS_TRY(d->widen_bf16_f32(bf, s->tmp32, ne, NULL));
            f = s->tmp32;
        }
        DS_TRY(d->copy_2d_async(out, (size_t)q->cols * 4, f, (size_t)pc * 4, (size_t)pc * 4, (size_t)n, NULL));
    }
    DS_TRY(d->event_record(s->take_ev, NULL));
    s->timing = s->o.profile;
    return 0;
}


/* The CPU path: the request's pieces to float32 at dst (FP8 and BF16 from the
 * ring, the rest decoded here from the mapping). */
static int decode_host(ds_ws_stream *s, const wreq *q, float *dst) {
    const uint8_t *base = q->off == NO_REGION ? NULL : s->ring + q->off;
    for (int i = 0; i < q->np; i++) {
        const wpiece *w = &q->p[i];
        const ds_ws_part *p = &w->pc.part;
        int64_t pc = p->cols, n = w->pc.n, ne = n * pc;
        float *out = dst + w->pc.dst_row * q->cols + w->pc.dst_col;
        int whole = w->pc.dst_col == 0 && pc == q->cols;
        float *o = out;
        if (!whole) {
            DS_TRY(grow(s, (void **)&s->tmp32, &s->cap32, (size_t)ne * 4));
            o = s->tmp32;
        }
        if (w->mode == P_LAZY) {
            ds_ws_part_read(p, w->pc.r0, n, o);
            if (s->scan) ds_ws_scan_floats(s->scan, q->name, q->r0, &w->pc, 0, n, o);
        }
        else if (w->fp8)
            ds_cpu_dequant_fp8_f32(base + w->data_off, o, w->pc.r0 - w->sb0 * p->br, n, pc,
                                   (const float *)(base + w->scale_off), w->sc, p->br, p->bc);
        else if (w->mode == P_RAW && p->w->dtype == DS_BF16)
            ds_cpu_widen_bf16_f32((const uint16_t *)(base + w->data_off), o, ne);
        else memcpy(o, base + w->data_off, (size_t)ne * 4);
        if (!whole)
            for (int64_t r = 0; r < n; r++) memcpy(out + r * q->cols, o + r * pc, (size_t)pc * 4);
    }
    return 0;
}

int ds_ws_stream_take(ds_ws_stream *s, const char *name, int64_t r0, int64_t n, int64_t rows, int64_t cols, float *dst) {
    double t0 = ds_now();
    pthread_mutex_lock(&s->mu);
    /* the request taken before: its decode was waited for by the caller's copy
     * of the result; the event makes sure before its region is reused */
    if (s->first && s->first->taken) {
        last_decode_done(s);
        while (s->first && s->first->taken) pop_front(s);
    }
    wreq *q = s->next_take;
    if (!q || strcmp(q->name, name) || q->r0 != r0 || q->n != n || q->cols != cols) {
        pthread_mutex_unlock(&s->mu);
        return take_direct(s, name, r0, n, rows, cols, dst);
    }
    while (!(q->issued_all && q->pending == 0)) pthread_cond_wait(&s->done_cv, &s->mu);
    s->next_take = q->next;
    pthread_mutex_unlock(&s->mu);
    double t1 = ds_now();
    s->prof.take_wait_s += t1 - t0;
    int rc = q->rc;
    if (!rc) rc = s->gpu_like ? decode_dev(s, q, dst) : decode_host(s, q, dst);
    if (!rc) s->ws->bytes_read += q->stored;
    s->prof.decode_s += ds_now() - t1;
    s->prof.takes++;
    pthread_mutex_lock(&s->mu);
    q->taken = 1;
    if (!s->dev->gpu) /* decoded already: its region is free now */
        while (s->first && s->first->taken) pop_front(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void ds_ws_stream_prof_get(ds_ws_stream *s, ds_ws_stream_prof *p) {
    pthread_mutex_lock(&s->mu);
    *p = s->prof;
    p->readers = s->nrd;
    for (int i = 0; i < s->nrd; i++) {
        const reader *r = &s->rd[i];
        p->bytes_staged += r->bytes;
        p->read_s += r->read_s;
        p->copy_wait_s += r->copy_wait_s;
        p->ring_wait_s += r->ring_wait_s;
        p->idle_s += r->idle_s;
    }
    pthread_mutex_unlock(&s->mu);
}

void ds_ws_stream_set_scan(ds_ws_stream *s, ds_ws_scan *sc) {
    pthread_mutex_lock(&s->mu);
    s->scan = s->active ? sc : NULL;
    /* staged (CUDA): the ring's stored bytes are tested where they are, on the
     * GPU (on the host, by the readers, if its result slots cannot be had) */
    if (s->scan && s->gpu_like && !s->dscan && ds_ws_scan_dev_open(s->dev, &s->dscan)) s->dscan = NULL;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
}

void ds_ws_stream_scan_drain(ds_ws_stream *s) {
    if (!s->scan) return;
    if (s->dscan) ds_ws_scan_dev_flush(s->dscan, s->scan); /* after the last take's tests */
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    int helpers = nc - s->nrd > 1 ? (int)(nc - s->nrd) : 1; /* the readers work on it too */
    ds_ws_scan_open_gates(s->scan);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->work_cv); /* idle readers take scan-only chunks too */
    pthread_mutex_unlock(&s->mu);
    ds_ws_scan_drain(s->scan, helpers);
}
