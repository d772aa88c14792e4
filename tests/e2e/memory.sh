# Bounded memory: every writing command on a generated checkpoint of more than
# 1 GB stays under 512 MiB peak RSS (VmHWM, which bounds the anonymous memory:
# inputs are read with pread, so the page cache is not counted).
LIMIT=$((512 << 20))
if [ -n "${DSCONV_SANITIZED:-}" ]; then
    # ASan's shadow memory inflates RSS several times over: the bound is checked by `make test`.
    echo "NOT RUN: memory bounds under sanitizers (checked in the plain build by make test)"
    return 0
fi
"$SAMPLE" --profile v3-bench --size-gb 1.3 --out "$TMP/in" --quiet >/dev/null 2>&1
size=$(du -sb "$TMP/in" | cut -f1)
check "generated input is over 1 GB ($size bytes)" test "$size" -gt 1000000000
peak() { grep -o "\"$2\":[[:space:]]*[0-9]*" "$1" | grep -o '[0-9]*$'; }
mem_case() { # name command...
    local name=$1; shift
    rm -rf "$TMP/o"
    expect_rc "$name runs on the 1 GB input" 0 "$@" --json "$TMP/m.json" --quiet --no-sync
    local p a; p=$(peak "$TMP/m.json" peak_rss_bytes); a=$(peak "$TMP/m.json" peak_anon_bytes)
    check "$name peak anonymous memory under 512 MiB (${a:-?} bytes)" test "${a:-999999999999}" -lt "$LIMIT"
    check "$name peak RSS under 512 MiB (${p:-?} bytes)" test "${p:-999999999999}" -lt "$LIMIT"
    rm -rf "$TMP/o"
}
mem_case fp8-to-bf16 "$DSCONV" fp8-to-bf16 "$TMP/in" "$TMP/o" --device cpu
mem_case strip-mtp "$DSCONV" strip-mtp "$TMP/in" "$TMP/o"
mem_case shard-for-mp-16 "$DSCONV" shard-for-mp "$TMP/in" "$TMP/o" --model-parallel 16 --device cpu
mem_case "shard-for-mp-4 --dtype bf16" "$DSCONV" shard-for-mp "$TMP/in" "$TMP/o" --model-parallel 4 --dtype bf16 --device cpu
mem_case "requant int4" "$DSCONV" requant "$TMP/in" "$TMP/o" --bits 4 --device cpu
rm -rf "$TMP/in"
