#!/usr/bin/env bash
# Regenerates tests/data/gguf-ref/card-*-q8_0.json: what llama.cpp's own converter writes for
# dev-tiny (BF16, tokenizer tests/data/tok-tiny) with tests/data/model-card/NAME.md as the
# checkpoint's README.md, for tests/e2e/to_gguf_card.sh:
#   - deepseek-v3: DeepSeek-V3/R1/V3.1/V3.2's front matter (license mit, library_name);
#   - kimi-k2: Kimi-K2's (license other, license_name modified-mit);
#   - requant: a re-upload's (base_model list, language, tags, pipeline_tag);
#   - all-keys: every key gguf-py's Metadata reads from a card, in each YAML form to-gguf reads.
# And the name heuristics on real checkpoint names (card-dir-NAME-q8_0.json): the converter reads
# the directory NAME (tests/tools/gguf_ref.py --dir), with the family's card:
#   - DeepSeek-V3 (basename DeepSeek, version V3), DeepSeek-V3.1 with the re-upload's card,
#     Kimi-K2-Instruct (finetune Instruct), Moonlight-16B-A3B-Instruct (size label parts);
#   - nop-model: no README, config.json's _name_or_path deepseek-ai/DeepSeek-R1 (name,
#     organization).
# gguf-py writes them as general.* keys after general.name (Metadata.set_gguf_meta_model).
# Needs what tests/tools/gguf_ref.sh needs (LLAMA: the llama-cpp-python 0.3.36 sdist's llama.cpp).
. "$(dirname "$0")/gguf_ref_env.sh"
bin/dsconv fp8-to-bf16 tests/data/dev-tiny/input "$W/bf16" --quiet
for g in ${CARDS:-deepseek-v3 kimi-k2 requant all-keys}; do
    cp tests/data/model-card/$g.md "$W/bf16/README.md"
    "$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/bf16" tests/data/tok-tiny q8_0 "$W/$g.gguf" --pre deepseek-v3 \
        > "$OUT/card-$g-q8_0.json" 2> "$W/$g.log" || { cat "$W/$g.log"; exit 1; }
done
for c in DeepSeek-V3:deepseek-v3 DeepSeek-V3.1:requant Kimi-K2-Instruct:kimi-k2 Moonlight-16B-A3B-Instruct:deepseek-v3 \
         nop-model:; do
    d=${c%%:*} g=${c#*:}
    rm -rf "$W/in"; cp -r "$W/bf16" "$W/in"; rm -f "$W/in/README.md"
    [ -n "$g" ] && cp tests/data/model-card/$g.md "$W/in/README.md"
    dir=$d
    if [ "$d" = nop-model ]; then
        dir=model
        "$PY" -c 'import json,sys; p=sys.argv[1]; j=json.load(open(p)); j["_name_or_path"]="deepseek-ai/DeepSeek-R1"; json.dump(j, open(p, "w"), indent=2)' "$W/in/config.json"
    fi
    "$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/in" tests/data/tok-tiny q8_0 "$W/$d.gguf" --pre deepseek-v3 --dir "$dir" \
        > "$OUT/card-dir-$d-q8_0.json" 2> "$W/$d.log" || { cat "$W/$d.log"; exit 1; }
done
ls -la "$OUT"/card-*
