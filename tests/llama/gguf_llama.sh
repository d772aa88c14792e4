#!/usr/bin/env bash
# gguf_llama.sh - proof that llama.cpp runs what `dsconv to-gguf` writes, and that
# its K-quant files are llama-quantize's bytes. Needs llama.cpp's source: the
# llama-cpp-python 0.3.36 sdist vendors it (pip download --no-deps --no-binary :all:
# llama-cpp-python==0.3.36; tar xzf; LLAMA=<dir>/vendor/llama.cpp). Builds llama.cpp
# (CPU backend, GGML_NATIVE=OFF so no FMA changes llama-quantize's bytes) in
# ${LLAMA_BUILD:-/tmp/dsconv-llama-build}, then on dev-tiny (+ tests/data/tok-tiny):
#   1. llama-quantize --pure of to-gguf's bf16 file (= the converter's, tests/e2e/to_gguf.sh)
#      equals to-gguf --type q4_k / q6_k byte for byte;
#   2. llama.cpp loads bf16, q8_0, q4_k, q6_k files and its logits for the 3 dev-tiny
#      sequences agree with `dsconv verify --dump-logits` (FP8 read as BF16, float32 math).
# Prints PASS/FAIL lines and "N passed, N failed". Runs on any Linux machine (CPU); on
# the GPU machine: LLAMA=... bash tests/llama/gguf_llama.sh
#   usage: LLAMA=/path/to/llama.cpp bash tests/llama/gguf_llama.sh [BUILD]
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
DS=${DSCONV:-$PWD/bin/dsconv}
P=0 F=0
pass() { echo "PASS $1"; P=$((P + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; F=$((F + 1)); }
done_() { echo "$P passed, $F failed"; [ "$F" = 0 ]; exit $?; }
if [ -z "${LLAMA:-}" ] || [ ! -f "$LLAMA/include/llama.h" ]; then
    echo "SKIP: set LLAMA to llama.cpp's source (llama-cpp-python 0.3.36 sdist, vendor/llama.cpp)"; echo "0 passed, 0 failed"; exit 0
fi
[ -x "$DS" ] || { fail "bin/dsconv built"; done_; }
LB=${LLAMA_BUILD:-/tmp/dsconv-llama-build}
J=${JOBS:-$(nproc)}
if [ ! -x "$LB/bin/llama-quantize" ]; then
    cmake -S "$LLAMA" -B "$LB" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >"$LB.cmake.log" 2>&1 &&
    cmake --build "$LB" --target llama-quantize llama -j"$J" >"$LB.build.log" 2>&1 ||
        { tail -20 "$LB.build.log" "$LB.cmake.log" 2>/dev/null; fail "llama.cpp builds"; done_; }
fi
pass "llama.cpp builds (llama-quantize, libllama)"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
LIBS="$(find "$LB" -name libllama.a) $(find "$LB" -name libggml.a) $(find "$LB" -name libggml-cpu.a) $(find "$LB" -name libggml-base.a)"
DEPS=${DEPS:-$([ -e /usr/include/cjson/cJSON.h ] || echo "$PWD/.deps")}
if g++ -O2 -x c tests/llama/gguf_logits.c -x none -I"$LLAMA/include" -I"$LLAMA/ggml/include" ${DEPS:+-I$DEPS/include -L$DEPS/lib -Wl,-rpath,$DEPS/lib} \
    $LIBS -lcjson -fopenmp -lpthread -ldl -lm \
    -o "$W/gguf_logits" 2>"$W/cc.log"; then pass "gguf_logits links against libllama"; else cat "$W/cc.log"; fail "gguf_logits builds"; done_; fi

M=$W/model; mkdir -p "$M"
# Shards may be links; side files are copied (a link leaving the checkpoint is refused).
for f in tests/data/dev-tiny/input/*; do case $f in *.safetensors) ln -s "$PWD/$f" "$M/";; *) cp "$f" "$M/";; esac; done
cp tests/data/tok-tiny/* "$M/"
for t in bf16 q8_0 q4_k q6_k; do
    if "$DS" to-gguf "$M" "$W/$t.gguf" --type $t --name Model --quiet; then pass "to-gguf $t"; else fail "to-gguf $t"; fi
done
for t in q4_k:Q4_K_M q6_k:Q6_K; do
    "$LB/bin/llama-quantize" --pure "$W/bf16.gguf" "$W/lq-${t%%:*}.gguf" "${t#*:}" >"$W/lq.log" 2>&1 ||
        { tail -5 "$W/lq.log"; fail "llama-quantize ${t#*:}"; continue; }
    if cmp -s "$W/lq-${t%%:*}.gguf" "$W/${t%%:*}.gguf"; then pass "to-gguf ${t%%:*} = llama-quantize --pure ${t#*:}, byte for byte"
    else fail "to-gguf ${t%%:*} = llama-quantize --pure ${t#*:}" "$(cmp "$W/lq-${t%%:*}.gguf" "$W/${t%%:*}.gguf" | head -1)"; fi
done

python3 -c 'import json,sys; print(json.dumps({"tokens": json.load(open(sys.argv[1]))["tokens"]}))' \
    tests/data/dev-tiny/expected.json > "$W/tokens.json"
"$DS" verify "$M" --tokens "$W/tokens.json" --dump-logits "$W/verify.f32" >"$W/verify.log" 2>&1 ||
    { tail -5 "$W/verify.log"; fail "dsconv verify --dump-logits"; done_; }
# bounds: llama.cpp's CPU matmuls round activations to the weight type's precision
# (bf16 dot products), verify works in float32 on the BF16 weights.
for t in bf16:0.03 q8_0:0.06 q4_k:0.35 q6_k:0.12; do
    ty=${t%%:*} lim=${t#*:}
    if ! r=$("$W/gguf_logits" "$W/$ty.gguf" "$W/tokens.json" "$W/$ty.f32" "$W/verify.f32" 2>"$W/ll.log"); then
        tail -5 "$W/ll.log"; fail "llama.cpp loads and runs $ty"; continue
    fi
    pass "llama.cpp loads and runs $ty"
    echo "   $ty vs dsconv verify: $r"
    l2=$(echo "$r" | awk '{print $2}') ag=$(echo "$r" | awk '{print $4}')
    if awk -v a="$l2" -v b="$lim" 'BEGIN{exit !(a <= b)}'; then pass "$ty logits within rel L2 $lim of verify ($l2)"
    else fail "$ty logits within rel L2 $lim of verify" "$l2"; fi
    if [ "$ty" = bf16 ] && awk -v a="$ag" 'BEGIN{exit !(a >= 0.9)}'; then pass "bf16 argmax agrees at >= 90% of positions ($ag)"
    elif [ "$ty" = bf16 ]; then fail "bf16 argmax agrees at >= 90% of positions" "$ag"; fi
done
done_
