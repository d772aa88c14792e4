#!/usr/bin/env bash
# Regenerates tests/data/gguf-ref/*-tiktoken-q8_0.json: what llama.cpp's own converter writes for
# dsconv-sample checkpoints with the synthetic Kimi-style tiktoken tokenizer tests/data/tok-tiktoken
# (made by tests/tools/mk_tiktoken_tiny.py), for tests/e2e/to_gguf_tiktoken.sh.
#   - family-kimi-tiktoken-q8_0.json: model_type kimi_k2 (Kimi-K2, K2-Thinking's layout);
#   - family-moonlight-tiktoken-q8_0.json: model_type deepseek_v3, BF16, q_proj (Moonlight).
# config.json's bos/eos ids are set to the fixture's [BOS]/[EOS] (1000, 1001) as Kimi's are.
# The converter runs its DeepseekV2Model.set_vocab kimi-k2 branch; the tokenizer class is a
# stand-in (tests/tools/gguf_ref.py --tiktoken) and the pre-tokenizer name is given (--pre
# kimi-k2): the fixture is too small to hash as Kimi-K2's tokenizer does.
# Needs what tests/tools/gguf_ref.sh needs (LLAMA: the llama-cpp-python 0.3.36 sdist's llama.cpp).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${LLAMA:?set LLAMA to the llama.cpp source directory}"
PY=${PY:-/opt/refenv/bin/python}
OUT=tests/data/gguf-ref
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
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
ls -la "$OUT"/*tiktoken*
