#!/usr/bin/env bash
# fuzz.sh - build and run the libFuzzer harnesses (clang, ASan + UBSan).
#
#   fuzz/fuzz.sh build                 build build-fuzz/fuzz_{st_header,index,config,manifest,runrec}
#   fuzz/fuzz.sh run NAME SECONDS      fuzz one harness (corpus in build-fuzz/corpus/NAME,
#                                      seeded from fuzz/seeds/NAME; a crash lands in
#                                      build-fuzz/findings/NAME/); builds first if stale.
#                                      To run two at once: build, then start both.
#   fuzz/fuzz.sh all SECONDS           every harness in turn
#   fuzz/fuzz.sh replay                run every fuzz/regressions/NAME/* and fuzz/seeds/NAME/*
#                                      through its harness once (no fuzzing)
# Run from anywhere; works in the repository root. CC defaults to clang (14+).
# Exit status: 0 no finding, 1 a harness reported a finding, 77 libFuzzer not available.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
CC=${FUZZ_CC:-clang}
OUTD=${FUZZ_BUILD:-build-fuzz}
HARNESSES="st_header index config manifest runrec"
# Only the parsing code: no OpenMP or CUDA needed.
LIB_SRC="formats/safetensors.c formats/hf.c formats/config.c formats/dtype.c common/util.c common/bug.c common/json.c common/fsafe.c common/hash.c convert/manifest.c convert/runrec.c common/jsonfile.c"
FLAGS="-g -O1 -std=gnu11 -I. -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

have_libfuzzer() {
    command -v "$CC" >/dev/null 2>&1 || return 1
    local d; d=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}\n' >"$d/t.c"
    "$CC" -fsanitize=fuzzer "$d/t.c" -o "$d/t" >/dev/null 2>&1; local rc=$?
    rm -rf "$d"
    return $rc
}

build() {
    if ! have_libfuzzer; then
        echo "fuzz: $CC cannot link -fsanitize=fuzzer (install clang and libclang-rt-dev)" >&2
        return 77
    fi
    mkdir -p "$OUTD"
    for h in $HARNESSES; do
        # shellcheck disable=SC2086 # FLAGS and LIB_SRC are word lists
        "$CC" $FLAGS -o "$OUTD/fuzz_$h" "fuzz/fuzz_$h.c" $LIB_SRC -lcjson -lm || return 1
    done
}

# Builds unless every harness is newer than every source it is made of (so that
# several `run`s started at once do not rewrite a binary another one is running).
build_if_stale() {
    local h src
    for h in $HARNESSES; do
        [ -x "$OUTD/fuzz_$h" ] || { build; return; }
        for src in fuzz/fuzz_$h.c $LIB_SRC formats/*.h common/*.h; do
            [ "$src" -nt "$OUTD/fuzz_$h" ] && { build; return; }
        done
    done
    return 0
}

run() { # run NAME SECONDS [extra libFuzzer flags]
    local h=$1 secs=$2; shift 2
    mkdir -p "$OUTD/corpus/$h" "$OUTD/findings/$h"
    # -close_fd_mask=2: the parser's diagnostics go to a closed stderr (libFuzzer keeps its own copy)
    ASAN_OPTIONS=detect_leaks=1 "$OUTD/fuzz_$h" "$OUTD/corpus/$h" "fuzz/seeds/$h" \
        -max_total_time="$secs" -close_fd_mask=2 -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -dict=fuzz/dsconv.dict -artifact_prefix="$OUTD/findings/$h/" -print_final_stats=1 "$@"
}

replay() {
    local rc=0 files
    for h in $HARNESSES; do
        files=$(find "fuzz/regressions/$h" "fuzz/seeds/$h" -type f 2>/dev/null | sort)
        [ -n "$files" ] || continue
        # shellcheck disable=SC2086
        ASAN_OPTIONS=detect_leaks=1 "$OUTD/fuzz_$h" -close_fd_mask=2 $files >/dev/null 2>"$OUTD/replay_$h.log" ||
            { echo "fuzz: replay of $h failed:"; tail -30 "$OUTD/replay_$h.log"; rc=1; }
    done
    return $rc
}

case "${1:-}" in
build) build ;;
run) [ $# -ge 3 ] || { echo "usage: fuzz.sh run NAME SECONDS" >&2; exit 2; }
     build_if_stale && run "$2" "$3" ;;
all) [ $# -ge 2 ] || { echo "usage: fuzz.sh all SECONDS" >&2; exit 2; }
     build_if_stale || exit $?
     for h in $HARNESSES; do run "$h" "$2" || exit 1; done ;;
replay) build_if_stale && replay ;;
*) sed -n '2,12p' "$0"; exit 2 ;;
esac
