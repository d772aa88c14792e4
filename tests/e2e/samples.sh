# samples.sh - bin/dsconv-sample end to end: its output is a checkpoint that
# dsconv reads; options and errors behave as documented.
# Sourced by tests/run.sh with DSCONV, SAMPLE, DATA, TMP set (see lib.sh).

expect_rc "sample: default checkpoint is written" 0 "$SAMPLE" --out "$TMP/s" --quiet
expect_rc "sample: dsconv inspect reads it" 0 "$DSCONV" inspect "$TMP/s"
check "sample: 3 shards and an index" test -f "$TMP/s/model-00003-of-00003.safetensors" \
    -a -f "$TMP/s/model.safetensors.index.json" -a ! -e "$TMP/s/model-00004-of-00004.safetensors"
check "sample: config has the fp8 quantization_config" \
    grep -q '"quant_method":[[:space:]]*"fp8"' "$TMP/s/config.json"

# The index maps at least one weight_scale_inv to another shard than its weight.
split_scale() {
    local idx=$1/model.safetensors.index.json
    grep -o '"[^"]*_scale_inv":[[:space:]]*"[^"]*"' "$idx" | while IFS= read -r line; do
        local name=${line%%\":*}; name=${name#\"}
        local file=${line##*\"model-}; file=${file%\"}
        local w=${name%_scale_inv}
        grep -q "\"$w\":[[:space:]]*\"model-$file\"" "$idx" || { echo split; break; }
    done | grep -q split
}
check "sample: a scale lives in another shard than its weight" split_scale "$TMP/s"

expect_rc "sample: same seed again" 0 "$SAMPLE" --out "$TMP/s2" --quiet
check "sample: same seed gives identical bytes" cmp -s "$TMP/s/model-00002-of-00003.safetensors" \
    "$TMP/s2/model-00002-of-00003.safetensors"
expect_rc "sample: other seed" 0 "$SAMPLE" --out "$TMP/s3" --seed 9 --quiet
check "sample: other seed gives other bytes" \
    bash -c "! cmp -s '$TMP/s/model-00002-of-00003.safetensors' '$TMP/s3/model-00002-of-00003.safetensors'"

expect_rc "sample: --single-file --bf16" 0 "$SAMPLE" --out "$TMP/b" --single-file --bf16 --quiet
check "sample: single file, no index" test -f "$TMP/b/model.safetensors" -a ! -e "$TMP/b/model.safetensors.index.json"
check "sample: bf16 config has no quantization_config" bash -c "! grep -q quantization_config '$TMP/b/config.json'"
expect_rc "sample: dsconv inspect reads the single file" 0 "$DSCONV" inspect "$TMP/b"

expect_rc "sample: --ue8m0 custom dims" 0 "$SAMPLE" --out "$TMP/u" --ue8m0 --hidden 384 --experts 4 --groups 2 \
    --topk-groups 1 --topk 2 --mtp 0 --shards 2 --quiet
check "sample: ue8m0 config" grep -q '"scale_fmt":[[:space:]]*"ue8m0"' "$TMP/u/config.json"
check "sample: --mtp 0 writes no MTP layer" bash -c "! grep -q 'model.layers.2.' '$TMP/u/model.safetensors.index.json'"
expect_rc "sample: dsconv inspect reads the ue8m0 checkpoint" 0 "$DSCONV" inspect "$TMP/u"

expect_rc "sample: --help" 0 "$SAMPLE" --help
check "sample: --help explains the options" grep -q -- "--profile v3-bench" "$TMP/out"
expect_rc "sample: missing --out is a usage error" 2 "$SAMPLE"
expect_err "sample: missing --out says so" "--out DIR is required"
expect_rc "sample: inconsistent experts/groups is a usage error" 2 "$SAMPLE" --out "$TMP/x" --experts 6
expect_err "sample: the error names the options" "--experts 6 is not a multiple of --groups 4"
expect_rc "sample: unknown option is a usage error" 2 "$SAMPLE" --out "$TMP/x" --no-such-option
expect_rc "sample: --profile with a dimension is refused" 2 "$SAMPLE" --out "$TMP/x" --profile v3-bench \
    --size-gb 10 --hidden 512
expect_rc "sample: --profile too small is refused" 2 "$SAMPLE" --out "$TMP/x" --profile v3-bench --size-gb 0.0001
expect_err "sample: too small names the minimum" "too small for the v3-bench profile"
check "sample: refused runs wrote nothing" test ! -e "$TMP/x"

# The benchmark profile, scaled down to a size a test can afford (real shapes from ~5.3 GB).
expect_rc "sample: --profile v3-bench --dry-run of the real size" 0 "$SAMPLE" --out "$TMP/x" --profile v3-bench \
    --size-gb 700 --dry-run
check "sample: 700 GB is the full model: 61 layers, 256 experts" \
    grep -q "61 layers (3 dense) + 1 MTP, hidden 7168, 256 routed" "$TMP/out"
check "sample: dry run wrote nothing" test ! -e "$TMP/x"
expect_rc "sample: small v3-bench checkpoint" 0 "$SAMPLE" --out "$TMP/v3" --profile v3-bench --size-gb 0.05 --quiet
expect_rc "sample: dsconv inspect reads the v3-bench checkpoint" 0 "$DSCONV" inspect "$TMP/v3"
rm -rf "$TMP/v3" "$TMP/s2" "$TMP/s3"
