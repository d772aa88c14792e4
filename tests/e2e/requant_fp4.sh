# requant --format nvfp4|mxfp4 end to end: bytes identical to compressed-tensors'
# own NVFP4A16 / MXFP4A16 compression (tests/data/quantfmt/expected.json, from
# tests/tools/ct_ref.py), from FP8 and from BF16 input, any chunking.
IN=$DATA/dev-tiny/input
REF=$DATA/quantfmt/expected.json
max_rel() { grep -o '"rel_l2":[[:space:]]*[0-9.eE+-]*' "$1" | awk -F: '{v=$2+0; if (v>m) m=v} END{print m+0}'; }
sum_err() { grep -o '"rmse":[[:space:]]*[0-9.eE+-]*' "$1" | awk -F: '{s+=$2*$2} END{printf "%.12g", s}'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a < b)}'; }
"$DSCONV" to-bf16 "$IN" "$TMP/bf16" --quiet
for f in nvfp4 mxfp4; do
    expect_rc "requant $f runs on FP8 input" 0 "$DSCONV" requant "$IN" "$TMP/$f" --format $f --json "$TMP/$f.json" --quiet
    "$DSCONV" manifest "$TMP/$f" >"$TMP/$f.mf"
    check "requant $f: bytes of compressed-tensors' $f compression" "$TOOLS/mfsubset" --partial "$REF" "requant_$f" "$TMP/$f.mf"
    expect_rc "requant $f runs on BF16 input, small chunks, 1 thread" 0 "$DSCONV" requant "$TMP/bf16" "$TMP/b$f" \
        --format $f --quiet --chunk-mb 1 --threads 1
    check "requant $f: BF16 input gives the same shards" bash -c \
        "for x in '$TMP/$f'/*.safetensors; do cmp -s \"\$x\" '$TMP/b$f/'\$(basename \"\$x\") || exit 1; done"
    check "requant $f: config format $f-pack-quantized" grep -q "\"format\":[[:space:]]*\"$f-pack-quantized\"" "$TMP/$f/config.json"
    check "requant $f: float type in config" grep -q '"type":[[:space:]]*"float"' "$TMP/$f/config.json"
done
check "nvfp4: tensor_group strategy, group 16" bash -c \
    "grep -q '\"strategy\":[[:space:]]*\"tensor_group\"' '$TMP/nvfp4/config.json' && grep -q '\"group_size\":[[:space:]]*16' '$TMP/nvfp4/config.json'"
check "mxfp4: group 32, scale_dtype uint8" bash -c \
    "grep -q '\"group_size\":[[:space:]]*32' '$TMP/mxfp4/config.json' && grep -q 'torch.uint8' '$TMP/mxfp4/config.json'"
check "nvfp4: gate and up of one expert share one global scale" bash -c \
    "m='$TMP/nvfp4.mf'; a=\$(grep -o '\"model.layers.1.mlp.experts.3.gate_proj.weight_global_scale\":[^,]*' \$m | cut -d: -f2); \
     b=\$(grep -o '\"model.layers.1.mlp.experts.3.up_proj.weight_global_scale\":[^,]*' \$m | cut -d: -f2); [ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ]"
rn=$(max_rel "$TMP/nvfp4.json"); rm_=$(max_rel "$TMP/mxfp4.json")
check "nvfp4 dequantized weight error under 15% (max $rn)" lt "$rn" 0.15
check "mxfp4 dequantized weight error under 20% (max $rm_)" lt "$rm_" 0.20
for f in nvfp4 mxfp4; do
    expect_rc "requant $f --method mse runs" 0 "$DSCONV" requant "$IN" "$TMP/m$f" --format $f --method mse --json "$TMP/m$f.json" --quiet
    e_rtn=$(sum_err "$TMP/$f.json"); e_mse=$(sum_err "$TMP/m$f.json")
    check "$f mse has less total weight error than rtn ($e_mse < $e_rtn)" lt "$e_mse" "$e_rtn"
done
expect_rc "nvfp4 --asym refused" 2 "$DSCONV" requant "$IN" "$TMP/x" --format nvfp4 --asym
expect_rc "mxfp4 --group-size 16 refused" 2 "$DSCONV" requant "$IN" "$TMP/x" --format mxfp4 --group-size 16
expect_rc "bad --format" 2 "$DSCONV" requant "$IN" "$TMP/x" --format fp3
expect_rc "--format with --bits refused" 2 "$DSCONV" requant "$IN" "$TMP/x" --format nvfp4 --bits 4
