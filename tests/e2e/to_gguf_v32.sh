# to-gguf on DeepSeek-V3.2 (model_type deepseek_v32 -> llama.cpp architecture deepseek32) against
# what llama.cpp's own converter writes (tests/data/gguf-ref/v32-*.json, made by
# tests/tools/gguf_ref_v32.sh): the indexer's tensors (indexer.proj F32), the MTP layer as block
# L (nextn.*), deepseek32.nextn_predict_layers and attention.indexer.*.
M=$TMP/v32/Model
mkdir -p "$TMP/v32"
"$SAMPLE" --family v32 --out "$M" --quiet
cp "$DATA"/tok-tiny/tokenizer.json "$DATA"/tok-tiny/tokenizer_config.json "$M/"
for t in bf16 f16 q8_0; do
    expect_rc "v32 sample to-gguf --type $t (from FP8) runs" 0 "$DSCONV" to-gguf "$M" "$TMP/v32-$t.gguf" --type $t --quiet --no-sync
    check "v32 sample $t = convert_hf_to_gguf.py (DeepseekV32Model) on its BF16 conversion, byte for byte" \
        [ "$(filehash "$TMP/v32-$t.gguf")" = "$(refhash v32-sample-$t)" ]
done
# K-quants: llama-quantize --pure of the converter's BF16 file (which quantizes indexer.proj)
for t in q4_k q6_k; do
    expect_rc "v32 sample to-gguf --type $t runs" 0 "$DSCONV" to-gguf "$M" "$TMP/v32-$t.gguf" --type $t --quiet --no-sync
    check "v32 sample $t = llama-quantize --pure of the converter's BF16 file, byte for byte" \
        [ "$(filehash "$TMP/v32-$t.gguf")" = "$(refhash v32-sample-$t)" ]
    expect_rc "v32-tiny to-gguf --type $t runs" 0 "$DSCONV" to-gguf "$DATA/v32-tiny/fp8" "$TMP/v32t-$t.gguf" --type $t \
        --no-vocab --name Model --quiet --no-sync
    check "v32-tiny $t (indexer.proj on the Q5_0/Q8_0 fallback) = llama-quantize, byte for byte" \
        [ "$(filehash "$TMP/v32t-$t.gguf")" = "$(refhash v32-tiny-$t)" ]
done
expect_rc "v32 --dry-run" 0 "$DSCONV" to-gguf "$M" "$TMP/v32-dry.gguf" --type q8_0 --dry-run
cp "$TMP/out" "$TMP/v32-plan"
check "indexer.proj stays f32" grep -q 'blk.1.indexer.proj.weight *f32' "$TMP/v32-plan"
check "indexer.attn_k follows --type" grep -q 'blk.1.indexer.attn_k.weight *q8_0' "$TMP/v32-plan"
check "indexer.k_norm.bias f32" grep -q 'blk.0.indexer.k_norm.bias *f32' "$TMP/v32-plan"
check "MTP layer kept as blk.2 (nextn.eh_proj)" grep -q 'blk.2.nextn.eh_proj.weight *q8_0' "$TMP/v32-plan"
check "MTP experts stacked" grep -q 'blk.2.ffn_up_exps.weight' "$TMP/v32-plan"
check "architecture deepseek32, indexer keys" bash -c "grep -aq deepseek32.attention.indexer.top_k '$TMP/v32-q8_0.gguf' && grep -aq deepseek32.nextn_predict_layers '$TMP/v32-q8_0.gguf'"
# tests/data/v32-tiny (no MTP layer, no tokenizer), BF16 and FP8 inputs
expect_rc "v32-tiny BF16 to-gguf q8_0 --no-vocab runs" 0 "$DSCONV" to-gguf "$DATA/v32-tiny/bf16" "$TMP/v32t.gguf" --type q8_0 \
    --no-vocab --name Model --quiet --no-sync
check "v32-tiny = converter, byte for byte" [ "$(filehash "$TMP/v32t.gguf")" = "$(refhash v32-tiny-q8_0)" ]
expect_rc "v32-tiny FP8 to-gguf q8_0 --no-vocab runs" 0 "$DSCONV" to-gguf "$DATA/v32-tiny/fp8" "$TMP/v32t8.gguf" --type q8_0 \
    --no-vocab --name Model --quiet --no-sync
check "v32-tiny from FP8 = the same file" [ "$(filehash "$TMP/v32t8.gguf")" = "$(refhash v32-tiny-q8_0)" ]
# the converter's add_bos_token check (DeepseekV32Model.set_vocab)
sed -i 's/"add_bos_token": *true/"add_bos_token": false/' "$M/tokenizer_config.json"
expect_rc "v32 tokenizer without add_bos_token: exit 3" 3 "$DSCONV" to-gguf "$M" "$TMP/v32-nb.gguf" --type q8_0 --quiet
expect_err "names add_bos_token" "add_bos_token"
# an MTP tensor past num_nextn_predict_layers: refused
sed -i 's/"num_nextn_predict_layers":[[:space:]]*1/"num_nextn_predict_layers": 0/' "$M/config.json"
expect_rc "layer past num_nextn_predict_layers: exit 3" 3 "$DSCONV" to-gguf "$M" "$TMP/v32-x.gguf" --type q8_0 --no-vocab --quiet
check "refused: no output" [ ! -e "$TMP/v32-x.gguf" ]
