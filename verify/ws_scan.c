/* ws_scan.c - verify's value check on the bytes as they stream (ws_scan.h):
 * the scan list, the tests of stored bytes, the scan-only jobs and their gates.
 *
 * The scan list holds every tensor of the model in scan order: MTP layers
 * first (the pass never reads them, so they are eligible from the start),
 * then the main layers in order (layer L eligible once the pass has planned a
 * later layer), then the tensors outside the layers (eligible once the head is
 * planned). One cursor walks it, handing out chunks of SCAN_CHUNK stored bytes:
 * readers take them when the pass has nothing for them, and ds_ws_scan_drain takes
 * the rest on every core. A chunk is pread into the worker's buffer (small
 * enough to stay in its cache while it is tested) and tested there. */
#include "verify/ws_scan.h"
#include "verify/structure.h"
#include "formats/hf.h"
#include "formats/schema.h"
#include "kernels/device.h"
#include "common/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_CHUNK ((uint64_t)4 << 20)
#define MAX_REPORTS 20

enum { T_NONE, T_BYTES, T_DECODE }; /* how a piece's values are tested */

typedef struct {
    char *name;
    int gate;              /* eligible once the frontier is past it */
    int mtp;
    int64_t rows;
    int64_t planned_rows;  /* rows the pass planned */
    ds_ws_piece *pc;
    int np;
    int reported;          /* a problem of it was reported */
    int seq;               /* listing order, kept within a gate */
} sentry;

struct ds_ws_scan {
    ds_ws_source *ws;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* a job finished */
    sentry *e;
    int ne, cap;
    int *hash;             /* open addressing over e, -1 empty */
    size_t hcap;
    int nlayers;
    int frontier, all_open;
    int cur, ip;           /* cursor: entry, piece */
    uint64_t pos;          /* bytes (T_BYTES, T_NONE) or rows (T_DECODE) */
    int inflight;
    ds_ws_scan_stats st;
};

/* ---- the list ------------------------------------------------------------------- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

static int find(const ds_ws_scan *sc, const char *name) {
    if (!sc->hcap) return -1;
    for (size_t i = hash_str(name) & (sc->hcap - 1);; i = (i + 1) & (sc->hcap - 1)) {
        if (sc->hash[i] < 0) return -1;
        if (!strcmp(sc->e[sc->hash[i]].name, name)) return sc->hash[i];
    }
}

static void build_hash(ds_ws_scan *sc) {
    sc->hcap = 16;
    while (sc->hcap < (size_t)sc->ne * 2) sc->hcap *= 2;
    sc->hash = xmalloc(sc->hcap * sizeof *sc->hash);
    for (size_t i = 0; i < sc->hcap; i++) sc->hash[i] = -1;
    for (int k = 0; k < sc->ne; k++) {
        size_t i = hash_str(sc->e[k].name) & (sc->hcap - 1);
        while (sc->hash[i] >= 0) i = (i + 1) & (sc->hcap - 1);
        sc->hash[i] = k;
    }
}

typedef struct {
    ds_ws_scan *sc;
    int min_layer;         /* names of layers below it are not added */
    int mtp;
    int rc;
} lctx;

