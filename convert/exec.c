/* exec.c - the streaming executor: reader thread -> transform -> writer thread.
 *
 * A ring of slots carries chunks of whole source rows. The reader preads a
 * chunk's rows; the main thread transforms them (OpenMP kernels, or CUDA); the
 * writer appends each output's part to its file in order, feeds the manifest
 * hashes, and commits a file (fsync + rename) right after the last item that
 * writes to it. All three stages work on different slots at once, so reading,
 * converting and writing overlap. */
#define _GNU_SOURCE
#include "convert/exec.h"
#include "convert/manifest.h"
#include "common/hash.h"
#include "common/util.h"
#include "convert/xform.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define N_SLOTS 3

typedef struct {
    int item;
    int64_t r0, r1;
    uint8_t *in, *out;        /* out == NULL: the result is `in` (copy) */
    ds_xf_result res;         /* per-output byte layout of the result */
    int state;                /* 0 free, 1 read, 2 transformed */
    int end;                  /* sentinel: no more chunks */
} slot;

typedef struct {
    ds_st_writer *w;
    int done;                 /* committed, or kept by --resume */
    int kept;
    ds_h128 *fh;              /* whole-file hash (manifest) */
    ds_h128 **th;             /* per tensor */
} file_state;

typedef struct {
    const ds_ckpt *c;
    const ds_plan *p;
    const ds_exec_opts *o;
    ds_exec_stats *st;
    slot slots[N_SLOTS];
    size_t in_cap, out_cap;
    file_state *fs;
    ds_manifest *man;
    ds_xf_ctx *xf;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int err;                  /* first error code; all stages stop */
    /* progress */
    uint64_t total_out, done_out;
    double t0, last_print, last_mem;
    uint64_t peak_anon;       /* sampled RssAnon maximum */
    int progress;
    uint8_t *gather;          /* writer's staging for column slices */
    size_t gather_cap;
} exec;

