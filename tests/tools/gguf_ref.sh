#!/usr/bin/env bash
# Regenerates tests/data/gguf-ref/*.json: what llama.cpp's own tools write for
# dev-tiny, for tests/e2e/to_gguf.sh to compare dsconv to-gguf against.
#   - <type>.json (bf16, f16, q8_0): convert_hf_to_gguf.py --outtype <type> on the BF16
#     conversion of tests/data/dev-tiny/input (dsconv fp8-to-bf16, byte-identical to
#     DeepSeek's fp8_cast_bf16.py) with the tokenizer tests/data/tok-tiny;
#   - <type>-from-fp8.json: the same converter run on the FP8 input directly (it
#     dequantizes FP8 to float32 itself, without rounding to BF16);
#   - q4_k.json, q6_k.json: llama-quantize --pure of the converter's BF16 file (when
#     LLAMA_QUANTIZE is set).
# Needs: the llama-cpp-python 0.3.36 sdist unpacked (it vendors llama.cpp), a Python
# with torch, numpy, transformers (/opt/refenv), and bin/dsconv built.
#   pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/lcpp
#   tar xzf /tmp/lcpp/llama_cpp_python-0.3.36.tar.gz -C /tmp/lcpp
#   LLAMA=/tmp/lcpp/llama_cpp_python-0.3.36/vendor/llama.cpp bash tests/tools/gguf_ref.sh
# Optional: LLAMA_QUANTIZE=/path/to/llama-quantize (cmake --build B --target llama-quantize).
. "$(dirname "$0")/gguf_ref_env.sh"
mkdir -p "$OUT"
bin/dsconv fp8-to-bf16 tests/data/dev-tiny/input "$W/bf16" --quiet
# The converter reads the tokenizer from the model directory: tok-tiny replaces
# dev-tiny's tokenizer_config.json (ckpt files first, tokenizer files after).
for t in bf16 f16 q8_0; do
    "$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/bf16" tests/data/tok-tiny $t "$W/$t.gguf" --pre deepseek-v3 \
        > "$OUT/$t.json" 2> "$W/$t.log"
    "$PY" tests/tools/gguf_ref.py "$LLAMA" tests/data/dev-tiny/input tests/data/tok-tiny $t "$W/$t-fp8.gguf" \
        --pre deepseek-v3 > "$OUT/$t-from-fp8.json" 2> "$W/$t-fp8.log"
done
# dsconv-sample checkpoints: q_proj instead of q_a/q_b (q_lora_rank null, as Moonlight), 16 heads;
# model_type kimi_k2 (config.json reaches the converter as it is), without a vocab.
bin/dsconv-sample --out "$W/sq" --q-lora 0 --seed 3 --quiet
bin/dsconv fp8-to-bf16 "$W/sq" "$W/sq-bf16" --quiet
rm -f "$W/sq-bf16/tokenizer_config.json"
"$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/sq-bf16" tests/data/tok-tiny q8_0 "$W/sq.gguf" --pre deepseek-v3 \
    > "$OUT/sample-qproj-q8_0.json" 2> "$W/sq.log"
mkdir -p "$W/kimi"
for f in tests/data/dev-tiny/input/*; do ln -s "$PWD/$f" "$W/kimi/"; done
rm "$W/kimi/config.json"
sed 's/"model_type": "deepseek_v3"/"model_type": "kimi_k2"/' tests/data/dev-tiny/input/config.json > "$W/kimi/config.json"
bin/dsconv fp8-to-bf16 "$W/kimi" "$W/kimi-bf16" --quiet
"$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/kimi-bf16" - q8_0 "$W/kimi.gguf" --no-vocab \
    > "$OUT/kimi_k2-novocab-q8_0.json" 2> "$W/kimi.log"
# dsconv-sample families (the model schema's): kimi (model_type kimi_k2, no vocab as above),
# terminus (ue8m0 scales), moonlight (BF16, q_proj).
for fam in kimi terminus moonlight; do
    bin/dsconv-sample --family $fam --out "$W/f-$fam" --quiet
    # moonlight is BF16 already: fp8-to-bf16 refuses it, the converter reads it as it is
    bin/dsconv fp8-to-bf16 "$W/f-$fam" "$W/f-$fam-bf16" --quiet 2>/dev/null ||
        { rm -rf "$W/f-$fam-bf16"; cp -r "$W/f-$fam" "$W/f-$fam-bf16"; }
    rm -f "$W/f-$fam-bf16/tokenizer_config.json"
    if [ $fam = kimi ]; then
        "$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/f-$fam-bf16" - q8_0 "$W/f-$fam.gguf" --no-vocab > "$OUT/family-$fam-q8_0.json" 2> "$W/f.log"
    else
        "$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/f-$fam-bf16" tests/data/tok-tiny q8_0 "$W/f-$fam.gguf" --pre deepseek-v3 \
            > "$OUT/family-$fam-q8_0.json" 2> "$W/f.log"
    fi
done
if [ -n "${LLAMA_QUANTIZE:-}" ]; then
    for t in q4_k q6_k; do
        case $t in q4_k) ft=Q4_K_M ;; q6_k) ft=Q6_K ;; esac
        "$LLAMA_QUANTIZE" --pure "$W/bf16.gguf" "$W/$t.gguf" $ft > "$W/$t.log" 2>&1
        "$PY" - "$W/$t.gguf" > "$OUT/$t.json" <<'PYEOF'
import hashlib, json, os, sys
p = sys.argv[1]
print(json.dumps({"file_sha256": hashlib.sha256(open(p, "rb").read()).hexdigest(), "file_size": os.path.getsize(p)}))
PYEOF
    done
fi
"$PY" - "$LLAMA" > "$OUT/VERSIONS" <<'PYEOF'
import sys, importlib.metadata as m
print("llama.cpp: vendored in llama-cpp-python 0.3.36 (PyPI sdist)")
for p in ("torch", "numpy", "transformers", "safetensors"):
    print(f"{p}: {m.version(p)}")
PYEOF
ls -la "$OUT"
