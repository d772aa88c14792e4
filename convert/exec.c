/* exec.c - the streaming executor: readers -> transform -> writers -> finalizers.
 *
 * A ring of slots carries chunks of whole source rows; chunk q lives in slot
 * q % n_slots. Reader threads pread chunks (any number at once); the main
 * thread transforms them in chunk order (OpenMP kernels, or CUDA); writer
 * threads pwrite each output's piece at its planned offset (any order); a
 * finalizer per lane takes its lane's chunks in order: it checks that each
 * piece continues its file where the one before ended, feeds the manifest
 * hashes, frees the slot and commits a file (fsync + rename + journal) after
 * the last chunk that writes to it. Lanes (plan_chunks) split the output
 * files so that the writers fill several at once. All stages work on
 * different slots at once, so reading, converting and writing overlap.
 *
 * A run goes through named stages (ds_exec_run at the end of the file):
 * open OUT -> compare with the run records in it (runrec.h) -> select this
 * run's files (a --part's share; those --resume or finish can prove) -> clean
 * OUT of our temporaries -> check free space -> start the journal -> allocate
 * the ring -> the pipeline -> conclude (side files and index, record, manifest,
 * report). Until the clean-up nothing in OUT changes (OUT is only created), so
 * a run refused for its input, options or records leaves OUT as it was. */
#define _GNU_SOURCE
#include "convert/exec.h"
#include "convert/manifest.h"
#include "convert/runrec.h"
#include "common/bug.h"
#include "common/hash.h"
#include "common/jsonfile.h"
#include "common/util.h"
#include "common/fsafe.h"
#include "convert/xform.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The ring: readers + writers + the transform's slot + one to spare, so every
 * stage can work while another waits. Bounded by MAX_SLOTS. */
#define MAX_IO_THREADS 4
#define MAX_SLOTS (2 * MAX_IO_THREADS + 2)
/* Chunk q lives in slot q % n_slots. The transform can run ahead of the oldest
 * chunk not yet finalized (whose item's deferred outputs the writers and the
 * finalizer may still read) by at most n_slots - 1 chunks, so at most
 * n_slots - 1 items start after it meanwhile: xform must have more buffers. */
DS_STATIC_ASSERT(DS_XF_N_ACC > MAX_SLOTS, "xform's deferred-output buffers must outnumber the executor's slots");

/* A slot goes round FREE -> READ (a reader filled it) -> TRANSFORMED (the
 * transform filled its result) -> WRITTEN (a writer wrote it) -> FREE (the
 * finalizer, in chunk order, hashed and counted it). */
typedef enum { SLOT_FREE = 0, SLOT_READ, SLOT_TRANSFORMED, SLOT_WRITTEN } slot_state;

typedef struct {
    int64_t seq;              /* the chunk it holds, or (FREE) the next chunk it takes */
    int item;
    int64_t r0, r1;
    uint8_t *in, *out;        /* out == NULL: the result is `in` (copy) */
    int from_xf;              /* buffers from ds_xf_host_alloc (pinned on CUDA), else plain: made before the device was */
    ds_xf_result res;         /* per-output byte layout of the result */
    slot_state state;
} slot;

/* A chunk: whole rows of one item (plan_chunks puts them in pipeline order). */
typedef struct {
    int item;
    int64_t r0, r1;
    int lane;                 /* plan_chunks: the lane (set of files) it writes to */
} chunk;

typedef struct {
    ds_st_writer *w;
    int done;                 /* nothing (more) to write: committed, kept, or another part's */
    int kept;                 /* proven complete by a record (--resume, finish) */
    int other_part;           /* --part: written by another part */
    int committed;            /* renamed into OUT by this run: a run refused mid-way removes it */
    uint64_t pos;             /* finalizer: where the next piece in plan order must start */
    ds_h128 *fh;              /* whole-file hash */
    ds_h128 **th;             /* per tensor */
    cJSON *entry;             /* manifest entry once complete: {"size","xxh3_128","tensors"} */
} file_state;

typedef struct {
    const ds_ckpt *c;
    const ds_plan *p;
    const ds_exec_opts *o;
    ds_exec_opts oc;          /* o with defaults filled in */
    ds_exec_stats *st;
    slot slots[MAX_SLOTS];
    int n_slots, n_readers, n_writers, n_lanes;
    chunk *chunks;            /* in the order they go through the pipeline (plan_chunks) */
    int64_t n_chunks;
    int64_t *last_chunk;      /* per file: the chunk after which it is complete (-1: none) */
    int64_t next_read, next_write; /* the next chunk a reader / writer takes (under mu) */
    size_t in_cap, out_cap;
    file_state *fs;
    int n_mine;               /* files this run is responsible for */
    ds_xf_ctx *xf;            /* set once (under mu) when the device is known: at the start, or at the first chunk needing it */
    int gpu;                  /* xf's device is a GPU (under mu with xf) */
    int dev_refused;          /* device_join refused the device mid-run: undo as for an invalid input */
    int dev_joined;
    int dirfd;                /* OUT, held with flock while the run lasts */
    int created_out;          /* OUT did not exist before this run */
    int started;              /* the journal is started: OUT may hold this run's files */
    int extras_done;          /* plan extras (side files, index) this run has written */
    cJSON *head;              /* this run's record head (runrec.h) */
    ds_rec own;               /* the record of the interrupted run that --resume continues */
    int have_own;
    ds_rec_set parts;         /* finish: every part's record */
    ds_journal *journal;
    /* Hashing costs passes over the bytes in the finalizer thread (the file's and
     * each tensor's): made when something will use them (--manifest, or a
     * part, whose record finish combines and checks). A plain run records
     * sizes, which with the planned header and the entry's place in the
     * journal (after the rename) prove a file to --resume. */
    int hashes;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t fmu;      /* opening output files (writers open them as their first bytes come), commits */
    pthread_mutex_t pmu;      /* progress and memory sampling */
    int err;                  /* first error code; all stages stop (read under mu) */
    /* progress */
    uint64_t total_out, done_out;
    double t0, last_print, last_mem;
    uint64_t peak_anon;       /* sampled RssAnon maximum */
    int progress;
    /* Where the time goes (--json "stages"): each pipeline stage's busy time
     * (readers' and writers' summed, under mu), and the wall time of the stages around it. */
    double busy_read, busy_xf, busy_write, busy_final;
    double t_setup, t_alloc, t_pipe, t_conclude;
} exec;

