#!/usr/bin/env bash
# Regenerates tests/data/gguf-ref/v32-*.json: what llama.cpp's own converter writes for DeepSeek-V3.2
# (DeepseekV32Model, architecture deepseek32: the indexer's tensors and keys, the MTP layer kept as
# block L with nextn.* tensors), for tests/e2e/to_gguf_v32.sh:
#   - v32-sample-<type>.json (bf16, f16, q8_0): `dsconv-sample --family v32` (FP8, 1 MTP layer),
#     converted to BF16 by dsconv fp8-to-bf16, with the tokenizer tests/data/tok-tiny;
#   - v32-tiny-q8_0.json: tests/data/v32-tiny/bf16 (num_nextn_predict_layers 0, no tokenizer:
#     --no-vocab);
#   - v32-{sample,tiny}-{q4_k,q6_k}.json (when LLAMA_QUANTIZE is set): llama-quantize --pure
#     (Q4_K_M, Q6_K) of the converter's BF16 files. deepseek32's indexer.proj is F32 in those, and
#     llama-quantize quantizes it (tensor_allows_quantization exempts indexer.* only for glm5-next);
#     v32-tiny's hidden 160 takes its Q5_0 / Q8_0 fallback.
# Under transformers 5.17 the converter's DeepseekV32Model.set_vocab assertion on add_bos_token
# fails for every checkpoint with a tokenizer.json; gguf_ref.py replaces that check (only) by the
# same check on tokenizer_config.json (see there and MANUAL's to-gguf section).
# Needs what tests/tools/gguf_ref.sh needs (LLAMA: the llama-cpp-python 0.3.36 sdist's llama.cpp).
. "$(dirname "$0")/gguf_ref_env.sh"
bin/dsconv-sample --family v32 --out "$W/v32" --quiet
bin/dsconv fp8-to-bf16 "$W/v32" "$W/v32-bf16" --quiet
rm -f "$W/v32-bf16/tokenizer_config.json"   # tok-tiny's (add_bos_token true) stands in
for t in bf16 f16 q8_0; do
    "$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/v32-bf16" tests/data/tok-tiny $t "$W/$t.gguf" --pre deepseek-v3 \
        > "$OUT/v32-sample-$t.json" 2> "$W/$t.log" || { cat "$W/$t.log"; exit 1; }
done
"$PY" tests/tools/gguf_ref.py "$LLAMA" tests/data/v32-tiny/bf16 - q8_0 "$W/tiny.gguf" --no-vocab \
    > "$OUT/v32-tiny-q8_0.json" 2> "$W/tiny.log" || { cat "$W/tiny.log"; exit 1; }
if [ -n "${LLAMA_QUANTIZE:-}" ]; then
    "$PY" tests/tools/gguf_ref.py "$LLAMA" tests/data/v32-tiny/bf16 - bf16 "$W/tiny-bf16.gguf" --no-vocab --no-hash \
        2> "$W/tiny.log" || { cat "$W/tiny.log"; exit 1; }
    for t in q4_k q6_k; do
        case $t in q4_k) ft=Q4_K_M ;; q6_k) ft=Q6_K ;; esac
        for m in sample:bf16 tiny:tiny-bf16; do
            "$LLAMA_QUANTIZE" --pure "$W/${m#*:}.gguf" "$W/q.gguf" $ft > "$W/q.log" 2>&1 || { cat "$W/q.log"; exit 1; }
            "$PY" - "$W/q.gguf" > "$OUT/v32-${m%%:*}-$t.json" <<'PYEOF'
import hashlib, json, os, sys
p = sys.argv[1]
print(json.dumps({"file_sha256": hashlib.sha256(open(p, "rb").read()).hexdigest(), "file_size": os.path.getsize(p)}))
PYEOF
        done
    done
fi
ls -la "$OUT"/v32-*
