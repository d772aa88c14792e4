#!/usr/bin/env bash
# stage_probe.sh [--size-gb X] [--dir DIR] [--no-gguf] - where each converting command spends
# its time: one v3-bench FP8 sample, the I/O floor (bench/floor.sh: fastest of 3 cat of the
# input, fastest of 3 dd of as many bytes as each output), and for each command its wall seconds beside the
# executor's --json "stages_seconds" (setup, alloc, pipeline wall; reader,
# transform and writer busy seconds; conclude). The stage whose busy time is
# near the pipeline's wall is what bounds the run. For the GPU machine:
#   make -j16 all && bash bench/stage_probe.sh --size-gb 8
set -u
cd "$(dirname "$0")/.." || exit 1
SIZE=8 DIR=${TMPDIR:-/tmp}/dsconv-stage-probe GGUF=1
while [ $# -gt 0 ]; do case $1 in --size-gb) SIZE=$2; shift 2;; --dir) DIR=$2; shift 2;; --no-gguf) GGUF=0; shift;; *) echo "usage: $0 [--size-gb X] [--dir DIR] [--no-gguf]"; exit 2;; esac; done
D=$PWD/bin/dsconv IN=$DIR/in
. bench/floor.sh
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
mkdir -p "$DIR"
[ -e "$IN/model.safetensors.index.json" ] || bin/dsconv-sample --out "$IN" --profile v3-bench --size-gb "$SIZE" --quiet || exit 4
cp tests/data/tok-tiny/tokenizer.json tests/data/tok-tiny/tokenizer_config.json "$IN/" 2>/dev/null
T=$(nproc); [ "$T" -gt 16 ] && T=16
READ=$(read_floor "$IN"/*.safetensors)
INB=$(du -sb --apparent-size "$IN" | cut -f1)
warm_up $((2 * INB)) "$DIR"
echo "input $(calc "$INB/1e9") GB, read floor $READ s, $T threads, $(nproc) cores"
gpu=0; nvidia-smi -L 2>/dev/null | grep -q '^GPU ' && gpu=1
probe() { # name out cmd...
    local name=$1 out=$2; shift 2
    rm -rf "$out" "$DIR/j.json"; sync
    local a b; a=$(date +%s.%N)
    "$@" --json "$DIR/j.json" --no-sync --quiet >/dev/null 2>"$DIR/err" || { echo "$name: failed: $(head -c 300 "$DIR/err")"; return; }
    b=$(date +%s.%N)
    local secs; secs=$(calc "$b - $a")
    local ob; ob=$(du -sb --apparent-size "$out" | cut -f1)
    local wr; wr=$(write_floor "$ob" "$DIR")
    local fl; fl=$(awk -v r="$READ" -v w="$wr" 'BEGIN{printf "%.3f", (r > w ? r : w)}')
    printf '%-34s wall %6.3f s  out %6.2f GB  write floor %.3f  overlapped floor %.3f  ratio %.2fx\n' "$name" "$secs" "$(calc "$ob/1e9")" "$wr" "$fl" "$(calc "$secs/$fl")"
    python3 - "$DIR/j.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
st = j.get("stages_seconds") or j.get("stages") or {}
print("    internal seconds %.3f; stages: %s" % (j.get("seconds", -1), ", ".join("%s %.3f" % (k, v) for k, v in st.items())))
PY
}
for f in int4 nvfp4 mxfp4; do
    probe "requant $f cpu" "$DIR/o" "$D" requant "$IN" "$DIR/o" --format $f --device cpu --threads "$T"
    [ $gpu = 1 ] && probe "requant $f cuda" "$DIR/o" "$D" requant "$IN" "$DIR/o" --format $f --device cuda
done
probe "to-bf16 cpu" "$DIR/o" "$D" to-bf16 "$IN" "$DIR/o" --device cpu --threads "$T"
[ $gpu = 1 ] && probe "to-bf16 cuda" "$DIR/o" "$D" to-bf16 "$IN" "$DIR/o" --device cuda
for t in bf16 q8_0; do
    [ $GGUF = 1 ] || break
    probe "to-gguf $t cpu" "$DIR/o.gguf" "$D" to-gguf "$IN" "$DIR/o.gguf" --type $t --device cpu --threads "$T"
    [ $gpu = 1 ] && probe "to-gguf $t cuda" "$DIR/o.gguf" "$D" to-gguf "$IN" "$DIR/o.gguf" --type $t --device cuda
done
rm -rf "$DIR/o" "$DIR/o.gguf"