static void set_err(exec *x, int rc) {
    pthread_mutex_lock(&x->mu);
    if (!x->err) x->err = rc;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static int failed(exec *x) {
    pthread_mutex_lock(&x->mu);
    int e = x->err;
    pthread_mutex_unlock(&x->mu);
    return e;
}

/* Waits until chunk q's slot holds q (or, FREE, is ready to take it) in state
 * want, or an error; returns 0 or the error. */
static int wait_slot(exec *x, const slot *s, int64_t q, slot_state want) {
    pthread_mutex_lock(&x->mu);
    while ((s->seq != q || s->state != want) && !x->err) pthread_cond_wait(&x->cv, &x->mu);
    int e = x->err;
    pthread_mutex_unlock(&x->mu);
    return e;
}
static void put_state(exec *x, slot *s, slot_state st) {
    pthread_mutex_lock(&x->mu);
    s->state = st;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}
/* The next chunk for a reader or writer to take (>= n_chunks: none left). */
static int64_t take(exec *x, int64_t *next) {
    pthread_mutex_lock(&x->mu);
    int64_t q = (*next)++;
    pthread_mutex_unlock(&x->mu);
    return q;
}
static void add_busy(exec *x, double *sum, double t) {
    pthread_mutex_lock(&x->mu);
    *sum += t;
    pthread_mutex_unlock(&x->mu);
}

static int item_needed(const exec *x, int i) {
    const ds_plan_item *it = &x->p->items[i];
    for (int k = 0; k < it->n_out; k++)
        if (!x->fs[x->p->outs[it->first_out + k].file].done) return 1;
    return 0;
}

static int64_t src_row_bytes(const ds_plan_item *it) {
    return ds_tensor_cols(it->src->info) * (int64_t)ds_dtype_size(it->src->info->dtype);
}

static int64_t chunk_rows(const exec *x, const ds_plan_item *it) { return ds_xf_chunk_rows(it, x->o->chunk_bytes); }

static void free_slot(exec *x, slot *s) {
    void (*fr)(ds_xf_ctx *, void *) = NULL;
    if (s->from_xf) fr = ds_xf_host_free;
    if (s->in) fr ? fr(x->xf, s->in) : free(s->in);
    if (s->out) fr ? fr(x->xf, s->out) : free(s->out);
    s->in = s->out = NULL;
}

/* The device, once known: the transform's context (CUDA: streams, device
 * buffers), published for the readers. Called by the transform thread. */
static int open_device(exec *x) {
    if (x->o->device_join && !x->dev_joined) {
        x->dev_joined = 1;
        int rc = x->o->device_join(x->o->device_arg, &x->oc.use_cuda);
        if (rc) { x->dev_refused = 1; return rc; }
    }
    ds_xf_ctx *xf;
    DS_TRY(ds_xf_create(&xf, x->c, x->p, x->o->use_cuda, x->in_cap, x->out_cap));
    pthread_mutex_lock(&x->mu);
    x->xf = xf;
    x->gpu = x->o->use_cuda;
    pthread_mutex_unlock(&x->mu);
    return 0;
}

/* ---------------------------------------------------------------- readers */
static void *reader_main(void *arg) {
    exec *x = arg;
    double busy = 0;
    for (int64_t q; (q = take(x, &x->next_read)) < x->n_chunks;) {
        slot *s = &x->slots[q % x->n_slots];
        if (wait_slot(x, s, q, SLOT_FREE)) break;
        pthread_mutex_lock(&x->mu);
        ds_xf_ctx *xf = x->xf;
        int gpu = x->gpu;
        pthread_mutex_unlock(&x->mu);
        /* A slot's buffers are made at its first use (pinned memory costs about
         * 0.3 s a GB on an H200 host): the first chunks need not wait for all.
         * Made before the device was known, they are plain memory, remade from
         * the device's the next time round. */
        if (!s->in || (xf && !s->from_xf)) {
            free_slot(x, s);
            s->from_xf = xf != NULL;
            s->in = xf ? ds_xf_host_alloc(xf, x->in_cap ? x->in_cap : 64) : xaligned(x->in_cap ? x->in_cap : 64);
            s->out = !x->out_cap ? NULL : xf ? ds_xf_host_alloc(xf, x->out_cap) : xaligned(x->out_cap);
            if (!s->in || (x->out_cap && !s->out)) { set_err(x, DS_EXIT_IO); break; } /* pinned memory ran out (reported) */
        }
        const chunk *ch = &x->chunks[q];
        const ds_plan_item *it = &x->p->items[ch->item];
        const ds_st_file *sf = &x->c->shards[it->src->file];
        int64_t rb = src_row_bytes(it);
        s->item = ch->item; s->r0 = ch->r0; s->r1 = ch->r1;
        size_t n = (size_t)((ch->r1 - ch->r0) * rb);
        double tb = ds_now();
        if (n && sf->fd < 0) /* past DS_MAX_SHARD_FDS: read through the map */
            memcpy(s->in, sf->map + ds_st_file_offset(sf, it->src->info) + (uint64_t)(ch->r0 * rb), n);
        else if (n) {
            int rc = ds_pread_full(sf->fd, s->in, n, ds_st_file_offset(sf, it->src->info) + (uint64_t)(ch->r0 * rb),
                                   sf->path);
            if (rc) { set_err(x, rc); break; }
        }
        /* On a GPU the transform thread only feeds the device: an item's CPU work
         * (NVFP4's global scale) is done here, in parallel, from the bytes just read
         * when they are the whole item. On the CPU the transform has every core. */
        if (ch->r0 == 0 && gpu)
            ds_xf_prepare(xf, it, ch->r1 >= ds_tensor_rows(it->src->info) ? s->in : NULL);
        busy += ds_now() - tb;
        __atomic_add_fetch(&x->st->bytes_in, (uint64_t)n, __ATOMIC_RELAXED);
        put_state(x, s, SLOT_READ);
    }
    add_busy(x, &x->busy_read, busy);
    return NULL;
}

/* ---------------------------------------------------------------- writers */
static void report(exec *x, int final) {
    double now = ds_now();
    if (final || now - x->last_mem > 0.1) {
        /* Anonymous memory is what the bound is about (file pages are the page cache's). */
        uint64_t a = ds_rss_anon();
        if (a > x->peak_anon) x->peak_anon = a;
        x->last_mem = now;
    }
    if (!x->progress) return;
    if (!final && now - x->last_print < 0.5) return;
    x->last_print = now;
    uint64_t done = __atomic_load_n(&x->done_out, __ATOMIC_RELAXED);
    double el = now - x->t0, gbs = el > 0 ? done / el / 1e9 : 0;
    double eta = gbs > 0 ? (x->total_out - done) / (gbs * 1e9) : 0;
    int shard = __atomic_load_n(&x->st->files_written, __ATOMIC_RELAXED) + x->st->files_kept;
    fprintf(stderr, "\r%s: file %d/%d  %.2f/%.2f GB  %.2f GB/s  ETA %.0fs   %s", x->o->command,
            shard < x->n_mine ? shard + 1 : shard, x->n_mine, done / 1e9, x->total_out / 1e9, gbs, eta,
            final ? "\n" : "");
}

/* Creates file f's temporary (header written) the first time bytes for it
 * come; several writers may ask at once. */
static int open_file(exec *x, int f) {
    file_state *fs = &x->fs[f];
    pthread_mutex_lock(&x->fmu);
    int rc = 0;
    if (fs->w || fs->done) goto out;
    const ds_plan_file *pf = &x->p->files[f];
    char *path = ds_path_join(x->o->out_dir, pf->name);
    ds_st_writer *w;
    rc = ds_stw_open_mode(&w, path, pf->tensors, pf->n_tensors, x->c->file_mode ? x->c->file_mode : 0644);
    free(path);
    if (rc) goto out;
    ds_stw_set_sync(w, !x->o->no_sync);
    fs->pos = ds_stw_tensor_offset(w, 0);
    if (x->hashes) {
        uint8_t *hdr; size_t hl;
        ds_st_build_header(pf->tensors, pf->n_tensors, &hdr, &hl, NULL);
        fs->fh = ds_h128_new();
        ds_h128_update(fs->fh, hdr, hl);
        free(hdr);
        fs->th = xcalloc((size_t)pf->n_tensors + 1, sizeof(ds_h128 *));
        for (int t = 0; t < pf->n_tensors; t++) fs->th[t] = ds_h128_new();
    }
    fs->w = w;
out:
    pthread_mutex_unlock(&x->fmu);
    return rc;
}

static void free_hashes(file_state *fs, int n_tensors) {
    if (fs->th)
        for (int t = 0; t < n_tensors; t++) ds_h128_free(fs->th[t]);
    free(fs->th);
    ds_h128_free(fs->fh);
    fs->th = NULL;
    fs->fh = NULL;
}

/* Renames the file into place, then journals its entry: an entry exists only
 * for a file that was complete under its final name. */
static int commit_file(exec *x, int f) {
    file_state *fs = &x->fs[f];
    if (fs->done) return 0;
    DS_TRY(open_file(x, f)); /* a file of only empty tensors still gets written */
    const ds_plan_file *pf = &x->p->files[f];
    uint64_t size = ds_stw_total_size(fs->w);
    int rc = ds_stw_commit(fs->w);
    fs->w = NULL;
    if (rc) return rc;
    fs->done = fs->committed = 1;
    char hex[33];
    cJSON *tensors = fs->th ? cJSON_CreateObject() : NULL;
    for (int t = 0; fs->th && t < pf->n_tensors; t++) {
        ds_h128_hex(fs->th[t], hex);
        cJSON_AddStringToObject(tensors, pf->tensors[t].name, hex);
    }
    if (fs->fh) ds_h128_hex(fs->fh, hex);
    fs->entry = ds_rec_entry(size, fs->fh ? hex : NULL, tensors);
    free_hashes(fs, pf->n_tensors);
    /* The lanes' finalizers commit at once: one journal, one count. */
    pthread_mutex_lock(&x->fmu);
    __atomic_add_fetch(&x->st->files_written, 1, __ATOMIC_RELAXED);
    rc = x->journal ? ds_journal_add(x->journal, pf->name, fs->entry) : 0;
    pthread_mutex_unlock(&x->fmu);
    return rc;
}

/* Output k's bytes of a transformed chunk: `rows` pieces of `width` bytes,
 * `stride` apart at p (one piece, or a column slice's rows), which go to
 * byte `off` of its tensor onwards. 0: nothing to write for this chunk. */
typedef struct {
    const uint8_t *p;
    size_t width, stride;
    int64_t rows;
    uint64_t off;
} piece;

static int out_piece(const slot *s, const ds_plan_item *it, const ds_plan_out *po, int k, piece *pc) {
    const ds_xf_part *part = &s->res.part[ds_xf_component(it, k)];
    const uint8_t *base = part->data;
    int64_t rb = part->row_bytes, n = part->rows, r0 = part->row0;
    if (part->deferred_done) { /* the whole component (scales, ...), after the item's last chunk */
        *pc = (piece){part->data, part->bytes, part->bytes, 1, 0};
        return part->bytes > 0;
    }
    if (part->deferred) return 0;
    if (po->dim <= 0) {
        int64_t a = r0, b = r0 + n, t0 = 0;
        if (po->dim == 0) { a = a > po->begin ? a : po->begin; b = b < po->end ? b : po->end; t0 = po->begin; }
        if (b <= a) return 0;
        *pc = (piece){base + (a - r0) * rb, (size_t)((b - a) * rb), (size_t)((b - a) * rb), 1, (uint64_t)((a - t0) * rb)};
        return 1;
    }
    /* Column slice: each row's [begin, end) columns, the tensor's rows r0.. */
    int64_t es = rb / part->cols, w = (po->end - po->begin) * es;
    if (!n || !w) return 0;
    *pc = (piece){base + po->begin * es, (size_t)w, (size_t)rb, n, (uint64_t)(r0 * w)};
    return 1;
}

/* Writes chunk q's pieces at their planned offsets: any writer, any order. */
static int write_chunk(exec *x, const slot *s) {
    const ds_plan_item *it = &x->p->items[s->item];
    for (int k = 0; k < it->n_out; k++) {
        const ds_plan_out *po = &x->p->outs[it->first_out + k];
        file_state *fs = &x->fs[po->file];
        piece pc;
        if (fs->done || !out_piece(s, it, po, k, &pc)) continue;
        DS_TRY(open_file(x, po->file));
        uint64_t at = ds_stw_tensor_offset(fs->w, po->tensor) + pc.off;
        DS_TRY(ds_stw_pwrite_rows(fs->w, at, pc.p, pc.width, pc.rows, pc.stride));
#ifdef SYNC_FILE_RANGE_WRITE
        /* The bytes go to disk from now on, not all at the commit's fdatasync
         * (which then finds little left). Errors surface there. */
        if (!x->o->no_sync) (void)sync_file_range(ds_stw_fd(fs->w), (off64_t)at, (off64_t)(pc.width * (uint64_t)pc.rows), SYNC_FILE_RANGE_WRITE);
#endif
    }
    return 0;
}

static void *writer_main(void *arg) {
    exec *x = arg;
    double busy = 0;
    for (int64_t q; (q = take(x, &x->next_write)) < x->n_chunks;) {
        slot *s = &x->slots[q % x->n_slots];
        if (wait_slot(x, s, q, SLOT_TRANSFORMED)) break;
        double tb = ds_now();
        int rc = write_chunk(x, s);
        busy += ds_now() - tb;
        if (rc) { set_err(x, rc); break; }
        put_state(x, s, SLOT_WRITTEN);
    }
    add_busy(x, &x->busy_write, busy);
    return NULL;
}

/* ---------------------------------------------------------------- finalizer */

/* Chunk q in plan order, once written: its pieces must continue each file
 * exactly where the previous ones ended (the planned header's offsets are the
 * order of appending), they feed the hashes in that order, and the counts. */
static int finalize_chunk(exec *x, const slot *s) {
    const ds_plan_item *it = &x->p->items[s->item];
    for (int k = 0; k < it->n_out; k++) {
        const ds_plan_out *po = &x->p->outs[it->first_out + k];
        file_state *fs = &x->fs[po->file];
        piece pc;
        if (fs->done || !out_piece(s, it, po, k, &pc)) continue;
        uint64_t at = ds_stw_tensor_offset(fs->w, po->tensor) + pc.off, n = (uint64_t)pc.width * (uint64_t)pc.rows;
        if (at != fs->pos)
            return ds_fail(DS_EXIT_BUG, "internal error: %s: tensor %s written at %llu, not where the one before ended "
                           "(%llu) (%s:%d)", x->p->files[po->file].name, x->p->files[po->file].tensors[po->tensor].name,
                           (unsigned long long)at, (unsigned long long)fs->pos, __FILE__, __LINE__);
        fs->pos += n;
        for (int64_t r = 0; fs->fh && r < pc.rows; r++) {
            ds_h128_update(fs->fh, pc.p + (size_t)r * pc.stride, pc.width);
            ds_h128_update(fs->th[po->tensor], pc.p + (size_t)r * pc.stride, pc.width);
        }
        __atomic_add_fetch(&x->done_out, n, __ATOMIC_RELAXED);
        __atomic_add_fetch(&x->st->bytes_out, n, __ATOMIC_RELAXED);
    }
    return 0;
}

/* One per lane, in chunk order over the lane's chunks (its files are no other
 * lane's, so each file's bytes are seen in order): checks and hashes each
 * written chunk, frees its slot, and commits every file it completes. */
typedef struct {
    exec *x;
    int lane;
    double busy;
} finalizer;

static void *finalizer_main(void *arg) {
    finalizer *fz = arg;
    exec *x = fz->x;
    for (int64_t q = 0; q < x->n_chunks; q++) {
        if (x->chunks[q].lane != fz->lane) continue;
        slot *s = &x->slots[q % x->n_slots];
        if (wait_slot(x, s, q, SLOT_WRITTEN)) break;
        double tb = ds_now();
        const ds_plan_item *it = &x->p->items[s->item];
        int last = s->r1 >= ds_tensor_rows(it->src->info);
        int rc = finalize_chunk(x, s);
        if (rc) { set_err(x, rc); break; }
        pthread_mutex_lock(&x->mu);
        s->seq = q + x->n_slots;
        s->state = SLOT_FREE;
        if (last) {
            switch (it->xform) {
            case DS_XF_COPY: x->st->tensors_copied++; break;
            case DS_XF_FP8_TO_BF16: x->st->tensors_converted++; break;
            case DS_XF_UNPACK: x->st->tensors_converted++; break;
            case DS_XF_QUANT: x->st->tensors_quantized++; break;
            }
        }
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
        for (int f = 0; f < x->p->n_files && !rc; f++)
            if (x->last_chunk[f] == q) rc = commit_file(x, f);
        fz->busy += ds_now() - tb;
        if (rc) { set_err(x, rc); break; }
        /* Any lane's finalizer reports; one at a time, none waits for it. */
        if (pthread_mutex_trylock(&x->pmu) == 0) {
            report(x, 0);
            pthread_mutex_unlock(&x->pmu);
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- stage 1: OUT */

/* OUT must be a directory we can hold. A whole run (and finish) takes it
 * exclusively: a second run would delete the first one's temporary files.
 * Parts share it (they write disjoint files and delete only their own
 * temporaries); across hosts nothing is locked and nothing relies on it. */
static int stage_open_out(exec *x) {
    const char *out = x->o->out_dir;
    if (ds_path_exists(out) && !ds_is_dir(out)) return ds_fail(DS_EXIT_USAGE, "%s: exists and is not a directory", out);
    x->created_out = !ds_path_exists(out);
    DS_TRY(ds_mkdir_p(out));
    x->dirfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (x->dirfd < 0) return DS_IO_FAIL(out, "open");
    if (flock(x->dirfd, (x->o->part_n ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 && errno == EWOULDBLOCK)
        return ds_fail(DS_EXIT_USAGE, "%s: another dsconv is writing into this directory%s", out,
                       x->o->part_n ? " (a whole run or finish)" : "");
    return 0;
}

/* ---------------------------------------------------------------- stage 2: records */

static char *rec_label(const ds_rec *r) {
    char b[64];
    if (r->part_n) snprintf(b, sizeof b, "part-%d-of-%d", r->part_i, r->part_n);
    else snprintf(b, sizeof b, "run");
    return xstrdup(b);
}

/* Compares this run with the records already in OUT: the same input and
 * options, or a refusal that says what changed. */
static int stage_check_records(exec *x) {
    const ds_exec_opts *o = x->o;
    cJSON *fp;
    DS_TRY(ds_fingerprint(x->c, &fp));
    char *in_abs = realpath(x->c->dir, NULL);
    x->head = ds_rec_head(o->command, o->options, o->n_options, in_abs ? in_abs : x->c->dir, o->part_i, o->part_n, fp);
    free(in_abs);
    cJSON_Delete(fp);
    if (o->finish) return 0;   /* stage_select_finish compares every part */
    ds_rec_set all;
    int rc = ds_rec_load_all(o->out_dir, &all);
    /* A whole run with --force starts over: it removes the records, readable or not. */
    if (rc && !o->part_n && o->force && !o->resume) {
        ds_warn("%s: unreadable run records are removed (--force)", o->out_dir);
        return 0;
    }
    if (rc) return rc;
    for (int k = 0; k < all.n && !rc; k++) {
        ds_rec *r = &all.recs[k];
        int own = r->part_i == o->part_i && r->part_n == o->part_n;
        char *lab = rec_label(r), *why = ds_rec_head_diff(r->head, x->head);
        if (!o->part_n && !own && !o->force) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: holds the parts of a split conversion (%s/%s): finish it with "
                         "'dsconv finish %s', or start over with --force", o->out_dir, DS_REC_DIR, lab, o->out_dir);
        } else if (o->part_n && r->part_n && r->part_n != o->part_n) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: holds parts of a split into %d (%s/%s); this is part %d of %d",
                         o->out_dir, r->part_n, DS_REC_DIR, lab, o->part_i, o->part_n);
        } else if (why && own && o->resume && !o->force) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: cannot resume: %s since the interrupted run (%s/%s); start over with "
                         "--force", o->out_dir, why, DS_REC_DIR, lab);
        } else if (why && o->part_n && !own) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: %s/%s was made from another input or with other options (%s): "
                         "this part cannot join it", o->out_dir, DS_REC_DIR, lab, why);
        } else if (own && !why && o->resume) {
            x->own = *r;       /* taken: the set forgets it */
            memset(r, 0, sizeof *r);
            x->have_own = 1;
        }
        free(lab);
        free(why);
    }
    ds_rec_set_free(&all);
    return rc;
}

