# exec_nothread.sh - an I/O thread that cannot start fails the run (exit 4,
# no temporaries), never hangs: convert/exec.c's stages wait on each other, so
# a reader, writer or finalizer missing would leave the transform waiting
# forever. The thread is refused by a stack limit of about 1 TB (glibc gives
# each new thread a stack of RLIMIT_STACK, which the kernel's overcommit
# heuristic refuses); the runs use --threads 1 so OpenMP starts no threads.
IN=$DATA/dev-tiny/input
no_tmp() { ! ls -a "$1" 2>/dev/null | grep -q dsconv-tmp; }
huge_stack() { timeout 60 bash -c 'ulimit -s 1000000000 || exit 99; exec "$@"' _ "$@"; }
if [ "$(cat /proc/sys/vm/overcommit_memory 2>/dev/null)" = 1 ] || [ -n "${DSCONV_SANITIZED:-}" ] ||
   ! (ulimit -s 1000000000) 2>/dev/null; then
    pass "thread start failure: not provoked here (overcommit always, a hard stack limit, or a sanitizer's own threads)"
else
    rm -rf "$TMP/o"
    expect_rc "fp8-to-bf16: a reader that cannot start: exit 4, no hang" 4 huge_stack "$DSCONV" fp8-to-bf16 "$IN" "$TMP/o" --quiet --threads 1
    expect_err "fp8-to-bf16: the message says so" "cannot start an I/O thread"
    check "fp8-to-bf16: no temporaries left" no_tmp "$TMP/o"
    expect_rc "fp8-to-bf16: --resume with threads finishes" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/o" --quiet --resume
    expect_rc "to-gguf --writers 1: a writer that cannot start: exit 4, no hang" 4 huge_stack "$DSCONV" to-gguf "$IN" \
        "$TMP/g.gguf" --quiet --threads 1 --writers 1 --no-vocab --no-sync
    check "to-gguf: no temporaries left" no_tmp "$TMP"
fi
