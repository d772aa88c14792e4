# security.sh - hostile and careless inputs (issue 12): nothing read from outside
# the checkpoint, nothing written outside OUT, IN never harmed, bounded work.
# Each class with variants, on copies of dev-tiny and on small crafted files.
IN=$DATA/dev-tiny/input

# st_file PATH JSON DATA_BYTES: a .safetensors file with that header and zero data
st_file() {
    local json=$2 n
    while [ $(( ${#json} % 8 )) != 0 ]; do json="$json "; done
    n=${#json}
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' $((n & 255)) $(((n >> 8) & 255)) $(((n >> 16) & 255)) $(((n >> 24) & 255)))" >"$1"
    printf '%s' "$json" >>"$1"
    [ "$3" -gt 0 ] && head -c "$3" /dev/zero >>"$1"
    return 0
}
copy_in() { rm -rf "$1"; cp -r "$IN" "$1"; }
sum_tree() { (cd "$1" && find . -type f -exec md5sum {} + | sort | md5sum); }
no_out() { [ ! -e "$1" ] || [ -z "$(ls -A "$1")" ]; }
S=$TMP/secret; echo "root:secret-hash:19000" >"$S"; chmod 600 "$S"

# ---------------------------------------------------------------- side-file links
for cmd in "fp8-to-bf16" "strip-mtp" "shard-for-mp --model-parallel 2" "requant --bits 8"; do
    set -- $cmd; c=$1; shift
    copy_in "$TMP/ln"; ln -s "$S" "$TMP/ln/tokenizer.json"
    expect_rc "$c: side-file link outside IN refused" 3 "$DSCONV" "$c" "$TMP/ln" "$TMP/o-$c" "$@" --quiet
    expect_err "$c: message names the link" "tokenizer.json: symbolic link to"
    check "$c: nothing written" no_out "$TMP/o-$c"
    check "$c: secret not copied" test ! -e "$TMP/o-$c/tokenizer.json"
done
copy_in "$TMP/ln2"; ln -s ../secret "$TMP/ln2/tokenizer.model"   # relative, escaping by ..
expect_rc "relative link escaping IN refused" 3 "$DSCONV" fp8-to-bf16 "$TMP/ln2" "$TMP/o2" --quiet
copy_in "$TMP/ln3"; ln -s "$TMP/nowhere" "$TMP/ln3/tokenizer.json"
expect_rc "dangling link refused" 3 "$DSCONV" fp8-to-bf16 "$TMP/ln3" "$TMP/o3" --quiet
copy_in "$TMP/ln4"; mkdir "$TMP/ln4/sub"; echo '{"a":1}' >"$TMP/ln4/sub/real.json"; ln -s sub/real.json "$TMP/ln4/tokenizer.json"
expect_rc "link inside IN followed" 0 "$DSCONV" fp8-to-bf16 "$TMP/ln4" "$TMP/o4" --quiet
check "link inside IN copied as a regular file" test -f "$TMP/o4/tokenizer.json" -a ! -L "$TMP/o4/tokenizer.json"
copy_in "$TMP/fifo"; mkfifo "$TMP/fifo/tokenizer.model"
expect_rc "FIFO side file refused before writing" 3 timeout 20 "$DSCONV" fp8-to-bf16 "$TMP/fifo" "$TMP/o5" --quiet
expect_err "FIFO message names it" "tokenizer.model: not a regular file"
check "FIFO: nothing written" no_out "$TMP/o5"

# ---------------------------------------------------------------- Hugging Face cache
R=$TMP/hub/models--org--tiny; mkdir -p "$R/blobs" "$R/snapshots/abc123" "$TMP/hub/models--other--x/blobs"
for f in "$IN"/*; do
    h=$(md5sum "$f" | cut -c1-32); cp "$f" "$R/blobs/$h"; ln -s "../../blobs/$h" "$R/snapshots/abc123/$(basename "$f")"
done
expect_rc "HF cache snapshot (links into blobs/) converts" 0 "$DSCONV" fp8-to-bf16 "$R/snapshots/abc123" "$TMP/o6" --quiet
check "HF cache: side file copied as a file" test -f "$TMP/o6/tokenizer_config.json" -a ! -L "$TMP/o6/tokenizer_config.json"
cp "$S" "$TMP/hub/models--other--x/blobs/zzz"; ln -s ../../../models--other--x/blobs/zzz "$R/snapshots/abc123/tokenizer.json"
expect_rc "HF cache: link into another repo's blobs refused" 3 "$DSCONV" fp8-to-bf16 "$R/snapshots/abc123" "$TMP/o7" --quiet
expect_err "HF cache refusal names the link" "tokenizer.json: symbolic link to"

# ---------------------------------------------------------------- modes never widened
copy_in "$TMP/m"; chmod 600 "$TMP/m/tokenizer_config.json"; chmod 640 "$TMP/m"/*.safetensors
( umask 022; "$DSCONV" fp8-to-bf16 "$TMP/m" "$TMP/o8" --quiet ) >/dev/null 2>&1
check "side file 0600 stays 0600" test "$(stat -c %a "$TMP/o8/tokenizer_config.json")" = 600
check "shards 0640 in: no wider out" test "$(stat -c %a "$TMP/o8/model-00001-of-00003.safetensors")" = 640
chmod 644 "$TMP/m"/*

# ---------------------------------------------------------------- lone .safetensors
L=$TMP/downloads; mkdir -p "$L"; cp "$IN/config.json" "$IN/tokenizer_config.json" "$L/"
"$DSCONV" fp8-to-bf16 "$IN" "$TMP/o9" --quiet >/dev/null 2>&1   # a whole BF16 model in one folder...
"$DSCONV" strip-mtp "$TMP/o9" "$TMP/o9s" --quiet >/dev/null 2>&1
st=$(ls "$TMP/o9"/*.safetensors | head -1)
echo "private" >"$L/id_rsa"; echo "notes" >"$L/taxes.txt"; mkdir "$L/photos"
st_file "$L/model.safetensors" '{"a.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
echo '{"model_type":"deepseek_v3","num_hidden_layers":0,"num_nextn_predict_layers":0}' >"$L/config.json"
expect_rc "lone file converts" 0 "$DSCONV" fp8-to-bf16 "$L/model.safetensors" "$TMP/o10" --quiet
check "lone file: unrelated files of its folder not copied" test ! -e "$TMP/o10/id_rsa" -a ! -e "$TMP/o10/taxes.txt"
check "lone file: checkpoint side file copied" test -f "$TMP/o10/tokenizer_config.json"

# ---------------------------------------------------------------- temporaries and planted links
mkdir -p "$TMP/r"; echo keep >"$TMP/victim"
ln -s "$TMP/victim" "$TMP/r/.report.json.dsconv-tmp"; ln -s "$TMP/victim" "$TMP/r/.m.json.dsconv-tmp"
expect_rc "--json/--manifest beside planted links" 0 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/o11" --quiet \
    --json "$TMP/r/report.json" --manifest "$TMP/r/m.json"
check "planted temporary link not followed" test "$(cat "$TMP/victim")" = keep
check "--json written" test -f "$TMP/r/report.json" -a ! -L "$TMP/r/report.json"
ln -sf "$TMP/victim" "$TMP/r/dump.f32"
for f in "$TMP/r/.dump.f32.dsconv-tmp"; do ln -s "$TMP/victim" "$f"; done
timeout 60 "$DSCONV" verify "$IN" --dump-logits "$TMP/r/dump.f32" >/dev/null 2>&1
check "--dump-logits: link at the name replaced, target untouched" test "$(cat "$TMP/victim")" = keep -a -f "$TMP/r/dump.f32" -a ! -L "$TMP/r/dump.f32"
check "no temporaries left" test -z "$(ls -A "$TMP/r" | grep -v '^\.\(report\.json\|m\.json\|dump\.f32\)\.dsconv-tmp$' | grep dsconv-tmp)"

# ---------------------------------------------------------------- escaped names
E=$TMP/esc; mkdir -p "$E"
st_file "$E/model.safetensors" '{"evil\u001b[2J\u001b]0;pwned\u0007.weight":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[0,4]},"x\u009b31m":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' 8
"$DSCONV" fp8-to-bf16 "$E/model.safetensors" "$TMP/o12" --quiet >"$TMP/out" 2>"$TMP/err"
check "error message: no raw ESC/BEL" sh -c "! grep -q \$(printf '[\\033\\007]') '$TMP/err'"
expect_err "error message: name escaped" 'evil\x1b[2J\x1b]0;pwned\x07.weight'
"$DSCONV" inspect "$E/model.safetensors" --tensors >"$TMP/out" 2>"$TMP/err"
"$DSCONV" inspect "$E" --tensors >"$TMP/out2" 2>&1
check "inspect --tensors: no raw control bytes" sh -c "! grep -q \$(printf '[\\033\\007]') '$TMP/out' '$TMP/out2'"
check "inspect: C1 control (U+009B) escaped" sh -c "! grep -q \$(printf '\\302\\233') '$TMP/out' '$TMP/out2' '$TMP/err'"

# ---------------------------------------------------------------- OUT vs IN
copy_in "$TMP/in"; before=$(sum_tree "$TMP/in")
for spelling in "$TMP/in" "$TMP/in/" "$TMP/in/." "$TMP/./in" "$TMP/in-link"; do
    ln -sfn "$TMP/in" "$TMP/in-link"
    expect_rc "OUT = IN ($spelling) --force refused" 2 "$DSCONV" fp8-to-bf16 "$TMP/in" "$spelling" --force --quiet
done
expect_rc "OUT = IN --resume refused" 2 "$DSCONV" strip-mtp "$TMP/in" "$TMP/in" --resume --quiet
expect_err "OUT = IN message" "is the input"
expect_rc "OUT inside IN refused" 2 "$DSCONV" fp8-to-bf16 "$TMP/in" "$TMP/in/bf16" --quiet
check "OUT inside IN not created" test ! -e "$TMP/in/bf16"
mkdir -p "$TMP/hold"; cp -r "$IN" "$TMP/hold/model"
expect_rc "IN inside OUT --force refused" 2 "$DSCONV" fp8-to-bf16 "$TMP/hold/model" "$TMP/hold" --force --quiet
expect_err "IN inside OUT message" "holds the input"
check "IN unchanged by every refusal" test "$(sum_tree "$TMP/in")" = "$before"
mkdir -p "$TMP/lone"; cp "$st" "$TMP/lone/model.safetensors"
expect_rc "lone file: OUT = its folder refused" 2 "$DSCONV" fp8-to-bf16 "$TMP/lone/model.safetensors" "$TMP/lone" --force --quiet
copy_in "$TMP/gin"; gbefore=$(sum_tree "$TMP/gin")
expect_rc "to-gguf --force onto an input shard refused" 2 "$DSCONV" to-gguf "$TMP/gin" "$TMP/gin/model-00001-of-00003.safetensors" --force --no-vocab --quiet
expect_rc "to-gguf --force onto the input config refused" 2 "$DSCONV" to-gguf "$TMP/gin" "$TMP/gin/./config.json" --force --no-vocab --quiet
check "to-gguf refusals leave IN unchanged" test "$(sum_tree "$TMP/gin")" = "$gbefore"
mkdir -p "$TMP/nonempty"; echo mine >"$TMP/nonempty/notes"; touch "$TMP/nonempty/.a.dsconv-tmp"
expect_rc "non-empty OUT refused" 2 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/nonempty" --quiet
check "a refused run deletes nothing" test -e "$TMP/nonempty/.a.dsconv-tmp" -a -e "$TMP/nonempty/notes"

# ---------------------------------------------------------------- output name collisions
for victim in tokenizer_config.json config.json model.safetensors.index.json; do
    copy_in "$TMP/col"; mv "$TMP/col/model-00003-of-00003.safetensors" "$TMP/col/$victim.tmp"
    sed -i "s/model-00003-of-00003.safetensors/$victim/" "$TMP/col/model.safetensors.index.json"
    [ "$victim" = model.safetensors.index.json ] && { rm -rf "$TMP/col"; continue; }
    mv "$TMP/col/$victim.tmp" "$TMP/col/$victim"
    expect_rc "shard named $victim: collision refused" 3 "$DSCONV" fp8-to-bf16 "$TMP/col" "$TMP/o13" --quiet
    # (a shard named config.json is already refused as a config that is not JSON)
    [ "$victim" = config.json ] || expect_err "shard named $victim: collision named" "output file $victim would be written twice"
    check "collision: nothing written" no_out "$TMP/o13"
done

# ---------------------------------------------------------------- counts against tensors
for v in '0' '1' '1e9' '1000000000' 'null'; do   # null: the default (61) applies
    copy_in "$TMP/cnt"; sed -i "s/\"num_hidden_layers\": 2/\"num_hidden_layers\": $v/" "$TMP/cnt/config.json"
    for c in "strip-mtp" "shard-for-mp --model-parallel 2" "requant --bits 4" "inspect" "verify"; do
        set -- $c; cmdn=$1; shift
        out=("$TMP/o14" --quiet); [ "$cmdn" = inspect ] || [ "$cmdn" = verify ] && out=()
        t0=$(date +%s)
        expect_rc "num_hidden_layers $v: $cmdn exit 3" 3 timeout 30 "$DSCONV" "$cmdn" "$TMP/cnt" "${out[@]}" "$@"
        check "num_hidden_layers $v: $cmdn fast" test $(( $(date +%s) - t0 )) -le 5
        check "num_hidden_layers $v: $cmdn wrote nothing" no_out "$TMP/o14"
        rm -rf "$TMP/o14"
    done
done
expect_err "count message names config.json" "config.json: num_hidden_layers"

# ---------------------------------------------------------------- strict JSON
copy_in "$TMP/j"; sed -i 's/"num_hidden_layers": 2,/"num_hidden_layers": 2, "num_hidden_layers": 1,/' "$TMP/j/config.json"
expect_rc "config: duplicate key refused" 3 "$DSCONV" inspect "$TMP/j"
expect_err "duplicate key named" 'key "num_hidden_layers" appears twice'
copy_in "$TMP/j"; sed -i 's/"bos_token_id": 0,/"rope_scaling": {"factor": 1, "factor": 40}, "bos_token_id": 0,/' "$TMP/j/config.json"
expect_rc "config: nested duplicate key refused" 3 "$DSCONV" strip-mtp "$TMP/j" "$TMP/o15" --quiet
copy_in "$TMP/j"; echo '{"extra": 1}' >>"$TMP/j/config.json"
expect_rc "config: trailing JSON refused" 3 "$DSCONV" inspect "$TMP/j"
expect_err "trailing bytes named" "trailing bytes after the JSON value"
copy_in "$TMP/j"; printf 'x' >>"$TMP/j/model.safetensors.index.json"
expect_rc "index: trailing byte refused" 3 "$DSCONV" inspect "$TMP/j"
copy_in "$TMP/j"; sed -i 's/"model.embed_tokens.weight": "model-00001-of-00003.safetensors",/&\n    "model.embed_tokens.weight": "model-00002-of-00003.safetensors",/' "$TMP/j/model.safetensors.index.json"
expect_rc "index: duplicate tensor key refused" 3 "$DSCONV" fp8-to-bf16 "$TMP/j" "$TMP/o16" --quiet
st_file "$TMP/dup.safetensors" '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' 8
expect_rc "header: duplicate tensor refused" 3 "$DSCONV" inspect "$TMP/dup.safetensors"
st_file "$TMP/dupm.safetensors" '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"dtype":"I32"}}' 4
expect_rc "header: duplicate field refused" 3 "$DSCONV" inspect "$TMP/dupm.safetensors"
st_file "$TMP/trail.safetensors" '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}{}' 4
expect_rc "header: trailing JSON refused" 3 "$DSCONV" inspect "$TMP/trail.safetensors"

# ---------------------------------------------------------------- header dimension bounds
for shape in '[0,1099511627776]' '[0,9007199254740992,9007199254740992]' '[3,0,1099511627776]' '[0,65536,65536]'; do
    st_file "$TMP/dims.safetensors" '{"a":{"dtype":"BF16","shape":'"$shape"',"data_offsets":[0,0]}}' 0
    t0=$(date +%s)
    expect_rc "empty tensor $shape refused (inspect)" 3 "$DSCONV" inspect "$TMP/dims.safetensors"
    expect_rc "empty tensor $shape refused (fp8-to-bf16)" 3 timeout 20 "$DSCONV" fp8-to-bf16 "$TMP/dims.safetensors" "$TMP/o17" --quiet
    check "empty tensor $shape: fast, nothing written" test $(( $(date +%s) - t0 )) -le 5 -a ! -e "$TMP/o17/model.safetensors"
    rm -rf "$TMP/o17"
done
st_file "$TMP/dims.safetensors" '{"a":{"dtype":"BF16","shape":[0,7168],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
expect_rc "a real empty tensor [0, 7168] is fine" 0 "$DSCONV" fp8-to-bf16 "$TMP/dims.safetensors" "$TMP/o18" --quiet

# ---------------------------------------------------------------- manifests
copy_in "$TMP/dot"; mv "$TMP/dot/model-00002-of-00003.safetensors" "$TMP/dot/.model-00002-of-00003.safetensors"
sed -i 's/"model-00002-of-00003.safetensors"/".model-00002-of-00003.safetensors"/' "$TMP/dot/model.safetensors.index.json"
expect_rc "manifest of a checkpoint with a dot-named shard" 0 "$DSCONV" manifest "$TMP/dot" -o "$TMP/dot.json"
check "manifest lists the dot-named shard" grep -q '".model-00002-of-00003.safetensors"' "$TMP/dot.json"
expect_rc "verify --manifest: same checkpoint matches" 0 "$DSCONV" verify "$TMP/dot" --manifest "$TMP/dot.json"
echo x >"$TMP/dot/.added"
expect_rc "verify --manifest notices an added hidden file" 1 "$DSCONV" verify "$TMP/dot" --manifest "$TMP/dot.json"
expect_err "added hidden file named" ".added: not in the manifest"
rm "$TMP/dot/.added"
printf ' x' >>"$TMP/dot.json"
expect_rc "manifest with trailing bytes refused" 3 "$DSCONV" verify "$TMP/dot" --manifest "$TMP/dot.json"
# many tensors in one file: linear (1e5 tensors took 55 s when quadratic)
awk 'BEGIN { printf "{"; for (i = 0; i < 100000; i++) printf "%s\"t%06d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}", i ? "," : "", i, i, i + 1; printf "}" }' >"$TMP/big.json"
mkdir -p "$TMP/many"; st_file "$TMP/many/model.safetensors" "$(cat "$TMP/big.json")" 100000
t0=$(date +%s)
expect_rc "manifest of 1e5 tensors" 0 timeout 60 "$DSCONV" manifest "$TMP/many" -o "$TMP/many.json"
expect_rc "verify --manifest of 1e5 tensors" 0 timeout 60 "$DSCONV" verify "$TMP/many" --manifest "$TMP/many.json"
check "1e5-tensor manifest and check in under 20 s" test $(( $(date +%s) - t0 )) -le 20

# ---------------------------------------------------------------- descriptors, big side files
mkdir -p "$TMP/shards"
for i in $(seq -w 1 120); do st_file "$TMP/shards/s$i.safetensors" "{\"t$i\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}" 8; done
expect_rc "120 shards under a 64-descriptor limit: manifest" 0 bash -c "ulimit -n 64; exec '$DSCONV' manifest '$TMP/shards' -o '$TMP/shards.json'"
expect_rc "120 shards under a 64-descriptor limit: convert" 0 bash -c "ulimit -n 64; exec '$DSCONV' fp8-to-bf16 '$TMP/shards' '$TMP/o19' --quiet"
check "120 shards: every output shard written" test "$(ls "$TMP/o19" | grep -c safetensors)" = 120
# The same conversion without the big side file is the baseline: the copy may add little to it
# (the converter's own buffers are most of the peak, ~170 MB here, and vary by machine).
copy_in "$TMP/bigside"
expect_rc "baseline conversion" 0 "$DSCONV" fp8-to-bf16 "$TMP/bigside" "$TMP/o20base" --quiet --json "$TMP/base.report"
truncate -s 300M "$TMP/bigside/tokenizer.model"
expect_rc "300 MB side file copied" 0 "$DSCONV" fp8-to-bf16 "$TMP/bigside" "$TMP/o20" --quiet --json "$TMP/big.report"
peak() { grep -oE '"peak_rss_bytes":[[:space:]]*[0-9.e+]+' "$1" | grep -oE '[0-9.e+]+$'; }
rss=$(peak "$TMP/big.report") base=$(peak "$TMP/base.report")
check "300 MB side file streamed (peak RSS ${rss:-?} within 32 MB of the baseline ${base:-?})" \
    awk -v r="${rss:-x}" -v b="${base:-x}" 'BEGIN { exit !(r ~ /^[0-9]/ && b ~ /^[0-9]/ && r - b < 32e6) }'
check "300 MB side file intact" cmp -s "$TMP/bigside/tokenizer.model" "$TMP/o20/tokenizer.model"
rm -rf "$TMP/bigside" "$TMP/o20"
