#!/usr/bin/env bash
# bench_tiktoken.sh - to-gguf's tiktoken vocabulary (Kimi-K2 / Moonlight) at Kimi-K2's size.
#
# usage: [LLAMA=/path/to/llama.cpp] bench/bench_tiktoken.sh [typical|stress] [--dir DIR]
#
# A synthetic 163584-rank tiktoken.model (bench/tiktoken_vocab.py: typical = mean token 7.6
# bytes as real vocabularies, stress = mean 50 bytes) on a dsconv-sample kimi checkpoint with
# vocab_size 163840. Prints the CPU seconds to-gguf spends on the vocabulary (one thread, best
# of 3, with minus without --no-vocab). With LLAMA (the llama-cpp-python 0.3.36 sdist's
# llama.cpp) also: the seconds the converter's kimi-k2 branch spends on the same ranks
# (QwenModel.bpe for every token, run from its source), and whether convert_hf_to_gguf.py
# (tokenizer class stood in, tests/tools/gguf_ref.py --tiktoken) writes the same file, byte
# for byte, as dsconv. PY (default /opt/refenv/bin/python) needs numpy, torch, transformers.
set -u
MODE=typical DIR=${TMPDIR:-/tmp}/dsconv-bench-tiktoken
while [ $# -gt 0 ]; do
    case $1 in
    typical|stress) MODE=$1 ;;
    --dir) DIR=$2; shift ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) echo "bench_tiktoken: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-/opt/refenv/bin/python}
DSCONV=$ROOT/bin/dsconv
rm -rf "$DIR" && mkdir -p "$DIR" || exit 4
"$ROOT/bin/dsconv-sample" --family kimi --vocab 163840 --out "$DIR/ckpt/Model" --quiet || exit 1
rm "$DIR/ckpt/Model/tokenizer_config.json"
"$PY" "$ROOT/bench/tiktoken_vocab.py" "$DIR/ckpt/Model" "$MODE" || exit 1
sed -i -e 's/"bos_token_id":[[:space:]]*0/"bos_token_id": 163584/' -e 's/"eos_token_id":[[:space:]]*1/"eos_token_id": 163585/' \
    "$DIR/ckpt/Model/config.json"
cpu_ms() { perf stat -e task-clock -x, "$@" 2>&1 >/dev/null | tail -1 | cut -d, -f1 | cut -d. -f1; }
best() { local b=999999999 t; for i in 1 2 3; do t=$(cpu_ms "$@"); [ "$t" -lt "$b" ] && b=$t; done; echo $b; }
if command -v perf >/dev/null; then
    nv=$(best "$DSCONV" to-gguf "$DIR/ckpt/Model" "$DIR/nv.gguf" --type q8_0 --threads 1 --no-vocab --quiet --no-sync --force)
    v=$(best "$DSCONV" to-gguf "$DIR/ckpt/Model" "$DIR/v.gguf" --type q8_0 --threads 1 --quiet --no-sync --force)
    echo "dsconv to-gguf, one thread: ${nv} ms CPU with --no-vocab, ${v} ms with the vocabulary: vocabulary $((v - nv)) ms"
else
    s=$(date +%s.%N); "$DSCONV" to-gguf "$DIR/ckpt/Model" "$DIR/v.gguf" --type q8_0 --threads 1 --quiet --no-sync --force
    echo "dsconv to-gguf with the vocabulary: $(echo "$(date +%s.%N) - $s" | bc) s wall (perf not found)"
fi
[ -n "${LLAMA:-}" ] || exit 0
"$PY" - "$LLAMA" "$DIR/ckpt/Model/tiktoken.model" <<'PYEOF'
import base64, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[1] + "/gguf-py")
from conversion.qwen import QwenModel
ranks = {}
for line in open(sys.argv[2], "rb").read().splitlines():
    if line:
        t, r = line.split(); ranks[base64.b64decode(t)] = int(r)
t0 = time.time()
merges = []
for token, rank in ranks.items():  # the converter's kimi-k2 loop
    QwenModel.token_bytes_to_string(token)
    if len(token) == 1:
        continue
    merged = QwenModel.bpe(ranks, token, max_rank=rank)
    if len(merged) == 2:
        merges.append(' '.join(map(QwenModel.token_bytes_to_string, merged)))
print(f"convert_hf_to_gguf.py kimi-k2 branch (tokens + merges, Python): {time.time() - t0:.1f} s, {len(merges)} merges")
PYEOF
"$DSCONV" fp8-to-bf16 "$DIR/ckpt/Model" "$DIR/bf16" --quiet || exit 1
ls "$DIR/bf16/tiktoken.model" "$DIR/bf16/tokenizer_config.json" >/dev/null || exit 1
s=$(date +%s)
"$PY" "$ROOT/tests/tools/gguf_ref.py" "$LLAMA" "$DIR/bf16" - q8_0 "$DIR/ref.gguf" --pre kimi-k2 --tiktoken --no-hash 2>"$DIR/ref.log" ||
    { tail -5 "$DIR/ref.log"; exit 1; }
echo "convert_hf_to_gguf.py whole file: $(( $(date +%s) - s )) s"
if cmp -s "$DIR/ref.gguf" "$DIR/v.gguf"; then echo "same file as the converter, byte for byte: yes"
else echo "same file as the converter, byte for byte: NO"; exit 1; fi
