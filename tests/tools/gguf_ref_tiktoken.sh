#!/usr/bin/env bash
# Regenerates tests/data/gguf-ref/*-tiktoken-q8_0.json: what llama.cpp's own converter writes for
# dsconv-sample checkpoints with the synthetic Kimi-style tiktoken tokenizer tests/data/tok-tiktoken
# (made by tests/tools/mk_tiktoken_tiny.py), for tests/e2e/to_gguf_tiktoken.sh.
#   - family-kimi-tiktoken-q8_0.json: model_type kimi_k2 (Kimi-K2, K2-Thinking's layout);
#   - family-moonlight-tiktoken-q8_0.json: model_type deepseek_v3, BF16, q_proj (Moonlight).
#   - vocab-kimi-jinja-q8_0.json: the kimi family with tests/data/tok-variants/kimi-jinja (chat template
#     from chat_template.jinja);
#   - vocab-deepseek-variant-q8_0.json: the default (V3) family with tests/data/tok-variants/deepseek
#     (normalizer keys, cls_token as BOS, chat_template null beside a .jinja) on the tokenizer.json path.
# config.json's bos/eos ids are set to the fixture's [BOS]/[EOS] (1000, 1001) as Kimi's are.
# The converter runs its DeepseekV2Model.set_vocab kimi-k2 branch; the tokenizer class is a
# stand-in (tests/tools/gguf_ref.py --tiktoken) and the pre-tokenizer name is given (--pre
# kimi-k2): the fixture is too small to hash as Kimi-K2's tokenizer does.
# Needs what tests/tools/gguf_ref.sh needs (LLAMA: the llama-cpp-python 0.3.36 sdist's llama.cpp).
. "$(dirname "$0")/gguf_ref_env.sh"
for fam in kimi moonlight; do
    bin/dsconv-sample --family $fam --out "$W/$fam" --quiet
    bin/dsconv fp8-to-bf16 "$W/$fam" "$W/$fam-bf16" --quiet 2>/dev/null ||
        { rm -rf "$W/$fam-bf16"; cp -r "$W/$fam" "$W/$fam-bf16"; }
    rm -f "$W/$fam-bf16/tokenizer_config.json"
    sed -i -e 's/"bos_token_id":[[:space:]]*0/"bos_token_id": 1000/' -e 's/"eos_token_id":[[:space:]]*1/"eos_token_id": 1001/' \
        "$W/$fam-bf16/config.json"
    "$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/$fam-bf16" tests/data/tok-tiktoken q8_0 "$W/$fam.gguf" --pre kimi-k2 \
        --tiktoken > "$OUT/family-$fam-tiktoken-q8_0.json" 2> "$W/$fam.log" || { cat "$W/$fam.log"; exit 1; }
done
bin/dsconv-sample --family kimi --out "$W/kj" --quiet
bin/dsconv fp8-to-bf16 "$W/kj" "$W/kj-bf16" --quiet
rm -f "$W/kj-bf16/tokenizer_config.json"
sed -i -e 's/"bos_token_id":[[:space:]]*0/"bos_token_id": 1000/' -e 's/"eos_token_id":[[:space:]]*1/"eos_token_id": 1001/' "$W/kj-bf16/config.json"
"$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/kj-bf16" tests/data/tok-variants/kimi-jinja q8_0 "$W/kj.gguf" --pre kimi-k2 \
    --tiktoken > "$OUT/vocab-kimi-jinja-q8_0.json" 2> "$W/kj.log" || { cat "$W/kj.log"; exit 1; }
bin/dsconv-sample --out "$W/dv" --quiet
bin/dsconv fp8-to-bf16 "$W/dv" "$W/dv-bf16" --quiet
rm -f "$W/dv-bf16/tokenizer_config.json"
"$PY" tests/tools/gguf_ref.py "$LLAMA" "$W/dv-bf16" tests/data/tok-variants/deepseek q8_0 "$W/dv.gguf" --pre deepseek-v3 \
    > "$OUT/vocab-deepseek-variant-q8_0.json" 2> "$W/dv.log" || { cat "$W/dv.log"; exit 1; }
ls -la "$OUT"/*tiktoken* "$OUT"/vocab-*
