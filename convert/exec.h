/* exec.h - the streaming executor that runs any ds_plan.
 *
 * Chunks of whole rows (whole FP8 blocks) flow through stages that run at the
 * same time: reader threads (pread of source rows), the transform (CPU kernels
 * with OpenMP, or CUDA; one thread, chunks in order), writer threads (pwrite
 * at the offsets the planned headers fix, any order, several files at once),
 * and per lane of files a finalizer (each file's chunks in order: offsets
 * checked, hashes for manifests and parts, commit). Files live under
 * temporary names and are renamed once complete; the plan's extra files
 * (index last) follow. Memory is the ring of chunk buffers, whatever the
 * model size. MANUAL.md "How the conversions stream" has the numbers. */
#ifndef DS_EXEC_H
#define DS_EXEC_H

#include "convert/plan.h"

typedef struct {
    const char *out_dir;
    const char *command;      /* for messages and the JSON report */
    int force;                /* allow a non-empty out_dir */
    int resume;               /* keep complete, valid output files */
    int use_cuda;
    int quiet;
    int progress;             /* -1 auto (stderr is a terminal), 0 off, 1 on */
    int no_sync;              /* skip fdatasync before renames */
    size_t chunk_bytes;       /* source bytes per chunk (default 16 MiB) */
    int readers, writers;     /* I/O threads, 1 to 4 (0: 3 each on CUDA, 2 on the CPU) */
    /* The device while it is still being resolved (cmd/common.c
     * ds_resolve_device_start: creating a CUDA context takes about 0.3 s):
     * the executor calls device_join (which sets *use_cuda, or returns an exit
     * code) only before the first chunk that needs the device, and until then
     * reads and writes the copies at the head of its lanes. NULL: use_cuda is
     * final (it is the likely answer until device_join gives the real one). */
    int (*device_join)(void *arg, int *use_cuda);
    void *device_arg;
    const char *json_path;    /* --json FILE */
    const char *manifest_path;/* --manifest FILE */
    /* Recorded under OUT/.dsconv (runrec.h); --resume and --part compare them. */
    const char *const *options; /* the options that shape the output bytes, as given */
    int n_options;
    int part_i, part_n;       /* --part I/N: write only part I's files (0, 0: the whole run) */
    int finish;               /* dsconv finish: N; write nothing but the side files, index and manifest */
    int rehash;               /* re-read kept files and compare their recorded XXH3-128 */
} ds_exec_opts;

typedef struct {
    int tensors_converted, tensors_copied, tensors_quantized;
    int files_written, files_kept;
    uint64_t bytes_in, bytes_out;
    double seconds;
    /* quantized weights (requant): relative L2 error of the dequantized weights
     * against the source, over all of them and the worst tensor's */
    int q_tensors;
    double q_rel_all, q_rel_worst;
    char q_worst[192];
} ds_exec_stats;

/* Checks out_dir (empty unless force/resume), the records of earlier runs in
 * it (an input or options that changed: DS_EXIT_INPUT), free space, then runs
 * the plan (or the part of it that part_i/part_n selects; with finish, only
 * what follows the files, after proving every file by its part's record).
 * Returns 0 or the exit code of the first failure (temporary files removed). */
int ds_exec_run(const ds_ckpt *c, const ds_plan *p, const ds_exec_opts *o, ds_exec_stats *st);

#endif
