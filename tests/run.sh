#!/usr/bin/env bash
# run.sh BUILD - runs every unit test binary (BUILD/tests/*) and every
# end-to-end script (tests/e2e/*.sh), counts PASS/FAIL lines, and ends with
# "N passed, N failed". A binary or script that dies without reporting counts
# as a failure. Set DSCONV_BIN to test other binaries (e.g. the ASan build).
# ONLY="name ..." runs just those unit binaries / e2e scripts (names without
# directory or .sh), e.g. ONLY="test_config verify" bash tests/run.sh build
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=${DSCONV_BIN:-$ROOT/bin}
export DSCONV="$BIN/dsconv" SAMPLE="$BIN/dsconv-sample" DATA="$ROOT/tests/data" TOOLS="$ROOT/$BUILD/tools"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dsconv-tests.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
pass=0 fail=0
wanted() { [ -z "${ONLY:-}" ] && return 0; case " $ONLY " in *" $1 "*) return 0;; esac; return 1; }
LOG="$WORK/log"

count() { # count FILE NAME RC
    local p f
    p=$(grep -c '^PASS ' "$1"); f=$(grep -c '^FAIL ' "$1")
    grep -E '^(PASS|FAIL) ' "$1" | sed "s|^|[$2] |"
    if [ "$3" != 0 ] && [ "$f" = 0 ]; then
        echo "[$2] FAIL exited with status $3 without reporting a failure"; grep -v -E '^(PASS|FAIL) ' "$1" | tail -20
        f=1
    elif [ "$f" != 0 ]; then
        grep -v -E '^(PASS|FAIL) ' "$1" | tail -40
    fi
    pass=$((pass + p)); fail=$((fail + f))
}

for t in "$BUILD"/tests/*; do
    [ -f "$t" ] && [ -x "$t" ] || continue # not build/tests/gpu (tests/gpu/all.sh runs those)
    name=$(basename "$t")
    wanted "$name" || continue
    (cd "$ROOT" && "$t") >"$LOG" 2>&1
    count "$LOG" "$name" $?
done

for s in tests/e2e/*.sh; do
    name=$(basename "$s" .sh)
    [ "$name" = lib ] && continue
    wanted "$name" || continue
    export TMP="$WORK/$name"
    mkdir -p "$TMP"
    (cd "$ROOT" && source tests/e2e/lib.sh && source "$s") >"$LOG" 2>&1
    count "$LOG" "$name" $?
    rm -rf "$TMP"
done

# The CUDA tests need an NVIDIA GPU; say so rather than pass silently.
if nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    echo "note: a GPU is present: run 'bash tests/gpu/all.sh' for the CUDA tests (not counted here)"
else
    echo "note: no GPU here: the CUDA tests (tests/gpu/all.sh: CUDA vs CPU bytes, --device cuda end to end,"
    echo "      verify on cuBLAS) did not run; they run on a machine with an NVIDIA GPU"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
