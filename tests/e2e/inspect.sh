# inspect.sh - dsconv inspect end to end (text, --json, --tensors) on the
# dev-tiny fixture and on generated samples, its errors, and the top-level
# command line (--help, --version, unknown command).
# Sourced by tests/run.sh with DSCONV, SAMPLE, DATA, TMP set (see lib.sh).

IN=$DATA/dev-tiny/input

# json_num FILE KEY: the first number given for "KEY" (inspect prints the
# summary keys before the nested by_dtype / shard_files objects).
json_num() { sed -n "s/^[[:space:]]*\"$2\":[[:space:]]*\\(-\\{0,1\\}[0-9][0-9]*\\).*/\\1/p" "$1" | head -n 1; }
# json_eq NAME FILE KEY VALUE: check that "KEY" is VALUE.
json_eq() {
    local got; got=$(json_num "$2" "$3")
    if [ "$got" = "$4" ]; then pass "$1"; else fail "$1" "\"$3\" is '$got', wanted $4"; fi
}
# index_pairs INDEX: "name file" lines of an index's weight_map, sorted.
index_pairs() {
    grep -oE '"[^"]+":[[:space:]]*"[^"]*\.safetensors"' "$1" |
        sed -E 's/^"([^"]+)":[[:space:]]*"([^"]+)"$/\1 \2/' | LC_ALL=C sort
}
# header_tensors FILE: the number of tensors in a .safetensors header, read
# directly (u64 little-endian length, then the JSON).
header_tensors() {
    local len; len=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    tail -c +9 "$1" | head -c "$len" | grep -o '"data_offsets"' | wc -l
}
# tensor_pairs TEXT: "name file" lines of inspect --tensors text output, sorted.
tensor_pairs() {
    grep -E '^[^ ].* (F8_E4M3|F8_E5M2|BF16|F16|F32|F64|I8|U8|I16|I32|I64|BOOL) +\[' "$1" |
        awk '{print $1, $NF}' | LC_ALL=C sort
}

# ---------------------------------------------------------------- dev-tiny, text
expect_rc "inspect dev-tiny (text) runs" 0 "$DSCONV" inspect "$IN"
cp "$TMP/out" "$TMP/text"
check "text: 169 tensors" grep -Eq '^tensors:[[:space:]]+169([^0-9]|$)' "$TMP/text"
check "text: 3 shards" grep -Eq '^shards:[[:space:]]+3$' "$TMP/text"
check "text: 2 main + 1 MTP layers" grep -Eq '^layers:.*[^0-9]2 main \+ 1 MTP' "$TMP/text"
check "text: 8 routed experts" grep -Eq '^routed experts:[[:space:]]+8([^0-9]|$)' "$TMP/text"
check "text: fp8 block 128x128" grep -Eq '^fp8 block:[[:space:]]+128x128([^0-9]|$)' "$TMP/text"
check "text: lists the 3 shard files" test "$(grep -cE '^ +model-0000[123]-of-00003\.safetensors +[0-9]+ tensors' "$TMP/text")" = 3
check "text: per-dtype counts (72 F8_E4M3)" grep -Eq '^ +F8_E4M3 +72 tensors' "$TMP/text"
check "text: no tensor list without --tensors" bash -c "! grep -q 'q_a_proj.weight' '$TMP/text'"

# ---------------------------------------------------------------- dev-tiny, JSON
expect_rc "inspect dev-tiny --json runs" 0 "$DSCONV" inspect "$IN" --json
cp "$TMP/out" "$TMP/j"
json_eq "json: tensors 169" "$TMP/j" tensors 169
json_eq "json: shards 3" "$TMP/j" shards 3
json_eq "json: main_layers 2" "$TMP/j" main_layers 2
json_eq "json: mtp_layers 1" "$TMP/j" mtp_layers 1
json_eq "json: routed_experts 8" "$TMP/j" routed_experts 8
json_eq "json: tensor_bytes = index total_size" "$TMP/j" tensor_bytes "$(json_num "$IN/model.safetensors.index.json" total_size)"
check "json: fp8_block_size [128, 128]" grep -Eq '"fp8_block_size":[[:space:]]*\[[[:space:]]*128,[[:space:]]*128[[:space:]]*\]' "$TMP/j"
check "json: starts with { and ends with }" bash -c "head -c 1 '$TMP/j' | grep -q '{' && tail -n 1 '$TMP/j' | grep -q '^}'"
check "json: no tensor_list without --tensors" bash -c "! grep -q tensor_list '$TMP/j'"
if command -v python3 >/dev/null 2>&1; then
    check "json: parses as JSON (python3)" python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$TMP/j"
else
    echo "note: python3 not found, so the JSON was checked by the greps above only"
fi

