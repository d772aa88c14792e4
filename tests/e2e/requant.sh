# requant end to end on the dev-tiny fixture (CPU path).
IN=$DATA/dev-tiny/input
max_rel() { grep -o '"rel_l2":[[:space:]]*[0-9.eE+-]*' "$1" | awk -F: '{v=$2+0; if (v>m) m=v} END{print m+0}'; }
sum_err() { grep -o '"rmse":[[:space:]]*[0-9.eE+-]*' "$1" | awk -F: '{s+=$2*$2} END{printf "%.12g", s}'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a < b)}'; }

"$DSCONV" fp8-to-bf16 "$IN" "$TMP/bf16" --quiet
for bits in 8 4; do
    expect_rc "requant int$bits runs on FP8 input" 0 "$DSCONV" requant "$IN" "$TMP/q$bits" --bits $bits --json "$TMP/q$bits.json" --quiet
    expect_rc "requant int$bits runs on BF16 input" 0 "$DSCONV" requant "$TMP/bf16" "$TMP/qb$bits" --bits $bits --quiet
    check "requant int$bits: FP8 and BF16 inputs give identical shards" bash -c \
        "for f in '$TMP/q$bits'/*.safetensors; do cmp -s \"\$f\" '$TMP/qb$bits/'\$(basename \"\$f\") || exit 1; done"
    check "requant int$bits: index written" test -e "$TMP/q$bits/model.safetensors.index.json"
    check "requant int$bits: config is compressed-tensors pack-quantized" grep -q '"format":[[:space:]]*"pack-quantized"' "$TMP/q$bits/config.json"
    check "requant int$bits: num_bits $bits in config" grep -q "\"num_bits\":[[:space:]]*$bits" "$TMP/q$bits/config.json"
    check "requant int$bits: has weight_packed, weight_scale, weight_shape" bash -c \
        "'$DSCONV' inspect '$TMP/q$bits' --tensors | grep -q 'o_proj.weight_packed' && '$DSCONV' inspect '$TMP/q$bits' --tensors | grep -q 'o_proj.weight_scale ' && '$DSCONV' inspect '$TMP/q$bits' --tensors | grep -q 'o_proj.weight_shape'"
done
r8=$(max_rel "$TMP/q8.json"); r4=$(max_rel "$TMP/q4.json")
check "int8 dequantized weight error under 2% (max $r8)" lt "$r8" 0.02
check "int4 dequantized weight error under 15% (max $r4)" lt "$r4" 0.15
check "int8 channel strategy" grep -q '"strategy":[[:space:]]*"channel"' "$TMP/q8/config.json"
check "int4 group 128" grep -q '"group_size":[[:space:]]*128' "$TMP/q4/config.json"
check "router and lm_head kept in ignore" bash -c "grep -q '\"lm_head\"' '$TMP/q4/config.json' && grep -q 'mlp.gate\"' '$TMP/q4/config.json'"
check "MTP layer kept (pattern in ignore)" grep -q 're:model\\\\.layers\\\\.2\\\\.' "$TMP/q4/config.json"
check "no FP8 left" bash -c "! '$DSCONV' inspect '$TMP/q4' | grep -q F8_E4M3"

expect_rc "requant int4 mse runs" 0 "$DSCONV" requant "$IN" "$TMP/m4" --bits 4 --method mse --json "$TMP/m4.json" --quiet
e_rtn=$(sum_err "$TMP/q4.json"); e_mse=$(sum_err "$TMP/m4.json")
check "mse has less total weight error than rtn ($e_mse < $e_rtn)" lt "$e_mse" "$e_rtn"
expect_rc "requant int4 asym runs" 0 "$DSCONV" requant "$IN" "$TMP/a4" --bits 4 --asym --quiet
check "asym writes zero points" bash -c "'$DSCONV' inspect '$TMP/a4' --tensors | grep -q weight_zero_point"
check "asym config says symmetric false" grep -q '"symmetric":[[:space:]]*false' "$TMP/a4/config.json"
expect_rc "requant --ignore" 0 "$DSCONV" requant "$IN" "$TMP/i4" --bits 4 --ignore 're:model\.layers\.0\.self_attn\.o_proj' --quiet
check "--ignore keeps that Linear in BF16" bash -c "'$DSCONV' inspect '$TMP/i4' --tensors | grep -q 'model.layers.0.self_attn.o_proj.weight '"
expect_rc "bad --bits" 2 "$DSCONV" requant "$IN" "$TMP/x" --bits 3
expect_rc "bad --group-size" 2 "$DSCONV" requant "$IN" "$TMP/x" --bits 4 --group-size 12
expect_rc "bad --method" 2 "$DSCONV" requant "$IN" "$TMP/x" --method gptq
expect_rc "Python-only regex refused" 2 "$DSCONV" requant "$IN" "$TMP/x" --ignore 're:model\.layers\.\d+'
