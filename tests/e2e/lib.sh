# lib.sh - helpers for end-to-end tests. Each check prints "PASS name" or
# "FAIL name" (tests/run.sh counts them). Sourced with DSCONV, SAMPLE, DATA, TMP set.
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; }
# expect_rc NAME RC CMD... : runs CMD, checks its exit code, keeps stderr in $TMP/err
expect_rc() {
    local name=$1 want=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ "$rc" = "$want" ]; then pass "$name"; else fail "$name" "exit $rc, wanted $want; stderr: $(head -c 400 "$TMP/err")"; fi
}
# expect_err NAME TEXT : the last expect_rc's stderr contains TEXT
expect_err() {
    if grep -qF -- "$2" "$TMP/err"; then pass "$1"; else fail "$1" "stderr lacks '$2': $(head -c 400 "$TMP/err")"; fi
}
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
# The to-gguf checks: the sha256 of a whole file, the one llama.cpp's converter gave for the
# reference NAME (tests/data/gguf-ref/NAME.json), and the model they convert most: dev-tiny's
# FP8 checkpoint (shards linked, small files copied: a side-file link leaving the checkpoint is
# refused, MANUAL "Security") with the small DeepSeek-V3-cut tokenizer, in DIR.
filehash() { sha256sum "$1" | cut -c1-64; }
refhash() { sed -n 's/.*"file_sha256": "\([0-9a-f]*\)".*/\1/p' "$DATA/gguf-ref/$1.json" | head -1; }
tiny_gguf_model() {
    mkdir -p "$1"
    for f in "$DATA"/dev-tiny/input/*.safetensors; do ln -sf "$f" "$1/"; done
    cp "$DATA"/dev-tiny/input/*.json "$1/"
    cp "$DATA"/tok-tiny/tokenizer.json "$DATA"/tok-tiny/tokenizer_config.json "$1/"
}
