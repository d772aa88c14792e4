/* wargs.c - the writing commands' shared options. */
#include "cmd/wargs.h"
#include "common/util.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ds_wargs_init(ds_wargs *w, const char *command) {
    memset(w, 0, sizeof *w);
    w->exec.command = command;
    w->exec.progress = -1;
    w->exec.chunk_bytes = 16u << 20;
}

void ds_wargs_note(void *ctx, const ds_option *o, const char *arg) {
    ds_wargs *w = ctx;
    size_t n = strlen(o->long_name) + (arg ? strlen(arg) : 0) + 4;
    char *s = xmalloc(n);
    snprintf(s, n, "--%s%s%s", o->long_name, arg ? "=" : "", arg ? arg : "");
    w->options = xrealloc(w->options, sizeof(char *) * (size_t)(w->n_options + 1));
    w->options[w->n_options++] = s;
}

int ds_wargs_is_shared(const char *name, size_t len) {
    ds_wargs w;
    const ds_option shared[] = {DS_OPT_WRITE_COMMON_(&w), DS_OPT_END_()};
    for (const ds_option *o = shared; o->kind != DS_OPT_END; o++)
        if (o->long_name && !strncmp(o->long_name, name, len)) return 1;
    return !strncmp("help", name, len);
}

void ds_wargs_free(ds_wargs *w) {
    for (int i = 0; i < w->n_options; i++) free(w->options[i]);
    free(w->options);
    w->options = NULL;
    w->n_options = 0;
}

/* "I/N", 1 <= I <= N <= 100000. */
static int parse_part(const char *s, int *i, int *n) {
    long a, b;
    char *e;
    a = strtol(s, &e, 10);
    if (e == s || *e != '/') goto bad;
    const char *t = e + 1;
    b = strtol(t, &e, 10);
    if (e == t || *e || b < 1 || b > 100000 || a < 1 || a > b) goto bad;
    *i = (int)a;
    *n = (int)b;
    return 0;
bad:
    return ds_fail(DS_EXIT_USAGE, "--part takes I/N with 1 <= I <= N (got '%s'), e.g. --part 3/16", s);
}

int ds_wargs_cb_part(const ds_option *o, const char *arg) {
    ds_wargs *w = o->value;
    return parse_part(arg, &w->exec.part_i, &w->exec.part_n);
}

int ds_wargs_cb_chunk_mb(const ds_option *o, const char *arg) {
    ds_wargs *w = o->value;
    long v;
    DS_TRY(ds_parse_int("--chunk-mb", arg, 1, 4096, &v));
    w->exec.chunk_bytes = (size_t)v << 20;
    return 0;
}

int ds_wargs_cb_finish(const ds_option *o, const char *arg) {
    ds_wargs *w = o->value;
    long v;
    DS_TRY(ds_parse_int("--finish-parts", arg, 1, 100000, &v));
    w->exec.finish = (int)v;
    return 0;
}

static void set_threads(const ds_wargs *w) {
    /* The executor's reader and writer threads need a core each: OpenMP workers
     * spinning between chunks on every core would starve them (measured: 2.3x
     * slower on 2 cores). So by default the transform gets all cores but two. */
    int n = (int)w->threads;
    if (n <= 0) n = omp_get_num_procs() > 3 ? omp_get_num_procs() - 2 : 1;
    ds_set_threads(n);
}

int ds_wargs_finish(ds_wargs *w) {
    set_threads(w);
    return ds_resolve_device(w->device, &w->exec.use_cuda);
}

