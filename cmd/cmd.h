/* cmd.h - the command table (git style). Each command is one function in its
 * own file cmd/<name>.c: it parses its options, calls the library, and returns
 * the exit code (util.h DS_EXIT_*). argv[0] is the command name. */
#ifndef DS_CMD_H
#define DS_CMD_H

#include <pthread.h>

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    int streams;      /* runs the streaming executor: its OpenMP team waits passively (omp_wait.c) */
} ds_cmd;

int cmd_fp8_to_bf16(int argc, char **argv);
int cmd_shard_for_mp(int argc, char **argv);
int cmd_strip_mtp(int argc, char **argv);
int cmd_requant(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_manifest(int argc, char **argv);
int cmd_to_gguf(int argc, char **argv);
int cmd_to_bf16(int argc, char **argv);

int cmd_finish(int argc, char **argv);
/* The command table's entry for name (main.c), or NULL. */
const ds_cmd *ds_cmd_find(const char *name);

/* Options shared by commands: --device auto|cpu|cuda|cuda:K, --threads N. */
typedef enum { DS_DEV_AUTO = 0, DS_DEV_CPU, DS_DEV_CUDA } ds_device_kind;
typedef struct {
    ds_device_kind kind;
    int has_index;   /* cuda:K given */
    int index;       /* K: among the devices CUDA_VISIBLE_DEVICES leaves visible */
    int check_only;  /* the caller will run nothing there: check the device without a context
                      * (ds_cuda_present; cuda:K's cudaSetDevice still makes one) */
} ds_device_req;
/* Parses a --device value; DS_EXIT_USAGE on a bad value. */
int ds_parse_device(const char *s, ds_device_req *d);
/* Resolves auto/cuda against what this machine has: sets *use_cuda (and, for
 * cuda:K, makes device K current); asking for cuda where there is none, or
 * for a K that is not visible, is DS_EXIT_USAGE with the reason. */
int ds_resolve_device(ds_device_req d, int *use_cuda);
/* The same in two steps, so that creating the CUDA context (about half a
 * second on an H200) overlaps opening and planning: _start resolves on a
 * thread where that needs CUDA (otherwise it does nothing yet), _join waits and
 * gives ds_resolve_device's result and messages, and makes device K current
 * for the calling thread too. Every started probe must be joined. */
typedef struct {
    ds_device_req d;
    int threaded;            /* a thread was started, not yet joined */
    int done;                /* resolved: joining again gives the same answer */
    pthread_t th;
    int selected, avail;     /* cuda:K made current; CUDA usable */
    char why[256];
} ds_device_probe;
void ds_resolve_device_start(ds_device_req d, ds_device_probe *pr);
/* Whether _start left the answer pending on a thread (CUDA asked or auto, a GPU driver present). */
static inline int ds_resolve_device_pending(const ds_device_probe *pr) { return pr->threaded; }
int ds_resolve_device_join(ds_device_probe *pr, int *use_cuda);
/* Sets the OpenMP thread count when n > 0. */
void ds_set_threads(int n);
/* Parses a positive integer option value; DS_EXIT_USAGE naming the option otherwise. */
int ds_parse_int(const char *opt, const char *s, long min, long max, long *out);

/* Executor commands: OMP_WAIT_POLICY=passive unless the user chose (re-executes once; cmd/omp_wait.c). */
void ds_omp_wait_policy(const ds_cmd *cmd, char **argv);

#endif
