# parts.sh - one conversion as N parts (issue 15) and resume records (issue 12):
# for every writing command, N parts launched at once as separate processes,
# then `dsconv finish`, give the same bytes as the whole run (every file, the
# index included) for N = 1, 2, 3 and more parts than files; a part SIGKILLed
# mid-write resumes; a missing, unfinished or foreign part is refused with
# exit 3 and nothing written; --resume refuses an input or options that changed
# and keeps only files its record proves.
IN=$TMP/in
"$SAMPLE" --out "$IN" --shards 5 --quiet || fail "parts: sample checkpoint generated"

# same_tree REF OUT: the same files with the same bytes (the run records in .dsconv aside)
same_tree() {
    local f ok=0
    for f in "$1"/*; do cmp -s "$f" "$2/$(basename "$f")" || { echo "  differs or missing: $(basename "$f")"; ok=1; }; done
    for f in "$2"/* "$2"/.[!.]*; do
        [ -e "$f" ] || continue
        [ "$(basename "$f")" = .dsconv ] && continue
        [ -e "$1/$(basename "$f")" ] || { echo "  extra: $(basename "$f")"; ok=1; }
    done
    return $ok
}
nfiles() { ls "$1"/*.safetensors | wc -l; }

# parts_run NAME N OUT CMD ARGS...: N parts of "dsconv CMD IN OUT ARGS" launched at once, then finish
parts_run() {
    local name=$1 n=$2 out=$3 cmd=$4 i pids=() bad=0; shift 4
    for i in $(seq 1 "$n"); do
        "$DSCONV" "$cmd" "$IN" "$out" "$@" --part "$i/$n" --quiet --no-sync 2>"$TMP/err.$i" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do wait "${pids[$i]}" || { bad=1; echo "  part $((i + 1)): $(head -c 300 "$TMP/err.$((i + 1))")"; }; done
    check "$name: $n parts at once all exit 0" test "$bad" = 0
    expect_rc "$name: finish after $n parts" 0 "$DSCONV" finish "$out" --rehash --quiet --manifest "$out.manifest"
}

for spec in "fp8-to-bf16" "requant --bits 4" "strip-mtp" "shard-for-mp --model-parallel 4 --dtype bf16"; do
    set -- $spec
    cmd=$1; shift
    ref=$TMP/ref-$cmd
    "$DSCONV" "$cmd" "$IN" "$ref" "$@" --quiet --no-sync --manifest "$ref.manifest" || fail "$cmd: whole run"
    files=$(nfiles "$ref")
    for n in 1 2 3 $((files + 2)); do
        out=$TMP/p-$cmd-$n
        parts_run "$cmd" "$n" "$out" "$cmd" "$@"
        check "$cmd: $n parts + finish = whole run, byte for byte ($files files)" same_tree "$ref" "$out"
        check "$cmd: $n parts: combined manifest = the whole run's --manifest" cmp -s "$ref.manifest" "$out.manifest"
        check "$cmd: $n parts: OUT/.dsconv/manifest.json written" cmp -s "$out.manifest" "$out/.dsconv/manifest.json"
        rm -rf "$out" "$out.manifest"
    done
done
REF=$TMP/ref-fp8-to-bf16

# Parts are a pure function of input, options and N: every file in exactly one part, parts balanced.
out=$TMP/assign
parts_run "assignment" 3 "$out" fp8-to-bf16
for i in 1 2 3; do sed -n '/"files"/,$p' "$out/.dsconv/part-$i-of-3.json" | grep -o '"model-[0-9]*-of-[0-9]*.safetensors"'; done \
    >"$TMP/assigned"
check "assignment: each shard in exactly one part's record" \
    test "$(sort "$TMP/assigned" | uniq | wc -l)" = 5 -a "$(wc -l <"$TMP/assigned")" = 5
rm -rf "$out"

# --- usage ---------------------------------------------------------------------------
for bad in 0/3 4/3 3 x/y 1/0 -1/2; do
    expect_rc "--part $bad refused (usage)" 2 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/u" --part "$bad"
done
check "refused --part wrote nothing" test ! -e "$TMP/u/.dsconv"
expect_rc "finish of an OUT without part records: exit 3" 3 "$DSCONV" finish "$REF"
expect_err "finish without records says so" "no part records"

# --- a missing part, an unfinished part -----------------------------------------------
out=$TMP/missing
"$DSCONV" fp8-to-bf16 "$IN" "$out" --part 1/3 --quiet && "$DSCONV" fp8-to-bf16 "$IN" "$out" --part 3/3 --quiet
expect_rc "missing part: finish exits 3" 3 "$DSCONV" finish "$out"
expect_err "missing part: names part 2" "part(s) 2 of 3"
check "missing part: nothing written (no index, config, side files, manifest)" \
    test ! -e "$out/model.safetensors.index.json" -a ! -e "$out/config.json" -a ! -e "$out/tokenizer_config.json" \
    -a ! -e "$out/.dsconv/manifest.json"
# an unfinished part: its first write fails (file size limit), leaving only its journal
expect_rc "unfinished part: part 2 fails on its first write (exit 4)" 4 \
    bash -c 'trap "" XFSZ; ulimit -f 1000; exec "$@"' _ "$DSCONV" fp8-to-bf16 "$IN" "$out" --part 2/3 --quiet
check "unfinished part: its journal is there" test -e "$out/.dsconv/part-2-of-3.log"
expect_rc "unfinished part: finish exits 3" 3 "$DSCONV" finish "$out"
expect_err "unfinished part: says part 2 did not finish" "part(s) 2 of 3 did not finish"
check "unfinished part: no index written" test ! -e "$out/model.safetensors.index.json"
expect_rc "part 2 run again with --resume" 0 "$DSCONV" fp8-to-bf16 "$IN" "$out" --part 2/3 --resume --quiet
expect_rc "all parts: finish exits 0" 0 "$DSCONV" finish "$out" --quiet
check "finish after a missing part was run: identical to the whole run" same_tree "$REF" "$out"
# finish --rehash catches a recorded file whose bytes changed (same size)
victim=$(ls "$out"/*.safetensors | head -1)
printf 'XXXX' | dd of="$victim" bs=1 seek=$(( $(stat -c %s "$victim") - 8 )) conv=notrunc 2>/dev/null
rm "$out/model.safetensors.index.json"
expect_rc "finish --rehash: a changed file refused (exit 3)" 3 "$DSCONV" finish "$out" --rehash
expect_err "finish --rehash names the file" "$(basename "$victim")"
check "finish --rehash refusal wrote no index" test ! -e "$out/model.safetensors.index.json"
rm -rf "$out"

# --- finish replays only the command's own options from a record
out=$TMP/planted
"$DSCONV" requant "$IN" "$out" --bits 4 --part 1/1 --quiet --no-sync
sed -i 's|"--bits=4"|"--bits=4", "--man='"$TMP"'/planted.txt"|' "$out/.dsconv/part-1-of-1.json"
expect_rc "finish refuses a record with a shared option planted in it (exit 3)" 3 "$DSCONV" finish "$out"
expect_err "finish names the planted option" "recorded option '--man="
check "the planted option was not obeyed" test ! -e "$TMP/planted.txt" -a ! -e "$out/config.json"
rm -rf "$out"

# --- a part from a changed input, or with other options --------------------------------
IN2=$TMP/in2
cp -r "$IN" "$IN2"
sed -i 's/"rms_norm_eps":\([[:space:]]*\)[0-9.e-]*/"rms_norm_eps":\10.5/' "$IN2/config.json"
cmp -s "$IN/config.json" "$IN2/config.json" && fail "parts: changed input prepared" "sed changed nothing"
out=$TMP/foreign
"$DSCONV" fp8-to-bf16 "$IN" "$out" --part 1/2 --quiet
expect_rc "part from a changed input refused at once (exit 3)" 3 "$DSCONV" fp8-to-bf16 "$IN2" "$out" --part 2/2
expect_err "changed input: says config.json changed" "config.json changed"
check "changed input: the refused part wrote nothing" test ! -e "$out/.dsconv/part-2-of-2.json" -a \
    ! -e "$out/.dsconv/part-2-of-2.log" -a "$(ls "$out"/*.safetensors | wc -l)" = "$(ls "$TMP"/foreign/*.safetensors | wc -l)"
expect_rc "part with other options refused (exit 3)" 3 "$DSCONV" requant "$IN" "$out" --part 2/2 --bits 4
expect_err "other options: says the command differs" "command requant, was fp8-to-bf16"
"$DSCONV" requant "$IN" "$TMP/rq" --part 1/2 --bits 4 --quiet
expect_rc "requant part with --bits 8 into a --bits 4 split refused" 3 "$DSCONV" requant "$IN" "$TMP/rq" --part 2/2 --bits 8
expect_err "other options: names them" "options '--bits=8', were '--bits=4'"
expect_rc "a part of another N refused (exit 3)" 3 "$DSCONV" fp8-to-bf16 "$IN" "$out" --part 2/3
expect_err "another N: says so" "split into 2"
expect_rc "a whole run into an OUT of parts refused (exit 3)" 3 "$DSCONV" fp8-to-bf16 "$IN" "$out" --resume
# the input changes between the parts and finish
"$DSCONV" fp8-to-bf16 "$IN" "$out" --part 2/2 --quiet
expect_rc "finish with --input of a changed input: exit 3" 3 "$DSCONV" finish "$out" --input "$IN2"
expect_err "finish names the parts whose input differs" "part 1 of 2"
check "finish refusal wrote nothing" test ! -e "$out/model.safetensors.index.json" -a ! -e "$out/config.json"
expect_rc "finish with the recorded input: exit 0" 0 "$DSCONV" finish "$out" --quiet
check "finish result identical to the whole run" same_tree "$REF" "$out"
rm -rf "$out" "$TMP/rq"

# --- a part SIGKILLed mid-write, then resumed ------------------------------------------
BIG=$TMP/big
"$SAMPLE" --out "$BIG" --layers 6 --experts 32 --hidden 512 --moe-inter 512 --shards 8 --fast --quiet ||
    fail "parts: larger sample generated"
"$DSCONV" fp8-to-bf16 "$BIG" "$TMP/big-ref" --quiet
killed=0
for attempt in 1 2 3 4 5 6 7 8; do
    out=$TMP/kill
    rm -rf "$out"
    "$DSCONV" fp8-to-bf16 "$BIG" "$out" --part 1/2 --quiet --threads 1 --chunk-mb 1 &
    pid=$!
    # wait until the part has committed a file and is writing the next one
    for _ in $(seq 1 400); do
        if [ -e "$out/.dsconv/part-1-of-2.log" ] && [ "$(wc -l <"$out/.dsconv/part-1-of-2.log")" -ge 2 ] &&
            ls -A "$out" | grep -q dsconv-tmp; then
            kill -KILL "$pid"; break
        fi
        sleep 0.01
    done
    wait "$pid" 2>/dev/null
    if [ ! -e "$out/.dsconv/part-1-of-2.json" ] && ls -A "$out" | grep -q dsconv-tmp; then killed=1; break; fi
done
check "kill: a part was SIGKILLed mid-write" test "$killed" = 1
proven=$(( $(wc -l <"$out/.dsconv/part-1-of-2.log") - 1 ))
expect_rc "kill: finish before the resume refuses (exit 3)" 3 "$DSCONV" finish "$out"
expect_err "kill: says part 1 did not finish" "part(s) 1 of 2 did not finish"
expect_rc "kill: part 2 runs meanwhile" 0 "$DSCONV" fp8-to-bf16 "$BIG" "$out" --part 2/2 --quiet
expect_rc "kill: part 1 --resume" 0 "$DSCONV" fp8-to-bf16 "$BIG" "$out" --part 1/2 --resume --quiet --json "$TMP/k.json"
check "kill: --resume kept the $proven files the journal proves" grep -q "\"files_kept\":[[:space:]]*$proven," "$TMP/k.json"
check "kill: no temporary files left" bash -c "! ls -A '$out' | grep -q dsconv-tmp"
expect_rc "kill: finish" 0 "$DSCONV" finish "$out" --rehash --quiet
check "kill: killed, resumed and finished = the whole run" same_tree "$TMP/big-ref" "$out"
rm -rf "$out" "$TMP/big-ref"

# --- --resume of a whole run: input or options changed, files proven not assumed -------
out=$TMP/res
"$DSCONV" fp8-to-bf16 "$IN" "$out" --quiet
rm "$out/model.safetensors.index.json" "$(ls "$out"/*.safetensors | tail -1)"
cp "$IN2/config.json" "$TMP/cfg2"; cp "$IN/config.json" "$TMP/cfg1"
cp "$TMP/cfg2" "$IN/config.json"
expect_rc "resume after the input's config changed: exit 3" 3 "$DSCONV" fp8-to-bf16 "$IN" "$out" --resume
expect_err "resume refusal says config.json changed" "cannot resume: input changed: config.json changed"
check "resume refusal wrote nothing (no index)" test ! -e "$out/model.safetensors.index.json"
cp "$TMP/cfg1" "$IN/config.json"
expect_rc "resume with other options (requant into an fp8-to-bf16 OUT): exit 3" 3 "$DSCONV" requant "$IN" "$out" --resume
expect_err "resume refusal names the command" "command requant, was fp8-to-bf16"
# a shard header changes (same tensors, another dtype name order would do; here: a changed size)
cp -r "$IN" "$TMP/in3"
s=$(ls "$TMP/in3"/*.safetensors | head -1); printf 'x' >>"$s"
expect_rc "resume after a shard changed: exit 3" 3 "$DSCONV" fp8-to-bf16 "$TMP/in3" "$out" --resume
expect_err "resume refusal names the shard" "shard $(basename "$s")"
rm -rf "$TMP/in3"
expect_rc "resume with the same input and options" 0 "$DSCONV" fp8-to-bf16 "$IN" "$out" --resume --quiet --json "$TMP/r.json"
check "resume kept the 4 proven shards" grep -q '"files_kept":[[:space:]]*4,' "$TMP/r.json"
check "resume: identical to the whole run" same_tree "$REF" "$out"
# without a record nothing is assumed: every file is written again
rm -rf "$out/.dsconv" "$out/model.safetensors.index.json"
expect_rc "resume without a record" 0 "$DSCONV" fp8-to-bf16 "$IN" "$out" --resume --quiet --json "$TMP/r.json"
check "resume without a record kept nothing" grep -q '"files_kept":[[:space:]]*0,' "$TMP/r.json"
expect_err "resume without a record warns" "no record of an earlier run"
# --rehash needs recorded hashes: a run without --manifest records sizes only, so all is written again
rm "$out/model.safetensors.index.json"
expect_rc "resume --rehash of a record without hashes" 0 "$DSCONV" fp8-to-bf16 "$IN" "$out" --resume --rehash --quiet \
    --manifest "$TMP/r.man" --json "$TMP/r.json"
check "resume --rehash without recorded hashes kept nothing" grep -q '"files_kept":[[:space:]]*0,' "$TMP/r.json"
check "a run with --manifest records hashes" bash -c "sed -n '/\"files\"/,\$p' '$out/.dsconv/run.json' | grep -q xxh3_128"
"$DSCONV" fp8-to-bf16 "$IN" "$TMP/nohash" --quiet --no-sync
check "a run without --manifest records sizes, no hashes (no cost in the writer)" \
    bash -c "sed -n '/\"files\"/,\$p' '$TMP/nohash/.dsconv/run.json' >'$TMP/nohash.files' &&
             grep -q '\"size\"' '$TMP/nohash.files' && ! grep -q xxh3_128 '$TMP/nohash.files'"
rm -rf "$TMP/nohash"
# --rehash: a kept file whose bytes changed (same size, same header) is written again
victim=$(ls "$out"/*.safetensors | head -1)
printf 'XXXX' | dd of="$victim" bs=1 seek=$(( $(stat -c %s "$victim") - 8 )) conv=notrunc 2>/dev/null
rm "$out/model.safetensors.index.json"
expect_rc "resume --rehash" 0 "$DSCONV" fp8-to-bf16 "$IN" "$out" --resume --rehash --quiet --json "$TMP/r.json"
check "resume --rehash rewrote the changed file (4 kept)" grep -q '"files_kept":[[:space:]]*4,' "$TMP/r.json"
check "resume --rehash: identical to the whole run" same_tree "$REF" "$out"
expect_rc "--force starts over after a change" 0 "$DSCONV" fp8-to-bf16 "$IN2" "$out" --force --quiet
check "--force: the record now names the new input" grep -q "$(basename "$IN2")" "$out/.dsconv/run.json"
rm -rf "$out" "$IN2"

# --- --device cuda:K -------------------------------------------------------------------
expect_rc "--device cuda:x refused (usage)" 2 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/d" --device cuda:x
if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    expect_rc "--device cuda:0 without a GPU: exit 2" 2 "$DSCONV" fp8-to-bf16 "$IN" "$TMP/d" --device cuda:0
fi
