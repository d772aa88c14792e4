# fuzz_short.sh - the CI part of fuzzing (issue 7): builds the libFuzzer harnesses
# (fuzz/fuzz.sh, clang with ASan+UBSan), replays every saved finding in
# fuzz/regressions/ and every seed, then fuzzes each harness for FUZZ_SECONDS
# (default 20). Long runs: fuzz/fuzz.sh run NAME 600 (see fuzz/MANUAL-reliability.md).
# Without a clang that links -fsanitize=fuzzer this says so and runs nothing.
SECS=${FUZZ_SECONDS:-20}
export FUZZ_BUILD=$TMP/fuzz-build
bash fuzz/fuzz.sh build >"$TMP/fuzz-build.log" 2>&1
rc=$?
if [ $rc = 77 ]; then
    echo "NOT RUN fuzz: $(tail -1 "$TMP/fuzz-build.log")"
elif [ $rc != 0 ]; then
    fail "fuzz: harnesses build" "$(tail -20 "$TMP/fuzz-build.log")"
else
    pass "fuzz: harnesses build (clang, -fsanitize=fuzzer,address,undefined)"
    for h in st_header index config runrec; do
        n=$(find "fuzz/regressions/$h" -type f 2>/dev/null | wc -l)
        files=$(find "fuzz/regressions/$h" "fuzz/seeds/$h" -type f 2>/dev/null | sort)
        # shellcheck disable=SC2086
        if "$FUZZ_BUILD/fuzz_$h" -close_fd_mask=2 $files >"$TMP/replay.log" 2>&1; then
            pass "fuzz $h: $n regression input(s) and the seeds replay cleanly"
        else
            fail "fuzz $h: $n regression input(s) and the seeds replay cleanly" \
                "$(grep -E 'Running:|ERROR|SUMMARY|^#[0-9]+ ' "$TMP/replay.log" | tail -8)"
        fi
        bash fuzz/fuzz.sh run "$h" "$SECS" >"$TMP/fuzz-$h.log" 2>&1
        stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$TMP/fuzz-$h.log" | tail -1 | sed 's/^#\([0-9]*\)[[:space:]]*DONE[[:space:]]*/\1 runs, /')
        if grep -q '^Done [0-9]* runs' "$TMP/fuzz-$h.log"; then
            pass "fuzz $h: ${SECS}s without a finding ($stats)"
        else
            fail "fuzz $h: ${SECS}s without a finding" \
                "$(grep -E 'ERROR|SUMMARY|Test unit written' "$TMP/fuzz-$h.log" | head -5); save the input below as fuzz/regressions/$h/NAME and fix the parser"
            # the input, recoverable from the log: base64 -d > fuzz/regressions/$h/NAME
            for f in "$FUZZ_BUILD/findings/$h"/*; do [ -f "$f" ] && { echo "finding $(basename "$f") (base64):"; base64 "$f"; }; done
        fi
    done
fi
rm -rf "$FUZZ_BUILD"
