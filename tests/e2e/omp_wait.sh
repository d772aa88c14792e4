# The executor's commands run with OMP_WAIT_POLICY=passive unless the user set
# OMP_WAIT_POLICY or GOMP_SPINCOUNT (cmd/omp_wait.c: dsconv sets it and executes
# itself once more); other commands keep libgomp's default. Read from libgomp's
# OMP_DISPLAY_ENV report, the last one printed (the re-executed process's).
spin() { OMP_DISPLAY_ENV=verbose "$@" 2>&1 >/dev/null | grep -o "GOMP_SPINCOUNT = '[0-9]*'" | tail -1 | grep -o '[0-9]*'; }
if [ -z "$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT bash -c 'OMP_DISPLAY_ENV=verbose "$0" inspect --help 2>&1 >/dev/null' "$DSCONV" | grep GOMP_SPINCOUNT)" ]; then
    echo "NOT RUN: the OpenMP runtime is not libgomp (no GOMP_SPINCOUNT in OMP_DISPLAY_ENV)"
    return 0
fi
s=$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT bash -c "$(declare -f spin); spin \"\$0\" requant --help" "$DSCONV")
check "requant waits passively by default (spin count ${s:-?})" test "${s:-x}" = 0
s=$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT bash -c "$(declare -f spin); spin \"\$0\" to-bf16 --help" "$DSCONV")
check "to-bf16 waits passively by default (spin count ${s:-?})" test "${s:-x}" = 0
s=$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT bash -c "$(declare -f spin); spin \"\$0\" inspect --help" "$DSCONV")
check "inspect keeps libgomp's default (spin count ${s:-?})" test "${s:-0}" != 0
s=$(env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=1234 bash -c "$(declare -f spin); spin \"\$0\" requant --help" "$DSCONV")
check "a user's GOMP_SPINCOUNT wins (${s:-?})" test "${s:-x}" = 1234
s=$(env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active bash -c "$(declare -f spin); spin \"\$0\" requant --help" "$DSCONV")
check "a user's OMP_WAIT_POLICY wins (${s:-?})" test "${s:-0}" != 0
# The re-executed process gets the same arguments: exit codes and bytes as before.
expect_rc "requant without OUT is still a usage error after the re-exec" 2 env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$DSCONV" requant "$DATA/dev-tiny/input"
env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$DSCONV" requant "$DATA/dev-tiny/input" "$TMP/p" --format nvfp4 --device cpu --threads 2 --quiet --no-sync >/dev/null 2>&1
env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=300000 "$DSCONV" requant "$DATA/dev-tiny/input" "$TMP/s" --format nvfp4 --device cpu --threads 2 --quiet --no-sync >/dev/null 2>&1
check "nvfp4 bytes the same waiting passively or spinning" diff -r "$TMP/p" "$TMP/s"