/* Checks one tensor's shape and storage and adds it with its pieces. */
static void add(const char *name, int ndim, int64_t d0, int64_t d1, void *ctx) {
    lctx *l = ctx;
    ds_ws_scan *sc = l->sc;
    int L = ds_layer_of(name);
    if (l->rc || (l->min_layer > 0 && L < l->min_layer)) return; /* the first problem is reported */
    if (find(sc, name) >= 0) return;
    ds_ws_tinfo ti;
    if (!ds_ws_has(sc->ws, name)) {
        l->rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: missing (%s)", ds_ws_path(sc->ws), name,
                        l->mtp ? "the MTP layer holds other tensors, so it must be complete" : "config.json implies it");
        return;
    }
    int rc = ds_ws_info(sc->ws, name, &ti);
    if (!rc && (ti.ndim != ndim || ti.shape[0] != d0 || (ndim == 2 && ti.shape[1] != d1)))
        rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape %lldx%lld, expected %lldx%lld from config.json",
                     ds_ws_path(sc->ws), name, (long long)ti.rows, (long long)ti.cols, (long long)d0,
                     (long long)(ndim == 2 ? d1 : 1));
    ds_ws_piece *pc = NULL;
    int np = 0;
    if (!rc) rc = sc->ws->ops->pieces(sc->ws->impl, name, 0, ti.rows, &pc, &np);
    if (rc) { l->rc = rc; return; }
    if (sc->ne == sc->cap) {
        sc->cap = sc->cap ? 2 * sc->cap : 256;
        sc->e = xrealloc(sc->e, (size_t)sc->cap * sizeof *sc->e);
    }
    sentry *e = &sc->e[sc->ne++];
    memset(e, 0, sizeof *e);
    e->name = xstrdup(name);
    e->mtp = l->mtp;
    e->gate = l->mtp ? -1 : L >= 0 ? L : sc->nlayers;
    e->rows = ti.rows;
    e->seq = sc->ne - 1;
    e->pc = pc;
    e->np = np;
    if (l->mtp) sc->st.mtp_tensors++;
    /* a small index for find() during the listing (rebuilt at the end) */
    if ((size_t)sc->ne * 2 > sc->hcap) { free(sc->hash); build_hash(sc); }
    else {
        size_t i = hash_str(name) & (sc->hcap - 1);
        while (sc->hash[i] >= 0) i = (i + 1) & (sc->hcap - 1);
        sc->hash[i] = sc->ne - 1;
    }
}

/* MTP layers, from the model schema (formats/schema.h): which are stored at
 * all (any of their tensors), then every tensor of those. */
typedef struct {
    ds_ws_source *ws;
    int first;             /* num_hidden_layers */
    int *present;          /* [num_nextn_predict_layers] */
    lctx *l;
} mctx;

static void mtp_probe(const ds_schema_tensor *t, void *ctx) {
    mctx *m = ctx;
    if (t->mtp && t->layer >= m->first && !m->present[t->layer - m->first] && ds_ws_has(m->ws, t->name))
        m->present[t->layer - m->first] = 1;
}

static void mtp_add(const ds_schema_tensor *t, void *ctx) {
    mctx *m = ctx;
    if (t->mtp && t->layer >= m->first && m->present[t->layer - m->first])
        add(t->name, t->ndim, t->shape[0], t->shape[1], m->l);
}

static int by_gate(const void *a, const void *b) {
    const sentry *x = a, *y = b;
    if (x->gate != y->gate) return (x->gate > y->gate) - (x->gate < y->gate);
    return (x->seq > y->seq) - (x->seq < y->seq);
}

int ds_ws_scan_open(ds_ws_source *ws, ds_ws_scan **out) {
    *out = NULL;
    const ds_config *c = ds_ws_config(ws);
    ds_ws_scan *sc = xcalloc(1, sizeof *sc);
    sc->ws = ws;
    sc->nlayers = c->num_hidden_layers;
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cv, NULL);
    build_hash(sc);
    lctx l = {sc, 0, 0, 0};
    ds_vs_expected(c, add, &l);
    /* MTP layers: the forward pass never reads them; those present are scanned whole */
    const ds_family *f = ds_family_find(c->model_type);
    if (f && c->num_nextn_predict_layers > 0 && !l.rc) {
        lctx only = {sc, c->num_hidden_layers, 1, 0};
        mctx m = {ws, c->num_hidden_layers, xcalloc((size_t)c->num_nextn_predict_layers, sizeof(int)), &only};
        ds_schema_expected(c, f, 1, mtp_probe, &m);
        ds_schema_expected(c, f, 1, mtp_add, &m);
        free(m.present);
        l.rc = only.rc;
    }
    sc->st.tensors = sc->ne;
    if (l.rc) {
        ds_ws_scan_close(sc);
        return l.rc;
    }
    qsort(sc->e, (size_t)sc->ne, sizeof *sc->e, by_gate);
    free(sc->hash);
    build_hash(sc);
    *out = sc;
    return 0;
}

void ds_ws_scan_close(ds_ws_scan *sc) {
    if (!sc) return;
    for (int i = 0; i < sc->ne; i++) {
        free(sc->e[i].name);
        free(sc->e[i].pc);
    }
    free(sc->e);
    free(sc->hash);
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cv);
    free(sc);
}

void ds_ws_scan_stats_get(ds_ws_scan *sc, ds_ws_scan_stats *st) {
    pthread_mutex_lock(&sc->mu);
    *st = sc->st;
    pthread_mutex_unlock(&sc->mu);
}