/* ---------------------------------------------------------------- stage 3: which files */

/* A file on disk is what its record entry says: present under its final name
 * with the recorded size and the planned header (and, with --rehash, the
 * recorded XXH3-128). 0 proven, 1 not. */
static int file_proven(const exec *x, int f, const cJSON *entry, int quiet) {
    const ds_plan_file *pf = &x->p->files[f];
    char *path = ds_path_join(x->o->out_dir, pf->name);
    uint8_t *hdr; size_t hl; uint64_t data;
    ds_st_build_header(pf->tensors, pf->n_tensors, &hdr, &hl, &data);
    uint64_t want = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(entry, "size"));
    const char *why = NULL;
    struct stat sb;
    if (lstat(path, &sb) != 0) why = "missing";
    else if (!S_ISREG(sb.st_mode)) why = "not a regular file";
    else if ((uint64_t)sb.st_size != want || want != hl + data) why = "size differs from its record";
    int fd = why ? -1 : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (!why && fd < 0) why = "cannot be opened";
    if (!why) {
        uint8_t *buf = xmalloc(hl);
        if (ds_pread_full(fd, buf, hl, 0, path) || memcmp(buf, hdr, hl)) why = "header differs from the plan";
        free(buf);
    }
    if (!why && x->o->rehash) {
        ds_h128 *h = ds_h128_new();
        size_t cap = 16u << 20;
        uint8_t *buf = xmalloc(cap);
        for (uint64_t off = 0; off < want && !why;) {
            size_t n = want - off < cap ? (size_t)(want - off) : cap;
            if (ds_pread_full(fd, buf, n, off, path)) why = "unreadable";
            else ds_h128_update(h, buf, n);
            off += n;
        }
        char hex[33];
        ds_h128_hex(h, hex);
        const cJSON *rh = cJSON_GetObjectItemCaseSensitive(entry, "xxh3_128");
        if (!why && !cJSON_IsString(rh)) why = "recorded without a hash (by a run without --manifest): --rehash cannot check it";
        else if (!why && strcmp(hex, rh->valuestring)) why = "bytes differ from its recorded XXH3-128";
        ds_h128_free(h);
        free(buf);
    }
    if (fd >= 0) close(fd);
    if (why && !quiet) ds_err("%s: %s", path, why);
    free(hdr);
    free(path);
    return why != NULL;
}

