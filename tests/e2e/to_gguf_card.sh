# to-gguf's general.* keys from the model card (README.md's YAML front matter) against what
# llama.cpp's own converter writes (tests/data/gguf-ref/card-*-q8_0.json, made by
# tests/tools/gguf_ref_card.sh from tests/data/model-card/*.md), and front matters to-gguf does
# not read (warned, never a crash).
M=$TMP/gc/Model
tiny_gguf_model "$M"
conv() { "$DSCONV" to-gguf "$M" "$TMP/$1.gguf" --type q8_0 --quiet --no-sync "${@:2}"; }
for g in deepseek-v3 kimi-k2 requant all-keys; do
    cp "$DATA/model-card/$g.md" "$M/README.md"
    expect_rc "card $g: to-gguf runs" 0 conv "$g"
    check "card $g: general.* = converter, byte for byte" [ "$(filehash "$TMP/$g.gguf")" = "$(refhash card-$g-q8_0)" ]
    check "card $g: no warning" bash -c "! grep -q 'model card' '$TMP/err'"
done
check "deepseek-v3: general.license mit" grep -aq 'general.license' "$TMP/deepseek-v3.gguf"
check "kimi-k2: general.license.name" grep -aq 'general.license.name' "$TMP/kimi-k2.gguf"
# CRLF line ends: the converter reads the text with universal newlines, so the same keys
sed 's/$/\r/' "$DATA/model-card/deepseek-v3.md" > "$M/README.md"
expect_rc "CRLF card: runs" 0 conv crlf
check "CRLF card = the LF card's converter file" [ "$(filehash "$TMP/crlf.gguf")" = "$(refhash card-deepseek-v3-q8_0)" ]
# --name (the converter's --model-name) wins over the card's model_name
cp "$DATA/model-card/all-keys.md" "$M/README.md"
expect_rc "--name with a card name: runs" 0 conv named --name Given
check "--name wins over model_name" bash -c "grep -aq Given '$TMP/named.gguf' && ! grep -aq 'Tiny Test Model' '$TMP/named.gguf'"
# keys the converter reads in values to-gguf does not read: warned by name, left out
cp "$DATA/model-card/unsupported.md" "$M/README.md"
expect_rc "unsupported values: runs" 0 conv unsup
expect_err "unsupported values: warned by key" "model card keys not written"
expect_err "unsupported values: names them" "description, base_model, tags"
check "unsupported values: license still written" grep -aq 'general.license' "$TMP/unsup.gguf"
check "unsupported values: no general.tags" bash -c "! grep -aq general.tags '$TMP/unsup.gguf'"
# no front matter, a BOM before it, an empty one: no card keys, no warning
for v in none bom empty; do
    case $v in
        none) printf '# Model\n\nlicense: mit\n' ;;
        bom) printf '\xef\xbb\xbf---\nlicense: mit\n---\n' ;;
        empty) printf -- '---\n---\nlicense: mit\n' ;;
    esac > "$M/README.md"
    expect_rc "README $v: runs" 0 conv "r-$v"
    check "README $v: no general.license, no warning" \
        bash -c "! grep -aq general.license '$TMP/r-$v.gguf' && ! grep -q 'model card' '$TMP/err'"