static void set_err(exec *x, int rc) {
    pthread_mutex_lock(&x->mu);
    if (!x->err) x->err = rc;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

/* Waits until slot s reaches state want (or an error); returns 0 or the error. */
static int wait_state(exec *x, slot *s, int want) {
    pthread_mutex_lock(&x->mu);
    while (s->state != want && !x->err) pthread_cond_wait(&x->cv, &x->mu);
    int e = x->err;
    pthread_mutex_unlock(&x->mu);
    return e;
}
static void put_state(exec *x, slot *s, int st) {
    pthread_mutex_lock(&x->mu);
    s->state = st;
    pthread_cond_broadcast(&x->cv);
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

/* ---------------------------------------------------------------- reader */
static void *reader_main(void *arg) {
    exec *x = arg;
    int si = 0;
    for (int i = 0; i < x->p->n_items && !x->err; i++) {
        if (!item_needed(x, i)) continue;
        const ds_plan_item *it = &x->p->items[i];
        const ds_st_file *sf = &x->c->shards[it->src->file];
        int64_t rows = ds_tensor_rows(it->src->info), step = chunk_rows(x, it), rb = src_row_bytes(it);
        if (rows == 0) rows = 0;
        int64_t r0 = 0;
        do {
            slot *s = &x->slots[si];
            if (wait_state(x, s, 0)) return NULL;
            int64_t r1 = r0 + step < rows ? r0 + step : rows;
            s->item = i; s->r0 = r0; s->r1 = r1; s->end = 0;
            size_t n = (size_t)((r1 - r0) * rb);
            if (n) {
                int rc = ds_pread_full(sf->fd, s->in, n, ds_st_file_offset(sf, it->src->info) + (uint64_t)(r0 * rb),
                                       sf->path);
                if (rc) { set_err(x, rc); return NULL; }
            }
            x->st->bytes_in += n;
            put_state(x, s, 1);
            si = (si + 1) % N_SLOTS;
            r0 = r1;
        } while (r0 < rows);
    }
    slot *s = &x->slots[si];
    if (wait_state(x, s, 0)) return NULL;
    s->end = 1;
    put_state(x, s, 1);
    return NULL;
}

/* ---------------------------------------------------------------- writer */
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
    double el = now - x->t0, gbs = el > 0 ? x->done_out / el / 1e9 : 0;
    double eta = gbs > 0 ? (x->total_out - x->done_out) / (gbs * 1e9) : 0;
    int shard = x->st->files_written + x->st->files_kept;
    fprintf(stderr, "\r%s: file %d/%d  %.2f/%.2f GB  %.2f GB/s  ETA %.0fs   %s", x->o->command,
            shard < x->p->n_files ? shard + 1 : shard, x->p->n_files, x->done_out / 1e9, x->total_out / 1e9, gbs,
            eta, final ? "\n" : "");
}

static int open_file(exec *x, int f) {
    file_state *fs = &x->fs[f];
    if (fs->w || fs->done) return 0;
    const ds_plan_file *pf = &x->p->files[f];
    char *path = ds_path_join(x->o->out_dir, pf->name);
    int rc = ds_stw_open(&fs->w, path, pf->tensors, pf->n_tensors);
    free(path);
    if (rc) return rc;
    ds_stw_set_sync(fs->w, !x->o->no_sync);
    if (x->man) {
        uint8_t *hdr; size_t hl;
        ds_st_build_header(pf->tensors, pf->n_tensors, &hdr, &hl, NULL);
        fs->fh = ds_h128_new();
        ds_h128_update(fs->fh, hdr, hl);
        free(hdr);
        fs->th = xcalloc((size_t)pf->n_tensors + 1, sizeof(ds_h128 *));
        for (int t = 0; t < pf->n_tensors; t++) fs->th[t] = ds_h128_new();
    }
    return 0;
}

static int emit(exec *x, const ds_plan_out *po, const void *p, size_t n) {
    file_state *fs = &x->fs[po->file];
    if (fs->done || !n) return 0;
    DS_TRY(open_file(x, po->file));
    DS_TRY(ds_stw_append(fs->w, p, n));
    if (fs->fh) { ds_h128_update(fs->fh, p, n); ds_h128_update(fs->th[po->tensor], p, n); }
    x->done_out += n;
    x->st->bytes_out += n;
    return 0;
}

static int commit_file(exec *x, int f) {
    file_state *fs = &x->fs[f];
    if (fs->done) return 0;
    DS_TRY(open_file(x, f)); /* a file of only empty tensors still gets written */
    uint64_t size = ds_stw_total_size(fs->w);
    int rc = ds_stw_commit(fs->w);
    fs->w = NULL;
    if (rc) return rc;
    fs->done = 1;
    x->st->files_written++;
    if (x->man) {
        const ds_plan_file *pf = &x->p->files[f];
        char hex[33];
        ds_h128_hex(fs->fh, hex);
        ds_manifest_set_file(x->man, pf->name, size, hex);
        for (int t = 0; t < pf->n_tensors; t++) {
            ds_h128_hex(fs->th[t], hex);
            ds_manifest_set_tensor(x->man, pf->name, pf->tensors[t].name, hex);
            ds_h128_free(fs->th[t]);
        }
        ds_h128_free(fs->fh);
        free(fs->th);
        fs->fh = NULL; fs->th = NULL;
    }
    return 0;
}

/* Writes one output's part of a transformed chunk. */
static int write_part(exec *x, const slot *s, const ds_plan_out *po, int k) {
    const ds_xf_part *part = &s->res.part[ds_xf_component(&x->p->items[s->item], k)];
    const uint8_t *base = part->data;
    int64_t rb = part->row_bytes, n = part->rows;
    if (part->deferred_done) return emit(x, po, part->data, part->bytes);
    if (part->deferred) return 0;
    int64_t r0 = part->row0;
    if (po->dim <= 0) {
        int64_t a = r0, b = r0 + n;
        if (po->dim == 0) { a = a > po->begin ? a : po->begin; b = b < po->end ? b : po->end; }
        if (b <= a) return 0;
        return emit(x, po, base + (a - r0) * rb, (size_t)((b - a) * rb));
    }
    /* Column slice: gather each row's [begin, end) columns. */
    int64_t es = rb / part->cols, w = (po->end - po->begin) * es;
    size_t need = (size_t)(w * n);
    if (need > x->gather_cap) return ds_fail(DS_EXIT_IO, "internal error: column slice larger than staging");
    for (int64_t r = 0; r < n; r++) memcpy(x->gather + r * w, base + r * rb + po->begin * es, (size_t)w);
    return emit(x, po, x->gather, need);
}

static void *writer_main(void *arg) {
    exec *x = arg;
    int si = 0;
    for (;;) {
        slot *s = &x->slots[si];
        if (wait_state(x, s, 2)) return NULL;
        if (s->end) return NULL;
        const ds_plan_item *it = &x->p->items[s->item];
        int rc = 0;
        for (int k = 0; k < it->n_out && !rc; k++) rc = write_part(x, s, &x->p->outs[it->first_out + k], k);
        int last = s->r1 >= ds_tensor_rows(it->src->info);
        if (!rc && last) {
            switch (it->xform) {
            case DS_XF_COPY: x->st->tensors_copied++; break;
            case DS_XF_FP8_TO_BF16: x->st->tensors_converted++; break;
            case DS_XF_UNPACK: x->st->tensors_converted++; break;
            case DS_XF_QUANT: x->st->tensors_quantized++; break;
            }
            for (int f = 0; f < x->p->n_files && !rc; f++)
                if (x->p->files[f].last_item == s->item) rc = commit_file(x, f);
        }
        if (rc) { set_err(x, rc); return NULL; }
        report(x, 0);
        put_state(x, s, 0);
        si = (si + 1) % N_SLOTS;
    }
}

/* ---------------------------------------------------------------- setup */
static int remove_stale_tmp(const char *dir, int *n_entries) {
    DIR *d = opendir(dir);
    if (!d) return DS_IO_FAIL(dir, "opendir");
    struct dirent *de;
    *n_entries = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        size_t l = strlen(de->d_name);
        if (l > 12 && de->d_name[0] == '.' && !strcmp(de->d_name + l - 11, ".dsconv-tmp")) {
            char *p = ds_path_join(dir, de->d_name);
            unlink(p);
            free(p);
            continue;
        }
        (*n_entries)++;
    }
    closedir(d);
    return 0;
}