static void keep_file(exec *x, int f, const cJSON *entry) {
    x->fs[f].done = x->fs[f].kept = 1;
    x->fs[f].entry = cJSON_Duplicate(entry, 1);
    x->st->files_kept++;
}

/* Whole run or part: this run's files, and which of them --resume keeps. */
static int stage_select(exec *x) {
    const ds_plan *p = x->p;
    int *part_of = NULL;
    if (x->o->part_n) {
        part_of = xmalloc(sizeof(int) * (size_t)(p->n_files + 1));
        ds_part_assign(p, x->o->part_n, part_of);
    }
    for (int f = 0; f < p->n_files; f++) {
        if (part_of && part_of[f] != x->o->part_i) {
            x->fs[f].done = x->fs[f].other_part = 1;
            continue;
        }
        x->n_mine++;
        const cJSON *e = x->have_own ? cJSON_GetObjectItemCaseSensitive(x->own.files, p->files[f].name) : NULL;
        if (e && !file_proven(x, f, e, !x->o->rehash)) keep_file(x, f, e);
    }
    free(part_of);
    if (x->o->resume && !x->have_own)
        for (int f = 0; f < p->n_files; f++) {
            char *path = ds_path_join(x->o->out_dir, p->files[f].name);
            int there = !x->fs[f].other_part && ds_path_exists(path);
            free(path);
            if (there) {
                ds_warn("%s: no record of an earlier run with this input and these options: every file is written "
                        "again", x->o->out_dir);
                break;
            }
        }
    return 0;
}

