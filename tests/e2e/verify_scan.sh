# verify_scan.sh - verify reads a checkpoint once (issue 17): the values are
# tested on the bytes the forward pass's readers bring in, and the tensors the
# pass does not read (routed experts the router did not choose, MTP layers,
# embedding, norms) are scanned by the same readers. A damage anywhere still
# exits 3 naming file and tensor before any verdict, and every stored weight
# byte is counted exactly once (tests/tools/stored_bytes.py made the totals).
IN=$DATA/dev-tiny/input
V="$DSCONV verify"
FP8_BYTES=7658432    # python3 tests/tools/stored_bytes.py tests/data/dev-tiny/input
BF16_BYTES=12942272  # the same for dsconv fp8-to-bf16 of it

st_offset() { # FILE TENSOR -> absolute offset of the tensor's data
    local hl begin
    hl=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    begin=$(head -c $((8 + hl)) "$1" | tail -c "$hl" | grep -o "\"$2\":{[^}]*}" | grep -o 'data_offsets":\[[0-9]*' | grep -o '[0-9]*$')
    [ -n "$begin" ] && echo $((8 + hl + begin))
}
shard_of() { grep -o "\"$2\": *\"[^\"]*\"" "$1/model.safetensors.index.json" | sed 's/.*: *"//; s/"$//'; }
# put DIR TENSOR BYTE_OFFSET HEXBYTES: writes bytes (e.g. '\xff\x7f') into the tensor's data
put() {
    local f=$1/$(shard_of "$1" "$2")
    printf "$4" | dd of="$f" bs=1 seek=$(($(st_offset "$f" "$2") + $3)) conv=notrunc status=none
}
fresh() { rm -rf "$TMP/$1"; cp -r "$IN" "$TMP/$1"; }
num() { grep -o "\"$2\":[[:space:]]*[-0-9.e+]*" "$1" | sed -n "${3:-1}p" | grep -o '[-0-9.e+]*$'; }
read_once() { # NAME JSON SIDE(1 ckpt, 2 ref) TOTAL
    local a b
    a=$(num "$2" bytes_in_stream "$3") b=$(num "$2" bytes_scan_only "$3")
    if [ -n "$a" ] && [ -n "$b" ] && [ $((a + b)) = "$4" ]; then pass "$1"
    else fail "$1" "in stream ${a:-?} + scan only ${b:-?} != $4"; fi
}
echo '[[5]]' >"$TMP/one.json" # one token: 2 of the 8 experts of layer 1 are routed

# --- a clean checkpoint: every weight byte read once ---
expect_rc "one-token verify passes" 0 $V "$IN" --tokens "$TMP/one.json" --json "$TMP/ok.json"
read_once "every stored weight byte tested once (FP8)" "$TMP/ok.json" 1 $FP8_BYTES
check "MTP layer scanned (44 tensors)" test "$(num "$TMP/ok.json" mtp_tensors)" = 44
check "unrouted experts scanned only" test "$(num "$TMP/ok.json" tensors_scan_only)" -ge $((6 * 3 + 44))
check "report says read once" grep -q "read once: .* MTP included" "$TMP/out"

# --- NaN in every expert of layer 1: the 6 unrouted ones too ---
fresh experts
for e in 0 1 2 3 4 5 6 7; do put "$TMP/experts" "model.layers.1.mlp.experts.$e.down_proj.weight" $((7 * 256 + 3)) '\x7f'; done
expect_rc "NaN in unrouted experts: exit 3" 3 \
    $V "$TMP/experts" --tokens "$TMP/one.json" --json "$TMP/experts.json" --dump-logits "$TMP/experts.f32"
n=0
for e in 0 1 2 3 4 5 6 7; do
    grep -qF "$(shard_of "$IN" "model.layers.1.mlp.experts.$e.down_proj.weight"): tensor model.layers.1.mlp.experts.$e.down_proj.weight: row 7, column 3 is NaN" "$TMP/err" && n=$((n + 1))
done
check "all 8 experts named with file, row and column (6 never routed)" test $n = 8
check "structural failure is the verdict" grep -q '"verdict":[[:space:]]*"structural failure"' "$TMP/experts.json"
check "no logits written before the scan finished" test ! -e "$TMP/experts.f32"
read_once "bytes still counted once with damage" "$TMP/experts.json" 1 $FP8_BYTES

