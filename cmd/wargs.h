/* wargs.h - options shared by the writing commands (fp8-to-bf16, strip-mtp,
 * shard-for-mp, requant): parsed once here, handed to the executor. */
#ifndef DS_WARGS_H
#define DS_WARGS_H

#include "cmd/cmd.h"
#include "cmd/parse_options.h"
#include "convert/exec.h"

typedef struct {
    ds_device_req device;
    long threads;
    long io_threads;   /* --io-threads: readers and writers each (0: the executor's default) */
    ds_exec_opts exec;
    /* The options that shape the output bytes, as "--name=value" (recorded with the run). */
    char **options;
    int n_options;
} ds_wargs;

void ds_wargs_init(ds_wargs *w, const char *command);
/* Records a command's own option (DS_OPTF_RECORD: one that shapes the output;
 * not IN/OUT) for the run record: --resume and --part compare it, finish
 * replays it. A ds_opt_note for ds_parse_options, ctx the ds_wargs. */
void ds_wargs_note(void *w, const ds_option *o, const char *arg);
void ds_wargs_free(ds_wargs *w);

/* Callbacks of the shared options that are more than a flag or a string. */
int ds_wargs_cb_part(const ds_option *o, const char *arg);     /* value: ds_wargs * */
int ds_wargs_cb_chunk_mb(const ds_option *o, const char *arg); /* value: ds_wargs * */
int ds_wargs_cb_finish(const ds_option *o, const char *arg);   /* value: ds_wargs * */

/* The options every writing command shares, as option-table entries (w: ds_wargs *).
 * None of them changes the output bytes, so none is recorded. */
#define DS_OPT_WRITE_COMMON_(w) \
    DS_OPT_GROUP_("options:"), \
    DS_OPT_DEVICE_(&(w)->device, "where transforms run (default auto: cuda when a GPU is usable;\n" \
                                 "cuda:K: the K-th GPU that CUDA_VISIBLE_DEVICES leaves visible)"), \
    DS_OPT_THREADS_(&(w)->threads, "CPU threads for transforms (default: all cores but two, for the reader and writer)"), \
    DS_OPT_FLAG_("force", 0, &(w)->exec.force, "write into a non-empty OUT"), \
    DS_OPT_FLAG_("resume", 0, &(w)->exec.resume, \
                 "keep the output files this run's record proves complete (same input,\n" \
                 "same options; exit 3 if either changed), do the rest"), \
    DS_OPT_FLAG_("rehash", 0, &(w)->exec.rehash, "with --resume: re-read kept files and compare their recorded XXH3-128"), \
    DS_OPT_CALLBACK_("part", (w), "I/N", ds_wargs_cb_part, \
                     "write only part I (1..N) of the output files (balanced by bytes) and\n" \
                     "OUT/.dsconv/part-I-of-N.json; run all N (any host, any order), then\n" \
                     "'dsconv finish OUT' writes index, config and side files"), \
    DS_OPT_STRING_("json", 0, &(w)->exec.json_path, "FILE", "write a JSON summary (tensors, bytes, seconds, GB/s, device)"), \
    DS_OPT_STRING_("manifest", 0, &(w)->exec.manifest_path, "FILE", \
                   "write XXH3-128 of every output tensor and file while writing"), \
    DS_OPT_FLAG_("quiet", 0, &(w)->exec.quiet, "no progress on stderr (shown by default when stderr is a terminal)"), \
    DS_OPT_FLAG_("progress", 0, &(w)->exec.progress, "progress on stderr even when it is not a terminal"), \
    DS_OPT_FLAG_("no-sync", 0, &(w)->exec.no_sync, "skip fsync before each rename (faster, less safe on power loss)"), \
    DS_OPT_CALLBACK_("chunk-mb", (w), "N", ds_wargs_cb_chunk_mb, "source MiB per pipeline chunk (default 16)"), \
    DS_OPT_INT_("io-threads", &(w)->io_threads, "N", 1, 4, \
                "reader and writer threads, N of each (default 3 on cuda, 2 on cpu);\n" \
                "the writers fill up to N output files at once"), \
    /* internal: what `dsconv finish` runs */ \
    DS_OPT_CALLBACK_("finish-parts", (w), "N", ds_wargs_cb_finish, NULL, .flags = DS_OPTF_HIDDEN)

/* Whether name is one of the shared options above (finish replays only a command's own). */
int ds_wargs_is_shared(const char *name, size_t len);
/* Resolves device and threads; 0 or an exit code. */
int ds_wargs_finish(ds_wargs *w);
/* Prints the summary line of a finished run on stdout (unless quiet). */
void ds_wargs_summary(const ds_wargs *w, const ds_exec_stats *st);

/* The body every writing command shares: resolve device and threads, open
 * the checkpoint at in, build the plan with build(c, p, arg), run it into out,
 * print the summary. Returns the exit code. */
typedef int (*ds_plan_builder)(const ds_ckpt *c, ds_plan *p, const void *arg);
int ds_wargs_run(ds_wargs *w, const char *in, const char *out, ds_plan_builder build, const void *arg);

#endif