void ds_wargs_summary(const ds_wargs *w, const ds_exec_stats *st) {
    if (w->exec.quiet) return;
    char a[32], b[32];
    if (w->exec.finish) {
        printf("finish: %d parts complete, %d files proven%s; side files, config and index written\n", w->exec.finish,
               st->files_kept, w->exec.rehash ? " (re-hashed)" : "");
        return;
    }
    if (w->exec.part_n) printf("part %d/%d: ", w->exec.part_i, w->exec.part_n);
    printf("%s: %d tensors converted, %d quantized, %d copied; %d files written, %d kept; read %s, wrote %s in %.2f s "
           "(%.2f GB/s) on %s\n",
           w->exec.command, st->tensors_converted, st->tensors_quantized, st->tensors_copied, st->files_written,
           st->files_kept, ds_fmt_bytes(st->bytes_in, a, sizeof a), ds_fmt_bytes(st->bytes_out, b, sizeof b),
           st->seconds, st->seconds > 0 ? (st->bytes_in + st->bytes_out) / st->seconds / 1e9 : 0.0,
           w->exec.use_cuda ? "cuda" : "cpu");
    if (st->q_tensors)
        printf("%s: weight error (relative L2 of the dequantized weights vs the source): %.4g over all %d quantized "
               "tensors, worst %.4g (%s); per tensor in --json\n",
               w->exec.command, st->q_rel_all, st->q_tensors, st->q_rel_worst, st->q_worst);
}

/* The executor's device_join: the probe's answer, also for the summary line. */
typedef struct {
    ds_device_probe *pr;
    ds_wargs *w;
} device_wait;
static int device_join(void *arg, int *use_cuda) {
    device_wait *dw = arg;
    int rc = ds_resolve_device_join(dw->pr, use_cuda);
    if (!rc) dw->w->exec.use_cuda = *use_cuda;
    return rc;
}

static int run(ds_wargs *w, const char *in, const char *out, ds_plan_builder build, const void *arg) {
    if (w->exec.finish && w->exec.part_n) return ds_fail(DS_EXIT_USAGE, "--part and finish do not go together");
    if (w->exec.rehash && !w->exec.resume && !w->exec.finish)
        return ds_fail(DS_EXIT_USAGE, "--rehash re-reads the files --resume keeps: use it with --resume");
    if (w->exec.finish) w->device = (ds_device_req){.kind = DS_DEV_CPU}; /* finish transforms nothing */
    set_threads(w);
    /* The CUDA context is created while the checkpoint is opened and planned,
     * and while the executor starts with the copies (exec.h device_join). */
    ds_device_probe dev;
    ds_resolve_device_start(w->device, &dev);
    w->exec.readers = w->exec.writers = (int)w->io_threads;
    w->exec.out_dir = out;
    w->exec.options = (const char *const *)w->options;
    w->exec.n_options = w->n_options;
    ds_ckpt ck;
    int rc = ds_ckpt_open(in, &ck);
    if (rc) {
        /* A refused --device answers first, as it did before the input was read. */
        int drc = ds_resolve_device_join(&dev, &w->exec.use_cuda);
        return drc ? drc : rc;
    }
    ds_plan plan;
    rc = build(&ck, &plan, arg);
    device_wait dw = {&dev, w};
    if (rc || !ds_resolve_device_pending(&dev)) {
        int drc = ds_resolve_device_join(&dev, &w->exec.use_cuda);
        if (drc) rc = drc;
    } else {
        w->exec.use_cuda = 1; /* likely: a driver is there; device_join says */
        w->exec.device_join = device_join;
        w->exec.device_arg = &dw;
    }
    ds_exec_stats st;
    if (!rc) rc = ds_exec_run(&ck, &plan, &w->exec, &st);
    if (dev.threaded) { /* the executor stopped before it needed the device: its answer no longer matters */
        pthread_join(dev.th, NULL);
        dev.threaded = 0;
    }
    w->exec.device_join = NULL;
    if (!rc) ds_wargs_summary(w, &st);
    ds_plan_free(&plan);
    ds_ckpt_close(&ck);
    return rc;
}

int ds_wargs_run(ds_wargs *w, const char *in, const char *out, ds_plan_builder build, const void *arg) {
    int rc = run(w, in, out, build, arg);
    ds_wargs_free(w);
    return rc;
}
