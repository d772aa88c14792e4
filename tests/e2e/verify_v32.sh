# verify end to end on the v32-tiny fixture (DeepSeek-V3.2, DeepSeek Sparse
# Attention, index_topk 5 on sequences of 16, 12 and 4 tokens): logits within
# 1e-4 of transformers' float64 DeepseekV32 at every position, FP8 = its BF16
# conversion, dense attention (the indexer ignored) rejected, every weight
# taken from the read-ahead plan, a hostile config.json answered with exit 3.
V32=$DATA/v32-tiny
TOK=$V32/tokens.json
FP64=$V32/logits-hf-fp64-all.f32
DENSE=$V32/logits-dense-fp64-all.f32
V="$DSCONV verify"

expect_rc "verify v32-tiny FP8 passes" 0 $V "$V32/fp8"
expect_rc "V3.2 FP8 vs transformers float64 (1e-4 rel L2, every position)" 0 \
    $V "$V32/fp8" --tokens "$TOK" --against-logits "$FP64" --json "$TMP/fp64.json" --dump-logits "$TMP/fp8.f32"
check "JSON verdict pass" grep -q '"verdict":[[:space:]]*"pass"' "$TMP/fp64.json"
check "one entry per position (32)" test "$(grep -c '"sequence":' "$TMP/fp64.json")" = 32
expect_rc "V3.2 BF16 vs transformers float64" 0 $V "$V32/bf16" --tokens "$TOK" --against-logits "$FP64"
expect_rc "V3.2 FP8 vs its BF16 conversion: identical" 0 $V "$V32/fp8" --against "$V32/bf16" --tokens "$TOK"
check "reported bit-identical" grep -q "logits bit-identical" "$TMP/out"
expect_rc "fp8-to-bf16 of V3.2 (indexer included)" 0 "$DSCONV" fp8-to-bf16 "$V32/fp8" "$TMP/bf16" --quiet
expect_rc "dsconv's BF16 conversion vs the fixture's: identical" 0 $V "$TMP/bf16" --against "$V32/bf16"

for n in 2 4; do # the indexer replicated on every rank, as V3.2-Exp's convert.py writes it
    expect_rc "shard-for-mp V3.2 BF16 mp$n" 0 "$DSCONV" shard-for-mp "$V32/bf16" "$TMP/mp$n" --model-parallel $n --quiet
    expect_rc "V3.2 MP$n rank files vs FP8 input: identical" 0 $V "$TMP/mp$n" --against "$V32/fp8" --tokens "$TOK"
done

# the check has teeth: dense attention is not V3.2
expect_rc "V3.2 logits vs dense-attention logits: mismatch" 1 \
    $V "$V32/fp8" --tokens "$TOK" --against-logits "$DENSE"
mkdir -p "$TMP/as-v3"
ln -s "$V32"/bf16/*.safetensors "$V32/bf16/model.safetensors.index.json" "$TMP/as-v3/"
sed 's/"deepseek_v32"/"deepseek_v3"/' "$V32/bf16/config.json" >"$TMP/as-v3/config.json"
expect_rc "the weights as deepseek_v3: the indexer is unknown to that family, refused" 3 \
    $V "$TMP/as-v3" --tokens "$TOK" --against-logits "$DENSE"
expect_err "the refusal names the indexer" "self_attn.indexer"
expect_rc "... with --allow-unknown (indexer ignored) they compute the dense logits" 0 \
    $V "$TMP/as-v3" --allow-unknown --tokens "$TOK" --against-logits "$DENSE"
expect_rc "... which transformers' V3.2 logits reject" 1 $V "$TMP/as-v3" --allow-unknown --tokens "$TOK" --against-logits "$FP64"

echo '[[1, 2, 3, 4, 5], [6, 7]]' >"$TMP/short.json"
expect_rc "sequences no longer than index_topk: passes" 0 $V "$V32/fp8" --tokens "$TMP/short.json"
expect_err "... and says the selection was not exercised" "no sequence is longer than index_topk (5 tokens)"
expect_rc "the probe set (32 tokens) exercises it: no such note" 0 $V "$V32/fp8"
check "no note with the probe set" sh -c "! grep -q 'index_topk' '$TMP/err'"

# one step list: every weight taken from the plan, none read directly
expect_rc "profile on V3.2" 0 $V "$V32/fp8" --tokens "$TOK" --profile
expect_err "36 weights taken, 0 direct" "weights taken 36 (0 direct)"
expect_err "the indexer is timed" "sparse-attention indexer"
expect_rc "profile on dev-tiny" 0 $V "$DATA/dev-tiny/input" --tokens "$DATA/dev-tiny/expected.json" --profile
expect_err "42 weights taken, 0 direct" "weights taken 42 (0 direct)"

# config.json the indexer cannot run with, and sizes no model has: exit 3, named
for edit in 's/"index_head_dim": 32/"index_head_dim": 8/' 's/"q_lora_rank": 96/"q_lora_rank": null/' \
            's/"qk_rope_head_dim": 16/"qk_rope_head_dim": 1999999998/' 's/"index_topk": 5/"index_topk": 0/'; do
    rm -rf "$TMP/bad"; mkdir -p "$TMP/bad"
    ln -s "$V32"/fp8/*.safetensors "$V32/fp8/model.safetensors.index.json" "$TMP/bad/"
    sed "$edit" "$V32/fp8/config.json" >"$TMP/bad/config.json"
    expect_rc "config edit '$edit': exit 3" 3 $V "$TMP/bad"
    expect_err "config edit '$edit': config.json named" "config.json"
done
true
