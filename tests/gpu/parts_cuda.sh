#!/usr/bin/env bash
# parts_cuda.sh - --device cuda:K and --part I/N on the GPU (issue 15), on a
# machine with an NVIDIA GPU, after `make` (a CUDA build). PASS/FAIL lines and
# "N passed, N failed"; exit 77 without a GPU.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/gpu/lib.sh
skip_without_gpu
export DSCONV=$PWD/bin/dsconv SAMPLE=$PWD/bin/dsconv-sample
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
source tests/e2e/lib.sh
{
GPUS=$(nvidia-smi -L | grep -c '^GPU ')
IN=$TMP/in
"$SAMPLE" --out "$IN" --layers 4 --experts 16 --hidden 512 --moe-inter 512 --shards 6 --fast --quiet
same_tree() { local f; for f in "$1"/*; do cmp -s "$f" "$2/$(basename "$f")" || { echo "  differs: $(basename "$f")"; return 1; }; done; }

"$DSCONV" fp8-to-bf16 "$IN" "$TMP/cpu" --device cpu --quiet
expect_rc "cuda:0 runs" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/g0" --device cuda:0 --json "$TMP/g0.json" --quiet
check "cuda:0 report says cuda" grep -q '"device":[[:space:]]*"cuda"' "$TMP/g0.json"
check "cuda:0 identical to the CPU" same_tree "$TMP/cpu" "$TMP/g0"
expect_rc "cuda:$GPUS (not visible) refused, exit 2" 2 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/gx" --device "cuda:$GPUS"
expect_err "cuda:$GPUS: says how many are visible" "$GPUS CUDA device(s) visible"
expect_rc "CUDA_VISIBLE_DEVICES=0 and cuda:1 refused, exit 2" 2 env CUDA_VISIBLE_DEVICES=0 "$DSCONV" fp8-to-bf16 "$IN" \
    "$TMP/gy" --device cuda:1
expect_err "CUDA_VISIBLE_DEVICES named in the refusal" "CUDA_VISIBLE_DEVICES=0"
if [ "$GPUS" -ge 2 ]; then
    expect_rc "CUDA_VISIBLE_DEVICES=1 with cuda:0 (physical GPU 1) runs" 0 env CUDA_VISIBLE_DEVICES=1 \
        "$DSCONV" fp8-to-bf16 "$IN" "$TMP/g1" --device cuda:0 --quiet
    check "physical GPU 1 identical to the CPU" same_tree "$TMP/cpu" "$TMP/g1"
fi

# parts on the GPUs at once (part I on GPU (I-1) mod GPUs), for fp8-to-bf16 and requant
for spec in "fp8-to-bf16" "requant --bits 4" "shard-for-mp --model-parallel 4 --dtype bf16"; do
    set -- $spec; cmd=$1; shift
    "$DSCONV" "$cmd" "$IN" "$TMP/ref-$cmd" "$@" --device cpu --quiet
    for n in 2 4 8; do
        out=$TMP/p-$cmd-$n pids=()
        for i in $(seq 1 $n); do
            "$DSCONV" "$cmd" "$IN" "$out" "$@" --part "$i/$n" --device "cuda:$(( (i - 1) % GPUS ))" --quiet &
            pids+=($!)
        done
        bad=0; for p in "${pids[@]}"; do wait "$p" || bad=1; done
        check "$cmd: $n parts at once on the GPU(s) exit 0" test $bad = 0
        expect_rc "$cmd: finish $n parts" 0 "$DSCONV" finish "$out" --rehash --quiet
        check "$cmd: $n GPU parts + finish = CPU whole run" same_tree "$TMP/ref-$cmd" "$out"
        rm -rf "$out"
    done
done
} 2>&1 | tee "$TMP/log"
log_summary "$TMP/log"
