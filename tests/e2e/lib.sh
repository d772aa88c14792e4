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
