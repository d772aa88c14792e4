# tests/llama/lib.sh - what the llama.cpp proof scripts share; each sources it from the
# repository root (after its `cd`): DS (the dsconv binary), PASS/FAIL counting with the
# closing "N passed, N failed" line (done_), and LLAMA, llama.cpp's source: given, or
# unpacked once from LLAMA_TAR (default .llama/llama-src.tar.xz) into LLAMA_SRC.
DS=${DSCONV:-$PWD/bin/dsconv}
P=0 F=0
pass() { echo "PASS $1"; P=$((P + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; F=$((F + 1)); }
done_() { echo "$P passed, $F failed"; [ "$F" = 0 ]; exit $?; }
TAR=${LLAMA_TAR:-.llama/llama-src.tar.xz}
if [ -z "${LLAMA:-}" ] && [ -f "$TAR" ]; then
    LS=${LLAMA_SRC:-/tmp/dsconv-llama-src}
    [ -f "$LS/llama.cpp/include/llama.h" ] || { mkdir -p "$LS" && tar xJf "$TAR" -C "$LS"; } || { fail "unpack $TAR"; done_; }
    LLAMA=$LS/llama.cpp
fi
