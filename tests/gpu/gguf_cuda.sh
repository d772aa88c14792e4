#!/usr/bin/env bash
# gguf_cuda.sh - to-gguf with --device cuda writes the CPU's bytes (and so llama.cpp's
# converter's / llama-quantize's) on dev-tiny, for every type, plus a bigger sample for
# the K-quants. Needs an NVIDIA GPU and a CUDA build; PASS/FAIL lines, "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/gpu/lib.sh
skip_without_gpu
export DSCONV=$PWD/bin/dsconv SAMPLE=$PWD/bin/dsconv-sample DATA=$PWD/tests/data
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
source tests/e2e/lib.sh
{
M=$TMP/model; mkdir -p "$M"
# Shards may be links; side files are copied (a link leaving the checkpoint is refused).
for f in "$DATA"/dev-tiny/input/*; do case $f in *.safetensors) ln -s "$f" "$M/";; *) cp "$f" "$M/";; esac; done
cp "$DATA"/tok-tiny/* "$M/"
for t in bf16 f16 q8_0 q4_k q6_k; do
    # one worker: every unit the GPU can take is encoded there (more workers share them with the CPU)
    expect_rc "cuda: to-gguf $t runs" 0 "$DSCONV" to-gguf "$M" "$TMP/g-$t.gguf" --type $t --name Model --device cuda --threads 1 --json "$TMP/r.json" --quiet --no-sync
    check "cuda: report says cuda ($t)" grep -q '"device":[[:space:]]*"cuda"' "$TMP/r.json"
    [ $t = bf16 ] || check "cuda: $t encoded on the GPU (gpu_bytes > 0)" grep -Eq '"gpu_bytes":[[:space:]]*[1-9]' "$TMP/r.json"
    # bf16 out of FP8 is look-ups the GPU would not speed up: the device is checked, no context made
    ctx=true; [ $t = bf16 ] && ctx=false
    check "cuda: gpu_context $ctx ($t)" grep -Eq "\"gpu_context\":[[:space:]]*$ctx" "$TMP/r.json"
    # one worker keeps the GPU to the end (nobody else would finish its units)
    check "cuda: one worker does not give the GPU back ($t)" [ -z "$(grep -o gpu_released_at "$TMP/r.json")" ]
    "$DSCONV" to-gguf "$M" "$TMP/c-$t.gguf" --type $t --name Model --device cpu --quiet --no-sync
    check "cuda: to-gguf $t = CPU bytes" cmp -s "$TMP/g-$t.gguf" "$TMP/c-$t.gguf"
done
# --device auto starts CUDA only where the GPU can take a unit: not for bf16 out of FP8 (look-ups)
for t in bf16 q8_0; do
    expect_rc "auto: to-gguf $t runs" 0 "$DSCONV" to-gguf "$M" "$TMP/a-$t.gguf" --type $t --name Model --device auto --json "$TMP/a.json" --quiet --no-sync
    want=cuda; [ $t = bf16 ] && want=cpu
    check "auto: $t runs on $want" grep -q "\"device\":[[:space:]]*\"$want\"" "$TMP/a.json"
    check "auto: to-gguf $t = CPU bytes" cmp -s "$TMP/a-$t.gguf" "$TMP/c-$t.gguf"
done
for t in bf16 f16 q8_0; do
    check "cuda: to-gguf $t = convert_hf_to_gguf.py" [ "$(filehash "$TMP/g-$t.gguf")" = "$(refhash $t)" ]
done
# more blocks of every kind: a sample with DeepSeek-V3's shapes scaled down
"$SAMPLE" --profile v3-bench --size-gb 0.3 --out "$TMP/big" --quiet
for t in q4_k q6_k q8_0; do
    "$DSCONV" to-gguf "$TMP/big" "$TMP/bc-$t.gguf" --type $t --no-vocab --device cpu --quiet --no-sync
    expect_rc "cuda: to-gguf $t of a 0.3 GB V3-shaped sample" 0 "$DSCONV" to-gguf "$TMP/big" "$TMP/bg-$t.gguf" --type $t --no-vocab --device cuda --threads 1 --quiet --no-sync
    check "cuda: $t = CPU bytes on the sample" cmp -s "$TMP/bg-$t.gguf" "$TMP/bc-$t.gguf"
    expect_rc "cuda: to-gguf $t, GPU and CPU workers together" 0 "$DSCONV" to-gguf "$TMP/big" "$TMP/bh-$t.gguf" --type $t --no-vocab --device cuda --threads 4 --json "$TMP/h.json" --quiet --no-sync
    check "cuda: $t GPU+CPU workers = CPU bytes on the sample" cmp -s "$TMP/bh-$t.gguf" "$TMP/bc-$t.gguf"
    # worker 0 gives the GPU back near the end (at the latest when every unit is taken) and finishes on the CPU
    check "cuda: $t GPU given back before the end (gpu_released_at_seconds)" grep -q gpu_released_at "$TMP/h.json"
    echo "  ($t, 4 workers: $(grep -Eo '"(gpu_bytes|gpu_released_at_seconds)":[^,]*' "$TMP/h.json" | tr '\n' ' '))"
done
} | tee "$TMP/log"
log_summary "$TMP/log"