/* finish: all N parts recorded, complete, made from this input with these
 * options, and every planned file proven by exactly one of them. Reports
 * every problem, then refuses: nothing is written unless all is well. */
static int stage_select_finish(exec *x) {
    const ds_exec_opts *o = x->o;
    const ds_plan *p = x->p;
    int N = o->finish, bad = 0;
    DS_TRY(ds_rec_load_all(o->out_dir, &x->parts));
    ds_rec **by_part = xcalloc((size_t)N + 1, sizeof(ds_rec *));
    for (int k = 0; k < x->parts.n; k++) {
        ds_rec *r = &x->parts.recs[k];
        char *lab = rec_label(r);
        if (r->part_n == N) by_part[r->part_i] = r;
        else if (r->part_n) { ds_err("%s/%s/%s: a part of a split into %d, not %d", o->out_dir, DS_REC_DIR, lab, r->part_n, N); bad++; }
        free(lab);
    }
    char missing[256] = "", unfinished[256] = "";
    for (int i = 1; i <= N; i++) {
        ds_rec *r = by_part[i];
        char *buf = !r ? missing : !r->complete ? unfinished : NULL;
        if (buf && strlen(buf) < sizeof missing - 16)
            snprintf(buf + strlen(buf), sizeof missing - strlen(buf), "%s%d", buf[0] ? ", " : "", i);
        if (buf) { bad++; continue; }
        char *why = ds_rec_head_diff(r->head, x->head);
        if (why) { ds_err("part %d of %d (%s/part-%d-of-%d.json): %s", i, N, DS_REC_DIR, i, N, why); bad++; }
        free(why);
    }
    if (missing[0]) ds_err("%s: part(s) %s of %d have no record: run them (--part I/%d)", o->out_dir, missing, N, N);
    if (unfinished[0])
        ds_err("%s: part(s) %s of %d did not finish: run them again with --resume", o->out_dir, unfinished, N);
    if (!bad) {
        /* Every planned file in exactly one part's record, proven on disk; nothing else recorded. */
        int n_listed = 0;
        for (int i = 1; i <= N; i++) n_listed += cJSON_GetArraySize(by_part[i]->files);
        for (int f = 0; f < p->n_files; f++) {
            const cJSON *e = NULL;
            int owners = 0, owner = 0;
            for (int i = 1; i <= N; i++) {
                const cJSON *ei = cJSON_GetObjectItemCaseSensitive(by_part[i]->files, p->files[f].name);
                if (ei) { e = ei; owners++; owner = i; }
            }
            if (owners != 1) {
                ds_err("%s: %s by %d parts' records", p->files[f].name, owners ? "written" : "not written", owners);
                bad++;
            } else if (file_proven(x, f, e, 0)) {
                ds_err("%s: not as part %d of %d recorded it", p->files[f].name, owner, N);
                bad++;
            } else {
                keep_file(x, f, e);
                x->n_mine++;
                n_listed--;
            }
        }
        if (!bad && n_listed) { ds_err("%s: the parts' records name files this conversion does not write", o->out_dir); bad++; }
    }
    free(by_part);
    if (bad) return ds_fail(DS_EXIT_INPUT, "%s: cannot finish (nothing written)", o->out_dir);
    return 0;
}

/* ---------------------------------------------------------------- stage 4: clean OUT */

static int is_tmp_name(const char *nm) { return nm[0] == '.' && strstr(nm, ".dsconv-tmp") != NULL; }

/* ".NAME.<anything>.dsconv-tmp..." belongs to output file NAME. */
static int tmp_of(const char *nm, const char *file) {
    size_t l = strlen(file);
    return is_tmp_name(nm) && !strncmp(nm + 1, file, l) && nm[1 + l] == '.';
}

/* Removes the temporaries an interrupted run left (a part: only its own), and
 * refuses an OUT that holds anything else unless --resume or --force. */
static int stage_clean_out(exec *x) {
    const char *dir = x->o->out_dir;
    const ds_plan *p = x->p;
    DIR *d = opendir(dir);
    if (!d) return DS_IO_FAIL(dir, "opendir");
    struct dirent *de;
    int entries = 0;
    /* Pass 0 only counts; pass 1 removes: a refused run deletes nothing. */
    for (int pass = 0; pass < 2; pass++, rewinddir(d)) {
    if (pass == 1 && entries && !x->o->force && !x->o->resume) break;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, "..")) continue;
        int mine_tmp = 0, f = -1;
        if (x->o->part_n) {
            if (!strcmp(nm, DS_REC_DIR)) continue;
            for (int k = 0; k < p->n_files && !mine_tmp; k++)
                if (!x->fs[k].other_part && tmp_of(nm, p->files[k].name)) mine_tmp = 1;
            if (!mine_tmp && is_tmp_name(nm)) continue;         /* another part's, in flight */
            f = mine_tmp ? -1 : ds_plan_find_file(p, nm);
            if (f >= 0 && x->fs[f].other_part) continue;         /* another part's output */
        } else {
            mine_tmp = is_tmp_name(nm);
        }
        if (mine_tmp) {
            if (pass == 0) continue;
            char *path = ds_path_join(dir, nm);
            unlink(path);
            free(path);
            continue;
        }
        if (pass == 0) entries++;
    }
    }
    closedir(d);
    if (entries && !x->o->force && !x->o->resume)
        return ds_fail(DS_EXIT_USAGE, "%s: output directory is not empty (use --resume to finish an interrupted run, "
                                      "--force to write over it)", dir);
    return 0;
}

static int stage_check_space(const exec *x) {
    uint64_t need = 0;
    for (int f = 0; f < x->p->n_files; f++)
        if (!x->fs[f].done) need += ds_plan_file_bytes(x->p, f);
    struct statvfs sv;
    if (statvfs(x->o->out_dir, &sv) != 0) return DS_IO_FAIL(x->o->out_dir, "statvfs");
    uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    if (avail < need) {
        char a[32], b[32];
        return ds_fail(DS_EXIT_IO, "%s: not enough free space: the output needs %s, %s available", x->o->out_dir,
                       ds_fmt_bytes(need, a, sizeof a), ds_fmt_bytes(avail, b, sizeof b));
    }
    return 0;
}

/* ---------------------------------------------------------------- stage 5: journal */

/* The first write of a run: its journal, starting with the head and the files
 * kept from the interrupted run, so the journal alone proves them again. */
static int stage_start_journal(exec *x) {
    const ds_exec_opts *o = x->o;
    if (!o->resume && o->force) {
        if (!o->part_n) DS_TRY(ds_rec_remove_all(o->out_dir));
    }
    DS_TRY(ds_journal_open(&x->journal, o->out_dir, o->part_i, o->part_n, x->head, 0, !o->no_sync));
    for (int f = 0; f < x->p->n_files; f++)
        if (x->fs[f].kept) DS_TRY(ds_journal_add(x->journal, x->p->files[f].name, x->fs[f].entry));
    /* The new journal supersedes the old record only once it holds the kept files. */
    char *pj = ds_rec_path(o->out_dir, o->part_i, o->part_n, ".json");
    unlink(pj);
    free(pj);
    return 0;
}

/* ---------------------------------------------------------------- stage 6: pipeline */

/* Threads for one side of the I/O: as asked, else the default; 1 to MAX_IO_THREADS. */
static int io_threads(int asked, int dflt) {
    int n = asked > 0 ? asked : dflt;
    return n > MAX_IO_THREADS ? MAX_IO_THREADS : n;
}

