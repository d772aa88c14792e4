# crash.sh - crash safety (issue 7): a conversion killed with SIGKILL at a random
# moment never leaves OUT looking complete, and --resume then finishes it with a
# result byte-identical to an uninterrupted run.
#
# "Looking complete" means the file that is written last exists: the index for
# fp8-to-bf16 (model.safetensors.index.json), config.json for shard-for-mp. After
# every kill: if that marker exists, every output file must already be there and
# identical to the reference; in any case every *.safetensors under its final name
# must be identical to the reference (files appear only by rename when complete).
# Half of the iterations also kill the first --resume before the final one.
# Commands: fp8-to-bf16, shard-for-mp --dtype bf16, requant --bits 4 (requant only
# if built: its --help exits 0).
# Kill moments are drawn from [0, the (warm) reference run's duration], a window
# narrowed whenever a run finishes before its kill; the seed
# is printed so a failure can be replayed (CRASH_SEED=N, CRASH_ITERS=N).
SEED=${CRASH_SEED:-$(( $(date +%s) % 32768 ))}
ITERS=${CRASH_ITERS:-10}
RANDOM=$SEED
echo "crash: seed $SEED, $ITERS iterations per command (requant a third of that)"

# A checkpoint large enough (220 MB, 6 shards) that fp8-to-bf16 takes 0.5-1 s here.
SRC=$TMP/src
"$SAMPLE" --out "$SRC" --layers 8 --experts 32 --hidden 512 --moe-inter 512 --shards 6 --fast --quiet ||
    fail "crash: sample checkpoint generated"

now_ms() { date +%s%3N; }

# same_as_ref REF OUT: every file of REF is in OUT with the same bytes, and OUT has nothing else
same_as_ref() {
    local f ok=0
    for f in "$1"/*; do cmp -s "$f" "$2/$(basename "$f")" || { echo "  differs or missing: $(basename "$f")"; ok=1; }; done
    for f in "$2"/* "$2"/.[!.]*; do
        [ -e "$f" ] || continue
        [ "$(basename "$f")" = .dsconv ] && continue   # the run's record (convert/runrec.h)
        [ -e "$1/$(basename "$f")" ] || { echo "  extra file: $(basename "$f")"; ok=1; }
    done
    return $ok
}

# partial_ok REF OUT MARKER: the state after a kill is safe (see the header)
partial_ok() {
    local f ok=0
    for f in "$2"/*.safetensors; do
        [ -e "$f" ] || continue
        cmp -s "$f" "$1/$(basename "$f")" || { echo "  $(basename "$f") under its final name but not complete"; ok=1; }
    done
    if [ -e "$2/$3" ]; then
        for f in "$1"/*; do
            cmp -s "$f" "$2/$(basename "$f")" || { echo "  $3 present but $(basename "$f") missing or different"; ok=1; }
        done
    fi
    return $ok
}

# kill_at MS CMD...: runs CMD in the background, SIGKILLs it after MS milliseconds
# (if still running), waits for it; prints "killed" or "finished"
kill_at() {
    local ms=$1; shift
    "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # 137 = 128 + SIGKILL; anything else means it had already exited
    if [ $? = 137 ]; then echo killed; else echo finished; fi
}

# crash_loop NAME MARKER ITERATIONS ARGS... (IN and OUT substituted)
crash_loop() {
    local name=$1 marker=$2 iters=$3; shift 3
    local ref=$TMP/ref-$name out=$TMP/out-$name a args=() ref_args=() resume=()
    for a in "$@"; do
        case $a in
        IN) args+=("$SRC"); ref_args+=("$SRC") ;;
        OUT) args+=("$out"); ref_args+=("$ref") ;;
        *) args+=("$a"); ref_args+=("$a") ;;
        esac
    done
    # Reference run; a second one (warm caches, into a fresh directory like the runs
    # below) times the kill window.
    local t0 dur
    "$DSCONV" "${ref_args[@]}" --quiet >/dev/null 2>"$TMP/err" || { fail "crash $name: reference run" "$(head -c 300 "$TMP/err")"; return; }
    t0=$(now_ms)
    "$DSCONV" "${args[@]}" --quiet >/dev/null 2>&1
    dur=$(( $(now_ms) - t0 ))
    rm -rf "$out"
    echo "crash $name: uninterrupted run takes $dur ms"
    local i ms state killed=0 finished=0 bad_partial=0 bad_resume=0 some_done=0 tmp_seen=0
    for i in $(seq 1 "$iters"); do
        rm -rf "$out"
        ms=$(( (RANDOM * 32768 + RANDOM) % (dur + 1) ))
        state=$(kill_at "$ms" "$DSCONV" "${args[@]}" --quiet)
        if [ "$state" = killed ]; then killed=$((killed + 1))
        else
            # it took less than the window: narrow the window so later kills land mid-run
            finished=$((finished + 1)); [ "$ms" -gt 100 ] && dur=$((ms * 9 / 10))
        fi
        # how far the killed run got: some files complete (not all), a temporary file left by the kill
        if [ ! -e "$out/$marker" ] && ls "$out" 2>/dev/null | grep -q safetensors; then some_done=$((some_done + 1)); fi
        if ls -A "$out" 2>/dev/null | grep -q dsconv-tmp; then tmp_seen=$((tmp_seen + 1)); fi
        if ! partial_ok "$ref" "$out" "$marker"; then
            echo "  iteration $i (kill at $ms ms, $state): unsafe state after the kill"; bad_partial=$((bad_partial + 1))
        fi
        if [ $((i % 2)) = 0 ] && [ -d "$out" ]; then
            # kill the resume too, somewhere in its run
            ms=$(( RANDOM % (dur + 1) ))
            state=$(kill_at "$ms" "$DSCONV" "${args[@]}" --resume --quiet)
            partial_ok "$ref" "$out" "$marker" ||
                { echo "  iteration $i: unsafe state after killing --resume at $ms ms"; bad_partial=$((bad_partial + 1)); }
        fi
        if [ -d "$out" ]; then resume=(--resume); else resume=(); fi
        if ! "$DSCONV" "${args[@]}" "${resume[@]}" --quiet >/dev/null 2>"$TMP/err"; then
            echo "  iteration $i: --resume failed: $(head -c 300 "$TMP/err")"; bad_resume=$((bad_resume + 1))
        elif ! same_as_ref "$ref" "$out"; then
            echo "  iteration $i (kill at $ms ms): resumed output differs from the uninterrupted run"; bad_resume=$((bad_resume + 1))
        fi
    done
    echo "crash $name: $killed runs killed mid-way ($some_done with some but not all files complete," \
        "$tmp_seen leaving a temporary file), $finished finished before the kill"
    check "crash $name: OUT never looks complete before it is ($iters kills)" test "$bad_partial" = 0
    check "crash $name: --resume gives bytes identical to an uninterrupted run ($iters times)" test "$bad_resume" = 0
    check "crash $name: at least one kill landed mid-run" test "$killed" -gt 0
    rm -rf "$out" "$ref"
}

crash_loop fp8-to-bf16 model.safetensors.index.json "$ITERS" fp8-to-bf16 IN OUT
crash_loop shard-for-mp config.json "$ITERS" shard-for-mp IN OUT --model-parallel 2 --dtype bf16
# requant is ~10x slower per byte: fewer iterations
"$DSCONV" requant --help >/dev/null 2>&1 && crash_loop requant model.safetensors.index.json $(( (ITERS + 2) / 3 )) requant IN OUT --bits 4
rm -rf "$SRC"