int ds_ws_scan_result(ds_ws_scan *sc) {
    ds_ws_scan_stats st;
    ds_ws_scan_stats_get(sc, &st);
    if (st.problems > MAX_REPORTS)
        ds_err("%s: ... and %d more problems", ds_ws_path(sc->ws), st.problems - MAX_REPORTS);
    return st.problems ? DS_EXIT_INPUT : 0;
}

/* ---- the tests ------------------------------------------------------------------ */

/* How piece p's stored values are tested: element size and exponent mask. */
static int test_kind(const ds_ws_part *p, int *esz, uint32_t *mask) {
    *esz = 0;
    *mask = 0;
    if (p->kind == DS_WQ_INT) return T_NONE; /* integers: finite whatever they hold (scales checked) */
    switch (p->w->dtype) {
    case DS_F8_E4M3: *esz = 1; *mask = ds_scan_exp_mask(1, 0, 0); return T_BYTES;
    case DS_F8_E5M2: *esz = 1; *mask = ds_scan_exp_mask(1, 1, 0); return T_BYTES;
    case DS_BF16: *esz = 2; *mask = ds_scan_exp_mask(2, 0, 0); return T_BYTES;
    case DS_F16: *esz = 2; *mask = ds_scan_exp_mask(2, 0, 1); return T_BYTES;
    case DS_F32: *esz = 4; *mask = ds_scan_exp_mask(4, 0, 0); return T_BYTES;
    default: return T_DECODE; /* other float dtypes: decoded to float32, then tested */
    }
}

/* Stored bytes of one row of p's data. */
static uint64_t row_bytes(const ds_ws_part *p) {
    if (p->w->ndim < 1 || p->w->shape[0] <= 0) return 0;
    return (p->w->end - p->w->begin) / (uint64_t)p->w->shape[0];
}

static void report(ds_ws_scan *sc, const char *file, const char *name, int64_t row, int64_t col, int nan) {
    pthread_mutex_lock(&sc->mu);
    int k = find(sc, name), first = k < 0 || !sc->e[k].reported;
    if (first) {
        if (k >= 0) sc->e[k].reported = 1;
        if (++sc->st.problems <= MAX_REPORTS)
            ds_err("%s: tensor %s: row %lld, column %lld is %s", file ? file : ds_ws_path(sc->ws), name,
                   (long long)row, (long long)col, nan ? "NaN" : "infinite");
    }
    pthread_mutex_unlock(&sc->mu);
}

/* Tests n values of esz bytes; the first bad one is element e0 + i of a piece
 * laid out [*, pcols] from tensor row row0, column col0. */
static void test(ds_ws_scan *sc, const char *name, const char *file, const void *data, int64_t n, int esz, uint32_t mask,
                 int64_t e0, int64_t row0, int64_t col0, int64_t pcols) {
    double t0 = ds_now();
    int64_t i = ds_cpu_scan_nonfinite(data, n, esz, mask);
    double dt = ds_now() - t0;
    pthread_mutex_lock(&sc->mu);
    sc->st.test_seconds += dt;
    pthread_mutex_unlock(&sc->mu);
    if (i < 0) return;
    uint32_t v = 0;
    memcpy(&v, (const uint8_t *)data + (size_t)i * (size_t)esz, (size_t)esz);
    uint32_t mant = v & ((mask & (~mask + 1u)) - 1u); /* the bits below the exponent */
    int nan = (esz == 1 && mask == 0x7Fu) || mant != 0;
    int64_t e = e0 + i, cols = pcols > 0 ? pcols : 1;
    report(sc, file, name, row0 + e / cols, col0 + e % cols, nan);
}

static void count(ds_ws_scan *sc, uint64_t bytes, int64_t values, int stream) {
    pthread_mutex_lock(&sc->mu);
    if (stream) sc->st.bytes_in_stream += bytes;
    else sc->st.bytes_scan_only += bytes;
    sc->st.values += values;
    pthread_mutex_unlock(&sc->mu);
}

