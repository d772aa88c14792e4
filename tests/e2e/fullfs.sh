# fullfs.sh - full disk (issue 7): a write that fails with EFBIG or ENOSPC ends the
# command with exit 4 and a message naming the file, the temporary files are
# removed, OUT does not look complete (no index), and --resume afterwards finishes
# with the bytes of an uninterrupted run. The free-space precheck (statvfs)
# refuses up front, with exit 4, when OUT's filesystem is too small.
#
# EFBIG: RLIMIT_FSIZE (bash ulimit -f, in KiB) with SIGXFSZ ignored, so write()
# fails instead of the process being killed. ENOSPC and the precheck need a small
# filesystem: a tmpfs, mounted only when we are root and allowed to mount; otherwise
# those checks are reported as not run.
IN=$DATA/dev-tiny/input
REF=$TMP/ref
"$DSCONV" fp8-to-bf16 "$IN" "$REF" --quiet >/dev/null 2>&1 || fail "fullfs: reference conversion"

no_tmp_files() { ! ls -A "$1" 2>/dev/null | grep -q 'dsconv-tmp'; }
no_index() { [ ! -e "$1/model.safetensors.index.json" ]; }
# same_as_ref OUT: every reference file has the same bytes in OUT
same_as_ref() { local f; for f in "$REF"/*; do cmp -s "$f" "$1/$(basename "$f")" || return 1; done; }

# --- EFBIG in the middle of a shard (every shard is > 2 MB; the executor fills
# several at once, so which one meets the limit first depends on its lanes) ---
OUT=$TMP/efbig
expect_rc "EFBIG: exit 4" 4 bash -c 'trap "" XFSZ; ulimit -f 2000; exec "$@"' _ \
    "$DSCONV" fp8-to-bf16 "$IN" "$OUT" --quiet
expect_err "EFBIG: message says File too large" "File too large"
check "EFBIG: message names the shard" grep -qE "model-0000[1-3]-of-00003.safetensors" "$TMP/err"
check "EFBIG: temporary files removed" no_tmp_files "$OUT"
check "EFBIG: no index in OUT" no_index "$OUT"
check "EFBIG: no shard under its final name" bash -c "! ls '$OUT' | grep -q safetensors"
expect_rc "EFBIG: --resume without the limit finishes" 0 "$DSCONV" fp8-to-bf16 "$IN" "$OUT" --resume --quiet
check "EFBIG: resumed output identical to an uninterrupted run" same_as_ref "$OUT"

# The same through shard-for-mp (other plan, same executor).
OUT=$TMP/efbig-mp
expect_rc "EFBIG shard-for-mp: exit 4" 4 bash -c 'trap "" XFSZ; ulimit -f 1000; exec "$@"' _ \
    "$DSCONV" shard-for-mp "$IN" "$OUT" --model-parallel 2 --quiet
expect_err "EFBIG shard-for-mp: message says File too large" "File too large"
check "EFBIG shard-for-mp: temporary files removed" no_tmp_files "$OUT"
check "EFBIG shard-for-mp: no config.json (the last file) in OUT" test ! -e "$OUT/config.json"

# No byte may be written at all: the very first write (a shard header) fails.
OUT=$TMP/efbig-0
expect_rc "EFBIG at the first write (ulimit -f 0): exit 4" 4 bash -c 'trap "" XFSZ; ulimit -f 0; exec "$@"' _ \
    "$DSCONV" fp8-to-bf16 "$IN" "$OUT" --quiet
check "EFBIG at the first write: temporary files removed" no_tmp_files "$OUT"
check "EFBIG at the first write: no index in OUT" no_index "$OUT"

# --- a small tmpfs: ENOSPC and the precheck ---------------------------------
MNT=$TMP/mnt
can_mount() {
    [ "$(id -u)" = 0 ] || return 1
    mkdir -p "$MNT" && mount -t tmpfs -o size=4m tmpfs "$MNT" 2>/dev/null && umount "$MNT"
}
pages() { echo $(( ($(stat -c %s "$1") + 4095) / 4096 )); }

if can_mount; then
    trap 'umount "$MNT" 2>/dev/null' EXIT   # never leave a mount behind, even if this script is cut short
    # Precheck: 4 MiB cannot hold ~13 MB of output; refused before anything is written.
    mount -t tmpfs -o size=4m tmpfs "$MNT"
    expect_rc "precheck: 4 MiB tmpfs refused with exit 4" 4 "$DSCONV" fp8-to-bf16 "$IN" "$MNT/out" --quiet
    expect_err "precheck: says not enough free space" "not enough free space"
    check "precheck: nothing written" test -z "$(ls -A "$MNT/out" 2>/dev/null)"
    check "precheck: no space used on the tmpfs" test "$(df -B1 --output=used "$MNT" | tail -1 | tr -d ' ')" -lt 65536
    umount "$MNT"

    # ENOSPC: room for the shards and the small side files, but not for the index,
    # which is written last (tmpfs counts whole 4 KiB pages).
    n=0
    for f in "$REF"/*; do [ "$(basename "$f")" = model.safetensors.index.json ] || n=$((n + $(pages "$f"))); done
    # and the run's journal (OUT/.dsconv/run.log: the record's entries, unindented)
    n=$((n + $(( ($(tr -d ' \t\n' <"$REF/.dsconv/run.json" | wc -c) + 4095) / 4096 ))))
    mount -t tmpfs -o size=$((n * 4))k tmpfs "$MNT"
    OUT=$MNT/out
    expect_rc "ENOSPC on the index: exit 4" 4 "$DSCONV" fp8-to-bf16 "$IN" "$OUT" --quiet
    expect_err "ENOSPC: message says No space left" "No space left on device"
    expect_err "ENOSPC: message names the index" "model.safetensors.index.json"
    check "ENOSPC: temporary files removed" no_tmp_files "$OUT"
    check "ENOSPC: no index in OUT" no_index "$OUT"
    # Room again: --resume keeps the three shards and writes the rest.
    mount -o remount,size=$(((n + 16) * 4))k "$MNT"
    expect_rc "ENOSPC: --resume after freeing space finishes" 0 "$DSCONV" fp8-to-bf16 "$IN" "$OUT" --resume --quiet \
        --json "$TMP/resume.json"
    check "ENOSPC: --resume kept the 3 complete shards" grep -q '"files_kept":[[:space:]]*3' "$TMP/resume.json"
    check "ENOSPC: resumed output identical to an uninterrupted run" same_as_ref "$OUT"
    umount "$MNT"

    # to-gguf (one 7 MB file written by parallel workers at known offsets): the disk fills part way
    # (pwrite, by the writer thread or each worker) or at the start (--reserve): exit 4, nothing left behind.
    mount -t tmpfs -o size=3m tmpfs "$MNT"
    for args in "--threads 3" "--threads 3 --writers 1" "--reserve"; do
        expect_rc "to-gguf ENOSPC ($args): exit 4" 4 "$DSCONV" to-gguf "$IN" "$MNT/o.gguf" --type bf16 --no-vocab $args --quiet
        expect_err "to-gguf ENOSPC ($args): No space left" "No space left on device"
        check "to-gguf ENOSPC ($args): no output, no temporary" bash -c "[ -z \"\$(ls -A '$MNT')\" ]"
    done
    umount "$MNT"
    trap - EXIT
else
    echo "NOT RUN fullfs tmpfs checks (ENOSPC, free-space precheck): need root and permission to mount a tmpfs"
fi
rm -rf "$TMP/efbig" "$TMP/efbig-mp" "$TMP/efbig-0" "$REF"
