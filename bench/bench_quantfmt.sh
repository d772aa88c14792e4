#!/usr/bin/env bash
# bench_quantfmt.sh [--size-gb X] [--out DIR] [--in DIR] - requant per format (int4, nvfp4,
# mxfp4; rtn, and mse for nvfp4) on CPU and CUDA, to-bf16 of a compressed
# output, beside compressed-tensors' own Python convert_checkpoint with its
# FP8BlockDequantizer (the library's data-free path) on the same input, and
# the I/O floor of each (cat of the input + dd of as many bytes as written,
# page cache, as bench/bench.sh measures it). --in: an existing v3-bench sample (e.g.
# bench/stage_probe.sh's), else one of --size-gb is made in OUT/in. For the GPU machine:
#   make -j16 all && bash bench/bench_quantfmt.sh --size-gb 8
# Prints a markdown table for bench/RESULTS.md and writes OUT/results.json.
set -u
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }  # bc is not on every machine (the GPU image lacks it)
cd "$(dirname "$0")/.." || exit 1
SIZE=8 OUT=${TMPDIR:-/tmp}/dsconv-bench-quantfmt IN=""
while [ $# -gt 0 ]; do case $1 in --size-gb) SIZE=$2; shift 2;; --out) OUT=$2; shift 2;; --in) IN=$2; shift 2;; *) echo "usage: $0 [--size-gb X] [--out DIR] [--in DIR]"; exit 2;; esac; done
D=$PWD/bin/dsconv S=$PWD/bin/dsconv-sample
IN=${IN:-$OUT/in}
mkdir -p "$OUT"
[ -e "$IN/model.safetensors.index.json" ] || "$S" --out "$IN" --profile v3-bench --size-gb "$SIZE" --quiet || exit 4
THREADS=$(nproc); [ "$THREADS" -gt 16 ] && THREADS=16
. bench/floor.sh
read_s=$(read_floor "$IN"/*.safetensors)
warm_up $((2 * $(du -sb --apparent-size "$IN" | cut -f1))) "$OUT"
gpu=0; nvidia-smi -L 2>/dev/null | grep -q '^GPU ' && gpu=1
echo "| command | seconds | serial floor s | ratio | overlapped floor s | ratio | GB in | GB out |"
echo "|---|---|---|---|---|---|---|---|"
results="["
row() { # name seconds out_dir
    local name=$1 secs=$2 dir=$3
    local outb; outb=$(du -sb --apparent-size "$dir" | cut -f1)
    local wr; wr=$(write_floor "$outb" "$OUT")
    local floor; floor=$(calc "$read_s + $wr")
    local ofloor; ofloor=$(awk -v r="$read_s" -v w="$wr" 'BEGIN { printf "%.6f", (r > w ? r : w) }')
    local inb; inb=$(du -sb --apparent-size "$IN" | cut -f1)
    printf '| %s | %.2f | %.2f | %.2f× | %.2f | %.2f× | %.2f | %.2f |\n' "$name" "$secs" "$floor" "$(calc "$secs / $floor")" \
        "$ofloor" "$(calc "$secs / $ofloor")" \
        "$(calc "$inb / 1e9")" "$(calc "$outb / 1e9")"
    results="$results{\"name\":\"$name\",\"seconds\":$secs,\"floor_seconds\":$floor,\"overlapped_floor_seconds\":$ofloor,\"write_floor_seconds\":$wr,\"bytes_out\":$outb},"
}
timed() { # name out_dir cmd...
    local name=$1 dir=$2; shift 2
    rm -rf "$dir"; sync
    local a b; a=$(date +%s.%N); "$@" >/dev/null 2>"$OUT/err" || { echo "| $name | failed: $(head -c 200 "$OUT/err") | | | | | | |"; return; }; b=$(date +%s.%N)
    row "$name" "$(calc "$b - $a")" "$dir"
}
for f in int4 nvfp4 mxfp4; do
    timed "requant $f rtn, cpu $THREADS threads" "$OUT/q" "$D" requant "$IN" "$OUT/q" --format $f --device cpu --threads "$THREADS" --no-sync --quiet
    [ $gpu = 1 ] && timed "requant $f rtn, cuda" "$OUT/q" "$D" requant "$IN" "$OUT/q" --format $f --device cuda --no-sync --quiet
done
[ $gpu = 1 ] && timed "requant nvfp4 mse, cuda" "$OUT/q" "$D" requant "$IN" "$OUT/q" --format nvfp4 --method mse --device cuda --no-sync --quiet
[ $gpu = 1 ] && timed "requant nvfp4 --experts-only, cuda" "$OUT/q" "$D" requant "$IN" "$OUT/q" --format nvfp4 --experts-only --device cuda --no-sync --quiet
"$D" requant "$IN" "$OUT/nv" --format nvfp4 --no-sync --quiet --force
timed "to-bf16 of the nvfp4 output, cpu" "$OUT/b" "$D" to-bf16 "$OUT/nv" "$OUT/b" --device cpu --threads "$THREADS" --no-sync --quiet
timed "to-bf16 (FP8 blocks), cpu" "$OUT/b" "$D" to-bf16 "$IN" "$OUT/b" --device cpu --threads "$THREADS" --no-sync --quiet
if python3 -c 'import compressed_tensors.entrypoints.convert' 2>/dev/null; then
    cat >"$OUT/ct.py" <<'PY'
import sys, torch
from compressed_tensors.entrypoints.convert import convert_checkpoint
from compressed_tensors.entrypoints.convert.converters.fp8block_dequantizer import FP8BlockDequantizer
convert_checkpoint(sys.argv[1], sys.argv[2], converter=FP8BlockDequantizer.from_pretrained(sys.argv[1]),
                   device="cuda" if torch.cuda.is_available() else "cpu")
PY
    timed "compressed-tensors convert_checkpoint FP8BlockDequantizer (Python)" "$OUT/ct" python3 "$OUT/ct.py" "$IN" "$OUT/ct"
else
    echo "| compressed-tensors convert_checkpoint | not installed here | | | | | | |"
fi
echo "${results%,}]" >"$OUT/results.json"
echo "(read floor: $(printf %.2f "$read_s") s; raw: $OUT/results.json)"
