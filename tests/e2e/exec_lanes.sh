# exec_lanes.sh - the executor's threads and lanes (convert/exec.c) change no
# byte: each writing command, run with one reader and one writer (one lane:
# plan order) and with four of each on 1 MiB chunks (lanes interleaved, many
# chunks and items in flight, pieces written out of order), gives identical
# files and an identical --manifest (whose hashes need each file's bytes in
# order). Quantized items' deferred scales (xform's buffers) survive the
# items in flight.
IN=$DATA/dev-tiny/input
same_dirs() { # A B: the same file names with the same bytes
    [ "$(cd "$1" && ls | sort)" = "$(cd "$2" && ls | sort)" ] || return 1
    local f; for f in "$1"/*; do cmp -s "$f" "$2/$(basename "$f")" || return 1; done
}
lanes_case() { # name command... (IN OUT appended by us)
    local name=$1; shift
    rm -rf "$TMP/l1" "$TMP/l4"
    expect_rc "$name: one reader, one writer" 0 "$@" "$TMP/l1" --quiet --io-threads 1 \
        --manifest "$TMP/l1.man" --json "$TMP/l1.json"
    expect_rc "$name: four readers, four writers, 1 MiB chunks" 0 "$@" "$TMP/l4" --quiet --io-threads 4 --chunk-mb 1 \
        --manifest "$TMP/l4.man" --json "$TMP/l4.json"
    check "$name: four lanes reported" grep -q '"writers":[[:space:]]*4' "$TMP/l4.json"
    check "$name: identical files" same_dirs "$TMP/l1" "$TMP/l4"
    check "$name: identical manifests" cmp -s "$TMP/l1.man" "$TMP/l4.man"
}
lanes_case "fp8-to-bf16" "$DSCONV" fp8-to-bf16 "$IN"
lanes_case "requant int4" "$DSCONV" requant "$IN" --bits 4
lanes_case "requant nvfp4" "$DSCONV" requant "$IN" --format nvfp4
lanes_case "requant int8 asym" "$DSCONV" requant "$IN" --bits 8 --asym
lanes_case "shard-for-mp 2" "$DSCONV" shard-for-mp "$IN" --model-parallel 2
lanes_case "strip-mtp" "$DSCONV" strip-mtp "$IN"
