# to-gguf with a tiktoken tokenizer (Kimi-K2, K2-Thinking, Moonlight: tiktoken.model +
# tokenizer_config.json, no tokenizer.json) against what llama.cpp's own converter writes
# (tests/data/gguf-ref/family-*-tiktoken-q8_0.json, made by tests/tools/gguf_ref_tiktoken.sh
# from the synthetic fixture tests/data/tok-tiktoken, tests/tools/mk_tiktoken_tiny.py).
TOK=$DATA/tok-tiktoken
# a dsconv-sample family with the fixture tokenizer; config.json's bos/eos ids point to [BOS]/[EOS]
mk() { # mk FAMILY DIR
    "$SAMPLE" --family "$1" --out "$2" --quiet || return 1
    rm -f "$2/tokenizer_config.json"
    cp "$TOK"/* "$2/"
    sed -i -e 's/"bos_token_id":[[:space:]]*0/"bos_token_id": 1000/' -e 's/"eos_token_id":[[:space:]]*1/"eos_token_id": 1001/' "$2/config.json"
}

for fam in kimi moonlight; do
    mk $fam "$TMP/tk-$fam/Model"
    expect_rc "to-gguf $fam with tiktoken.model runs" 0 "$DSCONV" to-gguf "$TMP/tk-$fam/Model" "$TMP/tk-$fam.gguf" --type q8_0 --quiet --no-sync
    check "$fam + tiktoken = converter's kimi-k2 vocab, whole file byte for byte" \
        [ "$(filehash "$TMP/tk-$fam.gguf")" = "$(refhash family-$fam-tiktoken-q8_0)" ]
done
check "pre kimi-k2 written" grep -q "kimi-k2" "$TMP/tk-kimi.gguf"
check "reserved ids named <|reserved_token_N|>" grep -q "<|reserved_token_1005|>" "$TMP/tk-kimi.gguf"
check "ids past the specials are [PAD<i>]" grep -q "\[PAD1279\]" "$TMP/tk-kimi.gguf"

M=$TMP/tk-kimi/Model
# Moonlight's tokenizer class lives in tokenization_moonshot.py: recognized the same way.
mkdir -p "$TMP/tk-moon"
cp -P "$M"/* "$TMP/tk-moon/"
mv "$TMP/tk-moon/tokenization_kimi.py" "$TMP/tk-moon/tokenization_moonshot.py"
sed -i 's/tokenization_kimi\./tokenization_moonshot./' "$TMP/tk-moon/tokenizer_config.json"
expect_rc "auto_map to tokenization_moonshot.py recognized" 0 "$DSCONV" to-gguf "$TMP/tk-moon" "$TMP/tk-moon.gguf" --type q8_0 --name Model --quiet --no-sync
check "tokenization_moonshot.py: same file" [ "$(filehash "$TMP/tk-moon.gguf")" = "$(refhash family-kimi-tiktoken-q8_0)" ]

# Without the tokenizer code dsconv cannot tell the pre-tokenizer: refused unless --tokenizer-pre kimi-k2.
mkdir -p "$TMP/tk-nopy"
cp -P "$M"/* "$TMP/tk-nopy/"
rm "$TMP/tk-nopy/tokenization_kimi.py"
expect_rc "no tokenization_kimi.py: exit 3" 3 "$DSCONV" to-gguf "$TMP/tk-nopy" "$TMP/x.gguf" --type q8_0
expect_err "names the missing file" "tokenization_kimi.py"
expect_err "suggests --tokenizer-pre kimi-k2" "--tokenizer-pre kimi-k2"
check "refused: no output" [ ! -e "$TMP/x.gguf" ]
expect_rc "--tokenizer-pre kimi-k2 runs without it" 0 "$DSCONV" to-gguf "$TMP/tk-nopy" "$TMP/tk-nopy.gguf" --type q8_0 --name Model --tokenizer-pre kimi-k2 --quiet --no-sync
check "--tokenizer-pre kimi-k2: same file" [ "$(filehash "$TMP/tk-nopy.gguf")" = "$(refhash family-kimi-tiktoken-q8_0)" ]
expect_rc "--tokenizer-pre deepseek-v3 on tiktoken: usage error" 2 "$DSCONV" to-gguf "$TMP/tk-nopy" "$TMP/x.gguf" --tokenizer-pre deepseek-v3
expect_err "says tiktoken is kimi-k2 only" "kimi-k2 only"

# Another split pattern is another pre-tokenizer: refused.
mkdir -p "$TMP/tk-pat"
cp -P "$M"/* "$TMP/tk-pat/"
rm "$TMP/tk-pat/tokenization_kimi.py"
sed 's/p{N}{1,3}/p{N}+/' "$M/tokenization_kimi.py" > "$TMP/tk-pat/tokenization_kimi.py"
expect_rc "another split pattern: exit 3" 3 "$DSCONV" to-gguf "$TMP/tk-pat" "$TMP/x.gguf" --type q8_0
expect_err "names the pattern alternative" "alternative 4"

# Broken tiktoken.model files name the file and line.
bad() { # bad NAME SEDEXPR EXPECTED-TEXT
    mkdir -p "$TMP/tk-bad-$1"
    cp -P "$M"/* "$TMP/tk-bad-$1/"
    rm "$TMP/tk-bad-$1/tiktoken.model"
    sed "$2" "$M/tiktoken.model" > "$TMP/tk-bad-$1/tiktoken.model"
    expect_rc "tiktoken.model $1: exit 3" 3 "$DSCONV" to-gguf "$TMP/tk-bad-$1" "$TMP/x.gguf" --type q8_0
    expect_err "tiktoken.model $1: says what" "$3"
}
bad base64 '3s/^[^ ]*/@@@@/' "line 3"
bad rank '5s/ [0-9]*$/ 12x/' "rank '12x'"
bad fields '7s/$/ extra/' "3 fields"
bad blanks '13s/.*/   /' "line 13: expected 'BASE64 RANK', found 0 fields"
bad duprank '9s/ [0-9]*$/ 0/' "rank 0 appears twice"
bad duptoken "11s/^[^ ]*/$(sed -n '1s/ .*//p' "$M/tiktoken.model")/" "repeats"
check "refused: no output" [ ! -e "$TMP/x.gguf" ]

# tokenizer_config.json: needed, and its special names must be unambiguous.
mkdir -p "$TMP/tk-notc"
cp -P "$M"/* "$TMP/tk-notc/"
rm "$TMP/tk-notc/tokenizer_config.json"
expect_rc "tiktoken.model without tokenizer_config.json: exit 3" 3 "$DSCONV" to-gguf "$TMP/tk-notc" "$TMP/x.gguf" --tokenizer-pre kimi-k2
expect_err "names tokenizer_config.json" "tokenizer_config.json"
mkdir -p "$TMP/tk-dup"
cp -P "$M"/* "$TMP/tk-dup/"
rm "$TMP/tk-dup/tokenizer_config.json"
sed 's/"\[EOT\]"/"[EOS]"/' "$M/tokenizer_config.json" > "$TMP/tk-dup/tokenizer_config.json"
expect_rc "two special ids of one name: exit 3" 3 "$DSCONV" to-gguf "$TMP/tk-dup" "$TMP/x.gguf"
expect_err "names both ids" "special tokens 1001 and 1009 are both"

mkdir -p "$TMP/tk-same"
cp -P "$M"/* "$TMP/tk-same/"
rm "$TMP/tk-same/tokenizer_config.json"
sed 's/"<|im_user|>"/"and"/' "$M/tokenizer_config.json" > "$TMP/tk-same/tokenizer_config.json"
expect_rc "a special name that is also a rank's string: exit 3" 3 "$DSCONV" to-gguf "$TMP/tk-same" "$TMP/x.gguf"
expect_err "names the id and the rank" "special token 1003 'and' is also the token of rank"

# A side file reached through a link leaving the checkpoint is refused (MANUAL "Security").
mkdir -p "$TMP/tk-link" "$TMP/elsewhere"
cp -P "$M"/* "$TMP/tk-link/"
mv "$TMP/tk-link/tiktoken.model" "$TMP/elsewhere/"
ln -s "$TMP/elsewhere/tiktoken.model" "$TMP/tk-link/tiktoken.model"
expect_rc "tiktoken.model linked outside the checkpoint: exit 3" 3 "$DSCONV" to-gguf "$TMP/tk-link" "$TMP/x.gguf"

# --no-vocab still writes the file without a tokenizer.
expect_rc "--no-vocab with tiktoken.model" 0 "$DSCONV" to-gguf "$M" "$TMP/tk-nv.gguf" --type q8_0 --no-vocab --quiet --no-sync
check "--no-vocab: no tokenizer keys" bash -c "! grep -q tokenizer.ggml '$TMP/tk-nv.gguf'"

# DeepSeek-V3.2 (llama.cpp's deepseek32): the converter writes its vocabulary from tokenizer.json
# only (DeepseekV32Model.set_vocab); a tiktoken tokenizer is refused, saying so.
"$SAMPLE" --family v32 --out "$TMP/tk-v32" --quiet
cp "$TOK"/* "$TMP/tk-v32/"
expect_rc "deepseek_v32 with tiktoken.model refused: exit 3" 3 "$DSCONV" to-gguf "$TMP/tk-v32" "$TMP/x.gguf"
expect_err "names tokenizer.json" "tokenizer.json"
expect_err "says why (tokenizer.json only)" "tokenizer.json only"

# SpecialVocab's other roads, against the converter (tests/data/tok-variants, mk_vocab_variants.py):
# the chat template from chat_template.jinja (tiktoken path); normalizer keys, cls_token as BOS and
# chat_template null beside a .jinja (tokenizer.json path).
mk kimi "$TMP/tv-kj/Model"
rm "$TMP/tv-kj/Model/tokenizer_config.json"
cp "$DATA"/tok-variants/kimi-jinja/* "$TMP/tv-kj/Model/"
expect_rc "tiktoken + chat_template.jinja runs" 0 "$DSCONV" to-gguf "$TMP/tv-kj/Model" "$TMP/tv-kj.gguf" --type q8_0 --quiet --no-sync
check "chat template from chat_template.jinja = converter" [ "$(filehash "$TMP/tv-kj.gguf")" = "$(refhash vocab-kimi-jinja-q8_0)" ]
"$SAMPLE" --out "$TMP/tv-dv/Model" --quiet
rm -f "$TMP/tv-dv/Model/tokenizer_config.json"
cp "$DATA"/tok-variants/deepseek/* "$TMP/tv-dv/Model/"
expect_rc "tokenizer.json variant runs" 0 "$DSCONV" to-gguf "$TMP/tv-dv/Model" "$TMP/tv-dv.gguf" --type q8_0 --quiet --no-sync
check "normalizer keys, cls as BOS, null template = converter" [ "$(filehash "$TMP/tv-dv.gguf")" = "$(refhash vocab-deepseek-variant-q8_0)" ]
check "normalizer.strip_accents written" grep -q "tokenizer.ggml.normalizer.strip_accents" "$TMP/tv-dv.gguf"
check "chat_template null: no template" bash -c "! grep -q tokenizer.chat_template '$TMP/tv-dv.gguf'"
# a chat_template.jinja linked outside the checkpoint is refused, not embedded
mkdir -p "$TMP/tv-link"
cp -P "$TMP/tv-kj/Model"/* "$TMP/tv-link/"
rm "$TMP/tv-link/chat_template.jinja"
ln -s "$TMP/elsewhere/tiktoken.model" "$TMP/tv-link/chat_template.jinja"
expect_rc "chat_template.jinja linked outside the checkpoint: exit 3" 3 "$DSCONV" to-gguf "$TMP/tv-link" "$TMP/x.gguf"