/* The order chunks go through the pipeline. A file takes its bytes at their
 * planned offsets in any order, but one file takes them no faster than one
 * writer could (the kernel serializes buffered writes to one file: 3.5-4.2
 * GB/s for 1-4 threads into one file, 9.3 GB/s into 2 files, 16.6 into 4, H200
 * host, 2026-11-29). So the files are dealt to lanes (one per writer, each
 * new file to the lane with the fewest bytes so far) and the lanes' chunks
 * are interleaved by bytes: the writers work on different files at once.
 * Within a lane, chunks keep plan order; a quantized item's chunks stay
 * together (xform's per-item state: its deferred outputs, started at its
 * first chunk). Each file is committed after the last chunk that writes to
 * it. With hashes the finalizer still sees every file's bytes in order. */
typedef struct {
    int *items;               /* the lane's needed items, plan order */
    int n, next;
    int64_t row;              /* next row of items[next] */
    uint64_t bytes;           /* source bytes dealt so far */
} lane;

static int plan_chunks(exec *x) {
    const ds_plan *p = x->p;
    int L = x->n_lanes = x->n_writers;
    lane *ln = xcalloc((size_t)L, sizeof *ln);
    int *lane_of = xmalloc(sizeof(int) * (size_t)(p->n_files + 1));
    uint64_t *lane_bytes = xcalloc((size_t)L, sizeof(uint64_t));
    /* Files that one item writes (shard-for-mp's ranks) share a lane, so each
     * file's items stay in plan order: union-find over the items' files. */
    int *root = xmalloc(sizeof(int) * (size_t)(p->n_files + 1));
    for (int f = 0; f < p->n_files; f++) root[f] = f, lane_of[f] = -1;
    for (int i = 0; i < p->n_items; i++) {
        const ds_plan_item *it = &p->items[i];
        for (int k = 1; k < it->n_out; k++) {
            int a = p->outs[it->first_out].file, b = p->outs[it->first_out + k].file;
            while (root[a] != a) a = root[a];
            while (root[b] != b) b = root[b];
            if (a != b) root[a > b ? a : b] = a < b ? a : b;
        }
    }
    for (int f = 0; f < p->n_files; f++) {
        int r = f;
        while (root[r] != r) r = root[r];
        if (lane_of[r] < 0) {
            int best = 0;
            for (int l = 1; l < L; l++)
                if (lane_bytes[l] < lane_bytes[best]) best = l;
            lane_of[r] = best;
        }
        lane_of[f] = lane_of[r];
        if (!x->fs[f].done) lane_bytes[lane_of[f]] += ds_plan_file_bytes(p, f);
    }
    free(root);
    for (int i = 0; i < p->n_items; i++) {
        if (!item_needed(x, i)) continue;
        const ds_plan_item *it = &p->items[i];
        int f = -1;
        for (int k = 0; k < it->n_out && f < 0; k++)
            if (!x->fs[p->outs[it->first_out + k].file].done) f = p->outs[it->first_out + k].file;
        lane *l = &ln[lane_of[f]];
        l->items = xrealloc(l->items, sizeof(int) * (size_t)(l->n + 1));
        l->items[l->n++] = i;
    }
    /* While the device starts (a CUDA context: about 0.3 s), only copies can
     * go through: the lanes whose next item is a copy go first, for up to
     * about what the writers write meanwhile. Each lane keeps its order. */
    uint64_t copy_first = x->o->device_join ? (uint64_t)2 << 30 : 0;
    int64_t cap = 0;
    for (;;) {
        lane *l = NULL;
        for (int pass = copy_first ? 0 : 1; pass < 2 && !l; pass++)
            for (int k = 0; k < L; k++)
                if (ln[k].next < ln[k].n && (pass || p->items[ln[k].items[ln[k].next]].xform == DS_XF_COPY) &&
                    (!l || ln[k].bytes < l->bytes))
                    l = &ln[k];
        if (!l) break;
        if (p->items[l->items[l->next]].xform != DS_XF_COPY) copy_first = 0;
        /* One chunk, or all of a quantized item's. */
        int i = l->items[l->next];
        const ds_plan_item *it = &p->items[i];
        int64_t rows = chunk_rows(x, it), all = ds_tensor_rows(it->src->info);
        do { /* a tensor of no rows still passes as one empty chunk */
            int64_t r0 = l->row, r1 = r0 + rows < all ? r0 + rows : all;
            if (x->n_chunks == cap) {
                cap = cap ? 2 * cap : 256;
                x->chunks = xrealloc(x->chunks, sizeof(chunk) * (size_t)cap);
            }
            x->chunks[x->n_chunks++] = (chunk){i, r0, r1, (int)(l - ln)};
            l->bytes += (uint64_t)((r1 - r0) * src_row_bytes(it)) + 1;
            if (copy_first) copy_first = copy_first > (uint64_t)((r1 - r0) * src_row_bytes(it)) ? copy_first - (uint64_t)((r1 - r0) * src_row_bytes(it)) : 0;
            l->row = r1;
        } while (l->row < all && it->xform == DS_XF_QUANT);
        if (l->row >= all) { l->next++; l->row = 0; }
    }
    /* Each file is complete once the last chunk of any item writing to it is. */
    x->last_chunk = xmalloc(sizeof(int64_t) * (size_t)(p->n_files + 1));
    for (int f = 0; f < p->n_files; f++) x->last_chunk[f] = -1;
    for (int64_t q = 0; q < x->n_chunks; q++) {
        const ds_plan_item *it = &p->items[x->chunks[q].item];
        for (int k = 0; k < it->n_out; k++) x->last_chunk[p->outs[it->first_out + k].file] = q;
    }
    for (int k = 0; k < L; k++) free(ln[k].items);
    free(ln);
    free(lane_of);
    free(lane_bytes);
    return 0;
}

/* The chunks and the ring: every slot can hold the largest chunk of any needed item. */
static int stage_alloc(exec *x) {
    const ds_plan *p = x->p;
    if (!x->oc.chunk_bytes) x->oc.chunk_bytes = 16u << 20;
    /* One reader preads about 5-7 GB/s from the page cache and one writer writes
     * about 4 GB/s into it (H200 host, 2026-11-29): a GPU transforms faster
     * (requant int4 of the 8 GB bench, pipeline seconds: 1 reader and writer
     * 1.70, 3 of each with lanes 1.27-1.44). The CPU transform is slower than
     * either, and OpenMP teams lose time to every I/O thread that takes a core
     * from them: fewer there. */
    int dflt = x->o->use_cuda ? 3 : 2;
    x->n_readers = io_threads(x->o->readers, dflt);
    x->n_writers = io_threads(x->o->writers, dflt);
    x->n_slots = x->n_readers + x->n_writers + 2;
    for (int i = 0; i < p->n_items; i++) {
        if (!item_needed(x, i)) continue;
        const ds_plan_item *it = &p->items[i];
        int64_t rows = chunk_rows(x, it);
        size_t in = (size_t)(rows * src_row_bytes(it));
        size_t out = ds_xf_out_bytes(it, rows);
        if (in > x->in_cap) x->in_cap = in;
        if (out > x->out_cap) x->out_cap = out;
        for (int k = 0; k < it->n_out; k++) {
            const ds_plan_out *po = &p->outs[it->first_out + k];
            if (!x->fs[po->file].done) x->total_out += ds_tensor_desc_bytes(&p->files[po->file].tensors[po->tensor]);
        }
    }
    DS_TRY(plan_chunks(x));
    if (!x->o->device_join) DS_TRY(open_device(x));
    for (int s = 0; s < x->n_slots; s++) x->slots[s].seq = s; /* buffers: readers_main, at first use */
    return 0;
}

/* Reader, writer and finalizer threads around the transform on this thread
 * (OpenMP or CUDA inside), which takes the chunks in order. */
