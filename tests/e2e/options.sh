# options.sh - every command's option table (cmd/parse_options.h), and
# dsconv-sample's: each option that --help lists parses (given before --help, which the parser answers at
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
    v3-bench) echo v3-bench ;;
    *) echo x ;;
    esac
}

# table_checks NAME USAGE CMD...: the checks every option table gets; CMD runs
# the program (with its command), USAGE begins its usage line
table_checks() {
    local cmd=$1 usage=$2 name argh bad dups n
    shift 2
    expect_rc "$cmd --help exits 0" 0 "$@" --help
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
            "$@" "--$name" "$(value_for "$argh")" --help >/dev/null 2>"$TMP/err" || bad="$bad --$name"
        else
            "$@" "--$name" --help >/dev/null 2>"$TMP/err" || bad="$bad --$name"
        fi
    done <"$TMP/opts"
    check "$cmd: every option --help lists parses${bad:+ (not:$bad)}" test -z "$bad"
    expect_rc "$cmd: unknown option exits 2" 2 "$@" --no-such-option x y
    expect_err "$cmd: unknown option named" "no-such-option"
    check "$cmd: usage error prints the help on stderr" grep -q "^usage: $usage" "$TMP/err"
}

for cmd in $CMDS; do
    table_checks "$cmd" "dsconv" "$DSCONV" "$cmd"
    expect_rc "$cmd: 'dsconv help $cmd' exits 0" 0 "$DSCONV" help "$cmd"
    check "$cmd: 'dsconv help $cmd' is --help" cmp -s "$TMP/out" "$TMP/help"
done

# dsconv-sample: the same table, its own checks
table_checks dsconv-sample "dsconv-sample" "$SAMPLE"
expect_rc "dsconv-sample -h is --help" 0 "$SAMPLE" -h
check "dsconv-sample -h prints the same help" cmp -s "$TMP/out" "$TMP/help"
check "dsconv-sample --help lists the defaults" grep -qE -- '--hidden N +hidden_size \([0-9]+\)' "$TMP/help"
expect_rc "dsconv-sample --shards x refused" 2 "$SAMPLE" --out "$TMP/sx" --shards x
expect_err "dsconv-sample --shards range named" "--shards takes a whole number from 0 to"
expect_rc "dsconv-sample --profile bad refused" 2 "$SAMPLE" --out "$TMP/sx" --profile v4 --size-gb 1
expect_err "dsconv-sample --profile choices named" "--profile must be v3-bench (got 'v4')"
expect_rc "dsconv-sample operand refused" 2 "$SAMPLE" --out "$TMP/sx" extra
expect_err "dsconv-sample operand named" "unexpected argument 'extra'"
check "dsconv-sample refused runs wrote nothing" test ! -e "$TMP/sx"
# --family is applied first wherever it stands (abbreviated too); the others override it
expect_rc "dsconv-sample --family first" 0 "$SAMPLE" --out "$TMP/sx" --family moonlight --layers 3 --dry-run
cp "$TMP/out" "$TMP/fam1"
expect_rc "dsconv-sample --family last" 0 "$SAMPLE" --out "$TMP/sx" --layers 3 --fam moonlight --dry-run
check "dsconv-sample --family applies first wherever it stands" cmp -s "$TMP/out" "$TMP/fam1"
check "dsconv-sample --layers overrides the family" grep -q "bf16, 3 layers" "$TMP/fam1"

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

# operands (ds_opt_operands): each command takes exactly its IN/OUT; one given
# by its option spelling is kept and the operand fills the other
expect_rc "to-bf16 with IN only exits 2" 2 "$DSCONV" to-bf16 "$IN"
check "missing operand prints the help on stderr" grep -q "^usage: dsconv to-bf16" "$TMP/err"
expect_rc "to-bf16 with a third operand exits 2" 2 "$DSCONV" to-bf16 "$IN" "$TMP/x1" "$TMP/x2"
expect_rc "inspect with two operands exits 2" 2 "$DSCONV" inspect "$IN" "$IN"
expect_rc "finish without OUT exits 2" 2 "$DSCONV" finish
expect_rc "fp8-to-bf16 --input-fp8-hf-path IN OUT (operand is OUT)" 0 "$DSCONV" fp8-to-bf16 --input-fp8-hf-path "$IN" \
    "$TMP/op" --quiet --no-sync
check "the operand became OUT" test -f "$TMP/op/model.safetensors.index.json"
check "nothing written for the refused runs" test ! -e "$TMP/x1" -a ! -e "$TMP/x2"