void ds_ws_scan_stored(ds_ws_scan *sc, const char *name, int64_t row0, const ds_ws_piece *pc, uint64_t byte_pos,
                       const void *data, uint64_t nbytes, int on_device) {
    int esz;
    uint32_t mask;
    int64_t n = 0;
    if (test_kind(&pc->part, &esz, &mask) == T_BYTES) {
        n = (int64_t)(nbytes / (uint64_t)esz);
        if (!on_device)
            test(sc, name, pc->part.file, data, n, esz, mask, (int64_t)(byte_pos / (uint64_t)esz),
                 row0 + pc->dst_row, pc->dst_col, pc->part.cols);
    }
    count(sc, nbytes, n, 1);
}

/* ---- on the GPU (CUDA path) --------------------------------------------------------- */

#define DEV_SLOTS 4096

typedef struct {
    char *name;
    int64_t row0;
    ds_ws_piece pc;
    int esz;
    uint32_t mask;
} dslot;

struct ds_ws_scan_dev {
    const ds_device *dev;
    unsigned long long *res;   /* the table's memory: first bad index per slot, ~0 when none */
    dslot slot[DEV_SLOTS];
    int n;
};

int ds_ws_scan_dev_open(const ds_device *dev, ds_ws_scan_dev **out) {
    *out = NULL;
    ds_ws_scan_dev *d = xcalloc(1, sizeof *d);
    d->dev = dev;
    int rc = dev->alloc((void **)&d->res, DEV_SLOTS * sizeof *d->res);
    if (!rc) rc = dev->memset(d->res, 0xFF, DEV_SLOTS * sizeof *d->res);
    if (rc) { ds_ws_scan_dev_close(d); return rc; }
    *out = d;
    return 0;
}

void ds_ws_scan_dev_close(ds_ws_scan_dev *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) free(d->slot[i].name);
    d->dev->free(d->res);
    free(d);
}

int ds_ws_scan_dev_tests(const ds_ws_piece *pc) {
    int esz;
    uint32_t mask;
    return test_kind(&pc->part, &esz, &mask) == T_BYTES;
}

int ds_ws_scan_dev_piece(ds_ws_scan_dev *d, ds_ws_scan *sc, const char *name, int64_t row0, const ds_ws_piece *pc,
                         const void *dev_data) {
    if (d->n == DEV_SLOTS) DS_TRY(ds_ws_scan_dev_flush(d, sc));
    dslot *s = &d->slot[d->n];
    test_kind(&pc->part, &s->esz, &s->mask);
    DS_TRY(d->dev->scan_nonfinite(dev_data, pc->n * pc->part.cols, s->esz, s->mask, d->res + d->n, NULL));
    s->name = xstrdup(name);
    s->row0 = row0;
    s->pc = *pc;
    d->n++;
    return 0;
}

int ds_ws_scan_dev_flush(ds_ws_scan_dev *d, ds_ws_scan *sc) {
    if (!d || !d->n) return 0;
    unsigned long long *r = xmalloc((size_t)d->n * sizeof *r);
    int rc = d->dev->d2h(r, d->res, (size_t)d->n * sizeof *r); /* after the tests enqueued before */
    for (int i = 0; i < d->n && !rc; i++) {
        dslot *s = &d->slot[i];
        if (r[i] == ~0ull) continue;
        /* the value itself, for NaN or infinite: from the file (the device copy may be gone) */
        const ds_ws_part *p = &s->pc.part;
        int64_t e = (int64_t)r[i], cols = p->cols > 0 ? p->cols : 1;
        uint32_t v = 0;
        if (p->wd) memcpy(&v, p->wd + ((uint64_t)s->pc.r0 * (uint64_t)cols + (uint64_t)e) * (uint64_t)s->esz, (size_t)s->esz);
        uint32_t mant = v & ((s->mask & (~s->mask + 1u)) - 1u);
        int nan = (s->esz == 1 && s->mask == 0x7Fu) || mant != 0 || !p->wd;
        report(sc, p->file, s->name, s->row0 + s->pc.dst_row + e / cols, s->pc.dst_col + e % cols, nan);
    }
    free(r);
    for (int i = 0; i < d->n; i++) free(d->slot[i].name);
    if (!rc) rc = d->dev->memset(d->res, 0xFF, (size_t)d->n * sizeof *d->res);
    d->n = 0;
    if (rc) { /* the results are lost: not a pass (the CUDA error is on stderr) */
        pthread_mutex_lock(&sc->mu);
        sc->st.problems++;
        pthread_mutex_unlock(&sc->mu);
    }
    return rc;
}

