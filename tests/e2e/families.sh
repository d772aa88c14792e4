# Every family of the V3 format (formats/schema.c) through every command, on
# dsconv-sample --family checkpoints, byte for byte against what the upstream
# scripts wrote from the same samples (tests/data/families/F.json, made by
# tests/tools/family_refs.py: DeepSeek-V3's fp8_cast_bf16.py and convert.py,
# DeepSeek-V3.2-Exp's convert.py for v32), and verify's logits against
# transformers' float64 ones (F-logits-fp64.f32, tests/tools/family_logits.py).
REF=$DATA/families
G=$TOOLS/golden
TOK=$TMP/tokens.json # one short sequence (longer than v32's index_topk 8): the forward passes stay cheap
echo '[[5, 17, 3, 250, 99, 1000, 42, 7, 600, 12, 1, 900]]' >"$TOK"

for f in v3 v32 kimi kimi-thinking terminus moonlight; do
    J=$REF/$f.json
    D=$TMP/$f
    "$SAMPLE" --family $f --out "$D/in" --quiet
    check "$f: sample has the tensors the reference was made from" "$G" "$J" input "$D/in"
    expect_rc "$f: strip-mtp" 0 "$DSCONV" strip-mtp "$D/in" "$D/nomtp" --quiet
    check "$f: strip-mtp = reference" "$G" "$J" strip_mtp "$D/nomtp"
    src=src
    if grep -q '"fp8_to_bf16"' "$J"; then
        src=fp8
        expect_rc "$f: fp8-to-bf16" 0 "$DSCONV" fp8-to-bf16 "$D/nomtp" "$D/bf16" --quiet
        check "$f: fp8-to-bf16 = fp8_cast_bf16.py" "$G" "$J" fp8_to_bf16 "$D/bf16"
    fi
    for n in 1 2 4; do
        if grep -q "\"$src-mp$n\"" "$J"; then
            expect_rc "$f: shard-for-mp $src mp$n" 0 "$DSCONV" shard-for-mp "$D/nomtp" "$D/$src-mp$n" --model-parallel $n --quiet
            check "$f: shard-for-mp $src mp$n = convert.py" "$G" "$J" model_parallel $src-mp$n "$D/$src-mp$n"
        else
            expect_rc "$f: shard-for-mp $src mp$n refused as convert.py refuses it" 3 "$DSCONV" shard-for-mp "$D/nomtp" "$D/$src-mp$n" --model-parallel $n
        fi
        [ $src = fp8 ] || continue
        expect_rc "$f: shard-for-mp bf16 mp$n" 0 "$DSCONV" shard-for-mp "$D/bf16" "$D/bf16-mp$n" --model-parallel $n --quiet
        check "$f: shard-for-mp bf16 mp$n = convert.py" "$G" "$J" model_parallel bf16-mp$n "$D/bf16-mp$n"
        expect_rc "$f: shard-for-mp --dtype bf16 mp$n" 0 "$DSCONV" shard-for-mp "$D/nomtp" "$D/d-mp$n" --model-parallel $n --dtype bf16 --quiet
        check "$f: --dtype bf16 mp$n = fp8_cast_bf16.py then convert.py" "$G" "$J" model_parallel bf16-mp$n "$D/d-mp$n"
    done
    mt=$(grep -o '"model_type":[[:space:]]*"[a-z0-9_]*"' "$D/in/config.json" | grep -o '"[a-z0-9_]*"$' | tr -d '"')
    expect_rc "$f: inspect --json" 0 "$DSCONV" inspect "$D/in" --json
    check "$f: inspect names the family $mt" grep -q "\"family\":[[:space:]]*\"$mt\"" "$TMP/out"
    check "$f: inspect knows every tensor" grep -q '"unknown_tensors":[[:space:]]*0' "$TMP/out"
    check "$f: shard-for-mp keeps model_type" grep -q "\"model_type\":[[:space:]]*\"$mt\"" "$D/$src-mp1/config.json"
    if [ -e "$REF/$f-logits-fp64.f32" ]; then
        expect_rc "$f: verify: logits within 1e-4 rel L2 of transformers float64 (tests/tools/family_logits.py)" 0 \
            "$DSCONV" verify "$D/in" --tokens "$TOK" --against-logits "$REF/$f-logits-fp64.f32" --json "$D/v.json"
    else
        expect_rc "$f: verify (structure and forward)" 0 "$DSCONV" verify "$D/in" --tokens "$TOK" --json "$D/v.json"
    fi
done

