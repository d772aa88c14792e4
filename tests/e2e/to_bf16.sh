# to-bf16 end to end: every compressed-tensors format dsconv writes (and
# Kimi-K2-Thinking's INT4 experts) dequantized with the bytes
# compressed-tensors' CompressedTensorsDequantizer writes
# (tests/data/quantfmt/expected.json, from tests/tools/ct_ref.py).
IN=$DATA/dev-tiny/input
REF=$DATA/quantfmt/expected.json
"$DSCONV" to-bf16 "$IN" "$TMP/bf16" --quiet
check "to-bf16 of FP8 is upstream's fp8_cast_bf16 output" "$TOOLS/golden" "$DATA/dev-tiny/expected.json" fp8_to_bf16 tensors "$TMP/bf16"
case_() {
    local name=$1; shift
    "$DSCONV" requant "$TMP/bf16" "$TMP/c_$name" --quiet "$@"
    expect_rc "to-bf16 $name runs" 0 "$DSCONV" to-bf16 "$TMP/c_$name" "$TMP/d_$name" --quiet --chunk-mb 1
    "$DSCONV" manifest "$TMP/d_$name" >"$TMP/d_$name.mf"
    check "to-bf16 $name: every tensor as compressed-tensors decompresses it" "$TOOLS/mfsubset" "$REF" "to_bf16_$name" "$TMP/d_$name.mf"
}
case_ int8 --format int8
case_ int4 --format int4
case_ int4_asym --format int4 --asym --group-size 64
case_ nvfp4 --format nvfp4
case_ mxfp4 --format mxfp4
case_ kimi_thinking --format int4 --group-size 32 --ignore 're:.*self_attn\.' --ignore 're:.*shared_experts\.' \
    --ignore 're:model\.layers\.0\.mlp\.'
check "to-bf16 drops quantization_config" bash -c "! grep -q quantization_config '$TMP/d_int4/config.json'"
check "to-bf16 index names weight, not weight_packed" bash -c \
    "grep -q 'o_proj.weight\"' '$TMP/d_int4/model.safetensors.index.json' && ! grep -q weight_packed '$TMP/d_int4/model.safetensors.index.json'"
"$DSCONV" fp8-to-bf16 --input-fp8-hf-path "$TMP/c_nvfp4" --output-bf16-hf-path "$TMP/alias" --quiet
check "fp8-to-bf16 (upstream flags) is the same command" bash -c \
    "for f in '$TMP/d_nvfp4'/*.safetensors; do cmp -s \"\$f\" '$TMP/alias/'\$(basename \"\$f\") || exit 1; done"
"$DSCONV" to-bf16 "$TMP/bf16" "$TMP/again" --quiet
check "BF16 input gives its own bytes" bash -c \
    "for f in '$TMP/bf16'/*.safetensors; do cmp -s \"\$f\" '$TMP/again/'\$(basename \"\$f\") || exit 1; done"
# A module stored in a scheme the config does not declare is refused.
cp -r "$TMP/c_int4" "$TMP/lie"
sed -i 's/"group_size":[[:space:]]*128/"group_size": 64/' "$TMP/lie/config.json"
expect_rc "undeclared scheme refused (exit 3)" 3 "$DSCONV" to-bf16 "$TMP/lie" "$TMP/x" --quiet
expect_err "names the tensor and what it holds" "int4 group 128 symmetric, which no config group"
