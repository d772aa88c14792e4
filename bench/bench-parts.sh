#!/usr/bin/env bash
# bench-parts.sh - one conversion as 1, 2, 4 and 8 parts at once on this host
# (--part I/N, then dsconv finish) against the same command run whole.
#
# usage: bench/bench-parts.sh [--size-gb X] [--dir DIR] [--parts "1 2 4 8"] [--device cpu|cuda]
#                             [--command "fp8-to-bf16"] [--json FILE]
#
# Generates (or reuses) DIR/in, an X GB checkpoint with DeepSeek-V3's real shapes
# (dsconv-sample --profile v3-bench, default 8 GB), runs the command whole, then
# for each N launches N parts at once as separate processes (part I on GPU
# (I-1) mod GPUs with --device cuda:K, each with cores/N threads), waits for all,
# runs finish, and checks every output file against the whole run with cmp.
# Prints seconds (parts, finish, total), GB/s of bytes read + written, speedup,
# and writes the same as JSON. Outputs use --no-sync (page cache, like bench.sh).
set -u
SIZE_GB=8 DIR=${TMPDIR:-/tmp}/dsconv-bench PARTS="1 2 4 8" DEVICE="" COMMAND="fp8-to-bf16" JSON=""
while [ $# -gt 0 ]; do
    case $1 in
    --size-gb) SIZE_GB=$2; shift ;;
    --dir) DIR=$2; shift ;;
    --parts) PARTS=$2; shift ;;
    --device) DEVICE=$2; shift ;;
    --command) COMMAND=$2; shift ;;
    --json) JSON=$2; shift ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "bench-parts: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DS=$ROOT/bin/dsconv
IN=$DIR/in
JSON=${JSON:-$DIR/bench-parts.json}
mkdir -p "$DIR"
CORES=$(nproc)
GPUS=0
if nvidia-smi -L >/dev/null 2>&1; then GPUS=$(nvidia-smi -L | grep -c '^GPU '); fi
[ -z "$DEVICE" ] && { [ "$GPUS" -gt 0 ] && DEVICE=cuda || DEVICE=cpu; }
secs() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN{printf "%.3f", a - b}'; }
calc() { awk "BEGIN{printf \"%.3f\", $1}"; }
read -r -a CMD_ARGS <<<"$COMMAND"

echo "bench-parts: $(date -u +%F\ %T) UTC on $(hostname), $CORES cores, $GPUS GPU(s), device $DEVICE, command: $COMMAND"
if [ ! -e "$IN/model.safetensors.index.json" ]; then
    rm -rf "$IN"
    "$ROOT/bin/dsconv-sample" --profile v3-bench --size-gb "$SIZE_GB" --out "$IN" --quiet || exit 1
fi
IN_BYTES=$(du -sb "$IN" | cut -f1)

dev_of() { # part I -> --device value
    if [ "$DEVICE" = cuda ] && [ "$GPUS" -gt 0 ]; then echo "cuda:$(( ($1 - 1) % GPUS ))"; else echo "$DEVICE"; fi
}

WHOLE=$DIR/whole
rm -rf "$WHOLE"; sync
t0=$(date +%s.%N)
"$DS" "${CMD_ARGS[@]}" "$IN" "$WHOLE" --no-sync --quiet --device "$DEVICE" || { echo "bench-parts: whole run failed"; exit 1; }
T_WHOLE=$(secs "$t0")
OUT_BYTES=$(du -sb --exclude=.dsconv "$WHOLE" | cut -f1)
MOVED=$((IN_BYTES + OUT_BYTES))
echo "bench-parts: whole run: $T_WHOLE s, $(calc "$MOVED / $T_WHOLE / 1e9") GB/s (read $IN_BYTES + wrote $OUT_BYTES bytes)"
printf '%-6s %10s %10s %10s %8s %8s %s\n' parts parts_s finish_s total_s GB/s speedup identical
rows=""
for n in $PARTS; do
    out=$DIR/parts-$n
    rm -rf "$out"; sync
    th=$(( CORES / n )); [ "$th" -lt 1 ] && th=1
    pids=()
    t0=$(date +%s.%N)
    for i in $(seq 1 "$n"); do
        "$DS" "${CMD_ARGS[@]}" "$IN" "$out" --part "$i/$n" --device "$(dev_of "$i")" --threads "$th" --no-sync --quiet \
            --json "$DIR/part-$i-of-$n.json" 2>"$DIR/part-$i-of-$n.err" &
        pids+=($!)
    done
    ok=1
    for p in "${pids[@]}"; do wait "$p" || ok=0; done
    T_PARTS=$(secs "$t0")
    t1=$(date +%s.%N)
    "$DS" finish "$out" --no-sync --quiet || ok=0
    T_FIN=$(secs "$t1")
    T_TOT=$(calc "$T_PARTS + $T_FIN")
    same=yes
    [ $ok = 1 ] || same="FAILED (see $DIR/part-*-of-$n.err)"
    for f in "$WHOLE"/*; do cmp -s "$f" "$out/$(basename "$f")" || same=no; done
    printf '%-6s %10s %10s %10s %8s %8s %s\n' "$n" "$T_PARTS" "$T_FIN" "$T_TOT" "$(calc "$MOVED / $T_TOT / 1e9")" \
        "$(calc "$T_WHOLE / $T_TOT")" "$same"
    rows="$rows${rows:+,}{\"parts\":$n,\"parts_seconds\":$T_PARTS,\"finish_seconds\":$T_FIN,\"total_seconds\":$T_TOT,\"identical\":\"$same\"}"
    rm -rf "$out"
done
cat >"$JSON" <<JS
{"host":"$(hostname)","cores":$CORES,"gpus":$GPUS,"device":"$DEVICE","command":"$COMMAND","input_bytes":$IN_BYTES,
 "output_bytes":$OUT_BYTES,"whole_seconds":$T_WHOLE,"runs":[$rows]}
JS
echo "bench-parts: wrote $JSON"
rm -rf "$WHOLE"
