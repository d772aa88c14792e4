/* wargs.c - the writing commands' shared options. */
#include "cmd/wargs.h"
#include "common/util.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

void ds_wargs_init(ds_wargs *w, const char *command) {
    memset(w, 0, sizeof *w);
    w->exec.command = command;
    w->exec.progress = -1;
    w->exec.chunk_bytes = 16u << 20;
}

int ds_wargs_opt(ds_wargs *w, int c, const char *arg) {
    long v;
    int rc;
    switch (c) {
    case W_DEVICE: return (rc = ds_parse_device(arg, &w->device)) ? -rc : 1;
    case W_THREADS: if ((rc = ds_parse_int("--threads", arg, 1, 4096, &v))) return -rc; w->threads = v; return 1;
    case W_FORCE: w->exec.force = 1; return 1;
    case W_RESUME: w->exec.resume = 1; return 1;
    case W_QUIET: w->exec.quiet = 1; return 1;
    case W_PROGRESS: w->exec.progress = 1; return 1;
    case W_JSON: w->exec.json_path = arg; return 1;
    case W_MANIFEST: w->exec.manifest_path = arg; return 1;
    case W_NO_SYNC: w->exec.no_sync = 1; return 1;
    case W_CHUNK_MB:
        if ((rc = ds_parse_int("--chunk-mb", arg, 1, 4096, &v))) return -rc;
        w->exec.chunk_bytes = (size_t)v << 20;
        return 1;
    case W_HELP: w->help = 1; return 1;
    }
    return 0;
}

int ds_wargs_finish(ds_wargs *w) {
    /* The executor's reader and writer threads need a core each: OpenMP workers
     * spinning between chunks on every core would starve them (measured: 2.3x
     * slower on 2 cores). So by default the transform gets all cores but two. */
    int n = (int)w->threads;
    if (n <= 0) n = omp_get_num_procs() > 3 ? omp_get_num_procs() - 2 : 1;
    ds_set_threads(n);
    return ds_resolve_device(w->device, &w->exec.use_cuda);
}

void ds_wargs_summary(const ds_wargs *w, const ds_exec_stats *st) {
    if (w->exec.quiet) return;
    char a[32], b[32];
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

int ds_wargs_run(ds_wargs *w, const char *in, const char *out, ds_plan_builder build, const void *arg) {
    DS_TRY(ds_wargs_finish(w));
    w->exec.out_dir = out;
    ds_ckpt ck;
    DS_TRY(ds_ckpt_open(in, &ck));
    ds_plan plan;
    int rc = build(&ck, &plan, arg);
    ds_exec_stats st;
    if (!rc) rc = ds_exec_run(&ck, &plan, &w->exec, &st);
    if (!rc) ds_wargs_summary(w, &st);
    ds_plan_free(&plan);
    ds_ckpt_close(&ck);
    return rc;
}
