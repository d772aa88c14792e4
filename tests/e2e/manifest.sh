# manifest.sh - manifests (issue 7): `dsconv manifest CKPT` (XXH3-128 of every file
# and tensor), --manifest FILE on a writing command (the same, made while writing),
# and `dsconv verify CKPT --manifest FILE` (exit 1 naming what differs).
# Manifests are compared as JSON values ($TOOLS/jsoneq: member order free).
IN=$DATA/dev-tiny/input

# same_tensor_count CKPT MANIFEST: the index maps as many tensors as the manifest hashes
same_tensor_count() {
    local n m
    n=$(grep -c '"model\.[^"]*":[[:space:]]*"model-' "$1/model.safetensors.index.json")
    m=$(grep -c '"model\.[^"]*":[[:space:]]*"[0-9a-f]\{32\}"' "$2")
    [ "$n" -gt 0 ] && [ "$n" = "$m" ]
}

if ! "$DSCONV" manifest --help >/dev/null 2>&1; then
    echo "NOT RUN manifest: 'dsconv manifest' is not built yet (--help fails); re-run when it lands"
else
    expect_rc "manifest of dev-tiny" 0 "$DSCONV" manifest "$IN" -o "$TMP/m1.json"
    expect_rc "manifest of dev-tiny again (stdout)" 0 "$DSCONV" manifest "$IN"
    cp "$TMP/out" "$TMP/m2.json"
    check "manifest is stable across runs (byte-identical)" cmp -s "$TMP/m1.json" "$TMP/m2.json"
    for f in "$IN"/*; do
        check "manifest lists $(basename "$f")" grep -qF "\"$(basename "$f")\"" "$TMP/m1.json"
    done
    check "manifest lists every tensor of the index (as many 128-bit hashes)" same_tensor_count "$IN" "$TMP/m1.json"
    sed 's/"[0-9a-f]\{32\}"/"00000000000000000000000000000000"/' "$TMP/m1.json" >"$TMP/m0.json"
    check "jsoneq tells different manifests apart" bash -c "! '$TOOLS/jsoneq' '$TMP/m1.json' '$TMP/m0.json' >/dev/null"

    # --manifest while writing = dsconv manifest of the result (no second read needed)
    OUT=$TMP/bf16
    expect_rc "fp8-to-bf16 --manifest" 0 "$DSCONV" fp8-to-bf16 "$IN" "$OUT" --manifest "$TMP/w.json" --quiet
    expect_rc "manifest of the fp8-to-bf16 output" 0 "$DSCONV" manifest "$OUT" -o "$TMP/o.json"
    check "fp8-to-bf16 --manifest equals dsconv manifest of the output" "$TOOLS/jsoneq" "$TMP/w.json" "$TMP/o.json"
    expect_rc "shard-for-mp --manifest" 0 "$DSCONV" shard-for-mp "$IN" "$TMP/mp2" --model-parallel 2 \
        --manifest "$TMP/wmp.json" --quiet
    expect_rc "manifest of the shard-for-mp output" 0 "$DSCONV" manifest "$TMP/mp2" -o "$TMP/omp.json"
    check "shard-for-mp --manifest equals dsconv manifest of the output" "$TOOLS/jsoneq" "$TMP/wmp.json" "$TMP/omp.json"
    # A resumed run's manifest covers the kept files too.
    rm "$OUT/model-00002-of-00003.safetensors" "$OUT/model.safetensors.index.json"
    expect_rc "fp8-to-bf16 --resume --manifest" 0 "$DSCONV" fp8-to-bf16 "$IN" "$OUT" --resume --manifest "$TMP/r.json" --quiet
    check "--resume --manifest equals the uninterrupted run's" "$TOOLS/jsoneq" "$TMP/w.json" "$TMP/r.json"

    # verify --manifest: the intact copy passes; one flipped byte is found and named.
    "$DSCONV" verify "$OUT" --manifest "$TMP/w.json" >"$TMP/out" 2>"$TMP/err"; rc=$?
    if [ $rc = 2 ] && grep -q "not available" "$TMP/err"; then
        echo "NOT RUN verify --manifest: $(head -1 "$TMP/err")"
    else
        check "verify --manifest of the intact output: exit 0" test "$rc" = 0
        what=$("$TOOLS/mkbad" "$OUT" "$TMP/flipped" flip-byte --shard model-00002-of-00003.safetensors)
        tensor=${what#*$'\t'}
        expect_rc "verify --manifest with one flipped byte: exit 1" 1 "$DSCONV" verify "$TMP/flipped" --manifest "$TMP/w.json"
        expect_err "verify --manifest names the tensor ($tensor)" "$tensor"
        expect_err "verify --manifest names the file" "model-00002-of-00003.safetensors"
        check "verify --manifest names only that tensor" test "$(grep -c 'tensor .*differ' "$TMP/err")" = 1
        # a damaged manifest is invalid input (3), whatever is wrong with it
        echo 'not json' >"$TMP/bad1.json"
        echo '{"format": "something-else", "files": {}}' >"$TMP/bad2.json"
        echo '{"format": "dsconv-manifest-1", "hash": "xxh3-128", "files": {".": {"size": 1, "xxh3_128": "00"}}}' >"$TMP/bad3.json"
        expect_rc "verify --manifest FILE that is not JSON: exit 3" 3 "$DSCONV" verify "$OUT" --manifest "$TMP/bad1.json"
        expect_rc "verify --manifest FILE of another format: exit 3" 3 "$DSCONV" verify "$OUT" --manifest "$TMP/bad2.json"
        expect_rc "verify --manifest FILE naming a directory as a file: exit 3" 3 "$DSCONV" verify "$OUT" --manifest "$TMP/bad3.json"
        rm "$TMP/flipped/tokenizer_config.json"
        expect_rc "verify --manifest with a file missing: exit 1" 1 "$DSCONV" verify "$TMP/flipped" --manifest "$TMP/w.json"
        expect_err "verify --manifest names the missing file" "tokenizer_config.json"
    fi
fi
rm -rf "$TMP/bf16" "$TMP/mp2" "$TMP/flipped"
