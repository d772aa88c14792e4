#!/usr/bin/env bash
# e2e_convert.sh - the conversions with --device cuda on the dev-tiny fixture,
# on a machine with an NVIDIA GPU, after `make` (a CUDA build). Same PASS/FAIL
# lines and closing "N passed, N failed" as tests/run.sh; exit 77 without a GPU.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/gpu/lib.sh
skip_without_gpu
export DSCONV=$PWD/bin/dsconv DATA=$PWD/tests/data TOOLS=$PWD/${BUILD:-build}/tools
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
source tests/e2e/lib.sh
{
IN=$DATA/dev-tiny/input EXP=$DATA/dev-tiny/expected.json
expect_rc "cuda: fp8-to-bf16 runs" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/bf16" --device cuda --json "$TMP/r.json" --quiet
check "cuda: fp8-to-bf16 identical to upstream" "$TOOLS/golden" "$EXP" fp8_to_bf16 tensors "$TMP/bf16"
check "cuda: report says cuda" grep -q '"device":[[:space:]]*"cuda"' "$TMP/r.json"
expect_rc "cuda: fp8-to-bf16 small chunks" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/bf16c" --device cuda --chunk-mb 1 --quiet
check "cuda: small chunks identical" "$TOOLS/golden" "$EXP" fp8_to_bf16 tensors "$TMP/bf16c"
expect_rc "cuda: auto picks the GPU" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/auto" --json "$TMP/a.json" --quiet
check "cuda: auto report says cuda" grep -q '"device":[[:space:]]*"cuda"' "$TMP/a.json"
"$DSCONV" strip-mtp "$IN" "$TMP/nomtp" --quiet
for n in 1 2 4 8; do
    expect_rc "cuda: shard-for-mp --dtype bf16 mp$n" 0 "$DSCONV" shard-for-mp "$TMP/nomtp" "$TMP/mp$n" --model-parallel $n --dtype bf16 --device cuda --quiet
    check "cuda: shard-for-mp --dtype bf16 mp$n identical to convert.py" "$TOOLS/golden" "$EXP" model_parallel bf16-mp$n "$TMP/mp$n"
done
# requant through the executor: CUDA writes the same bytes as the CPU, for every method.
same_shards() { for f in "$1"/*.safetensors; do cmp -s "$f" "$2/$(basename "$f")" || return 1; done; }
for args in "--bits 8" "--bits 4" "--bits 4 --method mse" "--bits 4 --asym" "--bits 8 --group-size 64 --method mse"; do
    tag=$(echo "$args" | tr -d ' -')
    "$DSCONV" requant "$IN" "$TMP/rq-cpu-$tag" $args --device cpu --quiet
    expect_rc "cuda: requant $args runs" 0 "$DSCONV" requant "$IN" "$TMP/rq-gpu-$tag" $args --device cuda --quiet
    check "cuda: requant $args = cpu bytes" same_shards "$TMP/rq-cpu-$tag" "$TMP/rq-gpu-$tag"
done
# The executor's GPU-only paths (convert/exec.c): NVFP4's global scale prepared by the readers, the device
# joined at the first chunk that needs it (copies first), four readers and writers on 1 MiB chunks: the
# bytes and the manifest of the CPU.
for args in "--format nvfp4" "--format mxfp4" "--bits 4"; do
    tag=io$(echo "$args" | tr -d ' -')
    "$DSCONV" requant "$IN" "$TMP/rq-cpu-$tag" $args --device cpu --quiet --manifest "$TMP/m-cpu-$tag"
    expect_rc "cuda: requant $args --io-threads 4 --chunk-mb 1 runs" 0 "$DSCONV" requant "$IN" "$TMP/rq-gpu-$tag" $args \
        --device cuda --io-threads 4 --chunk-mb 1 --quiet --manifest "$TMP/m-gpu-$tag"
    check "cuda: requant $args --io-threads 4 = cpu bytes" same_shards "$TMP/rq-cpu-$tag" "$TMP/rq-gpu-$tag"
    check "cuda: requant $args --io-threads 4: manifest = cpu's" cmp -s "$TMP/m-cpu-$tag" "$TMP/m-gpu-$tag"
done
"$DSCONV" fp8-to-bf16 "$IN" "$TMP/bf16-in" --device cpu --quiet
expect_rc "cuda: requant of the BF16 conversion" 0 "$DSCONV" requant "$TMP/bf16-in" "$TMP/rq-gpu-bf16" --bits 4 --device cuda --quiet
check "cuda: requant of FP8 = requant of its BF16 conversion" same_shards "$TMP/rq-gpu-bits4" "$TMP/rq-gpu-bf16"
if [ -x bin/dsconv-sample ]; then
    bin/dsconv-sample --out "$TMP/s" --ue8m0 >/dev/null
    "$DSCONV" fp8-to-bf16 "$TMP/s" "$TMP/s-cpu" --device cpu --quiet
    expect_rc "cuda: ue8m0 sample converts" 0 "$DSCONV" fp8-to-bf16 "$TMP/s" "$TMP/s-gpu" --device cuda --quiet
    check "cuda: ue8m0 sample = cpu bytes" bash -c "for f in '$TMP'/s-cpu/*.safetensors; do cmp -s \"\$f\" '$TMP/s-gpu/'\$(basename \"\$f\") || exit 1; done"
fi
} | tee "$TMP/log"
log_summary "$TMP/log"
