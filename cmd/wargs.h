/* wargs.h - options shared by the writing commands (fp8-to-bf16, strip-mtp,
 * shard-for-mp, requant): parsed once here, handed to the executor. */
#ifndef DS_WARGS_H
#define DS_WARGS_H

#include <getopt.h>
#include "cmd/cmd.h"
#include "convert/exec.h"

/* getopt_long codes for the shared options (above any short option). */
enum { W_DEVICE = 1000, W_THREADS, W_FORCE, W_RESUME, W_QUIET, W_JSON, W_MANIFEST, W_NO_SYNC, W_CHUNK_MB,
       W_PROGRESS, W_HELP, W_PART, W_REHASH, W_FINISH };

#define DS_WRITE_LONG_OPTS \
    {"device", required_argument, 0, W_DEVICE}, {"threads", required_argument, 0, W_THREADS}, \
    {"force", no_argument, 0, W_FORCE}, {"resume", no_argument, 0, W_RESUME}, {"quiet", no_argument, 0, W_QUIET}, \
    {"json", required_argument, 0, W_JSON}, {"manifest", required_argument, 0, W_MANIFEST}, \
    {"no-sync", no_argument, 0, W_NO_SYNC}, {"chunk-mb", required_argument, 0, W_CHUNK_MB}, \
    {"progress", no_argument, 0, W_PROGRESS}, {"help", no_argument, 0, W_HELP}, \
    {"part", required_argument, 0, W_PART}, {"rehash", no_argument, 0, W_REHASH}, \
    {"finish-parts", required_argument, 0, W_FINISH} /* internal: what `dsconv finish` runs */

#define DS_WRITE_HELP \
    "  --device auto|cpu|cuda|cuda:K  where transforms run (default auto: cuda when a GPU is usable;\n" \
    "                           cuda:K: the K-th GPU that CUDA_VISIBLE_DEVICES leaves visible)\n" \
    "  --threads N              CPU threads for transforms (default: all cores but two, for the reader and writer)\n" \
    "  --force                  write into a non-empty OUT\n" \
    "  --resume                 keep the output files this run's record proves complete (same input,\n" \
    "                           same options; exit 3 if either changed), do the rest\n" \
    "  --rehash                 with --resume: re-read kept files and compare their recorded XXH3-128\n" \
    "  --part I/N               write only part I (1..N) of the output files (balanced by bytes) and\n" \
    "                           OUT/.dsconv/part-I-of-N.json; run all N (any host, any order), then\n" \
    "                           'dsconv finish OUT' writes index, config and side files\n" \
    "  --json FILE              write a JSON summary (tensors, bytes, seconds, GB/s, device)\n" \
    "  --manifest FILE          write XXH3-128 of every output tensor and file while writing\n" \
    "  --quiet                  no progress on stderr (shown by default when stderr is a terminal)\n" \
    "  --progress               progress on stderr even when it is not a terminal\n" \
    "  --no-sync                skip fsync before each rename (faster, less safe on power loss)\n" \
    "  --chunk-mb N             source MiB per pipeline chunk (default 16)\n"

typedef struct {
    ds_device_req device;
    long threads;
    ds_exec_opts exec;
    int help;
    /* The options that shape the output bytes, as "--name=value" (recorded with the run). */
    char **options;
    int n_options;
} ds_wargs;

void ds_wargs_init(ds_wargs *w, const char *command);
/* Records a command's own option (one that shapes the output; not IN/OUT) for
 * the run record: --resume and --part compare it, finish replays it. */
void ds_wargs_note(ds_wargs *w, const struct option *opts, int c, const char *arg);
void ds_wargs_free(ds_wargs *w);
/* Handles a shared option code; 1 if handled, 0 if not a shared option, or -code on error. */
int ds_wargs_opt(ds_wargs *w, int c, const char *arg);
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
