#!/usr/bin/env bash
# tests/gpu/verify_v32_cuda.sh [BUILD] - verify's CUDA path on the v32-tiny
# fixture (DeepSeek-V3.2, DeepSeek Sparse Attention: the indexer's wq_b, wk and
# weights_proj are cuBLAS GEMMs there, the key selection and attention run on
# the CPU as on the CPU path), on a machine with an NVIDIA GPU. From the
# repository root:
#     bash tests/gpu/verify_v32_cuda.sh        (DEPS=dir as for make, DSCONV=binary to skip the build)
# Builds dsconv with CUDA=1 (BUILD defaults to build-gpu), then checks: CPU and
# CUDA logits agree to 1e-5 worst relative L2 per position (fixture tokens and
# the built-in probe set: 4 x 32 tokens, index_topk 5); CUDA logits are within
# 1e-4 of transformers' float64 DeepseekV32 ones and far from dense attention's;
# FP8 vs its BF16 conversion bit-identical on CUDA; runs repeat bit for bit;
# every weight is taken from the read-ahead plan (0 direct reads).
# Prints PASS/FAIL lines and ends with "N passed, N failed".
# Exit: 0 all passed, 1 a failure, 77 skipped because there is no GPU here
# (a machine where nvidia-smi shows a GPU never skips).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build-gpu}}
IN=tests/data/v32-tiny/fp8
EXP=tests/data/v32-tiny/tokens.json
FP64=tests/data/v32-tiny/logits-hf-fp64-all.f32
DENSE=tests/data/v32-tiny/logits-dense-fp64-all.f32

gpu_seen=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then gpu_seen=1; fi
skip_or_fail() {
    if [ "$gpu_seen" = 1 ]; then echo "FAIL verify_gpu_tests_ran: a GPU is visible but $1"; echo "0 passed, 1 failed"; exit 1; fi
    echo "SKIP: no GPU ($1)"; exit 77
}

if [ -z "${DSCONV:-}" ]; then
    NVCC=${NVCC:-$(command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })}
    [ -n "$NVCC" ] || skip_or_fail "nvcc not found, so the CUDA build cannot be made"
    mkdir -p "$BUILD"
    log=$BUILD/verify_v32_cuda_build.log
    if ! make --no-print-directory -j"$(nproc)" BUILD="$BUILD" CUDA=1 NVCC="$NVCC" DEPS="${DEPS:-}" bin/dsconv >"$log" 2>&1; then
        tail -n 30 "$log"; echo "FAIL build: make BUILD=$BUILD CUDA=1 bin/dsconv (log: $log)"; echo "0 passed, 1 failed"; exit 1
    fi
    DSCONV=bin/dsconv
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/dsconv-verify-v32-gpu.XXXXXX")
trap 'rm -rf "$W"' EXIT
np=0 nf=0
ok() { echo "PASS $1"; np=$((np + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; nf=$((nf + 1)); }
# run NAME WANT_RC CMD...: output kept in $W/out
run() {
    local name=$1 want=$2; shift 2
    "$@" >"$W/out" 2>&1; local rc=$?
    if [ "$rc" = "$want" ]; then ok "$name"; else ko "$name" "exit $rc, wanted $want: $(tail -n 8 "$W/out")"; fi
}

if ! "$DSCONV" verify "$IN" --device cuda >"$W/out" 2>&1; then
    grep -q "CUDA is not available\|built without CUDA" "$W/out" && skip_or_fail "$(head -n 2 "$W/out")"
fi
run "CUDA verify of v32-tiny passes" 0 "$DSCONV" verify "$IN" --device cuda
grep -q "device cuda" "$W/out" && ok "runs on the GPU" || ko "runs on the GPU" "$(cat "$W/out")"

for set in fixture probe; do
    tok=(); [ $set = fixture ] && tok=(--tokens "$EXP")
    run "CPU dump ($set tokens)" 0 "$DSCONV" verify "$IN" "${tok[@]}" --device cpu --dump-logits "$W/cpu-$set.f32"
    run "CUDA vs CPU within 1e-5 relative L2 ($set tokens)" 0 "$DSCONV" verify "$IN" "${tok[@]}" --device cuda \
        --against-logits "$W/cpu-$set.f32" --max-rel-l2 1e-5 --dump-logits "$W/cuda-$set.f32" --json "$W/$set.json"
    grep -E "rel L2|top-1" "$W/out" | sed "s/^/  [$set] /"
done
run "CUDA vs transformers float64 DeepseekV32 within 1e-4" 0 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda \
    --against-logits "$FP64"
grep -E "rel L2" "$W/out" | sed "s/^/  /"
run "CUDA vs dense attention (indexer ignored): mismatch" 1 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda \
    --against-logits "$DENSE"
run "CUDA run repeats" 0 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda --dump-logits "$W/cuda-again.f32"
cmp -s "$W/cuda-fixture.f32" "$W/cuda-again.f32" && ok "CUDA logits repeat bit for bit" || ko "CUDA logits repeat bit for bit"
run "CUDA: FP8 vs its BF16 conversion bit-identical" 0 "$DSCONV" verify tests/data/v32-tiny/bf16 --against "$IN" \
    --tokens "$EXP" --device cuda
run "CUDA profile" 0 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda --profile
grep -q "weights taken 36 (0 direct)" "$W/out" && ok "CUDA: every weight from the plan (36 taken, 0 direct)" \
    || ko "CUDA: every weight from the plan (36 taken, 0 direct)" "$(grep -o 'weights taken [^:]*' "$W/out")"

echo "$np passed, $nf failed"
[ "$nf" = 0 ]
