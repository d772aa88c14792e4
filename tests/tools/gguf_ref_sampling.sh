#!/usr/bin/env bash
# Regenerates tests/data/gguf-ref/sampling-*-q8_0.json: what llama.cpp's own converter writes for
# dev-tiny (BF16, tokenizer tests/data/tok-tiny) with the generation_config.json of
# tests/data/gen-config/NAME.json, for tests/e2e/to_gguf_sampling.sh:
#   - deepseek-v3: DeepSeek-V3/R1's own generation_config.json (temperature 0.6, top_p 0.95);
#   - all-keys: every key gguf-py reads (repetition_penalty for penalty_repeat, min_p null:
#     left out, temperature an integer: FLOAT32 1.0).
# gguf-py writes them as general.sampling.* right after general.type.
# Needs what tests/tools/gguf_ref.sh needs (LLAMA: the llama-cpp-python 0.3.36 sdist's llama.cpp).
. "$(dirname "$0")/gguf_ref_env.sh"
bin/dsconv fp8-to-bf16 tests/data/dev-tiny/input "$W/bf16" --quiet
for g in deepseek-v3 all-keys; do
    cp tests/data/gen-config/$g.json "$W/bf16/generation_config.json"
    "$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/bf16" tests/data/tok-tiny q8_0 "$W/$g.gguf" --pre deepseek-v3 \
        > "$OUT/sampling-$g-q8_0.json" 2> "$W/$g.log" || { cat "$W/$g.log"; exit 1; }
done
ls -la "$OUT"/sampling-*
