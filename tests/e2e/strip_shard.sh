# strip-mtp and shard-for-mp end to end on the dev-tiny reference fixture.
IN=$DATA/dev-tiny/input
EXP=$DATA/dev-tiny/expected.json

expect_rc "strip-mtp dev-tiny runs" 0 "$DSCONV" strip-mtp "$IN" "$TMP/nomtp" --quiet
check "strip-mtp tensors identical to reference" "$TOOLS/golden" "$EXP" strip_mtp tensors "$TMP/nomtp"
check "strip-mtp config num_nextn_predict_layers 0" grep -q '"num_nextn_predict_layers":[[:space:]]*0' "$TMP/nomtp/config.json"
check "strip-mtp index has no layer-2 tensors" bash -c "! grep -q 'model.layers.2' '$TMP/nomtp/model.safetensors.index.json'"

expect_rc "fp8-to-bf16 of the stripped checkpoint" 0 "$DSCONV" fp8-to-bf16 "$TMP/nomtp" "$TMP/nomtp-bf16" --quiet
for n in 1 2; do
    expect_rc "shard-for-mp fp8 mp$n runs" 0 "$DSCONV" shard-for-mp "$TMP/nomtp" "$TMP/fp8-mp$n" --model-parallel $n --quiet
    check "shard-for-mp fp8 mp$n identical to convert.py" "$TOOLS/golden" "$EXP" model_parallel fp8-mp$n "$TMP/fp8-mp$n"
done
for n in 1 2 4 8; do
    expect_rc "shard-for-mp bf16 mp$n runs" 0 "$DSCONV" shard-for-mp "$TMP/nomtp-bf16" "$TMP/bf16-mp$n" --model-parallel $n --quiet
    check "shard-for-mp bf16 mp$n identical to convert.py" "$TOOLS/golden" "$EXP" model_parallel bf16-mp$n "$TMP/bf16-mp$n"
    expect_rc "shard-for-mp --dtype bf16 mp$n runs" 0 "$DSCONV" shard-for-mp "$TMP/nomtp" "$TMP/d-mp$n" --model-parallel $n --dtype bf16 --quiet
    check "shard-for-mp --dtype bf16 mp$n = fp8-to-bf16 then shard" "$TOOLS/golden" "$EXP" model_parallel bf16-mp$n "$TMP/d-mp$n"
done
check "shard-for-mp copies config.json" cmp -s "$TMP/nomtp-bf16/config.json" "$TMP/bf16-mp2/config.json"
check "shard-for-mp copies token files" cmp -s "$IN/tokenizer_config.json" "$TMP/bf16-mp2/tokenizer_config.json"
check "shard-for-mp does not copy generation_config" bash -c "[ ! -e '$TMP/bf16-mp2/generation_config.json' ]"

# MTP layers are left out even from the unstripped input (index from config, not hard-coded).
expect_rc "shard-for-mp on input with MTP" 0 "$DSCONV" shard-for-mp "$IN" "$TMP/withmtp" --model-parallel 2 --quiet
check "MTP layer left out of rank files" "$TOOLS/golden" "$EXP" model_parallel fp8-mp2 "$TMP/withmtp"

for n in 4 8; do
    expect_rc "shard-for-mp fp8 mp$n refused (scale split does not divide)" 3 "$DSCONV" shard-for-mp "$TMP/nomtp" "$TMP/ref$n" --model-parallel $n
    expect_err "refusal names the dimension" "dimension"
    expect_err "refusal names the tensor" "_scale_inv"
    check "refused mp$n leaves no rank files" bash -c "! ls '$TMP/ref$n' 2>/dev/null | grep -q safetensors"
done
expect_rc "--n-experts must agree with config" 2 "$DSCONV" shard-for-mp "$TMP/nomtp" "$TMP/ne" --model-parallel 2 --n-experts 16
expect_rc "--model-parallel required" 2 "$DSCONV" shard-for-mp "$TMP/nomtp" "$TMP/nomp"
expect_rc "upstream flag aliases" 0 "$DSCONV" shard-for-mp --hf-ckpt-path "$TMP/nomtp-bf16" --save-path "$TMP/al" --n-experts 8 --model-parallel 2 --quiet
check "aliases give the same bytes" "$TOOLS/golden" "$EXP" model_parallel bf16-mp2 "$TMP/al"
