# options.sh - every command's option table (cmd/parse_options.h): each option
# that --help lists parses (given before --help, which the parser answers at
# once, so no checkpoint is needed), a bad value and an unknown option are
# usage errors (exit 2), abbreviations and -h work, and the run record keeps
# the command's own options under their full names.
# Sourced by tests/run.sh with DSCONV, SAMPLE, DATA, TMP set (see lib.sh).

CMDS="to-bf16 fp8-to-bf16 shard-for-mp strip-mtp requant verify inspect manifest finish to-gguf"

# a value the option accepts, from its value name in --help
value_for() {
    case $1 in
    *'|'*) echo "${1%%|*}" ;;
    N | E) echo 1 ;;
    G) echo 0 ;;
    X) echo 0.5 ;;
    I/N) echo 1/2 ;;
    T) echo bf16 ;;
    PATTERN=T) echo 'blk.*=q8_0' ;;
    *) echo x ;;
    esac
}

for cmd in $CMDS; do
    expect_rc "$cmd --help exits 0" 0 "$DSCONV" "$cmd" --help
    cp "$TMP/out" "$TMP/help"
    # option lines: "  --name [VALUE]  help" or "  -o, --name [VALUE]  help"
    grep -E '^  (-[a-zA-Z], )?--[a-z0-9-]+' "$TMP/help" |
        sed -E 's/^  (-[a-zA-Z], )?--([a-z0-9-]+)( ([^ ]+))?.*/\2 \4/' >"$TMP/opts"
    n=$(wc -l <"$TMP/opts")
    check "$cmd --help lists options ($n)" test "$n" -ge 1
    dups=$(cut -d' ' -f1 "$TMP/opts" | sort | uniq -d | tr '\n' ' ')
    check "$cmd --help lists each option once${dups:+ (twice: $dups)}" test -z "$dups"
    bad=""
    while read -r name argh; do
        if [ -n "$argh" ]; then
            "$DSCONV" "$cmd" "--$name" "$(value_for "$argh")" --help >/dev/null 2>"$TMP/err" || bad="$bad --$name"
        else
            "$DSCONV" "$cmd" "--$name" --help >/dev/null 2>"$TMP/err" || bad="$bad --$name"
        fi
    done <"$TMP/opts"
    check "$cmd: every option --help lists parses${bad:+ (not:$bad)}" test -z "$bad"
    expect_rc "$cmd: unknown option exits 2" 2 "$DSCONV" "$cmd" --no-such-option x y
    expect_err "$cmd: unknown option named" "no-such-option"
    check "$cmd: usage error prints the help on stderr" grep -q "^usage: dsconv" "$TMP/err"
    expect_rc "$cmd: 'dsconv help $cmd' exits 0" 0 "$DSCONV" help "$cmd"
    check "$cmd: 'dsconv help $cmd' is --help" cmp -s "$TMP/out" "$TMP/help"
done

# values the tables check
expect_rc "--threads 0 refused" 2 "$DSCONV" strip-mtp --threads 0 --help
expect_err "--threads range named" "--threads takes a whole number from 1 to 4096 (got '0')"
expect_rc "--expect bad refused" 2 "$DSCONV" verify --expect maybe --help
expect_err "--expect choices named" "--expect must be auto, identical or close (got 'maybe')"
expect_rc "--min-top1 above 1 refused" 2 "$DSCONV" verify --min-top1 2 --help
expect_err "--min-top1 range named" "--min-top1 takes a number from 0 to 1 (got '2')"
expect_rc "--dtype bad refused" 2 "$DSCONV" shard-for-mp --dtype fp16 --help
expect_err "--dtype choices named" "--dtype must be fp8 or bf16"
expect_rc "missing value exits 2" 2 "$DSCONV" requant --bits
expect_rc "a flag given a value exits 2" 2 "$DSCONV" strip-mtp --force=1 --help
expect_rc "manifest -h is --help" 0 "$DSCONV" manifest -h
expect_rc "abbreviation --dev parses" 0 "$DSCONV" to-bf16 --dev cpu --help
expect_rc "--finish-parts is internal (not listed, parsed)" 0 "$DSCONV" strip-mtp --finish-parts 2 --help
check "--finish-parts is not in --help" bash -c "! '$DSCONV' strip-mtp --help | grep -q finish-parts"

# the run record keeps a command's own options under their full names (an
# abbreviation too), the shared ones not at all: --resume and finish read it
IN=$DATA/dev-tiny/input
expect_rc "requant with abbreviated options" 0 "$DSCONV" requant "$IN" "$TMP/rq" --bit 4 --group 64 --quiet --no-sync
rec=$(ls "$TMP/rq/.dsconv/"*.json 2>/dev/null | head -n 1)
check "run record names --bits=4 and --group-size=64" bash -c "grep -q -- '--bits=4' '$rec' && grep -q -- '--group-size=64' '$rec'"
check "run record leaves out shared options" bash -c "! grep -q -- '--quiet\\|--no-sync' '$rec'"
