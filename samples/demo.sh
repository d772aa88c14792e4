#!/usr/bin/env bash
# demo.sh - `make demo`: a sample FP8 checkpoint -> BF16 -> verify, from the repo root.
# Each dsconv step runs only when that command is built (`dsconv CMD --help` exits 0);
# otherwise it says "skipped". Exits non-zero when a step that ran failed.
set -u
BIN=${DSCONV_BIN:-bin}
DSCONV=$BIN/dsconv
SAMPLE=$BIN/dsconv-sample
OUT=samples/out
FP8=$OUT/tiny-fp8
BF16=$OUT/tiny-bf16
failed=0

step() { printf '\n== %s\n' "$1"; }
# run NAME CMD...: shows the command, runs it, records a failure
run() {
    local name=$1; shift
    echo "\$ $*"
    "$@"; local rc=$?
    if [ $rc -ne 0 ]; then echo "FAILED: $name (exit $rc)"; failed=1; return $rc; fi
    echo "ok: $name"
}
built() { "$DSCONV" "$1" --help >/dev/null 2>&1; }

if [ ! -x "$SAMPLE" ] || [ ! -x "$DSCONV" ]; then
    echo "demo: $SAMPLE or $DSCONV missing; run 'make' first" >&2
    exit 2
fi

step "1. generate a synthetic FP8 DeepSeek-V3-shaped checkpoint (2 layers + 1 MTP layer, 8 experts,"
echo "   128x128 block scales, 3 shards, a scale stored in another shard than its weight)"
run "dsconv-sample" "$SAMPLE" --out "$FP8" || exit 1

step "2. describe it"
if built inspect; then run "inspect" "$DSCONV" inspect "$FP8"; else echo "skipped: inspect not built yet"; fi

step "3. dequantize FP8 -> BF16 (weight * weight_scale_inv per 128x128 block, rounded to bf16)"
rm -rf "$BF16"
if built fp8-to-bf16; then
    run "fp8-to-bf16" "$DSCONV" fp8-to-bf16 "$FP8" "$BF16"
else
    echo "skipped: fp8-to-bf16 not built yet"
fi

step "4. verify: run the model on both checkpoints and compare logits"
if ! built verify; then
    echo "skipped: verify not built yet"
elif [ ! -d "$BF16" ]; then
    echo "skipped: verify needs the BF16 checkpoint of step 3"
else
    run "verify" "$DSCONV" verify "$BF16" --against "$FP8"
fi

echo
if [ $failed -ne 0 ]; then echo "demo: a step failed"; exit 1; fi
echo "demo: done (outputs in $OUT/)"
