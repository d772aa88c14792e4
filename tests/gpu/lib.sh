# tests/gpu/lib.sh - what the GPU test scripts share; each sources it from the
# repository root (after its `cd`): whether a GPU is visible and what a script
# does without one, nvcc, building through make with the log kept, PASS/FAIL
# counting and the closing "N passed, N failed" line that tests/gpu/all.sh sums.

# 1 when nvidia-smi shows a GPU: such a machine never skips a test.
gpu_seen=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then gpu_seen=1; fi

# skip_without_gpu [LINE]: where no GPU is visible, print LINE (the SKIP line)
# and exit 77, before anything is built.
skip_without_gpu() {
    [ "$gpu_seen" = 1 ] && return 0
    echo "${1:-SKIP: no GPU here; run this on the GPU machine}"
    exit 77
}

# skip_or_fail WHY: the test cannot run. Without a GPU that is a skip (exit 77);
# where a GPU is visible it is a failure named GPU_TAG (set by the script).
skip_or_fail() {
    if [ "$gpu_seen" = 1 ]; then echo "FAIL ${GPU_TAG:-gpu_tests_ran}: a GPU is visible but $1"; echo "0 passed, 1 failed"; exit 1; fi
    echo "SKIP: no GPU ($1)"
    exit 77
}

# find_nvcc: NVCC (given, on PATH or /usr/local/cuda), or empty.
find_nvcc() {
    NVCC=${NVCC:-$(command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })}
}

# gpu_make LOG TARGET...: makes the targets with CUDA=1 in BUILD (DEPS as for
# make); on failure the log's tail, a FAIL build line, "0 passed, 1 failed", exit 1.
gpu_make() {
    local log=$1
    shift
    mkdir -p "$(dirname "$log")"
    if ! make --no-print-directory -j"$(nproc)" BUILD="$BUILD" CUDA=1 ${NVCC:+NVCC="$NVCC"} DEPS="${DEPS:-}" "$@" \
            >"$log" 2>&1; then
        tail -n 30 "$log"
        echo "FAIL build: make BUILD=$BUILD CUDA=1 $* (log: $log)"
        echo "0 passed, 1 failed"
        exit 1
    fi
}

# gpu_build_dsconv LOG [TARGET...]: unless DSCONV names a binary already, the
# CUDA build of bin/dsconv (and the targets); DSCONV=bin/dsconv then.
gpu_build_dsconv() {
    [ -n "${DSCONV:-}" ] && return 0
    find_nvcc
    [ -n "$NVCC" ] || skip_or_fail "nvcc not found, so the CUDA build cannot be made"
    gpu_make "$@" bin/dsconv
    DSCONV=bin/dsconv
}

# gpu_workdir NAME: W, a fresh folder removed on exit.
gpu_workdir() {
    W=$(mktemp -d "${TMPDIR:-/tmp}/dsconv-$1.XXXXXX")
    trap 'rm -rf "$W"' EXIT
}

# Counting: ok NAME / ko NAME [WHY] print PASS / FAIL lines and count them.
np=0 nf=0
ok() { echo "PASS $1"; np=$((np + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; nf=$((nf + 1)); }
# count_lines FILE: adds the PASS and FAIL lines of FILE (a test program's output).
count_lines() {
    np=$((np + $(grep -c '^PASS' "$1"))); nf=$((nf + $(grep -c '^FAIL' "$1")))
}
# run NAME WANT_RC CMD...: runs CMD (output kept in $W/out) and checks its exit code.
run() {
    local name=$1 want=$2
    shift 2
    "$@" >"$W/out" 2>&1
    local rc=$?
    if [ "$rc" = "$want" ]; then ok "$name"; else ko "$name" "exit $rc, wanted $want: $(tail -n 8 "$W/out")"; fi
}
# cuda_or_skip CMD...: runs a dsconv command with --device cuda; when it fails
# because CUDA is not there, skip_or_fail with its first lines.
cuda_or_skip() {
    "$@" >"$W/out" 2>&1 && return 0
    grep -q "CUDA is not available\|built without CUDA" "$W/out" && skip_or_fail "$(head -n 2 "$W/out")"
    return 0
}
# cuda_vs_cpu IN TOKENS: verify's CUDA logits against its CPU logits on IN, for
# the TOKENS file and for the built-in probe set: within 1e-5 relative L2 per
# position. Keeps $W/cpu-SET.f32, $W/cuda-SET.f32 and $W/SET.json (SET: fixture, probe).
cuda_vs_cpu() {
    local in=$1 exp=$2 set tok
    for set in fixture probe; do
        tok=(); [ $set = fixture ] && tok=(--tokens "$exp")
        run "CPU dump ($set tokens)" 0 "$DSCONV" verify "$in" "${tok[@]}" --device cpu --dump-logits "$W/cpu-$set.f32"
        run "CUDA vs CPU within 1e-5 relative L2 ($set tokens)" 0 "$DSCONV" verify "$in" "${tok[@]}" --device cuda \
            --against-logits "$W/cpu-$set.f32" --max-rel-l2 1e-5 --dump-logits "$W/cuda-$set.f32" --json "$W/$set.json"
        grep -E "rel L2|top-1" "$W/out" | sed "s/^/  [$set] /"
    done
}
# gpu_summary: the closing line; the status is 0 when nothing failed.
gpu_summary() {
    echo "$np passed, $nf failed"
    [ "$nf" = 0 ]
}
# exit_total LOG RC: the closing "total: N passed, N failed" of a script that ran
# a test program (and a Python reference) into LOG; exits 0 when RC is 0 and
# nothing failed, 1 otherwise.
exit_total() {
    count_lines "$1"
    echo "total: $np passed, $nf failed"
    [ "$2" = 0 ] && [ "$nf" = 0 ] && exit 0
    exit 1
}
# log_summary LOG: the closing line of a script whose checks (tests/e2e/lib.sh's
# pass/fail) went to LOG; the status is 0 when nothing failed.
log_summary() {
    local p f
    p=$(grep -c '^PASS ' "$1"); f=$(grep -c '^FAIL ' "$1")
    echo "$p passed, $f failed"
    [ "$f" = 0 ]
}