# kimi: its config's rope_theta and YaRN betas are what the logits above need (not V3's defaults)
mkdir -p "$TMP/kimi-v3rope" && ln -s "$TMP"/kimi/in/*.safetensors "$TMP/kimi/in/model.safetensors.index.json" "$TMP/kimi-v3rope/"
sed -e 's/"rope_theta":[[:space:]]*50000/"rope_theta": 10000/' "$TMP/kimi/in/config.json" >"$TMP/kimi-v3rope/config.json"
expect_rc "kimi with V3's rope_theta misses transformers' logits" 1 \
    "$DSCONV" verify "$TMP/kimi-v3rope" --tokens "$TOK" --against-logits "$REF/kimi-logits-fp64.f32"

# kimi-thinking: routed experts in compressed-tensors pack-quantized INT4 (group 32). The loop above holds
# verify on the INT4 checkpoint to transformers' float64 logits of compressed-tensors' own decompression
# (family_logits.py); its to-bf16 output gives bit-identical logits, and so lands as close.
KT=$TMP/kimi-thinking
expect_rc "kimi-thinking: to-bf16" 0 "$DSCONV" to-bf16 "$KT/in" "$KT/bf16" --quiet
check "kimi-thinking: to-bf16 leaves no compressed-tensors part" bash -c \
    "'$DSCONV' inspect '$KT/bf16' --tensors >'$KT/t.txt' && grep -q 'experts.0.down_proj.weight *BF16' '$KT/t.txt' && ! grep -q weight_packed '$KT/t.txt'"
expect_rc "kimi-thinking: verify INT4 and its to-bf16 output: logits bit-identical" 0 \
    "$DSCONV" verify "$KT/bf16" --against "$KT/in" --tokens "$TOK" --expect identical
expect_rc "kimi-thinking: to-bf16 output within 1e-4 rel L2 of transformers float64" 0 \
    "$DSCONV" verify "$KT/bf16" --tokens "$TOK" --against-logits "$REF/kimi-thinking-logits-fp64.f32"
# shard-for-mp copies each INT4 expert whole into its rank; verify reads those compressed-tensors parts there
expect_rc "kimi-thinking: verify mp2 rank files (INT4 experts) vs the HF source: bit-identical" 0 \
    "$DSCONV" verify "$KT/src-mp2" --against "$KT/in" --tokens "$TOK" --expect identical
check "kimi-thinking: the rank files are reported int4" grep -q "(mp2 int4)" "$TMP/out"
expect_rc "kimi-thinking: verify mp4 rank files within 1e-4 of transformers float64" 0 \
    "$DSCONV" verify "$KT/src-mp4" --tokens "$TOK" --against-logits "$REF/kimi-thinking-logits-fp64.f32"
# a compressed-tensors weight convert.py splits (requant's INT4 attention) is refused, with the way out
expect_rc "kimi: requant int4" 0 "$DSCONV" requant "$TMP/kimi/in" "$TMP/kimi/q4" --bits 4 --quiet
expect_rc "shard-for-mp refuses a compressed-tensors weight it would split" 3 \
    "$DSCONV" shard-for-mp "$TMP/kimi/q4" "$TMP/kimi/q4-mp2" --model-parallel 2
expect_err "naming the tensor and the way out" "self_attn.kv_b_proj.weight_packed: a compressed-tensors weight that convert.py splits over ranks (dimension 0) cannot be split in that form; run \`dsconv to-bf16\` first"
check "and writes nothing" test ! -e "$TMP/kimi/q4-mp2/model0-mp2.safetensors"
expect_rc "shard-for-mp of its to-bf16 output" 0 "$DSCONV" to-bf16 "$TMP/kimi/q4" "$TMP/kimi/q4-bf16" --quiet
expect_rc "... then shards" 0 "$DSCONV" shard-for-mp "$TMP/kimi/q4-bf16" "$TMP/kimi/q4b-mp2" --model-parallel 2 --quiet

# v32: the indexer is replicated on every rank, as V3.2-Exp's convert.py writes it
check "v32: indexer wq_b and its scale on rank 1 of 2" bash -c \
    "'$DSCONV' inspect '$TMP/v32/fp8-mp2' --tensors | grep -q 'layers.1.attn.indexer.wq_b.scale .*model1-mp2'"
expect_rc "v32: inspect shows the indexer" 0 "$DSCONV" inspect "$TMP/v32/in"
check "v32: indexer trait" grep -q "indexer:        4 heads x 64, top-8" "$TMP/out"
# requant: the indexer stays BF16 and is named in ignore
expect_rc "v32: requant int4" 0 "$DSCONV" requant "$TMP/v32/in" "$TMP/v32/q4" --bits 4 --quiet
for m in wq_b wk weights_proj; do
    check "v32: requant ignore names indexer.$m" grep -q "\"model.layers.1.self_attn.indexer.$m\"" "$TMP/v32/q4/config.json"
    check "v32: requant keeps indexer.$m BF16" bash -c \
        "'$DSCONV' inspect '$TMP/v32/q4' --tensors | grep -q 'model.layers.0.self_attn.indexer.$m.weight *BF16'"
done
check "v32: requant quantizes the attention" bash -c "'$DSCONV' inspect '$TMP/v32/q4' --tensors | grep -q 'layers.0.self_attn.o_proj.weight_packed'"
expect_rc "v32: requant output passes verify's structure check" 0 "$DSCONV" verify "$TMP/v32/q4" --tokens "$TOK"
for f in kimi terminus moonlight; do
    expect_rc "$f: requant int8" 0 "$DSCONV" requant "$TMP/$f/in" "$TMP/$f/q8" --bits 8 --quiet
    [ $f = terminus ] && continue # same path as v3 in verify; kept short
    expect_rc "$f: requant output verifies against its source" 0 "$DSCONV" verify "$TMP/$f/q8" --against "$TMP/$f/in" --tokens "$TOK"
done
check "kimi: requant keeps model_type kimi_k2" grep -q '"model_type":[[:space:]]*"kimi_k2"' "$TMP/kimi/q8/config.json"
expect_rc "kimi-thinking: requant refuses INT4 input" 3 "$DSCONV" requant "$TMP/kimi-thinking/in" "$TMP/kt-q" --bits 4
expect_err "the refusal says what to do" "to-bf16"
check "moonlight: q_proj becomes wq split by rows" bash -c \
    "'$DSCONV' inspect '$TMP/moonlight/src-mp2' --tensors | grep -q 'layers.0.attn.wq.weight *BF16 *\\[512, 256\\]'"

# model_type the schema does not know: every command that needs the architecture refuses, naming it
cp -r "$TMP/v3/nomtp" "$TMP/v4"
sed -i 's/"model_type":[[:space:]]*"deepseek_v3"/"model_type": "deepseek_v4"/' "$TMP/v4/config.json"
for c in "strip-mtp $TMP/v4 $TMP/v4o1" "shard-for-mp $TMP/v4 $TMP/v4o2 --model-parallel 2" \
         "requant $TMP/v4 $TMP/v4o3 --bits 4" "verify $TMP/v4"; do
    expect_rc "deepseek_v4 refused: ${c%% *}" 3 "$DSCONV" $c
    expect_err "${c%% *} names the model_type and the supported ones" 'deepseek_v4" is not supported (supported: deepseek_v3, deepseek_v32, kimi_k2)'
done
expect_rc "inspect still describes an unsupported model" 0 "$DSCONV" inspect "$TMP/v4"
check "inspect says unsupported" grep -q "unsupported: model_type" "$TMP/out"

# tensors the schema does not know (V3.2's indexer in a checkpoint that says deepseek_v3): verify
# refuses them unless --allow-unknown, which lists them; shard-for-mp refuses them as convert.py does
cp -r "$TMP/v32/nomtp" "$TMP/unk"
sed -i 's/"model_type":[[:space:]]*"deepseek_v32"/"model_type": "deepseek_v3"/' "$TMP/unk/config.json"
expect_rc "unknown tensors: verify refuses" 3 "$DSCONV" verify "$TMP/unk" --tokens "$TOK"
expect_err "the refusal names them" "self_attn.indexer"
expect_err "the refusal names the way out" "--allow-unknown"
expect_rc "unknown tensors: verify --allow-unknown" 0 "$DSCONV" verify "$TMP/unk" --allow-unknown --tokens "$TOK" --json "$TMP/unk.json"
check "the report lists them" grep -q "unknown tensors allowed (first: model.layers.0.self_attn.indexer" "$TMP/out"
check "--json counts them (7 indexer tensors in each of 2 layers)" grep -q '"unknown":[[:space:]]*14' "$TMP/unk.json"
expect_rc "unknown tensors: shard-for-mp refuses" 3 "$DSCONV" shard-for-mp "$TMP/unk" "$TMP/unk-mp" --model-parallel 2
expect_err "naming the tensor" "indexer"
# MTP layers: known, not run, reported as such
expect_rc "verify with an MTP layer" 0 "$DSCONV" verify "$TMP/v32/in" --tokens "$TOK" --json "$TMP/mtp.json"
check "MTP tensors reported as not run" grep -q "tensors not run (1 MTP layer)" "$TMP/out"
check "--json counts them" grep -q '"mtp_layers":[[:space:]]*1' "$TMP/mtp.json"
