#!/usr/bin/env bash
# gguf_llama_v32.sh - llama.cpp runs dsconv's DeepSeek-V3.2 files (architecture deepseek32, its DSA
# lightning indexer selecting index_topk keys) and computes what `dsconv verify` computes.
# Needs what tests/llama/gguf_llama.sh needs and the llama.cpp build it makes (LLAMA_BUILD, default
# /tmp/dsconv-llama-build: run gguf_llama.sh first, or set it), plus bin/dsconv; PY a python3 with numpy.
#   bash tests/llama/gguf_llama_v32.sh
# On `dsconv-sample --family v32` (index_topk 8, one MTP layer) with tok-tiny, tests/data/v32-tiny's
# three sequences (16, 12, 4 tokens: positions >= 8 select 8 keys): llama.cpp's bf16 logits are within
# rel L2 0.01 of verify's, and far from verify's with the selection off (index_topk above every length),
# so llama.cpp applies the indexer as verify does; q8_0 / q6_k / q4_k are reported and bounded loosely.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/llama/lib.sh
LB=${LLAMA_BUILD:-/tmp/dsconv-llama-build}
if [ -z "${LLAMA:-}" ] || [ ! -f "$LLAMA/include/llama.h" ] || [ ! -e "$LB/src/libllama.a" ]; then
    echo "SKIP: needs llama.cpp's source (LLAMA or LLAMA_TAR) and its build (LLAMA_BUILD; tests/llama/gguf_llama.sh makes it)"
    echo "0 passed, 0 failed"; exit 0
fi
PY=${PY:-python3}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
LIBS="$(find "$LB" -name libllama.a) $(find "$LB" -name libggml.a) $(find "$LB" -name libggml-cpu.a) $(find "$LB" -name libggml-base.a)"
DEPS=${DEPS:-$([ -e /usr/include/cjson/cJSON.h ] || echo "$PWD/.deps")}
g++ -O2 -x c tests/llama/gguf_logits.c -x none -I"$LLAMA/include" -I"$LLAMA/ggml/include" ${DEPS:+-I$DEPS/include -L$DEPS/lib -Wl,-rpath,$DEPS/lib} \
    $LIBS -lcjson -fopenmp -lpthread -ldl -lm -o "$W/gguf_logits" 2>"$W/cc.log" || { cat "$W/cc.log"; fail "gguf_logits builds"; done_; }
M=$W/Model
bin/dsconv-sample --family v32 --out "$M" --quiet
cp tests/data/tok-tiny/tokenizer.json tests/data/tok-tiny/tokenizer_config.json "$M/"
T=tests/data/v32-tiny/tokens.json
NV=1280 # the sample's vocab_size
"$DS" verify "$M" --tokens "$T" --dump-logits "$W/verify.f32" --device cpu >"$W/v.log" 2>&1 || { tail -3 "$W/v.log"; fail "verify"; done_; }
mkdir "$W/dense"; cp "$M"/* "$W/dense/"
sed -i 's/"index_topk":[[:space:]]*[0-9]*/"index_topk": 100000/' "$W/dense/config.json"
"$DS" verify "$W/dense" --tokens "$T" --dump-logits "$W/dense.f32" --device cpu >"$W/v.log" 2>&1 || { tail -3 "$W/v.log"; fail "verify dense"; done_; }
for t in bf16:0.01 q8_0:0.2 q6_k:0.2 q4_k:0.5; do
    ty=${t%%:*} lim=${t#*:}
    "$DS" to-gguf "$M" "$W/$ty.gguf" --type $ty --quiet || { fail "to-gguf $ty"; continue; }
    if ! "$W/gguf_logits" "$W/$ty.gguf" "$T" "$W/ll-$ty.f32" >/dev/null 2>"$W/ll.log"; then
        tail -3 "$W/ll.log"; fail "llama.cpp loads and runs the deepseek32 $ty file"; continue
    fi
    pass "llama.cpp loads and runs the deepseek32 $ty file"
    r=$($PY tests/llama/gguf_cmp.py "$W/ll-$ty.f32" "$W/verify.f32" $NV); echo "   $ty: llama.cpp vs verify: $r"
    if $PY tests/llama/gguf_cmp.py "$W/ll-$ty.f32" "$W/verify.f32" $NV --max rel_l2=$lim >/dev/null; then
        pass "$ty logits within rel L2 $lim of verify's"
    else fail "$ty logits within rel L2 $lim of verify's" "$r"; fi
    if [ $ty = bf16 ]; then
        r=$($PY tests/llama/gguf_cmp.py "$W/ll-$ty.f32" "$W/dense.f32" $NV); echo "   bf16: llama.cpp vs verify without the selection: $r"
        if $PY tests/llama/gguf_cmp.py "$W/ll-$ty.f32" "$W/dense.f32" $NV --min rel_l2=0.1 >/dev/null; then
            pass "llama.cpp selects keys (rel L2 >= 0.1 from the dense forward pass)"
        else fail "llama.cpp selects keys (rel L2 >= 0.1 from the dense forward pass)" "$r"; fi
    fi
done
done_