/* --resume: a file is kept when it is present under its final name (so it was
 * complete when renamed) with exactly the planned header and size. */
static int file_is_complete(const exec *x, int f) {
    const ds_plan_file *pf = &x->p->files[f];
    char *path = ds_path_join(x->o->out_dir, pf->name);
    uint8_t *hdr; size_t hl;
    uint64_t data;
    ds_st_build_header(pf->tensors, pf->n_tensors, &hdr, &hl, &data);
    int ok = 0;
    FILE *fp = fopen(path, "rb");
    if (fp) {
        uint8_t *buf = xmalloc(hl);
        ok = fread(buf, 1, hl, fp) == hl && !memcmp(buf, hdr, hl) && fseeko(fp, 0, SEEK_END) == 0 &&
             (uint64_t)ftello(fp) == hl + data;
        free(buf);
        fclose(fp);
    }
    free(hdr);
    free(path);
    return ok;
}

static int check_space(const exec *x) {
    uint64_t need = 0;
    for (int f = 0; f < x->p->n_files; f++) {
        if (x->fs[f].done) continue;
        uint8_t *hdr; size_t hl; uint64_t data;
        ds_st_build_header(x->p->files[f].tensors, x->p->files[f].n_tensors, &hdr, &hl, &data);
        free(hdr);
        need += hl + data;
    }
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

static int write_extras(exec *x) {
    for (int i = 0; i < x->p->n_extras; i++) {
        const ds_plan_extra *e = &x->p->extras[i];
        char *dst = ds_path_join(x->o->out_dir, e->name);
        int rc = e->text ? ds_write_file_atomic(dst, e->text, strlen(e->text)) : ds_copy_file_atomic(e->src_path, dst);
        if (!rc && x->man) rc = ds_manifest_add_path(x->man, dst, e->name);
        free(dst);
        DS_TRY(rc);
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
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    size_t n = strlen(txt);
    txt = xrealloc(txt, n + 2);
    txt[n] = '\n'; txt[n + 1] = 0;
    int rc = ds_write_file_atomic(x->o->json_path, txt, n + 1);
    free(txt);
    return rc;
}

int ds_exec_run(const ds_ckpt *c, const ds_plan *p, const ds_exec_opts *o, ds_exec_stats *st) {
    exec x;
    memset(&x, 0, sizeof x);
    memset(st, 0, sizeof *st);
    x.c = c; x.p = p; x.o = o; x.st = st;
    double t0 = ds_now();
    int rc = 0, entries = 0;

    if (ds_path_exists(o->out_dir) && !ds_is_dir(o->out_dir))
        return ds_fail(DS_EXIT_USAGE, "%s: exists and is not a directory", o->out_dir);
    DS_TRY(ds_mkdir_p(o->out_dir));
    /* One writer per OUT: a second run would delete the first one's temporary files. */
    int dirfd = open(o->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return DS_IO_FAIL(o->out_dir, "open");
    if (flock(dirfd, LOCK_EX | LOCK_NB) != 0) {
        close(dirfd);
        return ds_fail(DS_EXIT_USAGE, "%s: another dsconv is writing into this directory", o->out_dir);
    }
    rc = remove_stale_tmp(o->out_dir, &entries);
    if (rc) { close(dirfd); return rc; }
    if (entries && !o->force && !o->resume) {
        close(dirfd);
        return ds_fail(DS_EXIT_USAGE, "%s: output directory is not empty (use --resume to finish an interrupted run, "
                                      "--force to write over it)", o->out_dir);
    }
    x.fs = xcalloc((size_t)p->n_files + 1, sizeof(file_state));
    ds_manifest man;
    if (o->manifest_path) { ds_manifest_init(&man); x.man = &man; }
    for (int f = 0; f < p->n_files; f++) {
        if (o->resume && file_is_complete(&x, f)) {
            x.fs[f].done = x.fs[f].kept = 1;
            st->files_kept++;
            if (x.man) {
                char *path = ds_path_join(o->out_dir, p->files[f].name);
                rc = ds_manifest_add_path(x.man, path, p->files[f].name);
                free(path);
                if (rc) goto out;
            }
        }
    }
    if ((rc = check_space(&x))) goto out;
    /* Buffers: every slot can hold the largest chunk of any needed item. */
    size_t chunk = o->chunk_bytes ? o->chunk_bytes : (16u << 20);
    ds_exec_opts oc = *o;
    oc.chunk_bytes = chunk;
    x.o = &oc;
    for (int i = 0; i < p->n_items; i++) {
        if (!item_needed(&x, i)) continue;
        const ds_plan_item *it = &p->items[i];
        int64_t rows = chunk_rows(&x, it);
        size_t in = (size_t)(rows * src_row_bytes(it));
        size_t out = ds_xf_out_bytes(it, rows);
        if (in > x.in_cap) x.in_cap = in;
        if (out > x.out_cap) x.out_cap = out;
        for (int k = 0; k < it->n_out; k++) {
            const ds_plan_out *po = &p->outs[it->first_out + k];
            if (po->dim == 1) { size_t g = out > in ? out : in; if (g > x.gather_cap) x.gather_cap = g; }
        }
        for (int k = 0; k < it->n_out; k++) {
            const ds_plan_file *pf = &p->files[p->outs[it->first_out + k].file];
            const ds_tensor_desc *d = &pf->tensors[p->outs[it->first_out + k].tensor];
            if (!x.fs[p->outs[it->first_out + k].file].done) x.total_out += ds_tensor_desc_bytes(d);
        }
    }
    if ((rc = ds_xf_create(&x.xf, c, p, o->use_cuda, x.in_cap, x.out_cap))) goto out;
    for (int s = 0; s < N_SLOTS; s++) {
        x.slots[s].in = ds_xf_host_alloc(x.xf, x.in_cap ? x.in_cap : 64);
        x.slots[s].out = x.out_cap ? ds_xf_host_alloc(x.xf, x.out_cap) : NULL;
    }
    if (x.gather_cap) x.gather = xaligned(x.gather_cap);
    pthread_mutex_init(&x.mu, NULL);
    pthread_cond_init(&x.cv, NULL);
    x.progress = o->quiet ? 0 : o->progress >= 0 ? o->progress : isatty(2);
    x.t0 = ds_now();

    pthread_t rd, wr;
    pthread_create(&rd, NULL, reader_main, &x);
    pthread_create(&wr, NULL, writer_main, &x);
    /* Transform stage on this thread (OpenMP or CUDA inside). */
    for (int si = 0;; si = (si + 1) % N_SLOTS) {
        slot *s = &x.slots[si];
        if (wait_state(&x, s, 1)) break;
        if (!s->end) {
            int r = ds_xf_run(x.xf, &p->items[s->item], s->r0, s->r1, s->in, s->out, &s->res);
            if (r) { set_err(&x, r); break; }
        }
        int end = s->end;
        put_state(&x, s, 2);
        if (end) break;
    }
    pthread_join(rd, NULL);
    pthread_join(wr, NULL);
    rc = x.err;
    report(&x, 1);
    /* Any file not committed (an item failed, or nothing needed it): finish or drop. */
    for (int f = 0; f < p->n_files && !rc; f++)
        if (!x.fs[f].done) rc = commit_file(&x, f);
    if (!rc) rc = write_extras(&x);
    /* The renames themselves survive a power loss only once the directory is flushed. */
    if (!rc && !o->no_sync && fsync(dirfd) != 0) rc = DS_IO_FAIL(o->out_dir, "fsync");
    st->seconds = ds_now() - t0;
    if (x.xf) ds_xf_quality(x.xf, &st->q_tensors, &st->q_rel_all, &st->q_rel_worst, st->q_worst, sizeof st->q_worst);
    if (!rc && x.man) rc = ds_manifest_write(x.man, o->manifest_path);
    if (!rc) rc = write_report(&x);
    for (int s = 0; s < N_SLOTS; s++) {
        ds_xf_host_free(x.xf, x.slots[s].in);
        if (x.slots[s].out) ds_xf_host_free(x.xf, x.slots[s].out);
    }
    free(x.gather);
    pthread_mutex_destroy(&x.mu);
    pthread_cond_destroy(&x.cv);
out:
    for (int f = 0; f < p->n_files; f++) {
        ds_stw_abort(x.fs[f].w);
        if (x.fs[f].th) {
            for (int t = 0; t < p->files[f].n_tensors; t++) ds_h128_free(x.fs[f].th[t]);
            free(x.fs[f].th);
        }
        ds_h128_free(x.fs[f].fh);
    }
    free(x.fs);
    close(dirfd);
    if (x.xf) ds_xf_destroy(x.xf);
    if (x.man) ds_manifest_free(x.man);
    return rc;
}
