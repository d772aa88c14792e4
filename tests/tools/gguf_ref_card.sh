#!/usr/bin/env bash
# Regenerates tests/data/gguf-ref/card-*-q8_0.json: what llama.cpp's own converter writes for
# dev-tiny (BF16, tokenizer tests/data/tok-tiny) with tests/data/model-card/NAME.md as the
# checkpoint's README.md, for tests/e2e/to_gguf_card.sh:
#   - deepseek-v3: DeepSeek-V3/R1/V3.1/V3.2's front matter (license mit, library_name);
#   - kimi-k2: Kimi-K2's (license other, license_name modified-mit);
#   - requant: a re-upload's (base_model list, language, tags, pipeline_tag);
#   - all-keys: every key gguf-py's Metadata reads from a card, in each YAML form to-gguf reads.
# gguf-py writes them as general.* keys after general.name (Metadata.set_gguf_meta_model).
# Needs what tests/tools/gguf_ref.sh needs (LLAMA: the llama-cpp-python 0.3.36 sdist's llama.cpp).
. "$(dirname "$0")/gguf_ref_env.sh"
bin/dsconv fp8-to-bf16 tests/data/dev-tiny/input "$W/bf16" --quiet
for g in ${CARDS:-deepseek-v3 kimi-k2 requant all-keys}; do
    cp tests/data/model-card/$g.md "$W/bf16/README.md"
    "$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/bf16" tests/data/tok-tiny q8_0 "$W/$g.gguf" --pre deepseek-v3 \
        > "$OUT/card-$g-q8_0.json" 2> "$W/$g.log" || { cat "$W/$g.log"; exit 1; }
done
ls -la "$OUT"/card-*