void ds_ws_scan_floats(ds_ws_scan *sc, const char *name, int64_t row0, const ds_ws_piece *pc, int64_t piece_row, int64_t nrows,
                       const float *data) {
    int64_t n = 0;
    uint64_t nbytes = 0;
    ds_ws_tinfo ti;
    if (pc) nbytes = (uint64_t)nrows * row_bytes(&pc->part);
    else if (!ds_ws_info(sc->ws, name, &ti)) /* stored bytes, as ds_ws_read_rows counts them */
        nbytes = (uint64_t)((double)nrows * (double)ti.cols *
                            (ti.kind == DS_WQ_FP8 ? 1.0 : ti.kind == DS_WQ_INT ? ti.bits / 8.0
                                                                               : (double)ds_dtype_size(ti.dtype)));
    if (!pc || pc->part.kind != DS_WQ_INT) {
        int64_t cols = pc ? pc->part.cols : ti.cols;
        n = nrows * cols;
        /* whole tensor read directly (no piece): the file is looked up for the message */
        test(sc, name, pc ? pc->part.file : NULL, data, n, 4, ds_scan_exp_mask(4, 0, 0), piece_row * cols,
             row0 + (pc ? pc->dst_row : 0), pc ? pc->dst_col : 0, cols);
    }
    count(sc, nbytes, n, 1);
}

/* ---- scan-only jobs --------------------------------------------------------------- */

typedef struct {
    sentry *e;
    const ds_ws_piece *pc;
    int kind, esz;
    uint32_t mask;
    uint64_t pos, len;     /* bytes, or rows for T_DECODE */
} sjob;

void ds_ws_scan_planned(ds_ws_scan *sc, const char *name, int64_t n) {
    int L = ds_layer_of(name);
    pthread_mutex_lock(&sc->mu);
    int k = find(sc, name);
    if (k >= 0) sc->e[k].planned_rows += n;
    /* planning layer L means the tensors of the layers before it are all planned */
    if (L >= 0 && L < sc->nlayers) { if (L > sc->frontier) sc->frontier = L; }
    else sc->frontier = sc->nlayers + 1; /* the head: the last layer is planned too */
    pthread_mutex_unlock(&sc->mu);
}

/* The next eligible chunk (lock held): 1, or 0 when none is eligible now. */
static int next_job(ds_ws_scan *sc, sjob *j) {
    while (sc->cur < sc->ne) {
        sentry *e = &sc->e[sc->cur];
        if (!sc->all_open && e->gate >= sc->frontier) return 0;
        if (sc->ip == 0 && sc->pos == 0) {
            if (e->planned_rows >= e->rows && e->rows > 0) { /* the pass reads it: tested there */
                sc->st.tensors_skipped++;
                sc->cur++;
                continue;
            }
            sc->st.tensors_scan_only++;
        }
        if (sc->ip >= e->np) {
            sc->cur++;
            sc->ip = 0;
            sc->pos = 0;
            continue;
        }
        const ds_ws_piece *pc = &e->pc[sc->ip];
        memset(j, 0, sizeof *j);
        j->e = e;
        j->pc = pc;
        j->kind = test_kind(&pc->part, &j->esz, &j->mask);
        uint64_t total, step;
        if (j->kind == T_DECODE) {
            total = (uint64_t)pc->n;
            step = SCAN_CHUNK / ((uint64_t)(pc->part.cols > 0 ? pc->part.cols : 1) * 4);
        } else {
            uint64_t rb = row_bytes(&pc->part);
            total = (uint64_t)pc->n * rb;
            step = SCAN_CHUNK - SCAN_CHUNK % (rb && rb < SCAN_CHUNK ? rb : 4); /* whole values */
        }
        if (step < 1) step = 1;
        j->pos = sc->pos;
        j->len = total - sc->pos < step ? total - sc->pos : step;
        sc->pos += j->len;
        if (sc->pos >= total) {
            sc->ip++;
            sc->pos = 0;
        }
        if (sc->ip >= e->np) {
            sc->cur++;
            sc->ip = 0;
            sc->pos = 0;
        }
        if (j->len == 0) continue;
        sc->inflight++;
        return 1;
    }
    return 0;
}

