# verify reads every format requant writes: nvfp4, mxfp4, --experts-only
# (float-quantized block FP8 beside the experts), Kimi-K2-Thinking-shaped INT4;
# each gives logits bit-identical to its own to-bf16 output (both decode as
# compressed-tensors does), and stays close to the FP8 source.
IN=$DATA/dev-tiny/input
V="$DSCONV verify"
"$DSCONV" to-bf16 "$IN" "$TMP/bf16" --quiet
for f in nvfp4 mxfp4; do
    "$DSCONV" requant "$IN" "$TMP/$f" --format $f --quiet
    "$DSCONV" to-bf16 "$TMP/$f" "$TMP/$f-bf16" --quiet
    expect_rc "$f vs FP8 within KL 0.25, top-1 >= 0.5" 0 $V "$TMP/$f" --against "$IN"
    check "$f weights recognized" grep -q "(hf $f)" "$TMP/out"
    expect_rc "$f logits bit-identical to its to-bf16 output" 0 $V "$TMP/$f" --against "$TMP/$f-bf16" --expect identical
done
"$DSCONV" requant "$IN" "$TMP/eo" --format int4 --group-size 32 --experts-only --quiet
"$DSCONV" to-bf16 "$TMP/eo" "$TMP/eo-bf16" --quiet
expect_rc "experts-only (FP8 blocks as weight_scale) bit-identical to its to-bf16 output" 0 \
    $V "$TMP/eo" --against "$TMP/eo-bf16" --expect identical
expect_rc "experts-only INT4 vs FP8 close" 0 $V "$TMP/eo" --against "$IN"
"$DSCONV" requant "$TMP/bf16" "$TMP/kimi" --format int4 --group-size 32 --quiet \
    --ignore 're:.*self_attn\.' --ignore 're:.*shared_experts\.' --ignore 're:model\.layers\.0\.mlp\.'
"$DSCONV" to-bf16 "$TMP/kimi" "$TMP/kimi-bf16" --quiet
expect_rc "Kimi-K2-Thinking-shaped INT4 bit-identical to its to-bf16 output" 0 \
    $V "$TMP/kimi" --against "$TMP/kimi-bf16" --expect identical
