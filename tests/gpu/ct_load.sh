#!/usr/bin/env bash
# ct_load.sh - a requant output as the loaders see it: transformers with the
# compressed-tensors package loads dsconv's INT8/INT4/NVFP4/MXFP4 (and
# Kimi-K2-Thinking-shaped, and --experts-only mixed-precision) checkpoints of dev-tiny
# and computes the logits dsconv verify computes. Needs python3 with torch,
# transformers and compressed-tensors (the GPU image has the first two; carry
# compressed-tensors and its pure-Python dependencies as wheels). Runs after
# `make`; exit 77 when the Python packages are missing.
set -u
cd "$(dirname "$0")/../.." || exit 1
python3 -c 'import torch, transformers, compressed_tensors' 2>/dev/null || { echo "SKIP: python3 lacks torch/transformers/compressed_tensors"; exit 77; }
DS=${DSCONV:-bin/dsconv}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
IN=tests/data/dev-tiny/input TOK=tests/data/dev-tiny/expected.json
"$DS" strip-mtp "$IN" "$TMP/nomtp" --quiet || exit 1
p=0 f=0
for args in "--bits 8" "--bits 4" "--bits 4 --group-size 32" "--format nvfp4" "--format mxfp4" \
    "--format int4 --group-size 32 --ignore re:.*self_attn\\. --ignore re:.*shared_experts\\. --ignore re:model\\.layers\\.0\\.mlp\\."; do
    tag=$(echo "$args" | tr -d ' -')
    echo "== requant $args"
    "$DS" requant "$TMP/nomtp" "$TMP/q$tag" $args --quiet || { echo "FAIL requant $args"; f=$((f + 1)); continue; }
    "$DS" verify "$TMP/q$tag" --tokens "$TOK" --dump-logits "$TMP/q$tag.f32" >/dev/null || { echo "FAIL verify $args"; f=$((f + 1)); continue; }
    python3 tests/gpu/ct_load.py "$TMP/q$tag" "$TOK" "$TMP/q$tag.f32" >"$TMP/log" 2>&1; rc=$?
    grep -E '^(PASS|FAIL)|rel L2|module types' "$TMP/log"
    [ $rc != 0 ] && ! grep -q '^FAIL' "$TMP/log" && { tail -5 "$TMP/log"; echo "FAIL ct_load.py exited $rc"; f=$((f + 1)); }
    p=$((p + $(grep -c '^PASS' "$TMP/log"))); f=$((f + $(grep -c '^FAIL' "$TMP/log")))
done
# --asym: transformers 5.17 fuses each layer's routed experts while loading and its
# DecompressExperts step gathers packed, scale and shape but no zero point, so it
# asserts "Asymmetric quant requires zero-point values". Reported, not counted.
"$DS" requant "$TMP/nomtp" "$TMP/qa" --bits 4 --asym --group-size 32 --quiet &&
    python3 tests/gpu/ct_load.py "$TMP/qa" "$TOK" /dev/null >"$TMP/log" 2>&1
echo "note: --asym with transformers: $(grep -m1 -oE 'Asymmetric quant requires zero-point values|PASS transformers loads the checkpoint' "$TMP/log" || echo 'see log')"
# --experts-only keeps the FP8 Linears as float-quantized block FP8 whose config
# group quantizes activations dynamically (per group of 128, as DeepSeek's
# kernels do); transformers does that fake-quantization and dsconv verify does
# not, so only loading is counted here and the logits are reported.
for fmt in int4 nvfp4; do
    "$DS" requant "$TMP/nomtp" "$TMP/eo$fmt" --format $fmt --experts-only --quiet || { echo "FAIL requant --experts-only $fmt"; f=$((f + 1)); continue; }
    "$DS" verify "$TMP/eo$fmt" --tokens "$TOK" --dump-logits "$TMP/eo$fmt.f32" >/dev/null || { echo "FAIL verify --experts-only $fmt"; f=$((f + 1)); continue; }
    python3 tests/gpu/ct_load.py "$TMP/eo$fmt" "$TOK" "$TMP/eo$fmt.f32" >"$TMP/log" 2>&1
    echo "== requant --format $fmt --experts-only"
    grep -E '^(PASS|FAIL) (transformers loads|no missing|no unexpected|quantization_config)' "$TMP/log"
    echo "note: $(grep -m1 'rel L2' "$TMP/log" || tail -2 "$TMP/log")"
    p=$((p + $(grep -cE '^PASS (transformers loads|no missing|no unexpected|quantization_config)' "$TMP/log")))
    f=$((f + $(grep -cE '^FAIL (transformers loads|no missing|no unexpected|quantization_config)' "$TMP/log")))
done
echo "$p passed, $f failed"
[ "$f" = 0 ]