static int stage_pipeline(exec *x) {
    x->progress = x->o->quiet ? 0 : x->o->progress >= 0 ? x->o->progress : isatty(2);
    x->t0 = ds_now();
    pthread_t rd[MAX_IO_THREADS], wr[MAX_IO_THREADS], fin[MAX_IO_THREADS];
    finalizer fz[MAX_IO_THREADS];
    /* A thread that cannot start (no memory for its stack, a thread limit)
     * fails the run: the stages waiting for it would wait forever. Only the
     * threads started are joined. */
    int n_rd = 0, n_wr = 0, n_fin = 0, terr = 0;
    for (; n_rd < x->n_readers && !terr; n_rd++) terr = pthread_create(&rd[n_rd], NULL, reader_main, x);
    for (; n_wr < x->n_writers && !terr; n_wr++) terr = pthread_create(&wr[n_wr], NULL, writer_main, x);
    for (; n_fin < x->n_lanes && !terr; n_fin++) {
        fz[n_fin] = (finalizer){x, n_fin, 0};
        terr = pthread_create(&fin[n_fin], NULL, finalizer_main, &fz[n_fin]);
    }
    if (terr) {
        if (n_fin) n_fin--; else if (n_wr) n_wr--; else n_rd--; /* the one that failed */
        set_err(x, ds_fail(DS_EXIT_IO, "%s: cannot start an I/O thread (%s)", x->o->out_dir, strerror(terr)));
    }
    double busy = 0;
    for (int64_t q = 0; q < x->n_chunks; q++) {
        slot *s = &x->slots[q % x->n_slots];
        if (wait_slot(x, s, q, SLOT_READ)) break;
        double tb = ds_now();
        const ds_plan_item *it = &x->p->items[s->item];
        int r = !x->xf && it->xform != DS_XF_COPY ? open_device(x) : 0;
        if (!r) r = ds_xf_run(x->xf, it, s->r0, s->r1, s->in, s->out, &s->res);
        busy += ds_now() - tb;
        if (r) { set_err(x, r); break; }
        put_state(x, s, SLOT_TRANSFORMED);
    }
    x->busy_xf = busy;
    for (int t = 0; t < n_rd; t++) pthread_join(rd[t], NULL);
    for (int t = 0; t < n_wr; t++) pthread_join(wr[t], NULL);
    for (int l = 0; l < n_fin; l++) {
        pthread_join(fin[l], NULL);
        x->busy_final += fz[l].busy;
    }
    if (x->n_lanes) x->busy_final /= x->n_lanes;
    int rc = failed(x);
    /* Only copies ran: the device is still to be joined (a refused --device cuda fails the run as before). */
    if (!rc && !x->xf && x->o->device_join && !x->dev_joined) {
        x->dev_joined = 1;
        rc = x->o->device_join(x->o->device_arg, &x->oc.use_cuda);
        if (rc) x->dev_refused = 1;
    }
    report(x, 1);
    /* Any file of this run not committed (nothing needed it, e.g. no tensors left): write it now. */
    for (int f = 0; f < x->p->n_files && !rc; f++)
        if (!x->fs[f].done) rc = commit_file(x, f);
    return rc;
}

/* ---------------------------------------------------------------- stage 7: what follows the files */

static int write_extras(exec *x, ds_manifest *man) {
    for (int i = 0; i < x->p->n_extras; i++) {
        const ds_plan_extra *e = &x->p->extras[i];
        char *dst = ds_path_join(x->o->out_dir, e->name);
        int rc = e->text ? ds_write_file_atomic_mode(dst, e->text, strlen(e->text), x->c->file_mode ? x->c->file_mode : 0644)
                         : ds_copy_file_atomic(e->src_path, dst);
        if (!rc) x->extras_done = i + 1;
        if (!rc && man) rc = ds_manifest_add_path(man, dst, e->name);
        free(dst);
        DS_TRY(rc);
    }
    return 0;
}

/* The manifest of this run's files in plan order (so a resumed run, a whole
 * run and a finished split give the same text), then the files after them.
 * A kept file recorded without hashes is hashed from disk. */
static int manifest_files(const exec *x, ds_manifest *man) {
    for (int f = 0; f < x->p->n_files; f++) {
        const cJSON *e = x->fs[f].entry, *t;
        if (!e) continue;
        const char *name = x->p->files[f].name;
        if (!cJSON_GetObjectItemCaseSensitive(e, "tensors") || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "xxh3_128"))) {
            char *path = ds_path_join(x->o->out_dir, name);
            int rc = ds_manifest_add_path(man, path, name);
            free(path);
            DS_TRY(rc);
            continue;
        }
        ds_manifest_set_file(man, name, (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "size")),
                             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "xxh3_128")));
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(e, "tensors"))
            ds_manifest_set_tensor(man, name, t->string, t->valuestring);
    }
    return 0;
}

static int write_report(const exec *x) {
    if (!x->o->json_path) return 0;
    const ds_exec_stats *s = x->st;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", x->o->command);
    cJSON_AddStringToObject(o, "input", x->c->dir);
    cJSON_AddStringToObject(o, "output", x->o->out_dir);
    if (x->o->part_n) {
        cJSON_AddNumberToObject(o, "part", x->o->part_i);
        cJSON_AddNumberToObject(o, "parts", x->o->part_n);
    }
    cJSON_AddStringToObject(o, "device", x->xf ? ds_xf_device_name(x->xf) : "cpu");
    cJSON_AddNumberToObject(o, "tensors_converted", s->tensors_converted);
    cJSON_AddNumberToObject(o, "tensors_copied", s->tensors_copied);
    cJSON_AddNumberToObject(o, "tensors_quantized", s->tensors_quantized);
    cJSON_AddNumberToObject(o, "files_written", s->files_written);
    cJSON_AddNumberToObject(o, "files_kept", s->files_kept);
    cJSON_AddNumberToObject(o, "bytes_in", (double)s->bytes_in);
    cJSON_AddNumberToObject(o, "bytes_out", (double)s->bytes_out);
    cJSON_AddNumberToObject(o, "seconds", s->seconds);
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)ds_peak_rss());
    cJSON_AddNumberToObject(o, "peak_anon_bytes", (double)x->peak_anon);
    cJSON_AddNumberToObject(o, "gb_per_s", s->seconds > 0 ? (s->bytes_in + s->bytes_out) / s->seconds / 1e9 : 0);
    cJSON *q = x->xf ? ds_xf_report(x->xf) : NULL;
    if (q) cJSON_AddItemToObject(o, "quantized", q);
    /* Wall seconds of the run's stages, and inside the pipeline each stage's
     * busy seconds (per thread, for the readers and writers): the one near
     * "pipeline" is what bounds the run. */
    cJSON *io = cJSON_AddObjectToObject(o, "io_threads");
    cJSON_AddNumberToObject(io, "readers", x->n_readers);
    cJSON_AddNumberToObject(io, "writers", x->n_writers);
    cJSON *t = cJSON_AddObjectToObject(o, "stages_seconds");
    cJSON_AddNumberToObject(t, "setup", x->t_setup);
    cJSON_AddNumberToObject(t, "alloc", x->t_alloc);
    cJSON_AddNumberToObject(t, "pipeline", x->t_pipe);
    cJSON_AddNumberToObject(t, "read_busy", x->n_readers ? x->busy_read / x->n_readers : 0);
    cJSON_AddNumberToObject(t, "transform_busy", x->busy_xf);
    cJSON_AddNumberToObject(t, "write_busy", x->n_writers ? x->busy_write / x->n_writers : 0);
    cJSON_AddNumberToObject(t, "finalize_busy", x->busy_final);
    cJSON_AddNumberToObject(t, "conclude", x->t_conclude);
    int rc = ds_write_json_atomic(x->o->json_path, o);
    cJSON_Delete(o);
    return rc;
}

