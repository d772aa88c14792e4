/* omp_wait.c - the executor's commands wait passively in OpenMP.
 *
 * libgomp's idle team threads spin for about 3 ms (GOMP_SPINCOUNT 300000)
 * after each parallel region before they sleep. The executor's transform runs
 * one parallel region per chunk and between chunks waits for a reader or a
 * writer thread; spinning workers then take the cores those threads need, and
 * a worker spinning on the core of an I/O thread delays the whole pipeline.
 * Measured on the 2-core dev VM (0.5 GB v3-bench, requant --device cpu
 * --threads 2 --io-threads 2, medians of 3): int4 2.04 -> 1.27 s, nvfp4 2.76 ->
 * 1.54 s wall with OMP_WAIT_POLICY=passive (bench/cpu_share.sh, bench/RESULTS.md).
 * Waking a sleeping team costs microseconds, against milliseconds a chunk.
 *
 * libgomp reads its environment once, in its constructor, before main (and
 * before a .preinit_array function could change libc's environment, which
 * libc's own start-up resets). So a command marked `streams` in main.c's table run with
 * neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT set sets OMP_WAIT_POLICY=passive
 * and executes itself again, once (about a millisecond); where that exec
 * fails it runs on as it is. A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins. */
#include "cmd/cmd.h"

#include <stdlib.h>
#include <unistd.h>

void ds_omp_wait_policy(const ds_cmd *cmd, char **argv) {
    if (!cmd || !cmd->streams || getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 0) == 0) execv("/proc/self/exe", argv);
    unsetenv("OMP_WAIT_POLICY"); /* exec failed: this process's libgomp still spins */
}
