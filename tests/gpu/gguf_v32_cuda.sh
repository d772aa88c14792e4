#!/usr/bin/env bash
# gguf_v32_cuda.sh - to-gguf of DeepSeek-V3.2 (architecture deepseek32: indexer tensors, the MTP
# layer as nextn.*) with --device cuda writes the CPU's bytes, and so the converter's / llama-quantize's
# (tests/data/gguf-ref/v32-*.json), for every type. Needs an NVIDIA GPU and a CUDA build;
# PASS/FAIL lines, "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/gpu/lib.sh
skip_without_gpu
export DSCONV=$PWD/bin/dsconv SAMPLE=$PWD/bin/dsconv-sample DATA=$PWD/tests/data
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
source tests/e2e/lib.sh
{
M=$TMP/v32/Model; mkdir -p "$TMP/v32"
"$SAMPLE" --family v32 --out "$M" --quiet
cp "$DATA"/tok-tiny/tokenizer.json "$DATA"/tok-tiny/tokenizer_config.json "$M/"
for t in bf16 f16 q8_0 q4_k q6_k; do
    expect_rc "cuda: v32 to-gguf $t runs" 0 "$DSCONV" to-gguf "$M" "$TMP/g-$t.gguf" --type $t --device cuda --threads 1 --quiet --no-sync
    "$DSCONV" to-gguf "$M" "$TMP/c-$t.gguf" --type $t --device cpu --quiet --no-sync
    check "cuda: v32 $t = CPU bytes" cmp -s "$TMP/g-$t.gguf" "$TMP/c-$t.gguf"
    check "cuda: v32 $t = the reference (converter / llama-quantize)" [ "$(filehash "$TMP/g-$t.gguf")" = "$(refhash v32-sample-$t)" ]
done
} | tee "$TMP/log"
log_summary "$TMP/log"
