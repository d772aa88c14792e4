# requant --experts-only end to end: only the routed experts of the main layers
# are quantized; FP8 Linears keep their bytes (scale renamed weight_scale,
# float-quantized block FP8), BF16/F32 tensors and the MTP layer as in the
# source; config mixed-precision. Read back (to-bf16) as compressed-tensors'
# CompressedTensorsDequantizer does (tests/data/quantfmt/expected.json).
IN=$DATA/dev-tiny/input
REF=$DATA/quantfmt/expected.json
"$DSCONV" manifest "$IN" >"$TMP/in.mf"
h() { grep -o "\"$2\":[[:space:]]*\"[0-9a-f]*\"" "$1" | head -1 | sed 's/.*"\([0-9a-f]*\)"$/\1/'; }
same() { local a b; a=$(h "$TMP/in.mf" "$1"); b=$(h "$2" "$3"); [ -n "$a" ] && [ "$a" = "$b" ]; }
for f in nvfp4 int4; do
    expect_rc "requant --experts-only $f runs" 0 "$DSCONV" requant "$IN" "$TMP/eo_$f" --format $f --experts-only --quiet
    "$DSCONV" manifest "$TMP/eo_$f" >"$TMP/eo_$f.mf"
    M=$TMP/eo_$f.mf
    check "$f experts-only: config format mixed-precision" grep -q '"format":[[:space:]]*"mixed-precision"' "$TMP/eo_$f/config.json"
    check "$f experts-only: a float-quantized group for the FP8 Linears" grep -q '"format":[[:space:]]*"float-quantized"' "$TMP/eo_$f/config.json"
    check "$f experts-only: attention FP8 weight keeps its bytes" same model.layers.1.self_attn.o_proj.weight "$M" model.layers.1.self_attn.o_proj.weight
    check "$f experts-only: its weight_scale_inv is now weight_scale, same bytes" \
        same model.layers.1.self_attn.o_proj.weight_scale_inv "$M" model.layers.1.self_attn.o_proj.weight_scale
    check "$f experts-only: shared expert stays FP8" same model.layers.1.mlp.shared_experts.up_proj.weight "$M" model.layers.1.mlp.shared_experts.up_proj.weight
    check "$f experts-only: dense MLP stays FP8" same model.layers.0.mlp.gate_proj.weight "$M" model.layers.0.mlp.gate_proj.weight
    check "$f experts-only: MTP layer as in the source (scale_inv name kept)" \
        same model.layers.2.mlp.experts.0.up_proj.weight_scale_inv "$M" model.layers.2.mlp.experts.0.up_proj.weight_scale_inv
    check "$f experts-only: routed experts quantized" grep -q '"model.layers.1.mlp.experts.5.down_proj.weight_packed"' "$M"
    check "$f experts-only: lm_head, router and MTP layer in ignore" bash -c \
        "grep -q '\"lm_head\"' '$TMP/eo_$f/config.json' && grep -q 'layers.1.mlp.gate\"' '$TMP/eo_$f/config.json' && grep -q 're:model\\\\\\\\.layers\\\\\\\\.2\\\\\\\\.' '$TMP/eo_$f/config.json'"
    check "$f experts-only: FP8 Linears not in ignore" bash -c "! grep -q '\"model.layers.1.self_attn.o_proj\",\$' <(sed -n '/\"ignore\"/,/]/p' '$TMP/eo_$f/config.json')"
    expect_rc "to-bf16 of experts-only $f runs" 0 "$DSCONV" to-bf16 "$TMP/eo_$f" "$TMP/d_$f" --quiet
    "$DSCONV" manifest "$TMP/d_$f" >"$TMP/d_$f.mf"
    check "to-bf16 of experts-only $f: main layers as compressed-tensors decompresses them" \
        "$TOOLS/mfsubset" --partial "$REF" "to_bf16_experts_only_$f" "$TMP/d_$f.mf"
done
expect_rc "--target sglang with --asym refused" 2 "$DSCONV" requant "$IN" "$TMP/x" --format int4 --asym --target sglang
expect_rc "--target sglang runs" 0 "$DSCONV" requant "$IN" "$TMP/sg" --format int4 --target sglang --quiet
check "--target sglang keeps q_a_proj and kv_a_proj_with_mqa unquantized" bash -c \
    "'$DSCONV' inspect '$TMP/sg' --tensors | grep -q 'layers.1.self_attn.q_a_proj.weight ' && '$DSCONV' inspect '$TMP/sg' --tensors | grep -q 'layers.1.self_attn.kv_a_proj_with_mqa.weight '"
check "--target sglang still quantizes o_proj" bash -c "'$DSCONV' inspect '$TMP/sg' --tensors | grep -q 'layers.1.self_attn.o_proj.weight_packed'"
expect_rc "bad --target" 2 "$DSCONV" requant "$IN" "$TMP/x" --target tgi
