# fp8-to-bf16 end to end on the dev-tiny reference fixture (CPU path).
IN=$DATA/dev-tiny/input
EXP=$DATA/dev-tiny/expected.json
OUT=$TMP/bf16

expect_rc "fp8-to-bf16 dev-tiny runs" 0 "$DSCONV" fp8-to-bf16 "$IN" "$OUT" --device cpu --json "$TMP/r.json"
check "fp8-to-bf16 every tensor byte-identical to upstream" "$TOOLS/golden" "$EXP" fp8_to_bf16 tensors "$OUT"
check "fp8-to-bf16 index weight_map as upstream" "$TOOLS/golden" --weight-map "$EXP" fp8_to_bf16 index "$OUT/model.safetensors.index.json"
check "config.json has no quantization_config" bash -c "! grep -q quantization_config '$OUT/config.json'"
check "config.json says torch_dtype bfloat16" grep -q '"torch_dtype":[[:space:]]*"bfloat16"' "$OUT/config.json"
check "side files copied" cmp -s "$IN/tokenizer_config.json" "$OUT/tokenizer_config.json"
check "generation_config copied" cmp -s "$IN/generation_config.json" "$OUT/generation_config.json"
check "shards carry format pt metadata" grep -q '"__metadata__":{"format":"pt"}' "$OUT/model-00001-of-00003.safetensors"
check "json report counts 72 converted" grep -q '"tensors_converted":[[:space:]]*72' "$TMP/r.json"
check "json report names the device" grep -q '"device":[[:space:]]*"cpu"' "$TMP/r.json"
check "no temporary files left" bash -c "! ls -a '$OUT' | grep -q dsconv-tmp"

expect_rc "non-empty OUT refused" 2 "$DSCONV" fp8-to-bf16 "$IN" "$OUT"
expect_err "refusal suggests --force" "--force"
expect_rc "--force writes over OUT" 0 "$DSCONV" fp8-to-bf16 "$IN" "$OUT" --force --quiet
check "--force output still identical" "$TOOLS/golden" "$EXP" fp8_to_bf16 tensors "$OUT"

expect_rc "upstream flag aliases" 0 "$DSCONV" fp8-to-bf16 --input-fp8-hf-path "$IN" --output-bf16-hf-path "$TMP/alias" --quiet
check "aliases give the same bytes" "$TOOLS/golden" "$EXP" fp8_to_bf16 tensors "$TMP/alias"

expect_rc "threads 1 runs" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/t1" --threads 1 --chunk-mb 1 --quiet
check "small chunks and 1 thread give the same bytes" "$TOOLS/golden" "$EXP" fp8_to_bf16 tensors "$TMP/t1"

# --resume: delete one finished shard and the index; resume rewrites exactly those.
rm "$TMP/t1/model-00002-of-00003.safetensors" "$TMP/t1/model.safetensors.index.json"
expect_rc "--resume finishes a partial OUT" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/t1" --resume --json "$TMP/res.json" --quiet
check "--resume kept the 2 complete shards" grep -q '"files_kept":[[:space:]]*2' "$TMP/res.json"
check "--resume result identical" "$TOOLS/golden" "$EXP" fp8_to_bf16 tensors "$TMP/t1"

if "$DSCONV" fp8-to-bf16 --help | grep -q -- --device && ! nvidia-smi >/dev/null 2>&1; then
    expect_rc "--device cuda without a GPU is a usage error" 2 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/cuda" --device cuda
    expect_err "--device cuda says why" "CUDA is not available"
    check "--device cuda left no output" bash -c "[ ! -e '$TMP/cuda/model.safetensors.index.json' ]"
fi
expect_rc "bad --device value" 2 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/x" --device tpu
expect_rc "missing OUT is a usage error" 2 "$DSCONV" fp8-to-bf16 "$IN"
expect_rc "help exits 0" 0 "$DSCONV" fp8-to-bf16 --help

# A lone shard whose weights keep their scales in another shard: refused, naming the tensor.
mkdir -p "$TMP/single"
cp "$IN/model-00001-of-00003.safetensors" "$TMP/single/model.safetensors"
expect_rc "missing scale is invalid input" 3 "$DSCONV" fp8-to-bf16 "$TMP/single" "$TMP/single-out" --quiet
expect_err "missing scale names the tensor" "model.layers.1.mlp.experts.5.gate_proj.weight"
check "refused conversion leaves no index or shard" bash -c "! ls '$TMP/single-out' 2>/dev/null | grep -q safetensors"

# A self-contained single-file checkpoint converts to a single file.
"$SAMPLE" --out "$TMP/sf" --single-file >/dev/null
expect_rc "single-file checkpoint converts" 0 "$DSCONV" fp8-to-bf16 "$TMP/sf" "$TMP/sf-out" --quiet
check "single-file output has no index" bash -c "[ -e '$TMP/sf-out/model.safetensors' ] && [ ! -e '$TMP/sf-out/model.safetensors.index.json' ]"

# ue8m0-style (power-of-two) scales convert like any F32 scale; the BF16 result computes the same model.
"$SAMPLE" --out "$TMP/u8" --ue8m0 >/dev/null
expect_rc "ue8m0 sample converts" 0 "$DSCONV" fp8-to-bf16 "$TMP/u8" "$TMP/u8-bf16" --quiet
expect_rc "ue8m0 conversion gives bit-identical logits" 0 "$DSCONV" verify "$TMP/u8-bf16" --against "$TMP/u8"
check "verify says bit-identical" grep -q "bit-identical" "$TMP/out"
