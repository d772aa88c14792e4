#!/usr/bin/env bash
# tsan.sh [E2E_SCRIPT ...] - ThreadSanitizer over the executor's and to-gguf's
# threads: builds build-tsan/bin/dsconv (CPU only) and runs the named e2e
# scripts (default: exec_lanes parts undo fullfs) with it; races are written
# to build-tsan/tsan.PID files and counted at the end. Not part of CI (slow).
#
# kernels/cpu is linked uninstrumented: its target_clones functions are
# resolved (ifunc) while the program loads, before TSan has started, and an
# instrumented resolver crashes at once. The kernels are OpenMP loops whose
# synchronization (libgomp, not instrumented) TSan cannot see anyway, so run
# with --threads 1 (OMP_NUM_THREADS=1) where OpenMP's reports are noise: the
# reports past an OpenMP region's end (to-gguf's workers) are such noise.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
B=build-tsan
SAN="-fsanitize=thread -fno-omit-frame-pointer"
make -j2 BUILD=$B CUDA=0 OPT=-O1 SAN="$SAN" $B/libdsconv.a $B/main.o \
    $(for f in cmd/*.c; do echo "$B/${f%.c}.o"; done) >/dev/null
make -j2 BUILD=build-cpu CUDA=0 build-cpu/libdsconv.a >/dev/null # uninstrumented kernels
mkdir -p $B/bin
objs=$(find $B -name '*.o' ! -path "$B/tests/*" ! -path "$B/tools/*" ! -path "$B/kernels/cpu/*" ! -path "$B/samples/*")
cc -fopenmp -fsanitize=thread -o $B/bin/dsconv $objs build-cpu/kernels/cpu/*.o -lcjson -lm -lpthread
[ -x bin/dsconv-sample ] && ln -sf "$ROOT/bin/dsconv-sample" $B/bin/dsconv-sample
rm -f $B/tsan.*
DSCONV_SANITIZED=1 TSAN_OPTIONS="exitcode=0 log_path=$ROOT/$B/tsan" DSCONV_BIN=$ROOT/$B/bin ONLY="${*:-exec_lanes parts undo fullfs}" \
    bash tests/run.sh build-cpu || true
n=$(cat $B/tsan.* 2>/dev/null | grep -c 'WARNING: ThreadSanitizer' || true)
echo "ThreadSanitizer reports: $n (build-tsan/tsan.*)"
cat $B/tsan.* 2>/dev/null | grep SUMMARY | sort | uniq -c | sort -rn | head -20 || true
