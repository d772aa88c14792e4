#!/usr/bin/env bash
# to_bf16_decode.sh [--size-gb X] [--runs N] [--out DIR] [-- TO_BF16_OPTIONS...] [BIN...] - to-bf16
# of requant's int4 / nvfp4 / mxfp4 outputs beside to-bf16 of their FP8 input (the same bytes out), each
# dsconv binary given (default bin/dsconv) in turn, runs alternating between binaries and inputs; prints
# per binary and input the median (range) of wall and user seconds and the transform's busy seconds from
# --json. Compare a build before and after a kernel change on the same machine, e.g. (2-core VM):
#   bash bench/to_bf16_decode.sh --size-gb 0.5 --runs 5 -- --device cpu --threads 2 -- /tmp/old/bin/dsconv bin/dsconv
# and on the GPU machine (default device: auto, CUDA there):
#   bash bench/to_bf16_decode.sh --size-gb 8 --runs 3
set -u
cd "$(dirname "$0")/.." || exit 1
SIZE=0.5 RUNS=5 OUT=${TMPDIR:-/tmp}/dsconv-bench-decode OPTS=()
while [ $# -gt 0 ]; do
    case $1 in
    --size-gb) SIZE=$2; shift 2;;
    --runs) RUNS=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --) shift; while [ $# -gt 0 ] && [ "$1" != -- ]; do OPTS+=("$1"); shift; done; [ $# -gt 0 ] && shift;;
    -h|--help) sed -n '2,9p' "$0"; exit 0;;
    *) break;;
    esac
done
BINS=("$@"); [ ${#BINS[@]} -gt 0 ] || BINS=("$PWD/bin/dsconv")
D=${BINS[0]}
mkdir -p "$OUT"
[ -e "$OUT/in/model.safetensors.index.json" ] ||
    "$PWD/bin/dsconv-sample" --out "$OUT/in" --profile v3-bench --size-gb "$SIZE" --quiet || exit 4
for f in int4 nvfp4 mxfp4; do
    [ -e "$OUT/$f/model.safetensors.index.json" ] ||
        "$D" requant "$OUT/in" "$OUT/$f" --format $f --no-sync --quiet || exit 4
done
INPUTS=(in int4 nvfp4 mxfp4)
for r in $(seq "$RUNS"); do
    for b in "${!BINS[@]}"; do
        for i in "${INPUTS[@]}"; do
            rm -rf "$OUT/b"
            /usr/bin/time -f "%e %U" -o "$OUT/time" "${BINS[$b]}" to-bf16 "$OUT/$i" "$OUT/b" --no-sync --quiet \
                --json "$OUT/j.json" "${OPTS[@]}" || exit 4
            tb=$(python3 -c "import json; print(json.load(open('$OUT/j.json'))['stages_seconds']['transform_busy'])")
            echo "$b $i $(cat "$OUT/time") $tb" >>"$OUT/runs.txt.$$"
        done
    done
done
rm -rf "$OUT/b"
echo "| binary | input | wall s | user s | transform busy s |"
echo "|---|---|---|---|---|"
for b in "${!BINS[@]}"; do
    for i in "${INPUTS[@]}"; do
        line="| ${BINS[$b]} | $i"
        for col in 3 4 5; do
            line="$line | $(awk -v b="$b" -v i="$i" -v c="$col" '$1 == b && $2 == i { print $c }' "$OUT/runs.txt.$$" |
                sort -g | awk '{ v[NR] = $1 } END { printf "%.2f (%.2f-%.2f)", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }')"
        done
        echo "$line |"
    done
done
rm -f "$OUT/runs.txt.$$"