/* A part records what it wrote and stops; a whole run and finish write the
 * side files and the index (last of the checkpoint), then the record and manifests. */
static int stage_conclude(exec *x, double t0, double tc) {
    const ds_exec_opts *o = x->o;
    ds_manifest man;
    ds_manifest_init(&man);
    int with_manifest = o->manifest_path || o->finish;
    int rc = with_manifest ? manifest_files(x, &man) : 0;
    if (!rc && !o->part_n) rc = write_extras(x, with_manifest ? &man : NULL);
    /* The renames themselves survive a power loss only once the directory is flushed. */
    if (!rc && !o->no_sync && fsync(x->dirfd) != 0) rc = DS_IO_FAIL(o->out_dir, "fsync");
    if (!rc && !o->finish) {
        cJSON *files = cJSON_CreateObject();
        for (int f = 0; f < x->p->n_files; f++)
            if (x->fs[f].entry) cJSON_AddItemToObject(files, x->p->files[f].name, cJSON_Duplicate(x->fs[f].entry, 1));
        ds_journal_close(x->journal);
        x->journal = NULL;
        rc = ds_rec_finish(o->out_dir, o->part_i, o->part_n, x->head, files);
        cJSON_Delete(files);
    }
    if (!rc && o->finish) {
        char *path = ds_path_join(o->out_dir, DS_REC_DIR "/manifest.json");
        rc = ds_manifest_write(&man, path);
        free(path);
    }
    x->st->seconds = ds_now() - t0;
    if (x->xf)
        ds_xf_quality(x->xf, &x->st->q_tensors, &x->st->q_rel_all, &x->st->q_rel_worst, x->st->q_worst,
                      sizeof x->st->q_worst);
    if (!rc && o->manifest_path) rc = ds_manifest_write(&man, o->manifest_path);
    ds_manifest_free(&man);
    x->t_conclude = ds_now() - tc;
    if (!rc) rc = write_report(x);
    return rc;
}

/* ---------------------------------------------------------------- stage 8: undo a refused run */

/* The input turned out invalid mid-run (a non-finite weight requant cannot
 * quantize, a shard that changed under us): exit 3 must leave OUT as the run
 * found it, not a checkpoint without its index that looks half done. Removed:
 * the files this run renamed into OUT, the side files it wrote, its open
 * temporaries; its journal goes back to proving only the files --resume kept
 * from the interrupted run (which stay), or goes when it proves nothing, with
 * .dsconv and OUT themselves when this run created them and they are empty.
 * Files other than ours are never touched. An I/O failure (exit 4) keeps what
 * was committed instead: --resume continues from it once the disk is fixed. */
static void stage_undo(exec *x) {
    const ds_exec_opts *o = x->o;
    const ds_plan *p = x->p;
    int removed = 0, kept = 0;
    for (int f = 0; f < p->n_files; f++) {
        file_state *fs = &x->fs[f];
        ds_stw_abort(fs->w);
        fs->w = NULL;
        if (fs->kept) kept++;
        if (!fs->committed) continue;
        char *path = ds_path_join(o->out_dir, p->files[f].name);
        if (unlink(path) == 0) removed++;
        else ds_warn("%s: could not remove (%s)", path, strerror(errno));
        free(path);
    }
    for (int i = 0; i < x->extras_done; i++) {
        char *path = ds_path_join(o->out_dir, p->extras[i].name);
        if (unlink(path) == 0) removed++;
        free(path);
    }
    ds_journal_close(x->journal);
    x->journal = NULL;
    int rc = 1;
    if (kept && !ds_journal_open(&x->journal, o->out_dir, o->part_i, o->part_n, x->head, 0, !o->no_sync)) {
        rc = 0;
        for (int f = 0; f < p->n_files && !rc; f++)
            if (x->fs[f].kept) rc = ds_journal_add(x->journal, p->files[f].name, x->fs[f].entry);
        ds_journal_close(x->journal);
        x->journal = NULL;
    }
    if (rc) {
        /* Nothing of this run is left to prove. */
        char *lj = ds_rec_path(o->out_dir, o->part_i, o->part_n, ".log");
        unlink(lj);
        free(lj);
        char *rd = ds_path_join(o->out_dir, DS_REC_DIR);
        rmdir(rd); /* fails, as it should, while other runs' records are in it */
        free(rd);
    }
    if (!o->no_sync && x->dirfd >= 0) fsync(x->dirfd);
    if (x->created_out) rmdir(o->out_dir);
    ds_err("%s: nothing written: removed the %d file(s) this run had written before the %s was refused%s",
           o->out_dir, removed, x->dev_refused ? "device" : "input", kept ? " (the files --resume kept stay)" : "");
}

/* ---------------------------------------------------------------- the run */

static void teardown(exec *x) {
    const ds_plan *p = x->p;
    for (int s = 0; s < MAX_SLOTS; s++) free_slot(x, &x->slots[s]);
    free(x->chunks);
    free(x->last_chunk);
    if (x->fs)
        for (int f = 0; f < p->n_files; f++) {
            ds_stw_abort(x->fs[f].w);
            free_hashes(&x->fs[f], p->files[f].n_tensors);
            cJSON_Delete(x->fs[f].entry);
        }
    free(x->fs);
    ds_journal_close(x->journal);
    if (x->dirfd >= 0) close(x->dirfd);
    if (x->xf) ds_xf_destroy(x->xf);
    cJSON_Delete(x->head);
    if (x->have_own) ds_rec_free(&x->own);
    ds_rec_set_free(&x->parts);
    pthread_mutex_destroy(&x->mu);
    pthread_mutex_destroy(&x->fmu);
    pthread_mutex_destroy(&x->pmu);
    pthread_cond_destroy(&x->cv);
}

int ds_exec_run(const ds_ckpt *c, const ds_plan *p, const ds_exec_opts *o, ds_exec_stats *st) {
    exec x;
    memset(&x, 0, sizeof x);
    memset(st, 0, sizeof *st);
    x.c = c; x.p = p; x.oc = *o; x.o = &x.oc; x.st = st;
    x.dirfd = -1;
    pthread_mutex_init(&x.mu, NULL);
    pthread_mutex_init(&x.fmu, NULL);
    pthread_mutex_init(&x.pmu, NULL);
    pthread_cond_init(&x.cv, NULL);
    x.fs = xcalloc((size_t)p->n_files + 1, sizeof(file_state));
    x.hashes = o->manifest_path || o->part_n;
    double t0 = ds_now();
    /* Refused before anything is created or removed (common/fsafe.h, plan.h). */
    int rc = ds_check_out_vs_in(c->dir, c->lone_file, o->out_dir);
    if (!rc) rc = ds_plan_check_names(p);
    if (!rc) rc = stage_open_out(&x);
    if (!rc) rc = stage_check_records(&x);
    if (!rc) rc = o->finish ? stage_select_finish(&x) : stage_select(&x);
    if (!o->finish) {
        if (!rc) rc = stage_clean_out(&x);
        if (!rc) rc = stage_check_space(&x);
        if (!rc) rc = stage_start_journal(&x);
        if (!rc) x.started = 1;
        double ta = ds_now();
        x.t_setup = ta - t0;
        if (!rc) rc = stage_alloc(&x);
        double tp = ds_now();
        x.t_alloc = tp - ta;
        if (!rc) rc = stage_pipeline(&x);
        x.t_pipe = ds_now() - tp;
    }
    double tc = ds_now();
    if (!rc) rc = stage_conclude(&x, t0, tc);
    if ((rc == DS_EXIT_INPUT || x.dev_refused) && x.started && x.journal) stage_undo(&x);
    teardown(&x);
    return rc;
}