int ds_ws_scan_has_work(ds_ws_scan *sc) {
    pthread_mutex_lock(&sc->mu);
    int yes = 0;
    for (int k = sc->cur; k < sc->ne && !yes; k++) {
        const sentry *e = &sc->e[k];
        if (!sc->all_open && e->gate >= sc->frontier) break;
        int fresh = k > sc->cur || (sc->ip == 0 && sc->pos == 0);
        yes = !fresh || !(e->planned_rows >= e->rows && e->rows > 0); /* else it will be skipped */
    }
    pthread_mutex_unlock(&sc->mu);
    return yes;
}

static void grow(uint8_t **buf, size_t *cap, size_t n) {
    if (*cap >= n) return;
    free(*buf);
    *buf = xaligned(n);
    *cap = n;
}

static void run_job(ds_ws_scan *sc, const sjob *j, uint8_t **buf, size_t *cap) {
    const ds_ws_part *p = &j->pc->part;
    const char *name = j->e->name;
    if (j->kind == T_DECODE) {
        int64_t cols = p->cols > 0 ? p->cols : 1;
        grow(buf, cap, (size_t)(j->len * (uint64_t)cols) * sizeof(float));
        ds_ws_part_read(p, j->pc->r0 + (int64_t)j->pos, (int64_t)j->len, (float *)*buf);
        test(sc, name, p->file, *buf, (int64_t)j->len * cols, 4, ds_scan_exp_mask(4, 0, 0), (int64_t)j->pos * cols,
             j->pc->dst_row, j->pc->dst_col, cols);
        count(sc, j->len * row_bytes(p), (int64_t)j->len * cols, 0);
        return;
    }
    uint64_t at = (uint64_t)j->pc->r0 * row_bytes(p) + j->pos;
    const uint8_t *data;
    if (p->fd >= 0) {
        grow(buf, cap, (size_t)j->len);
        if (ds_pread_full(p->fd, *buf, (size_t)j->len, p->foff + at, p->file)) {
            /* unreadable storage: named by ds_pread_full; a problem like any other */
            pthread_mutex_lock(&sc->mu);
            sc->st.problems++;
            pthread_mutex_unlock(&sc->mu);
            return;
        }
        data = *buf;
    } else {
        data = p->wd + at;
    }
    int64_t n = 0;
    if (j->kind == T_BYTES) {
        n = (int64_t)(j->len / (uint64_t)j->esz);
        test(sc, name, p->file, data, n, j->esz, j->mask, (int64_t)(j->pos / (uint64_t)j->esz), j->pc->dst_row,
             j->pc->dst_col, p->cols);
    }
    count(sc, j->len, n, 0);
}

int ds_ws_scan_work(ds_ws_scan *sc, uint8_t **buf, size_t *cap) {
    sjob j;
    pthread_mutex_lock(&sc->mu);
    int k = next_job(sc, &j);
    pthread_mutex_unlock(&sc->mu);
    if (!k) return 0;
    double t0 = ds_now();
    run_job(sc, &j, buf, cap);
    double dt = ds_now() - t0;
    pthread_mutex_lock(&sc->mu);
    sc->st.scan_only_seconds += dt;
    if (--sc->inflight == 0) pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    return 1;
}

static void *drain_main(void *arg) {
    ds_ws_scan *sc = arg;
    uint8_t *buf = NULL;
    size_t cap = 0;
    while (ds_ws_scan_work(sc, &buf, &cap)) {}
    free(buf);
    return NULL;
}

void ds_ws_scan_open_gates(ds_ws_scan *sc) {
    pthread_mutex_lock(&sc->mu);
    sc->all_open = 1;
    pthread_mutex_unlock(&sc->mu);
}

void ds_ws_scan_drain(ds_ws_scan *sc, int threads) {
    double t0 = ds_now();
    ds_ws_scan_open_gates(sc);
    int nh = threads > 1 ? threads - 1 : 0, started = 0;
    pthread_t *th = xcalloc((size_t)(nh ? nh : 1), sizeof *th);
    for (int i = 0; i < nh; i++)
        if (pthread_create(&th[started], NULL, drain_main, sc) == 0) started++;
    drain_main(sc);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    free(th);
    pthread_mutex_lock(&sc->mu);
    while (sc->inflight > 0) pthread_cond_wait(&sc->cv, &sc->mu);
    sc->st.drain_seconds += ds_now() - t0;
    sc->st.drain_threads = started + 1;
    pthread_mutex_unlock(&sc->mu);
}