# ---------------------------------------------------------------- dev-tiny, --tensors
expect_rc "inspect --tensors runs" 0 "$DSCONV" inspect "$IN" --tensors
cp "$TMP/out" "$TMP/t"
check "--tensors: q_a_proj weight with dtype, shape, file" grep -Eq \
    '^model\.layers\.0\.self_attn\.q_a_proj\.weight +F8_E4M3 +\[192, 256\] +model-00001-of-00003\.safetensors$' "$TMP/t"
check "--tensors: its scale [2, 2] F32" grep -Eq \
    '^model\.layers\.0\.self_attn\.q_a_proj\.weight_scale_inv +F32 +\[2, 2\] +model-00001-of-00003\.safetensors$' "$TMP/t"
check "--tensors: MTP shared_head in shard 3" grep -Eq \
    '^model\.layers\.2\.shared_head\.head\.weight +BF16 +\[1024, 256\] +model-00003-of-00003\.safetensors$' "$TMP/t"
index_pairs "$IN/model.safetensors.index.json" >"$TMP/idx.pairs"
tensor_pairs "$TMP/t" >"$TMP/t.pairs"
check "--tensors: 169 tensor lines" test "$(wc -l <"$TMP/t.pairs")" -eq 169
check "--tensors: every tensor with the file the index names" cmp -s "$TMP/idx.pairs" "$TMP/t.pairs"
expect_rc "inspect --tensors --json runs" 0 "$DSCONV" inspect "$IN" --tensors --json
tr -d ' \t\n' <"$TMP/out" >"$TMP/tj"
check "--tensors --json: an entry with name, dtype, shape, file" grep -q \
    '{"name":"model.layers.0.self_attn.q_a_proj.weight","dtype":"F8_E4M3","shape":\[192,256\],"file":"model-00001-of-00003.safetensors"}' "$TMP/tj"
check "--tensors --json: 169 entries" test "$(grep -o '{"name":' "$TMP/tj" | wc -l)" -eq 169

# ---------------------------------------------------------------- one shard file
expect_rc "inspect one shard file" 0 "$DSCONV" inspect "$IN/model-00001-of-00003.safetensors" --json
json_eq "one shard: 69 tensors (its header)" "$TMP/out" tensors 69
json_eq "one shard: 1 shard" "$TMP/out" shards 1

# ---------------------------------------------------------------- malformed inputs
mkdir -p "$TMP/bad"
printf '\x10\x00\x00\x00\x00\x00\x00\x00{"w": [1, 2, 3' >"$TMP/bad/model.safetensors"
expect_rc "malformed file exits 3" 3 "$DSCONV" inspect "$TMP/bad/model.safetensors"
expect_err "malformed file is named" "$TMP/bad/model.safetensors"
expect_rc "directory with a malformed file exits 3" 3 "$DSCONV" inspect "$TMP/bad"
expect_err "directory: the file is named" "model.safetensors"

# A header that parses but breaks a rule: the tensor is named too.
printf '\x40\x00\x00\x00\x00\x00\x00\x00{"w.span":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}      ' \
    >"$TMP/bad/span.safetensors"
head -c 8 /dev/zero >>"$TMP/bad/span.safetensors"
expect_rc "bad span exits 3" 3 "$DSCONV" inspect "$TMP/bad/span.safetensors"
expect_err "bad span: file named" "span.safetensors"
expect_err "bad span: tensor named" "w.span"