# --- MTP layer: never read by the forward pass, still scanned ---
fresh mtp
put "$TMP/mtp" model.layers.2.eh_proj.weight $(((3 * 512 + 5) * 2)) '\xff\xff'
expect_rc "NaN in an MTP tensor: exit 3" 3 $V "$TMP/mtp" --json "$TMP/mtp.json"
expect_err "MTP NaN named" "model-00002-of-00003.safetensors: tensor model.layers.2.eh_proj.weight: row 3, column 5 is NaN"
read_once "MTP damage: bytes counted once" "$TMP/mtp.json" 1 $FP8_BYTES
fresh mtpinf
put "$TMP/mtpinf" model.layers.2.embed_tokens.weight $(((1000 * 256 + 17) * 2)) '\x80\xff'
expect_rc "-Inf in the MTP embedding: exit 3" 3 $V "$TMP/mtpinf"
expect_err "MTP -Inf named" "tensor model.layers.2.embed_tokens.weight: row 1000, column 17 is infinite"
fresh mtpexp
put "$TMP/mtpexp" model.layers.2.mlp.experts.6.gate_proj.weight 0 '\xff'
expect_rc "NaN in an MTP expert: exit 3" 3 $V "$TMP/mtpexp"
expect_err "MTP expert NaN named" "tensor model.layers.2.mlp.experts.6.gate_proj.weight: row 0, column 0 is NaN"

# --- scales: finite and positive, unrouted and MTP ones included ---
fresh negscale
put "$TMP/negscale" model.layers.1.mlp.experts.5.up_proj.weight_scale_inv 4 '\x00\x00\x80\xbf' # [0][1] = -1
expect_rc "negative scale of an expert: exit 3" 3 $V "$TMP/negscale" --tokens "$TMP/one.json"
expect_err "negative scale named" "tensor model.layers.1.mlp.experts.5.up_proj.weight_scale_inv: row 0, column 1 is -1 (a scale must be finite and positive)"
fresh zeroscale
put "$TMP/zeroscale" model.layers.2.self_attn.q_a_proj.weight_scale_inv 8 '\x00\x00\x00\x00' # [1][0] = 0
expect_rc "zero scale in the MTP layer: exit 3" 3 $V "$TMP/zeroscale"
expect_err "zero MTP scale named" "tensor model.layers.2.self_attn.q_a_proj.weight_scale_inv: row 1, column 0 is 0"
fresh nanscale
put "$TMP/nanscale" model.layers.2.mlp.experts.1.down_proj.weight_scale_inv 12 '\x00\x00\xc0\x7f'
expect_rc "NaN scale in the MTP layer: exit 3" 3 $V "$TMP/nanscale"
expect_err "NaN MTP scale named" "tensor model.layers.2.mlp.experts.1.down_proj.weight_scale_inv: row 1, column 1 is NaN"

# --- an MTP layer present in part ---
fresh mtphalf
# renamed in the index and the shard header (same length: the offsets stay valid)
f="$TMP/mtphalf/$(shard_of "$IN" model.layers.2.hnorm.weight)"
LC_ALL=C sed -i 's/"model.layers.2.hnorm.weight"/"model.layers.2.hnorm.xeight"/' "$TMP/mtphalf/model.safetensors.index.json" "$f"
expect_rc "MTP layer missing a tensor: exit 3" 3 $V "$TMP/mtphalf"
expect_err "missing MTP tensor named" "tensor model.layers.2.hnorm.weight: missing"

# --- --against: each checkpoint read once; a damaged side fails before the comparison ---
expect_rc "fp8-to-bf16 for --against" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/bf16" --quiet
expect_rc "BF16 --against FP8 passes" 0 $V "$TMP/bf16" --against "$IN" --tokens "$TMP/one.json" --json "$TMP/ab.json"
read_once "--against: the checkpoint read once" "$TMP/ab.json" 1 $BF16_BYTES
read_once "--against: the reference read once" "$TMP/ab.json" 2 $FP8_BYTES
expect_rc "NaN in an unrouted expert of REF: exit 3" 3 \
    $V "$TMP/bf16" --against "$TMP/experts" --tokens "$TMP/one.json" --json "$TMP/abx.json"
check "no comparison made" test "$(grep -c '"comparison"' "$TMP/abx.json")" = 0
check "reference's structural failure is the verdict" grep -q '"verdict":[[:space:]]*"structural failure"' "$TMP/abx.json"
