# to-gguf's general.sampling.* keys (generation_config.json's temperature, top_p, top_k, ...)
# against what llama.cpp's own converter writes (tests/data/gguf-ref/sampling-*-q8_0.json, made
# by tests/tools/gguf_ref_sampling.sh from tests/data/gen-config/*.json).
M=$TMP/gs/Model
tiny_gguf_model "$M"
for g in deepseek-v3 all-keys; do
    cp "$DATA/gen-config/$g.json" "$M/generation_config.json"
    expect_rc "to-gguf with generation_config $g runs" 0 "$DSCONV" to-gguf "$M" "$TMP/gs-$g.gguf" --type q8_0 --quiet --no-sync
    check "generation_config $g: general.sampling.* = converter, byte for byte" \
        [ "$(filehash "$TMP/gs-$g.gguf")" = "$(refhash sampling-$g-q8_0)" ]
done
check "all-keys: min_p null left out" bash -c "! grep -q general.sampling.min_p '$TMP/gs-all-keys.gguf'"
check "all-keys: repetition_penalty written as penalty_repeat" grep -q general.sampling.penalty_repeat "$TMP/gs-all-keys.gguf"
check "deepseek-v3: top_p and temp only, in that order" \
    [ "$(grep -ao 'general\.sampling\.[a-z_]*' "$TMP/gs-deepseek-v3.gguf" | tr '\n' ' ')" = "general.sampling.top_p general.sampling.temp " ]
# not JSON: the converter ignores the file; so does dsconv (with a warning)
printf '{"temperature": 0.6,' > "$M/generation_config.json"
expect_rc "generation_config not JSON: runs" 0 "$DSCONV" to-gguf "$M" "$TMP/gs-bad.gguf" --type q8_0 --quiet --no-sync
check "generation_config not JSON: no sampling key" bash -c "! grep -q general.sampling '$TMP/gs-bad.gguf'"
expect_err "generation_config not JSON: warned" "generation_config.json: not valid JSON"
# values the converter cannot pack: exit 3 naming the file and key
echo '{"top_k": 40.5}' > "$M/generation_config.json"
expect_rc "top_k 40.5 (INT32): exit 3" 3 "$DSCONV" to-gguf "$M" "$TMP/gs-x.gguf" --type q8_0 --quiet
expect_err "top_k 40.5: names the key" '"top_k" is not an integer'
echo '{"temperature": "0.6"}' > "$M/generation_config.json"
expect_rc "temperature a string: exit 3" 3 "$DSCONV" to-gguf "$M" "$TMP/gs-x.gguf" --type q8_0 --quiet
check "refused: no output" [ ! -e "$TMP/gs-x.gguf" ]