# A copy of dev-tiny with one shard cut short.
mkdir -p "$TMP/cut"
cp "$IN"/* "$TMP/cut/"
truncate -s 5000 "$TMP/cut/model-00002-of-00003.safetensors"
expect_rc "truncated shard exits 3" 3 "$DSCONV" inspect "$TMP/cut"
expect_err "truncated shard is named" "model-00002-of-00003.safetensors"

# A copy whose index forgets one tensor.
mkdir -p "$TMP/noidx"
cp "$IN"/* "$TMP/noidx/"
grep -v '"model.layers.1.mlp.gate.weight"' "$IN/model.safetensors.index.json" >"$TMP/noidx/model.safetensors.index.json"
check "the edited index lost one line" test "$(wc -l <"$TMP/noidx/model.safetensors.index.json")" -eq \
    "$(($(wc -l <"$IN/model.safetensors.index.json") - 1))"
expect_rc "tensor missing from the index exits 3" 3 "$DSCONV" inspect "$TMP/noidx"
expect_err "the missing tensor is named" "model.layers.1.mlp.gate.weight"
expect_err "the index is named" "model.safetensors.index.json"

expect_rc "inspect of a missing path exits 3" 3 "$DSCONV" inspect "$TMP/does-not-exist"
expect_err "missing path is named" "$TMP/does-not-exist"

# ---------------------------------------------------------------- usage
expect_rc "inspect with no args exits 2" 2 "$DSCONV" inspect
expect_rc "inspect with two paths exits 2" 2 "$DSCONV" inspect "$IN" "$IN"
expect_rc "inspect with an unknown option exits 2" 2 "$DSCONV" inspect "$IN" --no-such-option
expect_rc "inspect --help exits 0" 0 "$DSCONV" inspect --help
check "inspect --help shows --tensors and --json" bash -c "grep -q -- --tensors '$TMP/out' && grep -q -- --json '$TMP/out'"

expect_rc "dsconv --help exits 0" 0 "$DSCONV" --help
cmds="fp8-to-bf16 shard-for-mp strip-mtp requant verify inspect manifest finish to-gguf to-bf16"
for c in $cmds; do
    check "dsconv --help lists $c" grep -Eq "^ +$c +[a-zA-Z]" "$TMP/out"
done
check "dsconv --help lists exactly the $(echo $cmds | wc -w) commands" \
    test "$(grep -cE '^  [a-z0-9-]+ {2,}[a-zA-Z]' "$TMP/out")" -eq "$(echo $cmds | wc -w)"
expect_rc "dsconv --version exits 0" 0 "$DSCONV" --version
check "dsconv --version prints a version" grep -Eq '^dsconv [0-9]+\.[0-9]+' "$TMP/out"
expect_rc "dsconv nosuchcmd exits 2" 2 "$DSCONV" nosuchcmd
expect_err "unknown command is named" "nosuchcmd"
expect_rc "dsconv with no args exits 2" 2 "$DSCONV"

# ---------------------------------------------------------------- generated samples
# The facts inspect reports must agree with what the generator wrote (its
# config.json and index), for the default sample and two variants.
# sample_case TAG DIR WANT_SHARDS WANT_BLOCK(128 or none) -- SAMPLE-ARGS...
sample_case() {
    local tag=$1 dir=$2 shards=$3 block=$4; shift 5
    expect_rc "$tag: generated" 0 "$SAMPLE" --out "$dir" --quiet "$@"
    expect_rc "$tag: inspect --json" 0 "$DSCONV" inspect "$dir" --json
    cp "$TMP/out" "$TMP/sj"
    local layers mtp experts n
    layers=$(json_num "$dir/config.json" num_hidden_layers)
    mtp=$(json_num "$dir/config.json" num_nextn_predict_layers)
    experts=$(json_num "$dir/config.json" n_routed_experts)
    if [ -f "$dir/model.safetensors.index.json" ]; then
        n=$(index_pairs "$dir/model.safetensors.index.json" | wc -l)
    else
        n=$(header_tensors "$dir/model.safetensors")
    fi
    json_eq "$tag: tensors = the $n the generator wrote" "$TMP/sj" tensors "$n"
    json_eq "$tag: shards $shards" "$TMP/sj" shards "$shards"
    json_eq "$tag: main_layers = config's $layers" "$TMP/sj" main_layers "$layers"
    json_eq "$tag: mtp_layers = config's $mtp" "$TMP/sj" mtp_layers "$mtp"
    json_eq "$tag: routed_experts = config's $experts" "$TMP/sj" routed_experts "$experts"
    if [ "$block" = none ]; then
        check "$tag: no fp8 block" grep -Eq '"fp8_block_size":[[:space:]]*\[\]' "$TMP/sj"
    else
        check "$tag: fp8 block ${block}x$block" grep -Eq \
            "\"fp8_block_size\":[[:space:]]*\\[[[:space:]]*$block,[[:space:]]*$block[[:space:]]*\\]" "$TMP/sj"
    fi
    if [ -f "$dir/model.safetensors.index.json" ]; then
        expect_rc "$tag: inspect --tensors" 0 "$DSCONV" inspect "$dir" --tensors
        index_pairs "$dir/model.safetensors.index.json" >"$TMP/sidx"
        tensor_pairs "$TMP/out" >"$TMP/stp"
        check "$tag: every tensor with the file the index names" cmp -s "$TMP/sidx" "$TMP/stp"
    fi
}
if [ -x "$SAMPLE" ]; then
    sample_case "sample default" "$TMP/s" 3 128 --
    check "sample default: 2 main + 1 MTP + 8 experts as documented" test \
        "$(json_num "$TMP/sj" main_layers)/$(json_num "$TMP/sj" mtp_layers)/$(json_num "$TMP/sj" routed_experts)" = 2/1/8
    sample_case "sample 4 experts no MTP" "$TMP/s4" 2 128 -- --experts 4 --groups 2 --topk-groups 1 --topk 2 --mtp 0 \
        --layers 3 --shards 2
    sample_case "sample bf16 single file" "$TMP/sb" 1 none -- --bf16 --single-file
else
    fail "sample generator" "$SAMPLE is not built (make bin/dsconv-sample)"
fi
