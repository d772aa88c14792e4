# undo.sh - a run that finds its input invalid after it has begun writing (a NaN
# weight requant cannot quantize) exits 3 and leaves OUT as it found it: the
# files it renamed into OUT removed, nothing else touched; --resume's kept files stay.
IN=$DATA/dev-tiny/input

st_offset() { # FILE TENSOR -> absolute offset of the tensor's data
    local hl begin
    hl=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    begin=$(head -c $((8 + hl)) "$1" | tail -c "$hl" | grep -o "\"$2\":{[^}]*}" | grep -o 'data_offsets":\[[0-9]*' | grep -o '[0-9]*$')
    [ -n "$begin" ] && echo $((8 + hl + begin))
}
poke() { head -c "$3" /dev/zero | tr '\0' "\\$4" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
listing() { (cd "$1" && find . -mindepth 1 | sort | tr '\n' ' '); }
S1=model-00001-of-00003.safetensors S3=model-00003-of-00003.safetensors

# dev-tiny's last shards hold only what requant keeps BF16 (MTP layer, lm_head):
# swap the first and last shard (files and index) so the quantized Linears come
# last and two shards are committed before the NaN is met.
cp -r "$IN" "$TMP/in"
(cd "$TMP/in" && mv $S1 x && mv $S3 $S1 && mv x $S3 &&
    sed -i "s/$S1/SWAP/g; s/$S3/$S1/g; s/SWAP/$S3/g" model.safetensors.index.json)
expect_rc "swapped fixture converts" 0 "$DSCONV" requant "$TMP/in" "$TMP/good" --bits 8 --quiet
W=model.layers.1.self_attn.o_proj.weight
check "the planted tensor is in the last shard" bash -c "grep -q '\"$W\": *\"$S3\"' '$TMP/in/model.safetensors.index.json'"
cp -r "$TMP/in" "$TMP/nan"
poke "$TMP/nan/$S3" $(($(st_offset "$TMP/nan/$S3" $W) + 5)) 1 177 # e4m3 NaN (0x7F)

# --- OUT did not exist: it does not exist afterwards ---
# One writer: one lane, so the files are written (and committed) in plan order
# and the two before the NaN are in OUT when it is met (several writers work on
# several files at once).
expect_rc "requant, NaN in the last shard: exit 3" 3 "$DSCONV" requant "$TMP/nan" "$TMP/o1" --bits 8 --progress --io-threads 1
expect_err "the NaN tensor is named" "$S3: tensor $W: 1 non-finite weights cannot be quantized"
expect_err "the undo is said" "removed the 2 file(s) this run had written"
check "OUT it created is gone" test ! -e "$TMP/o1"

# --- OUT with unrelated files (--force): they stay, nothing of the run does ---
mkdir -p "$TMP/o2/sub"; echo notes >"$TMP/o2/notes.txt"; echo x >"$TMP/o2/sub/y"; chmod 640 "$TMP/o2/notes.txt"
before=$(listing "$TMP/o2"); sum=$(md5sum <"$TMP/o2/notes.txt")
expect_rc "requant --force into a used OUT, NaN: exit 3" 3 "$DSCONV" requant "$TMP/nan" "$TMP/o2" --bits 8 --force --quiet
check "no shard and no index left" bash -c "! ls '$TMP/o2' | grep -q 'safetensors'"
check "OUT holds exactly what it held ($(listing "$TMP/o2"))" test "$(listing "$TMP/o2")" = "$before"
check "unrelated file untouched" test "$(md5sum <"$TMP/o2/notes.txt")" = "$sum" -a "$(stat -c %a "$TMP/o2/notes.txt")" = 640

# --- with --json and --manifest: neither written ---
expect_rc "requant --json --manifest, NaN: exit 3" 3 "$DSCONV" requant "$TMP/nan" "$TMP/o3" --bits 8 --quiet \
    --json "$TMP/o3.json" --manifest "$TMP/o3.man"
check "no report, no manifest" test ! -e "$TMP/o3.json" -a ! -e "$TMP/o3.man"

# --- parts: the refused part's files and journal go; the other part's stay ---
mkdir "$TMP/o4"; rcs=""
for i in 1 2; do "$DSCONV" requant "$TMP/nan" "$TMP/o4" --bits 8 --part $i/2 --quiet 2>>"$TMP/o4.err"; rcs="$rcs$?"; done
check "parts: one part refused with exit 3 (exit codes $rcs)" bash -c "[ '$rcs' = 03 ] || [ '$rcs' = 30 ]"
check "parts: the refused part's shard is not there" test ! -e "$TMP/o4/$S3"
r=$([ "$rcs" = 03 ] && echo 2 || echo 1); g=$((3 - r))
check "parts: the refused part left no journal or record" bash -c "! ls '$TMP/o4/.dsconv' | grep -q 'part-$r-of-2'"
check "parts: the other part's record stays" test -e "$TMP/o4/.dsconv/part-$g-of-2.json"

# --- --resume: the files an earlier run proved stay; this run's are removed ---
expect_rc "clean run" 0 "$DSCONV" requant "$TMP/in" "$TMP/o5" --bits 8 --quiet
rm "$TMP/o5/$S3" "$TMP/o5/model.safetensors.index.json"
cp -r "$TMP/in" "$TMP/in5d"; cp "$TMP/nan/$S3" "$TMP/in5d/$S3" # same header: same fingerprint
k1=$(md5sum <"$TMP/o5/$S1")
expect_rc "--resume meets the NaN: exit 3" 3 "$DSCONV" requant "$TMP/in5d" "$TMP/o5" --bits 8 --resume --quiet
expect_err "kept files said to stay" "the files --resume kept stay"
check "kept shards stay" test -e "$TMP/o5/$S1" -a -e "$TMP/o5/model-00002-of-00003.safetensors" -a "$(md5sum <"$TMP/o5/$S1")" = "$k1"
check "the refused shard and the index are not there" test ! -e "$TMP/o5/$S3" -a ! -e "$TMP/o5/model.safetensors.index.json"
cp "$TMP/in/$S3" "$TMP/in5d/$S3" # repaired
expect_rc "--resume after the repair" 0 "$DSCONV" requant "$TMP/in5d" "$TMP/o5" --bits 8 --resume --json "$TMP/o5.json" --quiet
check "the journal still proved the kept files (2 kept)" grep -q '"files_kept":[[:space:]]*2' "$TMP/o5.json"
check "resumed output equals the clean run" bash -c "for f in '$TMP/good'/*; do cmp -s \"\$f\" '$TMP/o5/'\$(basename \"\$f\") || exit 1; done"

# --- fp8-to-bf16: a NaN scale is found while planning: nothing is created at all ---
cp -r "$TMP/in" "$TMP/nans"
SC=model.layers.1.self_attn.o_proj.weight_scale_inv
poke "$TMP/nans/$S3" $(st_offset "$TMP/nans/$S3" $SC) 4 377 # F32 0xFFFFFFFF: NaN
mkdir "$TMP/o6"; echo notes >"$TMP/o6/notes.txt"
expect_rc "fp8-to-bf16, NaN scale in the last shard: exit 3" 3 "$DSCONV" fp8-to-bf16 "$TMP/nans" "$TMP/o6" --force --quiet
expect_err "the scale is named" "$SC: non-finite scale"
check "fp8-to-bf16: OUT as it was" test "$(listing "$TMP/o6")" = "./notes.txt "
expect_rc "requant, NaN scale: exit 3" 3 "$DSCONV" requant "$TMP/nans" "$TMP/o7" --bits 8 --quiet
check "requant NaN scale: nothing created" test ! -e "$TMP/o7"