done
# outside the subset read here, or too big: warned, the card not read, the file written
bad() { # NAME WARNING: README.md is in place
    expect_rc "front matter $1: runs" 0 conv "b-$1"
    expect_err "front matter $1: warned" "$2"
    check "front matter $1: no card key" bash -c "! grep -aq general.license '$TMP/b-$1.gguf'"
}
printf -- '---\nlicense: "mit\nname: x"\n---\n' > "$M/README.md"; bad unclosed-quote "a quoted scalar goes on past its line"
printf -- '---\nlicense: mit\n  - x\nfoo: a: b\n---\n' > "$M/README.md"; bad mapping-value "model card not read"
printf -- '---\nlicense: mit\ntags: [a,\nb: c]\n---\n' > "$M/README.md"; bad open-flow "goes on past its line"
printf -- '---\nlicense: &l mit\n---\n' > "$M/README.md"; bad anchor "anchor, alias"
printf -- '---\nlicense: mit\nbody without a closing line\n' > "$M/README.md"; bad unclosed "not \"key: value\""
{ printf -- '---\nlicense: mit\ntags: ['; head -c 1200000 /dev/zero | tr '\0' '['; printf '\n---\n'; } > "$M/README.md"
bad huge "longer than 1 MiB"
{ printf -- '---\nlicense: mit\n'; for i in $(seq 5000); do echo "k$i: v"; done; printf -- '---\n'; } > "$M/README.md"
bad many-keys "too many keys"
{ printf -- '---\nlicense: mit\ntags:\n'; for i in $(seq 5000); do echo "- t$i"; done; printf -- '---\n'; } > "$M/README.md"
bad many-items "too many list items"
{ printf -- '---\nlicense: mit\n---\n'; head -c 3000 /dev/zero | tr '\0' 'x'; printf '\xff\n'; } > "$M/README.md"
bad body-not-utf8 "not UTF-8"
# where the converter stops too (the front matter is not UTF-8, or holds a control character): exit 3
printf -- '---\nlicense: m\xc3it\n---\n' > "$M/README.md"
expect_rc "front matter not UTF-8: exit 3" 3 conv x
expect_err "front matter not UTF-8: names the file" "README.md: byte 14"
printf -- '---\nlicense: m\001it\n---\n' > "$M/README.md"
expect_rc "control character in the front matter: exit 3" 3 conv x
expect_err "control character: names the file and line" "README.md: line 2"
check "refused: no output" [ ! -e "$TMP/x.gguf" ]
# The converter's name heuristics on real checkpoint names (tests/data/gguf-ref/card-dir-*):
# basename/finetune/version/size label from the directory's name, name and organization from
# config.json's _name_or_path, each where the card sets none.
for c in DeepSeek-V3:deepseek-v3 DeepSeek-V3.1:requant Kimi-K2-Instruct:kimi-k2 Moonlight-16B-A3B-Instruct:deepseek-v3 \
         nop-model:; do
    d=${c%%:*} g=${c#*:}
    D=$TMP/gd-$d/$d
    [ "$d" = nop-model ] && D=$TMP/gd-$d/model
    tiny_gguf_model "$D"
    [ -n "$g" ] && cp "$DATA/model-card/$g.md" "$D/README.md"
    [ "$d" = nop-model ] && sed -i 's/^{/{"_name_or_path": "deepseek-ai\/DeepSeek-R1",/' "$D/config.json"
    expect_rc "directory $d: to-gguf runs" 0 "$DSCONV" to-gguf "$D" "$TMP/d-$d.gguf" --type q8_0 --quiet --no-sync
    check "directory $d: general.* = converter, byte for byte" [ "$(filehash "$TMP/d-$d.gguf")" = "$(refhash card-dir-$d-q8_0)" ]
done
# the directory given as "DeepSeek-V3.1/" (as a shell completes it): the same name, so the same file
expect_rc "directory DeepSeek-V3.1/ (trailing slash): to-gguf runs" 0 "$DSCONV" to-gguf "$TMP/gd-DeepSeek-V3.1/DeepSeek-V3.1/" "$TMP/d-slash.gguf" --type q8_0 --quiet --no-sync
check "directory DeepSeek-V3.1/: general.* = converter, byte for byte" [ "$(filehash "$TMP/d-slash.gguf")" = "$(refhash card-dir-DeepSeek-V3.1-q8_0)" ]
check "DeepSeek-V3: general.version V3, basename DeepSeek" \
    bash -c "grep -aq general.version '$TMP/d-DeepSeek-V3.gguf' && grep -aq general.basename '$TMP/d-DeepSeek-V3.gguf'"
