# verify end to end on the dev-tiny fixture: the forward pass against
# transformers' float64 logits, bit-identical logits across lossless
# conversions (fp8-to-bf16, strip-mtp, shard-for-mp), a damaged weight row
# (exit 1), damaged or truncated files (exit 3, naming them), usage errors.
IN=$DATA/dev-tiny/input
EXP=$DATA/dev-tiny/expected.json
FP64=$DATA/dev-tiny/logits-hf-fp64-cpu-all.f32
V="$DSCONV verify"

# Absolute file offset of a tensor's data: header length (8 bytes LE) + 8 + data_offsets[0].
st_offset() { # FILE TENSOR
    local hl begin
    hl=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    begin=$(head -c $((8 + hl)) "$1" | tail -c "$hl" | grep -o "\"$2\":{[^}]*}" | grep -o 'data_offsets":\[[0-9]*' | grep -o '[0-9]*$')
    [ -n "$begin" ] && echo $((8 + hl + begin))
}
# Overwrites N bytes at OFFSET of FILE with the byte given in octal.
poke() { # FILE OFFSET N OCTAL
    head -c "$3" /dev/zero | tr '\0' "\\$4" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
shard_of() { # DIR TENSOR -> shard file named by the index
    grep -o "\"$2\": *\"[^\"]*\"" "$1/model.safetensors.index.json" | sed 's/.*: *"//; s/"$//'
}

# --- the forward pass itself ---
expect_rc "verify dev-tiny FP8 passes" 0 $V "$IN"
check "summary reports the structure" grep -q "structure ok (53 tensors" "$TMP/out"
check "summary reports the probe set" grep -q "4 sequences, 128 positions (built-in probe set)" "$TMP/out"
expect_rc "verify against transformers float64 logits (1e-4 rel L2)" 0 \
    $V "$IN" --tokens "$EXP" --against-logits "$FP64" --dump-logits "$TMP/fp8.f32" --json "$TMP/fp64.json"
check "all 48 positions within 1e-4 relative L2" grep -q '"verdict":[[:space:]]*"pass"' "$TMP/fp64.json"
check "report has one entry per position" test "$(grep -c '"sequence":' "$TMP/fp64.json")" = 48
check "dump is [3, 16, 1024] float32" test "$(wc -c <"$TMP/fp8.f32")" = $((3 * 16 * 1024 * 4))
expect_rc "a too-tight --max-rel-l2 fails with exit 1" 1 \
    $V "$IN" --tokens "$EXP" --against-logits "$FP64" --max-rel-l2 1e-9
expect_rc "bf16 GPU logits are not within 1e-4 (the check has teeth)" 1 \
    $V "$IN" --tokens "$EXP" --against-logits "$DATA/dev-tiny/logits-hf-bf16-all.f32"

# --- lossless conversions give bit-identical logits ---
expect_rc "fp8-to-bf16 for verify" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/bf16" --quiet
expect_rc "BF16 conversion vs FP8 input: identical" 0 $V "$TMP/bf16" --against "$IN" --json "$TMP/bf16.json"
check "reported bit-identical" grep -q "logits bit-identical" "$TMP/out"
check "JSON says bit_identical" grep -q '"bit_identical":[[:space:]]*true' "$TMP/bf16.json"
expect_rc "BF16 dump on the fixture tokens" 0 $V "$TMP/bf16" --tokens "$EXP" --dump-logits "$TMP/bf16.f32"
check "FP8 and BF16 dumps are byte-identical" cmp -s "$TMP/fp8.f32" "$TMP/bf16.f32"
expect_rc "strip-mtp for verify" 0 "$DSCONV" strip-mtp "$IN" "$TMP/nomtp" --quiet
expect_rc "strip-mtp output vs input: identical" 0 $V "$TMP/nomtp" --against "$IN"
expect_rc "shard-for-mp fp8 mp2 for verify" 0 "$DSCONV" shard-for-mp "$TMP/nomtp" "$TMP/fp8-mp2" --model-parallel 2 --quiet
expect_rc "MP2 FP8 rank files vs HF input: identical" 0 $V "$TMP/fp8-mp2" --against "$IN"
check "rank files recognized" grep -q "(mp2 fp8)" "$TMP/out"
for n in 1 4 8; do
    expect_rc "shard-for-mp bf16 mp$n for verify" 0 "$DSCONV" shard-for-mp "$TMP/bf16" "$TMP/bf16-mp$n" --model-parallel $n --quiet
    expect_rc "MP$n BF16 rank files vs FP8 input: identical" 0 $V "$TMP/bf16-mp$n" --against "$IN"
done
expect_rc "MP8 dump on the fixture tokens" 0 $V "$TMP/bf16-mp8" --tokens "$EXP" --dump-logits "$TMP/mp8.f32"
check "MP8 and FP8 dumps are byte-identical" cmp -s "$TMP/fp8.f32" "$TMP/mp8.f32"

# --- integer-quantized copies (requant, compressed-tensors): thresholds, not identity ---
expect_rc "requant INT8 for verify" 0 "$DSCONV" requant "$IN" "$TMP/int8" --bits 8 --quiet
expect_rc "INT8 vs FP8 input passes the default thresholds" 0 $V "$TMP/int8" --against "$IN" --json "$TMP/int8.json"
check "INT8 weights recognized" grep -q "(hf int8)" "$TMP/out"
check "INT8 judged by thresholds" grep -q '"expect":[[:space:]]*"close"' "$TMP/int8.json"
expect_rc "INT8 vs FP8 with --expect identical: mismatch" 1 $V "$TMP/int8" --against "$IN" --expect identical
expect_rc "INT8 vs FP8 with a tight --max-kl: mismatch" 1 $V "$TMP/int8" --against "$IN" --max-kl 1e-6
expect_rc "requant INT4 asym for verify" 0 "$DSCONV" requant "$IN" "$TMP/int4" --bits 4 --asym --group-size 32 --quiet
# dev-tiny's random weights give near-uniform logits, so top-1 is fragile there (MANUAL): KL decides
expect_rc "INT4 vs FP8 within KL 0.25" 0 $V "$TMP/int4" --against "$IN" --min-top1 0.3
check "INT4 weights recognized" grep -q "(hf int4)" "$TMP/out"

# --- one damaged weight row: a mismatch (exit 1) ---
W=model.layers.0.self_attn.o_proj.weight
cp -r "$IN" "$TMP/row"
f="$TMP/row/$(shard_of "$IN" $W)"
off=$(st_offset "$f" $W)
check "found $W in its shard" test -n "$off"
poke "$f" $((off + 5 * 256)) 256 100 # row 5 of [256, 256] e4m3 := 0x40 (2.0): finite, wrong
expect_rc "damaged weight row: verify alone still passes (finite)" 0 $V "$TMP/row"
expect_rc "damaged weight row vs input: mismatch" 1 $V "$TMP/row" --against "$IN" --json "$TMP/row.json"
check "mismatch reported" grep -q "FAIL: mismatch" "$TMP/out"
check "JSON verdict mismatch" grep -q '"verdict":[[:space:]]*"mismatch"' "$TMP/row.json"

# --- non-finite and structural damage: exit 3, naming what is wrong ---
cp -r "$IN" "$TMP/nan"
f="$TMP/nan/$(shard_of "$IN" $W)"
poke "$f" $(($(st_offset "$f" $W) + 7 * 256 + 3)) 1 177 # one e4m3 NaN (0x7F)
expect_rc "NaN weight: structural failure" 3 $V "$TMP/nan"
expect_err "NaN weight named" "tensor $W: row 7, column 3 is NaN"

cp -r "$TMP/fp8-mp2" "$TMP/mpnan" # rank 1 holds columns 128..255 of o_proj (wo is split along dim 1)
f="$TMP/mpnan/model1-mp2.safetensors"
poke "$f" $(($(st_offset "$f" layers.0.attn.wo.weight) + 7 * 128 + 3)) 1 177
expect_rc "NaN in a rank file: structural failure" 3 $V "$TMP/mpnan"
expect_err "NaN located in its rank file" "model1-mp2.safetensors: tensor $W: row 7, column 131 is NaN"

# a truncated shard: named (formats/ validates every shard when it opens)
cp -r "$IN" "$TMP/trunc"
truncate -s -1000 "$TMP/trunc/model-00002-of-00003.safetensors"
expect_rc "truncated shard: exit 3" 3 $V "$TMP/trunc"
expect_err "truncated shard named" "model-00002-of-00003.safetensors"
expect_rc "truncated shard as --against REF: exit 3" 3 $V "$IN" --against "$TMP/trunc"
expect_err "truncated REF shard named" "model-00002-of-00003.safetensors"
cp -r "$TMP/fp8-mp2" "$TMP/mptrunc"
truncate -s -1000 "$TMP/mptrunc/model1-mp2.safetensors"
expect_rc "truncated rank file: exit 3" 3 $V "$TMP/mptrunc"
expect_err "truncated rank file named" "model1-mp2.safetensors"
rm "$TMP/mptrunc/model1-mp2.safetensors"
expect_rc "missing rank file: exit 3" 3 $V "$TMP/mptrunc"
expect_err "missing rank file reported" "1 of the 2 rank files"

MKBAD=$TOOLS/mkbad
for d in truncated-data nan-scale missing-scale-inv scale-wrong-shape; do
    named=$("$MKBAD" "$IN" "$TMP/bad-$d" $d)
    check "mkbad $d" test -n "$named"
    expect_rc "$d: exit 3" 3 $V "$TMP/bad-$d"
    expect_err "$d: file or tensor named" "$(printf '%s' "$named" | cut -f2 | sed 's/_scale_inv$//; s/^-$//')"
done

# config.json implies tensors that are not there: every expert is checked
cp -r "$IN" "$TMP/experts"
sed -i 's/"n_routed_experts": 8/"n_routed_experts": 16/' "$TMP/experts/config.json"
expect_rc "missing experts: exit 3" 3 $V "$TMP/experts"
expect_err "missing expert named" "tensor model.layers.1.mlp.experts.8.gate_proj.weight: missing"
cp -r "$IN" "$TMP/shape"
sed -i 's/"kv_lora_rank": 128/"kv_lora_rank": 96/' "$TMP/shape/config.json"
expect_rc "shapes disagree with config: exit 3" 3 $V "$TMP/shape"
expect_err "wrong shape named" "tensor model.layers.0.self_attn.kv_b_proj.weight: shape [512, 128], expected shape [512, 96]"

# --- tokens ---
echo '[[1, 2, 3], [4, 5]]' >"$TMP/tok.json"
expect_rc "ragged token file" 0 $V "$IN" --tokens "$TMP/tok.json" --dump-logits "$TMP/r.f32"
check "ragged dump is 5 positions x 1024" test "$(wc -c <"$TMP/r.f32")" = $((5 * 1024 * 4))
echo '[[1, 2, 1024]]' >"$TMP/tok.json"
expect_rc "token outside the vocabulary: exit 3" 3 $V "$IN" --tokens "$TMP/tok.json"
expect_err "bad token named" "token 1024"
echo '[[1, 2' >"$TMP/tok.json"
expect_rc "token file not JSON: exit 3" 3 $V "$IN" --tokens "$TMP/tok.json"
expect_rc "logits file of the wrong size: exit 3" 3 $V "$IN" --against-logits "$FP64"
expect_err "wrong-size logits file named" "logits-hf-fp64-cpu-all.f32"

# --- usage ---
expect_rc "no checkpoint: usage" 2 $V
expect_rc "bad --device: usage" 2 $V "$IN" --device tpu
expect_rc "--against with --against-logits: usage" 2 $V "$IN" --against "$IN" --against-logits "$FP64"
expect_rc "--max-kl without a reference: usage" 2 $V "$IN" --max-kl 0.1
expect_rc "--help" 0 $V --help
check "help shows an example" grep -q "example:" "$TMP/out"
true
